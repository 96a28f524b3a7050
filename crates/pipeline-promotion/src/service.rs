//! The promotion service: each request a transaction over one environment.
//!
//! A promotion builds the environment's target from `pipeline.toml`, takes
//! the environment's lock in the state store, decides under it (so a
//! promotion that waited for another sees what that one left), runs the
//! plan ([`crate::engine`]) and releases the lock, whatever happened. A
//! manual rollback does the same with the previous release. Status and
//! history only read.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pipeline_artifact::{ArtifactStore, Sha256Digest};
use pipeline_ci::{Env, Exit};
use pipeline_config::{Environment, NotifyOn, PipelineConfig, StateSettings, TargetConfig};
use pipeline_contracts::promote::NoticeDoc;
use pipeline_http::{Endpoint, Http, RetryPolicy};
use pipeline_targets::health::{HealthCheck, Probe, probe};
use pipeline_targets::local::{AgentRef, LocalTarget};
use pipeline_targets::{AnyTarget, Release, Target as _};
use serde::Deserialize;

use crate::engine::{Context, Promoted, Reconciled, StepReport, promote_locked};
use crate::notify::Notifier;
use crate::plan::{Candidate, Decision, EnvNow, Plan, Refusal, plan, rollback_plan};
use crate::plan::{HISTORY_DEPTH, STALE_LOCK_SECS};
use crate::record::{Outcome, Record};
use crate::store::{AnyStore, GitHubStore, GitStore, LockGuard, StateStore as _, StoreError};
use crate::targets::{self, Mode};
use crate::{PromoteError, now};

/// A promotion asked for.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PromoteRequest {
    /// The environment to promote into.
    pub to: String,
    /// The version expected (in the previous environment, or of the
    /// artifact).
    pub version: Option<String>,
    /// The artifact's digest: the first environment takes the build's
    /// artifact; later ones take what the previous one runs.
    pub sha256: Option<Sha256Digest>,
    /// The artifact file [default: the artifact store's `<sha256>.zip`].
    pub artifact: Option<PathBuf>,
    /// The gate's verdict, for environments that require a passed gate.
    pub gate: Option<GateEvidence>,
    /// When the only reason to refuse is the previous environment's soak
    /// time, wait for it, up to this long.
    pub wait_soak: Option<Duration>,
    /// Decide and plan, change nothing.
    pub dry_run: bool,
}

impl PromoteRequest {
    /// A promotion into `env` of what the previous environment runs.
    pub fn to(env: impl Into<String>) -> Self {
        Self {
            to: env.into(),
            ..Self::default()
        }
    }

    /// Expects `version` (in the previous environment, or of the artifact).
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The build's artifact, by digest (and file, else the store's).
    #[must_use]
    pub fn artifact(mut self, sha256: Sha256Digest, file: Option<PathBuf>) -> Self {
        self.sha256 = Some(sha256);
        self.artifact = file;
        self
    }

    /// The gate's verdict.
    #[must_use]
    pub fn gate(mut self, gate: GateEvidence) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Waits up to `budget` for the previous environment's soak time.
    #[must_use]
    pub fn wait_soak(mut self, budget: Duration) -> Self {
        self.wait_soak = Some(budget);
        self
    }

    /// Only plans.
    #[must_use]
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }
}

/// A manual rollback asked for.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RollbackRequest {
    /// The environment.
    pub env: String,
    /// Bring back this version (one that went live there before), its
    /// artifact redeployed through the environment's checks; `None`: the
    /// previous release comes back by switching (or restarting) it.
    pub to: Option<String>,
    /// The artifact of `to` [default: the artifact store's `<sha256>.zip`].
    pub artifact: Option<PathBuf>,
}

impl RollbackRequest {
    /// A rollback of `env` to its previous release.
    pub fn env(env: impl Into<String>) -> Self {
        Self {
            env: env.into(),
            ..Self::default()
        }
    }

    /// Brings back `version` instead.
    #[must_use]
    pub fn to_version(mut self, version: impl Into<String>, artifact: Option<PathBuf>) -> Self {
        self.to = Some(version.into());
        self.artifact = artifact;
        self
    }
}

/// The verdict of `pipeline-report gate --json`, as a promotion needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GateEvidence {
    /// Whether the gate passed.
    pub passed: bool,
    /// The commit it judged (`pipeline-report gate` writes it): the gate
    /// then unlocks only the release tagged on that commit.
    pub commit: Option<String>,
}

#[derive(Deserialize)]
struct GateDoc {
    #[serde(default)]
    commit: Option<String>,
    gate: GateVerdict,
}

#[derive(Deserialize)]
struct GateVerdict {
    passed: bool,
}

impl GateEvidence {
    /// Reads the gate's JSON document at `path`.
    ///
    /// # Errors
    ///
    /// [`PromoteError::Setup`] naming the file when it cannot be read or is
    /// not a gate document.
    pub fn read(path: &Path) -> Result<Self, PromoteError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PromoteError::Setup(format!("{}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| {
            PromoteError::Setup(format!(
                "{}: {e} (is it `pipeline-report gate --json` output?)",
                path.display()
            ))
        })
    }

    /// Parses the gate's JSON document.
    ///
    /// # Errors
    ///
    /// What does not read as one.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        let doc: GateDoc = serde_json::from_str(text)?;
        Ok(Self {
            passed: doc.gate.passed,
            commit: doc.commit.map(|c| c.to_ascii_lowercase()),
        })
    }
}

