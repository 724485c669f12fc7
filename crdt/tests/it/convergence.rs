//! Replicas edit concurrently (text, map, undo/redo) and exchange changes in any order:
//! partially, reordered, split, duplicated and redelivered late. After a full sync they
//! agree on text, map and version; old versions read back as they were; anchors agree;
//! the encodings round trip.

use crate::{doc, prop_config, typed};
use proptest::prelude::*;
use std::collections::BTreeMap;
use tandem_crdt::{Anchor, Bias, Change, Doc, Op, OpId, ReplicaId, Value, VectorClock, encoding};

/// Replica ids: distinct, and their order (which breaks ties) differs from index order.
const IDS: [u64; 4] = [0x8000_0000_0000_0001, 7, u64::MAX, 0x1234];
const STRINGS: &[&str] =
    &["a", "xy", "hello ", "漢字", "👍🏽", "e\u{301}", "\n", "Ωz", "🇺🇳", "a\u{301}\u{302}b"];
const KEYS: &[&str] = &["title", "lang", "tags"];

#[derive(Debug, Clone)]
enum Action {
    Insert {
        r: usize,
        pos: usize,
        text: &'static str,
    },
    Delete {
        r: usize,
        pos: usize,
        len: usize,
    },
    MapSet {
        r: usize,
        key: usize,
        value: Value,
    },
    MapDelete {
        r: usize,
        key: usize,
    },
    Commit {
        r: usize,
    },
    Undo {
        r: usize,
    },
    Redo {
        r: usize,
    },
    /// Sends `to` what `from` has and it lacks: split into smaller changes (`split`
    /// cuts), shuffled, only the first `take` (all when `None`), maybe one duplicated.
    Sync {
        from: usize,
        to: usize,
        take: Option<usize>,
        split: usize,
        dup: bool,
        seed: u64,
    },
    /// Delivers a change seen earlier (committed or sent) again, to anyone.
    Redeliver {
        to: usize,
        idx: usize,
    },
    /// Records the version and text of a replica, for time travel at the end.
    Snapshot {
        r: usize,
    },
    /// Takes an anchor, resolved by every replica at the end.
    Anchor {
        r: usize,
        pos: usize,
        after: bool,
    },
    /// Saves and reloads a replica (losing its causal buffer, keeping undo history).
    Reload {
        r: usize,
    },
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_filter("NaN is not equal to itself", |f| !f.is_nan()).prop_map(Value::Float),
        prop::sample::select(STRINGS).prop_map(|s| Value::Str(s.to_owned())),
        "\\PC{0,6}".prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(Value::Bytes),
    ]
}

/// Actions on `n` replicas; `undo` enables undo/redo.
fn action(n: usize, undo: bool) -> impl Strategy<Value = Action> {
    let r = 0..n;
    prop_oneof![
        8 => (r.clone(), any::<usize>(), prop::sample::select(STRINGS))
            .prop_map(|(r, pos, text)| Action::Insert { r, pos, text }),
        4 => (r.clone(), any::<usize>(), 1..8usize).prop_map(|(r, pos, len)| Action::Delete { r, pos, len }),
        2 => (r.clone(), 0..KEYS.len(), value()).prop_map(|(r, key, value)| Action::MapSet { r, key, value }),
        1 => (r.clone(), 0..KEYS.len()).prop_map(|(r, key)| Action::MapDelete { r, key }),
        3 => r.clone().prop_map(|r| Action::Commit { r }),
        // Without undo these are plain commits.
        2 => r.clone().prop_map(move |r| if undo { Action::Undo { r } } else { Action::Commit { r } }),
        1 => r.clone().prop_map(move |r| if undo { Action::Redo { r } } else { Action::Commit { r } }),
        5 => (r.clone(), 1..n, prop::option::weighted(0.6, 0..6usize), 0..4usize, prop::bool::weighted(0.2), any::<u64>())
            .prop_map(move |(from, off, take, split, dup, seed)| Action::Sync {
                from,
                to: (from + off) % n,
                take,
                split,
                dup,
                seed
            }),
        2 => (r.clone(), any::<usize>()).prop_map(|(to, idx)| Action::Redeliver { to, idx }),
        1 => r.clone().prop_map(|r| Action::Snapshot { r }),
        1 => (r.clone(), any::<usize>(), any::<bool>()).prop_map(|(r, pos, after)| Action::Anchor { r, pos, after }),
        1 => r.prop_map(|r| Action::Reload { r }),
    ]
}

