//! The shape every target has: a live slot that takes the traffic, an idle
//! slot that takes the next release, a switch, and a switch back.

use std::path::PathBuf;

use pipeline_artifact::Sha256Digest;

/// What is being deployed: a version and the artifact's bytes, by digest.
#[derive(Debug, Clone)]
pub struct Release {
    /// The version, such as `1.4.0`.
    pub version: String,
    /// The artifact's SHA-256; the file is checked against it before use.
    pub sha256: Sha256Digest,
    /// The artifact (a zip from `pipeline-deploy package`).
    pub artifact: PathBuf,
}

pub use pipeline_contracts::deploy::{Deployed, SlotStatus, Switched, TargetStatus};

/// Why a target operation failed, and so which exit code it gets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// A request failed (after retries, or at once when not retryable).
    #[error(transparent)]
    Http(#[from] pipeline_http::HttpError),
    /// The artifact is not the one referred to.
    #[error(transparent)]
    Artifact(#[from] pipeline_artifact::VerifyError),
    /// The platform ran the deployment and it failed.
    #[error("deployment {id} to slot {slot} failed ({status}){}", excerpt(.log))]
    DeploymentFailed {
        /// The slot.
        slot: String,
        /// The deployment id.
        id: String,
        /// The platform's status words.
        status: String,
        /// The end of the deployment log.
        log: Vec<String>,
    },
    /// The slot never answered healthy with the version deployed.
    #[error("slot {slot} is not healthy: {source}")]
    Unhealthy {
        /// The slot.
        slot: String,
        /// What was seen.
        #[source]
        source: crate::health::Unhealthy,
    },
    /// The state does not allow the operation (nothing to roll back to,
    /// the slot holds another version than the one to switch to).
    #[error("{0}")]
    Refused(String),
    /// A configuration error found by the target.
    #[error("{0}")]
    Config(String),
}

fn excerpt(log: &[String]) -> String {
    if log.is_empty() {
        return String::new();
    }
    let mut s = String::from("; deployment log:");
    for line in log {
        s.push_str("\n  ");
        s.push_str(line);
    }
    s
}

/// How a failure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The step said no (exit 1): the release did not deploy or is not
    /// healthy, the state refuses the switch.
    Refused,
    /// Configuration, credentials or input (exit 2).
    Caller,
    /// A service or the network failed after retries (exit 3).
    External,
}

impl TargetError {
    /// How this failure counts.
    pub fn outcome(&self) -> Outcome {
        match self {
            TargetError::Http(e) => match e.blame() {
                pipeline_http::Blame::Caller => Outcome::Caller,
                pipeline_http::Blame::External => Outcome::External,
            },
            TargetError::Artifact(_) | TargetError::Config(_) => Outcome::Caller,
            TargetError::DeploymentFailed { .. }
            | TargetError::Unhealthy { .. }
            | TargetError::Refused(_) => Outcome::Refused,
        }
    }
}

impl pipeline_ci::Classified for TargetError {
    fn exit(&self) -> pipeline_ci::Exit {
        match self.outcome() {
            Outcome::Refused => pipeline_ci::Exit::Refused,
            Outcome::Caller => pipeline_ci::Exit::Usage,
            Outcome::External => pipeline_ci::Exit::External,
        }
    }
}

/// A deploy target: a live slot, an idle slot, a switch and a switch back.
/// Azure App Service slots, Cloud Run tagged revisions and the local
/// agent's blue/green slots all have this shape.
pub trait Target {
    /// The target in words, such as `azure:pipeline-app/staging`.
    fn describe(&self) -> String;

    /// Puts `release` into the idle slot and waits until it answers healthy
    /// with that version. Traffic does not move.
    fn deploy(
        &self,
        release: &Release,
    ) -> impl std::future::Future<Output = Result<Deployed, TargetError>>;

    /// Moves live traffic to the idle slot. With `expect`, refuses unless
    /// the idle slot holds that version (and is a no-op if it is live
    /// already).
    fn swap(
        &self,
        expect: Option<&str>,
    ) -> impl std::future::Future<Output = Result<Switched, TargetError>>;

    /// Moves live traffic back to the release the idle slot holds.
    fn rollback(&self) -> impl std::future::Future<Output = Result<Switched, TargetError>>;

    /// What runs where.
    fn status(&self) -> impl std::future::Future<Output = Result<TargetStatus, TargetError>>;
}
