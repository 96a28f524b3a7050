//! Cobertura XML coverage, as coverage.py, gcovr, istanbul/nyc, Coverlet,
//! dotnet-coverage, Cobertura 1.9/2.x, gocover-cobertura,
//! simplecov, MATLAB and Swift write it.
//!
//! Coverage is recomputed from the `<line>` elements, per source file: the
//! same line met twice (in a method and in its class, in two classes of one
//! file, in two reports) is one line, covered if any occurrence was hit.
//! The rates in the file's attributes are compared with the recount and a
//! difference is a warning, never trusted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::error::ReportError;
use crate::location;
use crate::xml::{self, Capture, Event, Origin, XmlReader};

/// Options for reading Cobertura reports.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CoberturaOptions {
    /// The workspace that file paths are resolved against and made relative to.
    pub workspace: Option<PathBuf>,
}

impl CoberturaOptions {
    /// Sets the workspace.
    pub fn workspace(mut self, workspace: impl Into<PathBuf>) -> Self {
        self.workspace = Some(workspace.into());
        self
    }
}

/// Sixty-four consecutive lines of one file: which are code, which were run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunk {
    /// Line number / 64.
    index: u32,
    valid: u64,
    covered: u64,
}

/// The branches of one branch line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Branch {
    line: u32,
    covered: u32,
    total: u32,
    /// The arms not taken, when the report says which (coverage.py's
    /// `missing-branches`: the lines they go to, `exit` as -1), sorted.
    missing: Option<Box<[i32]>>,
}

impl Branch {
    /// The branches of a line met twice (two reports, or twice in one):
    /// per arm where that can be told, else the most covered; `true` when
    /// it could not be told (both partly covered, without the arms named).
    fn merge(&mut self, other: &Branch) -> bool {
        if self.total != other.total {
            let ambiguous = self.covered > 0 && other.covered > 0;
            self.total = self.total.max(other.total);
            self.covered = self.covered.max(other.covered);
            self.missing = None;
            return ambiguous;
        }
        let total = self.total;
        if self.covered == total || other.covered == 0 {
            return false;
        }
        if other.covered == total || self.covered == 0 {
            self.covered = other.covered;
            self.missing.clone_from(&other.missing);
            return false;
        }
        match (&self.missing, &other.missing) {
            (Some(mine), Some(theirs)) => {
                // An arm is missed only if every run missed it: coverage.py's
                // `coverage combine` unites the arcs run.
                let both: Box<[i32]> = mine
                    .iter()
                    .copied()
                    .filter(|arm| theirs.binary_search(arm).is_ok())
                    .collect();
                let missed = u32::try_from(both.len()).unwrap_or(u32::MAX);
                self.covered = total
                    .saturating_sub(missed)
                    .max(self.covered)
                    .max(other.covered);
                self.missing = Some(both);
                false
            }
            _ => {
                self.covered = self.covered.max(other.covered);
                self.missing = None;
                true
            }
        }
    }
}

/// The lines of one source file: which are code, which were run, and the
/// branches of each branch line. Lines are kept as 64-line chunks sorted by
/// number, so memory follows the lines listed, not the highest line number.
#[derive(Debug, Clone, Default, PartialEq)]
struct Lines {
    chunks: Vec<Chunk>,
    /// The branch lines, in the order met; the same line may repeat until
    /// [`Lines::normalize`] merges them.
    branches: Vec<Branch>,
}

impl Lines {
    fn add(&mut self, number: u32, hit: bool) {
        let index = number / 64;
        let bit = 1u64 << (number % 64);
        let covered = if hit { bit } else { 0 };
        // Reports list lines in order: the last chunk is the usual place.
        let at = match self.chunks.last() {
            Some(last) if last.index == index => self.chunks.len() - 1,
            Some(last) if last.index < index => {
                self.chunks.push(Chunk {
                    index,
                    valid: 0,
                    covered: 0,
                });
                self.chunks.len() - 1
            }
            None => {
                self.chunks.push(Chunk {
                    index,
                    valid: 0,
                    covered: 0,
                });
                0
            }
            Some(_) => match self.chunks.binary_search_by_key(&index, |c| c.index) {
                Ok(at) => at,
                Err(at) => {
                    self.chunks.insert(
                        at,
                        Chunk {
                            index,
                            valid: 0,
                            covered: 0,
                        },
                    );
                    at
                }
            },
        };
        self.chunks[at].valid |= bit;
        self.chunks[at].covered |= covered;
    }

