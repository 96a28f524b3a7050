//! `unpack`: archives of `package`, Python's zipfile and Info-ZIP come back
//! as they went in; malicious and broken archives are refused and leave
//! nothing behind.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use pipeline_artifact::{PackageOptions, UnpackError, UnpackLimits, Unpacked, package, unpack};
use proptest::prelude::*;

use super::{Tree, tree_strategy, write_tree};

/// What is under a directory: files with their contents and permission
/// bits, directories as `None`. Panics on anything else (links).
fn read_tree(root: &Path) -> BTreeMap<String, Option<(Vec<u8>, u32)>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Option<(Vec<u8>, u32)>>) {
        for item in fs::read_dir(dir).unwrap() {
            let item = item.unwrap();
            let name = format!("{prefix}{}", item.file_name().to_str().unwrap());
            let meta = fs::symlink_metadata(item.path()).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                assert_eq!(mode, 0o755, "{name}/");
                walk(&item.path(), &format!("{name}/"), out);
                out.insert(name, None);
            } else {
                assert!(meta.is_file(), "{name} is not a regular file");
                out.insert(name, Some((fs::read(item.path()).unwrap(), mode)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, "", &mut out);
    out
}

fn files_of(tree: &Tree) -> BTreeMap<String, Option<(Vec<u8>, u32)>> {
    tree.iter()
        .map(|(name, (data, executable))| {
            let mode = if *executable { 0o755 } else { 0o644 };
            (name.clone(), Some((data.clone(), mode)))
        })
        .collect()
}

fn only_files(
    tree: BTreeMap<String, Option<(Vec<u8>, u32)>>,
) -> BTreeMap<String, Option<(Vec<u8>, u32)>> {
    tree.into_iter().filter(|(_, v)| v.is_some()).collect()
}

/// Neither the destination nor a partial directory beside it is left.
fn assert_clean(dest: &Path) {
    assert!(!dest.exists(), "{} was left", dest.display());
    let partial: Vec<_> = fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".partial-"))
        .collect();
    assert!(partial.is_empty(), "left behind: {partial:?}");
}

/// A zip and a destination beside it, in a fresh directory.
struct Case {
    dir: tempfile::TempDir,
    zip: PathBuf,
    dest: PathBuf,
}

impl Case {
    fn new(bytes: &[u8]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("app.zip");
        fs::write(&zip, bytes).unwrap();
        let dest = dir.path().join("release");
        Self { dir, zip, dest }
    }

    fn unpack(&self, limits: &UnpackLimits) -> Result<Unpacked, UnpackError> {
        unpack(&self.zip, &self.dest, limits)
    }

    /// Unpacks with the default limits, expecting a refusal that leaves
    /// nothing behind.
    fn refused(&self) -> UnpackError {
        self.refused_with(&UnpackLimits::default())
    }

    fn refused_with(&self, limits: &UnpackLimits) -> UnpackError {
        let err = self.unpack(limits).unwrap_err();
        assert_clean(&self.dest);
        err
    }

    fn message(&self, rest: &str) -> String {
        format!("{}: {rest}", self.zip.display())
    }
}

/// One entry of an archive built byte by byte.
#[derive(Debug, Clone)]
struct Raw {
    name: Vec<u8>,
    local_name: Option<Vec<u8>>,
    method: u16,
    flags: u16,
    crc: u32,
    size: u32,
    compressed: u32,
    data: Vec<u8>,
    mode: u32,
    descriptor: bool,
    offset: Option<u32>,
}

