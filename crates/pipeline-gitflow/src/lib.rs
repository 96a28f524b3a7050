//! Git flow for release pipelines: what the next version is, and its
//! release notes, from the Conventional Commits since the last release tag.
//!
//! The crate keeps planning apart from I/O:
//!
//! - Pure data and planning, no I/O: [`ConventionalCommit`] (the Conventional
//!   Commits 1.0.0 parser), versions and tags ([`Version`], [`TagFormat`],
//!   [`Bump`], [`BumpOverride`], [`PreRelease`]), the [`History`] since the
//!   last release, [`plan()`] (the next version and why, or why there is
//!   none) and [`ReleaseNotes`] (the Markdown changelog).
//! - Reading a [`History`] from a repository with git2: [`Repo`] and
//!   [`ReadOptions`] (branches from the remote's refs first, annotated and
//!   lightweight tags, a walk that stays fast on long histories, shallow
//!   clones detected). See the [`git`] module for how the history is read.
//!
//! - The write side, on the same types: [`flow`] (sync, the release's tag
//!   and branches, hotfixes, with git2; merges computed in memory first)
//!   and [`remote`] (fetch, `ls-remote` and the atomic compare-and-swap
//!   push, through the git command line, with credentials and retries).
//!
//! The crate never prints and never reads environment variables: the
//! caller passes the token and the identity in.
//!
//! # Example
//!
//! ```
//! use pipeline_gitflow::{plan, ReadOptions, ReleaseNotes, Repo, Request, TagFormat};
//! # use std::process::Command;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let git = |args: &[&str]| -> Result<(), Box<dyn std::error::Error>> {
//! #     let status = Command::new("git").args(args).current_dir(dir.path())
//! #         .env("GIT_AUTHOR_NAME", "A").env("GIT_AUTHOR_EMAIL", "a@example.com")
//! #         .env("GIT_COMMITTER_NAME", "A").env("GIT_COMMITTER_EMAIL", "a@example.com")
//! #         .env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null")
//! #         .env_remove("GIT_DIR").env_remove("GIT_WORK_TREE").status()?;
//! #     assert!(status.success());
//! #     Ok(())
//! # };
//! # git(&["init", "-q", "-b", "develop"])?;
//! # git(&["commit", "-q", "--allow-empty", "-m", "chore: init"])?;
//! # git(&["tag", "v1.2.0"])?;
//! # git(&["commit", "-q", "--allow-empty", "-m", "feat(api): list releases"])?;
//! # let path = dir.path();
//! // A repository whose develop has `feat(api): list releases` since v1.2.0.
//! let repo = Repo::open(path)?;
//! let history = repo.history(&ReadOptions::default())?;
//! let plan = plan(&history, &Request::new(TagFormat::new("v")))?;
//! let release = plan.release().expect("a feature is releasable");
//! assert_eq!(release.tag(), "v1.3.0");
//! assert_eq!(plan.previous().map(|tag| tag.name()), Some("v1.2.0"));
//!
//! let notes = ReleaseNotes::new(&plan, "2026-11-26".parse()?).expect("a release");
//! assert!(notes.to_markdown().starts_with("## [1.3.0] - 2026-11-26\n\n### Features\n\n- **api:** list releases ("));
//! # Ok(())
//! # }
//! ```
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod changelog;
pub mod conventional;
mod date;
pub mod diff;
pub mod flow;
pub mod git;
mod history;
pub mod plan;
pub mod remote;
mod version;

pub use changelog::{Entry, ReleaseNotes, Section, SectionKind};
pub use conventional::{CommitType, ConventionalCommit, Footer, NotConventional, Separator};
pub use date::{Date, InvalidDate, parse_rfc3339, rfc3339};
pub use flow::{
    Applied, BranchUpdate, FlowError, Identity, Integration, MergeMode, ReleaseDecision,
    ReleasePlan, ReleaseRequest, RemoteState, SyncPlan, Target, remote_state,
};
pub use git::{HistoryError, ReadOptions, Repo};
pub use history::{BranchTip, Commit, CommitId, History, Tag};
pub use plan::{Change, ChangeKind, NoRelease, Plan, PlanError, Reason, Release, Request, plan};
pub use remote::{GitCli, PushCheck, PushRef, PushReport, RefStatus, RemoteError, Retry};
pub use version::{
    Bump, BumpOverride, InvalidChannel, InvalidVersion, PreRelease, TagFormat, Version,
    parse_release_version,
};
