//! Long-running operations followed to their end.

use std::time::Duration;

use pipeline_http::lro::follow;
use pipeline_http::{EndpointError, HttpError, Method, Request, Response, StatusCode};
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::endpoint::via_proxy;
use crate::{CountingBearer, Envelope, Recorder, Seq, at, fixture, http, later, received};

const OP: &str = "/subscriptions/s/providers/Microsoft.Web/sites/pipeline-app/operationResults/1";

fn status_reply(rel: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(fixture(rel))
}

/// Mounts a PUT of the slot answered 201 with `Azure-AsyncOperation`
/// pointing at [`OP`] on the same server (the body is the fixture's Site).
async fn mount_put_201(server: &MockServer) {
    let op_url = format!("{}{OP}?api-version=2026-09-01", server.uri());
    let accepted = Envelope::load("arm/slot-put.202.envelope.json")
        .with_status(201)
        .with_header("azure-asyncoperation", &op_url);
    Mock::given(method("PUT"))
        .and(path("/slot"))
        .respond_with(accepted.reply())
        .mount(server)
        .await;
}

#[tokio::test]
async fn azure_async_operation_is_polled_until_succeeded() {
    let server = MockServer::start().await;
    mount_put_201(&server).await;
    Mock::given(method("GET"))
        .and(path(OP))
        .respond_with(Seq::new([
            status_reply("arm/async-operation.inprogress.json"),
            status_reply("arm/async-operation.inprogress.json"),
            status_reply("arm/async-operation.succeeded.json"),
        ]))
        .mount(&server)
        .await;
    let progress = Recorder::new();
    let http = http(&progress);
    let bearer = CountingBearer::new("arm-token", "arm-token-2");
    let put = Request::new("create slot staging", Method::PUT, at(&server, "/slot")).auth(&bearer);

    let initial = http.send(&put, later()).await.unwrap();
    assert_eq!(initial.status, StatusCode::CREATED);
    let done = follow(&http, &put, initial, Some(&bearer), later())
        .await
        .unwrap();

    assert!(done.polled);
    assert_eq!(done.last.status, StatusCode::OK);
    let body: serde_json::Value = done.last.json("status").unwrap();
    assert_eq!(body["status"], "Succeeded");
    let polls = received(&server, Some(OP)).await;
    assert_eq!(polls.len(), 3);
    for poll in &polls {
        assert_eq!(poll.method.as_str(), "GET");
        assert_eq!(poll.url.query(), Some("api-version=2026-09-01"));
        assert_eq!(poll.headers["authorization"], "Bearer arm-token");
    }
    assert_eq!(progress.polls(), ["InProgress", "InProgress"]);
}

#[tokio::test]
async fn an_operation_that_fails_is_an_error_with_the_service_words() {
    for (rel, status, code) in [
        ("arm/async-operation.failed.json", "Failed", "BadRequest"),
        (
            "arm/async-operation.canceled.json",
            "Canceled",
            "OperationCanceled",
        ),
    ] {
        let server = MockServer::start().await;
        mount_put_201(&server).await;
        Mock::given(method("GET"))
            .and(path(OP))
            .respond_with(Seq::new([
                status_reply("arm/async-operation.inprogress.json"),
                status_reply(rel),
            ]))
            .mount(&server)
            .await;
        let http = http(&Recorder::new());
        let put = Request::new("create slot staging", Method::PUT, at(&server, "/slot"));
        let initial = http.send(&put, later()).await.unwrap();

        let err = follow(&http, &put, initial, None, later())
            .await
            .unwrap_err();

        let HttpError::OperationFailed {
            op,
            status: got,
            service,
        } = &err
        else {
            panic!("{rel}: not OperationFailed: {err:?}");
        };
        let expected = fixture(rel);
        assert_eq!(op, "create slot staging");
        assert_eq!(got, status);
        assert_eq!(service.code.as_deref(), Some(code));
        assert_eq!(
            service.message.as_deref(),
            expected["error"]["message"].as_str()
        );
        assert!(err.to_string().contains(code), "{err}");
        assert_eq!(received(&server, Some(OP)).await.len(), 2, "{rel}");
    }
}

#[tokio::test]
async fn location_is_polled_while_202() {
    let server = MockServer::start().await;
    let result_path = "/slots/staging/operationresults/1";
    let result_url = format!("{}{result_path}", server.uri());
    // Fixture replies, with the mock's URL and no 15 s Retry-After.
    let accepted = Envelope::load("arm/slotsswap.202.envelope.json")
        .with_header("Location", &result_url)
        .with_header("Retry-After", "0");
    let running = Envelope::load("arm/operation-result.202.envelope.json")
        .with_header("Location", &result_url)
        .with_header("Retry-After", "0");
    let finished = Envelope::load("arm/operation-result.200.envelope.json");
    Mock::given(method("POST"))
        .and(path("/slots/staging/slotsswap"))
        .respond_with(accepted.reply())
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(result_path))
        .respond_with(Seq::new([
            running.reply(),
            running.reply(),
            finished.reply(),
        ]))
        .mount(&server)
        .await;
    let progress = Recorder::new();
    let http = http(&progress);
    let swap = Request::new(
        "swap staging",
        Method::POST,
        at(&server, "/slots/staging/slotsswap"),
    );

    let initial = http.send(&swap, later()).await.unwrap();
    assert_eq!(initial.status, StatusCode::ACCEPTED);
    let done = follow(&http, &swap, initial, None, later()).await.unwrap();

    assert!(done.polled);
    assert_eq!(done.last.status, StatusCode::OK);
    assert_eq!(received(&server, Some(result_path)).await.len(), 3);
    assert_eq!(
        received(&server, Some("/slots/staging/slotsswap"))
            .await
            .len(),
        1,
        "the swap itself is never repeated"
    );
    assert_eq!(progress.polls(), ["Accepted", "Accepted"]);
}

