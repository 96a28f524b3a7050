//! The `pipeline-report` command line: argument parsing, file discovery,
//! output and exit codes around the `pipeline-reports` library.
//!
//! Exit codes: 0 the gate passed; 1 the gate failed; 2 usage, configuration
//! or input error (bad flag, missing or malformed report, an unknown
//! `--diff-base` ref, a token GitHub refuses); 3 GitHub unreachable after
//! retries for a requested check run or comment.

mod cli;
mod gate;
mod github;

use std::process::ExitCode;

pub use pipeline_cli::Exit;

/// Runs the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli: cli::Cli = match pipeline_cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // The token reaches no log line, even quoted back by a service.
    let session =
        pipeline_cli::Session::start(cli.verbosity.verbose, &[pipeline_github::SECRET_VARS]);
    let result = match cli.command {
        cli::Command::Gate(args) => gate::run(&args, session.env()),
    };
    // A report's own words (a name in an error) never reach the terminal
    // as control characters.
    let result = result.map_err(|f| {
        let printable = pipeline_reports::render::printable(f.message()).into_owned();
        pipeline_cli::Failure::new(f.exit(), printable)
    });
    session.finish(result)
}
