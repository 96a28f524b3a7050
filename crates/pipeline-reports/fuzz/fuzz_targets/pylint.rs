//! Any bytes given to the pylint reader give a report or an error, never a
//! panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pipeline_reports::pylint::parse_pylint;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = parse_pylint(data, Path::new("fuzz.txt")) {
        assert_eq!(report.counts.total(), report.messages.len());
    }
});
