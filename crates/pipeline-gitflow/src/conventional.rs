//! Conventional Commits 1.0.0 messages: `type(scope)!: description`, an
//! optional body, and footers.
//!
//! The rules, from <https://www.conventionalcommits.org/en/v1.0.0/>:
//!
//! - The header is `type`, an optional `(scope)`, an optional `!`, then `: `
//!   and a non-empty description. The type is a word (ASCII letters, digits,
//!   `_` or `-`, starting with a letter); nothing may stand between the parts.
//! - Every unit is case-insensitive (`FEAT:` is `feat:`, `release-as:` is
//!   `Release-As:`) except `BREAKING CHANGE`, which must be uppercase.
//! - The body starts one blank line after the header.
//! - Footers are `Token: value` or `Token #value`; a token is a word with `-`
//!   in place of spaces, except `BREAKING CHANGE`. A value runs until the next
//!   footer token, so it may span lines and paragraphs.
//!
//! Where the footers start is the one judgement call: the footer section is
//! the longest run of trailing paragraphs that each open with a footer line,
//! or starts earlier at the first line opening with `BREAKING CHANGE:` or
//! `BREAKING-CHANGE:` — a breaking change is never mistaken for body text,
//! whatever follows it and even without the blank line before it. A body paragraph that merely looks like `Note: …`
//! stays body unless only footers follow it.

use std::fmt;

/// The type of a conventional commit, compared ignoring case.
///
/// ```
/// use pipeline_gitflow::CommitType;
///
/// assert_eq!(CommitType::parse("FEAT"), CommitType::Feat);
/// assert_eq!(CommitType::parse("wip"), CommitType::Other("wip".to_owned()));
/// assert_eq!(CommitType::Fix.as_str(), "fix");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CommitType {
    /// `feat`: a new feature (a minor release).
    Feat,
    /// `fix`: a bug fix (a patch release).
    Fix,
    /// `perf`: a performance improvement (a patch release).
    Perf,
    /// `revert`: reverts an earlier commit.
    Revert,
    /// `docs`.
    Docs,
    /// `style`.
    Style,
    /// `refactor`.
    Refactor,
    /// `test`.
    Test,
    /// `build`.
    Build,
    /// `ci`.
    Ci,
    /// `chore`.
    Chore,
    /// Any other type, lowercased.
    Other(String),
}

impl CommitType {
    /// The type of `word`, ignoring case.
    pub fn parse(word: &str) -> Self {
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "feat" => Self::Feat,
            "fix" => Self::Fix,
            "perf" => Self::Perf,
            "revert" => Self::Revert,
            "docs" => Self::Docs,
            "style" => Self::Style,
            "refactor" => Self::Refactor,
            "test" => Self::Test,
            "build" => Self::Build,
            "ci" => Self::Ci,
            "chore" => Self::Chore,
            _ => Self::Other(lower),
        }
    }

    /// The type in lowercase.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Feat => "feat",
            Self::Fix => "fix",
            Self::Perf => "perf",
            Self::Revert => "revert",
            Self::Docs => "docs",
            Self::Style => "style",
            Self::Refactor => "refactor",
            Self::Test => "test",
            Self::Build => "build",
            Self::Ci => "ci",
            Self::Chore => "chore",
            Self::Other(other) => other,
        }
    }
}

impl fmt::Display for CommitType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a footer's token is separated from its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Separator {
    /// `Token: value`.
    Colon,
    /// `Token #value` (the `#` belongs to the value, as in `Refs #123`).
    Hash,
}

/// One footer: `Token: value` or `Token #value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Footer {
    token: String,
    separator: Separator,
    value: String,
}

impl Footer {
    /// The token as written (`Reviewed-by`, `BREAKING CHANGE`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The separator.
    pub fn separator(&self) -> Separator {
        self.separator
    }

    /// The value, lines joined with `\n`, blank lines at its ends removed.
    /// With [`Separator::Hash`] it starts with `#`.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether this is `BREAKING CHANGE` or `BREAKING-CHANGE` (uppercase, as
    /// the specification requires).
    pub fn is_breaking_change(&self) -> bool {
        self.separator == Separator::Colon
            && (self.token == "BREAKING CHANGE" || self.token == "BREAKING-CHANGE")
    }

