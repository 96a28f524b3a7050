//! The `pipeline-agent` command line: `serve` runs the agent, `status` asks
//! a running one.
//!
//! Exit codes: 0 success (serve: stopped by SIGTERM or SIGINT); 1 unused;
//! 2 usage, configuration or input error (a non-loopback admin address, a
//! corrupt state file, a state directory or token that is not the agent's
//! user's alone, another agent on the same state directory, no agent to
//! ask); 3 the agent did not answer.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use pipeline_cli::{Exit, Failure, OrUsage as _, Session, error_chain};
use pipeline_contracts::agent::{AgentInfo, Color, EnvList};
use pipeline_host::conn::ConnLimits;
use pipeline_host::{Agent, AgentConfig};

/// File descriptors kept for what is not a connection: the state, logs,
/// releases being unpacked, health probes, the apps' output.
const RESERVED_FDS: u64 = 256;

/// The local host agent: blue/green slots on one machine behind a stable
/// front address, switched with zero failed requests. Linux and macOS only:
/// apps run in Unix process groups and are stopped with signals, so there
/// is no Windows build (from Windows, deploy to Azure App Service or Cloud
/// Run).
#[derive(Debug, Parser)]
#[command(name = "pipeline-agent", version, after_help = after_help())]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: pipeline_cli::Verbosity,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent: the admin API on loopback, the fronts, the apps.
    #[command(after_help = help_with(&["pipeline-agent serve --state-dir /var/lib/pipeline-agent", "pipeline-agent serve --state-dir ~/.local/state/pipeline-agent --listen 127.0.0.1:0 --threads 1"]))]
    Serve(ServeArgs),
    /// Show every environment of a running agent.
    #[command(after_help = help_with(&["pipeline-agent status --state-dir /var/lib/pipeline-agent", "pipeline-agent status --state-dir /var/lib/pipeline-agent --json"]))]
    Status(StatusArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The state directory (state, token, releases, logs).
    #[arg(long, env = "PIPELINE_AGENT_STATE_DIR", value_name = "DIR")]
    state_dir: PathBuf,
    /// The admin API's address; loopback only (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:7780", value_name = "ADDR")]
    listen: SocketAddr,
    /// Seconds an app has after SIGTERM before SIGKILL.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    stop_grace: u64,
    /// Stop the apps too when the agent stops (by default they keep
    /// running and the next start adopts them).
    #[arg(long)]
    stop_apps_on_exit: bool,
    /// The most connections one front holds; at the cap the oldest idle
    /// one is closed for a new one. Default: what the open-file limit
    /// allows (two descriptors a connection, 256 kept for the rest).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections_per_front: Option<u64>,
    /// The most connections the admin API holds (the oldest idle one is
    /// closed for a new one).
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_admin_connections: u64,
    /// Seconds a client has to send a request's head once it began.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout: u64,
    /// Seconds a connection may sit idle, before its first request or
    /// between two.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// The most bytes a release may unpack to.
    #[arg(long, default_value_t = 4 << 30, value_name = "BYTES")]
    max_release_bytes: u64,
    /// Threads serving the fronts and the admin API [default: one per core].
    /// 1 runs everything on one thread, as nginx runs a worker.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// The most files and directories a release may hold.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    max_release_entries: usize,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// The state directory of the agent to ask.
    #[arg(long, env = "PIPELINE_AGENT_STATE_DIR", value_name = "DIR")]
    state_dir: PathBuf,
    /// Print one JSON document on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

fn after_help() -> String {
    help_with(&[
        "pipeline-agent serve --state-dir /var/lib/pipeline-agent",
        "pipeline-agent status --state-dir /var/lib/pipeline-agent --json",
    ])
}

/// The help's end for a command: its `examples`, then the exit codes.
fn help_with(examples: &[&str]) -> String {
    pipeline_cli::after_help(
        "",
        examples,
        &[
            (
                Exit::Usage,
                "a non-loopback admin address, a corrupt state file, a state directory or \
                 token that is not the agent's user's alone, another agent on the same state \
                 directory, no agent to ask",
            ),
            (Exit::External, "the agent did not answer"),
        ],
    )
}

/// Runs the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli: Cli = match pipeline_cli::parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    // The agent reads no secret from its environment: its token is a file.
    let session = Session::start(cli.verbosity.verbose.max(1), &[]);
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Status(args) => status(&args),
    };
    session.finish(result)
}

/// A failure of the agent's own set-up (exit 2), with its causes.
fn usage(e: &dyn std::error::Error) -> Failure {
    Failure::usage(error_chain(e))
}

/// The machine failed the agent (exit 3).
fn external(message: impl Into<String>) -> Failure {
    Failure::new(Exit::External, message)
}

/// Raises the soft limit of open files to the hard one (the default soft
/// limit, 1024, is what 500 connections use); returns the limit now.
fn raise_open_files() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum) {
        if current < maximum {
            let raised = Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => {
                    tracing::info!("open files: soft limit raised from {current} to {maximum}");
                    return maximum;
                }
                Err(e) => {
                    tracing::warn!("open files: cannot raise the soft limit {current}: {e}");
                }
            }
        }
        return current;
    }
    limit.current.unwrap_or(u64::MAX)
}

