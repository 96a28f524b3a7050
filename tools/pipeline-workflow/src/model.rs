//! Workflow and action files, read into plain values. Only what the runner
//! acts on is kept; keys it does not emulate but that change nothing on one
//! machine (`runs-on`, `permissions`, `concurrency`, `defaults.run.shell` of
//! bash) are accepted, and those that would change the outcome (`strategy`,
//! `services`, `container`) are refused by name. A job that calls a reusable
//! workflow (`uses:`) keeps its call ([`Call`]); a reusable workflow keeps
//! what `on.workflow_call` declares ([`WorkflowCall`]).

use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

/// Why a workflow or action file cannot be run.
#[derive(Debug, thiserror::Error)]
#[error("{}: {at}: {reason}", file.display())]
pub struct ModelError {
    /// The file.
    pub file: PathBuf,
    /// Where in it (`jobs.sync.steps[2].with`).
    pub at: String,
    /// What is wrong.
    pub reason: String,
}

/// A workflow file.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// The file it was read from.
    pub path: PathBuf,
    /// `name`.
    pub name: Option<String>,
    /// `env`, unevaluated, in file order.
    pub env: Vec<(String, String)>,
    /// The jobs, in file order.
    pub jobs: Vec<Job>,
    /// `on.workflow_call`, when it is a reusable workflow.
    pub call: Option<WorkflowCall>,
}

/// What a reusable workflow declares under `on.workflow_call`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkflowCall {
    /// `inputs`, in file order.
    pub inputs: Vec<CallInput>,
    /// `outputs`: name and `value`, unevaluated (the `jobs` context).
    pub outputs: Vec<(String, String)>,
    /// `secrets`: name and whether it is required.
    pub secrets: Vec<(String, bool)>,
}

/// An input of a reusable workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInput {
    /// Its name.
    pub name: String,
    /// `required`.
    pub required: bool,
    /// `default`, as written.
    pub default: Option<String>,
    /// `type`.
    pub kind: InputKind,
}

/// The `type` of a reusable workflow's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `string`.
    String,
    /// `boolean`.
    Boolean,
    /// `number`.
    Number,
}

/// A job's call of a reusable workflow (`jobs.<id>.uses`).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `./.github/workflows/x.yml`, or `owner/repo/…@ref`.
    pub uses: String,
    /// `with`, unevaluated.
    pub with: Vec<(String, String)>,
    /// `secrets`.
    pub secrets: CallSecrets,
}

/// The secrets a caller passes.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum CallSecrets {
    /// None (only `GITHUB_TOKEN`).
    #[default]
    None,
    /// `secrets: inherit`: every secret the caller sees.
    Inherit,
    /// `secrets:` a mapping, its values unevaluated.
    Map(Vec<(String, String)>),
}

/// One job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its key under `jobs`.
    pub id: String,
    /// `name`.
    pub name: Option<String>,
    /// `needs`.
    pub needs: Vec<String>,
    /// `if`.
    pub condition: Option<String>,
    /// `environment` (its name), unevaluated.
    pub environment: Option<String>,
    /// `environment.url`, unevaluated (evaluated when the job ends).
    pub environment_url: Option<String>,
    /// `env`, unevaluated.
    pub env: Vec<(String, String)>,
    /// `outputs`, unevaluated.
    pub outputs: Vec<(String, String)>,
    /// `timeout-minutes` (GitHub's default: 360).
    pub timeout_minutes: f64,
    /// `steps` (none for a job that calls a reusable workflow).
    pub steps: Vec<Step>,
    /// `uses`: the reusable workflow it calls instead of running steps.
    pub call: Option<Call>,
}

/// One step of a job or of a composite action.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// `id`.
    pub id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `if`.
    pub condition: Option<String>,
    /// `env`, unevaluated.
    pub env: Vec<(String, String)>,
    /// `continue-on-error` (an expression or a literal).
    pub continue_on_error: Option<String>,
    /// `timeout-minutes`.
    pub timeout_minutes: Option<f64>,
    /// What it does.
    pub action: StepAction,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// `run`.
    Run {
        /// The script.
        script: String,
        /// `shell`.
        shell: Option<String>,
        /// `working-directory`.
        working_directory: Option<String>,
    },
    /// `uses` with its `with`.
    Uses {
        /// `owner/repo@ref` or `./path`.
        uses: String,
        /// `with`, unevaluated.
        with: Vec<(String, String)>,
    },
}

