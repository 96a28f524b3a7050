//! Git flow for release pipelines: the next semantic version and its
//! release notes, from the Conventional Commits since the last release tag,
//! and the release itself, tagged and pushed with `develop` and `master` in
//! one atomic push.
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
//!   lightweight tags, a walk that stays fast on long histories and on
//!   thousands of loose tags, shallow clones detected). See the [`git`]
//!   module for how the history is read.
//! - The write side, on the same types: [`flow`] (sync, hotfix branches, the
//!   release's plan, with git2; merges computed in memory first) and the
//!   release transaction, [`Repo::release`] ([`release`]: read the remote,
//!   tag, push atomically, undo or keep), which returns a
//!   [`ReleaseOutcome`].
//! - The remote, through the git command line ([`remote`]): [`GitCli`]
//!   (credentials, retries, the compare-and-swap push whose refusals are
//!   typed [`Rejection`]s) and [`Repo::deepen`] for shallow clones.
//!
//! Every failure is a typed error naming the repository, ref or commit,
//! whose `kind()` ([`FailureKind`]) says how it counts: the step said no
//! (a conflict, the remote moved), the input is wrong, or the remote failed.
//! The crate never prints and never reads environment variables: the
//! caller passes the token and the identity in.
//!
//! # Example: the next version and its notes
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
//!
//! # Example: cutting a release
//!
//! In a CI checkout of `origin` (develop checked out and tested), tag the
//! next version and push `develop`, `master` and the tag atomically:
//!
//! ```
//! use pipeline_gitflow::{
//!     FailureKind, GitCli, Identity, Publish, ReadOptions, ReleaseOutcome, ReleaseRequest, Repo,
//!     Request, TagFormat,
//! };
//! # use std::process::Command;
//! # use std::path::Path;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let git = |at: &Path, args: &[&str]| -> Result<String, Box<dyn std::error::Error>> {
//! #     let out = Command::new("git").args(args).current_dir(at)
//! #         .env("GIT_AUTHOR_NAME", "A").env("GIT_AUTHOR_EMAIL", "a@example.com")
//! #         .env("GIT_COMMITTER_NAME", "A").env("GIT_COMMITTER_EMAIL", "a@example.com")
//! #         .env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null")
//! #         .env_remove("GIT_DIR").env_remove("GIT_WORK_TREE").output()?;
//! #     assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
//! #     Ok(String::from_utf8(out.stdout)?.trim().to_owned())
//! # };
//! # let (remote, checkout) = (dir.path().join("remote.git"), dir.path().join("ci"));
//! # git(dir.path(), &["init", "-q", "--bare", "-b", "develop", "remote.git"])?;
//! # git(dir.path(), &["clone", "-q", "remote.git", "ci"])?;
//! # git(&checkout, &["commit", "-q", "--allow-empty", "-m", "chore: init"])?;
//! # git(&checkout, &["tag", "-a", "v1.2.0", "-m", "v1.2.0"])?;
//! # git(&checkout, &["push", "-q", "origin", "develop", "develop:master", "--tags"])?;
//! # git(&checkout, &["commit", "-q", "--allow-empty", "-m", "fix: crash on start"])?;
//! # git(&checkout, &["push", "-q", "origin", "develop"])?;
//! let repo = Repo::open(&checkout)?;
//! // The remote as `git push` reaches it; a token would go in the third argument.
//! let origin = GitCli::for_remote(&repo, "origin", None)?;
//! let request = ReleaseRequest::new(Request::new(TagFormat::new("v")), "2026-11-26".parse()?);
//! let publish = Publish::default().identity(Identity::new("Release Bot", "bot@example.com"));
//!
//! match repo.release(&origin, &ReadOptions::default(), &request, &publish) {
//!     Ok(ReleaseOutcome::Released(released)) => {
//!         assert_eq!(released.plan().tag(), "v1.2.1");
//!         assert!(released.plan().notes().unwrap().contains("crash on start"));
//!     }
//!     Ok(ReleaseOutcome::NothingToRelease { .. }) => println!("no release"),
//!     Ok(other) => println!("{other:?}"),
//!     // Another pipeline pushed meanwhile: nothing was pushed, nothing stays.
//!     Err(e) if e.kind() == FailureKind::Refused => return Err(e.into()),
//!     Err(e) => return Err(e.into()),
//! }
//! # assert_eq!(git(&remote, &["rev-parse", "v1.2.1^{commit}"])?, git(&remote, &["rev-parse", "master"])?);
//!
//! // A re-run finds the work done.
//! let again = repo.release(&origin, &ReadOptions::default(), &request, &publish)?;
//! assert!(matches!(again, ReleaseOutcome::AlreadyReleased(_)));
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
mod pack;
pub mod plan;
pub mod release;
pub mod remote;
mod tags;
mod version;

pub use changelog::{Entry, ReleaseNotes, Section, SectionKind};
pub use conventional::{CommitType, ConventionalCommit, Footer, NotConventional, Separator};
pub use date::{Date, InvalidDate, parse_rfc3339, rfc3339};
pub use flow::{
    AfterFailedPush, BranchUpdate, Deepened, FlowError, Identity, Integration, MergeMode,
    ReleaseDecision, ReleasePlan, ReleaseRequest, SyncPlan, Target,
};
pub use git::{FailureKind, GitError, HistoryError, ReadOptions, Repo};
pub use history::{BranchTip, Commit, CommitId, History, Tag};
pub use plan::{Change, ChangeKind, NoRelease, Plan, PlanError, Reason, Release, Request, plan};
pub use release::{Publish, ReleaseOutcome, Released};
pub use remote::{GitCli, PushRef, PushReport, RefStatus, Rejection, RemoteError, Retry};
pub use version::{
    Bump, BumpOverride, InvalidChannel, InvalidVersion, PreRelease, TagFormat, Version,
    parse_release_version,
};

impl From<FailureKind> for pipeline_ci::Exit {
    fn from(kind: FailureKind) -> Self {
        match kind {
            FailureKind::Refused => pipeline_ci::Exit::Refused,
            FailureKind::Input => pipeline_ci::Exit::Usage,
            FailureKind::External => pipeline_ci::Exit::External,
        }
    }
}

macro_rules! classified_by_kind {
    ($($t:ty),*) => {$(
        impl pipeline_ci::Classified for $t {
            fn exit(&self) -> pipeline_ci::Exit {
                self.kind().into()
            }
        }
    )*};
}
classified_by_kind!(FlowError, HistoryError, PlanError, RemoteError);

/// The environment variables holding the token sent to HTTPS remotes
/// (`GIT_TOKEN`, else `GITHUB_TOKEN`): a binary masks and redacts them.
pub const SECRET_VARS: &[&str] = &["GIT_TOKEN", "GITHUB_TOKEN"];

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
