//! Streaming readers for the reports a build writes — JUnit XML, Cobertura
//! XML and pylint output — and the quality gate over them.
//!
//! Readers stream (memory does not grow with the file), recompute counts
//! instead of trusting a report's own totals, and fail with the file, line
//! and column on bad input.
//!
//! ```
//! use std::path::Path;
//! use pipeline_reports::gate::{evaluate, Inputs, Thresholds};
//! use pipeline_reports::junit::{parse_junit_slice, JunitOptions};
//!
//! let xml = br#"<testsuite name="calc">
//!   <testcase classname="tests.test_calc" name="test_add" time="0.01"/>
//!   <testcase classname="tests.test_calc" name="test_div" file="tests/test_calc.py" line="12">
//!     <failure message="ZeroDivisionError">Traceback ...</failure>
//!   </testcase>
//! </testsuite>"#;
//! let tests = parse_junit_slice(xml, Path::new("junit.xml"), &JunitOptions::default())?;
//! assert_eq!((tests.counts.total, tests.counts.failed), (2, 1));
//! assert_eq!(tests.failures[0].file.as_deref(), Some("tests/test_calc.py"));
//!
//! let verdict = evaluate(
//!     &Thresholds::default().max_failures(0),
//!     Inputs { tests: Some(&tests), ..Inputs::default() },
//! );
//! assert!(!verdict.passed);
//! assert_eq!(verdict.violations[0].message(), "1 failing test(s); at most 0 allowed");
//! # Ok::<(), pipeline_reports::ReportError>(())
//! ```
#![warn(missing_docs)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod cobertura;
pub mod diff;
pub mod error;
pub mod gate;
pub mod junit;
mod location;
pub mod pylint;
pub mod render;
pub mod run;
mod xml;

pub use error::ReportError;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
