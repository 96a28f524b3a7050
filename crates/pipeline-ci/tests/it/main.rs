//! Integration tests: real files in a temporary directory, read back the way
//! the GitHub runner reads them.

mod commands;
mod outputs;
mod secrets;
mod summary;

use std::path::Path;

use pipeline_ci::{CiSink, Env, GitHub};

/// An Actions environment whose outputs and summary files live in `dir`.
fn actions_env(dir: &Path) -> Env {
    Env::from_vars([
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("CI", "true".to_owned()),
        ("GITHUB_OUTPUT", dir.join("output").display().to_string()),
        (
            "GITHUB_STEP_SUMMARY",
            dir.join("summary.md").display().to_string(),
        ),
    ])
}

fn github(dir: &Path) -> GitHub {
    GitHub::from_env(&actions_env(dir)).expect("inside Actions")
}

fn sink(dir: &Path) -> CiSink {
    CiSink::from_env(&actions_env(dir))
}
