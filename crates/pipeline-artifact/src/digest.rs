//! SHA-256 digests: the artifact's identity from packaging to production.

use std::fmt;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::Digest as _;

/// A SHA-256 digest, shown and parsed as 64 lowercase hexadecimal digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// The 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn from_hasher(hasher: sha2::Sha256) -> Self {
        Self(hasher.finalize().into())
    }
}

impl From<[u8; 32]> for Sha256Digest {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({self})")
    }
}

/// A string that is not 64 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 digest (64 hexadecimal digits): {input:?}")]
pub struct ParseDigestError {
    input: String,
}

impl FromStr for Sha256Digest {
    type Err = ParseDigestError;

    /// Parses 64 hexadecimal digits, either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ParseDigestError {
            input: s.chars().take(80).collect(),
        };
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(error());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let hi = hex_value(pair[0]).ok_or_else(error)?;
            let lo = hex_value(pair[1]).ok_or_else(error)?;
            *byte = (hi << 4) | lo;
        }
        Ok(Self(out))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The SHA-256 of a file, read in a stream.
pub fn sha256_file(path: &Path) -> io::Result<Sha256Digest> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(Sha256Digest::from_hasher(hasher))
}

/// The artifact's digest differs from the one expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: sha256 is {actual}, expected {expected}", path.display())]
pub struct DigestMismatch {
    /// The artifact checked.
    pub path: PathBuf,
    /// The digest asked for.
    pub expected: Sha256Digest,
    /// The digest the file has.
    pub actual: Sha256Digest,
}

/// Why [`verify`] refused an artifact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The file has other bytes than the ones expected.
    #[error(transparent)]
    Mismatch(#[from] DigestMismatch),
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The artifact.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// Checks that the file at `path` has the digest `expected`: every step after
/// packaging refers to the artifact by digest and refuses any other bytes.
pub fn verify(path: &Path, expected: &Sha256Digest) -> Result<(), VerifyError> {
    let actual = sha256_file(path).map_err(|source| VerifyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if actual == *expected {
        Ok(())
    } else {
        Err(DigestMismatch {
            path: path.to_path_buf(),
            expected: *expected,
            actual,
        }
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn known_digests_round_trip_through_text() {
        let empty = Sha256Digest::of(b"");
        assert_eq!(empty.to_string(), EMPTY);
        assert_eq!(EMPTY.parse::<Sha256Digest>().unwrap(), empty);
        assert_eq!(EMPTY.to_uppercase().parse::<Sha256Digest>().unwrap(), empty);
        assert_eq!(
            Sha256Digest::of(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn malformed_digests_are_refused() {
        for bad in [
            "",
            "abc",
            &EMPTY[1..],
            &format!("{EMPTY}0"),
            &EMPTY.replace('e', "g"),
        ] {
            assert!(bad.parse::<Sha256Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn verify_names_both_digests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        std::fs::write(&path, b"abc").unwrap();
        verify(&path, &Sha256Digest::of(b"abc")).unwrap();
        let err = verify(&path, &Sha256Digest::of(b"")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: sha256 is {}, expected {EMPTY}",
                path.display(),
                Sha256Digest::of(b"abc")
            )
        );
        let missing = dir.path().join("missing.zip");
        assert!(matches!(
            verify(&missing, &Sha256Digest::of(b"")),
            Err(VerifyError::Read { .. })
        ));
    }
}
