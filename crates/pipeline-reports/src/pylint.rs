//! Pylint reports, in every format pylint writes.
//!
//! [`parse_pylint`] reads a report from any [`BufRead`] without holding the whole
//! file in memory: text formats line by line, JSON formats through serde_json's
//! streaming reader into typed structs. It tells the format from the content
//! (the first byte after a UTF-8 BOM and whitespace: `{` or `[` is JSON,
//! anything else text), so one call reads whatever `--output-format` produced.
//!
//! | format | written by | score |
//! |---|---|---|
//! | [`Json2`](PylintFormat::Json2) | `--output-format=json2` (pylint ≥ 3) | `statistics.score` |
//! | [`Json`](PylintFormat::Json) | `--output-format=json`, a bare array | none |
//! | [`JsonExtended`](PylintFormat::JsonExtended) | pylint-json2html's `jsonextended` reporter | `stats.global_note` when present |
//! | [`Parseable`](PylintFormat::Parseable) | `--output-format=parseable` and msg templates of its shape | the rating line |
//! | [`Text`](PylintFormat::Text) | the default `text`, `colorized`, `no-header`, pylint 1.x `C:  1, 0: msg (symbol)` | the rating line |
//! | [`Msvs`](PylintFormat::Msvs) | `--output-format=msvs` | the rating line |
//! | [`Github`](PylintFormat::Github) | `--output-format=github` | the rating line |
//!
//! Rules worth knowing:
//!
//! - **Kinds.** A message's [`LintKind`] comes from its category word (JSON `type`) or
//!   the letter of its id (`C0301` is a convention). When neither is one pylint
//!   defines (a plugin's `Z9999`, a parseable `[(unused-import), ]` with no id), the
//!   message is kept as a [`LintKind::Warning`]: the middle of the scale, so it is
//!   neither hidden from a warning gate nor allowed to fail an error-only gate.
//! - **Counts** in [`PylintReport::counts`] are always recomputed from the messages,
//!   never copied from pylint's own statistics.
//! - **Multi-line messages** (duplicate-code listings, the source line and caret that
//!   pylint 1.x put under `bad-whitespace`) keep only their first line in the text
//!   formats; the continuation lines are skipped, except that the `(symbol)` pylint
//!   writes at the very end of a text message is still picked up. JSON carries the
//!   whole message.
//! - **Paths** are kept as pylint wrote them. A Windows drive (`E:\dir\file.py`) is
//!   part of the path, not a field separator. Pylint 1.x text names no file, only the
//!   module of the `************* Module` header above, which becomes the path.
//! - **Score.** Text formats take it from `Your code has been rated at 7.61/10`
//!   (negative ratings exist); output without that line has no score. An output with
//!   only a rating line (a clean run) is a valid report with no messages.
//! - **Lines and columns** are as pylint writes them: lines 1-based, columns 0-based.
//!
//! Bad input is a [`ReportError`], never a panic: an empty file, broken JSON or
//! invalid UTF-8 (with line and column), JSON of the wrong shape (naming the field),
//! an XML report given as pylint, or text in which no line is pylint output.
//!
//! ```
//! use std::path::Path;
//! use pipeline_reports::pylint::{parse_pylint, LintKind, PylintFormat};
//!
//! let output = "\
//! ************* Module app
//! app/main.py:12:0: C0301: Line too long (104/100) (line-too-long)
//! app/main.py:30:4: E1101: Instance of 'Foo' has no 'bar' member (no-member)
//!
//! ------------------------------------------------------------------
//! Your code has been rated at 7.50/10 (previous run: 7.00/10, +0.50)
//! ";
//! let report = parse_pylint(output.as_bytes(), Path::new("pylint.txt"))?;
//! assert_eq!(report.format, PylintFormat::Text);
//! assert_eq!(report.score, Some(7.5));
//! assert_eq!(report.counts.error, 1);
//! assert_eq!(report.worst(), Some(LintKind::Error));
//! assert_eq!(report.messages[0].symbol.as_deref(), Some("line-too-long"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::str::FromStr;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::ReportError;

/// The output format a pylint report was written in, as detected from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PylintFormat {
    /// `--output-format=json2` (pylint ≥ 3): `{"messages": [...], "statistics": {...}}`.
    Json2,
    /// `--output-format=json`: a bare array of messages, which carries no score.
    Json,
    /// The `jsonextended` reporter of pylint-json2html:
    /// `{"messages": [...], "stats": {...}, "previous": {...}}`.
    JsonExtended,
    /// `--output-format=parseable` and message templates of its shape:
    /// `path:line: [C0111(missing-docstring), obj] message`.
    Parseable,
    /// The default text format `path:line:column: C0303: message (symbol)`, also
    /// `colorized`, `no-header` and pylint 1.x's `C:  1, 0: message (symbol)`.
    Text,
    /// `--output-format=msvs`: `path(line): [C0111(missing-docstring)obj] message`.
    Msvs,
    /// `--output-format=github`:
    /// `::warning file=path,line=1,endline=,col=0,title=W0611::message`.
    Github,
}

/// The category of a pylint message.
///
/// Ordered by severity, greater is worse: `Info < Convention < Refactor < Warning <
/// Error < Fatal`, so `kind >= LintKind::Error` reads "an error or worse".
/// Serialized as pylint's lowercase word (`"convention"`).
// Not `#[non_exhaustive]`: pylint's six categories have not changed in twenty
// years, and `KindCounts` has a field for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LintKind {
    /// `F`: something prevented pylint from processing a module.
    Fatal,
    /// `E`: probably a bug.
    Error,
    /// `W`: a python-specific problem.
    Warning,
    /// `R`: a code smell, a "good practice" metric violated.
    Refactor,
    /// `C`: a coding-standard violation.
    Convention,
    /// `I`: an informational message (suppressions, c-extension members).
    Info,
}

impl LintKind {
    /// Every kind, worst first.
    pub const ALL: [LintKind; 6] = [
        LintKind::Fatal,
        LintKind::Error,
        LintKind::Warning,
        LintKind::Refactor,
        LintKind::Convention,
        LintKind::Info,
    ];

    /// The kind a message-id letter stands for (`'C'` for `C0301`), case-sensitive
    /// as pylint writes it; `None` for a letter pylint does not define.
    pub fn from_letter(letter: char) -> Option<LintKind> {
        Some(match letter {
            'F' => LintKind::Fatal,
            'E' => LintKind::Error,
            'W' => LintKind::Warning,
            'R' => LintKind::Refactor,
            'C' => LintKind::Convention,
            'I' => LintKind::Info,
            _ => return None,
        })
    }

    /// The kind named by pylint's category word (`"convention"`), ignoring ASCII case;
    /// `"information"` is accepted for [`LintKind::Info`].
    pub fn from_word(word: &str) -> Option<LintKind> {
        LintKind::ALL
            .into_iter()
            .find(|kind| word.eq_ignore_ascii_case(kind.as_str()))
            .or_else(|| {
                word.eq_ignore_ascii_case("information")
                    .then_some(LintKind::Info)
            })
    }

    /// The kind of a message id (`"C0301"` is a convention), from its first letter.
    pub fn from_message_id(id: &str) -> Option<LintKind> {
        id.chars().next().and_then(LintKind::from_letter)
    }

    /// The letter pylint writes for this kind (`'C'`).
    pub fn letter(self) -> char {
        match self {
            LintKind::Fatal => 'F',
            LintKind::Error => 'E',
            LintKind::Warning => 'W',
            LintKind::Refactor => 'R',
            LintKind::Convention => 'C',
            LintKind::Info => 'I',
        }
    }

