//! The `pipeline-agent` command line: `serve` runs the agent, `status` asks
//! a running one.
//!
//! Exit codes: 0 success (serve: stopped by SIGTERM or SIGINT); 1 unused;
//! 2 usage, configuration or input error (a non-loopback admin address, a
//! corrupt state file, another agent on the same state directory, no agent
//! to ask); 3 the agent did not answer.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use pipeline_cli::Exit;
use pipeline_host::{Agent, AgentConfig};

const EXIT_CODES: &str = "Exit codes: 0 success; 2 usage, configuration or input error \
(a non-loopback admin address, a corrupt state file, another agent on the same state \
directory, no agent to ask); 3 the agent did not answer.";

/// The local host agent: blue/green slots on one machine behind a stable
/// front address, switched with zero failed requests. Linux and macOS only:
/// apps run in Unix process groups and are stopped with signals, so there
/// is no Windows build (from Windows, deploy to Azure App Service or Cloud
/// Run).
#[derive(Debug, Parser)]
#[command(name = "pipeline-agent", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: pipeline_cli::Verbosity,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent: the admin API on loopback, the fronts, the apps.
    Serve(ServeArgs),
    /// Show every environment of a running agent.
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

/// Runs the command line and returns its exit code.
pub fn main() -> ExitCode {
    let cli: Cli = match pipeline_cli::parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    pipeline_cli::init_logging(cli.verbosity.verbose.max(1));
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Status(args) => status(&args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(Failure(exit, e)) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            exit.into()
        }
    }
}

struct Failure(Exit, anyhow::Error);

fn usage(e: anyhow::Error) -> Failure {
    Failure(Exit::Usage, e)
}

fn serve(args: &ServeArgs) -> Result<Exit, Failure> {
    if !args.listen.ip().is_loopback() {
        return Err(usage(anyhow::anyhow!(
            "--listen {}: the admin API listens on loopback only",
            args.listen
        )));
    }
    create_private_dir(&args.state_dir).map_err(usage)?;
    let _lock = lock_state_dir(&args.state_dir).map_err(usage)?;
    let token = pipeline_host::api::load_or_create_token(&args.state_dir)
        .with_context(|| format!("{}/token", args.state_dir.display()))
        .map_err(usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
        .map_err(|e| Failure(Exit::External, e))?;
    runtime.block_on(async {
        let mut cfg = AgentConfig::new(args.state_dir.clone());
        cfg.stop_grace = std::time::Duration::from_secs(args.stop_grace);
        let agent = Agent::start(cfg).await.map_err(|e| usage(e.into()))?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))
            .map_err(usage)?;
        let address = listener
            .local_addr()
            .context("no local address")
            .map_err(usage)?;
        let info = serde_json::json!({
            "address": address.to_string(),
            "pid": std::process::id(),
            "version": env!("CARGO_PKG_VERSION"),
        });
        pipeline_host::state::write_atomic(
            &args.state_dir.join("agent.json"),
            format!("{info}\n").as_bytes(),
            0o644,
        )
        .map_err(|e| usage(e.into()))?;
        tracing::info!(
            "pipeline-agent: admin API on http://{address}, state in {}",
            args.state_dir.display()
        );
        let server = tokio::spawn(pipeline_host::api::serve(listener, agent.clone(), token));
        wait_for_signal().await;
        server.abort();
        if args.stop_apps_on_exit {
            tracing::info!("pipeline-agent: stopping the apps");
            agent.stop_all().await;
        }
        tracing::info!(
            "pipeline-agent: stopping; the apps keep running and are adopted at the next start"
        );
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

/// Creates the state directory owner-only (its token, logs and releases
/// are nobody else's business), and refuses one others can write to.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let meta = std::fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    anyhow::ensure!(meta.is_dir(), "{} is not a directory", dir.display());
    anyhow::ensure!(
        meta.mode() & 0o022 == 0,
        "{} can be written by others (mode {:o}); the agent keeps its token there",
        dir.display(),
        meta.mode() & 0o777
    );
    Ok(())
}

/// Holds an exclusive lock on `dir/agent.lock` for as long as the agent
/// runs: two agents on one state directory would fight over its apps.
fn lock_state_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("agent.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    try_lock(&file).map_err(|_| {
        let other = std::fs::read_to_string(dir.join("agent.json")).unwrap_or_default();
        anyhow::anyhow!("another agent runs on {} ({})", dir.display(), other.trim())
    })?;
    Ok(file)
}

fn try_lock(file: &std::fs::File) -> std::io::Result<()> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(std::io::Error::from)
}

fn status(args: &StatusArgs) -> Result<Exit, Failure> {
    let info = std::fs::read_to_string(args.state_dir.join("agent.json"))
        .with_context(|| format!("no agent in {} (agent.json)", args.state_dir.display()))
        .map_err(usage)?;
    let info: serde_json::Value = serde_json::from_str(&info)
        .with_context(|| format!("{}/agent.json", args.state_dir.display()))
        .map_err(usage)?;
    let address = info["address"].as_str().unwrap_or_default().to_owned();
    let token = std::fs::read_to_string(args.state_dir.join("token"))
        .with_context(|| format!("{}/token", args.state_dir.display()))
        .map_err(usage)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
        .map_err(|e| Failure(Exit::External, e))?;
    let body = runtime
        .block_on(get(&address, "/v1/envs", token.trim()))
        .with_context(|| format!("the agent at {address} did not answer"))
        .map_err(|e| Failure(Exit::External, e))?;
    let doc: serde_json::Value = serde_json::from_slice(&body)
        .context("the agent's answer is not JSON")
        .map_err(|e| Failure(Exit::External, e))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(out, "{doc}");
        return Ok(Exit::Success);
    }
    for env in doc["envs"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{}  front {}  live {}",
            env["name"].as_str().unwrap_or("?"),
            env["front"].as_str().unwrap_or("?"),
            env["live"].as_str().unwrap_or("-")
        );
        for color in ["blue", "green"] {
            let s = &env["slots"][color];
            let _ = writeln!(
                out,
                "  {color:<6} {:<8} {:<14} {:<13} {:<8} since {}{}",
                s["state"].as_str().unwrap_or("?"),
                s["version"].as_str().unwrap_or("-"),
                s["sha256"]
                    .as_str()
                    .map_or("-", |d| d.get(..12).unwrap_or(d)),
                if s["healthy"].as_bool() == Some(true) {
                    "healthy"
                } else {
                    "-"
                },
                s["since"].as_str().unwrap_or("?"),
                s["error"]
                    .as_str()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default(),
            );
        }
    }
    Ok(Exit::Success)
}

async fn get(address: &str, path: &str, token: &str) -> anyhow::Result<bytes::Bytes> {
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
    anyhow::ensure!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(body)
}
