//! GitHub Actions workflow commands (`::error ...::`, `::add-mask::`,
//! `::group::`) rendered as strings for the binary to print on stdout.
//!
//! Escaping follows `@actions/core`'s `command.ts`: the data part escapes
//! `%`, `\r` and `\n`; property values additionally escape `:` and `,`.

use std::fmt;

use crate::Secret;

/// GitHub shows at most this many annotations of each level per step
/// (the runner's `_maxIssueCount`); the rest are counted but not shown.
pub const ANNOTATION_LIMIT_PER_STEP: usize = 10;

/// GitHub shows at most this many annotations per job, over all its steps.
pub const ANNOTATION_LIMIT_PER_JOB: usize = 50;

/// The level of an annotation, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Level {
    /// `::error`: shown in red, does not fail the step by itself.
    Error,
    /// `::warning`.
    Warning,
    /// `::notice`.
    Notice,
}

impl Level {
    /// The workflow command name: `error`, `warning` or `notice`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Notice => "notice",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An annotation's message and optional location, built with `with_*`
/// methods.
///
/// Line and column numbers are 1-based; a `0` is left out of the command,
/// as `@actions/core` leaves out falsy properties. Likewise an empty title
/// or file. `file` is a path relative to the repository root
/// (`GITHUB_WORKSPACE`), with `/` separators.
///
/// ```
/// use pipeline_ci::{annotation, Annotation, Level};
///
/// let note = Annotation::new("unused import").with_file("src/a.py").with_line(3);
/// assert_eq!(annotation(Level::Warning, &note), "::warning file=src/a.py,line=3::unused import");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Annotation {
    message: String,
    title: Option<String>,
    file: Option<String>,
    line: Option<u32>,
    end_line: Option<u32>,
    col: Option<u32>,
    end_column: Option<u32>,
}

impl Annotation {
    /// An annotation with a message and no location.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            ..Self::default()
        }
    }

    /// Sets the title shown above the message.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the file, relative to the repository root.
    #[must_use]
    pub fn with_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Sets the (first) line.
    #[must_use]
    pub fn with_line(mut self, line: u32) -> Self {
        self.line = Some(line);
        self
    }

    /// Sets the last line of a multi-line range.
    #[must_use]
    pub fn with_end_line(mut self, end_line: u32) -> Self {
        self.end_line = Some(end_line);
        self
    }

    /// Sets the (first) column. GitHub uses columns only when the annotation
    /// covers a single line.
    #[must_use]
    pub fn with_col(mut self, col: u32) -> Self {
        self.col = Some(col);
        self
    }

    /// Sets the last column.
    #[must_use]
    pub fn with_end_column(mut self, end_column: u32) -> Self {
        self.end_column = Some(end_column);
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The title, if any.
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// The file, if any.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The (first) line, if any.
    pub fn line(&self) -> Option<u32> {
        self.line
    }

    /// The last line, if any.
    pub fn end_line(&self) -> Option<u32> {
        self.end_line
    }

    /// The (first) column, if any.
    pub fn col(&self) -> Option<u32> {
        self.col
    }

    /// The last column, if any.
    pub fn end_column(&self) -> Option<u32> {
        self.end_column
    }
}

/// Renders an annotation command, e.g.
/// `::error file=a.py,line=3,title=T::message`.
///
/// Properties come in the order of GitHub's documentation (`file`, `line`,
/// `endLine`, `col`, `endColumn`, `title`); empty ones are left out.
pub fn annotation(level: Level, annotation: &Annotation) -> String {
    let numbers = [
        ("line", annotation.line),
        ("endLine", annotation.end_line),
        ("col", annotation.col),
        ("endColumn", annotation.end_column),
    ]
    .map(|(key, value)| (key, value.filter(|n| *n != 0).map(|n| n.to_string())));

    let mut properties: Vec<(&str, String)> = Vec::new();
    if let Some(file) = annotation.file.as_deref().filter(|f| !f.is_empty()) {
        properties.push(("file", escape_property(file)));
    }
    properties.extend(
        numbers
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| (key, v))),
    );
    if let Some(title) = annotation.title.as_deref().filter(|t| !t.is_empty()) {
        properties.push(("title", escape_property(title)));
    }

    let mut out = format!("::{}", level.as_str());
    for (index, (key, value)) in properties.iter().enumerate() {
        out.push(if index == 0 { ' ' } else { ',' });
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out.push_str("::");
    out.push_str(&escape_data(&annotation.message));
    out
}

