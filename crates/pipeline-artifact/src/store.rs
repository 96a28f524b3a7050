//! The artifact store: zips kept by their digest, `<dir>/<sha256>.zip`, so
//! that every environment a release is promoted into gets the very bytes
//! the first one got.
//!
//! A zip is put in the store by copying it through SHA-256 into a temporary
//! file of the store's own directory (`.<sha256>.zip.<pid>.<n>.partial`),
//! checking the digest, syncing and renaming: a reader sees a whole,
//! checked zip under its digest's name, or nothing. Two writers of the same
//! digest both succeed (the second rename replaces the same bytes).

use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use crate::digest::{DigestMismatch, Sha256Digest};

/// Why the store could not keep or give an artifact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file to keep has other bytes than its digest says.
    #[error(transparent)]
    Mismatch(#[from] DigestMismatch),
    /// A file could not be read or written.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done (`cannot read`, `cannot write`).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// Zips by digest in one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactStore {
    dir: PathBuf,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl ArtifactStore {
    /// The store in `dir` (made when the first zip is kept).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `digest`'s zip is kept.
    pub fn path(&self, digest: &Sha256Digest) -> PathBuf {
        self.dir.join(format!("{digest}.zip"))
    }

    /// `digest`'s zip, if the store has it.
    pub fn get(&self, digest: &Sha256Digest) -> Option<PathBuf> {
        let path = self.path(digest);
        path.is_file().then_some(path)
    }

    /// Keeps `file` as `digest`'s zip and gives its path in the store:
    /// copied through SHA-256, checked against `digest`, synced, renamed
    /// into place. `file` may be the stored zip itself.
    ///
    /// # Errors
    ///
    /// [`StoreError::Mismatch`] when `file` is not `digest`'s bytes (nothing
    /// is kept); [`StoreError::Io`] naming the file that could not be read
    /// or written.
    pub fn put(&self, file: &Path, digest: &Sha256Digest) -> Result<PathBuf, StoreError> {
        let dest = self.path(digest);
        let io = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { what, path, source }
        };
        if same_file(file, &dest) {
            crate::verify(&dest, digest).map_err(|e| match e {
                crate::VerifyError::Mismatch(m) => StoreError::Mismatch(m),
                crate::VerifyError::Read { path, source } => StoreError::Io {
                    what: "cannot read",
                    path,
                    source,
                },
            })?;
            return Ok(dest);
        }
        fs::create_dir_all(&self.dir).map_err(io("cannot create", &self.dir))?;
        let temp = self.dir.join(format!(
            ".{digest}.zip.{}.{}.partial",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut input = File::open(file).map_err(io("cannot read", file))?;
            let mut output = File::create(&temp).map_err(io("cannot write", &temp))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 256 << 10];
            loop {
                let n = input.read(&mut buf).map_err(io("cannot read", file))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                output
                    .write_all(&buf[..n])
                    .map_err(io("cannot write", &temp))?;
            }
            let actual = Sha256Digest::from_hasher(hasher);
            if actual != *digest {
                return Err(StoreError::Mismatch(DigestMismatch {
                    path: file.to_path_buf(),
                    expected: *digest,
                    actual,
                }));
            }
            output.sync_all().map_err(io("cannot write", &temp))?;
            fs::rename(&temp, &dest).map_err(io("cannot write", &dest))?;
            // The rename is durable once the directory is.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(dest.clone())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(bytes: &[u8]) -> Sha256Digest {
        Sha256Digest::of(bytes)
    }

    #[test]
    fn a_zip_is_kept_under_its_digest_and_only_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::new(dir.path().join("store"));
        let file = dir.path().join("app.zip");
        fs::write(&file, b"the bytes").unwrap();
        let digest = digest_of(b"the bytes");
        assert_eq!(store.get(&digest), None);
        let kept = store.put(&file, &digest).unwrap();
        assert_eq!(kept, store.path(&digest));
        assert_eq!(fs::read(&kept).unwrap(), b"the bytes");
        assert_eq!(store.get(&digest), Some(kept.clone()));
        // Again, and from the store itself: the same.
        assert_eq!(store.put(&file, &digest).unwrap(), kept);
        assert_eq!(store.put(&kept, &digest).unwrap(), kept);

        // Other bytes under a digest: refused, nothing kept, no leftovers.
        let other = digest_of(b"other bytes");
        let e = store.put(&file, &other).unwrap_err();
        assert!(matches!(e, StoreError::Mismatch(_)), "{e}");
        assert_eq!(store.get(&other), None);
        let names: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");

        let e = store
            .put(&dir.path().join("missing.zip"), &digest)
            .unwrap_err();
        assert!(e.to_string().starts_with("cannot read "), "{e}");
    }
}
