//! Streaming generator of large pytest- and surefire-like JUnit XML reports.
//!
//! The report is a `<testsuites>` root holding many `<testsuite>` elements of
//! 50 to 2000 test cases each. About 70 % of the suites look like pytest's
//! (`classname`, `name`, `file`, `line`, `time`; escaped captured output),
//! the rest like Maven Surefire's (namespaced schema attributes, `<properties>`,
//! CDATA output, `flakyFailure` and `rerunFailure` children). The root is
//! named `pytest tests`, as pytest names it, and pytest-rerunfailures' reruns
//! are written as it writes them: each failed attempt one more empty
//! `<testcase>` of the same name before the next attempt (0.15 % of pytest's
//! cases pass on a rerun, 0.3 % of its failures are rerun). Roughly 1 % of the
//! cases fail with a multi-line stack trace, 0.3 % error, 2 % are skipped; a
//! few cases per file carry 1-5 MB of captured output. Messages contain `<`,
//! `&`, quotes and newlines, so they come out as entities.
//!
//! Nothing is held in memory beyond one suite's outcomes (at most 2000 small
//! records) and one message at a time.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::rng::Rng;
use crate::words::{ADJS, AREAS, BASES, LEVELS, NOUNS, PARAMS, VERBS, cap};
use crate::xml::{Counting, Secs, attr, cdata, text};

/// What a generated JUnit report contains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JunitStats {
    /// Bytes written.
    pub bytes: u64,
    /// `<testsuite>` elements.
    pub suites: u64,
    /// `<testcase>` elements.
    pub testcases: u64,
    /// Test cases with a `<failure>`.
    pub failures: u64,
    /// Test cases with an `<error>`.
    pub errors: u64,
    /// Test cases with a `<skipped>`.
    pub skipped: u64,
    /// Tests that passed on a retry: Surefire cases with `<flakyFailure>`
    /// children, pytest cases after rerun attempts.
    pub flaky: u64,
    /// `<testcase>` elements that are pytest-rerunfailures' failed attempts
    /// of the test that follows (counted in `testcases`, not tests).
    pub reruns: u64,
    /// Captured outputs of a megabyte or more (less in small files).
    pub big_outputs: u64,
    /// Bytes of those big outputs.
    pub big_output_bytes: u64,
}

/// Writes a JUnit report of at least `target_bytes` bytes to `out`.
///
/// The same `seed` and `target_bytes` always give the same bytes. The writer
/// is not buffered here: pass a [`std::io::BufWriter`] for files.
pub fn write_junit<W: Write>(out: W, target_bytes: u64, seed: u64) -> io::Result<JunitStats> {
    let mut g = Gen {
        w: Counting::new(out),
        rng: Rng::new(seed),
        stats: JunitStats::default(),
        big: BigPlan::new(target_bytes),
        cases: Vec::with_capacity(2000),
        msg: String::new(),
        body: String::new(),
        serial: 0,
    };
    g.w.write_all(
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites name=\"pytest tests\">\n",
    )?;
    while g.w.bytes() < target_bytes {
        g.suite()?;
    }
    g.w.write_all(b"</testsuites>\n")?;
    g.w.flush()?;
    g.stats.bytes = g.w.bytes();
    Ok(g.stats)
}

/// Where the few big captured outputs go: spread evenly through the file.
struct BigPlan {
    target: u64,
    count: u64,
    next: u64,
    cap: u64,
}

impl BigPlan {
    fn new(target: u64) -> Self {
        let count = (target / (80 << 20)).clamp(2, 8);
        Self {
            target,
            count,
            next: 0,
            cap: (target / (4 * count)).max(4096),
        }
    }

