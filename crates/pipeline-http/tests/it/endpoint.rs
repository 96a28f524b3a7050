//! Endpoints: plain http only on loopback, checked before anything is sent.

use std::sync::Arc;

use pipeline_http::{Endpoint, EndpointError, Http, HttpError, Method, Progress, Request};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{CountingBearer, Recorder, assert_hides, fast, later, received};

/// An [`Http`] whose client sends every plain-http request through `proxy`,
/// so that a request to a remote host would show up there instead of
/// leaving the machine.
pub(crate) fn via_proxy(proxy: &MockServer, progress: &Arc<Recorder>) -> Http {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(proxy.uri()).unwrap())
        .build()
        .unwrap();
    Http::new(client)
        .with_policy(fast())
        .with_progress(Arc::clone(progress) as Arc<dyn Progress>)
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_before_sending() {
    let proxy = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&proxy)
        .await;
    let http = via_proxy(&proxy, &Recorder::new());
    // The proxy does catch what the client sends to example.com.
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(proxy.uri()).unwrap())
        .build()
        .unwrap()
        .get("http://example.com/probe")
        .send()
        .await
        .unwrap();
    assert_eq!(received(&proxy, None).await.len(), 1);
    let bearer = CountingBearer::new("a-token-for-example", "unused");

    let err = http
        .send(
            &Request::new(
                "read slot",
                Method::GET,
                "http://example.com/slot".parse().unwrap(),
            )
            .auth(&bearer),
            later(),
        )
        .await
        .unwrap_err();

    let HttpError::Endpoint(EndpointError::Scheme { scheme, url, .. }) = &err else {
        panic!("not Endpoint(Scheme): {err:?}");
    };
    assert_eq!(scheme, "http");
    assert_eq!(url, "http://example.com/slot");
    assert_eq!(err.blame(), pipeline_http::Blame::Caller);
    assert_eq!(received(&proxy, None).await.len(), 1, "nothing more sent");
    assert_eq!(bearer.calls(), 0, "no token was even asked for");
}

#[tokio::test]
async fn credentials_in_a_url_are_refused_and_not_repeated() {
    let err = crate::http(&Recorder::new())
        .send(
            &Request::new(
                "read slot",
                Method::GET,
                "https://deployer:hunter2@127.0.0.1:1/slot".parse().unwrap(),
            ),
            later(),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(err, HttpError::Endpoint(EndpointError::Userinfo { .. })),
        "{err:?}"
    );
    assert_hides(&err, "hunter2");
}

#[tokio::test]
async fn an_endpoint_with_a_base_path_keeps_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/proxy/subscriptions/s"))
        .and(query_param("api-version", "2024-11-01"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let arm = Endpoint::parse("--arm-endpoint", &format!("{}/proxy/", server.uri())).unwrap();
    let url = arm.at("/subscriptions/s", &[("api-version", "2024-11-01")]);

    let reply = crate::http(&Recorder::new())
        .send(&Request::new("list", Method::GET, url), later())
        .await
        .unwrap();

    assert_eq!(reply.status, 200);
    server.verify().await;
}
