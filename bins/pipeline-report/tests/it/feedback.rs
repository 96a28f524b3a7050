//! The feedback around a pull request, end to end: the binary as a process
//! against the GitHub fake (`pipeline_testkit::github`, from the official
//! REST shapes), and the changed lines' coverage on a real repository,
//! held against diff-cover's figures for the same repository and report.

use std::path::Path;

use assert_cmd::Command;
use pipeline_testkit::github::{FakeGitHub, REPOSITORY, TOKEN, github_json};

use crate::{fixture, report, root};

const SHA: &str = "3dca65fa3e8d4b3da3f3d056c59aee1c50f41390";

/// The binary as GitHub Actions runs it on a pull request, talking to `fake`.
fn on_pull_request(dir: &Path, fake: &FakeGitHub) -> Command {
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        format!(
            r#"{{"action":"synchronize","number":42,"pull_request":{{"number":42,"head":{{"sha":"{SHA}","ref":"topic"}},"base":{{"ref":"main","sha":"e7fdf7640066d71ad16a86fbcbb9c6a10a18af4f"}}}}}}"#
        ),
    )
    .unwrap();
    let mut cmd = report();
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", dir.join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
        .env("GITHUB_WORKSPACE", root())
        .env("GITHUB_REPOSITORY", REPOSITORY)
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", fake.uri())
        .env("GITHUB_SHA", "0000000000000000000000000000000000000001")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "7");
    cmd
}

