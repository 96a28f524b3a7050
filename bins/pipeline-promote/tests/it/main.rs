//! End-to-end tests of `pipeline-promote`: a real git repository with a
//! bare remote (the state store), a real `pipeline-agent` and the
//! `pipeline-testapp` releases it runs.
#![allow(clippy::unwrap_used)]

mod promote;
