//! What the gate shows: a compact terminal summary, the stable JSON
//! document, a Markdown job summary bounded in size, and annotations.

use std::fmt::Write as _;

use serde::Serialize;

use crate::cobertura::{CoverageReport, FileCoverage};
use crate::diff::DiffCoverage;
use crate::gate::{Thresholds, Verdict};
use crate::junit::JunitReport;
use crate::pylint::{LintKind, PylintReport};

/// The version of the JSON document's shape. Fields are only ever added
/// within one version.
pub const SCHEMA: &str = "pipeline-report/gate/v1";

/// Everything the gate looked at and decided.
#[derive(Debug, Clone, Copy)]
pub struct GateOutcome<'a> {
    /// The limits applied.
    pub thresholds: &'a Thresholds,
    /// The verdict.
    pub verdict: &'a Verdict,
    /// Merged test results, if JUnit reports were given.
    pub tests: Option<&'a JunitReport>,
    /// Merged coverage, if Cobertura reports were given.
    pub coverage: Option<&'a CoverageReport>,
    /// Pylint results, one per file.
    pub pylint: &'a [PylintReport],
    /// Coverage of the changed lines, if `--diff-base` was given.
    pub diff: Option<&'a DiffCoverage>,
    /// The commit the reports were made from, when known.
    pub commit: Option<&'a str>,
}

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    /// The commit judged: a passed gate unlocks that commit's release only.
    commit: Option<&'a str>,
    gate: &'a Verdict,
    thresholds: &'a Thresholds,
    tests: Option<&'a JunitReport>,
    coverage: Option<CoverageDoc<'a>>,
    pylint: Option<PylintDoc<'a>>,
}

#[derive(Serialize)]
struct CoverageDoc<'a> {
    line_percent: Option<f64>,
    branch_percent: Option<f64>,
    #[serde(flatten)]
    report: &'a CoverageReport,
    /// Coverage of the changed lines (`null` without `--diff-base`).
    diff: Option<&'a DiffCoverage>,
}

#[derive(Serialize)]
struct PylintDoc<'a> {
    score: Option<f64>,
    messages: usize,
    reports: &'a [PylintReport],
}

/// The lowest pylint score over the reports, if every report has one.
pub fn pylint_score(reports: &[PylintReport]) -> Option<f64> {
    let mut lowest: Option<f64> = None;
    for report in reports {
        let score = report.score?;
        lowest = Some(lowest.map_or(score, |l: f64| l.min(score)));
    }
    lowest
}

/// Writes the JSON document (`--json`), pretty-printed, straight to `out`
/// (no copy of a document that lists every covered file is held in memory).
pub fn write_json(outcome: &GateOutcome<'_>, out: impl std::io::Write) -> std::io::Result<()> {
    let document = Document {
        schema: SCHEMA,
        commit: outcome.commit,
        gate: outcome.verdict,
        thresholds: outcome.thresholds,
        tests: outcome.tests,
        coverage: outcome.coverage.map(|report| CoverageDoc {
            line_percent: report.line_percent(),
            branch_percent: report.branch_percent(),
            report,
            diff: outcome.diff,
        }),
        pylint: (!outcome.pylint.is_empty()).then(|| PylintDoc {
            score: pylint_score(outcome.pylint),
            messages: outcome.pylint.iter().map(|r| r.messages.len()).sum(),
            reports: outcome.pylint,
        }),
    };
    serde_json::to_writer_pretty(out, &document).map_err(std::io::Error::from)
}

