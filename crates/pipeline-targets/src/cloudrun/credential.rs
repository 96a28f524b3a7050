//! Google credentials for the Cloud Run Admin API: a service-account key
//! (an RS256 JWT exchanged at the key's `token_uri`), Workload Identity
//! Federation (an external token exchanged at the Security Token Service,
//! then optionally a service account impersonated through IAM
//! Credentials), or the metadata server of Google's own compute. Tokens
//! are cached until shortly before they expire.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use pipeline_ci::Secret;
use pipeline_http::{
    Bearer, Body, BoxFuture, Endpoint, Http, HttpError, Method, Request, ServiceError,
    StaticBearer, TokenCache, github_id_token, is_loopback,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

/// The scope of a token for the Cloud Run Admin API.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The Security Token Service.
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.googleapis.com";
/// IAM Service Account Credentials.
pub const DEFAULT_IAMCREDENTIALS_ENDPOINT: &str = "https://iamcredentials.googleapis.com";
/// The metadata server of Compute Engine, Cloud Run, GKE, Cloud Build.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://metadata.google.internal";
/// The only host plain `http://` is accepted for off loopback.
pub const METADATA_HOST: &str = "metadata.google.internal";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The longest a token request may take, retries included.
const TOKEN_DEADLINE: Duration = Duration::from_secs(60);
/// The lifetime asked for an impersonated token and for a key's JWT.
const LIFETIME: Duration = Duration::from_secs(3600);

/// Why a credential could not be set up (a malformed key file, a missing
/// field); the caller's to fix.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct CredentialError {
    /// The file or variable.
    pub what: String,
    /// What is wrong with it (never a secret).
    pub reason: String,
}

fn bad(what: &str, reason: impl Into<String>) -> CredentialError {
    CredentialError {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

/// Where the external token of a federated credential comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SubjectToken {
    /// GitHub Actions OIDC, asked for `audience` (google-github-actions'
    /// default is `https://iam.googleapis.com/` and the provider's name).
    GitHubOidc {
        /// `ACTIONS_ID_TOKEN_REQUEST_URL`.
        request_url: String,
        /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
        request_token: Secret,
        /// The audience asked for.
        audience: String,
    },
    /// A file holding the token, read for every exchange.
    File(PathBuf),
    /// A URL answering the token (an `external_account` file's
    /// `credential_source.url`), with its headers and the JSON field
    /// holding the token (`None`: the body is the token).
    Url {
        /// The URL.
        url: Url,
        /// Headers to send (they may carry a secret).
        headers: Vec<(String, Secret)>,
        /// The JSON field, such as `value`.
        field: Option<String>,
    },
}

/// How the credential gets a Google access token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum GcpSource {
    /// A service-account key file (`type: service_account`).
    ServiceAccountKey {
        /// `client_email`.
        client_email: String,
        /// `private_key_id`.
        key_id: Option<String>,
        /// `private_key`, a PKCS#8 PEM.
        private_key: Secret,
        /// `token_uri`.
        token_uri: Endpoint,
    },
    /// Workload Identity Federation.
    WorkloadIdentity {
        /// `//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/PR`.
        audience: String,
        /// The external token.
        subject: SubjectToken,
        /// The Security Token Service's token URL.
        token_url: Url,
        /// The `generateAccessToken` URL of the service account to
        /// impersonate, if any.
        impersonation_url: Option<Url>,
    },
    /// The metadata server.
    Metadata {
        /// Its base URL.
        endpoint: Url,
    },
}

/// A Google credential for one scope.
#[derive(Debug)]
pub struct GcpCredential {
    source: GcpSource,
    scope: String,
    cache: TokenCache,
}

/// Endpoint overrides used when building a credential from a file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replaces the key file's `token_uri`.
    pub token_uri: Option<Endpoint>,
    /// Replaces an `external_account` file's `token_url` host.
    pub sts: Option<Endpoint>,
    /// Replaces the impersonation URL's host.
    pub iamcredentials: Option<Endpoint>,
}

/// The `audience` of an STS exchange for a provider resource name, with or
/// without its `//iam.googleapis.com/` prefix.
pub fn provider_audience(provider: &str) -> String {
    let p = provider.trim().trim_start_matches("//iam.googleapis.com/");
    let p = p.trim_start_matches("https://iam.googleapis.com/");
    format!("//iam.googleapis.com/{}", p.trim_start_matches('/'))
}

