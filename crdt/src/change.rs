//! The unit of replication: a [`Change`] is a run of one replica's operations.

use crate::id::{OpId, ReplicaId};

/// A value stored in the document's map.
#[derive(Clone, PartialEq, Debug)]
pub enum Value {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

/// One operation inside a [`Change`]. Each consumes seqs of its author: an insert one
/// per character, a delete one per deleted character, a map write one.
#[derive(Clone, PartialEq, Debug)]
pub enum Op {
    /// Inserts `text`. Its first character sits right after `origin_left` (the character
    /// to its left when it was typed, tombstones included) and before `origin_right`
    /// (the item that followed); each later character's left origin is the previous one.
    Insert {
        /// The item to the left when typed; `None` is the document start.
        origin_left: Option<OpId>,
        /// The item to the right when typed; `None` is the document end.
        origin_right: Option<OpId>,
        /// The inserted characters; never empty.
        text: String,
    },
    /// Deletes the characters inserted by ops `start.seq .. start.seq + len` of
    /// `start.replica`. `reversed` records that they were removed right to left
    /// (backspace), which only changes which of this change's seqs deleted which char.
    Delete {
        /// The first targeted insert id.
        start: OpId,
        /// How many consecutive ids are deleted; at least 1.
        len: u64,
        /// Whether the deletes ran right to left.
        reversed: bool,
    },
    /// Sets `key` to `value`, or deletes it when `value` is `None`.
    MapSet {
        /// The key.
        key: String,
        /// The new value; `None` removes the key.
        value: Option<Value>,
    },
}

impl Op {
    /// How many seqs the op consumes.
    pub fn n_seqs(&self) -> u64 {
        match self {
            Op::Insert { text, .. } => text.chars().count() as u64,
            Op::Delete { len, .. } => *len,
            Op::MapSet { .. } => 1,
        }
    }
}

/// A run of operations by one author with contiguous seqs, made on top of `deps`.
#[derive(Clone, PartialEq, Debug)]
pub struct Change {
    /// The writer.
    pub author: ReplicaId,
    /// The seq of the first op; the ops take `start_seq ..` without gaps.
    pub start_seq: u64,
    /// The operations the author had seen, as the minimal set of latest op ids
    /// (the causal frontier). Empty for a change made on an empty document.
    pub deps: Vec<OpId>,
    /// The Lamport timestamp of the first op; each later op adds one.
    pub lamport: u64,
    /// The operations, in order.
    pub ops: Vec<Op>,
}

impl Change {
    /// Total seqs consumed by the ops.
    pub fn n_seqs(&self) -> u64 {
        self.ops.iter().map(Op::n_seqs).sum()
    }

    /// The seq after the last op.
    pub fn end_seq(&self) -> u64 {
        self.start_seq + self.n_seqs()
    }

    /// The id of the first op.
    pub fn id(&self) -> OpId {
        OpId::new(self.author, self.start_seq)
    }
}
