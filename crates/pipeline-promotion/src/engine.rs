//! A plan, run under the environment's lock: deploy to the idle slot,
//! validate it, record the intent to switch, switch, verify, switch back when
//! verification fails, record how it ended; every record written to the
//! state store by compare-and-swap.
//!
//! **A switch is never unrecorded.** Everything that can be checked before
//! traffic moves is checked first: the store can take the record (its
//! preflight: the release's tag exists where the store needs it), the lock
//! is still held, and the intent ([`Outcome::Switching`]) is written. If the
//! final record cannot be written after the switch, traffic goes back (as
//! for a failed verification) and the error names what the environment
//! serves; the intent stays newest, and the next run that takes the lock
//! asks the target what is live and finishes the record
//! ([`reconcile`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use pipeline_http::Http;
use pipeline_targets::health::{HealthCheck, Probe, probe};
use pipeline_targets::{Release, Target};
use url::Url;

use crate::PromoteError;
use crate::command::{Ended, UserCommand};
use crate::plan::{Plan, Step};
use crate::record::{Outcome, Record};
use crate::store::{LockGuard, Revision};
use crate::store::{StateStore, StoreError};
use pipeline_config::{Check, Environment};

/// What a step did, for the caller to show as it happens.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The step.
    pub step: String,
    /// Whether it passed.
    pub ok: bool,
    /// What it did or why it failed.
    pub detail: String,
    /// How long it took.
    pub took: Duration,
}

/// Where and as whom the promotion runs.
#[derive(Debug, Clone)]
pub struct Context {
    /// The repository root: checks run there.
    pub root: PathBuf,
    /// Who promotes (user, CI run), for the record.
    pub by: String,
    /// The URL live traffic reaches after the switch (the front address,
    /// the production host).
    pub live_url: Url,
    /// A release brought back by hand (`rollback --version`): its record says
    /// so instead of `live`.
    pub by_hand: bool,
    /// The id of the environment's lock the caller holds: every record
    /// written carries it.
    pub lock: Option<String>,
}

/// How a promotion ended when it ran to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Promoted {
    /// The release is live and verified.
    Live,
    /// Verification failed and the previous release is live again (or,
    /// with `auto_rollback` off, the release stays live, failed).
    VerificationFailed {
        /// What failed.
        reason: String,
        /// Whether traffic went back.
        rolled_back: bool,
    },
    /// Validation of the idle slot failed; traffic never moved.
    ValidationFailed {
        /// What failed.
        reason: String,
    },
}

/// Runs a check: `sh -c COMMAND` at `root` with `SLOT_URL`, `APP_BASE_URL`
/// and `PIPELINE_VERSION` set, killed at its timeout. `Ok(None)` when it
/// passed, `Ok(Some(why))` when it failed (exit status and the end of its
/// output).
pub async fn run_check(
    check: &Check,
    root: &Path,
    url: &Url,
    version: &str,
) -> Result<Option<String>, PromoteError> {
    let base = url.as_str().trim_end_matches('/');
    let ended = UserCommand::new(
        &check.command,
        root,
        Duration::from_secs(check.timeout_secs),
    )
    .env("SLOT_URL", base)
    .env("APP_BASE_URL", base)
    .env("PIPELINE_VERSION", version)
    .env("EXPECT_VERSION", version)
    .capture(true)
    .run()
    .await
    .map_err(|source| PromoteError::Spawn {
        command: check.command.clone(),
        source,
    })?;
    let tail = || {
        let text = String::from_utf8_lossy(ended.output());
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!(":\n{tail}")
        }
    };
    Ok(match &ended {
        Ended::Exited { status, .. } if status.success() => None,
        Ended::Exited { status, .. } => {
            Some(format!("`{}` failed ({status}){}", check.name, tail()))
        }
        Ended::TimedOut { .. } => Some(format!(
            "`{}` did not finish within {}s{}",
            check.name,
            check.timeout_secs,
            tail()
        )),
    })
}

