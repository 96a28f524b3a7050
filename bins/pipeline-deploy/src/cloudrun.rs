//! `pipeline-deploy cloud-run deploy|swap|rollback|status`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use pipeline_ci::{CiSink, Env};
use pipeline_cli::http::StderrProgress;
use pipeline_targets::Release;
use pipeline_targets::cloudrun::env::GcpSettings;
use pipeline_targets::cloudrun::{
    CloudRunTarget, DEFAULT_METADATA_ENDPOINT, DEFAULT_RUN_ENDPOINT, ImageRef, ServiceRef,
};

use crate::Exit;
use crate::Failure;
use crate::targets::{Action, Mode, act};

fn cloud_run_help() -> String {
    pipeline_cli::after_help(
        "Credentials, in this order: a key file (--credentials or GOOGLE_APPLICATION_CREDENTIALS) \
         of type service_account or external_account; Workload Identity Federation from GitHub \
         Actions OIDC (GOOGLE_WORKLOAD_IDENTITY_PROVIDER, the provider's resource name, with \
         `permissions: id-token: write`; GOOGLE_SERVICE_ACCOUNT to impersonate); else the \
         metadata server. Secrets are never printed.",
        &[
            "pipeline-deploy cloud-run deploy --project my-proj --region europe-west1 --service app \\\n      --image europe-docker.pkg.dev/my-proj/apps/app@sha256:<hex> --version 1.4.0",
            "pipeline-deploy cloud-run swap --project my-proj --region europe-west1 --service app --version 1.4.0",
            "pipeline-deploy cloud-run rollback --project my-proj --region europe-west1 --service app",
        ],
        &[
            (
                Exit::Refused,
                "here: the revision failed, never served the version healthy, its name is taken \
                 by another configuration, nothing to swap or roll back to",
            ),
            (
                Exit::Usage,
                "here: an image without @sha256:, credentials or permissions refused, a service \
                 that does not exist",
            ),
            (
                Exit::External,
                "here: Cloud Run, the token services or the network",
            ),
        ],
    )
}

/// Google Cloud Run with tagged revisions (`green`, `blue`).
#[derive(Debug, Subcommand)]
pub(crate) enum CloudRunCommand {
    /// Create a revision of the image tagged green at 0 % and wait until its tag URL serves the version.
    #[command(after_help = cloud_run_help())]
    Deploy(Box<DeployArgs>),
    /// Give the green revision all the traffic; the previous one is tagged blue.
    #[command(after_help = cloud_run_help())]
    Swap(SwapArgs),
    /// Give the blue revision all the traffic again.
    #[command(after_help = cloud_run_help())]
    Rollback(CommonArgs),
    /// Show the tagged revisions, their versions, traffic and URLs.
    #[command(after_help = cloud_run_help())]
    Status(CommonArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// The project id.
    #[arg(long, env = "PIPELINE_GCP_PROJECT", value_name = "ID")]
    project: String,
    /// The region.
    #[arg(long, env = "PIPELINE_GCP_REGION", value_name = "REGION")]
    region: String,
    /// The Cloud Run service.
    #[arg(long, env = "PIPELINE_GCP_SERVICE", value_name = "NAME")]
    service: String,
    /// A credentials file (service_account key or external_account).
    #[arg(long, env = "GOOGLE_APPLICATION_CREDENTIALS", value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// The Cloud Run Admin API endpoint.
    #[arg(long, env = "PIPELINE_GCP_RUN_ENDPOINT", default_value = DEFAULT_RUN_ENDPOINT, value_name = "URL")]
    run_endpoint: String,
    /// The Security Token Service endpoint.
    #[arg(long, env = "PIPELINE_GCP_STS_ENDPOINT", value_name = "URL")]
    sts_endpoint: Option<String>,
    /// The IAM Credentials endpoint.
    #[arg(long, env = "PIPELINE_GCP_IAMCREDENTIALS_ENDPOINT", value_name = "URL")]
    iamcredentials_endpoint: Option<String>,
    /// The metadata server (plain http only on loopback or metadata.google.internal).
    #[arg(long, env = "PIPELINE_GCP_METADATA_ENDPOINT", default_value = DEFAULT_METADATA_ENDPOINT, value_name = "URL")]
    metadata_endpoint: String,
    /// The deadline of the whole operation, in seconds.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=crate::targets::MAX_SECONDS))]
    timeout: u64,
    /// Print one JSON document on stdout instead of the text.
    #[arg(long)]
    json: bool,
    /// Say what a deploy, swap or rollback would do and change nothing:
    /// the artifact is checked against its digest and the target's status
    /// read, nothing else (exit 1 when the status shows it would be refused).
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The image, pinned by digest: IMAGE@sha256:HEX.
    #[arg(long, value_name = "IMAGE@sha256:HEX")]
    image: String,
    /// The version being deployed (in the revision's name and annotation).
    #[arg(long = "version", value_name = "VERSION")]
    release_version: String,
    #[command(flatten)]
    health: crate::targets::HealthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SwapArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Swap only if the green revision holds this version (a no-op if it is live already).
    #[arg(long = "version", value_name = "VERSION")]
    release_version: Option<String>,
}

fn target(
    args: &CommonArgs,
    env: &Env,
    progress: Arc<StderrProgress>,
) -> Result<CloudRunTarget, Failure> {
    let http = pipeline_cli::http::http("pipeline-deploy", progress)
        .map_err(|e| Failure::usage(format!("cannot set up the HTTP client: {e}")))?;
    let settings = GcpSettings {
        credentials: args.credentials.clone(),
        run_endpoint: args.run_endpoint.clone(),
        sts_endpoint: args.sts_endpoint.clone(),
        iamcredentials_endpoint: args.iamcredentials_endpoint.clone(),
        metadata_endpoint: args.metadata_endpoint.clone(),
    };
    let svc = ServiceRef {
        project: args.project.clone(),
        region: args.region.clone(),
        service: args.service.clone(),
    };
    Ok(
        pipeline_targets::cloudrun::env::target(http, &settings, env, svc)?
            .with_timeout(Duration::from_secs(args.timeout)),
    )
}

pub(crate) async fn dispatch(
    cmd: CloudRunCommand,
    env: &Env,
    progress: Arc<StderrProgress>,
) -> Result<Exit, Failure> {
    let sink = CiSink::from_env(env);
    let (args, action) = match cmd {
        CloudRunCommand::Deploy(args) => {
            let image = ImageRef::parse(&args.image)?;
            let t = target(&args.common, env, Arc::clone(&progress))?
                .with_image(&image.reference)
                .with_slot_url(args.health.slot_url.clone())
                .with_health(args.health.settings()?);
            let release = Release {
                version: args.release_version.clone(),
                sha256: image.digest,
                artifact: PathBuf::new(),
            };
            let names = [
                ("service", args.common.service.as_str()),
                ("image", image.reference.as_str()),
            ];
            return act(
                &t,
                Action::Deploy(release),
                Mode {
                    json: args.common.json,
                    dry_run: args.common.dry_run,
                },
                &sink,
                &progress,
                "cloud-run",
                &names,
            )
            .await;
        }
        CloudRunCommand::Swap(args) => (args.common, Action::Swap(args.release_version)),
        CloudRunCommand::Rollback(args) => (args, Action::Rollback),
        CloudRunCommand::Status(args) => (args, Action::Status),
    };
    let t = target(&args, env, Arc::clone(&progress))?;
    let names = [("service", args.service.as_str())];
    act(
        &t,
        action,
        Mode {
            json: args.json,
            dry_run: args.dry_run,
        },
        &sink,
        &progress,
        "cloud-run",
        &names,
    )
    .await
}