    fn add_line(&mut self, line: LineData) {
        self.add(line.number, line.hit);
        if let Some((covered, total)) = line.branches {
            let missing = if covered >= total {
                Some(Box::default())
            } else {
                line.missing
            };
            self.branches.push(Branch {
                line: line.number,
                covered: covered.min(total),
                total,
                missing,
            });
        }
    }

    /// Merges the branch entries of a line met several times, per arm
    /// where the reports name the arms missed ([`Branch::merge`]); returns
    /// how many merges could not tell the arms apart.
    fn normalize(&mut self) -> u64 {
        if self.branches.windows(2).all(|w| w[0].line < w[1].line) {
            return 0;
        }
        self.branches.sort_unstable_by_key(|b| b.line);
        let mut ambiguous = 0;
        self.branches.dedup_by(|later, kept| {
            if later.line == kept.line {
                ambiguous += u64::from(kept.merge(later));
                true
            } else {
                false
            }
        });
        self.branches.shrink_to_fit();
        ambiguous
    }

    fn union(&mut self, other: &Lines) -> u64 {
        let (mine, theirs) = (&self.chunks, &other.chunks);
        let mut merged = Vec::with_capacity(mine.len().max(theirs.len()));
        let (mut i, mut j) = (0, 0);
        while i < mine.len() || j < theirs.len() {
            match (mine.get(i), theirs.get(j)) {
                (Some(x), Some(y)) if x.index == y.index => {
                    merged.push(Chunk {
                        index: x.index,
                        valid: x.valid | y.valid,
                        covered: x.covered | y.covered,
                    });
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x.index < y.index => {
                    merged.push(*x);
                    i += 1;
                }
                (Some(x), None) => {
                    merged.push(*x);
                    i += 1;
                }
                (_, Some(y)) => {
                    merged.push(*y);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        self.chunks = merged;
        self.branches.extend_from_slice(&other.branches);
        self.normalize()
    }

    /// Whether line `number` is code (`Some`) and was run (`Some(true)`).
    fn status(&self, number: u32) -> Option<bool> {
        let index = number / 64;
        let bit = 1u64 << (number % 64);
        let at = self.chunks.binary_search_by_key(&index, |c| c.index).ok()?;
        let chunk = &self.chunks[at];
        (chunk.valid & bit != 0).then_some(chunk.covered & bit != 0)
    }

    fn totals(&self) -> FileCoverage {
        let (valid, covered) = self.chunks.iter().fold((0u64, 0u64), |(v, c), chunk| {
            (
                v + u64::from(chunk.valid.count_ones()),
                c + u64::from(chunk.covered.count_ones()),
            )
        });
        let (bc, bt) = self.branches.iter().fold((0u64, 0u64), |(c, t), b| {
            (c + u64::from(b.covered), t + u64::from(b.total))
        });
        FileCoverage {
            file: String::new(),
            lines_valid: valid,
            lines_covered: covered,
            branches_valid: bt,
            branches_covered: bc,
        }
    }
}

/// Coverage of one source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCoverage {
    /// The file, resolved against the report's sources and the workspace,
    /// relative to the workspace when inside it.
    pub file: String,
    /// Lines of code.
    pub lines_valid: u64,
    /// Lines of code run at least once.
    pub lines_covered: u64,
    /// Branches (outcomes of conditions) found.
    pub branches_valid: u64,
    /// Branches taken at least once.
    pub branches_covered: u64,
}

impl FileCoverage {
    /// Line coverage in percent; `None` for a file without lines.
    pub fn line_percent(&self) -> Option<f64> {
        percent(self.lines_covered, self.lines_valid)
    }

    /// Branch coverage in percent; `None` for a file without branches.
    pub fn branch_percent(&self) -> Option<f64> {
        percent(self.branches_covered, self.branches_valid)
    }
}

fn percent(covered: u64, valid: u64) -> Option<f64> {
    (valid > 0).then(|| covered as f64 * 100.0 / valid as f64)
}

/// What one or several Cobertura files say, merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CoverageReport {
    /// The report files read.
    pub reports: Vec<String>,
    /// Lines of code, over all files.
    pub lines_valid: u64,
    /// Lines run at least once.
    pub lines_covered: u64,
    /// Branches found.
    pub branches_valid: u64,
    /// Branches taken.
    pub branches_covered: u64,
    /// Per source file, sorted by path.
    pub files: Vec<FileCoverage>,
    /// Disagreements between the file's own totals and the recount, and
    /// data that could not be used.
    pub warnings: Vec<String>,
    #[serde(skip)]
    lines: BTreeMap<String, Lines>,
}

impl CoverageReport {
    /// Line coverage in percent; `None` when there are no lines at all.
    pub fn line_percent(&self) -> Option<f64> {
        percent(self.lines_covered, self.lines_valid)
    }

    /// Branch coverage in percent; `None` when no report carries branch data.
    pub fn branch_percent(&self) -> Option<f64> {
        percent(self.branches_covered, self.branches_valid)
    }

    /// Whether line `line` of `file` (a path as in [`CoverageReport::files`])
    /// is code (`Some`) and was run (`Some(true)`); `None` for a line
    /// that is not code or a file the reports do not list.
    pub fn line_status(&self, file: &str, line: u32) -> Option<bool> {
        self.lines.get(file)?.status(line)
    }

    /// Adds another report: a line covered in either is covered; a branch
    /// line's arms are merged one by one where the reports say which arms
    /// were missed (coverage.py's `missing-branches`), as `coverage combine`
    /// does, else the line counts as covered as in the report that covers
    /// it most (a lower bound, and a warning says how many lines).
    pub fn merge(&mut self, other: CoverageReport) {
        self.reports.extend(other.reports);
        self.warnings.extend(other.warnings);
        let mut ambiguous = 0;
        for (file, lines) in other.lines {
            match self.lines.get_mut(&file) {
                Some(mine) => ambiguous += mine.union(&lines),
                None => {
                    self.lines.insert(file, lines);
                }
            }
        }
        if ambiguous > 0 {
            self.warnings.push(format!(
                "{ambiguous} branch line(s) are partly covered in several reports that do not say which branches were missed (no missing-branches); each counts as covered as in the report that covers it most, a lower bound"
            ));
        }
        self.recompute();
    }

    fn recompute(&mut self) {
        self.files = self
            .lines
            .iter()
            .map(|(file, lines)| FileCoverage {
                file: file.clone(),
                ..lines.totals()
            })
            .collect();
        self.lines_valid = self.files.iter().map(|f| f.lines_valid).sum();
        self.lines_covered = self.files.iter().map(|f| f.lines_covered).sum();
        self.branches_valid = self.files.iter().map(|f| f.branches_valid).sum();
        self.branches_covered = self.files.iter().map(|f| f.branches_covered).sum();
    }
}

/// Reads a Cobertura XML file.
pub fn parse_cobertura_file(
    path: &Path,
    options: &CoberturaOptions,
) -> Result<CoverageReport, ReportError> {
    let source = xml::file_source(path).map_err(|e| ReportError::io(path, e))?;
    parse(source, Origin::File(path.to_path_buf()), options)
}

/// Reads Cobertura XML held in memory; `name` stands for the file in messages.
pub fn parse_cobertura_slice(
    bytes: &[u8],
    name: &Path,
    options: &CoberturaOptions,
) -> Result<CoverageReport, ReportError> {
    let origin = Origin::Bytes {
        name: name.to_path_buf(),
        bytes,
    };
    parse(xml::ReadSource(bytes), origin, options)
}

#[derive(Debug, Default)]
struct Declared {
    line_rate: Option<f64>,
    branch_rate: Option<f64>,
    lines_valid: Option<f64>,
    lines_covered: Option<f64>,
}

#[derive(Debug, Default)]
struct Class {
    depth: usize,
    filename: String,
    has_own_lines: bool,
    lines: Lines,
    /// Lines listed under `<methods>`: counted only when the class lists none.
    method_lines: Lines,
}

fn parse<S: xml::Source>(
    input: S,
    origin: Origin<'_>,
    options: &CoberturaOptions,
) -> Result<CoverageReport, ReportError> {
    let mut xml = XmlReader::new(input, origin)?;
    let report_name = xml.origin().path().to_string_lossy().into_owned();
    let mut declared = Declared::default();
    let mut sources: Vec<String> = Vec::new();
    let mut source = Capture::new(4096);
    let mut in_source = 0usize;
    let mut class: Option<Class> = None;
    let mut method_depth = 0usize;
    let mut files: FxHashMap<String, Lines> = FxHashMap::default();
    let mut depth = 0usize;
    let mut unmeasured_branches = 0u64;
    let mut root = true;
    loop {
        let capture = (in_source > 0).then_some(&mut source);
        match xml.next(capture)? {
            Event::Start { tag } => {
                depth += 1;
                let name = xml::local_name(&tag);
                if root {
                    root = false;
                    if let Err(message) = check_root(name) {
                        drop(tag);
                        return Err(ReportError::format(xml.origin().path(), message));
                    }
                }
                let result = match name {
                    "coverage" if depth == 1 => read_declared(&tag, &mut declared),
                    "source" => {
                        in_source = depth;
                        source.clear();
                        Ok(())
                    }
                    "class" if class.is_none() => {
                        let mut filename = None;
                        let mut class_name = None;
                        xml::for_each_attr(&tag, |key, value| match key {
                            b"filename" => filename = Some(xml::attr_str(value).into_owned()),
                            b"name" => class_name = Some(xml::attr_str(value).into_owned()),
                            _ => {}
                        })
                        .map(|()| {
                            class = Some(Class {
                                depth,
                                filename: filename.or(class_name).unwrap_or_default(),
                                ..Class::default()
                            });
                        })
                    }
                    "method" if class.is_some() && method_depth == 0 => {
                        method_depth = depth;
                        Ok(())
                    }
                    "line" => match class.as_mut() {
                        Some(class) => read_line(&tag).map(|line| {
                            if line.unmeasured {
                                unmeasured_branches += 1;
                            }
                            if method_depth > 0 {
                                class.method_lines.add_line(line);
                            } else {
                                class.has_own_lines = true;
                                class.lines.add_line(line);
                            }
                        }),
                        None => Ok(()),
                    },
                    _ => Ok(()),
                };
                drop(tag);
                if let Err(message) = result {
                    return Err(xml.error_here(message));
                }
            }
            Event::End => {
                if in_source == depth {
                    in_source = 0;
                    let text = source.text();
                    let text = text.trim();
                    if !text.is_empty() {
                        sources.push(text.to_owned());
                    }
                }
                if method_depth == depth {
                    method_depth = 0;
                }
                if class.as_ref().is_some_and(|c| c.depth == depth) {
                    if let Some(mut done) = class.take() {
                        // Method lines repeat the class's lines; they count
                        // only for a class that lists no lines of its own.
                        if !done.has_own_lines {
                            done.lines = std::mem::take(&mut done.method_lines);
                        }
                        done.lines.normalize();
                        match files.get_mut(&done.filename) {
                            Some(lines) => {
                                lines.union(&done.lines);
                            }
                            None => {
                                files.insert(done.filename, done.lines);
                            }
                        }
                    }
                }
                depth -= 1;
            }
            Event::Eof => break,
        }
    }

    let mut report = CoverageReport {
        reports: vec![report_name.clone()],
        ..CoverageReport::default()
    };
    let workspace = options.workspace.as_deref();
    let resolver = Resolver::new(&sources, workspace);
    for (filename, lines) in files {
        let resolved = resolver.resolve(&filename);
        match report.lines.get_mut(&resolved) {
            Some(existing) => {
                existing.union(&lines);
            }
            None => {
                report.lines.insert(resolved, lines);
            }
        }
    }
    report.recompute();
    if unmeasured_branches > 0 {
        report.warnings.push(format!(
            "{report_name}: {unmeasured_branches} branch line(s) carry no condition-coverage; their branches are not counted"
        ));
    }
    compare_declared(&report_name, &declared, &mut report);
    Ok(report)
}

fn check_root(name: &str) -> Result<(), String> {
    match name {
        "coverage" => Ok(()),
        "testsuites" | "testsuite" => Err(format!(
            "this looks like a JUnit test report (root element <{name}>), not Cobertura XML; pass it with --junit"
        )),
        "report" => Err("the root element is <report>, a JaCoCo report, not Cobertura XML; convert it (e.g. with cover2cover) first".into()),
        other => Err(format!("the root element is <{other}>; Cobertura XML starts with <coverage>")),
    }
}

fn read_declared(tag: &xml::Tag<'_>, declared: &mut Declared) -> Result<(), String> {
    xml::for_each_attr(tag, |key, value| {
        let number = value.trim().parse::<f64>().ok().filter(|v| v.is_finite());
        match key {
            b"line-rate" | b"lineRate" => declared.line_rate = number,
            b"branch-rate" | b"branchRate" => declared.branch_rate = number,
            b"lines-valid" | b"linesValid" => declared.lines_valid = number,
            b"lines-covered" | b"linesCovered" => declared.lines_covered = number,
            _ => {}
        }
    })
}

/// A `<line>` element, read.
#[derive(Debug, Clone)]
struct LineData {
    number: u32,
    hit: bool,
    /// Branches (covered, total), for a branch line that says.
    branches: Option<(u32, u32)>,
    /// The arms missed, sorted, for a report that names them.
    missing: Option<Box<[i32]>>,
    /// A branch line that does not say how many branches it has.
    unmeasured: bool,
}

fn read_line(tag: &xml::Tag<'_>) -> Result<LineData, String> {
    let mut number = None;
    let mut hits = None;
    let mut branch = false;
    let mut condition = None;
    let mut missing = None;
    let mut bad_number = None;
    xml::for_each_attr(tag, |key, value| match key {
        b"number" => match parse_number(&value) {
            Some(n) => number = Some(n),
            None => bad_number = Some(value.into_owned()),
        },
        b"hits" => hits = Some(value.trim().parse::<f64>().is_ok_and(|h| h > 0.0)),
        b"branch" => branch = value.trim().eq_ignore_ascii_case("true"),
        b"condition-coverage" => condition = parse_condition(&value),
        b"missing-branches" => missing = parse_arms(&value),
        _ => {}
    })?;
    if let Some(bad) = bad_number {
        return Err(format!("<line number=\"{bad}\"> is not a line number"));
    }
    let Some(number) = number else {
        return Err("<line> without a number attribute".into());
    };
    let branches = if branch { condition } else { None };
    let unmeasured = branch && condition.is_none();
    let missing = missing.filter(|_| branches.is_some());
    Ok(LineData {
        number,
        hit: hits.unwrap_or(false),
        branches,
        missing,
        unmeasured,
    })
}

/// coverage.py's `missing-branches`: `19,20`, `exit`, `28,exit` (the lines
/// the missed arms go to; `exit` leaves the function).
fn parse_arms(value: &str) -> Option<Box<[i32]>> {
    let mut arms = value
        .split(',')
        .map(|arm| match arm.trim() {
            "exit" => Some(-1),
            arm => arm.parse::<i32>().ok(),
        })
        .collect::<Option<Vec<i32>>>()?;
    arms.sort_unstable();
    arms.dedup();
    Some(arms.into_boxed_slice())
}

fn parse_number(value: &str) -> Option<u32> {
    let value = value.trim();
    value.parse::<u32>().ok().or_else(|| {
        value
            .parse::<f64>()
            .ok()
            .filter(|v| v.fract() == 0.0 && *v >= 0.0 && *v <= f64::from(u32::MAX))
            .map(|v| v as u32)
    })
}

/// `50% (1/2)` → (1, 2).
fn parse_condition(value: &str) -> Option<(u32, u32)> {
    let open = value.find('(')?;
    let close = value[open..].find(')')? + open;
    let (covered, total) = value[open + 1..close].split_once('/')?;
    let covered = parse_number(covered)?;
    let total = parse_number(total)?;
    Some((covered.min(total), total))
}

fn compare_declared(report_name: &str, declared: &Declared, report: &mut CoverageReport) {
    let recount_rate = report.line_percent().map(|p| p / 100.0);
    if let (Some(declared), Some(actual)) = (declared.line_rate, recount_rate) {
        if (declared - actual).abs() > 0.005 {
            report.warnings.push(format!(
                "{report_name}: the report says line-rate=\"{declared}\" but its lines give {actual:.4}; the recount is used"
            ));
        }
    }
    if let Some(valid) = declared.lines_valid {
        if valid as u64 != report.lines_valid && valid > 0.0 {
            report.warnings.push(format!(
                "{report_name}: the report says lines-valid=\"{valid}\" but lists {} distinct lines; the recount is used",
                report.lines_valid
            ));
        }
    }
    let recount_branch = report.branch_percent().map(|p| p / 100.0);
    if let (Some(declared), Some(actual)) = (declared.branch_rate, recount_branch) {
        if (declared - actual).abs() > 0.005 {
            report.warnings.push(format!(
                "{report_name}: the report says branch-rate=\"{declared}\" but its lines give {actual:.4}; the recount is used"
            ));
        }
    }
}

/// Finds the real file behind a report's `filename`, trying each `<source>`.
#[derive(Debug)]
struct Resolver<'a> {
    sources: Vec<String>,
    workspace: Option<&'a Path>,
}

impl<'a> Resolver<'a> {
    fn new(sources: &[String], workspace: Option<&'a Path>) -> Self {
        // A source that is not on this machine (the report was written in a
        // container, or on another runner) may still be here under the
        // workspace: its longest tail that is a folder of the workspace.
        let sources = sources
            .iter()
            .filter_map(|source| {
                let path = Path::new(source.as_str());
                if Self::on_disk(workspace, path).is_dir() {
                    return Some(source.clone());
                }
                let ws = workspace?;
                let parts: Vec<_> = path
                    .components()
                    .filter(|c| matches!(c, std::path::Component::Normal(_)))
                    .collect();
                (0..parts.len()).find_map(|skip| {
                    let tail: PathBuf = parts[skip..].iter().collect();
                    ws.join(&tail)
                        .is_dir()
                        .then(|| tail.to_string_lossy().into_owned())
                })
            })
            .collect();
        Resolver { sources, workspace }
    }

