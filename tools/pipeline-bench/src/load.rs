//! An HTTP/1.1 load generator and a blue/green switch timer, on hyper's client
//! connections: plain `http://`, meant for loopback.
//!
//! - [`run_load`]: `concurrency` workers, each with one keep-alive connection,
//!   send `GET`s back to back for a duration; every latency is kept (in
//!   microseconds) and summarised with [`percentile`].
//! - [`switch_latency`]: posts a swap to the agent and polls the front until
//!   it answers the new version; the time between is the switch latency.
//!
//! The functions are async and need a Tokio runtime with the `net` and
//! `time` drivers; the binary `http-bench` builds one.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The header in which the app names its version.
pub const VERSION_HEADER: &str = "x-pipeline-version";

/// What can stop a measurement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The URL is not `http://HOST:PORT/PATH`.
    #[error("bad url {url:?}: {reason}")]
    BadUrl {
        /// As given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No TCP connection.
    #[error("cannot connect to {authority}")]
    Connect {
        /// `host:port`.
        authority: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("{method} {url} failed")]
    Http {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: String,
        /// Why.
        #[source]
        source: hyper::Error,
    },
    /// No answer in time.
    #[error("{what}: no answer after {after:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
    },
    /// An answer with a status outside 200-299.
    #[error("{method} {url} answered {status}: {body}")]
    Status {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: String,
        /// The answer's status.
        status: StatusCode,
        /// The answer's body.
        body: String,
    },
    /// The front serves the version to switch to before the swap.
    #[error("{url} already answers {version} before the swap")]
    AlreadyServing {
        /// The front URL.
        url: String,
        /// The version.
        version: String,
    },
}

/// A parsed `http://HOST:PORT/PATH?QUERY` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: String,
    authority: String,
    path_and_query: String,
}

impl Target {
    /// Parses `url`; the scheme must be `http`, the port is 80 if not given.
    ///
    /// # Errors
    ///
    /// [`LoadError::BadUrl`].
    pub fn parse(url: &str) -> Result<Self, LoadError> {
        let bad = |reason| LoadError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("only http:// is supported"));
        }
        let authority = uri.authority().ok_or(bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user information is not supported"));
        }
        let port = authority.port_u16().unwrap_or(80);
        let host = authority.host();
        let authority = if authority.port().is_some() {
            authority.as_str().to_owned()
        } else {
            format!("{host}:{port}")
        };
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        Ok(Self {
            url: url.to_owned(),
            authority,
            path_and_query,
        })
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The path and query, `/` at least.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    fn request(&self, method: Method, body: Bytes) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        // Parsed from a valid URI: these cannot fail.
        if let Ok(uri) = self.path_and_query.parse() {
            *req.uri_mut() = uri;
        }
        if let Ok(host) = self.authority.parse() {
            req.headers_mut().insert(HOST, host);
        }
        req
    }
}

/// A bearer token; `Debug` and `Display` print `***`.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// Wraps `token`, surrounding whitespace removed.
    pub fn new(token: &str) -> Self {
        Self(token.trim().to_owned())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The `p`-th percentile (0 to 100) of `sorted` (ascending), by nearest
/// rank: the smallest sample with at least `p` % of the samples at or below
/// it. `None` when there are no samples.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let p = p.clamp(0.0, 100.0);
    // Ranks are counted from 1. The tolerance keeps a product that binary
    // floating point puts a hair above an integer (99.9 % of 1000 is
    // 999.0000000000001) on that integer.
    let exact = p * n as f64 / 100.0;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = (exact - 1e-9).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Median.
    pub p50_us: u32,
    /// 90th percentile.
    pub p90_us: u32,
    /// 99th percentile.
    pub p99_us: u32,
    /// Slowest.
    pub max_us: u32,
}

impl Latency {
    /// Sorts `samples` and summarises them (all zero when empty).
    pub fn from_samples(samples: &mut [u32]) -> Self {
        samples.sort_unstable();
        let at = |p| percentile(samples, p).unwrap_or(0);
        Self {
            p50_us: at(50.0),
            p90_us: at(90.0),
            p99_us: at(99.0),
            max_us: samples.last().copied().unwrap_or(0),
        }
    }
}