/// What happens, as it happens, for the caller to show.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Waiting for the previous environment's soak time.
    WaitingSoak {
        /// The environment promoted into.
        env: String,
        /// The previous environment.
        previous: String,
        /// The version.
        version: String,
        /// How long it has run there.
        ran: u64,
        /// How long it must.
        needs: u64,
        /// How long this wait is.
        wait: Duration,
    },
    /// A plan starts to run.
    Starting {
        /// The plan.
        plan: Plan,
        /// A release brought back by hand.
        by_hand: bool,
    },
    /// A step ended.
    Step(StepReport),
    /// An intent an earlier run left was finished before this run.
    Reconciled {
        /// The environment.
        env: String,
        /// The intent's version.
        version: String,
        /// What the environment serves.
        serving: String,
        /// What was done.
        note: String,
    },
    /// Something the caller should know that did not stop the run.
    Warning(String),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::WaitingSoak {
                env,
                previous,
                version,
                ran,
                needs,
                wait,
            } => write!(
                f,
                "waiting {}s: {previous} has run {version} for {ran}s and {env} requires {needs}s",
                wait.as_secs()
            ),
            Event::Starting { plan, by_hand } => write!(
                f,
                "{} {} ({}) from {} into {}",
                if *by_hand { "roll back to" } else { "promote" },
                plan.candidate.version,
                short(&plan.candidate.sha256),
                plan.from,
                plan.env
            ),
            Event::Reconciled {
                env,
                version,
                serving,
                note,
            } => write!(
                f,
                "{env}: {note} (the switch to {version} an earlier run left unrecorded); {serving} live"
            ),
            Event::Warning(w) => write!(f, "warning: {w}"),
            Event::Step(r) => {
                let mark = if r.ok { "ok " } else { "FAILED" };
                write!(
                    f,
                    "  {mark} {:<28} {:>6.1}s  {}",
                    r.step,
                    r.took.as_secs_f64(),
                    r.detail.lines().next().unwrap_or("")
                )?;
                if !r.ok {
                    for line in r.detail.lines().skip(1) {
                        write!(f, "\n       {line}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// A plan that ran to a decision.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Finished {
    /// What was planned.
    pub plan: Plan,
    /// How it ended.
    pub result: Promoted,
    /// How long it took.
    pub took: Duration,
    /// Where live traffic reaches the environment (the front address, the
    /// production host).
    pub live_url: url::Url,
    /// Each step as it ended: deploy, the checks, the switch, the switch
    /// back.
    pub steps: Vec<StepReport>,
}

impl Finished {
    /// The exit code: 0 when the release went live, 1 when it did not.
    pub fn exit(&self) -> Exit {
        match self.result {
            Promoted::Live => Exit::Success,
            _ => Exit::Refused,
        }
    }

    /// What happened, in one sentence.
    pub fn message(&self) -> String {
        let plan = &self.plan;
        match &self.result {
            Promoted::Live => format!(
                "{} live in {} in {:.1}s",
                plan.candidate.version,
                plan.env,
                self.took.as_secs_f64()
            ),
            Promoted::ValidationFailed { reason } => format!(
                "{} not promoted into {}: validation failed before the switch ({}); traffic did not move",
                plan.candidate.version,
                plan.env,
                first_line(reason)
            ),
            Promoted::VerificationFailed {
                reason,
                rolled_back: true,
            } => format!(
                "{} failed verification in {} ({}); rolled back to {}",
                plan.candidate.version,
                plan.env,
                first_line(reason),
                plan.replaces
                    .as_ref()
                    .map_or("the previous release", |r| r.version.as_str())
            ),
            Promoted::VerificationFailed {
                reason,
                rolled_back: false,
            } => format!(
                "{} failed verification in {} ({}); not rolled back",
                plan.candidate.version,
                plan.env,
                first_line(reason)
            ),
        }
    }

    /// The outcome in one word, as the JSON documents say it.
    pub fn outcome_word(&self) -> &'static str {
        match self.result {
            Promoted::Live => "live",
            Promoted::ValidationFailed { .. } => "validation-failed",
            Promoted::VerificationFailed {
                rolled_back: true, ..
            } => "rolled-back",
            Promoted::VerificationFailed { .. } => "verification-failed",
        }
    }
}

/// How a promotion request ended: every caller handles each.
#[derive(Debug, Clone)]
pub enum PromoteOutcome {
    /// The environment runs that artifact already: nothing was done.
    AlreadyThere {
        /// The environment.
        env: String,
        /// What runs there.
        candidate: Candidate,
    },
    /// A dry run: what would be done.
    Planned(Plan),
    /// The plan ran.
    Finished(Finished),
}

/// How a rollback request ended: every caller handles each.
#[derive(Debug, Clone)]
pub enum RollbackOutcome {
    /// Traffic went back to the release the idle slot holds.
    Switched {
        /// The environment.
        env: String,
        /// The version live now.
        live_version: Option<String>,
        /// The version in the idle slot now.
        idle_version: Option<String>,
    },
    /// The version asked for runs there already.
    AlreadyThere {
        /// The environment.
        env: String,
        /// What runs there.
        candidate: Candidate,
    },
    /// The version asked for was redeployed through the environment's
    /// steps.
    Finished(Box<Finished>),
}

/// One environment, as `status` shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EnvStatus {
    /// The environment.
    pub env: String,
    /// Its newest record.
    pub record: Option<Record>,
    /// Whether its live address answers healthy (`None`: not asked, or it
    /// cannot be asked from here).
    pub healthy: Option<bool>,
    /// The slot taking live traffic (`blue`, `production`, a revision).
    pub slot: Option<String>,
}

/// Who promotes, for the records: the GitHub actor and run, else the
/// user, else `pipeline`.
pub fn actor(vars: &Env) -> String {
    vars.get("GITHUB_ACTOR")
        .map(|a| format!("{a} (run {})", vars.get("GITHUB_RUN_ID").unwrap_or("?")))
        .or_else(|| vars.get("USER").map(str::to_owned))
        .unwrap_or_else(|| "pipeline".to_owned())
}

/// The promotion service over one `pipeline.toml`.
#[derive(Debug)]
pub struct Promoter {
    config: PipelineConfig,
    config_path: PathBuf,
    root: PathBuf,
    store: AnyStore,
    http: Http,
    vars: Env,
    by: String,
    artifacts: ArtifactStore,
}

impl Promoter {
    /// The service for `config` (read from `config_path`, named in errors)
    /// in the repository at `root`, with the state store `[state]` picks:
    /// the git remote's refs (a token from `GIT_TOKEN` or `GITHUB_TOKEN`
    /// for HTTPS remotes), or GitHub Deployments (`GITHUB_TOKEN`, at
    /// `GITHUB_API_URL`, the statuses linking to the run's log when
    /// `GITHUB_RUN_ID` says which). Cloud targets read their credentials
    /// from `vars` too.
    ///
    /// # Errors
    ///
    /// [`PromoteError::Setup`] when the store's settings are wrong or its
    /// token is missing.
    pub fn new(
        config: PipelineConfig,
        config_path: impl Into<PathBuf>,
        root: impl Into<PathBuf>,
        http: Http,
        vars: Env,
    ) -> Result<Self, PromoteError> {
        let config_path = config_path.into();
        let root = root.into();
        let store = store_of(&config, &config_path, &root, &vars, &http)?;
        Ok(Self::with_store(
            config,
            config_path,
            root,
            http,
            vars,
            store,
        ))
    }

    /// The service with a store of the caller's.
    pub fn with_store(
        config: PipelineConfig,
        config_path: impl Into<PathBuf>,
        root: impl Into<PathBuf>,
        http: Http,
        vars: Env,
        store: AnyStore,
    ) -> Self {
        let by = actor(&vars);
        let root = root.into();
        let artifacts = ArtifactStore::new(root.join(&config.artifact.store));
        Self {
            config,
            config_path: config_path.into(),
            root,
            store,
            http,
            vars,
            by,
            artifacts,
        }
    }

    /// Keeps artifacts in `dir` instead of `[artifact] store` (relative to
    /// the repository): a directory the jobs of a CI run share.
    #[must_use]
    pub fn with_artifact_store(mut self, dir: impl Into<PathBuf>) -> Self {
        self.artifacts = ArtifactStore::new(dir);
        self
    }

    /// The artifact store.
    pub fn artifacts(&self) -> &ArtifactStore {
        &self.artifacts
    }

    /// Records changes as made by `by` instead of [`actor`]'s answer.
    #[must_use]
    pub fn by(mut self, by: impl Into<String>) -> Self {
        self.by = by.into();
        self
    }

    /// The configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The state store.
    pub fn store(&self) -> &AnyStore {
        &self.store
    }

    /// The environment `name`, or an error listing those there are.
    ///
    /// # Errors
    ///
    /// [`PromoteError::UnknownEnvironment`].
    pub fn environment(&self, name: &str) -> Result<&Environment, PromoteError> {
        self.config
            .environment(name)
            .map(|(_, e)| e)
            .ok_or_else(|| PromoteError::UnknownEnvironment {
                env: name.to_owned(),
                config: self.config_path.clone(),
                known: self
                    .config
                    .environments
                    .iter()
                    .map(|e| e.name.clone())
                    .collect(),
            })
    }

    fn agent_dir(&self) -> PathBuf {
        self.root.join(&self.config.agent.state_dir)
    }

    /// The file of `candidate` for `env`: `given` kept in the artifact
    /// store by digest (checked against it), else the store's. A Cloud Run
    /// environment runs an image and needs no file.
    fn artifact_for(
        &self,
        env: &Environment,
        candidate: &Candidate,
        given: Option<PathBuf>,
    ) -> Result<PathBuf, PromoteError> {
        let digest: Sha256Digest = candidate
            .sha256
            .parse()
            .map_err(|e| PromoteError::Setup(format!("digest {}: {e}", candidate.sha256)))?;
        if matches!(env.target, TargetConfig::CloudRun { .. }) {
            return Ok(given.unwrap_or_else(|| self.artifacts.path(&digest)));
        }
        match given {
            Some(file) => Ok(self.artifacts.put(&file, &digest)?),
            None => self
                .artifacts
                .get(&digest)
                .ok_or_else(|| PromoteError::ArtifactMissing {
                    version: candidate.version.clone(),
                    sha256: candidate.sha256.clone(),
                    store: self.artifacts.dir().to_path_buf(),
                }),
        }
    }

    /// Promotes into `request.to`: under the environment's lock, decides
    /// against the policy and runs the plan (or, dry, only plans).
    ///
    /// # Errors
    ///
    /// A [`Refusal`] when the policy says no; the store's, the targets' and
    /// the checks' failures.
    pub async fn promote(
        &self,
        request: &PromoteRequest,
        events: &mut (dyn FnMut(Event) + Send),
    ) -> Result<PromoteOutcome, PromoteError> {
        self.environment(&request.to)?;
        if request.dry_run {
            return Ok(match self.decide(request).await?? {
                Decision::AlreadyThere { env, candidate } => {
                    PromoteOutcome::AlreadyThere { env, candidate }
                }
                Decision::Promote(plan) => PromoteOutcome::Planned(plan),
            });
        }
        // The webhooks' URLs are read first: a missing one stops nothing
        // half-way.
        let notifier = Notifier::new(&self.config, &self.vars, &self.http)?;
        // A gate that cannot be tied to the release is said to be taken on
        // its word.
        if let (Some(gate), Some((_, env))) = (&request.gate, self.config.environment(&request.to))
            && gate.passed
            && env.requires.gate
        {
            match (&gate.commit, &request.version) {
                (None, _) => events(Event::Warning(
                    "the gate names no commit (not written by pipeline-report gate?): it is \
                     taken on its word"
                        .to_owned(),
                )),
                (Some(commit), Some(version)) => {
                    let tag = format!("refs/tags/{}{version}", self.config.branches.tag_prefix);
                    if pipeline_gitflow::diff::commit_of(&self.root, &tag).is_none() {
                        events(Event::Warning(format!(
                            "this checkout has no tag {tag}: the gate of {} is taken on its word \
                             for {version} (fetch the tags to have it checked)",
                            commit.get(..12).unwrap_or(commit)
                        )));
                    }
                }
                (Some(_), None) => {}
            }
        }
        if let Some(budget) = request.wait_soak {
            self.wait_soak(request, budget, events).await?;
        }
        // The plan is made under the environment's lock: a promotion that
        // waited for another must see what that one left.
        let what = format!("promote into {}", request.to);
        let lock = self.take_lock(&request.to, &what).await?;
        let mut started: Option<(Plan, tokio::task::JoinHandle<Vec<String>>)> = None;
        let result = async {
            self.reconcile(&request.to, &lock, events).await?;
            match self.decide(request).await?? {
                Decision::AlreadyThere { env, candidate } => {
                    Ok(PromoteOutcome::AlreadyThere { env, candidate })
                }
                Decision::Promote(plan) => {
                    // Told on the side: the promotion does not wait for it.
                    let notice = self.plan_notice(
                        NotifyOn::Start,
                        &plan,
                        &format!(
                            "promoting {} from {} into {}",
                            plan.candidate.version, plan.from, plan.env
                        ),
                        None,
                    );
                    let told = notifier.clone();
                    let start =
                        tokio::spawn(async move { told.tell(NotifyOn::Start, &notice).await });
                    started = Some((plan.clone(), start));
                    let run = self
                        .execute(&plan, &lock, request.artifact.clone(), false, events)
                        .await?;
                    Ok(PromoteOutcome::Finished(run))
                }
            }
        }
        .await;
        let result = self.release(lock, result, events).await;
        if let Some((plan, start)) = started {
            let mut warnings = start.await.unwrap_or_default();
            let (on, message, url) = match &result {
                Ok(PromoteOutcome::Finished(run)) => (
                    match &run.result {
                        Promoted::Live => NotifyOn::Success,
                        Promoted::VerificationFailed {
                            rolled_back: true, ..
                        } => NotifyOn::Rollback,
                        _ => NotifyOn::Failure,
                    },
                    run.message(),
                    Some(run.live_url.to_string()),
                ),
                Ok(_) => (NotifyOn::Success, "nothing to do".to_owned(), None),
                Err(e) => (NotifyOn::Failure, e.to_string(), None),
            };
            let notice = self.plan_notice(on, &plan, &message, url);
            warnings.extend(notifier.tell(on, &notice).await);
            for w in warnings {
                events(Event::Warning(w));
            }
        }
        result
    }

    /// `text` with every secret the promoter knows of (the tools'
    /// credentials, the variables pipeline.toml names) replaced by `***`:
    /// a notice leaves the machine, and no binary redacts it on the way.
    fn redact(&self, text: &str) -> String {
        let names = self
            .config
            .secret_vars()
            .into_iter()
            .chain(crate::SECRET_VARS.iter().copied())
            .chain(pipeline_targets::SECRET_VARS.iter().copied())
            .chain(pipeline_http::SECRET_VARS.iter().copied());
        let secrets: Vec<pipeline_ci::Secret> =
            names.filter_map(|n| self.vars.get_secret(n)).collect();
        let refs: Vec<&pipeline_ci::Secret> = secrets.iter().collect();
        pipeline_ci::redact(text, &refs)
    }

    /// What a webhook is told of `env`: `message`, redacted.
    fn notice(&self, on: NotifyOn, env: &str, message: &str) -> NoticeDoc {
        NoticeDoc {
            event: match on {
                NotifyOn::Start => "start",
                NotifyOn::Success => "success",
                NotifyOn::Rollback => "rollback",
                NotifyOn::Failure => "failure",
            }
            .to_owned(),
            env: env.to_owned(),
            version: None,
            sha256: None,
            from: None,
            message: self.redact(message),
            url: None,
            by: self.by.clone(),
            at: now(),
            schema: NoticeDoc::SCHEMA.to_owned(),
        }
    }

    /// What a webhook is told of `plan`.
    fn plan_notice(
        &self,
        on: NotifyOn,
        plan: &Plan,
        message: &str,
        url: Option<String>,
    ) -> NoticeDoc {
        NoticeDoc {
            version: Some(plan.candidate.version.clone()),
            sha256: Some(plan.candidate.sha256.clone()),
            from: Some(plan.from.clone()),
            url,
            ..self.notice(on, &plan.env, message)
        }
    }

    /// Rolls `request.env` back: to the previous release by switching (or
    /// restarting) it, or to `request.to` redeployed by digest through the
    /// environment's steps.
    ///
    /// # Errors
    ///
    /// [`Refusal::NeverLive`] for a version that never went live there;
    /// the target's refusal when there is nothing to roll back to; the
    /// store's and targets' failures.
    pub async fn rollback(
        &self,
        request: &RollbackRequest,
        events: &mut (dyn FnMut(Event) + Send),
    ) -> Result<RollbackOutcome, PromoteError> {
        let envcfg = self.environment(&request.env)?;
        let env = &request.env;
        // Nothing ran there: nothing to roll back, whatever else is missing.
        if self.store.current(env).await?.is_none() {
            return Err(Refusal::NothingRecorded { env: env.clone() }.into());
        }
        // A webhook that cannot be read never stops a rollback.
        let (notifier, unread) = Notifier::lenient(&self.config, &self.vars, &self.http);
        for w in unread {
            events(Event::Warning(w));
        }
        let what = match &request.to {
            Some(version) => format!("roll {env} back to {version}"),
            None => "rollback".to_owned(),
        };
        let lock = self.take_lock(env, &what).await?;
        let result = async {
            if let Some(Reconciled::Finished {
                serving,
                by_hand: true,
                ..
            }) = self.reconcile(env, &lock, events).await?
            {
                // An earlier rollback by hand switched and could not record
                // it: now recorded, it is done; doing it again would undo it.
                return Ok(RollbackOutcome::Switched {
                    env: env.clone(),
                    live_version: Some(serving),
                    idle_version: None,
                });
            }
            if let Some(version) = &request.to {
                let history = self.store.history(env, HISTORY_DEPTH).await?;
                return match rollback_plan(&self.config, env, version, &history)? {
                    Decision::AlreadyThere { env, candidate } => {
                        Ok(RollbackOutcome::AlreadyThere { env, candidate })
                    }
                    Decision::Promote(plan) => Ok(RollbackOutcome::Finished(Box::new(
                        self.execute(&plan, &lock, request.artifact.clone(), true, events)
                            .await?,
                    ))),
                };
            }
            let built = targets::build(
                envcfg,
                &self.agent_dir(),
                &self.vars,
                &self.http,
                Mode::CHANGE,
            )
            .await?;
            self.switch_back_by_hand(envcfg, &built.target, &lock).await
        }
        .await;
        let result = self.release(lock, result, events).await;
        let told = match &result {
            Ok(RollbackOutcome::Switched { live_version, .. }) => {
                let message = format!(
                    "{env} rolled back by hand: {} live again",
                    live_version.as_deref().unwrap_or("the previous release")
                );
                Some((
                    NotifyOn::Rollback,
                    NoticeDoc {
                        version: live_version.clone(),
                        ..self.notice(NotifyOn::Rollback, env, &message)
                    },
                ))
            }
            Ok(RollbackOutcome::Finished(run)) => {
                let on = if run.result == Promoted::Live {
                    NotifyOn::Rollback
                } else {
                    NotifyOn::Failure
                };
                let url = Some(run.live_url.to_string());
                Some((on, self.plan_notice(on, &run.plan, &run.message(), url)))
            }
            Ok(RollbackOutcome::AlreadyThere { .. }) => None,
            Err(e) => {
                let message = format!("the rollback of {env} failed: {e}");
                Some((
                    NotifyOn::Failure,
                    NoticeDoc {
                        version: request.to.clone(),
                        ..self.notice(NotifyOn::Failure, env, &message)
                    },
                ))
            }
        };
        if let Some((on, notice)) = told {
            for w in notifier.tell(on, &notice).await {
                events(Event::Warning(w));
            }
        }
        result
    }

    /// A rollback by hand to the release the idle slot holds: the intent
    /// recorded, the switch back, the record.
    async fn switch_back_by_hand(
        &self,
        env: &Environment,
        target: &AnyTarget,
        lock: &LockGuard,
    ) -> Result<RollbackOutcome, PromoteError> {
        let name = &env.name;
        let current = self.store.current(name).await?;
        let status = target.status().await?;
        let idle = status
            .slots
            .iter()
            .find(|s| !s.live && s.version.is_some())
            .and_then(|s| s.version.clone());
        let (Some(idle), Some(current)) = (idle, current) else {
            // Nothing recorded or nothing idle: the target says why not.
            let switched = target.rollback().await?;
            return Err(PromoteError::Setup(format!(
                "{name}: rolled back to {} with no record to follow; promote into {name} to \
                 record what it runs",
                switched.live_version.as_deref().unwrap_or("?")
            )));
        };
        let idle_sha = self.history_digest(name, &idle).await?;
        let record = |outcome: Outcome, live: Option<(String, Option<String>)>, note: String| {
            let at = now();
            Record {
                env: name.clone(),
                version: idle.clone(),
                sha256: idle_sha.clone().unwrap_or_default(),
                outcome,
                live_version: live.as_ref().map(|l| l.0.clone()),
                live_sha256: live.and_then(|l| l.1),
                at,
                live_since: Some(at),
                by: self.by.clone(),
                note,
                lock: Some(lock.id().to_owned()),
            }
        };
        let from = current.record.live_version.clone();
        let intent = record(
            Outcome::RollingBack,
            from.clone()
                .map(|v| (v, current.record.live_sha256.clone())),
            format!(
                "rolling back from {} to {idle}",
                from.as_deref().unwrap_or("nothing")
            ),
        );
        if !self.store.holds(lock).await? {
            return Err(PromoteError::Setup(format!(
                "{name}: the lock was taken over before the switch; nothing moved"
            )));
        }
        let intent_at = self
            .store
            .append(name, &intent, Some(&current.revision))
            .await?;
        let switched = target.rollback().await?;
        let live = switched.live_version.clone().unwrap_or_default();
        let done = record(
            Outcome::ManualRollback,
            Some((live.clone(), self.history_digest(name, &live).await?)),
            format!(
                "rolled back from {}",
                switched.idle_version.as_deref().unwrap_or("?")
            ),
        );
        if let Err(e) = self.store.append(name, &done, Some(&intent_at)).await {
            return Err(PromoteError::Unrecorded {
                env: name.clone(),
                serving: Some(live),
                why: format!(
                    "the rollback could not be recorded ({})",
                    crate::error_chain(&e)
                ),
            });
        }
        Ok(RollbackOutcome::Switched {
            env: name.clone(),
            live_version: switched.live_version,
            idle_version: switched.idle_version,
        })
    }

    /// Finishes an intent an earlier run left newest in `env` (see
    /// [`crate::engine::reconcile`]), under the lock.
    async fn reconcile(
        &self,
        env: &str,
        lock: &LockGuard,
        events: &mut (dyn FnMut(Event) + Send),
    ) -> Result<Option<Reconciled>, PromoteError> {
        if self.store.current(env).await?.is_none() {
            return Ok(None);
        }
        let envcfg = self.environment(env)?;
        let built = targets::build(
            envcfg,
            &self.agent_dir(),
            &self.vars,
            &self.http,
            Mode::Read,
        )
        .await?;
        let done = crate::engine::reconcile(
            &self.store,
            &built.target,
            envcfg,
            &self.by,
            Some(lock.id()),
        )
        .await?;
        if let Reconciled::Finished {
            version,
            serving,
            note,
            ..
        } = &done
        {
            events(Event::Reconciled {
                env: env.to_owned(),
                version: version.clone(),
                serving: serving.clone(),
                note: note.clone(),
            });
        }
        Ok(Some(done))
    }

    /// Every environment: its newest record, whether its live address
    /// answers healthy and which slot takes the traffic, all asked at once.
    ///
    /// # Errors
    ///
    /// The store's failures.
    pub async fn status(&self) -> Result<Vec<EnvStatus>, PromoteError> {
        let rows = self.config.environments.iter().map(|e| async move {
            let record = self.store.current(&e.name).await?.map(|s| s.record);
            let (healthy, slot) = match &record {
                Some(_) => tokio::join!(self.health_of(e), self.live_slot(e)),
                None => (None, None),
            };
            Ok::<_, PromoteError>(EnvStatus {
                env: e.name.clone(),
                record,
                healthy,
                slot,
            })
        });
        futures_util::future::join_all(rows)
            .await
            .into_iter()
            .collect()
    }

    /// The newest `limit` records of `env`, newest first.
    ///
    /// # Errors
    ///
    /// [`PromoteError::UnknownEnvironment`]; the store's failures.
    /// An intent followed by how it ended is left out: the record after it
    /// tells the same change.
    pub async fn history(&self, env: &str, limit: usize) -> Result<Vec<Record>, PromoteError> {
        self.environment(env)?;
        let all = self.store.history(env, limit.saturating_mul(2)).await?;
        Ok(all
            .into_iter()
            .enumerate()
            .filter(|(i, r)| *i == 0 || !r.outcome.is_intent())
            .map(|(_, r)| r)
            .take(limit)
            .collect())
    }

    /// What a promotion would do now: the state of every environment, read
    /// once, against the policy.
    ///
    /// # Errors
    ///
    /// The store's failures; a refusal is the inner result.
    pub async fn decide(
        &self,
        request: &PromoteRequest,
    ) -> Result<Result<Decision, Refusal>, PromoteError> {
        let reads = self.config.environments.iter().map(|e| async move {
            let record = self.store.current(&e.name).await?.map(|s| s.record);
            let healthy = match (&record, targets::known_live(e)) {
                (Some(_), Some((url, path))) => self.healthy(&url, &path).await,
                (Some(_), None) => true,
                _ => false,
            };
            Ok::<_, PromoteError>((e.name.clone(), EnvNow { record, healthy }))
        });
        let states: BTreeMap<String, EnvNow> = futures_util::future::join_all(reads)
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let gate = request.gate.as_ref().is_some_and(|g| g.passed);
        // A gate that names its commit unlocks only the release tagged
        // there; a version whose tag this checkout lacks cannot be checked
        // and is taken on the gate's word (said as an event).
        let gated = request.gate.as_ref().and_then(|g| g.commit.clone());
        let tagged = |v: &str| {
            let tag = format!("refs/tags/{}{v}", self.config.branches.tag_prefix);
            pipeline_gitflow::diff::commit_of(&self.root, &tag)
        };
        let other_release = |v: &str| match (&gated, tagged(v)) {
            (Some(gated), Some(tagged)) if *gated != tagged => Some((gated.clone(), tagged)),
            _ => None,
        };
        let first = self
            .config
            .environments
            .first()
            .map(|e| e.name.clone())
            .unwrap_or_default();
        let first_history = self.store.history(&first, HISTORY_DEPTH).await?;
        let gate_passed = |v: &str| {
            (gate && other_release(v).is_none())
                || first_history
                    .iter()
                    .any(|r| r.version == v && r.outcome == Outcome::Live)
        };
        let artifact = match (&request.version, &request.sha256) {
            (Some(v), Some(d)) => Some(Candidate {
                version: v.clone(),
                sha256: d.to_string(),
            }),
            _ => None,
        };
        let state = |name: &str| {
            states.get(name).cloned().unwrap_or(EnvNow {
                record: None,
                healthy: false,
            })
        };
        let decided = plan(
            &self.config,
            &request.to,
            request.version.as_deref(),
            artifact.as_ref(),
            &state,
            &gate_passed,
            now(),
        );
        Ok(match decided {
            Err(Refusal::NoGate { env, version }) if gate => match other_release(&version) {
                Some((gated, tagged)) => Err(Refusal::GateOfAnotherRelease {
                    env,
                    version,
                    gated,
                    tagged,
                }),
                None => Err(Refusal::NoGate { env, version }),
            },
            other => other,
        })
    }

    /// Waits, up to `budget`, while the only reason to refuse the promotion
    /// is the previous environment's soak time; anything else (or a soak
    /// longer than the budget) is left to the promotion to say.
    async fn wait_soak(
        &self,
        request: &PromoteRequest,
        budget: Duration,
        events: &mut (dyn FnMut(Event) + Send),
    ) -> Result<(), PromoteError> {
        let deadline = now().saturating_add(budget.as_secs());
        loop {
            let Err(Refusal::NotSoaked {
                env,
                previous,
                version,
                ran,
                needs,
            }) = self.decide(request).await?
            else {
                return Ok(());
            };
            let left = needs.saturating_sub(ran).max(1);
            if now().saturating_add(left) > deadline {
                return Ok(());
            }
            let wait = Duration::from_secs(left);
            let op = format!("{previous} soaking {version} for {env}");
            events(Event::WaitingSoak {
                env,
                previous,
                version,
                ran,
                needs,
                wait,
            });
            // A countdown through the HTTP core's progress: a rewritten
            // line on a terminal, a line now and then in CI logs.
            let started = Instant::now();
            while started.elapsed() < wait {
                let remaining = wait.saturating_sub(started.elapsed());
                let seen = format!("{}s left of {needs}s", remaining.as_secs());
                self.http.progress().event(&pipeline_http::Event::Wait {
                    op: &op,
                    seen: &seen,
                    elapsed: started.elapsed(),
                });
                tokio::time::sleep(remaining.min(Duration::from_secs(1))).await;
            }
        }
    }

    /// Takes `env`'s lock for this run; a lock an earlier run of this
    /// checkout could not give back (its note in [`Self::ended_locks`]) is
    /// taken over.
    async fn take_lock(&self, env: &str, what: &str) -> Result<LockGuard, PromoteError> {
        match self
            .store
            .lock(env, &self.by, what, now(), STALE_LOCK_SECS)
            .await
        {
            Err(StoreError::Locked { id, .. }) if self.lock_ended(env, &id) => {
                let guard = self
                    .store
                    .take_over(env, &self.by, what, now(), &id)
                    .await?;
                self.forget_ended_lock(env);
                Ok(guard)
            }
            other => Ok(other?),
        }
    }

    /// Releases `lock` whatever the run did, retried as the HTTP core
    /// retries. The run's failure wins over the release's. A lock that
    /// cannot be given back is noted in this checkout (the next run here
    /// takes it over); after a run that recorded its end, the record says
    /// so to every runner too.
    async fn release<T>(
        &self,
        lock: LockGuard,
        result: Result<T, PromoteError>,
        events: &mut (dyn FnMut(Event) + Send),
    ) -> Result<T, PromoteError> {
        let env = lock.env().to_owned();
        let id = lock.id().to_owned();
        let policy = self.http.policy().clone();
        let mut attempt = 1;
        let unlocked = loop {
            match self.store.unlock(lock.clone()).await {
                Err(
                    e @ (StoreError::Remote { .. }
                    | StoreError::Api { .. }
                    | StoreError::Git { .. }),
                ) if attempt < policy.max_attempts => {
                    tracing::info!(env, "the lock could not be released ({e}); trying again");
                    tokio::time::sleep(policy.backoff(attempt, fastrand::f64())).await;
                    attempt += 1;
                }
                other => break other,
            }
        };
        if let Err(e) = &unlocked
            && !matches!(e, StoreError::LockLost { .. })
        {
            self.note_ended_lock(&env, &id);
        }
        match (result, unlocked) {
            (Err(e), _) => Err(e),
            (Ok(value), Ok(())) => Ok(value),
            (Ok(value), Err(e @ StoreError::LockLost { .. })) => {
                events(Event::Warning(format!("{env}: {}", crate::error_chain(&e))));
                Ok(value)
            }
            (Ok(value), Err(e)) => {
                events(Event::Warning(format!(
                    "{env}: the lock could not be released ({}); its run is recorded, so the \
                     next run takes it as released",
                    crate::error_chain(&e)
                )));
                Ok(value)
            }
        }
    }

    /// Where this checkout notes the locks its runs ended without giving
    /// back: `.pipeline/ended-locks/<env>`, one lock id a line.
    fn ended_locks(&self, env: &str) -> PathBuf {
        self.root.join(".pipeline/ended-locks").join(env)
    }

    fn lock_ended(&self, env: &str, id: &str) -> bool {
        !id.is_empty()
            && std::fs::read_to_string(self.ended_locks(env))
                .is_ok_and(|t| t.lines().any(|l| l.trim() == id))
    }

    fn note_ended_lock(&self, env: &str, id: &str) {
        let path = self.ended_locks(env);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(id);
        text.push('\n');
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        if let Err(e) = written {
            tracing::warn!(
                env,
                "cannot note the lock left behind in {}: {e}",
                path.display()
            );
        }
    }

    fn forget_ended_lock(&self, env: &str) {
        let _ = std::fs::remove_file(self.ended_locks(env));
    }

    /// Carries out `plan` under the environment's lock (held by the
    /// caller): a promotion, or (`by_hand`) a release brought back by hand.
    async fn execute(
        &self,
        plan: &Plan,
        lock: &LockGuard,
        artifact: Option<PathBuf>,
        by_hand: bool,
        events: &mut (dyn FnMut(Event) + Send),
    ) -> Result<Finished, PromoteError> {
        let envcfg = self.environment(&plan.env)?;
        // Before anything is deployed or recorded: a promotion that cannot
        // even start leaves no trace.
        let image = targets::image_for(envcfg, &plan.candidate.version, &plan.candidate.sha256)?;
        targets::app_settings(envcfg, &self.vars)?;
        let artifact = self.artifact_for(envcfg, &plan.candidate, artifact)?;
        let sha256 =
            plan.candidate.sha256.parse().map_err(|e| {
                PromoteError::Setup(format!("digest {}: {e}", plan.candidate.sha256))
            })?;
        let release = Release {
            version: plan.candidate.version.clone(),
            sha256,
            artifact,
        };
        let built = targets::build(
            envcfg,
            &self.agent_dir(),
            &self.vars,
            &self.http,
            Mode::Change {
                image: image.as_ref(),
            },
        )
        .await?;
        let live_url = built.live_url().await?;
        let ctx = Context {
            root: self.root.clone(),
            by: self.by.clone(),
            live_url: live_url.clone(),
            by_hand,
            lock: Some(lock.id().to_owned()),
        };
        events(Event::Starting {
            plan: plan.clone(),
            by_hand,
        });
        let started = Instant::now();
        let mut steps: Vec<StepReport> = Vec::new();
        let mut report = |r: StepReport| {
            steps.push(r.clone());
            events(Event::Step(r));
        };
        let result = promote_locked(
            &self.store,
            lock,
            &built.target,
            &self.http,
            envcfg,
            &built.health_path,
            plan,
            &release,
            &ctx,
            &mut report,
        )
        .await?;
        Ok(Finished {
            plan: plan.clone(),
            result,
            took: started.elapsed(),
            live_url,
            steps,
        })
    }

    /// Where live traffic reaches `env`: a local environment's front, a
    /// cloud environment's live URL as its target says (or its override);
    /// `None` when that cannot be asked from here.
    ///
    /// # Errors
    ///
    /// [`PromoteError`] for an environment `pipeline.toml` does not have.
    pub async fn live_url(&self, env: &str) -> Result<Option<url::Url>, PromoteError> {
        let e = self.environment(env)?;
        if let Some((url, _)) = targets::known_live(e) {
            return Ok(Some(url));
        }
        let built =
            match targets::build(e, &self.agent_dir(), &self.vars, &self.quick(), Mode::Read).await
            {
                Ok(b) => b,
                Err(why) => {
                    tracing::info!(env, "live address not known: {why}");
                    return Ok(None);
                }
            };
        match built.live_url().await {
            Ok(url) => Ok(Some(url)),
            Err(why) => {
                tracing::info!(env, "live address not known: {why}");
                Ok(None)
            }
        }
    }

    async fn history_digest(
        &self,
        env: &str,
        version: &str,
    ) -> Result<Option<String>, PromoteError> {
        Ok(self
            .store
            .history(env, HISTORY_DEPTH)
            .await?
            .into_iter()
            .find(|r| r.version == version)
            .map(|r| r.sha256))
    }

    /// One probe of `path` at `url`, no retries: a status answers now.
    async fn healthy(&self, url: &url::Url, path: &str) -> bool {
        let check = HealthCheck::new(url.clone(), path);
        matches!(probe(&self.http, &check).await, Probe::Healthy)
    }

    /// Whether `e`'s live address answers healthy: the front of a local
    /// environment; a cloud environment's live URL as its target says;
    /// `None` when that cannot be asked from here (no credentials).
    async fn health_of(&self, e: &Environment) -> Option<bool> {
        if let Some((url, path)) = targets::known_live(e) {
            return Some(self.healthy(&url, &path).await);
        }
        let built =
            match targets::build(e, &self.agent_dir(), &self.vars, &self.quick(), Mode::Read).await
            {
                Ok(b) => b,
                Err(why) => {
                    tracing::info!(env = e.name, "health not checked: {why}");
                    return None;
                }
            };
        match built.live_url().await {
            Ok(url) => Some(self.healthy(&url, &built.health_path).await),
            Err(why) => {
                tracing::info!(env = e.name, "health not checked: {why}");
                None
            }
        }
    }

    /// The slot live traffic goes to, as the target says; `None` when it
    /// cannot be asked. A local environment is asked without being
    /// declared (status changes nothing).
    async fn live_slot(&self, e: &Environment) -> Option<String> {
        let quick = self.quick();
        let status = match &e.target {
            pipeline_config::TargetConfig::Local { .. } => {
                let agent = AgentRef::from_state_dir(&self.agent_dir()).ok()?;
                LocalTarget::new(quick, agent, &e.name)
                    .with_timeout(Duration::from_secs(10))
                    .status()
                    .await
                    .ok()?
            }
            _ => {
                let built = targets::build(e, &self.agent_dir(), &self.vars, &quick, Mode::Read)
                    .await
                    .ok()?;
                built.target.status().await.ok()?
            }
        };
        status.live().map(|s| s.slot.clone())
    }

    /// The HTTP core for reading status: one attempt per request. A
    /// status answers with what it sees now; an agent that is down is an
    /// answer, not a reason to retry for a minute.
    fn quick(&self) -> Http {
        self.http.clone().with_policy(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        })
    }
}