impl Raw {
    fn stored(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            local_name: None,
            method: 0,
            flags: 0,
            crc: crc32fast::hash(data),
            size: data.len() as u32,
            compressed: data.len() as u32,
            data: data.to_vec(),
            mode: 0o100_644,
            descriptor: false,
            offset: None,
        }
    }

    fn deflated(name: &str, data: &[u8]) -> Self {
        let compressed = deflate(data);
        Self {
            method: 8,
            compressed: compressed.len() as u32,
            data: compressed,
            ..Self::stored(name, data)
        }
    }

    fn dir(name: &str) -> Self {
        Self {
            mode: 0o040_755,
            ..Self::stored(name, b"")
        }
    }
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn build(entries: &[Raw]) -> Vec<u8> {
    build_with_comment(entries, b"")
}

fn build_with_comment(entries: &[Raw], comment: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        offsets.push(out.len() as u32);
        let local_name = e.local_name.as_ref().unwrap_or(&e.name);
        let flags = e.flags | if e.descriptor { 8 } else { 0 };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&e.method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]);
        let (crc, compressed, size) = if e.descriptor {
            (0, 0, 0)
        } else {
            (e.crc, e.compressed, e.size)
        };
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&compressed.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(local_name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(local_name);
        out.extend_from_slice(&e.data);
        if e.descriptor {
            out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
            out.extend_from_slice(&e.crc.to_le_bytes());
            out.extend_from_slice(&e.compressed.to_le_bytes());
            out.extend_from_slice(&e.size.to_le_bytes());
        }
    }
    let cd_offset = out.len() as u32;
    for (e, offset) in entries.iter().zip(offsets) {
        let flags = e.flags | if e.descriptor { 8 } else { 0 };
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 3, 20, 0]);
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&e.method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]);
        out.extend_from_slice(&e.crc.to_le_bytes());
        out.extend_from_slice(&e.compressed.to_le_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 8]); // extra, comment, disk, internal
        out.extend_from_slice(&(e.mode << 16).to_le_bytes());
        out.extend_from_slice(&e.offset.unwrap_or(offset).to_le_bytes());
        out.extend_from_slice(&e.name);
    }
    let cd_size = out.len() as u32 - cd_offset;
    let count = entries.len() as u16;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&(comment.len() as u16).to_le_bytes());
    out.extend_from_slice(comment);
    out
}

/// A small archive with a bit of everything the reader handles.
fn small_zip() -> Vec<u8> {
    let text = b"print('hello')\n".repeat(20);
    build_with_comment(
        &[
            Raw::dir("app/"),
            Raw::deflated("app/main.py", &text),
            Raw {
                mode: 0o100_755,
                ..Raw::stored("app/run.sh", b"#!/bin/sh\n")
            },
            Raw {
                descriptor: true,
                ..Raw::deflated("app/streamed.txt", &text)
            },
            Raw::stored("empty", b""),
        ],
        b"PK\x05\x06 a comment that looks like an end record",
    )
}

#[test]
fn a_hand_built_archive_with_descriptors_and_a_comment_unpacks() {
    let case = Case::new(&small_zip());
    let unpacked = case.unpack(&UnpackLimits::default()).unwrap();
    assert_eq!(unpacked.entries, 5);
    assert_eq!(unpacked.files, 4);
    let text = b"print('hello')\n".repeat(20);
    assert_eq!(unpacked.bytes, 2 * text.len() as u64 + 10);
    let tree = read_tree(&case.dest);
    let expected: BTreeMap<_, _> = [
        ("app".to_owned(), None),
        ("app/main.py".to_owned(), Some((text.clone(), 0o644))),
        (
            "app/run.sh".to_owned(),
            Some((b"#!/bin/sh\n".to_vec(), 0o755)),
        ),
        ("app/streamed.txt".to_owned(), Some((text, 0o644))),
        ("empty".to_owned(), Some((Vec::new(), 0o644))),
    ]
    .into_iter()
    .collect();
    assert_eq!(tree, expected);
    assert_eq!(
        fs::read_dir(case.dir.path()).unwrap().count(),
        2,
        "the zip and the release, nothing else"
    );
}

