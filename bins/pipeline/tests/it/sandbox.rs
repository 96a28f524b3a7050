//! A sandbox for `pipeline run`: a git repository with a bare remote, a real
//! `pipeline-agent` on its state directory, and what the tests need around
//! them (running the `pipeline` binary with a deadline, the fronts, the
//! remote's refs). Dropping a [`Sandbox`] stops the agent (which stops its
//! apps) and kills whatever still runs inside the sandbox.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// The `pipeline` binary under test.
pub(crate) const PIPELINE: &str = env!("CARGO_BIN_EXE_pipeline");
/// The step binaries `pipeline` runs, found beside it.
const STEPS: [&str; 5] = [
    "pipeline-git",
    "pipeline-report",
    "pipeline-deploy",
    "pipeline-promote",
    "pipeline-agent",
];
/// The pause between two looks while polling.
pub(crate) const POLL: Duration = Duration::from_millis(25);
/// The longest a `pipeline run` of these tests may take (they take seconds).
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(300);

/// A binary of the workspace, which must have been built.
pub(crate) fn bin(name: &str) -> PathBuf {
    let path = assert_cmd::cargo::cargo_bin(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

/// Fails unless every step binary sits beside `pipeline`, where it looks
/// for them (else it would take whatever `PATH` has).
pub(crate) fn assert_steps_built() {
    let dir = Path::new(PIPELINE).parent().unwrap();
    for name in STEPS {
        let path = dir.join(name);
        assert!(
            path.exists(),
            "{} is missing beside {PIPELINE}: build the workspace first (cargo build --workspace)",
            path.display()
        );
    }
}

/// Removes the variables of the test's own environment that would change
/// what the steps, the agent or the apps do, and sets a git identity.
pub(crate) fn scrub(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if ["PIPELINE_", "TESTAPP_", "GITHUB_", "GIT_", "APP_"]
            .iter()
            .any(|p| key.starts_with(p))
            || matches!(key, "PORT" | "CI" | "RUST_LOG" | "SLOT_URL")
        {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
}

/// Runs `cmd` to its end in a process group of its own, killing the group
/// (and failing) if it takes longer than `limit`.
pub(crate) fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    // Drain the pipes in threads so a chatty child never blocks.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        out.read_to_end(&mut buf).unwrap();
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        err.read_to_end(&mut buf).unwrap();
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            kill_group(child.id());
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

/// stdout then stderr, for assertion messages.
pub(crate) fn text(o: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = scrub(&mut Command::new("git"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A loopback port nobody listens on (bound, then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over a fresh connection: (status, body); `None` when nothing
/// answers.
pub(crate) fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split(' ').nth(1)?.parse().ok()?;
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((status, body))
}

// --- processes ---

/// What `/proc/PID/stat` says: (state, process group).
fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some((
        fields.first()?.chars().next()?,
        fields.get(2)?.parse().ok()?,
    ))
}

/// Whether `pid` has not exited (a zombie has).
fn alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z')
}

/// The live processes (never pid 1 or this one) whose working directory
/// is under `dir`.
pub(crate) fn processes_in(dir: &Path) -> Vec<(i32, PathBuf)> {
    let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid <= 1 || pid == me {
            continue;
        }
        let Ok(cwd) = fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if cwd.starts_with(dir) && alive(pid) {
            out.push((pid, cwd));
        }
    }
    out
}

fn signal(pid: i32, sig: Signal) {
    if pid > 1
        && let Some(p) = Pid::from_raw(pid)
    {
        let _ = rustix::process::kill_process(p, sig);
    }
}

/// SIGKILL to the process group `pid` leads (a child started with
/// `process_group(0)`).
fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid)
        && pid > 1
        && let Some(p) = Pid::from_raw(pid)
    {
        let _ = rustix::process::kill_process_group(p, Signal::KILL);
    }
}

/// Kills whatever still runs with its working directory under `dir`: the
/// whole group when its leader is in there too, else the process alone.
/// Never pid 1, never this process or its group.
pub(crate) fn kill_leftovers(dir: &Path) {
    let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    let my_group = proc_stat(me).map(|(_, g)| g);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_in(dir);
        if left.is_empty() || Instant::now() >= deadline {
            return;
        }
        for (pid, _) in &left {
            let group = proc_stat(*pid).map(|(_, g)| g);
            match group {
                Some(g)
                    if g > 1
                        && Some(g) != my_group
                        && left.iter().any(|(p, _)| *p == g)
                        && let Some(p) = Pid::from_raw(g) =>
                {
                    let _ = rustix::process::kill_process_group(p, Signal::KILL);
                }
                _ => signal(*pid, Signal::KILL),
            }
        }
        std::thread::sleep(POLL);
    }
}

// --- the sandbox ---

/// A repository at `master` with a release `v0.1.0`, `develop` one `feat:`
/// commit ahead, both pushed to a bare remote; `pipeline.toml` beside them
/// (ignored by git, so the tests can change it between runs).
#[derive(Debug)]
pub(crate) struct Sandbox {
    _root: tempfile::TempDir,
    /// The canonical path of `root`.
    pub(crate) dir: PathBuf,
    pub(crate) repo: PathBuf,
    pub(crate) remote: PathBuf,
    state: PathBuf,
    agent: Option<Child>,
    /// The fronts of `dev` and `prod`.
    pub(crate) fronts: [String; 2],
}

