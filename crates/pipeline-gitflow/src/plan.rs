//! The next version: pure planning over a [`History`].
//!
//! The rules, in order:
//!
//! 1. No commit since the base tag: no release.
//! 2. The version to release is, by precedence: `--bump` (a part or an
//!    exact `X.Y.Z`); else the newest commit's `Release-As: X.Y.Z` footer;
//!    else the largest bump the commits ask for — a breaking change (`!` or
//!    a `BREAKING CHANGE:`/`BREAKING-CHANGE:` footer) major, `feat` minor,
//!    `fix` and `perf` patch. While the major version is 0 a breaking change
//!    bumps the minor (`0.3.1` → `0.4.0`); an explicit `--bump major` still
//!    gives `1.0.0`. Merge commits and messages that are not Conventional
//!    Commits ask for nothing; when no commit asks for anything there is no
//!    release.
//! 3. The base is the newest *final* release tag, so pre-releases never
//!    change what the commits ask for: after `1.3.0-rc.1` and `1.3.0-rc.2`
//!    the final release is still `1.3.0`. When a reachable pre-release is
//!    already past the bumped version (a `--bump major --pre rc` earlier),
//!    the release continues that pre-release's version.
//! 4. With a pre-release channel (`--pre rc`) the version is
//!    `X.Y.Z-rc.N`, `N` one more than the highest `X.Y.Z-rc.N` tag in the
//!    repository (reachable or not: tag names are global), starting at 1.
//! 5. The new version must be newer than every reachable release tag, and
//!    its tag must not exist yet; otherwise it is an error naming both.
//!
//! No tag at all counts as `0.0.0`: the first `feat` gives `0.1.0`, the
//! first `fix` `0.0.1`, and `--bump 1.0.0` (or `Release-As: 1.0.0`) starts
//! at 1.0.0.

use semver::Version;

use crate::conventional::{CommitType, ConventionalCommit, NotConventional};
use crate::git::FailureKind;
use crate::history::{CommitId, History, Tag};
use crate::version::{Bump, BumpOverride, PreRelease, TagFormat, core, parse_release_version};

/// What the caller asks of the planner beyond the history: overrides and
/// the pre-release channel.
///
/// ```
/// use pipeline_gitflow::{Bump, BumpOverride, Request, TagFormat};
///
/// let request = Request::new(TagFormat::new("v"))
///     .bump(BumpOverride::Bump(Bump::Minor))
///     .pre_release("rc".parse()?);
/// assert_eq!(request.tag_format().prefix(), "v");
/// # Ok::<(), pipeline_gitflow::InvalidChannel>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    format: TagFormat,
    bump: Option<BumpOverride>,
    pre: Option<PreRelease>,
}

impl Request {
    /// Tags named with `format`, versions from the commits.
    pub fn new(format: TagFormat) -> Self {
        Self {
            format,
            bump: None,
            pre: None,
        }
    }

    /// Overrides what the commits ask for.
    #[must_use]
    pub fn bump(mut self, bump: BumpOverride) -> Self {
        self.bump = Some(bump);
        self
    }

    /// Makes a pre-release on `channel`.
    #[must_use]
    pub fn pre_release(mut self, channel: PreRelease) -> Self {
        self.pre = Some(channel);
        self
    }

    /// The tag format.
    pub fn tag_format(&self) -> &TagFormat {
        &self.format
    }

    /// The override, if any.
    pub fn bump_override(&self) -> Option<&BumpOverride> {
        self.bump.as_ref()
    }

    /// The pre-release channel, if any.
    pub fn pre_release_channel(&self) -> Option<&PreRelease> {
        self.pre.as_ref()
    }
}

/// One commit since the base, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    id: CommitId,
    kind: ChangeKind,
}

/// What a commit is to the planner.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// A Conventional Commit.
    Conventional(Box<ConventionalCommit>),
    /// A merge commit (not releasable whatever its message).
    Merge,
    /// A message that is not a Conventional Commit (not releasable).
    Other(NotConventional),
}

impl Change {
    /// The commit.
    pub fn id(&self) -> &CommitId {
        &self.id
    }

    /// The classification.
    pub fn kind(&self) -> &ChangeKind {
        &self.kind
    }

    /// The parsed message, for a Conventional Commit that is not a merge.
    pub fn conventional(&self) -> Option<&ConventionalCommit> {
        match &self.kind {
            ChangeKind::Conventional(commit) => Some(commit),
            _ => None,
        }
    }

