//! `pipeline.toml`, the whole job in one file, as types: the branches of the
//! flow, the test command and its gate, the artifact, the local agent, the
//! state store and the environments in promotion order, each with its
//! target, strategy, checks and requirements.
//!
//! The file is read strictly: unknown keys are errors, and every error names
//! the file, the line, the column and the key. This crate does no I/O: the
//! caller reads the file and hands [`parse`] its text.
//!
//! What the environments share is said once in `[defaults]` (an
//! environment's own keys win; tables merge key by key, arrays are
//! replaced); every `*_secs` key also takes a duration such as `"1h30m"`
//! ([`parse_duration`]); `env` and `secrets` are an environment's app
//! settings, the secrets by the name of the variable that holds them; a
//! Cloud Run image is filled in for each release
//! ([`TargetConfig::image_for`]).
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

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

mod prepare;

pub use prepare::{RESERVED_VARS, parse_duration};

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
    /// Webhooks told of promotions (`[[notify]]`).
    #[serde(default, rename = "notify")]
    pub notify: Vec<Notify>,
}

/// A webhook told when a promotion starts, goes live, is rolled back or
/// fails (`[[notify]]`). Its URL is a secret (a Slack incoming webhook's
/// path is its key): the file names the runner's variable that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// The variable holding the webhook's URL.
    pub url_var: String,
    /// The body sent.
    #[serde(default)]
    pub format: NotifyFormat,
    /// What is told [default: all four].
    #[serde(default = "every_notice")]
    pub on: Vec<NotifyOn>,
}

/// The body a webhook gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyFormat {
    /// A JSON document of the event (`pipeline-promote/notice/v1`).
    #[default]
    Json,
    /// Slack's incoming-webhook shape, `{"text": …}`.
    Slack,
}

/// What a webhook is told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyOn {
    /// A promotion starts (after the policy allowed it).
    Start,
    /// A release went live.
    Success,
    /// Traffic went back: a failed verification, or a rollback asked for.
    Rollback,
    /// A promotion failed: validation, or an error on the way.
    Failure,
}

fn every_notice() -> Vec<NotifyOn> {
    vec![
        NotifyOn::Start,
        NotifyOn::Success,
        NotifyOn::Rollback,
        NotifyOn::Failure,
    ]
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
    #[serde(default = "default_test_timeout", deserialize_with = "secs")]
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
    /// App settings: variables given to the app as they are written (the
    /// agent's environment of the app, App Service's app settings).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secrets by reference: the app's variable, and the name of the
    /// runner's variable whose value it gets at promotion time (never the
    /// value itself).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// A number of seconds: a TOML integer, or a string such as `"30s"`,
/// `"5m"`, `"2h"`, `"1h30m"` (see [`parse_duration`]).
fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct Secs;
    impl serde::de::Visitor<'_> for Secs {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("seconds, as an integer or a string such as \"30s\", \"5m\", \"1h30m\"")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("{v} seconds is negative")))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            parse_duration(v).map_err(E::custom)
        }
    }
    d.deserialize_any(Secs)
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
        #[serde(default = "default_health_timeout", deserialize_with = "secs")]
        health_timeout_secs: u64,
        /// How long the old slot stays warm.
        #[serde(default = "default_keep_warm", deserialize_with = "secs")]
        keep_warm_secs: u64,
        /// How long a slot about to be stopped waits for the requests it
        /// still answers (past it they are cut, and counted).
        #[serde(default = "default_drain_timeout", deserialize_with = "secs")]
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
        /// The image: a reference pinned by digest (`REPO@sha256:…`), or
        /// one the release fills in, with `{version}` and `{sha256}` in it
        /// or no digest at all (then `@sha256:<the release's digest>` is
        /// added); see [`TargetConfig::image_for`].
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
    #[serde(default = "default_check_timeout", deserialize_with = "secs")]
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
    #[serde(default, deserialize_with = "secs")]
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
    #[serde(deserialize_with = "secs")]
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

