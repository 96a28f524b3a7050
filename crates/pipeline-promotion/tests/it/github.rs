//! The GitHub Deployments store against `FakeGitHub` (the REST shapes of
//! fixtures/github, with GitHub's auto_inactive and fast-forward-only refs).

use std::time::Duration;

use pipeline_ci::Secret;
use pipeline_cli::error_chain;
use pipeline_http::{Endpoint, Http, RetryPolicy};
use pipeline_promotion::store::github::{ABANDONED_AFTER, GitHubStore, TASK};
use pipeline_promotion::{Outcome, Record, Revision, StateStore, StoreError};
use pipeline_testkit::github::{FakeGitHub, REPOSITORY, TOKEN};
use serde_json::json;

use crate::fixture::record;

fn quick_policy() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

fn store_with(fake: &FakeGitHub, token: &str) -> GitHubStore {
    let http = Http::new(client()).with_policy(quick_policy());
    let api = Endpoint::parse("GITHUB_API_URL", &fake.uri()).unwrap();
    GitHubStore::new(http, api, REPOSITORY, Secret::new(token))
        .unwrap()
        .with_log_url(Some(
            "https://github.com/octo-org/pipeline-app/actions/runs/7".to_owned(),
        ))
        .with_timeout(Duration::from_secs(20))
}

fn client() -> reqwest::Client {
    pipeline_cli::http::client("pipeline-promotion-tests").unwrap()
}

fn store(fake: &FakeGitHub) -> GitHubStore {
    store_with(fake, TOKEN)
}

async fn append(store: &GitHubStore, r: &Record, expected: Option<&Revision>) -> Revision {
    StateStore::append(store, &r.env, r, expected)
        .await
        .unwrap()
}

#[tokio::test]
async fn records_are_deployments_with_one_final_status_and_history_follows_them() {
    let fake = FakeGitHub::start().await;
    let store = store(&fake);
    assert_eq!(store.current("qa").await.unwrap(), None);
    assert!(store.history("qa", 10).await.unwrap().is_empty());

    let r1 = record("qa", "1.2.0", 1_700_000_000, "ada");
    let r2 = record("qa", "1.3.0", 1_700_000_600, "ci run 7");
    let mut r3 = record("qa", "1.4.0", 1_700_001_200, "bob");
    r3.outcome = Outcome::RolledBack;
    r3.live_version = Some("1.3.0".to_owned());
    r3.live_sha256 = r2.live_sha256.clone();
    r3.note = "verify `smoke` failed".to_owned();
    let other = record("dev", "1.4.0", 1_700_001_300, "bob");

    let rev1 = append(&store, &r1, None).await;
    let rev2 = append(&store, &r2, Some(&rev1)).await;
    let rev3 = append(&store, &r3, Some(&rev2)).await;
    append(&store, &other, None).await;

    let current = store.current("qa").await.unwrap().unwrap();
    assert_eq!(current.record, r3);
    assert_eq!(current.revision, rev3);
    assert_eq!(
        store.history("qa", 10).await.unwrap(),
        vec![r3.clone(), r2.clone(), r1.clone()]
    );
    assert_eq!(store.history("qa", 2).await.unwrap(), vec![r3, r2]);
    assert_eq!(store.history("dev", 10).await.unwrap(), vec![other]);

    // What GitHub's environments view shows: the tag deployed, 1.2.0
    // superseded (inactive), 1.3.0 the active deployment, 1.4.0 failed.
    let deployments = fake.deployments();
    let qa: Vec<_> = deployments
        .iter()
        .filter(|d| d.environment == "qa")
        .collect();
    assert_eq!(
        qa.iter().map(|d| d.reference.as_str()).collect::<Vec<_>>(),
        ["v1.2.0", "v1.3.0", "v1.4.0"]
    );
    assert!(qa.iter().all(|d| d.task == TASK));
    assert_eq!(fake.state_of(qa[0].id).as_deref(), Some("inactive"));
    assert_eq!(fake.state_of(qa[1].id).as_deref(), Some("success"));
    assert_eq!(fake.state_of(qa[2].id).as_deref(), Some("failure"));
    let failed = fake.statuses(qa[2].id);
    assert_eq!(
        failed[0].description,
        "1.4.0 rolled back by bob: verify `smoke` failed"
    );
    assert_eq!(
        failed[0].log_url,
        "https://github.com/octo-org/pipeline-app/actions/runs/7"
    );
    // Every request asked for the API version, as JSON, with the token.
    for req in fake.requests().await {
        assert_eq!(req.headers["x-github-api-version"], "2022-11-28");
        assert_eq!(req.headers["accept"], "application/vnd.github+json");
    }
}

