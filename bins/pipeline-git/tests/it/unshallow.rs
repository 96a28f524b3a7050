//! `--unshallow` on every command that takes it, in the shallow clones CI
//! really has: `git clone --depth 1, 2, 5`, single- and multi-branch, and
//! the way actions/checkout makes one (`git init`, `git fetch --depth=1
//! origin +SHA:refs/remotes/origin/develop`, a detached checkout).
//!
//! After deepening, every read must see the whole history: the answer is
//! the full clone's, never one computed on the history as it was cut.

use predicates::prelude::*;

use super::fixture::TestRepo;
use super::pipeline_git;

/// The remote: v1.1.0, v1.2.0 and v1.3.0 on develop, master at v1.3.0,
/// then a feature, a fix and docs on develop (the truth: 1.4.0), and a
/// branch hotfix/crash off master with one fix (its release: 1.3.1).
struct Remote {
    bare: TestRepo,
    develop: String,
    master: String,
    hotfix: String,
}

fn remote() -> Remote {
    let bare = TestRepo::bare();
    let seed = TestRepo::clone_of(&bare.url(), &[]);
    // Long enough that depth 5 cuts every branch, master included.
    for i in 0..6 {
        seed.commit(&format!("chore: set up part {i}"));
    }
    for (message, tag) in [
        ("feat: one", "v1.1.0"),
        ("feat: two", "v1.2.0"),
        ("feat: three", "v1.3.0"),
    ] {
        seed.commit(message);
        seed.annotated_tag(tag);
    }
    let master = seed.head();
    seed.git(&[
        "push",
        "-q",
        "origin",
        "develop",
        "develop:master",
        "--tags",
    ]);
    seed.commit("feat(api): list releases");
    seed.commit("fix: crash on an empty list");
    let develop = seed.commit("docs: explain releases");
    seed.git(&["push", "-q", "origin", "develop"]);
    seed.branch("hotfix/crash", &master);
    let hotfix = seed.commit("fix: crash on start");
    seed.git(&["push", "-q", "origin", "hotfix/crash"]);
    Remote {
        bare,
        develop,
        master,
        hotfix,
    }
}

/// The shallow checkouts tried.
const KINDS: [&str; 7] = [
    "depth 1",
    "depth 2",
    "depth 5",
    "depth 1 --no-single-branch",
    "depth 2 --no-single-branch",
    "depth 5 --no-single-branch",
    "actions/checkout",
];

/// A shallow checkout of develop with a detached HEAD, made as `kind` says.
fn shallow(remote: &Remote, kind: &str) -> TestRepo {
    let url = remote.bare.url();
    let repo = if kind == "actions/checkout" {
        let repo = TestRepo::new();
        repo.git(&["remote", "add", "origin", &url]);
        repo.git(&[
            "fetch",
            "-q",
            "--no-tags",
            "--prune",
            "--depth=1",
            "origin",
            &format!("+{}:refs/remotes/origin/develop", remote.develop),
        ]);
        repo.git(&["checkout", "-q", "--detach", &remote.develop]);
        repo
    } else {
        let mut args: Vec<&str> = kind.split(' ').collect();
        args[0] = "--depth";
        args.extend(["--branch", "develop"]);
        let repo = TestRepo::clone_of(&url, &args);
        repo.git(&["checkout", "-q", "--detach"]);
        repo.git(&["branch", "-q", "-D", "develop"]);
        repo
    };
    assert_eq!(
        repo.git(&["rev-parse", "--is-shallow-repository"]),
        "true",
        "{kind}"
    );
    assert_eq!(repo.head(), remote.develop, "{kind}");
    repo
}

fn assert_deepened(repo: &TestRepo, kind: &str) {
    assert_eq!(
        repo.git(&["rev-parse", "--is-shallow-repository"]),
        "false",
        "{kind}"
    );
}

