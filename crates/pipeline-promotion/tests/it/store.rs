//! The git state store: a bare repository as the remote, clones of it as
//! the runners, the remote checked with `git` itself.

use std::error::Error as _;
use std::net::TcpListener;
use std::sync::Barrier;

use pipeline_ci::Secret;
use pipeline_gitflow::{GitCli, RemoteError};
use pipeline_promotion::{GitStore, Record, Revision, StoreError};

use crate::fixture::{TestRepo, quick_retry, record};

const QA: &str = "refs/pipeline/envs/qa";
const QA_LOCK: &str = "refs/pipeline/locks/qa";

/// The error and its sources, as a binary would print them.
fn chain(err: &StoreError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn append(store: &GitStore, record: &Record, expected: Option<&Revision>) -> Revision {
    store
        .append(&record.env, record, expected)
        .unwrap_or_else(|e| panic!("{}", chain(&e)))
}

#[test]
fn records_round_trip_as_a_chain_of_commits_on_the_remote() {
    let remote = TestRepo::remote();
    let develop = remote.ref_value("refs/heads/develop");
    let a = TestRepo::clone_of(&remote, &[]);
    let store = a.store();

    assert_eq!(store.current("qa").unwrap(), None);
    assert_eq!(store.history("qa", 10).unwrap(), Vec::<Record>::new());

    let r1 = record("qa", "1.2.0", 1_700_000_000, "ada");
    let r2 = record("qa", "1.3.0", 1_700_000_600, "ci run 7");
    let mut r3 = record("qa", "1.4.0", 1_700_001_200, "bob");
    r3.outcome = pipeline_promotion::Outcome::RolledBack;
    r3.live_version = Some("1.3.0".to_owned());
    r3.live_sha256 = r2.live_sha256.clone();
    r3.note = "verify `smoke` failed".to_owned();

    let rev1 = append(&store, &r1, None);
    let current = store.current("qa").unwrap().unwrap();
    assert_eq!(current.record, r1);
    assert_eq!(current.revision, rev1);
    let rev2 = append(&store, &r2, Some(&rev1));
    let rev3 = append(&store, &r3, Some(&rev2));

    assert_eq!(
        store.current("qa").unwrap().unwrap().revision.as_str(),
        rev3.as_str()
    );
    assert_eq!(
        store.history("qa", 10).unwrap(),
        vec![r3.clone(), r2.clone(), r1.clone()]
    );
    assert_eq!(store.history("qa", 2).unwrap(), vec![r3.clone(), r2]);
    assert_eq!(store.history("qa", 0).unwrap(), Vec::<Record>::new());

    // The remote, as git sees it: one commit per record, each the child of
    // the one before, by the record's author at its time.
    assert_eq!(remote.ref_value(QA).as_deref(), Some(rev3.as_str()));
    assert_eq!(
        remote.git(&["log", "--format=%H %P", QA]),
        format!(
            "{rev3} {rev2}\n{rev2} {rev1}\n{rev1} ",
            rev1 = rev1.as_str(),
            rev2 = rev2.as_str(),
            rev3 = rev3.as_str()
        )
        .trim()
    );
    assert_eq!(
        remote.git(&["log", "--format=%s", QA]),
        "qa: 1.4.0 rolled back (sha256 000000000000…) by bob, 1.3.0 live\n\
         qa: 1.3.0 live (sha256 000000000000…) by ci run 7\n\
         qa: 1.2.0 live (sha256 000000000000…) by ada"
    );
    assert_eq!(
        remote.git(&["log", "-1", "--format=%an <%ae> %at %cn %ct", rev1.as_str()]),
        "ada <pipeline@invalid> 1700000000 ada 1700000000"
    );
    assert_eq!(
        remote.git(&["ls-tree", "--name-only", rev3.as_str()]),
        "record.json"
    );
    let json = remote.git(&["show", &format!("{QA}:record.json")]);
    assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), r3);
    assert!(
        json.contains("\n  \"version\": \"1.4.0\""),
        "pretty: {json}"
    );

    // Nothing else moved; other environments are empty.
    assert_eq!(remote.ref_value("refs/heads/develop"), develop);
    assert_eq!(store.current("prod").unwrap(), None);
}

