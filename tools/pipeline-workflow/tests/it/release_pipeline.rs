//! The project's own `.github/workflows/release-pipeline.yml`, run end to
//! end by the emulating runner: a push to `develop` of a copy of this
//! repository (its files as they are now), its bare remote as the clone
//! URL, the step binaries built by the workflow itself (release profile,
//! into a target directory kept between runs), the sample app's real
//! tests and gate, the release tagged and pushed and its GitHub Release
//! made (in the GitHub fake of `pipeline-testkit`, on loopback), and the
//! five promotions through the reusable `promote.yml` into a local agent,
//! checked on the remote, the agent, the fronts and the environments' URLs.
//! The `assets` job (release.yml: seven build legs on GitHub's Linux, macOS
//! and Windows runners, a matrix) cannot run here: the run sets
//! `vars.PIPELINE_RELEASE_ASSETS` to `false`, as a repository that does not
//! want them would, and the test checks that it was skipped.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pipeline_testkit::github::{FakeGitHub, REPOSITORY, TOKEN};
use pipeline_workflow::{Conclusion, Event, Runner, read_workflow};

use crate::{git, host_env};

const ENVS: [&str; 5] = ["ci", "dev", "qa", "staging", "production"];

/// The agent, killed with its apps when the test ends.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id())
            && pid > 1
            && let Some(p) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process_group(p, rustix::process::Signal::TERM);
            std::thread::sleep(Duration::from_millis(500));
            let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
        }
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on `addr`: the body.
fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// The project's files as they are now (tracked or new, not ignored).
fn copy_project(from: &Path, to: &Path) {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(from)
        .output()
        .unwrap();
    assert!(out.status.success());
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let rel = Path::new(std::str::from_utf8(name).unwrap());
        let src = from.join(rel);
        if !src.is_file() {
            continue; // deleted in the working tree
        }
        let dst = to.join(rel);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::copy(&src, &dst).unwrap();
    }
}

fn config(state: &Path, fronts: &[u16]) -> String {
    let mut s = format!(
        r#"# The release pipeline's job on this machine: the local agent.

[test]
command = "bash app/ci/test.sh reports"
reports = {{ junit = ["reports/junit-*.xml"], cobertura = ["reports/coverage.xml"], pylint = ["reports/pylint.json"] }}
gate = {{ max_failures = 0, min_line_coverage = 80 }}

[artifact]
source = "app"
out = "dist/app.zip"

[agent]
state_dir = "{}"
"#,
        state.display()
    );
    for (name, port) in ENVS.iter().zip(fronts) {
        s.push_str(&format!(
            r#"
[[environment]]
name = "{name}"
target = {{ kind = "local", front = "127.0.0.1:{port}", command = "exec sh run.sh", health_timeout_secs = 180, keep_warm_secs = 600 }}
validate = [{{ name = "smoke", command = 'bash app/ci/smoke.sh "$SLOT_URL"', timeout_secs = 60 }}]
verify = {{ health_for_secs = 1 }}
"#
        ));
    }
    s
}

