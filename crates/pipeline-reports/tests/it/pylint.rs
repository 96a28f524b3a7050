//! The pylint parser against the real-world fixtures in `fixtures/reports/pylint/`
//! (see `fixtures/reports/SOURCES-pylint.md`), and round trips of generated reports.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use pipeline_reports::pylint::{
    KindCounts, LintKind, LintMessage, PylintFormat, PylintReport, parse_pylint, parse_pylint_file,
};
use proptest::prelude::*;
use serde_json::json;

macro_rules! fixture {
    ($name:literal) => {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/reports/pylint/",
            $name
        )
    };
}

fn parse(path: &str) -> PylintReport {
    let mut report = parse_pylint_file(Path::new(path)).unwrap_or_else(|err| panic!("{err}"));
    // Snapshots must not depend on where the repository is checked out.
    assert_eq!(report.file, path);
    report.file = path
        .rsplit("fixtures/reports/")
        .next()
        .unwrap_or(path)
        .to_owned();
    report
}

fn json_fixture(path: &str) -> serde_json::Value {
    let file = File::open(path).expect("fixture exists");
    serde_json::from_reader(BufReader::new(file)).expect("fixture is json")
}

/// The counts pylint itself wrote, from a json object of the six category words.
fn counts_in(stats: &serde_json::Value) -> KindCounts {
    let get = |kind: LintKind| {
        let count = stats[kind.as_str()]
            .as_u64()
            .unwrap_or_else(|| panic!("no count for {kind} in {stats}"));
        usize::try_from(count).expect("count fits")
    };
    KindCounts {
        fatal: get(LintKind::Fatal),
        error: get(LintKind::Error),
        warning: get(LintKind::Warning),
        refactor: get(LintKind::Refactor),
        convention: get(LintKind::Convention),
        info: get(LintKind::Info),
    }
}

fn counts(
    fatal: usize,
    error: usize,
    warning: usize,
    refactor: usize,
    convention: usize,
    info: usize,
) -> KindCounts {
    KindCounts {
        fatal,
        error,
        warning,
        refactor,
        convention,
        info,
    }
}

#[test]
fn json2_score_7_61() {
    let path = fixture!("json2/thingpress-json2-score-7.61.json");
    let report = parse(path);
    assert_eq!(report.format, PylintFormat::Json2);
    assert_eq!(report.score, Some(7.61));
    assert_eq!(report.counts, counts(0, 1, 20, 4, 32, 0));
    assert_eq!(report.messages.len(), 57);
    assert_eq!(
        report.counts,
        counts_in(&json_fixture(path)["statistics"]["messageTypeCount"])
    );
    assert_eq!(report.worst(), Some(LintKind::Error));

    let first = &report.messages[0];
    assert_eq!(first.kind, LintKind::Error);
    assert_eq!(first.message_id.as_deref(), Some("E0001"));
    assert_eq!(first.symbol.as_deref(), Some("syntax-error"));
    assert_eq!(first.path, "src/provider_generated/main.py");
    assert_eq!(
        (first.line, first.column, first.obj.as_deref()),
        (Some(136), Some(9), None)
    );

    let duplicate = report
        .messages
        .iter()
        .find(|m| m.symbol.as_deref() == Some("duplicate-code"))
        .expect("an R0801");
    assert_eq!(duplicate.kind, LintKind::Refactor);
    assert!(
        duplicate.message.lines().count() > 1,
        "json keeps the whole message"
    );

    insta::assert_json_snapshot!("json2_score_7_61", report);
}

