//! The release tags' refs, read from the ref store's files: `packed-refs`
//! and the loose files under `refs/tags/`.
//!
//! Only names that parse as versions are kept, and a loose file is opened
//! only when its name does (a directory only when the tag prefix goes
//! through it). `packed-refs` gives the peeled commit of an annotated tag
//! when git recorded it (the `peeled` trait); everything else is peeled
//! by the caller, through [`crate::pack`] first.
//!
//! libgit2's reference iterator reads and stats every ref of the
//! repository and builds an object for each: about 7 µs a ref, 35 ms for
//! 5,000 loose tags. Here a loose tag costs one `open` and one `read`.
//! Only the files backend exists for libgit2 (a reftable repository does
//! not open), so these files are the whole truth.

use std::path::Path;

use git2::Oid;
use rustc_hash::FxHashSet;

use crate::version::{TagFormat, Version};

/// One release tag's ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TagRef {
    /// Without `refs/tags/`.
    pub(crate) name: String,
    pub(crate) version: Version,
    pub(crate) value: Value,
}

/// What the ref holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    /// An object id; `peeled`, when `packed-refs` recorded it: the object
    /// an annotated tag points at (`Some`), or not a tag object (`None`).
    Id {
        target: Oid,
        peeled: Option<Option<Oid>>,
    },
    /// A symbolic ref, or a file this reader does not understand: for
    /// libgit2 to resolve.
    Other,
}

/// Every ref `refs/tags/<name>` of the repository whose git directory
/// (the common one, for a worktree) is `common` and whose name `format`
/// parses, in no particular order.
///
/// # Errors
///
/// An I/O error reading `packed-refs` or `refs/tags`.
pub(crate) fn release_tag_refs(common: &Path, format: &TagFormat) -> std::io::Result<Vec<TagRef>> {
    let mut packed = Vec::new();
    match std::fs::read(common.join("packed-refs")) {
        Ok(text) => read_packed(&text, format, &mut packed),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut loose = Vec::new();
    read_loose(&common.join("refs/tags"), "", format, &mut loose)?;
    if loose.is_empty() {
        return Ok(packed);
    }
    if !packed.is_empty() {
        // A loose ref wins over a packed one of the same name.
        let names: FxHashSet<&str> = loose.iter().map(|r| r.name.as_str()).collect();
        packed.retain(|r| !names.contains(r.name.as_str()));
        loose.append(&mut packed);
    }
    Ok(loose)
}

/// `packed-refs`: `<id> <ref>` lines, each annotated tag's followed by
/// `^<peeled id>` when the header's traits say `peeled`.
fn read_packed(text: &[u8], format: &TagFormat, refs: &mut Vec<TagRef>) {
    let mut peeled_recorded = false;
    // Whether the last line was a release tag's (the `^` line is its).
    let mut last_is_ours = false;
    for line in text.split(|&b| b == b'\n') {
        if let Some(header) = line.strip_prefix(b"# pack-refs with:") {
            peeled_recorded = header
                .split(|&b| b == b' ')
                .any(|t| t == b"peeled" || t == b"fully-peeled");
            continue;
        }
        if let Some(peeled) = line.strip_prefix(b"^") {
            if let (true, Some(oid)) = (last_is_ours, parse_oid(peeled))
                && let Some(TagRef {
                    value: Value::Id { peeled, .. },
                    ..
                }) = refs.last_mut()
            {
                *peeled = Some(Some(oid));
            }
            last_is_ours = false;
            continue;
        }
        last_is_ours = false;
        let Some((id, name)) = split_once(line, b' ') else {
            continue;
        };
        let Some(name) = name
            .strip_prefix(b"refs/tags/")
            .and_then(|n| std::str::from_utf8(n).ok())
        else {
            continue;
        };
        let Some(version) = format.parse(name) else {
            continue;
        };
        let value = match parse_oid(id) {
            Some(target) => Value::Id {
                target,
                // Recorded peeled: no `^` line means not a tag object.
                peeled: peeled_recorded.then_some(None),
            },
            None => Value::Other,
        };
        refs.push(TagRef {
            name: name.to_owned(),
            version,
            value,
        });
        last_is_ours = true;
    }
}

/// The loose refs under `dir` (`refs/tags/<prefix>`).
fn read_loose(
    dir: &Path,
    prefix: &str,
    format: &TagFormat,
    refs: &mut Vec<TagRef>,
) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    // Files are opened relative to the directory: one path component to
    // look up instead of the whole path, for each of thousands of tags.
    let handle = RefDir::open(dir)?;
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(file) = file_name.to_str() else {
            continue;
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            // A version holds no `/`: names below `d/` parse only when the
            // tag prefix itself goes through `d/`.
            let below = format!("{prefix}{file}/");
            if format.prefix().starts_with(&below) {
                read_loose(&entry.path(), &below, format, refs)?;
            }
            continue;
        }
        let name = if prefix.is_empty() {
            file.to_owned()
        } else {
            format!("{prefix}{file}")
        };
        let Some(version) = format.parse(&name) else {
            continue;
        };
        let value = if kind.is_file() {
            read_loose_ref(&handle, &file_name)
        } else {
            // A symbolic link: libgit2 follows it.
            Value::Other
        };
        refs.push(TagRef {
            name,
            version,
            value,
        });
    }
    Ok(())
}

/// A directory of loose refs, opened once.
struct RefDir {
    /// On Unix, the directory itself: each ref is opened relative to it.
    #[cfg(unix)]
    handle: std::fs::File,
    #[cfg(not(unix))]
    path: std::path::PathBuf,
}