    /// Whether the token is `token`, ignoring case.
    pub fn is(&self, token: &str) -> bool {
        self.token.eq_ignore_ascii_case(token)
    }
}

/// A parsed Conventional Commits message.
///
/// ```
/// use pipeline_gitflow::{CommitType, ConventionalCommit};
///
/// let commit = ConventionalCommit::parse(
///     "feat(api)!: drop the v1 endpoints\n\nThey were deprecated.\n\nRefs #12\nRelease-As: 2.0.0",
/// )?;
/// assert_eq!(commit.commit_type(), &CommitType::Feat);
/// assert_eq!(commit.scope(), Some("api"));
/// assert!(commit.is_breaking());
/// assert_eq!(commit.breaking_change(), Some("drop the v1 endpoints"));
/// assert_eq!(commit.body(), Some("They were deprecated."));
/// assert_eq!(commit.footers().len(), 2);
/// assert_eq!(commit.release_as(), Some("2.0.0"));
/// # Ok::<(), pipeline_gitflow::NotConventional>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConventionalCommit {
    commit_type: CommitType,
    scope: Option<String>,
    bang: bool,
    description: String,
    body: Option<String>,
    footers: Vec<Footer>,
}

/// Why a message is not a Conventional Commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotConventional {
    /// The message is empty or blank.
    #[error("the message is empty")]
    Empty,
    /// The header does not start with a type word.
    #[error("the header does not start with a type")]
    NoType,
    /// The scope's parenthesis is not closed, or the scope is empty or
    /// holds a parenthesis.
    #[error("the scope is empty or not closed")]
    BadScope,
    /// The type (and scope, `!`) is not followed by `: `.
    #[error("the type is not followed by \": \"")]
    NoSeparator,
    /// Nothing follows `: `.
    #[error("the description is empty")]
    EmptyDescription,
}

