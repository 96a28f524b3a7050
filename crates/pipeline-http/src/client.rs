//! The client: one request, retried until it succeeds, fails for good, or
//! its operation's deadline passes.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::StreamExt;
use pipeline_ci::Secret;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::time::Instant;
use url::Url;

use crate::endpoint::check_url;
use crate::error::{HttpError, ServiceError, secs, transport_reason};
use crate::progress::{Event, Progress, Quiet};
use crate::retry::{
    Decision, RATE_LIMIT_WAIT, RetryPolicy, classify, rate_limit_reset, rate_limited, retry_after,
};

/// A boxed future, for the object-safe [`Bearer`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of bearer tokens.
pub trait Bearer: Send + Sync + std::fmt::Debug {
    /// A token; `refresh` asks for a new one (the last was refused with
    /// 401), otherwise a cached one may do.
    fn bearer<'a>(
        &'a self,
        http: &'a Http,
        refresh: bool,
    ) -> BoxFuture<'a, Result<Secret, HttpError>>;
}

/// The largest reply body read into memory; larger ones are an error.
pub const MAX_REPLY: usize = 32 << 20;

/// What a request sends.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Body {
    /// Nothing.
    #[default]
    Empty,
    /// Bytes with a content type.
    Bytes {
        /// `Content-Type`.
        content_type: &'static str,
        /// The bytes.
        data: Bytes,
    },
    /// A file, streamed from disk (reopened for every attempt), never held
    /// in memory.
    File {
        /// `Content-Type`.
        content_type: &'static str,
        /// The file.
        path: PathBuf,
    },
}

impl Body {
    /// A JSON body.
    pub fn json(value: &impl serde::Serialize) -> Self {
        // Serialising plain data to a Vec cannot fail.
        let data = serde_json::to_vec(value).unwrap_or_default();
        Body::Bytes {
            content_type: "application/json",
            data: data.into(),
        }
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn form(pairs: &[(&str, &str)]) -> Self {
        let data = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Body::Bytes {
            content_type: "application/x-www-form-urlencoded",
            data: data.into_bytes().into(),
        }
    }
}

/// One request, described so that it can be sent again.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    op: &'a str,
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Body,
    idempotent: bool,
    auth: Option<&'a dyn Bearer>,
}

impl<'a> Request<'a> {
    /// A request for operation `op` (words used in errors and progress,
    /// such as "create slot staging"). GET, PUT and DELETE are idempotent,
    /// other methods not unless [`Request::idempotent`] says so.
    pub fn new(op: &'a str, method: Method, url: Url) -> Self {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        Self {
            op,
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            idempotent,
            auth: None,
        }
    }

    /// Sends `Authorization: Bearer` from `auth`, refreshing it once on 401.
    pub fn auth(mut self, auth: &'a dyn Bearer) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Whether sending twice is harmless, which allows retries on 500, 502,
    /// 504 and on a connection lost after the request went out.
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = yes;
        self
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The operation's name.
    pub fn op(&self) -> &str {
        self.op
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }
}

/// A reply, read whole (replies are small JSON documents).
#[derive(Debug, Clone)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The URL that answered.
    pub url: Url,
}

impl Response {
    /// The body as JSON of type `T`; a body of another shape is a
    /// [`HttpError::Decode`] naming the operation and URL.
    pub fn json<T: serde::de::DeserializeOwned>(&self, op: &str) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::Decode {
            op: op.to_owned(),
            url: self.url.as_str().to_owned(),
            reason: e.to_string(),
        })
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::retry::header_str(&self.headers, name)
    }
}

/// The HTTP client of the deploy targets: an injected [`reqwest::Client`]
/// (TLS, proxies and timeouts are the binary's choice), a retry policy and
/// a progress sink.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    policy: RetryPolicy,
    progress: Arc<dyn Progress>,
}

impl Http {
    /// A client with the default policy and no progress.
    pub fn new(client: reqwest::Client) -> Self {
        Self {
            client,
            policy: RetryPolicy::default(),
            progress: Arc::new(Quiet),
        }
    }

    /// Replaces the retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sends events of long waits to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// The underlying client, for requests that manage their own retries
    /// (health probes).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The progress sink.
    pub fn progress(&self) -> &dyn Progress {
        &*self.progress
    }

