//! Release notes in the Keep a Changelog manner, from a [`Plan`].
//!
//! ```markdown
//! ## [1.3.0] - 2026-11-26
//!
//! ### ⚠ BREAKING CHANGES
//!
//! - **api:** the v1 endpoints are gone (1a2b3c4)
//!
//! ### Features
//!
//! - **api:** drop the v1 endpoints (1a2b3c4)
//! - add a thing (5d6e7f8)
//! ```
//!
//! Sections come in a fixed order — breaking changes first, then features,
//! bug fixes, performance, reverts — and a section without entries is left
//! out. A breaking commit appears under breaking changes (with the
//! `BREAKING CHANGE:` text) and under its type. Within a section entries
//! keep the history's order, newest first. Other types (`docs`, `chore`, …),
//! merges and non-conventional messages are not listed. The date is passed
//! in, so the output depends on nothing but the plan and the date.

use std::fmt::Write as _;

use semver::Version;

use crate::conventional::CommitType;
use crate::date::Date;
use crate::history::CommitId;
use crate::plan::Plan;

/// The kind of a release-notes section, in the order they are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SectionKind {
    /// `### ⚠ BREAKING CHANGES`.
    Breaking,
    /// `### Features` (`feat`).
    Features,
    /// `### Bug Fixes` (`fix`).
    BugFixes,
    /// `### Performance` (`perf`).
    Performance,
    /// `### Reverts` (`revert`).
    Reverts,
}

impl SectionKind {
    /// Every kind, in print order.
    pub const ALL: [Self; 5] = [
        Self::Breaking,
        Self::Features,
        Self::BugFixes,
        Self::Performance,
        Self::Reverts,
    ];

    /// The heading's text.
    pub fn title(self) -> &'static str {
        match self {
            Self::Breaking => "⚠ BREAKING CHANGES",
            Self::Features => "Features",
            Self::BugFixes => "Bug Fixes",
            Self::Performance => "Performance",
            Self::Reverts => "Reverts",
        }
    }

    /// A stable lowercase key (`breaking`, `features`, …) for JSON.
    pub fn key(self) -> &'static str {
        match self {
            Self::Breaking => "breaking",
            Self::Features => "features",
            Self::BugFixes => "bug_fixes",
            Self::Performance => "performance",
            Self::Reverts => "reverts",
        }
    }

    fn of(commit_type: &CommitType) -> Option<Self> {
        match commit_type {
            CommitType::Feat => Some(Self::Features),
            CommitType::Fix => Some(Self::BugFixes),
            CommitType::Perf => Some(Self::Performance),
            CommitType::Revert => Some(Self::Reverts),
            _ => None,
        }
    }
}

/// One line of the notes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    scope: Option<String>,
    text: String,
    commit: CommitId,
}

impl Entry {
    /// The commit's scope.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The description, or what breaks in the breaking-changes section.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The commit.
    pub fn commit(&self) -> &CommitId {
        &self.commit
    }
}

/// A section and its entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Section {
    kind: SectionKind,
    entries: Vec<Entry>,
}

impl Section {
    /// Its kind.
    pub fn kind(&self) -> SectionKind {
        self.kind
    }

    /// Its entries, never empty.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// The release notes of one release.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReleaseNotes {
    version: Version,
    date: Date,
    sections: Vec<Section>,
}

impl ReleaseNotes {
    /// The notes for `plan`'s release dated `date`; `None` when the plan
    /// makes no release.
    ///
    /// ```
    /// use pipeline_gitflow::{plan, BranchTip, Commit, CommitId, History, ReleaseNotes, Request};
    ///
    /// let tip = BranchTip::new("develop", "refs/heads/develop", CommitId::new("bbbbbbbbbb"));
    /// let history = History::new(tip, None, vec![
    ///     Commit::new(CommitId::new("bbbbbbbbbb"), "fix(cli): exit 2 on a bad flag", 1),
    ///     Commit::new(CommitId::new("aaaaaaaaaa"), "feat: first", 1),
    /// ]);
    /// let plan = plan(&history, &Request::default())?;
    /// let notes = ReleaseNotes::new(&plan, "2026-11-26".parse()?).expect("a release");
    /// assert_eq!(
    ///     notes.to_markdown(),
    ///     concat!(
    ///         "## [0.1.0] - 2026-11-26\n\n",
    ///         "### Features\n\n- first (aaaaaaa)\n\n",
    ///         "### Bug Fixes\n\n- **cli:** exit 2 on a bad flag (bbbbbbb)\n",
    ///     ),
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(plan: &Plan, date: Date) -> Option<Self> {
        let release = plan.release().ok()?;
        let mut sections: Vec<Section> = SectionKind::ALL
            .iter()
            .map(|&kind| Section {
                kind,
                entries: Vec::new(),
            })
            .collect();
        let mut push = |kind: SectionKind, entry: Entry| {
            if let Some(section) = sections.iter_mut().find(|s| s.kind == kind) {
                section.entries.push(entry);
            }
        };
        for change in plan.changes() {
            let Some(commit) = change.conventional() else {
                continue;
            };
            let entry = |text: &str| Entry {
                scope: commit.scope().map(str::to_owned),
                text: text.to_owned(),
                commit: change.id().clone(),
            };
            if let Some(text) = commit.breaking_change() {
                push(SectionKind::Breaking, entry(text));
            }
            if let Some(kind) = SectionKind::of(commit.commit_type()) {
                push(kind, entry(commit.description()));
            }
        }
        sections.retain(|s| !s.entries.is_empty());
        Some(Self {
            version: release.version().clone(),
            date,
            sections,
        })
    }

