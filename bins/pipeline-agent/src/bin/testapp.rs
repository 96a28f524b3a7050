//! `pipeline-testapp`: the smallest HTTP app the agent can run.
//!
//! It serves on `127.0.0.1:$PORT` and says which release it is:
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | `200 {"status":"ok","version":V,"slot":S,"env":E}` (`503`, `"status":"unhealthy"` with `TESTAPP_UNHEALTHY=1`) |
//! | `GET /version` | `V` as text |
//! | `GET /` | `{"version":V,"slot":S,"env":E,"pid":N}` |
//! | `GET /slow?ms=N` | the same after N ms (at most 60000) |
//! | `GET /status?code=N` | status N (100 to 599, not 1xx), body `N` |
//! | `POST /echo` | the request's body |
//! | `GET /crash` | `200 bye`, then the process exits with code 3 |
//!
//! Every answer carries `X-Pipeline-Version: V`. V, S and E come from
//! `PIPELINE_VERSION`, `PIPELINE_SLOT` and `PIPELINE_ENV` ("unknown" when
//! unset).
//!
//! Behaviour switches, from the environment or else from the file
//! `testapp.env` in the current directory (`KEY=VALUE` lines, `#` comments),
//! so that a release artifact can carry its own:
//! `TESTAPP_UNHEALTHY=1`, `TESTAPP_START_DELAY_MS=N` (sleep before binding),
//! `TESTAPP_CRASH_AFTER_MS=N` (exit with code 3 N ms after the start),
//! `TESTAPP_VERSION_OVERRIDE=V` (report V: an app serving stale code),
//! `TESTAPP_SIGTERM=exit` (see below).
//!
//! SIGTERM and SIGINT stop accepting connections, let the requests in flight
//! finish (at most 10 s) and exit 0. With `TESTAPP_SIGTERM=exit` the app
//! exits 0 at once instead, cutting whatever it was answering, as most
//! apps do (the default of many servers and runtimes).
//!
//! Exit codes: 0 stopped by a signal; 2 bad configuration (PORT missing or
//! invalid, a bad `testapp.env`, a port that cannot be bound); 3 crashed on
//! purpose (`/crash`, `TESTAPP_CRASH_AFTER_MS`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, mpsc, watch};

const NAME: &str = "pipeline-testapp";
const ENV_FILE: &str = "testapp.env";
const SLOW_CAP_MS: u64 = 60_000;
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// How long a connection accepted but silent is waited for at shutdown.
const FIRST_REQUEST_GRACE: Duration = Duration::from_millis(250);
const ECHO_LIMIT: usize = 16 << 20;
const CRASH_EXIT: i32 = 3;

fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{NAME}: error: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{NAME}: error: cannot start the runtime: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(serve(config))
}

#[derive(Debug)]
struct Config {
    port: u16,
    version: String,
    slot: String,
    env: String,
    unhealthy: bool,
    start_delay: Duration,
    crash_after: Option<Duration>,
    exit_on_sigterm: bool,
}

impl Config {
    fn load() -> Result<Self, String> {
        let port = match std::env::var("PORT") {
            Ok(port) => port
                .trim()
                .parse::<u16>()
                .map_err(|_| format!("PORT={port:?} is not a port number"))?,
            Err(_) => return Err("PORT is not set (the port to listen on)".to_owned()),
        };
        let file = match std::fs::read_to_string(ENV_FILE) {
            Ok(text) => parse_env_file(&text)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(err) => return Err(format!("cannot read {ENV_FILE}: {err}")),
        };
        let setting = |key: &str| std::env::var(key).ok().or_else(|| file.get(key).cloned());
        let millis = |key: &str| -> Result<Option<Duration>, String> {
            setting(key)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map(Duration::from_millis)
                        .map_err(|_| format!("{key}={v:?} is not a number of milliseconds"))
                })
                .transpose()
        };
        let unhealthy = match setting("TESTAPP_UNHEALTHY").as_deref().map(str::trim) {
            None | Some("" | "0" | "false") => false,
            Some("1" | "true") => true,
            Some(other) => return Err(format!("TESTAPP_UNHEALTHY={other:?} is not 0 or 1")),
        };
        let exit_on_sigterm = match setting("TESTAPP_SIGTERM").as_deref().map(str::trim) {
            None | Some("" | "drain") => false,
            Some("exit") => true,
            Some(other) => return Err(format!("TESTAPP_SIGTERM={other:?} is not drain or exit")),
        };
        let identity = |key: &str| std::env::var(key).unwrap_or_else(|_| "unknown".to_owned());
        let version =
            setting("TESTAPP_VERSION_OVERRIDE").unwrap_or_else(|| identity("PIPELINE_VERSION"));
        if HeaderValue::from_str(&version).is_err() {
            return Err(format!("version {version:?} cannot be sent in a header"));
        }
        Ok(Self {
            port,
            version,
            slot: identity("PIPELINE_SLOT"),
            env: identity("PIPELINE_ENV"),
            unhealthy,
            start_delay: millis("TESTAPP_START_DELAY_MS")?.unwrap_or_default(),
            crash_after: millis("TESTAPP_CRASH_AFTER_MS")?,
            exit_on_sigterm,
        })
    }
}

