//! The command line's definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The exit codes, as a literal so that `concat!` can put them after the
/// examples.
macro_rules! exit_codes {
    () => {
        "Exit codes: 0 the gate passed; 1 the gate failed; \
2 usage, configuration or input error (bad flag, a glob matching nothing, a malformed report, \
an unknown --diff-base ref, a token GitHub refuses); \
3 GitHub could not be reached (after retries) for a requested --check-run or --pr-comment."
    };
}

const EXIT_CODES: &str = concat!(
    "Examples:
  pipeline-report gate --junit 'reports/junit-*.xml' --cobertura reports/coverage.xml \\
      --pylint reports/pylint.json --min-line-coverage 80 --min-pylint-score 8.5
  pipeline-report gate --junit 'reports/*.xml' --json > gate.json   # for pipeline-promote --gate-json
  pipeline-report gate --cobertura coverage.xml --diff-base origin/main --min-diff-coverage 90
  pipeline-report gate --junit 'reports/*.xml' --check-run tests --pr-comment   # in GitHub Actions

",
    exit_codes!()
);

/// Gate a build on its test, coverage and lint reports, and publish them to CI.
#[derive(Debug, Parser)]
#[command(name = "pipeline-report", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) verbosity: pipeline_cli::Verbosity,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Read the reports, check the thresholds, print the summary.
    #[command(after_help = EXIT_CODES)]
    Gate(GateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GateArgs {
    /// JUnit XML report: a path or a glob (`reports/**/*.xml`); repeat to add more.
    #[arg(long, value_name = "GLOB")]
    pub(crate) junit: Vec<String>,
    /// Cobertura XML coverage report: a path or a glob; repeat to add more.
    #[arg(long, value_name = "GLOB")]
    pub(crate) cobertura: Vec<String>,
    /// pylint output (json2, json, parseable or text): a path or a glob; repeat to add more.
    #[arg(long, value_name = "GLOB")]
    pub(crate) pylint: Vec<String>,
    /// Minimum line coverage, in percent.
    #[arg(long, value_name = "PERCENT", env = "PIPELINE_MIN_LINE_COVERAGE")]
    pub(crate) min_line_coverage: Option<f64>,
    /// Minimum branch coverage, in percent.
    #[arg(long, value_name = "PERCENT", env = "PIPELINE_MIN_BRANCH_COVERAGE")]
    pub(crate) min_branch_coverage: Option<f64>,
    /// Minimum pylint score, out of 10.
    #[arg(long, value_name = "SCORE", env = "PIPELINE_MIN_PYLINT_SCORE")]
    pub(crate) min_pylint_score: Option<f64>,
    /// Most failed plus errored tests allowed.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        env = "PIPELINE_MAX_FAILURES"
    )]
    pub(crate) max_failures: u64,
    /// A glob that matches no file is not an error.
    #[arg(long)]
    pub(crate) allow_missing: bool,
    /// Reports with no tests at all do not fail the gate.
    #[arg(long)]
    pub(crate) allow_empty: bool,
    /// The workspace that report paths are resolved against
    /// [default: $GITHUB_WORKSPACE, else the current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) workspace: Option<PathBuf>,
    /// Bytes kept of each failing test's message, stdout and stderr.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u64).range(0..=64 * 1024 * 1024))]
    pub(crate) max_output_bytes: u64,
    /// Print one JSON document on stdout instead of the text summary.
    #[arg(long)]
    pub(crate) json: bool,
    /// The commit the reports were made from, written into the JSON
    /// document so that a passed gate unlocks that commit's release only
    /// (`pipeline-promote --gate-json`) [default: HEAD of the repository
    /// holding the workspace, else $GITHUB_SHA in GitHub Actions].
    #[arg(long, value_name = "SHA")]
    pub(crate) commit: Option<String>,
    /// Measure the coverage of the lines added or changed since the merge
    /// base of HEAD and REF (a branch such as origin/main, a tag, a commit),
    /// read from the git repository holding the workspace.
    #[arg(long, value_name = "REF")]
    pub(crate) diff_base: Option<String>,
    /// Minimum coverage of the changed lines, in percent (needs --diff-base).
    #[arg(long, value_name = "PERCENT", env = "PIPELINE_MIN_DIFF_COVERAGE")]
    pub(crate) min_diff_coverage: Option<f64>,
    /// Publish a check run of this name on the commit under test, with the
    /// summary and every annotation (needs GITHUB_TOKEN with `checks: write`
    /// and GITHUB_REPOSITORY; without the permission the annotations go to
    /// the log as workflow commands instead).
    #[arg(long, value_name = "NAME")]
    pub(crate) check_run: Option<String>,
    /// Keep one comment on the pull request up to date with the results
    /// (found by a hidden marker and edited in place on later runs; needs
    /// GITHUB_TOKEN with `pull-requests: write`).
    #[arg(long)]
    pub(crate) pr_comment: bool,
    /// The pull request to comment on [default: from the Actions event,
    /// GITHUB_EVENT_PATH].
    #[arg(long, value_name = "NUMBER")]
    pub(crate) pr: Option<u64>,
    /// Tells this gate's comment from other gates' on one pull request.
    #[arg(long, value_name = "TAG", default_value = "gate")]
    pub(crate) comment_tag: String,
    /// A previous `gate --json` document (the base branch's last result):
    /// the comment says what changed since, as "+3 tests, -1.2 % line
    /// coverage".
    #[arg(long, value_name = "FILE")]
    pub(crate) baseline: Option<PathBuf>,
    /// The commit the check run is on [default: the pull request's head from
    /// the Actions event, else GITHUB_SHA].
    #[arg(long, value_name = "SHA")]
    pub(crate) sha: Option<String>,
}
