//! `pipeline-promotion` against real repositories made with the git command
//! line, its results checked with git itself, and against a fake GitHub
//! built from the REST API's documented shapes.
#![allow(clippy::unwrap_used, clippy::result_large_err)]

mod faults;
mod fixture;
mod github;
mod notify;
mod store;
