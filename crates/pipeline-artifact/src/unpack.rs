//! Unpacking: a strict, streaming zip extractor for the machine that runs the
//! release.
//!
//! The archive is read with seeks: the end records, the central directory,
//! then each entry's local header and data in the order they lie in the
//! file. Everything is checked before it is believed: the end records
//! against the file's size, each local header against the central directory,
//! each entry's bytes against its declared size and CRC-32. Names are
//! checked before anything is written, and only regular files and
//! directories are created, all inside a fresh sibling directory that is
//! renamed into place at the end: a failure leaves nothing behind.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use flate2::{Decompress, FlushDecompress, Status};

use crate::zip::{METHOD_DEFLATE, METHOD_STORED};

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_END: u32 = 0x0605_4b50;
const SIG_END64: u32 = 0x0606_4b50;
const SIG_LOCATOR64: u32 = 0x0706_4b50;
const SIG_DESCRIPTOR: u32 = 0x0807_4b50;

const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;
const END_LEN: usize = 22;
const LOCATOR64_LEN: usize = 20;
const END64_LEN: usize = 56;
/// The end record's comment is at most this long, so the record starts
/// within this many bytes of the end of the file.
const MAX_COMMENT: usize = 0xFFFF;

const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_PATCHED: u16 = 1 << 5;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
const FLAG_MASKED_HEADERS: u16 = 1 << 13;

const ZIP64_EXTRA_ID: u16 = 0x0001;

const S_IFMT: u32 = 0o170_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFSOCK: u32 = 0o140_000;

/// Read and write buffer size.
const CHUNK: usize = 64 << 10;

/// Bounds on what [`unpack`] accepts, against archives crafted to fill the
/// disk (zip bombs).
///
/// The bounds that hold whatever the data are the entry count and the
/// total size. A ratio cannot tell a bomb from real data entry by entry:
/// deflate turns a file of zeros (a sparse database, a disk image, padding)
/// into a thousandth of its size, its own best, exactly as a bomb does. It
/// can for a whole large archive: real releases of many megabytes hold code
/// and data that compress a few times, not hundreds. So the ratio is the
/// archive's (its files' sizes added up, over the archive's own size), and
/// only once those sizes pass `ratio_floor`: below it an archive is held to
/// the total alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// The most entries (files and directories) an archive may hold.
    /// Default: 100 000.
    pub max_entries: usize,
    /// The most bytes all files together may expand to. Default: 4 GiB.
    pub max_total_bytes: u64,
    /// The most the archive may expand, its files' sizes added up over its
    /// own size, once they pass `ratio_floor`. Default: 200.
    pub max_ratio: u64,
    /// Archives whose files add up to at most this many bytes are not held
    /// to `max_ratio`. Default: 16 MiB.
    pub ratio_floor: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_total_bytes: 4 << 30,
            max_ratio: 200,
            ratio_floor: 16 << 20,
        }
    }
}

impl UnpackLimits {
    /// Whether an archive of `archive_len` bytes whose `entries` entries
    /// add up to `total` bytes stays within these limits, as [`unpack`]
    /// judges it from the archive's directory: `Some(what is exceeded)` if
    /// not. For a packager to check what it made before anyone unpacks it.
    pub fn exceeded_by(&self, entries: u64, total: u64, archive_len: u64) -> Option<String> {
        if entries > u64::try_from(self.max_entries).unwrap_or(u64::MAX) {
            return Some(format!(
                "{entries} entries, more than the limit of {}",
                self.max_entries
            ));
        }
        if total > self.max_total_bytes {
            return Some(format!(
                "its files add up to {total} bytes, more than the limit of {}",
                self.max_total_bytes
            ));
        }
        if self.ratio_exceeded(total, archive_len) {
            return Some(self.ratio_message(total, archive_len));
        }
        None
    }

    fn ratio_exceeded(&self, total: u64, archive_len: u64) -> bool {
        total > self.ratio_floor && archive_len.saturating_mul(self.max_ratio) < total
    }

    fn ratio_message(&self, total: u64, archive_len: u64) -> String {
        format!(
            "it expands from {archive_len} to {total} bytes, more than {} times (the limit for \
             archives past {} bytes)",
            self.max_ratio, self.ratio_floor
        )
    }
}

/// What [`unpack`] extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unpacked {
    /// Entries in the archive: files and directories.
    pub entries: usize,
    /// Regular files written.
    pub files: usize,
    /// Bytes written, the sum of the files' sizes.
    pub bytes: u64,
}

