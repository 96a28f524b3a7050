//! The `pipeline-report` command line: argument parsing, file discovery,
//! output and exit codes around the `pipeline-reports` library.
//!
//! Exit codes: 0 the gate passed; 1 the gate failed; 2 usage, configuration
//! or input error (bad flag, missing or malformed report, an unknown
//! `--diff-base` ref, a token GitHub refuses); 3 GitHub unreachable after
//! retries for a requested check run or comment.

mod cli;
mod files;
mod gate;
mod github;

use std::io::Write as _;
use std::process::ExitCode;

pub use pipeline_cli::Exit;

/// Runs the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli: cli::Cli = match pipeline_cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // The token reaches no log line, even quoted back by a service.
    pipeline_cli::init_logging_redacted(
        cli.verbosity.verbose,
        pipeline_cli::secrets_from_env(&["GITHUB_TOKEN"]),
    );
    let env = pipeline_ci::Env::from_vars(std::env::vars());
    let result = match cli.command {
        cli::Command::Gate(args) => gate::run(&args, &env),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            // Nothing more can be said if stderr is gone; the code still tells.
            // A report's own words (a name in an error) never reach the
            // terminal as control characters.
            let message = format!("{e:#}");
            let _ = writeln!(
                std::io::stderr(),
                "error: {}",
                pipeline_reports::render::printable(&message)
            );
            Exit::Usage.into()
        }
    }
}
