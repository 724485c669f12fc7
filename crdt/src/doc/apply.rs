//! Remote changes. [`Doc::apply`] checks a change's shape, drops the prefix this replica
//! already holds, and either applies it (when all its deps are held) or keeps it in the
//! causal buffer, bounded by [`Config`](super::Config). Applying a change drains every
//! buffered change it made ready. A change is validated completely before anything is
//! touched, so a refused change leaves the replica as it was.
//!
//! Integration of single ops into the text and map (`integrate_insert`,
//! `apply_map_op`) is here too; undo and document decoding use it as well.

use super::Doc;
use super::oplog::DelRun;
use crate::change::{Change, Op, Value};
use crate::clock::VectorClock;
use crate::error::{Error, InvalidReason};
use crate::id::{Lv, OpId, ReplicaId};
use crate::map::Entry;
use crate::text::NONE;

/// Largest Lamport time accepted from a remote change (document encodings allow up to
/// `u64::MAX / 2`; local edits add at most 2^32).
const MAX_REMOTE_LAMPORT: u64 = u64::MAX / 4;

/// What [`Doc::apply`] did.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ApplyOutcome {
    /// Changes applied, including buffered ones this change made ready.
    pub applied: usize,
    /// Whether this change was already known (a duplicate is a no-op).
    pub duplicate: bool,
    /// Whether this change waits in the causal buffer for missing deps.
    pub buffered: bool,
    /// Buffered changes dropped because they turned out invalid when their deps arrived.
    pub rejected: usize,
}

impl Doc {
    /// Applies a remote change: a duplicate is a no-op, a change with missing deps waits
    /// in the causal buffer, and a ready one is applied together with every buffered
    /// change it makes ready.
    pub fn apply(&mut self, change: Change) -> Result<ApplyOutcome, Error> {
        if self.txn.is_some() {
            return Err(Error::TransactionOpen);
        }
        let mut out = ApplyOutcome::default();
        let Some(change) = self.trim_known(change)? else {
            out.duplicate = true;
            return Ok(out);
        };
        if !self.is_ready(&change) {
            let n = change.n_seqs();
            if self.pending.len() >= self.config.max_pending_changes
                || self.pending_ops + n > self.config.max_pending_ops
            {
                return Err(Error::BufferFull {
                    pending_changes: self.pending.len(),
                    pending_ops: self.pending_ops,
                });
            }
            if !self.pending.contains(&change) {
                self.pending_ops += n;
                self.pending.push(change);
            }
            out.buffered = true;
            return Ok(out);
        }
        self.apply_ready(&change)?;
        out.applied = 1;
        self.drain_pending(&mut out);
        Ok(out)
    }

