//! The runner: jobs in `needs` order, one after another, each in a fresh
//! workspace with its own `RUNNER_TEMP`, its steps run as processes with the
//! environment GitHub's runner gives them, their workflow commands read and
//! their secrets masked in the log.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::commands::{Annotation, CommandReader, Line, mask, parse_env_file};
use crate::expr::{self, JobStatus};
use crate::model::{
    Action, Call, CallSecrets, Event, InputKind, Job, Step, StepAction, Workflow, read_action,
    read_workflow,
};

/// Why a run could not start (a broken workflow is found before any job
/// runs; a failing step fails its job, not the run).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The jobs' `needs` make a cycle.
    #[error("{workflow}: the needs of jobs {jobs} make a cycle")]
    Cycle {
        /// The workflow file.
        workflow: String,
        /// The jobs in it.
        jobs: String,
    },
    /// The runner's own directories or files.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// How a job or step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    /// It succeeded.
    Success,
    /// It failed.
    Failure,
    /// Its condition was false (or a job it needs did not succeed).
    Skipped,
}

impl Conclusion {
    fn word(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Skipped => "skipped",
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// Its title.
    pub title: String,
    /// Its `id`.
    pub id: Option<String>,
    /// How it ended before `continue-on-error`.
    pub outcome: Conclusion,
    /// How it counts for the job.
    pub conclusion: Conclusion,
    /// Its outputs.
    pub outputs: BTreeMap<String, String>,
}

/// What one job did.
#[derive(Debug, Clone, PartialEq)]
pub struct JobReport {
    /// Its id.
    pub id: String,
    /// Its `environment`, evaluated.
    pub environment: Option<String>,
    /// Its `environment.url`, evaluated when it ended (what GitHub shows
    /// on the deployment).
    pub environment_url: Option<String>,
    /// How it ended.
    pub result: Conclusion,
    /// Its outputs.
    pub outputs: BTreeMap<String, String>,
    /// Its steps (those of composite actions included, after their caller).
    pub steps: Vec<StepReport>,
    /// The annotations its steps printed.
    pub annotations: Vec<Annotation>,
    /// Its job summary (`GITHUB_STEP_SUMMARY`), masked.
    pub summary: String,
    /// Its log, masked (a caller's holds its called jobs' logs).
    pub log: String,
    /// The jobs of the reusable workflow it called, in the order they ran
    /// (empty for a job that runs steps).
    pub called: Vec<JobReport>,
}

/// What the whole run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The jobs, in the order they ran (skipped ones included).
    pub jobs: Vec<JobReport>,
}

impl RunReport {
    /// Whether no job failed.
    pub fn success(&self) -> bool {
        self.jobs.iter().all(|j| j.result != Conclusion::Failure)
    }

    /// The job `id`; `caller/inner` for a job of a reusable workflow that
    /// `caller` called.
    pub fn job(&self, id: &str) -> Option<&JobReport> {
        let mut parts = id.split('/');
        let first = parts.next()?;
        let mut job = self.jobs.iter().find(|j| j.id == first)?;
        for part in parts {
            job = job.called.iter().find(|j| j.id == part)?;
        }
        Some(job)
    }
}

/// How deep reusable workflows may call one another (GitHub's limit: the
/// caller and nine levels below it).
pub const MAX_CALL_DEPTH: usize = 10;

/// What a called (reusable) workflow's jobs see of their call.
#[derive(Debug)]
struct CallFrame {
    /// The `inputs` context: the caller's `with`, typed, and the defaults.
    inputs: Map<String, Value>,
    /// The secrets passed (`GITHUB_TOKEN` is always there).
    secrets: BTreeMap<String, String>,
    /// The name of the workflow that started the run: the `github` context
    /// "is always associated with the caller workflow".
    workflow_name: String,
}

/// A runner on this machine; see the [crate documentation](crate).
#[derive(Debug, Clone)]
pub struct Runner {
    root: PathBuf,
    repository: String,
    clone_url: String,
    event: Event,
    env: Vec<(String, String)>,
    vars: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    token: String,
    echo: bool,
    api_url: String,
}

/// How long output is still read after a step's shell exits.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);

/// Emulated actions, by `owner/repo`.
const CHECKOUT: &str = "actions/checkout";
const CACHE: &str = "actions/cache";
const UPLOAD: &str = "actions/upload-artifact";
const DOWNLOAD: &str = "actions/download-artifact";

impl Runner {
    /// A runner keeping its work under `root` (`work/`, `temp/`,
    /// `artifacts/`), for `repository` (`owner/name`) whose clone URL (what
    /// `actions/checkout` fetches) is `clone_url`, started by `event`.
    pub fn new(
        root: impl Into<PathBuf>,
        repository: impl Into<String>,
        clone_url: impl Into<String>,
        event: Event,
    ) -> Self {
        Self {
            root: root.into(),
            repository: repository.into(),
            clone_url: clone_url.into(),
            event,
            env: Vec::new(),
            vars: BTreeMap::new(),
            secrets: BTreeMap::new(),
            token: String::new(),
            echo: false,
            api_url: "https://api.github.com".to_owned(),
        }
    }

