//! The Resource Manager and Kudu calls of App Service, each one request
//! (or one long-running operation) as the REST API documents it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use pipeline_http::{
    Bearer, Body, Endpoint, Event, Http, HttpError, Method, Request, Response, check_url, lro,
    retry_after,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

/// The Microsoft.Web API version used unless overridden: the newest stable
/// one in the REST API specs.
pub const DEFAULT_API_VERSION: &str = "2026-09-01";

/// Where an App Service app lives.
#[derive(Debug, Clone)]
pub struct AppRef {
    /// The subscription id.
    pub subscription: String,
    /// The resource group.
    pub resource_group: String,
    /// The app (site) name.
    pub app: String,
}

/// A site or a slot, as far as deploying needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Site {
    /// The resource id.
    pub id: String,
    /// The region.
    pub location: String,
    /// `app`, `app,linux`, …
    pub kind: String,
    /// `Running`, `Stopped`, …
    pub state: Option<String>,
    /// The host name served by default.
    pub default_host_name: Option<String>,
    /// The SCM (Kudu) host: the `hostNameSslStates` entry of type
    /// `Repository`.
    pub scm_host_name: Option<String>,
    /// The App Service plan.
    pub server_farm_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SiteJson {
    #[serde(default)]
    id: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    properties: SiteProps,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SiteProps {
    state: Option<String>,
    default_host_name: Option<String>,
    #[serde(default)]
    host_name_ssl_states: Vec<HostNameState>,
    server_farm_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HostNameState {
    name: Option<String>,
    host_type: Option<String>,
}

impl From<SiteJson> for Site {
    fn from(s: SiteJson) -> Self {
        let scm = s
            .properties
            .host_name_ssl_states
            .iter()
            .find(|h| h.host_type.as_deref() == Some("Repository"))
            .and_then(|h| h.name.clone());
        Site {
            id: s.id,
            location: s.location,
            kind: s.kind.unwrap_or_else(|| "app".to_owned()),
            state: s.properties.state,
            default_host_name: s.properties.default_host_name,
            scm_host_name: scm,
            server_farm_id: s.properties.server_farm_id,
        }
    }
}

/// A Kudu deployment record.
#[derive(Debug, Clone, Deserialize)]
pub struct KuduDeployment {
    /// The deployment id (absent in some early replies).
    pub id: Option<String>,
    /// 0 pending, 1 building, 2 deploying, 3 failed, 4 success.
    pub status: Option<i64>,
    /// Words on the status.
    #[serde(default)]
    pub status_text: Option<String>,
    /// Whether the deployment ended.
    #[serde(default)]
    pub complete: Option<bool>,
    /// Where its log is.
    #[serde(default)]
    pub log_url: Option<String>,
}

impl KuduDeployment {
    /// The status in words.
    pub fn status_name(&self) -> &'static str {
        match self.status {
            Some(0) => "Pending",
            Some(1) => "Building",
            Some(2) => "Deploying",
            Some(3) => "Failed",
            Some(4) => "Success",
            _ => "Unknown",
        }
    }
}

#[derive(Deserialize)]
struct LogEntry {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details_url: Option<String>,
}

/// The App Service client: Resource Manager at `arm`, Kudu at the slot's
/// SCM host (or `scm`, when given), one credential for both.
#[derive(Debug, Clone)]
pub struct AppService {
    http: Http,
    arm: Endpoint,
    scm: Option<Endpoint>,
    api_version: String,
    app: AppRef,
    auth: Arc<dyn Bearer>,
}

/// How many log lines a failed deployment's error carries.
pub const LOG_EXCERPT_LINES: usize = 30;

impl AppService {
    /// A client for `app`.
    pub fn new(http: Http, arm: Endpoint, app: AppRef, auth: Arc<dyn Bearer>) -> Self {
        Self {
            http,
            arm,
            scm: None,
            api_version: DEFAULT_API_VERSION.to_owned(),
            app,
            auth,
        }
    }

    /// Sends Kudu requests to `scm` instead of the slot's SCM host.
    pub fn with_scm(mut self, scm: Option<Endpoint>) -> Self {
        self.scm = scm;
        self
    }

    /// Uses another Microsoft.Web API version.
    pub fn with_api_version(mut self, version: &str) -> Self {
        version.clone_into(&mut self.api_version);
        self
    }

    /// The app.
    pub fn app(&self) -> &AppRef {
        &self.app
    }

    /// The HTTP client.
    pub fn http(&self) -> &Http {
        &self.http
    }

    fn site_path(&self, slot: Option<&str>) -> String {
        let mut p = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Web/sites/{}",
            self.app.subscription, self.app.resource_group, self.app.app
        );
        if let Some(slot) = slot {
            p.push_str("/slots/");
            p.push_str(slot);
        }
        p
    }

    fn arm_url(&self, slot: Option<&str>, tail: &str) -> Url {
        self.arm.at(
            &format!("{}{tail}", self.site_path(slot)),
            &[("api-version", &self.api_version)],
        )
    }

    fn req<'a>(&'a self, op: &'a str, method: Method, url: Url) -> Request<'a> {
        Request::new(op, method, url).auth(&*self.auth)
    }

    /// The production site (`slot` `None`) or a slot; `None` when it does
    /// not exist (404).
    pub async fn site(
        &self,
        slot: Option<&str>,
        deadline: Instant,
    ) -> Result<Option<Site>, HttpError> {
        let op = match slot {
            Some(s) => format!("read slot {s} of {}", self.app.app),
            None => format!("read app {}", self.app.app),
        };
        let req = self.req(&op, Method::GET, self.arm_url(slot, ""));
        match self.http.send(&req, deadline).await {
            Ok(reply) => Ok(Some(reply.json::<SiteJson>(&op)?.into())),
            Err(HttpError::Status { status: 404, .. }) if slot.is_some() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The slots of the app, following `nextLink`.
    pub async fn slots(&self, deadline: Instant) -> Result<Vec<(String, Site)>, HttpError> {
        let op = format!("list the slots of {}", self.app.app);
        let mut url = self.arm_url(None, "/slots");
        let mut out = Vec::new();
        loop {
            let reply = self
                .http
                .send(&self.req(&op, Method::GET, url), deadline)
                .await?;
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Page {
                #[serde(default)]
                value: Vec<Value>,
                next_link: Option<String>,
            }
            let page: Page = reply.json(&op)?;
            for v in page.value {
                let name = v
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let site: SiteJson = serde_json::from_value(v).map_err(|e| HttpError::Decode {
                    op: op.clone(),
                    url: reply.url.to_string(),
                    reason: e.to_string(),
                })?;
                out.push((name, site.into()));
            }
            match page.next_link {
                Some(next) if !next.is_empty() => {
                    url = Url::parse(&next).map_err(|e| HttpError::Decode {
                        op: op.clone(),
                        url: reply.url.to_string(),
                        reason: format!("nextLink `{next}`: {e}"),
                    })?;
                    check_url("nextLink", &url)?;
                }
                _ => return Ok(out),
            }
        }
    }

    /// Creates `slot` from the production site's configuration (a
    /// long-running PUT with `cloningInfo`), then reads it back.
    pub async fn create_slot(
        &self,
        slot: &str,
        production: &Site,
        deadline: Instant,
    ) -> Result<Site, HttpError> {
        let op = format!("create slot {slot} of {}", self.app.app);
        let mut properties = json!({
            "cloningInfo": {
                "sourceWebAppId": production.id,
                "overwrite": false,
                "cloneCustomHostNames": false,
                "cloneSourceControl": false,
            }
        });
        if let Some(farm) = &production.server_farm_id {
            properties["serverFarmId"] = json!(farm);
        }
        let body = json!({
            "location": production.location,
            "kind": production.kind,
            "properties": properties,
        });
        let req = self
            .req(&op, Method::PUT, self.arm_url(Some(slot), ""))
            .body(Body::json(&body));
        let first = self.http.send(&req, deadline).await?;
        lro::follow(&self.http, &req, first, Some(&*self.auth), deadline).await?;
        self.site(Some(slot), deadline)
            .await?
            .ok_or_else(|| HttpError::Decode {
                op,
                url: self.arm_url(Some(slot), "").to_string(),
                reason: "the slot was created but reads back as not found".to_owned(),
            })
    }

    /// The app settings of `slot` (or production).
    pub async fn app_settings(
        &self,
        slot: Option<&str>,
        deadline: Instant,
    ) -> Result<BTreeMap<String, String>, HttpError> {
        let op = format!("read the app settings of {}", slot_name(slot));
        // A POST that only reads: safe to repeat.
        let req = self
            .req(
                &op,
                Method::POST,
                self.arm_url(slot, "/config/appsettings/list"),
            )
            .idempotent(true);
        let reply = self.http.send(&req, deadline).await?;
        settings_of(&reply, &op)
    }

    /// Replaces the app settings of `slot` with `settings` (the PUT
    /// replaces the whole set: read, merge, then write).
    pub async fn put_app_settings(
        &self,
        slot: Option<&str>,
        settings: &BTreeMap<String, String>,
        deadline: Instant,
    ) -> Result<BTreeMap<String, String>, HttpError> {
        let op = format!("write the app settings of {}", slot_name(slot));
        let req = self
            .req(&op, Method::PUT, self.arm_url(slot, "/config/appsettings"))
            .body(Body::json(&json!({ "properties": settings })));
        let reply = self.http.send(&req, deadline).await?;
        settings_of(&reply, &op)
    }

    /// Swaps `slot` with `target` (`None`: production), following the
    /// operation to its end. Not repeated once sent: the caller checks the
    /// state after an unclear failure.
    pub async fn swap(
        &self,
        slot: &str,
        target: Option<&str>,
        deadline: Instant,
    ) -> Result<(), HttpError> {
        let op = format!("swap slot {slot} with {}", slot_name(target));
        let body = json!({ "targetSlot": target.unwrap_or("production"), "preserveVnet": true });
        let req = self
            .req(&op, Method::POST, self.arm_url(Some(slot), "/slotsswap"))
            .body(Body::json(&body));
        let first = self.http.send(&req, deadline).await?;
        lro::follow(&self.http, &req, first, Some(&*self.auth), deadline).await?;
        Ok(())
    }

    /// The Kudu endpoint for a slot: the override, or its SCM host.
    pub fn scm_for(&self, site: &Site, slot: &str) -> Result<Endpoint, HttpError> {
        if let Some(scm) = &self.scm {
            return Ok(scm.clone());
        }
        let host = site
            .scm_host_name
            .as_deref()
            .ok_or_else(|| HttpError::Decode {
                op: format!("find the SCM host of slot {slot}"),
                url: self.arm_url(Some(slot), "").to_string(),
                reason: "no hostNameSslStates entry of hostType Repository; pass --scm-endpoint"
                    .to_owned(),
            })?;
        Ok(Endpoint::parse(
            "the slot's SCM host",
            &format!("https://{host}"),
        )?)
    }

    /// A URL Kudu sent back (a `Location`, a `log_url`), moved onto the
    /// SCM override when there is one: behind a proxy, or in tests, Kudu
    /// still names its own host.
    fn kudu_url(&self, scm: &Endpoint, what: &str, url: Url) -> Result<Url, HttpError> {
        let url = if self.scm.is_some() {
            let mut moved = scm.at(url.path(), &[]);
            moved.set_query(url.query());
            moved
        } else {
            url
        };
        check_url(what, &url)?;
        Ok(url)
    }

    /// Deploys the zip at `artifact` with OneDeploy in async mode and
    /// follows the deployment to its end. A failed deployment comes back as
    /// `Ok` with status 3; see [`AppService::log_excerpt`].
    pub async fn one_deploy(
        &self,
        scm: &Endpoint,
        artifact: &Path,
        deadline: Instant,
    ) -> Result<KuduDeployment, HttpError> {
        let op = "upload the artifact with OneDeploy";
        let url = scm.at("/api/publish", &[("type", "zip"), ("async", "true")]);
        // Publishing the same zip twice gives the same result: an upload
        // cut off mid-way is sent again.
        let req = self
            .req(op, Method::POST, url)
            .body(Body::File {
                content_type: "application/zip",
                path: artifact.to_path_buf(),
            })
            .idempotent(true);
        let first = self.http.send(&req, deadline).await?;
        let started = Instant::now();
        let mut poll_url = match first.header("location") {
            Some(l) => first.url.join(l).map_err(|e| HttpError::Decode {
                op: op.to_owned(),
                url: first.url.to_string(),
                reason: format!("Location `{l}`: {e}"),
            })?,
            None => scm.at("/api/deployments/latest", &[]),
        };
        poll_url = self.kudu_url(scm, "Location", poll_url)?;
        if first.status.as_u16() == 200
            && let Ok(done) = first.json::<KuduDeployment>(op)
            && done.complete == Some(true)
        {
            return Ok(done);
        }
        let mut wait = retry_after(&first.headers, SystemTime::now());
        let op = "follow the OneDeploy deployment";
        let mut polls = 0u32;
        loop {
            let delay = wait.map_or(self.http.policy().poll_delay(polls), |w| {
                self.http.policy().honoured(w)
            });
            polls += 1;
            if Instant::now() + delay > deadline {
                return Err(HttpError::Deadline {
                    op: op.to_owned(),
                    deadline: deadline.saturating_duration_since(started),
                    last: Some("the deployment had not completed".to_owned()),
                });
            }
            tokio::time::sleep(delay).await;
            let reply = self
                .http
                .send(&self.req(op, Method::GET, poll_url.clone()), deadline)
                .await?;
            wait = retry_after(&reply.headers, SystemTime::now());
            let dep: KuduDeployment = reply.json(op)?;
            if dep.complete == Some(true) || matches!(dep.status, Some(3 | 4)) {
                return Ok(dep);
            }
            self.http.progress().event(&Event::Poll {
                op,
                status: dep.status_name(),
                elapsed: started.elapsed(),
            });
            if let Some(l) = reply.header("location")
                && let Ok(next) = reply.url.join(l)
                && let Ok(next) = self.kudu_url(scm, "Location", next)
            {
                poll_url = next;
            }
        }
    }

    /// The last lines of a deployment's log, with the details of the
    /// entries that have them (the build output). Best effort: an empty
    /// excerpt when the log cannot be read.
    pub async fn log_excerpt(
        &self,
        scm: &Endpoint,
        dep: &KuduDeployment,
        deadline: Instant,
    ) -> Vec<String> {
        let op = "read the deployment log";
        let url = match (&dep.log_url, &dep.id) {
            (Some(u), _) => match Url::parse(u) {
                Ok(u) => u,
                Err(_) => return Vec::new(),
            },
            (None, Some(id)) => scm.at(&format!("/api/deployments/{id}/log"), &[]),
            (None, None) => scm.at("/api/deployments/latest/log", &[]),
        };
        let Ok(entries) = self.log_entries(scm, op, url, deadline).await else {
            return Vec::new();
        };
        let mut lines = Vec::new();
        for entry in entries {
            if let Some(m) = entry.message {
                lines.push(m);
            }
            if let Some(details) = entry.details_url.and_then(|u| Url::parse(&u).ok())
                && let Ok(inner) = self.log_entries(scm, op, details, deadline).await
            {
                lines.extend(
                    inner
                        .into_iter()
                        .filter_map(|e| e.message)
                        .map(|m| format!("  {m}")),
                );
            }
        }
        let skip = lines.len().saturating_sub(LOG_EXCERPT_LINES);
        lines.drain(..skip);
        lines
    }

    async fn log_entries(
        &self,
        scm: &Endpoint,
        op: &str,
        url: Url,
        deadline: Instant,
    ) -> Result<Vec<LogEntry>, HttpError> {
        let url = self.kudu_url(scm, "log_url", url)?;
        let reply = self
            .http
            .send(&self.req(op, Method::GET, url), deadline)
            .await?;
        reply.json(op)
    }
}

fn slot_name(slot: Option<&str>) -> String {
    match slot {
        Some(s) => format!("slot {s}"),
        None => "production".to_owned(),
    }
}

fn settings_of(reply: &Response, op: &str) -> Result<BTreeMap<String, String>, HttpError> {
    #[derive(Deserialize)]
    struct Dict {
        #[serde(default)]
        properties: BTreeMap<String, Option<String>>,
    }
    let dict: Dict = reply.json(op)?;
    Ok(dict
        .properties
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_reads_the_documented_fields() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/azure/arm/site-get.200.json"
        ))
        .unwrap();
        let site: Site = serde_json::from_str::<SiteJson>(&text).unwrap().into();
        assert_eq!(
            site.default_host_name.as_deref(),
            Some("pipeline-app.azurewebsites.net")
        );
        assert_eq!(
            site.scm_host_name.as_deref(),
            Some("pipeline-app.scm.azurewebsites.net")
        );
        assert_eq!(site.state.as_deref(), Some("Running"));
        assert!(
            site.server_farm_id
                .unwrap()
                .ends_with("/serverfarms/plan-pipeline")
        );
    }
}
