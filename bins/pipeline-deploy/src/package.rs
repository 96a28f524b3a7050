//! `pipeline-deploy package`.

use std::io::Write as _;

use pipeline_artifact::{Artifact, PackageOptions};
use pipeline_ci::{Env, GitHub};
use pipeline_contracts::deploy::PackageDoc;

use crate::cli::PackageArgs;
use crate::{Exit, Failure};

pub(crate) fn run(args: &PackageArgs, env: &Env) -> Result<Exit, Failure> {
    let mut options = PackageOptions::new().default_excludes(!args.no_default_excludes);
    for pattern in &args.exclude {
        options = options.exclude(pattern.clone());
    }
    if let Some(threads) = args.threads {
        options = options.threads(threads);
    }
    tracing::info!(
        "packaging {} into {}",
        args.source.display(),
        args.out.display()
    );
    let artifact = pipeline_artifact::package(&args.source, &args.out, &options)?;

    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", json(&artifact)).map_err(stdout_gone)?;
    } else {
        // The `sha256sum` format, so `sha256sum -c` can check it.
        writeln!(
            stdout,
            "{}  {}",
            artifact.sha256(),
            artifact.path().display()
        )
        .map_err(stdout_gone)?;
        let _ = writeln!(
            std::io::stderr(),
            "packaged {} files ({} bytes) into {} ({} bytes)",
            artifact.files(),
            artifact.source_bytes(),
            artifact.path().display(),
            artifact.size()
        );
    }
    drop(stdout);
    if let Some(github) = GitHub::from_env(env) {
        if github.output_file().is_some() {
            let outputs = [
                ("artifact", artifact.path().display().to_string()),
                ("sha256", artifact.sha256().to_string()),
                ("size", artifact.size().to_string()),
            ];
            for (name, value) in outputs {
                github
                    .set_output(name, &value)
                    .map_err(|e| Failure::usage(e.to_string()))?;
            }
        } else {
            tracing::warn!(
                "GITHUB_ACTIONS is set but GITHUB_OUTPUT is not: no step outputs written"
            );
        }
    }
    Ok(Exit::Success)
}

fn json(artifact: &Artifact) -> String {
    let doc = PackageDoc {
        schema: PackageDoc::SCHEMA.to_owned(),
        artifact: artifact.path().display().to_string(),
        sha256: artifact.sha256().to_string(),
        size: artifact.size(),
        files: artifact.files() as u64,
        source_bytes: artifact.source_bytes(),
    };
    serde_json::to_string(&doc).unwrap_or_default()
}

pub(crate) fn stdout_gone(e: std::io::Error) -> Failure {
    Failure::usage(format!("cannot write to stdout: {e}"))
}