/// The audience GitHub's OIDC token is asked for, as google-github-actions
/// asks it: `https://iam.googleapis.com/` and the provider's name.
pub fn github_audience(provider: &str) -> String {
    provider_audience(provider).replacen("//", "https://", 1)
}

/// The `generateAccessToken` URL of `email` at `iamcredentials`.
pub fn impersonation_url(iamcredentials: &Endpoint, email: &str) -> Url {
    iamcredentials.at(
        &format!("/v1/projects/-/serviceAccounts/{email}:generateAccessToken"),
        &[],
    )
}

/// Checks the metadata server's URL: `https://`, or plain `http://` on
/// loopback or on exactly [`METADATA_HOST`].
///
/// The metadata server answers only plain http, on a link-local address
/// that the host's own virtualisation layer serves and that never leaves
/// the machine; every Google client library talks to it that way, and the
/// `Metadata-Flavor: Google` header keeps a browser or a forwarded request
/// from reaching it. That one host is the exception to the https rule; any
/// other plain-http host is refused, so a mistyped override cannot send a
/// token request across a network in the clear.
pub fn metadata_endpoint(what: &str, raw: &str) -> Result<Url, CredentialError> {
    let url =
        Url::parse(raw.trim()).map_err(|e| bad(what, format!("`{raw}` is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(what, "the URL carries a user name or password"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) || url.host_str() == Some(METADATA_HOST) => Ok(url),
        s => Err(bad(
            what,
            format!(
                "`{url}` uses {s}://; only https:// is accepted, and http:// only on a loopback address or {METADATA_HOST}"
            ),
        )),
    }
}

fn endpoint_of(what: &str, raw: &str) -> Result<Endpoint, CredentialError> {
    Endpoint::parse(what, raw).map_err(|e| bad(what, e.to_string()))
}

/// Moves `url` onto `base` (keeping its path and query): an override of a
/// URL a credentials file names.
fn moved(base: &Endpoint, url: &Url) -> Url {
    let mut out = base.at(url.path(), &[]);
    out.set_query(url.query());
    out
}

impl GcpCredential {
    /// A credential from `source`, asking for `scope` (such as
    /// [`CLOUD_PLATFORM_SCOPE`]).
    pub fn new(source: GcpSource, scope: &str) -> Self {
        Self {
            source,
            scope: scope.to_owned(),
            cache: TokenCache::new(),
        }
    }

    /// A credential from a credentials file's text (`what` names the file
    /// in errors): `service_account` or `external_account`.
    pub fn from_json(
        what: &str,
        text: &str,
        overrides: &Overrides,
        scope: &str,
    ) -> Result<Self, CredentialError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| bad(what, format!("not a JSON credentials file: {e}")))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let source = match field("type") {
            Some("service_account") => {
                let client_email = field("client_email")
                    .ok_or_else(|| bad(what, "no `client_email`"))?
                    .to_owned();
                let private_key =
                    field("private_key").ok_or_else(|| bad(what, "no `private_key`"))?;
                // Checked now, so a bad key is a configuration error at once.
                key_pair(private_key).map_err(|r| bad(what, r))?;
                let token_uri = match &overrides.token_uri {
                    Some(e) => e.clone(),
                    None => endpoint_of(
                        &format!("{what}: token_uri"),
                        field("token_uri").unwrap_or("https://oauth2.googleapis.com/token"),
                    )?,
                };
                GcpSource::ServiceAccountKey {
                    client_email,
                    key_id: field("private_key_id").map(str::to_owned),
                    private_key: Secret::new(private_key.to_owned()),
                    token_uri,
                }
            }
            Some("external_account") => {
                let audience = field("audience")
                    .ok_or_else(|| bad(what, "no `audience`"))?
                    .to_owned();
                let token_url = endpoint_of(
                    &format!("{what}: token_url"),
                    field("token_url").unwrap_or("https://sts.googleapis.com/v1/token"),
                )?
                .url()
                .clone();
                let token_url = match &overrides.sts {
                    Some(e) => moved(e, &token_url),
                    None => token_url,
                };
                let impersonation_url = match field("service_account_impersonation_url") {
                    Some(raw) => {
                        let u = endpoint_of(
                            &format!("{what}: service_account_impersonation_url"),
                            raw,
                        )?
                        .url()
                        .clone();
                        Some(match &overrides.iamcredentials {
                            Some(e) => moved(e, &u),
                            None => u,
                        })
                    }
                    None => None,
                };
                let src = v
                    .get("credential_source")
                    .ok_or_else(|| bad(what, "no `credential_source`"))?;
                let sfield = |k: &str| src.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
                let json_field = src
                    .get("format")
                    .filter(|f| f.get("type").and_then(Value::as_str) == Some("json"))
                    .and_then(|f| f.get("subject_token_field_name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let subject = if let Some(file) = sfield("file") {
                    SubjectToken::File(PathBuf::from(file))
                } else if let Some(raw) = sfield("url") {
                    let url = endpoint_of(&format!("{what}: credential_source.url"), raw)?
                        .url()
                        .clone();
                    let headers = src
                        .get("headers")
                        .and_then(Value::as_object)
                        .map(|h| {
                            h.iter()
                                .map(|(k, v)| {
                                    (k.clone(), Secret::new(v.as_str().unwrap_or_default()))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    SubjectToken::Url {
                        url,
                        headers,
                        field: json_field,
                    }
                } else {
                    return Err(bad(
                        what,
                        "`credential_source` has neither `file` nor `url` (executables and AWS are not supported)",
                    ));
                };
                GcpSource::WorkloadIdentity {
                    audience,
                    subject,
                    token_url,
                    impersonation_url,
                }
            }
            Some(other) => {
                return Err(bad(
                    what,
                    format!(
                        "credentials of type `{other}` are not supported; use a service_account key or an external_account file"
                    ),
                ));
            }
            None => return Err(bad(what, "no `type`")),
        };
        Ok(Self::new(source, scope))
    }

    /// Which kind of credential it is, in words (for logs; never a secret).
    pub fn kind(&self) -> &'static str {
        match &self.source {
            GcpSource::ServiceAccountKey { .. } => "service-account key",
            GcpSource::WorkloadIdentity {
                impersonation_url: Some(_),
                ..
            } => "workload identity federation with service-account impersonation",
            GcpSource::WorkloadIdentity { .. } => "workload identity federation",
            GcpSource::Metadata { .. } => "metadata server",
        }
    }

    /// The secrets the credential holds, for masking and redaction.
    pub fn secrets(&self) -> Vec<Secret> {
        match &self.source {
            GcpSource::ServiceAccountKey { private_key, .. } => vec![private_key.clone()],
            GcpSource::WorkloadIdentity {
                subject: SubjectToken::GitHubOidc { request_token, .. },
                ..
            } => vec![request_token.clone()],
            GcpSource::WorkloadIdentity {
                subject: SubjectToken::Url { headers, .. },
                ..
            } => headers.iter().map(|(_, v)| v.clone()).collect(),
            _ => Vec::new(),
        }
    }

    async fn fetch(&self, http: &Http) -> Result<(Secret, Duration), HttpError> {
        let deadline = Instant::now() + TOKEN_DEADLINE;
        match &self.source {
            GcpSource::ServiceAccountKey {
                client_email,
                key_id,
                private_key,
                token_uri,
            } => {
                let op = "get a token with the service-account key";
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                let assertion = sign_jwt(
                    private_key,
                    key_id.as_deref(),
                    &json!({
                        "iss": client_email,
                        "scope": self.scope,
                        "aud": token_uri.url().as_str(),
                        "iat": now,
                        "exp": now + LIFETIME.as_secs(),
                    }),
                )
                .map_err(|reason| HttpError::Decode {
                    op: op.to_owned(),
                    url: token_uri.to_string(),
                    reason,
                })?;
                let req = Request::new(op, Method::POST, token_uri.url().clone())
                    .body(Body::form(&[
                        ("grant_type", JWT_BEARER),
                        ("assertion", assertion.expose()),
                    ]))
                    .idempotent(true);
                oauth_token(http, &req, deadline).await
            }
            GcpSource::WorkloadIdentity {
                audience,
                subject,
                token_url,
                impersonation_url,
            } => {
                let subject_token = subject_token(http, subject, deadline).await?;
                let op = "exchange the external token at the Security Token Service";
                // An exchange has no side effect: retrying it is safe.
                let req = Request::new(op, Method::POST, token_url.clone())
                    .body(Body::form(&[
                        ("grant_type", TOKEN_EXCHANGE),
                        ("audience", audience),
                        ("scope", CLOUD_PLATFORM_SCOPE),
                        ("requested_token_type", ACCESS_TOKEN_TYPE),
                        ("subject_token", subject_token.expose()),
                        ("subject_token_type", JWT_TOKEN_TYPE),
                    ]))
                    .idempotent(true);
                let (federated, lifetime) = oauth_token(http, &req, deadline).await?;
                let Some(url) = impersonation_url else {
                    return Ok((federated, lifetime));
                };
                let op = "impersonate the service account with IAM Credentials";
                let bearer = StaticBearer(federated);
                let req = Request::new(op, Method::POST, url.clone())
                    .auth(&bearer)
                    .body(Body::json(&json!({
                        "scope": [self.scope],
                        "lifetime": format!("{}s", LIFETIME.as_secs()),
                    })))
                    .idempotent(true);
                let reply = http.send(&req, deadline).await?;
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Generated {
                    access_token: Option<String>,
                }
                let body: Generated = reply.json(op)?;
                let token = body.access_token.filter(|t| !t.is_empty()).ok_or_else(|| {
                    HttpError::Decode {
                        op: op.to_owned(),
                        url: reply.url.to_string(),
                        reason: "no `accessToken` in the reply".to_owned(),
                    }
                })?;
                // `expireTime` is the time asked for from now; the cache
                // renews well before.
                Ok((Secret::new(token), LIFETIME))
            }
            GcpSource::Metadata { endpoint } => metadata_token(http, endpoint, &self.scope).await,
        }
    }
}

impl Bearer for GcpCredential {
    fn bearer<'a>(
        &'a self,
        http: &'a Http,
        refresh: bool,
    ) -> BoxFuture<'a, Result<Secret, HttpError>> {
        Box::pin(async move { self.cache.get(refresh, || self.fetch(http)).await })
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Option<String>,
    expires_in: Option<Value>,
}

fn token_of(reply: &pipeline_http::Response, op: &str) -> Result<(Secret, Duration), HttpError> {
    let body: TokenReply = reply.json(op)?;
    let token = body
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| HttpError::Decode {
            op: op.to_owned(),
            url: reply.url.to_string(),
            reason: "no `access_token` in the reply".to_owned(),
        })?;
    let lifetime = match body.expires_in {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or(300);
    Ok((Secret::new(token), Duration::from_secs(lifetime)))
}

async fn oauth_token(
    http: &Http,
    req: &Request<'_>,
    deadline: Instant,
) -> Result<(Secret, Duration), HttpError> {
    let reply = http.send(req, deadline).await?;
    token_of(&reply, req.op())
}

async fn subject_token(
    http: &Http,
    subject: &SubjectToken,
    deadline: Instant,
) -> Result<Secret, HttpError> {
    match subject {
        SubjectToken::GitHubOidc {
            request_url,
            request_token,
            audience,
        } => github_id_token(http, request_url, request_token, audience, deadline).await,
        SubjectToken::File(path) => {
            let op = "read the external token";
            let text = tokio::fs::read_to_string(path)
                .await
                .map_err(|source| HttpError::File {
                    op: op.to_owned(),
                    path: path.display().to_string(),
                    source,
                })?;
            let token = text.trim();
            if token.is_empty() {
                return Err(HttpError::File {
                    op: op.to_owned(),
                    path: path.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the file is empty",
                    ),
                });
            }
            Ok(Secret::new(token.to_owned()))
        }
        SubjectToken::Url {
            url,
            headers,
            field,
        } => {
            let op = "get the external token";
            let mut req = Request::new(op, Method::GET, url.clone());
            for (k, v) in headers {
                let (Ok(name), Ok(mut value)) = (
                    reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                    reqwest::header::HeaderValue::from_str(v.expose()),
                ) else {
                    return Err(HttpError::Decode {
                        op: op.to_owned(),
                        url: url.to_string(),
                        reason: format!("credential_source header `{k}` is not a valid header"),
                    });
                };
                value.set_sensitive(true);
                req = req.header(name, value);
            }
            let reply = http.send(&req, deadline).await?;
            let token = match field {
                Some(f) => reply
                    .json::<Value>(op)?
                    .get(f)
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                None => Some(String::from_utf8_lossy(&reply.body).trim().to_owned()),
            };
            match token {
                Some(t) if !t.is_empty() => Ok(Secret::new(t)),
                _ => Err(HttpError::Decode {
                    op: op.to_owned(),
                    url: reply.url.to_string(),
                    reason: "the reply holds no token".to_owned(),
                }),
            }
        }
    }
}

/// The metadata server's token. Sent with the bare client (its URL is
/// plain http, which [`Http::send`] refuses off loopback), retried a few
/// times on connection errors and 5xx.
async fn metadata_token(
    http: &Http,
    endpoint: &Url,
    scope: &str,
) -> Result<(Secret, Duration), HttpError> {
    let op = "get a token from the metadata server";
    let mut url = endpoint.clone();
    let base = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!(
        "{base}/computeMetadata/v1/instance/service-accounts/default/token"
    ));
    url.set_query(None);
    url.query_pairs_mut().append_pair("scopes", scope);
    let mut last = String::new();
    for attempt in 1..=4u32 {
        if attempt > 1 {
            tokio::time::sleep(http.policy().backoff(attempt - 1, fastrand_unit())).await;
        }
        let sent = http
            .client()
            .get(url.clone())
            .header("Metadata-Flavor", "Google")
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                last = if e.is_connect() {
                    "cannot connect (not on Google Cloud? set --credentials or GOOGLE_WORKLOAD_IDENTITY_PROVIDER)".to_owned()
                } else {
                    "the connection failed".to_owned()
                };
                continue;
            }
        };
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if status.is_success() {
            let reply = pipeline_http::Response {
                status,
                headers: Default::default(),
                body,
                url: url.clone(),
            };
            return token_of(&reply, op);
        }
        let service = ServiceError::from_body(&body);
        if status.is_server_error() || status.as_u16() == 429 {
            last = format!("{status}: {service}");
            continue;
        }
        return Err(HttpError::Status {
            op: op.to_owned(),
            method: "GET".to_owned(),
            url: url.to_string(),
            status: status.as_u16(),
            service,
            request_id: None,
        });
    }
    Err(HttpError::Transport {
        op: op.to_owned(),
        method: "GET".to_owned(),
        url: url.to_string(),
        reason: last,
    })
}

