//! Changes from hostile or broken peers: references outside a change's causal past,
//! Lamport times that go backwards, changes that are cheap to send but would be costly
//! to check, changes over the size limits, a flooded causal buffer, and authors who give
//! the same seqs different contents (equivocation). Every replica must refuse the same
//! changes whatever the arrival order, and stay as it was when it refuses one.

use crate::{Lcg, doc, feed, prop_config, typed};
use proptest::prelude::*;
use std::time::{Duration, Instant};
use tandem_crdt::{
    ApplyOutcome, Change, Config, Doc, Error, InvalidReason, Op, OpId, ReplicaId, VectorClock,
};

const R1: ReplicaId = ReplicaId(1);
const R2: ReplicaId = ReplicaId(2);

/// An insert op.
fn ins(left: Option<OpId>, right: Option<OpId>, text: &str) -> Op {
    Op::Insert { origin_left: left, origin_right: right, text: text.into() }
}

/// A forward delete op.
fn del(replica: ReplicaId, seq: u64, len: u64) -> Op {
    Op::Delete { start: OpId::new(replica, seq), len, reversed: false }
}

/// A map write.
fn map_write() -> Op {
    Op::MapSet { key: "k".into(), value: None }
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

/// R1's "hello" (ops 1..=5, Lamport 1..=5).
fn hello() -> Change {
    let mut a = doc(1);
    typed(&mut a, 0, "hello")
}

#[test]
fn a_change_naming_an_op_outside_its_causal_past_is_refused_by_every_replica() {
    let c1 = hello();
    // R2 claims to have seen nothing, yet inserts after R1's third char.
    let forged = Change {
        time: 0,
        author: R2,
        start_seq: 1,
        deps: vec![],
        lamport: 1,
        ops: vec![ins(Some(id(R1, 3)), None, "!")],
    };

    // A replica that holds "hello" refuses it.
    let mut holder = doc(3);
    holder.apply(c1.clone()).unwrap();
    assert_eq!(reason(holder.apply(forged.clone())), InvalidReason::NotInCausalPast(id(R1, 3)));
    assert_eq!(holder.text(), "hello");
    holder.check();

    // A fresh replica given both changes, in either order, refuses it too.
    for forged_first in [true, false] {
        let mut fresh = doc(4);
        if forged_first {
            assert!(fresh.apply(forged.clone()).is_err());
            fresh.apply(c1.clone()).unwrap();
        } else {
            fresh.apply(c1.clone()).unwrap();
            assert!(fresh.apply(forged.clone()).is_err());
        }
        assert_eq!(fresh.text(), "hello");
        assert_eq!(fresh.version(), holder.version());
    }

    // A delete of an op outside the causal past is refused the same way; once the
    // deps name it, both are fine.
    let forged_del = Change { ops: vec![del(R1, 2, 2)], ..forged.clone() };
    assert_eq!(reason(holder.apply(forged_del)), InvalidReason::NotInCausalPast(id(R1, 2)));
    let honest = Change {
        deps: vec![id(R1, 5)],
        lamport: 6,
        ops: vec![ins(Some(id(R1, 5)), None, "!")],
        ..forged.clone()
    };
    assert_eq!(holder.apply(honest).unwrap().applied, 1);
    let honest_del =
        Change { start_seq: 2, deps: vec![id(R2, 1)], lamport: 7, ops: vec![del(R1, 2, 2)], ..forged };
    assert_eq!(holder.apply(honest_del).unwrap().applied, 1);
    assert_eq!(holder.text(), "hlo!");
    holder.check();
}

#[test]
fn a_reference_to_an_op_concurrent_with_the_deps_is_refused() {
    // R1 types "ab", R2 concurrently "xy"; R3 sees only R1's ops but names R2's.
    let mut a = doc(1);
    let ca = typed(&mut a, 0, "ab");
    let mut b = doc(2);
    let cb = typed(&mut b, 0, "xy");
    let forged = Change {
        time: 0,
        author: ReplicaId(3),
        start_seq: 1,
        deps: vec![id(R1, 2)],
        lamport: 3,
        ops: vec![ins(Some(id(R1, 2)), Some(id(R2, 1)), "!")],
    };
    for order in [[ca.clone(), cb.clone()], [cb.clone(), ca.clone()]] {
        let mut d = doc(4);
        for c in order {
            d.apply(c).unwrap();
        }
        assert_eq!(reason(d.apply(forged.clone())), InvalidReason::NotInCausalPast(id(R2, 1)));
        d.check();
    }
}

#[test]
fn a_change_whose_lamport_is_not_after_its_deps_is_refused() {
    let mut d = doc(3);
    d.apply(hello()).unwrap();
    let c0 = Change {
        time: 0,
        author: R2,
        start_seq: 1,
        deps: vec![id(R1, 5)],
        lamport: 6,
        ops: vec![ins(Some(id(R1, 5)), None, "!")],
    };
    for lamport in [1, 4, 5] {
        let c = Change { lamport, ..c0.clone() };
        assert_eq!(reason(d.apply(c)), InvalidReason::LamportNotAfterDeps, "lamport {lamport}");
        assert_eq!(d.text(), "hello");
    }
    let ok = Change { lamport: 6, ..c0 };
    assert_eq!(d.apply(ok).unwrap().applied, 1);
    assert_eq!(d.text(), "hello!");
}

#[test]
fn a_change_must_follow_its_authors_previous_op() {
    let mut a = doc(1);
    let c1 = typed(&mut a, 0, "ab");
    let mut d = doc(3);
    d.apply(c1).unwrap();
    // Seq 3 of R1 whose deps do not include R1's op 2.
    let c = Change {
        time: 0,
        author: R1,
        start_seq: 3,
        deps: vec![],
        lamport: 3,
        ops: vec![ins(None, None, "c")],
    };
    assert_eq!(reason(d.apply(c)), InvalidReason::PreviousOpNotInPast);
    assert_eq!(d.text(), "ab");
}

/// Honest edits by three replicas that sync now and then; returns every change made.
fn honest_history(rng: &mut Lcg, steps: usize) -> (Vec<Change>, VectorClock) {
    let mut docs: Vec<Doc> = (1..=3).map(doc).collect();
    let mut changes = Vec::new();
    for _ in 0..steps {
        let i = rng.below(3) as usize;
        match rng.below(4) {
            0 => {
                let j = rng.below(3) as usize;
                if i != j {
                    let (from, to) = if i < j {
                        let (l, r) = docs.split_at_mut(j);
                        (&r[0], &mut l[i])
                    } else {
                        let (l, r) = docs.split_at_mut(i);
                        (&l[j], &mut r[0])
                    };
                    for c in from.changes_since(to.version()) {
                        to.apply(c).unwrap();
                    }
                }
            }
            1 if docs[i].len_chars() > 0 => {
                let len = docs[i].len_chars();
                let pos = rng.below(len as u64) as usize;
                let n = 1 + rng.below((len - pos).min(3) as u64) as usize;
                docs[i].delete(pos, n).unwrap();
                changes.push(docs[i].commit().unwrap());
            }
            _ => {
                let pos = rng.below(docs[i].len_chars() as u64 + 1) as usize;
                let text: String = (0..1 + rng.below(3))
                    .map(|k| (b'a' + ((k + rng.below(20)) % 26) as u8) as char)
                    .collect();
                changes.push(typed(&mut docs[i], pos, &text));
            }
        }
    }
    let mut all = VectorClock::new();
    for d in &docs {
        all.merge(d.version());
    }
    (changes, all)
}

/// A change by a fresh author that saw the first `j` honest changes and made one edit,
/// then lied about what it saw: random deps (ops it holds) and a random Lamport time.
/// Valid or not depending on the causal past its deps give it. (Its origins are those
/// of a real edit, so they are consistent with the document order.)
fn forged(rng: &mut Lcg, author: u64, honest: &[Change]) -> Change {
    let mut f = doc(author);
    let j = rng.below(honest.len() as u64 + 1) as usize;
    for c in &honest[..j] {
        f.apply(c.clone()).unwrap();
    }
    let held: Vec<(ReplicaId, u64)> = f.version().iter().collect();
    let len = f.len_chars();
    let mut c = if len > 0 && rng.below(3) == 0 {
        let pos = rng.below(len as u64) as usize;
        f.delete(pos, 1 + rng.below((len - pos).min(2) as u64) as usize).unwrap();
        f.commit().unwrap()
    } else {
        typed(&mut f, rng.below(len as u64 + 1) as usize, "Z")
    };
    if !held.is_empty() && rng.below(4) != 0 {
        c.deps = (0..rng.below(3))
            .map(|_| {
                let (r, n) = held[rng.below(held.len() as u64) as usize];
                id(r, 1 + rng.below(n))
            })
            .collect();
    }
    if rng.below(2) == 0 {
        c.lamport = 1 + rng.below(40);
    }
    c
}

proptest! {
    #![proptest_config(prop_config(48, "proptest-regressions/it/hostile.txt"))]

    /// Two replicas fed the same honest and forged changes in different orders accept
    /// the same ones and end equal.
    #[test]
    fn acceptance_does_not_depend_on_arrival_order(seed in any::<u64>(), steps in 4usize..40, n_forged in 1usize..12) {
        let mut rng = Lcg(seed);
        let (honest, all) = honest_history(&mut rng, steps);
        prop_assume!(!all.is_empty());
        let mut changes = honest.clone();
        for k in 0..n_forged {
            changes.push(forged(&mut rng, 100 + k as u64, &honest));
        }
        let mut x = doc(7);
        let mut y = doc(8);
        let mut order = changes.clone();
        rng.shuffle(&mut order);
        feed(&mut x, &order);
        rng.shuffle(&mut order);
        feed(&mut y, &order);
        // In causal order too: each honest change after its deps, forged ones last.
        let mut z = doc(9);
        feed(&mut z, &changes);
        for d in [&x, &y] {
            prop_assert_eq!(d.version(), z.version());
            prop_assert_eq!(d.text(), z.text());
            prop_assert_eq!(d.pending_changes(), z.pending_changes());
            d.check();
        }
        for (r, n) in all.iter() {
            prop_assert_eq!(z.version().get(r), n, "every honest op is held");
        }
    }
}

/// Honest edits by `n` authors on long-lived branches: bursts of typing on one branch,
/// now and then one replica merging several branches at once (as in the concurrent
/// histories `tandem trace --generate conc:SEED` makes). Returns every change made and
/// the version of all of them.
fn branchy_history(rng: &mut Lcg, n: usize, steps: usize) -> (Vec<Change>, VectorClock) {
    let mut docs: Vec<Doc> = (1..=n as u64).map(doc).collect();
    let mut changes = Vec::new();
    for _ in 0..steps {
        let i = rng.below(n as u64) as usize;
        if rng.below(8) == 0 {
            for _ in 0..2 + rng.below(4) {
                let j = rng.below(n as u64) as usize;
                if j != i {
                    let from: Vec<Change> = docs[j].changes_since(docs[i].version());
                    for c in from {
                        docs[i].apply(c).unwrap();
                    }
                }
            }
            continue;
        }
        let mut pos = rng.below(docs[i].len_chars() as u64 + 1) as usize;
        for _ in 0..1 + rng.below(4) {
            let len = docs[i].len_chars();
            pos = pos.min(len);
            if pos > 0 && rng.below(4) == 0 {
                pos -= 1;
                docs[i].delete(pos, 1).unwrap();
                changes.push(docs[i].commit().unwrap());
            } else {
                changes.push(typed(&mut docs[i], pos, "ab"));
                pos += 2;
            }
        }
    }
    let mut all = VectorClock::new();
    for d in &docs {
        all.merge(d.version());
    }
    (changes, all)
}

proptest! {
    #![proptest_config(prop_config(32, "proptest-regressions/it/hostile.txt"))]

    /// Many authors on long-lived branches, merged several at a time, with forged
    /// changes: replicas fed the changes in any order accept the same ones, hold every
    /// honest op and end equal (the causal past of a branch's change is found through
    /// its run's parents and a cache, which must give what a full walk gives).
    #[test]
    fn branchy_histories_are_accepted_the_same_in_any_order(seed in any::<u64>(), n in 3usize..12, steps in 10usize..80, n_forged in 0usize..8) {
        let mut rng = Lcg(seed);
        let (honest, all) = branchy_history(&mut rng, n, steps);
        let mut changes = honest.clone();
        for k in 0..n_forged {
            changes.push(forged(&mut rng, 100 + k as u64, &honest));
        }
        let mut z = doc(99);
        feed(&mut z, &changes);
        for other in [98u64, 97] {
            let mut order = changes.clone();
            rng.shuffle(&mut order);
            let mut x = doc(other);
            feed(&mut x, &order);
            prop_assert_eq!(x.version(), z.version());
            prop_assert_eq!(x.text(), z.text());
            prop_assert_eq!(x.pending_changes(), z.pending_changes());
            x.check();
        }
        for (r, s) in all.iter() {
            prop_assert_eq!(z.version().get(r), s, "every honest op is held");
        }
        z.check();
    }
}

/// The time `f` takes.
fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

#[test]
fn deleting_a_long_deleted_range_again_and_again_costs_per_run() {
    const N: u64 = 100_000;
    let mut a = doc(1);
    let text = "x".repeat(N as usize);
    let c1 = typed(&mut a, 0, &text);
    a.delete(0, N as usize).unwrap();
    let c2 = a.commit().unwrap();
    let mut d = doc(3);
    d.apply(c1).unwrap();
    d.apply(c2).unwrap();
    // 2,000 deletes of the whole (already deleted) text in one change: 200 million
    // seqs named, 2,000 runs to check.
    let ops: Vec<Op> = (0..2_000).map(|_| del(R1, 1, N)).collect();
    let c = Change { time: 0, author: R2, start_seq: 1, deps: vec![id(R1, 2 * N)], lamport: 2 * N + 1, ops };
    let mut out = None;
    let t = timed(|| out = Some(d.apply(c)));
    assert_eq!(out.unwrap().unwrap().applied, 1);
    assert_eq!(d.text(), "");
    assert!(t < Duration::from_secs(1), "took {t:?}");
    d.check();
}

#[test]
fn a_change_naming_thousands_of_deps_is_checked_quickly() {
    const N: u64 = 60_000;
    let mut a = doc(1);
    let c1 = typed(&mut a, 0, &"x".repeat(N as usize));
    let mut d = doc(3);
    d.apply(c1).unwrap();
    // Every op of R1 as a dep: only the last one is in no other's past.
    let deps: Vec<OpId> = (1..=N).rev().map(|s| id(R1, s)).collect();
    let c = Change {
        time: 0,
        author: R2,
        start_seq: 1,
        deps,
        lamport: N + 1,
        ops: vec![ins(Some(id(R1, N)), None, "!")],
    };
    let mut out = None;
    let t = timed(|| out = Some(d.apply(c)));
    assert_eq!(out.unwrap().unwrap().applied, 1);
    assert!(t < Duration::from_secs(1), "took {t:?}");
    assert_eq!(d.changes_since(a.version())[0].deps, vec![id(R1, N)], "the deps are stored reduced");
}

#[test]
fn a_change_over_the_op_limit_is_refused_naming_the_limit() {
    let mut d = doc(3);
    d.apply(hello()).unwrap();
    let ops: Vec<Op> = (0..11).map(|i| Op::MapSet { key: format!("k{i}"), value: None }).collect();
    let c = Change { time: 0, author: R2, start_seq: 1, deps: vec![id(R1, 5)], lamport: 6, ops };
    d.set_config(Config { max_change_ops: 10, ..Config::default() });
    match d.apply(c.clone()) {
        Err(Error::ChangeTooLarge { limit: "max_change_ops", value: 11, max: 10, change }) => {
            assert_eq!(change, id(R2, 1))
        }
        other => panic!("expected ChangeTooLarge, got {other:?}"),
    }
    assert!(d.map_keys().next().is_none());
    d.set_config(Config::default());
    assert_eq!(d.apply(c).unwrap().applied, 1);
}

#[test]
fn a_change_over_the_byte_limit_is_refused_naming_the_limit() {
    let mut d = doc(3);
    let big = Change {
        time: 0,
        author: R2,
        start_seq: 1,
        deps: vec![],
        lamport: 1,
        ops: vec![ins(None, None, &"y".repeat(2 << 20))],
    };
    match d.apply(big.clone()) {
        Err(Error::ChangeTooLarge { limit: "max_change_bytes", value, max, .. }) => {
            assert_eq!(max, 1 << 20);
            assert_eq!(value, big.estimated_bytes());
            assert!(value > 2 << 20);
        }
        other => panic!("expected ChangeTooLarge, got {other:?}"),
    }
    assert_eq!(d.text(), "");
    assert_eq!(d.pending_changes(), 0);
}

#[test]
fn one_delete_op_may_cover_any_number_of_chars() {
    // 3 MiB typed in four local changes (each under the byte limit when split), then
    // deleted by one op: the delete is one op of a few bytes.
    let mut a = doc(1);
    let mut parts = Vec::new();
    for _ in 0..3 {
        let n = a.len_chars();
        let c = typed(&mut a, n, &"q".repeat(1 << 20));
        parts.extend(c.split(100_000, 1 << 20));
    }
    a.delete(0, 3 << 20).unwrap();
    let d3 = a.commit().unwrap();
    assert_eq!(d3.ops.len(), 1);
    assert!(d3.estimated_bytes() < 200);
    let mut d = doc(3);
    for c in parts {
        d.apply(c).unwrap();
    }
    assert_eq!(d.len_chars(), 3 << 20);
    assert_eq!(d.apply(d3).unwrap().applied, 1);
    assert_eq!(d.text(), "");
    assert_eq!(d.version(), a.version());
}

#[test]
fn a_5mb_insert_split_into_parts_applies_like_the_whole() {
    let mut a = doc(1);
    let base = typed(&mut a, 0, "<>");
    // Mixed widths so that cuts fall between multi-byte chars.
    let text: String = "añ漢👍".chars().cycle().take((5 << 20) * 4 / 10 + 4).collect();
    assert!(text.len() >= 5 << 20);
    a.insert(1, &text).unwrap();
    a.map_set("k", tandem_crdt::Value::Int(3)).unwrap();
    a.delete(0, 1).unwrap();
    let big = a.commit().unwrap();

    let parts = big.split(100_000, 1 << 20);
    assert!(parts.len() >= 5, "{} parts", parts.len());
    let mut seq = big.start_seq;
    for p in &parts {
        assert!(p.ops.len() <= 100_000 && p.estimated_bytes() <= 1 << 20);
        assert_eq!(p.start_seq, seq);
        assert_eq!(p.lamport, big.lamport + (seq - big.start_seq));
        seq = p.end_seq();
    }
    assert_eq!(seq, big.end_seq());
    assert_eq!(parts[0].deps, big.deps);

    let mut whole = Doc::with_config(ReplicaId(3), Config::unbounded());
    whole.apply(base.clone()).unwrap();
    whole.apply(big.clone()).unwrap();
    let mut split = doc(4);
    split.apply(base).unwrap();
    assert!(matches!(split.apply(big), Err(Error::ChangeTooLarge { .. })));
    for p in parts {
        assert_eq!(split.apply(p).unwrap().applied, 1);
    }
    assert_eq!(split.text(), whole.text());
    assert_eq!(split.text(), a.text());
    assert_eq!(split.version(), whole.version());
    assert_eq!(split.map_get("k"), whole.map_get("k"));
    split.check();
}

/// Changes 2.. of a chain by R1, each `n` chars, waiting for change 1.
fn waiting_chain(n: usize, count: usize) -> (Change, Vec<Change>) {
    let mut a = doc(1);
    let first = typed(&mut a, 0, "x");
    let later = (0..count).map(|_| {
        let at = a.len_chars();
        typed(&mut a, at, &"y".repeat(n))
    });
    (first, later.collect())
}

#[test]
fn the_buffer_is_bounded_in_bytes() {
    let (first, later) = waiting_chain(1000, 6);
    let each = later[0].estimated_bytes();
    let config =
        Config { max_pending_bytes_per_author: 3 * each, max_pending_bytes: 100 * each, ..Config::default() };
    let mut d = Doc::with_config(ReplicaId(3), config);
    for c in &later[..3] {
        assert!(d.apply(c.clone()).unwrap().buffered);
    }
    assert_eq!(d.pending_bytes(), 3 * each);
    match d.apply(later[3].clone()) {
        Err(Error::BufferFull { author, author_bytes, change_bytes, pending_bytes, .. }) => {
            assert_eq!((author, author_bytes, change_bytes, pending_bytes), (R1, 3 * each, each, 3 * each));
        }
        other => panic!("expected BufferFull, got {other:?}"),
    }
    // Another author still has room, up to the total.
    d.set_config(Config {
        max_pending_bytes_per_author: 3 * each,
        max_pending_bytes: 4 * each,
        ..Config::default()
    });
    let mut b = doc(2);
    typed(&mut b, 0, "b");
    let b2 = typed(&mut b, 1, &"z".repeat(1000));
    assert!(d.apply(b2).unwrap().buffered);
    let mut e = doc(5);
    typed(&mut e, 0, "e");
    let e2 = typed(&mut e, 1, "w");
    assert!(matches!(d.apply(e2), Err(Error::BufferFull { .. })), "the total is reached");
    assert_eq!(d.pending_changes(), 4);
    assert_eq!(d.apply(first).unwrap().applied, 4);
    assert_eq!(d.pending_changes(), 1);
    assert_eq!(d.pending_bytes(), each);
}

#[test]
fn a_change_already_buffered_is_not_buffered_again() {
    let (first, later) = waiting_chain(3, 2);
    let mut d = doc(3);
    let out = d.apply(later[1].clone()).unwrap();
    assert!(out.buffered && !out.already_buffered);
    let bytes = d.pending_bytes();
    let out = d.apply(later[1].clone()).unwrap();
    assert!(out.buffered && out.already_buffered, "{out:?}");
    assert_eq!(d.pending_changes(), 1);
    assert_eq!(d.pending_bytes(), bytes);
    // A part of a buffered change is already buffered too.
    let part = Change { ops: vec![ins(Some(id(R1, 4)), None, "y")], ..later[1].clone() };
    assert!(d.apply(part).unwrap().already_buffered);
    // A change that adds seqs is new.
    let out = d.apply(later[0].clone()).unwrap();
    assert!(out.buffered && !out.already_buffered);
    assert_eq!(d.apply(first).unwrap().applied, 3);
    assert_eq!(d.text(), "xyyyyyy");
    assert_eq!(d.pending_bytes(), 0);
}

#[test]
fn buffered_changes_expire() {
    let (first, later) = waiting_chain(2, 3);
    let mut d = doc(3);
    d.apply_at(later[2].clone(), 10).unwrap();
    d.apply_at(later[0].clone(), 20).unwrap();
    assert_eq!(d.missing(), [(R1, 5)].into_iter().collect());
    assert_eq!(d.expire_pending(25, 15), 0);
    assert_eq!(d.expire_pending(25, 10), 1, "the one from time 10 is older than 10");
    assert_eq!(d.pending_changes(), 1);
    assert_eq!(d.missing(), [(R1, 1)].into_iter().collect());
    assert_eq!(d.pending_bytes(), later[0].estimated_bytes());
    assert_eq!(d.apply_at(first, 30).unwrap().applied, 2);
    assert_eq!(d.text(), "xyy");
    assert_eq!(d.expire_pending(u64::MAX, 0), 0);
    assert!(d.missing().is_empty());
}

/// A change by R1 from seq `start` with `deps` and `lamport`: one insert of `text`
/// after `left` (to build two versions of the same seqs).
fn version_of(start: u64, deps: Vec<OpId>, lamport: u64, left: Option<OpId>, text: &str) -> Change {
    Change { time: 0, author: R1, start_seq: start, deps, lamport, ops: vec![ins(left, None, text)] }
}

#[test]
fn exact_duplicates_and_overlaps_are_not_equivocation() {
    let mut a = doc(1);
    typed(&mut a, 0, "abc");
    typed(&mut a, 3, "defgh");
    a.delete(1, 3).unwrap();
    a.commit().unwrap();
    let all = a.changes_since(&VectorClock::new());
    let mut d = doc(3);
    for c in &all {
        d.apply(c.clone()).unwrap();
        assert!(d.apply(c.clone()).unwrap().duplicate);
    }
    // Every overlap a peer may serve: from each seq on.
    for s in 0..a.version().get(R1) {
        for c in a.changes_since(&[(R1, s)].into_iter().collect()) {
            assert!(d.apply(c).unwrap().duplicate, "from seq {}", s + 1);
        }
    }
    assert_eq!(d.text(), a.text());
}

#[test]
fn a_different_version_of_held_seqs_is_equivocation() {
    let honest = version_of(1, vec![], 1, None, "abcdefgh");
    let mut d = doc(3);
    d.apply(honest.clone()).unwrap();
    let before = d.version().clone();
    let cases = vec![
        ("other text", version_of(1, vec![], 1, None, "abcdefgX"), 1..9),
        ("other lamport", version_of(1, vec![], 2, None, "abcdefgh"), 1..9),
        ("other deps", Change { deps: vec![id(ReplicaId(9), 1)], ..honest.clone() }, 1..9),
        ("other origin", version_of(3, vec![id(R1, 2)], 3, Some(id(R1, 1)), "cdefghij"), 3..9),
        (
            "a delete instead",
            Change {
                start_seq: 8,
                deps: vec![id(R1, 7)],
                lamport: 8,
                ops: vec![del(R1, 1, 3)],
                ..honest.clone()
            },
            8..9,
        ),
    ];
    for (what, c, seqs) in cases {
        match d.apply(c) {
            Err(Error::Equivocation { author, seqs: s }) => assert_eq!((author, s), (R1, seqs), "{what}"),
            other => panic!("{what}: expected Equivocation, got {other:?}"),
        }
        assert_eq!(d.text(), "abcdefgh", "{what}");
        assert_eq!(d.version(), &before, "{what}");
    }
    // The same seqs with the same content, split differently, are fine.
    let same = version_of(3, vec![id(R1, 2)], 3, Some(id(R1, 2)), "cdefghij");
    assert_eq!(d.apply(same).unwrap().applied, 1);
    assert_eq!(d.text(), "abcdefghij");
}

#[test]
fn held_ops_with_other_deps_inside_an_overlap_are_equivocation() {
    // Held: R1's "ab" (deps none), then "cd" made after R2's op 1 (a map write).
    // Incoming: R1's "abcd" as one change, which says "cd" came right after "ab" and
    // nothing else.
    let r2 = Change { time: 0, author: R2, start_seq: 1, deps: vec![], lamport: 1, ops: vec![map_write()] };
    let mut d = doc(3);
    d.apply(r2).unwrap();
    d.apply(version_of(1, vec![], 1, None, "ab")).unwrap();
    d.apply(version_of(3, vec![id(R1, 2), id(R2, 1)], 3, Some(id(R1, 2)), "cd")).unwrap();
    let text = d.text();
    let whole = version_of(1, vec![], 1, None, "abcd");
    assert_eq!(d.apply(whole), Err(Error::Equivocation { author: R1, seqs: 1..5 }));
    assert_eq!(d.text(), text);
    // What this replica holds, served back, is no equivocation.
    for c in d.changes_since(&VectorClock::new()) {
        assert!(d.apply(c).unwrap().duplicate);
    }
}

#[test]
fn overlapping_ranges_that_differ_are_equivocation() {
    // Held: seqs 1..=7 ("abcdefg"), of which 3..8 came as one change; incoming 5..10
    // whose ops for 5..8 differ.
    let mut d = doc(3);
    d.apply(version_of(1, vec![], 1, None, "ab")).unwrap();
    d.apply(version_of(3, vec![id(R1, 2)], 3, Some(id(R1, 2)), "cdefg")).unwrap();
    let bad = version_of(5, vec![id(R1, 4)], 5, Some(id(R1, 4)), "eXgh!");
    assert_eq!(d.apply(bad), Err(Error::Equivocation { author: R1, seqs: 5..8 }));
    assert_eq!(d.text(), "abcdefg");
    let good = version_of(5, vec![id(R1, 4)], 5, Some(id(R1, 4)), "efgh!");
    assert_eq!(d.apply(good).unwrap().applied, 1);
    assert_eq!(d.text(), "abcdefgh!");
}

#[test]
fn differing_versions_waiting_in_the_buffer_are_equivocation() {
    // Both versions wait for R2's op 1 (a map write).
    let dep = Change { time: 0, author: R2, start_seq: 1, deps: vec![], lamport: 1, ops: vec![map_write()] };
    let v1 = Change {
        time: 0,
        author: R1,
        start_seq: 3,
        deps: vec![id(R1, 2), id(R2, 1)],
        lamport: 3,
        ops: vec![ins(Some(id(R1, 2)), None, "abcdef")],
    };
    let v2 = Change { ops: vec![ins(Some(id(R1, 2)), None, "abcXef")], ..v1.clone() };
    let v3 = Change {
        start_seq: 5,
        deps: vec![id(R1, 4)],
        lamport: 5,
        ops: vec![ins(Some(id(R1, 4)), None, "cdE")],
        ..v1.clone()
    };
    let mut d = doc(3);
    d.apply(version_of(1, vec![], 1, None, "12")).unwrap();
    assert!(d.apply(v1.clone()).unwrap().buffered);
    assert_eq!(d.apply(v2), Err(Error::Equivocation { author: R1, seqs: 3..9 }));
    assert_eq!(d.apply(v3), Err(Error::Equivocation { author: R1, seqs: 5..8 }));
    assert_eq!(d.pending_changes(), 1);
    // The identical overlap is fine, and the first version applies when R2's op comes.
    let v4 = Change {
        start_seq: 5,
        deps: vec![id(R1, 4)],
        lamport: 5,
        ops: vec![ins(Some(id(R1, 4)), None, "cdef")],
        ..v1
    };
    assert!(d.apply(v4).unwrap().already_buffered);
    assert_eq!(d.apply(dep.clone()).unwrap().applied, 2);
    let mut expect = doc(4);
    for c in [version_of(1, vec![], 1, None, "12"), dep, v1] {
        expect.apply(c).unwrap();
    }
    assert_eq!(d.text(), expect.text());
    assert_eq!(d.version(), expect.version());
}

/// An equivocating author's changes: `chunks` typed at the end of its own text, each
/// char `ch`, on a document of its own (no honest ops in its past).
fn equivocator_changes(chunks: &[usize], ch: char) -> Vec<Change> {
    let mut e = doc(50);
    chunks
        .iter()
        .map(|&n| {
            let at = e.len_chars();
            typed(&mut e, at, &ch.to_string().repeat(n))
        })
        .collect()
}

/// Applies `changes` in order: honest changes must apply, the equivocator's may be
/// refused as equivocation only. Returns whether any was.
fn feed_with_equivocator(d: &mut Doc, changes: &[Change]) -> Result<bool, TestCaseError> {
    let mut seen = false;
    for c in changes {
        match d.apply(c.clone()) {
            Ok(_) => {}
            Err(Error::Equivocation { author, .. }) if c.author == ReplicaId(50) => {
                prop_assert_eq!(author, ReplicaId(50));
                seen = true;
            }
            Err(e) => return Err(TestCaseError::fail(format!("{e} for {c:?}"))),
        }
    }
    Ok(seen)
}

proptest! {
    #![proptest_config(prop_config(48, "proptest-regressions/it/hostile.txt"))]

    /// An author sends one version of its seqs to some replicas and another to others.
    /// Each honest replica keeps the version it got first and reports the other as
    /// equivocation; replicas that got the same version first converge, and every
    /// honest change (made without the equivocator's ops) applies everywhere.
    #[test]
    fn honest_replicas_converge_despite_an_equivocating_author(
        seed in any::<u64>(),
        steps in 2usize..30,
        chunks1 in prop::collection::vec(1usize..4, 1..5),
        chunks2 in prop::collection::vec(1usize..4, 1..5),
    ) {
        let mut rng = Lcg(seed);
        let (honest, all) = honest_history(&mut rng, steps);
        let v1 = equivocator_changes(&chunks1, 'X');
        let v2 = equivocator_changes(&chunks2, 'Y');
        let mut replicas = Vec::new();
        for (first, second) in [(&v1, &v2), (&v1, &v2), (&v2, &v1), (&v2, &v1)] {
            let mut rest: Vec<Change> = honest.iter().chain(second.iter()).cloned().collect();
            rng.shuffle(&mut rest);
            let mut d = doc(60 + replicas.len() as u64);
            prop_assert!(!feed_with_equivocator(&mut d, first)?);
            prop_assert!(feed_with_equivocator(&mut d, &rest)?, "the other version is reported");
            for (r, n) in all.iter() {
                prop_assert_eq!(d.version().get(r), n, "every honest op is held");
            }
            d.check();
            replicas.push(d);
        }
        let honest_text = |d: &Doc| d.text().chars().filter(|c| !matches!(c, 'X' | 'Y')).collect::<String>();
        prop_assert_eq!(replicas[0].text(), replicas[1].text());
        prop_assert_eq!(replicas[0].version(), replicas[1].version());
        prop_assert_eq!(replicas[2].text(), replicas[3].text());
        prop_assert_eq!(replicas[2].version(), replicas[3].version());
        prop_assert_eq!(honest_text(&replicas[0]), honest_text(&replicas[2]));
        // The version got first is kept whole.
        let n1 = chunks1.iter().sum::<usize>();
        let n2 = chunks2.iter().sum::<usize>();
        prop_assert_eq!(replicas[0].text().matches('X').count(), n1);
        prop_assert_eq!(replicas[2].text().matches('Y').count(), n2);
    }
}

/// One local edit of a transaction: insert (position seed, text), delete (position and
/// length seeds), or map write.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    Set(u8, i64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), "[a-zñ漢👍]{1,12}").prop_map(|(p, t)| Edit::Insert(p, t)),
        (any::<usize>(), 1usize..6).prop_map(|(p, n)| Edit::Delete(p, n)),
        (0u8..3, any::<i64>()).prop_map(|(k, v)| Edit::Set(k, v)),
    ]
}

