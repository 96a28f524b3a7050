//! The local host agent as a [`Target`]: the agent's admin API (see
//! `crates/pipeline-host/API.md`) spoken over HTTP on loopback.

use std::time::Duration;

use pipeline_ci::Secret;
use pipeline_contracts::agent::{
    AgentInfo, DeployReply, EnvSpec, EnvView, RollbackRequest, SwapRequest, SwitchReply,
};
use pipeline_http::{Body, Endpoint, Http, HttpError, Method, Request, Response, StaticBearer};
use url::Url;

use crate::health::{HealthCheck, deadline_in, wait_healthy};
use crate::target::{Deployed, Release, SlotStatus, Switched, Target, TargetError, TargetStatus};

/// Where the agent is and how to prove who we are.
#[derive(Debug, Clone)]
pub struct AgentRef {
    /// The admin API, such as `http://127.0.0.1:7780`.
    pub url: Endpoint,
    /// The agent's token.
    pub token: Secret,
}

impl AgentRef {
    /// Reads `DIR/agent.json` and `DIR/token`, as a running agent writes
    /// them.
    pub fn from_state_dir(dir: &std::path::Path) -> Result<Self, TargetError> {
        let info_path = dir.join("agent.json");
        let info = std::fs::read_to_string(&info_path).map_err(|e| {
            TargetError::Config(format!(
                "{}: {e} (is an agent running with --state-dir {}?)",
                info_path.display(),
                dir.display()
            ))
        })?;
        let info: AgentInfo = serde_json::from_str(&info)
            .map_err(|e| TargetError::Config(format!("{}: {e}", info_path.display())))?;
        let url = Endpoint::parse(
            &info_path.display().to_string(),
            &format!("http://{}", info.address),
        )
        .map_err(|e| TargetError::Config(e.to_string()))?;
        let token_path = dir.join("token");
        let token = std::fs::read_to_string(&token_path)
            .map_err(|e| TargetError::Config(format!("{}: {e}", token_path.display())))?;
        Ok(Self {
            url,
            token: Secret::new(token.trim().to_owned()),
        })
    }
}

/// One environment of a local agent.
#[derive(Debug, Clone)]
pub struct LocalTarget {
    http: Http,
    agent: AgentRef,
    auth: StaticBearer,
    env: String,
    timeout: Duration,
    health_path: Option<String>,
}

impl LocalTarget {
    /// The environment `env` of the agent at `agent`.
    pub fn new(http: Http, agent: AgentRef, env: &str) -> Self {
        let auth = StaticBearer(agent.token.clone());
        Self {
            http,
            agent,
            auth,
            env: env.to_owned(),
            timeout: Duration::from_secs(600),
            health_path: None,
        }
    }

    /// The deadline of each operation.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// After a deploy, also checks that `path` on the slot reports the
    /// version (the agent itself checks only the status).
    pub fn with_version_check(mut self, path: Option<String>) -> Self {
        self.health_path = path;
        self
    }

    /// Declares (or updates) the environment on the agent (`PUT
    /// /v1/envs/{env}`: front, command, health path, timeouts, …).
    pub async fn declare(&self, spec: &EnvSpec) -> Result<(), TargetError> {
        let op = format!("declare {} on the agent", self.env);
        let req = Request::new(&op, Method::PUT, self.url("", &[])).body(Body::json(spec));
        self.send(req).await.map(|_| ())
    }

    fn url(&self, tail: &str, query: &[(&str, &str)]) -> Url {
        self.agent
            .url
            .at(&format!("/v1/envs/{}{tail}", self.env), query)
    }

    async fn send(&self, req: Request<'_>) -> Result<Response, TargetError> {
        match self
            .http
            .send(&req.auth(&self.auth), deadline_in(self.timeout))
            .await
        {
            Ok(r) => Ok(r),
            Err(e) => Err(agent_error(e)),
        }
    }
}