/// Parses and checks the text of `pipeline.toml` (`path` names it in errors):
/// durations written as strings are read, `[defaults]` is merged into every
/// `[[environment]]`, then the whole is read strictly and checked.
pub fn parse(path: &Path, text: &str) -> Result<PipelineConfig, ConfigError> {
    let syntax = |offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let toml_error = |e: toml::de::Error| {
        let mut message = e.message().trim().to_owned();
        if let Some(key) = e.span().and_then(|span| key_before(text, span.start))
            && !message.contains(&format!("`{key}`"))
        {
            message = format!("{key}: {message}");
        }
        syntax(e.span().map_or(0, |span| span.start), message)
    };
    let mut doc = toml::de::DeTable::parse(text).map_err(toml_error)?;
    prepare::prepare(doc.get_mut()).map_err(|(span, message)| syntax(span.start, message))?;
    let spans = doc.get_ref().clone();
    let config =
        PipelineConfig::deserialize(toml::de::Deserializer::from(doc)).map_err(toml_error)?;
    // The checks serde cannot make name their key; the place it is written
    // (in its environment, or in `[defaults]`) is found again by that key.
    validate(path, &config).map_err(|e| match e {
        ConfigError::Invalid { key, message, .. } => match span_of(&spans, &key) {
            Some(offset) => syntax(offset, format!("{key}: {message}")),
            None => ConfigError::Invalid {
                path: path.to_path_buf(),
                key,
                message,
            },
        },
        other => other,
    })?;
    Ok(config)
}

