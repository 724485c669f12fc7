//! [`Doc`]: one replica of a document: its op log, text, map, version and causal buffer.

use crate::change::{Change, Op, Value};
use crate::clock::VectorClock;
use crate::error::Error;
use crate::id::{OpId, ReplicaId};
use crate::map::{Entry, Map};
use crate::text::{NONE, Text};
use std::collections::{BTreeMap, VecDeque};

/// Largest Lamport time accepted from a remote change (document encodings allow up to
/// `u64::MAX / 2`; local edits add at most 2^32).
pub const MAX_REMOTE_LAMPORT: u64 = u64::MAX / 4;

/// Limits of one replica.
#[derive(Clone, Debug)]
pub struct Config {
    /// Changes that may wait in the causal buffer for missing deps.
    pub max_pending_changes: usize,
    /// Ops (seqs) that may wait in the causal buffer.
    pub max_pending_ops: u64,
    /// Undo steps kept; older ones are forgotten.
    pub max_undo_steps: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { max_pending_changes: 10_000, max_pending_ops: 4_000_000, max_undo_steps: 10_000 }
    }
}

/// Where an [`Anchor`] sticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bias {
    /// To the character before the position (text typed at the anchor goes after it).
    Before,
    /// To the character after the position.
    After,
}

/// A stable position in the text: it follows its character through remote edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Anchor {
    /// The character anchored to; `None` is the document start (`Before`) or end (`After`).
    pub id: Option<OpId>,
    /// Which side of the position the anchor sticks to.
    pub bias: Bias,
}

/// A replica's undo/redo history, with ops named by id (see [`Doc::undo_state`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UndoState {
    /// Undo steps, oldest first: first op and op count.
    pub undo: Vec<(OpId, u64)>,
    /// Redo steps, oldest first.
    pub redo: Vec<(OpId, u64)>,
    /// Items undo/redo re-created: `(first item, count, first re-created item)`.
    pub redone: Vec<(OpId, u64, OpId)>,
    /// For own map writes: the value each replaced.
    pub map_prev: Vec<(OpId, Option<Value>)>,
}

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

/// A run of consecutive `Lv`s by one author with consecutive seqs and Lamport times,
/// where each op's parent is the previous one (after the first).
#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub lv: u32,
    pub len: u32,
    pub agent: u32,
    pub seq: u64,
    pub lamport: u64,
    /// Parents of the first op (a causal frontier, as `Lv`s).
    pub parents: Vec<u32>,
}

impl Run {
    fn end(&self) -> u32 {
        self.lv + self.len
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Agent {
    pub id: ReplicaId,
    /// `(seq, lv, len)`, sorted by seq.
    pub runs: Vec<(u64, u32, u32)>,
}

/// A run of inserted characters as typed: ops `lv .. lv + len`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct InsRun {
    pub lv: u32,
    pub len: u32,
    pub origin_left: u32,
    pub origin_right: u32,
}

/// A run of deletes: ops `lv .. lv + len` delete items `target .. target + len`,
/// right to left when `reversed`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct DelRun {
    pub lv: u32,
    pub len: u32,
    pub target: u32,
    pub reversed: bool,
}

impl DelRun {
    /// The targets of ops `lv + from .. lv + from + n`, as the lowest target.
    fn targets(&self, from: u32, n: u32) -> u32 {
        if self.reversed { self.target + self.len - from - n } else { self.target + from }
    }
}

/// A map write in the op log.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MapOp {
    pub lv: u32,
    pub key: String,
    pub value: Option<Value>,
}

/// One undo step: a transaction's ops `lv .. end` (a transaction's ops are always
/// consecutive).
#[derive(Clone, Copy, Debug)]
struct UndoStep {
    lv: u32,
    end: u32,
}

/// The open local transaction: its first op.
#[derive(Clone, Copy, Debug)]
struct Txn {
    lv: u32,
}

/// One replica of a document: text and map CRDTs over a causal op log.
///
/// Local edits (`insert`, `delete`, `map_set`, ...) apply at once and are grouped into a
/// transaction; [`Doc::commit`] closes it and returns the [`Change`] to ship. Remote
/// changes go through [`Doc::apply`], which is idempotent and buffers changes whose
/// deps have not arrived.
#[derive(Debug)]
pub struct Doc {
    replica: ReplicaId,
    config: Config,
    pub(crate) agents: Vec<Agent>,
    /// `(replica, agent index)`, sorted by replica.
    agent_idx: Vec<(ReplicaId, u32)>,
    pub(crate) runs: Vec<Run>,
    pub(crate) ins: Vec<InsRun>,
    pub(crate) dels: Vec<DelRun>,
    pub(crate) map_ops: Vec<MapOp>,
    pub(crate) text: Text,
    map: Map,
    version: VectorClock,
    frontier: Vec<u32>,
    max_lamport: u64,
    pending: Vec<Change>,
    pending_ops: u64,
    txn: Option<Txn>,
    undo: VecDeque<UndoStep>,
    redo: Vec<UndoStep>,
    /// Items deleted and brought back by undo/redo: `start -> (len, new start)`.
    redone: BTreeMap<u32, (u32, u32)>,
    /// The agent index of `replica`, once it has written.
    local_agent: Option<u32>,
    /// A reused buffer for a copy of the frontier.
    scratch: Vec<u32>,
    /// For each local map write (by `Lv`): the value it replaced, for undo.
    map_prev: BTreeMap<u32, Option<Value>>,
}

