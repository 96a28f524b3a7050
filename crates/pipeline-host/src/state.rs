//! The agent's state on disk: written whole to a temporary file, synced and
//! renamed over the old one, so a crash leaves the old state or the new,
//! never a mix.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::spec::EnvSpec;

pub use pipeline_contracts::agent::{Color, ReleaseRef};

/// What a slot is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Nothing deployed.
    #[default]
    Empty,
    /// A release is starting in it.
    Starting,
    /// Deployed and healthy, not live.
    Idle,
    /// Taking the traffic.
    Live,
    /// Was live; kept running for an instant switch back.
    Warm,
    /// Its release is on disk; no process.
    Stopped,
    /// Its release never became healthy.
    Failed,
}

/// A slot as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SlotRecord {
    /// What it is for.
    pub role: Role,
    /// The release in it.
    pub release: Option<ReleaseRef>,
    /// The loopback port its app listens on, while it runs.
    pub port: Option<u16>,
    /// The process (group leader) running it.
    pub pid: Option<i32>,
    /// The process's start time in clock ticks since boot (from
    /// `/proc/PID/stat`), to tell it from a later process with the same pid.
    pub start_ticks: Option<u64>,
    /// When the role last changed (Unix seconds).
    pub since: u64,
    /// How many times the app was restarted after dying.
    pub restarts: u32,
    /// Until when a warm slot is kept (Unix seconds).
    pub warm_until: Option<u64>,
    /// The last problem: a failed health check, an exit status.
    pub error: Option<String>,
    /// Requests still in flight when the slot had to be stopped after its
    /// environment's drain timeout: cut, all stops together.
    #[serde(default)]
    pub cut_requests: u64,
}

/// An environment as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvRecord {
    /// Its declaration.
    pub spec: EnvSpec,
    /// The live slot, once there is one.
    pub live: Option<Color>,
    /// Blue, then green.
    pub slots: [SlotRecord; 2],
    /// The release that was live before the last switch.
    pub previous: Option<ReleaseRef>,
}

impl EnvRecord {
    /// A new environment with empty slots.
    pub fn new(spec: EnvSpec) -> Self {
        Self {
            spec,
            live: None,
            slots: [SlotRecord::default(), SlotRecord::default()],
            previous: None,
        }
    }

    /// The slot record of `color`.
    pub fn slot(&self, color: Color) -> &SlotRecord {
        &self.slots[color.index()]
    }

    /// The slot record of `color`, to change.
    pub fn slot_mut(&mut self, color: Color) -> &mut SlotRecord {
        &mut self.slots[color.index()]
    }

    /// The slot a deploy goes to: the one not live (blue when none is).
    pub fn idle(&self) -> Color {
        self.live.map_or(Color::Blue, Color::other)
    }
}

/// The state format this agent writes. 1: releases kept as
/// `releases/<version>` beside `releases/<version>.sha256`; 2: the digests
/// in `releases/.meta/`, out of the versions' reach (a format 1 state
/// directory is migrated when the agent starts).
pub const FORMAT: u32 = 2;

/// The formats this agent reads.
pub const READS: [u32; 2] = [1, 2];

/// Everything the agent records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    /// The format's version ([`FORMAT`] once written by this agent).
    pub format: u32,
    /// The environments by name.
    pub envs: BTreeMap<String, EnvRecord>,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was being done: `read`, `write`, …
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a state file.
    #[error("{}: not a state file", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where and why.
        #[source]
        source: serde_json::Error,
    },
    /// A state file of a format this agent does not know (a newer agent's):
    /// reading it would drop what this agent does not understand.
    #[error(
        "{}: state format {format} is not one this agent reads ({}); it was written by another \
         pipeline-agent: run that one, or move the file away to start with no environments",
        path.display(),
        READS.map(|f| f.to_string()).join(" or ")
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// The format it declares, as written.
        format: String,
    },
}

/// The state file in `dir`.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// Reads the state; a missing file is an empty state of [`FORMAT`]. A
/// format this agent does not read is refused before anything else of the
/// file is looked at.
pub fn load(dir: &Path) -> Result<StateFile, StateError> {
    let path = state_path(dir);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(StateFile {
                format: FORMAT,
                ..StateFile::default()
            });
        }
        Err(source) => {
            return Err(StateError::Io {
                op: "read",
                path,
                source,
            });
        }
    };
    #[derive(Deserialize)]
    struct Head {
        format: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_slice(&text).map_err(|source| StateError::Corrupt {
        path: path.clone(),
        source,
    })?;
    let known = head
        .format
        .as_ref()
        .and_then(serde_json::Value::as_u64)
        .is_some_and(|f| READS.iter().any(|r| u64::from(*r) == f));
    if !known {
        return Err(StateError::UnknownFormat {
            path,
            format: head
                .format
                .map_or_else(|| "(none)".to_owned(), |f| f.to_string()),
        });
    }
    serde_json::from_slice(&text).map_err(|source| StateError::Corrupt { path, source })
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, synced,
/// renamed over it, and the directory synced.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |source| StateError::Io {
        op: "write",
        path: path.to_path_buf(),
        source,
    };
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    // Its own temporary file: writes of one file may run at once.
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(e)
    })?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// Saves the state atomically.
pub fn save(dir: &Path, state: &StateFile) -> Result<(), StateError> {
    let mut bytes = serde_json::to_vec_pretty(state).unwrap_or_default();
    bytes.push(b'\n');
    write_atomic(&state_path(dir), &bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::chain;

    #[test]
    fn round_trip_and_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap().envs.len(), 0);
        assert_eq!(load(dir.path()).unwrap().format, FORMAT);
        let spec: EnvSpec =
            serde_json::from_str(r#"{"front":"127.0.0.1:8080","command":"./run"}"#).unwrap();
        let mut state = StateFile {
            format: FORMAT,
            ..StateFile::default()
        };
        let mut env = EnvRecord::new(spec);
        env.live = Some(Color::Green);
        env.slot_mut(Color::Green).role = Role::Live;
        state.envs.insert("qa".into(), env);
        save(dir.path(), &state).unwrap();
        assert_eq!(load(dir.path()).unwrap(), state);
        // Nothing but the state file is left.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        fs::write(
            state_path(dir.path()),
            b"{\"format\": 1, \"envs\": {\"qa\": 3}}",
        )
        .unwrap();
        let err = chain(&load(dir.path()).unwrap_err());
        assert!(err.contains("state.json: not a state file: "), "{err}");
        // The cause is said once.
        assert_eq!(err.matches("line 1").count(), 1, "{err}");
    }

    #[test]
    fn unknown_formats_and_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (text, format) in [
            (r#"{"format": 3, "envs": {}, "tenants": {"a": 1}}"#, "3"),
            (r#"{"format": "2", "envs": {}}"#, "\"2\""),
            (r#"{"envs": {}}"#, "(none)"),
        ] {
            fs::write(state_path(dir.path()), text).unwrap();
            let err = load(dir.path()).unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "state format {format} is not one this agent reads (1 or 2)"
                )),
                "{err}"
            );
            // Refused, not rewritten.
            assert_eq!(fs::read_to_string(state_path(dir.path())).unwrap(), text);
        }
        fs::write(
            state_path(dir.path()),
            r#"{"format": 2, "envs": {}, "tenants": {}}"#,
        )
        .unwrap();
        let err = chain(&load(dir.path()).unwrap_err());
        assert!(err.contains("unknown field `tenants`"), "{err}");
    }
}