/// pylint 4.1.5 on the sample project of `fixtures/reports/sources/calc-py`;
/// its text report printed "Your code has been rated at 7.06/10".
#[test]
fn json2_pylint4_score_as_printed() {
    let path = fixture!("json2/pylint4-json2.json");
    let report = parse(path);
    assert_eq!(report.format, PylintFormat::Json2);
    let printed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/reports/sources/printed/pylint4-text.txt"
    ))
    .unwrap();
    assert!(
        printed.contains("Your code has been rated at 7.06/10"),
        "{printed}"
    );
    // json2 carries the exact score; pylint prints it rounded.
    let score = report.score.unwrap();
    assert_eq!(format!("{score:.2}"), "7.06");
    assert_eq!(
        report.counts,
        counts_in(&json_fixture(path)["statistics"]["messageTypeCount"])
    );
    assert_eq!(report.counts, counts(0, 0, 1, 0, 14, 0));
    assert_eq!(report.messages.len(), 15);
}

#[test]
fn json2_score_9_46_later() {
    let path = fixture!("json2/thingpress-json2-score-9.46-later.json");
    let report = parse(path);
    assert_eq!(report.format, PylintFormat::Json2);
    assert_eq!(report.score, Some(9.46));
    assert_eq!(report.counts, counts(0, 0, 5, 10, 2, 0));
    assert_eq!(report.messages.len(), 17);
    assert_eq!(
        report.counts,
        counts_in(&json_fixture(path)["statistics"]["messageTypeCount"])
    );
    insta::assert_json_snapshot!("json2_score_9_46_later", report);
}

#[test]
fn jsonextended_1110_messages() {
    let path = fixture!("jsonextended/pineboo-jsonextended-1110-msgs.json");
    let report = parse(path);
    assert_eq!(report.format, PylintFormat::JsonExtended);
    // `stats` has no `global_note`: the 8.43 in the file is the previous run's.
    assert_eq!(report.score, None);
    assert_eq!(report.messages.len(), 1110);
    assert_eq!(report.counts, counts(0, 0, 2, 0, 1108, 0));
    assert_eq!(report.counts, counts_in(&json_fixture(path)["stats"]));
    assert!(
        report
            .messages
            .iter()
            .all(|m| m.message_id.is_some() && m.symbol.is_some())
    );

    /// The report without most of its 522 KB of messages.
    #[derive(serde::Serialize)]
    struct Summary<'a> {
        format: PylintFormat,
        score: Option<f64>,
        counts: KindCounts,
        messages: usize,
        first_messages: &'a [LintMessage],
    }
    let summary = Summary {
        format: report.format,
        score: report.score,
        counts: report.counts,
        messages: report.messages.len(),
        first_messages: &report.messages[..3],
    };
    insta::assert_json_snapshot!("jsonextended_1110_messages", summary);
}

#[test]
fn default_text_with_score() {
    let report = parse(fixture!("text/rift-python-default-text-with-score.txt"));
    assert_eq!(report.format, PylintFormat::Text);
    assert_eq!(report.score, Some(9.99));
    assert_eq!(report.counts, counts(0, 0, 0, 0, 1, 0));
    assert_eq!(
        report.messages,
        vec![LintMessage {
            kind: LintKind::Convention,
            message_id: Some("C0303".to_owned()),
            symbol: Some("trailing-whitespace".to_owned()),
            message: "Trailing whitespace".to_owned(),
            path: "rift/cli_listen_handler.py".to_owned(),
            line: Some(27),
            column: Some(21),
            obj: None,
        }]
    );
    insta::assert_json_snapshot!("default_text_with_score", report);
}

