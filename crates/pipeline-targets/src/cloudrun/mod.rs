//! Google Cloud Run with tagged revisions as blue/green slots: a deploy
//! creates a revision with an explicit name from an image pinned by
//! digest, tagged `green` at 0 percent beside the current split; the
//! operation is followed and the service checked (`observedGeneration`,
//! `reconciling`, `terminalCondition`, `latestReadyRevision`); the tag's
//! own URL is probed until it serves the version. A swap gives `green` all
//! the traffic and tags the revision that had it `blue`; a rollback gives
//! it back to `blue`. Every update carries the service's `etag`: a stale
//! one is read again and the change recomputed, never sent blindly.

mod credential;
pub mod env;
mod run;

use std::time::Duration;

pub use credential::{
    CLOUD_PLATFORM_SCOPE, CredentialError, DEFAULT_IAMCREDENTIALS_ENDPOINT,
    DEFAULT_METADATA_ENDPOINT, DEFAULT_STS_ENDPOINT, GcpCredential, GcpSource, METADATA_HOST,
    Overrides, SubjectToken, github_audience, impersonation_url, metadata_endpoint,
    provider_audience, sign_jwt,
};
use pipeline_artifact::Sha256Digest;
use pipeline_http::HttpError;
pub use run::{
    BLUE, BY_REVISION, CloudRun, Condition, DEFAULT_RUN_ENDPOINT, GREEN, PatchError, Revision,
    Service, ServiceRef, TO_LATEST, Traffic, plan_deploy, plan_rollback, plan_swap,
};
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use crate::health::HealthSettings;
use crate::health::{HealthCheck, wait_healthy};
use crate::target::{Deployed, Release, SlotStatus, Switched, Target, TargetError, TargetStatus};

/// The revision annotation holding the version it runs.
pub const VERSION_ANNOTATION: &str = "pipeline.dev/version";
/// How many times a read-modify-write is tried against a moving `etag`.
pub const ETAG_ATTEMPTS: u32 = 4;

/// An image reference pinned by digest: `REPO@sha256:HEX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The whole reference.
    pub reference: String,
    /// Its digest.
    pub digest: Sha256Digest,
}

impl ImageRef {
    /// Parses `raw`; a reference without `@sha256:` (a tag only) is
    /// refused: promotion must move the same bytes.
    pub fn parse(raw: &str) -> Result<Self, TargetError> {
        let raw = raw.trim();
        let Some((repo, hex)) = raw.split_once("@sha256:") else {
            return Err(TargetError::Config(format!(
                "image `{raw}` is not pinned by digest; pass IMAGE@sha256:<64 hex digits> (a tag can move)"
            )));
        };
        if repo.is_empty() {
            return Err(TargetError::Config(format!(
                "image `{raw}` has no repository"
            )));
        }
        let digest = hex.parse().map_err(|e| {
            TargetError::Config(format!("image `{raw}`: the digest is not a SHA-256: {e}"))
        })?;
        Ok(Self {
            reference: raw.to_owned(),
            digest,
        })
    }
}

/// The revision name of a release: `{service}-{version}-{digest[..8]}`,
/// lowercase letters, digits and hyphens, at most 63 characters.
pub fn revision_name(service: &str, version: &str, digest: &Sha256Digest) -> String {
    let mut v = String::new();
    for c in version.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            v.push(c);
        } else if !v.ends_with('-') {
            v.push('-');
        }
    }
    let v = v.trim_matches('-');
    let hex = digest.to_string();
    let tail = &hex[..8];
    let room = 63usize.saturating_sub(service.len() + tail.len() + 2);
    let v: String = v.chars().take(room).collect();
    let v = v.trim_end_matches('-');
    if v.is_empty() {
        format!("{service}-{tail}")
    } else {
        format!("{service}-{v}-{tail}")
    }
}

/// A Cloud Run service as a [`Target`].
#[derive(Debug, Clone)]
pub struct CloudRunTarget {
    run: CloudRun,
    image: Option<String>,
    slot_url: Option<Url>,
    health: HealthSettings,
    timeout: Duration,
}

fn failed(revision: &str, status: String) -> TargetError {
    TargetError::DeploymentFailed {
        slot: GREEN.to_owned(),
        id: revision.to_owned(),
        status,
        log: Vec::new(),
    }
}