    /// The version released.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The release date.
    pub fn date(&self) -> Date {
        self.date
    }

    /// The non-empty sections, in print order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The notes as Markdown: `## [version] - date`, then one `###`
    /// section per kind, each entry `- **scope:** text (short id)`. Lines
    /// of a multi-line text are indented to stay in their list item. Ends
    /// with one newline.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("## [{}] - {}\n", self.version, self.date);
        if self.sections.is_empty() {
            out.push_str("\nNo notable changes.\n");
        }
        for section in &self.sections {
            let _ = write!(out, "\n### {}\n\n", section.kind.title());
            for entry in &section.entries {
                out.push_str("- ");
                if let Some(scope) = &entry.scope {
                    let _ = write!(out, "**{scope}:** ");
                }
                for (i, line) in entry.text.lines().enumerate() {
                    if i > 0 {
                        out.push('\n');
                        if !line.is_empty() {
                            out.push_str("  ");
                        }
                    }
                    out.push_str(line);
                }
                let _ = writeln!(out, " ({})", entry.commit.short());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{BranchTip, Commit, History, Tag};
    use crate::plan::{Request, plan};
    use crate::version::{Bump, BumpOverride};

    fn notes(messages: &[&str], request: &Request) -> Option<String> {
        let commits = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let parents = if m.starts_with("Merge") { 2 } else { 1 };
                Commit::new(
                    CommitId::new(format!("{i}{i}{i}{i}{i}{i}{i}{i}")),
                    *m,
                    parents,
                )
            })
            .collect();
        let base = Tag::new("v1.2.0", Version::new(1, 2, 0), CommitId::new("base"));
        let history = History::new(
            BranchTip::new("develop", "refs/heads/develop", CommitId::new("tip")),
            Some(base),
            commits,
        );
        let plan = plan(&history, request).unwrap();
        ReleaseNotes::new(&plan, "2026-11-26".parse().unwrap()).map(|n| n.to_markdown())
    }

    #[test]
    fn full_release() {
        let markdown = notes(
            &[
                "perf(db): index the lookups",
                "Merge branch 'feature/x' into develop",
                "feat(api)!: drop the v1 endpoints\n\nBREAKING CHANGE: clients must use /v2\nand re-authenticate\n\nRefs: #9",
                "fix: handle an empty list",
                "docs: typo",
                "feat: export to CSV",
                "revert: feat: the broken thing",
                "Update something",
                "chore(deps)!: require Rust 1.85",
            ],
            &Request::default(),
        )
        .unwrap();
        assert_eq!(
            markdown,
            "## [2.0.0] - 2026-11-26

### ⚠ BREAKING CHANGES

- **api:** clients must use /v2
  and re-authenticate (2222222)
- **deps:** require Rust 1.85 (8888888)

### Features

- **api:** drop the v1 endpoints (2222222)
- export to CSV (5555555)

### Bug Fixes

- handle an empty list (3333333)

### Performance

- **db:** index the lookups (0000000)

### Reverts

- feat: the broken thing (6666666)
"
        );
    }

    #[test]
    fn multi_paragraph_text_stays_in_the_item() {
        let markdown = notes(
            &["feat: x\n\nBREAKING CHANGE: first\n\nsecond paragraph"],
            &Request::default(),
        )
        .unwrap();
        assert!(
            markdown.contains("- first\n\n  second paragraph (0000000)\n"),
            "{markdown}"
        );
    }

    #[test]
    fn no_release_no_notes() {
        assert_eq!(notes(&["docs: a", "chore: b"], &Request::default()), None);
    }

    #[test]
    fn forced_release_without_notable_changes() {
        let request = Request::default().bump(BumpOverride::Bump(Bump::Patch));
        assert_eq!(
            notes(&["docs: a"], &request).unwrap(),
            "## [1.2.1] - 2026-11-26\n\nNo notable changes.\n"
        );
    }

    #[test]
    fn pre_release_heading() {
        let request = Request::default().pre_release("rc".parse().unwrap());
        let markdown = notes(&["fix: a"], &request).unwrap();
        assert!(
            markdown.starts_with("## [1.2.1-rc.1] - 2026-11-26\n"),
            "{markdown}"
        );
    }
}
