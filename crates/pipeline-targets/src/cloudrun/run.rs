//! The Cloud Run Admin API v2 calls on one service (GET, PATCH with
//! `updateMask` and `etag`, its long-running operation, GET of a
//! revision), and the pure planning of traffic the target does with them.

use std::sync::Arc;
use std::time::Duration;

use pipeline_http::{
    Bearer, Body, Endpoint, Event, Http, HttpError, Method, Request, ServiceError,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

/// The public Cloud Run Admin API.
pub const DEFAULT_RUN_ENDPOINT: &str = "https://run.googleapis.com";
/// `TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION`.
pub const BY_REVISION: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION";
/// `TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST`.
pub const TO_LATEST: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST";
/// The tag of the revision just deployed.
pub const GREEN: &str = "green";
/// The tag of the revision traffic left at the last swap.
pub const BLUE: &str = "blue";

/// Where a Cloud Run service lives.
#[derive(Debug, Clone)]
pub struct ServiceRef {
    /// The project id.
    pub project: String,
    /// The region, such as `europe-west1`.
    pub region: String,
    /// The service.
    pub service: String,
}

impl ServiceRef {
    /// `projects/{p}/locations/{r}/services/{s}`.
    pub fn name(&self) -> String {
        format!(
            "projects/{}/locations/{}/services/{}",
            self.project, self.region, self.service
        )
    }
}

/// One entry of `traffic` (or `trafficStatuses`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    /// `TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION` or `_LATEST`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The revision (short name), for `_REVISION`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// The percent of traffic (absent means 0 in proto3 JSON).
    #[serde(default)]
    pub percent: u32,
    /// The tag, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// The tag's URL (`trafficStatuses` only).
    #[serde(default, skip_serializing)]
    pub uri: String,
}

impl Traffic {
    /// An entry for `revision`.
    pub fn revision(revision: &str, percent: u32, tag: &str) -> Self {
        Self {
            kind: BY_REVISION.to_owned(),
            revision: revision.to_owned(),
            percent,
            tag: tag.to_owned(),
            uri: String::new(),
        }
    }

    fn is_latest(&self) -> bool {
        self.kind == TO_LATEST
    }
}

/// The `terminalCondition` of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `CONDITION_SUCCEEDED`, `CONDITION_FAILED`, `CONDITION_RECONCILING`, …
    #[serde(default)]
    pub state: String,
    /// Words on it.
    #[serde(default)]
    pub message: String,
    /// A common reason (`REVISION_FAILED`, `PROGRESS_DEADLINE_EXCEEDED`, …).
    #[serde(default)]
    pub reason: String,
    /// A revision reason.
    #[serde(default)]
    pub revision_reason: String,
}

impl Condition {
    /// The reason in words: `reason`, else `revisionReason`, else the state.
    pub fn why(&self) -> String {
        let code = [&self.reason, &self.revision_reason, &self.state]
            .into_iter()
            .find(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| "no condition".to_owned());
        if self.message.is_empty() {
            code
        } else {
            format!("{code}: {}", self.message)
        }
    }
}

/// The fields of a service the target reads; [`Service::raw`] keeps the
/// whole document (the template is sent back whole).
#[derive(Debug, Clone, Default)]
pub struct Service {
    /// `generation`.
    pub generation: i64,
    /// `observedGeneration`.
    pub observed_generation: i64,
    /// `reconciling`.
    pub reconciling: bool,
    /// `terminalCondition`.
    pub terminal_condition: Condition,
    /// `latestReadyRevision`, as a short name.
    pub latest_ready: Option<String>,
    /// `latestCreatedRevision`, as a short name.
    pub latest_created: Option<String>,
    /// `traffic`.
    pub traffic: Vec<Traffic>,
    /// `trafficStatuses`.
    pub traffic_statuses: Vec<Traffic>,
    /// `template.revision`.
    pub template_revision: Option<String>,
    /// `template.containers[0].image`.
    pub image: Option<String>,
    /// `etag`.
    pub etag: String,
    /// `uri`.
    pub uri: Option<String>,
    /// The whole document.
    pub raw: Value,
}