    /// Applies every buffered change that has become ready.
    fn drain_pending(&mut self, out: &mut ApplyOutcome) {
        loop {
            let mut progress = false;
            let mut i = 0;
            while i < self.pending.len() {
                // Ready when fully known (to drop), or when it starts at or before the next
                // expected seq (the known prefix is trimmed) and its deps are held.
                let c = &self.pending[i];
                let version = &self.log.version;
                let known = version.get(c.author);
                let ready = c.end_seq() - 1 <= known
                    || (c.start_seq <= known + 1 && c.deps.iter().all(|&d| version.contains(d)));
                if !ready {
                    i += 1;
                    continue;
                }
                let c = self.pending.swap_remove(i);
                self.pending_ops -= c.n_seqs();
                progress = true;
                match self.trim_known(c) {
                    Ok(Some(c)) if self.is_ready(&c) => match self.apply_ready(&c) {
                        Ok(()) => out.applied += 1,
                        Err(_) => out.rejected += 1,
                    },
                    Ok(_) => {}
                    Err(_) => out.rejected += 1,
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// Number of changes waiting for deps.
    pub fn pending_changes(&self) -> usize {
        self.pending.len()
    }

    /// What the causal buffer waits for: for each replica, the highest seq needed. Ask a
    /// peer for `changes_since(version())` to fill it.
    pub fn missing(&self) -> VectorClock {
        let version = &self.log.version;
        let mut m = VectorClock::new();
        for c in &self.pending {
            if c.start_seq > version.get(c.author) + 1 {
                m.observe(c.author, c.start_seq - 1);
            }
            for d in &c.deps {
                if !version.contains(*d) {
                    m.observe(d.replica, d.seq);
                }
            }
        }
        m
    }

    fn is_ready(&self, c: &Change) -> bool {
        let version = &self.log.version;
        c.start_seq == version.get(c.author) + 1 && c.deps.iter().all(|&d| version.contains(d))
    }

    /// Checks a change's shape and drops the prefix this replica already holds.
    /// `None` when all of it is known.
    fn trim_known(&self, mut c: Change) -> Result<Option<Change>, Error> {
        let bad = |reason: InvalidReason| Error::InvalidChange { change: c.id(), reason };
        if c.start_seq == 0 {
            return Err(bad(InvalidReason::SeqZero));
        }
        if c.ops.is_empty() {
            return Err(bad(InvalidReason::NoOps));
        }
        for op in &c.ops {
            match op {
                Op::Insert { text, .. } if text.is_empty() => return Err(bad(InvalidReason::EmptyInsert)),
                Op::Delete { len: 0, .. } => return Err(bad(InvalidReason::EmptyDelete)),
                Op::Delete { start, len, .. } if start.seq == 0 || start.seq.checked_add(*len).is_none() => {
                    return Err(bad(InvalidReason::DeleteOverflows));
                }
                _ => {}
            }
        }
        let n = c.n_seqs();
        if c.start_seq.checked_add(n).is_none() {
            return Err(bad(InvalidReason::SeqOverflows));
        }
        // Lamport times start at 1; a bound far below u64::MAX keeps every later local
        // edit and every encoding of this document in range.
        if c.lamport == 0 || c.lamport.checked_add(n).is_none_or(|e| e > MAX_REMOTE_LAMPORT) {
            return Err(bad(InvalidReason::LamportOutOfRange));
        }
        if c.deps.iter().any(|d| d.seq == 0 || (d.replica == c.author && d.seq >= c.start_seq)) {
            return Err(bad(InvalidReason::DepNotBefore));
        }
        let known = self.log.version.get(c.author);
        if c.end_seq() - 1 <= known {
            return Ok(None);
        }
        if c.start_seq > known {
            return Ok(Some(c));
        }
        // Drop the first `skip` seqs.
        let mut skip = known + 1 - c.start_seq;
        let first = c.start_seq + skip;
        let mut ops = Vec::with_capacity(c.ops.len());
        let mut seq = c.start_seq;
        for op in c.ops.drain(..) {
            let n = op.n_seqs();
            if skip >= n {
                skip -= n;
                seq += n;
                continue;
            }
            if skip == 0 {
                ops.push(op);
                continue;
            }
            let k = skip;
            skip = 0;
            ops.push(match op {
                Op::Insert { origin_right, text, .. } => {
                    let b = text.char_indices().nth(k as usize).map_or(text.len(), |(b, _)| b);
                    Op::Insert {
                        origin_left: Some(OpId::new(c.author, seq + k - 1)),
                        origin_right,
                        text: text[b..].to_owned(),
                    }
                }
                Op::Delete { start, len, reversed } => {
                    let start = if reversed { start } else { OpId::new(start.replica, start.seq + k) };
                    Op::Delete { start, len: len - k, reversed }
                }
                Op::MapSet { .. } => unreachable!("a map write takes one seq"),
            });
        }
        Ok(Some(Change {
            author: c.author,
            start_seq: first,
            deps: vec![OpId::new(c.author, first - 1)],
            lamport: c.lamport + (first - c.start_seq),
            ops,
        }))
    }

    /// Validates a causally ready change completely, then applies it.
    fn apply_ready(&mut self, c: &Change) -> Result<(), Error> {
        let n = c.n_seqs();
        let bad = |reason: InvalidReason| Error::InvalidChange { change: c.id(), reason };
        // Validate every reference before touching anything: origins and delete targets
        // must be inserted characters, held already or made earlier in this change.
        let mut own_ins: Vec<(u64, u64)> = Vec::new();
        let mut seq = c.start_seq;
        let is_item = |id: OpId, own: &[(u64, u64)], seq: u64| -> bool {
            if id.replica == c.author && id.seq >= c.start_seq {
                // `own` is sorted by seq: binary search keeps big changes linear.
                let i = own.partition_point(|&(_, b)| b <= id.seq);
                id.seq < seq && own.get(i).is_some_and(|&(a, _)| id.seq >= a)
            } else {
                self.log.lv_of(id).is_some_and(|lv| self.text.is_item(lv))
            }
        };
        for op in &c.ops {
            let k = op.n_seqs();
            match op {
                Op::Insert { origin_left, origin_right, .. } => {
                    for o in [origin_left, origin_right].into_iter().flatten() {
                        if !is_item(*o, &own_ins, seq) {
                            return Err(bad(InvalidReason::UnknownOrigin(*o)));
                        }
                    }
                    own_ins.push((seq, seq + k));
                }
                Op::Delete { start, len, .. } => {
                    // Bound the range by what can exist before looping over it.
                    let max =
                        if start.replica == c.author { seq - 1 } else { self.log.version.get(start.replica) };
                    if start.seq + len - 1 > max {
                        return Err(bad(InvalidReason::DeletePastKnown { start: *start, len: *len }));
                    }
                    for s in start.seq..start.seq + len {
                        let target = OpId::new(start.replica, s);
                        if !is_item(target, &own_ins, seq) {
                            return Err(bad(InvalidReason::UnknownDeleteTarget(target)));
                        }
                    }
                }
                Op::MapSet { .. } => {}
            }
            seq += k;
        }
        if self.log.next_lv() as u64 + n >= NONE as u64 {
            return Err(Error::TooLarge(NONE as u64));
        }
        let parents: Vec<Lv> =
            c.deps.iter().map(|&d| self.log.lv_of(d).expect("ready deps are held")).collect();
        let parents = self.log.frontier_of(parents);
        let agent = self.log.agent(c.author);
        let lv0 = self.log.push_lvs(agent, c.start_seq, n as u32, c.lamport, &parents);
        let mut lv = lv0;
        for op in &c.ops {
            let k = op.n_seqs() as u32;
            match op {
                Op::Insert { origin_left, origin_right, text } => {
                    let ol = origin_left.map_or(NONE, |o| self.log.lv_of(o).expect("validated"));
                    let or = origin_right.map_or(NONE, |o| self.log.lv_of(o).expect("validated"));
                    self.integrate_insert(lv, k, ol, or, text);
                }
                Op::Delete { start, len, reversed } => {
                    let mut pieces: Vec<(Lv, u32)> = Vec::new();
                    let mut s = start.seq;
                    while s < start.seq + len {
                        let t = self.log.lv_of(OpId::new(start.replica, s)).expect("validated");
                        let run_left = self.log.agent_run_rest(start.replica, s);
                        let m = (run_left.min(start.seq + len - s)) as u32;
                        pieces.push((t, m));
                        s += m as u64;
                    }
                    if *reversed {
                        pieces.reverse();
                    }
                    let mut op_lv = lv;
                    for (t, m) in pieces {
                        self.text.delete(t, m);
                        self.log.push_del(DelRun {
                            lv: op_lv,
                            len: m,
                            target: t,
                            reversed: *reversed && m > 1,
                        });
                        op_lv += m;
                    }
                }
                Op::MapSet { key, value } => {
                    let frontier = if lv == lv0 { parents.clone() } else { vec![lv - 1] };
                    let lamport = c.lamport + (lv - lv0) as u64;
                    self.apply_map_op(lv, lamport, c.author, key, value.clone(), &frontier);
                }
            }
            lv += k;
        }
        Ok(())
    }

    /// Integrates inserted items `lv .. lv + n` (already in the log's run table) into
    /// the text and logs them, given their first character's origins.
    pub(crate) fn integrate_insert(&mut self, lv: Lv, n: u32, ol: Lv, or: Lv, text: &str) {
        let content = self.text.push_content(text);
        let log = &self.log;
        self.text.integrate(lv, n, ol, or, content, |lv| log.id_of(lv));
        self.log.push_ins(lv, n, ol, or);
    }

    /// Applies a map write made on top of `frontier`.
    pub(crate) fn apply_map_op(
        &mut self,
        lv: Lv,
        lamport: u64,
        replica: ReplicaId,
        key: &str,
        value: Option<Value>,
        frontier: &[Lv],
    ) {
        let mut sup = Vec::new();
        if let Some(es) = self.map.keys.get(key) {
            sup = es.iter().map(|e| e.lv).filter(|&e| self.log.in_history(e, frontier)).collect();
        }
        let entry = Entry { lv, lamport, replica, value: value.clone() };
        self.map.apply(key, entry, |e| sup.contains(&e));
        self.log.push_map(lv, key, value);
    }
}