#[test]
fn parseable_with_context() {
    let report = parse(fixture!("warnings-ng/pylint-parseable-with-context.txt"));
    assert_eq!(report.format, PylintFormat::Parseable);
    assert_eq!(report.score, Some(-0.4));
    assert_eq!(report.messages.len(), 22);
    // `[(unused-import), ]` (no id) and `Z9999` (no such category) count as warnings.
    assert_eq!(report.counts, counts(1, 2, 4, 1, 13, 1));

    let fatal = &report.messages[0];
    assert_eq!(fatal.kind, LintKind::Fatal);
    assert_eq!(fatal.symbol.as_deref(), Some("fatal"));
    assert_eq!(fatal.path, "src/test/resources/non_existant.py");

    // The source line and caret under it are not part of the message.
    let whitespace = &report.messages[1];
    assert_eq!(
        whitespace.message,
        "Exactly one space required around assignment"
    );
    assert_eq!(whitespace.line, Some(16));

    let no_id = &report.messages[20];
    assert_eq!(
        (no_id.message_id.as_deref(), no_id.symbol.as_deref()),
        (None, Some("unused-import"))
    );
    assert_eq!(no_id.kind, LintKind::Warning);
    let unknown = &report.messages[21];
    assert_eq!(unknown.message_id.as_deref(), Some("Z9999"));
    assert_eq!(unknown.kind, LintKind::Warning);
    assert_eq!(
        unknown.message,
        "This is a category/type that dooesn't exists in Pylint"
    );

    insta::assert_json_snapshot!("parseable_with_context", report);
}

#[test]
fn msg_template_mixed() {
    let report = parse(fixture!("warnings-ng/pylint-msg-template-mixed.txt"));
    assert_eq!(report.format, PylintFormat::Parseable);
    assert_eq!(report.score, None);
    assert_eq!(report.messages.len(), 9);
    assert_eq!(report.counts, counts(1, 1, 3, 0, 3, 1));

    let letter_only = &report.messages[0];
    assert_eq!(letter_only.message_id.as_deref(), Some("C"));
    assert_eq!(letter_only.message, "Line too long (85/80)");
    assert_eq!(letter_only.symbol, None);

    let with_obj = &report.messages[1];
    assert_eq!(with_obj.obj.as_deref(), Some("Show.__init__"));
    assert_eq!(
        with_obj.message,
        "Invalid name \"seasonCount\" (should match [a-z_][a-z0-9_]{2,30}$)"
    );

    // `file:module:line:`, with the symbol the template put after the message.
    let module_in_path = &report.messages[6];
    assert_eq!(
        module_in_path.path,
        "trunk/src/python_package/module_name.py"
    );
    assert_eq!(module_in_path.message, "Unused import os");
    assert_eq!(module_in_path.symbol.as_deref(), Some("unused-import"));
    assert_eq!(
        report.messages[7].path,
        "trunk/src/module_name_no_package.py"
    );

    // The last line has no newline.
    let last = &report.messages[8];
    assert_eq!(
        (last.kind, last.line, last.obj.as_deref()),
        (LintKind::Info, Some(32), Some("run"))
    );

    insta::assert_json_snapshot!("msg_template_mixed", report);
}

#[test]
fn windows_absolute_paths() {
    let report = parse(fixture!("warnings-ng/pylint-windows-absolute-paths.txt"));
    assert_eq!(report.format, PylintFormat::Parseable);
    assert_eq!(report.score, None);
    assert_eq!(report.counts, counts(1, 0, 0, 0, 1, 0));
    let path =
        r"E:\JenkinsMIDEBLD\workspace\r-fix_pylint_warnings_ng_CYC-276\cyclops\archive\archive.py";
    assert!(report.messages.iter().all(|m| m.path == path));
    assert_eq!(
        report.messages.iter().map(|m| m.line).collect::<Vec<_>>(),
        [Some(1), Some(28)]
    );
    insta::assert_json_snapshot!("windows_absolute_paths", report);
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").expect("write");
    let err = parse_pylint_file(&empty).unwrap_err();
    assert_eq!(err.path(), empty);
    assert_eq!(
        err.to_string(),
        format!("{}: empty file, no pylint output", empty.display())
    );

    let missing = dir.path().join("missing.json");
    let err = parse_pylint_file(&missing).unwrap_err();
    assert_eq!(err.path(), missing);
}

// Round trips: generated messages written the way pylint writes them, read back.

