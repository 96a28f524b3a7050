//! `pipeline run`: the whole job of `pipeline.toml`, in this process, through
//! the same library entry points the step binaries call. Only the user's
//! commands (the test command, the checks) run as processes of their own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipeline_artifact::{ArtifactStore, PackageOptions};
use pipeline_ci::Env;
use pipeline_cli::http::StderrProgress;
use pipeline_cli::{Exit, Failure, OrUsage as _};
use pipeline_config::PipelineConfig;
use pipeline_contracts::run::{EnvRun, RunDoc};
use pipeline_gitflow::{
    GitCli, Identity, Publish, ReadOptions, ReleaseOutcome, ReleaseRequest, Repo, Request,
    TagFormat,
};
use pipeline_promotion::command::UserCommand;
use pipeline_promotion::{Event, GateEvidence, PromoteOutcome, PromoteRequest, Promoter};
use pipeline_reports::gate::Thresholds;
use pipeline_reports::run::GateRequest;

/// How `pipeline run` was asked to run.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    /// `pipeline.toml`, relative to the repository (else to the working
    /// directory).
    pub(crate) config: PathBuf,
    /// The repository, on the integration branch.
    pub(crate) repo: PathBuf,
    /// The last environment to promote into.
    pub(crate) until: Option<String>,
    /// The longest wait for an environment's soak time.
    pub(crate) max_soak_wait: u64,
    /// Plan, change nothing.
    pub(crate) dry_run: bool,
    /// Stdout carries one JSON document at the end: the promotions' own
    /// summaries go to stderr instead.
    pub(crate) json: bool,
    /// What never reaches stderr (the progress of retries quotes URLs).
    pub(crate) secrets: Vec<pipeline_ci::Secret>,
}

/// Prints a step's title, and its end with the time it took.
struct StepLog {
    started: Instant,
}

impl StepLog {
    fn start(title: &str) -> Self {
        eprintln!("==> {title}");
        Self {
            started: Instant::now(),
        }
    }

    fn end(self, ok: bool) {
        let mark = if ok { "ok" } else { "FAILED" };
        eprintln!("    {mark} ({:.1}s)", self.started.elapsed().as_secs_f64());
    }
}

/// What the job did, for `--json`.
#[derive(Debug, Default)]
struct Report {
    version: Option<String>,
    sha256: Option<String>,
    gate: Option<bool>,
    environments: Vec<EnvRun>,
}

/// The configuration file: `config` relative to the repository; else
/// (when there is none there) to the working directory. Only the file read
/// is named in errors.
pub(crate) fn config_file(repo: &Path, config: &Path) -> PathBuf {
    let in_repo = repo.join(config);
    if in_repo.exists() || !config.exists() {
        in_repo
    } else {
        config.to_path_buf()
    }
}

/// Runs the job; the JSON document of what was done, and the exit code.
pub(crate) fn run(options: &RunOptions, env: &Env) -> Result<(Exit, RunDoc), Failure> {
    let started = Instant::now();
    let config_file = config_file(&options.repo, &options.config);
    let config = pipeline_promotion::load_config(&config_file)?;
    let config_file = std::fs::canonicalize(&config_file).unwrap_or(config_file);
    if let Some(until) = &options.until
        && config.environment(until).is_none()
    {
        return Err(Failure::usage(format!(
            "--until {until}: no such environment in {}",
            config_file.display()
        )));
    }
    let mut report = Report::default();
    let exit = job(options, env, &config, &config_file, &mut report)?;
    if exit == Exit::Success {
        eprintln!("the job took {:.1}s", started.elapsed().as_secs_f64());
    }
    let doc = RunDoc {
        schema: RunDoc::SCHEMA.to_owned(),
        dry_run: options.dry_run,
        exit: exit.code(),
        version: report.version,
        sha256: report.sha256,
        gate_passed: report.gate,
        environments: report.environments,
    };
    Ok((exit, doc))
}

