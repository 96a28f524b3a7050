//! `pipeline-agent`: the local host agent.
use std::process::ExitCode;

fn main() -> ExitCode {
    pipeline_agent::main()
}
