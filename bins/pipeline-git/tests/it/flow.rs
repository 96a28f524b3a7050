//! `sync`, `release` and `hotfix` end to end: real clones of a bare remote
//! (over a file path and over `git daemon` on loopback), checked with the
//! git command line.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use predicates::prelude::*;

use super::daemon::{Daemon, free_port};
use super::fixture::{TestRepo, git};
use super::{in_actions, outputs, pairs, pipeline_git};

/// A remote whose master has hotfix v1.2.1 after v1.2.0 and whose develop
/// has a feature since v1.2.0: they diverged, so sync makes a merge.
pub(crate) fn remote_with_diverged_branches() -> (TestRepo, TestRepo) {
    let remote = TestRepo::bare();
    let seed = TestRepo::clone_of(&remote.url(), &[]);
    write(&seed, "a.txt", "one\n");
    seed.git(&["add", "a.txt"]);
    seed.git_dated(&["commit", "-q", "-m", "chore: init"]);
    seed.annotated_tag("v1.2.0");
    seed.git(&[
        "push",
        "-q",
        "origin",
        "develop",
        "develop:master",
        "--tags",
    ]);
    seed.branch("hotfix", "origin/master");
    write(&seed, "b.txt", "fixed\n");
    seed.git(&["add", "b.txt"]);
    seed.git_dated(&["commit", "-q", "-m", "fix: crash on start"]);
    seed.annotated_tag("v1.2.1");
    seed.git(&["push", "-q", "origin", "hotfix:master", "--tags"]);
    seed.checkout("develop");
    write(&seed, "c.txt", "feature\n");
    seed.git(&["add", "c.txt"]);
    seed.git_dated(&["commit", "-q", "-m", "feat(api): list releases"]);
    seed.git(&["push", "-q", "origin", "develop"]);
    (remote, seed)
}

pub(crate) fn write(repo: &TestRepo, file: &str, text: &str) {
    std::fs::write(repo.path().join(file), text).unwrap();
}

/// A CI-like clone of `url`: detached HEAD, no local branch.
pub(crate) fn ci_clone_of(url: &str, args: &[&str]) -> TestRepo {
    let ci = TestRepo::clone_of(url, args);
    ci.git(&["checkout", "-q", "--detach"]);
    ci.git(&["branch", "-q", "-D", "develop"]);
    ci
}

/// Every ref, HEAD and the work tree's status: what "nothing changed" means.
fn snapshot(repo: &TestRepo) -> String {
    let head = git(repo.path(), &["rev-parse", "HEAD"]);
    let attached = git(repo.path(), &["rev-parse", "--symbolic-full-name", "HEAD"]);
    format!(
        "{}\nHEAD {head} {attached}\n{}",
        repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        repo.git(&["status", "--porcelain", "--untracked-files=all"])
    )
}

fn remote_refs(remote: &TestRepo) -> String {
    remote.git(&["for-each-ref", "--format=%(refname) %(objectname)"])
}

fn fsck(remote: &TestRepo) {
    remote.git(&["fsck", "--strict", "--no-progress"]);
}