/// The JSON document (`--json`), pretty-printed, as a string.
pub fn json(outcome: &GateOutcome<'_>) -> String {
    let mut out = Vec::new();
    // Writing plain data with string keys into a Vec cannot fail.
    let _ = write_json(outcome, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Text from a report made safe to show on a terminal, in a Markdown
/// summary or in an annotation: ANSI escape sequences (CSI, OSC, and the
/// other `ESC` sequences, in their 7-bit and 8-bit forms) are dropped, and
/// every other control character (C0 but line feed and tab, DEL, C1) and the
/// bidirectional overrides are shown escaped (`\u{7}`), so that a report can
/// neither move the cursor, retitle the terminal, nor reorder what is read.
/// The JSON document keeps the text exactly as the report had it.
///
/// ```
/// use pipeline_reports::render::printable;
///
/// assert_eq!(printable("a\u{7}b \u{1b}[31mred\u{1b}[0m \u{1b}]0;title\u{7}!"), "a\\u{7}b red !");
/// assert_eq!(printable("two\nlines\tok"), "two\nlines\tok");
/// ```
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let needs = text.chars().any(|c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    });
    if !needs {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            // ESC: a sequence follows; CSI and OSC also have 8-bit forms.
            '\u{1b}' => match chars.peek() {
                Some('[') => {
                    chars.next();
                    skip_csi(&mut chars);
                }
                Some(']' | 'P' | '^' | '_' | 'X') => {
                    chars.next();
                    skip_string(&mut chars);
                }
                Some(&next) if ('\u{20}'..='\u{7e}').contains(&next) => {
                    // Two- or three-character sequences: `ESC (B`, `ESC 7`, `ESC c`.
                    chars.next();
                    if ('\u{20}'..='\u{2f}').contains(&next) {
                        chars.next_if(|c| ('\u{30}'..='\u{7e}').contains(c));
                    }
                }
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{9e}' | '\u{9f}' | '\u{98}' => skip_string(&mut chars),
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Skips a control sequence's parameters and its final character.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) || !(' '..='\u{7e}').contains(&c) {
            return;
        }
    }
}

/// Skips an OSC (or DCS, PM, APC, SOS) string up to BEL or the string
/// terminator (`ESC \\`, 0x9C); a string left open ends at a line break.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                chars.next_if_eq(&'\\');
                return;
            }
            '\n' => return,
            _ => {}
        }
    }
}

