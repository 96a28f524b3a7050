//! A real `pipeline-agent serve` over a temporary state directory, and what
//! the tests need around it: release artifacts, calls to its API, its front,
//! and the app processes it starts. Dropping an [`Agent`] kills the agent
//! and every app it started, so no test leaves a process behind.

use std::fs::{self, OpenOptions};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use serde_json::{Value, json};

use crate::http;

pub(crate) const AGENT_BIN: &str = env!("CARGO_BIN_EXE_pipeline-agent");
pub(crate) const TESTAPP_BIN: &str = env!("CARGO_BIN_EXE_pipeline-testapp");
/// The longest any one wait of a test lasts.
pub(crate) const WAIT: Duration = Duration::from_secs(15);
/// The pause between two looks while polling.
pub(crate) const POLL: Duration = Duration::from_millis(25);
/// The environment most tests declare.
pub(crate) const ENV: &str = "qa";

/// Removes from `cmd` the variables of the test's own environment that
/// would change what the agent, the apps or the clients do.
pub(crate) fn scrub(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if ["PIPELINE_", "TESTAPP_", "GITHUB_"]
            .iter()
            .any(|p| key.starts_with(p))
            || matches!(key, "PORT" | "CI" | "RUST_LOG")
        {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1")
}

/// Runs `cmd` to its end, killing it (and failing) if it takes longer than
/// `limit`.
pub(crate) fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain the pipes in threads so a chatty child never blocks.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut buf).unwrap();
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut buf).unwrap();
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
            panic!("{cmd:?} still running after {limit:?}; killed. stderr:\n{stderr}");
        }
        std::thread::sleep(POLL);
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A loopback port nobody listens on (bound, then released).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// An artifact made with `pipeline_artifact::package`.
#[derive(Debug, Clone)]
pub(crate) struct Release {
    pub(crate) version: String,
    pub(crate) path: PathBuf,
    pub(crate) sha256: String,
}

impl Release {
    pub(crate) fn bytes(&self) -> Vec<u8> {
        fs::read(&self.path).unwrap()
    }
}

/// An answer of the admin API.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Reply {
    /// `error.code`, or "" when the answer is not an error.
    pub(crate) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// `error.message`, or "".
    pub(crate) fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    /// Fails unless the status is `status`, showing the answer.
    #[track_caller]
    pub(crate) fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        self
    }

    /// Fails unless the answer is the error `status` `code`.
    #[track_caller]
    pub(crate) fn expect_error(self, status: u16, code: &str) -> Self {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {}",
            self.text
        );
        assert!(!self.message().is_empty(), "no message: {}", self.text);
        self
    }
}

