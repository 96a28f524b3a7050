//! Reports generated in several dialects, written, read back and compared
//! with what was generated.

use std::fmt::Write as _;
use std::path::Path;

use pipeline_reports::cobertura::{CoberturaOptions, parse_cobertura_slice};
use pipeline_reports::junit::{JunitOptions, parse_junit_slice};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pass,
    Fail,
    Error,
    Skip,
    /// Failed, then passed on a rerun.
    Flaky,
}

#[derive(Debug, Clone, Copy)]
enum Dialect {
    /// `<testsuite>` root, Surefire children (`flakyFailure`).
    Surefire,
    /// `<testsuites>` root, pytest-style `<skipped message>`.
    Pytest,
    /// gtest: skips as `status="notrun"`, times with exponents.
    Gtest,
    /// Nested suites, failures in CDATA, retries as repeated testcases.
    Nested,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn write_junit(dialect: Dialect, tests: &[(String, Kind, String)]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (open, close) = match dialect {
        Dialect::Surefire => ("", ""),
        Dialect::Pytest | Dialect::Gtest => ("<testsuites name=\"all\">", "</testsuites>"),
        Dialect::Nested => (
            "<testsuites><testsuite name=\"outer\">",
            "</testsuite></testsuites>",
        ),
    };
    out.push_str(open);
    let _ = write!(out, "<testsuite name=\"suite\" tests=\"{}\">", tests.len());
    for (i, (name, kind, message)) in tests.iter().enumerate() {
        let name = escape(name);
        let message_attr = escape(message);
        let time = match dialect {
            Dialect::Gtest => format!("{}e-3", i + 1),
            _ => format!("{}.5", i),
        };
        let case = format!("<testcase classname=\"pkg.Class\" name=\"{name}\" time=\"{time}\"");
        match (kind, dialect) {
            (Kind::Pass, _) => {
                let _ = write!(out, "{case}/>");
            }
            (Kind::Skip, Dialect::Gtest) => {
                let _ = write!(out, "{case} status=\"notrun\"/>");
            }
            (Kind::Skip, _) => {
                let _ = write!(
                    out,
                    "{case}><skipped message=\"{message_attr}\"/></testcase>"
                );
            }
            (Kind::Fail, Dialect::Nested) => {
                let _ = write!(
                    out,
                    "{case}><failure message=\"{message_attr}\"><![CDATA[{}]]></failure><system-out>out</system-out></testcase>",
                    message.replace("]]>", "]] >")
                );
            }
            (Kind::Fail, _) => {
                let _ = write!(
                    out,
                    "{case}><failure message=\"{message_attr}\" type=\"AssertionError\">{}</failure></testcase>",
                    escape(message)
                );
            }
            (Kind::Error, _) => {
                let _ = write!(out, "{case}><error message=\"{message_attr}\"/></testcase>");
            }
            (Kind::Flaky, Dialect::Nested) => {
                // A failed attempt, then the passing one, as repeated testcases.
                let _ = write!(
                    out,
                    "{case}><failure message=\"{message_attr}\"/></testcase>{case}/>"
                );
            }
            (Kind::Flaky, _) => {
                let _ = write!(
                    out,
                    "{case}><flakyFailure message=\"{message_attr}\"/></testcase>"
                );
            }
        }
        out.push('\n');
    }
    out.push_str("</testsuite>");
    out.push_str(close);
    out
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => Just(Kind::Pass),
        1 => Just(Kind::Fail),
        1 => Just(Kind::Error),
        1 => Just(Kind::Skip),
        1 => Just(Kind::Flaky),
    ]
}

fn dialect() -> impl Strategy<Value = Dialect> {
    prop_oneof![
        Just(Dialect::Surefire),
        Just(Dialect::Pytest),
        Just(Dialect::Gtest),
        Just(Dialect::Nested)
    ]
}

