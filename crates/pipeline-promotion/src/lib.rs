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
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
