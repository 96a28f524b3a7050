//! Promotion: the same artifact carried through the environments of
//! `pipeline.toml`, each switch validated before traffic moves and rolled
//! back by itself when the checks after it fail, every change recorded
//! where every runner sees it.
//!
//! - [`Promoter`]: the service `pipeline-promote` and `pipeline run` call,
//!   a transaction per request: build the environment's target from its
//!   configuration, take the environment's lock, decide, run, record,
//!   release the lock. Also manual rollbacks, status and history.
//! - [`mod@plan`]: whether a promotion may happen and what it would do, a
//!   pure function of the configuration, the records and the clock.
//! - [`engine`]: a plan, run against a target under a held lock: deploy
//!   to the idle slot, validate, switch, verify, switch back on failure,
//!   record.
//! - [`record`]: what the state store keeps of each change.
//! - [`store`]: the state store, what is deployed where and its history,
//!   changed by compare-and-swap, with one lock per environment: in refs of
//!   the repository's own remote ([`GitStore`]) or in GitHub Deployments
//!   ([`GitHubStore`]).
//!
//! `pipeline.toml` itself is [`pipeline_config`]'s.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pipeline_promotion::PromoteError> {
//! use pipeline_promotion::{Promoter, PromoteRequest, PromoteOutcome};
//!
//! let config = pipeline_promotion::load_config("pipeline.toml".as_ref())?;
//! let http = pipeline_http::Http::new(reqwest::Client::new());
//! let vars = pipeline_ci::Env::from_vars(std::env::vars());
//! let promoter = Promoter::new(config, "pipeline.toml", ".", http, vars)?;
//! let request = PromoteRequest::to("qa").version("1.4.0");
//! match promoter.promote(&request, &mut |event| eprintln!("{event}")).await? {
//!     PromoteOutcome::Finished(run) => println!("{}", run.message()),
//!     PromoteOutcome::AlreadyThere { env, candidate } => {
//!         println!("{env} runs {} already", candidate.version)
//!     }
//!     PromoteOutcome::Planned(plan) => println!("{}", plan.render()),
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
// Errors name the environment, the ref, the holder and the service's words;
// they are the cold path.
#![allow(clippy::result_large_err)]

pub mod command;
pub mod engine;
pub mod notify;
pub mod plan;
pub mod record;
pub mod render;
mod service;
pub mod store;
mod targets;

use std::path::{Path, PathBuf};

use pipeline_ci::{Classified, Exit};
use pipeline_config::{ConfigError, PipelineConfig};
use pipeline_targets::TargetError;

pub use engine::{Promoted, Reconciled, StepReport};
pub use pipeline_gitflow::{parse_rfc3339, rfc3339};
pub use plan::{
    Candidate, Decision, EnvNow, HISTORY_DEPTH, Plan, Refusal, STALE_LOCK_SECS, Step, plan,
    rollback_plan,
};
pub use record::{Outcome, Record};
pub use service::{
    EnvStatus, Event, Finished, GateEvidence, PromoteOutcome, PromoteRequest, Promoter,
    RollbackOutcome, RollbackRequest, actor,
};
pub use store::{
    AnyStore, GitHubStore, GitStore, LockGuard, LockInfo, Revision, StateStore, StoreError, Stored,
};

/// The environment variables holding secrets a promotion reads (the state
/// stores' tokens); the targets' are [`pipeline_targets::SECRET_VARS`].
pub const SECRET_VARS: &[&str] = &["GITHUB_TOKEN", "GIT_TOKEN"];

