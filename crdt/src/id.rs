//! Identifiers of writers and of single operations.

use std::fmt;

/// Identifies one writer: one device in one process session.
///
/// Tandem derives it from the device key and a persisted session counter, so no two
/// writers ever share one. The CRDT treats it as an opaque 64-bit number; its order
/// breaks ties between concurrent edits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ReplicaId(pub u64);

impl fmt::Debug for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The id of one operation: every inserted character, every deleted character and every
/// map write gets one. `seq` counts a replica's operations from 1 with no gaps.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct OpId {
    /// The writer.
    pub replica: ReplicaId,
    /// The writer's operation counter, starting at 1.
    pub seq: u64,
}

impl OpId {
    /// Builds an id.
    pub fn new(replica: ReplicaId, seq: u64) -> OpId {
        OpId { replica, seq }
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.seq, self.replica)
    }
}
