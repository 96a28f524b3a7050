//! What every target subcommand shares: the runtime, masks and redaction,
//! the mapping of failures to exit codes, and the output of deploy, swap,
//! rollback and status for any [`Target`].

use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use pipeline_ci::CiSink;
use pipeline_cli::http::StderrProgress;
use pipeline_contracts::deploy::{DryRun, TargetDoc};
use pipeline_targets::preview::Intent;
use pipeline_targets::{Release, Target, TargetStatus};

use crate::{Exit, Failure};

/// Runs `body` on a current-thread runtime with progress on stderr.
pub(crate) fn run<F, Fut>(session: &pipeline_cli::Session, body: F) -> Result<Exit, Failure>
where
    F: FnOnce(Arc<StderrProgress>) -> Fut,
    Fut: Future<Output = Result<Exit, Failure>>,
{
    let Some(runtime) = pipeline_cli::http::runtime() else {
        return Ok(Exit::External);
    };
    let progress = Arc::new(StderrProgress::new().with_secrets(session.secrets().to_vec()));
    let result = runtime.block_on(body(Arc::clone(&progress)));
    progress.finish();
    result
}

/// The longest timeout accepted: a week.
pub(crate) const MAX_SECONDS: u64 = 7 * 24 * 3600;

/// How a new slot or revision is probed before it counts as deployed: the
/// flags every cloud target's `deploy` takes.
#[derive(Debug, clap::Args)]
pub(crate) struct HealthArgs {
    /// The URL probed [default: the target's own URL of the new slot or revision].
    #[arg(long, value_name = "URL")]
    pub(crate) slot_url: Option<url::Url>,
    /// The health path probed.
    #[arg(long, default_value = "/health", value_name = "PATH")]
    health_path: String,
    /// The status a healthy slot answers.
    #[arg(long, default_value_t = 200, value_name = "CODE")]
    expect_status: u16,
    /// The JSON field of the health answer holding the version (or the X-Pipeline-Version header).
    #[arg(long, default_value = "version", value_name = "FIELD")]
    version_field: String,
    /// How long the slot may take to serve the version healthy, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=MAX_SECONDS))]
    health_timeout: u64,
    /// The wait between health probes, in seconds.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    health_interval: f64,
}

impl HealthArgs {
    /// The settings, or a usage error for an interval out of range.
    pub(crate) fn settings(&self) -> Result<pipeline_targets::health::HealthSettings, Failure> {
        let interval = match std::time::Duration::try_from_secs_f64(self.health_interval) {
            Ok(d) if d <= std::time::Duration::from_secs(3600) => d,
            _ => {
                return Err(Failure::usage(
                    "--health-interval must be a number of seconds from 0 to 3600",
                ));
            }
        };
        Ok(pipeline_targets::health::HealthSettings {
            path: self.health_path.clone(),
            expect_status: self.expect_status,
            version_field: self.version_field.clone(),
            interval,
            timeout: std::time::Duration::from_secs(self.health_timeout),
        })
    }
}

/// How to act: `--json`, `--dry-run`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    pub(crate) json: bool,
    pub(crate) dry_run: bool,
}

/// What to do with a target.
pub(crate) enum Action {
    Deploy(Release),
    Swap(Option<String>),
    Rollback,
    Status,
}

