//! The agent with real processes: a `pipeline-agent serve`, apps that are
//! `pipeline-testapp`, artifacts packaged for real, all through the admin
//! API and the front.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{
    AGENT_BIN, Agent, ENV, POLL, WAIT, assert_front, free_port, front_get, run_bounded, scrub,
    slot, spec, wait_front, wait_gone,
};

fn agent_status(agent: &Agent, json: bool) -> String {
    let mut cmd = Command::new(AGENT_BIN);
    cmd.args(["status", "--state-dir"]).arg(&agent.dir);
    if json {
        cmd.arg("--json");
    }
    let out = run_bounded(scrub(&mut cmd), Duration::from_secs(30));
    assert!(
        out.status.success(),
        "pipeline-agent status: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn deploy_swap_deploy_swap_with_status_everywhere() {
    let agent = Agent::start();

    // The secrets are the owner's alone.
    let token_mode = fs::metadata(agent.dir.join("token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(token_mode & 0o777, 0o600, "token mode {token_mode:o}");
    let dir_mode = fs::metadata(&agent.dir).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o022, 0, "state dir mode {dir_mode:o}");
    assert_eq!(agent.token.len(), 64);
    assert!(agent.token.bytes().all(|b| b.is_ascii_hexdigit()));

    let front = agent.declare(ENV, &json!({ "keep_warm_secs": 600 }));
    let status = agent.status(ENV);
    assert_eq!(status["live"], Value::Null);
    assert_eq!(slot(&status, "blue")["state"], "empty");
    assert_eq!(slot(&status, "green")["state"], "empty");

    let v1 = agent.release("1.0.0", None);
    let deployed = agent.deploy(ENV, &v1).expect(200).body;
    assert_eq!(deployed["slot"], "blue");
    assert_eq!(deployed["version"], "1.0.0");
    assert_eq!(deployed["sha256"], v1.sha256.as_str());
    assert_eq!(deployed["env"], ENV);
    let status = agent.status(ENV);
    assert_eq!(slot(&status, "blue")["state"], "idle");
    assert_eq!(slot(&status, "blue")["healthy"], true);
    assert_eq!(slot(&status, "blue")["url"], deployed["url"]);

    // Nothing is live before the first switch.
    let (code, _) = front_get(front, "/");
    assert_eq!(code, 503);

    let swapped = agent.swap(ENV).expect(200).body;
    assert_eq!(swapped["live"], "blue");
    assert_eq!(swapped["live_version"], "1.0.0");
    assert_eq!(swapped["idle_version"], Value::Null);
    assert_eq!(swapped["already"], false);
    // The switch is done when the reply arrives.
    assert_front(front, "1.0.0");

    let v2 = agent.release("2.0.0", None);
    let deployed = agent.deploy(ENV, &v2).expect(200).body;
    assert_eq!(deployed["slot"], "green");
    assert_eq!(deployed["version"], "2.0.0");
    // A deploy does not move traffic.
    assert_front(front, "1.0.0");

    let swapped = agent.swap(ENV).expect(200).body;
    assert_eq!(swapped["live"], "green");
    assert_eq!(swapped["live_version"], "2.0.0");
    assert_eq!(swapped["idle_version"], "1.0.0");
    assert_front(front, "2.0.0");

    let status = agent.status(ENV);
    assert_eq!(status["name"], ENV);
    assert_eq!(status["front"], front.to_string());
    assert_eq!(status["live"], "green");
    assert_eq!(status["operation"], Value::Null);
    assert_eq!(status["previous"]["version"], "1.0.0");
    assert_eq!(status["previous"]["sha256"], v1.sha256.as_str());
    let green = slot(&status, "green");
    assert_eq!(
        (&green["state"], &green["version"], &green["healthy"]),
        (&json!("live"), &json!("2.0.0"), &json!(true))
    );
    let blue = slot(&status, "blue");
    assert_eq!(
        (&blue["state"], &blue["version"], &blue["healthy"]),
        (&json!("warm"), &json!("1.0.0"), &json!(true))
    );
    assert!(blue["warm_until"].is_string(), "{status:#}");
    assert!(blue["pid"].is_i64() && green["pid"].is_i64(), "{status:#}");
    let all = agent.get("/v1/envs").expect(200).body;
    assert_eq!(all["envs"].as_array().unwrap().len(), 1);
    assert_eq!(all["envs"][0], status);

    let text = agent_status(&agent, false);
    assert!(
        text.contains(&format!("{ENV}  front {front}  live green")),
        "{text}"
    );
    let green_line = text.lines().find(|l| l.contains("green ")).unwrap();
    assert!(
        green_line.contains("live") && green_line.contains("2.0.0"),
        "{text}"
    );
    let blue_line = text.lines().find(|l| l.contains("blue ")).unwrap();
    assert!(
        blue_line.contains("warm") && blue_line.contains("1.0.0"),
        "{text}"
    );
    assert!(!text.contains(&agent.token), "the token is printed: {text}");

    let doc: Value = serde_json::from_str(&agent_status(&agent, true)).unwrap();
    assert_eq!(doc["envs"][0]["live"], "green");
    assert_eq!(doc["envs"][0]["slots"]["green"]["version"], "2.0.0");
    assert_eq!(doc["envs"][0]["slots"]["blue"]["version"], "1.0.0");

    // Declaring the environment again with another front moves the front.
    let moved = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let reply = agent
        .put_env(ENV, &spec(moved, &json!({ "keep_warm_secs": 600 })))
        .expect(200);
    assert_eq!(reply.body["live"], "green");
    assert_front(moved, "2.0.0");
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect_timeout(&front, Duration::from_secs(1)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the old front {front} still accepts"
        );
        std::thread::sleep(POLL);
    }
}

#[test]
fn the_apps_output_goes_to_its_log() {
    let agent = Agent::start();
    agent.declare(ENV, &json!({}));
    agent.deploy(ENV, &agent.release("1.0.0", None)).expect(200);
    let log = agent.dir.join(format!("logs/{ENV}/1.0.0-blue.log"));
    let text = fs::read_to_string(&log).unwrap();
    let port = slot(&agent.status(ENV), "blue")["url"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        text.contains(&format!(
            "pipeline-testapp 1.0.0 slot blue listening on 127.0.0.1:{port}"
        )),
        "{}: {text}",
        log.display()
    );
}

#[test]
fn a_crashed_app_is_restarted() {
    let agent = Agent::start();
    let front = agent.declare(ENV, &json!({}));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    let before = agent.status(ENV);
    let pid = slot(&before, "blue")["pid"].as_i64().unwrap() as i32;
    assert_eq!(slot(&before, "blue")["restarts"], 0);

    assert_eq!(front_get(front, "/crash"), (200, Some("1.0.0".to_owned())));
    wait_gone(pid);
    let status = agent.wait_status(ENV, "restarted and healthy", |s| {
        let blue = slot(s, "blue");
        blue["restarts"].as_u64() >= Some(1)
            && blue["state"] == "live"
            && blue["healthy"] == true
            && blue["pid"].as_i64().is_some_and(|p| p != i64::from(pid))
    });
    let error = slot(&status, "blue")["error"].as_str().unwrap_or_default();
    assert!(
        error.contains('3'),
        "the exit status is recorded: {status:#}"
    );
    assert_eq!(status["live"], "blue");
    wait_front(front, "1.0.0");
}

#[test]
fn an_unhealthy_release_is_refused_and_traffic_stays() {
    let agent = Agent::start();
    let front = agent.declare(ENV, &json!({}));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    // A short health timeout for the bad release (the spec changes in place).
    agent
        .put_env(ENV, &spec(front, &json!({ "health_timeout_secs": 2 })))
        .expect(200);

    let bad = agent.release("2.0.0", Some("TESTAPP_UNHEALTHY=1\n"));
    let reply = agent.deploy(ENV, &bad).expect_error(422, "Unhealthy");
    let message = reply.message();
    for part in ["2.0.0", "green", "/health", "2s", "status 503"] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }

    let status = agent.status(ENV);
    assert_eq!(status["live"], "blue");
    let green = slot(&status, "green");
    assert_eq!(green["state"], "failed", "{status:#}");
    assert_eq!(green["pid"], Value::Null);
    assert!(
        green["error"].as_str().unwrap_or_default().contains("503"),
        "{status:#}"
    );
    assert_eq!(slot(&status, "blue")["state"], "live");
    assert_front(front, "1.0.0");

    agent.swap(ENV).expect_error(409, "NothingToSwitch");
    assert_eq!(agent.status(ENV)["live"], "blue");
    assert_front(front, "1.0.0");
}

