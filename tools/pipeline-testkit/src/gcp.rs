//! [`FakeGcp`]: the Cloud Run Admin API v2 (one service, its revisions and
//! operations), the OAuth 2.0 token endpoint of a service-account key, the
//! Security Token Service, IAM Credentials, the metadata server, GitHub's
//! OIDC endpoint and each tag's health path, on one wiremock server,
//! answering with the fixtures of `fixtures/gcp` and keeping the service
//! document a deploy changes (generation, etag, template, traffic,
//! revisions).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::reply::Reply;

/// The project of the fixtures.
pub const PROJECT: &str = "pipeline-proj";
/// The region of the fixtures.
pub const REGION: &str = "europe-west1";
/// The service of the fixtures.
pub const SERVICE: &str = "pipeline-svc";
/// The deploying service account.
pub const SA_EMAIL: &str = "deployer@pipeline-proj.iam.gserviceaccount.com";
/// The workload identity provider (resource name).
pub const PROVIDER: &str =
    "projects/123456789012/locations/global/workloadIdentityPools/github/providers/pipeline-repo";
/// The GitHub OIDC token the fake hands out and STS accepts.
pub const GITHUB_JWT: &str = "eyJ0eXAiOiJKV1QifQ.fake.signature";
/// `ACTIONS_ID_TOKEN_REQUEST_TOKEN` the fake's OIDC endpoint accepts.
pub const OIDC_REQUEST_TOKEN: &str = "fake-actions-id-token-request-token";
/// The path of the fake's OIDC endpoint.
pub const OIDC_PATH: &str = "/_github/idtoken";
/// The version the service runs at the start.
pub const INITIAL_VERSION: &str = "1.0.0";
/// The digest of the image it runs at the start.
pub const INITIAL_DIGEST: &str = "0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd";
/// The revision it runs at the start.
pub const INITIAL_REVISION: &str = "pipeline-svc-1-0-0-0123abcd";
/// The image repository of the fixtures.
pub const REPOSITORY: &str = "europe-docker.pkg.dev/pipeline-proj/apps/pipeline-app";

const PRIORITY: u8 = 50;

/// The fixtures directory, `fixtures/gcp` at the workspace root.
pub fn gcp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/gcp")
}

/// The JSON of `fixtures/gcp/{rel}`.
pub fn gcp_json(rel: &str) -> Value {
    let path = gcp_dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {rel} is not JSON: {e}"))
}

/// The test-only RSA key of `fixtures/gcp/test-only-rsa-key.pem`.
pub fn test_key_pem() -> String {
    let path = gcp_dir().join("test-only-rsa-key.pem");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `REPOSITORY@sha256:<digest of version>`: a stable image per version.
pub fn image_of(version: &str) -> String {
    format!("{REPOSITORY}@sha256:{}", digest_hex(version))
}

/// The digest [`image_of`] uses for `version`.
pub fn digest_hex(version: &str) -> String {
    pipeline_artifact::Sha256Digest::of(version.as_bytes()).to_string()
}

/// How the revision a deploy creates turns out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rollout {
    /// It becomes ready.
    Ready,
    /// The operation succeeds but the service's `terminalCondition` fails
    /// with `REVISION_FAILED`.
    RevisionFailed,
    /// The same with `PROGRESS_DEADLINE_EXCEEDED`.
    ProgressDeadline,
    /// The operation ends with an `error` (and `REVISION_FAILED`).
    OperationError,
}

/// A fake Google Cloud, configured before it starts.
#[derive(Debug, Clone)]
pub struct FakeGcpBuilder {
    rollout: Rollout,
    op_polls: u32,
    etag_conflicts: u32,
    sts_refuses: bool,
    traffic: Option<Vec<Value>>,
    revisions: Vec<(String, String, String)>,
    unhealthy: u32,
}

impl Default for FakeGcpBuilder {
    fn default() -> Self {
        Self {
            rollout: Rollout::Ready,
            op_polls: 1,
            etag_conflicts: 0,
            sts_refuses: false,
            traffic: None,
            revisions: Vec::new(),
            unhealthy: 1,
        }
    }
}

