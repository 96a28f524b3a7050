//! The local host agent's admin API (`crates/pipeline-host/API.md`): the
//! environment a client declares, the agent's replies, and `agent.json`,
//! the file a running agent leaves in its state directory to say where it
//! listens. The agent serializes these types and its clients (the local
//! target, `pipeline-agent status`) deserialize them.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// One of the two slots of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// The first slot.
    Blue,
    /// The second slot.
    Green,
}

impl Color {
    /// Both, blue first.
    pub const BOTH: [Color; 2] = [Color::Blue, Color::Green];

    /// The other slot.
    pub fn other(self) -> Self {
        match self {
            Color::Blue => Color::Green,
            Color::Green => Color::Blue,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }

    /// 0 for blue, 1 for green.
    pub fn index(self) -> usize {
        match self {
            Color::Blue => 0,
            Color::Green => 1,
        }
    }
}

impl std::fmt::Display for Color {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A release: a version and its artifact's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRef {
    /// The version.
    pub version: String,
    /// The artifact's SHA-256, hex.
    pub sha256: String,
}

/// One environment, as `PUT /v1/envs/{env}` declares it: a front address,
/// the command that starts the app, and how to tell it is healthy.
/// Unknown fields are refused by name.
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
    /// (Left out when it is the default, so that an agent older than the
    /// key still takes the declaration.)
    #[serde(
        default = "default_drain_timeout",
        skip_serializing_if = "is_default_drain"
    )]
    pub drain_timeout_secs: u64,
    /// More environment variables for the app (left out when empty, for
    /// the same reason).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
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
fn default_drain_timeout() -> u64 {
    DEFAULT_DRAIN_TIMEOUT_SECS
}
fn is_default_drain(secs: &u64) -> bool {
    *secs == DEFAULT_DRAIN_TIMEOUT_SECS
}

/// The default of [`EnvSpec::drain_timeout_secs`].
pub const DEFAULT_DRAIN_TIMEOUT_SECS: u64 = 30;

/// The longest timeout accepted (a day).
pub const MAX_SECS: u64 = 86_400;

/// Variables the agent sets itself; an environment may not override them.
pub const RESERVED_VARS: [&str; 4] = ["PORT", "PIPELINE_ENV", "PIPELINE_SLOT", "PIPELINE_VERSION"];

impl EnvSpec {
    /// An environment with the defaults: the app started by `command`
    /// behind `front`.
    pub fn new(front: SocketAddr, command: impl Into<String>) -> Self {
        Self {
            front,
            command: command.into(),
            health_path: default_health_path(),
            expect_status: default_expect_status(),
            health_timeout_secs: default_health_timeout(),
            keep_warm_secs: default_keep_warm(),
            drain_timeout_secs: DEFAULT_DRAIN_TIMEOUT_SECS,
            env: BTreeMap::new(),
        }
    }

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

/// A slot as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SlotView {
    /// `empty`, `starting`, `idle`, `live`, `warm`, `stopped`, `failed`, `crashed`.
    pub state: String,
    /// The version in it.
    pub version: Option<String>,
    /// The artifact digest.
    pub sha256: Option<String>,
    /// Its own address, while it runs.
    pub url: Option<String>,
    /// Its process.
    pub pid: Option<i32>,
    /// Whether it answered its health path at the last look.
    pub healthy: bool,
    /// Since when it has its role (none for a slot never used).
    pub since: Option<String>,
    /// Restarts after dying.
    pub restarts: u32,
    /// Until when a warm slot is kept.
    pub warm_until: Option<String>,
    /// The last problem.
    pub error: Option<String>,
    /// Requests cut because they were still in flight when the slot was
    /// stopped after the environment's drain timeout (all stops together).
    #[serde(default)]
    pub cut_requests: u64,
    /// Requests the front has sent it that are not answered yet.
    #[serde(default)]
    pub requests_in_flight: usize,
    /// What the front has seen of its traffic since the agent started.
    #[serde(default)]
    pub traffic: Traffic,
}

/// A slot's traffic as the front sees it, since the agent started (also
/// served in Prometheus' format at `GET /metrics`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Traffic {
    /// Requests sent to the slot.
    pub requests: u64,
    /// Answers 100 to 199.
    pub responses_1xx: u64,
    /// Answers 200 to 299.
    pub responses_2xx: u64,
    /// Answers 300 to 399.
    pub responses_3xx: u64,
    /// Answers 400 to 499.
    pub responses_4xx: u64,
    /// Answers 500 to 599 (the app's own).
    pub responses_5xx: u64,
    /// Requests the slot did not answer (the front answered 502).
    pub failed: u64,
    /// The upper bounds of the latency buckets, in seconds.
    pub latency_le_seconds: Vec<f64>,
    /// Answers (and failures) within each bound, cumulative, then all of
    /// them (+Inf) last.
    pub latency_buckets: Vec<u64>,
    /// The sum of the latencies, in seconds.
    pub latency_sum_seconds: f64,
}

/// An operation in progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpView {
    /// What it does.
    pub name: String,
    /// Since when.
    pub since: String,
}

/// An environment as the API shows it (`GET /v1/envs/{env}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnvView {
    /// Its name.
    pub name: String,
    /// The front address.
    pub front: String,
    /// Why the front is not listening, if it is not.
    pub front_error: Option<String>,
    /// The live slot.
    pub live: Option<Color>,
    /// The operation running.
    pub operation: Option<OpView>,
    /// Blue and green.
    pub slots: BTreeMap<Color, SlotView>,
    /// The release live before the last switch.
    pub previous: Option<ReleaseRef>,
}

/// Every environment (`GET /v1/envs`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnvList {
    /// By name.
    pub envs: Vec<EnvView>,
}

/// The reply to a deploy (`POST /v1/envs/{env}/deploy`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeployReply {
    /// The environment.
    pub env: String,
    /// The slot deployed to.
    pub slot: Color,
    /// Its own address.
    pub url: String,
    /// The version.
    pub version: String,
    /// The digest.
    pub sha256: String,
}

/// The body of a swap (`POST /v1/envs/{env}/swap`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SwapRequest {
    /// Switch only if the idle slot holds this version.
    #[serde(default)]
    pub expect_version: Option<String>,
}

/// The body of a rollback (`POST /v1/envs/{env}/rollback`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Go back to this version (the one live before the last switch when
    /// absent).
    #[serde(default)]
    pub to_version: Option<String>,
}

/// The reply to a swap or rollback.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SwitchReply {
    /// The environment.
    pub env: String,
    /// The slot now live.
    pub live: Color,
    /// Its version.
    pub live_version: Option<String>,
    /// The version in the other slot.
    pub idle_version: Option<String>,
    /// Whether it was live already.
    #[serde(default)]
    pub already: bool,
}

/// `agent.json` in the state directory: where a running agent listens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentInfo {
    /// The admin API's address, such as `127.0.0.1:7780`.
    pub address: SocketAddr,
    /// The agent's process.
    pub pid: u32,
    /// The agent's version.
    pub version: String,
}
