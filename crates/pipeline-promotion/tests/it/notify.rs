//! `[[notify]]`: webhooks on loopback receivers (real HTTP servers of the
//! test's own) told of a promotion into an App Service slot on the Azure
//! fake; a webhook that fails is a warning and changes nothing.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use pipeline_ci::Env;
use pipeline_http::Http;
use pipeline_promotion::{
    AnyStore, Event, GateEvidence, PromoteError, PromoteOutcome, PromoteRequest, Promoter,
};
use pipeline_testkit::{FakeAzure, Health, artifact};
use serde_json::Value;

use crate::fixture::TestRepo;

/// An HTTP/1.1 server on loopback answering every request with `status`,
/// keeping each request's path and body.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Receiver {
    fn start(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/hooks/T0KEN-SECRET",
            listener.local_addr().unwrap()
        );
        let got = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&got);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = header.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                kept.lock()
                    .unwrap()
                    .push((path, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, got }
    }

    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

fn config(dir: &Path) -> pipeline_config::PipelineConfig {
    crate::fixture::azure_config(
        dir,
        r#"
[[notify]]
url_var = "HOOK_JSON"

[[notify]]
url_var = "HOOK_SLACK"
format = "slack"
on = ["success", "failure"]
"#,
    )
}

fn vars(fake: &FakeAzure, hooks: &[(&str, &str)]) -> Env {
    crate::fixture::azure_vars(fake, "notify-test", hooks)
}

fn http() -> Http {
    crate::fixture::quick_http("notify-test")
}

#[tokio::test]
async fn webhooks_are_told_and_one_that_fails_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let azure = FakeAzure::builder()
        .health(Health {
            unavailable: 0,
            stale: 0,
        })
        .start()
        .await;
    let build = dir.path().join("build");
    std::fs::create_dir_all(&build).unwrap();
    let a = artifact(&build, 8 << 10);
    let remote = TestRepo::remote();
    let clone = TestRepo::clone_of(&remote, &[]);
    let json = Receiver::start(200);
    let slack = Receiver::start(500);
    let promoter = |vars: Env| {
        Promoter::with_store(
            config(dir.path()),
            "pipeline.toml",
            dir.path(),
            http(),
            vars,
            AnyStore::Git(clone.store()),
        )
    };
    let request = PromoteRequest::to("prod")
        .version("1.1.0")
        .artifact(a.sha256.parse().unwrap(), Some(a.path.clone()))
        .gate(GateEvidence::parse(r#"{"gate":{"passed":true}}"#).unwrap());

    // A webhook's variable unset: refused before anything is done.
    let before = azure.serving(None);
    let without = promoter(vars(&azure, &[("HOOK_JSON", &json.url)]));
    let e = without.promote(&request, &mut |_| {}).await.unwrap_err();
    assert!(matches!(e, PromoteError::Setup(_)), "{e}");
    assert!(e.to_string().contains("HOOK_SLACK is not set"), "{e}");
    assert_eq!(azure.serving(None), before);
    assert!(json.bodies().is_empty());

    let mut warnings = Vec::new();
    let outcome = promoter(vars(
        &azure,
        &[("HOOK_JSON", &json.url), ("HOOK_SLACK", &slack.url)],
    ))
    .promote(&request, &mut |e| {
        if let Event::Warning(w) = e {
            warnings.push(w);
        }
    })
    .await
    .unwrap();
    // The promotion went live although the Slack webhook answered 500.
    let PromoteOutcome::Finished(run) = outcome else {
        panic!("not finished: {outcome:?}");
    };
    assert_eq!(run.exit(), pipeline_ci::Exit::Success);
    assert_eq!(azure.serving(None).as_deref(), Some("1.1.0"));

    // The JSON webhook: the start and the success, typed documents.
    let told = json.bodies();
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(told[0]["event"], "start");
    assert_eq!(told[1]["event"], "success");
    for doc in &told {
        assert_eq!(doc["schema"], "pipeline-promote/notice/v1");
        assert_eq!(doc["env"], "prod");
        assert_eq!(doc["version"], "1.1.0");
        assert_eq!(doc["sha256"], a.sha256.as_str());
        assert_eq!(doc["by"], "notify-test");
    }
    assert!(
        told[1]["url"].as_str().is_some_and(|u| !u.is_empty()),
        "{}",
        told[1]
    );
    // Slack: only what it asked for, once (a POST that may have landed is
    // not sent again), in its shape.
    let said = slack.bodies();
    assert_eq!(said.len(), 1, "{said:?}");
    let text = said[0]["text"].as_str().unwrap();
    assert!(
        text.contains("prod") && text.contains("1.1.0 live"),
        "{text}"
    );
    // Its failure is a warning naming the variable, never the URL (beside
    // the one saying the gate, which names no commit, was taken on its word).
    let hooks: Vec<&String> = warnings.iter().filter(|w| w.contains("webhook")).collect();
    assert_eq!(hooks.len(), 1, "{warnings:?}");
    assert!(
        hooks[0].contains("HOOK_SLACK") && hooks[0].contains("500"),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().all(|w| !w.contains("T0KEN-SECRET")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("names no commit")),
        "{warnings:?}"
    );
}
