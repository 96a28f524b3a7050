//! Talking to the remote through the git command line: `fetch --unshallow`,
//! `ls-remote` and the atomic, compare-and-swap `push`.
//!
//! libgit2 cannot push several refs atomically, so every network operation
//! runs `git` itself. That also means the SSH agent, `~/.ssh/config` and the
//! credential helpers configured for git just work.
//!
//! **Credentials.** A token (from `GITHUB_TOKEN`/`GIT_TOKEN`, read by the
//! caller) is used for `https://` remotes (and `http://` on a loopback
//! address) as an `Authorization: Basic` header with the user
//! `x-access-token`, passed in the child's environment
//! (`GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`, scoped to
//! the remote's scheme, host and port, appended after the entries the
//! caller's environment already has, see [`GitCli::inherited_config_count`]):
//! never on a command line, never in a file. An empty `http.<url>.extraHeader` first resets the headers
//! configured for that URL (actions/checkout's persisted one), so the
//! server never sees two. `GIT_TERMINAL_PROMPT=0`: a refused credential
//! fails once instead of prompting. Everything git prints is passed through
//! [`pipeline_ci::redact`] with the token and its encoded header before it
//! reaches an error.
//!
//! **Retries.** A failure that looks like the network (connection refused
//! or reset, timeouts, name resolution, a hang-up with no ref refused) is
//! retried with exponential backoff; refused credentials, refused refs and
//! a remote without atomic pushes are not. A push is retried only after
//! `ls-remote` shows the remote still at the leased values: when it already
//! holds what was pushed (the server applied it, the reply was lost), the
//! push succeeded ([`GitCli::push_atomic`]).
//!
//! **Atomic pushes.** `git push --atomic` needs the receiving end to
//! advertise the `atomic` capability (git ≥ 2.4, GitHub, GitLab, Gitea;
//! `receive.advertiseAtomic` turns it off). Where it is missing git refuses
//! the push before sending anything, and so do we:
//! [`RemoteError::AtomicUnsupported`]. The refs are never pushed one by one.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pipeline_ci::Secret;

use crate::git::{FailureKind, Repo};

/// How often and how patiently network failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    attempts: u32,
    delay: Duration,
}

impl Default for Retry {
    /// Four attempts, waiting 1 s, 2 s and 4 s in between.
    fn default() -> Self {
        Self {
            attempts: 4,
            delay: Duration::from_secs(1),
        }
    }
}

impl Retry {
    /// `attempts` in all (at least one), the first wait `delay`, doubling.
    pub fn new(attempts: u32, delay: Duration) -> Self {
        Self {
            attempts: attempts.max(1),
            delay,
        }
    }

    /// The number of attempts.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    fn wait_before(&self, attempt: u32) -> Duration {
        self.delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(2)))
    }
}

/// A failure of the git command line against the remote. Messages name
/// the remote and carry git's own words, with secrets redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The remote is not one of the repository's remotes.
    #[error("no remote {remote} in {}: `git remote -v` lists the remotes", .repo.display())]
    NoSuchRemote {
        /// The remote's name.
        remote: String,
        /// The repository.
        repo: PathBuf,
    },
    /// `git` could not be started.
    #[error("cannot run git in {}", .dir.display())]
    Spawn {
        /// The directory.
        dir: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// The network failed on every attempt.
    #[error(
        "git {command} with remote {remote} failed {attempts} time(s), the network looks down: {stderr}"
    )]
    Network {
        /// `push`, `fetch`, `ls-remote`.
        command: String,
        /// The remote.
        remote: String,
        /// How many attempts were made.
        attempts: u32,
        /// git's last message, redacted.
        stderr: String,
    },
    /// The remote asked for credentials or refused them.
    #[error(
        "remote {remote} refused the credentials (set GITHUB_TOKEN or GIT_TOKEN for an https \
         remote, or configure an SSH key or a credential helper): {stderr}"
    )]
    Auth {
        /// The remote.
        remote: String,
        /// git's message, redacted.
        stderr: String,
    },
    /// The remote cannot push several refs atomically.
    #[error(
        "remote {remote} does not support atomic pushes (git: {stderr}); refusing to push the \
         refs one by one: nothing was pushed"
    )]
    AtomicUnsupported {
        /// The remote.
        remote: String,
        /// git's message.
        stderr: String,
    },
    /// Another failure of the git command.
    #[error("git {command} with remote {remote} failed: {stderr}")]
    Failed {
        /// `push`, `fetch`, `ls-remote`.
        command: String,
        /// The remote.
        remote: String,
        /// git's message, redacted.
        stderr: String,
    },
    /// git's output did not read as expected.
    #[error("unexpected output from git {command} with remote {remote}: {output}")]
    Unexpected {
        /// The command.
        command: String,
        /// The remote.
        remote: String,
        /// The output, redacted.
        output: String,
    },
}

