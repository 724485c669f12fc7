//! Insert origins from peers that lie, and time travel over hostile histories.
//!
//! An insert's origins must be neighbours in the document its author saw (its causal
//! past and its own earlier ops): the left one before the right one, and nothing the
//! author saw between them. Every replica must refuse the same inserts whatever else it
//! holds, and stay as it was when it refuses one. [`Doc::text_at`] must give the text
//! each version had, at a cost that follows the history's runs, not its ops.

use crate::{Lcg, doc, feed, prop_config, typed};
use proptest::prelude::*;
use tandem_crdt::{ApplyOutcome, Change, Doc, Error, InvalidReason, Op, OpId, ReplicaId, VectorClock};

const R1: ReplicaId = ReplicaId(1);
const R3: ReplicaId = ReplicaId(3);

/// An insert op.
fn ins(left: Option<OpId>, right: Option<OpId>, text: &str) -> Op {
    Op::Insert { origin_left: left, origin_right: right, text: text.into() }
}

/// An op id.
fn id(replica: ReplicaId, seq: u64) -> OpId {
    OpId::new(replica, seq)
}

/// The reason of an `InvalidChange`, or a panic naming what came instead.
fn reason(r: Result<ApplyOutcome, Error>) -> InvalidReason {
    match r {
        Err(Error::InvalidChange { reason, .. }) => reason,
        other => panic!("expected InvalidChange, got {other:?}"),
    }
}

/// R1's "abc" (ops 1..=3) and R2's "X" typed between `a` and `b` after seeing it.
fn abc_and_concurrent_x() -> (Change, Change) {
    let mut a = doc(1);
    let abc = typed(&mut a, 0, "abc");
    let mut b = doc(2);
    b.apply(abc.clone()).unwrap();
    let x = typed(&mut b, 1, "X");
    (abc, x)
}

/// A change by R3 that saw R1's "abc" and nothing else.
fn by_r3(ops: Vec<Op>) -> Change {
    Change { time: 0, author: R3, start_seq: 1, deps: vec![id(R1, 3)], lamport: 4, ops }
}

/// Replicas in different states that may receive a change by R3 on top of "abc": one
/// holding "abc", one holding R2's concurrent "X" too, and fresh ones that get it before
/// its deps.
struct Replicas {
    abc: Change,
    x: Change,
}

impl Replicas {
    /// Feeds `c` to each kind of replica; returns each one's outcome (whether it took
    /// the change) and final text.
    fn feed(&self, c: &Change) -> Vec<(bool, String)> {
        let mut out = Vec::new();
        let mut only_abc = doc(7);
        only_abc.apply(self.abc.clone()).unwrap();
        let r = only_abc.apply(c.clone());
        out.push((r.is_ok(), only_abc.text()));
        let mut with_x = doc(8);
        with_x.apply(self.abc.clone()).unwrap();
        with_x.apply(self.x.clone()).unwrap();
        let before = (with_x.text(), with_x.version().clone());
        let r = with_x.apply(c.clone());
        if r.is_err() {
            assert_eq!((with_x.text(), with_x.version().clone()), before, "a refused change changed nothing");
        }
        with_x.check();
        out.push((r.is_ok(), with_x.text()));
        // Before its deps: it waits, and is applied or dropped when they come.
        let mut fresh = doc(9);
        assert!(fresh.apply(c.clone()).unwrap().buffered);
        fresh.apply(self.x.clone()).unwrap();
        let o = fresh.apply(self.abc.clone()).unwrap();
        assert_eq!(o.applied + o.rejected, 3);
        out.push((o.rejected == 0, fresh.text()));
        fresh.check();
        // Every replica that took it and also holds "X" shows the same text.
        assert_eq!(out[1].0, out[2].0);
        if out[1].0 {
            assert_eq!(out[1].1, out[2].1);
        }
        out
    }
}

