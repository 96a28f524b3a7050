//! The `pipeline-promote` command line: `promote`, `rollback`, `status` and
//! `history` over the environments of `pipeline.toml`.
//!
//! Exit codes: 0 success (promoted, or already there); 1 the step said no
//! (a policy refused the promotion, validation failed before the switch,
//! verification failed after it and traffic went back, another promotion
//! holds the environment); 2 usage, configuration or input error; 3 a
//! target, the agent or the git remote failed after retries.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use pipeline_ci::{Env, Secret};
use pipeline_cli::Exit;
use pipeline_cli::http::StderrProgress;
use pipeline_http::{Endpoint, Http};
use pipeline_promotion::GitHubStore;
use pipeline_promotion::config::StateSettings;
use pipeline_promotion::config::{Environment, PipelineConfig, TargetConfig};
use pipeline_promotion::engine::{Context, PromoteError, Promoted, StepReport, promote_locked};
use pipeline_promotion::store::{AnyStore, GitStore, StateStore, StoreError};
use pipeline_promotion::{
    Candidate, Decision, EnvNow, Outcome as RecordOutcome, Plan, Record, Refusal, plan,
    rollback_plan,
};
use pipeline_targets::azure::{AppRef, HealthSettings};
use pipeline_targets::cloudrun::{ImageRef, ServiceRef};
use pipeline_targets::local::{AgentRef, LocalTarget};
use pipeline_targets::{AnyTarget, Outcome, Release, Target, TargetError};

const EXIT_CODES: &str = "Cloud environments take their credentials and endpoints from the \
environment, as `pipeline-deploy azure` and `pipeline-deploy cloud-run` do (AZURE_TENANT_ID, \
AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE or GitHub Actions OIDC; \
GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_WORKLOAD_IDENTITY_PROVIDER or the metadata server; \
AZURE_AUTHORITY_HOST, PIPELINE_AZURE_*_ENDPOINT, PIPELINE_GCP_*_ENDPOINT). \
PIPELINE_AZURE_SLOT_URL and PIPELINE_AZURE_LIVE_URL replace the URLs made of the slot's and \
production's default host names.\n\nExit codes: 0 success (promoted, or already there); 1 the step said \
no (a policy refused the promotion, validation failed before the switch, verification failed \
after it and traffic went back, another promotion holds the environment); 2 usage, \
configuration or input error; 3 a target, the agent or the git remote failed after retries.";

/// Promote the same artifact through the environments of pipeline.toml.
#[derive(Debug, Parser)]
#[command(name = "pipeline-promote", version, after_help = EXIT_CODES)]
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
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: pipeline_cli::Verbosity,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Put what the previous environment runs (or, for the first, the given artifact) into ENV.
    Promote(PromoteArgs),
    /// Bring back the previous good release of ENV.
    Rollback(RollbackArgs),
    /// Every environment: version, digest, since when, by whom.
    Status(StatusArgs),
    /// The past changes of one environment, newest first.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
struct PromoteArgs {
    /// The environment to promote into.
    #[arg(long, value_name = "ENV")]
    to: String,
    /// The version expected (in the previous environment, or of the artifact).
    #[arg(long = "version", value_name = "VERSION")]
    release_version: Option<String>,
    /// The artifact's SHA-256 (the first environment; later ones take the previous one's).
    #[arg(long, value_name = "HEX")]
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
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    /// The artifact of `--to` [default: the artifact store's <sha256>.zip].
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

struct Failure(Exit, String);

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let exit = match &e {
            StoreError::Conflict { .. }
            | StoreError::Locked { .. }
            | StoreError::LockLost { .. } => Exit::Refused,
            StoreError::Remote { .. } | StoreError::Git { .. } => Exit::External,
            StoreError::Api { source, .. } => match source.blame() {
                pipeline_http::Blame::Caller => Exit::Usage,
                _ => Exit::External,
            },
            _ => Exit::Usage,
        };
        Failure(exit, pipeline_cli::error_chain(&e))
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        let exit = if r.is_usage() {
            Exit::Usage
        } else {
            Exit::Refused
        };
        Failure(exit, r.to_string())
    }
}

