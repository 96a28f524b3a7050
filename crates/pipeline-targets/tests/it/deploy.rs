//! Deploys that succeed: the whole exchange, a slot created on the way,
//! and the transient failures a deploy must ride out.

use std::collections::BTreeMap;

use pipeline_targets::Target as _;
use pipeline_testkit::fixtures::{
    self, CLIENT_ID, CLIENT_SECRET, DEPLOYMENT_ID, OPERATION_ID, SLOT, SUBSCRIPTION,
};
use pipeline_testkit::{
    DIGEST_SETTING, FakeAzure, Kudu, KuduOutcome, KuduStep, SlotCreate, VERSION_SETTING, artifact,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::{bearer, header, position, query, release, target, target_with_scm};

#[tokio::test]
async fn a_release_goes_into_the_slot_and_is_served_healthy() {
    let fake = FakeAzure::start().await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 300 << 10);
    let extra = BTreeMap::from([("FEATURE_FLAGS".to_owned(), "beta".to_owned())]);

    let deployed = target(&fake)
        .with_settings(extra)
        .deploy(&release(&art, "1.1.0"))
        .await
        .unwrap();

    assert_eq!(deployed.slot, SLOT);
    assert_eq!(deployed.url, fake.slot_url(SLOT));
    assert_eq!(deployed.version, "1.1.0");
    assert_eq!(deployed.sha256, art.sha256);
    assert_eq!(deployed.deployment_id.as_deref(), Some(DEPLOYMENT_ID));

    // One token, asked for with the documented client-credentials form and
    // then cached for every request.
    let tokens = fake.token_requests().await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        header(&tokens[0], "content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&tokens[0].body)
        .into_owned()
        .collect();
    assert_eq!(
        form,
        BTreeMap::from([
            ("client_id".to_owned(), CLIENT_ID.to_owned()),
            ("client_secret".to_owned(), CLIENT_SECRET.to_owned()),
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            (
                "scope".to_owned(),
                "https://management.azure.com/.default".to_owned()
            ),
        ])
    );
    let token = format!("Bearer {}", fake.issued_tokens()[0]);
    let all = fake.requests().await;
    for r in &all {
        let p = r.url.path();
        if p.starts_with("/subscriptions/") || p.starts_with("/api/") {
            assert_eq!(bearer(r), token, "{} {p}", r.method);
        }
        if p.starts_with("/subscriptions/") {
            assert_eq!(query(r, "api-version").as_deref(), Some("2026-09-01"));
        }
    }

    // The slot's settings were read, merged and written back whole.
    let slot = fake.site_path(Some(SLOT));
    let puts = fake
        .requests_to("PUT", &format!("{slot}/config/appsettings"))
        .await;
    assert_eq!(puts.len(), 1);
    assert_eq!(
        header(&puts[0], "content-type").as_deref(),
        Some("application/json")
    );
    let written: Value = puts[0].body_json().unwrap();
    assert_eq!(
        written,
        json!({ "properties": {
            "DEPLOY_SLOT": "staging",
            "FEATURE_FLAGS": "beta",
            "PIPELINE_ARTIFACT_SHA256": art.sha256,
            "PIPELINE_VERSION": "1.1.0",
            "WEBSITE_RUN_FROM_PACKAGE": "1",
        }})
    );
    let settings = fake.settings(Some(SLOT)).unwrap();
    assert_eq!(settings[VERSION_SETTING], "1.1.0");
    assert_eq!(settings[DIGEST_SETTING], art.sha256);
    let production = fake.site_path(None);
    assert!(
        fake.requests_to("PUT", &format!("{production}/config/appsettings"))
            .await
            .is_empty(),
        "production's settings are not touched by a deploy"
    );
    assert_eq!(fake.version(None).as_deref(), Some("1.0.0"));

    // The zip went up once, whole, with OneDeploy in async mode.
    let uploads = fake.requests_to("POST", "/api/publish").await;
    assert_eq!(uploads.len(), 1);
    assert_eq!(query(&uploads[0], "type").as_deref(), Some("zip"));
    assert_eq!(query(&uploads[0], "async").as_deref(), Some("true"));
    assert_eq!(
        header(&uploads[0], "content-type").as_deref(),
        Some("application/zip")
    );
    assert_eq!(uploads[0].body, art.bytes);

    // The Location was followed through pending and building to success.
    let polls = fake.requests_to("GET", "/api/deployments/latest").await;
    assert_eq!(polls.len(), 3);
    assert_eq!(query(&polls[0], "deployer").as_deref(), Some("OneDeploy"));

    // 503, then the old version, then the new one.
    let probes = fake.requests_to("GET", "/web/staging/health").await;
    assert_eq!(probes.len(), 3);
    assert_eq!(fake.serving(Some(SLOT)).as_deref(), Some("1.1.0"));
    assert_eq!(fake.serving(None).as_deref(), Some("1.0.0"));

    // In that order: settings, upload, health.
    let settings_put = position(&all, "PUT", &format!("{slot}/config/appsettings"));
    let upload = position(&all, "POST", "/api/publish");
    let probe = position(&all, "GET", "/web/staging/health");
    assert!(position(&all, "GET", &production) < settings_put);
    assert!(position(&all, "POST", &format!("{slot}/config/appsettings/list")) < settings_put);
    assert!(settings_put < upload && upload < probe);
}

#[tokio::test]
async fn settings_already_in_place_are_not_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 4 << 10);
    let fake = FakeAzure::start().await;
    target(&fake).deploy(&release(&art, "1.1.0")).await.unwrap();
    // A re-run of the same deploy finds the settings written.
    target(&fake).deploy(&release(&art, "1.1.0")).await.unwrap();
    let slot = fake.site_path(Some(SLOT));
    assert_eq!(
        fake.requests_to("PUT", &format!("{slot}/config/appsettings"))
            .await
            .len(),
        1
    );
    assert_eq!(fake.requests_to("POST", "/api/publish").await.len(), 2);
}

