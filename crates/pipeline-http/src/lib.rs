//! The HTTP core of the deploy targets.
//!
//! - [`Http`] sends a [`Request`] with retries: exponential backoff with
//!   jitter on connection errors, 408, 429, 500, 502, 503, 504 and on 409
//!   answers that say an operation is in progress; `Retry-After` honoured;
//!   one token refresh on 401; every other error answer fails at once with
//!   the service's own code and message ([`ServiceError`]). Requests that
//!   are not idempotent are not repeated once they may have reached the
//!   service, unless it said it did nothing (408, 429, 503, 409).
//! - Each operation has a deadline ([`tokio::time::Instant`]), which bounds
//!   the retries and polls together.
//! - [`lro::follow`] polls a long-running operation to its end.
//! - [`Endpoint`] is a base URL that can be overridden, and refuses plain
//!   `http://` except on loopback; URLs a service sends back (polling
//!   URLs) are held to the same rule.
//! - [`TokenCache`] keeps a token until shortly before it expires;
//!   [`github_id_token`] gets the GitHub Actions OIDC token.
//! - Bodies are small JSON read whole, except uploads ([`Body::File`]),
//!   which stream from disk.
//!
//! The crate never builds a runtime, a TLS configuration or a logger: the
//! binary injects a [`reqwest::Client`] and a [`Progress`] sink.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use pipeline_http::{Endpoint, Http, Request};
//!
//! # async fn run() -> Result<(), pipeline_http::HttpError> {
//! let http = Http::new(reqwest::Client::new());
//! let arm = Endpoint::parse("--arm-endpoint", "https://management.azure.com")?;
//! let url = arm.at("/subscriptions", &[("api-version", "2022-12-01")]);
//! let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
//! let reply = http.send(&Request::new("list subscriptions", reqwest::Method::GET, url), deadline).await?;
//! println!("{}", reply.status);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
// Errors carry the operation, URL and the service's own words; they are the
// cold path, and boxing them would only move the allocation.
#![allow(clippy::result_large_err)]

mod client;
mod endpoint;
mod error;
pub mod lro;
mod progress;
mod retry;
mod token;

pub use client::{Bearer, Body, BoxFuture, Http, MAX_REPLY, Request, Response};
pub use endpoint::{Endpoint, EndpointError, check_url, is_loopback};
pub use error::{Blame, HttpError, ServiceError};
pub use progress::{Event, Progress, Quiet};
pub use retry::{RATE_LIMIT_WAIT, RetryPolicy, retry_after};
pub use token::{AZURE_AUDIENCE, REFRESH_MARGIN, StaticBearer, TokenCache, github_id_token};

pub use reqwest::{Method, StatusCode};

/// The environment variables holding secrets this crate may be handed (the
/// GitHub Actions OIDC request token, the runtime token): a binary masks
/// and redacts them.
pub const SECRET_VARS: &[&str] = &["ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_RUNTIME_TOKEN"];

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
