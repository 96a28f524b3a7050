//! Contract tests of the Cloud Run target against
//! `pipeline_testkit::gcp::FakeGcp`: the Cloud Run Admin API v2, the
//! token endpoints and the tags' health paths on loopback, answering with
//! the official-shape fixtures of `fixtures/gcp`.

use std::sync::Arc;
use std::time::Duration;

use pipeline_http::{Endpoint, Http};
use pipeline_targets::cloudrun::{
    CLOUD_PLATFORM_SCOPE, CloudRun, CloudRunTarget, GcpCredential, GcpSource, Overrides,
    ServiceRef, SubjectToken, github_audience, impersonation_url, metadata_endpoint,
    provider_audience,
};
use pipeline_targets::{Outcome, Release, Target, TargetError};
use pipeline_testkit::gcp::{
    FakeGcp, FakeGcpBuilder, GITHUB_JWT, INITIAL_REVISION, INITIAL_VERSION, OIDC_REQUEST_TOKEN,
    PROJECT, PROVIDER, REGION, Rollout, SA_EMAIL, SERVICE, digest_hex, image_of, test_key_pem,
};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::{client, fast, health};

fn svc() -> ServiceRef {
    ServiceRef {
        project: PROJECT.to_owned(),
        region: REGION.to_owned(),
        service: SERVICE.to_owned(),
    }
}

fn target_with(fake: &FakeGcp, cred: GcpCredential) -> CloudRunTarget {
    let http = Http::new(client()).with_policy(fast());
    let run = Endpoint::parse("test", &fake.uri()).unwrap();
    CloudRunTarget::new(CloudRun::new(http, run, svc(), Arc::new(cred)))
        .with_health(health(Duration::from_secs(20)))
        .with_timeout(Duration::from_secs(60))
}

fn key_target(fake: &FakeGcp) -> CloudRunTarget {
    let cred = GcpCredential::from_json(
        "key.json",
        &fake.key_file().to_string(),
        &Overrides::default(),
        CLOUD_PLATFORM_SCOPE,
    )
    .unwrap();
    target_with(fake, cred)
}

fn release(version: &str) -> Release {
    Release {
        version: version.to_owned(),
        sha256: digest_hex(version).parse().unwrap(),
        artifact: std::path::PathBuf::new(),
    }
}

async fn deploy(fake: &FakeGcp, version: &str) -> Result<pipeline_targets::Deployed, TargetError> {
    key_target(fake)
        .with_image(&image_of(version))
        .deploy(&release(version))
        .await
}

fn rev(version: &str) -> String {
    format!(
        "{SERVICE}-{}-{}",
        version.replace('.', "-"),
        &digest_hex(version)[..8]
    )
}

async fn start(b: FakeGcpBuilder) -> FakeGcp {
    b.start().await
}

#[tokio::test]
async fn a_deploy_creates_a_green_revision_at_zero_percent_and_probes_its_tag() {
    let fake = FakeGcp::builder().op_polls(2).start().await;
    let d = deploy(&fake, "1.1.0").await.unwrap();
    assert_eq!(d.slot, "green");
    assert_eq!(d.version, "1.1.0");
    assert_eq!(d.deployment_id.as_deref(), Some(rev("1.1.0").as_str()));
    assert_eq!(d.url, format!("{}/run/green/", fake.uri()));

    let patches = fake.patches().await;
    assert_eq!(patches.len(), 1);
    let p = &patches[0];
    let mask: Vec<_> = p
        .url
        .query_pairs()
        .filter(|(k, _)| k == "updateMask")
        .collect();
    assert_eq!(mask[0].1, "template,traffic");
    let body: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(body["template"]["revision"], json!(rev("1.1.0")));
    assert_eq!(
        body["template"]["containers"][0]["image"],
        json!(image_of("1.1.0"))
    );
    // The rest of the template is sent back unchanged.
    assert_eq!(
        body["template"]["containers"][0]["ports"][0]["containerPort"],
        8080
    );
    assert_eq!(body["etag"], json!("\"fake-etag-1\""));
    // LATEST pinned to the ready revision, so the new one gets nothing.
    assert_eq!(
        body["traffic"],
        json!([
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": INITIAL_REVISION, "percent": 100},
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": rev("1.1.0"), "percent": 0, "tag": "green"},
        ])
    );
    assert_eq!(fake.live_revision().as_deref(), Some(INITIAL_REVISION));
    assert_eq!(fake.tagged("green"), Some(rev("1.1.0")));
}