#[tokio::test]
async fn a_missing_slot_is_cloned_from_production_then_deployed() {
    let fake = FakeAzure::builder()
        .without_slot(SLOT)
        .slot_create(SlotCreate::Location { polls: 1 })
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 8 << 10);

    let deployed = target(&fake).deploy(&release(&art, "1.1.0")).await.unwrap();
    assert_eq!(deployed.version, "1.1.0");

    let production = fake.site_path(None);
    let slot = fake.site_path(Some(SLOT));
    let gets = fake.requests_to("GET", &slot).await;
    assert_eq!(gets.len(), 2, "404, then the created slot read back");
    let puts = fake.requests_to("PUT", &slot).await;
    assert_eq!(puts.len(), 1);
    assert_eq!(
        header(&puts[0], "content-type").as_deref(),
        Some("application/json")
    );
    let body: Value = puts[0].body_json().unwrap();
    assert_eq!(body["location"], "East US");
    assert_eq!(body["kind"], "app");
    assert_eq!(
        body["properties"]["cloningInfo"]["sourceWebAppId"],
        production
    );
    assert_eq!(
        body["properties"]["serverFarmId"],
        format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-pipeline/providers/Microsoft.Web/serverfarms/plan-pipeline"
        )
    );
    // The request has the fields of the spec's CloneWebAppSlot example.
    let example = fixtures::json("arm/slot-put.request.clone.json");
    for key in [
        "sourceWebAppId",
        "overwrite",
        "cloneCustomHostNames",
        "cloneSourceControl",
    ] {
        assert_eq!(
            body["properties"]["cloningInfo"][key], example["properties"]["cloningInfo"][key],
            "{key}"
        );
    }

    // The Location was polled: 202, then 200.
    let result = format!("{slot}/operationresults/{OPERATION_ID}");
    let polls = fake.requests_to("GET", &result).await;
    assert_eq!(polls.len(), 2);
    assert_eq!(
        query(&polls[0], "api-version").as_deref(),
        Some("2026-09-01")
    );

    let all = fake.requests().await;
    let created = position(&all, "PUT", &slot);
    assert!(position(&all, "GET", &slot) < created);
    assert!(created < position(&all, "GET", &result));
    let read_back = all
        .iter()
        .rposition(|r| r.method.as_str() == "GET" && r.url.path() == slot)
        .unwrap();
    assert!(read_back > position(&all, "GET", &result));
    assert!(read_back < position(&all, "POST", "/api/publish"));
    // The new slot got production's settings by cloning, then the release's.
    let settings = fake.settings(Some(SLOT)).unwrap();
    assert_eq!(settings[VERSION_SETTING], "1.1.0");
    assert_eq!(settings["DEPLOY_SLOT"], "staging");
}