impl ConventionalCommit {
    /// Parses a whole commit message (header, body, footers).
    ///
    /// Line endings may be `\n` or `\r\n`; blank lines before the header are
    /// skipped, as git does.
    ///
    /// # Errors
    ///
    /// [`NotConventional`] says why the header is not `type(scope)!: description`.
    pub fn parse(message: &str) -> Result<Self, NotConventional> {
        let mut lines = message
            .split('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line))
            .skip_while(|line| line.trim().is_empty());
        let header = lines.next().ok_or(NotConventional::Empty)?;
        let (commit_type, scope, bang, description) = parse_header(header)?;
        let rest: Vec<&str> = lines.collect();
        let (body, footers) = split_body_and_footers(&rest);
        Ok(Self {
            commit_type,
            scope,
            bang,
            description,
            body,
            footers,
        })
    }

    /// The type.
    pub fn commit_type(&self) -> &CommitType {
        &self.commit_type
    }

    /// The scope, without its parentheses.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The description (the header after `: `), trimmed.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The body, blank lines at its ends removed.
    pub fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    /// The footers, in order.
    pub fn footers(&self) -> &[Footer] {
        &self.footers
    }

    /// Whether the header carries `!` before the colon.
    pub fn has_bang(&self) -> bool {
        self.bang
    }

    /// Whether this is a breaking change: `!` in the header or a
    /// `BREAKING CHANGE:`/`BREAKING-CHANGE:` footer.
    pub fn is_breaking(&self) -> bool {
        self.bang || self.footers.iter().any(Footer::is_breaking_change)
    }

    /// What breaks: the first breaking-change footer's text, else (for a
    /// `!` header) the description; `None` when nothing breaks.
    pub fn breaking_change(&self) -> Option<&str> {
        self.footers
            .iter()
            .find(|footer| footer.is_breaking_change() && !footer.value.is_empty())
            .map(Footer::value)
            .or_else(|| self.is_breaking().then_some(self.description.as_str()))
    }

    /// The value of the last `Release-As:` footer, trimmed, unparsed.
    pub fn release_as(&self) -> Option<&str> {
        self.footers
            .iter()
            .rev()
            .find(|footer| footer.separator == Separator::Colon && footer.is("Release-As"))
            .map(|footer| footer.value.trim())
    }
}

type Header = (CommitType, Option<String>, bool, String);

fn parse_header(header: &str) -> Result<Header, NotConventional> {
    let type_len = header
        .char_indices()
        .take_while(|&(i, c)| {
            if i == 0 {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric() || c == '_' || c == '-'
            }
        })
        .count();
    if type_len == 0 {
        return Err(NotConventional::NoType);
    }
    let (word, mut rest) = header.split_at(type_len);
    let mut scope = None;
    if let Some(after) = rest.strip_prefix('(') {
        let close = after.find(')').ok_or(NotConventional::BadScope)?;
        let inner = &after[..close];
        if inner.trim().is_empty() || inner.contains('(') {
            return Err(NotConventional::BadScope);
        }
        scope = Some(inner.to_owned());
        rest = &after[close + 1..];
    }
    let bang = match rest.strip_prefix('!') {
        Some(after) => {
            rest = after;
            true
        }
        None => false,
    };
    let description = rest
        .strip_prefix(": ")
        .ok_or(NotConventional::NoSeparator)?
        .trim();
    if description.is_empty() {
        return Err(NotConventional::EmptyDescription);
    }
    Ok((CommitType::parse(word), scope, bang, description.to_owned()))
}

/// A footer line's token, separator and the value's first line.
fn footer_line(line: &str) -> Option<(&str, Separator, &str)> {
    for token in ["BREAKING CHANGE", "BREAKING-CHANGE"] {
        if let Some(after) = line.strip_prefix(token) {
            if let Some(value) = after.strip_prefix(':') {
                if value.is_empty() || value.starts_with(' ') {
                    return Some((token, Separator::Colon, value.trim()));
                }
            }
        }
    }
    let token_len = line
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
        .count();
    if token_len == 0 || line.as_bytes()[0] == b'-' {
        return None;
    }
    let (token, rest) = line.split_at(token_len);
    if let Some(value) = rest.strip_prefix(':') {
        if value.is_empty() || value.starts_with(' ') {
            return Some((token, Separator::Colon, value.trim()));
        }
    }
    if let Some(value) = rest.strip_prefix(" #") {
        return Some((token, Separator::Hash, line[token_len + 1..].trim_end()))
            .filter(|_| !value.starts_with(' '));
    }
    None
}

fn is_breaking_line(line: &str) -> bool {
    footer_line(line).is_some_and(|(token, separator, _)| {
        separator == Separator::Colon && (token == "BREAKING CHANGE" || token == "BREAKING-CHANGE")
    })
}

fn split_body_and_footers(lines: &[&str]) -> (Option<String>, Vec<Footer>) {
    // Paragraph starts: lines that follow a blank line (the header counts as
    // a paragraph before `lines`).
    let paragraph_starts: Vec<usize> = (0..lines.len())
        .filter(|&i| !lines[i].trim().is_empty() && (i == 0 || lines[i - 1].trim().is_empty()))
        .collect();
    let mut footer_start = lines.len();
    for &start in paragraph_starts.iter().rev() {
        if footer_line(lines[start]).is_some() {
            footer_start = start;
        } else {
            break;
        }
    }
    // A breaking change is never body text, even when the blank line the
    // specification asks for before it is missing.
    if let Some(breaking) = lines.iter().position(|line| is_breaking_line(line)) {
        footer_start = footer_start.min(breaking);
    }

    let body = join_trimmed(&lines[..footer_start]);
    let mut footers: Vec<Footer> = Vec::new();
    let mut value_lines: Vec<&str> = Vec::new();
    for line in &lines[footer_start..] {
        if let Some((token, separator, first)) = footer_line(line) {
            if let Some(last) = footers.last_mut() {
                last.value = join_trimmed(&value_lines).unwrap_or_default();
            }
            value_lines.clear();
            value_lines.push(first);
            footers.push(Footer {
                token: token.to_owned(),
                separator,
                value: String::new(),
            });
        } else {
            value_lines.push(line);
        }
    }
    if let Some(last) = footers.last_mut() {
        last.value = join_trimmed(&value_lines).unwrap_or_default();
    }
    (body, footers)
}

/// The lines joined with `\n`, blank lines at both ends dropped and trailing
/// whitespace trimmed; `None` when nothing is left.
fn join_trimmed(lines: &[&str]) -> Option<String> {
    let first = lines.iter().position(|line| !line.trim().is_empty())?;
    let last = lines.iter().rposition(|line| !line.trim().is_empty())?;
    let mut text = String::new();
    for (i, line) in lines[first..=last].iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(line.trim_end());
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(message: &str) -> ConventionalCommit {
        ConventionalCommit::parse(message).unwrap()
    }

    #[test]
    fn header_forms() {
        let c = parse("feat: add a thing");
        assert_eq!(c.commit_type(), &CommitType::Feat);
        assert_eq!(c.scope(), None);
        assert!(!c.is_breaking());
        assert_eq!(c.description(), "add a thing");

        let c = parse("fix(parser): handle CRLF");
        assert_eq!(c.commit_type(), &CommitType::Fix);
        assert_eq!(c.scope(), Some("parser"));

        let c = parse("refactor(core)!: rename the crate");
        assert!(c.has_bang());
        assert!(c.is_breaking());
        assert_eq!(c.breaking_change(), Some("rename the crate"));

        let c = parse("chore!: drop Node 6");
        assert!(c.is_breaking());
        assert_eq!(c.scope(), None);

        let c = parse("feat(a-b/c d): x");
        assert_eq!(c.scope(), Some("a-b/c d"));

        let c = parse("my-type_2: x");
        assert_eq!(c.commit_type(), &CommitType::Other("my-type_2".into()));
    }

    #[test]
    fn types_are_case_insensitive() {
        assert_eq!(parse("FEAT: x").commit_type(), &CommitType::Feat);
        assert_eq!(parse("Fix: x").commit_type(), &CommitType::Fix);
        assert_eq!(parse("PeRf: x").commit_type(), &CommitType::Perf);
        assert_eq!(
            parse("WIP: x").commit_type(),
            &CommitType::Other("wip".into())
        );
    }

    #[test]
    fn not_conventional() {
        use NotConventional as N;
        for (message, why) in [
            ("", N::Empty),
            ("\n \n", N::Empty),
            ("Merge branch 'feature' into develop", N::NoSeparator),
            ("Merge pull request #12 from org/feat-x", N::NoSeparator),
            ("Revert \"feat: add a thing\"", N::NoSeparator),
            ("fixup! feat: add a thing", N::NoSeparator),
            ("feat:no space", N::NoSeparator),
            ("feat : spaced", N::NoSeparator),
            ("feat (scope): spaced", N::NoSeparator),
            ("feat(): empty scope", N::BadScope),
            ("feat(scope: unclosed", N::BadScope),
            ("feat((x)): nested", N::BadScope),
            ("feat:   ", N::EmptyDescription),
            ("feat: ", N::EmptyDescription),
            ("1feat: digit first", N::NoType),
            ("- feat: bullet", N::NoType),
            ("feat!!: two bangs", N::NoSeparator),
            ("feat!(scope): bang first", N::NoSeparator),
            ("Initial commit", N::NoSeparator),
        ] {
            assert_eq!(ConventionalCommit::parse(message), Err(why), "{message:?}");
        }
    }

    #[test]
    fn leading_blank_lines_and_crlf() {
        let c = parse("\n\r\nfeat: x\r\n\r\nbody line\r\n\r\nRefs: #1\r\n");
        assert_eq!(c.description(), "x");
        assert_eq!(c.body(), Some("body line"));
        assert_eq!(c.footers()[0].value(), "#1");
    }

    #[test]
    fn body_and_footers() {
        let c = parse(
            "fix: prevent racing of requests\n\nIntroduce a request id and a reference to latest request. Dismiss\nincoming responses other than from latest request.\n\nRemove timeouts which were used to mitigate the racing issue but are\nobsolete now.\n\nReviewed-by: Z\nRefs: #123\n",
        );
        assert_eq!(
            c.body(),
            Some(
                "Introduce a request id and a reference to latest request. Dismiss\nincoming responses other than from latest request.\n\nRemove timeouts which were used to mitigate the racing issue but are\nobsolete now."
            )
        );
        assert_eq!(c.footers().len(), 2);
        assert_eq!(c.footers()[0].token(), "Reviewed-by");
        assert_eq!(c.footers()[0].value(), "Z");
        assert_eq!(c.footers()[1].token(), "Refs");
        assert!(!c.is_breaking());
    }

    #[test]
    fn hash_separator() {
        let c = parse("fix: x\n\nCloses #42\nRefs #7 and #8");
        assert_eq!(c.footers().len(), 2);
        assert_eq!(c.footers()[0].separator(), Separator::Hash);
        assert_eq!(c.footers()[0].value(), "#42");
        assert_eq!(c.footers()[1].value(), "#7 and #8");
    }

    #[test]
    fn breaking_change_footers() {
        let c = parse(
            "feat: allow config to extend\n\nBREAKING CHANGE: `extends` key now extends other files",
        );
        assert!(c.is_breaking());
        assert!(!c.has_bang());
        assert_eq!(c.body(), None);
        assert_eq!(
            c.breaking_change(),
            Some("`extends` key now extends other files")
        );

        let c = parse("fix: x\n\nBREAKING-CHANGE: synonym");
        assert!(c.is_breaking());
        assert_eq!(c.breaking_change(), Some("synonym"));

        // Bang and footer: the footer says what breaks.
        let c = parse("feat!: short\n\nBREAKING CHANGE: the long story");
        assert_eq!(c.breaking_change(), Some("the long story"));
    }

    #[test]
    fn breaking_change_must_be_uppercase() {
        for message in [
            "feat: x\n\nbreaking change: nope",
            "feat: x\n\nBreaking Change: nope",
            "feat: x\n\nbreaking-change: nope",
            "feat: x\n\nBREAKING CHANGES: plural is not it",
            "feat: x\n\nBREAKING CHANGE:nospace",
        ] {
            let c = parse(message);
            assert!(!c.is_breaking(), "{message:?}");
            assert_eq!(c.breaking_change(), None, "{message:?}");
        }
        // A lowercase `breaking-change` is a valid token, just not a breaking one.
        let c = parse("feat: x\n\nbreaking-change: nope");
        assert_eq!(c.footers().len(), 1);
    }

    #[test]
    fn multi_paragraph_breaking_change_is_never_lost() {
        let c = parse(
            "feat: x\n\nSome body.\n\nBREAKING CHANGE: the config moved\n\nMigrate by running the tool.\n\nRefs: #1",
        );
        assert!(c.is_breaking());
        assert_eq!(c.body(), Some("Some body."));
        assert_eq!(
            c.breaking_change(),
            Some("the config moved\n\nMigrate by running the tool.")
        );
        assert_eq!(c.footers()[1].token(), "Refs");
    }

    #[test]
    fn breaking_change_without_the_blank_line_is_still_found() {
        let c = parse("feat: x\n\nSome prose.\nBREAKING CHANGE: hidden in the body");
        assert!(c.is_breaking());
        assert_eq!(c.body(), Some("Some prose."));
        assert_eq!(c.breaking_change(), Some("hidden in the body"));
    }

    #[test]
    fn breaking_footer_value_on_following_lines() {
        let c = parse("feat: x\n\nBREAKING CHANGE:\nthe text is below");
        assert!(c.is_breaking());
        assert_eq!(c.breaking_change(), Some("the text is below"));
        // An empty breaking footer falls back to the description.
        let c = parse("feat: describe it\n\nBREAKING CHANGE:");
        assert!(c.is_breaking());
        assert_eq!(c.breaking_change(), Some("describe it"));
    }

    #[test]
    fn body_lines_that_look_like_footers_stay_body_when_text_follows() {
        let c = parse("fix: x\n\nNote: this is prose.\n\nAnd so is this.");
        assert_eq!(c.body(), Some("Note: this is prose.\n\nAnd so is this."));
        assert!(c.footers().is_empty());
        // The last paragraph is footers even with continuation lines.
        let c = parse(
            "fix: x\n\nProse.\n\nSigned-off-by: A <a@example.com>\nCo-authored-by: B <b@example.com>\n  wrapped",
        );
        assert_eq!(c.body(), Some("Prose."));
        assert_eq!(c.footers().len(), 2);
        assert_eq!(c.footers()[1].value(), "B <b@example.com>\n  wrapped");
    }

    #[test]
    fn body_without_blank_line_is_tolerated() {
        let c = parse("feat: x\nbody right away");
        assert_eq!(c.body(), Some("body right away"));
    }

    #[test]
    fn release_as_is_case_insensitive_and_last_wins() {
        let c = parse("chore: release\n\nRelease-As: 2.0.0");
        assert_eq!(c.release_as(), Some("2.0.0"));
        let c = parse("chore: release\n\nrelease-as: 1.0.0\nRELEASE-AS: 3.0.0 ");
        assert_eq!(c.release_as(), Some("3.0.0"));
        let c = parse("chore: release\n\nRelease-As #2.0.0");
        assert_eq!(c.release_as(), None);
    }

    #[test]
    fn footer_tokens() {
        assert_eq!(
            footer_line("Refs: x"),
            Some(("Refs", Separator::Colon, "x"))
        );
        assert_eq!(
            footer_line("Refs #1"),
            Some(("Refs", Separator::Hash, "#1"))
        );
        assert_eq!(footer_line("Two words: x"), None);
        assert_eq!(footer_line("-x: y"), None);
        assert_eq!(footer_line("Refs:x"), None);
        assert_eq!(footer_line("Refs # 1"), None);
        assert_eq!(footer_line("http://example.com"), None);
        assert_eq!(
            footer_line("BREAKING CHANGE: x"),
            Some(("BREAKING CHANGE", Separator::Colon, "x"))
        );
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9_-]{0,9}"
    }