    /// The bump this commit asks for (before the `0.x` rule).
    pub fn bump(&self) -> Option<Bump> {
        self.conventional().and_then(commit_bump)
    }
}

/// The bump a Conventional Commit asks for: breaking → major, `feat` →
/// minor, `fix`/`perf` → patch, anything else → none.
pub fn commit_bump(commit: &ConventionalCommit) -> Option<Bump> {
    if commit.is_breaking() {
        return Some(Bump::Major);
    }
    match commit.commit_type() {
        CommitType::Feat => Some(Bump::Minor),
        CommitType::Fix | CommitType::Perf => Some(Bump::Patch),
        _ => None,
    }
}

/// Why the version is what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The commits asked for `requested`; `applied` is what was bumped after
    /// the `0.x` rule.
    Commits {
        /// The largest bump a commit asked for.
        requested: Bump,
        /// The bump applied.
        applied: Bump,
    },
    /// `--bump` said so.
    Override(BumpOverride),
    /// A `Release-As:` footer of this commit said so.
    ReleaseAs(CommitId),
    /// A reachable pre-release was already past the bumped version; the
    /// release continues it.
    ContinuesPreRelease(String),
}

/// Why there is no release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoRelease {
    /// No commit since the base tag.
    NoCommits,
    /// Commits, but none asks for a release (only `chore`, `docs`, merges,
    /// non-conventional messages…).
    NothingReleasable,
}

/// The outcome: the release to make, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    previous: Option<Tag>,
    release: Result<Release, NoRelease>,
    changes: Vec<Change>,
}

/// A release to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    version: Version,
    tag: String,
    reason: Reason,
}

impl Release {
    /// The version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The tag to create.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Why this version.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }
}

impl Plan {
    /// The base tag (the newest final release reachable from the tip).
    pub fn previous(&self) -> Option<&Tag> {
        self.previous.as_ref()
    }

    /// The version the base stands for: its version, or `0.0.0` without one.
    pub fn previous_version(&self) -> Version {
        self.previous
            .as_ref()
            .map_or_else(|| Version::new(0, 0, 0), |tag| tag.version().clone())
    }

    /// The release, or why there is none.
    pub fn release(&self) -> Result<&Release, NoRelease> {
        self.release.as_ref().map_err(|reason| *reason)
    }

    /// Every commit since the base, classified, newest first.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// How many commits ask for a release.
    pub fn releasable_count(&self) -> usize {
        self.changes.iter().filter(|c| c.bump().is_some()).count()
    }
}

/// A plan that cannot be made: the request contradicts the history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// `--bump X.Y.Z`, `Release-As:` or a pre-release channel gives a
    /// version that is not newer than an existing reachable release.
    #[error("{what} {requested} is not newer than the release {existing_tag}")]
    NotNewer {
        /// Where the version came from (`--bump`, `Release-As: in commit abc1234`).
        what: String,
        /// The version asked for.
        requested: Version,
        /// The tag of the newer or equal release.
        existing_tag: String,
    },
    /// A `Release-As:` footer whose value is not `X.Y.Z`.
    #[error("commit {commit}: Release-As: {value:?} is not a release version X.Y.Z")]
    InvalidReleaseAs {
        /// The commit with the footer.
        commit: CommitId,
        /// The footer's value.
        value: String,
    },
    /// The tag for the new version exists already, on a commit the branch
    /// does not reach.
    #[error(
        "tag {tag} already exists at commit {existing}, which {branch} at {tip} does not reach"
    )]
    TagExists {
        /// The tag.
        tag: String,
        /// The commit it points at.
        existing: CommitId,
        /// The branch.
        branch: String,
        /// The branch tip.
        tip: CommitId,
    },
}

impl PlanError {
    /// How this failure counts: a tag of the next version elsewhere is the
    /// step saying no ([`FailureKind::Refused`]); the rest is input.
    pub fn kind(&self) -> FailureKind {
        match self {
            PlanError::TagExists { .. } => FailureKind::Refused,
            _ => FailureKind::Input,
        }
    }
}

