//! The crate's error type.

use crate::id::OpId;

/// Everything that can go wrong in the CRDT core.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// Input bytes could not be decoded.
    #[error("cannot decode {what}: {reason} (at byte {offset})")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// What was wrong.
        reason: &'static str,
        /// Where in the input.
        offset: usize,
    },
    /// The encoding has a version this code does not know.
    #[error("unknown encoding version {found} for {what} (this build reads version {supported})")]
    UnknownVersion {
        /// What was being decoded.
        what: &'static str,
        /// The version byte found.
        found: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// A change is malformed: it refers to an op it cannot, or is inconsistent.
    #[error("invalid change {change}: {reason}")]
    InvalidChange {
        /// The first op id of the change.
        change: OpId,
        /// What is wrong.
        reason: String,
    },
    /// The causal buffer is full; the change was not buffered.
    #[error("causal buffer full ({pending_changes} changes, {pending_ops} ops waiting for missing deps)")]
    BufferFull {
        /// Changes waiting.
        pending_changes: usize,
        /// Ops waiting.
        pending_ops: u64,
    },
    /// A local edit is out of range.
    #[error("position {pos} (+{len}) is out of range: the text has {text_len} chars")]
    OutOfRange {
        /// The requested position.
        pos: usize,
        /// The requested length.
        len: usize,
        /// The text length.
        text_len: usize,
    },
    /// A remote change cannot be applied while a local transaction is open.
    #[error("a local transaction is open: commit it before applying remote changes")]
    TransactionOpen,
    /// A version refers to ops this document does not hold.
    #[error("version {0} is not in this replica's history")]
    NotInHistory(String),
    /// The document grew beyond what one replica can index.
    #[error("the document exceeds {0} operations")]
    TooLarge(u64),
}
