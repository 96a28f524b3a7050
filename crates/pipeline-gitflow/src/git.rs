//! Reading a [`History`] from a repository with git2 (libgit2): the branch
//! tip, the release tags and the commits since the last release.
//!
//! **Branches** are read from the remote's refs first
//! (`refs/remotes/<remote>/<branch>`), then from the local branch
//! (`refs/heads/<branch>`): CI checkouts leave a detached HEAD and no local
//! branches, and what HEAD is attached to never matters.
//!
//! **Tags** are every `refs/tags/<prefix><semver>`, annotated or
//! lightweight, peeled to the commit; tags of trees or blobs are ignored.
//! The refs are read from the ref store's files, only those whose names
//! are versions; the peeled id comes from `packed-refs` when git recorded
//! it, else from the pack, reading the first line of the tag object (see
//! the private `tags` and `pack` modules), else from libgit2. Every
//! version tag is peeled, not only the highest: a lower version on a newer
//! commit (a merged hotfix) still marks its commits released.
//!
//! **The walk** starts at the branch tip and follows every parent (not only
//! the first: a release tag on a merged hotfix branch counts), newest
//! committer date first, as `git log` does. A commit carrying a final
//! release tag stops the walk along that line and makes its ancestors
//! "already released"; the walk ends once only released commits are left to
//! visit (plus a few more, to survive clock skew, like git's own walk). So it
//! visits about as many commits as `git log <tag>..<tip>` — the commits
//! since the last release and a handful behind it — whatever the size of the
//! history or the number of tags.
//!
//! The base is the highest version among the final tags the walk met. Tags
//! hidden behind another release tag are older releases in any sane history;
//! when some tags have a higher version than that (typically on a release
//! branch not merged yet), one more date-ordered walk checks whether any is
//! reachable after all, going back no further than the oldest of them, so a
//! higher reachable tag is never missed and the usual case costs nothing.
//!
//! **Shallow clones:** a walk that reaches the shallow boundary while it is
//! still among unreleased commits cannot know the base nor every commit
//! since; it fails with [`HistoryError::Shallow`], which names the fix.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, ObjectType, Oid, Repository, RepositoryOpenFlags};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::history::{BranchTip, Commit, CommitId, History, Tag};
use crate::pack::{Object, Packs};
use crate::tags;
use crate::version::TagFormat;

/// Commits visited after only released ones are left, as git's `SLOP`:
/// enough for a few commits dated before their parents.
const SLOP: usize = 5;

/// Where and how to read the history.
///
/// ```
/// use pipeline_gitflow::{ReadOptions, TagFormat};
///
/// let options = ReadOptions::default()
///     .remote("upstream")
///     .develop_branch("dev")
///     .tag_format(TagFormat::new("release-"));
/// assert_eq!(options.remote_name(), "upstream");
/// assert_eq!(options.main_branch_name(), "master");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    remote: String,
    develop: String,
    main: String,
    format: TagFormat,
}

impl Default for ReadOptions {
    /// Remote `origin`, branches `develop` and `master`, tags `v<semver>`.
    fn default() -> Self {
        Self {
            remote: "origin".to_owned(),
            develop: "develop".to_owned(),
            main: "master".to_owned(),
            format: TagFormat::default(),
        }
    }
}

impl ReadOptions {
    /// The remote whose refs are read first.
    #[must_use]
    pub fn remote(mut self, remote: impl Into<String>) -> Self {
        self.remote = remote.into();
        self
    }

    /// The branch releases are cut from.
    #[must_use]
    pub fn develop_branch(mut self, branch: impl Into<String>) -> Self {
        self.develop = branch.into();
        self
    }

    /// The branch releases are brought to.
    #[must_use]
    pub fn main_branch(mut self, branch: impl Into<String>) -> Self {
        self.main = branch.into();
        self
    }

    /// How release tags are named.
    #[must_use]
    pub fn tag_format(mut self, format: TagFormat) -> Self {
        self.format = format;
        self
    }

    /// The remote.
    pub fn remote_name(&self) -> &str {
        &self.remote
    }

    /// The develop branch.
    pub fn develop_branch_name(&self) -> &str {
        &self.develop
    }