#[test]
fn inserts_whose_origins_are_not_neighbours_are_refused_by_every_replica() {
    let (abc, x) = abc_and_concurrent_x();
    let replicas = Replicas { abc: abc.clone(), x };
    let (a, b, c) = (Some(id(R1, 1)), Some(id(R1, 2)), Some(id(R1, 3)));
    let own = |seq| Some(id(R3, seq));
    let bad = vec![
        ("b lies between a and c", vec![ins(a, c, "!")]),
        ("the right origin comes before the left one", vec![ins(c, a, "!")]),
        ("a lies between the start and b", vec![ins(None, b, "!")]),
        ("b and c lie between a and the end", vec![ins(a, None, "!")]),
        ("the right origin is the left one", vec![ins(b, b, "!")]),
        ("the change's own run lies between a and b", vec![ins(a, b, "12"), ins(a, b, "3")]),
        ("the change's own 2 lies between its 1 and b", vec![ins(a, b, "12"), ins(own(1), b, "3")]),
        ("its own 1 comes before its 2 only", vec![ins(a, b, "12"), ins(own(2), own(1), "3")]),
        ("its own run lies between the start and b", vec![ins(a, b, "12"), ins(None, b, "3")]),
    ];
    for (what, ops) in bad {
        let change = by_r3(ops);
        let mut d = doc(7);
        d.apply(abc.clone()).unwrap();
        let r = reason(d.apply(change.clone()));
        assert!(matches!(r, InvalidReason::InconsistentOrigins { .. }), "{what}: {r:?}");
        assert_eq!(d.text(), "abc", "{what}");
        for (k, (took, text)) in replicas.feed(&change).into_iter().enumerate() {
            assert!(!took, "{what}: replica {k} took it");
            assert!(text == "abc" || text == "aXbc", "{what}: replica {k} shows {text}");
        }
    }
    assert_eq!(
        reason({
            let mut d = doc(7);
            d.apply(abc.clone()).unwrap();
            d.apply(by_r3(vec![ins(a, c, "!")]))
        }),
        InvalidReason::InconsistentOrigins { left: a, right: c }
    );

    let good = vec![
        ("between a and b", vec![ins(a, b, "!")], "a!bc"),
        ("at the start", vec![ins(None, a, "!")], "!abc"),
        ("at the end", vec![ins(c, None, "!")], "abc!"),
        (
            "around and inside its own run",
            vec![ins(a, b, "12"), ins(own(1), own(2), "3"), ins(own(2), b, "4"), ins(a, own(1), "0")],
            "a01324bc",
        ),
        ("after its own run's end", vec![ins(c, None, "12"), ins(own(2), None, "3")], "abc123"),
    ];
    for (what, ops, want) in good {
        let change = by_r3(ops);
        for (k, (took, text)) in replicas.feed(&change).into_iter().enumerate() {
            assert!(took, "{what}: replica {k} refused it");
            if k == 0 {
                assert_eq!(text, want, "{what}");
            }
        }
    }
}

#[test]
fn concurrent_items_between_the_origins_are_allowed() {
    // R2's "X" between a and b is concurrent with R3's insert between them.
    let (abc, x) = abc_and_concurrent_x();
    let change = by_r3(vec![ins(Some(id(R1, 1)), Some(id(R1, 2)), "!")]);
    let mut texts = Vec::new();
    for order in [[&abc, &x, &change], [&abc, &change, &x], [&change, &x, &abc]] {
        let mut d = doc(7);
        for c in order {
            d.apply((*c).clone()).unwrap();
        }
        d.check();
        texts.push(d.text());
    }
    assert!(texts.iter().all(|t| t == &texts[0]), "{texts:?}");
    assert_eq!(texts[0].chars().count(), 5);
}