impl Doc {
    /// An empty document edited by `replica`.
    pub fn new(replica: ReplicaId) -> Doc {
        Doc::with_config(replica, Config::default())
    }

    /// An empty document with explicit limits.
    pub fn with_config(replica: ReplicaId, config: Config) -> Doc {
        Doc {
            replica,
            config,
            agents: Vec::new(),
            agent_idx: Vec::new(),
            runs: Vec::new(),
            ins: Vec::new(),
            dels: Vec::new(),
            map_ops: Vec::new(),
            text: Text::default(),
            map: Map::default(),
            version: VectorClock::new(),
            frontier: Vec::new(),
            max_lamport: 0,
            pending: Vec::new(),
            pending_ops: 0,
            txn: None,
            undo: VecDeque::new(),
            redo: Vec::new(),
            redone: BTreeMap::new(),
            local_agent: None,
            scratch: Vec::new(),
            map_prev: BTreeMap::new(),
        }
    }

    /// Changes the limits (e.g. unbounded while loading trusted history).
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// The replica that local edits are made as.
    pub fn replica(&self) -> ReplicaId {
        self.replica
    }

    /// Changes the local writer, e.g. after loading a document written by another
    /// session. Commits nothing; an open transaction must be committed first.
    pub fn set_replica(&mut self, replica: ReplicaId) -> Result<(), Error> {
        if self.txn.is_some() {
            return Err(Error::TransactionOpen);
        }
        self.replica = replica;
        self.local_agent = None;
        self.undo.clear();
        self.redo.clear();
        self.redone.clear();
        self.map_prev.clear();
        Ok(())
    }

    // ----- reading -------------------------------------------------------------------

    /// The current text.
    pub fn text(&self) -> String {
        self.text.to_string_lossless()
    }

    /// The text length in chars.
    pub fn len_chars(&self) -> usize {
        self.text.len()
    }

    /// Characters `start .. end` (clamped to the text).
    pub fn slice(&self, start: usize, end: usize) -> String {
        let end = end.min(self.len_chars());
        self.text.slice(start.min(end) as u32, end as u32)
    }

    /// The winning value of a map key.
    pub fn map_get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// Every concurrent value of a map key, the winner first (more than one means a
    /// conflict the user may want to resolve).
    pub fn map_values(&self, key: &str) -> Vec<&Value> {
        self.map.values(key)
    }

