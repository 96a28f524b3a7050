#![allow(clippy::unwrap_used)]

mod agent;
mod bad_input;
mod flood;
mod harness;
mod http;
mod load;
mod local_target;
mod metrics;
mod ownership;
mod recovery;
mod releases;
mod testapp;
