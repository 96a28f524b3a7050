//! Each document's shape, pinned: an example of every type serialized and
//! snapshotted, and read back into the same value. A change that renames or
//! drops a field shows here first.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use pipeline_contracts::deploy::{
    Deployed, PackageDoc, SlotStatus, Switched, TargetDoc, TargetStatus, VerifyDoc,
};
use pipeline_contracts::promote::{
    Candidate, EnvStatusRow, HistoryDoc, Outcome, Plan, PlanDoc, PromoteDoc, Record, StatusDoc,
    Step,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

const SHA: &str = "3f2a9c41d0e7b5a8c6f1e2d3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b";

/// Serializes `value`, snapshots it, and reads it back.
fn pinned<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, value: &T) {
    insta::assert_json_snapshot!(name, value);
    let text = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, value, "{name} reads back as it was written");
}

fn record(outcome: Outcome) -> Record {
    Record {
        env: "qa".into(),
        version: "1.4.0".into(),
        sha256: SHA.into(),
        outcome,
        live_version: Some("1.4.0".into()),
        live_sha256: Some(SHA.into()),
        at: 1_700_000_000,
        live_since: Some(1_700_000_000),
        by: "octocat (run 42)".into(),
        note: String::new(),
        lock: Some("5d1c0ffee0ddf00d".into()),
    }
}

#[test]
fn promote_documents() {
    pinned(
        "promote",
        &PromoteDoc {
            schema: PromoteDoc::SCHEMA.into(),
            env: "qa".into(),
            version: "1.4.0".into(),
            sha256: SHA.into(),
            outcome: "rolled-back".into(),
            message: "1.4.0 failed verification in qa (`integration` failed); rolled back to 1.3.0"
                .into(),
        },
    );
    pinned(
        "plan",
        &PlanDoc {
            schema: PlanDoc::SCHEMA.into(),
            plan: Plan {
                env: "qa".into(),
                candidate: Candidate {
                    version: "1.4.0".into(),
                    sha256: SHA.into(),
                },
                from: "dev".into(),
                replaces: Some(Candidate {
                    version: "1.3.0".into(),
                    sha256: SHA.into(),
                }),
                steps: vec![
                    Step::Deploy {
                        target: "local agent, front 127.0.0.1:8003".into(),
                    },
                    Step::Validate {
                        name: "smoke".into(),
                        command: "bash app/ci/smoke.sh".into(),
                    },
                    Step::Switch,
                    Step::WatchHealth { secs: 10 },
                    Step::Verify {
                        name: "integration".into(),
                        command: "bash app/ci/validate.sh".into(),
                    },
                    Step::Record,
                ],
                auto_rollback: true,
            },
        },
    );
    pinned(
        "status",
        &StatusDoc {
            schema: StatusDoc::SCHEMA.into(),
            envs: vec![
                EnvStatusRow {
                    env: "qa".into(),
                    record: Some(record(Outcome::Live)),
                    healthy: Some(true),
                    slot: Some("blue".into()),
                },
                EnvStatusRow {
                    env: "staging".into(),
                    record: None,
                    healthy: None,
                    slot: None,
                },
            ],
        },
    );
    let mut old = record(Outcome::Switching);
    old.lock = None;
    pinned(
        "history",
        &HistoryDoc {
            schema: HistoryDoc::SCHEMA.into(),
            env: "qa".into(),
            records: vec![
                record(Outcome::RolledBack),
                record(Outcome::ManualRollback),
                record(Outcome::Failed),
                record(Outcome::RollingBack),
                old,
            ],
        },
    );
}

#[test]
fn records_written_before_the_lock_id_still_read() {
    let text = format!(
        r#"{{"env":"qa","version":"1.0.0","sha256":"{SHA}","outcome":"live","live_version":"1.0.0","live_sha256":"{SHA}","at":1,"live_since":1,"by":"ci","note":""}}"#
    );
    let r: Record = serde_json::from_str(&text).unwrap();
    assert_eq!(r.lock, None);
    assert!(!r.outcome.is_intent());
}

