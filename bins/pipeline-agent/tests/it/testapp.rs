//! `pipeline-testapp`, the real binary, over real loopback sockets.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::http;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline-testapp");
const WAIT_LIMIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(10);

/// A loopback port nobody listens on (bound, then released).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits for `child` to exit, at most [`WAIT_LIMIT`].
pub(crate) fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "process {} still running after {WAIT_LIMIT:?}",
            child.id()
        );
        std::thread::sleep(POLL);
    }
}

/// A running `pipeline-testapp`, killed on drop.
struct TestApp {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts the app in a new directory holding `env_file` as `testapp.env`
    /// (if given), with `vars` in its environment, and waits until it
    /// accepts connections.
    fn start(vars: &[(&str, &str)], env_file: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = env_file {
            std::fs::write(dir.path().join("testapp.env"), text).unwrap();
        }
        let port = free_port();
        let mut cmd = command(dir.path());
        cmd.env("PORT", port.to_string()).envs(vars.iter().copied());
        let child = cmd.spawn().unwrap();
        let mut app = Self {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            _dir: dir,
        };
        app.wait_listening();
        app
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "pipeline-testapp exited with {status} before listening: {}",
                    self.stderr()
                );
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pipeline-testapp not listening on {} after {WAIT_LIMIT:?}",
                self.addr
            );
            std::thread::sleep(POLL);
        }
    }

    fn get(&self, path: &str) -> (u16, http::Headers, String) {
        let (status, headers, body) = http::get(self.addr, path).unwrap();
        (status, headers, String::from_utf8(body).unwrap())
    }

    fn wait_exit(&mut self) -> ExitStatus {
        wait_exit(&mut self.child)
    }

    fn stdout(&mut self) -> String {
        let mut out = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            pipe.read_to_string(&mut out).unwrap();
        }
        out
    }

    fn stderr(&mut self) -> String {
        let mut out = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut out).unwrap();
        }
        out
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary, run in `dir`, without any of the variables it reads from
/// the test's own environment.
fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "PORT",
        "PIPELINE_VERSION",
        "PIPELINE_SLOT",
        "PIPELINE_ENV",
        "TESTAPP_UNHEALTHY",
        "TESTAPP_START_DELAY_MS",
        "TESTAPP_CRASH_AFTER_MS",
        "TESTAPP_VERSION_OVERRIDE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

const IDENTITY: [(&str, &str); 3] = [
    ("PIPELINE_VERSION", "1.4.2"),
    ("PIPELINE_SLOT", "green"),
    ("PIPELINE_ENV", "qa"),
];

#[test]
fn health_answers_json_with_the_version_header() {
    let app = TestApp::start(&IDENTITY, None);
    let (status, headers, body) = app.get("/health");
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers.get("content-type"), Some("application/json"));
    assert_eq!(headers.get("x-pipeline-version"), Some("1.4.2"));
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"status": "ok", "version": "1.4.2", "slot": "green", "env": "qa"})
    );
}

#[test]
fn version_root_echo_and_unknown_routes() {
    let app = TestApp::start(&IDENTITY, None);

    let (status, headers, body) = app.get("/version");
    assert_eq!((status, body.as_str()), (200, "1.4.2"));
    assert_eq!(headers.get("x-pipeline-version"), Some("1.4.2"));

    let (status, _, body) = app.get("/");
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"version": "1.4.2", "slot": "green", "env": "qa", "pid": app.child.id()})
    );

    let (status, _, body) = app.get("/slow?ms=1");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        doc
    );
    assert_eq!(app.get("/slow?ms=soon").0, 400);

    let payload = b"any bytes \x00\xff at all";
    let (status, headers, body) = http::post(
        app.addr,
        "/echo",
        &[("Content-Type", "application/x-test")],
        payload,
    )
    .unwrap();
    assert_eq!((status, &body[..]), (200, &payload[..]));
    assert_eq!(headers.get("content-type"), Some("application/x-test"));

    assert_eq!(app.get("/nope").0, 404);
    assert_eq!(http::post(app.addr, "/health", &[], b"").unwrap().0, 404);
}

#[test]
fn identity_defaults_to_unknown() {
    let app = TestApp::start(&[], None);
    let (status, headers, body) = app.get("/health");
    assert_eq!(status, 200);
    assert_eq!(headers.get("x-pipeline-version"), Some("unknown"));
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"status": "ok", "version": "unknown", "slot": "unknown", "env": "unknown"})
    );
}

#[test]
fn testapp_env_file_makes_it_unhealthy_and_stale() {
    let file = "# carried by the release\nTESTAPP_UNHEALTHY=1\n\nTESTAPP_VERSION_OVERRIDE=0.9.0\n";
    let app = TestApp::start(&IDENTITY, Some(file));
    let (status, headers, body) = app.get("/health");
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers.get("x-pipeline-version"), Some("0.9.0"));
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["status"], "unhealthy");
    assert_eq!(doc["version"], "0.9.0");
    assert_eq!(app.get("/version").2, "0.9.0");
}

