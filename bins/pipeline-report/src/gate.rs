//! `pipeline-report gate`.

use std::io::Write as _;
use std::path::PathBuf;

use pipeline_ci::{Annotation, Env, GitHub, Level};
use pipeline_cli::{Failure, OrUsage as _};
use pipeline_reports::cobertura::CoverageReport;
use pipeline_reports::diff::{self, DiffCoverage};
use pipeline_reports::gate::Thresholds;
use pipeline_reports::render::{self, Baseline, GateOutcome, NoteLevel};
use pipeline_reports::run::GateRequest;

use crate::Exit;
use crate::cli::GateArgs;

pub(crate) fn run(args: &GateArgs, env: &Env) -> Result<Exit, Failure> {
    check_usage(args)?;
    // Everything that can be wrong with the flags and the environment is
    // found before a report is read.
    let publishing = crate::github::settings(args, env)?;
    let baseline = match &args.baseline {
        Some(path) => {
            let bytes = std::fs::read(path)
                .or_usage_with(|| format!("--baseline: cannot read {}", path.display()))?;
            let baseline = Baseline::from_json(&bytes)
                .map_err(|e| Failure::usage(format!("--baseline {}: {e}", path.display())))?;
            Some(baseline)
        }
        None => None,
    };
    let workspace = match &args.workspace {
        Some(dir) => dir
            .canonicalize()
            .or_usage_with(|| format!("--workspace {}", dir.display()))?,
        None => match env.workspace() {
            Some(dir) => dir.to_path_buf(),
            None => std::env::current_dir().or_usage("cannot read the current directory")?,
        },
    };
    let mut request = GateRequest::new(&workspace);
    request.junit = args.junit.clone();
    request.cobertura = args.cobertura.clone();
    request.pylint = args.pylint.clone();
    request.allow_missing = args.allow_missing;
    // The flag's range (at most 64 MiB) fits any usize we run on.
    request.max_output_bytes = usize::try_from(args.max_output_bytes).unwrap_or(usize::MAX);
    let mut thresholds = Thresholds::default()
        .max_failures(args.max_failures)
        .allow_empty(args.allow_empty);
    thresholds.min_line_coverage = args.min_line_coverage;
    thresholds.min_branch_coverage = args.min_branch_coverage;
    thresholds.min_pylint_score = args.min_pylint_score;
    thresholds.min_diff_coverage = args.min_diff_coverage;
    request.thresholds = thresholds;
    let mut gated = pipeline_reports::run::read(&request).map_err(|e| match e {
        // The pattern came from a flag: name it as such.
        pipeline_reports::run::GateError::Pattern { kind, .. } => Failure::usage(format!(
            "--{kind} {}",
            e.to_string().trim_start_matches(kind).trim_start()
        )),
        other => Failure::from(other),
    })?;
    gated.commit = match &args.commit {
        Some(given) => Some(
            pipeline_gitflow::diff::commit_of(&workspace, given)
                .or_else(|| is_full_sha(given).then(|| given.to_ascii_lowercase()))
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "--commit {given}: not a commit of the repository holding {} \
                         (give 40 hex digits, or a ref of that repository)",
                        workspace.display()
                    ))
                })?,
        ),
        // What is checked out is what was tested (a job may test another
        // commit than the one pushed: develop with master merged in).
        None => pipeline_gitflow::diff::commit_of(&workspace, "HEAD").or_else(|| {
            env.get("GITHUB_SHA")
                .filter(|sha| env.is_github_actions() && is_full_sha(sha))
                .map(str::to_ascii_lowercase)
        }),
    };
    if let (Some(base), Some(coverage)) = (&args.diff_base, &gated.coverage) {
        gated.diff = Some(changed_coverage(base, &workspace, coverage)?);
        pipeline_reports::run::judge(&mut gated);
    }
    // Text from the reports is printed without its control characters and
    // escape sequences, and defused inside GitHub Actions, where a line
    // starting with `::` would be taken as a workflow command.
    let in_actions = env.is_github_actions();
    let safe = |text: &str| {
        let text = render::printable(text);
        if in_actions {
            pipeline_ci::neutralize_commands(&text)
        } else {
            text.into_owned()
        }
    };
    if let Some(tests) = &gated.tests {
        for warning in &tests.warnings {
            tracing::warn!("{}", safe(warning));
        }
        if tests.warnings_omitted > 0 {
            tracing::warn!(
                "{} more warning(s) about the JUnit reports",
                tests.warnings_omitted
            );
        }
    }
    if let Some(coverage) = &gated.coverage {
        for warning in &coverage.warnings {
            tracing::warn!("{}", safe(warning));
        }
    }

    let outcome = gated.outcome();
    let verdict = &gated.verdict;

    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        render::write_json(&outcome, &mut stdout)
            .and_then(|()| writeln!(stdout))
            .or_usage("cannot write to stdout")?;
    } else {
        write!(stdout, "{}", safe(&render::text(&outcome))).or_usage("cannot write to stdout")?;
    }
    stdout.flush().or_usage("cannot write to stdout")?;
    drop(stdout);
    let published = match &publishing {
        Some(settings) => crate::github::publish(settings, &outcome, baseline.as_ref())?,
        None => crate::github::Published::default(),
    };
    if let Some(github) = GitHub::from_env(env) {
        publish(&github, &outcome, args.json, !published.annotated)?;
    }
    if let Some(exit) = published.failure {
        return Ok(exit);
    }
    Ok(if verdict.passed {
        Exit::Success
    } else {
        Exit::Refused
    })
}