/// Why [`unpack`] refused an archive or could not extract it. Nothing is left
/// at the destination (nor beside it) after any of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// The archive cannot be opened or read.
    #[error("cannot read {}", archive.display())]
    Read {
        /// The archive.
        archive: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The end records or the central directory are not those of a valid
    /// (single-disk) zip archive.
    #[error("{}: not a valid zip archive: {reason}", archive.display())]
    Malformed {
        /// The archive.
        archive: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An entry's headers are malformed or disagree with each other.
    #[error("{}: entry `{}`: {reason}", archive.display(), entry.escape_debug())]
    BadEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry's name (lossily decoded if it is not UTF-8).
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry name that cannot be extracted safely: absolute, with a
    /// drive letter, a `..`, `.` or empty component, a backslash, a NUL, or
    /// not UTF-8.
    #[error("{}: entry `{}`: {reason}", archive.display(), entry.escape_debug())]
    UnsafeName {
        /// The archive.
        archive: PathBuf,
        /// The entry's name (lossily decoded if it is not UTF-8).
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two entries have the same name.
    #[error("{}: entry `{}`: appears more than once", archive.display(), entry.escape_debug())]
    Duplicate {
        /// The archive.
        archive: PathBuf,
        /// The name.
        entry: String,
    },
    /// A symbolic link, device, FIFO or socket: only regular files and
    /// directories are extracted.
    #[error("{}: entry `{}`: is a {kind}; only regular files and directories are extracted", archive.display(), entry.escape_debug())]
    NotAFile {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        entry: String,
        /// `symbolic link`, `fifo`, `socket`, ...
        kind: &'static str,
    },
    /// A compression method other than stored (0) and deflate (8).
    #[error("{}: entry `{}`: compression method {method} is not supported (only 0, stored, and 8, deflate)", archive.display(), entry.escape_debug())]
    UnsupportedMethod {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        entry: String,
        /// The method number.
        method: u16,
    },
    /// An encrypted entry.
    #[error("{}: entry `{}`: is encrypted", archive.display(), entry.escape_debug())]
    Encrypted {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        entry: String,
    },
    /// The entry's data does not match its headers: CRC-32, size, or the
    /// deflate stream itself.
    #[error("{}: entry `{}`: {reason}", archive.display(), entry.escape_debug())]
    Corrupt {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        entry: String,
        /// What does not match.
        reason: String,
    },
    /// More entries than [`UnpackLimits::max_entries`].
    #[error("{}: {entries} entries, more than the limit of {max}", archive.display())]
    TooManyEntries {
        /// The archive.
        archive: PathBuf,
        /// The count the archive declares.
        entries: u64,
        /// The limit.
        max: usize,
    },
    /// The files would add up to more than [`UnpackLimits::max_total_bytes`].
    #[error("{}: entry `{}`: the archive expands to more than {max} bytes (the limit)", archive.display(), entry.escape_debug())]
    TooLarge {
        /// The archive.
        archive: PathBuf,
        /// The entry that goes past the limit.
        entry: String,
        /// The limit.
        max: u64,
    },
    /// The archive expands more than [`UnpackLimits::max_ratio`] allows,
    /// past [`UnpackLimits::ratio_floor`].
    #[error("{}: {reason}", archive.display())]
    Ratio {
        /// The archive.
        archive: PathBuf,
        /// Its files' declared sizes, added up.
        size: u64,
        /// The archive's own size.
        archive_size: u64,
        /// The limit.
        max: u64,
        /// What is exceeded, in words.
        reason: String,
    },
    /// The destination is there already and is not an empty directory.
    #[error("{}: the destination already exists and is not an empty directory", dest.display())]
    DestinationExists {
        /// The destination given.
        dest: PathBuf,
    },
    /// A file or directory cannot be created, written or moved into place.
    #[error("cannot write {}", path.display())]
    Write {
        /// The path written.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// Extracts the zip archive at `zip` into the directory `dest`, which must
/// not exist (or be an empty directory); its parent must exist.
///
/// Accepts the archives of [`package`](crate::package) and of common tools
/// (Python's `zipfile`, Info-ZIP `zip`): stored and deflated entries, data
/// descriptors, zip64, an archive comment. Refuses anything it cannot
/// extract exactly and safely, naming the archive and the entry:
///
/// - names that are absolute, start with a drive letter, have `..`, `.` or
///   empty components, backslashes or NULs, are not UTF-8, or repeat;
/// - symbolic links and other entries that are neither regular files nor
///   directories (by the Unix mode in the external attributes);
/// - encrypted entries, methods other than stored and deflate;
/// - local headers that disagree with the central directory, entries that
///   overlap, data whose size or CRC-32 differ from the headers;
/// - archives past the [`UnpackLimits`]: declared sizes are checked before
///   anything is written, and the bytes are counted as they are written,
///   stopping at the first byte past the declared size.
///
/// Files are created with `O_EXCL`, mode `0644`, or `0755` when the entry's
/// Unix mode has any execute bit (other bits, such as setuid, are ignored);
/// directories get `0755`. Times are not restored. Everything is written to
/// a sibling directory `DEST.partial-RANDOM`, synced, then renamed to
/// `dest`; on error that directory is removed.
pub fn unpack(zip: &Path, dest: &Path, limits: &UnpackLimits) -> Result<Unpacked, UnpackError> {
    check_destination(dest)?;
    let read_error = |source| UnpackError::Read {
        archive: zip.to_path_buf(),
        source,
    };
    let file = File::open(zip).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(malformed(zip, "not a regular file"));
    }
    let mut archive = Archive {
        path: zip,
        reader: BufReader::with_capacity(CHUNK, file),
        pos: 0,
        len: metadata.len(),
    };
    let end = read_end(&mut archive)?;
    if end.entries > u64::try_from(limits.max_entries).unwrap_or(u64::MAX) {
        return Err(UnpackError::TooManyEntries {
            archive: zip.to_path_buf(),
            entries: end.entries,
            max: limits.max_entries,
        });
    }
    let mut entries = read_central_directory(&mut archive, &end, limits)?;
    let total: u64 = entries.iter().map(|e| e.size).sum();
    if limits.ratio_exceeded(total, archive.len) {
        return Err(UnpackError::Ratio {
            archive: zip.to_path_buf(),
            size: total,
            archive_size: archive.len,
            max: limits.max_ratio,
            reason: limits.ratio_message(total, archive.len),
        });
    }
    check_duplicates(zip, &entries)?;
    // Extract in the order of the data in the file: a forward read, and
    // overlapping entries show as an offset before the previous end.
    entries.sort_by_key(|e| e.offset);

    let temp = create_temp(dest)?;
    let result = extract_all(&mut archive, &entries, &temp.path, end.cd_offset, limits).and_then(
        |unpacked| {
            fs::rename(&temp.path, dest).map_err(|source| UnpackError::Write {
                path: dest.to_path_buf(),
                source,
            })?;
            sync_dir(&temp.parent)?;
            Ok(unpacked)
        },
    );
    if result.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_dir_all(&temp.path);
    }
    result
}

fn malformed(archive: &Path, reason: impl Into<String>) -> UnpackError {
    UnpackError::Malformed {
        archive: archive.to_path_buf(),
        reason: reason.into(),
    }
}

/// The archive and the entry an error is about.
struct Ctx<'a> {
    archive: &'a Path,
    entry: &'a str,
}

impl Ctx<'_> {
    fn bad(&self, reason: impl Into<String>) -> UnpackError {
        UnpackError::BadEntry {
            archive: self.archive.to_path_buf(),
            entry: self.entry.to_owned(),
            reason: reason.into(),
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> UnpackError {
        UnpackError::Corrupt {
            archive: self.archive.to_path_buf(),
            entry: self.entry.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Little-endian fields read from the front of a byte slice; `None` when
/// the slice is too short.
struct Le<'a>(&'a [u8]);

impl Le<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}

/// The data of the first extra field with this id. Parsing stops at a
/// record that overruns the extra field (some tools pad it).
fn find_extra(extra: &[u8], id: u16) -> Option<&[u8]> {
    let mut rest = Le(extra);
    loop {
        let tag = rest.u16()?;
        let len = usize::from(rest.u16()?);
        let data = rest.0.get(..len)?;
        if tag == id {
            return Some(data);
        }
        rest = Le(rest.0.get(len..)?);
    }
}

/// A 32-bit field, or, when it holds the zip64 marker, the next 64-bit
/// value of the zip64 extra field.
fn widen(value: u32, zip64: &mut Option<Le<'_>>) -> Option<u64> {
    if value == u32::MAX {
        zip64.as_mut()?.u64()
    } else {
        Some(u64::from(value))
    }
}

/// The archive file, read through a buffer that survives short forward
/// seeks.
struct Archive<'a> {
    path: &'a Path,
    reader: BufReader<File>,
    pos: u64,
    len: u64,
}

impl Archive<'_> {
    fn read_error(&self, source: io::Error) -> UnpackError {
        UnpackError::Read {
            archive: self.path.to_path_buf(),
            source,
        }
    }

    fn seek(&mut self, to: u64) -> Result<(), UnpackError> {
        let moved = match i64::try_from(i128::from(to) - i128::from(self.pos)) {
            Ok(0) => Ok(()),
            Ok(delta) => self.reader.seek_relative(delta),
            Err(_) => self.reader.seek(SeekFrom::Start(to)).map(drop),
        };
        moved.map_err(|e| self.read_error(e))?;
        self.pos = to;
        Ok(())
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), UnpackError> {
        self.reader
            .read_exact(buf)
            .map_err(|e| self.read_error(e))?;
        self.pos = self.pos.saturating_add(buf.len() as u64);
        Ok(())
    }

    fn read_vec(&mut self, len: usize) -> Result<Vec<u8>, UnpackError> {
        let mut buf = vec![0; len];
        self.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Reads at most `max` bytes into `buf`; 0 only at the end of the file.
    fn read_some(&mut self, buf: &mut [u8], max: u64) -> Result<usize, UnpackError> {
        let limit = usize::try_from(max).unwrap_or(usize::MAX).min(buf.len());
        let Some(buf) = buf.get_mut(..limit) else {
            return Ok(0);
        };
        loop {
            match self.reader.read(buf) {
                Ok(n) => {
                    self.pos = self.pos.saturating_add(n as u64);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e)),
            }
        }
    }
}

/// Where the central directory is, from the end records.
#[derive(Debug)]
struct End {
    entries: u64,
    cd_offset: u64,
    cd_size: u64,
}

fn read_end(a: &mut Archive<'_>) -> Result<End, UnpackError> {
    let path = a.path;
    let too_short = || malformed(path, "no end of central directory record");
    if a.len < END_LEN as u64 {
        return Err(too_short());
    }
    let tail_len = a.len.min((END_LEN + MAX_COMMENT) as u64);
    let tail_start = a.len - tail_len;
    a.seek(tail_start)?;
    let tail = a.read_vec(usize::try_from(tail_len).unwrap_or(0))?;
    // The last record whose comment ends exactly at the end of the file (the
    // signature may also occur inside a comment).
    let last = tail.len().saturating_sub(END_LEN);
    let found = (0..=last).rev().find_map(|at| {
        let record = tail.get(at..)?;
        let mut f = Le(record);
        if f.u32()? != SIG_END {
            return None;
        }
        let comment_len = Le(record.get(20..)?).u16()?;
        (usize::from(comment_len) == record.len().checked_sub(END_LEN)?).then_some((at, record))
    });
    let Some((at, record)) = found else {
        return Err(too_short());
    };
    let end_pos = tail_start + at as u64;
    let mut f = Le(record.get(4..).unwrap_or_default());
    let fields = (|| Some((f.u16()?, f.u16()?, f.u16()?, f.u16()?, f.u32()?, f.u32()?)))();
    let Some((disk, cd_disk, disk_entries, entries, cd_size, cd_offset)) = fields else {
        return Err(too_short());
    };
    let zip64 = disk == u16::MAX
        || cd_disk == u16::MAX
        || disk_entries == u16::MAX
        || entries == u16::MAX
        || cd_size == u32::MAX
        || cd_offset == u32::MAX;
    let (end, records_start) = if zip64 {
        if (disk != 0 && disk != u16::MAX) || (cd_disk != 0 && cd_disk != u16::MAX) {
            return Err(malformed(
                path,
                "split (multi-disk) archives are not supported",
            ));
        }
        let end64 = read_end64(a, end_pos)?;
        let agrees = |classic: u64, marker: u64, wide: u64| classic == marker || classic == wide;
        if !(agrees(u64::from(entries), 0xFFFF, end64.0.entries)
            && agrees(u64::from(cd_size), 0xFFFF_FFFF, end64.0.cd_size)
            && agrees(u64::from(cd_offset), 0xFFFF_FFFF, end64.0.cd_offset))
        {
            return Err(malformed(
                path,
                "the end record and the zip64 end record disagree",
            ));
        }
        end64
    } else {
        if disk != 0 || cd_disk != 0 {
            return Err(malformed(
                path,
                "split (multi-disk) archives are not supported",
            ));
        }
        if disk_entries != entries {
            return Err(malformed(path, "the end record's entry counts disagree"));
        }
        (
            End {
                entries: u64::from(entries),
                cd_offset: u64::from(cd_offset),
                cd_size: u64::from(cd_size),
            },
            end_pos,
        )
    };
    if end.cd_offset.checked_add(end.cd_size) != Some(records_start) {
        return Err(malformed(
            path,
            "the central directory does not end where the end records start",
        ));
    }
    if end
        .entries
        .checked_mul(CENTRAL_LEN as u64)
        .is_none_or(|min| min > end.cd_size)
    {
        return Err(malformed(
            path,
            format!(
                "{} entries cannot fit in a central directory of {} bytes",
                end.entries, end.cd_size
            ),
        ));
    }
    Ok(end)
}

/// The zip64 end record, found through its locator just before the end
/// record, and where it starts.
fn read_end64(a: &mut Archive<'_>, end_pos: u64) -> Result<(End, u64), UnpackError> {
    let path = a.path;
    let Some(locator_pos) = end_pos.checked_sub(LOCATOR64_LEN as u64) else {
        return Err(malformed(path, "the zip64 end locator is missing"));
    };
    a.seek(locator_pos)?;
    let mut locator = [0; LOCATOR64_LEN];
    a.read_exact(&mut locator)?;
    let mut f = Le(&locator);
    let parsed = (|| Some((f.u32()?, f.u32()?, f.u64()?, f.u32()?)))();
    let Some((sig, disk, end64_pos, disks)) = parsed else {
        return Err(malformed(path, "the zip64 end locator is missing"));
    };
    if sig != SIG_LOCATOR64 {
        return Err(malformed(path, "the zip64 end locator is missing"));
    }
    if disk != 0 || disks > 1 {
        return Err(malformed(
            path,
            "split (multi-disk) archives are not supported",
        ));
    }
    if end64_pos
        .checked_add(END64_LEN as u64)
        .is_none_or(|end| end > locator_pos)
    {
        return Err(malformed(path, "the zip64 end record is out of place"));
    }
    a.seek(end64_pos)?;
    let mut record = [0; END64_LEN];
    a.read_exact(&mut record)?;
    let mut f = Le(&record);
    let parsed = (|| {
        let sig = f.u32()?;
        let size = f.u64()?;
        let _versions = f.u32()?;
        Some((
            sig,
            size,
            f.u32()?,
            f.u32()?,
            f.u64()?,
            f.u64()?,
            f.u64()?,
            f.u64()?,
        ))
    })();
    let Some((sig, size, disk, cd_disk, disk_entries, entries, cd_size, cd_offset)) = parsed else {
        return Err(malformed(path, "the zip64 end record is missing"));
    };
    if sig != SIG_END64 {
        return Err(malformed(path, "the zip64 end record is missing"));
    }
    // The record (12 bytes, then `size` more) ends at the locator.
    if size < 44 || end64_pos.checked_add(12).and_then(|p| p.checked_add(size)) != Some(locator_pos)
    {
        return Err(malformed(path, "the zip64 end record is out of place"));
    }
    if disk != 0 || cd_disk != 0 {
        return Err(malformed(
            path,
            "split (multi-disk) archives are not supported",
        ));
    }
    if disk_entries != entries {
        return Err(malformed(
            path,
            "the zip64 end record's entry counts disagree",
        ));
    }
    Ok((
        End {
            entries,
            cd_offset,
            cd_size,
        },
        end64_pos,
    ))
}

/// What an entry name is, by its trailing `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameKind {
    File,
    Dir,
}

