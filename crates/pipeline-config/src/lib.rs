//! `pipeline.toml`, the whole job in one file, as types: the branches of the
//! flow, the test command and its gate, the artifact, the local agent, the
//! state store and the environments in promotion order, each with its
//! target, strategy, checks and requirements.
//!
//! The file is read strictly: unknown keys are errors, and every error names
//! the file, the line, the column and the key. This crate does no I/O: the
//! caller reads the file and hands [`parse`] its text.
//!
//! ```
//! use std::path::Path;
//! use pipeline_config::{parse, Strategy, TargetConfig};
//!
//! let text = r#"
//! [test]
//! command = "pytest"
//! [artifact]
//! source = "app"
//! [[environment]]
//! name = "qa"
//! target = { kind = "local", front = "127.0.0.1:8080", command = "python -m app" }
//! "#;
//! let config = parse(Path::new("pipeline.toml"), text)?;
//! let (_, qa) = config.environment("qa").expect("declared");
//! assert_eq!(qa.strategy, Strategy::BlueGreen);
//! assert!(matches!(qa.target, TargetConfig::Local { .. }));
//!
//! let typo = text.replace("source", "sorce");
//! let e = parse(Path::new("pipeline.toml"), &typo).unwrap_err();
//! assert!(e.to_string().starts_with("pipeline.toml:5:1: unknown field `sorce`"));
//! # Ok::<(), pipeline_config::ConfigError>(())
//! ```
#![warn(missing_docs)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The job.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// The branches and the remote.
    #[serde(default)]
    pub branches: Branches,
    /// The tests and the gate on their reports.
    pub test: TestStep,
    /// How the artifact is built.
    pub artifact: ArtifactStep,
    /// The local agent, for `local` targets.
    #[serde(default)]
    pub agent: AgentSettings,
    /// Where state and history are kept.
    #[serde(default)]
    pub state: StateSettings,
    /// The environments, in promotion order.
    #[serde(rename = "environment")]
    pub environments: Vec<Environment>,
}

/// The branches of the flow.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Branches {
    /// The release branch (`master`).
    pub main: String,
    /// The integration branch (`develop`).
    pub develop: String,
    /// The remote.
    pub remote: String,
    /// The tag prefix (`v`).
    pub tag_prefix: String,
}

impl Default for Branches {
    fn default() -> Self {
        Self {
            main: "master".to_owned(),
            develop: "develop".to_owned(),
            remote: "origin".to_owned(),
            tag_prefix: "v".to_owned(),
        }
    }
}

/// The test command, its reports and the gate.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestStep {
    /// The command (run with `sh -c` at the repository root).
    pub command: String,
    /// Its deadline.
    #[serde(default = "default_test_timeout")]
    pub timeout_secs: u64,
    /// The reports it writes (paths or globs, relative to the root).
    #[serde(default)]
    pub reports: Reports,
    /// The directory that file paths inside the reports are relative to.
    pub workspace: Option<PathBuf>,
    /// The gate's thresholds.
    #[serde(default)]
    pub gate: Gate,
}

fn default_test_timeout() -> u64 {
    1800
}

/// Report paths.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Reports {
    /// JUnit XML.
    #[serde(default)]
    pub junit: Vec<String>,
    /// Cobertura XML.
    #[serde(default)]
    pub cobertura: Vec<String>,
    /// pylint output.
    #[serde(default)]
    pub pylint: Vec<String>,
}

/// The gate's thresholds (absent: not checked).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Failed plus errored tests allowed.
    #[serde(default)]
    pub max_failures: u64,
    /// Line coverage, percent.
    pub min_line_coverage: Option<f64>,
    /// Branch coverage, percent.
    pub min_branch_coverage: Option<f64>,
    /// pylint score, out of 10.
    pub min_pylint_score: Option<f64>,
}

/// The artifact.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactStep {
    /// The directory packaged.
    pub source: PathBuf,
    /// The zip written.
    #[serde(default = "default_artifact_out")]
    pub out: PathBuf,
    /// More exclusions (gitignore syntax).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where built artifacts are kept by digest (`<sha256>.zip`), so that
    /// every promotion moves the same bytes.
    #[serde(default = "default_artifact_store")]
    pub store: PathBuf,
}

fn default_artifact_store() -> PathBuf {
    PathBuf::from(".pipeline/artifacts")
}

fn default_artifact_out() -> PathBuf {
    PathBuf::from("dist/app.zip")
}

/// The local agent's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// Its state directory (relative to the repository root).
    pub state_dir: PathBuf,
    /// Its admin address (`127.0.0.1:0` picks one).
    pub listen: SocketAddr,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from(".pipeline/agent"),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// Where the record of what runs where is kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "kind")]
