//! The job summary and its 1 MiB limit.

use pipeline_ci::{Env, GitHub, SUMMARY_LIMIT, SummaryError};

use crate::{github, sink};

#[test]
fn appends_markdown_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.md");
    std::fs::write(&path, "# Earlier step\n").unwrap();
    let sink = sink(dir.path());
    sink.append_summary("## Tests\n").unwrap();
    sink.append_summary("| a | b |\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "# Earlier step\n## Tests\n| a | b |\n"
    );
}

#[test]
fn exactly_the_limit_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let github = github(dir.path());
    github
        .append_summary(&"a".repeat(SUMMARY_LIMIT - 1))
        .unwrap();
    assert_eq!(github.summary_room().unwrap(), 1);
    github.append_summary("b").unwrap();
    assert_eq!(github.summary_room().unwrap(), 0);
    let len = std::fs::metadata(dir.path().join("summary.md"))
        .unwrap()
        .len();
    assert_eq!(len, SUMMARY_LIMIT as u64);
}

#[test]
fn a_write_past_the_limit_is_refused_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.md");
    let existing = "x".repeat(SUMMARY_LIMIT - 10);
    std::fs::write(&path, &existing).unwrap();
    let github = github(dir.path());

    let error = github.append_summary(&"y".repeat(11)).unwrap_err();
    match &error {
        SummaryError::TooLarge {
            existing: had,
            adding,
            limit,
            ..
        } => {
            assert_eq!(*had, (SUMMARY_LIMIT - 10) as u64);
            assert_eq!(*adding, 11);
            assert_eq!(*limit, SUMMARY_LIMIT);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(error.to_string().contains("summary.md"), "{error}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), existing);

    // What still fits is accepted.
    github.append_summary(&"y".repeat(10)).unwrap();
}

#[test]
fn one_oversized_write_is_refused_on_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let github = github(dir.path());
    assert_eq!(github.summary_room().unwrap(), SUMMARY_LIMIT);
    let error = github
        .append_summary(&"z".repeat(SUMMARY_LIMIT + 1))
        .unwrap_err();
    assert!(matches!(error, SummaryError::TooLarge { .. }), "{error}");
    let len = std::fs::metadata(dir.path().join("summary.md"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(len, 0);
}

#[test]
fn limit_counts_bytes_not_characters() {
    let dir = tempfile::tempdir().unwrap();
    let github = github(dir.path());
    // 4 bytes per crab: one more crab than fits in the byte budget.
    let crabs = "🦀".repeat(SUMMARY_LIMIT / 4 + 1);
    assert!(matches!(
        github.append_summary(&crabs),
        Err(SummaryError::TooLarge { .. })
    ));
}

#[test]
fn unset_summary_inside_actions_is_an_error() {
    let github = GitHub::from_env(&Env::from_vars([("GITHUB_ACTIONS", "true")])).unwrap();
    assert!(matches!(
        github.append_summary("x"),
        Err(SummaryError::NotConfigured)
    ));
}
