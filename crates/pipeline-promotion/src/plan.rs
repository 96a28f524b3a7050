//! What a promotion would do, or why it may not: a pure function of the
//! configuration, the records and the clock.

use serde::Serialize;

pub use pipeline_contracts::promote::{Candidate, Plan, Step};

use crate::record::Record;
use pipeline_config::{Environment, PipelineConfig, Strategy};

/// Policy: how long a lock may stand before another runner takes it over: longer
/// than any promotion should take, short enough that a runner that died
/// does not hold an environment for a day.
pub const STALE_LOCK_SECS: u64 = 3600;

/// How many records of an environment's history are read to find a
/// version's digest, or whether a version went live in the first
/// environment (which counts as its passed gate).
pub const HISTORY_DEPTH: usize = 200;

/// What runs in an environment now, as far as a promotion cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvNow {
    /// The newest record, if any.
    pub record: Option<Record>,
    /// Whether its live slot answers healthy now.
    pub healthy: bool,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Promote as planned.
    Promote(Plan),
    /// The environment runs that artifact already.
    AlreadyThere {
        /// The environment.
        env: String,
        /// What runs there.
        candidate: Candidate,
    },
}

/// Why a promotion may not happen (the step says no: exit 1), or cannot
/// be asked for (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// No such environment in `pipeline.toml`.
    #[error("no environment `{0}` in pipeline.toml")]
    UnknownEnvironment(String),
    /// A rollback to a version that never went live in the environment.
    #[error("{version} never went live in {env}: nothing to roll back to")]
    NeverLive {
        /// The environment.
        env: String,
        /// The version asked for.
        version: String,
    },
    /// The first environment takes the build's artifact: a version and
    /// digest must be given.
    #[error(
        "{0} is the first environment: name the artifact (--version and --sha256, or run the whole job)"
    )]
    NeedsArtifact(String),
    /// The previous environment runs nothing.
    #[error("{previous} runs nothing yet: promote into it first")]
    PreviousEmpty {
        /// The previous environment.
        previous: String,
    },
    /// The previous environment runs another version than the one asked.
    #[error("{previous} runs {running}, not {asked}")]
    OtherVersion {
        /// The previous environment.
        previous: String,
        /// What it runs.
        running: String,
        /// What was asked.
        asked: String,
    },
    /// The previous environment's live slot is not healthy.
    #[error("{previous} runs {version} but is not healthy now")]
    PreviousUnhealthy {
        /// The previous environment.
        previous: String,
        /// What it runs.
        version: String,
    },
    /// Not soaked long enough.
    #[error("{previous} has run {version} for {ran}s; {env} requires {needs}s")]
    NotSoaked {
        /// The environment promoted into.
        env: String,
        /// The previous environment.
        previous: String,
        /// The version.
        version: String,
        /// How long it has run.
        ran: u64,
        /// How long it must.
        needs: u64,
    },
    /// Nothing was ever recorded in the environment: nothing to roll back.
    #[error("nothing to roll back: no release ever went live in {env} (promote into it first)")]
    NothingRecorded {
        /// The environment.
        env: String,
    },
    /// No passed gate for the version.
    #[error(
        "{env} requires a passed gate, and {version} has none: give the gate's verdict \
         (pipeline-report gate --json > gate.json, then --gate-json gate.json), or run the whole \
         job with `pipeline run`"
    )]
    NoGate {
        /// The environment.
        env: String,
        /// The version.
        version: String,
    },
    /// The gate given passed, for another commit than the version's.
    #[error(
        "{env} requires a passed gate for {version}, and the gate given judged commit \
         {gated}, not {tagged} where {version} is tagged: a gate unlocks only its own release \
         (gate that commit, or promote the version tagged on {gated})"
    )]
    GateOfAnotherRelease {
        /// The environment.
        env: String,
        /// The version.
        version: String,
        /// The commit the gate judged.
        gated: String,
        /// The commit the version's tag names.
        tagged: String,
    },
}

