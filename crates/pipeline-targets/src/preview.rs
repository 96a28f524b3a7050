//! What a deploy, swap or rollback would do, told from the target's status
//! alone: the pure core of `--dry-run`.

use crate::target::{SlotStatus, TargetStatus};

/// The change asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent<'a> {
    /// A release into the idle slot.
    Deploy {
        /// Its version.
        version: &'a str,
        /// Its digest.
        sha256: &'a str,
    },
    /// Live traffic to the idle slot, if it holds `expect` when given.
    Swap {
        /// The version the idle slot must hold.
        expect: Option<&'a str>,
    },
    /// Live traffic back to the slot that was live before.
    Rollback,
}

/// What would happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// One sentence per effect, in order.
    pub effects: Vec<String>,
    /// Why the change would be refused, when the status already tells.
    pub refused: Option<String>,
}

fn describe(slot: &SlotStatus) -> String {
    match &slot.version {
        Some(v) => format!("slot {} ({v})", slot.slot),
        None => format!("slot {} (nothing recorded)", slot.slot),
    }
}

/// The slot an action goes to: the one named (an App Service's deployment
/// slot, the Cloud Run tag a swap or rollback moves traffic to), else the
/// one slot that is not live, else the one not live that holds a release
/// (a fresh local environment: one slot deployed, none live).
fn idle_slot<'s>(status: &'s TargetStatus, named: Option<&str>) -> Option<&'s SlotStatus> {
    if let Some(name) = named {
        return status.slot(name).filter(|s| !s.live);
    }
    let only = |slots: Vec<&'s SlotStatus>| (slots.len() == 1).then(|| slots[0]);
    let idle: Vec<&SlotStatus> = status.slots.iter().filter(|s| !s.live).collect();
    only(idle.clone()).or_else(|| only(idle.into_iter().filter(|s| s.version.is_some()).collect()))
}

/// What `intent` would do to the target whose status is `status`.
pub fn preview(status: &TargetStatus, intent: Intent<'_>) -> Preview {
    preview_to(status, intent, None)
}