/// Watches `url` for `secs`: every probe must be healthy.
async fn watch_health(http: &Http, url: &Url, path: &str, secs: u64) -> Option<String> {
    let check = HealthCheck::new(url.clone(), path);
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Probe::Not(seen) = probe(http, &check).await {
            return Some(format!("{} answered {seen} during the watch", check.url()));
        }
        if tokio::time::Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What is live: a version, its digest and since when.
#[derive(Debug, Clone)]
struct Live {
    version: String,
    sha256: String,
    since: Option<u64>,
}

/// The records of one run: each follows the one before, carrying the
/// lock's id.
struct Writer<'a, S> {
    store: &'a S,
    env: &'a Environment,
    plan: &'a Plan,
    ctx: &'a Context,
    /// The revision the next record follows.
    expected: Option<Revision>,
}

impl<S: StateStore> Writer<'_, S> {
    fn record(&self, outcome: Outcome, note: String, live: Option<&Live>) -> Record {
        Record {
            env: self.env.name.clone(),
            version: self.plan.candidate.version.clone(),
            sha256: self.plan.candidate.sha256.clone(),
            outcome,
            live_version: live.map(|l| l.version.clone()),
            live_sha256: live.map(|l| l.sha256.clone()),
            at: crate::now(),
            live_since: live.and_then(|l| l.since),
            by: self.ctx.by.clone(),
            note,
            lock: self.ctx.lock.clone(),
        }
    }

    async fn write(
        &mut self,
        outcome: Outcome,
        note: String,
        live: Option<&Live>,
    ) -> Result<(), StoreError> {
        let record = self.record(outcome, note, live);
        let revision = match self
            .store
            .append(&self.env.name, &record, self.expected.as_ref())
            .await
        {
            Ok(revision) => revision,
            Err(e) => landed(self.store, &self.env.name, &record, e).await?,
        };
        self.expected = Some(revision);
        Ok(())
    }
}

/// After an append failed: whether it landed all the same (a reply lost, a
/// check after the write that failed), read back as the swap of a target
/// is; its revision if it did, else the error.
async fn landed<S: StateStore>(
    store: &S,
    env: &str,
    record: &Record,
    error: StoreError,
) -> Result<Revision, StoreError> {
    if matches!(error, StoreError::Conflict { .. }) {
        return Err(error);
    }
    match store.current(env).await {
        Ok(Some(now)) if now.record == *record => {
            tracing::info!(env, "the record landed although its write failed ({error})");
            Ok(now.revision)
        }
        _ => Err(error),
    }
}

