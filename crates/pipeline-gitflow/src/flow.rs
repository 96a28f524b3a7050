//! The write side of the git flow, on the local repository with git2:
//! merging `master` into `develop` ([`Repo::plan_sync`], [`Repo::sync`]),
//! hotfix branches ([`Repo::start_branch`], [`Repo::plan_hotfix_finish`]),
//! planning a release ([`Repo::plan_release`]: the tag, where `develop` and
//! `master` go, what the remote must still hold) and making or undoing its
//! local part (the annotated tag, a merge commit if any, the local
//! branches). The release transaction around it, with the push, is
//! [`crate::release`]; the remote, [`crate::remote`].
//!
//! **Invariants.** Every merge is computed in memory first
//! (`merge_commits`); a conflict is an error listing the paths, and then no
//! object, ref or file has been written. Plans are made from the refs as
//! fetched (`refs/remotes/<remote>/<branch>`), never from what HEAD is
//! attached to. A plan made twice on the same refs is the same plan, and a
//! merge commit made by an earlier run (the local branch is a merge of
//! exactly the same two commits) is reused, so re-running after a failure
//! part-way pushes the same commits.

use git2::build::CheckoutBuilder;
use git2::{ErrorCode, Oid, Signature};

use crate::changelog::ReleaseNotes;
use crate::date::Date;
use crate::git::{FailureKind, GitError, HistoryError, ReadOptions, Repo, id};
use crate::history::{BranchTip, CommitId};
use crate::plan::{NoRelease, Plan, PlanError, Request, plan};
use crate::remote::{GitCli, RemoteError};
use crate::version::{BumpOverride, Version};

/// Who makes tags and merge commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    name: String,
    email: String,
}

impl Identity {
    /// `name <email>`.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            email: email.into(),
        }
    }

    /// Who makes tags and merge commits according to `env`: git's
    /// `GIT_COMMITTER_NAME`/`GIT_COMMITTER_EMAIL`, else the author's; `None`
    /// leaves it to the repository's `user.name` and `user.email`.
    pub fn from_env(env: &pipeline_ci::Env) -> Option<Self> {
        ["COMMITTER", "AUTHOR"].iter().find_map(|who| {
            let name = env
                .get(&format!("GIT_{who}_NAME"))
                .filter(|v| !v.is_empty())?;
            let email = env
                .get(&format!("GIT_{who}_EMAIL"))
                .filter(|v| !v.is_empty())?;
            Some(Self::new(name, email))
        })
    }
}

/// How a branch is brought to a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MergeMode {
    /// Move the branch when the commit contains it (the default).
    #[default]
    FastForward,
    /// Always a merge commit, even when a fast-forward is possible.
    NoFastForward,
}

/// How `source` gets into `target`, from their ancestry: the pure decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integration {
    /// `target` already contains `source`.
    UpToDate,
    /// `source` contains `target`: move `target` to it.
    FastForward,
    /// They diverged: a merge commit.
    Merge,
}

/// The decision for `target` and `source` given whether each contains the
/// other (equal commits contain each other).
pub(crate) fn integration(
    target_contains_source: bool,
    source_contains_target: bool,
) -> Integration {
    if target_contains_source {
        Integration::UpToDate
    } else if source_contains_target {
        Integration::FastForward
    } else {
        Integration::Merge
    }
}

