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
    /// The file to import is not UTF-8 text.
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Where its first byte that is not UTF-8 is.
        offset: usize,
    },
    /// The path to import names a folder or a device, not a file.
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file to export to exists, and the user has not said to replace it.
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The document could not be created from the file.
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No file chooser answered (the system has none): the path is to be typed.
    NoChooser,
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
            FileError::NotUtf8 { path, offset } => {
                write!(f, "{} is not UTF-8 text (invalid byte at offset {offset})", path.display())
            }
            FileError::NotAFile { path } => {
                write!(f, "{} is a folder or a device, not a file", path.display())
            }
            FileError::Exists { path } => write!(f, "{} exists already. Replace it?", path.display()),
            FileError::Create { path, reason } => {
                write!(f, "Cannot import {}: {reason}", path.display())
            }
            FileError::NoChooser => f.write_str("No file chooser is available here: type the path"),
        }
    }
}

// The file system's reason is part of the message the dialog shows, so it is not also
// given as the source (a chain would print it twice).
impl std::error::Error for FileError {}
