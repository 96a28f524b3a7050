//! Packaging: the tree read, files compressed in parallel, the archive
//! written in order through a SHA-256, then moved into place.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read as _, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, mpsc};

use flate2::Compression;
use flate2::write::DeflateEncoder;
use sha2::Digest as _;

use crate::digest::Sha256Digest;
use crate::ignore::{PatternError, Rules};
use crate::unpack::UnpackLimits;
use crate::walk::{self, SourceFile};
use crate::zip;

/// The exclusions applied unless [`PackageOptions::default_excludes`] is
/// turned off, in gitignore syntax: Python caches and virtual environments,
/// git metadata, test directories, and the ignore file itself.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    "__pycache__/",
    "*.pyc",
    ".pytest_cache/",
    ".venv/",
    "venv/",
    ".git/",
    "tests/",
    "/.deployignore",
];

/// The ignore file read from the source root, in gitignore syntax.
pub const IGNORE_FILE: &str = ".deployignore";

/// The deflate level, fixed: the bytes of the artifact depend on it.
const LEVEL: u32 = 6;
/// Files larger than this are streamed by the writer instead of compressed
/// ahead in memory by a worker.
const STREAM_THRESHOLD: u64 = 8 << 20;
/// At most this many bytes of files (by their size) are read and compressed
/// ahead of the writer.
const READ_AHEAD: u64 = 32 << 20;
/// Read and write buffer size.
const CHUNK: usize = 256 << 10;
/// A streamed file from this size on gets a zip64 local header: its sizes are
/// only known after its data, and deflate may grow incompressible data a
/// little.
const STREAM_ZIP64_FROM: u64 = 0xF000_0000;

