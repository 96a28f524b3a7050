//! `pipeline-gitflow` against real repositories made with the git command
//! line, its results compared with what git itself says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixture;
mod random_history;
mod release;

use std::collections::BTreeSet;

use fixture::TestRepo;
use pipeline_gitflow::{
    Deepened, GitCli, History, HistoryError, ReadOptions, Repo, Request, TagFormat, Version, plan,
};

fn read(repo: &TestRepo) -> History {
    read_with(repo, &ReadOptions::default())
}

fn read_with(repo: &TestRepo, options: &ReadOptions) -> History {
    Repo::open(repo.path())
        .unwrap()
        .history(options)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn ids(history: &History) -> Vec<String> {
    history
        .commits()
        .iter()
        .map(|c| c.id().as_str().to_owned())
        .collect()
}

/// What `git log <range> --format=%H` prints, as a set.
fn git_log_set(repo: &TestRepo, range: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["log", "--format=%H"];
    args.extend_from_slice(range);
    repo.git(&args).lines().map(str::to_owned).collect()
}

fn next_version(history: &History) -> Option<String> {
    plan(history, &Request::default())
        .unwrap()
        .release()
        .ok()
        .map(|r| r.version().to_string())
}

#[test]
fn linear_history_since_an_annotated_tag() {
    let repo = TestRepo::new();
    repo.commit("chore: init");
    repo.commit("feat: old feature");
    repo.annotated_tag("v1.2.0");
    let feat = repo.commit("feat(api): list releases");
    let fix = repo.commit("fix: crash on empty input");
    let history = read(&repo);
    assert_eq!(history.base().unwrap().name(), "v1.2.0");
    assert_eq!(history.tip().reference(), "refs/heads/develop");
    assert_eq!(history.tip().commit().as_str(), fix);
    assert_eq!(ids(&history), vec![fix.clone(), feat]);
    assert_eq!(
        ids(&history).into_iter().collect::<BTreeSet<_>>(),
        git_log_set(&repo, &["v1.2.0..develop"])
    );
    assert_eq!(
        history.commits()[0].message(),
        "fix: crash on empty input\n"
    );
    assert_eq!(next_version(&history).as_deref(), Some("1.3.0"));
}

#[test]
fn lightweight_tags_and_foreign_tags() {
    let repo = TestRepo::new();
    let first = repo.commit("feat: one");
    repo.tag("v0.1.0");
    repo.tag("latest");
    repo.tag("v2"); // not semver
    repo.tag("release-9.9.9"); // another prefix
    repo.commit("fix: two");
    // A tag on a tree is not a release.
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]);
    repo.git(&["tag", "v5.0.0", &tree]);
    let history = read(&repo);
    let base = history.base().unwrap();
    assert_eq!(base.name(), "v0.1.0");
    assert_eq!(base.commit().as_str(), first);
    assert_eq!(
        history.tags().iter().map(|t| t.name()).collect::<Vec<_>>(),
        ["v0.1.0"]
    );
    assert_eq!(next_version(&history).as_deref(), Some("0.1.1"));

    let other = read_with(
        &repo,
        &ReadOptions::default().tag_format(TagFormat::new("release-")),
    );
    assert_eq!(other.base().unwrap().name(), "release-9.9.9");
    assert_eq!(other.commits().len(), 1);
}

#[test]
fn packed_refs_peel_annotated_tags() {
    let repo = TestRepo::new();
    let tagged = repo.commit("feat: one");
    repo.annotated_tag("v1.0.0");
    repo.commit("feat: two");
    repo.annotated_tag("v1.1.0-rc.1");
    repo.git(&["pack-refs", "--all"]);
    let history = read(&repo);
    assert_eq!(history.base().unwrap().commit().as_str(), tagged);
    assert_eq!(history.pre_releases()[0].name(), "v1.1.0-rc.1");
    let rc = plan(
        &history,
        &Request::default().pre_release("rc".parse().unwrap()),
    )
    .unwrap();
    assert_eq!(rc.release().unwrap().tag(), "v1.1.0-rc.2");
    assert_eq!(next_version(&history).as_deref(), Some("1.1.0"));
}

