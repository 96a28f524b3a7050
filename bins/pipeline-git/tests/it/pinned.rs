//! The `--json` documents and the human output of sync, release and
//! hotfix, pinned byte for byte: schemas that scripts read, and what a
//! person sees, kept identical across refactorings.

use serde_json::json;

use super::fixture::TestRepo;
use super::flow::{ci_clone_of, remote_with_diverged_branches, write};
use super::pipeline_git;

/// Runs and returns (exit code, stdout, stderr).
fn run(repo: &TestRepo, args: &[&str]) -> (i32, String, String) {
    let out = pipeline_git(repo.path()).args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn short(id: &str) -> &str {
    &id[..7]
}

#[test]
fn release_documents_and_messages_are_pinned() {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    let develop = ci.git(&["rev-parse", "origin/develop"]);
    let master = ci.git(&["rev-parse", "origin/master"]);

    // sync: a merge commit.
    let (code, stdout, stderr) = run(&ci, &["sync", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let merged = ci.head();
    assert_eq!(
        stdout,
        format!(
            "{}\n",
            json!({
                "schema": "pipeline-git/sync/v1",
                "dry_run": false,
                "action": "merge",
                "changed": true,
                "develop": { "name": "develop", "ref": "refs/remotes/origin/develop", "before": develop, "after": merged },
                "master": { "name": "master", "ref": "refs/remotes/origin/master", "commit": master },
            })
        )
    );
    assert_eq!(
        stderr,
        format!(
            "master ({}) is merged into develop ({}): \"Merge branch 'master' into develop\"; develop checked out at {merged}\n",
            short(&master),
            short(&develop)
        )
    );

    // release, dry run.
    let (code, stdout, stderr) = run(
        &ci,
        &["release", "--json", "--dry-run", "--date", "2026-11-26"],
    );
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let notes = doc["notes"].as_str().unwrap().to_owned();
    assert!(
        notes.starts_with("## [1.3.0] - 2026-11-26\n\n### Features\n\n- **api:** list releases ("),
        "{notes}"
    );
    let planned = |action: &str,
                   released: bool,
                   develop_after: &str,
                   master_after: &str,
                   file: Option<&str>| {
        json!({
            "schema": "pipeline-git/release/v1",
            "dry_run": action == "planned",
            "action": action,
            "released": released,
            "version": "1.3.0",
            "tag": "v1.3.0",
            "previous_tag": "v1.2.1",
            "commit": merged,
            "develop": { "ref": "refs/heads/develop", "expected": develop, "after": develop_after },
            "master": { "ref": "refs/heads/master", "expected": master, "after": master_after },
            "notes": notes,
            "changelog_file": file,
            "github_release": null,
        })
    };
    assert_eq!(
        stdout,
        format!("{}\n", planned("planned", false, &merged, &merged, None))
    );
    assert_eq!(
        stderr,
        format!(
            "release v1.3.0 (1.3.0) of commit {merged}, previous v1.2.1\n\
             tag v1.3.0: to create, annotated with the release notes\n\
             develop: {} -> {}\n\
             master: {} -> {}\n\
             dry run: would push develop, master and v1.3.0 to origin atomically; nothing changed\n",
            short(&develop),
            short(&merged),
            short(&master),
            short(&merged)
        )
    );

    // release.
    let file = ci.path().join("notes.md");
    let file_s = file.display().to_string();
    let (code, stdout, stderr) = run(
        &ci,
        &[
            "release",
            "--json",
            "--date",
            "2026-11-26",
            "--changelog-file",
            &file_s,
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "{}\n",
            planned("released", true, &merged, &merged, Some(&file_s))
        )
    );
    assert_eq!(
        stderr,
        format!(
            "release v1.3.0 (1.3.0) of commit {merged}, previous v1.2.1\n\
             tag v1.3.0: to create, annotated with the release notes\n\
             develop: {} -> {}\n\
             master: {} -> {}\n\
             pushed develop, master and v1.3.0 to origin atomically\n",
            short(&develop),
            short(&merged),
            short(&master),
            short(&merged)
        )
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), notes);

    // Again: already released, found before pushing.
    let (code, stdout, stderr) = run(&ci, &["release", "--json", "--date", "2026-11-26"]);
    assert_eq!(code, 0, "{stderr}");
    let after = json!({
        "schema": "pipeline-git/release/v1",
        "dry_run": false,
        "action": "already_released",
        "released": true,
        "version": "1.3.0",
        "tag": "v1.3.0",
        "previous_tag": "v1.2.1",
        "commit": merged,
        "develop": { "ref": "refs/heads/develop", "expected": merged, "after": merged },
        "master": { "ref": "refs/heads/master", "expected": merged, "after": merged },
        "notes": format!("{notes}"),
        "changelog_file": null,
        "github_release": null,
    });
    assert_eq!(stdout, format!("{after}\n"));
    assert_eq!(
        stderr,
        format!(
            "release v1.3.0 (1.3.0) of commit {merged}, previous v1.2.1\n\
             tag v1.3.0: exists already on that commit\n\
             develop: stays at {}\n\
             master: stays at {}\n\
             already released: origin has v1.3.0, develop and master where this release puts them; nothing to do\n",
            short(&merged),
            short(&merged)
        )
    );
    // Plain text: the tag.
    let (code, stdout, _) = run(&ci, &["release"]);
    assert_eq!((code, stdout.as_str()), (0, "v1.3.0\n"));

    // Nothing to release.
    let (code, stdout, stderr) = run(&ci, &["release", "--json"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("\"already_released\""), "{stdout}");
    let quiet = TestRepo::clone_of(&remote.url(), &[]);
    quiet.commit("docs: words");
    quiet.git(&["push", "-q", "origin", "develop"]);
    let ci2 = ci_clone_of(&remote.url(), &[]);
    let (code, stdout, stderr2) = run(&ci2, &["release", "--json"]);
    assert_eq!(code, 0, "{stderr} {stderr2}");
    assert_eq!(
        stdout,
        format!(
            "{}\n",
            json!({
                "schema": "pipeline-git/release/v1",
                "dry_run": false,
                "action": "no_release",
                "released": false,
                "version": null, "tag": null, "previous_tag": "v1.3.0", "commit": null,
                "develop": null, "master": null, "changelog_file": null,
                "github_release": null,
            })
        )
    );
    assert_eq!(
        stderr2,
        "no release: no feat, fix, perf or breaking change since v1.3.0\n"
    );
}

#[test]
fn hotfix_documents_and_messages_are_pinned() {
    let (remote, _seed) = remote_with_diverged_branches();
    let dev = TestRepo::clone_of(&remote.url(), &[]);
    let master = remote.git(&["rev-parse", "master"]);
    let develop = remote.git(&["rev-parse", "develop"]);
    let (code, stdout, stderr) = run(&dev, &["hotfix", "start", "crash", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "{}\n",
            json!({
                "schema": "pipeline-git/hotfix-start/v1",
                "dry_run": false,
                "branch": "hotfix/crash",
                "created": true,
                "commit": master,
            })
        )
    );
    assert_eq!(
        stderr,
        format!("created and checked out hotfix/crash at {master}\n")
    );

    write(&dev, "b.txt", "fixed again\n");
    dev.git(&["add", "b.txt"]);
    dev.git_dated(&["commit", "-q", "-m", "fix: crash on exit"]);
    let fix = dev.head();
    let (code, stdout, stderr) = run(
        &dev,
        &["hotfix", "finish", "--json", "--date", "2026-11-26"],
    );
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let merge = remote.git(&["rev-parse", "develop"]);
    assert_eq!(
        remote.git(&["log", "-1", "--format=%P", "develop"]),
        format!("{develop} {fix}")
    );
    assert_eq!(
        stdout,
        format!(
            "{}\n",
            json!({
                "schema": "pipeline-git/release/v1",
                "dry_run": false,
                "action": "released",
                "released": true,
                "version": "1.2.2",
                "tag": "v1.2.2",
                "previous_tag": "v1.2.1",
                "commit": fix,
                "develop": { "ref": "refs/heads/develop", "expected": develop, "after": merge },
                "master": { "ref": "refs/heads/master", "expected": master, "after": fix },
                "notes": doc["notes"],
                "changelog_file": null,
                "github_release": null,
            })
        )
    );
    assert_eq!(
        stderr,
        format!(
            "release v1.2.2 (1.2.2) of commit {fix}, previous v1.2.1\n\
             tag v1.2.2: to create, annotated with the release notes\n\
             develop: {} -> a merge commit of {}\n\
             master: {} -> {}\n\
             pushed develop, master and v1.2.2 to origin atomically\n",
            short(&develop),
            short(&fix),
            short(&master),
            short(&fix)
        )
    );
}
