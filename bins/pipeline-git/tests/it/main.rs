//! `pipeline-git` end to end: the real binary on real repositories (a bare
//! remote, CI-like detached clones, shallow clones), its output, exit codes
//! and the files it writes inside GitHub Actions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../../crates/pipeline-gitflow/tests/it/fixture.rs"]
mod fixture;

mod daemon;
mod flow;
mod github_release;
mod pinned;
mod unshallow;

use std::path::Path;

use assert_cmd::Command;
use fixture::TestRepo;
use predicates::prelude::*;
use serde_json::Value;

/// The binary with a clean environment: no CI or git variables from the
/// machine running the tests leak in.
fn pipeline_git(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("pipeline-git").unwrap();
    for var in [
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_WORKSPACE",
        "CI",
        "PIPELINE_GIT_REMOTE",
        "PIPELINE_GIT_DEVELOP_BRANCH",
        "PIPELINE_GIT_MAIN_BRANCH",
        "PIPELINE_GIT_TAG_PREFIX",
        "GIT_DIR",
        "GIT_WORK_TREE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1").current_dir(dir);
    cmd
}

/// A bare remote whose develop has `feat(api)` and `fix` since v1.2.0,
/// and a CI-like clone of it: detached HEAD, no local branch.
struct Setup {
    remote: TestRepo,
    seed: TestRepo,
    ci: TestRepo,
    feat: String,
    fix: String,
}

fn setup() -> Setup {
    let remote = TestRepo::bare();
    let seed = TestRepo::clone_of(&remote.url(), &[]);
    seed.commit("chore: init");
    seed.annotated_tag("v1.2.0");
    let feat = seed.commit("feat(api): list releases\n\nWith paging.\n\nRefs #12");
    seed.commit("docs: explain releases");
    let fix = seed.commit("fix: crash on an empty tag list");
    seed.git(&["push", "-q", "origin", "develop", "--tags"]);
    let ci = ci_clone(&remote);
    Setup {
        remote,
        seed,
        ci,
        feat,
        fix,
    }
}

fn ci_clone(remote: &TestRepo) -> TestRepo {
    let ci = TestRepo::clone_of(&remote.url(), &[]);
    ci.git(&["checkout", "-q", "--detach"]);
    ci.git(&["branch", "-q", "-D", "develop"]);
    ci
}

fn short(id: &str) -> &str {
    &id[..7]
}

#[test]
fn version_prints_the_next_version_in_a_ci_checkout() {
    let s = setup();
    pipeline_git(s.ci.path())
        .arg("version")
        .assert()
        .code(0)
        .stdout("1.3.0\n")
        .stderr(
            "next version 1.3.0 (tag v1.3.0): minor bump; 3 commit(s) since v1.2.0, 2 releasable\n",
        );
}

#[test]
fn repo_flag_and_local_branch_fallback() {
    let s = setup();
    // Local develop ahead of origin/develop: origin's ref is what counts.
    s.seed.commit("feat!: unpushed");
    let elsewhere = tempfile::tempdir().unwrap();
    pipeline_git(elsewhere.path())
        .args(["version", "--repo"])
        .arg(s.seed.path())
        .assert()
        .code(0)
        .stdout("1.3.0\n");
    pipeline_git(s.seed.path())
        .args(["version", "--remote", "none"])
        .assert()
        .code(0)
        .stdout("2.0.0\n");
    // From a subdirectory, as git does.
    std::fs::create_dir(s.seed.path().join("sub")).unwrap();
    pipeline_git(&s.seed.path().join("sub"))
        .arg("version")
        .assert()
        .code(0)
        .stdout("1.3.0\n");
}