/// Renders `::add-mask::<value>`, which makes the runner replace the value
/// with `***` in the rest of the job's log.
///
/// Print it before anything that might echo the secret. The runner also
/// masks each line of a multi-line secret on its own. An empty secret
/// renders a command the runner warns about; skip those with
/// [`Secret::is_empty`].
pub fn add_mask(secret: &Secret) -> String {
    format!("::add-mask::{}", escape_data(secret.expose()))
}

/// Renders `::group::<title>`, which folds the following log lines.
pub fn group_start(title: &str) -> String {
    format!("::group::{}", escape_data(title))
}

/// Renders `::endgroup::`, which closes the group opened last.
pub fn group_end() -> String {
    "::endgroup::".to_owned()
}

/// Escapes the data (message) part of a workflow command:
/// `%` → `%25`, `\r` → `%0D`, `\n` → `%0A`.
pub fn escape_data(data: &str) -> String {
    escape(data, false)
}

/// Escapes a property value of a workflow command: as [`escape_data`], plus
/// `:` → `%3A` and `,` → `%2C`.
pub fn escape_property(value: &str) -> String {
    escape(value, true)
}

/// Makes text that came from outside (a test's message, a report's name)
/// safe to print in a GitHub Actions log: the runner reads a line whose
/// trimmed start is `::` as a workflow command, and `##[` anywhere as its
/// older form. A zero-width space after the first character of each keeps
/// the text as it reads and stops the runner from acting on it.
pub fn neutralize_commands(text: &str) -> String {
    const ZWSP: char = '\u{200B}';
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let indent = line.len() - line.trim_start().len();
        let (lead, rest) = line.split_at(indent);
        out.push_str(lead);
        let rest = match rest.strip_prefix("::") {
            Some(after) => {
                out.push(':');
                out.push(ZWSP);
                out.push(':');
                after
            }
            None => rest,
        };
        out.push_str(&rest.replace("##[", "#\u{200B}#["));
    }
    out
}

fn escape(text: &str, property: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if property => out.push_str("%3A"),
            ',' if property => out.push_str("%2C"),
            other => out.push(other),
        }
    }
    out
}

/// How many annotations of each level [`cap_annotations`] dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DroppedAnnotations {
    /// Dropped errors.
    pub errors: usize,
    /// Dropped warnings.
    pub warnings: usize,
    /// Dropped notices.
    pub notices: usize,
}

impl DroppedAnnotations {
    /// Dropped annotations of `level`.
    pub fn of(&self, level: Level) -> usize {
        match level {
            Level::Error => self.errors,
            Level::Warning => self.warnings,
            Level::Notice => self.notices,
        }
    }

    /// Dropped annotations of all levels.
    pub fn total(&self) -> usize {
        self.errors + self.warnings + self.notices
    }

    fn bump(&mut self, level: Level) {
        match level {
            Level::Error => self.errors += 1,
            Level::Warning => self.warnings += 1,
            Level::Notice => self.notices += 1,
        }
    }
}

/// The outcome of [`cap_annotations`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CappedAnnotations<T> {
    /// The annotations to emit, in their original order.
    pub kept: Vec<(Level, T)>,
    /// How many were left out, per level, for an "and N more" line.
    pub dropped: DroppedAnnotations,
}

