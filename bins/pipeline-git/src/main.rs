//! `pipeline-git`: the git flow steps of a release pipeline.
use std::process::ExitCode;

fn main() -> ExitCode {
    pipeline_git::main()
}