#[test]
fn the_environment_wins_over_testapp_env() {
    let vars = [("PIPELINE_VERSION", "2.0.0"), ("TESTAPP_UNHEALTHY", "0")];
    let app = TestApp::start(&vars, Some("TESTAPP_UNHEALTHY=1\n"));
    let (status, headers, _) = app.get("/health");
    assert_eq!(status, 200);
    assert_eq!(headers.get("x-pipeline-version"), Some("2.0.0"));
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    let mut app = TestApp::start(&IDENTITY, None);
    let mut slow = http::send(app.addr, "GET", "/slow?ms=500", &[], b"").unwrap();
    // Connections are accepted in order: once a later one is answered, the
    // slow one is in the app's hands.
    assert_eq!(app.get("/health").0, 200);
    let signalled = Instant::now();
    app.signal("TERM");

    // It stops accepting connections while the slow request runs.
    let deadline = Instant::now() + WAIT_LIMIT;
    while TcpStream::connect_timeout(&app.addr, Duration::from_millis(100)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(POLL);
    }

    let (status, _, body) = http::read_response(&mut slow).unwrap();
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["version"], "1.4.2");
    let status = app.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", app.stderr());
    assert!(signalled.elapsed() < Duration::from_secs(10));

    let port = app.addr.port();
    let stdout = app.stdout();
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            format!("pipeline-testapp 1.4.2 slot green listening on 127.0.0.1:{port}"),
            "pipeline-testapp 1.4.2 slot green stopped on SIGTERM".to_owned(),
        ],
        "one line at start, one at stop, none per request"
    );
}

#[test]
fn sigterm_exit_mode_exits_at_once_and_cuts_the_request_in_flight() {
    let mut app = TestApp::start(&IDENTITY, Some("TESTAPP_SIGTERM=exit\n"));
    // Longer than any wait here: answered only if the app drained.
    let mut slow = http::send(app.addr, "GET", "/slow?ms=60000", &[], b"").unwrap();
    assert_eq!(app.get("/health").0, 200);
    app.signal("TERM");
    let status = app.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", app.stderr());
    let cut = http::read_response(&mut slow);
    assert!(cut.is_err(), "the request in flight was answered: {cut:?}");
    let stdout = app.stdout();
    assert!(
        stdout.contains("pipeline-testapp 1.4.2 slot green exits at once on SIGTERM"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("testapp.env"), "TESTAPP_SIGTERM=later\n").unwrap();
    let port = free_port().to_string();
    let (code, stderr) = run_to_exit(command(dir.path()).env("PORT", &port));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("TESTAPP_SIGTERM=\"later\""), "{stderr}");
}

#[test]
fn sigint_does_not_wait_for_idle_connections() {
    let mut app = TestApp::start(&IDENTITY, None);
    // A connection that never sends anything, and one kept alive after a
    // request: neither may hold the exit for the 10 s of the drain limit.
    let _silent = TcpStream::connect(app.addr).unwrap();
    let mut kept = TcpStream::connect(app.addr).unwrap();
    kept.write_all(b"GET /version HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0; 512];
    assert!(kept.read(&mut buf).unwrap() > 0);
    assert_eq!(app.get("/health").0, 200);
    let signalled = Instant::now();
    app.signal("INT");
    let status = app.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", app.stderr());
    assert!(signalled.elapsed() < Duration::from_secs(5));
    assert!(app.stdout().contains("stopped on SIGINT"));
}

#[test]
fn connections_are_kept_alive() {
    let app = TestApp::start(&IDENTITY, None);
    let mut stream = TcpStream::connect(app.addr).unwrap();
    stream.set_read_timeout(Some(http::IO_TIMEOUT)).unwrap();
    stream
        .write_all(
            b"GET /version HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut answers = String::new();
    stream.read_to_string(&mut answers).unwrap();
    assert_eq!(
        answers.matches("HTTP/1.1 200 OK\r\n").count(),
        2,
        "{answers}"
    );
    assert!(answers.contains("\"status\":\"ok\""), "{answers}");
}

#[test]
fn crash_route_answers_then_exits_3() {
    let mut app = TestApp::start(&IDENTITY, None);
    let (status, _, body) = app.get("/crash");
    assert_eq!((status, body.as_str()), (200, "bye"));
    assert_eq!(app.wait_exit().code(), Some(3));
}

#[test]
fn crash_after_ms_exits_3() {
    let mut app = TestApp::start(&[("TESTAPP_CRASH_AFTER_MS", "300")], None);
    assert_eq!(app.wait_exit().code(), Some(3));
}

#[test]
fn start_delay_postpones_listening() {
    let started = Instant::now();
    let app = TestApp::start(&[("TESTAPP_START_DELAY_MS", "300")], None);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(app.get("/health").0, 200);
}

fn run_to_exit(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn missing_or_invalid_port_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run_to_exit(&mut command(dir.path()));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("PORT is not set"), "{stderr}");

    let (code, stderr) = run_to_exit(command(dir.path()).env("PORT", "http"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("PORT=\"http\""), "{stderr}");
}

#[test]
fn malformed_testapp_env_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("testapp.env"),
        "TESTAPP_START_DELAY_MS=soon\n",
    )
    .unwrap();
    let port = free_port().to_string();
    let (code, stderr) = run_to_exit(command(dir.path()).env("PORT", &port));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("TESTAPP_START_DELAY_MS"), "{stderr}");
}