impl FakeGcpBuilder {
    /// How the next revisions turn out.
    pub fn rollout(mut self, r: Rollout) -> Self {
        self.rollout = r;
        self
    }

    /// PATCHes answered 409 `ABORTED` first, each after another writer
    /// changed the service (its etag moves).
    pub fn etag_conflicts(mut self, n: u32) -> Self {
        self.etag_conflicts = n;
        self
    }

    /// STS answers 400 `invalid_grant`.
    pub fn sts_refuses(mut self) -> Self {
        self.sts_refuses = true;
        self
    }

    /// Polls of an operation answered `done: false` first.
    pub fn op_polls(mut self, n: u32) -> Self {
        self.op_polls = n;
        self
    }

    /// A revision that exists already: `(name, version, image)`.
    pub fn revision(mut self, name: &str, version: &str, image: &str) -> Self {
        self.revisions
            .push((name.to_owned(), version.to_owned(), image.to_owned()));
        self
    }

    /// The service's traffic at the start (default: LATEST at 100 %).
    pub fn traffic(mut self, traffic: Value) -> Self {
        self.traffic = traffic.as_array().cloned();
        self
    }

    /// Health probes answered 503 after each change, before the version.
    pub fn unhealthy(mut self, n: u32) -> Self {
        self.unhealthy = n;
        self
    }

    /// Starts the server on loopback.
    pub async fn start(self) -> FakeGcp {
        let server = MockServer::start().await;
        let base = server.uri();
        let mut revisions = BTreeMap::new();
        revisions.insert(
            INITIAL_REVISION.to_owned(),
            Rev {
                image: format!("{REPOSITORY}@sha256:{INITIAL_DIGEST}"),
                version: Some(INITIAL_VERSION.to_owned()),
            },
        );
        for (n, v, i) in &self.revisions {
            revisions.insert(
                n.clone(),
                Rev {
                    image: i.clone(),
                    version: Some(v.clone()),
                },
            );
        }
        let doc = gcp_json("run/service-get.200.json");
        let state = State {
            generation: 3,
            etag: 1,
            template: doc["template"].clone(),
            traffic: self
                .traffic
                .clone()
                .unwrap_or_else(|| doc["traffic"].as_array().cloned().unwrap_or_default()),
            revisions,
            latest_ready: INITIAL_REVISION.to_owned(),
            latest_created: INITIAL_REVISION.to_owned(),
            condition: doc["terminalCondition"].clone(),
            ops: HashMap::new(),
            op_count: 0,
            tokens: Vec::new(),
            conflicts_left: self.etag_conflicts,
            unhealthy_left: self.unhealthy,
        };
        let inner = Arc::new(Inner {
            base,
            cfg: self,
            doc,
            state: Mutex::new(state),
        });
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder(Arc::clone(&inner)))
            .with_priority(PRIORITY)
            .mount(&server)
            .await;
        FakeGcp { server, inner }
    }
}

/// A fake Google Cloud on a loopback wiremock server; see the module.
/// Requests must carry a token the fake issued; a PATCH must carry the
/// current `etag`, an `updateMask` of `template` and/or `traffic`, a
/// traffic split summing to 100 over existing revisions with unique tags.
pub struct FakeGcp {
    server: MockServer,
    inner: Arc<Inner>,
}