/// The last segment of a resource name (`…/revisions/x` → `x`).
pub(crate) fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn int64(v: Option<&Value>) -> i64 {
    // int64 is a string in Google's JSON; accept a number too.
    match v {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

impl Service {
    /// Reads a Service document.
    pub fn from_value(raw: Value) -> Result<Self, String> {
        let str_of = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let list = |k: &str| -> Result<Vec<Traffic>, String> {
            match raw.get(k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(v) => serde_json::from_value(v.clone()).map_err(|e| format!("`{k}`: {e}")),
            }
        };
        let terminal_condition = match raw.get("terminalCondition") {
            None | Some(Value::Null) => Condition::default(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| format!("`terminalCondition`: {e}"))?,
        };
        let template = raw.get("template").cloned().unwrap_or(Value::Null);
        Ok(Self {
            generation: int64(raw.get("generation")),
            observed_generation: int64(raw.get("observedGeneration")),
            reconciling: raw
                .get("reconciling")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            terminal_condition,
            latest_ready: str_of(&raw, "latestReadyRevision").map(|s| short(&s).to_owned()),
            latest_created: str_of(&raw, "latestCreatedRevision").map(|s| short(&s).to_owned()),
            traffic: list("traffic")?,
            traffic_statuses: list("trafficStatuses")?,
            template_revision: str_of(&template, "revision"),
            image: template
                .get("containers")
                .and_then(|c| c.get(0))
                .and_then(|c| str_of(c, "image")),
            etag: str_of(&raw, "etag").unwrap_or_default(),
            uri: str_of(&raw, "uri"),
            raw,
        })
    }

    /// Whether the service has settled on its latest generation.
    pub fn settled(&self) -> bool {
        !self.reconciling && self.observed_generation >= self.generation
    }

    /// The traffic with `_LATEST` entries pinned to `latestReadyRevision`
    /// (the revision they send to now).
    pub fn pinned_traffic(&self) -> Result<Vec<Traffic>, String> {
        let mut out: Vec<Traffic> = Vec::new();
        for t in &self.traffic {
            let mut t = t.clone();
            t.uri.clear();
            if t.is_latest() || t.revision.is_empty() {
                let Some(latest) = &self.latest_ready else {
                    if t.percent == 0 {
                        continue;
                    }
                    return Err(
                        "its traffic goes to the latest revision, and no revision is ready yet"
                            .to_owned(),
                    );
                };
                t.kind = BY_REVISION.to_owned();
                t.revision.clone_from(latest);
            }
            // An untagged entry for a revision already listed untagged is
            // folded into it (a LATEST entry pinned beside its own revision).
            if t.tag.is_empty()
                && let Some(same) = out
                    .iter_mut()
                    .find(|o| o.revision == t.revision && o.tag.is_empty())
            {
                same.percent += t.percent;
                continue;
            }
            out.push(t);
        }
        Ok(out)
    }

    /// The revision a tag points to.
    pub fn tagged(&self, tag: &str) -> Option<&Traffic> {
        self.traffic.iter().find(|t| t.tag == tag)
    }

    /// The URL of a tag, from `trafficStatuses`.
    pub fn tag_uri(&self, tag: &str) -> Option<&str> {
        self.traffic_statuses
            .iter()
            .find(|t| t.tag == tag && !t.uri.is_empty())
            .map(|t| t.uri.as_str())
    }
}

/// The traffic of a deploy: what the service has (`_LATEST` pinned to the
/// ready revision, so the new revision gets nothing), the `green` tag moved
/// to `new` at 0 percent.
pub fn plan_deploy(service: &Service, new: &str) -> Result<Vec<Traffic>, String> {
    let mut out = Vec::new();
    for mut t in service.pinned_traffic()? {
        if t.tag == GREEN || t.revision == new {
            if t.percent == 0 {
                continue;
            }
            t.tag.clear();
        }
        out.push(t);
    }
    out.push(Traffic::revision(new, 0, GREEN));
    Ok(out)
}

/// The traffic of a swap to `green` (a revision): all of it to `green`,
/// tagged `green`; the revision that had the most tagged `blue`; other
/// tags kept at 0 percent, untagged idle entries dropped.
pub fn plan_swap(service: &Service, green: &str) -> Result<Vec<Traffic>, String> {
    let pinned = service.pinned_traffic()?;
    let previous = pinned
        .iter()
        .filter(|t| t.revision != green && t.percent > 0)
        .max_by_key(|t| t.percent)
        .map(|t| t.revision.clone());
    let mut out = vec![Traffic::revision(green, 100, GREEN)];
    if let Some(prev) = &previous {
        out.push(Traffic::revision(prev, 0, BLUE));
    }
    for t in pinned {
        if t.tag.is_empty() || t.tag == GREEN || t.tag == BLUE {
            continue;
        }
        out.push(Traffic::revision(&t.revision, 0, &t.tag));
    }
    Ok(out)
}

/// The traffic of a rollback: all of it to `blue`'s revision, `green`
/// kept on its revision at 0 percent, other tags kept at 0 percent.
pub fn plan_rollback(service: &Service, blue: &str) -> Result<Vec<Traffic>, String> {
    let pinned = service.pinned_traffic()?;
    let mut out = vec![Traffic::revision(blue, 100, BLUE)];
    for t in pinned {
        if t.tag.is_empty() || t.tag == BLUE {
            continue;
        }
        out.push(Traffic::revision(&t.revision, 0, &t.tag));
    }
    Ok(out)
}

/// A revision as far as status needs it.
#[derive(Debug, Clone, Default)]
pub struct Revision {
    /// Its annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// `containers[0].image`.
    pub image: Option<String>,
}

/// The Cloud Run client of one service.
#[derive(Debug, Clone)]
pub struct CloudRun {
    http: Http,
    run: Endpoint,
    svc: ServiceRef,
    auth: Arc<dyn Bearer>,
}

/// A PATCH that did not go through.
#[derive(Debug)]
pub enum PatchError {
    /// The `etag` is stale (409 `ABORTED` or 412 `FAILED_PRECONDITION`):
    /// read again.
    Conflict(HttpError),
    /// Anything else.
    Other(HttpError),
}

impl CloudRun {
    /// A client for `svc` at `run`.
    pub fn new(http: Http, run: Endpoint, svc: ServiceRef, auth: Arc<dyn Bearer>) -> Self {
        Self {
            http,
            run,
            svc,
            auth,
        }
    }

    /// The service.
    pub fn service_ref(&self) -> &ServiceRef {
        &self.svc
    }

    /// The HTTP client.
    pub fn http(&self) -> &Http {
        &self.http
    }

    fn url(&self, query: &[(&str, &str)]) -> Url {
        self.run.at(&format!("/v2/{}", self.svc.name()), query)
    }

    /// GET the service (retried by [`Http::send`]).
    pub async fn get(&self, deadline: Instant) -> Result<Service, HttpError> {
        let op = format!("read Cloud Run service {}", self.svc.service);
        let req = Request::new(&op, Method::GET, self.url(&[])).auth(&*self.auth);
        let reply = self.http.send(&req, deadline).await?;
        let raw: Value = reply.json(&op)?;
        Service::from_value(raw).map_err(|reason| HttpError::Decode {
            op: op.clone(),
            url: reply.url.to_string(),
            reason,
        })
    }

    /// GET a revision (`None` when it is gone).
    pub async fn revision(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Result<Option<Revision>, HttpError> {
        let op = format!("read revision {name}");
        let url = self
            .run
            .at(&format!("/v2/{}/revisions/{name}", self.svc.name()), &[]);
        let req = Request::new(&op, Method::GET, url).auth(&*self.auth);
        match self.http.send(&req, deadline).await {
            Ok(reply) => {
                let v: Value = reply.json(&op)?;
                let annotations = v
                    .get("annotations")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                let image = v
                    .get("containers")
                    .and_then(|c| c.get(0))
                    .and_then(|c| c.get("image"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Ok(Some(Revision { annotations, image }))
            }
            Err(HttpError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// PATCH the service with `body` (which carries the `etag` read),
    /// changing only the fields of `mask`; returns the operation's name.
    /// Sent once more after a lost reply or a 5xx: the `etag` makes a
    /// second application impossible (it comes back as a conflict).
    pub async fn patch(
        &self,
        mask: &str,
        body: &Value,
        deadline: Instant,
    ) -> Result<String, PatchError> {
        let op = format!("update Cloud Run service {}", self.svc.service);
        let req = Request::new(&op, Method::PATCH, self.url(&[("updateMask", mask)]))
            .auth(&*self.auth)
            .body(Body::json(body))
            .idempotent(true);
        let reply = match self.http.send(&req, deadline).await {
            Ok(r) => r,
            Err(e) if is_conflict(&e) => return Err(PatchError::Conflict(e)),
            Err(e) => return Err(PatchError::Other(e)),
        };
        let v: Value = reply.json(&op).map_err(PatchError::Other)?;
        v.get("name")
            .and_then(Value::as_str)
            .filter(|n| n.contains("/operations/"))
            .map(str::to_owned)
            .ok_or_else(|| {
                PatchError::Other(HttpError::Decode {
                    op: op.clone(),
                    url: reply.url.to_string(),
                    reason: "the reply is not an Operation (no `name` …/operations/…)".to_owned(),
                })
            })
    }

    /// Polls the operation `name` until `done`; its `error` is
    /// [`HttpError::OperationFailed`] with the code and message.
    pub async fn wait_operation(&self, name: &str, deadline: Instant) -> Result<(), HttpError> {
        let op = format!("follow the update of service {}", self.svc.service);
        let started = Instant::now();
        let url = self.run.at(&format!("/v2/{name}"), &[]);
        let mut polls = 0u32;
        loop {
            let req = Request::new(&op, Method::GET, url.clone()).auth(&*self.auth);
            let v: Value = self.http.send(&req, deadline).await?.json(&op)?;
            if v.get("done").and_then(Value::as_bool) == Some(true) {
                return match v.get("error") {
                    Some(e) if !e.is_null() => Err(HttpError::OperationFailed {
                        op,
                        status: "with an error".to_owned(),
                        service: ServiceError::from_body(
                            json!({ "error": e }).to_string().as_bytes(),
                        ),
                    }),
                    _ => Ok(()),
                };
            }
            self.http.progress().event(&Event::Poll {
                op: &op,
                status: "running",
                elapsed: started.elapsed(),
            });
            let delay = self.http.policy().poll_delay(polls);
            polls += 1;
            if Instant::now() + delay > deadline {
                return Err(HttpError::Deadline {
                    op,
                    deadline: deadline.saturating_duration_since(started),
                    last: Some("the operation was not done".to_owned()),
                });
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// GETs the service until it has settled on its latest generation.
    pub async fn settled(&self, deadline: Instant) -> Result<Service, HttpError> {
        let started = Instant::now();
        let mut polls = 0u32;
        loop {
            let s = self.get(deadline).await?;
            if s.settled() {
                return Ok(s);
            }
            let delay = self
                .http
                .policy()
                .poll_delay(polls)
                .min(Duration::from_secs(5));
            polls += 1;
            if Instant::now() + delay > deadline {
                return Err(HttpError::Deadline {
                    op: format!("wait for service {} to settle", self.svc.service),
                    deadline: deadline.saturating_duration_since(started),
                    last: Some(format!(
                        "reconciling {}, generation {} observed {}",
                        s.reconciling, s.generation, s.observed_generation
                    )),
                });
            }
            tokio::time::sleep(delay).await;
        }
    }
}

/// A stale `etag`: 409 `ABORTED`, or 412 (`FAILED_PRECONDITION`).
fn is_conflict(e: &HttpError) -> bool {
    match e {
        HttpError::Status { status: 412, .. } => true,
        HttpError::Status {
            status: 409,
            service,
            ..
        } => service.code.as_deref() == Some("ABORTED"),
        HttpError::Exhausted { last, .. } => is_conflict(last),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(v: Value) -> Service {
        Service::from_value(v).unwrap()
    }

    #[test]
    fn the_documented_service_reads() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/gcp/run/service-get.200.json"
        ))
        .unwrap();
        let s = service(serde_json::from_str(&text).unwrap());
        assert_eq!(s.generation, 3);
        assert_eq!(s.observed_generation, 3);
        assert!(s.settled());
        assert_eq!(s.terminal_condition.state, "CONDITION_SUCCEEDED");
        assert_eq!(
            s.latest_ready.as_deref(),
            Some("pipeline-svc-1-0-0-0123abcd")
        );
        assert_eq!(s.traffic[0].kind, TO_LATEST);
        assert!(s.etag.starts_with('"'));
    }

    #[test]
    fn a_deploy_pins_latest_and_adds_green_at_zero() {
        let s = service(json!({
            "latestReadyRevision": "projects/p/locations/r/services/s/revisions/s-a",
            "traffic": [{"type": TO_LATEST, "percent": 100}],
        }));
        assert_eq!(
            plan_deploy(&s, "s-b").unwrap(),
            vec![
                Traffic::revision("s-a", 100, ""),
                Traffic::revision("s-b", 0, GREEN)
            ]
        );
        // A split pinned by hand is kept, and the old green tag moves.
        let s = service(json!({
            "traffic": [
                {"type": BY_REVISION, "revision": "s-a", "percent": 90},
                {"type": BY_REVISION, "revision": "s-b", "percent": 10, "tag": "green"},
                {"type": BY_REVISION, "revision": "s-0", "percent": 0, "tag": "blue"},
            ],
        }));
        assert_eq!(
            plan_deploy(&s, "s-c").unwrap(),
            vec![
                Traffic::revision("s-a", 90, ""),
                Traffic::revision("s-b", 10, ""),
                Traffic::revision("s-0", 0, BLUE),
                Traffic::revision("s-c", 0, GREEN),
            ]
        );
        let none = service(json!({"traffic": [{"type": TO_LATEST, "percent": 100}]}));
        assert!(plan_deploy(&none, "s-b").is_err());
    }

    #[test]
    fn a_swap_moves_everything_and_tags_the_previous_blue() {
        let s = service(json!({
            "traffic": [
                {"type": BY_REVISION, "revision": "s-a", "percent": 100},
                {"type": BY_REVISION, "revision": "s-b", "percent": 0, "tag": "green"},
                {"type": BY_REVISION, "revision": "s-0", "percent": 0, "tag": "blue"},
                {"type": BY_REVISION, "revision": "s-x", "percent": 0, "tag": "canary"},
            ],
        }));
        assert_eq!(
            plan_swap(&s, "s-b").unwrap(),
            vec![
                Traffic::revision("s-b", 100, GREEN),
                Traffic::revision("s-a", 0, BLUE),
                Traffic::revision("s-x", 0, "canary"),
            ]
        );
        let after = service(json!({"traffic": plan_swap(&s, "s-b").unwrap()}));
        assert_eq!(
            plan_rollback(&after, "s-a").unwrap(),
            vec![
                Traffic::revision("s-a", 100, BLUE),
                Traffic::revision("s-b", 0, GREEN),
                Traffic::revision("s-x", 0, "canary"),
            ]
        );
    }

    #[test]
    fn conflicts_are_aborted_409s_and_412s() {
        let status = |status, code: &str| HttpError::Status {
            op: "o".into(),
            method: "PATCH".into(),
            url: "u".into(),
            status,
            service: ServiceError {
                code: Some(code.to_owned()),
                message: None,
            },
            request_id: None,
        };
        assert!(is_conflict(&status(409, "ABORTED")));
        assert!(is_conflict(&status(412, "FAILED_PRECONDITION")));
        assert!(!is_conflict(&status(409, "ALREADY_EXISTS")));
    }
}