fn package_tree(tree: &Tree) -> (tempfile::TempDir, PathBuf) {
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), tree, false, SystemTime::now(), 0);
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("app.zip");
    package(
        src.path(),
        &zip,
        &PackageOptions::new().default_excludes(false),
    )
    .unwrap();
    (out, zip)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn package_output_comes_back_as_the_tree(tree in tree_strategy()) {
        let (out, zip) = package_tree(&tree);
        let dest = out.path().join("release");
        let unpacked = unpack(&zip, &dest, &UnpackLimits::default()).unwrap();
        prop_assert_eq!(unpacked.files, tree.len());
        prop_assert_eq!(unpacked.entries, tree.len());
        let bytes: u64 = tree.values().map(|(data, _)| data.len() as u64).sum();
        prop_assert_eq!(unpacked.bytes, bytes);
        prop_assert_eq!(only_files(read_tree(&dest)), files_of(&tree));
    }
}

#[test]
fn package_output_with_executables_and_empty_files_round_trips() {
    let mut tree = Tree::new();
    tree.insert("bin/run".into(), (b"#!/bin/sh\nexit 0\n".to_vec(), true));
    tree.insert("app/main.py".into(), (b"x = 1\n".repeat(5000), false));
    tree.insert("app/empty.txt".into(), (Vec::new(), false));
    tree.insert("é/ü.txt".into(), ("ü".repeat(100).into_bytes(), false));
    let (out, zip) = package_tree(&tree);
    // An empty directory is an acceptable destination.
    let dest = out.path().join("release");
    fs::create_dir(&dest).unwrap();
    let unpacked = unpack(&zip, &dest, &UnpackLimits::default()).unwrap();
    assert_eq!(unpacked.files, 4);
    assert_eq!(only_files(read_tree(&dest)), files_of(&tree));
    assert_clean(&out.path().join("nothing"));
}