fn first_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() > max {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

fn test_id(classname: &str, name: &str) -> String {
    if classname.is_empty() {
        name.to_owned()
    } else {
        format!("{classname}::{name}")
    }
}

fn location(file: Option<&str>, line: Option<u32>) -> Option<String> {
    match (file, line) {
        (Some(file), Some(line)) => Some(format!("{file}:{line}")),
        (Some(file), None) => Some(file.to_owned()),
        _ => None,
    }
}

/// Files with the lowest line coverage first.
pub fn lowest_covered(coverage: &CoverageReport, count: usize) -> Vec<&FileCoverage> {
    let mut files: Vec<&FileCoverage> = coverage
        .files
        .iter()
        .filter(|f| f.lines_valid > 0)
        .collect();
    files.sort_by(|a, b| {
        let pa = a.line_percent().unwrap_or(100.0);
        let pb = b.line_percent().unwrap_or(100.0);
        pa.total_cmp(&pb).then(b.lines_valid.cmp(&a.lines_valid))
    });
    files.truncate(count);
    files
}

/// `3-5, 9, 12-14` for at most `max` ranges, then `… N more`.
fn line_ranges(ranges: &[[u32; 2]], max: usize) -> String {
    let mut parts: Vec<String> = ranges
        .iter()
        .take(max)
        .map(|[a, b]| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if ranges.len() > max {
        parts.push(format!("… {} more", ranges.len() - max));
    }
    parts.join(", ")
}

fn pct(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}%"))
}

/// The compact terminal summary: failures first, then the slowest and
/// flaky tests, coverage with the lowest-covered files, pylint, the verdict.
pub fn text(outcome: &GateOutcome<'_>) -> String {
    let mut out = String::new();
    if let Some(tests) = outcome.tests {
        let c = &tests.counts;
        if !tests.failures.is_empty() {
            let _ = writeln!(out, "failures:");
            for failure in tests.failures.iter().take(20) {
                let place = location(failure.file.as_deref(), failure.line)
                    .unwrap_or_else(|| failure.report.clone());
                let verb = if failure.outcome == crate::junit::Outcome::Errored {
                    "ERROR"
                } else {
                    "FAIL "
                };
                let _ = writeln!(
                    out,
                    "  {verb} {place}  {}",
                    test_id(&failure.classname, &failure.name)
                );
                let said = failure
                    .message
                    .as_deref()
                    .filter(|m| !m.trim().is_empty())
                    .map_or_else(|| first_line(&failure.details, 160), |m| first_line(m, 160));
                if !said.is_empty() {
                    let _ = writeln!(out, "         {said}");
                }
            }
            let more = tests.failures.len().saturating_sub(20) as u64 + tests.failures_omitted;
            if more > 0 {
                let _ = writeln!(out, "  … and {more} more");
            }
        }
        let flaky = if c.flaky > 0 {
            format!(" ({} flaky)", c.flaky)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "tests:    {} total: {} passed{flaky}, {} failed, {} errored, {} skipped in {:.2}s ({} report(s))",
            c.total,
            c.passed,
            c.failed,
            c.errored,
            c.skipped,
            tests.time,
            tests.files.len()
        );
        // Times that round to nothing say nothing.
        if tests.slowest.iter().any(|t| t.time >= 0.005) {
            let slow: Vec<String> = tests
                .slowest
                .iter()
                .filter(|t| t.time >= 0.005)
                .take(5)
                .map(|t| format!("{} {:.2}s", test_id(&t.classname, &t.name), t.time))
                .collect();
            let _ = writeln!(out, "slowest:  {}", slow.join(", "));
        }
        if !tests.flaky.is_empty() {
            let flaky: Vec<String> = tests
                .flaky
                .iter()
                .take(5)
                .map(|t| {
                    format!(
                        "{} ({} attempts)",
                        test_id(&t.classname, &t.name),
                        t.attempts
                    )
                })
                .collect();
            let _ = writeln!(out, "flaky:    {}", flaky.join(", "));
        }
    }
    if let Some(coverage) = outcome.coverage {
        let _ = writeln!(
            out,
            "coverage: lines {} ({}/{}), branches {} ({}/{})",
            pct(coverage.line_percent()),
            coverage.lines_covered,
            coverage.lines_valid,
            pct(coverage.branch_percent()),
            coverage.branches_covered,
            coverage.branches_valid
        );
        let lowest: Vec<String> = lowest_covered(coverage, 5)
            .iter()
            .map(|f| format!("{} {}", f.file, pct(f.line_percent())))
            .collect();
        if !lowest.is_empty() {
            let _ = writeln!(out, "lowest:   {}", lowest.join(", "));
        }
    }
    if let Some(diff) = outcome.diff {
        let _ = writeln!(
            out,
            "changed:  {} of the lines changed since {} run ({}/{} code lines)",
            pct(diff.percent),
            diff.base,
            diff.lines_covered,
            diff.lines_valid
        );
        let missed: Vec<String> = diff
            .uncovered
            .iter()
            .take(10)
            .map(|u| format!("{} {}", u.file, line_ranges(&u.lines, 8)))
            .collect();
        if !missed.is_empty() {
            let more = diff.uncovered.len().saturating_sub(10);
            let tail = if more > 0 {
                format!("; … {more} more file(s)")
            } else {
                String::new()
            };
            let _ = writeln!(out, "not run:  {}{tail}", missed.join("; "));
        }
    }
    if !outcome.pylint.is_empty() {
        let mut counts = [0usize; 6];
        for report in outcome.pylint {
            for message in &report.messages {
                counts[kind_index(message.kind)] += 1;
            }
        }
        let score = pylint_score(outcome.pylint)
            .map_or_else(|| "no score".to_owned(), |s| format!("{s:.2}/10"));
        let _ = writeln!(
            out,
            "pylint:   {score}; {} fatal, {} error, {} warning, {} refactor, {} convention, {} info",
            counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]
        );
    }
    let warnings = outcome
        .tests
        .map_or(0, |t| t.warnings.len() as u64 + t.warnings_omitted)
        + outcome.coverage.map_or(0, |c| c.warnings.len() as u64);
    if warnings > 0 {
        let _ = writeln!(
            out,
            "notes:    {warnings} warning(s) about the reports (logged on stderr; all in --json)"
        );
    }
    if outcome.verdict.passed {
        let _ = writeln!(out, "gate:     passed");
    } else {
        let _ = writeln!(out, "gate:     FAILED");
        for violation in &outcome.verdict.violations {
            let _ = writeln!(out, "  - {}", violation.message());
        }
    }
    match printable(&out) {
        std::borrow::Cow::Borrowed(_) => out,
        std::borrow::Cow::Owned(safe) => safe,
    }
}

fn kind_index(kind: LintKind) -> usize {
    match kind {
        LintKind::Fatal => 0,
        LintKind::Error => 1,
        LintKind::Warning => 2,
        LintKind::Refactor => 3,
        LintKind::Convention => 4,
        LintKind::Info => 5,
    }
}

/// A part of the Markdown summary; parts are cut from the least important.
struct Section {
    /// Lower is more important.
    rank: u8,
    head: String,
    rows: Vec<String>,
    tail: String,
}

