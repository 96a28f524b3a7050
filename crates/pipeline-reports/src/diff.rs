//! Coverage of the changed lines: the lines a change adds or modifies
//! (computed elsewhere, from git) held against the merged Cobertura
//! coverage, as `diff-cover` and Codecov's patch status do.
//!
//! Only changed lines that the coverage reports list as code count; a
//! changed file the reports do not list at all (documentation, a file of
//! another language) counts for nothing, as in `diff-cover`.
//!
//! **Paths.** A changed file (relative to the repository's root) is matched
//! to the coverage file with the same path, else to the one whose path ends
//! with it or that it ends with at a `/` (coverage written with absolute
//! paths, or relative to a subdirectory such as `src/`); of several, the
//! longest match wins.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::path::Path;
//! use pipeline_reports::cobertura::{parse_cobertura_slice, CoberturaOptions};
//! use pipeline_reports::diff::diff_coverage;
//!
//! let xml = br#"<coverage><sources><source>/ci/src</source></sources><packages><package><classes>
//!   <class filename="calc.py"><lines><line number="1" hits="1"/><line number="2" hits="0"/><line number="3" hits="0"/></lines></class>
//! </classes></package></packages></coverage>"#;
//! let coverage = parse_cobertura_slice(xml, Path::new("coverage.xml"), &CoberturaOptions::default())?;
//! let changed = BTreeMap::from([("src/calc.py".to_owned(), vec![(1, 3), (9, 9)])]);
//! let diff = diff_coverage(&coverage, "origin/main", &changed);
//! assert_eq!((diff.lines_covered, diff.lines_valid), (1, 3));
//! assert_eq!(diff.uncovered[0].file, "src/calc.py");
//! assert_eq!(diff.uncovered[0].lines, vec![[2, 3]]);
//! # Ok::<(), pipeline_reports::ReportError>(())
//! ```

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::cobertura::CoverageReport;

/// Coverage of the changed lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffCoverage {
    /// The ref the change is measured against.
    pub base: String,
    /// Changed lines that are code.
    pub lines_valid: u64,
    /// Of those, the lines run.
    pub lines_covered: u64,
    /// `lines_covered` in percent of `lines_valid`; `None` when no changed
    /// line is code.
    pub percent: Option<f64>,
    /// Per changed file that holds code lines, sorted by path.
    pub files: Vec<DiffFile>,
    /// The changed code lines not run, per file, as inclusive ranges.
    pub uncovered: Vec<Uncovered>,
}

/// One changed file's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffFile {
    /// The file, relative to the repository's root.
    pub file: String,
    /// Its changed lines that are code.
    pub lines_valid: u64,
    /// Of those, the lines run.
    pub lines_covered: u64,
}

/// A file's changed lines that were not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uncovered {
    /// The file, relative to the repository's root.
    pub file: String,
    /// Inclusive ranges `[first, last]` of consecutive line numbers.
    pub lines: Vec<[u32; 2]>,
}

/// Holds `changed` (per repository-relative file, inclusive ranges of
/// changed lines) against `coverage`; see the [module documentation](self).
pub fn diff_coverage(
    coverage: &CoverageReport,
    base: &str,
    changed: &BTreeMap<String, Vec<(u32, u32)>>,
) -> DiffCoverage {
    let matcher = Matcher::new(coverage);
    let mut out = DiffCoverage {
        base: base.to_owned(),
        ..DiffCoverage::default()
    };
    for (file, ranges) in changed {
        let Some(covered_file) = matcher.find(file) else {
            continue;
        };
        let mut valid = 0u64;
        let mut covered = 0u64;
        let mut missed: Vec<[u32; 2]> = Vec::new();
        for &(first, last) in ranges {
            for line in first..=last {
                match coverage.line_status(covered_file, line) {
                    Some(true) => {
                        valid += 1;
                        covered += 1;
                    }
                    Some(false) => {
                        valid += 1;
                        match missed.last_mut() {
                            Some([_, end]) if end.checked_add(1) == Some(line) => *end = line,
                            _ => missed.push([line, line]),
                        }
                    }
                    None => {}
                }
            }
        }
        if valid == 0 {
            continue;
        }
        out.lines_valid += valid;
        out.lines_covered += covered;
        out.files.push(DiffFile {
            file: file.clone(),
            lines_valid: valid,
            lines_covered: covered,
        });
        if !missed.is_empty() {
            out.uncovered.push(Uncovered {
                file: file.clone(),
                lines: missed,
            });
        }
    }
    out.percent =
        (out.lines_valid > 0).then(|| out.lines_covered as f64 * 100.0 / out.lines_valid as f64);
    out
}

/// Finds the coverage file of a changed file.
struct Matcher<'a> {
    exact: FxHashMap<&'a str, &'a str>,
    by_base: FxHashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Matcher<'a> {
    fn new(coverage: &'a CoverageReport) -> Self {
        let mut exact = FxHashMap::default();
        let mut by_base: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
        for f in &coverage.files {
            let path = f.file.as_str();
            exact.insert(path, path);
            by_base.entry(base_name(path)).or_default().push(path);
        }
        Self { exact, by_base }
    }

    fn find(&self, file: &str) -> Option<&'a str> {
        if let Some(found) = self.exact.get(file) {
            return Some(found);
        }
        let candidates = self.by_base.get(base_name(file))?;
        candidates
            .iter()
            .filter_map(|&c| {
                let shared = if ends_at_slash(c, file) {
                    file.len()
                } else if ends_at_slash(file, c) {
                    c.len()
                } else {
                    return None;
                };
                Some((shared, c))
            })
            .max_by_key(|(shared, c)| (*shared, std::cmp::Reverse(*c)))
            .map(|(_, c)| c)
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Whether `long` ends with `short` and the character before is a `/`.
fn ends_at_slash(long: &str, short: &str) -> bool {
    long.len() > short.len()
        && long.ends_with(short)
        && long.as_bytes()[long.len() - short.len() - 1] == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_at_a_slash_the_longest_first() {
        assert!(ends_at_slash("/ci/src/a.py", "src/a.py"));
        assert!(!ends_at_slash("/ci/xsrc/a.py", "src/a.py"));
        assert!(!ends_at_slash("a.py", "a.py"));
    }
}