/// A small deterministic generator, so one `u64` drives shuffles and splits.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n.max(1) as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// Splits a change after its first `k` seqs (`0 < k < n_seqs`) into two valid changes,
/// cutting inside an op if needed, as a peer holding only part of it would serve it.
fn split_change(c: &Change, k: u64) -> (Change, Change) {
    let cut = c.start_seq + k;
    let mut head = Vec::new();
    let mut tail = Vec::new();
    let mut seq = c.start_seq;
    for op in &c.ops {
        let n = op.n_seqs();
        if seq + n <= cut {
            head.push(op.clone());
        } else if seq >= cut {
            tail.push(op.clone());
        } else {
            let m = cut - seq;
            match op {
                Op::Insert { origin_left, origin_right, text } => {
                    let b = text.char_indices().nth(m as usize).expect("cut inside the text").0;
                    head.push(Op::Insert {
                        origin_left: *origin_left,
                        origin_right: *origin_right,
                        text: text[..b].to_owned(),
                    });
                    tail.push(Op::Insert {
                        origin_left: Some(OpId::new(c.author, cut - 1)),
                        origin_right: *origin_right,
                        text: text[b..].to_owned(),
                    });
                }
                Op::Delete { start, len, reversed } => {
                    let (h, t) = if *reversed {
                        (OpId::new(start.replica, start.seq + len - m), *start)
                    } else {
                        (*start, OpId::new(start.replica, start.seq + m))
                    };
                    head.push(Op::Delete { start: h, len: m, reversed: *reversed && m > 1 });
                    tail.push(Op::Delete { start: t, len: len - m, reversed: *reversed && len - m > 1 });
                }
                Op::MapSet { .. } => unreachable!("a map write takes one seq"),
            }
        }
        seq += n;
    }
    let head = Change { ops: head, ..c.clone() };
    let tail = Change {
        time: c.time,
        author: c.author,
        start_seq: cut,
        deps: vec![OpId::new(c.author, cut - 1)],
        lamport: c.lamport + k,
        ops: tail,
    };
    assert_eq!(head.n_seqs() + tail.n_seqs(), c.n_seqs());
    (head, tail)
}

struct World {
    docs: Vec<Doc>,
    /// Every change seen: committed, undone, redone or sent (after splitting).
    pool: Vec<Change>,
    /// `(version, text)` of some replica at some moment.
    snapshots: Vec<(VectorClock, String)>,
    anchors: Vec<Anchor>,
}

impl World {
    fn new(n: usize) -> World {
        World {
            docs: IDS[..n].iter().map(|&id| Doc::new(ReplicaId(id))).collect(),
            pool: Vec::new(),
            snapshots: Vec::new(),
            anchors: Vec::new(),
        }
    }

    fn commit(&mut self, r: usize) {
        let d = &mut self.docs[r];
        // Wall times that change every few commits, so changes carry several.
        d.set_wall_clock(1_700_000_000 + self.pool.len() as u64 / 3);
        let version = d.version().clone();
        if let Some(c) = d.commit() {
            assert_eq!(c.author, d.replica());
            assert_eq!(c.end_seq() - 1, version.get(d.replica()), "the change ends at the last local op");
            assert!(c.is_canonical(), "a local commit is in canonical form: {c:?}");
            self.pool.push(c);
        }
        assert!(!self.docs[r].has_uncommitted());
    }