#[test]
fn the_seed_flow_over_a_file_path_and_git_daemon() {
    for over_daemon in [false, true] {
        let (remote, _seed) = remote_with_diverged_branches();
        let daemon = over_daemon.then(|| Daemon::serve(remote.path()));
        let url = daemon.as_ref().map_or_else(|| remote.url(), Daemon::url);
        let ci = ci_clone_of(&url, &[]);

        pipeline_git(ci.path())
            .arg("sync")
            .assert()
            .code(0)
            .stderr(predicate::str::contains("master ("))
            .stderr(predicate::str::contains("develop checked out at"));
        assert_eq!(ci.git(&["symbolic-ref", "HEAD"]), "refs/heads/develop");
        assert_eq!(
            ci.git(&["log", "-1", "--format=%s"]),
            "Merge branch 'master' into develop"
        );
        let merged = ci.head();
        assert_eq!(
            ci.git(&["log", "-1", "--format=%P"]),
            format!(
                "{} {}",
                ci.git(&["rev-parse", "origin/develop"]),
                ci.git(&["rev-parse", "origin/master"])
            )
        );
        // Again: nothing to do.
        let before = snapshot(&ci);
        pipeline_git(ci.path())
            .arg("sync")
            .assert()
            .code(0)
            .stdout(format!("{merged}\n"))
            .stderr(predicate::str::contains("nothing to do"));
        assert_eq!(snapshot(&ci), before);

        pipeline_git(ci.path())
            .arg("release")
            .assert()
            .code(0)
            .stdout("v1.3.0\n")
            .stderr(predicate::str::contains("previous v1.2.1"))
            .stderr(predicate::str::contains(
                "pushed develop, master and v1.3.0",
            ));
        for rev in ["develop", "master", "v1.3.0^{commit}"] {
            assert_eq!(remote.git(&["rev-parse", rev]), merged, "{rev}");
        }
        assert_eq!(remote.git(&["cat-file", "-t", "v1.3.0"]), "tag");
        let notes = remote.git(&["tag", "-l", "--format=%(contents)", "v1.3.0"]);
        assert!(notes.starts_with("## [1.3.0] - "), "{notes}");
        assert!(
            notes.contains("### Features\n\n- **api:** list releases"),
            "{notes}"
        );
        fsck(&remote);

        // A re-run after success reports the release and changes nothing.
        let before = remote_refs(&remote);
        pipeline_git(ci.path())
            .arg("release")
            .assert()
            .code(0)
            .stdout("v1.3.0\n")
            .stderr(predicate::str::contains("already released"));
        assert_eq!(remote_refs(&remote), before);

        // A fresh CI job re-run: a new clone, sync, release: still a no-op.
        let again = ci_clone_of(&url, &[]);
        pipeline_git(again.path()).arg("sync").assert().code(0);
        pipeline_git(again.path())
            .arg("release")
            .assert()
            .code(0)
            .stdout("v1.3.0\n")
            .stderr(predicate::str::contains("already released"));
        assert_eq!(remote_refs(&remote), before);
    }
}

#[test]
fn a_conflict_lists_the_paths_and_changes_nothing() {
    let (remote, seed) = remote_with_diverged_branches();
    write(&seed, "b.txt", "develop's own b\n");
    seed.git(&["add", "b.txt"]);
    seed.git_dated(&["commit", "-q", "-m", "feat: b on develop"]);
    seed.git(&["push", "-q", "origin", "develop"]);
    let ci = ci_clone_of(&remote.url(), &[]);
    let before = snapshot(&ci);
    let objects = ci.git(&["count-objects", "-v"]);
    pipeline_git(ci.path())
        .arg("sync")
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "conflicts in: b.txt; nothing was changed",
        ));
    assert_eq!(snapshot(&ci), before);
    assert_eq!(ci.git(&["count-objects", "-v"]), objects);
}

#[test]
fn dry_runs_change_nothing() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    let (local, theirs) = (snapshot(&ci), remote_refs(&remote));
    pipeline_git(ci.path())
        .args(["sync", "--dry-run"])
        .assert()
        .code(0)
        .stdout("")
        .stderr(predicate::str::contains("dry run:"));
    pipeline_git(ci.path())
        .args(["hotfix", "start", "x", "--dry-run"])
        .assert()
        .code(0);
    assert_eq!(snapshot(&ci), local);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    let local = snapshot(&ci);
    let notes = ci.path().join("notes.md");
    pipeline_git(ci.path())
        .args(["release", "--dry-run", "--changelog-file"])
        .arg(&notes)
        .assert()
        .code(0)
        .stdout("")
        .stderr(predicate::str::contains(
            "dry run: would push develop, master and v1.3.0",
        ));
    pipeline_git(ci.path())
        .args(["changelog", "--dry-run", "--output"])
        .arg(&notes)
        .assert()
        .code(0);
    assert!(!notes.exists());
    assert_eq!(snapshot(&ci), local);
    assert_eq!(remote_refs(&remote), theirs);
}

