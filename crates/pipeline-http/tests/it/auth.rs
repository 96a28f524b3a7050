//! Bearer tokens: one refresh on 401, and a cached token reused.

use pipeline_http::{Blame, HttpError, Method, Request, StatusCode};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{
    ClientSecretBearer, CountingBearer, Recorder, Seq, arm_error, at, fixture, http, later,
    received,
};

fn expired() -> ResponseTemplate {
    ResponseTemplate::new(401).set_body_json(arm_error(
        "ExpiredAuthenticationToken",
        "The access token expiry UTC time is earlier than current UTC time.",
    ))
}

#[tokio::test]
async fn a_401_gets_one_fresh_token_and_the_request_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer old-token"))
        .respond_with(expired())
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer new-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": true })))
        .mount(&server)
        .await;
    let bearer = CountingBearer::new("old-token", "new-token");

    let reply = http(&Recorder::new())
        .send(
            &Request::new("read slot", Method::GET, at(&server, "/slot")).auth(&bearer),
            later(),
        )
        .await
        .unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(bearer.refreshes(), 1);
    assert_eq!(bearer.calls(), 2);
    let requests = received(&server, None).await;
    assert_eq!(requests.len(), 2);
    let auth: Vec<_> = requests
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(auth, ["Bearer old-token", "Bearer new-token"]);
}

#[tokio::test]
async fn a_second_401_fails_after_two_requests() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(expired())
        .mount(&server)
        .await;
    let bearer = CountingBearer::new("old-token", "new-token");

    let err = http(&Recorder::new())
        .send(
            &Request::new("read slot", Method::GET, at(&server, "/slot")).auth(&bearer),
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
    assert_eq!(*status, 401);
    assert_eq!(service.code.as_deref(), Some("ExpiredAuthenticationToken"));
    assert_eq!(err.blame(), Blame::Caller);
    assert_eq!(received(&server, None).await.len(), 2);
    assert_eq!(bearer.refreshes(), 1);
    assert_eq!(bearer.calls(), 2);
}

#[tokio::test]
async fn a_401_without_a_bearer_fails_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(expired())
        .mount(&server)
        .await;

    let err = http(&Recorder::new())
        .send(
            &Request::new("read slot", Method::GET, at(&server, "/slot")),
            later(),
        )
        .await
        .unwrap_err();

    assert_eq!(err.status(), Some(401));
    assert_eq!(received(&server, None).await.len(), 1);
}

#[tokio::test]
async fn a_cached_token_is_reused_until_a_401_replaces_it() {
    let server = MockServer::start().await;
    let token = |value: &str| {
        let mut body = fixture("entra/token.200.json");
        body["access_token"] = json!(value);
        ResponseTemplate::new(200).set_body_json(body)
    };
    Mock::given(method("POST"))
        .and(path("/tenant/oauth2/v2.0/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(Seq::new([token("token-a"), token("token-b")]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/slot"))
        .and(header("authorization", "Bearer token-a"))
        .respond_with(Seq::new([ResponseTemplate::new(200), expired()]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/slot"))
        .and(header("authorization", "Bearer token-b"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let bearer = ClientSecretBearer::new(
        at(&server, "/tenant/oauth2/v2.0/token"),
        "fake-client-secret-value",
    );
    let http = http(&Recorder::new());
    let read = Request::new("read slot", Method::GET, at(&server, "/slot")).auth(&bearer);

    // First: fetch token-a, use it. Second: token-a from the cache, refused,
    // token-b fetched, accepted.
    http.send(&read, later()).await.unwrap();
    assert_eq!(
        received(&server, Some("/tenant/oauth2/v2.0/token"))
            .await
            .len(),
        1
    );
    http.send(&read, later()).await.unwrap();

    let token_requests = received(&server, Some("/tenant/oauth2/v2.0/token")).await;
    assert_eq!(token_requests.len(), 2);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&token_requests[0].body)
        .into_owned()
        .collect();
    let expected = fixture("entra/token.request.client_secret.json");
    for (k, v) in expected["form"].as_object().unwrap() {
        assert!(
            form.contains(&(k.clone(), v.as_str().unwrap().to_owned())),
            "{k} missing from {form:?}"
        );
    }
    assert_eq!(received(&server, Some("/slot")).await.len(), 3);
}

#[tokio::test]
async fn a_refused_credential_is_an_auth_error_and_no_request_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tenant/oauth2/v2.0/token"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(fixture("entra/token.401.invalid_client.json")),
        )
        .mount(&server)
        .await;
    let bearer = ClientSecretBearer::new(at(&server, "/tenant/oauth2/v2.0/token"), "wrong");

    let err = http(&Recorder::new())
        .send(
            &Request::new("read slot", Method::GET, at(&server, "/slot")).auth(&bearer),
            later(),
        )
        .await
        .unwrap_err();

    let HttpError::Auth { op, source } = &err else {
        panic!("not Auth: {err:?}");
    };
    assert_eq!(op, "read slot");
    let HttpError::Status {
        status, service, ..
    } = &**source
    else {
        panic!("source is not Status: {source:?}");
    };
    assert_eq!(*status, 401);
    assert_eq!(service.code.as_deref(), Some("invalid_client"));
    assert!(
        service
            .message
            .as_deref()
            .unwrap()
            .starts_with("AADSTS7000215: Invalid client secret provided."),
        "{service}"
    );
    assert_eq!(err.blame(), Blame::Caller);
    assert_eq!(err.status(), Some(401));
    // The token endpoint was asked once (no auth on it, so no refresh), the
    // resource never.
    assert_eq!(
        received(&server, Some("/tenant/oauth2/v2.0/token"))
            .await
            .len(),
        1
    );
    assert!(received(&server, Some("/slot")).await.is_empty());
}

#[tokio::test]
async fn a_token_with_an_absurd_lifetime_is_cached_without_panicking() {
    // `expires_in` comes from the token endpoint; a broken or hostile one
    // can send anything that fits a u64.
    let cache = pipeline_http::TokenCache::new();
    let fetches = std::sync::atomic::AtomicU32::new(0);
    let fetch = || async {
        fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok((
            pipeline_ci::Secret::new("forever"),
            std::time::Duration::from_secs(u64::MAX),
        ))
    };

    assert_eq!(cache.get(false, fetch).await.unwrap().expose(), "forever");
    assert_eq!(cache.get(false, fetch).await.unwrap().expose(), "forever");
    assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
}