/// Where the value of `key` (`environment[2].target.front`, `test.command`)
/// is written in `doc`.
fn span_of(doc: &toml::de::DeTable<'_>, key: &str) -> Option<usize> {
    use toml::de::DeValue;
    let mut table = doc;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (
                name,
                Some(rest.trim_end_matches(']').parse::<usize>().ok()?),
            ),
            None => (part, None),
        };
        let mut value = table.get(name)?;
        if let Some(i) = index {
            let DeValue::Array(items) = value.get_ref() else {
                return None;
            };
            value = items.get(i)?;
        }
        if parts.peek().is_none() {
            return Some(value.span().start);
        }
        let DeValue::Table(next) = value.get_ref() else {
            return None;
        };
        table = next;
    }
    None
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
    for (i, n) in c.notify.iter().enumerate() {
        if !prepare::is_var_name(&n.url_var) {
            return Err(invalid(
                format!("notify[{i}].url_var"),
                // The value is not repeated: it may be the URL itself.
                "is not a variable name: give the name of the variable that holds the \
                 webhook's URL, never the URL"
                    .to_owned(),
            ));
        }
        if n.on.is_empty() {
            return Err(invalid(
                format!("notify[{i}].on"),
                "is empty: leave it out to be told of everything".into(),
            ));
        }
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
            && let Err(why) = check_image(image)
        {
            return Err(invalid(key("target.image"), why));
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

/// The placeholders an image may hold.
const IMAGE_PLACEHOLDERS: [&str; 2] = ["{version}", "{sha256}"];

fn check_image(image: &str) -> Result<(), String> {
    let mut rest = image;
    while let Some(open) = rest.find('{') {
        let tail = &rest[open..];
        let Some(p) = IMAGE_PLACEHOLDERS.iter().find(|p| tail.starts_with(**p)) else {
            return Err(format!(
                "`{image}`: unknown placeholder at `{tail}` (`{{version}}` and `{{sha256}}` are \
                 filled in with the release)"
            ));
        };
        rest = &tail[p.len()..];
    }
    if rest.contains('}') {
        return Err(format!("`{image}`: a `}}` without its `{{`"));
    }
    let repo = image.split(['@', ':']).next().unwrap_or_default();
    if repo.trim().is_empty() || image.trim() != image {
        return Err(format!("`{image}` has no repository"));
    }
    Ok(())
}

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

    /// The image a Cloud Run target deploys for the release `version` with
    /// the digest `sha256` (hex): `{version}` and `{sha256}` filled in, and
    /// `@sha256:<sha256>` added to an image that names no digest. `None`
    /// for other targets. A digest written in the file is kept as written:
    /// the promotion then refuses a release of other bytes.
    ///
    /// ```
    /// # use pipeline_config::TargetConfig;
    /// let t = TargetConfig::CloudRun {
    ///     project: "p".into(), region: "r".into(), service: "app".into(),
    ///     image: "europe-docker.pkg.dev/p/apps/app:{version}".into(),
    ///     health_path: "/health".into(),
    /// };
    /// assert_eq!(
    ///     t.image_for("1.4.0", "ab12").as_deref(),
    ///     Some("europe-docker.pkg.dev/p/apps/app:1.4.0@sha256:ab12"),
    /// );
    /// ```
    pub fn image_for(&self, version: &str, sha256: &str) -> Option<String> {
        let TargetConfig::CloudRun { image, .. } = self else {
            return None;
        };
        let filled = image
            .replace("{version}", version)
            .replace("{sha256}", sha256);
        Some(if filled.contains("@sha256:") {
            filled
        } else {
            format!("{filled}@sha256:{sha256}")
        })
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

    /// The names of the runner's variables that environments read secrets
    /// from, sorted, each once: what a binary masks and redacts.
    pub fn secret_vars(&self) -> Vec<&str> {
        let vars: BTreeSet<&str> = self
            .environments
            .iter()
            .flat_map(|e| e.secrets.values().map(String::as_str))
            .chain(self.notify.iter().map(|n| n.url_var.as_str()))
            .collect();
        vars.into_iter().collect()
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
        // Each names the line and column where the value is written.
        let e = err(&GOOD.replace("name = \"ci\"", "name = \"production\""));
        assert_eq!(
            e,
            "pipeline.toml:15:8: environment[1].name: `production` is declared twice"
        );
        let e = err(&GOOD.replace("18005", "18001"));
        assert!(
            e.starts_with("pipeline.toml:17:36: environment[1].target.front: "),
            "{e}"
        );
        let e = err(&GOOD.replace("min_line_coverage = 80", "min_line_coverage = 180"));
        assert!(
            e.starts_with(
                "pipeline.toml:5:30: test.gate.min_line_coverage: 180 is not between 0 and 100"
            ),
            "{e}"
        );
        let e = err(&GOOD.replace("name = \"ci\"", "name = \"CI\""));
        assert!(
            e.starts_with("pipeline.toml:11:8: environment[0].name"),
            "{e}"
        );
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
            "pipeline.toml:17:216: environment[1].target.health_path: `healthz` must start with /"
        );
    }

    fn local(c: &PipelineConfig, name: &str) -> (String, u64, u64, u64) {
        match &c.environment(name).unwrap().1.target {
            TargetConfig::Local {
                command,
                health_timeout_secs,
                keep_warm_secs,
                drain_timeout_secs,
                ..
            } => (
                command.clone(),
                *health_timeout_secs,
                *keep_warm_secs,
                *drain_timeout_secs,
            ),
            other => panic!("not local: {other:?}"),
        }
    }

    const DEFAULTED: &str = r#"
[test]
command = "true"
timeout_secs = "1h30m"

[artifact]
source = "app"

[defaults]
target = { kind = "local", command = "exec sh run.sh", health_timeout_secs = "3m", drain_timeout_secs = 45 }
validate = [{ name = "smoke", command = 'bash smoke.sh "$SLOT_URL"', timeout_secs = "1m" }]
verify = { health_for_secs = "10s", checks = [{ name = "e2e", command = "true" }] }
requires = { soak_secs = "5m" }
env = { LOG_LEVEL = "info", REGION = "eu" }
secrets = { DATABASE_PASSWORD = "DATABASE_PASSWORD" }

[[environment]]
name = "qa"
target = { front = "127.0.0.1:18003" }
requires = { gate = false }

[[environment]]
name = "production"
target = { front = "127.0.0.1:18005", health_timeout_secs = 600, keep_warm_secs = "30m" }
validate = []
verify = { health_for_secs = "1m" }
auto_rollback = false
env = { LOG_LEVEL = "warn" }
secrets = { DATABASE_PASSWORD = "PROD_DATABASE_PASSWORD" }

[[environment]]
name = "cloud"
target = { kind = "cloud-run", project = "p", region = "europe-west1", service = "app", image = "europe-docker.pkg.dev/p/apps/app:{version}" }
"#;

    #[test]
    fn defaults_reach_every_environment_and_its_own_keys_win() {
        let c = parse(Path::new("pipeline.toml"), DEFAULTED).unwrap();
        assert_eq!(c.test.timeout_secs, 5400);
        assert_eq!(local(&c, "qa"), ("exec sh run.sh".to_owned(), 180, 300, 45));
        assert_eq!(
            local(&c, "production"),
            ("exec sh run.sh".to_owned(), 600, 1800, 45)
        );
        let (_, qa) = c.environment("qa").unwrap();
        let (_, prod) = c.environment("production").unwrap();
        let (_, cloud) = c.environment("cloud").unwrap();
        // Arrays come whole; tables merge key by key.
        assert_eq!(qa.validate.len(), 1);
        assert_eq!(qa.validate[0].timeout_secs, 60);
        assert!(prod.validate.is_empty());
        assert_eq!(qa.verify.health_for_secs, 10);
        assert_eq!(prod.verify.health_for_secs, 60);
        assert_eq!(prod.verify.checks[0].name, "e2e");
        assert_eq!(qa.requires.soak_secs, 300);
        assert!(!qa.requires.gate);
        assert!(prod.requires.gate);
        assert!(qa.auto_rollback && !prod.auto_rollback);
        assert_eq!(qa.env["LOG_LEVEL"], "info");
        assert_eq!(prod.env["LOG_LEVEL"], "warn");
        assert_eq!(prod.env["REGION"], "eu");
        assert_eq!(qa.secrets["DATABASE_PASSWORD"], "DATABASE_PASSWORD");
        assert_eq!(prod.secrets["DATABASE_PASSWORD"], "PROD_DATABASE_PASSWORD");
        // The Cloud Run environment takes what fits its kind: the shared
        // checks and requirements, no command, no app settings.
        assert!(matches!(cloud.target, TargetConfig::CloudRun { .. }));
        assert!(cloud.env.is_empty() && cloud.secrets.is_empty());
        assert_eq!(cloud.requires.soak_secs, 300);
        assert_eq!(cloud.validate.len(), 1);
    }

    #[test]
    fn defaults_are_as_strict_as_the_rest() {
        let e = err(&DEFAULTED.replace("requires = { soak_secs = \"5m\" }", "requries = 1"));
        assert_eq!(
            e,
            "pipeline.toml:13:1: unknown field `requries` in [defaults], expected one of \
             `target`, `strategy`, `validate`, `verify`, `auto_rollback`, `requires`, `env`, \
             `secrets`"
        );
        let e = err(&DEFAULTED.replace("[defaults]\n", "[defaults]\nname = \"x\"\n"));
        assert!(
            e.starts_with("pipeline.toml:10:1: defaults: `name` cannot have a default"),
            "{e}"
        );
        let e = err(&DEFAULTED.replace("drain_timeout_secs = 45", "drain_secs = 45"));
        assert!(
            e.starts_with("pipeline.toml:10:")
                && e.contains("unknown field `drain_secs` in [defaults] target"),
            "{e}"
        );
        // A value from [defaults] that does not fit is reported where it
        // is written.
        let e = err(&DEFAULTED.replace("soak_secs = \"5m\"", "soak_secs = true"));
        assert!(e.starts_with("pipeline.toml:13:26: soak_secs: "), "{e}");
        let e = err(&DEFAULTED.replace("{ soak_secs = \"5m\" }", "{ soak_secs = 5, sok = 1 }"));
        assert!(e.contains("unknown field `sok`"), "{e}");
        // A default no environment can take.
        let only_local = &DEFAULTED[..DEFAULTED.find("[[environment]]\nname = \"cloud\"").unwrap()];
        let e = err(&only_local
            .replace("kind = \"local\", command", "image = \"r/app\", command")
            .replace("target = { front", "target = { kind = \"local\", front"));
        assert!(
            e.contains(
                "defaults.target.image applies to no environment: it is a key of cloud-run targets"
            ),
            "{e}"
        );
        let e = err(&DEFAULTED.replace(
            "kind = \"local\", command",
            "kind = \"local\", image = \"x\", command",
        ));
        assert!(
            e.contains("defaults.target: a local target has no `image`"),
            "{e}"
        );
        // Missing keys are still missing.
        let e = err(&DEFAULTED.replace("command = \"exec sh run.sh\", ", ""));
        assert!(e.contains("missing field `command`"), "{e}");
    }

    #[test]
    fn durations_as_strings_name_the_key_and_place() {
        let c = parse(
            Path::new("pipeline.toml"),
            &GOOD.replace("soak_secs = 30", "soak_secs = \"2h\""),
        )
        .unwrap();
        assert_eq!(c.environments[1].requires.soak_secs, 7200);
        let e = err(&GOOD.replace("soak_secs = 30", "soak_secs = \"2 hours\""));
        assert_eq!(
            e,
            "pipeline.toml:18:26: soak_secs: `2 hours` is not a duration: write seconds as an \
             integer (90) or a string such as \"30s\", \"5m\", \"2h\", \"1h30m\""
        );
        let e = err(&GOOD.replace("keep_warm_secs = 60", "keep_warm_secs = \"90\""));
        assert!(
            e.starts_with("pipeline.toml:17:97: keep_warm_secs: `90` is not a duration"),
            "{e}"
        );
        let e = err(&GOOD.replace("timeout_secs = 120", "timeout_secs = \"2m30\""));
        assert!(e.contains("timeout_secs: `2m30` is not a duration"), "{e}");
        let e = err(&GOOD.replace("soak_secs = 30", "soak_secs = -30"));
        assert!(e.contains("soak_secs: -30 seconds is negative"), "{e}");
        let e = err(&GOOD.replace("soak_secs = 30", "soak_secs = 1.5"));
        assert!(e.starts_with("pipeline.toml:18:26: soak_secs: "), "{e}");
    }

    #[test]
    fn app_settings_and_secrets_by_reference() {
        let with = |extra: &str| GOOD.replace("requires = { soak_secs = 30 }", extra);
        let c = parse(
            Path::new("pipeline.toml"),
            &(with("env = { GREETING = \"hello world\" }")
                + "[environment.secrets]\nAPI_KEY = \"PROD_API_KEY\"\n"),
        )
        .unwrap();
        assert_eq!(c.environments[1].env["GREETING"], "hello world");
        assert_eq!(c.environments[1].secrets["API_KEY"], "PROD_API_KEY");
        assert!(c.environments[0].secrets.is_empty());
        // The app's own variables are not durations, whatever their names.
        let c = parse(
            Path::new("pipeline.toml"),
            &with("env = { cache_secs = \"forever\" }"),
        )
        .unwrap();
        assert_eq!(c.environments[1].env["cache_secs"], "forever");
        let e = err(&with("secrets = { API_KEY = \"s3cr3t value\" }"));
        assert_eq!(
            e,
            "pipeline.toml:18:23: secrets.API_KEY: `s3cr3t value` is not the name of a variable: a \
             secret names the runner's variable that holds it, never its value"
        );
        let e = err(&with("env = { PORT = \"80\" }"));
        assert_eq!(
            e,
            "pipeline.toml:18:9: env: PORT is set by the deployment itself"
        );
        let e = err(&with("env = { \"A-B\" = \"1\" }"));
        assert!(e.contains("env: `A-B` is not a variable name"), "{e}");
        let e = err(&with("env = { K = \"1\" }\nsecrets = { K = \"V\" }"));
        assert!(e.contains("secrets: K is in env too"), "{e}");
        let e = err(&with("env = { K = 1 }"));
        assert!(e.starts_with("pipeline.toml:18:13: K: "), "{e}");
        // Cloud Run sets no app settings: refused where written.
        let image = format!("r/app@sha256:{}", "a".repeat(64));
        let e = err(&GOOD.replace(
            r#"target = { kind = "local", front = "127.0.0.1:18005", command = "bash run.sh", keep_warm_secs = 60 }"#,
            &format!(
                "target = {{ kind = \"cloud-run\", project = \"p\", region = \"r\", service = \"s\", image = \"{image}\" }}\nsecrets = {{ K = \"V\" }}"
            ),
        ));
        assert!(
            e.starts_with("pipeline.toml:18:1: secrets: a cloud-run target sets no app settings"),
            "{e}"
        );
        let e = err(&DEFAULTED.replace(
            "[[environment]]\nname = \"qa\"\ntarget = { front = \"127.0.0.1:18003\" }\nrequires = { gate = false }\n\n[[environment]]\nname = \"production\"\ntarget = { front = \"127.0.0.1:18005\", health_timeout_secs = 600, keep_warm_secs = \"30m\" }",
            "[[environment]]\nname = \"production\"\ntarget = { kind = \"cloud-run\", project = \"p\", region = \"r\", service = \"s\", image = \"r/app\" }",
        ).replace("auto_rollback = false\nenv = { LOG_LEVEL = \"warn\" }\nsecrets = { DATABASE_PASSWORD = \"PROD_DATABASE_PASSWORD\" }\n", "").replace(", command = \"exec sh run.sh\", health_timeout_secs = \"3m\", drain_timeout_secs = 45", ""));
        assert!(
            e.contains("defaults.env applies to no environment: only local and azure-app-service targets take app settings"),
            "{e}"
        );
    }

    #[test]
    fn a_cloud_run_image_is_given_per_release() {
        let cloud = |image: &str| {
            GOOD.replace(
                r#"target = { kind = "local", front = "127.0.0.1:18005", command = "bash run.sh", keep_warm_secs = 60 }"#,
                &format!(
                    r#"target = {{ kind = "cloud-run", project = "p", region = "r", service = "s", image = "{image}" }}"#
                ),
            )
        };
        let sha = "b".repeat(64);
        for (image, expected) in [
            ("r/app", format!("r/app@sha256:{sha}")),
            ("r/app:{version}", format!("r/app:1.4.0@sha256:{sha}")),
            ("r/app@sha256:{sha256}", format!("r/app@sha256:{sha}")),
            (
                "r/app:v{version}@sha256:{sha256}",
                format!("r/app:v1.4.0@sha256:{sha}"),
            ),
            (
                &format!("r/app@sha256:{}", "c".repeat(64)),
                format!("r/app@sha256:{}", "c".repeat(64)),
            ),
        ] {
            let c = parse(Path::new("pipeline.toml"), &cloud(image)).unwrap();
            assert_eq!(
                c.environments[1].target.image_for("1.4.0", &sha),
                Some(expected),
                "{image}"
            );
            assert_eq!(c.environments[0].target.image_for("1.4.0", &sha), None);
        }
        let e = err(&cloud("r/app:{tag}"));
        assert!(
            e.contains(
                "environment[1].target.image: `r/app:{tag}`: unknown placeholder at `{tag}`"
            ),
            "{e}"
        );
        let e = err(&cloud("@sha256:{sha256}"));
        assert!(e.contains("has no repository"), "{e}");
    }

    /// The repository's own pipeline.toml, written with [defaults] and
    /// durations, means what it meant when every environment repeated
    /// itself.
    #[test]
    fn the_repository_pipeline_toml_says_the_same_with_defaults() {
        let ours = include_str!("../../../pipeline.toml");
        let repeated = r#"
# The job that .github/workflows/release-pipeline.yml (and `pipeline run`)
# carries out for the sample app in app/: tests and gate, the artifact, and
# five environments on the local host agent, the embedded default. The agent
# is the one infra/ansible's deploy_target role installs as a systemd service
# (state in /var/lib/pipeline-agent); the promoting jobs run on the
# self-hosted runner beside it (repository variable DEPLOY_RUNS_ON).
# For Azure App Service or Cloud Run, give each environment
#   target = { kind = "azure-app-service", subscription = "…", resource_group = "…", app = "…", slot = "staging" }
#   target = { kind = "cloud-run", project = "…", region = "…", service = "…", image = "REPO@sha256:…" }
# (see the README's pipeline-promote section).

[branches]
main = "master"
develop = "develop"
remote = "origin"
tag_prefix = "v"

[test]
command = "bash app/ci/test.sh reports"
reports = { junit = ["reports/junit-*.xml"], cobertura = ["reports/coverage.xml"], pylint = ["reports/pylint.json"] }
gate = { max_failures = 0, min_line_coverage = 80, min_branch_coverage = 60, min_pylint_score = 9.0 }

[artifact]
source = "app"
out = "dist/app.zip"

[agent]
state_dir = "/var/lib/pipeline-agent"

[[environment]]
name = "ci"
target = { kind = "local", front = "127.0.0.1:8001", command = "exec sh run.sh", health_timeout_secs = 180 }
validate = [{ name = "smoke", command = 'bash app/ci/smoke.sh "$SLOT_URL"', timeout_secs = 60 }]
verify = { health_for_secs = 5, checks = [{ name = "integration", command = 'bash app/ci/validate.sh "$SLOT_URL" reports/ci', timeout_secs = 300 }] }

[[environment]]
name = "dev"
target = { kind = "local", front = "127.0.0.1:8002", command = "exec sh run.sh", health_timeout_secs = 180 }
validate = [{ name = "smoke", command = 'bash app/ci/smoke.sh "$SLOT_URL"', timeout_secs = 60 }]
verify = { health_for_secs = 5 }

[[environment]]
name = "qa"
target = { kind = "local", front = "127.0.0.1:8003", command = "exec sh run.sh", health_timeout_secs = 180 }
validate = [{ name = "integration", command = 'bash app/ci/validate.sh "$SLOT_URL" reports/qa', timeout_secs = 300 }]
verify = { health_for_secs = 10 }

[[environment]]
name = "staging"
target = { kind = "local", front = "127.0.0.1:8004", command = "exec sh run.sh", health_timeout_secs = 180 }
requires = { soak_secs = 300 }
validate = [{ name = "smoke", command = 'bash app/ci/smoke.sh "$SLOT_URL"', timeout_secs = 60 }]
verify = { health_for_secs = 30 }

[[environment]]
name = "production"
target = { kind = "local", front = "127.0.0.1:8005", command = "exec sh run.sh", health_timeout_secs = 180, keep_warm_secs = 1800 }
requires = { soak_secs = 600 }
validate = [{ name = "smoke", command = 'bash app/ci/smoke.sh "$SLOT_URL"', timeout_secs = 60 }]
verify = { health_for_secs = 60, checks = [{ name = "integration", command = 'bash app/ci/validate.sh "$SLOT_URL" reports/production', timeout_secs = 300 }] }
"#;
        let ours = parse(Path::new("pipeline.toml"), ours).unwrap();
        let repeated = parse(Path::new("pipeline.toml"), repeated).unwrap();
        assert_eq!(ours, repeated);
    }

    /// The README's example of [defaults] and overrides parses, and means
    /// what its comments say.
    #[test]
    fn notify_names_the_variable_and_is_strict() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("```toml\n[[notify]]").expect("the example") + 8;
        let example = &readme[start..];
        let example = &example[..example.find("```").unwrap()];
        let c = parse(Path::new("pipeline.toml"), &format!("{GOOD}{example}")).unwrap();
        assert_eq!(c.notify.len(), 2);
        assert_eq!(c.notify[0].format, NotifyFormat::Json);
        assert_eq!(c.notify[0].on.len(), 4);
        assert_eq!(c.notify[1].format, NotifyFormat::Slack);
        assert_eq!(
            c.notify[1].on,
            [NotifyOn::Success, NotifyOn::Rollback, NotifyOn::Failure]
        );
        assert_eq!(c.secret_vars(), ["DEPLOY_WEBHOOK_URL", "SLACK_WEBHOOK_URL"]);
        // A URL where the variable's name goes: refused where it is written.
        let e = err(&format!(
            "{GOOD}\n[[notify]]\nurl_var = \"https://hooks.slack.com/services/T/B/X\"\n"
        ));
        assert!(
            e.starts_with("pipeline.toml:23:11: notify[0].url_var: "),
            "{e}"
        );
        assert!(e.contains("never the URL"), "{e}");
        assert!(!e.contains("hooks.slack.com"), "{e}");
        let e = err(&format!(
            "{GOOD}\n[[notify]]\nurl_var = \"H\"\nformat = \"teams\"\n"
        ));
        assert!(e.contains("teams"), "{e}");
        let e = err(&format!("{GOOD}\n[[notify]]\nurl_var = \"H\"\non = []\n"));
        assert!(e.contains("notify[0].on: is empty"), "{e}");
        let e = err(&format!("{GOOD}\n[[notify]]\nurl = \"x\"\n"));
        assert!(e.contains("unknown field `url`"), "{e}");
    }

    #[test]
    fn the_readme_example_of_defaults() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("```toml\n[defaults]").expect("the example") + 8;
        let example = &readme[start..];
        let example = &example[..example.find("```").unwrap()];
        let text = format!("[test]\ncommand = \"true\"\n[artifact]\nsource = \"app\"\n{example}");
        let c = parse(Path::new("pipeline.toml"), &text).unwrap();
        assert_eq!(
            local(&c, "production"),
            ("exec sh run.sh".to_owned(), 180, 1800, 30)
        );
        let (_, prod) = c.environment("production").unwrap();
        assert!(prod.verify.checks.is_empty());
        assert_eq!(prod.validate.len(), 1);
        assert_eq!(prod.env["LOG_LEVEL"], "warn");
        assert_eq!(prod.secrets["DATABASE_PASSWORD"], "PROD_DATABASE_PASSWORD");
        assert_eq!(
            c.secret_vars(),
            ["DATABASE_PASSWORD", "PROD_DATABASE_PASSWORD"]
        );
        let (_, cloud) = c.environment("cloud").unwrap();
        assert!(cloud.secrets.is_empty());
        assert_eq!(
            cloud.target.image_for("1.4.0", "ab").as_deref(),
            Some("europe-docker.pkg.dev/p/apps/app:1.4.0@sha256:ab")
        );
    }
}
