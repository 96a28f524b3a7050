//! Step outputs, parsed back with a port of the runner's
//! `EnvFileKeyValuePairs` (actions/runner, `FileCommandManager.cs`, Linux
//! line endings).

use pipeline_ci::{CiSink, Env, OutputError};

use crate::{github, sink};

/// The runner's reading of a `GITHUB_OUTPUT` file, as (name, value) pairs
/// in file order, or the runner's error.
fn parse_outputs(text: &str) -> Result<Vec<(String, String)>, String> {
    // Lines split on LF; each line is (start, end-exclusive, has_newline).
    let mut lines = Vec::new();
    let mut index = 0;
    while index < text.len() {
        match text[index..].find('\n') {
            Some(lf) => {
                lines.push((index, index + lf, true));
                index += lf + 1;
            }
            None => {
                lines.push((index, text.len(), false));
                index = text.len();
            }
        }
    }

    let mut pairs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (start, end, _) = lines[i];
        let line = &text[start..end];
        i += 1;
        if line.is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        match (equals, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                pairs.push((line[..e].to_owned(), line[e + 1..].to_owned()));
            }
            (e, Some(h)) if e.is_none_or(|e| h < e) => {
                let name = &line[..h];
                let delimiter = &line[h + 2..];
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("invalid format {line:?}"));
                }
                let value_start = lines.get(i).map_or(text.len(), |l| l.0);
                let mut value_end = value_start;
                loop {
                    let Some(&(s, e, newline)) = lines.get(i) else {
                        return Err(format!("matching delimiter not found {delimiter:?}"));
                    };
                    i += 1;
                    if &text[s..e] == delimiter {
                        break;
                    }
                    if !newline {
                        return Err("EOF marker missing new line".to_owned());
                    }
                    value_end = e;
                }
                pairs.push((name.to_owned(), text[value_start..value_end].to_owned()));
            }
            _ => return Err(format!("invalid format {line:?}")),
        }
    }
    Ok(pairs)
}

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