/// Checks that `name` is a relative `/`-separated path that stays inside
/// the destination on every platform, and says what it names.
fn check_name(name: &str) -> Result<NameKind, &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.contains('\0') {
        return Err("name has a NUL byte");
    }
    if name.contains('\\') {
        return Err("name has a backslash; zip paths are `/`-separated");
    }
    if name.starts_with('/') {
        return Err("absolute path");
    }
    if matches!(name.as_bytes(), [letter, b':', ..] if letter.is_ascii_alphabetic()) {
        return Err("path starts with a drive letter");
    }
    let (body, kind) = match name.strip_suffix('/') {
        Some(body) => (body, NameKind::Dir),
        None => (name, NameKind::File),
    };
    let mut depth = 0usize;
    for component in body.split('/') {
        match component {
            "" => return Err("path has an empty component"),
            "." => return Err("path has a `.` component"),
            ".." => {
                return Err(match depth.checked_sub(1) {
                    None => "path leaves the destination",
                    Some(_) => "path has a `..` component",
                });
            }
            _ => depth += 1,
        }
    }
    Ok(kind)
}

/// One entry as the central directory describes it, checked.
#[derive(Debug)]
struct CdEntry {
    name: String,
    kind: NameKind,
    executable: bool,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed: u64,
    size: u64,
    offset: u64,
}

