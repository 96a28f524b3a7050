//! What the end-to-end tests share: git, a repository with a bare remote
//! (the state store), and the output of a command as text.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs git in `dir`, panicking with its stderr on failure; its stdout.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `root/repo`, one commit on master pushed to the bare `root/remote.git`
/// (its `origin`), with a passed gate in `gate.json`.
pub(crate) fn repo_with_remote(root: &Path) -> PathBuf {
    let remote = root.join("remote.git");
    let repo = root.join("repo");
    git(
        root,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "master",
            remote.to_str().unwrap(),
        ],
    );
    git(
        root,
        &["init", "-q", "-b", "master", repo.to_str().unwrap()],
    );
    fs::write(repo.join("README"), "x\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    git(
        &repo,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(&repo, &["push", "-q", "origin", "master"]);
    fs::write(
        repo.join("gate.json"),
        r#"{"schema":"pipeline-report/gate/v1","gate":{"passed":true,"violations":[]}}"#,
    )
    .unwrap();
    repo
}

/// Stdout then stderr, as text.
pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
