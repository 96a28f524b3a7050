//! What the front counts of each slot's traffic: in the environment's JSON
//! and at `GET /metrics` in Prometheus' text exposition format, behind the
//! admin token.

use serde_json::{Value, json};

use crate::harness::{Agent, ENV, slot};
use crate::http;

/// The value of the sample `name{labels}` in `text`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_front_counts_answers_by_class_and_latency_per_slot() {
    let agent = Agent::start();
    let front = agent.declare(ENV, &json!({ "keep_warm_secs": 600 }));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    for _ in 0..5 {
        assert_eq!(http::get(front, "/").unwrap().0, 200);
    }
    for _ in 0..2 {
        assert_eq!(http::get(front, "/status?code=503").unwrap().0, 503);
    }
    assert_eq!(http::get(front, "/no-such-page").unwrap().0, 404);
    assert_eq!(http::get(front, "/slow?ms=300").unwrap().0, 200);

    let status = agent.status(ENV);
    let traffic = &slot(&status, "blue")["traffic"];
    assert_eq!(traffic["requests"], 9, "{status:#}");
    assert_eq!(traffic["responses_2xx"], 6);
    assert_eq!(traffic["responses_5xx"], 2);
    assert_eq!(traffic["responses_4xx"], 1);
    assert_eq!(traffic["failed"], 0);
    assert!(traffic["latency_sum_seconds"].as_f64().unwrap() >= 0.3);
    assert_eq!(slot(&status, "green")["traffic"]["requests"], 0);

    // Prometheus' format, behind the token.
    let auth = format!("Bearer {}", agent.token);
    let (code, headers, body) = http::request(
        agent.addr,
        "GET",
        "/metrics",
        &[("Authorization", &auth)],
        b"",
    )
    .unwrap();
    assert_eq!(code, 200);
    assert!(
        headers
            .get("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{headers:?}"
    );
    let text = String::from_utf8(body).unwrap();
    let series =
        |name: &str, labels: &str| format!("{name}{{env=\"{ENV}\",slot=\"blue\"{labels}}}");
    let total = |class: &str| {
        sample(
            &text,
            &series(
                "pipeline_agent_requests_total",
                &format!(",class=\"{class}\""),
            ),
        )
    };
    assert_eq!(total("2xx"), Some(6.0), "{text}");
    assert_eq!(total("5xx"), Some(2.0), "{text}");
    assert_eq!(total("4xx"), Some(1.0), "{text}");
    assert_eq!(total("failed"), Some(0.0), "{text}");
    let count = sample(&text, &series("pipeline_agent_response_seconds_count", ""));
    assert_eq!(count, Some(9.0), "{text}");
    // The slow request is above 0.25 s and within 0.5 s: the buckets are
    // cumulative and end with +Inf.
    let bucket = |le: &str| {
        sample(
            &text,
            &series(
                "pipeline_agent_response_seconds_bucket",
                &format!(",le=\"{le}\""),
            ),
        )
    };
    assert_eq!(bucket("0.25"), Some(8.0), "{text}");
    assert_eq!(bucket("0.5"), Some(9.0), "{text}");
    assert_eq!(bucket("+Inf"), Some(9.0), "{text}");
    assert_eq!(
        sample(&text, &series("pipeline_agent_slot_live", "")),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains("# TYPE pipeline_agent_response_seconds histogram"));

    // Without the token: refused, nothing said.
    let r = agent.call_as(None, "GET", "/metrics", None, b"");
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(!r.text.contains("pipeline_agent"), "{}", r.text);
    assert_eq!(r.body["error"]["code"], Value::from("Unauthorized"));
}
