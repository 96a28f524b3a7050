//! Names every step must agree on.

/// Whether `name` is a valid deployment environment name,
/// `[a-z0-9][a-z0-9-]{0,39}`: what `pipeline.toml`, the local agent and the
/// state stores' refs all accept, so a name one takes the others take too.
pub fn valid_env_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 40
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}