    fn due(&self, bytes: u64) -> bool {
        self.next < self.count && bytes >= self.target * (2 * self.next + 1) / (2 * self.count)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Error,
    Skipped,
    Flaky,
}

#[derive(Clone, Copy)]
struct Case {
    outcome: Outcome,
    time_us: u64,
    stdout: bool,
    stderr: bool,
}

/// The class (pytest: module or class; surefire: test class) cases belong to.
struct Ctx {
    classname: String,
    file: Option<String>,
    line: u64,
    left: u64,
}

struct Gen<W: Write> {
    w: Counting<W>,
    rng: Rng,
    stats: JunitStats,
    big: BigPlan,
    cases: Vec<Case>,
    msg: String,
    body: String,
    serial: u64,
}

const LAYERS: &[&str] = &["unit", "unit", "integration", "functional", "e2e"];

impl<W: Write> Gen<W> {
    fn suite(&mut self) -> io::Result<()> {
        let surefire = self.rng.chance(3_000);
        // Skewed towards small suites: 50..=2000, mean about 540.
        let n = 50 + self.rng.below(1951) * self.rng.below(1951) / 1950;
        self.cases.clear();
        let (mut failures, mut errors, mut skipped, mut time_us) = (0u64, 0u64, 0u64, 0u64);
        for _ in 0..n {
            let outcome = match self.rng.below(10_000) {
                0..100 => Outcome::Failed,
                100..130 => Outcome::Error,
                130..330 => Outcome::Skipped,
                330..360 if surefire => Outcome::Flaky,
                330..345 => Outcome::Flaky,
                _ => Outcome::Passed,
            };
            let t = match outcome {
                Outcome::Skipped => self.rng.below(1_000),
                _ if self.rng.chance(100) => self.rng.range(1_000_000, 30_000_000),
                _ => self.rng.below(50_000),
            };
            match outcome {
                Outcome::Failed => failures += 1,
                Outcome::Error => errors += 1,
                Outcome::Skipped => skipped += 1,
                Outcome::Flaky => self.stats.flaky += 1,
                Outcome::Passed => {}
            }
            time_us += t;
            let stdout = self.rng.chance(300);
            let stderr = self.rng.chance(100);
            self.cases.push(Case {
                outcome,
                time_us: t,
                stdout,
                stderr,
            });
        }
        self.stats.suites += 1;
        self.stats.testcases += n;
        self.stats.failures += failures;
        self.stats.errors += errors;
        self.stats.skipped += skipped;

        let area = self.rng.pick(AREAS);
        let mut ctx;
        if surefire {
            let classname = format!(
                "com.acme.{area}.{}{}Test",
                cap(self.rng.pick(NOUNS)),
                cap(self.rng.pick(BASES))
            );
            write!(
                self.w,
                "  <testsuite xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
                 xsi:noNamespaceSchemaLocation=\"https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report-3.0.xsd\" \
                 version=\"3.0\" name=\"{classname}\" time=\"{}\" tests=\"{n}\" errors=\"{errors}\" skipped=\"{skipped}\" failures=\"{failures}\">\n\
                 \x20   <properties>\n\
                 \x20     <property name=\"java.version\" value=\"17.0.{}\"/>\n\
                 \x20     <property name=\"os.name\" value=\"Linux\"/>\n\
                 \x20     <property name=\"user.dir\" value=\"/home/runner/work/acme/{area}\"/>\n\
                 \x20     <property name=\"surefire.test.class.path\" value=\"/home/runner/work/acme/{area}/target/test-classes:/home/runner/.m2/repository/org/junit/jupiter/junit-jupiter-api/5.10.2/junit-jupiter-api-5.10.2.jar\"/>\n\
                 \x20   </properties>\n",
                Secs(time_us),
                self.rng.range(1, 12),
            )?;
            ctx = Ctx {
                classname,
                file: None,
                line: 0,
                left: u64::MAX,
            };
        } else {
            let layer = self.rng.pick(LAYERS);
            writeln!(
                self.w,
                "  <testsuite name=\"tests.{layer}.{area}\" errors=\"{errors}\" failures=\"{failures}\" skipped=\"{skipped}\" tests=\"{n}\" time=\"{}\" timestamp=\"2024-05-{:02}T{:02}:{:02}:{:02}.{:06}\" hostname=\"ci-runner-{}\">",
                Secs(time_us),
                self.rng.range(1, 28),
                self.rng.below(24),
                self.rng.below(60),
                self.rng.below(60),
                self.rng.below(1_000_000),
                self.rng.below(64),
            )?;
            ctx = self.pytest_ctx(layer, area);
        }

        for i in 0..self.cases.len() {
            let case = self.cases[i];
            if ctx.left == 0 {
                let layer = ctx
                    .file
                    .as_deref()
                    .and_then(|f| f.split('/').nth(1))
                    .unwrap_or("unit")
                    .to_owned();
                ctx = self.pytest_ctx(&layer, area);
            }
            ctx.left = ctx.left.saturating_sub(1);
            ctx.line += self.rng.range(3, 40);
            self.case(&ctx, case, surefire)?;
        }
        if self.rng.chance(300) {
            self.w.write_all(b"    <system-out>")?;
            self.small_output(surefire)?;
            self.w.write_all(b"</system-out>\n")?;
        }
        self.w.write_all(b"  </testsuite>\n")
    }