pub enum StateSettings {
    /// Refs in the repository's own remote (`refs/pipeline/…`).
    #[default]
    Git,
    /// GitHub Deployments.
    GithubDeployments {
        /// `owner/name`.
        repository: String,
    },
}

/// One environment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Its name (`ci`, `dev`, `qa`, `staging`, `production`, …).
    pub name: String,
    /// Where it runs.
    pub target: TargetConfig,
    /// How a release goes live.
    #[serde(default)]
    pub strategy: Strategy,
    /// Checks against the idle slot before traffic moves.
    #[serde(default)]
    pub validate: Vec<Check>,
    /// Checks after the switch.
    #[serde(default)]
    pub verify: Verify,
    /// Whether a failed verification switches back by itself.
    #[serde(default = "yes")]
    pub auto_rollback: bool,
    /// What a promotion into it requires.
    #[serde(default)]
    pub requires: Requirements,
}

fn yes() -> bool {
    true
}

/// Where an environment runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "kind")]
pub enum TargetConfig {
    /// An environment of the local agent.
    Local {
        /// The front address.
        front: SocketAddr,
        /// The command that starts the app in the release directory.
        command: String,
        /// The health path.
        #[serde(default = "default_health_path")]
        health_path: String,
        /// How long a release may take to become healthy.
        #[serde(default = "default_health_timeout")]
        health_timeout_secs: u64,
        /// How long the old slot stays warm.
        #[serde(default = "default_keep_warm")]
        keep_warm_secs: u64,
        /// How long a slot about to be stopped waits for the requests it
        /// still answers (past it they are cut, and counted).
        #[serde(default = "default_drain_timeout")]
        drain_timeout_secs: u64,
    },
    /// An Azure App Service deployment slot.
    AzureAppService {
        /// The subscription id.
        subscription: String,
        /// The resource group.
        resource_group: String,
        /// The app.
        app: String,
        /// The slot.
        #[serde(default = "default_slot")]
        slot: String,
        /// The health path.
        #[serde(default = "default_health_path")]
        health_path: String,
    },
    /// A Google Cloud Run service.
    CloudRun {
        /// The project.
        project: String,
        /// The region.
        region: String,
        /// The service.
        service: String,
        /// The image (by digest).
        image: String,
        /// The health path.
        #[serde(default = "default_health_path")]
        health_path: String,
    },
}

fn default_health_path() -> String {
    "/health".to_owned()
}
fn default_health_timeout() -> u64 {
    120
}
fn default_keep_warm() -> u64 {
    300
}
fn default_drain_timeout() -> u64 {
    30
}
fn default_slot() -> String {
    "staging".to_owned()
}

/// How a release goes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Into the idle slot, validated, then switched.
    #[default]
    BlueGreen,
    /// Into the idle slot and switched as soon as it is healthy (no
    /// validations before the switch; the checks after it still run).
    Direct,
}

/// A command run with the slot's URL in `SLOT_URL` (and `PIPELINE_VERSION`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// What it checks.
    pub name: String,
    /// The command (`sh -c`, at the repository root).
    pub command: String,
    /// Its deadline.
    #[serde(default = "default_check_timeout")]
    pub timeout_secs: u64,
}

fn default_check_timeout() -> u64 {
    300
}

/// What is checked after the switch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// How long the live slot must stay healthy.
    #[serde(default)]
    pub health_for_secs: u64,
    /// Commands run against the live URL.
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// What a promotion into an environment requires.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Requirements {
    /// The previous environment must run the same digest, healthy, for at
    /// least this long.
    pub soak_secs: u64,
    /// A passed gate for the version.
    pub gate: bool,
}

impl Default for Requirements {
    fn default() -> Self {
        Self {
            soak_secs: 0,
            gate: true,
        }
    }
}

/// Why `pipeline.toml` was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// It could not be read (by the caller: this crate does no I/O).
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TOML that does not parse or does not fit: unknown keys, wrong types,
    /// missing keys. The message has the line, the column and the key.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's words (naming the key).
        message: String,
    },
    /// Values that parse but make no sense together.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key, as a path (`environment[2].name`).
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl pipeline_ci::Classified for ConfigError {
    fn exit(&self) -> pipeline_ci::Exit {
        pipeline_ci::Exit::Usage
    }
}

/// Parses and checks the text of `pipeline.toml` (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<PipelineConfig, ConfigError> {
    let config: PipelineConfig = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or((1, 1));
        let mut message = e.message().trim().to_owned();
        if let Some(key) = e.span().and_then(|span| key_before(text, span.start))
            && !message.contains(&format!("`{key}`"))
        {
            message = format!("{key}: {message}");
        }
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    })?;
    validate(path, &config)?;
    Ok(config)
}

