//! `pipeline demo` with the real sample app: it builds a Python virtual
//! environment from PyPI, so it is slow (a minute or two), but it runs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::sandbox::{
    PIPELINE, POLL, assert_steps_built, kill_leftovers, processes_in, run_bounded, scrub, text,
};

/// Generous: the venv builds from PyPI, and every environment starts the app.
const DEMO_LIMIT: Duration = Duration::from_secs(900);

/// Kills whatever the demo left in its sandbox, even when the test fails.
struct Cleanup<'a>(&'a Path);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        kill_leftovers(self.0);
    }
}

#[test]
fn the_demo_ships_the_sample_app_and_rolls_the_broken_change_back() {
    assert_steps_built();
    let root = tempfile::tempdir().unwrap();
    let root_dir = root.path().canonicalize().unwrap();
    let _cleanup = Cleanup(&root_dir);
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../app");
    assert!(
        app.join("run.sh").exists(),
        "no sample app at {}",
        app.display()
    );
    let sandbox = root_dir.join("demo");
    let o = run_bounded(
        scrub(&mut Command::new(PIPELINE))
            .arg("demo")
            .arg("--exit")
            .arg("--dir")
            .arg(&sandbox)
            .arg("--app")
            .arg(&app)
            .current_dir(&root_dir),
        DEMO_LIMIT,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        out.contains("production: http://127.0.0.1:"),
        "{}",
        text(&o)
    );
    // The step's own summary, which `pipeline` passes through on stdout.
    assert!(out.contains("rolled back to 0.2.0"), "{}", text(&o));
    assert!(
        err.contains("production still runs the first"),
        "{}",
        text(&o)
    );

    // --exit stopped the agent and its apps: nothing runs in the sandbox.
    // (A process may still be on its way out: look again for a while.)
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left = processes_in(&root_dir);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(POLL);
        left = processes_in(&root_dir);
    }
    assert!(left.is_empty(), "still running after the demo: {left:?}");
}
