//! The network error type.

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
    /// Setting up the network failed.
    #[error("network: {0}")]
    Transport(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] tandem_storage::Error),
    /// The edit was refused.
    #[error(transparent)]
    Crdt(#[from] tandem_crdt::Error),
}