impl From<TargetError> for Failure {
    fn from(e: TargetError) -> Self {
        let exit = match e.outcome() {
            Outcome::Refused => Exit::Refused,
            Outcome::Caller => Exit::Usage,
            _ => Exit::External,
        };
        Failure(exit, pipeline_cli::error_chain(&e))
    }
}

impl From<PromoteError> for Failure {
    fn from(e: PromoteError) -> Self {
        match e {
            PromoteError::Target(t) => t.into(),
            PromoteError::Store(s) => s.into(),
            other => Failure(Exit::Usage, pipeline_cli::error_chain(&other)),
        }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure(Exit::Usage, message.into())
}

const SECRET_VARS: &[&str] = &[
    "AZURE_CLIENT_SECRET",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "GIT_TOKEN",
    "GITHUB_TOKEN",
    "PIPELINE_AGENT_TOKEN",
];

/// Runs the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli: Cli = match pipeline_cli::parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let secrets = pipeline_cli::secrets_from_env(SECRET_VARS);
    pipeline_cli::init_logging_redacted(cli.verbosity.verbose, secrets.clone());
    let env = Env::from_vars(std::env::vars());
    let Some(runtime) = pipeline_cli::http::runtime() else {
        return Exit::External.into();
    };
    let progress = Arc::new(StderrProgress::new().with_secrets(secrets.clone()));
    let result = runtime.block_on(run(&cli, &env, Arc::clone(&progress)));
    progress.finish();
    match result {
        Ok(exit) => exit.into(),
        Err(Failure(exit, message)) => {
            let refs: Vec<&Secret> = secrets.iter().collect();
            let _ = writeln!(
                std::io::stderr(),
                "error: {}",
                pipeline_ci::redact(&message, &refs)
            );
            exit.into()
        }
    }
}

fn load(cli: &Cli) -> Result<PipelineConfig, Failure> {
    pipeline_promotion::config::load(&cli.config).map_err(|e| usage(e.to_string()))
}

/// The state store `[state]` chooses: the git remote's refs, or GitHub
/// Deployments (with `GITHUB_TOKEN`, at `GITHUB_API_URL`, the statuses
/// linking to the run's log when `GITHUB_RUN_ID` says which).
fn store(cli: &Cli, config: &PipelineConfig, env: &Env, http: &Http) -> Result<AnyStore, Failure> {
    match &config.state {
        StateSettings::Git => {
            let token = env
                .get_secret("GIT_TOKEN")
                .or_else(|| env.get_secret("GITHUB_TOKEN"));
            let git =
                pipeline_gitflow::GitCli::new(&cli.repo, &config.branches.remote, None, token);
            Ok(AnyStore::Git(GitStore::new(&cli.repo, git)))
        }
        StateSettings::GithubDeployments { repository } => {
            let token = env.get_secret("GITHUB_TOKEN").ok_or_else(|| {
                usage(format!(
                    "{}: [state] kind = \"github-deployments\" needs GITHUB_TOKEN \
                     (a token with deployments: write and contents: write)",
                    cli.config.display()
                ))
            })?;
            let raw = env
                .get("GITHUB_API_URL")
                .unwrap_or("https://api.github.com");
            let api = Endpoint::parse("GITHUB_API_URL", raw).map_err(|e| usage(e.to_string()))?;
            let log_url = match (
                env.get("GITHUB_SERVER_URL"),
                env.get("GITHUB_REPOSITORY"),
                env.get("GITHUB_RUN_ID"),
            ) {
                (Some(server), Some(repo), Some(run)) => Some(format!(
                    "{}/{repo}/actions/runs/{run}",
                    server.trim_end_matches('/')
                )),
                _ => None,
            };
            let store = GitHubStore::new(http.clone(), api, repository, token)
                .map_err(|e| usage(format!("{}: [state] repository: {e}", cli.config.display())))?
                .with_tag_prefix(config.branches.tag_prefix.clone())
                .with_log_url(log_url);
            Ok(AnyStore::GitHub(store))
        }
    }
}

fn http(progress: Arc<StderrProgress>) -> Result<Http, Failure> {
    pipeline_cli::http::http("pipeline-promote", progress)
        .map_err(|e| usage(format!("cannot set up the HTTP client: {e}")))
}

