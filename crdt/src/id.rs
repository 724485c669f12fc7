//! Identifiers of writers and of single operations: [`ReplicaId`] and [`OpId`] name
//! them everywhere (on the wire, on disk, across replicas); `Lv` names an operation
//! inside one replica.

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

/// A local version: the index of an operation in this replica's op log, counting from 0
/// in the order the replica learned the operations. An inserted character is named by
/// the `Lv` of the op that inserted it. `Lv`s are dense, so they index arrays; they mean
/// nothing to another replica, which names the same operation by its [`OpId`] (the
/// op log maps between the two). `u32` keeps the per-item tables small; a replica holds
/// fewer than `u32::MAX` ops (`Error::TooLarge`).
pub(crate) type Lv = u32;

/// The id of one operation: every inserted character, every deleted character and every
/// map write gets one. `seq` counts a replica's operations from 1 with no gaps.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
