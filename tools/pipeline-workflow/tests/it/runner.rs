//! Small workflows against a real git repository with a bare remote: what
//! each emulated behaviour does, checked on the files and processes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use pipeline_workflow::model::parse_workflow;
use pipeline_workflow::{Conclusion, Event, Runner};

use crate::{git, host_env};

/// A repository (`develop` with one commit, tag `v1.0.0` on it) pushed to
/// a bare remote, and a runner root.
pub(crate) struct World {
    _root: tempfile::TempDir,
    pub(crate) repo: PathBuf,
    remote: PathBuf,
    pub(crate) runner_root: PathBuf,
    sha: String,
}

impl World {
    pub(crate) fn new(files: &[(&str, &str)]) -> World {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        let remote = root.path().join("remote.git");
        git(
            root.path(),
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "develop",
                remote.to_str().unwrap(),
            ],
        );
        git(
            root.path(),
            &["init", "-q", "-b", "develop", repo.to_str().unwrap()],
        );
        fs::write(repo.join("README.md"), "hello\n").unwrap();
        for (path, text) in files {
            let p = repo.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "first"]);
        git(&repo, &["tag", "v1.0.0"]);
        git(
            &repo,
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        git(&repo, &["push", "-q", "origin", "develop", "v1.0.0"]);
        let sha = git(&repo, &["rev-parse", "HEAD"]);
        World {
            runner_root: root.path().join("runner"),
            _root: root,
            repo,
            remote,
            sha,
        }
    }

    pub(crate) fn runner(&self) -> Runner {
        Runner::new(
            &self.runner_root,
            "octo-org/shop",
            format!("file://{}", self.remote.display()),
            Event {
                name: "push".into(),
                git_ref: "refs/heads/develop".into(),
                sha: self.sha.clone(),
                actor: "octocat".into(),
            },
        )
        .with_env(host_env())
    }

    pub(crate) fn run(&self, yaml: &str) -> pipeline_workflow::RunReport {
        let wf = parse_workflow(Path::new("test.yml"), yaml).unwrap();
        self.runner().run(&wf).unwrap()
    }
}

#[test]
fn outputs_env_and_path_flow_between_steps_and_jobs() {
    let w = World::new(&[]);
    let report = w.run(
        r#"
name: flow
on: push
env:
  GREETING: hello
jobs:
  first:
    runs-on: ubuntu-latest
    outputs:
      answer: ${{ steps.compute.outputs.answer }}
      notes: ${{ steps.compute.outputs.notes }}
    steps:
      - id: compute
        run: |
          echo "answer=42" >> "$GITHUB_OUTPUT"
          { echo 'notes<<EOF'; echo 'line one'; echo 'line two'; echo 'EOF'; } >> "$GITHUB_OUTPUT"
          echo "FROM_ENV_FILE=set by step one" >> "$GITHUB_ENV"
          mkdir -p "$RUNNER_TEMP/bin"
          printf '#!/bin/sh\necho tool ran\n' > "$RUNNER_TEMP/bin/mytool"
          chmod +x "$RUNNER_TEMP/bin/mytool"
          echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
      - id: later
        env:
          DOUBLE: ${{ steps.compute.outputs.answer }}${{ steps.compute.outputs.answer }}
        run: |
          test "$FROM_ENV_FILE" = "set by step one"
          test "$DOUBLE" = 4242
          test "$GREETING" = hello
          test "$GITHUB_REF" = refs/heads/develop
          test "$CI" = true
          mytool
          echo "summary: first" >> "$GITHUB_STEP_SUMMARY"
  second:
    needs: first
    if: needs.first.outputs.answer == '42'
    runs-on: ubuntu-latest
    steps:
      - run: |
          test "${{ needs.first.outputs.answer }}" = 42
          test "${{ needs.first.result }}" = success
          printf '%s\n' "${{ needs.first.outputs.notes }}" | grep -qx 'line two'
          test -z "${FROM_ENV_FILE:-}"
"#,
    );
    let first = report.job("first").unwrap();
    assert_eq!(first.result, Conclusion::Success, "{}", first.log);
    assert_eq!(first.outputs["answer"], "42");
    assert_eq!(first.outputs["notes"], "line one\nline two");
    assert!(first.log.contains("tool ran"), "{}", first.log);
    assert_eq!(first.summary, "summary: first\n");
    let second = report.job("second").unwrap();
    assert_eq!(second.result, Conclusion::Success, "{}", second.log);
    assert!(report.success());
}