impl Section {
    fn len(&self) -> usize {
        self.head.len() + self.tail.len() + self.rows.iter().map(|r| r.len() + 1).sum::<usize>()
    }
}

fn md_escape(text: &str) -> String {
    let text = printable(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '`' => out.push('\''),
            c => out.push(c),
        }
    }
    out
}

/// The job summary in Markdown, at most `limit` bytes: when it would be
/// larger, rows are dropped from the least important parts first (slowest
/// tests, then lint messages, then per-file coverage, then failures), and
/// each cut part says how many rows it left out.
pub fn markdown(outcome: &GateOutcome<'_>, limit: usize) -> String {
    let mut sections = Vec::new();
    let mut head = String::from("## Report gate: ");
    head.push_str(if outcome.verdict.passed {
        "passed ✅\n\n"
    } else {
        "failed ❌\n\n"
    });
    for violation in &outcome.verdict.violations {
        let _ = writeln!(head, "- {}", md_escape(&violation.message()));
    }
    head.push('\n');
    head.push_str("| check | result |\n|---|---|\n");
    if let Some(tests) = outcome.tests {
        let c = &tests.counts;
        let _ = writeln!(
            head,
            "| tests | {} total: {} passed ({} flaky), {} failed, {} errored, {} skipped, {:.2}s |",
            c.total, c.passed, c.flaky, c.failed, c.errored, c.skipped, tests.time
        );
    }
    if let Some(coverage) = outcome.coverage {
        let _ = writeln!(
            head,
            "| line coverage | {} ({}/{}) |\n| branch coverage | {} ({}/{}) |",
            pct(coverage.line_percent()),
            coverage.lines_covered,
            coverage.lines_valid,
            pct(coverage.branch_percent()),
            coverage.branches_covered,
            coverage.branches_valid
        );
    }
    if let Some(diff) = outcome.diff {
        let _ = writeln!(
            head,
            "| changed lines | {} ({}/{}) since `{}` |",
            pct(diff.percent),
            diff.lines_covered,
            diff.lines_valid,
            md_escape(&diff.base)
        );
    }
    if !outcome.pylint.is_empty() {
        let score = pylint_score(outcome.pylint)
            .map_or_else(|| "no score".to_owned(), |s| format!("{s:.2}/10"));
        let _ = writeln!(head, "| pylint | {score} |");
    }
    head.push('\n');
    sections.push(Section {
        rank: 0,
        head,
        rows: Vec::new(),
        tail: String::new(),
    });

    if let Some(tests) = outcome.tests.filter(|t| !t.failures.is_empty()) {
        let rows = tests
            .failures
            .iter()
            .map(|f| {
                let place = location(f.file.as_deref(), f.line).unwrap_or_default();
                let said = f
                    .message
                    .as_deref()
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or(&f.details);
                format!(
                    "| {} | {} | `{}` | {} |",
                    if f.outcome == crate::junit::Outcome::Errored {
                        "error"
                    } else {
                        "failure"
                    },
                    md_escape(&test_id(&f.classname, &f.name)),
                    md_escape(&place),
                    md_escape(&first_line(said, 200))
                )
            })
            .collect();
        let tail = if tests.failures_omitted > 0 {
            format!(
                "\n{} more failing test(s) not listed.\n\n",
                tests.failures_omitted
            )
        } else {
            "\n".into()
        };
        sections.push(Section {
            rank: 1,
            head: "### Failing tests\n\n| | test | where | message |\n|---|---|---|---|\n".into(),
            rows,
            tail,
        });
    }
    if let Some(diff) = outcome.diff.filter(|d| !d.uncovered.is_empty()) {
        sections.push(Section {
            rank: 1,
            head: "### Changed lines not run\n\n| file | lines |\n|---|---|\n".into(),
            rows: uncovered_rows(diff),
            tail: "\n".into(),
        });
    }
    if let Some(coverage) = outcome.coverage.filter(|c| !c.files.is_empty()) {
        let rows = lowest_covered(coverage, usize::MAX)
            .into_iter()
            .map(|f| {
                format!(
                    "| `{}` | {} | {}/{} | {} |",
                    md_escape(&f.file),
                    pct(f.line_percent()),
                    f.lines_covered,
                    f.lines_valid,
                    pct(f.branch_percent())
                )
            })
            .collect();
        sections.push(Section {
            rank: 2,
            head: "### Coverage by file, lowest first\n\n| file | lines | covered | branches |\n|---|---|---|---|\n".into(),
            rows,
            tail: "\n".into(),
        });
    }
    if outcome.pylint.iter().any(|r| !r.messages.is_empty()) {
        let mut messages: Vec<_> = outcome
            .pylint
            .iter()
            .flat_map(|r| r.messages.iter())
            .collect();
        messages.sort_by_key(|m| kind_index(m.kind));
        let rows = messages
            .into_iter()
            .map(|m| {
                format!(
                    "| {:?} | `{}` | {} | {} |",
                    m.kind,
                    md_escape(&location(Some(&m.path), m.line).unwrap_or_default()),
                    md_escape(
                        m.symbol
                            .as_deref()
                            .or(m.message_id.as_deref())
                            .unwrap_or("")
                    ),
                    md_escape(&first_line(&m.message, 200))
                )
            })
            .collect();
        sections.push(Section {
            rank: 3,
            head: "### Pylint messages, worst first\n\n| type | where | symbol | message |\n|---|---|---|---|\n".into(),
            rows,
            tail: "\n".into(),
        });
    }
    if let Some(tests) = outcome.tests {
        let mut rows: Vec<String> = tests
            .flaky
            .iter()
            .map(|t| {
                format!(
                    "| flaky | {} | {} attempts |",
                    md_escape(&test_id(&t.classname, &t.name)),
                    t.attempts
                )
            })
            .collect();
        rows.extend(tests.slowest.iter().map(|t| {
            format!(
                "| slow | {} | {:.3}s |",
                md_escape(&test_id(&t.classname, &t.name)),
                t.time
            )
        }));
        if !rows.is_empty() {
            sections.push(Section {
                rank: 4,
                head: "### Flaky and slowest tests\n\n| | test | |\n|---|---|---|\n".into(),
                rows,
                tail: "\n".into(),
            });
        }
    }
    fit(&mut sections, limit);
    let mut out = String::new();
    for section in &sections {
        out.push_str(&section.head);
        for row in &section.rows {
            out.push_str(row);
            out.push('\n');
        }
        out.push_str(&section.tail);
    }
    if out.len() > limit {
        // Only the head is left and it alone is too large: cut it at a character.
        let mut end = limit;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

fn uncovered_rows(diff: &DiffCoverage) -> Vec<String> {
    diff.uncovered
        .iter()
        .map(|u| {
            format!(
                "| `{}` | {} |",
                md_escape(&u.file),
                line_ranges(&u.lines, 50)
            )
        })
        .collect()
}

/// Drops rows from the least important sections until the whole fits.
fn fit(sections: &mut [Section], limit: usize) {
    let total: usize = sections.iter().map(Section::len).sum();
    if total <= limit {
        return;
    }
    let mut excess = total - limit;
    let mut order: Vec<usize> = (0..sections.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sections[i].rank));
    for i in order {
        if excess == 0 {
            break;
        }
        let section = &mut sections[i];
        if section.rows.is_empty() {
            continue;
        }
        let note_room = 128;
        let mut dropped = 0usize;
        let mut freed = 0usize;
        while let Some(row) = section.rows.last() {
            if freed >= excess + note_room {
                break;
            }
            freed += row.len() + 1;
            section.rows.pop();
            dropped += 1;
        }
        if dropped > 0 {
            let note = format!(
                "\n… {dropped} more row(s) left out to keep the summary under GitHub's size limit.\n"
            );
            freed = freed.saturating_sub(note.len());
            section.tail = format!("{note}{}", section.tail);
            excess = excess.saturating_sub(freed);
        }
    }
}

/// The figures of an earlier gate's JSON document (`--json`, schema
/// [`SCHEMA`]), read back to say what changed since: the base branch's last
/// result, for a pull request.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[non_exhaustive]
pub struct Baseline {
    /// The document's schema.
    pub schema: String,
    /// Its tests, if it had any.
    #[serde(default)]
    pub tests: Option<BaselineTests>,
    /// Its coverage, if it had any.
    #[serde(default)]
    pub coverage: Option<BaselineCoverage>,
    /// Its pylint results, if it had any.
    #[serde(default)]
    pub pylint: Option<BaselinePylint>,
}

/// A baseline's tests.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[non_exhaustive]
pub struct BaselineTests {
    /// Its counts.
    pub counts: crate::junit::Counts,
}

/// A baseline's coverage.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[non_exhaustive]
pub struct BaselineCoverage {
    /// Line coverage, percent.
    #[serde(default)]
    pub line_percent: Option<f64>,
    /// Branch coverage, percent.
    #[serde(default)]
    pub branch_percent: Option<f64>,
}

/// A baseline's pylint results.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[non_exhaustive]
pub struct BaselinePylint {
    /// The lowest score.
    #[serde(default)]
    pub score: Option<f64>,
}

impl Baseline {
    /// Reads a gate JSON document.
    ///
    /// # Errors
    ///
    /// A message (a lowercase fragment) when it is not JSON of the gate's
    /// shape, or of another schema version.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let baseline: Baseline = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a `pipeline-report gate --json` document: {e}"))?;
        if baseline.schema != SCHEMA {
            return Err(format!(
                "its schema is `{}`, not `{SCHEMA}`",
                baseline.schema
            ));
        }
        Ok(baseline)
    }
}

