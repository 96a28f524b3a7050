//! HTTP load and blue/green switch timing, for the agent's benchmarks.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use pipeline_bench::load::{self, LoadError, LoadOptions, SwitchOptions, Target, Token};

const EXIT_CODES: &str = "Exit codes: 0 measured; 1 the measurement said no (load with \
--fail-on-error: a request failed, answered outside 2xx or without X-Pipeline-Version; \
switch-latency: the swap was refused, the front already served the version or never did \
within --timeout); 2 bad arguments or token file; 3 the front or the agent could not be \
reached before the measurement.";

/// Load an HTTP endpoint, or time a blue/green switch.
///
/// Prints one JSON document on stdout and a one-line summary on stderr.
#[derive(Debug, Parser)]
#[command(version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// GET a URL as fast as possible from keep-alive connections for a while.
    ///
    /// JSON: requests (sent), errors (no answer), non_2xx, rps (answered per
    /// second), p50_ms, p90_ms, p99_ms, max_ms (of the answered requests),
    /// concurrency, elapsed_s, first_error; with --expect-version-header also
    /// missing_version_header and versions (answers per X-Pipeline-Version).
    Load(LoadArgs),
    /// POST a swap to the agent and poll the front until it answers the new
    /// version.
    ///
    /// JSON: switch_ms (from just before the swap request to the first
    /// answer of the new version), swap_call_ms, polls, poll_errors,
    /// stale_after_swap (old answers to polls sent after the swap answered),
    /// first_poll_error, swap (the agent's answer).
    SwitchLatency(SwitchArgs),
    /// Relay TCP bytes from LISTEN to 127.0.0.1:PORT, one upstream
    /// connection per client connection, on one thread, until killed.
    ///
    /// The floor of any userspace proxy: no HTTP parsing, no routing, only
    /// the copying. Measured beside the agent's front, it says how much of
    /// the front's cost is the proxying itself.
    Relay(RelayArgs),
}

#[derive(Debug, Args)]
struct RelayArgs {
    /// Where to listen (`127.0.0.1:PORT`).
    #[arg(long, value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// The port on loopback to relay to.
    #[arg(long, value_name = "PORT")]
    to: u16,
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// The URL to GET (http:// only).
    #[arg(long, value_name = "URL")]
    url: String,
    /// Seconds to measure.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    duration: Duration,
    /// Workers, each with its own keep-alive connection.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Latency run: one worker (--concurrency 1), so the median is the
    /// latency of a request alone.
    #[arg(long, conflicts_with = "concurrency")]
    latency_run: bool,
    /// Seconds of load before measuring, not counted.
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = seconds)]
    warmup: Duration,
    /// Seconds after which a request counts as an error.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    timeout: Duration,
    /// Count the answers per X-Pipeline-Version, and those without it.
    #[arg(long)]
    expect_version_header: bool,
    /// Exit 1 unless every request was answered 2xx (and with the version
    /// header, with --expect-version-header).
    #[arg(long)]
    fail_on_error: bool,
    /// Runtime worker threads [default: the cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

#[derive(Debug, Args)]
struct SwitchArgs {
    /// The agent's swap URL: http://ADDR/v1/envs/ENV/swap.
    #[arg(long, value_name = "URL")]
    swap_url: String,
    /// A file holding the agent's token (DIR/token).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// The agent's token.
    #[arg(
        long,
        env = "PIPELINE_AGENT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// What to poll: the front's /version, answering the version as text.
    #[arg(long, value_name = "URL")]
    front_url: String,
    /// The version the swap brings live (sent as expect_version too).
    #[arg(long, value_name = "VERSION")]
    expect_version: String,
    /// Milliseconds between two polls.
    #[arg(long, value_name = "MS", default_value_t = 1)]
    interval_ms: u64,
    /// A new connection for every poll (default: one kept alive).
    #[arg(long)]
    fresh_connections: bool,
    /// Seconds to wait for the new version, and for any request.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    timeout: Duration,
}

fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a number of seconds"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("http-bench: error: {err:#}");
            let code = match err.downcast_ref::<LoadError>() {
                Some(LoadError::BadUrl { .. }) | None => 2,
                Some(LoadError::Connect { .. } | LoadError::Http { .. }) => 3,
                Some(_) => 1,
            };
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Load(args) => load(args),
        Command::SwitchLatency(args) => switch(args),
        Command::Relay(args) => relay(&args),
    }
}

fn relay(args: &RelayArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let to = args.to;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        eprintln!("http-bench: relaying {} to 127.0.0.1:{to}", args.listen);
        loop {
            let (mut client, _) = listener.accept().await.context("accept")?;
            tokio::spawn(async move {
                let _ = client.set_nodelay(true);
                let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await
                else {
                    return;
                };
                let _ = upstream.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    })
}

fn load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let target = Target::parse(&args.url)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(usize::from(threads));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let concurrency = if args.latency_run {
        1
    } else {
        usize::from(args.concurrency)
    };
    let report = runtime.block_on(load::run_load(LoadOptions {
        target,
        concurrency,
        duration: args.duration,
        warmup: args.warmup,
        timeout: args.timeout,
        expect_version_header: args.expect_version_header,
    }));
    println!("{}", report.to_json(args.expect_version_header));
    eprintln!(
        "http-bench: {} requests in {:.1} s ({:.0}/s) from {} connection(s): {} errors, {} non-2xx; p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms{}",
        report.requests,
        report.elapsed.as_secs_f64(),
        report.rps(),
        report.concurrency,
        report.errors,
        report.non_2xx,
        f64::from(report.latency.p50_us) / 1000.0,
        f64::from(report.latency.p99_us) / 1000.0,
        f64::from(report.latency.max_us) / 1000.0,
        report
            .first_error
            .as_deref()
            .map(|e| format!("; first error: {e}"))
            .unwrap_or_default()
    );
    Ok(if args.fail_on_error && !report.all_ok() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn switch(args: SwitchArgs) -> anyhow::Result<ExitCode> {
    let token = match (&args.token_file, &args.token) {
        (Some(path), _) => Token::new(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token from {}", path.display()))?,
        ),
        (None, Some(token)) => Token::new(token),
        (None, None) => anyhow::bail!("no token: give --token-file or PIPELINE_AGENT_TOKEN"),
    };
    let opts = SwitchOptions {
        swap: Target::parse(&args.swap_url)?,
        token,
        front: Target::parse(&args.front_url)?,
        expect_version: args.expect_version,
        interval: Duration::from_millis(args.interval_ms),
        fresh_connections: args.fresh_connections,
        timeout: args.timeout,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let report = runtime.block_on(load::switch_latency(&opts))?;
    println!("{}", report.to_json());
    eprintln!(
        "http-bench: {} answered {} {:.3} ms after the swap was sent (the swap call took {:.3} ms; {} polls, {} errors, {} stale after the swap)",
        opts.front.url(),
        opts.expect_version,
        report.switch.as_secs_f64() * 1000.0,
        report.swap_call.as_secs_f64() * 1000.0,
        report.polls,
        report.poll_errors,
        report.stale_after_swap
    );
    Ok(ExitCode::SUCCESS)
}