impl CloudRunTarget {
    /// The target of the service `run` manages.
    pub fn new(run: CloudRun) -> Self {
        Self {
            run,
            image: None,
            slot_url: None,
            health: HealthSettings::default(),
            timeout: Duration::from_secs(1800),
        }
    }

    /// The image a deploy runs (`IMAGE@sha256:…`).
    pub fn with_image(mut self, image: &str) -> Self {
        self.image = Some(image.to_owned());
        self
    }

    /// Probes `url` instead of the `green` tag's URL.
    pub fn with_slot_url(mut self, url: Option<Url>) -> Self {
        self.slot_url = url;
        self
    }

    /// How the revision is probed.
    pub fn with_health(mut self, health: HealthSettings) -> Self {
        self.health = health;
        self
    }

    /// The deadline of each whole operation.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn deadline(&self) -> Instant {
        crate::health::deadline_in(self.timeout)
    }

    /// The URL live traffic reaches: the service's main URI.
    pub async fn live_url(&self) -> Result<Url, TargetError> {
        let service = self.run.get(self.deadline()).await?;
        let uri = service.uri.as_deref().ok_or_else(|| {
            TargetError::Config(format!("service {} has no URI yet", self.name()))
        })?;
        Url::parse(uri).map_err(|e| TargetError::Config(format!("service URI `{uri}`: {e}")))
    }

    fn name(&self) -> &str {
        &self.run.service_ref().service
    }

    /// Reads the service, lets `change` compute the PATCH body (or `None`:
    /// nothing to do), sends it with the `etag` read, and on a stale
    /// `etag` starts again from the read.
    async fn update<F>(
        &self,
        mask: &str,
        deadline: Instant,
        mut change: F,
    ) -> Result<Service, TargetError>
    where
        F: FnMut(&Service) -> Result<Option<Value>, TargetError>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.run.get(deadline).await?;
            let Some(mut body) = change(&current)? else {
                return Ok(current);
            };
            body["etag"] = json!(current.etag);
            match self.run.patch(mask, &body, deadline).await {
                Ok(op) => {
                    self.run.wait_operation(&op, deadline).await?;
                    return Ok(current);
                }
                Err(PatchError::Conflict(e)) if attempt < ETAG_ATTEMPTS => {
                    tracing::info!("{e}; the service changed meanwhile: reading it again");
                }
                Err(PatchError::Conflict(e) | PatchError::Other(e)) => return Err(e.into()),
            }
        }
    }

    async fn version_of(
        &self,
        revision: &str,
        deadline: Instant,
    ) -> Result<(Option<String>, Option<String>), TargetError> {
        let rev = self.run.revision(revision, deadline).await?;
        Ok(match rev {
            Some(r) => (
                r.annotations.get(VERSION_ANNOTATION).cloned(),
                r.image
                    .as_deref()
                    .and_then(|i| i.split_once("@sha256:"))
                    .map(|(_, h)| h.to_owned()),
            ),
            None => (None, None),
        })
    }

    fn live_revision(service: &Service) -> Result<Option<String>, TargetError> {
        let pinned = service
            .pinned_traffic()
            .map_err(|e| TargetError::Refused(format!("service: {e}")))?;
        Ok(pinned
            .into_iter()
            .find(|t| t.percent == 100)
            .map(|t| t.revision))
    }
}

impl Target for CloudRunTarget {
    fn describe(&self) -> String {
        format!("cloud-run:{}", self.name())
    }