impl CdEntry {
    fn descriptor(&self) -> bool {
        self.flags & FLAG_DESCRIPTOR != 0
    }
}

/// The fixed part of a central directory header.
struct CentralFixed {
    sig: u32,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed: u32,
    size: u32,
    name_len: u16,
    extra_len: u16,
    comment_len: u16,
    disk: u16,
    external: u32,
    offset: u32,
}

fn parse_central(buf: &[u8; CENTRAL_LEN]) -> Option<CentralFixed> {
    let mut f = Le(buf);
    let sig = f.u32()?;
    let _made_by = f.u16()?;
    let _needed = f.u16()?;
    let flags = f.u16()?;
    let method = f.u16()?;
    let _time_date = f.u32()?;
    let crc32 = f.u32()?;
    let compressed = f.u32()?;
    let size = f.u32()?;
    let name_len = f.u16()?;
    let extra_len = f.u16()?;
    let comment_len = f.u16()?;
    let disk = f.u16()?;
    let _internal = f.u16()?;
    let external = f.u32()?;
    let offset = f.u32()?;
    Some(CentralFixed {
        sig,
        flags,
        method,
        crc32,
        compressed,
        size,
        name_len,
        extra_len,
        comment_len,
        disk,
        external,
        offset,
    })
}

fn read_central_directory(
    a: &mut Archive<'_>,
    end: &End,
    limits: &UnpackLimits,
) -> Result<Vec<CdEntry>, UnpackError> {
    let path = a.path;
    let cd_end = end.cd_offset.saturating_add(end.cd_size);
    a.seek(end.cd_offset)?;
    let mut entries = Vec::with_capacity(usize::try_from(end.entries.min(4096)).unwrap_or(0));
    let mut declared_total: u64 = 0;
    for index in 0..end.entries {
        let overrun = || {
            malformed(
                path,
                format!("central directory entry {index} runs past the directory"),
            )
        };
        if a.pos
            .checked_add(CENTRAL_LEN as u64)
            .is_none_or(|e| e > cd_end)
        {
            return Err(overrun());
        }
        let mut fixed = [0; CENTRAL_LEN];
        a.read_exact(&mut fixed)?;
        let Some(h) = parse_central(&fixed) else {
            return Err(overrun());
        };
        if h.sig != SIG_CENTRAL {
            return Err(malformed(
                path,
                format!("central directory entry {index} has no signature"),
            ));
        }
        let variable = u64::from(h.name_len) + u64::from(h.extra_len) + u64::from(h.comment_len);
        if a.pos.checked_add(variable).is_none_or(|e| e > cd_end) {
            return Err(overrun());
        }
        let raw_name = a.read_vec(usize::from(h.name_len))?;
        let extra = a.read_vec(usize::from(h.extra_len))?;
        a.seek(a.pos.saturating_add(u64::from(h.comment_len)))?;
        let entry = check_central(path, h, raw_name, &extra)?;
        declared_total = match declared_total.checked_add(entry.size) {
            Some(total) if total <= limits.max_total_bytes => total,
            _ => {
                return Err(UnpackError::TooLarge {
                    archive: path.to_path_buf(),
                    entry: entry.name,
                    max: limits.max_total_bytes,
                });
            }
        };
        if entry
            .offset
            .checked_add(LOCAL_LEN as u64)
            .is_none_or(|e| e > end.cd_offset)
        {
            return Err(Ctx {
                archive: path,
                entry: &entry.name,
            }
            .bad("the local header is outside the archive's data"));
        }
        entries.push(entry);
    }
    if a.pos != cd_end {
        return Err(malformed(
            path,
            "the central directory is longer than its entries",
        ));
    }
    Ok(entries)
}