#[test]
fn another_pipeline_pushing_in_between_makes_release_exit_1() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    let other = TestRepo::clone_of(&remote.url(), &[]);
    other.commit("fix: pushed meanwhile");
    other.git(&["push", "-q", "origin", "develop"]);
    let theirs = remote_refs(&remote);
    let local = snapshot(&ci);
    pipeline_git(ci.path())
        .arg("release")
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "remote origin moved since it was fetched (refs/heads/develop): nothing was pushed; fetch and re-run",
        ));
    assert_eq!(remote_refs(&remote), theirs);
    assert_eq!(snapshot(&ci), local);
}

#[test]
fn a_refused_push_is_undone_locally() {
    let (remote, _seed) = remote_with_diverged_branches();
    let hook = remote.path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho protected >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    let (local, theirs) = (snapshot(&ci), remote_refs(&remote));
    pipeline_git(ci.path())
        .arg("release")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("remote origin refused the push"))
        .stderr(predicate::str::contains("pre-receive hook declined"));
    assert_eq!(remote_refs(&remote), theirs);
    assert_eq!(snapshot(&ci), local);
}

#[test]
fn a_rerun_after_a_failed_push_finishes_the_release() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    let theirs = remote_refs(&remote);
    // Pushes go to a port nobody listens on: the tag is made and master
    // moved locally, the push fails on the network.
    let dead = format!("git://127.0.0.1:{}/", free_port());
    ci.git(&["remote", "set-url", "--push", "origin", &dead]);
    pipeline_git(ci.path())
        .args(["release", "--attempts", "2", "--retry-delay-ms", "0"])
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains(
            "git push with remote origin failed 2 time(s), the network looks down",
        ));
    assert_eq!(remote_refs(&remote), theirs);
    let tag = ci.git(&["rev-parse", "v1.3.0"]);
    assert_eq!(ci.git(&["rev-parse", "master"]), ci.head());

    ci.git(&["config", "--unset", "remote.origin.pushurl"]);
    let notes = ci.path().join("notes.md");
    pipeline_git(ci.path())
        .args(["release", "--changelog-file"])
        .arg(&notes)
        .assert()
        .code(0)
        .stdout("v1.3.0\n")
        .stderr(predicate::str::contains("tag v1.3.0: exists already"))
        .stderr(predicate::str::contains(
            "pushed develop, master and v1.3.0",
        ));
    assert_eq!(remote.git(&["rev-parse", "v1.3.0"]), tag);
    assert_eq!(remote.git(&["rev-parse", "master"]), ci.head());
    assert_eq!(remote.git(&["rev-parse", "develop"]), ci.head());
    // The finished release's notes: the existing tag's message.
    let written = std::fs::read_to_string(&notes).unwrap();
    assert!(written.starts_with("## [1.3.0] - "), "{written}");
    assert!(
        written.contains("### Features\n\n- **api:** list releases"),
        "{written}"
    );
    fsck(&remote);
}

#[test]
fn a_tag_on_the_remote_at_another_commit_names_both() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    let other = TestRepo::clone_of(&remote.url(), &[]);
    let elsewhere = other.commit("feat: elsewhere");
    other.tag("v1.3.0");
    other.git(&["push", "-q", "origin", "v1.3.0"]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    let theirs = remote_refs(&remote);
    pipeline_git(ci.path())
        .arg("release")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "tag v1.3.0 already exists at commit {elsewhere}, not at commit {}",
            ci.head()
        )));
    assert_eq!(remote_refs(&remote), theirs);
    assert_eq!(ci.git(&["tag", "-l", "v1.3.0"]), "");
}

#[test]
fn a_remote_without_atomic_pushes_is_refused_with_exit_3() {
    let (remote, _seed) = remote_with_diverged_branches();
    remote.git(&["config", "receive.advertiseAtomic", "false"]);
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    let theirs = remote_refs(&remote);
    pipeline_git(ci.path())
        .arg("release")
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "remote origin does not support atomic pushes",
        ))
        .stderr(predicate::str::contains(
            "refusing to push the refs one by one",
        ));
    assert_eq!(remote_refs(&remote), theirs);
}