#[test]
fn no_releasable_commit_is_no_release_and_exit_0() {
    let remote = TestRepo::bare();
    let seed = TestRepo::clone_of(&remote.url(), &[]);
    seed.commit("feat: one");
    seed.annotated_tag("v1.0.0");
    seed.commit("docs: words");
    seed.commit("chore(deps): bump");
    seed.git(&["push", "-q", "origin", "develop", "--tags"]);
    pipeline_git(seed.path())
        .arg("version")
        .assert()
        .code(0)
        .stdout("")
        .stderr("no release: none of the 2 commit(s) since v1.0.0 is a feat, fix, perf or breaking change\n");
    let out = pipeline_git(seed.path())
        .args(["version", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["released"], false);
    assert_eq!(doc["version"], Value::Null);
    assert_eq!(doc["previous_tag"], "v1.0.0");
    assert_eq!(doc["reason"]["kind"], "nothing_releasable");
    pipeline_git(seed.path())
        .args(["changelog", "--date", "2026-11-26"])
        .assert()
        .code(0)
        .stdout("");

    seed.annotated_tag("v1.0.1");
    seed.git(&["push", "-q", "origin", "--tags"]);
    pipeline_git(seed.path())
        .arg("version")
        .assert()
        .code(0)
        .stdout("")
        .stderr("no release: no commit since v1.0.1\n");
}

#[test]
fn the_json_document() {
    let s = setup();
    let out = pipeline_git(s.ci.path())
        .args(["version", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tip = s.ci.git(&["rev-parse", "origin/develop"]);
    assert_eq!(
        doc,
        serde_json::json!({
            "schema": "pipeline-git/version/v1",
            "released": true,
            "version": "1.3.0",
            "tag": "v1.3.0",
            "previous_version": "1.2.0",
            "previous_tag": "v1.2.0",
            "reason": { "kind": "commits", "bump": "minor", "requested": "minor" },
            "branch": { "name": "develop", "ref": "refs/remotes/origin/develop", "commit": tip },
            "commits": { "total": 3, "releasable": 2 },
            "pre_release": null,
        })
    );
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), 1);
}

#[test]
fn changelog_is_deterministic_markdown() {
    let s = setup();
    let expected = format!(
        "## [1.3.0] - 2026-11-26\n\n### Features\n\n- **api:** list releases ({})\n\n### Bug Fixes\n\n- crash on an empty tag list ({})\n",
        short(&s.feat),
        short(&s.fix)
    );
    pipeline_git(s.ci.path())
        .args(["changelog", "--date", "2026-11-26"])
        .assert()
        .code(0)
        .stdout(expected.clone());

    let notes = s.ci.path().join("notes.md");
    pipeline_git(s.ci.path())
        .args(["changelog", "--date", "2026-11-26", "--output"])
        .arg(&notes)
        .assert()
        .code(0)
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "release notes written to {}",
            notes.display()
        )));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), expected);

    let out = pipeline_git(s.ci.path())
        .args(["changelog", "--date", "2026-11-26", "--json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "pipeline-git/changelog/v1");
    assert_eq!(doc["markdown"], expected.as_str());
    assert_eq!(doc["date"], "2026-11-26");
    assert_eq!(doc["sections"][0]["kind"], "features");
    assert_eq!(doc["sections"][0]["entries"][0]["scope"], "api");
    assert_eq!(doc["sections"][0]["entries"][0]["commit"], s.feat.as_str());
    assert_eq!(doc["sections"][1]["title"], "Bug Fixes");
}

#[test]
fn changelog_defaults_to_today_and_refuses_bad_dates() {
    let s = setup();
    let out = pipeline_git(s.ci.path()).arg("changelog").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let heading = text.lines().next().unwrap();
    assert!(heading.starts_with("## [1.3.0] - 20"), "{heading}");
    assert_eq!(heading.len(), "## [1.3.0] - 2026-11-26".len());
    pipeline_git(s.ci.path())
        .args(["changelog", "--date", "2026-02-30"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "\"2026-02-30\" is not a date YYYY-MM-DD",
        ));
}

#[test]
fn breaking_changes_come_first() {
    let s = setup();
    let breaking = s.seed.commit(
        "refactor(config)!: move the settings\n\nBREAKING CHANGE: settings live in pipeline.toml now",
    );
    s.seed.git(&["push", "-q", "origin", "develop"]);
    let ci = ci_clone(&s.remote);
    pipeline_git(ci.path())
        .args(["changelog", "--date", "2026-11-26"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with(format!(
            "## [2.0.0] - 2026-11-26\n\n### ⚠ BREAKING CHANGES\n\n- **config:** settings live in pipeline.toml now ({})\n\n### Features\n",
            short(&breaking)
        )));
}

#[test]
fn pre_releases_then_the_final_release() {
    let s = setup();
    let rc = |expected: &str| {
        pipeline_git(s.seed.path())
            .args(["version", "--pre", "rc"])
            .assert()
            .code(0)
            .stdout(format!("{expected}\n"));
    };
    rc("1.3.0-rc.1");
    s.seed.annotated_tag("v1.3.0-rc.1");
    s.seed.git(&["push", "-q", "origin", "--tags"]);
    rc("1.3.0-rc.2");
    s.seed.commit("fix: found in rc.1");
    s.seed.git(&["push", "-q", "origin", "develop"]);
    rc("1.3.0-rc.2");
    // The final release bumps from the last final tag, v1.2.0.
    pipeline_git(s.seed.path())
        .arg("version")
        .assert()
        .code(0)
        .stdout("1.3.0\n");
    pipeline_git(s.seed.path())
        .args(["version", "--pre", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a pre-release channel"));
}

#[test]
fn overrides_and_release_as() {
    let s = setup();
    for (bump, expected) in [
        ("major", "2.0.0"),
        ("minor", "1.3.0"),
        ("patch", "1.2.1"),
        ("4.0.0", "4.0.0"),
    ] {
        pipeline_git(s.ci.path())
            .args(["version", "--bump", bump])
            .assert()
            .code(0)
            .stdout(format!("{expected}\n"));
    }
    pipeline_git(s.ci.path())
        .args(["version", "--bump", "1.2.0"])
        .assert()
        .code(2)
        .stdout("")
        .stderr("error: --bump 1.2.0 is not newer than the release v1.2.0\n");
    pipeline_git(s.ci.path())
        .args(["version", "--bump", "huge"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "\"huge\" is not a release version X.Y.Z nor major, minor or patch",
        ));

    let footer = s.seed.commit("chore: release 3.0.0\n\nRelease-As: 3.0.0");
    s.seed.git(&["push", "-q", "origin", "develop"]);
    pipeline_git(s.seed.path())
        .arg("version")
        .assert()
        .code(0)
        .stdout("3.0.0\n")
        .stderr(predicate::str::contains(format!(
            "Release-As: footer of commit {}",
            short(&footer)
        )));
    let low = s.seed.commit("chore: oops\n\nRelease-As: 1.0.0");
    s.seed.git(&["push", "-q", "origin", "develop"]);
    pipeline_git(s.seed.path())
        .arg("version")
        .assert()
        .code(2)
        .stderr(format!(
            "error: Release-As: in commit {} 1.0.0 is not newer than the release v1.2.0\n",
            short(&low)
        ));
}

#[test]
fn a_tag_of_the_next_version_elsewhere_exits_1_naming_both_commits() {
    let s = setup();
    s.seed.branch("side", "v1.2.0");
    let side = s.seed.commit("feat: side");
    s.seed.tag("v1.3.0");
    s.seed.git(&["push", "-q", "origin", "--tags"]);
    let tip = s.seed.git(&["rev-parse", "origin/develop"]);
    pipeline_git(s.seed.path())
        .arg("version")
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "error: tag v1.3.0 already exists at commit {side}, which develop at {tip} does not reach\n"
        ));
}

#[test]
fn flags_for_branch_remote_and_prefix() {
    let remote = TestRepo::bare();
    let seed = TestRepo::clone_of(&remote.url(), &[]);
    seed.git(&["checkout", "-q", "-b", "dev"]);
    seed.commit("chore: init");
    seed.tag("release-0.4.0");
    seed.tag("v9.9.9");
    seed.commit("feat: x");
    seed.git(&["remote", "rename", "origin", "upstream"]);
    seed.git(&["push", "-q", "upstream", "dev", "--tags"]);
    pipeline_git(seed.path())
        .args([
            "version",
            "--remote",
            "upstream",
            "--develop-branch",
            "dev",
            "--main-branch",
            "main",
            "--tag-prefix",
            "release-",
            "--json",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(r#""tag":"release-0.5.0""#))
        .stdout(predicate::str::contains(
            r#""ref":"refs/remotes/upstream/dev""#,
        ));
    // The same through the environment.
    pipeline_git(seed.path())
        .arg("version")
        .env("PIPELINE_GIT_REMOTE", "upstream")
        .env("PIPELINE_GIT_DEVELOP_BRANCH", "dev")
        .env("PIPELINE_GIT_TAG_PREFIX", "release-")
        .assert()
        .code(0)
        .stdout("0.5.0\n");
}

#[test]
fn input_errors_exit_2_naming_the_place() {
    let empty = tempfile::tempdir().unwrap();
    pipeline_git(empty.path())
        .arg("version")
        .assert()
        .code(2)
        .stderr(format!(
            "error: no git repository at {}\n",
            empty.path().canonicalize().unwrap().display()
        ));
    pipeline_git(empty.path())
        .args(["version", "--repo"])
        .arg(empty.path().join("missing"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "no git repository at {}",
            empty.path().join("missing").display()
        )));
    let s = setup();
    pipeline_git(s.ci.path())
        .args(["version", "--develop-branch", "next"])
        .assert()
        .code(2)
        .stderr(format!(
            "error: branch next not found in {}: neither refs/remotes/origin/next nor refs/heads/next exists\n",
            s.ci.path().display()
        ));
    pipeline_git(s.ci.path())
        .args(["version", "--develop-branch", "a b"])
        .assert()
        .code(2)
        .stderr("error: \"refs/remotes/origin/a b\" is not a valid ref name\n");
    pipeline_git(s.ci.path())
        .args(["version", "--unknown"])
        .assert()
        .code(2);
    pipeline_git(s.ci.path())
        .args(["changelog", "--date", "2026-11-26", "--output"])
        .arg(s.ci.path().join("no/such/dir/notes.md"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot write the release notes to",
        ));
}

#[test]
fn setup_errors_are_plain_messages_and_exit_2() {
    let empty = tempfile::tempdir().unwrap();
    let here = empty.path().canonicalize().unwrap();
    // Outside a repository: no libgit2 internals, the path, exit 2.
    for args in [
        &["release"][..],
        &["release", "--dry-run"],
        &["sync"],
        &["hotfix", "start", "x"],
        &["hotfix", "finish", "x"],
        &["changelog"],
        &["version", "--unshallow"],
    ] {
        pipeline_git(&here)
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(format!("error: no git repository at {}\n", here.display()));
    }
    pipeline_git(&here)
        .args(["release", "--repo", "no/such/dir"])
        .assert()
        .code(2)
        .stderr(format!(
            "error: no git repository at {}\n",
            here.join("no/such/dir").display()
        ));

    // A remote the repository does not have: exit 2, not 3, nothing made.
    let s = setup();
    let before = s.ci.git(&["for-each-ref"]);
    for args in [
        &["release", "--remote", "upstream"][..],
        &["release", "--remote", "upstream", "--dry-run"],
    ] {
        pipeline_git(s.ci.path())
            .args(args)
            .env("PIPELINE_GIT_ATTEMPTS", "1")
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::ends_with(format!(
                "error: no remote upstream in {}: `git remote -v` lists the remotes\n",
                s.ci.path().display()
            )));
    }
    assert_eq!(s.ci.git(&["for-each-ref"]), before);
    // --unshallow in a shallow clone, against a remote that is not there.
    let shallow = TestRepo::clone_of(&s.remote.url(), &["--depth", "1"]);
    pipeline_git(shallow.path())
        .args(["version", "--unshallow", "--remote", "upstream"])
        .assert()
        .code(2)
        .stderr(format!(
            "error: no remote upstream in {}: `git remote -v` lists the remotes\n",
            shallow.path().display()
        ));
    // A remote that is configured but unreachable stays an external
    // failure (exit 3).
    s.ci.git(&["remote", "add", "gone", &s.remote.url()]);
    s.ci.git(&["fetch", "-q", "gone"]);
    s.ci.git(&["remote", "set-url", "gone", "/nowhere/at/all.git"]);
    pipeline_git(s.ci.path())
        .args(["release", "--remote", "gone", "--attempts", "1"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "git ls-remote with remote gone failed",
        ));
}

#[test]
fn a_shallow_ci_clone_fails_with_the_fix() {
    let s = setup();
    for _ in 0..3 {
        s.seed.commit("fix: more");
    }
    s.seed.git(&["push", "-q", "origin", "develop"]);
    // What actions/checkout does by default: depth 1, detached HEAD.
    let shallow = TestRepo::clone_of(&s.remote.url(), &["--depth", "2"]);
    shallow.git(&["checkout", "-q", "--detach"]);
    shallow.git(&["branch", "-q", "-D", "develop"]);
    pipeline_git(shallow.path())
        .arg("version")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("is a shallow clone"))
        .stderr(predicate::str::contains("fetch-depth: 0"))
        .stderr(predicate::str::contains("git fetch --unshallow"));
    shallow.git(&["fetch", "-q", "--unshallow", "--tags"]);
    pipeline_git(shallow.path())
        .arg("version")
        .assert()
        .code(0)
        .stdout("1.3.0\n");
}

fn in_actions(repo: &Path, dir: &Path) -> Command {
    let mut cmd = pipeline_git(repo);
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", dir.join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"));
    cmd
}

