//! Exclusion rules in gitignore syntax: the defaults, `.deployignore` and
//! `--exclude` patterns, matched against `/`-separated paths relative to the
//! source root.
//!
//! Supported, as git reads a `.gitignore`: blank lines and `#` comments;
//! `\` escapes (`\#`, `\!`, `\*`, `\ `); `!` to re-include what an earlier
//! rule excluded; a trailing `/` for directories only; a pattern with a `/`
//! other than at its end is anchored at the source root (a leading `/` only
//! anchors), one without matches a name at any depth; `*`, `?` and `[a-z]`,
//! `[!a-z]` within one path segment; `**` as a whole segment for any number of
//! directories (`**/x`, `a/**/b`, `a/**` for everything inside `a`). The
//! last matching rule wins. As in git, a file cannot be re-included when a
//! directory above it is excluded: excluded directories are not entered.

use std::fmt;

/// One parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    /// Where the rule came from (`.deployignore:3`, `--exclude`, `default`).
    origin: String,
    text: String,
    negated: bool,
    dir_only: bool,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of segments (at the end: one or more).
    AnyDepth,
    Glob(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyChar,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A pattern that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternError {
    pub(crate) origin: String,
    pub(crate) pattern: String,
    pub(crate) reason: &'static str,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: pattern {:?}: {}",
            self.origin, self.pattern, self.reason
        )
    }
}

/// An ordered list of rules; the last one matching a path decides.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Adds the lines of an ignore file; `name` is used in error messages.
    pub(crate) fn add_file(&mut self, name: &str, text: &str) -> Result<(), PatternError> {
        for (index, line) in text.lines().enumerate() {
            let origin = format!("{name}:{}", index + 1);
            if let Some(rule) = Rule::parse(line, &origin)? {
                self.rules.push(rule);
            }
        }
        Ok(())
    }

    /// Adds one pattern (a blank one or a comment is an error here: a flag
    /// that excludes nothing is a mistake).
    pub(crate) fn add_pattern(&mut self, origin: &str, pattern: &str) -> Result<(), PatternError> {
        match Rule::parse(pattern, origin)? {
            Some(rule) => {
                self.rules.push(rule);
                Ok(())
            }
            None => Err(PatternError {
                origin: origin.to_owned(),
                pattern: pattern.to_owned(),
                reason: "the pattern is blank or a comment",
            }),
        }
    }

    /// Whether `path` (relative, `/`-separated, no leading or trailing `/`)
    /// is excluded.
    pub(crate) fn is_excluded(&self, path: &str, is_dir: bool) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        self.rules
            .iter()
            .rev()
            .find(|rule| rule.matches(&segments, is_dir))
            .is_some_and(|rule| !rule.negated)
    }
}

