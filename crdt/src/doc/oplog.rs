//! The op log: every op this replica holds, in `Lv` order, and the maps between `Lv`s
//! and [`OpId`]s.
//!
//! Ops are stored as runs, never one by one. [`Run`]s hold who wrote each op, its seq,
//! its Lamport time and its causal parents; per author, [`Agent::runs`] maps seqs back to
//! `Lv`s. The ops themselves are in three logs by kind ([`InsRun`], [`DelRun`],
//! [`MapOp`]), each sorted by `Lv`. The log also keeps the version (every op held, as a
//! [`VectorClock`]) and the frontier (the ops no other op has as a parent).
//!
//! Reading the log back as [`Change`]s (`changes_since`) is here too; it needs the
//! inserted text, which the text CRDT holds.

use super::Doc;
use crate::change::{Change, Op, Value};
use crate::clock::VectorClock;
use crate::id::{Lv, OpId, ReplicaId};
use crate::text::NONE;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// A run of consecutive `Lv`s by one author with consecutive seqs and Lamport times,
/// where each op's parent is the previous one (after the first).
#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub lv: Lv,
    pub len: u32,
    /// The author, as an index into [`OpLog::agents`].
    pub agent: u32,
    pub seq: u64,
    pub lamport: u64,
    /// Parents of the first op (a causal frontier, as `Lv`s).
    pub parents: Vec<Lv>,
}

impl Run {
    pub(crate) fn end(&self) -> Lv {
        self.lv + self.len
    }
}

/// One author and where its ops are in the log.
#[derive(Clone, Debug)]
pub(crate) struct Agent {
    pub id: ReplicaId,
    /// `(seq, lv, len)`, sorted by seq.
    pub runs: Vec<(u64, Lv, u32)>,
    /// The wall times of the author's changes (see [`Change::time`]): `(seq, time)`
    /// sorted by seq, each entry dating the seqs up to the next one; seqs before the
    /// first entry have time 0. An entry is added only where the time changes.
    pub times: Vec<(u64, u64)>,
}

impl Agent {
    /// The wall time of the author's op `seq` (0 when unknown).
    pub(crate) fn time_at(&self, seq: u64) -> u64 {
        let i = self.times.partition_point(|t| t.0 <= seq);
        if i == 0 { 0 } else { self.times[i - 1].1 }
    }

    /// Dates the author's ops from `seq` on (all newer than any dated before) `time`.
    pub(crate) fn date_from(&mut self, seq: u64, time: u64) {
        debug_assert!(self.times.last().is_none_or(|t| t.0 < seq), "seqs are dated in order");
        if self.times.last().map_or(0, |t| t.1) != time {
            self.times.push((seq, time));
        }
    }

    /// The first seq after `seq` whose date differs from `seq`'s (`u64::MAX` if none).
    pub(crate) fn next_date_change(&self, seq: u64) -> u64 {
        let i = self.times.partition_point(|t| t.0 <= seq);
        self.times.get(i).map_or(u64::MAX, |t| t.0)
    }
}

/// A run of inserted characters as typed: ops `lv .. lv + len`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct InsRun {
    pub lv: Lv,
    pub len: u32,
    pub origin_left: Lv,
    pub origin_right: Lv,
}

/// A run of deletes: ops `lv .. lv + len` delete items `target .. target + len`,
/// right to left when `reversed`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct DelRun {
    pub lv: Lv,
    pub len: u32,
    pub target: Lv,
    pub reversed: bool,
}

impl DelRun {
    /// The targets of ops `lv + from .. lv + from + n`, as the lowest target.
    pub(crate) fn targets(&self, from: u32, n: u32) -> Lv {
        if self.reversed { self.target + self.len - from - n } else { self.target + from }
    }
}

/// A map write in the op log.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MapOp {
    pub lv: Lv,
    pub key: String,
    pub value: Option<Value>,
}

/// Every op a replica holds, with its causal graph.
#[derive(Debug, Default)]
pub(crate) struct OpLog {
    pub agents: Vec<Agent>,
    /// `(replica, agent index)`, sorted by replica.
    agent_idx: Vec<(ReplicaId, u32)>,
    pub runs: Vec<Run>,
    pub ins: Vec<InsRun>,
    pub dels: Vec<DelRun>,
    pub map_ops: Vec<MapOp>,
    /// Every op held.
    pub version: VectorClock,
    /// The ops no held op has in its past.
    pub frontier: Vec<Lv>,
    /// The highest Lamport time held.
    pub max_lamport: u64,
}

