//! The deployment artifact: build once, promote the same bytes.
//!
//! [`package`] writes a source tree as a deterministic zip: the same files
//! give the same bytes, whatever the machine, the file times, the umask, the
//! order the files were created in or the number of threads. Every later
//! step refers to the artifact by its SHA-256 ([`Sha256Digest`]) and checks it
//! with [`verify`] before use. On the machine that runs it, [`unpack`]
//! extracts it strictly and safely (checked names, no links, limits against
//! zip bombs, every CRC verified) into a new release directory. Between the
//! two, an [`ArtifactStore`] keeps zips by digest, written whole or not at
//! all.
//!
//! # The archive
//!
//! - **Entries** are the regular files of the tree, sorted by the byte order
//!   of their `/`-separated path relative to the source root. Directories are
//!   not stored (so empty directories are left out); extraction creates the
//!   ones the files need.
//! - **Fixed metadata:** every entry is dated 1980-01-01 00:00:00 (the zip
//!   epoch), "made by" Unix, with mode `0644`, or `0755` when the file has any
//!   execute bit. No extra fields (no extended timestamps, no uid/gid), no
//!   comments; file names are UTF-8 (the UTF-8 flag is set for non-ASCII
//!   names).
//! - **Compression:** deflate at level 6; empty files, and files that deflate
//!   does not shrink, are stored. The deflate encoder's version is pinned by
//!   `Cargo.lock`: the same build gives the same bytes.
//! - **zip64** fields are written only when needed: more than 65534 entries,
//!   a file of 4 GiB or more, or an archive past 4 GiB.
//! - **Symbolic links** that are not excluded are refused, naming the path
//!   (never followed: a link could pull in files from outside the tree).
//!   So are sockets, FIFOs, devices and names that are not UTF-8.
//!
//! # Exclusions
//!
//! gitignore syntax, the last matching rule winning: [`DEFAULT_EXCLUDES`]
//! (unless [`PackageOptions::default_excludes`] is off), then
//! [`IGNORE_FILE`] (`.deployignore`) in the source root, then
//! [`PackageOptions::exclude`]. Supported: blank lines, `#` comments, `\`
//! escapes, `!` negation, `dir/` for directories only, `/` anchoring,
//! `*`, `?`, `[a-z]`, `[!a-z]`, `**`. An excluded directory is not entered,
//! so nothing under it can be re-included (as in git).
//!
//! # Writing
//!
//! Worker threads read and compress the files (up to 8 MiB each, at most
//! 32 MiB ahead of the writer); one writer puts them in order into
//! `OUT.partial` through the SHA-256, streams larger files itself, then syncs
//! the file and renames it to `OUT`. Memory does not grow with the tree
//! beyond the list of names.
//!
//! # Example
//!
//! ```
//! use pipeline_artifact::{package, unpack, verify, PackageOptions, UnpackLimits};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let src = dir.path().join("app");
//! # std::fs::create_dir_all(src.join("__pycache__"))?;
//! # std::fs::write(src.join("main.py"), "print('hi')\n")?;
//! # std::fs::write(src.join("__pycache__/main.cpython-312.pyc"), b"\0")?;
//! # std::fs::write(src.join("debug.log"), "x")?;
//! let out = dir.path().join("app.zip");
//! let options = PackageOptions::new().exclude("*.log");
//! let artifact = package(&src, &out, &options)?;
//! assert_eq!(artifact.files(), 1); // main.py: the cache and the log are excluded
//!
//! // Later steps check the bytes against the digest they were given.
//! verify(&out, artifact.sha256())?;
//!
//! // The deploy agent extracts it into a new release directory.
//! let release = dir.path().join("releases/1.0.0");
//! # std::fs::create_dir(dir.path().join("releases"))?;
//! let unpacked = unpack(&out, &release, &UnpackLimits::default())?;
//! assert_eq!(unpacked.files, 1);
//! assert_eq!(std::fs::read_to_string(release.join("main.py"))?, "print('hi')\n");
//! # Ok(())
//! # }
//! ```
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod digest;
mod ignore;
mod package;
mod store;
mod unpack;
mod walk;
mod zip;

pub use digest::{
    DigestMismatch, ParseDigestError, Sha256Digest, VerifyError, sha256_file, verify,
};
pub use package::{Artifact, DEFAULT_EXCLUDES, IGNORE_FILE, PackageError, PackageOptions, package};
pub use store::{ArtifactStore, StoreError};
pub use unpack::{UnpackError, UnpackLimits, Unpacked, unpack};

/// Every failure of this crate is the caller's input: a tree that cannot be
/// packaged, an artifact that is not the one named, one that does not
/// unpack (exit 2).
macro_rules! input_errors {
    ($($t:ty),*) => {$(
        impl pipeline_ci::Classified for $t {
            fn exit(&self) -> pipeline_ci::Exit {
                pipeline_ci::Exit::Usage
            }
        }
    )*};
}
input_errors!(
    PackageError,
    VerifyError,
    DigestMismatch,
    ParseDigestError,
    StoreError,
    UnpackError
);

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
