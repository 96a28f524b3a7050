//! The CI system's conventions shared by every pipeline binary.
//!
//! GitHub Actions first, plain behaviour everywhere else:
//!
//! - [`Env`]: a snapshot of the environment, taken by the binary and passed
//!   in (this crate never reads environment variables itself), with the
//!   questions binaries ask of it ([`Env::is_github_actions`],
//!   [`Env::is_ci`], [`use_color`]).
//! - [`CiSink`] / [`GitHub`]: step outputs (`GITHUB_OUTPUT`) and the job
//!   summary (`GITHUB_STEP_SUMMARY`), with the record format, delimiter and
//!   size limit GitHub expects; outside Actions, writes do nothing.
//! - Workflow commands rendered as strings for the binary to print on
//!   stdout: [`annotation`], [`add_mask`], [`group_start`], [`group_end`],
//!   escaped exactly as `@actions/core` escapes them, and
//!   [`cap_annotations`] for GitHub's per-step display limit.
//! - [`Secret`], whose `Debug` and `Display` print `***`, and [`redact`].
//! - [`Exit`], the exit codes every step shares, and [`Classified`], the
//!   errors that know theirs.
//!
//! The crate never prints, never panics and has no dependency beyond std
//! and `thiserror`.
//!
//! # Example
//!
//! ```
//! use pipeline_ci::{
//!     add_mask, annotation, group_end, group_start, Annotation, CiSink, Env, Level, Secret,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let outputs = dir.path().join("output");
//! # let summary = dir.path().join("summary");
//! // A binary would pass `std::env::vars()`.
//! let env = Env::from_vars([
//!     ("GITHUB_ACTIONS", "true".to_owned()),
//!     ("GITHUB_OUTPUT", outputs.display().to_string()),
//!     ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
//! ]);
//!
//! let token = Secret::new("ghp_example");
//! let mut stdout = Vec::new(); // a binary would lock `std::io::stdout()`
//! if env.is_github_actions() {
//!     stdout.push(add_mask(&token));
//!     stdout.push(group_start("Lint"));
//!     let finding = Annotation::new("unused import")
//!         .with_file("src/a.py")
//!         .with_line(3)
//!         .with_title("W0611");
//!     stdout.push(annotation(Level::Warning, &finding));
//!     stdout.push(group_end());
//! }
//! assert_eq!(stdout[2], "::warning file=src/a.py,line=3,title=W0611::unused import");
//!
//! let sink = CiSink::from_env(&env);
//! sink.set_output("version", "1.2.3")?;
//! sink.set_output("notes", "line one\nline two")?;
//! sink.append_summary("## Lint\n\n1 warning\n")?;
//!
//! let written = std::fs::read_to_string(&outputs)?;
//! assert!(written.starts_with("version=1.2.3\nnotes<<ghadelimiter_"));
//! assert_eq!(std::fs::read_to_string(&summary)?, "## Lint\n\n1 warning\n");
//! # Ok(())
//! # }
//! ```
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod command;
mod env;
mod exit;
mod files;
mod names;
mod secret;

pub use command::{
    ANNOTATION_LIMIT_PER_JOB, ANNOTATION_LIMIT_PER_STEP, Annotation, CappedAnnotations,
    DroppedAnnotations, Level, add_mask, annotation, cap_annotations, escape_data, escape_property,
    group_end, group_start, neutralize_commands,
};
pub use env::{Env, use_color};
pub use exit::{Classified, Exit};
pub use files::{CiSink, GitHub, OutputError, SUMMARY_LIMIT, SummaryError, read_outputs};
pub use names::valid_env_name;
pub use secret::{Secret, redact};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
