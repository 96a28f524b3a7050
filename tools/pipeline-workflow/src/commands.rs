//! What steps tell the runner: the environment files (`GITHUB_OUTPUT`,
//! `GITHUB_ENV`, `GITHUB_PATH`), and the workflow commands they print
//! (`::add-mask::`, `::error::` and its kin, `::group::`,
//! `::stop-commands::`).

/// An annotation a step printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// `error`, `warning` or `notice`.
    pub level: String,
    /// The message (unescaped, masked).
    pub message: String,
    /// Its `file`, `line`, `title` and other properties.
    pub properties: Vec<(String, String)>,
}

/// What one line of a step's output is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Plain output.
    Text(String),
    /// `::add-mask::VALUE`.
    Mask(String),
    /// `::error::`, `::warning::`, `::notice::`.
    Annotation(Annotation),
    /// `::group::TITLE`, `::endgroup::`, `::debug::`: kept in the log only.
    Log(String),
}

/// Reads workflow commands out of a step's output, line by line, honouring
/// `::stop-commands::TOKEN` until `::TOKEN::`.
#[derive(Debug, Default)]
pub struct CommandReader {
    stopped: Option<String>,
}

fn unescape_data(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

fn unescape_property(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

impl CommandReader {
    /// What `line` (without its line end) is.
    pub fn read(&mut self, line: &str) -> Line {
        let trimmed = line.trim_start();
        if let Some(token) = &self.stopped {
            if trimmed == format!("::{token}::") {
                self.stopped = None;
                return Line::Log(String::new());
            }
            return Line::Text(line.to_owned());
        }
        let Some(rest) = trimmed.strip_prefix("::") else {
            return Line::Text(line.to_owned());
        };
        let Some((head, data)) = rest.split_once("::") else {
            return Line::Text(line.to_owned());
        };
        let (name, props) = match head.split_once(' ') {
            Some((n, p)) => (n, p),
            None => (head, ""),
        };
        match name {
            "add-mask" => Line::Mask(unescape_data(data)),
            "stop-commands" => {
                self.stopped = Some(data.to_owned());
                Line::Log(String::new())
            }
            "error" | "warning" | "notice" => Line::Annotation(Annotation {
                level: name.to_owned(),
                message: unescape_data(data),
                properties: props
                    .split(',')
                    .filter_map(|p| p.split_once('='))
                    .map(|(k, v)| (k.trim().to_owned(), unescape_property(v)))
                    .collect(),
            }),
            "group" => Line::Log(format!("▶ {}", unescape_data(data))),
            "endgroup" => Line::Log(String::new()),
            "debug" => Line::Log(format!("debug: {}", unescape_data(data))),
            _ => Line::Text(line.to_owned()),
        }
    }
}

/// Reads `GITHUB_OUTPUT` or `GITHUB_ENV`: `NAME=value` lines and
/// `NAME<<DELIMITER` … `DELIMITER` blocks.
///
/// # Errors
///
/// The line that is neither, or a block that never ends.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        let heredoc = line.find("<<");
        let equals = line.find('=');
        match (equals, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                let (k, v) = line.split_at(e);
                if k.is_empty() {
                    return Err(format!("line {}: no name before `=`", i + 1));
                }
                out.push((k.to_owned(), v[1..].to_owned()));
            }
            (_, Some(h)) => {
                let name = &line[..h];
                let delimiter = &line[h + 2..];
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("line {}: `{line}` is not NAME<<DELIMITER", i + 1));
                }
                let mut value: Vec<&str> = Vec::new();
                let mut closed = false;
                for (_, l) in lines.by_ref() {
                    if l == delimiter {
                        closed = true;
                        break;
                    }
                    value.push(l);
                }
                if !closed {
                    return Err(format!(
                        "line {}: `{name}` opens a block that `{delimiter}` never closes",
                        i + 1
                    ));
                }
                out.push((name.to_owned(), value.join("\n")));
            }
            _ => {
                return Err(format!(
                    "line {}: `{line}` is neither NAME=value nor NAME<<DELIMITER",
                    i + 1
                ));
            }
        }
    }
    Ok(out)
}

/// Replaces every secret in `text` by `***`, longest first (so a secret
/// that contains another is masked whole).
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for s in sorted {
        out = out.replace(s.as_str(), "***");
        // GitHub also masks each line of a multi-line secret.
        if s.contains('\n') {
            for line in s.lines().filter(|l| l.len() > 3) {
                out = out.replace(line, "***");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_take_lines_and_blocks() {
        let parsed =
            parse_env_file("a=1\nb=x=y\n\nnotes<<EOF\nline 1\n\nline 3\nEOF\nc=\n").unwrap();
        assert_eq!(
            parsed,
            [
                ("a".into(), "1".into()),
                ("b".into(), "x=y".into()),
                ("notes".into(), "line 1\n\nline 3".into()),
                ("c".into(), String::new()),
            ]
        );
        assert!(
            parse_env_file("a<<EOF\nno end\n")
                .unwrap_err()
                .contains("never closes")
        );
        assert!(
            parse_env_file("just words\n")
                .unwrap_err()
                .starts_with("line 1")
        );
        assert!(parse_env_file("=v\n").is_err());
    }

    #[test]
    fn workflow_commands_are_read_and_can_be_stopped() {
        let mut r = CommandReader::default();
        assert_eq!(r.read("::add-mask::s3cr%25t"), Line::Mask("s3cr%t".into()));
        assert_eq!(
            r.read("::error file=app.py,line=7,title=a%2Cb::failed%0Ahere"),
            Line::Annotation(Annotation {
                level: "error".into(),
                message: "failed\nhere".into(),
                properties: vec![
                    ("file".into(), "app.py".into()),
                    ("line".into(), "7".into()),
                    ("title".into(), "a,b".into()),
                ],
            })
        );
        assert_eq!(r.read("plain"), Line::Text("plain".into()));
        assert_eq!(r.read("::unknown::x"), Line::Text("::unknown::x".into()));
        r.read("::stop-commands::tok");
        assert_eq!(r.read("::add-mask::x"), Line::Text("::add-mask::x".into()));
        r.read("::tok::");
        assert_eq!(r.read("::add-mask::x"), Line::Mask("x".into()));
    }

    #[test]
    fn masks_cover_the_longest_secret_first() {
        assert_eq!(
            mask(
                "token abc and abcdef",
                &["abc".into(), "abcdef".into(), String::new()]
            ),
            "token *** and ***"
        );
    }
}
