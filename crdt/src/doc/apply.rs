//! Remote changes. [`Doc::apply`] checks a change's size and shape, compares the part
//! this replica already holds or buffers with what it holds or buffers (a different
//! version of the same seqs is equivocation), drops the part already held, and either
//! applies the rest (when all its deps are held) or keeps it in the causal buffer,
//! bounded by [`Config`](super::Config). Applying a change drains every buffered change
//! it made ready. A change is validated completely before anything is touched, so a
//! refused change leaves the replica as it was.
//!
//! A change may only refer to ops in its causal past: its deps, their ancestors and its
//! own earlier ops. Whether a change is valid therefore depends on the change and the
//! ops it names, never on what else a replica happens to hold, so every replica accepts
//! the same changes whatever the arrival order. Checking a reference costs a lookup in
//! the version of that past (computed once per change), and a delete is checked and
//! applied per run of held ops, never per seq it names.
//!
//! An insert's origins must also be neighbours in the document its author saw: the left
//! one before the right one, with no item of the causal past (or of the change's earlier
//! inserts) between them. Items of the past are in the same order on every replica, so
//! this too is decided alike everywhere; the items a replica holds between the origins
//! must all be concurrent with the change, and the walk over them stops at the first
//! one that is not.
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
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

/// Largest Lamport time accepted from a remote change (document encodings allow up to
/// `u64::MAX / 2`; local edits add at most 2^32).
const MAX_REMOTE_LAMPORT: u64 = u64::MAX / 4;

/// Causal pasts remembered (changes of one burst often share their deps).
const PAST_CACHE: usize = 32;

/// What [`Doc::apply`] did.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ApplyOutcome {
    /// Changes applied, including buffered ones this change made ready.
    pub applied: usize,
    /// Whether this change was already known (a duplicate is a no-op).
    pub duplicate: bool,
    /// Whether this change waits in the causal buffer for missing deps.
    pub buffered: bool,
    /// Whether this change was already waiting in the causal buffer (then `buffered` is
    /// set too, and nothing new was stored: the caller need not keep it again).
    pub already_buffered: bool,
    /// Buffered changes dropped because they turned out invalid when their deps arrived.
    pub rejected: usize,
}

/// A change in the causal buffer.
#[derive(Debug)]
pub(super) struct Pending {
    change: Change,
    /// Its end seq (`change.end_seq()`, kept to avoid counting chars again).
    end: u64,
    /// When it entered the buffer, in the caller's time unit ([`Doc::apply_at`]).
    since: u64,
    /// Its estimated bytes.
    bytes: u64,
}

/// What a change's author saw of the items near its own inserts, as far as validating
/// its origins needs: the ops of the change take `Lv`s `lv0 ..` from seq `start_seq`.
struct AuthorView {
    lv0: Lv,
    start_seq: u64,
    /// The item right after each item (`NONE` as a key: the document start) after which
    /// an earlier insert of the change was placed, and after the last character of each
    /// such insert. The other characters of those inserts are followed by the next one.
    next: BTreeMap<Lv, Lv>,
}

/// A run of seqs of one author with one kind of content, for comparing two versions of
/// the same seqs whatever their split into ops.
struct Piece<'a> {
    seq: u64,
    len: u64,
    kind: PieceKind<'a>,
}

enum PieceKind<'a> {
    /// Inserted chars: the first one's origins; each later one's left origin is the
    /// previous char.
    Ins { ol: Option<OpId>, or: Option<OpId>, text: Cow<'a, str> },
    /// Deletes: `first` is the target of the first seq, and the targets go down by one
    /// per seq when `back`, up by one otherwise.
    Del { first: OpId, back: bool },
    /// A map write.
    Map { key: Cow<'a, str>, value: Option<Value> },
}

/// The pieces of `ops` (from `seq`) that overlap seqs `a .. b`.
fn pieces_of<'a>(mut seq: u64, ops: &'a [Op], a: u64, b: u64, out: &mut Vec<Piece<'a>>) {
    for op in ops {
        if seq >= b {
            return;
        }
        let n = op.n_seqs();
        if seq + n > a {
            let kind = match op {
                Op::Insert { origin_left, origin_right, text } => {
                    PieceKind::Ins { ol: *origin_left, or: *origin_right, text: Cow::Borrowed(text) }
                }
                Op::Delete { start, len, reversed } => {
                    let first =
                        if *reversed { OpId::new(start.replica, start.seq + len - 1) } else { *start };
                    PieceKind::Del { first, back: *reversed }
                }
                Op::MapSet { key, value } => PieceKind::Map { key: Cow::Borrowed(key), value: value.clone() },
            };
            out.push(Piece { seq, len: n, kind });
        }
        seq += n;
    }
}