    /// The main branch.
    pub fn main_branch_name(&self) -> &str {
        &self.main
    }

    /// The tag format.
    pub fn format(&self) -> &TagFormat {
        &self.format
    }
}

/// A failure to read the history. Each names the repository, ref or commit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// No repository at or above the path.
    #[error("no git repository at {}", .path.display())]
    NotARepository {
        /// The path given.
        path: PathBuf,
    },
    /// A repository that cannot be opened (permissions, a damaged
    /// `.git`).
    #[error("cannot open the git repository at {}", .path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// libgit2's reason.
        #[source]
        source: GitError,
    },
    /// A branch or remote name that makes no valid ref.
    #[error("{name:?} is not a valid ref name")]
    InvalidRefName {
        /// The full ref name built from it.
        name: String,
    },
    /// Neither the remote-tracking ref nor the local branch exists.
    #[error(
        "branch {branch} not found in {}: neither {remote_ref} nor {local_ref} exists",
        .repo.display()
    )]
    BranchNotFound {
        /// The branch.
        branch: String,
        /// `refs/remotes/<remote>/<branch>`.
        remote_ref: String,
        /// `refs/heads/<branch>`.
        local_ref: String,
        /// The repository.
        repo: PathBuf,
    },
    /// The history is cut by a shallow clone before the walk could finish.
    #[error(
        "{} is a shallow clone and the history of {branch} is cut at commit {commit} before every \
         commit since the last release tag was seen: fetch the whole history (`fetch-depth: 0` in \
         actions/checkout, or `git fetch --unshallow --tags`)",
        .repo.display()
    )]
    Shallow {
        /// The branch walked.
        branch: String,
        /// The boundary commit reached.
        commit: CommitId,
        /// The repository.
        repo: PathBuf,
    },
    /// The tags' refs could not be read.
    #[error("cannot read the tags in {}", .repo.display())]
    Tags {
        /// The repository.
        repo: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// libgit2 could not read something.
    #[error("cannot read {what} in {}", .repo.display())]
    Read {
        /// What was being read (`ref refs/tags/v1.0.0`, `commit 1a2b3c4`).
        what: String,
        /// The repository.
        repo: PathBuf,
        /// libgit2's reason.
        #[source]
        source: GitError,
    },
}

impl HistoryError {
    /// How this failure counts: always the caller's input (a path, a
    /// branch, a clone too shallow) or repository.
    pub fn kind(&self) -> FailureKind {
        FailureKind::Input
    }
}

/// How a failure counts for whoever runs the step: what an exit code is
/// made of. Every error of this crate says which it is (`kind()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The step said no: a conflict, the remote moved, a tag elsewhere.
    /// Nothing was changed; a person or a re-run after a fetch decides.
    Refused,
    /// The input, the configuration or the repository is wrong: a path, a
    /// branch or a remote that does not exist, a shallow clone, local
    /// changes in the way.
    Input,
    /// An external system failed after retries: the git remote (network,
    /// credentials, no atomic push).
    External,
}

/// libgit2's reason for a failure, in its own words, without its class
/// and code numbers.
#[derive(Debug)]
pub struct GitError(git2::Error);

impl GitError {
    /// libgit2's message.
    pub fn message(&self) -> &str {
        self.0.message()
    }
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.message())
    }
}

impl std::error::Error for GitError {}

impl From<git2::Error> for GitError {
    fn from(error: git2::Error) -> Self {
        Self(error)
    }
}

/// A repository opened for reading.
pub struct Repo {
    pub(crate) repo: Repository,
    pub(crate) path: PathBuf,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo").field("path", &self.path).finish()
    }
}

impl Repo {
    /// Opens the repository at `path` or the nearest one above it, as git
    /// does (environment variables such as `GIT_DIR` are not read).
    ///
    /// # Errors
    ///
    /// [`HistoryError::NotARepository`] when there is none,
    /// [`HistoryError::Open`] when it cannot be opened.
    pub fn open(path: &Path) -> Result<Self, HistoryError> {
        let repo = Repository::open_ext(
            path,
            RepositoryOpenFlags::empty(),
            std::iter::empty::<&str>(),
        )
        .map_err(|source| match source.code() {
            ErrorCode::NotFound => HistoryError::NotARepository {
                path: path.to_path_buf(),
            },
            _ => HistoryError::Open {
                path: path.to_path_buf(),
                source: source.into(),
            },
        })?;
        // Without libgit2's trailing slash, for messages.
        let path = repo
            .workdir()
            .unwrap_or_else(|| repo.path())
            .components()
            .collect();
        Ok(Self { repo, path })
    }