/// Why a promotion, a rollback or a reading of the state could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromoteError {
    /// `pipeline.toml` could not be read or is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A target failed (deploy, switch): see its outcome for the exit code.
    #[error(transparent)]
    Target(Box<TargetError>),
    /// An environment's target could not be set up (credentials, the
    /// agent's address, an image reference).
    #[error("environment {env}: {source}")]
    TargetSetup {
        /// The environment.
        env: String,
        /// Why.
        #[source]
        source: Box<TargetError>,
    },
    /// The state store refused or failed (locked, moved, unreachable).
    #[error(transparent)]
    Store(Box<StoreError>),
    /// The policy refuses the promotion, or it cannot be asked for.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// No such environment.
    #[error(
        "no environment `{env}` in {} (its environments: {})",
        config.display(),
        known.join(", ")
    )]
    UnknownEnvironment {
        /// The name given.
        env: String,
        /// The configuration file.
        config: PathBuf,
        /// The environments there are, in promotion order.
        known: Vec<String>,
    },
    /// A Cloud Run environment's image is not the release's bytes.
    #[error(
        "environment {env}: the image {image} has digest {image_digest}, but the release to \
         promote is {version} ({sha256}): promotion moves the same bytes; set target.image to \
         the image of that digest"
    )]
    OtherBytes {
        /// The environment.
        env: String,
        /// The image configured.
        image: String,
        /// Its digest.
        image_digest: String,
        /// The release.
        version: String,
        /// The release's digest.
        sha256: String,
    },
    /// A secret of the environment names a variable that is not set (or
    /// is empty) where the promotion runs.
    #[error(
        "environment {env}: the secret {key} is read from the variable {var}, which is not set \
         (or is empty) here; set {var} for this job (in GitHub Actions: `env: {var}: ${{{{ \
         secrets.{var} }}}}`)"
    )]
    SecretMissing {
        /// The environment.
        env: String,
        /// The app's variable.
        key: String,
        /// The runner's variable that should hold it.
        var: String,
    },
    /// The release's artifact is not in the artifact store, and no file
    /// was given.
    #[error(
        "the artifact of {version} ({sha256}) is not in the artifact store {}: promote it into \
         the first environment from a checkout that has it (--artifact FILE), or give this \
         job the store (--artifact-store DIR, or carry the directory between jobs)",
        store.display()
    )]
    ArtifactMissing {
        /// The release.
        version: String,
        /// Its digest.
        sha256: String,
        /// The store's directory.
        store: PathBuf,
    },
    /// The artifact given could not be kept in the store (other bytes than
    /// its digest, unreadable).
    #[error(transparent)]
    Artifact(#[from] pipeline_artifact::StoreError),
    /// Traffic moved and how it ended could not be recorded (or what is
    /// live could not be told): the error names what the environment
    /// serves, and the next run that takes the lock finishes the record.
    #[error(
        "{env}: {why}; {env} serves {}; the record ends with the intent to switch, and the next \
         promotion or rollback of {env} finishes it",
        serving.as_deref().unwrap_or("an unknown version")
    )]
    Unrecorded {
        /// The environment.
        env: String,
        /// The version its live traffic reaches, if known.
        serving: Option<String>,
        /// What failed.
        why: String,
    },
    /// A check could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The request or the set-up is wrong: a gate document that is not one,
    /// a store without its token, a variable that is not a URL.
    #[error("{0}")]
    Setup(String),
}

impl From<StoreError> for PromoteError {
    fn from(e: StoreError) -> Self {
        PromoteError::Store(Box::new(e))
    }
}

impl From<TargetError> for PromoteError {
    fn from(e: TargetError) -> Self {
        PromoteError::Target(Box::new(e))
    }
}

impl Classified for PromoteError {
    fn exit(&self) -> Exit {
        match self {
            PromoteError::Target(e) | PromoteError::TargetSetup { source: e, .. } => e.exit(),
            PromoteError::Store(e) => e.exit(),
            PromoteError::Refused(r) => r.exit(),
            PromoteError::OtherBytes { .. } => Exit::Refused,
            PromoteError::Unrecorded { .. } => Exit::External,
            PromoteError::Config(_)
            | PromoteError::UnknownEnvironment { .. }
            | PromoteError::Spawn { .. }
            | PromoteError::ArtifactMissing { .. }
            | PromoteError::SecretMissing { .. }
            | PromoteError::Artifact(_)
            | PromoteError::Setup(_) => Exit::Usage,
        }
    }
}

impl Classified for StoreError {
    fn exit(&self) -> Exit {
        match self {
            StoreError::MissingTag { .. } => Exit::Usage,
            StoreError::Conflict { .. }
            | StoreError::Locked { .. }
            | StoreError::LockLost { .. } => Exit::Refused,
            StoreError::Remote { .. } | StoreError::Git { .. } => Exit::External,
            StoreError::Api { source, .. } => source.exit(),
            _ => Exit::Usage,
        }
    }
}

impl Classified for Refusal {
    fn exit(&self) -> Exit {
        if self.is_usage() {
            Exit::Usage
        } else {
            Exit::Refused
        }
    }
}

/// Reads and checks `pipeline.toml` at `path`.
///
/// # Errors
///
/// [`ConfigError::Read`] when it cannot be read; the file's own errors,
/// with line, column and key.
pub fn load_config(path: &Path) -> Result<PipelineConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    pipeline_config::parse(path, &text)
}

/// An error and its causes on one line, leaving out a cause whose words
/// the message already holds.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
