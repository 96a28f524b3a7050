//! `pipeline-deploy azure deploy|swap|rollback|status`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use pipeline_ci::{CiSink, Env};
use pipeline_cli::http::StderrProgress;
use pipeline_targets::Release;
use pipeline_targets::azure::env::{AzureSettings, DEFAULT_ARM_ENDPOINT};
use pipeline_targets::azure::{
    ARM_SCOPE, AppRef, AppServiceTarget, DEFAULT_API_VERSION, DEFAULT_AUTHORITY_HOST,
};

use crate::Exit;
use crate::Failure;
use crate::targets::{Action, Mode, act};

fn azure_help() -> String {
    pipeline_cli::after_help(
        "Credentials come from the environment, as the Azure SDKs read them: AZURE_TENANT_ID and \
         AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, or with AZURE_FEDERATED_TOKEN_FILE, or, inside \
         GitHub Actions with `permissions: id-token: write`, with the job's OIDC token \
         (ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN). Secrets are never printed.",
        &[
            "pipeline-deploy azure deploy --resource-group rg --app my-app --slot staging \\\n      --artifact dist/app.zip --sha256 <hex> --version 1.4.0",
            "pipeline-deploy azure swap --resource-group rg --app my-app --slot staging --version 1.4.0",
            "pipeline-deploy azure rollback --resource-group rg --app my-app --slot staging",
            "pipeline-deploy azure status --resource-group rg --app my-app --json",
        ],
        &[
            (
                Exit::Refused,
                "here: the deployment failed, the slot never served the new version healthy, \
                 the slot holds another version, nothing to roll back to",
            ),
            (
                Exit::Usage,
                "here: an artifact whose SHA-256 differs, credentials or permissions refused, an \
                 app that does not exist",
            ),
            (
                Exit::External,
                "here: Resource Manager, Kudu or the network",
            ),
        ],
    )
}

/// Azure App Service with deployment slots.
#[derive(Debug, Subcommand)]
pub(crate) enum AzureCommand {
    /// Deploy the artifact into the slot (created if missing) and wait until it serves the version.
    #[command(after_help = azure_help())]
    Deploy(Box<DeployArgs>),
    /// Swap the slot into production.
    #[command(after_help = azure_help())]
    Swap(SwapArgs),
    /// Swap back: production gets the release the slot holds again.
    #[command(after_help = azure_help())]
    Rollback(CommonArgs),
    /// Show the version and digest in production and in each slot.
    #[command(after_help = azure_help())]
    Status(CommonArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// The subscription id.
    #[arg(long, env = "AZURE_SUBSCRIPTION_ID", value_name = "ID")]
    subscription: String,
    /// The resource group.
    #[arg(long, env = "PIPELINE_AZURE_RESOURCE_GROUP", value_name = "NAME")]
    resource_group: String,
    /// The App Service app.
    #[arg(long, env = "PIPELINE_AZURE_APP", value_name = "NAME")]
    app: String,
    /// The deployment slot.
    #[arg(
        long,
        env = "PIPELINE_AZURE_SLOT",
        default_value = "staging",
        value_name = "NAME"
    )]
    slot: String,
    /// The Microsoft.Web API version.
    #[arg(long, env = "PIPELINE_AZURE_API_VERSION", default_value = DEFAULT_API_VERSION, value_name = "DATE")]
    api_version: String,
    /// The Microsoft Entra ID authority host.
    #[arg(long, env = "AZURE_AUTHORITY_HOST", default_value = DEFAULT_AUTHORITY_HOST, value_name = "URL")]
    authority_host: String,
    /// The Resource Manager endpoint.
    #[arg(
        long,
        env = "PIPELINE_AZURE_ARM_ENDPOINT",
        default_value = DEFAULT_ARM_ENDPOINT,
        value_name = "URL"
    )]
    arm_endpoint: String,
    /// The token scope for Resource Manager (and Kudu).
    #[arg(long, env = "PIPELINE_AZURE_ARM_SCOPE", default_value = ARM_SCOPE, value_name = "SCOPE")]
    arm_scope: String,
    /// The SCM (Kudu) endpoint [default: the slot's SCM host name].
    #[arg(long, env = "PIPELINE_AZURE_SCM_ENDPOINT", value_name = "URL")]
    scm_endpoint: Option<String>,
    /// The directory (tenant) id.
    #[arg(long, env = "AZURE_TENANT_ID", value_name = "ID")]
    tenant: Option<String>,
    /// The application (client) id.
    #[arg(long, env = "AZURE_CLIENT_ID", value_name = "ID")]
    client_id: Option<String>,
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
    /// The artifact (a zip from `pipeline-deploy package`).
    #[arg(long, value_name = "FILE")]
    artifact: PathBuf,
    /// The SHA-256 the artifact must have.
    #[arg(long, value_name = "HEX")]
    sha256: pipeline_artifact::Sha256Digest,
    /// The version being deployed (recorded as the PIPELINE_VERSION app setting).
    #[arg(long = "version", value_name = "VERSION")]
    release_version: String,
    /// Another app setting for the slot, KEY=VALUE; repeat to add more.
    #[arg(long = "setting", value_name = "KEY=VALUE", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
    #[command(flatten)]
    health: crate::targets::HealthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SwapArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Swap only if the slot holds this version (a no-op if it is live already).
    #[arg(long = "version", value_name = "VERSION")]
    release_version: Option<String>,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