    async fn deploy(&self, release: &Release) -> Result<Deployed, TargetError> {
        let deadline = self.deadline();
        let raw = self
            .image
            .as_deref()
            .ok_or_else(|| TargetError::Config("no image to deploy; pass --image".to_owned()))?;
        let image = ImageRef::parse(raw)?;
        if image.digest != release.sha256 {
            return Err(TargetError::Config(format!(
                "image `{}` has digest {}, the release {}",
                image.reference, image.digest, release.sha256
            )));
        }
        let name = revision_name(self.name(), &release.version, &image.digest);
        let service = self.name().to_owned();
        let applied = self
            .update("template,traffic", deadline, |current| {
                if current.template_revision.as_deref() == Some(name.as_str())
                    && current.image.as_deref() == Some(image.reference.as_str())
                    && current.tagged(GREEN).is_some_and(|t| t.revision == name)
                {
                    // A re-run after a lost reply: already applied.
                    return Ok(None);
                }
                let traffic = plan_deploy(current, &name)
                    .map_err(|e| TargetError::Refused(format!("service {service}: {e}")))?;
                let mut template = current
                    .raw
                    .get("template")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                template["revision"] = json!(name);
                match template.get_mut("containers").and_then(Value::as_array_mut) {
                    Some(c) if !c.is_empty() => c[0]["image"] = json!(image.reference),
                    _ => template["containers"] = json!([{ "image": image.reference }]),
                }
                if !template.get("annotations").is_some_and(Value::is_object) {
                    template["annotations"] = json!({});
                }
                template["annotations"][VERSION_ANNOTATION] = json!(release.version);
                Ok(Some(json!({ "template": template, "traffic": traffic })))
            })
            .await;
        match applied {
            Ok(_) => {}
            Err(TargetError::Http(HttpError::Status {
                status: 409,
                service: svc,
                ..
            })) if svc.code.as_deref() == Some("ALREADY_EXISTS") => {
                return Err(TargetError::Refused(format!(
                    "revision name {name} is taken by another configuration of service {service} \
                     (Cloud Run said: {svc}); deploy under another version, or delete that revision"
                )));
            }
            Err(TargetError::Http(HttpError::OperationFailed { service: svc, .. })) => {
                let after = self.run.get(deadline).await.ok();
                let why = after
                    .map(|s| s.terminal_condition)
                    .filter(|c| c.state == "CONDITION_FAILED")
                    .map(|c| format!("; {}", c.why()))
                    .unwrap_or_default();
                return Err(failed(&name, format!("the update ended with {svc}{why}")));
            }
            Err(e) => return Err(e),
        }
        let after = self.run.settled(deadline).await?;
        let cond = &after.terminal_condition;
        if cond.state != "CONDITION_SUCCEEDED" {
            return Err(failed(&name, cond.why()));
        }
        if after.latest_ready.as_deref() != Some(name.as_str()) {
            return Err(failed(
                &name,
                format!(
                    "revision {name} is not the latest ready one ({})",
                    after.latest_ready.as_deref().unwrap_or("none")
                ),
            ));
        }
        let url = match &self.slot_url {
            Some(u) => u.clone(),
            None => {
                let raw = after.tag_uri(GREEN).ok_or_else(|| {
                    TargetError::Config(format!(
                        "service {service} lists no URL for tag {GREEN} in trafficStatuses; pass --slot-url"
                    ))
                })?;
                Url::parse(raw).map_err(|e| TargetError::Config(format!("tag URL `{raw}`: {e}")))?
            }
        };
        let mut check = HealthCheck::new(url.clone(), &self.health.path);
        check.expect_status = self.health.expect_status;
        check.version = Some(release.version.clone());
        check.version_field.clone_from(&self.health.version_field);
        check.interval = self.health.interval;
        let health_deadline = deadline.min(crate::health::deadline_in(self.health.timeout));
        let op = format!("wait for revision {name} to serve {}", release.version);
        wait_healthy(self.run.http(), &op, &check, health_deadline)
            .await
            .map_err(|source| TargetError::Unhealthy {
                slot: GREEN.to_owned(),
                source,
            })?;
        Ok(Deployed {
            slot: GREEN.to_owned(),
            url: url.to_string(),
            version: release.version.clone(),
            sha256: image.digest.to_string(),
            deployment_id: Some(name),
        })
    }

