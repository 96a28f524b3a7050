//! The agent: environments with two slots each, the operations on them
//! (declare, deploy, swap, rollback), supervision of the apps, and recovery
//! of all of it after a restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pipeline_artifact::{Sha256Digest, UnpackLimits};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::conn::{ConnLimits, Tracker};
use crate::error::{ApiError, chain};
use crate::metrics::{self, SlotMetrics};
use crate::process::{self, Launch};
use crate::proxy::{self, Route, Upstream};
use crate::release::{ReleaseError, Releases};
use crate::spec::{DEFAULT_DRAIN_TIMEOUT_SECS, EnvSpec, valid_env_name, valid_version};
use crate::state::{self, Color, EnvRecord, ReleaseRef, Role, StateError, StateFile};
use crate::time;

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where the state, releases and logs live.
    pub state_dir: PathBuf,
    /// The largest artifact accepted.
    pub max_artifact: u64,
    /// What an artifact may unpack to.
    pub unpack: UnpackLimits,
    /// How long an app has to exit after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
    /// The most connections one front holds.
    pub front_connections: usize,
    /// The most connections all fronts together hold (each may hold a
    /// second file descriptor, to its slot).
    pub fronts_connections: usize,
    /// The fronts' connection timeouts.
    pub front_limits: ConnLimits,
}

impl AgentConfig {
    /// Defaults for `state_dir`: 2 GiB artifacts unpacking to at most
    /// 4 GiB and 100,000 entries, 10 s grace, 4,096 connections per front
    /// and in all, 10 s for a request's head, 60 s idle.
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            state_dir,
            max_artifact: 2 << 30,
            unpack: UnpackLimits::default(),
            stop_grace: Duration::from_secs(10),
            front_connections: 4096,
            fronts_connections: 4096,
            front_limits: ConnLimits::default(),
        }
    }
}

/// Why the agent did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The state directory or file.
    #[error(transparent)]
    State(#[from] StateError),
    /// The releases of a format 1 state directory could not be moved.
    #[error(
        "cannot move the releases to the layout of state format {}",
        state::FORMAT
    )]
    Migrate(#[source] ReleaseError),
}

/// The agent. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Agent(Arc<Inner>);

struct Inner {
    cfg: AgentConfig,
    tracker: Arc<Tracker>,
    releases: Releases,
    state: Mutex<StateFile>,
    saving: Mutex<()>,
    envs: Mutex<BTreeMap<String, Arc<EnvRt>>>,
    probe: Client<HttpConnector, Empty<Bytes>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("state_dir", &self.cfg.state_dir)
            .finish()
    }
}

struct EnvRt {
    route: Arc<Route>,
    op: tokio::sync::Mutex<()>,
    op_name: Mutex<Option<(String, u64)>>,
    front: Mutex<Option<(SocketAddr, watch::Sender<bool>)>>,
    front_error: Mutex<Option<String>>,
    slots: [SlotRt; 2],
}

#[derive(Default)]
struct SlotRt {
    inflight: Arc<AtomicUsize>,
    metrics: Arc<SlotMetrics>,
    running: tokio::sync::Mutex<Option<Running>>,
    /// Bumped by every switch: a warm-expiry timer only stops the slot if
    /// nothing happened since it was set.
    generation: AtomicU64,
}

struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Holds an environment's operation lock and names the operation.
struct OpGuard<'a> {
    _lock: tokio::sync::MutexGuard<'a, ()>,
    name: &'a Mutex<Option<(String, u64)>>,
}

impl Drop for OpGuard<'_> {
    fn drop(&mut self) {
        *lock(self.name) = None;
    }
}

pub use pipeline_contracts::agent::{DeployReply, EnvView, OpView, SlotView, SwitchReply};

fn slot_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

impl Agent {
    /// Starts the agent over `cfg.state_dir`: reads the state, cleans what a
    /// crash left half-done, binds the fronts, and adopts the apps that still
    /// run (or starts them again). Must run inside a Tokio runtime.
    pub async fn start(cfg: AgentConfig) -> Result<Agent, StartError> {
        std::fs::create_dir_all(&cfg.state_dir).map_err(|source| StateError::Io {
            op: "create",
            path: cfg.state_dir.clone(),
            source,
        })?;
        let mut st = state::load(&cfg.state_dir)?;
        let releases = Releases::new(&cfg.state_dir);
        if st.format < state::FORMAT {
            releases.migrate_v1().map_err(StartError::Migrate)?;
            st.format = state::FORMAT;
        }
        releases.clean();
        let agent = Agent(Arc::new(Inner {
            tracker: Tracker::new(cfg.fronts_connections),
            releases,
            state: Mutex::new(st),
            saving: Mutex::new(()),
            envs: Mutex::new(BTreeMap::new()),
            // Probes are seconds apart: a kept connection the app has
            // closed meanwhile would fail one for nothing.
            probe: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build_http(),
            cfg,
        }));
        let names: Vec<String> = lock(&agent.0.state).envs.keys().cloned().collect();
        for name in names {
            let rt = agent.runtime(&name);
            let spec = lock(&agent.0.state).envs.get(&name).map(|e| e.spec.clone());
            if let Some(spec) = spec {
                agent.bind_front(&rt, spec.front).await;
            }
            agent.recover(&name, &rt).await;
        }
        agent.save()?;
        Ok(agent)
    }

