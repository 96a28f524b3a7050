//! [`FakeAzure`]: Microsoft Entra ID, Resource Manager, Kudu, GitHub's OIDC
//! endpoint and the slots' health paths on one wiremock server.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use wiremock::matchers::{header, method, query_param};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::fixtures::{
    self, API_VERSION, APP, ARM_HOST, ARM_SCOPE, CLIENT_ID, CLIENT_SECRET, Envelope, JWT,
    JWT_BEARER, KUDU_HOST, LOGIN_HOST, OIDC_AUDIENCE, OIDC_PATH, OIDC_REQUEST_TOKEN, OPERATION_ID,
    RESOURCE_GROUP, SLOT, SUBSCRIPTION, TENANT,
};
use crate::reply::Reply;

/// The app setting holding the version a slot runs.
pub const VERSION_SETTING: &str = "PIPELINE_VERSION";
/// The app setting holding the artifact's digest.
pub const DIGEST_SETTING: &str = "PIPELINE_ARTIFACT_SHA256";

/// The priority of the fake's own routes: tests mount their own mocks at
/// wiremock's default priority (5), which wins.
pub const ROUTE_PRIORITY: u8 = 50;
const FALLBACK_PRIORITY: u8 = 255;

/// The build output behind the `details_url` of the failed deployment's
/// log (`kudu/deployment-log.failed.json`). **Synth**: Kudu serves the
/// details in the same `LogEntry` shape; these lines are made up.
pub const BUILD_ERROR_LINES: [&str; 2] = [
    "ERROR: Could not find a version that satisfies the requirement flask==99.0.0",
    "ERROR: No matching distribution found for flask==99.0.0",
];

/// How a missing slot is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotCreate {
    /// 202 with `Location` (as the spec declares it), then `polls` polls
    /// answered 202, then 200 with the slot.
    Location {
        /// Polls answered 202 before the 200.
        polls: u32,
    },
    /// 202 with `Azure-AsyncOperation` (as the spec's example has it):
    /// `InProgress`, then `Failed` (`arm/async-operation.failed.json`).
    AsyncOperationFails,
}

/// A state a Kudu deployment passes through before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KuduStep {
    /// Status 0 (`kudu/deployment.latest.202.envelope.json`).
    Pending,
    /// Status 1 (`kudu/deployment.building.json`).
    Building,
    /// Status 2 (`kudu/deployment.deploying.json`).
    Deploying,
}

/// How a Kudu deployment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KuduOutcome {
    /// Status 4 (`kudu/deployment.success.json`); the slot then serves the
    /// version its settings name.
    Success,
    /// Status 3 (`kudu/deployment.failed.json`), with the failed log.
    Failed,
}

/// What Kudu does with an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kudu {
    /// Uploads answered 409 "deployment currently in progress" first.
    pub conflicts: u32,
    /// Polls of `/api/deployments/latest` answered 202 with these states.
    pub steps: Vec<KuduStep>,
    /// The end.
    pub outcome: KuduOutcome,
}

impl Default for Kudu {
    fn default() -> Self {
        Self {
            conflicts: 0,
            steps: vec![KuduStep::Pending, KuduStep::Building],
            outcome: KuduOutcome::Success,
        }
    }
}

/// How a slot's health path answers after a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// Probes answered 503 first.
    pub unavailable: u32,
    /// Probes answered 200 with the version served before, next.
    pub stale: u32,
}

impl Health {
    /// Always the version served before the deployment.
    pub const NEVER: Health = Health {
        unavailable: 0,
        stale: u32::MAX,
    };
}

impl Default for Health {
    fn default() -> Self {
        Self {
            unavailable: 1,
            stale: 1,
        }
    }
}

/// How `slotsswap` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Swap {
    /// 202 with `Location`, `polls` polls answered 202, then 200; the
    /// slots are exchanged when the operation ends.
    Accepted {
        /// Polls answered 202 before the 200.
        polls: u32,
    },
    /// The swap happens, but the reply is lost: 502.
    LostReply,
}

/// A fake Azure, configured before it starts.
#[derive(Debug, Clone)]
pub struct FakeAzureBuilder {
    client_secret: String,
    client_assertion: String,
    oidc_id_token: Option<String>,
    oidc_request_token: String,
    token_prefix: String,
    expired_tokens: usize,
    app_exists: bool,
    production: BTreeMap<String, String>,
    slots: BTreeMap<String, BTreeMap<String, String>>,
    sticky: Vec<String>,
    slot_create: SlotCreate,
    kudu: Kudu,
    health: Health,
    swap: Swap,
}

/// The digest recorded for `version` in the fake's settings.
pub fn digest_of(version: &str) -> String {
    pipeline_artifact::Sha256Digest::of(format!("release {version}").as_bytes()).to_string()
}

fn settings_for(
    base: &BTreeMap<String, String>,
    version: Option<&str>,
) -> BTreeMap<String, String> {
    let mut s = base.clone();
    match version {
        Some(v) => {
            s.insert(VERSION_SETTING.to_owned(), v.to_owned());
            s.insert(DIGEST_SETTING.to_owned(), digest_of(v));
        }
        None => {
            s.remove(VERSION_SETTING);
            s.remove(DIGEST_SETTING);
        }
    }
    s
}