    /// Keys with a (non-deleted) value.
    pub fn map_keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.map
            .keys
            .iter()
            .filter(|(_, es)| es.first().is_some_and(|e| e.value.is_some()))
            .map(|(k, _)| k.as_str())
    }

    /// The version: every op this replica holds.
    pub fn version(&self) -> &VectorClock {
        &self.version
    }

    /// Number of ops held.
    pub fn n_ops(&self) -> usize {
        self.next_lv() as usize
    }

    /// Approximate heap bytes held by the document.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.text.heap_bytes()
            + self.runs.capacity() * size_of::<Run>()
            + self.runs.iter().map(|r| r.parents.capacity() * 4).sum::<usize>()
            + self.agents.iter().map(|a| a.runs.capacity() * 16).sum::<usize>()
            + self.ins.capacity() * size_of::<InsRun>()
            + self.dels.capacity() * size_of::<DelRun>()
            + self.map_ops.capacity() * size_of::<MapOp>()
    }

    // ----- ids and local versions ----------------------------------------------------

    pub(crate) fn next_lv(&self) -> u32 {
        self.runs.last().map_or(0, Run::end)
    }

    pub(crate) fn run_idx(&self, lv: u32) -> usize {
        self.runs.partition_point(|r| r.end() <= lv)
    }

    /// The id of op `lv`.
    pub(crate) fn id_of(&self, lv: u32) -> OpId {
        id_of(&self.runs, &self.agents, lv)
    }

    /// The `Lv` of op `id`, if held.
    fn agent_index(&self, id: ReplicaId) -> Option<u32> {
        let i = self.agent_idx.binary_search_by_key(&id, |e| e.0).ok()?;
        Some(self.agent_idx[i].1)
    }

    pub(crate) fn lv_of(&self, id: OpId) -> Option<u32> {
        let a = self.agent_index(id.replica)?;
        let runs = &self.agents[a as usize].runs;
        let i = runs.partition_point(|r| r.0 + r.2 as u64 <= id.seq);
        let &(seq, lv, _) = runs.get(i)?;
        (id.seq >= seq).then(|| lv + (id.seq - seq) as u32)
    }

    /// Splits ops `lv .. lv + len` into pieces of consecutive seqs by one author:
    /// `f(lv, n, agent, seq)`.
    fn for_each_id_run(&self, mut lv: u32, mut len: u32, mut f: impl FnMut(u32, u32, u32, u64)) {
        let mut i = self.run_idx(lv);
        while len > 0 {
            let r = &self.runs[i];
            let off = lv - r.lv;
            let n = (r.len - off).min(len);
            f(lv, n, r.agent, r.seq + off as u64);
            lv += n;
            len -= n;
            i += 1;
        }
    }

    pub(crate) fn agent(&mut self, id: ReplicaId) -> u32 {
        match self.agent_idx.binary_search_by_key(&id, |e| e.0) {
            Ok(i) => self.agent_idx[i].1,
            Err(i) => {
                let a = self.agents.len() as u32;
                self.agents.push(Agent { id, runs: Vec::new() });
                self.agent_idx.insert(i, (id, a));
                a
            }
        }
    }

    /// Records ops `next_lv .. + n` by `agent` from `seq`, with `parents` before the first.
    pub(crate) fn push_lvs(&mut self, agent: u32, seq: u64, n: u32, lamport: u64, parents: &[u32]) -> u32 {
        let lv = self.next_lv();
        let runs = &mut self.agents[agent as usize].runs;
        match runs.last_mut() {
            Some(r) if r.0 + r.2 as u64 == seq && r.1 + r.2 == lv => r.2 += n,
            _ => runs.push((seq, lv, n)),
        }
        let extend = match self.runs.last() {
            Some(r) => {
                r.agent == agent
                    && r.seq + r.len as u64 == seq
                    && r.lamport + r.len as u64 == lamport
                    && parents.len() == 1
                    && parents[0] + 1 == lv
            }
            None => false,
        };
        if extend {
            self.runs.last_mut().expect("checked").len += n;
        } else {
            self.runs.push(Run { lv, len: n, agent, seq, lamport, parents: parents.to_vec() });
        }
        // The new op supersedes every frontier entry in its past.
        if !(self.frontier.len() == parents.len() && self.frontier.iter().all(|f| parents.contains(f))) {
            let old = std::mem::take(&mut self.frontier);
            let keep: Vec<u32> = old.into_iter().filter(|&f| !self.in_history(f, parents)).collect();
            self.frontier = keep;
        } else {
            self.frontier.clear();
        }
        self.frontier.push(lv + n - 1);
        let id = self.agents[agent as usize].id;
        self.version.observe(id, seq + n as u64 - 1);
        self.max_lamport = self.max_lamport.max(lamport + n as u64 - 1);
        lv
    }

    /// Whether op `target` is `frontier` or in its causal past.
    pub(crate) fn in_history(&self, target: u32, frontier: &[u32]) -> bool {
        let mut stack: Vec<u32> = frontier.to_vec();
        let mut seen: Vec<usize> = Vec::new();
        while let Some(f) = stack.pop() {
            if f == target {
                return true;
            }
            if f < target {
                continue;
            }
            let i = self.run_idx(f);
            if seen.contains(&i) {
                continue;
            }
            seen.push(i);
            let r = &self.runs[i];
            if target >= r.lv {
                return true;
            }
            stack.extend_from_slice(&r.parents);
        }
        false
    }

    fn lvs_to_ids(&self, lvs: &[u32]) -> Vec<OpId> {
        let mut ids: Vec<OpId> = lvs.iter().map(|&lv| self.id_of(lv)).collect();
        ids.sort();
        ids
    }

    // ----- local edits ---------------------------------------------------------------

    /// Allocates `n` local ops and returns the first `Lv`.
    fn local_lvs(&mut self, n: u32) -> Result<u32, Error> {
        let lv = self.next_lv();
        if lv as u64 + n as u64 >= NONE as u64 {
            return Err(Error::TooLarge(NONE as u64));
        }
        if self.txn.is_none() {
            self.txn = Some(Txn { lv });
        }
        let agent = match self.local_agent {
            Some(a) => a,
            None => {
                let a = self.agent(self.replica);
                self.local_agent = Some(a);
                a
            }
        };
        let seq = self.version.get(self.replica) + 1;
        // The parents are the whole frontier; a local op supersedes all of it. The copy
        // goes through a reused buffer so typing does not allocate.
        let mut parents = std::mem::take(&mut self.scratch);
        parents.clear();
        parents.extend_from_slice(&self.frontier);
        let lv = self.push_lvs(agent, seq, n, self.max_lamport + 1, &parents);
        self.scratch = parents;
        Ok(lv)
    }

    /// Inserts `text` at char position `pos`.
    pub fn insert(&mut self, pos: usize, text: &str) -> Result<(), Error> {
        let len = self.len_chars();
        if pos > len {
            return Err(Error::OutOfRange { pos, len: 0, text_len: len });
        }
        let n = text.chars().count() as u32;
        if n == 0 {
            return Ok(());
        }
        let lv = self.local_lvs(n)?;
        let content = self.text.push_content(text);
        let (ol, or) = self.text.insert_local(pos as u32, lv, n, content);
        self.log_insert(lv, n, ol, or);
        Ok(())
    }

    pub(crate) fn integrate_insert(&mut self, lv: u32, n: u32, ol: u32, or: u32, text: &str) {
        let content = self.text.push_content(text);
        let (runs, agents) = (&self.runs, &self.agents);
        self.text.integrate(lv, n, ol, or, content, |lv| id_of(runs, agents, lv));
        self.log_insert(lv, n, ol, or);
    }

    fn log_insert(&mut self, lv: u32, n: u32, ol: u32, or: u32) {
        let new = InsRun { lv, len: n, origin_left: ol, origin_right: or };
        match self.ins.last_mut() {
            Some(r) if r.lv + r.len == lv && ol == lv - 1 && r.origin_right == or => r.len += n,
            _ => self.ins.push(new),
        }
    }

    /// Deletes `len` chars at char position `pos`.
    pub fn delete(&mut self, pos: usize, len: usize) -> Result<(), Error> {
        let text_len = self.len_chars();
        if pos.checked_add(len).is_none_or(|e| e > text_len) {
            return Err(Error::OutOfRange { pos, len, text_len });
        }
        // Deleting shifts what follows to `pos`, so take one visible run at a time.
        let mut left = len as u32;
        while left > 0 {
            let (target, n) = self.text.visible_run_at(pos as u32, left);
            self.delete_items(target, n)?;
            left -= n;
        }
        Ok(())
    }

    /// Deletes visible items `target .. target + n` (all visible) as local ops.
    fn delete_items(&mut self, target: u32, n: u32) -> Result<(), Error> {
        let lv = self.local_lvs(n)?;
        self.text.delete(target, n);
        self.push_del(DelRun { lv, len: n, target, reversed: false });
        Ok(())
    }

    pub(crate) fn push_del(&mut self, d: DelRun) {
        if let Some(r) = self.dels.last_mut()
            && r.lv + r.len == d.lv
        {
            let fwd = (!r.reversed || r.len == 1) && !d.reversed && r.target + r.len == d.target;
            let back = (r.reversed || r.len == 1) && d.len == 1 && d.target + 1 == r.target;
            if fwd {
                r.reversed = false;
                r.len += d.len;
                return;
            }
            if back {
                r.reversed = true;
                r.len += 1;
                r.target = d.target;
                return;
            }
        }
        self.dels.push(d);
    }

    /// Sets a map key.
    pub fn map_set(&mut self, key: &str, value: Value) -> Result<(), Error> {
        self.map_write(key, Some(value))
    }

    /// Deletes a map key.
    pub fn map_delete(&mut self, key: &str) -> Result<(), Error> {
        self.map_write(key, None)
    }

    fn map_write(&mut self, key: &str, value: Option<Value>) -> Result<(), Error> {
        let prev = self.map.get(key).cloned();
        let lv = self.local_lvs(1)?;
        self.map_prev.insert(lv, prev);
        let entry = Entry { lv, lamport: self.max_lamport, replica: self.replica, value: value.clone() };
        self.map.apply(key, entry, |_| true);
        self.map_ops.push(MapOp { lv, key: key.to_owned(), value });
        Ok(())
    }

    /// Whether a local transaction has uncommitted ops.
    pub fn has_uncommitted(&self) -> bool {
        self.txn.is_some()
    }

    /// Closes the local transaction and returns its change, or `None` if it is empty.
    /// The transaction becomes one undo step; the redo stack is cleared.
    pub fn commit(&mut self) -> Option<Change> {
        let txn = self.txn.take()?;
        let end = self.next_lv();
        self.redo.clear();
        self.push_undo(UndoStep { lv: txn.lv, end });
        Some(self.change_of(txn.lv, end))
    }

    /// Like [`Doc::commit`], without building the change (the caller can fetch it later
    /// with [`Doc::changes_since`]). Returns whether anything was committed.
    pub fn commit_quiet(&mut self) -> bool {
        let Some(txn) = self.txn.take() else { return false };
        let end = self.next_lv();
        self.redo.clear();
        self.push_undo(UndoStep { lv: txn.lv, end });
        true
    }

    fn push_undo(&mut self, step: UndoStep) {
        if self.config.max_undo_steps == 0 {
            return;
        }
        if self.undo.len() == self.config.max_undo_steps {
            self.undo.pop_front();
        }
        self.undo.push_back(step);
    }

    /// The undo/redo history in a form that survives reloading (ops named by id, not
    /// by local index), for storage to keep across restarts.
    pub fn undo_state(&self) -> UndoState {
        let step = |s: &UndoStep| (self.id_of(s.lv), (s.end - s.lv) as u64);
        // A re-created run's source items may come from several writers: one entry per
        // run of one writer's consecutive ids (the re-created items are all local).
        let mut follow_ops = Vec::new();
        for (&k, &(len, new)) in &self.redone {
            self.for_each_id_run(k, len, |lv, n, _, _| {
                follow_ops.push((self.id_of(lv), n as u64, self.id_of(new + (lv - k))));
            });
        }
        let map_prev = self.map_prev.iter().map(|(&lv, v)| (self.id_of(lv), v.clone())).collect();
        UndoState {
            undo: self.undo.iter().map(step).collect(),
            redo: self.redo.iter().map(step).collect(),
            redone: follow_ops,
            map_prev,
        }
    }

    /// Restores an undo/redo history saved by [`Doc::undo_state`]. Steps whose ops this
    /// replica does not hold as one consecutive run are dropped.
    pub fn restore_undo_state(&mut self, state: &UndoState) {
        let lv_run = |id: OpId, n: u64| -> Option<u32> {
            let lv = self.lv_of(id)?;
            let n = u32::try_from(n).ok()?;
            let last = self.lv_of(OpId::new(id.replica, id.seq.checked_add(n.checked_sub(1)? as u64)?))?;
            (last.checked_sub(lv)? == n - 1).then_some(lv)
        };
        let step = |&(id, n): &(OpId, u64)| lv_run(id, n).map(|lv| UndoStep { lv, end: lv + n as u32 });
        let undo = state.undo.iter().filter_map(step).collect();
        let redo = state.redo.iter().filter_map(step).collect();
        let redone = state
            .redone
            .iter()
            .filter_map(|&(from, n, to)| Some((lv_run(from, n)?, (n as u32, lv_run(to, n)?))))
            .collect();
        let map_prev =
            state.map_prev.iter().filter_map(|(id, v)| Some((self.lv_of(*id)?, v.clone()))).collect();
        (self.undo, self.redo, self.redone, self.map_prev) = (undo, redo, redone, map_prev);
        while self.undo.len() > self.config.max_undo_steps {
            self.undo.pop_front();
        }
    }

    /// Whether there is an own edit to undo / redo.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Whether there is an undone edit to redo.
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Undoes this replica's latest own transaction that still has an effect, as a new
    /// change. Remote edits are never undone.
    pub fn undo(&mut self) -> Result<Option<Change>, Error> {
        if self.txn.is_some() {
            return Err(Error::TransactionOpen);
        }
        while let Some(step) = self.undo.pop_back() {
            if let Some((change, inv)) = self.invert(step)? {
                self.redo.push(inv);
                return Ok(Some(change));
            }
        }
        Ok(None)
    }

    /// Redoes the latest undone transaction, as a new change.
    pub fn redo(&mut self) -> Result<Option<Change>, Error> {
        if self.txn.is_some() {
            return Err(Error::TransactionOpen);
        }
        while let Some(step) = self.redo.pop() {
            if let Some((change, inv)) = self.invert(step)? {
                self.push_undo(inv);
                return Ok(Some(change));
            }
        }
        Ok(None)
    }

    /// Applies the inverse of `step` as a new local transaction.
    fn invert(&mut self, step: UndoStep) -> Result<Option<(Change, UndoStep)>, Error> {
        // Items this step deleted come back, as new items at the tombstones' place.
        let dels: Vec<DelRun> = self.dels_in(step.lv, step.end).collect();
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
        let ins: Vec<InsRun> = self.ins_in(step.lv, step.end).collect();
        for r in ins {
            for (cur, n, visible) in self.incarnations(r.lv, r.len) {
                if visible {
                    self.delete_items(cur, n)?;
                }
            }
        }
        // Map writes get back the value they replaced.
        let i = self.map_ops.partition_point(|m| m.lv < step.lv);
        let writes: Vec<(String, Option<Value>)> = self.map_ops[i..]
            .iter()
            .take_while(|m| m.lv < step.end)
            .filter_map(|m| Some((m.key.clone(), self.map_prev.get(&m.lv)?.clone())))
            .collect();
        for (key, prev) in writes.into_iter().rev() {
            self.map_write(&key, prev)?;
        }
        let Some(txn) = self.txn.take() else { return Ok(None) };
        let end = self.next_lv();
        Ok(Some((self.change_of(txn.lv, end), UndoStep { lv: txn.lv, end })))
    }

    /// The latest re-creation (by undo/redo) of item `lv`, or `lv` itself.
    fn follow(&self, mut lv: u32) -> u32 {
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
    fn incarnations(&self, lv: u32, len: u32) -> Vec<(u32, u32, bool)> {
        let mut out: Vec<(u32, u32, bool)> = Vec::new();
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

    // ----- reading the op log --------------------------------------------------------

    /// Insert runs clipped to ops `a .. b`.
    pub(crate) fn ins_in(&self, a: u32, b: u32) -> impl Iterator<Item = InsRun> + '_ {
        let i = self.ins.partition_point(|r| r.lv + r.len <= a);
        self.ins[i..].iter().take_while(move |r| r.lv < b).map(move |r| {
            let s = r.lv.max(a);
            let e = (r.lv + r.len).min(b);
            InsRun { lv: s, len: e - s, origin_left: if s == r.lv { r.origin_left } else { s - 1 }, ..*r }
        })
    }

    /// Delete runs clipped to ops `a .. b`.
    pub(crate) fn dels_in(&self, a: u32, b: u32) -> impl Iterator<Item = DelRun> + '_ {
        let i = self.dels.partition_point(|r| r.lv + r.len <= a);
        self.dels[i..].iter().take_while(move |r| r.lv < b).map(move |r| {
            let s = r.lv.max(a);
            let e = (r.lv + r.len).min(b);
            DelRun { lv: s, len: e - s, target: r.targets(s - r.lv, e - s), reversed: r.reversed }
        })
    }

    /// The ops `a .. b` (one author, consecutive seqs) as wire ops.
    fn ops_of(&self, a: u32, b: u32) -> Vec<Op> {
        let mut ops: Vec<(u32, Op)> = Vec::new();
        let id = |lv: u32| (lv != NONE).then(|| self.id_of(lv));
        for r in self.ins_in(a, b) {
            let text = self.text.content_of(r.lv, r.len).to_owned();
            ops.push((
                r.lv,
                Op::Insert { origin_left: id(r.origin_left), origin_right: id(r.origin_right), text },
            ));
        }
        for d in self.dels_in(a, b) {
            // Split the targets where their ids stop being consecutive.
            let mut pieces: Vec<(u32, u64, u32)> = Vec::new();
            self.for_each_id_run(d.target, d.len, |_, n, agent, seq| pieces.push((agent, seq, n)));
            if d.reversed {
                pieces.reverse();
            }
            let mut lv = d.lv;
            for (agent, seq, n) in pieces {
                let start = OpId::new(self.agents[agent as usize].id, seq);
                ops.push((lv, Op::Delete { start, len: n as u64, reversed: d.reversed && n > 1 }));
                lv += n;
            }
        }
        let i = self.map_ops.partition_point(|m| m.lv < a);
        for m in self.map_ops[i..].iter().take_while(|m| m.lv < b) {
            ops.push((m.lv, Op::MapSet { key: m.key.clone(), value: m.value.clone() }));
        }
        ops.sort_by_key(|o| o.0);
        ops.into_iter().map(|o| o.1).collect()
    }

    /// The change made of ops `a .. b` (one author, consecutive seqs, one run or a
    /// suffix of runs that chain).
    fn change_of(&self, a: u32, b: u32) -> Change {
        let r = &self.runs[self.run_idx(a)];
        let off = a - r.lv;
        let deps = if off == 0 { self.lvs_to_ids(&r.parents) } else { vec![self.id_of(a - 1)] };
        Change {
            author: self.agents[r.agent as usize].id,
            start_seq: r.seq + off as u64,
            deps,
            lamport: r.lamport + off as u64,
            ops: self.ops_of(a, b),
        }
    }

    /// Every change the holder of `clock` lacks, in causal order. Adjacent runs are
    /// returned as one change each.
    pub fn changes_since(&self, clock: &VectorClock) -> Vec<Change> {
        let mut res = Vec::new();
        for r in &self.runs {
            let have = clock.get(self.agents[r.agent as usize].id);
            let end_seq = r.seq + r.len as u64;
            if have + 1 >= end_seq {
                continue;
            }
            let skip = have.saturating_sub(r.seq - 1).min(r.len as u64) as u32;
            res.push(self.change_of(r.lv + skip, r.end()));
        }
        res
    }

    /// Every change, in causal order.
    pub fn all_changes(&self) -> Vec<Change> {
        self.changes_since(&VectorClock::new())
    }

    // ----- remote changes ------------------------------------------------------------

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
                let known = self.version.get(c.author);
                let ready = c.end_seq() - 1 <= known
                    || (c.start_seq <= known + 1 && c.deps.iter().all(|&d| self.version.contains(d)));
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
        let mut m = VectorClock::new();
        for c in &self.pending {
            if c.start_seq > self.version.get(c.author) + 1 {
                m.observe(c.author, c.start_seq - 1);
            }
            for d in &c.deps {
                if !self.version.contains(*d) {
                    m.observe(d.replica, d.seq);
                }
            }
        }
        m
    }

    fn is_ready(&self, c: &Change) -> bool {
        c.start_seq == self.version.get(c.author) + 1 && c.deps.iter().all(|&d| self.version.contains(d))
    }

    /// Checks a change's shape and drops the prefix this replica already holds.
    /// `None` when all of it is known.
    fn trim_known(&self, mut c: Change) -> Result<Option<Change>, Error> {
        let bad = |reason: &str| Error::InvalidChange { change: c.id(), reason: reason.to_owned() };
        if c.start_seq == 0 {
            return Err(bad("seq 0"));
        }
        if c.ops.is_empty() {
            return Err(bad("no ops"));
        }
        for op in &c.ops {
            match op {
                Op::Insert { text, .. } if text.is_empty() => return Err(bad("empty insert")),
                Op::Delete { len: 0, .. } => return Err(bad("empty delete")),
                Op::Delete { start, len, .. } if start.seq == 0 || start.seq.checked_add(*len).is_none() => {
                    return Err(bad("delete range overflows"));
                }
                _ => {}
            }
        }
        let n = c.n_seqs();
        if c.start_seq.checked_add(n).is_none() {
            return Err(bad("seq overflows"));
        }
        // Lamport times start at 1; a bound far below u64::MAX keeps every later local
        // edit and every encoding of this document in range.
        if c.lamport == 0 || c.lamport.checked_add(n).is_none_or(|e| e > MAX_REMOTE_LAMPORT) {
            return Err(bad("lamport out of range"));
        }
        if c.deps.iter().any(|d| d.seq == 0 || (d.replica == c.author && d.seq >= c.start_seq)) {
            return Err(bad("a dep is not before the change"));
        }
        let known = self.version.get(c.author);
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
        let bad = |reason: String| Error::InvalidChange { change: c.id(), reason };
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
                self.lv_of(id).is_some_and(|lv| self.text.is_item(lv))
            }
        };
        for op in &c.ops {
            let k = op.n_seqs();
            match op {
                Op::Insert { origin_left, origin_right, .. } => {
                    for o in [origin_left, origin_right].into_iter().flatten() {
                        if !is_item(*o, &own_ins, seq) {
                            return Err(bad(format!("origin {o} is not a known character")));
                        }
                    }
                    own_ins.push((seq, seq + k));
                }
                Op::Delete { start, len, .. } => {
                    // Bound the range by what can exist before looping over it.
                    let max =
                        if start.replica == c.author { seq - 1 } else { self.version.get(start.replica) };
                    if start.seq + len - 1 > max {
                        return Err(bad(format!("delete of {len} ops from {start} reaches past known ops")));
                    }
                    for s in start.seq..start.seq + len {
                        if !is_item(OpId::new(start.replica, s), &own_ins, seq) {
                            return Err(bad(format!(
                                "delete target {s}@{} is not a known character",
                                start.replica
                            )));
                        }
                    }
                }
                Op::MapSet { .. } => {}
            }
            seq += k;
        }
        if self.next_lv() as u64 + n >= NONE as u64 {
            return Err(Error::TooLarge(NONE as u64));
        }
        let parents: Vec<u32> = c.deps.iter().map(|&d| self.lv_of(d).expect("ready deps are held")).collect();
        let parents = self.frontier_of(parents);
        let agent = self.agent(c.author);
        let lv0 = self.push_lvs(agent, c.start_seq, n as u32, c.lamport, &parents);
        let mut lv = lv0;
        for op in &c.ops {
            let k = op.n_seqs() as u32;
            match op {
                Op::Insert { origin_left, origin_right, text } => {
                    let ol = origin_left.map_or(NONE, |o| self.lv_of(o).expect("validated"));
                    let or = origin_right.map_or(NONE, |o| self.lv_of(o).expect("validated"));
                    self.integrate_insert(lv, k, ol, or, text);
                }
                Op::Delete { start, len, reversed } => {
                    let mut pieces: Vec<(u32, u32)> = Vec::new();
                    let mut s = start.seq;
                    while s < start.seq + len {
                        let t = self.lv_of(OpId::new(start.replica, s)).expect("validated");
                        let run_left = self.agent_run_rest(start.replica, s);
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
                        self.push_del(DelRun { lv: op_lv, len: m, target: t, reversed: *reversed && m > 1 });
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

    /// Applies a map write made on top of `frontier`.
    pub(crate) fn apply_map_op(
        &mut self,
        lv: u32,
        lamport: u64,
        replica: ReplicaId,
        key: &str,
        value: Option<Value>,
        frontier: &[u32],
    ) {
        let mut sup = Vec::new();
        if let Some(es) = self.map.keys.get(key) {
            sup = es.iter().map(|e| e.lv).filter(|&e| self.in_history(e, frontier)).collect();
        }
        let entry = Entry { lv, lamport, replica, value: value.clone() };
        self.map.apply(key, entry, |e| sup.contains(&e));
        self.map_ops.push(MapOp { lv, key: key.to_owned(), value });
    }

    /// How many seqs from `seq` on stay in one run of `replica`'s `Lv`s.
    fn agent_run_rest(&self, replica: ReplicaId, seq: u64) -> u64 {
        let a = self.agent_index(replica).expect("validated replica");
        let runs = &self.agents[a as usize].runs;
        let i = runs.partition_point(|r| r.0 + r.2 as u64 <= seq);
        let (s, _, n) = runs[i];
        s + n as u64 - seq
    }

    /// Reduces a set of ops to its frontier (drops those in another's past).
    fn frontier_of(&self, mut lvs: Vec<u32>) -> Vec<u32> {
        lvs.sort_unstable();
        lvs.dedup();
        if lvs.len() <= 1 {
            return lvs;
        }
        let all = lvs.clone();
        lvs.retain(|&a| !all.iter().any(|&b| b != a && b > a && self.in_history(a, &[b])));
        lvs
    }

    // ----- anchors and time travel ---------------------------------------------------

    /// An anchor for char position `pos` (clamped to the text).
    pub fn anchor(&self, pos: usize, bias: Bias) -> Anchor {
        let len = self.len_chars();
        let pos = pos.min(len);
        let lv = match bias {
            Bias::After if pos < len => Some(self.text.lv_at(pos as u32)),
            Bias::Before if pos > 0 => Some(self.text.lv_at(pos as u32 - 1)),
            _ => None,
        };
        Anchor { id: lv.map(|lv| self.id_of(lv)), bias }
    }

    /// The current char position of an anchor; `None` if it names an op this replica
    /// does not hold.
    pub fn resolve(&self, anchor: &Anchor) -> Option<usize> {
        let Some(id) = anchor.id else {
            return Some(match anchor.bias {
                Bias::Before => 0,
                Bias::After => self.len_chars(),
            });
        };
        let lv = self.lv_of(id).filter(|&lv| self.text.is_item(lv))?;
        let (pos, visible) = self.text.vis_pos_of_lv(lv);
        Some(match anchor.bias {
            Bias::Before if visible => pos as usize + 1,
            _ => pos as usize,
        })
    }

    /// The text as it was at `clock`, an earlier version of this replica.
    pub fn text_at(&self, clock: &VectorClock) -> Result<String, Error> {
        if !clock.le(&self.version) {
            return Err(Error::NotInHistory(format!("{clock:?}")));
        }
        let n = self.next_lv() as usize;
        let mut present = vec![0u64; n.div_ceil(64)];
        let set = |bits: &mut Vec<u64>, lv: u32, on: bool| {
            let (w, b) = (lv as usize / 64, lv % 64);
            if on { bits[w] |= 1 << b } else { bits[w] &= !(1 << b) }
        };
        // Mark every op the clock holds, then clear the targets of its deletes.
        for r in &self.runs {
            let have = clock.get(self.agents[r.agent as usize].id);
            let k = have.saturating_sub(r.seq - 1).min(r.len as u64) as u32;
            for lv in r.lv..r.lv + k {
                set(&mut present, lv, true);
            }
        }
        let held = |bits: &Vec<u64>, lv: u32| bits[lv as usize / 64] >> (lv % 64) & 1 == 1;
        let mut alive = present.clone();
        for d in &self.dels {
            for k in 0..d.len {
                if held(&present, d.lv + k) {
                    set(&mut alive, d.targets(k, 1), false);
                }
            }
        }
        let mut out = String::new();
        for s in self.text.spans() {
            let mut k = 0;
            while k < s.len {
                let start = k;
                let vis = held(&alive, s.lv + k) && held(&present, s.lv + k);
                while k < s.len && (held(&alive, s.lv + k) && held(&present, s.lv + k)) == vis {
                    k += 1;
                }
                if vis {
                    self.text.push_span_str(s, start, k - start, &mut out);
                }
            }
        }
        Ok(out)
    }

    /// Checks internal invariants; panics when one is broken. For tests.
    pub fn check(&self) {
        self.text.check();
        assert_eq!(self.text.len(), self.text().chars().count());
        let mut lv = 0;
        for r in &self.runs {
            assert_eq!(r.lv, lv);
            lv += r.len;
        }
        let total: u64 = self.version.iter().map(|e| e.1).sum();
        assert_eq!(total, self.next_lv() as u64, "version covers every op");
    }
}

fn id_of(runs: &[Run], agents: &[Agent], lv: u32) -> OpId {
    let i = runs.partition_point(|r| r.end() <= lv);
    let r = &runs[i];
    OpId::new(agents[r.agent as usize].id, r.seq + (lv - r.lv) as u64)
}

#[cfg(test)]
mod tests;
