//! `pipeline-git sync`, `release` and `hotfix`: parse, call the library's
//! flow and release transaction, render.

use crate::Failure;
use pipeline_ci::Env;
use pipeline_contracts::git::{
    BranchAt, BranchPush, GithubRelease, HotfixStartDoc, ReleaseDoc, SyncDoc, SyncedBranch,
};
use pipeline_gitflow::{
    BranchUpdate, CommitId, FlowError, GitCli, Integration, Publish, ReleaseDecision,
    ReleaseOutcome, ReleasePlan, ReleaseRequest, Released, Repo, Target,
};

use crate::Exit;
use crate::cli::{
    FlowArgs, HotfixFinishArgs, HotfixStartArgs, PlanArgs, ReleaseArgs, SyncArgs, TagArgs,
};
use crate::github::{self, GitHubRelease, Published};
use crate::output::{self, short};
use crate::repo::{git_cli, identity, open_deepened};

pub(crate) fn sync(args: &SyncArgs, env: &Env) -> Result<Exit, Failure> {
    let branches = [args.repo.develop_branch.as_str(), &args.repo.main_branch];
    let repo = open_deepened(&args.repo, &args.flow, env, &branches)?;
    let plan = repo.plan_sync(&args.repo.read_options())?;
    let (develop, master) = (plan.develop(), plan.master());
    let (what, action) = match plan.integration() {
        Integration::UpToDate => (
            format!(
                "{} ({}) is up to date with {} ({})",
                develop.name(),
                short(develop.commit().as_str()),
                master.name(),
                short(master.commit().as_str())
            ),
            "up_to_date",
        ),
        Integration::FastForward => (
            format!(
                "{} fast-forwards from {} to {} ({})",
                develop.name(),
                short(develop.commit().as_str()),
                master.name(),
                short(master.commit().as_str())
            ),
            "fast_forward",
        ),
        Integration::Merge => (
            format!(
                "{} ({}) is merged into {} ({}): \"{}\"",
                master.name(),
                short(master.commit().as_str()),
                develop.name(),
                short(develop.commit().as_str()),
                plan.message()
            ),
            "merge",
        ),
    };
    let commit = if args.flow.dry_run {
        eprintln!("dry run: {what}; nothing changed");
        None
    } else if plan.is_noop() {
        eprintln!("{what}; nothing to do");
        Some(develop.commit().clone())
    } else {
        let commit = repo.sync(&plan, identity(env).as_ref())?;
        eprintln!("{what}; {} checked out at {commit}", develop.name());
        Some(commit)
    };
    if args.json {
        output::json(&SyncDoc {
            action: action.to_owned(),
            changed: !args.flow.dry_run && !plan.is_noop(),
            develop: SyncedBranch {
                after: commit.as_ref().map(|c| c.as_str().to_owned()),
                before: develop.commit().as_str().to_owned(),
                name: develop.name().to_owned(),
                reference: develop.reference().to_owned(),
            },
            dry_run: args.flow.dry_run,
            master: BranchAt {
                commit: master.commit().as_str().to_owned(),
                name: master.name().to_owned(),
                reference: master.reference().to_owned(),
            },
            schema: SyncDoc::SCHEMA.to_owned(),
        })?;
    } else if let Some(commit) = &commit {
        output::stdout(&format!("{commit}\n"))?;
    }
    let commit = commit.map(|c| c.as_str().to_owned()).unwrap_or_default();
    output::step_outputs(env, &[], &[("commit", commit)])?;
    Ok(Exit::Success)
}

