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

/// Text from a check's output made safe for one cell of a Markdown table:
/// one line, no pipes or backticks breaking the table, at most 300
/// characters.
fn cell(text: &str) -> String {
    let line: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let line: String = line
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '|' => '¦',
            '`' => '\'',
            '<' => '‹',
            '>' => '›',
            c => c,
        })
        .collect();
    match line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

/// A promotion that ran, as the job summary shows it: what went where,
/// from where, the live address, every step with its result (the checks
/// among them), and the switch back if there was one.
pub fn summary(run: &crate::Finished) -> String {
    use crate::Promoted;
    let plan = &run.plan;
    let (mark, verdict) = match &run.result {
        Promoted::Live => ("✅", "live".to_owned()),
        Promoted::ValidationFailed { .. } => (
            "❌",
            "not promoted: validation failed, traffic did not move".to_owned(),
        ),
        Promoted::VerificationFailed {
            rolled_back: true, ..
        } => (
            "↩️",
            format!(
                "rolled back to {}",
                plan.replaces
                    .as_ref()
                    .map_or("the previous release", |r| r.version.as_str())
            ),
        ),
        Promoted::VerificationFailed { .. } => {
            ("❌", "failed verification, not rolled back".to_owned())
        }
    };
    let mut s = format!(
        "### {mark} {} → {}: {verdict}\n\n| | |\n|---|---|\n",
        plan.candidate.version, plan.env
    );
    s.push_str(&format!("| environment | {} |\n", cell(&plan.env)));
    s.push_str(&format!(
        "| version | {} (sha256 `{}`) |\n",
        cell(&plan.candidate.version),
        short(&plan.candidate.sha256)
    ));
    s.push_str(&format!("| from | {} |\n", cell(&plan.from)));
    s.push_str(&format!(
        "| replaces | {} |\n",
        plan.replaces
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), |r| cell(&r.version))
    ));
    s.push_str(&format!("| live address | {} |\n", run.live_url));
    s.push_str(&format!("| took | {:.1} s |\n\n", run.took.as_secs_f64()));
    if !run.steps.is_empty() {
        s.push_str("| step | result | detail | time |\n|---|---|---|---:|\n");
        for step in &run.steps {
            s.push_str(&format!(
                "| {} | {} | {} | {:.1} s |\n",
                cell(&step.step),
                if step.ok { "✅ passed" } else { "❌ failed" },
                cell(&step.detail),
                step.took.as_secs_f64()
            ));
        }
        s.push('\n');
    }
    match &run.result {
        Promoted::VerificationFailed {
            reason,
            rolled_back: true,
        } => s.push_str(&format!(
            "**Rollback:** {} failed verification ({}); traffic went back to {}.\n",
            plan.candidate.version,
            cell(reason),
            plan.replaces
                .as_ref()
                .map_or("the previous release", |r| r.version.as_str())
        )),
        Promoted::VerificationFailed { reason, .. } => s.push_str(&format!(
            "**No rollback** (`auto_rollback = false`): {} stays live, failed ({}).\n",
            plan.candidate.version,
            cell(reason)
        )),
        Promoted::ValidationFailed { reason } => s.push_str(&format!(
            "**Not switched:** the idle slot failed validation ({}); {} still serves.\n",
            cell(reason),
            plan.replaces
                .as_ref()
                .map_or("nothing new", |r| r.version.as_str())
        )),
        Promoted::Live => {}
    }
    s
}

/// A promotion that found the release there already, as the job summary
/// shows it.
pub fn summary_already_there(
    env: &str,
    candidate: &crate::Candidate,
    live_url: Option<&url::Url>,
) -> String {
    format!(
        "### ✅ {} → {env}: there already, nothing done\n\n| | |\n|---|---|\n| environment | {} |\n| version | {} (sha256 `{}`) |\n| live address | {} |\n",
        candidate.version,
        cell(env),
        cell(&candidate.version),
        short(&candidate.sha256),
        live_url.map_or_else(|| "unknown".to_owned(), ToString::to_string)
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Candidate, Finished, Plan, Promoted, StepReport};

    fn run(result: Promoted) -> Finished {
        Finished {
            plan: Plan {
                env: "qa".into(),
                candidate: Candidate {
                    version: "1.4.0".into(),
                    sha256: "ab".repeat(32),
                },
                from: "dev".into(),
                replaces: Some(Candidate {
                    version: "1.3.0".into(),
                    sha256: "cd".repeat(32),
                }),
                steps: Vec::new(),
                auto_rollback: true,
            },
            result,
            took: Duration::from_millis(12_340),
            live_url: url::Url::parse("http://127.0.0.1:8080/").unwrap_or_else(|e| panic!("{e}")),
            steps: vec![
                StepReport {
                    step: "deploy".into(),
                    ok: true,
                    detail: "1.4.0 in the green slot".into(),
                    took: Duration::from_millis(1_500),
                },
                StepReport {
                    step: "verify: smoke".into(),
                    ok: false,
                    detail: "exit 1:\nGET /items | 500 `boom`\x1b[31m".into(),
                    took: Duration::from_millis(300),
                },
            ],
        }
    }

    #[test]
    fn a_summary_says_what_went_where_the_checks_and_the_rollback() {
        let s = summary(&run(Promoted::VerificationFailed {
            reason: "smoke failed".into(),
            rolled_back: true,
        }));
        assert!(
            s.starts_with("### ↩️ 1.4.0 → qa: rolled back to 1.3.0\n"),
            "{s}"
        );
        assert!(s.contains("| from | dev |"), "{s}");
        assert!(
            s.contains("| live address | http://127.0.0.1:8080/ |"),
            "{s}"
        );
        assert!(
            s.contains("| deploy | ✅ passed | 1.4.0 in the green slot | 1.5 s |"),
            "{s}"
        );
        // A check's output stays in its cell: one line, no pipe, no backtick, no escape.
        assert!(
            s.contains(
                "| verify: smoke | ❌ failed | exit 1: GET /items ¦ 500 'boom'[31m | 0.3 s |"
            ),
            "{s}"
        );
        assert!(s.contains("**Rollback:** 1.4.0 failed verification (smoke failed); traffic went back to 1.3.0."), "{s}");
        let live = summary(&run(Promoted::Live));
        assert!(live.starts_with("### ✅ 1.4.0 → qa: live\n"), "{live}");
        assert!(!live.contains("Rollback"), "{live}");
    }
}