#[tokio::test]
async fn a_tag_only_image_is_refused_before_any_request() {
    let fake = FakeGcp::builder().start().await;
    let err = key_target(&fake)
        .with_image("europe-docker.pkg.dev/p/r/app:1.1.0")
        .deploy(&release("1.1.0"))
        .await
        .unwrap_err();
    assert!(matches!(err, TargetError::Config(_)), "{err}");
    assert_eq!(err.outcome(), Outcome::Caller);
    assert!(err.to_string().contains("not pinned by digest"), "{err}");
    assert!(fake.requests().await.is_empty());
}

#[tokio::test]
async fn a_failed_revision_is_a_refused_deploy_with_the_reason() {
    for (rollout, reason) in [
        (Rollout::RevisionFailed, "REVISION_FAILED"),
        (Rollout::ProgressDeadline, "PROGRESS_DEADLINE_EXCEEDED"),
        (Rollout::OperationError, "REVISION_FAILED"),
    ] {
        let fake = start(FakeGcp::builder().rollout(rollout)).await;
        let err = deploy(&fake, "1.1.0").await.unwrap_err();
        assert!(matches!(err, TargetError::DeploymentFailed { .. }), "{err}");
        assert_eq!(err.outcome(), Outcome::Refused);
        let text = err.to_string();
        assert!(text.contains(reason), "{rollout:?}: {text}");
        assert!(text.contains(&rev("1.1.0")), "{text}");
        if rollout == Rollout::OperationError {
            assert!(text.contains("failed to start"), "{text}");
        }
        // Traffic never moved.
        assert_eq!(fake.live_revision().as_deref(), Some(INITIAL_REVISION));
    }
}

#[tokio::test]
async fn a_revision_name_taken_by_another_configuration_is_named() {
    let fake = start(FakeGcp::builder().revision(&rev("1.1.0"), "1.1.0", &image_of("other"))).await;
    let err = deploy(&fake, "1.1.0").await.unwrap_err();
    assert_eq!(err.outcome(), Outcome::Refused);
    let text = err.to_string();
    assert!(text.contains("is taken by another configuration"), "{text}");
    assert!(text.contains("ALREADY_EXISTS"), "{text}");
    assert_eq!(fake.patches().await.len(), 1);
}