/// Runs `plan` against `target` for `env`, reporting each step to `report`,
/// for a caller that holds the environment's lock `lock` (and made its plan
/// under it, after [`reconcile`]).
///
/// # Errors
///
/// The target's and the store's failures. After traffic moved, a record
/// that cannot be written is [`PromoteError::Unrecorded`], naming what the
/// environment serves.
#[allow(clippy::too_many_arguments)]
pub async fn promote_locked<S: StateStore, T: Target>(
    store: &S,
    lock: &LockGuard,
    target: &T,
    http: &Http,
    env: &Environment,
    health_path: &str,
    plan: &Plan,
    release: &Release,
    ctx: &Context,
    report: &mut dyn FnMut(StepReport),
) -> Result<Promoted, PromoteError> {
    let version = plan.candidate.version.clone();
    store.preflight(&env.name, &version).await?;
    let current = store.current(&env.name).await?;
    let previous = current.as_ref().and_then(|c| {
        Some(Live {
            version: c.record.live_version.clone()?,
            sha256: c.record.live_sha256.clone()?,
            since: c.record.live_since,
        })
    });
    let mut w = Writer {
        store,
        env,
        plan,
        ctx,
        expected: current.as_ref().map(|c| c.revision.clone()),
    };
    let mut slot_url: Option<Url> = None;
    let mut switched = false;
    for step in &plan.steps {
        let started = std::time::Instant::now();
        let mut done = |name: String, ok: bool, detail: String| {
            report(StepReport {
                step: name,
                ok,
                detail,
                took: started.elapsed(),
            });
        };
        match step {
            Step::Deploy { target: what } => match target.deploy(release).await {
                Ok(d) => {
                    done(
                        format!("deploy to {what}"),
                        true,
                        format!("{} healthy in slot {} at {}", d.version, d.slot, d.url),
                    );
                    slot_url = Url::parse(&d.url).ok();
                }
                Err(e) => {
                    done(format!("deploy to {what}"), false, e.to_string());
                    // Traffic never moved: the deploy's failure is the news,
                    // the record only its trace.
                    if let Err(why) = w
                        .write(
                            Outcome::Failed,
                            format!("deploy failed: {e}"),
                            previous.as_ref(),
                        )
                        .await
                    {
                        tracing::warn!(env = env.name, "the failed deploy was not recorded: {why}");
                    }
                    return Err(e.into());
                }
            },
            Step::Validate { name, .. } => {
                let Some(check) = env.validate.iter().find(|c| &c.name == name) else {
                    continue;
                };
                let url = slot_url.clone().unwrap_or_else(|| ctx.live_url.clone());
                if let Some(why) = run_check(check, &ctx.root, &url, &version).await? {
                    done(format!("validate {name}"), false, why.clone());
                    w.write(
                        Outcome::Failed,
                        format!("validation failed: {why}"),
                        previous.as_ref(),
                    )
                    .await?;
                    return Ok(Promoted::ValidationFailed { reason: why });
                }
                done(
                    format!("validate {name}"),
                    true,
                    format!("passed against {url}"),
                );
            }
            Step::Switch => {
                // Before traffic moves: the lock is still ours, and the
                // intent is on record.
                if !store.holds(lock).await? {
                    let holder = store.locked_by(&env.name).await?;
                    return Err(StoreError::LockLost {
                        env: env.name.clone(),
                        reference: format!("the lock of {}", env.name),
                        by: holder
                            .as_ref()
                            .map_or_else(|| "nobody".to_owned(), |h| h.by.clone()),
                        what: holder.as_ref().map_or_else(String::new, |h| h.what.clone()),
                        since: holder.map_or(0, |h| h.since),
                    }
                    .into());
                }
                let intent = if ctx.by_hand {
                    Outcome::RollingBack
                } else {
                    Outcome::Switching
                };
                w.write(
                    intent,
                    format!(
                        "switching from {} to {version}",
                        previous.as_ref().map_or("nothing", |p| p.version.as_str())
                    ),
                    previous.as_ref(),
                )
                .await?;
                match target.swap(Some(&version)).await {
                    Ok(s) => {
                        switched = true;
                        done(
                            "switch".to_owned(),
                            true,
                            format!(
                                "{} live, {} idle",
                                s.live_version.as_deref().unwrap_or("?"),
                                s.idle_version.as_deref().unwrap_or("-")
                            ),
                        );
                    }
                    Err(e) => {
                        done("switch".to_owned(), false, e.to_string());
                        // A target never half-switches; what is live now is
                        // asked, not assumed.
                        let serving = live_version(target).await;
                        let live = match &serving {
                            Some(v) if *v == version => Some(Live {
                                version: version.clone(),
                                sha256: plan.candidate.sha256.clone(),
                                since: Some(crate::now()),
                            }),
                            Some(v) if previous.as_ref().is_some_and(|p| p.version == *v) => {
                                previous.clone()
                            }
                            _ => {
                                return Err(PromoteError::Unrecorded {
                                    env: env.name.clone(),
                                    serving,
                                    why: format!(
                                        "the switch failed ({e}) and what is live could not be told"
                                    ),
                                });
                            }
                        };
                        if let Err(why) = w
                            .write(
                                Outcome::Failed,
                                format!("switch failed: {e}"),
                                live.as_ref(),
                            )
                            .await
                        {
                            return Err(unrecorded(env, serving, &why));
                        }
                        return Err(e.into());
                    }
                }
            }
            Step::WatchHealth { .. } | Step::Verify { .. } => {
                // The checks after the switch: a failure switches back.
                let (label, failed, passed) = match step {
                    Step::WatchHealth { secs } => (
                        format!("watch health {secs}s"),
                        watch_health(http, &ctx.live_url, health_path, *secs).await,
                        format!("{} healthy throughout", ctx.live_url),
                    ),
                    Step::Verify { name, .. } => {
                        let Some(check) = env.verify.checks.iter().find(|c| &c.name == name) else {
                            continue;
                        };
                        (
                            format!("verify {name}"),
                            run_check(check, &ctx.root, &ctx.live_url, &version).await?,
                            format!("passed against {}", ctx.live_url),
                        )
                    }
                    _ => continue,
                };
                if let Some(why) = failed {
                    done(label, false, why.clone());
                    return switch_back(&mut w, target, &why, previous, switched, report).await;
                }
                done(label, true, passed);
            }
            Step::Record => {
                let live = Live {
                    version: version.clone(),
                    sha256: plan.candidate.sha256.clone(),
                    since: Some(crate::now()),
                };
                let (outcome, note) = if ctx.by_hand {
                    (
                        Outcome::ManualRollback,
                        format!(
                            "rolled back from {}",
                            previous.as_ref().map_or("-", |p| p.version.as_str())
                        ),
                    )
                } else {
                    (Outcome::Live, String::new())
                };
                if let Err(why) = w.write(outcome, note, Some(&live)).await {
                    done("record".to_owned(), false, why.to_string());
                    // Traffic moved and nothing says so: it goes back, as
                    // for a failed verification, and the error says what
                    // the environment serves. The intent stays newest for
                    // the next run to finish.
                    return Err(
                        unrecorded_after_switch(&mut w, target, previous, &why, report).await,
                    );
                }
                done(
                    "record".to_owned(),
                    true,
                    format!("{} live in {}", version, env.name),
                );
            }
        }
    }
    Ok(Promoted::Live)
}