    fn on_disk(workspace: Option<&Path>, path: &Path) -> PathBuf {
        match workspace {
            Some(ws) if path.is_relative() => ws.join(path),
            _ => path.to_path_buf(),
        }
    }

    fn resolve(&self, filename: &str) -> String {
        let normalized = if filename.contains('\\') && !filename.contains('/') {
            filename.replace('\\', "/")
        } else {
            filename.to_owned()
        };
        // A file inside the workspace wins over one elsewhere on the machine
        // (an old checkout at the path the report was written in, say).
        let mut elsewhere = None;
        for source in &self.sources {
            let candidate = location::join(source, &normalized);
            if Self::on_disk(self.workspace, &candidate).is_file() {
                let shown = location::relative_to(&candidate.to_string_lossy(), self.workspace);
                if Path::new(&shown).is_relative() {
                    return shown;
                }
                elsewhere.get_or_insert(shown);
            }
        }
        if let Some(ws) = self.workspace {
            if Path::new(&normalized).is_relative() && ws.join(&normalized).is_file() {
                return normalized;
            }
        }
        if let Some(shown) = elsewhere {
            return shown;
        }
        location::relative_to(&normalized, self.workspace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(xml: &str) -> CoverageReport {
        parse_cobertura_slice(
            xml.as_bytes(),
            Path::new("c.xml"),
            &CoberturaOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn lines_are_merged_per_file_and_method_lines_count_once() {
        let report = parse_str(
            r#"<coverage line-rate="0.5"><packages><package><classes>
              <class filename="a.py"><methods><method><lines><line number="1" hits="1"/></lines></method></methods>
                <lines><line number="1" hits="1"/><line number="2" hits="0" branch="true" condition-coverage="50% (1/2)"/></lines></class>
              <class filename="a.py"><lines><line number="2" hits="3"/><line number="3" hits="0"/></lines></class>
              <class filename="b.js"><methods><method><lines><line number="7" hits="0"/></lines></method></methods></class>
            </classes></package></packages></coverage>"#,
        );
        assert_eq!(report.files.len(), 2);
        assert_eq!(report.files[0].file, "a.py");
        assert_eq!(
            (report.files[0].lines_covered, report.files[0].lines_valid),
            (2, 3)
        );
        assert_eq!(
            (
                report.files[0].branches_covered,
                report.files[0].branches_valid
            ),
            (1, 2)
        );
        assert_eq!(
            (report.files[1].lines_covered, report.files[1].lines_valid),
            (0, 1)
        );
        assert_eq!((report.lines_covered, report.lines_valid), (2, 4));
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    }

    #[test]
    fn conditions_and_numbers_are_read_leniently() {
        assert_eq!(parse_condition("50% (1/2)"), Some((1, 2)));
        assert_eq!(parse_condition("100% (2.0/2.0)"), Some((2, 2)));
        assert_eq!(parse_condition("NaN"), None);
        assert_eq!(parse_number("12"), Some(12));
        assert_eq!(parse_number("12.0"), Some(12));
        assert_eq!(parse_number("x"), None);
    }

    #[test]
    fn a_junit_file_is_named_as_such() {
        let err = parse_cobertura_slice(
            b"<testsuites/>",
            Path::new("c.xml"),
            &CoberturaOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("looks like a JUnit test report"), "{err}");
    }
}
