//! The release transaction (`Repo::release`, `Repo::publish_release`)
//! against real repositories: a bare remote, clones of it, the git
//! command line pushing; every outcome and refusal checked with git.

#![allow(clippy::result_large_err)] // tests pass the library's error on as it is

use std::path::Path;
use std::time::Duration;

use pipeline_gitflow::{
    AfterFailedPush, FailureKind, FlowError, GitCli, Identity, Publish, ReadOptions,
    ReleaseOutcome, ReleaseRequest, RemoteError, Repo, Request, Retry,
};

use crate::fixture::TestRepo;

/// A bare remote: master and develop at v1.2.0, then a feature and a fix
/// on develop (the next release: 1.3.0).
fn remote() -> TestRepo {
    let remote = TestRepo::bare();
    let seed = TestRepo::clone_of(&remote.url(), &[]);
    seed.commit("chore: init");
    seed.annotated_tag("v1.2.0");
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
    seed.git(&["push", "-q", "origin", "develop"]);
    remote
}

/// A CI checkout: detached at origin/develop.
fn checkout(remote: &TestRepo) -> TestRepo {
    let ci = TestRepo::clone_of(&remote.url(), &[]);
    ci.git(&["checkout", "-q", "--detach"]);
    ci.git(&["branch", "-q", "-D", "develop"]);
    ci
}

fn git_cli(repo: &Repo) -> GitCli {
    GitCli::for_remote(repo, "origin", None)
        .unwrap()
        .retry(Retry::new(2, Duration::ZERO))
}

fn request() -> ReleaseRequest {
    ReleaseRequest::new(Request::default(), "2026-11-26".parse().unwrap())
}

fn release(ci: &TestRepo, publish: &Publish) -> Result<ReleaseOutcome, FlowError> {
    let repo = Repo::open(ci.path()).unwrap();
    repo.release(
        &git_cli(&repo),
        &ReadOptions::default(),
        &request(),
        publish,
    )
}

fn refs(repo: &TestRepo) -> String {
    repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"])
}

/// `remote.origin.receivepack` set to a script `body` that runs around
/// `git receive-pack "$@"` (for a file:// remote it runs here).
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

fn no_local_tag(ci: &TestRepo) {
    assert_eq!(ci.git(&["tag", "-l", "v1.3.0"]), "");
}

#[test]
fn a_release_is_tagged_and_pushed_and_a_rerun_finds_it_done() {
    let remote = remote();
    let ci = checkout(&remote);
    let head = ci.head();
    let outcome = release(&ci, &Publish::default()).unwrap();
    let ReleaseOutcome::Released(released) = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(released.plan().tag(), "v1.3.0");
    assert_eq!(released.plan().previous_tag(), Some("v1.2.0"));
    assert_eq!(released.develop().map(|c| c.as_str()), Some(head.as_str()));
    assert_eq!(released.master().map(|c| c.as_str()), Some(head.as_str()));
    assert!(released.tag_pushed());
    for rev in ["develop", "master", "v1.3.0^{commit}"] {
        assert_eq!(remote.git(&["rev-parse", rev]), head, "{rev}");
    }
    assert_eq!(remote.git(&["cat-file", "-t", "v1.3.0"]), "tag");
    let notes = remote.git(&["tag", "-l", "--format=%(contents)", "v1.3.0"]);
    assert!(notes.starts_with("## [1.3.0] - 2026-11-26\n"), "{notes}");
    // The remote-tracking refs follow.
    assert_eq!(ci.git(&["rev-parse", "origin/master"]), head);
    remote.git(&["fsck", "--strict", "--no-progress"]);

    // Again, and from a fresh checkout: found done, nothing pushed.
    let before = refs(&remote);
    for ci in [&ci, &checkout(&remote)] {
        let outcome = release(ci, &Publish::default()).unwrap();
        let ReleaseOutcome::AlreadyReleased(found) = &outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(found.plan().tag(), "v1.3.0");
        assert_eq!(found.develop(), None);
        assert_eq!(refs(&remote), before);
    }
}

#[test]
fn a_dry_run_reads_the_remote_and_changes_nothing() {
    let remote = remote();
    let ci = checkout(&remote);
    let (local, theirs) = (refs(&ci), refs(&remote));
    let outcome = release(&ci, &Publish::default().dry_run(true)).unwrap();
    let ReleaseOutcome::Planned(plan) = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(plan.tag(), "v1.3.0");
    assert_eq!((refs(&ci), refs(&remote)), (local, theirs));
}