/// The key a value at `offset` belongs to: the name before the nearest `=`
/// on its line, before the value.
fn key_before(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let line = &before[line_start..];
    let eq = line.rfind('=')?;
    let key: String = line[..eq]
        .trim_end()
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let key = key.trim_matches('"').to_owned();
    (!key.is_empty()).then_some(key)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |n| before.len() - n - 1)
        + 1;
    (line, column)
}

fn validate(path: &Path, c: &PipelineConfig) -> Result<(), ConfigError> {
    let invalid = |key: String, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        key,
        message,
    };
    if c.test.command.trim().is_empty() {
        return Err(invalid("test.command".into(), "is empty".into()));
    }
    for (key, v, max) in [
        (
            "test.gate.min_line_coverage",
            c.test.gate.min_line_coverage,
            100.0,
        ),
        (
            "test.gate.min_branch_coverage",
            c.test.gate.min_branch_coverage,
            100.0,
        ),
        (
            "test.gate.min_pylint_score",
            c.test.gate.min_pylint_score,
            10.0,
        ),
    ] {
        if let Some(v) = v
            && !(0.0..=max).contains(&v)
        {
            return Err(invalid(
                key.into(),
                format!("{v} is not between 0 and {max}"),
            ));
        }
    }
    if c.environments.is_empty() {
        return Err(invalid(
            "environment".into(),
            "at least one [[environment]] is needed".into(),
        ));
    }
    let mut names = BTreeSet::new();
    let mut fronts = BTreeSet::new();
    for (i, env) in c.environments.iter().enumerate() {
        let key = |k: &str| format!("environment[{i}].{k}");
        if !valid_env_name(&env.name) {
            return Err(invalid(
                key("name"),
                format!("`{}` is not a name ([a-z0-9][a-z0-9-]{{0,39}})", env.name),
            ));
        }
        if !names.insert(env.name.clone()) {
            return Err(invalid(
                key("name"),
                format!("`{}` is declared twice", env.name),
            ));
        }
        let (TargetConfig::Local { health_path, .. }
        | TargetConfig::AzureAppService { health_path, .. }
        | TargetConfig::CloudRun { health_path, .. }) = &env.target;
        if !health_path.starts_with('/') {
            return Err(invalid(
                key("target.health_path"),
                format!("`{health_path}` must start with /"),
            ));
        }
        if let TargetConfig::Local { front, command, .. } = &env.target {
            if !fronts.insert(*front) {
                return Err(invalid(
                    key("target.front"),
                    format!("{front} is the front of another environment"),
                ));
            }
            if command.trim().is_empty() {
                return Err(invalid(key("target.command"), "is empty".into()));
            }
        }
        if let TargetConfig::CloudRun { image, .. } = &env.target
            && !image.contains("@sha256:")
        {
            return Err(invalid(
                key("target.image"),
                format!("`{image}` has no digest (IMAGE@sha256:…): promotion moves the same bytes"),
            ));
        }
        for (j, check) in env.validate.iter().chain(&env.verify.checks).enumerate() {
            if check.command.trim().is_empty() {
                return Err(invalid(
                    key(&format!("checks[{j}].command")),
                    "is empty".into(),
                ));
            }
        }
    }
    Ok(())
}

pub use pipeline_ci::valid_env_name;

impl TargetConfig {
    /// The target in words, such as `local agent, front 127.0.0.1:18001`
    /// or `azure pipeline-app/staging`.
    pub fn describe(&self) -> String {
        match self {
            TargetConfig::Local { front, .. } => format!("local agent, front {front}"),
            TargetConfig::AzureAppService { app, slot, .. } => format!("azure {app}/{slot}"),
            TargetConfig::CloudRun {
                service, region, ..
            } => format!("cloud run {service} ({region})"),
        }
    }

    /// The path every target probes for health.
    pub fn health_path(&self) -> &str {
        let (TargetConfig::Local { health_path, .. }
        | TargetConfig::AzureAppService { health_path, .. }
        | TargetConfig::CloudRun { health_path, .. }) = self;
        health_path
    }
}

impl PipelineConfig {
    /// The environment named `name`, with its position.
    pub fn environment(&self, name: &str) -> Option<(usize, &Environment)> {
        self.environments
            .iter()
            .enumerate()
            .find(|(_, e)| e.name == name)
    }

