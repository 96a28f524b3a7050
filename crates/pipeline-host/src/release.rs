//! Releases on disk, unpacked from an artifact that was hashed while it
//! arrived. An artifact is kept only once its digest matched and it
//! unpacked whole.
//!
//! Layout of `releases/` (state format 2):
//!
//! - `<version>/`: the unpacked release, the app's working directory;
//! - `.meta/<version>`: its artifact's SHA-256 (hex), written before the
//!   directory is moved into place, so a directory there is always
//!   recorded;
//! - `.staging/`: uploads and unpacks under way, emptied at start.
//!
//! A version never starts with a dot, so no version reaches `.meta` or
//! `.staging`, and nothing but releases sits beside the versions. Format 1
//! kept the digest in `releases/<version>.sha256` and unpacked beside the
//! versions (`<version>.partial-…`), names a version could take:
//! [`Releases::migrate_v1`] moves such a directory to this layout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Buf as _;
use http_body_util::BodyExt as _;
use hyper::body::Body;
use pipeline_artifact::{Sha256Digest, UnpackLimits};
use sha2::Digest as _;
use tokio::io::AsyncWriteExt as _;

use crate::spec::valid_version;
use crate::state::{ReleaseRef, write_atomic};

const META: &str = ".meta";
const STAGING: &str = ".staging";