impl Default for FakeAzureBuilder {
    fn default() -> Self {
        // The slot's settings are the fixture's; production's the same with
        // its own DEPLOY_SLOT (a slot setting, which stays put on a swap).
        let fixture = fixtures::json("arm/appsettings-list.200.json");
        let slot: BTreeMap<String, String> = fixture["properties"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let mut production = slot.clone();
        production.insert("DEPLOY_SLOT".to_owned(), "production".to_owned());
        Self {
            client_secret: CLIENT_SECRET.to_owned(),
            client_assertion: JWT.to_owned(),
            oidc_id_token: None,
            oidc_request_token: OIDC_REQUEST_TOKEN.to_owned(),
            token_prefix: "eyJ0eXAiOiJKV1QifQ.fake-access-token-".to_owned(),
            expired_tokens: 0,
            app_exists: true,
            production: settings_for(&production, Some("1.0.0")),
            slots: BTreeMap::from([(SLOT.to_owned(), settings_for(&slot, Some("0.9.0")))]),
            sticky: vec!["DEPLOY_SLOT".to_owned()],
            slot_create: SlotCreate::Location { polls: 1 },
            kudu: Kudu::default(),
            health: Health::default(),
            swap: Swap::Accepted { polls: 1 },
        }
    }
}

impl FakeAzureBuilder {
    /// The client secret Entra ID accepts (default: the fixture's).
    pub fn client_secret(mut self, secret: &str) -> Self {
        secret.clone_into(&mut self.client_secret);
        self
    }

    /// The client assertion Entra ID accepts, which is also the ID token
    /// GitHub's OIDC endpoint hands out (default: the fixture's JWT).
    pub fn client_assertion(mut self, assertion: &str) -> Self {
        assertion.clone_into(&mut self.client_assertion);
        self
    }

    /// The ID token GitHub's OIDC endpoint hands out when it is not the
    /// assertion Entra ID accepts (a federated credential that does not
    /// match).
    pub fn oidc_id_token(mut self, token: &str) -> Self {
        self.oidc_id_token = Some(token.to_owned());
        self
    }

    /// The `ACTIONS_ID_TOKEN_REQUEST_TOKEN` the OIDC endpoint accepts.
    pub fn oidc_request_token(mut self, token: &str) -> Self {
        token.clone_into(&mut self.oidc_request_token);
        self
    }

    /// Access tokens are this followed by their number (1, 2, …).
    pub fn token_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.token_prefix);
        self
    }

    /// The first `n` access tokens issued are refused by Resource Manager
    /// and Kudu as expired (401 `ExpiredAuthenticationToken`).
    pub fn expired_tokens(mut self, n: usize) -> Self {
        self.expired_tokens = n;
        self
    }

    /// The app does not exist (GET site answers 404).
    pub fn without_app(mut self) -> Self {
        self.app_exists = false;
        self
    }

    /// The slot `slot` does not exist.
    pub fn without_slot(mut self, slot: &str) -> Self {
        self.slots.remove(slot);
        self
    }

    /// Adds (or replaces) a slot holding `version`.
    pub fn slot(mut self, slot: &str, version: Option<&str>) -> Self {
        let mut base = self.slots.get(SLOT).cloned().unwrap_or_default();
        base.insert("DEPLOY_SLOT".to_owned(), slot.to_owned());
        self.slots
            .insert(slot.to_owned(), settings_for(&base, version));
        self
    }

    /// Sets one app setting of production (`None`) or a slot.
    pub fn setting(mut self, slot: Option<&str>, key: &str, value: &str) -> Self {
        let settings = match slot.filter(|s| *s != "production") {
            None => Some(&mut self.production),
            Some(s) => self.slots.get_mut(s),
        };
        if let Some(settings) = settings {
            settings.insert(key.to_owned(), value.to_owned());
        }
        self
    }

    /// The versions (and their digests) production and the slot hold;
    /// `None` removes them.
    pub fn versions(mut self, production: Option<&str>, slot: Option<&str>) -> Self {
        self.production = settings_for(&self.production, production);
        if let Some(s) = self.slots.get_mut(SLOT) {
            *s = settings_for(s, slot);
        }
        self
    }

    /// How a missing slot is created.
    pub fn slot_create(mut self, how: SlotCreate) -> Self {
        self.slot_create = how;
        self
    }

    /// What Kudu does with an upload.
    pub fn kudu(mut self, kudu: Kudu) -> Self {
        self.kudu = kudu;
        self
    }

    /// How the health path answers after a deployment.
    pub fn health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// How `slotsswap` answers.
    pub fn swap(mut self, swap: Swap) -> Self {
        self.swap = swap;
        self
    }

    /// Starts the server on loopback and mounts every route.
    pub async fn start(self) -> FakeAzure {
        let server = MockServer::start().await;
        let mut slots = BTreeMap::new();
        for (name, settings) in &self.slots {
            slots.insert(name.clone(), SiteState::new(settings.clone()));
        }
        let state = State {
            production: SiteState::new(self.production.clone()),
            slots,
            tokens: Vec::new(),
            ops: HashMap::new(),
            op_count: 0,
            conflicts_left: self.kudu.conflicts,
            deployment: None,
            rollouts: HashMap::new(),
            swaps: 0,
        };
        // Kudu names its own host in what it sends back; here that host is a
        // loopback port nobody listens on, so a client that does not move
        // those URLs onto its SCM endpoint fails at once.
        let kudu_self = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| format!("http://{a}"))
            .expect("find a free loopback port");
        let inner = Arc::new(Inner {
            base: server.uri(),
            kudu_self,
            cfg: self,
            state: Mutex::new(state),
        });
        mount_routes(&server, &inner).await;
        FakeAzure { server, inner }
    }
}