    /// The work tree (or, for a bare repository, the git directory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the repository is a shallow clone.
    pub fn is_shallow(&self) -> bool {
        self.repo.is_shallow()
    }

    /// The tip of `branch`: `refs/remotes/<remote>/<branch>` if it exists,
    /// else `refs/heads/<branch>`.
    ///
    /// # Errors
    ///
    /// [`HistoryError::BranchNotFound`] naming both refs when neither
    /// exists; [`HistoryError::InvalidRefName`]; [`HistoryError::Read`].
    pub fn branch_tip(&self, remote: &str, branch: &str) -> Result<BranchTip, HistoryError> {
        let remote_ref = format!("refs/remotes/{remote}/{branch}");
        let local_ref = format!("refs/heads/{branch}");
        for name in [&remote_ref, &local_ref] {
            if !git2::Reference::is_valid_name(name) {
                return Err(HistoryError::InvalidRefName { name: name.clone() });
            }
        }
        for name in [&remote_ref, &local_ref] {
            let reference = match self.repo.find_reference(name) {
                Ok(reference) => reference,
                Err(e) if e.code() == ErrorCode::NotFound => continue,
                Err(source) => return Err(self.read_error(format!("ref {name}"), source)),
            };
            let commit = reference
                .peel_to_commit()
                .map_err(|source| self.read_error(format!("ref {name}"), source))?;
            return Ok(BranchTip::new(branch, name.as_str(), id(commit.id())));
        }
        Err(HistoryError::BranchNotFound {
            branch: branch.to_owned(),
            remote_ref,
            local_ref,
            repo: self.path.clone(),
        })
    }

    /// Every release tag, highest version first (ties by name).
    ///
    /// # Errors
    ///
    /// [`HistoryError::Read`] naming the tag that cannot be read.
    pub fn release_tags(&self, format: &TagFormat) -> Result<Vec<Tag>, HistoryError> {
        Ok(self
            .tags_with_oids(format)?
            .into_iter()
            .map(|(_, tag)| tag)
            .collect())
    }

    /// Every release tag with the commit it peels to, highest version
    /// first (ties by name). The refs are read from the ref store's files
    /// ([`crate::tags`]) and peeled from the packs ([`crate::pack`]);
    /// libgit2 answers whatever those leave open.
    pub(crate) fn tags_with_oids(
        &self,
        format: &TagFormat,
    ) -> Result<Vec<(Oid, Tag)>, HistoryError> {
        let common = self.repo.commondir();
        let refs = tags::release_tag_refs(common, format).map_err(|source| HistoryError::Tags {
            repo: self.path.clone(),
            source,
        })?;
        // The object to look at for each ref: the peeled one when
        // packed-refs recorded it (still to be checked to be a commit: a
        // tag of a tree is not a release), else the ref's target.
        let object = |value: &tags::Value| match *value {
            tags::Value::Id {
                peeled: Some(Some(peeled)),
                ..
            } => Some(peeled),
            tags::Value::Id { target, .. } => Some(target),
            tags::Value::Other => None,
        };
        let wanted: Vec<Oid> = refs.iter().filter_map(|r| object(&r.value)).collect();
        let mut answers = if wanted.is_empty() {
            Vec::new()
        } else {
            Packs::open(&common.join("objects")).peel(&wanted)
        }
        .into_iter();
        let mut odb = None;
        let mut tags = Vec::with_capacity(refs.len());
        for r in refs {
            let what = || format!("tag {}", r.name);
            let commit = match object(&r.value) {
                Some(target) => match answers.next().flatten() {
                    Some(Object::Commit) => Some(target),
                    Some(Object::TagOfCommit(commit)) => Some(commit),
                    Some(Object::NotACommit) => None,
                    None => {
                        let odb = match &odb {
                            Some(odb) => odb,
                            None => odb.insert(
                                self.repo
                                    .odb()
                                    .map_err(|source| self.read_error(what(), source))?,
                            ),
                        };
                        let (_, kind) = odb
                            .read_header(target)
                            .map_err(|source| self.read_error(what(), source))?;
                        match kind {
                            ObjectType::Commit => Some(target),
                            ObjectType::Tag => self
                                .repo
                                .find_object(target, Some(ObjectType::Tag))
                                .and_then(|tag| tag.peel(ObjectType::Any))
                                .ok()
                                .filter(|object| object.kind() == Some(ObjectType::Commit))
                                .map(|object| object.id()),
                            _ => None,
                        }
                    }
                },
                // A symbolic ref under refs/tags: resolve it.
                None => self
                    .repo
                    .find_reference(&format!("refs/tags/{}", r.name))
                    .and_then(|reference| reference.peel_to_commit())
                    .ok()
                    .map(|c| c.id()),
            };
            if let Some(commit) = commit {
                tags.push((commit, Tag::new(r.name, r.version, id(commit))));
            }
        }
        tags.sort_by(|(_, a), (_, b)| {
            b.version()
                .cmp(a.version())
                .then_with(|| a.name().cmp(b.name()))
        });
        Ok(tags)
    }

