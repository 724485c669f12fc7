//! Vector clocks: for each replica, the highest contiguous operation seq seen.

use crate::id::{OpId, ReplicaId};

/// A vector clock, `replica -> highest seq seen`, kept sorted by replica.
///
/// Because a replica's operations are delivered in seq order with no gaps, the clock is
/// also the exact set of operations a replica holds: op `(r, s)` is included iff
/// `s <= clock[r]`. Absent entries are 0.
#[derive(Clone, Default, PartialEq, Eq, Hash, Debug)]
pub struct VectorClock {
    entries: Vec<(ReplicaId, u64)>,
}

impl VectorClock {
    /// The empty clock: nothing seen.
    pub fn new() -> VectorClock {
        VectorClock::default()
    }

    /// The highest seq seen from `replica` (0 when none).
    pub fn get(&self, replica: ReplicaId) -> u64 {
        match self.entries.binary_search_by_key(&replica, |e| e.0) {
            Ok(i) => self.entries[i].1,
            Err(_) => 0,
        }
    }

    /// Sets the entry for `replica`; 0 removes it.
    pub fn set(&mut self, replica: ReplicaId, seq: u64) {
        match self.entries.binary_search_by_key(&replica, |e| e.0) {
            Ok(i) if seq == 0 => {
                self.entries.remove(i);
            }
            Ok(i) => self.entries[i].1 = seq,
            Err(_) if seq == 0 => {}
            Err(i) => self.entries.insert(i, (replica, seq)),
        }
    }

    /// Raises the entry for `replica` to at least `seq`.
    pub fn observe(&mut self, replica: ReplicaId, seq: u64) {
        match self.entries.binary_search_by_key(&replica, |e| e.0) {
            Ok(i) => self.entries[i].1 = self.entries[i].1.max(seq),
            Err(_) if seq == 0 => {}
            Err(i) => self.entries.insert(i, (replica, seq)),
        }
    }

    /// Whether the operation `id` is included.
    pub fn contains(&self, id: OpId) -> bool {
        id.seq <= self.get(id.replica)
    }

    /// `self <= other`: every entry of `self` is at most the one in `other`.
    pub fn le(&self, other: &VectorClock) -> bool {
        self.entries.iter().all(|&(r, s)| s <= other.get(r))
    }

    /// `self < other`: `self <= other` and they differ.
    pub fn lt(&self, other: &VectorClock) -> bool {
        self != other && self.le(other)
    }

    /// Pointwise maximum, in place.
    pub fn merge(&mut self, other: &VectorClock) {
        for &(r, s) in &other.entries {
            self.observe(r, s);
        }
    }

    /// The entries, sorted by replica.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (ReplicaId, u64)> + '_ {
        self.entries.iter().copied()
    }

    /// The number of replicas with a non-zero entry.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing has been seen.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The total number of operations the clock covers.
    pub fn n_ops(&self) -> u64 {
        self.entries.iter().map(|e| e.1).sum()
    }
}

impl FromIterator<(ReplicaId, u64)> for VectorClock {
    fn from_iter<T: IntoIterator<Item = (ReplicaId, u64)>>(iter: T) -> Self {
        let mut c = VectorClock::new();
        for (r, s) in iter {
            c.observe(r, s);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vc(e: &[(u64, u64)]) -> VectorClock {
        e.iter().map(|&(r, s)| (ReplicaId(r), s)).collect()
    }

    #[test]
    fn order_and_merge() {
        let a = vc(&[(1, 2), (2, 1)]);
        let b = vc(&[(1, 2), (2, 3)]);
        let c = vc(&[(1, 3)]);
        assert!(a.le(&b) && a.lt(&b) && !b.le(&a));
        assert!(a.le(&a) && !a.lt(&a));
        assert!(!b.le(&c) && !c.le(&b), "concurrent clocks are not ordered");
        let mut m = b.clone();
        m.merge(&c);
        assert_eq!(m, vc(&[(1, 3), (2, 3)]));
        assert!(b.le(&m) && c.le(&m));
        assert_eq!(m.n_ops(), 6);
        assert!(m.contains(OpId::new(ReplicaId(2), 3)));
        assert!(!m.contains(OpId::new(ReplicaId(2), 4)));
        assert!(!m.contains(OpId::new(ReplicaId(9), 1)));
    }

    #[test]
    fn zero_entries_are_absent() {
        let mut a = vc(&[(1, 2)]);
        a.set(ReplicaId(1), 0);
        a.set(ReplicaId(5), 0);
        assert!(a.is_empty());
        assert_eq!(a, VectorClock::new());
    }
}
