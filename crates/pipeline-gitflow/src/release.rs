//! The release transaction: a planned release made on the remote, all or
//! nothing.
//!
//! [`Repo::release`] plans ([`Repo::plan_release`]) and publishes;
//! [`Repo::publish_release`] publishes a plan made beforehand (a hotfix's,
//! [`Repo::plan_hotfix_finish`], or one a caller showed first):
//!
//! 1. **Read the remote** (`git ls-remote` of both branches and the tag).
//!    It holds the release already (an earlier run finished it):
//!    [`ReleaseOutcome::AlreadyReleased`], nothing pushed. The tag is there
//!    at another commit: [`FlowError::TagElsewhere`]. A branch is no longer
//!    what was fetched: [`FlowError::RemoteMoved`]. Nothing local has been
//!    made yet.
//! 2. **A dry run stops here**: [`ReleaseOutcome::Planned`].
//! 3. **The local part**: the annotated tag carrying the notes, merge
//!    commits if any, the local branches moved (undone if a move fails).
//! 4. **One atomic push** (`git push --atomic`, `--force-with-lease` on
//!    every ref): develop, master and the tag (not the tag when the remote
//!    has it on the release commit already). All move or none does.
//! 5. **Refused** (the push's per-ref [`Rejection`]s, typed once): the
//!    local part is undone; [`FlowError::RemoteMoved`] when a ref moved
//!    ([`Rejection::remote_moved`]), [`FlowError::PushRefused`] otherwise
//!    (a hook, a protected branch). **Failed** (network after retries,
//!    credentials, no atomic push): the remote is read again and
//!    [`FlowError::PushFailed`] says what became of the local part
//!    ([`AfterFailedPush`]): the remote holds the release (the reply was
//!    lost) → kept; known not to → undone; unreadable → kept, so that a
//!    re-run on the same commit finds the tag and finishes this release.
//! 6. **Pushed**: the remote-tracking refs follow;
//!    [`ReleaseOutcome::Released`] (or `AlreadyReleased` when every ref
//!    was up to date).
//!
//! Every failure is a [`FlowError`] whose [`FlowError::kind`] says how it
//! counts: the step saying no ([`FailureKind::Refused`]: the remote moved,
//! a conflict, a tag elsewhere), the input, or the remote failing.
//!
//! [`FailureKind::Refused`]: crate::FailureKind::Refused

use crate::flow::{
    AfterFailedPush, Applied, FlowError, Identity, ReleaseDecision, ReleasePlan, ReleaseRequest,
    RemoteState, remote_state,
};
use crate::git::{ReadOptions, Repo};
use crate::history::CommitId;
use crate::plan::{NoRelease, Plan};
use crate::remote::{GitCli, PushCheck, PushRef, Rejection, RemoteError};

/// How a release is published: who makes the tag and merge commits, and
/// whether anything is changed at all.
///
/// ```
/// use pipeline_gitflow::{Identity, Publish};
///
/// let publish = Publish::default()
///     .identity(Identity::new("Release Bot", "bot@example.com"))
///     .dry_run(true);
/// assert!(publish.is_dry_run());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Publish {
    identity: Option<Identity>,
    dry_run: bool,
}

impl Publish {
    /// Who makes the tag and merge commits (default: the repository's
    /// `user.name` and `user.email`, else `pipeline-git`).
    #[must_use]
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Read the remote and say what would be pushed; change nothing.
    #[must_use]
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Whether this is a dry run.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }
}

/// What a release came to. Failures, including the step saying no (the
/// remote moved, a conflict), are [`FlowError`]s.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ReleaseOutcome {
    /// No feat, fix, perf or breaking change since the last release.
    NothingToRelease {
        /// The version plan saying so.
        plan: Plan,
        /// Why.
        why: NoRelease,
    },
    /// A dry run: what would be pushed. Nothing changed.
    Planned(ReleasePlan),
    /// The remote held the release already (an earlier run): nothing
    /// changed there.
    AlreadyReleased(Released),
    /// Tagged and pushed now.
    Released(Released),
}

impl ReleaseOutcome {
    /// The release planned, made or found (none when there was nothing to
    /// release).
    pub fn plan(&self) -> Option<&ReleasePlan> {
        match self {
            ReleaseOutcome::NothingToRelease { .. } => None,
            ReleaseOutcome::Planned(plan) => Some(plan),
            ReleaseOutcome::AlreadyReleased(released) | ReleaseOutcome::Released(released) => {
                Some(released.plan())
            }
        }
    }
}

/// A release the remote holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    plan: ReleasePlan,
    develop: Option<CommitId>,
    master: Option<CommitId>,
    tag_pushed: bool,
}

impl Released {
    /// The release.
    pub fn plan(&self) -> &ReleasePlan {
        &self.plan
    }

    /// The develop commit pushed (`None`: found on the remote before
    /// anything was pushed).
    pub fn develop(&self) -> Option<&CommitId> {
        self.develop.as_ref()
    }

    /// The master commit pushed (`None`: found on the remote before
    /// anything was pushed).
    pub fn master(&self) -> Option<&CommitId> {
        self.master.as_ref()
    }

    /// Whether the tag was part of the push (not when the remote had it on
    /// the release commit already).
    pub fn tag_pushed(&self) -> bool {
        self.tag_pushed
    }
}