proptest! {
    #![proptest_config(prop_config(64, "proptest-regressions/it/hostile.txt"))]

    /// A transaction split into parts under any limits, applied part by part, gives
    /// what the whole change gives.
    #[test]
    fn a_split_change_applies_like_the_whole(
        edits in prop::collection::vec(edit(), 1..30),
        max_ops in 1usize..5,
        max_bytes in 1u64..200,
    ) {
        let mut a = doc(1);
        let base = typed(&mut a, 0, "hello, world");
        for e in &edits {
            let len = a.len_chars();
            match e {
                Edit::Insert(p, t) => a.insert(p % (len + 1), t).unwrap(),
                Edit::Delete(p, n) if len > 0 => {
                    let p = p % len;
                    a.delete(p, (*n).min(len - p)).unwrap();
                }
                Edit::Delete(..) => {}
                Edit::Set(k, v) => a.map_set(&format!("k{k}"), tandem_crdt::Value::Int(*v)).unwrap(),
            }
        }
        let whole = a.commit().unwrap();
        let parts = whole.split(max_ops, max_bytes);
        let mut seq = whole.start_seq;
        for p in &parts {
            prop_assert_eq!(p.author, whole.author);
            prop_assert_eq!(p.start_seq, seq);
            prop_assert!(p.ops.len() <= max_ops);
            // Over the byte limit only when one op alone is: a single char or a
            // delete or map write.
            let alone = p.ops.len() == 1 && (p.n_seqs() == 1 || !matches!(p.ops[0], Op::Insert { .. }));
            prop_assert!(p.estimated_bytes() <= max_bytes || alone, "{} bytes", p.estimated_bytes());
            seq = p.end_seq();
        }
        prop_assert_eq!(seq, whole.end_seq());
        let mut x = Doc::with_config(ReplicaId(3), Config::unbounded());
        x.apply(base.clone()).unwrap();
        x.apply(whole).unwrap();
        let mut y = doc(4);
        y.apply(base).unwrap();
        for p in parts {
            prop_assert_eq!(y.apply(p).unwrap().applied, 1);
        }
        prop_assert_eq!(y.text(), a.text());
        prop_assert_eq!(y.text(), x.text());
        prop_assert_eq!(y.version(), x.version());
        for k in 0..3 {
            let key = format!("k{k}");
            prop_assert_eq!(y.map_values(&key), x.map_values(&key));
        }
        y.check();
    }
}