/// The version live traffic reaches, as the target says now.
async fn live_version<T: Target>(target: &T) -> Option<String> {
    target.status().await.ok()?.live()?.version.clone()
}

fn unrecorded(env: &Environment, serving: Option<String>, why: &StoreError) -> PromoteError {
    PromoteError::Unrecorded {
        env: env.name.clone(),
        serving,
        why: crate::error_chain(why),
    }
}

/// The final record could not be written after the switch: switch back
/// (whatever `auto_rollback` says: an unrecorded release is not one to keep
/// serving), try to record that, and say what is served.
async fn unrecorded_after_switch<S: StateStore, T: Target>(
    w: &mut Writer<'_, S>,
    target: &T,
    previous: Option<Live>,
    why: &StoreError,
    report: &mut dyn FnMut(StepReport),
) -> PromoteError {
    let started = std::time::Instant::now();
    let version = w.plan.candidate.version.clone();
    if previous.is_none() {
        // Nothing to go back to: the release stays; the intent says so.
        return unrecorded(w.env, Some(version), why);
    }
    match target.rollback().await {
        Ok(s) => {
            report(StepReport {
                step: "roll back".to_owned(),
                ok: true,
                detail: format!(
                    "{} live again: the record could not be written",
                    s.live_version.as_deref().unwrap_or("?")
                ),
                took: started.elapsed(),
            });
            let live = previous.map(|p| Live {
                since: Some(crate::now()),
                ..p
            });
            let serving = live.as_ref().map(|l| l.version.clone());
            match w
                .write(
                    Outcome::RolledBack,
                    format!("the record of {version} could not be written ({why}); switched back"),
                    live.as_ref(),
                )
                .await
            {
                Ok(()) => PromoteError::Unrecorded {
                    env: w.env.name.clone(),
                    serving,
                    why: format!("{}; switched back and recorded so", crate::error_chain(why)),
                },
                Err(_) => unrecorded(w.env, serving, why),
            }
        }
        Err(e) => {
            report(StepReport {
                step: "roll back".to_owned(),
                ok: false,
                detail: e.to_string(),
                took: started.elapsed(),
            });
            unrecorded(w.env, live_version(target).await, why)
        }
    }
}