/// As [`preview`], the action going to the slot `named` when the target
/// says which (see [`idle_slot`]).
pub fn preview_to(status: &TargetStatus, intent: Intent<'_>, named: Option<&str>) -> Preview {
    let target = &status.target;
    let live = status.live();
    let idle = idle_slot(status, named);
    let mut effects = Vec::new();
    let mut refused = None;
    match intent {
        Intent::Deploy { version, sha256 } => {
            let into = idle.map_or_else(|| "the idle slot".to_owned(), describe);
            let digest = sha256.get(..12).unwrap_or(sha256);
            effects.push(format!(
                "deploy {version} ({digest}) into {into} of {target}, replacing what it holds, and wait until it answers healthy with {version}"
            ));
            effects.push(match live {
                Some(l) => format!("live traffic stays on {}", describe(l)),
                None => "no slot is live yet: nothing takes traffic until a swap".to_owned(),
            });
        }
        Intent::Swap { expect } => match (live, idle) {
            (_, None) => {
                refused = Some(format!("{target} has no single idle slot to switch to"));
            }
            (Some(l), Some(i)) if expect.is_some() && l.version.as_deref() == expect => {
                effects.push(format!(
                    "nothing: {} is live already on {}",
                    expect.unwrap_or_default(),
                    describe(l)
                ));
                let _ = i;
            }
            (live, Some(i)) => {
                if let Some(want) = expect {
                    if i.version.as_deref() != Some(want) {
                        refused = Some(format!("the idle {} does not hold {want}", describe(i)));
                    }
                }
                if i.version.is_none() && refused.is_none() {
                    refused = Some(format!("the idle slot {} holds nothing", i.slot));
                }
                if refused.is_none() {
                    effects.push(format!(
                        "switch live traffic of {target} to {}{}",
                        describe(i),
                        live.map(|l| format!(", from {}", describe(l)))
                            .unwrap_or_default()
                    ));
                    if let Some(l) = live {
                        effects.push(format!(
                            "{} stays in the idle slot, for a switch back",
                            l.version.as_deref().unwrap_or("what was live")
                        ));
                    }
                }
            }
        },
        Intent::Rollback => match (live, idle) {
            (Some(l), Some(i)) if i.version.is_some() => {
                effects.push(format!(
                    "switch live traffic of {target} back to {}, from {}",
                    describe(i),
                    describe(l)
                ));
            }
            _ => {
                refused = Some(format!(
                    "{target} has no previous release in an idle slot to switch back to"
                ));
            }
        },
    }
    Preview { effects, refused }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(name: &str, live: bool, version: Option<&str>) -> SlotStatus {
        SlotStatus {
            slot: name.into(),
            live,
            url: None,
            version: version.map(str::to_owned),
            sha256: None,
            state: None,
        }
    }

    fn status(slots: Vec<SlotStatus>) -> TargetStatus {
        TargetStatus {
            target: "local:qa".into(),
            slots,
        }
    }

    #[test]
    fn deploy_names_the_idle_slot_and_keeps_live_traffic() {
        let s = status(vec![
            slot("blue", true, Some("1.0.0")),
            slot("green", false, Some("0.9.0")),
        ]);
        let p = preview(
            &s,
            Intent::Deploy {
                version: "1.1.0",
                sha256: "abcdef0123456789",
            },
        );
        assert_eq!(p.refused, None);
        assert!(p.effects[0].contains("into slot green (0.9.0)"), "{p:?}");
        assert!(p.effects[0].contains("abcdef012345)"), "{p:?}");
        assert!(p.effects[1].contains("stays on slot blue (1.0.0)"), "{p:?}");
        let fresh = preview(
            &status(vec![slot("blue", false, None), slot("green", false, None)]),
            Intent::Deploy {
                version: "1.0.0",
                sha256: "ab",
            },
        );
        assert!(fresh.effects[0].contains("the idle slot"), "{fresh:?}");
        assert!(fresh.effects[1].contains("no slot is live"), "{fresh:?}");
    }

    #[test]
    fn swap_and_rollback_say_what_moves_or_why_not() {
        let s = status(vec![
            slot("blue", true, Some("1.0.0")),
            slot("green", false, Some("1.1.0")),
        ]);
        let p = preview(
            &s,
            Intent::Swap {
                expect: Some("1.1.0"),
            },
        );
        assert_eq!(p.refused, None);
        assert!(p.effects[0].contains("to slot green (1.1.0), from slot blue (1.0.0)"));
        let p = preview(
            &s,
            Intent::Swap {
                expect: Some("2.0.0"),
            },
        );
        assert!(p.refused.unwrap().contains("does not hold 2.0.0"));
        let p = preview(
            &s,
            Intent::Swap {
                expect: Some("1.0.0"),
            },
        );
        assert!(p.effects[0].starts_with("nothing"), "{p:?}");
        let p = preview(&s, Intent::Rollback);
        assert!(p.effects[0].contains("back to slot green (1.1.0)"), "{p:?}");
        let empty = status(vec![
            slot("blue", true, Some("1.0.0")),
            slot("green", false, None),
        ]);
        assert!(preview(&empty, Intent::Rollback).refused.is_some());
        assert!(
            preview(&empty, Intent::Swap { expect: None })
                .refused
                .is_some()
        );
        // A fresh local environment: blue deployed, nothing live yet.
        let fresh = status(vec![
            slot("blue", false, Some("1.0.0")),
            slot("green", false, None),
        ]);
        let p = preview(&fresh, Intent::Swap { expect: None });
        assert_eq!(p.refused, None, "{p:?}");
        assert!(p.effects[0].contains("to slot blue (1.0.0)"), "{p:?}");
        // Cloud Run after deploy, swap, deploy: an untagged revision live,
        // blue and green both idle; the target names where traffic goes.
        let run = status(vec![
            slot("(latest)", true, Some("1.0.0")),
            slot("blue", false, Some("1.0.0")),
            slot("green", false, Some("1.1.0")),
        ]);
        assert!(
            preview(&run, Intent::Swap { expect: None })
                .refused
                .is_some()
        );
        let p = preview_to(&run, Intent::Swap { expect: None }, Some("green"));
        assert!(p.effects[0].contains("to slot green (1.1.0)"), "{p:?}");
        let p = preview_to(&run, Intent::Rollback, Some("blue"));
        assert!(p.effects[0].contains("back to slot blue (1.0.0)"), "{p:?}");
    }
}
