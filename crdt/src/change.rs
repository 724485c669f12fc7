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

/// Estimated bytes of a change's fixed part (author, seqs, Lamport time).
const CHANGE_OVERHEAD: u64 = 32;
/// Estimated bytes of one dep.
const DEP_BYTES: u64 = 16;
/// Estimated bytes of one op besides its text, key and value.
const OP_OVERHEAD: u64 = 32;

impl Op {
    /// A cheap estimate of the memory the op takes: a fixed overhead plus its text, key
    /// and value bytes.
    pub fn estimated_bytes(&self) -> u64 {
        OP_OVERHEAD
            + match self {
                Op::Insert { text, .. } => text.len() as u64,
                Op::Delete { .. } => 0,
                Op::MapSet { key, value } => {
                    key.len() as u64
                        + match value {
                            Some(Value::Str(s)) => s.len() as u64,
                            Some(Value::Bytes(b)) => b.len() as u64,
                            _ => 8,
                        }
                }
            }
    }
}

impl Change {
    /// A cheap estimate of the memory the change takes (what [`Config`](crate::Config)'s
    /// `max_change_bytes` and the causal buffer's byte limits count): a fixed overhead,
    /// its deps, and each op's [`Op::estimated_bytes`].
    pub fn estimated_bytes(&self) -> u64 {
        CHANGE_OVERHEAD
            + DEP_BYTES * self.deps.len() as u64
            + self.ops.iter().map(Op::estimated_bytes).sum::<u64>()
    }

    /// Appends `next` when it continues this change exactly: the same author, the next
    /// seqs and Lamport times, made right after this change's last op with nothing else
    /// seen in between (its deps are that op alone). Typing that continues an insert
    /// joins it. Returns whether `next` was absorbed; the result holds the same ops, seq
    /// by seq, as the two changes did, so any replica holding either form holds the
    /// other (an author compacts its own history this way and signs the result again).
    pub fn absorb(&mut self, next: &Change) -> bool {
        let n = self.n_seqs();
        let end = self.start_seq + n;
        if next.author != self.author
            || next.start_seq != end
            || next.lamport != self.lamport + n
            || next.deps != [OpId::new(self.author, end - 1)]
        {
            return false;
        }
        let mut seq = end;
        for op in &next.ops {
            let prev = OpId::new(self.author, seq - 1);
            match (self.ops.last_mut(), op) {
                (
                    Some(Op::Insert { origin_right: right, text, .. }),
                    Op::Insert { origin_left: Some(left), origin_right: next_right, text: more },
                ) if *left == prev && right == next_right => text.push_str(more),
                _ => self.ops.push(op.clone()),
            }
            seq += op.n_seqs();
        }
        true
    }

    /// Splits a change made on this device into parts every replica accepts as remote
    /// changes: [`Change::split`] at half of [`Config::default`](crate::Config)'s limits
    /// on one change, so a part also fits well inside one catch-up answer. A commit of
    /// any size (an import of a big file, a big paste) syncs as its parts.
    pub fn wire_parts(&self) -> Vec<Change> {
        let limits = crate::Config::default();
        self.split(limits.max_change_ops / 2, limits.max_change_bytes / 2)
    }

    /// Splits the change into consecutive changes of the same author, each with at most
    /// `max_ops` ops and at most `max_bytes` [estimated bytes](Change::estimated_bytes)
    /// where possible (a part always holds at least one character or op). The first part
    /// keeps the deps; each later part depends on the previous part's last op and
    /// continues its seqs and Lamport times. A long insert is cut into inserts whose
    /// left origin is the previous character and whose right origin stays the same.
    /// Applying the parts in order has the same effect as applying the whole change.
    pub fn split(&self, max_ops: usize, max_bytes: u64) -> Vec<Change> {
        let max_ops = max_ops.max(1);
        let mut parts = Vec::new();
        let mut part = Change { ops: Vec::new(), ..self.clone() };
        let mut bytes = part.estimated_bytes();
        let mut seq = self.start_seq;
        // Closes the current part and opens the next one at `seq`.
        let close = |part: &mut Change, bytes: &mut u64, parts: &mut Vec<Change>, seq: u64| {
            let next = Change {
                author: self.author,
                start_seq: seq,
                deps: vec![OpId::new(self.author, seq - 1)],
                lamport: self.lamport + (seq - self.start_seq),
                ops: Vec::new(),
            };
            *bytes = next.estimated_bytes();
            parts.push(std::mem::replace(part, next));
        };
        for op in &self.ops {
            let mut op = op.clone();
            loop {
                let room = max_bytes.saturating_sub(bytes);
                let full = part.ops.len() >= max_ops;
                let cost = op.estimated_bytes();
                if !full && cost <= room {
                    bytes += cost;
                    seq += op.n_seqs();
                    part.ops.push(op);
                    break;
                }
                // An insert that does not fit is cut where the room ends (at least one
                // character when the part is empty); anything else opens a new part.
                let cut = match &op {
                    Op::Insert { text, .. } if !full => {
                        let room = room.saturating_sub(OP_OVERHEAD) as usize;
                        let mut end = 0;
                        for (b, ch) in text.char_indices() {
                            if b + ch.len_utf8() > room {
                                break;
                            }
                            end = b + ch.len_utf8();
                        }
                        if end == 0 && part.ops.is_empty() {
                            end = text.chars().next().map_or(0, char::len_utf8);
                        }
                        (end > 0 && end < text.len()).then_some(end)
                    }
                    _ => None,
                };
                match (cut, op) {
                    (Some(end), Op::Insert { origin_left, origin_right, text }) => {
                        let head = Op::Insert { origin_left, origin_right, text: text[..end].to_owned() };
                        seq += head.n_seqs();
                        bytes += head.estimated_bytes();
                        part.ops.push(head);
                        op = Op::Insert {
                            origin_left: Some(OpId::new(self.author, seq - 1)),
                            origin_right,
                            text: text[end..].to_owned(),
                        };
                        close(&mut part, &mut bytes, &mut parts, seq);
                    }
                    (_, o) if part.ops.is_empty() => {
                        // Too large even alone: it gets a part of its own.
                        bytes += o.estimated_bytes();
                        seq += o.n_seqs();
                        part.ops.push(o);
                        break;
                    }
                    (_, o) => {
                        op = o;
                        close(&mut part, &mut bytes, &mut parts, seq);
                    }
                }
            }
        }
        if !part.ops.is_empty() {
            parts.push(part);
        }
        parts
    }
}