/// Honest edits by three replicas that sync now and then: typing, deleting forwards and
/// backspacing. Returns every change made, in causal order.
fn honest_history(rng: &mut Lcg, steps: usize) -> Vec<Change> {
    let mut docs: Vec<Doc> = (1..=3).map(doc).collect();
    let mut changes = Vec::new();
    for _ in 0..steps {
        let i = rng.below(3) as usize;
        let len = docs[i].len_chars();
        match rng.below(5) {
            0 => {
                let j = rng.below(3) as usize;
                if i != j {
                    for c in docs[j].changes_since(docs[i].version()) {
                        docs[i].apply(c).unwrap();
                    }
                }
            }
            1 if len > 0 => {
                let pos = rng.below(len as u64) as usize;
                docs[i].delete(pos, 1 + rng.below((len - pos).min(3) as u64) as usize).unwrap();
                changes.push(docs[i].commit().unwrap());
            }
            2 if len > 0 => {
                // Backspace over up to three chars: a reversed delete run.
                let end = 1 + rng.below(len as u64) as usize;
                for k in 0..(1 + rng.below(3) as usize).min(end) {
                    docs[i].delete(end - 1 - k, 1).unwrap();
                }
                changes.push(docs[i].commit().unwrap());
            }
            _ => {
                let pos = rng.below(len as u64 + 1) as usize;
                let text: String = (0..1 + rng.below(3))
                    .map(|k| (b'a' + ((k + rng.below(20)) % 26) as u8) as char)
                    .collect();
                changes.push(typed(&mut docs[i], pos, &text));
            }
        }
    }
    changes
}

/// The ids of every character inserted by `changes`.
fn inserted(changes: &[Change]) -> Vec<OpId> {
    let mut ids = Vec::new();
    for c in changes {
        let mut seq = c.start_seq;
        for op in &c.ops {
            if let Op::Insert { text, .. } = op {
                ids.extend((0..text.chars().count() as u64).map(|k| id(c.author, seq + k)));
            }
            seq += op.n_seqs();
        }
    }
    ids
}

/// A change by `author` that saw the first `j` honest changes (its deps say so) and
/// inserts up to three runs whose origins are drawn from the characters it saw, its own
/// earlier ones and the document ends: sometimes neighbours, often not. It may also
/// delete characters it saw again, in either direction.
fn with_random_origins(rng: &mut Lcg, author: u64, honest: &[Change]) -> Change {
    let author = ReplicaId(author);
    let j = rng.below(honest.len() as u64 + 1) as usize;
    let seen = &honest[..j];
    let mut version = VectorClock::new();
    let mut lamport = 0;
    for c in seen {
        version.observe(c.author, c.end_seq() - 1);
        lamport = lamport.max(c.lamport + c.n_seqs());
    }
    let held = inserted(seen);
    let mut own: Vec<OpId> = Vec::new();
    let mut ops = Vec::new();
    let mut seq = 1;
    for _ in 0..1 + rng.below(3) {
        if !held.is_empty() && rng.below(4) == 0 {
            let t = held[rng.below(held.len() as u64) as usize];
            let op = Op::Delete { start: t, len: 1, reversed: rng.below(2) == 0 };
            seq += 1;
            ops.push(op);
            continue;
        }
        let pick = |rng: &mut Lcg| -> Option<OpId> {
            match rng.below(4) {
                0 => None,
                1 if !own.is_empty() => Some(own[rng.below(own.len() as u64) as usize]),
                _ if !held.is_empty() => Some(held[rng.below(held.len() as u64) as usize]),
                _ => None,
            }
        };
        let (left, right) = match pick(rng) {
            // Often the next own char as right origin, which is right when nothing was
            // put between them.
            Some(l) if l.replica == author && rng.below(2) == 0 => (Some(l), Some(id(author, l.seq + 1))),
            l => (l, pick(rng)),
        };
        let right = right.filter(|r| r.replica != author || own.contains(r));
        let n = 1 + rng.below(2);
        let text: String = (0..n).map(|k| (b'A' + ((seq + k) % 26) as u8) as char).collect();
        ops.push(ins(left, right, &text));
        own.extend((0..n).map(|k| id(author, seq + k)));
        seq += n;
    }
    Change {
        time: 0,
        author,
        start_seq: 1,
        deps: version.iter().map(|(r, s)| id(r, s)).collect(),
        lamport: lamport + 1,
        ops,
    }
}

