//! JUnit XML, in every dialect real test runners write.
//!
//! The reader streams: it keeps counts, a bounded list of failures with
//! their (bounded) output, the flaky tests, the slowest tests and warnings,
//! never the whole set of testcases, so memory does not grow with the file.
//!
//! Counts are recomputed from the `<testcase>` elements. What a suite's
//! attributes claim is compared with that and reported as a warning when it
//! differs, never trusted.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use rustc_hash::{FxHashMap, FxHasher};
use serde::Serialize;

use crate::error::ReportError;
use crate::location::{self, Location, Scanner};
use crate::xml::{self, Capture, Event, Origin, Tap, XmlReader};

/// How much of a report to keep.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JunitOptions {
    /// Bytes kept of each failing test's message body, standard output and
    /// standard error (each). The rest is counted, not kept.
    pub max_output_bytes: usize,
    /// Failing tests kept with their details; the others are only counted.
    pub max_failures: usize,
    /// Flaky tests kept by name.
    pub max_flaky: usize,
    /// How many of the slowest tests to keep.
    pub slowest: usize,
    /// Warnings kept per report.
    pub max_warnings: usize,
    /// The workspace that failure locations are made relative to.
    pub workspace: Option<PathBuf>,
}

impl Default for JunitOptions {
    fn default() -> Self {
        JunitOptions {
            max_output_bytes: 16 * 1024,
            max_failures: 500,
            max_flaky: 500,
            slowest: 10,
            max_warnings: 50,
            workspace: None,
        }
    }
}

impl JunitOptions {
    /// Sets the workspace that failure locations are made relative to.
    pub fn workspace(mut self, workspace: impl Into<PathBuf>) -> Self {
        self.workspace = Some(workspace.into());
        self
    }

    /// Sets the bytes kept per failing test for each of message body, stdout and stderr.
    pub fn max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// Sets how many failing tests are kept with details.
    pub fn max_failures(mut self, count: usize) -> Self {
        self.max_failures = count;
        self
    }
}

/// Test counts. `passed` includes the flaky tests (passed after a retry);
/// `total = passed + failed + errored + skipped`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    /// Tests, each counted once whatever its retries.
    pub total: u64,
    /// Tests that passed, on the first attempt or after retries.
    pub passed: u64,
    /// Tests whose assertion failed (`<failure>`).
    pub failed: u64,
    /// Tests that errored (`<error>`): an exception outside an assertion, a crash.
    pub errored: u64,
    /// Tests skipped, disabled or not run.
    pub skipped: u64,
    /// Tests that failed at least once and then passed.
    pub flaky: u64,
}

impl Counts {
    fn add(&mut self, outcome: Outcome, sign: i64) {
        let field = match outcome {
            Outcome::Passed => &mut self.passed,
            Outcome::Failed => &mut self.failed,
            Outcome::Errored => &mut self.errored,
            Outcome::Skipped => &mut self.skipped,
            Outcome::Flaky => {
                self.flaky = self.flaky.wrapping_add_signed(sign);
                &mut self.passed
            }
        };
        *field = field.wrapping_add_signed(sign);
    }

    fn merge(&mut self, other: &Counts) {
        self.total += other.total;
        self.passed += other.passed;
        self.failed += other.failed;
        self.errored += other.errored;
        self.skipped += other.skipped;
        self.flaky += other.flaky;
    }
}

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Outcome {
    /// Passed on the first attempt.
    Passed,
    /// An assertion failed.
    Failed,
    /// An error other than an assertion.
    Errored,
    /// Skipped, disabled or not run.
    Skipped,
    /// Failed, then passed on a retry.
    Flaky,
}

impl Outcome {
    fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Errored)
    }

    fn has_pass(self) -> bool {
        matches!(self, Outcome::Passed | Outcome::Flaky)
    }
}

/// A failing (or erroring) test, with what it said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestFailure {
    /// The report file it came from.
    pub report: String,
    /// The innermost suite holding it.
    pub suite: String,
    /// The testcase's `classname` (or `class`), possibly empty.
    pub classname: String,
    /// The testcase's `name`.
    pub name: String,
    /// `failed` or `errored`.
    pub outcome: Outcome,
    /// The failure's `message` attribute.
    pub message: Option<String>,
    /// The failure's `type` attribute.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The failure's text (stack trace, assertion diff), bounded.
    pub details: String,
    /// The test's captured standard output, bounded.
    pub stdout: Option<String>,
    /// The test's captured standard error, bounded.
    pub stderr: Option<String>,
    /// Whether any of the texts above was cut at the bound.
    pub truncated: bool,
    /// The source file, relative to the workspace when inside it.
    pub file: Option<String>,
    /// The line in `file`.
    pub line: Option<u32>,
    /// Seconds the (last) attempt took.
    pub time: Option<f64>,
    /// Attempts made, retries included.
    pub attempts: u32,
}

/// A test that failed and then passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlakyTest {
    /// The report file it came from.
    pub report: String,
    /// The innermost suite holding it.
    pub suite: String,
    /// The testcase's class name.
    pub classname: String,
    /// The testcase's name.
    pub name: String,
    /// Attempts made, the passing one included.
    pub attempts: u32,
}

/// A test and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestTime {
    /// The testcase's class name.
    pub classname: String,
    /// The testcase's name.
    pub name: String,
    /// Seconds.
    pub time: f64,
}

/// What one or several JUnit files say, merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JunitReport {
    /// The files read.
    pub files: Vec<String>,
    /// The counts, recomputed from the testcases.
    pub counts: Counts,
    /// Suites that hold testcases.
    pub suites: u64,
    /// Sum of the testcases' times, in seconds.
    pub time: f64,
    /// Failing tests, in the order met, up to the configured bound.
    pub failures: Vec<TestFailure>,
    /// Failing tests counted but not kept because of the bound.
    pub failures_omitted: u64,
    /// Flaky tests, up to the configured bound.
    pub flaky: Vec<FlakyTest>,
    /// The slowest tests, slowest first.
    pub slowest: Vec<TestTime>,
    /// Things a reader should know: counts that disagree with the suite's
    /// attributes, odd times, retries recognised.
    pub warnings: Vec<String>,
    /// Warnings not kept because of the bound.
    pub warnings_omitted: u64,
}

