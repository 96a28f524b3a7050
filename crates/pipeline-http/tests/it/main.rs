#![allow(clippy::unwrap_used)]
//! Integration tests of `pipeline-http` against servers on loopback:
//! wiremock for request/reply exchanges, raw tokio TCP servers where the
//! connection itself must misbehave. Nothing here measures time: tests
//! count requests and look at outcomes, and deadline tests use waits far
//! longer than their deadlines.

mod auth;
mod deadline;
mod endpoint;
mod lro;
mod oidc;
mod retries;
mod secrets;
mod truncated;
mod upload;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pipeline_ci::Secret;
use pipeline_http::{Bearer, BoxFuture, Endpoint, Event, Http, HttpError, Progress, RetryPolicy};
use serde_json::Value;
use tokio::time::Instant;
use url::Url;
use wiremock::{MockServer, Respond, ResponseTemplate};

/// Attempts per request in [`fast`].
pub(crate) const ATTEMPTS: u32 = 4;

/// A policy that retries without noticeable waits, but still honours the
/// `Retry-After` a test sends (up to the default cap).
pub(crate) fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: ATTEMPTS,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        poll_interval: Duration::from_millis(1),
        ..RetryPolicy::default()
    }
}

/// A reqwest client for loopback. The workspace builds reqwest with
/// `rustls-no-provider`, so `Client::builder().build()` panics unless a
/// rustls crypto provider was installed first, even for plain http; ring
/// is installed here (a second install in the same process fails, which
/// is fine). Proxies from the environment are ignored: the servers are on
/// loopback.
pub(crate) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// An [`Http`] with the [`fast`] policy, reporting to `progress`.
pub(crate) fn http(progress: &Arc<Recorder>) -> Http {
    Http::new(client())
        .with_policy(fast())
        .with_progress(Arc::clone(progress) as Arc<dyn Progress>)
}

/// A deadline no test reaches unless something is wrong.
pub(crate) fn later() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// `path` on the mock server, built the way the targets build URLs.
pub(crate) fn at(server: &MockServer, path: &str) -> Url {
    Endpoint::parse("test server", &server.uri())
        .unwrap()
        .at(path, &[])
}

/// Requests the server received on `path` (all paths when `None`).
pub(crate) async fn received(server: &MockServer, path: Option<&str>) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| path.is_none_or(|p| r.url.path() == p))
        .collect()
}

// ---------------------------------------------------------------- fixtures

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/azure");

/// The text of `fixtures/azure/<rel>`.
pub(crate) fn fixture_text(rel: &str) -> String {
    let path = format!("{FIXTURES}/{rel}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A plain fixture: a JSON body.
pub(crate) fn fixture(rel: &str) -> Value {
    serde_json::from_str(&fixture_text(rel)).unwrap()
}

/// A `*.envelope.json` fixture: status, headers and body of a reply.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Value,
}

impl Envelope {
    pub(crate) fn load(rel: &str) -> Self {
        let v = fixture(rel);
        let headers = v["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        Self {
            status: u16::try_from(v["status"].as_u64().unwrap()).unwrap(),
            headers,
            body: v["body"].clone(),
        }
    }

    /// The value of a header, by case-insensitive name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces (or adds) a header.
    pub(crate) fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The reply, as the envelope describes it: `null` is no body, a string
    /// a text body, anything else JSON.
    pub(crate) fn reply(&self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        t = match &self.body {
            Value::Null => t,
            Value::String(text) => t.set_body_raw(text.clone().into_bytes(), "text/plain"),
            json => t.set_body_json(json),
        };
        for (k, v) in &self.headers {
            t = t.insert_header(k.as_str(), v.as_str());
        }
        t
    }
}

// ---------------------------------------------------------------- replies

/// Replies in order, the last one repeated forever.
#[derive(Debug)]
pub(crate) struct Seq {
    replies: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Seq {
    pub(crate) fn new(replies: impl IntoIterator<Item = ResponseTemplate>) -> Self {
        let replies: Vec<_> = replies.into_iter().collect();
        assert!(!replies.is_empty());
        Self {
            replies,
            next: AtomicUsize::new(0),
        }
    }
}

impl Respond for Seq {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.replies[i.min(self.replies.len() - 1)].clone()
    }
}

/// An ARM-shaped error body.
pub(crate) fn arm_error(code: &str, message: &str) -> Value {
    serde_json::json!({ "error": { "code": code, "message": message } })
}

// ---------------------------------------------------------------- progress

/// An owned copy of an [`Event`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seen {
    Retry {
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    Poll {
        status: String,
    },
    Upload {
        sent: u64,
        total: u64,
    },
    Other,
}

/// A [`Progress`] sink that keeps every event.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    events: Mutex<Vec<Seen>>,
}

impl Recorder {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn events(&self) -> Vec<Seen> {
        self.events.lock().unwrap().clone()
    }