/// `KEY=VALUE` lines; blank lines and `#` comments are skipped, an optional
/// `export ` prefix and matching quotes around the value are removed.
fn parse_env_file(text: &str) -> Result<HashMap<String, String>, String> {
    let mut vars = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("{ENV_FILE}:{}: expected KEY=VALUE", n + 1));
        };
        let value = value.trim();
        let value = [('"', '"'), ('\'', '\'')]
            .iter()
            .find_map(|&(open, close)| value.strip_prefix(open).and_then(|v| v.strip_suffix(close)))
            .unwrap_or(value);
        vars.insert(key.trim().to_owned(), value.to_owned());
    }
    Ok(vars)
}

struct App {
    version: String,
    version_header: HeaderValue,
    slot: String,
    env: String,
    unhealthy: bool,
}

fn log_line(line: &str) {
    // Stdout may be a closed pipe: a log line is not worth a panic.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn serve(config: Config) -> ExitCode {
    let (mut sigterm, mut sigint) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(err), _) | (_, Err(err)) => {
            eprintln!("{NAME}: error: cannot handle signals: {err}");
            return ExitCode::from(2);
        }
    };
    if let Some(after) = config.crash_after {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            eprintln!("{NAME}: crashing after {} ms as asked", after.as_millis());
            std::process::exit(CRASH_EXIT);
        });
    }
    if !config.start_delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(config.start_delay) => {}
            _ = sigterm.recv() => return ExitCode::SUCCESS,
            _ = sigint.recv() => return ExitCode::SUCCESS,
        }
    }

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("{NAME}: error: cannot listen on {addr}: {err}");
            return ExitCode::from(2);
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    let version_header = match HeaderValue::from_str(&config.version) {
        Ok(v) => v,
        Err(_) => return ExitCode::from(2), // checked in Config::load
    };
    let app = Arc::new(App {
        version: config.version,
        version_header,
        slot: config.slot,
        env: config.env,
        unhealthy: config.unhealthy,
    });
    log_line(&format!(
        "{NAME} {} slot {} listening on {bound}",
        app.version, app.slot
    ));

    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    // Every connection task holds a clone of `alive`; once the accept loop
    // has dropped the original, `drained` yields `None` when the last
    // connection is done.
    let (alive, mut drained) = mpsc::channel::<()>(1);
    let (stop, stopping) = watch::channel(false);

    let signal_name = loop {
        let (stream, _) = tokio::select! {
            biased;
            _ = sigterm.recv() => {
                if config.exit_on_sigterm {
                    log_line(&format!(
                        "{NAME} {} slot {} exits at once on SIGTERM (TESTAPP_SIGTERM=exit)",
                        app.version, app.slot
                    ));
                    std::process::exit(0);
                }
                break "SIGTERM";
            }
            _ = sigint.recv() => break "SIGINT",
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: let others finish.
                    eprintln!("{NAME}: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let request_seen = Arc::new(Notify::new());
        let service = {
            let request_seen = Arc::clone(&request_seen);
            service_fn(move |req| {
                request_seen.notify_one();
                handle(Arc::clone(&app), req)
            })
        };
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let mut stopping = stopping.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            let mut conn = pin!(conn);
            let result = tokio::select! {
                biased;
                result = conn.as_mut() => result,
                _ = async { stopping.wait_for(|stop| *stop).await.is_ok() } => {
                    // hyper closes at once a connection that has not read
                    // anything yet, though a request may sit unread in the
                    // socket: give a connection that has not sent a request
                    // a moment to do so. Then the request in flight finishes
                    // and the connection closes.
                    tokio::select! {
                        biased;
                        result = conn.as_mut() => result,
                        () = request_seen.notified() => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                        () = tokio::time::sleep(FIRST_REQUEST_GRACE) => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                    }
                }
            };
            if let Err(err) = result {
                if !err.is_incomplete_message() && !err.is_canceled() {
                    eprintln!("{NAME}: connection error: {err}");
                }
            }
            drop(alive);
        });
    };

    drop(listener);
    stop.send_replace(true);
    drop(alive);
    let clean = tokio::time::timeout(DRAIN_LIMIT, drained.recv())
        .await
        .is_ok();
    log_line(&format!(
        "{NAME} {} slot {} stopped on {signal_name}{}",
        app.version,
        app.slot,
        if clean {
            ""
        } else {
            " (requests still in flight after 10 s were cut off)"
        }
    ));
    ExitCode::SUCCESS
}

