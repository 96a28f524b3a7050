//! The `pipeline-deploy` command line: argument parsing, output and exit
//! codes around the `pipeline-artifact` library.
//!
//! Exit codes: those of every step ([`pipeline_cli::exit_codes_help`]).

mod azure;
mod cli;
mod cloudrun;
mod local;
mod package;
mod targets;
mod verify;

use std::process::ExitCode;

pub use pipeline_cli::{Exit, Failure};

/// Runs the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli: cli::Cli = match pipeline_cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let session = pipeline_cli::Session::start(
        cli.verbosity.verbose,
        &[pipeline_targets::SECRET_VARS, pipeline_http::SECRET_VARS],
    );
    let env = session.env();
    let result = match cli.command {
        cli::Command::Package(args) => package::run(&args, env),
        cli::Command::Verify(args) => verify::run(&args),
        cli::Command::Azure(cmd) => targets::run(&session, |p| azure::dispatch(*cmd, env, p)),
        cli::Command::CloudRun(cmd) => targets::run(&session, |p| cloudrun::dispatch(*cmd, env, p)),
        cli::Command::Local(cmd) => targets::run(&session, |p| local::dispatch(cmd, env, p)),
    };
    session.finish(result)
}
