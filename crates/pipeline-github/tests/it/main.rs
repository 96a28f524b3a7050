//! The client against the GitHub fake (`pipeline_testkit::github`), built
//! from the shapes of the official REST documentation.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use pipeline_ci::Secret;
use pipeline_github::checks::{AnnotationLevel, CheckAnnotation, CheckRunRequest, Conclusion};
use pipeline_github::comments::{Upsert, marker};
use pipeline_github::{GitHub, Repository};
use pipeline_http::{Blame, Endpoint, Http, RetryPolicy};
use pipeline_testkit::github::{FakeGitHub, REPOSITORY, TOKEN, github_json};

const SHA: &str = "ce587453ced02b1526dfb4cb910479d431683101";

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_millis(50),
        poll_interval: Duration::from_millis(10),
    }
}

fn client(base: &str, token: &str) -> GitHub {
    GitHub::new(
        Http::new(pipeline_cli::http::client("pipeline-github-test").unwrap()).with_policy(fast()),
        Endpoint::parse("GITHUB_API_URL", base).unwrap(),
        Repository::parse(REPOSITORY).unwrap(),
        Secret::new(token),
    )
    .with_timeout(Duration::from_secs(10))
}

fn annotations(n: u32) -> Vec<CheckAnnotation> {
    (1..=n)
        .map(|i| {
            CheckAnnotation::new(
                format!("tests/test_{i}.py"),
                i,
                AnnotationLevel::Failure,
                format!("assert {i} == 0"),
            )
            .with_title(format!("test failed: test_{i}"))
        })
        .collect()
}

#[tokio::test]
async fn a_check_run_carries_every_annotation_in_batches_of_fifty() {
    let fake = FakeGitHub::start().await;
    let github = client(&fake.uri(), TOKEN);
    let run = CheckRunRequest::new("tests", SHA, Conclusion::Failure)
        .title("120 failing tests")
        .summary("## Report gate: failed ❌")
        .annotations(annotations(120));
    let published = github.publish_check_run(&run).await.unwrap();
    assert_eq!((published.annotations, published.requests), (120, 3));
    let runs = fake.check_runs();
    assert_eq!(runs.len(), 1);
    let stored = &runs[0];
    assert_eq!(stored.id, published.id);
    assert_eq!(
        (stored.name.as_str(), stored.head_sha.as_str()),
        ("tests", SHA)
    );
    assert_eq!(
        (stored.status.as_str(), stored.conclusion.as_deref()),
        ("completed", Some("failure"))
    );
    assert_eq!(stored.summary, "## Report gate: failed ❌");
    assert_eq!(stored.writes, 3);
    let paths: Vec<&str> = stored
        .annotations
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 120);
    assert_eq!(paths[0], "tests/test_1.py");
    assert_eq!(paths[119], "tests/test_120.py");
    assert_eq!(stored.annotations[49]["annotation_level"], "failure");
    let requests = fake.requests().await;
    let methods: Vec<String> = requests.iter().map(|r| r.method.to_string()).collect();
    assert_eq!(methods, ["POST", "PATCH", "PATCH"]);
    for r in &requests {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(body["output"]["annotations"].as_array().unwrap().len() <= 50);
        assert_eq!(body["output"]["title"], "120 failing tests");
        assert_eq!(r.headers.get("x-github-api-version").unwrap(), "2022-11-28");
    }
    assert!(
        published
            .html_url
            .unwrap()
            .ends_with(&format!("/runs/{}", published.id))
    );
}

