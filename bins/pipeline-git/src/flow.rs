//! `pipeline-git sync`, `release` and `hotfix`: the glue between the
//! library's plans, the git command line and the output.

use anyhow::Context as _;
use pipeline_ci::{Env, GitHub, Secret};
use pipeline_gitflow::{
    BranchUpdate, FlowError, GitCli, Identity, Integration, PushCheck, PushRef, ReadOptions,
    RefStatus, ReleaseDecision, ReleasePlan, ReleaseRequest, RemoteState, Repo, Request, Retry,
    Target, remote_state,
};
use serde_json::{Value, json};

use crate::Exit;
use crate::cli::{
    FlowArgs, HotfixFinishArgs, HotfixStartArgs, PlanArgs, ReleaseArgs, RepoArgs, SyncArgs, TagArgs,
};
use crate::release::{today, write_stdout};

/// The token for https remotes: `GIT_TOKEN`, else `GITHUB_TOKEN`.
pub(crate) fn token(env: &Env) -> Option<Secret> {
    env.get_secret("GIT_TOKEN")
        .or_else(|| env.get_secret("GITHUB_TOKEN"))
}

/// Who makes tags and merge commits: git's committer (or author)
/// variables, else the repository's `user.name`/`user.email`.
fn identity(env: &Env) -> Option<Identity> {
    ["COMMITTER", "AUTHOR"].iter().find_map(|who| {
        let name = env
            .get(&format!("GIT_{who}_NAME"))
            .filter(|v| !v.is_empty())?;
        let email = env
            .get(&format!("GIT_{who}_EMAIL"))
            .filter(|v| !v.is_empty())?;
        Some(Identity::new(name, email))
    })
}

pub(crate) fn read_options(repo: &RepoArgs) -> ReadOptions {
    ReadOptions::default()
        .remote(repo.remote.clone())
        .develop_branch(repo.develop_branch.clone())
        .main_branch(repo.main_branch.clone())
        .tag_format(pipeline_gitflow::TagFormat::new(repo.tag_prefix.clone()))
}

pub(crate) fn request(repo: &RepoArgs, args: &PlanArgs) -> Request {
    let mut request = Request::new(pipeline_gitflow::TagFormat::new(repo.tag_prefix.clone()));
    if let Some(bump) = &args.bump {
        request = request.bump(bump.clone());
    }
    if let Some(pre) = &args.pre {
        request = request.pre_release(pre.clone());
    }
    request
}

pub(crate) fn open(repo: &RepoArgs) -> anyhow::Result<Repo> {
    // Absolute, so that errors name a place even for `--repo .`.
    let path = std::path::absolute(&repo.repo).unwrap_or_else(|_| repo.repo.clone());
    Ok(Repo::open(&path)?)
}

fn git_cli(repo: &Repo, args: &RepoArgs, flow: &FlowArgs, env: &Env) -> GitCli {
    let url = repo.remote_url(&args.remote);
    GitCli::new(repo.path(), &args.remote, url.as_deref(), token(env))
        .inherited_config_count(env.get("GIT_CONFIG_COUNT"))
        .retry(Retry::new(
            flow.attempts,
            std::time::Duration::from_millis(flow.retry_delay_ms),
        ))
}

/// `--unshallow`: deepen a shallow clone before anything is read, and
/// fetch the `branches` the command reads that a single-branch clone
/// lacks. Gives the repository back opened again after a fetch: the
/// handle opened before it would still see the history cut.
pub(crate) fn unshallow(
    repo: Repo,
    args: &RepoArgs,
    flow: &FlowArgs,
    env: &Env,
    branches: &[&str],
) -> anyhow::Result<Repo> {
    if !flow.unshallow {
        return Ok(repo);
    }
    if !repo.is_shallow() {
        tracing::info!(
            "{} is not shallow: nothing to deepen",
            repo.path().display()
        );
        return Ok(repo);
    }
    if flow.dry_run {
        eprintln!(
            "dry run: {} is a shallow clone; would deepen it with git fetch --unshallow --tags {}; nothing fetched",
            repo.path().display(),
            args.remote
        );
        return Ok(repo);
    }
    eprintln!(
        "deepening the shallow clone: git fetch --unshallow --tags {}",
        args.remote
    );
    let cli = git_cli(&repo, args, flow, env);
    let (repo, _) = repo.deepen(&cli, branches)?;
    Ok(repo)
}