impl Rule {
    /// Parses one line; `None` for blank lines and comments.
    fn parse(line: &str, origin: &str) -> Result<Option<Self>, PatternError> {
        let error = |reason| PatternError {
            origin: origin.to_owned(),
            pattern: line.to_owned(),
            reason,
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = trim_unescaped_trailing_spaces(line);
        if line.is_empty() || line.starts_with('#') {
            return Ok(None);
        }
        let (negated, body) = match line.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (dir_only, body) = match body.strip_suffix('/') {
            Some(rest) if !rest.ends_with('\\') => (true, rest),
            _ => (false, body),
        };
        let anchored = body.contains('/');
        let body = body.strip_prefix('/').unwrap_or(body);
        if body.is_empty() {
            return Err(error("the pattern matches nothing"));
        }
        let mut segments = Vec::new();
        if !anchored {
            segments.push(Segment::AnyDepth);
        }
        for part in body.split('/') {
            if part.is_empty() {
                return Err(error("empty path segment (`//`)"));
            }
            if part == "**" {
                if segments.last() != Some(&Segment::AnyDepth) {
                    segments.push(Segment::AnyDepth);
                }
            } else {
                segments.push(Segment::Glob(parse_segment(part).map_err(error)?));
            }
        }
        Ok(Some(Self {
            origin: origin.to_owned(),
            text: line.to_owned(),
            negated,
            dir_only,
            segments,
        }))
    }

    fn matches(&self, path: &[&str], is_dir: bool) -> bool {
        if self.dir_only && !is_dir {
            return false;
        }
        match_segments(&self.segments, path)
    }
}

fn trim_unescaped_trailing_spaces(line: &str) -> &str {
    let mut end = line.len();
    while line[..end].ends_with(' ') {
        let before = &line[..end - 1];
        let backslashes = before.len() - before.trim_end_matches('\\').len();
        if backslashes % 2 == 1 {
            break;
        }
        end -= 1;
    }
    &line[..end]
}

fn parse_segment(part: &str) -> Result<Vec<Token>, &'static str> {
    let mut tokens = Vec::new();
    let mut chars = part.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => tokens.push(Token::Char(escaped)),
                None => return Err("a trailing `\\` escapes nothing"),
            },
            '?' => tokens.push(Token::AnyChar),
            // `**` inside a segment is the same as `*`.
            '*' => {
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
            }
            '[' => {
                let negated = matches!(chars.peek(), Some('!' | '^'));
                if negated {
                    chars.next();
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let Some(mut lo) = chars.next() else {
                        return Err("unclosed `[`");
                    };
                    if lo == ']' && !first {
                        break;
                    }
                    first = false;
                    if lo == '\\' {
                        lo = chars.next().ok_or("unclosed `[`")?;
                    }
                    let mut hi = lo;
                    if chars.peek() == Some(&'-') {
                        let mut ahead = chars.clone();
                        ahead.next();
                        if let Some(&next) = ahead.peek()
                            && next != ']'
                        {
                            chars.next();
                            hi = chars.next().ok_or("unclosed `[`")?;
                            if hi == '\\' {
                                hi = chars.next().ok_or("unclosed `[`")?;
                            }
                            if hi < lo {
                                return Err("a range in `[]` runs backwards");
                            }
                        }
                    }
                    ranges.push((lo, hi));
                }
                tokens.push(Token::Class { negated, ranges });
            }
            other => tokens.push(Token::Char(other)),
        }
    }
    Ok(tokens)
}

fn match_segments(pattern: &[Segment], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((Segment::AnyDepth, rest)) => {
            if rest.is_empty() {
                // A trailing `**` matches everything inside, not the
                // directory itself.
                !path.is_empty()
            } else {
                (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
            }
        }
        Some((Segment::Glob(tokens), rest)) => match path.split_first() {
            Some((name, path_rest)) => match_glob(tokens, name) && match_segments(rest, path_rest),
            None => false,
        },
    }
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Char(expected) => *expected == c,
            Token::AnyChar => true,
            Token::Star => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c)) != *negated
            }
        }
    }
}

/// Glob matching within one segment, with one backtracking point per star.
fn match_glob(tokens: &[Token], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if let Some(token) = tokens.get(t) {
            if *token == Token::Star {
                star = Some((t, n));
                t += 1;
                continue;
            }
            if token.matches(name[n]) {
                t += 1;
                n += 1;
                continue;
            }
        }
        match star {
            Some((star_t, star_n)) => {
                t = star_t + 1;
                n = star_n + 1;
                star = Some((star_t, star_n + 1));
            }
            None => return false,
        }
    }
    tokens[t..].iter().all(|token| *token == Token::Star)
}

impl Rule {
    /// The pattern as written.
    #[cfg(test)]
    fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.text, self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules(lines: &str) -> Rules {
        let mut rules = Rules::default();
        rules.add_file("test", lines).unwrap();
        rules
    }

    #[test]
    fn names_match_at_any_depth() {
        let r = rules("*.pyc\n__pycache__/\n");
        assert!(r.is_excluded("a.pyc", false));
        assert!(r.is_excluded("x/y/a.pyc", false));
        assert!(!r.is_excluded("a.py", false));
        assert!(r.is_excluded("__pycache__", true));
        assert!(r.is_excluded("pkg/__pycache__", true));
        assert!(!r.is_excluded("pkg/__pycache__", false), "dir-only rule");
    }

    #[test]
    fn a_slash_anchors_at_the_root() {
        let r = rules("/build\ndocs/*.md\n");
        assert!(r.is_excluded("build", true));
        assert!(!r.is_excluded("src/build", true));
        assert!(r.is_excluded("docs/a.md", false));
        assert!(!r.is_excluded("docs/sub/a.md", false));
        assert!(!r.is_excluded("x/docs/a.md", false));
    }

