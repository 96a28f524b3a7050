//! Deploys that fail, and how each failure counts.

use std::time::Duration;

use pipeline_targets::{Outcome, Target as _, TargetError};
use pipeline_testkit::fixtures::{DEPLOYMENT_ID, OPERATION_ID, SLOT, SUBSCRIPTION};
use pipeline_testkit::{
    BUILD_ERROR_LINES, FakeAzure, Health, Kudu, KuduOutcome, KuduStep, SlotCreate, artifact,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::{bearer, health, release, target};

#[tokio::test]
async fn a_slot_creation_that_fails_is_an_external_failure_with_the_service_words() {
    let fake = FakeAzure::builder()
        .without_slot(SLOT)
        .slot_create(SlotCreate::AsyncOperationFails)
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 4 << 10);

    let err = target(&fake)
        .deploy(&release(&art, "1.1.0"))
        .await
        .unwrap_err();

    assert_eq!(err.outcome(), Outcome::External, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("create slot staging of pipeline-app"),
        "{message}"
    );
    assert!(message.contains("Failed"), "{message}");
    assert!(message.contains("BadRequest"), "{message}");
    assert!(
        message.contains("the worker process for 'staging' slot could not be started"),
        "{message}"
    );
    // The Azure-AsyncOperation URL (no resource group in it) was polled:
    // InProgress, then Failed.
    let status = format!(
        "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Web/sites/pipeline-app/operationResults/{OPERATION_ID}"
    );
    assert_eq!(fake.requests_to("GET", &status).await.len(), 2);
    assert!(fake.requests_to("POST", "/api/publish").await.is_empty());
}

#[tokio::test]
async fn a_failed_deployment_is_refused_with_its_log_and_never_probed() {
    let fake = FakeAzure::builder()
        .kudu(Kudu {
            conflicts: 0,
            steps: vec![KuduStep::Pending, KuduStep::Building],
            outcome: KuduOutcome::Failed,
        })
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 4 << 10);

    let before = fake.version(Some(SLOT));

    let err = target(&fake)
        .deploy(&release(&art, "1.1.0"))
        .await
        .unwrap_err();

    assert_eq!(err.outcome(), Outcome::Refused);
    let expected = vec![
        "Running deployment command...".to_owned(),
        format!("  {}", BUILD_ERROR_LINES[0]),
        format!("  {}", BUILD_ERROR_LINES[1]),
        "Deployment Failed.".to_owned(),
    ];
    match &err {
        TargetError::DeploymentFailed {
            slot,
            id,
            status,
            log,
        } => {
            assert_eq!(slot, SLOT);
            assert_eq!(id, DEPLOYMENT_ID);
            assert_eq!(status, "Failed");
            assert_eq!(log, &expected);
        }
        other => panic!("not a failed deployment: {other}"),
    }
    let message = err.to_string();
    for line in &expected {
        assert!(message.contains(line.as_str()), "{message}");
    }
    // The log came from the log_url and the entry's details_url, with the
    // token; the slot was never probed.
    let token = format!("Bearer {}", fake.issued_tokens()[0]);
    let log = fake.requests_to("GET", "/api/deployments/latest/log").await;
    assert_eq!(log.len(), 1);
    assert_eq!(bearer(&log[0]), token);
    let details = fake
        .requests_to(
            "GET",
            &format!("/api/deployments/{DEPLOYMENT_ID}/log/7e1f0a3c-0003-4000-8000-000000000003"),
        )
        .await;
    assert_eq!(details.len(), 1);
    assert_eq!(bearer(&details[0]), token);
    assert!(
        fake.requests_to("GET", "/web/staging/health")
            .await
            .is_empty()
    );
    // The slot still runs its old code: its settings were given back, so it
    // does not claim the version that failed.
    assert_eq!(fake.version(Some(SLOT)), before);
    assert_ne!(fake.version(Some(SLOT)).as_deref(), Some("1.1.0"));
    assert_eq!(
        fake.requests_to(
            "PUT",
            &format!("{}/config/appsettings", fake.site_path(Some(SLOT)))
        )
        .await
        .len(),
        2
    );
}

