//! What an environment is: declared through the API, kept in the state.

pub use pipeline_contracts::agent::{DEFAULT_DRAIN_TIMEOUT_SECS, EnvSpec, MAX_SECS, RESERVED_VARS};

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