    /// Applies `c` at `to` and checks what the outcome says against the doc.
    fn deliver(&mut self, to: usize, c: Change) {
        self.commit(to);
        let d = &mut self.docs[to];
        let (text, version) = (d.text(), d.version().clone());
        let out = d.apply(c.clone()).unwrap_or_else(|e| panic!("valid change refused: {e}: {c:?}"));
        assert_eq!(out.rejected, 0, "{out:?}");
        assert!(!(out.duplicate && out.buffered), "{out:?}");
        if out.applied == 0 {
            assert!(out.duplicate || out.buffered, "{out:?}");
            assert_eq!(d.text(), text, "nothing applied, yet the text changed");
            assert_eq!(d.version(), &version, "nothing applied, yet the version changed");
        } else {
            assert!(!out.duplicate && !out.buffered, "{out:?}");
            assert!(version.lt(d.version()), "applied, yet the version did not grow");
        }
        if out.buffered {
            assert!(d.pending_changes() > 0);
        }
        assert!(d.version().contains(OpId::new(c.author, c.end_seq() - 1)) || d.pending_changes() > 0);
    }

    /// Runs a local edit at `r` and checks it against a `Vec<char>` model of the text
    /// and against the version.
    fn local_edit(&mut self, r: usize, pos: usize, del: usize, text: &str) {
        let d = &mut self.docs[r];
        let mut model: Vec<char> = d.text().chars().collect();
        assert_eq!(d.len_chars(), model.len());
        let seq = d.version().get(d.replica()) + 1;
        if del > 0 {
            d.delete(pos, del).unwrap();
            model.drain(pos..pos + del);
        }
        let n = text.chars().count();
        if n > 0 {
            d.insert(pos, text).unwrap();
            model.splice(pos..pos, text.chars());
            // The new chars carry the next seqs of this replica, in order.
            let first = OpId::new(d.replica(), seq + del as u64);
            assert_eq!(d.anchor(pos, Bias::After).id, Some(first));
            assert_eq!(
                d.anchor(pos + n, Bias::Before).id,
                Some(OpId::new(first.replica, first.seq + n as u64 - 1))
            );
            assert_eq!(d.slice(pos, pos + n), text);
        }
        assert_eq!(d.version().get(d.replica()), seq + (del + n) as u64 - 1, "one seq per char");
        assert_eq!(d.text(), model.iter().collect::<String>());
        assert_eq!(d.len_chars(), model.len());
        assert!(d.has_uncommitted());
    }

    fn run(&mut self, a: &Action) {
        match a.clone() {
            Action::Insert { r, pos, text } => {
                let pos = pos % (self.docs[r].len_chars() + 1);
                self.local_edit(r, pos, 0, text);
            }
            Action::Delete { r, pos, len } => {
                let n = self.docs[r].len_chars();
                if n > 0 {
                    let pos = pos % n;
                    self.local_edit(r, pos, len.min(n - pos), "");
                }
            }
            Action::MapSet { r, key, value } => {
                let d = &mut self.docs[r];
                d.map_set(KEYS[key], value.clone()).unwrap();
                assert_eq!(d.map_get(KEYS[key]), Some(&value));
                assert_eq!(d.map_values(KEYS[key]), vec![&value], "a local write supersedes all");
                assert!(d.map_keys().any(|k| k == KEYS[key]));
            }
            Action::MapDelete { r, key } => {
                let d = &mut self.docs[r];
                d.map_delete(KEYS[key]).unwrap();
                assert_eq!(d.map_get(KEYS[key]), None);
                assert!(d.map_values(KEYS[key]).is_empty());
                assert!(!d.map_keys().any(|k| k == KEYS[key]));
            }
            Action::Commit { r } => self.commit(r),
            Action::Undo { r } => {
                self.commit(r);
                if let Some(c) = self.docs[r].undo().unwrap() {
                    assert!(self.docs[r].can_redo());
                    assert!(!self.docs[r].has_uncommitted());
                    self.pool.push(c);
                }
            }
            Action::Redo { r } => {
                self.commit(r);
                if let Some(c) = self.docs[r].redo().unwrap() {
                    assert!(self.docs[r].can_undo());
                    self.pool.push(c);
                }
            }
            Action::Sync { from, to, take, split, dup, seed } => {
                self.commit(from);
                let mut rng = Rng(seed);
                let mut changes = self.docs[from].changes_since(self.docs[to].version());
                for _ in 0..split {
                    if changes.is_empty() {
                        break;
                    }
                    let i = rng.below(changes.len());
                    let n = changes[i].n_seqs();
                    if n > 1 {
                        let (h, t) = split_change(&changes[i], 1 + rng.below(n as usize - 1) as u64);
                        changes[i] = h;
                        changes.insert(i + 1, t);
                    }
                }
                rng.shuffle(&mut changes);
                if let Some(take) = take {
                    changes.truncate(take);
                }
                if dup && !changes.is_empty() {
                    let c = changes[rng.below(changes.len())].clone();
                    changes.push(c);
                }
                for c in changes {
                    self.pool.push(c.clone());
                    self.deliver(to, c);
                }
            }
            Action::Redeliver { to, idx } => {
                if !self.pool.is_empty() {
                    let c = self.pool[idx % self.pool.len()].clone();
                    self.deliver(to, c);
                }
            }
            Action::Snapshot { r } => {
                self.commit(r);
                let d = &self.docs[r];
                assert_eq!(d.text_at(d.version()).unwrap(), d.text());
                self.snapshots.push((d.version().clone(), d.text()));
            }
            Action::Anchor { r, pos, after } => {
                let d = &self.docs[r];
                let bias = if after { Bias::After } else { Bias::Before };
                let pos = pos % (d.len_chars() + 1);
                let anchor = d.anchor(pos, bias);
                assert_eq!(d.resolve(&anchor), Some(pos), "an anchor resolves where it was taken");
                self.anchors.push(anchor);
            }
            Action::Reload { r } => {
                self.commit(r);
                let d = &self.docs[r];
                let undo = encoding::decode_undo(&encoding::encode_undo(&d.undo_state())).unwrap();
                assert_eq!(undo, d.undo_state());
                // As a device reopens it: from the snapshot encoding, whose document order
                // builds the text without integrating.
                let mut e = encoding::decode_doc(&encoding::encode_snapshot(d), d.replica()).unwrap();
                e.restore_undo_state(&undo);
                // Only the steps are compared: `redone` may lose entries, see
                // `undo_history_survives_reload_when_restored_chars_span_replicas`.
                assert_eq!(e.undo_state().undo, undo.undo);
                assert_eq!(e.undo_state().redo, undo.redo);
                assert_eq!(e.text(), d.text());
                assert_eq!(e.version(), d.version());
                e.check();
                self.docs[r] = e;
            }
        }
    }