    fn runtime(&self, name: &str) -> Arc<EnvRt> {
        let mut envs = lock(&self.0.envs);
        Arc::clone(envs.entry(name.to_owned()).or_insert_with(|| {
            Arc::new(EnvRt {
                route: Arc::new(Route::default()),
                op: tokio::sync::Mutex::new(()),
                op_name: Mutex::new(None),
                front: Mutex::new(None),
                front_error: Mutex::new(None),
                slots: [SlotRt::default(), SlotRt::default()],
            })
        }))
    }

    fn existing(&self, name: &str) -> Result<Arc<EnvRt>, ApiError> {
        if !lock(&self.0.state).envs.contains_key(name) {
            return Err(ApiError::new(
                404,
                "UnknownEnvironment",
                format!("no environment `{name}`; declare it with PUT /v1/envs/{name}"),
            ));
        }
        Ok(self.runtime(name))
    }

    fn save(&self) -> Result<(), StateError> {
        // One save at a time, each of the state as it is then: the file
        // ends as the last change left it.
        let _saving = lock(&self.0.saving);
        let st = lock(&self.0.state).clone();
        state::save(&self.0.cfg.state_dir, &st)
    }

    fn save_api(&self) -> Result<(), ApiError> {
        self.save()
            .map_err(|e| ApiError::internal("cannot save the state", &e))
    }

    /// The connections of the agent's listeners, to count the admin API's
    /// among them.
    pub fn tracker(&self) -> &Arc<Tracker> {
        &self.0.tracker
    }

    fn with_env<R>(&self, name: &str, f: impl FnOnce(&mut EnvRecord) -> R) -> Option<R> {
        lock(&self.0.state).envs.get_mut(name).map(f)
    }

