#![allow(clippy::unwrap_used)]
//! Contract tests of the Azure App Service target against
//! `pipeline_testkit::FakeAzure`: Entra ID, Resource Manager and Kudu on
//! loopback, answering with the official-shape fixtures of
//! `fixtures/azure` and refusing requests whose method, path,
//! `api-version`, bearer token, content type or body differ from what the
//! REST documents say. The tests look at outcomes and at the requests the
//! fake received; nothing here measures time.

mod cloudrun;
mod deploy;
mod failures;
mod switch;

use std::sync::Arc;
use std::time::Duration;

use pipeline_ci::Secret;
use pipeline_http::{Endpoint, Http, RetryPolicy};
use pipeline_targets::Release;
use pipeline_targets::azure::{
    ARM_SCOPE, AppRef, AppService, AppServiceTarget, ClientProof, EntraCredential,
};
use pipeline_targets::health::HealthSettings;
use pipeline_testkit::fixtures::{
    APP, CLIENT_ID, CLIENT_SECRET, RESOURCE_GROUP, SLOT, SUBSCRIPTION, TENANT,
};
use pipeline_testkit::{Artifact, FakeAzure};
use wiremock::Request;

/// A policy that retries and polls without noticeable waits.
pub(crate) fn fast() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        poll_interval: Duration::from_millis(1),
        ..RetryPolicy::default()
    }
}

/// A reqwest client for loopback. The workspace builds reqwest with
/// `rustls-no-provider`, so a provider is installed first (a second
/// install in the same process fails, which is fine); proxies from the
/// environment are ignored.
pub(crate) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Health probes every millisecond, for up to `timeout`.
pub(crate) fn health(timeout: Duration) -> HealthSettings {
    HealthSettings {
        interval: Duration::from_millis(1),
        timeout,
        ..HealthSettings::default()
    }
}

/// The App Service client of the fixtures' app, with the fixtures' client
/// secret, Resource Manager and Entra ID on the fake, Kudu at `scm`.
pub(crate) fn service(fake: &FakeAzure, scm: &str) -> AppService {
    let http = Http::new(client()).with_policy(fast());
    let endpoint = |url: &str| Endpoint::parse("test server", url).unwrap();
    let credential = EntraCredential::new(
        endpoint(&fake.uri()),
        TENANT,
        CLIENT_ID,
        ClientProof::Secret(Secret::new(CLIENT_SECRET)),
        ARM_SCOPE,
    );
    let app = AppRef {
        subscription: SUBSCRIPTION.to_owned(),
        resource_group: RESOURCE_GROUP.to_owned(),
        app: APP.to_owned(),
    };
    AppService::new(http, endpoint(&fake.uri()), app, Arc::new(credential))
        .with_scm(Some(endpoint(scm)))
}

/// The target of slot `staging`, Kudu on the fake too, probed at the
/// fake's slot URL.
pub(crate) fn target(fake: &FakeAzure) -> AppServiceTarget {
    target_with_scm(fake, &fake.uri())
}

/// The same with Kudu at `scm`.
pub(crate) fn target_with_scm(fake: &FakeAzure, scm: &str) -> AppServiceTarget {
    AppServiceTarget::new(service(fake, scm), SLOT)
        .with_slot_url(Some(fake.slot_url(SLOT).parse().unwrap()))
        .with_health(health(Duration::from_secs(20)))
        .with_timeout(Duration::from_secs(60))
}

/// `version` of the artifact.
pub(crate) fn release(artifact: &Artifact, version: &str) -> Release {
    Release {
        version: version.to_owned(),
        sha256: artifact.sha256.parse().unwrap(),
        artifact: artifact.path.clone(),
    }
}

/// The `Authorization` header of a request.
pub(crate) fn bearer(req: &Request) -> String {
    req.headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A query parameter of a request.
pub(crate) fn query(req: &Request, key: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A header of a request.
pub(crate) fn header(req: &Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// Where the first request with `method` on `path` is in `all`.
pub(crate) fn position(all: &[Request], method: &str, path: &str) -> usize {
    all.iter()
        .position(|r| r.method.as_str() == method && r.url.path() == path)
        .unwrap_or_else(|| panic!("no {method} {path} among the requests"))
}
