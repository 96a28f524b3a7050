use crate::common::{git, repo_with_remote, text};
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn bin(name: &str) -> PathBuf {
    let path = assert_cmd::cargo::cargo_bin(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET over a fresh connection: (status, body).
fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
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

struct World {
    _root: tempfile::TempDir,
    repo: PathBuf,
    agent: Child,
    state: PathBuf,
    fronts: Vec<String>,
}

impl Drop for World {
    fn drop(&mut self) {
        // The agent runs with --stop-apps-on-exit: SIGTERM stops it and
        // its apps; wait for that (bounded), then make sure.
        let _ = Command::new("kill")
            .args(["-TERM", &self.agent.id().to_string()])
            .status();
        for _ in 0..300 {
            if matches!(self.agent.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.agent.kill();
        let _ = self.agent.wait();
        // Whatever is left of the apps (their own process groups): end
        // every one the agent recorded.
        if let Ok(text) = fs::read_to_string(self.state.join("state.json")) {
            for part in text.split("\"pid\": ").skip(1) {
                let digits = part
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap_or("");
                if let Ok(pid) = digits.parse::<i32>()
                    && pid > 1
                    && leads_group_in(pid, &self.state)
                {
                    let _ = Command::new("kill")
                        .args(["-9", "--", &format!("-{pid}")])
                        .status();
                }
            }
        }
    }
}

/// Whether `pid` leads its own process group and runs in a directory under
/// `dir` (an app of this test's agent, not a reused pid).
fn leads_group_in(pid: i32, dir: &Path) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let leads = fields.get(2) == Some(&pid.to_string().as_str());
    let cwd = fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
    leads && cwd.starts_with(dir)
}

impl World {
    fn start(validate: &str, verify_secs: u64) -> World {
        let w = World::agent();
        let testapp = bin("pipeline-testapp");
        let config = format!(
            r#"
[test]
command = "true"

[artifact]
source = "app"

[[environment]]
name = "dev"
target = {{ kind = "local", front = "{f0}", command = "exec {app}", health_timeout_secs = 20, keep_warm_secs = 600 }}
requires = {{ gate = true }}

[[environment]]
name = "prod"
target = {{ kind = "local", front = "{f1}", command = "exec {app}", health_timeout_secs = 20, keep_warm_secs = 600, drain_timeout_secs = 45 }}
validate = [{{ name = "smoke", command = '{validate}', timeout_secs = 20 }}]
verify = {{ health_for_secs = {verify_secs} }}
"#,
            f0 = w.fronts[0],
            f1 = w.fronts[1],
            app = testapp.display(),
        );
        fs::write(w.repo.join("pipeline.toml"), config).unwrap();
        w
    }

    /// A repository with a remote, a running agent and three free front
    /// addresses; no pipeline.toml yet.
    fn agent() -> World {
        let root = tempfile::tempdir().unwrap();
        let repo = repo_with_remote(root.path());
        let state = repo.join(".pipeline/agent");
        let agent = Command::new(bin("pipeline-agent"))
            .args([
                "serve",
                "--state-dir",
                state.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--stop-grace",
                "2",
                "--stop-apps-on-exit",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..500 {
            if state.join("agent.json").exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let fronts = (0..3)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        World {
            _root: root,
            repo,
            agent,
            state,
            fronts,
        }
    }

    /// Packages a release (with its own testapp.env) into the artifact
    /// store; returns its digest.
    fn release(&self, version: &str, testapp_env: &str) -> String {
        let src = self.repo.join(format!("build/{version}"));
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("VERSION"), version).unwrap();
        fs::write(src.join("testapp.env"), testapp_env).unwrap();
        let tmp = self.repo.join(format!("build/{version}.zip"));
        let a = pipeline_artifact::package(&src, &tmp, &pipeline_artifact::PackageOptions::new())
            .unwrap();
        let sha = a.sha256().to_string();
        let store = self.repo.join(".pipeline/artifacts");
        fs::create_dir_all(&store).unwrap();
        fs::rename(&tmp, store.join(format!("{sha}.zip"))).unwrap();
        sha
    }

    fn promote(&self, args: &[&str]) -> Output {
        Command::new(bin("pipeline-promote"))
            .arg("promote")
            .args(args)
            .current_dir(&self.repo)
            .env_remove("GITHUB_ACTIONS")
            .output()
            .unwrap()
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(bin("pipeline-promote"))
            .args(args)
            .current_dir(&self.repo)
            .output()
            .unwrap()
    }

    fn version_at(&self, i: usize) -> Option<String> {
        match get(&self.fronts[i], "/version") {
            Some((200, body)) => Some(body.trim().to_owned()),
            _ => None,
        }
    }
}

#[test]
fn promotes_through_the_environments_and_refuses_what_policy_forbids() {
    let w = World::start("curl -fsS \"$SLOT_URL/health\" >/dev/null", 4);
    let v1 = w.release("1.0.0", "");

    // The first environment needs the artifact and a passed gate.
    let o = w.promote(&["--to", "dev"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = w.promote(&["--to", "dev", "--version", "1.0.0", "--sha256", &v1]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("requires a passed gate"), "{}", text(&o));

    // prod before dev runs anything: refused.
    let o = w.promote(&["--to", "prod"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("dev runs nothing yet"), "{}", text(&o));

    let o = w.promote(&[
        "--to",
        "dev",
        "--version",
        "1.0.0",
        "--sha256",
        &v1,
        "--gate-json",
        "gate.json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(w.version_at(0).as_deref(), Some("1.0.0"));
    // That gate names no commit: taken on its word, and said so.
    assert!(text(&o).contains("names no commit"), "{}", text(&o));

    // A dry run prints the plan and changes nothing.
    let o = w.promote(&["--to", "prod", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("validate"), "{}", text(&o));
    assert_eq!(w.version_at(1), None);

    let o = w.promote(&["--to", "prod", "--version", "1.0.0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(w.version_at(1).as_deref(), Some("1.0.0"));
    // The drain timeout of pipeline.toml reached the agent (30 s unset).
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(w.state.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["envs"]["prod"]["spec"]["drain_timeout_secs"], 45);
    // The default is left out of the declaration (an older agent takes it).
    assert_eq!(
        state["envs"]["dev"]["spec"]["drain_timeout_secs"],
        serde_json::Value::Null
    );
    // The same again: nothing to do.
    let o = w.promote(&["--to", "prod"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("already"), "{}", text(&o));

    // The record is in the remote, where every runner sees it.
    let refs = git(&w.repo, &["ls-remote", "origin", "refs/pipeline/*"]);
    assert!(
        refs.contains("refs/pipeline/envs/dev") && refs.contains("refs/pipeline/envs/prod"),
        "{refs}"
    );
    let o = w.cmd(&["status"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines().any(|l| l.starts_with("prod")
            && l.contains("1.0.0")
            && l.contains("healthy")
            && (l.contains(" blue ") || l.contains(" green "))),
        "{out}"
    );
    assert!(
        out.starts_with("ENV          VERSION      SHA256         SLOT"),
        "{out}"
    );

    // A release that dies after its deploy passed: verification after the
    // switch fails and prod goes back to 1.0.0 by itself.
    let v2 = w.release("2.0.0", "TESTAPP_CRASH_AFTER_MS=3000\n");
    let o = w.promote(&[
        "--to",
        "dev",
        "--version",
        "2.0.0",
        "--sha256",
        &v2,
        "--gate-json",
        "gate.json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // dev is still healthy (its 2.0.0 dies 3 s after it starts), so prod
    // takes it, switches, and the 4 s watch sees it die.
    let o = w.promote(&["--to", "prod", "--version", "2.0.0"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("rolled back to 1.0.0"), "{}", text(&o));
    assert_eq!(w.version_at(1).as_deref(), Some("1.0.0"));

    let o = w.cmd(&["history", "--env", "prod"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    // Newest first: 2.0.0 rolled back, leaving 1.0.0 live; then 1.0.0 live.
    let newest = out.lines().next().unwrap();
    assert!(
        newest.contains("2.0.0") && newest.contains("rolled back") && newest.contains("live 1.0.0"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");

    // dev runs 2.0.0: brought back to 1.0.0 by hand, the same bytes
    // redeployed through dev's checks, and recorded as a rollback.
    let o = w.cmd(&["rollback", "--env", "dev", "--version", "1.0.0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("roll back to 1.0.0"), "{}", text(&o));
    assert_eq!(w.version_at(0).as_deref(), Some("1.0.0"));
    let o = w.cmd(&["history", "--env", "dev", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["records"][0]["outcome"], "manual-rollback", "{doc}");
    assert_eq!(doc["records"][0]["live_version"], "1.0.0", "{doc}");
    assert_eq!(doc["records"][0]["live_sha256"], v1.as_str(), "{doc}");
    assert_eq!(doc["records"][0]["note"], "rolled back from 2.0.0", "{doc}");
    let o = w.cmd(&["rollback", "--env", "dev", "--to", "1.0.0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("already"), "{}", text(&o));
    let o = w.cmd(&["rollback", "--env", "dev", "--to", "9.9.9"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("9.9.9 never went live in dev"),
        "{}",
        text(&o)
    );

    // Unknown environments and bad configuration are usage errors.
    let o = w.promote(&["--to", "nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    fs::write(
        w.repo.join("bad.toml"),
        "[test]\ncommand = \"x\"\nbogus = 1\n",
    )
    .unwrap();
    let o = w.cmd(&["--config", "bad.toml", "status"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad.toml:3:1"), "{}", text(&o));
}

#[test]
fn validation_failing_before_the_switch_leaves_traffic_alone() {
    let w = World::start("test \"$PIPELINE_VERSION\" != 3.0.0", 0);
    let v1 = w.release("1.0.0", "");
    let v3 = w.release("3.0.0", "");
    let o = w.promote(&[
        "--to",
        "dev",
        "--version",
        "1.0.0",
        "--sha256",
        &v1,
        "--gate-json",
        "gate.json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = w.promote(&["--to", "prod"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = w.promote(&[
        "--to",
        "dev",
        "--version",
        "3.0.0",
        "--sha256",
        &v3,
        "--gate-json",
        "gate.json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = w.promote(&["--to", "prod"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("validation failed"), "{}", text(&o));
    assert_eq!(w.version_at(1).as_deref(), Some("1.0.0"));
    let o = w.cmd(&["history", "--env", "prod", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["records"][0]["outcome"], "failed");
    assert_eq!(doc["records"][0]["live_version"], "1.0.0");

    // A manual rollback of dev brings 1.0.0 back there.
    let o = w.cmd(&["rollback", "--env", "dev"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(w.version_at(0).as_deref(), Some("1.0.0"));
}

#[test]
fn two_promotions_into_one_environment_never_interleave() {
    let w = World::start("true", 0);
    // A release that takes seconds to start: the first promotion holds the
    // environment's lock while the second one asks for it.
    let slow = w.release("1.0.0", "TESTAPP_START_DELAY_MS=3000\n");
    let args: Vec<String> = [
        "--to",
        "dev",
        "--version",
        "1.0.0",
        "--sha256",
        &slow,
        "--gate-json",
        "gate.json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let outputs: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let args = args.clone();
                let w = &w;
                s.spawn(move || {
                    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                    w.promote(&refs)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
    // Exactly one went through; the other was refused, naming the lock's
    // holder, and changed nothing.
    assert!(
        codes == [Some(0), Some(1)] || codes == [Some(1), Some(0)],
        "{codes:?}\n{}\n{}",
        text(&outputs[0]),
        text(&outputs[1])
    );
    let refused = outputs.iter().find(|o| o.status.code() == Some(1)).unwrap();
    assert!(text(refused).contains("is locked by"), "{}", text(refused));
    assert_eq!(w.version_at(0).as_deref(), Some("1.0.0"));
    let o = w.cmd(&["history", "--env", "dev", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["records"].as_array().unwrap().len(), 1, "{doc}");
    // The lock is gone: a later promotion is not refused by it.
    let refs = git(&w.repo, &["ls-remote", "origin", "refs/pipeline/locks/*"]);
    assert!(refs.is_empty(), "{refs}");
}

/// Each step its own job: the first environment gets the build's zip from
/// `pipeline-deploy package` (outside the store), which keeps it by digest;
/// the next environments are promoted from other clones of the repository,
/// sharing only the remote (the records) and the artifact store.
#[test]
fn promoting_step_by_step_from_separate_checkouts_shares_only_the_remote_and_the_store() {
    let w = World::agent();
    let testapp = bin("pipeline-testapp");
    let shared = w._root.path().join("shared-artifacts");
    let config = format!(
        r#"
[test]
command = "true"

[artifact]
source = "app"

[agent]
state_dir = "{state}"

[[environment]]
name = "dev"
target = {{ kind = "local", front = "{f0}", command = "exec {app}", health_timeout_secs = 20 }}

[[environment]]
name = "qa"
target = {{ kind = "local", front = "{f1}", command = "exec {app}", health_timeout_secs = 20 }}

[[environment]]
name = "prod"
target = {{ kind = "local", front = "{f2}", command = "exec {app}", health_timeout_secs = 20 }}
"#,
        state = w.state.display(),
        f0 = w.fronts[0],
        f1 = w.fronts[1],
        f2 = w.fronts[2],
        app = testapp.display(),
    );
    fs::write(w.repo.join("pipeline.toml"), &config).unwrap();
    // The build: a zip in dist/, as `pipeline-deploy package` leaves it.
    let src = w.repo.join("app");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("VERSION"), "1.0.0").unwrap();
    let o = Command::new(bin("pipeline-deploy"))
        .args([
            "package",
            "--source",
            "app",
            "--out",
            "dist/app.zip",
            "--json",
        ])
        .current_dir(&w.repo)
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sha = doc["sha256"].as_str().unwrap().to_owned();

    let promote = |dir: &Path, args: &[&str]| {
        Command::new(bin("pipeline-promote"))
            .args(["--artifact-store", shared.to_str().unwrap(), "promote"])
            .args(args)
            .current_dir(dir)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("PIPELINE_ARTIFACT_STORE")
            .output()
            .unwrap()
    };
    let o = promote(
        &w.repo,
        &[
            "--to",
            "dev",
            "--version",
            "1.0.0",
            "--sha256",
            &sha,
            "--artifact",
            "dist/app.zip",
            "--gate-json",
            "gate.json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(w.version_at(0).as_deref(), Some("1.0.0"));
    // The first promotion kept the zip in the store, by digest.
    let kept = shared.join(format!("{sha}.zip"));
    assert_eq!(
        fs::read(&kept).unwrap(),
        fs::read(w.repo.join("dist/app.zip")).unwrap()
    );

    // A second job: a fresh clone, nothing of the first job's files.
    let remote = w._root.path().join("remote.git");
    let clone = |name: &str| {
        let dir = w._root.path().join(name);
        git(
            w._root.path(),
            &[
                "clone",
                "-q",
                remote.to_str().unwrap(),
                dir.to_str().unwrap(),
            ],
        );
        fs::write(dir.join("pipeline.toml"), &config).unwrap();
        dir
    };
    let b = clone("job-qa");
    let o = promote(&b, &["--to", "qa", "--version", "1.0.0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(w.version_at(1).as_deref(), Some("1.0.0"));

    // A job without the store: refused before anything is recorded,
    // naming the store and what to do.
    let c = clone("job-prod");
    let o = Command::new(bin("pipeline-promote"))
        .args(["promote", "--to", "prod", "--version", "1.0.0"])
        .current_dir(&c)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("PIPELINE_ARTIFACT_STORE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("is not in the artifact store") && text(&o).contains(&sha),
        "{}",
        text(&o)
    );
    let o = Command::new(bin("pipeline-promote"))
        .args(["history", "--env", "prod", "--json"])
        .current_dir(&c)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["records"], serde_json::json!([]), "{doc}");
    let refs = git(&c, &["ls-remote", "origin", "refs/pipeline/*"]);
    assert!(!refs.contains("envs/prod"), "{refs}");
    assert!(!refs.contains("locks/prod"), "{refs}");

    // With the store (here through the variable), the third job goes on.
    let o = Command::new(bin("pipeline-promote"))
        .args(["promote", "--to", "prod", "--version", "1.0.0"])
        .current_dir(&c)
        .env_remove("GITHUB_ACTIONS")
        .env("PIPELINE_ARTIFACT_STORE", &shared)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(w.version_at(2).as_deref(), Some("1.0.0"));
}

#[test]
fn secrets_are_masked_inside_actions_and_help_ends_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(bin("pipeline-promote"))
        .args(["--config", "missing.toml", "status"])
        .current_dir(dir.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_TOKEN", "ghs_promoteSecret123")
        .env("AZURE_CLIENT_SECRET", "azureSecret456")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("::add-mask::ghs_promoteSecret123"), "{err}");
    assert!(err.contains("::add-mask::azureSecret456"), "{err}");
    assert!(err.contains("missing.toml"), "{err}");
    let o = Command::new(bin("pipeline-promote"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(
        help.contains("Examples:\n  pipeline-promote promote --to"),
        "{help}"
    );
    assert!(help.contains("Exit codes:\n  0  success"), "{help}");
}

#[test]
fn no_repository_or_no_remote_is_a_setup_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("pipeline.toml"),
        "[test]\ncommand = \"true\"\n[artifact]\nsource = \"app\"\n[[environment]]\nname = \"ci\"\n\
         target = { kind = \"local\", front = \"127.0.0.1:9\", command = \"true\" }\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(bin("pipeline-promote"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("GITHUB_ACTIONS")
            .output()
            .unwrap()
    };
    for args in [
        &["promote", "--to", "ci", "--dry-run"][..],
        &["status"][..],
        &["history", "--env", "ci"][..],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("error: no git repository at "), "{err}");
        assert!(err.contains("run in a clone of it"), "{err}");
        assert!(
            !err.contains("hash-object") && !err.contains("class="),
            "{err}"
        );
    }
    git(dir.path(), &["init", "-q"]);
    let o = run(&["status"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no remote origin in ") && text(&o).contains("git remote -v"),
        "{}",
        text(&o)
    );
    // An unknown environment names the ones there are.
    let remote = dir.path().join("remote.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    git(
        dir.path(),
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    let o = run(&["promote", "--to", "prod"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no environment `prod` in pipeline.toml (its environments: ci)"),
        "{}",
        text(&o)
    );
    // A rollback before anything went live says so, before it looks for
    // an agent (there is none here).
    let o = run(&["rollback", "--env", "ci"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("nothing to roll back: no release ever went live in ci"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("agent.json"), "{}", text(&o));
}

/// Step outputs as GitHub's runner reads them.
fn step_outputs(file: &Path) -> std::collections::BTreeMap<String, String> {
    pipeline_ci::read_outputs(&fs::read_to_string(file).unwrap_or_default())
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn inside_actions_a_promotion_says_where_it_went_its_checks_and_the_live_url() {
    let w = World::start("test \"$PIPELINE_VERSION\" != 3.0.0", 0);
    let v1 = w.release("1.0.0", "");
    let v3 = w.release("3.0.0", "");
    let files = tempfile::tempdir().unwrap();
    let in_actions = |step: &str, args: &[&str]| {
        let output = files.path().join(format!("{step}.output"));
        let summary = files.path().join(format!("{step}.md"));
        let o = Command::new(bin("pipeline-promote"))
            .arg("promote")
            .args(args)
            .current_dir(&w.repo)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap();
        let md = fs::read_to_string(&summary).unwrap_or_default();
        (o, step_outputs(&output), md)
    };
    let dev_url = format!("http://{}", w.fronts[0]);
    let prod_url = format!("http://{}", w.fronts[1]);

    let (o, out, md) = in_actions(
        "dev",
        &[
            "--to",
            "dev",
            "--version",
            "1.0.0",
            "--sha256",
            &v1,
            "--gate-json",
            "gate.json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(out["url"], dev_url, "{out:?}");
    assert_eq!(
        (
            out["env"].as_str(),
            out["version"].as_str(),
            out["outcome"].as_str()
        ),
        ("dev", "1.0.0", "live")
    );
    assert!(md.starts_with("### ✅ 1.0.0 → dev: live\n"), "{md}");
    assert!(
        md.contains(&format!("| live address | {dev_url}/ |")),
        "{md}"
    );
    assert!(md.contains("| replaces | nothing |"), "{md}");
    assert!(md.contains("| ✅ passed |"), "{md}");

    // Into prod: the validation is a row of the summary.
    let (o, out, md) = in_actions("prod", &["--to", "prod"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        (out["url"].as_str(), out["outcome"].as_str()),
        (prod_url.as_str(), "live")
    );
    assert!(md.contains("| from | dev |"), "{md}");
    assert!(
        md.lines()
            .any(|l| l.contains("smoke") && l.contains("✅ passed")),
        "{md}"
    );

    // Nothing to do: said so, with the address.
    let (o, out, md) = in_actions("again", &["--to", "prod"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        (out["url"].as_str(), out["outcome"].as_str()),
        (prod_url.as_str(), "already-there")
    );
    assert!(md.contains("there already, nothing done"), "{md}");

    // A release whose validation fails: not switched, and the summary says
    // which check and what still serves.
    let (o, _, _) = in_actions(
        "dev3",
        &[
            "--to",
            "dev",
            "--version",
            "3.0.0",
            "--sha256",
            &v3,
            "--gate-json",
            "gate.json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (o, out, md) = in_actions("prod3", &["--to", "prod"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(out["outcome"], "validation-failed");
    assert!(md.starts_with("### ❌ 3.0.0 → prod: not promoted"), "{md}");
    assert!(
        md.lines()
            .any(|l| l.contains("smoke") && l.contains("❌ failed")),
        "{md}"
    );
    assert!(
        md.contains("**Not switched:**") && md.contains("1.0.0 still serves"),
        "{md}"
    );
    assert_eq!(w.version_at(1).as_deref(), Some("1.0.0"));
}

#[test]
fn a_passed_gate_unlocks_only_the_release_of_its_commit() {
    let w = World::start("true", 0);
    let v1 = w.release("1.0.0", "");
    // 1.0.0 is tagged on the first commit; the gate below is of a later one.
    let tagged = git(&w.repo, &["rev-parse", "HEAD"]).trim().to_owned();
    git(&w.repo, &["tag", "-a", "v1.0.0", "-m", "1.0.0"]);
    fs::write(w.repo.join("later"), "x\n").unwrap();
    git(&w.repo, &["add", "later"]);
    git(&w.repo, &["commit", "-q", "-m", "feat: later"]);
    let later = git(&w.repo, &["rev-parse", "HEAD"]).trim().to_owned();

    // The gate as pipeline-report writes it, from the reports of HEAD.
    fs::write(
        w.repo.join("junit.xml"),
        r#"<testsuite name="s" tests="1"><testcase classname="c" name="t"/></testsuite>"#,
    )
    .unwrap();
    let gate = Command::new(bin("pipeline-report"))
        .args(["gate", "--junit", "junit.xml", "--json"])
        .current_dir(&w.repo)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_SHA")
        .output()
        .unwrap();
    assert_eq!(gate.status.code(), Some(0), "{}", text(&gate));
    fs::write(w.repo.join("gate-later.json"), &gate.stdout).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&gate.stdout).unwrap();
    assert_eq!(doc["commit"], later.as_str(), "{doc}");

    let promote = |gate: &str| {
        w.promote(&[
            "--to",
            "dev",
            "--version",
            "1.0.0",
            "--sha256",
            &v1,
            "--gate-json",
            gate,
        ])
    };
    let o = promote("gate-later.json");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(
        said.contains("a gate unlocks only its own release"),
        "{said}"
    );
    assert!(said.contains(&later) && said.contains(&tagged), "{said}");
    assert_eq!(w.version_at(0), None);
    // Nothing was tried, so nothing is recorded.
    let history = w.cmd(&["history", "--env", "dev", "--json"]);
    assert!(!text(&history).contains("1.0.0"), "{}", text(&history));

    // The same reports judged on the tagged commit unlock 1.0.0.
    let gate = Command::new(bin("pipeline-report"))
        .args([
            "gate",
            "--junit",
            "junit.xml",
            "--json",
            "--commit",
            "v1.0.0",
        ])
        .current_dir(&w.repo)
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert_eq!(gate.status.code(), Some(0), "{}", text(&gate));
    fs::write(w.repo.join("gate-tagged.json"), &gate.stdout).unwrap();
    let o = promote("gate-tagged.json");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(w.version_at(0).as_deref(), Some("1.0.0"));

    // A --commit that names nothing is the caller's mistake.
    let bad = Command::new(bin("pipeline-report"))
        .args(["gate", "--junit", "junit.xml", "--commit", "no-such-ref"])
        .current_dir(&w.repo)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("--commit no-such-ref"),
        "{}",
        text(&bad)
    );
}

/// pipeline.toml written once for all environments: `[defaults]` (a
/// command, durations as strings, app settings, a secret by reference)
/// and overrides, promoted through the real agent to a real app.
#[test]
fn defaults_durations_settings_and_secrets_reach_the_agent_and_the_app() {
    let w = World::agent();
    let testapp = bin("pipeline-testapp");
    let seen = w.repo.join("seen");
    fs::create_dir_all(&seen).unwrap();
    let config = format!(
        r#"
[test]
command = "true"

[artifact]
source = "app"

[defaults]
target = {{ kind = "local", command = 'printf "%s|%s" "$GREETING" "$DB_PASSWORD" > "{seen}/$PIPELINE_ENV"; exec {app}', health_timeout_secs = "20s", keep_warm_secs = "10m", drain_timeout_secs = "1m" }}
requires = {{ gate = false }}
env = {{ GREETING = "hello" }}
secrets = {{ DB_PASSWORD = "TEST_DEV_DB_PASSWORD" }}

[[environment]]
name = "dev"
target = {{ front = "{f0}" }}

[[environment]]
name = "prod"
target = {{ front = "{f1}", drain_timeout_secs = 45 }}
env = {{ GREETING = "bonjour" }}
secrets = {{ DB_PASSWORD = "TEST_PROD_DB_PASSWORD" }}
"#,
        seen = seen.display(),
        app = testapp.display(),
        f0 = w.fronts[0],
        f1 = w.fronts[1],
    );
    fs::write(w.repo.join("pipeline.toml"), config).unwrap();
    let v1 = w.release("1.0.0", "");
    let promote = |args: &[&str], vars: &[(&str, &str)]| {
        Command::new(bin("pipeline-promote"))
            .arg("promote")
            .args(args)
            .current_dir(&w.repo)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("TEST_DEV_DB_PASSWORD")
            .env_remove("TEST_PROD_DB_PASSWORD")
            .envs(vars.iter().copied())
            .output()
            .unwrap()
    };
    let first = ["--to", "dev", "--version", "1.0.0", "--sha256", &v1];

    // The secret's variable is not set: exit 2 naming it and the
    // environment, before anything is deployed.
    let o = promote(&first, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "environment dev: the secret DB_PASSWORD is read from the variable \
             TEST_DEV_DB_PASSWORD, which is not set (or is empty) here"
        ),
        "{}",
        text(&o)
    );
    assert_eq!(w.version_at(0), None);
    assert!(!seen.join("dev").exists());

    let dev_secret = "dev-s3cret-value-1";
    let o = promote(&first, &[("TEST_DEV_DB_PASSWORD", dev_secret)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(w.version_at(0).as_deref(), Some("1.0.0"));
    assert_eq!(
        fs::read_to_string(seen.join("dev")).unwrap(),
        format!("hello|{dev_secret}")
    );
    assert!(!text(&o).contains(dev_secret), "{}", text(&o));

    // prod: its own settings and secret win over the defaults.
    let prod_secret = "prod-s3cret-value-2";
    let o = promote(
        &["--to", "prod", "--json"],
        &[
            ("TEST_DEV_DB_PASSWORD", dev_secret),
            ("TEST_PROD_DB_PASSWORD", prod_secret),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(w.version_at(1).as_deref(), Some("1.0.0"));
    assert_eq!(
        fs::read_to_string(seen.join("prod")).unwrap(),
        format!("bonjour|{prod_secret}")
    );
    assert!(!text(&o).contains(prod_secret), "{}", text(&o));

    // The defaulted durations reached the agent; the file that now holds
    // the secrets is the agent user's alone.
    let path = w.state.join("state.json");
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let spec = |env: &str, key: &str| state["envs"][env]["spec"][key].clone();
    assert_eq!(spec("dev", "health_timeout_secs"), 20);
    assert_eq!(spec("dev", "keep_warm_secs"), 600);
    assert_eq!(spec("dev", "drain_timeout_secs"), 60);
    assert_eq!(spec("prod", "drain_timeout_secs"), 45);
    assert_eq!(spec("prod", "env")["GREETING"], "bonjour");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o077, 0);
    }
    let o = w.cmd(&["status", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !text(&o).contains(dev_secret) && !text(&o).contains(prod_secret),
        "{}",
        text(&o)
    );
    // Inside GitHub Actions, the values of the variables pipeline.toml
    // names are masked, as the tools' own secrets are.
    let o = Command::new(bin("pipeline-promote"))
        .args(["status"])
        .current_dir(&w.repo)
        .env("GITHUB_ACTIONS", "true")
        .env("TEST_PROD_DB_PASSWORD", prod_secret)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("::add-mask::{prod_secret}")), "{err}");
}