impl RemoteError {
    /// How this failure counts: a remote the repository does not have is
    /// the caller's [`FailureKind::Input`]; the rest is the remote (or git
    /// itself) failing, [`FailureKind::External`].
    pub fn kind(&self) -> FailureKind {
        match self {
            RemoteError::NoSuchRemote { .. } => FailureKind::Input,
            _ => FailureKind::External,
        }
    }
}

/// One ref of an atomic push: `src` (a commit id or a local ref) to `dst`,
/// only if `dst` on the remote is `expected` (`None`: must not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRef {
    /// What to push: an object id or a local ref.
    pub src: String,
    /// The remote ref (`refs/heads/master`).
    pub dst: String,
    /// The value the remote ref must have, `None` for "absent".
    pub expected: Option<String>,
}

/// What became of one pushed ref.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefStatus {
    /// Created or moved.
    Updated,
    /// Already at that value.
    UpToDate,
    /// Refused, and why.
    Rejected(Rejection),
}

/// Why git or the remote refused to update a ref: `git push --porcelain`'s
/// `[rejected] (<reason>)` and `[remote rejected] (<reason>)`, read once
/// into a type. Displays as git's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// `stale info`: the lease failed, the remote ref is not what it was
    /// expected to be.
    StaleInfo,
    /// `fetch first`: the remote ref has commits the push does not.
    FetchFirst,
    /// `non-fast-forward`.
    NonFastForward,
    /// `already exists`: a tag the remote has at another object.
    AlreadyExists,
    /// `needs force`.
    NeedsForce,
    /// `remote ref updated since checkout`.
    RemoteRefUpdated,
    /// `atomic push failed`: refused only because another ref of the same
    /// atomic push was.
    AtomicPushFailed,
    /// `[remote rejected] (<reason>)`: the remote refused it (a hook, a
    /// protected branch).
    RemoteRejected(String),
    /// Any other reason git gave.
    Other(String),
}

impl Rejection {
    /// Whether the refusal means the remote ref is no longer what the push
    /// expected (another pipeline pushed): fetch and try again.
    pub fn remote_moved(&self) -> bool {
        matches!(
            self,
            Self::StaleInfo
                | Self::FetchFirst
                | Self::NonFastForward
                | Self::AlreadyExists
                | Self::RemoteRefUpdated
        )
    }

    /// From a porcelain summary such as `[rejected] (stale info)`.
    fn parse(summary: &str) -> Self {
        let reason = summary
            .split_once('(')
            .and_then(|(_, r)| r.strip_suffix(')'))
            .unwrap_or(summary);
        if summary.starts_with("[remote rejected]") {
            return Self::RemoteRejected(reason.to_owned());
        }
        match reason {
            "stale info" => Self::StaleInfo,
            "fetch first" => Self::FetchFirst,
            "non-fast-forward" => Self::NonFastForward,
            "already exists" => Self::AlreadyExists,
            "needs force" => Self::NeedsForce,
            "remote ref updated since checkout" => Self::RemoteRefUpdated,
            "atomic push failed" => Self::AtomicPushFailed,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::StaleInfo => "stale info",
            Self::FetchFirst => "fetch first",
            Self::NonFastForward => "non-fast-forward",
            Self::AlreadyExists => "already exists",
            Self::NeedsForce => "needs force",
            Self::RemoteRefUpdated => "remote ref updated since checkout",
            Self::AtomicPushFailed => "atomic push failed",
            Self::RemoteRejected(reason) | Self::Other(reason) => reason,
        })
    }
}

/// The result of `git push --porcelain`, ref by ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    refs: Vec<(String, RefStatus)>,
}

impl PushReport {
    /// Each remote ref with its status.
    pub fn refs(&self) -> &[(String, RefStatus)] {
        &self.refs
    }

