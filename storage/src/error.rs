//! The storage error type.

use std::path::PathBuf;

/// Everything that can go wrong with the device database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process holds the database.
    #[error("another Tandem is using {}", dir.display())]
    InUse {
        /// The data dir.
        dir: PathBuf,
    },
    /// The file is damaged or not ours; it was left untouched.
    #[error("{} is corrupt or not a Tandem database: {reason} (the file was left as it is)", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The database was written by a newer Tandem.
    #[error("{} has schema version {found}, newer than this Tandem understands ({supported}); upgrade Tandem", path.display())]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The schema found.
        found: u64,
        /// The newest schema this build knows.
        supported: u64,
    },
    /// A file system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A database error.
    #[error("database {}: {reason}", path.display())]
    Db {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Writing failed (a full disk): the change is kept in memory and written as soon
    /// as the disk takes it, before any later change.
    #[error("{}: the change is not stored yet ({reason}); it is kept in memory and retried ({waiting} waiting)", path.display())]
    NotStored {
        /// The database file.
        path: PathBuf,
        /// Why the write failed.
        reason: String,
        /// How many changes wait, this one included.
        waiting: usize,
    },
    /// No such document.
    #[error("no document {0}")]
    UnknownDoc(String),
    /// The storage thread has stopped.
    #[error("the storage thread has stopped")]
    Stopped,
}

impl Error {
    /// Maps an error from opening the database file.
    pub(crate) fn open(path: &std::path::Path, dir: &std::path::Path, e: redb::DatabaseError) -> Error {
        match e {
            redb::DatabaseError::DatabaseAlreadyOpen | redb::DatabaseError::LockProtocolMismatch => {
                Error::InUse { dir: dir.to_owned() }
            }
            redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => {
                Error::Corrupt { path: path.to_owned(), reason }
            }
            redb::DatabaseError::Storage(redb::StorageError::Io(source)) => {
                Error::Io { path: path.to_owned(), source }
            }
            e => Error::Corrupt { path: path.to_owned(), reason: e.to_string() },
        }
    }
}
