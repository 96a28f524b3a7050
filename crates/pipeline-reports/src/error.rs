//! The errors of reading a report.

use std::io;
use std::path::{Path, PathBuf};

/// Why a report could not be read. Every variant names the file; syntax errors
/// also name the line and column (1-based, the column counted in characters).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The file could not be opened or read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The report file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The file is not well-formed: broken XML or JSON, invalid UTF-8, truncated.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The report file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column, in characters.
        column: u64,
        /// What is wrong there, a lowercase fragment.
        message: String,
    },
    /// The file is well-formed but is not a report of the expected kind
    /// (an empty file, a Cobertura file given as JUnit, a DOCTYPE that declares entities).
    #[error("{}: {message}", path.display())]
    Format {
        /// The report file.
        path: PathBuf,
        /// What is wrong, a lowercase fragment.
        message: String,
    },
}

impl ReportError {
    /// The report file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReportError::Io { path, .. }
            | ReportError::Syntax { path, .. }
            | ReportError::Format { path, .. } => path,
        }
    }

    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        ReportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn format(path: &Path, message: impl Into<String>) -> Self {
        ReportError::Format {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}
