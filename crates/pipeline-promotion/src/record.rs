//! What the state store keeps: one record per change of an environment,
//! the newest being what runs there now.

use serde::{Deserialize, Serialize};

/// How a change of an environment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The release went live and passed its checks.
    Live,
    /// Its checks after the switch failed; the previous release is live again.
    RolledBack,
    /// It never went live (deploy or validation failed); nothing changed.
    Failed,
    /// A rollback asked for by hand.
    ManualRollback,
    /// An intent, written before traffic moves to `version` in a
    /// promotion: the record after it says how the switch ended. A run that
    /// finds it newest (its writer died, or could not write the end) asks
    /// the target what is live and finishes it.
    Switching,
    /// The same for a rollback asked for by hand.
    RollingBack,
}

impl Outcome {
    /// Whether this is an intent ([`Outcome::Switching`],
    /// [`Outcome::RollingBack`]) rather than how a change ended.
    pub fn is_intent(self) -> bool {
        matches!(self, Outcome::Switching | Outcome::RollingBack)
    }
}

/// One change of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The environment.
    pub env: String,
    /// The version concerned.
    pub version: String,
    /// Its artifact's SHA-256.
    pub sha256: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The version live after the change.
    pub live_version: Option<String>,
    /// The digest live after the change.
    pub live_sha256: Option<String>,
    /// When the change ended (Unix seconds).
    pub at: u64,
    /// Since when `live_version` has been live (Unix seconds).
    pub live_since: Option<u64>,
    /// Who made it (user, CI run).
    pub by: String,
    /// What happened, in words (the failed check, for instance).
    pub note: String,
    /// The id of the environment's lock its writer held: a lock whose run
    /// has written its final record is released, whatever became of the
    /// release request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
}

impl Record {
    /// Whether `version`/`sha256` is what this record leaves live.
    pub fn leaves_live(&self, sha256: &str) -> bool {
        self.live_sha256.as_deref() == Some(sha256)
    }
}