/// A draw in `[0, 1)` for the backoff's jitter, from the clock's nanoseconds.
fn fastrand_unit() -> f64 {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    f64::from(n % 1000) / 1000.0
}

/// The DER inside a PEM block (`-----BEGIN PRIVATE KEY-----`).
fn pem_der(pem: &str) -> Result<Vec<u8>, String> {
    let mut inside = false;
    let mut b64 = String::new();
    for line in pem.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN ") {
            if !line.contains("PRIVATE KEY") {
                return Err("the private key is not a PEM private key".to_owned());
            }
            if line.contains("RSA PRIVATE KEY") {
                return Err(
                    "the private key is PKCS#1; a PKCS#8 key (BEGIN PRIVATE KEY) is expected"
                        .to_owned(),
                );
            }
            inside = true;
        } else if line.starts_with("-----END ") {
            break;
        } else if inside {
            b64.push_str(line);
        }
    }
    if b64.is_empty() {
        return Err("the private key holds no PEM block".to_owned());
    }
    STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| "the private key's PEM block is not base64".to_owned())
}

fn key_pair(pem: &str) -> Result<ring::rsa::KeyPair, String> {
    let der = pem_der(pem)?;
    ring::rsa::KeyPair::from_pkcs8(&der)
        .map_err(|e| format!("the private key is not a usable RSA PKCS#8 key ({e})"))
}