/// A fake Azure on a loopback wiremock server: Microsoft Entra ID's token
/// endpoint, Resource Manager's App Service operations, Kudu's OneDeploy,
/// GitHub Actions' OIDC endpoint and each slot's health path
/// (`/web/{slot}/health`). Replies are the fixtures of `fixtures/azure`
/// with their hosts moved to the server and their ids adjusted; requests
/// are matched on method, path, `api-version`, bearer token (one the fake
/// issued), content type and body shape, and anything else gets a 401, 400
/// or 404 naming what was wrong.
pub struct FakeAzure {
    server: MockServer,
    inner: Arc<Inner>,
}

impl fmt::Debug for FakeAzure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeAzure")
            .field("uri", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl FakeAzure {
    /// A fake with the defaults: production holds 1.0.0, slot `staging`
    /// 0.9.0, Kudu goes pending → building → success, the health path
    /// answers 503, then the old version, then the new one.
    pub fn builder() -> FakeAzureBuilder {
        FakeAzureBuilder::default()
    }

    /// Starts a fake with the defaults.
    pub async fn start() -> FakeAzure {
        Self::builder().start().await
    }

    /// The server's base URI (`http://127.0.0.1:port`): the authority host,
    /// the Resource Manager endpoint and the SCM endpoint at once.
    pub fn uri(&self) -> String {
        self.inner.base.clone()
    }

    /// The server, to mount more mocks on (at wiremock's default priority
    /// they win over the fake's routes).
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The URL a slot serves at, for `--slot-url` (its health path is
    /// `health` under it).
    pub fn slot_url(&self, slot: &str) -> String {
        format!("{}/web/{slot}/", self.inner.base)
    }

    /// The host Kudu names in the URLs it sends back (`Location`,
    /// `log_url`, `details_url`): a closed loopback port, as the fixtures'
    /// `*.scm.azurewebsites.net` would be unreachable behind a proxy. A
    /// client must move those URLs onto its SCM endpoint.
    pub fn kudu_own_host(&self) -> String {
        self.inner.kudu_self.clone()
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL` on this server.
    pub fn oidc_request_url(&self) -> String {
        format!("{}{OIDC_PATH}?api-version=2.0", self.inner.base)
    }

    /// The Resource Manager path of production (`None`) or a slot.
    pub fn site_path(&self, slot: Option<&str>) -> String {
        site_path(slot)
    }

    /// Every request received so far.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// The requests received with `method` on exactly `path`.
    pub async fn requests_to(&self, method: &str, path: &str) -> Vec<Request> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str() == method && r.url.path() == path)
            .collect()
    }

    /// The token requests received.
    pub async fn token_requests(&self) -> Vec<Request> {
        self.requests_to("POST", &format!("/{TENANT}/oauth2/v2.0/token"))
            .await
    }

    /// The access tokens issued so far, in order.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.inner.lock().tokens.clone()
    }

    /// The app settings of production (`None`) or a slot, if it exists.
    pub fn settings(&self, slot: Option<&str>) -> Option<BTreeMap<String, String>> {
        let state = self.inner.lock();
        state.site(slot).map(|s| s.settings.clone())
    }

    /// The version recorded in the settings of production or a slot.
    pub fn version(&self, slot: Option<&str>) -> Option<String> {
        self.settings(slot)
            .and_then(|s| s.get(VERSION_SETTING).cloned())
    }

    /// The version production or a slot serves (what its health path ends
    /// up answering).
    pub fn serving(&self, slot: Option<&str>) -> Option<String> {
        let state = self.inner.lock();
        state.site(slot).and_then(|s| s.serving.clone())
    }

    /// How many swaps took effect.
    pub fn swaps(&self) -> u32 {
        self.inner.lock().swaps
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

fn site_path(slot: Option<&str>) -> String {
    let mut p = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Web/sites/{APP}"
    );
    if let Some(slot) = slot.filter(|s| *s != "production") {
        p.push_str("/slots/");
        p.push_str(slot);
    }
    p
}

#[derive(Debug)]
struct SiteState {
    settings: BTreeMap<String, String>,
    serving: Option<String>,
}

impl SiteState {
    fn new(settings: BTreeMap<String, String>) -> Self {
        let serving = settings.get(VERSION_SETTING).cloned();
        Self { settings, serving }
    }
}

#[derive(Debug)]
struct Rollout {
    previous: Option<String>,
    probes: u32,
}

#[derive(Debug)]
enum OpKind {
    CreateSlot(String),
    Swap(String),
    FailedCreate,
}

#[derive(Debug)]
struct Op {
    polls_left: u32,
    kind: OpKind,
}

#[derive(Debug)]
struct Deployment {
    steps: VecDeque<KuduStep>,
    outcome: KuduOutcome,
    version: Option<String>,
    finished: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    production: SiteState,
    slots: BTreeMap<String, SiteState>,
    tokens: Vec<String>,
    ops: HashMap<String, Op>,
    op_count: u64,
    conflicts_left: u32,
    deployment: Option<Deployment>,
    rollouts: HashMap<String, Rollout>,
    swaps: u32,
}

impl State {
    fn site(&self, slot: Option<&str>) -> Option<&SiteState> {
        match slot.filter(|s| *s != "production") {
            None => Some(&self.production),
            Some(s) => self.slots.get(s),
        }
    }

    fn site_mut(&mut self, slot: Option<&str>) -> Option<&mut SiteState> {
        match slot.filter(|s| *s != "production") {
            None => Some(&mut self.production),
            Some(s) => self.slots.get_mut(s),
        }
    }

    fn new_op(&mut self, polls_left: u32, kind: OpKind) -> String {
        // The first operation keeps the fixtures' id.
        let id = if self.op_count == 0 {
            OPERATION_ID.to_owned()
        } else {
            format!(
                "11111111-2222-3333-4444-{:012}",
                555_555_555_555 + self.op_count
            )
        };
        self.op_count += 1;
        self.ops.insert(id.clone(), Op { polls_left, kind });
        id
    }
}

/// What a bearer token is to the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BearerState {
    Missing,
    Unknown,
    Expired,
    Valid,
}

#[derive(Debug)]
pub(crate) struct Inner {
    base: String,
    kudu_self: String,
    cfg: FakeAzureBuilder,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Token,
    Oidc,
    Site,
    SlotGet,
    SlotPut,
    SlotList,
    SettingsList,
    SettingsPut,
    Swap,
    OperationResult,
    AsyncOperation,
    Publish,
    Latest,
    Log,
    LogDetails,
    Health,
    Fallback,
}

struct Responder {
    inner: Arc<Inner>,
    route: Route,
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.inner.handle(self.route, req).template()
    }
}

/// Matches a path segment by segment; `*` is any one segment.
#[derive(Debug)]
struct PathShape(Vec<String>);

impl PathShape {
    fn new(pattern: &str) -> Self {
        Self(pattern.split('/').map(str::to_owned).collect())
    }
}

impl Match for PathShape {
    fn matches(&self, req: &Request) -> bool {
        let segs: Vec<&str> = req.url.path().split('/').collect();
        segs.len() == self.0.len() && segs.iter().zip(&self.0).all(|(s, p)| p == "*" || s == p)
    }
}

/// `Authorization: Bearer <a token the fake issued and has not expired>`.
struct IssuedBearer(Arc<Inner>);

impl Match for IssuedBearer {
    fn matches(&self, req: &Request) -> bool {
        self.0.bearer_state(req) == BearerState::Valid
    }
}

/// `Authorization: Bearer <token>`, the scheme in any case (the Actions
/// toolkit sends `bearer`).
struct BearerIs(String);

impl Match for BearerIs {
    fn matches(&self, req: &Request) -> bool {
        authorization(req)
            .and_then(|v| v.split_once(' '))
            .is_some_and(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && token == self.0)
    }
}

/// A JSON body `{"properties": {<string>: <string>, …}}` (a
/// StringDictionary, as `config/appsettings` takes it).
struct StringDictionary;

impl Match for StringDictionary {
    fn matches(&self, req: &Request) -> bool {
        req.body_json::<Value>()
            .ok()
            .and_then(|v| v.get("properties").and_then(Value::as_object).cloned())
            .is_some_and(|props| props.values().all(Value::is_string))
    }
}

fn authorization(req: &Request) -> Option<&str> {
    req.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
}

async fn mount_routes(server: &MockServer, inner: &Arc<Inner>) {
    let site = site_path(None);
    let slot = format!("{site}/slots/*");
    let respond = |route| Responder {
        inner: Arc::clone(inner),
        route,
    };
    let arm = |verb: &str, path: &str| {
        Mock::given(method(verb))
            .and(PathShape::new(path))
            .and(query_param("api-version", API_VERSION))
            .and(IssuedBearer(Arc::clone(inner)))
    };
    let kudu = |verb: &str, path: &str| {
        Mock::given(method(verb))
            .and(PathShape::new(path))
            .and(IssuedBearer(Arc::clone(inner)))
    };
    let json_body = || header("content-type", "application/json");
    let cloning = json!({
        "location": "East US",
        "kind": "app",
        "properties": {
            "serverFarmId": format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Web/serverfarms/plan-pipeline"
            ),
            "cloningInfo": { "sourceWebAppId": site },
        }
    });
    let mocks = vec![
        Mock::given(method("POST"))
            .and(PathShape::new(&format!("/{TENANT}/oauth2/v2.0/token")))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .respond_with(respond(Route::Token)),
        Mock::given(method("GET"))
            .and(PathShape::new(OIDC_PATH))
            .and(query_param("api-version", "2.0"))
            .and(query_param("audience", OIDC_AUDIENCE))
            .and(BearerIs(inner.cfg.oidc_request_token.clone()))
            .respond_with(respond(Route::Oidc)),
        arm("GET", &site).respond_with(respond(Route::Site)),
        arm("GET", &slot).respond_with(respond(Route::SlotGet)),
        arm("PUT", &slot)
            .and(json_body())
            .and(wiremock::matchers::body_partial_json(cloning))
            .respond_with(respond(Route::SlotPut)),
        arm("GET", &format!("{site}/slots")).respond_with(respond(Route::SlotList)),
        arm("POST", &format!("{site}/config/appsettings/list"))
            .respond_with(respond(Route::SettingsList)),
        arm("POST", &format!("{slot}/config/appsettings/list"))
            .respond_with(respond(Route::SettingsList)),
        arm("PUT", &format!("{site}/config/appsettings"))
            .and(json_body())
            .and(StringDictionary)
            .respond_with(respond(Route::SettingsPut)),
        arm("PUT", &format!("{slot}/config/appsettings"))
            .and(json_body())
            .and(StringDictionary)
            .respond_with(respond(Route::SettingsPut)),
        arm("POST", &format!("{slot}/slotsswap"))
            .and(json_body())
            .and(wiremock::matchers::body_json(
                json!({ "targetSlot": "production", "preserveVnet": true }),
            ))
            .respond_with(respond(Route::Swap)),
        arm("GET", &format!("{site}/operationresults/*"))
            .respond_with(respond(Route::OperationResult)),
        arm("GET", &format!("{slot}/operationresults/*"))
            .respond_with(respond(Route::OperationResult)),
        arm(
            "GET",
            &format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/sites/{APP}/operationResults/*"),
        )
        .respond_with(respond(Route::AsyncOperation)),
        kudu("POST", "/api/publish")
            .and(query_param("type", "zip"))
            .and(query_param("async", "true"))
            .and(header("content-type", "application/zip"))
            .respond_with(respond(Route::Publish)),
        kudu("GET", "/api/deployments/latest").respond_with(respond(Route::Latest)),
        kudu("GET", "/api/deployments/*/log").respond_with(respond(Route::Log)),
        kudu("GET", "/api/deployments/*/log/*").respond_with(respond(Route::LogDetails)),
        Mock::given(method("GET"))
            .and(PathShape::new("/web/*/health"))
            .respond_with(respond(Route::Health)),
    ];
    for mock in mocks {
        mock.with_priority(ROUTE_PRIORITY).mount(server).await;
    }
    Mock::given(wiremock::matchers::any())
        .respond_with(respond(Route::Fallback))
        .with_priority(FALLBACK_PRIORITY)
        .mount(server)
        .await;
}

fn arm_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "error": { "code": code, "message": message } }),
    )
}

fn last_segment(req: &Request) -> String {
    req.url
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The slot a Resource Manager path names (`…/slots/{slot}/…`), if any.
fn slot_of(req: &Request) -> Option<String> {
    let mut segs = req.url.path().split('/');
    segs.by_ref().find(|s| *s == "slots")?;
    segs.next().filter(|s| !s.is_empty()).map(str::to_owned)
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fixture text with its hosts moved to this server.
    fn localize(&self, text: &str) -> String {
        text.replace(ARM_HOST, &self.base)
            .replace(LOGIN_HOST, &self.base)
            .replace(KUDU_HOST, &self.kudu_self)
    }

    fn fixture(&self, rel: &str) -> Value {
        let text = self.localize(&fixtures::text(rel));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
    }

    fn envelope(&self, rel: &str) -> Envelope {
        fixtures::envelope_from(&self.fixture(rel), rel)
    }

    /// A slot fixture renamed from `staging` to `slot`.
    fn slot_fixture(&self, rel: &str, slot: &str) -> Value {
        let text = self
            .localize(&fixtures::text(rel))
            .replace("pipeline-app-staging", &format!("{APP}-{slot}"))
            .replace("pipeline-app/staging", &format!("{APP}/{slot}"))
            .replace("slots/staging", &format!("slots/{slot}"))
            .replace("pipeline-app(staging)", &format!("{APP}({slot})"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
    }

    pub(crate) fn bearer_state(&self, req: &Request) -> BearerState {
        self.bearer_of(authorization(req))
    }

    pub(crate) fn bearer_of(&self, header: Option<&str>) -> BearerState {
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return BearerState::Missing;
        };
        let state = self.lock();
        match state.tokens.iter().position(|t| t == token) {
            None => BearerState::Unknown,
            Some(i) if i < self.cfg.expired_tokens => BearerState::Expired,
            Some(_) => BearerState::Valid,
        }
    }

    fn handle(&self, route: Route, req: &Request) -> Reply {
        match route {
            Route::Token => self.token(req),
            Route::Oidc => {
                let mut body = self.fixture("github/oidc-token.200.json");
                let token = self
                    .cfg
                    .oidc_id_token
                    .as_ref()
                    .unwrap_or(&self.cfg.client_assertion);
                body["value"] = json!(token);
                Reply::json(200, &body)
            }
            Route::Site => self.site(),
            Route::SlotGet => self.slot_get(&last_segment(req)),
            Route::SlotPut => self.slot_put(&last_segment(req)),
            Route::SlotList => self.slot_list(req),
            Route::SettingsList => self.settings_list(slot_of(req).as_deref()),
            Route::SettingsPut => self.settings_put(slot_of(req).as_deref(), req),
            Route::Swap => self.swap(slot_of(req).as_deref().unwrap_or(SLOT)),
            Route::OperationResult => self.operation_result(req),
            Route::AsyncOperation => self.async_operation(&last_segment(req)),
            Route::Publish => self.publish(),
            Route::Latest => self.latest(),
            Route::Log => self.log(),
            Route::LogDetails => Reply::json(
                200,
                &json!([
                    {
                        "log_time": "2026-11-26T10:00:03.0000000Z",
                        "id": "7e1f0a3c-0013-4000-8000-000000000013",
                        "message": BUILD_ERROR_LINES[0],
                        "type": 2,
                        "details_url": null
                    },
                    {
                        "log_time": "2026-11-26T10:00:04.0000000Z",
                        "id": "7e1f0a3c-0014-4000-8000-000000000014",
                        "message": BUILD_ERROR_LINES[1],
                        "type": 2,
                        "details_url": null
                    }
                ]),
            ),
            Route::Health => self.health(req),
            Route::Fallback => self.fallback(req),
        }
    }

    fn token(&self, req: &Request) -> Reply {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let get = |k: &str| form.get(k).map(String::as_str);
        let aad = |status: u16, error: &str, description: &str| {
            Reply::json(
                status,
                &json!({
                    "error": error,
                    "error_description": description,
                    "error_codes": [],
                    "error_uri": format!("{}/error", self.base),
                }),
            )
        };
        if get("grant_type") != Some("client_credentials") {
            return aad(
                400,
                "invalid_request",
                "AADSTS900144: The request body must contain the following parameter: 'grant_type'.",
            );
        }
        if get("client_id") != Some(CLIENT_ID) {
            return aad(
                400,
                "unauthorized_client",
                "AADSTS700016: Application with identifier was not found in the directory.",
            );
        }
        if get("scope") != Some(ARM_SCOPE) {
            return Reply::json(400, &self.fixture("entra/token.400.invalid_scope.json"));
        }
        match (
            get("client_secret"),
            get("client_assertion_type"),
            get("client_assertion"),
        ) {
            (Some(secret), None, None) if secret == self.cfg.client_secret => self.issue(),
            (Some(_), None, None) => {
                Reply::json(401, &self.fixture("entra/token.401.invalid_client.json"))
            }
            (None, Some(JWT_BEARER), Some(a)) if a == self.cfg.client_assertion => self.issue(),
            (None, Some(JWT_BEARER), Some(_)) => Reply::json(
                400,
                &self.fixture("entra/token.400.no_matching_federated_identity.json"),
            ),
            _ => aad(
                400,
                "invalid_request",
                "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ),
        }
    }

    fn issue(&self) -> Reply {
        let token = {
            let mut state = self.lock();
            let token = format!("{}{}", self.cfg.token_prefix, state.tokens.len() + 1);
            state.tokens.push(token.clone());
            token
        };
        let mut body = self.fixture("entra/token.200.json");
        body["access_token"] = json!(token);
        Reply::json(200, &body)
    }

    fn site(&self) -> Reply {
        if self.cfg.app_exists {
            Reply::json(200, &self.fixture("arm/site-get.200.json"))
        } else {
            let text = fixtures::text("arm/slot-get.404.json").replace(
                "Microsoft.Web/sites/pipeline-app/slots/staging",
                "Microsoft.Web/sites/pipeline-app",
            );
            Reply::json(404, &serde_json::from_str(&text).unwrap_or(Value::Null))
        }
    }

    fn slot_get(&self, slot: &str) -> Reply {
        if self.lock().slots.contains_key(slot) {
            Reply::json(200, &self.slot_fixture("arm/slot-get.200.json", slot))
        } else {
            Reply::json(404, &self.slot_fixture("arm/slot-get.404.json", slot))
        }
    }

    fn slot_put(&self, slot: &str) -> Reply {
        match self.cfg.slot_create {
            SlotCreate::Location { polls } => {
                let id = self
                    .lock()
                    .new_op(polls, OpKind::CreateSlot(slot.to_owned()));
                let text = self
                    .slot_fixture("arm/slot-put.202.location.envelope.json", slot)
                    .to_string()
                    .replace(OPERATION_ID, &id);
                let env = fixtures::envelope_from(
                    &serde_json::from_str(&text).unwrap_or(Value::Null),
                    "arm/slot-put.202.location.envelope.json",
                );
                Reply::envelope(&env)
            }
            SlotCreate::AsyncOperationFails => {
                let id = self.lock().new_op(1, OpKind::FailedCreate);
                let text = self
                    .slot_fixture("arm/slot-put.202.envelope.json", slot)
                    .to_string()
                    .replace(OPERATION_ID, &id);
                let env = fixtures::envelope_from(
                    &serde_json::from_str(&text).unwrap_or(Value::Null),
                    "arm/slot-put.202.envelope.json",
                );
                Reply::envelope(&env)
            }
        }
    }

    fn slot_list(&self, req: &Request) -> Reply {
        // One slot per page, so that `nextLink` is followed.
        let skip: usize = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "$skipToken")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let names: Vec<String> = self.lock().slots.keys().cloned().collect();
        let value: Vec<Value> = names
            .get(skip)
            .map(|n| self.slot_fixture("arm/slot-get.200.json", n))
            .into_iter()
            .collect();
        let next = (skip + 1 < names.len()).then(|| {
            format!(
                "{}{}/slots?api-version={API_VERSION}&$skipToken={}",
                self.base,
                site_path(None),
                skip + 1
            )
        });
        Reply::json(200, &json!({ "value": value, "nextLink": next }))
    }

    fn settings_reply(&self, slot: Option<&str>, settings: &BTreeMap<String, String>) -> Reply {
        let mut body = self.fixture("arm/appsettings-list.200.json");
        body["id"] = json!(format!("{}/config/appsettings", site_path(slot)));
        if slot.is_none() {
            body["type"] = json!("Microsoft.Web/sites/config");
        }
        body["properties"] = json!(settings);
        Reply::json(200, &body)
    }

    fn missing_slot(&self, slot: Option<&str>) -> Reply {
        Reply::json(
            404,
            &self.slot_fixture("arm/slot-get.404.json", slot.unwrap_or(SLOT)),
        )
    }

    fn settings_list(&self, slot: Option<&str>) -> Reply {
        let settings = self.lock().site(slot).map(|s| s.settings.clone());
        match settings {
            Some(s) => self.settings_reply(slot, &s),
            None => self.missing_slot(slot),
        }
    }

    fn settings_put(&self, slot: Option<&str>, req: &Request) -> Reply {
        let new: BTreeMap<String, String> = req
            .body_json::<Value>()
            .ok()
            .and_then(|v| v.get("properties").cloned())
            .and_then(|p| serde_json::from_value(p).ok())
            .unwrap_or_default();
        let found = {
            let mut state = self.lock();
            state
                .site_mut(slot)
                .map(|s| s.settings = new.clone())
                .is_some()
        };
        if found {
            self.settings_reply(slot, &new)
        } else {
            self.missing_slot(slot)
        }
    }

    fn swap(&self, slot: &str) -> Reply {
        match self.cfg.swap {
            Swap::Accepted { polls } => {
                let id = self.lock().new_op(polls, OpKind::Swap(slot.to_owned()));
                let mut env = self.envelope("arm/slotsswap.202.envelope.json");
                let location = env
                    .header("Location")
                    .unwrap_or_default()
                    .replace(OPERATION_ID, &id)
                    .replace("slots/staging", &format!("slots/{slot}"));
                env.set_header("Location", &location);
                env.set_header("Retry-After", "0");
                Reply::envelope(&env)
            }
            Swap::LostReply => {
                self.swap_now(slot);
                arm_error(
                    502,
                    "BadGateway",
                    "The gateway did not receive a response from 'Microsoft.Web' within the specified time period.",
                )
            }
        }
    }

    /// Exchanges the settings (except the sticky slot settings) and what
    /// production and `slot` serve.
    fn swap_now(&self, slot: &str) {
        let mut state = self.lock();
        let State {
            production, slots, ..
        } = &mut *state;
        let Some(other) = slots.get_mut(slot) else {
            return;
        };
        let keys: BTreeSet<String> = production
            .settings
            .keys()
            .chain(other.settings.keys())
            .cloned()
            .collect();
        for key in keys.iter().filter(|k| !self.cfg.sticky.contains(k)) {
            let a = production.settings.remove(key);
            let b = other.settings.remove(key);
            if let Some(b) = b {
                production.settings.insert(key.clone(), b);
            }
            if let Some(a) = a {
                other.settings.insert(key.clone(), a);
            }
        }
        std::mem::swap(&mut production.serving, &mut other.serving);
        state.rollouts.clear();
        state.swaps += 1;
    }

    fn operation_result(&self, req: &Request) -> Reply {
        let id = last_segment(req);
        let done = {
            let mut state = self.lock();
            match state.ops.get_mut(&id) {
                None => None,
                Some(op) if op.polls_left > 0 => {
                    op.polls_left -= 1;
                    Some(None)
                }
                Some(_) => state.ops.remove(&id).map(|op| Some(op.kind)),
            }
        };
        match done {
            None => arm_error(404, "NotFound", &format!("Operation {id} was not found.")),
            Some(None) => {
                let mut env = self.envelope("arm/operation-result.202.envelope.json");
                let here = format!("{}{}", self.base, req.url.path());
                env.set_header("Location", &format!("{here}?api-version={API_VERSION}"));
                env.set_header("Retry-After", "0");
                Reply::envelope(&env)
            }
            Some(Some(OpKind::CreateSlot(slot))) => {
                {
                    let mut state = self.lock();
                    // Cloning copies production's app settings; the new
                    // slot serves nothing of ours yet.
                    let mut settings = state.production.settings.clone();
                    settings.insert("DEPLOY_SLOT".to_owned(), slot.clone());
                    state.slots.insert(
                        slot.clone(),
                        SiteState {
                            settings,
                            serving: None,
                        },
                    );
                }
                Reply::json(200, &self.slot_fixture("arm/slot-put.200.json", &slot))
            }
            Some(Some(OpKind::Swap(slot))) => {
                self.swap_now(&slot);
                Reply::envelope(&self.envelope("arm/operation-result.200.envelope.json"))
            }
            Some(Some(OpKind::FailedCreate)) => arm_error(
                404,
                "NotFound",
                &format!("Operation {id} is an Azure-AsyncOperation."),
            ),
        }
    }

    fn async_operation(&self, id: &str) -> Reply {
        let status = {
            let mut state = self.lock();
            match state.ops.get_mut(id) {
                None => None,
                Some(op) if op.polls_left > 0 => {
                    op.polls_left -= 1;
                    Some("inprogress")
                }
                Some(Op {
                    kind: OpKind::FailedCreate,
                    ..
                }) => Some("failed"),
                Some(_) => Some("succeeded"),
            }
        };
        match status {
            None => arm_error(404, "NotFound", &format!("Operation {id} was not found.")),
            Some(s) => {
                let text = self
                    .fixture(&format!("arm/async-operation.{s}.json"))
                    .to_string()
                    .replace(OPERATION_ID, id);
                Reply::json(200, &serde_json::from_str(&text).unwrap_or(Value::Null))
            }
        }
    }

    fn publish(&self) -> Reply {
        {
            let mut state = self.lock();
            if state.conflicts_left > 0 {
                state.conflicts_left -= 1;
                drop(state);
                return Reply::envelope(&self.envelope("kudu/error.409.envelope.json"));
            }
        }
        self.start_deployment(
            self.cfg.kudu.steps.iter().copied().collect(),
            self.cfg.kudu.outcome,
        );
        let mut env = self.envelope("kudu/publish.202.envelope.json");
        env.set_header("Retry-After", "0");
        Reply::envelope(&env)
    }

    /// A deployment of what the slot's settings name, as an accepted
    /// upload starts it.
    pub(crate) fn start_deployment(&self, steps: VecDeque<KuduStep>, outcome: KuduOutcome) {
        let mut state = self.lock();
        let version = state
            .slots
            .get(SLOT)
            .and_then(|s| s.settings.get(VERSION_SETTING).cloned());
        state.deployment = Some(Deployment {
            steps,
            outcome,
            version,
            finished: false,
        });
    }

    pub(crate) fn latest(&self) -> Reply {
        enum Seen {
            None,
            Step(KuduStep),
            Done(KuduOutcome),
        }
        let seen = {
            let mut state = self.lock();
            let State {
                deployment,
                slots,
                rollouts,
                ..
            } = &mut *state;
            match deployment {
                None => Seen::None,
                Some(d) => match d.steps.pop_front() {
                    Some(step) => Seen::Step(step),
                    None => {
                        if !d.finished && d.outcome == KuduOutcome::Success {
                            if let Some(site) = slots.get_mut(SLOT) {
                                let previous =
                                    std::mem::replace(&mut site.serving, d.version.clone());
                                rollouts.insert(
                                    SLOT.to_owned(),
                                    Rollout {
                                        previous,
                                        probes: 0,
                                    },
                                );
                            }
                        }
                        d.finished = true;
                        Seen::Done(d.outcome)
                    }
                },
            }
        };
        match seen {
            Seen::None => Reply::json(404, &self.fixture("kudu/deployment.404.json")),
            Seen::Step(step) => {
                let mut env = self.envelope("kudu/deployment.latest.202.envelope.json");
                env.set_header("Retry-After", "0");
                match step {
                    KuduStep::Pending => {}
                    KuduStep::Building => env.body = self.fixture("kudu/deployment.building.json"),
                    KuduStep::Deploying => {
                        env.body = self.fixture("kudu/deployment.deploying.json");
                    }
                }
                Reply::envelope(&env)
            }
            Seen::Done(KuduOutcome::Success) => {
                Reply::json(200, &self.fixture("kudu/deployment.success.json"))
            }
            Seen::Done(KuduOutcome::Failed) => {
                Reply::json(200, &self.fixture("kudu/deployment.failed.json"))
            }
        }
    }

    fn log(&self) -> Reply {
        let outcome = self.lock().deployment.as_ref().map(|d| d.outcome);
        match outcome {
            None => Reply::json(404, &self.fixture("kudu/deployment.404.json")),
            Some(KuduOutcome::Failed) => {
                Reply::json(200, &self.fixture("kudu/deployment-log.failed.json"))
            }
            Some(KuduOutcome::Success) => {
                Reply::json(200, &self.fixture("kudu/deployment-log.json"))
            }
        }
    }

    fn health(&self, req: &Request) -> Reply {
        let slot = req
            .url
            .path()
            .split('/')
            .nth(2)
            .unwrap_or_default()
            .to_owned();
        let h = self.cfg.health;
        let version = {
            let mut state = self.lock();
            let State {
                production,
                slots,
                rollouts,
                ..
            } = &mut *state;
            let site = if slot == "production" {
                Some(&*production)
            } else {
                slots.get(&slot)
            };
            let Some(site) = site else {
                return Reply::text(404, "Not Found", "text/plain");
            };
            match rollouts.get_mut(&slot) {
                Some(r) => {
                    let n = r.probes;
                    r.probes = r.probes.saturating_add(1);
                    if n < h.unavailable {
                        return Reply::text(503, "Service Unavailable", "text/html");
                    }
                    if n < h.unavailable.saturating_add(h.stale) {
                        r.previous.clone()
                    } else {
                        site.serving.clone()
                    }
                }
                None => site.serving.clone(),
            }
        };
        Reply::json(200, &json!({ "status": "healthy", "version": version }))
    }

    fn fallback(&self, req: &Request) -> Reply {
        let path = req.url.path();
        if path.starts_with("/subscriptions/") || path.starts_with("/api/") {
            match self.bearer_state(req) {
                BearerState::Missing => {
                    return arm_error(
                        401,
                        "AuthenticationFailed",
                        "Authentication failed. The 'Authorization' header is missing.",
                    );
                }
                BearerState::Unknown => {
                    return arm_error(
                        401,
                        "InvalidAuthenticationToken",
                        "The access token is invalid.",
                    );
                }
                BearerState::Expired => {
                    return arm_error(
                        401,
                        "ExpiredAuthenticationToken",
                        "The access token expiry UTC time is earlier than current UTC time.",
                    );
                }
                BearerState::Valid => {}
            }
        }
        let api_version = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "api-version")
            .map(|(_, v)| v.into_owned());
        if path.starts_with("/subscriptions/") && api_version.as_deref() != Some(API_VERSION) {
            return arm_error(
                400,
                "InvalidApiVersionParameter",
                &format!(
                    "The api-version '{}' is invalid. The supported versions are '{API_VERSION}'.",
                    api_version.unwrap_or_default()
                ),
            );
        }
        arm_error(
            404,
            "FakeAzureNoRoute",
            &format!(
                "fake azure: no route for {} {}{} (or a header or body the route refuses)",
                req.method,
                path,
                req.url.query().map(|q| format!("?{q}")).unwrap_or_default()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_swap_keeps_slot_settings_in_place() {
        let inner = Inner {
            base: "http://127.0.0.1:1".to_owned(),
            kudu_self: "http://127.0.0.1:2".to_owned(),
            cfg: FakeAzureBuilder::default(),
            state: Mutex::new(State {
                production: SiteState::new(FakeAzureBuilder::default().production),
                slots: FakeAzureBuilder::default()
                    .slots
                    .into_iter()
                    .map(|(k, v)| (k, SiteState::new(v)))
                    .collect(),
                tokens: Vec::new(),
                ops: HashMap::new(),
                op_count: 0,
                conflicts_left: 0,
                deployment: None,
                rollouts: HashMap::new(),
                swaps: 0,
            }),
        };
        inner.swap_now(SLOT);
        let state = inner.lock();
        assert_eq!(state.production.settings[VERSION_SETTING], "0.9.0");
        assert_eq!(state.production.settings["DEPLOY_SLOT"], "production");
        assert_eq!(state.slots[SLOT].settings[VERSION_SETTING], "1.0.0");
        assert_eq!(state.slots[SLOT].settings["DEPLOY_SLOT"], "staging");
        assert_eq!(state.production.serving.as_deref(), Some("0.9.0"));
    }
}