/// The target of `env`, declared on the agent when it is local; with its
/// health path and the URL live traffic reaches when the configuration
/// (or an override) gives it: otherwise [`live_url`] asks the target.
///
/// Cloud targets take their credentials and endpoints from `vars` (see
/// [`pipeline_targets::azure::env`] and [`pipeline_targets::cloudrun::env`]);
/// `PIPELINE_AZURE_SLOT_URL` and `PIPELINE_AZURE_LIVE_URL` replace the
/// URLs made of the slot's and production's default host names.
async fn target_of(
    cli: &Cli,
    config: &PipelineConfig,
    env: &Environment,
    vars: &Env,
    http: &Http,
) -> Result<(AnyTarget, String, Option<url::Url>), Failure> {
    match &env.target {
        TargetConfig::Local {
            front,
            command,
            health_path,
            health_timeout_secs,
            keep_warm_secs,
            drain_timeout_secs,
        } => {
            let dir = cli.repo.join(&config.agent.state_dir);
            let agent = AgentRef::from_state_dir(&dir)?;
            let t = LocalTarget::new(http.clone(), agent, &env.name)
                .with_version_check(Some(health_path.clone()));
            t.declare(&serde_json::json!({
                "front": front.to_string(),
                "command": command,
                "health_path": health_path,
                "health_timeout_secs": health_timeout_secs,
                "keep_warm_secs": keep_warm_secs,
                "drain_timeout_secs": drain_timeout_secs,
            }))
            .await?;
            let live = url::Url::parse(&format!("http://{front}/"))
                .map_err(|e| usage(format!("front {front}: {e}")))?;
            Ok((
                AnyTarget::Local(Box::new(t)),
                health_path.clone(),
                Some(live),
            ))
        }
        TargetConfig::AzureAppService {
            subscription,
            resource_group,
            app,
            slot,
            health_path,
        } => {
            let app = AppRef {
                subscription: subscription.clone(),
                resource_group: resource_group.clone(),
                app: app.clone(),
            };
            let t = pipeline_targets::azure::env::from_env(http.clone(), vars, app, slot)
                .map_err(|e| in_env(env, e))?
                .with_slot_url(url_var(vars, "PIPELINE_AZURE_SLOT_URL")?)
                .with_health(HealthSettings {
                    path: health_path.clone(),
                    ..HealthSettings::default()
                });
            let live = url_var(vars, "PIPELINE_AZURE_LIVE_URL")?;
            Ok((AnyTarget::Azure(Box::new(t)), health_path.clone(), live))
        }
        TargetConfig::CloudRun {
            project,
            region,
            service,
            image,
            health_path,
        } => {
            let image = ImageRef::parse(image).map_err(|e| in_env(env, e))?;
            let svc = ServiceRef {
                project: project.clone(),
                region: region.clone(),
                service: service.clone(),
            };
            let t = pipeline_targets::cloudrun::env::from_env(http.clone(), vars, svc)
                .map_err(|e| in_env(env, e))?
                .with_image(&image.reference)
                .with_health(HealthSettings {
                    path: health_path.clone(),
                    ..HealthSettings::default()
                });
            Ok((AnyTarget::CloudRun(Box::new(t)), health_path.clone(), None))
        }
    }
}

fn in_env(env: &Environment, e: TargetError) -> Failure {
    let Failure(exit, message) = e.into();
    Failure(exit, format!("environment {}: {message}", env.name))
}

/// The URL in the variable `name`, if it is set.
fn url_var(vars: &Env, name: &str) -> Result<Option<url::Url>, Failure> {
    vars.get(name)
        .filter(|v| !v.trim().is_empty())
        .map(|v| url::Url::parse(v.trim()).map_err(|e| usage(format!("{name} `{v}`: {e}"))))
        .transpose()
}

