//! Promotion: the record the state stores keep of every change of an
//! environment, the plan of a promotion, and the documents
//! `pipeline-promote --json` prints.

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

/// What is being promoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The version.
    pub version: String,
    /// Its artifact's SHA-256.
    pub sha256: String,
}

/// One step of a promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Put the artifact into the idle slot.
    Deploy {
        /// The target, in words.
        target: String,
    },
    /// Run a check against the idle slot.
    Validate {
        /// Its name.
        name: String,
        /// Its command.
        command: String,
    },
    /// Move traffic.
    Switch,
    /// Watch the live slot's health.
    WatchHealth {
        /// For how long.
        secs: u64,
    },
    /// Run a check against the live slot.
    Verify {
        /// Its name.
        name: String,
        /// Its command.
        command: String,
    },
    /// Record the outcome.
    Record,
}

/// A promotion to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The environment.
    pub env: String,
    /// What goes there.
    pub candidate: Candidate,
    /// Where it comes from (the previous environment, or the build).
    pub from: String,
    /// What is live there now.
    pub replaces: Option<Candidate>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Whether a failed verification switches back by itself.
    pub auto_rollback: bool,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Deploy { target } => write!(f, "deploy to the idle slot of {target}"),
            Step::Validate { name, command } => {
                write!(f, "validate the idle slot: {name} (`{command}`)")
            }
            Step::Switch => f.write_str("switch live traffic to it"),
            Step::WatchHealth { secs } => write!(f, "watch the live address's health for {secs}s"),
            Step::Verify { name, command } => write!(f, "verify live: {name} (`{command}`)"),
            Step::Record => f.write_str("record the outcome"),
        }
    }
}

impl Plan {
    /// The plan for a reader: what goes where, the steps numbered.
    pub fn render(&self) -> String {
        let mut s = format!(
            "promote {} ({}) from {} into {}{}:\n",
            self.candidate.version,
            short(&self.candidate.sha256),
            self.from,
            self.env,
            self.replaces
                .as_ref()
                .map(|r| format!(", replacing {}", r.version))
                .unwrap_or_default()
        );
        for (i, step) in self.steps.iter().enumerate() {
            s.push_str(&format!("  {}. {step}\n", i + 1));
        }
        s.push_str(&format!(
            "  automatic rollback if a check after the switch fails: {}",
            if self.auto_rollback { "yes" } else { "no" }
        ));
        s
    }
}

/// The first 12 characters of a digest (on a character boundary).
pub fn short(d: &str) -> &str {
    d.char_indices().nth(12).map_or(d, |(i, _)| &d[..i])
}

/// `pipeline-promote promote --json`: how the promotion ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoteDoc {
    /// [`PromoteDoc::SCHEMA`].
    pub schema: String,
    /// The environment.
    pub env: String,
    /// The release.
    pub version: String,
    /// Its artifact's SHA-256.
    pub sha256: String,
    /// `live`, `validation-failed`, `rolled-back` or `verification-failed`.
    pub outcome: String,
    /// What happened, in one sentence.
    pub message: String,
}

impl PromoteDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-promote/promote/v1";
}

/// `pipeline-promote promote --dry-run --json`: what would be done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDoc {
    /// [`PlanDoc::SCHEMA`].
    pub schema: String,
    /// The plan.
    pub plan: Plan,
}

impl PlanDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-promote/plan/v1";
}

/// One environment in [`StatusDoc`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvStatusRow {
    /// The environment.
    pub env: String,
    /// Its newest record.
    pub record: Option<Record>,
    /// Whether its live address answers healthy (`null`: not asked).
    pub healthy: Option<bool>,
    /// The slot taking live traffic.
    pub slot: Option<String>,
}

/// `pipeline-promote status --json`: every environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDoc {
    /// [`StatusDoc::SCHEMA`].
    pub schema: String,
    /// The environments, in promotion order.
    pub envs: Vec<EnvStatusRow>,
}

impl StatusDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-promote/status/v1";
}

/// `pipeline-promote history --json`: one environment's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryDoc {
    /// [`HistoryDoc::SCHEMA`].
    pub schema: String,
    /// The environment.
    pub env: String,
    /// Its records, newest first.
    pub records: Vec<Record>,
}

impl HistoryDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-promote/history/v1";
}

/// What a `[[notify]]` webhook of format `json` is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeDoc {
    /// `start`, `success`, `rollback` or `failure`.
    pub event: String,
    /// The environment.
    pub env: String,
    /// The release's version, when one is concerned.
    pub version: Option<String>,
    /// Its artifact's digest.
    pub sha256: Option<String>,
    /// Where it came from (the previous environment, the build).
    pub from: Option<String>,
    /// What happened, in one sentence.
    pub message: String,
    /// Where live traffic reaches the environment, when known.
    pub url: Option<String>,
    /// Who or what promoted.
    pub by: String,
    /// When (Unix seconds).
    pub at: u64,
    /// [`NoticeDoc::SCHEMA`].
    pub schema: String,
}

impl NoticeDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-promote/notice/v1";
}