/// What the environments and the test step of `pipeline.toml` say.
#[derive(Debug, Clone)]
pub(crate) struct Job<'a> {
    /// The test command.
    pub(crate) test: &'a str,
    /// The `[test]` table's other lines (`reports = …`, `gate = …`).
    pub(crate) reports_and_gate: &'a str,
    /// prod's validation command.
    pub(crate) prod_validate: &'a str,
}

/// A JUnit report of two passing tests.
pub(crate) const JUNIT_PASSED: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="unit" tests="2" failures="0" errors="0" skipped="0" time="0.01"><testcase classname="tests.test_app" name="test_lists" time="0.001"/><testcase classname="tests.test_app" name="test_adds" time="0.001"/></testsuite></testsuites>"#;

/// A JUnit report of one passing and one failed test.
pub(crate) const JUNIT_FAILED: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="unit" tests="2" failures="1" errors="0" skipped="0" time="0.01"><testcase classname="tests.test_app" name="test_lists" time="0.001"/><testcase classname="tests.test_app" name="test_adds" time="0.001"><failure message="AssertionError: assert 1 == 2">tests/test_app.py:7: AssertionError</failure></testcase></testsuite></testsuites>"#;

/// A Cobertura report: one of four lines run (25 %).
pub(crate) const COBERTURA_LOW: &str = r#"<?xml version="1.0" ?><coverage line-rate="0.25" branch-rate="0" lines-covered="1" lines-valid="4" branches-covered="0" branches-valid="0" complexity="0" version="7.0" timestamp="1700000000000"><sources><source>src</source></sources><packages><package name="." line-rate="0.25" branch-rate="0" complexity="0"><classes><class name="app.py" filename="app.py" line-rate="0.25" branch-rate="0" complexity="0"><methods/><lines><line number="1" hits="1"/><line number="2" hits="0"/><line number="3" hits="0"/><line number="4" hits="0"/></lines></class></classes></package></packages></coverage>"#;

/// A test command writing `junit` to `reports/junit.xml` (and `cobertura`,
/// when given, to `reports/coverage.xml`), then exiting with `code`.
pub(crate) fn test_command(junit: &str, cobertura: Option<&str>, code: i32) -> String {
    let mut cmd = format!("mkdir -p reports && printf '%s\\n' '{junit}' > reports/junit.xml");
    if let Some(c) = cobertura {
        cmd.push_str(&format!(" && printf '%s\\n' '{c}' > reports/coverage.xml"));
    }
    cmd.push_str(&format!(" && exit {code}"));
    cmd
}

