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
//! - `github`: `--github-release`, the settings checked first and the
//!   call to `pipeline-github` once the tag is on the remote.
//!
//! Exit codes follow from the library error's `kind()`: 0 success (also
//! when no release is due, and a re-run that finds the work done); 1 the
//! step said no (a merge conflict, the remote moved, a tag that exists
//! elsewhere, diverged branches, a release commit that is not on
//! develop); 2 usage, configuration or input error (bad flag, no
//! repository, no such remote, branch not found, shallow clone, a version
//! not newer than the last release); 3 the git remote failed after
//! retries (network, credentials, no atomic push), or GitHub failing
//! after retries for `--github-release` (whose missing token or
//! repository, or a token GitHub refuses, is 2).
//!
//! The token is redacted from every message this binary prints.

mod cli;
mod flow;
mod github;
mod output;
mod repo;
mod version;

use std::process::ExitCode;

pub use pipeline_cli::{Exit, Failure};

/// Runs the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli: cli::Cli = match pipeline_cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let session =
        pipeline_cli::Session::start(cli.verbosity.verbose, &[pipeline_gitflow::SECRET_VARS]);
    let env = session.env();
    let result = match cli.command {
        cli::Command::Version(args) => version::version(&args, env),
        cli::Command::Changelog(args) => version::changelog(&args, env),
        cli::Command::Sync(args) => flow::sync(&args, env),
        cli::Command::Release(args) => flow::release(&args, env),
        cli::Command::Hotfix(cli::HotfixCommand::Start(args)) => flow::hotfix_start(&args, env),
        cli::Command::Hotfix(cli::HotfixCommand::Finish(args)) => flow::hotfix_finish(&args, env),
    };
    session.finish(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline_gitflow::{FlowError, PlanError, RemoteError};

    #[test]
    fn the_exit_code_follows_the_errors_kind() {
        let tag = Failure::from(PlanError::TagExists {
            tag: "v1.0.0".into(),
            existing: pipeline_gitflow::CommitId::new("a"),
            branch: "develop".into(),
            tip: pipeline_gitflow::CommitId::new("b"),
        });
        assert_eq!(tag.exit(), Exit::Refused);
        let moved = Failure::from(FlowError::RemoteMoved {
            remote: "origin".into(),
            refs: vec!["refs/heads/develop".into()],
        });
        assert_eq!(moved.exit(), Exit::Refused);
        let down = Failure::from(RemoteError::AtomicUnsupported {
            remote: "origin".into(),
            stderr: String::new(),
        });
        assert_eq!(down.exit(), Exit::External);
        let remote = Failure::from(RemoteError::NoSuchRemote {
            remote: "upstream".into(),
            repo: "/r".into(),
        });
        assert_eq!(remote.exit(), Exit::Usage);
        let wrapped = Failure::from(FlowError::Remote(RemoteError::Auth {
            remote: "origin".into(),
            stderr: String::new(),
        }));
        assert_eq!(wrapped.exit(), Exit::External);
    }
}