fn target(
    args: &CommonArgs,
    env: &Env,
    progress: Arc<StderrProgress>,
) -> Result<AppServiceTarget, Failure> {
    let http = pipeline_cli::http::http("pipeline-deploy", progress)
        .map_err(|e| Failure::usage(format!("cannot set up the HTTP client: {e}")))?;
    let settings = AzureSettings {
        authority_host: args.authority_host.clone(),
        arm_endpoint: args.arm_endpoint.clone(),
        arm_scope: args.arm_scope.clone(),
        scm_endpoint: args.scm_endpoint.clone(),
        api_version: args.api_version.clone(),
        tenant: args.tenant.clone(),
        client_id: args.client_id.clone(),
    };
    let app = AppRef {
        subscription: args.subscription.clone(),
        resource_group: args.resource_group.clone(),
        app: args.app.clone(),
    };
    Ok(
        pipeline_targets::azure::env::target(http, &settings, env, app, &args.slot)?
            .with_timeout(Duration::from_secs(args.timeout)),
    )
}

pub(crate) async fn dispatch(
    cmd: AzureCommand,
    env: &Env,
    progress: Arc<StderrProgress>,
) -> Result<Exit, Failure> {
    let sink = CiSink::from_env(env);
    let (args, action, extra) = match cmd {
        AzureCommand::Deploy(args) => {
            let settings: BTreeMap<String, String> = args.settings.iter().cloned().collect();
            let t = target(&args.common, env, Arc::clone(&progress))?
                .with_slot_url(args.health.slot_url.clone())
                .with_settings(settings)
                .with_health(args.health.settings()?);
            let release = Release {
                version: args.release_version.clone(),
                sha256: args.sha256,
                artifact: args.artifact.clone(),
            };
            let names = [("app", args.common.app.as_str())];
            return act(
                &t,
                Action::Deploy(release),
                Mode {
                    json: args.common.json,
                    dry_run: args.common.dry_run,
                },
                &sink,
                &progress,
                "azure",
                &names,
            )
            .await;
        }
        AzureCommand::Swap(args) => {
            let action = Action::Swap(args.release_version.clone());
            (args.common, action, true)
        }
        AzureCommand::Rollback(args) => (args, Action::Rollback, true),
        AzureCommand::Status(args) => (args, Action::Status, false),
    };
    let t = target(&args, env, Arc::clone(&progress))?;
    let mut names = vec![("app", args.app.as_str())];
    if extra {
        names.push(("slot", args.slot.as_str()));
    }
    act(
        &t,
        action,
        Mode {
            json: args.json,
            dry_run: args.dry_run,
        },
        &sink,
        &progress,
        "azure",
        &names,
    )
    .await
}