/// The releases directory of a state directory.
#[derive(Debug)]
pub struct Releases {
    dir: PathBuf,
    /// One lock per version being installed: two deploys of one version
    /// (to two environments) unpack it once, the second finds it there.
    installing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Why an artifact was not kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The bytes have another digest.
    #[error("the artifact's sha256 is {actual}, expected {expected}")]
    DigestMismatch {
        /// The digest asked for.
        expected: String,
        /// The digest received.
        actual: String,
    },
    /// The zip does not unpack.
    #[error("the artifact does not unpack")]
    Corrupt(#[source] pipeline_artifact::UnpackError),
    /// The version exists with another digest.
    #[error("release {version} exists with sha256 {existing}; a version names one artifact")]
    Conflict {
        /// The version.
        version: String,
        /// Its digest on disk.
        existing: String,
    },
    /// More bytes than allowed.
    #[error("the artifact is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The upload broke off.
    #[error("the upload broke off: {0}")]
    Upload(String),
    /// No such release on disk.
    #[error("release {0} is not on this host")]
    Unknown(String),
    /// Not a version ([`valid_version`]).
    #[error("`{0}` is not a version")]
    InvalidVersion(String),
    /// The digest of the release could not be recorded.
    #[error("cannot record the release")]
    Record(#[source] crate::state::StateError),
    /// The disk failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

static STAGED: AtomicU64 = AtomicU64::new(0);

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ReleaseError {
    let path = path.to_path_buf();
    move |source| ReleaseError::Io { op, path, source }
}

impl Releases {
    /// The releases under `state_dir/releases`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join("releases"),
            installing: Mutex::new(HashMap::new()),
        }
    }

    /// The directory of `version`.
    pub fn path(&self, version: &str) -> PathBuf {
        self.dir.join(version)
    }

    fn meta(&self, version: &str) -> PathBuf {
        self.dir.join(META).join(version)
    }

    /// The release `version`, if it is on disk whole.
    pub fn get(&self, version: &str) -> Option<ReleaseRef> {
        if !valid_version(version) {
            return None;
        }
        let sha = std::fs::read_to_string(self.meta(version)).ok()?;
        let sha = sha.trim().to_owned();
        let dir = std::fs::symlink_metadata(self.path(version)).ok()?;
        dir.is_dir().then(|| ReleaseRef {
            version: version.to_owned(),
            sha256: sha,
        })
    }

    /// Removes what a crash left half-done: uploads and unpacks under way,
    /// digests written for a directory that never arrived. Never a release.
    pub fn clean(&self) {
        let _ = std::fs::remove_dir_all(self.dir.join(STAGING));
        let Ok(entries) = std::fs::read_dir(self.dir.join(META)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Temporary files of an atomic write start with a dot.
            if name.starts_with('.') || !self.path(&name).is_dir() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Moves a state directory of format 1 to this layout: each
    /// `<version>.sha256` file becomes `.meta/<version>`; what format 1 left
    /// half-done (`.incoming-*` uploads, `<version>.partial-*` unpacks that
    /// no digest records) goes. Whatever has a digest is a release and
    /// stays, whatever its name. Safe to run again after a crash.
    pub fn migrate_v1(&self) -> Result<(), ReleaseError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("read", &self.dir)(e)),
        };
        let meta_dir = self.dir.join(META);
        std::fs::create_dir_all(&meta_dir).map_err(io("create", &meta_dir))?;
        let mut dirs = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_file() && name.starts_with(".incoming-") {
                let _ = std::fs::remove_file(&path);
            } else if kind.is_file()
                && let Some(version) = name.strip_suffix(".sha256")
                && valid_version(version)
            {
                let to = self.meta(version);
                std::fs::rename(&path, &to).map_err(io("move", &path))?;
            } else if kind.is_dir() && valid_version(&name) {
                dirs.push((name, path));
            }
        }
        for (name, path) in dirs {
            if name.contains(".partial-") && !self.meta(&name).exists() {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
        Ok(())
    }

    fn lock_of(&self, version: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .installing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Locks no one holds any more go.
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        Arc::clone(locks.entry(version.to_owned()).or_default())
    }

    /// Receives an artifact for `version` from `body`, hashing it as it
    /// arrives; keeps it only if its digest is `expected` and it unpacks
    /// within `limits`. The same version and digest received twice, even
    /// at once, is one release; another digest under a stored version is
    /// [`ReleaseError::Conflict`].
    pub async fn receive<B>(
        &self,
        version: &str,
        expected: &Sha256Digest,
        mut body: B,
        limit: u64,
        limits: &UnpackLimits,
    ) -> Result<ReleaseRef, ReleaseError>
    where
        B: Body<Data = bytes::Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        if !valid_version(version) {
            return Err(ReleaseError::InvalidVersion(version.to_owned()));
        }
        let staging = self.dir.join(STAGING);
        tokio::fs::create_dir_all(&staging)
            .await
            .map_err(io("create", &staging))?;
        let n = STAGED.fetch_add(1, Ordering::Relaxed);
        let work = staging.join(format!("{}-{n}", std::process::id()));
        let zip = staging.join(format!("{}-{n}.zip", std::process::id()));
        let result = async {
            let mut file = tokio::fs::File::create(&zip)
                .await
                .map_err(io("create", &zip))?;
            let mut hasher = sha2::Sha256::new();
            let mut size = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| ReleaseError::Upload(e.to_string()))?;
                if let Ok(mut data) = frame.into_data() {
                    size += data.remaining() as u64;
                    if size > limit {
                        return Err(ReleaseError::TooLarge { limit });
                    }
                    hasher.update(&data);
                    file.write_all_buf(&mut data)
                        .await
                        .map_err(io("write", &zip))?;
                }
            }
            file.sync_all().await.map_err(io("write", &zip))?;
            drop(file);
            let actual = Sha256Digest::from(<[u8; 32]>::from(hasher.finalize()));
            if actual != *expected {
                return Err(ReleaseError::DigestMismatch {
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
            let want = ReleaseRef {
                version: version.to_owned(),
                sha256: expected.to_string(),
            };
            let lock = self.lock_of(version);
            let _installing = lock.lock().await;
            if let Some(existing) = self.get(version) {
                return if existing.sha256 == want.sha256 {
                    Ok(existing)
                } else {
                    Err(ReleaseError::Conflict {
                        version: version.to_owned(),
                        existing: existing.sha256,
                    })
                };
            }
            tokio::fs::create_dir(&work)
                .await
                .map_err(io("create", &work))?;
            let tree = work.join("tree");
            let (from, to, limits) = (zip.clone(), tree.clone(), *limits);
            tokio::task::spawn_blocking(move || pipeline_artifact::unpack(&from, &to, &limits))
                .await
                .map_err(|e| ReleaseError::Upload(format!("the unpacking task failed: {e}")))?
                .map_err(ReleaseError::Corrupt)?;
            // The digest first: a directory in place is always recorded.
            let meta = self.meta(version);
            let meta_dir = self.dir.join(META);
            tokio::fs::create_dir_all(&meta_dir)
                .await
                .map_err(io("create", &meta_dir))?;
            write_atomic(&meta, format!("{}\n", want.sha256).as_bytes(), 0o644)
                .map_err(ReleaseError::Record)?;
            let dest = self.path(version);
            if tokio::fs::symlink_metadata(&dest).await.is_ok() {
                // Unpacked by a format 1 agent that never recorded it.
                tokio::fs::remove_dir_all(&dest)
                    .await
                    .map_err(io("remove", &dest))?;
            }
            tokio::fs::rename(&tree, &dest)
                .await
                .map_err(io("move the release to", &dest))?;
            std::fs::File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io("sync", &self.dir))?;
            Ok(want)
        }
        .await;
        let _ = tokio::fs::remove_file(&zip).await;
        let _ = tokio::fs::remove_dir_all(&work).await;
        result
    }
}
