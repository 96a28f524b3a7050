//! `pipeline-promotion` against real repositories made with the git command
//! line, its results checked with git itself.
#![allow(clippy::unwrap_used)]

mod fixture;
mod store;
