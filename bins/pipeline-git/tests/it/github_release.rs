//! `release --github-release` end to end: the real binary, a real
//! repository and bare remote, and the GitHub fake of `pipeline-testkit`
//! (built from the REST documentation) on loopback.

use std::path::Path;

use pipeline_testkit::github::{FakeGitHub, REPOSITORY, TOKEN};

use crate::flow::{ci_clone_of, remote_with_diverged_branches};
use crate::{in_actions, outputs, pipeline_git};

/// `pipeline-git` inside Actions, against `fake`, with the token.
fn with_github(repo: &Path, dir: &Path, fake: &FakeGitHub) -> assert_cmd::Command {
    let mut cmd = in_actions(repo, dir);
    cmd.env("GITHUB_API_URL", fake.uri())
        .env("GITHUB_REPOSITORY", REPOSITORY)
        .env("GITHUB_TOKEN", TOKEN)
        .env("PIPELINE_GIT_ATTEMPTS", "1");
    cmd
}

async fn run(mut cmd: assert_cmd::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Neither the token nor anything but its one mask command.
fn assert_no_token(out: &std::process::Output) {
    let all = text(out).replacen(&format!("::add-mask::{TOKEN}\n"), "", 1);
    assert!(!all.contains(TOKEN), "the token in the output: {all}");
}

/// A synced CI clone whose release is v1.3.0.
fn synced() -> (crate::fixture::TestRepo, crate::fixture::TestRepo) {
    let (remote, _seed) = remote_with_diverged_branches();
    let ci = ci_clone_of(&remote.url(), &[]);
    pipeline_git(ci.path()).arg("sync").assert().code(0);
    (remote, ci)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_is_made_once_with_the_tags_notes_and_a_rerun_finds_it() {
    let fake = FakeGitHub::start().await;
    let (remote, ci) = synced();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = with_github(ci.path(), dir.path(), &fake);
    cmd.args(["release", "--github-release", "--json"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_no_token(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["tag"], "v1.3.0");
    assert_eq!(doc["github_release"]["action"], "created");
    let releases = fake.releases();
    assert_eq!(releases.len(), 1);
    let release = &releases[0];
    assert_eq!(release.tag, "v1.3.0");
    assert_eq!(release.name.as_deref(), Some("v1.3.0"));
    assert!(!release.draft && !release.prerelease);
    // The notes are the tag's, as the remote holds it.
    let message = remote.git(&["tag", "-l", "--format=%(contents)", "v1.3.0"]);
    assert_eq!(
        release.body.as_deref().map(str::trim_end),
        Some(message.trim_end())
    );
    assert!(message.contains("### Features"), "{message}");
    assert_eq!(doc["github_release"]["id"], release.id);
    let url = format!("https://github.com/{REPOSITORY}/releases/tag/v1.3.0");
    assert_eq!(doc["github_release"]["url"], url.as_str());
    assert!(
        outputs(dir.path()).contains(&("release_url".to_owned(), url.clone())),
        "{:?}",
        outputs(dir.path())
    );
    assert!(
        text(&out).contains("GitHub Release v1.3.0: created"),
        "{}",
        text(&out)
    );

    // A re-run: already released on the remote, the release found as it is.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = with_github(ci.path(), dir.path(), &fake);
    cmd.args(["release", "--github-release"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("already released"), "{}", text(&out));
    assert!(
        text(&out).contains("GitHub Release v1.3.0: unchanged"),
        "{}",
        text(&out)
    );
    let releases = fake.releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].writes, 1, "the re-run wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_release_is_marked_so_and_a_dry_run_asks_github_nothing() {
    let fake = FakeGitHub::start().await;
    let (_remote, ci) = synced();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = with_github(ci.path(), dir.path(), &fake);
    cmd.args(["release", "--github-release", "--pre", "rc", "--dry-run"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "dry run: would make the GitHub Release of v1.3.0-rc.1 in {REPOSITORY}"
        )),
        "{}",
        text(&out)
    );
    assert_eq!(fake.served(), 0);
    let mut cmd = with_github(ci.path(), dir.path(), &fake);
    cmd.args(["release", "--github-release", "--pre", "rc"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let releases = fake.releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].tag, "v1.3.0-rc.1");
    assert!(releases[0].prerelease);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_missing_is_named_before_anything_is_pushed() {
    let fake = FakeGitHub::start().await;
    let (remote, ci) = synced();
    let before = remote.git(&["for-each-ref"]);
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &[&str], &str); 4] = [
        (&[], &["GITHUB_TOKEN"], "needs a token in GITHUB_TOKEN"),
        (
            &[],
            &["GITHUB_REPOSITORY"],
            "needs the repository: --github-repository OWNER/NAME, or GITHUB_REPOSITORY",
        ),
        (
            &["--github-repository", "not a repository"],
            &[],
            "--github-repository: `not a repository` is not a GitHub repository (owner/name)",
        ),
        (&["--no-such-flag"], &[], "--no-such-flag"),
    ];
    for (flags, unset, says) in cases {
        let mut cmd = with_github(ci.path(), dir.path(), &fake);
        cmd.args(["release", "--github-release"]).args(flags);
        for var in unset {
            cmd.env_remove(var);
        }
        let out = run(cmd).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flags:?} {unset:?}: {}",
            text(&out)
        );
        assert!(
            text(&out).contains(says),
            "{flags:?} {unset:?}: {}",
            text(&out)
        );
        assert_no_token(&out);
    }
    // The repository flag alone makes no sense.
    let mut cmd = with_github(ci.path(), dir.path(), &fake);
    cmd.args(["release", "--github-repository", REPOSITORY]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("give --github-release too"),
        "{}",
        text(&out)
    );
    // Plain http off loopback is refused for the API.
    let mut cmd = with_github(ci.path(), dir.path(), &fake);
    cmd.env("GITHUB_API_URL", "http://github.example.com")
        .args(["release", "--github-release"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("GITHUB_API_URL"), "{}", text(&out));
    assert_eq!(remote.git(&["for-each-ref"]), before, "nothing was pushed");
    assert_eq!(fake.served(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_failing_is_exit_3_after_the_push_and_a_rerun_finishes_it() {
    let fake = FakeGitHub::start().await;
    let (remote, ci) = synced();
    fake.outage(0, 1000, 503);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = with_github(ci.path(), dir.path(), &fake);
    cmd.args(["release", "--github-release"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_no_token(&out);
    let all = text(&out);
    assert!(
        all.contains(&format!(
            "error: the tag v1.3.0 is pushed, but its GitHub Release in {REPOSITORY} is not made"
        )),
        "{all}"
    );
    assert!(all.contains("a re-run finishes it"), "{all}");
    // The git release stands, and the step outputs say so.
    remote.git(&["rev-parse", "--verify", "refs/tags/v1.3.0"]);
    assert!(outputs(dir.path()).contains(&("released".to_owned(), "true".to_owned())));
    assert!(fake.releases().is_empty());

    fake.outage(0, 0, 503);
    let mut cmd = with_github(ci.path(), dir.path(), &fake);
    cmd.args(["release", "--github-release"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("GitHub Release v1.3.0: created"),
        "{}",
        text(&out)
    );
    assert_eq!(fake.releases().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_github_refuses_is_exit_2_and_never_printed() {
    let fake = FakeGitHub::start().await;
    let (_remote, ci) = synced();
    let dir = tempfile::tempdir().unwrap();
    let wrong = "ghs_aWrongTokenThatMustNotBePrinted42";
    let mut cmd = with_github(ci.path(), dir.path(), &fake);
    cmd.env("GITHUB_TOKEN", wrong)
        .args(["-vvv", "release", "--github-release"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out).replacen(&format!("::add-mask::{wrong}\n"), "", 1);
    assert!(!all.contains(wrong), "{all}");
    assert!(all.contains("GITHUB_TOKEN was refused"), "{all}");
    assert!(all.contains("Bad credentials"), "{all}");
}
