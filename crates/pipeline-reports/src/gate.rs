//! The quality gate: thresholds over the merged reports, and every reason a
//! build does not pass them.

use serde::Serialize;

use crate::cobertura::CoverageReport;
use crate::diff::DiffCoverage;
use crate::junit::JunitReport;
use crate::pylint::PylintReport;

/// The limits a build must meet. A `None` limit is not checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Thresholds {
    /// Minimum line coverage, in percent.
    pub min_line_coverage: Option<f64>,
    /// Minimum branch coverage, in percent.
    pub min_branch_coverage: Option<f64>,
    /// Minimum pylint score, out of 10.
    pub min_pylint_score: Option<f64>,
    /// Minimum coverage of the changed lines, in percent.
    pub min_diff_coverage: Option<f64>,
    /// Most failed plus errored tests allowed.
    pub max_failures: Option<u64>,
    /// Whether a run with no tests at all may pass.
    pub allow_empty: bool,
}

impl Thresholds {
    /// Sets the minimum line coverage (percent).
    pub fn min_line_coverage(mut self, percent: f64) -> Self {
        self.min_line_coverage = Some(percent);
        self
    }

    /// Sets the minimum branch coverage (percent).
    pub fn min_branch_coverage(mut self, percent: f64) -> Self {
        self.min_branch_coverage = Some(percent);
        self
    }

    /// Sets the minimum pylint score.
    pub fn min_pylint_score(mut self, score: f64) -> Self {
        self.min_pylint_score = Some(score);
        self
    }

    /// Sets the minimum coverage of the changed lines (percent).
    pub fn min_diff_coverage(mut self, percent: f64) -> Self {
        self.min_diff_coverage = Some(percent);
        self
    }

    /// Sets the most failing tests allowed.
    pub fn max_failures(mut self, count: u64) -> Self {
        self.max_failures = Some(count);
        self
    }

    /// Lets a run without tests pass.
    pub fn allow_empty(mut self, allow: bool) -> Self {
        self.allow_empty = allow;
        self
    }
}

/// The merged reports the gate looks at; each kind may be absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// Test results.
    pub tests: Option<&'a JunitReport>,
    /// Coverage.
    pub coverage: Option<&'a CoverageReport>,
    /// Lint results, one per pylint file.
    pub pylint: &'a [PylintReport],
    /// Coverage of the changed lines.
    pub diff: Option<&'a DiffCoverage>,
}

/// One reason the gate failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Violation {
    /// More failed and errored tests than allowed.
    Failures {
        /// Failed plus errored tests.
        actual: u64,
        /// The most allowed.
        max: u64,
    },
    /// No test ran.
    NoTests,
    /// Line coverage under the minimum.
    LineCoverage {
        /// Percent measured.
        actual: f64,
        /// Percent required.
        min: f64,
    },
    /// Branch coverage under the minimum.
    BranchCoverage {
        /// Percent measured.
        actual: f64,
        /// Percent required.
        min: f64,
    },
    /// A coverage minimum was set but the reports have no such data.
    NoCoverageData {
        /// `line` or `branch`.
        kind: &'static str,
    },
    /// The pylint score under the minimum.
    PylintScore {
        /// The score.
        actual: f64,
        /// The minimum.
        min: f64,
        /// The file with that score.
        file: String,
    },
    /// Coverage of the changed lines under the minimum.
    DiffCoverage {
        /// Percent measured.
        actual: f64,
        /// Percent required.
        min: f64,
        /// The ref the change was measured against.
        base: String,
    },
    /// A pylint score minimum was set but a report carries no score.
    NoPylintScore {
        /// The report without a score.
        file: String,
        /// Its format.
        format: String,
    },
}

impl Violation {
    /// A one-line statement of the violation, for people.
    pub fn message(&self) -> String {
        match self {
            Violation::Failures { actual, max } => {
                format!("{actual} failing test(s); at most {max} allowed")
            }
            Violation::NoTests => "no tests ran (no testcase in any JUnit report); pass --allow-empty if that is expected".into(),
            Violation::LineCoverage { actual, min } => {
                format!("line coverage {actual:.2}% is below the minimum {min}%")
            }
            Violation::BranchCoverage { actual, min } => {
                format!("branch coverage {actual:.2}% is below the minimum {min}%")
            }
            Violation::NoCoverageData { kind } => format!(
                "a minimum {kind} coverage is set but the coverage reports hold no {kind} data"
            ),
            Violation::PylintScore { actual, min, file } => {
                format!("pylint score {actual:.2}/10 ({file}) is below the minimum {min}")
            }
            Violation::DiffCoverage { actual, min, base } => format!(
                "coverage of the lines changed since {base} {actual:.2}% is below the minimum {min}%"
            ),
            Violation::NoPylintScore { file, format } => format!(
                "a minimum pylint score is set but {file} ({format} format) carries no score; use --output-format=json2 or keep the text report's rating line"
            ),
        }
    }
}

/// The gate's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Whether every threshold was met.
    pub passed: bool,
    /// Every threshold not met, in the order checked.
    pub violations: Vec<Violation>,
}

/// Checks every threshold given against the reports.
pub fn evaluate(thresholds: &Thresholds, inputs: Inputs<'_>) -> Verdict {
    let mut violations = Vec::new();
    if let Some(tests) = inputs.tests {
        let failing = tests.counts.failed + tests.counts.errored;
        if let Some(max) = thresholds.max_failures {
            if failing > max {
                violations.push(Violation::Failures {
                    actual: failing,
                    max,
                });
            }
        }
        if tests.counts.total == 0 && !thresholds.allow_empty {
            violations.push(Violation::NoTests);
        }
    }
    if let Some(coverage) = inputs.coverage {
        if let Some(min) = thresholds.min_line_coverage {
            match coverage.line_percent() {
                Some(actual) if actual + 1e-9 < min => {
                    violations.push(Violation::LineCoverage { actual, min })
                }
                Some(_) => {}
                None => violations.push(Violation::NoCoverageData { kind: "line" }),
            }
        }
        if let Some(min) = thresholds.min_branch_coverage {
            match coverage.branch_percent() {
                Some(actual) if actual + 1e-9 < min => {
                    violations.push(Violation::BranchCoverage { actual, min })
                }
                Some(_) => {}
                None => violations.push(Violation::NoCoverageData { kind: "branch" }),
            }
        }
    }
    if let (Some(min), Some(diff)) = (thresholds.min_diff_coverage, inputs.diff) {
        // No changed line of code: nothing to cover, nothing missed.
        if let Some(actual) = diff.percent.filter(|actual| actual + 1e-9 < min) {
            violations.push(Violation::DiffCoverage {
                actual,
                min,
                base: diff.base.clone(),
            });
        }
    }
    if let Some(min) = thresholds.min_pylint_score {
        for report in inputs.pylint {
            match report.score {
                Some(actual) if actual + 1e-9 < min => violations.push(Violation::PylintScore {
                    actual,
                    min,
                    file: report_name(report),
                }),
                Some(_) => {}
                None => violations.push(Violation::NoPylintScore {
                    file: report_name(report),
                    format: format!("{:?}", report.format).to_lowercase(),
                }),
            }
        }
    }
    Verdict {
        passed: violations.is_empty(),
        violations,
    }
}

fn report_name(report: &PylintReport) -> String {
    report.file.clone()
}
