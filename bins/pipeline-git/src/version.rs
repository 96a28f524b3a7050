//! `pipeline-git version` and `pipeline-git changelog`: read the history,
//! plan the next version, print it or its notes.

use crate::Failure;
use pipeline_ci::{Env, GitHub};
use pipeline_gitflow::{ChangeKind, History, NoRelease, Plan, Reason, ReleaseNotes, plan};
use serde_json::{Value, json};

use crate::Exit;
use crate::cli::{ChangelogArgs, FlowArgs, PlanArgs, RepoArgs, VersionArgs};
use crate::output;
use crate::repo::open_deepened;

pub(crate) fn version(args: &VersionArgs, env: &Env) -> Result<Exit, Failure> {
    let (plan, history) = compute(&args.repo, &args.plan, &args.flow, env)?;
    let explanation = explain(&plan);
    eprintln!("{explanation}");
    if args.json {
        let doc = document("pipeline-git/version/v1", &plan, &history, &args.plan);
        output::stdout(&format!("{}\n", Value::Object(doc)))?;
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
        let mut doc = document("pipeline-git/changelog/v1", &plan, &history, &args.plan);
        doc.insert("date".into(), json!(date.to_string()));
        doc.insert("markdown".into(), json!(markdown));
        doc.insert("sections".into(), sections_json(notes.as_ref()));
        doc.insert(
            "changelog_file".into(),
            json!(written.map(|p| p.display().to_string())),
        );
        output::stdout(&format!("{}\n", Value::Object(doc)))?;
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

fn reason_json(plan: &Plan) -> Value {
    match plan.release() {
        Ok(release) => match release.reason() {
            Reason::Commits { requested, applied } => {
                json!({ "kind": "commits", "bump": applied.as_str(), "requested": requested.as_str() })
            }
            Reason::Override(over) => json!({ "kind": "override", "bump": over.to_string() }),
            Reason::ReleaseAs(commit) => json!({ "kind": "release_as", "commit": commit.as_str() }),
            Reason::ContinuesPreRelease(tag) => {
                json!({ "kind": "continues_pre_release", "tag": tag })
            }
            _ => json!({ "kind": "other" }),
        },
        Err(NoRelease::NoCommits) => json!({ "kind": "no_commits" }),
        Err(_) => json!({ "kind": "nothing_releasable" }),
    }
}

/// The fields `version` and `changelog` share.
fn document(
    schema: &str,
    plan: &Plan,
    history: &History,
    args: &PlanArgs,
) -> serde_json::Map<String, Value> {
    let release = plan.release().ok();
    let mut doc = serde_json::Map::new();
    doc.insert("schema".into(), json!(schema));
    doc.insert("released".into(), json!(release.is_some()));
    doc.insert(
        "version".into(),
        json!(release.map(|r| r.version().to_string())),
    );
    doc.insert("tag".into(), json!(release.map(|r| r.tag())));
    doc.insert(
        "previous_version".into(),
        json!(plan.previous().map(|t| t.version().to_string())),
    );
    doc.insert(
        "previous_tag".into(),
        json!(plan.previous().map(|t| t.name())),
    );
    doc.insert("reason".into(), reason_json(plan));
    doc.insert(
        "branch".into(),
        json!({
            "name": history.tip().name(),
            "ref": history.tip().reference(),
            "commit": history.tip().commit().as_str(),
        }),
    );
    doc.insert(
        "commits".into(),
        json!({ "total": plan.changes().len(), "releasable": plan.releasable_count() }),
    );
    doc.insert(
        "pre_release".into(),
        json!(args.pre.as_ref().map(|p| p.channel())),
    );
    doc
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

fn sections_json(notes: Option<&ReleaseNotes>) -> Value {
    let Some(notes) = notes else {
        return json!([]);
    };
    Value::Array(
        notes
            .sections()
            .iter()
            .map(|section| {
                json!({
                    "kind": section.kind().key(),
                    "title": section.kind().title(),
                    "entries": section.entries().iter().map(|entry| json!({
                        "scope": entry.scope(),
                        "text": entry.text(),
                        "commit": entry.commit().as_str(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}
