//! An agent that dies and comes back: the apps it left running are adopted,
//! the ones that died are started again, a deploy it was in the middle of
//! is failed and its process stopped.

use serde_json::{Value, json};

use crate::harness::{Agent, ENV, alive, assert_front, processes_in, slot, wait_front, wait_gone};
use crate::http;

fn pids(status: &Value) -> (i64, i64) {
    (
        slot(status, "blue")["pid"].as_i64().expect("blue runs"),
        slot(status, "green")["pid"].as_i64().expect("green runs"),
    )
}

#[test]
fn sigkill_in_the_middle_of_a_deploy() {
    let mut agent = Agent::start();
    let front = agent.declare(ENV, &json!({ "health_timeout_secs": 30 }));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    let slow = agent.release("2.0.0", Some("TESTAPP_START_DELAY_MS=4000\n"));

    let (addr, auth) = (agent.addr, format!("Bearer {}", agent.token));
    let path = format!("/v1/envs/{ENV}/deploy?version=2.0.0&sha256={}", slow.sha256);
    let bytes = slow.bytes();
    let deploying = std::thread::spawn(move || {
        http::request(addr, "POST", &path, &[("Authorization", &auth)], &bytes)
    });
    // Starting as the API shows it, and its process recorded in the state
    // file (written just after the launch).
    agent.wait_status(ENV, "deploying 2.0.0", |s| {
        s["operation"]["name"] == "deploy 2.0.0 to green"
            && slot(s, "green")["state"] == "starting"
            && agent.recorded_pid(ENV, "green").is_some()
    });
    let pid = agent
        .recorded_pid(ENV, "green")
        .expect("the starting app is recorded");
    assert!(alive(pid));

    agent.kill9();
    let cut = deploying.join().unwrap();
    assert!(cut.is_err(), "the deploy was answered: {cut:?}");
    agent.launch();

    wait_front(front, "1.0.0");
    let status = agent.status(ENV);
    assert_eq!(status["live"], "blue");
    assert_eq!(status["operation"], Value::Null);
    assert_eq!(slot(&status, "blue")["state"], "live");
    let green = slot(&status, "green");
    assert_eq!(green["state"], "failed", "{status:#}");
    assert_eq!(green["version"], "2.0.0");
    assert_eq!(green["pid"], Value::Null);
    let error = green["error"].as_str().unwrap_or_default();
    assert!(error.contains("agent stopped"), "{status:#}");
    // Nothing of the interrupted release runs.
    wait_gone(pid);
    assert_eq!(
        processes_in(&agent.dir.join("releases/2.0.0")),
        Vec::<i32>::new()
    );

    // And the environment takes a new deploy.
    let slot_name = agent.deploy_and_swap(ENV, &agent.release("3.0.0", None));
    assert_eq!(slot_name, "green");
    assert_front(front, "3.0.0");
}

#[test]
fn a_restarted_agent_adopts_the_apps_or_starts_them_again() {
    let mut agent = Agent::start();
    let front = agent.declare(ENV, &json!({ "keep_warm_secs": 600 }));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    agent.deploy_and_swap(ENV, &agent.release("2.0.0", None));
    agent.swap(ENV).expect(200);
    assert_front(front, "1.0.0");
    let before = agent.status(ENV);
    assert_eq!(slot(&before, "blue")["state"], "live");
    assert_eq!(slot(&before, "green")["state"], "warm");
    let (blue, green) = pids(&before);

    // Killed: the apps keep running and the next agent adopts them.
    agent.kill9();
    assert!(alive(blue as i32) && alive(green as i32));
    agent.launch();
    let after = agent.wait_status(ENV, "both slots healthy", |s| {
        slot(s, "blue")["healthy"] == true && slot(s, "green")["healthy"] == true
    });
    assert_eq!(pids(&after), (blue, green), "{after:#}");
    assert_eq!(slot(&after, "blue")["state"], "live");
    assert_eq!(slot(&after, "green")["state"], "warm");
    assert_eq!(
        slot(&after, "green")["warm_until"],
        slot(&before, "green")["warm_until"]
    );
    wait_front(front, "1.0.0");

    // Stopped: the same.
    agent.restart();
    assert_eq!(pids(&agent.status(ENV)), (blue, green));
    wait_front(front, "1.0.0");

    // The apps die with the agent: the next agent starts them again.
    agent.kill9();
    agent.kill_apps();
    wait_gone(blue as i32);
    wait_gone(green as i32);
    agent.launch();
    let again = agent.wait_status(ENV, "both slots started again", |s| {
        let (b, g) = (slot(s, "blue"), slot(s, "green"));
        b["healthy"] == true
            && g["healthy"] == true
            && b["pid"].as_i64().is_some_and(|p| p != blue)
            && g["pid"].as_i64().is_some_and(|p| p != green)
    });
    assert_eq!(again["live"], "blue");
    assert_eq!(slot(&again, "blue")["state"], "live");
    assert_eq!(slot(&again, "blue")["version"], "1.0.0");
    assert_eq!(slot(&again, "green")["state"], "warm");
    assert_eq!(slot(&again, "green")["version"], "2.0.0");
    wait_front(front, "1.0.0");
    // The warm slot started again is one switch away.
    agent.swap(ENV).expect(200);
    assert_front(front, "2.0.0");
}