/// Checks one central directory header: name, type, flags, method, sizes.
fn check_central(
    path: &Path,
    h: CentralFixed,
    raw_name: Vec<u8>,
    extra: &[u8],
) -> Result<CdEntry, UnpackError> {
    // Names are taken as UTF-8 with or without the UTF-8 flag: Info-ZIP
    // `zip` on Unix writes UTF-8 names without it, and CP437 names agree
    // with UTF-8 where they are ASCII.
    let name = match String::from_utf8(raw_name) {
        Ok(name) => name,
        Err(e) => {
            return Err(UnpackError::UnsafeName {
                archive: path.to_path_buf(),
                entry: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                reason: "name is not UTF-8",
            });
        }
    };
    let kind = check_name(&name).map_err(|reason| UnpackError::UnsafeName {
        archive: path.to_path_buf(),
        entry: name.clone(),
        reason,
    })?;
    let ctx = Ctx {
        archive: path,
        entry: &name,
    };
    // The high 16 bits of the external attributes are a Unix mode when the
    // writer put one there, whatever the "made by" host: zero means none (a
    // file, or a directory by its trailing `/`).
    let mode = h.external >> 16;
    let not_a_file = |kind: &'static str| UnpackError::NotAFile {
        archive: path.to_path_buf(),
        entry: name.clone(),
        kind,
    };
    match (mode & S_IFMT, kind) {
        (0, _) | (S_IFREG, NameKind::File) | (S_IFDIR, NameKind::Dir) => {}
        (S_IFREG, NameKind::Dir) => return Err(ctx.bad("a regular file with a directory name")),
        (S_IFDIR, NameKind::File) => {
            return Err(ctx.bad("a directory whose name does not end in `/`"));
        }
        (S_IFLNK, _) => return Err(not_a_file("symbolic link")),
        (S_IFIFO, _) => return Err(not_a_file("fifo")),
        (S_IFCHR, _) => return Err(not_a_file("character device")),
        (S_IFBLK, _) => return Err(not_a_file("block device")),
        (S_IFSOCK, _) => return Err(not_a_file("socket")),
        _ => return Err(not_a_file("file of unknown type")),
    }
    if h.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_MASKED_HEADERS) != 0 {
        return Err(UnpackError::Encrypted {
            archive: path.to_path_buf(),
            entry: name,
        });
    }
    if h.flags & FLAG_PATCHED != 0 {
        return Err(ctx.bad("patch data is not supported"));
    }
    if h.method != METHOD_STORED && h.method != METHOD_DEFLATE {
        return Err(UnpackError::UnsupportedMethod {
            archive: path.to_path_buf(),
            entry: name,
            method: h.method,
        });
    }
    // The zip64 extra field holds, in this order, the fields whose 32-bit
    // value is the marker.
    let mut zip64 = find_extra(extra, ZIP64_EXTRA_ID).map(Le);
    let missing = || ctx.bad("the zip64 extra field is missing or too short");
    let size = widen(h.size, &mut zip64).ok_or_else(missing)?;
    let compressed = widen(h.compressed, &mut zip64).ok_or_else(missing)?;
    let offset = widen(h.offset, &mut zip64).ok_or_else(missing)?;
    let disk = if h.disk == u16::MAX {
        zip64.as_mut().and_then(Le::u32).ok_or_else(missing)?
    } else {
        u32::from(h.disk)
    };
    if disk != 0 {
        return Err(malformed(
            path,
            "split (multi-disk) archives are not supported",
        ));
    }
    if kind == NameKind::Dir && size != 0 {
        return Err(ctx.bad(format!("a directory with {size} bytes of data")));
    }
    if h.method == METHOD_STORED && compressed != size {
        return Err(ctx.bad(format!(
            "stored, but its compressed size ({compressed}) differs from its size ({size})"
        )));
    }
    let executable = kind == NameKind::File && mode & 0o111 != 0;
    Ok(CdEntry {
        name,
        kind,
        executable,
        flags: h.flags,
        method: h.method,
        crc32: h.crc32,
        compressed,
        size,
        offset,
    })
}