/// What changed since `baseline`, one phrase a figure, as
/// `+3 tests, -1.2 % line coverage`: tests run, failing tests, line and
/// branch coverage (percentage points), the pylint score. Figures that did
/// not change, or that either side lacks, are left out.
pub fn changes(outcome: &GateOutcome<'_>, baseline: &Baseline) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(now), Some(then)) = (outcome.tests, baseline.tests.as_ref()) {
        let delta = now.counts.total as i64 - then.counts.total as i64;
        if delta != 0 {
            out.push(format!(
                "{delta:+} test{}",
                if delta.abs() == 1 { "" } else { "s" }
            ));
        }
        let failing = |c: &crate::junit::Counts| (c.failed + c.errored) as i64;
        let delta = failing(&now.counts) - failing(&then.counts);
        if delta != 0 {
            out.push(format!("{delta:+} failing"));
        }
    }
    if let (Some(now), Some(then)) = (outcome.coverage, baseline.coverage.as_ref()) {
        for (what, now, then) in [
            ("line", now.line_percent(), then.line_percent),
            ("branch", now.branch_percent(), then.branch_percent),
        ] {
            if let (Some(now), Some(then)) = (now, then) {
                let delta = now - then;
                if delta.abs() >= 0.05 {
                    out.push(format!("{delta:+.1} % {what} coverage"));
                }
            }
        }
    }
    let score = pylint_score(outcome.pylint);
    if let (Some(now), Some(then)) = (score, baseline.pylint.as_ref().and_then(|p| p.score)) {
        let delta = now - then;
        if delta.abs() >= 0.005 {
            out.push(format!("{delta:+.2} pylint score"));
        }
    }
    out
}