impl Step {
    /// What the log calls it: `name`, else `Run <first line>` or the action.
    pub fn title(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        match &self.action {
            StepAction::Run { script, .. } => {
                format!("Run {}", script.lines().next().unwrap_or_default().trim())
            }
            StepAction::Uses { uses, .. } => format!("Run {uses}"),
        }
    }
}

/// A composite action (`action.yml`).
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// The directory it lives in (`GITHUB_ACTION_PATH`).
    pub dir: PathBuf,
    /// `name`.
    pub name: String,
    /// `inputs`.
    pub inputs: Vec<Input>,
    /// `outputs`: name and `value`, unevaluated.
    pub outputs: Vec<(String, String)>,
    /// `runs.steps`.
    pub steps: Vec<Step>,
}

/// An input of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Its name.
    pub name: String,
    /// `required`.
    pub required: bool,
    /// `default`, unevaluated.
    pub default: Option<String>,
}

struct Reader<'a> {
    file: &'a Path,
}

impl Reader<'_> {
    fn err(&self, at: &str, reason: impl Into<String>) -> ModelError {
        ModelError {
            file: self.file.to_owned(),
            at: at.to_owned(),
            reason: reason.into(),
        }
    }

    fn map<'v>(&self, v: &'v Value, at: &str) -> Result<&'v Mapping, ModelError> {
        v.as_mapping()
            .ok_or_else(|| self.err(at, "must be a mapping"))
    }

    /// A scalar as the text GitHub would hand on.
    fn text(&self, v: &Value, at: &str) -> Result<String, ModelError> {
        scalar(v).ok_or_else(|| self.err(at, "must be a string, number or boolean"))
    }

    fn opt_text(&self, m: &Mapping, key: &str, at: &str) -> Result<Option<String>, ModelError> {
        m.get(key)
            .map(|v| self.text(v, &format!("{at}.{key}")))
            .transpose()
    }

    fn pairs(&self, v: Option<&Value>, at: &str) -> Result<Vec<(String, String)>, ModelError> {
        let Some(v) = v else {
            return Ok(Vec::new());
        };
        if v.is_null() {
            return Ok(Vec::new());
        }
        let m = self.map(v, at)?;
        m.iter()
            .map(|(k, v)| {
                let k = self.text(k, at)?;
                let v = self.text(v, &format!("{at}.{k}"))?;
                Ok((k, v))
            })
            .collect()
    }

    fn minutes(&self, m: &Mapping, at: &str) -> Result<Option<f64>, ModelError> {
        match m.get("timeout-minutes") {
            None => Ok(None),
            Some(v) => {
                let minutes = v
                    .as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|m| m.is_finite() && *m > 0.0)
                    .ok_or_else(|| {
                        self.err(
                            &format!("{at}.timeout-minutes"),
                            "must be a positive number",
                        )
                    })?;
                Ok(Some(minutes))
            }
        }
    }

    fn steps(&self, v: Option<&Value>, at: &str, composite: bool) -> Result<Vec<Step>, ModelError> {
        let list = v
            .and_then(Value::as_sequence)
            .ok_or_else(|| self.err(at, "must be a list of steps"))?;
        list.iter()
            .enumerate()
            .map(|(i, s)| self.step(s, &format!("{at}[{i}]"), composite))
            .collect()
    }

    fn step(&self, v: &Value, at: &str, composite: bool) -> Result<Step, ModelError> {
        let m = self.map(v, at)?;
        for (k, _) in m {
            let key = k.as_str().unwrap_or_default();
            if !matches!(
                key,
                "id" | "name"
                    | "if"
                    | "env"
                    | "continue-on-error"
                    | "timeout-minutes"
                    | "run"
                    | "shell"
                    | "working-directory"
                    | "uses"
                    | "with"
            ) {
                return Err(self.err(&format!("{at}.{key}"), "is not a step key"));
            }
        }
        let action = match (m.get("run"), m.get("uses")) {
            (Some(run), None) => {
                let shell = self.opt_text(m, "shell", at)?;
                if composite && shell.is_none() {
                    return Err(self.err(at, "a run step of a composite action needs `shell`"));
                }
                StepAction::Run {
                    script: self.text(run, &format!("{at}.run"))?,
                    shell,
                    working_directory: self.opt_text(m, "working-directory", at)?,
                }
            }
            (None, Some(uses)) => StepAction::Uses {
                uses: self.text(uses, &format!("{at}.uses"))?,
                with: self.pairs(m.get("with"), &format!("{at}.with"))?,
            },
            (Some(_), Some(_)) => return Err(self.err(at, "has both `run` and `uses`")),
            (None, None) => return Err(self.err(at, "has neither `run` nor `uses`")),
        };
        Ok(Step {
            id: self.opt_text(m, "id", at)?,
            name: self.opt_text(m, "name", at)?,
            condition: self.opt_text(m, "if", at)?,
            env: self.pairs(m.get("env"), &format!("{at}.env"))?,
            continue_on_error: self.opt_text(m, "continue-on-error", at)?,
            timeout_minutes: self.minutes(m, at)?,
            action,
        })
    }
}