    fn pytest_ctx(&mut self, layer: &str, area: &str) -> Ctx {
        let noun = self.rng.pick(NOUNS);
        let module = format!("tests.{layer}.{area}.test_{noun}");
        let classname = if self.rng.chance(7_000) {
            format!(
                "{module}.Test{}{}",
                cap(self.rng.pick(NOUNS)),
                cap(self.rng.pick(ADJS))
            )
        } else {
            module
        };
        Ctx {
            classname,
            file: Some(format!("tests/{layer}/{area}/test_{noun}.py")),
            line: self.rng.range(5, 40),
            left: self.rng.range(5, 60),
        }
    }

    fn case(&mut self, ctx: &Ctx, case: Case, surefire: bool) -> io::Result<()> {
        let verb = self.rng.pick(VERBS);
        let noun = self.rng.pick(NOUNS);
        // Names are unique within a report, as a test runner's are.
        self.serial += 1;
        if let Some(file) = &ctx.file {
            let mut head = Vec::with_capacity(256);
            write!(
                head,
                "classname=\"{}\" name=\"test_{verb}_{noun}_{}",
                ctx.classname, self.serial
            )?;
            if self.rng.chance(3_000) {
                write!(head, "_{}", self.rng.pick(ADJS))?;
            }
            if self.rng.chance(2_500) {
                head.write_all(b"[")?;
                attr(&mut head, self.rng.pick(PARAMS))?;
                head.write_all(b"]")?;
            }
            write!(head, "\" file=\"{file}\" line=\"{}\"", ctx.line)?;
            // pytest-rerunfailures: each failed attempt an empty testcase.
            let reruns = match case.outcome {
                Outcome::Flaky => self.rng.range(1, 2),
                Outcome::Failed if self.rng.chance(30) => self.rng.range(1, 2),
                _ => 0,
            };
            for _ in 0..reruns {
                self.w.write_all(b"    <testcase ")?;
                self.w.write_all(&head)?;
                writeln!(self.w, " time=\"{}\" />", Secs(self.rng.below(50_000)))?;
            }
            self.stats.reruns += reruns;
            self.stats.testcases += reruns;
            self.w.write_all(b"    <testcase ")?;
            self.w.write_all(&head)?;
            write!(self.w, " time=\"{}\"", Secs(case.time_us))?;
        } else {
            self.w.write_all(b"    <testcase ")?;
            write!(
                self.w,
                "name=\"{verb}{}When{}{}",
                cap(noun),
                cap(self.rng.pick(ADJS)),
                self.serial
            )?;
            if self.rng.chance(2_000) {
                write!(self.w, "(String)[{}]", self.rng.range(1, 20))?;
            }
            write!(
                self.w,
                "\" classname=\"{}\" time=\"{}\"",
                ctx.classname,
                Secs(case.time_us)
            )?;
        }

        let big = self.big.due(self.w.bytes());
        let plain = case.outcome == Outcome::Passed
            || (case.outcome == Outcome::Flaky && ctx.file.is_some());
        if plain && !case.stdout && !case.stderr && !big {
            return self.w.write_all(b"/>\n");
        }
        self.w.write_all(b">\n")?;
        match case.outcome {
            Outcome::Passed => {}
            Outcome::Failed => {
                self.problem("failure", surefire, ctx)?;
                if surefire && self.rng.chance(3_000) {
                    for _ in 0..self.rng.range(1, 2) {
                        self.rerun("rerunFailure", ctx)?;
                    }
                }
            }
            Outcome::Error => self.problem("error", surefire, ctx)?,
            Outcome::Skipped => self.skipped(surefire, ctx)?,
            // A pytest test that passed on a rerun is a plain testcase after
            // its failed attempts.
            Outcome::Flaky if ctx.file.is_some() => {}
            Outcome::Flaky => {
                for _ in 0..self.rng.range(1, 2) {
                    self.rerun("flakyFailure", ctx)?;
                }
            }
        }
        if case.stdout {
            self.w.write_all(b"      <system-out>")?;
            self.small_output(surefire)?;
            self.w.write_all(b"</system-out>\n")?;
        }
        if case.stderr {
            self.w.write_all(b"      <system-err>")?;
            self.small_output(surefire)?;
            self.w.write_all(b"</system-err>\n")?;
        }
        if big {
            self.big_output(surefire)?;
        }
        self.w.write_all(b"    </testcase>\n")
    }

