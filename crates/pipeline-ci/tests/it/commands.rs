//! Workflow commands, escaped as `@actions/core` escapes them.

use pipeline_ci::{
    ANNOTATION_LIMIT_PER_STEP, Annotation, Level, Secret, add_mask, annotation, cap_annotations,
    group_end, group_start,
};

#[test]
fn documented_shape() {
    let a = Annotation::new("message")
        .with_file("a.py")
        .with_line(3)
        .with_title("T");
    assert_eq!(
        annotation(Level::Error, &a),
        "::error file=a.py,line=3,title=T::message"
    );
}

#[test]
fn message_escapes_percent_and_line_breaks_only() {
    let a = Annotation::new("50% done: a, b\nnext line\r\nlast %0A");
    assert_eq!(
        annotation(Level::Warning, &a),
        "::warning::50%25 done: a, b%0Anext line%0D%0Alast %250A"
    );
}

#[test]
fn properties_escape_colon_and_comma_too() {
    let a = Annotation::new("m")
        .with_file("dir,1/C:x.py")
        .with_title("a: b, c\n100%");
    assert_eq!(
        annotation(Level::Notice, &a),
        "::notice file=dir%2C1/C%3Ax.py,title=a%3A b%2C c%0A100%25::m"
    );
}

#[test]
fn message_may_contain_double_colons() {
    let a = Annotation::new("::error::not a command");
    assert_eq!(
        annotation(Level::Error, &a),
        "::error::::error::not a command"
    );
}

#[test]
fn every_command_is_a_single_line() {
    let a = Annotation::new("a\nb\rc")
        .with_file("f\n")
        .with_title("t\r");
    for command in [
        annotation(Level::Error, &a),
        add_mask(&Secret::new("one\ntwo\r")),
        group_start("x\ny"),
        group_end(),
    ] {
        assert!(!command.contains(['\n', '\r']), "{command:?}");
        assert!(command.starts_with("::"), "{command:?}");
    }
}

#[test]
fn mask_escapes_as_data() {
    assert_eq!(
        add_mask(&Secret::new("p:a,s%s\nw")),
        "::add-mask::p:a,s%25s%0Aw"
    );
}

#[test]
fn groups() {
    assert_eq!(
        group_start("Run tests: unit, it"),
        "::group::Run tests: unit, it"
    );
    assert_eq!(group_end(), "::endgroup::");
}

#[test]
fn capping_reports_what_was_left_out() {
    let findings: Vec<(Level, u32)> = (0..25)
        .map(|i| (Level::Error, i))
        .chain((0..4).map(|i| (Level::Warning, i)))
        .chain((0..11).map(|i| (Level::Notice, i)))
        .collect();
    let capped = cap_annotations(findings, ANNOTATION_LIMIT_PER_STEP);
    let kept_errors: Vec<u32> = capped
        .kept
        .iter()
        .filter(|(l, _)| *l == Level::Error)
        .map(|(_, i)| *i)
        .collect();
    assert_eq!(kept_errors, (0..10).collect::<Vec<_>>());
    assert_eq!(capped.kept.len(), 10 + 4 + 10);
    assert_eq!(capped.dropped.errors, 15);
    assert_eq!(capped.dropped.warnings, 0);
    assert_eq!(capped.dropped.notices, 1);
    assert_eq!(capped.dropped.of(Level::Error), 15);
}