    proptest! {
        #[test]
        fn parse_never_panics(message in "\\PC*(\n\\PC*){0,6}") {
            let _ = ConventionalCommit::parse(&message);
        }

        #[test]
        fn rendered_headers_parse_back(
            kind in word(),
            scope in proptest::option::of("[a-z][a-z0-9 /_.-]{0,8}[a-z]"),
            bang in any::<bool>(),
            description in "[^\\s][^\n\r]{0,40}",
        ) {
            let scope_part = scope.as_ref().map(|s| format!("({s})")).unwrap_or_default();
            let header = format!("{kind}{scope_part}{}: {description}", if bang { "!" } else { "" });
            let c = ConventionalCommit::parse(&header).unwrap();
            prop_assert_eq!(c.commit_type(), &CommitType::parse(&kind));
            prop_assert_eq!(c.scope(), scope.as_deref());
            prop_assert_eq!(c.is_breaking(), bang);
            prop_assert_eq!(c.description(), description.trim());
            prop_assert!(c.footers().is_empty());
        }

        #[test]
        fn a_breaking_footer_anywhere_after_a_blank_line_is_found(
            paragraphs in proptest::collection::vec("[a-z][a-z .]{0,30}", 0..4),
            at in 0usize..4,
            text in "[a-z][a-z ]{0,20}",
            dash in any::<bool>(),
        ) {
            let mut parts: Vec<String> = vec!["fix: x".into()];
            let at = at.min(paragraphs.len());
            parts.extend(paragraphs[..at].iter().cloned());
            let token = if dash { "BREAKING-CHANGE" } else { "BREAKING CHANGE" };
            parts.push(format!("{token}: {text}"));
            parts.extend(paragraphs[at..].iter().cloned());
            let message = parts.join("\n\n");
            let c = ConventionalCommit::parse(&message).unwrap();
            prop_assert!(c.is_breaking());
            prop_assert!(c.breaking_change().unwrap().starts_with(text.trim_end()));
        }
    }
}