    /// `<failure>` or `<error>` with a message attribute and a stack trace body.
    fn problem(&mut self, tag: &str, surefire: bool, ctx: &Ctx) -> io::Result<()> {
        let ty = if surefire {
            self.java_message(tag == "error");
            self.java_trace(ctx);
            if tag == "error" {
                self.rng.pick(&[
                    "java.net.ConnectException",
                    "java.lang.NullPointerException",
                    "java.lang.IllegalStateException",
                ])
            } else {
                "org.opentest4j.AssertionFailedError"
            }
        } else {
            self.python_message(tag == "error");
            self.python_trace(ctx);
            if tag == "error" {
                "ConnectionRefusedError"
            } else {
                "AssertionError"
            }
        };
        write!(self.w, "      <{tag} message=\"")?;
        attr(&mut self.w, &self.msg)?;
        write!(self.w, "\" type=\"{ty}\">")?;
        text(&mut self.w, &self.body)?;
        writeln!(self.w, "</{tag}>")
    }

    /// Surefire's `flakyFailure` / `rerunFailure`: a stack trace and captured output.
    fn rerun(&mut self, tag: &str, ctx: &Ctx) -> io::Result<()> {
        self.java_message(false);
        self.java_trace(ctx);
        write!(self.w, "      <{tag} message=\"")?;
        attr(&mut self.w, &self.msg)?;
        self.w
            .write_all(b"\" type=\"org.opentest4j.AssertionFailedError\">\n        <stackTrace>")?;
        text(&mut self.w, &self.body)?;
        self.w.write_all(b"</stackTrace>\n        <system-out>")?;
        self.small_output(true)?;
        writeln!(self.w, "</system-out>\n      </{tag}>")
    }

    fn skipped(&mut self, surefire: bool, ctx: &Ctx) -> io::Result<()> {
        let reason = match self.rng.below(4) {
            0 => "requires postgres >= 14".to_owned(),
            1 => format!("flaky on CI, see issue #{}", self.rng.range(100, 9999)),
            2 => format!(
                "{} & {} not configured",
                self.rng.pick(NOUNS),
                self.rng.pick(NOUNS)
            ),
            _ => "skipped on \"linux\" platform".to_owned(),
        };
        if surefire {
            if self.rng.chance(5_000) {
                return self.w.write_all(b"      <skipped/>\n");
            }
            self.w.write_all(b"      <skipped message=\"")?;
            attr(&mut self.w, &reason)?;
            return self.w.write_all(b"\"/>\n");
        }
        self.w
            .write_all(b"      <skipped type=\"pytest.skip\" message=\"")?;
        attr(&mut self.w, &reason)?;
        self.w.write_all(b"\">")?;
        let loc = format!(
            "{}:{}: {reason}",
            ctx.file.as_deref().unwrap_or(""),
            ctx.line
        );
        text(&mut self.w, &loc)?;
        self.w.write_all(b"</skipped>\n")
    }

    fn python_message(&mut self, error: bool) {
        let (a, b) = (self.rng.range(1, 500), self.rng.range(1, 500));
        let noun = self.rng.pick(NOUNS);
        self.msg.clear();
        let _ = if error {
            write!(
                self.msg,
                "failed on setup with \"ConnectionRefusedError: [Errno 111] Connection refused\" (db-{}:5432)",
                self.rng.below(8)
            )
        } else {
            match self.rng.below(4) {
                0 => write!(
                    self.msg,
                    "assert Decimal('{a}.00') == Decimal('{b}.00')\n +  where Decimal('{a}.00') = <{} id={b}>.total",
                    cap(noun)
                ),
                1 => write!(self.msg, "AssertionError: assert {a} == {b}"),
                2 => write!(
                    self.msg,
                    "assert response.status_code == 200\n +  where 500 = <Response [500]>.status_code"
                ),
                _ => write!(
                    self.msg,
                    "AssertionError: expected '{noun}' in ['a&b', '<none>'] && len > {a}"
                ),
            }
        };
    }

