//! `pipeline-deploy local deploy|swap|rollback|status`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use pipeline_ci::{CiSink, Env, Secret};
use pipeline_cli::http::StderrProgress;
use pipeline_http::Endpoint;
use pipeline_targets::Release;
use pipeline_targets::local::{AgentRef, LocalTarget};

use crate::Exit;
use crate::Failure;
use crate::targets::{Action, Mode, act};

fn local_help() -> String {
    pipeline_cli::after_help(
        "The agent is found from --agent-url with PIPELINE_AGENT_TOKEN, or from its state \
         directory (--state-dir, PIPELINE_AGENT_STATE_DIR), where it writes agent.json and its \
         token.",
        &[
            "pipeline-deploy local deploy --env qa --artifact dist/app.zip --sha256 <hex> --version 1.4.0 \\\n      --state-dir ~/.local/state/pipeline-agent",
            "pipeline-deploy local swap --env qa --version 1.4.0",
            "pipeline-deploy local rollback --env qa",
            "pipeline-deploy local status --env qa --json",
        ],
        &[
            (
                Exit::Refused,
                "here: the release never became healthy, another operation runs in the \
                 environment, the idle slot holds another version, nothing to roll back to",
            ),
            (
                Exit::Usage,
                "here: no agent, a refused token, an unknown environment, an artifact whose \
                 SHA-256 differs",
            ),
            (
                Exit::External,
                "here: the agent did not answer after retries",
            ),
        ],
    )
}

/// The local host agent.
#[derive(Debug, Subcommand)]
pub(crate) enum LocalCommand {
    /// Deploy the artifact into the environment's idle slot and wait until it is healthy.
    #[command(after_help = local_help())]
    Deploy(DeployArgs),
    /// Switch traffic to the idle slot.
    #[command(after_help = local_help())]
    Swap(SwapArgs),
    /// Bring back the previous release (an instant switch back while it is warm).
    #[command(after_help = local_help())]
    Rollback(CommonArgs),
    /// Show both slots of the environment.
    #[command(after_help = local_help())]
    Status(CommonArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// The environment.
    #[arg(long, value_name = "ENV")]
    env: String,
    /// The agent's admin API [default: from the state directory].
    #[arg(long, env = "PIPELINE_AGENT_URL", value_name = "URL")]
    agent_url: Option<String>,
    /// The agent's state directory (for its address and token).
    #[arg(long, env = "PIPELINE_AGENT_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The deadline of the whole operation, in seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
    /// Print one JSON document on stdout instead of the text.
    #[arg(long)]
    json: bool,
    /// Say what a deploy, swap or rollback would do and change nothing:
    /// the artifact is checked against its digest and the target's status
    /// read, nothing else (exit 1 when the status shows it would be refused).
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The artifact (a zip from `pipeline-deploy package`).
    #[arg(long, value_name = "FILE")]
    artifact: PathBuf,
    /// The SHA-256 the artifact must have.
    #[arg(long, value_name = "HEX")]
    sha256: pipeline_artifact::Sha256Digest,
    /// The version being deployed.
    #[arg(long = "version", value_name = "VERSION")]
    release_version: String,
    /// Also check that this health path of the new slot reports the
    /// version (JSON `version` or X-Pipeline-Version), as the cloud targets'
    /// `--health-path` does (`--version-path` is the older spelling).
    #[arg(long = "health-path", alias = "version-path", value_name = "PATH")]
    version_path: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SwapArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Switch only if the idle slot holds this version (a no-op if it is live already).
    #[arg(long = "version", value_name = "VERSION")]
    release_version: Option<String>,
}

fn target(
    args: &CommonArgs,
    env: &Env,
    progress: Arc<StderrProgress>,
) -> Result<LocalTarget, Failure> {
    let agent = match (&args.agent_url, &args.state_dir) {
        (Some(url), _) => {
            let url = Endpoint::parse("--agent-url/PIPELINE_AGENT_URL", url)
                .map_err(|e| Failure::usage(e.to_string()))?;
            let token = env
                .get("PIPELINE_AGENT_TOKEN")
                .filter(|t| !t.trim().is_empty())
                .map(|t| Secret::new(t.trim().to_owned()));
            let token = match (token, &args.state_dir) {
                (Some(t), _) => t,
                (None, Some(dir)) => AgentRef::from_state_dir(dir)?.token,
                (None, None) => {
                    return Err(Failure::usage(
                        "--agent-url needs the agent's token: set PIPELINE_AGENT_TOKEN or pass --state-dir",
                    ));
                }
            };
            AgentRef { url, token }
        }
        (None, Some(dir)) => AgentRef::from_state_dir(dir)?,
        (None, None) => {
            return Err(Failure::usage(
                "no agent: pass --state-dir (or PIPELINE_AGENT_STATE_DIR), or --agent-url with PIPELINE_AGENT_TOKEN",
            ));
        }
    };
    let http = pipeline_cli::http::http("pipeline-deploy", progress)
        .map_err(|e| Failure::usage(format!("cannot set up the HTTP client: {e}")))?;
    Ok(LocalTarget::new(http, agent, &args.env).with_timeout(Duration::from_secs(args.timeout)))
}

pub(crate) async fn dispatch(
    cmd: LocalCommand,
    env: &Env,
    progress: Arc<StderrProgress>,
) -> Result<Exit, Failure> {
    let sink = CiSink::from_env(env);
    let (args, action, t) = match cmd {
        LocalCommand::Deploy(args) => {
            let t = target(&args.common, env, Arc::clone(&progress))?
                .with_version_check(args.version_path.clone());
            let release = Release {
                version: args.release_version.clone(),
                sha256: args.sha256,
                artifact: args.artifact.clone(),
            };
            (args.common, Action::Deploy(release), t)
        }
        LocalCommand::Swap(args) => {
            let t = target(&args.common, env, Arc::clone(&progress))?;
            (args.common, Action::Swap(args.release_version), t)
        }
        LocalCommand::Rollback(args) => {
            let t = target(&args, env, Arc::clone(&progress))?;
            (args, Action::Rollback, t)
        }
        LocalCommand::Status(args) => {
            let t = target(&args, env, Arc::clone(&progress))?;
            (args, Action::Status, t)
        }
    };
    let names = [("env", args.env.as_str())];
    act(
        &t,
        action,
        Mode {
            json: args.json,
            dry_run: args.dry_run,
        },
        &sink,
        &progress,
        "local",
        &names,
    )
    .await
}