/// The URL live traffic reaches: `known`, else the target's own (Azure:
/// production's default host name; Cloud Run: the service's URI).
async fn live_url(target: &AnyTarget, known: Option<url::Url>) -> Result<url::Url, Failure> {
    if let Some(url) = known {
        return Ok(url);
    }
    let url = match target {
        AnyTarget::Azure(t) => t.live_url().await?,
        AnyTarget::CloudRun(t) => t.live_url().await?,
        other => {
            return Err(usage(format!(
                "{}: no URL for live traffic",
                other.describe()
            )));
        }
    };
    Ok(url)
}

/// One line of `status`.
#[derive(Debug, Clone)]
pub struct StatusRow {
    /// The environment.
    pub env: String,
    /// Its newest record.
    pub record: Option<Record>,
    /// Whether its live address answers healthy (`None`: not asked).
    pub healthy: Option<bool>,
    /// The slot taking live traffic (`blue`, `production`, a revision).
    pub slot: Option<String>,
}

/// The slot live traffic goes to, as the target says; `None` when it
/// cannot be asked. A local environment is asked without being declared
/// (status changes nothing).
async fn live_slot(
    cli: &Cli,
    config: &PipelineConfig,
    envcfg: &Environment,
    vars: &Env,
    http: &Http,
) -> Option<String> {
    let status = match &envcfg.target {
        TargetConfig::Local { .. } => {
            let dir = cli.repo.join(&config.agent.state_dir);
            let agent = AgentRef::from_state_dir(&dir).ok()?;
            LocalTarget::new(http.clone(), agent, &envcfg.name)
                .status()
                .await
                .ok()?
        }
        _ => {
            let (target, _, _) = target_of(cli, config, envcfg, vars, http).await.ok()?;
            target.status().await.ok()?
        }
    };
    status.live().map(|s| s.slot.clone())
}

/// Whether a cloud environment's live address answers its health path;
/// `None` (shown as `-`) when it cannot be asked: no credentials here, or
/// the service does not say where it is.
async fn cloud_health(
    cli: &Cli,
    config: &PipelineConfig,
    envcfg: &Environment,
    vars: &Env,
    http: &Http,
) -> Option<bool> {
    let (target, path, known) = match target_of(cli, config, envcfg, vars, http).await {
        Ok(t) => t,
        Err(Failure(_, why)) => {
            tracing::info!(env = envcfg.name, "health not checked: {why}");
            return None;
        }
    };
    match live_url(&target, known).await {
        Ok(url) => Some(healthy(http, &url, &path).await),
        Err(Failure(_, why)) => {
            tracing::info!(env = envcfg.name, "health not checked: {why}");
            None
        }
    }
}

async fn now_of(store: &AnyStore, env: &str) -> Result<Option<Record>, Failure> {
    Ok(store.current(env).await?.map(|s| s.record))
}

async fn healthy(http: &Http, url: &url::Url, path: &str) -> bool {
    let check = pipeline_targets::health::HealthCheck::new(url.clone(), path);
    matches!(
        pipeline_targets::health::probe(http, &check).await,
        pipeline_targets::health::Probe::Healthy
    )
}

fn live_url_of(env: &Environment) -> Option<(url::Url, String)> {
    match &env.target {
        TargetConfig::Local {
            front, health_path, ..
        } => Some((
            url::Url::parse(&format!("http://{front}/")).ok()?,
            health_path.clone(),
        )),
        _ => None,
    }
}

