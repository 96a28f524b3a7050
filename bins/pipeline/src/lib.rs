//! The `pipeline` command line: `run` chains the steps of `pipeline.toml`,
//! `demo` makes a sandbox and runs the job there on the local agent.
//!
//! Each step calls the library entry point its step binary calls
//! (`pipeline-gitflow`'s sync and release, `pipeline-reports`' gate,
//! `pipeline-artifact`'s package, `pipeline-promotion`'s promoter), in this
//! process; only the user's commands (the tests, the checks) are processes.
//! The run stops at the first step that says no, with that step's exit
//! code.

#[cfg(unix)]
mod demo;
mod run;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pipeline_cli::{Exit, Failure};

fn after_help() -> String {
    help_with(&[
        "pipeline run",
        "pipeline run --config pipeline.toml --repo . --until staging",
        "pipeline run --dry-run",
        "pipeline run --json > run.json",
        "pipeline demo --exit",
    ])
}

/// The help's end for a command: its `examples`, then the exit codes.
fn help_with(examples: &[&str]) -> String {
    pipeline_cli::after_help(
        "",
        examples,
        &[(
            Exit::Refused,
            "the step that stopped the run said no: the gate failed, a merge conflicted, \
             validation failed, verification failed and the environment was rolled back",
        )],
    )
}

/// The whole job from pipeline.toml, step by step.
#[derive(Debug, Parser)]
#[command(name = "pipeline", version, after_help = after_help())]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: pipeline_cli::Verbosity,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the job: sync, test and gate, release, package, deploy, promote.
    #[command(after_help = help_with(&["pipeline run", "pipeline run --until staging", "pipeline run --dry-run", "pipeline run --json > run.json"]))]
    Run(RunArgs),
    /// Make a sandbox (a repository, its remote, a local agent) and run the whole job there.
    #[command(after_help = help_with(&["pipeline demo --exit", "pipeline demo --dir /tmp/demo"]))]
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
    /// (`--max-soak-wait` is the older spelling.)
    #[arg(
        long = "wait-soak",
        alias = "max-soak-wait",
        default_value_t = 3600,
        value_name = "SECS"
    )]
    max_soak_wait: u64,
    /// Plan the job and change nothing: the sync and the release are
    /// planned, tests, packaging and promotions are not run.
    #[arg(long)]
    dry_run: bool,
    /// Print one JSON document on stdout at the end (schema pipeline/run/v1).
    #[arg(long)]
    json: bool,
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
    // The variables pipeline.toml reads secrets from are masked and
    // redacted like the tools' own (a file that does not load is reported
    // by the command itself).
    let from_config: Vec<String> = match &cli.command {
        Command::Run(args) => {
            pipeline_promotion::load_config(&run::config_file(&args.repo, &args.config))
                .map(|c| c.secret_vars().into_iter().map(str::to_owned).collect())
                .unwrap_or_default()
        }
        Command::Demo(_) => Vec::new(),
    };
    let from_config: Vec<&str> = from_config.iter().map(String::as_str).collect();
    let session = pipeline_cli::Session::start(
        cli.verbosity.verbose,
        &[
            pipeline_promotion::SECRET_VARS,
            pipeline_targets::SECRET_VARS,
            pipeline_http::SECRET_VARS,
            pipeline_gitflow::SECRET_VARS,
            &from_config,
        ],
    );
    let result = match cli.command {
        Command::Run(args) => {
            let options = run::RunOptions {
                config: args.config,
                repo: args.repo,
                until: args.until,
                max_soak_wait: args.max_soak_wait,
                dry_run: args.dry_run,
                json: args.json,
                secrets: session.secrets().to_vec(),
            };
            run::run(&options, session.env()).and_then(|(exit, doc)| {
                if args.json {
                    let text = serde_json::to_string(&doc)
                        .map_err(|e| Failure::usage(format!("cannot write the document: {e}")))?;
                    let _ = writeln!(std::io::stdout(), "{text}");
                }
                Ok(exit)
            })
        }
        #[cfg(unix)]
        Command::Demo(args) => demo::demo(&args.dir, &args.app, args.exit, session.env()),
        #[cfg(not(unix))]
        Command::Demo(_) => Err(Failure::usage(
            "pipeline demo runs the job on the local agent, which runs on Linux and macOS \
             only; on Windows, promote to Azure App Service or Cloud Run",
        )),
    };
    session.finish(result)
}