/// What git says the release tags are: name and commit, for every tag
/// whose name is a version and which peels to a commit.
fn git_release_tags(repo: &TestRepo) -> BTreeSet<(String, String)> {
    repo.git(&[
        "for-each-ref",
        "--format=%(refname:strip=2) %(objecttype) %(*objecttype) %(objectname) %(*objectname)",
        "refs/tags",
    ])
    .lines()
    .filter_map(|line| {
        let f: Vec<&str> = line.split(' ').collect();
        let name = f[0];
        TagFormat::default().parse(name)?;
        match (f[1], f[2]) {
            ("commit", _) => Some((name.to_owned(), f[3].to_owned())),
            ("tag", "commit") => Some((name.to_owned(), f[4].to_owned())),
            // A tag of a tag: git's %(*objectname) peels one level only.
            ("tag", "tag") => Some((
                name.to_owned(),
                repo.git(&["rev-parse", &format!("{name}^{{commit}}")]),
            )),
            _ => None,
        }
    })
    .collect()
}

fn our_release_tags(repo: &TestRepo) -> BTreeSet<(String, String)> {
    Repo::open(repo.path())
        .unwrap()
        .release_tags(&TagFormat::default())
        .unwrap()
        .into_iter()
        .map(|t| (t.name().to_owned(), t.commit().as_str().to_owned()))
        .collect()
}

#[test]
fn release_tags_are_peeled_as_git_peels_them_in_every_layout() {
    let repo = TestRepo::new();
    // Enough objects that a pack is a pack.
    for i in 0..120 {
        std::fs::write(repo.path().join(format!("f{}", i % 9)), format!("{i}\n")).unwrap();
        repo.git(&["add", "."]);
        repo.git_dated(&["commit", "-q", "-m", &format!("feat: change {i}")]);
        match i % 5 {
            0 => repo.annotated_tag(&format!("v1.{i}.0")),
            1 => repo.tag(&format!("v1.{i}.0")),
            2 => repo.annotated_tag(&format!("v1.{i}.0-rc.1")),
            _ => {}
        }
    }
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]);
    let blob = repo.git(&["rev-parse", "HEAD:f0"]);
    repo.git(&["tag", "-a", "v9.0.0", "-m", "a tree", &tree]);
    repo.git(&["tag", "v9.1.0", &blob]);
    repo.git(&["tag", "-a", "v9.2.0", "-m", "a tag of a tag", "v1.0.0"]);
    repo.git(&["symbolic-ref", "refs/tags/v9.3.0", "refs/tags/v1.5.0"]);
    repo.git(&["tag", "latest"]);
    let expected = git_release_tags(&repo);
    assert_eq!(expected.len(), 24 + 24 + 24 + 2);
    assert!(expected.contains(&(
        "v9.3.0".to_owned(),
        repo.git(&["rev-parse", "v1.5.0^{commit}"])
    )));

    // Loose objects, loose refs.
    assert_eq!(our_release_tags(&repo), expected, "loose objects");
    // One pack, loose refs: what `git fetch` into a fresh `git init` leaves.
    repo.git(&["repack", "-adq"]);
    assert_eq!(our_release_tags(&repo), expected, "pack, loose refs");
    // A ref rewritten loose over a packed one wins.
    repo.git(&["pack-refs", "--all"]);
    assert_eq!(our_release_tags(&repo), expected, "packed refs");
    repo.git(&["tag", "-f", "v1.0.0", "HEAD"]);
    let expected = git_release_tags(&repo);
    assert!(expected.contains(&("v1.0.0".to_owned(), repo.head())));
    assert_eq!(
        our_release_tags(&repo),
        expected,
        "packed, one loose over it"
    );
    // Deleted from packed-refs.
    repo.git(&["tag", "-d", "v1.10.0"]);
    let expected = git_release_tags(&repo);
    assert_eq!(our_release_tags(&repo), expected, "after a delete");
}