pub(crate) fn hotfix_start(args: &HotfixStartArgs, env: &Env) -> Result<Exit, Failure> {
    let repo = open_deepened(&args.repo, &args.flow, env, &[&args.repo.main_branch])?;
    let branch = format!("hotfix/{}", args.name);
    let (commit, created) =
        repo.start_branch(&args.repo.read_options(), &branch, args.flow.dry_run)?;
    let verb = match (args.flow.dry_run, created) {
        (true, true) => "dry run: would create and check out",
        (true, false) => "dry run: would check out the existing",
        (false, true) => "created and checked out",
        (false, false) => "checked out the existing",
    };
    eprintln!("{verb} {branch} at {commit}");
    if args.json {
        output::json(&HotfixStartDoc {
            branch: branch.clone(),
            commit: commit.as_str().to_owned(),
            created,
            dry_run: args.flow.dry_run,
            schema: HotfixStartDoc::SCHEMA.to_owned(),
        })?;
    } else {
        output::stdout(&format!("{branch}\n"))?;
    }
    output::step_outputs(env, &[], &[("branch", branch)])?;
    Ok(Exit::Success)
}

pub(crate) fn release(args: &ReleaseArgs, env: &Env) -> Result<Exit, Failure> {
    // Before anything is read or pushed: a release that cannot be finished
    // is not started.
    let github = github::settings(&args.tag, env)?;
    let branches = [args.repo.develop_branch.as_str(), &args.repo.main_branch];
    let repo = open_deepened(&args.repo, &args.flow, env, &branches)?;
    // The remote first: without it there is no release to speak of.
    let git = git_cli(&repo, &args.repo, &args.flow, env)?;
    let date = args.tag.date.unwrap_or_else(output::today);
    let mut request =
        ReleaseRequest::new(args.repo.request(&args.plan), date).merge(args.tag.merge.into());
    if let Some(commit) = &args.commit {
        request = request.commit(commit.clone());
    }
    let decision = repo.plan_release(&args.repo.read_options(), &request)?;
    publish(
        &repo,
        &git,
        decision,
        &args.flow,
        &args.tag,
        github.as_ref(),
        env,
    )
}

pub(crate) fn hotfix_finish(args: &HotfixFinishArgs, env: &Env) -> Result<Exit, Failure> {
    let github = github::settings(&args.tag, env)?;
    let named = args.name.as_ref().map(|name| format!("hotfix/{name}"));
    let mut branches = vec![args.repo.develop_branch.as_str(), &args.repo.main_branch];
    branches.extend(named.as_deref());
    let repo = open_deepened(&args.repo, &args.flow, env, &branches)?;
    let git = git_cli(&repo, &args.repo, &args.flow, env)?;
    let branch = match named {
        Some(branch) => branch,
        None => repo
            .current_branch()
            .filter(|b| b.starts_with("hotfix/"))
            .ok_or(FlowError::NoHotfix {
                prefix: "hotfix/".to_owned(),
            })?,
    };
    let date = args.tag.date.unwrap_or_else(output::today);
    let request = args.repo.request(&PlanArgs {
        bump: None,
        pre: None,
    });
    let decision = repo.plan_hotfix_finish(
        &args.repo.read_options(),
        &branch,
        &request,
        date,
        args.tag.merge.into(),
    )?;
    publish(
        &repo,
        &git,
        decision,
        &args.flow,
        &args.tag,
        github.as_ref(),
        env,
    )
}

