//! The state store: what is deployed where, and the history, kept where
//! every runner sees it and changed by compare-and-swap, so that two
//! promotions can never both win.
//!
//! [`StateStore`] is the contract, with two implementations:
//! [`GitStore`] keeps the state in refs of the repository's own remote,
//! [`GitHubStore`] in GitHub Deployments (records) and fast-forward-only
//! refs (locks). [`AnyStore`] is the one `pipeline.toml`'s `[state]` picks.

use std::fmt;

use pipeline_gitflow::{Date, RemoteError};
use serde::Serialize;

use crate::record::Record;

mod any;
pub mod git;
pub mod github;

pub use any::AnyStore;
pub use git::GitStore;
pub use github::{BadRepository, GitHubStore};

/// A version of an environment's state, to compare-and-swap against: an
/// opaque string (for [`GitStore`], the record commit's id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Revision(String);

impl Revision {
    /// A revision, as a store names it.
    pub fn new(revision: impl Into<String>) -> Self {
        Self(revision.into())
    }

    /// The revision as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The newest record of an environment and the revision to append after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// What the environment runs now (its newest change).
    pub record: Record,
    /// The revision holding it: `expected` of the next append.
    pub revision: Revision,
}

/// Who holds an environment's lock, for what, since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockInfo {
    /// The owner (user, CI run).
    pub by: String,
    /// What it is doing (`promote 1.2.0 to qa`).
    pub what: String,
    /// Since when (Unix seconds).
    pub since: u64,
    /// The lock's own id: the records its run writes carry it.
    #[serde(skip)]
    pub id: String,
}

/// A held lock of one environment; give it back with
/// [`StateStore::unlock`]. Dropping it does not release the lock (that
/// would take the network): a lock that is never released goes stale and
/// is taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a lock is released with StateStore::unlock"]
pub struct LockGuard {
    env: String,
    revision: Revision,
    info: LockInfo,
}

impl LockGuard {
    /// A guard for `env`'s lock at `revision`: for implementations of
    /// [`StateStore`].
    pub fn new(env: impl Into<String>, revision: Revision, info: LockInfo) -> Self {
        Self {
            env: env.into(),
            revision,
            info,
        }
    }

    /// The environment.
    pub fn env(&self) -> &str {
        &self.env
    }

    /// The lock's revision (what the unlock leases).
    pub fn revision(&self) -> &Revision {
        &self.revision
    }

    /// Who holds it, for what, since when.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock's id, which the records written under it carry.
    pub fn id(&self) -> &str {
        &self.info.id
    }
}

/// Why the state store could not answer or write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Not an environment name (`[a-z0-9][a-z0-9-]{0,39}`), so no ref.
    #[error("`{env}` is not an environment name ([a-z0-9][a-z0-9-]{{0,39}})")]
    InvalidEnvironment {
        /// The name given.
        env: String,
    },
    /// A record of one environment appended to another.
    #[error("a record of {record_env} cannot be appended to the history of {env}")]
    WrongEnvironment {
        /// The environment appended to.
        env: String,
        /// The record's environment.
        record_env: String,
    },
    /// The remote moved since the caller read it: nothing was written.
    #[error(
        "the state of {env} moved on the remote: {reference} is now {}, it was {} when read; \
         nothing was written",
        at(.actual.as_ref()),
        at(.expected.as_ref())
    )]
    Conflict {
        /// The environment.
        env: String,
        /// The remote ref.
        reference: String,
        /// What the caller read.
        expected: Option<Revision>,
        /// What the remote holds now.
        actual: Option<Revision>,
    },
    /// Another promotion holds the environment's lock.
    #[error("{env} is locked by {by} since {} ({what}); lock ref {reference}", utc(*.since))]
    Locked {
        /// The environment.
        env: String,
        /// The lock ref.
        reference: String,
        /// Who holds it.
        by: String,
        /// For what.
        what: String,
        /// Since when (Unix seconds).
        since: u64,
        /// The lock's id.
        id: String,
    },
    /// The lock was taken over (it had gone stale) by someone else, who
    /// holds it now: it was left alone.
    #[error(
        "the lock of {env} was taken over by {by} since {} ({what}): {reference} was left alone",
        utc(*.since)
    )]
    LockLost {
        /// The environment.
        env: String,
        /// The lock ref.
        reference: String,
        /// Who holds it now.
        by: String,
        /// For what.
        what: String,
        /// Since when (Unix seconds).
        since: u64,
    },
    /// The remote could not be read or written (after retries).
    #[error("the state of {env} at {reference} on the remote is out of reach")]
    Remote {
        /// The environment.
        env: String,
        /// The remote ref.
        reference: String,
        /// What git said.
        #[source]
        source: Box<RemoteError>,
    },
    /// What the remote holds does not read as a record or a lock.
    #[error("{reference} is corrupt: {reason}")]
    Corrupt {
        /// The remote ref.
        reference: String,
        /// What is wrong, naming the commit.
        reason: String,
    },
    /// A git command in the local repository failed.
    #[error("git {command} failed: {stderr}")]
    Git {
        /// The command and its arguments.
        command: String,
        /// git's message, redacted.
        stderr: String,
    },
    /// The release's tag is not where the store needs it.
    #[error(
        "the tag {tag} is not in {repository}: a record of {env} names the release's tag; push \
         the tag (pipeline-git release) before promoting"
    )]
    MissingTag {
        /// The environment.
        env: String,
        /// The tag.
        tag: String,
        /// The repository.
        repository: String,
    },
    /// The GitHub API refused or failed (after retries).
    #[error("the GitHub state of {env} is out of reach")]
    Api {
        /// The environment.
        env: String,
        /// What the API said.
        #[source]
        source: Box<pipeline_http::HttpError>,
    },
}

