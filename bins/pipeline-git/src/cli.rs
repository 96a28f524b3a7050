//! The command line's definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pipeline_gitflow::{
    BumpOverride, Date, MergeMode, PreRelease, ReadOptions, Request, Retry, TagFormat,
};

/// The exit codes, as a literal so that `concat!` can put them after each
/// command's examples.
macro_rules! exit_codes {
    () => {
        "Exit codes: 0 success, including \"no release\" and a re-run that finds the work done; \
1 the step said no (a merge conflict, the remote moved since it was fetched, a tag that exists \
at another commit, branches that diverged); \
2 usage, configuration or input error (bad flag, no repository, no such remote, branch not \
found, shallow clone, a version not newer than the last release, local changes in the way, \
--github-release without GITHUB_TOKEN or a repository, or with a token GitHub refuses); \
3 an external system failed after retries (the git remote: network, credentials, no atomic push; GitHub, for --github-release)."
    };
}

const TOP_HELP: &str = concat!(
    "Examples:
  pipeline-git sync                 # merge origin/master into develop
  pipeline-git version              # the next version the commits call for
  pipeline-git release              # tag it, bring master to it, push atomically
  pipeline-git hotfix start crash   # a hotfix branch from master

",
    exit_codes!()
);

const VERSION_HELP: &str = concat!(
    "Examples:
  pipeline-git version                   # 1.4.0, or nothing when no release is due
  pipeline-git version --json            # with the previous tag, the reason and the counts
  pipeline-git version --pre rc          # 1.4.0-rc.1, then rc.2 once that is tagged
  pipeline-git version --bump major      # whatever the commits say
  pipeline-git version --unshallow       # in a shallow CI checkout (fetch-depth: 1)

",
    exit_codes!()
);

const CHANGELOG_HELP: &str = concat!(
    "Examples:
  pipeline-git changelog                               # Markdown on stdout, dated today (UTC)
  pipeline-git changelog --date 2026-11-26 --output RELEASE_NOTES.md
  pipeline-git changelog --json                        # the notes and their sections as JSON

",
    exit_codes!()
);

const SYNC_HELP: &str = concat!(
    "Examples:
  pipeline-git sync                  # merge origin/master into develop, check develop out
  pipeline-git sync --dry-run        # say what it would do
  pipeline-git sync --unshallow      # in a shallow CI checkout

",
    exit_codes!()
);

const RELEASE_HELP: &str = concat!(
    "Examples:
  pipeline-git release                            # tag HEAD, push develop, master and the tag
  pipeline-git release --dry-run                  # read the remote, say what would be pushed
  pipeline-git release --commit \"$GITHUB_SHA\" --changelog-file notes.md
  GITHUB_TOKEN=... pipeline-git release --json    # an https remote, the result as JSON
  GITHUB_TOKEN=... pipeline-git release --github-release --github-repository octo-org/shop

",
    exit_codes!()
);

const HOTFIX_START_HELP: &str = concat!(
    "Examples:
  pipeline-git hotfix start crash       # hotfix/crash from origin/master, checked out

",
    exit_codes!()
);

const HOTFIX_FINISH_HELP: &str = concat!(
    "Examples:
  pipeline-git hotfix finish            # the hotfix/NAME branch checked out
  pipeline-git hotfix finish crash      # tag v1.3.1, bring master to it, merge it into develop

",
    exit_codes!()
);

/// Git flow steps of a release pipeline: merge master into develop, the next
/// version and its release notes, the release tagged and pushed atomically,
/// hotfixes.
#[derive(Debug, Parser)]
#[command(name = "pipeline-git", version, after_help = TOP_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) verbosity: pipeline_cli::Verbosity,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the next version: the newest release tag reachable from the
    /// develop branch, bumped by the Conventional Commits since it.
    ///
    /// Prints the version alone on stdout (nothing when no release is due)
    /// and why on stderr. Without any release tag, versions start from
    /// 0.0.0: the first `feat` gives 0.1.0.
    #[command(after_help = VERSION_HELP)]
    Version(VersionArgs),
    /// Print the release notes of the next version as Markdown (Keep a
    /// Changelog style), grouped by type, breaking changes first.
    #[command(after_help = CHANGELOG_HELP)]
    Changelog(ChangelogArgs),
    /// Merge the main branch into develop (fast-forward when possible, else
    /// a merge commit) and check the result out, so the tests run on what
    /// will be released.
    ///
    /// Both branches are read from the remote's refs (a local develop ahead
    /// of the remote's, from an earlier sync, is built on). The merge is
    /// computed in memory first: on a conflict nothing changes and the
    /// paths are listed (exit 1). Prints develop's new commit on stdout.
    #[command(after_help = SYNC_HELP)]
    Sync(SyncArgs),
    /// Tag the tested commit (HEAD or --commit) with the next version and
    /// its release notes, bring master to it, and push develop, master and
    /// the tag atomically, only if the remote's branches are still what was
    /// fetched.
    ///
    /// Uses `git push --atomic` with `--force-with-lease` for each ref: all
    /// three refs move or none does. A remote that does not support atomic
    /// pushes is refused (exit 3), never pushed ref by ref. A re-run after
    /// success reports the existing release; after a failure part-way it
    /// finishes the job. Credentials: GIT_TOKEN or GITHUB_TOKEN for https
    /// remotes (sent as a header through git's environment, never on a
    /// command line or in output), else the SSH agent and git's credential
    /// helpers. Prints the tag on stdout.
    #[command(after_help = RELEASE_HELP)]
    Release(ReleaseArgs),
    /// The hotfix branches of git flow.
    #[command(subcommand)]
    Hotfix(HotfixCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum HotfixCommand {
    /// Create the branch hotfix/NAME at the main branch (read from the
    /// remote's refs) and check it out; an existing one is checked out.
    #[command(after_help = HOTFIX_START_HELP)]
    Start(HotfixStartArgs),
    /// Tag a patch release on the hotfix branch's tip, bring master to it
    /// and merge it into develop, and push develop, master and the tag
    /// atomically, as `release` does.
    #[command(after_help = HOTFIX_FINISH_HELP)]
    Finish(HotfixFinishArgs),
}

/// What every command that may change something takes.
#[derive(Debug, Args)]
pub(crate) struct FlowArgs {
    /// Print the plan and change nothing (no ref, tag, file or push).
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Deepen a shallow clone first (`git fetch --unshallow --tags <REMOTE>`).
    #[arg(long)]
    pub(crate) unshallow: bool,
    /// Attempts for a git command that fails on the network.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 4,
        env = "PIPELINE_GIT_ATTEMPTS"
    )]
    pub(crate) attempts: u32,
    /// The first wait between attempts, doubling each time.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 1000,
        env = "PIPELINE_GIT_RETRY_DELAY_MS"
    )]
    pub(crate) retry_delay_ms: u64,
}