/// The agent's refusals are the step saying no (409, 422) or the caller's
/// mistake (400, 401, 403, 404), said in the agent's own words (its error
/// codes are for programs); the rest is external.
fn agent_error(e: HttpError) -> TargetError {
    match &e {
        HttpError::Status {
            op,
            status,
            service,
            ..
        } => {
            let words = service
                .message
                .clone()
                .unwrap_or_else(|| format!("the agent answered {status}"));
            match status {
                409 | 422 => TargetError::Refused(words),
                400 | 401 | 403 | 404 => {
                    TargetError::Config(format!("{op}: the agent answered {status}: {words}"))
                }
                _ => TargetError::Http(e),
            }
        }
        _ => TargetError::Http(e),
    }
}

impl Target for LocalTarget {
    fn describe(&self) -> String {
        format!("local:{}", self.env)
    }

    async fn deploy(&self, release: &Release) -> Result<Deployed, TargetError> {
        let deadline = deadline_in(self.timeout);
        let path = release.artifact.clone();
        let sha = release.sha256;
        tokio::task::spawn_blocking(move || pipeline_artifact::verify(&path, &sha))
            .await
            .map_err(|e| TargetError::Config(format!("checking the artifact: {e}")))??;
        let op = format!("deploy {} to {}", release.version, self.env);
        let sha = release.sha256.to_string();
        let url = self.url(
            "/deploy",
            &[("version", &release.version), ("sha256", &sha)],
        );
        // The agent keeps nothing of an upload that breaks off: sending again is safe.
        let req = Request::new(&op, Method::POST, url)
            .body(Body::File {
                content_type: "application/zip",
                path: release.artifact.clone(),
            })
            .idempotent(true);
        let reply: DeployReply = match self.http.send(&req.auth(&self.auth), deadline).await {
            Ok(r) => r.json(&op)?,
            Err(e) => return Err(agent_error(e)),
        };
        if let Some(path) = &self.health_path {
            let base = Url::parse(&reply.url)
                .map_err(|e| TargetError::Config(format!("the agent's slot url: {e}")))?;
            let mut check = HealthCheck::new(base, path);
            check.version = Some(release.version.clone());
            check.interval = Duration::from_millis(200);
            let wait = format!("wait for slot {} to serve {}", reply.slot, release.version);
            wait_healthy(&self.http, &wait, &check, deadline)
                .await
                .map_err(|source| TargetError::Unhealthy {
                    slot: reply.slot.to_string(),
                    source,
                })?;
        }
        Ok(Deployed {
            slot: reply.slot.to_string(),
            url: reply.url,
            version: reply.version,
            sha256: reply.sha256,
            deployment_id: None,
        })
    }

    async fn swap(&self, expect: Option<&str>) -> Result<Switched, TargetError> {
        let op = format!("switch {}", self.env);
        let req = Request::new(&op, Method::POST, self.url("/swap", &[])).body(Body::json(
            &SwapRequest {
                expect_version: expect.map(str::to_owned),
            },
        ));
        let r: SwitchReply = self.send(req).await?.json(&op)?;
        Ok(Switched {
            live_version: r.live_version,
            idle_version: r.idle_version,
            already: r.already,
        })
    }

    async fn rollback(&self) -> Result<Switched, TargetError> {
        let op = format!("roll back {}", self.env);
        let req = Request::new(&op, Method::POST, self.url("/rollback", &[]))
            .body(Body::json(&RollbackRequest::default()));
        let r: SwitchReply = self.send(req).await?.json(&op)?;
        Ok(Switched {
            live_version: r.live_version,
            idle_version: r.idle_version,
            already: r.already,
        })
    }

    async fn status(&self) -> Result<TargetStatus, TargetError> {
        let op = format!("read the status of {}", self.env);
        let req = Request::new(&op, Method::GET, self.url("", &[]));
        let v: EnvView = self.send(req).await?.json(&op)?;
        let mut slots: Vec<SlotStatus> = v
            .slots
            .into_iter()
            .map(|(color, s)| SlotStatus {
                live: v.live == Some(color),
                slot: color.to_string(),
                url: s.url,
                version: s.version,
                sha256: s.sha256,
                state: Some(s.state),
            })
            .collect();
        slots.sort_by_key(|s| !s.live);
        Ok(TargetStatus {
            target: format!("local:{}", v.name),
            slots,
        })
    }
}
