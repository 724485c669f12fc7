//! Time travel: the text as it was at an earlier version of this replica. An op belongs
//! to a version when the version's clock holds it; a character is shown when its insert
//! belongs and no delete of it does. Nothing is stored per version: the answer is
//! computed from the op log and the item order, which never changes.
//!
//! The work is per run, never per op: the ops a version holds are a prefix of each run
//! of the op log, the characters its deletes remove are a range per run of deletes, and
//! the text is read span by span. Memory and time grow with the number of runs and
//! spans, however many characters one delete op covers or how often it repeats.

use super::Doc;
use crate::clock::VectorClock;
use crate::error::Error;
use crate::id::{Lv, ReplicaId};
use std::ops::Range;

/// A stretch of one author's editing ([`Doc::edit_sessions`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditSession {
    /// Who edited.
    pub author: ReplicaId,
    /// The wall time of its first change (seconds since the Unix epoch; 0 unknown).
    pub start_time: u64,
    /// The wall time of its latest change.
    pub end_time: u64,
    /// Characters inserted.
    pub inserted: u64,
    /// Characters deleted.
    pub deleted: u64,
    /// How many dated pieces of the history it spans (about its changes).
    pub changes: u64,
    /// The op of this replica's history it starts at (0-based, in causal order).
    pub start: usize,
    /// How many ops of the history were made when it ended: the version after it is
    /// [`Doc::version_at`]`(end)`.
    pub end: usize,
}

/// Inserted and deleted characters among ops `a .. b`; `ins` and `del` are cursors
/// into the insert and delete logs, moved forward as ranges come in `Lv` order.
fn count_chars(log: &super::oplog::OpLog, a: Lv, b: Lv, ins: &mut usize, del: &mut usize) -> (u64, u64) {
    let inserted = ops_within(log.ins[*ins..].iter().map(|r| (r.lv, r.len)), a, b, ins);
    let deleted = ops_within(log.dels[*del..].iter().map(|r| (r.lv, r.len)), a, b, del);
    (inserted, deleted)
}

/// How many ops of the runs `(lv, len)` (sorted by `lv`, from run `*at` of their log)
/// fall in `a .. b`; moves `*at` to the first run that may reach past `b`.
fn ops_within(runs: impl Iterator<Item = (Lv, u32)>, a: Lv, b: Lv, at: &mut usize) -> u64 {
    let mut n = 0;
    for (lv, len) in runs {
        if lv >= b {
            break;
        }
        n += (lv + len).min(b).saturating_sub(lv.max(a)) as u64;
        if lv + len > b {
            break;
        }
        *at += 1;
    }
    n
}

/// A set of `Lv`s as sorted, disjoint ranges that do not touch.
#[derive(Debug, Default)]
struct LvSet(Vec<Range<Lv>>);

impl LvSet {
    /// The set of the given ranges, in any order, overlapping or not.
    fn from_ranges(mut ranges: Vec<Range<Lv>>) -> LvSet {
        ranges.sort_unstable_by_key(|r| r.start);
        let mut set = LvSet(Vec::with_capacity(ranges.len()));
        for r in ranges {
            set.push(r);
        }
        set.0.shrink_to_fit();
        set
    }

    /// Adds a range that starts at or after the start of every range held.
    fn push(&mut self, r: Range<Lv>) {
        if r.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => self.0.push(r),
        }
    }

    /// The parts of the set inside `a .. b`, in order.
    fn within(&self, a: Lv, b: Lv) -> impl Iterator<Item = Range<Lv>> + '_ {
        let i = self.0.partition_point(|r| r.end <= a);
        self.0[i..].iter().take_while(move |r| r.start < b).map(move |r| r.start.max(a)..r.end.min(b))
    }
}

/// What a version holds of the op log: the ops it holds and the characters its deletes
/// remove.
#[derive(Debug)]
struct VersionView {
    present: LvSet,
    deleted: LvSet,
}