#[test]
fn merged_feature_branches_count_once() {
    let repo = TestRepo::new();
    repo.commit("chore: init");
    repo.annotated_tag("v1.0.0");
    repo.branch("feature/x", "develop");
    let a = repo.commit("feat(x): part one");
    let b = repo.commit("fix(x): part two");
    repo.checkout("develop");
    let c = repo.commit("docs: meanwhile");
    let merge = repo.merge("feature/x");
    let history = read(&repo);
    let got: BTreeSet<String> = ids(&history).into_iter().collect();
    assert_eq!(got, [a, b, c, merge.clone()].into_iter().collect());
    assert_eq!(got, git_log_set(&repo, &["v1.0.0..develop"]));
    assert_eq!(ids(&history)[0], merge);
    assert!(history.commits()[0].is_merge());
    assert_eq!(next_version(&history).as_deref(), Some("1.1.0"));
}

#[test]
fn a_merged_hotfix_tag_is_the_base_and_its_fix_is_not_counted_again() {
    let repo = TestRepo::new();
    repo.commit("chore: init");
    repo.annotated_tag("v1.2.0");
    repo.branch("hotfix/1.2.1", "v1.2.0");
    repo.commit("fix: urgent");
    repo.annotated_tag("v1.2.1");
    repo.checkout("develop");
    let feat = repo.commit("feat: next thing");
    let merge = repo.merge("hotfix/1.2.1");
    let history = read(&repo);
    assert_eq!(history.base().unwrap().name(), "v1.2.1");
    let got: BTreeSet<String> = ids(&history).into_iter().collect();
    assert_eq!(got, [feat, merge].into_iter().collect());
    assert_eq!(
        got,
        git_log_set(&repo, &["develop", "--not", "v1.2.0", "v1.2.1"])
    );
    assert_eq!(next_version(&history).as_deref(), Some("1.3.0"));
}

#[test]
fn the_highest_reachable_version_wins_not_the_nearest_tag() {
    let repo = TestRepo::new();
    repo.commit("feat: one");
    repo.tag("v2.0.0");
    repo.commit("fix: two");
    repo.tag("v1.5.0"); // nearer, but lower
    repo.commit("fix: three");
    // Higher but unreachable: on a branch develop never merged.
    repo.branch("experiment", "develop");
    repo.commit("feat!: wild");
    repo.tag("v9.0.0");
    repo.checkout("develop");
    let history = read(&repo);
    assert_eq!(history.base().unwrap().name(), "v2.0.0");
    // Commits since: only what no release tag reaches.
    assert_eq!(history.commits().len(), 1);
    assert_eq!(next_version(&history).as_deref(), Some("2.0.1"));
}

#[test]
fn an_unreachable_tag_of_the_next_version_is_an_error_naming_both_commits() {
    let repo = TestRepo::new();
    repo.commit("chore: init");
    repo.tag("v1.0.0");
    repo.branch("side", "develop");
    let side = repo.commit("feat: elsewhere");
    repo.tag("v1.1.0");
    repo.checkout("develop");
    let tip = repo.commit("feat: here");
    let history = read(&repo);
    let err = plan(&history, &Request::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "tag v1.1.0 already exists at commit {side}, which develop at {tip} does not reach"
        )
    );
}

#[test]
fn no_tag_starts_from_zero() {
    let repo = TestRepo::new();
    repo.commit("chore: init");
    repo.commit("feat: first feature");
    let history = read(&repo);
    assert!(history.base().is_none());
    assert_eq!(history.commits().len(), 2);
    assert_eq!(next_version(&history).as_deref(), Some("0.1.0"));
}

#[test]
fn nothing_since_the_tag() {
    let repo = TestRepo::new();
    repo.commit("feat: one");
    repo.annotated_tag("v1.0.0");
    let history = read(&repo);
    assert!(history.commits().is_empty());
    assert_eq!(next_version(&history), None);
}