async fn run(cli: &Cli, env: &Env, progress: Arc<StderrProgress>) -> Result<Exit, Failure> {
    let config = load(cli)?;
    let http = http(progress)?;
    let store = store(cli, &config, env, &http)?;
    let by = env
        .get("GITHUB_ACTOR")
        .map(|a| format!("{a} (run {})", env.get("GITHUB_RUN_ID").unwrap_or("?")))
        .or_else(|| env.get("USER").map(str::to_owned))
        .unwrap_or_else(|| "pipeline".to_owned());
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Promote(args) => {
            if config.environment(&args.to).is_none() {
                return Err(usage(format!(
                    "no environment `{}` in {}",
                    args.to,
                    cli.config.display()
                )));
            }
            if let (Some(budget), false) = (args.wait_soak, args.dry_run) {
                wait_soak(&config, &store, &http, args, budget).await?;
            }
            // The plan is made under the environment's lock: a promotion that
            // waited for another must see what that one left.
            let lock = if args.dry_run {
                None
            } else {
                Some(
                    store
                        .lock(
                            &args.to,
                            &by,
                            &format!("promote into {}", args.to),
                            pipeline_promotion::now(),
                            3600,
                        )
                        .await?,
                )
            };
            let result: Result<Exit, Failure> = async {
            let decision = decide(&config, &store, &http, args)
                .await?
                .map_err(Failure::from)?;
            let plan = match decision {
                Decision::AlreadyThere { env, candidate } => {
                    let _ = writeln!(
                        out,
                        "{env} runs {} ({}) already; nothing to do",
                        candidate.version,
                        short(&candidate.sha256)
                    );
                    return Ok(Exit::Success);
                }
                Decision::Promote(plan) => plan,
            };
            if args.dry_run {
                if args.json {
                    let _ = writeln!(
                        out,
                        "{}",
                        serde_json::json!({ "schema": "pipeline-promote/plan/v1", "plan": plan })
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "promote {} ({}) from {} into {}{}:",
                        plan.candidate.version,
                        short(&plan.candidate.sha256),
                        plan.from,
                        plan.env,
                        plan.replaces
                            .as_ref()
                            .map(|r| format!(", replacing {}", r.version))
                            .unwrap_or_default()
                    );
                    for (i, step) in plan.steps.iter().enumerate() {
                        let _ = writeln!(
                            out,
                            "  {}. {}",
                            i + 1,
                            serde_json::to_value(step)
                                .map(|v| v.to_string())
                                .unwrap_or_default()
                        );
                    }
                    let _ = writeln!(
                        out,
                        "  automatic rollback: {}",
                        if plan.auto_rollback { "yes" } else { "no" }
                    );
                }
                return Ok(Exit::Success);
            }
            execute(
                cli,
                &config,
                &store,
                &http,
                env,
                &plan,
                args.artifact.clone(),
                by,
                args.json,
                false,
            )
            .await
                    }
            .await;
            match lock {
                Some(lock) => {
                    let unlocked = store.unlock(lock).await;
                    let exit = result?;
                    unlocked?;
                    Ok(exit)
                }
                None => result,
            }
        }
        Command::Rollback(args) => {
            let (_, envcfg) = config.environment(&args.env).ok_or_else(|| {
                usage(format!(
                    "no environment `{}` in {}",
                    args.env,
                    cli.config.display()
                ))
            })?;
            if let Some(version) = &args.to {
                let lock = store
                    .lock(
                        &args.env,
                        &by,
                        &format!("roll {} back to {version}", args.env),
                        pipeline_promotion::now(),
                        3600,
                    )
                    .await?;
                let result = async {
                    let history = store.history(&args.env, 200).await?;
                    match rollback_plan(&config, &args.env, version, &history) {
                        Err(r) => Err(r.into()),
                        Ok(Decision::AlreadyThere { env, candidate }) => {
                            let _ = writeln!(
                                out,
                                "{env} runs {} ({}) already; nothing to do",
                                candidate.version,
                                short(&candidate.sha256)
                            );
                            Ok(Exit::Success)
                        }
                        Ok(Decision::Promote(plan)) => {
                            execute(
                                cli,
                                &config,
                                &store,
                                &http,
                                env,
                                &plan,
                                args.artifact.clone(),
                                by.clone(),
                                args.json,
                                true,
                            )
                            .await
                        }
                    }
                }
                .await;
                let unlocked = store.unlock(lock).await;
                let exit = result?;
                unlocked?;
                return Ok(exit);
            }
            let (target, _, _) = target_of(cli, &config, envcfg, env, &http).await?;
            let lock = store
                .lock(&args.env, &by, "rollback", pipeline_promotion::now(), 3600)
                .await?;
            let result = async {
                let current = store.current(&args.env).await?;
                let switched = target.rollback().await?;
                let live_version = switched.live_version.clone().unwrap_or_default();
                let sha = history_digest(&store, &args.env, &live_version).await?;
                let record = Record {
                    env: args.env.clone(),
                    version: live_version.clone(),
                    sha256: sha.clone().unwrap_or_default(),
                    outcome: RecordOutcome::ManualRollback,
                    live_version: Some(live_version.clone()),
                    live_sha256: sha,
                    at: pipeline_promotion::now(),
                    live_since: Some(pipeline_promotion::now()),
                    by: by.clone(),
                    note: format!(
                        "rolled back from {}",
                        switched.idle_version.as_deref().unwrap_or("?")
                    ),
                };
                store
                    .append(&args.env, &record, current.as_ref().map(|c| &c.revision))
                    .await?;
                Ok::<_, Failure>(switched)
            }
            .await;
            store.unlock(lock).await?;
            let switched = result?;
            let _ = writeln!(
                out,
                "{}: {} live again ({} in the idle slot)",
                args.env,
                switched.live_version.as_deref().unwrap_or("?"),
                switched.idle_version.as_deref().unwrap_or("-")
            );
            Ok(Exit::Success)
        }
        Command::Status(args) => {
            let mut rows = Vec::new();
            for e in &config.environments {
                let record = now_of(&store, &e.name).await?;
                let ok = match (&record, live_url_of(e)) {
                    (Some(_), Some((url, path))) => Some(healthy(&http, &url, &path).await),
                    (Some(_), None) => cloud_health(cli, &config, e, env, &http).await,
                    _ => None,
                };
                let slot = match &record {
                    Some(_) => live_slot(cli, &config, e, env, &http).await,
                    None => None,
                };
                rows.push(StatusRow {
                    env: e.name.clone(),
                    record,
                    healthy: ok,
                    slot,
                });
            }
            if args.json {
                let envs: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "env": r.env, "record": r.record, "healthy": r.healthy, "slot": r.slot,
                        })
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "schema": "pipeline-promote/status/v1", "envs": envs })
                );
            } else {
                let _ = writeln!(out, "{}", status_table(&rows));
            }
            Ok(Exit::Success)
        }
        Command::History(args) => {
            if config.environment(&args.env).is_none() {
                return Err(usage(format!(
                    "no environment `{}` in {}",
                    args.env,
                    cli.config.display()
                )));
            }
            let history = store.history(&args.env, args.limit).await?;
            if args.json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "schema": "pipeline-promote/history/v1", "env": args.env, "records": history })
                );
            } else {
                for r in &history {
                    let _ = writeln!(
                        out,
                        "{}  {:<10} {:<16} live {:<10} by {}{}",
                        pipeline_promotion::rfc3339(r.at),
                        r.version,
                        outcome_word(r.outcome),
                        r.live_version.as_deref().unwrap_or("-"),
                        r.by,
                        if r.note.is_empty() {
                            String::new()
                        } else {
                            format!("  ({})", r.note.lines().next().unwrap_or(""))
                        }
                    );
                }
            }
            Ok(Exit::Success)
        }
    }
}

