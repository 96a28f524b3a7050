//! `pipeline-git version` and `pipeline-git changelog`: read the history,
//! plan the next version, print it or its notes.

use crate::Failure;
use pipeline_ci::{Env, GitHub};
use pipeline_contracts::git::{self as contract, ChangelogDoc, VersionDoc};
use pipeline_gitflow::{ChangeKind, History, NoRelease, Plan, Reason, ReleaseNotes, plan};

use crate::Exit;
use crate::cli::{ChangelogArgs, FlowArgs, PlanArgs, RepoArgs, VersionArgs};
use crate::output;
use crate::repo::open_deepened;

pub(crate) fn version(args: &VersionArgs, env: &Env) -> Result<Exit, Failure> {
    let (plan, history) = compute(&args.repo, &args.plan, &args.flow, env)?;
    let explanation = explain(&plan);
    eprintln!("{explanation}");
    if args.json {
        let doc = document(VersionDoc::SCHEMA, &plan, &history, &args.plan);
        output::json(&doc)?;
    } else if let Ok(release) = plan.release() {
        output::stdout(&format!("{}\n", release.version()))?;
    }
    if let Some(github) = GitHub::from_env(env) {
        set_outputs(&github, &plan)?;
    }
    output::summary(env, &format!("**pipeline-git version:** {explanation}\n"))?;
    Ok(Exit::Success)
}

pub(crate) fn changelog(args: &ChangelogArgs, env: &Env) -> Result<Exit, Failure> {
    let (plan, history) = compute(&args.repo, &args.plan, &args.flow, env)?;
    let date = args.date.unwrap_or_else(output::today);
    let notes = ReleaseNotes::new(&plan, date);
    let markdown = notes.as_ref().map(ReleaseNotes::to_markdown);
    eprintln!("{}", explain(&plan));

    let mut written = None;
    if let (Some(path), Some(_), true) = (&args.output, &markdown, args.flow.dry_run) {
        eprintln!(
            "dry run: would write the release notes to {}",
            path.display()
        );
    } else if let (Some(path), Some(markdown)) = (&args.output, &markdown) {
        output::notes_file(path, markdown)?;
        eprintln!("release notes written to {}", path.display());
        written = Some(path);
    }
    if args.json {
        let doc = ChangelogDoc {
            version: document(ChangelogDoc::SCHEMA, &plan, &history, &args.plan),
            changelog_file: written.map(|p| p.display().to_string()),
            date: date.to_string(),
            markdown: markdown.clone(),
            sections: sections(notes.as_ref()),
        };
        output::json(&doc)?;
    } else if let (None, Some(markdown)) = (&args.output, &markdown) {
        output::stdout(markdown)?;
    }
    if let Some(github) = GitHub::from_env(env) {
        set_outputs(&github, &plan)?;
        github.set_output(
            "changelog_file",
            &written.map(|p| p.display().to_string()).unwrap_or_default(),
        )?;
    }
    if let Some(markdown) = &markdown {
        output::summary(env, &format!("{markdown}\n"))?;
    }
    Ok(Exit::Success)
}

/// Reads the history (deepened first with `--unshallow`) and plans the
/// release.
fn compute(
    repo: &RepoArgs,
    args: &PlanArgs,
    flow: &FlowArgs,
    env: &Env,
) -> Result<(Plan, History), Failure> {
    let opened = open_deepened(repo, flow, env, &[&repo.develop_branch])?;
    let history = opened.history(&repo.read_options())?;
    log_history(&history, &repo.tag_prefix);
    let plan = plan(&history, &repo.request(args))?;
    log_changes(&plan);
    Ok((plan, history))
}

fn log_history(history: &History, prefix: &str) {
    tracing::info!(
        "{} is {} at {}",
        history.tip().name(),
        history.tip().reference(),
        history.tip().commit()
    );
    match history.base() {
        Some(base) => tracing::info!(
            "last release {} at {}; {} commit(s) since",
            base.name(),
            base.commit().short(),
            history.commits().len()
        ),
        None => tracing::info!(
            "no release tag {prefix}X.Y.Z reachable: starting from 0.0.0; {} commit(s)",
            history.commits().len()
        ),
    }
}

fn log_changes(plan: &Plan) {
    for change in plan.changes() {
        let id = change.id().short();
        match change.kind() {
            ChangeKind::Merge => tracing::debug!("{id}: merge commit, not releasable"),
            ChangeKind::Other(why) => {
                tracing::debug!("{id}: not a Conventional Commit ({why})");
            }
            _ => match change.bump() {
                Some(bump) => tracing::debug!("{id}: asks for a {bump} release"),
                None => tracing::debug!("{id}: asks for no release"),
            },
        }
    }
}

