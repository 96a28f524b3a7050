//! What is done to the parsed document, with its spans, before it becomes
//! types: durations checked where they are written, `[defaults]` merged
//! into every `[[environment]]`, and app settings checked against the
//! targets that take them. Every error points at the key or value at
//! fault, in the file where it is written (a defaulted value's error points
//! into `[defaults]`).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A problem at a place of the text: the byte range and the words.
pub(crate) type Fault = (Range<usize>, String);

/// The keys an `[[environment]]` may take from `[defaults]`.
pub(crate) const DEFAULTABLE: [&str; 8] = [
    "target",
    "strategy",
    "validate",
    "verify",
    "auto_rollback",
    "requires",
    "env",
    "secrets",
];

/// The keys each kind of target takes (besides `kind`).
const TARGET_KEYS: [(&str, &[&str]); 3] = [
    (
        "local",
        &[
            "front",
            "command",
            "health_path",
            "health_timeout_secs",
            "keep_warm_secs",
            "drain_timeout_secs",
        ],
    ),
    (
        "azure-app-service",
        &[
            "subscription",
            "resource_group",
            "app",
            "slot",
            "health_path",
        ],
    ),
    (
        "cloud-run",
        &["project", "region", "service", "image", "health_path"],
    ),
];

/// The kinds of target that set app settings and secrets (`env`,
/// `secrets`): the agent's environment of the app, App Service's app
/// settings. The Cloud Run target sets none.
const TAKES_SETTINGS: [&str; 2] = ["local", "azure-app-service"];

/// Variables a deployment sets itself (the agent's `PORT`,
/// `PIPELINE_ENV`, `PIPELINE_SLOT`, `PIPELINE_VERSION`; the App Service
/// target's version and digest settings): `env` and `secrets` may not set
/// them.
pub const RESERVED_VARS: [&str; 5] = [
    "PORT",
    "PIPELINE_ENV",
    "PIPELINE_SLOT",
    "PIPELINE_VERSION",
    "PIPELINE_ARTIFACT_SHA256",
];

fn takes(kind: &str, key: &str) -> bool {
    TARGET_KEYS
        .iter()
        .any(|(k, keys)| *k == kind && keys.contains(&key))
}

/// Durations, defaults and settings, in that order.
pub(crate) fn prepare(root: &mut DeTable<'_>) -> Result<(), Fault> {
    check_durations(root)?;
    apply_defaults(root)?;
    check_settings(root)
}

/// Every `*_secs` value written as a string must be a duration (the app's
/// own `env` and `secrets` are its business, not durations).
fn check_durations(table: &DeTable<'_>) -> Result<(), Fault> {
    for (key, value) in table.iter() {
        if matches!(key.get_ref().as_ref(), "env" | "secrets") {
            continue;
        }
        if key.get_ref().ends_with("_secs")
            && let DeValue::String(s) = value.get_ref()
            && let Err(why) = parse_duration(s)
        {
            return Err((value.span(), format!("{}: {why}", key.get_ref())));
        }
        check_durations_in(value)?;
    }
    Ok(())
}

fn check_durations_in(value: &Spanned<DeValue<'_>>) -> Result<(), Fault> {
    match value.get_ref() {
        DeValue::Table(t) => check_durations(t),
        DeValue::Array(a) => a.iter().try_for_each(check_durations_in),
        _ => Ok(()),
    }
}

