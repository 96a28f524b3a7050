//! Secrets never leak through formatting; redaction covers every occurrence.

use pipeline_ci::{Env, Secret, redact};

#[test]
fn formatting_never_shows_the_value() {
    let secret = Secret::new("ghp_abcdef123456");
    let renderings = [
        format!("{secret}"),
        format!("{secret:?}"),
        format!("{secret:#?}"),
        format!("{secret:>30}"),
        format!("{:?}", vec![secret.clone()]),
        format!("{:?}", (Some(&secret), "x")),
    ];
    for rendering in renderings {
        assert!(!rendering.contains("ghp_"), "{rendering}");
        assert!(rendering.contains("***"), "{rendering}");
    }
    assert_eq!(secret.expose(), "ghp_abcdef123456");
}

#[test]
fn secrets_from_the_environment_stay_hidden() {
    let env = Env::from_vars([("GITHUB_TOKEN", "ghs_tokenvalue")]);
    let token = env.get_secret("GITHUB_TOKEN").unwrap();
    assert_eq!(format!("{token:?}"), "***");
    assert!(!format!("{env:?}").contains("ghs_tokenvalue"));
}

#[test]
fn redact_replaces_every_secret_everywhere() {
    let a = Secret::new("hunter2");
    let b = Secret::new("s3cr3t");
    let empty = Secret::new("");
    let text = "user:hunter2@host\npassword=s3cr3t; again hunter2hunter2.";
    assert_eq!(
        redact(text, &[&a, &b, &empty]),
        "user:***@host\npassword=***; again ***."
    );
}

#[test]
fn redact_leaves_text_without_secrets_untouched() {
    let a = Secret::new("zzz");
    assert_eq!(redact("nothing here ✓", &[&a]), "nothing here ✓");
    assert_eq!(redact("nothing here", &[]), "nothing here");
}