/// The coverage of the lines changed since the merge base with `base`, in
/// the repository that holds the workspace.
fn changed_coverage(
    base: &str,
    workspace: &std::path::Path,
    coverage: &CoverageReport,
) -> Result<DiffCoverage, Failure> {
    let started = std::time::Instant::now();
    let changed = pipeline_gitflow::diff::changed_lines(workspace, base)
        .map_err(|e| Failure::usage(format!("--diff-base: {}", pipeline_cli::error_chain(&e))))?;
    // Paths in the diff are the repository's; the coverage's are the
    // workspace's, which may be a folder of the repository.
    let repo_root = git_root(workspace);
    let prefix = repo_root
        .as_deref()
        .and_then(|root| workspace.strip_prefix(root).ok())
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .filter(|p| !p.is_empty());
    let files = match prefix {
        Some(prefix) => changed
            .files
            .into_iter()
            .map(|(file, lines)| {
                let inside = file
                    .strip_prefix(&format!("{prefix}/"))
                    .map(str::to_owned)
                    .unwrap_or(file);
                (inside, lines)
            })
            .collect(),
        None => changed.files,
    };
    let diff = diff::diff_coverage(coverage, base, &files);
    tracing::info!(
        "changed lines since {base} (merge base {}): {} code line(s) in {} file(s), read in {:.0} ms",
        &changed.merge_base[..changed.merge_base.len().min(12)],
        diff.lines_valid,
        diff.files.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(diff)
}

/// Whether `text` is a full commit id (40 hex digits).
fn is_full_sha(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The working tree's root of the repository holding `dir`.
fn git_root(dir: &std::path::Path) -> Option<PathBuf> {
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.join(".git").exists() {
            return Some(d.to_path_buf());
        }
        at = d.parent();
    }
    None
}

fn check_usage(args: &GateArgs) -> Result<(), Failure> {
    if args.junit.is_empty() && args.cobertura.is_empty() && args.pylint.is_empty() {
        return Err(Failure::usage(
            "nothing to gate: give at least one of --junit, --cobertura, --pylint",
        ));
    }
    if args.min_diff_coverage.is_some() && args.diff_base.is_none() {
        return Err(Failure::usage(
            "--min-diff-coverage needs --diff-base REF (the branch the change is measured against)",
        ));
    }
    if args.diff_base.is_some() && args.cobertura.is_empty() {
        return Err(Failure::usage(
            "--diff-base needs a --cobertura report to measure the changed lines with",
        ));
    }
    if args
        .diff_base
        .as_deref()
        .is_some_and(|b| b.trim().is_empty() || b.starts_with('-'))
    {
        return Err(Failure::usage(
            "--diff-base needs a ref (a branch such as origin/main, a tag or a commit)",
        ));
    }
    if args.baseline.is_some() && !args.pr_comment {
        return Err(Failure::usage(
            "--baseline is compared with in the pull-request comment: give --pr-comment too",
        ));
    }
    let needs = [
        (
            "--min-line-coverage",
            args.min_line_coverage,
            "--cobertura",
            args.cobertura.is_empty(),
            100.0,
        ),
        (
            "--min-branch-coverage",
            args.min_branch_coverage,
            "--cobertura",
            args.cobertura.is_empty(),
            100.0,
        ),
        (
            "--min-pylint-score",
            args.min_pylint_score,
            "--pylint",
            args.pylint.is_empty(),
            10.0,
        ),
        (
            "--min-diff-coverage",
            args.min_diff_coverage,
            "--cobertura",
            args.cobertura.is_empty(),
            100.0,
        ),
    ];
    for (flag, value, report, missing, max) in needs {
        let Some(value) = value else { continue };
        if !(0.0..=max).contains(&value) {
            return Err(Failure::usage(format!(
                "{flag} {value} is out of range (0 to {max})"
            )));
        }
        if missing {
            return Err(Failure::usage(format!(
                "{flag} needs a {report} report to check"
            )));
        }
    }
    Ok(())
}

fn fmt_percent(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| format!("{v:.2}"))
}

