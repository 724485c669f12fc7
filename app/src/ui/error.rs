//! Why an import or export from the window failed.

use std::fmt;
use std::path::PathBuf;

/// Why a text file could not be imported or exported; shown in the dialog that asked.
#[derive(Debug)]
pub enum FileError {
    /// No document is open, so there is nothing to export.
    NoDocument,
    /// The path field is empty.
    NoPath,
    /// The file to import could not be read (or is not UTF-8).
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The file to export to could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::NoDocument => f.write_str("No document is open"),
            FileError::NoPath => f.write_str("Give a file path"),
            FileError::Read { path, source } => write!(f, "Cannot read {}: {source}", path.display()),
            FileError::Write { path, source } => write!(f, "Cannot write {}: {source}", path.display()),
        }
    }
}

// The file system's reason is part of the message the dialog shows, so it is not also
// given as the source (a chain would print it twice).
impl std::error::Error for FileError {}