#[test]
fn remote_refs_first_then_local_branches() {
    let remote = TestRepo::bare();
    let seed = TestRepo::clone_of(&remote.url(), &[]);
    seed.commit("chore: init");
    seed.annotated_tag("v1.0.0");
    let pushed = seed.commit("feat: pushed");
    seed.git(&["push", "-q", "origin", "develop", "--tags"]);
    // Local develop is ahead of origin/develop: the remote's ref is read.
    seed.commit("feat!: not pushed");
    let history = read(&seed);
    assert_eq!(history.tip().reference(), "refs/remotes/origin/develop");
    assert_eq!(history.tip().commit().as_str(), pushed);
    assert_eq!(next_version(&history).as_deref(), Some("1.1.0"));

    // A CI checkout: detached HEAD, no local branch at all.
    let ci = TestRepo::clone_of(&remote.url(), &[]);
    ci.git(&["checkout", "-q", "--detach"]);
    ci.git(&["branch", "-q", "-D", "develop"]);
    let branches = ci.git(&["branch", "--list"]);
    assert!(
        branches.starts_with("* (HEAD detached at ") && !branches.contains('\n'),
        "{branches}"
    );
    let history = read(&ci);
    assert_eq!(history.tip().reference(), "refs/remotes/origin/develop");
    assert_eq!(history.tip().commit().as_str(), pushed);

    // Another remote name, and a missing one falls back to refs/heads.
    ci.git(&["remote", "rename", "origin", "upstream"]);
    let history = read_with(&ci, &ReadOptions::default().remote("upstream"));
    assert_eq!(history.tip().reference(), "refs/remotes/upstream/develop");
    let local = read_with(&seed, &ReadOptions::default().remote("nowhere"));
    assert_eq!(local.tip().reference(), "refs/heads/develop");
    assert_eq!(next_version(&local).as_deref(), Some("2.0.0"));
}