#[test]
fn a_push_without_atomic_support_leaves_no_local_tag() {
    let (remote, _seed) = remote_with_diverged_branches();
    remote.git(&["config", "receive.advertiseAtomic", "false"]);
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    let (local, theirs) = (snapshot(&ci), remote_refs(&remote));
    pipeline_git(ci.path())
        .args(["release", "--merge", "no-ff"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "the local tag v1.3.0 and branch moves were undone",
        ));
    assert_eq!(remote_refs(&remote), theirs);
    assert_eq!(ci.git(&["tag", "-l", "v1.3.0"]), "");
    assert_eq!(snapshot(&ci), local);
}

/// `remote.origin.receivepack` set to a script `body` runs around
/// `git receive-pack "$@"`.
fn wrap_receive_pack(repo: &TestRepo, body: &str) {
    let script = repo.path().join(".git/receive-pack-wrapper.sh");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    repo.git(&[
        "config",
        "remote.origin.receivepack",
        script.to_str().unwrap(),
    ]);
}

#[test]
fn refused_credentials_leave_no_local_tag() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    wrap_receive_pack(
        &ci,
        "echo \"fatal: Authentication failed for 'https://x/'\" >&2\nexit 128",
    );
    let (local, theirs) = (snapshot(&ci), remote_refs(&remote));
    pipeline_git(ci.path())
        .arg("release")
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "remote origin refused the credentials",
        ));
    assert_eq!(remote_refs(&remote), theirs);
    assert_eq!(ci.git(&["tag", "-l", "v1.3.0"]), "");
    assert_eq!(snapshot(&ci), local);
}

#[test]
fn a_failure_while_moving_the_branches_rolls_the_tag_back() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = TestRepo::clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    // master checked out, with an untracked file where the release has
    // one: bringing master to the release cannot check it out.
    ci.branch("master", "origin/master");
    write(&ci, "c.txt", "in the way\n");
    let (local, theirs) = (snapshot(&ci), remote_refs(&remote));
    pipeline_git(ci.path())
        .args(["release", "--commit", "develop"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot check out master"));
    assert_eq!(ci.git(&["tag", "-l", "v1.3.0"]), "");
    assert_eq!(snapshot(&ci), local);
    assert_eq!(remote_refs(&remote), theirs);
}

#[test]
fn a_push_whose_reply_is_lost_is_a_release() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    // The server applies the push, then the connection drops before the
    // report reaches the client.
    wrap_receive_pack(
        &ci,
        r#"git receive-pack "$@" | perl -e '$|=1; my $s=""; while (sysread(STDIN, my $b, 65536)) { $s .= $b; exit 0 if $s =~ /unpack ok/; syswrite(STDOUT, $b) }'"#,
    );
    let merged = ci.head();
    pipeline_git(ci.path())
        .args(["release", "--attempts", "3", "--retry-delay-ms", "0"])
        .assert()
        .code(0)
        .stdout("v1.3.0\n")
        .stderr(predicate::str::contains(
            "pushed develop, master and v1.3.0",
        ));
    for rev in ["develop", "master", "v1.3.0^{commit}"] {
        assert_eq!(remote.git(&["rev-parse", rev]), merged, "{rev}");
    }
    // Nothing undone; the remote-tracking refs follow.
    assert_eq!(
        ci.git(&["rev-parse", "v1.3.0"]),
        remote.git(&["rev-parse", "v1.3.0"])
    );
    assert_eq!(ci.git(&["rev-parse", "master"]), merged);
    assert_eq!(ci.git(&["rev-parse", "origin/master"]), merged);
    assert_eq!(ci.git(&["rev-parse", "origin/develop"]), merged);
    fsck(&remote);
}

#[test]
fn a_feature_branch_descending_from_develop_is_not_released() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    ci.branch("feature/x", "develop");
    let feature = ci.commit("feat: not merged into develop");
    let (local, theirs) = (snapshot(&ci), remote_refs(&remote));
    pipeline_git(ci.path())
        .arg("release")
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "commit {feature} (HEAD) is not on develop"
        )));
    assert_eq!(remote_refs(&remote), theirs);
    assert_eq!(snapshot(&ci), local);
}