impl OpLog {
    /// The `Lv` the next op gets.
    pub(crate) fn next_lv(&self) -> Lv {
        self.runs.last().map_or(0, Run::end)
    }

    /// The index of the run holding op `lv`.
    pub(crate) fn run_idx(&self, lv: Lv) -> usize {
        self.runs.partition_point(|r| r.end() <= lv)
    }

    /// The id of op `lv`.
    pub(crate) fn id_of(&self, lv: Lv) -> OpId {
        let r = &self.runs[self.run_idx(lv)];
        OpId::new(self.agents[r.agent as usize].id, r.seq + (lv - r.lv) as u64)
    }

    /// The agent index of `id`, if it has written any op held.
    pub(super) fn agent_index(&self, id: ReplicaId) -> Option<u32> {
        let i = self.agent_idx.binary_search_by_key(&id, |e| e.0).ok()?;
        Some(self.agent_idx[i].1)
    }

    /// The `Lv` of op `id`, if held.
    pub(crate) fn lv_of(&self, id: OpId) -> Option<Lv> {
        let a = self.agent_index(id.replica)?;
        let runs = &self.agents[a as usize].runs;
        let i = runs.partition_point(|r| r.0 + r.2 as u64 <= id.seq);
        let &(seq, lv, _) = runs.get(i)?;
        (id.seq >= seq).then(|| lv + (id.seq - seq) as u32)
    }

    /// The Lamport time of op `lv`.
    pub(crate) fn lamport_of(&self, lv: Lv) -> u64 {
        let r = &self.runs[self.run_idx(lv)];
        r.lamport + (lv - r.lv) as u64
    }

    /// The parents of op `lv`, sorted.
    pub(super) fn parents_of(&self, lv: Lv) -> Vec<Lv> {
        let r = &self.runs[self.run_idx(lv)];
        if lv > r.lv {
            return vec![lv - 1];
        }
        let mut p = r.parents.clone();
        p.sort_unstable();
        p
    }

    /// Whether every op `a .. b` is an insert (neither a delete nor a map write), from
    /// the logs of op kinds: two binary searches, however long the range.
    pub(super) fn all_inserts(&self, a: Lv, b: Lv) -> bool {
        let i = self.dels.partition_point(|r| r.lv + r.len <= a);
        if self.dels.get(i).is_some_and(|r| r.lv < b) {
            return false;
        }
        let j = self.map_ops.partition_point(|m| m.lv < a);
        self.map_ops.get(j).is_none_or(|m| m.lv >= b)
    }

    /// Whether some op of `lv .. lv + n` is in `version`. One version lookup per run of
    /// the log the ops span.
    pub(super) fn any_in(&self, lv: Lv, n: u32, version: &VectorClock) -> bool {
        let end = lv + n;
        let mut i = self.run_idx(lv);
        let mut x = lv;
        while x < end {
            let Some(r) = self.runs.get(i) else { return false };
            // Seqs rise along a run, so its first op here is the likeliest to be held.
            if r.seq + (x - r.lv) as u64 <= version.get(self.agents[r.agent as usize].id) {
                return true;
            }
            x = r.end().min(end);
            i += 1;
        }
        false
    }