/// A one-line headline: counts, coverage, the changed lines' coverage, the
/// verdict (a check run's title, a comment's first line).
pub fn headline(outcome: &GateOutcome<'_>) -> String {
    let mut parts = Vec::new();
    if let Some(tests) = outcome.tests {
        let c = &tests.counts;
        parts.push(format!(
            "{} passed, {} failed, {} skipped",
            c.passed,
            c.failed + c.errored,
            c.skipped
        ));
    }
    if let Some(coverage) = outcome.coverage {
        parts.push(format!("lines {}", pct(coverage.line_percent())));
    }
    if let Some(diff) = outcome.diff {
        parts.push(format!("changed lines {}", pct(diff.percent)));
    }
    if let Some(score) = pylint_score(outcome.pylint) {
        parts.push(format!("pylint {score:.2}"));
    }
    let verdict = if outcome.verdict.passed {
        "gate passed"
    } else {
        "gate failed"
    };
    if parts.is_empty() {
        verdict.to_owned()
    } else {
        printable(&format!("{verdict}: {}", parts.join("; "))).into_owned()
    }
}

/// The pull-request comment in Markdown, at most `limit` bytes: the job
/// summary with, under its heading, what changed since `baseline` (when
/// given) as `+3 tests, -1.2 % line coverage`.
pub fn pr_comment(outcome: &GateOutcome<'_>, baseline: Option<&Baseline>, limit: usize) -> String {
    let since = match baseline {
        Some(baseline) => {
            let changes = changes(outcome, baseline);
            if changes.is_empty() {
                "**Since the base branch:** no change in the figures.\n\n".to_owned()
            } else {
                format!("**Since the base branch:** {}\n\n", changes.join(", "))
            }
        }
        None => String::new(),
    };
    let body = markdown(outcome, limit.saturating_sub(since.len()));
    match body.split_once("\n\n") {
        Some((title, rest)) if !since.is_empty() => format!("{title}\n\n{since}{rest}"),
        _ => body,
    }
}