/// Classifies every commit since the base.
pub(crate) fn classify(history: &History) -> Vec<Change> {
    history
        .commits()
        .iter()
        .map(|commit| Change {
            id: commit.id().clone(),
            kind: if commit.is_merge() {
                ChangeKind::Merge
            } else {
                match ConventionalCommit::parse(commit.message()) {
                    Ok(parsed) => ChangeKind::Conventional(Box::new(parsed)),
                    Err(why) => ChangeKind::Other(why),
                }
            },
        })
        .collect()
}

/// Plans the next release of `history`; see the module docs for the rules.
///
/// ```
/// use pipeline_gitflow::{plan, BranchTip, Commit, CommitId, History, Request, Tag, Version};
///
/// let tip = BranchTip::new("develop", "refs/heads/develop", CommitId::new("c2"));
/// let base = Tag::new("v1.2.0", Version::new(1, 2, 0), CommitId::new("c0"));
/// let history = History::new(tip, Some(base), vec![
///     Commit::new(CommitId::new("c2"), "fix: a crash", 1),
///     Commit::new(CommitId::new("c1"), "feat(api): a thing", 1),
/// ]);
/// let plan = plan(&history, &Request::default())?;
/// assert_eq!(plan.release().map(|r| r.tag()), Ok("v1.3.0"));
/// # Ok::<(), pipeline_gitflow::PlanError>(())
/// ```
///
/// # Errors
///
/// [`PlanError`] when the request contradicts the history.
pub fn plan(history: &History, request: &Request) -> Result<Plan, PlanError> {
    let changes = classify(history);
    let previous = history.base().cloned();
    let current = previous
        .as_ref()
        .map_or_else(|| Version::new(0, 0, 0), |tag| tag.version().clone());
    let plan = |release| Plan {
        previous: previous.clone(),
        release,
        changes: changes.clone(),
    };
    if changes.is_empty() {
        return Ok(plan(Err(NoRelease::NoCommits)));
    }

    let (mut target, mut reason) = match request.bump_override() {
        Some(over) => {
            let target = match over {
                BumpOverride::Bump(bump) => bump.apply(&current),
                BumpOverride::Exact(version) => version.clone(),
            };
            (target, Reason::Override(over.clone()))
        }
        None => match release_as(&changes)? {
            Some((commit, version)) => (version, Reason::ReleaseAs(commit)),
            None => {
                let Some(requested) = changes.iter().filter_map(Change::bump).max() else {
                    return Ok(plan(Err(NoRelease::NothingReleasable)));
                };
                let applied = if current.major == 0 && requested == Bump::Major {
                    Bump::Minor
                } else {
                    requested
                };
                (
                    applied.apply(&current),
                    Reason::Commits { requested, applied },
                )
            }
        },
    };
    let what = match &reason {
        Reason::Override(_) => "--bump".to_owned(),
        Reason::ReleaseAs(commit) => format!("Release-As: in commit {}", commit.short()),
        _ => "the next version".to_owned(),
    };
    if let Some(tag) = previous.as_ref() {
        if target <= current {
            return Err(not_newer(what, target, tag));
        }
    }
    // A pre-release already past the bumped version: continue it rather
    // than go back (only for versions the commits chose).
    if matches!(reason, Reason::Commits { .. }) {
        if let Some(pre) = history
            .pre_releases()
            .iter()
            .filter(|tag| core(tag.version()) > target)
            .max_by(|a, b| a.version().cmp(b.version()))
        {
            target = core(pre.version());
            reason = Reason::ContinuesPreRelease(pre.name().to_owned());
        }
    }

    let version = match request.pre_release_channel() {
        Some(channel) => {
            let last = history
                .tags()
                .iter()
                .filter(|tag| core(tag.version()) == target)
                .filter_map(|tag| channel.number_of(tag.version()))
                .max()
                .unwrap_or(0);
            channel.version(&target, last.saturating_add(1))
        }
        None => target,
    };
    if let Some(newest) = history
        .pre_releases()
        .iter()
        .chain(previous.as_ref())
        .max_by(|a, b| a.version().cmp(b.version()))
    {
        if version <= *newest.version() {
            return Err(not_newer(what, version, newest));
        }
    }
    let tag = request.tag_format().name(&version);
    if let Some(existing) = history
        .tags()
        .iter()
        .find(|tag| tag.version().cmp_precedence(&version) == std::cmp::Ordering::Equal)
    {
        return Err(PlanError::TagExists {
            tag: existing.name().to_owned(),
            existing: existing.commit().clone(),
            branch: history.tip().name().to_owned(),
            tip: history.tip().commit().clone(),
        });
    }
    Ok(plan(Ok(Release {
        version,
        tag,
        reason,
    })))
}