/// How master is brought to the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MergeArg {
    /// Move master to the release (it must be contained: run sync first).
    Ff,
    /// A merge commit of the release into master.
    NoFf,
}

impl From<MergeArg> for MergeMode {
    fn from(arg: MergeArg) -> Self {
        match arg {
            MergeArg::Ff => MergeMode::FastForward,
            MergeArg::NoFf => MergeMode::NoFastForward,
        }
    }
}

impl FlowArgs {
    /// How network failures are retried.
    pub(crate) fn retry(&self) -> Retry {
        Retry::new(
            self.attempts,
            std::time::Duration::from_millis(self.retry_delay_ms),
        )
    }
}

impl RepoArgs {
    /// Where and how the history is read.
    pub(crate) fn read_options(&self) -> ReadOptions {
        ReadOptions::default()
            .remote(self.remote.clone())
            .develop_branch(self.develop_branch.clone())
            .main_branch(self.main_branch.clone())
            .tag_format(self.tag_format())
    }

    pub(crate) fn tag_format(&self) -> TagFormat {
        TagFormat::new(self.tag_prefix.clone())
    }

    /// What the version is asked to be.
    pub(crate) fn request(&self, plan: &PlanArgs) -> Request {
        let mut request = Request::new(self.tag_format());
        if let Some(bump) = &plan.bump {
            request = request.bump(bump.clone());
        }
        if let Some(pre) = &plan.pre {
            request = request.pre_release(pre.clone());
        }
        request
    }
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
    /// Print one JSON document on stdout (schema pipeline-git/sync/v1).
    #[arg(long)]
    pub(crate) json: bool,
}

/// What release and hotfix finish share.
#[derive(Debug, Args)]
pub(crate) struct TagArgs {
    /// How master is brought to the release.
    #[arg(long, value_enum, default_value = "ff")]
    pub(crate) merge: MergeArg,
    /// The release date in the notes' heading [default: today, UTC].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) date: Option<Date>,
    /// Also write the release notes to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) changelog_file: Option<PathBuf>,
    /// Print one JSON document on stdout (schema pipeline-git/release/v1).
    #[arg(long)]
    pub(crate) json: bool,
    /// Also make the GitHub Release of the tag, its notes the tag's, once
    /// the remote holds the tag: created, or an existing one (a draft
    /// included) found and left alone or brought up to date; never two.
    /// Needs GITHUB_TOKEN (`contents: write`), the repository from
    /// --github-repository or GITHUB_REPOSITORY, and GITHUB_API_URL on
    /// GitHub Enterprise Server.
    #[arg(long)]
    pub(crate) github_release: bool,
    /// The repository the GitHub Release is made in [default:
    /// GITHUB_REPOSITORY].
    #[arg(long, value_name = "OWNER/NAME")]
    pub(crate) github_repository: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ReleaseArgs {
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    #[command(flatten)]
    pub(crate) plan: PlanArgs,
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
    #[command(flatten)]
    pub(crate) tag: TagArgs,
    /// The tested commit to release [default: HEAD]. Never a newer one:
    /// whatever reached the remote meanwhile is not released.
    #[arg(long, value_name = "REV")]
    pub(crate) commit: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct HotfixStartArgs {
    /// The hotfix's name: the branch is hotfix/NAME.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
    /// Print one JSON document on stdout (schema pipeline-git/hotfix-start/v1).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HotfixFinishArgs {
    /// The hotfix's name [default: the hotfix/NAME branch checked out].
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
    #[command(flatten)]
    pub(crate) tag: TagArgs,
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
    /// The branch releases are brought to (not read by version or changelog;
    /// read from the remote's refs by sync, release and hotfix).
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
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
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
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
    /// Print one JSON document on stdout (schema pipeline-git/changelog/v1),
    /// the notes in its `markdown` field.
    #[arg(long)]
    pub(crate) json: bool,
}
