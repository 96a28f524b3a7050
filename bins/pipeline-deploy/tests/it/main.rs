//! `pipeline-deploy` end to end: the real binary on real trees, the archive
//! read back by Python's `zipfile` and Info-ZIP's `unzip`, exit codes, JSON
//! and the GitHub Actions step outputs.
#![allow(clippy::unwrap_used)]

mod azure;
mod cloudrun;

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use predicates::prelude::*;

/// The binary with a clean environment: no CI variables leak in.
fn deploy() -> Command {
    let mut cmd = Command::cargo_bin("pipeline-deploy").unwrap();
    for var in [
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "CI",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// A small Python app: sources, an executable script, a binary file, and
/// what the default exclusions leave out.
const APP: &[(&str, &[u8])] = &[
    ("app/__init__.py", b""),
    (
        "app/main.py",
        b"from flask import Flask\napp = Flask(__name__)\n",
    ),
    (
        "app/static/logo.png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe",
    ),
    ("app/__pycache__/main.cpython-312.pyc", b"\x00\x01"),
    ("app/tests/test_main.py", b"def test(): pass\n"),
    ("requirements.txt", b"flask==3.1.0\n"),
    ("startup.sh", b"#!/bin/sh\nexec gunicorn app.main:app\n"),
    (".venv/pyvenv.cfg", b"home = /usr/bin\n"),
    (".git/HEAD", b"ref: refs/heads/main\n"),
    ("tests/test_app.py", b"def test(): pass\n"),
    ("debug.log", b"noise\n"),
];

/// The files of `APP` that the default exclusions keep, in archive order.
const KEPT: &[&str] = &[
    "app/__init__.py",
    "app/main.py",
    "app/static/logo.png",
    "debug.log",
    "requirements.txt",
    "startup.sh",
];

fn write_app(root: &Path, reverse: bool) {
    let mut files: Vec<_> = APP.to_vec();
    if reverse {
        files.reverse();
    }
    for (name, data) in files {
        let path = root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, data).unwrap();
        if name.ends_with(".sh") {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

fn sh(script: &str, args: &[&Path]) {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "{script}");
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn package(source: &Path, out: &Path) -> Command {
    let mut cmd = deploy();
    cmd.arg("package")
        .arg("--source")
        .arg(source)
        .arg("--out")
        .arg(out);
    cmd
}

fn sha256_hex(path: &Path) -> String {
    pipeline_artifact::sha256_file(path).unwrap().to_string()
}

#[test]
fn package_prints_the_digest_of_an_archive_python_and_unzip_read() {
    let src = tempfile::tempdir().unwrap();
    write_app(src.path(), false);
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("app.zip");
    let output = package(src.path(), &zip).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        stdout(&output),
        format!("{}  {}\n", sha256_hex(&zip), zip.display())
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("packaged 6 files"));
    assert!(!out.path().join("app.zip.partial").exists());

    let script = r#"
import sys, zipfile
src = sys.argv[2]
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None
    for info in z.infolist():
        data = z.read(info)
        with open(src + "/" + info.filename, "rb") as f:
            assert data == f.read(), info.filename
        assert not info.extra, info.filename
        assert info.create_system == 3, info.filename
        print(info.filename, oct(info.external_attr >> 16), info.date_time, info.compress_type)
"#;
    let python = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&zip)
        .arg(src.path())
        .output()
        .unwrap();
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    let listing = stdout(&python);
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(names, KEPT);
    assert!(listing.contains("app/__init__.py 0o100644 (1980, 1, 1, 0, 0, 0) 0\n"));
    assert!(listing.contains("app/main.py 0o100644 (1980, 1, 1, 0, 0, 0) "));
    assert!(listing.contains("startup.sh 0o100755 (1980, 1, 1, 0, 0, 0) "));

    let unzip = std::process::Command::new("unzip")
        .arg("-t")
        .arg(&zip)
        .output()
        .unwrap();
    assert!(unzip.status.success(), "{}", stdout(&unzip));
    assert!(stdout(&unzip).contains("No errors detected"));
}

#[test]
fn the_same_tree_gives_the_same_bytes_whatever_the_times_umask_and_order() {
    let a = tempfile::tempdir().unwrap();
    write_app(a.path(), false);
    // Created in the reverse order, copied under another umask (0600 and
    // 0700 instead of 0644 and 0755), every time changed.
    let b = tempfile::tempdir().unwrap();
    write_app(b.path(), true);
    let c = tempfile::tempdir().unwrap();
    let copy = c.path().join("tree");
    sh(
        "umask 077 && cp -R \"$1\" \"$2\" && find \"$2\" -exec touch -d '2001-02-03 04:05:06' {} +",
        &[b.path(), &copy],
    );
    assert_eq!(
        fs::metadata(copy.join("requirements.txt")).unwrap().mode() & 0o777,
        0o600
    );
    let out = tempfile::tempdir().unwrap();
    let (za, zb) = (out.path().join("a.zip"), out.path().join("b.zip"));
    let first = package(a.path(), &za).output().unwrap();
    let second = package(&copy, &zb)
        .args(["--threads", "1"])
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(fs::read(&za).unwrap(), fs::read(&zb).unwrap());
    let digest = |o: &Output| stdout(o).split(' ').next().unwrap().to_owned();
    assert_eq!(digest(&first), digest(&second));
    // Packaging again replaces the artifact with the same bytes.
    package(a.path(), &zb).assert().code(0);
    assert_eq!(fs::read(&za).unwrap(), fs::read(&zb).unwrap());
}

#[test]
fn exclusions_from_flags_and_the_ignore_file() {
    let src = tempfile::tempdir().unwrap();
    write_app(src.path(), false);
    fs::write(
        src.path().join(".deployignore"),
        "# static files go to the CDN\napp/static/\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("app.zip");
    let output = package(src.path(), &zip)
        .args([
            "--exclude",
            "*.log",
            "--exclude",
            "!app/__init__.py",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["schema"], "pipeline-deploy/package/v1");
    assert_eq!(doc["files"], 4);
    assert_eq!(doc["sha256"], sha256_hex(&zip));
    assert_eq!(doc["size"], fs::metadata(&zip).unwrap().len());
    assert_eq!(doc["artifact"], zip.display().to_string());

    let names = |zip: &Path| {
        let listing = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
            ])
            .arg(zip)
            .output()
            .unwrap();
        stdout(&listing)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&zip),
        [
            "app/__init__.py",
            "app/main.py",
            "requirements.txt",
            "startup.sh"
        ]
    );

    package(src.path(), &zip)
        .args(["--no-default-excludes", "--exclude", "/.git/"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("packaged 10 files"));
    assert!(names(&zip).contains(&".deployignore".to_owned()));
    assert!(names(&zip).contains(&"app/__pycache__/main.cpython-312.pyc".to_owned()));
}

fn in_actions(dir: &Path) -> Command {
    let mut cmd = deploy();
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", dir.join("output"));
    cmd
}

#[test]
fn inside_github_actions_it_writes_the_step_outputs() {
    let src = tempfile::tempdir().unwrap();
    write_app(src.path(), false);
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("app.zip");
    in_actions(out.path())
        .arg("package")
        .arg("--source")
        .arg(src.path())
        .arg("--out")
        .arg(&zip)
        .assert()
        .code(0);
    let outputs = fs::read_to_string(out.path().join("output")).unwrap();
    assert_eq!(
        outputs,
        format!(
            "artifact={}\nsha256={}\nsize={}\n",
            zip.display(),
            sha256_hex(&zip),
            fs::metadata(&zip).unwrap().len()
        )
    );
}

#[test]
fn verify_accepts_the_digest_and_refuses_any_other_with_exit_2() {
    let src = tempfile::tempdir().unwrap();
    write_app(src.path(), false);
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("app.zip");
    package(src.path(), &zip).assert().code(0);
    let good = sha256_hex(&zip);
    deploy()
        .args(["verify", "--artifact"])
        .arg(&zip)
        .args(["--sha256", &good.to_uppercase()])
        .assert()
        .code(0)
        .stdout(format!("{}: OK ({good})\n", zip.display()));
    deploy()
        .args(["verify", "--json", "--artifact"])
        .arg(&zip)
        .args(["--sha256", &good])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"verified\":true"));
    let other = "0".repeat(64);
    deploy()
        .args(["verify", "--artifact"])
        .arg(&zip)
        .args(["--sha256", &other])
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!(
            "error: {}: sha256 is {good}, expected {other}\n",
            zip.display()
        ));
    deploy()
        .args(["verify", "--artifact", "no/such.zip", "--sha256", &good])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read no/such.zip"));
    deploy()
        .args(["verify", "--artifact"])
        .arg(&zip)
        .args(["--sha256", "abc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a SHA-256 digest"));
}