    /// Splits `replica`'s ops `seq .. seq + len` (all held) into runs of consecutive
    /// `Lv`s: `f(seq, lv, n)` for each, in seq order. Stops at the first `Err`.
    pub(super) fn for_each_lv_run<E>(
        &self,
        replica: ReplicaId,
        seq: u64,
        len: u64,
        mut f: impl FnMut(u64, Lv, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(a) = self.agent_index(replica) else { return Ok(()) };
        let runs = &self.agents[a as usize].runs;
        let end = seq + len;
        let mut i = runs.partition_point(|r| r.0 + r.2 as u64 <= seq);
        let mut s = seq;
        while s < end {
            let Some(&(rs, lv, n)) = runs.get(i) else { return Ok(()) };
            let off = s - rs;
            let m = (rs + n as u64).min(end) - s;
            f(s, lv + off as u32, m as u32)?;
            s += m;
            i += 1;
        }
        Ok(())
    }

    /// The version covering `parents` and their whole causal past. The walk visits
    /// either the runs in that past or the runs outside it, whichever side is expected
    /// to be smaller: ops after the highest parent are never in its past.
    pub(super) fn past_version(&self, parents: &[Lv]) -> VectorClock {
        let Some(&top) = parents.iter().max() else { return VectorClock::new() };
        let mut sorted = parents.to_vec();
        sorted.sort_unstable();
        let mut front = self.frontier.clone();
        front.sort_unstable();
        if sorted == front {
            return self.version.clone();
        }
        if (top as u64) * 2 < self.next_lv() as u64 {
            self.walk_past(parents)
        } else {
            self.walk_outside(parents)
        }
    }

    /// `past_version` by walking the past of `parents`, each run once.
    fn walk_past(&self, parents: &[Lv]) -> VectorClock {
        let mut v = VectorClock::new();
        let mut seen: BTreeSet<usize> = BTreeSet::new();
        let mut stack: Vec<Lv> = parents.to_vec();
        while let Some(lv) = stack.pop() {
            let i = self.run_idx(lv);
            let r = &self.runs[i];
            v.observe(self.agents[r.agent as usize].id, r.seq + (lv - r.lv) as u64);
            if seen.insert(i) {
                stack.extend_from_slice(&r.parents);
            }
        }
        v
    }

    /// `past_version` by walking back from the frontier over the ops outside the past
    /// of `parents`, and cutting them from the version.
    fn walk_outside(&self, parents: &[Lv]) -> VectorClock {
        // Entries are `(lv, in_past)`; `outside` counts entries not known to be in the
        // past, and the walk ends when none is left.
        let mut heap: BinaryHeap<(Lv, bool)> = BinaryHeap::new();
        heap.extend(self.frontier.iter().map(|&f| (f, false)));
        heap.extend(parents.iter().map(|&p| (p, true)));
        let mut outside = self.frontier.len();
        // The lowest seq outside the past, per agent.
        let mut cut: BTreeMap<u32, u64> = BTreeMap::new();
        while outside > 0 {
            let Some((lv, mut in_past)) = heap.pop() else { break };
            if !in_past {
                outside -= 1;
            }
            while let Some(&(l, p)) = heap.peek() {
                if l != lv {
                    break;
                }
                heap.pop();
                if !p {
                    outside -= 1;
                }
                in_past |= p;
            }
            let r = &self.runs[self.run_idx(lv)];
            if in_past {
                // The rest of the run is in the past too.
                while let Some(&(l, p)) = heap.peek() {
                    if l < r.lv {
                        break;
                    }
                    heap.pop();
                    if !p {
                        outside -= 1;
                    }
                }
                heap.extend(r.parents.iter().map(|&p| (p, true)));
                continue;
            }
            // Ops down to the next entry in this run (or the run start) are outside.
            let low = match heap.peek() {
                Some(&(l, _)) if l >= r.lv => {
                    heap.push((l, false));
                    outside += 1;
                    l + 1
                }
                _ => {
                    heap.extend(r.parents.iter().map(|&p| (p, false)));
                    outside += r.parents.len();
                    r.lv
                }
            };
            let seq = r.seq + (low - r.lv) as u64;
            let c = cut.entry(r.agent).or_insert(seq);
            *c = (*c).min(seq);
        }
        let mut v = self.version.clone();
        for (agent, seq) in cut {
            v.set(self.agents[agent as usize].id, seq - 1);
        }
        v
    }

    /// Splits ops `lv .. lv + len` into pieces of consecutive seqs by one author:
    /// `f(lv, n, agent, seq)`.
    pub(super) fn for_each_id_run(&self, mut lv: Lv, mut len: u32, mut f: impl FnMut(Lv, u32, u32, u64)) {
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

    /// The agent index of `id`, added if it is new.
    pub(crate) fn agent(&mut self, id: ReplicaId) -> u32 {
        match self.agent_idx.binary_search_by_key(&id, |e| e.0) {
            Ok(i) => self.agent_idx[i].1,
            Err(i) => {
                let a = self.agents.len() as u32;
                self.agents.push(Agent { id, runs: Vec::new(), times: Vec::new() });
                self.agent_idx.insert(i, (id, a));
                a
            }
        }
    }

    /// Records ops `next_lv .. + n` by `agent` from `seq`, with `parents` before the
    /// first; returns the first `Lv`.
    pub(crate) fn push_lvs(&mut self, agent: u32, seq: u64, n: u32, lamport: u64, parents: &[Lv]) -> Lv {
        self.push_lvs_with_past(agent, seq, n, lamport, parents, None)
    }

    /// [`OpLog::push_lvs`] given the version of `parents`' causal past when the caller
    /// has it: then a frontier entry is in that past when the version holds its id, a
    /// lookup instead of a walk (with hundreds of concurrent branches the frontier is
    /// long and the walks are what cost).
    pub(crate) fn push_lvs_with_past(
        &mut self,
        agent: u32,
        seq: u64,
        n: u32,
        lamport: u64,
        parents: &[Lv],
        past: Option<&VectorClock>,
    ) -> Lv {
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
            let keep: Vec<Lv> = match past {
                Some(past) => old
                    .into_iter()
                    .filter(|&f| {
                        let r = &self.runs[self.run_idx(f)];
                        past.get(self.agents[r.agent as usize].id) < r.seq + (f - r.lv) as u64
                    })
                    .collect(),
                None => old.into_iter().filter(|&f| !self.in_history(f, parents)).collect(),
            };
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
    pub(crate) fn in_history(&self, target: Lv, frontier: &[Lv]) -> bool {
        let mut stack: Vec<Lv> = frontier.to_vec();
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

    /// Reduces a set of ops to its frontier (drops those in another's past). One walk
    /// down from the latest op, over the runs above the earliest one, each run once.
    pub(super) fn frontier_of(&self, mut lvs: Vec<Lv>) -> Vec<Lv> {
        lvs.sort_unstable();
        lvs.dedup();
        if lvs.len() <= 1 {
            return lvs;
        }
        let min = lvs[0];
        // Entries are `(lv, in the past of a later op)`.
        let mut heap: BinaryHeap<(Lv, bool)> = lvs.iter().map(|&l| (l, false)).collect();
        let mut seen: BTreeSet<usize> = BTreeSet::new();
        let mut keep = Vec::new();
        while let Some((lv, mut reached)) = heap.pop() {
            while let Some(&(l, r)) = heap.peek() {
                if l != lv {
                    break;
                }
                heap.pop();
                reached |= r;
            }
            if !reached && lvs.binary_search(&lv).is_ok() {
                keep.push(lv);
            }
            // Everything else in this run below `lv` is in its past.
            let i = self.run_idx(lv);
            let r = &self.runs[i];
            while heap.peek().is_some_and(|&(l, _)| l >= r.lv) {
                heap.pop();
            }
            if seen.insert(i) {
                heap.extend(r.parents.iter().filter(|&&p| p >= min).map(|&p| (p, true)));
            }
        }
        keep.sort_unstable();
        keep
    }

    fn lvs_to_ids(&self, lvs: &[Lv]) -> Vec<OpId> {
        let mut ids: Vec<OpId> = lvs.iter().map(|&lv| self.id_of(lv)).collect();
        ids.sort();
        ids
    }

    /// Appends inserts `lv .. lv + n` with the given origins, extending the last run
    /// when they continue it.
    pub(crate) fn push_ins(&mut self, lv: Lv, n: u32, ol: Lv, or: Lv) {
        let new = InsRun { lv, len: n, origin_left: ol, origin_right: or };
        match self.ins.last_mut() {
            Some(r) if r.lv + r.len == lv && ol == lv - 1 && r.origin_right == or => r.len += n,
            _ => {
                if let Some(n) = crate::growth(self.ins.len(), self.ins.capacity(), 1) {
                    self.ins.reserve_exact(n);
                }
                self.ins.push(new);
            }
        }
    }

    /// Appends a delete run, merging it into the last one when it continues it
    /// forwards (Delete key) or backwards (Backspace).
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
        if let Some(n) = crate::growth(self.dels.len(), self.dels.capacity(), 1) {
            self.dels.reserve_exact(n);
        }
        self.dels.push(d);
    }

    /// Appends map write `lv`.
    pub(super) fn push_map(&mut self, lv: Lv, key: &str, value: Option<Value>) {
        self.map_ops.push(MapOp { lv, key: key.to_owned(), value });
    }

    /// Insert runs clipped to ops `a .. b`.
    pub(super) fn ins_in(&self, a: Lv, b: Lv) -> impl Iterator<Item = InsRun> + '_ {
        let i = self.ins.partition_point(|r| r.lv + r.len <= a);
        self.ins[i..].iter().take_while(move |r| r.lv < b).map(move |r| {
            let s = r.lv.max(a);
            let e = (r.lv + r.len).min(b);
            InsRun { lv: s, len: e - s, origin_left: if s == r.lv { r.origin_left } else { s - 1 }, ..*r }
        })
    }

    /// Delete runs clipped to ops `a .. b`.
    pub(super) fn dels_in(&self, a: Lv, b: Lv) -> impl Iterator<Item = DelRun> + '_ {
        let i = self.dels.partition_point(|r| r.lv + r.len <= a);
        self.dels[i..].iter().take_while(move |r| r.lv < b).map(move |r| {
            let s = r.lv.max(a);
            let e = (r.lv + r.len).min(b);
            DelRun { lv: s, len: e - s, target: r.targets(s - r.lv, e - s), reversed: r.reversed }
        })
    }

    /// Map writes among ops `a .. b`.
    pub(super) fn map_ops_in(&self, a: Lv, b: Lv) -> impl Iterator<Item = &MapOp> + '_ {
        let i = self.map_ops.partition_point(|m| m.lv < a);
        self.map_ops[i..].iter().take_while(move |m| m.lv < b)
    }
}