#[test]
fn a_tag_already_on_the_remote_at_the_release_commit_is_not_pushed_again() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    // An earlier run got the tag to the remote, not the branches.
    ci.annotated_tag("v1.3.0");
    ci.git(&["push", "-q", "origin", "v1.3.0"]);
    let tag = remote.git(&["rev-parse", "v1.3.0"]);
    pipeline_git(ci.path())
        .arg("release")
        .assert()
        .code(0)
        .stdout("v1.3.0\n")
        .stderr(predicate::str::contains(
            "tag v1.3.0: already on origin at that commit; not pushed again",
        ));
    assert_eq!(remote.git(&["rev-parse", "v1.3.0"]), tag);
    assert_eq!(remote.git(&["rev-parse", "master"]), ci.head());
    assert_eq!(remote.git(&["rev-parse", "develop"]), ci.head());
    fsck(&remote);
}

#[test]
fn a_dry_run_does_not_deepen_a_shallow_clone() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &["--depth", "1", "--no-single-branch"]);
    let before = snapshot(&ci);
    pipeline_git(ci.path())
        .args(["sync", "--dry-run", "--unshallow"])
        .assert()
        .stderr(predicate::str::contains(
            "is a shallow clone; would deepen it",
        ))
        .stderr(predicate::str::contains("nothing fetched"));
    assert_eq!(ci.git(&["rev-parse", "--is-shallow-repository"]), "true");
    assert_eq!(snapshot(&ci), before);
}

#[test]
fn release_with_a_merge_commit_on_master() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    let old_master = remote.git(&["rev-parse", "master"]);
    pipeline_git(ci.path())
        .args(["release", "--merge", "no-ff"])
        .assert()
        .code(0)
        .stdout("v1.3.0\n");
    assert_eq!(
        remote.git(&["log", "-1", "--format=%P", "master"]),
        format!("{old_master} {}", ci.head())
    );
    assert_eq!(remote.git(&["rev-parse", "v1.3.0^{commit}"]), ci.head());
    fsck(&remote);
    let before = remote_refs(&remote);
    pipeline_git(ci.path())
        .args(["release", "--merge", "no-ff"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("already released"));
    assert_eq!(remote_refs(&remote), before);
}

#[test]
fn a_shallow_clone_is_deepened_with_unshallow() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &["--depth", "1", "--no-single-branch"]);
    pipeline_git(ci.path())
        .arg("sync")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is a shallow clone: the merge base of develop and master may be cut off",
        ));
    assert_eq!(ci.git(&["rev-parse", "--is-shallow-repository"]), "true");
    pipeline_git(ci.path())
        .args(["sync", "--unshallow"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "git fetch --unshallow --tags origin",
        ));
    assert_eq!(ci.git(&["rev-parse", "--is-shallow-repository"]), "false");
    pipeline_git(ci.path())
        .args(["release", "--unshallow"])
        .assert()
        .code(0)
        .stdout("v1.3.0\n");
    assert_eq!(remote.git(&["rev-parse", "master"]), ci.head());
}

#[test]
fn hotfix_start_and_finish() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    pipeline_git(ci.path()).arg("release").assert().code(0);
    let dev = TestRepo::clone_of(&remote.url(), &[]);
    dev.commit("feat: next thing");
    dev.git(&["push", "-q", "origin", "develop"]);
    let develop_before = dev.head();

    pipeline_git(dev.path())
        .args(["hotfix", "start", "crash"])
        .assert()
        .code(0)
        .stdout("hotfix/crash\n");
    assert_eq!(
        dev.git(&["symbolic-ref", "HEAD"]),
        "refs/heads/hotfix/crash"
    );
    assert_eq!(dev.head(), remote.git(&["rev-parse", "master"]));
    write(&dev, "b.txt", "fixed again\n");
    dev.git(&["add", "b.txt"]);
    dev.git_dated(&["commit", "-q", "-m", "fix: crash on exit"]);
    let fix = dev.head();

    pipeline_git(dev.path())
        .args(["hotfix", "finish"])
        .assert()
        .code(0)
        .stdout("v1.3.1\n");
    assert_eq!(remote.git(&["rev-parse", "v1.3.1^{commit}"]), fix);
    assert_eq!(remote.git(&["rev-parse", "master"]), fix);
    assert_eq!(
        remote.git(&["log", "-1", "--format=%P", "develop"]),
        format!("{develop_before} {fix}")
    );
    fsck(&remote);
    let before = remote_refs(&remote);
    pipeline_git(dev.path())
        .args(["hotfix", "finish", "crash"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("already released"));
    assert_eq!(remote_refs(&remote), before);
}

