//! The command line's definition.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use pipeline_cli::Exit;

fn deploy_help() -> String {
    pipeline_cli::after_help(
        "",
        &[
            "pipeline-deploy package --source app --out dist/app.zip",
            "pipeline-deploy verify --artifact dist/app.zip --sha256 <hex>",
            "pipeline-deploy local deploy --env qa --artifact dist/app.zip --sha256 <hex> --version 1.4.0",
            "pipeline-deploy azure swap --resource-group rg --app my-app --slot staging",
        ],
        &[
            (
                Exit::Refused,
                "here: the deployment failed, the slot never served the new version healthy, \
                 nothing to roll back to",
            ),
            (
                Exit::Usage,
                "here: a missing source, a symbolic link in the tree, an artifact whose SHA-256 \
                 differs from the one expected",
            ),
        ],
    )
}

/// Package the deployment artifact, check it by digest, deploy it to a slot
/// and swap it live.
#[derive(Debug, Parser)]
#[command(name = "pipeline-deploy", version, after_help = deploy_help())]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) verbosity: pipeline_cli::Verbosity,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write the source tree as a deterministic zip and print its SHA-256.
    #[command(after_help = package_help())]
    Package(PackageArgs),
    /// Check that an artifact has the SHA-256 expected.
    #[command(after_help = verify_help())]
    Verify(VerifyArgs),
    /// Azure App Service with deployment slots.
    #[command(subcommand)]
    Azure(Box<crate::azure::AzureCommand>),
    /// Google Cloud Run with tagged revisions (green, blue).
    #[command(subcommand, name = "cloud-run")]
    CloudRun(Box<crate::cloudrun::CloudRunCommand>),
    /// The local host agent (`pipeline-agent`): blue/green slots on one machine.
    #[command(subcommand)]
    Local(crate::local::LocalCommand),
}

fn verify_help() -> String {
    pipeline_cli::after_help(
        "",
        &["pipeline-deploy verify --artifact dist/app.zip --sha256 <hex>"],
        &[(
            Exit::Usage,
            "here: the artifact has another SHA-256 (both digests are printed) or cannot be read",
        )],
    )
}

fn package_help() -> String {
    pipeline_cli::after_help(
        "Entries are sorted by path, dated 1980-01-01 00:00:00, mode 0644 (0755 with any execute \
         bit), deflated at level 6; directories are not stored; symbolic links are refused unless \
         excluded. Default exclusions: __pycache__/ *.pyc .pytest_cache/ .venv/ venv/ .git/ tests/ \
         /.deployignore; then the lines of SOURCE/.deployignore (gitignore syntax, `!` \
         re-includes); then --exclude.",
        &[
            "pipeline-deploy package --source app --out dist/app.zip",
            "pipeline-deploy package --source app --out dist/app.zip --exclude '*.log' --json",
        ],
        &[(
            Exit::Usage,
            "here: a bad pattern, a missing source, output inside the source, a symbolic link, an \
             unreadable file, nothing left to package",
        )],
    )
}

#[derive(Debug, Args)]
pub(crate) struct PackageArgs {
    /// The directory to package.
    #[arg(long, value_name = "DIR")]
    pub(crate) source: PathBuf,
    /// The zip to write (written to OUT.partial, then renamed).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Leave out what matches (gitignore syntax, relative to the source); repeat to add more.
    #[arg(long, value_name = "GLOB")]
    pub(crate) exclude: Vec<String>,
    /// Do not apply the default exclusions.
    #[arg(long)]
    pub(crate) no_default_excludes: bool,
    /// Compression threads [default: the cores, at least 2]; the bytes do not depend on it.
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<NonZeroUsize>,
    /// Print one JSON document on stdout instead of the text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The artifact to check.
    #[arg(long, value_name = "FILE")]
    pub(crate) artifact: PathBuf,
    /// The SHA-256 it must have (64 hexadecimal digits).
    #[arg(long, value_name = "HEX")]
    pub(crate) sha256: pipeline_artifact::Sha256Digest,
    /// Print one JSON document on stdout instead of the text.
    #[arg(long)]
    pub(crate) json: bool,
}
