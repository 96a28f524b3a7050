//! [`AnyStore`]: either store, picked at run time.

use super::{GitHubStore, GitStore, LockGuard, LockInfo, Revision, StateStore, StoreError, Stored};
use crate::record::Record;

/// Either store, as `pipeline.toml`'s `[state]` chooses.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// Refs in the repository's own remote.
    Git(GitStore),
    /// GitHub Deployments.
    GitHub(GitHubStore),
}

impl StateStore for AnyStore {
    async fn current(&self, env: &str) -> Result<Option<Stored>, StoreError> {
        match self {
            Self::Git(s) => s.current(env),
            Self::GitHub(s) => s.current(env).await,
        }
    }

    async fn history(&self, env: &str, limit: usize) -> Result<Vec<Record>, StoreError> {
        match self {
            Self::Git(s) => s.history(env, limit),
            Self::GitHub(s) => s.history(env, limit).await,
        }
    }

    async fn append(
        &self,
        env: &str,
        record: &Record,
        expected: Option<&Revision>,
    ) -> Result<Revision, StoreError> {
        match self {
            Self::Git(s) => s.append(env, record, expected),
            Self::GitHub(s) => s.append(env, record, expected).await,
        }
    }

    async fn lock(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        stale_after: u64,
    ) -> Result<LockGuard, StoreError> {
        match self {
            Self::Git(s) => s.lock(env, owner, what, now, stale_after),
            Self::GitHub(s) => s.lock(env, owner, what, now, stale_after).await,
        }
    }

    async fn take_over(
        &self,
        env: &str,
        owner: &str,
        what: &str,
        now: u64,
        held: &str,
    ) -> Result<LockGuard, StoreError> {
        match self {
            Self::Git(s) => s.take_over(env, owner, what, now, held),
            Self::GitHub(s) => s.take_over(env, owner, what, now, held).await,
        }
    }

    async fn unlock(&self, guard: LockGuard) -> Result<(), StoreError> {
        match self {
            Self::Git(s) => s.unlock(guard),
            Self::GitHub(s) => s.unlock(guard).await,
        }
    }

    async fn locked_by(&self, env: &str) -> Result<Option<LockInfo>, StoreError> {
        match self {
            Self::Git(s) => s.locked_by(env),
            Self::GitHub(s) => s.locked_by(env).await,
        }
    }

    async fn holds(&self, guard: &LockGuard) -> Result<bool, StoreError> {
        match self {
            Self::Git(s) => s.holds(guard),
            Self::GitHub(s) => s.holds(guard).await,
        }
    }

    async fn preflight(&self, env: &str, version: &str) -> Result<(), StoreError> {
        match self {
            Self::Git(_) => Ok(()),
            Self::GitHub(s) => s.preflight(env, version).await,
        }
    }
}
