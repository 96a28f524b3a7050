//! A [`CloudRunTarget`] from the environment. Credentials, in this order:
//! a key file (`GOOGLE_APPLICATION_CREDENTIALS`) of type `service_account`
//! or `external_account`; Workload Identity Federation from GitHub Actions
//! OIDC (`GOOGLE_WORKLOAD_IDENTITY_PROVIDER`, with
//! `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`;
//! `GOOGLE_SERVICE_ACCOUNT` to impersonate); else the metadata server.
//! The endpoints from `PIPELINE_GCP_RUN_ENDPOINT`,
//! `PIPELINE_GCP_STS_ENDPOINT`, `PIPELINE_GCP_IAMCREDENTIALS_ENDPOINT` and
//! `PIPELINE_GCP_METADATA_ENDPOINT`.

use std::path::PathBuf;
use std::sync::Arc;

use pipeline_ci::{Env, Secret};
use pipeline_http::{Endpoint, Http};

use super::{
    CLOUD_PLATFORM_SCOPE, CloudRun, CloudRunTarget, DEFAULT_IAMCREDENTIALS_ENDPOINT,
    DEFAULT_METADATA_ENDPOINT, DEFAULT_RUN_ENDPOINT, DEFAULT_STS_ENDPOINT, GcpCredential,
    GcpSource, Overrides, ServiceRef, SubjectToken, github_audience, impersonation_url,
    metadata_endpoint, provider_audience,
};
use crate::target::TargetError;

/// Where the target's credential and endpoints come from; every field
/// has the name of the variable it is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpSettings {
    /// `GOOGLE_APPLICATION_CREDENTIALS`.
    pub credentials: Option<PathBuf>,
    /// `PIPELINE_GCP_RUN_ENDPOINT` [default: [`DEFAULT_RUN_ENDPOINT`]].
    pub run_endpoint: String,
    /// `PIPELINE_GCP_STS_ENDPOINT` [default: [`DEFAULT_STS_ENDPOINT`], or
    /// the key file's].
    pub sts_endpoint: Option<String>,
    /// `PIPELINE_GCP_IAMCREDENTIALS_ENDPOINT` [default:
    /// [`DEFAULT_IAMCREDENTIALS_ENDPOINT`], or the key file's].
    pub iamcredentials_endpoint: Option<String>,
    /// `PIPELINE_GCP_METADATA_ENDPOINT` [default:
    /// [`DEFAULT_METADATA_ENDPOINT`]].
    pub metadata_endpoint: String,
}

fn nonempty<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    env.get(name).filter(|v| !v.trim().is_empty())
}

fn config(e: impl std::fmt::Display) -> TargetError {
    TargetError::Config(e.to_string())
}

fn endpoint(what: &str, raw: &str) -> Result<Endpoint, TargetError> {
    Endpoint::parse(what, raw).map_err(config)
}