impl Doc {
    /// The ops `a .. b` (one author, consecutive seqs) as wire ops.
    pub(super) fn ops_of(&self, a: Lv, b: Lv) -> Vec<Op> {
        let log = &self.log;
        let mut ops: Vec<(Lv, Op)> = Vec::new();
        let id = |lv: Lv| (lv != NONE).then(|| log.id_of(lv));
        for r in log.ins_in(a, b) {
            let text = self.text.content_of(r.lv, r.len).to_owned();
            ops.push((
                r.lv,
                Op::Insert { origin_left: id(r.origin_left), origin_right: id(r.origin_right), text },
            ));
        }
        for d in log.dels_in(a, b) {
            // Split the targets where their ids stop being consecutive.
            let mut pieces: Vec<(u32, u64, u32)> = Vec::new();
            log.for_each_id_run(d.target, d.len, |_, n, agent, seq| pieces.push((agent, seq, n)));
            if d.reversed {
                pieces.reverse();
            }
            let mut lv = d.lv;
            for (agent, seq, n) in pieces {
                let start = OpId::new(log.agents[agent as usize].id, seq);
                ops.push((lv, Op::Delete { start, len: n as u64, reversed: d.reversed && n > 1 }));
                lv += n;
            }
        }
        for m in log.map_ops_in(a, b) {
            ops.push((m.lv, Op::MapSet { key: m.key.clone(), value: m.value.clone() }));
        }
        ops.sort_by_key(|o| o.0);
        ops.into_iter().map(|o| o.1).collect()
    }