    fn python_trace(&mut self, ctx: &Ctx) {
        let file = ctx.file.clone().unwrap_or_default();
        self.body.clear();
        let _ = writeln!(
            self.body,
            "self = <{} object at 0x7f{:010x}>\n",
            ctx.classname,
            self.rng.below(1 << 40)
        );
        let frames = self.rng.range(1, 6);
        for f in 0..frames {
            let verb = self.rng.pick(BASES);
            let noun = self.rng.pick(NOUNS);
            let _ = writeln!(
                self.body,
                "    def {verb}_{noun}(self, {noun}, *, strict=True):"
            );
            for _ in 0..self.rng.range(2, 8) {
                let _ = writeln!(
                    self.body,
                    "        {} = self.{}_{}({noun}, limit={})",
                    self.rng.pick(NOUNS),
                    self.rng.pick(BASES),
                    self.rng.pick(NOUNS),
                    self.rng.below(1000)
                );
            }
            if f + 1 == frames {
                let _ = write!(
                    self.body,
                    ">       assert {noun}.total == expected\nE       {}\nE         Differing items:\nE         {{'{noun}': {}}} != {{'{noun}': {}}}\n\n{file}:{}: AssertionError",
                    self.msg.lines().next().unwrap_or(""),
                    self.rng.below(100),
                    self.rng.below(100),
                    ctx.line + 7,
                );
            } else {
                let _ = writeln!(
                    self.body,
                    ">       return self._{verb}({noun}) if {noun} is not None and strict else <default>\n\nsrc/acme/{}/{noun}.py:{}: in {verb}_{noun}",
                    self.rng.pick(AREAS),
                    self.rng.range(10, 900),
                );
            }
        }
    }

    fn java_message(&mut self, error: bool) {
        self.msg.clear();
        let _ = if error {
            write!(
                self.msg,
                "Connection refused: localhost/127.0.0.1:{}",
                self.rng.range(1024, 65535)
            )
        } else {
            match self.rng.below(3) {
                0 => write!(
                    self.msg,
                    "expected: <{}> but was: <{}>",
                    self.rng.below(100),
                    self.rng.below(100)
                ),
                1 => write!(
                    self.msg,
                    "Expected {} to be \"{}\" but was \"{}\"",
                    self.rng.pick(NOUNS),
                    self.rng.pick(ADJS),
                    self.rng.pick(ADJS)
                ),
                _ => write!(self.msg, "Condition not satisfied: a < b && b > c"),
            }
        };
    }

    fn java_trace(&mut self, ctx: &Ctx) {
        self.body.clear();
        let simple = ctx
            .classname
            .rsplit('.')
            .next()
            .unwrap_or("Test")
            .to_owned();
        let _ = writeln!(
            self.body,
            "org.opentest4j.AssertionFailedError: {}",
            self.msg
        );
        let _ = writeln!(
            self.body,
            "\tat org.junit.jupiter.api.AssertionFailureBuilder.build(AssertionFailureBuilder.java:151)\n\tat org.junit.jupiter.api.AssertEquals.assertEquals(AssertEquals.java:197)"
        );
        let _ = writeln!(
            self.body,
            "\tat {}.{}({simple}.java:{})",
            ctx.classname,
            self.rng.pick(BASES),
            self.rng.range(20, 800)
        );
        for _ in 0..self.rng.range(10, 60) {
            let noun = cap(self.rng.pick(NOUNS));
            let _ = writeln!(
                self.body,
                "\tat com.acme.{}.{noun}Service.{}{noun}({noun}Service.java:{})",
                self.rng.pick(AREAS),
                self.rng.pick(BASES),
                self.rng.range(10, 2000)
            );
        }
        if self.rng.chance(3_000) {
            let _ = writeln!(
                self.body,
                "Caused by: java.lang.IllegalStateException: <{}> is {}\n\tat com.acme.core.Guard.check(Guard.java:42)\n\t... {} more",
                self.rng.pick(NOUNS),
                self.rng.pick(ADJS),
                self.rng.range(5, 40)
            );
        }
    }