/// A scalar as text: strings as they are, numbers and booleans as written,
/// null as empty.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn parse_yaml(path: &Path, text: &str) -> Result<Value, ModelError> {
    serde_yaml_ng::from_str(text).map_err(|e| ModelError {
        file: path.to_owned(),
        at: e.location().map_or_else(
            || "the file".to_owned(),
            |l| format!("line {}, column {}", l.line(), l.column()),
        ),
        reason: format!("not YAML: {e}"),
    })
}

/// Reads a workflow file.
///
/// # Errors
///
/// [`ModelError`] naming the file and the key.
pub fn read_workflow(path: &Path) -> Result<Workflow, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError {
        file: path.to_owned(),
        at: "the file".to_owned(),
        reason: e.to_string(),
    })?;
    parse_workflow(path, &text)
}

/// Parses a workflow's text (`path` names it in errors).
///
/// # Errors
///
/// [`ModelError`] naming the file and the key.
pub fn parse_workflow(path: &Path, text: &str) -> Result<Workflow, ModelError> {
    let r = Reader { file: path };
    let doc = parse_yaml(path, text)?;
    let top = r.map(&doc, "the document")?;
    let jobs_v = top.get("jobs").ok_or_else(|| r.err("jobs", "is missing"))?;
    let jobs_m = r.map(jobs_v, "jobs")?;
    let mut jobs = Vec::new();
    for (k, v) in jobs_m {
        let id = r.text(k, "jobs")?;
        let at = format!("jobs.{id}");
        let m = r.map(v, &at)?;
        for refused in ["strategy", "services", "container"] {
            if m.contains_key(refused) {
                return Err(r.err(
                    &format!("{at}.{refused}"),
                    "is not emulated (matrix jobs, service containers and job containers need GitHub or Docker)",
                ));
            }
        }
        let call = match m.get("uses") {
            None => None,
            Some(uses) => {
                for (key, _) in m {
                    let key = key.as_str().unwrap_or_default();
                    if !matches!(
                        key,
                        "name"
                            | "uses"
                            | "with"
                            | "secrets"
                            | "needs"
                            | "if"
                            | "permissions"
                            | "concurrency"
                    ) {
                        return Err(r.err(
                            &format!("{at}.{key}"),
                            "is not allowed in a job that calls a reusable workflow (name, uses, with, secrets, needs, if, permissions, concurrency)",
                        ));
                    }
                }
                let secrets = match m.get("secrets") {
                    None | Some(Value::Null) => CallSecrets::None,
                    Some(Value::String(s)) if s == "inherit" => CallSecrets::Inherit,
                    Some(v @ Value::Mapping(_)) => {
                        CallSecrets::Map(r.pairs(Some(v), &format!("{at}.secrets"))?)
                    }
                    Some(_) => {
                        return Err(
                            r.err(&format!("{at}.secrets"), "must be `inherit` or a mapping")
                        );
                    }
                };
                Some(Call {
                    uses: r.text(uses, &format!("{at}.uses"))?,
                    with: r.pairs(m.get("with"), &format!("{at}.with"))?,
                    secrets,
                })
            }
        };
        let needs = match m.get("needs") {
            None => Vec::new(),
            Some(Value::Sequence(list)) => list
                .iter()
                .enumerate()
                .map(|(i, n)| r.text(n, &format!("{at}.needs[{i}]")))
                .collect::<Result<_, _>>()?,
            Some(v) => vec![r.text(v, &format!("{at}.needs"))?],
        };
        let (environment, environment_url) = match m.get("environment") {
            None => (None, None),
            Some(Value::Mapping(e)) => (
                r.opt_text(e, "name", &format!("{at}.environment"))?,
                r.opt_text(e, "url", &format!("{at}.environment"))?,
            ),
            Some(v) => (Some(r.text(v, &format!("{at}.environment"))?), None),
        };
        let steps = if call.is_some() {
            Vec::new()
        } else {
            r.steps(m.get("steps"), &format!("{at}.steps"), false)?
        };
        jobs.push(Job {
            name: r.opt_text(m, "name", &at)?,
            needs,
            condition: r.opt_text(m, "if", &at)?,
            environment,
            environment_url,
            env: r.pairs(m.get("env"), &format!("{at}.env"))?,
            outputs: r.pairs(m.get("outputs"), &format!("{at}.outputs"))?,
            timeout_minutes: r.minutes(m, &at)?.unwrap_or(360.0),
            steps,
            call,
            id,
        });
    }
    for job in &jobs {
        for need in &job.needs {
            if !jobs.iter().any(|j| &j.id == need) {
                return Err(r.err(
                    &format!("jobs.{}.needs", job.id),
                    format!("needs `{need}`, which is not a job of this workflow"),
                ));
            }
        }
    }
    Ok(Workflow {
        path: path.to_owned(),
        name: r.opt_text(top, "name", "the document")?,
        env: r.pairs(top.get("env"), "env")?,
        jobs,
        call: workflow_call(&r, top)?,
    })
}

