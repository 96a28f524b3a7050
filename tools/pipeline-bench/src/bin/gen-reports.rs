//! Generates large, deterministic JUnit and Cobertura reports for benchmarks.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

/// Generate large, realistic, deterministic test reports for benchmarks.
///
/// The file is written to FILE.partial and renamed when complete, so an
/// interrupted run never leaves a truncated FILE behind.
///
/// Exit codes: 0 written; 2 bad arguments or the file could not be written.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A pytest/surefire-like JUnit XML report: millions of test cases at 500 MB.
    Junit(GenArgs),
    /// A coverage.py-like Cobertura XML report, with some gcovr-style classes.
    Cobertura(GenArgs),
}

#[derive(Debug, Args)]
struct GenArgs {
    /// File to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Size to reach, in MiB (the file ends at the first element boundary past it).
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..))]
    size_mb: u64,
    /// Seed of the generator: the same seed and size give the same bytes.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gen-reports: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let started = Instant::now();
    let (args, kind) = match &cli.command {
        Command::Junit(a) => (a, "junit"),
        Command::Cobertura(a) => (a, "cobertura"),
    };
    let target = args.size_mb << 20;
    let partial = partial_path(&args.out);
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let out = BufWriter::with_capacity(1 << 20, file);
    let write_err = || format!("cannot write {}", partial.display());
    let summary = match &cli.command {
        Command::Junit(a) => {
            let s =
                pipeline_bench::junit::write_junit(out, target, a.seed).with_context(write_err)?;
            // The counts beside the report, for the benchmark's check that
            // every tool read all of it.
            let stats = format!(
                "testcases={}\nreruns={}\ntests={}\n",
                s.testcases,
                s.reruns,
                s.testcases - s.reruns
            );
            fs::write(stats_path(&args.out), stats)
                .with_context(|| format!("cannot write {}", stats_path(&args.out).display()))?;
            format!(
                "{} bytes, {} testsuites, {} testcases ({} failures, {} errors, {} skipped, {} flaky, {} pytest-rerunfailures attempts), {} big outputs ({} bytes)",
                s.bytes,
                s.suites,
                s.testcases,
                s.failures,
                s.errors,
                s.skipped,
                s.flaky,
                s.reruns,
                s.big_outputs,
                s.big_output_bytes
            )
        }
        Command::Cobertura(a) => {
            let s = pipeline_bench::cobertura::write_cobertura(out, target, a.seed)
                .with_context(write_err)?;
            format!(
                "{} bytes, {} packages, {} classes, {} lines ({} covered, {} branch lines, {}/{} branches), {} gcovr classes repeating {} lines under <method>",
                s.bytes,
                s.packages,
                s.classes,
                s.lines,
                s.lines_covered,
                s.branch_lines,
                s.branches_covered,
                s.branches_valid,
                s.method_classes,
                s.method_lines
            )
        }
    };
    fs::rename(&partial, &args.out).with_context(|| {
        format!(
            "cannot rename {} to {}",
            partial.display(),
            args.out.display()
        )
    })?;
    eprintln!(
        "gen-reports: {kind} {}: {summary} in {:.1}s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `<out>.stats`: the counts of a generated JUnit report.
fn stats_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".stats");
    PathBuf::from(name)
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}
