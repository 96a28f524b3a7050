//! Microsoft Entra ID credentials for Resource Manager (and Kudu, which
//! takes the same token): a client secret, a GitHub Actions OIDC token sent
//! as a client assertion, or a federated token file. Tokens are cached
//! until shortly before they expire.

use std::path::PathBuf;
use std::time::Duration;

use pipeline_ci::Secret;
use pipeline_http::{
    AZURE_AUDIENCE, Bearer, Body, BoxFuture, Endpoint, Http, HttpError, Method, Request,
    TokenCache, github_id_token,
};
use serde::Deserialize;
use tokio::time::Instant;

/// The public cloud's authority host.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// The scope of a Resource Manager token in the public cloud.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest a token request may take, retries included.
const TOKEN_DEADLINE: Duration = Duration::from_secs(60);

/// How the client proves who it is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientProof {
    /// `AZURE_CLIENT_SECRET`.
    Secret(Secret),
    /// GitHub Actions OIDC: `ACTIONS_ID_TOKEN_REQUEST_URL` and
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`; a fresh ID token is asked for
    /// every Entra token (they live minutes).
    GitHubOidc {
        /// The request URL.
        request_url: String,
        /// The request token.
        request_token: Secret,
    },
    /// `AZURE_FEDERATED_TOKEN_FILE`, read for every Entra token (the
    /// platform rotates it).
    FederatedTokenFile(PathBuf),
}

/// A service principal's credential for one scope.
#[derive(Debug)]
pub struct EntraCredential {
    authority: Endpoint,
    tenant: String,
    client_id: String,
    proof: ClientProof,
    scope: String,
    cache: TokenCache,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Option<String>,
    expires_in: Option<serde_json::Value>,
}

/// Reads `AZURE_AUTHORITY_HOST` as the Azure SDKs do: a host without a
/// scheme gets `https://`.
pub fn authority_host(what: &str, raw: &str) -> Result<Endpoint, pipeline_http::EndpointError> {
    let raw = raw.trim().trim_end_matches('/');
    if raw.contains("://") {
        Endpoint::parse(what, raw)
    } else {
        Endpoint::parse(what, &format!("https://{raw}"))
    }
}

impl EntraCredential {
    /// A credential for `tenant`/`client_id` at `authority`, asking for
    /// `scope` (such as [`ARM_SCOPE`]).
    pub fn new(
        authority: Endpoint,
        tenant: &str,
        client_id: &str,
        proof: ClientProof,
        scope: &str,
    ) -> Self {
        Self {
            authority,
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            proof,
            scope: scope.to_owned(),
            cache: TokenCache::new(),
        }
    }

    /// Which kind of proof it uses, in words (for logs; never the proof).
    pub fn kind(&self) -> &'static str {
        match self.proof {
            ClientProof::Secret(_) => "client secret",
            ClientProof::GitHubOidc { .. } => "GitHub Actions OIDC",
            ClientProof::FederatedTokenFile(_) => "federated token file",
        }
    }

    async fn fetch(&self, http: &Http) -> Result<(Secret, Duration), HttpError> {
        let deadline = Instant::now() + TOKEN_DEADLINE;
        let assertion;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("scope", &self.scope),
        ];
        match &self.proof {
            ClientProof::Secret(secret) => form.push(("client_secret", secret.expose())),
            ClientProof::GitHubOidc {
                request_url,
                request_token,
            } => {
                assertion =
                    github_id_token(http, request_url, request_token, AZURE_AUDIENCE, deadline)
                        .await?;
                form.push(("client_assertion_type", ASSERTION_TYPE));
                form.push(("client_assertion", assertion.expose()));
            }
            ClientProof::FederatedTokenFile(path) => {
                let text =
                    tokio::fs::read_to_string(path)
                        .await
                        .map_err(|source| HttpError::File {
                            op: "read the federated token".to_owned(),
                            path: path.display().to_string(),
                            source,
                        })?;
                assertion = Secret::new(text.trim().to_owned());
                if assertion.is_empty() {
                    return Err(HttpError::File {
                        op: "read the federated token".to_owned(),
                        path: path.display().to_string(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "the file is empty",
                        ),
                    });
                }
                form.push(("client_assertion_type", ASSERTION_TYPE));
                form.push(("client_assertion", assertion.expose()));
            }
        }
        let op = format!("get a token for {} from Microsoft Entra ID", self.scope);
        let url = self
            .authority
            .at(&format!("{}/oauth2/v2.0/token", self.tenant), &[]);
        // A token request has no side effect: retrying it is safe.
        let req = Request::new(&op, Method::POST, url)
            .body(Body::form(&form))
            .idempotent(true);
        let reply = http.send(&req, deadline).await?;
        let body: TokenReply = reply.json(&op)?;
        let token =
            body.access_token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| HttpError::Decode {
                    op: op.clone(),
                    url: reply.url.as_str().to_owned(),
                    reason: "no `access_token` in the reply".to_owned(),
                })?;
        // `expires_in` is a number, or a string holding one in older replies.
        let lifetime = match body.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(300);
        Ok((Secret::new(token), Duration::from_secs(lifetime)))
    }
}

impl Bearer for EntraCredential {
    fn bearer<'a>(
        &'a self,
        http: &'a Http,
        refresh: bool,
    ) -> BoxFuture<'a, Result<Secret, HttpError>> {
        Box::pin(async move { self.cache.get(refresh, || self.fetch(http)).await })
    }
}
