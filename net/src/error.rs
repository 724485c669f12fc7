//! The network errors: [`NetError`], what the engine reports to a caller, and
//! [`Refused`], why the engine refused something a peer sent (logged, never returned to
//! a caller).

use crate::wire::WireError;
use tandem_storage::DocId;

/// Everything the engine can report to a caller.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The engine has stopped.
    #[error("the sync engine has stopped")]
    Stopped,
    /// No such document here.
    #[error("no document {0}")]
    UnknownDoc(DocId),
    /// The document's data on disk cannot be read; it is set aside.
    #[error("document {0} cannot be opened: {1}")]
    Damaged(DocId, String),
    /// Setting up the network failed.
    #[error("network: {0}")]
    Transport(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] tandem_storage::Error),
    /// The edit was refused.
    #[error(transparent)]
    Crdt(#[from] tandem_crdt::Error),
    /// A change to sign as this device's was written by another author.
    #[error("change by {0} is not this device's to sign")]
    NotOwnChange(tandem_crdt::ReplicaId),
    /// Sealed bytes do not open with this device's key of the document (sealed under
    /// a key it does not hold, e.g. after a key change that removed it).
    #[error("this device's key of document {0} does not open it")]
    Unreadable(DocId),
    /// A ticket's key is not the key of the document it names.
    #[error("the ticket's key does not belong to document {0}")]
    WrongKey(DocId),
    /// A device code to link names no device this one knows of.
    #[error(
        "no device with code {0} is known here yet: open a document you share on both devices, \
         let them connect, and try again (or enter the device's full code)"
    )]
    UnknownDevice(String),
    /// A device code to link is neither a peer id nor a short code.
    #[error("{0:?} is not a device code (four groups of four letters and digits, or the full code)")]
    BadDeviceCode(String),
    /// A device code to link fits several devices this one knows of.
    #[error("device code {0} fits several devices: enter the device's full code")]
    AmbiguousDevice(String),
    /// The document was shared with this device to read only.
    #[error("document {0} is read-only here (it was shared with a read ticket)")]
    ReadOnly(DocId),
}

// A closed channel to or from the engine task means it stopped.
impl<T> From<tokio::sync::mpsc::error::SendError<T>> for NetError {
    fn from(_: tokio::sync::mpsc::error::SendError<T>) -> NetError {
        NetError::Stopped
    }
}

impl From<tokio::sync::oneshot::error::RecvError> for NetError {
    fn from(_: tokio::sync::oneshot::error::RecvError) -> NetError {
        NetError::Stopped
    }
}

/// Why a change or a catch-up request from a peer was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// The message does not open or decode.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The change's seal does not check out against its author.
    #[error("bad seal: {0}")]
    Seal(#[from] tandem_storage::SealError),
    /// The CRDT refused the change (or it does not decode).
    #[error(transparent)]
    Crdt(#[from] tandem_crdt::Error),
    /// The store failed.
    #[error("cannot store: {0}")]
    Storage(#[from] tandem_storage::Error),
    /// The document is not here (any more).
    #[error("no document {0}")]
    UnknownDoc(DocId),
    /// The change's author holds no grant of the document's write key (it joined with
    /// a read ticket, or forged one).
    #[error("the author of {0} may not write this document")]
    NoGrant(tandem_crdt::OpId),
    /// The author signed these seqs before with different content; `refused` is the
    /// second version, kept as proof with the first.
    #[error("author {author} equivocated: a second, different version of seqs {seqs:?}")]
    Equivocation {
        /// The author.
        author: tandem_crdt::ReplicaId,
        /// The seqs in dispute.
        seqs: std::ops::Range<u64>,
        /// The refused version, signed.
        refused: tandem_storage::SignedChange,
    },
}