/// The environment's declaration: the test app, run with `exec` so the
/// process the agent records is the app itself, plus `extra` fields.
pub(crate) fn spec(front: SocketAddr, extra: &Value) -> Value {
    let mut spec = json!({
        "front": front.to_string(),
        "command": format!("exec '{TESTAPP_BIN}'"),
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    spec
}

static SOURCES: AtomicU64 = AtomicU64::new(0);

/// A `pipeline-agent serve` on a state directory of its own.
#[derive(Debug)]
pub(crate) struct Agent {
    root: tempfile::TempDir,
    /// The state directory (`ROOT/state`, created by the agent).
    pub(crate) dir: PathBuf,
    child: Option<Child>,
    /// The admin API.
    pub(crate) addr: SocketAddr,
    /// The bearer token.
    pub(crate) token: String,
    /// More arguments for `serve`.
    pub(crate) args: Vec<String>,
    /// The open-file limit (soft and hard) the agent starts with, if not
    /// the test's own.
    pub(crate) open_files: Option<u64>,
}

impl Agent {
    /// Starts an agent on a new state directory and waits until it is ready.
    pub(crate) fn start() -> Self {
        Self::start_with(&[], None)
    }

    /// Starts an agent with more `serve` arguments and, if given, an
    /// open-file limit of its own (set by `ulimit -n` in a shell that then
    /// runs the agent, so the agent sees it from its first instruction).
    pub(crate) fn start_with(args: &[&str], open_files: Option<u64>) -> Self {
        let mut agent = Self::unstarted();
        agent.args = args.iter().map(|a| (*a).to_owned()).collect();
        agent.open_files = open_files;
        agent.launch();
        agent
    }

    /// An agent over a new state directory, not started.
    pub(crate) fn unstarted() -> Self {
        let root = tempfile::tempdir().unwrap();
        // Canonical, to compare with the apps' working directories.
        let dir = root.path().canonicalize().unwrap().join("state");
        Self {
            root,
            dir,
            child: None,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            token: String::new(),
            args: Vec::new(),
            open_files: None,
        }
    }

    /// The temporary directory the state directory is in.
    pub(crate) fn root(&self) -> &Path {
        self.root.path()
    }

    /// The agent's own pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("the agent runs").id()
    }

    fn log_path(&self) -> PathBuf {
        self.root.path().join("agent.log")
    }

    /// What the agent wrote to stdout and stderr, all its runs.
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The `pipeline-agent serve` command line over the state directory.
    pub(crate) fn serve_command(&self) -> Command {
        let mut cmd = match self.open_files {
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.args([
                    "-c",
                    &format!("ulimit -n {n} && exec \"$0\" \"$@\""),
                    AGENT_BIN,
                ]);
                sh
            }
            None => Command::new(AGENT_BIN),
        };
        cmd.args(["serve", "--state-dir"])
            .arg(&self.dir)
            .args(["--listen", "127.0.0.1:0", "--stop-grace", "2"])
            .args(&self.args);
        scrub(&mut cmd);
        cmd
    }

    /// Starts `pipeline-agent serve` over the state directory and waits
    /// until it has written `agent.json` with its pid (which it does once
    /// it has recovered the environments and its API listens).
    pub(crate) fn launch(&mut self) {
        assert!(self.child.is_none(), "the agent runs already");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut child = self
            .serve_command()
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let pid = u64::from(child.id());
        let deadline = Instant::now() + WAIT;
        let info = loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "pipeline-agent exited with {status} before it was ready:\n{}",
                    self.log()
                );
            }
            let info = fs::read_to_string(self.dir.join("agent.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok());
            if let Some(info) = info.filter(|i| i["pid"].as_u64() == Some(pid)) {
                break info;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("pipeline-agent not ready after {WAIT:?}:\n{}", self.log());
            }
            std::thread::sleep(POLL);
        };
        self.addr = info["address"].as_str().unwrap().parse().unwrap();
        self.token = fs::read_to_string(self.dir.join("token"))
            .unwrap()
            .trim()
            .to_owned();
        self.child = Some(child);
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the agent runs");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("pipeline-agent still running after {WAIT:?}");
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops the agent with SIGTERM (the apps keep running) and waits.
    pub(crate) fn stop(&mut self) -> ExitStatus {
        let pid = Pid::from_raw(self.pid() as i32).unwrap();
        rustix::process::kill_process(pid, Signal::TERM).unwrap();
        self.wait_exit()
    }

    /// Kills the agent with SIGKILL (the apps keep running) and waits.
    pub(crate) fn kill9(&mut self) {
        self.child.as_mut().expect("the agent runs").kill().unwrap();
        self.wait_exit();
    }

    /// SIGTERM, then a new agent on the same state directory.
    pub(crate) fn restart(&mut self) {
        let status = self.stop();
        assert!(status.success(), "the agent exited with {status}");
        self.launch();
    }

    // --- the admin API ---

    /// `method path` with `token` (none: no `Authorization` header).
    pub(crate) fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth.as_str()));
        }
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        let (status, _, body) = http::request(self.addr, method, path, &headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()));
        let text = String::from_utf8_lossy(&body).into_owned();
        let body = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{method} {path} answered {status}, not JSON ({e}): {text}")
        });
        Reply { status, body, text }
    }

    /// `method path` with the agent's token.
    pub(crate) fn call(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        let ct = (!body.is_empty()).then_some("application/json");
        self.call_as(Some(&self.token), method, path, ct, body)
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        self.call("GET", path, b"")
    }

    /// `PUT /v1/envs/{env}`.
    pub(crate) fn put_env(&self, env: &str, spec: &Value) -> Reply {
        self.call(
            "PUT",
            &format!("/v1/envs/{env}"),
            spec.to_string().as_bytes(),
        )
    }

    /// Declares `env` with the test app and `extra` on a free front port
    /// (another one if that port was taken meanwhile); returns the front.
    pub(crate) fn declare(&self, env: &str, extra: &Value) -> SocketAddr {
        for _ in 0..5 {
            let front = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
            let reply = self.put_env(env, &spec(front, extra));
            if reply.status == 400 && reply.message().contains("cannot listen") {
                continue;
            }
            let reply = reply.expect(200);
            assert_eq!(reply.body["front"], front.to_string());
            return front;
        }
        panic!("no free front port after 5 tries");
    }

    /// `POST /v1/envs/{env}/deploy` with the artifact.
    pub(crate) fn deploy(&self, env: &str, release: &Release) -> Reply {
        self.deploy_bytes(env, &release.version, &release.sha256, &release.bytes())
    }

    pub(crate) fn deploy_bytes(&self, env: &str, version: &str, sha: &str, body: &[u8]) -> Reply {
        self.call_as(
            Some(&self.token),
            "POST",
            &format!("/v1/envs/{env}/deploy?version={version}&sha256={sha}"),
            Some("application/zip"),
            body,
        )
    }

    /// `POST /v1/envs/{env}/swap` without a body.
    pub(crate) fn swap(&self, env: &str) -> Reply {
        self.call("POST", &format!("/v1/envs/{env}/swap"), b"")
    }

    /// `POST /v1/envs/{env}/rollback` without a body.
    pub(crate) fn rollback(&self, env: &str) -> Reply {
        self.call("POST", &format!("/v1/envs/{env}/rollback"), b"")
    }

    /// `GET /v1/envs/{env}`, which must answer 200.
    pub(crate) fn status(&self, env: &str) -> Value {
        self.get(&format!("/v1/envs/{env}")).expect(200).body
    }

    /// Polls the status of `env` until `ready` holds (at most [`WAIT`]).
    #[track_caller]
    pub(crate) fn wait_status(
        &self,
        env: &str,
        what: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let status = self.status(env);
            if ready(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "not {what} after {WAIT:?}: {status:#}\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Deploys and switches to `release`; returns the slot it went to.
    pub(crate) fn deploy_and_swap(&self, env: &str, release: &Release) -> String {
        let deployed = self.deploy(env, release).expect(200);
        let swapped = self.swap(env).expect(200);
        assert_eq!(swapped.body["live_version"], release.version.as_str());
        deployed.body["slot"].as_str().unwrap().to_owned()
    }

    /// The state file as JSON.
    pub(crate) fn state_file(&self) -> Value {
        serde_json::from_str(&fs::read_to_string(self.dir.join("state.json")).unwrap()).unwrap()
    }

    /// The pid the state file records for `slot` of `env`.
    pub(crate) fn recorded_pid(&self, env: &str, slot: &str) -> Option<i32> {
        let index = if slot == "blue" { 0 } else { 1 };
        self.state_file()["envs"][env]["slots"][index]["pid"]
            .as_i64()
            .map(|p| p as i32)
    }

    // --- releases ---

    /// An artifact of `version`: a directory with a `VERSION` file and, if
    /// given, `testapp.env` (so the release carries its own behaviour),
    /// packaged with `pipeline_artifact::package`.
    pub(crate) fn release(&self, version: &str, testapp_env: Option<&str>) -> Release {
        let n = SOURCES.fetch_add(1, Ordering::Relaxed);
        let src = self.root.path().join(format!("src/{version}-{n}"));
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("VERSION"), format!("{version}\n")).unwrap();
        if let Some(text) = testapp_env {
            fs::write(src.join("testapp.env"), text).unwrap();
        }
        let out_dir = self.root.path().join("artifacts");
        fs::create_dir_all(&out_dir).unwrap();
        let path = out_dir.join(format!("{version}-{n}.zip"));
        let artifact =
            pipeline_artifact::package(&src, &path, &pipeline_artifact::PackageOptions::new())
                .unwrap();
        Release {
            version: version.to_owned(),
            path,
            sha256: artifact.sha256().to_string(),
        }
    }

    // --- the apps ---

    /// Every live process the agent started: the pids in the state file
    /// (when their start time matches, so a reused pid is never touched)
    /// and every process whose working directory is in the state directory.
    pub(crate) fn app_processes(&self) -> Vec<i32> {
        let mut pids = processes_in(&self.dir);
        let state = fs::read_to_string(self.dir.join("state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .unwrap_or_default();
        for env in state["envs"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            for slot in env["slots"].as_array().into_iter().flatten() {
                if let Some(pid) = slot["pid"].as_i64().map(|p| p as i32)
                    && proc_stat(pid).is_some_and(|s| {
                        s.state != 'Z' && Some(s.start_ticks) == slot["start_ticks"].as_u64()
                    })
                    && !pids.contains(&pid)
                {
                    pids.push(pid);
                }
            }
        }
        pids
    }

    /// Kills every app the agent started (their whole process groups) and
    /// waits until they are gone.
    pub(crate) fn kill_apps(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let pids = self.app_processes();
            if pids.is_empty() {
                return;
            }
            for &pid in &pids {
                kill(pid);
            }
            if Instant::now() >= deadline {
                panic!("apps {pids:?} still alive after SIGKILL");
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- pipeline-agent's output ---\n{}", self.log());
            for log in app_logs(&self.dir.join("logs")) {
                let text = fs::read_to_string(&log).unwrap_or_default();
                eprintln!("--- {} ---\n{text}", log.display());
            }
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let pids = self.app_processes();
            if pids.is_empty() || Instant::now() >= deadline {
                if !pids.is_empty() {
                    eprintln!("could not kill the apps {pids:?}");
                }
                break;
            }
            for &pid in &pids {
                kill(pid);
            }
            std::thread::sleep(POLL);
        }
    }
}

fn app_logs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(app_logs(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// SIGKILL to the process group `pid` leads and to `pid` itself.
pub(crate) fn kill(pid: i32) {
    if let Some(p) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process_group(p, Signal::KILL);
        let _ = rustix::process::kill_process(p, Signal::KILL);
    }
}

/// What `/proc/PID/stat` says of a process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcStat {
    pub(crate) state: char,
    pub(crate) start_ticks: u64,
}

pub(crate) fn proc_stat(pid: i32) -> Option<ProcStat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// Whether `pid` is a process that has not exited (a zombie has).
pub(crate) fn alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|s| s.state != 'Z')
}

