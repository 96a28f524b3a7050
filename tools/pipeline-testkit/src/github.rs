//! [`FakeGitHub`]: the parts of GitHub's REST API the GitHub state store
//! uses (deployments, deployment statuses, and the Git database's refs,
//! trees and commits) and those `pipeline-report` uses (check runs, issue
//! comments) on one loopback wiremock server, answering with the shapes of
//! `fixtures/github` and keeping the state they change: deployments
//! numbered in order of creation, statuses with GitHub's `auto_inactive`,
//! refs moved only by fast-forward unless forced, the objects written,
//! check runs whose updates append their annotations (at most 50 per
//! request, as the Checks API takes), and comments listed page by page;
//! and those of `pipeline-git release --github-release` and the actions'
//! `install-binary.sh` (releases, one per tag, drafts found only by
//! listing; repository tags; release assets downloaded through a redirect,
//! as github.com serves them). Reads of releases and tags need no token,
//! as for a public repository.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::reply::Reply;

/// The repository of the fake.
pub const REPOSITORY: &str = "octo-org/pipeline-app";
/// The token the fake accepts.
pub const TOKEN: &str = "ghs_fakeInstallationToken0123456789abcdef";

/// The fixtures directory, `fixtures/github` at the workspace root.
pub fn github_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/github")
}

/// The JSON of `fixtures/github/{name}`.
pub fn github_json(name: &str) -> Value {
    let path = github_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {name} is not JSON: {e}"))
}

/// A deployment the fake holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Its id (in order of creation).
    pub id: u64,
    /// `ref`.
    pub reference: String,
    /// `task`.
    pub task: String,
    /// `environment`.
    pub environment: String,
    /// `payload`.
    pub payload: Value,
    /// `description`.
    pub description: String,
    /// Created at (Unix seconds).
    pub created: u64,
    /// `transient_environment`.
    pub transient: bool,
    /// `production_environment`.
    pub production: bool,
}

/// A deployment status the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Its id.
    pub id: u64,
    /// The deployment's id.
    pub deployment: u64,
    /// `state`.
    pub state: String,
    /// `description`.
    pub description: String,
    /// `log_url`.
    pub log_url: String,
}

/// A check run the fake holds.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRun {
    /// Its id.
    pub id: u64,
    /// `name`.
    pub name: String,
    /// `head_sha`.
    pub head_sha: String,
    /// `status`.
    pub status: String,
    /// `conclusion`.
    pub conclusion: Option<String>,
    /// `output.title`, as last sent.
    pub title: String,
    /// `output.summary`, as last sent.
    pub summary: String,
    /// Every annotation sent, in order: those of each update appended.
    pub annotations: Vec<Value>,
    /// Requests that wrote it (the create and each update).
    pub writes: u32,
}

/// An issue or pull-request comment the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its id.
    pub id: u64,
    /// The issue or pull request number.
    pub issue: u64,
    /// Its text.
    pub body: String,
    /// Times it was edited.
    pub edits: u32,
}

/// A release the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Its id.
    pub id: u64,
    /// `tag_name`.
    pub tag: String,
    /// `name`.
    pub name: Option<String>,
    /// `body`.
    pub body: Option<String>,
    /// `draft`.
    pub draft: bool,
    /// `prerelease`.
    pub prerelease: bool,
    /// `target_commitish`.
    pub target_commitish: String,
    /// Its files: name and bytes.
    pub assets: Vec<(String, Vec<u8>)>,
    /// Requests that wrote it (the create and each update).
    pub writes: u32,
}

#[derive(Debug, Clone)]
enum Object {
    Tree,
    Commit {
        message: String,
        parents: Vec<String>,
    },
}

/// A reply to give instead of the real one.
#[derive(Debug, Clone)]
struct Fault {
    method: String,
    path_contains: String,
    reply: Reply,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    deployments: Vec<Deployment>,
    statuses: Vec<Status>,
    objects: BTreeMap<String, Object>,
    refs: BTreeMap<String, String>,
    /// The deployments' refs that exist (`None`: any).
    known_refs: Option<BTreeSet<String>>,
    faults: VecDeque<Fault>,
    /// Requests answered so far.
    served: usize,
    /// An outage: requests numbered in this range (from 0, counted by
    /// `served`) get this status.
    outage: Option<(std::ops::Range<usize>, u16)>,
    /// Seconds added to the clock.
    clock_offset: u64,
    check_runs: Vec<CheckRun>,
    comments: Vec<Comment>,
    releases: Vec<Release>,
    /// Repository tags, oldest first: name and the commit it points at.
    tags: Vec<(String, String)>,
    /// Requests carried out whose reply is then lost (a 502 instead).
    lost_replies: VecDeque<(String, String)>,
}

struct Inner {
    base: String,
    state: Mutex<State>,
}

/// A fake GitHub on a loopback wiremock server; see the module. Requests
/// must carry `Authorization: Bearer` [`TOKEN`].
pub struct FakeGitHub {
    server: MockServer,
    inner: Arc<Inner>,
}