fn start_agent(base: &Path, state: &Path) -> Agent {
    let bin = assert_cmd::cargo::cargo_bin("pipeline-agent");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        bin.display()
    );
    let log = fs::File::create(base.join("agent.log")).unwrap();
    let child = Command::new(bin)
        .args(["serve", "--state-dir"])
        .arg(state)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--stop-grace",
            "2",
            "--stop-apps-on-exit",
        ])
        .current_dir(base)
        .env_clear()
        .envs(host_env())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap();
    let mut agent = Agent(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !state.join("agent.json").exists() {
        assert!(
            agent.0.try_wait().unwrap().is_none() && Instant::now() < deadline,
            "the agent did not start: {}",
            fs::read_to_string(base.join("agent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    agent
}

#[test]
fn the_release_pipeline_runs_end_to_end_against_the_local_agent() {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    // Kept between runs: the target directory of the workflow's release
    // build, at a stable path so that the build is incremental.
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("release-pipeline");
    for dir in ["repo", "remote.git", "runner", "agent"] {
        let d = base.join(dir);
        if d.exists() {
            fs::remove_dir_all(&d).unwrap();
        }
    }
    let (repo, remote, state) = (
        base.join("repo"),
        base.join("remote.git"),
        base.join("agent"),
    );
    fs::create_dir_all(&repo).unwrap();
    copy_project(&project, &repo);
    let fronts: Vec<u16> = ENVS.iter().map(|_| free_port()).collect();
    fs::write(repo.join("pipeline.toml"), config(&state, &fronts)).unwrap();

    // master holds the project, released as 0.1.0; develop one feature on.
    git(
        &base,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "master",
            remote.to_str().unwrap(),
        ],
    );
    git(&repo, &["init", "-q", "-b", "master"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "chore: the project"]);
    git(&repo, &["tag", "-a", "v0.1.0", "-m", "0.1.0"]);
    git(&repo, &["checkout", "-q", "-b", "develop"]);
    fs::write(repo.join("app/FEATURE"), "a feature to ship\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "feat: a feature to ship"]);
    git(
        &repo,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(
        &repo,
        &["push", "-q", "origin", "master", "develop", "v0.1.0"],
    );
    let pushed = git(&repo, &["rev-parse", "HEAD"]);

    let _agent = start_agent(&base, &state);
    // GitHub's REST API, for the GitHub Release: the fake, on loopback.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let github = rt.block_on(FakeGitHub::start());
    let workflow = read_workflow(&repo.join(".github/workflows/release-pipeline.yml")).unwrap();
    let mut env = host_env();
    env.push((
        "CARGO_TARGET_DIR".into(),
        base.join("cargo-target").display().to_string(),
    ));
    // The workflow's `cargo build --release`, made cheap: what is checked
    // here is the workflow, not the optimizer (CI's time goes to this
    // build). The release job and its binaries are otherwise as on GitHub.
    for (key, value) in [
        ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0"),
        ("CARGO_PROFILE_RELEASE_LTO", "off"),
        ("CARGO_PROFILE_RELEASE_DEBUG", "0"),
        ("CARGO_PROFILE_RELEASE_INCREMENTAL", "false"),
    ] {
        env.push((key.into(), value.into()));
    }
    let vars = [("PIPELINE_RELEASE_ASSETS".to_owned(), "false".to_owned())]
        .into_iter()
        .collect();
    let report = Runner::new(
        base.join("runner"),
        REPOSITORY,
        format!("file://{}", remote.display()),
        Event {
            name: "push".into(),
            git_ref: "refs/heads/develop".into(),
            sha: pushed,
            actor: "octocat".into(),
        },
    )
    .with_env(env)
    .with_vars(vars)
    .with_api_url(github.uri())
    .with_token(TOKEN)
    .with_echo(true)
    .run(&workflow)
    .unwrap();

    let order: Vec<&str> = report.jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(
        order,
        [
            "sync",
            "test-and-gate",
            "release",
            "assets",
            "package",
            "ci",
            "dev",
            "qa",
            "staging",
            "production"
        ]
    );
    assert_eq!(report.job("assets").unwrap().result, Conclusion::Skipped);
    for job in report.jobs.iter().filter(|j| j.id != "assets") {
        assert_eq!(
            job.result,
            Conclusion::Success,
            "job {}:\n{}",
            job.id,
            job.log
        );
        assert!(
            !job.log.contains(TOKEN),
            "the token in the log of {}",
            job.id
        );
        assert!(!job.summary.contains(TOKEN));
    }
    // One GitHub environment per promotion, through the reusable
    // promote.yml, its URL the environment's front.
    for (env, port) in ENVS.iter().zip(&fronts) {
        let caller = report.job(env).unwrap();
        assert_eq!(caller.called.len(), 1, "{env} calls promote.yml");
        let promote = report.job(&format!("{env}/promote")).unwrap();
        assert_eq!(promote.environment.as_deref(), Some(*env));
        let url = format!("http://127.0.0.1:{port}");
        assert_eq!(promote.environment_url.as_deref(), Some(url.as_str()));
        assert_eq!(caller.outputs["url"], url);
        assert_eq!(caller.outputs["outcome"], "live");
        assert!(
            promote.summary.contains(&format!("0.2.0 → {env}: live")),
            "{}",
            promote.summary
        );
    }
    // The gate wrote its summary; the release said what it made.
    let gate = report.job("test-and-gate").unwrap();
    assert!(gate.summary.contains("passed"), "{}", gate.summary);
    let release = report.job("release").unwrap();
    assert_eq!(release.outputs["version"], "0.2.0", "{:?}", release.outputs);
    assert_eq!(release.outputs["released"], "true");
    // The GitHub Release, with the tag's notes, made by the release job.
    let releases = github.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    assert_eq!(releases[0].tag, "v0.2.0");
    assert!(!releases[0].draft);
    assert!(
        releases[0]
            .body
            .as_deref()
            .unwrap_or_default()
            .contains("a feature to ship"),
        "{releases:?}"
    );
    assert_eq!(report.job("package").unwrap().outputs["sha256"].len(), 64);

    // On the remote: the tag, master at it, develop holding it, and a
    // promotion record per environment.
    let remote_ref = |name: &str| git(&remote, &["rev-parse", "--verify", "-q", name]);
    let tagged = remote_ref("refs/tags/v0.2.0^{commit}");
    assert_eq!(remote_ref("refs/heads/master"), tagged);
    git(
        &remote,
        &["merge-base", "--is-ancestor", &tagged, "refs/heads/develop"],
    );
    for env in ENVS {
        remote_ref(&format!("refs/pipeline/envs/{env}"));
    }
    // Every front serves the release.
    for (env, port) in ENVS.iter().zip(&fronts) {
        let body = get(&format!("127.0.0.1:{port}"), "/version").unwrap_or_default();
        assert!(body.contains("0.2.0"), "{env} answers {body:?}");
    }
}