/// A failure of sync, release or hotfix. Each names the refs and commits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// Reading the history failed.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The release cannot be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The git command line failed against the remote.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// A shallow clone that fetching did not make complete.
    #[error(
        "{} is still a shallow clone after `git fetch --unshallow --tags {remote}`: nothing was \
         read from the cut history; fetch the whole history (`fetch-depth: 0` in actions/checkout)",
        .repo.display()
    )]
    StillShallow {
        /// The remote fetched from.
        remote: String,
        /// The repository.
        repo: std::path::PathBuf,
    },
    /// `--commit` does not name a commit.
    #[error("{rev:?} is not a commit in {}", .repo.display())]
    Revision {
        /// What was given.
        rev: String,
        /// The repository.
        repo: std::path::PathBuf,
        /// libgit2's reason.
        #[source]
        source: GitError,
    },
    /// The merge conflicts; nothing was changed.
    #[error(
        "merging {from} ({from_commit}) into {into} ({into_commit}) conflicts in: {}; nothing was changed",
        .paths.join(", ")
    )]
    Conflict {
        /// The branch merged in.
        from: String,
        /// Its commit.
        from_commit: CommitId,
        /// The branch merged into.
        into: String,
        /// Its commit.
        into_commit: CommitId,
        /// The conflicting paths, sorted.
        paths: Vec<String>,
    },
    /// The local branch and the remote's have diverged.
    #[error(
        "local branch {branch} at {local} and {remote_ref} at {remote} have diverged: reconcile them first"
    )]
    Diverged {
        /// The branch.
        branch: String,
        /// The local branch's commit.
        local: CommitId,
        /// `refs/remotes/<remote>/<branch>`.
        remote_ref: String,
        /// Its commit.
        remote: CommitId,
    },
    /// Moving the branch to the commit would drop commits it has.
    #[error("{branch} at {at} ({reference}) is not contained in commit {commit}: {hint}")]
    NotContained {
        /// The branch.
        branch: String,
        /// Where its commit was read.
        reference: String,
        /// Its commit.
        at: CommitId,
        /// The commit to release.
        commit: CommitId,
        /// What to do.
        hint: &'static str,
    },
    /// The commit to release is not on develop: neither contained in the
    /// remote's develop nor the local develop that `sync` leaves.
    #[error(
        "commit {commit} ({rev}) is not on {branch}: it is neither contained in {remote} \
         nor the local branch {branch} ({local}) that `pipeline-git sync` leaves; \
         refusing to release it (merge it into {branch} first, then sync, test and release)"
    )]
    NotOnDevelop {
        /// What was asked for (`HEAD`, `--commit`).
        rev: String,
        /// The commit.
        commit: CommitId,
        /// The develop branch.
        branch: String,
        /// `refs/remotes/<remote>/<develop> (<its commit or absent>)`.
        remote: String,
        /// The local branch's commit, or `(absent)`.
        local: String,
    },
    /// A local branch has commits the new value does not contain.
    #[error(
        "local branch {branch} at {local} is not contained in {target}: refusing to move it (commits would be lost)"
    )]
    LocalBranchAhead {
        /// The branch.
        branch: String,
        /// Its commit.
        local: CommitId,
        /// Where it would go.
        target: CommitId,
    },
    /// The tag exists at another commit (on the remote, or locally).
    #[error("tag {tag} already exists at commit {existing}, not at commit {commit}")]
    TagElsewhere {
        /// The tag.
        tag: String,
        /// The commit it points at.
        existing: CommitId,
        /// The commit to release.
        commit: CommitId,
    },
    /// The work tree could not be brought to the new commit.
    #[error("cannot check out {branch} in {}: commit or stash local changes first", .repo.display())]
    Checkout {
        /// The branch.
        branch: String,
        /// The repository.
        repo: std::path::PathBuf,
        /// libgit2's reason.
        #[source]
        source: GitError,
    },
    /// The remote's branches are no longer what was fetched.
    #[error(
        "remote {remote} moved since it was fetched ({}): nothing was pushed; fetch and re-run the release (sync, test, release)",
        .refs.join(", ")
    )]
    RemoteMoved {
        /// The remote.
        remote: String,
        /// The refs that moved or were refused.
        refs: Vec<String>,
    },
    /// The remote refused the push for another reason (a hook, a
    /// protected branch).
    #[error("remote {remote} refused the push ({}): nothing was pushed", .refs.join(", "))]
    PushRefused {
        /// The remote.
        remote: String,
        /// The refs and git's reasons.
        refs: Vec<String>,
    },
    /// A merge in a shallow clone, whose merge base may be cut off.
    #[error(
        "{} is a shallow clone: the merge base of {into} and {from} may be cut off, and a merge \
         without it would be wrong; fetch the whole history (`fetch-depth: 0` in \
         actions/checkout, `git fetch --unshallow --tags`, or --unshallow)",
        .repo.display()
    )]
    Shallow {
        /// The branch merged into.
        into: String,
        /// The branch merged in.
        from: String,
        /// The repository.
        repo: std::path::PathBuf,
    },
    /// The release's push failed (the network, credentials, a remote
    /// without atomic pushes) after the local tag and branches were made;
    /// `after` says what became of them.
    #[error("{}", after_failed_push(remote, tag, after))]
    PushFailed {
        /// The remote.
        remote: String,
        /// The release's tag.
        tag: String,
        /// What was done about the local release.
        after: AfterFailedPush,
        /// Why the push failed.
        #[source]
        source: Box<RemoteError>,
    },
    /// The push was refused, and the local tag and branches it made could
    /// not be undone.
    #[error("{refused}; and undoing the local tag and branches failed: {undo}")]
    NotUndone {
        /// Why the push was refused.
        refused: Box<FlowError>,
        /// Why undoing failed.
        undo: Box<FlowError>,
    },
    /// The hotfix branch to finish is not known.
    #[error(
        "no hotfix to finish: HEAD is not on a branch {prefix}NAME; name it (`hotfix finish NAME`)"
    )]
    NoHotfix {
        /// `hotfix/`.
        prefix: String,
    },
    /// Writing to the repository failed.
    #[error("cannot write {what} in {}", .repo.display())]
    Write {
        /// What (`tag v1.3.0`, `refs/heads/develop`).
        what: String,
        /// The repository.
        repo: std::path::PathBuf,
        /// libgit2's reason.
        #[source]
        source: GitError,
    },
}

impl FlowError {
    /// How this failure counts: [`FailureKind::Refused`] when the step said
    /// no and nothing was changed (a conflict, diverged branches, a commit
    /// not on develop, the remote moved, a tag elsewhere, a push the remote
    /// refused), [`FailureKind::External`] when the remote failed,
    /// [`FailureKind::Input`] otherwise.
    pub fn kind(&self) -> FailureKind {
        match self {
            FlowError::History(e) => e.kind(),
            FlowError::Plan(e) => e.kind(),
            FlowError::Remote(e) => e.kind(),
            FlowError::PushFailed { source, .. } => source.kind(),
            FlowError::Conflict { .. }
            | FlowError::Diverged { .. }
            | FlowError::NotContained { .. }
            | FlowError::NotOnDevelop { .. }
            | FlowError::LocalBranchAhead { .. }
            | FlowError::TagElsewhere { .. }
            | FlowError::RemoteMoved { .. }
            | FlowError::PushRefused { .. } => FailureKind::Refused,
            FlowError::Revision { .. }
            | FlowError::StillShallow { .. }
            | FlowError::Checkout { .. }
            | FlowError::Shallow { .. }
            | FlowError::NoHotfix { .. }
            | FlowError::NotUndone { .. }
            | FlowError::Write { .. } => FailureKind::Input,
        }
    }
}

/// What became of the local tag and branches after a push that failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum AfterFailedPush {
    /// The remote holds the release after all (the reply was lost after
    /// the server applied it): kept; a re-run reports it.
    Landed,
    /// The remote is known not to have it: undone.
    Undone,
    /// The remote is known not to have it, but undoing failed.
    UndoFailed(Box<FlowError>),
    /// The remote cannot be read to tell: kept, so that a re-run on the
    /// same commit finds the tag and finishes this release.
    Kept,
}