    /// The history of `options`' develop branch since its last release:
    /// see the [module docs](self) for how it is read.
    ///
    /// # Errors
    ///
    /// [`HistoryError`] naming the ref, commit or repository.
    pub fn history(&self, options: &ReadOptions) -> Result<History, HistoryError> {
        let tip = self.branch_tip(options.remote_name(), options.develop_branch_name())?;
        self.history_at(tip, options.format())
    }

    /// The history of `tip` (any commit: the one that was tested, a
    /// hotfix branch) since its last release, read as [`Repo::history`]
    /// reads a branch.
    ///
    /// # Errors
    ///
    /// [`HistoryError`] naming the ref, commit or repository.
    pub fn history_at(&self, tip: BranchTip, format: &TagFormat) -> Result<History, HistoryError> {
        let tip_oid = Oid::from_str(tip.commit().as_str())
            .map_err(|source| self.read_error(format!("commit {}", tip.commit()), source))?;
        let tags = self.tags_with_oids(format)?;
        let mut by_commit: FxHashMap<Oid, Vec<usize>> = FxHashMap::default();
        for (i, (oid, _)) in tags.iter().enumerate() {
            by_commit.entry(*oid).or_default().push(i);
        }
        let shallow = self.shallow_commits();

        let (nodes, order, tags_seen, shallow_hits) = {
            let mut walk = Walk::new(self, &by_commit, &tags, &shallow);
            walk.run(tip_oid)?;
            (walk.nodes, walk.order, walk.tags_seen, walk.shallow_hits)
        };
        let unreleased = |oid: &Oid| nodes.get(oid).is_some_and(|n| !n.uninteresting);

        if let Some(cut) = shallow_hits.iter().find(|oid| unreleased(oid)) {
            return Err(HistoryError::Shallow {
                branch: tip.name().to_owned(),
                commit: id(*cut),
                repo: self.path.clone(),
            });
        }

        let mut base: Option<usize> = None;
        let mut pre_releases = Vec::new();
        for &i in &tags_seen {
            let tag = &tags[i].1;
            if tag.is_final() {
                // `tags` is sorted highest version first.
                base = Some(base.map_or(i, |b| b.min(i)));
            } else {
                pre_releases.push(tag.clone());
            }
        }
        // Finals above the base that the walk did not meet: reachable only
        // behind another release tag, or not at all.
        if let Some(b) = base {
            let seen: FxHashSet<usize> = tags_seen.iter().copied().collect();
            let candidates: Vec<usize> = (0..b)
                .filter(|&i| tags[i].1.is_final() && !seen.contains(&i))
                .collect();
            if let Some(higher) = self.highest_reachable(tip_oid, &tags, &candidates, &shallow)? {
                base = Some(higher);
            }
        }
        let commits = order
            .into_iter()
            .filter(|(oid, _)| unreleased(oid))
            .map(|(_, commit)| commit)
            .collect();
        Ok(History::new(tip, base.map(|b| tags[b].1.clone()), commits)
            .with_pre_releases(pre_releases)
            .with_tags(tags.into_iter().map(|(_, tag)| tag).collect()))
    }