    /// Commits everywhere and syncs every pair until all versions are equal.
    fn sync_all(&mut self) {
        let n = self.docs.len();
        for r in 0..n {
            self.commit(r);
        }
        for round in 0.. {
            assert!(round < 5, "full sync does not settle");
            for from in 0..n {
                for to in 0..n {
                    if from != to {
                        for c in self.docs[from].changes_since(self.docs[to].version()) {
                            self.deliver(to, c);
                        }
                    }
                }
            }
            if self.docs.iter().all(|d| d.version() == self.docs[0].version()) {
                break;
            }
        }
    }

    fn map_of(d: &Doc) -> BTreeMap<&'static str, (Option<Value>, Vec<Value>)> {
        KEYS.iter()
            .map(|&k| (k, (d.map_get(k).cloned(), d.map_values(k).into_iter().cloned().collect())))
            .collect()
    }

    fn check_converged(&self) {
        let first = &self.docs[0];
        let map = World::map_of(first);
        let keys: Vec<&str> = first.map_keys().collect();
        for d in &self.docs {
            d.check();
            assert_eq!(d.pending_changes(), 0, "everything delivered, nothing waits");
            assert!(d.missing().is_empty());
            assert_eq!(d.text(), first.text());
            assert_eq!(d.len_chars(), first.len_chars());
            assert_eq!(d.version(), first.version());
            assert_eq!(d.n_ops() as u64, d.version().n_ops());
            assert_eq!(World::map_of(d), map);
            assert_eq!(d.map_keys().collect::<Vec<_>>(), keys);
            for (k, (winner, values)) in &map {
                // The winner may be a delete, while concurrent values remain listed.
                if winner.is_some() {
                    assert_eq!(winner.as_ref(), values.first(), "the winner of {k} is listed first");
                }
            }
        }
        // Every op carries its author's wall time to every replica.
        for (author, n) in first.version().iter() {
            for seq in 1..=n {
                let id = OpId::new(author, seq);
                let time = first.time_of(id).expect("held");
                assert!(time >= 1_700_000_000, "{id:?} dated {time}");
                for d in &self.docs {
                    assert_eq!(d.time_of(id), Some(time), "time of {id:?}");
                }
            }
        }
        // Time travel: every replica holds the whole history now.
        for (version, text) in &self.snapshots {
            for d in &self.docs {
                assert_eq!(&d.text_at(version).unwrap(), text, "text at {version:?}");
            }
        }
        for d in &self.docs {
            assert_eq!(d.text_at(&VectorClock::new()).unwrap(), "");
            assert_eq!(d.text_at(d.version()).unwrap(), d.text());
        }
        // Anchors: every replica resolves each to the same place.
        for anchor in &self.anchors {
            let pos = first.resolve(anchor).expect("every replica holds the anchored char");
            assert!(pos <= first.len_chars());
            for d in &self.docs {
                assert_eq!(d.resolve(anchor), Some(pos), "{anchor:?}");
            }
        }
    }

    fn check_encodings(&self) {
        for d in &self.docs {
            let loaded = encoding::decode_doc(&encoding::encode_doc(d), ReplicaId(42)).unwrap();
            loaded.check();
            // Built from the stored document order, the text is the one integration gives:
            // the same items in the same order (the snapshot encodes that order).
            let snapshot = encoding::encode_snapshot(d);
            let opened = encoding::decode_doc(&snapshot, ReplicaId(42)).unwrap();
            opened.check();
            assert_eq!(opened.text(), d.text());
            assert_eq!(encoding::encode_snapshot(&opened), snapshot);
            assert_eq!(encoding::encode_snapshot(&loaded), snapshot, "integration gives the stored order");
            assert_eq!(loaded.text(), d.text());
            assert_eq!(loaded.version(), d.version());
            assert_eq!(World::map_of(&loaded), World::map_of(d));
            assert_eq!(loaded.all_changes(), d.all_changes(), "the reloaded replica serves the same changes");
            for (version, text) in &self.snapshots {
                assert_eq!(&loaded.text_at(version).unwrap(), text);
            }
            for anchor in &self.anchors {
                assert_eq!(loaded.resolve(anchor), d.resolve(anchor));
            }
            // Every change sent, however it was cut, regenerates from any replica's log
            // (and from its encoding) as its canonical form, byte for byte.
            for c in &self.pool {
                let want = Some(c.clone().canonical());
                assert_eq!(
                    d.change_by(c.author, c.start_seq, c.end_seq()),
                    want,
                    "regenerated at {:?}",
                    d.replica()
                );
                assert_eq!(
                    loaded.change_by(c.author, c.start_seq, c.end_seq()),
                    want,
                    "regenerated after a reload"
                );
            }
        }
        let all = self.docs[0].all_changes();
        assert_eq!(encoding::decode_changes(&encoding::encode_changes(&all)).unwrap(), all);
        assert_eq!(encoding::decode_changes(&encoding::encode_changes(&self.pool)).unwrap(), self.pool);
        for c in &self.pool {
            assert_eq!(&encoding::decode_change(&encoding::encode_change(c)).unwrap(), c);
        }
        // A fresh replica fed the history, in its serialized form, ends up equal.
        let mut fresh = doc(99);
        for c in encoding::decode_changes(&encoding::encode_changes(&all)).unwrap() {
            assert_eq!(fresh.apply(c).unwrap().applied, 1);
        }
        assert_eq!(fresh.text(), self.docs[0].text());
        assert_eq!(World::map_of(&fresh), World::map_of(&self.docs[0]));
    }
}