fn outputs(dir: &Path) -> Vec<(String, String)> {
    // Read as GitHub's runner reads the file.
    pipeline_ci::read_outputs(&std::fs::read_to_string(dir.join("output")).unwrap()).unwrap()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn inside_github_actions_it_writes_step_outputs() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    in_actions(s.ci.path(), dir.path())
        .arg("version")
        .assert()
        .code(0)
        .stdout("1.3.0\n");
    assert_eq!(
        outputs(dir.path()),
        pairs(&[
            ("version", "1.3.0"),
            ("tag", "v1.3.0"),
            ("previous_tag", "v1.2.0"),
            ("released", "true"),
        ])
    );
    assert!(
        std::fs::read_to_string(dir.path().join("summary.md"))
            .unwrap()
            .contains("next version 1.3.0")
    );

    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.md");
    in_actions(s.ci.path(), dir.path())
        .args(["changelog", "--date", "2026-11-26", "--output"])
        .arg(&notes)
        .assert()
        .code(0);
    let notes_s = notes.display().to_string();
    assert_eq!(
        outputs(dir.path()),
        pairs(&[
            ("version", "1.3.0"),
            ("tag", "v1.3.0"),
            ("previous_tag", "v1.2.0"),
            ("released", "true"),
            ("changelog_file", &notes_s),
        ])
    );
    assert!(
        std::fs::read_to_string(dir.path().join("summary.md"))
            .unwrap()
            .starts_with("## [1.3.0] - 2026-11-26\n")
    );
}