fn job(
    options: &RunOptions,
    env: &Env,
    config: &PipelineConfig,
    config_file: &Path,
    report: &mut Report,
) -> Result<Exit, Failure> {
    let repo_dir = &options.repo;
    let b = &config.branches;
    let read = ReadOptions::default()
        .remote(b.remote.clone())
        .develop_branch(b.develop.clone())
        .main_branch(b.main.clone())
        .tag_format(TagFormat::new(b.tag_prefix.clone()));
    let identity = Identity::from_env(env);
    // The webhooks' variables before anything changes: a missing one found
    // after the release was pushed would stop the job half-way.
    if !options.dry_run {
        pipeline_promotion::notify::check(config, env)?;
    }

    // 1. Merge master into develop.
    let step = StepLog::start(&format!("sync: merge {} into {}", b.main, b.develop));
    let repo = Repo::open(repo_dir)?;
    let plan = repo.plan_sync(&read)?;
    if options.dry_run || plan.is_noop() {
        eprintln!(
            "    {} ({}) and {} ({}): {:?}{}",
            plan.develop().name(),
            short(plan.develop().commit().as_str()),
            plan.master().name(),
            short(plan.master().commit().as_str()),
            plan.integration(),
            if options.dry_run {
                "; dry run, nothing changed"
            } else {
                ""
            }
        );
    } else {
        let commit = repo.sync(&plan, identity.as_ref())?;
        eprintln!("    {} at {commit}", plan.develop().name());
    }
    step.end(true);

    // 2. The tests, then the gate on their reports.
    let gate_json = repo_dir.join(".pipeline/gate.json");
    let mut gate = if options.dry_run {
        eprintln!("==> test: {} (dry run: not run)", config.test.command);
        None
    } else {
        let step = StepLog::start(&format!("test: {}", config.test.command));
        let tests = runtime()?
            .block_on(
                UserCommand::new(
                    &config.test.command,
                    repo_dir,
                    Duration::from_secs(config.test.timeout_secs),
                )
                .stdout_to_stderr(options.json)
                .run(),
            )
            .or_usage_with(|| format!("cannot run the test command `{}`", config.test.command))?;
        let tests_passed = tests.success();
        match &tests {
            pipeline_promotion::command::Ended::TimedOut { .. } => eprintln!(
                "    FAILED: did not finish within {}s",
                config.test.timeout_secs
            ),
            _ => step.end(tests_passed),
        }
        let step = StepLog::start("gate: the test, coverage and lint reports");
        let mut gated = gate_reports(config, repo_dir)?;
        // Judged on the commit the release is about to tag.
        gated.commit = pipeline_gitflow::diff::commit_of(repo_dir, "HEAD");
        let outcome = gated.outcome();
        if let Some(dir) = gate_json.parent() {
            std::fs::create_dir_all(dir)
                .or_usage_with(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&gate_json, pipeline_reports::render::json(&outcome))
            .or_usage_with(|| format!("cannot write {}", gate_json.display()))?;
        summarize_gate(&gated);
        step.end(gated.verdict.passed);
        report.gate = Some(gated.verdict.passed);
        if !gated.verdict.passed {
            return Ok(Exit::Refused);
        }
        if !tests_passed {
            eprintln!("the test command failed although the gate passed: stopping");
            return Ok(Exit::Refused);
        }
        Some(GateEvidence::read(&gate_json)?)
    };

    // 3. The release: the tag, and master brought to it.
    let step = StepLog::start("release: tag the version and bring master to it");
    let repo = Repo::open(repo_dir)?;
    let git = GitCli::for_remote(&repo, &b.remote, token(env))?;
    let date = pipeline_gitflow::Date::from_unix_seconds(
        i64::try_from(pipeline_promotion::now()).unwrap_or(i64::MAX),
    );
    let request = ReleaseRequest::new(Request::new(TagFormat::new(b.tag_prefix.clone())), date);
    let decision = repo.plan_release(&read, &request)?;
    let mut publish = Publish::default().dry_run(options.dry_run);
    if let Some(identity) = identity {
        publish = publish.identity(identity);
    }
    let outcome = repo.publish_release(&git, decision, &publish)?;
    let version = match &outcome {
        ReleaseOutcome::Released(r) => r.plan().version().to_string(),
        ReleaseOutcome::Planned(p) => {
            eprintln!("    dry run: would release {}", p.tag());
            p.version().to_string()
        }
        ReleaseOutcome::AlreadyReleased(r) => {
            eprintln!("    already released");
            r.plan().version().to_string()
        }
        // Nothing new to release (a re-run): carry on with the last one.
        ReleaseOutcome::NothingToRelease { plan, .. } => plan
            .previous()
            .map(|t| {
                t.name()
                    .trim_start_matches(b.tag_prefix.as_str())
                    .to_owned()
            })
            .ok_or_else(|| Failure::usage("nothing to release and no earlier release"))?,
        _ => {
            return Err(Failure::new(
                Exit::External,
                "a release outcome not known here",
            ));
        }
    };
    if matches!(outcome, ReleaseOutcome::NothingToRelease { .. })
        && let Some(gate) = &mut gate
    {
        // This run's gate judged HEAD, commits past the release it carries
        // on with (none that calls for a release): that release's code is
        // within what was judged here, so the gate speaks for it.
        gate.commit = None;
    }
    eprintln!(
        "    version {version}{}",
        if matches!(
            outcome,
            ReleaseOutcome::Released(_) | ReleaseOutcome::Planned(_)
        ) {
            ""
        } else {
            " (already released; deploying it)"
        }
    );
    step.end(true);
    report.version = Some(version.clone());
    if options.dry_run {
        let envs: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        eprintln!(
            "==> package {} and promote {version} into {} (dry run: nothing done)",
            config.artifact.source.display(),
            envs.join(", ")
        );
        return Ok(Exit::Success);
    }

    // 4. The artifact, kept by digest.
    let step = StepLog::start(&format!("package: {}", config.artifact.source.display()));
    let out = repo_dir.join(&config.artifact.out);
    let mut package_options = PackageOptions::new();
    for e in &config.artifact.exclude {
        package_options = package_options.exclude(e.clone());
    }
    let artifact = pipeline_artifact::package(
        &repo_dir.join(&config.artifact.source),
        &out,
        &package_options,
    )?;
    let sha = *artifact.sha256();
    ArtifactStore::new(repo_dir.join(&config.artifact.store)).put(&out, &sha)?;
    eprintln!("    {} sha256 {sha}", out.display());
    step.end(true);
    report.sha256 = Some(sha.to_string());

    // 5. Deploy to the first environment, then promote along the others.
    let runtime = runtime()?;
    let progress = Arc::new(StderrProgress::new().with_secrets(options.secrets.clone()));
    let http = pipeline_cli::http::http("pipeline", Arc::clone(&progress))
        .or_usage("cannot set up the HTTP client")?;
    let promoter = Promoter::new(config.clone(), config_file, repo_dir, http, env.clone())?;
    let mut show = |event: Event| eprintln!("{event}");
    for (i, environment) in config.environments.iter().enumerate() {
        let step = StepLog::start(&format!("promote {version} into {}", environment.name));
        let mut request = PromoteRequest::to(&environment.name).version(&version);
        if i == 0 {
            request = request.artifact(sha, Some(out.clone()));
            if let Some(gate) = &gate {
                request = request.gate(gate.clone());
            }
        } else if environment.requires.soak_secs > 0 {
            request = request.wait_soak(Duration::from_secs(options.max_soak_wait));
        }
        let result = runtime.block_on(promoter.promote(&request, &mut show));
        progress.finish();
        let (exit, outcome) = match result {
            Ok(PromoteOutcome::Finished(run)) => {
                // The promotion's own summary, on stdout as
                // `pipeline-promote` prints it.
                if options.json {
                    eprintln!("{}", run.message());
                } else {
                    println!("{}", run.message());
                }
                (run.exit(), run.outcome_word().to_owned())
            }
            Ok(PromoteOutcome::AlreadyThere { env, candidate }) => {
                eprintln!("{env} runs {} already; nothing to do", candidate.version);
                (Exit::Success, "already-there".to_owned())
            }
            Ok(PromoteOutcome::Planned(_)) => (Exit::Success, "planned".to_owned()),
            Err(e) => {
                let failure = Failure::from(e);
                eprintln!("error: {}", failure.message());
                (failure.exit(), "error".to_owned())
            }
        };
        step.end(exit == Exit::Success);
        report.environments.push(EnvRun {
            env: environment.name.clone(),
            outcome,
        });
        if exit != Exit::Success {
            status_table(&runtime, &promoter);
            return Ok(exit);
        }
        if options.until.as_deref() == Some(environment.name.as_str()) {
            break;
        }
    }
    status_table(&runtime, &promoter);
    Ok(Exit::Success)
}

/// The gate over the reports `[test]` names, with its thresholds.
fn gate_reports(
    config: &PipelineConfig,
    repo: &Path,
) -> Result<pipeline_reports::run::GateRun, Failure> {
    let workspace = match &config.test.workspace {
        Some(dir) => repo.join(dir),
        None => repo.to_path_buf(),
    };
    let mut request = GateRequest::new(workspace);
    // The patterns are relative to the repository.
    let under = |patterns: &[String]| -> Vec<String> {
        patterns
            .iter()
            .map(|p| repo.join(p).to_string_lossy().into_owned())
            .collect()
    };
    let r = &config.test.reports;
    request.junit = under(&r.junit);
    request.cobertura = under(&r.cobertura);
    request.pylint = under(&r.pylint);
    let g = &config.test.gate;
    let mut thresholds = Thresholds::default().max_failures(g.max_failures);
    thresholds.min_line_coverage = g.min_line_coverage;
    thresholds.min_branch_coverage = g.min_branch_coverage;
    thresholds.min_pylint_score = g.min_pylint_score;
    request.thresholds = thresholds;
    pipeline_reports::run::read(&request).map_err(|e| match e {
        pipeline_reports::run::GateError::Pattern { .. } => {
            Failure::usage(format!("pipeline.toml [test] reports: {e}"))
        }
        other => Failure::from(other),
    })
}

/// The gate's figures on one line, then its violations.
fn summarize_gate(gated: &pipeline_reports::run::GateRun) {
    let mut line = String::from("   ");
    if let Some(t) = &gated.tests {
        line.push_str(&format!(
            " tests {} passed, {} failed;",
            t.counts.passed, t.counts.failed
        ));
    }
    if let Some(c) = &gated.coverage {
        if let Some(l) = c.line_percent() {
            line.push_str(&format!(" line coverage {l:.1}%;"));
        }
        if let Some(b) = c.branch_percent() {
            line.push_str(&format!(" branch coverage {b:.1}%;"));
        }
    }
    if let Some(s) = pipeline_reports::render::pylint_score(&gated.pylint) {
        line.push_str(&format!(" pylint {s:.2};"));
    }
    line.push_str(if gated.verdict.passed {
        " gate passed"
    } else {
        " gate FAILED"
    });
    eprintln!("{}", pipeline_reports::render::printable(&line));
    for v in &gated.verdict.violations {
        eprintln!(
            "      {}",
            pipeline_reports::render::printable(&v.message())
        );
    }
}

fn status_table(runtime: &tokio::runtime::Runtime, promoter: &Promoter) {
    if let Ok(rows) = runtime.block_on(promoter.status()) {
        eprintln!("\n{}", pipeline_promotion::render::status_table(&rows));
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    pipeline_cli::http::runtime()
        .ok_or_else(|| Failure::new(Exit::External, "cannot start the runtime"))
}

/// The token for HTTPS remotes: `GIT_TOKEN`, else `GITHUB_TOKEN`.
fn token(env: &Env) -> Option<pipeline_ci::Secret> {
    pipeline_gitflow::SECRET_VARS
        .iter()
        .find_map(|name| env.get_secret(name))
}

fn short(id: &str) -> &str {
    id.get(..7).unwrap_or(id)
}