#[test]
fn a_second_clone_sees_the_first_ones_records() {
    let remote = TestRepo::remote();
    let a = TestRepo::clone_of(&remote, &[]);
    let b = TestRepo::clone_of(&remote, &[]);
    let r1 = record("qa", "1.2.0", 1_700_000_000, "runner-a");
    let rev1 = append(&a.store(), &r1, None);

    let seen = b.store().current("qa").unwrap().unwrap();
    assert_eq!(seen.record, r1);
    assert_eq!(seen.revision, rev1);
    // Fetched into the private namespace only.
    assert_eq!(
        b.git(&["rev-parse", "refs/pipeline-remote/envs/qa"]),
        rev1.as_str()
    );
    assert_eq!(b.git(&["for-each-ref", "refs/pipeline/"]), "");

    let r2 = record("qa", "1.3.0", 1_700_000_100, "runner-b");
    let rev2 = append(&b.store(), &r2, Some(&seen.revision));
    let back = a.store().current("qa").unwrap().unwrap();
    assert_eq!(back.revision, rev2);
    assert_eq!(a.store().history("qa", 5).unwrap(), vec![r2, r1]);
}

#[test]
fn a_shallow_clone_reads_the_whole_history() {
    let remote = TestRepo::remote();
    let a = TestRepo::clone_of(&remote, &[]);
    let store = a.store();
    let records: Vec<Record> = (0..4)
        .map(|i| record("dev", &format!("1.{i}.0"), 1_700_000_000 + i, "ci"))
        .collect();
    let mut rev = None;
    for r in &records {
        rev = Some(append(&store, r, rev.as_ref()));
    }
    let shallow = TestRepo::clone_of(&remote, &["--depth", "1"]);
    assert_eq!(
        shallow.git(&["rev-parse", "--is-shallow-repository"]),
        "true"
    );
    let newest_first: Vec<Record> = records.into_iter().rev().collect();
    assert_eq!(shallow.store().history("dev", 10).unwrap(), newest_first);
}

#[test]
fn an_append_on_a_moved_remote_is_a_conflict_and_writes_nothing() {
    let remote = TestRepo::remote();
    let a = TestRepo::clone_of(&remote, &[]);
    let b = TestRepo::clone_of(&remote, &[]);
    let base = append(
        &a.store(),
        &record("qa", "1.0.0", 1_700_000_000, "seed"),
        None,
    );

    let read_a = a.store().current("qa").unwrap().unwrap().revision;
    let read_b = b.store().current("qa").unwrap().unwrap().revision;
    assert_eq!(read_a, base);
    assert_eq!(read_b, base);
    let r2 = append(
        &b.store(),
        &record("qa", "1.1.0", 1_700_000_100, "runner-b"),
        Some(&read_b),
    );

    let err = a
        .store()
        .append(
            "qa",
            &record("qa", "1.2.0", 1_700_000_200, "runner-a"),
            Some(&read_a),
        )
        .unwrap_err();
    match &err {
        StoreError::Conflict {
            env,
            reference,
            expected,
            actual,
        } => {
            assert_eq!(env, "qa");
            assert_eq!(reference, QA);
            assert_eq!(expected.as_ref(), Some(&base));
            assert_eq!(actual.as_ref(), Some(&r2));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "the state of qa moved on the remote: {QA} is now at {r2}, it was at {base} when \
             read; nothing was written"
        )
    );
    assert_eq!(remote.ref_value(QA).as_deref(), Some(r2.as_str()));
    assert_eq!(remote.git(&["rev-list", "--count", QA]), "2");

    // "No record yet" is a lease too.
    let err = a
        .store()
        .append(
            "qa",
            &record("qa", "1.2.0", 1_700_000_200, "runner-a"),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { expected: None, actual: Some(actual), .. } if *actual == r2),
        "{err:?}"
    );
    // A revision the remote never had.
    let unknown = Revision::new("0123456789abcdef0123456789abcdef01234567");
    let err = a
        .store()
        .append(
            "qa",
            &record("qa", "1.2.0", 1_700_000_200, "runner-a"),
            Some(&unknown),
        )
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { actual: Some(actual), .. } if *actual == r2),
        "{err:?}"
    );
    assert_eq!(remote.ref_value(QA).as_deref(), Some(r2.as_str()));

    // With what it reads now, A appends.
    let now = a.store().current("qa").unwrap().unwrap().revision;
    let r3 = append(
        &a.store(),
        &record("qa", "1.2.0", 1_700_000_200, "runner-a"),
        Some(&now),
    );
    assert_eq!(remote.ref_value(QA).as_deref(), Some(r3.as_str()));
}