impl fmt::Debug for FakeGitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeGitHub")
            .field("uri", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl FakeGitHub {
    /// Starts the fake; every deployment `ref` exists until
    /// [`FakeGitHub::known_refs`] says otherwise.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let inner = Arc::new(Inner {
            base: server.uri(),
            state: Mutex::new(State {
                next_id: 1,
                ..State::default()
            }),
        });
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder(Arc::clone(&inner)))
            .mount(&server)
            .await;
        Self { server, inner }
    }

    /// The API base URL (`GITHUB_API_URL`).
    pub fn uri(&self) -> String {
        self.inner.base.clone()
    }

    /// Only these deployment refs (tags) exist from now on.
    pub fn known_refs(&self, refs: &[&str]) {
        self.inner.lock().known_refs = Some(refs.iter().map(|r| (*r).to_owned()).collect());
    }

    /// The next request whose method is `method` and whose path contains
    /// `path_contains` gets `status` with `body` and `headers` instead.
    /// Faults are used in the order they were given.
    pub fn fault(
        &self,
        method: &str,
        path_contains: &str,
        status: u16,
        body: &Value,
        headers: &[(&str, &str)],
    ) {
        let mut reply = Reply::json(status, body);
        for (k, v) in headers {
            reply.headers.push(((*k).to_owned(), (*v).to_owned()));
        }
        self.inner.lock().faults.push_back(Fault {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            reply,
        });
    }

    /// An outage: after `skip` more requests, the next `count` get
    /// `status` with GitHub's error body for it (a 502's is a bare page in
    /// production; the JSON here names the status).
    pub fn outage(&self, skip: usize, count: usize, status: u16) {
        let mut s = self.inner.lock();
        let from = s.served + skip;
        s.outage = Some((from..from + count, status));
    }

    /// How many requests the fake has answered.
    pub fn served(&self) -> usize {
        self.inner.lock().served
    }

    /// How many faults given with [`FakeGitHub::fault`] have not been
    /// answered yet.
    pub fn pending_faults(&self) -> usize {
        self.inner.lock().faults.len()
    }

    /// Moves the fake's clock `secs` forward (deployments' `created_at`).
    pub fn advance(&self, secs: u64) {
        self.inner.lock().clock_offset += secs;
    }

    /// Creates a deployment directly, as another writer would, with
    /// `statuses` (oldest first); its id.
    pub fn insert_deployment(&self, environment: &str, payload: Value, statuses: &[&str]) -> u64 {
        let mut s = self.inner.lock();
        let id = s.take_id();
        let created = s.now();
        s.deployments.push(Deployment {
            id,
            reference: "v0.0.0".to_owned(),
            task: "deploy:pipeline".to_owned(),
            environment: environment.to_owned(),
            payload,
            description: String::new(),
            created,
            transient: false,
            production: false,
        });
        for state in statuses {
            let sid = s.take_id();
            s.statuses.push(Status {
                id: sid,
                deployment: id,
                state: (*state).to_owned(),
                description: String::new(),
                log_url: String::new(),
            });
        }
        id
    }

    /// The deployments, oldest first.
    pub fn deployments(&self) -> Vec<Deployment> {
        self.inner.lock().deployments.clone()
    }

    /// The statuses of deployment `id`, oldest first.
    pub fn statuses(&self, id: u64) -> Vec<Status> {
        self.inner
            .lock()
            .statuses
            .iter()
            .filter(|s| s.deployment == id)
            .cloned()
            .collect()
    }

    /// The newest status of deployment `id`.
    pub fn state_of(&self, id: u64) -> Option<String> {
        self.statuses(id).last().map(|s| s.state.clone())
    }

    /// The commit `reference` (`refs/…`) points at.
    pub fn reference(&self, reference: &str) -> Option<String> {
        self.inner.lock().refs.get(reference).cloned()
    }

    /// The message of commit `sha`.
    pub fn commit_message(&self, sha: &str) -> Option<String> {
        match self.inner.lock().objects.get(sha) {
            Some(Object::Commit { message, .. }) => Some(message.clone()),
            _ => None,
        }
    }

    /// The check runs, oldest first.
    pub fn check_runs(&self) -> Vec<CheckRun> {
        self.inner.lock().check_runs.clone()
    }

    /// The comments of issue or pull request `issue`, oldest first.
    pub fn comments(&self, issue: u64) -> Vec<Comment> {
        self.inner
            .lock()
            .comments
            .iter()
            .filter(|c| c.issue == issue)
            .cloned()
            .collect()
    }

    /// Adds a comment to `issue` directly, as someone else would; its id.
    pub fn insert_comment(&self, issue: u64, body: &str) -> u64 {
        let mut s = self.inner.lock();
        let id = s.take_id();
        s.comments.push(Comment {
            id,
            issue,
            body: body.to_owned(),
            edits: 0,
        });
        id
    }

    /// The releases, oldest first.
    pub fn releases(&self) -> Vec<Release> {
        self.inner.lock().releases.clone()
    }

    /// Adds a release directly, as someone else would (its tag too, at
    /// `commit`, when the repository has no such tag); its id.
    pub fn insert_release(
        &self,
        tag: &str,
        commit: &str,
        draft: bool,
        prerelease: bool,
        assets: &[(&str, &[u8])],
    ) -> u64 {
        let mut s = self.inner.lock();
        if !s.tags.iter().any(|(t, _)| t == tag) {
            s.tags.push((tag.to_owned(), commit.to_owned()));
        }
        let id = s.take_id();
        s.releases.push(Release {
            id,
            tag: tag.to_owned(),
            name: Some(tag.to_owned()),
            body: Some(String::new()),
            draft,
            prerelease,
            target_commitish: commit.to_owned(),
            assets: assets
                .iter()
                .map(|(n, b)| ((*n).to_owned(), b.to_vec()))
                .collect(),
            writes: 0,
        });
        id
    }

    /// Adds a repository tag pointing at `commit` (no release).
    pub fn insert_tag(&self, tag: &str, commit: &str) {
        self.inner
            .lock()
            .tags
            .push((tag.to_owned(), commit.to_owned()));
    }

    /// The next request whose method is `method` and whose path contains
    /// `path_contains` is carried out, and its reply lost: the client gets
    /// a 502 (as from a proxy that lost the connection to GitHub).
    pub fn lose_reply(&self, method: &str, path_contains: &str) {
        self.inner
            .lock()
            .lost_replies
            .push_back((method.to_owned(), path_contains.to_owned()));
    }

    /// Every request received.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}

struct Responder(Arc<Inner>);

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.0.handle(req).template()
    }
}

fn error(status: u16, message: &str, doc: &str) -> Reply {
    Reply::json(
        status,
        &json!({
            "message": message,
            "documentation_url": format!("https://docs.github.com/rest/{doc}"),
            "status": status.to_string(),
        }),
    )
}

fn fixture_error(status: u16, name: &str) -> Reply {
    Reply::json(status, &github_json(name))
}