/// How to load a target.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// What to `GET`.
    pub target: Target,
    /// Workers, each with one keep-alive connection.
    pub concurrency: usize,
    /// How long to measure.
    pub duration: Duration,
    /// How long to send requests before measuring (not counted).
    pub warmup: Duration,
    /// How long one request may take before it counts as an error.
    pub timeout: Duration,
    /// Count answers without `X-Pipeline-Version`, and answers per version.
    pub expect_version_header: bool,
}

/// What a load run saw, over the measured time only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Requests sent (answered or not).
    pub requests: u64,
    /// Requests without an answer: connection refused or reset, a timeout, a
    /// malformed answer.
    pub errors: u64,
    /// Answers with a status outside 200-299.
    pub non_2xx: u64,
    /// With `expect_version_header`: answers without the header.
    pub missing_version_header: u64,
    /// With `expect_version_header`: answers per version.
    pub versions: BTreeMap<String, u64>,
    /// The first error, for the diagnosis.
    pub first_error: Option<String>,
    /// Measured time, until the last worker stopped.
    pub elapsed: Duration,
    /// Latencies of the answered requests.
    pub latency: Latency,
    /// Workers.
    pub concurrency: usize,
}

impl LoadReport {
    /// Answered requests per second.
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.requests - self.errors) as f64 / secs
        } else {
            0.0
        }
    }

    /// Whether every request was answered with a 2xx (and, if asked, the
    /// version header).
    pub fn all_ok(&self) -> bool {
        self.errors == 0 && self.non_2xx == 0 && self.missing_version_header == 0
    }

    /// The report as one JSON document; latencies in milliseconds.
    pub fn to_json(&self, expect_version_header: bool) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "requests": self.requests,
            "errors": self.errors,
            "non_2xx": self.non_2xx,
            "rps": round(self.rps(), 1),
            "p50_ms": ms(self.latency.p50_us),
            "p90_ms": ms(self.latency.p90_us),
            "p99_ms": ms(self.latency.p99_us),
            "max_ms": ms(self.latency.max_us),
            "concurrency": self.concurrency,
            "elapsed_s": round(self.elapsed.as_secs_f64(), 3),
            "first_error": self.first_error,
        });
        if expect_version_header {
            doc["missing_version_header"] = self.missing_version_header.into();
            doc["versions"] = serde_json::json!(self.versions);
        }
        doc
    }
}

fn ms(us: u32) -> f64 {
    round(f64::from(us) / 1000.0, 3)
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// One keep-alive HTTP/1.1 connection; its driver runs as a task.
async fn connect(authority: &str) -> Result<SendRequest<Full<Bytes>>, LoadError> {
    let connect_err = |source| LoadError::Connect {
        authority: authority.to_owned(),
        source,
    };
    let stream = TcpStream::connect(authority).await.map_err(connect_err)?;
    stream.set_nodelay(true).map_err(connect_err)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| LoadError::Http {
            method: Method::GET,
            url: format!("http://{authority}/"),
            source,
        })?;
    tokio::spawn(async move {
        // Its errors surface in `send_request`.
        let _ = conn.await;
    });
    Ok(sender)
}

/// An answer read to the end.
struct Answer {
    status: StatusCode,
    version_header: Option<Bytes>,
    body: Bytes,
}

/// Sends `req` on `sender` and reads the whole answer, within `timeout`.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
    timeout: Duration,
    url: &str,
) -> Result<Answer, LoadError> {
    let method = req.method().clone();
    let http_err = |source| LoadError::Http {
        method: method.clone(),
        url: url.to_owned(),
        source,
    };
    let exchange = async {
        let resp = sender.send_request(req).await.map_err(http_err)?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(http_err)?.to_bytes();
        Ok(Answer {
            status: parts.status,
            version_header: parts
                .headers
                .get(VERSION_HEADER)
                .map(|v| Bytes::copy_from_slice(v.as_bytes())),
            body,
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(LoadError::Timeout {
                what: format!("{} {url}", method.clone()),
                after: timeout,
            })
        })
}

/// A connection ready for the next request: the one in `slot` if the server
/// has not closed it, else a new one.
async fn ready_connection<'a>(
    slot: &'a mut Option<SendRequest<Full<Bytes>>>,
    authority: &str,
) -> Result<&'a mut SendRequest<Full<Bytes>>, LoadError> {
    if let Some(mut sender) = slot.take() {
        // Fails when the server closed the connection between requests
        // (`Connection: close`, an idle timeout): no request was lost.
        if sender.ready().await.is_ok() {
            return Ok(slot.insert(sender));
        }
    }
    let mut sender = connect(authority).await?;
    sender.ready().await.map_err(|source| LoadError::Http {
        method: Method::GET,
        url: format!("http://{authority}/"),
        source,
    })?;
    Ok(slot.insert(sender))
}

