//! Which answers are retried, which fail at once, and what the error says.

use std::time::Duration;

use pipeline_http::{Blame, Body, HttpError, Method, Request, StatusCode};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{
    ATTEMPTS, Envelope, Recorder, Seq, arm_error, at, fast, fixture, http, later, received,
    refused_port,
};

#[tokio::test]
async fn get_answered_500_then_200_succeeds_on_the_second_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/thing"))
        .respond_with(Seq::new([
            ResponseTemplate::new(500).set_body_string("Internal Server Error"),
            ResponseTemplate::new(200).set_body_json(json!({ "name": "thing" })),
        ]))
        .mount(&server)
        .await;
    let progress = Recorder::new();

    let reply = http(&progress)
        .send(
            &Request::new("read thing", Method::GET, at(&server, "/thing")),
            later(),
        )
        .await
        .unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    let body: serde_json::Value = reply.json("read thing").unwrap();
    assert_eq!(body["name"], "thing");
    assert_eq!(received(&server, Some("/thing")).await.len(), 2);
    let retries = progress.retries();
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert_eq!(retries[0].0, 1);
    assert!(retries[0].2.contains("500"), "{}", retries[0].2);
}

#[tokio::test]
async fn throttled_429_waits_the_retry_after_then_succeeds() {
    // The ARM throttling reply as recorded, but asking for 1 s, not 17.
    let throttled = Envelope::load("arm/error.429.envelope.json");
    assert_eq!(throttled.header("Retry-After"), Some("17"));
    let throttled = throttled.with_header("Retry-After", "1");
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Seq::new([
            throttled.reply(),
            ResponseTemplate::new(200).set_body_json(json!({ "value": [] })),
        ]))
        .mount(&server)
        .await;
    let progress = Recorder::new();

    let reply = http(&progress)
        .send(
            &Request::new("list", Method::GET, at(&server, "/subscriptions")),
            later(),
        )
        .await
        .unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(received(&server, None).await.len(), 2);
    // The wait chosen is the service's (1 s), not the policy's backoff
    // (at most 5 ms): this is the computed wait, not a measured one.
    let retries = progress.retries();
    assert_eq!(retries.len(), 1);
    assert_eq!(retries[0].1, Duration::from_secs(1));
    assert!(
        retries[0].2.contains("SubscriptionRequestsThrottled"),
        "{}",
        retries[0].2
    );
    assert!(
        retries[0]
            .2
            .contains("33333333-3333-3333-3333-333333333333"),
        "the request id is reported: {}",
        retries[0].2
    );
}

#[tokio::test]
async fn a_long_retry_after_is_cut_to_the_policy_cap_and_a_throttled_post_is_retried() {
    // The fixture verbatim (Retry-After: 17), with a policy that honours at
    // most 10 ms. 429 means the service did nothing, so even a POST goes
    // again.
    let throttled = Envelope::load("arm/error.429.envelope.json");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Seq::new([throttled.reply(), ResponseTemplate::new(200)]))
        .mount(&server)
        .await;
    let progress = Recorder::new();
    let policy = pipeline_http::RetryPolicy {
        max_retry_after: Duration::from_millis(10),
        ..fast()
    };

    let reply = http(&progress)
        .with_policy(policy)
        .send(
            &Request::new("swap", Method::POST, at(&server, "/slotsswap"))
                .body(Body::json(&fixture("arm/slotsswap.request.json"))),
            later(),
        )
        .await
        .unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    let requests = received(&server, None).await;
    assert_eq!(requests.len(), 2);
    // The body went out again, whole.
    assert_eq!(requests[0].body, requests[1].body);
    assert_eq!(
        requests[1].body_json::<serde_json::Value>().unwrap(),
        fixture("arm/slotsswap.request.json")
    );
    assert_eq!(progress.retries()[0].1, Duration::from_millis(10));
}

#[tokio::test]
async fn retry_after_ms_wins_over_the_backoff() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Seq::new([
            ResponseTemplate::new(503).insert_header("retry-after-ms", "30"),
            ResponseTemplate::new(200),
        ]))
        .mount(&server)
        .await;
    let progress = Recorder::new();

    http(&progress)
        .send(
            &Request::new("read", Method::GET, at(&server, "/x")),
            later(),
        )
        .await
        .unwrap();

    assert_eq!(received(&server, None).await.len(), 2);
    assert_eq!(progress.retries()[0].1, Duration::from_millis(30));
}