#[test]
fn deploy_documents() {
    pinned(
        "package",
        &PackageDoc {
            schema: PackageDoc::SCHEMA.into(),
            artifact: "dist/app.zip".into(),
            sha256: SHA.into(),
            size: 74_045_067,
            files: 20_001,
            source_bytes: 205_000_000,
        },
    );
    pinned(
        "verify",
        &VerifyDoc {
            schema: VerifyDoc::SCHEMA.into(),
            artifact: "dist/app.zip".into(),
            sha256: SHA.into(),
            verified: true,
        },
    );
    let names: BTreeMap<String, String> = [("app", "my-app"), ("slot", "staging")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    pinned(
        "target-deploy",
        &TargetDoc {
            schema: TargetDoc::schema("azure"),
            action: "deploy".into(),
            deployed: Some(Deployed {
                slot: "staging".into(),
                url: "https://my-app-staging.azurewebsites.net".into(),
                version: "1.4.0".into(),
                sha256: SHA.into(),
                deployment_id: Some("a1b2".into()),
            }),
            seconds: Some(12.5),
            switched: None,
            status: None,
            dry_run: None,
            target: names.clone(),
        },
    );
    pinned(
        "target-swap",
        &TargetDoc {
            schema: TargetDoc::schema("local"),
            action: "swap".into(),
            deployed: None,
            seconds: None,
            switched: Some(Switched {
                live_version: Some("1.4.0".into()),
                idle_version: Some("1.3.0".into()),
                already: false,
            }),
            status: None,
            dry_run: None,
            target: [("env".to_owned(), "qa".to_owned())].into(),
        },
    );
    pinned(
        "target-status",
        &TargetDoc {
            schema: TargetDoc::schema("cloud-run"),
            action: "status".into(),
            deployed: None,
            seconds: None,
            switched: None,
            dry_run: None,
            status: Some(TargetStatus {
                target: "cloud run app (europe-west1)".into(),
                slots: vec![
                    SlotStatus {
                        slot: "green".into(),
                        live: true,
                        url: Some("https://green---app-xyz.a.run.app".into()),
                        version: Some("1.4.0".into()),
                        sha256: Some(SHA.into()),
                        state: Some("100%".into()),
                    },
                    SlotStatus {
                        slot: "blue".into(),
                        live: false,
                        url: None,
                        version: Some("1.3.0".into()),
                        sha256: None,
                        state: None,
                    },
                ],
            }),
            target: [("service".to_owned(), "app".to_owned())].into(),
        },
    );
}

#[test]
fn git_documents() {
    use pipeline_contracts::git::{
        BranchAt, BranchPush, ChangelogDoc, CommitCounts, GithubRelease, HotfixStartDoc, NoteEntry,
        NoteSection, Reason, ReleaseDoc, SyncDoc, SyncedBranch, VersionDoc,
    };
    let commit = "8148aa8cf7a03cf45aafe66ba564af334bd878da";
    let branch = BranchAt {
        commit: commit.into(),
        name: "develop".into(),
        reference: "refs/remotes/origin/develop".into(),
    };
    let version = VersionDoc {
        branch: branch.clone(),
        commits: CommitCounts {
            releasable: 2,
            total: 3,
        },
        pre_release: None,
        previous_tag: Some("v1.2.1".into()),
        previous_version: Some("1.2.1".into()),
        reason: Reason::Commits {
            bump: "minor".into(),
            requested: "minor".into(),
        },
        released: true,
        schema: VersionDoc::SCHEMA.into(),
        tag: Some("v1.3.0".into()),
        version: Some("1.3.0".into()),
    };
    pinned("git-version", &version);
    pinned(
        "git-changelog",
        &ChangelogDoc {
            version: VersionDoc {
                schema: ChangelogDoc::SCHEMA.into(),
                ..version
            },
            changelog_file: None,
            date: "2026-11-26".into(),
            markdown: Some("## [1.3.0] - 2026-11-26\n".into()),
            sections: vec![NoteSection {
                entries: vec![NoteEntry {
                    commit: commit.into(),
                    scope: Some("api".into()),
                    text: "list releases".into(),
                }],
                kind: "feat".into(),
                title: "Features".into(),
            }],
        },
    );
    pinned(
        "git-sync",
        &SyncDoc {
            action: "merge".into(),
            changed: true,
            develop: SyncedBranch {
                after: Some(commit.into()),
                before: commit.into(),
                name: "develop".into(),
                reference: "refs/remotes/origin/develop".into(),
            },
            dry_run: false,
            master: BranchAt {
                name: "master".into(),
                reference: "refs/remotes/origin/master".into(),
                ..branch
            },
            schema: SyncDoc::SCHEMA.into(),
        },
    );
    pinned(
        "git-hotfix-start",
        &HotfixStartDoc {
            branch: "hotfix/crash".into(),
            commit: commit.into(),
            created: true,
            dry_run: false,
            schema: HotfixStartDoc::SCHEMA.into(),
        },
    );
    let push = BranchPush {
        after: commit.into(),
        expected: None,
        reference: "refs/heads/master".into(),
    };
    pinned(
        "git-release",
        &ReleaseDoc {
            action: "released".into(),
            changelog_file: Some("NOTES.md".into()),
            commit: Some(commit.into()),
            develop: Some(push.clone()),
            dry_run: false,
            github_release: Some(GithubRelease {
                action: "created".into(),
                id: 1,
                url: "https://github.com/octo/app/releases/tag/v1.3.0".into(),
            }),
            master: Some(push),
            notes: Some("## [1.3.0]\n".into()),
            previous_tag: Some("v1.2.1".into()),
            released: true,
            schema: ReleaseDoc::SCHEMA.into(),
            tag: Some("v1.3.0".into()),
            version: Some("1.3.0".into()),
        },
    );
    // A reason a newer pipeline-git adds reads as `other`.
    let r: Reason = serde_json::from_str(r#"{"kind": "from_the_future", "x": 1}"#).unwrap();
    assert_eq!(r, Reason::Other);
}
