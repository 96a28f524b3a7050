//! What an environment is: declared through the API, kept in the state.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// One environment: a front address, the command that starts the app, and
/// how to tell it is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    /// The stable address clients use (the reverse proxy listens there).
    pub front: SocketAddr,
    /// The command, run with `sh -c` in the release's directory.
    pub command: String,
    /// The path probed for health.
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// The status a healthy app answers.
    #[serde(default = "default_expect_status")]
    pub expect_status: u16,
    /// How long a new release may take to become healthy.
    #[serde(default = "default_health_timeout")]
    pub health_timeout_secs: u64,
    /// How long the old live slot stays running after a switch, for an
    /// instant switch back.
    #[serde(default = "default_keep_warm")]
    pub keep_warm_secs: u64,
    /// How long a slot about to be stopped (its warm time over, or a
    /// deploy into it) waits for the requests it is still answering; past
    /// it they are cut, and counted.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_secs: u64,
    /// More environment variables for the app.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

fn default_health_path() -> String {
    "/health".to_owned()
}
fn default_expect_status() -> u16 {
    200
}
fn default_health_timeout() -> u64 {
    60
}
fn default_keep_warm() -> u64 {
    300
}
/// The default of [`EnvSpec::drain_timeout_secs`].
pub const DEFAULT_DRAIN_TIMEOUT_SECS: u64 = 30;
fn default_drain_timeout() -> u64 {
    DEFAULT_DRAIN_TIMEOUT_SECS
}

/// The longest timeout accepted (a day).
pub const MAX_SECS: u64 = 86_400;

/// Variables the agent sets itself; an environment may not override them.
pub const RESERVED_VARS: [&str; 4] = ["PORT", "PIPELINE_ENV", "PIPELINE_SLOT", "PIPELINE_VERSION"];

impl EnvSpec {
    /// Checks the fields serde cannot: a message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.command.trim().is_empty() {
            return Err("`command` is empty".to_owned());
        }
        if !self.health_path.starts_with('/') {
            return Err(format!(
                "`health_path` `{}` must start with /",
                self.health_path
            ));
        }
        if !(100..=599).contains(&self.expect_status) {
            return Err(format!(
                "`expect_status` {} is not an HTTP status",
                self.expect_status
            ));
        }
        if self.health_timeout_secs == 0 || self.health_timeout_secs > MAX_SECS {
            return Err(format!("`health_timeout_secs` must be 1 to {MAX_SECS}"));
        }
        if self.keep_warm_secs > MAX_SECS {
            return Err(format!("`keep_warm_secs` must be at most {MAX_SECS}"));
        }
        if self.drain_timeout_secs > MAX_SECS {
            return Err(format!("`drain_timeout_secs` must be at most {MAX_SECS}"));
        }
        if self.front.port() == 0 {
            return Err("`front` needs a port".to_owned());
        }
        for key in self.env.keys() {
            if RESERVED_VARS.contains(&key.as_str()) {
                return Err(format!("`env` may not set {key}: the agent sets it"));
            }
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(format!("`env` has an invalid name `{key}`"));
            }
        }
        Ok(())
    }
}

pub use pipeline_ci::valid_env_name;

/// Whether `v` is a valid release version: 1 to 64 of `[A-Za-z0-9._+-]`,
/// not starting with a dot.
pub fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && !v.starts_with('.')
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        assert!(valid_env_name("qa"));
        assert!(valid_env_name("prod-eu-1"));
        assert!(!valid_env_name("-qa"));
        assert!(!valid_env_name("QA"));
        assert!(!valid_env_name("a/b"));
        assert!(!valid_env_name(""));
        assert!(valid_version("1.2.0"));
        assert!(valid_version("1.2.0-rc.1+build.5"));
        assert!(!valid_version("../1"));
        assert!(!valid_version("1/2"));
        assert!(!valid_version(".."));
        assert!(!valid_version(""));
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let spec: EnvSpec =
            serde_json::from_str(r#"{"front":"127.0.0.1:8080","command":"./run"}"#).unwrap();
        assert_eq!(spec.health_path, "/health");
        assert_eq!(spec.keep_warm_secs, 300);
        assert_eq!(spec.drain_timeout_secs, 30);
        assert!(spec.validate().is_ok());
        let err = serde_json::from_str::<EnvSpec>(
            r#"{"front":"127.0.0.1:8080","command":"./run","helth":"/x"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `helth`"));
        let mut bad = spec.clone();
        bad.env.insert("PORT".into(), "1".into());
        assert!(bad.validate().unwrap_err().contains("PORT"));
    }
}
