//! `pipeline-deploy verify`.

use std::io::Write as _;

use crate::cli::VerifyArgs;
use pipeline_contracts::deploy::VerifyDoc;

use crate::{Exit, Failure};

pub(crate) fn run(args: &VerifyArgs) -> Result<Exit, Failure> {
    // A mismatch is an error: exit 2, both digests named.
    pipeline_artifact::verify(&args.artifact, &args.sha256)?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let doc = VerifyDoc {
            schema: VerifyDoc::SCHEMA.to_owned(),
            artifact: args.artifact.display().to_string(),
            sha256: args.sha256.to_string(),
            verified: true,
        };
        writeln!(
            stdout,
            "{}",
            serde_json::to_string(&doc).unwrap_or_default()
        )
    } else {
        writeln!(stdout, "{}: OK ({})", args.artifact.display(), args.sha256)
    }
    .map_err(crate::package::stdout_gone)?;
    Ok(Exit::Success)
}