/// A duration: an integer number of seconds as a string is refused (write
/// it as a TOML integer); otherwise one or more `<digits><unit>` with the
/// units `h`, `m` and `s`, each at most once and in that order (`30s`,
/// `5m`, `2h`, `1h30m`).
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "`{s}` is not a duration: write seconds as an integer (90) or a string such as \
             \"30s\", \"5m\", \"2h\", \"1h30m\""
        )
    };
    if s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let units = [('h', 3600u64), ('m', 60), ('s', 1)];
    let mut next_unit = 0;
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let Some(i) = units.iter().position(|(u, _)| *u == c) else {
            return Err(bad());
        };
        if digits.is_empty() || i < next_unit {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(units[i].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{s}` is too long a duration"))?;
        next_unit = i + 1;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

fn table_mut<'a, 'i>(v: &'a mut Spanned<DeValue<'i>>) -> Option<&'a mut DeTable<'i>> {
    match v.get_mut() {
        DeValue::Table(t) => Some(t),
        _ => None,
    }
}

fn kind_of(target: Option<&Spanned<DeValue<'_>>>) -> Option<String> {
    match target?.get_ref() {
        DeValue::Table(t) => t
            .get("kind")
            .and_then(|k| k.get_ref().as_str().map(str::to_owned)),
        _ => None,
    }
}

/// Merges `[defaults]` into each `[[environment]]` and takes it out of the
/// document. An environment's own keys win; the tables `target`, `verify`,
/// `requires`, `env` and `secrets` merge key by key; arrays (`validate`,
/// `verify.checks`) are replaced whole. A target key applies to the
/// environments whose kind takes it (so `command` reaches local targets
/// only); `env` and `secrets` to those whose target sets app settings.
fn apply_defaults(root: &mut DeTable<'_>) -> Result<(), Fault> {
    let Some((key, defaults)) = root.remove_entry("defaults") else {
        return Ok(());
    };
    let span = defaults.span();
    let DeValue::Table(defaults) = defaults.into_inner() else {
        return Err((span, "defaults: expected a table ([defaults])".to_owned()));
    };
    let _ = key;
    for (k, v) in defaults.iter() {
        let name = k.get_ref().as_ref();
        if name == "name" {
            return Err((
                k.span(),
                "defaults: `name` cannot have a default: each environment names itself".to_owned(),
            ));
        }
        if !DEFAULTABLE.contains(&name) {
            return Err((
                k.span(),
                format!(
                    "unknown field `{name}` in [defaults], expected one of {}",
                    quoted(&DEFAULTABLE)
                ),
            ));
        }
        if matches!(name, "target" | "verify" | "requires" | "env" | "secrets")
            && !matches!(v.get_ref(), DeValue::Table(_))
        {
            return Err((v.span(), format!("defaults.{name}: expected a table")));
        }
    }
    let default_kind = kind_of(defaults.get("target"));
    if let Some(DeValue::Table(t)) = defaults.get("target").map(Spanned::get_ref) {
        for (k, _) in t.iter() {
            let name = k.get_ref().as_ref();
            let known = name == "kind" || TARGET_KEYS.iter().any(|(_, keys)| keys.contains(&name));
            if !known {
                return Err((
                    k.span(),
                    format!("unknown field `{name}` in [defaults] target"),
                ));
            }
            if let Some(kind) = &default_kind
                && name != "kind"
                && !takes(kind, name)
            {
                return Err((
                    k.span(),
                    format!("defaults.target: a {kind} target has no `{name}`"),
                ));
            }
        }
    }

    let mut used: Vec<String> = Vec::new();
    let mut settings_used = false;
    if let Some(envs) = root.get_mut("environment")
        && let DeValue::Array(envs) = envs.get_mut()
    {
        for env in envs.iter_mut() {
            let Some(env) = table_mut(env) else { continue };
            let kind = kind_of(env.get("target")).or_else(|| default_kind.clone());
            let settings = kind.as_deref().is_some_and(|k| TAKES_SETTINGS.contains(&k));
            settings_used |= settings;
            for (k, v) in defaults.iter() {
                let name = k.get_ref().as_ref();
                match name {
                    "target" => {
                        let Some(kind) = &kind else { continue };
                        let DeValue::Table(dt) = v.get_ref() else {
                            continue;
                        };
                        let own = env.entry(k.clone()).or_insert_with(|| {
                            Spanned::new(v.span(), DeValue::Table(DeTable::new()))
                        });
                        let Some(own) = table_mut(own) else { continue };
                        for (tk, tv) in dt.iter() {
                            let tname = tk.get_ref().as_ref();
                            if tname != "kind" && !takes(kind, tname) {
                                continue;
                            }
                            used.push(tname.to_owned());
                            if !own.contains_key(tname) {
                                own.insert(tk.clone(), tv.clone());
                            }
                        }
                    }
                    "env" | "secrets" if !settings => {}
                    "verify" | "requires" | "env" | "secrets" => {
                        let DeValue::Table(dt) = v.get_ref() else {
                            continue;
                        };
                        let own = env.entry(k.clone()).or_insert_with(|| {
                            Spanned::new(v.span(), DeValue::Table(DeTable::new()))
                        });
                        let Some(own) = table_mut(own) else { continue };
                        for (tk, tv) in dt.iter() {
                            if !own.contains_key(tk.get_ref().as_ref()) {
                                own.insert(tk.clone(), tv.clone());
                            }
                        }
                    }
                    _ => {
                        if !env.contains_key(name) {
                            env.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
    }

    // A default nothing takes is a mistake worth saying.
    if let Some(DeValue::Table(t)) = defaults.get("target").map(Spanned::get_ref) {
        for (k, _) in t.iter() {
            let name = k.get_ref().as_ref();
            if name != "kind" && !used.iter().any(|u| u == name) {
                let kinds: Vec<&str> = TARGET_KEYS
                    .iter()
                    .filter(|(_, keys)| keys.contains(&name))
                    .map(|(kind, _)| *kind)
                    .collect();
                return Err((
                    k.span(),
                    format!(
                        "defaults.target.{name} applies to no environment: it is a key of {} \
                         targets",
                        kinds.join(" and ")
                    ),
                ));
            }
        }
    }
    for name in ["env", "secrets"] {
        if let Some((k, _)) = defaults.get_key_value(name)
            && !settings_used
        {
            return Err((
                k.span(),
                format!(
                    "defaults.{name} applies to no environment: only local and \
                     azure-app-service targets take app settings"
                ),
            ));
        }
    }
    Ok(())
}

/// `env` and `secrets`: variable names, not the agent's own, not both, and
/// only on targets that set app settings.
fn check_settings(root: &DeTable<'_>) -> Result<(), Fault> {
    let Some(DeValue::Array(envs)) = root.get("environment").map(Spanned::get_ref) else {
        return Ok(());
    };
    for env in envs.iter() {
        let DeValue::Table(env) = env.get_ref() else {
            continue;
        };
        let kind = kind_of(env.get("target"));
        for which in ["env", "secrets"] {
            let Some((key, value)) = env.get_key_value(which) else {
                continue;
            };
            if let Some(kind) = &kind
                && !TAKES_SETTINGS.contains(&kind.as_str())
            {
                return Err((
                    key.span(),
                    format!(
                        "{which}: a {kind} target sets no app settings (the Cloud Run target \
                         deploys the image's own configuration); set them on the service, or \
                         use a local or azure-app-service target"
                    ),
                ));
            }
            let DeValue::Table(t) = value.get_ref() else {
                continue;
            };
            for (name, v) in t.iter() {
                let n = name.get_ref().as_ref();
                if !is_var_name(n) {
                    return Err((
                        name.span(),
                        format!("{which}: `{n}` is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"),
                    ));
                }
                if RESERVED_VARS.contains(&n) {
                    return Err((
                        name.span(),
                        format!("{which}: {n} is set by the deployment itself"),
                    ));
                }
                if which == "secrets" {
                    if let DeValue::String(var) = v.get_ref()
                        && !is_var_name(var)
                    {
                        return Err((
                            v.span(),
                            format!(
                                "secrets.{n}: `{var}` is not the name of a variable: a secret \
                                 names the runner's variable that holds it, never its value"
                            ),
                        ));
                    }
                    if let Some(DeValue::Table(plain)) = env.get("env").map(Spanned::get_ref)
                        && plain.contains_key(n)
                    {
                        return Err((
                            name.span(),
                            format!("secrets: {n} is in env too; give it once"),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn quoted(keys: &[&str]) -> String {
    let q: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    q.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (s, secs) in [
            ("30s", 30),
            ("5m", 300),
            ("2h", 7200),
            ("1h30m", 5400),
            ("1h0m5s", 3605),
            ("90m", 5400),
            ("0s", 0),
        ] {
            assert_eq!(parse_duration(s), Ok(secs), "{s}");
        }
        for s in [
            "", "30", "5x", "m", "5m1h", "1h1h", "1.5h", " 5m", "5 m", "5ms", "-5s",
        ] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
        assert!(
            parse_duration("99999999999999999999h")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(
            parse_duration("9999999999999999h")
                .unwrap_err()
                .contains("too long")
        );
    }

    proptest::proptest! {
        #[test]
        fn hours_minutes_and_seconds_add_up(h in 0u64..10_000, m in 0u64..10_000, s in 0u64..10_000) {
            let secs = h * 3600 + m * 60 + s;
            proptest::prop_assert_eq!(parse_duration(&format!("{h}h{m}m{s}s")), Ok(secs));
            proptest::prop_assert_eq!(parse_duration(&format!("{h}h{s}s")), Ok(h * 3600 + s));
            proptest::prop_assert_eq!(parse_duration(&format!("{m}m")), Ok(m * 60));
        }

        #[test]
        fn any_text_is_a_duration_or_an_error_naming_it(text in "\\PC{0,12}") {
            match parse_duration(&text) {
                Ok(_) => proptest::prop_assert!(text.ends_with(['h', 'm', 's'])),
                Err(why) => {
                    let named = format!("`{}`", text);
                    proptest::prop_assert!(why.contains(&named), "{}", why);
                }
            }
        }
    }
}
