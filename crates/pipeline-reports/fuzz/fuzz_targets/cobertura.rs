//! Any bytes given to the Cobertura reader give a report or an error, never
//! a panic, and covered never exceeds valid.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pipeline_reports::cobertura::{CoberturaOptions, parse_cobertura_slice};

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = parse_cobertura_slice(data, Path::new("fuzz.xml"), &CoberturaOptions::default()) {
        assert!(report.lines_covered <= report.lines_valid);
        assert!(report.branches_covered <= report.branches_valid);
    }
});
