//! `pipeline-workflow` on real repositories and processes: small workflows
//! for each emulated behaviour, and the project's own release pipeline run
//! end to end against the local agent.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

mod install_binary;
mod release_pipeline;
mod reusable;
mod runner;

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

/// The runner machine's environment: this machine's tools and home, nothing
/// else of the test's own environment.
pub(crate) fn host_env() -> Vec<(String, String)> {
    [
        "PATH",
        "HOME",
        "LANG",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "TMPDIR",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
    .collect()
}