/// The release's end, shared by `release` and `hotfix finish`: shows the
/// plan, runs the library's transaction, makes the GitHub Release once the
/// remote holds the tag, renders the outcome (and then reports a GitHub
/// Release that could not be made).
fn publish(
    repo: &Repo,
    git: &GitCli,
    decision: ReleaseDecision,
    flow: &FlowArgs,
    args: &TagArgs,
    github: Option<&GitHubRelease>,
    env: &Env,
) -> Result<Exit, Failure> {
    if let ReleaseDecision::Release(plan) = &decision {
        show_plan(plan);
    }
    let mut publish = Publish::default().dry_run(flow.dry_run);
    if let Some(identity) = identity(env) {
        publish = publish.identity(identity);
    }
    let outcome = repo.publish_release(git, decision, &publish)?;
    let made = match (github, &outcome) {
        (Some(gh), ReleaseOutcome::Released(done) | ReleaseOutcome::AlreadyReleased(done)) => {
            Some(gh.publish(done.plan()))
        }
        (Some(gh), ReleaseOutcome::Planned(plan)) => {
            eprintln!(
                "dry run: would make the GitHub Release of {} in {}",
                plan.tag(),
                gh.repository()
            );
            None
        }
        (Some(_), _) => {
            eprintln!("no GitHub Release: nothing was released");
            None
        }
        (None, _) => None,
    };
    let (published, failed) = match made {
        Some(Ok(p)) => {
            eprintln!(
                "GitHub Release {}: {} ({})",
                p.release.tag_name,
                p.how.as_str(),
                p.release.html_url
            );
            (Some(p), None)
        }
        Some(Err(f)) => (None, Some(f)),
        None => (None, None),
    };
    render(&outcome, git.remote(), flow, args, published.as_ref(), env)?;
    match failed {
        Some(f) => Err(f),
        None => Ok(Exit::Success),
    }
}

/// The outcome on stderr and stdout (the tag, or `--json`), the notes
/// file, and the step outputs and summary inside GitHub Actions.
fn render(
    outcome: &ReleaseOutcome,
    remote: &str,
    flow: &FlowArgs,
    args: &TagArgs,
    github: Option<&Published>,
    env: &Env,
) -> Result<(), Failure> {
    let (action, released) = match outcome {
        ReleaseOutcome::NothingToRelease { plan, .. } => {
            return render_no_release(plan.previous().map(|t| t.name()), flow, args, env);
        }
        ReleaseOutcome::Planned(plan) => {
            eprintln!(
                "dry run: would push {}, {} and {} to {remote} atomically; nothing changed",
                plan.develop().branch(),
                plan.master().branch(),
                plan.tag(),
            );
            ("planned", None)
        }
        ReleaseOutcome::AlreadyReleased(released) => {
            let plan = released.plan();
            if released.develop().is_none() {
                eprintln!(
                    "already released: {remote} has {}, {} and {} where this release puts them; nothing to do",
                    plan.tag(),
                    plan.develop().branch(),
                    plan.master().branch()
                );
            } else {
                show_tag_not_pushed(released, remote);
                eprintln!("already released: {remote} was up to date");
            }
            ("already_released", Some(released))
        }
        ReleaseOutcome::Released(released) => {
            let plan = released.plan();
            show_tag_not_pushed(released, remote);
            eprintln!(
                "pushed {}, {} and {} to {remote} atomically",
                plan.develop().branch(),
                plan.master().branch(),
                plan.tag(),
            );
            ("released", Some(released))
        }
        _ => {
            return Err(Failure::new(
                Exit::External,
                "a release outcome this pipeline-git does not know",
            ));
        }
    };
    let Some(plan) = outcome.plan() else {
        return Err(Failure::new(
            Exit::External,
            "a release outcome without a release",
        ));
    };
    // The notes file, once the remote holds the release (never for a dry
    // run or a failed push).
    let notes_file = match (&args.changelog_file, plan.notes(), released) {
        (Some(path), Some(notes), Some(_)) => {
            output::notes_file(path, notes)?;
            Some(path.display().to_string())
        }
        _ => None,
    };
    if args.json {
        output::json(&ReleaseDoc {
            action: action.to_owned(),
            changelog_file: notes_file.clone(),
            commit: Some(plan.commit().as_str().to_owned()),
            develop: Some(update(plan.develop(), released.and_then(Released::develop))),
            dry_run: flow.dry_run,
            github_release: github.map(|p| GithubRelease {
                action: p.how.as_str().to_owned(),
                id: p.release.id,
                url: p.release.html_url.clone(),
            }),
            master: Some(update(plan.master(), released.and_then(Released::master))),
            notes: plan.notes().map(str::to_owned),
            previous_tag: plan.previous_tag().map(str::to_owned),
            released: released.is_some(),
            schema: ReleaseDoc::SCHEMA.to_owned(),
            tag: Some(plan.tag().to_owned()),
            version: Some(plan.version().to_string()),
        })?;
    } else if released.is_some() {
        output::stdout(&format!("{}\n", plan.tag()))?;
    }
    output::step_outputs(
        env,
        &[
            ("version", plan.version().to_string()),
            ("tag", plan.tag().to_owned()),
            (
                "previous_tag",
                plan.previous_tag().unwrap_or_default().to_owned(),
            ),
            ("released", released.is_some().to_string()),
            ("changelog_file", notes_file.unwrap_or_default()),
        ],
        &[(
            "release_url",
            github
                .map(|p| p.release.html_url.clone())
                .unwrap_or_default(),
        )],
    )?;
    if let (Some(notes), Some(_)) = (plan.notes(), released) {
        output::summary(env, &format!("{notes}\n"))?;
    }
    Ok(())
}

