//! The one place an environment of `pipeline.toml` becomes a deploy target.

use std::path::Path;

use pipeline_ci::Env;
use pipeline_config::{Environment, TargetConfig};
use pipeline_contracts::agent::EnvSpec;
use pipeline_http::Http;
use pipeline_targets::azure::AppRef;
use pipeline_targets::cloudrun::{ImageRef, ServiceRef};
use pipeline_targets::health::HealthSettings;
use pipeline_targets::local::{AgentRef, LocalTarget};
use pipeline_targets::{AnyTarget, TargetError};
use url::Url;

use crate::PromoteError;

/// An environment's target, ready to use.
#[derive(Debug)]
pub(crate) struct Built {
    /// The target.
    pub(crate) target: AnyTarget,
    /// The path its health is probed on.
    pub(crate) health_path: String,
    /// The URL live traffic reaches, when the configuration (or an
    /// override) says; otherwise the target is asked ([`Built::live_url`]).
    known_live: Option<Url>,
}

impl Built {
    /// The URL live traffic reaches: the configured one, else the target's
    /// own (App Service production's host name, the Cloud Run service URI).
    pub(crate) async fn live_url(&self) -> Result<Url, TargetError> {
        match &self.known_live {
            Some(url) => Ok(url.clone()),
            None => self.target.live_url().await,
        }
    }
}

/// The front address of a local environment, as a URL.
pub(crate) fn front_url(front: &std::net::SocketAddr) -> Url {
    // A socket address always makes a valid URL.
    Url::parse(&format!("http://{front}/"))
        .unwrap_or_else(|_| Url::parse("http://127.0.0.1/").expect("a valid URL"))
}

/// Where live traffic is and which path says it is healthy, when the
/// configuration alone tells (a local environment's front).
pub(crate) fn known_live(env: &Environment) -> Option<(Url, String)> {
    match &env.target {
        TargetConfig::Local {
            front, health_path, ..
        } => Some((front_url(front), health_path.clone())),
        _ => None,
    }
}

/// How a target is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// To change it: a local environment is declared on the agent (its
    /// command, front and timeouts brought up to date) first.
    Change,
    /// To read it: nothing is declared or changed.
    Read,
}

/// The target of `env`. Cloud targets take their credentials and
/// endpoints from `vars` (see [`pipeline_targets::azure::env`] and
/// [`pipeline_targets::cloudrun::env`]); `PIPELINE_AZURE_SLOT_URL` and
/// `PIPELINE_AZURE_LIVE_URL` replace the URLs made of the slot's and
/// production's default host names. A local target finds the agent in
/// `agent_dir`.
pub(crate) async fn build(
    env: &Environment,
    agent_dir: &Path,
    vars: &Env,
    http: &Http,
    mode: Mode,
) -> Result<Built, PromoteError> {
    let in_env = |source: TargetError| PromoteError::TargetSetup {
        env: env.name.clone(),
        source: Box::new(source),
    };
    match &env.target {
        TargetConfig::Local {
            front,
            command,
            health_path,
            health_timeout_secs,
            keep_warm_secs,
            drain_timeout_secs,
        } => {
            let agent = AgentRef::from_state_dir(agent_dir).map_err(in_env)?;
            let t = LocalTarget::new(http.clone(), agent, &env.name)
                .with_version_check(Some(health_path.clone()));
            if mode == Mode::Change {
                let mut spec = EnvSpec::new(*front, command.clone());
                spec.health_path = health_path.clone();
                spec.health_timeout_secs = *health_timeout_secs;
                spec.keep_warm_secs = *keep_warm_secs;
                spec.drain_timeout_secs = *drain_timeout_secs;
                t.declare(&spec).await?;
            }
            Ok(Built {
                target: AnyTarget::Local(Box::new(t)),
                health_path: health_path.clone(),
                known_live: Some(front_url(front)),
            })
        }
        TargetConfig::AzureAppService {
            subscription,
            resource_group,
            app,
            slot,
            health_path,
        } => {
            let app = AppRef {
                subscription: subscription.clone(),
                resource_group: resource_group.clone(),
                app: app.clone(),
            };
            let t = pipeline_targets::azure::env::from_env(http.clone(), vars, app, slot)
                .map_err(in_env)?
                .with_slot_url(url_var(vars, "PIPELINE_AZURE_SLOT_URL")?)
                .with_health(HealthSettings {
                    path: health_path.clone(),
                    ..HealthSettings::default()
                });
            Ok(Built {
                target: AnyTarget::Azure(Box::new(t)),
                health_path: health_path.clone(),
                known_live: url_var(vars, "PIPELINE_AZURE_LIVE_URL")?,
            })
        }
        TargetConfig::CloudRun {
            project,
            region,
            service,
            image,
            health_path,
        } => {
            let image = ImageRef::parse(image).map_err(in_env)?;
            let svc = ServiceRef {
                project: project.clone(),
                region: region.clone(),
                service: service.clone(),
            };
            let t = pipeline_targets::cloudrun::env::from_env(http.clone(), vars, svc)
                .map_err(in_env)?
                .with_image(&image.reference)
                .with_health(HealthSettings {
                    path: health_path.clone(),
                    ..HealthSettings::default()
                });
            Ok(Built {
                target: AnyTarget::CloudRun(Box::new(t)),
                health_path: health_path.clone(),
                known_live: None,
            })
        }
    }
}

/// The URL in the variable `name`, if it is set.
fn url_var(vars: &Env, name: &str) -> Result<Option<Url>, PromoteError> {
    vars.get(name)
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            Url::parse(v.trim()).map_err(|e| PromoteError::Setup(format!("{name} `{v}`: {e}")))
        })
        .transpose()
}

/// The Cloud Run rule that promotion moves the same bytes: the image the
/// environment runs must be the release's digest.
pub(crate) fn check_same_bytes(
    env: &Environment,
    version: &str,
    sha256: &str,
) -> Result<(), PromoteError> {
    if let TargetConfig::CloudRun { image, .. } = &env.target {
        let image = ImageRef::parse(image).map_err(|source| PromoteError::TargetSetup {
            env: env.name.clone(),
            source: Box::new(source),
        })?;
        if image.digest.to_string() != sha256 {
            return Err(PromoteError::OtherBytes {
                env: env.name.clone(),
                image: image.reference,
                image_digest: image.digest.to_string(),
                version: version.to_owned(),
                sha256: sha256.to_owned(),
            });
        }
    }
    Ok(())
}