/// A JUnit report of `n` failing tests, each at its own file and line.
fn many_failures(dir: &Path, n: usize) -> String {
    let mut xml = String::from(r#"<testsuite name="many">"#);
    for i in 1..=n {
        xml.push_str(&format!(
            r#"<testcase classname="tests.test_{i}" name="test_{i}" file="tests/test_{i}.py" line="{i}"><failure message="assert {i} == 0">tests/test_{i}.py:{}: AssertionError</failure></testcase>"#,
            i + 1
        ));
    }
    xml.push_str(r#"<testcase classname="tests.ok" name="test_ok"/></testsuite>"#);
    let path = dir.join("many.xml");
    std::fs::write(&path, xml).unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs `cmd` off the runtime that serves the fake.
async fn run(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_run_carries_the_summary_and_every_annotation_in_batches() {
    let fake = FakeGitHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let junit = many_failures(dir.path(), 120);
    let mut cmd = on_pull_request(dir.path(), &fake);
    cmd.args(["gate", "--junit", &junit, "--check-run", "tests"]);
    let out = run(cmd).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let runs = fake.check_runs();
    assert_eq!(runs.len(), 1, "{stderr}");
    let run = &runs[0];
    // The pull request's head, from the event, not the merge commit.
    assert_eq!(run.head_sha, SHA);
    assert_eq!(run.name, "tests");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.writes, 3, "a create and two updates of 50");
    assert_eq!(run.annotations.len(), 120);
    assert_eq!(run.annotations[0]["path"], "tests/test_1.py");
    assert_eq!(run.annotations[0]["start_line"], 2, "the trace's line");
    assert_eq!(run.annotations[119]["path"], "tests/test_120.py");
    assert!(
        run.title.starts_with("gate failed: 1 passed, 120 failed"),
        "{}",
        run.title
    );
    assert!(
        run.summary.starts_with("## Report gate: failed ❌"),
        "{}",
        run.summary
    );
    // The check run carries the annotations: none as workflow commands.
    assert!(!stdout.contains("::error"), "{stdout}");
    assert!(!unmasked(&stderr).contains(TOKEN));
    let requests = fake.requests().await;
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        body["details_url"],
        format!("https://github.com/{REPOSITORY}/actions/runs/7")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_checks_write_the_annotations_go_to_the_log_and_the_gate_decides() {
    let fake = FakeGitHub::start().await;
    fake.fault(
        "POST",
        "/check-runs",
        403,
        &github_json("error-403-resource-not-accessible.json"),
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let junit = many_failures(dir.path(), 12);
    let mut cmd = on_pull_request(dir.path(), &fake);
    cmd.args([
        "gate",
        "--junit",
        &junit,
        "--check-run",
        "tests",
        "--max-failures",
        "20",
    ]);
    let out = run(cmd).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "the gate passed: {stderr}");
    assert!(stderr.contains("may not write checks"), "{stderr}");
    assert!(
        stderr.contains("Resource not accessible by integration"),
        "{stderr}"
    );
    assert!(fake.check_runs().is_empty());
    let errors = stdout.lines().filter(|l| l.starts_with("::error ")).count();
    assert_eq!(errors, 10, "capped at GitHub's 10 per step: {stdout}");
    assert!(
        stdout.contains("2 more problem(s) not annotated"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_unreachable_after_retries_is_exit_3_and_a_bad_token_exit_2() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let fake = FakeGitHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = on_pull_request(dir.path(), &fake);
    cmd.env("GITHUB_API_URL", format!("http://127.0.0.1:{port}"))
        .args([
            "gate",
            "--junit",
            &fixture("sample/junit.xml"),
            "--pr-comment",
        ]);
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("comment on #42"), "{stderr}");
    // The verdict was still printed.
    assert!(text(&out.stdout).contains("gate:     passed"));

    let mut cmd = on_pull_request(dir.path(), &fake);
    cmd.env("GITHUB_TOKEN", "ghs_notTheRightOne").args([
        "gate",
        "--junit",
        &fixture("sample/junit.xml"),
        "--check-run",
        "tests",
    ]);
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("401") && stderr.contains("Bad credentials"),
        "{stderr}"
    );
    let rest = stderr.replacen("::add-mask::ghs_notTheRightOne\n", "", 1);
    assert!(!rest.contains("ghs_notTheRightOne"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pull_request_comment_is_created_then_updated_with_the_change_since_the_base() {
    let fake = FakeGitHub::start().await;
    fake.insert_comment(42, "Looks good to me");
    let dir = tempfile::tempdir().unwrap();
    // The base branch's last result: fewer tests, more coverage.
    let baseline = dir.path().join("base.json");
    let mut base = report();
    base.args([
        "gate",
        "--junit",
        &fixture("reports/junit/pytest/pytest9-xunit2.xml"),
        "--cobertura",
        &fixture("reports/cobertura/coveragepy/coverage7-branch-pos.xml"),
        "--max-failures",
        "9",
        "--json",
    ]);
    let out = run(base).await;
    std::fs::write(&baseline, &out.stdout).unwrap();

    let gate = |dir: &Path| {
        let mut cmd = on_pull_request(dir, &fake);
        cmd.args([
            "gate",
            "--junit",
            &fixture("reports/junit/nextest/nextest-basic.xml"),
            "--junit",
            &fixture("reports/junit/pytest/pytest9-xunit2.xml"),
            "--cobertura",
            &fixture("reports/cobertura/coveragepy/coverage7-branch-neg.xml"),
            "--max-failures",
            "9",
            "--pr-comment",
            "--baseline",
        ])
        .arg(&baseline);
        cmd
    };
    let out = run(gate(dir.path())).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let comments = fake.comments(42);
    assert_eq!(comments.len(), 2);
    let ours = &comments[1];
    assert!(
        ours.body
            .starts_with("<!-- pipeline-report:gate -->\n## Report gate: passed ✅"),
        "{}",
        ours.body
    );
    // 4 + 3 tests now against 4; lines 9/16 against 11/16 (56.25 % against 68.75 %).
    assert!(
        ours.body.contains("**Since the base branch:** +3 tests, +1 failing, -12.5 % line coverage, -25.0 % branch coverage"),
        "{}",
        ours.body
    );
    assert!(ours.body.contains("### Failing tests"), "{}", ours.body);

    let out = run(gate(dir.path())).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let comments = fake.comments(42);
    assert_eq!(comments.len(), 2, "updated in place, not added");
    assert_eq!(comments[1].id, ours.id);
    assert_eq!(comments[1].edits, 1);
    assert_eq!(comments[0].body, "Looks good to me");
}

#[test]
fn a_baseline_that_is_not_a_gate_document_is_exit_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("base.json");
    std::fs::write(&bad, r#"{"schema":"something/else","tests":null}"#).unwrap();
    let out = report()
        .args([
            "gate",
            "--junit",
            &fixture("sample/junit.xml"),
            "--pr-comment",
            "--pr",
            "1",
            "--baseline",
        ])
        .arg(&bad)
        .env("GITHUB_REPOSITORY", REPOSITORY)
        .env("GITHUB_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--baseline") && stderr.contains("base.json"),
        "{stderr}"
    );
    assert!(stderr.contains("something/else"), "{stderr}");
    let out = report()
        .args([
            "gate",
            "--junit",
            &fixture("sample/junit.xml"),
            "--check-run",
            "tests",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("GITHUB_REPOSITORY"),
        "{}",
        text(&out.stderr)
    );
}

/// The diff-coverage fixture's repository, made by its script.
fn diff_repo(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("repo");
    let status = std::process::Command::new("bash")
        .arg(fixture("reports/diff/make-repo.sh"))
        .arg(&repo)
        .status()
        .unwrap();
    assert!(status.success());
    repo
}

#[test]
fn changed_lines_coverage_matches_diff_cover_on_the_same_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = diff_repo(dir.path());
    let out = report()
        .args(["gate", "--workspace"])
        .arg(&repo)
        .args(["--cobertura", &fixture("reports/diff/coverage.xml")])
        .args(["--diff-base", "main", "--min-diff-coverage", "40", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = &doc["coverage"]["diff"];
    // What diff-cover 11.0.4 wrote for the same repository and report.
    let theirs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("reports/diff/diff-cover.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ours["lines_valid"], theirs["total_num_lines"]);
    assert_eq!(
        ours["lines_valid"].as_u64().unwrap() - ours["lines_covered"].as_u64().unwrap(),
        theirs["total_num_violations"].as_u64().unwrap()
    );
    assert_eq!(
        ours["percent"].as_f64().unwrap().floor() as u64,
        theirs["total_percent_covered"].as_u64().unwrap(),
        "diff-cover prints the percentage cut to an integer"
    );
    for (file, stats) in theirs["src_stats"].as_object().unwrap() {
        let missing: Vec<u64> = stats["violation_lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let ranges = ours["uncovered"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["file"] == file.as_str())
            .unwrap_or_else(|| panic!("{file} not in {ours}"));
        let ours_missing: Vec<u64> = ranges["lines"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r[0].as_u64().unwrap()..=r[1].as_u64().unwrap())
            .collect();
        assert_eq!(ours_missing, missing, "{file}");
        let file_stats = ours["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file"] == file.as_str())
            .unwrap();
        let percent = file_stats["lines_covered"].as_f64().unwrap() * 100.0
            / file_stats["lines_valid"].as_f64().unwrap();
        assert_eq!(
            percent,
            stats["percent_covered"].as_f64().unwrap(),
            "{file}"
        );
    }
    // The gate check, and the figures in words.
    let out = report()
        .args(["gate", "--workspace"])
        .arg(&repo)
        .args(["--cobertura", &fixture("reports/diff/coverage.xml")])
        .args(["--diff-base", "main", "--min-diff-coverage", "50"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("calc/__init__.py 11-12, 28, 31; calc/stats.py 12, 18-22"),
        "{stdout}"
    );
    assert!(
        stdout.contains("coverage of the lines changed since main 44.44% is below the minimum 50%"),
        "{stdout}"
    );
}

#[test]
fn changed_lines_reach_the_step_outputs_and_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let repo = diff_repo(dir.path());
    let out = report()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", dir.path().join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary.md"))
        .args(["gate", "--workspace"])
        .arg(&repo)
        .args(["--cobertura", &fixture("reports/diff/coverage.xml")])
        .args(["--diff-base", "main"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let outputs =
        pipeline_ci::read_outputs(&std::fs::read_to_string(dir.path().join("output")).unwrap())
            .unwrap();
    assert!(
        outputs.contains(&("diff_coverage".to_owned(), "44.44".to_owned())),
        "{outputs:?}"
    );
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        summary.contains("| changed lines | 44.44% (8/18) since `main` |"),
        "{summary}"
    );
    assert!(summary.contains("### Changed lines not run"), "{summary}");
    assert!(
        summary.contains("| `calc/stats.py` | 12, 18-22 |"),
        "{summary}"
    );
}

#[test]
fn a_diff_base_that_names_nothing_is_exit_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = diff_repo(dir.path());
    let out = report()
        .args(["gate", "--workspace"])
        .arg(&repo)
        .args(["--cobertura", &fixture("reports/diff/coverage.xml")])
        .args(["--diff-base", "origin/no-such-branch"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--diff-base") && stderr.contains("origin/no-such-branch"),
        "{stderr}"
    );
    let out = report()
        .args([
            "gate",
            "--cobertura",
            &fixture("reports/diff/coverage.xml"),
            "--min-diff-coverage",
            "50",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--min-diff-coverage needs --diff-base"));
}

/// The output without the one workflow command that asks GitHub Actions to
/// mask the token (which must carry it).
fn unmasked(text: &str) -> String {
    text.replacen(&format!("::add-mask::{TOKEN}\n"), "", 1)
}
