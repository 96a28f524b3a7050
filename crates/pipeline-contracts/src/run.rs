//! `pipeline run --json`: what the whole job did.

use serde::{Deserialize, Serialize};

/// One environment the job promoted into (or tried to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvRun {
    /// The environment.
    pub env: String,
    /// `live`, `already-there`, `validation-failed`, `rolled-back`,
    /// `verification-failed`, `planned` or `error`.
    pub outcome: String,
}

/// `pipeline run --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDoc {
    /// [`RunDoc::SCHEMA`].
    pub schema: String,
    /// Whether it only planned.
    pub dry_run: bool,
    /// The exit code of the run.
    pub exit: u8,
    /// The version released (or found released, or planned).
    pub version: Option<String>,
    /// Its artifact's SHA-256, once packaged.
    pub sha256: Option<String>,
    /// The gate's verdict, once judged.
    pub gate_passed: Option<bool>,
    /// The environments, in the order promoted.
    pub environments: Vec<EnvRun>,
}

impl RunDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline/run/v1";
}
