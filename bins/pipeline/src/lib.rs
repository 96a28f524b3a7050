//! The `pipeline` command line: `run` chains the steps of `pipeline.toml`,
//! `demo` makes a sandbox and runs the job there on the local agent.
//!
//! Each step is one of the step binaries (`pipeline-git`, `pipeline-report`,
//! `pipeline-deploy`, `pipeline-promote`, `pipeline-agent`), found beside
//! this one (or on `PATH`), so the job runs exactly what a CI stage would,
//! with the same exit codes: the run stops at the first step that says no,
//! with that step's code.

mod demo;
mod run;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pipeline_cli::Exit;

const EXIT_CODES: &str = "Exit codes: those of the step that stopped the run: 0 success; 1 \
the step said no (the gate failed, a merge conflicted, validation failed, verification failed \
and the environment was rolled back); 2 usage, configuration or input error; 3 an external \
system failed after retries.";

/// The whole job from pipeline.toml, step by step.
#[derive(Debug, Parser)]
#[command(name = "pipeline", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: pipeline_cli::Verbosity,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the job: sync, test and gate, release, package, deploy, promote.
    Run(RunArgs),
    /// Make a sandbox (a repository, its remote, a local agent) and run the whole job there.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The job's configuration.
    #[arg(long, default_value = "pipeline.toml", value_name = "FILE")]
    config: PathBuf,
    /// The repository, checked out on the integration branch.
    #[arg(long, default_value = ".", value_name = "DIR")]
    repo: PathBuf,
    /// Promote no further than this environment.
    #[arg(long, value_name = "ENV")]
    until: Option<String>,
    /// Wait up to SECS for each environment's soak time (`requires.soak_secs`)
    /// before promoting on; a longer soak stops the run (exit 1), and a
    /// re-run later goes on from there.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    max_soak_wait: u64,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// The sandbox directory (emptied first if it holds an earlier demo).
    #[arg(long, default_value = "target/demo", value_name = "DIR")]
    dir: PathBuf,
    /// The sample app to ship.
    #[arg(long, default_value = "app", value_name = "DIR")]
    app: PathBuf,
    /// Stop everything and exit at the end instead of leaving production running.
    #[arg(long)]
    exit: bool,
}

/// Runs the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli: Cli = match pipeline_cli::parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    pipeline_cli::init_logging(cli.verbosity.verbose);
    let result = match cli.command {
        Command::Run(args) => run::run(
            &args.config,
            &args.repo,
            args.until.as_deref(),
            args.max_soak_wait,
        ),
        Command::Demo(args) => demo::demo(&args.dir, &args.app, args.exit),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            Exit::Usage.into()
        }
    }
}
