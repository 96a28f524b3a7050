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
//! - `actions/checkout` (a clone of the runner's clone URL: the event's
//!   commit on its branch, or the `ref` asked for; `fetch-depth`),
//!   `actions/upload-artifact` and `actions/download-artifact` (within the
//!   run; laid out from the paths' least common ancestor; hidden files left
//!   out unless asked for; permissions not kept), `actions/cache` (always a
//!   miss).
//!
//! What is refused by name rather than run wrongly: matrix jobs, service
//! and job containers, reusable workflows, JavaScript and Docker actions
//! other than those above. `concurrency`, `permissions`, `runs-on` and
//! environments' protection rules have no meaning on one machine and are
//! ignored (the job's `environment` is reported).
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
    Action, Event, Job, ModelError, Step, StepAction, Workflow, read_action, read_workflow,
};
pub use runner::{Conclusion, JobReport, RunError, RunReport, Runner, StepReport};