    /// The change made of ops `a .. b` (one author, consecutive seqs, one run or a
    /// suffix of runs that chain), dated by its first op.
    pub(super) fn change_of(&self, a: Lv, b: Lv) -> Change {
        let log = &self.log;
        let r = &log.runs[log.run_idx(a)];
        let off = a - r.lv;
        let deps = if off == 0 { log.lvs_to_ids(&r.parents) } else { vec![log.id_of(a - 1)] };
        let agent = &log.agents[r.agent as usize];
        Change {
            author: agent.id,
            start_seq: r.seq + off as u64,
            deps,
            lamport: r.lamport + off as u64,
            time: agent.time_at(r.seq + off as u64),
            ops: crate::change::canonical_ops(
                log.agents[r.agent as usize].id,
                r.seq + off as u64,
                self.ops_of(a, b),
            ),
        }
    }

    /// The change of `author`'s ops `start_seq .. end_seq`, regenerated from the log in
    /// [canonical form](Change::canonical): the same bytes on every replica that holds
    /// those ops, however it received them and whatever else it holds. `None` when the
    /// range is empty or not all held, or when its ops do not form one change (an op
    /// after the first whose parent is not the author's previous op, or whose Lamport
    /// time does not follow it). The change carries the wall time of its first op.
    pub fn change_by(&self, author: ReplicaId, start_seq: u64, end_seq: u64) -> Option<Change> {
        let log = &self.log;
        if start_seq == 0 || end_seq <= start_seq || log.version.get(author) < end_seq - 1 {
            return None;
        }
        let first = log.lv_of(OpId::new(author, start_seq))?;
        let r = &log.runs[log.run_idx(first)];
        let off = first - r.lv;
        let deps = if off == 0 { log.lvs_to_ids(&r.parents) } else { vec![log.id_of(first - 1)] };
        let lamport = r.lamport + off as u64;
        let mut ops = Vec::new();
        let mut seq = start_seq;
        let mut prev: Option<Lv> = None;
        while seq < end_seq {
            let lv = log.lv_of(OpId::new(author, seq))?;
            let r = &log.runs[log.run_idx(lv)];
            let off = lv - r.lv;
            if let Some(p) = prev {
                // A run of the log starts here: it must continue the previous op.
                if off == 0 && (r.parents != [p] || r.lamport != log.lamport_of(p) + 1) {
                    return None;
                }
            }
            let n = ((r.len - off) as u64).min(end_seq - seq) as u32;
            ops.extend(self.ops_of(lv, lv + n));
            seq += n as u64;
            prev = Some(lv + n - 1);
        }
        let time = log.agents[log.agent_index(author)? as usize].time_at(start_seq);
        Some(Change {
            author,
            start_seq,
            deps,
            lamport,
            time,
            ops: crate::change::canonical_ops(author, start_seq, ops),
        })
    }

