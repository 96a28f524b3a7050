//! Cobertura fixtures: totals checked against a recount made independently
//! of the parser, and per-file results snapshotted.

use pipeline_reports::cobertura::{CoberturaOptions, parse_cobertura_file};
use serde_json::json;

use crate::{fixture, fixtures_in};

/// file, lines covered/valid, branches covered/valid: recounted from the
/// `<line>` elements with a separate script (method lines count only for a
/// class that lists none of its own).
const EXPECTED: &[(&str, [u64; 4])] = &[
    (
        "coveragepy/coveragepy-4.0.3-empty-source.xml",
        [9, 10, 0, 0],
    ),
    (
        "coveragepy/coveragepy-7-whitespace-source.xml",
        [19, 19, 4, 4],
    ),
    (
        "coveragepy/coveragepy-branch-missing-branches.xml",
        [4, 5, 1, 2],
    ),
    // coverage.py 7.18 with --branch: its own lines-covered/valid and
    // branches-covered/valid attributes.
    ("coveragepy/coverage7-branch-combined.xml", [13, 16, 6, 8]),
    ("coveragepy/coverage7-branch-neg.xml", [9, 16, 2, 8]),
    ("coveragepy/coverage7-branch-pos.xml", [11, 16, 4, 8]),
    ("cpp/camelcase-lineRate-empty-complexity.xml", [2, 2, 0, 0]),
    ("cpp/cppcoverage-minimal.xml", [0, 2, 0, 0]),
    ("dotnet/altcover-4.xml", [116, 174, 7, 10]),
    (
        "dotnet/coverlet-deterministic-paths.xml",
        [289, 402, 87, 170],
    ),
    (
        "dotnet/coverlet-windows-backslash-bom.xml",
        [1212, 1460, 262, 378],
    ),
    (
        "dotnet/dotnet-coverage-branch-False.xml",
        [158, 221, 15, 18],
    ),
    ("dotnet/mstest-dotnet-coverage-8.8.xml", [1, 2, 2, 10]),
    ("dotnet/windows-drive-source.xml", [12, 12, 6, 6]),
    ("gcovr/gcovr-5.0.xml", [345, 572, 100, 252]),
    ("gcovr/gcovr-8.6-example.xml", [6, 7, 1, 2]),
    ("gcovr/gcovr-nested-packages.xml", [25, 42, 4, 14]),
    ("go/gocover-cobertura-duplicate-init.xml", [3, 3, 0, 0]),
    (
        "istanbul/istanbul-class-directly-under-packages.xml",
        [51, 51, 16, 16],
    ),
    ("istanbul/istanbul-js.xml", [4, 4, 0, 0]),
    ("istanbul/istanbul-ts-jenkins.xml", [63, 156, 21, 32]),
    (
        "java-cobertura/cobertura-1.9-bogus-source.xml",
        [27, 30, 9, 12],
    ),
    (
        "java-cobertura/cobertura-1.9-coverage-03-dtd.xml",
        [602, 958, 285, 628],
    ),
    (
        "java-cobertura/cobertura-2.1.1-multisource.xml",
        [24, 36, 1, 4],
    ),
    ("matlab/matlab-NaN.xml", [103, 278, 0, 0]),
    (
        "misc/branch-without-condition-coverage.xml",
        [37, 40, 10, 16],
    ),
    ("misc/duplicate-line-numbers-templates.xml", [5, 7, 6, 14]),
    ("misc/empty-class-name-filename.xml", [97, 97, 31, 32]),
    ("reportgenerator/reportgenerator-output.xml", [70, 97, 4, 8]),
    ("simplecov/simplecov-cobertura-2.1.xml", [16, 16, 0, 0]),
    ("swift/swift-float-counts-no-classes.xml", [1, 2, 0, 0]),
];