#[test]
fn records_and_names_are_checked_before_anything_is_written() {
    let remote = TestRepo::remote();
    let a = TestRepo::clone_of(&remote, &[]);
    let store = a.store();
    let err = store
        .append("dev", &record("qa", "1.0.0", 1, "a"), None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "a record of qa cannot be appended to the history of dev"
    );
    let err = store.current("../heads/develop").unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidEnvironment { .. }),
        "{err:?}"
    );
    assert!(matches!(
        store.lock("QA", "a", "b", 1, 1).unwrap_err(),
        StoreError::InvalidEnvironment { .. }
    ));
    assert_eq!(remote.git(&["for-each-ref", "refs/pipeline/"]), "");
}

#[test]
fn one_promotion_per_environment_at_a_time() {
    let remote = TestRepo::remote();
    let a = TestRepo::clone_of(&remote, &[]);
    let b = TestRepo::clone_of(&remote, &[]);
    let (sa, sb) = (a.store(), b.store());
    let hour = 3600;

    assert_eq!(sa.locked_by("qa").unwrap(), None);
    let guard_a = sa
        .lock("qa", "runner-a", "promote 1.2.0 to qa", 1_700_000_000, hour)
        .unwrap();
    assert_eq!(guard_a.env(), "qa");
    assert_eq!(
        remote.ref_value(QA_LOCK).as_deref(),
        Some(guard_a.revision().as_str())
    );
    let lock_json = remote.git(&["show", &format!("{QA_LOCK}:lock.json")]);
    assert!(lock_json.contains("\"by\": \"runner-a\""), "{lock_json}");

    let err = sb
        .lock("qa", "runner-b", "promote 1.3.0 to qa", 1_700_000_060, hour)
        .unwrap_err();
    match &err {
        StoreError::Locked {
            env,
            reference,
            by,
            what,
            since,
            ..
        } => {
            assert_eq!((env.as_str(), reference.as_str()), ("qa", QA_LOCK));
            assert_eq!(by, "runner-a");
            assert_eq!(what, "promote 1.2.0 to qa");
            assert_eq!(*since, 1_700_000_000);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "qa is locked by runner-a since 2023-11-14 22:13:20 UTC (promote 1.2.0 to qa); lock ref \
         refs/pipeline/locks/qa"
    );
    let held = sb.locked_by("qa").unwrap().unwrap();
    assert_eq!(
        (held.by.as_str(), held.what.as_str(), held.since),
        ("runner-a", "promote 1.2.0 to qa", 1_700_000_000)
    );
    assert_eq!(held.id.len(), 16, "{held:?}");
    // Other environments are free.
    let dev = sb
        .lock(
            "dev",
            "runner-b",
            "promote 1.3.0 to dev",
            1_700_000_060,
            hour,
        )
        .unwrap();
    sb.unlock(dev).unwrap();

    sa.unlock(guard_a).unwrap();
    assert_eq!(remote.ref_value(QA_LOCK), None);
    assert_eq!(sb.locked_by("qa").unwrap(), None);

    let guard_b = sb
        .lock("qa", "runner-b", "promote 1.3.0 to qa", 1_700_000_120, hour)
        .unwrap();
    assert_eq!(guard_b.info().by, "runner-b");

    // B's lock goes stale; A takes it over. B's unlock must leave A's lock.
    let guard_a2 = sa
        .lock(
            "qa",
            "runner-a",
            "promote 1.2.1 to qa",
            1_700_000_120 + 2 * hour,
            hour,
        )
        .unwrap();
    let err = sb.unlock(guard_b).unwrap_err();
    match &err {
        StoreError::LockLost { env, by, what, .. } => {
            assert_eq!(env, "qa");
            assert_eq!(by, "runner-a");
            assert_eq!(what, "promote 1.2.1 to qa");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("refs/pipeline/locks/qa was left alone"),
        "{err}"
    );
    assert_eq!(
        remote.ref_value(QA_LOCK).as_deref(),
        Some(guard_a2.revision().as_str())
    );
    sa.unlock(guard_a2).unwrap();
    assert_eq!(remote.ref_value(QA_LOCK), None);
}

#[test]
fn a_stale_lock_is_taken_over_and_a_fresh_one_is_not() {
    let remote = TestRepo::remote();
    let a = TestRepo::clone_of(&remote, &[]);
    let b = TestRepo::clone_of(&remote, &[]);
    let since = 1_000_000_000;
    let stale = a
        .store()
        .lock("qa", "crashed run", "promote 0.9.0", since, 600)
        .unwrap();

    // Exactly 600 s old: still held.
    let err = b
        .store()
        .lock("qa", "runner-b", "promote 1.0.0", since + 600, 600)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Locked { by, .. } if by == "crashed run"),
        "{err:?}"
    );

    let guard = b
        .store()
        .lock("qa", "runner-b", "promote 1.0.0", 1_700_000_000, 600)
        .unwrap();
    assert_ne!(guard.revision(), stale.revision());
    assert_eq!(
        remote.ref_value(QA_LOCK).as_deref(),
        Some(guard.revision().as_str())
    );
    assert_eq!(a.store().locked_by("qa").unwrap().unwrap().by, "runner-b");
    b.store().unlock(guard).unwrap();
}