/// Waits until `pid` has exited.
#[track_caller]
pub(crate) fn wait_gone(pid: i32) {
    let deadline = Instant::now() + WAIT;
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "process {pid} still alive after {WAIT:?}"
        );
        std::thread::sleep(POLL);
    }
}

/// The live processes whose working directory is under `dir`.
pub(crate) fn processes_in(dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cwd) = fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if cwd.starts_with(dir) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

// --- the front ---

/// `GET path` on the front: the status and the `X-Pipeline-Version`.
pub(crate) fn front_get(front: SocketAddr, path: &str) -> (u16, Option<String>) {
    let (status, headers, _) =
        http::get(front, path).unwrap_or_else(|e| panic!("GET {path} on the front {front}: {e}"));
    (status, headers.get("x-pipeline-version").map(str::to_owned))
}

/// Fails unless the front answers `GET /` with 200 from `version`.
#[track_caller]
pub(crate) fn assert_front(front: SocketAddr, version: &str) {
    assert_eq!(front_get(front, "/"), (200, Some(version.to_owned())));
}

/// Polls the front until it answers 200 from `version`.
#[track_caller]
pub(crate) fn wait_front(front: SocketAddr, version: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = http::get(front, "/").map(|(status, headers, _)| {
            (status, headers.get("x-pipeline-version").map(str::to_owned))
        });
        if let Ok((200, Some(v))) = &seen
            && v == version
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the front {front} does not serve {version} after {WAIT:?}; last: {seen:?}"
        );
        std::thread::sleep(POLL);
    }
}

/// The slot `color` of an environment's status.
pub(crate) fn slot<'a>(status: &'a Value, color: &str) -> &'a Value {
    &status["slots"][color]
}