/// Carries out `plan` under the environment's lock (taken by the caller):
/// a promotion, or (`rollback`) a release brought back by hand.
#[allow(clippy::too_many_arguments)]
async fn execute(
    cli: &Cli,
    config: &PipelineConfig,
    store: &AnyStore,
    http: &Http,
    env: &Env,
    plan: &Plan,
    artifact: Option<PathBuf>,
    by: String,
    json: bool,
    rollback: bool,
) -> Result<Exit, Failure> {
    let mut out = std::io::stdout().lock();
    let (_, envcfg) = config
        .environment(&plan.env)
        .ok_or_else(|| usage(format!("no environment `{}`", plan.env)))?;
    let artifact_path = artifact.unwrap_or_else(|| {
        cli.repo
            .join(&config.artifact.store)
            .join(format!("{}.zip", plan.candidate.sha256))
    });
    let sha = plan
        .candidate
        .sha256
        .parse()
        .map_err(|e| usage(format!("digest {}: {e}", plan.candidate.sha256)))?;
    let release = Release {
        version: plan.candidate.version.clone(),
        sha256: sha,
        artifact: artifact_path,
    };
    if let TargetConfig::CloudRun { image, .. } = &envcfg.target {
        let image = ImageRef::parse(image).map_err(|e| in_env(envcfg, e))?;
        if image.digest.to_string() != plan.candidate.sha256 {
            return Err(Failure(
                Exit::Refused,
                format!(
                    "environment {}: the image {} has digest {}, but the release to promote is {} ({}): \
                     promotion moves the same bytes; set target.image to the image of that digest",
                    envcfg.name,
                    image.reference,
                    image.digest,
                    plan.candidate.version,
                    plan.candidate.sha256
                ),
            ));
        }
    }
    let (target, health_path, known) = target_of(cli, config, envcfg, env, http).await?;
    let live_url = live_url(&target, known).await?;
    let ctx = Context {
        root: cli.repo.clone(),
        by,
        live_url,
        stale_lock_secs: 3600,
        by_hand: rollback,
    };
    let started = std::time::Instant::now();
    let mut report = |r: StepReport| {
        let mark = if r.ok { "ok " } else { "FAILED" };
        let _ = writeln!(
            std::io::stderr(),
            "  {mark} {:<28} {:>6.1}s  {}",
            r.step,
            r.took.as_secs_f64(),
            r.detail.lines().next().unwrap_or("")
        );
        if !r.ok {
            for line in r.detail.lines().skip(1) {
                let _ = writeln!(std::io::stderr(), "       {line}");
            }
        }
    };
    let _ = writeln!(
        std::io::stderr(),
        "{} {} ({}) from {} into {}",
        if rollback { "roll back to" } else { "promote" },
        plan.candidate.version,
        short(&plan.candidate.sha256),
        plan.from,
        plan.env
    );
    let outcome = promote_locked(
        store,
        &target,
        http,
        envcfg,
        &health_path,
        plan,
        &release,
        &ctx,
        &mut report,
    )
    .await?;
    let (exit, words) = match &outcome {
        Promoted::Live => (
            Exit::Success,
            format!(
                "{} live in {} in {:.1}s",
                plan.candidate.version,
                plan.env,
                started.elapsed().as_secs_f64()
            ),
        ),
        Promoted::ValidationFailed { reason } => (
            Exit::Refused,
            format!(
                "{} not promoted into {}: validation failed before the switch ({}); traffic did not move",
                plan.candidate.version,
                plan.env,
                reason.lines().next().unwrap_or("")
            ),
        ),
        Promoted::VerificationFailed {
            reason,
            rolled_back: true,
        } => (
            Exit::Refused,
            format!(
                "{} failed verification in {} ({}); rolled back to {}",
                plan.candidate.version,
                plan.env,
                reason.lines().next().unwrap_or(""),
                plan.replaces
                    .as_ref()
                    .map_or("the previous release", |r| r.version.as_str())
            ),
        ),
        Promoted::VerificationFailed {
            reason,
            rolled_back: false,
        } => (
            Exit::Refused,
            format!(
                "{} failed verification in {} ({}); not rolled back",
                plan.candidate.version,
                plan.env,
                reason.lines().next().unwrap_or("")
            ),
        ),
    };
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({
                "schema": "pipeline-promote/promote/v1",
                "env": plan.env, "version": plan.candidate.version, "sha256": plan.candidate.sha256,
                "outcome": match outcome { Promoted::Live => "live", Promoted::ValidationFailed { .. } => "validation-failed", Promoted::VerificationFailed { rolled_back: true, .. } => "rolled-back", Promoted::VerificationFailed { .. } => "verification-failed" },
                "message": words,
            })
        );
    } else {
        let _ = writeln!(out, "{words}");
    }
    Ok(exit)
}

