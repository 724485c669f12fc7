//! The crate's error type, [`Error`], and [`InvalidReason`], why a remote change was
//! refused. Errors carry what they are about (an op id, a byte offset, a version).

use crate::clock::VectorClock;
use crate::id::{OpId, ReplicaId};
use std::ops::Range;

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
        reason: InvalidReason,
    },
    /// The causal buffer is full; the change was not buffered.
    #[error(
        "causal buffer full ({pending_changes} changes, {pending_ops} ops, {pending_bytes} bytes waiting for \
         missing deps, {author_bytes} bytes of them by {author}; the change needs {change_bytes} bytes)"
    )]
    BufferFull {
        /// Changes waiting.
        pending_changes: usize,
        /// Ops waiting.
        pending_ops: u64,
        /// Estimated bytes of every waiting change.
        pending_bytes: u64,
        /// The author of the refused change.
        author: ReplicaId,
        /// Estimated bytes of the waiting changes by that author.
        author_bytes: u64,
        /// Estimated bytes of the refused change.
        change_bytes: u64,
    },
    /// A change is larger than one change may be ([`Config`](crate::Config)'s
    /// `max_change_ops` or `max_change_bytes`); the author should split it
    /// ([`Change::split`](crate::Change::split)).
    #[error("change {change} exceeds {limit}: {value} > {max}")]
    ChangeTooLarge {
        /// The first op id of the change.
        change: OpId,
        /// The name of the exceeded limit.
        limit: &'static str,
        /// The change's value for that limit.
        value: u64,
        /// The limit.
        max: u64,
    },
    /// An author gave the same seqs two different contents: the incoming change differs
    /// from what this replica holds or buffers for `seqs`. The replica is unchanged; both
    /// versions, signed by the author, prove it.
    #[error("author {author} equivocated: two different versions of seqs {seqs:?}")]
    Equivocation {
        /// The author.
        author: ReplicaId,
        /// The seqs the versions disagree on (their overlap).
        seqs: Range<u64>,
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
    #[error("version {0:?} is not in this replica's history")]
    NotInHistory(VectorClock),
    /// The document grew beyond what one replica can index.
    #[error("the document exceeds {0} operations")]
    TooLarge(u64),
}

/// Why a remote change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReason {
    /// Seqs start at 1.
    #[error("seq 0")]
    SeqZero,
    /// A change has at least one op.
    #[error("no ops")]
    NoOps,
    /// An insert inserts at least one character.
    #[error("empty insert")]
    EmptyInsert,
    /// A delete deletes at least one character.
    #[error("empty delete")]
    EmptyDelete,
    /// A delete names seq 0 or a range past `u64::MAX`.
    #[error("delete range overflows")]
    DeleteOverflows,
    /// The change's seqs run past `u64::MAX`.
    #[error("seq overflows")]
    SeqOverflows,
    /// The Lamport time is 0 or too large to leave room for later edits.
    #[error("lamport out of range")]
    LamportOutOfRange,
    /// A dep is seq 0, or an op of the change itself or after it.
    #[error("a dep is not before the change")]
    DepNotBefore,
    /// An insert's origin is not a character held or inserted earlier in the change.
    #[error("origin {0} is not a known character")]
    UnknownOrigin(OpId),
    /// A delete reaches past the ops its target replica has made, as far as known.
    #[error("delete of {len} ops from {start} reaches past known ops")]
    DeletePastKnown {
        /// The first targeted id.
        start: OpId,
        /// How many ids the delete names.
        len: u64,
    },
    /// A delete's target is not a character held or inserted earlier in the change.
    #[error("delete target {0} is not a known character")]
    UnknownDeleteTarget(OpId),
    /// An origin or delete target is held but not in the change's causal past: neither
    /// one of its deps or their ancestors nor an earlier op of the change.
    #[error("{0} is not in the change's causal past")]
    NotInCausalPast(OpId),
    /// The Lamport time is not greater than the Lamport time of every dep.
    #[error("lamport is not after the deps' lamport")]
    LamportNotAfterDeps,
    /// An insert's origins are not neighbours in the document as the change's author saw
    /// it (its causal past and its own earlier ops): the left origin does not come
    /// before the right one, or an item the author saw lies between them.
    #[error("origins {left:?} and {right:?} are not neighbours in the change's causal past")]
    InconsistentOrigins {
        /// The left origin; `None` is the document start.
        left: Option<OpId>,
        /// The right origin; `None` is the document end.
        right: Option<OpId>,
    },
    /// The author's previous op (seq `start_seq - 1`) is not in the change's causal past.
    #[error("the author's previous op is not in the deps")]
    PreviousOpNotInPast,
}
