//! What every command writes: stdout, and the step outputs and job summary
//! inside GitHub Actions.

use crate::Failure;
use std::io::Write as _;

use pipeline_ci::{Env, GitHub};
use pipeline_gitflow::Date;

/// The step outputs every command writes inside GitHub Actions, empty
/// (`released`: `false`) unless given.
const OUTPUTS: [&str; 5] = [
    "version",
    "tag",
    "previous_tag",
    "released",
    "changelog_file",
];

/// Writes `text` to stdout.
pub(crate) fn stdout(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::usage(format!("cannot write to stdout: {e}")))
}

/// Writes `doc` to stdout as one line of JSON.
pub(crate) fn json(doc: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string(doc)
        .map_err(|e| Failure::usage(format!("cannot write the JSON document: {e}")))?;
    stdout(&format!("{text}\n"))
}

/// Inside GitHub Actions: the step outputs every command writes (see
/// [`OUTPUTS`]), then `extra` ones.
pub(crate) fn step_outputs(
    env: &Env,
    values: &[(&str, String)],
    extra: &[(&str, String)],
) -> Result<(), Failure> {
    let Some(github) = GitHub::from_env(env) else {
        return Ok(());
    };
    for name in OUTPUTS {
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| {
                if name == "released" {
                    "false".to_owned()
                } else {
                    String::new()
                }
            });
        github
            .set_output(name, &value)
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    for (name, value) in extra {
        github
            .set_output(name, value)
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    Ok(())
}

/// Appends `text` to the job summary inside GitHub Actions.
pub(crate) fn summary(env: &Env, text: &str) -> Result<(), Failure> {
    if let Some(github) = GitHub::from_env(env)
        && github.summary_file().is_some()
    {
        github
            .append_summary(text)
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    Ok(())
}

/// Writes release notes to `path`.
pub(crate) fn notes_file(path: &std::path::Path, notes: &str) -> Result<(), Failure> {
    std::fs::write(path, notes).map_err(|e| {
        Failure::usage(format!(
            "cannot write the release notes to {}: {e}",
            path.display()
        ))
    })
}

/// The first seven characters of a commit id.
pub(crate) fn short(id: &str) -> &str {
    id.get(..7).unwrap_or(id)
}

/// Today's date, UTC.
pub(crate) fn today() -> Date {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Date::from_unix_seconds(seconds)
}