#[test]
fn totals_match_an_independent_recount() {
    assert_eq!(fixtures_in("cobertura", "xml").len(), EXPECTED.len());
    let mut wrong = Vec::new();
    for (file, expected) in EXPECTED {
        let report = parse_cobertura_file(
            &fixture(&format!("cobertura/{file}")),
            &CoberturaOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = [
            report.lines_covered,
            report.lines_valid,
            report.branches_covered,
            report.branches_valid,
        ];
        if got != *expected {
            wrong.push(format!("{file}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn fixtures_read_as_snapshotted() {
    for path in fixtures_in("cobertura", "xml") {
        let report = parse_cobertura_file(&path, &CoberturaOptions::default()).unwrap();
        let name = path
            .strip_prefix(fixture("cobertura"))
            .unwrap()
            .to_string_lossy()
            .replace(['/', '.'], "_");
        let files: Vec<String> = report
            .files
            .iter()
            .take(12)
            .map(|f| {
                format!(
                    "{} {}/{} {}/{}",
                    f.file, f.lines_covered, f.lines_valid, f.branches_covered, f.branches_valid
                )
            })
            .collect();
        let warnings: Vec<String> = report
            .warnings
            .iter()
            .map(|w| {
                w.rsplit_once(".xml: ")
                    .map_or(w.clone(), |(_, rest)| rest.to_owned())
            })
            .collect();
        insta::assert_json_snapshot!(
            name,
            json!({
                "line_percent": report.line_percent().map(|p| (p * 100.0).round() / 100.0),
                "branch_percent": report.branch_percent().map(|p| (p * 100.0).round() / 100.0),
                "files": report.files.len(),
                "first_files": files,
                "warnings": warnings,
            })
        );
    }
}

#[test]
fn paths_resolve_against_sources_that_exist_in_the_workspace() {
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(workspace.path().join("src/pkg")).unwrap();
    std::fs::write(workspace.path().join("src/pkg/mod.py"), "x = 1\n").unwrap();
    let xml = format!(
        r#"<coverage><sources><source>/nonexistent/elsewhere</source><source>
            {}/src
        </source></sources><packages><package><classes>
        <class filename="pkg/mod.py"><lines><line number="1" hits="1"/></lines></class>
        <class filename="pkg/gone.py"><lines><line number="1" hits="0"/></lines></class>
        </classes></package></packages></coverage>"#,
        workspace.path().display()
    );
    let report = pipeline_reports::cobertura::parse_cobertura_slice(
        xml.as_bytes(),
        std::path::Path::new("coverage.xml"),
        &CoberturaOptions::default().workspace(workspace.path()),
    )
    .unwrap();
    let files: Vec<&str> = report.files.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(files, vec!["pkg/gone.py", "src/pkg/mod.py"]);
}

#[test]
fn a_source_from_another_machine_is_found_under_the_workspace() {
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(workspace.path().join("src/pkg")).unwrap();
    std::fs::write(workspace.path().join("src/pkg/m.py"), "x = 1\n").unwrap();
    let xml = r#"<coverage><sources><source>/nonexistent-container-root/app/src</source></sources><packages><package><classes>
        <class filename="pkg/m.py"><lines><line number="1" hits="1"/></lines></class>
        </classes></package></packages></coverage>"#;
    let report = pipeline_reports::cobertura::parse_cobertura_slice(
        xml.as_bytes(),
        std::path::Path::new("coverage.xml"),
        &CoberturaOptions::default().workspace(workspace.path()),
    )
    .unwrap();
    assert_eq!(report.files[0].file, "src/pkg/m.py");
}

#[test]
fn reports_merge_as_a_union_of_lines() {
    let a = r#"<coverage><packages><package><classes><class filename="m.py"><lines>
        <line number="1" hits="1"/><line number="2" hits="0"/><line number="3" hits="0"/></lines></class></classes></package></packages></coverage>"#;
    let b = r#"<coverage><packages><package><classes><class filename="m.py"><lines>
        <line number="2" hits="4"/><line number="4" hits="0"/></lines></class></classes></package></packages></coverage>"#;
    let read = |x: &str| {
        pipeline_reports::cobertura::parse_cobertura_slice(
            x.as_bytes(),
            std::path::Path::new("c.xml"),
            &CoberturaOptions::default(),
        )
        .unwrap()
    };
    let mut merged = read(a);
    merged.merge(read(b));
    assert_eq!((merged.lines_covered, merged.lines_valid), (2, 4));
    assert_eq!(merged.files.len(), 1);
}
