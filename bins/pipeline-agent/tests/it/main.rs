#![allow(clippy::unwrap_used)]

mod http;
mod testapp;
