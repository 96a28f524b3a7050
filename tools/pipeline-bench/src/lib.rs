//! Benchmark tooling for the report gate and the local host agent.
//!
//! - [`junit`] and [`cobertura`] stream large, realistic, deterministic
//!   reports to any [`std::io::Write`], sized by a byte target;
//! - [`floor`] is the bare quick-xml event loop, the lower bound on the time of
//!   any parser built on quick-xml;
//! - [`load`] is an HTTP/1.1 load generator (keep-alive connections, every
//!   latency kept) and a timer of blue/green switches.
//!
//! The binaries `gen-reports`, `xml-floor` and `http-bench` are thin wrappers
//! over these; the scripts `tools/pipeline-bench/scripts/report.sh` and
//! `crates/pipeline-host/scripts/bench-proxy.sh` run the comparisons.
//!
//! ```
//! let mut out = Vec::new();
//! let stats = pipeline_bench::junit::write_junit(&mut out, 64 * 1024, 7).unwrap();
//! assert!(out.len() as u64 >= 64 * 1024);
//! let mut reader = quick_xml::Reader::from_reader(out.as_slice());
//! let counts = pipeline_bench::floor::count_events(&mut reader).unwrap();
//! assert_eq!(counts.testcases, stats.testcases);
//! ```
#![warn(missing_docs)]

pub mod cobertura;
pub mod floor;
pub mod junit;
pub mod load;
pub mod rng;
mod words;
mod xml;