#[tokio::test]
async fn a_final_first_reply_is_not_polled() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("arm/slot-put.200.json")))
        .mount(&server)
        .await;
    let http = http(&Recorder::new());
    let put = Request::new("create slot", Method::PUT, at(&server, "/slot"));
    let initial = http.send(&put, later()).await.unwrap();

    let done = follow(&http, &put, initial, None, later()).await.unwrap();

    assert!(!done.polled);
    assert_eq!(received(&server, None).await.len(), 1);
}

fn reply_with(status: u16, name: &'static str, value: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(name, HeaderValue::from_str(value).unwrap());
    Response {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: bytes::Bytes::new(),
        url: "https://management.azure.com/subscriptions/s/slots/staging"
            .parse()
            .unwrap(),
    }
}

#[tokio::test]
async fn a_plain_http_polling_url_off_loopback_is_refused_unpolled() {
    let proxy = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&proxy)
        .await;
    let http = via_proxy(&proxy, &Recorder::new());
    let bearer = CountingBearer::new("arm-token", "unused");
    let put = Request::new(
        "create slot",
        Method::PUT,
        "https://management.azure.com/subscriptions/s/slots/staging"
            .parse()
            .unwrap(),
    );
    for (status, header) in [(201, "azure-asyncoperation"), (202, "location")] {
        let initial = reply_with(status, header, "http://example.com/op");

        let err = follow(&http, &put, initial, Some(&bearer), later())
            .await
            .unwrap_err();

        let HttpError::Endpoint(EndpointError::Scheme { what, url, .. }) = &err else {
            panic!("{header}: not Endpoint(Scheme): {err:?}");
        };
        assert!(what.eq_ignore_ascii_case(header), "{what}");
        assert_eq!(url, "http://example.com/op");
    }
    assert!(received(&proxy, None).await.is_empty(), "nothing was sent");
    assert_eq!(bearer.calls(), 0);
}

#[tokio::test]
async fn the_deadline_between_polls_names_the_last_status() {
    // The service asks for a minute between polls; the deadline is 1 s.
    let server = MockServer::start().await;
    mount_put_201(&server).await;
    Mock::given(method("GET"))
        .and(path(OP))
        .respond_with(
            status_reply("arm/async-operation.inprogress.json")
                .insert_header("retry-after-ms", "60000"),
        )
        .mount(&server)
        .await;
    let http = http(&Recorder::new());
    let put = Request::new("create slot staging", Method::PUT, at(&server, "/slot"));
    let initial = http.send(&put, later()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);

    let err = follow(&http, &put, initial, None, deadline)
        .await
        .unwrap_err();

    let HttpError::Deadline { op, last, .. } = &err else {
        panic!("not Deadline: {err:?}");
    };
    assert_eq!(op, "create slot staging");
    assert_eq!(
        last.as_deref(),
        Some("the operation was still InProgress"),
        "{err}"
    );
    assert_eq!(received(&server, Some(OP)).await.len(), 1);
}

#[tokio::test]
async fn the_deadline_during_a_poll_names_the_last_status() {
    // The second poll hangs far past the deadline: the deadline strikes in
    // the middle of a request, and must still report the operation's state.
    let server = MockServer::start().await;
    mount_put_201(&server).await;
    Mock::given(method("GET"))
        .and(path(OP))
        .respond_with(Seq::new([
            status_reply("arm/async-operation.inprogress.json"),
            status_reply("arm/async-operation.inprogress.json").set_delay(Duration::from_secs(300)),
        ]))
        .mount(&server)
        .await;
    let http = http(&Recorder::new());
    let put = Request::new("create slot staging", Method::PUT, at(&server, "/slot"));
    let initial = http.send(&put, later()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);

    let err = follow(&http, &put, initial, None, deadline)
        .await
        .unwrap_err();

    let HttpError::Deadline { op, last, .. } = &err else {
        panic!("not Deadline: {err:?}");
    };
    assert_eq!(op, "create slot staging");
    let last = last.as_deref().unwrap_or_default();
    assert!(
        last.starts_with("the operation was still InProgress"),
        "{err}"
    );
    assert_eq!(received(&server, Some(OP)).await.len(), 2);
}

#[tokio::test]
async fn fast_polling_until_the_deadline_names_the_last_status() {
    // Polls every millisecond, InProgress forever: wherever the deadline
    // falls (between polls or during one), the error says what was seen.
    let server = MockServer::start().await;
    mount_put_201(&server).await;
    Mock::given(method("GET"))
        .and(path(OP))
        .respond_with(status_reply("arm/async-operation.inprogress.json"))
        .mount(&server)
        .await;
    let http = http(&Recorder::new());
    let put = Request::new("create slot staging", Method::PUT, at(&server, "/slot"));
    let initial = http.send(&put, later()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);

    let err = follow(&http, &put, initial, None, deadline)
        .await
        .unwrap_err();

    let HttpError::Deadline { last, .. } = &err else {
        panic!("not Deadline: {err:?}");
    };
    let polls = received(&server, Some(OP)).await.len();
    assert!(polls >= 1);
    let last = last.as_deref().unwrap_or_default();
    assert!(
        last.starts_with("the operation was still InProgress"),
        "after {polls} polls: {err}"
    );
}
