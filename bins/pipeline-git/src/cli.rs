//! The command line's definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use pipeline_gitflow::{BumpOverride, Date, PreRelease};

pub(crate) const EXIT_CODES: &str = "Exit codes: 0 success, including \"no release\"; \
1 the step said no (the next version's tag already exists on a commit the branch does not reach); \
2 usage, configuration or input error (bad flag, no repository, branch not found, shallow clone, \
a version not newer than the last release); \
3 an external system failed (not used by these commands: they read only the local repository).";

/// Git flow steps of a release pipeline: the next version and its release notes.
#[derive(Debug, Parser)]
#[command(name = "pipeline-git", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// More log output on stderr (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the next version: the newest release tag reachable from the
    /// develop branch, bumped by the Conventional Commits since it.
    ///
    /// Prints the version alone on stdout (nothing when no release is due)
    /// and why on stderr. Without any release tag, versions start from
    /// 0.0.0: the first `feat` gives 0.1.0.
    #[command(after_help = EXIT_CODES)]
    Version(VersionArgs),
    /// Print the release notes of the next version as Markdown (Keep a
    /// Changelog style), grouped by type, breaking changes first.
    #[command(after_help = EXIT_CODES)]
    Changelog(ChangelogArgs),
}

/// Which repository, remote, branches and tags.
#[derive(Debug, Args)]
pub(crate) struct RepoArgs {
    /// The repository (or a directory inside it).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) repo: PathBuf,
    /// The remote whose refs are read first (`refs/remotes/<REMOTE>/<branch>`;
    /// local branches only when it has none).
    #[arg(
        long,
        value_name = "REMOTE",
        default_value = "origin",
        env = "PIPELINE_GIT_REMOTE"
    )]
    pub(crate) remote: String,
    /// The branch releases are cut from.
    #[arg(
        long,
        value_name = "BRANCH",
        default_value = "develop",
        env = "PIPELINE_GIT_DEVELOP_BRANCH"
    )]
    pub(crate) develop_branch: String,
    /// The branch releases are brought to (not read by version or changelog).
    #[arg(
        long,
        value_name = "BRANCH",
        default_value = "master",
        env = "PIPELINE_GIT_MAIN_BRANCH"
    )]
    pub(crate) main_branch: String,
    /// Release tags are this prefix and a semantic version (may be empty).
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "v",
        env = "PIPELINE_GIT_TAG_PREFIX"
    )]
    pub(crate) tag_prefix: String,
}

/// What to release.
#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Override what the commits ask for: major, minor, patch, or an exact
    /// version X.Y.Z (which must be newer than the last release). Wins over
    /// a `Release-As:` footer.
    #[arg(long, value_name = "major|minor|patch|X.Y.Z")]
    pub(crate) bump: Option<BumpOverride>,
    /// Make a pre-release on this channel: `--pre rc` gives X.Y.Z-rc.1, then
    /// rc.2 once X.Y.Z-rc.1 is tagged.
    #[arg(long, value_name = "CHANNEL")]
    pub(crate) pre: Option<PreRelease>,
}

#[derive(Debug, Args)]
pub(crate) struct VersionArgs {
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    #[command(flatten)]
    pub(crate) plan: PlanArgs,
    /// Print one JSON document on stdout (schema pipeline-git/version/v1).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ChangelogArgs {
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    #[command(flatten)]
    pub(crate) plan: PlanArgs,
    /// The release date in the heading [default: today, UTC].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) date: Option<Date>,
    /// Write the notes to this file instead of stdout (nothing is written
    /// when no release is due).
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Print one JSON document on stdout (schema pipeline-git/changelog/v1),
    /// the notes in its `markdown` field.
    #[arg(long)]
    pub(crate) json: bool,
}
