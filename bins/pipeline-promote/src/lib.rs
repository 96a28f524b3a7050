//! The `pipeline-promote` command line: `promote`, `rollback`, `status` and
//! `history` over the environments of `pipeline.toml`. Parsing and output
//! only; the transactions are [`pipeline_promotion::Promoter`]'s.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use pipeline_cli::http::StderrProgress;
use pipeline_cli::{Exit, Failure, Session};
use pipeline_contracts::promote::{
    EnvStatusRow, HistoryDoc, PlanDoc, PromoteDoc, StatusDoc, short,
};
use pipeline_promotion::{
    Event, GateEvidence, PromoteOutcome, PromoteRequest, Promoter, RollbackOutcome, RollbackRequest,
};

fn after_help() -> String {
    help_with(&[
        "pipeline-promote promote --to ci --version 1.4.0 --sha256 <hex> --artifact dist/app.zip \\\n      --gate-json .pipeline/gate.json",
        "pipeline-promote promote --to qa --version 1.4.0 --wait-soak 600",
        "pipeline-promote promote --to production --dry-run",
        "pipeline-promote rollback --env qa",
        "pipeline-promote rollback --env qa --version 1.3.0",
        "pipeline-promote status",
        "pipeline-promote history --env production --limit 5",
    ])
}

/// The help's end for a command: its `examples`, then the exit codes.
fn help_with(examples: &[&str]) -> String {
    pipeline_cli::after_help(
        "Cloud environments take their credentials and endpoints from the environment, as \
         `pipeline-deploy azure` and `pipeline-deploy cloud-run` do (AZURE_TENANT_ID, \
         AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE or GitHub Actions \
         OIDC; GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_WORKLOAD_IDENTITY_PROVIDER or the metadata \
         server; AZURE_AUTHORITY_HOST, PIPELINE_AZURE_*_ENDPOINT, PIPELINE_GCP_*_ENDPOINT). \
         PIPELINE_AZURE_SLOT_URL and PIPELINE_AZURE_LIVE_URL replace the URLs made of the slot's \
         and production's default host names.",
        examples,
        &[
            (
                Exit::Refused,
                "here: a policy refused the promotion, validation failed before the switch, \
                 verification failed after it and traffic went back, another promotion holds \
                 the environment",
            ),
            (
                Exit::External,
                "here: a target, the agent or the state store; when a switch could not be \
                 recorded, the message names what the environment serves",
            ),
        ],
    )
}

/// Promote the same artifact through the environments of pipeline.toml.
#[derive(Debug, Parser)]
#[command(name = "pipeline-promote", version, after_help = after_help())]
struct Cli {
    /// The job's configuration.
    #[arg(
        long,
        global = true,
        default_value = "pipeline.toml",
        value_name = "FILE"
    )]
    config: PathBuf,
    /// The repository (its remote keeps the state).
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    repo: PathBuf,
    /// Where artifacts are kept by digest [default: pipeline.toml's
    /// `[artifact] store`, relative to the repository]: a directory the
    /// jobs of a CI run share, when each step runs in a job of its own.
    #[arg(
        long,
        global = true,
        env = "PIPELINE_ARTIFACT_STORE",
        value_name = "DIR"
    )]
    artifact_store: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: pipeline_cli::Verbosity,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Put what the previous environment runs (or, for the first, the given artifact) into ENV.
    #[command(after_help = help_with(&["pipeline-promote promote --to ci --version 1.4.0 --sha256 <hex> --artifact dist/app.zip --gate-json .pipeline/gate.json", "pipeline-promote promote --to qa --version 1.4.0 --wait-soak 600", "pipeline-promote promote --to production --dry-run"]))]
    Promote(PromoteArgs),
    /// Bring back the previous good release of ENV.
    #[command(after_help = help_with(&["pipeline-promote rollback --env qa", "pipeline-promote rollback --env qa --version 1.3.0"]))]
    Rollback(RollbackArgs),
    /// Every environment: version, digest, since when, by whom.
    #[command(after_help = help_with(&["pipeline-promote status", "pipeline-promote status --json"]))]
    Status(StatusArgs),
    /// The past changes of one environment, newest first.
    #[command(after_help = help_with(&["pipeline-promote history --env production --limit 5", "pipeline-promote history --env qa --json"]))]
    History(HistoryArgs),
}

