//! Real repositories in temporary directories, made with the git command
//! line: fixed identities and dates, no user or system configuration.
//!
//! Shared with `bins/pipeline-git/tests/it` (included there by path).
#![allow(dead_code, unreachable_pub)]

use std::cell::Cell;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

/// The first commit's date; each commit is one minute later.
pub const EPOCH: i64 = 1_700_000_000;

/// `git` with a clean, fixed environment, in `dir`.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir);
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CEILING_DIRECTORIES",
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
            "-c",
            "tag.gpgsign=false",
            "-c",
            "protocol.file.allow=always",
        ]);
    cmd
}

/// Runs git in `dir`, panics with its stderr on failure, returns its
/// trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_with(dir, args, None, None)
}

fn git_with(dir: &Path, args: &[&str], date: Option<i64>, stdin: Option<&[u8]>) -> String {
    let mut cmd = git_command(dir);
    cmd.args(args);
    if let Some(date) = date {
        let date = format!("@{date} +0000");
        cmd.env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
    }
    cmd.stdin(if stdin.is_some() {
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
pub struct TestRepo {
    dir: TempDir,
    path: PathBuf,
    clock: Cell<i64>,
}

impl TestRepo {
    /// `git init` with `develop` as the initial branch.
    pub fn new() -> Self {
        let repo = Self::empty();
        repo.git(&["init", "-q", "-b", "develop", "."]);
        repo
    }

    /// `git init --bare`, to serve as a remote.
    pub fn bare() -> Self {
        let repo = Self::empty();
        repo.git(&["init", "-q", "--bare", "-b", "develop", "."]);
        repo
    }

    /// `git clone <args> <url> .`.
    pub fn clone_of(url: &str, args: &[&str]) -> Self {
        let repo = Self::empty();
        let mut all = vec!["clone", "-q"];
        all.extend_from_slice(args);
        all.extend([url, "."]);
        repo.git(&all);
        repo
    }

    fn empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().canonicalize().expect("canonical temp dir");
        Self {
            dir,
            path,
            clock: Cell::new(EPOCH),
        }
    }

    /// The work tree (or the bare repository).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A `file://` URL of this repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// Runs git here.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.path, args)
    }

    /// Runs git here with the next date as author and committer date.
    pub fn git_dated(&self, args: &[&str]) -> String {
        let date = self.tick();
        git_with(&self.path, args, Some(date), None)
    }

    /// Feeds `stream` to `git fast-import`.
    pub fn fast_import(&self, stream: &str, args: &[&str]) -> String {
        let mut all = vec!["fast-import", "--quiet"];
        all.extend_from_slice(args);
        git_with(&self.path, &all, None, Some(stream.as_bytes()))
    }

    /// Makes the clock continue from `date` (seconds since the epoch).
    pub fn set_clock(&self, date: i64) {
        self.clock.set(date);
    }

    fn tick(&self) -> i64 {
        let now = self.clock.get();
        self.clock.set(now + 60);
        now
    }

    /// An empty commit with `message` on the current branch; its id.
    pub fn commit(&self, message: &str) -> String {
        self.git_dated(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// The id of `HEAD`.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// A lightweight tag on `HEAD`.
    pub fn tag(&self, name: &str) {
        self.git(&["tag", name]);
    }

    /// An annotated tag on `HEAD`.
    pub fn annotated_tag(&self, name: &str) {
        self.git_dated(&["tag", "-a", name, "-m", &format!("release {name}")]);
    }

    /// `git checkout -q -b <branch> [<start>]`.
    pub fn branch(&self, branch: &str, start: &str) {
        self.git(&["checkout", "-q", "-b", branch, start]);
    }

    /// `git checkout -q <what>`.
    pub fn checkout(&self, what: &str) {
        self.git(&["checkout", "-q", what]);
    }

    /// A merge commit of `branch` into the current branch (always a merge
    /// commit); its id.
    pub fn merge(&self, branch: &str) -> String {
        self.git_dated(&[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            &format!("Merge branch '{branch}'"),
            branch,
        ]);
        self.head()
    }
}