    fn begin<'a>(&self, rt: &'a EnvRt, name: &str, what: String) -> Result<OpGuard<'a>, ApiError> {
        match rt.op.try_lock() {
            Ok(guard) => {
                *lock(&rt.op_name) = Some((what, time::now()));
                Ok(OpGuard {
                    _lock: guard,
                    name: &rt.op_name,
                })
            }
            Err(_) => {
                let running = lock(&rt.op_name).clone();
                let msg = match running {
                    Some((op, since)) => {
                        format!("{op} in {name} in progress since {}", time::rfc3339(since))
                    }
                    None => format!("another operation in {name} is in progress"),
                };
                Err(ApiError::new(409, "OperationInProgress", msg))
            }
        }
    }

    async fn bind_front(&self, rt: &EnvRt, addr: SocketAddr) {
        // Taken in a statement of its own: the guard of a lock in the
        // `if let` would live through its block, and the lock below would
        // wait for it forever.
        let bound = lock(&rt.front).take();
        if let Some((old, stop)) = bound {
            if old == addr {
                *lock(&rt.front) = Some((old, stop));
                return;
            }
            let _ = stop.send(true);
        }
        match crate::conn::listen(addr) {
            Ok(listener) => {
                let (tx, rx) = watch::channel(false);
                let group = self.0.tracker.group(
                    &format!("front {addr}"),
                    self.0.cfg.front_connections,
                    true,
                );
                tokio::spawn(proxy::serve_front(
                    listener,
                    Arc::clone(&rt.route),
                    rx,
                    Arc::clone(&self.0.tracker),
                    group,
                    self.0.cfg.front_limits,
                ));
                *lock(&rt.front) = Some((addr, tx));
                *lock(&rt.front_error) = None;
            }
            Err(e) => {
                tracing::error!("cannot listen on {addr}: {e}");
                *lock(&rt.front_error) = Some(format!("cannot listen on {addr}: {e}"));
            }
        }
    }

    /// Declares or changes an environment.
    pub async fn declare(&self, name: &str, spec: EnvSpec) -> Result<EnvView, ApiError> {
        if !valid_env_name(name) {
            return Err(ApiError::bad_request(format!(
                "`{name}` is not an environment name ([a-z0-9][a-z0-9-]{{0,39}})"
            )));
        }
        spec.validate().map_err(ApiError::bad_request)?;
        let rt = self.runtime(name);
        let op = self.begin(&rt, name, "declare".to_owned())?;
        // Another environment's front at the same address would never bind.
        let clash = lock(&self.0.state)
            .envs
            .iter()
            .find(|(n, e)| n.as_str() != name && e.spec.front == spec.front)
            .map(|(n, _)| n.clone());
        if let Some(other) = clash {
            return Err(ApiError::bad_request(format!(
                "`front` {} is the front of `{other}`",
                spec.front
            )));
        }
        self.bind_front(&rt, spec.front).await;
        if let Some(err) = lock(&rt.front_error).clone() {
            return Err(ApiError::bad_request(format!("`front`: {err}")));
        }
        {
            let mut st = lock(&self.0.state);
            match st.envs.get_mut(name) {
                Some(env) => env.spec = spec,
                None => {
                    st.envs.insert(name.to_owned(), EnvRecord::new(spec));
                }
            }
        }
        self.save_api()?;
        drop(op);
        Ok(self.view(name).await)
    }

    /// Every environment.
    pub async fn status(&self) -> Vec<EnvView> {
        let names: Vec<String> = lock(&self.0.state).envs.keys().cloned().collect();
        let mut out = Vec::new();
        for n in names {
            out.push(self.view(&n).await);
        }
        out
    }

    /// The fronts' counters of every slot in Prometheus' text exposition
    /// format (no slot is probed: a scrape costs a few reads).
    pub fn metrics(&self) -> String {
        let envs: Vec<(String, EnvRecord)> = lock(&self.0.state)
            .envs
            .iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect();
        let mut rows = Vec::new();
        for (name, rec) in &envs {
            let rt = self.runtime(name);
            for color in Color::BOTH {
                let slot = &rt.slots[color.index()];
                rows.push((
                    name.as_str(),
                    color,
                    rec.live == Some(color),
                    slot.inflight.load(Ordering::Acquire),
                    rec.slot(color).cut_requests,
                    slot.metrics.read(),
                ));
            }
        }
        let samples: Vec<metrics::Sample<'_>> = rows
            .iter()
            .map(
                |(env, color, live, in_flight, cut, traffic)| metrics::Sample {
                    env,
                    slot: color.as_str(),
                    live: *live,
                    in_flight: *in_flight,
                    cut: *cut,
                    traffic,
                },
            )
            .collect();
        metrics::exposition(&samples)
    }

    /// One environment.
    pub async fn env_status(&self, name: &str) -> Result<EnvView, ApiError> {
        self.existing(name)?;
        Ok(self.view(name).await)
    }

    async fn view(&self, name: &str) -> EnvView {
        let rt = self.runtime(name);
        let rec = lock(&self.0.state).envs.get(name).cloned();
        let Some(rec) = rec else {
            return EnvView {
                name: name.to_owned(),
                front: String::new(),
                front_error: None,
                live: None,
                operation: None,
                slots: BTreeMap::new(),
                previous: None,
            };
        };
        let mut slots = BTreeMap::new();
        for color in Color::BOTH {
            let s = rec.slot(color);
            let running = s
                .pid
                .is_some_and(|pid| process::is_running(pid, s.start_ticks));
            let healthy = match (running, s.port) {
                (true, Some(port)) => self.probe_once(port, &rec.spec).await.is_ok(),
                _ => false,
            };
            let state = match s.role {
                Role::Live | Role::Idle | Role::Warm if !running => "crashed",
                Role::Empty => "empty",
                Role::Starting => "starting",
                Role::Idle => "idle",
                Role::Live => "live",
                Role::Warm => "warm",
                Role::Stopped => "stopped",
                Role::Failed => "failed",
            };
            slots.insert(
                color,
                SlotView {
                    state: state.to_owned(),
                    version: s.release.as_ref().map(|r| r.version.clone()),
                    sha256: s.release.as_ref().map(|r| r.sha256.clone()),
                    url: s.port.filter(|_| running).map(slot_url),
                    pid: s.pid.filter(|_| running),
                    healthy,
                    since: (s.since > 0).then(|| time::rfc3339(s.since)),
                    restarts: s.restarts,
                    warm_until: s.warm_until.map(time::rfc3339),
                    error: s.error.clone(),
                    cut_requests: s.cut_requests,
                    requests_in_flight: rt.slots[color.index()].inflight.load(Ordering::Acquire),
                    traffic: rt.slots[color.index()].metrics.read(),
                },
            );
        }
        EnvView {
            name: name.to_owned(),
            front: rec.spec.front.to_string(),
            front_error: lock(&rt.front_error).clone(),
            live: rec.live,
            operation: lock(&rt.op_name).clone().map(|(name, since)| OpView {
                name,
                since: time::rfc3339(since),
            }),
            slots,
            previous: rec.previous,
        }
    }

    async fn probe_once(&self, port: u16, spec: &EnvSpec) -> Result<(), String> {
        let uri: hyper::Uri = format!("http://127.0.0.1:{port}{}", spec.health_path)
            .parse()
            .map_err(|e| format!("bad health path: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(2), self.0.probe.get(uri)).await {
            Ok(Ok(resp)) if resp.status().as_u16() == spec.expect_status => Ok(()),
            Ok(Ok(resp)) => Err(format!("status {}", resp.status().as_u16())),
            Ok(Err(e)) => Err(if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                e.to_string()
            }),
            Err(_) => Err("no answer within 2s".to_owned()),
        }
    }

    /// Deploys the artifact in `body` to the idle slot of `name`.
    pub async fn deploy<B>(
        &self,
        name: &str,
        version: &str,
        sha256: &str,
        body: B,
    ) -> Result<DeployReply, ApiError>
    where
        B: hyper::body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let rt = self.existing(name)?;
        if !valid_version(version) {
            return Err(ApiError::bad_request(format!(
                "`version` `{version}` is not a version ([A-Za-z0-9._+-], at most 64)"
            )));
        }
        let expected: Sha256Digest = sha256
            .parse()
            .map_err(|e| ApiError::bad_request(format!("`sha256`: {e}")))?;
        let _op = self.begin(&rt, name, format!("deploy {version}"))?;
        // Read under the operation lock: a swap that just ended changed it.
        let idle = self.with_env(name, |e| e.idle()).unwrap_or(Color::Blue);
        *lock(&rt.op_name) = Some((
            format!("deploy {version} to {}", idle.as_str()),
            time::now(),
        ));
        let release = self
            .0
            .releases
            .receive(
                version,
                &expected,
                body,
                self.0.cfg.max_artifact,
                &self.0.cfg.unpack,
            )
            .await
            .map_err(release_error)?;
        self.start_release(name, &rt, idle, release).await
    }

    /// Starts `release` in slot `color` and waits until it is healthy.
    async fn start_release(
        &self,
        name: &str,
        rt: &EnvRt,
        color: Color,
        release: ReleaseRef,
    ) -> Result<DeployReply, ApiError> {
        // The slot may have been live until the last switch: what it still
        // answers finishes first.
        self.drain_and_stop(name, rt, color).await;
        let spec = self.with_env(name, |e| e.spec.clone()).ok_or_else(|| {
            ApiError::new(
                404,
                "UnknownEnvironment",
                format!("no environment `{name}`"),
            )
        })?;
        let port =
            process::free_port().map_err(|e| ApiError::internal("no free port on loopback", &e))?;
        let launch = self.launch(name, &spec, color, &release, port);
        let child = process::spawn(&launch).map_err(|e| {
            ApiError::new(
                500,
                "Internal",
                format!(
                    "cannot start `{}` in {}: {e}",
                    spec.command,
                    launch.dir.display()
                ),
            )
        })?;
        let pid = child.id().map_or(0, |p| p as i32);
        let ticks = process::start_ticks(pid);
        self.with_env(name, |e| {
            let s = e.slot_mut(color);
            s.role = Role::Starting;
            s.release = Some(release.clone());
            s.port = Some(port);
            s.pid = Some(pid);
            s.start_ticks = ticks;
            s.since = time::now();
            s.restarts = 0;
            s.warm_until = None;
            s.error = None;
        });
        self.save_api()?;
        let log = launch.log.clone();
        self.supervise(name, rt, color, launch, Supervised::Child(child), pid)
            .await;

        let deadline = Instant::now() + Duration::from_secs(spec.health_timeout_secs);
        let mut last = String::from("not probed yet");
        let healthy = loop {
            let died = self
                .with_env(name, |e| {
                    e.slot(color).restarts > 0 || e.slot(color).pid.is_none()
                })
                .unwrap_or(true);
            if died {
                last = self
                    .with_env(name, |e| e.slot(color).error.clone())
                    .flatten()
                    .unwrap_or_else(|| "the app exited".to_owned());
                break false;
            }
            match self.probe_once(port, &spec).await {
                Ok(()) => break true,
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if healthy {
            self.with_env(name, |e| {
                let s = e.slot_mut(color);
                s.role = Role::Idle;
                s.since = time::now();
            });
            self.save_api()?;
            return Ok(DeployReply {
                env: name.to_owned(),
                slot: color,
                url: slot_url(port),
                version: release.version,
                sha256: release.sha256,
            });
        }
        self.stop_slot(rt, color).await;
        let log_tail = process::tail(&log, 20);
        let message = format!(
            "{} in slot {} did not answer {} with {} within {}s; last: {last}{}",
            release.version,
            color.as_str(),
            spec.health_path,
            spec.expect_status,
            spec.health_timeout_secs,
            if log_tail.is_empty() {
                String::new()
            } else {
                format!("; log:\n{}", log_tail.join("\n"))
            }
        );
        self.with_env(name, |e| {
            let s = e.slot_mut(color);
            s.role = Role::Failed;
            s.port = None;
            s.pid = None;
            s.start_ticks = None;
            s.since = time::now();
            s.error = Some(format!("did not become healthy; last: {last}"));
        });
        self.save_api()?;
        Err(ApiError::new(422, "Unhealthy", message))
    }

    fn launch(
        &self,
        name: &str,
        spec: &EnvSpec,
        color: Color,
        release: &ReleaseRef,
        port: u16,
    ) -> Launch {
        let mut vars = spec.env.clone();
        vars.insert("PORT".into(), port.to_string());
        vars.insert("PIPELINE_ENV".into(), name.to_owned());
        vars.insert("PIPELINE_SLOT".into(), color.as_str().to_owned());
        vars.insert("PIPELINE_VERSION".into(), release.version.clone());
        Launch {
            command: spec.command.clone(),
            dir: self.0.releases.path(&release.version),
            vars,
            log: self.0.cfg.state_dir.join("logs").join(name).join(format!(
                "{}-{}.log",
                release.version,
                color.as_str()
            )),
        }
    }

    /// Stops whatever runs in slot `color` (waiting for it to exit).
    async fn stop_slot(&self, rt: &EnvRt, color: Color) {
        let running = rt.slots[color.index()].running.lock().await.take();
        if let Some(r) = running {
            let _ = r.stop.send(true);
            let _ = r.task.await;
        }
    }

    async fn supervise(
        &self,
        name: &str,
        rt: &EnvRt,
        color: Color,
        launch: Launch,
        first: Supervised,
        pid: i32,
    ) {
        let (tx, rx) = watch::channel(false);
        let pid_cell = Arc::new(AtomicI32::new(pid));
        let task = tokio::spawn(supervisor(
            self.clone(),
            name.to_owned(),
            color,
            launch,
            first,
            rx,
            pid_cell,
        ));
        *rt.slots[color.index()].running.lock().await = Some(Running { stop: tx, task });
    }

    /// Switches traffic to the idle slot.
    pub async fn swap(
        &self,
        name: &str,
        expect_version: Option<&str>,
    ) -> Result<SwitchReply, ApiError> {
        let rt = self.existing(name)?;
        let _op = self.begin(&rt, name, "swap".to_owned())?;
        let (live, idle, live_rel, idle_rel) = self
            .with_env(name, |e| {
                let idle = match e.live {
                    Some(l) => l.other(),
                    None if e.slot(Color::Blue).role == Role::Idle => Color::Blue,
                    None => Color::Green,
                };
                (
                    e.live,
                    idle,
                    e.live.and_then(|l| e.slot(l).release.clone()),
                    e.slot(idle).release.clone(),
                )
            })
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "UnknownEnvironment",
                    format!("no environment `{name}`"),
                )
            })?;
        if let Some(want) = expect_version {
            if live.is_some() && live_rel.as_ref().map(|r| r.version.as_str()) == Some(want) {
                return Ok(SwitchReply {
                    env: name.to_owned(),
                    live: live.unwrap_or(Color::Blue),
                    live_version: live_rel.map(|r| r.version),
                    idle_version: idle_rel.map(|r| r.version),
                    already: true,
                });
            }
            if idle_rel.as_ref().map(|r| r.version.as_str()) != Some(want) {
                return Err(ApiError::new(
                    409,
                    "VersionMismatch",
                    format!(
                        "slot {} holds {}, not {want}",
                        idle.as_str(),
                        idle_rel.map_or_else(|| "nothing".to_owned(), |r| r.version)
                    ),
                ));
            }
        }
        self.switch_to(name, &rt, idle).await
    }

    async fn switch_to(
        &self,
        name: &str,
        rt: &EnvRt,
        target: Color,
    ) -> Result<SwitchReply, ApiError> {
        let (spec, rec) = self
            .with_env(name, |e| (e.spec.clone(), e.slot(target).clone()))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "UnknownEnvironment",
                    format!("no environment `{name}`"),
                )
            })?;
        let runnable = matches!(rec.role, Role::Idle | Role::Warm);
        let running = rec
            .pid
            .is_some_and(|p| process::is_running(p, rec.start_ticks));
        let port = match (runnable, running, rec.port) {
            (true, true, Some(port)) => port,
            _ => {
                return Err(ApiError::new(
                    409,
                    "NothingToSwitch",
                    format!(
                        "slot {} is {:?} with nothing healthy running; deploy to it first",
                        target.as_str(),
                        rec.role
                    )
                    .to_lowercase(),
                ));
            }
        };
        if let Err(e) = self.probe_once(port, &spec).await {
            return Err(ApiError::new(
                409,
                "NothingToSwitch",
                format!("slot {} is not healthy: {e}", target.as_str()),
            ));
        }
        // The switch itself: one write of the route.
        rt.route.set(Some(Upstream {
            port,
            inflight: Arc::clone(&rt.slots[target.index()].inflight),
            metrics: Arc::clone(&rt.slots[target.index()].metrics),
        }));
        let now = time::now();
        let warm_until = now + spec.keep_warm_secs;
        let old = self
            .with_env(name, |e| {
                let old = e.live;
                if let Some(old) = old {
                    e.previous = e.slot(old).release.clone();
                    let s = e.slot_mut(old);
                    s.role = Role::Warm;
                    s.since = now;
                    s.warm_until = Some(warm_until);
                }
                e.live = Some(target);
                let s = e.slot_mut(target);
                s.role = Role::Live;
                s.since = now;
                s.warm_until = None;
                old
            })
            .flatten();
        for slot in &rt.slots {
            slot.generation.fetch_add(1, Ordering::AcqRel);
        }
        self.save_api()?;
        if let Some(old) = old {
            self.expire_warm(name, old, Duration::from_secs(spec.keep_warm_secs));
        }
        let (live_version, idle_version) = self
            .with_env(name, |e| {
                (
                    e.slot(target).release.as_ref().map(|r| r.version.clone()),
                    e.slot(target.other())
                        .release
                        .as_ref()
                        .map(|r| r.version.clone()),
                )
            })
            .unwrap_or_default();
        Ok(SwitchReply {
            env: name.to_owned(),
            live: target,
            live_version,
            idle_version,
            already: false,
        })
    }

    /// After `after`, drains and stops a warm slot, unless a switch happened
    /// in the meantime.
    fn expire_warm(&self, name: &str, color: Color, after: Duration) {
        let agent = self.clone();
        let name = name.to_owned();
        let rt = self.runtime(&name);
        let generation = rt.slots[color.index()].generation.load(Ordering::Acquire);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _op = rt.op.lock().await;
            if rt.slots[color.index()].generation.load(Ordering::Acquire) != generation {
                return;
            }
            if agent.with_env(&name, |e| e.slot(color).role) != Some(Role::Warm) {
                return;
            }
            *lock(&rt.op_name) = Some((format!("stop warm slot {}", color.as_str()), time::now()));
            agent.drain_and_stop(&name, &rt, color).await;
            agent.with_env(&name, |e| {
                let s = e.slot_mut(color);
                s.role = Role::Stopped;
                s.port = None;
                s.pid = None;
                s.start_ticks = None;
                s.warm_until = None;
                s.since = time::now();
            });
            *lock(&rt.op_name) = None;
            if let Err(e) = agent.save() {
                tracing::error!("cannot save the state: {e}");
            }
        });
    }

    /// Waits, at most the environment's drain timeout, until slot `color`
    /// answers no request any more (the route no longer leads there: a
    /// switch has moved it), then stops it. Requests still in flight then
    /// are cut: logged, and counted in the slot's `cut_requests`.
    async fn drain_and_stop(&self, name: &str, rt: &EnvRt, color: Color) {
        let secs = self
            .with_env(name, |e| e.spec.drain_timeout_secs)
            .unwrap_or(DEFAULT_DRAIN_TIMEOUT_SECS);
        let inflight = &rt.slots[color.index()].inflight;
        let deadline = Instant::now() + Duration::from_secs(secs);
        let waiting = inflight.load(Ordering::Acquire);
        if waiting > 0 {
            tracing::info!(
                env = name,
                slot = color.as_str(),
                "waiting for {waiting} requests in flight before stopping the slot \
                 (at most {secs}s)"
            );
        }
        while inflight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = inflight.load(Ordering::Acquire);
        if left > 0 && self.running(rt, color).await {
            tracing::warn!(
                env = name,
                slot = color.as_str(),
                "{left} requests still in flight after the drain timeout of {secs}s; \
                 stopping the slot cuts them"
            );
            self.with_env(name, |e| e.slot_mut(color).cut_requests += left as u64);
        }
        self.stop_slot(rt, color).await;
    }

    async fn running(&self, rt: &EnvRt, color: Color) -> bool {
        rt.slots[color.index()].running.lock().await.is_some()
    }

    /// Brings back the previous release (or `to_version`).
    pub async fn rollback(
        &self,
        name: &str,
        to_version: Option<&str>,
    ) -> Result<SwitchReply, ApiError> {
        let rt = self.existing(name)?;
        let _op = self.begin(&rt, name, "rollback".to_owned())?;
        let (idle, idle_rec, previous) = self
            .with_env(name, |e| {
                (e.idle(), e.slot(e.idle()).clone(), e.previous.clone())
            })
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "UnknownEnvironment",
                    format!("no environment `{name}`"),
                )
            })?;
        let target = match (to_version, previous) {
            (Some(v), _) => self.0.releases.get(v).ok_or_else(|| {
                ApiError::new(
                    404,
                    "UnknownRelease",
                    format!("release {v} is not on this host"),
                )
            })?,
            (None, Some(p)) => p,
            (None, None) => {
                return Err(ApiError::new(
                    409,
                    "NothingToRollBack",
                    format!("{name} has no previous release"),
                ));
            }
        };
        let warm = matches!(idle_rec.role, Role::Warm | Role::Idle)
            && idle_rec.release.as_ref() == Some(&target)
            && idle_rec
                .pid
                .is_some_and(|p| process::is_running(p, idle_rec.start_ticks));
        if !warm {
            let release = self.0.releases.get(&target.version).ok_or_else(|| {
                ApiError::new(
                    404,
                    "UnknownRelease",
                    format!("release {} is no longer on this host", target.version),
                )
            })?;
            self.start_release(name, &rt, idle, release).await?;
        }
        self.switch_to(name, &rt, idle).await
    }

    /// Brings an environment back after the agent started: adopts the apps
    /// that still run, starts again those that should run, fails a deploy
    /// the restart interrupted.
    async fn recover(&self, name: &str, rt: &EnvRt) {
        let Some(rec) = lock(&self.0.state).envs.get(name).cloned() else {
            return;
        };
        let mut live_started = false;
        for color in Color::BOTH {
            let s = rec.slot(color).clone();
            let alive = s.pid.is_some_and(|p| process::is_running(p, s.start_ticks));
            let expired = s.role == Role::Warm && s.warm_until.is_some_and(|t| t <= time::now());
            match s.role {
                Role::Starting | Role::Warm if s.role == Role::Starting || expired => {
                    if let (true, Some(pid)) = (alive, s.pid) {
                        process::stop(pid, s.start_ticks, None, self.0.cfg.stop_grace).await;
                    }
                    self.with_env(name, |e| {
                        let slot = e.slot_mut(color);
                        if slot.role == Role::Starting {
                            slot.role = Role::Failed;
                            slot.error = Some("the agent stopped during the deploy".to_owned());
                        } else {
                            slot.role = Role::Stopped;
                            slot.warm_until = None;
                        }
                        slot.pid = None;
                        slot.port = None;
                        slot.start_ticks = None;
                        slot.since = time::now();
                    });
                }
                Role::Live | Role::Idle | Role::Warm => {
                    let Some(release) = s.release.clone() else {
                        continue;
                    };
                    let adopted = match (alive, s.port, s.pid) {
                        (true, Some(port), Some(pid))
                            if self.probe_once(port, &rec.spec).await.is_ok() =>
                        {
                            Some((port, pid))
                        }
                        _ => None,
                    };
                    let port = match adopted {
                        Some((port, pid)) => {
                            tracing::info!(
                                env = name,
                                slot = color.as_str(),
                                pid,
                                "adopting the running app"
                            );
                            let launch = self.launch(name, &rec.spec, color, &release, port);
                            self.supervise(
                                name,
                                rt,
                                color,
                                launch,
                                Supervised::Adopted(pid, s.start_ticks),
                                pid,
                            )
                            .await;
                            port
                        }
                        None => {
                            if let (true, Some(pid)) = (alive, s.pid) {
                                process::stop(pid, s.start_ticks, None, self.0.cfg.stop_grace)
                                    .await;
                            }
                            let port = match s.port {
                                Some(p)
                                    if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() =>
                                {
                                    p
                                }
                                _ => match process::free_port() {
                                    Ok(p) => p,
                                    Err(e) => {
                                        tracing::error!("no free port: {e}");
                                        continue;
                                    }
                                },
                            };
                            tracing::info!(
                                env = name,
                                slot = color.as_str(),
                                version = release.version,
                                "starting the app again"
                            );
                            let launch = self.launch(name, &rec.spec, color, &release, port);
                            match process::spawn(&launch) {
                                Ok(child) => {
                                    let pid = child.id().map_or(0, |p| p as i32);
                                    let ticks = process::start_ticks(pid);
                                    self.with_env(name, |e| {
                                        let slot = e.slot_mut(color);
                                        slot.pid = Some(pid);
                                        slot.start_ticks = ticks;
                                        slot.port = Some(port);
                                    });
                                    self.supervise(
                                        name,
                                        rt,
                                        color,
                                        launch,
                                        Supervised::Child(child),
                                        pid,
                                    )
                                    .await;
                                }
                                Err(e) => {
                                    tracing::error!("cannot start {}: {e}", release.version);
                                    self.with_env(name, |e2| {
                                        e2.slot_mut(color).error =
                                            Some(format!("cannot start: {e}"));
                                    });
                                    continue;
                                }
                            }
                            port
                        }
                    };
                    if rec.live == Some(color) {
                        rt.route.set(Some(Upstream {
                            port,
                            inflight: Arc::clone(&rt.slots[color.index()].inflight),
                            metrics: Arc::clone(&rt.slots[color.index()].metrics),
                        }));
                        live_started = true;
                    }
                    if s.role == Role::Warm
                        && let Some(until) = s.warm_until
                    {
                        self.expire_warm(
                            name,
                            color,
                            Duration::from_secs(until.saturating_sub(time::now())),
                        );
                    }
                }
                _ => {}
            }
        }
        if let (Some(live), false) = (rec.live, live_started) {
            let version = rec
                .slot(live)
                .release
                .as_ref()
                .map_or("its release", |r| r.version.as_str());
            rt.route.set_down(&format!(
                "no live slot: {version} in the live slot {} could not be started again \
                 (see the agent's status and log)",
                live.as_str()
            ));
        }
    }

    /// Stops every app the agent runs (their roles stay recorded, so the
    /// next start brings them back).
    pub async fn stop_all(&self) {
        let envs: Vec<Arc<EnvRt>> = lock(&self.0.envs).values().cloned().collect();
        for rt in envs {
            for color in Color::BOTH {
                self.stop_slot(&rt, color).await;
            }
        }
    }

    /// The state directory.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.0.cfg.state_dir
    }
}

