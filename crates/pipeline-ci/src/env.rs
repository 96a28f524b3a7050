//! A snapshot of the process environment and the decisions taken from it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::Secret;

/// A snapshot of environment variables, taken once by the binary and handed
/// to the library.
///
/// The library never reads the process environment itself; tests build an
/// `Env` from literal pairs instead of mutating the real environment.
///
/// `Debug` lists the variable names only: values such as `GITHUB_TOKEN` must
/// never reach a log line.
///
/// ```
/// use pipeline_ci::Env;
///
/// let env = Env::from_vars([("GITHUB_ACTIONS", "true"), ("CI", "true")]);
/// assert!(env.is_github_actions());
/// assert!(env.is_ci());
/// assert_eq!(env.get("CI"), Some("true"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// Builds a snapshot from name/value pairs, typically `std::env::vars()`.
    ///
    /// When a name repeats, the last value wins, as it would in a process
    /// environment. (`std::env::vars()` panics on a variable that is not
    /// valid Unicode; a binary that must tolerate those can filter
    /// `std::env::vars_os()` through `OsString::into_string` instead.)
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: vars
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }

    /// The value of `name`, if set (an empty value counts as set).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The value of `name` wrapped as a [`Secret`], if set and non-empty.
    pub fn get_secret(&self, name: &str) -> Option<Secret> {
        self.non_empty(name).map(Secret::new)
    }

    /// Whether the process runs inside GitHub Actions (`GITHUB_ACTIONS` is
    /// exactly `true`, as the runner sets it).
    pub fn is_github_actions(&self) -> bool {
        self.get("GITHUB_ACTIONS") == Some("true")
    }

    /// Whether the process runs under some CI system: `CI` is set to a value
    /// other than empty, `0`, `false`, `no` or `off` (compared ignoring case).
    pub fn is_ci(&self) -> bool {
        self.get("CI").is_some_and(|value| {
            let value = value.trim();
            !value.is_empty()
                && !["0", "false", "no", "off"]
                    .iter()
                    .any(|falsy| value.eq_ignore_ascii_case(falsy))
        })
    }

    /// Whether `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
    pub fn no_color(&self) -> bool {
        self.non_empty("NO_COLOR").is_some()
    }

    /// The step-outputs file (`GITHUB_OUTPUT`), if set and non-empty.
    pub fn output_file(&self) -> Option<&Path> {
        self.non_empty("GITHUB_OUTPUT").map(Path::new)
    }

    /// The job-summary file (`GITHUB_STEP_SUMMARY`), if set and non-empty.
    pub fn summary_file(&self) -> Option<&Path> {
        self.non_empty("GITHUB_STEP_SUMMARY").map(Path::new)
    }

    /// The checkout directory (`GITHUB_WORKSPACE`), if set and non-empty.
    /// Annotation file paths are relative to it.
    pub fn workspace(&self) -> Option<&Path> {
        self.non_empty("GITHUB_WORKSPACE").map(Path::new)
    }

    fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|value| !value.is_empty())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::from_vars(iter)
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Whether human output should be coloured.
///
/// No colour when `NO_COLOR` is set, when the stream is not a terminal (the
/// caller says so, e.g. with `std::io::IsTerminal`), or when `TERM=dumb`.
///
/// ```
/// use pipeline_ci::{use_color, Env};
///
/// assert!(use_color(&Env::default(), true));
/// assert!(!use_color(&Env::default(), false));
/// assert!(!use_color(&Env::from_vars([("NO_COLOR", "1")]), true));
/// ```
pub fn use_color(env: &Env, is_terminal: bool) -> bool {
    is_terminal && !env.no_color() && env.get("TERM") != Some("dumb")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_actions_requires_exactly_true() {
        assert!(Env::from_vars([("GITHUB_ACTIONS", "true")]).is_github_actions());
        for value in ["TRUE", "1", "", "yes"] {
            assert!(
                !Env::from_vars([("GITHUB_ACTIONS", value)]).is_github_actions(),
                "{value:?}"
            );
        }
        assert!(!Env::default().is_github_actions());
    }

    #[test]
    fn ci_truthiness() {
        for value in ["true", "1", "yes", "TRUE", "woodpecker"] {
            assert!(Env::from_vars([("CI", value)]).is_ci(), "{value:?}");
        }
        for value in ["", " ", "0", "false", "False", "no", "OFF"] {
            assert!(!Env::from_vars([("CI", value)]).is_ci(), "{value:?}");
        }
        assert!(!Env::default().is_ci());
    }

    #[test]
    fn no_color_needs_a_non_empty_value() {
        assert!(Env::from_vars([("NO_COLOR", "1")]).no_color());
        assert!(Env::from_vars([("NO_COLOR", "0")]).no_color());
        assert!(!Env::from_vars([("NO_COLOR", "")]).no_color());
        assert!(!Env::default().no_color());
    }

    #[test]
    fn paths_ignore_empty_values() {
        let env = Env::from_vars([
            ("GITHUB_OUTPUT", "/tmp/out"),
            ("GITHUB_STEP_SUMMARY", ""),
            ("GITHUB_WORKSPACE", "/w"),
        ]);
        assert_eq!(env.output_file(), Some(Path::new("/tmp/out")));
        assert_eq!(env.summary_file(), None);
        assert_eq!(env.workspace(), Some(Path::new("/w")));
    }

    #[test]
    fn last_duplicate_wins() {
        let env = Env::from_vars([("A", "1"), ("A", "2")]);
        assert_eq!(env.get("A"), Some("2"));
    }

    #[test]
    fn debug_shows_names_not_values() {
        let env: Env = [("GITHUB_TOKEN", "ghp_supersecret")].into_iter().collect();
        let debug = format!("{env:?}");
        assert!(debug.contains("GITHUB_TOKEN"), "{debug}");
        assert!(!debug.contains("ghp_supersecret"), "{debug}");
    }

    #[test]
    fn get_secret_skips_empty() {
        let env = Env::from_vars([("T", "s3cr3t"), ("E", "")]);
        assert_eq!(
            env.get_secret("T").map(|s| s.expose().to_owned()),
            Some("s3cr3t".into())
        );
        assert!(env.get_secret("E").is_none());
        assert!(env.get_secret("missing").is_none());
    }

    #[test]
    fn color_decision() {
        let plain = Env::default();
        assert!(use_color(&plain, true));
        assert!(!use_color(&plain, false));
        assert!(!use_color(&Env::from_vars([("NO_COLOR", "x")]), true));
        assert!(use_color(&Env::from_vars([("NO_COLOR", "")]), true));
        assert!(!use_color(&Env::from_vars([("TERM", "dumb")]), true));
        assert!(use_color(
            &Env::from_vars([("TERM", "xterm-256color")]),
            true
        ));
    }
}