/// An annotation for CI: where, how bad, what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    /// `error`, `warning` or `notice`.
    pub level: NoteLevel,
    /// A short title.
    pub title: String,
    /// The file, workspace-relative.
    pub file: Option<String>,
    /// The line in the file.
    pub line: Option<u32>,
    /// The text.
    pub message: String,
}

/// How bad a [`Note`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoteLevel {
    /// Failing tests, pylint fatal and error messages.
    Error,
    /// Pylint warnings.
    Warning,
    /// Everything else worth a mark.
    Notice,
}

/// Annotations, worst first: failing tests, then pylint fatal and error
/// messages, then pylint warnings.
pub fn annotations(outcome: &GateOutcome<'_>) -> Vec<Note> {
    let mut notes = Vec::new();
    if let Some(tests) = outcome.tests {
        for f in &tests.failures {
            let said = f
                .message
                .as_deref()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or("");
            let mut message = String::from(said);
            let details: String = f.details.lines().take(20).collect::<Vec<_>>().join("\n");
            if !details.is_empty() {
                if !message.is_empty() {
                    message.push('\n');
                }
                message.push_str(&details);
            }
            if message.is_empty() {
                message = format!(
                    "{} {}",
                    test_id(&f.classname, &f.name),
                    if f.outcome == crate::junit::Outcome::Errored {
                        "errored"
                    } else {
                        "failed"
                    }
                );
            }
            notes.push(Note {
                level: NoteLevel::Error,
                title: format!(
                    "{} {}",
                    if f.outcome == crate::junit::Outcome::Errored {
                        "test errored:"
                    } else {
                        "test failed:"
                    },
                    test_id(&f.classname, &f.name)
                ),
                file: f.file.clone(),
                line: f.line,
                message,
            });
        }
    }
    let mut lint: Vec<_> = outcome
        .pylint
        .iter()
        .flat_map(|r| r.messages.iter())
        .filter(|m| {
            matches!(
                m.kind,
                LintKind::Fatal | LintKind::Error | LintKind::Warning
            )
        })
        .collect();
    lint.sort_by_key(|m| kind_index(m.kind));
    for m in lint {
        let level = if matches!(m.kind, LintKind::Fatal | LintKind::Error) {
            NoteLevel::Error
        } else {
            NoteLevel::Warning
        };
        let id = [m.message_id.as_deref(), m.symbol.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        notes.push(Note {
            level,
            title: format!("pylint {id}"),
            file: Some(m.path.clone()),
            line: m.line,
            message: m.message.clone(),
        });
    }
    notes.sort_by_key(|n| n.level);
    for note in &mut notes {
        for text in [&mut note.title, &mut note.message] {
            if let std::borrow::Cow::Owned(safe) = printable(text) {
                *text = safe;
            }
        }
        if let Some(file) = note.file.as_mut() {
            if let std::borrow::Cow::Owned(safe) = printable(file) {
                *file = safe;
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{Inputs, evaluate};
    use crate::junit::{JunitOptions, parse_junit_slice};

    #[test]
    fn the_summary_never_exceeds_its_limit_and_says_what_it_left_out() {
        let mut xml = String::from("<testsuite name=\"s\">");
        for i in 0..300 {
            xml.push_str(&format!(
                "<testcase classname=\"pkg.Ü{i}\" name=\"test_{i}\" time=\"{i}\"><failure message=\"boom é {i}\">trace</failure></testcase>"
            ));
        }
        xml.push_str("</testsuite>");
        let tests = parse_junit_slice(
            xml.as_bytes(),
            std::path::Path::new("t.xml"),
            &JunitOptions::default(),
        )
        .unwrap();
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
        let full = markdown(&outcome, usize::MAX);
        assert!(full.contains("test_299"));
        for limit in (0..2000).step_by(7).chain([5000, 20_000, full.len() - 1]) {
            let cut = markdown(&outcome, limit);
            assert!(cut.len() <= limit, "{limit}: {}", cut.len());
            if limit > 1000 && limit < full.len() {
                assert!(
                    cut.contains("left out to keep the summary under GitHub's size limit"),
                    "{limit}"
                );
                assert!(cut.starts_with("## Report gate: failed"), "{limit}");
            }
        }
    }
}
