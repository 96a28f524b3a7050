//! Any bytes given to the JUnit reader give a report or an error, never a
//! panic, and a small bound on captured output is kept.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pipeline_reports::junit::{JunitOptions, parse_junit_slice};

fuzz_target!(|data: &[u8]| {
    let options = JunitOptions::default().max_output_bytes(64).max_failures(8);
    if let Ok(report) = parse_junit_slice(data, Path::new("fuzz.xml"), &options) {
        let c = report.counts;
        assert_eq!(c.total, c.passed + c.failed + c.errored + c.skipped);
        assert!(c.flaky <= c.passed);
        assert!(report.failures.len() <= 8);
        for failure in &report.failures {
            assert!(failure.details.len() <= 64);
        }
    }
});
