//! The gate as one call: the report files found from paths and globs, read
//! and merged, judged against the thresholds. What `pipeline-report gate`
//! and `pipeline run` both call; the caller renders the outcome.

use std::path::{Path, PathBuf};

use crate::cobertura::{self, CoberturaOptions, CoverageReport};
use crate::diff::DiffCoverage;
use crate::gate::{self, Inputs, Thresholds, Verdict};
use crate::junit::{self, JunitOptions, JunitReport};
use crate::pylint::{self, PylintReport};
use crate::render::GateOutcome;

/// Which reports to read, how, and what to require of them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GateRequest {
    /// JUnit XML: paths or globs.
    pub junit: Vec<String>,
    /// Cobertura XML: paths or globs.
    pub cobertura: Vec<String>,
    /// pylint output: paths or globs.
    pub pylint: Vec<String>,
    /// A glob matching nothing is fine (else an error).
    pub allow_missing: bool,
    /// The directory file paths inside the reports are relative to.
    pub workspace: PathBuf,
    /// The most of a failing test's captured output kept, per stream.
    pub max_output_bytes: usize,
    /// What is required.
    pub thresholds: Thresholds,
}

impl GateRequest {
    /// A gate over nothing yet, in `workspace`, with the default limits.
    pub fn new(workspace: impl Into<PathBuf>) -> Self {
        Self {
            junit: Vec::new(),
            cobertura: Vec::new(),
            pylint: Vec::new(),
            allow_missing: false,
            workspace: workspace.into(),
            max_output_bytes: JunitOptions::default().max_output_bytes,
            thresholds: Thresholds::default(),
        }
    }
}

/// Why the gate could not judge: a pattern or a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// A pattern that is not a glob, or matches nothing.
    #[error("{kind} '{pattern}' {problem}")]
    Pattern {
        /// `junit`, `cobertura` or `pylint`.
        kind: &'static str,
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A report that does not read.
    #[error(transparent)]
    Report(#[from] crate::ReportError),
}

impl pipeline_ci::Classified for GateError {
    fn exit(&self) -> pipeline_ci::Exit {
        pipeline_ci::Exit::Usage
    }
}

impl pipeline_ci::Classified for crate::ReportError {
    fn exit(&self) -> pipeline_ci::Exit {
        pipeline_ci::Exit::Usage
    }
}

/// The reports read, and the verdict.
#[derive(Debug)]
#[non_exhaustive]
pub struct GateRun {
    /// The thresholds applied.
    pub thresholds: Thresholds,
    /// The JUnit reports, merged (`None` without any pattern).
    pub tests: Option<JunitReport>,
    /// The Cobertura reports, merged (`None` without any pattern).
    pub coverage: Option<CoverageReport>,
    /// The pylint reports.
    pub pylint: Vec<PylintReport>,
    /// The coverage of the changed lines, when the caller gave them.
    pub diff: Option<DiffCoverage>,
    /// The verdict.
    pub verdict: Verdict,
    /// The commit the reports were made from, when the caller knows it:
    /// a passed gate unlocks the release of that commit only.
    pub commit: Option<String>,
}

impl GateRun {
    /// The outcome, for rendering.
    pub fn outcome(&self) -> GateOutcome<'_> {
        GateOutcome {
            thresholds: &self.thresholds,
            verdict: &self.verdict,
            tests: self.tests.as_ref(),
            coverage: self.coverage.as_ref(),
            pylint: &self.pylint,
            diff: self.diff.as_ref(),
            commit: self.commit.as_deref(),
        }
    }
}