#[derive(Default)]
struct WorkerStats {
    requests: u64,
    errors: u64,
    non_2xx: u64,
    missing_version_header: u64,
    versions: BTreeMap<Bytes, u64>,
    first_error: Option<String>,
    samples: Vec<u32>,
}

/// After a failed connection attempt, the pause before the next one.
const RECONNECT_PAUSE: Duration = Duration::from_millis(5);

async fn worker(opts: Arc<LoadOptions>, measure_from: Instant, until: Instant) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let mut conn = None;
    let target = &opts.target;
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        let measured = now >= measure_from;
        let fail = |stats: &mut WorkerStats, err: &LoadError| {
            if measured {
                stats.requests += 1;
                stats.errors += 1;
                stats.first_error.get_or_insert_with(|| error_chain(err));
            }
        };
        let sender = match ready_connection(&mut conn, target.authority()).await {
            Ok(sender) => sender,
            Err(err) => {
                fail(&mut stats, &err);
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        let req = target.request(Method::GET, Bytes::new());
        let started = Instant::now();
        let result = exchange(sender, req, opts.timeout, target.url()).await;
        let took = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        match result {
            Ok(answer) if measured => {
                stats.requests += 1;
                stats.samples.push(took);
                if !answer.status.is_success() {
                    stats.non_2xx += 1;
                }
                if opts.expect_version_header {
                    match answer.version_header {
                        Some(v) => *stats.versions.entry(v).or_default() += 1,
                        None => stats.missing_version_header += 1,
                    }
                }
            }
            Ok(_) => {}
            Err(err) => {
                fail(&mut stats, &err);
                conn = None;
            }
        }
    }
    stats
}

/// Loads `opts.target` for `opts.warmup + opts.duration`; counts and times
/// the requests of the last `opts.duration`.
///
/// Failed requests are counted, not returned: the run always completes.
pub async fn run_load(opts: LoadOptions) -> LoadReport {
    let concurrency = opts.concurrency.max(1);
    let opts = Arc::new(opts);
    let start = Instant::now();
    let measure_from = start + opts.warmup;
    let until = measure_from + opts.duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(worker(Arc::clone(&opts), measure_from, until)))
        .collect();
    let mut report = LoadReport {
        concurrency,
        ..LoadReport::default()
    };
    let mut samples = Vec::new();
    for handle in workers {
        let stats = match handle.await {
            Ok(stats) => stats,
            Err(err) => WorkerStats {
                requests: 1,
                errors: 1,
                first_error: Some(format!("worker failed: {err}")),
                ..WorkerStats::default()
            },
        };
        report.requests += stats.requests;
        report.errors += stats.errors;
        report.non_2xx += stats.non_2xx;
        report.missing_version_header += stats.missing_version_header;
        for (version, n) in stats.versions {
            *report
                .versions
                .entry(String::from_utf8_lossy(&version).into_owned())
                .or_default() += n;
        }
        if report.first_error.is_none() {
            report.first_error = stats.first_error;
        }
        if samples.is_empty() {
            samples = stats.samples;
        } else {
            samples.extend_from_slice(&stats.samples);
        }
    }
    report.elapsed = measure_from.elapsed();
    report.latency = Latency::from_samples(&mut samples);
    report
}

/// How to time a switch.
#[derive(Debug, Clone)]
pub struct SwitchOptions {
    /// `POST` here: the agent's `/v1/envs/{env}/swap`.
    pub swap: Target,
    /// The agent's bearer token.
    pub token: Token,
    /// `GET` here until the body is `expect_version`: the front's `/version`.
    pub front: Target,
    /// The version the swap brings live.
    pub expect_version: String,
    /// Pause between two polls.
    pub interval: Duration,
    /// A new connection for every poll instead of one kept alive.
    pub fresh_connections: bool,
    /// How long to wait for the new version, and for any one request.
    pub timeout: Duration,
}

