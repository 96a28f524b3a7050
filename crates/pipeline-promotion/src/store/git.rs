//! [`GitStore`]: the state in refs of the repository's own remote:
//!
//! - `refs/pipeline/envs/<env>`: a chain of commits, one per [`Record`],
//!   the newest at the tip, each the child of the record before it. A
//!   commit's tree holds `record.json` (the record as pretty JSON); its
//!   message is a one-line summary (`qa: 1.2.0 live (sha256 3f2a9c41d0e7…)
//!   by ci`); its author and committer are the record's `by` at its `at`,
//!   so the same record on the same parent is the same commit.
//! - `refs/pipeline/locks/<env>`: while a promotion runs, a commit whose
//!   tree holds `lock.json` (`by`, `what`, `since`, and a nonce that makes
//!   every lock a different commit).
//!
//! **Writes** are one `git push --atomic --force-with-lease` of one ref
//! ([`GitCli::push_atomic`], with its retries and lost-reply handling): an
//! append leases the revision the caller read, a lock leases "absent" (or
//! the stale lock it replaces), an unlock its own lock. Of two runners
//! exactly one wins; the other gets [`StoreError::Conflict`] or
//! [`StoreError::Locked`], and nothing of it is written. The objects are
//! made locally first with `git hash-object`, `git mktree` and
//! `git commit-tree`.
//!
//! **Reads** are `git ls-remote` of the ref, then, unless its commit is
//! already in the local repository, `git fetch` of it into a private
//! namespace, `refs/pipeline-remote/…`, that nothing else uses.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pipeline_gitflow::{GitCli, PushRef, RemoteError};
use serde::{Deserialize, Serialize};

use super::{LockGuard, LockInfo, Revision, StateStore, StoreError, Stored, utc};
use crate::record::{Outcome, Record};
use pipeline_config::valid_env_name;

/// Where the records of the environments are, in the remote.
const ENVS: &str = "refs/pipeline/envs/";
/// Where the locks are, in the remote.
const LOCKS: &str = "refs/pipeline/locks/";
/// The local copies of both, fetched: `refs/pipeline-remote/{envs,locks}/`.
const PRIVATE: &str = "refs/pipeline-remote/";
/// The file of a record commit's tree.
const RECORD_FILE: &str = "record.json";
/// The file of a lock commit's tree.
const LOCK_FILE: &str = "lock.json";
/// The e-mail address of the commits' author and committer.
const EMAIL: &str = "pipeline@invalid";
/// How often a lock is tried when it keeps changing under us.
const LOCK_ATTEMPTS: usize = 4;
/// How often a read fetches a ref that keeps changing under it.
const READ_ATTEMPTS: usize = 3;

/// The refs of one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EnvRefs {
    env: String,
    /// `refs/pipeline/envs/<env>`.
    record: String,
    /// `refs/pipeline/locks/<env>`.
    lock: String,
}

impl EnvRefs {
    fn new(env: &str) -> Result<Self, StoreError> {
        if !valid_env_name(env) {
            return Err(StoreError::InvalidEnvironment {
                env: env.to_owned(),
            });
        }
        Ok(Self {
            env: env.to_owned(),
            record: format!("{ENVS}{env}"),
            lock: format!("{LOCKS}{env}"),
        })
    }
}

/// The local ref a remote `refs/pipeline/…` ref is fetched into.
fn private_ref(reference: &str) -> String {
    match reference.strip_prefix("refs/pipeline/") {
        Some(rest) => format!("{PRIVATE}{rest}"),
        None => format!("{PRIVATE}{}", reference.trim_start_matches("refs/")),
    }
}

/// What to do about a lock someone holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockState {
    /// Younger than `stale_after` (or dated in the future): respect it.
    Held,
    /// Older than `stale_after`: take it over.
    Stale,
}

fn lock_state(since: u64, now: u64, stale_after: u64) -> LockState {
    if now.saturating_sub(since) > stale_after {
        LockState::Stale
    } else {
        LockState::Held
    }
}

/// `lock.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LockFile {
    by: String,
    what: String,
    since: u64,
    /// Makes two locks with the same owner, purpose and second two
    /// different commits (else both pushes would look like they landed).
    #[serde(default)]
    nonce: String,
}