/// The reports of `request`, read and merged: the JUnit files as one run,
/// the Cobertura files as a union of lines (and arms), the pylint files
/// each. The verdict waits for [`judge`], which the caller runs once it has
/// added what it knows (the coverage of changed lines).
///
/// # Errors
///
/// [`GateError`]: a pattern matching nothing (unless allowed) or not a
/// glob, a report that does not read (with its file and line).
pub fn read(request: &GateRequest) -> Result<GateRun, GateError> {
    let junit_files = expand("junit", &request.junit, request.allow_missing)?;
    let cobertura_files = expand("cobertura", &request.cobertura, request.allow_missing)?;
    let pylint_files = expand("pylint", &request.pylint, request.allow_missing)?;
    let tests = if request.junit.is_empty() {
        None
    } else {
        let options = JunitOptions::default()
            .workspace(&request.workspace)
            .max_output_bytes(request.max_output_bytes);
        let mut merged = JunitReport::default();
        for path in &junit_files {
            tracing::info!("reading JUnit report {}", path.display());
            merged.merge(junit::parse_junit_file(path, &options)?, &options);
        }
        Some(merged)
    };
    let coverage = if request.cobertura.is_empty() {
        None
    } else {
        let options = CoberturaOptions::default().workspace(&request.workspace);
        let mut merged: Option<CoverageReport> = None;
        for path in &cobertura_files {
            tracing::info!("reading Cobertura report {}", path.display());
            let report = cobertura::parse_cobertura_file(path, &options)?;
            match merged.as_mut() {
                Some(m) => m.merge(report),
                None => merged = Some(report),
            }
        }
        Some(merged.unwrap_or_default())
    };
    let pylint = pylint_files
        .iter()
        .map(|path| pylint::parse_pylint_file(path))
        .collect::<Result<Vec<_>, _>>()?;
    let verdict = gate::evaluate(
        &request.thresholds,
        Inputs {
            tests: tests.as_ref(),
            coverage: coverage.as_ref(),
            pylint: &pylint,
            diff: None,
        },
    );
    Ok(GateRun {
        thresholds: request.thresholds.clone(),
        tests,
        coverage,
        pylint,
        diff: None,
        verdict,
        commit: None,
    })
}

/// Judges `run` against its thresholds (again, after the caller added the
/// coverage of changed lines).
pub fn judge(run: &mut GateRun) {
    run.verdict = gate::evaluate(
        &run.thresholds,
        Inputs {
            tests: run.tests.as_ref(),
            coverage: run.coverage.as_ref(),
            pylint: &run.pylint,
            diff: run.diff.as_ref(),
        },
    );
}

/// Expands each pattern: an existing path is taken as is, anything else as
/// a glob. Files are sorted and each is listed once. A pattern matching
/// nothing is an error unless `allow_missing`.
///
/// # Errors
///
/// [`GateError::Pattern`].
pub fn expand(
    kind: &'static str,
    patterns: &[String],
    allow_missing: bool,
) -> Result<Vec<PathBuf>, GateError> {
    let problem = |pattern: &str, problem: String| GateError::Pattern {
        kind,
        pattern: pattern.to_owned(),
        problem,
    };
    let mut files = Vec::new();
    for pattern in patterns {
        if Path::new(pattern).is_file() {
            files.push(PathBuf::from(pattern));
            continue;
        }
        let matches = glob::glob(pattern)
            .map_err(|e| problem(pattern, format!("is not a valid glob: {e}")))?;
        let mut found = 0;
        for entry in matches {
            let path =
                entry.map_err(|e| problem(pattern, format!("cannot read a directory: {e}")))?;
            if path.is_file() {
                files.push(path);
                found += 1;
            }
        }
        if found == 0 && !allow_missing {
            return Err(problem(
                pattern,
                "matches no file (pass --allow-missing if that can happen)".to_owned(),
            ));
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_expand_sorted_and_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        for f in ["a/2.xml", "a/b/1.xml", "a/x.txt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let root = dir.path().display();
        let got = expand(
            "junit",
            &[format!("{root}/a/**/*.xml"), format!("{root}/a/2.xml")],
            false,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![dir.path().join("a/2.xml"), dir.path().join("a/b/1.xml")]
        );
        let err = expand("junit", &[format!("{root}/none/*.xml")], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("matches no file"), "{err}");
        assert!(err.starts_with("junit '"), "{err}");
        assert!(
            expand("junit", &[format!("{root}/none/*.xml")], true)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn one_call_reads_merges_and_judges() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.xml"),
            r#"<testsuite><testcase classname="t" name="ok"/><testcase classname="t" name="bad"><failure message="no"/></testcase></testsuite>"#,
        )
        .unwrap();
        let mut request = GateRequest::new(dir.path());
        request.junit = vec![format!("{}/*.xml", dir.path().display())];
        request.thresholds = Thresholds::default().max_failures(0);
        let run = read(&request).unwrap();
        assert_eq!(run.tests.as_ref().unwrap().counts.total, 2);
        assert!(!run.verdict.passed);
        request.thresholds = Thresholds::default().max_failures(1);
        assert!(read(&request).unwrap().verdict.passed);
    }
}
