//! Undo and redo of this replica's own steps, as new ops: undoing re-creates the
//! characters a step deleted (as new items at the tombstones' place), deletes the ones
//! it inserted, and writes back the map values it replaced. Remote edits are never
//! undone. Re-created items are recorded in `Doc::redone`, so a later step acts on the
//! latest incarnation of a character.
//!
//! A step is one transaction, or a burst of typing: transactions committed with
//! [`Doc::commit_at`] without a pause (`Config::undo_group_ms`). A burst's ops have
//! consecutive seqs of this replica, but remote ops received meanwhile sit between them
//! in the log, so a step is a list of runs of `Lv`s.
//!
//! [`UndoState`] is the history named by op ids, which survives reloading.

use super::Doc;
use super::oplog::{DelRun, InsRun};
use crate::change::{Change, Value};
use crate::error::Error;
use crate::id::{Lv, OpId};

/// A replica's undo/redo history, with ops named by id (see [`Doc::undo_state`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UndoState {
    /// Undo steps, oldest first: first op and op count, the step being the ops of the
    /// first op's replica with seqs `first.seq .. first.seq + count` (for a burst of
    /// typing, several transactions).
    pub undo: Vec<(OpId, u64)>,
    /// Redo steps, oldest first.
    pub redo: Vec<(OpId, u64)>,
    /// Items undo/redo re-created: `(first item, count, first re-created item)`.
    pub redone: Vec<(OpId, u64, OpId)>,
    /// For own map writes: the value each replaced.
    pub map_prev: Vec<(OpId, Option<Value>)>,
}

/// One undo step: ops of this replica with consecutive seqs, as runs `lv .. end` in the
/// log, in order (one run for a transaction, whose ops are always consecutive; a burst of
/// typing has one more run after each remote change received during it).
///
/// This is a step on its way in or out of [`Steps`], which keeps it in 8 bytes.
#[derive(Clone, Debug)]
pub(super) struct UndoStep {
    first: (Lv, Lv),
    /// The runs after the first, if any.
    more: Option<Vec<(Lv, Lv)>>,
}

impl UndoStep {
    /// The step of one transaction, ops `lv .. end`.
    fn one(lv: Lv, end: Lv) -> UndoStep {
        UndoStep { first: (lv, end), more: None }
    }

    /// The runs after the first.
    fn more(&self) -> &[(Lv, Lv)] {
        self.more.as_deref().unwrap_or(&[])
    }

    /// Its runs, in order.
    fn runs(&self) -> impl Iterator<Item = (Lv, Lv)> + '_ {
        std::iter::once(self.first).chain(self.more().iter().copied())
    }

    /// Adds ops `lv .. end` after its others, joined to its last run when they continue
    /// it.
    fn extend(&mut self, lv: Lv, end: Lv) {
        match self.more.as_mut().and_then(|m| m.last_mut()).unwrap_or(&mut self.first) {
            run if run.1 == lv => run.1 = end,
            _ => self.more.get_or_insert_default().push((lv, end)),
        }
    }
}

/// A step as [`Steps`] keeps it: its first run `lv .. lv + len`, or with `len ==
/// SPILLED` its first op, under which [`Steps::spilled`] holds its runs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Packed {
    lv: Lv,
    len: u32,
}

const SPILLED: u32 = u32::MAX;

/// Undo (or redo) steps, oldest first. A step of one run, as every transaction and
/// most bursts of typing are, takes 8 bytes and no heap of its own; the runs of the
/// others (typing while remote changes came in) sit in a side table under their first
/// op. A replica keeps up to `Config::max_undo_steps` steps, 10,000 by default: 80 KB.
#[derive(Debug, Default)]
pub(super) struct Steps {
    steps: std::collections::VecDeque<Packed>,
    spilled: std::collections::HashMap<Lv, Vec<(Lv, Lv)>>,
}

