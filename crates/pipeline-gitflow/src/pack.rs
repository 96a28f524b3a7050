//! Peeling many objects straight from the pack files, without libgit2's
//! object layer: the type of each object and, for an annotated tag, what
//! it points at.
//!
//! Finding the release tags has to peel every annotated tag whose name is
//! a version when the refs are loose (`git fetch` into a fresh `git init`,
//! and `fast-import`, leave them so, without the peeled ids `packed-refs`
//! records). Through libgit2 each peel inflates the whole tag object,
//! hashes it and parses it into a cached object: about 6 µs a tag, 30 ms
//! for 5,000 tags. Here the pack index is searched in a few large reads,
//! the entries are read in runs (tags sit together in a pack) and only the
//! first 60 bytes of each tag object are inflated (`object <id>` and
//! `type <kind>`), with one reused zlib stream.
//!
//! This is a fast path, never the only one: whatever it does not find
//! with certainty (loose objects, alternates, deltified entries, an index
//! it does not read, a tag of a tag) is answered `None`, and the caller
//! asks libgit2. Like git, it does not hash the objects it reads; the
//! commits the history is made of are read through libgit2.

use std::fs::File;
use std::path::Path;

use flate2::{Decompress, FlushDecompress};
use git2::Oid;

/// What an object is, as far as peeling a tag needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Object {
    /// A commit.
    Commit,
    /// An annotated tag of the commit `target`.
    TagOfCommit(Oid),
    /// A tree or a blob, or a tag of one (never a release).
    NotACommit,
}

/// The pack files of one object directory (`objects/pack/*.idx` version 2
/// with their `.pack`).
#[derive(Debug)]
pub(crate) struct Packs {
    packs: Vec<Pack>,
}

#[derive(Debug)]
struct Pack {
    idx: File,
    pack: File,
    fanout: [u32; 256],
    count: u64,
}

/// Bytes of a pack entry read for one object: its header and enough of a
/// tag's compressed start for `object <40 hex>\ntype <kind>\n` (a dynamic
/// Huffman block's tables take up to a few hundred bytes before it; too
/// short, and libgit2 answers).
const ENTRY: u64 = 512;
/// Entries closer than this are read in one run.
const GAP: u64 = 4096;
/// The longest run read at once.
const RUN: u64 = 1 << 20;
const HEADER: u64 = 8 + 256 * 4;

impl Packs {
    /// The packs in `objects/pack` (none when it cannot be read).
    pub(crate) fn open(objects: &Path) -> Self {
        let mut packs = Vec::new();
        if let Ok(entries) = std::fs::read_dir(objects.join("pack")) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "idx")
                    && let Some(pack) = Pack::open(&path)
                {
                    packs.push(pack);
                }
            }
        }
        Self { packs }
    }

    /// What each of `oids` is, when found in a pack with certainty;
    /// `None` for the caller to ask libgit2.
    pub(crate) fn peel(&self, oids: &[Oid]) -> Vec<Option<Object>> {
        let mut out = vec![None; oids.len()];
        let mut order: Vec<usize> = (0..oids.len()).collect();
        order.sort_unstable_by_key(|&i| oids[i]);
        let mut inflate = Decompress::new(true);
        for pack in &self.packs {
            let wanted: Vec<(Oid, usize)> = order
                .iter()
                .filter(|&&i| out[i].is_none())
                .map(|&i| (oids[i], i))
                .collect();
            if wanted.is_empty() {
                break;
            }
            let mut entries = pack.find(&wanted);
            entries.sort_unstable();
            pack.read_entries(&entries, &mut inflate, &mut out);
        }
        out
    }
}

impl Pack {
    fn open(idx_path: &Path) -> Option<Self> {
        let idx = File::open(idx_path).ok()?;
        let pack = File::open(idx_path.with_extension("pack")).ok()?;
        let mut head = [0u8; HEADER as usize];
        read_exact_at(&idx, &mut head, 0).ok()?;
        if head[..4] != [0xff, b't', b'O', b'c'] || head[4..8] != [0, 0, 0, 2] {
            return None;
        }
        let mut fanout = [0u32; 256];
        for (i, slot) in fanout.iter_mut().enumerate() {
            *slot = be32(&head[8 + i * 4..]);
        }
        if fanout.windows(2).any(|w| w[0] > w[1]) {
            return None;
        }
        let count = u64::from(fanout[255]);
        // Ids, CRCs and offsets, then two checksums: anything shorter is
        // not an index this code reads.
        let length = idx.metadata().ok()?.len();
        if length < HEADER + count * 28 + 40 {
            return None;
        }
        Some(Self {
            idx,
            pack,
            fanout,
            count,
        })
    }