#[test]
fn bad_input_exits_2_naming_the_path() {
    let src = tempfile::tempdir().unwrap();
    write_app(src.path(), false);
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("app.zip");

    package(Path::new("no/such/app"), &zip)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read the source directory no/such/app",
        ));
    package(&src.path().join("requirements.txt"), &zip)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a directory"));
    package(src.path(), &src.path().join("app.zip"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "the artifact {} would be inside the source directory {}",
            src.path().join("app.zip").display(),
            src.path().display()
        )));
    // A missing directory is made (a fresh checkout has no dist/), unless
    // it would be inside the source or cannot be.
    package(src.path(), &out.path().join("missing/dist/app.zip"))
        .assert()
        .code(0);
    assert!(out.path().join("missing/dist/app.zip").is_file());
    package(src.path(), &src.path().join("dist/app.zip"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "would be inside the source directory",
        ));
    assert!(
        !src.path().join("dist").exists(),
        "nothing made inside the source"
    );
    fs::write(out.path().join("a-file"), "x").unwrap();
    package(src.path(), &out.path().join("a-file/app.zip"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a-file/app.zip.partial: Not a directory",
        ));
    package(src.path(), &zip)
        .args(["--exclude", "[oops"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--exclude: bad pattern \"[oops\": unclosed `[`",
        ));
    package(src.path(), &zip)
        .args(["--exclude", "*"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to package"));
    deploy().args(["package", "--source", "x"]).assert().code(2);
    deploy().args(["package", "--bogus"]).assert().code(2);

    let link = src.path().join("app/current");
    std::os::unix::fs::symlink("main.py", &link).unwrap();
    package(src.path(), &zip)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{} is a symbolic link (to main.py)",
            link.display()
        )));
    // Excluded, the link is fine.
    package(src.path(), &zip)
        .args(["--exclude", "app/current"])
        .assert()
        .code(0);
    assert!(!out.path().join("app.zip.partial").exists());
}

