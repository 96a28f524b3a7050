//! The `pipeline-git` command line: argument parsing, output and exit codes
//! around the `pipeline-gitflow` library.
//!
//! Exit codes: 0 success (also when no release is due, and a re-run that
//! finds the work done); 1 the step said no (a merge conflict, the remote
//! moved, a tag that exists elsewhere, diverged branches, a release commit
//! that is not on develop); 2 usage,
//! configuration or input error (bad flag, no repository, branch not found,
//! shallow clone, a version not newer than the last release); 3 the git
//! remote failed after retries (network, credentials, no atomic push).
//!
//! `release` releases only what is on develop: a commit contained in the
//! remote's develop, or exactly the local develop `sync` left (its merge
//! result); anything else (a feature branch) is refused with exit 1,
//! naming the commit and both branches.
//!
//! A failed push: the remote is read again (`ls-remote` at the push URL).
//! If it holds what was pushed (the reply was lost), the release succeeded.
//! If it does not, the local tag and branch moves are undone. If it cannot
//! be read, they are kept, and a re-run on the same commit finds the tag
//! there and finishes that release instead of planning a new one.
//! Refused credentials and a remote without atomic pushes send nothing:
//! undone without looking.
//!
//! The token (`GIT_TOKEN`/`GITHUB_TOKEN`) is redacted from every message
//! this binary prints.

mod cli;
mod flow;
mod release;

use std::process::ExitCode;

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
        cli::Command::Version(args) => release::version(&args, &env),
        cli::Command::Changelog(args) => release::changelog(&args, &env),
        cli::Command::Sync(args) => flow::sync(&args, &env),
        cli::Command::Release(args) => flow::release(&args, &env),
        cli::Command::Hotfix(cli::HotfixCommand::Start(args)) => flow::hotfix_start(&args, &env),
        cli::Command::Hotfix(cli::HotfixCommand::Finish(args)) => flow::hotfix_finish(&args, &env),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            let secrets: Vec<pipeline_ci::Secret> = ["GIT_TOKEN", "GITHUB_TOKEN"]
                .iter()
                .filter_map(|name| env.get_secret(name))
                .collect();
            let refs: Vec<&pipeline_ci::Secret> = secrets.iter().collect();
            eprintln!("error: {}", pipeline_ci::redact(&format!("{e:#}"), &refs));
            release::exit_for(&e).into()
        }
    }
}
