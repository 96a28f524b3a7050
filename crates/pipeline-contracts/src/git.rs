//! The documents `pipeline-git --json` prints. Fields are in the order the
//! documents have always had them (alphabetical).

use serde::{Deserialize, Serialize};

/// A branch read: its name, its ref and the commit it was at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchAt {
    /// The commit.
    pub commit: String,
    /// The branch.
    pub name: String,
    /// The ref it was read from (`refs/remotes/origin/develop`, …).
    #[serde(rename = "ref")]
    pub reference: String,
}

/// How many commits the release covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCounts {
    /// Those that make a release (feat, fix, perf, breaking).
    pub releasable: usize,
    /// All since the last release.
    pub total: usize,
}

/// Why the version is what it is (or why there is none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The commits since the last release.
    Commits {
        /// The bump applied.
        bump: String,
        /// The bump the commits asked for.
        requested: String,
    },
    /// `--bump` said so.
    Override {
        /// The bump or version given.
        bump: String,
    },
    /// A `Release-As:` footer said so.
    ReleaseAs {
        /// The commit with the footer.
        commit: String,
    },
    /// The next pre-release of the same version.
    ContinuesPreRelease {
        /// The pre-release tag continued.
        tag: String,
    },
    /// No commit since the last release.
    NoCommits,
    /// Commits, none of them releasable.
    NothingReleasable,
    /// A reason this version of the document does not name.
    #[serde(other)]
    Other,
}

/// `pipeline-git version --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionDoc {
    /// The integration branch read.
    pub branch: BranchAt,
    /// The commits since the last release.
    pub commits: CommitCounts,
    /// The pre-release channel asked for (`rc`).
    pub pre_release: Option<String>,
    /// The last release's tag.
    pub previous_tag: Option<String>,
    /// The last release's version.
    pub previous_version: Option<String>,
    /// Why.
    pub reason: Reason,
    /// Whether a release is due.
    pub released: bool,
    /// `pipeline-git/version/v1` (or `/changelog/v1` inside a
    /// [`ChangelogDoc`]).
    pub schema: String,
    /// The next release's tag.
    pub tag: Option<String>,
    /// The next version.
    pub version: Option<String>,
}

impl VersionDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-git/version/v1";
}

/// One entry of the release notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteEntry {
    /// The commit.
    pub commit: String,
    /// Its scope, if any.
    pub scope: Option<String>,
    /// Its description.
    pub text: String,
}

/// One section of the release notes (Features, Bug Fixes, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteSection {
    /// Its entries.
    pub entries: Vec<NoteEntry>,
    /// Its kind (`feat`, `fix`, `breaking`, …).
    pub kind: String,
    /// Its title.
    pub title: String,
}

/// `pipeline-git changelog --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangelogDoc {
    /// What `version` says, with schema `pipeline-git/changelog/v1`.
    #[serde(flatten)]
    pub version: VersionDoc,
    /// Where the notes were written.
    pub changelog_file: Option<String>,
    /// The release date.
    pub date: String,
    /// The notes in Markdown.
    pub markdown: Option<String>,
    /// The notes, by section.
    pub sections: Vec<NoteSection>,
}

impl ChangelogDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-git/changelog/v1";
}

/// The integration branch in [`SyncDoc`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedBranch {
    /// Where it is after the sync (`null` for a dry run).
    pub after: Option<String>,
    /// Where it was.
    pub before: String,
    /// The branch.
    pub name: String,
    /// The ref read.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// `pipeline-git sync --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDoc {
    /// `up_to_date`, `fast_forward` or `merge`.
    pub action: String,
    /// Whether the branch moved.
    pub changed: bool,
    /// The integration branch.
    pub develop: SyncedBranch,
    /// Whether nothing was changed on purpose.
    pub dry_run: bool,
    /// The release branch merged in.
    pub master: BranchAt,
    /// [`SyncDoc::SCHEMA`].
    pub schema: String,
}

impl SyncDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-git/sync/v1";
}

/// `pipeline-git hotfix start --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotfixStartDoc {
    /// The hotfix branch.
    pub branch: String,
    /// Its commit.
    pub commit: String,
    /// Whether it was made now.
    pub created: bool,
    /// Whether nothing was changed on purpose.
    pub dry_run: bool,
    /// [`HotfixStartDoc::SCHEMA`].
    pub schema: String,
}

impl HotfixStartDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-git/hotfix-start/v1";
}

/// A branch a release moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchPush {
    /// Where it is (or goes).
    pub after: String,
    /// What the remote held when read (the lease).
    pub expected: Option<String>,
    /// The ref.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// `pipeline-git release --json` (and `hotfix finish --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseDoc {
    /// `released`, `already_released`, `planned` or `no_release`.
    pub action: String,
    /// Where the notes were written.
    pub changelog_file: Option<String>,
    /// The commit tagged.
    pub commit: Option<String>,
    /// The integration branch.
    pub develop: Option<BranchPush>,
    /// Whether nothing was changed on purpose.
    pub dry_run: bool,
    /// The GitHub Release of the tag, with `--github-release`.
    pub github_release: Option<GithubRelease>,
    /// The release branch.
    pub master: Option<BranchPush>,
    /// The release notes (absent without a release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The last release's tag.
    pub previous_tag: Option<String>,
    /// Whether the remote holds the release.
    pub released: bool,
    /// [`ReleaseDoc::SCHEMA`].
    pub schema: String,
    /// The release's tag.
    pub tag: Option<String>,
    /// The release's version.
    pub version: Option<String>,
}

/// The GitHub Release `pipeline-git release --github-release` ensured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubRelease {
    /// `created`, `updated` or `unchanged`: what was done to it.
    pub action: String,
    /// GitHub's id of the release.
    pub id: u64,
    /// The release's page.
    pub url: String,
}

impl ReleaseDoc {
    /// The schema of this document.
    pub const SCHEMA: &'static str = "pipeline-git/release/v1";
}