/// Keeps at most `limit_per_level` annotations of each level (pass
/// [`ANNOTATION_LIMIT_PER_STEP`]), so that the ones GitHub shows are the
/// ones the caller chose.
///
/// Give the items most important first within each level; the first ones
/// of each level are kept, in their original order.
///
/// ```
/// use pipeline_ci::{cap_annotations, Level, ANNOTATION_LIMIT_PER_STEP};
///
/// let findings = (0..12).map(|i| (Level::Error, i));
/// let capped = cap_annotations(findings, ANNOTATION_LIMIT_PER_STEP);
/// assert_eq!(capped.kept.len(), 10);
/// assert_eq!(capped.dropped.errors, 2);
/// ```
pub fn cap_annotations<T>(
    items: impl IntoIterator<Item = (Level, T)>,
    limit_per_level: usize,
) -> CappedAnnotations<T> {
    let mut kept_counts = DroppedAnnotations::default();
    let mut dropped = DroppedAnnotations::default();
    let mut kept = Vec::new();
    for (level, item) in items {
        if kept_counts.of(level) < limit_per_level {
            kept_counts.bump(level);
            kept.push((level, item));
        } else {
            dropped.bump(level);
        }
    }
    CappedAnnotations { kept, dropped }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_annotation_has_no_properties() {
        assert_eq!(
            annotation(Level::Error, &Annotation::new("boom")),
            "::error::boom"
        );
        assert_eq!(
            annotation(Level::Notice, &Annotation::new("")),
            "::notice::"
        );
    }

    #[test]
    fn full_annotation_property_order() {
        let a = Annotation::new("m")
            .with_title("T")
            .with_file("a.py")
            .with_line(3)
            .with_end_line(4)
            .with_col(5)
            .with_end_column(6);
        assert_eq!(
            annotation(Level::Warning, &a),
            "::warning file=a.py,line=3,endLine=4,col=5,endColumn=6,title=T::m"
        );
    }

    #[test]
    fn empty_and_zero_properties_are_left_out() {
        let a = Annotation::new("m")
            .with_title("")
            .with_file("")
            .with_line(0)
            .with_col(2);
        assert_eq!(annotation(Level::Error, &a), "::error col=2::m");
    }

    #[test]
    fn data_escaping() {
        assert_eq!(escape_data("100% a:b,c\r\nd"), "100%25 a:b,c%0D%0Ad");
        // Already-escaped-looking text is escaped again, not passed through.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn property_escaping() {
        assert_eq!(escape_property("C:\\x,y%\n"), "C%3A\\x%2Cy%25%0A");
    }

    #[test]
    fn mask_and_groups() {
        assert_eq!(add_mask(&Secret::new("a%b\nc")), "::add-mask::a%25b%0Ac");
        assert_eq!(group_start("Build: x, y"), "::group::Build: x, y");
        assert_eq!(group_start("two\nlines"), "::group::two%0Alines");
        assert_eq!(group_end(), "::endgroup::");
    }

    #[test]
    fn level_names() {
        assert_eq!(Level::Error.to_string(), "error");
        assert_eq!(Level::Warning.as_str(), "warning");
        assert_eq!(Level::Notice.as_str(), "notice");
    }

    #[test]
    fn cap_keeps_first_per_level_in_order() {
        let mut items = Vec::new();
        for i in 0..13 {
            items.push((Level::Error, format!("e{i}")));
            items.push((Level::Warning, format!("w{i}")));
        }
        items.push((Level::Notice, "n0".to_owned()));
        let capped = cap_annotations(items, ANNOTATION_LIMIT_PER_STEP);
        assert_eq!(capped.kept.len(), 21);
        assert_eq!(capped.kept[0], (Level::Error, "e0".to_owned()));
        assert_eq!(capped.kept[1], (Level::Warning, "w0".to_owned()));
        assert_eq!(capped.kept[19], (Level::Warning, "w9".to_owned()));
        assert_eq!(capped.kept[20], (Level::Notice, "n0".to_owned()));
        assert_eq!(
            capped.dropped,
            DroppedAnnotations {
                errors: 3,
                warnings: 3,
                notices: 0
            }
        );
        assert_eq!(capped.dropped.total(), 6);
        assert_eq!(capped.dropped.of(Level::Warning), 3);
    }

    #[test]
    fn cap_of_zero_drops_everything() {
        let capped = cap_annotations([(Level::Notice, ())], 0);
        assert!(capped.kept.is_empty());
        assert_eq!(capped.dropped.notices, 1);
    }
}

#[cfg(test)]
mod neutralize_tests {
    use super::neutralize_commands;

    #[test]
    fn commands_in_foreign_text_are_defused() {
        let text = "ok line\n   ::error::boom\nsay ##[warning]x\n::add-mask::s";
        let safe = neutralize_commands(text);
        for line in safe.lines() {
            assert!(!line.trim_start().starts_with("::"), "{line}");
            assert!(!line.contains("##["), "{line}");
        }
        assert_eq!(safe.replace('\u{200B}', ""), text);
    }
}
