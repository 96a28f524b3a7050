//! What the planners need to know about a repository, as plain values: the
//! branch tip, the release tags, and the commits since the last release.
//!
//! [`crate::git`] reads these from a repository; tests and other callers
//! may build them by hand.

use std::fmt;

use semver::Version;

/// A commit id in hexadecimal, as git prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(String);

impl CommitId {
    /// Wraps a hexadecimal id (not checked).
    pub fn new(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The whole id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first seven characters, as `git log --oneline` shows them.
    pub fn short(&self) -> &str {
        self.0.get(..7).unwrap_or(&self.0)
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A commit on the way from the last release to the branch tip.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Commit {
    id: CommitId,
    message: String,
    parent_count: usize,
}

impl Commit {
    /// A commit with its full message and its number of parents.
    pub fn new(id: CommitId, message: impl Into<String>, parent_count: usize) -> Self {
        Self {
            id,
            message: message.into(),
            parent_count,
        }
    }

    /// The id.
    pub fn id(&self) -> &CommitId {
        &self.id
    }

    /// The full message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How many parents it has.
    pub fn parent_count(&self) -> usize {
        self.parent_count
    }

    /// Whether it is a merge (two parents or more). Merges are never
    /// releasable on their own: the commits they bring in are.
    pub fn is_merge(&self) -> bool {
        self.parent_count > 1
    }
}

/// A release tag: a name that is the tag prefix and a semantic version, and
/// the commit it points at (annotated tags peeled).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag {
    name: String,
    version: Version,
    commit: CommitId,
}

impl Tag {
    /// A tag `name` (without `refs/tags/`) carrying `version`, on `commit`.
    pub fn new(name: impl Into<String>, version: Version, commit: CommitId) -> Self {
        Self {
            name: name.into(),
            version,
            commit,
        }
    }

    /// The name, without `refs/tags/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The commit.
    pub fn commit(&self) -> &CommitId {
        &self.commit
    }

    /// Whether it is a final release (no pre-release part).
    pub fn is_final(&self) -> bool {
        self.version.pre.is_empty()
    }
}

/// The branch a release is computed from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BranchTip {
    name: String,
    reference: String,
    commit: CommitId,
}

impl BranchTip {
    /// Branch `name`, read from `reference`, at `commit`.
    pub fn new(name: impl Into<String>, reference: impl Into<String>, commit: CommitId) -> Self {
        Self {
            name: name.into(),
            reference: reference.into(),
            commit,
        }
    }

    /// The branch name (`develop`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The reference it was read from (`refs/remotes/origin/develop`).
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The commit at its tip.
    pub fn commit(&self) -> &CommitId {
        &self.commit
    }
}

/// The history since the last release, as the planners see it.
///
/// - `base`: the newest final release tag reachable from the tip (`None`
///   when there is none: versions then start from `0.0.0`).
/// - `commits`: every commit reachable from the tip and from no final
///   release tag, newest first. With one line of history that is
///   `git log <base>..<tip>`; when a hotfix tag was merged in, its commits
///   are not counted again.
/// - `pre_releases`: pre-release tags reachable from the tip.
/// - `tags`: every release tag of the repository, reachable or not (to
///   number pre-releases and to refuse a version whose tag exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    tip: BranchTip,
    base: Option<Tag>,
    commits: Vec<Commit>,
    pre_releases: Vec<Tag>,
    tags: Vec<Tag>,
}

impl History {
    /// The history from `base` (if any) to `tip`; see the type's docs.
    pub fn new(tip: BranchTip, base: Option<Tag>, commits: Vec<Commit>) -> Self {
        Self {
            tip,
            base,
            commits,
            pre_releases: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// Adds the reachable pre-release tags.
    #[must_use]
    pub fn with_pre_releases(mut self, pre_releases: Vec<Tag>) -> Self {
        self.pre_releases = pre_releases;
        self
    }

    /// Adds every release tag of the repository.
    #[must_use]
    pub fn with_tags(mut self, tags: Vec<Tag>) -> Self {
        self.tags = tags;
        self
    }

    /// The branch tip.
    pub fn tip(&self) -> &BranchTip {
        &self.tip
    }

    /// The newest final release tag reachable from the tip.
    pub fn base(&self) -> Option<&Tag> {
        self.base.as_ref()
    }

    /// The commits since the base, newest first.
    pub fn commits(&self) -> &[Commit] {
        &self.commits
    }

    /// The pre-release tags reachable from the tip.
    pub fn pre_releases(&self) -> &[Tag] {
        &self.pre_releases
    }

    /// Every release tag of the repository.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids() {
        assert_eq!(CommitId::new("0123456789abcdef").short(), "0123456");
        assert_eq!(CommitId::new("abc").short(), "abc");
    }

    #[test]
    fn merges_and_finals() {
        assert!(Commit::new(CommitId::new("a"), "Merge", 2).is_merge());
        assert!(!Commit::new(CommitId::new("a"), "feat: x", 1).is_merge());
        assert!(!Commit::new(CommitId::new("a"), "feat: x", 0).is_merge());
        let rc = Tag::new(
            "v1.0.0-rc.1",
            Version::parse("1.0.0-rc.1").unwrap(),
            CommitId::new("a"),
        );
        assert!(!rc.is_final());
        assert!(Tag::new("v1.0.0", Version::new(1, 0, 0), CommitId::new("a")).is_final());
    }
}