#[tokio::test]
async fn a_run_without_annotations_is_one_request_and_bounds_are_kept() {
    let fake = FakeGitHub::start().await;
    let github = client(&fake.uri(), TOKEN);
    let long = "é".repeat(70_000);
    let run = CheckRunRequest::new("gate", SHA, Conclusion::Success)
        .summary(long)
        .annotations(vec![
            CheckAnnotation::new("a.py", 0, AnnotationLevel::Warning, "")
                .with_title("t".repeat(300)),
        ]);
    let published = github.publish_check_run(&run).await.unwrap();
    assert_eq!(published.requests, 1);
    let stored = &fake.check_runs()[0];
    assert_eq!(stored.summary.chars().count(), 65_535);
    assert_eq!(stored.annotations[0]["start_line"], 1);
    assert_eq!(
        stored.annotations[0]["title"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        255
    );
}

#[tokio::test]
async fn a_token_without_checks_write_is_told_apart() {
    let fake = FakeGitHub::start().await;
    fake.fault(
        "POST",
        "/check-runs",
        403,
        &github_json("error-403-resource-not-accessible.json"),
        &[],
    );
    let github = client(&fake.uri(), TOKEN);
    let err = github
        .publish_check_run(&CheckRunRequest::new("tests", SHA, Conclusion::Success))
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    assert_eq!(err.blame(), Blame::Caller);
    assert!(
        err.to_string()
            .contains("Resource not accessible by integration"),
        "{err}"
    );
    assert!(!err.to_string().contains(TOKEN));
    // A rate limit is not a missing permission.
    fake.fault(
        "POST",
        "/check-runs",
        403,
        &github_json("error-403-rate-limit.json"),
        &[("x-ratelimit-remaining", "0")],
    );
    fake.fault(
        "POST",
        "/check-runs",
        403,
        &github_json("error-403-rate-limit.json"),
        &[("x-ratelimit-remaining", "0")],
    );
    fake.fault(
        "POST",
        "/check-runs",
        403,
        &github_json("error-403-rate-limit.json"),
        &[("x-ratelimit-remaining", "0")],
    );
    let err = github
        .publish_check_run(&CheckRunRequest::new("tests", SHA, Conclusion::Success))
        .await
        .unwrap_err();
    assert!(!err.is_forbidden(), "{err}");
    assert_eq!(err.blame(), Blame::External, "{err}");
}

#[tokio::test]
async fn bad_credentials_are_the_callers_and_an_unreachable_github_is_external() {
    let fake = FakeGitHub::start().await;
    let err = client(&fake.uri(), "wrong")
        .publish_check_run(&CheckRunRequest::new("tests", SHA, Conclusion::Success))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.blame(), Blame::Caller);
    assert!(!err.to_string().contains("wrong"));

    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = client(&format!("http://127.0.0.1:{port}"), TOKEN)
        .upsert_comment(7, &marker("gate"), "body")
        .await
        .unwrap_err();
    assert_eq!(err.blame(), Blame::External, "{err}");
}

#[tokio::test]
async fn one_comment_is_created_then_updated_in_place_among_many() {
    let fake = FakeGitHub::start().await;
    for i in 0..130 {
        fake.insert_comment(7, &format!("a reviewer's comment {i}"));
    }
    fake.insert_comment(8, "<!-- pipeline-report:gate --> on another pull request");
    let github = client(&fake.uri(), TOKEN);
    let mark = marker("gate");
    let (first, how) = github
        .upsert_comment(7, &mark, "## Report gate: failed")
        .await
        .unwrap();
    assert_eq!(how, Upsert::Created);
    for i in 0..40 {
        fake.insert_comment(7, &format!("later comment {i}"));
    }
    let (second, how) = github
        .upsert_comment(7, &mark, "## Report gate: passed")
        .await
        .unwrap();
    assert_eq!(how, Upsert::Updated);
    assert_eq!(second.id, first.id);
    let ours: Vec<_> = fake
        .comments(7)
        .into_iter()
        .filter(|c| c.body.contains(&mark))
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].body, format!("{mark}\n## Report gate: passed"));
    assert_eq!(ours[0].edits, 1);
    assert_eq!(fake.comments(8).len(), 1);
    assert_eq!(fake.comments(8)[0].edits, 0);
    // The list was read page by page (171 comments, 100 a page).
    let pages = fake
        .requests()
        .await
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .count();
    assert_eq!(pages, 2 + 2);
}

mod releases {
    use super::*;
    use pipeline_github::releases::{Ensured, ReleaseRequest};

    const NOTES: &str = "## 1.2.0 (2026-12-06)\n\n### Features\n\n- a feature\n";

    #[tokio::test]
    async fn a_release_is_created_once_then_found_and_left_alone() {
        let fake = FakeGitHub::start().await;
        let github = client(&fake.uri(), TOKEN);
        let request = ReleaseRequest::new("v1.2.0").name("1.2.0").body(NOTES);
        let (created, how) = github.ensure_release(&request).await.unwrap();
        assert_eq!(how, Ensured::Created);
        assert_eq!(created.tag_name, "v1.2.0");
        assert!(!created.draft);
        assert!(
            created.html_url.ends_with("/releases/tag/v1.2.0"),
            "{}",
            created.html_url
        );
        let (again, how) = github.ensure_release(&request).await.unwrap();
        assert_eq!(how, Ensured::Unchanged);
        assert_eq!(again.id, created.id);
        let releases = fake.releases();
        assert_eq!(releases.len(), 1);
        assert_eq!(releases[0].body.as_deref(), Some(NOTES));
        assert_eq!(releases[0].name.as_deref(), Some("1.2.0"));
        assert_eq!(releases[0].writes, 1, "the second run wrote nothing");
        // Different notes: the same release, updated.
        let (updated, how) = github
            .ensure_release(&request.clone().body("## 1.2.0\n\nrewritten"))
            .await
            .unwrap();
        assert_eq!((how, updated.id), (Ensured::Updated, created.id));
        assert_eq!(fake.releases().len(), 1);
        assert_eq!(
            fake.releases()[0].body.as_deref(),
            Some("## 1.2.0\n\nrewritten")
        );
    }