#[test]
fn one_operation_at_a_time() {
    let agent = Agent::start();
    agent.declare(ENV, &json!({}));
    let slow = agent.release("1.0.0", Some("TESTAPP_START_DELAY_MS=3000\n"));
    let other = agent.release("1.0.1", None);
    std::thread::scope(|s| {
        let deploying = s.spawn(|| agent.deploy(ENV, &slow));
        let status = agent.wait_status(ENV, "deploying", |st| {
            st["operation"]["name"].is_string() || deploying.is_finished()
        });
        assert!(!deploying.is_finished(), "the deploy ended: {status:#}");
        assert_eq!(status["operation"]["name"], "deploy 1.0.0 to blue");
        assert!(status["operation"]["since"].is_string());

        let expect_busy = |reply: crate::harness::Reply| {
            let reply = reply.expect_error(409, "OperationInProgress");
            assert!(
                reply.message().contains("deploy 1.0.0 to blue"),
                "{}",
                reply.text
            );
        };
        expect_busy(agent.deploy(ENV, &other));
        expect_busy(agent.swap(ENV));
        expect_busy(agent.rollback(ENV));
        // Nothing of the refused deploy was kept.
        assert!(!agent.dir.join("releases/1.0.1").exists());

        let reply = deploying.join().unwrap().expect(200);
        assert_eq!(reply.body["version"], "1.0.0");
    });
    assert_eq!(agent.status(ENV)["operation"], Value::Null);
    agent.swap(ENV).expect(200);
}

