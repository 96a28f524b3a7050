//! A promotion, run: lock the environment, deploy to the idle slot,
//! validate it, switch, verify, and switch back when verification fails;
//! every outcome recorded in the state store by compare-and-swap.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use pipeline_http::Http;
use pipeline_targets::health::{HealthCheck, Probe, probe};
use pipeline_targets::{Release, Target};
use tokio::io::AsyncReadExt as _;
use url::Url;

use crate::PromoteError;
use crate::plan::{Plan, Step};
use crate::record::{Outcome, Record};
use crate::store::StateStore;
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
    /// A release brought back by hand (`rollback --to`): its record says
    /// so instead of `live`.
    pub by_hand: bool,
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
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&check.command)
        .current_dir(root)
        .env("SLOT_URL", url.as_str().trim_end_matches('/'))
        .env("APP_BASE_URL", url.as_str().trim_end_matches('/'))
        .env("PIPELINE_VERSION", version)
        .env("EXPECT_VERSION", version)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| PromoteError::Spawn {
            command: check.command.clone(),
            source,
        })?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    // Both pipes read at once: a check that fills one while we wait on
    // the other would hang.
    let collect = async {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let read_out = async {
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_end(&mut a).await;
            }
        };
        let read_err = async {
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_end(&mut b).await;
            }
        };
        tokio::join!(read_out, read_err);
        a.extend_from_slice(&b);
        a
    };
    let waited = tokio::time::timeout(Duration::from_secs(check.timeout_secs), async {
        let output = collect.await;
        (child.wait().await, output)
    })
    .await;
    let (status, output) = match waited {
        Ok((status, output)) => (status, output),
        Err(_) => {
            let _ = child.kill().await;
            return Ok(Some(format!(
                "`{}` did not finish within {}s",
                check.name, check.timeout_secs
            )));
        }
    };
    match status {
        Ok(s) if s.success() => Ok(None),
        Ok(s) => {
            let text = String::from_utf8_lossy(&output);
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            Ok(Some(format!(
                "`{}` failed ({s}){}",
                check.name,
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(":\n{tail}")
                }
            )))
        }
        Err(e) => Ok(Some(format!("`{}`: cannot wait for it: {e}", check.name))),
    }
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

/// Runs `plan` against `target` for `env`, reporting each step to `report`,
/// for a caller that holds the environment's lock (and made its plan under
/// it).
#[allow(clippy::too_many_arguments)]
pub async fn promote_locked<S: StateStore, T: Target>(
    store: &S,
    target: &T,
    http: &Http,
    env: &Environment,
    health_path: &str,
    plan: &Plan,
    release: &Release,
    ctx: &Context,
    report: &mut dyn FnMut(StepReport),
) -> Result<Promoted, PromoteError> {
    let current = store.current(&env.name).await?;
    let previous_live = current.as_ref().and_then(|c| {
        Some((
            c.record.live_version.clone()?,
            c.record.live_sha256.clone()?,
            c.record.live_since,
        ))
    });
    let expected = current.as_ref().map(|c| c.revision.clone());
    let version = plan.candidate.version.clone();
    let record =
        |outcome: Outcome, note: String, live: Option<(String, String, Option<u64>)>| Record {
            env: env.name.clone(),
            version: version.clone(),
            sha256: plan.candidate.sha256.clone(),
            outcome,
            live_version: live.as_ref().map(|l| l.0.clone()),
            live_sha256: live.as_ref().map(|l| l.1.clone()),
            at: crate::now(),
            live_since: live.and_then(|l| l.2),
            by: ctx.by.clone(),
            note,
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
                    store
                        .append(
                            &env.name,
                            &record(
                                Outcome::Failed,
                                format!("deploy failed: {e}"),
                                previous_live.clone(),
                            ),
                            expected.as_ref(),
                        )
                        .await?;
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
                    store
                        .append(
                            &env.name,
                            &record(
                                Outcome::Failed,
                                format!("validation failed: {why}"),
                                previous_live.clone(),
                            ),
                            expected.as_ref(),
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
                let s = target.swap(Some(&version)).await;
                match s {
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
                        store
                            .append(
                                &env.name,
                                &record(
                                    Outcome::Failed,
                                    format!("switch failed: {e}"),
                                    previous_live.clone(),
                                ),
                                expected.as_ref(),
                            )
                            .await?;
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
                    return rollback(
                        store,
                        target,
                        env,
                        plan,
                        &why,
                        previous_live,
                        expected,
                        switched,
                        record,
                        report,
                    )
                    .await;
                }
                done(label, true, passed);
            }
            Step::Record => {
                let live = Some((
                    version.clone(),
                    plan.candidate.sha256.clone(),
                    Some(crate::now()),
                ));
                let (outcome, note) = if ctx.by_hand {
                    (
                        Outcome::ManualRollback,
                        format!(
                            "rolled back from {}",
                            previous_live.as_ref().map_or("-", |p| p.0.as_str())
                        ),
                    )
                } else {
                    (Outcome::Live, String::new())
                };
                store
                    .append(&env.name, &record(outcome, note, live), expected.as_ref())
                    .await?;
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

#[allow(clippy::too_many_arguments)]
async fn rollback<S: StateStore, T: Target>(
    store: &S,
    target: &T,
    env: &Environment,
    plan: &Plan,
    why: &str,
    previous_live: Option<(String, String, Option<u64>)>,
    expected: Option<crate::store::Revision>,
    switched: bool,
    record: impl Fn(Outcome, String, Option<(String, String, Option<u64>)>) -> Record,
    report: &mut dyn FnMut(StepReport),
) -> Result<Promoted, PromoteError> {
    let started = std::time::Instant::now();
    if !env.auto_rollback || !switched || previous_live.is_none() {
        let live = Some((
            plan.candidate.version.clone(),
            plan.candidate.sha256.clone(),
            Some(crate::now()),
        ));
        let note = format!("verification failed, not rolled back: {why}");
        store
            .append(
                &env.name,
                &record(Outcome::Live, note, live),
                expected.as_ref(),
            )
            .await?;
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
            let live = previous_live.map(|(v, d, _)| (v, d, Some(crate::now())));
            store
                .append(
                    &env.name,
                    &record(
                        Outcome::RolledBack,
                        format!("verification failed: {why}"),
                        live,
                    ),
                    expected.as_ref(),
                )
                .await?;
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
            let live = Some((
                plan.candidate.version.clone(),
                plan.candidate.sha256.clone(),
                Some(crate::now()),
            ));
            store
                .append(
                    &env.name,
                    &record(
                        Outcome::Live,
                        format!("verification failed ({why}) and the rollback failed: {e}"),
                        live,
                    ),
                    expected.as_ref(),
                )
                .await?;
            Err(e.into())
        }
    }
}
