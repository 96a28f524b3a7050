//! End-to-end tests of `pipeline`: `pipeline run` on a real git repository
//! with a bare remote, a real `pipeline-agent` and the `pipeline-testapp`
//! releases it runs; `pipeline demo` with the real sample app.
//!
//! `pipeline` runs the step binaries beside it: build the workspace first
//! (`cargo build --workspace`).
#![allow(clippy::unwrap_used)]

mod demo;
mod help;
mod run;
mod sandbox;
