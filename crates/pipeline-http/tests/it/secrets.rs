//! Failures never show the credentials that went with the request.

use pipeline_http::{HttpError, Method, Request};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{
    ClientSecretBearer, CountingBearer, Recorder, assert_hides, at, fixture, http, later, received,
    refused_port,
};

const TOKEN: &str = "eyJ0eXAiOiJKV1QifQ.secret-bearer.signature";
const CLIENT_SECRET: &str = "fake-client-secret-value";

#[tokio::test]
async fn a_refused_client_secret_is_not_in_the_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(fixture("entra/token.401.invalid_client.json")),
        )
        .mount(&server)
        .await;
    let bearer = ClientSecretBearer::new(at(&server, "/tenant/oauth2/v2.0/token"), CLIENT_SECRET);

    let err = http(&Recorder::new())
        .send(
            &Request::new("read slot", Method::GET, at(&server, "/slot")).auth(&bearer),
            later(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, HttpError::Auth { .. }), "{err:?}");
    // The secret did go out, in the form body...
    let sent = &received(&server, None).await[0].body;
    assert!(String::from_utf8_lossy(sent).contains(CLIENT_SECRET));
    // ...and is nowhere in what is reported.
    assert_hides(&err, CLIENT_SECRET);
    assert!(err.to_string().contains("invalid_client"), "{err}");
}

#[tokio::test]
async fn repeated_500s_do_not_show_the_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/slot"))
        .respond_with(ResponseTemplate::new(500).set_body_string("Internal Server Error"))
        .mount(&server)
        .await;
    let bearer = CountingBearer::new(TOKEN, TOKEN);
    let progress = Recorder::new();

    let err = http(&progress)
        .send(
            &Request::new("read slot", Method::GET, at(&server, "/slot")).auth(&bearer),
            later(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, HttpError::Exhausted { .. }), "{err:?}");
    let requests = received(&server, None).await;
    assert_eq!(requests.len(), crate::ATTEMPTS as usize);
    assert_eq!(
        requests[0].headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );
    assert_hides(&err, TOKEN);
    for (_, _, reason) in progress.retries() {
        assert!(!reason.contains(TOKEN), "{reason}");
    }
}

#[tokio::test]
async fn a_second_401_does_not_show_either_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let bearer = CountingBearer::new("first-secret-token", "second-secret-token");

    let err = http(&Recorder::new())
        .send(
            &Request::new("read slot", Method::GET, at(&server, "/slot")).auth(&bearer),
            later(),
        )
        .await
        .unwrap_err();

    assert_eq!(err.status(), Some(401));
    assert_hides(&err, "first-secret-token");
    assert_hides(&err, "second-secret-token");
}

#[tokio::test]
async fn a_transport_failure_does_not_show_the_bearer_token() {
    let bearer = CountingBearer::new(TOKEN, TOKEN);
    let progress = Recorder::new();
    let url = format!("http://127.0.0.1:{}/slot", refused_port())
        .parse()
        .unwrap();

    let err = http(&progress)
        .send(
            &Request::new("read slot", Method::GET, url).auth(&bearer),
            later(),
        )
        .await
        .unwrap_err();

    let HttpError::Exhausted { last, .. } = &err else {
        panic!("not Exhausted: {err:?}");
    };
    assert!(matches!(**last, HttpError::Transport { .. }), "{last:?}");
    assert!(bearer.calls() >= 1, "the token was attached");
    assert_hides(&err, TOKEN);
    for (_, _, reason) in progress.retries() {
        assert!(!reason.contains(TOKEN), "{reason}");
    }
}
