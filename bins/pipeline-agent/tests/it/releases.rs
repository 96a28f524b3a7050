//! Releases on disk: any version is a release, whatever it looks like
//! (`1.0.0.sha256`, `1.0.0.partial-x`); one release serves many
//! environments, deployed at the same moment; a state directory of the
//! first layout is moved to the current one without losing a release.

use std::fs;
use std::sync::Barrier;

use serde_json::{Value, json};

use crate::bad_input::releases;
use crate::harness::{Agent, ENV, assert_front, slot, wait_front};

#[test]
fn versions_that_look_like_the_agents_own_files_are_releases() {
    let mut agent = Agent::start();
    let front = agent.declare(ENV, &json!({ "keep_warm_secs": 600 }));
    // Each order: the plain version first, then the one that looks like
    // its digest file, and the other way round.
    for (first, second) in [("1.0.0", "1.0.0.sha256"), ("2.0.0.sha256", "2.0.0")] {
        for version in [first, second] {
            let release = agent.release(version, Some(&format!("# {version}\n")));
            agent.deploy_and_swap(ENV, &release);
            assert_front(front, version);
        }
    }
    let partial = agent.release("1.0.0.partial-x", None);
    agent.deploy_and_swap(ENV, &partial);
    assert_front(front, "1.0.0.partial-x");
    let all = [
        "1.0.0",
        "1.0.0.partial-x",
        "1.0.0.sha256",
        "2.0.0",
        "2.0.0.sha256",
    ];
    let mut expected: Vec<String> = all.iter().map(|v| format!(".meta/{v}")).collect();
    expected.extend(all.iter().map(|v| (*v).to_owned()));
    expected.sort();
    assert_eq!(releases(&agent), expected);

    // A restart deletes none of them and reads each as it is.
    agent.restart();
    assert_eq!(releases(&agent), expected);
    wait_front(front, "1.0.0.partial-x");
    let status = agent.status(ENV);
    let live = slot(&status, status["live"].as_str().unwrap());
    assert_eq!(live["version"], "1.0.0.partial-x");
    assert_eq!(live["sha256"], partial.sha256.as_str());
    for version in ["1.0.0", "1.0.0.sha256", "2.0.0.sha256"] {
        let reply = agent
            .call(
                "POST",
                &format!("/v1/envs/{ENV}/rollback"),
                json!({ "to_version": version }).to_string().as_bytes(),
            )
            .expect(200);
        assert_eq!(reply.body["live_version"], version, "{}", reply.text);
        assert_front(front, version);
    }
}

#[test]
fn one_release_deployed_to_two_environments_at_once() {
    let agent = Agent::start();
    let fronts = [
        agent.declare("qa", &json!({})),
        agent.declare("staging", &json!({})),
    ];
    for round in 0..4 {
        let release = agent.release(&format!("{round}.1.0"), None);
        let both = Barrier::new(2);
        let replies: Vec<_> = std::thread::scope(|s| {
            let threads: Vec<_> = ["qa", "staging"]
                .into_iter()
                .map(|env| {
                    let (agent, release, both) = (&agent, &release, &both);
                    s.spawn(move || {
                        both.wait();
                        agent.deploy(env, release)
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for reply in replies {
            let reply = reply.expect(200);
            assert_eq!(reply.body["sha256"], release.sha256.as_str());
        }
        for env in ["qa", "staging"] {
            agent.swap(env).expect(200);
        }
        for front in fronts {
            assert_front(front, &release.version);
        }
    }
    // Stored once each, nothing left in the making.
    let listed = releases(&agent);
    assert_eq!(listed.len(), 8, "{listed:?}");
    assert!(
        listed.iter().all(|n| !n.starts_with(".staging")),
        "{listed:?}"
    );
}

/// Moves the agent's releases back to the layout of state format 1, as an
/// agent of that format left them: `<version>.sha256` beside each release,
/// an upload and an unpack a crash interrupted.
fn to_format_1(agent: &Agent) {
    let dir = agent.dir.join("releases");
    for entry in fs::read_dir(dir.join(".meta")).unwrap().flatten() {
        let version = entry.file_name().to_string_lossy().into_owned();
        fs::rename(entry.path(), dir.join(format!("{version}.sha256"))).unwrap();
    }
    fs::remove_dir(dir.join(".meta")).unwrap();
    let _ = fs::remove_dir_all(dir.join(".staging"));
    fs::write(dir.join(".incoming-77-0.zip"), b"half an upload").unwrap();
    fs::create_dir_all(dir.join("3.0.0.partial-0123456789abcdef/lib")).unwrap();
    let path = agent.dir.join("state.json");
    let mut state: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    state["format"] = json!(1);
    for env in state["envs"].as_object_mut().unwrap().values_mut() {
        for slot in env["slots"].as_array_mut().unwrap() {
            slot.as_object_mut().unwrap().remove("cut_requests");
        }
        env["spec"]
            .as_object_mut()
            .unwrap()
            .remove("drain_timeout_secs");
    }
    fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
}

#[test]
fn a_state_directory_of_format_1_is_moved_without_losing_a_release() {
    let mut agent = Agent::start();
    let front = agent.declare(ENV, &json!({ "keep_warm_secs": 600 }));
    let first = agent.release("1.0.0", None);
    agent.deploy_and_swap(ENV, &first);
    agent.deploy_and_swap(ENV, &agent.release("1.0.0.partial-x", None));
    assert!(agent.stop().success());
    to_format_1(&agent);

    agent.launch();
    wait_front(front, "1.0.0.partial-x");
    assert_eq!(
        releases(&agent),
        [
            ".meta/1.0.0",
            ".meta/1.0.0.partial-x",
            "1.0.0",
            "1.0.0.partial-x"
        ]
    );
    assert_eq!(agent.state_file()["format"], 2);
    let reply = agent.rollback(ENV).expect(200);
    assert_eq!(reply.body["live_version"], "1.0.0");
    assert_front(front, "1.0.0");
    assert_eq!(
        slot(&agent.status(ENV), "blue")["sha256"],
        first.sha256.as_str()
    );
}
