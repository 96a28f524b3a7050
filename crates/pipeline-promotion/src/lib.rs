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

/// `YYYY-MM-DDTHH:MM:SSZ` (as GitHub writes its times) as Unix seconds;
/// `None` for anything else or before 1970.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let date = pipeline_gitflow::Date::new(
        u16::try_from(year).ok()?,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
    )?;
    if year < 1970 || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let (y, m, d) = (
        i64::from(date.year()) - i64::from(date.month() <= 2),
        i64::from(date.month()),
        i64::from(date.day()),
    );
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_parses_what_it_writes_and_nothing_else() {
        for secs in [0, 951_782_400, 1_795_711_845, 4_102_444_799, 86_399, 86_400] {
            assert_eq!(super::parse_rfc3339(&super::rfc3339(secs)), Some(secs));
        }
        for bad in [
            "",
            "2026-11-26 16:50:45Z",
            "2026-02-30T00:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T16:50:45+01:00",
            "1969-12-31T23:59:59Z",
            "2026-1a-26T16:50:45Z",
            "+026-11-26T16:50:45Z",
        ] {
            assert_eq!(super::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_711_845), "2026-11-26T16:50:45Z");
    }
}
