//! `pipeline-report` end to end: the real binary on real reports, its exit
//! codes, its JSON, and the files it writes inside GitHub Actions.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

mod feedback;

pub(crate) fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

pub(crate) fn fixture(relative: &str) -> String {
    root()
        .join("fixtures")
        .join(relative)
        .to_string_lossy()
        .into_owned()
}

/// The binary with a clean environment: no CI variables from the machine
/// running the tests leak in.
pub(crate) fn report() -> Command {
    let mut cmd = Command::cargo_bin("pipeline-report").unwrap();
    for var in [
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_WORKSPACE",
        "GITHUB_REPOSITORY",
        "GITHUB_TOKEN",
        "GITHUB_API_URL",
        "GITHUB_SHA",
        "GITHUB_EVENT_PATH",
        "GITHUB_SERVER_URL",
        "GITHUB_RUN_ID",
        "CI",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

fn sample_gate() -> Command {
    let mut cmd = report();
    cmd.args(["gate", "--workspace"])
        .arg(fixture("sample"))
        .args(["--junit", &fixture("sample/junit.xml")])
        .args(["--cobertura", &fixture("sample/coverage.xml")])
        .args(["--pylint", &fixture("sample/pylint.json")]);
    cmd
}

#[test]
fn the_sample_passes_the_readme_gate() {
    sample_gate()
        .args([
            "--min-line-coverage",
            "80",
            "--min-branch-coverage",
            "60",
            "--min-pylint-score",
            "8",
            "--max-failures",
            "0",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "tests:    6 total: 6 passed, 0 failed, 0 errored, 0 skipped",
        ))
        .stdout(predicate::str::contains(
            "coverage: lines 96.15% (25/26), branches 87.50% (7/8)",
        ))
        .stdout(predicate::str::contains(
            "lowest:   calc/__init__.py 92.86%",
        ))
        .stdout(predicate::str::contains("pylint:   8.40/10"))
        .stdout(predicate::str::contains("gate:     passed"));
}

#[test]
fn every_violation_is_listed_and_the_exit_code_is_1() {
    sample_gate()
        .args([
            "--min-line-coverage",
            "99",
            "--min-branch-coverage",
            "90",
            "--min-pylint-score",
            "9.5",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("gate:     FAILED"))
        .stdout(predicate::str::contains(
            "line coverage 96.15% is below the minimum 99%",
        ))
        .stdout(predicate::str::contains(
            "branch coverage 87.50% is below the minimum 90%",
        ))
        .stdout(predicate::str::contains("pylint score 8.40/10"));
}

#[test]
fn failures_come_first_with_their_place() {
    report()
        .args([
            "gate",
            "--junit",
            &fixture("reports/junit/pytest/pytest8-xunit2.xml"),
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with(
            "failures:\n  FAIL  tests/test_lib.py:25  tests.test_lib::test_always_fail",
        ))
        .stdout(predicate::str::contains(
            "2 failing test(s); at most 0 allowed",
        ));
}

#[test]
fn the_json_document_is_stable_and_complete() {
    let output = sample_gate()
        .args(["--min-line-coverage", "80", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["schema"], "pipeline-report/gate/v1");
    assert_eq!(doc["gate"]["passed"], true);
    assert_eq!(doc["tests"]["counts"]["total"], 6);
    assert_eq!(doc["coverage"]["lines_valid"], 26);
    assert_eq!(doc["coverage"]["files"][0]["file"], "calc/__init__.py");
    assert_eq!(doc["pylint"]["score"], 8.4);
    assert_eq!(doc["thresholds"]["min_line_coverage"], 80.0);
}

#[test]
fn bad_usage_and_bad_input_exit_2_naming_the_problem() {
    report()
        .args(["gate"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to gate"));
    report().args(["gate", "--bogus"]).assert().code(2);
    report()
        .args([
            "gate",
            "--junit",
            &fixture("sample/junit.xml"),
            "--min-line-coverage",
            "80",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--min-line-coverage needs a --cobertura report",
        ));
    report()
        .args([
            "gate",
            "--cobertura",
            &fixture("sample/coverage.xml"),
            "--min-line-coverage",
            "180",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("out of range"));
    report()
        .args(["gate", "--junit", "no/such/dir/*.xml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--junit 'no/such/dir/*.xml' matches no file",
        ));
    report()
        .args([
            "gate",
            "--workspace",
            "no/such/workspace",
            "--junit",
            &fixture("sample/junit.xml"),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--workspace no/such/workspace"));
    let truncated = fixture("reports/junit/misc/truncated-corrupt.xml");
    report()
        .args(["gate", "--junit", &truncated])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{truncated}:11:22: unexpected end of file"
        )));
    report()
        .args(["gate", "--junit", &fixture("sample/coverage.xml")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "looks like a Cobertura coverage report",
        ));
}

#[test]
fn missing_and_empty_are_allowed_only_when_asked() {
    report()
        .args(["gate", "--junit", "no/such/*.xml", "--allow-missing"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("no tests ran"));
    report()
        .args([
            "gate",
            "--junit",
            "no/such/*.xml",
            "--allow-missing",
            "--allow-empty",
        ])
        .assert()
        .code(0);
}

#[test]
fn a_pylint_format_without_a_score_fails_the_score_gate_saying_why() {
    report()
        .args([
            "gate",
            "--pylint",
            &fixture("reports/pylint/warnings-ng/pylint-windows-absolute-paths.txt"),
            "--min-pylint-score",
            "5",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("carries no score"));
}

fn in_actions(dir: &Path) -> Command {
    let mut cmd = report();
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", dir.join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
        .env("GITHUB_WORKSPACE", root());
    cmd
}

#[test]
fn inside_github_actions_it_writes_outputs_summary_and_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let assert = in_actions(dir.path())
        .args([
            "gate",
            "--junit",
            &fixture("reports/junit/go/gotestsum-report.xml"),
        ])
        .args([
            "--cobertura",
            &fixture("sample/coverage.xml"),
            "--min-line-coverage",
            "50",
        ])
        .assert()
        .code(1);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();

    // Read as GitHub's runner reads the file.
    let outputs =
        pipeline_ci::read_outputs(&std::fs::read_to_string(dir.path().join("output")).unwrap())
            .unwrap();
    let get = |name: &str| {
        outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("total"), Some("60"));
    assert_eq!(get("failed"), Some("13"));
    assert_eq!(get("skipped"), Some("5"));
    assert_eq!(get("line_coverage"), Some("96.15"));
    assert_eq!(get("pylint_score"), Some(""));
    assert_eq!(get("gate"), Some("failed"));

    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        summary.starts_with("## Report gate: failed ❌"),
        "{summary}"
    );
    assert!(
        summary
            .contains("| tests | 60 total: 42 passed (0 flaky), 13 failed, 0 errored, 5 skipped"),
        "{summary}"
    );
    assert!(summary.contains("### Failing tests"), "{summary}");

    // 13 failures: GitHub shows 10 error annotations per step; the rest are counted.
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 10, "{stdout}");
    assert!(
        errors
            .iter()
            .any(|l| l.contains("file=fails_test.go,line=50,title=test failed%3A ")),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 more problem(s) not annotated"),
        "{stdout}"
    );
}

#[test]
fn with_json_the_workflow_commands_go_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let output = in_actions(dir.path())
        .args([
            "gate",
            "--junit",
            &fixture("reports/junit/pytest/pytest8-xunit2.xml"),
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["gate"]["violations"][0]["check"], "failures");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("::error file=tests/test_lib.py,line=25")
    );
}

#[test]
fn the_summary_stays_within_what_is_left_of_githubs_limit() {
    let dir = tempfile::tempdir().unwrap();
    // Earlier steps already wrote most of the 1 MiB.
    let earlier = "x".repeat(1024 * 1024 - 1200) + "\n";
    std::fs::write(dir.path().join("summary.md"), &earlier).unwrap();
    in_actions(dir.path())
        .args([
            "gate",
            "--junit",
            &fixture("reports/junit/testng/pulsar-merged-808-tests.xml"),
        ])
        .args([
            "--cobertura",
            &fixture("reports/cobertura/java-cobertura/cobertura-1.9-coverage-03-dtd.xml"),
        ])
        .assert()
        .code(1);
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.len() <= 1024 * 1024, "{}", summary.len());
    let ours = &summary[earlier.len()..];
    assert!(ours.starts_with("## Report gate: failed"), "{ours}");
    assert!(
        ours.contains("left out to keep the summary under GitHub's size limit"),
        "{ours}"
    );
}

#[test]
fn the_json_document_keeps_its_shape() {
    let output = report()
        .current_dir(root())
        .args([
            "gate",
            "--workspace",
            "fixtures/sample",
            "--junit",
            "fixtures/reports/junit/nextest/nextest-rerun-and-flaky.xml",
        ])
        .args([
            "--cobertura",
            "fixtures/sample/coverage.xml",
            "--pylint",
            "fixtures/sample/pylint.json",
        ])
        .args([
            "--min-line-coverage",
            "80",
            "--min-pylint-score",
            "9",
            "--max-output-bytes",
            "120",
            "--json",
            // Else HEAD of this repository, which every commit moves.
            "--commit",
            "1111111111111111111111111111111111111111",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    insta::assert_json_snapshot!(doc);
}

#[test]
fn report_text_cannot_inject_workflow_commands() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("evil.xml");
    std::fs::write(
        &junit,
        "<testsuite name=\"s\"><testcase name=\"t\"><failure message=\"::error::injected ##[warning]too\">x</failure></testcase></testsuite>",
    )
    .unwrap();
    let output = in_actions(dir.path())
        .args(["gate", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    for stream in [&output.stdout, &output.stderr] {
        for line in String::from_utf8_lossy(stream).lines() {
            assert!(
                !line.trim_start().starts_with("::error::injected"),
                "{line}"
            );
            assert!(!line.contains("##[warning]"), "{line}");
        }
    }
}
