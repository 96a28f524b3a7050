//! The GitHub Actions file commands: step outputs (`GITHUB_OUTPUT`) and the
//! job summary (`GITHUB_STEP_SUMMARY`).

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Env;

/// GitHub's cap on one step's job summary, in bytes: the runner refuses to
/// upload a larger `GITHUB_STEP_SUMMARY` file (it shows an error instead).
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

/// An error from [`GitHub::set_output`] or [`CiSink::set_output`].
///
/// No variant carries the output's value, which may be sensitive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The name cannot be written in the `GITHUB_OUTPUT` format.
    #[error("invalid step output name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Inside GitHub Actions but `GITHUB_OUTPUT` is not set.
    #[error("cannot set step output {name:?}: GITHUB_OUTPUT is not set")]
    NotConfigured {
        /// The output's name.
        name: String,
    },
    /// No heredoc delimiter absent from the value could be found (a value
    /// crafted to contain the generated delimiters).
    #[error("cannot set step output {name:?}: every heredoc delimiter tried occurs in the value")]
    DelimiterCollision {
        /// The output's name.
        name: String,
    },
    /// Opening or writing the outputs file failed.
    #[error("cannot write step output {name:?} to {}", .path.display())]
    Write {
        /// The output's name.
        name: String,
        /// The `GITHUB_OUTPUT` file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
}

/// An error from [`GitHub::append_summary`] or [`CiSink::append_summary`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SummaryError {
    /// Inside GitHub Actions but `GITHUB_STEP_SUMMARY` is not set.
    #[error("cannot write the job summary: GITHUB_STEP_SUMMARY is not set")]
    NotConfigured,
    /// The write would take the summary file past [`SUMMARY_LIMIT`];
    /// nothing was written.
    #[error(
        "job summary {} holds {existing} bytes, {adding} more would pass GitHub's limit of {limit} bytes",
        .path.display()
    )]
    TooLarge {
        /// The `GITHUB_STEP_SUMMARY` file.
        path: PathBuf,
        /// Bytes the file already held.
        existing: u64,
        /// Bytes the refused write would have added.
        adding: u64,
        /// The limit, [`SUMMARY_LIMIT`].
        limit: usize,
    },
    /// Opening, measuring or writing the summary file failed.
    #[error("cannot write the job summary {}", .path.display())]
    Io {
        /// The `GITHUB_STEP_SUMMARY` file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
}

/// Writer for GitHub Actions' step outputs and job summary; exists only
/// inside Actions.
///
/// Every write opens the file in append mode and issues one `write_all` of
/// the whole record, so concurrent writers and a crash mid-way cannot leave
/// half a record behind the ones already written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHub {
    output_file: Option<PathBuf>,
    summary_file: Option<PathBuf>,
}

impl GitHub {
    /// The writer for this environment, or `None` outside GitHub Actions.
    pub fn from_env(env: &Env) -> Option<Self> {
        env.is_github_actions().then(|| Self {
            output_file: env.output_file().map(Path::to_path_buf),
            summary_file: env.summary_file().map(Path::to_path_buf),
        })
    }

    /// The `GITHUB_OUTPUT` file, if set.
    pub fn output_file(&self) -> Option<&Path> {
        self.output_file.as_deref()
    }

    /// The `GITHUB_STEP_SUMMARY` file, if set.
    pub fn summary_file(&self) -> Option<&Path> {
        self.summary_file.as_deref()
    }

    /// Sets the step output `name` to `value`.
    ///
    /// A value without line breaks is written as `name=value`; any other
    /// value with GitHub's heredoc syntax,
    /// `name<<ghadelimiter_<uuid>` / value / delimiter, where the delimiter
    /// is checked not to occur in the value. The runner reads the value back
    /// byte for byte, with one exception on Windows runners only: a value
    /// ending in `\r` loses it, because the runner there also accepts `\r\n`
    /// before the closing delimiter.
    ///
    /// # Errors
    ///
    /// [`OutputError::InvalidName`] for an empty name or one containing a
    /// line break, `=` or `<<`, or ending in `<`;
    /// [`OutputError::NotConfigured`] when `GITHUB_OUTPUT` is unset;
    /// [`OutputError::Write`] when the file cannot be written.
    pub fn set_output(&self, name: &str, value: &str) -> Result<(), OutputError> {
        validate_output_name(name)?;
        let path = self
            .output_file
            .as_deref()
            .ok_or_else(|| OutputError::NotConfigured {
                name: name.to_owned(),
            })?;
        let record = output_record(name, value, new_delimiter)?;
        append(path, record.as_bytes()).map_err(|source| OutputError::Write {
            name: name.to_owned(),
            path: path.to_path_buf(),
            source,
        })
    }