#[test]
fn nothing_to_release_touches_nothing() {
    let remote = remote();
    let ci = checkout(&remote);
    release(&ci, &Publish::default()).unwrap();
    let docs = TestRepo::clone_of(&remote.url(), &[]);
    docs.commit("docs: words");
    docs.git(&["push", "-q", "origin", "develop"]);
    let ci = checkout(&remote);
    let before = refs(&remote);
    let outcome = release(&ci, &Publish::default()).unwrap();
    let ReleaseOutcome::NothingToRelease { plan, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(plan.previous().map(|t| t.name()), Some("v1.3.0"));
    assert!(outcome.plan().is_none());
    assert_eq!(refs(&remote), before);
}

#[test]
fn the_remote_moved_before_the_push_is_refused_and_nothing_is_made() {
    let remote = remote();
    let ci = checkout(&remote);
    let other = TestRepo::clone_of(&remote.url(), &[]);
    other.commit("fix: pushed meanwhile");
    other.git(&["push", "-q", "origin", "develop"]);
    let (local, theirs) = (refs(&ci), refs(&remote));
    let error = release(&ci, &Publish::default()).unwrap_err();
    let FlowError::RemoteMoved {
        remote: name,
        refs: moved,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(
        (name.as_str(), moved.as_slice()),
        ("origin", &["refs/heads/develop".to_owned()][..])
    );
    assert_eq!(error.kind(), FailureKind::Refused);
    assert_eq!((refs(&ci), refs(&remote)), (local, theirs));
}

#[test]
fn the_remote_moving_during_the_push_is_refused_by_the_lease_and_undone() {
    let remote = remote();
    let ci = checkout(&remote);
    let other = TestRepo::clone_of(&remote.url(), &[]);
    let meanwhile = other.commit("fix: pushed between ls-remote and push");
    other.git(&["push", "-q", "origin", "HEAD:refs/heads/elsewhere"]);
    // Another pipeline wins the race just before this push arrives.
    wrap_receive_pack(
        &ci,
        &format!(
            "git --git-dir=\"{}\" update-ref refs/heads/develop {meanwhile}\nexec git receive-pack \"$@\"",
            remote.path().display()
        ),
    );
    let local = refs(&ci);
    let error = release(&ci, &Publish::default()).unwrap_err();
    let FlowError::RemoteMoved { refs: moved, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(moved, &["refs/heads/develop: stale info".to_owned()]);
    assert_eq!(error.kind(), FailureKind::Refused);
    // Atomic: master and the tag did not move either; nothing stays local.
    assert_eq!(remote.git(&["tag", "-l", "v1.3.0"]), "");
    assert_eq!(remote.git(&["rev-parse", "develop"]), meanwhile);
    no_local_tag(&ci);
    assert_eq!(refs(&ci), local);
}

#[test]
fn two_racing_releases_make_one_release() {
    let remote = remote();
    let (a, b) = (checkout(&remote), checkout(&remote));
    let head = a.head();
    // Two pipelines (their tag objects differ by the tagger).
    let paths = [
        (
            a.path().to_path_buf(),
            Identity::new("Pipeline A", "a@example.com"),
        ),
        (
            b.path().to_path_buf(),
            Identity::new("Pipeline B", "b@example.com"),
        ),
    ];
    let outcomes: Vec<Result<ReleaseOutcome, FlowError>> = std::thread::scope(|scope| {
        let runs: Vec<_> = paths
            .iter()
            .map(|(path, who)| {
                scope.spawn(move || {
                    let repo = Repo::open(path).unwrap();
                    repo.release(
                        &git_cli(&repo),
                        &ReadOptions::default(),
                        &request(),
                        &Publish::default().identity(who.clone()),
                    )
                })
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    // One wins; the other finds the release there or is refused (and
    // undoes its local part).
    let released = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(ReleaseOutcome::Released(_))))
        .count();
    assert_eq!(released, 1, "{outcomes:?}");
    let tag = remote.git(&["rev-parse", "v1.3.0"]);
    for (outcome, ci) in outcomes.iter().zip([&a, &b]) {
        match outcome {
            Ok(ReleaseOutcome::Released(_)) => {
                assert_eq!(ci.git(&["rev-parse", "v1.3.0"]), tag);
            }
            Ok(ReleaseOutcome::AlreadyReleased(_)) => {}
            Err(error) => {
                assert_eq!(error.kind(), FailureKind::Refused, "{error}");
                no_local_tag(ci);
            }
            other => panic!("{other:?}"),
        }
    }
    for rev in ["develop", "master", "v1.3.0^{commit}"] {
        assert_eq!(remote.git(&["rev-parse", rev]), head, "{rev}");
    }
    remote.git(&["fsck", "--strict", "--no-progress"]);
}

#[test]
fn a_remote_without_atomic_pushes_is_refused_and_the_local_part_undone() {
    let remote = remote();
    remote.git(&["config", "receive.advertiseAtomic", "false"]);
    let ci = checkout(&remote);
    let (local, theirs) = (refs(&ci), refs(&remote));
    let error = release(&ci, &Publish::default()).unwrap_err();
    let FlowError::PushFailed { after, source, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(matches!(after, AfterFailedPush::Undone), "{after:?}");
    assert!(
        matches!(**source, RemoteError::AtomicUnsupported { .. }),
        "{source:?}"
    );
    assert_eq!(error.kind(), FailureKind::External);
    assert!(
        error
            .to_string()
            .ends_with("the local tag v1.3.0 and branch moves were undone"),
        "{error}"
    );
    assert_eq!((refs(&ci), refs(&remote)), (local, theirs));
}

#[test]
fn a_hook_refusing_the_push_is_refused_and_undone() {
    let remote = remote();
    let hook = remote.path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho protected >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let ci = checkout(&remote);
    let (local, theirs) = (refs(&ci), refs(&remote));
    let error = release(&ci, &Publish::default()).unwrap_err();
    let FlowError::PushRefused { refs: refused, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(
        refused
            .iter()
            .all(|r| r.ends_with(": pre-receive hook declined")),
        "{refused:?}"
    );
    assert_eq!(error.kind(), FailureKind::Refused);
    assert_eq!((refs(&ci), refs(&remote)), (local, theirs));
}

#[test]
fn a_push_that_cannot_reach_the_remote_is_kept_for_a_rerun_to_finish() {
    let remote = remote();
    let ci = checkout(&remote);
    let theirs = refs(&remote);
    let dead = Path::new("/nowhere/remote.git").display().to_string();
    ci.git(&["remote", "set-url", "--push", "origin", &dead]);
    let error = release(&ci, &Publish::default()).unwrap_err();
    let FlowError::PushFailed { after, .. } = &error else {
        panic!("{error:?}");
    };
    // The push URL cannot be read either: kept.
    assert!(matches!(after, AfterFailedPush::Kept), "{after:?}");
    assert_eq!(refs(&remote), theirs);
    let tag = ci.git(&["rev-parse", "v1.3.0"]);

    ci.git(&["config", "--unset", "remote.origin.pushurl"]);
    let outcome = release(&ci, &Publish::default()).unwrap();
    let ReleaseOutcome::Released(released) = &outcome else {
        panic!("{outcome:?}");
    };
    assert!(released.plan().tag_exists());
    assert_eq!(remote.git(&["rev-parse", "v1.3.0"]), tag);
}

#[test]
fn a_hotfix_is_published_the_same_way() {
    let remote = remote();
    let dev = TestRepo::clone_of(&remote.url(), &[]);
    let develop = dev.head();
    let repo = Repo::open(dev.path()).unwrap();
    let (start, created) = repo
        .start_branch(&ReadOptions::default(), "hotfix/crash", false)
        .unwrap();
    assert!(created);
    assert_eq!(start.as_str(), remote.git(&["rev-parse", "master"]));
    let fix = dev.commit("fix: crash on exit");
    let decision = repo
        .plan_hotfix_finish(
            &ReadOptions::default(),
            "hotfix/crash",
            &Request::default(),
            "2026-11-26".parse().unwrap(),
            pipeline_gitflow::MergeMode::default(),
        )
        .unwrap();
    let outcome = repo
        .publish_release(&git_cli(&repo), decision, &Publish::default())
        .unwrap();
    let ReleaseOutcome::Released(released) = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(released.plan().tag(), "v1.2.1");
    assert_eq!(remote.git(&["rev-parse", "v1.2.1^{commit}"]), fix);
    assert_eq!(remote.git(&["rev-parse", "master"]), fix);
    // develop gets a merge commit of the hotfix.
    assert_eq!(
        remote.git(&["log", "-1", "--format=%P", "develop"]),
        format!("{develop} {fix}")
    );
    assert_eq!(
        released.develop().map(|c| c.as_str().to_owned()),
        Some(remote.git(&["rev-parse", "develop"]))
    );
    remote.git(&["fsck", "--strict", "--no-progress"]);
}
