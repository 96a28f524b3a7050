//! Streaming readers for the reports a build writes — JUnit XML, Cobertura
//! XML and pylint output — and the quality gate over them.
#![warn(missing_docs)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod cobertura;
pub mod error;
pub mod gate;
pub mod junit;
mod location;
pub mod pylint;
pub mod render;
mod xml;

pub use error::ReportError;
