//! Swaps, rollbacks and status.

use pipeline_targets::{Outcome, SlotStatus, Target as _, TargetError};
use pipeline_testkit::fixtures::{OPERATION_ID, SLOT};
use pipeline_testkit::{FakeAzure, Swap, digest_of};
use serde_json::{Value, json};

use crate::{header, query, target};

fn swap_path(fake: &FakeAzure) -> String {
    format!("{}/slotsswap", fake.site_path(Some(SLOT)))
}

#[tokio::test]
async fn a_swap_moves_the_slot_into_production() {
    let fake = FakeAzure::builder()
        .versions(Some("1.0.0"), Some("1.1.0"))
        .swap(Swap::Accepted { polls: 1 })
        .start()
        .await;

    let switched = target(&fake).swap(None).await.unwrap();

    assert_eq!(switched.live_version.as_deref(), Some("1.1.0"));
    assert_eq!(switched.idle_version.as_deref(), Some("1.0.0"));
    assert!(!switched.already);
    let swaps = fake.requests_to("POST", &swap_path(&fake)).await;
    assert_eq!(swaps.len(), 1);
    assert_eq!(
        header(&swaps[0], "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        query(&swaps[0], "api-version").as_deref(),
        Some("2026-09-01")
    );
    let body: Value = swaps[0].body_json().unwrap();
    assert_eq!(
        body,
        json!({ "targetSlot": "production", "preserveVnet": true })
    );
    assert_eq!(
        body,
        pipeline_testkit::fixtures::json("arm/slotsswap.request.json")
    );
    // The Location was followed: 202, then 200.
    let result = format!(
        "{}/operationresults/{OPERATION_ID}",
        fake.site_path(Some(SLOT))
    );
    assert_eq!(fake.requests_to("GET", &result).await.len(), 2);
    assert_eq!(fake.swaps(), 1);
    assert_eq!(fake.version(None).as_deref(), Some("1.1.0"));
    assert_eq!(fake.version(Some(SLOT)).as_deref(), Some("1.0.0"));
}

#[tokio::test]
async fn a_swap_refused_while_another_operation_runs_is_sent_again() {
    // Sending a swap twice is safe when the service said it did nothing:
    // App Service's 409 "another operation is in progress".
    let fake = FakeAzure::builder()
        .versions(Some("1.0.0"), Some("1.1.0"))
        .start()
        .await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(swap_path(&fake)))
        .respond_with(
            wiremock::ResponseTemplate::new(409)
                .set_body_json(pipeline_testkit::fixtures::json("arm/error.409.json")),
        )
        .up_to_n_times(1)
        .mount(fake.server())
        .await;

    let switched = target(&fake).swap(Some("1.1.0")).await.unwrap();

    assert_eq!(switched.live_version.as_deref(), Some("1.1.0"));
    assert_eq!(fake.requests_to("POST", &swap_path(&fake)).await.len(), 2);
    assert_eq!(fake.swaps(), 1);
}

#[tokio::test]
async fn a_swap_expecting_the_slots_version_goes_ahead() {
    let fake = FakeAzure::builder()
        .versions(Some("1.0.0"), Some("1.1.0"))
        .start()
        .await;
    let switched = target(&fake).swap(Some("1.1.0")).await.unwrap();
    assert_eq!(switched.live_version.as_deref(), Some("1.1.0"));
    assert!(!switched.already);
    assert_eq!(fake.swaps(), 1);
}

#[tokio::test]
async fn a_swap_already_done_is_not_done_again() {
    let fake = FakeAzure::builder()
        .versions(Some("1.1.0"), Some("1.0.0"))
        .start()
        .await;

    let switched = target(&fake).swap(Some("1.1.0")).await.unwrap();

    assert!(switched.already);
    assert_eq!(switched.live_version.as_deref(), Some("1.1.0"));
    assert_eq!(switched.idle_version.as_deref(), Some("1.0.0"));
    assert!(fake.requests_to("POST", &swap_path(&fake)).await.is_empty());
    assert_eq!(fake.swaps(), 0);
}

#[tokio::test]
async fn a_swap_to_a_version_the_slot_does_not_hold_is_refused() {
    let fake = FakeAzure::builder()
        .versions(Some("1.0.0"), Some("1.1.0"))
        .start()
        .await;

    let err = target(&fake).swap(Some("1.2.0")).await.unwrap_err();

    assert_eq!(err.outcome(), Outcome::Refused);
    assert!(matches!(err, TargetError::Refused(_)), "{err}");
    assert!(err.to_string().contains("holds 1.1.0, not 1.2.0"), "{err}");
    assert!(fake.requests_to("POST", &swap_path(&fake)).await.is_empty());
}