#[test]
fn release_json_and_step_outputs() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.md");
    let out = in_actions(ci.path(), dir.path())
        .args([
            "release",
            "--json",
            "--date",
            "2026-11-26",
            "--changelog-file",
        ])
        .arg(&notes)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "pipeline-git/release/v1");
    assert_eq!(doc["action"], "released");
    assert_eq!(doc["tag"], "v1.3.0");
    assert_eq!(doc["commit"], ci.head());
    assert_eq!(doc["master"]["after"], ci.head());
    let notes_s = notes.display().to_string();
    assert_eq!(
        outputs(dir.path()),
        pairs(&[
            ("version", "1.3.0"),
            ("tag", "v1.3.0"),
            ("previous_tag", "v1.2.1"),
            ("released", "true"),
            ("changelog_file", &notes_s),
            ("release_url", ""),
        ])
    );
    assert!(
        std::fs::read_to_string(&notes)
            .unwrap()
            .starts_with("## [1.3.0] - 2026-11-26\n")
    );
}

const TOKEN: &str = "ghp_SeCrEt1234567890";
/// base64("x-access-token:" + TOKEN)
const ENCODED: &str = "eC1hY2Nlc3MtdG9rZW46Z2hwX1NlQ3JFdDEyMzQ1Njc4OTA=";

/// The token appears nowhere but in the one workflow command that tells
/// GitHub Actions to mask it (on stderr, when GITHUB_ACTIONS is set).
fn assert_no_token(out: &std::process::Output) {
    for text in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(text);
        let masked = format!("::add-mask::{TOKEN}\n");
        let rest = text.replacen(&masked, "", 1);
        assert!(!rest.contains(TOKEN), "token in output: {text}");
        assert!(!rest.contains(ENCODED), "encoded token in output: {text}");
    }
}

#[test]
fn the_token_never_reaches_the_output() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    let dir = tempfile::tempdir().unwrap();

    // An https remote nobody answers: retried, then exit 3.
    let dead = format!("https://127.0.0.1:{}/r.git", free_port());
    ci.git(&["remote", "set-url", "--push", "origin", &dead]);
    let out = in_actions(ci.path(), dir.path())
        .args([
            "-vvv",
            "release",
            "--attempts",
            "2",
            "--retry-delay-ms",
            "0",
        ])
        .env("GITHUB_TOKEN", TOKEN)
        .env("GIT_TRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_no_token(&out);
    let written = std::fs::read_to_string(dir.path().join("output")).unwrap_or_default();
    assert!(!written.contains(TOKEN));

    // An http server on loopback that refuses the credential: one failure,
    // no prompt, no loop; the header it received carries the token.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                request.push_str(&line);
            }
            record.lock().unwrap().push(request);
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    ci.git(&[
        "remote",
        "set-url",
        "--push",
        "origin",
        &format!("http://127.0.0.1:{port}/r.git"),
    ]);
    let out = pipeline_git(ci.path())
        .args(["release", "--attempts", "3", "--retry-delay-ms", "0"])
        .env("GIT_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_no_token(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("remote origin refused the credentials"),
        "{stderr}"
    );
    let requests = seen.lock().unwrap().clone();
    assert!(!requests.is_empty() && requests.len() <= 2, "{requests:?}");
    assert!(
        requests[0].contains(&format!("Authorization: Basic {ENCODED}")),
        "{requests:?}"
    );
}
