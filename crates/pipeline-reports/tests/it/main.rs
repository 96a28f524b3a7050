//! The integration tests of `pipeline-reports`: every real report in
//! `fixtures/reports/` read with its expected result, bad input, and
//! round-trips of generated reports.
#![allow(clippy::unwrap_used)]

mod bad_input;
mod cobertura;
mod junit;
mod pylint;
mod real_tools;
mod roundtrip;

use std::path::PathBuf;

/// A file under `fixtures/reports/`.
pub(crate) fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/reports"
    ))
    .join(relative)
}

/// Every file with the extension under a fixture folder, sorted.
pub(crate) fn fixtures_in(folder: &str, extension: &str) -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, extension: &str, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, extension, out);
            } else if path.extension().is_some_and(|e| e == extension) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&fixture(folder), extension, &mut out);
    out.sort();
    out
}