#[tokio::test]
async fn an_upload_refused_while_kudu_is_busy_is_sent_again() {
    let fake = FakeAzure::builder()
        .kudu(Kudu {
            conflicts: 1,
            steps: vec![KuduStep::Deploying],
            outcome: KuduOutcome::Success,
        })
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 64 << 10);

    target(&fake).deploy(&release(&art, "1.1.0")).await.unwrap();

    let uploads = fake.requests_to("POST", "/api/publish").await;
    assert_eq!(uploads.len(), 2, "409 in progress, then 202");
    for u in &uploads {
        assert_eq!(u.body, art.bytes);
    }
}

#[tokio::test]
async fn an_upload_refused_during_an_auto_swap_is_sent_again() {
    let fake = FakeAzure::start().await;
    Mock::given(method("POST"))
        .and(path("/api/publish"))
        .respond_with(fixtures::envelope("kudu/error.409.autoswap.envelope.json").template())
        .up_to_n_times(1)
        .mount(fake.server())
        .await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 4 << 10);

    target(&fake).deploy(&release(&art, "1.1.0")).await.unwrap();

    assert_eq!(fake.requests_to("POST", "/api/publish").await.len(), 2);
}

#[tokio::test]
async fn throttling_and_a_server_error_are_retried() {
    let fake = FakeAzure::start().await;
    let slot = fake.site_path(Some(SLOT));
    let production = fake.site_path(None);
    let mut throttled = fixtures::envelope("arm/error.429.envelope.json");
    throttled.set_header("Retry-After", "0");
    Mock::given(method("POST"))
        .and(path(format!("{slot}/config/appsettings/list")))
        .respond_with(throttled.template())
        .up_to_n_times(1)
        .mount(fake.server())
        .await;
    Mock::given(method("GET"))
        .and(path(production.clone()))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "error": { "code": "InternalServerError", "message": "Encountered internal server error." }
        })))
        .up_to_n_times(1)
        .mount(fake.server())
        .await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 4 << 10);

    target(&fake).deploy(&release(&art, "1.1.0")).await.unwrap();

    assert_eq!(fake.requests_to("GET", &production).await.len(), 2);
    assert_eq!(
        fake.requests_to("POST", &format!("{slot}/config/appsettings/list"))
            .await
            .len(),
        2
    );
    assert_eq!(fake.version(Some(SLOT)).as_deref(), Some("1.1.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_off_half_way_is_sent_again_whole() {
    let fake = FakeAzure::start().await;
    let kudu = fake.flaky_kudu().await;
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(dir.path(), 1 << 20);

    let deployed = target_with_scm(&fake, &kudu.uri())
        .deploy(&release(&art, "1.1.0"))
        .await
        .unwrap();
    assert_eq!(deployed.version, "1.1.0");

    let uploads = kudu.uploads();
    assert_eq!(uploads.len(), 2);
    assert_eq!(uploads[0].content_length, Some(art.bytes.len()));
    assert!(
        uploads[0].body.len() < art.bytes.len(),
        "the first upload was cut off"
    );
    assert_eq!(uploads[1].body, art.bytes, "the second carried everything");
    let token = format!("Bearer {}", fake.issued_tokens()[0]);
    for u in &uploads {
        assert_eq!(u.target, "/api/publish?type=zip&async=true");
        assert_eq!(u.content_type.as_deref(), Some("application/zip"));
        assert_eq!(u.authorization.as_deref(), Some(token.as_str()));
    }
    assert!(
        kudu.requests()
            .iter()
            .any(|r| r.method == "GET" && r.target == "/api/deployments/latest")
    );
    assert!(fake.requests_to("POST", "/api/publish").await.is_empty());
}