fn run_world(n: usize, actions: &[Action]) {
    let mut w = World::new(n);
    for a in actions {
        w.run(a);
    }
    w.sync_all();
    w.check_converged();
    w.check_encodings();
}

/// Single-replica state for the model test.
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    text: Vec<char>,
    map: BTreeMap<&'static str, Value>,
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, &'static str),
    Delete(usize, usize),
    Set(usize, Value),
    Remove(usize),
    Commit,
    Undo,
    Redo,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<usize>(), prop::sample::select(STRINGS)).prop_map(|(p, s)| Edit::Insert(p, s)),
        3 => (any::<usize>(), 1..6usize).prop_map(|(p, n)| Edit::Delete(p, n)),
        1 => (0..KEYS.len(), value()).prop_map(|(k, v)| Edit::Set(k, v)),
        1 => (0..KEYS.len()).prop_map(Edit::Remove),
        3 => Just(Edit::Commit),
        2 => Just(Edit::Undo),
        1 => Just(Edit::Redo),
    ]
}

proptest! {
    #![proptest_config(prop_config(128, "proptest-regressions/it/convergence.txt"))]

    #[test]
    fn three_replicas_converge(actions in prop::collection::vec(action(3, false), 1..100)) {
        run_world(3, &actions);
    }

    #[test]
    fn replicas_with_undo_and_redo_converge(actions in prop::collection::vec(action(3, true), 1..100)) {
        run_world(3, &actions);
    }

    #[test]
    fn four_replicas_converge(actions in prop::collection::vec(action(4, true), 1..60)) {
        run_world(4, &actions);
    }

    /// One replica against a model: the text as a `Vec<char>`, the map, and undo/redo as
    /// stacks of whole states (with one writer, undo returns to the state before the
    /// latest transaction).
    #[test]
    fn one_replica_matches_a_model(edits in prop::collection::vec(edit(), 1..120)) {
        let mut d = doc(1);
        let mut cur = Model::default();
        let mut txn_start: Option<Model> = None;
        let mut undo: Vec<(Model, Model)> = Vec::new();
        let mut redo: Vec<(Model, Model)> = Vec::new();
        for e in edits {
            let before = cur.clone();
            match e.clone() {
                Edit::Insert(p, s) => {
                    let p = p % (cur.text.len() + 1);
                    d.insert(p, s).unwrap();
                    cur.text.splice(p..p, s.chars());
                }
                Edit::Delete(p, n) => {
                    if cur.text.is_empty() {
                        prop_assert!(d.delete(0, 1).is_err());
                        continue;
                    }
                    let p = p % cur.text.len();
                    let n = n.min(cur.text.len() - p);
                    d.delete(p, n).unwrap();
                    cur.text.drain(p..p + n);
                }
                Edit::Set(k, v) => {
                    d.map_set(KEYS[k], v.clone()).unwrap();
                    cur.map.insert(KEYS[k], v);
                }
                Edit::Remove(k) => {
                    d.map_delete(KEYS[k]).unwrap();
                    cur.map.remove(KEYS[k]);
                }
                Edit::Commit | Edit::Undo | Edit::Redo => {}
            }
            if let Edit::Insert(..) | Edit::Delete(..) | Edit::Set(..) | Edit::Remove(..) = e {
                txn_start.get_or_insert(before);
            }
            if let Edit::Commit | Edit::Undo | Edit::Redo = e {
                let committed = d.commit();
                prop_assert_eq!(committed.is_some(), txn_start.is_some());
                if let Some(start) = txn_start.take() {
                    undo.push((start, cur.clone()));
                    redo.clear();
                }
            }
            match e {
                Edit::Undo => {
                    let c = d.undo().unwrap();
                    prop_assert_eq!(c.is_some(), !undo.is_empty());
                    if let Some((b, a)) = undo.pop() {
                        cur = b.clone();
                        redo.push((b, a));
                    }
                }
                Edit::Redo => {
                    let c = d.redo().unwrap();
                    prop_assert_eq!(c.is_some(), !redo.is_empty());
                    if let Some((b, a)) = redo.pop() {
                        cur = a.clone();
                        undo.push((b, a));
                    }
                }
                _ => {}
            }
            prop_assert_eq!(d.text(), cur.text.iter().collect::<String>());
            prop_assert_eq!(d.len_chars(), cur.text.len());
            for k in KEYS {
                prop_assert_eq!(d.map_get(k), cur.map.get(k));
            }
            prop_assert_eq!(d.map_keys().collect::<Vec<_>>(), cur.map.keys().copied().collect::<Vec<_>>());
            prop_assert_eq!(d.can_undo(), !undo.is_empty());
            prop_assert_eq!(d.can_redo(), !redo.is_empty());
        }
        let n = cur.text.len();
        prop_assert_eq!(d.slice(n / 3, 2 * n / 3), cur.text[n / 3..2 * n / 3].iter().collect::<String>());
        d.check();
    }

    /// An anchor keeps pointing at its char while every replica edits around it and
    /// changes arrive in pieces.
    #[test]
    fn anchors_follow_their_char(
        base in "[a-z]{3,20}",
        at in any::<usize>(),
        edits in prop::collection::vec((0..3usize, any::<bool>(), any::<usize>(), prop::sample::select(STRINGS), any::<u64>()), 1..40),
    ) {
        let mut docs: Vec<Doc> = IDS[..3].iter().map(|&id| Doc::new(ReplicaId(id))).collect();
        let c = typed(&mut docs[0], 0, &base);
        for d in &mut docs[1..] {
            d.apply(c.clone()).unwrap();
        }
        let at = at % base.len();
        let after = docs[0].anchor(at, Bias::After);
        let before = docs[0].anchor(at + 1, Bias::Before);
        prop_assert_eq!(after.id, before.id);
        let marked = base.as_bytes()[at] as char;
        let check = |d: &Doc| -> Result<usize, TestCaseError> {
            let p = d.resolve(&after).expect("the anchored char is held");
            prop_assert_eq!(d.text().chars().nth(p), Some(marked));
            prop_assert_eq!(d.resolve(&before), Some(p + 1));
            prop_assert_eq!(d.anchor(p, Bias::After), after);
            Ok(p)
        };
        for (r, ins, pos, text, seed) in edits {
            let p = check(&docs[r])?;
            let n = docs[r].len_chars();
            if ins {
                docs[r].insert(pos % (n + 1), text).unwrap();
            } else {
                // Delete a range that leaves the anchored char alone.
                let (lo, hi) = if pos % 2 == 0 { (0, p) } else { (p + 1, n) };
                if hi > lo {
                    let s = lo + pos / 2 % (hi - lo);
                    docs[r].delete(s, (1 + (seed % 4) as usize).min(hi - s)).unwrap();
                }
            }
            docs[r].commit();
            check(&docs[r])?;
            // Some other replica hears of some of it.
            let to = (r + 1 + (seed % 2) as usize) % 3;
            let changes = docs[r].changes_since(docs[to].version());
            let k = (seed >> 8) as usize % (changes.len() + 1);
            for c in changes.into_iter().take(k) {
                docs[to].apply(c).unwrap();
            }
            check(&docs[to])?;
        }
        for _ in 0..2 {
            for from in 0..3 {
                for to in 0..3 {
                    if from != to {
                        let changes = docs[from].changes_since(docs[to].version());
                        for c in changes {
                            docs[to].apply(c).unwrap();
                        }
                    }
                }
            }
        }
        let p = check(&docs[0])?;
        for d in &docs {
            prop_assert_eq!(d.text(), docs[0].text());
            prop_assert_eq!(check(d)?, p);
        }
    }
}

