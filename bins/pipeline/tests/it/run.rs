//! `pipeline run` on a sandbox repository, with a test command that writes
//! its reports without Python and `pipeline-testapp` as the app.

use std::fs;

use crate::sandbox::{
    COBERTURA_LOW, JUNIT_FAILED, JUNIT_PASSED, Job, Sandbox, stderr, test_command, text,
};

const JUNIT_ONLY: &str = r#"reports = { junit = ["reports/junit.xml"] }
gate = { max_failures = 0 }"#;
const SMOKE: &str = r#"curl -fsS "$SLOT_URL/health""#;

#[test]
fn the_job_releases_packages_and_promotes_through_every_environment() {
    let s = Sandbox::with_agent();
    s.configure(&Job {
        test: &test_command(JUNIT_PASSED, None, 0),
        reports_and_gate: JUNIT_ONLY,
        prod_validate: SMOKE,
    });
    let o = s.run();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The release: the tag and master at it, on the remote.
    assert_eq!(s.remote_tags(), ["v0.1.0", "v0.2.0"], "{}", text(&o));
    let tagged = s.remote_commit("refs/tags/v0.2.0").unwrap();
    assert_eq!(
        s.remote_commit("refs/heads/master").as_deref(),
        Some(tagged.as_str())
    );

    // Both environments serve it.
    assert_eq!(s.version_at(0).as_deref(), Some("0.2.0"), "{}", text(&o));
    assert_eq!(s.version_at(1).as_deref(), Some("0.2.0"), "{}", text(&o));

    let err = stderr(&o);
    for step in [
        "==> sync",
        "==> test",
        "==> gate",
        "==> release",
        "==> package",
        "==> promote 0.2.0 into dev",
        "==> promote 0.2.0 into prod",
        "the job took",
    ] {
        assert!(err.contains(step), "no {step:?} in:\n{err}");
    }
    assert!(!err.contains("FAILED"), "{err}");
    assert!(!err.contains("already released"), "{err}");
    // The gate's verdict is kept for the first promotion.
    let gate = fs::read_to_string(s.repo.join(".pipeline/gate.json")).unwrap();
    let gate: serde_json::Value = serde_json::from_str(&gate).unwrap();
    assert_eq!(gate["gate"]["passed"], true, "{gate}");
    assert_eq!(s.last_outcome("prod")["outcome"], "live");
}

#[test]
fn a_failing_unit_test_stops_the_job_before_any_tag() {
    let s = Sandbox::with_agent();
    s.configure(&Job {
        test: &test_command(JUNIT_FAILED, None, 1),
        reports_and_gate: JUNIT_ONLY,
        prod_validate: SMOKE,
    });
    let o = s.run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = stderr(&o);
    assert!(err.contains("gate FAILED"), "{err}");
    assert!(!err.contains("==> release"), "{err}");
    assert!(!err.contains("==> promote"), "{err}");
    assert_eq!(s.remote_tags(), ["v0.1.0"]);
    assert_eq!(s.version_at(0), None);
    assert_eq!(s.version_at(1), None);
}

#[test]
fn a_coverage_drop_stops_the_job_before_any_tag() {
    let s = Sandbox::with_agent();
    s.configure(&Job {
        test: &test_command(JUNIT_PASSED, Some(COBERTURA_LOW), 0),
        reports_and_gate: r#"reports = { junit = ["reports/junit.xml"], cobertura = ["reports/coverage.xml"] }
gate = { max_failures = 0, min_line_coverage = 80 }"#,
        prod_validate: SMOKE,
    });
    let o = s.run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = stderr(&o);
    assert!(err.contains("line coverage 25.0%"), "{err}");
    assert!(err.contains("gate FAILED"), "{err}");
    assert!(!err.contains("==> release"), "{err}");
    assert_eq!(s.remote_tags(), ["v0.1.0"]);
    assert_eq!(s.version_at(0), None);
    assert_eq!(s.version_at(1), None);
}

#[test]
fn a_rerun_after_a_failure_part_way_finishes_the_same_release() {
    let s = Sandbox::with_agent();
    let test = test_command(JUNIT_PASSED, None, 0);
    s.configure(&Job {
        test: &test,
        reports_and_gate: JUNIT_ONLY,
        prod_validate: "false",
    });
    let o = s.run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("==> promote 0.2.0 into prod"),
        "{}",
        text(&o)
    );
    assert!(!stderr(&o).contains("the job took"), "{}", text(&o));
    assert_eq!(s.remote_tags(), ["v0.1.0", "v0.2.0"]);
    assert_eq!(s.version_at(0).as_deref(), Some("0.2.0"));
    // The validation ran against prod's idle slot: traffic never moved.
    assert_eq!(s.version_at(1), None);
    assert_eq!(s.last_outcome("prod")["outcome"], "failed");

    // Fixed, the job runs again: the same release, no new tag.
    s.configure(&Job {
        test: &test,
        reports_and_gate: JUNIT_ONLY,
        prod_validate: "true",
    });
    let o = s.run();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("version 0.2.0 (already released; deploying it)"),
        "{err}"
    );
    assert!(err.contains("==> promote 0.2.0 into prod"), "{err}");
    assert!(err.contains("the job took"), "{err}");
    assert_eq!(s.remote_tags(), ["v0.1.0", "v0.2.0"]);
    assert_eq!(s.version_at(0).as_deref(), Some("0.2.0"));
    assert_eq!(s.version_at(1).as_deref(), Some("0.2.0"));
    assert_eq!(s.last_outcome("prod")["outcome"], "live");
}

