//! JUnit fixtures: counts checked against a count made by hand, and the
//! whole reading snapshotted.

use std::path::Path;

use pipeline_reports::junit::{JunitOptions, parse_junit_file};
use serde_json::json;

use crate::{fixture, fixtures_in};

/// file, [total, passed, failed, errored, skipped, flaky], suites holding testcases.
/// Counted independently of the parser, by reading each file.
const EXPECTED: &[(&str, [u64; 6], u64)] = &[
    (
        "android-marathon/marathon-flakyFailure.xml",
        [1, 1, 0, 0, 0, 1],
        1,
    ),
    (
        "bazel/bazel-generated-suite-logs.xml",
        [1, 0, 0, 1, 0, 0],
        1,
    ),
    (
        "c-unity/c-testcase-file-line-no-classname.xml",
        [4, 3, 1, 0, 0, 0],
        1,
    ),
    ("catch2/catch2-failure-file-line.xml", [1, 0, 1, 0, 0, 0], 1),
    (
        "container-structure-test/nanosecond-time.xml",
        [3, 3, 0, 0, 0, 0],
        1,
    ),
    ("cpp-tst/tst-disabled-status.xml", [31, 6, 19, 1, 5, 0], 2),
    ("cucumber/cucumber-skipped-cdata.xml", [1, 0, 0, 0, 1, 0], 1),
    ("cunit/cunit-id-attrs-exp-time.xml", [4, 3, 1, 0, 0, 0], 1),
    (
        "dotnet/xunit-converted-properties-at-root.xml",
        [2, 2, 0, 0, 0, 0],
        1,
    ),
    ("eslint/eslint-junit-formatter.xml", [1, 1, 0, 0, 0, 0], 1),
    ("go/go-junit-report-basic.xml", [5, 2, 1, 0, 2, 0], 3),
    ("go/go-junit-report-build-failed.xml", [1, 0, 0, 1, 0, 0], 1),
    ("go/go-junit-report-panic.xml", [2, 0, 0, 2, 0, 0], 2),
    ("go/gotestsum-report.xml", [60, 42, 13, 0, 5, 0], 4),
    ("googletest/gtest-cdata-failure.xml", [1, 0, 1, 0, 0, 0], 1),
    (
        "googletest/gtest-xml-output-multi-failure-disabled.xml",
        [24, 17, 4, 0, 3, 0],
        14,
    ),
    (
        "jasmine/jasmine-reporters-status-notrun.xml",
        [3, 1, 0, 0, 2, 0],
        1,
    ),
    ("jenkins/ant-counts-mismatch.xml", [5, 5, 0, 0, 0, 0], 1),
    (
        "jenkins/bad-duration-duplicate-case.xml",
        [2, 2, 0, 0, 0, 0],
        1,
    ),
    ("jenkins/empty-testcase-name.xml", [1, 0, 1, 0, 0, 0], 1),
    ("jenkins/error-details.xml", [1, 0, 0, 1, 0, 0], 1),
    (
        "jenkins/nested-testsuites-suite-error.xml",
        [3, 2, 0, 1, 0, 0],
        2,
    ),
    ("jenkins/various-timestamps.xml", [12, 12, 0, 0, 0, 0], 8),
    ("jenkins/with-properties.xml", [2, 1, 1, 0, 0, 0], 1),
    (
        "jest/jest-junit-ancestor-classname-windows.xml",
        [6, 1, 4, 0, 1, 0],
        2,
    ),
    ("jest/jest-junit-empty-classname.xml", [2, 2, 0, 0, 0, 0], 1),
    // jest 30 printed "Tests: 3 failed, 1 passed, 4 total".
    ("jest/jest30-junit.xml", [4, 1, 3, 0, 0, 0], 1),
    ("misc/astral-unicode.xml", [7, 1, 2, 2, 2, 0], 1),
    ("misc/counts-without-testcases.xml", [0, 0, 0, 0, 0, 0], 0),
    ("misc/empty-system-out-err.xml", [1, 1, 0, 0, 0, 0], 1),
    ("misc/multiple-failure-elements.xml", [4, 1, 2, 0, 1, 0], 1),
    (
        "misc/multiresult-skipped+failure+error.xml",
        [4, 1, 1, 1, 1, 0],
        1,
    ),
    // Pass, fail, error: a runner retries only what failed, so the failure
    // after the pass is a second test, and the error its retry.
    (
        "misc/retries-as-duplicate-testcases.xml",
        [2, 1, 0, 1, 0, 0],
        1,
    ),
    ("misc/xml-entities.xml", [4, 0, 1, 1, 2, 0], 1),
    (
        "mocha/mocha-xunit-rfc2822-timestamp.xml",
        [109, 109, 0, 0, 0, 0],
        1,
    ),
    // mocha 11 printed "1 passing", "2 failing".
    ("mocha/mocha11-junit.xml", [3, 1, 2, 0, 0, 0], 1),
    (
        "nette-tester/tester-no-suite-name.xml",
        [65, 61, 1, 0, 3, 0],
        1,
    ),
    ("nextest/nextest-basic.xml", [3, 2, 1, 0, 0, 0], 1),
    ("nextest/nextest-rerun-and-flaky.xml", [3, 2, 1, 0, 0, 1], 1),
    (
        "nextest/nextest-setup-script-fragment.xml",
        [1, 1, 0, 0, 0, 0],
        1,
    ),
    (
        "nextest/nextest-stress-suite-suffix.xml",
        [4, 4, 0, 0, 0, 0],
        2,
    ),
    (
        "perl/tap-formatter-junit-sci-notation-time.xml",
        [1, 1, 0, 0, 0, 0],
        1,
    ),
    (
        "phpunit/codeception-feature-attr.xml",
        [22, 21, 0, 1, 0, 0],
        1,
    ),
    (
        "phpunit/phpunit-3-level-nesting.xml",
        [30, 28, 2, 0, 0, 0],
        12,
    ),
    ("phpunit/phpunit-style-nested.xml", [5, 5, 0, 0, 0, 0], 4),
    ("phpunit/phpunit11-phpt.xml", [12, 10, 2, 0, 0, 0], 4),
    ("pytest/pytest-single-line.xml", [4, 2, 2, 0, 0, 0], 1),
    ("pytest/pytest-xunit1-file-line.xml", [5, 3, 1, 0, 1, 0], 1),
    ("pytest/pytest8-xunit2.xml", [10, 6, 2, 0, 2, 0], 1),
    // What pytest 9 printed: "1 error"; "1 error"; "1 failed, 2 passed,
    // 3 rerun"; "3 failed, 1 passed" twice.
    (
        "pytest/pytest9-collection-error-full-trace.xml",
        [1, 0, 0, 1, 0, 0],
        1,
    ),
    ("pytest/pytest9-collection-error.xml", [1, 0, 0, 1, 0, 0], 1),
    ("pytest/pytest9-rerunfailures.xml", [3, 2, 1, 0, 0, 1], 1),
    ("pytest/pytest9-xunit1.xml", [4, 1, 3, 0, 0, 0], 1),
    ("pytest/pytest9-xunit2.xml", [4, 1, 3, 0, 0, 0], 1),
    (
        "python-unittest/unittest-xml-reporting.xml",
        [8, 4, 1, 1, 2, 0],
        1,
    ),
    ("ruby/minitest-junit.xml", [33, 33, 0, 0, 0, 0], 2),
    (
        "security/classname-path-traversal.xml",
        [1, 1, 0, 0, 0, 0],
        1,
    ),
    (
        "surefire/surefire-flaky-stackTrace-child.xml",
        [1, 1, 0, 0, 0, 1],
        1,
    ),
    ("surefire/surefire-flakyFailure.xml", [1, 1, 0, 0, 0, 1], 1),
    (
        "surefire/surefire-rerunError-mixed.xml",
        [1, 0, 0, 1, 0, 0],
        1,
    ),
    ("surefire/surefire-rerunFailure.xml", [1, 0, 1, 0, 0, 0], 1),
    ("swift/swift-xunit.xml", [3, 2, 1, 0, 0, 0], 1),
    (
        "testng/pulsar-merged-808-tests.xml",
        [808, 793, 1, 0, 14, 0],
        176,
    ),
    // The pytest 9 xunit2 report, re-encoded as UTF-16.
    (
        "utf16/pytest9-xunit2-utf16be-bom.xml",
        [4, 1, 3, 0, 0, 0],
        1,
    ),
    (
        "utf16/pytest9-xunit2-utf16le-bom.xml",
        [4, 1, 3, 0, 0, 0],
        1,
    ),
    (
        "utf16/pytest9-xunit2-utf16le-no-bom.xml",
        [4, 1, 3, 0, 0, 0],
        1,
    ),
    // vitest 4 printed "Tests  2 failed | 1 passed (3)".
    ("vitest/vitest4-junit.xml", [3, 1, 2, 0, 0, 0], 1),
    ("web-test-runner/wtr-retries.xml", [7, 5, 1, 0, 1, 1], 2),
];