impl Repo {
    /// Plans the release of `request` ([`Repo::plan_release`]) and
    /// publishes it to `git`'s remote ([`Repo::publish_release`]).
    ///
    /// # Errors
    ///
    /// [`FlowError`]; see the [module docs](self).
    pub fn release(
        &self,
        git: &GitCli,
        options: &ReadOptions,
        request: &ReleaseRequest,
        publish: &Publish,
    ) -> Result<ReleaseOutcome, FlowError> {
        let decision = self.plan_release(options, request)?;
        self.publish_release(git, decision, publish)
    }

    /// Publishes a planned release to `git`'s remote, all or nothing; see
    /// the [module docs](self) for the steps.
    ///
    /// # Errors
    ///
    /// [`FlowError`]; nothing was pushed unless it is
    /// [`FlowError::PushFailed`] with [`AfterFailedPush::Landed`].
    pub fn publish_release(
        &self,
        git: &GitCli,
        decision: ReleaseDecision,
        publish: &Publish,
    ) -> Result<ReleaseOutcome, FlowError> {
        let plan = match decision {
            ReleaseDecision::Release(plan) => plan,
            ReleaseDecision::Nothing { plan, why } => {
                return Ok(ReleaseOutcome::NothingToRelease { plan, why });
            }
        };
        let tag_ref = plan.tag_ref();
        let peeled = format!("{tag_ref}^{{}}");
        let remote = git.ls_remote(&[
            &plan.develop().reference(),
            &plan.master().reference(),
            &tag_ref,
            &peeled,
        ])?;
        match remote_state(&plan, &remote)? {
            RemoteState::Moved(refs) => {
                return Err(FlowError::RemoteMoved {
                    remote: git.remote().to_owned(),
                    refs,
                });
            }
            RemoteState::Released => {
                return Ok(ReleaseOutcome::AlreadyReleased(Released {
                    plan,
                    develop: None,
                    master: None,
                    tag_pushed: false,
                }));
            }
            RemoteState::Pending => {}
        }
        if publish.dry_run {
            return Ok(ReleaseOutcome::Planned(plan));
        }

        let applied = self.apply_release(&plan, publish.identity.as_ref())?;
        let mut refs = vec![
            PushRef {
                src: applied.develop.as_str().to_owned(),
                dst: plan.develop().reference(),
                expected: plan.develop().expected().map(|c| c.as_str().to_owned()),
            },
            PushRef {
                src: applied.master.as_str().to_owned(),
                dst: plan.master().reference(),
                expected: plan.master().expected().map(|c| c.as_str().to_owned()),
            },
        ];
        // remote_state checked that a tag there is on the release commit.
        let tag_pushed = !remote.contains_key(&tag_ref);
        if tag_pushed {
            refs.push(PushRef {
                // The tag object's id, so that the remote can be compared.
                src: self
                    .ref_target(&tag_ref)
                    .map_or_else(|| tag_ref.clone(), |id| id.as_str().to_owned()),
                dst: tag_ref.clone(),
                expected: None,
            });
        }
        let report = match git.push_atomic(&refs) {
            Ok(report) => report,
            Err(error) => return Err(self.after_failed_push(git, &plan, &applied, &refs, error)),
        };
        if report.rejected() {
            // The refs refused for themselves, not only for the atomic push.
            let own: Vec<(&str, &Rejection)> = report
                .rejections()
                .filter(|(_, why)| **why != Rejection::AtomicPushFailed)
                .collect();
            let moved = own.iter().any(|(_, why)| why.remote_moved());
            let remote = git.remote().to_owned();
            let refs = own
                .into_iter()
                .map(|(name, why)| format!("{name}: {why}"))
                .collect();
            let refused = if moved {
                FlowError::RemoteMoved { remote, refs }
            } else {
                FlowError::PushRefused { remote, refs }
            };
            return Err(match self.undo_release(&plan, &applied) {
                Ok(()) => refused,
                Err(undo) => FlowError::NotUndone {
                    refused: Box::new(refused),
                    undo: Box::new(undo),
                },
            });
        }
        self.record_pushed(&plan, &applied)?;
        let released = Released {
            plan,
            develop: Some(applied.develop),
            master: Some(applied.master),
            tag_pushed,
        };
        Ok(if report.all_up_to_date() {
            ReleaseOutcome::AlreadyReleased(released)
        } else {
            ReleaseOutcome::Released(released)
        })
    }

    /// A push that failed: undone locally when the remote is known not to
    /// have it; kept (to be finished by a re-run, which finds the tag on
    /// the release commit) when the remote cannot be read.
    fn after_failed_push(
        &self,
        git: &GitCli,
        plan: &ReleasePlan,
        applied: &Applied,
        refs: &[PushRef],
        error: RemoteError,
    ) -> FlowError {
        // Refused credentials and a remote without atomic pushes stop git
        // before it sends anything: the remote is unchanged.
        let check = match &error {
            RemoteError::Auth { .. } | RemoteError::AtomicUnsupported { .. } => {
                Ok(PushCheck::Unchanged)
            }
            _ => git.check_push(refs),
        };
        let after = match check {
            Ok(PushCheck::Landed) => AfterFailedPush::Landed,
            Ok(_) => match self.undo_release(plan, applied) {
                Ok(()) => AfterFailedPush::Undone,
                Err(undo) => AfterFailedPush::UndoFailed(Box::new(undo)),
            },
            Err(_) => AfterFailedPush::Kept,
        };
        FlowError::PushFailed {
            remote: git.remote().to_owned(),
            tag: plan.tag().to_owned(),
            after,
            source: Box::new(error),
        }
    }
}
