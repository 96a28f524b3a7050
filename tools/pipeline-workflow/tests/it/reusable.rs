//! Reusable workflows of the repository (`jobs.<id>.uses:
//! ./.github/workflows/<file>`): inputs, secrets, outputs, `needs`,
//! environments and their URLs, and what GitHub refuses, on real files and
//! processes.

use std::collections::BTreeMap;
use std::fs;

use pipeline_workflow::{Conclusion, MAX_CALL_DEPTH, read_workflow};

use crate::runner::World;

/// Writes `files` under the world's repository (as the calling workflow's
/// commit holds them) and runs `.github/workflows/main.yml`.
fn run_with(
    w: &World,
    files: &[(&str, &str)],
    secrets: &[(&str, &str)],
) -> pipeline_workflow::RunReport {
    for (path, text) in files {
        let p = w.repo.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    let wf = read_workflow(&w.repo.join(".github/workflows/main.yml")).unwrap();
    let secrets: BTreeMap<String, String> = secrets
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    w.runner()
        .with_secrets(secrets)
        .with_token("ghs_reusableToken42")
        .run(&wf)
        .unwrap()
}

const PROMOTE: &str = r#"
name: promote (reusable)
on:
  workflow_call:
    inputs:
      environment:
        type: string
        required: true
      wait:
        type: number
        default: 30
      dry-run:
        type: boolean
        default: false
      label:
        type: string
        default: ${{ github.ref_name }}
    outputs:
      url:
        description: the live address
        value: ${{ jobs.promote.outputs.url }}
      checked:
        value: ${{ jobs.check.result }}
    secrets:
      deploy-key:
        required: true
env:
  CALLED_ENV: set in the called workflow
jobs:
  promote:
    runs-on: ubuntu-latest
    environment:
      name: ${{ inputs.environment }}
      url: ${{ steps.go.outputs.url }}
    outputs:
      url: ${{ steps.go.outputs.url }}
    steps:
      - id: go
        env:
          KEY: ${{ secrets.deploy-key }}
          OTHER: ${{ secrets.OTHER }}
          WAIT: ${{ inputs.wait }}
        run: |
          test "$WAIT" = 30
          test "${{ inputs.dry-run }}" = false
          test "${{ inputs.label }}" = develop
          test -z "$OTHER"
          test -z "${TOP:-}"
          test "$CALLED_ENV" = "set in the called workflow"
          test "$GITHUB_WORKFLOW" = "the caller"
          test "${{ github.event_name }}" = push
          echo "key $KEY"
          echo "url=https://${{ inputs.environment }}.example.com/" >> "$GITHUB_OUTPUT"
          echo "promoted into ${{ inputs.environment }}" >> "$GITHUB_STEP_SUMMARY"
  check:
    needs: promote
    if: ${{ !inputs.dry-run }}
    runs-on: ubuntu-latest
    steps:
      - run: test "${{ needs.promote.outputs.url }}" = "https://${{ inputs.environment }}.example.com/"
"#;

#[test]
fn a_reusable_workflow_gets_typed_inputs_and_its_secrets_and_gives_outputs() {
    let w = World::new(&[]);
    let main = r#"
name: the caller
on: push
env:
  TOP: not passed to the called workflow
jobs:
  qa:
    uses: ./.github/workflows/promote.yml
    permissions:
      contents: write
    with:
      environment: qa
    secrets:
      deploy-key: ${{ secrets.DEPLOY_KEY }}
  production:
    needs: qa
    uses: ./.github/workflows/promote.yml
    with:
      environment: production
      dry-run: ${{ needs.qa.outputs.url == '' }}
    secrets: inherit
  after:
    needs: [qa, production]
    runs-on: ubuntu-latest
    steps:
      - run: |
          test "${{ needs.qa.outputs.url }}" = https://qa.example.com/
          test "${{ needs.production.outputs.url }}" = https://production.example.com/
          test "${{ needs.production.outputs.checked }}" = success
          test "${{ needs.production.result }}" = success
"#;
    let report = run_with(
        &w,
        &[
            (".github/workflows/main.yml", main),
            (".github/workflows/promote.yml", PROMOTE),
        ],
        &[
            ("DEPLOY_KEY", "sk-secret-0042"),
            ("deploy-key", "sk-inherited-0043"),
        ],
    );
    let order: Vec<&str> = report.jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(order, ["qa", "production", "after"]);
    for id in ["qa", "production", "after"] {
        let job = report.job(id).unwrap();
        assert_eq!(job.result, Conclusion::Success, "{id}:\n{}", job.log);
        for secret in ["sk-secret-0042", "sk-inherited-0043", "ghs_reusableToken42"] {
            assert!(!job.log.contains(secret), "{id}: {secret} in\n{}", job.log);
        }
    }
    let qa = report.job("qa").unwrap();
    assert_eq!(
        qa.environment, None,
        "a caller has no environment of its own"
    );
    assert_eq!(qa.outputs["url"], "https://qa.example.com/");
    assert_eq!(qa.outputs["checked"], "success");
    let called: Vec<&str> = qa.called.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(called, ["promote", "check"]);
    let promote = report.job("qa/promote").unwrap();
    assert_eq!(promote.environment.as_deref(), Some("qa"));
    assert_eq!(
        promote.environment_url.as_deref(),
        Some("https://qa.example.com/")
    );
    assert!(promote.log.contains("key ***"), "{}", promote.log);
    // The caller's log and summary hold its called jobs'.
    assert!(qa.log.contains("[promote] key ***"), "{}", qa.log);
    assert_eq!(qa.summary, "promoted into qa\n");
    assert_eq!(
        report
            .job("production/promote")
            .unwrap()
            .environment
            .as_deref(),
        Some("production")
    );
}

#[test]
fn a_failing_called_job_fails_its_caller_and_skips_what_needs_it() {
    let w = World::new(&[]);
    let called = r#"
on:
  workflow_call:
    inputs:
      fail: { type: boolean, default: false }
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: ${{ inputs.fail && 'exit 4' || 'true' }}
  two:
    needs: one
    runs-on: ubuntu-latest
    steps:
      - run: echo two ran
"#;
    let main = r#"
on: push
jobs:
  good:
    uses: ./.github/workflows/called.yml
  bad:
    uses: ./.github/workflows/called.yml
    with:
      fail: true
  skipped-caller:
    if: false
    uses: ./.github/workflows/called.yml
  needs-bad:
    needs: bad
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  reporter:
    needs: bad
    if: always() && needs.bad.result == 'failure'
    runs-on: ubuntu-latest
    steps:
      - run: echo reporting
"#;
    let report = run_with(
        &w,
        &[
            (".github/workflows/main.yml", main),
            (".github/workflows/called.yml", called),
        ],
        &[],
    );
    assert_eq!(report.job("good").unwrap().result, Conclusion::Success);
    let bad = report.job("bad").unwrap();
    assert_eq!(bad.result, Conclusion::Failure, "{}", bad.log);
    assert_eq!(report.job("bad/one").unwrap().result, Conclusion::Failure);
    assert_eq!(report.job("bad/two").unwrap().result, Conclusion::Skipped);
    let skipped = report.job("skipped-caller").unwrap();
    assert_eq!(skipped.result, Conclusion::Skipped);
    assert!(skipped.called.is_empty(), "a skipped caller calls nothing");
    assert_eq!(report.job("needs-bad").unwrap().result, Conclusion::Skipped);
    assert_eq!(report.job("reporter").unwrap().result, Conclusion::Success);
    assert!(!report.success());
}

#[test]
fn calls_github_refuses_fail_the_calling_job_saying_why() {
    let w = World::new(&[]);
    let called = r#"
on:
  workflow_call:
    inputs:
      environment: { type: string, required: true }
      count: { type: number }
      flag: { type: boolean }
    secrets:
      key: { required: true }
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"#;
    let not_reusable =
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: \"true\"\n";
    let calls: &[(&str, &str)] = &[
        (
            "with: { environment: qa, colour: red }\n    secrets: { key: k }",
            "invalid input, colour is not defined in the referenced workflow",
        ),
        (
            "secrets: { key: k }",
            "input required and not supplied: environment",
        ),
        (
            "with: { environment: qa, flag: maybe }\n    secrets: { key: k }",
            "`maybe` is not a boolean",
        ),
        (
            "with: { environment: qa, count: many }\n    secrets: { key: k }",
            "`many` is not a number",
        ),
        (
            "with: { environment: qa }",
            "secret required and not supplied: key",
        ),
        (
            "with: { environment: qa }\n    secrets: { key: k, other: o }",
            "other is not a secret of the referenced workflow",
        ),
    ];
    for (i, (call, says)) in calls.iter().enumerate() {
        let main = format!(
            "on: push\njobs:\n  call:\n    uses: ./.github/workflows/called.yml\n    {call}\n"
        );
        let report = run_with(
            &w,
            &[
                (".github/workflows/main.yml", &main),
                (".github/workflows/called.yml", called),
            ],
            &[],
        );
        let job = report.job("call").unwrap();
        assert_eq!(job.result, Conclusion::Failure, "case {i}: {}", job.log);
        assert!(
            job.log.contains(says),
            "case {i}: {says} not in {}",
            job.log
        );
        assert!(job.called.is_empty(), "case {i}: nothing ran");
    }
    let others: &[(&str, &str)] = &[
        (
            "./.github/workflows/plain.yml",
            "is not a reusable workflow (its `on` has no `workflow_call`)",
        ),
        (
            "octo-org/shared/.github/workflows/deploy.yml@v1",
            "is not emulated (only reusable workflows of this repository",
        ),
        (
            "./tools/deploy.yml",
            "a reusable workflow of this repository is `./.github/workflows/<file>`",
        ),
        ("./.github/workflows/missing.yml", "missing.yml"),
    ];
    for (uses, says) in others {
        let main = format!("on: push\njobs:\n  call:\n    uses: {uses}\n");
        let report = run_with(
            &w,
            &[
                (".github/workflows/main.yml", &main),
                (".github/workflows/plain.yml", not_reusable),
            ],
            &[],
        );
        let job = report.job("call").unwrap();
        assert_eq!(job.result, Conclusion::Failure, "{uses}: {}", job.log);
        assert!(job.log.contains(says), "{uses}: {says} not in {}", job.log);
    }
}

#[test]
fn a_caller_job_takes_only_the_keys_github_allows_and_no_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.yml");
    for (key, says) in [
        (
            "runs-on: ubuntu-latest",
            "jobs.call.runs-on: is not allowed in a job that calls a reusable workflow",
        ),
        ("steps: [ { run: x } ]", "jobs.call.steps: is not allowed"),
        ("environment: qa", "jobs.call.environment: is not allowed"),
        (
            "strategy: { matrix: { e: [a, b] } }",
            "jobs.call.strategy: is not emulated",
        ),
        (
            "secrets: all",
            "jobs.call.secrets: must be `inherit` or a mapping",
        ),
    ] {
        fs::write(
            &path,
            format!("on: push\njobs:\n  call:\n    uses: ./.github/workflows/x.yml\n    {key}\n"),
        )
        .unwrap();
        let err = read_workflow(&path).unwrap_err().to_string();
        assert!(err.contains(says), "{key}: {err}");
    }
}

#[test]
fn a_workflow_that_calls_itself_stops_at_githubs_depth() {
    let w = World::new(&[]);
    let recursive = r#"
on:
  push:
  workflow_call:
jobs:
  again:
    uses: ./.github/workflows/main.yml
"#;
    let report = run_with(&w, &[(".github/workflows/main.yml", recursive)], &[]);
    let mut job = report.job("again").unwrap();
    let mut depth = 1;
    while let Some(inner) = job.called.first() {
        job = inner;
        depth += 1;
    }
    assert_eq!(depth, MAX_CALL_DEPTH);
    assert_eq!(job.result, Conclusion::Failure);
    assert!(
        job.log
            .contains("call one another more than 10 levels deep"),
        "{}",
        job.log
    );
    assert!(!report.success());
}
