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
use crate::id::Lv;
use std::ops::Range;

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
        let c = Change { author: peer, start_seq: 1, deps, lamport: 20_001, ops: vec![delete; 500] };
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
