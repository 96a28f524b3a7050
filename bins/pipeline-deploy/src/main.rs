//! `pipeline-deploy`: package the artifact and check it by digest.
use std::process::ExitCode;

fn main() -> ExitCode {
    pipeline_deploy::main()
}