#[test]
fn a_warm_slot_expires_and_rollback_starts_it_from_disk() {
    let agent = Agent::start();
    let front = agent.declare(ENV, &json!({ "keep_warm_secs": 1 }));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    let old_pid = slot(&agent.status(ENV), "blue")["pid"].as_i64().unwrap() as i32;
    agent.deploy_and_swap(ENV, &agent.release("2.0.0", None));
    assert_front(front, "2.0.0");

    let status = agent.wait_status(ENV, "blue stopped", |s| {
        slot(s, "blue")["state"] == "stopped"
    });
    let blue = slot(&status, "blue");
    assert_eq!(blue["version"], "1.0.0");
    assert_eq!(blue["pid"], Value::Null);
    assert_eq!(blue["url"], Value::Null);
    assert_eq!(blue["warm_until"], Value::Null);
    wait_gone(old_pid);
    assert_front(front, "2.0.0");

    let reply = agent.rollback(ENV).expect(200).body;
    assert_eq!(reply["live"], "blue");
    assert_eq!(reply["live_version"], "1.0.0");
    assert_eq!(reply["idle_version"], "2.0.0");
    assert_front(front, "1.0.0");
    let status = agent.status(ENV);
    assert_eq!(slot(&status, "blue")["state"], "live");
    assert_eq!(status["previous"]["version"], "2.0.0");
}

#[test]
fn stop_apps_on_exit_stops_them_and_says_only_that() {
    let mut agent = Agent::start_with(&["--stop-apps-on-exit"], None);
    agent.declare(ENV, &json!({}));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    let pid = slot(&agent.status(ENV), "blue")["pid"].as_i64().unwrap() as i32;
    assert!(agent.stop().success());
    wait_gone(pid);
    let log = agent.log();
    assert!(log.contains("stopping, and the apps with it"), "{log}");
    assert!(log.contains("the apps are stopped"), "{log}");
    assert!(!log.contains("keep running"), "{log}");

    // Without the flag: the apps keep running, and the log says so alone.
    let mut agent = Agent::start();
    agent.declare(ENV, &json!({}));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    let pid = slot(&agent.status(ENV), "blue")["pid"].as_i64().unwrap() as i32;
    assert!(agent.stop().success());
    assert!(crate::harness::alive(pid));
    let log = agent.log();
    assert!(log.contains("the apps keep running"), "{log}");
    assert!(!log.contains("and the apps with it"), "{log}");
}