fn python(script: &str, dir: &Path) {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn python_zipfile_archives_unpack() {
    let script = r#"
import io, sys, zipfile
out = sys.argv[1]
text = b'hello world\n' * 1000

with zipfile.ZipFile(out + '/seekable.zip', 'w') as z:
    z.comment = b'built by python'
    z.mkdir('dir')
    z.writestr('dir/deflated.txt', text, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr('stored.txt', b'plain', compress_type=zipfile.ZIP_STORED)
    info = zipfile.ZipInfo('bin/run.sh')
    info.external_attr = 0o104755 << 16  # setuid is not restored
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, b'#!/bin/sh\necho hi\n')
    z.writestr('\u00e9.txt', '\u00fc'.encode())

class Unseekable(io.RawIOBase):
    def __init__(self, f):
        self.f = f
    def writable(self):
        return True
    def write(self, b):
        return self.f.write(b)

# On a stream that cannot seek, every entry gets a data descriptor.
with open(out + '/streamed.zip', 'wb') as f:
    with zipfile.ZipFile(Unseekable(f), 'w', compression=zipfile.ZIP_DEFLATED) as z:
        with z.open('a/streamed.txt', 'w') as w:
            w.write(text)
        with z.open('a/zip64.txt', 'w', force_zip64=True) as w:
            w.write(text)
        info = zipfile.ZipInfo('a/stored.bin')
        info.compress_type = zipfile.ZIP_STORED
        with z.open(info, 'w') as w:
            w.write(b'\x00\x01\x02')
        z.writestr('a/small.txt', b'x')
        z.mkdir('empty')
    assert z.infolist()[0].flag_bits & 8
"#;
    let dir = tempfile::tempdir().unwrap();
    python(script, dir.path());
    let text = b"hello world\n".repeat(1000);

    let dest = dir.path().join("seekable");
    let unpacked = unpack(
        &dir.path().join("seekable.zip"),
        &dest,
        &UnpackLimits::default(),
    )
    .unwrap();
    assert_eq!((unpacked.entries, unpacked.files), (5, 4));
    let expected: BTreeMap<_, _> = [
        ("bin".to_owned(), None),
        (
            "bin/run.sh".to_owned(),
            Some((b"#!/bin/sh\necho hi\n".to_vec(), 0o755)),
        ),
        ("dir".to_owned(), None),
        ("dir/deflated.txt".to_owned(), Some((text.clone(), 0o644))),
        ("stored.txt".to_owned(), Some((b"plain".to_vec(), 0o644))),
        ("é.txt".to_owned(), Some(("ü".as_bytes().to_vec(), 0o644))),
    ]
    .into_iter()
    .collect();
    assert_eq!(read_tree(&dest), expected);

    let dest = dir.path().join("streamed");
    let unpacked = unpack(
        &dir.path().join("streamed.zip"),
        &dest,
        &UnpackLimits::default(),
    )
    .unwrap();
    assert_eq!((unpacked.entries, unpacked.files), (5, 4));
    let expected: BTreeMap<_, _> = [
        ("a".to_owned(), None),
        ("a/streamed.txt".to_owned(), Some((text.clone(), 0o644))),
        ("a/zip64.txt".to_owned(), Some((text, 0o644))),
        ("a/stored.bin".to_owned(), Some((vec![0, 1, 2], 0o644))),
        ("a/small.txt".to_owned(), Some((b"x".to_vec(), 0o644))),
        ("empty".to_owned(), None),
    ]
    .into_iter()
    .collect();
    assert_eq!(read_tree(&dest), expected);
}

#[test]
fn info_zip_archives_unpack() {
    let zip = Path::new("/usr/bin/zip");
    if !zip.exists() {
        eprintln!("no Info-ZIP zip at {}: skipped", zip.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let mut tree = Tree::new();
    tree.insert("app/main.py".into(), (b"print('hi')\n".repeat(300), false));
    tree.insert("app/run.sh".into(), (b"#!/bin/sh\n".to_vec(), true));
    tree.insert("app/é.txt".into(), (b"utf-8 name".to_vec(), false));
    tree.insert("app/empty".into(), (Vec::new(), false));
    write_tree(&src, &tree, false, SystemTime::now(), 0);
    fs::create_dir(src.join("app/nothing")).unwrap();
    let shell = |command: &str| {
        let status = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&src)
            .status()
            .unwrap();
        assert!(status.success(), "{command}");
    };
    // Seekable output, with an archive comment.
    shell("zip -q -r ../seekable.zip app && echo 'release 1' | zip -q -z ../seekable.zip");
    // Output to a pipe: data descriptors.
    shell("zip -q -r - app | cat > ../streamed.zip");
    let mut expected = files_of(&tree);
    expected.insert("app".into(), None);
    expected.insert("app/nothing".into(), None);
    for name in ["seekable", "streamed"] {
        let dest = dir.path().join(name);
        let unpacked = unpack(
            &dir.path().join(format!("{name}.zip")),
            &dest,
            &UnpackLimits::default(),
        )
        .unwrap();
        assert_eq!((unpacked.entries, unpacked.files), (6, 4), "{name}");
        assert_eq!(read_tree(&dest), expected, "{name}");
    }
}

#[test]
fn unsafe_names_are_refused_naming_the_entry() {
    for (name, reason) in [
        ("../evil", "path leaves the destination"),
        ("a/../../evil", "path has a `..` component"),
        ("/abs", "absolute path"),
        ("C:/windows/x", "path starts with a drive letter"),
        ("a\\b", "name has a backslash; zip paths are `/`-separated"),
        ("a//b", "path has an empty component"),
        ("./a", "path has a `.` component"),
        ("a\0b", "name has a NUL byte"),
    ] {
        let case = Case::new(&build(&[
            Raw::stored("ok.txt", b"ok"),
            Raw::stored(name, b"x"),
        ]));
        let err = case.refused();
        assert!(
            matches!(&err, UnpackError::UnsafeName { entry, reason: r, .. } if entry == name && *r == reason),
            "{name:?}: {err}"
        );
    }
    let case = Case::new(&build(&[Raw::stored("../evil", b"x")]));
    assert_eq!(
        case.refused().to_string(),
        case.message("entry `../evil`: path leaves the destination")
    );
    let case = Case::new(&build(&[Raw::stored("a\\b", b"x")]));
    assert_eq!(
        case.refused().to_string(),
        case.message("entry `a\\\\b`: name has a backslash; zip paths are `/`-separated")
    );
    let mut raw = Raw::stored("x", b"x");
    raw.name = b"\xffname".to_vec();
    let case = Case::new(&build(&[raw]));
    assert_eq!(
        case.refused().to_string(),
        case.message("entry `\u{fffd}name`: name is not UTF-8")
    );
}

#[test]
fn links_and_special_files_are_refused() {
    for (mode, kind) in [
        (0o120_777, "symbolic link"),
        (0o010_644, "fifo"),
        (0o020_644, "character device"),
        (0o140_644, "socket"),
    ] {
        let case = Case::new(&build(&[Raw {
            mode,
            ..Raw::stored("link", b"/etc/passwd")
        }]));
        let err = case.refused();
        assert!(
            matches!(&err, UnpackError::NotAFile { kind: k, .. } if *k == kind),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            case.message(&format!(
                "entry `link`: is a {kind}; only regular files and directories are extracted"
            ))
        );
    }
}

#[test]
fn duplicate_names_and_file_directory_clashes_are_refused() {
    let case = Case::new(&build(&[
        Raw::stored("a.txt", b"1"),
        Raw::stored("b.txt", b"2"),
        Raw::stored("a.txt", b"3"),
    ]));
    let err = case.refused();
    assert_eq!(
        err.to_string(),
        case.message("entry `a.txt`: appears more than once")
    );

    let case = Case::new(&build(&[Raw::stored("a", b"1"), Raw::stored("a/b", b"2")]));
    let err = case.refused();
    assert_eq!(
        err.to_string(),
        case.message("entry `a/b`: `a` is both a file and a directory")
    );
    let case = Case::new(&build(&[Raw::dir("a/"), Raw::stored("a", b"1")]));
    assert!(matches!(case.refused(), UnpackError::BadEntry { .. }));
}

#[test]
fn data_that_disagrees_with_the_headers_is_refused() {
    // CRC mismatch.
    let case = Case::new(&build(&[Raw {
        crc: 0xdead_beef,
        ..Raw::deflated("a.txt", b"hello hello hello")
    }]));
    let err = case.refused();
    assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().ends_with("the headers say deadbeef"),
        "{err}"
    );

    // A bomb: 4 MiB of zeros declared as 100 bytes, with the CRC of those
    // 100 bytes. Writing stops at the first byte past the declared size.
    let zeros = vec![0u8; 4 << 20];
    let case = Case::new(&build(&[Raw {
        size: 100,
        crc: crc32fast::hash(&zeros[..100]),
        ..Raw::deflated("bomb", &zeros)
    }]));
    assert_eq!(
        case.refused().to_string(),
        case.message("entry `bomb`: more data than the 100 bytes the headers declare")
    );

    // Declared larger than the data.
    let case = Case::new(&build(&[Raw {
        size: 1000,
        ..Raw::deflated("short", b"abc")
    }]));
    assert_eq!(
        case.refused().to_string(),
        case.message("entry `short`: 3 bytes of data, the headers declare 1000")
    );

    // Bytes after the end of the deflate stream.
    let mut raw = Raw::deflated("tail", b"abc");
    raw.data.extend_from_slice(b"junk");
    raw.compressed += 4;
    let case = Case::new(&build(&[raw]));
    assert!(
        case.refused()
            .to_string()
            .ends_with("data after the end of the deflate stream")
    );

    // A deflate stream cut short.
    let mut raw = Raw::deflated("cut", &b"abcdefgh".repeat(1000));
    raw.data.truncate(raw.data.len() / 2);
    raw.compressed = raw.data.len() as u32;
    let case = Case::new(&build(&[raw]));
    assert!(matches!(case.refused(), UnpackError::Corrupt { .. }));

    // The local header names another file.
    let case = Case::new(&build(&[Raw {
        local_name: Some(b"other".to_vec()),
        ..Raw::stored("file", b"x")
    }]));
    assert_eq!(
        case.refused().to_string(),
        case.message("entry `file`: the local header names `other`")
    );

    // Two entries sharing their data.
    let case = Case::new(&build(&[
        Raw::stored("a", b"x"),
        Raw {
            offset: Some(0),
            ..Raw::stored("b", b"x")
        },
    ]));
    assert!(
        case.refused()
            .to_string()
            .ends_with("overlaps the entry before it"),
    );
}

#[test]
fn unsupported_methods_and_encryption_are_refused() {
    let case = Case::new(&build(&[Raw {
        method: 12,
        ..Raw::stored("data.bz2", b"BZh9")
    }]));
    let err = case.refused();
    assert!(
        matches!(err, UnpackError::UnsupportedMethod { method: 12, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        case.message(
            "entry `data.bz2`: compression method 12 is not supported (only 0, stored, and 8, deflate)"
        )
    );
    let case = Case::new(&build(&[Raw {
        flags: 1,
        ..Raw::stored("secret", b"x")
    }]));
    assert_eq!(
        case.refused().to_string(),
        case.message("entry `secret`: is encrypted")
    );
}

#[test]
fn limits_stop_bombs_before_anything_is_written() {
    // A bomb: 64 MiB of zeros, which deflate turns into about 64 KiB
    // (1030:1, its best).
    let zeros = vec![0u8; 64 << 20];
    let bytes = build(&[Raw::stored("a", b"a"), Raw::deflated("zeros", &zeros)]);
    let case = Case::new(&bytes);
    let err = case.refused();
    assert!(
        matches!(&err, UnpackError::Ratio { size, max: 200, .. } if *size == (64 << 20) + 1),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        case.message(&format!(
            "it expands from {} to {} bytes, more than 200 times (the limit for archives \
             past 16777216 bytes)",
            bytes.len(),
            (64 << 20) + 1
        ))
    );

    // Past the total, declared: refused from the headers.
    let small = UnpackLimits {
        max_total_bytes: 1 << 20,
        max_ratio: 2000,
        ..UnpackLimits::default()
    };
    assert_eq!(
        case.refused_with(&small).to_string(),
        case.message("entry `zeros`: the archive expands to more than 1048576 bytes (the limit)")
    );

    let few = UnpackLimits {
        max_entries: 1,
        ..UnpackLimits::default()
    };
    assert_eq!(
        case.refused_with(&few).to_string(),
        case.message("2 entries, more than the limit of 1")
    );

    // 4.1 GiB declared by two entries of 2.05 GiB, each without zip64.
    let half = 0x8333_3333u32;
    let lying = build(&[
        Raw {
            size: half,
            ..Raw::deflated("big-1", b"x")
        },
        Raw {
            size: half,
            ..Raw::deflated("big-2", b"x")
        },
    ]);
    let case = Case::new(&lying);
    assert_eq!(
        case.refused().to_string(),
        case.message(&format!(
            "entry `big-2`: the archive expands to more than {} bytes (the limit)",
            4u64 << 30
        ))
    );
}

#[test]
fn files_of_zeros_that_package_makes_unpack_and_bombs_are_not_made() {
    let dir = tempfile::tempdir().unwrap();
    // A small app with 2 MiB of zeros (a sparse data file, padding): 1030:1
    // alone, the ratio of a bomb; then 12 MiB of them.
    for (name, zeros) in [("two", 2usize << 20), ("twelve", 12 << 20)] {
        let src = dir.path().join(name);
        fs::create_dir_all(src.join("data")).unwrap();
        fs::write(src.join("app.py"), "print('hello')\n").unwrap();
        fs::write(src.join("data/zeros.bin"), vec![0u8; zeros]).unwrap();
        let zip = dir.path().join(format!("{name}.zip"));
        package(&src, &zip, &PackageOptions::new()).unwrap();
        let dest = dir.path().join(format!("{name}-release"));
        let unpacked = unpack(&zip, &dest, &UnpackLimits::default()).unwrap();
        assert_eq!(unpacked.bytes, zeros as u64 + 15);
        assert_eq!(fs::read(dest.join("data/zeros.bin")).unwrap().len(), zeros);
    }

    // 40 MiB of zeros and nothing else: what the unpacker refuses as a bomb
    // is not made.
    let src = dir.path().join("forty");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("zeros.bin"), vec![0u8; 40 << 20]).unwrap();
    let zip = dir.path().join("forty.zip");
    let err = package(&src, &zip, &PackageOptions::new()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "{}: the artifact would not unpack: it expands from ",
            zip.display()
        )),
        "{message}"
    );
    assert!(message.contains("more than 200 times"), "{message}");
    assert!(!zip.exists());
    assert!(!dir.path().join("forty.zip.partial").exists());
    // For an unpacker with other limits, it is made, and unpacks there.
    let lenient = UnpackLimits {
        ratio_floor: 64 << 20,
        ..UnpackLimits::default()
    };
    package(&src, &zip, &PackageOptions::new().unpack_limits(lenient)).unwrap();
    unpack(&zip, &dir.path().join("forty-release"), &lenient).unwrap();
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = small_zip();
    for len in 0..bytes.len() {
        let case = Case::new(&bytes[..len]);
        case.refused();
    }
    // And so is garbage after the end record.
    let mut longer = bytes.clone();
    longer.push(0);
    Case::new(&longer).refused();
}