#[test]
fn split_change_round_trips_through_apply() {
    // The test helper itself: split pieces apply to the same result as the whole.
    let mut a = doc(1);
    a.insert(0, "héllo wörld").unwrap();
    a.commit();
    a.delete(6, 3).unwrap();
    for p in (1..4).rev() {
        a.delete(p, 1).unwrap();
    }
    a.map_set("k", Value::Int(3)).unwrap();
    a.commit();
    let whole = a.all_changes();
    assert_eq!(whole.len(), 1);
    let n = whole[0].n_seqs();
    for k in 1..n {
        let (h, t) = split_change(&whole[0], k);
        let mut b = doc(2);
        assert!(b.apply(t).unwrap().buffered);
        assert_eq!(b.apply(h).unwrap().applied, 2);
        assert_eq!(b.text(), a.text(), "split after {k}");
        assert_eq!(b.map_get("k"), Some(&Value::Int(3)));
    }
}

#[test]
fn undo_reverts_only_own_edits_across_replicas() {
    let mut w = World::new(3);
    w.docs[0].insert(0, "hello").unwrap();
    w.commit(0);
    w.sync_all();
    w.docs[1].insert(5, " world").unwrap();
    w.docs[1].map_set("title", Value::Str("greeting".into())).unwrap();
    w.commit(1);
    w.sync_all();
    assert_eq!(w.docs[2].text(), "hello world");

    let u = w.docs[0].undo().unwrap().expect("a's insert can be undone");
    assert_eq!(w.docs[0].text(), " world");
    w.pool.push(u);
    w.sync_all();
    for d in &w.docs {
        assert_eq!(d.text(), " world", "a's text is gone, b's stays");
        assert_eq!(d.map_get("title"), Some(&Value::Str("greeting".into())), "b's map write stays");
    }
    assert_eq!(w.docs[0].undo().unwrap(), None, "a has nothing more to undo");

    let r = w.docs[0].redo().unwrap().expect("redo");
    w.pool.push(r);
    w.sync_all();
    for d in &w.docs {
        assert_eq!(d.text(), "hello world");
    }
    w.check_converged();
    w.check_encodings();
}

