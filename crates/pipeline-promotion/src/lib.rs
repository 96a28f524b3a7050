//! Environments and promotion: the job as `pipeline.toml` describes it.
//!
//! - [`config`]: `pipeline.toml` read strictly: unknown keys are errors,
//!   and every error names the file, the line and the key.
//! - [`mod@plan`]: whether a promotion may happen and what it would do, a pure
//!   function of the configuration, the records and the clock.
//! - [`record`]: what the state store keeps of each change.
//! - [`engine`]: a promotion, run: lock, deploy to the idle slot, validate,
//!   switch, verify, switch back on failure, record.
//! - [`store`]: the state store, what is deployed where and its history, in
//!   refs of the repository's own remote changed by compare-and-swap, with
//!   one lock per environment ([`GitStore`]).
#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod github;
pub mod plan;
pub mod record;
pub mod store;

pub use config::{ConfigError, PipelineConfig, TargetConfig};
pub use github::GitHubStore;
pub use pipeline_gitflow::{parse_rfc3339, rfc3339};
pub use plan::{Candidate, Decision, EnvNow, Plan, Refusal, Step, plan, rollback_plan};
pub use record::{Outcome, Record};
pub use store::{
    AnyStore, GitStore, LockGuard, LockInfo, Revision, StateStore, StoreError, Stored,
};

/// A target in words, such as `local 127.0.0.1:18001` or
/// `azure pipeline-app/staging`.
pub fn describe_target(target: &TargetConfig) -> String {
    match target {
        TargetConfig::Local { front, .. } => format!("local agent, front {front}"),
        TargetConfig::AzureAppService { app, slot, .. } => format!("azure {app}/{slot}"),
        TargetConfig::CloudRun {
            service, region, ..
        } => format!("cloud run {service} ({region})"),
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