/// Why packaging failed. Each error names the path involved; nothing is left
/// at the output path (the partial file is removed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The source directory cannot be read.
    #[error("cannot read the source directory {}", path.display())]
    Source {
        /// The directory given.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The source is not a directory.
    #[error("the source {} is not a directory", path.display())]
    SourceNotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The output path cannot be used.
    #[error("cannot write the artifact to {}: {reason}", path.display())]
    Output {
        /// The path given.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// The output would be inside the tree being packaged.
    #[error("the artifact {} would be inside the source directory {}", output.display(), source_dir.display())]
    OutputInsideSource {
        /// The output path given.
        output: PathBuf,
        /// The source directory.
        source_dir: PathBuf,
    },
    /// An exclusion pattern is malformed.
    #[error("{origin}: bad pattern {pattern:?}: {reason}")]
    Pattern {
        /// `--exclude`, `default` or `.deployignore:LINE`.
        origin: String,
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The ignore file cannot be read.
    #[error("cannot read {}", path.display())]
    IgnoreFile {
        /// The ignore file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A directory in the tree cannot be listed.
    #[error("cannot list the directory {}", path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A file in the tree cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A symbolic link that is not excluded: links are never followed nor
    /// stored.
    #[error("{} is a symbolic link (to {}): links are not packaged; exclude it or replace it with what it points to", path.display(), target.display())]
    Symlink {
        /// The link.
        path: PathBuf,
        /// What it points to.
        target: PathBuf,
    },
    /// A socket, FIFO or device that is not excluded.
    #[error("{} is not a regular file; exclude it", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A file name that is not UTF-8 cannot be named portably in a zip.
    #[error("{} has a name that is not UTF-8; rename or exclude it", path.display())]
    NonUtf8Name {
        /// The path.
        path: PathBuf,
    },
    /// A relative path longer than a zip entry name can be (65535 bytes).
    #[error("{}: the path is too long for a zip entry", path.display())]
    NameTooLong {
        /// The path.
        path: PathBuf,
    },
    /// A file grew past what its zip header announced while it was read.
    #[error("{} changed while it was packaged", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// The archive would be refused by [`unpack`](crate::unpack) within
    /// the [`UnpackLimits`] it is packaged for: nothing is written.
    #[error("{}: the artifact would not unpack: {reason}", path.display())]
    WouldNotUnpack {
        /// The output path given.
        path: PathBuf,
        /// Which limit, and by how much.
        reason: String,
    },
    /// Every file is excluded (or the tree is empty).
    #[error("nothing to package: no file under {} is left after the exclusions", source_dir.display())]
    Empty {
        /// The source directory.
        source_dir: PathBuf,
    },
    /// The artifact cannot be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

impl From<PatternError> for PackageError {
    fn from(e: PatternError) -> Self {
        Self::Pattern {
            origin: e.origin,
            pattern: e.pattern,
            reason: e.reason.to_owned(),
        }
    }
}

/// What to leave out, and how many threads compress.
///
/// Exclusions apply in this order, the last match winning (so a `!pattern`
/// re-includes): [`DEFAULT_EXCLUDES`] (unless turned off), the lines of
/// `.deployignore` in the source root if there is one, the
/// [`exclude`](Self::exclude) patterns.
#[derive(Debug, Clone)]
pub struct PackageOptions {
    excludes: Vec<String>,
    default_excludes: bool,
    threads: Option<NonZeroUsize>,
    force_zip64: bool,
    unpack_limits: UnpackLimits,
}

impl Default for PackageOptions {
    fn default() -> Self {
        Self {
            excludes: Vec::new(),
            default_excludes: true,
            threads: None,
            force_zip64: false,
            unpack_limits: UnpackLimits::default(),
        }
    }
}

impl PackageOptions {
    /// The defaults: [`DEFAULT_EXCLUDES`] on, one compression thread per
    /// core (at least two).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an exclusion pattern (gitignore syntax; `!` re-includes).
    #[must_use]
    pub fn exclude(mut self, pattern: impl Into<String>) -> Self {
        self.excludes.push(pattern.into());
        self
    }

    /// Whether [`DEFAULT_EXCLUDES`] apply (default: yes).
    #[must_use]
    pub fn default_excludes(mut self, on: bool) -> Self {
        self.default_excludes = on;
        self
    }

    /// The number of compression threads (default: the cores, at least 2).
    /// The archive's bytes do not depend on it.
    #[must_use]
    pub fn threads(mut self, threads: NonZeroUsize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// The limits of the unpacker the artifact is for (default:
    /// [`UnpackLimits::default`]): an archive past them is not written
    /// ([`PackageError::WouldNotUnpack`]).
    #[must_use]
    pub fn unpack_limits(mut self, limits: UnpackLimits) -> Self {
        self.unpack_limits = limits;
        self
    }

    /// Writes zip64 fields for every entry and the end record even where not
    /// needed, to test readers on them with small archives.
    #[cfg(test)]
    pub(crate) fn force_zip64(mut self) -> Self {
        self.force_zip64 = true;
        self
    }

    fn rules(&self, source_dir: &Path) -> Result<Rules, PackageError> {
        let mut rules = Rules::default();
        if self.default_excludes {
            for pattern in DEFAULT_EXCLUDES {
                rules.add_pattern("default", pattern)?;
            }
        }
        let ignore_file = source_dir.join(IGNORE_FILE);
        match fs::read(&ignore_file) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| PackageError::IgnoreFile {
                    path: ignore_file.clone(),
                    source: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"),
                })?;
                rules.add_file(IGNORE_FILE, &text)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(PackageError::IgnoreFile {
                    path: ignore_file,
                    source,
                });
            }
        }
        for pattern in &self.excludes {
            rules.add_pattern("--exclude", pattern)?;
        }
        Ok(rules)
    }
}

/// The artifact written by [`package`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    path: PathBuf,
    sha256: Sha256Digest,
    size: u64,
    files: usize,
    source_bytes: u64,
}

impl Artifact {
    /// Where it was written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SHA-256 of its bytes: its identity for every later step.
    pub fn sha256(&self) -> &Sha256Digest {
        &self.sha256
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many files it holds.
    pub fn files(&self) -> usize {
        self.files
    }

    /// The total size of those files, uncompressed.
    pub fn source_bytes(&self) -> u64 {
        self.source_bytes
    }
}

/// Packages the files under `source` into a deterministic zip at `out`.
///
/// The archive is written to `OUT.partial`, synced, then renamed to `out`, so
/// `out` is either the complete archive or untouched. Its SHA-256 is computed
/// while it is written.
pub fn package(
    source: &Path,
    out: &Path,
    options: &PackageOptions,
) -> Result<Artifact, PackageError> {
    let source_dir = source.canonicalize().map_err(|e| PackageError::Source {
        path: source.to_path_buf(),
        source: e,
    })?;
    if !source_dir.is_dir() {
        return Err(PackageError::SourceNotADirectory {
            path: source.to_path_buf(),
        });
    }
    let output_error = |reason: &str| PackageError::Output {
        path: out.to_path_buf(),
        reason: reason.to_owned(),
    };
    let Some(file_name) = out.file_name() else {
        return Err(output_error("not a file name"));
    };
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !parent.exists() {
        // A fresh checkout has no `dist/`: make it, unless it would be made
        // inside the source.
        let lexical = std::path::absolute(parent)
            .map_err(|e| output_error(&format!("its directory cannot be used: {e}")))?;
        if lexical.starts_with(&source_dir) {
            return Err(PackageError::OutputInsideSource {
                output: out.to_path_buf(),
                source_dir: source.to_path_buf(),
            });
        }
        std::fs::create_dir_all(parent)
            .map_err(|e| output_error(&format!("its directory cannot be created: {e}")))?;
    }
    let parent = parent
        .canonicalize()
        .map_err(|e| output_error(&format!("its directory cannot be used: {e}")))?;
    let out_abs = parent.join(file_name);
    if out_abs.starts_with(&source_dir) {
        return Err(PackageError::OutputInsideSource {
            output: out.to_path_buf(),
            source_dir: source.to_path_buf(),
        });
    }
    if out_abs.is_dir() {
        return Err(output_error("it is a directory"));
    }
    let rules = options.rules(&source_dir)?;
    let files = walk::collect(&source_dir, &rules)?;
    if files.is_empty() {
        return Err(PackageError::Empty {
            source_dir: source.to_path_buf(),
        });
    }
    let mut partial_name = file_name.to_os_string();
    partial_name.push(".partial");
    let partial = parent.join(partial_name);
    let threads = options.threads.map_or_else(
        || {
            std::thread::available_parallelism()
                .map_or(2, NonZeroUsize::get)
                .max(2)
        },
        NonZeroUsize::get,
    );
    let written =
        write_archive(&partial, &files, threads, options.force_zip64).and_then(|written| {
            // Every artifact made here unpacks where it is going.
            if let Some(reason) = options.unpack_limits.exceeded_by(
                files.len() as u64,
                written.source_bytes,
                written.size,
            ) {
                return Err(PackageError::WouldNotUnpack {
                    path: out.to_path_buf(),
                    reason: format!(
                        "{reason}; the unpacker would take it for a bomb (package for other \
                         limits with PackageOptions::unpack_limits)"
                    ),
                });
            }
            fs::rename(&partial, &out_abs).map_err(|source| PackageError::Write {
                path: out.to_path_buf(),
                source,
            })?;
            // Make the rename itself durable.
            File::open(&parent)
                .and_then(|dir| dir.sync_all())
                .map_err(|source| PackageError::Write {
                    path: parent.clone(),
                    source,
                })?;
            Ok(written)
        });
    match written {
        Ok(written) => Ok(Artifact {
            path: out.to_path_buf(),
            sha256: written.sha256,
            size: written.size,
            files: files.len(),
            source_bytes: written.source_bytes,
        }),
        Err(e) => {
            // Best effort: the error that matters is `e`.
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}

struct Written {
    sha256: Sha256Digest,
    size: u64,
    source_bytes: u64,
}

/// The archive file: every byte written goes through the SHA-256.
struct HashingWriter {
    inner: BufWriter<File>,
    sha: sha2::Sha256,
    offset: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A file compressed ahead by a worker, or left for the writer to stream.
enum Prepared {
    Ready {
        method: u16,
        crc32: u32,
        size: u64,
        data: Vec<u8>,
    },
    Stream,
}

/// Hands out the files in order to the workers, keeping the bytes read
/// ahead of the writer under [`READ_AHEAD`].
struct Scheduler {
    state: Mutex<SchedulerState>,
    changed: Condvar,
}

struct SchedulerState {
    next: usize,
    in_flight: u64,
    cancelled: bool,
}

fn read_ahead_cost(file: &SourceFile) -> u64 {
    if file.size > STREAM_THRESHOLD {
        0
    } else {
        file.size
    }
}

impl Scheduler {
    fn lock(&self) -> MutexGuard<'_, SchedulerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self, files: &[SourceFile]) -> Option<usize> {
        let mut state = self.lock();
        loop {
            if state.cancelled || state.next >= files.len() {
                return None;
            }
            let cost = read_ahead_cost(&files[state.next]);
            // With nothing in flight the next file is the one the writer
            // waits for: always hand it out.
            if state.in_flight == 0 || state.in_flight + cost <= READ_AHEAD {
                let index = state.next;
                state.next += 1;
                state.in_flight += cost;
                return Some(index);
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn release(&self, cost: u64) {
        self.lock().in_flight -= cost;
        self.changed.notify_all();
    }

    fn cancel(&self) {
        self.lock().cancelled = true;
        self.changed.notify_all();
    }
}

fn compress_ahead(
    files: &[SourceFile],
    scheduler: &Scheduler,
    results: &mpsc::Sender<(usize, Result<Prepared, PackageError>)>,
) {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::new(LEVEL));
    while let Some(index) = scheduler.take(files) {
        let file = &files[index];
        let prepared = if file.size > STREAM_THRESHOLD {
            Ok(Prepared::Stream)
        } else {
            prepare(file, &mut encoder)
        };
        if results.send((index, prepared)).is_err() {
            return;
        }
    }
}

/// Opens a file of the tree without following a symlink that replaced it
/// after the listing, and only if it is still a regular file.
fn open_regular(path: &Path) -> std::io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file any more"));
    }
    Ok(file)
}

fn prepare(
    file: &SourceFile,
    encoder: &mut DeflateEncoder<Vec<u8>>,
) -> Result<Prepared, PackageError> {
    let read_error = |source| PackageError::Read {
        path: file.path.clone(),
        source,
    };
    // Read no more than the listing promised (and one byte to notice more):
    // a file that grew meanwhile is refused, never held whole in memory.
    let mut data = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
    open_regular(&file.path)
        .map_err(read_error)?
        .take(file.size.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(read_error)?;
    if data.len() as u64 > file.size {
        return Err(PackageError::Changed {
            path: file.path.clone(),
        });
    }
    let crc32 = crc32fast::hash(&data);
    let size = data.len() as u64;
    if data.is_empty() {
        return Ok(Prepared::Ready {
            method: zip::METHOD_STORED,
            crc32,
            size,
            data,
        });
    }
    // Writing into a Vec cannot fail.
    encoder.write_all(&data).map_err(read_error)?;
    let compressed = encoder
        .reset(Vec::with_capacity(data.len() / 2 + 64))
        .map_err(read_error)?;
    Ok(if compressed.len() < data.len() {
        Prepared::Ready {
            method: zip::METHOD_DEFLATE,
            crc32,
            size,
            data: compressed,
        }
    } else {
        Prepared::Ready {
            method: zip::METHOD_STORED,
            crc32,
            size,
            data,
        }
    })
}

fn write_archive(
    partial: &Path,
    files: &[SourceFile],
    threads: usize,
    force_zip64: bool,
) -> Result<Written, PackageError> {
    let write_error = |source| PackageError::Write {
        path: partial.to_path_buf(),
        source,
    };
    let file = File::create(partial).map_err(write_error)?;
    let mut out = HashingWriter {
        inner: BufWriter::with_capacity(CHUNK * 4, file),
        sha: sha2::Sha256::new(),
        offset: 0,
    };
    let scheduler = Scheduler {
        state: Mutex::new(SchedulerState {
            next: 0,
            in_flight: 0,
            cancelled: false,
        }),
        changed: Condvar::new(),
    };
    let entries = std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel();
        for _ in 0..threads {
            let sender = sender.clone();
            let scheduler = &scheduler;
            scope.spawn(move || compress_ahead(files, scheduler, &sender));
        }
        drop(sender);
        let written = write_entries(&mut out, files, &scheduler, &receiver, force_zip64);
        if written.is_err() {
            scheduler.cancel();
        }
        written
    });
    let entries = match entries {
        Ok(entries) => entries,
        Err(WriteFailure::Package(e)) => return Err(e),
        Err(WriteFailure::Io(e)) => return Err(write_error(e)),
    };

    let source_bytes = entries.iter().map(|e| e.size).sum();
    let cd_offset = out.offset;
    let mut buf = Vec::with_capacity(CHUNK);
    for entry in &entries {
        zip::central_header(&mut buf, entry, force_zip64);
        if buf.len() >= CHUNK {
            out.write_all(&buf).map_err(write_error)?;
            buf.clear();
        }
    }
    out.write_all(&buf).map_err(write_error)?;
    buf.clear();
    let cd_size = out.offset - cd_offset;
    zip::end_records(
        &mut buf,
        entries.len() as u64,
        cd_offset,
        cd_size,
        force_zip64,
    );
    out.write_all(&buf).map_err(write_error)?;
    let HashingWriter { inner, sha, offset } = out;
    let file = inner
        .into_inner()
        .map_err(|e| write_error(e.into_error()))?;
    file.sync_all().map_err(write_error)?;
    Ok(Written {
        sha256: Sha256Digest::from_hasher(sha),
        size: offset,
        source_bytes,
    })
}

enum WriteFailure {
    Package(PackageError),
    Io(io::Error),
}

impl From<io::Error> for WriteFailure {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Writes the entries in order as the workers deliver them (out of order).
fn write_entries(
    out: &mut HashingWriter,
    files: &[SourceFile],
    scheduler: &Scheduler,
    results: &mpsc::Receiver<(usize, Result<Prepared, PackageError>)>,
    force_zip64: bool,
) -> Result<Vec<zip::Entry>, WriteFailure> {
    let mut entries = Vec::with_capacity(files.len());
    let mut early = std::collections::HashMap::new();
    let mut header = Vec::with_capacity(512);
    for (index, file) in files.iter().enumerate() {
        let prepared = loop {
            if let Some(prepared) = early.remove(&index) {
                break prepared;
            }
            match results.recv() {
                Ok((i, prepared)) => {
                    early.insert(i, prepared);
                }
                Err(_) => {
                    return Err(io::Error::other("the compression threads stopped").into());
                }
            }
        };
        let entry = match prepared.map_err(WriteFailure::Package)? {
            Prepared::Ready {
                method,
                crc32,
                size,
                data,
            } => {
                let entry = zip::Entry {
                    name: file.name.clone(),
                    method,
                    crc32,
                    compressed_size: data.len() as u64,
                    size,
                    executable: file.executable,
                    offset: out.offset,
                    descriptor: false,
                    // Only a file that grew to 4 GiB after the tree was read
                    // gets here that large.
                    local_zip64: force_zip64 || size >= zip::MAX_U32,
                };
                header.clear();
                zip::local_header(&mut header, &entry);
                out.write_all(&header)?;
                out.write_all(&data)?;
                entry
            }
            Prepared::Stream => stream_entry(out, file, &mut header, force_zip64)?,
        };
        scheduler.release(read_ahead_cost(file));
        entries.push(entry);
    }
    Ok(entries)
}

/// Compresses a large file straight into the archive; its CRC and sizes
/// follow in a data descriptor.
fn stream_entry(
    out: &mut HashingWriter,
    file: &SourceFile,
    header: &mut Vec<u8>,
    force_zip64: bool,
) -> Result<zip::Entry, WriteFailure> {
    let read_error = |source| {
        WriteFailure::Package(PackageError::Read {
            path: file.path.clone(),
            source,
        })
    };
    let mut input = open_regular(&file.path).map_err(read_error)?;
    let mut entry = zip::Entry {
        name: file.name.clone(),
        method: zip::METHOD_DEFLATE,
        crc32: 0,
        compressed_size: 0,
        size: 0,
        executable: file.executable,
        offset: out.offset,
        descriptor: true,
        local_zip64: force_zip64 || file.size >= STREAM_ZIP64_FROM,
    };
    header.clear();
    zip::local_header(header, &entry);
    out.write_all(header)?;
    let mut crc = crc32fast::Hasher::new();
    let mut encoder = DeflateEncoder::new(&mut *out, Compression::new(LEVEL));
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        crc.update(&buf[..n]);
        encoder.write_all(&buf[..n])?;
    }
    encoder.try_finish()?;
    entry.size = encoder.total_in();
    entry.compressed_size = encoder.total_out();
    drop(encoder);
    entry.crc32 = crc.finalize();
    if !entry.local_zip64 && (entry.size >= zip::MAX_U32 || entry.compressed_size >= zip::MAX_U32) {
        return Err(WriteFailure::Package(PackageError::Changed {
            path: file.path.clone(),
        }));
    }
    header.clear();
    zip::data_descriptor(header, &entry);
    out.write_all(header)?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_file_swapped_for_a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        fs::write(&outside, "secret").unwrap();
        let inside = dir.path().join("inside.txt");
        std::os::unix::fs::symlink(&outside, &inside).unwrap();
        assert!(open_regular(&inside).is_err());
        assert!(open_regular(&outside).is_ok());
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

    /// Python's zipfile reads the archive and prints what it found.
    fn python_listing(zip: &Path) -> String {
        let script = r#"
import sys, zipfile, hashlib
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None
    for i in z.infolist():
        data = z.read(i)
        print(i.filename, i.compress_type, oct(i.external_attr >> 16), i.date_time, len(data), hashlib.sha256(data).hexdigest()[:8])
"#;
        let output = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(zip)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn zip64_records_are_read_by_python() {
        let src = tree(&[("a.txt", b"hello hello hello hello"), ("b/c.bin", b"")]);
        let out = tempfile::tempdir().unwrap();
        let plain = out.path().join("plain.zip");
        let zip64 = out.path().join("zip64.zip");
        package(src.path(), &plain, &PackageOptions::new()).unwrap();
        package(src.path(), &zip64, &PackageOptions::new().force_zip64()).unwrap();
        let listing = python_listing(&zip64);
        assert_eq!(listing, python_listing(&plain));
        assert!(listing.starts_with("a.txt 8 0o100644 (1980, 1, 1, 0, 0, 0) 23 "));
        assert!(listing.contains("\nb/c.bin 0 0o100644 (1980, 1, 1, 0, 0, 0) 0 "));
        assert!(fs::metadata(&zip64).unwrap().len() > fs::metadata(&plain).unwrap().len());
    }

    #[test]
    fn large_files_are_streamed_with_a_data_descriptor() {
        // Past the streaming threshold, compressible and not.
        let big: Vec<u8> = (0..STREAM_THRESHOLD + 1000)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut noise = Vec::with_capacity((STREAM_THRESHOLD + 7) as usize);
        let mut x: u32 = 1;
        for _ in 0..STREAM_THRESHOLD + 7 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            noise.push(x as u8);
        }
        let src = tree(&[("big.bin", &big), ("noise.bin", &noise), ("z.txt", b"z")]);
        let out = tempfile::tempdir().unwrap();
        for (name, options) in [
            ("a.zip", PackageOptions::new()),
            ("b.zip", PackageOptions::new().force_zip64()),
        ] {
            let path = out.path().join(name);
            let artifact = package(src.path(), &path, &options).unwrap();
            assert_eq!(artifact.files(), 3);
            let listing = python_listing(&path);
            let lines: Vec<&str> = listing.lines().collect();
            assert_eq!(lines.len(), 3);
            assert!(lines[0].starts_with(&format!(
                "big.bin 8 0o100644 (1980, 1, 1, 0, 0, 0) {} ",
                big.len()
            )));
            assert!(lines[1].starts_with(&format!(
                "noise.bin 8 0o100644 (1980, 1, 1, 0, 0, 0) {} ",
                noise.len()
            )));
            let digest = Sha256Digest::of(&noise).to_string();
            assert!(lines[1].ends_with(&digest[..8]));
        }
    }

    #[test]
    fn the_bytes_do_not_depend_on_the_thread_count() {
        let files: Vec<(String, Vec<u8>)> = (0..200)
            .map(|i| {
                (
                    format!("d{}/f{i}.py", i % 7),
                    format!("x = {i}\n").repeat(i).into_bytes(),
                )
            })
            .collect();
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let src = tree(&refs);
        let out = tempfile::tempdir().unwrap();
        let digests: Vec<Sha256Digest> = [1, 2, 5]
            .into_iter()
            .map(|n| {
                let path = out.path().join(format!("{n}.zip"));
                let options = PackageOptions::new().threads(NonZeroUsize::new(n).unwrap());
                *package(src.path(), &path, &options).unwrap().sha256()
            })
            .collect();
        assert_eq!(digests[0], digests[1]);
        assert_eq!(digests[0], digests[2]);
    }

    #[cfg(unix)]
    #[test]
    fn a_failure_leaves_nothing_behind() {
        let src = tree(&[("a.txt", b"a")]);
        std::os::unix::fs::symlink("a.txt", src.path().join("link")).unwrap();
        let out = tempfile::tempdir().unwrap();
        let path = out.path().join("app.zip");
        let err = package(src.path(), &path, &PackageOptions::new()).unwrap_err();
        assert!(matches!(err, PackageError::Symlink { .. }), "{err}");
        assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
    }
}