#[test]
fn a_soak_time_is_waited_out_or_stops_the_run_for_a_later_rerun() {
    let s = Sandbox::with_agent();
    let test = test_command(JUNIT_PASSED, None, 0);
    s.configure(&Job {
        test: &test,
        reports_and_gate: JUNIT_ONLY,
        prod_validate: SMOKE,
    });
    // prod (the last table of the file) requires dev to have run the
    // release for 10 s.
    let file = s.repo.join("pipeline.toml");
    let mut config = fs::read_to_string(&file).unwrap();
    config.push_str("requires = { soak_secs = 10 }\n");
    fs::write(&file, config).unwrap();

    // Not willing to wait: the run stops at prod, saying why.
    let o = s.pipeline(&[
        "run",
        "--repo",
        s.repo.to_str().unwrap(),
        "--wait-soak",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = stderr(&o);
    assert!(err.contains("prod requires 10s"), "{err}");
    assert_eq!(s.version_at(0).as_deref(), Some("0.2.0"));
    assert_eq!(s.version_at(1), None, "prod untouched");

    // The re-run (a few seconds later) waits out what is left of the
    // soak, then promotes.
    let o = s.run();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("s: dev has run 0.2.0 for ") && err.contains("and prod requires 10s"),
        "{err}"
    );
    assert_eq!(s.version_at(1).as_deref(), Some("0.2.0"), "{err}");
    assert_eq!(s.last_outcome("prod")["outcome"], "live");
}

#[test]
fn a_malformed_configuration_is_a_usage_error_naming_the_file_and_line() {
    let s = Sandbox::new();
    fs::write(
        s.repo.join("pipeline.toml"),
        "[test]\ncommand = \"true\"\nbogus = 1\n",
    )
    .unwrap();
    let repo = s.repo.to_str().unwrap();
    // From the repository, and from elsewhere with --repo.
    for cwd in [&s.repo, &s.dir] {
        let o = s.pipeline_in(cwd, &["run", "--repo", repo]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = stderr(&o);
        assert!(err.contains("pipeline.toml:3:1"), "{err}");
        assert!(err.contains("bogus"), "{err}");
        assert!(!err.contains("==> "), "no step runs: {err}");
    }
    assert_eq!(s.remote_tags(), ["v0.1.0"]);
}

#[test]
fn a_dry_run_plans_and_changes_nothing_and_json_tells_what_was_done() {
    let s = Sandbox::with_agent();
    // A test command that talks on stdout: in JSON mode that goes to
    // stderr, and stdout stays one document.
    let test = format!(
        "echo tests are running; {}",
        test_command(JUNIT_PASSED, None, 0)
    );
    s.configure(&Job {
        test: &test,
        reports_and_gate: JUNIT_ONLY,
        prod_validate: "true",
    });
    let repo = s.repo.to_str().unwrap();
    let o = s.pipeline(&["run", "--repo", repo, "--dry-run", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["schema"], "pipeline/run/v1", "{doc}");
    assert_eq!(doc["dry_run"], true, "{doc}");
    assert_eq!(doc["version"], "0.2.0", "{doc}");
    assert_eq!(doc["environments"], serde_json::json!([]), "{doc}");
    let err = stderr(&o);
    assert!(err.contains("dry run: would release v0.2.0"), "{err}");
    assert_eq!(s.remote_tags(), ["v0.1.0"], "nothing pushed");
    assert_eq!(s.version_at(0), None, "nothing deployed");

    // The real run, in JSON: stdout is one document.
    let o = s.pipeline(&["run", "--repo", repo, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(stderr(&o).contains("tests are running"), "{}", text(&o));
    assert_eq!(doc["exit"], 0, "{doc}");
    assert_eq!(doc["gate_passed"], true, "{doc}");
    assert_eq!(
        doc["environments"],
        serde_json::json!([{"env": "dev", "outcome": "live"}, {"env": "prod", "outcome": "live"}]),
        "{doc}"
    );
    assert_eq!(doc["sha256"].as_str().map(str::len), Some(64), "{doc}");
}

#[test]
fn the_variables_pipeline_toml_reads_secrets_from_are_masked_inside_actions() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("pipeline.toml"),
        "[test]\ncommand = \"true\"\n[artifact]\nsource = \"app\"\n[[environment]]\nname = \"ci\"\n\
         target = { kind = \"local\", front = \"127.0.0.1:9\", command = \"true\" }\n\
         secrets = { DB_PASSWORD = \"CI_DB_PASSWORD\" }\n",
    )
    .unwrap();
    let o = std::process::Command::new(crate::sandbox::PIPELINE)
        .args(["run", "--dry-run", "--repo", dir.path().to_str().unwrap()])
        .env("GITHUB_ACTIONS", "true")
        .env("CI_DB_PASSWORD", "run-s3cret-value")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(err.contains("::add-mask::run-s3cret-value"), "{err}");
}