/// Waits, up to `budget` seconds, while the only reason to refuse the
/// promotion is the previous environment's soak time; anything else (or a
/// soak longer than the budget) is left to the promotion to say.
async fn wait_soak(
    config: &PipelineConfig,
    store: &AnyStore,
    http: &Http,
    args: &PromoteArgs,
    budget: u64,
) -> Result<(), Failure> {
    let deadline = pipeline_promotion::now().saturating_add(budget);
    loop {
        let Err(Refusal::NotSoaked {
            env,
            previous,
            version,
            ran,
            needs,
        }) = decide(config, store, http, args).await?
        else {
            return Ok(());
        };
        let left = needs.saturating_sub(ran).max(1);
        if pipeline_promotion::now().saturating_add(left) > deadline {
            return Ok(());
        }
        let _ = writeln!(
            std::io::stderr(),
            "waiting {left}s: {previous} has run {version} for {ran}s and {env} requires {needs}s"
        );
        tokio::time::sleep(std::time::Duration::from_secs(left)).await;
    }
}

/// What a promotion into `args.to` would do now: the state of every
/// environment, read once, against the policy.
async fn decide(
    config: &PipelineConfig,
    store: &AnyStore,
    http: &Http,
    args: &PromoteArgs,
) -> Result<Result<Decision, Refusal>, Failure> {
    // The state of every environment, read once.
    let mut states = std::collections::BTreeMap::new();
    for e in &config.environments {
        let record = now_of(store, &e.name).await?;
        let ok = match (&record, live_url_of(e)) {
            (Some(_), Some((url, path))) => healthy(http, &url, &path).await,
            (Some(_), None) => true,
            _ => false,
        };
        states.insert(
            e.name.clone(),
            EnvNow {
                record,
                healthy: ok,
            },
        );
    }
    let gate = match &args.gate_json {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("{}: {e}", path.display())))?;
            let doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| usage(format!("{}: {e}", path.display())))?;
            doc["gate"]["passed"].as_bool().ok_or_else(|| {
                usage(format!(
                    "{}: no gate.passed (is it `pipeline-report gate --json` output?)",
                    path.display()
                ))
            })?
        }
        None => false,
    };
    let first = config
        .environments
        .first()
        .map(|e| e.name.clone())
        .unwrap_or_default();
    let first_history = store.history(&first, 200).await?;
    let gate_passed = |v: &str| {
        gate || first_history
            .iter()
            .any(|r| r.version == v && r.outcome == RecordOutcome::Live)
    };
    let artifact = match (&args.release_version, &args.sha256) {
        (Some(v), Some(d)) => Some(Candidate {
            version: v.clone(),
            sha256: d.to_string(),
        }),
        _ => None,
    };
    let state = |name: &str| {
        states.get(name).cloned().unwrap_or(EnvNow {
            record: None,
            healthy: false,
        })
    };
    Ok(plan(
        config,
        &args.to,
        args.release_version.as_deref(),
        artifact.as_ref(),
        &state,
        &gate_passed,
        pipeline_promotion::now(),
    ))
}