impl RefDir {
    fn open(dir: &Path) -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            std::fs::File::open(dir).map(|handle| Self { handle })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {
                path: dir.to_owned(),
            })
        }
    }

    /// Reads the start of the ref `name` into `buffer`: on Unix one
    /// `openat` and one `read` (no `stat`, no symbolic link followed).
    fn read(&self, name: &std::ffi::OsStr, buffer: &mut [u8]) -> Option<usize> {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            rustix::fs::openat(
                &self.handle,
                name,
                OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
            )
            .and_then(|file| rustix::io::read(&file, buffer))
            .ok()
        }
        #[cfg(not(unix))]
        {
            use std::io::Read as _;
            let mut file = std::fs::File::open(self.path.join(name)).ok()?;
            file.read(buffer).ok()
        }
    }
}

/// The loose ref `name` in the directory `dir`. Like libgit2, the id may
/// be followed by whitespace and anything. A symbolic ref (`ref: …`), a
/// file deleted meanwhile or one that does not read so is
/// [`Value::Other`], for libgit2.
fn read_loose_ref(dir: &RefDir, name: &std::ffi::OsStr) -> Value {
    let mut buffer = [0u8; 64];
    let Some(len) = dir.read(name, &mut buffer) else {
        return Value::Other;
    };
    let text = &buffer[..len];
    let id = text.get(..40).and_then(parse_oid);
    let end = text.get(40).is_none_or(u8::is_ascii_whitespace);
    match (id, end) {
        (Some(target), true) => Value::Id {
            target,
            peeled: None,
        },
        _ => Value::Other,
    }
}

fn parse_oid(hex: &[u8]) -> Option<Oid> {
    if hex.len() != 40 {
        return None;
    }
    Oid::from_str(std::str::from_utf8(hex).ok()?).ok()
}

fn split_once(line: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let i = line.iter().position(|&b| b == at)?;
    Some((&line[..i], &line[i + 1..]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const C: &str = "3333333333333333333333333333333333333333";

    fn oid(hex: &str) -> Oid {
        Oid::from_str(hex).unwrap()
    }

    #[test]
    fn packed_refs_with_and_without_peeled_ids() {
        let text = format!(
            "# pack-refs with: peeled fully-peeled sorted \n{A} refs/heads/develop\n{B} refs/tags/v1.0.0\n^{C}\n{A} refs/tags/v1.1.0\n{A} refs/tags/latest\n{C} refs/tags/v2\n"
        );
        let mut refs = Vec::new();
        read_packed(text.as_bytes(), &TagFormat::default(), &mut refs);
        let values: Vec<(&str, Value)> = refs.iter().map(|r| (r.name.as_str(), r.value)).collect();
        assert_eq!(
            values,
            vec![
                (
                    "v1.0.0",
                    Value::Id {
                        target: oid(B),
                        peeled: Some(Some(oid(C)))
                    }
                ),
                (
                    "v1.1.0",
                    Value::Id {
                        target: oid(A),
                        peeled: Some(None)
                    }
                ),
            ]
        );

        // An old file without the trait: nothing is known peeled.
        let mut refs = Vec::new();
        read_packed(
            format!("{B} refs/tags/v1.0.0\n").as_bytes(),
            &TagFormat::default(),
            &mut refs,
        );
        assert_eq!(
            refs[0].value,
            Value::Id {
                target: oid(B),
                peeled: None
            }
        );
    }

    #[test]
    fn loose_refs_win_and_only_version_names_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let common = dir.path();
        std::fs::write(
            common.join("packed-refs"),
            format!("# pack-refs with: peeled \n{A} refs/tags/v1.0.0\n{A} refs/tags/v0.9.0\n"),
        )
        .unwrap();
        let tags = common.join("refs/tags");
        std::fs::create_dir_all(tags.join("rel/x")).unwrap();
        std::fs::create_dir_all(tags.join("other")).unwrap();
        std::fs::write(tags.join("v1.0.0"), format!("{B}\n")).unwrap();
        std::fs::write(tags.join("v2.0.0"), "ref: refs/tags/v1.0.0\n").unwrap();
        std::fs::write(tags.join("v3.0.0"), format!("{C} trailing words\n")).unwrap();
        std::fs::write(tags.join("v4.0.0"), format!("{C}x\n")).unwrap();
        std::fs::write(tags.join("latest"), format!("{C}\n")).unwrap();
        std::fs::write(tags.join("other/v3.0.0"), format!("{C}\n")).unwrap();
        std::fs::write(tags.join("rel/x/1.2.3"), format!("{C}\n")).unwrap();
        let read = |prefix: &str| -> Vec<(String, Value)> {
            let mut refs: Vec<(String, Value)> = release_tag_refs(common, &TagFormat::new(prefix))
                .unwrap()
                .into_iter()
                .map(|r| (r.name, r.value))
                .collect();
            refs.sort_by(|a, b| a.0.cmp(&b.0));
            refs
        };
        assert_eq!(
            read("v"),
            vec![
                (
                    "v0.9.0".to_owned(),
                    Value::Id {
                        target: oid(A),
                        peeled: Some(None)
                    }
                ),
                (
                    "v1.0.0".to_owned(),
                    Value::Id {
                        target: oid(B),
                        peeled: None
                    }
                ),
                ("v2.0.0".to_owned(), Value::Other),
                (
                    "v3.0.0".to_owned(),
                    Value::Id {
                        target: oid(C),
                        peeled: None
                    }
                ),
                ("v4.0.0".to_owned(), Value::Other),
            ]
        );
        assert_eq!(
            read("rel/x/"),
            vec![(
                "rel/x/1.2.3".to_owned(),
                Value::Id {
                    target: oid(C),
                    peeled: None
                }
            )]
        );
        // No refs at all.
        let empty = tempfile::tempdir().unwrap();
        assert!(
            release_tag_refs(empty.path(), &TagFormat::default())
                .unwrap()
                .is_empty()
        );
    }
}
