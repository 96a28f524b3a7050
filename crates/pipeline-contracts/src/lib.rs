//! The typed contracts between the steps of the pipeline, in one place:
//! every document a binary prints with `--json`, the records the state
//! stores keep, and the local agent's HTTP API. Producers serialize these
//! types and consumers (the other steps, `pipeline run`, the agent's
//! client, scripts written in Rust, the tests) deserialize them, so a
//! field cannot be renamed on one side only.
//!
//! Within a schema version (`pipeline-promote/status/v1`, …) fields are
//! only added, never renamed or removed; a document's `schema` field names
//! it. The crate has no logic beyond small helpers, and no dependency but
//! `serde`.
//!
//! ```
//! use pipeline_contracts::promote::{Outcome, Record, StatusDoc};
//!
//! let text = r#"{"schema": "pipeline-promote/status/v1", "envs": [
//!   {"env": "qa", "healthy": true, "slot": "blue", "record": {
//!     "env": "qa", "version": "1.4.0", "sha256": "ab", "outcome": "live",
//!     "live_version": "1.4.0", "live_sha256": "ab", "at": 1700000000,
//!     "live_since": 1700000000, "by": "ci", "note": ""}}]}"#;
//! let doc: StatusDoc = serde_json::from_str(text)?;
//! assert_eq!(doc.schema, StatusDoc::SCHEMA);
//! let record: &Record = doc.envs[0].record.as_ref().expect("a record");
//! assert_eq!(record.outcome, Outcome::Live);
//! # Ok::<(), serde_json::Error>(())
//! ```
#![warn(missing_docs)]

pub mod agent;
pub mod deploy;
pub mod git;
pub mod promote;
pub mod run;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