    fn log_line(&mut self, line: &mut String) {
        line.clear();
        let _ = write!(
            line,
            "2024-05-{:02} {:02}:{:02}:{:02},{:03} {} [{}.{}] ",
            self.rng.range(1, 28),
            self.rng.below(24),
            self.rng.below(60),
            self.rng.below(60),
            self.rng.below(1000),
            self.rng.pick(LEVELS),
            self.rng.pick(AREAS),
            self.rng.pick(NOUNS)
        );
        let n = self.rng.below(100_000);
        let noun = self.rng.pick(NOUNS);
        let _ = match self.rng.below(6) {
            0 => writeln!(
                line,
                "GET /api/v1/{noun}s?id={n}&expand=true -> {} ({} ms)",
                self.rng.pick(&[200, 200, 201, 404, 500]),
                self.rng.below(900)
            ),
            1 => writeln!(
                line,
                "loaded <{} id={n} state={}>",
                cap(noun),
                self.rng.pick(ADJS)
            ),
            2 => writeln!(
                line,
                "SELECT id, status FROM {noun}s WHERE id = {n} AND status <> 'deleted'"
            ),
            3 => writeln!(
                line,
                "retrying connection to db-{}:5432 (attempt {}/5)",
                self.rng.below(8),
                self.rng.range(1, 5)
            ),
            4 => writeln!(line, "{} {noun} {n}: ok", self.rng.pick(VERBS)),
            _ => writeln!(
                line,
                "payload={{\"id\": {n}, \"{noun}\": \"{}\", \"tags\": [\"a\", \"b\"]}}",
                self.rng.pick(ADJS)
            ),
        };
    }

    /// A few lines of captured output; CDATA in surefire files, escaped in pytest's.
    fn small_output(&mut self, surefire: bool) -> io::Result<()> {
        let mut out = String::new();
        let mut line = String::new();
        for _ in 0..self.rng.range(1, 8) {
            self.log_line(&mut line);
            out.push_str(&line);
        }
        if surefire {
            cdata(&mut self.w, &out)
        } else {
            text(&mut self.w, &out)
        }
    }

    /// One of the few 1-5 MB captured outputs.
    fn big_output(&mut self, surefire: bool) -> io::Result<()> {
        let size = self.rng.range(1 << 20, 5 << 20).min(self.big.cap);
        let tag = if self.big.next % 3 == 2 {
            "system-err"
        } else {
            "system-out"
        };
        // Half of them in CDATA, whatever the flavour.
        let in_cdata = surefire || self.big.next % 2 == 1;
        self.big.next += 1;
        write!(self.w, "      <{tag}>")?;
        if in_cdata {
            self.w.write_all(b"<![CDATA[")?;
        }
        let start = self.w.bytes();
        let mut line = String::new();
        while self.w.bytes() - start < size {
            self.log_line(&mut line);
            if in_cdata {
                self.w.write_all(line.as_bytes())?;
            } else {
                text(&mut self.w, &line)?;
            }
        }
        self.stats.big_outputs += 1;
        self.stats.big_output_bytes += self.w.bytes() - start;
        if in_cdata {
            self.w.write_all(b"]]>")?;
        }
        writeln!(self.w, "</{tag}>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::floor::count_events;

    fn generate(size: u64, seed: u64) -> (Vec<u8>, JunitStats) {
        let mut out = Vec::new();
        let stats = write_junit(&mut out, size, seed).unwrap();
        (out, stats)
    }

    #[test]
    fn deterministic_and_at_least_the_target() {
        let (a, sa) = generate(300_000, 1);
        let (b, sb) = generate(300_000, 1);
        let (c, _) = generate(300_000, 2);
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        assert_ne!(a, c);
        assert!(a.len() >= 300_000);
        assert_eq!(sa.bytes, a.len() as u64);
    }

    #[test]
    fn well_formed_and_counted() {
        let (xml, stats) = generate(2_000_000, 3);
        let mut reader = quick_xml::Reader::from_reader(xml.as_slice());
        let counts = count_events(&mut reader).unwrap();
        assert_eq!(counts.testcases, stats.testcases);
        assert!(stats.failures > 0 && stats.errors > 0 && stats.skipped > 0);
        assert!(stats.reruns > 0 && stats.flaky > 0, "{stats:?}");
        assert_eq!(stats.big_outputs, 2);
        let s = String::from_utf8(xml).unwrap();
        assert_eq!(s.matches("<testsuite ").count() as u64, stats.suites);
        assert_eq!(s.matches("<failure ").count() as u64, stats.failures);
        assert!(s.contains("&lt;") && s.contains("&amp;") && s.contains("<![CDATA["));
    }
}