#[test]
fn version_after_unshallow_is_the_full_clones() {
    let remote = remote();
    for kind in KINDS {
        let repo = shallow(&remote, kind);
        let out = pipeline_git(repo.path())
            .args(["version", "--unshallow"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{kind}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "1.4.0\n",
            "{kind}: {stderr}"
        );
        assert!(
            stderr.ends_with(
                "next version 1.4.0 (tag v1.4.0): minor bump; 3 commit(s) since v1.3.0, 2 releasable\n"
            ),
            "{kind}: {stderr}"
        );
        assert_deepened(&repo, kind);
    }
}

#[test]
fn version_json_after_unshallow_is_the_full_clones() {
    let remote = remote();
    for kind in ["depth 1", "actions/checkout"] {
        let repo = shallow(&remote, kind);
        let out = pipeline_git(repo.path())
            .args(["version", "--unshallow", "--json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{kind}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["version"], "1.4.0", "{kind}");
        assert_eq!(doc["previous_tag"], "v1.3.0", "{kind}");
        assert_eq!(doc["commits"]["total"], 3, "{kind}");
    }
}

#[test]
fn changelog_after_unshallow_is_the_full_clones() {
    let remote = remote();
    for kind in KINDS {
        let repo = shallow(&remote, kind);
        let out = pipeline_git(repo.path())
            .args(["changelog", "--unshallow", "--date", "2026-11-26"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{kind}: {stderr}");
        let notes = String::from_utf8_lossy(&out.stdout);
        assert!(
            notes.starts_with(
                "## [1.4.0] - 2026-11-26\n\n### Features\n\n- **api:** list releases ("
            ),
            "{kind}: {notes}"
        );
        assert!(
            notes.contains("- crash on an empty list ("),
            "{kind}: {notes}"
        );
        assert!(!notes.contains("three"), "{kind}: {notes}");
        assert_deepened(&repo, kind);
    }
}

#[test]
fn sync_after_unshallow_sees_that_develop_contains_master() {
    let remote = remote();
    for kind in KINDS {
        let repo = shallow(&remote, kind);
        let out = pipeline_git(repo.path())
            .args(["sync", "--unshallow"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{kind}: {stderr}");
        // Up to date: develop already contains master, no merge commit.
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}\n", remote.develop),
            "{kind}: {stderr}"
        );
        assert!(
            stderr.contains("is up to date with master"),
            "{kind}: {stderr}"
        );
        assert_eq!(repo.head(), remote.develop, "{kind}");
        assert_deepened(&repo, kind);
    }
}

#[test]
fn release_after_unshallow_releases_the_full_clones_version() {
    for kind in KINDS {
        let remote = remote();
        let repo = shallow(&remote, kind);
        let out = pipeline_git(repo.path())
            .args(["release", "--unshallow", "--date", "2026-11-26"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{kind}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "v1.4.0\n",
            "{kind}: {stderr}"
        );
        assert!(
            stderr.contains("release v1.4.0 (1.4.0) of commit"),
            "{kind}: {stderr}"
        );
        assert_eq!(
            remote.bare.git(&["rev-parse", "v1.4.0^{commit}"]),
            remote.develop,
            "{kind}"
        );
        assert_eq!(
            remote.bare.git(&["rev-parse", "master"]),
            remote.develop,
            "{kind}"
        );
        assert_eq!(
            remote.bare.git(&["rev-parse", "develop"]),
            remote.develop,
            "{kind}"
        );
        let notes = remote
            .bare
            .git(&["tag", "-l", "--format=%(contents)", "v1.4.0"]);
        assert!(
            notes.starts_with(
                "## [1.4.0] - 2026-11-26\n\n### Features\n\n- **api:** list releases ("
            ),
            "{kind}: {notes}"
        );
        assert_deepened(&repo, kind);
    }
}

#[test]
fn a_dry_run_with_unshallow_never_plans_on_a_cut_history() {
    let remote = remote();
    for kind in ["depth 1", "depth 2 --no-single-branch", "actions/checkout"] {
        let repo = shallow(&remote, kind);
        // The dry run does not deepen, so it cannot plan: it says why.
        pipeline_git(repo.path())
            .args(["release", "--unshallow", "--dry-run"])
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains("would deepen it"))
            .stderr(predicate::str::contains("is a shallow clone"));
        assert_eq!(
            repo.git(&["rev-parse", "--is-shallow-repository"]),
            "true",
            "{kind}"
        );
    }
}

#[test]
fn hotfix_start_after_unshallow_branches_off_master() {
    let remote = remote();
    for kind in KINDS {
        let repo = shallow(&remote, kind);
        let out = pipeline_git(repo.path())
            .args(["hotfix", "start", "leak", "--unshallow"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{kind}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hotfix/leak\n",
            "{kind}"
        );
        assert_eq!(repo.head(), remote.master, "{kind}");
        assert_eq!(
            repo.git(&["symbolic-ref", "HEAD"]),
            "refs/heads/hotfix/leak",
            "{kind}"
        );
        assert_deepened(&repo, kind);
    }
}

#[test]
fn hotfix_finish_after_unshallow_releases_the_patch() {
    for kind in KINDS {
        let remote = remote();
        let repo = shallow(&remote, kind);
        let out = pipeline_git(repo.path())
            .args(["hotfix", "finish", "crash", "--unshallow"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{kind}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "v1.3.1\n",
            "{kind}: {stderr}"
        );
        assert_eq!(
            remote.bare.git(&["rev-parse", "v1.3.1^{commit}"]),
            remote.hotfix,
            "{kind}"
        );
        assert_eq!(
            remote.bare.git(&["rev-parse", "master"]),
            remote.hotfix,
            "{kind}"
        );
        assert_eq!(
            remote.bare.git(&["log", "-1", "--format=%P", "develop"]),
            format!("{} {}", remote.develop, remote.hotfix),
            "{kind}"
        );
        assert_deepened(&repo, kind);
    }
}