/// An op with ids drawn from a few replicas and small seqs (including 0).
fn any_op() -> impl Strategy<Value = Op> {
    let oid = (1u64..5, 0u64..12).prop_map(|(r, s)| id(ReplicaId(r), s));
    prop_oneof![
        (prop::option::of(oid.clone()), prop::option::of(oid.clone()), "[a-c漢]{0,3}")
            .prop_map(|(l, r, t)| ins(l, r, &t)),
        (oid, 0u64..6, any::<bool>()).prop_map(|(start, len, reversed)| Op::Delete { start, len, reversed }),
        Just(Op::MapSet { key: "k".into(), value: None }),
    ]
}

/// A change with fields drawn anywhere near the ops a small replica holds, by an author
/// other than the honest ones (1..=3), whose changes it would otherwise contradict.
fn any_change() -> impl Strategy<Value = Change> {
    (
        4u64..6,
        0u64..10,
        prop::collection::vec((1u64..5, 0u64..12).prop_map(|(r, s)| id(ReplicaId(r), s)), 0..3),
        0u64..20,
        prop::collection::vec(any_op(), 0..4),
    )
        .prop_map(|(author, start_seq, deps, lamport, ops)| Change {
            time: 0,
            author: ReplicaId(author),
            start_seq,
            deps,
            lamport,
            ops,
        })
}