#[derive(Debug, Args)]
struct PromoteArgs {
    /// The environment to promote into (`--env` as everywhere else).
    #[arg(long, visible_alias = "env", value_name = "ENV")]
    to: String,
    /// The version expected (in the previous environment, or of the artifact).
    #[arg(long = "version", value_name = "VERSION")]
    release_version: Option<String>,
    /// The artifact's SHA-256, or a Cloud Run image's digest (`sha256:` in
    /// front is fine, as `docker buildx` prints it); the first environment
    /// takes it, later ones the previous one's.
    #[arg(long, value_name = "HEX", value_parser = digest)]
    sha256: Option<pipeline_artifact::Sha256Digest>,
    /// The artifact [default: the artifact store's <sha256>.zip].
    #[arg(long, value_name = "FILE")]
    artifact: Option<PathBuf>,
    /// The gate's JSON (`pipeline-report gate --json`), for environments that require a passed gate.
    #[arg(long, value_name = "FILE")]
    gate_json: Option<PathBuf>,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// When the previous environment has not run the release for its soak
    /// time yet, wait for it, up to SECS, instead of refusing at once.
    #[arg(long, value_name = "SECS")]
    wait_soak: Option<u64>,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RollbackArgs {
    /// The environment.
    #[arg(long, value_name = "ENV")]
    env: String,
    /// Bring back this version (one that went live there before), its
    /// artifact redeployed through the environment's checks; without it,
    /// the previous release comes back by switching (or restarting) it.
    /// (`--to VERSION` is the older spelling.)
    #[arg(long = "version", alias = "to", value_name = "VERSION")]
    to: Option<String>,
    /// The artifact of `--version` [default: the artifact store's <sha256>.zip].
    #[arg(long, value_name = "FILE", requires = "to")]
    artifact: Option<PathBuf>,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct HistoryArgs {
    /// The environment.
    #[arg(long, value_name = "ENV")]
    env: String,
    /// How many records.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
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
    let from_config: Vec<String> = pipeline_promotion::load_config(&cli.config)
        .map(|c| c.secret_vars().into_iter().map(str::to_owned).collect())
        .unwrap_or_default();
    let from_config: Vec<&str> = from_config.iter().map(String::as_str).collect();
    let session = Session::start(
        cli.verbosity.verbose,
        &[
            pipeline_promotion::SECRET_VARS,
            pipeline_targets::SECRET_VARS,
            pipeline_http::SECRET_VARS,
            &from_config,
        ],
    );
    let Some(runtime) = pipeline_cli::http::runtime() else {
        return Exit::External.into();
    };
    let progress = Arc::new(StderrProgress::new().with_secrets(session.secrets().to_vec()));
    let result = runtime.block_on(run(&cli, &session, Arc::clone(&progress)));
    progress.finish();
    session.finish(result)
}

/// A SHA-256 in hex, with or without `sha256:` before it.
fn digest(s: &str) -> Result<pipeline_artifact::Sha256Digest, String> {
    s.strip_prefix("sha256:")
        .unwrap_or(s)
        .parse()
        .map_err(|e: pipeline_artifact::ParseDigestError| e.to_string())
}

fn say(out: &mut impl std::io::Write, text: impl std::fmt::Display) {
    // Nothing more can be said if stdout is gone; the exit code still tells.
    let _ = writeln!(out, "{text}");
}

fn print_json(out: &mut impl std::io::Write, doc: &impl serde::Serialize) {
    match serde_json::to_string(doc) {
        Ok(text) => say(out, text),
        Err(e) => tracing::error!("cannot write the JSON document: {e}"),
    }
}

fn show(event: Event) {
    let _ = writeln!(std::io::stderr(), "{event}");
}

async fn run(cli: &Cli, session: &Session, progress: Arc<StderrProgress>) -> Result<Exit, Failure> {
    let config = pipeline_promotion::load_config(&cli.config)?;
    let http = pipeline_cli::http::http("pipeline-promote", progress)
        .map_err(|e| Failure::usage(format!("cannot set up the HTTP client: {e}")))?;
    let mut promoter = Promoter::new(config, &cli.config, &cli.repo, http, session.env().clone())?;
    if let Some(dir) = &cli.artifact_store {
        promoter = promoter.with_artifact_store(dir);
    }
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Promote(args) => {
            let mut request = PromoteRequest::to(&args.to).dry_run(args.dry_run);
            if let Some(v) = &args.release_version {
                request = request.version(v);
            }
            if let Some(sha) = &args.sha256 {
                request = request.artifact(*sha, args.artifact.clone());
            } else {
                request.artifact = args.artifact.clone();
            }
            if let Some(path) = &args.gate_json {
                request = request.gate(GateEvidence::read(path)?);
            }
            if let Some(secs) = args.wait_soak {
                request = request.wait_soak(Duration::from_secs(secs));
            }
            match promoter.promote(&request, &mut show).await? {
                PromoteOutcome::AlreadyThere { env, candidate } => {
                    let url = promoter.live_url(&env).await.ok().flatten();
                    in_actions(
                        session,
                        &[
                            ("env", env.clone()),
                            ("version", candidate.version.clone()),
                            ("outcome", "already-there".to_owned()),
                            ("url", url.as_ref().map(url_text).unwrap_or_default()),
                        ],
                        &pipeline_promotion::render::summary_already_there(
                            &env,
                            &candidate,
                            url.as_ref(),
                        ),
                    );
                    say(
                        &mut out,
                        format!(
                            "{env} runs {} ({}) already; nothing to do",
                            candidate.version,
                            short(&candidate.sha256)
                        ),
                    );
                    Ok(Exit::Success)
                }
                PromoteOutcome::Planned(plan) => {
                    if args.json {
                        print_json(
                            &mut out,
                            &PlanDoc {
                                schema: PlanDoc::SCHEMA.to_owned(),
                                plan,
                            },
                        );
                    } else {
                        say(&mut out, plan.render());
                    }
                    Ok(Exit::Success)
                }
                PromoteOutcome::Finished(run) => {
                    finished_in_actions(session, &run);
                    finished(&mut out, &run, args.json);
                    Ok(run.exit())
                }
            }
        }
        Command::Rollback(args) => {
            let mut request = RollbackRequest::env(&args.env);
            if let Some(v) = &args.to {
                request = request.to_version(v, args.artifact.clone());
            }
            match promoter.rollback(&request, &mut show).await? {
                RollbackOutcome::Switched {
                    env,
                    live_version,
                    idle_version,
                } => {
                    let url = promoter.live_url(&env).await.ok().flatten();
                    in_actions(
                        session,
                        &[
                            ("env", env.clone()),
                            ("version", live_version.clone().unwrap_or_default()),
                            ("outcome", "rolled-back".to_owned()),
                            ("url", url.as_ref().map(url_text).unwrap_or_default()),
                        ],
                        &format!(
                            "### ↩️ {env}: rolled back to {}\n\n{} is live again at {}; {} is in the idle slot.\n",
                            live_version.as_deref().unwrap_or("?"),
                            live_version.as_deref().unwrap_or("?"),
                            url.as_ref()
                                .map_or_else(|| "its live address".to_owned(), url_text),
                            idle_version.as_deref().unwrap_or("nothing"),
                        ),
                    );
                    say(
                        &mut out,
                        format!(
                            "{env}: {} live again ({} in the idle slot)",
                            live_version.as_deref().unwrap_or("?"),
                            idle_version.as_deref().unwrap_or("-")
                        ),
                    );
                    Ok(Exit::Success)
                }
                RollbackOutcome::AlreadyThere { env, candidate } => {
                    say(
                        &mut out,
                        format!(
                            "{env} runs {} ({}) already; nothing to do",
                            candidate.version,
                            short(&candidate.sha256)
                        ),
                    );
                    Ok(Exit::Success)
                }
                RollbackOutcome::Finished(run) => {
                    finished_in_actions(session, &run);
                    finished(&mut out, &run, args.json);
                    Ok(run.exit())
                }
            }
        }
        Command::Status(args) => {
            let rows = promoter.status().await?;
            if args.json {
                let envs = rows
                    .into_iter()
                    .map(|r| EnvStatusRow {
                        env: r.env,
                        record: r.record,
                        healthy: r.healthy,
                        slot: r.slot,
                    })
                    .collect();
                print_json(
                    &mut out,
                    &StatusDoc {
                        schema: StatusDoc::SCHEMA.to_owned(),
                        envs,
                    },
                );
            } else {
                say(&mut out, pipeline_promotion::render::status_table(&rows));
            }
            Ok(Exit::Success)
        }
        Command::History(args) => {
            let history = promoter.history(&args.env, args.limit).await?;
            if args.json {
                print_json(
                    &mut out,
                    &HistoryDoc {
                        schema: HistoryDoc::SCHEMA.to_owned(),
                        env: args.env.clone(),
                        records: history,
                    },
                );
            } else {
                for r in &history {
                    say(&mut out, pipeline_promotion::render::history_line(r));
                }
            }
            Ok(Exit::Success)
        }
    }
}

/// A URL as the step output `url` gives it (no trailing `/` on a bare
/// host, as GitHub shows environment URLs).
fn url_text(url: &url::Url) -> String {
    let text = url.as_str();
    if url.path() == "/" && url.query().is_none() {
        text.trim_end_matches('/').to_owned()
    } else {
        text.to_owned()
    }
}

/// Inside GitHub Actions: the step outputs and the job summary. What
/// cannot be written is a warning: the promotion itself is done.
fn in_actions(session: &Session, outputs: &[(&str, String)], summary: &str) {
    let Some(github) = pipeline_ci::GitHub::from_env(session.env()) else {
        return;
    };
    for (name, value) in outputs {
        if let Err(e) = github.set_output(name, value) {
            tracing::warn!("step output {name}: {e}");
        }
    }
    if github.summary_file().is_some()
        && let Err(e) = github.append_summary(&session.redact(summary))
    {
        tracing::warn!("job summary: {e}");
    }
}

/// The outputs and summary of a plan that ran.
fn finished_in_actions(session: &Session, run: &pipeline_promotion::Finished) {
    in_actions(
        session,
        &[
            ("env", run.plan.env.clone()),
            ("version", run.plan.candidate.version.clone()),
            ("outcome", run.outcome_word().to_owned()),
            ("url", url_text(&run.live_url)),
        ],
        &pipeline_promotion::render::summary(run),
    );
}

fn finished(out: &mut impl std::io::Write, run: &pipeline_promotion::Finished, json: bool) {
    if json {
        print_json(
            out,
            &PromoteDoc {
                schema: PromoteDoc::SCHEMA.to_owned(),
                env: run.plan.env.clone(),
                version: run.plan.candidate.version.clone(),
                sha256: run.plan.candidate.sha256.clone(),
                outcome: run.outcome_word().to_owned(),
                message: run.message(),
            },
        );
    } else {
        say(out, run.message());
    }
}
