//! What the agent refuses: requests without the token, bodies it cannot
//! read, artifacts that are not what they claim, and set-ups it cannot run
//! in. Each refusal leaves nothing behind.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::DirBuilderExt as _;
use std::process::Command;
use std::time::Duration;

use pipeline_artifact::Sha256Digest;
use serde_json::{Value, json};

use crate::harness::{AGENT_BIN, Agent, ENV, free_port, run_bounded, scrub, slot, spec};

/// The entries of the releases directory, and those of its own
/// directories (`.meta/1.0.0`, `.staging/…`), not the releases' files.
pub(crate) fn releases(agent: &Agent) -> Vec<String> {
    let root = agent.dir.join("releases");
    let mut names = Vec::new();
    for entry in fs::read_dir(&root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && entry.path().is_dir() {
            for inner in fs::read_dir(entry.path()).unwrap().flatten() {
                names.push(format!("{name}/{}", inner.file_name().to_string_lossy()));
            }
        } else {
            names.push(name);
        }
    }
    names.sort();
    names
}

/// Bytes that look random, the same every run.
fn junk(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn requests_without_the_token_or_with_bad_bodies_change_nothing() {
    let agent = Agent::start();
    let front = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let body = spec(front, &json!({})).to_string();
    let path = format!("/v1/envs/{ENV}");

    let wrong: String = agent
        .token
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    for token in [None, Some(wrong.as_str()), Some("")] {
        let reply = agent
            .call_as(
                token,
                "PUT",
                &path,
                Some("application/json"),
                body.as_bytes(),
            )
            .expect_error(401, "Unauthorized");
        assert!(!reply.text.contains(&agent.token), "{}", reply.text);
        assert!(!reply.text.contains(&wrong), "{}", reply.text);
        agent
            .call_as(token, "GET", "/v1/envs", None, b"")
            .expect_error(401, "Unauthorized");
    }
    // The front of the refused declaration is not listening.
    assert!(TcpStream::connect_timeout(&front, Duration::from_secs(1)).is_err());
    // The scheme is case-insensitive (RFC 9110, 11.1).
    for scheme in ["BEARER", "bearer", "bEaReR"] {
        let auth = format!("{scheme} {}", agent.token);
        let (status, _, body) = crate::http::request(
            agent.addr,
            "GET",
            "/v1/envs",
            &[("Authorization", &auth)],
            b"",
        )
        .unwrap();
        assert_eq!(status, 200, "{scheme}: {}", String::from_utf8_lossy(&body));
    }

    let reply = agent
        .call(
            "PUT",
            &path,
            b"{\n  \"front\": \"127.0.0.1:8080\",\n  \"command\":\n}\n",
        )
        .expect_error(400, "BadJson");
    assert!(
        reply.message().contains("line 4 column 1"),
        "{}",
        reply.text
    );

    let typo = spec(front, &json!({ "helth_path": "/ready" }));
    let reply = agent.put_env(ENV, &typo).expect_error(400, "BadJson");
    assert!(reply.message().contains("`helth_path`"), "{}", reply.text);
    assert!(reply.message().contains("line 1 column"), "{}", reply.text);

    let reply = agent
        .put_env("Not_A_Name", &spec(front, &json!({})))
        .expect_error(400, "BadRequest");
    assert!(reply.message().contains("Not_A_Name"), "{}", reply.text);

    let reply = agent
        .put_env(ENV, &spec(front, &json!({ "health_path": "health" })))
        .expect_error(400, "BadRequest");
    assert!(reply.message().contains("health_path"), "{}", reply.text);
    let reply = agent
        .put_env(ENV, &spec(front, &json!({ "env": { "PORT": "1" } })))
        .expect_error(400, "BadRequest");
    assert!(reply.message().contains("PORT"), "{}", reply.text);

    agent
        .get("/v1/envs/nope")
        .expect_error(404, "UnknownEnvironment");
    agent
        .call("POST", "/v1/envs/nope/swap", b"")
        .expect_error(404, "UnknownEnvironment");
    agent.get("/v2/anything").expect_error(404, "NotFound");
    let reply = agent
        .call("DELETE", &path, b"")
        .expect_error(405, "MethodNotAllowed");
    assert!(reply.message().contains("DELETE"), "{}", reply.text);
    agent
        .get(&format!("/v1/envs/{ENV}/swap"))
        .expect_error(405, "MethodNotAllowed");

    // After all that, still nothing.
    assert_eq!(
        agent.get("/v1/envs").expect(200).body,
        json!({ "envs": [] })
    );
    assert!(TcpStream::connect_timeout(&front, Duration::from_secs(1)).is_err());
}

#[test]
fn artifacts_that_are_not_what_they_claim_are_not_kept() {
    let agent = Agent::start();
    let front = agent.declare(ENV, &json!({}));
    // One front, one environment.
    let reply = agent
        .put_env("other", &spec(front, &json!({})))
        .expect_error(400, "BadRequest");
    assert!(
        reply.message().contains(&format!("`{ENV}`")),
        "{}",
        reply.text
    );
    agent
        .get("/v1/envs/other")
        .expect_error(404, "UnknownEnvironment");
    let good = agent.release("1.0.0", None);

    // Another digest than the bytes have.
    let claimed = Sha256Digest::of(b"some other artifact").to_string();
    let reply = agent
        .deploy_bytes(ENV, "1.0.0", &claimed, &good.bytes())
        .expect_error(400, "DigestMismatch");
    assert!(reply.message().contains(&claimed), "{}", reply.text);
    assert!(reply.message().contains(&good.sha256), "{}", reply.text);
    assert!(!agent.dir.join("releases/1.0.0").exists());
    assert_eq!(releases(&agent), Vec::<String>::new());

    // The right digest of bytes that are not a zip.
    let bytes = junk(64 << 10);
    let sha = Sha256Digest::of(&bytes).to_string();
    agent
        .deploy_bytes(ENV, "1.0.1", &sha, &bytes)
        .expect_error(400, "CorruptArtifact");
    assert_eq!(releases(&agent), Vec::<String>::new());

    // Query parameters that are not a digest or a version.
    agent
        .deploy_bytes(ENV, "1.0.0", "abc", &good.bytes())
        .expect_error(400, "BadRequest");
    agent
        .deploy_bytes(ENV, "..", &good.sha256, &good.bytes())
        .expect_error(400, "BadRequest");
    assert_eq!(releases(&agent), Vec::<String>::new());

    // None of it touched the slots or the front.
    let status = agent.status(ENV);
    assert_eq!(status["live"], Value::Null);
    assert_eq!(slot(&status, "blue")["state"], "empty");
    assert_eq!(slot(&status, "green")["state"], "empty");
    assert_eq!(crate::harness::front_get(front, "/").0, 503);

    // The good artifact goes in; another one under its version does not.
    agent.deploy(ENV, &good).expect(200);
    assert_eq!(releases(&agent), [".meta/1.0.0", "1.0.0"]);
    let impostor = agent.release("1.0.0", Some("# other bytes\n"));
    assert_ne!(impostor.sha256, good.sha256);
    let reply = agent
        .deploy(ENV, &impostor)
        .expect_error(409, "ReleaseConflict");
    assert!(reply.message().contains("1.0.0"), "{}", reply.text);
    assert!(reply.message().contains(&good.sha256), "{}", reply.text);
    let status = agent.status(ENV);
    assert_eq!(slot(&status, "blue")["state"], "idle");
    assert_eq!(slot(&status, "blue")["sha256"], good.sha256.as_str());
    assert_eq!(releases(&agent), [".meta/1.0.0", "1.0.0"]);
}

fn serve(dir: &std::path::Path, listen: &str) -> std::process::Output {
    let mut cmd = Command::new(AGENT_BIN);
    cmd.args(["serve", "--state-dir"])
        .arg(dir)
        .args(["--listen", listen]);
    run_bounded(scrub(&mut cmd), Duration::from_secs(30))
}

#[test]
fn serve_refuses_what_it_cannot_run_in() {
    let scratch = tempfile::tempdir().unwrap();

    let out = serve(&scratch.path().join("anywhere"), "0.0.0.0:0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("0.0.0.0:0") && stderr.contains("loopback"),
        "{stderr}"
    );

    let corrupt = scratch.path().join("corrupt");
    fs::DirBuilder::new().mode(0o700).create(&corrupt).unwrap();
    fs::write(
        corrupt.join("state.json"),
        "{\n  \"format\": 1,\n  \"envs\": {\"qa\": 3}\n}\n",
    )
    .unwrap();
    let out = serve(&corrupt, "127.0.0.1:0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&corrupt.join("state.json").display().to_string()),
        "{stderr}"
    );
    // The cause, once ("line 3 column 11: … at line 3 column 11" was said
    // twice).
    assert_eq!(stderr.matches("line 3").count(), 1, "{stderr}");
    // The state file is left as it was.
    assert!(
        fs::read_to_string(corrupt.join("state.json"))
            .unwrap()
            .contains("\"qa\": 3")
    );

    // A format this agent does not know: refused, named, left as it is.
    let newer = "{\n  \"format\": 7,\n  \"envs\": {},\n  \"tenants\": {\"a\": 1}\n}\n";
    fs::write(corrupt.join("state.json"), newer).unwrap();
    let out = serve(&corrupt, "127.0.0.1:0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: state format 7 is not one this agent reads (1 or 2)",
            corrupt.join("state.json").display()
        )),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(corrupt.join("state.json")).unwrap(),
        newer
    );

    let open = scratch.path().join("open");
    fs::DirBuilder::new().mode(0o700).create(&open).unwrap();
    fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = serve(&open, "127.0.0.1:0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("can be written by its group or others (mode 777)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("chmod go-w {}", open.display())),
        "{stderr}"
    );
    assert!(!open.join("token").exists());

    let mut agent = Agent::start();
    let out = run_bounded(&mut agent.serve_command(), Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("another agent runs on {}", agent.dir.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("\"pid\":{}", agent.pid())),
        "{stderr}"
    );
    // The first agent is untouched, and still the one in agent.json.
    agent.get("/v1/envs").expect(200);
    let info: Value =
        serde_json::from_str(&fs::read_to_string(agent.dir.join("agent.json")).unwrap()).unwrap();
    assert_eq!(info["pid"], agent.pid());

    // `pipeline-agent status`: no agent there (2), an agent that does not
    // answer (3).
    let status = |dir: &std::path::Path| {
        let mut cmd = Command::new(AGENT_BIN);
        cmd.args(["status", "--state-dir"]).arg(dir);
        run_bounded(scrub(&mut cmd), Duration::from_secs(30))
    };
    let out = status(&open);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(agent.stop().success());
    let out = status(&agent.dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("did not answer"), "{stderr}");
}