    /// The first of `candidates` (indices into `tags`, highest version
    /// first) whose commit is reachable from `tip`, found in one date-ordered
    /// walk that ends once it is past the oldest candidate's date (plus
    /// [`SLOP`] commits for clock skew) or has met the highest candidate.
    fn highest_reachable(
        &self,
        tip: Oid,
        tags: &[(Oid, Tag)],
        candidates: &[usize],
        shallow: &FxHashSet<Oid>,
    ) -> Result<Option<usize>, HistoryError> {
        let Some(&highest) = candidates.first() else {
            return Ok(None);
        };
        let mut wanted: FxHashMap<Oid, usize> = FxHashMap::default();
        let mut oldest = i64::MAX;
        for &i in candidates {
            let (oid, tag) = &tags[i];
            if wanted.contains_key(oid) {
                continue;
            }
            let commit = self
                .repo
                .find_commit(*oid)
                .map_err(|source| self.read_error(format!("tag {}", tag.name()), source))?;
            oldest = oldest.min(commit.time().seconds());
            wanted.insert(*oid, i);
        }
        let load = |oid: Oid| {
            self.repo
                .find_commit(oid)
                .map_err(|source| self.read_error(format!("commit {oid}"), source))
        };
        let mut seen: FxHashSet<Oid> = FxHashSet::default();
        let mut heap = BinaryHeap::new();
        let first = load(tip)?;
        heap.push((first.time().seconds(), tip));
        seen.insert(tip);
        let mut best: Option<usize> = None;
        let mut slop = SLOP;
        while let Some((time, oid)) = heap.pop() {
            if let Some(&i) = wanted.get(&oid) {
                best = Some(best.map_or(i, |b| b.min(i)));
                if i == highest {
                    break;
                }
            }
            if time < oldest {
                if slop == 0 {
                    break;
                }
                slop -= 1;
            }
            if shallow.contains(&oid) {
                continue;
            }
            for parent in load(oid)?.parent_ids() {
                if seen.insert(parent) {
                    heap.push((load(parent)?.time().seconds(), parent));
                }
            }
        }
        Ok(best)
    }

    /// The boundary commits of a shallow clone (`.git/shallow`).
    fn shallow_commits(&self) -> FxHashSet<Oid> {
        if !self.repo.is_shallow() {
            return FxHashSet::default();
        }
        let file = self.repo.commondir().join("shallow");
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| Oid::from_str(line.trim()).ok())
            .collect()
    }

    pub(crate) fn read_error(&self, what: String, source: git2::Error) -> HistoryError {
        HistoryError::Read {
            what,
            repo: self.path.clone(),
            source: source.into(),
        }
    }
}

/// Whether libgit2 shows `commit` without the parents its object names:
/// a shallow boundary as libgit2 read it when the repository was opened,
/// even if `.git/shallow` says otherwise now.
fn grafted(commit: &git2::Commit<'_>) -> bool {
    commit.parent_count() == 0
        && commit
            .raw_header_bytes()
            .split(|&b| b == b'\n')
            .any(|line| line.starts_with(b"parent "))
}

pub(crate) fn id(oid: Oid) -> CommitId {
    CommitId::new(oid.to_string())
}

#[derive(Debug, Default)]
struct Node {
    uninteresting: bool,
    processed: bool,
    parents: Vec<Oid>,
}

/// A date-ordered walk from the tip that stops below final release tags.
struct Walk<'a> {
    owner: &'a Repo,
    tags_by_commit: &'a FxHashMap<Oid, Vec<usize>>,
    tags: &'a [(Oid, Tag)],
    shallow: &'a FxHashSet<Oid>,
    nodes: FxHashMap<Oid, Node>,
    heap: BinaryHeap<(i64, Reverse<u64>, Oid)>,
    pending: FxHashMap<Oid, git2::Commit<'a>>,
    seq: u64,
    interesting_pending: usize,
    /// Interesting commits in visiting order, with what the plan needs.
    order: Vec<(Oid, Commit)>,
    tags_seen: Vec<usize>,
    shallow_hits: Vec<Oid>,
}

