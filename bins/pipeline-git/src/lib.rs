//! The `pipeline-git` command line: argument parsing, output and exit codes
//! around the `pipeline-gitflow` library, which holds every behaviour
//! (reading the history, planning, the release transaction).
//!
//! - `cli`: the clap definitions, with examples and the exit codes in
//!   each `--help`.
//! - `repo`: the repository, its remote (with the token from `GIT_TOKEN`
//!   or `GITHUB_TOKEN`) and `--unshallow`.
//! - `version`: `version` and `changelog`. `flow`: `sync`, `release` and
//!   `hotfix`. Each parses, calls the library, renders.
//! - `output`: stdout, and the step outputs and job summary in Actions.
//!
//! Exit codes follow from the library error's `kind()`: 0 success (also
//! when no release is due, and a re-run that finds the work done); 1 the
//! step said no (a merge conflict, the remote moved, a tag that exists
//! elsewhere, diverged branches, a release commit that is not on
//! develop); 2 usage, configuration or input error (bad flag, no
//! repository, no such remote, branch not found, shallow clone, a version
//! not newer than the last release); 3 the git remote failed after
//! retries (network, credentials, no atomic push).
//!
//! The token is redacted from every message this binary prints.

mod cli;
mod flow;
mod output;
mod repo;
mod version;

use std::process::ExitCode;

use pipeline_gitflow::{FailureKind, FlowError, HistoryError, PlanError, RemoteError};

pub use pipeline_cli::Exit;

/// Runs the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli: cli::Cli = match pipeline_cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    pipeline_cli::init_logging(cli.verbosity.verbose);
    let env = pipeline_ci::Env::from_vars(std::env::vars());
    let result = match cli.command {
        cli::Command::Version(args) => version::version(&args, &env),
        cli::Command::Changelog(args) => version::changelog(&args, &env),
        cli::Command::Sync(args) => flow::sync(&args, &env),
        cli::Command::Release(args) => flow::release(&args, &env),
        cli::Command::Hotfix(cli::HotfixCommand::Start(args)) => flow::hotfix_start(&args, &env),
        cli::Command::Hotfix(cli::HotfixCommand::Finish(args)) => flow::hotfix_finish(&args, &env),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            let secrets: Vec<pipeline_ci::Secret> = repo::TOKEN_VARIABLES
                .iter()
                .filter_map(|name| env.get_secret(name))
                .collect();
            let refs: Vec<&pipeline_ci::Secret> = secrets.iter().collect();
            eprintln!("error: {}", pipeline_ci::redact(&format!("{e:#}"), &refs));
            exit_for(&e).into()
        }
    }
}

/// The exit code of a failed run: the library error's kind; anything else
/// (a file that cannot be written) is the caller's input.
fn exit_for(error: &anyhow::Error) -> Exit {
    let kind = error
        .downcast_ref::<FlowError>()
        .map(FlowError::kind)
        .or_else(|| error.downcast_ref::<HistoryError>().map(HistoryError::kind))
        .or_else(|| error.downcast_ref::<PlanError>().map(PlanError::kind))
        .or_else(|| error.downcast_ref::<RemoteError>().map(RemoteError::kind));
    match kind {
        Some(FailureKind::Refused) => Exit::Refused,
        Some(FailureKind::External) => Exit::External,
        _ => Exit::Usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_follows_the_errors_kind() {
        let tag = anyhow::Error::new(PlanError::TagExists {
            tag: "v1.0.0".into(),
            existing: pipeline_gitflow::CommitId::new("a"),
            branch: "develop".into(),
            tip: pipeline_gitflow::CommitId::new("b"),
        });
        assert_eq!(exit_for(&tag), Exit::Refused);
        assert_eq!(exit_for(&anyhow::anyhow!("no repository")), Exit::Usage);
        let moved = anyhow::Error::new(FlowError::RemoteMoved {
            remote: "origin".into(),
            refs: vec!["refs/heads/develop".into()],
        });
        assert_eq!(exit_for(&moved), Exit::Refused);
        let down = anyhow::Error::new(RemoteError::AtomicUnsupported {
            remote: "origin".into(),
            stderr: String::new(),
        });
        assert_eq!(exit_for(&down), Exit::External);
        let remote = anyhow::Error::new(RemoteError::NoSuchRemote {
            remote: "upstream".into(),
            repo: "/r".into(),
        });
        assert_eq!(exit_for(&remote), Exit::Usage);
        let wrapped = anyhow::Error::new(FlowError::Remote(RemoteError::Auth {
            remote: "origin".into(),
            stderr: String::new(),
        }));
        assert_eq!(exit_for(&wrapped), Exit::External);
    }
}