#[test]
fn errors_name_the_refs_and_the_repository() {
    let repo = TestRepo::new();
    repo.commit("chore: init");
    let err = Repo::open(repo.path())
        .unwrap()
        .history(&ReadOptions::default().develop_branch("dev"))
        .unwrap_err();
    assert!(matches!(err, HistoryError::BranchNotFound { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "branch dev not found in {}: neither refs/remotes/origin/dev nor refs/heads/dev exists",
            repo.path().display()
        )
    );
    let err = Repo::open(repo.path())
        .unwrap()
        .history(&ReadOptions::default().develop_branch("a..b"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "\"refs/remotes/origin/a..b\" is not a valid ref name"
    );

    let empty = tempfile::tempdir().unwrap();
    let err = Repo::open(empty.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no git repository at {}", empty.path().display())
    );
}

#[test]
fn shallow_clones_fail_with_the_fix_unless_the_tag_is_inside() {
    let remote = TestRepo::new();
    remote.commit("chore: init");
    remote.annotated_tag("v1.0.0");
    for i in 0..5 {
        remote.commit(&format!("fix: number {i}"));
    }
    let shallow = TestRepo::clone_of(&remote.url(), &["--depth", "2", "--no-single-branch"]);
    assert_eq!(
        shallow.git(&["rev-parse", "--is-shallow-repository"]),
        "true"
    );
    let repo = Repo::open(shallow.path()).unwrap();
    assert!(repo.is_shallow());
    let err = repo.history(&ReadOptions::default()).unwrap_err();
    let boundary = shallow.git(&["rev-parse", "origin/develop~1"]);
    assert_eq!(
        err.to_string(),
        format!(
            "{} is a shallow clone and the history of develop is cut at commit {boundary} before every \
             commit since the last release tag was seen: fetch the whole history (`fetch-depth: 0` in \
             actions/checkout, or `git fetch --unshallow --tags`)",
            shallow.path().display()
        )
    );

    // Deep enough to hold the tag: the answer is the full clone's.
    let deep = TestRepo::clone_of(&remote.url(), &["--depth", "6"]);
    assert_eq!(deep.git(&["rev-parse", "--is-shallow-repository"]), "true");
    let history = read(&deep);
    assert_eq!(history.base().unwrap().name(), "v1.0.0");
    assert_eq!(history.commits().len(), 5);

    // Unshallowed: fine.
    shallow.git(&["fetch", "-q", "--unshallow", "--tags"]);
    assert_eq!(read(&shallow).commits().len(), 5);
}

#[test]
fn a_handle_opened_before_deepening_never_reads_the_cut_history_as_whole() {
    let remote = TestRepo::new();
    remote.commit("chore: init");
    remote.annotated_tag("v1.0.0");
    for i in 0..5 {
        remote.commit(&format!("fix: number {i}"));
    }
    for depth in ["1", "2"] {
        let shallow = TestRepo::clone_of(&remote.url(), &["--depth", depth]);
        let stale = Repo::open(shallow.path()).unwrap();
        shallow.git(&["fetch", "-q", "--unshallow", "--tags"]);
        assert_eq!(
            shallow.git(&["rev-parse", "--is-shallow-repository"]),
            "false"
        );
        // libgit2 still hides the old boundary's parents from this handle:
        // the walk must notice rather than plan from "no release tag".
        match stale.history(&ReadOptions::default()) {
            Err(HistoryError::Shallow { commit, .. }) => assert_eq!(
                commit.as_str(),
                shallow.git(&[
                    "rev-parse",
                    &format!("origin/develop~{}", depth.parse::<u32>().unwrap() - 1)
                ])
            ),
            other => panic!("depth {depth}: {other:?}"),
        }
        // Opened again, it sees the whole history.
        assert_eq!(read(&shallow).commits().len(), 5);
    }
}

#[test]
fn deepen_fetches_the_whole_history_and_the_missing_branches() {
    let remote = TestRepo::new();
    remote.commit("chore: init");
    remote.annotated_tag("v1.0.0");
    remote.git(&["branch", "master"]);
    for i in 0..5 {
        remote.commit(&format!("fix: number {i}"));
    }
    let shallow = TestRepo::clone_of(&remote.url(), &["--depth", "1", "--branch", "develop"]);
    let repo = Repo::open(shallow.path()).unwrap();
    let git = GitCli::new(repo.path(), "origin", Some(&remote.url()), None);
    let (repo, deepened) = repo.deepen(&git, &["develop", "master", "gone"]).unwrap();
    assert_eq!(deepened, Deepened::Fetched);
    assert!(!repo.is_shallow());
    let history = repo.history(&ReadOptions::default()).unwrap();
    assert_eq!(history.base().unwrap().name(), "v1.0.0");
    assert_eq!(history.commits().len(), 5);
    // The single-branch clone had no origin/master: fetched; `gone` is not
    // on the remote: left alone.
    assert_eq!(
        shallow.git(&["rev-parse", "refs/remotes/origin/master"]),
        remote.git(&["rev-parse", "master"])
    );
    assert_eq!(
        shallow.git(&[
            "for-each-ref",
            "--format=%(refname)",
            "refs/remotes/origin/gone"
        ]),
        ""
    );
    // Not shallow any more: nothing to do.
    let (_, again) = repo.deepen(&git, &["develop"]).unwrap();
    assert_eq!(again, Deepened::NotShallow);
}

#[test]
fn commits_dated_before_their_parents_are_still_classified_right() {
    let repo = TestRepo::new();
    repo.commit("chore: init");
    repo.branch("hotfix", "develop");
    repo.set_clock(fixture::EPOCH + 100_000);
    repo.commit("fix: a");
    repo.annotated_tag("v1.0.1");
    repo.checkout("develop");
    repo.set_clock(fixture::EPOCH + 50_000);
    repo.commit("feat: b");
    // The merge is dated before the hotfix commits it brings in.
    repo.set_clock(fixture::EPOCH + 60_000);
    repo.merge("hotfix");
    repo.set_clock(fixture::EPOCH + 10);
    repo.commit("fix: skewed");
    let history = read(&repo);
    assert_eq!(history.base().unwrap().name(), "v1.0.1");
    assert_eq!(
        ids(&history).into_iter().collect::<BTreeSet<_>>(),
        git_log_set(&repo, &["develop", "--not", "v1.0.1"])
    );
}

#[test]
fn nested_tag_prefixes() {
    let repo = TestRepo::new();
    repo.commit("chore: init");
    repo.tag("release/1.4.0");
    repo.commit("perf: faster");
    let history = read_with(
        &repo,
        &ReadOptions::default().tag_format(TagFormat::new("release/")),
    );
    assert_eq!(history.base().unwrap().version(), &Version::new(1, 4, 0));
    let plan = plan(&history, &Request::new(TagFormat::new("release/"))).unwrap();
    assert_eq!(plan.release().unwrap().tag(), "release/1.4.1");
}
