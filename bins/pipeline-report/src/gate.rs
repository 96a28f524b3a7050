//! `pipeline-report gate`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use pipeline_ci::{Annotation, Env, GitHub, Level};
use pipeline_reports::cobertura::{self, CoberturaOptions, CoverageReport};
use pipeline_reports::diff::{self, DiffCoverage};
use pipeline_reports::gate::{self, Inputs, Thresholds};
use pipeline_reports::junit::{self, JunitOptions, JunitReport};
use pipeline_reports::pylint;
use pipeline_reports::render::{self, Baseline, GateOutcome, NoteLevel};

use crate::Exit;
use crate::cli::GateArgs;
use crate::files::expand;

pub(crate) fn run(args: &GateArgs, env: &Env) -> anyhow::Result<Exit> {
    check_usage(args)?;
    // Everything that can be wrong with the flags and the environment is
    // found before a report is read.
    let publishing = crate::github::settings(args, env)?;
    let baseline = match &args.baseline {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("--baseline: cannot read {}", path.display()))?;
            let baseline = Baseline::from_json(&bytes)
                .map_err(|e| anyhow::anyhow!("--baseline {}: {e}", path.display()))?;
            Some(baseline)
        }
        None => None,
    };
    let workspace = match &args.workspace {
        Some(dir) => dir
            .canonicalize()
            .with_context(|| format!("--workspace {}", dir.display()))?,
        None => match env.workspace() {
            Some(dir) => dir.to_path_buf(),
            None => std::env::current_dir().context("cannot read the current directory")?,
        },
    };
    let junit_files = expand("junit", &args.junit, args.allow_missing)?;
    let cobertura_files = expand("cobertura", &args.cobertura, args.allow_missing)?;
    let pylint_files = expand("pylint", &args.pylint, args.allow_missing)?;

    // The flag's range (at most 64 MiB) fits any usize we run on.
    let max_output = usize::try_from(args.max_output_bytes).unwrap_or(usize::MAX);
    let tests = read_junit(&junit_files, &args.junit, &workspace, max_output)?;
    let coverage = read_cobertura(&cobertura_files, &args.cobertura, &workspace)?;
    let lint = pylint_files
        .iter()
        .map(|path| pylint::parse_pylint_file(path))
        .collect::<Result<Vec<_>, _>>()?;
    let diff = match (&args.diff_base, &coverage) {
        (Some(base), Some(coverage)) => Some(changed_coverage(base, &workspace, coverage)?),
        _ => None,
    };
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
    if let Some(tests) = &tests {
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
    if let Some(coverage) = &coverage {
        for warning in &coverage.warnings {
            tracing::warn!("{}", safe(warning));
        }
    }

    let mut thresholds = Thresholds::default()
        .max_failures(args.max_failures)
        .allow_empty(args.allow_empty);
    thresholds.min_line_coverage = args.min_line_coverage;
    thresholds.min_branch_coverage = args.min_branch_coverage;
    thresholds.min_pylint_score = args.min_pylint_score;
    thresholds.min_diff_coverage = args.min_diff_coverage;
    let verdict = gate::evaluate(
        &thresholds,
        Inputs {
            tests: tests.as_ref(),
            coverage: coverage.as_ref(),
            pylint: &lint,
            diff: diff.as_ref(),
        },
    );
    let outcome = GateOutcome {
        thresholds: &thresholds,
        verdict: &verdict,
        tests: tests.as_ref(),
        coverage: coverage.as_ref(),
        pylint: &lint,
        diff: diff.as_ref(),
    };

    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        render::write_json(&outcome, &mut stdout)
            .and_then(|()| writeln!(stdout))
            .context("cannot write to stdout")?;
    } else {
        write!(stdout, "{}", safe(&render::text(&outcome))).context("cannot write to stdout")?;
    }
    stdout.flush().context("cannot write to stdout")?;
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
) -> anyhow::Result<DiffCoverage> {
    let started = std::time::Instant::now();
    let changed = pipeline_gitflow::diff::changed_lines(workspace, base)
        .map_err(|e| anyhow::anyhow!("--diff-base: {}", pipeline_cli::error_chain(&e)))?;
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

fn check_usage(args: &GateArgs) -> anyhow::Result<()> {
    if args.junit.is_empty() && args.cobertura.is_empty() && args.pylint.is_empty() {
        bail!("nothing to gate: give at least one of --junit, --cobertura, --pylint");
    }
    if args.min_diff_coverage.is_some() && args.diff_base.is_none() {
        bail!(
            "--min-diff-coverage needs --diff-base REF (the branch the change is measured against)"
        );
    }
    if args.diff_base.is_some() && args.cobertura.is_empty() {
        bail!("--diff-base needs a --cobertura report to measure the changed lines with");
    }
    if args
        .diff_base
        .as_deref()
        .is_some_and(|b| b.trim().is_empty() || b.starts_with('-'))
    {
        bail!("--diff-base needs a ref (a branch such as origin/main, a tag or a commit)");
    }
    if args.baseline.is_some() && !args.pr_comment {
        bail!("--baseline is compared with in the pull-request comment: give --pr-comment too");
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
            bail!("{flag} {value} is out of range (0 to {max})");
        }
        if missing {
            bail!("{flag} needs a {report} report to check");
        }
    }
    Ok(())
}

fn read_junit(
    files: &[PathBuf],
    patterns: &[String],
    workspace: &std::path::Path,
    max_output_bytes: usize,
) -> anyhow::Result<Option<JunitReport>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let options = JunitOptions::default()
        .workspace(workspace)
        .max_output_bytes(max_output_bytes);
    let mut merged = JunitReport::default();
    for path in files {
        tracing::info!("reading JUnit report {}", path.display());
        let report = junit::parse_junit_file(path, &options)?;
        merged.merge(report, &options);
    }
    Ok(Some(merged))
}

fn read_cobertura(
    files: &[PathBuf],
    patterns: &[String],
    workspace: &std::path::Path,
) -> anyhow::Result<Option<CoverageReport>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let options = CoberturaOptions::default().workspace(workspace);
    let mut merged: Option<CoverageReport> = None;
    for path in files {
        tracing::info!("reading Cobertura report {}", path.display());
        let report = cobertura::parse_cobertura_file(path, &options)?;
        match merged.as_mut() {
            Some(merged) => merged.merge(report),
            None => merged = Some(report),
        }
    }
    Ok(Some(merged.unwrap_or_default()))
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
) -> anyhow::Result<()> {
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
    written.context("cannot write the annotations")
}
