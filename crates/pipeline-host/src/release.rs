//! Releases on disk: `releases/<version>/` unpacked from an artifact that
//! was hashed while it arrived, with `releases/<version>.sha256` beside it.
//! An artifact is kept only once its digest matched and it unpacked whole.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Buf as _;
use http_body_util::BodyExt as _;
use hyper::body::Body;
use pipeline_artifact::Sha256Digest;
use sha2::Digest as _;
use tokio::io::AsyncWriteExt as _;

use crate::state::{ReleaseRef, write_atomic};

/// The releases directory of a state directory.
#[derive(Debug, Clone)]
pub struct Releases {
    dir: PathBuf,
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
    #[error("the artifact does not unpack: {0}")]
    Corrupt(String),
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
    /// The disk failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

static INCOMING: AtomicU64 = AtomicU64::new(0);

impl Releases {
    /// The releases under `state_dir/releases`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join("releases"),
        }
    }

    /// The directory of `version`.
    pub fn path(&self, version: &str) -> PathBuf {
        self.dir.join(version)
    }

    fn digest_file(&self, version: &str) -> PathBuf {
        self.dir.join(format!("{version}.sha256"))
    }

    /// The release `version`, if it is on disk whole.
    pub fn get(&self, version: &str) -> Option<ReleaseRef> {
        let sha = std::fs::read_to_string(self.digest_file(version)).ok()?;
        let sha = sha.trim().to_owned();
        self.path(version).is_dir().then(|| ReleaseRef {
            version: version.to_owned(),
            sha256: sha,
        })
    }

    /// Removes what a crash left half-done: uploads in progress and
    /// half-unpacked directories.
    pub fn clean(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(".incoming-") {
                let _ = std::fs::remove_file(&path);
            } else if name.contains(".partial-") {
                let _ = std::fs::remove_dir_all(&path);
            } else if path.is_dir() && !self.digest_file(&name).exists() {
                // Unpacked but never recorded: not a release.
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }

    /// Receives an artifact for `version` from `body`, hashing it as it
    /// arrives; keeps it only if its digest is `expected` and it unpacks.
    pub async fn receive<B>(
        &self,
        version: &str,
        expected: &Sha256Digest,
        mut body: B,
        limit: u64,
    ) -> Result<ReleaseRef, ReleaseError>
    where
        B: Body<Data = bytes::Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReleaseError::Io { path, source }
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(io(&self.dir))?;
        let n = INCOMING.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".incoming-{}-{n}.zip", std::process::id()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await.map_err(io(&tmp))?;
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
                    file.write_all_buf(&mut data).await.map_err(io(&tmp))?;
                }
            }
            file.sync_all().await.map_err(io(&tmp))?;
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
            let dest = self.path(version);
            if dest.exists() {
                // Unpacked by an earlier attempt that never recorded it.
                tokio::fs::remove_dir_all(&dest).await.map_err(io(&dest))?;
            }
            let (zip, to) = (tmp.clone(), dest.clone());
            tokio::task::spawn_blocking(move || {
                pipeline_artifact::unpack(&zip, &to, &pipeline_artifact::UnpackLimits::default())
            })
            .await
            .map_err(|e| ReleaseError::Corrupt(e.to_string()))?
            .map_err(|e| ReleaseError::Corrupt(e.to_string()))?;
            let digest_file = self.digest_file(version);
            write_atomic(&digest_file, format!("{}\n", want.sha256).as_bytes(), 0o644)
                .map_err(|e| ReleaseError::Corrupt(e.to_string()))?;
            Ok(want)
        }
        .await;
        let _ = tokio::fs::remove_file(&tmp).await;
        result
    }
}
