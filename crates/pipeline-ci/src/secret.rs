//! Secrets that never print, and redaction of text that might contain them.

use std::fmt;

/// A secret value (token, password, key) whose `Debug` and `Display` print
/// `***`.
///
/// The only way to the value is [`Secret::expose`], so every place that
/// needs it is easy to find. It deliberately implements no `Serialize`.
///
/// ```
/// use pipeline_ci::Secret;
///
/// let token = Secret::new("ghp_123");
/// assert_eq!(format!("{token} {token:?}"), "*** ***");
/// assert_eq!(token.expose(), "ghp_123");
/// ```
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string (an empty secret masks nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces every occurrence of any non-empty secret in `text` with `***`.
///
/// Occurrences that overlap or touch are merged into a single `***`, as the
/// GitHub runner's log masker does, so no fragment of either secret survives
/// (with secrets `abc` and `cde`, `xabcdex` becomes `x***x`).
///
/// ```
/// use pipeline_ci::{redact, Secret};
///
/// let token = Secret::new("hunter2");
/// assert_eq!(redact("login with hunter2", &[&token]), "login with ***");
/// ```
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    // One flag per byte of `text`: does some secret occurrence cover it?
    let mut covered = vec![false; text.len()];
    for secret in secrets.iter().map(|s| s.expose()).filter(|s| !s.is_empty()) {
        let mut from = 0;
        while let Some(found) = text.get(from..).and_then(|rest| rest.find(secret)) {
            let start = from + found;
            let end = start + secret.len();
            if let Some(bytes) = covered.get_mut(start..end) {
                bytes.fill(true);
            }
            // Step one character, not the whole match, to catch overlapping
            // occurrences ("aa" twice in "aaa").
            from = start + secret.chars().next().map_or(1, char::len_utf8);
        }
    }

    let mut out = String::with_capacity(text.len());
    let mut in_secret = false;
    for (index, ch) in text.char_indices() {
        // Occurrences start and end on character boundaries, so the flag of
        // a character's first byte speaks for the whole character.
        if covered.get(index).copied().unwrap_or(false) {
            if !in_secret {
                out.push_str("***");
                in_secret = true;
            }
        } else {
            in_secret = false;
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str, secrets: &[&str]) -> String {
        let owned: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        let refs: Vec<&Secret> = owned.iter().collect();
        redact(text, &refs)
    }

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("p4ss");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{secret:#?}"), "***");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(***)");
        assert_eq!(secret.expose(), "p4ss");
    }

    #[test]
    fn redacts_every_occurrence() {
        assert_eq!(r("a-tok-b-tok", &["tok"]), "a-***-b-***");
    }

    #[test]
    fn empty_secrets_are_ignored() {
        assert_eq!(r("abc", &[""]), "abc");
        assert_eq!(r("", &["x"]), "");
    }

    #[test]
    fn overlapping_and_adjacent_occurrences_merge() {
        assert_eq!(r("xabcdex", &["abc", "cde"]), "x***x");
        assert_eq!(r("aaa", &["aa"]), "***");
        assert_eq!(r("abcabc!", &["abc"]), "***!");
        assert_eq!(r("abcd", &["ab", "cd"]), "***");
    }

    #[test]
    fn longer_secret_containing_a_shorter_one() {
        assert_eq!(r("pre-secret-post", &["secret", "secret-post"]), "pre-***");
    }

    #[test]
    fn unicode_is_kept_intact() {
        assert_eq!(r("clé=🔑é🔑 fin", &["🔑é"]), "clé=***🔑 fin");
        assert_eq!(r("ééé", &["éé"]), "***");
    }
}