impl fmt::Debug for FakeGcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeGcp")
            .field("uri", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl FakeGcp {
    /// A builder with the defaults: the service runs 1.0.0 with LATEST at
    /// 100 %, revisions become ready, each operation is polled once.
    pub fn builder() -> FakeGcpBuilder {
        FakeGcpBuilder::default()
    }

    /// The base URI: every endpoint at once.
    pub fn uri(&self) -> String {
        self.inner.base.clone()
    }

    /// The server, to mount more mocks on (at wiremock's default priority
    /// they win over the fake's routes).
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The service's path under `/v2/`.
    pub fn service_path(&self) -> String {
        format!("/v2/projects/{PROJECT}/locations/{REGION}/services/{SERVICE}")
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL` on this server.
    pub fn oidc_request_url(&self) -> String {
        format!("{}{OIDC_PATH}?api-version=2.0", self.inner.base)
    }

    /// A service-account key file whose `token_uri` is this server.
    pub fn key_file(&self) -> Value {
        let mut key = gcp_json("oauth2/service-account-key.json");
        key["private_key"] = json!(test_key_pem());
        key["token_uri"] = json!(format!("{}/token", self.inner.base));
        key
    }

    /// Every request received so far.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// The PATCH requests received.
    pub async fn patches(&self) -> Vec<Request> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str() == "PATCH")
            .collect()
    }

    /// The service document as a GET answers it now.
    pub fn service(&self) -> Value {
        self.inner.service_doc(&self.inner.lock())
    }

    /// The revision taking 100 % of the traffic, if one does.
    pub fn live_revision(&self) -> Option<String> {
        let state = self.inner.lock();
        state
            .resolved()
            .into_iter()
            .find(|t| t["percent"].as_u64() == Some(100))
            .and_then(|t| t["revision"].as_str().map(str::to_owned))
    }

    /// The revision a tag points to.
    pub fn tagged(&self, tag: &str) -> Option<String> {
        let state = self.inner.lock();
        state
            .traffic
            .iter()
            .find(|t| t["tag"].as_str() == Some(tag))
            .and_then(|t| t["revision"].as_str().map(str::to_owned))
    }

    /// The access tokens issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.inner.lock().tokens.clone()
    }
}

#[derive(Debug, Clone)]
struct Rev {
    image: String,
    version: Option<String>,
}

struct State {
    generation: i64,
    etag: u32,
    template: Value,
    traffic: Vec<Value>,
    revisions: BTreeMap<String, Rev>,
    latest_ready: String,
    latest_created: String,
    condition: Value,
    /// Operation name → (polls left, final document).
    ops: HashMap<String, (u32, Value)>,
    op_count: u32,
    tokens: Vec<String>,
    conflicts_left: u32,
    unhealthy_left: u32,
}

impl State {
    fn etag(&self) -> String {
        format!("\"fake-etag-{}\"", self.etag)
    }

    /// The traffic with LATEST resolved to the ready revision.
    fn resolved(&self) -> Vec<Value> {
        self.traffic
            .iter()
            .map(|t| {
                let mut t = t.clone();
                if t["type"].as_str() == Some("TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST") {
                    t["revision"] = json!(self.latest_ready);
                }
                t
            })
            .collect()
    }
}

struct Inner {
    base: String,
    cfg: FakeGcpBuilder,
    doc: Value,
    state: Mutex<State>,
}

struct Responder(Arc<Inner>);

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.0.handle(req).template()
    }
}

fn google_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "error": { "code": status, "message": message, "status": code } }),
    )
}

fn form(req: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect()
}

fn bearer(req: &Request) -> Option<String> {
    req.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.to_owned())
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn issue(&self, kind: &str) -> String {
        let mut s = self.lock();
        let t = format!("ya29.fake-{kind}-{}", s.tokens.len());
        s.tokens.push(t.clone());
        t
    }

    fn authorized(&self, req: &Request) -> bool {
        bearer(req).is_some_and(|t| self.lock().tokens.contains(&t))
    }

    fn full(&self, rev: &str) -> String {
        format!("projects/{PROJECT}/locations/{REGION}/services/{SERVICE}/revisions/{rev}")
    }

    fn service_doc(&self, s: &State) -> Value {
        let mut doc = self.doc.clone();
        doc["generation"] = json!(s.generation.to_string());
        doc["observedGeneration"] = json!(s.generation.to_string());
        doc["template"] = s.template.clone();
        doc["traffic"] = json!(s.traffic);
        doc["latestReadyRevision"] = json!(self.full(&s.latest_ready));
        doc["latestCreatedRevision"] = json!(self.full(&s.latest_created));
        doc["terminalCondition"] = s.condition.clone();
        doc["etag"] = json!(s.etag());
        doc["uri"] = json!(format!("{}/run/_live/", self.base));
        let statuses: Vec<Value> = s
            .traffic
            .iter()
            .map(|t| {
                let mut st = t.clone();
                if let Some(tag) = t["tag"].as_str() {
                    st["uri"] = json!(format!("{}/run/{tag}/", self.base));
                }
                st
            })
            .collect();
        doc["trafficStatuses"] = json!(statuses);
        doc
    }

    fn handle(&self, req: &Request) -> Reply {
        let path = req.url.path().to_owned();
        let method = req.method.as_str();
        let service = format!("/v2/projects/{PROJECT}/locations/{REGION}/services/{SERVICE}");
        match (method, path.as_str()) {
            ("POST", "/token") => self.key_token(req),
            ("POST", "/v1/token") => self.sts(req),
            ("GET", OIDC_PATH) => self.oidc(req),
            ("GET", "/computeMetadata/v1/instance/service-accounts/default/token") => {
                if req
                    .headers
                    .get("metadata-flavor")
                    .and_then(|v| v.to_str().ok())
                    != Some("Google")
                {
                    return Reply::text(403, "Missing Metadata-Flavor:Google header.", "text/html");
                }
                let mut body = gcp_json("metadata/token.200.json");
                body["access_token"] = json!(self.issue("metadata"));
                Reply::json(200, &body)
            }
            ("POST", p) if p.starts_with("/v1/projects/-/serviceAccounts/") => {
                self.generate_access_token(req, p)
            }
            ("GET", p) if p.starts_with("/run/") && p.ends_with("/health") => self.health(p),
            (_, p) if p.starts_with("/v2/") && !self.authorized(req) => google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            ),
            ("GET", p) if p == service => Reply::json(200, &self.service_doc(&self.lock())),
            ("PATCH", p) if p == service => self.patch(req),
            ("GET", p) if p.starts_with(&format!("{service}/revisions/")) => {
                let name = p.rsplit('/').next().unwrap_or_default();
                let s = self.lock();
                match s.revisions.get(name) {
                    Some(r) => {
                        let mut doc = gcp_json("run/revision-get.200.json");
                        doc["name"] = json!(self.full(name));
                        doc["containers"][0]["image"] = json!(r.image);
                        doc["annotations"] = json!({ "pipeline.dev/version": r.version.clone().unwrap_or_default() });
                        Reply::json(200, &doc)
                    }
                    None => {
                        google_error(404, "NOT_FOUND", &format!("Revision '{name}' not found."))
                    }
                }
            }
            ("GET", p)
                if p.starts_with(&format!(
                    "/v2/projects/{PROJECT}/locations/{REGION}/operations/"
                )) =>
            {
                let name = p.trim_start_matches("/v2/").to_owned();
                let mut s = self.lock();
                match s.ops.get_mut(&name) {
                    Some((left, _)) if *left > 0 => {
                        *left -= 1;
                        let mut doc = gcp_json("run/operation.running.json");
                        doc["name"] = json!(name);
                        Reply::json(200, &doc)
                    }
                    Some((_, done)) => Reply::json(200, done),
                    None => google_error(404, "NOT_FOUND", "Operation not found."),
                }
            }
            _ => google_error(
                404,
                "NOT_FOUND",
                &format!("the fake has no route for {method} {path}"),
            ),
        }
    }

    fn key_token(&self, req: &Request) -> Reply {
        let f = form(req);
        if f.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return Reply::json(
                400,
                &json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}),
            );
        }
        let claims = f
            .get("assertion")
            .and_then(|a| {
                let parts: Vec<&str> = a.split('.').collect();
                (parts.len() == 3).then(|| parts[1].to_owned())
            })
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let Some(claims) = claims else {
            return Reply::json(
                400,
                &json!({"error": "invalid_grant", "error_description": "Invalid JWT."}),
            );
        };
        let aud = format!("{}/token", self.base);
        if claims["iss"] != json!(SA_EMAIL)
            || claims["aud"] != json!(aud)
            || claims["scope"] != json!("https://www.googleapis.com/auth/cloud-platform")
            || !claims["iat"].is_u64()
            || !claims["exp"].is_u64()
        {
            return Reply::json(
                400,
                &json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
            );
        }
        let mut body = gcp_json("oauth2/token.200.json");
        body["access_token"] = json!(self.issue("key"));
        Reply::json(200, &body)
    }

    fn sts(&self, req: &Request) -> Reply {
        if self.cfg.sts_refuses {
            return Reply::json(400, &gcp_json("sts/token.400.invalid-grant.json"));
        }
        let f = form(req);
        let want = gcp_json("sts/token.request.json")["form"].clone();
        for key in [
            "grant_type",
            "scope",
            "requested_token_type",
            "subject_token",
            "subject_token_type",
        ] {
            if f.get(key).map(String::as_str) != want[key].as_str() {
                return Reply::json(
                    400,
                    &json!({"error": "invalid_request", "error_description": format!("Invalid value for \"{key}\".")}),
                );
            }
        }
        if f.get("audience").map(String::as_str)
            != Some(&format!("//iam.googleapis.com/{PROVIDER}"))
        {
            return Reply::json(
                400,
                &json!({"error": "invalid_target", "error_description": "The target service indicated by the \"audience\" parameters is invalid."}),
            );
        }
        let mut body = gcp_json("sts/token.200.json");
        body["access_token"] = json!(self.issue("federated"));
        Reply::json(200, &body)
    }

    fn oidc(&self, req: &Request) -> Reply {
        if bearer(req).as_deref() != Some(OIDC_REQUEST_TOKEN) {
            return Reply::text(401, "Unauthorized", "text/plain");
        }
        let aud = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "audience")
            .map(|(_, v)| v.into_owned());
        if aud.as_deref() != Some(&format!("https://iam.googleapis.com/{PROVIDER}")) {
            return Reply::text(400, "Bad audience", "text/plain");
        }
        Reply::json(200, &json!({ "count": 1, "value": GITHUB_JWT }))
    }

    fn generate_access_token(&self, req: &Request, path: &str) -> Reply {
        let federated = bearer(req)
            .is_some_and(|t| t.starts_with("ya29.fake-federated-") && self.authorized(req));
        if !federated {
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            );
        }
        if path != format!("/v1/projects/-/serviceAccounts/{SA_EMAIL}:generateAccessToken") {
            return google_error(
                403,
                "PERMISSION_DENIED",
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
            );
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        if body["scope"] != json!(["https://www.googleapis.com/auth/cloud-platform"]) {
            return google_error(400, "INVALID_ARGUMENT", "Scope required.");
        }
        let mut reply = gcp_json("iamcredentials/generate-access-token.200.json");
        reply["accessToken"] = json!(self.issue("impersonated"));
        Reply::json(200, &reply)
    }

    fn health(&self, path: &str) -> Reply {
        let tag = path.trim_start_matches("/run/").trim_end_matches("/health");
        let mut s = self.lock();
        let rev = s
            .resolved()
            .into_iter()
            .find(|t| {
                if tag == "_live" {
                    t["percent"].as_u64() == Some(100)
                } else {
                    t["tag"].as_str() == Some(tag)
                }
            })
            .and_then(|t| t["revision"].as_str().map(str::to_owned));
        let Some(rev) = rev else {
            return Reply::text(404, "no such tag", "text/plain");
        };
        if s.unhealthy_left > 0 {
            s.unhealthy_left -= 1;
            return Reply::text(503, "Service Unavailable", "text/html");
        }
        let version = s.revisions.get(&rev).and_then(|r| r.version.clone());
        Reply::json(200, &json!({ "status": "ok", "version": version }))
    }

    fn patch(&self, req: &Request) -> Reply {
        let mut s = self.lock();
        if s.conflicts_left > 0 {
            s.conflicts_left -= 1;
            s.etag += 1;
            s.generation += 1;
            return Reply::json(409, &gcp_json("run/error.409.aborted.json"));
        }
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
        };
        if body["etag"].as_str() != Some(&s.etag()) {
            return Reply::json(409, &gcp_json("run/error.409.aborted.json"));
        }
        let mask: Vec<String> = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "updateMask")
            .map(|(_, v)| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        if mask.is_empty() || mask.iter().any(|m| m != "template" && m != "traffic") {
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "updateMask must name template and/or traffic.",
            );
        }
        let mut rollout = Rollout::Ready;
        let mut new_rev = None;
        if mask.iter().any(|m| m == "template") {
            let template = body["template"].clone();
            let (Some(name), Some(image)) = (
                template["revision"].as_str(),
                template["containers"][0]["image"].as_str(),
            ) else {
                return google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "template.revision and template.containers[0].image are required here.",
                );
            };
            if !name.starts_with(&format!("{SERVICE}-")) {
                return google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Revision name must be prefixed by the name of the enclosing Service.",
                );
            }
            if let Some(r) = s.revisions.get(name)
                && r.image != image
            {
                return Reply::json(409, &gcp_json("run/error.409.already-exists.json"));
            }
            let version = template["annotations"]["pipeline.dev/version"]
                .as_str()
                .map(str::to_owned);
            s.revisions.insert(
                name.to_owned(),
                Rev {
                    image: image.to_owned(),
                    version,
                },
            );
            s.template = template.clone();
            s.latest_created = name.to_owned();
            rollout = self.cfg.rollout;
            new_rev = Some(name.to_owned());
        }
        let mut traffic = None;
        if mask.iter().any(|m| m == "traffic") {
            let Some(t) = body["traffic"].as_array().cloned() else {
                return google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "traffic is required by the updateMask.",
                );
            };
            let sum: u64 = t.iter().map(|e| e["percent"].as_u64().unwrap_or(0)).sum();
            if sum != 100 {
                return google_error(
                    400,
                    "INVALID_ARGUMENT",
                    &format!("Traffic percentages must add up to 100, got {sum}."),
                );
            }
            let mut tags = Vec::new();
            for e in &t {
                if e["type"].as_str() == Some("TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION") {
                    let r = e["revision"].as_str().unwrap_or_default();
                    if !s.revisions.contains_key(r) {
                        return google_error(
                            400,
                            "INVALID_ARGUMENT",
                            &format!("Revision '{r}' does not exist."),
                        );
                    }
                }
                if let Some(tag) = e["tag"].as_str() {
                    if tags.contains(&tag) {
                        return google_error(
                            400,
                            "INVALID_ARGUMENT",
                            &format!("Tag '{tag}' is used more than once."),
                        );
                    }
                    tags.push(tag);
                }
            }
            traffic = Some(t);
        }
        s.generation += 1;
        s.etag += 1;
        s.op_count += 1;
        let name = format!(
            "projects/{PROJECT}/locations/{REGION}/operations/op-{}",
            s.op_count
        );
        let mut done = gcp_json("run/operation.done.json");
        done["name"] = json!(name);
        match (rollout, &new_rev) {
            (Rollout::Ready, _) | (_, None) => {
                if let Some(r) = &new_rev {
                    s.latest_ready.clone_from(r);
                }
                if let Some(t) = traffic {
                    s.traffic = t;
                }
                s.condition = self.doc["terminalCondition"].clone();
                s.unhealthy_left = self.cfg.unhealthy;
            }
            (Rollout::RevisionFailed, Some(_)) => {
                s.condition = gcp_json("run/terminal-condition.revision-failed.json");
            }
            (Rollout::ProgressDeadline, Some(_)) => {
                s.condition = gcp_json("run/terminal-condition.progress-deadline.json");
            }
            (Rollout::OperationError, Some(_)) => {
                s.condition = gcp_json("run/terminal-condition.revision-failed.json");
                done = gcp_json("run/operation.error.json");
                done["name"] = json!(name);
            }
        }
        s.ops.insert(name.clone(), (self.cfg.op_polls, done));
        let mut running = gcp_json("run/operation.running.json");
        running["name"] = json!(name);
        Reply::json(200, &running)
    }
}