    /// Pylint's lowercase word for this kind (`"convention"`).
    pub fn as_str(self) -> &'static str {
        match self {
            LintKind::Fatal => "fatal",
            LintKind::Error => "error",
            LintKind::Warning => "warning",
            LintKind::Refactor => "refactor",
            LintKind::Convention => "convention",
            LintKind::Info => "info",
        }
    }

    /// 0 for info up to 5 for fatal.
    fn severity(self) -> u8 {
        match self {
            LintKind::Info => 0,
            LintKind::Convention => 1,
            LintKind::Refactor => 2,
            LintKind::Warning => 3,
            LintKind::Error => 4,
            LintKind::Fatal => 5,
        }
    }
}

impl PartialOrd for LintKind {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LintKind {
    fn cmp(&self, other: &Self) -> Ordering {
        self.severity().cmp(&other.severity())
    }
}

impl fmt::Display for LintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`LintKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown pylint message kind `{0}`, expected one of fatal, error, warning, refactor, convention, info (or F, E, W, R, C, I)"
)]
pub struct ParseLintKindError(String);

impl FromStr for LintKind {
    type Err = ParseLintKindError;

    /// Accepts the word (`"error"`, any ASCII case) or the letter (`"E"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.chars();
        let letter = match (chars.next(), chars.next()) {
            (Some(c), None) => LintKind::from_letter(c.to_ascii_uppercase()),
            _ => None,
        };
        letter
            .or_else(|| LintKind::from_word(s))
            .ok_or_else(|| ParseLintKindError(s.to_owned()))
    }
}

/// One message of a pylint report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintMessage {
    /// The category.
    pub kind: LintKind,
    /// The message id (`"C0301"`), when the format carries one.
    pub message_id: Option<String>,
    /// The symbolic name (`"line-too-long"`), when the format carries one.
    pub symbol: Option<String>,
    /// The text of the message.
    pub message: String,
    /// The file, as pylint wrote it (for pylint 1.x text: the module name).
    pub path: String,
    /// The 1-based line.
    pub line: Option<u32>,
    /// The 0-based column, as pylint counts it.
    pub column: Option<u32>,
    /// The function, method or class the message is about (`"Episode.__init__"`).
    pub obj: Option<String>,
}

/// How many messages of each kind a report holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct KindCounts {
    /// Fatal messages.
    pub fatal: usize,
    /// Error messages.
    pub error: usize,
    /// Warning messages.
    pub warning: usize,
    /// Refactor messages.
    pub refactor: usize,
    /// Convention messages.
    pub convention: usize,
    /// Informational messages.
    pub info: usize,
}

impl KindCounts {
    /// Counts the kinds of `messages`.
    pub fn from_messages<'a>(messages: impl IntoIterator<Item = &'a LintMessage>) -> KindCounts {
        let mut counts = KindCounts::default();
        for message in messages {
            *counts.slot(message.kind) += 1;
        }
        counts
    }

    /// The number of messages of `kind`.
    pub fn get(&self, kind: LintKind) -> usize {
        match kind {
            LintKind::Fatal => self.fatal,
            LintKind::Error => self.error,
            LintKind::Warning => self.warning,
            LintKind::Refactor => self.refactor,
            LintKind::Convention => self.convention,
            LintKind::Info => self.info,
        }
    }

    /// The number of messages of every kind.
    pub fn total(&self) -> usize {
        LintKind::ALL.into_iter().map(|kind| self.get(kind)).sum()
    }

    fn slot(&mut self, kind: LintKind) -> &mut usize {
        match kind {
            LintKind::Fatal => &mut self.fatal,
            LintKind::Error => &mut self.error,
            LintKind::Warning => &mut self.warning,
            LintKind::Refactor => &mut self.refactor,
            LintKind::Convention => &mut self.convention,
            LintKind::Info => &mut self.info,
        }
    }
}

/// A parsed pylint report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PylintReport {
    /// The report file, as it was named to the reader.
    pub file: String,
    /// The format the report was written in.
    pub format: PylintFormat,
    /// The messages, in the order of the file.
    pub messages: Vec<LintMessage>,
    /// The rating out of 10 (it can be negative), when the report carries one.
    pub score: Option<f64>,
    /// The messages of each kind, recomputed from [`messages`](Self::messages).
    pub counts: KindCounts,
}

impl PylintReport {
    fn new(format: PylintFormat, messages: Vec<LintMessage>, score: Option<f64>) -> Self {
        let counts = KindCounts::from_messages(&messages);
        PylintReport {
            file: String::new(),
            format,
            messages,
            score: score.filter(|score| score.is_finite()),
            counts,
        }
    }

    /// The worst kind among the messages, `None` for a clean report.
    pub fn worst(&self) -> Option<LintKind> {
        self.messages.iter().map(|message| message.kind).max()
    }
}

/// Reads the pylint report at `path`, in whichever format it was written.
pub fn parse_pylint_file(path: &Path) -> Result<PylintReport, ReportError> {
    let file = File::open(path).map_err(|err| ReportError::io(path, err))?;
    parse_pylint(BufReader::new(file), path)
}

/// Reads a pylint report from `reader`, in whichever format it was written.
///
/// `path` only names the report in errors.
pub fn parse_pylint<R: BufRead>(mut reader: R, path: &Path) -> Result<PylintReport, ReportError> {
    let start = skip_preamble(&mut reader, path)?;
    let report = match start.first {
        None => Err(ReportError::format(path, "empty file, no pylint output")),
        Some(b'{' | b'[') => json::parse(reader, path, &start),
        Some(b'<') => Err(ReportError::format(
            path,
            "looks like XML (a JUnit or Cobertura report?), not pylint output",
        )),
        Some(_) => text::parse(reader, path, &start),
    };
    report.map(|mut report| {
        report.file = path.to_string_lossy().into_owned();
        report
    })
}

/// Where the content starts, after a BOM and leading whitespace.
#[derive(Debug)]
struct Start {
    /// The first byte of content, `None` for an empty or blank input.
    first: Option<u8>,
    /// Bytes already consumed that belong to the content: the start of a character
    /// that began like a BOM but was not one (only when the reader hands out
    /// buffers shorter than a BOM).
    prefix: Vec<u8>,
    /// Newlines skipped before the content.
    lines_skipped: u64,
    /// Bytes (ASCII whitespace, so characters) skipped on its line.
    columns_skipped: u64,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Consumes a UTF-8 BOM and leading ASCII whitespace, and peeks at the next byte.
fn skip_preamble<R: BufRead>(reader: &mut R, path: &Path) -> Result<Start, ReportError> {
    let mut start = Start {
        first: None,
        prefix: Vec::new(),
        lines_skipped: 0,
        columns_skipped: 0,
    };
    let buf = fill_buf(reader, path)?;
    if buf.starts_with(BOM) {
        reader.consume(BOM.len());
    } else if !buf.is_empty() && BOM.starts_with(buf) {
        // A buffer too short to tell: go byte by byte.
        for &expected in BOM {
            match fill_buf(reader, path)?.first() {
                Some(&byte) if byte == expected => {
                    reader.consume(1);
                    start.prefix.push(byte);
                }
                _ => {
                    // Not a BOM after all; what was consumed is content.
                    start.first = start.prefix.first().copied();
                    return Ok(start);
                }
            }
        }
        start.prefix.clear();
    }
    loop {
        let buf = fill_buf(reader, path)?;
        if buf.is_empty() {
            return Ok(start);
        }
        let mut skipped = 0;
        for &byte in buf {
            match byte {
                b'\n' => {
                    start.lines_skipped += 1;
                    start.columns_skipped = 0;
                }
                b' ' | b'\t' | b'\r' => start.columns_skipped += 1,
                _ => {
                    start.first = Some(byte);
                    break;
                }
            }
            skipped += 1;
        }
        reader.consume(skipped);
        if start.first.is_some() {
            return Ok(start);
        }
    }
}

/// `fill_buf`, retried when interrupted.
fn fill_buf<'r, R: BufRead>(reader: &'r mut R, path: &Path) -> Result<&'r [u8], ReportError> {
    while let Err(err) = reader.fill_buf() {
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(ReportError::io(path, err));
        }
    }
    reader.fill_buf().map_err(|err| ReportError::io(path, err))
}