/// A check after the switch failed: switch back (when the environment
/// says so and there is something to go back to), and record how it ended.
async fn switch_back<S: StateStore, T: Target>(
    w: &mut Writer<'_, S>,
    target: &T,
    why: &str,
    previous: Option<Live>,
    switched: bool,
    report: &mut dyn FnMut(StepReport),
) -> Result<Promoted, PromoteError> {
    let started = std::time::Instant::now();
    let new = Live {
        version: w.plan.candidate.version.clone(),
        sha256: w.plan.candidate.sha256.clone(),
        since: Some(crate::now()),
    };
    if !w.env.auto_rollback || !switched || previous.is_none() {
        let note = format!("verification failed, not rolled back: {why}");
        if let Err(e) = w.write(Outcome::Live, note, Some(&new)).await {
            return Err(unrecorded(w.env, Some(new.version), &e));
        }
        return Ok(Promoted::VerificationFailed {
            reason: why.to_owned(),
            rolled_back: false,
        });
    }
    match target.rollback().await {
        Ok(s) => {
            report(StepReport {
                step: "roll back".to_owned(),
                ok: true,
                detail: format!("{} live again", s.live_version.as_deref().unwrap_or("?")),
                took: started.elapsed(),
            });
            let live = previous.map(|p| Live {
                since: Some(crate::now()),
                ..p
            });
            if let Err(e) = w
                .write(
                    Outcome::RolledBack,
                    format!("verification failed: {why}"),
                    live.as_ref(),
                )
                .await
            {
                return Err(unrecorded(w.env, live.map(|l| l.version), &e));
            }
            Ok(Promoted::VerificationFailed {
                reason: why.to_owned(),
                rolled_back: true,
            })
        }
        Err(e) => {
            report(StepReport {
                step: "roll back".to_owned(),
                ok: false,
                detail: e.to_string(),
                took: started.elapsed(),
            });
            if let Err(store) = w
                .write(
                    Outcome::Live,
                    format!("verification failed ({why}) and the rollback failed: {e}"),
                    Some(&new),
                )
                .await
            {
                return Err(unrecorded(w.env, live_version(target).await, &store));
            }
            Err(e.into())
        }
    }
}

/// The newest record is no intent: if the target serves another version
/// than it says (an earlier run switched back and could not record it, or
/// someone switched by hand), a record of what it serves follows it. A
/// target that cannot tell is left alone.
async fn correct<S: StateStore, T: Target>(
    store: &S,
    target: &T,
    env: &Environment,
    by: &str,
    lock: Option<&str>,
    current: &crate::store::Stored,
) -> Result<Reconciled, PromoteError> {
    let said = current.record.live_version.clone();
    let Some(serving) = live_version(target).await else {
        return Ok(Reconciled::Nothing);
    };
    if said.as_deref() == Some(serving.as_str()) {
        return Ok(Reconciled::Nothing);
    }
    // The digest of what is served, from the environment's own history.
    let history = store.history(&env.name, crate::plan::HISTORY_DEPTH).await?;
    let Some(sha) = history
        .iter()
        .find(|r| r.live_version.as_deref() == Some(serving.as_str()))
        .and_then(|r| r.live_sha256.clone())
    else {
        tracing::warn!(
            env = env.name,
            "the record says {} is live but {serving} is, which never went live there: left as it is",
            said.as_deref().unwrap_or("nothing")
        );
        return Ok(Reconciled::Nothing);
    };
    let now = crate::now();
    let note = format!(
        "the record said {} was live, the environment serves {serving}: recorded so",
        said.as_deref().unwrap_or("nothing")
    );
    let record = Record {
        env: env.name.clone(),
        version: current.record.version.clone(),
        sha256: current.record.sha256.clone(),
        outcome: Outcome::RolledBack,
        live_version: Some(serving.clone()),
        live_sha256: Some(sha),
        at: now,
        live_since: Some(now),
        by: by.to_owned(),
        note: note.clone(),
        lock: lock.map(str::to_owned),
    };
    store
        .append(&env.name, &record, Some(&current.revision))
        .await?;
    Ok(Reconciled::Finished {
        version: current.record.version.clone(),
        serving,
        note,
        by_hand: false,
    })
}