/// Whether two map values are the same (floats compared bit for bit).
fn same_value(a: &Option<Value>, b: &Option<Value>) -> bool {
    match (a, b) {
        (Some(Value::Float(x)), Some(Value::Float(y))) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// Whether two versions of `author`'s seqs `a .. b` are the same, op by op. Both piece
/// lists are in seq order and together cover `a .. b`. Costs one step per piece plus
/// the text compared.
fn same_pieces(author: ReplicaId, x: &[Piece<'_>], y: &[Piece<'_>], a: u64, b: u64) -> bool {
    // A cursor: piece index and, inside an insert, the byte offset of seq `pos`.
    struct Cur {
        i: usize,
        byte: usize,
    }
    let byte_at = |p: &Piece<'_>, k: u64| match &p.kind {
        PieceKind::Ins { text, .. } => crate::char_bytes(text, k as usize),
        _ => 0,
    };
    let start = |ps: &[Piece<'_>]| -> Option<Cur> {
        let i = ps.iter().position(|p| p.seq + p.len > a)?;
        (ps[i].seq <= a).then(|| Cur { i, byte: byte_at(&ps[i], a - ps[i].seq) })
    };
    let (Some(mut cx), Some(mut cy)) = (start(x), start(y)) else { return false };
    let mut pos = a;
    while pos < b {
        let (Some(px), Some(py)) = (x.get(cx.i), y.get(cy.i)) else { return false };
        if px.seq > pos || py.seq > pos {
            return false;
        }
        let (kx, ky) = (pos - px.seq, pos - py.seq);
        let m = (px.seq + px.len).min(py.seq + py.len).min(b) - pos;
        let prev = Some(OpId::new(author, pos.wrapping_sub(1)));
        match (&px.kind, &py.kind) {
            (
                PieceKind::Ins { ol: olx, or: orx, text: tx },
                PieceKind::Ins { ol: oly, or: ory, text: ty },
            ) => {
                let lx = if kx == 0 { *olx } else { prev };
                let ly = if ky == 0 { *oly } else { prev };
                if lx != ly || orx != ory {
                    return false;
                }
                let (mut ix, mut iy) = (tx[cx.byte..].chars(), ty[cy.byte..].chars());
                for _ in 0..m {
                    match (ix.next(), iy.next()) {
                        (Some(c), Some(d)) if c == d => {
                            cx.byte += c.len_utf8();
                            cy.byte += d.len_utf8();
                        }
                        _ => return false,
                    }
                }
            }
            (PieceKind::Del { first: fx, back: bx }, PieceKind::Del { first: fy, back: by }) => {
                let at = |f: &OpId, back: bool, k: u64| {
                    if back { f.seq.checked_sub(k) } else { f.seq.checked_add(k) }
                };
                if fx.replica != fy.replica || at(fx, *bx, kx) != at(fy, *by, ky) || (m > 1 && bx != by) {
                    return false;
                }
            }
            (PieceKind::Map { key: kx_, value: vx }, PieceKind::Map { key: ky_, value: vy }) => {
                if kx_ != ky_ || !same_value(vx, vy) {
                    return false;
                }
            }
            _ => return false,
        }
        pos += m;
        if pos == px.seq + px.len {
            cx = Cur { i: cx.i + 1, byte: 0 };
        }
        if pos == py.seq + py.len {
            cy = Cur { i: cy.i + 1, byte: 0 };
        }
    }
    true
}

/// Sorted, deduplicated deps.
fn norm_deps(deps: &[OpId]) -> Vec<OpId> {
    let mut d = deps.to_vec();
    d.sort_unstable();
    d.dedup();
    d
}

impl Doc {
    /// Applies a remote change: a duplicate is a no-op, a change with missing deps waits
    /// in the causal buffer, and a ready one is applied together with every buffered
    /// change it makes ready. The same as [`Doc::apply_at`] at time 0.
    pub fn apply(&mut self, change: Change) -> Result<ApplyOutcome, Error> {
        self.apply_at(change, 0)
    }

    /// [`Doc::apply`], recording `now` (in any unit the caller picks, e.g. seconds) as
    /// the time the change entered the causal buffer, if it has to wait there; see
    /// [`Doc::expire_pending`].
    ///
    /// Refuses, leaving the replica untouched: a change over the size limits
    /// ([`Error::ChangeTooLarge`]), a malformed one ([`Error::InvalidChange`]), one that
    /// gives seqs this replica holds or buffers a different content
    /// ([`Error::Equivocation`]), and one the causal buffer has no room for
    /// ([`Error::BufferFull`]).
    pub fn apply_at(&mut self, change: Change, now: u64) -> Result<ApplyOutcome, Error> {
        if self.txn.is_some() {
            return Err(Error::TransactionOpen);
        }
        let mut out = ApplyOutcome::default();
        self.check_size(&change)?;
        check_shape(&change)?;
        self.check_held(&change)?;
        self.check_buffered(&change)?;
        let Some(change) = self.trim_known(change) else {
            out.duplicate = true;
            return Ok(out);
        };
        if !self.is_ready(&change) {
            // A buffered change covering these seqs has the same content (checked above).
            let (author, a, b) = (change.author, change.start_seq, change.end_seq());
            if self.pending.iter().any(|p| p.change.author == author && p.change.start_seq <= a && p.end >= b)
            {
                out.buffered = true;
                out.already_buffered = true;
                return Ok(out);
            }
            let n = change.n_seqs();
            // The part that waits (after trimming) is what the buffer holds.
            let bytes = change.estimated_bytes();
            let author_bytes = self.pending_bytes_by.get(&author).copied().unwrap_or(0);
            let cfg = &self.config;
            if self.pending.len() >= cfg.max_pending_changes
                || self.pending_ops.saturating_add(n) > cfg.max_pending_ops
                || self.pending_bytes.saturating_add(bytes) > cfg.max_pending_bytes
                || author_bytes.saturating_add(bytes) > cfg.max_pending_bytes_per_author
            {
                return Err(Error::BufferFull {
                    pending_changes: self.pending.len(),
                    pending_ops: self.pending_ops,
                    pending_bytes: self.pending_bytes,
                    author,
                    author_bytes,
                    change_bytes: bytes,
                });
            }
            self.pending_ops += n;
            self.pending_bytes += bytes;
            *self.pending_bytes_by.entry(author).or_insert(0) += bytes;
            self.pending.push(Pending { change, end: b, since: now, bytes });
            out.buffered = true;
            return Ok(out);
        }
        self.apply_ready(&change)?;
        out.applied = 1;
        self.drain_pending(&mut out);
        Ok(out)
    }

    /// Drops buffered changes that entered the causal buffer more than `max_age` before
    /// `now` (same unit as [`Doc::apply_at`]); returns how many. [`Doc::missing`] then
    /// no longer asks for their deps.
    pub fn expire_pending(&mut self, now: u64, max_age: u64) -> usize {
        let mut dropped = 0;
        let mut i = 0;
        while i < self.pending.len() {
            if now.saturating_sub(self.pending[i].since) > max_age {
                self.unbuffer(i);
                dropped += 1;
            } else {
                i += 1;
            }
        }
        dropped
    }

    /// Removes buffered change `i` and its share of the buffer's counters.
    fn unbuffer(&mut self, i: usize) -> Change {
        let p = self.pending.swap_remove(i);
        self.pending_ops -= p.end - p.change.start_seq;
        self.pending_bytes -= p.bytes;
        if let Some(b) = self.pending_bytes_by.get_mut(&p.change.author) {
            *b -= p.bytes;
            if *b == 0 {
                self.pending_bytes_by.remove(&p.change.author);
            }
        }
        p.change
    }

    /// Applies every buffered change that has become ready.
    fn drain_pending(&mut self, out: &mut ApplyOutcome) {
        loop {
            let mut progress = false;
            let mut i = 0;
            while i < self.pending.len() {
                // Ready when fully known (to drop), or when it starts at or before the next
                // expected seq (the known prefix is trimmed) and its deps are held.
                let Pending { change: c, end, .. } = &self.pending[i];
                let version = &self.log.version;
                let known = version.get(c.author);
                let ready = end - 1 <= known
                    || (c.start_seq <= known + 1 && c.deps.iter().all(|&d| version.contains(d)));
                if !ready {
                    i += 1;
                    continue;
                }
                let c = self.unbuffer(i);
                progress = true;
                if self.check_held(&c).is_err() {
                    out.rejected += 1;
                    continue;
                }
                match self.trim_known(c) {
                    Some(c) if self.is_ready(&c) => match self.apply_ready(&c) {
                        Ok(()) => out.applied += 1,
                        Err(_) => out.rejected += 1,
                    },
                    _ => {}
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

    /// The seqs waiting in the causal buffer, by author, one range per buffered change
    /// (a change may wait trimmed of the seqs this replica held when it arrived).
    pub fn pending_seqs(&self) -> impl Iterator<Item = (ReplicaId, std::ops::Range<u64>)> + '_ {
        self.pending.iter().map(|p| (p.change.author, p.change.start_seq..p.end))
    }

    /// Estimated bytes of the changes waiting for deps.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    /// What the causal buffer waits for: for each replica, the highest seq needed. Ask a
    /// peer for `changes_since(version())` to fill it.
    pub fn missing(&self) -> VectorClock {
        let version = &self.log.version;
        let mut m = VectorClock::new();
        for p in &self.pending {
            let c = &p.change;
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

    /// Checks a change against the per-change limits.
    fn check_size(&self, c: &Change) -> Result<(), Error> {
        let too_large =
            |limit, value: u64, max: u64| Error::ChangeTooLarge { change: c.id(), limit, value, max };
        let max_ops = self.config.max_change_ops;
        if c.ops.len() > max_ops {
            return Err(too_large("max_change_ops", c.ops.len() as u64, max_ops as u64));
        }
        let bytes = c.estimated_bytes();
        if bytes > self.config.max_change_bytes {
            return Err(too_large("max_change_bytes", bytes, self.config.max_change_bytes));
        }
        Ok(())
    }

    /// Compares the seqs of `c` this replica holds with what it holds for them.
    fn check_held(&self, c: &Change) -> Result<(), Error> {
        let known = self.log.version.get(c.author);
        if c.start_seq > known {
            return Ok(());
        }
        let b = c.end_seq().min(known + 1);
        if self.same_as_held(c, b) {
            Ok(())
        } else {
            Err(Error::Equivocation { author: c.author, seqs: c.start_seq..b })
        }
    }

    /// Whether seqs `c.start_seq .. b` of `c` (all held) are what this replica holds:
    /// the same deps for the first seq, the same Lamport times and the same ops.
    fn same_as_held(&self, c: &Change, b: u64) -> bool {
        let log = &self.log;
        let a = c.start_seq;
        let Some(lv_a) = log.lv_of(c.id()) else { return false };
        let mut deps = Vec::with_capacity(c.deps.len());
        for d in &c.deps {
            match log.lv_of(*d) {
                Some(lv) => deps.push(lv),
                None => return false,
            }
        }
        if log.frontier_of(deps) != log.parents_of(lv_a) {
            return false;
        }
        // The held ops, one run of `Lv`s at a time. Per run of the causal graph, the
        // Lamport times must continue the change's, and a run that starts after seq `a`
        // must have the author's previous op as its only parent, as a change implies for
        // every op after its first.
        let mut held_ops: Vec<(u64, Vec<Op>)> = Vec::new();
        let same_graph = log.for_each_lv_run(c.author, a, b - a, |seq, lv, n| {
            let mut x = lv;
            while x < lv + n {
                let r = &log.runs[log.run_idx(x)];
                let s = seq + (x - lv) as u64;
                if r.lamport + (x - r.lv) as u64 != c.lamport + (s - a) {
                    return Err(());
                }
                if x == r.lv && s > a && r.parents != [log.lv_of(OpId::new(c.author, s - 1)).ok_or(())?] {
                    return Err(());
                }
                x = r.end().min(lv + n);
            }
            held_ops.push((seq, self.ops_of(lv, lv + n)));
            Ok(())
        });
        if same_graph.is_err() {
            return false;
        }
        let mut held = Vec::new();
        for (seq, ops) in &held_ops {
            pieces_of(*seq, ops, a, b, &mut held);
        }
        let mut incoming = Vec::new();
        pieces_of(a, &c.ops, a, b, &mut incoming);
        same_pieces(c.author, &held, &incoming, a, b)
    }

    /// Compares `c` with every buffered change of its author whose seqs overlap.
    fn check_buffered(&self, c: &Change) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut incoming = Vec::new();
        let end = c.end_seq();
        for p in &self.pending {
            let q = &p.change;
            if q.author != c.author {
                continue;
            }
            let a = c.start_seq.max(q.start_seq);
            let b = end.min(p.end);
            if a >= b {
                continue;
            }
            if !self.same_changes(c, q, a..b, &mut incoming) {
                return Err(Error::Equivocation { author: c.author, seqs: a..b });
            }
        }
        Ok(())
    }

    /// Whether two changes by one author agree on seqs `r` (which both cover).
    fn same_changes<'a>(&self, c: &'a Change, q: &Change, r: Range<u64>, buf: &mut Vec<Piece<'a>>) -> bool {
        let (a, b) = (r.start, r.end);
        if c.lamport + (a - c.start_seq) != q.lamport + (a - q.start_seq) {
            return false;
        }
        // The deps of seq `a`: a change's own deps at its start, its author's previous
        // op after it.
        let deps_at = |x: &Change| {
            if x.start_seq == a { norm_deps(&x.deps) } else { vec![OpId::new(x.author, a - 1)] }
        };
        if deps_at(c) != deps_at(q) {
            return false;
        }
        buf.clear();
        pieces_of(c.start_seq, &c.ops, a, b, buf);
        let mut other = Vec::new();
        pieces_of(q.start_seq, &q.ops, a, b, &mut other);
        same_pieces(c.author, buf, &other, a, b)
    }

    /// Drops the prefix of a change (shape-checked) this replica already holds. `None`
    /// when all of it is held.
    fn trim_known(&self, mut c: Change) -> Option<Change> {
        let known = self.log.version.get(c.author);
        if c.start_seq > known {
            return Some(c);
        }
        if c.end_seq() - 1 <= known {
            return None;
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
                    let b = crate::char_bytes(&text, k as usize);
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
                // A map write takes one seq, so it is never cut.
                op @ Op::MapSet { .. } => op,
            });
        }
        Some(Change {
            author: c.author,
            start_seq: first,
            deps: vec![OpId::new(c.author, first - 1)],
            lamport: c.lamport + (first - c.start_seq),
            time: c.time,
            ops,
        })
    }

    /// The version covering `parents` and their causal past, from the cache when a
    /// recent change had the same parents. A single parent `p` is followed down its
    /// run: its past is the past of the run's parents plus `p`'s author up to `p`, so
    /// the changes of a long-lived branch, applied one after another, each cost a cache
    /// lookup or a short chain instead of a walk over everything since the branch began.
    fn past_of(&mut self, parents: &[Lv]) -> VectorClock {
        let mut own: Vec<(ReplicaId, u64)> = Vec::new();
        let mut key = parents.to_vec();
        let mut v = loop {
            if let Some((_, v)) = self.past_cache.iter().find(|(p, _)| *p == key) {
                break v.clone();
            }
            if key.len() != 1 {
                let v = self.log.past_version(&key);
                self.cache_past(key, v.clone());
                break v;
            }
            let r = &self.log.runs[self.log.run_idx(key[0])];
            own.push((self.log.agents[r.agent as usize].id, r.seq + (key[0] - r.lv) as u64));
            key.clone_from(&r.parents);
        };
        if own.is_empty() {
            return v;
        }
        for &(id, seq) in &own {
            v.observe(id, seq);
        }
        self.cache_past(parents.to_vec(), v.clone());
        v
    }

    /// Remembers the causal past of `parents`, forgetting the oldest entry when full.
    fn cache_past(&mut self, parents: Vec<Lv>, v: VectorClock) {
        if self.past_cache.len() >= PAST_CACHE {
            self.past_cache.pop_front();
        }
        self.past_cache.push_back((parents, v));
    }

    /// Validates a causally ready change completely, then applies it.
    fn apply_ready(&mut self, c: &Change) -> Result<(), Error> {
        let n = c.n_seqs();
        let bad = |reason: InvalidReason| Error::InvalidChange { change: c.id(), reason };
        // The parents go through a reused buffer, so a change on one dep does not
        // allocate for them.
        let mut parents = std::mem::take(&mut self.scratch);
        parents.clear();
        parents.extend(c.deps.iter().map(|&d| self.log.lv_of(d).expect("ready deps are held")));
        let mut parents = self.log.frontier_of(parents);
        parents.sort_unstable();
        if parents.iter().any(|&p| self.log.lamport_of(p) >= c.lamport) {
            return Err(bad(InvalidReason::LamportNotAfterDeps));
        }
        // A change made on top of everything this replica holds (as a live peer's
        // usually is) has the whole version as its causal past: no walk, no copy.
        let frontier = &self.log.frontier;
        let on_frontier = parents.len() == frontier.len() && parents.iter().all(|p| frontier.contains(p));
        let walked = if on_frontier { None } else { Some(self.past_of(&parents)) };
        let past = walked.as_ref().unwrap_or(&self.log.version);
        if past.get(c.author) + 1 < c.start_seq {
            return Err(bad(InvalidReason::PreviousOpNotInPast));
        }
        // Validate every reference before touching anything: origins and delete targets
        // must be inserted characters in the causal past or made earlier in this change,
        // and each insert's origins must be adjacent in the author's view.
        // `own` holds the seq ranges of the change's inserts so far, merged when adjacent;
        // only later ops of the change read it.
        let mut own: Vec<(u64, u64)> = Vec::new();
        // Each insert's origins as `Lv`s, in op order, for applying it once all is valid.
        let mut origins = std::mem::take(&mut self.origin_lvs);
        origins.clear();
        let mut view = AuthorView { lv0: self.log.next_lv(), start_seq: c.start_seq, next: BTreeMap::new() };
        let end = c.start_seq + n;
        let mut seq = c.start_seq;
        for op in &c.ops {
            let k = op.n_seqs();
            match op {
                Op::Insert { origin_left, origin_right, .. } => {
                    // The `Lv` of each origin this replica holds, found by its check.
                    let mut held = [None; 2];
                    for (h, o) in held.iter_mut().zip([origin_left, origin_right]) {
                        let Some(o) = o else { continue };
                        *h = self.check_items(c, past, &own, seq, *o, 1).map_err(|e| {
                            bad(match e {
                                InvalidReason::NotInCausalPast(_) => e,
                                _ => InvalidReason::UnknownOrigin(*o),
                            })
                        })?;
                    }
                    // The `Lv`s of this insert (and so of every own origin) must exist.
                    if view.lv0 as u64 + (seq + k - c.start_seq) >= NONE as u64 {
                        return Err(Error::TooLarge(NONE as u64));
                    }
                    let ol = held[0].unwrap_or_else(|| self.view_lv(c, &view, *origin_left));
                    let or = held[1].unwrap_or_else(|| self.view_lv(c, &view, *origin_right));
                    origins.push((ol, or));
                    if !self.adjacent_in_view(past, &view, ol, or) {
                        return Err(bad(InvalidReason::InconsistentOrigins {
                            left: *origin_left,
                            right: *origin_right,
                        }));
                    }
                    // The run now sits between its origins; a later insert of the change
                    // may be placed after `ol` or after its last character.
                    if seq + k < end {
                        let first = view.lv0 + (seq - c.start_seq) as Lv;
                        view.next.insert(ol, first);
                        view.next.insert(first + k as Lv - 1, or);
                        match own.last_mut() {
                            Some(r) if r.1 == seq => r.1 += k,
                            _ => own.push((seq, seq + k)),
                        }
                    }
                }
                Op::Delete { start, len, .. } => {
                    self.check_items(c, past, &own, seq, *start, *len).map_err(bad)?;
                }
                Op::MapSet { .. } => {}
            }
            seq += k;
        }
        if self.log.next_lv() as u64 + n >= NONE as u64 {
            return Err(Error::TooLarge(NONE as u64));
        }
        let agent = self.log.agent(c.author);
        let lv0 =
            self.log.push_lvs_with_past(agent, c.start_seq, n as u32, c.lamport, &parents, walked.as_ref());
        debug_assert_eq!(lv0, view.lv0, "the change's ops take the Lvs its view gave them");
        self.log.agents[agent as usize].date_from(c.start_seq, c.time);
        let mut lv = lv0;
        let mut next_origins = origins.iter();
        for op in &c.ops {
            let k = op.n_seqs() as u32;
            match op {
                Op::Insert { text, .. } => {
                    let &(ol, or) = next_origins.next().expect("one entry per insert");
                    self.integrate_insert(lv, k, ol, or, text);
                }
                Op::Delete { start, len, reversed } => {
                    let mut pieces = std::mem::take(&mut self.del_pieces);
                    pieces.clear();
                    let _ = self.log.for_each_lv_run(start.replica, start.seq, *len, |_, t, m| {
                        pieces.push((t, m));
                        Ok::<(), ()>(())
                    });
                    if *reversed {
                        pieces.reverse();
                    }
                    let mut op_lv = lv;
                    for &(t, m) in &pieces {
                        self.text.delete(t, m);
                        self.log.push_del(DelRun {
                            lv: op_lv,
                            len: m,
                            target: t,
                            reversed: *reversed && m > 1,
                        });
                        op_lv += m;
                    }
                    self.del_pieces = pieces;
                }
                Op::MapSet { key, value } => {
                    let frontier = if lv == lv0 { parents.clone() } else { vec![lv - 1] };
                    let lamport = c.lamport + (lv - lv0) as u64;
                    self.apply_map_op(lv, lamport, c.author, key, value.clone(), &frontier);
                }
            }
            lv += k;
        }
        self.scratch = parents;
        self.origin_lvs = origins;
        Ok(())
    }

    /// The `Lv` of origin `o` (validated: held, or inserted earlier by `c`) in the
    /// author's view: the `Lv` its op has or, for an op of `c`, will get; `NONE` for no
    /// origin.
    fn view_lv(&self, c: &Change, view: &AuthorView, o: Option<OpId>) -> Lv {
        match o {
            None => NONE,
            Some(o) if o.replica == c.author && o.seq >= view.start_seq => {
                view.lv0 + (o.seq - view.start_seq) as Lv
            }
            Some(o) => self.log.lv_of(o).expect("validated origins are held"),
        }
    }

    /// Whether item `right` comes right after item `left` in the author's view of the
    /// document (`NONE`: the start as `left`, the end as `right`).
    ///
    /// Items of the causal past `past` have the same order on every replica, and each of
    /// the change's earlier inserts sits between its origins, so `view` tells the
    /// successor of every item after which the change placed one. Otherwise `left` is a
    /// character of one of those inserts, followed by the next one, or an item of the
    /// past: then every item this replica holds between the two must be concurrent with
    /// the change. That walk stops at the first item of the past and goes span by span;
    /// a gap of the past is walked at most once per change (afterwards `view` knows its
    /// successor), so a change walks each span of the document at most once.
    fn adjacent_in_view(&self, past: &VectorClock, view: &AuthorView, left: Lv, right: Lv) -> bool {
        if let Some(&next) = view.next.get(&left) {
            return next == right;
        }
        if left != NONE && left >= view.lv0 {
            return right == left + 1;
        }
        if right != NONE && right >= view.lv0 {
            return false;
        }
        self.text.items_between(left, right, |lv, n| !self.log.any_in(lv, n, past))
    }

    /// Checks that ids `start .. start + len` (one replica's consecutive seqs), named by
    /// the op of `c` at `seq`, are inserted characters in `c`'s causal past (`past`) or
    /// inserted by `c` before `seq` (`own`). Costs a few binary searches per run of held
    /// ops, however many seqs the range names. Returns the `Lv` of `start` when this
    /// replica holds it (`None` when `c` makes it).
    fn check_items(
        &self,
        c: &Change,
        past: &VectorClock,
        own: &[(u64, u64)],
        seq: u64,
        start: OpId,
        len: u64,
    ) -> Result<Option<Lv>, InvalidReason> {
        let past_known = InvalidReason::DeletePastKnown { start, len };
        if start.seq == 0 {
            return Err(past_known);
        }
        let end = start.seq + len;
        let mut held_end = end;
        if start.replica == c.author && end > c.start_seq {
            // The part made by this change: inside one run of its earlier inserts.
            if end > seq {
                return Err(past_known);
            }
            let a = start.seq.max(c.start_seq);
            let i = own.partition_point(|&(_, e)| e <= a);
            match own.get(i) {
                Some(&(s, e)) if s <= a && end <= e => {}
                Some(&(s, e)) if s <= a => {
                    return Err(InvalidReason::UnknownDeleteTarget(OpId::new(c.author, e)));
                }
                _ => return Err(InvalidReason::UnknownDeleteTarget(OpId::new(c.author, a))),
            }
            held_end = a;
        }
        if start.seq >= held_end {
            return Ok(None);
        }
        let last = held_end - 1;
        if last > self.log.version.get(start.replica) {
            return Err(past_known);
        }
        let in_past = past.get(start.replica);
        if last > in_past {
            return Err(InvalidReason::NotInCausalPast(OpId::new(start.replica, start.seq.max(in_past + 1))));
        }
        let log = &self.log;
        let mut first = None;
        log.for_each_lv_run(start.replica, start.seq, held_end - start.seq, |s, lv, n| {
            first.get_or_insert(lv);
            // Usually the ops are in one run of the text's leaf index, found at once;
            // otherwise the logs of op kinds answer in two binary searches.
            if self.text.items_from(lv) >= n || log.all_inserts(lv, lv + n) {
                Ok(())
            } else {
                Err(InvalidReason::UnknownDeleteTarget(OpId::new(start.replica, s)))
            }
        })?;
        Ok(first)
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

/// Checks a change's shape: seqs, ops, Lamport time and deps in range.
fn check_shape(c: &Change) -> Result<(), Error> {
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
    let n = c.ops.iter().try_fold(0u64, |n, op| n.checked_add(op.n_seqs()));
    let Some(n) = n.filter(|&n| c.start_seq.checked_add(n).is_some()) else {
        return Err(bad(InvalidReason::SeqOverflows));
    };
    // Lamport times start at 1; a bound far below u64::MAX keeps every later local
    // edit and every encoding of this document in range.
    if c.lamport == 0 || c.lamport.checked_add(n).is_none_or(|e| e > MAX_REMOTE_LAMPORT) {
        return Err(bad(InvalidReason::LamportOutOfRange));
    }
    if c.deps.iter().any(|d| d.seq == 0 || (d.replica == c.author && d.seq >= c.start_seq)) {
        return Err(bad(InvalidReason::DepNotBefore));
    }
    Ok(())
}