impl JunitReport {
    /// Adds another report's results to this one, keeping the bounds.
    pub fn merge(&mut self, other: JunitReport, options: &JunitOptions) {
        self.files.extend(other.files);
        self.counts.merge(&other.counts);
        self.suites += other.suites;
        self.time += other.time;
        self.failures_omitted += other.failures_omitted;
        for failure in other.failures {
            if self.failures.len() < options.max_failures {
                self.failures.push(failure);
            } else {
                self.failures_omitted += 1;
            }
        }
        let room = options.max_flaky.saturating_sub(self.flaky.len());
        self.flaky.extend(other.flaky.into_iter().take(room));
        self.slowest.extend(other.slowest);
        self.slowest.sort_by(|a, b| {
            b.time
                .total_cmp(&a.time)
                .then_with(|| (&a.classname, &a.name).cmp(&(&b.classname, &b.name)))
        });
        self.slowest.truncate(options.slowest);
        self.warnings_omitted += other.warnings_omitted;
        for warning in other.warnings {
            if self.warnings.len() < options.max_warnings {
                self.warnings.push(warning);
            } else {
                self.warnings_omitted += 1;
            }
        }
    }
}

/// Reads a JUnit XML file.
pub fn parse_junit_file(path: &Path, options: &JunitOptions) -> Result<JunitReport, ReportError> {
    let source = xml::file_source(path).map_err(|e| ReportError::io(path, e))?;
    parse(source, Origin::File(path.to_path_buf()), options)
}

/// Reads JUnit XML held in memory; `name` stands for the file in messages.
pub fn parse_junit_slice(
    bytes: &[u8],
    name: &Path,
    options: &JunitOptions,
) -> Result<JunitReport, ReportError> {
    let origin = Origin::Bytes {
        name: name.to_path_buf(),
        bytes,
    };
    parse(xml::ReadSource(bytes), origin, options)
}

/// Beyond this many failed testcases in the open suites, retries are
/// recognised only among the tests already remembered (a memory bound).
const MAX_TRACKED: usize = 250_000;

/// The most bytes kept of a test's name or class name.
const MAX_NAME: usize = 4096;

/// A time above this many seconds (about four months) cannot be one test's;
/// such integers are nanoseconds (container-structure-test writes those).
const NANOSECONDS_THRESHOLD: f64 = 1e7;

fn parse<S: xml::Source>(
    input: S,
    origin: Origin<'_>,
    options: &JunitOptions,
) -> Result<JunitReport, ReportError> {
    let mut xml = XmlReader::new(input, origin)?;
    let report_name = xml.origin().path().to_string_lossy().into_owned();
    let mut parser = Parser::new(options, report_name);
    let mut root = true;
    loop {
        let capture = parser.capture_target();
        match xml.next(capture)? {
            Event::Start { tag } => {
                let name = xml::local_name(&tag);
                if root {
                    root = false;
                    if let Err(message) = check_root(name) {
                        drop(tag);
                        return Err(ReportError::format(xml.origin().path(), message));
                    }
                }
                let result = parser.start(name, &tag);
                drop(tag);
                if let Err(message) = result {
                    return Err(xml.error_here(message));
                }
            }
            Event::End => parser.end(),
            Event::Eof => break,
        }
    }
    Ok(parser.finish())
}

fn check_root(name: &str) -> Result<(), String> {
    match name {
        "testsuites" | "testsuite" => Ok(()),
        "coverage" => Err("this looks like a Cobertura coverage report (root element <coverage>), not JUnit XML; pass it with --cobertura".into()),
        "testrun" | "test-run" | "assemblies" => Err(format!(
            "the root element is <{name}>, an NUnit/xUnit.net report, not JUnit XML; have the runner write JUnit XML"
        )),
        other => Err(format!(
            "the root element is <{other}>; JUnit XML starts with <testsuites> or <testsuite>"
        )),
    }
}

/// What the text being read belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Other,
    /// `<failure>`/`<error>` of the current test: its body is the details.
    FailureBody,
    /// A test's `<system-out>` / `<system-err>`.
    Stdout,
    Stderr,
}

/// A suite's declared counts, compared with the recount at its end.
#[derive(Debug, Default)]
struct Declared {
    tests: Option<u64>,
    failures: Option<u64>,
    errors: Option<u64>,
    skipped: Option<u64>,
}

/// Counts of `<testcase>` elements as written, before retries are merged:
/// what a suite's attributes are supposed to say.
#[derive(Debug, Default, Clone, Copy)]
struct Raw {
    tests: u64,
    failures: u64,
    errors: u64,
    skipped: u64,
}

#[derive(Debug)]
struct SuiteFrame {
    name: String,
    declared: Declared,
    raw_at_start: Raw,
    has_cases: bool,
    /// Failed testcases of this suite, by identity, to recognise retries
    /// written as repeated testcases.
    seen: FxHashMap<u64, Slot>,
    depth: usize,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    outcome: Outcome,
    attempts: u32,
    failure: Option<usize>,
}

#[derive(Debug, Default)]
struct Case {
    /// Depth of the `<testcase>` element (or of the suite-level `<failure>`).
    depth: usize,
    name: String,
    classname: String,
    /// The `file` attribute as written (escaped); empty when there is none.
    file: String,
    line: Option<u32>,
    time: Option<f64>,
    status: Option<Outcome>,
    status_skipped: bool,
    error: bool,
    failure: bool,
    skipped: bool,
    flaky_attempts: u32,
    rerun_attempts: u32,
    message: Option<String>,
    kind: Option<String>,
    failure_file: Option<String>,
    failure_line: Option<u32>,
    /// Where the whole `message` attribute points, when it was longer than
    /// the part kept.
    message_location: Option<Location>,
    /// Bodies of `<failure>`/`<error>` elements read so far.
    bodies: u32,
    /// A `<failure>`/`<error>` outside any testcase, made a test of its own.
    synthetic: bool,
}

impl Case {
    /// Empties the case for the next testcase, keeping its allocations.
    fn reset(&mut self, depth: usize) {
        self.depth = depth;
        self.name.clear();
        self.classname.clear();
        self.file.clear();
        self.line = None;
        self.time = None;
        self.status = None;
        self.status_skipped = false;
        self.error = false;
        self.failure = false;
        self.skipped = false;
        self.flaky_attempts = 0;
        self.rerun_attempts = 0;
        self.message = None;
        self.kind = None;
        self.failure_file = None;
        self.failure_line = None;
        self.message_location = None;
        self.bodies = 0;
        self.synthetic = false;
    }
}

