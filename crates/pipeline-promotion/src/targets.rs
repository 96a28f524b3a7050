//! The one place an environment of `pipeline.toml` becomes a deploy target.

use std::collections::BTreeMap;
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
pub(crate) enum Mode<'a> {
    /// To change it: a local environment is declared on the agent (its
    /// command, front, timeouts and app settings brought up to date)
    /// first; an App Service slot gets the app settings with the next
    /// deploy; a Cloud Run service deploys `image` (see [`image_for`]).
    /// The secrets are read from the runner's variables.
    Change {
        /// The image a Cloud Run environment deploys, filled in for the
        /// release.
        image: Option<&'a ImageRef>,
    },
    /// To read it: nothing is declared or changed, no secret is read.
    Read,
}

impl Mode<'_> {
    /// To change the target, with no release to deploy (a switch back).
    pub(crate) const CHANGE: Mode<'static> = Mode::Change { image: None };
}

/// The app settings of `env`: its `env` as written, and each of its
/// `secrets` read from the runner's variable it names (an unset or empty
/// variable is an error naming it, never a value).
pub(crate) fn app_settings(
    env: &Environment,
    vars: &Env,
) -> Result<BTreeMap<String, String>, PromoteError> {
    let mut settings = env.env.clone();
    for (key, var) in &env.secrets {
        let value = vars
            .get_secret(var)
            .ok_or_else(|| PromoteError::SecretMissing {
                env: env.name.clone(),
                key: key.clone(),
                var: var.clone(),
            })?;
        settings.insert(key.clone(), value.expose().to_owned());
    }
    Ok(settings)
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
    mode: Mode<'_>,
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
            if let Mode::Change { .. } = mode {
                let mut spec = EnvSpec::new(*front, command.clone());
                spec.health_path = health_path.clone();
                spec.health_timeout_secs = *health_timeout_secs;
                spec.keep_warm_secs = *keep_warm_secs;
                spec.drain_timeout_secs = *drain_timeout_secs;
                spec.env = app_settings(env, vars)?;
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
            let settings = match mode {
                Mode::Change { .. } => app_settings(env, vars)?,
                Mode::Read => BTreeMap::new(),
            };
            let t = pipeline_targets::azure::env::from_env(http.clone(), vars, app, slot)
                .map_err(in_env)?
                .with_slot_url(url_var(vars, "PIPELINE_AZURE_SLOT_URL")?)
                .with_settings(settings)
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
            health_path,
            ..
        } => {
            let svc = ServiceRef {
                project: project.clone(),
                region: region.clone(),
                service: service.clone(),
            };
            let mut t = pipeline_targets::cloudrun::env::from_env(http.clone(), vars, svc)
                .map_err(in_env)?
                .with_health(HealthSettings {
                    path: health_path.clone(),
                    ..HealthSettings::default()
                });
            if let Mode::Change { image: Some(image) } = mode {
                t = t.with_image(&image.reference);
            }
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

/// The image a Cloud Run environment deploys for the release `version`
/// (digest `sha256`): `target.image` filled in for it
/// ([`pipeline_config::TargetConfig::image_for`]); `None` for other targets.
/// Promotion moves the same bytes: an image whose digest, written in the
/// file, is not the release's is refused.
pub(crate) fn image_for(
    env: &Environment,
    version: &str,
    sha256: &str,
) -> Result<Option<ImageRef>, PromoteError> {
    let Some(raw) = env.target.image_for(version, sha256) else {
        return Ok(None);
    };
    let image = ImageRef::parse(&raw).map_err(|source| PromoteError::TargetSetup {
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
    Ok(Some(image))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(text: &str) -> Environment {
        let config = pipeline_config::parse(Path::new("pipeline.toml"), text).unwrap();
        config.environments[0].clone()
    }

    const BASE: &str = "[test]\ncommand = \"true\"\n[artifact]\nsource = \"app\"\n[[environment]]\nname = \"qa\"\n";

    #[test]
    fn the_variables_a_deployment_sets_are_refused_in_pipeline_toml() {
        for var in pipeline_contracts::agent::RESERVED_VARS.iter().chain(&[
            pipeline_targets::azure::VERSION_SETTING,
            pipeline_targets::azure::DIGEST_SETTING,
        ]) {
            assert!(pipeline_config::RESERVED_VARS.contains(var), "{var}");
        }
    }

    #[test]
    fn secrets_are_read_from_the_named_variable_and_a_missing_one_is_named() {
        let env = env_of(&format!(
            "{BASE}target = {{ kind = \"local\", front = \"127.0.0.1:9\", command = \"x\" }}\n\
             env = {{ MODE = \"qa\" }}\nsecrets = {{ DB_PASSWORD = \"QA_DB_PASSWORD\" }}\n"
        ));
        let vars = Env::from_vars([("QA_DB_PASSWORD", "hunter2")]);
        let settings = app_settings(&env, &vars).unwrap();
        assert_eq!(settings["MODE"], "qa");
        assert_eq!(settings["DB_PASSWORD"], "hunter2");
        for vars in [
            Env::from_vars([("OTHER", "x")]),
            Env::from_vars([("QA_DB_PASSWORD", "")]),
        ] {
            let e = app_settings(&env, &vars).unwrap_err();
            assert_eq!(pipeline_ci::Classified::exit(&e), pipeline_ci::Exit::Usage);
            assert!(
                e.to_string().starts_with(
                    "environment qa: the secret DB_PASSWORD is read from the variable \
                     QA_DB_PASSWORD, which is not set (or is empty) here"
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn a_cloud_run_image_is_the_release_or_refused() {
        let sha = "d".repeat(64);
        let env = env_of(&format!(
            "{BASE}target = {{ kind = \"cloud-run\", project = \"p\", region = \"r\", service = \"s\", image = \"r/app:{{version}}\" }}\n"
        ));
        let image = image_for(&env, "1.2.0", &sha).unwrap().unwrap();
        assert_eq!(image.reference, format!("r/app:1.2.0@sha256:{sha}"));
        let pinned = env_of(&format!(
            "{BASE}target = {{ kind = \"cloud-run\", project = \"p\", region = \"r\", service = \"s\", image = \"r/app@sha256:{}\" }}\n",
            "e".repeat(64)
        ));
        let e = image_for(&pinned, "1.2.0", &sha).unwrap_err();
        assert!(matches!(e, PromoteError::OtherBytes { .. }), "{e}");
        let e = image_for(&env, "1.2.0", "not-hex").unwrap_err();
        assert_eq!(
            pipeline_ci::Classified::exit(&e),
            pipeline_ci::Exit::Usage,
            "{e}"
        );
    }
}