    #[tokio::test]
    async fn a_draft_of_the_tag_is_found_by_listing_and_published() {
        let fake = FakeGitHub::start().await;
        // 150 releases before it: the draft is the newest, found on the
        // first page of the list (drafts are listed for push access only).
        for i in 0..150 {
            fake.insert_release(&format!("v0.{i}.0"), SHA, false, false, &[]);
        }
        let draft = fake.insert_release("v1.0.0", SHA, true, false, &[]);
        let github = client(&fake.uri(), TOKEN);
        // The published-by-tag endpoint does not see drafts.
        assert!(github.release_by_tag("v1.0.0").await.unwrap().is_none());
        let (release, how) = github
            .ensure_release(&ReleaseRequest::new("v1.0.0").body("notes"))
            .await
            .unwrap();
        assert_eq!((how, release.id), (Ensured::Updated, draft));
        assert!(!release.draft);
        assert_eq!(fake.releases().len(), 151);
    }

    #[tokio::test]
    async fn a_create_whose_reply_is_lost_is_not_made_twice() {
        let fake = FakeGitHub::start().await;
        fake.lose_reply("POST", "/releases");
        let github = client(&fake.uri(), TOKEN);
        let (release, how) = github
            .ensure_release(&ReleaseRequest::new("v2.0.0").body("notes"))
            .await
            .unwrap();
        assert_eq!(how, Ensured::Created);
        assert_eq!(release.tag_name, "v2.0.0");
        assert_eq!(fake.releases().len(), 1);
        let posts = fake
            .requests()
            .await
            .iter()
            .filter(|r| r.method.as_str() == "POST")
            .count();
        assert_eq!(posts, 1, "a POST that may have landed is not repeated");
    }

    #[tokio::test]
    async fn a_release_made_meanwhile_by_another_run_is_taken_not_duplicated() {
        let fake = FakeGitHub::start().await;
        let github = client(&fake.uri(), TOKEN);
        // Another run creates it between our look and our create: the
        // create is refused with GitHub's 422, and the second look finds it.
        fake.fault(
            "GET",
            "/releases/tags/v3.0.0",
            404,
            &github_json("error-404.json"),
            &[],
        );
        fake.fault("GET", "/releases", 200, &serde_json::json!([]), &[]);
        let other = fake.insert_release("v3.0.0", SHA, false, false, &[]);
        let (release, how) = github
            .ensure_release(&ReleaseRequest::new("v3.0.0").body(""))
            .await
            .unwrap();
        assert_eq!((release.id, how), (other, Ensured::Unchanged));
        assert_eq!(fake.releases().len(), 1);
        let posts = fake
            .requests()
            .await
            .iter()
            .filter(|r| r.method.as_str() == "POST")
            .count();
        assert_eq!(posts, 1, "one create was tried, and refused");
    }

    #[tokio::test]
    async fn failures_are_told_apart_and_never_show_the_token() {
        let fake = FakeGitHub::start().await;
        let request = ReleaseRequest::new("v1.0.0");
        let err = client(&fake.uri(), "ghs_wrongToken")
            .ensure_release(&request)
            .await
            .unwrap_err();
        assert_eq!((err.status(), err.blame()), (Some(401), Blame::Caller));
        assert!(!err.to_string().contains("ghs_wrongToken"), "{err}");
        fake.fault(
            "POST",
            "/releases",
            403,
            &github_json("error-403-resource-not-accessible.json"),
            &[],
        );
        let err = client(&fake.uri(), TOKEN)
            .ensure_release(&request)
            .await
            .unwrap_err();
        assert!(err.is_forbidden(), "{err}");
        assert_eq!(err.blame(), Blame::Caller);
        // GitHub down through every retry: external.
        fake.outage(0, 50, 503);
        let err = client(&fake.uri(), TOKEN)
            .ensure_release(&request)
            .await
            .unwrap_err();
        assert_eq!(err.blame(), Blame::External, "{err}");
        assert!(fake.releases().is_empty());
    }
}