/// How [`reconcile`] finished an intent an earlier run left newest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reconciled {
    /// The newest record was no intent: nothing to do.
    Nothing,
    /// The intent was finished: the record written now says what the
    /// environment serves.
    Finished {
        /// The intent's version.
        version: String,
        /// What the environment serves now.
        serving: String,
        /// What was done, in words.
        note: String,
        /// Whether the intent was a rollback by hand.
        by_hand: bool,
    },
}

/// Brings `env`'s record and what its target serves together before a run:
/// finishes an intent an earlier run left as the newest record (it died, or
/// could not write how the switch ended) by asking `target` what is live,
/// and follows a record that names another live version than the target
/// serves with one of what it serves. A promotion's release found live was never
/// verified: it is switched back when the environment rolls back by
/// itself. Run under the environment's lock, before deciding.
///
/// # Errors
///
/// [`PromoteError::Unrecorded`] when the target serves neither version of
/// the intent, or cannot say; the store's failures.
pub async fn reconcile<S: StateStore, T: Target>(
    store: &S,
    target: &T,
    env: &Environment,
    by: &str,
    lock: Option<&str>,
) -> Result<Reconciled, PromoteError> {
    let Some(current) = store.current(&env.name).await? else {
        return Ok(Reconciled::Nothing);
    };
    let intent = &current.record;
    if !intent.outcome.is_intent() {
        return correct(store, target, env, by, lock, &current).await;
    }
    let by_hand = intent.outcome == Outcome::RollingBack;
    let serving = live_version(target).await;
    let old = intent.live_version.clone();
    let new_live = || {
        (
            Some(intent.version.clone()),
            Some(intent.sha256.clone()),
            Some(crate::now()),
        )
    };
    let (outcome, note, live) = match serving.as_deref() {
        Some(v) if v == intent.version && by_hand => (
            Outcome::ManualRollback,
            "an interrupted rollback by hand, finished".to_owned(),
            new_live(),
        ),
        Some(v) if v == intent.version && env.auto_rollback && old.is_some() => {
            target.rollback().await?;
            (
                Outcome::RolledBack,
                "an earlier run switched and stopped before its checks: switched back".to_owned(),
                (old.clone(), intent.live_sha256.clone(), Some(crate::now())),
            )
        }
        Some(v) if v == intent.version => (
            Outcome::Live,
            "an earlier run switched and stopped before its checks: live, not verified".to_owned(),
            new_live(),
        ),
        Some(v) if Some(v) == old.as_deref() => (
            Outcome::Failed,
            "an earlier run stopped before traffic moved, or moved it back".to_owned(),
            (old.clone(), intent.live_sha256.clone(), intent.live_since),
        ),
        _ => {
            return Err(PromoteError::Unrecorded {
                env: env.name.clone(),
                serving,
                why: format!(
                    "an earlier run was switching from {} to {}, and the environment serves \
                     neither",
                    old.as_deref().unwrap_or("nothing"),
                    intent.version
                ),
            });
        }
    };
    let record = Record {
        env: env.name.clone(),
        version: intent.version.clone(),
        sha256: intent.sha256.clone(),
        outcome,
        live_version: live.0,
        live_sha256: live.1,
        at: crate::now(),
        live_since: live.2,
        by: by.to_owned(),
        note: note.clone(),
        lock: lock.map(str::to_owned),
    };
    let serving = record.live_version.clone().unwrap_or_default();
    store
        .append(&env.name, &record, Some(&current.revision))
        .await?;
    Ok(Reconciled::Finished {
        version: intent.version.clone(),
        serving,
        note,
        by_hand,
    })
}