#[test]
fn an_occupied_destination_is_left_alone() {
    let case = Case::new(&small_zip());
    fs::create_dir(&case.dest).unwrap();
    fs::write(case.dest.join("keep"), "mine").unwrap();
    let err = case.unpack(&UnpackLimits::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the destination already exists and is not an empty directory",
            case.dest.display()
        )
    );
    assert_eq!(fs::read_to_string(case.dest.join("keep")).unwrap(), "mine");
    assert_eq!(fs::read_dir(&case.dest).unwrap().count(), 1);
    assert_eq!(fs::read_dir(case.dir.path()).unwrap().count(), 2);

    let case = Case::new(&small_zip());
    fs::write(&case.dest, "a file").unwrap();
    assert!(matches!(
        case.unpack(&UnpackLimits::default()),
        Err(UnpackError::DestinationExists { .. })
    ));
    assert_eq!(fs::read_to_string(&case.dest).unwrap(), "a file");
}

#[test]
fn a_missing_archive_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("release");
    let err = unpack(
        &dir.path().join("missing.zip"),
        &dest,
        &UnpackLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, UnpackError::Read { .. }), "{err}");
    assert_clean(&dest);
}

/// Every path under `dest` is a regular file or a directory inside it.
fn assert_contained(dest: &Path) {
    let root = dest.canonicalize().unwrap();
    for name in read_tree(dest).keys() {
        let path = dest.join(name).canonicalize().unwrap();
        assert!(path.starts_with(&root), "{name} is outside");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_archives_never_panic(
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = small_zip();
        for (index, value) in &changes {
            let at = index.index(bytes.len());
            bytes[at] = *value;
        }
        let case = Case::new(&bytes);
        match case.unpack(&UnpackLimits::default()) {
            Ok(_) => assert_contained(&case.dest),
            Err(_) => assert_clean(&case.dest),
        }
    }
}