/// What a switch took.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchReport {
    /// From just before the swap request to the first answer of the new version.
    pub switch: Duration,
    /// From just before the swap request to its answer.
    pub swap_call: Duration,
    /// The swap's answer, as JSON if it is.
    pub swap_answer: serde_json::Value,
    /// Polls of the front.
    pub polls: u64,
    /// Polls without an answer (or with a non-2xx one).
    pub poll_errors: u64,
    /// Polls sent after the swap answered that still got the old version.
    pub stale_after_swap: u64,
    /// The first poll error, for the diagnosis.
    pub first_poll_error: Option<String>,
}

impl SwitchReport {
    /// The report as one JSON document; times in milliseconds.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "switch_ms": round(self.switch.as_secs_f64() * 1000.0, 3),
            "swap_call_ms": round(self.swap_call.as_secs_f64() * 1000.0, 3),
            "polls": self.polls,
            "poll_errors": self.poll_errors,
            "stale_after_swap": self.stale_after_swap,
            "first_poll_error": self.first_poll_error,
            "swap": self.swap_answer,
        })
    }
}

/// Times a blue/green switch: checks that the front does not serve
/// `expect_version` yet, then, from one instant T0, posts the swap (with
/// `{"expect_version": …}`) and polls the front every `interval` until it
/// answers `expect_version`.
///
/// # Errors
///
/// The front or the agent cannot be reached before T0, the front already
/// serves the version, the swap is refused, or the new version is not seen
/// within `timeout`.
pub async fn switch_latency(opts: &SwitchOptions) -> Result<SwitchReport, LoadError> {
    let front = &opts.front;
    let mut poll_conn = None;
    let before = poll(
        ready_connection(&mut poll_conn, front.authority()).await?,
        opts,
    )
    .await?;
    if before == opts.expect_version {
        return Err(LoadError::AlreadyServing {
            url: front.url().to_owned(),
            version: before,
        });
    }
    if opts.fresh_connections {
        poll_conn = None;
    }

    let mut swap_conn = connect(opts.swap.authority()).await?;
    let body = serde_json::json!({ "expect_version": opts.expect_version }).to_string();
    let mut swap_req = opts.swap.request(Method::POST, Bytes::from(body));
    let auth = format!("Bearer {}", opts.token.0);
    let headers = swap_req.headers_mut();
    if let Ok(auth) = auth.parse() {
        headers.insert(AUTHORIZATION, auth);
    }
    headers.insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    swap_conn.ready().await.map_err(|source| LoadError::Http {
        method: Method::POST,
        url: opts.swap.url().to_owned(),
        source,
    })?;

    let swapped_at: Cell<Option<Instant>> = Cell::new(None);
    let t0 = Instant::now();
    let swap = async {
        let answer = exchange(&mut swap_conn, swap_req, opts.timeout, opts.swap.url()).await;
        swapped_at.set(Some(Instant::now()));
        answer
    };
    let watch = async {
        let mut polls = 0u64;
        let mut errors = 0u64;
        let mut stale = 0u64;
        let mut first_error = None;
        loop {
            let sent = Instant::now();
            if sent.duration_since(t0) > opts.timeout {
                return Err(LoadError::Timeout {
                    what: format!("{} to answer {}", front.url(), opts.expect_version),
                    after: opts.timeout,
                });
            }
            let swap_done = swapped_at.get().is_some();
            polls += 1;
            let outcome = match ready_connection(&mut poll_conn, front.authority()).await {
                Ok(sender) => poll(sender, opts).await,
                Err(err) => Err(err),
            };
            if opts.fresh_connections {
                poll_conn = None;
            }
            match outcome {
                Ok(version) if version == opts.expect_version => {
                    return Ok((Instant::now(), polls, errors, stale, first_error));
                }
                Ok(_) => stale += u64::from(swap_done),
                Err(err) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| error_chain(&err));
                    poll_conn = None;
                }
            }
            tokio::time::sleep_until((sent + opts.interval).into()).await;
        }
    };
    let (swap_answer, seen) = tokio::join!(swap, watch);
    let swap_answer = swap_answer?;
    let swap_call = swapped_at.get().unwrap_or(t0).duration_since(t0);
    let swap_body = String::from_utf8_lossy(&swap_answer.body).into_owned();
    if !swap_answer.status.is_success() {
        return Err(LoadError::Status {
            method: Method::POST,
            url: opts.swap.url().to_owned(),
            status: swap_answer.status,
            body: swap_body,
        });
    }
    let (seen_at, polls, poll_errors, stale_after_swap, first_poll_error) = seen?;
    Ok(SwitchReport {
        switch: seen_at.duration_since(t0),
        swap_call,
        swap_answer: serde_json::from_str(&swap_body)
            .unwrap_or(serde_json::Value::String(swap_body)),
        polls,
        poll_errors,
        stale_after_swap,
        first_poll_error,
    })
}

