//! Every binary's `--help`, and each command's, ends with examples and the
//! exit codes, the way the best command lines are read: from the bottom.

use std::process::Command;

use crate::sandbox::bin;

/// `(binary, its commands)`: each is asked `--help`.
const COMMANDS: [(&str, &[&str]); 6] = [
    ("pipeline", &["run", "demo"]),
    ("pipeline-report", &["gate"]),
    ("pipeline-git", &["version", "changelog", "sync", "release"]),
    ("pipeline-deploy", &["package", "verify"]),
    (
        "pipeline-promote",
        &["promote", "rollback", "status", "history"],
    ),
    ("pipeline-agent", &["serve", "status"]),
];

fn help(binary: &str, command: Option<&str>) -> String {
    let mut cmd = Command::new(bin(binary));
    cmd.args(command).arg("--help");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{binary} {command:?} --help");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_help_ends_with_examples_and_the_exit_codes() {
    for (binary, commands) in COMMANDS {
        let top = help(binary, None);
        assert!(top.contains("Examples:"), "{binary} --help:\n{top}");
        assert!(top.contains("Exit codes:"), "{binary} --help:\n{top}");
        for command in commands {
            let text = help(binary, Some(command));
            let exit = text
                .rfind("Exit codes:")
                .unwrap_or_else(|| panic!("{binary} {command} --help has no exit codes:\n{text}"));
            // Examples come before the exit codes, after the options (either
            // the command's own or its binary's).
            let examples = text.rfind("Examples:");
            assert!(
                examples.is_some_and(|e| e < exit),
                "{binary} {command} --help has no examples:\n{text}"
            );
            for code in ["0 ", "2 "] {
                assert!(text[exit..].contains(code), "{binary} {command}:\n{text}");
            }
        }
    }
}
