//! [`AnyTarget`]: one of the targets, picked at run time.

use url::Url;

use crate::azure::AppServiceTarget;
use crate::cloudrun::CloudRunTarget;
use crate::local::LocalTarget;
use crate::target::{Deployed, Release, Switched, Target, TargetError, TargetStatus};

/// Any of the targets, for code that picks one at run time (the trait's
/// methods return futures, so it is not object-safe).
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyTarget {
    /// The local host agent.
    Local(Box<LocalTarget>),
    /// An Azure App Service slot.
    Azure(Box<AppServiceTarget>),
    /// A Google Cloud Run service's tagged revisions.
    CloudRun(Box<CloudRunTarget>),
}

impl Target for AnyTarget {
    fn describe(&self) -> String {
        match self {
            AnyTarget::Local(t) => t.describe(),
            AnyTarget::Azure(t) => t.describe(),
            AnyTarget::CloudRun(t) => t.describe(),
        }
    }

    async fn deploy(&self, release: &Release) -> Result<Deployed, TargetError> {
        match self {
            AnyTarget::Local(t) => t.deploy(release).await,
            AnyTarget::Azure(t) => t.deploy(release).await,
            AnyTarget::CloudRun(t) => t.deploy(release).await,
        }
    }

    async fn swap(&self, expect: Option<&str>) -> Result<Switched, TargetError> {
        match self {
            AnyTarget::Local(t) => t.swap(expect).await,
            AnyTarget::Azure(t) => t.swap(expect).await,
            AnyTarget::CloudRun(t) => t.swap(expect).await,
        }
    }

    async fn rollback(&self) -> Result<Switched, TargetError> {
        match self {
            AnyTarget::Local(t) => t.rollback().await,
            AnyTarget::Azure(t) => t.rollback().await,
            AnyTarget::CloudRun(t) => t.rollback().await,
        }
    }

    async fn status(&self) -> Result<TargetStatus, TargetError> {
        match self {
            AnyTarget::Local(t) => t.status().await,
            AnyTarget::Azure(t) => t.status().await,
            AnyTarget::CloudRun(t) => t.status().await,
        }
    }
}

impl AnyTarget {
    /// The URL live traffic reaches, as the platform says: App Service
    /// production's default host name, the Cloud Run service's URI. The
    /// local agent's front is known from its configuration, not asked.
    ///
    /// # Errors
    ///
    /// [`TargetError::Config`] for a local target (nothing to ask) or a
    /// service that has no URL yet; the platform's errors.
    pub async fn live_url(&self) -> Result<Url, TargetError> {
        match self {
            AnyTarget::Azure(t) => t.live_url().await,
            AnyTarget::CloudRun(t) => t.live_url().await,
            AnyTarget::Local(t) => Err(TargetError::Config(format!(
                "{}: its live URL is its front address, from the configuration",
                t.describe()
            ))),
        }
    }
}