impl Steps {
    fn pack(&mut self, step: UndoStep) -> Packed {
        let (lv, end) = step.first;
        match step.more {
            None if end - lv < SPILLED => Packed { lv, len: end - lv },
            _ => {
                self.spilled.insert(lv, step.runs().collect());
                Packed { lv, len: SPILLED }
            }
        }
    }

    fn unpack(&mut self, p: Packed) -> UndoStep {
        if p.len != SPILLED {
            return UndoStep::one(p.lv, p.lv + p.len);
        }
        let runs = self.spilled.remove(&p.lv).unwrap_or_default();
        let mut step = UndoStep::one(p.lv, runs.first().map_or(p.lv, |r| r.1));
        for &(lv, end) in runs.iter().skip(1) {
            step.extend(lv, end);
        }
        step
    }

    /// Adds a step after the others.
    pub(super) fn push_back(&mut self, step: UndoStep) {
        let p = self.pack(step);
        self.steps.push_back(p);
    }

    /// Takes the latest step out.
    pub(super) fn pop_back(&mut self) -> Option<UndoStep> {
        let p = self.steps.pop_back()?;
        Some(self.unpack(p))
    }

    /// Forgets the oldest step.
    fn pop_front(&mut self) {
        if let Some(p) = self.steps.pop_front()
            && p.len == SPILLED
        {
            self.spilled.remove(&p.lv);
        }
    }

    /// Adds ops `lv .. end` to the latest step (see [`UndoStep::extend`]).
    fn extend_latest(&mut self, lv: Lv, end: Lv) {
        if let Some(p) = self.steps.back_mut()
            && p.len != SPILLED
            && p.lv + p.len == lv
            && end - p.lv < SPILLED
        {
            p.len = end - p.lv;
        } else if let Some(mut step) = self.pop_back() {
            step.extend(lv, end);
            self.push_back(step);
        }
    }

    /// The last run of the latest step.
    fn latest_run(&self) -> Option<(Lv, Lv)> {
        let p = self.steps.back()?;
        if p.len != SPILLED {
            return Some((p.lv, p.lv + p.len));
        }
        self.spilled.get(&p.lv)?.last().copied()
    }

    /// Each step's first op and number of ops, oldest first.
    fn firsts(&self) -> impl Iterator<Item = (Lv, u32)> + '_ {
        self.steps.iter().map(|p| match p.len {
            SPILLED => (p.lv, self.spilled.get(&p.lv).map_or(0, |r| r.iter().map(|(a, b)| b - a).sum())),
            len => (p.lv, len),
        })
    }

    pub(super) fn len(&self) -> usize {
        self.steps.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub(super) fn capacity(&self) -> usize {
        self.steps.capacity()
    }

    fn clear(&mut self) {
        self.steps.clear();
        self.spilled.clear();
    }
}

impl FromIterator<UndoStep> for Steps {
    fn from_iter<I: IntoIterator<Item = UndoStep>>(iter: I) -> Steps {
        let mut steps = Steps::default();
        for s in iter {
            steps.push_back(s);
        }
        steps
    }
}

impl Doc {
    /// Records the committed transaction `lv .. end` as an undo step and clears the redo
    /// stack. `typed_at` is the caller's time of a transaction of typing committed with
    /// [`Doc::commit_at`]: it joins the latest step if that is typing from less than
    /// `Config::undo_group_ms` before. Any other transaction ends the burst.
    pub(super) fn record_step(&mut self, lv: Lv, end: Lv, typed_at: Option<u64>) {
        self.redo.clear();
        let group = self.config.undo_group_ms;
        let joins = match (self.typed_at, typed_at) {
            (Some(prev), Some(now)) => now.saturating_sub(prev) < group && self.follows_latest_step(lv),
            _ => false,
        };
        if joins && !self.undo.is_empty() {
            self.undo.extend_latest(lv, end);
        } else {
            self.push_undo(UndoStep::one(lv, end));
        }
        self.typed_at = typed_at;
    }

