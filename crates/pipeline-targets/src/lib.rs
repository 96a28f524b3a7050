//! Deploy targets of one shape: put a release into an idle slot, check it,
//! switch traffic to it, switch back.
//!
//! - [`Target`]: the interface every target implements, with
//!   [`Release`] (a version and an artifact by digest), [`Deployed`],
//!   [`Switched`] and [`TargetStatus`].
//! - [`health`]: probing a slot until it answers its health path with the
//!   expected status and the version just deployed.
//! - [`azure`]: Azure App Service deployment slots through Resource
//!   Manager and Kudu, with Microsoft Entra ID credentials.
//! - [`cloudrun`]: Google Cloud Run tagged revisions (`green`, `blue`) through
//!   the Cloud Run Admin API v2, with service-account key, Workload Identity
//!   Federation or metadata-server credentials.
//! - [`local`]: the local host agent (`pipeline-agent`) over its admin API.
//!
//! Every target checks the artifact's digest before it uploads a byte.
//! Failures are [`TargetError`]s whose [`TargetError::outcome`] gives the
//! exit code: the step said no (1), the caller's configuration (2), or an
//! outside system after retries (3).
//!
//! The crate never builds a runtime or a TLS configuration: the binary
//! passes a [`pipeline_http::Http`].
#![warn(missing_docs)]
// Errors carry the operation, URL and the service's own words; they are the
// cold path.
#![allow(clippy::result_large_err)]

mod any;
pub mod azure;
pub mod cloudrun;
pub mod health;
pub mod local;
pub mod preview;
mod target;

pub use any::AnyTarget;
pub use target::{
    Deployed, Outcome, Release, SlotStatus, Switched, Target, TargetError, TargetStatus,
};

/// The environment variables holding secrets the targets read (or that the
/// platforms' own tools keep tokens in): a binary masks and redacts them.
/// The OIDC request token is [`pipeline_http::SECRET_VARS`]'.
pub const SECRET_VARS: &[&str] = &[
    "AZURE_CLIENT_SECRET",
    "PIPELINE_AGENT_TOKEN",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
    "CLOUDSDK_AUTH_ACCESS_TOKEN",
];

/// The README's examples, compiled (and run) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