proptest! {
    #![proptest_config(prop_config(64, "proptest-regressions/it/origins.txt"))]

    /// Replicas fed the same honest changes and changes with random origins, in
    /// different orders, take the same changes and end with the same text.
    #[test]
    fn random_origins_are_refused_or_taken_alike_whatever_the_order(
        seed in any::<u64>(),
        steps in 4usize..30,
        n_forged in 1usize..10,
    ) {
        let mut rng = Lcg(seed);
        let honest = honest_history(&mut rng, steps);
        prop_assume!(!honest.is_empty());
        let mut changes = honest.clone();
        for k in 0..n_forged {
            changes.push(with_random_origins(&mut rng, 100 + k as u64, &honest));
        }
        // In causal order: each honest change after its deps, forged ones last.
        let mut z = doc(9);
        feed(&mut z, &changes);
        let mut order = changes.clone();
        for r in 7..9 {
            rng.shuffle(&mut order);
            let mut x = doc(r);
            feed(&mut x, &order);
            prop_assert_eq!(x.version(), z.version());
            prop_assert_eq!(x.text(), z.text());
            prop_assert_eq!(x.pending_changes(), 0);
            x.check();
        }
        // Forged ones first, then the honest history in causal order.
        let mut w = doc(10);
        feed(&mut w, &changes[honest.len()..]);
        feed(&mut w, &honest);
        prop_assert_eq!(w.version(), z.version());
        prop_assert_eq!(w.text(), z.text());
    }

    /// `text_at` gives the text each version had, at every part of every change
    /// (honest ones, ones with random origins, repeated deletes), in a replica that
    /// received them in another order.
    #[test]
    fn text_at_gives_the_text_of_every_version_along_a_history(
        seed in any::<u64>(),
        steps in 1usize..30,
        n_forged in 0usize..4,
    ) {
        let mut rng = Lcg(seed);
        let honest = honest_history(&mut rng, steps);
        let mut changes = honest.clone();
        for k in 0..n_forged {
            changes.push(with_random_origins(&mut rng, 100 + k as u64, &honest));
        }
        // Repeated deletes of everything typed, forwards and backwards, in one change.
        let typed = inserted(&honest);
        if let Some(&first) = typed.first() {
            let mut all = VectorClock::new();
            for c in &honest {
                all.observe(c.author, c.end_seq() - 1);
            }
            let runs: Vec<Op> = typed
                .iter()
                .filter(|t| t.replica == first.replica)
                .take(4)
                .map(|&t| Op::Delete { start: t, len: 1, reversed: false })
                .chain((0..3).map(|k| Op::Delete { start: first, len: 1, reversed: k % 2 == 0 }))
                .collect();
            let lamport = honest.iter().map(|c| c.lamport + c.n_seqs()).max().unwrap_or(0) + 1;
            changes.push(Change { time: 0,
                author: ReplicaId(200),
                start_seq: 1,
                deps: all.iter().map(|(r, s)| id(r, s)).collect(),
                lamport,
                ops: runs,
            });
        }
        // Only the changes a replica takes (some with random origins are refused).
        let mut judge = doc(19);
        let changes: Vec<Change> = changes.into_iter().filter(|c| judge.apply(c.clone()).is_ok()).collect();
        // Every part of every change applied in turn, each version's text recorded.
        let mut step = doc(20);
        let mut seen: Vec<(VectorClock, String)> = vec![(VectorClock::new(), String::new())];
        for c in &changes {
            for part in c.split(1, 0) {
                step.apply(part).unwrap();
                seen.push((step.version().clone(), step.text()));
            }
        }
        prop_assert_eq!(step.text(), judge.text());
        let mut order = changes.clone();
        rng.shuffle(&mut order);
        let mut d = doc(21);
        feed(&mut d, &order);
        for (version, text) in &seen {
            prop_assert_eq!(&d.text_at(version).unwrap(), text, "at {:?}", version);
        }
        prop_assert_eq!(d.text_at(d.version()).unwrap(), d.text());
    }
}
