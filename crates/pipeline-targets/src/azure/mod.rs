//! Azure App Service with deployment slots: the release goes into a
//! slot (created from production's configuration when missing), its app
//! settings are merged with the version and digest, the zip is deployed
//! with Kudu's OneDeploy, the slot is probed until it serves that version,
//! and `slotsswap` moves it into production.

mod appservice;
mod credential;
pub mod env;

use std::collections::BTreeMap;
use std::time::Duration;

pub use appservice::{
    AppRef, AppService, DEFAULT_API_VERSION, KuduDeployment, LOG_EXCERPT_LINES, Site,
};
pub use credential::{
    ARM_SCOPE, ClientProof, DEFAULT_AUTHORITY_HOST, EntraCredential, authority_host,
};
use pipeline_http::HttpError;
use tokio::time::Instant;
use url::Url;

use crate::health::{HealthCheck, HealthSettings, wait_healthy};
use crate::target::{Deployed, Release, SlotStatus, Switched, Target, TargetError, TargetStatus};

/// The app setting holding the version a slot runs. Not a slot setting:
/// it swaps with the code, so production's value is what production runs.
pub const VERSION_SETTING: &str = "PIPELINE_VERSION";
/// The app setting holding the artifact's SHA-256.
pub const DIGEST_SETTING: &str = "PIPELINE_ARTIFACT_SHA256";

/// One app's deployment slot as a [`Target`].
#[derive(Debug, Clone)]
pub struct AppServiceTarget {
    svc: AppService,
    slot: String,
    slot_url: Option<Url>,
    settings: BTreeMap<String, String>,
    health: HealthSettings,
    timeout: Duration,
}

impl AppServiceTarget {
    /// The target for `slot` of the app `svc` manages.
    pub fn new(svc: AppService, slot: &str) -> Self {
        Self {
            svc,
            slot: slot.to_owned(),
            slot_url: None,
            settings: BTreeMap::new(),
            health: HealthSettings::default(),
            timeout: Duration::from_secs(1800),
        }
    }

    /// Probes `url` instead of the slot's default host name.
    pub fn with_slot_url(mut self, url: Option<Url>) -> Self {
        self.slot_url = url;
        self
    }

    /// App settings to set on the slot besides the version and digest.
    pub fn with_settings(mut self, settings: BTreeMap<String, String>) -> Self {
        self.settings = settings;
        self
    }

    /// How the slot is probed.
    pub fn with_health(mut self, health: HealthSettings) -> Self {
        self.health = health;
        self
    }

    /// The deadline of each whole operation.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The slot deployed to.
    pub fn slot(&self) -> &str {
        &self.slot
    }

    /// The URL live traffic reaches: `https://` and production's default
    /// host name.
    pub async fn live_url(&self) -> Result<Url, TargetError> {
        let production =
            self.svc.site(None, self.deadline()).await?.ok_or_else(|| {
                TargetError::Config(format!("app {} not found", self.svc.app().app))
            })?;
        let host = production.default_host_name.as_deref().ok_or_else(|| {
            TargetError::Config(format!(
                "app {} has no default host name",
                self.svc.app().app
            ))
        })?;
        Url::parse(&format!("https://{host}/"))
            .map_err(|e| TargetError::Config(format!("host name `{host}`: {e}")))
    }

    fn deadline(&self) -> Instant {
        crate::health::deadline_in(self.timeout)
    }

    fn slot_url_of(&self, site: &appservice::Site) -> Result<Url, TargetError> {
        if let Some(url) = &self.slot_url {
            return Ok(url.clone());
        }
        let host = site.default_host_name.as_deref().ok_or_else(|| {
            TargetError::Config(format!(
                "slot {} has no default host name; pass --slot-url",
                self.slot
            ))
        })?;
        Url::parse(&format!("https://{host}/"))
            .map_err(|e| TargetError::Config(format!("slot host name `{host}`: {e}")))
    }