    async fn swap(&self, expect: Option<&str>) -> Result<Switched, TargetError> {
        let deadline = self.deadline();
        let service = self.run.get(deadline).await?;
        let green = service
            .tagged(GREEN)
            .map(|t| t.revision.clone())
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                TargetError::Refused(format!(
                    "service {} has no revision tagged {GREEN}: deploy first",
                    self.name()
                ))
            })?;
        let (green_version, _) = self.version_of(&green, deadline).await?;
        if let Some(want) = expect
            && green_version.as_deref() != Some(want)
        {
            return Err(TargetError::Refused(format!(
                "revision {green} (tag {GREEN}) holds {}, not {want}; deploy {want} first",
                green_version.as_deref().unwrap_or("no recorded version")
            )));
        }
        let live = Self::live_revision(&service)?;
        if live.as_deref() == Some(green.as_str()) {
            let idle = match service.tagged(BLUE) {
                Some(b) => self.version_of(&b.revision, deadline).await?.0,
                None => None,
            };
            return Ok(Switched {
                live_version: green_version,
                idle_version: idle,
                already: true,
            });
        }
        let mut previous = None;
        self.update("traffic", deadline, |current| {
            let traffic = plan_swap(current, &green)
                .map_err(|e| TargetError::Refused(format!("service {}: {e}", self.name())))?;
            previous = traffic
                .iter()
                .find(|t| t.tag == BLUE)
                .map(|t| t.revision.clone());
            if current.tagged(GREEN).map(|t| t.revision.as_str()) != Some(green.as_str()) {
                return Err(TargetError::Refused(format!(
                    "the {GREEN} tag of service {} moved while swapping; look at `status`",
                    self.name()
                )));
            }
            Ok(Some(json!({ "traffic": traffic })))
        })
        .await?;
        self.run.settled(deadline).await?;
        let idle = match &previous {
            Some(p) => self.version_of(p, deadline).await?.0,
            None => None,
        };
        Ok(Switched {
            live_version: green_version,
            idle_version: idle,
            already: false,
        })
    }

    async fn rollback(&self) -> Result<Switched, TargetError> {
        let deadline = self.deadline();
        let service = self.run.get(deadline).await?;
        let blue = service
            .tagged(BLUE)
            .map(|t| t.revision.clone())
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                TargetError::Refused(format!(
                    "service {} has no revision tagged {BLUE}: nothing to roll back to",
                    self.name()
                ))
            })?;
        let live = Self::live_revision(&service)?;
        if live.as_deref() == Some(blue.as_str()) {
            return Err(TargetError::Refused(format!(
                "revision {blue} (tag {BLUE}) is live already: nothing to roll back to"
            )));
        }
        self.update("traffic", deadline, |current| {
            let traffic = plan_rollback(current, &blue)
                .map_err(|e| TargetError::Refused(format!("service {}: {e}", self.name())))?;
            Ok(Some(json!({ "traffic": traffic })))
        })
        .await?;
        self.run.settled(deadline).await?;
        let live_version = self.version_of(&blue, deadline).await?.0;
        let idle_version = match live {
            Some(l) => self.version_of(&l, deadline).await?.0,
            None => None,
        };
        Ok(Switched {
            live_version,
            idle_version,
            already: false,
        })
    }

    async fn status(&self) -> Result<TargetStatus, TargetError> {
        let deadline = self.deadline();
        let service = self.run.get(deadline).await?;
        let pinned = service
            .pinned_traffic()
            .map_err(|e| TargetError::Refused(format!("service {}: {e}", self.name())))?;
        let mut slots = Vec::new();
        for t in pinned.iter().filter(|t| !t.tag.is_empty() || t.percent > 0) {
            let (version, sha256) = self.version_of(&t.revision, deadline).await?;
            let url = if t.tag.is_empty() {
                service.uri.clone()
            } else {
                service.tag_uri(&t.tag).map(str::to_owned)
            };
            slots.push(SlotStatus {
                slot: if t.tag.is_empty() {
                    t.revision.clone()
                } else {
                    t.tag.clone()
                },
                live: t.percent == 100,
                url,
                version,
                sha256,
                state: Some(format!("{}% {}", t.percent, t.revision)),
            });
        }
        slots.sort_by_key(|s| !s.live);
        Ok(TargetStatus {
            target: self.describe(),
            slots,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd";

    #[test]
    fn images_must_be_pinned_by_digest() {
        let ok = ImageRef::parse(&format!("europe-docker.pkg.dev/p/r/app@sha256:{HEX}")).unwrap();
        assert_eq!(ok.digest.to_string(), HEX);
        for bad in [
            "europe-docker.pkg.dev/p/r/app:1.0.0",
            "app@sha256:xyz",
            &format!("@sha256:{HEX}"),
        ] {
            assert!(
                matches!(ImageRef::parse(bad), Err(TargetError::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn revision_names_are_explicit_and_valid() {
        let d: Sha256Digest = HEX.parse().unwrap();
        assert_eq!(revision_name("svc", "1.4.0", &d), "svc-1-4-0-0123abcd");
        assert_eq!(
            revision_name("svc", "1.4.0-RC.1+b7", &d),
            "svc-1-4-0-rc-1-b7-0123abcd"
        );
        let long = revision_name("svc", &"9".repeat(200), &d);
        assert!(long.len() <= 63 && long.ends_with("-0123abcd"), "{long}");
        assert_eq!(revision_name("svc", "...", &d), "svc-0123abcd");
    }
}