/// Runs `action` on `target` and prints the result: text, or with `json`
/// one [`TargetDoc`] of schema `pipeline-deploy/<kind>/v1` with `names`
/// (what names the target) among its fields. Inside Actions a deploy sets
/// the outputs `url` (and, as before, `slot_url`) and `version`, a swap or
/// rollback `url` (the live slot's, as the target reports it) and
/// `version` (now live); each writes the job summary.
pub(crate) async fn act<T: Target>(
    target: &T,
    action: Action,
    mode: Mode,
    sink: &CiSink,
    progress: &StderrProgress,
    kind: &str,
    names: &[(&str, &str)],
) -> Result<Exit, Failure> {
    let started = Instant::now();
    let mut doc = TargetDoc {
        schema: TargetDoc::schema(kind),
        action: String::new(),
        deployed: None,
        seconds: None,
        switched: None,
        status: None,
        dry_run: None,
        target: names
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    let Mode { json, dry_run } = mode;
    if dry_run && !matches!(action, Action::Status) {
        return dry(target, action, json, kind, progress, doc).await;
    }
    let text = match action {
        Action::Deploy(release) => {
            let deployed = target.deploy(&release).await?;
            progress.finish();
            let _ = sink.set_output("slot_url", &deployed.url);
            let _ = sink.set_output("url", &deployed.url);
            let _ = sink.set_output("version", &deployed.version);
            let _ = sink.append_summary(&format!(
                "### ✅ {} deployed to slot {} of {}\n\n| | |\n|---|---|\n| version | {} (sha256 `{}`) |\n| slot | {} |\n| serves at | {} |\n| health | answered healthy, with this version |\n| took | {:.1} s |\n\nLive traffic has not moved: `swap` makes this slot live.\n",
                deployed.version,
                deployed.slot,
                target.describe(),
                deployed.version,
                short(&deployed.sha256),
                deployed.slot,
                deployed.url,
                started.elapsed().as_secs_f64()
            ));
            let text = format!(
                "deployed {} ({}) to slot {} of {} in {:.1}s; it serves at {}\n",
                deployed.version,
                short(&deployed.sha256),
                deployed.slot,
                target.describe(),
                started.elapsed().as_secs_f64(),
                deployed.url
            );
            doc.action = "deploy".to_owned();
            doc.deployed = Some(deployed);
            doc.seconds = Some(started.elapsed().as_secs_f64());
            text
        }
        Action::Swap(expect) => {
            let switched = target.swap(expect.as_deref()).await?;
            progress.finish();
            doc.action = "swap".to_owned();
            let text = if switched.already {
                format!(
                    "{} already live on {}; nothing to swap\n",
                    switched.live_version.as_deref().unwrap_or("?"),
                    target.describe()
                )
            } else {
                format!(
                    "switched {}: {} live, {} in the idle slot\n",
                    target.describe(),
                    switched.live_version.as_deref().unwrap_or("?"),
                    switched.idle_version.as_deref().unwrap_or("?")
                )
            };
            live_in_actions(target, sink, &switched, "switched", "").await;
            doc.switched = Some(switched);
            text
        }
        Action::Rollback => {
            let switched = target.rollback().await?;
            progress.finish();
            doc.action = "rollback".to_owned();
            let text = format!(
                "rolled back {}: {} live again, {} in the idle slot\n",
                target.describe(),
                switched.live_version.as_deref().unwrap_or("?"),
                switched.idle_version.as_deref().unwrap_or("?")
            );
            live_in_actions(target, sink, &switched, "rolled back", "↩️ ").await;
            doc.switched = Some(switched);
            text
        }
        Action::Status => {
            let status = target.status().await?;
            progress.finish();
            doc.action = "status".to_owned();
            let text = render_status(&status);
            doc.status = Some(status);
            text
        }
    };
    let mut stdout = std::io::stdout().lock();
    let written = if json {
        let text = serde_json::to_string(&doc)
            .map_err(|e| Failure::usage(format!("cannot write the JSON document: {e}")))?;
        writeln!(stdout, "{text}")
    } else {
        write!(stdout, "{text}")
    };
    written.map_err(|e| Failure::usage(format!("cannot write to stdout: {e}")))?;
    Ok(Exit::Success)
}

/// `--dry-run`: the artifact checked, the status read, what would happen
/// printed; nothing changed.
async fn dry<T: Target>(
    target: &T,
    action: Action,
    json: bool,
    kind: &str,
    progress: &StderrProgress,
    mut doc: TargetDoc,
) -> Result<Exit, Failure> {
    if let Action::Deploy(release) = &action {
        let (path, sha) = (release.artifact.clone(), release.sha256);
        tokio::task::spawn_blocking(move || pipeline_artifact::verify(&path, &sha))
            .await
            .map_err(|e| Failure::usage(format!("checking the artifact: {e}")))?
            .map_err(pipeline_targets::TargetError::from)?;
    }
    let status = target.status().await?;
    progress.finish();
    let digest;
    let (name, intent) = match &action {
        Action::Deploy(release) => {
            digest = release.sha256.to_string();
            (
                "deploy",
                Intent::Deploy {
                    version: &release.version,
                    sha256: &digest,
                },
            )
        }
        Action::Swap(expect) => (
            "swap",
            Intent::Swap {
                expect: expect.as_deref(),
            },
        ),
        Action::Rollback | Action::Status => ("rollback", Intent::Rollback),
    };
    // Where the action goes, when the target says: an App Service's
    // deployment slot; the Cloud Run tag a swap (green) or a rollback
    // (blue) moves traffic to; the agent's idle slot is the other one.
    let slot_name = doc.target.get("slot").cloned();
    let named = match (kind, &action) {
        ("cloud-run", Action::Swap(_)) => Some(pipeline_targets::cloudrun::GREEN),
        ("cloud-run", Action::Rollback) => Some(pipeline_targets::cloudrun::BLUE),
        ("azure", Action::Swap(_) | Action::Rollback) => slot_name.as_deref(),
        _ => None,
    };
    let preview = pipeline_targets::preview::preview_to(&status, intent, named);
    let mut text = format!(
        "dry run: {name} on {}, nothing changed\n",
        target.describe()
    );
    for (i, effect) in preview.effects.iter().enumerate() {
        text.push_str(&format!("  {}. would {effect}\n", i + 1));
    }
    if let Some(why) = &preview.refused {
        text.push_str(&format!("  would be refused: {why}\n"));
    }
    let exit = if preview.refused.is_some() {
        Exit::Refused
    } else {
        Exit::Success
    };
    doc.action = name.to_owned();
    doc.status = Some(status);
    doc.dry_run = Some(DryRun {
        effects: preview.effects,
        refused: preview.refused,
    });
    let mut stdout = std::io::stdout().lock();
    let written = if json {
        let text = serde_json::to_string(&doc)
            .map_err(|e| Failure::usage(format!("cannot write the JSON document: {e}")))?;
        writeln!(stdout, "{text}")
    } else {
        write!(stdout, "{text}")
    };
    written.map_err(|e| Failure::usage(format!("cannot write to stdout: {e}")))?;
    Ok(exit)
}

/// Inside Actions, after a swap or rollback: the outputs `url` (the live
/// slot's, as the target's status gives it; empty when it cannot be read)
/// and `version`, and the job summary.
async fn live_in_actions<T: Target>(
    target: &T,
    sink: &CiSink,
    switched: &pipeline_targets::Switched,
    what: &str,
    mark: &str,
) {
    if sink.github().is_none() {
        return;
    }
    let url = match target.status().await {
        Ok(status) => status
            .live()
            .and_then(|s| s.url.clone())
            .unwrap_or_default(),
        Err(e) => {
            tracing::warn!("the live address is not known: {e}");
            String::new()
        }
    };
    let live = switched.live_version.as_deref().unwrap_or("?");
    let _ = sink.set_output("url", &url);
    let _ = sink.set_output("version", live);
    let _ = sink.append_summary(&format!(
        "### {mark}{what} {}: {live} live{}\n\n| | |\n|---|---|\n| live | {live} |\n| idle slot | {} (what a switch back restores) |\n| live address | {} |\n",
        target.describe(),
        if switched.already { " (already)" } else { "" },
        switched.idle_version.as_deref().unwrap_or("nothing"),
        if url.is_empty() { "unknown" } else { url.as_str() },
    ));
}

/// The first 12 characters of a digest (on a character boundary: a digest
/// read from a platform's settings may be anything).
fn short(d: &str) -> &str {
    d.char_indices().nth(12).map_or(d, |(i, _)| &d[..i])
}

pub(crate) fn render_status(status: &TargetStatus) -> String {
    let mut s = format!("{}\n", status.target);
    for slot in &status.slots {
        s.push_str(&format!(
            "  {:<12} {:<5} {:<14} {:<14} {:<10} {}\n",
            slot.slot,
            if slot.live { "live" } else { "idle" },
            slot.version.as_deref().unwrap_or("-"),
            slot.sha256.as_deref().map_or("-", short),
            slot.state.as_deref().unwrap_or("-"),
            slot.url.as_deref().unwrap_or("-"),
        ));
    }
    s
}
