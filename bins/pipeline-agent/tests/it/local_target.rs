//! The client side against a real agent: `pipeline-deploy local
//! deploy|swap|rollback|status`, found through the agent's state
//! directory or its URL and token.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Agent, ENV, Release, assert_front, run_bounded, scrub, slot};

/// `pipeline-deploy`, built with the workspace (it is another package's
/// binary, so Cargo does not build it for these tests).
fn pipeline_deploy() -> PathBuf {
    std::panic::catch_unwind(|| assert_cmd::cargo::cargo_bin("pipeline-deploy"))
        .ok()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the pipeline-deploy binary is missing: build the workspace first \
                 (cargo build --workspace), then run these tests again"
            )
        })
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `pipeline-deploy local ARGS` with the agent found through
/// `PIPELINE_AGENT_STATE_DIR`.
fn local(agent: &Agent) -> Command {
    let mut cmd = Command::new(pipeline_deploy());
    scrub(&mut cmd)
        .env("PIPELINE_AGENT_STATE_DIR", &agent.dir)
        .arg("local");
    cmd
}

fn run(cmd: &mut Command, limit: Duration) -> Run {
    let out = run_bounded(cmd, limit);
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn ok(cmd: &mut Command) -> Run {
    let r = run(cmd, Duration::from_secs(60));
    assert_eq!(
        r.code,
        Some(0),
        "{cmd:?}\nstdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    r
}

fn deploy_args<'a>(cmd: &'a mut Command, release: &Release) -> &'a mut Command {
    cmd.args(["deploy", "--env", ENV, "--artifact"])
        .arg(&release.path)
        .args(["--sha256", &release.sha256, "--version", &release.version])
}