/// A message with every field; each format keeps what it can carry.
fn arb_message() -> impl Strategy<Value = LintMessage> {
    let kind = prop::sample::select(LintKind::ALL.to_vec());
    (
        kind,
        prop::option::weighted(0.9, 0u32..10_000),
        prop::option::of("[a-z]{2,8}(-[a-z0-9]{2,8}){0,3}"),
        // No trailing `)`: a symbol-less message must not end like `(symbol)`.
        r#"[A-Za-z0-9]([A-Za-z0-9 '"_.,:;=<>/\\\[\]{}()*+-]{0,60}[A-Za-z0-9.'"])?"#,
        r"([A-Za-z]:\\)?[a-z_]{1,8}([/\\][A-Za-z0-9_ .-]{1,8}){0,3}\.py",
        any::<u32>(),
        any::<u32>(),
        prop::option::of(
            "[A-Za-z_][A-Za-z0-9_]{0,8}(\\.([A-Za-z_][A-Za-z0-9_]{0,8}|<lambda>)){0,2}",
        ),
    )
        .prop_map(|(kind, number, symbol, message, path, line, column, obj)| {
            // Without an id a message must have a symbol, and its kind is unknown.
            let (kind, message_id, symbol) = match number {
                Some(n) => (kind, Some(format!("{}{n:04}", kind.letter())), symbol),
                None => (
                    LintKind::Warning,
                    None,
                    symbol.or_else(|| Some("unused-import".to_owned())),
                ),
            };
            LintMessage {
                kind,
                message_id,
                symbol,
                message,
                path,
                line: Some(line),
                column: Some(column),
                obj,
            }
        })
}

/// What `format` keeps of `m`, and `m` written in it.
fn render(format: PylintFormat, m: &LintMessage) -> (LintMessage, String) {
    let mut kept = m.clone();
    let id = m.message_id.as_deref().unwrap_or("");
    let obj = m.obj.as_deref().unwrap_or("");
    let line = m.line.unwrap_or(0);
    let text = match format {
        PylintFormat::Text => {
            kept.obj = None;
            if kept.message_id.is_none() {
                kept.message_id = Some(format!("{}0000", kept.kind.letter()));
            }
            let id = kept.message_id.as_deref().unwrap_or("");
            let column = m.column.unwrap_or(0);
            match &m.symbol {
                Some(symbol) => {
                    format!("{}:{line}:{column}: {id}: {} ({symbol})", m.path, m.message)
                }
                None => format!("{}:{line}:{column}: {id}: {}", m.path, m.message),
            }
        }
        PylintFormat::Parseable => {
            kept.column = None;
            let code = match &m.symbol {
                Some(symbol) => format!("{id}({symbol})"),
                None => id.to_owned(),
            };
            format!("{}:{line}: [{code}, {obj}] {}", m.path, m.message)
        }
        PylintFormat::Msvs => {
            kept.column = None;
            if kept.symbol.is_none() {
                kept.symbol = Some("some-symbol".to_owned());
            }
            let symbol = kept.symbol.as_deref().unwrap_or("");
            format!("{}({line}): [{id}({symbol}){obj}] {}", m.path, m.message)
        }
        PylintFormat::Github => {
            kept.symbol = None;
            kept.obj = None;
            if kept.message_id.is_none() {
                kept.message_id = Some(format!("{}0000", kept.kind.letter()));
            }
            let id = kept.message_id.as_deref().unwrap_or("");
            let category = match kept.kind {
                LintKind::Fatal | LintKind::Error => "error",
                LintKind::Warning => "warning",
                _ => "notice",
            };
            format!(
                "::{category} file={},line={line},endline=,col={},title={id}::{}",
                m.path,
                m.column.unwrap_or(0),
                m.message
            )
        }
        other => unreachable!("not a text format: {other:?}"),
    };
    (kept, text)
}

