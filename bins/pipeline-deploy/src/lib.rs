//! The `pipeline-deploy` command line: argument parsing, output and exit
//! codes around the `pipeline-artifact` library.
//!
//! Exit codes: 0 success; 1 the step said no (unused so far); 2 usage,
//! configuration or input error (bad flag, missing source, a symbolic link
//! in the tree, an artifact whose SHA-256 differs from the one expected);
//! 3 an external system failed (unused so far).

mod cli;
mod package;
mod verify;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

/// The documented exit codes, the same in every pipeline binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The step succeeded.
    Success = 0,
    /// Usage, configuration or input error.
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Runs the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Success.into()
            };
        }
    };
    init_logging(cli.verbose);
    let env = pipeline_ci::Env::from_vars(std::env::vars());
    let result = match cli.command {
        cli::Command::Package(args) => package::run(&args, &env),
        cli::Command::Verify(args) => verify::run(&args),
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

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let ansi = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .try_init();
}