#[tokio::test]
async fn always_503_gives_up_after_max_attempts_with_the_service_code() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(arm_error(
                    "ServerBusy",
                    "The server is currently unable to handle the request.",
                ))
                .insert_header("x-ms-request-id", "req-503"),
        )
        .mount(&server)
        .await;
    let progress = Recorder::new();

    let err = http(&progress)
        .send(
            &Request::new("read slot", Method::GET, at(&server, "/slot")),
            later(),
        )
        .await
        .unwrap_err();

    let HttpError::Exhausted { attempts, last, .. } = &err else {
        panic!("not Exhausted: {err:?}");
    };
    assert_eq!(*attempts, ATTEMPTS);
    assert_eq!(*attempts, fast().max_attempts);
    let HttpError::Status {
        status,
        service,
        request_id,
        ..
    } = &**last
    else {
        panic!("last is not Status: {last:?}");
    };
    assert_eq!(*status, 503);
    assert_eq!(service.code.as_deref(), Some("ServerBusy"));
    assert_eq!(request_id.as_deref(), Some("req-503"));
    let text = err.to_string();
    assert!(text.contains("ServerBusy"), "{text}");
    assert!(text.contains("read slot"), "{text}");
    assert!(text.contains(&format!("{ATTEMPTS} attempts")), "{text}");
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.blame(), Blame::External);
    assert_eq!(received(&server, None).await.len(), ATTEMPTS as usize);
    let attempts_reported: Vec<u32> = progress.retries().iter().map(|r| r.0).collect();
    assert_eq!(attempts_reported, (1..ATTEMPTS).collect::<Vec<_>>());
}

#[tokio::test]
async fn post_answered_502_fails_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Seq::new([
            ResponseTemplate::new(502).set_body_string("Bad Gateway"),
            ResponseTemplate::new(200),
        ]))
        .mount(&server)
        .await;
    let progress = Recorder::new();

    let err = http(&progress)
        .send(
            &Request::new("swap", Method::POST, at(&server, "/slotsswap")),
            later(),
        )
        .await
        .unwrap_err();

    let HttpError::Status {
        status, service, ..
    } = &err
    else {
        panic!("not Status: {err:?}");
    };
    assert_eq!(*status, 502);
    assert_eq!(service.message.as_deref(), Some("Bad Gateway"));
    assert_eq!(received(&server, None).await.len(), 1);
    assert!(progress.retries().is_empty());
}

#[tokio::test]
async fn post_answered_503_then_200_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Seq::new([
            ResponseTemplate::new(503),
            ResponseTemplate::new(200).set_body_string("done"),
        ]))
        .mount(&server)
        .await;

    let reply = http(&Recorder::new())
        .send(
            &Request::new("swap", Method::POST, at(&server, "/slotsswap")),
            later(),
        )
        .await
        .unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], b"done");
    assert_eq!(received(&server, None).await.len(), 2);
}

#[tokio::test]
async fn post_declared_idempotent_is_retried_on_502() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Seq::new([
            ResponseTemplate::new(502),
            ResponseTemplate::new(200),
        ]))
        .mount(&server)
        .await;

    let reply = http(&Recorder::new())
        .send(
            &Request::new("list settings", Method::POST, at(&server, "/list")).idempotent(true),
            later(),
        )
        .await
        .unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(received(&server, None).await.len(), 2);
}

#[tokio::test]
async fn kudu_409_deployment_in_progress_is_waited_out() {
    let busy = Envelope::load("kudu/error.409.envelope.json");
    assert!(busy.body.is_string(), "Kudu answers in plain text");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/publish"))
        .respond_with(Seq::new([
            busy.reply(),
            ResponseTemplate::new(202).insert_header("Location", "/api/deployments/latest"),
        ]))
        .mount(&server)
        .await;
    let progress = Recorder::new();

    let reply = http(&progress)
        .send(
            &Request::new("publish", Method::POST, at(&server, "/api/publish")),
            later(),
        )
        .await
        .unwrap();

    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(received(&server, None).await.len(), 2);
    assert!(progress.retries()[0].2.contains("currently in progress"));
}

#[tokio::test]
async fn arm_409_another_operation_in_progress_is_waited_out() {
    // App Service's PascalCase, unwrapped error shape.
    for rel in ["arm/error.409.json", "arm/error.409.camelcase.json"] {
        let server = MockServer::start().await;
        Mock::given(method("PUT"))
            .respond_with(Seq::new([
                ResponseTemplate::new(409).set_body_json(fixture(rel)),
                ResponseTemplate::new(200),
            ]))
            .mount(&server)
            .await;

        let reply = http(&Recorder::new())
            .send(
                &Request::new("update slot", Method::PUT, at(&server, "/slot")),
                later(),
            )
            .await
            .unwrap();

        assert_eq!(reply.status, StatusCode::OK, "{rel}");
        assert_eq!(received(&server, None).await.len(), 2, "{rel}");
    }
}

#[tokio::test]
async fn kudu_409_auto_swap_ongoing_is_waited_out() {
    let busy = Envelope::load("kudu/error.409.autoswap.envelope.json");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Seq::new([busy.reply(), ResponseTemplate::new(200)]))
        .mount(&server)
        .await;

    let reply = http(&Recorder::new())
        .send(
            &Request::new("publish", Method::POST, at(&server, "/api/publish")),
            later(),
        )
        .await
        .unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(received(&server, None).await.len(), 2);
}