#[tokio::test]
async fn a_slot_that_keeps_serving_the_old_version_is_refused() {
    let fake = FakeAzure::builder().health(Health::NEVER).start().await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 4 << 10);

    let err = target(&fake)
        .with_health(health(Duration::from_millis(100)))
        .deploy(&release(&art, "1.1.0"))
        .await
        .unwrap_err();

    assert_eq!(err.outcome(), Outcome::Refused);
    assert!(matches!(err, TargetError::Unhealthy { .. }), "{err}");
    let message = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(message.contains("slot staging is not healthy"), "{message}");
    assert!(message.contains("with version 1.1.0"), "{message}");
    assert!(message.contains("version 0.9.0"), "{message}");
    assert!(fake.requests_to("GET", "/web/staging/health").await.len() >= 2);
    // Kudu said success, so the slot does run the release: only its health
    // never showed it.
    assert_eq!(fake.serving(Some(SLOT)).as_deref(), Some("1.1.0"));
}

#[tokio::test]
async fn an_expired_token_is_replaced_once() {
    let fake = FakeAzure::builder().expired_tokens(1).start().await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 4 << 10);

    target(&fake).deploy(&release(&art, "1.1.0")).await.unwrap();

    let tokens = fake.issued_tokens();
    assert_eq!(tokens.len(), 2);
    assert_eq!(fake.token_requests().await.len(), 2);
    let (a, b) = (
        format!("Bearer {}", tokens[0]),
        format!("Bearer {}", tokens[1]),
    );
    let site = fake.requests_to("GET", &fake.site_path(None)).await;
    assert_eq!(site.len(), 2);
    assert_eq!(bearer(&site[0]), a);
    assert_eq!(bearer(&site[1]), b);
    let all = fake.requests().await;
    let with_a = all.iter().filter(|r| bearer(r) == a).count();
    assert_eq!(with_a, 1, "token A was sent once, refused, and never again");
    for r in all.iter().filter(|r| r.url.path().starts_with("/api/")) {
        assert_eq!(bearer(r), b);
    }
}

#[tokio::test]
async fn a_token_refused_twice_is_the_callers_problem() {
    let fake = FakeAzure::builder().expired_tokens(2).start().await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 4 << 10);

    let err = target(&fake)
        .deploy(&release(&art, "1.1.0"))
        .await
        .unwrap_err();

    assert_eq!(err.outcome(), Outcome::Caller, "{err}");
    let message = err.to_string();
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("ExpiredAuthenticationToken"), "{message}");
    assert_eq!(fake.token_requests().await.len(), 2, "one refresh only");
    assert_eq!(
        fake.requests_to("GET", &fake.site_path(None)).await.len(),
        2
    );
    assert_eq!(fake.requests().await.len(), 4, "nothing after the refusal");
}

#[tokio::test]
async fn a_refused_authorization_names_the_arm_code() {
    let fake = FakeAzure::start().await;
    let site = fake.site_path(None);
    // **Synth**: Resource Manager's wording of a missing role assignment.
    Mock::given(method("GET"))
        .and(path(site.clone()))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": {
                "code": "AuthorizationFailed",
                "message": format!(
                    "The client '22222222-2222-2222-2222-222222222222' with object id '33333333-3333-3333-3333-333333333333' does not have authorization to perform action 'Microsoft.Web/sites/read' over scope '{site}' or the scope is invalid. If access was recently granted, please refresh your credentials."
                ),
            }
        })))
        .mount(fake.server())
        .await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 4 << 10);

    let err = target(&fake)
        .deploy(&release(&art, "1.1.0"))
        .await
        .unwrap_err();

    assert_eq!(err.outcome(), Outcome::Caller);
    let message = err.to_string();
    assert!(message.contains("403"), "{message}");
    assert!(message.contains("AuthorizationFailed"), "{message}");
    assert!(message.contains("Microsoft.Web/sites/read"), "{message}");
    assert_eq!(fake.requests_to("GET", &site).await.len(), 1, "not retried");
}

#[tokio::test]
async fn an_artifact_with_another_digest_is_refused_before_any_request() {
    let fake = FakeAzure::start().await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 4 << 10);
    let mut wrong = release(&art, "1.1.0");
    wrong.sha256 = pipeline_artifact::Sha256Digest::of(b"other bytes");

    let err = target(&fake).deploy(&wrong).await.unwrap_err();

    assert_eq!(err.outcome(), Outcome::Caller);
    assert!(matches!(err, TargetError::Artifact(_)), "{err}");
    assert!(err.to_string().contains(&art.sha256), "{err}");
    assert!(fake.requests().await.is_empty());
}
