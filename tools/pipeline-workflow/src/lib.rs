//! Runs a GitHub Actions workflow on this machine, in emulation mode: no
//! Docker, no GitHub, every step a real process. It exists so that the
//! workflows that call the toolkit's binaries are run, not only validated,
//! before they reach GitHub.
//!
//! What is emulated, as GitHub's runner does it:
//!
//! - jobs one after another in `needs` order; a job whose needs did not all
//!   succeed is skipped unless its `if` says otherwise (`always()`,
//!   `failure()`); job `outputs`, `needs.<job>.outputs` and `.result`;
//!   `timeout-minutes` (the step's process group is killed);
//! - `run` steps with `bash --noprofile --norc -eo pipefail`, `sh -e`,
//!   `python3` or a `{0}` template, in the job's workspace or
//!   `working-directory`, with `env` at workflow, job and step level, the
//!   `GITHUB_*`/`RUNNER_*` variables, and only the runner machine's
//!   environment given to [`Runner::with_env`] besides;
//! - `GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_PATH` and
//!   `GITHUB_STEP_SUMMARY` (fresh files per step, `NAME<<DELIMITER`
//!   blocks), the workflow commands `::add-mask::`, `::error::`,
//!   `::warning::`, `::notice::`, `::group::`, `::stop-commands::`, and
//!   secrets masked in every log and summary;
//! - `if` and `continue-on-error` with the expression language
//!   ([`expr`]): contexts `github`, `env`, `vars`, `secrets`, `inputs`,
//!   `steps`, `needs`, `runner`, `job`; the status functions; `hashFiles`;
//! - local composite actions (`uses: ./path`): inputs with their defaults,
//!   `GITHUB_ACTION_PATH` and `github.action_path`, their own `steps`
//!   scope, `outputs` from their values;
//! - reusable workflows of the repository (`jobs.<id>.uses:
//!   ./.github/workflows/<file>`), read from the same commit as the
//!   calling workflow: `on.workflow_call` inputs typed (string, boolean,
//!   number) with their defaults, unknown or missing required ones refused
//!   as GitHub refuses them; `secrets: inherit` or named secrets (required
//!   ones checked; no other secret is visible); the called workflow's own
//!   `env` (the caller's is not passed); its jobs in `needs` order, each
//!   reported under its caller ([`JobReport::called`], `caller/job` in
//!   [`RunReport::job`]); its `outputs` from the `jobs` context, as the
//!   caller's `needs.<id>.outputs`; the `github` context of the caller; at
//!   most [`MAX_CALL_DEPTH`] levels;
//! - a job's `environment` name evaluated when it starts and its `url`
//!   when it ends ([`JobReport::environment_url`], what GitHub shows on
//!   the deployment);
//! - `actions/checkout` (a clone of the runner's clone URL: the event's
//!   commit on its branch, or the `ref` asked for; `fetch-depth`),
//!   `actions/upload-artifact` and `actions/download-artifact` (within the
//!   run; laid out from the paths' least common ancestor; hidden files left
//!   out unless asked for; permissions not kept), `actions/cache` (always a
//!   miss); `GITHUB_API_URL` pointed elsewhere with
//!   [`Runner::with_api_url`] (a fake of GitHub on loopback).
//!
//! What is refused by name rather than run wrongly: matrix jobs, service
//! and job containers, reusable workflows of other repositories,
//! JavaScript and Docker actions other than those above. `concurrency`,
//! `permissions`, `runs-on` and environments' protection rules have no
//! meaning on one machine and are ignored.
//!
//! ```no_run
//! use pipeline_workflow::{Event, Runner, read_workflow};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let workflow = read_workflow(".github/workflows/release-pipeline.yml".as_ref())?;
//! let event = Event {
//!     name: "push".into(),
//!     git_ref: "refs/heads/develop".into(),
//!     sha: "0123abcd…".into(),
//!     actor: "octocat".into(),
//! };
//! let report = Runner::new("/tmp/runner", "octo-org/shop", "file:///srv/shop.git", event)
//!     .with_env(vec![("PATH".into(), "/usr/bin:/bin".into())])
//!     .run(&workflow)?;
//! assert!(report.success());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod builtin;
pub mod commands;
pub mod expr;
pub mod model;
mod runner;

pub use model::{
    Action, Call, CallInput, CallSecrets, Event, InputKind, Job, ModelError, Step, StepAction,
    Workflow, WorkflowCall, read_action, read_workflow,
};
pub use runner::{Conclusion, JobReport, MAX_CALL_DEPTH, RunError, RunReport, Runner, StepReport};
