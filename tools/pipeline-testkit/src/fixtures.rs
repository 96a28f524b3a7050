//! The fixtures of `fixtures/azure`, read from disk, and the placeholders
//! they use (see `fixtures/azure/SOURCES.md`).

use std::path::PathBuf;

use serde_json::Value;

/// The subscription id of the fixtures.
pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000001";
/// The resource group of the fixtures.
pub const RESOURCE_GROUP: &str = "rg-pipeline";
/// The app (site) of the fixtures.
pub const APP: &str = "pipeline-app";
/// The deployment slot of the fixtures.
pub const SLOT: &str = "staging";
/// The directory (tenant) id of the fixtures.
pub const TENANT: &str = "11111111-1111-1111-1111-111111111111";
/// The application (client) id of the fixtures.
pub const CLIENT_ID: &str = "22222222-2222-2222-2222-222222222222";
/// The client secret of `entra/token.request.client_secret.json`.
pub const CLIENT_SECRET: &str = "fake-client-secret-value";
/// The Microsoft.Web API version the fixtures were shaped from.
pub const API_VERSION: &str = "2026-09-01";
/// The scope of a Resource Manager token.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// The token every fixture carries (the GitHub OIDC token, the assertion).
pub const JWT: &str = "eyJ0eXAiOiJKV1QifQ.fake.signature";
/// `client_assertion_type` of a federated credential.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The audience GitHub OIDC tokens are asked for.
pub const OIDC_AUDIENCE: &str = "api://AzureADTokenExchange";
/// `ACTIONS_ID_TOKEN_REQUEST_TOKEN` of `github/oidc-token.request.envelope.json`.
pub const OIDC_REQUEST_TOKEN: &str = "fake-actions-id-token-request-token";
/// The path of `ACTIONS_ID_TOKEN_REQUEST_URL` (its query is `api-version=2.0`).
pub const OIDC_PATH: &str =
    "/104//idtoken/00000000-0000-0000-0000-0000000000aa/00000000-0000-0000-0000-0000000000bb";
/// The Kudu deployment id of the fixtures.
pub const DEPLOYMENT_ID: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
/// The long-running operation id of the fixtures.
pub const OPERATION_ID: &str = "11111111-2222-3333-4444-555555555555";

/// The hosts the fixtures name, which the fake replaces with its own URI.
pub(crate) const ARM_HOST: &str = "https://management.azure.com";
pub(crate) const LOGIN_HOST: &str = "https://login.microsoftonline.com";
pub(crate) const KUDU_HOST: &str = "https://pipeline-app-staging.scm.azurewebsites.net";

/// The fixtures directory, `fixtures/azure` at the workspace root.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/azure")
}

/// The text of `fixtures/azure/{rel}`. Panics (naming the file) when it
/// cannot be read: a missing fixture is a broken test set-up.
pub fn text(rel: &str) -> String {
    let path = dir().join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// The JSON of `fixtures/azure/{rel}`.
pub fn json(rel: &str) -> Value {
    serde_json::from_str(&text(rel)).unwrap_or_else(|e| panic!("fixture {rel} is not JSON: {e}"))
}

/// A whole reply as a `*.envelope.json` fixture holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The status code.
    pub status: u16,
    /// The headers, in the fixture's order.
    pub headers: Vec<(String, String)>,
    /// The body: `Null` for none, a string for a text body, else JSON.
    pub body: Value,
}

impl Envelope {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets a header, replacing one of the same name.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }
}

/// The envelope `fixtures/azure/{rel}` (a `*.envelope.json`).
pub fn envelope(rel: &str) -> Envelope {
    envelope_from(&json(rel), rel)
}

pub(crate) fn envelope_from(value: &Value, rel: &str) -> Envelope {
    let status = value
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or_else(|| panic!("fixture {rel} has no status"));
    let headers = value
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Envelope {
        status,
        headers,
        body: value.get("body").cloned().unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholders_are_the_fixtures_own() {
        let secret = json("entra/token.request.client_secret.json");
        assert_eq!(secret["form"]["client_secret"], CLIENT_SECRET);
        assert_eq!(secret["form"]["client_id"], CLIENT_ID);
        assert_eq!(secret["form"]["scope"], ARM_SCOPE);
        assert!(secret["_url"].as_str().unwrap().contains(TENANT));
        let assertion = json("entra/token.request.client_assertion.json");
        assert_eq!(assertion["form"]["client_assertion_type"], JWT_BEARER);
        assert_eq!(json("entra/token.200.json")["access_token"], JWT);
        let oidc = json("github/oidc-token.request.envelope.json");
        assert_eq!(
            oidc["env"]["ACTIONS_ID_TOKEN_REQUEST_TOKEN"],
            OIDC_REQUEST_TOKEN
        );
        let url = url::Url::parse(
            oidc["env"]["ACTIONS_ID_TOKEN_REQUEST_URL"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(url.path(), OIDC_PATH);
        assert_eq!(url.query(), Some("api-version=2.0"));
        let site = json("arm/site-get.200.json");
        assert_eq!(
            site["id"],
            format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Web/sites/{APP}"
            )
        );
        assert_eq!(json("kudu/deployment.success.json")["id"], DEPLOYMENT_ID);
        assert_eq!(
            json("arm/async-operation.failed.json")["name"],
            OPERATION_ID
        );
        let publish = envelope("kudu/publish.202.envelope.json");
        assert_eq!(publish.status, 202);
        assert!(publish.header("location").unwrap().starts_with(KUDU_HOST));
        assert!(
            envelope("arm/slotsswap.202.envelope.json")
                .header("Location")
                .unwrap()
                .starts_with(ARM_HOST)
        );
        assert!(text("entra/token.401.invalid_client.json").contains(LOGIN_HOST));
    }
}