proptest! {
    #[test]
    fn junit_reports_read_back_as_written(
        dialect in dialect(),
        tests in proptest::collection::vec(("[a-zA-Z0-9 _<>&\"'é€😀\\[\\]-]{1,20}", kind(), "[ -~é\n]{0,40}"), 0..40),
    ) {
        // Names are unique within a suite, as real runners write them.
        let tests: Vec<(String, Kind, String)> = tests
            .into_iter()
            .enumerate()
            .map(|(i, (name, kind, message))| (format!("{name}#{i}"), kind, message))
            .collect();
        let xml = write_junit(dialect, &tests);
        let report = parse_junit_slice(xml.as_bytes(), Path::new("gen.xml"), &JunitOptions::default())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        let count = |k: Kind| tests.iter().filter(|t| t.1 == k).count() as u64;
        let c = report.counts;
        prop_assert_eq!(c.total, tests.len() as u64);
        prop_assert_eq!(c.failed, count(Kind::Fail));
        prop_assert_eq!(c.errored, count(Kind::Error));
        prop_assert_eq!(c.skipped, count(Kind::Skip));
        prop_assert_eq!(c.flaky, count(Kind::Flaky));
        prop_assert_eq!(c.passed, count(Kind::Pass) + count(Kind::Flaky));
        let failing: Vec<(&str, &str)> = tests
            .iter()
            .filter(|t| matches!(t.1, Kind::Fail | Kind::Error))
            .map(|t| (t.0.as_str(), t.2.as_str()))
            .collect();
        let got: Vec<(&str, &str)> = report
            .failures
            .iter()
            .map(|f| (f.name.as_str(), f.message.as_deref().unwrap_or("")))
            .collect();
        prop_assert_eq!(got, failing);
    }

    #[test]
    fn cobertura_reports_read_back_as_written(
        files in proptest::collection::vec(
            proptest::collection::btree_map(prop_oneof![9 => 1u32..5000, 1 => 1u32..u32::MAX], (0u32..3, proptest::option::of((0u32..4, 1u32..4))), 0..60),
            1..8,
        ),
        methods in any::<bool>(),
    ) {
        let mut xml = String::from("<coverage line-rate=\"0\"><sources><source>/src</source></sources><packages><package name=\"p\"><classes>");
        let (mut covered, mut valid, mut bc, mut bv) = (0u64, 0u64, 0u64, 0u64);
        for (i, lines) in files.iter().enumerate() {
            let _ = write!(xml, "<class name=\"c{i}\" filename=\"pkg/f{i}.py\">");
            let mut body = String::new();
            for (number, (hits, branch)) in lines {
                valid += 1;
                if *hits > 0 { covered += 1; }
                let _ = write!(body, "<line number=\"{number}\" hits=\"{hits}\"");
                if let Some((c, t)) = branch {
                    let c = (*c).min(*t);
                    bc += u64::from(c);
                    bv += u64::from(*t);
                    let _ = write!(body, " branch=\"true\" condition-coverage=\"{}% ({c}/{t})\"", c * 100 / t);
                }
                body.push_str("/>");
            }
            if methods {
                // The same lines again under a method: they must not count twice.
                let _ = write!(xml, "<methods><method name=\"m\"><lines>{body}</lines></method></methods>");
            }
            let _ = write!(xml, "<lines>{body}</lines></class>");
        }
        xml.push_str("</classes></package></packages></coverage>");
        let report = parse_cobertura_slice(xml.as_bytes(), Path::new("gen.xml"), &CoberturaOptions::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!((report.lines_covered, report.lines_valid), (covered, valid));
        prop_assert_eq!((report.branches_covered, report.branches_valid), (bc, bv));
        prop_assert_eq!(report.files.len(), files.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_junit_slice(&bytes, Path::new("x.xml"), &JunitOptions::default());
        let _ = parse_cobertura_slice(&bytes, Path::new("x.xml"), &CoberturaOptions::default());
    }
}