/// The state store `[state]` chooses.
fn store_of(
    config: &PipelineConfig,
    config_path: &Path,
    root: &Path,
    vars: &Env,
    http: &Http,
) -> Result<AnyStore, PromoteError> {
    match &config.state {
        StateSettings::Git => {
            let token = vars
                .get_secret("GIT_TOKEN")
                .or_else(|| vars.get_secret("GITHUB_TOKEN"));
            // The state is in refs of the repository's remote: without a
            // repository or that remote, nothing can be read or written.
            let setup = |why: String| {
                PromoteError::Setup(format!(
                    "{why} ({} keeps the records in refs of the repository's remote \
                     `{}`: run in a clone of it, give --repo, or set [state] kind = \
                     \"github-deployments\")",
                    config_path.display(),
                    config.branches.remote
                ))
            };
            let repo = pipeline_gitflow::Repo::open(root).map_err(|e| setup(e.to_string()))?;
            let git = pipeline_gitflow::GitCli::for_remote(&repo, &config.branches.remote, token)
                .map_err(|e| setup(e.to_string()))?;
            Ok(AnyStore::Git(GitStore::new(root, git)))
        }
        StateSettings::GithubDeployments { repository } => {
            let token = vars.get_secret("GITHUB_TOKEN").ok_or_else(|| {
                PromoteError::Setup(format!(
                    "{}: [state] kind = \"github-deployments\" needs GITHUB_TOKEN \
                     (a token with deployments: write and contents: write)",
                    config_path.display()
                ))
            })?;
            let raw = vars
                .get("GITHUB_API_URL")
                .unwrap_or("https://api.github.com");
            let api = Endpoint::parse("GITHUB_API_URL", raw)
                .map_err(|e| PromoteError::Setup(e.to_string()))?;
            let log_url = match (
                vars.get("GITHUB_SERVER_URL"),
                vars.get("GITHUB_REPOSITORY"),
                vars.get("GITHUB_RUN_ID"),
            ) {
                (Some(server), Some(repo), Some(run)) => Some(format!(
                    "{}/{repo}/actions/runs/{run}",
                    server.trim_end_matches('/')
                )),
                _ => None,
            };
            let store = GitHubStore::new(http.clone(), api, repository, token)
                .map_err(|e| {
                    PromoteError::Setup(format!(
                        "{}: [state] repository: {e}",
                        config_path.display()
                    ))
                })?
                .with_tag_prefix(config.branches.tag_prefix.clone())
                .with_log_url(log_url);
            Ok(AnyStore::GitHub(store))
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

pub(crate) use pipeline_contracts::promote::short;