    /// Whether op `lv` is the next of this replica's ops after the latest undo step's
    /// (a step's seqs stay consecutive, so [`UndoState`] names it by its first op).
    fn follows_latest_step(&self, lv: Lv) -> bool {
        let Some((_, end)) = self.undo.latest_run() else { return false };
        if end == lv {
            return true;
        }
        let (last, next) = (self.log.id_of(end - 1), self.log.id_of(lv));
        last.replica == next.replica && last.seq + 1 == next.seq
    }

    fn push_undo(&mut self, step: UndoStep) {
        if self.config.max_undo_steps == 0 {
            return;
        }
        let (len, max) = (self.undo.len(), self.config.max_undo_steps);
        if len >= max {
            self.undo.pop_front();
        } else if len == self.undo.capacity() {
            // Double, but never past the limit: a full history holds exactly `max`
            // steps, not the next power of two.
            self.undo.steps.reserve_exact(len.max(4).min(max - len));
        }
        self.undo.push_back(step);
    }

    /// The undo/redo history in a form that survives reloading (ops named by id, not
    /// by local index), for storage to keep across restarts.
    pub fn undo_state(&self) -> UndoState {
        let log = &self.log;
        let step = |(lv, len): (Lv, u32)| (log.id_of(lv), len as u64);
        // A re-created run's source items may come from several writers: one entry per
        // run of one writer's consecutive ids (the re-created items are all local).
        let mut follow_ops = Vec::new();
        for (&k, &(len, new)) in &self.redone {
            log.for_each_id_run(k, len, |lv, n, _, _| {
                follow_ops.push((log.id_of(lv), n as u64, log.id_of(new + (lv - k))));
            });
        }
        let map_prev = self.map_prev.iter().map(|(&lv, v)| (log.id_of(lv), v.clone())).collect();
        UndoState {
            undo: self.undo.firsts().map(step).collect(),
            redo: self.redo.firsts().map(step).collect(),
            redone: follow_ops,
            map_prev,
        }
    }

    /// Restores an undo/redo history saved by [`Doc::undo_state`]. Steps with ops this
    /// replica does not hold are dropped. Typing after it starts a new step.
    pub fn restore_undo_state(&mut self, state: &UndoState) {
        let log = &self.log;
        let lv_run = |id: OpId, n: u64| -> Option<Lv> {
            let lv = log.lv_of(id)?;
            let n = u32::try_from(n).ok()?;
            let last = log.lv_of(OpId::new(id.replica, id.seq.checked_add(n.checked_sub(1)? as u64)?))?;
            (last.checked_sub(lv)? == n - 1).then_some(lv)
        };
        // A step's ops may lie in several runs of `Lv`s (a burst of typing interleaved
        // with remote ops, or ops received in another order after reloading).
        let step = |&(id, n): &(OpId, u64)| -> Option<UndoStep> {
            let mut runs: Option<UndoStep> = None;
            let mut held = 0;
            id.seq.checked_add(n)?;
            log.for_each_lv_run(id.replica, id.seq, n, |_, lv, k| {
                match &mut runs {
                    Some(step) => step.extend(lv, lv + k),
                    None => runs = Some(UndoStep::one(lv, lv + k)),
                }
                held += k as u64;
                Ok::<(), ()>(())
            })
            .ok()?;
            runs.filter(|_| n > 0 && held == n)
        };
        let undo = state.undo.iter().filter_map(step).collect();
        let redo = state.redo.iter().filter_map(step).collect();
        let redone = state
            .redone
            .iter()
            .filter_map(|&(from, n, to)| Some((lv_run(from, n)?, (n as u32, lv_run(to, n)?))))
            .collect();
        let map_prev =
            state.map_prev.iter().filter_map(|(id, v)| Some((log.lv_of(*id)?, v.clone()))).collect();
        (self.undo, self.redo, self.redone, self.map_prev) = (undo, redo, redone, map_prev);
        self.typed_at = None;
        while self.undo.len() > self.config.max_undo_steps {
            self.undo.pop_front();
        }
    }