    #[test]
    fn double_stars() {
        let r = rules("**/tests/**\n");
        assert!(r.is_excluded("tests/a.py", false));
        assert!(r.is_excluded("a/b/tests/c/d.py", false));
        assert!(
            !r.is_excluded("tests", true),
            "the directory itself is kept"
        );
        let r = rules("a/**/b\n");
        assert!(r.is_excluded("a/b", false));
        assert!(r.is_excluded("a/x/y/b", false));
        assert!(!r.is_excluded("c/a/b", false));
        let r = rules("**/*.log\n");
        assert!(r.is_excluded("x.log", false));
        assert!(r.is_excluded("d/x.log", false));
    }

    #[test]
    fn the_last_matching_rule_wins() {
        let r = rules("*.txt\n!keep.txt\n");
        assert!(r.is_excluded("a.txt", false));
        assert!(!r.is_excluded("keep.txt", false));
        assert!(!r.is_excluded("d/keep.txt", false));
        let r = rules("!keep.txt\n*.txt\n");
        assert!(r.is_excluded("keep.txt", false));
    }

    #[test]
    fn comments_blank_lines_and_escapes() {
        let r = rules("# comment\n\n   \n\\#hash\n\\!bang\nspace\\ \ntrail   \r\n");
        assert!(r.is_excluded("#hash", false));
        assert!(r.is_excluded("!bang", false));
        assert!(r.is_excluded("space ", false));
        assert!(r.is_excluded("trail", false));
        assert!(!r.is_excluded("comment", false));
        assert_eq!(r.rules.len(), 4);
        assert_eq!(r.rules[3].text(), "trail");
    }

    #[test]
    fn classes_and_question_marks() {
        let r = rules("file[0-9].txt\n[!a]?.c\n[]x].md\n");
        assert!(r.is_excluded("file7.txt", false));
        assert!(!r.is_excluded("filex.txt", false));
        assert!(r.is_excluded("bz.c", false));
        assert!(!r.is_excluded("az.c", false));
        assert!(!r.is_excluded("b.c", false));
        assert!(r.is_excluded("].md", false));
        assert!(r.is_excluded("x.md", false));
    }

    #[test]
    fn stars_stay_within_a_segment() {
        let r = rules("src/*.py\n");
        assert!(r.is_excluded("src/a.py", false));
        assert!(!r.is_excluded("src/a/b.py", false));
        let r = rules("*\n");
        assert!(
            r.is_excluded(".hidden", false),
            "gitignore's * matches dotfiles"
        );
    }

    #[test]
    fn bad_patterns_are_named() {
        let mut r = Rules::default();
        let e = r.add_file(".deployignore", "ok\n[abc\n").unwrap_err();
        assert_eq!(e.origin, ".deployignore:2");
        assert_eq!(
            e.to_string(),
            ".deployignore:2: pattern \"[abc\": unclosed `[`"
        );
        assert!(r.add_pattern("--exclude", "/").is_err());
        assert!(r.add_pattern("--exclude", "a//b").is_err());
        assert!(r.add_pattern("--exclude", "# x").is_err());
        assert!(r.add_pattern("--exclude", "[z-a]").is_err());
        assert!(r.add_pattern("--exclude", "a\\").is_err());
    }

    /// A naive reference: a regex-free translation, matched by brute force.
    fn reference(pattern: &str, name: &str) -> bool {
        fn go(p: &[char], n: &[char]) -> bool {
            match p.split_first() {
                None => n.is_empty(),
                Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
                Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
                Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
            }
        }
        let p: Vec<char> = pattern.chars().collect();
        let n: Vec<char> = name.chars().collect();
        go(&p, &n)
    }

    proptest! {
        #[test]
        fn segment_globs_agree_with_brute_force(
            pattern in "[ab*?]{0,8}",
            name in "[ab]{0,10}",
        ) {
            let tokens = parse_segment(&pattern).unwrap();
            prop_assert_eq!(match_glob(&tokens, &name), reference(&pattern, &name));
        }

        #[test]
        fn literal_names_match_only_themselves(name in "[a-z0-9._-]{1,12}", other in "[a-z0-9._-]{1,12}") {
            let r = rules(&format!("/{name}\n"));
            prop_assert!(r.is_excluded(&name, false));
            prop_assert_eq!(r.is_excluded(&other, false), other == name);
        }
    }
}
