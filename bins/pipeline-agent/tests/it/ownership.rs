//! The agent trusts only what its own user owns: a state directory or a
//! token of another user, open to others or reached through a symbolic
//! link makes `serve` refuse to start (exit 2, naming the path and the
//! fix), before it writes anything there. These tests make files of
//! `nobody` (uid 65534) with chown, so they run as root, as CI does.

use std::fs;
use std::os::unix::fs::{PermissionsExt as _, chown, symlink};
use std::path::Path;
use std::time::Duration;

use crate::harness::{Agent, run_bounded};

const NOBODY: u32 = 65_534;

fn as_root() {
    assert_eq!(
        rustix::process::geteuid().as_raw(),
        0,
        "these tests chown files to nobody: run them as root (CI does)"
    );
}

/// `serve` over the agent's state directory, which must refuse with exit
/// 2; returns its stderr.
fn refused(agent: &Agent) -> String {
    let out = run_bounded(&mut agent.serve_command(), Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        !agent.dir.join("agent.json").exists(),
        "the agent started: {stderr}"
    );
    stderr
}

fn mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_state_directory_made_beforehand_by_another_user_is_refused() {
    as_root();
    let agent = Agent::unstarted();
    // Like the system's temporary directory: anyone may create in it.
    mode(agent.root(), 0o1777);
    fs::create_dir(&agent.dir).unwrap();
    mode(&agent.dir, 0o700);
    chown(&agent.dir, Some(NOBODY), Some(NOBODY)).unwrap();
    // That user's token, which would let them deploy code run as root.
    let token = agent.dir.join("token");
    fs::write(&token, "a".repeat(64)).unwrap();
    mode(&token, 0o600);
    chown(&token, Some(NOBODY), Some(NOBODY)).unwrap();
    let stderr = refused(&agent);
    let dir = agent.dir.display().to_string();
    assert!(stderr.contains(&format!("{dir}: the state directory is owned by uid 65534 (nobody), not by the agent's user, uid 0 (root)")), "{stderr}");
    assert!(stderr.contains(&format!("chown -R root {dir}")), "{stderr}");
    assert!(!agent.dir.join("state.json").exists());
}

#[test]
fn a_state_directory_open_to_others_or_behind_a_link_is_refused() {
    let agent = Agent::unstarted();
    fs::create_dir(&agent.dir).unwrap();
    let dir = agent.dir.display().to_string();
    for bits in [0o770, 0o722, 0o1777] {
        mode(&agent.dir, bits);
        let stderr = refused(&agent);
        assert!(
            stderr.contains(&format!(
                "{dir}: the state directory can be written by its group or others (mode {bits:o})"
            )),
            "{stderr}"
        );
        assert!(stderr.contains(&format!("`chmod go-w {dir}`")), "{stderr}");
        assert!(!agent.dir.join("token").exists());
    }
    mode(&agent.dir, 0o700);
    let real = agent.root().join("real");
    fs::rename(&agent.dir, &real).unwrap();
    symlink(&real, &agent.dir).unwrap();
    let stderr = refused(&agent);
    assert!(
        stderr.contains(&format!("{dir}: the state directory is a symbolic link")),
        "{stderr}"
    );
    assert!(!real.join("token").exists());
}

#[test]
fn a_token_open_to_others_of_another_user_or_a_link_is_refused() {
    as_root();
    let agent = Agent::unstarted();
    fs::create_dir(&agent.dir).unwrap();
    mode(&agent.dir, 0o700);
    let token = agent.dir.join("token");
    let path = token.display().to_string();
    fs::write(&token, "b".repeat(64)).unwrap();
    for bits in [0o644, 0o666, 0o640, 0o604] {
        mode(&token, bits);
        let stderr = refused(&agent);
        assert!(
            stderr.contains(&format!(
                "{path}: the token can be read or written by its group or others (mode {bits:o})"
            )),
            "{stderr}"
        );
        assert!(stderr.contains(&format!("`chmod 600 {path}`")), "{stderr}");
    }
    mode(&token, 0o600);
    chown(&token, Some(NOBODY), Some(NOBODY)).unwrap();
    let stderr = refused(&agent);
    assert!(
        stderr.contains(&format!("{path}: the token is owned by uid 65534 (nobody)")),
        "{stderr}"
    );

    // A link to another user's file, private to them.
    fs::remove_file(&token).unwrap();
    let theirs = agent.root().join("theirs");
    fs::write(&theirs, "c".repeat(64)).unwrap();
    mode(&theirs, 0o600);
    chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    symlink(&theirs, &token).unwrap();
    let stderr = refused(&agent);
    assert!(
        stderr.contains(&format!("{path}: the token is a symbolic link")),
        "{stderr}"
    );
    assert!(
        stderr.contains("replace the link with the token itself"),
        "{stderr}"
    );
    // Nothing of it was printed.
    assert!(!stderr.contains(&"c".repeat(64)), "{stderr}");
}