#[test]
fn concurrent_undo_and_edit_converge() {
    let mut w = World::new(2);
    w.docs[0].insert(0, "abc").unwrap();
    w.commit(0);
    w.sync_all();
    // b types inside a's word while a undoes it.
    w.docs[1].insert(2, "XY").unwrap();
    w.commit(1);
    let u = w.docs[0].undo().unwrap().unwrap();
    w.pool.push(u);
    w.sync_all();
    for d in &w.docs {
        assert_eq!(d.text(), "XY", "a's chars are gone, b's concurrent ones stay");
    }
    let r = w.docs[0].redo().unwrap().unwrap();
    w.pool.push(r);
    w.sync_all();
    for d in &w.docs {
        assert_eq!(d.text(), "abXYc");
    }
    w.check_converged();
}

#[test]
fn deleted_anchors_stay_where_their_char_was() {
    let mut a = doc(1);
    let mut b = doc(2);
    b.apply(typed(&mut a, 0, "hello world")).unwrap();
    let w_after = a.anchor(6, Bias::After);
    let o_before = a.anchor(5, Bias::Before);
    let start = a.anchor(0, Bias::Before);
    let end = a.anchor(11, Bias::After);
    assert_eq!((start.id, end.id), (None, None));
    b.delete(4, 3).unwrap(); // "o w"
    b.insert(0, ">> ").unwrap();
    a.apply(b.commit().unwrap()).unwrap();
    assert_eq!(a.text(), ">> hellorld");
    for d in [&a, &b] {
        assert_eq!(d.resolve(&w_after), Some(7), "before the char that followed it");
        assert_eq!(d.resolve(&o_before), Some(7), "after the char that preceded it");
        assert_eq!(d.resolve(&start), Some(0));
        assert_eq!(d.resolve(&end), Some(11));
    }
    let unknown = Anchor { id: Some(OpId::new(ReplicaId(77), 1)), bias: Bias::After };
    assert_eq!(a.resolve(&unknown), None);
}