    /// The environment before `name` in promotion order.
    pub fn previous(&self, name: &str) -> Option<&Environment> {
        let (i, _) = self.environment(name)?;
        i.checked_sub(1).and_then(|p| self.environments.get(p))
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[test]
command = "bash app/ci/test.sh reports"
reports = { junit = ["reports/junit-*.xml"], cobertura = ["reports/coverage.xml"], pylint = ["reports/pylint.json"] }
gate = { min_line_coverage = 80, min_pylint_score = 8.5 }

[artifact]
source = "app"

[[environment]]
name = "ci"
target = { kind = "local", front = "127.0.0.1:18001", command = "bash run.sh" }

[[environment]]
name = "production"
strategy = "blue-green"
target = { kind = "local", front = "127.0.0.1:18005", command = "bash run.sh", keep_warm_secs = 60 }
requires = { soak_secs = 30 }
validate = [{ name = "integration", command = "pytest tests/integration", timeout_secs = 120 }]
verify = { health_for_secs = 10 }
"#;

    fn err(text: &str) -> String {
        parse(Path::new("pipeline.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_good_file() {
        let c = parse(Path::new("pipeline.toml"), GOOD).unwrap();
        assert_eq!(c.branches.main, "master");
        assert_eq!(c.environments.len(), 2);
        assert_eq!(c.previous("production").unwrap().name, "ci");
        assert!(c.previous("ci").is_none());
        assert_eq!(c.test.gate.min_line_coverage, Some(80.0));
        assert_eq!(c.environments[1].requires.soak_secs, 30);
        assert!(c.environments[1].auto_rollback);
        assert_eq!(c.artifact.out, PathBuf::from("dist/app.zip"));
        let drain = |c: &PipelineConfig, i: usize| match &c.environments[i].target {
            TargetConfig::Local {
                drain_timeout_secs, ..
            } => *drain_timeout_secs,
            _ => panic!("not local"),
        };
        assert_eq!(drain(&c, 0), 30);
        let c = parse(
            Path::new("pipeline.toml"),
            &GOOD.replace(
                "keep_warm_secs = 60",
                "keep_warm_secs = 60, drain_timeout_secs = 90",
            ),
        )
        .unwrap();
        assert_eq!(drain(&c, 1), 90);
    }

    #[test]
    fn unknown_keys_name_the_line_and_key() {
        let text = GOOD.replace("[artifact]\nsource", "[artifact]\nsorce");
        let e = err(&text);
        assert!(
            e.starts_with("pipeline.toml:8:1: unknown field `sorce`"),
            "{e}"
        );
        let text = GOOD.replace("strategy = \"blue-green\"", "strategy = \"canary\"");
        let e = err(&text);
        assert_eq!(
            e,
            "pipeline.toml:16:12: strategy: unknown variant `canary`, expected `blue-green` or `direct`"
        );
        let e = err(&GOOD.replace("keep_warm_secs = 60", "keep_warm = 60"));
        assert!(e.contains("unknown field `keep_warm`"), "{e}");
        let e = err("[test]\ncommand = 3\n");
        assert!(e.starts_with("pipeline.toml:2:11: command: "), "{e}");
        let e = err("[test\n");
        assert!(e.starts_with("pipeline.toml:1:"), "{e}");
    }

    #[test]
    fn values_that_make_no_sense() {
        let e = err(&GOOD.replace("name = \"ci\"", "name = \"production\""));
        assert_eq!(
            e,
            "pipeline.toml: environment[1].name: `production` is declared twice"
        );
        let e = err(&GOOD.replace("18005", "18001"));
        assert!(e.contains("environment[1].target.front"), "{e}");
        let e = err(&GOOD.replace("min_line_coverage = 80", "min_line_coverage = 180"));
        assert!(
            e.contains("test.gate.min_line_coverage: 180 is not between 0 and 100"),
            "{e}"
        );
        let e = err(&GOOD.replace("name = \"ci\"", "name = \"CI\""));
        assert!(e.contains("environment[0].name"), "{e}");
    }

    #[test]
    fn cloud_environments_take_a_health_path_too() {
        let image = format!("europe-docker.pkg.dev/p/r/app@sha256:{}", "a".repeat(64));
        let cloud_run = |extra: &str| {
            GOOD.replace(
                r#"target = { kind = "local", front = "127.0.0.1:18005", command = "bash run.sh", keep_warm_secs = 60 }"#,
                &format!(
                    r#"target = {{ kind = "cloud-run", project = "p", region = "europe-west1", service = "app", image = "{image}"{extra} }}"#
                ),
            )
        };
        let c = parse(Path::new("pipeline.toml"), &cloud_run("")).unwrap();
        assert!(matches!(
            &c.environments[1].target,
            TargetConfig::CloudRun { health_path, .. } if health_path == "/health"
        ));
        let c = parse(
            Path::new("pipeline.toml"),
            &cloud_run(r#", health_path = "/healthz""#),
        )
        .unwrap();
        assert!(matches!(
            &c.environments[1].target,
            TargetConfig::CloudRun { health_path, .. } if health_path == "/healthz"
        ));
        let e = err(&cloud_run(r#", health_path = "healthz""#));
        assert_eq!(
            e,
            "pipeline.toml: environment[1].target.health_path: `healthz` must start with /"
        );
    }
}
