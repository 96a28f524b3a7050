//! `--check-run` and `--pr-comment`: the settings from the flags and the
//! Actions environment, checked before any report is read, and the calls
//! to `pipeline-github` once the gate has decided.

use std::sync::Arc;
use std::time::Duration;

use pipeline_ci::{Env, Secret};
use pipeline_cli::Exit;
use pipeline_cli::http::StderrProgress;
use pipeline_cli::{Failure, OrUsage as _};
use pipeline_github::checks::{AnnotationLevel, CheckAnnotation, CheckRunRequest, Conclusion};
use pipeline_github::comments::{Upsert, marker};
use pipeline_github::{GitHub, GitHubError, Repository};
use pipeline_http::{Blame, Endpoint};
use pipeline_reports::render::{self, Baseline, GateOutcome, NoteLevel};

use crate::cli::GateArgs;

/// What to publish, and where.
#[derive(Debug)]
pub(crate) struct Publish {
    api: Endpoint,
    repository: Repository,
    token: Secret,
    check_run: Option<(String, String)>,
    comment: Option<u64>,
    tag: String,
    details_url: Option<String>,
}

/// How publishing went.
#[derive(Debug, Default)]
pub(crate) struct Published {
    /// The check run carries the annotations: no workflow commands needed.
    pub(crate) annotated: bool,
    /// The exit code a failure calls for (2 the caller's, 3 GitHub's).
    pub(crate) failure: Option<Exit>,
}

/// The settings for `--check-run` / `--pr-comment`, or `None` when neither
/// is asked for. Errors (exit 2) name the flag or variable missing.
pub(crate) fn settings(args: &GateArgs, env: &Env) -> Result<Option<Publish>, Failure> {
    if args.check_run.is_none() && !args.pr_comment {
        if args.pr.is_some() || args.sha.is_some() {
            return Err(Failure::usage(
                "--pr and --sha are used by --check-run and --pr-comment; give one of those",
            ));
        }
        return Ok(None);
    }
    if let Some(name) = &args.check_run {
        if name.trim().is_empty() {
            return Err(Failure::usage("--check-run needs a name"));
        }
    }
    let wanted = if args.check_run.is_some() {
        "--check-run"
    } else {
        "--pr-comment"
    };
    let repository = env
        .get("GITHUB_REPOSITORY")
        .filter(|r| !r.is_empty())
        .or_usage_with(|| format!("{wanted} needs GITHUB_REPOSITORY (owner/name)"))?;
    let repository = Repository::parse(repository).or_usage("GITHUB_REPOSITORY")?;
    let token = env
        .get_secret("GITHUB_TOKEN")
        .or_usage_with(|| format!("{wanted} needs a token in GITHUB_TOKEN"))?;
    let api_url = env
        .get("GITHUB_API_URL")
        .filter(|u| !u.is_empty())
        .unwrap_or("https://api.github.com");
    let api = Endpoint::parse("GITHUB_API_URL", api_url)?;
    let event = match env.get("GITHUB_EVENT_PATH").filter(|p| !p.is_empty()) {
        Some(path) => {
            let bytes = std::fs::read(path)
                .or_usage_with(|| format!("GITHUB_EVENT_PATH: cannot read {path}"))?;
            pipeline_github::event::pull_request(&bytes)
                .or_usage_with(|| format!("GITHUB_EVENT_PATH: {path} is not an event payload"))?
        }
        None => None,
    };
    let check_run = match &args.check_run {
        Some(name) => {
            let sha = args
                .sha
                .clone()
                .or_else(|| event.as_ref().and_then(|pr| pr.head_sha.clone()))
                .or_else(|| env.get("GITHUB_SHA").map(str::to_owned))
                .filter(|s| !s.is_empty())
                .or_usage("--check-run needs the commit: --sha, or GITHUB_SHA")?;
            if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Failure::usage(format!(
                    "--sha / GITHUB_SHA `{sha}` is not a full commit id (40 hexadecimal digits)"
                )));
            }
            Some((name.clone(), sha))
        }
        None => None,
    };
    let comment = if args.pr_comment {
        let number = args.pr.or(event.as_ref().map(|pr| pr.number));
        if number.is_none() {
            tracing::warn!(
                "--pr-comment: this run is not about a pull request (no --pr, and the event names none); no comment"
            );
        }
        number
    } else {
        None
    };
    let details_url = match (env.get("GITHUB_SERVER_URL"), env.get("GITHUB_RUN_ID")) {
        (Some(server), Some(run)) if !server.is_empty() && !run.is_empty() => Some(format!(
            "{}/{repository}/actions/runs/{run}",
            server.trim_end_matches('/')
        )),
        _ => None,
    };
    Ok(Some(Publish {
        api,
        repository,
        token,
        check_run,
        comment,
        tag: args.comment_tag.clone(),
        details_url,
    }))
}