fn json_message(format: PylintFormat, m: &LintMessage) -> serde_json::Value {
    let mut value = json!({
        "type": m.kind.as_str(),
        "module": "pkg.mod",
        "obj": m.obj.as_deref().unwrap_or(""),
        "line": m.line,
        "column": m.column,
        "endLine": null,
        "endColumn": null,
        "path": m.path,
        "symbol": m.symbol.as_deref().unwrap_or(""),
        "message": m.message,
    });
    let id_key = if format == PylintFormat::Json2 {
        "messageId"
    } else {
        "message-id"
    };
    value[id_key] = json!(m.message_id.as_deref().unwrap_or(""));
    if format == PylintFormat::Json2 {
        value["confidence"] = json!("HIGH");
        value["absolutePath"] = json!(format!("/work/{}", m.path));
    }
    value
}

fn score_of(hundredths: Option<i32>) -> Option<f64> {
    hundredths.map(|h| f64::from(h) / 100.0)
}

proptest! {
    #[test]
    fn text_formats_round_trip(
        format in prop::sample::select(vec![
            PylintFormat::Text,
            PylintFormat::Parseable,
            PylintFormat::Msvs,
            PylintFormat::Github,
        ]),
        messages in prop::collection::vec(arb_message(), 0..12),
        rating in prop::option::of(-1000i32..=1000),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut output = String::new();
        let mut expected = Vec::new();
        if !messages.is_empty() {
            output.push_str("************* Module pkg.mod");
            output.push_str(eol);
        }
        for m in &messages {
            let (kept, line) = render(format, m);
            output.push_str(&line);
            output.push_str(eol);
            expected.push(kept);
        }
        if let Some(h) = rating {
            output.push_str(eol);
            output.push_str("------------------------------------------------------------------");
            output.push_str(eol);
            output.push_str(&format!("Your code has been rated at {:.2}/10 (previous run: 5.00/10, +1.00)", f64::from(h) / 100.0));
            output.push_str(eol);
        }

        let parsed = parse_pylint(output.as_bytes(), Path::new("pylint.txt"));
        if messages.is_empty() && rating.is_none() {
            prop_assert!(parsed.is_err());
            return Ok(());
        }
        let report = parsed.map_err(|err| TestCaseError::fail(format!("{err}\n{output}")))?;
        if !messages.is_empty() {
            prop_assert_eq!(report.format, format);
        }
        prop_assert_eq!(report.score, score_of(rating));
        prop_assert_eq!(report.counts, KindCounts::from_messages(&expected));
        prop_assert_eq!(report.messages, expected, "{}", output);
    }

    #[test]
    fn json_formats_round_trip(
        format in prop::sample::select(vec![
            PylintFormat::Json2,
            PylintFormat::Json,
            PylintFormat::JsonExtended,
        ]),
        messages in prop::collection::vec(arb_message(), 0..12),
        score in prop::option::of(-1000i32..=1000),
        pretty in any::<bool>(),
    ) {
        let items: Vec<_> = messages.iter().map(|m| json_message(format, m)).collect();
        let counts = KindCounts::from_messages(&messages);
        let score = score_of(score);
        let document = match format {
            PylintFormat::Json2 => json!({
                "messages": items,
                "statistics": {"messageTypeCount": counts, "modulesLinted": 3, "score": score},
            }),
            PylintFormat::Json => json!(items),
            _ => json!({
                "messages": items,
                "stats": {"global_note": score, "by_module": {}, "statement": 120},
                "previous": {"global_note": 1.5},
            }),
        };
        let text = if pretty {
            serde_json::to_string_pretty(&document)
        } else {
            serde_json::to_string(&document)
        }
        .expect("serializable");

        let report = parse_pylint(text.as_bytes(), Path::new("pylint.json"))
            .map_err(|err| TestCaseError::fail(format!("{err}\n{text}")))?;
        prop_assert_eq!(report.format, format);
        let expected_score = if format == PylintFormat::Json { None } else { score };
        prop_assert_eq!(report.score, expected_score);
        prop_assert_eq!(report.counts, counts);
        prop_assert_eq!(report.messages, messages);
    }
}
