//! `pipeline-artifact` through its public API: round trips of random trees,
//! determinism across machines' incidental state, exclusions.
#![allow(clippy::unwrap_used)]

mod reader;
mod unpack;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use pipeline_artifact::{PackageError, PackageOptions, Sha256Digest, package, sha256_file};
use proptest::prelude::*;
use reader::{ReadEntry, read_zip};

type Tree = BTreeMap<String, (Vec<u8>, bool)>;

fn write_tree(root: &Path, tree: &Tree, reverse: bool, mtime: SystemTime, extra_mode: u32) {
    let mut items: Vec<_> = tree.iter().collect();
    if reverse {
        items.reverse();
    }
    for (name, (data, executable)) in items {
        let path = root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, data).unwrap();
        let mode = if *executable { 0o700 } else { 0o600 } | extra_mode;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
}

fn expected(tree: &Tree) -> Vec<ReadEntry> {
    tree.iter()
        .map(|(name, (data, executable))| ReadEntry {
            name: name.clone(),
            mode: if *executable { 0o100_755 } else { 0o100_644 },
            data: data.clone(),
        })
        .collect()
}

fn tree_strategy() -> impl Strategy<Value = Tree> {
    let segment = "[a-zA-Z0-9_.é-]{1,8}".prop_filter("not . or ..", |s| s != "." && s != "..");
    let name = prop::collection::vec(segment, 1..4).prop_map(|parts| parts.join("/"));
    let data = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2000),
        "[a-z \n]{0,3000}".prop_map(String::into_bytes),
    ];
    prop::collection::btree_map(name, (data, any::<bool>()), 1..30).prop_filter(
        "no file is also a directory",
        |tree| {
            tree.keys().all(|name| {
                let dir = format!("{name}/");
                !tree.keys().any(|other| other.starts_with(&dir))
            })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_come_back_byte_for_byte(tree in tree_strategy()) {
        let src = tempfile::tempdir().unwrap();
        write_tree(src.path(), &tree, false, SystemTime::now(), 0);
        let out = tempfile::tempdir().unwrap();
        let zip = out.path().join("app.zip");
        let options = PackageOptions::new().default_excludes(false);
        let artifact = package(src.path(), &zip, &options).unwrap();
        let bytes = fs::read(&zip).unwrap();
        prop_assert_eq!(artifact.size(), bytes.len() as u64);
        prop_assert_eq!(*artifact.sha256(), Sha256Digest::of(&bytes));
        prop_assert_eq!(artifact.files(), tree.len());
        prop_assert_eq!(read_zip(&bytes), expected(&tree));
    }

    #[test]
    fn incidental_state_does_not_change_the_bytes(tree in tree_strategy()) {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write_tree(a.path(), &tree, false, SystemTime::now(), 0o044);
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        write_tree(b.path(), &tree, true, old, 0);
        let out = tempfile::tempdir().unwrap();
        let options = PackageOptions::new().default_excludes(false);
        let za = package(a.path(), &out.path().join("a.zip"), &options).unwrap();
        let zb = package(b.path(), &out.path().join("b.zip"), &options).unwrap();
        prop_assert_eq!(za.sha256(), zb.sha256());
        prop_assert_eq!(
            fs::read(out.path().join("a.zip")).unwrap(),
            fs::read(out.path().join("b.zip")).unwrap()
        );
    }
}

#[test]
fn exclusions_combine_defaults_the_ignore_file_and_flags() {
    let src = tempfile::tempdir().unwrap();
    let files = [
        "app/main.py",
        "app/__pycache__/main.cpython-312.pyc",
        "app/util.pyc",
        "app/tests/test_main.py",
        ".venv/bin/python",
        "venv/lib/x.py",
        ".git/HEAD",
        ".pytest_cache/v",
        "tests/test_x.py",
        "docs/index.md",
        "docs/keep.md",
        "build/out.bin",
        "notes.log",
        "sub/.deployignore",
        "requirements.txt",
    ];
    for name in files {
        let path = src.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, name).unwrap();
    }
    // A link inside an excluded directory is never looked at.
    std::os::unix::fs::symlink("/usr/bin/python3", src.path().join(".venv/bin/python3")).unwrap();
    fs::write(
        src.path().join(".deployignore"),
        "# build output\n/build/\ndocs/*\n!docs/keep.md\n\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("app.zip");
    package(src.path(), &zip, &PackageOptions::new().exclude("*.log")).unwrap();
    let names: Vec<String> = read_zip(&fs::read(&zip).unwrap())
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(
        names,
        [
            "app/main.py",
            "docs/keep.md",
            "requirements.txt",
            "sub/.deployignore"
        ]
    );

    // Without the defaults only the ignore file and the flags apply; the
    // link is then reached and refused.
    let err = package(
        src.path(),
        &zip,
        &PackageOptions::new().default_excludes(false),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PackageError::Symlink { path, .. } if path.ends_with(".venv/bin/python3")),
        "{err}"
    );
    package(
        src.path(),
        &zip,
        &PackageOptions::new()
            .default_excludes(false)
            .exclude(".venv/bin/python3"),
    )
    .unwrap();
    let names: Vec<String> = read_zip(&fs::read(&zip).unwrap())
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut expected: Vec<String> = files
        .iter()
        .filter(|f| !["build/out.bin", "docs/index.md"].contains(f))
        .map(|f| (*f).to_owned())
        .chain([".deployignore".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn bad_patterns_and_empty_results_are_errors() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("a.txt"), "a").unwrap();
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("x.zip");
    let err = package(src.path(), &zip, &PackageOptions::new().exclude("[a")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--exclude: bad pattern \"[a\": unclosed `[`"
    );
    let err = package(src.path(), &zip, &PackageOptions::new().exclude("*")).unwrap_err();
    assert!(matches!(err, PackageError::Empty { .. }), "{err}");
    fs::write(src.path().join(".deployignore"), "ok\n\n[b\n").unwrap();
    let err = package(src.path(), &zip, &PackageOptions::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        ".deployignore:3: bad pattern \"[b\": unclosed `[`"
    );
}

#[test]
fn many_entries_switch_to_zip64_end_records() {
    let src = tempfile::tempdir().unwrap();
    let count = 65_600;
    for dir in 0..41 {
        fs::create_dir(src.path().join(format!("d{dir:02}"))).unwrap();
    }
    for i in 0..count {
        fs::write(src.path().join(format!("d{:02}/{i}", i % 41)), b"").unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("many.zip");
    let artifact = package(src.path(), &zip, &PackageOptions::new()).unwrap();
    assert_eq!(artifact.files(), count);
    let bytes = fs::read(&zip).unwrap();
    assert_eq!(read_zip(&bytes).len(), count);
    assert_eq!(sha256_file(&zip).unwrap(), *artifact.sha256());
    // Python agrees on the count.
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print(len(zipfile.ZipFile(sys.argv[1]).namelist()))",
        ])
        .arg(&zip)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        count.to_string()
    );
}