#[derive(Debug)]
struct Parser<'o> {
    options: &'o JunitOptions,
    report: JunitReport,
    report_name: String,
    suites: Vec<SuiteFrame>,
    spare_maps: Vec<FxHashMap<u64, Slot>>,
    /// The testcase being read; boxed, so that handing it around moves a pointer.
    case: Option<Box<Case>>,
    /// The last testcase's strings, kept for their allocations.
    spare_case: Option<Box<Case>>,
    depth: usize,
    context: Context,
    context_depth: usize,
    body: Capture,
    stdout: Capture,
    stderr: Capture,
    raw: Raw,
    failures: Vec<Option<TestFailure>>,
    /// Slots of `failures` emptied by a retry that passed, to be reused.
    free_failures: Vec<usize>,
    failures_kept: usize,
    /// Testcases remembered in the open suites' `seen` maps.
    tracked: usize,
    flaky: Vec<Option<FlakyTest>>,
    flaky_kept: usize,
    slowest: BinaryHeap<Reverse<TimedName>>,
    warned_negative: bool,
    warned_nanoseconds: bool,
    warned_placeholder: bool,
    warned_untracked: bool,
    retries_merged: u64,
    /// Whether the report is pytest's (suite `pytest`, root `pytest tests`):
    /// its `line` attributes are 0-based, and pytest-rerunfailures writes
    /// each failed attempt as an empty testcase before the next one.
    pytest: bool,
    /// pytest's last passed testcase, not counted yet when `held`: the next
    /// testcase may repeat it, which makes it a failed attempt. Its strings
    /// are kept for their allocations when it is not held.
    pending: Pending,
    /// Whether `pending` holds a testcase.
    held: bool,
}

/// A pytest testcase that passed, held until the next testcase shows
/// whether it was a rerun's failed attempt.
#[derive(Debug, Default)]
struct Pending {
    name: String,
    classname: String,
    file: String,
    line: Option<u32>,
    /// Attempts so far, this one included.
    attempts: u32,
}

impl Pending {
    fn is(&self, case: &Case) -> bool {
        self.line == case.line
            && self.name == case.name
            && self.classname == case.classname
            && self.file == case.file
    }
}

/// A min-heap entry for the slowest tests.
#[derive(Debug, PartialEq)]
struct TimedName(f64, String, String);

impl Eq for TimedName {}

impl PartialOrd for TimedName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TimedName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl<'o> Parser<'o> {
    fn new(options: &'o JunitOptions, report_name: String) -> Self {
        Parser {
            options,
            report: JunitReport {
                files: vec![report_name.clone()],
                ..JunitReport::default()
            },
            report_name,
            suites: Vec::new(),
            spare_maps: Vec::new(),
            case: None,
            spare_case: None,
            depth: 0,
            context: Context::Other,
            context_depth: 0,
            body: Capture::with_tap(
                options.max_output_bytes,
                Tap::new(Scanner::new(options.workspace.clone())),
            ),
            stdout: Capture::new(options.max_output_bytes),
            stderr: Capture::new(options.max_output_bytes),
            raw: Raw::default(),
            failures: Vec::new(),
            free_failures: Vec::new(),
            failures_kept: 0,
            tracked: 0,
            flaky: Vec::new(),
            flaky_kept: 0,
            slowest: BinaryHeap::new(),
            warned_negative: false,
            warned_nanoseconds: false,
            warned_placeholder: false,
            warned_untracked: false,
            retries_merged: 0,
            pytest: false,
            pending: Pending::default(),
            held: false,
        }
    }

    fn capture_target(&mut self) -> Option<&mut Capture> {
        match self.context {
            Context::Other => None,
            Context::FailureBody => Some(&mut self.body),
            Context::Stdout => Some(&mut self.stdout),
            Context::Stderr => Some(&mut self.stderr),
        }
    }

    fn warn(&mut self, message: String) {
        if self.report.warnings.len() < self.options.max_warnings {
            self.report
                .warnings
                .push(format!("{}: {message}", self.report_name));
        } else {
            self.report.warnings_omitted += 1;
        }
    }