    /// The REST API the steps are told of (`GITHUB_API_URL`,
    /// `github.api_url`): a fake of GitHub on loopback, for instance.
    #[must_use]
    pub fn with_api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into();
        self
    }

    /// The runner machine's own environment (what a self-hosted runner's
    /// `.env` gives every step): `PATH`, `HOME`, …; nothing else of this
    /// process's environment reaches the steps.
    #[must_use]
    pub fn with_env(mut self, env: Vec<(String, String)>) -> Self {
        self.env = env;
        self
    }

    /// The repository's and environments' variables (`vars`).
    #[must_use]
    pub fn with_vars(mut self, vars: BTreeMap<String, String>) -> Self {
        self.vars = vars;
        self
    }

    /// The secrets (`secrets`), masked in every log.
    #[must_use]
    pub fn with_secrets(mut self, secrets: BTreeMap<String, String>) -> Self {
        self.secrets = secrets;
        self
    }

    /// `github.token` and `secrets.GITHUB_TOKEN`, masked in every log.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// Also print the log on stderr as it comes.
    #[must_use]
    pub fn with_echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
        move |source| RunError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Runs `workflow` to its end.
    ///
    /// # Errors
    ///
    /// [`RunError`] when it cannot start; failing jobs are in the report.
    pub fn run(&self, workflow: &Workflow) -> Result<RunReport, RunError> {
        let artifacts = self.root.join("artifacts");
        if artifacts.exists() {
            std::fs::remove_dir_all(&artifacts).map_err(Self::io(&artifacts))?;
        }
        std::fs::create_dir_all(&artifacts).map_err(Self::io(&artifacts))?;
        let seq = Cell::new(0);
        let jobs = self.run_workflow(workflow, None, &seq, 0)?;
        Ok(RunReport { jobs })
    }

    /// Runs the jobs of `workflow` (called by a job when `frame` is given);
    /// `seq` numbers the jobs of the whole run.
    fn run_workflow(
        &self,
        workflow: &Workflow,
        frame: Option<&CallFrame>,
        seq: &Cell<usize>,
        depth: usize,
    ) -> Result<Vec<JobReport>, RunError> {
        let order = order(workflow)?;
        let repo_name = self
            .repository
            .rsplit('/')
            .next()
            .unwrap_or("repo")
            .to_owned();
        let workspace = self.root.join("work").join(&repo_name).join(&repo_name);
        let artifacts = self.root.join("artifacts");
        let mut reports: Vec<JobReport> = Vec::new();
        for job in order {
            let n = seq.get();
            seq.set(n + 1);
            let temp = self.root.join("temp").join(format!("{n}-{}", job.id));
            for dir in [&workspace, &temp] {
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(Self::io(dir))?;
                }
                std::fs::create_dir_all(dir).map_err(Self::io(dir))?;
            }
            let report = JobRun {
                runner: self,
                workflow,
                job,
                workspace: workspace.clone(),
                temp,
                artifacts: artifacts.clone(),
                done: &reports,
                run_number: n,
                started: Instant::now(),
                env_added: Vec::new(),
                path_added: Vec::new(),
                masks: self.masks(),
                log: String::new(),
                annotations: Vec::new(),
                summary: String::new(),
                steps: Vec::new(),
                step_seq: 0,
                declared: workflow
                    .env
                    .iter()
                    .chain(&job.env)
                    .chain(job.steps.iter().flat_map(|s| &s.env))
                    .map(|(k, _)| k.clone())
                    .collect(),
                groups: Vec::new(),
                frame,
                seq,
                depth,
                environment: None,
            }
            .run()?;
            reports.push(report);
        }
        Ok(reports)
    }

    fn masks(&self) -> Vec<String> {
        let mut m: Vec<String> = self.secrets.values().cloned().collect();
        m.push(self.token.clone());
        m.retain(|s| !s.is_empty());
        m
    }
}

/// The jobs in an order that honours `needs`, ties in file order.
fn order(workflow: &Workflow) -> Result<Vec<&Job>, RunError> {
    let mut done: Vec<&Job> = Vec::new();
    while done.len() < workflow.jobs.len() {
        let next = workflow.jobs.iter().find(|j| {
            !done.iter().any(|d| d.id == j.id)
                && j.needs.iter().all(|n| done.iter().any(|d| &d.id == n))
        });
        match next {
            Some(j) => done.push(j),
            None => {
                let stuck: Vec<&str> = workflow
                    .jobs
                    .iter()
                    .filter(|j| !done.iter().any(|d| d.id == j.id))
                    .map(|j| j.id.as_str())
                    .collect();
                return Err(RunError::Cycle {
                    workflow: workflow.path.display().to_string(),
                    jobs: stuck.join(", "),
                });
            }
        }
    }
    Ok(done)
}

/// The steps context and status of one list of steps (a job's, or a
/// composite action's own).
#[derive(Debug, Default)]
struct Scope {
    steps: Map<String, Value>,
    failed: bool,
    inputs: Option<Map<String, Value>>,
    action_path: Option<PathBuf>,
}

struct JobRun<'a> {
    runner: &'a Runner,
    workflow: &'a Workflow,
    job: &'a Job,
    workspace: PathBuf,
    temp: PathBuf,
    artifacts: PathBuf,
    done: &'a [JobReport],
    run_number: usize,
    started: Instant,
    env_added: Vec<(String, String)>,
    path_added: Vec<String>,
    masks: Vec<String>,
    log: String,
    annotations: Vec<Annotation>,
    summary: String,
    steps: Vec<StepReport>,
    step_seq: usize,
    /// The variables set by the workflow (its, the jobs', the steps' and
    /// the composite actions' `env`, and `GITHUB_ENV`): all the `env`
    /// context shows, as on GitHub.
    declared: std::collections::BTreeSet<String>,
    /// The process groups the job's steps led: what is left of them is
    /// stopped when the job ends (GitHub's orphan clean-up).
    groups: Vec<u32>,
    /// The call this job's workflow was started by, if it is a reusable one.
    frame: Option<&'a CallFrame>,
    /// Numbers the jobs of the run.
    seq: &'a Cell<usize>,
    /// How many calls deep this job's workflow is.
    depth: usize,
    /// Its `environment`, once evaluated.
    environment: Option<String>,
}

/// What running one step came to.
struct Ran {
    ok: bool,
    outputs: BTreeMap<String, String>,
}

