//! The `pipeline-deploy` command line: argument parsing, output and exit
//! codes around the `pipeline-artifact` library.
//!
//! Exit codes: 0 success; 1 the step said no (unused so far); 2 usage,
//! configuration or input error (bad flag, missing source, a symbolic link
//! in the tree, an artifact whose SHA-256 differs from the one expected);
//! 3 an external system failed (unused so far).

mod azure;
mod cli;
mod cloudrun;
mod local;
mod package;
mod targets;
mod verify;

use std::io::Write as _;
use std::process::ExitCode;

pub use pipeline_cli::Exit;

/// Runs the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli: cli::Cli = match pipeline_cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let secrets = pipeline_cli::secrets_from_env(targets::SECRET_VARS);
    pipeline_cli::init_logging_redacted(cli.verbosity.verbose, secrets.clone());
    let env = pipeline_ci::Env::from_vars(std::env::vars());
    let result = match cli.command {
        cli::Command::Package(args) => package::run(&args, &env),
        cli::Command::Verify(args) => verify::run(&args),
        cli::Command::Azure(cmd) => return azure::run(*cmd, &env, &secrets).into(),
        cli::Command::CloudRun(cmd) => return cloudrun::run(*cmd, &env, &secrets).into(),
        cli::Command::Local(cmd) => return local::run(cmd, &env, &secrets).into(),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            // Nothing more can be said if stderr is gone; the code still tells.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            Exit::Usage.into()
        }
    }
}
