//! `pipeline`: the whole job.
use std::process::ExitCode;

fn main() -> ExitCode {
    pipeline::main()
}