    /// Each refused ref with why.
    pub fn rejections(&self) -> impl Iterator<Item = (&str, &Rejection)> {
        self.refs.iter().filter_map(|(name, status)| match status {
            RefStatus::Rejected(why) => Some((name.as_str(), why)),
            _ => None,
        })
    }

    /// Whether some ref was refused (then, atomically, none moved).
    pub fn rejected(&self) -> bool {
        self.rejections().next().is_some()
    }

    /// Whether every ref was already up to date.
    pub fn all_up_to_date(&self) -> bool {
        self.refs.iter().all(|(_, s)| *s == RefStatus::UpToDate)
    }
}

/// Parses `git push --porcelain` standard output: `<flag>\t<src>:<dst>\t<summary>`
/// lines, between `To <url>` and `Done`.
pub(crate) fn parse_porcelain(stdout: &str) -> PushReport {
    let mut refs = Vec::new();
    for line in stdout.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(flag), Some(spec), summary) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(dst) = spec.rsplit_once(':').map(|(_, dst)| dst.to_owned()) else {
            continue;
        };
        let status = match flag {
            "=" => RefStatus::UpToDate,
            "!" => RefStatus::Rejected(Rejection::parse(summary.unwrap_or_default())),
            " " | "+" | "*" | "-" => RefStatus::Updated,
            _ => continue,
        };
        refs.push((dst, status));
    }
    PushReport { refs }
}

/// Parses `git ls-remote` output into ref → id; an annotated tag's peeled
/// commit is under `<ref>^{}`.
pub(crate) fn parse_ls_remote(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(id, name)| (name.trim().to_owned(), id.trim().to_owned()))
        .collect()
}

/// How a failed git command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Auth,
    Atomic,
    Network,
    Other,
}

fn classify(stderr: &str) -> Failure {
    let lower = stderr.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if any(&["does not support --atomic", "atomic push"]) && lower.contains("support") {
        Failure::Atomic
    } else if any(&[
        "authentication failed",
        "could not read username",
        "could not read password",
        "terminal prompts disabled",
        "permission denied",
        "invalid username or password",
        "requested url returned error: 401",
        "requested url returned error: 403",
        "write access to repository not granted",
    ]) {
        Failure::Auth
    } else if any(&[
        "connection refused",
        "connection reset",
        "connection timed out",
        "timed out",
        "could not resolve host",
        "could not resolve hostname",
        "unable to connect",
        "failed to connect",
        "network is unreachable",
        "no route to host",
        "temporary failure in name resolution",
        "early eof",
        "the remote end hung up unexpectedly",
        "rpc failed",
        "broken pipe",
        "ssl",
        "gnutls",
        "returned error: 502",
        "returned error: 503",
        "returned error: 504",
    ]) {
        Failure::Network
    } else {
        Failure::Other
    }
}

/// The git command line in one repository, with credentials and retries.
pub struct GitCli {
    dir: PathBuf,
    remote: String,
    url: Option<String>,
    token: Option<Secret>,
    header: Option<Secret>,
    config: Vec<(String, Secret)>,
    inherited: usize,
    retry: Retry,
}

