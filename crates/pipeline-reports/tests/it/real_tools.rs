//! Reports freshly written by the real tools (pytest 9, pytest-rerunfailures,
//! coverage.py 7, jest 30 with jest-junit, mocha 11 with
//! mocha-junit-reporter, vitest 4; see `fixtures/reports/SOURCES.md`), each
//! figure held against what the tool itself printed
//! (`fixtures/reports/sources/printed/`).

use std::path::Path;

use pipeline_reports::cobertura::{CoberturaOptions, parse_cobertura_file};
use pipeline_reports::gate::{Inputs, Thresholds, evaluate};
use pipeline_reports::junit::{JunitOptions, JunitReport, parse_junit_file, parse_junit_slice};
use pipeline_reports::render::{self, GateOutcome};

use crate::fixture;

/// What a tool printed on its terminal when it wrote a fixture.
fn printed(name: &str) -> String {
    let path = fixture(&format!("sources/printed/{name}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `file:line` locations pytest printed in its failure sections for
/// files under `tests/`, in order (its short traceback's own lines).
fn pytest_test_lines(printed: &str) -> Vec<(String, u32)> {
    printed
        .lines()
        .filter(|l| l.starts_with("tests/"))
        .filter_map(|l| {
            let (file, rest) = l.split_once(':')?;
            let line = rest.split(':').next()?.parse().ok()?;
            Some((file.to_owned(), line))
        })
        .collect()
}

fn junit(file: &str, options: &JunitOptions) -> JunitReport {
    parse_junit_file(&fixture(&format!("junit/{file}")), options)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn locations(report: &JunitReport) -> Vec<(String, u32)> {
    report
        .failures
        .iter()
        .map(|f| {
            (
                f.file.clone().unwrap_or_default(),
                f.line.unwrap_or_default(),
            )
        })
        .collect()
}

/// The line `number` (1-based) of a source file the fixtures came from.
fn source_line(file: &str, number: u32) -> String {
    let path = fixture(&format!("sources/{file}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .nth(number as usize - 1)
        .unwrap_or_default()
        .to_owned()
}

/// Case 1: pytest's xunit1 `line` is 0-based and points at the `def`; the
/// traceback's own `file:line` is where the test failed.
#[test]
fn pytest_xunit1_failures_land_on_the_lines_pytest_printed() {
    let report = junit("pytest/pytest9-xunit1.xml", &JunitOptions::default());
    let expected = pytest_test_lines(&printed("pytest9-xunit1.txt"));
    assert_eq!(
        expected,
        [
            ("tests/test_calc.py".to_owned(), 11),
            ("tests/test_calc.py".to_owned(), 15),
            ("tests/test_calc.py".to_owned(), 23)
        ]
    );
    assert_eq!(locations(&report), expected);
    // The `line` attribute (7) would have been a blank line.
    assert_eq!(source_line("calc-py/tests/test_calc.py", 7), "");
    assert_eq!(
        source_line("calc-py/tests/test_calc.py", 11).trim(),
        "assert total == 5"
    );
}

/// A pytest testcase whose traceback has no frame in its file: the `line`
/// attribute, read as pytest writes it (0-based), is the `def`.
#[test]
fn a_pytest_line_attribute_is_zero_based() {
    let xml = br#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" tests="1" failures="1"><testcase classname="tests.test_calc" name="test_add_wrong" file="tests/test_calc.py" line="7"><failure message="boom">conftest.py:3: in fixture
E   RuntimeError: boom</failure></testcase></testsuite></testsuites>"#;
    let report = parse_junit_slice(xml, Path::new("t.xml"), &JunitOptions::default()).unwrap();
    assert_eq!(locations(&report), [("tests/test_calc.py".to_owned(), 8)]);
    assert_eq!(
        source_line("calc-py/tests/test_calc.py", 8),
        "def test_add_wrong():"
    );
}

/// Case 2: a collection error (`--full-trace`, whose traceback starts in
/// pytest's own modules) gets the line the traceback names in its file.
#[test]
fn a_collection_error_gets_its_line_from_the_traceback() {
    let report = junit(
        "pytest/pytest9-collection-error-full-trace.xml",
        &JunitOptions::default(),
    );
    assert_eq!(
        (report.counts.total, report.counts.errored),
        (1, 1),
        "pytest printed: 1 error"
    );
    let failure = &report.failures[0];
    assert_eq!(
        (failure.classname.as_str(), failure.name.as_str()),
        ("", "tests.test_things")
    );
    assert_eq!(failure.message.as_deref(), Some("collection failure"));
    assert_eq!(
        locations(&report),
        pytest_test_lines(&printed("pytest9-collection-error-full-trace.txt"))
    );
    assert_eq!(locations(&report), [("tests/test_things.py".to_owned(), 4)]);
}

/// Case 3: the location is sought in the whole failure text while only the
/// bounded part is kept (pytest puts `file:line: Error` at the end).
#[test]
fn the_location_is_found_beyond_the_kept_part_of_a_long_failure() {
    let bound = 100;
    let report = junit(
        "pytest/pytest9-xunit2.xml",
        &JunitOptions::default().max_output_bytes(bound),
    );
    for failure in &report.failures {
        assert!(failure.details.len() <= bound, "{}", failure.name);
        assert!(failure.truncated, "{}", failure.name);
        assert!(
            !failure.details.contains("tests/test_calc.py:"),
            "{}",
            failure.details
        );
    }
    assert_eq!(
        locations(&report),
        pytest_test_lines(&printed("pytest9-xunit2.txt"))
    );

    let bound = 4096;
    let report = junit(
        "pytest/pytest9-collection-error-full-trace.xml",
        &JunitOptions::default().max_output_bytes(bound),
    );
    let failure = &report.failures[0];
    assert!(failure.details.len() <= bound);
    assert!(!failure.details.contains("tests/test_things.py:4"));
    assert_eq!(locations(&report), [("tests/test_things.py".to_owned(), 4)]);
}

/// Case 4: pytest-rerunfailures writes each failed attempt as one more
/// testcase of the same name; a test counts once, flaky when it passed on a
/// rerun. pytest printed "1 failed, 2 passed, 3 rerun".
#[test]
fn pytest_reruns_count_once_and_flaky_when_a_rerun_passed() {
    let said = printed("pytest9-rerunfailures.txt");
    assert!(said.contains(" 1 failed, 2 passed, 3 rerun in "), "{said}");
    let report = junit("pytest/pytest9-rerunfailures.xml", &JunitOptions::default());
    let c = report.counts;
    assert_eq!(
        (c.total, c.passed, c.failed, c.errored, c.skipped, c.flaky),
        (3, 2, 1, 0, 0, 1)
    );
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].name, "test_always_fails");
    assert_eq!(report.failures[0].attempts, 3, "the first run and 2 reruns");
    assert_eq!(
        locations(&report),
        pytest_test_lines(&said),
        "tests/test_flaky.py:7"
    );
    assert_eq!(report.flaky.len(), 1);
    assert_eq!(
        (report.flaky[0].name.as_str(), report.flaky[0].attempts),
        ("test_flaky", 2)
    );
    // 3 testcases were reruns: pytest's "3 rerun".
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.ends_with(": 3 repeated testcase(s) read as retries of an earlier attempt")),
        "{:?}",
        report.warnings
    );
    // pytest's own suite attributes (tests="3" failures="1") agree with the
    // recount: no warning says otherwise.
    assert!(
        !report.warnings.iter().any(|w| w.contains("says tests=")),
        "{:?}",
        report.warnings
    );
}

/// Case 5: two coverage.py runs, each taking a different arm of the same
/// branch lines: merged per arm, as `coverage combine` does.
#[test]
fn branch_coverage_merges_per_arm_as_coverage_combine_does() {
    let options = CoberturaOptions::default();
    let read = |name: &str| {
        parse_cobertura_file(&fixture(&format!("cobertura/coveragepy/{name}")), &options)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let mut merged = read("coverage7-branch-neg.xml");
    merged.merge(read("coverage7-branch-pos.xml"));
    let combined = read("coverage7-branch-combined.xml");
    // The XML `coverage combine` wrote: 13/16 lines, 6/8 branches.
    assert_eq!(
        (
            combined.lines_covered,
            combined.lines_valid,
            combined.branches_covered,
            combined.branches_valid
        ),
        (13, 16, 6, 8)
    );
    assert_eq!(
        (
            merged.lines_covered,
            merged.lines_valid,
            merged.branches_covered,
            merged.branches_valid
        ),
        (13, 16, 6, 8)
    );
    assert_eq!(merged.files.len(), combined.files.len());
    for (a, b) in merged.files.iter().zip(&combined.files) {
        assert_eq!(
            (
                a.lines_covered,
                a.lines_valid,
                a.branches_covered,
                a.branches_valid
            ),
            (
                b.lines_covered,
                b.lines_valid,
                b.branches_covered,
                b.branches_valid
            ),
            "{}",
            a.file
        );
    }
    // `coverage report` after the combine: "16 3 8 2 79%", coverage.py's
    // total counting statements and branches together.
    let said = printed("coverage7-combined.txt");
    let total = said.lines().find(|l| l.starts_with("TOTAL")).unwrap();
    let figures: Vec<&str> = total.split_whitespace().collect();
    assert_eq!(figures, ["TOTAL", "16", "3", "8", "2", "79%"]);
    let percent = (merged.lines_covered + merged.branches_covered) as f64 * 100.0
        / (merged.lines_valid + merged.branches_valid) as f64;
    assert_eq!(format!("{percent:.0}%"), "79%");
    assert!(merged.warnings.is_empty(), "{:?}", merged.warnings);
}

/// Where a report does not name the arms missed, two partial runs of one
/// line count as the better of them, and a warning says so.
#[test]
fn branch_lines_without_named_arms_merge_to_the_best_and_say_so() {
    let report = |condition: &str| {
        let xml = format!(
            r#"<coverage><packages><package><classes><class filename="a.py"><lines><line number="1" hits="1" branch="true" condition-coverage="{condition}"/></lines></class></classes></package></packages></coverage>"#
        );
        pipeline_reports::cobertura::parse_cobertura_slice(
            xml.as_bytes(),
            Path::new("c.xml"),
            &CoberturaOptions::default(),
        )
        .unwrap()
    };
    let mut merged = report("50% (1/2)");
    merged.merge(report("50% (1/2)"));
    assert_eq!((merged.branches_covered, merged.branches_valid), (1, 2));
    assert_eq!(merged.warnings.len(), 1, "{:?}", merged.warnings);
    assert!(merged.warnings[0].starts_with("1 branch line(s) are partly covered"));
    let mut merged = report("0% (0/2)");
    merged.merge(report("100% (2/2)"));
    assert_eq!((merged.branches_covered, merged.branches_valid), (2, 2));
    assert!(merged.warnings.is_empty());
}

/// Case 6: vitest's frames (` ❯ test/calc.test.js:12:19`) give the
/// location; vitest names the test file as the class, and its frame there
/// is the test's line.
#[test]
fn vitest_frames_give_the_location() {
    let report = junit("vitest/vitest4-junit.xml", &JunitOptions::default());
    let c = report.counts;
    // vitest printed "Tests  2 failed | 1 passed (3)".
    assert_eq!((c.total, c.passed, c.failed), (3, 1, 2));
    let said = printed("vitest4.txt");
    let frames: Vec<(String, u32)> = said
        .lines()
        .filter_map(|l| {
            let plain = strip_ansi(l);
            let rest = plain.trim_start().strip_prefix("❯ test/calc.test.js:")?;
            let line = rest.split(':').next()?.parse().ok()?;
            Some(("test/calc.test.js".to_owned(), line))
        })
        .collect();
    assert_eq!(
        frames,
        [
            ("test/calc.test.js".to_owned(), 12),
            ("test/calc.test.js".to_owned(), 16)
        ]
    );
    assert_eq!(locations(&report), frames);
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Case 7: jest-junit writes a raw BEL and an escape sequence (retitling the
/// terminal) from a test's name into its XML. Nothing printed carries a
/// control character; the JSON keeps the text exactly.
#[test]
fn control_characters_never_reach_what_is_printed() {
    let tests = junit("jest/jest30-junit.xml", &JunitOptions::default());
    // jest printed "Tests: 3 failed, 1 passed, 4 total".
    let c = tests.counts;
    assert_eq!((c.total, c.passed, c.failed), (4, 1, 3));
    let hostile = tests
        .failures
        .iter()
        .find(|f| f.name.contains('\u{7}'))
        .expect("the test named with a BEL");
    assert!(
        hostile.name.contains("\u{1b}]0;pwned\u{7}"),
        "{:?}",
        hostile.name
    );
    let thresholds = Thresholds::default().max_failures(0);
    let verdict = evaluate(
        &thresholds,
        Inputs {
            tests: Some(&tests),
            ..Inputs::default()
        },
    );
    let outcome = GateOutcome {
        thresholds: &thresholds,
        verdict: &verdict,
        tests: Some(&tests),
        coverage: None,
        pylint: &[],
        diff: None,
        commit: None,
    };
    let clean = |what: &str, text: &str| {
        let bad: Vec<char> = text
            .chars()
            .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
            .collect();
        assert!(bad.is_empty(), "{what} carries {bad:?}: {text}");
    };
    let text = render::text(&outcome);
    clean("the terminal summary", &text);
    assert!(text.contains("a bell \\u{7} and an escape"), "{text}");
    assert!(
        !text.contains("pwned"),
        "the OSC string is dropped whole: {text}"
    );
    clean(
        "the Markdown summary",
        &render::markdown(&outcome, usize::MAX),
    );
    for note in render::annotations(&outcome) {
        clean(
            "an annotation",
            &format!(
                "{} {} {}",
                note.title,
                note.message,
                note.file.unwrap_or_default()
            ),
        );
    }
    let json = render::json(&outcome);
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = document["tests"]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(
        names.contains(&hostile.name.as_str()),
        "the JSON keeps the name exactly"
    );
}

/// Case 8: UTF-16, as some .NET loggers write it (little- and big-endian
/// with a byte-order mark, and little-endian told by its XML declaration),
/// reads exactly as the UTF-8 report it was encoded from.
#[test]
fn utf16_reports_read_as_their_utf8_original() {
    let options = JunitOptions::default();
    let original = junit("pytest/pytest9-xunit2.xml", &options);
    for file in [
        "utf16/pytest9-xunit2-utf16le-bom.xml",
        "utf16/pytest9-xunit2-utf16be-bom.xml",
        "utf16/pytest9-xunit2-utf16le-no-bom.xml",
    ] {
        let mut report = junit(file, &options);
        report.files.clone_from(&original.files);
        for failure in &mut report.failures {
            failure.report.clone_from(&original.failures[0].report);
        }
        assert_eq!(report, original, "{file}");
    }
    // Bytes read in pieces of any size decode the same (a code unit or a
    // surrogate pair cut between two reads).
    let text = "<testsuite name=\"é😀\"><testcase name=\"𝒳\"><failure message=\"ø\">t.py:3: E</failure></testcase></testsuite>";
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u16.xml");
    std::fs::write(&path, &utf16).unwrap();
    let report = parse_junit_file(&path, &options).unwrap();
    assert_eq!(report.failures[0].name, "𝒳");
    assert_eq!(report.failures[0].suite, "é😀");
    assert_eq!(report.failures[0].line, Some(3));
}

#[test]
fn broken_utf16_is_refused_naming_the_file_and_line() {
    // An unpaired surrogate in the second line.
    let text = "<testsuite>\n<testcase name=\"";
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes.extend_from_slice(&0xD800u16.to_le_bytes());
    bytes.extend_from_slice(&u16::from(b'x').to_le_bytes());
    let err = parse_junit_slice(
        &bytes,
        Path::new("reports/u16.xml"),
        &JunitOptions::default(),
    )
    .unwrap_err();
    let message = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(
        message.starts_with("cannot read reports/u16.xml"),
        "{message}"
    );
    assert!(message.contains("invalid UTF-16"), "{message}");
    // A syntax error in a UTF-16 file is placed in its characters.
    let text = "<testsuite>\n  <testcase name=\"é\">\n</testsuite>";
    let mut bytes = vec![0xFE, 0xFF];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_be_bytes());
    }
    let err = parse_junit_slice(
        &bytes,
        Path::new("reports/u16.xml"),
        &JunitOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "reports/u16.xml:3:1: closing tag </testsuite> does not match <testcase> opened at 2:3"
    );
}
