//! Real repositories in temporary directories, made with the git command
//! line: a bare repository as the remote and clones of it, with no user or
//! system configuration for the commands the tests run themselves.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pipeline_gitflow::{GitCli, Retry};
use pipeline_promotion::{GitStore, Outcome, Record};
use tempfile::TempDir;

/// `git` with a clean, fixed environment, in `dir`.
pub(crate) fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir);
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args([
            "-c",
            "init.defaultBranch=develop",
            "-c",
            "commit.gpgsign=false",
        ]);
    cmd
}

/// Runs git in `dir` with `stdin`, panics with its stderr on failure,
/// returns its trimmed stdout.
pub(crate) fn git_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut cmd = git_command(dir);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("git runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write to git");
    }
    let output = child.wait_with_output().expect("git finishes");
    assert!(
        output.status.success(),
        "git {args:?} failed in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// A repository in a temporary directory.
pub(crate) struct TestRepo {
    _dir: TempDir,
    path: PathBuf,
}

impl TestRepo {
    fn empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().canonicalize().expect("canonical temp dir");
        Self { _dir: dir, path }
    }

    /// `git init --bare`, to serve as the remote, with one commit on
    /// `develop` (the project's own history, which the store leaves alone).
    pub(crate) fn remote() -> Self {
        let repo = Self::empty();
        repo.git(&["init", "-q", "--bare", "."]);
        let seed = Self::empty();
        seed.git(&["init", "-q", "."]);
        seed.git(&["commit", "-q", "--allow-empty", "-m", "chore: init"]);
        seed.git(&["push", "-q", &repo.url(), "develop"]);
        repo
    }

    /// `git clone <args> <url> .`.
    pub(crate) fn clone_of(remote: &TestRepo, args: &[&str]) -> Self {
        let repo = Self::empty();
        let url = remote.url();
        let mut all = vec!["clone", "-q"];
        all.extend_from_slice(args);
        all.extend([url.as_str(), "."]);
        repo.git(&all);
        repo
    }

    /// The work tree (or the bare repository).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A `file://` URL of this repository.
    pub(crate) fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// Runs git here.
    pub(crate) fn git(&self, args: &[&str]) -> String {
        git_in(&self.path, args, None)
    }

    /// Runs git here with `stdin`.
    pub(crate) fn git_stdin(&self, args: &[&str], stdin: &str) -> String {
        git_in(&self.path, args, Some(stdin.as_bytes()))
    }

    /// What `git ls-remote` says `reference` is in this (remote) repository.
    pub(crate) fn ref_value(&self, reference: &str) -> Option<String> {
        let out = self.git(&["ls-remote", ".", reference]);
        out.lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(_, name)| *name == reference)
            .map(|(id, _)| id.to_owned())
    }

    /// The store of this clone, with retries that do not wait.
    pub(crate) fn store(&self) -> GitStore {
        let url = self.git(&["remote", "get-url", "origin"]);
        let cli = GitCli::new(&self.path, "origin", Some(&url), None).retry(quick_retry());
        GitStore::new(&self.path, cli)
    }
}

/// Three attempts, a millisecond apart.
pub(crate) fn quick_retry() -> Retry {
    Retry::new(3, Duration::from_millis(1))
}

/// A record of `env`: `version` went live at `at`, by `by`.
pub(crate) fn record(env: &str, version: &str, at: u64, by: &str) -> Record {
    let sha256 = format!("{:0>64}", version.replace('.', ""));
    Record {
        env: env.to_owned(),
        version: version.to_owned(),
        sha256: sha256.clone(),
        outcome: Outcome::Live,
        live_version: Some(version.to_owned()),
        live_sha256: Some(sha256),
        at,
        live_since: Some(at),
        by: by.to_owned(),
        note: String::new(),
        lock: None,
    }
}

/// An HTTP core whose retries do not wait, its requests saying `agent`.
pub(crate) fn quick_http(agent: &str) -> pipeline_http::Http {
    pipeline_http::Http::new(pipeline_cli::http::client(agent).unwrap()).with_policy(
        pipeline_http::RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_retry_after: Duration::from_millis(5),
            poll_interval: Duration::from_millis(5),
        },
    )
}

/// pipeline.toml with one environment, `prod`, an App Service slot of the
/// Azure fake, artifacts kept under `dir`, and `more` after it.
pub(crate) fn azure_config(dir: &Path, more: &str) -> pipeline_config::PipelineConfig {
    use pipeline_testkit::fixtures::{APP, RESOURCE_GROUP, SLOT, SUBSCRIPTION};
    let text = format!(
        r#"
[test]
command = "true"

[artifact]
source = "app"
store = "{store}"

[[environment]]
name = "prod"
target = {{ kind = "azure-app-service", subscription = "{SUBSCRIPTION}", resource_group = "{RESOURCE_GROUP}", app = "{APP}", slot = "{SLOT}" }}
{more}"#,
        store = dir.join("artifacts").display()
    );
    pipeline_config::parse(Path::new("pipeline.toml"), &text).unwrap()
}

/// The variables that point the Azure target at `fake`, the promoter
/// named `user`, and `more`.
pub(crate) fn azure_vars(
    fake: &pipeline_testkit::FakeAzure,
    user: &str,
    more: &[(&str, &str)],
) -> pipeline_ci::Env {
    use pipeline_testkit::fixtures::{CLIENT_ID, CLIENT_SECRET, SLOT, TENANT};
    let uri = fake.uri();
    let mut vars = vec![
        ("AZURE_TENANT_ID", TENANT.to_owned()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_owned()),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("AZURE_AUTHORITY_HOST", uri.clone()),
        ("PIPELINE_AZURE_ARM_ENDPOINT", uri.clone()),
        ("PIPELINE_AZURE_SCM_ENDPOINT", uri),
        ("PIPELINE_AZURE_SLOT_URL", fake.slot_url(SLOT)),
        ("PIPELINE_AZURE_LIVE_URL", fake.slot_url("production")),
        ("USER", user.to_owned()),
    ];
    vars.extend(more.iter().map(|(k, v)| (*k, (*v).to_owned())));
    pipeline_ci::Env::from_vars(vars)
}
