//! `pipeline-promote`: promote the same artifact through the environments.
use std::process::ExitCode;

fn main() -> ExitCode {
    pipeline_promote::main()
}