impl GcpSettings {
    /// The settings `env` holds, with Google's defaults.
    pub fn from_env(env: &Env) -> Self {
        Self {
            credentials: nonempty(env, "GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from),
            run_endpoint: nonempty(env, "PIPELINE_GCP_RUN_ENDPOINT")
                .unwrap_or(DEFAULT_RUN_ENDPOINT)
                .to_owned(),
            sts_endpoint: nonempty(env, "PIPELINE_GCP_STS_ENDPOINT").map(str::to_owned),
            iamcredentials_endpoint: nonempty(env, "PIPELINE_GCP_IAMCREDENTIALS_ENDPOINT")
                .map(str::to_owned),
            metadata_endpoint: nonempty(env, "PIPELINE_GCP_METADATA_ENDPOINT")
                .unwrap_or(DEFAULT_METADATA_ENDPOINT)
                .to_owned(),
        }
    }
}

/// The credential: the key file of `settings`, else Workload Identity
/// Federation from GitHub Actions OIDC as `env` describes it, else the
/// metadata server. A missing piece is a [`TargetError::Config`] naming
/// the variable.
pub fn credential(settings: &GcpSettings, env: &Env) -> Result<GcpCredential, TargetError> {
    let sts = settings
        .sts_endpoint
        .as_deref()
        .map(|s| endpoint("PIPELINE_GCP_STS_ENDPOINT", s))
        .transpose()?;
    let iam = settings
        .iamcredentials_endpoint
        .as_deref()
        .map(|s| endpoint("PIPELINE_GCP_IAMCREDENTIALS_ENDPOINT", s))
        .transpose()?;
    if let Some(file) = settings
        .credentials
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        let what = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| {
            TargetError::Config(format!(
                "cannot read the credentials file {what} (GOOGLE_APPLICATION_CREDENTIALS): {e}"
            ))
        })?;
        let overrides = Overrides {
            token_uri: None,
            sts,
            iamcredentials: iam,
        };
        return GcpCredential::from_json(&what, &text, &overrides, CLOUD_PLATFORM_SCOPE)
            .map_err(config);
    }
    if let Some(provider) = nonempty(env, "GOOGLE_WORKLOAD_IDENTITY_PROVIDER") {
        let url = nonempty(env, "ACTIONS_ID_TOKEN_REQUEST_URL");
        let token = nonempty(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN");
        let (Some(url), Some(token)) = (url, token) else {
            let missing = if url.is_none() {
                "ACTIONS_ID_TOKEN_REQUEST_URL"
            } else {
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
            };
            return Err(TargetError::Config(format!(
                "GOOGLE_WORKLOAD_IDENTITY_PROVIDER is set but there is no GitHub Actions OIDC \
                 token ({missing} is not set): run in GitHub Actions with \
                 `permissions: id-token: write`"
            )));
        };
        let sts = match sts {
            Some(e) => e,
            None => endpoint("the STS endpoint", DEFAULT_STS_ENDPOINT)?,
        };
        let iam = match iam {
            Some(e) => e,
            None => endpoint(
                "the IAM Credentials endpoint",
                DEFAULT_IAMCREDENTIALS_ENDPOINT,
            )?,
        };
        let source = GcpSource::WorkloadIdentity {
            audience: provider_audience(provider),
            subject: SubjectToken::GitHubOidc {
                request_url: url.to_owned(),
                request_token: Secret::new(token.to_owned()),
                audience: github_audience(provider),
            },
            token_url: sts.at("/v1/token", &[]),
            impersonation_url: nonempty(env, "GOOGLE_SERVICE_ACCOUNT")
                .map(|email| impersonation_url(&iam, email.trim())),
        };
        return Ok(GcpCredential::new(source, CLOUD_PLATFORM_SCOPE));
    }
    let md = metadata_endpoint(
        "PIPELINE_GCP_METADATA_ENDPOINT",
        &settings.metadata_endpoint,
    )
    .map_err(config)?;
    Ok(GcpCredential::new(
        GcpSource::Metadata { endpoint: md },
        CLOUD_PLATFORM_SCOPE,
    ))
}

/// The target of the service `svc`, with the endpoints of `settings` and
/// the credential of [`credential`].
pub fn target(
    http: Http,
    settings: &GcpSettings,
    env: &Env,
    svc: ServiceRef,
) -> Result<CloudRunTarget, TargetError> {
    let run = endpoint("PIPELINE_GCP_RUN_ENDPOINT", &settings.run_endpoint)?;
    let cred = credential(settings, env)?;
    tracing::info!(credential = cred.kind(), "authenticating");
    Ok(CloudRunTarget::new(CloudRun::new(
        http,
        run,
        svc,
        Arc::new(cred),
    )))
}

/// [`target`] with the settings `env` holds.
pub fn from_env(http: Http, env: &Env, svc: ServiceRef) -> Result<CloudRunTarget, TargetError> {
    target(http, &GcpSettings::from_env(env), env, svc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_are_google_s() {
        let s = GcpSettings::from_env(&env(&[]));
        assert_eq!(s.run_endpoint, DEFAULT_RUN_ENDPOINT);
        assert_eq!(s.metadata_endpoint, DEFAULT_METADATA_ENDPOINT);
        assert_eq!(s.credentials, None);
    }

    #[test]
    fn a_missing_variable_is_named() {
        let e = env(&[
            ("GOOGLE_WORKLOAD_IDENTITY_PROVIDER", "projects/1/x"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://example.com/t"),
        ]);
        let err = credential(&GcpSettings::from_env(&e), &e).unwrap_err();
        assert!(
            err.to_string().contains("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
            "{err}"
        );
        let e = env(&[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")]);
        let err = credential(&GcpSettings::from_env(&e), &e).unwrap_err();
        assert!(
            err.to_string().contains("GOOGLE_APPLICATION_CREDENTIALS"),
            "{err}"
        );
    }
}