#[tokio::test]
async fn a_swap_whose_reply_is_lost_is_checked_not_repeated() {
    let fake = FakeAzure::builder()
        .versions(Some("1.0.0"), Some("1.1.0"))
        .swap(Swap::LostReply)
        .start()
        .await;

    let switched = target(&fake).swap(Some("1.1.0")).await.unwrap();

    assert_eq!(switched.live_version.as_deref(), Some("1.1.0"));
    assert_eq!(switched.idle_version.as_deref(), Some("1.0.0"));
    assert_eq!(
        fake.requests_to("POST", &swap_path(&fake)).await.len(),
        1,
        "a swap is never sent twice"
    );
    assert_eq!(fake.swaps(), 1);
    // The outcome was read back from the settings.
    let production = fake.site_path(None);
    assert_eq!(
        fake.requests_to("POST", &format!("{production}/config/appsettings/list"))
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn a_lost_swap_reply_with_nothing_swapped_is_an_external_failure() {
    let fake = FakeAzure::builder()
        .versions(Some("1.0.0"), Some("1.1.0"))
        .start()
        .await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(swap_path(&fake)))
        .respond_with(wiremock::ResponseTemplate::new(502))
        .mount(fake.server())
        .await;

    let err = target(&fake).swap(None).await.unwrap_err();

    assert_eq!(err.outcome(), Outcome::External, "{err}");
    assert!(err.to_string().contains("502"), "{err}");
    assert_eq!(fake.requests_to("POST", &swap_path(&fake)).await.len(), 1);
    assert_eq!(fake.version(None).as_deref(), Some("1.0.0"));
}

#[tokio::test]
async fn a_rollback_swaps_back() {
    let fake = FakeAzure::builder()
        .versions(Some("1.1.0"), Some("1.0.0"))
        .start()
        .await;

    let switched = target(&fake).rollback().await.unwrap();

    assert_eq!(switched.live_version.as_deref(), Some("1.0.0"));
    assert_eq!(switched.idle_version.as_deref(), Some("1.1.0"));
    assert_eq!(fake.requests_to("POST", &swap_path(&fake)).await.len(), 1);
    assert_eq!(fake.version(None).as_deref(), Some("1.0.0"));
}

#[tokio::test]
async fn a_rollback_with_nothing_to_roll_back_to_is_refused() {
    for (live, idle, words) in [
        (Some("1.1.0"), None, "holds no recorded version"),
        (Some("1.1.0"), Some("1.1.0"), "the version live already"),
    ] {
        let fake = FakeAzure::builder().versions(live, idle).start().await;
        let err = target(&fake).rollback().await.unwrap_err();
        assert_eq!(err.outcome(), Outcome::Refused);
        assert!(err.to_string().contains(words), "{err}");
        assert!(fake.requests_to("POST", &swap_path(&fake)).await.is_empty());
    }
}

#[tokio::test]
async fn status_lists_production_and_every_slot() {
    let fake = FakeAzure::builder()
        .versions(Some("1.1.0"), Some("1.0.0"))
        .slot("canary", Some("1.2.0-rc.1"))
        .start()
        .await;

    let status = target(&fake).status().await.unwrap();

    assert_eq!(status.target, "azure:pipeline-app");
    let slot = |name: &str, live: bool, version: &str, host: &str| SlotStatus {
        slot: name.to_owned(),
        live,
        url: Some(format!("https://{host}/")),
        version: Some(version.to_owned()),
        sha256: Some(digest_of(version)),
        state: Some("Running".to_owned()),
    };
    assert_eq!(
        status.slots,
        vec![
            slot(
                "production",
                true,
                "1.1.0",
                "pipeline-app.azurewebsites.net"
            ),
            slot(
                "canary",
                false,
                "1.2.0-rc.1",
                "pipeline-app-canary.azurewebsites.net"
            ),
            slot(
                "staging",
                false,
                "1.0.0",
                "pipeline-app-staging.azurewebsites.net"
            ),
        ]
    );
    assert_eq!(status.live().unwrap().slot, "production");
    // The list came in two pages: nextLink was followed.
    let list = fake
        .requests_to("GET", &format!("{}/slots", fake.site_path(None)))
        .await;
    assert_eq!(list.len(), 2);
    assert_eq!(query(&list[1], "$skipToken").as_deref(), Some("1"));
}
