//! The unit of replication: a [`Change`] is a run of one replica's operations.

use crate::id::{OpId, ReplicaId};

/// A value stored in the document's map.
#[derive(Clone, PartialEq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// The wall time the author's device gave the change, in seconds since the Unix
    /// epoch (UTC); 0 when unknown. Signed with the change but untrusted: it orders
    /// nothing and is only shown (who wrote what, when).
    pub time: u64,
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

/// How long after a change's time (in seconds) a later change may still be
/// [absorbed](Change::absorb) into it.
pub const ABSORB_WINDOW_S: u64 = 60;

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
    /// seen in between (its deps are that op alone), and within [`ABSORB_WINDOW_S`] of
    /// this change's time (the joined change keeps this change's time, so a run of
    /// typing is dated by its start, to the minute). Typing that continues an insert
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
            || !(self.time..self.time.saturating_add(ABSORB_WINDOW_S)).contains(&next.time)
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
        self.ops = canonical_ops(self.author, self.start_seq, std::mem::take(&mut self.ops));
        true
    }

    /// The change in canonical form: adjacent ops that continue each other are one op
    /// (an insert continuing the previous one's last character with the same right
    /// origin; deletes of consecutive ids, forwards or backwards, cut where each next
    /// deleted id stops continuing the run, one id at a time). The form depends only on
    /// the ops seq by seq, not on how they were grouped into ops, so every replica that
    /// holds a change regenerates it byte for byte ([`Doc::change_by`](crate::Doc::change_by)),
    /// and a seal over the canonical bytes stays checkable after the change was
    /// compacted into a replica's columnar history.
    pub fn canonical(mut self) -> Change {
        self.ops = canonical_ops(self.author, self.start_seq, std::mem::take(&mut self.ops));
        self
    }

    /// Whether the change is in [canonical form](Change::canonical).
    pub fn is_canonical(&self) -> bool {
        canonical_ops(self.author, self.start_seq, self.ops.clone()) == self.ops
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
                time: self.time,
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

/// A run of deleted ids being built by [`canonical_ops`]: `first` is the first id
/// deleted, `last` the latest; `dir` is +1 (forwards), -1 (backwards) or 0 (one id).
struct DelSeg {
    replica: ReplicaId,
    first: u64,
    last: u64,
    len: u64,
    dir: i8,
}

impl DelSeg {
    fn op(&self) -> Op {
        let start = OpId::new(self.replica, self.first.min(self.last));
        Op::Delete { start, len: self.len, reversed: self.dir < 0 }
    }
}

/// The ops of a change by `author` from `start_seq` in canonical form (see
/// [`Change::canonical`]). Deletes are cut greedily id by id: a deleted id continues the
/// run when it is the next id of the run's direction (either direction while the run
/// holds one id), and a run of ids of one op that continues in the run's direction is
/// taken whole, so the cost follows the number of ops plus the cuts, not the ids.
pub(crate) fn canonical_ops(author: ReplicaId, start_seq: u64, ops: Vec<Op>) -> Vec<Op> {
    let mut out: Vec<Op> = Vec::with_capacity(ops.len());
    let mut seg: Option<DelSeg> = None;
    let mut seq = start_seq;
    for op in ops {
        let n = op.n_seqs();
        match op {
            Op::Delete { start, len, reversed } => {
                let mut i = 0;
                while i < len {
                    let t = if reversed {
                        start.seq.wrapping_add(len - 1 - i)
                    } else {
                        start.seq.wrapping_add(i)
                    };
                    i += 1;
                    let joined = match &mut seg {
                        Some(g) if g.replica == start.replica => {
                            let step = if g.dir >= 0 && g.last.checked_add(1) == Some(t) {
                                1
                            } else if g.dir <= 0 && t.checked_add(1) == Some(g.last) {
                                -1
                            } else {
                                0
                            };
                            if step != 0 {
                                g.dir = step;
                                g.last = t;
                                g.len += 1;
                                // The rest of this op continues the same way: take it whole.
                                let op_dir = if reversed { -1 } else { 1 };
                                if len > 1 && op_dir == step && i < len {
                                    let rest = len - i;
                                    g.len += rest;
                                    g.last = if reversed {
                                        g.last.wrapping_sub(rest)
                                    } else {
                                        g.last.wrapping_add(rest)
                                    };
                                    i = len;
                                }
                            }
                            step != 0
                        }
                        _ => false,
                    };
                    if !joined {
                        if let Some(g) = seg.take() {
                            out.push(g.op());
                        }
                        seg = Some(DelSeg { replica: start.replica, first: t, last: t, len: 1, dir: 0 });
                    }
                }
            }
            op => {
                if let Some(g) = seg.take() {
                    out.push(g.op());
                }
                let prev = OpId::new(author, seq.wrapping_sub(1));
                match (out.last_mut(), op) {
                    (
                        Some(Op::Insert { origin_right: right, text, .. }),
                        Op::Insert { origin_left: Some(left), origin_right: next_right, text: more },
                    ) if left == prev && *right == next_right => text.push_str(&more),
                    (_, op) => out.push(op),
                }
            }
        }
        seq = seq.wrapping_add(n);
    }
    if let Some(g) = seg.take() {
        out.push(g.op());
    }
    out
}