fn parse_record(
    env: &str,
    reference: &str,
    commit: &str,
    bytes: Option<&[u8]>,
) -> Result<Record, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        reference: reference.to_owned(),
        reason,
    };
    let bytes = bytes.ok_or_else(|| corrupt(format!("commit {commit} has no {RECORD_FILE}")))?;
    let record: Record = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(format!("{RECORD_FILE} of commit {commit}: {e}")))?;
    if record.env != env {
        return Err(corrupt(format!(
            "{RECORD_FILE} of commit {commit} is a record of {}, not {env}",
            record.env
        )));
    }
    Ok(record)
}

fn parse_lock(reference: &str, commit: &str, bytes: Option<&[u8]>) -> Result<LockInfo, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        reference: reference.to_owned(),
        reason,
    };
    let bytes = bytes.ok_or_else(|| corrupt(format!("commit {commit} has no {LOCK_FILE}")))?;
    let lock: LockFile = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(format!("{LOCK_FILE} of commit {commit}: {e}")))?;
    Ok(LockInfo {
        by: lock.by,
        what: lock.what,
        since: lock.since,
        id: lock.nonce,
    })
}

/// Text on one line: control characters become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The record commit's message: `qa: 1.2.0 live (sha256 3f2a9c41d0e7…) by ci`.
fn summary(record: &Record) -> String {
    let digest = match record.sha256.get(..12) {
        Some(short) if short.len() < record.sha256.len() => format!("{short}…"),
        _ => record.sha256.clone(),
    };
    let outcome = match record.outcome {
        Outcome::Live => "live",
        Outcome::RolledBack => "rolled back",
        Outcome::Failed => "failed",
        Outcome::ManualRollback => "rolled back by hand",
        Outcome::Switching => "switching",
        Outcome::RollingBack => "rolling back by hand",
    };
    let mut line = format!(
        "{}: {} {outcome} (sha256 {digest}) by {}",
        record.env, record.version, record.by
    );
    if record.outcome != Outcome::Live
        && let Some(live) = &record.live_version
    {
        line.push_str(&format!(", {live} live"));
    }
    one_line(&line)
}

/// A name git accepts as an author's: no `<`, `>` or control characters,
/// not only punctuation (git strips it from both ends and refuses an empty
/// name).
fn ident_name(by: &str) -> String {
    let clean: String = by
        .chars()
        .filter(|c| !matches!(c, '<' | '>') && !c.is_control())
        .collect();
    let trimmed = clean.trim_matches(|c: char| c.is_whitespace() || ".,:;\"'\\".contains(c));
    if trimmed.is_empty() {
        "pipeline".to_owned()
    } else {
        clean.trim().to_owned()
    }
}

/// Splits `git cat-file --batch` output into one blob (or `None`: missing,
/// or not a blob) per request.
fn parse_batch(mut out: &[u8], requests: usize) -> Result<Vec<Option<&[u8]>>, String> {
    let mut blobs = Vec::with_capacity(requests);
    for _ in 0..requests {
        let end = out
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the output ends early")?;
        let header = String::from_utf8_lossy(&out[..end]);
        out = &out[end + 1..];
        let fields: Vec<&str> = header.split(' ').collect();
        let [_, kind, size] = fields[..] else {
            // `<name> missing`, `<name> ambiguous`.
            blobs.push(None);
            continue;
        };
        let size: usize = size
            .parse()
            .map_err(|_| format!("unexpected header {header:?}"))?;
        let content = out.get(..size).ok_or("the output ends early")?;
        out = out.get(size + 1..).ok_or("the output ends early")?;
        blobs.push((kind == "blob").then_some(content));
    }
    Ok(blobs)
}

fn remote_error(refs: &EnvRefs, reference: &str, source: RemoteError) -> StoreError {
    StoreError::Remote {
        env: refs.env.clone(),
        reference: reference.to_owned(),
        source: Box::new(source),
    }
}

/// How a push went.
#[derive(Debug)]
enum Pushed {
    Done,
    Rejected(String),
}

/// The state in refs of the repository's own remote; see the [module
/// documentation](self).
#[derive(Debug)]
pub struct GitStore {
    repo: PathBuf,
    git: GitCli,
}