    /// Sends `req`, retrying as the policy says, until `deadline`. Returns
    /// the first 2xx reply; any other status (redirects are not followed) is
    /// [`HttpError::Status`] with the service's code and message.
    pub async fn send(&self, req: &Request<'_>, deadline: Instant) -> Result<Response, HttpError> {
        check_url(req.op, &req.url)?;
        let started = Instant::now();
        let budget = deadline.saturating_duration_since(started);
        let mut attempt = 0u32;
        let mut refreshed = false;
        let mut refresh = false;
        let mut last: Option<HttpError> = None;
        loop {
            attempt += 1;
            let outcome = match tokio::time::timeout_at(deadline, self.attempt(req, refresh)).await
            {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(HttpError::Deadline {
                        op: req.op.to_owned(),
                        deadline: budget,
                        last: last.map(|e| e.to_string()),
                    });
                }
            };
            refresh = false;
            let (err, wait) = match outcome {
                Attempt::Reply(resp) => {
                    let service = if resp.status.is_success() {
                        return Ok(resp);
                    } else {
                        ServiceError::from_body(&resp.body)
                    };
                    let status = resp.status.as_u16();
                    let limited = rate_limited(status, &resp.headers, &service);
                    let decision = if limited {
                        Decision::Retry
                    } else {
                        classify(
                            status,
                            &service,
                            req.idempotent,
                            refreshed,
                            req.auth.is_some(),
                        )
                    };
                    let wait = retry_after(&resp.headers, SystemTime::now())
                        .or_else(|| rate_limit_reset(&resp.headers, SystemTime::now()))
                        .or(limited.then_some(RATE_LIMIT_WAIT));
                    let err = HttpError::Status {
                        op: req.op.to_owned(),
                        method: req.method.to_string(),
                        url: req.url.as_str().to_owned(),
                        status,
                        service,
                        request_id: resp
                            .header("x-ms-request-id")
                            .or_else(|| resp.header("x-request-id"))
                            .or_else(|| resp.header("x-github-request-id"))
                            .map(str::to_owned),
                    };
                    match decision {
                        Decision::Done => return Err(err),
                        Decision::RefreshToken => {
                            tracing::info!(
                                op = req.op,
                                "401: getting a new token and trying once more"
                            );
                            refreshed = true;
                            refresh = true;
                            last = Some(err);
                            attempt -= 1;
                            continue;
                        }
                        Decision::Retry => (err, wait),
                    }
                }
                Attempt::Lost { err, sent } => {
                    if sent && !req.idempotent {
                        return Err(err);
                    }
                    (err, None)
                }
                Attempt::Fatal(err) => return Err(err),
            };
            if attempt >= self.policy.max_attempts {
                return Err(HttpError::Exhausted {
                    op: req.op.to_owned(),
                    attempts: attempt,
                    elapsed: started.elapsed(),
                    last: Box::new(err),
                });
            }
            let delay = match wait {
                Some(asked) => self.policy.honoured(asked),
                None => self.policy.backoff(attempt, fastrand::f64()),
            };
            if Instant::now() + delay > deadline {
                return Err(HttpError::Deadline {
                    op: req.op.to_owned(),
                    deadline: budget,
                    last: Some(format!(
                        "{err}; the next attempt was due in {}",
                        secs(delay)
                    )),
                });
            }
            let reason = err.to_string();
            tracing::debug!(op = req.op, attempt, delay = %secs(delay), "retrying");
            self.progress.event(&Event::Retry {
                op: req.op,
                attempt,
                delay,
                reason: &reason,
            });
            last = Some(err);
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, req: &Request<'_>, refresh: bool) -> Attempt {
        let mut builder = self
            .client
            .request(req.method.clone(), req.url.clone())
            .headers(req.headers.clone());
        if let Some(auth) = req.auth {
            match auth.bearer(self, refresh).await {
                Ok(token) => builder = builder.bearer_auth(token.expose()),
                Err(source) => {
                    return Attempt::Fatal(HttpError::Auth {
                        op: req.op.to_owned(),
                        source: Box::new(source),
                    });
                }
            }
        }
        builder = match &req.body {
            Body::Empty => builder,
            Body::Bytes { content_type, data } => builder
                .header(reqwest::header::CONTENT_TYPE, *content_type)
                .body(data.clone()),
            Body::File { content_type, path } => {
                let (body, len) = match self.file_body(req.op, path).await {
                    Ok(b) => b,
                    Err(e) => return Attempt::Fatal(e),
                };
                builder
                    .header(reqwest::header::CONTENT_TYPE, *content_type)
                    .header(reqwest::header::CONTENT_LENGTH, len)
                    .body(body)
            }
        };
        let lost = |e: reqwest::Error| Attempt::Lost {
            sent: !e.is_connect(),
            err: HttpError::Transport {
                op: req.op.to_owned(),
                method: req.method.to_string(),
                url: req.url.as_str().to_owned(),
                reason: transport_reason(&e),
            },
        };
        let resp = match builder.send().await {
            Ok(r) => r,
            Err(e) => return lost(e),
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let url = resp.url().clone();
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) if body.len() + c.len() > MAX_REPLY => {
                    return Attempt::Fatal(HttpError::Decode {
                        op: req.op.to_owned(),
                        url: req.url.as_str().to_owned(),
                        reason: format!("the reply is larger than {} MiB", MAX_REPLY >> 20),
                    });
                }
                Ok(c) => body.extend_from_slice(&c),
                Err(e) => return lost(e),
            }
        }
        Attempt::Reply(Response {
            status,
            headers,
            body: body.into(),
            url,
        })
    }

    async fn file_body(
        &self,
        op: &str,
        path: &std::path::Path,
    ) -> Result<(reqwest::Body, u64), HttpError> {
        let file_err = |source| HttpError::File {
            op: op.to_owned(),
            path: path.display().to_string(),
            source,
        };
        let file = tokio::fs::File::open(path).await.map_err(file_err)?;
        let total = file.metadata().await.map_err(file_err)?.len();
        let progress = Arc::clone(&self.progress);
        let op = op.to_owned();
        let mut sent = 0u64;
        let mut last_report = 0u64;
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 256 << 10).map(move |chunk| {
                if let Ok(c) = &chunk {
                    sent += c.len() as u64;
                    if sent - last_report >= (4 << 20) || sent == total {
                        last_report = sent;
                        progress.event(&Event::Upload {
                            op: &op,
                            sent,
                            total,
                        });
                    }
                }
                chunk
            });
        Ok((reqwest::Body::wrap_stream(stream), total))
    }
}

enum Attempt {
    Reply(Response),
    /// No reply. `sent`: the request may have reached the service.
    Lost {
        err: HttpError,
        sent: bool,
    },
    Fatal(HttpError),
}