    fn start(&mut self, name: &str, tag: &xml::Tag<'_>) -> Result<(), String> {
        self.depth += 1;
        match name {
            "testsuite" if self.case.is_none() => self.start_suite(tag)?,
            "testsuites" if self.case.is_none() && self.suites.is_empty() => {
                // The root's counts are checked like a suite's.
                self.start_suite(tag)?;
            }
            "testcase" if self.case.is_none() => self.start_case(tag)?,
            "failure" | "error" if self.case.is_some() => {
                let Some(case) = self.case.as_mut() else {
                    return Ok(());
                };
                if self.depth != case.depth + 1 {
                    return Ok(());
                }
                if name == "error" {
                    case.error = true;
                } else {
                    case.failure = true;
                }
                read_failure_attrs(case, tag, self.options)?;
                if case.bodies == 0 {
                    let (classname, own) = own_file(case);
                    if let Some(scanner) = self.body.scanner() {
                        scanner.reset(&classname, &own);
                    }
                }
                if case.bodies > 0 {
                    self.body_separator();
                }
                let Some(case) = self.case.as_mut() else {
                    return Ok(());
                };
                case.bodies += 1;
                self.enter(Context::FailureBody);
            }
            "failure" | "error" if !self.suites.is_empty() => {
                // An error outside any testcase (an Ant class-load failure, a
                // crash in set-up): one more test, failed or errored.
                let suite = self
                    .suites
                    .last()
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                let mut case = Case {
                    depth: self.depth,
                    name: format!("({name} outside any testcase)"),
                    classname: suite,
                    synthetic: true,
                    ..Case::default()
                };
                if name == "error" {
                    case.error = true;
                } else {
                    case.failure = true;
                }
                read_failure_attrs(&mut case, tag, self.options)?;
                case.bodies = 1;
                self.body.clear();
                if let Some(scanner) = self.body.scanner() {
                    scanner.reset(&unescaped(&case.classname), "");
                }
                self.stdout.clear();
                self.stderr.clear();
                self.case = Some(Box::new(case));
                self.enter(Context::FailureBody);
            }
            "skipped" => {
                if let Some(case) = self.case.as_mut() {
                    if self.depth == case.depth + 1 {
                        case.skipped = true;
                    }
                }
            }
            "flakyFailure" | "flakyError" => {
                if let Some(case) = self.case.as_mut() {
                    case.flaky_attempts += 1;
                }
            }
            "rerunFailure" | "rerunError" => {
                if let Some(case) = self.case.as_mut() {
                    case.rerun_attempts += 1;
                }
            }
            "system-out" | "system-err" => {
                if let Some(case) = self.case.as_ref() {
                    if self.depth == case.depth + 1 {
                        self.enter(if name == "system-out" {
                            Context::Stdout
                        } else {
                            Context::Stderr
                        });
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn enter(&mut self, context: Context) {
        self.context = context;
        self.context_depth = self.depth;
    }

    fn body_separator(&mut self) {
        // Several <failure> elements in one test: their bodies follow each other.
        self.body.push_str("\n\n");
    }

    fn end(&mut self) {
        if self.context != Context::Other && self.depth == self.context_depth {
            self.context = Context::Other;
        }
        if self
            .case
            .as_ref()
            .is_some_and(|case| case.depth == self.depth)
        {
            self.finish_case();
        }
        if self
            .suites
            .last()
            .is_some_and(|suite| suite.depth == self.depth)
        {
            self.finish_suite();
        }
        self.depth -= 1;
    }

    fn start_suite(&mut self, tag: &xml::Tag<'_>) -> Result<(), String> {
        let mut name = None;
        let mut file = None;
        let mut declared = Declared::default();
        xml::for_each_attr(tag, |key, value| match key {
            b"name" => name = Some(xml::attr_str(value).into_owned()),
            b"file" | b"filepath" => file = Some(xml::attr_str(value).into_owned()),
            b"tests" => declared.tests = parse_count(&value),
            b"failures" => declared.failures = parse_count(&value),
            b"errors" => declared.errors = parse_count(&value),
            b"skipped" | b"skips" => declared.skipped = parse_count(&value),
            _ => {}
        })?;
        if matches!(name.as_deref(), Some("pytest" | "pytest tests")) {
            self.pytest = true;
        }
        let name = name.filter(|n| !n.is_empty()).or(file).unwrap_or_default();
        let seen = self.spare_maps.pop().unwrap_or_default();
        self.suites.push(SuiteFrame {
            name,
            declared,
            raw_at_start: self.raw,
            has_cases: false,
            seen,
            depth: self.depth,
        });
        Ok(())
    }

    fn finish_suite(&mut self) {
        self.flush_pending();
        let Some(mut suite) = self.suites.pop() else {
            return;
        };
        if suite.has_cases {
            self.report.suites += 1;
        }
        let recount = Raw {
            tests: self.raw.tests - suite.raw_at_start.tests,
            failures: self.raw.failures - suite.raw_at_start.failures,
            errors: self.raw.errors - suite.raw_at_start.errors,
            skipped: self.raw.skipped - suite.raw_at_start.skipped,
        };
        let label = if suite.name.is_empty() {
            "a suite without a name".to_owned()
        } else {
            format!("suite '{}'", suite.name)
        };
        let checks = [
            ("tests", suite.declared.tests, recount.tests, "testcases"),
            (
                "failures",
                suite.declared.failures,
                recount.failures,
                "failed",
            ),
            ("errors", suite.declared.errors, recount.errors, "errored"),
            (
                "skipped",
                suite.declared.skipped,
                recount.skipped,
                "skipped",
            ),
        ];
        for (attr, declared, actual, what) in checks {
            if let Some(declared) = declared {
                if declared != actual {
                    self.warn(format!(
                        "{label} says {attr}=\"{declared}\" but holds {actual} {what}; the recount is used"
                    ));
                }
            }
        }
        self.tracked = self.tracked.saturating_sub(suite.seen.len());
        suite.seen.clear();
        if suite.seen.capacity() <= 4096 {
            self.spare_maps.push(std::mem::take(&mut suite.seen));
        }
    }

    fn start_case(&mut self, tag: &xml::Tag<'_>) -> Result<(), String> {
        // Taken, not replaced by a new default: no allocation per testcase.
        let mut case = self.spare_case.take().unwrap_or_default();
        case.reset(self.depth);
        let mut time = None;
        let mut class_attr = None;
        xml::for_each_attr(tag, |key, value| match key {
            // Kept as written (escaped): unescaped only for what is reported.
            b"name" if case.name.is_empty() => push_bounded(&mut case.name, &value, MAX_NAME),
            b"classname" if case.classname.is_empty() => {
                push_bounded(&mut case.classname, &value, MAX_NAME)
            }
            b"class" => class_attr = Some(value),
            b"file" | b"filepath" if case.file.is_empty() => {
                push_bounded(&mut case.file, &value, MAX_NAME);
            }
            b"line" | b"lineno" => case.line = parse_line(&value),
            b"time" | b"duration" => time = Some(value),
            b"status" | b"result" => {
                let (outcome, skipped) = status_outcome(&value);
                if outcome.is_some() {
                    case.status = outcome;
                }
                case.status_skipped |= skipped;
            }
            _ => {}
        })?;
        if case.classname.is_empty() {
            if let Some(class) = class_attr {
                push_bounded(&mut case.classname, &class, MAX_NAME);
            }
        }
        if let Some(time) = time {
            case.time = self.parse_time(&time);
        }
        self.body.clear();
        self.stdout.clear();
        self.stderr.clear();
        self.case = Some(case);
        if let Some(suite) = self.suites.last_mut() {
            suite.has_cases = true;
        }
        Ok(())
    }

    fn parse_time(&mut self, text: &str) -> Option<f64> {
        match parse_time(text) {
            Time::Seconds(s) => Some(s),
            Time::Nanoseconds(s) => {
                if !self.warned_nanoseconds {
                    self.warned_nanoseconds = true;
                    self.warn(format!(
                        "time=\"{}\" is too large for seconds; read as nanoseconds",
                        text.trim()
                    ));
                }
                Some(s)
            }
            Time::Negative => {
                if !self.warned_negative {
                    self.warned_negative = true;
                    self.warn(format!("negative time=\"{}\" counted as 0", text.trim()));
                }
                Some(0.0)
            }
            Time::Unreadable => {
                if !self.warned_placeholder {
                    self.warned_placeholder = true;
                    self.warn(format!("time=\"{}\" is not a number; ignored", text.trim()));
                }
                None
            }
        }
    }

    fn finish_case(&mut self) {
        let Some(mut case) = self.case.take() else {
            return;
        };
        self.finish_taken_case(&mut case);
        self.spare_case = Some(case);
    }

    fn finish_taken_case(&mut self, case: &mut Case) {
        self.context = Context::Other;
        let outcome = if case.error {
            Outcome::Errored
        } else if case.failure {
            Outcome::Failed
        } else if case.skipped || case.status_skipped {
            Outcome::Skipped
        } else if let Some(status) = case.status {
            status
        } else if case.flaky_attempts > 0 {
            Outcome::Flaky
        } else {
            Outcome::Passed
        };
        let mut attempts = 1 + case.flaky_attempts + case.rerun_attempts;

        if self.pytest && !case.synthetic {
            // pytest-rerunfailures writes each failed attempt as an empty
            // (passing-looking) testcase, the next attempt right after it:
            // a testcase that repeats the one just read as passed makes that
            // one a failed attempt of the same test.
            let repeat = self.held && self.pending.is(case);
            if repeat {
                self.held = false;
                attempts += self.pending.attempts;
                self.retries_merged += 1;
            } else {
                self.flush_pending();
            }
            if let Some(time) = case.time {
                self.report.time += time;
                self.consider_slowest(time, case);
            }
            if outcome == Outcome::Passed {
                if !repeat {
                    self.raw.tests += 1;
                }
                // The case's strings move to the pending test, and the
                // pending test's old ones to the case (cleared when the next
                // testcase starts): nothing is copied.
                let pending = &mut self.pending;
                std::mem::swap(&mut pending.name, &mut case.name);
                std::mem::swap(&mut pending.classname, &mut case.classname);
                std::mem::swap(&mut pending.file, &mut case.file);
                pending.line = case.line;
                pending.attempts = attempts;
                self.held = true;
                return;
            }
            if repeat {
                // Counted once, as the test's last attempt.
                match outcome {
                    Outcome::Failed => self.raw.failures += 1,
                    Outcome::Errored => self.raw.errors += 1,
                    Outcome::Skipped => self.raw.skipped += 1,
                    Outcome::Passed | Outcome::Flaky => {}
                }
                self.report.counts.total += 1;
                self.report.counts.add(outcome, 1);
                if outcome.is_failure() {
                    self.push_failure(case, outcome, attempts);
                }
                return;
            }
            self.count_case(case, outcome, attempts, false);
            return;
        }
        self.count_case(case, outcome, attempts, true);
    }

    /// Counts pytest's held testcase: passed, or flaky after failed attempts.
    #[inline(always)]
    fn flush_pending(&mut self) {
        if self.held {
            self.count_pending();
        }
    }

    fn count_pending(&mut self) {
        self.held = false;
        let pending = &self.pending;
        self.report.counts.total += 1;
        if pending.attempts > 1 {
            self.report.counts.add(Outcome::Flaky, 1);
            if self.flaky_kept < self.options.max_flaky {
                self.flaky_kept += 1;
                let suite = self
                    .suites
                    .last()
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                self.flaky.push(Some(FlakyTest {
                    report: self.report_name.clone(),
                    suite,
                    classname: unescaped(&pending.classname),
                    name: unescaped(&pending.name),
                    attempts: pending.attempts,
                }));
            }
        } else {
            self.report.counts.add(Outcome::Passed, 1);
        }
    }

    fn count_case(&mut self, case: &Case, outcome: Outcome, attempts: u32, timed: bool) {
        self.raw.tests += 1;
        match outcome {
            Outcome::Failed => self.raw.failures += 1,
            Outcome::Errored => self.raw.errors += 1,
            Outcome::Skipped => self.raw.skipped += 1,
            Outcome::Passed | Outcome::Flaky => {}
        }
        if timed && let Some(time) = case.time {
            self.report.time += time;
            self.consider_slowest(time, case);
        }

        // Only failed tests are remembered: a retry follows a failure, so a
        // suite without one needs no lookups (and no hashing) at all.
        let lookup = !case.synthetic
            && self
                .suites
                .last()
                .is_some_and(|suite| !suite.seen.is_empty());
        let key = if lookup || outcome.is_failure() {
            let mut hasher = FxHasher::default();
            case.classname.hash(&mut hasher);
            case.name.hash(&mut hasher);
            case.file.hash(&mut hasher);
            case.line.hash(&mut hasher);
            hasher.finish()
        } else {
            0
        };
        let previous = if lookup {
            self.suites
                .last()
                .and_then(|suite| suite.seen.get(&key).copied())
        } else {
            None
        };
        match previous {
            // The test ran again after its last attempt failed: a retry
            // (runners retry only what failed, so a repeat of a passing
            // test is another test, and a failure after a pass is never
            // hidden).
            Some(prev)
                if prev.outcome.is_failure() && outcome != Outcome::Skipped && !case.synthetic =>
            {
                self.retries_merged += 1;
                let merged = if outcome.has_pass() {
                    Outcome::Flaky
                } else {
                    outcome
                };
                self.report.counts.add(prev.outcome, -1);
                self.report.counts.add(merged, 1);
                let mut slot = Slot {
                    outcome: merged,
                    attempts: prev.attempts + attempts,
                    failure: prev.failure,
                };
                if merged == Outcome::Flaky {
                    if let Some(index) = slot.failure.take() {
                        if self.failures[index].take().is_some() {
                            self.failures_kept -= 1;
                            self.free_failures.push(index);
                        }
                    }
                    self.push_flaky(case, slot.attempts);
                } else {
                    match slot.failure {
                        Some(index) => {
                            if let Some(Some(failure)) = self.failures.get_mut(index) {
                                failure.attempts = slot.attempts;
                                failure.outcome = merged;
                            }
                        }
                        None => slot.failure = self.push_failure(case, merged, slot.attempts),
                    }
                }
                if let Some(suite) = self.suites.last_mut() {
                    if merged.is_failure() {
                        suite.seen.insert(key, slot);
                    } else if suite.seen.remove(&key).is_some() {
                        // It finally passed: nothing can retry it any more.
                        self.tracked -= 1;
                    }
                }
            }
            _ => {
                self.report.counts.total += 1;
                self.report.counts.add(outcome, 1);
                let failure = match outcome {
                    Outcome::Failed | Outcome::Errored => {
                        self.push_failure(case, outcome, attempts)
                    }
                    Outcome::Flaky => {
                        self.push_flaky(case, attempts);
                        None
                    }
                    _ => None,
                };
                let slot = Slot {
                    outcome,
                    attempts,
                    failure,
                };
                let mut untracked = false;
                if let (Some(suite), false) = (self.suites.last_mut(), case.synthetic) {
                    if previous.is_some() {
                        // The newest test of that name is the one a retry
                        // follows, and only if it failed.
                        if outcome.is_failure() {
                            suite.seen.insert(key, slot);
                        } else if suite.seen.remove(&key).is_some() {
                            self.tracked -= 1;
                        }
                    } else if outcome.is_failure() {
                        if self.tracked < MAX_TRACKED {
                            suite.seen.insert(key, slot);
                            self.tracked += 1;
                        } else {
                            untracked = true;
                        }
                    }
                }
                if untracked && !self.warned_untracked {
                    self.warned_untracked = true;
                    self.warn(format!(
                        "the open suites hold more than {MAX_TRACKED} failed testcases; retries written as repeated testcases are recognised among the first {MAX_TRACKED} only"
                    ));
                }
            }
        }
    }

    /// Keeps the test among the slowest if it is one. Inlined: for nearly
    /// every test the answer is no, found by the first comparisons.
    #[inline(always)]
    fn consider_slowest(&mut self, time: f64, case: &Case) {
        if self.options.slowest == 0 {
            return;
        }
        if self.slowest.len() >= self.options.slowest
            && !self.slowest.peek().is_some_and(|Reverse(min)| time > min.0)
        {
            return;
        }
        self.keep_slowest(time, case);
    }

    fn keep_slowest(&mut self, time: f64, case: &Case) {
        if self.slowest.len() < self.options.slowest {
            self.slowest.push(Reverse(TimedName(
                time,
                unescaped(&case.classname),
                unescaped(&case.name),
            )));
        } else if self.slowest.peek().is_some_and(|Reverse(min)| time > min.0) {
            self.slowest.pop();
            self.slowest.push(Reverse(TimedName(
                time,
                unescaped(&case.classname),
                unescaped(&case.name),
            )));
        }
    }

    fn push_flaky(&mut self, case: &Case, attempts: u32) {
        if self.flaky_kept >= self.options.max_flaky {
            return;
        }
        self.flaky_kept += 1;
        self.flaky.push(Some(FlakyTest {
            report: self.report_name.clone(),
            suite: self
                .suites
                .last()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            classname: unescaped(&case.classname),
            name: unescaped(&case.name),
            attempts,
        }));
    }

    fn push_failure(&mut self, case: &Case, outcome: Outcome, attempts: u32) -> Option<usize> {
        if self.failures_kept >= self.options.max_failures {
            return None;
        }
        let details = self.body.text().into_owned();
        let workspace = self.options.workspace.as_deref();
        let (classname, own) = own_file(case);
        // The whole text was read line by line when it outgrew the bound;
        // else the kept text is the whole text.
        let found = match self.body.finish_scan() {
            Some(scanner) => scanner.finish(),
            None => match self.body.scanner() {
                Some(scanner) => {
                    scanner.reset(&classname, &own);
                    for line in location::lines(&details) {
                        scanner.feed_line(line);
                    }
                    scanner.finish()
                }
                None => location::Found::default(),
            },
        };
        let file = unescaped(&case.file);
        let located = if !file.is_empty() {
            // The trace's own frame in the test's file is where it failed; a
            // `line` attribute points at the test's definition (0-based in
            // pytest's dialect).
            let line = found.own_line.or_else(|| {
                case.line
                    .map(|l| if self.pytest { l.saturating_add(1) } else { l })
            });
            Some((file, line))
        } else if let Some(failure_file) = case.failure_file.as_ref().filter(|f| !f.is_empty()) {
            Some((failure_file.clone(), case.failure_line))
        } else if let (Some(line), false) = (found.own_line, own.is_empty()) {
            // The class name is the test's file (vitest).
            Some((own, Some(line)))
        } else {
            let from_message = || {
                case.message_location.clone().or_else(|| {
                    let message = case.message.as_deref()?;
                    let scanner = self.body.scanner()?;
                    scanner.reset(&classname, "");
                    for line in location::lines(message) {
                        scanner.feed_line(line);
                    }
                    scanner.finish().best
                })
            };
            found
                .best
                .or_else(from_message)
                .map(|l| (l.file, Some(l.line)))
        };
        let (file, line) = match located {
            Some((file, line)) => (Some(location::relative_to(&file, workspace)), line),
            None => (None, None),
        };
        let text = |capture: &Capture| (!capture.is_empty()).then(|| capture.text().into_owned());
        let failure = TestFailure {
            report: self.report_name.clone(),
            suite: self
                .suites
                .last()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            classname: unescaped(&case.classname),
            name: unescaped(&case.name),
            outcome,
            message: case.message.clone(),
            kind: case.kind.clone(),
            details,
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
            truncated: self.body.truncated() || self.stdout.truncated() || self.stderr.truncated(),
            file,
            line,
            time: case.time,
            attempts,
        };
        self.failures_kept += 1;
        if let Some(index) = self.free_failures.pop() {
            self.failures[index] = Some(failure);
            return Some(index);
        }
        self.failures.push(Some(failure));
        Some(self.failures.len() - 1)
    }

    fn finish(mut self) -> JunitReport {
        // A suite-level error at the very end of a suite that closed the document.
        if self.case.is_some() {
            self.finish_case();
        }
        self.flush_pending();
        let mut report = self.report;
        report.failures = self.failures.into_iter().flatten().collect();
        report.failures_omitted = (report.counts.failed + report.counts.errored)
            .saturating_sub(report.failures.len() as u64);
        report.flaky = self.flaky.into_iter().flatten().collect();
        let mut slowest: Vec<TestTime> = self
            .slowest
            .into_iter()
            .map(|Reverse(TimedName(time, classname, name))| TestTime {
                classname,
                name,
                time,
            })
            .collect();
        slowest.sort_by(|a, b| {
            b.time
                .total_cmp(&a.time)
                .then_with(|| (&a.classname, &a.name).cmp(&(&b.classname, &b.name)))
        });
        report.slowest = slowest;
        if self.retries_merged > 0 {
            let note = format!(
                "{}: {} repeated testcase(s) read as retries of an earlier attempt",
                self.report_name, self.retries_merged
            );
            if report.warnings.len() < self.options.max_warnings {
                report.warnings.push(note);
            } else {
                report.warnings_omitted += 1;
            }
        }
        report
    }
}

/// Appends at most `limit` bytes of `text`, cut at a character boundary.
fn push_bounded(out: &mut String, text: &str, limit: usize) {
    let room = limit.saturating_sub(out.len());
    if text.len() <= room {
        out.push_str(text);
        return;
    }
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&text[..end]);
}

fn unescaped(raw: &str) -> String {
    xml::attr_str(std::borrow::Cow::Borrowed(raw)).into_owned()
}

fn read_failure_attrs(
    case: &mut Case,
    tag: &xml::Tag<'_>,
    options: &JunitOptions,
) -> Result<(), String> {
    let limit = options.max_output_bytes;
    let first = case.message.is_none() && case.kind.is_none();
    let bounded = |value: &str, limit: usize| {
        let mut text = String::new();
        push_bounded(&mut text, value, limit);
        text
    };
    let mut long_message = None;
    xml::for_each_attr(tag, |key, value| match key {
        b"message" if first => {
            let value = xml::attr_str(value);
            if value.len() > limit {
                long_message = Some(value.clone().into_owned());
            }
            case.message = Some(bounded(&value, limit));
        }
        b"type" if first => case.kind = Some(bounded(&xml::attr_str(value), MAX_NAME)),
        b"file" if case.failure_file.is_none() => {
            case.failure_file = Some(bounded(&xml::attr_str(value), MAX_NAME));
        }
        b"line" if case.failure_line.is_none() => case.failure_line = parse_line(&value),
        _ => {}
    })?;
    if let Some(message) = long_message {
        // The location is sought in the whole message, of which only the
        // bounded part is kept.
        let mut scanner = Scanner::new(options.workspace.clone());
        scanner.reset(&unescaped(&case.classname), "");
        for line in location::lines(&message) {
            scanner.feed_line(line);
        }
        case.message_location = scanner.finish().best;
    }
    Ok(())
}

/// The test's class name, unescaped, and the file its own frames are in:
/// the testcase's `file`, or its class name when that is a path (vitest).
fn own_file(case: &Case) -> (String, String) {
    let classname = unescaped(&case.classname);
    let own = if !case.file.is_empty() {
        unescaped(&case.file)
    } else if classname.contains(['/', '\\'])
        && !classname.contains(char::is_whitespace)
        && location::base_name(&classname).contains('.')
    {
        classname.clone()
    } else {
        String::new()
    };
    (classname, own)
}

/// A `line` attribute: a few digits (read without the general parser), or
/// whatever the parser of `u32` takes once trimmed.
#[inline]
fn parse_line(value: &str) -> Option<u32> {
    let bytes = value.as_bytes();
    if (1..=9).contains(&bytes.len()) {
        // Nine digits cannot overflow.
        let mut line = 0;
        for &b in bytes {
            let digit = b.wrapping_sub(b'0');
            if digit >= 10 {
                return value.trim().parse().ok();
            }
            line = line * 10 + u32::from(digit);
        }
        return Some(line);
    }
    value.trim().parse().ok()
}

fn status_outcome(value: &str) -> (Option<Outcome>, bool) {
    match value.trim().to_ascii_lowercase().as_str() {
        "notrun" | "not run" | "disabled" | "suppressed" | "skipped" | "skip" | "ignored"
        | "pending" => (Some(Outcome::Skipped), true),
        "failed" | "fail" | "failure" => (Some(Outcome::Failed), false),
        "error" | "errored" | "broken" => (Some(Outcome::Errored), false),
        _ => (None, false),
    }
}

fn parse_count(value: &str) -> Option<u64> {
    let value = value.trim();
    value.parse::<u64>().ok().or_else(|| {
        value
            .parse::<f64>()
            .ok()
            .filter(|v| *v >= 0.0 && v.fract() == 0.0)
            .map(|v| v as u64)
    })
}

/// A `time` attribute, read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Time {
    Seconds(f64),
    Nanoseconds(f64),
    Negative,
    Unreadable,
}

/// Reads a duration as runners write it: `1.5`, `1,234.5` (grouping),
/// `0,5` (decimal comma), `4.5e-05`, `1e3`; a huge integer is nanoseconds.
pub(crate) fn parse_time(text: &str) -> Time {
    // The common case first: plain digits and a point.
    if let Some(v) = fast_decimal(text) {
        if v <= NANOSECONDS_THRESHOLD || text.contains('.') {
            return Time::Seconds(v);
        }
    }
    let text = text.trim();
    let normalized;
    let number = if text.contains(',') {
        normalized = if text.contains('.') {
            if text.rfind(',') > text.rfind('.') {
                // `1.234,5`: dots group, the comma is the decimal point.
                text.replace('.', "").replacen(',', ".", 1)
            } else {
                text.replace(',', "")
            }
        } else {
            let (int, frac) = text.split_once(',').unwrap_or((text, ""));
            if frac.len() == 3 && int != "0" && !frac.contains(',') && !int.is_empty() {
                // `1,234`: a thousands separator.
                format!("{int}{frac}")
            } else if text.matches(',').count() > 1 {
                text.replace(',', "")
            } else {
                text.replacen(',', ".", 1)
            }
        };
        normalized.as_str()
    } else {
        text
    };
    match fast_decimal(number).map_or_else(|| number.parse::<f64>(), Ok) {
        Ok(v) if v.is_nan() || v.is_infinite() => Time::Unreadable,
        Ok(v) if v < 0.0 => Time::Negative,
        Ok(v) if v > NANOSECONDS_THRESHOLD && !number.contains(['.', 'e', 'E']) => {
            Time::Nanoseconds(v / 1e9)
        }
        Ok(v) => Time::Seconds(v),
        Err(_) => Time::Unreadable,
    }
}

/// `123.456` read without the general float parser: digits, at most one
/// point, at most 15 significant digits. The integer is exact in an f64 and
/// so is the power of ten, so the one division rounds correctly, as the
/// general parser would (Clinger's fast path).
fn fast_decimal(text: &str) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let mut mantissa: u64 = 0;
    // The integer's digits, then those after the point, if there is one.
    let mut i = 0;
    while let Some(digit) = bytes
        .get(i)
        .map(|b| b.wrapping_sub(b'0'))
        .filter(|d| *d < 10)
    {
        mantissa = mantissa * 10 + u64::from(digit);
        i += 1;
    }
    let mut fraction = 0;
    if let Some(&b) = bytes.get(i) {
        if b != b'.' {
            return None;
        }
        for &b in &bytes[i + 1..] {
            let digit = b.wrapping_sub(b'0');
            if digit >= 10 {
                return None;
            }
            mantissa = mantissa * 10 + u64::from(digit);
        }
        fraction = bytes.len() - i - 1;
    }
    // Every byte is a digit but the point.
    let digits = bytes.len() - usize::from(i < bytes.len());
    if digits == 0 || digits > 15 {
        return None;
    }
    Some(mantissa as f64 / POW10[fraction])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_decimal_path_agrees_with_the_float_parser() {
        for text in [
            "0",
            "0.001",
            "1.5",
            "123.456",
            "0.1",
            "2126.5310000000004",
            "999999999999999",
            "1.",
            ".5",
            "12.3.4",
            "",
            "1e3",
        ] {
            let general = text.parse::<f64>().ok();
            match fast_decimal(text) {
                Some(fast) => assert_eq!(Some(fast), general, "{text}"),
                None => assert!(
                    text.len() > 16
                        || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                        || text.matches('.').count() > 1
                        || text.is_empty()
                        || text.bytes().filter(u8::is_ascii_digit).count() > 15,
                    "{text}"
                ),
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_decimals_are_exactly_what_the_float_parser_reads(int in 0u64..10_000_000, frac in 0u64..100_000_000, width in 0usize..9) {
            let text = if width == 0 { int.to_string() } else { format!("{int}.{:0width$}", frac % 10u64.pow(width as u32)) };
            if let Some(fast) = fast_decimal(&text) {
                proptest::prop_assert_eq!(fast, text.parse::<f64>().unwrap());
            }
        }

        #[test]
        fn fast_decimals_take_digits_and_one_point_anywhere(text in "[0-9.x]{0,18}") {
            // What fast_decimal took before it read the integer and the
            // fraction in two loops: digits and at most one point.
            let bytes = text.as_bytes();
            let points = bytes.iter().filter(|&&b| b == b'.').count();
            let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
            let plain = bytes.iter().all(|&b| b.is_ascii_digit() || b == b'.');
            let expected = (plain && points <= 1 && !bytes.is_empty() && bytes.len() <= 16 && (1..=15).contains(&digits)).then(|| {
                let fraction = text.find('.').map_or(0, |p| text.len() - 1 - p);
                let mantissa: u64 = text.bytes().filter(u8::is_ascii_digit).fold(0, |m, b| m * 10 + u64::from(b - b'0'));
                mantissa as f64 / 10f64.powi(fraction as i32)
            });
            proptest::prop_assert_eq!(fast_decimal(&text), expected);
        }

        #[test]
        fn line_attributes_are_what_the_integer_parser_reads(text in "[0-9 +x]{0,12}|[0-9]{1,11}") {
            proptest::prop_assert_eq!(parse_line(&text), text.trim().parse::<u32>().ok());
        }
    }

    #[test]
    fn times_are_read_as_runners_write_them() {
        assert_eq!(parse_time("1.5"), Time::Seconds(1.5));
        assert_eq!(parse_time(" 2 "), Time::Seconds(2.0));
        assert_eq!(parse_time("1,234.5"), Time::Seconds(1234.5));
        assert_eq!(parse_time("1.234,5"), Time::Seconds(1234.5));
        assert_eq!(parse_time("0,5"), Time::Seconds(0.5));
        assert_eq!(parse_time("1,5"), Time::Seconds(1.5));
        assert_eq!(parse_time("1,234"), Time::Seconds(1234.0));
        assert_eq!(parse_time("1,234,567.1"), Time::Seconds(1_234_567.1));
        assert_eq!(
            parse_time("4.50611114501953e-05"),
            Time::Seconds(4.50611114501953e-05)
        );
        assert_eq!(parse_time("-345345"), Time::Negative);
        assert_eq!(parse_time("<<computed>>"), Time::Unreadable);
        assert_eq!(parse_time("NaN"), Time::Unreadable);
        assert_eq!(parse_time("999638317"), Time::Nanoseconds(0.999638317));
    }

    fn parse_str(xml: &str) -> JunitReport {
        parse_junit_slice(xml.as_bytes(), Path::new("t.xml"), &JunitOptions::default()).unwrap()
    }

    #[test]
    fn retries_as_repeated_testcases_count_once() {
        let report = parse_str(
            r#"<testsuite name="s">
                <testcase classname="A" name="a"><failure message="boom"/></testcase>
                <testcase classname="A" name="b"/>
                <testcase classname="A" name="a"/>
                <testcase classname="A" name="c"><error/></testcase>
                <testcase classname="A" name="c"><failure/></testcase>
                <testcase classname="A" name="d"/>
                <testcase classname="A" name="d"/>
            </testsuite>"#,
        );
        assert_eq!(
            report.counts,
            Counts {
                total: 5,
                passed: 4,
                failed: 1,
                errored: 0,
                skipped: 0,
                flaky: 1
            }
        );
        assert_eq!(report.flaky.len(), 1);
        assert_eq!(report.flaky[0].name, "a");
        assert_eq!(report.failures.len(), 1);
        assert_eq!(report.failures[0].name, "c");
        assert_eq!(report.failures[0].attempts, 2);
    }

    #[test]
    fn a_failure_after_a_pass_is_never_hidden() {
        let report = parse_str(
            r#"<testsuite name="s">
                <testcase name="same"/>
                <testcase name="same"><failure message="second test of that name"/></testcase>
                <testcase name="x"><failure/></testcase>
                <testcase name="x"/>
                <testcase name="x"><failure message="again"/></testcase>
            </testsuite>"#,
        );
        // same: two tests, one failing; x: fail then pass is flaky, and the
        // failure after that pass is a test of its own.
        assert_eq!(
            report.counts,
            Counts {
                total: 4,
                passed: 2,
                failed: 2,
                errored: 0,
                skipped: 0,
                flaky: 1
            }
        );
        let names: Vec<_> = report
            .failures
            .iter()
            .map(|f| f.message.as_deref())
            .collect();
        assert_eq!(names, vec![Some("second test of that name"), Some("again")]);
    }

    #[test]
    fn several_suite_level_errors_are_several_tests() {
        let report = parse_str(
            r#"<testsuite name="S"><error message="a"/><testcase name="t"/><failure message="b"/><error message="c"/></testsuite>"#,
        );
        assert_eq!(report.counts.total, 4);
        assert_eq!((report.counts.failed, report.counts.errored), (1, 2));
    }

    #[test]
    fn long_attributes_are_bounded() {
        let message = "m".repeat(100_000);
        let name = "n".repeat(10_000);
        let xml = format!(
            r#"<testsuite><testcase name="{name}"><failure message="{message}"/></testcase></testsuite>"#
        );
        let report = parse_junit_slice(
            xml.as_bytes(),
            Path::new("t.xml"),
            &JunitOptions::default().max_output_bytes(100),
        )
        .unwrap();
        assert_eq!(
            report.failures[0].message.as_deref().map(str::len),
            Some(100)
        );
        assert_eq!(report.failures[0].name.len(), MAX_NAME);
    }

    #[test]
    fn suite_level_errors_are_tests() {
        let report = parse_str(
            r#"<testsuites><testsuite name="S" tests="1"><error message="class not found">trace</error><testcase name="x"/></testsuite></testsuites>"#,
        );
        assert_eq!(report.counts.total, 2);
        assert_eq!(report.counts.errored, 1);
        assert_eq!(report.failures[0].details, "trace");
        assert_eq!(
            report.failures[0].message.as_deref(),
            Some("class not found")
        );
    }
}