impl JobRun<'_> {
    fn say(&mut self, text: &str) {
        let line = mask(text, &self.masks);
        if self.runner.echo {
            let _ = writeln!(std::io::stderr(), "[{}] {line}", self.job.id);
        }
        self.log.push_str(&line);
        self.log.push('\n');
    }

    fn annotate(&mut self, level: &str, message: String) {
        self.say(&format!("::{level}::{message}"));
        self.annotations.push(Annotation {
            level: level.to_owned(),
            message: mask(&message, &self.masks),
            properties: Vec::new(),
        });
    }

    fn needs_context(&self) -> Map<String, Value> {
        let mut needs = Map::new();
        for n in &self.job.needs {
            if let Some(r) = self.done.iter().find(|r| &r.id == n) {
                needs.insert(
                    n.clone(),
                    json!({ "result": r.result.word(), "outputs": r.outputs }),
                );
            }
        }
        needs
    }

    fn github_context(&self, action_path: Option<&Path>) -> Value {
        let r = self.runner;
        let (ref_type, ref_name) = match r.event.git_ref.strip_prefix("refs/heads/") {
            Some(b) => ("branch", b.to_owned()),
            None => match r.event.git_ref.strip_prefix("refs/tags/") {
                Some(t) => ("tag", t.to_owned()),
                None => ("", r.event.git_ref.clone()),
            },
        };
        json!({
            "event_name": r.event.name,
            "event": {},
            "ref": r.event.git_ref,
            "ref_name": ref_name,
            "ref_type": ref_type,
            "sha": r.event.sha,
            "actor": r.event.actor,
            "triggering_actor": r.event.actor,
            "repository": r.repository,
            "repository_owner": r.repository.split('/').next().unwrap_or_default(),
            "token": r.token,
            "workspace": self.workspace.display().to_string(),
            "workflow": self.workflow_name(),
            "job": self.job.id,
            "run_id": "1",
            "run_number": (self.run_number + 1).to_string(),
            "run_attempt": "1",
            "server_url": "https://github.com",
            "api_url": r.api_url,
            "graphql_url": "https://api.github.com/graphql",
            "action_path": action_path.map(|p| p.display().to_string()).unwrap_or_default(),
            "action_repository": "",
            "action_ref": "",
            "retention_days": "90",
        })
    }

    fn runner_context(&self) -> Value {
        json!({
            "os": "Linux",
            "arch": "X64",
            "name": "pipeline-workflow",
            "environment": "self-hosted",
            "temp": self.temp.display().to_string(),
            "tool_cache": self.runner.root.join("tool-cache").display().to_string(),
            "debug": "",
        })
    }

    /// The contexts an expression sees.
    fn contexts(&self, scope: Option<&Scope>, env: &[(String, String)]) -> Map<String, Value> {
        let mut c = Map::new();
        c.insert(
            "github".into(),
            self.github_context(scope.and_then(|s| s.action_path.as_deref())),
        );
        c.insert("needs".into(), Value::Object(self.needs_context()));
        c.insert("runner".into(), self.runner_context());
        let mut vars = Map::new();
        for (k, v) in &self.runner.vars {
            vars.insert(k.clone(), json!(v));
        }
        c.insert("vars".into(), Value::Object(vars));
        let mut secrets = Map::new();
        let visible = match self.frame {
            Some(frame) => &frame.secrets,
            None => &self.runner.secrets,
        };
        for (k, v) in visible {
            secrets.insert(k.clone(), json!(v));
        }
        secrets.insert("GITHUB_TOKEN".into(), json!(self.runner.token));
        c.insert("secrets".into(), Value::Object(secrets));
        if let Some(frame) = self.frame {
            c.insert("inputs".into(), Value::Object(frame.inputs.clone()));
        }
        let mut e = Map::new();
        for (k, v) in env {
            if self.declared.contains(k) {
                e.insert(k.clone(), json!(v));
            }
        }
        c.insert("env".into(), Value::Object(e));
        c.insert("matrix".into(), Value::Object(Map::new()));
        c.insert("strategy".into(), Value::Object(Map::new()));
        let failed = self
            .steps
            .iter()
            .any(|s| s.conclusion == Conclusion::Failure);
        c.insert(
            "job".into(),
            json!({ "status": if failed { "failure" } else { "success" } }),
        );
        if let Some(s) = scope {
            c.insert("steps".into(), Value::Object(s.steps.clone()));
            if let Some(inputs) = &s.inputs {
                c.insert("inputs".into(), Value::Object(inputs.clone()));
            }
        } else {
            c.insert("steps".into(), Value::Object(Map::new()));
        }
        c
    }

    fn eval_text(
        &self,
        text: &str,
        contexts: &Map<String, Value>,
        status: JobStatus,
    ) -> Result<String, String> {
        let cx = expr::Context {
            contexts,
            status,
            workspace: &self.workspace,
        };
        expr::interpolate(text, &cx).map_err(|e| e.to_string())
    }

    fn eval_condition(
        &self,
        text: &str,
        contexts: &Map<String, Value>,
        status: JobStatus,
    ) -> Result<bool, String> {
        let cx = expr::Context {
            contexts,
            status,
            workspace: &self.workspace,
        };
        expr::condition(text, &cx).map_err(|e| e.to_string())
    }

    /// The environment a step starts with (before its own `env`).
    fn base_env(&self, base: &[(String, String)]) -> Vec<(String, String)> {
        let r = self.runner;
        let mut env: Vec<(String, String)> = r.env.clone();
        let set = |env: &mut Vec<(String, String)>, k: &str, v: String| {
            env.retain(|(key, _)| key != k);
            env.push((k.to_owned(), v));
        };
        for (k, v) in [
            ("CI", "true".to_owned()),
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_ACTOR", r.event.actor.clone()),
            ("GITHUB_EVENT_NAME", r.event.name.clone()),
            ("GITHUB_REF", r.event.git_ref.clone()),
            ("GITHUB_SHA", r.event.sha.clone()),
            ("GITHUB_REPOSITORY", r.repository.clone()),
            (
                "GITHUB_REPOSITORY_OWNER",
                r.repository
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            ("GITHUB_WORKSPACE", self.workspace.display().to_string()),
            ("GITHUB_JOB", self.job.id.clone()),
            ("GITHUB_RUN_ID", "1".to_owned()),
            ("GITHUB_RUN_NUMBER", (self.run_number + 1).to_string()),
            ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
            ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
            ("GITHUB_API_URL", r.api_url.clone()),
            ("GITHUB_WORKFLOW", self.workflow_name()),
            ("RUNNER_OS", "Linux".to_owned()),
            ("RUNNER_ARCH", "X64".to_owned()),
            ("RUNNER_NAME", "pipeline-workflow".to_owned()),
            ("RUNNER_ENVIRONMENT", "self-hosted".to_owned()),
            ("RUNNER_TEMP", self.temp.display().to_string()),
            (
                "RUNNER_TOOL_CACHE",
                r.root.join("tool-cache").display().to_string(),
            ),
        ] {
            set(&mut env, k, v);
        }
        for (k, v) in base {
            set(&mut env, k, v.clone());
        }
        for (k, v) in &self.env_added {
            set(&mut env, k, v.clone());
        }
        if !self.path_added.is_empty() {
            let old = env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let mut parts = self.path_added.clone();
            parts.reverse();
            if !old.is_empty() {
                parts.push(old);
            }
            set(&mut env, "PATH", parts.join(":"));
        }
        env
    }

    fn run(mut self) -> Result<JobReport, RunError> {
        let job = self.job;
        // success() and failure() of a job look at every job it depends
        // on, directly or not.
        let mut ancestors: Vec<&str> = job.needs.iter().map(String::as_str).collect();
        let mut i = 0;
        while let Some(id) = ancestors.get(i).copied() {
            if let Some(j) = self.workflow.jobs.iter().find(|j| j.id == id) {
                for n in &j.needs {
                    if !ancestors.contains(&n.as_str()) {
                        ancestors.push(n);
                    }
                }
            }
            i += 1;
        }
        let needs_ok = ancestors.iter().all(|n| {
            self.done
                .iter()
                .any(|r| r.id == *n && r.result == Conclusion::Success)
        });
        let status = if needs_ok {
            JobStatus::Success
        } else {
            JobStatus::Failure
        };
        self.say(&format!(
            "== job {}{}",
            job.id,
            job.name
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ));
        let contexts = self.contexts(None, &[]);
        let go = match &job.condition {
            None => Ok(needs_ok),
            Some(c) => self.eval_condition(c, &contexts, status),
        };
        let go = match go {
            Ok(g) => g,
            Err(e) => {
                self.annotate("error", format!("jobs.{}.if: {e}", job.id));
                return Ok(self.finish(Conclusion::Failure, BTreeMap::new()));
            }
        };
        if !go {
            self.say("skipped");
            return Ok(self.finish(Conclusion::Skipped, BTreeMap::new()));
        }
        if let Some(name) = &job.environment {
            match self.eval_text(name, &contexts, JobStatus::Success) {
                Ok(name) => self.environment = Some(name),
                Err(e) => {
                    self.annotate("error", format!("jobs.{}.environment: {e}", job.id));
                    return Ok(self.finish(Conclusion::Failure, BTreeMap::new()));
                }
            }
        }
        if let Some(call) = &job.call {
            return self.call(call, &contexts);
        }
        // Workflow env, then the job's, each evaluated.
        let mut env: Vec<(String, String)> = Vec::new();
        for (k, v) in self.workflow.env.iter().chain(&job.env) {
            let cx = self.contexts(None, &env);
            match self.eval_text(v, &cx, JobStatus::Success) {
                Ok(v) => {
                    env.retain(|(key, _)| key != k);
                    env.push((k.clone(), v));
                }
                Err(e) => {
                    self.annotate("error", format!("env.{k}: {e}"));
                    return Ok(self.finish(Conclusion::Failure, BTreeMap::new()));
                }
            }
        }
        let mut scope = Scope::default();
        let steps = job.steps.clone();
        for step in &steps {
            self.step(step, &mut scope, &env)?;
        }
        let result = if scope.failed {
            Conclusion::Failure
        } else {
            Conclusion::Success
        };
        let cx = self.contexts(Some(&scope), &env);
        let mut outputs = BTreeMap::new();
        for (k, v) in &job.outputs {
            match self.eval_text(v, &cx, JobStatus::Success) {
                // GitHub does not pass on an output that holds a secret.
                Ok(v) if mask(&v, &self.masks) != v => self.annotate(
                    "warning",
                    format!("skip output '{k}' since it may contain secret"),
                ),
                Ok(v) => {
                    outputs.insert(k.clone(), v);
                }
                Err(e) => self.annotate("warning", format!("outputs.{k}: {e}")),
            }
        }
        let url = match &job.environment_url {
            Some(url) if self.environment.is_some() => {
                match self.eval_text(url, &cx, JobStatus::Success) {
                    Ok(url) => Some(url).filter(|u| !u.is_empty()),
                    Err(e) => {
                        self.annotate("warning", format!("environment.url: {e}"));
                        None
                    }
                }
            }
            _ => None,
        };
        self.say(&format!("== job {}: {}", job.id, result.word()));
        let mut report = self.finish(result, outputs);
        report.environment_url = url;
        Ok(report)
    }

    fn finish(mut self, result: Conclusion, outputs: BTreeMap<String, String>) -> JobReport {
        for group in std::mem::take(&mut self.groups) {
            kill_group(group);
        }
        JobReport {
            id: self.job.id.clone(),
            environment: self.environment,
            environment_url: None,
            result,
            outputs,
            steps: self.steps,
            annotations: self.annotations,
            summary: mask(&self.summary, &self.masks),
            log: self.log,
            called: Vec::new(),
        }
    }

    /// The name of the workflow that started the run.
    fn workflow_name(&self) -> String {
        match self.frame {
            Some(frame) => frame.workflow_name.clone(),
            None => self.workflow.name.clone().unwrap_or_default(),
        }
    }

    /// Fails the job, saying why.
    fn refuse(mut self, why: String) -> Result<JobReport, RunError> {
        self.annotate("error", why);
        Ok(self.finish(Conclusion::Failure, BTreeMap::new()))
    }

    /// A job that calls a reusable workflow of this repository: its inputs
    /// (typed, defaults applied, unknown ones refused) and secrets, its jobs
    /// run in `needs` order as the workflow's own, its outputs from theirs.
    fn call(mut self, call: &Call, cx: &Map<String, Value>) -> Result<JobReport, RunError> {
        let (called, declared, frame) = match self.prepare_call(call, cx) {
            Ok(prepared) => prepared,
            Err(why) => return self.refuse(why),
        };
        self.say(&format!("calls {} ({})", call.uses, called.path.display()));
        let jobs = self
            .runner
            .run_workflow(&called, Some(&frame), self.seq, self.depth + 1)?;
        // The caller's view: the called jobs' logs, summaries and notes.
        for j in &jobs {
            let text = format!("{}\n", j.log.trim_end());
            for line in text.lines() {
                self.log.push_str(&format!("[{}] {line}\n", j.id));
            }
            self.summary.push_str(&j.summary);
            self.annotations.extend(j.annotations.iter().cloned());
        }
        let result = if jobs.iter().any(|j| j.result == Conclusion::Failure) {
            Conclusion::Failure
        } else if !jobs.is_empty() && jobs.iter().all(|j| j.result == Conclusion::Skipped) {
            Conclusion::Skipped
        } else {
            Conclusion::Success
        };
        // Its outputs, from the `jobs` context of the called workflow.
        let mut jobs_cx = Map::new();
        for j in &jobs {
            jobs_cx.insert(
                j.id.clone(),
                json!({ "result": j.result.word(), "outputs": j.outputs }),
            );
        }
        let mut out_cx = Map::new();
        for key in ["github", "vars"] {
            if let Some(v) = cx.get(key) {
                out_cx.insert(key.to_owned(), v.clone());
            }
        }
        out_cx.insert("inputs".into(), Value::Object(frame.inputs.clone()));
        out_cx.insert("jobs".into(), Value::Object(jobs_cx));
        let mut outputs = BTreeMap::new();
        for (k, v) in &declared.outputs {
            match self.eval_text(v, &out_cx, JobStatus::Success) {
                Ok(v) if mask(&v, &self.masks) != v => self.annotate(
                    "warning",
                    format!("skip output '{k}' since it may contain secret"),
                ),
                Ok(v) => {
                    outputs.insert(k.clone(), v);
                }
                Err(e) => self.annotate("warning", format!("{}: outputs.{k}: {e}", call.uses)),
            }
        }
        self.say(&format!("== job {}: {}", self.job.id, result.word()));
        let mut report = self.finish(result, outputs);
        report.called = jobs;
        Ok(report)
    }

    /// The workflow `call` names, what it declares, and the frame its jobs
    /// run in; or why the call cannot be made.
    fn prepare_call(
        &self,
        call: &Call,
        cx: &Map<String, Value>,
    ) -> Result<(Workflow, crate::model::WorkflowCall, CallFrame), String> {
        let Some(local) = call.uses.strip_prefix("./") else {
            return Err(format!(
                "jobs.{}.uses: `{}` is not emulated (only reusable workflows of this repository, `./.github/workflows/<file>`)",
                self.job.id, call.uses
            ));
        };
        if !local.starts_with(".github/workflows/") || local.contains('@') {
            return Err(format!(
                "jobs.{}.uses: `{}`: a reusable workflow of this repository is `./.github/workflows/<file>`, without a ref",
                self.job.id, call.uses
            ));
        }
        // Read from the same commit as the calling workflow: its
        // repository root is the directory above its `.github/workflows`.
        let Some(root) = self
            .workflow
            .path
            .parent()
            .filter(|d| d.ends_with(".github/workflows"))
            .and_then(Path::parent)
            .and_then(Path::parent)
        else {
            return Err(format!(
                "jobs.{}.uses: the calling workflow {} is not in a repository's .github/workflows",
                self.job.id,
                self.workflow.path.display()
            ));
        };
        if self.depth + 1 >= MAX_CALL_DEPTH {
            return Err(format!(
                "jobs.{}.uses: {}: reusable workflows call one another more than {MAX_CALL_DEPTH} levels deep",
                self.job.id, call.uses
            ));
        }
        let called = match read_workflow(&root.join(local)) {
            Ok(w) => w,
            Err(e) => return Err(e.to_string()),
        };
        let Some(declared) = called.call.clone() else {
            return Err(format!(
                "jobs.{}.uses: {} is not a reusable workflow (its `on` has no `workflow_call`)",
                self.job.id, call.uses
            ));
        };
        // Inputs: every `with` declared, typed; defaults; required ones given.
        let mut given: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &call.with {
            if !declared.inputs.iter().any(|i| &i.name == k) {
                return Err(format!(
                    "jobs.{}.with.{k}: invalid input, {k} is not defined in the referenced workflow {}",
                    self.job.id, call.uses
                ));
            }
            match self.eval_text(v, cx, JobStatus::Success) {
                Ok(v) => {
                    given.insert(k.clone(), v);
                }
                Err(e) => return Err(format!("jobs.{}.with.{k}: {e}", self.job.id)),
            }
        }
        let mut inputs = Map::new();
        for input in &declared.inputs {
            let text = match (given.get(&input.name), &input.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => match self.eval_text(d, cx, JobStatus::Success) {
                    Ok(v) => v,
                    Err(e) => {
                        return Err(format!(
                            "{}: on.workflow_call.inputs.{}.default: {e}",
                            call.uses, input.name
                        ));
                    }
                },
                (None, None) if input.required => {
                    return Err(format!(
                        "jobs.{}: input required and not supplied: {} (by {})",
                        self.job.id, input.name, call.uses
                    ));
                }
                (None, None) => match input.kind {
                    InputKind::String => String::new(),
                    InputKind::Boolean => "false".to_owned(),
                    InputKind::Number => "0".to_owned(),
                },
            };
            let value = match input.kind {
                InputKind::String => Value::String(text),
                InputKind::Boolean => match text.trim() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    other => {
                        return Err(format!(
                            "jobs.{}.with.{}: `{other}` is not a boolean (the input's type in {})",
                            self.job.id, input.name, call.uses
                        ));
                    }
                },
                InputKind::Number => match text.trim().parse::<f64>() {
                    Ok(n) => json!(n),
                    Err(_) => {
                        return Err(format!(
                            "jobs.{}.with.{}: `{text}` is not a number (the input's type in {})",
                            self.job.id, input.name, call.uses
                        ));
                    }
                },
            };
            inputs.insert(input.name.clone(), value);
        }
        // Secrets: all the caller sees (inherit), or those named.
        let visible: &BTreeMap<String, String> = match self.frame {
            Some(frame) => &frame.secrets,
            None => &self.runner.secrets,
        };
        let mut secrets: BTreeMap<String, String> = BTreeMap::new();
        match &call.secrets {
            CallSecrets::None => {}
            CallSecrets::Inherit => secrets.clone_from(visible),
            CallSecrets::Map(pairs) => {
                for (k, v) in pairs {
                    if !declared.secrets.iter().any(|(n, _)| n == k) {
                        return Err(format!(
                            "jobs.{}.secrets.{k}: {k} is not a secret of the referenced workflow {}",
                            self.job.id, call.uses
                        ));
                    }
                    match self.eval_text(v, cx, JobStatus::Success) {
                        Ok(v) => {
                            secrets.insert(k.clone(), v);
                        }
                        Err(e) => {
                            return Err(format!("jobs.{}.secrets.{k}: {e}", self.job.id));
                        }
                    }
                }
            }
        }
        for (name, required) in &declared.secrets {
            if *required && secrets.get(name).is_none_or(String::is_empty) {
                return Err(format!(
                    "jobs.{}: secret required and not supplied: {name} (by {})",
                    self.job.id, call.uses
                ));
            }
        }
        let frame = CallFrame {
            inputs,
            secrets,
            workflow_name: self.workflow_name(),
        };
        Ok((called, declared, frame))
    }

    /// Runs one step in `scope`; records it there and in the job.
    fn step(
        &mut self,
        step: &Step,
        scope: &mut Scope,
        env: &[(String, String)],
    ) -> Result<(), RunError> {
        let status = if scope.failed {
            JobStatus::Failure
        } else {
            JobStatus::Success
        };
        let title = step.title();
        let step_env = self.base_env(env);
        let cx = self.contexts(Some(scope), &step_env);
        let go = match &step.condition {
            None => Ok(!scope.failed),
            Some(c) => self.eval_condition(c, &cx, status),
        };
        let (outcome, outputs) = match go {
            Err(e) => {
                self.annotate("error", format!("{title}: if: {e}"));
                (Conclusion::Failure, BTreeMap::new())
            }
            Ok(false) => {
                self.say(&format!("-- {title}: skipped"));
                (Conclusion::Skipped, BTreeMap::new())
            }
            Ok(true) => {
                self.say(&format!("-- {title}"));
                let ran = self.act(step, scope, &step_env, &cx, status)?;
                (
                    if ran.ok {
                        Conclusion::Success
                    } else {
                        Conclusion::Failure
                    },
                    ran.outputs,
                )
            }
        };
        let continue_on_error = match &step.continue_on_error {
            None => false,
            Some(c) => self
                .eval_condition(c, &cx, JobStatus::Success)
                .unwrap_or(false),
        };
        let conclusion = if outcome == Conclusion::Failure && continue_on_error {
            Conclusion::Success
        } else {
            outcome
        };
        if conclusion == Conclusion::Failure {
            scope.failed = true;
        }
        if let Some(id) = &step.id {
            scope.steps.insert(
                id.clone(),
                json!({ "outputs": outputs, "outcome": outcome.word(), "conclusion": conclusion.word() }),
            );
        }
        self.steps.push(StepReport {
            title,
            id: step.id.clone(),
            outcome,
            conclusion,
            outputs,
        });
        Ok(())
    }

    /// Does what `step` says; `cx` holds the contexts it sees.
    fn act(
        &mut self,
        step: &Step,
        scope: &Scope,
        step_env: &[(String, String)],
        cx: &Map<String, Value>,
        status: JobStatus,
    ) -> Result<Ran, RunError> {
        let fail = Ran {
            ok: false,
            outputs: BTreeMap::new(),
        };
        // The step's own env, evaluated.
        let mut env = step_env.to_vec();
        if let Some(p) = &scope.action_path {
            env.retain(|(k, _)| k != "GITHUB_ACTION_PATH");
            env.push(("GITHUB_ACTION_PATH".into(), p.display().to_string()));
        }
        for (k, v) in &step.env {
            match self.eval_text(v, cx, status) {
                Ok(v) => {
                    env.retain(|(key, _)| key != k);
                    env.push((k.clone(), v));
                }
                Err(e) => {
                    self.annotate("error", format!("{}: env.{k}: {e}", step.title()));
                    return Ok(fail);
                }
            }
        }
        match &step.action {
            StepAction::Run {
                script,
                shell,
                working_directory,
            } => {
                let script = match self.eval_text(script, cx, status) {
                    Ok(s) => s,
                    Err(e) => {
                        self.annotate("error", format!("{}: run: {e}", step.title()));
                        return Ok(fail);
                    }
                };
                let dir = match working_directory {
                    None => self.workspace.clone(),
                    Some(w) => match self.eval_text(w, cx, status) {
                        Ok(w) => self.workspace.join(w),
                        Err(e) => {
                            self.annotate(
                                "error",
                                format!("{}: working-directory: {e}", step.title()),
                            );
                            return Ok(fail);
                        }
                    },
                };
                let limit = self.time_left(step);
                self.shell(&script, shell.as_deref(), &dir, env, limit)
            }
            StepAction::Uses { uses, with } => {
                let mut inputs: Vec<(String, String)> = Vec::new();
                for (k, v) in with {
                    match self.eval_text(v, cx, status) {
                        Ok(v) => inputs.push((k.clone(), v)),
                        Err(e) => {
                            self.annotate("error", format!("{}: with.{k}: {e}", step.title()));
                            return Ok(fail);
                        }
                    }
                }
                if let Some(local) = uses.strip_prefix("./") {
                    let dir = self.workspace.join(local);
                    self.composite(&dir, &inputs, &env, cx)
                } else {
                    let name = uses
                        .split('@')
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    let builtin = crate::builtin::Builtin {
                        workspace: &self.workspace,
                        artifacts: &self.artifacts,
                        clone_url: &self.runner.clone_url,
                        event: &self.runner.event,
                        env: &env,
                    };
                    let input =
                        |k: &str| inputs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                    let result = match name.as_str() {
                        CHECKOUT => builtin.checkout(&input),
                        n if n == CACHE || n.starts_with("actions/cache/") => Ok(
                            crate::builtin::Done::new("the cache is not emulated: a miss")
                                .output("cache-hit", "false"),
                        ),
                        UPLOAD => builtin.upload(&input),
                        DOWNLOAD => builtin.download(&input),
                        _ => Err(format!(
                            "`{uses}` is not emulated (emulated: local composite actions, {CHECKOUT}, {CACHE}, {UPLOAD}, {DOWNLOAD})"
                        )),
                    };
                    match result {
                        Ok(done) => {
                            for line in &done.log {
                                self.say(line);
                            }
                            for w in done.warnings {
                                self.annotate("warning", w);
                            }
                            Ok(Ran {
                                ok: true,
                                outputs: done.outputs,
                            })
                        }
                        Err(e) => {
                            self.annotate("error", format!("{uses}: {e}"));
                            Ok(fail)
                        }
                    }
                }
            }
        }
    }

    fn time_left(&self, step: &Step) -> Duration {
        let job_left = Duration::from_secs_f64(self.job.timeout_minutes * 60.0)
            .saturating_sub(self.started.elapsed());
        match step.timeout_minutes {
            Some(m) => job_left.min(Duration::from_secs_f64(m * 60.0)),
            None => job_left,
        }
    }

    /// Runs a composite action: its inputs from `with` and its defaults,
    /// its steps in their own scope, its outputs from their values.
    fn composite(
        &mut self,
        dir: &Path,
        with: &[(String, String)],
        env: &[(String, String)],
        caller: &Map<String, Value>,
    ) -> Result<Ran, RunError> {
        let fail = Ran {
            ok: false,
            outputs: BTreeMap::new(),
        };
        let action: Action = match read_action(dir) {
            Ok(a) => a,
            Err(e) => {
                self.annotate("error", e.to_string());
                return Ok(fail);
            }
        };
        let mut inputs = Map::new();
        for input in &action.inputs {
            let value = match with.iter().find(|(k, _)| k == &input.name) {
                Some((_, v)) => v.clone(),
                None => match &input.default {
                    Some(d) => match self.eval_text(d, caller, JobStatus::Success) {
                        Ok(v) => v,
                        Err(e) => {
                            self.annotate(
                                "error",
                                format!("{}: inputs.{}.default: {e}", action.name, input.name),
                            );
                            return Ok(fail);
                        }
                    },
                    None => {
                        if input.required {
                            self.annotate(
                                "warning",
                                format!(
                                    "{}: input required and not supplied: {}",
                                    action.name, input.name
                                ),
                            );
                        }
                        String::new()
                    }
                },
            };
            inputs.insert(input.name.clone(), json!(value));
        }
        for (k, _) in with {
            if !action.inputs.iter().any(|i| &i.name == k) {
                self.annotate(
                    "warning",
                    format!("{}: unexpected input `{k}`", action.name),
                );
            }
        }
        self.declared.extend(
            action
                .steps
                .iter()
                .flat_map(|s| s.env.iter().map(|(k, _)| k.clone())),
        );
        let mut scope = Scope {
            inputs: Some(inputs),
            action_path: Some(action.dir.clone()),
            ..Scope::default()
        };
        // The action's steps see the caller's env (job env and the step's own).
        let inherited: Vec<(String, String)> = env.to_vec();
        for step in &action.steps {
            self.step(step, &mut scope, &inherited)?;
        }
        let cx = self.contexts(Some(&scope), &inherited);
        let mut outputs = BTreeMap::new();
        for (k, v) in &action.outputs {
            match self.eval_text(v, &cx, JobStatus::Success) {
                Ok(v) => {
                    outputs.insert(k.clone(), v);
                }
                Err(e) => self.annotate("warning", format!("{}: outputs.{k}: {e}", action.name)),
            }
        }
        Ok(Ran {
            ok: !scope.failed,
            outputs,
        })
    }

    /// Runs a script with `shell` in `dir`, reading its workflow commands
    /// and environment files.
    fn shell(
        &mut self,
        script: &str,
        shell: Option<&str>,
        dir: &Path,
        mut env: Vec<(String, String)>,
        limit: Duration,
    ) -> Result<Ran, RunError> {
        let fail = Ran {
            ok: false,
            outputs: BTreeMap::new(),
        };
        self.step_seq += 1;
        let seq = self.step_seq;
        let files = self.temp.join("_runner_file_commands");
        std::fs::create_dir_all(&files).map_err(Runner::io(&files))?;
        let file = |name: &str| files.join(format!("{name}_{seq}"));
        let (output, env_file, path_file, summary_file) = (
            file("set_output"),
            file("set_env"),
            file("add_path"),
            file("step_summary"),
        );
        for f in [&output, &env_file, &path_file, &summary_file] {
            std::fs::write(f, "").map_err(Runner::io(f))?;
        }
        for (k, f) in [
            ("GITHUB_OUTPUT", &output),
            ("GITHUB_ENV", &env_file),
            ("GITHUB_PATH", &path_file),
            ("GITHUB_STEP_SUMMARY", &summary_file),
        ] {
            env.retain(|(key, _)| key != k);
            env.push((k.to_owned(), f.display().to_string()));
        }
        let script_path = self.temp.join(format!("step_{seq}.sh"));
        std::fs::write(&script_path, script).map_err(Runner::io(&script_path))?;
        // As GitHub's runner on Linux: no `shell` is `bash -e`, an explicit
        // `bash` adds pipefail and skips the profile.
        let template = match shell {
            None => "bash -e {0}".to_owned(),
            Some(shell) => shell.to_owned(),
        };
        let template = match template.as_str() {
            "bash" => "bash --noprofile --norc -eo pipefail {0}".to_owned(),
            "sh" => "sh -e {0}".to_owned(),
            "python" => "python3 {0}".to_owned(),
            custom if custom.contains("{0}") => custom.to_owned(),
            other => {
                self.annotate("error", format!("shell `{other}` is not emulated (bash, sh, python, or a template with {{0}})"));
                return Ok(fail);
            }
        };
        let mut words = template.split_whitespace().map(|w| {
            if w == "{0}" {
                script_path.display().to_string()
            } else {
                w.to_owned()
            }
        });
        let program = words.next().unwrap_or_default();
        if !dir.is_dir() {
            self.annotate(
                "error",
                format!("working directory {} does not exist", dir.display()),
            );
            return Ok(fail);
        }
        let mut cmd = Command::new(&program);
        cmd.args(words)
            .current_dir(dir)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        {
            use std::os::unix::process::CommandExt as _;
            cmd.process_group(0);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                self.annotate("error", format!("cannot start {program}: {e}"));
                return Ok(fail);
            }
        };
        self.groups.push(child.id());
        let (tx, rx) = mpsc::channel::<String>();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            }));
        }
        if let Some(err) = child.stderr.take() {
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            }));
        }
        drop(tx);
        let started = Instant::now();
        let mut reader = CommandReader::default();
        let mut timed_out = false;
        let mut exited: Option<(std::process::ExitStatus, Instant)> = None;
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => self.line(&mut reader, &line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if exited.is_none()
                && let Ok(Some(status)) = child.try_wait()
            {
                exited = Some((status, Instant::now()));
            }
            // The shell is done but something it left running holds the
            // output open (`server &`): the step ends after a moment; what
            // it left runs on for the next steps, as on GitHub, until the
            // job ends.
            if let Some((_, at)) = exited
                && at.elapsed() > LEFTOVER_GRACE
            {
                self.say("(the step left processes running; they run until the job ends)");
                break;
            }
            if started.elapsed() > limit && !timed_out {
                timed_out = true;
                kill_group(child.id());
            }
        }
        // Readers blocked on a pipe that a process outside the group still
        // holds are left behind rather than waited for.
        for r in readers {
            if r.is_finished() {
                let _ = r.join();
            }
        }
        let status = match exited {
            Some((status, _)) => status,
            None => child.wait().map_err(Runner::io(dir))?,
        };
        let _ = std::fs::remove_file(&script_path);
        if timed_out {
            self.annotate(
                "error",
                format!("the step ran out of time ({} s)", limit.as_secs()),
            );
        }
        // Environment files.
        let mut outputs = BTreeMap::new();
        let mut ok = status.success() && !timed_out;
        if !status.success() && !timed_out {
            self.annotate(
                "error",
                format!(
                    "Process completed with exit code {}.",
                    status
                        .code()
                        .map_or_else(|| "a signal".to_owned(), |c| c.to_string())
                ),
            );
        }
        for (what, f) in [("GITHUB_OUTPUT", &output), ("GITHUB_ENV", &env_file)] {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            match parse_env_file(&text) {
                Ok(pairs) => {
                    for (k, v) in pairs {
                        if what == "GITHUB_OUTPUT" {
                            outputs.insert(k, v);
                        } else if k.starts_with("GITHUB_") || k.starts_with("RUNNER_") {
                            self.annotate("warning", format!("GITHUB_ENV cannot set {k}"));
                        } else {
                            self.declared.insert(k.clone());
                            self.env_added.retain(|(key, _)| key != &k);
                            self.env_added.push((k, v));
                        }
                    }
                }
                Err(e) => {
                    self.annotate("error", format!("{what}: {e}"));
                    ok = false;
                }
            }
        }
        for line in std::fs::read_to_string(&path_file)
            .unwrap_or_default()
            .lines()
        {
            if !line.trim().is_empty() {
                self.path_added.push(line.trim().to_owned());
            }
        }
        let summary = std::fs::read_to_string(&summary_file).unwrap_or_default();
        self.summary.push_str(&summary);
        Ok(Ran { ok, outputs })
    }

    fn line(&mut self, reader: &mut CommandReader, line: &str) {
        match reader.read(line) {
            Line::Text(t) => self.say(&t),
            Line::Mask(m) => {
                if !m.is_empty() {
                    self.masks.push(m);
                }
            }
            Line::Annotation(mut a) => {
                a.message = mask(&a.message, &self.masks);
                for (_, v) in &mut a.properties {
                    *v = mask(v, &self.masks);
                }
                self.say(&format!("::{}::{}", a.level, a.message));
                self.annotations.push(a);
            }
            Line::Log(l) => {
                if !l.is_empty() {
                    self.say(&l);
                }
            }
        }
    }
}

/// Kills the process group the step leads (it was started with
/// `process_group(0)`), so that nothing it started lives on.
fn kill_group(pid: u32) {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .filter(|p| *p > 1)
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}
