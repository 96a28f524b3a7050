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
pub mod plan;
pub mod record;
pub mod store;

pub use config::{ConfigError, PipelineConfig, TargetConfig};
pub use plan::{Candidate, Decision, EnvNow, Plan, Refusal, Step, plan};
pub use record::{Outcome, Record};
pub use store::{GitStore, LockGuard, LockInfo, Revision, StateStore, StoreError, Stored};

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

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    let date = pipeline_gitflow::Date::from_unix_seconds(i64::try_from(secs).unwrap_or(i64::MAX));
    let rem = secs % 86_400;
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_711_845), "2026-11-26T16:50:45Z");
    }
}