#[test]
fn a_failed_step_fails_its_job_and_skips_what_needs_it() {
    let w = World::new(&[]);
    let report = w.run(
        r#"
on: push
jobs:
  broken:
    runs-on: ubuntu-latest
    steps:
      - id: tolerated
        continue-on-error: true
        run: exit 3
      - run: echo "after tolerated ${{ steps.tolerated.outcome }} ${{ steps.tolerated.conclusion }}"
      - run: |
          echo "::error file=app.py,line=7::it broke"
          false
      - run: echo never
      - if: failure()
        run: echo "cleanup on failure"
      - if: always()
        run: echo "always ran"
  dependent:
    needs: broken
    runs-on: ubuntu-latest
    steps:
      - run: echo should not run
  reporter:
    needs: broken
    if: always() && needs.broken.result == 'failure'
    runs-on: ubuntu-latest
    steps:
      - run: echo "reporting the failure"
"#,
    );
    assert!(!report.success());
    let broken = report.job("broken").unwrap();
    assert_eq!(broken.result, Conclusion::Failure);
    assert!(
        broken.log.contains("after tolerated failure success"),
        "{}",
        broken.log
    );
    assert!(!broken.log.contains("\nnever\n"), "{}", broken.log);
    assert!(broken.log.contains("cleanup on failure"), "{}", broken.log);
    assert!(broken.log.contains("always ran"), "{}", broken.log);
    let conclusions: Vec<Conclusion> = broken.steps.iter().map(|s| s.conclusion).collect();
    assert_eq!(
        conclusions,
        [
            Conclusion::Success,
            Conclusion::Success,
            Conclusion::Failure,
            Conclusion::Skipped,
            Conclusion::Success,
            Conclusion::Success
        ]
    );
    let annotation = broken
        .annotations
        .iter()
        .find(|a| a.message == "it broke")
        .unwrap();
    assert_eq!(annotation.properties[0], ("file".into(), "app.py".into()));
    assert_eq!(report.job("dependent").unwrap().result, Conclusion::Skipped);
    let reporter = report.job("reporter").unwrap();
    assert_eq!(reporter.result, Conclusion::Success, "{}", reporter.log);
}

#[test]
fn composite_actions_get_inputs_defaults_their_path_and_give_outputs() {
    let action = r#"
name: greet
inputs:
  who:
    description: who
    required: true
  punctuation:
    description: what ends it
    default: "!"
  from-github:
    description: a default from an expression
    default: ${{ github.repository }}
outputs:
  sentence:
    description: the sentence
    value: ${{ steps.say.outputs.sentence }}
runs:
  using: composite
  steps:
    - id: say
      shell: bash
      env:
        WHO: ${{ inputs.who }}
        PUNCT: ${{ inputs.punctuation }}
        REPO: ${{ inputs.from-github }}
      run: |
        test -f "$GITHUB_ACTION_PATH/helper.sh"
        test "${{ github.action_path }}" = "$GITHUB_ACTION_PATH"
        echo "sentence=hello $WHO$PUNCT from $REPO" >> "$GITHUB_OUTPUT"
"#;
    let w = World::new(&[
        (".github/actions/greet/action.yml", action),
        (".github/actions/greet/helper.sh", "true\n"),
    ]);
    let report = w.run(
        r#"
on: push
jobs:
  use:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: greet
        uses: ./.github/actions/greet
        with:
          who: world
          unknown: x
      - run: test "${{ steps.greet.outputs.sentence }}" = "hello world! from octo-org/shop"
"#,
    );
    let job = report.job("use").unwrap();
    assert_eq!(job.result, Conclusion::Success, "{}", job.log);
    assert!(
        job.annotations
            .iter()
            .any(|a| a.message == "greet: unexpected input `unknown`"),
        "{:?}",
        job.annotations
    );
}

#[test]
fn checkout_gives_the_events_commit_on_its_branch_or_the_ref_asked_for() {
    let w = World::new(&[]);
    // The remote moves on after the event: the job still gets the event's
    // commit.
    fs::write(w.repo.join("later.txt"), "later\n").unwrap();
    git(&w.repo, &["add", "."]);
    git(&w.repo, &["commit", "-q", "-m", "later"]);
    git(&w.repo, &["push", "-q", "origin", "develop"]);
    let report = w.run(&format!(
        r#"
on: push
jobs:
  event:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - run: |
          test "$(git rev-parse HEAD)" = {sha}
          test "$(git rev-parse --abbrev-ref HEAD)" = develop
          test ! -e later.txt
          git rev-parse -q --verify refs/tags/v1.0.0
  shallow:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          test "$(git rev-parse HEAD)" = {sha}
          test ! -e later.txt
  outside:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          path: /tmp
  tag:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: v1.0.0
      - run: |
          test "$(git rev-parse HEAD)" = {sha}
          test "$(git rev-parse --abbrev-ref HEAD)" = HEAD
"#,
        sha = w.sha
    ));
    for job in report.jobs.iter().filter(|j| j.id != "outside") {
        assert_eq!(job.result, Conclusion::Success, "{}", job.log);
    }
    let outside = report.job("outside").unwrap();
    assert_eq!(outside.result, Conclusion::Failure);
    assert!(
        outside
            .log
            .contains("path `/tmp` is not under the workspace"),
        "{}",
        outside.log
    );
}