#[test]
fn deploy_swap_status_rollback_with_pipeline_deploy() {
    let agent = Agent::start();
    let front = agent.declare(ENV, &json!({ "keep_warm_secs": 600 }));
    let v1 = agent.release("1.0.0", None);
    let v2 = agent.release("2.0.0", None);

    let r = ok(deploy_args(&mut local(&agent), &v1).arg("--json"));
    // The upload of a small artifact shows in bytes, not as 0.0 of 0.0 MiB.
    let size = std::fs::metadata(&v1.path).unwrap().len();
    assert!(
        r.stderr.contains(&format!("{size} of {size} bytes (100%)")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("0.0 of 0.0"), "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["schema"], "pipeline-deploy/local/v1");
    assert_eq!(doc["action"], "deploy");
    assert_eq!(doc["env"], ENV);
    assert_eq!(doc["deployed"]["version"], "1.0.0");
    assert_eq!(doc["deployed"]["slot"], "blue");
    assert_eq!(doc["deployed"]["sha256"], v1.sha256.as_str());
    assert_eq!(
        slot(&agent.status(ENV), "blue")["url"],
        doc["deployed"]["url"]
    );

    let r = ok(local(&agent).args(["swap", "--env", ENV, "--version", "1.0.0"]));
    assert!(r.stdout.contains("1.0.0 live"), "{}", r.stdout);
    assert_front(front, "1.0.0");
    // Again: a no-op.
    let r = ok(local(&agent).args(["swap", "--env", ENV, "--version", "1.0.0"]));
    assert!(r.stdout.contains("already live"), "{}", r.stdout);

    let r = ok(deploy_args(&mut local(&agent), &v2).args(["--health-path", "/health"]));
    assert!(
        r.stdout.contains("deployed 2.0.0") && r.stdout.contains("slot green"),
        "{}",
        r.stdout
    );
    assert_front(front, "1.0.0");
    ok(local(&agent).args(["swap", "--env", ENV]));
    assert_front(front, "2.0.0");

    let r = ok(local(&agent).args(["status", "--env", ENV]));
    assert!(r.stdout.contains(&format!("local:{ENV}")), "{}", r.stdout);
    let green = r.stdout.lines().find(|l| l.contains("green")).unwrap();
    assert!(
        green.contains("live") && green.contains("2.0.0"),
        "{}",
        r.stdout
    );
    let blue = r.stdout.lines().find(|l| l.contains("blue")).unwrap();
    assert!(
        blue.contains("1.0.0") && blue.contains("warm"),
        "{}",
        r.stdout
    );
    let r = ok(local(&agent).args(["status", "--env", ENV, "--json"]));
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["status"]["slots"][0]["slot"], "green");
    assert_eq!(doc["status"]["slots"][0]["live"], true);

    let r = ok(local(&agent).args(["rollback", "--env", ENV]));
    assert!(r.stdout.contains("rolled back"), "{}", r.stdout);
    assert!(r.stdout.contains("1.0.0 live again"), "{}", r.stdout);
    assert_front(front, "1.0.0");
    assert_eq!(agent.status(ENV)["live"], "blue");
}

#[test]
fn pipeline_deploy_local_refusals_and_exit_codes() {
    let agent = Agent::start();
    let front = agent.declare(ENV, &json!({ "health_timeout_secs": 2 }));

    // A wrong token: a usage error (2), and the token never printed.
    let wrong = "5ec7e7".repeat(10);
    let v1 = agent.release("1.0.0", None);
    for args in [vec!["status", "--env", ENV], vec![]] {
        let mut cmd = local(&agent);
        cmd.env_remove("PIPELINE_AGENT_STATE_DIR")
            .env("PIPELINE_AGENT_URL", format!("http://{}", agent.addr))
            .env("PIPELINE_AGENT_TOKEN", &wrong);
        if args.is_empty() {
            deploy_args(&mut cmd, &v1);
        } else {
            cmd.args(&args);
        }
        let r = run(&mut cmd, Duration::from_secs(60));
        assert_eq!(
            r.code,
            Some(2),
            "stdout: {}\nstderr: {}",
            r.stdout,
            r.stderr
        );
        assert!(r.stderr.contains("401"), "{}", r.stderr);
        for text in [&r.stdout, &r.stderr] {
            assert!(!text.contains(&wrong), "the token is printed: {text}");
            assert!(!text.contains(&agent.token), "the token is printed: {text}");
        }
    }
    assert_eq!(slot(&agent.status(ENV), "blue")["state"], "empty");

    // Nothing to switch to or roll back to: the step says no (1).
    let r = run(
        local(&agent).args(["swap", "--env", ENV]),
        Duration::from_secs(60),
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("deploy to it first"), "{}", r.stderr);
    assert!(!r.stderr.contains("NothingToSwitch"), "{}", r.stderr);
    let r = run(
        local(&agent).args(["rollback", "--env", ENV]),
        Duration::from_secs(60),
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    // The agent's words, not its error code.
    assert!(
        r.stderr
            .contains(&format!("error: {ENV} has no previous release")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("NothingToRollBack"), "{}", r.stderr);

    // An unknown environment: a usage error.
    let r = run(
        local(&agent).args(["status", "--env", "nope"]),
        Duration::from_secs(60),
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);

    // A release that never becomes healthy: the step says no.
    let bad = agent.release("9.9.9", Some("TESTAPP_UNHEALTHY=1\n"));
    let r = run(
        deploy_args(&mut local(&agent), &bad),
        Duration::from_secs(60),
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("did not answer /health"), "{}", r.stderr);
    assert_eq!(slot(&agent.status(ENV), "blue")["state"], "failed");
    assert_eq!(crate::harness::front_get(front, "/").0, 503);
}

#[test]
fn pipeline_deploy_local_refuses_a_release_serving_another_version() {
    let agent = Agent::start();
    let front = agent.declare(ENV, &json!({}));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    // Stale code: the release says it is 1.9.9.
    let stale = agent.release("2.0.0", Some("TESTAPP_VERSION_OVERRIDE=1.9.9\n"));
    let mut cmd = local(&agent);
    deploy_args(&mut cmd, &stale).args(["--version-path", "/health", "--timeout", "5"]);
    // `--timeout` is the deadline of the whole operation: a generous bound
    // on top of it.
    let r = run(&mut cmd, Duration::from_secs(30));
    assert_eq!(
        r.code,
        Some(1),
        "stdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    assert!(
        r.stderr.contains("2.0.0") && r.stderr.contains("version 1.9.9"),
        "{}",
        r.stderr
    );
    // The agent found it healthy, but traffic did not move.
    let status = agent.status(ENV);
    assert_eq!(status["live"], "blue");
    assert_eq!(slot(&status, "green")["version"], "2.0.0");
    assert_front(front, "1.0.0");
}

#[test]
fn dry_runs_check_and_tell_and_change_nothing() {
    let agent = Agent::start();
    let front = agent.declare(ENV, &json!({ "keep_warm_secs": 600 }));
    let v1 = agent.release("1.0.0", None);
    let v2 = agent.release("2.0.0", None);
    ok(deploy_args(&mut local(&agent), &v1));
    ok(local(&agent).args(["swap", "--env", ENV]));
    let before = agent.status(ENV);

    // A deploy: the artifact checked, the idle slot named, nothing done.
    let r = ok(deploy_args(&mut local(&agent), &v2).arg("--dry-run"));
    assert!(r.stdout.contains("dry run: deploy"), "{}", r.stdout);
    assert!(
        r.stdout.contains("would deploy 2.0.0") && r.stdout.contains("into slot green"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("stays on slot blue (1.0.0)"),
        "{}",
        r.stdout
    );
    // A digest that is not the artifact's is still refused, as for real.
    let mut bad = local(&agent);
    bad.args(["deploy", "--env", ENV, "--artifact"])
        .arg(&v2.path)
        .args(["--sha256", &v1.sha256, "--version", "2.0.0", "--dry-run"]);
    let r = run(&mut bad, Duration::from_secs(60));
    assert_eq!(r.code, Some(2), "{}\n{}", r.stdout, r.stderr);

    // A swap to a version the idle slot does not hold would be refused.
    let r = run(
        local(&agent).args(["swap", "--env", ENV, "--version", "2.0.0", "--dry-run"]),
        Duration::from_secs(60),
    );
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("would be refused"), "{}", r.stdout);

    // With JSON: the plan and the status it was read from.
    ok(deploy_args(&mut local(&agent), &v2));
    let r = ok(local(&agent).args(["swap", "--env", ENV, "--dry-run", "--json"]));
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["action"], "swap");
    assert_eq!(doc["dry_run"]["refused"], Value::Null);
    let effect = doc["dry_run"]["effects"][0].as_str().unwrap();
    assert!(effect.contains("to slot green (2.0.0)"), "{doc}");
    let r = ok(local(&agent).args(["rollback", "--env", ENV, "--dry-run"]));
    assert!(
        r.stdout.contains("would switch live traffic"),
        "{}",
        r.stdout
    );

    // Nothing moved: blue still live with 1.0.0.
    assert_front(front, "1.0.0");
    let after = agent.status(ENV);
    assert_eq!(after["live"], before["live"]);
    assert_eq!(slot(&after, "blue")["version"], "1.0.0");
}