impl Refusal {
    /// Whether the request itself is wrong (exit 2) rather than refused by
    /// policy (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Refusal::UnknownEnvironment(_) | Refusal::NeedsArtifact(_) | Refusal::NeverLive { .. }
        )
    }
}

/// A rollback of `to` to `version`, a release it ran before: the same
/// steps as a promotion, the digest taken from `history` (newest first), so
/// the very bytes that ran there come back.
///
/// # Errors
///
/// [`Refusal::UnknownEnvironment`]; [`Refusal::NeverLive`] when `version`
/// never went live in `to`.
pub fn rollback_plan(
    config: &PipelineConfig,
    to: &str,
    version: &str,
    history: &[Record],
) -> Result<Decision, Refusal> {
    let (_, env) = config
        .environment(to)
        .ok_or_else(|| Refusal::UnknownEnvironment(to.to_owned()))?;
    let sha256 = history
        .iter()
        .find_map(|r| {
            (r.live_version.as_deref() == Some(version))
                .then(|| r.live_sha256.clone())
                .flatten()
        })
        .ok_or_else(|| Refusal::NeverLive {
            env: to.to_owned(),
            version: version.to_owned(),
        })?;
    let candidate = Candidate {
        version: version.to_owned(),
        sha256,
    };
    let live = history.first().and_then(live_candidate);
    if live.as_ref() == Some(&candidate) {
        return Ok(Decision::AlreadyThere {
            env: to.to_owned(),
            candidate,
        });
    }
    Ok(Decision::Promote(Plan {
        env: to.to_owned(),
        candidate,
        from: format!("the history of {to}"),
        replaces: live,
        steps: steps(env),
        auto_rollback: env.auto_rollback,
    }))
}

/// What `record` leaves live, as a candidate.
fn live_candidate(record: &Record) -> Option<Candidate> {
    Some(Candidate {
        version: record.live_version.clone()?,
        sha256: record.live_sha256.clone()?,
    })
}

fn steps(env: &Environment) -> Vec<Step> {
    let mut steps = vec![Step::Deploy {
        target: env.target.describe(),
    }];
    // A direct environment switches as soon as the release is healthy;
    // blue/green validates the idle slot first.
    if env.strategy == Strategy::BlueGreen {
        steps.extend(env.validate.iter().map(|c| Step::Validate {
            name: c.name.clone(),
            command: c.command.clone(),
        }));
    }
    steps.push(Step::Switch);
    if env.verify.health_for_secs > 0 {
        steps.push(Step::WatchHealth {
            secs: env.verify.health_for_secs,
        });
    }
    steps.extend(env.verify.checks.iter().map(|c| Step::Verify {
        name: c.name.clone(),
        command: c.command.clone(),
    }));
    steps.push(Step::Record);
    steps
}