fn invalid_utf8(path: &Path, line: u64, column: u64) -> ReportError {
    ReportError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message: "invalid UTF-8, pylint output is UTF-8 text".to_owned(),
    }
}

/// The JSON formats, read by serde_json's streaming deserializer into typed structs.
mod json {
    use super::*;

    pub(super) fn parse<R: BufRead>(
        reader: R,
        path: &Path,
        start: &Start,
    ) -> Result<PylintReport, ReportError> {
        let mut counted = CharColumns {
            inner: reader,
            continuation_bytes: 0,
        };
        let parsed = deserialize(&mut counted, start.first == Some(b'['));
        match parsed {
            Ok(Parsed::Array(messages)) => Ok(PylintReport::new(
                PylintFormat::Json,
                messages.messages,
                None,
            )),
            Ok(Parsed::Object(top)) => top.into_report(path),
            Err(err) => Err(json_error(err, path, start, counted.continuation_bytes)),
        }
    }

    enum Parsed {
        Array(Messages),
        Object(TopObject),
    }

    fn deserialize<R: io::Read>(reader: R, array: bool) -> Result<Parsed, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_reader(reader);
        let parsed = if array {
            Parsed::Array(de.deserialize_seq(MessagesVisitor("an array of pylint messages"))?)
        } else {
            Parsed::Object(TopObject::deserialize(&mut de)?)
        };
        de.end()?;
        Ok(parsed)
    }

    /// Counts the UTF-8 continuation bytes read on the current line, to turn
    /// serde_json's byte columns into character columns.
    struct CharColumns<R> {
        inner: R,
        continuation_bytes: u64,
    }

    impl<R: io::Read> io::Read for CharColumns<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let read = self.inner.read(buf)?;
            for &byte in &buf[..read] {
                if byte == b'\n' {
                    self.continuation_bytes = 0;
                } else if byte & 0xC0 == 0x80 {
                    self.continuation_bytes += 1;
                }
            }
            Ok(read)
        }
    }

    fn json_error(
        err: serde_json::Error,
        path: &Path,
        start: &Start,
        continuation_bytes: u64,
    ) -> ReportError {
        if err.is_io() {
            return ReportError::io(path, io::Error::from(err));
        }
        let (line, column) = (err.line() as u64, err.column() as u64);
        let text = err.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
        if line == 0 {
            return ReportError::format(path, message);
        }
        let mut column = column.saturating_sub(continuation_bytes);
        if line == 1 {
            column += start.columns_skipped;
        }
        ReportError::Syntax {
            path: path.to_path_buf(),
            line: line + start.lines_skipped,
            column: column.max(1),
            message,
        }
    }

    /// The top-level object of json2 and jsonextended. Unknown keys are ignored.
    #[derive(Deserialize)]
    #[serde(expecting = "a pylint json2 or jsonextended object")]
    struct TopObject {
        #[serde(default, deserialize_with = "de_messages")]
        messages: Option<Messages>,
        // `Some(None)` when the key is there with `null`.
        #[serde(default, deserialize_with = "present")]
        statistics: Option<Option<Statistics>>,
        #[serde(default, deserialize_with = "present")]
        stats: Option<Option<ExtendedStats>>,
        #[serde(default, deserialize_with = "present")]
        previous: Option<Option<IgnoredAny>>,
    }

    impl TopObject {
        fn into_report(self, path: &Path) -> Result<PylintReport, ReportError> {
            let Some(messages) = self.messages else {
                return Err(ReportError::format(
                    path,
                    "json object has no `messages` array; is this pylint json2 output?",
                ));
            };
            let (format, score) = if let Some(statistics) = self.statistics {
                (PylintFormat::Json2, statistics.and_then(|s| s.score))
            } else if self.stats.is_some() || self.previous.is_some() {
                let score = self.stats.flatten().and_then(|s| s.global_note);
                (PylintFormat::JsonExtended, score)
            } else if messages.legacy_ids {
                (PylintFormat::JsonExtended, None)
            } else {
                (PylintFormat::Json2, None)
            };
            Ok(PylintReport::new(format, messages.messages, score))
        }
    }

    /// `statistics` of json2; only the score is read.
    #[derive(Deserialize)]
    #[serde(expecting = "the `statistics` object of pylint json2 output")]
    struct Statistics {
        #[serde(default, deserialize_with = "de_score")]
        score: Option<f64>,
    }

    /// `stats` of jsonextended; only the global note is read.
    #[derive(Deserialize)]
    #[serde(expecting = "the `stats` object of pylint jsonextended output")]
    struct ExtendedStats {
        #[serde(default, deserialize_with = "de_global_note")]
        global_note: Option<f64>,
    }

    /// One message, in the json2 or the legacy (`json`, `jsonextended`) shape.
    #[derive(Deserialize)]
    #[serde(expecting = "a pylint message object")]
    struct RawMessage {
        #[serde(rename = "type", deserialize_with = "de_type")]
        kind: String,
        #[serde(default, deserialize_with = "de_symbol")]
        symbol: Option<String>,
        #[serde(deserialize_with = "de_message")]
        message: String,
        #[serde(rename = "messageId", default, deserialize_with = "de_message_id")]
        message_id: Option<String>,
        #[serde(
            rename = "message-id",
            default,
            deserialize_with = "de_legacy_message_id"
        )]
        legacy_message_id: Option<String>,
        #[serde(deserialize_with = "de_path")]
        path: String,
        #[serde(default, deserialize_with = "de_line")]
        line: Option<u32>,
        #[serde(default, deserialize_with = "de_column")]
        column: Option<u32>,
        #[serde(default, deserialize_with = "de_obj")]
        obj: Option<String>,
    }

    impl RawMessage {
        fn into_message(self) -> LintMessage {
            let message_id = self.message_id.or(self.legacy_message_id);
            let kind = LintKind::from_word(&self.kind)
                .or_else(|| message_id.as_deref().and_then(LintKind::from_message_id))
                .unwrap_or(LintKind::Warning);
            LintMessage {
                kind,
                message_id,
                symbol: self.symbol,
                message: self.message,
                path: self.path,
                line: self.line,
                column: self.column,
                obj: self.obj,
            }
        }
    }

    struct Messages {
        messages: Vec<LintMessage>,
        /// Some message used the legacy `message-id` key.
        legacy_ids: bool,
    }

    struct MessagesVisitor(&'static str);

    impl<'de> Visitor<'de> for MessagesVisitor {
        type Value = Messages;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Messages, A::Error> {
            let mut messages = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            let mut legacy_ids = false;
            while let Some(raw) = seq.next_element::<RawMessage>()? {
                legacy_ids |= raw.legacy_message_id.is_some();
                messages.push(raw.into_message());
            }
            Ok(Messages {
                messages,
                legacy_ids,
            })
        }
    }

    fn de_messages<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Messages>, D::Error> {
        d.deserialize_seq(MessagesVisitor(
            "an array of pylint messages for `messages`",
        ))
        .map(Some)
    }

    fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }

    /// A required string field.
    struct StrField(&'static str);

    impl Visitor<'_> for StrField {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a string for `{}`", self.0)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
    }

    /// An optional string field; `null` and `""` are `None`.
    struct OptStrField(&'static str);

    impl Visitor<'_> for OptStrField {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a string or null for `{}`", self.0)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<String>, E> {
            Ok((!v.is_empty()).then(|| v.to_owned()))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Option<String>, E> {
            Ok((!v.is_empty()).then_some(v))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }
    }

    /// An optional line or column: a non-negative integer or `null`.
    struct OptU32Field(&'static str);

    impl Visitor<'_> for OptU32Field {
        type Value = Option<u32>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a non-negative 32-bit integer or null for `{}`", self.0)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<u32>, E> {
            u32::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<u32>, E> {
            u32::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Option<u32>, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Option<u32>, E> {
            Ok(None)
        }
    }

    /// A score: a number or `null`. With `text_is_none`, a string is `None` too:
    /// json2 writes "An exception occurred while rating: …" there when the
    /// evaluation expression fails.
    struct ScoreField {
        name: &'static str,
        text_is_none: bool,
    }

    impl Visitor<'_> for ScoreField {
        type Value = Option<f64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a number or null for `{}`", self.name)
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<f64>, E> {
            Ok(Some(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<f64>, E> {
            Ok(Some(v as f64))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<f64>, E> {
            Ok(Some(v as f64))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<f64>, E> {
            if self.text_is_none {
                Ok(None)
            } else {
                Err(E::invalid_type(Unexpected::Str(v), &self))
            }
        }

        fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Option<f64>, E> {
            Ok(None)
        }
    }

    macro_rules! field {
        ($name:ident, $ty:ty, $visitor:expr) => {
            fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                d.deserialize_any($visitor)
            }
        };
    }

    field!(de_type, String, StrField("type"));
    field!(de_message, String, StrField("message"));
    field!(de_path, String, StrField("path"));
    field!(de_symbol, Option<String>, OptStrField("symbol"));
    field!(de_message_id, Option<String>, OptStrField("messageId"));
    field!(
        de_legacy_message_id,
        Option<String>,
        OptStrField("message-id")
    );
    field!(de_obj, Option<String>, OptStrField("obj"));
    field!(de_line, Option<u32>, OptU32Field("line"));
    field!(de_column, Option<u32>, OptU32Field("column"));
    field!(
        de_score,
        Option<f64>,
        ScoreField {
            name: "score",
            text_is_none: true
        }
    );
    field!(
        de_global_note,
        Option<f64>,
        ScoreField {
            name: "global_note",
            text_is_none: false
        }
    );
}

/// The text formats, read line by line.
mod text {
    use super::*;

    pub(super) fn parse<R: BufRead>(
        mut reader: R,
        path: &Path,
        start: &Start,
    ) -> Result<PylintReport, ReportError> {
        let mut state = State::default();
        let mut buf = start.prefix.clone();
        let mut line_no = start.lines_skipped;
        loop {
            let read = reader
                .read_until(b'\n', &mut buf)
                .map_err(|err| ReportError::io(path, err))?;
            if read == 0 && buf.is_empty() {
                break;
            }
            line_no += 1;
            let line = match std::str::from_utf8(&buf) {
                Ok(line) => line,
                Err(err) => {
                    let valid = String::from_utf8_lossy(&buf[..err.valid_up_to()]);
                    let mut column = valid.chars().count() as u64 + 1;
                    if line_no == start.lines_skipped + 1 {
                        column += start.columns_skipped;
                    }
                    return Err(invalid_utf8(path, line_no, column));
                }
            };
            let line = line.trim_end_matches(['\n', '\r']);
            state.line(&strip_ansi(line));
            buf.clear();
        }
        state.finish(path)
    }

    #[derive(Default)]
    struct State {
        messages: Vec<LintMessage>,
        format: Option<PylintFormat>,
        score: Option<f64>,
        rated: bool,
        /// The module of the last `************* Module` header.
        module: Option<String>,
        /// The last message lacks its symbol, which may end its last continuation line.
        pending: Option<Pending>,
    }

    struct Pending {
        require_hyphen: bool,
        /// The symbol the latest continuation line ends with.
        candidate: Option<String>,
    }

    impl State {
        fn line(&mut self, line: &str) {
            let trimmed = line.trim();
            if let Some(message) = parse_message_line(line, self.module.as_deref()) {
                self.settle();
                let (message, format) = message;
                self.format.get_or_insert(format);
                if message.symbol.is_none()
                    && matches!(format, PylintFormat::Text | PylintFormat::Parseable)
                {
                    self.pending = Some(Pending {
                        require_hyphen: format != PylintFormat::Text,
                        candidate: None,
                    });
                }
                self.messages.push(message);
            } else if let Some(score) = rating(trimmed) {
                self.settle();
                self.rated = true;
                self.score = score;
            } else if let Some(module) = line.strip_prefix("************* Module ") {
                self.settle();
                self.module = Some(module.trim().to_owned());
            } else if trimmed.is_empty() || is_rule(trimmed) {
                self.settle();
            } else if let Some(pending) = &mut self.pending {
                // Source context, caret, duplicate-code listing: skipped, but the
                // last of them may carry the message's `(symbol)`.
                pending.candidate = trailing_symbol(line, pending.require_hyphen)
                    .map(|(_, symbol)| symbol.to_owned());
            }
        }

        /// Ends the continuation lines of the last message.
        fn settle(&mut self) {
            if let Some(Pending {
                candidate: Some(symbol),
                ..
            }) = self.pending.take()
            {
                if let Some(last) = self.messages.last_mut() {
                    last.symbol = Some(symbol);
                }
            }
        }

        fn finish(mut self, path: &Path) -> Result<PylintReport, ReportError> {
            self.settle();
            if self.messages.is_empty() && !self.rated {
                return Err(ReportError::format(
                    path,
                    "no pylint messages or score found; is this pylint output?",
                ));
            }
            let format = self.format.unwrap_or(PylintFormat::Text);
            Ok(PylintReport::new(format, self.messages, self.score))
        }
    }

    /// `Some(score)` for a rating line, `Some(None)` when pylint could not rate.
    fn rating(line: &str) -> Option<Option<f64>> {
        if let Some(rest) = line.strip_prefix("Your code has been rated at ") {
            let (score, _) = rest.split_once("/10")?;
            Some(score.trim().parse::<f64>().ok().filter(|s| s.is_finite()))
        } else if line.starts_with("An exception occurred while rating") {
            Some(None)
        } else {
            None
        }
    }

    /// A dashed or doubled rule under a report title or above the rating.
    fn is_rule(line: &str) -> bool {
        line.bytes().all(|b| b == b'-' || b == b'=')
    }

    /// Removes ANSI SGR sequences (`colorized` output).
    fn strip_ansi(line: &str) -> Cow<'_, str> {
        if memchr::memchr(0x1b, line.as_bytes()).is_none() {
            return Cow::Borrowed(line);
        }
        let mut out = String::with_capacity(line.len());
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\x1b' && chars.peek() == Some(&'[') {
                chars.next();
                // Parameters and intermediates, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }

    /// Parses one line as a message in any of the text formats.
    pub(super) fn parse_message_line(
        line: &str,
        module: Option<&str>,
    ) -> Option<(LintMessage, PylintFormat)> {
        if line.starts_with("::") {
            return github(line).map(|m| (m, PylintFormat::Github));
        }
        if let Some(message) = text_default(line) {
            return Some((message, PylintFormat::Text));
        }
        if let Some(message) = parseable(line) {
            return Some((message, PylintFormat::Parseable));
        }
        if let Some(message) = msvs(line) {
            return Some((message, PylintFormat::Msvs));
        }
        text_legacy(line, module?).map(|m| (m, PylintFormat::Text))
    }

    /// `path:line:column: C0303: message (symbol)`, the column optional.
    fn text_default(line: &str) -> Option<LintMessage> {
        let skip = drive_prefix_len(line);
        let bytes = line.as_bytes();
        let mut from = skip;
        while let Some(offset) = memchr::memchr(b':', &bytes[from..]) {
            let colon = from + offset;
            if colon > 0 {
                if let Some(message) = text_fields(&line[..colon], &line[colon + 1..]) {
                    return Some(message);
                }
            }
            from = colon + 1;
        }
        None
    }

    fn text_fields(path: &str, rest: &str) -> Option<LintMessage> {
        let (line, rest) = leading_u32(rest)?;
        let (column, rest) = match rest.strip_prefix(':') {
            Some(after) if after.starts_with(|c: char| c.is_ascii_digit()) => {
                let (column, after) = leading_u32(after)?;
                (Some(column), after)
            }
            _ => (None, rest),
        };
        let rest = rest.strip_prefix(": ")?;
        let (id, text) = rest.split_once(':')?;
        if !is_message_id(id) {
            return None;
        }
        let text = text.strip_prefix(' ').unwrap_or(text);
        let (message, symbol) = split_symbol(text, false);
        Some(LintMessage {
            kind: kind_of(Some(id)),
            message_id: Some(id.to_owned()),
            symbol,
            message,
            path: path.to_owned(),
            line: Some(line),
            column,
            obj: None,
        })
    }

    /// `path:line: [C0111(missing-docstring), obj] message` and its variants `[C0111, obj]`,
    /// `[C]`, `[(symbol), ]`, and `path:module.name:line: [...]`.
    fn parseable(line: &str) -> Option<LintMessage> {
        let skip = drive_prefix_len(line);
        let open = skip + line[skip..].find(": [")?;
        let head = &line[..open];
        let colon = skip + head[skip..].rfind(':')?;
        let (line_no, after) = leading_u32(&head[colon + 1..])?;
        if !after.is_empty() {
            return None;
        }
        let location = &head[..colon];
        // `file:module.name`: the module is dropped, the file kept.
        let path = match location[skip..].rfind(':') {
            Some(c) if is_dotted_name(&location[skip + c + 1..]) => &location[..skip + c],
            _ => location,
        };
        if path.is_empty() {
            return None;
        }
        let rest = &line[open + 3..];
        let close = rest.find(']')?;
        let (code, obj) = match rest[..close].split_once(',') {
            Some((code, obj)) => (code.trim(), obj.trim()),
            None => (rest[..close].trim(), ""),
        };
        let (id, symbol) = match code.split_once('(') {
            Some((id, symbol)) => (id, symbol.strip_suffix(')')?),
            None => (code, ""),
        };
        if (id.is_empty() && symbol.is_empty())
            || (!id.is_empty() && !is_message_id(id))
            || (!symbol.is_empty() && !is_symbol(symbol))
        {
            return None;
        }
        let text = &rest[close + 1..];
        let text = text.strip_prefix(' ').unwrap_or(text);
        let (message, symbol) = if symbol.is_empty() {
            split_symbol(text, true)
        } else {
            (text.to_owned(), Some(symbol.to_owned()))
        };
        Some(LintMessage {
            kind: kind_of(Some(id)),
            message_id: non_empty(id),
            symbol,
            message,
            path: path.to_owned(),
            line: Some(line_no),
            column: None,
            obj: non_empty(obj),
        })
    }

    /// `path(line): [C0111(missing-docstring)obj] message`.
    fn msvs(line: &str) -> Option<LintMessage> {
        let open = line.find("): [")?;
        let (path, line_no) = line[..open].rsplit_once('(')?;
        let (line_no, after) = leading_u32(line_no)?;
        if path.is_empty() || !after.is_empty() {
            return None;
        }
        let rest = &line[open + 4..];
        let close = rest.find(']')?;
        let (id, rest_code) = rest[..close].split_once('(')?;
        let (symbol, obj) = rest_code.split_once(')')?;
        if (!id.is_empty() && !is_message_id(id)) || (!symbol.is_empty() && !is_symbol(symbol)) {
            return None;
        }
        let text = &rest[close + 1..];
        Some(LintMessage {
            kind: kind_of(Some(id)),
            message_id: non_empty(id),
            symbol: non_empty(symbol),
            message: text.strip_prefix(' ').unwrap_or(text).to_owned(),
            path: path.to_owned(),
            line: Some(line_no),
            column: None,
            obj: non_empty(obj.trim()),
        })
    }

    /// `::warning file=path,line=1,endline=,col=0,title=W0611::message`.
    fn github(line: &str) -> Option<LintMessage> {
        let (category, rest) = line.strip_prefix("::")?.split_once(' ')?;
        let rest = rest.strip_prefix("file=")?;
        let (path, rest) = rest.split_once(",line=")?;
        let (line_no, rest) = rest.split_once(",endline=")?;
        let (_, rest) = rest.split_once(",col=")?;
        let (column, rest) = rest.split_once(",title=")?;
        let (id, message) = rest.split_once("::")?;
        let (line_no, after) = leading_u32(line_no)?;
        if path.is_empty() || !after.is_empty() || (!id.is_empty() && !is_message_id(id)) {
            return None;
        }
        let column = match leading_u32(column) {
            Some((column, "")) => Some(column),
            _ => None,
        };
        let kind = LintKind::from_message_id(id).unwrap_or(match category {
            "error" => LintKind::Error,
            "notice" => LintKind::Convention,
            _ => LintKind::Warning,
        });
        Some(LintMessage {
            kind,
            message_id: non_empty(id),
            symbol: None,
            message: message.to_owned(),
            path: path.to_owned(),
            line: Some(line_no),
            column,
            obj: None,
        })
    }

    /// Pylint 1.x text: `C:  1, 0: message (symbol)` (also `C0111: 12,4: message`)
    /// under a `************* Module name` header, which names the file.
    fn text_legacy(line: &str, module: &str) -> Option<LintMessage> {
        let (id, rest) = line.split_once(':')?;
        if !is_message_id(id) {
            return None;
        }
        let (line_no, rest) = leading_u32(rest.trim_start())?;
        let (column, rest) = match rest.strip_prefix(',') {
            Some(after) => {
                let (column, after) = leading_u32(after.trim_start())?;
                (Some(column), after)
            }
            None => (None, rest),
        };
        let text = rest.strip_prefix(':')?;
        let text = text.strip_prefix(' ').unwrap_or(text);
        let (message, symbol) = split_symbol(text, false);
        Some(LintMessage {
            kind: kind_of(Some(id)),
            message_id: Some(id.to_owned()),
            symbol,
            message,
            path: module.to_owned(),
            line: Some(line_no),
            column,
            obj: None,
        })
    }

    /// The kind of a message id; [`LintKind::Warning`] when there is none or its letter
    /// is not one pylint defines.
    fn kind_of(id: Option<&str>) -> LintKind {
        id.and_then(LintKind::from_message_id)
            .unwrap_or(LintKind::Warning)
    }

    fn non_empty(s: &str) -> Option<String> {
        (!s.is_empty()).then(|| s.to_owned())
    }

    /// Splits `message (symbol)` into the message and the symbol, if it ends with one.
    fn split_symbol(text: &str, require_hyphen: bool) -> (String, Option<String>) {
        match trailing_symbol(text, require_hyphen) {
            Some((message, symbol)) => (message.to_owned(), Some(symbol.to_owned())),
            None => (text.to_owned(), None),
        }
    }

    /// `("message", "symbol")` when `text` ends with ` (symbol)`: a lowercase pylint
    /// symbol, with a hyphen when `require_hyphen` (where a single word in parentheses
    /// is more likely part of the message).
    pub(super) fn trailing_symbol(text: &str, require_hyphen: bool) -> Option<(&str, &str)> {
        let inner = text.trim_end().strip_suffix(')')?;
        let open = inner.rfind('(')?;
        let symbol = &inner[open + 1..];
        let message = &inner[..open];
        let shaped = symbol.starts_with(|c: char| c.is_ascii_lowercase())
            && symbol
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !shaped || (require_hyphen && !symbol.contains('-')) {
            return None;
        }
        if message.is_empty() {
            return Some(("", symbol));
        }
        Some((message.strip_suffix(' ')?, symbol))
    }

    /// `C0301`, `C`, `Z9999`: an uppercase letter and digits.
    fn is_message_id(s: &str) -> bool {
        let mut bytes = s.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_uppercase()) && bytes.all(|b| b.is_ascii_digit())
    }

    /// A symbol inside brackets: `missing-docstring`, a plugin's `W_custom`.
    fn is_symbol(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    /// `pkg.module_name`: a python dotted name.
    fn is_dotted_name(s: &str) -> bool {
        !s.is_empty()
            && s.split('.').all(|part| {
                part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
    }

    /// 2 for a line starting with a drive (`E:\` or `E:/`), whose colon is not a separator.
    fn drive_prefix_len(line: &str) -> usize {
        match line.as_bytes() {
            [drive, b':', b'\\' | b'/', ..] if drive.is_ascii_alphabetic() => 2,
            _ => 0,
        }
    }

    /// The decimal number at the start of `s` and what follows it.
    fn leading_u32(s: &str) -> Option<(u32, &str)> {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number = s[..digits].parse().ok()?;
        Some((number, &s[digits..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<PylintReport, ReportError> {
        parse_pylint(input.as_bytes(), Path::new("report.txt"))
    }

    fn line(input: &str) -> Option<(LintMessage, PylintFormat)> {
        text::parse_message_line(input, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn msg(
        kind: LintKind,
        id: Option<&str>,
        symbol: Option<&str>,
        message: &str,
        path: &str,
        line: u32,
        column: Option<u32>,
        obj: Option<&str>,
    ) -> LintMessage {
        LintMessage {
            kind,
            message_id: id.map(str::to_owned),
            symbol: symbol.map(str::to_owned),
            message: message.to_owned(),
            path: path.to_owned(),
            line: Some(line),
            column,
            obj: obj.map(str::to_owned),
        }
    }

    #[test]
    fn text_default_line() {
        let (m, format) = line(
            "rift/cli_listen_handler.py:27:21: C0303: Trailing whitespace (trailing-whitespace)",
        )
        .unwrap();
        assert_eq!(format, PylintFormat::Text);
        assert_eq!(
            m,
            msg(
                LintKind::Convention,
                Some("C0303"),
                Some("trailing-whitespace"),
                "Trailing whitespace",
                "rift/cli_listen_handler.py",
                27,
                Some(21),
                None
            )
        );
    }

    #[test]
    fn text_keeps_parentheses_inside_the_message() {
        let (m, _) = line("a.py:3:0: C0301: Line too long (104/100) (line-too-long)").unwrap();
        assert_eq!(m.message, "Line too long (104/100)");
        assert_eq!(m.symbol.as_deref(), Some("line-too-long"));
        let (m, _) = line("a.py:3:0: W0511: TODO fix (fixme)").unwrap();
        assert_eq!(m.symbol.as_deref(), Some("fixme"));
        // A message with a colon and brackets, and no symbol.
        let (m, _) = line("a.py:3:0: E0001: x:3: [y] (104/100)").unwrap();
        assert_eq!((m.message.as_str(), m.symbol), ("x:3: [y] (104/100)", None));
    }

    #[test]
    fn text_windows_drive() {
        let (m, _) =
            line(r"C:\src\app\main.py:10:4: W0611: Unused import os (unused-import)").unwrap();
        assert_eq!(m.path, r"C:\src\app\main.py");
        assert_eq!((m.line, m.column), (Some(10), Some(4)));
    }

    #[test]
    fn parseable_variants() {
        let cases = [
            (
                "src/m.py:16: [C0326(bad-whitespace), ] Exactly one space required",
                msg(
                    LintKind::Convention,
                    Some("C0326"),
                    Some("bad-whitespace"),
                    "Exactly one space required",
                    "src/m.py",
                    16,
                    None,
                    None,
                ),
            ),
            (
                "trunk/tv.py:28: [C0103, Show.__init__] Invalid name \"x\" (should match [a-z_][a-z0-9_]{2,30}$)",
                msg(
                    LintKind::Convention,
                    Some("C0103"),
                    None,
                    "Invalid name \"x\" (should match [a-z_][a-z0-9_]{2,30}$)",
                    "trunk/tv.py",
                    28,
                    None,
                    Some("Show.__init__"),
                ),
            ),
            (
                "trunk/cachedhttp.py:3: [C] Line too long (85/80)",
                msg(
                    LintKind::Convention,
                    Some("C"),
                    None,
                    "Line too long (85/80)",
                    "trunk/cachedhttp.py",
                    3,
                    None,
                    None,
                ),
            ),
            (
                "m.py:34: [(unused-import), ] Unused import deadbeef",
                msg(
                    LintKind::Warning,
                    None,
                    Some("unused-import"),
                    "Unused import deadbeef",
                    "m.py",
                    34,
                    None,
                    None,
                ),
            ),
            (
                "m.py:1: [F0001(fatal), ] No module named m.py",
                msg(
                    LintKind::Fatal,
                    Some("F0001"),
                    Some("fatal"),
                    "No module named m.py",
                    "m.py",
                    1,
                    None,
                    None,
                ),
            ),
            (
                "m.py:35: [Z9999(new-unknown-issue), ] Unknown",
                msg(
                    LintKind::Warning,
                    Some("Z9999"),
                    Some("new-unknown-issue"),
                    "Unknown",
                    "m.py",
                    35,
                    None,
                    None,
                ),
            ),
            (
                "trunk/python_package/module_name.py:python_package.module_name:1: [W0611, ] Unused import os (unused-import)",
                msg(
                    LintKind::Warning,
                    Some("W0611"),
                    Some("unused-import"),
                    "Unused import os",
                    "trunk/python_package/module_name.py",
                    1,
                    None,
                    None,
                ),
            ),
            (
                r"E:\Jenkins\ws\archive.py:28: [C0103, Show.__init__] Invalid name",
                msg(
                    LintKind::Convention,
                    Some("C0103"),
                    None,
                    "Invalid name",
                    r"E:\Jenkins\ws\archive.py",
                    28,
                    None,
                    Some("Show.__init__"),
                ),
            ),
            (
                r"E:\Jenkins\ws\archive.py:pkg.archive:3: [I1101(c-extension-no-member), run] Module",
                msg(
                    LintKind::Info,
                    Some("I1101"),
                    Some("c-extension-no-member"),
                    "Module",
                    r"E:\Jenkins\ws\archive.py",
                    3,
                    None,
                    Some("run"),
                ),
            ),
        ];
        for (input, expected) in cases {
            let (m, format) = line(input).unwrap_or_else(|| panic!("no message in {input:?}"));
            assert_eq!(format, PylintFormat::Parseable, "{input}");
            assert_eq!(m, expected, "{input}");
        }
    }

    #[test]
    fn msvs_and_github_lines() {
        let (m, format) =
            line("src\\app.py(12): [W0612(unused-variable)main] Unused variable 'x'").unwrap();
        assert_eq!(format, PylintFormat::Msvs);
        assert_eq!(
            m,
            msg(
                LintKind::Warning,
                Some("W0612"),
                Some("unused-variable"),
                "Unused variable 'x'",
                "src\\app.py",
                12,
                None,
                Some("main")
            )
        );
        let (m, format) =
            line("::error file=app.py,line=3,endline=,col=4,title=E0602::Undefined variable 'y'")
                .unwrap();
        assert_eq!(format, PylintFormat::Github);
        assert_eq!(
            m,
            msg(
                LintKind::Error,
                Some("E0602"),
                None,
                "Undefined variable 'y'",
                "app.py",
                3,
                Some(4),
                None
            )
        );
    }

    #[test]
    fn not_message_lines() {
        for input in [
            "",
            "            encoded=encoded + letters[x]",
            "                   ^",
            "------------------------------------------------------------------",
            "|convention |32     |NC       |NC         |",
            "Your code has been rated at 9.99/10",
            "************* Module foo",
            "C:  1, 0: pylint 1.x needs a module header",
            r"E:\dir\file.py",
            "path:12: [not an id] message",
            "path:x: [C0111] message",
            "path:99999999999: [C0111] message",
        ] {
            assert_eq!(line(input), None, "{input:?}");
        }
    }

    #[test]
    fn pylint_1_text_uses_the_module_header() {
        let report = parse(
            "************* Module pkg.mod\n\
             C:  1, 0: Missing module docstring (missing-docstring)\n\
             W: 10, 4: Unused variable 'x' (unused-variable)\n",
        )
        .unwrap();
        assert_eq!(report.format, PylintFormat::Text);
        assert_eq!(
            report.messages[1],
            msg(
                LintKind::Warning,
                Some("W"),
                Some("unused-variable"),
                "Unused variable 'x'",
                "pkg.mod",
                10,
                Some(4),
                None
            )
        );
    }

    #[test]
    fn multi_line_text_message_takes_its_symbol_from_the_last_line() {
        let report = parse(
            "************* Module a\n\
             a.py:1:0: R0801: Similar lines in 2 files\n\
             ==a:[1:5]\n\
             ==b:[1:5]\n    return (value)\n    logger.info({ (duplicate-code)\n\
             a.py:2:0: C0303: Trailing whitespace (trailing-whitespace)\n",
        )
        .unwrap();
        assert_eq!(report.messages.len(), 2);
        assert_eq!(report.messages[0].message, "Similar lines in 2 files");
        assert_eq!(report.messages[0].symbol.as_deref(), Some("duplicate-code"));
        assert_eq!(report.score, None);
    }

    #[test]
    fn context_lines_do_not_give_a_symbol_unless_last() {
        let report = parse("a.py:1:0: C0326: Bad space\n    x = (value)\n    ^\n\n").unwrap();
        assert_eq!(report.messages[0].symbol, None);
    }

    #[test]
    fn colorized_output() {
        let report = parse(
            "\x1b[7;33m************* Module a\x1b[0m\n\
             a.py:1:0: \x1b[1mC0114\x1b[0m: \x1b[1mMissing module docstring\x1b[0m (\x1b[1mmissing-module-docstring\x1b[0m)\n",
        )
        .unwrap();
        assert_eq!(
            report.messages[0],
            msg(
                LintKind::Convention,
                Some("C0114"),
                Some("missing-module-docstring"),
                "Missing module docstring",
                "a.py",
                1,
                Some(0),
                None
            )
        );
    }

    #[test]
    fn rating_lines() {
        let report =
            parse("\n---\nYour code has been rated at -0.40/10 (previous run: -0.40/10, +0.00)\n")
                .unwrap();
        assert_eq!(report.score, Some(-0.4));
        assert!(report.messages.is_empty());
        assert_eq!(report.format, PylintFormat::Text);
        let report = parse("Your code has been rated at 10.00/10\n").unwrap();
        assert_eq!(report.score, Some(10.0));
        let report = parse("An exception occurred while rating: division by zero\n").unwrap();
        assert_eq!(report.score, None);
    }

    #[test]
    fn crlf_and_bom_and_no_trailing_newline() {
        let report = parse("\u{feff}a.py:1:0: C0303: Trailing whitespace (trailing-whitespace)\r\nYour code has been rated at 9.00/10").unwrap();
        assert_eq!(
            report.messages[0].symbol.as_deref(),
            Some("trailing-whitespace")
        );
        assert_eq!(report.messages[0].path, "a.py");
        assert_eq!(report.score, Some(9.0));
    }

    #[test]
    fn tiny_reader_buffers() {
        let tiny = |input: &'static str| {
            parse_pylint(
                io::BufReader::with_capacity(1, input.as_bytes()),
                Path::new("r"),
            )
        };
        let report =
            tiny("\u{feff}\n [{\"type\": \"error\", \"message\": \"m\", \"path\": \"a.py\"}]")
                .unwrap();
        assert_eq!(
            (report.format, report.counts.error),
            (PylintFormat::Json, 1)
        );
        // U+FF33 starts with the BOM's first byte, then differs.
        let text = "\u{ff33}rc/a.py:1:0: C0303: Trailing whitespace (trailing-whitespace)\n";
        for report in [tiny(text).unwrap(), parse(text).unwrap()] {
            assert_eq!(report.messages[0].path, "\u{ff33}rc/a.py");
        }
        let (line, column, _) = syntax(tiny("\u{feff}\n  {\"messages\": [}").unwrap_err());
        assert_eq!((line, column), (2, 17));
        assert_eq!(
            format_message(tiny("\u{feff}").unwrap_err()),
            "empty file, no pylint output"
        );
        assert_eq!(
            syntax(
                parse_pylint(
                    io::BufReader::with_capacity(1, &b"\xEF\xBB"[..]),
                    Path::new("r")
                )
                .unwrap_err()
            )
            .0,
            1
        );
    }

    #[test]
    fn kind_order_and_names() {
        assert!(LintKind::Fatal > LintKind::Error);
        assert!(LintKind::Error > LintKind::Warning);
        assert!(LintKind::Warning > LintKind::Refactor);
        assert!(LintKind::Refactor > LintKind::Convention);
        assert!(LintKind::Convention > LintKind::Info);
        for kind in LintKind::ALL {
            assert_eq!(LintKind::from_letter(kind.letter()), Some(kind));
            assert_eq!(LintKind::from_word(kind.as_str()), Some(kind));
            assert_eq!(kind.as_str().parse::<LintKind>(), Ok(kind));
            assert_eq!(kind.letter().to_string().parse::<LintKind>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!("Warning".parse::<LintKind>(), Ok(LintKind::Warning));
        assert_eq!("w".parse::<LintKind>(), Ok(LintKind::Warning));
        assert!("Z".parse::<LintKind>().is_err());
        assert_eq!(LintKind::from_message_id("R0801"), Some(LintKind::Refactor));
        assert_eq!(LintKind::from_message_id("Z9999"), None);
    }

    #[test]
    fn format_serializes_snake_case() {
        assert_eq!(
            serde_json::to_value(PylintFormat::JsonExtended).unwrap(),
            "json_extended"
        );
        assert_eq!(serde_json::to_value(PylintFormat::Json2).unwrap(), "json2");
    }

    #[test]
    fn legacy_json_array() {
        let report = parse(
            r#"[{"type": "warning", "module": "a", "obj": "", "line": 3, "column": 0, "endLine": null,
                 "endColumn": null, "path": "a.py", "symbol": "unused-import",
                 "message": "Unused import os", "message-id": "W0611"},
                {"type": "mystery", "module": "a", "obj": "f", "line": 4, "column": 2, "path": "a.py",
                 "symbol": "x", "message": "m", "message-id": "E0001"}]"#,
        )
        .unwrap();
        assert_eq!(report.format, PylintFormat::Json);
        assert_eq!(report.score, None);
        assert_eq!(
            report.messages[0],
            msg(
                LintKind::Warning,
                Some("W0611"),
                Some("unused-import"),
                "Unused import os",
                "a.py",
                3,
                Some(0),
                None
            )
        );
        // An unknown category word falls back to the id's letter.
        assert_eq!(report.messages[1].kind, LintKind::Error);
        assert_eq!(report.messages[1].obj.as_deref(), Some("f"));
        assert_eq!(parse("[]").unwrap().messages, vec![]);
    }

    #[test]
    fn json2_score_may_be_text() {
        let report = parse(
            r#"{"messages": [], "statistics": {"messageTypeCount": {}, "modulesLinted": 0,
                "score": "An exception occurred while rating: division by zero"}}"#,
        )
        .unwrap();
        assert_eq!((report.format, report.score), (PylintFormat::Json2, None));
        let report = parse(r#"{"messages": [], "statistics": {"score": 10}}"#).unwrap();
        assert_eq!(report.score, Some(10.0));
    }

    #[test]
    fn jsonextended_global_note() {
        let report = parse(
            r#"{"messages": [], "stats": {"global_note": 8.5, "by_module": {}}, "previous": null}"#,
        )
        .unwrap();
        assert_eq!(
            (report.format, report.score),
            (PylintFormat::JsonExtended, Some(8.5))
        );
        let report =
            parse(r#"{"messages": [], "stats": {}, "previous": {"global_note": 8.5}}"#).unwrap();
        assert_eq!(
            (report.format, report.score),
            (PylintFormat::JsonExtended, None)
        );
        let err = parse(r#"{"messages": [], "stats": {"global_note": "high"}, "previous": null}"#)
            .unwrap_err();
        assert!(err.to_string().contains("`global_note`"), "{err}");
    }

    fn syntax(err: ReportError) -> (u64, u64, String) {
        match err {
            ReportError::Syntax {
                line,
                column,
                message,
                ..
            } => (line, column, message),
            other => panic!("not a syntax error: {other}"),
        }
    }

    fn format_message(err: ReportError) -> String {
        match err {
            ReportError::Format { message, .. } => message,
            other => panic!("not a format error: {other}"),
        }
    }

    #[test]
    fn empty_and_blank_files() {
        for input in ["", "\u{feff}", "  \n\r\n\t\n"] {
            assert_eq!(
                format_message(parse(input).unwrap_err()),
                "empty file, no pylint output"
            );
        }
    }

    #[test]
    fn xml_is_not_pylint() {
        let message =
            format_message(parse("\n<?xml version=\"1.0\"?>\n<testsuites/>").unwrap_err());
        assert!(message.contains("XML"), "{message}");
    }

    #[test]
    fn text_that_is_not_pylint() {
        let message = format_message(parse("hello\nworld\n************* Module a\n").unwrap_err());
        assert_eq!(
            message,
            "no pylint messages or score found; is this pylint output?"
        );
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let input = b"a.py:1:0: C0303: ok (trailing-whitespace)\na.py:2:0: C0303: \xc3\xa9t\xff\n";
        let err = parse_pylint(&input[..], Path::new("r.txt")).unwrap_err();
        assert_eq!(syntax(err).0, 2);
        let err = parse_pylint(&input[..], Path::new("r.txt")).unwrap_err();
        // "a.py:2:0: C0303: " is 17 characters, "ét" 2 more: the bad byte is the 20th.
        assert_eq!(syntax(err).1, 20);
        let err = parse_pylint(&b"\xEF\xBBx"[..], Path::new("r.txt")).unwrap_err();
        assert_eq!(syntax(err).0, 1);
    }

    #[test]
    fn invalid_json_has_position_after_skipped_whitespace() {
        let (line, column, message) = syntax(parse("\n\n  {\"messages\": [}").unwrap_err());
        assert_eq!((line, column), (3, 17));
        assert!(!message.contains(" at line "), "{message}");
        let (line, _, message) =
            syntax(parse("[\n{\"type\": \"error\", \"message\": \"m\"").unwrap_err());
        assert_eq!(line, 2);
        assert!(message.starts_with("EOF"), "{message}");
        let (_, _, message) = syntax(parse("[] trailing").unwrap_err());
        assert!(message.contains("trailing"), "{message}");
    }

    #[test]
    fn json_error_columns_count_characters() {
        // serde_json points just past the bad value: the `}` after `3`, the 44th
        // character of the line and its 45th byte.
        let input = "[\n{\"type\": \"error\", \"message\": \"é\", \"path\": 3}]";
        let (line, column, message) = syntax(parse(input).unwrap_err());
        assert_eq!((line, column), (2, 44), "{message}");
    }

    #[test]
    fn wrong_json_shape_names_the_field() {
        let cases = [
            (r#"{"messages": {}}"#, "`messages`"),
            (
                r#"[{"type": "error", "message": "m", "path": "a.py", "line": "3"}]"#,
                "`line`",
            ),
            (
                r#"[{"type": "error", "message": "m", "path": "a.py", "column": -1}]"#,
                "`column`",
            ),
            (
                r#"[{"type": "error", "message": 3, "path": "a.py"}]"#,
                "`message`",
            ),
            (r#"[{"type": "error", "message": "m"}]"#, "`path`"),
            (r#"[{"message": "m", "path": "a.py"}]"#, "`type`"),
            (
                r#"[{"type": "error", "message": "m", "path": "a.py", "symbol": 1}]"#,
                "`symbol`",
            ),
            (r#"[3]"#, "pylint message object"),
            (r#"{"messages": [], "statistics": 3}"#, "`statistics`"),
            (
                r#"{"messages": [], "statistics": {"score": []}}"#,
                "`score`",
            ),
        ];
        for (input, field) in cases {
            let (_, _, message) = syntax(parse(input).unwrap_err());
            assert!(message.contains(field), "{input}: {message}");
        }
        let message = format_message(parse(r#"{"statistics": {}}"#).unwrap_err());
        assert!(message.contains("`messages`"), "{message}");
    }

    #[test]
    fn io_errors_are_io() {
        let err = parse_pylint_file(Path::new("/nonexistent/pylint.json")).unwrap_err();
        assert!(matches!(err, ReportError::Io { .. }), "{err}");
    }

    #[test]
    fn trailing_symbol_rules() {
        assert_eq!(
            text::trailing_symbol("msg (a-b)", true),
            Some(("msg", "a-b"))
        );
        assert_eq!(text::trailing_symbol("msg (fixme)", true), None);
        assert_eq!(
            text::trailing_symbol("msg (fixme)", false),
            Some(("msg", "fixme"))
        );
        assert_eq!(text::trailing_symbol("f(x)", false), None);
        assert_eq!(text::trailing_symbol("(85/80)", false), None);
        assert_eq!(
            text::trailing_symbol(" (fixme)", false),
            Some(("", "fixme"))
        );
    }
}
