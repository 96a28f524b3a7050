//! The deadline bounds waits and requests. Every wait here is minutes
//! long, far past a 1 s deadline (long enough for a loopback reply on a busy machine), so a test can only pass by the
//! deadline cutting it short; no duration is measured.

use std::time::Duration;

use pipeline_http::{HttpError, Method, Request};
use tokio::time::Instant;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{CountingBearer, Recorder, assert_hides, at, http, received};

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(1)
}

fn short_deadline() -> Instant {
    Instant::now() + Duration::from_millis(200)
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_ends_the_operation_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after-ms", "100000"))
        .mount(&server)
        .await;
    let progress = Recorder::new();

    let err = http(&progress)
        .send(
            &Request::new("read slot", Method::GET, at(&server, "/slot")),
            short_deadline(),
        )
        .await
        .unwrap_err();

    let HttpError::Deadline { op, last, .. } = &err else {
        panic!("not Deadline: {err:?}");
    };
    assert_eq!(op, "read slot");
    let last = last.as_deref().unwrap();
    assert!(last.contains("503"), "{last}");
    assert!(last.contains("next attempt was due in 100.0s"), "{last}");
    assert_eq!(received(&server, None).await.len(), 1);
    // It did not wait: no retry was announced.
    assert!(progress.retries().is_empty());
}

#[tokio::test]
async fn a_reply_slower_than_the_deadline_ends_the_operation() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(300)))
        .mount(&server)
        .await;
    let bearer = CountingBearer::new("slow-secret-token", "unused");

    let err = http(&Recorder::new())
        .send(
            &Request::new("read slot", Method::GET, at(&server, "/slot")).auth(&bearer),
            deadline(),
        )
        .await
        .unwrap_err();

    let HttpError::Deadline { op, last, .. } = &err else {
        panic!("not Deadline: {err:?}");
    };
    assert_eq!(op, "read slot");
    assert_eq!(*last, None, "nothing failed before the deadline");
    assert!(err.to_string().starts_with("read slot: no result within"));
    assert_eq!(received(&server, None).await.len(), 1);
    assert_hides(&err, "slow-secret-token");
}

#[tokio::test]
async fn a_deadline_after_failures_names_the_last_one() {
    // The first answer is a 500 (retried), the second hangs past the deadline.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(crate::Seq::new([
            ResponseTemplate::new(500).set_body_json(crate::arm_error("InternalError", "oops")),
            ResponseTemplate::new(200).set_delay(Duration::from_secs(300)),
        ]))
        .mount(&server)
        .await;

    let err = http(&Recorder::new())
        .send(
            &Request::new("read slot", Method::GET, at(&server, "/slot")),
            deadline(),
        )
        .await
        .unwrap_err();

    let HttpError::Deadline { last, .. } = &err else {
        panic!("not Deadline: {err:?}");
    };
    assert!(
        last.as_deref().unwrap().contains("InternalError"),
        "{last:?}"
    );
    assert_eq!(received(&server, None).await.len(), 2);
}