#[test]
fn two_runners_racing_for_a_lock_one_wins() {
    let remote = TestRepo::remote();
    let a = TestRepo::clone_of(&remote, &[]);
    let b = TestRepo::clone_of(&remote, &[]);
    let stores = [a.store(), b.store()];
    for round in 0..10u64 {
        let barrier = Barrier::new(2);
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(i, store)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        // Same second, same purpose: only the owner differs.
                        store.lock(
                            "qa",
                            &format!("runner-{i}"),
                            "promote",
                            1_700_000_000 + round,
                            3600,
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let (won, lost): (Vec<_>, Vec<_>) = results
            .into_iter()
            .zip(&stores)
            .partition(|(r, _)| r.is_ok());
        assert_eq!((won.len(), lost.len()), (1, 1), "round {round}");
        let (guard, store) = won.into_iter().next().unwrap();
        let guard = guard.unwrap();
        let (err, _) = lost.into_iter().next().unwrap();
        match err.unwrap_err() {
            StoreError::Locked { by, .. } => assert_eq!(by, guard.info().by, "round {round}"),
            other => panic!("round {round}: {other:?}"),
        }
        assert_eq!(
            remote.ref_value(QA_LOCK).as_deref(),
            Some(guard.revision().as_str())
        );
        store.unlock(guard).unwrap();
        assert_eq!(remote.ref_value(QA_LOCK), None);
    }
}

#[test]
fn the_same_owner_twice_is_still_two_locks() {
    let remote = TestRepo::remote();
    let a = TestRepo::clone_of(&remote, &[]);
    let b = TestRepo::clone_of(&remote, &[]);
    let guard = a
        .store()
        .lock("qa", "ci", "promote", 1_700_000_000, 600)
        .unwrap();
    let err = b
        .store()
        .lock("qa", "ci", "promote", 1_700_000_000, 600)
        .unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    a.store().unlock(guard).unwrap();
}

/// Pushes a commit whose tree holds `file` with `contents` to `reference`,
/// by hand, from `clone`, on `parent`.
fn push_by_hand(
    clone: &TestRepo,
    reference: &str,
    file: &str,
    contents: &str,
    parent: Option<&str>,
) -> String {
    let blob = clone.git_stdin(&["hash-object", "-w", "--stdin"], contents);
    let tree = clone.git_stdin(&["mktree"], &format!("100644 blob {blob}\t{file}\n"));
    let mut args = vec!["commit-tree", "-m", "by hand"];
    if let Some(parent) = parent {
        args.extend(["-p", parent]);
    }
    args.push(&tree);
    let commit = clone.git(&args);
    clone.git(&[
        "push",
        "-q",
        "--force",
        "origin",
        &format!("{commit}:{reference}"),
    ]);
    commit
}

#[test]
fn a_record_that_does_not_parse_is_corrupt_naming_the_ref() {
    let remote = TestRepo::remote();
    let a = TestRepo::clone_of(&remote, &[]);
    let b = TestRepo::clone_of(&remote, &[]);
    let bad = push_by_hand(&a, QA, "record.json", "{\"env\": \"qa\", ", None);

    let err = b.store().current("qa").unwrap_err();
    match &err {
        StoreError::Corrupt { reference, reason } => {
            assert_eq!(reference, QA);
            assert!(
                reason.starts_with(&format!("record.json of commit {bad}: ")),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("refs/pipeline/envs/qa is corrupt: "),
        "{err}"
    );
    assert!(matches!(
        b.store().history("qa", 3).unwrap_err(),
        StoreError::Corrupt { .. }
    ));

    // A good record on top: the newest reads, the whole history does not.
    let good = record("qa", "1.0.0", 1_700_000_000, "ci");
    append(&b.store(), &good, Some(&Revision::new(bad.clone())));
    assert_eq!(b.store().current("qa").unwrap().unwrap().record, good);
    assert_eq!(b.store().history("qa", 1).unwrap(), vec![good]);
    let err = b.store().history("qa", 2).unwrap_err();
    assert!(err.to_string().contains(&bad), "{err}");

    // No record.json at all.
    push_by_hand(&a, "refs/pipeline/envs/dev", "other.txt", "x", None);
    let err = b.store().current("dev").unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { reference, reason } if reference == "refs/pipeline/envs/dev" && reason.ends_with("has no record.json")),
        "{err:?}"
    );

    // A lock that does not parse.
    push_by_hand(&a, QA_LOCK, "lock.json", "[]", None);
    let err = b.store().locked_by("qa").unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { reference, .. } if reference == QA_LOCK),
        "{err:?}"
    );
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn an_unreachable_remote_is_a_remote_error_after_retries() {
    let remote = TestRepo::remote();
    let a = TestRepo::clone_of(&remote, &[]);
    let url = format!("git://127.0.0.1:{}/state.git", closed_port());
    let cli = GitCli::new(a.path(), &url, Some(&url), None).retry(quick_retry());
    let store = GitStore::new(a.path(), cli);

    let err = store.current("qa").unwrap_err();
    match &err {
        StoreError::Remote {
            env,
            reference,
            source,
        } => {
            assert_eq!((env.as_str(), reference.as_str()), ("qa", QA));
            assert!(
                matches!(**source, RemoteError::Network { attempts: 3, .. }),
                "{source:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "the state of qa at refs/pipeline/envs/qa on the remote is out of reach"
    );
    let err = store
        .append("qa", &record("qa", "1.0.0", 1, "ci"), None)
        .unwrap_err();
    assert!(matches!(err, StoreError::Remote { .. }), "{err:?}");
    let err = store.lock("qa", "ci", "promote", 1, 600).unwrap_err();
    assert!(
        matches!(&err, StoreError::Remote { reference, .. } if reference == QA_LOCK),
        "{err:?}"
    );
}

#[test]
fn the_token_never_reaches_a_message() {
    let remote = TestRepo::remote();
    let a = TestRepo::clone_of(&remote, &[]);
    let token = "s3cr3t-t0ken";
    let url = format!("http://127.0.0.1:{}/state.git", closed_port());
    let cli =
        GitCli::new(a.path(), &url, Some(&url), Some(Secret::new(token))).retry(quick_retry());
    assert!(cli.uses_token());
    let store = GitStore::new(a.path(), cli);
    for err in [
        store.current("qa").unwrap_err(),
        store
            .append("qa", &record("qa", "1.0.0", 1, "ci"), None)
            .unwrap_err(),
        store.lock("qa", "ci", "promote", 1, 600).unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Remote { .. }), "{err:?}");
        let text = format!("{} {err:?}", chain(&err));
        assert!(!text.contains(token), "{text}");
    }
}