    /// Appends Markdown to the job summary, as is (add the trailing newline
    /// yourself).
    ///
    /// # Errors
    ///
    /// [`SummaryError::TooLarge`] when the file would exceed
    /// [`SUMMARY_LIMIT`] bytes, counting what it already holds (nothing is
    /// written then); [`SummaryError::NotConfigured`] when
    /// `GITHUB_STEP_SUMMARY` is unset; [`SummaryError::Io`] when the file
    /// cannot be opened, measured or written.
    pub fn append_summary(&self, markdown: &str) -> Result<(), SummaryError> {
        let path = self
            .summary_file
            .as_deref()
            .ok_or(SummaryError::NotConfigured)?;
        let io_error = |source| SummaryError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = open_append(path).map_err(io_error)?;
        let existing = file.metadata().map_err(io_error)?.len();
        let adding = u64::try_from(markdown.len()).unwrap_or(u64::MAX);
        if existing.saturating_add(adding) > SUMMARY_LIMIT as u64 {
            return Err(SummaryError::TooLarge {
                path: path.to_path_buf(),
                existing,
                adding,
                limit: SUMMARY_LIMIT,
            });
        }
        file.write_all(markdown.as_bytes()).map_err(io_error)
    }

    /// How many more bytes the job summary can take before reaching
    /// [`SUMMARY_LIMIT`], so a caller can shorten what it writes.
    ///
    /// # Errors
    ///
    /// [`SummaryError::NotConfigured`] when `GITHUB_STEP_SUMMARY` is unset;
    /// [`SummaryError::Io`] when the file exists but cannot be measured.
    pub fn summary_room(&self) -> Result<usize, SummaryError> {
        let path = self
            .summary_file
            .as_deref()
            .ok_or(SummaryError::NotConfigured)?;
        let existing = match std::fs::metadata(path) {
            Ok(metadata) => metadata.len(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => 0,
            Err(source) => {
                return Err(SummaryError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let existing = usize::try_from(existing).unwrap_or(usize::MAX);
        Ok(SUMMARY_LIMIT.saturating_sub(existing))
    }
}

/// Where step outputs and the job summary go: GitHub Actions' files inside
/// Actions, nowhere outside (writes succeed and do nothing).
///
/// ```
/// use pipeline_ci::{CiSink, Env};
///
/// let sink = CiSink::from_env(&Env::default());
/// assert!(sink.github().is_none());
/// sink.set_output("version", "1.2.3")?;
/// sink.append_summary("## Done\n")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiSink {
    github: Option<GitHub>,
}

impl CiSink {
    /// The sink for this environment.
    pub fn from_env(env: &Env) -> Self {
        Self {
            github: GitHub::from_env(env),
        }
    }

    /// The GitHub Actions writer, when inside Actions.
    pub fn github(&self) -> Option<&GitHub> {
        self.github.as_ref()
    }

    /// [`GitHub::set_output`] inside Actions. Outside, only checks the name
    /// (so a bad name fails on a developer's machine too, not first in CI).
    ///
    /// # Errors
    ///
    /// As [`GitHub::set_output`]; outside Actions only
    /// [`OutputError::InvalidName`].
    pub fn set_output(&self, name: &str, value: &str) -> Result<(), OutputError> {
        match &self.github {
            Some(github) => github.set_output(name, value),
            None => validate_output_name(name),
        }
    }

    /// [`GitHub::append_summary`] inside Actions; nothing outside.
    ///
    /// # Errors
    ///
    /// As [`GitHub::append_summary`]; never outside Actions.
    pub fn append_summary(&self, markdown: &str) -> Result<(), SummaryError> {
        match &self.github {
            Some(github) => github.append_summary(markdown),
            None => Ok(()),
        }
    }
}

/// Checks that `name` reads back as itself from the `GITHUB_OUTPUT` format.
fn validate_output_name(name: &str) -> Result<(), OutputError> {
    let reason = if name.is_empty() {
        Some("the name is empty")
    } else if name.contains(['\n', '\r']) {
        Some("the name contains a line break")
    } else if name.contains('=') {
        Some("the name contains '='")
    } else if name.contains("<<") {
        Some("the name contains '<<'")
    } else if name.ends_with('<') {
        // `a<` + `<<DELIM` would read back as name `a`, delimiter `<DELIM`.
        Some("the name ends with '<'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(OutputError::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// How many fresh delimiters to try before giving up on a value that
/// contains each of them (only a value built to do so can).
const DELIMITER_ATTEMPTS: usize = 8;

/// The whole record for one output, ending in a newline. `name` must be
/// valid.
fn output_record(
    name: &str,
    value: &str,
    mut next_delimiter: impl FnMut() -> String,
) -> Result<String, OutputError> {
    if !value.contains(['\n', '\r']) {
        return Ok(format!("{name}={value}\n"));
    }
    for _ in 0..DELIMITER_ATTEMPTS {
        let delimiter = next_delimiter();
        if !value.contains(&delimiter) {
            return Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        }
    }
    Err(OutputError::DelimiterCollision {
        name: name.to_owned(),
    })
}

/// A fresh `ghadelimiter_<uuid>` as `@actions/core` writes, from the time,
/// the process id, a counter and std's per-process random hash keys.
fn new_delimiter() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let seed = (nanos, std::process::id(), count);
    let keys = RandomState::new();
    let high = keys.hash_one((seed, 0_u8));
    let low = keys.hash_one((seed, 1_u8));
    format!("ghadelimiter_{}", uuid_v4_text(high, low))
}

/// Formats 128 bits as a version-4, RFC 4122 variant UUID.
fn uuid_v4_text(high: u64, low: u64) -> String {
    let high = (high & !0xF000) | 0x4000; // version nibble
    let low = (low & !(0b11 << 62)) | (0b10 << 62); // variant bits
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xFFFF,
        high & 0xFFFF,
        low >> 48,
        low & 0xFFFF_FFFF_FFFF
    )
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    open_append(path)?.write_all(bytes)
}

/// Reads a `GITHUB_OUTPUT` file as the runner does (a port of
/// `EnvFileKeyValuePairs` in actions/runner's `FileCommandManager.cs`, Linux
/// line endings): the (name, value) pairs in file order, or the runner's
/// error. For tests, and for a step that reads what another step wrote.
pub fn read_outputs(text: &str) -> Result<Vec<(String, String)>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> Option<&'static str> {
        match validate_output_name(name) {
            Ok(()) => None,
            Err(OutputError::InvalidName { reason, .. }) => Some(reason),
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn output_names() {
        for good in ["a", "version", "with space", "a<b", "ünï", "x-y_z.1", "<a"] {
            assert_eq!(reason(good), None, "{good:?}");
        }
        for bad in ["", "a\nb", "a\r", "a=b", "=", "a<<b", "<<", "a<"] {
            assert!(reason(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn single_line_records() {
        let never = || -> String { panic!("no delimiter needed") };
        assert_eq!(output_record("k", "v", never).unwrap(), "k=v\n");
        assert_eq!(output_record("k", "", never).unwrap(), "k=\n");
        assert_eq!(output_record("k", "a=b<<c", never).unwrap(), "k=a=b<<c\n");
    }

    #[test]
    fn multi_line_record() {
        let record = output_record("k", "a\nb", || "D".to_owned()).unwrap();
        assert_eq!(record, "k<<D\na\nb\nD\n");
        let record = output_record("k", "a\rb", || "D".to_owned()).unwrap();
        assert_eq!(record, "k<<D\na\rb\nD\n");
    }

    #[test]
    fn colliding_delimiter_is_replaced() {
        let mut candidates = vec!["FRESH".to_owned(), "EOF".to_owned()];
        let record = output_record("k", "x\nEOF\ny", || candidates.pop().unwrap()).unwrap();
        assert_eq!(record, "k<<FRESH\nx\nEOF\ny\nFRESH\n");
    }

    #[test]
    fn endless_collisions_give_an_error() {
        let error = output_record("k", "x\nEOF", || "EOF".to_owned()).unwrap_err();
        assert!(matches!(error, OutputError::DelimiterCollision { .. }));
        assert!(!error.to_string().contains('x'));
    }

    #[test]
    fn delimiters_look_like_github_ones_and_differ() {
        let a = new_delimiter();
        let b = new_delimiter();
        assert_ne!(a, b);
        let uuid = a.strip_prefix("ghadelimiter_").unwrap();
        let groups: Vec<&str> = uuid.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert!(groups[2].starts_with('4'));
        assert!(matches!(
            groups[3].chars().next(),
            Some('8' | '9' | 'a' | 'b')
        ));
    }

    #[test]
    fn uuid_layout_is_fixed() {
        assert_eq!(uuid_v4_text(0, 0), "00000000-0000-4000-8000-000000000000");
        assert_eq!(
            uuid_v4_text(u64::MAX, u64::MAX),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
    }

    #[test]
    fn outside_actions_there_is_no_writer() {
        assert!(GitHub::from_env(&Env::from_vars([("GITHUB_OUTPUT", "/x")])).is_none());
    }

    #[test]
    fn missing_files_inside_actions_are_errors() {
        let github = GitHub::from_env(&Env::from_vars([("GITHUB_ACTIONS", "true")])).unwrap();
        assert!(matches!(
            github.set_output("a", "b"),
            Err(OutputError::NotConfigured { .. })
        ));
        assert!(matches!(
            github.append_summary("x"),
            Err(SummaryError::NotConfigured)
        ));
        assert!(matches!(
            github.summary_room(),
            Err(SummaryError::NotConfigured)
        ));
    }

    #[test]
    fn sink_outside_actions_is_a_no_op_but_checks_names() {
        let sink = CiSink::from_env(&Env::default());
        assert!(sink.set_output("ok", "v\nw").is_ok());
        assert!(sink.append_summary(&"x".repeat(SUMMARY_LIMIT + 1)).is_ok());
        assert!(matches!(
            sink.set_output("a=b", "v"),
            Err(OutputError::InvalidName { .. })
        ));
    }
}
