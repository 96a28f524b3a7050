//! `pipeline-report`: gate a build on its test, coverage and lint reports.
use std::process::ExitCode;

fn main() -> ExitCode {
    pipeline_report::main()
}