/// The check run's annotations: every failing test and pylint problem with
/// a file, and the changed lines not run (notices).
fn check_annotations(outcome: &GateOutcome<'_>) -> Vec<CheckAnnotation> {
    let mut out: Vec<CheckAnnotation> = render::annotations(outcome)
        .into_iter()
        .filter_map(|note| {
            let file = note.file?;
            let level = match note.level {
                NoteLevel::Error => AnnotationLevel::Failure,
                NoteLevel::Warning => AnnotationLevel::Warning,
                NoteLevel::Notice => AnnotationLevel::Notice,
            };
            Some(
                CheckAnnotation::new(file, note.line.unwrap_or(1), level, note.message)
                    .with_title(note.title),
            )
        })
        .collect();
    if let Some(diff) = outcome.diff {
        for uncovered in &diff.uncovered {
            for [first, last] in &uncovered.lines {
                let mut a = CheckAnnotation::new(
                    render::printable(&uncovered.file).into_owned(),
                    *first,
                    AnnotationLevel::Notice,
                    if first == last {
                        "This changed line is not run by the tests.".to_owned()
                    } else {
                        format!("Changed lines {first}-{last} are not run by the tests.")
                    },
                )
                .with_title("changed lines not covered");
                a.end_line = *last;
                out.push(a);
            }
        }
    }
    out
}

/// Publishes what was asked. A token without the permission (403) is a
/// warning and the annotations fall back to workflow commands; any other
/// failure is reported and sets the exit code (2 or 3); the gate's own
/// verdict is never changed by it.
pub(crate) fn publish(
    settings: &Publish,
    outcome: &GateOutcome<'_>,
    baseline: Option<&Baseline>,
) -> Result<Published, Failure> {
    let secrets = vec![settings.token.clone()];
    let progress = Arc::new(StderrProgress::new().with_secrets(secrets.clone()));
    let http = pipeline_cli::http::http("pipeline-report", Arc::clone(&progress))
        .or_usage("cannot set up TLS")?;
    let github = GitHub::new(
        http,
        settings.api.clone(),
        settings.repository.clone(),
        settings.token.clone(),
    )
    .with_timeout(Duration::from_secs(120));
    let Some(runtime) = pipeline_cli::http::runtime() else {
        return Err(Failure::usage("cannot start the runtime"));
    };
    let mut published = Published::default();
    let redact = |e: &GitHubError| {
        let refs: Vec<&Secret> = secrets.iter().collect();
        pipeline_ci::redact(&pipeline_cli::error_chain(e), &refs)
    };
    let fail = |published: &mut Published, e: &GitHubError, what: &str| {
        let exit = match e.blame() {
            Blame::Caller => Exit::Usage,
            Blame::External => Exit::External,
        };
        tracing::error!("{what}: {}", redact(e));
        // GitHub's failure outranks a usage error.
        if published.failure != Some(Exit::External) {
            published.failure = Some(exit);
        }
    };
    if let Some((name, sha)) = &settings.check_run {
        let conclusion = if outcome.verdict.passed {
            Conclusion::Success
        } else {
            Conclusion::Failure
        };
        let mut run = CheckRunRequest::new(name.clone(), sha.clone(), conclusion)
            .title(render::headline(outcome))
            .summary(render::markdown(
                outcome,
                pipeline_github::checks::MAX_SUMMARY,
            ))
            .annotations(check_annotations(outcome));
        if let Some(url) = &settings.details_url {
            run = run.details_url(url.clone());
        }
        match runtime.block_on(github.publish_check_run(&run)) {
            Ok(done) => {
                published.annotated = true;
                tracing::info!(
                    "check run {name}: {} annotation(s) in {} request(s){}",
                    done.annotations,
                    done.requests,
                    done.html_url.map(|u| format!(", {u}")).unwrap_or_default()
                );
            }
            Err(e) if e.is_forbidden() => tracing::warn!(
                "check run {name}: the token may not write checks ({}); the annotations go to the log instead (give the job `permissions: checks: write`; pull requests from forks get a read-only token)",
                redact(&e)
            ),
            Err(e) => fail(&mut published, &e, &format!("check run {name}")),
        }
    }
    if let Some(number) = settings.comment {
        let body = render::pr_comment(outcome, baseline, pipeline_github::comments::MAX_BODY - 200);
        let mark = marker(&settings.tag);
        match runtime.block_on(github.upsert_comment(number, &mark, &body)) {
            Ok((comment, how)) => tracing::info!(
                "comment on #{number} {}{}",
                match how {
                    Upsert::Created => "created",
                    Upsert::Updated => "updated",
                },
                comment
                    .html_url
                    .map(|u| format!(": {u}"))
                    .unwrap_or_default()
            ),
            Err(e) if e.is_forbidden() => tracing::warn!(
                "comment on #{number}: the token may not write to the pull request ({}); no comment (give the job `permissions: pull-requests: write`; pull requests from forks get a read-only token)",
                redact(&e)
            ),
            Err(e) => fail(&mut published, &e, &format!("comment on #{number}")),
        }
    }
    progress.finish();
    Ok(published)
}