impl Sandbox {
    /// The repository and its remote; no agent yet.
    pub(crate) fn new() -> Self {
        assert_steps_built();
        let root = tempfile::tempdir().unwrap();
        // Canonical, to compare with the working directories of processes.
        let dir = root.path().canonicalize().unwrap();
        let remote = dir.join("remote.git");
        let repo = dir.join("repo");
        git(
            &dir,
            &["init", "-q", "--bare", "-b", "master", "remote.git"],
        );
        git(&dir, &["init", "-q", "-b", "master", "repo"]);
        fs::create_dir_all(repo.join("app")).unwrap();
        fs::write(repo.join("app/testapp.env"), "").unwrap();
        fs::write(repo.join("app/index.txt"), "inventory\n").unwrap();
        fs::write(
            repo.join(".gitignore"),
            ".pipeline/\nreports/\ndist/\npipeline.toml\n",
        )
        .unwrap();
        fs::write(repo.join("README.md"), "# the app\n").unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "chore: the app"]);
        git(&repo, &["tag", "v0.1.0"]);
        git(
            &repo,
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        git(&repo, &["checkout", "-q", "-b", "develop"]);
        git(
            &repo,
            &["push", "-q", "origin", "master", "develop", "v0.1.0"],
        );
        fs::write(repo.join("app/items.txt"), "items can be listed\n").unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "feat: list the items"]);
        git(&repo, &["push", "-q", "origin", "develop"]);
        let state = repo.join(".pipeline/agent");
        Self {
            _root: root,
            dir,
            repo,
            remote,
            state,
            agent: None,
            fronts: [
                format!("127.0.0.1:{}", free_port()),
                format!("127.0.0.1:{}", free_port()),
            ],
        }
    }

    /// The repository, its remote and a running agent.
    pub(crate) fn with_agent() -> Self {
        let mut s = Self::new();
        s.start_agent();
        s
    }

    fn agent_log(&self) -> PathBuf {
        self.dir.join("agent.log")
    }

    /// Starts `pipeline-agent serve` on the repository's state directory
    /// and waits until it has written its address.
    fn start_agent(&mut self) {
        let log = fs::File::create(self.agent_log()).unwrap();
        let child = scrub(&mut Command::new(bin("pipeline-agent")))
            .arg("serve")
            .arg("--state-dir")
            .arg(&self.state)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--stop-grace",
                "2",
                "--stop-apps-on-exit",
            ])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        self.agent = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.state.join("agent.json").exists() {
            let exited = self.agent.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the agent did not start ({exited:?}); its log:\n{}",
                fs::read_to_string(self.agent_log()).unwrap_or_default()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Writes `pipeline.toml`: the job, and the environments `dev` then
    /// `prod` on the local agent running `pipeline-testapp`.
    pub(crate) fn configure(&self, job: &Job<'_>) {
        let app = bin("pipeline-testapp");
        let env = |name: &str, front: &str, validate: &str| {
            format!(
                r#"
[[environment]]
name = "{name}"
target = {{ kind = "local", front = "{front}", command = "exec '{app}'", health_timeout_secs = 60, keep_warm_secs = 600 }}
validate = [{{ name = "smoke", command = '{validate}', timeout_secs = 60 }}]
verify = {{ health_for_secs = 1 }}
"#,
                app = app.display(),
            )
        };
        let config = format!(
            r#"[branches]
main = "master"
develop = "develop"
remote = "origin"
tag_prefix = "v"

[test]
command = '''{test}'''
{reports_and_gate}

[artifact]
source = "app"
out = "dist/app.zip"
{dev}{prod}"#,
            test = job.test,
            reports_and_gate = job.reports_and_gate,
            dev = env("dev", &self.fronts[0], r#"curl -fsS "$SLOT_URL/health""#),
            prod = env("prod", &self.fronts[1], job.prod_validate),
        );
        fs::write(self.repo.join("pipeline.toml"), config).unwrap();
    }

    /// `pipeline ARGS` in the repository, to its end.
    pub(crate) fn pipeline(&self, args: &[&str]) -> Output {
        self.pipeline_in(&self.repo, args)
    }

    /// `pipeline ARGS` with `cwd` as its working directory.
    pub(crate) fn pipeline_in(&self, cwd: &Path, args: &[&str]) -> Output {
        let o = run_bounded(
            scrub(&mut Command::new(PIPELINE))
                .args(args)
                .current_dir(cwd),
            RUN_LIMIT,
        );
        // Shown when the test fails.
        eprintln!("pipeline {args:?}: {:?}\n{}", o.status, text(&o));
        o
    }

    /// `pipeline run --repo REPO`.
    pub(crate) fn run(&self) -> Output {
        self.pipeline(&["run", "--repo", self.repo.to_str().unwrap()])
    }

    /// The remote's refs: name → object (the peeled `^{}` ones included).
    pub(crate) fn remote_refs(&self) -> Vec<(String, String)> {
        git(&self.repo, &["ls-remote", self.remote.to_str().unwrap()])
            .lines()
            .filter_map(|l| {
                let (id, name) = l.split_once('\t')?;
                Some((name.to_owned(), id.to_owned()))
            })
            .collect()
    }

    /// The release tags on the remote, sorted.
    pub(crate) fn remote_tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = self
            .remote_refs()
            .into_iter()
            .filter_map(|(name, _)| {
                let tag = name.strip_prefix("refs/tags/")?;
                (!tag.ends_with("^{}")).then(|| tag.to_owned())
            })
            .collect();
        tags.sort();
        tags
    }

    /// The commit a ref of the remote points at (peeled).
    pub(crate) fn remote_commit(&self, name: &str) -> Option<String> {
        let refs = self.remote_refs();
        let find = |n: &str| refs.iter().find(|(r, _)| r == n).map(|(_, id)| id.clone());
        find(&format!("{name}^{{}}")).or_else(|| find(name))
    }

    /// What the front of environment `i` (0 dev, 1 prod) says on
    /// `GET /version`; `None` when nothing answers 200.
    pub(crate) fn version_at(&self, i: usize) -> Option<String> {
        match get(&self.fronts[i], "/version") {
            Some((200, body)) => Some(body.trim().to_owned()),
            _ => None,
        }
    }

    /// The outcome of the newest record of `env` in the remote's history.
    pub(crate) fn last_outcome(&self, env: &str) -> serde_json::Value {
        let o = run_bounded(
            scrub(&mut Command::new(bin("pipeline-promote")))
                .arg("--repo")
                .arg(&self.repo)
                .args(["history", "--env", env, "--limit", "1", "--json"])
                .current_dir(&self.repo),
            RUN_LIMIT,
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["records"][0].clone()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            // SIGTERM: with --stop-apps-on-exit it stops its apps, then exits.
            if let Ok(pid) = i32::try_from(agent.id()) {
                signal(pid, Signal::TERM);
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut exited = false;
            while Instant::now() < deadline {
                if !matches!(agent.try_wait(), Ok(None)) {
                    exited = true;
                    break;
                }
                std::thread::sleep(POLL);
            }
            if !exited {
                kill_group(agent.id());
                let _ = agent.wait();
            }
        }
        // The apps run in process groups of their own, in the sandbox.
        kill_leftovers(&self.dir);
    }
}
