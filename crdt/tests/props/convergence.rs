//! Replicas that edit concurrently and exchange changes in any order, duplicated and
//! partially, end with equal text, map, version; old versions read back as they were.

use proptest::prelude::*;
use tandem_crdt::{Bias, Change, Doc, ReplicaId, Value, VectorClock, encoding};

const REPLICAS: usize = 3;
const STRINGS: &[&str] = &["a", "hello", "漢字", "👍🏽", "e\u{301}", "\n", "xyz ", "Ω"];
const KEYS: &[&str] = &["title", "lang", "pinned"];

#[derive(Debug, Clone)]
enum Action {
    Insert { r: usize, pos: usize, text: &'static str },
    Delete { r: usize, pos: usize, len: usize },
    MapSet { r: usize, key: usize, value: Value },
    MapDelete { r: usize, key: usize },
    Commit { r: usize },
    Undo { r: usize },
    Redo { r: usize },
    Sync { from: usize, to: usize, take: usize, seed: u64, dup: bool, split: bool },
    Redeliver { to: usize, idx: usize },
    Snapshot { r: usize },
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-1e9f64..1e9).prop_map(Value::Float),
        prop::sample::select(STRINGS).prop_map(|s| Value::Str(s.to_owned())),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(Value::Bytes),
    ]
}

fn action(undo: bool) -> impl Strategy<Value = Action> {
    let r = 0..REPLICAS;
    prop_oneof![
        6 => (r.clone(), any::<usize>(), prop::sample::select(STRINGS)).prop_map(|(r, pos, text)| Action::Insert { r, pos, text }),
        3 => (r.clone(), any::<usize>(), 1..6usize).prop_map(|(r, pos, len)| Action::Delete { r, pos, len }),
        1 => (r.clone(), 0..KEYS.len(), value()).prop_map(|(r, key, value)| Action::MapSet { r, key, value }),
        1 => (r.clone(), 0..KEYS.len()).prop_map(|(r, key)| Action::MapDelete { r, key }),
        2 => r.clone().prop_map(|r| Action::Commit { r }),
        (if undo { 2 } else { 0 }) => r.clone().prop_map(|r| Action::Undo { r }),
        (if undo { 1 } else { 0 }) => r.clone().prop_map(|r| Action::Redo { r }),
        3 => (r.clone(), r.clone(), 0..8usize, any::<u64>(), any::<bool>(), any::<bool>())
            .prop_map(|(from, to, take, seed, dup, split)| Action::Sync { from, to, take, seed, dup, split }),
        1 => (r.clone(), any::<usize>()).prop_map(|(to, idx)| Action::Redeliver { to, idx }),
        1 => r.prop_map(|r| Action::Snapshot { r }),
    ]
}

/// Splits a change into one change per op (a finer delivery unit).
fn split_ops(c: &Change) -> Vec<Change> {
    let mut out = Vec::new();
    let (mut seq, mut lamport, mut deps) = (c.start_seq, c.lamport, c.deps.clone());
    for op in &c.ops {
        let n = op.n_seqs();
        out.push(Change { author: c.author, start_seq: seq, deps, lamport, ops: vec![op.clone()] });
        seq += n;
        lamport += n;
        deps = vec![tandem_crdt::OpId::new(c.author, seq - 1)];
    }
    out
}

fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        v.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

struct World {
    docs: Vec<Doc>,
    /// Every change ever committed, for redelivery.
    log: Vec<Change>,
    snapshots: Vec<(VectorClock, String)>,
}

impl World {
    fn new() -> World {
        World {
            docs: (0..REPLICAS as u64).map(|i| Doc::new(ReplicaId(0xabc0 + i * 7))).collect(),
            log: Vec::new(),
            snapshots: Vec::new(),
        }
    }

    fn commit(&mut self, r: usize) {
        if let Some(c) = self.docs[r].commit() {
            self.log.push(c);
        }
    }

    fn deliver(&mut self, to: usize, c: Change) {
        self.commit(to);
        let before = self.docs[to].text();
        let out = self.docs[to].apply(c).unwrap();
        if out.duplicate || out.buffered {
            assert_eq!(self.docs[to].text(), before, "a duplicate or buffered change changed the text");
        }
    }

    fn run(&mut self, a: &Action) {
        match a.clone() {
            Action::Insert { r, pos, text } => {
                let pos = pos % (self.docs[r].len_chars() + 1);
                self.docs[r].insert(pos, text).unwrap();
            }
            Action::Delete { r, pos, len } => {
                let n = self.docs[r].len_chars();
                if n > 0 {
                    let pos = pos % n;
                    self.docs[r].delete(pos, len.min(n - pos)).unwrap();
                }
            }
            Action::MapSet { r, key, value } => self.docs[r].map_set(KEYS[key], value).unwrap(),
            Action::MapDelete { r, key } => self.docs[r].map_delete(KEYS[key]).unwrap(),
            Action::Commit { r } => self.commit(r),
            Action::Undo { r } => {
                self.commit(r);
                if let Some(c) = self.docs[r].undo().unwrap() {
                    self.log.push(c);
                }
            }
            Action::Redo { r } => {
                self.commit(r);
                if let Some(c) = self.docs[r].redo().unwrap() {
                    self.log.push(c);
                }
            }
            Action::Sync { from, to, take, seed, dup, split } => {
                if from == to {
                    return;
                }
                self.commit(from);
                let mut changes = self.docs[from].changes_since(self.docs[to].version());
                if split {
                    changes = changes.iter().flat_map(split_ops).collect();
                }
                shuffle(&mut changes, seed);
                changes.truncate(if take == 0 { changes.len() } else { take });
                if dup && !changes.is_empty() {
                    changes.push(changes[0].clone());
                }
                for c in changes {
                    self.deliver(to, c);
                }
            }
            Action::Redeliver { to, idx } => {
                if !self.log.is_empty() {
                    let c = self.log[idx % self.log.len()].clone();
                    self.deliver(to, c);
                }
            }
            Action::Snapshot { r } => {
                self.commit(r);
                self.snapshots.push((self.docs[r].version().clone(), self.docs[r].text()));
            }
        }
    }