#[test]
fn artifacts_travel_between_jobs_without_their_permissions() {
    let w = World::new(&[]);
    let report = w.run(
        r#"
on: push
jobs:
  make:
    runs-on: ubuntu-latest
    steps:
      - run: |
          mkdir -p out/sub "$RUNNER_TEMP/bins"
          echo a > out/a.txt
          echo b > out/sub/b.txt
          echo hidden > out/.secret
          printf '#!/bin/sh\necho bin\n' > "$RUNNER_TEMP/bins/tool"
          chmod +x "$RUNNER_TEMP/bins/tool"
      - uses: actions/upload-artifact@v4
        with:
          name: out
          path: out/
      - uses: actions/upload-artifact@v4
        with:
          name: bins
          path: ${{ runner.temp }}/bins/
      - uses: actions/upload-artifact@v4
        with:
          name: nothing
          path: missing/*.xml
          if-no-files-found: warn
  take:
    needs: make
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: out
          path: got
      - uses: actions/download-artifact@v4
        with:
          name: bins
          path: ${{ runner.temp }}/bins
      - run: |
          test "$(cat got/a.txt)" = a
          test "$(cat got/sub/b.txt)" = b
          test ! -e got/.secret
          test ! -x "$RUNNER_TEMP/bins/tool"
          chmod +x "$RUNNER_TEMP/bins/tool"
          test "$("$RUNNER_TEMP/bins/tool")" = bin
  missing:
    needs: make
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: nothing
"#,
    );
    let make = report.job("make").unwrap();
    assert_eq!(make.result, Conclusion::Success, "{}", make.log);
    assert!(
        make.annotations
            .iter()
            .any(|a| a.level == "warning" && a.message.contains("no files were found")),
        "{:?}",
        make.annotations
    );
    let take = report.job("take").unwrap();
    assert_eq!(take.result, Conclusion::Success, "{}", take.log);
    let missing = report.job("missing").unwrap();
    assert_eq!(missing.result, Conclusion::Failure);
    assert!(
        missing.log.contains("artifact not found: nothing"),
        "{}",
        missing.log
    );
}

#[test]
fn secrets_and_masked_values_never_reach_the_log_or_the_summary() {
    let w = World::new(&[]);
    let mut secrets = BTreeMap::new();
    secrets.insert("DEPLOY_KEY".to_owned(), "sk-live-0123456789".to_owned());
    let wf = parse_workflow(
        Path::new("test.yml"),
        r#"
on: push
jobs:
  leak:
    runs-on: ubuntu-latest
    steps:
      - env:
          KEY: ${{ secrets.DEPLOY_KEY }}
          TOKEN: ${{ github.token }}
        run: |
          echo "key is $KEY"
          echo "token is $TOKEN" >&2
          echo "::add-mask::derived-$KEY"
          echo "derived is derived-$KEY and again derived-$KEY"
          echo "summary $KEY" >> "$GITHUB_STEP_SUMMARY"
          echo "::warning::warned $TOKEN"
"#,
    )
    .unwrap();
    let report = w
        .runner()
        .with_secrets(secrets)
        .with_token("ghs_emulatedToken42")
        .run(&wf)
        .unwrap();
    let job = report.job("leak").unwrap();
    assert_eq!(job.result, Conclusion::Success, "{}", job.log);
    for text in [&job.log, &job.summary] {
        assert!(!text.contains("sk-live-0123456789"), "{text}");
        assert!(!text.contains("ghs_emulatedToken42"), "{text}");
    }
    assert!(job.log.contains("key is ***"), "{}", job.log);
    assert!(job.log.contains("token is ***"), "{}", job.log);
    assert!(job.log.contains("derived is ***"), "{}", job.log);
    assert_eq!(job.summary, "summary ***\n");
    assert!(job.annotations.iter().any(|a| a.message == "warned ***"));
}

#[test]
fn a_step_out_of_time_is_killed_with_what_it_started() {
    let w = World::new(&[]);
    let marker = w.runner_root.with_file_name("grandchild-alive");
    let report = w.run(&format!(
        r#"
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - timeout-minutes: 0.02
        run: |
          (sleep 3; touch {marker}) &
          sleep 30
"#,
        marker = marker.display()
    ));
    let job = report.job("slow").unwrap();
    assert_eq!(job.result, Conclusion::Failure);
    assert!(job.log.contains("ran out of time"), "{}", job.log);
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(
        !marker.exists(),
        "the step's background process outlived it"
    );
}

#[test]
fn what_is_not_emulated_fails_the_step_saying_so() {
    let w = World::new(&[]);
    let report = w.run(
        r#"
on: push
jobs:
  remote:
    runs-on: ubuntu-latest
    steps:
      - uses: some-org/deploy-action@v1
      - run: echo not reached
"#,
    );
    let job = report.job("remote").unwrap();
    assert_eq!(job.result, Conclusion::Failure);
    assert!(
        job.log
            .contains("`some-org/deploy-action@v1` is not emulated"),
        "{}",
        job.log
    );
    let cycle = parse_workflow(
        Path::new("c.yml"),
        "on: push\njobs:\n  a: { needs: b, steps: [ { run: x } ] }\n  b: { needs: a, steps: [ { run: x } ] }\n",
    )
    .unwrap();
    let err = w.runner().run(&cycle).unwrap_err();
    assert_eq!(
        err.to_string(),
        "c.yml: the needs of jobs a, b make a cycle"
    );
}

#[test]
fn github_semantics_of_shells_status_env_and_outputs() {
    let w = World::new(&[]);
    let mut secrets = BTreeMap::new();
    secrets.insert("KEY".to_owned(), "s3cret-value-77".to_owned());
    let marker = w.runner_root.with_file_name("left-running");
    let wf = parse_workflow(
        Path::new("test.yml"),
        &format!(
            r#"
on: push
env:
  GREETING: hello
jobs:
  first:
    runs-on: ubuntu-latest
    outputs:
      leak: ${{{{ steps.s.outputs.leak }}}}
      fine: ${{{{ steps.s.outputs.fine }}}}
    steps:
      - id: s
        run: |
          echo "leak=${{{{ secrets.KEY }}}}" >> "$GITHUB_OUTPUT"
          echo "fine=ok" >> "$GITHUB_OUTPUT"
      # No shell: bash -e without pipefail, as on GitHub.
      - run: false | true
      - run: |
          test "${{{{ env.GREETING }}}}" = hello
          test -z "${{{{ env.PATH }}}}"
          test -n "$PATH"
      # A step that leaves a process holding its output ends anyway; what
      # it left runs on for the next steps and is stopped with the job.
      - run: |
          (sleep 6; touch {marker}) &
          sleep 30 &
          echo $! > "$RUNNER_TEMP/server.pid"
      - run: kill -0 "$(cat "$RUNNER_TEMP/server.pid")"
  broken:
    needs: first
    runs-on: ubuntu-latest
    steps:
      - shell: bash
        run: false | true
  middle:
    needs: broken
    if: always()
    runs-on: ubuntu-latest
    steps:
      # It runs although what it needs failed, and sees that it did.
      - run: test "${{{{ needs.broken.result }}}}" = failure
  after-failure:
    needs: middle
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo reporting
  plain:
    needs: middle
    runs-on: ubuntu-latest
    steps:
      - run: echo never
"#,
            marker = marker.display()
        ),
    )
    .unwrap();
    let report = w.runner().with_secrets(secrets).run(&wf).unwrap();
    let first = report.job("first").unwrap();
    assert_eq!(first.result, Conclusion::Success, "{}", first.log);
    assert_eq!(first.outputs.get("fine").map(String::as_str), Some("ok"));
    assert!(!first.outputs.contains_key("leak"), "{:?}", first.outputs);
    assert!(
        first.log.contains("they run until the job ends"),
        "{}",
        first.log
    );
    // An explicit bash has pipefail.
    assert_eq!(report.job("broken").unwrap().result, Conclusion::Failure);
    assert_eq!(report.job("middle").unwrap().result, Conclusion::Success);
    // failure() of a job sees every job before it, not only its needs.
    let after = report.job("after-failure").unwrap();
    assert_eq!(after.result, Conclusion::Success, "{}", after.log);
    assert_eq!(report.job("plain").unwrap().result, Conclusion::Skipped);
    std::thread::sleep(std::time::Duration::from_secs(7));
    assert!(!marker.exists(), "a process the job left ran on after it");
}