#[tokio::test]
async fn throttling_and_unavailability_are_retried() {
    let fake = FakeGcp::builder().start().await;
    Mock::given(method("PATCH"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(pipeline_testkit::gcp::gcp_json("run/error.429.json")),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(fake.server())
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(pipeline_testkit::gcp::gcp_json("run/error.503.json")),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(fake.server())
        .await;
    let d = deploy(&fake, "1.1.0").await.unwrap();
    assert_eq!(d.version, "1.1.0");
    assert_eq!(fake.patches().await.len(), 2);
}

#[tokio::test]
async fn an_etag_conflict_reads_again_and_recomputes() {
    let fake = start(FakeGcp::builder().etag_conflicts(2)).await;
    deploy(&fake, "1.1.0").await.unwrap();
    let patches = fake.patches().await;
    assert_eq!(patches.len(), 3);
    let etags: Vec<Value> = patches
        .iter()
        .map(|p| serde_json::from_slice::<Value>(&p.body).unwrap()["etag"].clone())
        .collect();
    // Each attempt carries the etag of a fresh read.
    assert_ne!(etags[0], etags[1]);
    assert_ne!(etags[1], etags[2]);
    let gets = fake
        .requests()
        .await
        .iter()
        .filter(|r| r.method.as_str() == "GET" && r.url.path() == fake.service_path())
        .count();
    assert!(gets >= 3, "{gets}");

    // More conflicts than attempts: an external failure, never a blind write.
    let fake = start(FakeGcp::builder().etag_conflicts(10)).await;
    let err = deploy(&fake, "1.1.0").await.unwrap_err();
    assert_eq!(err.outcome(), Outcome::External);
    assert!(err.to_string().contains("ABORTED"), "{err}");
}

#[tokio::test]
async fn swap_rollback_and_status() {
    let fake = FakeGcp::builder().start().await;
    deploy(&fake, "1.1.0").await.unwrap();
    let t = key_target(&fake);

    let err = t.swap(Some("9.9.9")).await.unwrap_err();
    assert_eq!(err.outcome(), Outcome::Refused);

    let before = fake.patches().await.len();
    let s = t.swap(Some("1.1.0")).await.unwrap();
    assert!(!s.already);
    assert_eq!(s.live_version.as_deref(), Some("1.1.0"));
    assert_eq!(s.idle_version.as_deref(), Some(INITIAL_VERSION));
    let patches = fake.patches().await;
    assert_eq!(patches.len(), before + 1);
    let last = patches.last().unwrap();
    assert!(last.url.query().unwrap().contains("updateMask=traffic"));
    let body: Value = serde_json::from_slice(&last.body).unwrap();
    assert!(body.get("template").is_none(), "a swap creates no revision");
    assert_eq!(fake.live_revision(), Some(rev("1.1.0")));
    assert_eq!(fake.tagged("blue").as_deref(), Some(INITIAL_REVISION));

    let again = t.swap(Some("1.1.0")).await.unwrap();
    assert!(again.already);
    assert_eq!(fake.patches().await.len(), before + 1);

    let status = t.status().await.unwrap();
    assert_eq!(status.target, format!("cloud-run:{SERVICE}"));
    let live = status.live().unwrap();
    assert_eq!(live.slot, "green");
    assert_eq!(live.version.as_deref(), Some("1.1.0"));
    assert_eq!(
        live.url.as_deref(),
        Some(format!("{}/run/green/", fake.uri()).as_str())
    );
    assert_eq!(live.sha256.as_deref(), Some(digest_hex("1.1.0").as_str()));
    let blue = status.slot("blue").unwrap();
    assert!(!blue.live);
    assert_eq!(blue.version.as_deref(), Some(INITIAL_VERSION));

    let r = t.rollback().await.unwrap();
    assert_eq!(r.live_version.as_deref(), Some(INITIAL_VERSION));
    assert_eq!(r.idle_version.as_deref(), Some("1.1.0"));
    assert_eq!(fake.live_revision().as_deref(), Some(INITIAL_REVISION));
    assert_eq!(fake.tagged("green"), Some(rev("1.1.0")));
    let err = t.rollback().await.unwrap_err();
    assert_eq!(err.outcome(), Outcome::Refused);
}

#[tokio::test]
async fn nothing_to_swap_or_roll_back_is_refused() {
    let fake = FakeGcp::builder().start().await;
    let t = key_target(&fake);
    assert_eq!(t.swap(None).await.unwrap_err().outcome(), Outcome::Refused);
    assert_eq!(t.rollback().await.unwrap_err().outcome(), Outcome::Refused);
}

#[tokio::test]
async fn traffic_pinned_by_hand_is_kept_beside_the_new_revision() {
    let old = rev("0.9.0");
    let fake = start(
        FakeGcp::builder()
            .revision(&old, "0.9.0", &image_of("0.9.0"))
            .traffic(json!([
                {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": INITIAL_REVISION, "percent": 80},
                {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": old, "percent": 20, "tag": "green"},
            ])),
    )
    .await;
    deploy(&fake, "1.1.0").await.unwrap();
    let body: Value = serde_json::from_slice(&fake.patches().await[0].body).unwrap();
    assert_eq!(
        body["traffic"],
        json!([
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": INITIAL_REVISION, "percent": 80},
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": old, "percent": 20},
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": rev("1.1.0"), "percent": 0, "tag": "green"},
        ])
    );
    // The swap ends the split: all of it to green, the largest share blue.
    key_target(&fake).swap(Some("1.1.0")).await.unwrap();
    assert_eq!(fake.live_revision(), Some(rev("1.1.0")));
    assert_eq!(fake.tagged("blue").as_deref(), Some(INITIAL_REVISION));
}

#[tokio::test]
async fn workload_identity_from_github_with_impersonation() {
    let fake = FakeGcp::builder().start().await;
    let endpoint = |u: &str| Endpoint::parse("test", u).unwrap();
    let cred = GcpCredential::new(
        GcpSource::WorkloadIdentity {
            audience: provider_audience(PROVIDER),
            subject: SubjectToken::GitHubOidc {
                request_url: fake.oidc_request_url(),
                request_token: pipeline_ci::Secret::new(OIDC_REQUEST_TOKEN),
                audience: github_audience(PROVIDER),
            },
            token_url: endpoint(&fake.uri()).at("/v1/token", &[]),
            impersonation_url: Some(impersonation_url(&endpoint(&fake.uri()), SA_EMAIL)),
        },
        CLOUD_PLATFORM_SCOPE,
    );
    let t = target_with(&fake, cred).with_image(&image_of("1.1.0"));
    t.deploy(&release("1.1.0")).await.unwrap();
    let tokens = fake.issued_tokens();
    assert!(
        tokens.iter().any(|t| t.contains("impersonated")),
        "{tokens:?}"
    );
    let sts = fake
        .requests()
        .await
        .into_iter()
        .find(|r| r.url.path() == "/v1/token")
        .unwrap();
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&sts.body)
        .into_owned()
        .collect();
    assert_eq!(form["subject_token"], GITHUB_JWT);
    // The token is cached: one exchange for the whole deploy.
    assert_eq!(tokens.len(), 2);
}

#[tokio::test]
async fn a_refused_token_exchange_is_the_callers_and_shows_no_secret() {
    let fake = start(FakeGcp::builder().sts_refuses()).await;
    let endpoint = |u: &str| Endpoint::parse("test", u).unwrap();
    let cred = GcpCredential::new(
        GcpSource::WorkloadIdentity {
            audience: provider_audience(PROVIDER),
            subject: SubjectToken::GitHubOidc {
                request_url: fake.oidc_request_url(),
                request_token: pipeline_ci::Secret::new(OIDC_REQUEST_TOKEN),
                audience: github_audience(PROVIDER),
            },
            token_url: endpoint(&fake.uri()).at("/v1/token", &[]),
            impersonation_url: None,
        },
        CLOUD_PLATFORM_SCOPE,
    );
    let err = target_with(&fake, cred)
        .with_image(&image_of("1.1.0"))
        .deploy(&release("1.1.0"))
        .await
        .unwrap_err();
    assert_eq!(err.outcome(), Outcome::Caller, "{err}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("invalid_grant"), "{text}");
    for secret in [OIDC_REQUEST_TOKEN, GITHUB_JWT, "BEGIN PRIVATE KEY"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(!text.contains(&test_key_pem()[40..80]));
}

#[tokio::test]
async fn the_metadata_server_is_the_fallback() {
    let fake = FakeGcp::builder().start().await;
    let cred = GcpCredential::new(
        GcpSource::Metadata {
            endpoint: metadata_endpoint("test", &fake.uri()).unwrap(),
        },
        CLOUD_PLATFORM_SCOPE,
    );
    let status = target_with(&fake, cred).status().await.unwrap();
    assert_eq!(
        status.live().unwrap().version.as_deref(),
        Some(INITIAL_VERSION)
    );
    let md = fake
        .requests()
        .await
        .into_iter()
        .find(|r| r.url.path().starts_with("/computeMetadata/"))
        .unwrap();
    assert_eq!(md.headers.get("metadata-flavor").unwrap(), "Google");
}