proptest! {
    #![proptest_config(prop_config(256, "proptest-regressions/it/hostile.txt"))]

    /// Arbitrary changes never panic, and a refused one leaves the replica as it was.
    #[test]
    fn arbitrary_changes_are_applied_or_refused_cleanly(seed in any::<u64>(), changes in prop::collection::vec(any_change(), 1..12)) {
        let mut rng = Lcg(seed);
        let (honest, _) = honest_history(&mut rng, 12);
        let mut d = doc(7);
        let n = rng.below(honest.len() as u64 + 1) as usize;
        feed(&mut d, &honest[..n]);
        for c in changes {
            let before = (d.text(), d.version().clone(), d.pending_changes(), d.pending_bytes());
            match d.apply(c) {
                Ok(_) => {}
                Err(_) => prop_assert_eq!((d.text(), d.version().clone(), d.pending_changes(), d.pending_bytes()), before),
            }
            d.check();
        }
        feed(&mut d, &honest);
    }
}

proptest! {
    #![proptest_config(prop_config(64, "proptest-regressions/it/hostile.txt"))]

    /// An author's own history compacted with `Change::absorb` holds the same ops seq by
    /// seq: a replica fed the compacted form equals one fed the changes as typed, and
    /// either form arriving after the other is a duplicate, never equivocation.
    #[test]
    fn absorbed_changes_are_the_same_history(edits in proptest::collection::vec((0usize..50, 0u8..4, "[a-z]{1,3}"), 1..60)) {
        let mut author = doc(1);
        let mut typed = Vec::new();
        for (pos, kind, text) in edits {
            let len = author.len_chars();
            if kind == 0 && len > 0 {
                author.delete(pos % len, 1).unwrap();
            } else {
                author.insert(pos % (len + 1), &text).unwrap();
            }
            typed.push(author.commit().unwrap());
        }
        let mut compacted: Vec<Change> = Vec::new();
        for c in &typed {
            if !compacted.last_mut().is_some_and(|last| last.absorb(c)) {
                compacted.push(c.clone());
            }
        }
        prop_assert!(compacted.len() <= typed.len());
        let (mut a, mut b) = (doc(2), doc(3));
        for c in &typed {
            a.apply(c.clone()).unwrap();
        }
        for c in &compacted {
            b.apply(c.clone()).unwrap();
        }
        prop_assert_eq!(a.text(), author.text());
        prop_assert_eq!(b.text(), author.text());
        prop_assert_eq!(a.version(), b.version());
        for c in &compacted {
            prop_assert!(a.apply(c.clone()).unwrap().duplicate);
        }
        for c in &typed {
            prop_assert!(b.apply(c.clone()).unwrap().duplicate);
        }
    }
}