    async fn versions(
        &self,
        deadline: Instant,
    ) -> Result<(Option<String>, Option<String>), TargetError> {
        let live = self.svc.app_settings(None, deadline).await?;
        let idle = self.svc.app_settings(Some(&self.slot), deadline).await?;
        Ok((
            live.get(VERSION_SETTING).cloned(),
            idle.get(VERSION_SETTING).cloned(),
        ))
    }

    /// Swaps, and after a failure that leaves it unclear whether the swap
    /// ran (a lost reply, a 5xx, a deadline), reads the versions back: a
    /// swap that happened is a success, never sent a second time.
    async fn switch(
        &self,
        live: Option<String>,
        idle: Option<String>,
        deadline: Instant,
    ) -> Result<Switched, TargetError> {
        match self.svc.swap(&self.slot, None, deadline).await {
            Ok(()) => Ok(Switched {
                live_version: idle,
                idle_version: live,
                already: false,
            }),
            Err(err) if unclear(&err) => {
                tracing::warn!("{err}; checking whether the swap happened");
                let check = Instant::now() + Duration::from_secs(120);
                let (now_live, now_idle) = self.versions(check).await?;
                if now_live == idle && now_idle == live && live != idle {
                    Ok(Switched {
                        live_version: now_live,
                        idle_version: now_idle,
                        already: false,
                    })
                } else {
                    Err(err.into())
                }
            }
            Err(err) => Err(err.into()),
        }
    }
}

fn unclear(err: &HttpError) -> bool {
    match err {
        HttpError::Status { status, .. } => *status >= 500,
        HttpError::Transport { .. } | HttpError::Deadline { .. } | HttpError::Exhausted { .. } => {
            true
        }
        _ => false,
    }
}

impl AppServiceTarget {
    /// Uploads with OneDeploy and follows the deployment: a failed one is
    /// [`TargetError::DeploymentFailed`] with the end of its log.
    async fn publish(
        &self,
        slot: &appservice::Site,
        release: &Release,
        deadline: Instant,
    ) -> Result<KuduDeployment, TargetError> {
        let scm = self.svc.scm_for(slot, &self.slot)?;
        let dep = self
            .svc
            .one_deploy(&scm, &release.artifact, deadline)
            .await?;
        if dep.status == Some(4) {
            return Ok(dep);
        }
        let log = self.svc.log_excerpt(&scm, &dep, deadline).await;
        Err(TargetError::DeploymentFailed {
            slot: self.slot.clone(),
            id: dep.id.clone().unwrap_or_else(|| "latest".to_owned()),
            status: dep
                .status_text
                .clone()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| dep.status_name().to_owned()),
            log,
        })
    }
}

impl Target for AppServiceTarget {
    fn describe(&self) -> String {
        format!("azure:{}", self.svc.app().app)
    }

