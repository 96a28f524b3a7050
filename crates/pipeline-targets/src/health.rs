//! Waiting for a slot to answer its health path with the expected status and
//! the version just deployed: platforms report success while the old code is
//! still serving.

use std::time::Duration;

use pipeline_http::{Event, Http};
use tokio::time::Instant;
use url::Url;

/// How a new slot or revision is checked after a deploy, as a target is
/// configured (every cloud target takes the same settings).
#[derive(Debug, Clone)]
pub struct HealthSettings {
    /// The path probed, such as `/health`.
    pub path: String,
    /// The status expected.
    pub expect_status: u16,
    /// The JSON field holding the version.
    pub version_field: String,
    /// The wait between probes.
    pub interval: Duration,
    /// How long the slot may take to become healthy.
    pub timeout: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            path: "/health".to_owned(),
            expect_status: 200,
            version_field: "version".to_owned(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(300),
        }
    }
}

/// What a healthy slot looks like.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// The slot's base URL.
    pub base: Url,
    /// The path to probe, such as `/health`.
    pub path: String,
    /// The status a healthy slot answers.
    pub expect_status: u16,
    /// The version the slot must report: the JSON field
    /// [`HealthCheck::version_field`] of the reply, or else its
    /// `X-Pipeline-Version` header. `None` skips the check.
    pub version: Option<String>,
    /// The JSON field (dotted path) holding the version.
    pub version_field: String,
    /// The wait between probes.
    pub interval: Duration,
    /// The longest one probe may take.
    pub probe_timeout: Duration,
}

impl HealthCheck {
    /// A check of `path` on `base` expecting 200 and no version.
    pub fn new(base: Url, path: &str) -> Self {
        Self {
            base,
            path: path.to_owned(),
            expect_status: 200,
            version: None,
            version_field: "version".to_owned(),
            interval: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(10),
        }
    }

    /// The URL probed.
    pub fn url(&self) -> Url {
        let mut url = self.base.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        let (path, query) = match self.path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.path.as_str(), None),
        };
        url.set_path(&format!("{base}/{}", path.trim_start_matches('/')));
        url.set_query(query);
        url
    }
}

/// The slot never became healthy with the expected version.
#[derive(Debug, thiserror::Error)]
#[error("{url} did not answer {expect} with version {version} within {}s; last: {last}", waited.as_secs())]
pub struct Unhealthy {
    /// The URL probed.
    pub url: String,
    /// The status expected.
    pub expect: u16,
    /// The version expected (`any` when not checked).
    pub version: String,
    /// How long it waited.
    pub waited: Duration,
    /// What the last probe saw.
    pub last: String,
}

/// What one probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The expected status and version.
    Healthy,
    /// Something else, in words.
    Not(String),
}

/// Probes once.
pub async fn probe(http: &Http, check: &HealthCheck) -> Probe {
    let url = check.url();
    let reply = http
        .client()
        .get(url)
        .timeout(check.probe_timeout)
        .send()
        .await;
    let resp = match reply {
        Ok(r) => r,
        Err(e) => {
            let what = if e.is_timeout() {
                "no answer in time"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "the connection failed"
            };
            return Probe::Not(what.to_owned());
        }
    };
    let status = resp.status().as_u16();
    let header_version = resp
        .headers()
        .get("x-pipeline-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if status != check.expect_status {
        return Probe::Not(format!("status {status}"));
    }
    let Some(want) = &check.version else {
        return Probe::Healthy;
    };
    let body = resp.bytes().await.unwrap_or_default();
    let from_body = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            check
                .version_field
                .split('.')
                .try_fold(v, |v, key| v.get(key).cloned())
        })
        .and_then(|v| match v {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    match from_body.or(header_version) {
        Some(seen) if seen == *want => Probe::Healthy,
        Some(seen) => Probe::Not(format!("status {status}, version {seen}")),
        None => Probe::Not(format!(
            "status {status}, no version (field `{}` or header X-Pipeline-Version)",
            check.version_field
        )),
    }
}

/// The instant `after` from now, or a year from now for longer (and
/// absurd) durations that would overflow the clock.
pub fn deadline_in(after: Duration) -> Instant {
    let cap = Duration::from_secs(365 * 24 * 3600);
    Instant::now() + after.min(cap)
}

/// Probes until healthy or `deadline`.
pub async fn wait_healthy(
    http: &Http,
    op: &str,
    check: &HealthCheck,
    deadline: Instant,
) -> Result<(), Unhealthy> {
    let started = Instant::now();
    loop {
        let last = match probe(http, check).await {
            Probe::Healthy => return Ok(()),
            Probe::Not(seen) => seen,
        };
        http.progress().event(&Event::Wait {
            op,
            seen: &last,
            elapsed: started.elapsed(),
        });
        if Instant::now() + check.interval > deadline {
            return Err(Unhealthy {
                url: check.url().to_string(),
                expect: check.expect_status,
                version: check.version.clone().unwrap_or_else(|| "any".to_owned()),
                waited: started.elapsed(),
                last,
            });
        }
        tokio::time::sleep(check.interval).await;
    }
}