const BROKEN: &[(&str, &str)] = &[
    (
        "misc/truncated-corrupt.xml",
        "truncated-corrupt.xml:11:22: unexpected end of file: <skipped> opened at 9:13 is not closed (is the file truncated?)",
    ),
    (
        "security/xxe-doctype.xml",
        "xxe-doctype.xml:2:1: the DOCTYPE declares entities; they are never expanded nor fetched, so the report is refused",
    ),
];

fn relative(path: &Path) -> String {
    path.strip_prefix(fixture("junit"))
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn every_fixture_is_covered_by_the_expectations() {
    let files: Vec<String> = fixtures_in("junit", "xml")
        .iter()
        .map(|p| relative(p))
        .collect();
    let known: Vec<String> = EXPECTED
        .iter()
        .map(|(f, ..)| (*f).to_owned())
        .chain(BROKEN.iter().map(|(f, _)| (*f).to_owned()))
        .collect();
    for file in &files {
        assert!(known.contains(file), "{file} has no expected counts");
    }
    assert_eq!(files.len(), known.len());
}

#[test]
fn counts_match_a_reading_by_hand() {
    let options = JunitOptions::default();
    let mut wrong = Vec::new();
    for (file, [total, passed, failed, errored, skipped, flaky], suites) in EXPECTED {
        let report = parse_junit_file(&fixture(&format!("junit/{file}")), &options)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let c = report.counts;
        let got = (
            [c.total, c.passed, c.failed, c.errored, c.skipped, c.flaky],
            report.suites,
        );
        if got
            != (
                [*total, *passed, *failed, *errored, *skipped, *flaky],
                *suites,
            )
        {
            wrong.push(format!("{file}: got {got:?}"));
        }
        assert_eq!(
            c.total,
            c.passed + c.failed + c.errored + c.skipped,
            "{file}"
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn broken_files_are_refused_with_line_and_column() {
    for (file, message) in BROKEN {
        let err = parse_junit_file(&fixture(&format!("junit/{file}")), &JunitOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.ends_with(message), "{file}: {err}");
    }
}

#[test]
fn fixtures_read_as_snapshotted() {
    let options = JunitOptions::default().workspace("/home/runner/work/repo");
    for path in fixtures_in("junit", "xml") {
        let name = relative(&path);
        if BROKEN.iter().any(|(f, _)| *f == name) {
            continue;
        }
        let report = parse_junit_file(&path, &options).unwrap();
        let failures: Vec<_> = report
            .failures
            .iter()
            .map(|f| {
                json!({
                    "test": format!("{}::{}", f.classname, f.name),
                    "outcome": f.outcome,
                    "at": format!("{}:{}", f.file.as_deref().unwrap_or("?"), f.line.map_or("?".to_owned(), |l| l.to_string())),
                    "message": f.message.as_deref().map(|m| m.chars().take(80).collect::<String>()),
                    "details": f.details.lines().next().map(|m| m.chars().take(80).collect::<String>()),
                    "attempts": f.attempts,
                })
            })
            .collect();
        let warnings: Vec<String> = report
            .warnings
            .iter()
            .map(|w| {
                w.rsplit_once(".xml: ")
                    .map_or(w.clone(), |(_, rest)| rest.to_owned())
            })
            .collect();
        let summary = json!({
            "counts": report.counts,
            "suites": report.suites,
            "time": (report.time * 1000.0).round() / 1000.0,
            "failures": failures,
            "flaky": report.flaky.iter().map(|f| format!("{}::{} x{}", f.classname, f.name, f.attempts)).collect::<Vec<_>>(),
            "slowest": report.slowest.iter().take(3).map(|t| format!("{}::{}", t.classname, t.name)).collect::<Vec<_>>(),
            "warnings": warnings,
        });
        let snapshot = name.replace(['/', '.'], "_");
        insta::assert_json_snapshot!(snapshot, summary);
    }
}

#[test]
fn captured_output_is_kept_for_failures_only_and_bounded() {
    let options = JunitOptions::default().max_output_bytes(64);
    let report = parse_junit_file(
        &fixture("junit/nextest/nextest-rerun-and-flaky.xml"),
        &options,
    )
    .unwrap();
    assert_eq!(report.failures.len(), 1);
    let failure = &report.failures[0];
    assert_eq!(failure.attempts, 3);
    assert!(
        failure
            .details
            .starts_with("thread 'test_failure_assert' panicked at tests/basic.rs:19:5:")
    );
    assert!(failure.details.len() <= 64);
    let stdout = failure.stdout.as_deref().unwrap();
    assert!(stdout.contains("running 1 test"), "{stdout}");
    assert!(stdout.len() <= 64);
    assert!(failure.truncated);
    assert_eq!(
        (failure.file.as_deref(), failure.line),
        (Some("tests/basic.rs"), Some(19))
    );
}