    fn sync_all(&mut self) {
        for r in 0..REPLICAS {
            self.commit(r);
        }
        for _round in 0..3 {
            for a in 0..REPLICAS {
                for b in 0..REPLICAS {
                    if a != b {
                        for c in self.docs[a].changes_since(self.docs[b].version()) {
                            self.docs[b].apply(c).unwrap();
                        }
                    }
                }
            }
        }
    }

    fn check_converged(&self) {
        let first = &self.docs[0];
        for d in &self.docs {
            d.check();
            assert_eq!(d.pending_changes(), 0, "everything delivered");
            assert_eq!(d.text(), first.text());
            assert_eq!(d.version(), first.version());
            for k in KEYS {
                assert_eq!(d.map_get(k), first.map_get(k), "map key {k}");
                assert_eq!(d.map_values(k), first.map_values(k), "concurrent values of {k}");
            }
        }
        for (version, text) in &self.snapshots {
            for d in &self.docs {
                assert_eq!(&d.text_at(version).unwrap(), text, "time travel to {version:?}");
            }
        }
        // The encodings rebuild the same replica.
        let bytes = encoding::encode_doc(first);
        let loaded = encoding::decode_doc(&bytes, ReplicaId(1)).unwrap();
        loaded.check();
        assert_eq!(loaded.text(), first.text());
        assert_eq!(loaded.version(), first.version());
        for k in KEYS {
            assert_eq!(loaded.map_values(k), first.map_values(k));
        }
        let changes = first.all_changes();
        assert_eq!(encoding::decode_changes(&encoding::encode_changes(&changes)).unwrap(), changes);
        for c in &self.log {
            assert_eq!(&encoding::decode_change(&encoding::encode_change(c)).unwrap(), c);
        }
    }
}

fn run_and_converge(actions: &[Action]) {
    let mut w = World::new();
    for a in actions {
        w.run(a);
    }
    w.sync_all();
    w.check_converged();
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(96)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge(actions in prop::collection::vec(action(false), 1..80)) {
        run_and_converge(&actions);
    }

    #[test]
    fn replicas_converge_with_undo_and_redo(actions in prop::collection::vec(action(true), 1..80)) {
        run_and_converge(&actions);
    }

    /// A single replica against a plain vector of chars.
    #[test]
    fn local_edits_match_a_model(edits in prop::collection::vec((any::<bool>(), any::<usize>(), 1..5usize, prop::sample::select(STRINGS)), 1..150)) {
        let mut doc = Doc::new(ReplicaId(1));
        let mut model: Vec<char> = Vec::new();
        for (i, (ins, pos, len, text)) in edits.into_iter().enumerate() {
            if ins || model.is_empty() {
                let pos = pos % (model.len() + 1);
                doc.insert(pos, text).unwrap();
                model.splice(pos..pos, text.chars());
            } else {
                let pos = pos % model.len();
                let len = len.min(model.len() - pos);
                doc.delete(pos, len).unwrap();
                model.drain(pos..pos + len);
            }
            if i % 7 == 0 {
                doc.commit();
            }
            prop_assert_eq!(doc.text(), model.iter().collect::<String>());
            prop_assert_eq!(doc.len_chars(), model.len());
        }
        let a = model.len() / 3;
        let b = model.len() * 2 / 3;
        prop_assert_eq!(doc.slice(a, b), model[a..b].iter().collect::<String>());
        doc.check();
    }

    /// An anchor keeps pointing at its character while others edit around it.
    #[test]
    fn anchors_follow_their_character(
        base in "[a-z]{5,30}",
        at in any::<usize>(),
        edits in prop::collection::vec((any::<bool>(), any::<usize>(), prop::sample::select(STRINGS)), 1..30),
    ) {
        let mut a = Doc::new(ReplicaId(1));
        let mut b = Doc::new(ReplicaId(2));
        a.insert(0, &base).unwrap();
        b.apply(a.commit().unwrap()).unwrap();
        let at = at % base.len();
        let marked = base.chars().nth(at).unwrap();
        let anchor = a.anchor(at, Bias::After);
        for (ins, pos, text) in edits {
            let n = b.len_chars();
            let anchored = a.resolve(&anchor).unwrap();
            if ins {
                b.insert(pos % (n + 1), text).unwrap();
            } else if n > 1 {
                // Delete anything but the anchored char.
                let pos = pos % n;
                if pos != anchored {
                    b.delete(pos, 1).unwrap();
                }
            }
            if let Some(c) = b.commit() {
                a.apply(c).unwrap();
            }
            let p = a.resolve(&anchor).unwrap();
            prop_assert_eq!(a.text().chars().nth(p), Some(marked));
        }
    }
}

#[test]
fn undo_only_undoes_own_edits_across_replicas() {
    let mut w = World::new();
    w.docs[0].insert(0, "hello").unwrap();
    w.sync_all();
    w.docs[1].insert(5, " world").unwrap();
    w.sync_all();
    let u = w.docs[0].undo().unwrap().expect("undo");
    w.log.push(u);
    w.sync_all();
    for d in &w.docs {
        assert_eq!(d.text(), " world");
    }
    let r = w.docs[0].redo().unwrap().expect("redo");
    w.log.push(r);
    w.sync_all();
    for d in &w.docs {
        assert_eq!(d.text(), "hello world");
    }
}