impl VersionView {
    /// Calls `f` with each range of items `a .. b` whose insert the version holds and
    /// that none of its deletes removes, in order.
    fn shown(&self, a: Lv, b: Lv, mut f: impl FnMut(Range<Lv>)) {
        for p in self.present.within(a, b) {
            let mut x = p.start;
            for d in self.deleted.within(p.start, p.end) {
                if d.start > x {
                    f(x..d.start);
                }
                x = d.end;
            }
            if x < p.end {
                f(x..p.end);
            }
        }
    }

    /// Bytes of heap held, by capacity.
    #[cfg(test)]
    fn heap_size(&self) -> usize {
        (self.present.0.capacity() + self.deleted.0.capacity()) * std::mem::size_of::<Range<Lv>>()
    }
}

impl Doc {
    /// The text as it was at `clock`, an earlier version of this replica.
    pub fn text_at(&self, clock: &VectorClock) -> Result<String, Error> {
        if !clock.le(&self.log.version) {
            return Err(Error::NotInHistory(clock.clone()));
        }
        let view = self.version_view(clock);
        let mut out = String::new();
        for s in self.text.spans() {
            view.shown(s.lv, s.lv + s.len, |r| {
                self.text.push_span_str(s, r.start - s.lv, r.end - r.start, &mut out)
            });
        }
        Ok(out)
    }

    /// Who typed each character of the text as it was at `clock`: `(author, chars)`
    /// runs in text order, adjacent runs by one author joined; their lengths add up to
    /// the length of [`Doc::text_at`]`(clock)`.
    pub fn blame_at(&self, clock: &VectorClock) -> Result<Vec<(ReplicaId, usize)>, Error> {
        if !clock.le(&self.log.version) {
            return Err(Error::NotInHistory(clock.clone()));
        }
        let view = self.version_view(clock);
        let mut out: Vec<(ReplicaId, usize)> = Vec::new();
        for s in self.text.spans() {
            view.shown(s.lv, s.lv + s.len, |r| {
                self.log.for_each_id_run(r.start, r.end - r.start, |_, n, agent, _| {
                    let id = self.log.agents[agent as usize].id;
                    match out.last_mut() {
                        Some((a, len)) if *a == id => *len += n as usize,
                        _ => out.push((id, n as usize)),
                    }
                });
            });
        }
        Ok(out)
    }

    /// The history as sessions of editing: each a stretch of one author's text edits
    /// in which no pause between two of its changes' wall times is longer than
    /// `pause_s` seconds. Where a time is unknown (0) a session runs only while no
    /// other author's ops come between. Map writes (names, titles, versions) count in
    /// no session. Sessions are listed by where they end in this replica's history;
    /// the text after one is `text_at(&doc.version_at(session.end))`.
    pub fn edit_sessions(&self, pause_s: u64) -> Vec<EditSession> {
        let log = &self.log;
        let mut res: Vec<EditSession> = Vec::new();
        // The latest session of each agent, by index into `res`.
        let mut open: Vec<Option<usize>> = vec![None; log.agents.len()];
        let (mut ins, mut del) = (0, 0);
        // The session that grew last: an undated edit joins only that one.
        let mut last: Option<usize> = None;
        for r in &log.runs {
            let agent = &log.agents[r.agent as usize];
            let mut seq = r.seq;
            let end_seq = r.seq + r.len as u64;
            while seq < end_seq {
                let next = agent.next_date_change(seq).min(end_seq);
                let time = agent.time_at(seq);
                let a = r.lv + (seq - r.seq) as Lv;
                let b = a + (next - seq) as Lv;
                seq = next;
                let (inserted, deleted) = count_chars(log, a, b, &mut ins, &mut del);
                if inserted + deleted == 0 {
                    continue;
                }
                let joins = open[r.agent as usize].filter(|&i| {
                    let s = &res[i];
                    if time == 0 || s.end_time == 0 {
                        Some(i) == last
                    } else {
                        time >= s.start_time && time.saturating_sub(s.end_time) <= pause_s
                    }
                });
                match joins {
                    Some(i) => {
                        let s = &mut res[i];
                        s.end_time = s.end_time.max(time);
                        s.inserted += inserted;
                        s.deleted += deleted;
                        s.end = b as usize;
                        s.changes += 1;
                    }
                    None => {
                        res.push(EditSession {
                            author: agent.id,
                            start_time: time,
                            end_time: time,
                            inserted,
                            deleted,
                            start: a as usize,
                            end: b as usize,
                            changes: 1,
                        });
                        open[r.agent as usize] = Some(res.len() - 1);
                    }
                }
                last = Some(open[r.agent as usize].expect("just set"));
            }
        }
        // Each session's end only grew, so ordering once by it lists them as they ended.
        res.sort_by_key(|s| s.end);
        res
    }