/// `on.workflow_call`, when `on` names it (as a word, in a list, or as a
/// key). YAML 1.1 readers take a bare `on` for `true`; both are looked for.
fn workflow_call(r: &Reader<'_>, top: &Mapping) -> Result<Option<WorkflowCall>, ModelError> {
    let on = top.get("on").or_else(|| top.get(Value::Bool(true)));
    let declared = match on {
        Some(Value::String(s)) => return Ok((s == "workflow_call").then(WorkflowCall::default)),
        Some(Value::Sequence(list)) => {
            return Ok(list
                .iter()
                .any(|v| v.as_str() == Some("workflow_call"))
                .then(WorkflowCall::default));
        }
        Some(Value::Mapping(m)) => match m.get("workflow_call") {
            None => return Ok(None),
            Some(Value::Null) => return Ok(Some(WorkflowCall::default())),
            Some(v) => r.map(v, "on.workflow_call")?,
        },
        _ => return Ok(None),
    };
    let mut call = WorkflowCall::default();
    if let Some(v) = declared.get("inputs").filter(|v| !v.is_null()) {
        for (k, v) in r.map(v, "on.workflow_call.inputs")? {
            let name = r.text(k, "on.workflow_call.inputs")?;
            let at = format!("on.workflow_call.inputs.{name}");
            let m = r.map(v, &at)?;
            let kind = match r.opt_text(m, "type", &at)?.as_deref() {
                Some("string") => InputKind::String,
                Some("boolean") => InputKind::Boolean,
                Some("number") => InputKind::Number,
                other => {
                    return Err(r.err(
                        &format!("{at}.type"),
                        format!(
                            "`{}` is not an input type of a reusable workflow (string, boolean, number)",
                            other.unwrap_or_default()
                        ),
                    ));
                }
            };
            call.inputs.push(CallInput {
                required: matches!(m.get("required"), Some(Value::Bool(true))),
                default: r.opt_text(m, "default", &at)?,
                kind,
                name,
            });
        }
    }
    if let Some(v) = declared.get("outputs").filter(|v| !v.is_null()) {
        for (k, v) in r.map(v, "on.workflow_call.outputs")? {
            let name = r.text(k, "on.workflow_call.outputs")?;
            let at = format!("on.workflow_call.outputs.{name}");
            let value = r
                .opt_text(r.map(v, &at)?, "value", &at)?
                .ok_or_else(|| r.err(&at, "a reusable workflow's output needs `value`"))?;
            call.outputs.push((name, value));
        }
    }
    if let Some(v) = declared.get("secrets").filter(|v| !v.is_null()) {
        for (k, v) in r.map(v, "on.workflow_call.secrets")? {
            let name = r.text(k, "on.workflow_call.secrets")?;
            let required = match v {
                Value::Mapping(m) => matches!(m.get("required"), Some(Value::Bool(true))),
                _ => false,
            };
            call.secrets.push((name, required));
        }
    }
    Ok(Some(call))
}