fn check_duplicates(path: &Path, entries: &[CdEntry]) -> Result<(), UnpackError> {
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    match names.windows(2).find(|pair| pair.first() == pair.get(1)) {
        Some(pair) => Err(UnpackError::Duplicate {
            archive: path.to_path_buf(),
            entry: pair.first().map(|n| (*n).to_owned()).unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

/// The destination is free: absent, or an empty directory.
fn check_destination(dest: &Path) -> Result<(), UnpackError> {
    let write_error = |source| UnpackError::Write {
        path: dest.to_path_buf(),
        source,
    };
    match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(write_error(e)),
        Ok(m) if m.is_dir() => {
            if fs::read_dir(dest).map_err(write_error)?.next().is_none() {
                Ok(())
            } else {
                Err(UnpackError::DestinationExists {
                    dest: dest.to_path_buf(),
                })
            }
        }
        Ok(_) => Err(UnpackError::DestinationExists {
            dest: dest.to_path_buf(),
        }),
    }
}

struct Temp {
    parent: PathBuf,
    path: PathBuf,
}

/// A new directory `DEST.partial-RANDOM` beside `dest`.
fn create_temp(dest: &Path) -> Result<Temp, UnpackError> {
    let no_name = || UnpackError::Write {
        path: dest.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a directory name"),
    };
    let name = dest.file_name().ok_or_else(no_name)?;
    let parent = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut last = None;
    for _ in 0..16 {
        let mut temp_name = OsString::from(name);
        temp_name.push(format!(".partial-{:016x}", random_u64()));
        let path = parent.join(temp_name);
        match create_dir(&path) {
            Ok(()) => return Ok(Temp { parent, path }),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(source) => return Err(UnpackError::Write { path, source }),
        }
    }
    Err(UnpackError::Write {
        path: dest.to_path_buf(),
        source: last.unwrap_or_else(|| io::Error::other("no free temporary name")),
    })
}

/// 64 random bits from the standard library's randomly keyed hasher.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}

/// Creates one directory, mode 0755 whatever the umask.
fn create_dir(path: &Path) -> io::Result<()> {
    fs::create_dir(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

fn sync_dir(path: &Path) -> Result<(), UnpackError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| UnpackError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// What the extraction writes to, and how far it got.
struct Output<'a> {
    root: &'a Path,
    /// Directories created so far, relative to `root`.
    dirs: HashSet<String>,
    total: u64,
    max_total: u64,
}

impl Output<'_> {
    /// Creates the directory `rel` (a `/`-separated checked name without the
    /// trailing `/`) and the ones above it, each once.
    fn make_dirs(&mut self, ctx: &Ctx<'_>, rel: &str) -> Result<(), UnpackError> {
        let mut end = 0;
        for component in rel.split('/') {
            end += component.len();
            let prefix = rel.get(..end).unwrap_or(rel);
            end += 1;
            if self.dirs.contains(prefix) {
                continue;
            }
            let path = self.root.join(prefix);
            match create_dir(&path) {
                Ok(()) => {
                    self.dirs.insert(prefix.to_owned());
                }
                // Names are unique and only directories are recorded: what is
                // there is a file of another entry.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(ctx.bad(format!(
                        "`{}` is both a file and a directory",
                        prefix.escape_debug()
                    )));
                }
                Err(source) => return Err(UnpackError::Write { path, source }),
            }
        }
        Ok(())
    }
}

/// Where the bytes of one entry go, counted and checked on the way.
struct Sink<'a, 'b> {
    ctx: &'a Ctx<'a>,
    file: Option<(File, PathBuf)>,
    out: &'a mut Output<'b>,
    written: u64,
    declared: u64,
    crc: crc32fast::Hasher,
}

impl Sink<'_, '_> {
    fn put(&mut self, data: &[u8]) -> Result<(), UnpackError> {
        if data.is_empty() {
            return Ok(());
        }
        let n = data.len() as u64;
        let written = self.written.saturating_add(n);
        if written > self.declared {
            return Err(self.ctx.corrupt(format!(
                "more data than the {} bytes the headers declare",
                self.declared
            )));
        }
        let total = self.out.total.saturating_add(n);
        if total > self.out.max_total {
            return Err(UnpackError::TooLarge {
                archive: self.ctx.archive.to_path_buf(),
                entry: self.ctx.entry.to_owned(),
                max: self.out.max_total,
            });
        }
        self.crc.update(data);
        if let Some((file, path)) = &mut self.file {
            file.write_all(data).map_err(|source| UnpackError::Write {
                path: path.clone(),
                source,
            })?;
        }
        self.written = written;
        self.out.total = total;
        Ok(())
    }

    fn finish(self, expected_crc: u32, executable: bool) -> Result<(), UnpackError> {
        if self.written != self.declared {
            return Err(self.ctx.corrupt(format!(
                "{} bytes of data, the headers declare {}",
                self.written, self.declared
            )));
        }
        let crc = self.crc.finalize();
        if crc != expected_crc {
            return Err(self.ctx.corrupt(format!(
                "crc-32 of the data is {crc:08x}, the headers say {expected_crc:08x}"
            )));
        }
        if let Some((file, path)) = self.file {
            let write_error = |source| UnpackError::Write {
                path: path.clone(),
                source,
            };
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = if executable { 0o755 } else { 0o644 };
                file.set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(write_error)?;
            }
            #[cfg(not(unix))]
            let _ = executable;
            file.sync_all().map_err(write_error)?;
        }
        Ok(())
    }
}

fn extract_all(
    a: &mut Archive<'_>,
    entries: &[CdEntry],
    root: &Path,
    cd_offset: u64,
    limits: &UnpackLimits,
) -> Result<Unpacked, UnpackError> {
    let mut out = Output {
        root,
        dirs: HashSet::new(),
        total: 0,
        max_total: limits.max_total_bytes,
    };
    let mut files = 0;
    let mut previous_end = 0u64;
    for entry in entries {
        let ctx = Ctx {
            archive: a.path,
            entry: &entry.name,
        };
        if entry.offset < previous_end {
            return Err(ctx.bad("overlaps the entry before it"));
        }
        let (data_start, local_zip64) = read_local_header(a, &ctx, entry, cd_offset)?;
        let data_end = data_start
            .checked_add(entry.compressed)
            .filter(|end| *end <= cd_offset)
            .ok_or_else(|| ctx.bad("the data runs into the central directory"))?;
        let file = match entry.kind {
            NameKind::Dir => {
                out.make_dirs(&ctx, entry.name.trim_end_matches('/'))?;
                None
            }
            NameKind::File => {
                if let Some((parent, _)) = entry.name.rsplit_once('/') {
                    out.make_dirs(&ctx, parent)?;
                }
                files += 1;
                Some(create_file(&ctx, root, &entry.name)?)
            }
        };
        let mut sink = Sink {
            ctx: &ctx,
            file,
            out: &mut out,
            written: 0,
            declared: entry.size,
            crc: crc32fast::Hasher::new(),
        };
        if entry.method == METHOD_DEFLATE {
            inflate(a, &ctx, entry.compressed, &mut sink)?;
        } else {
            copy(a, entry.compressed, &mut sink)?;
        }
        sink.finish(entry.crc32, entry.executable)?;
        previous_end = if entry.descriptor() {
            read_descriptor(a, &ctx, entry, data_end, cd_offset, local_zip64)?
        } else {
            data_end
        };
    }
    for dir in &out.dirs {
        sync_dir(&root.join(dir))?;
    }
    sync_dir(root)?;
    Ok(Unpacked {
        entries: entries.len(),
        files,
        bytes: out.total,
    })
}