/// One `GET` of the front: the body, trimmed.
async fn poll(
    sender: &mut SendRequest<Full<Bytes>>,
    opts: &SwitchOptions,
) -> Result<String, LoadError> {
    let front = &opts.front;
    let req = front.request(Method::GET, Bytes::new());
    let answer = exchange(sender, req, opts.timeout, front.url()).await?;
    let body = String::from_utf8_lossy(&answer.body).trim().to_owned();
    if answer.status.is_success() {
        Ok(body)
    } else {
        Err(LoadError::Status {
            method: Method::GET,
            url: front.url().to_owned(),
            status: answer.status,
            body,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentile_by_nearest_rank() {
        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!(percentile(&ten, 50.0), Some(5));
        assert_eq!(percentile(&ten, 90.0), Some(9));
        assert_eq!(percentile(&ten, 99.0), Some(10));
        assert_eq!(percentile(&ten, 100.0), Some(10));
        assert_eq!(percentile(&ten, 0.0), Some(1));
        assert_eq!(percentile(&ten, 10.0), Some(1));
        assert_eq!(percentile(&ten, 11.0), Some(2));
        assert_eq!(percentile(&[7], 50.0), Some(7));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        // Out of range is clamped.
        assert_eq!(percentile(&ten, 150.0), Some(10));
        assert_eq!(percentile(&ten, -5.0), Some(1));

        let thousand: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&thousand, 50.0), Some(500));
        assert_eq!(percentile(&thousand, 99.0), Some(990));
        assert_eq!(percentile(&thousand, 99.9), Some(999));
    }

    #[test]
    fn latency_sorts_its_samples() {
        let mut samples = vec![900, 100, 500, 300, 700, 200, 400, 800, 600, 1000];
        let latency = Latency::from_samples(&mut samples);
        assert_eq!(
            latency,
            Latency {
                p50_us: 500,
                p90_us: 900,
                p99_us: 1000,
                max_us: 1000
            }
        );
        assert_eq!(Latency::from_samples(&mut []), Latency::default());
    }

    #[test]
    fn report_json_in_milliseconds() {
        let report = LoadReport {
            requests: 2001,
            errors: 1,
            non_2xx: 3,
            elapsed: Duration::from_secs(2),
            latency: Latency {
                p50_us: 123,
                p90_us: 1500,
                p99_us: 2001,
                max_us: 40_000,
            },
            concurrency: 4,
            ..LoadReport::default()
        };
        let doc = report.to_json(false);
        assert_eq!(doc["rps"], 1000.0);
        assert_eq!(doc["p50_ms"], 0.123);
        assert_eq!(doc["p90_ms"], 1.5);
        assert_eq!(doc["max_ms"], 40.0);
        assert!(doc.get("versions").is_none());
        assert!(!report.all_ok());
        let doc = report.to_json(true);
        assert_eq!(doc["versions"], serde_json::json!({}));
    }

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:8080/slow?ms=3").unwrap();
        assert_eq!(
            (t.authority(), t.path_and_query()),
            ("127.0.0.1:8080", "/slow?ms=3")
        );
        let t = Target::parse("http://localhost").unwrap();
        assert_eq!((t.authority(), t.path_and_query()), ("localhost:80", "/"));
        for bad in [
            "https://127.0.0.1/",
            "127.0.0.1:80",
            "http://u:p@h:1/",
            "::",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_is_masked() {
        let token = Token::new("secret\n");
        assert_eq!(format!("{token} {token:?}"), "*** ***");
        assert_eq!(token.0, "secret");
    }
}