impl GitStore {
    /// The store of the repository at `repo` (a clone, bare or not), whose
    /// remote `git` talks to (`git` works in the same repository).
    pub fn new(repo: impl Into<PathBuf>, git: GitCli) -> Self {
        Self {
            repo: repo.into(),
            git,
        }
    }

    /// The local repository.
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// Runs git in the local repository with `stdin` and `env`; stdout.
    fn local(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &str)],
    ) -> Result<Vec<u8>, StoreError> {
        let command = || self.git.redact(&args.join(" "));
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.repo)
            .args(args)
            .env("LC_ALL", "C")
            .env("LANGUAGE", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .envs(env.iter().copied())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| StoreError::Git {
            command: command(),
            stderr: format!("cannot run git in {}: {e}", self.repo.display()),
        })?;
        let input = stdin.zip(child.stdin.take());
        let output = std::thread::scope(|scope| {
            if let Some((bytes, mut pipe)) = input {
                // A write error (git exited early) shows in its status.
                scope.spawn(move || pipe.write_all(bytes));
            }
            child.wait_with_output()
        })
        .map_err(|e| StoreError::Git {
            command: command(),
            stderr: format!("waiting for git in {}: {e}", self.repo.display()),
        })?;
        if !output.status.success() {
            return Err(StoreError::Git {
                command: command(),
                stderr: self
                    .git
                    .redact(String::from_utf8_lossy(&output.stderr).trim()),
            });
        }
        Ok(output.stdout)
    }

    /// Runs git locally; its trimmed stdout as text.
    fn local_text(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<String, StoreError> {
        self.local_text_with(args, stdin, &[])
    }

    fn local_text_with(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &str)],
    ) -> Result<String, StoreError> {
        let out = self.local(args, stdin, env)?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// Whether the commit `oid` is in the local repository.
    fn has_commit(&self, oid: &str) -> bool {
        self.local(&["cat-file", "-e", &format!("{oid}^{{commit}}")], None, &[])
            .is_ok()
    }

    /// `git fetch` of `reference` into its private ref, once; git's
    /// message (redacted) when it fails.
    fn fetch(&self, reference: &str) -> Result<(), String> {
        let refspec = format!("+{reference}:{}", private_ref(reference));
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.repo)
            .args([
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                self.git.remote(),
                &refspec,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in self.git.environment() {
            cmd.env(name, value.expose());
        }
        let output = cmd
            .output()
            .map_err(|e| format!("cannot run git in {}: {e}", self.repo.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(self
                .git
                .redact(String::from_utf8_lossy(&output.stderr).trim()))
        }
    }

    /// What `reference` holds on the remote (`ls-remote`, with retries).
    fn remote_value(&self, refs: &EnvRefs, reference: &str) -> Result<Option<String>, StoreError> {
        let mut values = self
            .git
            .ls_remote(&[reference])
            .map_err(|e| remote_error(refs, reference, e))?;
        Ok(values.remove(reference))
    }

    /// The commit `reference` holds on the remote, made local; `None` when
    /// it does not exist.
    fn read_remote(&self, refs: &EnvRefs, reference: &str) -> Result<Option<String>, StoreError> {
        let mut failure = String::new();
        for _ in 0..READ_ATTEMPTS {
            let Some(oid) = self.remote_value(refs, reference)? else {
                return Ok(None);
            };
            if self.has_commit(&oid) {
                return Ok(Some(oid));
            }
            match self.fetch(reference) {
                Ok(()) if self.has_commit(&oid) => return Ok(Some(oid)),
                // The ref moved between ls-remote and fetch (a lock taken
                // over): what was fetched is newer.
                Ok(()) => {
                    let fetched = self.local_text(
                        &[
                            "rev-parse",
                            "--verify",
                            "--end-of-options",
                            &private_ref(reference),
                        ],
                        None,
                    )?;
                    return Ok(Some(fetched));
                }
                // Deleted in between, a concurrent fetch holding the local
                // ref, the network: ls-remote again (it retries and says
                // which).
                Err(stderr) => failure = stderr,
            }
        }
        Err(remote_error(
            refs,
            reference,
            RemoteError::Failed {
                command: "fetch".to_owned(),
                remote: self.git.remote().to_owned(),
                stderr: failure,
            },
        ))
    }

    /// The contents of `file` in each commit, by `git cat-file --batch`.
    fn read_files(
        &self,
        commits: &[String],
        file: &str,
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let input: String = commits.iter().map(|c| format!("{c}:{file}\n")).collect();
        let out = self.local(&["cat-file", "--batch"], Some(input.as_bytes()), &[])?;
        let blobs = parse_batch(&out, commits.len()).map_err(|reason| StoreError::Git {
            command: "cat-file --batch".to_owned(),
            stderr: reason,
        })?;
        Ok(blobs.into_iter().map(|b| b.map(<[u8]>::to_vec)).collect())
    }

    /// Writes a commit whose tree holds `file` with `contents`, by `by` at
    /// `at`, with `message`, on `parent`; its id.
    fn write_commit(
        &self,
        file: &str,
        contents: &[u8],
        parent: Option<&str>,
        message: &str,
        by: &str,
        at: u64,
    ) -> Result<String, StoreError> {
        let blob = self.local_text(&["hash-object", "-w", "--stdin"], Some(contents))?;
        let tree = self.local_text(
            &["mktree"],
            Some(format!("100644 blob {blob}\t{file}\n").as_bytes()),
        )?;
        let name = ident_name(by);
        let date = format!("@{at} +0000");
        let env = [
            ("GIT_AUTHOR_NAME", name.as_str()),
            ("GIT_AUTHOR_EMAIL", EMAIL),
            ("GIT_AUTHOR_DATE", date.as_str()),
            ("GIT_COMMITTER_NAME", name.as_str()),
            ("GIT_COMMITTER_EMAIL", EMAIL),
            ("GIT_COMMITTER_DATE", date.as_str()),
        ];
        let mut args = vec!["commit-tree", "--no-gpg-sign", "-m", message];
        if let Some(parent) = parent {
            args.extend(["-p", parent]);
        }
        args.push(&tree);
        self.local_text_with(&args, None, &env)
    }

    /// Pushes `src` (a commit, or `""` to delete) to `reference` if the
    /// remote holds `expected` there.
    fn push(
        &self,
        refs: &EnvRefs,
        reference: &str,
        src: &str,
        expected: Option<&str>,
    ) -> Result<Pushed, StoreError> {
        let report = self
            .git
            .push_atomic(&[PushRef {
                src: src.to_owned(),
                dst: reference.to_owned(),
                expected: expected.map(str::to_owned),
            }])
            .map_err(|e| remote_error(refs, reference, e))?;
        let rejection = report
            .rejections()
            .next()
            .map(|(_, reason)| reason.to_string());
        Ok(match rejection {
            Some(reason) => Pushed::Rejected(reason),
            None => Pushed::Done,
        })
    }

    /// The lock of `refs.env` on the remote: its commit and contents.
    fn read_lock(&self, refs: &EnvRefs) -> Result<Option<(String, LockInfo)>, StoreError> {
        let Some(commit) = self.read_remote(refs, &refs.lock)? else {
            return Ok(None);
        };
        let files = self.read_files(std::slice::from_ref(&commit), LOCK_FILE)?;
        let info = parse_lock(
            &refs.lock,
            &commit,
            files.first().and_then(Option::as_deref),
        )?;
        Ok(Some((commit, info)))
    }
}

/// The [`StateStore`] operations, synchronous (git is).
impl GitStore {
    /// See [`StateStore::current`].
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn current(&self, env: &str) -> Result<Option<Stored>, StoreError> {
        let refs = EnvRefs::new(env)?;
        let Some(commit) = self.read_remote(&refs, &refs.record)? else {
            return Ok(None);
        };
        let files = self.read_files(std::slice::from_ref(&commit), RECORD_FILE)?;
        let record = parse_record(
            env,
            &refs.record,
            &commit,
            files.first().and_then(Option::as_deref),
        )?;
        Ok(Some(Stored {
            record,
            revision: Revision(commit),
        }))
    }

    /// See [`StateStore::history`].
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn history(&self, env: &str, limit: usize) -> Result<Vec<Record>, StoreError> {
        let refs = EnvRefs::new(env)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let Some(tip) = self.read_remote(&refs, &refs.record)? else {
            return Ok(Vec::new());
        };
        let commits: Vec<String> = self
            .local_text(
                &[
                    "log",
                    "--first-parent",
                    "--format=%H",
                    &format!("--max-count={limit}"),
                    &tip,
                    "--",
                ],
                None,
            )?
            .lines()
            .map(str::to_owned)
            .collect();
        let files = self.read_files(&commits, RECORD_FILE)?;
        commits
            .iter()
            .zip(&files)
            .map(|(commit, file)| parse_record(env, &refs.record, commit, file.as_deref()))
            .collect()
    }

    /// See [`StateStore::append`].
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn append(
        &self,
        env: &str,
        record: &Record,
        expected: Option<&Revision>,
    ) -> Result<Revision, StoreError> {
        let refs = EnvRefs::new(env)?;
        if record.env != env {
            return Err(StoreError::WrongEnvironment {
                env: env.to_owned(),
                record_env: record.env.clone(),
            });
        }
        let conflict = |actual: Option<String>| StoreError::Conflict {
            env: env.to_owned(),
            reference: refs.record.clone(),
            expected: expected.cloned(),
            actual: actual.map(Revision),
        };
        // The parent must be local for commit-tree: read it if it is not.
        if let Some(expected) = expected
            && !self.has_commit(expected.as_str())
        {
            let actual = self.read_remote(&refs, &refs.record)?;
            if actual.as_deref() != Some(expected.as_str()) || !self.has_commit(expected.as_str()) {
                return Err(conflict(actual));
            }
        }
        let mut json = serde_json::to_vec_pretty(record).map_err(|e| StoreError::Git {
            command: "hash-object".to_owned(),
            stderr: format!("cannot write {RECORD_FILE}: {e}"),
        })?;
        json.push(b'\n');
        let commit = self.write_commit(
            RECORD_FILE,
            &json,
            expected.map(Revision::as_str),
            &summary(record),
            &record.by,
            record.at,
        )?;
        match self.push(&refs, &refs.record, &commit, expected.map(Revision::as_str))? {
            Pushed::Done => Ok(Revision(commit)),
            Pushed::Rejected(reason) => {
                let actual = self.remote_value(&refs, &refs.record)?;
                if actual.as_deref() == expected.map(Revision::as_str) {
                    // Refused for another reason than the lease (a hook).
                    Err(remote_error(
                        &refs,
                        &refs.record,
                        RemoteError::Failed {
                            command: "push".to_owned(),
                            remote: self.git.remote().to_owned(),
                            stderr: format!("{} was refused: {reason}", refs.record),
                        },
                    ))
                } else {
                    Err(conflict(actual))
                }
            }
        }
    }

    /// See [`StateStore::lock`].
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn lock(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        stale_after: u64,
    ) -> Result<LockGuard, StoreError> {
        self.lock_over(env, owner, what, now, stale_after, None)
    }

    /// See [`StateStore::take_over`].
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn take_over(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        held: &str,
    ) -> Result<LockGuard, StoreError> {
        self.lock_over(env, owner, what, now, u64::MAX, Some(held))
    }

    /// Takes the lock, over a stale one, one whose run recorded its end,
    /// or the one `released` names.
    fn lock_over(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        stale_after: u64,
        released: Option<&str>,
    ) -> Result<LockGuard, StoreError> {
        let refs = EnvRefs::new(env)?;
        let file = LockFile {
            by: owner.to_owned(),
            what: what.to_owned(),
            since: now,
            nonce: format!("{:016x}", fastrand::u64(..)),
        };
        let mut json = serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Git {
            command: "hash-object".to_owned(),
            stderr: format!("cannot write {LOCK_FILE}: {e}"),
        })?;
        json.push(b'\n');
        let message = one_line(&format!("{env}: locked by {owner}: {what}"));
        let commit = self.write_commit(LOCK_FILE, &json, None, &message, owner, now)?;
        let info = LockInfo {
            by: file.by,
            what: file.what,
            since: file.since,
            id: file.nonce,
        };
        let mut seen = None;
        for _ in 0..LOCK_ATTEMPTS {
            let held = self.read_lock(&refs)?;
            let expected = match held {
                None => None,
                Some((oid, holder))
                    if released.is_some_and(|id| id == holder.id && !id.is_empty()) =>
                {
                    tracing::info!(
                        "the lock of {env} ({}) was left by a run of this checkout that ended: \
                         taking it over",
                        refs.lock
                    );
                    Some(oid)
                }
                Some((oid, holder)) if self.finished(env, &holder)? => {
                    tracing::info!(
                        "the lock of {env} ({}) held by {} ({}) belongs to a run that recorded its \
                         end: taking it as released",
                        refs.lock,
                        holder.by,
                        holder.what
                    );
                    Some(oid)
                }
                Some((oid, holder)) => match lock_state(holder.since, now, stale_after) {
                    LockState::Held => {
                        return Err(StoreError::Locked {
                            env: env.to_owned(),
                            reference: refs.lock.clone(),
                            by: holder.by,
                            what: holder.what,
                            since: holder.since,
                            id: holder.id,
                        });
                    }
                    LockState::Stale => {
                        tracing::warn!(
                            "the lock of {env} ({}) held by {} since {} ({}) is older than {stale_after} s: \
                             taking it over",
                            refs.lock,
                            holder.by,
                            utc(holder.since),
                            holder.what
                        );
                        Some(oid)
                    }
                },
            };
            match self.push(&refs, &refs.lock, &commit, expected.as_deref())? {
                Pushed::Done => {
                    return Ok(LockGuard {
                        env: env.to_owned(),
                        revision: Revision(commit),
                        info,
                    });
                }
                // Someone else was faster: look again.
                Pushed::Rejected(_) => seen = expected,
            }
        }
        Err(StoreError::Conflict {
            env: env.to_owned(),
            reference: refs.lock.clone(),
            expected: seen.map(Revision),
            actual: self.remote_value(&refs, &refs.lock)?.map(Revision),
        })
    }

    /// See [`StateStore::unlock`].
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn unlock(&self, guard: LockGuard) -> Result<(), StoreError> {
        let refs = EnvRefs::new(&guard.env)?;
        match self.push(&refs, &refs.lock, "", Some(guard.revision.as_str()))? {
            Pushed::Done => Ok(()),
            Pushed::Rejected(reason) => match self.read_lock(&refs)? {
                // Gone: released (or our delete landed and its reply was lost).
                None => Ok(()),
                Some((oid, _)) if oid == guard.revision.0 => Err(remote_error(
                    &refs,
                    &refs.lock,
                    RemoteError::Failed {
                        command: "push".to_owned(),
                        remote: self.git.remote().to_owned(),
                        stderr: format!("deleting {} was refused: {reason}", refs.lock),
                    },
                )),
                Some((_, holder)) => Err(StoreError::LockLost {
                    env: guard.env,
                    reference: refs.lock,
                    by: holder.by,
                    what: holder.what,
                    since: holder.since,
                }),
            },
        }
    }

    /// Whether the run holding `holder` has written its final record: its
    /// lock is as good as released (its release failed, or its reply was
    /// lost).
    fn finished(&self, env: &str, holder: &LockInfo) -> Result<bool, StoreError> {
        if holder.id.is_empty() {
            return Ok(false);
        }
        Ok(self.current(env)?.is_some_and(|c| {
            c.record.lock.as_deref() == Some(holder.id.as_str()) && !c.record.outcome.is_intent()
        }))
    }

    /// See [`StateStore::holds`].
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn holds(&self, guard: &LockGuard) -> Result<bool, StoreError> {
        let refs = EnvRefs::new(guard.env())?;
        Ok(self.read_remote(&refs, &refs.lock)?.as_deref() == Some(guard.revision().as_str()))
    }

    /// See [`StateStore::locked_by`].
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn locked_by(&self, env: &str) -> Result<Option<LockInfo>, StoreError> {
        let refs = EnvRefs::new(env)?;
        Ok(self.read_lock(&refs)?.map(|(_, info)| info))
    }
}

impl StateStore for GitStore {
    async fn current(&self, env: &str) -> Result<Option<Stored>, StoreError> {
        GitStore::current(self, env)
    }

    async fn history(&self, env: &str, limit: usize) -> Result<Vec<Record>, StoreError> {
        GitStore::history(self, env, limit)
    }

    async fn append(
        &self,
        env: &str,
        record: &Record,
        expected: Option<&Revision>,
    ) -> Result<Revision, StoreError> {
        GitStore::append(self, env, record, expected)
    }

    async fn lock(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        stale_after: u64,
    ) -> Result<LockGuard, StoreError> {
        GitStore::lock(self, env, owner, what, now, stale_after)
    }

    async fn take_over(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        held: &str,
    ) -> Result<LockGuard, StoreError> {
        GitStore::take_over(self, env, owner, what, now, held)
    }

    async fn unlock(&self, guard: LockGuard) -> Result<(), StoreError> {
        GitStore::unlock(self, guard)
    }

    async fn locked_by(&self, env: &str) -> Result<Option<LockInfo>, StoreError> {
        GitStore::locked_by(self, env)
    }

    async fn holds(&self, guard: &LockGuard) -> Result<bool, StoreError> {
        GitStore::holds(self, guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(env: &str) -> Record {
        Record {
            env: env.to_owned(),
            version: "1.2.0".to_owned(),
            sha256: "3f2a9c41d0e7b5a8c6f1e2d3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b".to_owned(),
            outcome: Outcome::Live,
            live_version: Some("1.2.0".to_owned()),
            live_sha256: Some(
                "3f2a9c41d0e7b5a8c6f1e2d3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b".to_owned(),
            ),
            at: 1_700_000_000,
            live_since: Some(1_700_000_000),
            by: "ci run 42".to_owned(),
            note: String::new(),
            lock: None,
        }
    }

    #[test]
    fn refs_come_from_valid_environment_names_only() {
        let refs = EnvRefs::new("qa").unwrap();
        assert_eq!(refs.record, "refs/pipeline/envs/qa");
        assert_eq!(refs.lock, "refs/pipeline/locks/qa");
        assert_eq!(private_ref(&refs.record), "refs/pipeline-remote/envs/qa");
        assert_eq!(private_ref(&refs.lock), "refs/pipeline-remote/locks/qa");
        assert_eq!(
            EnvRefs::new("prod-eu-2").unwrap().record,
            "refs/pipeline/envs/prod-eu-2"
        );
        for bad in [
            "",
            "QA",
            "../heads/main",
            "qa:refs/heads/x",
            "a b",
            "-qa",
            "qa/x",
        ] {
            let err = EnvRefs::new(bad).unwrap_err();
            assert!(
                matches!(&err, StoreError::InvalidEnvironment { env } if env == bad),
                "{bad}"
            );
        }
        assert_eq!(
            EnvRefs::new("Q!").unwrap_err().to_string(),
            "`Q!` is not an environment name ([a-z0-9][a-z0-9-]{0,39})"
        );
    }

    #[test]
    fn a_lock_is_stale_only_once_older_than_the_limit() {
        assert_eq!(lock_state(1000, 1000, 600), LockState::Held);
        assert_eq!(lock_state(1000, 1600, 600), LockState::Held);
        assert_eq!(lock_state(1000, 1601, 600), LockState::Stale);
        assert_eq!(lock_state(0, u64::MAX, 600), LockState::Stale);
        // Dated in the future (clock skew): held.
        assert_eq!(lock_state(5000, 1000, 600), LockState::Held);
        assert_eq!(lock_state(1000, 1001, 0), LockState::Stale);
    }

    #[test]
    fn records_parse_or_are_corrupt_naming_the_ref_and_commit() {
        let good = serde_json::to_vec_pretty(&record("qa")).unwrap();
        assert_eq!(
            parse_record("qa", "refs/pipeline/envs/qa", "c1", Some(&good)).unwrap(),
            record("qa")
        );
        let err = parse_record("qa", "refs/pipeline/envs/qa", "c1", Some(b"{nope")).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }));
        let message = err.to_string();
        assert!(
            message.starts_with("refs/pipeline/envs/qa is corrupt: record.json of commit c1: "),
            "{message}"
        );
        assert_eq!(
            parse_record("qa", "refs/pipeline/envs/qa", "c1", None)
                .unwrap_err()
                .to_string(),
            "refs/pipeline/envs/qa is corrupt: commit c1 has no record.json"
        );
        assert_eq!(
            parse_record("staging", "refs/pipeline/envs/staging", "c1", Some(&good))
                .unwrap_err()
                .to_string(),
            "refs/pipeline/envs/staging is corrupt: record.json of commit c1 is a record of qa, \
             not staging"
        );
    }

    #[test]
    fn locks_parse_or_are_corrupt() {
        let json = br#"{"by": "ci run 7", "what": "promote 1.2.0 to qa", "since": 1700000000, "nonce": "ab"}"#;
        assert_eq!(
            parse_lock("refs/pipeline/locks/qa", "c", Some(json)).unwrap(),
            LockInfo {
                by: "ci run 7".to_owned(),
                what: "promote 1.2.0 to qa".to_owned(),
                since: 1_700_000_000,
                id: "ab".to_owned(),
            }
        );
        // Without a nonce (written by hand): fine.
        assert_eq!(
            parse_lock(
                "refs/pipeline/locks/qa",
                "c",
                Some(br#"{"by":"me","what":"fix","since":1}"#)
            )
            .unwrap()
            .by,
            "me"
        );
        let err = parse_lock("refs/pipeline/locks/qa", "c", Some(br#"{"by":"me"}"#)).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "refs/pipeline/locks/qa is corrupt: lock.json of commit c: missing field"
            ),
            "{err}"
        );
        // The file as written parses back.
        let file = LockFile {
            by: "a".into(),
            what: "b".into(),
            since: 3,
            nonce: "n".into(),
        };
        let written = serde_json::to_vec_pretty(&file).unwrap();
        assert_eq!(serde_json::from_slice::<LockFile>(&written).unwrap(), file);
    }

    #[test]
    fn summaries_are_one_line() {
        assert_eq!(
            summary(&record("qa")),
            "qa: 1.2.0 live (sha256 3f2a9c41d0e7…) by ci run 42"
        );
        let mut rolled = record("qa");
        rolled.version = "1.3.0".to_owned();
        rolled.outcome = Outcome::RolledBack;
        rolled.by = "ada\nand bob".to_owned();
        assert_eq!(
            summary(&rolled),
            "qa: 1.3.0 rolled back (sha256 3f2a9c41d0e7…) by ada and bob, 1.2.0 live"
        );
        let mut short = record("dev");
        short.sha256 = "abc".to_owned();
        short.outcome = Outcome::Failed;
        short.live_version = None;
        assert_eq!(
            summary(&short),
            "dev: 1.2.0 failed (sha256 abc) by ci run 42"
        );
    }

    #[test]
    fn author_names_are_ones_git_accepts() {
        assert_eq!(ident_name("ci run 42"), "ci run 42");
        assert_eq!(ident_name("Ada <ada@example.com>"), "Ada ada@example.com");
        assert_eq!(ident_name(" .,; "), "pipeline");
        assert_eq!(ident_name(""), "pipeline");
        assert_eq!(ident_name("a\nb"), "ab");
        assert_eq!(ident_name("  bob. "), "bob.");
    }

    #[test]
    fn cat_file_batch_output_splits_per_request() {
        let out = b"aaa blob 5\nhello\nbbb:record.json missing\nccc tree 3\nxyz\nddd blob 0\n\n";
        let blobs = parse_batch(out, 4).unwrap();
        assert_eq!(blobs, vec![Some(&b"hello"[..]), None, None, Some(&b""[..])]);
        assert!(parse_batch(b"aaa blob 50\nshort\n", 1).is_err());
        assert!(parse_batch(b"", 1).is_err());
        assert!(parse_batch(b"aaa blob x\n", 1).is_err());
    }

    #[test]
    fn messages_name_the_environment_and_ref() {
        let conflict = StoreError::Conflict {
            env: "qa".into(),
            reference: "refs/pipeline/envs/qa".into(),
            expected: Some(Revision::new("r1")),
            actual: None,
        };
        assert_eq!(
            conflict.to_string(),
            "the state of qa moved on the remote: refs/pipeline/envs/qa is now absent, it was at r1 \
             when read; nothing was written"
        );
        let locked = StoreError::Locked {
            env: "qa".into(),
            reference: "refs/pipeline/locks/qa".into(),
            by: "ci run 7".into(),
            what: "promote 1.2.0".into(),
            since: 1_700_000_000,
            id: "ab".into(),
        };
        assert_eq!(
            locked.to_string(),
            "qa is locked by ci run 7 since 2023-11-14 22:13:20 UTC (promote 1.2.0); lock ref \
             refs/pipeline/locks/qa"
        );
    }
}