    /// Every change the holder of `clock` lacks, in causal order: one per run of the
    /// log, cut where the author's wall time changes so each change keeps its time.
    pub fn changes_since(&self, clock: &VectorClock) -> Vec<Change> {
        let mut res = Vec::new();
        for r in &self.log.runs {
            let agent = &self.log.agents[r.agent as usize];
            let have = clock.get(agent.id);
            let end_seq = r.seq + r.len as u64;
            if have + 1 >= end_seq {
                continue;
            }
            let mut seq = r.seq + have.saturating_sub(r.seq - 1).min(r.len as u64);
            while seq < end_seq {
                let next = agent.next_date_change(seq).min(end_seq);
                let lv = r.lv + (seq - r.seq) as Lv;
                res.push(self.change_of(lv, lv + (next - seq) as Lv));
                seq = next;
            }
        }
        res
    }

    /// The wall time (seconds since the Unix epoch, as its author's device gave it; 0
    /// when unknown) of op `id`, if held.
    pub fn time_of(&self, id: OpId) -> Option<u64> {
        let a = self.log.agent_index(id.replica)?;
        self.log.lv_of(id)?;
        Some(self.log.agents[a as usize].time_at(id.seq))
    }

    /// Every change, in causal order.
    pub fn all_changes(&self) -> Vec<Change> {
        self.changes_since(&VectorClock::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Doc;

    /// Replicas that type and sync pseudo-randomly; the last one then gets everything.
    fn history(seed: u64) -> Doc {
        let mut x = seed;
        let mut next = move |n: u64| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        let mut docs: Vec<Doc> = (1..=4).map(|i| Doc::new(ReplicaId(i))).collect();
        for _ in 0..60 {
            let i = next(4) as usize;
            if next(3) == 0 {
                let j = next(4) as usize;
                for c in docs[j].changes_since(docs[i].version()) {
                    docs[i].apply(c).unwrap();
                }
            } else {
                let pos = next(docs[i].len_chars() as u64 + 1) as usize;
                docs[i].insert(pos, "ab").unwrap();
                docs[i].commit();
            }
        }
        let mut all = Doc::new(ReplicaId(9));
        for d in &docs {
            for c in d.changes_since(all.version()) {
                all.apply(c).unwrap();
            }
        }
        all
    }

    /// The version of the past of `parents`, one op at a time.
    fn brute(log: &OpLog, parents: &[Lv]) -> VectorClock {
        let mut v = VectorClock::new();
        for lv in 0..log.next_lv() {
            if log.in_history(lv, parents) {
                let id = log.id_of(lv);
                v.observe(id.replica, id.seq);
            }
        }
        v
    }

    #[test]
    fn both_walks_find_the_version_of_a_past() {
        for seed in 0..20 {
            let d = history(seed);
            let log = &d.log;
            let n = log.next_lv();
            for a in (0..n).step_by(7) {
                for b in [a, (a * 3 + 5) % n, n - 1] {
                    let parents = log.frontier_of(vec![a, b]);
                    let expect = brute(log, &parents);
                    assert_eq!(log.walk_past(&parents), expect, "seed {seed}, {parents:?}");
                    assert_eq!(log.walk_outside(&parents), expect, "seed {seed}, {parents:?}");
                    assert_eq!(log.past_version(&parents), expect);
                    let mut lvs = vec![a, b, (a + b) / 2];
                    lvs.sort_unstable();
                    lvs.dedup();
                    let mut slow = lvs.clone();
                    slow.retain(|&x| !lvs.iter().any(|&y| y > x && log.in_history(x, &[y])));
                    assert_eq!(log.frontier_of(lvs), slow, "seed {seed}");
                }
            }
        }
    }
}