/// One line saying what the plan is, for stderr.
fn explain(plan: &Plan) -> String {
    let since = plan.previous().map_or_else(
        || "the start of history (no release tag)".to_owned(),
        |t| t.name().to_owned(),
    );
    match plan.release() {
        Ok(release) => {
            let why = match release.reason() {
                Reason::Commits { requested, applied } if requested != applied => format!(
                    "{applied} bump (a breaking change bumps the minor while the major version is 0)"
                ),
                Reason::Commits { applied, .. } => format!("{applied} bump"),
                Reason::Override(over) => format!("--bump {over}"),
                Reason::ReleaseAs(commit) => {
                    format!("Release-As: footer of commit {}", commit.short())
                }
                Reason::ContinuesPreRelease(tag) => format!("continues pre-release {tag}"),
                _ => "planned".to_owned(),
            };
            format!(
                "next version {} (tag {}): {why}; {} commit(s) since {since}, {} releasable",
                release.version(),
                release.tag(),
                plan.changes().len(),
                plan.releasable_count()
            )
        }
        Err(NoRelease::NoCommits) => format!("no release: no commit since {since}"),
        Err(_) => format!(
            "no release: none of the {} commit(s) since {since} is a feat, fix, perf or breaking change",
            plan.changes().len()
        ),
    }
}

fn reason(plan: &Plan) -> contract::Reason {
    match plan.release() {
        Ok(release) => match release.reason() {
            Reason::Commits { requested, applied } => contract::Reason::Commits {
                bump: applied.as_str().to_owned(),
                requested: requested.as_str().to_owned(),
            },
            Reason::Override(over) => contract::Reason::Override {
                bump: over.to_string(),
            },
            Reason::ReleaseAs(commit) => contract::Reason::ReleaseAs {
                commit: commit.as_str().to_owned(),
            },
            Reason::ContinuesPreRelease(tag) => contract::Reason::ContinuesPreRelease {
                tag: tag.to_string(),
            },
            _ => contract::Reason::Other,
        },
        Err(NoRelease::NoCommits) => contract::Reason::NoCommits,
        Err(_) => contract::Reason::NothingReleasable,
    }
}

/// The fields `version` and `changelog` share.
fn document(schema: &str, plan: &Plan, history: &History, args: &PlanArgs) -> VersionDoc {
    let release = plan.release().ok();
    VersionDoc {
        branch: contract::BranchAt {
            commit: history.tip().commit().as_str().to_owned(),
            name: history.tip().name().to_owned(),
            reference: history.tip().reference().to_owned(),
        },
        commits: contract::CommitCounts {
            releasable: plan.releasable_count(),
            total: plan.changes().len(),
        },
        pre_release: args.pre.as_ref().map(|p| p.channel().to_owned()),
        previous_tag: plan.previous().map(|t| t.name().to_owned()),
        previous_version: plan.previous().map(|t| t.version().to_string()),
        reason: reason(plan),
        released: release.is_some(),
        schema: schema.to_owned(),
        tag: release.map(|r| r.tag().to_owned()),
        version: release.map(|r| r.version().to_string()),
    }
}

/// The step outputs `version` and `changelog` write inside GitHub Actions.
fn set_outputs(github: &GitHub, plan: &Plan) -> Result<(), Failure> {
    let release = plan.release().ok();
    let outputs = [
        (
            "version",
            release.map(|r| r.version().to_string()).unwrap_or_default(),
        ),
        (
            "tag",
            release.map(|r| r.tag().to_owned()).unwrap_or_default(),
        ),
        (
            "previous_tag",
            plan.previous()
                .map(|t| t.name().to_owned())
                .unwrap_or_default(),
        ),
        ("released", release.is_some().to_string()),
    ];
    for (name, value) in outputs {
        github
            .set_output(name, &value)
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    Ok(())
}

/// The release notes by section.
fn sections(notes: Option<&ReleaseNotes>) -> Vec<contract::NoteSection> {
    let Some(notes) = notes else {
        return Vec::new();
    };
    notes
        .sections()
        .iter()
        .map(|section| contract::NoteSection {
            entries: section
                .entries()
                .iter()
                .map(|entry| contract::NoteEntry {
                    commit: entry.commit().as_str().to_owned(),
                    scope: entry.scope().map(str::to_owned),
                    text: entry.text().to_owned(),
                })
                .collect(),
            kind: section.kind().key().to_owned(),
            title: section.kind().title().to_owned(),
        })
        .collect()
}