#[test]
fn inside_github_actions_no_release_says_released_false() {
    let repo = TestRepo::new();
    repo.commit("chore: init");
    let dir = tempfile::tempdir().unwrap();
    in_actions(repo.path(), dir.path())
        .arg("version")
        .assert()
        .code(0)
        .stdout("");
    assert_eq!(
        outputs(dir.path()),
        pairs(&[
            ("version", ""),
            ("tag", ""),
            ("previous_tag", ""),
            ("released", "false"),
        ])
    );
}

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    pipeline_git(dir.path())
        .arg("--version")
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("pipeline-git "));
    pipeline_git(dir.path())
        .args(["version", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Exit codes: 0 success"))
        .stdout(predicate::str::contains("--bump <major|minor|patch|X.Y.Z>"));
    pipeline_git(dir.path()).assert().code(2);
    // Every command ends its help with examples, then the exit codes.
    for command in [
        &["version"][..],
        &["changelog"],
        &["sync"],
        &["release"],
        &["hotfix", "start"],
        &["hotfix", "finish"],
    ] {
        let out = pipeline_git(dir.path())
            .args(command)
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let help = String::from_utf8(out.stdout).unwrap();
        let examples = help.find("\nExamples:\n").expect("examples");
        let codes = help.find("Exit codes: 0 success").expect("exit codes");
        assert!(examples < codes, "{help}");
        let example = format!("  pipeline-git {} ", command.join(" "));
        assert!(help[examples..codes].contains(&example), "{help}");
    }
}