fn serve(args: &ServeArgs) -> Result<Exit, Failure> {
    if !args.listen.ip().is_loopback() {
        return Err(Failure::usage(format!(
            "--listen {}: the admin API listens on loopback only",
            args.listen
        )));
    }
    pipeline_host::trust::prepare_state_dir(&args.state_dir).map_err(|e| usage(&e))?;
    let _lock = lock_state_dir(&args.state_dir)?;
    let token =
        pipeline_host::trust::load_or_create_token(&args.state_dir).map_err(|e| usage(&e))?;
    let open_files = raise_open_files();
    let fronts = open_files
        .saturating_sub(RESERVED_FDS + args.max_admin_connections)
        .max(32)
        / 2;
    let per_front = args.max_connections_per_front.unwrap_or(fronts);
    if per_front > fronts {
        tracing::warn!(
            "--max-connections-per-front {per_front}: more than the open-file limit \
             ({open_files}) leaves room for ({fronts})"
        );
    }
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let limits = ConnLimits {
        header_timeout: std::time::Duration::from_secs(args.header_timeout),
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
    };
    tracing::info!(
        "connections: at most {per_front} per front, {} over all fronts, {} to the admin API \
         (open files: {open_files})",
        per_front.max(fronts),
        args.max_admin_connections
    );
    let mut builder = match args.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(to_usize(n));
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| external(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let mut cfg = AgentConfig::new(args.state_dir.clone());
        cfg.stop_grace = std::time::Duration::from_secs(args.stop_grace);
        cfg.front_connections = to_usize(per_front);
        cfg.fronts_connections = to_usize(per_front.max(fronts));
        cfg.front_limits = limits;
        cfg.unpack.max_total_bytes = args.max_release_bytes;
        cfg.unpack.max_entries = args.max_release_entries;
        let agent = Agent::start(cfg).await.map_err(|e| usage(&e))?;
        let listener = pipeline_host::conn::listen(args.listen)
            .or_usage_with(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr().or_usage("no local address")?;
        let info = AgentInfo {
            address,
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let info = serde_json::to_string(&info).or_usage("agent.json")?;
        pipeline_host::state::write_atomic(
            &args.state_dir.join("agent.json"),
            format!("{info}\n").as_bytes(),
            0o644,
        )
        .map_err(|e| usage(&e))?;
        tracing::info!(
            "pipeline-agent: admin API on http://{address}, state in {}",
            args.state_dir.display()
        );
        let admin =
            agent
                .tracker()
                .group("the admin API", to_usize(args.max_admin_connections), false);
        let server = tokio::spawn(pipeline_host::api::serve(
            listener,
            agent.clone(),
            token,
            Arc::clone(agent.tracker()),
            admin,
            limits,
        ));
        wait_for_signal().await;
        server.abort();
        if args.stop_apps_on_exit {
            tracing::info!("pipeline-agent: stopping, and the apps with it (--stop-apps-on-exit)");
            agent.stop_all().await;
            tracing::info!("pipeline-agent: the apps are stopped");
        } else {
            tracing::info!(
                "pipeline-agent: stopping; the apps keep running and are adopted at the next start"
            );
        }
        Ok(Exit::Success)
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, run until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Holds an exclusive lock on `dir/agent.lock` for as long as the agent
/// runs: two agents on one state directory would fight over its apps.
fn lock_state_dir(dir: &Path) -> Result<std::fs::File, Failure> {
    let path = dir.join("agent.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .or_usage_with(|| format!("cannot open {}", path.display()))?;
    try_lock(&file).map_err(|_| {
        let other = std::fs::read_to_string(dir.join("agent.json")).unwrap_or_default();
        Failure::usage(format!(
            "another agent runs on {} ({})",
            dir.display(),
            other.trim()
        ))
    })?;
    Ok(file)
}

fn try_lock(file: &std::fs::File) -> std::io::Result<()> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(std::io::Error::from)
}

fn status(args: &StatusArgs) -> Result<Exit, Failure> {
    let info_path = args.state_dir.join("agent.json");
    let info = std::fs::read_to_string(&info_path).or_usage_with(|| {
        format!(
            "no agent in {} ({}; is one running with this --state-dir?)",
            args.state_dir.display(),
            info_path.display()
        )
    })?;
    let info: AgentInfo = serde_json::from_str(&info).or_usage(info_path.display())?;
    let token_path = args.state_dir.join("token");
    let token = std::fs::read_to_string(&token_path).or_usage(token_path.display())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| external(format!("cannot start the runtime: {e}")))?;
    let address = info.address;
    let body = runtime
        .block_on(get(address, "/v1/envs", token.trim()))
        .map_err(|e| external(format!("the agent at {address} did not answer: {e}")))?;
    let doc: EnvList = serde_json::from_slice(&body)
        .map_err(|e| external(format!("the agent at {address} answered unreadably: {e}")))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        // The agent's own document, as it sent it (checked above).
        let _ = writeln!(out, "{}", String::from_utf8_lossy(&body).trim_end());
        return Ok(Exit::Success);
    }
    for env in &doc.envs {
        let live = env.live.map_or("-", Color::as_str);
        let _ = writeln!(out, "{}  front {}  live {live}", env.name, env.front);
        for (color, s) in &env.slots {
            let _ = writeln!(
                out,
                "  {:<6} {:<8} {:<14} {:<13} {:<8} since {}{}",
                color.as_str(),
                s.state,
                s.version.as_deref().unwrap_or("-"),
                s.sha256
                    .as_deref()
                    .map_or("-", |d| d.get(..12).unwrap_or(d)),
                if s.healthy { "healthy" } else { "-" },
                s.since.as_deref().unwrap_or("?"),
                s.error
                    .as_deref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default(),
            );
        }
    }
    Ok(Exit::Success)
}

async fn get(
    address: SocketAddr,
    path: &str,
    token: &str,
) -> Result<bytes::Bytes, Box<dyn std::error::Error + Send + Sync>> {
    use http_body_util::BodyExt as _;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let req = hyper::Request::get(format!("http://{address}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::new())?;
    let resp =
        tokio::time::timeout(std::time::Duration::from_secs(10), client.request(req)).await??;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)).into());
    }
    Ok(body)
}