    /// Whether there is an own edit to undo.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Whether there is an undone edit to redo.
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Undoes this replica's latest own step (a transaction, or a burst of typing) that
    /// still has an effect, as a new change. Remote edits are never undone.
    pub fn undo(&mut self) -> Result<Option<Change>, Error> {
        if self.txn.is_some() {
            return Err(Error::TransactionOpen);
        }
        self.typed_at = None;
        while let Some(step) = self.undo.pop_back() {
            if let Some((change, inv)) = self.invert(&step)? {
                self.redo.push_back(inv);
                return Ok(Some(change));
            }
        }
        Ok(None)
    }

    /// Redoes the latest undone step, as a new change.
    pub fn redo(&mut self) -> Result<Option<Change>, Error> {
        if self.txn.is_some() {
            return Err(Error::TransactionOpen);
        }
        self.typed_at = None;
        while let Some(step) = self.redo.pop_back() {
            if let Some((change, inv)) = self.invert(&step)? {
                self.push_undo(inv);
                return Ok(Some(change));
            }
        }
        Ok(None)
    }

    /// Applies the inverse of `step` as a new local transaction.
    fn invert(&mut self, step: &UndoStep) -> Result<Option<(Change, UndoStep)>, Error> {
        // Items this step deleted come back, as new items at the tombstones' place.
        let dels: Vec<DelRun> = step.runs().flat_map(|(a, b)| self.log.dels_in(a, b)).collect();
        for d in dels.iter().rev() {
            for (cur, n, visible) in self.incarnations(d.target, d.len) {
                if !visible {
                    // Right before the tombstones, so restored runs keep their order.
                    let s = self.text.content_of(cur, n).to_owned();
                    let left = self.text.item_before(cur);
                    let lv = self.local_lvs(n)?;
                    self.integrate_insert(lv, n, left, cur, &s);
                    self.redone.insert(cur, (n, lv));
                }
            }
        }
        // Items it inserted (or their re-creations) that are still visible go.
        let ins: Vec<InsRun> = step.runs().flat_map(|(a, b)| self.log.ins_in(a, b)).collect();
        for r in ins {
            for (cur, n, visible) in self.incarnations(r.lv, r.len) {
                if visible {
                    self.delete_items(cur, n)?;
                }
            }
        }
        // Map writes get back the value they replaced.
        let writes: Vec<(String, Option<Value>)> = step
            .runs()
            .flat_map(|(a, b)| self.log.map_ops_in(a, b))
            .filter_map(|m| Some((m.key.clone(), self.map_prev.get(&m.lv)?.clone())))
            .collect();
        for (key, prev) in writes.into_iter().rev() {
            self.map_write(&key, prev)?;
        }
        let Some((lv, end)) = self.close_txn() else { return Ok(None) };
        Ok(Some((self.change_of(lv, end), UndoStep::one(lv, end))))
    }

    /// The latest re-creation (by undo/redo) of item `lv`, or `lv` itself.
    fn follow(&self, mut lv: Lv) -> Lv {
        while let Some((&k, &(len, new))) = self.redone.range(..=lv).next_back() {
            if lv >= k + len {
                break;
            }
            lv = new + (lv - k);
        }
        lv
    }

    /// Items `lv .. lv + len`, each replaced by its latest re-creation, grouped into runs
    /// of adjacent items in one span: `(first item, count, visible)`.
    fn incarnations(&self, lv: Lv, len: u32) -> Vec<(Lv, u32, bool)> {
        let mut out: Vec<(Lv, u32, bool)> = Vec::new();
        for k in 0..len {
            let cur = self.follow(lv + k);
            let (_, visible) = self.text.vis_pos_of_lv(cur);
            if let Some(last) = out.last_mut()
                && last.0 + last.1 == cur
                && last.2 == visible
                && self.text.span_rest(last.0) > last.1
            {
                last.1 += 1;
                continue;
            }
            out.push((cur, 1, visible));
        }
        out
    }
}