/// Signs `claims` as an RS256 JWT with the PKCS#8 PEM `private_key`.
pub fn sign_jwt(
    private_key: &Secret,
    key_id: Option<&str>,
    claims: &Value,
) -> Result<Secret, String> {
    let key = key_pair(private_key.expose())?;
    let mut header = json!({ "alg": "RS256", "typ": "JWT" });
    if let Some(kid) = key_id {
        header["kid"] = json!(kid);
    }
    let mut msg = URL_SAFE_NO_PAD.encode(header.to_string());
    msg.push('.');
    msg.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        msg.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "signing the JWT failed".to_owned())?;
    msg.push('.');
    msg.push_str(&URL_SAFE_NO_PAD.encode(&sig));
    Ok(Secret::new(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_key() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/gcp/test-only-rsa-key.pem"
        ))
        .unwrap()
    }

    #[test]
    fn signs_an_rs256_jwt_that_verifies() {
        let pem = test_key();
        let claims = json!({"iss": "a@b", "aud": "https://oauth2.googleapis.com/token"});
        let jwt = sign_jwt(&Secret::new(pem.clone()), Some("kid1"), &claims).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], "kid1");
        let body: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(body, claims);
        let key = key_pair(&pem).unwrap();
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            ring::signature::KeyPair::public_key(&key).as_ref().to_vec(),
        );
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
    }

    #[test]
    fn a_bad_key_is_named_without_its_bytes() {
        let err = pem_der("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----")
            .unwrap_err();
        assert!(err.contains("PKCS#1"));
        let err =
            key_pair("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").unwrap_err();
        assert!(!err.contains("AAAA"));
    }

    #[test]
    fn plain_http_only_for_loopback_and_the_metadata_host() {
        assert!(metadata_endpoint("x", "http://metadata.google.internal").is_ok());
        assert!(metadata_endpoint("x", "http://127.0.0.1:9").is_ok());
        assert!(metadata_endpoint("x", "https://meta.example").is_ok());
        assert!(metadata_endpoint("x", "http://metadata.google.internal.evil.com").is_err());
        assert!(metadata_endpoint("x", "http://169.254.169.254").is_err());
        assert!(metadata_endpoint("x", "http://10.0.0.1").is_err());
    }

    #[test]
    fn provider_names_become_audiences() {
        let p = "projects/123/locations/global/workloadIdentityPools/gh/providers/repo";
        assert_eq!(provider_audience(p), format!("//iam.googleapis.com/{p}"));
        assert_eq!(
            provider_audience(&format!("//iam.googleapis.com/{p}")),
            provider_audience(p)
        );
        assert_eq!(
            github_audience(p),
            format!("https://iam.googleapis.com/{p}")
        );
    }

    #[test]
    fn key_files_and_external_account_files_parse() {
        let key = json!({
            "type": "service_account",
            "client_email": "deployer@pipeline-proj.iam.gserviceaccount.com",
            "private_key_id": "k1",
            "private_key": test_key(),
            "token_uri": "https://oauth2.googleapis.com/token",
        });
        let c = GcpCredential::from_json(
            "key.json",
            &key.to_string(),
            &Overrides::default(),
            CLOUD_PLATFORM_SCOPE,
        )
        .unwrap();
        assert_eq!(c.kind(), "service-account key");
        let ext = json!({
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/r",
            "subject_token_type": JWT_TOKEN_TYPE,
            "token_url": "https://sts.googleapis.com/v1/token",
            "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/d@p.iam.gserviceaccount.com:generateAccessToken",
            "credential_source": {"file": "/tmp/token"},
        });
        let sts = Endpoint::parse("x", "http://127.0.0.1:5").unwrap();
        let c = GcpCredential::from_json(
            "ext.json",
            &ext.to_string(),
            &Overrides {
                sts: Some(sts),
                ..Overrides::default()
            },
            CLOUD_PLATFORM_SCOPE,
        )
        .unwrap();
        match &c.source {
            GcpSource::WorkloadIdentity { token_url, .. } => {
                assert_eq!(token_url.as_str(), "http://127.0.0.1:5/v1/token");
            }
            other => panic!("{other:?}"),
        }
        let err = GcpCredential::from_json(
            "u.json",
            r#"{"type":"authorized_user"}"#,
            &Overrides::default(),
            "s",
        )
        .unwrap_err();
        assert!(err.to_string().contains("authorized_user"));
    }
}
