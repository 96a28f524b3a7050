//! `pipeline-deploy verify`.

use std::io::Write as _;

use anyhow::Context as _;

use crate::Exit;
use crate::cli::VerifyArgs;

pub(crate) fn run(args: &VerifyArgs) -> anyhow::Result<Exit> {
    // A mismatch is an error: exit 2, both digests named.
    pipeline_artifact::verify(&args.artifact, &args.sha256)?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({
            "schema": "pipeline-deploy/verify/v1",
            "artifact": args.artifact.display().to_string(),
            "sha256": args.sha256.to_string(),
            "verified": true,
        });
        writeln!(stdout, "{doc}")
    } else {
        writeln!(stdout, "{}: OK ({})", args.artifact.display(), args.sha256)
    }
    .context("cannot write to stdout")?;
    Ok(Exit::Success)
}