fn after_failed_push(remote: &str, tag: &str, after: &AfterFailedPush) -> String {
    match after {
        AfterFailedPush::Landed => format!(
            "the push reported a failure, but {remote} holds the release: re-run the release to report it"
        ),
        AfterFailedPush::Undone => format!(
            "nothing was pushed to {remote}; the local tag {tag} and branch moves were undone"
        ),
        AfterFailedPush::UndoFailed(undo) => format!(
            "nothing was pushed to {remote}, and undoing the local tag and branches failed: {undo}"
        ),
        AfterFailedPush::Kept => format!(
            "{remote} cannot be read to tell whether the push landed: the local tag {tag} and \
             branches are kept; re-run the release on the same commit to finish it"
        ),
    }
}

/// Where a branch goes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// An existing commit (unchanged, a fast-forward, a merge commit made
    /// by an earlier run).
    Commit(CommitId),
    /// A merge commit to make: `from` merged into `into`.
    Merge {
        /// The first parent (the branch's commit).
        into: CommitId,
        /// The second parent.
        from: CommitId,
        /// Its message.
        message: String,
    },
}

/// One branch of a release: where the remote has it, where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchUpdate {
    branch: String,
    remote_ref: String,
    expected: Option<CommitId>,
    target: Target,
}

impl BranchUpdate {
    /// The branch name.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// `refs/heads/<branch>`.
    pub fn reference(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    /// Where the remote's commit was read (`refs/remotes/origin/master`).
    pub fn remote_ref(&self) -> &str {
        &self.remote_ref
    }

    /// The remote's commit as fetched: the push's compare-and-swap value
    /// (`None`: the branch must not exist on the remote).
    pub fn expected(&self) -> Option<&CommitId> {
        self.expected.as_ref()
    }

    /// Where it goes.
    pub fn target(&self) -> &Target {
        &self.target
    }
}

/// A release to make, or to finish, on the local repository and the
/// remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePlan {
    commit: CommitId,
    tag: String,
    version: Version,
    previous_tag: Option<String>,
    notes: Option<String>,
    tag_exists: bool,
    develop: BranchUpdate,
    master: BranchUpdate,
}

impl ReleasePlan {
    /// The commit the tag goes on.
    pub fn commit(&self) -> &CommitId {
        &self.commit
    }

    /// The tag's name.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// `refs/tags/<tag>`.
    pub fn tag_ref(&self) -> String {
        format!("refs/tags/{}", self.tag)
    }

    /// The version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The release before it.
    pub fn previous_tag(&self) -> Option<&str> {
        self.previous_tag.as_deref()
    }

    /// The release notes: of the tag to make, or, when the tag exists
    /// already (an earlier run made it), its message (`None` for a
    /// lightweight tag).
    pub fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    /// Whether the tag exists already (an earlier run made it): then it is
    /// not made again, and [`ReleasePlan::notes`] are its message.
    pub fn tag_exists(&self) -> bool {
        self.tag_exists
    }

    /// The develop branch.
    pub fn develop(&self) -> &BranchUpdate {
        &self.develop
    }

    /// The main branch.
    pub fn master(&self) -> &BranchUpdate {
        &self.master
    }
}

/// Either a release plan or why there is none.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum ReleaseDecision {
    /// Nothing to release since the last tag.
    Nothing {
        /// The version plan saying so.
        plan: Plan,
        /// Why.
        why: NoRelease,
    },
    /// A release to make or finish.
    Release(ReleasePlan),
}

/// What `release` is asked.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    request: Request,
    commit: Option<String>,
    merge: MergeMode,
    date: Date,
}

impl ReleaseRequest {
    /// A release of HEAD per `request`, notes dated `date`, master
    /// fast-forwarded.
    pub fn new(request: Request, date: Date) -> Self {
        Self {
            request,
            commit: None,
            merge: MergeMode::FastForward,
            date,
        }
    }

    /// The commit to release instead of HEAD (any revision).
    #[must_use]
    pub fn commit(mut self, rev: impl Into<String>) -> Self {
        self.commit = Some(rev.into());
        self
    }

    /// How master is brought to the release.
    #[must_use]
    pub fn merge(mut self, mode: MergeMode) -> Self {
        self.merge = mode;
        self
    }
}

/// What sync found and will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPlan {
    develop: BranchTip,
    master: BranchTip,
    integration: Integration,
    message: String,
    checked_out: bool,
}

impl SyncPlan {
    /// The develop branch before the merge.
    pub fn develop(&self) -> &BranchTip {
        &self.develop
    }

    /// The main branch merged in.
    pub fn master(&self) -> &BranchTip {
        &self.master
    }

    /// Up to date, fast-forward or merge.
    pub fn integration(&self) -> Integration {
        self.integration
    }

    /// The merge commit's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether nothing at all is left to do (develop is up to date and
    /// checked out).
    pub fn is_noop(&self) -> bool {
        self.integration == Integration::UpToDate && self.checked_out
    }
}

/// What `Repo::apply_release` did locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    /// Whether the tag was made now.
    pub(crate) tag_created: bool,
    /// The develop commit to push.
    pub(crate) develop: CommitId,
    /// The master commit to push.
    pub(crate) master: CommitId,
    /// Local refs moved now, with their previous value (`None`: created),
    /// to undo them if the push is refused.
    pub(crate) moved: Vec<(String, Option<CommitId>)>,
}

fn oid(id: &CommitId) -> Oid {
    Oid::from_str(id.as_str()).unwrap_or(Oid::ZERO_SHA1)
}