type Reply = Response<Full<Bytes>>;

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let is_get = matches!(*req.method(), Method::GET | Method::HEAD);
    let mut reply = match (req.uri().path(), is_get) {
        ("/health", true) => {
            let (status, word) = if app.unhealthy {
                (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
            } else {
                (StatusCode::OK, "ok")
            };
            let doc = serde_json::json!({
                "status": word, "version": app.version, "slot": app.slot, "env": app.env,
            });
            json(status, &doc)
        }
        ("/version", true) => text(StatusCode::OK, app.version.clone()),
        ("/", true) => json(StatusCode::OK, &identity(&app)),
        ("/slow", true) => match slow_millis(req.uri().query()) {
            Some(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                json(StatusCode::OK, &identity(&app))
            }
            None => text(StatusCode::BAD_REQUEST, "expected /slow?ms=N\n".to_owned()),
        },
        ("/status", true) => {
            let code = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("code="))
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..=599).contains(c))
                .and_then(|c| StatusCode::from_u16(c).ok());
            match code {
                Some(code) => text(code, format!("{}\n", code.as_u16())),
                None => text(
                    StatusCode::BAD_REQUEST,
                    "expected /status?code=N (200 to 599)\n".to_owned(),
                ),
            }
        }
        ("/crash", true) => {
            tokio::spawn(async {
                // Time for the answer to leave.
                tokio::time::sleep(Duration::from_millis(100)).await;
                eprintln!("{NAME}: crashing as asked by /crash");
                std::process::exit(CRASH_EXIT);
            });
            text(StatusCode::OK, "bye".to_owned())
        }
        ("/echo", false) if req.method() == Method::POST => echo(req).await,
        _ => text(StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    reply
        .headers_mut()
        .insert("x-pipeline-version", app.version_header.clone());
    Ok(reply)
}

fn identity(app: &App) -> serde_json::Value {
    serde_json::json!({
        "version": app.version, "slot": app.slot, "env": app.env, "pid": std::process::id(),
    })
}

fn slow_millis(query: Option<&str>) -> Option<u64> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("ms="))
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(|ms| ms.min(SLOW_CAP_MS))
}

async fn echo(req: Request<Incoming>) -> Reply {
    let content_type = req.headers().get(CONTENT_TYPE).cloned();
    match Limited::new(req.into_body(), ECHO_LIMIT).collect().await {
        Ok(body) => {
            let mut reply = Response::new(Full::new(body.to_bytes()));
            let content_type = content_type
                .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
            reply.headers_mut().insert(CONTENT_TYPE, content_type);
            reply
        }
        Err(err) => text(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {err}\n"),
        ),
    }
}

fn json(status: StatusCode, doc: &serde_json::Value) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(doc.to_string())));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

fn text(status: StatusCode, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reply
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines() {
        let vars = parse_env_file(
            "# a comment\n\nTESTAPP_UNHEALTHY=1\nexport A = \"x y\"\nB='z'\nC=a=b\n",
        )
        .unwrap();
        assert_eq!(vars["TESTAPP_UNHEALTHY"], "1");
        assert_eq!(vars["A"], "x y");
        assert_eq!(vars["B"], "z");
        assert_eq!(vars["C"], "a=b");
        assert_eq!(
            parse_env_file("# ok\nnot a pair\n").unwrap_err(),
            "testapp.env:2: expected KEY=VALUE"
        );
    }

    #[test]
    fn slow_query() {
        assert_eq!(slow_millis(Some("ms=250")), Some(250));
        assert_eq!(slow_millis(Some("x=1&ms=7")), Some(7));
        assert_eq!(slow_millis(Some("ms=99999999")), Some(SLOW_CAP_MS));
        assert_eq!(slow_millis(Some("ms=-1")), None);
        assert_eq!(slow_millis(None), None);
    }
}
