//! The state as text for a reader: the table of environments and the lines
//! of a history, as `pipeline-promote` and `pipeline run` print them.

use crate::record::{Outcome, Record};
use crate::service::{EnvStatus, short};

/// An outcome in words.
pub fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Live => "live",
        Outcome::RolledBack => "rolled back",
        Outcome::Failed => "failed",
        Outcome::ManualRollback => "manual rollback",
        Outcome::Switching => "switching",
        Outcome::RollingBack => "rolling back",
    }
}

/// The table of environments: version, digest, slot, health, since when,
/// by whom.
pub fn status_table(rows: &[EnvStatus]) -> String {
    let mut s = format!(
        "{:<12} {:<12} {:<14} {:<8} {:<9} {:<22} {}\n",
        "ENV", "VERSION", "SHA256", "SLOT", "HEALTH", "SINCE", "BY"
    );
    for row in rows {
        let name = &row.env;
        match &row.record {
            Some(r) => s.push_str(&format!(
                "{:<12} {:<12} {:<14} {:<8} {:<9} {:<22} {}\n",
                name,
                r.live_version.as_deref().unwrap_or("-"),
                r.live_sha256.as_deref().map_or("-", short),
                row.slot.as_deref().unwrap_or("-"),
                match row.healthy {
                    Some(true) => "healthy",
                    Some(false) => "DOWN",
                    None => "-",
                },
                r.live_since.map_or_else(|| "-".to_owned(), crate::rfc3339),
                r.by
            )),
            None => s.push_str(&format!("{name:<12} {:<12}\n", "-")),
        }
    }
    s.trim_end().to_owned()
}

/// One record of a history on one line.
pub fn history_line(r: &Record) -> String {
    format!(
        "{}  {:<10} {:<16} live {:<10} by {}{}",
        crate::rfc3339(r.at),
        r.version,
        outcome_word(r.outcome),
        r.live_version.as_deref().unwrap_or("-"),
        r.by,
        if r.note.is_empty() {
            String::new()
        } else {
            format!("  ({})", r.note.lines().next().unwrap_or(""))
        }
    )
}
