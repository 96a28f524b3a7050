//! Deployment: what a target reports of its slots, a deploy and a switch,
//! and the documents `pipeline-deploy --json` prints.

use serde::{Deserialize, Serialize};

/// One slot as a target reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotStatus {
    /// The slot's name (`production`, `staging`, `blue`, …).
    pub slot: String,
    /// Whether live traffic goes to it.
    pub live: bool,
    /// Its own URL, if it has one.
    pub url: Option<String>,
    /// The version recorded for it, if any.
    pub version: Option<String>,
    /// The artifact digest recorded for it, if any.
    pub sha256: Option<String>,
    /// The platform's own state of it (`Running`, `Stopped`, …).
    pub state: Option<String>,
}

/// Every slot of a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetStatus {
    /// The target, such as `azure:pipeline-app`.
    pub target: String,
    /// The slots, live first.
    pub slots: Vec<SlotStatus>,
}

impl TargetStatus {
    /// The slot taking live traffic.
    pub fn live(&self) -> Option<&SlotStatus> {
        self.slots.iter().find(|s| s.live)
    }

    /// The slot named `name`.
    pub fn slot(&self, name: &str) -> Option<&SlotStatus> {
        self.slots.iter().find(|s| s.slot == name)
    }
}

/// The result of a deploy into the idle slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// The slot deployed to.
    pub slot: String,
    /// Its URL, to validate against before traffic moves.
    pub url: String,
    /// The version now in it, confirmed by its health answer.
    pub version: String,
    /// The artifact digest.
    pub sha256: String,
    /// The platform's deployment id, if it has one.
    pub deployment_id: Option<String>,
}

/// The result of a switch (or a switch back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switched {
    /// The version now live.
    pub live_version: Option<String>,
    /// The version now in the idle slot (what a switch back restores).
    pub idle_version: Option<String>,
    /// Whether the switch had already happened (a re-run after a lost reply).
    pub already: bool,
}

/// `pipeline-deploy package --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageDoc {
    /// [`PackageDoc::SCHEMA`].
    pub schema: String,
    /// The zip written.
    pub artifact: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The files in it.
    pub files: u64,
    /// The bytes of those files.
    pub source_bytes: u64,
}

impl PackageDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-deploy/package/v1";
}

/// `pipeline-deploy verify --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyDoc {
    /// [`VerifyDoc::SCHEMA`].
    pub schema: String,
    /// The artifact.
    pub artifact: String,
    /// The SHA-256 it has.
    pub sha256: String,
    /// Always true: a mismatch is an error.
    pub verified: bool,
}

impl VerifyDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-deploy/verify/v1";
}

/// `pipeline-deploy azure|cloud-run|local … --json`: what an action on a
/// target did. The schema names the target's kind
/// (`pipeline-deploy/azure/v1`, `pipeline-deploy/cloud-run/v1`,
/// `pipeline-deploy/local/v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetDoc {
    /// `pipeline-deploy/<kind>/v1`.
    pub schema: String,
    /// `deploy`, `swap`, `rollback` or `status`.
    pub action: String,
    /// What a deploy did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<Deployed>,
    /// How long a deploy took, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// What a swap or a rollback did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switched: Option<Switched>,
    /// The target's slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TargetStatus>,
    /// With `--dry-run`: what the action would do; nothing was changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRun>,
    /// What names the target (`resource_group`, `app`, `slot`; `project`,
    /// `region`, `service`; `env`).
    #[serde(flatten)]
    pub target: std::collections::BTreeMap<String, String>,
}

/// What a deploy, swap or rollback would do (`--dry-run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    /// One sentence per effect, in order.
    pub effects: Vec<String>,
    /// Why it would be refused, when the target's status already tells.
    pub refused: Option<String>,
}

impl TargetDoc {
    /// The schema of a document about a target of `kind`.
    pub fn schema(kind: &str) -> String {
        format!("pipeline-deploy/{kind}/v1")
    }
}