    /// The `Retry` events: (attempt, delay, reason).
    pub(crate) fn retries(&self) -> Vec<(u32, Duration, String)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Seen::Retry {
                    attempt,
                    delay,
                    reason,
                } => Some((attempt, delay, reason)),
                _ => None,
            })
            .collect()
    }

    /// The statuses of the `Poll` events.
    pub(crate) fn polls(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Seen::Poll { status } => Some(status),
                _ => None,
            })
            .collect()
    }

    /// The `Upload` events: (sent, total).
    pub(crate) fn uploads(&self) -> Vec<(u64, u64)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Seen::Upload { sent, total } => Some((sent, total)),
                _ => None,
            })
            .collect()
    }
}

impl Progress for Recorder {
    fn event(&self, event: &Event<'_>) {
        let seen = match *event {
            Event::Retry {
                attempt,
                delay,
                reason,
                ..
            } => Seen::Retry {
                attempt,
                delay,
                reason: reason.to_owned(),
            },
            Event::Poll { status, .. } => Seen::Poll {
                status: status.to_owned(),
            },
            Event::Upload { sent, total, .. } => Seen::Upload { sent, total },
            _ => Seen::Other,
        };
        self.events.lock().unwrap().push(seen);
    }
}

// ---------------------------------------------------------------- tokens

/// A bearer that hands out `first` until asked to refresh, then `fresh`,
/// and counts the calls.
#[derive(Debug)]
pub(crate) struct CountingBearer {
    first: Secret,
    fresh: Secret,
    refreshed: std::sync::atomic::AtomicBool,
    pub(crate) calls: AtomicU32,
    pub(crate) refreshes: AtomicU32,
}

impl CountingBearer {
    pub(crate) fn new(first: &str, fresh: &str) -> Self {
        Self {
            first: Secret::new(first),
            fresh: Secret::new(fresh),
            refreshed: false.into(),
            calls: AtomicU32::new(0),
            refreshes: AtomicU32::new(0),
        }
    }

    pub(crate) fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    pub(crate) fn refreshes(&self) -> u32 {
        self.refreshes.load(Ordering::SeqCst)
    }
}

impl Bearer for CountingBearer {
    fn bearer<'a>(
        &'a self,
        _http: &'a Http,
        refresh: bool,
    ) -> BoxFuture<'a, Result<Secret, HttpError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if refresh {
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            self.refreshed.store(true, Ordering::SeqCst);
        }
        let token = if self.refreshed.load(Ordering::SeqCst) {
            self.fresh.clone()
        } else {
            self.first.clone()
        };
        Box::pin(async move { Ok(token) })
    }
}

/// Asserts that neither the `Display` nor the `Debug` form of `err` (nor of
/// any error in its source chain) contains `secret`.
pub(crate) fn assert_hides(err: &HttpError, secret: &str) {
    assert!(!secret.is_empty());
    let mut texts = vec![err.to_string(), format!("{err:?}"), format!("{err:#?}")];
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        texts.push(s.to_string());
        texts.push(format!("{s:?}"));
        source = s.source();
    }
    for text in texts {
        assert!(!text.contains(secret), "the secret leaked into: {text}");
    }
}

/// A loopback port with nothing listening on it: bound, then released.
pub(crate) fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A client-credentials bearer as the Azure target builds one: a form POST
/// to an Entra-shaped token endpoint (fields from
/// `entra/token.request.client_secret.json`), cached in a [`TokenCache`].
#[derive(Debug)]
pub(crate) struct ClientSecretBearer {
    pub(crate) token_url: Url,
    pub(crate) secret: Secret,
    cache: pipeline_http::TokenCache,
}

impl ClientSecretBearer {
    pub(crate) fn new(token_url: Url, secret: &str) -> Self {
        Self {
            token_url,
            secret: Secret::new(secret),
            cache: pipeline_http::TokenCache::new(),
        }
    }

    async fn fetch(&self, http: &Http) -> Result<(Secret, Duration), HttpError> {
        let request = fixture("entra/token.request.client_secret.json");
        let form = &request["form"];
        let field = |k: &str| form[k].as_str().unwrap().to_owned();
        let (grant, client, scope) = (field("grant_type"), field("client_id"), field("scope"));
        let op = "get an Entra token";
        let req =
            pipeline_http::Request::new(op, pipeline_http::Method::POST, self.token_url.clone())
                .body(pipeline_http::Body::form(&[
                    ("grant_type", grant.as_str()),
                    ("client_id", client.as_str()),
                    ("client_secret", self.secret.expose()),
                    ("scope", scope.as_str()),
                ]));
        let reply = http.send(&req, later()).await?;
        let body: Value = reply.json(op)?;
        let token = body["access_token"].as_str().unwrap();
        let lifetime = body["expires_in"].as_u64().unwrap();
        Ok((Secret::new(token), Duration::from_secs(lifetime)))
    }
}

impl Bearer for ClientSecretBearer {
    fn bearer<'a>(
        &'a self,
        http: &'a Http,
        refresh: bool,
    ) -> BoxFuture<'a, Result<Secret, HttpError>> {
        Box::pin(self.cache.get(refresh, move || self.fetch(http)))
    }
}