fn render_no_release(
    since: Option<&str>,
    flow: &FlowArgs,
    args: &TagArgs,
    env: &Env,
) -> Result<(), Failure> {
    eprintln!(
        "no release: no feat, fix, perf or breaking change since {}",
        since.unwrap_or("the start of history")
    );
    if args.json {
        output::json(&ReleaseDoc {
            action: "no_release".to_owned(),
            changelog_file: None,
            commit: None,
            develop: None,
            dry_run: flow.dry_run,
            github_release: None,
            master: None,
            notes: None,
            previous_tag: since.map(str::to_owned),
            released: false,
            schema: ReleaseDoc::SCHEMA.to_owned(),
            tag: None,
            version: None,
        })?;
    }
    output::step_outputs(
        env,
        &[("previous_tag", since.unwrap_or_default().to_owned())],
        &[("release_url", String::new())],
    )
}

/// What the release is, before anything is read from the remote.
fn show_plan(plan: &ReleasePlan) {
    eprintln!(
        "release {} ({}) of commit {}{}",
        plan.tag(),
        plan.version(),
        plan.commit(),
        plan.previous_tag()
            .map(|p| format!(", previous {p}"))
            .unwrap_or_default()
    );
    eprintln!(
        "tag {}: {}",
        plan.tag(),
        if plan.tag_exists() {
            "exists already on that commit"
        } else {
            "to create, annotated with the release notes"
        }
    );
    eprintln!("{}", update_line(plan.develop()));
    eprintln!("{}", update_line(plan.master()));
}

fn show_tag_not_pushed(released: &Released, remote: &str) {
    if !released.tag_pushed() {
        eprintln!(
            "tag {}: already on {remote} at that commit; not pushed again",
            released.plan().tag()
        );
    }
}

fn target_text(target: &Target) -> String {
    match target {
        Target::Commit(c) => c.as_str().to_owned(),
        Target::Merge { from, .. } => format!("a merge commit of {}", short(from.as_str())),
        _ => "a new commit".to_owned(),
    }
}

fn update_line(update: &BranchUpdate) -> String {
    let from = update.expected().map_or("(absent)", |c| short(c.as_str()));
    match update.target() {
        Target::Commit(c) if Some(c) == update.expected() => {
            format!("{}: stays at {from}", update.branch())
        }
        Target::Commit(c) => format!("{}: {from} -> {}", update.branch(), short(c.as_str())),
        target => format!("{}: {from} -> {}", update.branch(), target_text(target)),
    }
}

/// A branch of the release: the remote's value as fetched, and where it
/// went (`pushed`) or goes.
fn update(update: &BranchUpdate, pushed: Option<&CommitId>) -> BranchPush {
    BranchPush {
        after: pushed.map_or_else(|| target_text(update.target()), |c| c.as_str().to_owned()),
        expected: update.expected().map(|c| c.as_str().to_owned()),
        reference: update.reference(),
    }
}