impl std::fmt::Debug for GitCli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCli")
            .field("dir", &self.dir)
            .field("remote", &self.remote)
            .field("token", &self.token)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl GitCli {
    /// git in `dir` against `remote` (a remote's name) whose fetch URL is
    /// `url` (to decide whether and where a token applies).
    pub fn new(dir: &Path, remote: &str, url: Option<&str>, token: Option<Secret>) -> Self {
        let mut cli = Self {
            dir: dir.to_path_buf(),
            remote: remote.to_owned(),
            url: url.map(str::to_owned),
            token: None,
            header: None,
            config: Vec::new(),
            inherited: 0,
            retry: Retry::default(),
        };
        if let (Some(token), Some(base)) = (token, url.and_then(token_scope)) {
            let header = Secret::new(format!(
                "Authorization: Basic {}",
                base64(format!("x-access-token:{}", token.expose()).as_bytes())
            ));
            let key = format!("http.{base}.extraHeader");
            cli.config = vec![(key.clone(), Secret::new("")), (key, header.clone())];
            cli.header = Some(header);
            cli.token = Some(token);
        }
        cli
    }

    /// git in `repo` against its remote `remote`, at the URL `git push`
    /// uses (the push URL, else the URL), `token` sent only where it may
    /// go (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`RemoteError::NoSuchRemote`] when the repository has no such
    /// remote.
    pub fn for_remote(
        repo: &Repo,
        remote: &str,
        token: Option<Secret>,
    ) -> Result<Self, RemoteError> {
        let url = repo
            .remote_url(remote)
            .ok_or_else(|| RemoteError::NoSuchRemote {
                remote: remote.to_owned(),
                repo: repo.path().to_path_buf(),
            })?;
        Ok(Self::new(repo.path(), remote, Some(&url), token))
    }

    /// How network failures are retried.
    #[must_use]
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The `GIT_CONFIG_COUNT` the child inherits (from the caller's
    /// environment snapshot): the entries `0..count` are kept, the token's
    /// entries are appended after them. Unset or unreadable counts as 0.
    #[must_use]
    pub fn inherited_config_count(mut self, count: Option<&str>) -> Self {
        self.inherited = count.and_then(|c| c.trim().parse().ok()).unwrap_or(0);
        self
    }

    /// Whether a token will be sent to this remote.
    pub fn uses_token(&self) -> bool {
        self.token.is_some()
    }

    /// The remote's name.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// The environment given to git: prompts off, messages in English, the
    /// token's header as command-line-scope configuration.
    pub fn environment(&self) -> Vec<(String, Secret)> {
        let mut env = vec![
            ("GIT_TERMINAL_PROMPT".to_owned(), Secret::new("0")),
            ("LC_ALL".to_owned(), Secret::new("C")),
            ("LANGUAGE".to_owned(), Secret::new("C")),
        ];
        if !self.config.is_empty() {
            // After the inherited entries (`safe.directory` in containers),
            // which stay as they are.
            let base = self.inherited;
            env.push((
                "GIT_CONFIG_COUNT".to_owned(),
                Secret::new((base + self.config.len()).to_string()),
            ));
            for (i, (key, value)) in self.config.iter().enumerate() {
                let i = base + i;
                env.push((format!("GIT_CONFIG_KEY_{i}"), Secret::new(key.clone())));
                env.push((format!("GIT_CONFIG_VALUE_{i}"), value.clone()));
            }
        }
        env
    }

    /// Replaces the token and its header in `text`.
    pub fn redact(&self, text: &str) -> String {
        let secrets: Vec<&Secret> = self.token.iter().chain(self.header.iter()).collect();
        let mut out = pipeline_ci::redact(text, &secrets);
        // The encoded credentials alone, as a header dump would show them.
        if let Some(header) = &self.header
            && let Some(encoded) = header.expose().strip_prefix("Authorization: Basic ")
        {
            out = pipeline_ci::redact(&out, &[&Secret::new(encoded)]);
        }
        out
    }

    /// Runs `git <args>` once: (success, stdout, stderr), redacted.
    fn run_once(&self, args: &[&str]) -> Result<(bool, String, String), RemoteError> {
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in self.environment() {
            cmd.env(name, OsString::from(value.expose()));
        }
        let output = cmd.output().map_err(|source| RemoteError::Spawn {
            dir: self.dir.clone(),
            source,
        })?;
        Ok((
            output.status.success(),
            self.redact(&String::from_utf8_lossy(&output.stdout)),
            self.redact(String::from_utf8_lossy(&output.stderr).trim()),
        ))
    }

    /// Runs `git <args>`, retrying network failures; stdout on success.
    /// `rejected` tells a refused push apart from a failure (its output is
    /// returned as a success).
    fn run(
        &self,
        command: &str,
        args: &[&str],
        accept: impl Fn(&str) -> bool,
    ) -> Result<String, RemoteError> {
        let mut attempt = 1;
        loop {
            let (ok, stdout, stderr) = self.run_once(args)?;
            if ok || accept(&stdout) {
                return Ok(stdout);
            }
            match classify(&stderr) {
                Failure::Network if attempt < self.retry.attempts => {
                    attempt += 1;
                    self.wait_to_retry(command, attempt, &stderr);
                }
                failure => return Err(self.failure_error(failure, command, attempt, stderr)),
            }
        }
    }

    /// The error for a git command that failed for good.
    fn failure_error(
        &self,
        failure: Failure,
        command: &str,
        attempts: u32,
        stderr: String,
    ) -> RemoteError {
        let remote = self.remote.clone();
        match failure {
            Failure::Auth => RemoteError::Auth { remote, stderr },
            Failure::Atomic => RemoteError::AtomicUnsupported { remote, stderr },
            Failure::Network => RemoteError::Network {
                command: command.to_owned(),
                remote,
                attempts,
                stderr,
            },
            Failure::Other => RemoteError::Failed {
                command: command.to_owned(),
                remote,
                stderr,
            },
        }
    }

    /// Says that `command` failed on the network and waits before `attempt`.
    fn wait_to_retry(&self, command: &str, attempt: u32, stderr: &str) {
        let wait = self.retry.wait_before(attempt);
        tracing::warn!(
            "git {command} with remote {} failed ({}); attempt {attempt} of {} in {} ms",
            self.remote,
            stderr.lines().last().unwrap_or_default(),
            self.retry.attempts,
            wait.as_millis()
        );
        std::thread::sleep(wait);
    }

    /// `git fetch --unshallow --tags <remote>`.
    ///
    /// # Errors
    ///
    /// [`RemoteError`].
    pub(crate) fn fetch_unshallow(&self) -> Result<(), RemoteError> {
        self.run(
            "fetch",
            &["fetch", "--quiet", "--unshallow", "--tags", &self.remote],
            |_| false,
        )
        .map(drop)
    }

    /// `git fetch <remote> <refspecs>…`.
    ///
    /// # Errors
    ///
    /// [`RemoteError`].
    pub(crate) fn fetch(&self, refspecs: &[String]) -> Result<(), RemoteError> {
        let mut args = vec!["fetch", "--quiet", "--no-tags", self.remote.as_str()];
        args.extend(refspecs.iter().map(String::as_str));
        self.run("fetch", &args, |_| false).map(drop)
    }

    /// `git ls-remote <remote> <refs>…`: ref → id (peeled tags as
    /// `<ref>^{}`).
    ///
    /// # Errors
    ///
    /// [`RemoteError`].
    pub fn ls_remote(&self, refs: &[&str]) -> Result<BTreeMap<String, String>, RemoteError> {
        let mut args = vec!["ls-remote", self.remote.as_str()];
        args.extend_from_slice(refs);
        let out = self.run("ls-remote", &args, |_| false)?;
        Ok(parse_ls_remote(&out))
    }

    /// `git push --atomic --porcelain <remote> --force-with-lease=<dst>:<expected>… <src>:<dst>…`.
    ///
    /// Every `src` must be an object id (a tag's object id for a tag), so
    /// that the remote's refs can be compared with it.
    ///
    /// A refused ref is a [`PushReport`] with [`RefStatus::Rejected`]
    /// (atomically, then, nothing moved), not an error.
    ///
    /// **Lost replies.** When the push fails on the network, or is refused,
    /// the remote is read again (`ls-remote`, once) before anything else:
    /// if it already holds every `src` (the server applied the push and the
    /// reply was lost, or the refusal is a retry's `stale info` after that),
    /// the push succeeded and every ref is reported [`RefStatus::Updated`].
    /// A network failure is retried only while the remote still holds the
    /// `expected` values (or cannot be read): never with leases that can no
    /// longer hold.
    ///
    /// # Errors
    ///
    /// [`RemoteError`] when the push could not be made.
    pub fn push_atomic(&self, refs: &[PushRef]) -> Result<PushReport, RemoteError> {
        let mut args = vec![
            "push".to_owned(),
            "--atomic".to_owned(),
            "--porcelain".to_owned(),
            self.remote.clone(),
        ];
        for r in refs {
            args.push(format!(
                "--force-with-lease={}:{}",
                r.dst,
                r.expected.as_deref().unwrap_or_default()
            ));
        }
        for r in refs {
            args.push(format!("{}:{}", r.src, r.dst));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let landed = || PushReport {
            refs: refs
                .iter()
                .map(|r| (r.dst.clone(), RefStatus::Updated))
                .collect(),
        };
        let mut attempt = 1;
        loop {
            let (ok, stdout, stderr) = self.run_once(&args)?;
            let report = parse_porcelain(&stdout);
            if ok || report.rejected() {
                if report.rejected() {
                    // A retry's `stale info` after a push that landed.
                    if let Ok(PushCheck::Landed) = self.check_push(refs) {
                        return Ok(landed());
                    }
                    return Ok(report);
                }
                if report.refs().len() != refs.len() {
                    if let Ok(PushCheck::Landed) = self.check_push(refs) {
                        return Ok(landed());
                    }
                    return Err(RemoteError::Unexpected {
                        command: "push".to_owned(),
                        remote: self.remote.clone(),
                        output: stdout,
                    });
                }
                return Ok(report);
            }
            let failure = classify(&stderr);
            // Refused credentials and a remote without atomic pushes stop
            // git before anything is sent: no need to look.
            let check = match failure {
                Failure::Auth | Failure::Atomic => Ok(PushCheck::Unchanged),
                Failure::Network | Failure::Other => self.check_push(refs),
            };
            if let Ok(PushCheck::Landed) = check {
                tracing::warn!(
                    "git push with remote {} failed ({}), but the remote holds what was pushed: \
                     the reply was lost",
                    self.remote,
                    stderr.lines().last().unwrap_or_default()
                );
                return Ok(landed());
            }
            let unchanged = matches!(check, Ok(PushCheck::Unchanged) | Err(_));
            match failure {
                // Retry only while the remote still holds what was fetched.
                Failure::Network if unchanged && attempt < self.retry.attempts => {
                    attempt += 1;
                    self.wait_to_retry("push", attempt, &stderr);
                }
                failure => return Err(self.failure_error(failure, "push", attempt, stderr)),
            }
        }
    }

    /// Reads the remote's values of `refs`' destinations once (no retry),
    /// at the URL pushes go to, and compares them with the push.
    ///
    /// # Errors
    ///
    /// [`RemoteError`] when the remote cannot be read.
    pub(crate) fn check_push(&self, refs: &[PushRef]) -> Result<PushCheck, RemoteError> {
        let target = self.url.as_deref().unwrap_or(self.remote.as_str());
        let mut args = vec!["ls-remote", target];
        args.extend(refs.iter().map(|r| r.dst.as_str()));
        let (ok, stdout, stderr) = self.run_once(&args)?;
        if !ok {
            return Err(RemoteError::Failed {
                command: "ls-remote".to_owned(),
                remote: self.remote.clone(),
                stderr,
            });
        }
        Ok(compare_push(refs, &parse_ls_remote(&stdout)))
    }
}

/// What the remote holds, compared with a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PushCheck {
    /// Every destination holds its `src`: the push was applied.
    Landed,
    /// Every destination holds its `expected` value: nothing was applied.
    Unchanged,
    /// Something else (another pipeline pushed): the refs that differ.
    Other(Vec<String>),
}

/// Compares `remote` (`git ls-remote` output: ref → id) with `refs`: pure.
pub(crate) fn compare_push(refs: &[PushRef], remote: &BTreeMap<String, String>) -> PushCheck {
    let at = |r: &PushRef| remote.get(&r.dst).map(String::as_str);
    if refs.iter().all(|r| at(r) == Some(r.src.as_str())) {
        PushCheck::Landed
    } else if refs.iter().all(|r| at(r) == r.expected.as_deref()) {
        PushCheck::Unchanged
    } else {
        PushCheck::Other(
            refs.iter()
                .filter(|r| at(r) != r.expected.as_deref())
                .map(|r| r.dst.clone())
                .collect(),
        )
    }
}

/// `scheme://host[:port]/` of an `https://` URL (or `http://` on a loopback
/// host), without user info: where a token may be sent.
fn token_scope(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if host_port.starts_with('[') {
        host_port.split(']').next()?.trim_start_matches('[')
    } else {
        host_port.split(':').next()?
    };
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "::1");
    let scheme = scheme.to_ascii_lowercase();
    (scheme == "https" || (scheme == "http" && loopback))
        .then(|| format!("{scheme}://{host_port}/"))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(
            base64(b"x-access-token:tok123"),
            "eC1hY2Nlc3MtdG9rZW46dG9rMTIz"
        );
    }

    #[test]
    fn tokens_go_to_https_and_loopback_http_only() {
        assert_eq!(
            token_scope("https://github.com/o/r.git").as_deref(),
            Some("https://github.com/")
        );
        assert_eq!(
            token_scope("https://me@git.example:8443/o/r").as_deref(),
            Some("https://git.example:8443/")
        );
        assert_eq!(
            token_scope("http://127.0.0.1:9/r.git").as_deref(),
            Some("http://127.0.0.1:9/")
        );
        assert_eq!(token_scope("http://example.com/r.git"), None);
        assert_eq!(token_scope("git@github.com:o/r.git"), None);
        assert_eq!(token_scope("ssh://git@github.com/o/r.git"), None);
        assert_eq!(token_scope("file:///srv/r.git"), None);
        assert_eq!(token_scope("/srv/r.git"), None);
    }

    #[test]
    fn the_token_travels_in_the_environment_as_a_header() {
        let cli = GitCli::new(
            Path::new("."),
            "origin",
            Some("https://github.com/o/r"),
            Some(Secret::new("tok123")),
        );
        assert!(cli.uses_token());
        let env: Vec<(String, String)> = cli
            .environment()
            .into_iter()
            .map(|(k, v)| (k, v.expose().to_owned()))
            .collect();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("GIT_TERMINAL_PROMPT"), Some("0"));
        assert_eq!(get("GIT_CONFIG_COUNT"), Some("2"));
        assert_eq!(
            get("GIT_CONFIG_KEY_0"),
            Some("http.https://github.com/.extraHeader")
        );
        assert_eq!(get("GIT_CONFIG_VALUE_0"), Some(""));
        assert_eq!(
            get("GIT_CONFIG_VALUE_1"),
            Some("Authorization: Basic eC1hY2Nlc3MtdG9rZW46dG9rMTIz")
        );
        assert_eq!(
            cli.redact("tok123 eC1hY2Nlc3MtdG9rZW46dG9rMTIz x"),
            "*** *** x"
        );
        assert!(!format!("{cli:?}").contains("tok123"));

        let ssh = GitCli::new(
            Path::new("."),
            "origin",
            Some("git@github.com:o/r"),
            Some(Secret::new("tok123")),
        );
        assert!(!ssh.uses_token());
        assert!(
            ssh.environment()
                .iter()
                .all(|(k, _)| k != "GIT_CONFIG_COUNT")
        );
    }

    #[test]
    fn the_token_entries_follow_the_inherited_ones() {
        let cli = GitCli::new(
            Path::new("."),
            "origin",
            Some("https://github.com/o/r"),
            Some(Secret::new("tok123")),
        )
        .inherited_config_count(Some("1"));
        let env: Vec<(String, String)> = cli
            .environment()
            .into_iter()
            .map(|(k, v)| (k, v.expose().to_owned()))
            .collect();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("GIT_CONFIG_COUNT"), Some("3"));
        // Entry 0 (the inherited safe.directory) is left alone.
        assert_eq!(get("GIT_CONFIG_KEY_0"), None);
        assert_eq!(get("GIT_CONFIG_VALUE_0"), None);
        assert_eq!(
            get("GIT_CONFIG_KEY_1"),
            Some("http.https://github.com/.extraHeader")
        );
        assert_eq!(get("GIT_CONFIG_VALUE_1"), Some(""));
        assert_eq!(
            get("GIT_CONFIG_KEY_2"),
            Some("http.https://github.com/.extraHeader")
        );
    }

    #[test]
    fn a_push_is_compared_with_the_remote() {
        let refs = [
            PushRef {
                src: "d2".into(),
                dst: "refs/heads/develop".into(),
                expected: Some("d1".into()),
            },
            PushRef {
                src: "t1".into(),
                dst: "refs/tags/v1".into(),
                expected: None,
            },
        ];
        let remote = |d: &str, t: Option<&str>| {
            let mut m = BTreeMap::from([("refs/heads/develop".to_owned(), d.to_owned())]);
            if let Some(t) = t {
                m.insert("refs/tags/v1".to_owned(), t.to_owned());
            }
            m
        };
        assert_eq!(
            compare_push(&refs, &remote("d2", Some("t1"))),
            PushCheck::Landed
        );
        assert_eq!(
            compare_push(&refs, &remote("d1", None)),
            PushCheck::Unchanged
        );
        assert_eq!(
            compare_push(&refs, &remote("d3", None)),
            PushCheck::Other(vec!["refs/heads/develop".into()])
        );
        assert_eq!(
            compare_push(&refs, &remote("d2", Some("other"))),
            PushCheck::Other(vec!["refs/heads/develop".into(), "refs/tags/v1".into()])
        );
    }

    #[test]
    fn failures_are_classified() {
        assert_eq!(
            classify("fatal: the receiving end does not support --atomic push"),
            Failure::Atomic
        );
        assert_eq!(
            classify("fatal: could not read Username for 'https://x': terminal prompts disabled"),
            Failure::Auth
        );
        assert_eq!(
            classify(
                "remote: Invalid username or password.\nfatal: Authentication failed for 'https://x/'"
            ),
            Failure::Auth
        );
        assert_eq!(
            classify(
                "git@x: Permission denied (publickey).\nfatal: Could not read from remote repository."
            ),
            Failure::Auth
        );
        assert_eq!(
            classify(
                "fatal: unable to access 'https://x/': Failed to connect to x port 443: Connection refused"
            ),
            Failure::Network
        );
        assert_eq!(
            classify(
                "fatal: unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: errno=Connection refused"
            ),
            Failure::Network
        );
        assert_eq!(
            classify("fatal: '/nowhere' does not appear to be a git repository"),
            Failure::Other
        );
    }

    #[test]
    fn porcelain_reads_every_flag() {
        let report = parse_porcelain(
            "To r\n \tabc:refs/heads/develop\t9d63fbd..588e656\n*\trefs/tags/v1:refs/tags/v1\t[new tag]\n!\tabc:refs/heads/master\t[rejected] (atomic push failed)\nDone\n",
        );
        assert_eq!(
            report.refs(),
            &[
                ("refs/heads/develop".to_owned(), RefStatus::Updated),
                ("refs/tags/v1".to_owned(), RefStatus::Updated),
                (
                    "refs/heads/master".to_owned(),
                    RefStatus::Rejected(Rejection::AtomicPushFailed)
                ),
            ]
        );
        assert!(report.rejected());
        assert!(!report.all_up_to_date());
    }

    #[test]
    fn porcelain_rejections_are_typed_once() {
        let report = parse_porcelain(
            "To /srv/r.git\n=\trefs/tags/v1:refs/tags/v1\t[up to date]\n\
             !\tabc:refs/heads/master\t[rejected] (stale info)\n\
             !\tabc:refs/heads/a\t[rejected] (fetch first)\n\
             !\tabc:refs/heads/b\t[rejected] (non-fast-forward)\n\
             !\trefs/tags/v2:refs/tags/v2\t[rejected] (already exists)\n\
             !\tabc:refs/heads/c\t[remote rejected] (pre-receive hook declined)\n\
             !\tabc:refs/heads/d\t[remote failure] (remote failed to report status)\n\
             !\tabc:refs/heads/e\t[no match]\n\
             Done\n",
        );
        let rejections: Vec<(&str, &Rejection)> = report.rejections().collect();
        assert_eq!(
            rejections,
            [
                ("refs/heads/master", &Rejection::StaleInfo),
                ("refs/heads/a", &Rejection::FetchFirst),
                ("refs/heads/b", &Rejection::NonFastForward),
                ("refs/tags/v2", &Rejection::AlreadyExists),
                (
                    "refs/heads/c",
                    &Rejection::RemoteRejected("pre-receive hook declined".into())
                ),
                (
                    "refs/heads/d",
                    &Rejection::Other("remote failed to report status".into())
                ),
                ("refs/heads/e", &Rejection::Other("[no match]".into())),
            ]
        );
        let moved: Vec<bool> = rejections.iter().map(|(_, r)| r.remote_moved()).collect();
        assert_eq!(moved, [true, true, true, true, false, false, false]);
        // Displayed as git's words.
        assert_eq!(Rejection::StaleInfo.to_string(), "stale info");
        assert_eq!(rejections[4].1.to_string(), "pre-receive hook declined");
        assert_eq!(
            report.refs()[0],
            ("refs/tags/v1".to_owned(), RefStatus::UpToDate)
        );
    }

    #[test]
    fn backoff_doubles() {
        let retry = Retry::new(4, Duration::from_millis(100));
        assert_eq!(retry.wait_before(2), Duration::from_millis(100));
        assert_eq!(retry.wait_before(3), Duration::from_millis(200));
        assert_eq!(retry.wait_before(4), Duration::from_millis(400));
    }
}