impl State {
    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            + self.clock_offset
    }

    fn latest_state(&self, id: u64) -> Option<&str> {
        self.statuses
            .iter()
            .filter(|s| s.deployment == id)
            .max_by_key(|s| s.id)
            .map(|s| s.state.as_str())
    }

    fn is_ancestor(&self, ancestor: &str, of: &str) -> bool {
        let mut todo = vec![of.to_owned()];
        let mut seen = BTreeSet::new();
        while let Some(sha) = todo.pop() {
            if sha == ancestor {
                return true;
            }
            if !seen.insert(sha.clone()) {
                continue;
            }
            if let Some(Object::Commit { parents, .. }) = self.objects.get(&sha) {
                todo.extend(parents.iter().cloned());
            }
        }
        false
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn repo_url(&self) -> String {
        format!("{}/repos/{REPOSITORY}", self.base)
    }

    fn deployment_json(&self, d: &Deployment) -> Value {
        let mut v = github_json("deployment-created.json");
        let url = format!("{}/deployments/{}", self.repo_url(), d.id);
        v["url"] = json!(url);
        v["id"] = json!(d.id);
        v["node_id"] = json!(format!("DE_fake{}", d.id));
        v["sha"] = json!(format!("{:040x}", d.id));
        v["ref"] = json!(d.reference);
        v["task"] = json!(d.task);
        v["payload"] = d.payload.clone();
        v["original_environment"] = json!(d.environment);
        v["environment"] = json!(d.environment);
        v["description"] = json!(d.description);
        v["created_at"] = json!(pipeline_gitflow::rfc3339(d.created));
        v["updated_at"] = json!(pipeline_gitflow::rfc3339(d.created));
        v["statuses_url"] = json!(format!("{url}/statuses"));
        v["repository_url"] = json!(self.repo_url());
        v["transient_environment"] = json!(d.transient);
        v["production_environment"] = json!(d.production);
        v
    }

    fn status_json(&self, s: &Status, env: &str) -> Value {
        let mut v = github_json("deployment-status-created.json");
        let deployment_url = format!("{}/deployments/{}", self.repo_url(), s.deployment);
        v["url"] = json!(format!("{deployment_url}/statuses/{}", s.id));
        v["id"] = json!(s.id);
        v["state"] = json!(s.state);
        v["description"] = json!(s.description);
        v["environment"] = json!(env);
        v["deployment_url"] = json!(deployment_url);
        v["repository_url"] = json!(self.repo_url());
        v["log_url"] = json!(s.log_url);
        v["target_url"] = json!(s.log_url);
        v
    }

    fn handle(&self, req: &Request) -> Reply {
        let method = req.method.as_str().to_owned();
        let path = req.url.path().to_owned();
        {
            let mut s = self.lock();
            let n = s.served;
            s.served += 1;
            if let Some((range, status)) = &s.outage
                && range.contains(&n)
            {
                let status = *status;
                return Reply::json(
                    status,
                    &json!({"message": format!("Server Error ({status})")}),
                );
            }
            if let Some(i) = s
                .faults
                .iter()
                .position(|f| f.method == method && path.contains(&f.path_contains))
                && let Some(fault) = s.faults.remove(i)
            {
                return fault.reply;
            }
        }
        // Release assets, as a browser downloads them: no token needed.
        if method == "GET"
            && let Some(reply) = self.download(&path)
        {
            return reply;
        }
        let authorization = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let authorized = authorization.is_some_and(|v| v == format!("Bearer {TOKEN}"));
        // Releases and tags of a public repository are read without a token
        // ("allowsPublicRead"); a wrong token is refused all the same.
        let public_read = method == "GET"
            && authorization.is_none()
            && path
                .strip_prefix(&format!("/repos/{REPOSITORY}/"))
                .is_some_and(|rest| rest.starts_with("releases") || rest == "tags");
        if !authorized && !public_read {
            return error(
                401,
                "Bad credentials",
                "overview/troubleshooting-the-rest-api",
            );
        }
        let prefix = format!("/repos/{REPOSITORY}/");
        let Some(rest) = path.strip_prefix(&prefix) else {
            return fixture_error(404, "error-404.json");
        };
        let body: Value = if req.body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&req.body) {
                Ok(v) => v,
                Err(_) => {
                    return error(
                        400,
                        "Problems parsing JSON",
                        "overview/resources-in-the-rest-api",
                    );
                }
            }
        };
        let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        let parts: Vec<&str> = rest.split('/').collect();
        let reply = self.route(&method, &parts, &body, &query, !public_read);
        let lost = {
            let mut s = self.lock();
            match s
                .lost_replies
                .iter()
                .position(|(m, p)| *m == method && path.contains(p.as_str()))
            {
                Some(i) => s.lost_replies.remove(i).is_some(),
                None => false,
            }
        };
        if lost {
            return Reply::json(502, &json!({"message": "Server Error (502)"}));
        }
        reply
    }

    fn route(
        &self,
        method: &str,
        parts: &[&str],
        body: &Value,
        query: &BTreeMap<String, String>,
        push_access: bool,
    ) -> Reply {
        match (method, parts) {
            ("GET", ["deployments"]) => self.list_deployments(query),
            ("POST", ["deployments"]) => self.create_deployment(body),
            ("GET", ["deployments", id, "statuses"]) => self.list_statuses(id),
            ("POST", ["deployments", id, "statuses"]) => self.create_status(id, body),
            ("GET", ["git", "ref", reference @ ..]) => self.get_ref(&reference.join("/")),
            ("POST", ["git", "refs"]) => self.create_ref(body),
            ("PATCH", ["git", "refs", reference @ ..]) => {
                self.update_ref(&reference.join("/"), body)
            }
            ("POST", ["git", "trees"]) => self.create_tree(body),
            ("POST", ["git", "commits"]) => self.create_commit(body),
            ("GET", ["git", "commits", sha]) => self.get_commit(sha),
            ("POST", ["check-runs"]) => self.create_check_run(body),
            ("PATCH", ["check-runs", id]) => self.update_check_run(id, body),
            ("GET", ["check-runs", id]) => self.get_check_run(id),
            ("GET", ["issues", number, "comments"]) => self.list_comments(number, query),
            ("POST", ["issues", number, "comments"]) => self.create_comment(number, body),
            ("PATCH", ["issues", "comments", id]) => self.update_comment(id, body),
            ("GET", ["releases"]) => self.list_releases(query, push_access),
            ("POST", ["releases"]) => self.create_release(body),
            ("GET", ["releases", "tags", tag @ ..]) => self.release_by_tag(&tag.join("/")),
            ("GET", ["releases", id]) => self.get_release(id, push_access),
            ("PATCH", ["releases", id]) => self.update_release(id, body),
            ("GET", ["tags"]) => self.list_tags(query),
            _ => fixture_error(404, "error-404.json"),
        }
    }

    fn list_deployments(&self, query: &BTreeMap<String, String>) -> Reply {
        let s = self.lock();
        let per_page = query
            .get("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = query
            .get("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let mut list: Vec<&Deployment> = s
            .deployments
            .iter()
            .filter(|d| query.get("environment").is_none_or(|e| *e == d.environment))
            .filter(|d| query.get("task").is_none_or(|t| *t == d.task))
            .filter(|d| query.get("ref").is_none_or(|r| *r == d.reference))
            .collect();
        list.sort_by_key(|d| std::cmp::Reverse(d.id));
        let total = list.len();
        let items: Vec<Value> = list
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|d| self.deployment_json(d))
            .collect();
        let mut reply = Reply::json(200, &Value::Array(items));
        if page * per_page < total {
            reply.headers.push((
                "Link".to_owned(),
                format!(
                    "<{}/deployments?per_page={per_page}&page={}>; rel=\"next\"",
                    self.repo_url(),
                    page + 1
                ),
            ));
        }
        reply
    }

    fn create_deployment(&self, body: &Value) -> Reply {
        let Some(reference) = body["ref"].as_str() else {
            return Reply::json(422, &github_json("error-422-validation-failed.json"));
        };
        let mut s = self.lock();
        if let Some(known) = &s.known_refs
            && !known.contains(reference)
        {
            return error(
                422,
                &format!("No ref found for: {reference}"),
                "deployments/deployments#create-a-deployment",
            );
        }
        if body["auto_merge"] != json!(false) || body["required_contexts"] != json!([]) {
            // The fake has no branches to merge or checks to wait for: a
            // client that asks for them is asking for the wrong thing.
            return Reply::json(
                409,
                &json!({"message": "Conflict: Commit status checks failed for ".to_owned() + reference + "."}),
            );
        }
        let environment = body["environment"]
            .as_str()
            .unwrap_or("production")
            .to_owned();
        let id = s.take_id();
        let created = s.now();
        let d = Deployment {
            id,
            reference: reference.to_owned(),
            task: body["task"].as_str().unwrap_or("deploy").to_owned(),
            production: body["production_environment"]
                .as_bool()
                .unwrap_or(environment == "production"),
            environment,
            payload: match &body["payload"] {
                Value::Null => json!({}),
                Value::String(text) => serde_json::from_str(text).unwrap_or(json!({})),
                v => v.clone(),
            },
            description: body["description"].as_str().unwrap_or_default().to_owned(),
            created,
            transient: body["transient_environment"].as_bool().unwrap_or(false),
        };
        s.deployments.push(d.clone());
        drop(s);
        Reply::json(201, &self.deployment_json(&d))
    }

    fn deployment_of(&self, id: &str) -> Option<Deployment> {
        let id: u64 = id.parse().ok()?;
        self.lock().deployments.iter().find(|d| d.id == id).cloned()
    }

    fn list_statuses(&self, id: &str) -> Reply {
        let Some(d) = self.deployment_of(id) else {
            return fixture_error(404, "error-404.json");
        };
        let s = self.lock();
        let mut list: Vec<&Status> = s
            .statuses
            .iter()
            .filter(|st| st.deployment == d.id)
            .collect();
        list.sort_by_key(|d| std::cmp::Reverse(d.id));
        let items: Vec<Value> = list
            .into_iter()
            .map(|st| self.status_json(st, &d.environment))
            .collect();
        Reply::json(200, &Value::Array(items))
    }

    fn create_status(&self, id: &str, body: &Value) -> Reply {
        let Some(d) = self.deployment_of(id) else {
            return fixture_error(404, "error-404.json");
        };
        let state = body["state"].as_str().unwrap_or_default();
        let description = body["description"].as_str().unwrap_or_default();
        if !matches!(
            state,
            "error" | "failure" | "inactive" | "in_progress" | "queued" | "pending" | "success"
        ) || description.chars().count() > 140
        {
            return Reply::json(422, &github_json("error-422-validation-failed.json"));
        }
        let mut s = self.lock();
        let sid = s.take_id();
        let status = Status {
            id: sid,
            deployment: d.id,
            state: state.to_owned(),
            description: description.to_owned(),
            log_url: body["log_url"].as_str().unwrap_or_default().to_owned(),
        };
        s.statuses.push(status.clone());
        if state == "success" && body["auto_inactive"].as_bool().unwrap_or(true) {
            // "Adds a new inactive status to all prior non-transient,
            // non-production environment deployments with the same
            // repository and environment name ... only added to
            // deployments that had a success state."
            let prior: Vec<u64> = s
                .deployments
                .iter()
                .filter(|o| {
                    o.id < d.id && o.environment == d.environment && !o.transient && !o.production
                })
                .map(|o| o.id)
                .filter(|o| s.latest_state(*o) == Some("success"))
                .collect();
            for o in prior {
                let iid = s.take_id();
                s.statuses.push(Status {
                    id: iid,
                    deployment: o,
                    state: "inactive".to_owned(),
                    description: String::new(),
                    log_url: String::new(),
                });
            }
        }
        drop(s);
        Reply::json(201, &self.status_json(&status, &d.environment))
    }

    fn ref_json(&self, reference: &str, sha: &str) -> Value {
        let mut v = github_json("git-ref-get.json");
        v["ref"] = json!(reference);
        v["url"] = json!(format!("{}/git/{reference}", self.repo_url()));
        v["object"]["sha"] = json!(sha);
        v["object"]["url"] = json!(format!("{}/git/commits/{sha}", self.repo_url()));
        v
    }

    fn get_ref(&self, reference: &str) -> Reply {
        let full = format!("refs/{reference}");
        let s = self.lock();
        let mut sha = s.refs.get(&full).cloned();
        // The release tags exist as the deployments' refs do.
        if let (None, Some(tag)) = (&sha, reference.strip_prefix("tags/"))
            && s.known_refs.as_ref().is_none_or(|k| k.contains(tag))
        {
            sha = Some(object_id(&full));
        }
        drop(s);
        match sha {
            Some(sha) => Reply::json(200, &self.ref_json(&full, &sha)),
            None => fixture_error(404, "error-404.json"),
        }
    }

    fn create_ref(&self, body: &Value) -> Reply {
        let (Some(reference), Some(sha)) = (body["ref"].as_str(), body["sha"].as_str()) else {
            return Reply::json(422, &github_json("error-422-validation-failed.json"));
        };
        if !reference.starts_with("refs/") || reference.matches('/').count() < 2 {
            return error(
                422,
                "Reference name must start with 'refs/' and have at least two slashes.",
                "git/refs#create-a-reference",
            );
        }
        let mut s = self.lock();
        if !s.objects.contains_key(sha) {
            return fixture_error(422, "error-422-object-does-not-exist.json");
        }
        if s.refs.contains_key(reference) {
            return fixture_error(422, "error-422-ref-exists.json");
        }
        s.refs.insert(reference.to_owned(), sha.to_owned());
        drop(s);
        Reply::json(201, &self.ref_json(reference, sha))
    }

    fn update_ref(&self, reference: &str, body: &Value) -> Reply {
        let full = format!("refs/{reference}");
        let Some(sha) = body["sha"].as_str() else {
            return Reply::json(422, &github_json("error-422-validation-failed.json"));
        };
        let force = body["force"].as_bool().unwrap_or(false);
        let mut s = self.lock();
        let Some(now) = s.refs.get(&full).cloned() else {
            return fixture_error(422, "error-422-ref-does-not-exist.json");
        };
        if !s.objects.contains_key(sha) {
            return fixture_error(422, "error-422-object-does-not-exist.json");
        }
        if !force && !s.is_ancestor(&now, sha) {
            return fixture_error(422, "error-422-not-fast-forward.json");
        }
        s.refs.insert(full.clone(), sha.to_owned());
        drop(s);
        Reply::json(200, &self.ref_json(&full, sha))
    }

    fn create_tree(&self, body: &Value) -> Reply {
        let Some(entries) = body["tree"].as_array() else {
            return Reply::json(422, &github_json("error-422-validation-failed.json"));
        };
        let sha = object_id(&format!("tree {body}"));
        self.lock().objects.insert(sha.clone(), Object::Tree);
        let mut v = github_json("git-tree-created.json");
        v["sha"] = json!(sha);
        v["url"] = json!(format!("{}/trees/{sha}", self.repo_url()));
        v["tree"] = Value::Array(
            entries
                .iter()
                .map(|e| {
                    json!({
                        "path": e["path"],
                        "mode": e["mode"],
                        "type": e["type"],
                        "size": e["content"].as_str().map_or(0, str::len),
                        "sha": object_id(&format!("blob {}", e["content"])),
                    })
                })
                .collect(),
        );
        v["truncated"] = json!(false);
        Reply::json(201, &v)
    }

    fn commit_json(&self, sha: &str, message: &str, parents: &[String]) -> Value {
        let mut v = github_json("git-commit-created.json");
        v["sha"] = json!(sha);
        v["url"] = json!(format!("{}/git/commits/{sha}", self.repo_url()));
        v["message"] = json!(message);
        v["parents"] = Value::Array(
            parents
                .iter()
                .map(|p| json!({"sha": p, "url": format!("{}/git/commits/{p}", self.repo_url())}))
                .collect(),
        );
        v
    }

    fn create_commit(&self, body: &Value) -> Reply {
        let (Some(message), Some(tree)) = (body["message"].as_str(), body["tree"].as_str()) else {
            return Reply::json(422, &github_json("error-422-validation-failed.json"));
        };
        let parents: Vec<String> = body["parents"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut s = self.lock();
        if !matches!(s.objects.get(tree), Some(Object::Tree))
            || parents
                .iter()
                .any(|p| !matches!(s.objects.get(p), Some(Object::Commit { .. })))
        {
            return fixture_error(422, "error-422-object-does-not-exist.json");
        }
        let n = s.take_id();
        let sha = object_id(&format!("commit {n} {body}"));
        s.objects.insert(
            sha.clone(),
            Object::Commit {
                message: message.to_owned(),
                parents: parents.clone(),
            },
        );
        drop(s);
        Reply::json(201, &self.commit_json(&sha, message, &parents))
    }

    fn get_commit(&self, sha: &str) -> Reply {
        let found = match self.lock().objects.get(sha) {
            Some(Object::Commit { message, parents }) => Some((message.clone(), parents.clone())),
            _ => None,
        };
        match found {
            Some((message, parents)) => {
                Reply::json(200, &self.commit_json(sha, &message, &parents))
            }
            None => fixture_error(404, "error-404.json"),
        }
    }
}

impl Inner {
    fn check_run_json(&self, run: &CheckRun) -> Value {
        let mut v = github_json("check-run-created.json");
        let url = format!("{}/check-runs/{}", self.repo_url(), run.id);
        v["id"] = json!(run.id);
        v["node_id"] = json!(format!("CR_fake{}", run.id));
        v["head_sha"] = json!(run.head_sha);
        v["name"] = json!(run.name);
        v["status"] = json!(run.status);
        v["conclusion"] = json!(run.conclusion);
        v["url"] = json!(url);
        v["html_url"] = json!(format!("https://github.com/{REPOSITORY}/runs/{}", run.id));
        v["external_id"] = Value::Null;
        v["details_url"] = Value::Null;
        v["completed_at"] = Value::Null;
        v["output"]["title"] = json!(run.title);
        v["output"]["summary"] = json!(run.summary);
        v["output"]["text"] = Value::Null;
        v["output"]["annotations_count"] = json!(run.annotations.len());
        v["output"]["annotations_url"] = json!(format!("{url}/annotations"));
        v["pull_requests"] = json!([]);
        v
    }

    /// Checks an `output` object as the Checks API does; its annotations.
    fn check_output(output: &Value) -> Result<Vec<Value>, Reply> {
        let invalid = |field: &str, code: &str| {
            Reply::json(
                422,
                &json!({
                    "message": "Invalid request.",
                    "errors": [{"resource": "CheckRun", "field": field, "code": code}],
                    "documentation_url": "https://docs.github.com/rest/checks/runs",
                    "status": "422",
                }),
            )
        };
        let (Some(title), Some(summary)) = (output["title"].as_str(), output["summary"].as_str())
        else {
            return Err(invalid("output", "missing_field"));
        };
        if summary.chars().count() > 65_535 || title.is_empty() {
            return Err(invalid("output.summary", "invalid"));
        }
        let annotations = match &output["annotations"] {
            Value::Null => Vec::new(),
            Value::Array(list) => list.clone(),
            _ => return Err(invalid("output.annotations", "invalid")),
        };
        if annotations.len() > 50 {
            // "The Checks API limits the number of annotations to a maximum
            // of 50 per API request."
            return Err(invalid("output.annotations", "too_long"));
        }
        for a in &annotations {
            let line = |k: &str| a[k].as_u64().filter(|n| *n >= 1);
            let ok = a["path"].as_str().is_some_and(|p| !p.is_empty())
                && line("start_line").is_some()
                && line("end_line").is_some_and(|e| Some(e) >= line("start_line"))
                && matches!(
                    a["annotation_level"].as_str(),
                    Some("notice" | "warning" | "failure")
                )
                && a["message"].as_str().is_some_and(|m| m.len() <= 64 * 1024)
                && a["title"].as_str().is_none_or(|t| t.chars().count() <= 255)
                && a["raw_details"]
                    .as_str()
                    .is_none_or(|d| d.len() <= 64 * 1024)
                && (a["start_column"].is_null() && a["end_column"].is_null()
                    || a["start_line"] == a["end_line"]);
            if !ok {
                return Err(invalid("output.annotations", "invalid"));
            }
        }
        Ok(annotations)
    }

    fn create_check_run(&self, body: &Value) -> Reply {
        let name = body["name"].as_str().unwrap_or_default();
        let sha = body["head_sha"].as_str().unwrap_or_default();
        if name.is_empty() || sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Reply::json(422, &github_json("error-422-validation-failed.json"));
        }
        let conclusion = body["conclusion"].as_str().map(str::to_owned);
        if conclusion.as_deref().is_some_and(|c| {
            !matches!(
                c,
                "action_required"
                    | "cancelled"
                    | "failure"
                    | "neutral"
                    | "success"
                    | "skipped"
                    | "timed_out"
            )
        }) {
            return Reply::json(422, &github_json("error-422-validation-failed.json"));
        }
        // "Providing conclusion will automatically set the status parameter
        // to completed."
        let status = if conclusion.is_some() {
            "completed".to_owned()
        } else {
            body["status"].as_str().unwrap_or("queued").to_owned()
        };
        let (title, summary, annotations) = if body["output"].is_null() {
            (String::new(), String::new(), Vec::new())
        } else {
            match Self::check_output(&body["output"]) {
                Ok(a) => (
                    body["output"]["title"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    body["output"]["summary"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    a,
                ),
                Err(reply) => return reply,
            }
        };
        let mut s = self.lock();
        let id = s.take_id();
        let run = CheckRun {
            id,
            name: name.to_owned(),
            head_sha: sha.to_owned(),
            status,
            conclusion,
            title,
            summary,
            annotations,
            writes: 1,
        };
        s.check_runs.push(run.clone());
        drop(s);
        Reply::json(201, &self.check_run_json(&run))
    }

    fn update_check_run(&self, id: &str, body: &Value) -> Reply {
        let Ok(id) = id.parse::<u64>() else {
            return fixture_error(404, "error-404.json");
        };
        let output = if body["output"].is_null() {
            None
        } else {
            match Self::check_output(&body["output"]) {
                Ok(a) => Some(a),
                Err(reply) => return reply,
            }
        };
        let mut s = self.lock();
        let Some(run) = s.check_runs.iter_mut().find(|r| r.id == id) else {
            return fixture_error(404, "error-404.json");
        };
        if let Some(annotations) = output {
            run.title = body["output"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            run.summary = body["output"]["summary"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            // "Each time you update the check run, annotations are appended
            // to the list of annotations that already exist for the check run."
            run.annotations.extend(annotations);
        }
        if let Some(conclusion) = body["conclusion"].as_str() {
            run.conclusion = Some(conclusion.to_owned());
            run.status = "completed".to_owned();
        }
        run.writes += 1;
        let run = run.clone();
        drop(s);
        Reply::json(200, &self.check_run_json(&run))
    }

    fn get_check_run(&self, id: &str) -> Reply {
        let run = id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.lock().check_runs.iter().find(|r| r.id == id).cloned());
        match run {
            Some(run) => Reply::json(200, &self.check_run_json(&run)),
            None => fixture_error(404, "error-404.json"),
        }
    }

    fn comment_json(&self, c: &Comment) -> Value {
        let mut v = github_json("issue-comment.json");
        v["id"] = json!(c.id);
        v["node_id"] = json!(format!("IC_fake{}", c.id));
        v["url"] = json!(format!("{}/issues/comments/{}", self.repo_url(), c.id));
        v["html_url"] = json!(format!(
            "https://github.com/{REPOSITORY}/pull/{}#issuecomment-{}",
            c.issue, c.id
        ));
        v["issue_url"] = json!(format!("{}/issues/{}", self.repo_url(), c.issue));
        v["body"] = json!(c.body);
        v
    }

    fn comment_body(body: &Value) -> Result<String, Reply> {
        match body["body"].as_str() {
            Some(text) if !text.is_empty() && text.chars().count() <= 65_536 => Ok(text.to_owned()),
            _ => Err(Reply::json(
                422,
                &github_json("error-422-validation-failed.json"),
            )),
        }
    }

    fn list_comments(&self, number: &str, query: &BTreeMap<String, String>) -> Reply {
        let Ok(number) = number.parse::<u64>() else {
            return fixture_error(404, "error-404.json");
        };
        let per_page = query
            .get("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = query
            .get("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let s = self.lock();
        let all: Vec<&Comment> = s.comments.iter().filter(|c| c.issue == number).collect();
        let total = all.len();
        let items: Vec<Value> = all
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|c| self.comment_json(c))
            .collect();
        drop(s);
        let mut reply = Reply::json(200, &Value::Array(items));
        if page * per_page < total {
            reply.headers.push((
                "Link".to_owned(),
                format!(
                    "<{}/issues/{number}/comments?per_page={per_page}&page={}>; rel=\"next\"",
                    self.repo_url(),
                    page + 1
                ),
            ));
        }
        reply
    }

    fn create_comment(&self, number: &str, body: &Value) -> Reply {
        let Ok(number) = number.parse::<u64>() else {
            return fixture_error(404, "error-404.json");
        };
        let text = match Self::comment_body(body) {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let mut s = self.lock();
        let id = s.take_id();
        let comment = Comment {
            id,
            issue: number,
            body: text,
            edits: 0,
        };
        s.comments.push(comment.clone());
        drop(s);
        Reply::json(201, &self.comment_json(&comment))
    }

    fn update_comment(&self, id: &str, body: &Value) -> Reply {
        let text = match Self::comment_body(body) {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let mut s = self.lock();
        let Some(comment) = id
            .parse::<u64>()
            .ok()
            .and_then(|id| s.comments.iter_mut().find(|c| c.id == id))
        else {
            return fixture_error(404, "error-404.json");
        };
        comment.body = text;
        comment.edits += 1;
        let comment = comment.clone();
        drop(s);
        Reply::json(200, &self.comment_json(&comment))
    }
}

/// The longest release body GitHub takes (OBS: its 422 says so).
const MAX_RELEASE_BODY: usize = 125_000;

impl Inner {
    fn release_json(&self, r: &Release) -> Value {
        let mut v = github_json("release-created.json");
        let url = format!("{}/releases/{}", self.repo_url(), r.id);
        let author = v["author"].clone();
        let asset_template = v["assets"][0].clone();
        v["url"] = json!(url);
        v["id"] = json!(r.id);
        v["node_id"] = json!(format!("RE_fake{}", r.id));
        v["tag_name"] = json!(r.tag);
        v["target_commitish"] = json!(r.target_commitish);
        v["name"] = json!(r.name);
        v["body"] = json!(r.body);
        v["draft"] = json!(r.draft);
        v["prerelease"] = json!(r.prerelease);
        v["html_url"] = json!(if r.draft {
            format!(
                "https://github.com/{REPOSITORY}/releases/tag/untagged-fake{}",
                r.id
            )
        } else {
            format!("https://github.com/{REPOSITORY}/releases/tag/{}", r.tag)
        });
        v["assets_url"] = json!(format!("{url}/assets"));
        v["upload_url"] = json!(format!(
            "https://uploads.github.com/repos/{REPOSITORY}/releases/{}/assets{{?name,label}}",
            r.id
        ));
        v["tarball_url"] = json!(format!("{}/tarball/{}", self.repo_url(), r.tag));
        v["zipball_url"] = json!(format!("{}/zipball/{}", self.repo_url(), r.tag));
        v["published_at"] = if r.draft {
            Value::Null
        } else {
            v["created_at"].clone()
        };
        if let Some(map) = v.as_object_mut() {
            map.remove("discussion_url");
        }
        v["author"] = author;
        v["assets"] = Value::Array(
            r.assets
                .iter()
                .enumerate()
                .map(|(i, (name, bytes))| {
                    let mut a = asset_template.clone();
                    let id = r.id * 1000 + i as u64 + 1;
                    a["url"] = json!(format!("{}/releases/assets/{id}", self.repo_url()));
                    a["browser_download_url"] = json!(format!(
                        "{}/{REPOSITORY}/releases/download/{}/{name}",
                        self.base, r.tag
                    ));
                    a["id"] = json!(id);
                    a["node_id"] = json!(format!("RA_fake{id}"));
                    a["name"] = json!(name);
                    a["label"] = Value::Null;
                    a["content_type"] = json!("application/octet-stream");
                    a["size"] = json!(bytes.len());
                    a["digest"] = json!(format!(
                        "sha256:{}",
                        pipeline_artifact::Sha256Digest::of(bytes)
                    ));
                    a["download_count"] = json!(0);
                    a
                })
                .collect(),
        );
        v
    }

    fn list_releases(&self, query: &BTreeMap<String, String>, push_access: bool) -> Reply {
        let (per_page, page) = paging(query);
        let s = self.lock();
        // Newest first; drafts only for a token with push access.
        let mut all: Vec<&Release> = s
            .releases
            .iter()
            .filter(|r| push_access || !r.draft)
            .collect();
        all.sort_by_key(|r| std::cmp::Reverse(r.id));
        let total = all.len();
        let items: Vec<Value> = all
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|r| self.release_json(r))
            .collect();
        drop(s);
        let mut reply = Reply::json(200, &Value::Array(items));
        if page * per_page < total {
            reply.headers.push((
                "Link".to_owned(),
                format!(
                    "<{}/releases?per_page={per_page}&page={}>; rel=\"next\"",
                    self.repo_url(),
                    page + 1
                ),
            ));
        }
        reply
    }

    fn release_by_tag(&self, tag: &str) -> Reply {
        // "Get a published release with the specified tag."
        let found = self
            .lock()
            .releases
            .iter()
            .find(|r| r.tag == tag && !r.draft)
            .cloned();
        match found {
            Some(r) => Reply::json(200, &self.release_json(&r)),
            None => fixture_error(404, "error-404.json"),
        }
    }

    fn get_release(&self, id: &str, push_access: bool) -> Reply {
        let found = id.parse::<u64>().ok().and_then(|id| {
            self.lock()
                .releases
                .iter()
                .find(|r| r.id == id && (push_access || !r.draft))
                .cloned()
        });
        match found {
            Some(r) => Reply::json(200, &self.release_json(&r)),
            None => fixture_error(404, "error-404.json"),
        }
    }

    fn release_fields(body: &Value) -> Result<(), Reply> {
        let invalid = || Reply::json(422, &github_json("error-422-validation-failed.json"));
        for key in [
            "tag_name",
            "target_commitish",
            "name",
            "body",
            "make_latest",
        ] {
            if !(body[key].is_null() || body[key].is_string()) {
                return Err(invalid());
            }
        }
        for key in ["draft", "prerelease", "generate_release_notes"] {
            if !(body[key].is_null() || body[key].is_boolean()) {
                return Err(invalid());
            }
        }
        if body["make_latest"]
            .as_str()
            .is_some_and(|m| !matches!(m, "true" | "false" | "legacy"))
        {
            return Err(invalid());
        }
        if body["body"]
            .as_str()
            .is_some_and(|b| b.chars().count() > MAX_RELEASE_BODY)
        {
            return Err(error(
                422,
                "Validation Failed: body is too long (maximum is 125000 characters)",
                "releases/releases#create-a-release",
            ));
        }
        Ok(())
    }

    fn create_release(&self, body: &Value) -> Reply {
        if let Err(reply) = Self::release_fields(body) {
            return reply;
        }
        let Some(tag) = body["tag_name"].as_str().filter(|t| !t.trim().is_empty()) else {
            return Reply::json(422, &github_json("error-422-validation-failed.json"));
        };
        let mut s = self.lock();
        if s.releases.iter().any(|r| r.tag == tag) {
            return fixture_error(422, "error-422-release-exists.json");
        }
        let target = body["target_commitish"]
            .as_str()
            .unwrap_or("main")
            .to_owned();
        let draft = body["draft"].as_bool().unwrap_or(false);
        // A published release of a tag that does not exist creates it
        // from target_commitish.
        if !draft && !s.tags.iter().any(|(t, _)| t == tag) {
            let commit = if target.len() == 40 && target.bytes().all(|b| b.is_ascii_hexdigit()) {
                target.clone()
            } else {
                object_id(&format!("branch {target}"))
            };
            s.tags.push((tag.to_owned(), commit));
        }
        let id = s.take_id();
        let release = Release {
            id,
            tag: tag.to_owned(),
            name: body["name"].as_str().map(str::to_owned),
            body: body["body"].as_str().map(str::to_owned),
            draft,
            prerelease: body["prerelease"].as_bool().unwrap_or(false),
            target_commitish: target,
            assets: Vec::new(),
            writes: 1,
        };
        s.releases.push(release.clone());
        drop(s);
        Reply::json(201, &self.release_json(&release))
    }

    fn update_release(&self, id: &str, body: &Value) -> Reply {
        if let Err(reply) = Self::release_fields(body) {
            return reply;
        }
        let mut s = self.lock();
        let Some(i) = id
            .parse::<u64>()
            .ok()
            .and_then(|id| s.releases.iter().position(|r| r.id == id))
        else {
            return fixture_error(404, "error-404.json");
        };
        if let Some(tag) = body["tag_name"].as_str()
            && s.releases
                .iter()
                .any(|r| r.tag == tag && r.id != s.releases[i].id)
        {
            return fixture_error(422, "error-422-release-exists.json");
        }
        let r = &mut s.releases[i];
        if let Some(tag) = body["tag_name"].as_str() {
            tag.clone_into(&mut r.tag);
        }
        if let Some(name) = body["name"].as_str() {
            r.name = Some(name.to_owned());
        }
        if let Some(text) = body["body"].as_str() {
            r.body = Some(text.to_owned());
        }
        if let Some(draft) = body["draft"].as_bool() {
            r.draft = draft;
        }
        if let Some(pre) = body["prerelease"].as_bool() {
            r.prerelease = pre;
        }
        r.writes += 1;
        let release = r.clone();
        drop(s);
        Reply::json(200, &self.release_json(&release))
    }

    fn list_tags(&self, query: &BTreeMap<String, String>) -> Reply {
        let (per_page, page) = paging(query);
        let s = self.lock();
        let total = s.tags.len();
        let mut template = github_json("tags-list.json")[0].clone();
        let items: Vec<Value> = s
            .tags
            .iter()
            .rev()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|(name, sha)| {
                template["name"] = json!(name);
                template["commit"]["sha"] = json!(sha);
                template["commit"]["url"] = json!(format!("{}/commits/{sha}", self.repo_url()));
                template["zipball_url"] =
                    json!(format!("{}/zipball/refs/tags/{name}", self.repo_url()));
                template["tarball_url"] =
                    json!(format!("{}/tarball/refs/tags/{name}", self.repo_url()));
                template["node_id"] = json!(format!("REF_fake_{name}"));
                template.clone()
            })
            .collect();
        drop(s);
        let mut reply = Reply::json(200, &Value::Array(items));
        if page * per_page < total {
            reply.headers.push((
                "Link".to_owned(),
                format!(
                    "<{}/tags?per_page={per_page}&page={}>; rel=\"next\"",
                    self.repo_url(),
                    page + 1
                ),
            ));
        }
        reply
    }

    /// `GET /{owner}/{repo}/releases/download/{tag}/{name}`: a redirect to
    /// the storage, as github.com answers; `GET /_storage/{release}/{i}`:
    /// the bytes. `None` for any other path.
    fn download(&self, path: &str) -> Option<Reply> {
        if let Some(rest) = path.strip_prefix(&format!("/{REPOSITORY}/releases/download/")) {
            let (tag, name) = rest.rsplit_once('/')?;
            let s = self.lock();
            let found = s
                .releases
                .iter()
                .filter(|r| !r.draft && r.tag == tag)
                .find_map(|r| {
                    r.assets
                        .iter()
                        .position(|(n, _)| n == name)
                        .map(|i| (r.id, i))
                });
            drop(s);
            return Some(match found {
                Some((id, i)) => {
                    let mut reply = Reply::text(302, "", "text/html; charset=utf-8");
                    reply.headers.push((
                        "Location".to_owned(),
                        format!("{}/_storage/{id}/{i}", self.base),
                    ));
                    reply
                }
                None => Reply::text(404, "Not Found", "text/plain; charset=utf-8"),
            });
        }
        let rest = path.strip_prefix("/_storage/")?;
        let (id, i) = rest.split_once('/')?;
        let (id, i) = (id.parse::<u64>().ok()?, i.parse::<usize>().ok()?);
        let s = self.lock();
        let bytes = s
            .releases
            .iter()
            .find(|r| r.id == id)
            .and_then(|r| r.assets.get(i))
            .map(|(_, b)| b.clone());
        drop(s);
        Some(match bytes {
            Some(bytes) => Reply {
                status: 200,
                headers: vec![(
                    "Content-Type".to_owned(),
                    "application/octet-stream".to_owned(),
                )],
                body: bytes,
            },
            None => Reply::text(404, "Not Found", "text/plain; charset=utf-8"),
        })
    }
}

/// `per_page` (at most 100, 30 by default) and `page` (from 1).
fn paging(query: &BTreeMap<String, String>) -> (usize, usize) {
    let per_page = query
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = query
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    (per_page, page)
}

/// A 40-hex-digit object id for `text`.
fn object_id(text: &str) -> String {
    let digest = pipeline_artifact::Sha256Digest::of(text.as_bytes()).to_string();
    digest[..40].to_owned()
}