/// Step outputs, the job summary and (unless a check run carries them)
/// annotations, inside GitHub Actions.
fn publish(
    github: &GitHub,
    outcome: &GateOutcome<'_>,
    json: bool,
    annotate: bool,
) -> Result<(), Failure> {
    let counts = outcome.tests.map(|t| t.counts).unwrap_or_default();
    let outputs = [
        ("total", counts.total.to_string()),
        ("passed", counts.passed.to_string()),
        ("failed", counts.failed.to_string()),
        ("errored", counts.errored.to_string()),
        ("skipped", counts.skipped.to_string()),
        ("flaky", counts.flaky.to_string()),
        (
            "line_coverage",
            fmt_percent(outcome.coverage.and_then(CoverageReport::line_percent)),
        ),
        (
            "branch_coverage",
            fmt_percent(outcome.coverage.and_then(CoverageReport::branch_percent)),
        ),
        (
            "diff_coverage",
            fmt_percent(outcome.diff.and_then(|d| d.percent)),
        ),
        (
            "pylint_score",
            render::pylint_score(outcome.pylint).map_or_else(String::new, |s| format!("{s:.2}")),
        ),
        (
            "gate",
            if outcome.verdict.passed {
                "passed"
            } else {
                "failed"
            }
            .to_owned(),
        ),
    ];
    if github.output_file().is_some() {
        for (name, value) in outputs {
            github.set_output(name, &value)?;
        }
    } else {
        tracing::warn!("GITHUB_ACTIONS is set but GITHUB_OUTPUT is not: no step outputs written");
    }
    if github.summary_file().is_some() {
        let room = github.summary_room()?;
        let markdown = render::markdown(outcome, room);
        github.append_summary(&markdown)?;
    }
    if !annotate {
        return Ok(());
    }
    let notes = render::annotations(outcome).into_iter().map(|note| {
        let level = match note.level {
            NoteLevel::Error => Level::Error,
            NoteLevel::Warning => Level::Warning,
            NoteLevel::Notice => Level::Notice,
        };
        (level, note)
    });
    let capped = pipeline_ci::cap_annotations(notes, pipeline_ci::ANNOTATION_LIMIT_PER_STEP);
    // Workflow commands go to stdout, unless stdout carries the JSON document.
    let mut lines = String::new();
    for (level, note) in &capped.kept {
        let mut annotation = Annotation::new(pipeline_ci::neutralize_commands(&note.message))
            .with_title(pipeline_ci::neutralize_commands(&note.title));
        if let Some(file) = &note.file {
            annotation = annotation.with_file(file.clone());
        }
        if let Some(line) = note.line {
            annotation = annotation.with_line(line);
        }
        lines.push_str(&pipeline_ci::annotation(*level, &annotation));
        lines.push('\n');
    }
    if capped.dropped.total() > 0 {
        lines.push_str(&format!(
            "{} more problem(s) not annotated (GitHub shows at most {} per kind per step); see the job summary\n",
            capped.dropped.total(),
            pipeline_ci::ANNOTATION_LIMIT_PER_STEP
        ));
    }
    let written = if json {
        std::io::stderr().lock().write_all(lines.as_bytes())
    } else {
        std::io::stdout().lock().write_all(lines.as_bytes())
    };
    written.or_usage("cannot write the annotations")
}