#[tokio::test]
async fn an_append_after_a_stale_read_is_refused_and_writes_nothing() {
    let fake = FakeGitHub::start().await;
    let store = store(&fake);
    let rev1 = append(&store, &record("qa", "1.0.0", 1, "a"), None).await;
    let rev2 = append(&store, &record("qa", "1.1.0", 2, "b"), Some(&rev1)).await;
    let before = fake.deployments().len();
    let err = store
        .append("qa", &record("qa", "1.2.0", 3, "c"), Some(&rev1))
        .await
        .unwrap_err();
    match &err {
        StoreError::Conflict {
            expected, actual, ..
        } => {
            assert_eq!(expected.as_ref(), Some(&rev1));
            assert_eq!(actual.as_ref(), Some(&rev2));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.deployments().len(), before, "nothing created");
    let err = store
        .append("qa", &record("qa", "1.2.0", 3, "c"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
}

#[tokio::test]
async fn of_two_racing_appends_exactly_one_wins() {
    let mut both_created = 0;
    for round in 0..5 {
        let fake = FakeGitHub::start().await;
        let a = store(&fake);
        let b = store(&fake);
        let base = append(&a, &record("qa", "1.0.0", 1, "base"), None).await;
        let ra = record("qa", "2.0.0", 2, "runner a");
        let rb = record("qa", "3.0.0", 2, "runner b");
        let (x, y) = tokio::join!(
            a.append("qa", &ra, Some(&base)),
            b.append("qa", &rb, Some(&base))
        );
        let (winner, loser_record) = match (&x, &y) {
            (Ok(w), Err(StoreError::Conflict { .. })) => (w.clone(), &rb),
            (Err(StoreError::Conflict { .. }), Ok(w)) => (w.clone(), &ra),
            other => panic!("round {round}: {other:?}"),
        };
        let now = a.current("qa").await.unwrap().unwrap();
        assert_eq!(now.revision, winner);
        assert_ne!(&now.record, loser_record);
        // The loser's deployment, if it got that far, is marked discarded
        // and never read as a record.
        for d in fake.deployments() {
            if d.id.to_string() != winner.as_str() && d.id.to_string() != base.as_str() {
                assert_eq!(fake.state_of(d.id).as_deref(), Some("error"));
                both_created += 1;
            }
        }
        let history = a.history("qa", 10).await.unwrap();
        assert_eq!(history.len(), 2, "{history:?}");
    }
    assert!(
        both_created > 0,
        "the runners never both got past the first read: the race was not run"
    );
}

#[tokio::test]
async fn a_write_in_flight_wins_over_a_later_one_and_an_abandoned_one_is_discarded() {
    let fake = FakeGitHub::start().await;
    let store = store(&fake);
    let base = append(&store, &record("qa", "1.0.0", 1, "base"), None).await;
    let payload = |version: &str| json!({"pipeline": {"previous": base.as_str(), "record": record("qa", version, 2, "other")}});
    // Another writer created its deployment and has not set its status yet.
    let in_flight = fake.insert_deployment("qa", payload("2.0.0"), &[]);
    let err = store
        .append("qa", &record("qa", "3.0.0", 3, "me"), Some(&base))
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict { actual, .. } => {
            assert_eq!(actual, Some(Revision::new(in_flight.to_string())));
        }
        other => panic!("{other:?}"),
    }
    // A writer that died long ago: its deployment is discarded.
    fake.advance(ABANDONED_AFTER + 60);
    let rev = append(&store, &record("qa", "4.0.0", 4, "me"), Some(&base)).await;
    assert_eq!(fake.state_of(in_flight).as_deref(), Some("error"));
    let now = store.current("qa").await.unwrap().unwrap();
    assert_eq!(now.revision, rev);
    assert_eq!(now.record.version, "4.0.0");
    let versions: Vec<String> = store
        .history("qa", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(versions, ["4.0.0", "1.0.0"]);
}

#[tokio::test]
async fn deployments_of_other_tools_and_discarded_ones_are_not_records() {
    let fake = FakeGitHub::start().await;
    let store = store(&fake);
    let rev = append(&store, &record("qa", "1.0.0", 1, "a"), None).await;
    fake.insert_deployment("qa", json!({"deploy": "by hand"}), &["success"]);
    let forged =
        json!({"pipeline": {"previous": rev.as_str(), "record": record("qa", "6.6.6", 2, "x")}});
    fake.insert_deployment("qa", forged, &["success", "error"]);
    let now = store.current("qa").await.unwrap().unwrap();
    assert_eq!(now.revision, rev);
}

#[tokio::test]
async fn locks_are_compare_and_swap_on_a_ref_and_stale_ones_are_taken_over() {
    let fake = FakeGitHub::start().await;
    let a = store(&fake);
    let b = store(&fake);
    assert_eq!(a.locked_by("qa").await.unwrap(), None);
    let guard = a
        .lock("qa", "runner a", "promote 1.2.0 to qa", 1_000, 3_600)
        .await
        .unwrap();
    let tip = fake.reference("refs/pipeline/deploy-locks/qa").unwrap();
    assert!(
        fake.commit_message(&tip)
            .unwrap()
            .starts_with("pipeline lock qa: held by runner a (promote 1.2.0 to qa)")
    );
    let held = b.locked_by("qa").await.unwrap().unwrap();
    assert_eq!(
        (held.by.as_str(), held.what.as_str(), held.since),
        ("runner a", "promote 1.2.0 to qa", 1_000)
    );
    let err = b
        .lock("qa", "runner b", "rollback", 2_000, 3_600)
        .await
        .unwrap_err();
    match &err {
        StoreError::Locked { by, what, .. } => {
            assert_eq!(
                (by.as_str(), what.as_str()),
                ("runner a", "promote 1.2.0 to qa")
            );
        }
        other => panic!("{other:?}"),
    }
    // Other environments are free.
    let dev = b.lock("dev", "runner b", "x", 2_000, 3_600).await.unwrap();
    b.unlock(dev).await.unwrap();

    a.unlock(guard).await.unwrap();
    assert_eq!(b.locked_by("qa").await.unwrap(), None);
    let again = b
        .lock("qa", "runner b", "rollback", 2_000, 3_600)
        .await
        .unwrap();

    // Runner b dies holding it; an hour later runner c takes it over, and
    // runner b's late unlock must not release c's lock.
    let c = store(&fake);
    let taken = c
        .lock(
            "qa",
            "runner c",
            "promote 1.3.0 to qa",
            2_000 + 3_601,
            3_600,
        )
        .await
        .unwrap();
    let err = b.unlock(again).await.unwrap_err();
    assert!(
        matches!(err, StoreError::LockLost { ref by, .. } if by == "runner c"),
        "{err:?}"
    );
    assert_eq!(
        c.locked_by("qa").await.unwrap().map(|l| l.by),
        Some("runner c".to_owned())
    );
    c.unlock(taken).await.unwrap();
    assert_eq!(c.locked_by("qa").await.unwrap(), None);
}

#[tokio::test]
async fn two_runners_racing_for_a_free_lock_one_gets_it() {
    for _ in 0..5 {
        let fake = FakeGitHub::start().await;
        let a = store(&fake);
        let b = store(&fake);
        let (x, y) = tokio::join!(
            a.lock("qa", "a", "promote", 10, 3_600),
            b.lock("qa", "b", "promote", 10, 3_600)
        );
        match (x, y) {
            (Ok(_), Err(StoreError::Locked { by, .. })) => assert_eq!(by, "a"),
            (Err(StoreError::Locked { by, .. }), Ok(_)) => assert_eq!(by, "b"),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn api_errors_name_what_failed_and_never_the_token() {
    let fake = FakeGitHub::start().await;
    // A tag that is not in the repository.
    fake.known_refs(&["v1.0.0"]);
    let store = store(&fake);
    let err = store
        .append("qa", &record("qa", "9.9.9", 1, "a"), None)
        .await
        .unwrap_err();
    let text = error_chain(&err);
    assert!(text.contains("No ref found for: v9.9.9"), "{text}");
    assert!(matches!(&err, StoreError::Api { source, .. } if source.status() == Some(422)));

    // A token GitHub refuses.
    let bad = store_with(&fake, "ghs_refusedTokenValue42");
    let err = bad.current("qa").await.unwrap_err();
    let text = error_chain(&err);
    assert!(
        text.contains("401") && text.contains("Bad credentials"),
        "{text}"
    );
    assert!(!text.contains("ghs_refusedTokenValue42"), "{text}");
    assert!(!format!("{err:?}").contains("ghs_refusedTokenValue42"));
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_waited_out() {
    let fake = FakeGitHub::start().await;
    let store = store(&fake);
    let reset = (pipeline_promotion::now() + 1).to_string();
    fake.fault(
        "GET",
        "/deployments",
        403,
        &pipeline_testkit::github::github_json("error-403-rate-limit.json"),
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", reset.as_str()),
        ],
    );
    fake.fault(
        "GET",
        "/deployments",
        403,
        &pipeline_testkit::github::github_json("error-403-secondary-rate-limit.json"),
        &[("retry-after", "1")],
    );
    fake.fault(
        "GET",
        "/deployments",
        502,
        &json!({"message": "Server Error"}),
        &[],
    );
    let rev = append(&store, &record("qa", "1.0.0", 1, "a"), None).await;
    assert_eq!(
        fake.pending_faults(),
        0,
        "every fault was answered and waited out"
    );
    assert_eq!(
        store.current("qa").await.unwrap().map(|s| s.revision),
        Some(rev)
    );
    // A 403 that is not a rate limit is final.
    fake.fault(
        "GET",
        "/deployments",
        403,
        &json!({"message": "Resource not accessible by integration"}),
        &[],
    );
    let err = store.current("qa").await.unwrap_err();
    assert!(
        error_chain(&err).contains("Resource not accessible by integration"),
        "{err}"
    );
}

#[test]
fn repositories_are_owner_slash_name() {
    let http = Http::new(client());
    let api = Endpoint::parse("api", "https://api.github.com").unwrap();
    for bad in [
        "", "owner", "/name", "owner/", "a/b/c", "own er/x", "../x", "o/..",
    ] {
        let made = GitHubStore::new(http.clone(), api.clone(), bad, Secret::new("t"));
        assert!(made.is_err(), "{bad}");
    }
    let s = GitHubStore::new(http, api, "octo-org/hello.world_2", Secret::new("t")).unwrap();
    assert_eq!(s.repository(), "octo-org/hello.world_2");
}

#[tokio::test]
async fn history_and_the_newest_record_are_read_past_the_first_page() {
    let fake = FakeGitHub::start().await;
    let store = store(&fake);
    let mut expected = None;
    let mut versions = Vec::new();
    for n in 0..150u64 {
        let version = format!("1.{n}.0");
        let r = record("qa", &version, 1_700_000_000 + n, "ci");
        expected = Some(append(&store, &r, expected.as_ref()).await);
        versions.push(version);
    }
    versions.reverse();
    let history: Vec<String> = store
        .history("qa", 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(history, versions, "all 150 records, newest first");
    assert_eq!(store.history("qa", 120).await.unwrap().len(), 120);
    // A rollback finds a release from the second page.
    let old = store.history("qa", 200).await.unwrap();
    assert!(old.iter().any(|r| r.version == "1.3.0"));

    // 120 newer deployments that are no records (discarded) push the
    // newest record onto the second page: it is still found, and an append
    // after it still follows it.
    let newest = store.current("qa").await.unwrap().unwrap();
    for n in 0..120 {
        let forged = json!({"pipeline": {"previous": "1", "record": record("qa", &format!("9.{n}.0"), 1, "x")}});
        fake.insert_deployment("qa", forged, &["error"]);
    }
    let now = store.current("qa").await.unwrap().unwrap();
    assert_eq!(now.revision, newest.revision);
    let next = append(
        &store,
        &record("qa", "2.0.0", 1_800_000_000, "ci"),
        Some(&now.revision),
    )
    .await;
    assert_eq!(store.current("qa").await.unwrap().unwrap().revision, next);
    assert_eq!(store.history("qa", 1000).await.unwrap().len(), 151);
}

#[tokio::test]
async fn an_unlock_after_a_takeover_says_the_lock_was_lost_even_once_released() {
    let fake = FakeGitHub::start().await;
    let a = store(&fake);
    let b = store(&fake);
    let slow = a
        .lock("qa", "runner a", "promote", 1_000, 60)
        .await
        .unwrap();
    // runner a overruns its lock; b takes it over, promotes, releases.
    let taken = b
        .lock("qa", "runner b", "promote", 2_000, 60)
        .await
        .unwrap();
    b.unlock(taken).await.unwrap();
    let err = a.unlock(slow).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::LockLost { by, .. } if by == "runner b"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_ref_update_refused_for_another_reason_is_an_error_not_a_lost_race() {
    let fake = FakeGitHub::start().await;
    let store = store(&fake);
    fake.fault(
        "POST",
        "/git/refs",
        422,
        &pipeline_testkit::github::github_json("error-422-object-does-not-exist.json"),
        &[],
    );
    let err = store.lock("qa", "a", "promote", 1, 60).await.unwrap_err();
    assert_eq!(fake.pending_faults(), 0);
    assert!(
        matches!(&err, StoreError::Api { source, .. } if source.status() == Some(422)),
        "{err:?}"
    );
    assert!(error_chain(&err).contains("Object does not exist"), "{err}");
}

#[tokio::test]
async fn deployments_found_discarded_are_read_once_however_many_walks_pass_them() {
    let fake = FakeGitHub::start().await;
    let store = store(&fake);
    let base = append(&store, &record("qa", "1.0.0", 1, "ci"), None).await;
    for n in 0..101 {
        let forged = json!({"pipeline": {"previous": base.as_str(), "record": record("qa", &format!("9.{n}.0"), 1, "x")}});
        fake.insert_deployment("qa", forged, &["error"]);
    }
    let statuses_read = |requests: &[wiremock::Request]| {
        requests
            .iter()
            .filter(|r| r.method.as_str() == "GET" && r.url.path().ends_with("/statuses"))
            .count()
    };
    let before = statuses_read(&fake.requests().await);
    // What a rollback reads: the newest record, the history (twice), again.
    for _ in 0..3 {
        assert_eq!(store.current("qa").await.unwrap().unwrap().revision, base);
        assert_eq!(store.history("qa", 200).await.unwrap().len(), 1);
    }
    let read = statuses_read(&fake.requests().await) - before;
    // Each discarded deployment once, the record once per walk.
    assert!(read <= 101 + 6, "{read} status lists read");
}

#[tokio::test]
async fn a_writer_holding_the_lock_discards_a_dead_writers_deployment_at_once() {
    let fake = FakeGitHub::start().await;
    let store = store(&fake);
    let base = append(&store, &record("qa", "1.0.0", 1, "base"), None).await;
    // A writer that created its deployment and died a second ago.
    let payload = json!({"pipeline": {"previous": base.as_str(), "record": record("qa", "2.0.0", 2, "dead")}});
    let dead = fake.insert_deployment("qa", payload, &[]);
    let lock = store.lock("qa", "me", "promote", 3, 3600).await.unwrap();
    let mut mine = record("qa", "3.0.0", 3, "me");
    mine.lock = Some(lock.id().to_owned());
    let rev = append(&store, &mine, Some(&base)).await;
    assert_eq!(fake.state_of(dead).as_deref(), Some("error"));
    assert_eq!(store.current("qa").await.unwrap().unwrap().revision, rev);
    store.unlock(lock).await.unwrap();
}

#[tokio::test]
async fn a_missing_tag_is_found_before_anything_is_written() {
    let fake = FakeGitHub::start().await;
    fake.known_refs(&["v1.0.0"]);
    let store = store(&fake);
    store.preflight("qa", "1.0.0").await.unwrap();
    let e = store.preflight("qa", "2.0.0").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "the tag v2.0.0 is not in octo-org/pipeline-app: a record of qa names the release's tag; \
         push the tag (pipeline-git release) before promoting"
    );
    assert!(fake.deployments().is_empty());
}

#[tokio::test]
async fn a_lock_whose_run_recorded_its_end_is_taken_as_released() {
    let fake = FakeGitHub::start().await;
    let store = store(&fake);
    let lock = store.lock("qa", "run 1", "promote", 1, 3600).await.unwrap();
    let mut done = record("qa", "1.0.0", 1, "run 1");
    done.lock = Some(lock.id().to_owned());
    append(&store, &done, None).await;
    // Its release never happened (a 502 for good): the lock still stands,
    // but its run is over, so the next run takes it.
    drop(lock);
    let next = store.lock("qa", "run 2", "promote", 2, 3600).await.unwrap();
    assert_eq!(next.info().by, "run 2");
    // A lock whose run has not recorded its end is still respected.
    let e = store
        .lock("qa", "run 3", "promote", 3, 3600)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Locked { .. }), "{e}");
}