    /// The version made of the first `n_ops` ops of this replica's history (its op
    /// log is in causal order, so any prefix is a version).
    pub fn version_at(&self, n_ops: usize) -> VectorClock {
        let log = &self.log;
        let mut v = VectorClock::new();
        let n = n_ops.min(log.next_lv() as usize) as Lv;
        for r in &log.runs[..log.run_idx(n)] {
            v.observe(log.agents[r.agent as usize].id, r.seq + r.len as u64 - 1);
        }
        if let Some(r) = log.runs.get(log.run_idx(n)).filter(|r| r.lv < n) {
            v.observe(log.agents[r.agent as usize].id, r.seq + (n - r.lv) as u64 - 1);
        }
        v
    }

    /// The ops `clock` holds and the characters its deletes remove: one range per run
    /// of the op log and per run of deletes at most.
    fn version_view(&self, clock: &VectorClock) -> VersionView {
        let log = &self.log;
        // Each run of the log is one author's consecutive seqs: the clock holds a prefix.
        let mut present = LvSet::default();
        for r in &log.runs {
            let have = clock.get(log.agents[r.agent as usize].id);
            let k = have.saturating_sub(r.seq - 1).min(r.len as u64) as u32;
            present.push(r.lv..r.lv + k);
        }
        let mut targets = Vec::new();
        for d in &log.dels {
            for p in present.within(d.lv, d.lv + d.len) {
                let n = p.end - p.start;
                let t = d.targets(p.start - d.lv, n);
                targets.push(t..t + n);
            }
        }
        VersionView { present, deleted: LvSet::from_ranges(targets) }
    }
}

#[cfg(test)]
mod tests {
    use crate::change::{Change, Op};
    use crate::id::{OpId, ReplicaId};
    use crate::{Doc, VectorClock};

    #[test]
    fn a_version_takes_room_per_run_however_many_chars_its_deletes_cover() {
        let (victim, peer) = (ReplicaId(1), ReplicaId(2));
        let mut d = Doc::new(victim);
        d.insert(0, &"x".repeat(10_000)).unwrap();
        d.commit().unwrap();
        let typed = d.version().clone();
        d.delete(0, 10_000).unwrap();
        d.commit().unwrap();
        let deps = vec![OpId::new(victim, 20_000)];
        let delete = Op::Delete { start: OpId::new(victim, 1), len: 10_000, reversed: false };
        let c = Change { time: 0, author: peer, start_seq: 1, deps, lamport: 20_001, ops: vec![delete; 500] };
        d.apply(c).unwrap();
        assert_eq!(d.n_ops(), 20_000 + 500 * 10_000);
        for (clock, text) in [(&typed, "x".repeat(10_000)), (d.version(), String::new())] {
            let view = d.version_view(clock);
            assert!(view.heap_size() < 1_024 * 16, "{} bytes for {clock:?}", view.heap_size());
            assert_eq!(d.text_at(clock).unwrap(), text);
        }
        assert_eq!(d.text_at(&VectorClock::new()).unwrap(), "");
    }
}
