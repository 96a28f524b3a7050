//! Bad input: a clear error naming the file, line and column; never a panic.

use std::io::Write as _;
use std::path::Path;

use pipeline_reports::ReportError;
use pipeline_reports::cobertura::{CoberturaOptions, parse_cobertura_file, parse_cobertura_slice};
use pipeline_reports::junit::{JunitOptions, parse_junit_file, parse_junit_slice};

fn junit(bytes: &[u8]) -> String {
    parse_junit_slice(bytes, Path::new("reports/t.xml"), &JunitOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_junit_is_refused_with_its_position() {
    assert_eq!(junit(b""), "reports/t.xml: empty file");
    assert_eq!(
        junit(b"   \n  "),
        "reports/t.xml: no XML element in the file"
    );
    assert_eq!(
        junit(b"<testsuites>\n  <testsuite name=\"a\">\n  </testsuites>"),
        "reports/t.xml:3:3: closing tag </testsuites> does not match <testsuite> opened at 2:3"
    );
    assert_eq!(
        junit(b"<testsuite>\n<testcase name=\"a\">\xe9</testcase></testsuite>"),
        "reports/t.xml:2:20: invalid UTF-8"
    );
    let attr = junit(b"<testsuite>\n<testcase name=\"\xff\"/></testsuite>");
    assert!(attr.starts_with("reports/t.xml:2:"), "{attr}");
    assert!(attr.to_lowercase().contains("utf"), "{attr}");
    assert_eq!(
        junit(b"<testsuite><testcase name=\"a\"/></testsuite>\n<testsuite/>"),
        "reports/t.xml:2:1: a second root element; a report has exactly one"
    );
    assert_eq!(
        junit(b"<testsuite>\n <testcase name=a/></testsuite>"),
        "reports/t.xml:2:2: the value of attribute 'name' is not quoted"
    );
    // UTF-16 is read (see real_tools.rs); a UTF-16 file cut inside its
    // root element is refused like any other truncated file.
    assert_eq!(
        junit(b"\xff\xfe<\x00t\x00e\x00s\x00t\x00s\x00u\x00i\x00t\x00e\x00>\x00\n\x00"),
        "reports/t.xml:2:1: unexpected end of file: <testsuite> opened at 1:1 is not closed (is the file truncated?)"
    );
}

#[test]
fn positions_count_from_the_start_of_the_file_even_after_a_byte_order_mark() {
    assert_eq!(
        junit(b"\xef\xbb\xbf<testsuites>\n  <testsuite name=\"a\">\n  </testsuites>"),
        "reports/t.xml:3:3: closing tag </testsuites> does not match <testsuite> opened at 2:3"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bom.xml");
    std::fs::write(
        &path,
        b"\xef\xbb\xbf<testsuite>\n<testcase name=\"a\">\xe9</testcase></testsuite>",
    )
    .unwrap();
    let err = parse_junit_file(&path, &JunitOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("bom.xml:2:20: invalid UTF-8"), "{err}");
}

#[test]
fn tags_and_nesting_are_bounded() {
    let deep = "<a>".repeat(300);
    let err = junit(format!("<testsuite>{deep}").as_bytes());
    assert!(err.contains("elements nested deeper than 256"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long-tag.xml");
    let mut xml = b"<testsuite><testcase name=\"".to_vec();
    xml.resize(xml.len() + (17 << 20), b'x');
    xml.extend_from_slice(b"\"/></testsuite>");
    std::fs::write(&path, xml).unwrap();
    let err = parse_junit_file(&path, &JunitOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("long-tag.xml:1:12: a tag longer than 16 MiB"),
        "{err}"
    );
}

#[test]
fn the_wrong_kind_of_report_says_what_it_looks_like() {
    let cobertura = super::fixture("cobertura/gcovr/gcovr-8.6-example.xml");
    let err = parse_junit_file(&cobertura, &JunitOptions::default()).unwrap_err();
    assert!(matches!(err, ReportError::Format { .. }));
    assert!(
        err.to_string()
            .contains("looks like a Cobertura coverage report"),
        "{err}"
    );

    let junit_file = super::fixture("junit/pytest/pytest8-xunit2.xml");
    let err = parse_cobertura_file(&junit_file, &CoberturaOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("looks like a JUnit test report"),
        "{err}"
    );

    let pylint = super::fixture("pylint/json2/thingpress-json2-score-7.61.json");
    let err = parse_junit_file(&pylint, &JunitOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(":1:1: this is not XML: it looks like JSON"),
        "{err}"
    );

    let err = parse_cobertura_slice(
        b"<coverage><packages><class filename=\"a\"><lines><line number=\"x\" hits=\"1\"/>",
        Path::new("c.xml"),
        &CoberturaOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(err, "c.xml:1:48: <line number=\"x\"> is not a line number");
}

#[test]
fn entities_declared_in_a_doctype_are_refused_never_expanded() {
    let billion_laughs = b"<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n]>\n<testsuite><testcase name=\"&lol2;\"/></testsuite>";
    assert_eq!(
        junit(billion_laughs),
        "reports/t.xml:2:1: the DOCTYPE declares entities; they are never expanded nor fetched, so the report is refused"
    );
    // A DOCTYPE that only names a DTD is fine (Cobertura 1.9 writes one) and is never fetched.
    let ok = parse_junit_slice(
        b"<!DOCTYPE testsuite SYSTEM \"http://127.0.0.1:9/never-fetched.dtd\"><testsuite><testcase name=\"a\"/></testsuite>",
        Path::new("t.xml"),
        &JunitOptions::default(),
    )
    .unwrap();
    assert_eq!(ok.counts.total, 1);
}

#[test]
fn a_huge_cdata_section_is_read_in_bounded_memory() {
    // 64 MiB of captured output in one CDATA section of a failing test; the
    // capture keeps only the configured bound. (The benchmark measures the
    // process's peak memory on a 1 GB section.)
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.xml");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    file.write_all(b"<testsuite name=\"s\"><testcase name=\"t\"><failure message=\"m\">short</failure><system-out><![CDATA[").unwrap();
    let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd]\n";
    for _ in 0..(64 * 1024 * 1024 / line.len()) {
        file.write_all(line).unwrap();
    }
    file.write_all(b"]]></system-out></testcase></testsuite>")
        .unwrap();
    drop(file);
    let report = parse_junit_file(&path, &JunitOptions::default().max_output_bytes(1000)).unwrap();
    assert_eq!(report.counts.failed, 1);
    let stdout = report.failures[0].stdout.as_deref().unwrap();
    assert_eq!(stdout.len(), 1000);
    assert!(stdout.starts_with("0123456789abcdef"));
    assert!(report.failures[0].truncated);
}

#[test]
fn an_unterminated_cdata_section_names_where_it_starts() {
    assert_eq!(
        junit(b"<testsuite>\n<testcase name=\"a\"><system-out><![CDATA[never closed"),
        "reports/t.xml:2:32: unterminated CDATA section: the file ends inside it (is it truncated?)"
    );
}
