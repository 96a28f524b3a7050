//! An [`AppServiceTarget`] from the environment, as the Azure SDKs read
//! it: `AZURE_TENANT_ID` and `AZURE_CLIENT_ID` with `AZURE_CLIENT_SECRET`,
//! `AZURE_FEDERATED_TOKEN_FILE` or GitHub Actions OIDC
//! (`ACTIONS_ID_TOKEN_REQUEST_URL`, `ACTIONS_ID_TOKEN_REQUEST_TOKEN`);
//! the endpoints from `AZURE_AUTHORITY_HOST`, `PIPELINE_AZURE_ARM_ENDPOINT`,
//! `PIPELINE_AZURE_ARM_SCOPE`, `PIPELINE_AZURE_SCM_ENDPOINT` and
//! `PIPELINE_AZURE_API_VERSION`.

use std::path::PathBuf;
use std::sync::Arc;

use pipeline_ci::{Env, Secret};
use pipeline_http::{Endpoint, Http};

use super::{
    ARM_SCOPE, AppRef, AppService, AppServiceTarget, ClientProof, DEFAULT_API_VERSION,
    DEFAULT_AUTHORITY_HOST, EntraCredential, authority_host,
};
use crate::target::TargetError;

/// The public cloud's Resource Manager endpoint.
pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";

/// Where the target's credential and endpoints come from; every field
/// has the name of the variable it is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureSettings {
    /// `AZURE_AUTHORITY_HOST` [default: the public cloud's].
    pub authority_host: String,
    /// `PIPELINE_AZURE_ARM_ENDPOINT` [default: the public cloud's].
    pub arm_endpoint: String,
    /// `PIPELINE_AZURE_ARM_SCOPE` [default: [`ARM_SCOPE`]].
    pub arm_scope: String,
    /// `PIPELINE_AZURE_SCM_ENDPOINT` [default: the slot's SCM host name].
    pub scm_endpoint: Option<String>,
    /// `PIPELINE_AZURE_API_VERSION` [default: [`DEFAULT_API_VERSION`]].
    pub api_version: String,
    /// `AZURE_TENANT_ID`.
    pub tenant: Option<String>,
    /// `AZURE_CLIENT_ID`.
    pub client_id: Option<String>,
}

fn nonempty<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    env.get(name).filter(|v| !v.trim().is_empty())
}

impl AzureSettings {
    /// The settings `env` holds, with the public cloud's defaults.
    pub fn from_env(env: &Env) -> Self {
        let or = |name: &str, default: &str| nonempty(env, name).unwrap_or(default).to_owned();
        Self {
            authority_host: or("AZURE_AUTHORITY_HOST", DEFAULT_AUTHORITY_HOST),
            arm_endpoint: or("PIPELINE_AZURE_ARM_ENDPOINT", DEFAULT_ARM_ENDPOINT),
            arm_scope: or("PIPELINE_AZURE_ARM_SCOPE", ARM_SCOPE),
            scm_endpoint: nonempty(env, "PIPELINE_AZURE_SCM_ENDPOINT").map(str::to_owned),
            api_version: or("PIPELINE_AZURE_API_VERSION", DEFAULT_API_VERSION),
            tenant: nonempty(env, "AZURE_TENANT_ID").map(str::to_owned),
            client_id: nonempty(env, "AZURE_CLIENT_ID").map(str::to_owned),
        }
    }
}