/// Decides a promotion into `to`. `artifact` is the build's artifact (the
/// first environment needs it; later ones take what the previous one runs,
/// and `asked` pins the version expected there). `gate_passed` says whether
/// a version has a passed gate. `now` is Unix seconds.
pub fn plan(
    config: &PipelineConfig,
    to: &str,
    asked: Option<&str>,
    artifact: Option<&Candidate>,
    state: &dyn Fn(&str) -> EnvNow,
    gate_passed: &dyn Fn(&str) -> bool,
    now: u64,
) -> Result<Decision, Refusal> {
    let (_, env) = config
        .environment(to)
        .ok_or_else(|| Refusal::UnknownEnvironment(to.to_owned()))?;
    let (candidate, from) = match config.previous(to) {
        None => {
            let a = artifact.ok_or_else(|| Refusal::NeedsArtifact(to.to_owned()))?;
            (a.clone(), "the build".to_owned())
        }
        Some(prev) => {
            let now_prev = state(&prev.name);
            let rec = now_prev
                .record
                .as_ref()
                .and_then(|r| {
                    Some((
                        r.live_version.clone()?,
                        r.live_sha256.clone()?,
                        r.live_since,
                    ))
                })
                .ok_or_else(|| Refusal::PreviousEmpty {
                    previous: prev.name.clone(),
                })?;
            let (version, sha256, since) = rec;
            if let Some(asked) = asked
                && asked != version
            {
                return Err(Refusal::OtherVersion {
                    previous: prev.name.clone(),
                    running: version,
                    asked: asked.to_owned(),
                });
            }
            if !now_prev.healthy {
                return Err(Refusal::PreviousUnhealthy {
                    previous: prev.name.clone(),
                    version,
                });
            }
            let ran = now.saturating_sub(since.unwrap_or(now));
            if ran < env.requires.soak_secs {
                return Err(Refusal::NotSoaked {
                    env: to.to_owned(),
                    previous: prev.name.clone(),
                    version,
                    ran,
                    needs: env.requires.soak_secs,
                });
            }
            (Candidate { version, sha256 }, prev.name.clone())
        }
    };
    if env.requires.gate && !gate_passed(&candidate.version) {
        return Err(Refusal::NoGate {
            env: to.to_owned(),
            version: candidate.version,
        });
    }
    let here = state(to);
    let replaces = here.record.as_ref().and_then(live_candidate);
    if replaces
        .as_ref()
        .is_some_and(|r| r.sha256 == candidate.sha256)
        && here.healthy
    {
        return Ok(Decision::AlreadyThere {
            env: to.to_owned(),
            candidate,
        });
    }
    Ok(Decision::Promote(Plan {
        env: to.to_owned(),
        candidate,
        from,
        replaces,
        steps: steps(env),
        auto_rollback: env.auto_rollback,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Outcome;
    use std::collections::BTreeMap;
    use std::path::Path;

    const CONFIG: &str = r#"
[test]
command = "true"
[artifact]
source = "app"
[[environment]]
name = "dev"
target = { kind = "local", front = "127.0.0.1:1", command = "x" }
requires = { gate = true }
[[environment]]
name = "qa"
target = { kind = "local", front = "127.0.0.1:2", command = "x" }
validate = [{ name = "smoke", command = "pytest" }]
verify = { health_for_secs = 5 }
requires = { soak_secs = 60 }
[[environment]]
name = "prod"
strategy = "direct"
auto_rollback = false
target = { kind = "local", front = "127.0.0.1:3", command = "x" }
validate = [{ name = "smoke", command = "pytest" }]
"#;

    fn live(env: &str, version: &str, since: u64) -> Record {
        Record {
            env: env.into(),
            version: version.into(),
            sha256: format!("sha-{version}"),
            outcome: Outcome::Live,
            live_version: Some(version.into()),
            live_sha256: Some(format!("sha-{version}")),
            at: since,
            live_since: Some(since),
            by: "test".into(),
            note: String::new(),
            lock: None,
        }
    }

    fn run(
        to: &str,
        asked: Option<&str>,
        artifact: Option<&Candidate>,
        records: &BTreeMap<&str, (Record, bool)>,
        now: u64,
    ) -> Result<Decision, Refusal> {
        let config = pipeline_config::parse(Path::new("pipeline.toml"), CONFIG).unwrap();
        let state = |env: &str| match records.get(env) {
            Some((r, healthy)) => EnvNow {
                record: Some(r.clone()),
                healthy: *healthy,
            },
            None => EnvNow {
                record: None,
                healthy: false,
            },
        };
        let gate = |v: &str| v != "0.0.1";
        plan(&config, to, asked, artifact, &state, &gate, now)
    }

    #[test]
    fn the_first_environment_takes_the_build() {
        let a = Candidate {
            version: "1.0.0".into(),
            sha256: "sha-1.0.0".into(),
        };
        let none = BTreeMap::new();
        assert_eq!(
            run("dev", None, None, &none, 0),
            Err(Refusal::NeedsArtifact("dev".into()))
        );
        let Ok(Decision::Promote(p)) = run("dev", None, Some(&a), &none, 0) else {
            panic!()
        };
        assert_eq!(p.from, "the build");
        assert_eq!(
            p.steps.first(),
            Some(&Step::Deploy {
                target: "local agent, front 127.0.0.1:1".into()
            })
        );
        assert_eq!(p.steps.last(), Some(&Step::Record));
        let bad = Candidate {
            version: "0.0.1".into(),
            sha256: "x".into(),
        };
        assert!(matches!(
            run("dev", None, Some(&bad), &none, 0),
            Err(Refusal::NoGate { .. })
        ));
    }

    #[test]
    fn later_environments_take_what_the_previous_one_runs() {
        let mut r = BTreeMap::new();
        assert!(matches!(
            run("qa", None, None, &r, 100),
            Err(Refusal::PreviousEmpty { .. })
        ));
        r.insert("dev", (live("dev", "1.2.0", 100), true));
        let e = run("qa", None, None, &r, 130).unwrap_err();
        assert_eq!(e.to_string(), "dev has run 1.2.0 for 30s; qa requires 60s");
        let Ok(Decision::Promote(p)) = run("qa", None, None, &r, 160) else {
            panic!()
        };
        assert_eq!(p.candidate.version, "1.2.0");
        assert_eq!(p.candidate.sha256, "sha-1.2.0");
        assert!(p.steps.contains(&Step::Validate {
            name: "smoke".into(),
            command: "pytest".into()
        }));
        assert!(p.steps.contains(&Step::WatchHealth { secs: 5 }));
        let e = run("qa", Some("1.3.0"), None, &r, 160).unwrap_err();
        assert_eq!(e.to_string(), "dev runs 1.2.0, not 1.3.0");
        r.insert("dev", (live("dev", "1.2.0", 100), false));
        assert!(matches!(
            run("qa", None, None, &r, 160),
            Err(Refusal::PreviousUnhealthy { .. })
        ));
    }

    #[test]
    fn a_rollback_brings_back_the_bytes_that_ran_there() {
        let config = pipeline_config::parse(Path::new("pipeline.toml"), CONFIG).unwrap();
        let mut rolled = live("qa", "1.3.0", 20);
        rolled.outcome = Outcome::RolledBack;
        rolled.live_version = Some("1.2.0".into());
        rolled.live_sha256 = Some("sha-1.2.0".into());
        // Newest first: 1.3.0 failed and went back to 1.2.0; 1.2.0; 1.1.0.
        let history = [rolled, live("qa", "1.2.0", 10), live("qa", "1.1.0", 0)];
        let Ok(Decision::Promote(p)) = rollback_plan(&config, "qa", "1.1.0", &history) else {
            panic!()
        };
        assert_eq!(p.candidate.sha256, "sha-1.1.0");
        assert_eq!(p.replaces.unwrap().version, "1.2.0");
        assert!(p.steps.iter().any(|s| matches!(s, Step::Validate { .. })));
        assert!(matches!(
            rollback_plan(&config, "qa", "1.2.0", &history),
            Ok(Decision::AlreadyThere { .. })
        ));
        // 1.3.0 never went live in qa.
        let e = rollback_plan(&config, "qa", "1.3.0", &history).unwrap_err();
        assert_eq!(
            e.to_string(),
            "1.3.0 never went live in qa: nothing to roll back to"
        );
        assert!(e.is_usage());
        assert!(matches!(
            rollback_plan(&config, "nope", "1.1.0", &history),
            Err(Refusal::UnknownEnvironment(_))
        ));
    }

    #[test]
    fn same_digest_is_nothing_to_do_and_direct_skips_validation() {
        let mut r = BTreeMap::new();
        r.insert("qa", (live("qa", "1.2.0", 0), true));
        r.insert("prod", (live("prod", "1.2.0", 0), true));
        assert!(matches!(
            run("prod", None, None, &r, 10),
            Ok(Decision::AlreadyThere { .. })
        ));
        r.insert("prod", (live("prod", "1.1.0", 0), true));
        let Ok(Decision::Promote(p)) = run("prod", None, None, &r, 10) else {
            panic!()
        };
        assert!(!p.auto_rollback);
        assert!(!p.steps.iter().any(|s| matches!(s, Step::Validate { .. })));
        assert_eq!(p.replaces.unwrap().version, "1.1.0");
        assert!(matches!(
            run("nope", None, None, &r, 10),
            Err(Refusal::UnknownEnvironment(_))
        ));
    }
}
