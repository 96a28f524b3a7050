//! Step outputs, parsed back with a port of the runner's
//! `EnvFileKeyValuePairs` (actions/runner, `FileCommandManager.cs`, Linux
//! line endings).

use pipeline_ci::{CiSink, Env, OutputError};

use crate::{github, sink};

use pipeline_ci::read_outputs as parse_outputs;

#[test]
fn the_parser_port_reads_documented_examples() {
    let text = "a=1\n\nJSON_RESPONSE<<EOF\n{\n  \"x\": 1\n}\nEOF\nempty<<X\nX\n";
    assert_eq!(
        parse_outputs(text).unwrap(),
        [
            ("a".to_owned(), "1".to_owned()),
            ("JSON_RESPONSE".to_owned(), "{\n  \"x\": 1\n}".to_owned()),
            ("empty".to_owned(), String::new()),
        ]
    );
    assert!(parse_outputs("k<<EOF\nv\n").is_err());
    assert!(parse_outputs("novalue\n").is_err());
}

const VALUES: &[(&str, &str)] = &[
    ("plain", "1.2.3"),
    ("empty", ""),
    ("equals", "a=b=c"),
    ("heredoc_marker", "x<<EOF"),
    ("spaces", "  padded  "),
    ("unicode", "héllo wörld ✓ 🦀"),
    ("percent", "100%25 %0A"),
    ("multi", "line one\nline two"),
    ("trailing_newline", "ends with newline\n"),
    ("only_newlines", "\n\n"),
    ("leading_newline", "\nstarts"),
    ("blank_lines_inside", "a\n\n\nb"),
    ("crlf", "windows\r\nline"),
    ("lone_cr", "carriage\rreturn"),
    ("eof_line", "first\nEOF\nlast"),
    (
        "would_be_delimiter",
        "x\nghadelimiter_00000000-0000-4000-8000-000000000000\nghadelimiter_\ny",
    ),
    ("heredoc_inside", "k<<EOF\nnot=a record\nEOF"),
    ("unicode_lines", "ünï\ncødé\n🦀"),
];

#[test]
fn outputs_round_trip_through_the_runner_format() {
    let dir = tempfile::tempdir().unwrap();
    let github = github(dir.path());
    for (name, value) in VALUES {
        github.set_output(name, value).unwrap();
    }
    let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
    let parsed = parse_outputs(&text).unwrap();
    let expected: Vec<(String, String)> = VALUES
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(parsed, expected, "file was:\n{text}");
}

#[test]
fn single_line_values_use_the_short_form() {
    let dir = tempfile::tempdir().unwrap();
    let github = github(dir.path());
    github.set_output("a", "x=y<<z").unwrap();
    github.set_output("b", "").unwrap();
    let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
    assert_eq!(text, "a=x=y<<z\nb=\n");
}

#[test]
fn multi_line_values_use_a_fresh_github_style_delimiter() {
    let dir = tempfile::tempdir().unwrap();
    let github = github(dir.path());
    github.set_output("a", "1\n2").unwrap();
    github.set_output("b", "1\n2").unwrap();
    let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
    let headers: Vec<&str> = text.lines().filter(|l| l.contains("<<")).collect();
    assert_eq!(headers.len(), 2, "{text}");
    let delimiters: Vec<&str> = headers
        .iter()
        .map(|h| h.split_once("<<").unwrap().1)
        .collect();
    assert_ne!(delimiters[0], delimiters[1]);
    for delimiter in delimiters {
        assert!(delimiter.starts_with("ghadelimiter_"), "{delimiter}");
        assert_eq!(delimiter.len(), "ghadelimiter_".len() + 36, "{delimiter}");
    }
}

#[test]
fn appends_to_what_the_file_already_holds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("output"), "earlier=1\n").unwrap();
    sink(dir.path()).set_output("later", "2").unwrap();
    let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
    assert_eq!(
        parse_outputs(&text).unwrap(),
        [
            ("earlier".to_owned(), "1".to_owned()),
            ("later".to_owned(), "2".to_owned())
        ]
    );
}

#[test]
fn invalid_names_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let github = github(dir.path());
    for name in ["", "a=b", "a\nb", "a<<b", "a<", "a\r"] {
        let error = github.set_output(name, "secret-value").unwrap_err();
        assert!(
            matches!(error, OutputError::InvalidName { .. }),
            "{name:?}: {error}"
        );
        assert!(!error.to_string().contains("secret-value"));
    }
    assert!(!dir.path().join("output").exists());
}

#[test]
fn unwritable_file_is_a_write_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::from_vars([
        ("GITHUB_ACTIONS", "true".to_owned()),
        (
            "GITHUB_OUTPUT",
            dir.path().join("missing-dir/output").display().to_string(),
        ),
    ]);
    let error = CiSink::from_env(&env).set_output("a", "b").unwrap_err();
    assert!(matches!(error, OutputError::Write { .. }), "{error}");
    assert!(error.to_string().contains("missing-dir"), "{error}");
    assert!(std::error::Error::source(&error).is_some());
}

#[test]
fn outside_actions_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("output");
    // GITHUB_OUTPUT alone does not mean GitHub Actions.
    let env = Env::from_vars([("GITHUB_OUTPUT", path.display().to_string())]);
    let sink = CiSink::from_env(&env);
    assert!(sink.github().is_none());
    sink.set_output("a", "b\nc").unwrap();
    assert!(!path.exists());
}
