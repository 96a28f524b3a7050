//! The GitHub Actions OIDC token request.

use pipeline_ci::Secret;
use pipeline_http::{AZURE_AUDIENCE, HttpError, github_id_token};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{Recorder, assert_hides, fixture, http, later, received};

const ID_PATH: &str =
    "/104/idtoken/00000000-0000-0000-0000-0000000000aa/00000000-0000-0000-0000-0000000000bb";

/// The request URL and token from the fixture's runner environment, with
/// the host moved to the mock.
fn runner_env(server: &MockServer) -> (String, Secret) {
    let envelope = fixture("github/oidc-token.request.envelope.json");
    let env = &envelope["env"];
    let real: url::Url = env["ACTIONS_ID_TOKEN_REQUEST_URL"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(real.query(), Some("api-version=2.0"));
    let token = env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"].as_str().unwrap();
    (
        format!("{}{ID_PATH}?{}", server.uri(), real.query().unwrap()),
        Secret::new(token),
    )
}

#[tokio::test]
async fn the_token_is_asked_for_as_actions_core_does() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(ID_PATH))
        .and(query_param("api-version", "2.0"))
        .and(query_param("audience", AZURE_AUDIENCE))
        .and(header(
            "authorization",
            "Bearer fake-actions-id-token-request-token",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("github/oidc-token.200.json")),
        )
        .mount(&server)
        .await;
    let (url, request_token) = runner_env(&server);

    let token = github_id_token(
        &http(&Recorder::new()),
        &url,
        &request_token,
        AZURE_AUDIENCE,
        later(),
    )
    .await
    .unwrap();

    assert_eq!(token.expose(), "eyJ0eXAiOiJKV1QifQ.fake.signature");
    let requests = received(&server, None).await;
    assert_eq!(requests.len(), 1);
    // Exactly the query the fixture recorded from a runner.
    let recorded: url::Url = fixture("github/oidc-token.request.envelope.json")["url"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        requests[0].url.query(),
        Some("api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange")
    );
    assert_eq!(requests[0].url.query(), recorded.query());
    assert_eq!(requests[0].headers["accept"], "application/json");
}

#[tokio::test]
async fn unknown_fields_in_the_reply_are_ignored() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("github/oidc-token.200.with-count.json")),
        )
        .mount(&server)
        .await;
    let (url, request_token) = runner_env(&server);

    let token = github_id_token(
        &http(&Recorder::new()),
        &url,
        &request_token,
        AZURE_AUDIENCE,
        later(),
    )
    .await
    .unwrap();

    assert_eq!(token.expose(), "eyJ0eXAiOiJKV1QifQ.fake.signature");
}

#[tokio::test]
async fn a_reply_without_a_value_is_a_decode_error() {
    for body in [json!({}), json!({ "value": "" }), json!({ "value": null })] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(&body))
            .mount(&server)
            .await;
        let (url, request_token) = runner_env(&server);

        let err = github_id_token(
            &http(&Recorder::new()),
            &url,
            &request_token,
            AZURE_AUDIENCE,
            later(),
        )
        .await
        .unwrap_err();

        let HttpError::Decode { reason, .. } = &err else {
            panic!("{body}: not Decode: {err:?}");
        };
        assert!(reason.contains("value"), "{body}: {reason}");
        assert_hides(&err, request_token.expose());
    }
}

#[tokio::test]
async fn a_reply_that_is_not_json_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>sign in</html>"))
        .mount(&server)
        .await;
    let (url, request_token) = runner_env(&server);

    let err = github_id_token(
        &http(&Recorder::new()),
        &url,
        &request_token,
        AZURE_AUDIENCE,
        later(),
    )
    .await
    .unwrap_err();

    assert!(matches!(err, HttpError::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn a_refused_request_token_is_a_status_error_without_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "Unable to authenticate the request token"
        })))
        .mount(&server)
        .await;
    let (url, request_token) = runner_env(&server);

    let err = github_id_token(
        &http(&Recorder::new()),
        &url,
        &request_token,
        AZURE_AUDIENCE,
        later(),
    )
    .await
    .unwrap_err();

    assert_eq!(err.status(), Some(401));
    assert_eq!(err.blame(), pipeline_http::Blame::Caller);
    assert_hides(&err, request_token.expose());
}

#[tokio::test]
async fn a_bad_request_url_is_refused_before_sending() {
    let token = Secret::new("t");
    let http = http(&Recorder::new());
    let err = github_id_token(&http, "not a url", &token, AZURE_AUDIENCE, later())
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Decode { .. }), "{err:?}");
    let err = github_id_token(
        &http,
        "http://example.com/idtoken?api-version=2.0",
        &token,
        AZURE_AUDIENCE,
        later(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HttpError::Endpoint(_)), "{err:?}");
}