    /// The pack offsets of those of `wanted` (sorted by id) this pack
    /// holds: `(offset, index into the caller's list)`.
    fn find(&self, wanted: &[(Oid, usize)]) -> Vec<(u64, usize)> {
        let mut found = Vec::new();
        // One buffer for every read of the index: no fresh pages each time.
        let mut ids = Vec::new();
        let mut start = 0;
        while start < wanted.len() {
            let first = wanted[start].0.as_bytes()[0];
            let end = start
                + wanted[start..]
                    .iter()
                    .take_while(|(oid, _)| oid.as_bytes()[0] == first)
                    .count();
            self.find_in_bucket(first, &wanted[start..end], &mut ids, &mut found);
            start = end;
        }
        found
    }

    /// The ids whose first byte is `byte`: windows around where a uniform
    /// hash puts each, read merged; an id outside its window is left to
    /// libgit2 rather than searched for with more reads.
    fn find_in_bucket(
        &self,
        byte: u8,
        wanted: &[(Oid, usize)],
        ids: &mut Vec<u8>,
        found: &mut Vec<(u64, usize)>,
    ) {
        let lo = if byte == 0 {
            0
        } else {
            u64::from(self.fanout[usize::from(byte) - 1])
        };
        let hi = u64::from(self.fanout[usize::from(byte)]);
        let n = hi - lo;
        if n == 0 {
            return;
        }
        // Four standard deviations of the binomial spread, at least 32.
        let spread = (4 * n.isqrt()).max(32);
        let windows: Vec<(u64, u64)> = wanted
            .iter()
            .map(|(oid, _)| {
                let bytes = oid.as_bytes();
                let key = u64::from(u16::from_be_bytes([bytes[1], bytes[2]]));
                let estimate = lo + ((key * n) >> 16);
                (
                    estimate.saturating_sub(spread).max(lo),
                    (estimate + spread + 1).min(hi),
                )
            })
            .collect();
        let mut i = 0;
        while i < wanted.len() {
            // Merge the overlapping windows (estimates rise with the ids).
            let (from, mut to) = windows[i];
            let mut j = i + 1;
            while j < wanted.len() && windows[j].0 <= to {
                to = to.max(windows[j].1);
                j += 1;
            }
            ids.resize(usize::try_from((to - from) * 20).unwrap_or(0), 0);
            if read_exact_at(&self.idx, ids, HEADER + from * 20).is_ok() {
                let mut positions = Vec::new();
                for (oid, index) in &wanted[i..j] {
                    if let Some(at) = search(ids, oid.as_bytes()) {
                        positions.push((from + at as u64, *index));
                    }
                }
                self.offsets(&positions, found);
            }
            i = j;
        }
    }

    /// The offsets of the entries at `positions`, read in one run.
    fn offsets(&self, positions: &[(u64, usize)], found: &mut Vec<(u64, usize)>) {
        let (Some(first), Some(last)) = (positions.first(), positions.last()) else {
            return;
        };
        let table = HEADER + self.count * 24;
        let mut raw = vec![0u8; usize::try_from((last.0 - first.0 + 1) * 4).unwrap_or(0)];
        if read_exact_at(&self.idx, &mut raw, table + first.0 * 4).is_err() {
            return;
        }
        for &(position, index) in positions {
            let at = usize::try_from((position - first.0) * 4).unwrap_or(usize::MAX);
            let Some(value) = raw.get(at..at + 4).map(be32) else {
                continue;
            };
            let offset = if value & 0x8000_0000 == 0 {
                u64::from(value)
            } else {
                // A pack over 2 GiB: the offset is in the 64-bit table.
                let large = HEADER + self.count * 28 + u64::from(value & 0x7fff_ffff) * 8;
                let mut wide = [0u8; 8];
                if read_exact_at(&self.idx, &mut wide, large).is_err() {
                    continue;
                }
                u64::from_be_bytes(wide)
            };
            found.push((offset, index));
        }
    }