/// `at <revision>` or `absent`.
fn at(revision: Option<&Revision>) -> String {
    revision.map_or_else(|| "absent".to_owned(), |r| format!("at {r}"))
}

/// `2023-11-14 22:13:20 UTC`.
pub(crate) fn utc(seconds: u64) -> String {
    let date = Date::from_unix_seconds(i64::try_from(seconds).unwrap_or(i64::MAX));
    let time = seconds % 86_400;
    format!(
        "{date} {:02}:{:02}:{:02} UTC",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// The state of the environments: records and locks.
pub trait StateStore {
    /// The newest record of `env` and its revision; `None` before the
    /// first.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn current(&self, env: &str)
    -> impl Future<Output = Result<Option<Stored>, StoreError>> + Send;

    /// The newest `limit` records of `env`, newest first.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn history(
        &self,
        env: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Record>, StoreError>> + Send;

    /// Appends `record` to `env`'s history if the store is still at
    /// `expected` (`None`: `env` has no record yet); the new revision.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the store moved since `expected`
    /// (then nothing was written); other [`StoreError`]s.
    fn append(
        &self,
        env: &str,
        record: &Record,
        expected: Option<&Revision>,
    ) -> impl Future<Output = Result<Revision, StoreError>> + Send;

    /// Takes `env`'s lock for `owner`, doing `what`, at `now` (Unix
    /// seconds). A lock older than `stale_after` seconds is taken over,
    /// with a warning.
    ///
    /// # Errors
    ///
    /// [`StoreError::Locked`] when another holds it; other [`StoreError`]s.
    fn lock(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        stale_after: u64,
    ) -> impl Future<Output = Result<LockGuard, StoreError>> + Send;

    /// Takes `env`'s lock over from the lock `held` (its id), known to be
    /// released: its run ended and could not give it back. Only that lock
    /// is taken over; any other holder is [`StoreError::Locked`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Locked`]; other [`StoreError`]s.
    fn take_over(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        held: &str,
    ) -> impl Future<Output = Result<LockGuard, StoreError>> + Send;

    /// Releases a lock, only if it is still the one `guard` took. A lock
    /// that is gone already counts as released.
    ///
    /// # Errors
    ///
    /// [`StoreError::LockLost`] when someone else took it over; other
    /// [`StoreError`]s.
    fn unlock(&self, guard: LockGuard) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Checks, before traffic moves, that a record of `version` in `env`
    /// can be written (the GitHub store needs the release's tag). Nothing
    /// to check by default.
    ///
    /// # Errors
    ///
    /// [`StoreError::MissingTag`] and the store's failures.
    fn preflight(
        &self,
        env: &str,
        version: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (env, version);
        async { Ok(()) }
    }

    /// Whether `guard`'s lock is still held (nobody took it over).
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn holds(&self, guard: &LockGuard) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Who holds `env`'s lock, if anyone (stale or not).
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn locked_by(
        &self,
        env: &str,
    ) -> impl Future<Output = Result<Option<LockInfo>, StoreError>> + Send;
}