fn release_error(e: ReleaseError) -> ApiError {
    let message = chain(&e);
    match e {
        ReleaseError::DigestMismatch { .. } => ApiError::new(400, "DigestMismatch", message),
        ReleaseError::Corrupt(_) => ApiError::new(400, "CorruptArtifact", message),
        ReleaseError::Conflict { .. } => ApiError::new(409, "ReleaseConflict", message),
        ReleaseError::TooLarge { .. } => ApiError::new(413, "TooLarge", message),
        ReleaseError::Upload(_) | ReleaseError::InvalidVersion(_) => ApiError::bad_request(message),
        ReleaseError::Unknown(_) => ApiError::new(404, "UnknownRelease", message),
        _ => ApiError::new(500, "Internal", message),
    }
}

enum Supervised {
    Child(tokio::process::Child),
    Adopted(i32, Option<u64>),
}

/// Watches one app: restarts it with backoff when it dies (recording the
/// exit and the restart), stops it when told to.
async fn supervisor(
    agent: Agent,
    name: String,
    color: Color,
    launch: Launch,
    first: Supervised,
    mut stop: watch::Receiver<bool>,
    pid_cell: Arc<AtomicI32>,
) {
    let grace = agent.0.cfg.stop_grace;
    let mut current = first;
    let mut consecutive = 0u32;
    loop {
        let started = Instant::now();
        let pid = pid_cell.load(Ordering::Acquire);
        let exit = match &mut current {
            Supervised::Child(child) => loop {
                tokio::select! {
                    status = child.wait() => break match status {
                        Ok(s) => s.to_string(),
                        Err(e) => format!("cannot wait for it: {e}"),
                    },
                    () = tokio::time::sleep(Duration::from_secs(5)) => {
                        let _ = process::rotate(&launch.log, process::LOG_LIMIT);
                    }
                    _ = stop.changed() => {
                        process::stop(pid, None, Some(child), grace).await;
                        return;
                    }
                }
            },
            Supervised::Adopted(pid, ticks) => {
                let (pid, ticks) = (*pid, *ticks);
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(250)) => {
                            if !process::is_running(pid, ticks) {
                                break "exited".to_owned();
                            }
                            let _ = process::rotate(&launch.log, process::LOG_LIMIT);
                        }
                        _ = stop.changed() => {
                            process::stop(pid, ticks, None, grace).await;
                            return;
                        }
                    }
                }
            }
        };
        if *stop.borrow() {
            return;
        }
        let _ = process::rotate(&launch.log, process::LOG_LIMIT);
        if started.elapsed() > Duration::from_secs(60) {
            consecutive = 0;
        }
        consecutive += 1;
        tracing::warn!(
            env = name,
            slot = color.as_str(),
            "the app {exit}; restarting"
        );
        agent.with_env(&name, |e| {
            let s = e.slot_mut(color);
            s.restarts += 1;
            s.error = Some(format!("the app {exit}"));
        });
        if let Err(e) = agent.save() {
            tracing::error!("cannot save the state: {e}");
        }
        let delay =
            Duration::from_millis(250u64 << consecutive.min(7)).min(Duration::from_secs(30));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
        match process::spawn(&launch) {
            Ok(child) => {
                let pid = child.id().map_or(0, |p| p as i32);
                pid_cell.store(pid, Ordering::Release);
                let ticks = process::start_ticks(pid);
                agent.with_env(&name, |e| {
                    let s = e.slot_mut(color);
                    s.pid = Some(pid);
                    s.start_ticks = ticks;
                });
                if let Err(e) = agent.save() {
                    tracing::error!("cannot save the state: {e}");
                }
                current = Supervised::Child(child);
            }
            Err(e) => {
                tracing::error!(
                    env = name,
                    slot = color.as_str(),
                    "cannot start the app again: {e}"
                );
                agent.with_env(&name, |s| {
                    s.slot_mut(color).error = Some(format!("cannot start: {e}"))
                });
                // Try again after the next backoff.
                current = Supervised::Adopted(-1, None);
            }
        }
    }
}