    /// Reads the entries at `entries` (sorted by offset) in runs and says
    /// what each object is.
    fn read_entries(
        &self,
        entries: &[(u64, usize)],
        inflate: &mut Decompress,
        out: &mut [Option<Object>],
    ) {
        let mut i = 0;
        let mut buffer = Vec::new();
        while i < entries.len() {
            let start = entries[i].0;
            let mut end = start + ENTRY;
            let mut j = i + 1;
            while j < entries.len()
                && entries[j].0 <= end + GAP
                && entries[j].0 + ENTRY - start <= RUN
            {
                end = entries[j].0 + ENTRY;
                j += 1;
            }
            buffer.resize(usize::try_from(end - start).unwrap_or(0), 0);
            let read = read_at_most(&self.pack, &mut buffer, start);
            for &(offset, index) in &entries[i..j] {
                let from = usize::try_from(offset - start).unwrap_or(usize::MAX);
                if let Some(entry) = buffer.get(from..read) {
                    out[index] = object(entry, inflate);
                }
            }
            i = j;
        }
    }
}

/// One positional read (on Windows it also moves the file's cursor, which
/// nothing here relies on: every read says where).
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buffer, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buffer, offset)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (file, buffer, offset);
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

/// Fills `buffer` from `offset`, or fails (an early end included).
fn read_exact_at(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<()> {
    if read_at_most(file, buffer, offset) == buffer.len() {
        Ok(())
    } else {
        Err(std::io::ErrorKind::UnexpectedEof.into())
    }
}

/// Reads into `buffer` from `offset` until it is full or the file ends;
/// the number of bytes read.
fn read_at_most(file: &File, buffer: &mut [u8], offset: u64) -> usize {
    let mut done = 0;
    while done < buffer.len() {
        match read_at(file, &mut buffer[done..], offset + done as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => done += n,
        }
    }
    done
}

/// What the pack entry starting `entry` holds, when it can tell.
fn object(entry: &[u8], inflate: &mut Decompress) -> Option<Object> {
    let first = *entry.first()?;
    let kind = (first >> 4) & 7;
    // The size's continuation bytes.
    let mut at = 1;
    let mut byte = first;
    while byte & 0x80 != 0 {
        byte = *entry.get(at)?;
        at += 1;
    }
    match kind {
        1 => Some(Object::Commit),
        2 | 3 => Some(Object::NotACommit),
        4 => {
            let mut text = [0u8; 64];
            inflate.reset(true);
            // Partial output is what is wanted: the status does not matter,
            // only whether the first lines came out whole.
            let _ = inflate.decompress(&entry[at..], &mut text, FlushDecompress::None);
            let len = usize::try_from(inflate.total_out()).unwrap_or(0);
            tag_target(&text[..len.min(text.len())])
        }
        // Deltas (6, 7) and anything else: libgit2's job.
        _ => None,
    }
}

/// `object <hex>\ntype <kind>\n` at the start of a tag object.
fn tag_target(text: &[u8]) -> Option<Object> {
    let rest = text.strip_prefix(b"object ")?;
    let hex = std::str::from_utf8(rest.get(..40)?).ok()?;
    let target = Oid::from_str(hex).ok()?;
    let kind = rest.get(40..)?.strip_prefix(b"\ntype ")?;
    let end = kind.iter().position(|&b| b == b'\n')?;
    match &kind[..end] {
        b"commit" => Some(Object::TagOfCommit(target)),
        b"tree" | b"blob" => Some(Object::NotACommit),
        // A tag of a tag: libgit2 follows the chain.
        _ => None,
    }
}

/// The position of `id` in `table`, sorted ids of 20 bytes each.
fn search(table: &[u8], id: &[u8]) -> Option<usize> {
    let (mut lo, mut hi) = (0, table.len() / 20);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match table[mid * 20..mid * 20 + 20].cmp(id) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::process::Command;

    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@example.com")
            .env("GIT_COMMITTER_NAME", "A")
            .env("GIT_COMMITTER_EMAIL", "a@example.com")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .args(["-c", "tag.gpgsign=false", "-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// What git says each object is, peeled as [`Object`] does.
    fn truth(dir: &Path, oid: &str) -> Object {
        match git(dir, &["cat-file", "-t", oid]).as_str() {
            "commit" => Object::Commit,
            "tag" => match git(dir, &["cat-file", "-t", &format!("{oid}^{{}}")]).as_str() {
                "commit" => Object::TagOfCommit(
                    Oid::from_str(&git(dir, &["rev-parse", &format!("{oid}^{{}}")])).unwrap(),
                ),
                _ => Object::NotACommit,
            },
            _ => Object::NotACommit,
        }
    }

    #[test]
    fn every_object_of_a_repacked_repository_is_told_as_git_tells_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "develop", "."]);
        for i in 0..40 {
            std::fs::write(d.join(format!("f{}.txt", i % 7)), format!("{i}\n")).unwrap();
            git(d, &["add", "."]);
            git(d, &["commit", "-q", "-m", &format!("feat: change {i}")]);
            match i % 4 {
                0 => git(d, &["tag", "-a", &format!("v0.{i}.0"), "-m", "a release"]),
                1 => git(d, &["tag", &format!("v0.{i}.0")]),
                _ => String::new(),
            };
        }
        let tree = git(d, &["rev-parse", "HEAD^{tree}"]);
        let blob = git(d, &["rev-parse", "HEAD:f0.txt"]);
        git(d, &["tag", "-a", "tree-tag", "-m", "a tree", &tree]);
        git(d, &["tag", "-a", "blob-tag", "-m", "a blob", &blob]);
        git(d, &["tag", "-a", "tag-of-tag", "-m", "nested", "v0.0.0"]);
        // Release notes as long as real ones: the fast path still reads it.
        let notes: String = (0..400)
            .map(|i| {
                format!(
                    "- **scope{}:** change number {i} ({:07x})\n",
                    i % 13,
                    i * 7919
                )
            })
            .collect();
        git(d, &["tag", "-a", "long-notes", "-m", &notes]);
        let long = Oid::from_str(&git(d, &["rev-parse", "long-notes"])).unwrap();
        let before: Vec<String> = git(
            d,
            &[
                "cat-file",
                "--batch-all-objects",
                "--batch-check=%(objectname)",
            ],
        )
        .lines()
        .map(str::to_owned)
        .collect();
        // Loose objects only: nothing is found, everything is left to libgit2.
        let packs = Packs::open(&d.join(".git/objects"));
        let oids: Vec<Oid> = before.iter().map(|o| Oid::from_str(o).unwrap()).collect();
        assert!(packs.peel(&oids).iter().all(Option::is_none));

        git(d, &["repack", "-adq"]);
        let packs = Packs::open(&d.join(".git/objects"));
        let answers = packs.peel(&oids);
        // `<id> <type> <size> <size in pack> <offset> [<depth> <base>]`.
        let pack = git(d, &["rev-parse", "--git-path", "objects/pack"]);
        let idx = std::fs::read_dir(d.join(pack))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "idx"))
            .unwrap();
        let deltas: Vec<String> = git(d, &["verify-pack", "-v", idx.to_str().unwrap()])
            .lines()
            .filter(|line| line.split_whitespace().count() == 7)
            .map(|line| line[..40].to_owned())
            .collect();
        let mut tags = 0;
        for (oid, answer) in before.iter().zip(&answers) {
            let expected = truth(d, oid);
            match answer {
                Some(answer) => assert_eq!(*answer, expected, "{oid}"),
                // Only a delta or a tag of a tag may be left to libgit2.
                None => assert!(
                    deltas.contains(oid) || oid == &git(d, &["rev-parse", "tag-of-tag"]),
                    "{oid}"
                ),
            }
            if matches!(answer, Some(Object::TagOfCommit(_))) {
                tags += 1;
            }
        }
        assert_eq!(tags, 11);
        assert_eq!(
            packs.peel(&[long]),
            vec![Some(Object::TagOfCommit(
                Oid::from_str(&git(d, &["rev-parse", "HEAD"])).unwrap()
            ))]
        );
        // Ids no pack holds.
        let absent = [
            Oid::from_str(&"0".repeat(40)).unwrap(),
            Oid::from_str(&"f".repeat(40)).unwrap(),
        ];
        assert_eq!(packs.peel(&absent), vec![None, None]);
    }

    #[test]
    fn tag_headers_are_read_strictly() {
        let id = "0123456789abcdef0123456789abcdef01234567";
        let oid = Oid::from_str(id).unwrap();
        let text = |kind: &str| format!("object {id}\ntype {kind}\ntag v1\n");
        assert_eq!(
            tag_target(text("commit").as_bytes()),
            Some(Object::TagOfCommit(oid))
        );
        assert_eq!(
            tag_target(text("tree").as_bytes()),
            Some(Object::NotACommit)
        );
        assert_eq!(tag_target(text("tag").as_bytes()), None);
        assert_eq!(tag_target(&text("commit").as_bytes()[..50]), None);
        assert_eq!(tag_target(b"object xyz\ntype commit\n"), None);
    }
}