    async fn deploy(&self, release: &Release) -> Result<Deployed, TargetError> {
        let deadline = self.deadline();
        let path = release.artifact.clone();
        let sha = release.sha256;
        tokio::task::spawn_blocking(move || pipeline_artifact::verify(&path, &sha))
            .await
            .map_err(|e| TargetError::Config(format!("checking the artifact: {e}")))??;

        let production =
            self.svc.site(None, deadline).await?.ok_or_else(|| {
                TargetError::Config(format!("app {} not found", self.svc.app().app))
            })?;
        let slot = match self.svc.site(Some(&self.slot), deadline).await? {
            Some(slot) => slot,
            None => {
                tracing::info!(slot = %self.slot, "creating the slot from production's configuration");
                self.svc
                    .create_slot(&self.slot, &production, deadline)
                    .await?
            }
        };

        let current = self.svc.app_settings(Some(&self.slot), deadline).await?;
        let mut merged = current.clone();
        merged.extend(self.settings.clone());
        merged.insert(VERSION_SETTING.to_owned(), release.version.clone());
        merged.insert(DIGEST_SETTING.to_owned(), release.sha256.to_string());
        let changed = merged != current;
        if changed {
            self.svc
                .put_app_settings(Some(&self.slot), &merged, deadline)
                .await?;
        }

        let dep = match self.publish(&slot, release, deadline).await {
            Ok(dep) => dep,
            Err(err) => {
                // The slot still runs the code it had: give it back the
                // settings it had, so its recorded version stays true.
                if changed {
                    let restore = crate::health::deadline_in(Duration::from_secs(120));
                    if let Err(e) = self
                        .svc
                        .put_app_settings(Some(&self.slot), &current, restore)
                        .await
                    {
                        tracing::warn!(
                            "could not restore the app settings of slot {}: {e}",
                            self.slot
                        );
                    }
                }
                return Err(err);
            }
        };

        let url = self.slot_url_of(&slot)?;
        let mut check = HealthCheck::new(url.clone(), &self.health.path);
        check.expect_status = self.health.expect_status;
        check.version = Some(release.version.clone());
        check.version_field.clone_from(&self.health.version_field);
        check.interval = self.health.interval;
        let health_deadline = deadline.min(crate::health::deadline_in(self.health.timeout));
        let op = format!("wait for slot {} to serve {}", self.slot, release.version);
        wait_healthy(self.svc.http(), &op, &check, health_deadline)
            .await
            .map_err(|source| TargetError::Unhealthy {
                slot: self.slot.clone(),
                source,
            })?;
        Ok(Deployed {
            slot: self.slot.clone(),
            url: url.to_string(),
            version: release.version.clone(),
            sha256: release.sha256.to_string(),
            deployment_id: dep.id,
        })
    }

    async fn swap(&self, expect: Option<&str>) -> Result<Switched, TargetError> {
        let deadline = self.deadline();
        let (live, idle) = self.versions(deadline).await?;
        if let Some(want) = expect {
            if live.as_deref() == Some(want) && idle.as_deref() != Some(want) {
                return Ok(Switched {
                    live_version: live,
                    idle_version: idle,
                    already: true,
                });
            }
            if idle.as_deref() != Some(want) {
                return Err(TargetError::Refused(format!(
                    "slot {} holds {}, not {want}; deploy {want} to it first",
                    self.slot,
                    idle.as_deref().unwrap_or("no recorded version")
                )));
            }
        }
        self.switch(live, idle, deadline).await
    }

    async fn rollback(&self) -> Result<Switched, TargetError> {
        let deadline = self.deadline();
        let (live, idle) = self.versions(deadline).await?;
        match (&live, &idle) {
            (_, None) => Err(TargetError::Refused(format!(
                "slot {} holds no recorded version: nothing to roll back to",
                self.slot
            ))),
            (Some(l), Some(i)) if l == i => Err(TargetError::Refused(format!(
                "slot {} holds {i}, the version live already: nothing to roll back to",
                self.slot
            ))),
            _ => self.switch(live, idle, deadline).await,
        }
    }

    async fn status(&self) -> Result<TargetStatus, TargetError> {
        let deadline = self.deadline();
        let production =
            self.svc.site(None, deadline).await?.ok_or_else(|| {
                TargetError::Config(format!("app {} not found", self.svc.app().app))
            })?;
        let mut slots = Vec::new();
        let mut entry = |name: &str,
                         site: &appservice::Site,
                         live: bool,
                         settings: BTreeMap<String, String>| {
            slots.push(SlotStatus {
                slot: name.to_owned(),
                live,
                url: site
                    .default_host_name
                    .as_ref()
                    .map(|h| format!("https://{h}/")),
                version: settings.get(VERSION_SETTING).cloned(),
                sha256: settings.get(DIGEST_SETTING).cloned(),
                state: site.state.clone(),
            });
        };
        let settings = self.svc.app_settings(None, deadline).await?;
        entry("production", &production, true, settings);
        for (name, site) in self.svc.slots(deadline).await? {
            let settings = self.svc.app_settings(Some(&name), deadline).await?;
            entry(&name, &site, false, settings);
        }
        Ok(TargetStatus {
            target: format!("azure:{}", self.svc.app().app),
            slots,
        })
    }
}