fn not_newer(what: String, requested: Version, existing: &Tag) -> PlanError {
    PlanError::NotNewer {
        what,
        requested,
        existing_tag: existing.name().to_owned(),
    }
}

/// The newest commit's `Release-As:` version.
fn release_as(changes: &[Change]) -> Result<Option<(CommitId, Version)>, PlanError> {
    for change in changes {
        let Some(value) = change
            .conventional()
            .and_then(ConventionalCommit::release_as)
        else {
            continue;
        };
        let version = parse_release_version(value).map_err(|_| PlanError::InvalidReleaseAs {
            commit: change.id.clone(),
            value: value.to_owned(),
        })?;
        return Ok(Some((change.id.clone(), version)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{BranchTip, Commit};
    use proptest::prelude::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn tag(version: &str) -> Tag {
        Tag::new(
            format!("v{version}"),
            v(version),
            CommitId::new(format!("tag-{version}")),
        )
    }

    fn history(base: Option<&str>, messages: &[&str]) -> History {
        let commits = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let parents = if m.starts_with("Merge") { 2 } else { 1 };
                Commit::new(CommitId::new(format!("{i:07}abcdef")), *m, parents)
            })
            .collect();
        let tags = base.map(tag).into_iter().collect();
        History::new(
            BranchTip::new("develop", "refs/heads/develop", CommitId::new("tip")),
            base.map(tag),
            commits,
        )
        .with_tags(tags)
    }

    fn next(history: &History, request: &Request) -> Result<Option<String>, PlanError> {
        Ok(plan(history, request)?
            .release()
            .ok()
            .map(|r| r.version().to_string()))
    }

    fn simple(base: Option<&str>, messages: &[&str]) -> Option<String> {
        next(&history(base, messages), &Request::default()).unwrap()
    }

    #[test]
    fn bumps_from_commits() {
        assert_eq!(simple(Some("1.2.3"), &["fix: a"]), Some("1.2.4".into()));
        assert_eq!(simple(Some("1.2.3"), &["perf: a"]), Some("1.2.4".into()));
        assert_eq!(
            simple(Some("1.2.3"), &["feat: a", "fix: b"]),
            Some("1.3.0".into())
        );
        assert_eq!(
            simple(Some("1.2.3"), &["fix!: a", "feat: b"]),
            Some("2.0.0".into())
        );
        assert_eq!(
            simple(Some("1.2.3"), &["docs: a\n\nBREAKING CHANGE: gone"]),
            Some("2.0.0".into())
        );
        assert_eq!(
            simple(Some("1.2.3"), &["FEAT: shouting is fine"]),
            Some("1.3.0".into())
        );
    }

    #[test]
    fn nothing_releasable() {
        let p = plan(&history(Some("1.2.3"), &[]), &Request::default()).unwrap();
        assert_eq!(p.release(), Err(NoRelease::NoCommits));
        let h = history(
            Some("1.2.3"),
            &[
                "chore: a",
                "docs: b",
                "Merge branch 'x'",
                "Update README",
                "feat: x\n\nbreaking change: lowercase is not breaking",
            ],
        );
        let p = plan(&h, &Request::default()).unwrap();
        assert_eq!(p.release().map(|r| r.tag().to_owned()), Ok("v1.3.0".into()));
        let h = history(
            Some("1.2.3"),
            &["chore: a", "docs: b", "Merge branch 'x'", "Update README"],
        );
        let p = plan(&h, &Request::default()).unwrap();
        assert_eq!(p.release(), Err(NoRelease::NothingReleasable));
        assert_eq!(p.releasable_count(), 0);
        assert_eq!(p.changes().len(), 4);
    }

    #[test]
    fn merge_commits_are_not_releasable_even_when_conventional() {
        let h = History::new(
            BranchTip::new("develop", "refs/heads/develop", CommitId::new("tip")),
            Some(tag("1.0.0")),
            vec![Commit::new(CommitId::new("m"), "feat: merged", 2)],
        );
        let p = plan(&h, &Request::default()).unwrap();
        assert_eq!(p.release(), Err(NoRelease::NothingReleasable));
        assert_eq!(p.changes()[0].kind(), &ChangeKind::Merge);
    }

    #[test]
    fn major_zero() {
        assert_eq!(simple(Some("0.3.1"), &["feat!: a"]), Some("0.4.0".into()));
        assert_eq!(simple(Some("0.3.1"), &["feat: a"]), Some("0.4.0".into()));
        assert_eq!(simple(Some("0.3.1"), &["fix: a"]), Some("0.3.2".into()));
        let p = plan(&history(Some("0.3.1"), &["feat!: a"]), &Request::default()).unwrap();
        assert_eq!(
            p.release().unwrap().reason(),
            &Reason::Commits {
                requested: Bump::Major,
                applied: Bump::Minor
            }
        );
        let major = Request::default().bump(BumpOverride::Bump(Bump::Major));
        assert_eq!(
            next(&history(Some("0.3.1"), &["chore: a"]), &major).unwrap(),
            Some("1.0.0".into())
        );
    }

    #[test]
    fn no_tag_starts_at_zero() {
        assert_eq!(simple(None, &["feat: a"]), Some("0.1.0".into()));
        assert_eq!(simple(None, &["fix: a"]), Some("0.0.1".into()));
        assert_eq!(simple(None, &["feat!: a"]), Some("0.1.0".into()));
        assert_eq!(simple(None, &["chore: init"]), None);
        let exact = Request::default().bump(BumpOverride::Exact(v("1.0.0")));
        assert_eq!(
            next(&history(None, &["chore: init"]), &exact).unwrap(),
            Some("1.0.0".into())
        );
        let zero = Request::default().bump(BumpOverride::Exact(v("0.0.0")));
        assert_eq!(
            next(&history(None, &["chore: init"]), &zero).unwrap(),
            Some("0.0.0".into())
        );
    }

    #[test]
    fn overrides_win() {
        let h = history(Some("1.2.3"), &["feat!: a\n\nRelease-As: 5.0.0"]);
        let patch = Request::default().bump(BumpOverride::Bump(Bump::Patch));
        assert_eq!(next(&h, &patch).unwrap(), Some("1.2.4".into()));
        let exact = Request::default().bump(BumpOverride::Exact(v("3.0.0")));
        assert_eq!(next(&h, &exact).unwrap(), Some("3.0.0".into()));
        assert_eq!(next(&h, &Request::default()).unwrap(), Some("5.0.0".into()));
        // A --bump on commits that ask for nothing still releases.
        let h = history(Some("1.2.3"), &["chore: a"]);
        assert_eq!(next(&h, &patch).unwrap(), Some("1.2.4".into()));
        // But not without any commit.
        let h = history(Some("1.2.3"), &[]);
        assert_eq!(next(&h, &patch).unwrap(), None);
    }

    #[test]
    fn newest_release_as_wins_and_is_checked() {
        let h = history(
            Some("1.2.3"),
            &[
                "chore: b\n\nRelease-As: 2.1.0",
                "chore: a\n\nRelease-As: 2.0.0",
            ],
        );
        let p = plan(&h, &Request::default()).unwrap();
        let release = p.release().unwrap();
        assert_eq!(release.version(), &v("2.1.0"));
        assert_eq!(
            release.reason(),
            &Reason::ReleaseAs(CommitId::new("0000000abcdef"))
        );

        let h = history(Some("1.2.3"), &["chore: a\n\nRelease-As: soon"]);
        let e = plan(&h, &Request::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "commit 0000000abcdef: Release-As: \"soon\" is not a release version X.Y.Z"
        );
    }

    #[test]
    fn explicit_versions_must_be_newer() {
        let h = history(Some("1.2.3"), &["fix: a"]);
        for exact in ["1.2.3", "1.0.0"] {
            let request = Request::default().bump(BumpOverride::Exact(v(exact)));
            let e = plan(&h, &request).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("--bump {exact} is not newer than the release v1.2.3")
            );
        }
        let h = history(Some("1.2.3"), &["fix: a\n\nRelease-As: 1.2.3"]);
        let e = plan(&h, &Request::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Release-As: in commit 0000000 1.2.3 is not newer than the release v1.2.3"
        );
    }

    #[test]
    fn pre_releases_number_up() {
        let rc = Request::default().pre_release("rc".parse().unwrap());
        let h = history(Some("1.2.3"), &["feat: a"]);
        assert_eq!(next(&h, &rc).unwrap(), Some("1.3.0-rc.1".into()));

        let mut tags = vec![tag("1.2.3"), tag("1.3.0-rc.1")];
        let h2 = h
            .clone()
            .with_tags(tags.clone())
            .with_pre_releases(vec![tag("1.3.0-rc.1")]);
        assert_eq!(next(&h2, &rc).unwrap(), Some("1.3.0-rc.2".into()));
        // Numbering counts unreachable tags too, and other channels not at all.
        tags.extend([tag("1.3.0-rc.7"), tag("1.3.0-beta.9"), tag("1.4.0-rc.3")]);
        let h3 = h
            .clone()
            .with_tags(tags)
            .with_pre_releases(vec![tag("1.3.0-rc.1")]);
        assert_eq!(next(&h3, &rc).unwrap(), Some("1.3.0-rc.8".into()));
        // The final release after pre-releases bumps from the last final tag.
        assert_eq!(
            next(&h3, &Request::default()).unwrap(),
            Some("1.3.0".into())
        );
    }

    #[test]
    fn a_pre_release_ahead_is_continued() {
        let h = history(Some("1.2.3"), &["fix: a"])
            .with_tags(vec![tag("1.2.3"), tag("2.0.0-rc.1")])
            .with_pre_releases(vec![tag("2.0.0-rc.1")]);
        let p = plan(&h, &Request::default()).unwrap();
        assert_eq!(p.release().unwrap().version(), &v("2.0.0"));
        assert_eq!(
            p.release().unwrap().reason(),
            &Reason::ContinuesPreRelease("v2.0.0-rc.1".into())
        );
        let rc = Request::default().pre_release("rc".parse().unwrap());
        assert_eq!(next(&h, &rc).unwrap(), Some("2.0.0-rc.2".into()));
        // An explicit version behind it is refused.
        let exact = Request::default().bump(BumpOverride::Exact(v("1.5.0")));
        assert_eq!(
            plan(&h, &exact).unwrap_err().to_string(),
            "--bump 1.5.0 is not newer than the release v2.0.0-rc.1"
        );
        // A channel that sorts lower than the existing one is refused too.
        let h = history(Some("1.2.3"), &["feat: a"]).with_pre_releases(vec![tag("1.3.0-beta.2")]);
        let alpha = Request::default().pre_release("alpha".parse().unwrap());
        assert!(matches!(plan(&h, &alpha), Err(PlanError::NotNewer { .. })));
    }

    #[test]
    fn an_existing_tag_is_refused() {
        let h = history(Some("1.2.3"), &["feat: a"]).with_tags(vec![tag("1.2.3"), tag("1.3.0")]);
        let e = plan(&h, &Request::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tag v1.3.0 already exists at commit tag-1.3.0, which develop at tip does not reach"
        );
    }

    #[test]
    fn tag_prefix_is_used() {
        let h = history(Some("1.2.3"), &["feat: a"]);
        let p = plan(&h, &Request::new(TagFormat::new("release-"))).unwrap();
        assert_eq!(p.release().unwrap().tag(), "release-1.3.0");
    }

    fn message() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("feat: a".to_owned()),
            Just("fix: b".to_owned()),
            Just("perf: c".to_owned()),
            Just("feat!: d".to_owned()),
            Just("chore: e\n\nBREAKING CHANGE: f".to_owned()),
            Just("docs: g".to_owned()),
            Just("Merge branch 'h'".to_owned()),
            Just("random words".to_owned()),
            "[a-z]{1,6}(\\([a-z]{1,4}\\))?!?: [a-z ]{1,10}",
        ]
    }

    fn version() -> impl Strategy<Value = Version> {
        (0u64..20, 0u64..20, 0u64..20).prop_map(|(a, b, c)| Version::new(a, b, c))
    }

    fn bump() -> impl Strategy<Value = Option<BumpOverride>> {
        prop_oneof![
            Just(None),
            Just(Some(BumpOverride::Bump(Bump::Major))),
            Just(Some(BumpOverride::Bump(Bump::Minor))),
            Just(Some(BumpOverride::Bump(Bump::Patch))),
            version().prop_map(|v| Some(BumpOverride::Exact(v))),
        ]
    }

    fn pre_tags(base: &Version) -> impl Strategy<Value = Vec<Tag>> + use<> {
        let base = base.clone();
        proptest::collection::vec((0u64..3, 1u64..5), 0..4).prop_map(move |parts| {
            parts
                .into_iter()
                .map(|(bump, n)| {
                    let core = match bump {
                        0 => Bump::Patch.apply(&base),
                        1 => Bump::Minor.apply(&base),
                        _ => Bump::Major.apply(&base),
                    };
                    tag(&format!("{core}-rc.{n}"))
                })
                .collect()
        })
    }

    proptest! {
        /// Whatever the commits, overrides and channel: a release is newer
        /// than every reachable release, and its tag is new.
        #[test]
        fn releases_only_go_forward(
            (base, pres) in proptest::option::of(version()).prop_flat_map(|base| {
                let base_v = base.clone().unwrap_or_else(|| Version::new(0, 0, 0));
                (Just(base), pre_tags(&base_v))
            }),
            messages in proptest::collection::vec(message(), 0..8),
            bump in bump(),
            pre in any::<bool>(),
        ) {
            let base_v = base.clone().unwrap_or_else(|| Version::new(0, 0, 0));
            let refs: Vec<&str> = messages.iter().map(String::as_str).collect();
            let base_s = base.as_ref().map(ToString::to_string);
            let mut h = history(base_s.as_deref(), &refs);
            let mut tags = h.tags().to_vec();
            tags.extend(pres.iter().cloned());
            h = h.with_tags(tags).with_pre_releases(pres.clone());
            let mut request = Request::default();
            if let Some(bump) = bump.clone() {
                request = request.bump(bump);
            }
            if pre {
                request = request.pre_release("rc".parse().unwrap());
            }
            match plan(&h, &request) {
                Ok(p) => {
                    if let Ok(release) = p.release() {
                        prop_assert!(!messages.is_empty());
                        if base.is_some() {
                            prop_assert!(release.version() > &base_v);
                        }
                        for t in h.tags() {
                            prop_assert!(release.version() != t.version());
                        }
                        for t in &pres {
                            prop_assert!(release.version() > t.version());
                        }
                        prop_assert_eq!(release.version().pre.is_empty(), !pre);
                        prop_assert_eq!(release.tag(), format!("v{}", release.version()));
                    } else if bump.is_none() {
                        // No release only when no commit asks for one.
                        let commits_bump = p.changes().iter().filter_map(Change::bump).max();
                        prop_assert!(commits_bump.is_none() || messages.is_empty());
                    }
                }
                Err(PlanError::NotNewer { .. }) => {
                    // Only explicit versions, or channels below an existing pre-release.
                    prop_assert!(bump.is_some() || !pres.is_empty() || refs.iter().any(|m| m.contains("Release-As")));
                }
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }

        /// A larger bump never gives a smaller version.
        #[test]
        fn bumps_are_monotonic(base in version()) {
            let base_s = base.to_string();
            let mut last: Option<Version> = None;
            for message in ["fix: a", "feat: a", "feat!: a"] {
                let h = history(Some(&base_s), &[message]);
                let version = plan(&h, &Request::default()).unwrap().release().unwrap().version().clone();
                prop_assert!(version > base);
                if let Some(last) = &last {
                    prop_assert!(&version >= last);
                }
                last = Some(version);
            }
        }

        /// Successive pre-releases climb, and the final release after them
        /// is above every one.
        #[test]
        fn pre_release_sequences_climb(base in version(), count in 1usize..6) {
            let base_s = base.to_string();
            let rc = Request::default().pre_release("rc".parse().unwrap());
            let mut h = history(Some(&base_s), &["feat: a"]);
            let mut seen: Vec<Version> = Vec::new();
            for _ in 0..count {
                let version = plan(&h, &rc).unwrap().release().unwrap().version().clone();
                if let Some(last) = seen.last() {
                    prop_assert!(&version > last);
                }
                seen.push(version.clone());
                let mut tags = h.tags().to_vec();
                tags.push(tag(&version.to_string()));
                let pres: Vec<Tag> = seen.iter().map(|v| tag(&v.to_string())).collect();
                h = h.with_tags(tags).with_pre_releases(pres);
            }
            let last = plan(&h, &Request::default()).unwrap().release().unwrap().version().clone();
            prop_assert!(last.pre.is_empty());
            prop_assert!(seen.iter().all(|v| &last > v));
            prop_assert_eq!(core(&seen[0]), last);
        }
    }
}