#[tokio::test]
async fn an_unrelated_409_fails_at_once_with_the_service_message() {
    let server = MockServer::start().await;
    let message = "Website with given name pipeline-app already exists.";
    Mock::given(method("PUT"))
        .respond_with(Seq::new([
            ResponseTemplate::new(409).set_body_json(arm_error("Conflict", message)),
            ResponseTemplate::new(200),
        ]))
        .mount(&server)
        .await;

    let err = http(&Recorder::new())
        .send(
            &Request::new("create site", Method::PUT, at(&server, "/site")),
            later(),
        )
        .await
        .unwrap_err();

    let HttpError::Status {
        status, service, ..
    } = &err
    else {
        panic!("not Status: {err:?}");
    };
    assert_eq!(*status, 409);
    assert_eq!(service.code.as_deref(), Some("Conflict"));
    assert_eq!(service.message.as_deref(), Some(message));
    assert!(err.to_string().contains(message), "{err}");
    assert_eq!(received(&server, None).await.len(), 1);
}

#[tokio::test]
async fn caller_errors_fail_at_once_with_the_arm_code() {
    let forbidden = arm_error(
        "AuthorizationFailed",
        "The client '22222222-2222-2222-2222-222222222222' with object id \
         '22222222-2222-2222-2222-222222222222' does not have authorization to perform \
         action 'Microsoft.Web/sites/slots/write'.",
    );
    let cases = [
        (
            400,
            fixture("arm/error.400.arm-common.json"),
            "InvalidRequestContent",
        ),
        (403, forbidden, "AuthorizationFailed"),
        (404, fixture("arm/slot-get.404.json"), "ResourceNotFound"),
        (
            404,
            fixture("arm/slot-get.404.appservice-pascalcase.json"),
            "NotFound",
        ),
    ];
    for (status, body, code) in cases {
        let server = MockServer::start().await;
        Mock::given(method("PUT"))
            .respond_with(Seq::new([
                ResponseTemplate::new(status)
                    .set_body_json(&body)
                    .insert_header("x-ms-request-id", "req-1"),
                ResponseTemplate::new(200),
            ]))
            .mount(&server)
            .await;
        let progress = Recorder::new();

        let err = http(&progress)
            .send(
                &Request::new("create slot staging", Method::PUT, at(&server, "/slot")),
                later(),
            )
            .await
            .unwrap_err();

        let HttpError::Status {
            status: got,
            service,
            request_id,
            ..
        } = &err
        else {
            panic!("{status}: not Status: {err:?}");
        };
        assert_eq!(*got, status);
        assert_eq!(service.code.as_deref(), Some(code), "{status}: {err}");
        assert!(service.message.is_some(), "{status}: {err}");
        assert_eq!(request_id.as_deref(), Some("req-1"));
        assert_eq!(err.blame(), Blame::Caller, "{status}");
        assert_eq!(err.status(), Some(status));
        let text = err.to_string();
        assert!(
            text.starts_with("create slot staging: PUT http://"),
            "{text}"
        );
        assert!(text.contains(code), "{text}");
        assert!(text.ends_with("(request id req-1)"), "{text}");
        assert_eq!(received(&server, None).await.len(), 1, "{status}");
        assert!(progress.retries().is_empty());
    }
}

#[tokio::test]
async fn nested_arm_details_reach_the_message() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(fixture("arm/error.400.arm-common.json")),
        )
        .mount(&server)
        .await;

    let err = http(&Recorder::new())
        .send(
            &Request::new("create slot", Method::PUT, at(&server, "/slot")),
            later(),
        )
        .await
        .unwrap_err();

    assert!(
        err.to_string()
            .ends_with("could not be deserialized. (A value is required.)"),
        "{err}"
    );
}

#[tokio::test]
async fn connection_refused_is_retried_then_exhausted() {
    let port = refused_port();
    for m in [Method::GET, Method::POST] {
        let progress = Recorder::new();
        let url = format!("http://127.0.0.1:{port}/x").parse().unwrap();

        let err = http(&progress)
            .send(&Request::new("read", m.clone(), url), later())
            .await
            .unwrap_err();

        // Nothing reached a server, so even the POST is tried again.
        let HttpError::Exhausted { attempts, last, .. } = &err else {
            panic!("{m}: not Exhausted: {err:?}");
        };
        assert_eq!(*attempts, ATTEMPTS, "{m}");
        let HttpError::Transport { reason, .. } = &**last else {
            panic!("{m}: last is not Transport: {last:?}");
        };
        assert!(reason.starts_with("cannot connect"), "{m}: {reason}");
        assert_eq!(progress.retries().len(), ATTEMPTS as usize - 1, "{m}");
        assert_eq!(err.blame(), Blame::External);
        assert_eq!(err.status(), None);
    }
}