/// The service principal's credential: the ids from `settings`, the proof
/// from `env` (`AZURE_CLIENT_SECRET`, else `AZURE_FEDERATED_TOKEN_FILE`,
/// else GitHub Actions OIDC). A missing one is a [`TargetError::Config`]
/// naming the variables to set.
pub fn credential(settings: &AzureSettings, env: &Env) -> Result<EntraCredential, TargetError> {
    let authority = authority_host("AZURE_AUTHORITY_HOST", &settings.authority_host)
        .map_err(|e| TargetError::Config(e.to_string()))?;
    let (Some(tenant), Some(client_id)) = (&settings.tenant, &settings.client_id) else {
        let missing = match (&settings.tenant, &settings.client_id) {
            (None, None) => "AZURE_TENANT_ID and AZURE_CLIENT_ID are not set",
            (None, _) => "AZURE_TENANT_ID is not set",
            _ => "AZURE_CLIENT_ID is not set",
        };
        return Err(TargetError::Config(format!(
            "no Azure credentials ({missing}): set AZURE_TENANT_ID and AZURE_CLIENT_ID, with \
             AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, or GitHub Actions OIDC \
             (permissions: id-token: write)"
        )));
    };
    let proof = if let Some(secret) = nonempty(env, "AZURE_CLIENT_SECRET") {
        ClientProof::Secret(Secret::new(secret.to_owned()))
    } else if let Some(file) = nonempty(env, "AZURE_FEDERATED_TOKEN_FILE") {
        ClientProof::FederatedTokenFile(PathBuf::from(file))
    } else if let (Some(url), Some(token)) = (
        nonempty(env, "ACTIONS_ID_TOKEN_REQUEST_URL"),
        nonempty(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) {
        ClientProof::GitHubOidc {
            request_url: url.to_owned(),
            request_token: Secret::new(token.to_owned()),
        }
    } else {
        return Err(TargetError::Config(format!(
            "AZURE_CLIENT_ID {client_id} has no proof: set AZURE_CLIENT_SECRET or \
             AZURE_FEDERATED_TOKEN_FILE, or run in GitHub Actions with `permissions: id-token: write`"
        )));
    };
    Ok(EntraCredential::new(
        authority,
        tenant,
        client_id,
        proof,
        &settings.arm_scope,
    ))
}

/// The target for `slot` of `app`, with the endpoints of `settings` and
/// the credential of [`credential`].
pub fn target(
    http: Http,
    settings: &AzureSettings,
    env: &Env,
    app: AppRef,
    slot: &str,
) -> Result<AppServiceTarget, TargetError> {
    let arm = Endpoint::parse("PIPELINE_AZURE_ARM_ENDPOINT", &settings.arm_endpoint)
        .map_err(|e| TargetError::Config(e.to_string()))?;
    let scm = settings
        .scm_endpoint
        .as_deref()
        .map(|s| Endpoint::parse("PIPELINE_AZURE_SCM_ENDPOINT", s))
        .transpose()
        .map_err(|e| TargetError::Config(e.to_string()))?;
    let cred = credential(settings, env)?;
    tracing::info!(credential = cred.kind(), "authenticating");
    let svc = AppService::new(http, arm, app, Arc::new(cred))
        .with_scm(scm)
        .with_api_version(&settings.api_version);
    Ok(AppServiceTarget::new(svc, slot))
}

/// [`target`] with the settings `env` holds.
pub fn from_env(
    http: Http,
    env: &Env,
    app: AppRef,
    slot: &str,
) -> Result<AppServiceTarget, TargetError> {
    target(http, &AzureSettings::from_env(env), env, app, slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_are_the_public_cloud() {
        let s = AzureSettings::from_env(&env(&[("PIPELINE_AZURE_ARM_ENDPOINT", " ")]));
        assert_eq!(s.arm_endpoint, DEFAULT_ARM_ENDPOINT);
        assert_eq!(s.authority_host, DEFAULT_AUTHORITY_HOST);
        assert_eq!(s.scm_endpoint, None);
    }

    #[test]
    fn a_missing_variable_is_named() {
        let e = env(&[("AZURE_TENANT_ID", "t")]);
        let err = credential(&AzureSettings::from_env(&e), &e).unwrap_err();
        assert!(
            err.to_string().contains("AZURE_CLIENT_ID is not set"),
            "{err}"
        );
        let e = env(&[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")]);
        let err = credential(&AzureSettings::from_env(&e), &e).unwrap_err();
        assert!(err.to_string().contains("AZURE_CLIENT_SECRET"), "{err}");
        let e = env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]);
        assert!(credential(&AzureSettings::from_env(&e), &e).is_ok());
    }
}