/// The step outputs every command writes inside GitHub Actions.
pub(crate) fn step_outputs(env: &Env, values: &[(&str, String)]) -> anyhow::Result<()> {
    if let Some(github) = GitHub::from_env(env) {
        for name in [
            "version",
            "tag",
            "previous_tag",
            "released",
            "changelog_file",
        ] {
            let value = values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| {
                    if name == "released" {
                        "false".to_owned()
                    } else {
                        String::new()
                    }
                });
            github.set_output(name, &value)?;
        }
        for (name, value) in values {
            if ![
                "version",
                "tag",
                "previous_tag",
                "released",
                "changelog_file",
            ]
            .contains(name)
            {
                github.set_output(name, value)?;
            }
        }
    }
    Ok(())
}

fn short(id: &str) -> &str {
    id.get(..7).unwrap_or(id)
}

pub(crate) fn sync(args: &SyncArgs, env: &Env) -> anyhow::Result<Exit> {
    let repo = open(&args.repo)?;
    let branches = [args.repo.develop_branch.as_str(), &args.repo.main_branch];
    let repo = unshallow(repo, &args.repo, &args.flow, env, &branches)?;
    let plan = repo.plan_sync(&read_options(&args.repo))?;
    let (develop, master) = (plan.develop(), plan.master());
    let what = match plan.integration() {
        Integration::UpToDate => format!(
            "{} ({}) is up to date with {} ({})",
            develop.name(),
            short(develop.commit().as_str()),
            master.name(),
            short(master.commit().as_str())
        ),
        Integration::FastForward => format!(
            "{} fast-forwards from {} to {} ({})",
            develop.name(),
            short(develop.commit().as_str()),
            master.name(),
            short(master.commit().as_str())
        ),
        Integration::Merge => format!(
            "{} ({}) is merged into {} ({}): \"{}\"",
            master.name(),
            short(master.commit().as_str()),
            develop.name(),
            short(develop.commit().as_str()),
            plan.message()
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
    let action = match plan.integration() {
        Integration::UpToDate => "up_to_date",
        Integration::FastForward => "fast_forward",
        Integration::Merge => "merge",
    };
    if args.json {
        let doc = json!({
            "schema": "pipeline-git/sync/v1",
            "dry_run": args.flow.dry_run,
            "action": action,
            "changed": !args.flow.dry_run && !plan.is_noop(),
            "develop": { "name": develop.name(), "ref": develop.reference(), "before": develop.commit().as_str(), "after": commit.as_ref().map(|c| c.as_str()) },
            "master": { "name": master.name(), "ref": master.reference(), "commit": master.commit().as_str() },
        });
        write_stdout(&format!("{doc}\n"))?;
    } else if let Some(commit) = &commit {
        write_stdout(&format!("{commit}\n"))?;
    }
    step_outputs(
        env,
        &[(
            "commit",
            commit.map(|c| c.as_str().to_owned()).unwrap_or_default(),
        )],
    )?;
    Ok(Exit::Success)
}

pub(crate) fn hotfix_start(args: &HotfixStartArgs, env: &Env) -> anyhow::Result<Exit> {
    let repo = open(&args.repo)?;
    let repo = unshallow(repo, &args.repo, &args.flow, env, &[&args.repo.main_branch])?;
    let branch = format!("hotfix/{}", args.name);
    let (commit, created) =
        repo.start_branch(&read_options(&args.repo), &branch, args.flow.dry_run)?;
    let verb = match (args.flow.dry_run, created) {
        (true, true) => "dry run: would create and check out",
        (true, false) => "dry run: would check out the existing",
        (false, true) => "created and checked out",
        (false, false) => "checked out the existing",
    };
    eprintln!("{verb} {branch} at {commit}");
    if args.json {
        let doc = json!({
            "schema": "pipeline-git/hotfix-start/v1",
            "dry_run": args.flow.dry_run,
            "branch": branch,
            "created": created,
            "commit": commit.as_str(),
        });
        write_stdout(&format!("{doc}\n"))?;
    } else {
        write_stdout(&format!("{branch}\n"))?;
    }
    step_outputs(env, &[("branch", branch.clone())])?;
    Ok(Exit::Success)
}

pub(crate) fn release(args: &ReleaseArgs, env: &Env) -> anyhow::Result<Exit> {
    let repo = open(&args.repo)?;
    let branches = [args.repo.develop_branch.as_str(), &args.repo.main_branch];
    let repo = unshallow(repo, &args.repo, &args.flow, env, &branches)?;
    let date = args.tag.date.unwrap_or_else(today);
    let mut request =
        ReleaseRequest::new(request(&args.repo, &args.plan), date).merge(args.tag.merge.into());
    if let Some(commit) = &args.commit {
        request = request.commit(commit.clone());
    }
    let decision = repo.plan_release(&read_options(&args.repo), &request)?;
    tag_and_push(&repo, decision, &args.repo, &args.flow, &args.tag, env)
}

pub(crate) fn hotfix_finish(args: &HotfixFinishArgs, env: &Env) -> anyhow::Result<Exit> {
    let repo = open(&args.repo)?;
    let named = args.name.as_ref().map(|name| format!("hotfix/{name}"));
    let mut branches = vec![args.repo.develop_branch.as_str(), &args.repo.main_branch];
    branches.extend(named.as_deref());
    let repo = unshallow(repo, &args.repo, &args.flow, env, &branches)?;
    let branch = match named {
        Some(branch) => branch,
        None => repo
            .current_branch()
            .filter(|b| b.starts_with("hotfix/"))
            .ok_or(FlowError::NoHotfix {
                prefix: "hotfix/".to_owned(),
            })?,
    };
    let date = args.tag.date.unwrap_or_else(today);
    let request = request(
        &args.repo,
        &PlanArgs {
            bump: None,
            pre: None,
        },
    );
    let decision = repo.plan_hotfix_finish(
        &read_options(&args.repo),
        &branch,
        &request,
        date,
        args.tag.merge.into(),
    )?;
    tag_and_push(&repo, decision, &args.repo, &args.flow, &args.tag, env)
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
        target => format!(
            "{}: {from} -> {}",
            update.branch(),
            short(&target_text(target))
        ),
    }
}

fn update_json(update: &BranchUpdate, after: Option<&str>) -> Value {
    json!({
        "ref": update.reference(),
        "expected": update.expected().map(|c| c.as_str()),
        "after": after.map_or_else(|| target_text(update.target()), str::to_owned),
    })
}

/// The release's end: checks the remote, makes the tag and branches, pushes
/// them atomically, reports.
fn tag_and_push(
    repo: &Repo,
    decision: ReleaseDecision,
    repo_args: &RepoArgs,
    flow: &FlowArgs,
    args: &TagArgs,
    env: &Env,
) -> anyhow::Result<Exit> {
    let plan = match decision {
        ReleaseDecision::Release(plan) => plan,
        ReleaseDecision::Nothing { plan, .. } => {
            let since = plan.previous().map(|t| t.name().to_owned());
            eprintln!(
                "no release: no feat, fix, perf or breaking change since {}",
                since.as_deref().unwrap_or("the start of history")
            );
            if args.json {
                let doc = json!({
                    "schema": "pipeline-git/release/v1",
                    "dry_run": flow.dry_run,
                    "action": "no_release",
                    "released": false,
                    "version": null, "tag": null, "previous_tag": since, "commit": null,
                    "develop": null, "master": null, "changelog_file": null,
                });
                write_stdout(&format!("{doc}\n"))?;
            }
            step_outputs(env, &[("previous_tag", since.unwrap_or_default())])?;
            return Ok(Exit::Success);
        }
        _ => anyhow::bail!("unknown release decision"),
    };
    let cli = git_cli(repo, repo_args, flow, env);
    if cli.uses_token() {
        tracing::info!(
            "a token from the environment is sent to {}",
            repo_args.remote
        );
    }
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

    let tag_ref = plan.tag_ref();
    let peeled = format!("{tag_ref}^{{}}");
    let remote = cli.ls_remote(&[
        &plan.develop().reference(),
        &plan.master().reference(),
        &tag_ref,
        &peeled,
    ])?;
    let state = remote_state(&plan, &remote)?;
    if let RemoteState::Moved(refs) = &state {
        return Err(FlowError::RemoteMoved {
            remote: repo_args.remote.clone(),
            refs: refs.clone(),
        }
        .into());
    }
    let notes_file = write_notes(&plan, args, flow.dry_run)?;
    let (action, develop, master) = if state == RemoteState::Released {
        eprintln!(
            "already released: {} has {}, {} and {} where this release puts them; nothing to do",
            repo_args.remote,
            plan.tag(),
            plan.develop().branch(),
            plan.master().branch()
        );
        ("already_released", None, None)
    } else if flow.dry_run {
        eprintln!(
            "dry run: would push {}, {} and {} to {} atomically; nothing changed",
            plan.develop().branch(),
            plan.master().branch(),
            plan.tag(),
            repo_args.remote
        );
        ("planned", None, None)
    } else {
        let applied = repo.apply_release(&plan, identity(env).as_ref())?;
        let mut refs = vec![
            PushRef {
                src: applied.develop.as_str().to_owned(),
                dst: plan.develop().reference(),
                expected: plan.develop().expected().map(|c| c.as_str().to_owned()),
            },
            PushRef {
                src: applied.master.as_str().to_owned(),
                dst: plan.master().reference(),
                expected: plan.master().expected().map(|c| c.as_str().to_owned()),
            },
        ];
        if remote.contains_key(&tag_ref) {
            // remote_state checked that it is on the release commit.
            eprintln!(
                "tag {}: already on {} at that commit; not pushed again",
                plan.tag(),
                repo_args.remote
            );
        } else {
            refs.push(PushRef {
                // The tag object's id, so that the remote can be compared.
                src: repo
                    .ref_target(&tag_ref)
                    .map_or_else(|| tag_ref.clone(), |id| id.as_str().to_owned()),
                dst: tag_ref.clone(),
                expected: None,
            });
        }
        let report = match cli.push_atomic(&refs) {
            Ok(report) => report,
            Err(error) => return Err(after_failed_push(repo, &cli, &plan, &applied, &refs, error)),
        };
        if report.rejected() {
            repo.undo_release(&plan, &applied)
                .context("the push was refused, and undoing the local tag and branches failed")?;
            let refused: Vec<(String, String)> = report
                .refs()
                .iter()
                .filter_map(|(r, s)| match s {
                    RefStatus::Rejected(why) if why != "atomic push failed" => {
                        Some((r.clone(), why.clone()))
                    }
                    _ => None,
                })
                .collect();
            let moved = refused.iter().any(|(_, why)| {
                [
                    "stale info",
                    "fetch first",
                    "non-fast-forward",
                    "already exists",
                ]
                .iter()
                .any(|w| why.contains(w))
            });
            let refs = refused
                .into_iter()
                .map(|(r, why)| format!("{r}: {why}"))
                .collect();
            let remote = repo_args.remote.clone();
            return Err(if moved {
                FlowError::RemoteMoved { remote, refs }
            } else {
                FlowError::PushRefused { remote, refs }
            }
            .into());
        }
        repo.record_pushed(&plan, &applied)?;
        let action = if report.all_up_to_date() {
            eprintln!("already released: {} was up to date", repo_args.remote);
            "already_released"
        } else {
            eprintln!(
                "pushed {}, {} and {} to {} atomically",
                plan.develop().branch(),
                plan.master().branch(),
                plan.tag(),
                repo_args.remote
            );
            "released"
        };
        (action, Some(applied.develop), Some(applied.master))
    };
    let released = action != "planned";
    if args.json {
        let doc = json!({
            "schema": "pipeline-git/release/v1",
            "dry_run": flow.dry_run,
            "action": action,
            "released": released,
            "version": plan.version().to_string(),
            "tag": plan.tag(),
            "previous_tag": plan.previous_tag(),
            "commit": plan.commit().as_str(),
            "develop": update_json(plan.develop(), develop.as_ref().map(|c| c.as_str())),
            "master": update_json(plan.master(), master.as_ref().map(|c| c.as_str())),
            "notes": plan.notes(),
            "changelog_file": notes_file.as_ref().map(|p| p.display().to_string()),
        });
        write_stdout(&format!("{doc}\n"))?;
    } else if released {
        write_stdout(&format!("{}\n", plan.tag()))?;
    }
    step_outputs(
        env,
        &[
            ("version", plan.version().to_string()),
            ("tag", plan.tag().to_owned()),
            (
                "previous_tag",
                plan.previous_tag().unwrap_or_default().to_owned(),
            ),
            ("released", released.to_string()),
            (
                "changelog_file",
                notes_file
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
        ],
    )?;
    if let (Some(github), Some(notes), true) = (GitHub::from_env(env), plan.notes(), released)
        && github.summary_file().is_some()
    {
        github.append_summary(&format!("{notes}\n"))?;
    }
    Ok(Exit::Success)
}

/// A push that failed: undone locally when the remote is known not to
/// have it; kept (to be finished by a re-run, which finds the tag on the
/// release commit) when the remote cannot be read.
fn after_failed_push(
    repo: &Repo,
    cli: &GitCli,
    plan: &ReleasePlan,
    applied: &pipeline_gitflow::Applied,
    refs: &[PushRef],
    error: pipeline_gitflow::RemoteError,
) -> anyhow::Error {
    // Refused credentials and a remote without atomic pushes stop git
    // before it sends anything: the remote is unchanged.
    let check = match &error {
        pipeline_gitflow::RemoteError::Auth { .. }
        | pipeline_gitflow::RemoteError::AtomicUnsupported { .. } => Ok(PushCheck::Unchanged),
        _ => cli.check_push(refs),
    };
    match check {
        Ok(PushCheck::Landed) => anyhow::Error::new(error).context(format!(
            "the push reported a failure, but {} holds the release: re-run `pipeline-git release` to report it",
            cli.remote()
        )),
        Ok(_) => match repo.undo_release(plan, applied) {
            Ok(()) => anyhow::Error::new(error).context(format!(
                "nothing was pushed to {}; the local tag {} and branch moves were undone",
                cli.remote(),
                plan.tag()
            )),
            Err(undo) => anyhow::Error::new(error).context(format!(
                "nothing was pushed to {}, and undoing the local tag and branches failed: {undo}",
                cli.remote()
            )),
        },
        Err(_) => anyhow::Error::new(error).context(format!(
            "{} cannot be read to tell whether the push landed: the local tag {} and branches are \
             kept; re-run `pipeline-git release` on the same commit to finish this release",
            cli.remote(),
            plan.tag()
        )),
    }
}

/// `--changelog-file`: the notes of a new tag (not in a dry run).
fn write_notes(
    plan: &ReleasePlan,
    args: &TagArgs,
    dry_run: bool,
) -> anyhow::Result<Option<std::path::PathBuf>> {
    let (Some(path), Some(notes), false) = (&args.changelog_file, plan.notes(), dry_run) else {
        return Ok(None);
    };
    std::fs::write(path, notes)
        .with_context(|| format!("cannot write the release notes to {}", path.display()))?;
    Ok(Some(path.clone()))
}