/// The undo history saved with `undo_state` and restored after a reload must keep
/// working like the live one, also when a restored run of chars spans chars typed by two
/// replicas.
#[test]
fn undo_history_survives_reload_when_restored_chars_span_replicas() {
    let mut a = doc(1);
    let mut b = doc(2);
    b.apply(typed(&mut a, 0, "ab")).unwrap();
    typed(&mut b, 2, "cd"); // step 1: b's own "cd"
    b.delete(0, 4).unwrap(); // step 2: delete a's "ab" and b's "cd" at once
    b.commit().unwrap();
    b.undo().unwrap().expect("undo the delete");
    assert_eq!(b.text(), "abcd");

    let state = b.undo_state();
    let mut reloaded = encoding::decode_doc(&encoding::encode_doc(&b), b.replica()).unwrap();
    reloaded.restore_undo_state(&encoding::decode_undo(&encoding::encode_undo(&state)).unwrap());
    let restored = reloaded.undo_state();

    // Undoing step 1 removes b's "cd" (re-created by the first undo), live or reloaded.
    b.undo().unwrap().expect("undo the typing");
    assert_eq!(b.text(), "ab");
    let undone = reloaded.undo().unwrap();
    assert!(undone.is_some(), "the reloaded replica cannot undo the typing: {restored:?}");
    assert_eq!(reloaded.text(), "ab");
    assert_eq!(restored, state, "the restored history equals the saved one");
}
