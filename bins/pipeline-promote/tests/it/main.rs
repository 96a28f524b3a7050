//! End-to-end tests of `pipeline-promote`: a real git repository with a
//! bare remote (the state store), a real `pipeline-agent` and the
//! `pipeline-testapp` releases it runs; and the cloud targets against
//! `pipeline-testkit`'s fakes.
#![allow(clippy::unwrap_used)]

mod clouds;
mod common;
mod promote;