#[test]
fn an_unreadable_file_exits_2_naming_it_and_leaves_no_artifact() {
    // Root reads every file whatever its mode: run the binary as `nobody`
    // then, from a copy any user can execute.
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let probe = dir.path().join("probe");
    fs::write(&probe, b"").unwrap();
    let as_root = fs::metadata(&probe).unwrap().uid() == 0;
    let src = dir.path().join("src");
    write_app(&src, false);
    sh("chmod -R a+rX \"$1\"", &[&src]);
    let secret = src.join("app/secret.py");
    fs::write(&secret, b"x").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).unwrap();
    let zip = out.join("app.zip");

    let bin = assert_cmd::cargo::cargo_bin("pipeline-deploy");
    let mut cmd = if as_root {
        let copy = dir.path().join("pipeline-deploy");
        fs::copy(&bin, &copy).unwrap();
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(copy);
        cmd
    } else {
        Command::new(bin)
    };
    cmd.env_remove("GITHUB_ACTIONS")
        .arg("package")
        .arg("--source")
        .arg(&src)
        .arg("--out")
        .arg(&zip)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "error: cannot read {}",
            secret.display()
        )));
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        0,
        "no artifact, no partial file"
    );
}

#[test]
fn help_documents_the_exit_codes_and_ends_with_examples() {
    for sub in ["package", "verify", "local", "azure", "cloud-run"] {
        let mut cmd = deploy();
        cmd.arg(sub);
        if matches!(sub, "local" | "azure" | "cloud-run") {
            cmd.arg("deploy");
        }
        let out = cmd.arg("--help").output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        // One table for every binary, then what this command adds.
        assert!(
            text.contains("Exit codes:\n  0  success\n  1  the step said no"),
            "{text}"
        );
        assert!(text.contains("\n  3  an external system failed"), "{text}");
        assert!(
            text.contains(&format!("Examples:\n  pipeline-deploy {sub}")),
            "{sub}: {text}"
        );
    }
    deploy()
        .args(["package", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("__pycache__/ *.pyc"));
}