impl Repo {
    fn write_error(&self, what: impl Into<String>) -> impl FnOnce(git2::Error) -> FlowError + '_ {
        let what = what.into();
        move |source| FlowError::Write {
            what,
            repo: self.path.clone(),
            source: source.into(),
        }
    }

    fn read(&self, what: impl Into<String>) -> impl FnOnce(git2::Error) -> FlowError + '_ {
        let what = what.into();
        move |source| FlowError::History(self.read_error(what, source))
    }

    fn ref_oid(&self, name: &str) -> Result<Option<Oid>, FlowError> {
        match self.repo.find_reference(name) {
            Ok(r) => Ok(Some(
                r.peel_to_commit()
                    .map_err(self.read(format!("ref {name}")))?
                    .id(),
            )),
            Err(e) if e.code() == ErrorCode::NotFound || e.code() == ErrorCode::InvalidSpec => {
                Ok(None)
            }
            Err(e) => Err(self.read(format!("ref {name}"))(e)),
        }
    }

    /// Whether `a` contains `b` (equal counts).
    fn contains(&self, a: Oid, b: Oid) -> Result<bool, FlowError> {
        Ok(a == b
            || self
                .repo
                .graph_descendant_of(a, b)
                .map_err(self.read(format!("the ancestry of {a} and {b}")))?)
    }

    fn signature(&self, identity: Option<&Identity>) -> Result<Signature<'static>, FlowError> {
        let made = match identity {
            Some(i) => Signature::now(&i.name, &i.email),
            None => self
                .repo
                .signature()
                .or_else(|_| Signature::now("pipeline-git", "pipeline-git@localhost")),
        };
        made.map_err(self.write_error("a signature"))
    }

    /// The branch to build on: the local branch when it contains the
    /// remote's (an earlier run's work, a developer's commits), else the
    /// remote's; diverged is an error.
    pub(crate) fn working_tip(&self, remote: &str, branch: &str) -> Result<BranchTip, FlowError> {
        let remote_ref = format!("refs/remotes/{remote}/{branch}");
        let local_ref = format!("refs/heads/{branch}");
        let tip = self.branch_tip(remote, branch)?;
        let (Some(local), Some(theirs)) = (self.ref_oid(&local_ref)?, self.ref_oid(&remote_ref)?)
        else {
            return Ok(tip);
        };
        if self.contains(local, theirs)? {
            Ok(BranchTip::new(branch, local_ref, id(local)))
        } else if self.contains(theirs, local)? {
            Ok(tip)
        } else {
            Err(FlowError::Diverged {
                branch: branch.to_owned(),
                local: id(local),
                remote_ref,
                remote: id(theirs),
            })
        }
    }

    /// Merges `from` into `into` in memory; the conflicting paths as an
    /// error, else the index of the result.
    fn merge_in_memory(
        &self,
        into: (&str, Oid),
        from: (&str, Oid),
    ) -> Result<git2::Index, FlowError> {
        if self.repo.is_shallow() {
            return Err(FlowError::Shallow {
                into: into.0.to_owned(),
                from: from.0.to_owned(),
                repo: self.path.clone(),
            });
        }
        let ours = self
            .repo
            .find_commit(into.1)
            .map_err(self.read(format!("commit {}", into.1)))?;
        let theirs = self
            .repo
            .find_commit(from.1)
            .map_err(self.read(format!("commit {}", from.1)))?;
        let index = self
            .repo
            .merge_commits(&ours, &theirs, None)
            .map_err(self.read(format!("the merge of {} into {}", from.0, into.0)))?;
        if index.has_conflicts() {
            let mut paths: Vec<String> = index
                .conflicts()
                .map_err(self.read("the conflicts"))?
                .filter_map(Result::ok)
                .flat_map(|c| [c.our, c.their, c.ancestor])
                .flatten()
                .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
                .collect();
            paths.sort();
            paths.dedup();
            return Err(FlowError::Conflict {
                from: from.0.to_owned(),
                from_commit: id(from.1),
                into: into.0.to_owned(),
                into_commit: id(into.1),
                paths,
            });
        }
        Ok(index)
    }

    /// Makes the merge commit of `from` into `into`.
    fn merge_commit(
        &self,
        into: (&str, Oid),
        from: (&str, Oid),
        message: &str,
        identity: Option<&Identity>,
    ) -> Result<Oid, FlowError> {
        let mut index = self.merge_in_memory(into, from)?;
        let what = format!("the merge of {} into {}", from.0, into.0);
        let tree = index
            .write_tree_to(&self.repo)
            .map_err(self.write_error(what.clone()))?;
        let tree = self
            .repo
            .find_tree(tree)
            .map_err(self.write_error(what.clone()))?;
        let parents = [
            &self
                .repo
                .find_commit(into.1)
                .map_err(self.write_error(what.clone()))?,
            &self
                .repo
                .find_commit(from.1)
                .map_err(self.write_error(what.clone()))?,
        ];
        let sig = self.signature(identity)?;
        self.repo
            .commit(None, &sig, &sig, message, &tree, &parents)
            .map_err(self.write_error(what))
    }

    /// Points `refs/heads/<branch>` at `target`, checks it out when HEAD is
    /// on it (or when `checkout`), safely: local changes in the way stop it
    /// before anything is written.
    fn set_branch(&self, branch: &str, target: Oid, checkout: bool) -> Result<(), FlowError> {
        let refname = format!("refs/heads/{branch}");
        let head_ref = self
            .repo
            .find_reference("HEAD")
            .ok()
            .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_owned));
        let attached = head_ref.as_deref() == Some(refname.as_str());
        let head = self.repo.head().ok().and_then(|h| h.target());
        if (checkout || attached) && head != Some(target) {
            let commit = self
                .repo
                .find_commit(target)
                .map_err(self.read(format!("commit {target}")))?;
            self.repo
                .checkout_tree(commit.as_object(), Some(CheckoutBuilder::new().safe()))
                .map_err(|source| FlowError::Checkout {
                    branch: branch.to_owned(),
                    repo: self.path.clone(),
                    source: source.into(),
                })?;
        }
        if self.ref_oid(&refname)? != Some(target) {
            self.repo
                .reference(&refname, target, true, "pipeline-git")
                .map_err(self.write_error(refname.clone()))?;
        }
        if checkout && !attached {
            self.repo
                .set_head(&refname)
                .map_err(self.write_error("HEAD"))?;
        }
        Ok(())
    }

    /// Plans merging the main branch into develop: both read from the
    /// remote's refs (develop from the local branch when it is ahead:
    /// an earlier sync), the merge computed in memory.
    ///
    /// # Errors
    ///
    /// [`FlowError::Conflict`] listing the paths; [`FlowError`] naming the
    /// refs otherwise.
    pub fn plan_sync(&self, options: &ReadOptions) -> Result<SyncPlan, FlowError> {
        let develop = self.working_tip(options.remote_name(), options.develop_branch_name())?;
        let master = self.branch_tip(options.remote_name(), options.main_branch_name())?;
        let (d, m) = (oid(develop.commit()), oid(master.commit()));
        let integration = integration(self.contains(d, m)?, self.contains(m, d)?);
        if integration == Integration::Merge {
            self.merge_in_memory((develop.name(), d), (master.name(), m))?;
        }
        let result = match integration {
            Integration::FastForward => Some(m),
            Integration::UpToDate => Some(d),
            Integration::Merge => None,
        };
        let head_ref = self
            .repo
            .find_reference("HEAD")
            .ok()
            .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_owned));
        let local = format!("refs/heads/{}", develop.name());
        let checked_out = result.is_some()
            && head_ref.as_deref() == Some(local.as_str())
            && self.ref_oid(&local)? == result;
        Ok(SyncPlan {
            message: format!("Merge branch '{}' into {}", master.name(), develop.name()),
            develop,
            master,
            integration,
            checked_out,
        })
    }

    /// Carries out `plan`: the merge commit if needed, the local develop
    /// branch created or moved, and checked out. Returns its commit.
    ///
    /// # Errors
    ///
    /// [`FlowError`]; on a conflict or local changes in the way nothing was
    /// written.
    pub fn sync(
        &self,
        plan: &SyncPlan,
        identity: Option<&Identity>,
    ) -> Result<CommitId, FlowError> {
        let (d, m) = (oid(plan.develop.commit()), oid(plan.master.commit()));
        let target = match plan.integration {
            Integration::UpToDate => d,
            Integration::FastForward => m,
            Integration::Merge => self.merge_commit(
                (plan.develop.name(), d),
                (plan.master.name(), m),
                &plan.message,
                identity,
            )?,
        };
        self.set_branch(plan.develop.name(), target, true)?;
        Ok(id(target))
    }

    /// Creates `hotfix/<name>` (or whatever `branch` is) at the main
    /// branch and checks it out; an existing branch is only checked out.
    /// Returns the branch's commit and whether it was created.
    ///
    /// # Errors
    ///
    /// [`FlowError`] naming the refs.
    pub fn start_branch(
        &self,
        options: &ReadOptions,
        branch: &str,
        dry_run: bool,
    ) -> Result<(CommitId, bool), FlowError> {
        let refname = format!("refs/heads/{branch}");
        if !git2::Reference::is_valid_name(&refname) {
            return Err(HistoryError::InvalidRefName { name: refname }.into());
        }
        let existing = self.ref_oid(&refname)?;
        let start = match existing {
            Some(at) => at,
            None => oid(self
                .branch_tip(options.remote_name(), options.main_branch_name())?
                .commit()),
        };
        if !dry_run {
            self.set_branch(branch, start, true)?;
        }
        Ok((id(start), existing.is_none()))
    }

    /// The URL `git push` uses for `remote` (its push URL, else its URL).
    pub fn remote_url(&self, remote: &str) -> Option<String> {
        let remote = self.repo.find_remote(remote).ok()?;
        let push = remote.pushurl().ok().flatten();
        push.or_else(|| remote.url().ok()).map(str::to_owned)
    }

    /// The branch HEAD is attached to, if any.
    pub fn current_branch(&self) -> Option<String> {
        self.repo
            .find_reference("HEAD")
            .ok()?
            .symbolic_target()
            .ok()??
            .strip_prefix("refs/heads/")
            .map(str::to_owned)
    }

    /// Where `branch` goes so that it contains `source`.
    fn branch_update(
        &self,
        remote: &str,
        branch: &str,
        source: (&str, Oid),
        mode: UpdateMode,
    ) -> Result<BranchUpdate, FlowError> {
        let remote_ref = format!("refs/remotes/{remote}/{branch}");
        let expected = self.ref_oid(&remote_ref)?;
        let update = |target| BranchUpdate {
            branch: branch.to_owned(),
            remote_ref: remote_ref.clone(),
            expected: expected.map(id),
            target,
        };
        let Some(current) = expected else {
            return Ok(update(Target::Commit(id(source.1))));
        };
        let how = integration(
            self.contains(current, source.1)?,
            self.contains(source.1, current)?,
        );
        let not_contained = |hint| FlowError::NotContained {
            branch: branch.to_owned(),
            reference: remote_ref.clone(),
            at: id(current),
            commit: id(source.1),
            hint,
        };
        let merge = || -> Result<Target, FlowError> {
            let local = self.ref_oid(&format!("refs/heads/{branch}"))?;
            // An earlier run's merge commit of the same two commits.
            if let Some(local) = local {
                let commit = self
                    .repo
                    .find_commit(local)
                    .map_err(self.read(format!("commit {local}")))?;
                if commit.parent_ids().collect::<Vec<_>>() == [current, source.1] {
                    return Ok(Target::Commit(id(local)));
                }
            }
            self.merge_in_memory((branch, current), source)?;
            Ok(Target::Merge {
                into: id(current),
                from: id(source.1),
                message: format!("Merge {} into {branch}", source.0),
            })
        };
        let target = match (how, mode) {
            (Integration::UpToDate, _) => Target::Commit(id(current)),
            (Integration::FastForward, UpdateMode::NoFastForward) => merge()?,
            (Integration::FastForward, _) => Target::Commit(id(source.1)),
            (Integration::Merge, UpdateMode::Advance) => {
                return Err(not_contained(
                    "pushing it would drop commits: release the commit that was synced and tested",
                ));
            }
            (Integration::Merge, UpdateMode::FastForward) => {
                return Err(not_contained(
                    "run `pipeline-git sync` and test its result first, or release with --merge no-ff",
                ));
            }
            (Integration::Merge, _) => merge()?,
        };
        Ok(update(target))
    }

    /// Plans the release of the checked-out commit (or `request`'s
    /// `--commit`): its version and notes from the history since the last
    /// release, develop brought to it, master brought to it (fast-forward or
    /// merge commit), each with the remote's value as fetched. A commit that
    /// already carries its release tag (an earlier run) gives that release
    /// again, so a re-run finishes or repeats it.
    ///
    /// # Errors
    ///
    /// [`FlowError`] naming the refs and commits.
    pub fn plan_release(
        &self,
        options: &ReadOptions,
        request: &ReleaseRequest,
    ) -> Result<ReleaseDecision, FlowError> {
        let rev = request.commit.clone().unwrap_or_else(|| "HEAD".to_owned());
        let commit = self
            .repo
            .revparse_single(&rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|source| FlowError::Revision {
                rev: rev.clone(),
                repo: self.path.clone(),
                source: source.into(),
            })?
            .id();
        // Only what is on develop: contained in the remote's develop, or
        // exactly the local develop that `sync` left (its merge result).
        let develop = options.develop_branch_name();
        let remote_ref = format!("refs/remotes/{}/{develop}", options.remote_name());
        let theirs = self.ref_oid(&remote_ref)?;
        let local = self.ref_oid(&format!("refs/heads/{develop}"))?;
        let on_develop = match theirs {
            Some(theirs) => self.contains(theirs, commit)?,
            None => false,
        } || local == Some(commit);
        if !on_develop {
            let show = |o: Option<Oid>| o.map_or_else(|| "(absent)".to_owned(), |o| o.to_string());
            return Err(FlowError::NotOnDevelop {
                rev,
                commit: id(commit),
                branch: develop.to_owned(),
                remote: format!("{remote_ref} ({})", show(theirs)),
                local: show(local),
            });
        }
        let tip = BranchTip::new(rev.as_str(), rev.as_str(), id(commit));
        self.plan_tagging(
            options,
            tip,
            &request.request,
            request.date,
            (
                UpdateMode::Advance,
                options.develop_branch_name().to_owned(),
            ),
            request.merge.into(),
        )
    }

    /// Plans finishing hotfix branch `branch`: a patch release tagged on
    /// its tip, merged into master (fast-forward by default) and develop.
    ///
    /// # Errors
    ///
    /// [`FlowError`] naming the refs and commits.
    pub fn plan_hotfix_finish(
        &self,
        options: &ReadOptions,
        branch: &str,
        request: &Request,
        date: Date,
        merge: MergeMode,
    ) -> Result<ReleaseDecision, FlowError> {
        let tip = self.working_tip(options.remote_name(), branch)?;
        let request = request
            .clone()
            .bump(BumpOverride::Bump(crate::version::Bump::Patch));
        self.plan_tagging(
            options,
            tip,
            &request,
            date,
            (UpdateMode::Merge, branch.to_owned()),
            merge.into(),
        )
    }

    fn plan_tagging(
        &self,
        options: &ReadOptions,
        tip: BranchTip,
        request: &Request,
        date: Date,
        develop_mode: (UpdateMode, String),
        master_mode: UpdateMode,
    ) -> Result<ReleaseDecision, FlowError> {
        let commit = oid(tip.commit());
        let format = request.tag_format();
        let wants_pre = request.pre_release_channel();
        // A release tag an earlier run put on this very commit.
        let existing = self
            .tags_with_oids(format)?
            .into_iter()
            .filter(|(at, tag)| {
                *at == commit
                    && match wants_pre {
                        None => tag.is_final(),
                        Some(channel) => channel.number_of(tag.version()).is_some(),
                    }
            })
            .map(|(_, tag)| tag)
            .next();
        let (tag, version, previous_tag, notes, tag_exists) = match existing {
            Some(tag) => {
                // The release before it: the newest base among its parents.
                let parents: Vec<Oid> = self
                    .repo
                    .find_commit(commit)
                    .map(|c| c.parent_ids().collect())
                    .unwrap_or_default();
                let previous = parents
                    .into_iter()
                    .filter_map(|parent| {
                        self.history_at(BranchTip::new("parent", "parent", id(parent)), format)
                            .ok()
                            .and_then(|h| h.base().cloned())
                    })
                    .max_by(|a, b| a.version().cmp(b.version()))
                    .map(|t| t.name().to_owned());
                // The notes: the annotated tag's message (none for a
                // lightweight tag).
                let notes = self
                    .repo
                    .find_reference(&format!("refs/tags/{}", tag.name()))
                    .ok()
                    .and_then(|r| r.peel_to_tag().ok())
                    .and_then(|t| {
                        t.message_bytes()
                            .map(|m| String::from_utf8_lossy(m).into_owned())
                    });
                (
                    tag.name().to_owned(),
                    tag.version().clone(),
                    previous,
                    notes,
                    true,
                )
            }
            None => {
                let history = self.history_at(tip.clone(), format)?;
                let plan = plan(&history, request)?;
                let release = match plan.release() {
                    Ok(release) => release.clone(),
                    Err(why) => {
                        return Ok(ReleaseDecision::Nothing { plan, why });
                    }
                };
                let notes = ReleaseNotes::new(&plan, date).map(|n| n.to_markdown());
                (
                    release.tag().to_owned(),
                    release.version().clone(),
                    plan.previous().map(|t| t.name().to_owned()),
                    notes,
                    false,
                )
            }
        };
        let source = (tip.name(), commit);
        let develop = self.branch_update(
            options.remote_name(),
            options.develop_branch_name(),
            (develop_mode.1.as_str(), commit),
            develop_mode.0,
        )?;
        let master = self.branch_update(
            options.remote_name(),
            options.main_branch_name(),
            source,
            master_mode,
        )?;
        Ok(ReleaseDecision::Release(ReleasePlan {
            commit: id(commit),
            tag,
            version,
            previous_tag,
            notes,
            tag_exists,
            develop,
            master,
        }))
    }

    /// Makes the local part of `plan`: the annotated tag (message: the
    /// notes), merge commits, and the local branches moved (created when
    /// missing, checked out again when HEAD is on them).
    ///
    /// # Errors
    ///
    /// [`FlowError`]; [`FlowError::LocalBranchAhead`] rather than dropping
    /// a local branch's commits.
    pub(crate) fn apply_release(
        &self,
        plan: &ReleasePlan,
        identity: Option<&Identity>,
    ) -> Result<Applied, FlowError> {
        let commit = oid(&plan.commit);
        let resolve = |update: &BranchUpdate| -> Result<Oid, FlowError> {
            match &update.target {
                Target::Commit(c) => Ok(oid(c)),
                Target::Merge {
                    into,
                    from,
                    message,
                } => self.merge_commit(
                    (update.branch(), oid(into)),
                    ("the release", oid(from)),
                    message,
                    identity,
                ),
            }
        };
        let develop = resolve(&plan.develop)?;
        let master = resolve(&plan.master)?;
        // Check both branches before moving either.
        let mut moves = Vec::new();
        for (update, target) in [(&plan.develop, develop), (&plan.master, master)] {
            let local = self.ref_oid(&update.reference())?;
            match local {
                Some(at) if at == target => {}
                Some(at) if self.contains(target, at)? => moves.push((update, Some(at), target)),
                Some(at) => {
                    return Err(FlowError::LocalBranchAhead {
                        branch: update.branch.clone(),
                        local: id(at),
                        target: id(target),
                    });
                }
                None => moves.push((update, None, target)),
            }
        }
        let tag_created = if plan.tag_exists {
            false
        } else {
            let object = self
                .repo
                .find_object(commit, None)
                .map_err(self.read(format!("commit {commit}")))?;
            let sig = self.signature(identity)?;
            self.repo
                .tag(
                    &plan.tag,
                    &object,
                    &sig,
                    plan.notes.as_deref().unwrap_or_default(),
                    false,
                )
                .map_err(self.write_error(format!("tag {}", plan.tag)))?;
            true
        };
        let mut applied = Applied {
            tag_created,
            develop: id(develop),
            master: id(master),
            moved: Vec::new(),
        };
        for (update, before, target) in moves {
            if let Err(error) = self.set_branch(update.branch(), target, false) {
                // Roll back what was done: no half-made release stays.
                if let Err(undo) = self.undo_release(plan, &applied) {
                    tracing::error!("cannot undo the local release after an error: {undo}");
                }
                return Err(error);
            }
            applied.moved.push((update.reference(), before.map(id)));
        }
        Ok(applied)
    }

    /// After a push that landed: the remote-tracking refs of develop and
    /// master set to what was pushed (git does it itself on a push whose
    /// reply arrived; not when the reply was lost).
    ///
    /// # Errors
    ///
    /// [`FlowError::Write`].
    pub(crate) fn record_pushed(
        &self,
        plan: &ReleasePlan,
        applied: &Applied,
    ) -> Result<(), FlowError> {
        for (update, commit) in [
            (&plan.develop, &applied.develop),
            (&plan.master, &applied.master),
        ] {
            if self.ref_oid(&update.remote_ref)? != Some(oid(commit)) {
                self.repo
                    .reference(
                        &update.remote_ref,
                        oid(commit),
                        true,
                        "pipeline-git: pushed",
                    )
                    .map_err(self.write_error(update.remote_ref.clone()))?;
            }
        }
        Ok(())
    }

    /// The object a ref points at, unpeeled (an annotated tag's object id
    /// for a tag), if the ref exists.
    pub(crate) fn ref_target(&self, name: &str) -> Option<CommitId> {
        self.repo
            .find_reference(name)
            .ok()
            .and_then(|r| r.resolve().ok())
            .and_then(|r| r.target())
            .map(id)
    }

    /// Undoes `Repo::apply_release` after a refused push: deletes the tag
    /// it made and puts the branches it moved back.
    ///
    /// # Errors
    ///
    /// [`FlowError::Write`].
    pub(crate) fn undo_release(
        &self,
        plan: &ReleasePlan,
        applied: &Applied,
    ) -> Result<(), FlowError> {
        if applied.tag_created {
            self.repo
                .tag_delete(&plan.tag)
                .map_err(self.write_error(format!("tag {}", plan.tag)))?;
        }
        for (reference, before) in &applied.moved {
            let branch = reference.trim_start_matches("refs/heads/");
            match before {
                Some(before) => self.set_branch(branch, oid(before), false)?,
                None => {
                    let attached = self.current_branch().as_deref() == Some(branch);
                    if !attached {
                        self.repo
                            .find_reference(reference)
                            .and_then(|mut r| r.delete())
                            .map_err(self.write_error(reference.clone()))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// What [`Repo::deepen`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Deepened {
    /// The clone was not shallow: nothing fetched.
    NotShallow,
    /// The whole history was fetched.
    Fetched,
}

impl Repo {
    /// Deepens a shallow clone: `git fetch --unshallow --tags <remote>`,
    /// then each of `branches` the remote has and the clone has no
    /// remote-tracking ref for (a single-branch clone has no
    /// `<remote>/master`), into `refs/remotes/<remote>/<branch>`.
    ///
    /// Takes the repository and gives it back opened again: libgit2 reads
    /// the shallow boundary when a repository is opened and keeps hiding
    /// the parents of the old boundary commits afterwards, so a handle
    /// opened before the fetch would still see the history cut. A
    /// repository still shallow after the fetch is an error: nothing is
    /// ever read from a history that may be cut.
    ///
    /// # Errors
    ///
    /// [`FlowError::Remote`] when git fails against the remote,
    /// [`FlowError::StillShallow`], [`FlowError::History`] when the
    /// repository cannot be opened again.
    pub fn deepen(self, git: &GitCli, branches: &[&str]) -> Result<(Repo, Deepened), FlowError> {
        if !self.is_shallow() {
            return Ok((self, Deepened::NotShallow));
        }
        git.fetch_unshallow()?;
        let remote = git.remote().to_owned();
        let missing: Vec<String> = branches
            .iter()
            .filter(|branch| {
                let tracking = format!("refs/remotes/{remote}/{branch}");
                self.repo.find_reference(&tracking).is_err()
            })
            .map(|branch| format!("refs/heads/{branch}"))
            .collect();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(String::as_str).collect();
            let present = git.ls_remote(&names)?;
            let refspecs: Vec<String> = missing
                .iter()
                .filter(|name| present.contains_key(name.as_str()))
                .map(|name| {
                    let branch = name.trim_start_matches("refs/heads/");
                    format!("+{name}:refs/remotes/{remote}/{branch}")
                })
                .collect();
            if !refspecs.is_empty() {
                git.fetch(&refspecs)?;
            }
        }
        let path = self.path.clone();
        drop(self);
        let reopened = Repo::open(&path)?;
        if reopened.is_shallow() {
            return Err(FlowError::StillShallow { remote, repo: path });
        }
        Ok((reopened, Deepened::Fetched))
    }
}

/// What the remote holds, compared with a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RemoteState {
    /// The tag, develop and master are where the plan puts them: an
    /// earlier run finished the release.
    Released,
    /// Still to push.
    Pending,
    /// Branches that are no longer what was fetched (`refs/heads/develop`).
    Moved(Vec<String>),
}

/// Compares `remote` (`git ls-remote` of the plan's branches and tag) with
/// `plan`: pure.
///
/// # Errors
///
/// [`FlowError::TagElsewhere`] when the remote has the tag at another
/// commit.
pub(crate) fn remote_state(
    plan: &ReleasePlan,
    remote: &std::collections::BTreeMap<String, String>,
) -> Result<RemoteState, FlowError> {
    let tag_ref = plan.tag_ref();
    let tag_commit = remote
        .get(&format!("{tag_ref}^{{}}"))
        .or_else(|| remote.get(&tag_ref));
    if let Some(at) = tag_commit
        && at != plan.commit.as_str()
    {
        return Err(FlowError::TagElsewhere {
            tag: plan.tag.clone(),
            existing: CommitId::new(at.clone()),
            commit: plan.commit.clone(),
        });
    }
    let at = |update: &BranchUpdate| remote.get(&update.reference()).map(String::as_str);
    let moved: Vec<String> = [&plan.develop, &plan.master]
        .into_iter()
        .filter(|u| at(u) != u.expected.as_ref().map(CommitId::as_str))
        .map(BranchUpdate::reference)
        .collect();
    let done =
        |u: &BranchUpdate| matches!(&u.target, Target::Commit(c) if at(u) == Some(c.as_str()));
    if tag_commit.is_some() && done(&plan.develop) && done(&plan.master) {
        Ok(RemoteState::Released)
    } else if moved.is_empty() {
        Ok(RemoteState::Pending)
    } else {
        Ok(RemoteState::Moved(moved))
    }
}

/// How a release moves a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpdateMode {
    /// Unchanged or fast-forward; diverged is an error (develop in a release).
    Advance,
    /// Fast-forward; diverged is an error naming `sync` (master).
    FastForward,
    /// Always a merge commit unless up to date (master with `--merge no-ff`).
    NoFastForward,
    /// Fast-forward or a merge commit (develop in a hotfix).
    Merge,
}

impl From<MergeMode> for UpdateMode {
    fn from(mode: MergeMode) -> Self {
        match mode {
            MergeMode::FastForward => Self::FastForward,
            MergeMode::NoFastForward => Self::NoFastForward,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_covers_every_ancestry() {
        assert_eq!(integration(true, false), Integration::UpToDate);
        assert_eq!(integration(true, true), Integration::UpToDate);
        assert_eq!(integration(false, true), Integration::FastForward);
        assert_eq!(integration(false, false), Integration::Merge);
    }
}