/// Reads the composite action in `dir` (`action.yml` or `action.yaml`).
///
/// # Errors
///
/// [`ModelError`] naming the file and the key; an action that is not
/// composite is refused (JavaScript and Docker actions are not emulated).
pub fn read_action(dir: &Path) -> Result<Action, ModelError> {
    let path = ["action.yml", "action.yaml"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| ModelError {
            file: dir.join("action.yml"),
            at: "the file".to_owned(),
            reason: "no action.yml or action.yaml in the action's directory".to_owned(),
        })?;
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError {
        file: path.clone(),
        at: "the file".to_owned(),
        reason: e.to_string(),
    })?;
    let r = Reader { file: &path };
    let doc = parse_yaml(&path, &text)?;
    let top = r.map(&doc, "the document")?;
    let runs = r.map(
        top.get("runs").ok_or_else(|| r.err("runs", "is missing"))?,
        "runs",
    )?;
    let using = r.opt_text(runs, "using", "runs")?.unwrap_or_default();
    if using != "composite" {
        return Err(r.err(
            "runs.using",
            format!("`{using}` actions are not emulated, only composite ones"),
        ));
    }
    let mut inputs = Vec::new();
    if let Some(v) = top.get("inputs").filter(|v| !v.is_null()) {
        for (k, v) in r.map(v, "inputs")? {
            let name = r.text(k, "inputs")?;
            let at = format!("inputs.{name}");
            let (required, default) = match v {
                Value::Mapping(m) => (
                    matches!(m.get("required"), Some(Value::Bool(true)))
                        || m.get("required").and_then(Value::as_str) == Some("true"),
                    r.opt_text(m, "default", &at)?,
                ),
                Value::Null => (false, None),
                _ => return Err(r.err(&at, "must be a mapping")),
            };
            inputs.push(Input {
                name,
                required,
                default,
            });
        }
    }
    let mut outputs = Vec::new();
    if let Some(v) = top.get("outputs").filter(|v| !v.is_null()) {
        for (k, v) in r.map(v, "outputs")? {
            let name = r.text(k, "outputs")?;
            let at = format!("outputs.{name}");
            let value = r
                .opt_text(r.map(v, &at)?, "value", &at)?
                .ok_or_else(|| r.err(&at, "a composite action's output needs `value`"))?;
            outputs.push((name, value));
        }
    }
    Ok(Action {
        dir: dir.to_owned(),
        name: r.opt_text(top, "name", "the document")?.unwrap_or_default(),
        inputs,
        outputs,
        steps: r.steps(runs.get("steps"), "runs.steps", true)?,
    })
}

/// The event that starts the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `push`, `workflow_dispatch`, …
    pub name: String,
    /// `refs/heads/develop`.
    pub git_ref: String,
    /// The commit.
    pub sha: String,
    /// Who.
    pub actor: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wf(text: &str) -> Result<Workflow, ModelError> {
        parse_workflow(Path::new("w.yml"), text)
    }

    #[test]
    fn jobs_steps_and_scalars_are_read_as_github_hands_them_on() {
        let w = wf(r"
name: t
on: push
env: { A: 1, B: true }
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
  two:
    needs: one
    if: always()
    environment: { name: qa, url: https://x }
    timeout-minutes: 2
    outputs: { v: '${{ steps.s.outputs.v }}' }
    steps:
      - id: s
        uses: ./a
        with: { fetch-depth: 0, flag: false }
")
        .unwrap();
        assert_eq!(
            w.env,
            [("A".into(), "1".into()), ("B".into(), "true".into())]
        );
        assert_eq!(w.jobs[0].id, "one");
        assert_eq!(w.jobs[0].steps[0].title(), "Run echo hi");
        let two = &w.jobs[1];
        assert_eq!(two.needs, ["one"]);
        assert_eq!(two.environment.as_deref(), Some("qa"));
        assert!((two.timeout_minutes - 2.0).abs() < f64::EPSILON);
        assert_eq!(
            two.steps[0].action,
            StepAction::Uses {
                uses: "./a".into(),
                with: vec![
                    ("fetch-depth".into(), "0".into()),
                    ("flag".into(), "false".into())
                ]
            }
        );
    }

    #[test]
    fn what_cannot_be_emulated_or_makes_no_sense_is_refused_by_name() {
        let e = wf("jobs: { a: { needs: b, steps: [ { run: x } ] } }").unwrap_err();
        assert_eq!(
            e.to_string(),
            "w.yml: jobs.a.needs: needs `b`, which is not a job of this workflow"
        );
        let e = wf("jobs: { a: { strategy: { matrix: { x: [1] } }, steps: [ { run: x } ] } }")
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("w.yml: jobs.a.strategy: is not emulated"),
            "{e}"
        );
        let e = wf("jobs: { a: { steps: [ { run: x, uses: y } ] } }").unwrap_err();
        assert!(e.to_string().contains("jobs.a.steps[0]: has both"), "{e}");
        let e = wf("jobs: { a: { steps: [ { runs: x } ] } }").unwrap_err();
        assert!(
            e.to_string()
                .contains("jobs.a.steps[0].runs: is not a step key"),
            "{e}"
        );
        let e = wf("jobs: [").unwrap_err();
        assert!(e.to_string().contains("not YAML"), "{e}");
    }
}