/// Creates a new file (never an existing one, never through a link), mode
/// 0600 until it is complete.
fn create_file(ctx: &Ctx<'_>, root: &Path, name: &str) -> Result<(File, PathBuf), UnpackError> {
    let path = root.join(name);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    match options.open(&path) {
        Ok(file) => Ok((file, path)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(ctx.bad(format!(
            "`{}` is both a file and a directory",
            name.escape_debug()
        ))),
        Err(source) => Err(UnpackError::Write { path, source }),
    }
}

/// The fixed part of a local header.
struct LocalFixed {
    sig: u32,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed: u32,
    size: u32,
    name_len: u16,
    extra_len: u16,
}

fn parse_local(buf: &[u8; LOCAL_LEN]) -> Option<LocalFixed> {
    let mut f = Le(buf);
    let sig = f.u32()?;
    let _needed = f.u16()?;
    let flags = f.u16()?;
    let method = f.u16()?;
    let _time_date = f.u32()?;
    Some(LocalFixed {
        sig,
        flags,
        method,
        crc32: f.u32()?,
        compressed: f.u32()?,
        size: f.u32()?,
        name_len: f.u16()?,
        extra_len: f.u16()?,
    })
}

/// Reads and checks the entry's local header against the central
/// directory; returns where the data starts and whether the header has a
/// zip64 extra field (then a data descriptor has 64-bit sizes).
fn read_local_header(
    a: &mut Archive<'_>,
    ctx: &Ctx<'_>,
    entry: &CdEntry,
    cd_offset: u64,
) -> Result<(u64, bool), UnpackError> {
    a.seek(entry.offset)?;
    let mut fixed = [0; LOCAL_LEN];
    a.read_exact(&mut fixed)?;
    let h = parse_local(&fixed)
        .filter(|h| h.sig == SIG_LOCAL)
        .ok_or_else(|| ctx.bad(format!("no local header at offset {}", entry.offset)))?;
    let data_start = a
        .pos
        .checked_add(u64::from(h.name_len) + u64::from(h.extra_len))
        .filter(|start| *start <= cd_offset)
        .ok_or_else(|| ctx.bad("the local header runs into the central directory"))?;
    let name = a.read_vec(usize::from(h.name_len))?;
    if name != entry.name.as_bytes() {
        return Err(ctx.bad(format!(
            "the local header names `{}`",
            String::from_utf8_lossy(&name).escape_debug()
        )));
    }
    let extra = a.read_vec(usize::from(h.extra_len))?;
    let disagree = |what: &str| {
        ctx.bad(format!(
            "the local header's {what} disagrees with the central directory"
        ))
    };
    let compared = FLAG_ENCRYPTED | FLAG_DESCRIPTOR;
    if (h.flags ^ entry.flags) & compared != 0 {
        return Err(disagree("flags"));
    }
    if h.method != entry.method {
        return Err(disagree("compression method"));
    }
    let zip64_extra = find_extra(&extra, ZIP64_EXTRA_ID);
    let mut zip64 = zip64_extra.map(Le);
    let size = widen(h.size, &mut zip64);
    let compressed = widen(h.compressed, &mut zip64);
    if entry.descriptor() {
        // CRC and sizes follow the data; here they are zero, or already
        // the right values.
        let zero_or =
            |value: Option<u64>, expected: u64| value.is_none_or(|v| v == 0 || v == expected);
        if h.crc32 != 0 && h.crc32 != entry.crc32 {
            return Err(disagree("crc-32"));
        }
        if !zero_or(size, entry.size) || !zero_or(compressed, entry.compressed) {
            return Err(disagree("size"));
        }
    } else {
        if h.crc32 != entry.crc32 {
            return Err(disagree("crc-32"));
        }
        if size != Some(entry.size) || compressed != Some(entry.compressed) {
            return Err(disagree("size"));
        }
    }
    Ok((data_start, zip64_extra.is_some()))
}

/// Copies a stored entry's `len` bytes.
fn copy(a: &mut Archive<'_>, len: u64, sink: &mut Sink<'_, '_>) -> Result<(), UnpackError> {
    let mut buf = vec![0; CHUNK];
    let mut remaining = len;
    while remaining > 0 {
        let n = a.read_some(&mut buf, remaining)?;
        if n == 0 {
            return Err(a.read_error(io::ErrorKind::UnexpectedEof.into()));
        }
        remaining -= n as u64;
        sink.put(buf.get(..n).unwrap_or_default())?;
    }
    Ok(())
}

/// Inflates a deflated entry of `len` compressed bytes: the deflate stream
/// must end exactly at the end of those bytes.
fn inflate(
    a: &mut Archive<'_>,
    ctx: &Ctx<'_>,
    len: u64,
    sink: &mut Sink<'_, '_>,
) -> Result<(), UnpackError> {
    let mut inflater = Decompress::new(false);
    let mut input = vec![0; CHUNK];
    let mut output = vec![0; CHUNK];
    let (mut start, mut end) = (0usize, 0usize);
    let mut remaining = len;
    loop {
        if start == end && remaining > 0 {
            let n = a.read_some(&mut input, remaining)?;
            if n == 0 {
                return Err(a.read_error(io::ErrorKind::UnexpectedEof.into()));
            }
            remaining -= n as u64;
            (start, end) = (0, n);
        }
        let available = input.get(start..end).unwrap_or_default();
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(available, &mut output, FlushDecompress::None)
            .map_err(|e| ctx.corrupt(format!("bad deflate data: {e}")))?;
        let consumed = inflater.total_in().saturating_sub(in_before);
        let produced = inflater.total_out().saturating_sub(out_before);
        start = start
            .saturating_add(usize::try_from(consumed).unwrap_or(usize::MAX))
            .min(end);
        let produced = usize::try_from(produced).unwrap_or(usize::MAX);
        sink.put(output.get(..produced).unwrap_or_default())?;
        match status {
            Status::StreamEnd => {
                if start != end || remaining != 0 {
                    return Err(ctx.corrupt("data after the end of the deflate stream"));
                }
                return Ok(());
            }
            Status::Ok | Status::BufError => {
                if consumed == 0 && produced == 0 {
                    return Err(ctx.corrupt(if start == end && remaining == 0 {
                        "the deflate stream is cut short"
                    } else {
                        "bad deflate data"
                    }));
                }
            }
        }
    }
}

/// Reads the data descriptor after an entry's data and checks it against
/// the central directory; returns where the entry ends. The descriptor's
/// signature is optional and its sizes are 32 or 64 bits: the layout that
/// matches is taken, the likeliest first.
fn read_descriptor(
    a: &mut Archive<'_>,
    ctx: &Ctx<'_>,
    entry: &CdEntry,
    data_end: u64,
    cd_offset: u64,
    wide_first: bool,
) -> Result<u64, UnpackError> {
    let available = cd_offset.saturating_sub(data_end).min(24);
    a.seek(data_end)?;
    let bytes = a.read_vec(usize::try_from(available).unwrap_or(0))?;
    let layouts = [
        (true, wide_first),
        (true, !wide_first),
        (false, wide_first),
        (false, !wide_first),
    ];
    for (signature, wide) in layouts {
        let mut f = Le(&bytes);
        let parsed = (|| {
            if signature && f.u32()? != SIG_DESCRIPTOR {
                return None;
            }
            let crc = f.u32()?;
            let (compressed, size) = if wide {
                (f.u64()?, f.u64()?)
            } else {
                (u64::from(f.u32()?), u64::from(f.u32()?))
            };
            Some((crc, compressed, size, bytes.len() - f.0.len()))
        })();
        if let Some((crc, compressed, size, len)) = parsed {
            if crc == entry.crc32 && compressed == entry.compressed && size == entry.size {
                return Ok(data_end.saturating_add(len as u64));
            }
        }
    }
    Err(ctx.bad("the data descriptor is missing or disagrees with the central directory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_slash_separated_names_pass() {
        for (name, kind) in [
            ("a", NameKind::File),
            ("a/b/c.py", NameKind::File),
            ("dir/", NameKind::Dir),
            ("a/b/", NameKind::Dir),
            (".env", NameKind::File),
            ("..a/b..", NameKind::File),
            ("é/日本.txt", NameKind::File),
            ("ab:c", NameKind::File),
            ("1:/x", NameKind::File),
        ] {
            assert_eq!(check_name(name), Ok(kind), "{name}");
        }
    }

    #[test]
    fn names_that_could_escape_or_confuse_are_refused() {
        for (name, reason) in [
            ("", "empty name"),
            ("../x", "path leaves the destination"),
            ("..", "path leaves the destination"),
            ("../", "path leaves the destination"),
            ("a/../../x", "path has a `..` component"),
            ("a/../b", "path has a `..` component"),
            ("/abs", "absolute path"),
            ("/", "absolute path"),
            ("C:/x", "path starts with a drive letter"),
            ("c:x", "path starts with a drive letter"),
            ("a:b", "path starts with a drive letter"),
            ("a\\b", "name has a backslash; zip paths are `/`-separated"),
            ("..\\x", "name has a backslash; zip paths are `/`-separated"),
            ("a\0b", "name has a NUL byte"),
            ("a//b", "path has an empty component"),
            ("a/b//", "path has an empty component"),
            ("./a", "path has a `.` component"),
            ("a/./b", "path has a `.` component"),
            ("a/.", "path has a `.` component"),
        ] {
            assert_eq!(check_name(name), Err(reason), "{name:?}");
        }
        // The second `..` of `a/../..` is the one that leaves.
        assert_eq!(check_name("a/../.."), Err("path has a `..` component"));
    }

    #[test]
    fn extra_fields_are_found_and_malformed_ones_stop_the_search() {
        let extra = [
            0x55, 0x54, 2, 0, 9, 9, // UT, 2 bytes
            1, 0, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, // zip64, 8 bytes
        ];
        assert_eq!(find_extra(&extra, 1), Some(&extra[10..]));
        assert_eq!(find_extra(&extra, 7), None);
        assert_eq!(find_extra(&[1, 0, 9, 0, 1], 1), None);
        assert_eq!(find_extra(&[0, 0, 0], 1), None);
        assert_eq!(find_extra(&[], 1), None);
        let mut zip64 = Some(Le(&extra[10..]));
        assert_eq!(widen(5, &mut zip64), Some(5));
        assert_eq!(widen(u32::MAX, &mut zip64), Some(0x0807_0605_0403_0201));
        assert_eq!(widen(u32::MAX, &mut zip64), None);
    }

    fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, data) in files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, data).unwrap();
        }
        dir
    }

    #[test]
    fn zip64_records_and_streamed_entries_of_package_unpack() {
        // Past the streaming threshold: a data descriptor with 64-bit sizes
        // when zip64 is forced, 32-bit otherwise.
        let big: Vec<u8> = (0..(8u32 << 20) + 1000).map(|i| (i % 251) as u8).collect();
        let src = tree(&[("big.bin", &big), ("a/b.txt", b"hello"), ("empty", b"")]);
        let out = tempfile::tempdir().unwrap();
        for (name, options) in [
            ("plain", crate::PackageOptions::new()),
            ("zip64", crate::PackageOptions::new().force_zip64()),
        ] {
            let zip = out.path().join(format!("{name}.zip"));
            crate::package(src.path(), &zip, &options).unwrap();
            let dest = out.path().join(name);
            let unpacked = unpack(&zip, &dest, &UnpackLimits::default()).unwrap();
            assert_eq!(unpacked.files, 3);
            assert_eq!(unpacked.entries, 3);
            assert_eq!(unpacked.bytes, big.len() as u64 + 5);
            assert_eq!(fs::read(dest.join("big.bin")).unwrap(), big);
            assert_eq!(fs::read(dest.join("a/b.txt")).unwrap(), b"hello");
            assert_eq!(fs::read(dest.join("empty")).unwrap(), b"");
        }
    }
}