impl<'a> Walk<'a> {
    fn new(
        owner: &'a Repo,
        tags_by_commit: &'a FxHashMap<Oid, Vec<usize>>,
        tags: &'a [(Oid, Tag)],
        shallow: &'a FxHashSet<Oid>,
    ) -> Self {
        Self {
            owner,
            tags_by_commit,
            tags,
            shallow,
            nodes: FxHashMap::default(),
            heap: BinaryHeap::new(),
            pending: FxHashMap::default(),
            seq: 0,
            interesting_pending: 0,
            order: Vec::new(),
            tags_seen: Vec::new(),
            shallow_hits: Vec::new(),
        }
    }

    fn load(&self, oid: Oid, child: Option<Oid>) -> Result<git2::Commit<'a>, HistoryError> {
        self.owner.repo.find_commit(oid).map_err(|source| {
            let what = match child {
                Some(child) => format!("commit {oid} (a parent of {child})"),
                None => format!("commit {oid}"),
            };
            self.owner.read_error(what, source)
        })
    }

    /// Queues `oid` unless already known.
    fn push(
        &mut self,
        oid: Oid,
        uninteresting: bool,
        child: Option<Oid>,
    ) -> Result<(), HistoryError> {
        if self.nodes.contains_key(&oid) {
            if uninteresting {
                self.mark_uninteresting(oid, child)?;
            }
            return Ok(());
        }
        let commit = self.load(oid, child)?;
        let time = commit.time().seconds();
        self.nodes.insert(
            oid,
            Node {
                uninteresting,
                ..Node::default()
            },
        );
        self.heap.push((time, Reverse(self.seq), oid));
        self.seq += 1;
        self.pending.insert(oid, commit);
        if !uninteresting {
            self.interesting_pending += 1;
        }
        Ok(())
    }

    /// Marks `start` and everything known below it as released.
    fn mark_uninteresting(&mut self, start: Oid, child: Option<Oid>) -> Result<(), HistoryError> {
        let mut stack = vec![(start, child)];
        while let Some((oid, child)) = stack.pop() {
            let Some(node) = self.nodes.get_mut(&oid) else {
                self.push(oid, true, child)?;
                continue;
            };
            if node.uninteresting {
                continue;
            }
            node.uninteresting = true;
            if node.processed {
                stack.extend(node.parents.iter().map(|&p| (p, Some(oid))));
            } else {
                self.interesting_pending -= 1;
            }
        }
        Ok(())
    }

    fn run(&mut self, tip: Oid) -> Result<(), HistoryError> {
        self.push(tip, false, None)?;
        let mut slop = SLOP;
        while let Some((_, _, oid)) = self.heap.pop() {
            let Some(commit) = self.pending.remove(&oid) else {
                continue;
            };
            let cut = self.shallow.contains(&oid) || grafted(&commit);
            let parents: Vec<Oid> = if cut {
                Vec::new()
            } else {
                commit.parent_ids().collect()
            };
            let Some(node) = self.nodes.get_mut(&oid) else {
                continue;
            };
            node.processed = true;
            node.parents.clone_from(&parents);
            let mut uninteresting = node.uninteresting;
            if !uninteresting {
                self.interesting_pending -= 1;
            }
            if let Some(indices) = self.tags_by_commit.get(&oid) {
                self.tags_seen.extend(indices);
                if indices.iter().any(|&i| self.tags[i].1.is_final()) && !uninteresting {
                    uninteresting = true;
                    node.uninteresting = true;
                }
            }
            if uninteresting {
                for parent in parents {
                    self.push(parent, true, Some(oid))?;
                }
            } else {
                if cut {
                    self.shallow_hits.push(oid);
                }
                let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
                self.order
                    .push((oid, Commit::new(id(oid), message, commit.parent_count())));
                for parent in parents {
                    self.push(parent, false, Some(oid))?;
                }
            }
            if self.interesting_pending == 0 {
                if slop == 0 {
                    break;
                }
                slop -= 1;
            } else {
                slop = SLOP;
            }
        }
        Ok(())
    }
}