async fn history_digest(
    store: &AnyStore,
    env: &str,
    version: &str,
) -> Result<Option<String>, Failure> {
    Ok(store
        .history(env, 200)
        .await?
        .into_iter()
        .find(|r| r.version == version)
        .map(|r| r.sha256))
}

fn outcome_word(o: RecordOutcome) -> &'static str {
    match o {
        RecordOutcome::Live => "live",
        RecordOutcome::RolledBack => "rolled back",
        RecordOutcome::Failed => "failed",
        RecordOutcome::ManualRollback => "manual rollback",
    }
}

fn short(d: &str) -> &str {
    d.char_indices().nth(12).map_or(d, |(i, _)| &d[..i])
}

/// The table of environments.
pub fn status_table(rows: &[StatusRow]) -> String {
    let mut s = format!(
        "{:<12} {:<12} {:<14} {:<8} {:<9} {:<22} {}\n",
        "ENV", "VERSION", "SHA256", "SLOT", "HEALTH", "SINCE", "BY"
    );
    for row in rows {
        let name = &row.env;
        match &row.record {
            Some(r) => s.push_str(&format!(
                "{:<12} {:<12} {:<14} {:<8} {:<9} {:<22} {}\n",
                name,
                r.live_version.as_deref().unwrap_or("-"),
                r.live_sha256.as_deref().map_or("-", short),
                row.slot.as_deref().unwrap_or("-"),
                match row.healthy {
                    Some(true) => "healthy",
                    Some(false) => "DOWN",
                    None => "-",
                },
                r.live_since
                    .map_or_else(|| "-".to_owned(), pipeline_promotion::rfc3339),
                r.by
            )),
            None => s.push_str(&format!("{name:<12} {:<12}\n", "-")),
        }
    }
    s.trim_end().to_owned()
}
