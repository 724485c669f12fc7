//! The causal buffer: early changes wait and are released by their deps, duplicates and
//! overlaps apply only what is new, the buffer is bounded, and invalid changes change
//! nothing.

use crate::{doc, sync, typed};
use tandem_crdt::{Change, Config, Doc, Error, Op, OpId, ReplicaId, Value, VectorClock, encoding};

const A: ReplicaId = ReplicaId(1);
const B: ReplicaId = ReplicaId(2);

/// What a replica shows: text, version, op count and map.
fn state(d: &Doc) -> (String, VectorClock, usize, Vec<(String, Vec<Value>)>) {
    let map = d.map_keys().map(|k| (k.to_owned(), d.map_values(k).into_iter().cloned().collect())).collect();
    (d.text(), d.version().clone(), d.n_ops(), map)
}

/// Replaces the text of a change's single insert op with its first `n` chars.
fn insert_prefix(c: &Change, n: usize) -> Change {
    let [Op::Insert { origin_left, origin_right, text }] = c.ops.as_slice() else {
        panic!("expected one insert op, got {:?}", c.ops);
    };
    Change {
        ops: vec![Op::Insert {
            origin_left: *origin_left,
            origin_right: *origin_right,
            text: text.chars().take(n).collect(),
        }],
        ..c.clone()
    }
}

#[test]
fn a_change_waits_for_its_deps_and_is_applied_when_they_arrive() {
    let mut a = doc(1);
    let c1 = typed(&mut a, 0, "abc");
    let c2 = typed(&mut a, 3, "def");
    let mut b = doc(2);

    let out = b.apply(c2.clone()).unwrap();
    assert!(out.buffered, "{out:?}");
    assert!(!out.duplicate);
    assert_eq!(out.applied, 0);
    assert_eq!(b.pending_changes(), 1);
    assert_eq!(b.missing(), [(A, 3)].into_iter().collect(), "waits for a's ops 1..=3");
    assert_eq!(b.text(), "");
    assert!(b.version().is_empty());

    let out = b.apply(c1).unwrap();
    assert!(!out.buffered && !out.duplicate);
    assert_eq!(out.applied, 2, "the arrival and the buffered change it released");
    assert_eq!(out.rejected, 0);
    assert_eq!(b.pending_changes(), 0);
    assert!(b.missing().is_empty());
    assert_eq!(b.text(), "abcdef");
    assert_eq!(b.version(), a.version());
    b.check();
}

#[test]
fn a_reversed_chain_is_released_by_its_first_change() {
    let mut a = doc(1);
    let changes: Vec<Change> = ["one ", "two ", "three ", "four"]
        .iter()
        .map(|w| {
            let n = a.len_chars();
            typed(&mut a, n, w)
        })
        .collect();
    let mut b = doc(2);
    for (i, c) in changes.iter().enumerate().skip(1).rev() {
        assert!(b.apply(c.clone()).unwrap().buffered);
        assert_eq!(b.pending_changes(), changes.len() - i);
        assert_eq!(b.text(), "");
        // With several changes waiting, `missing` names the highest seq any of them needs.
        let last = &changes[changes.len() - 1];
        assert_eq!(b.missing(), [(A, last.start_seq - 1)].into_iter().collect());
    }
    let out = b.apply(changes[0].clone()).unwrap();
    assert_eq!(out.applied, 4);
    assert_eq!(b.text(), "one two three four");
    assert_eq!(b.pending_changes(), 0);
    assert_eq!(b.version(), a.version());
}

#[test]
fn missing_names_deps_on_other_replicas() {
    let mut a = doc(1);
    let mut b = doc(2);
    let ca = typed(&mut a, 0, "base");
    b.apply(ca.clone()).unwrap();
    let cb = typed(&mut b, 4, "!");
    let mut c = doc(3);
    let out = c.apply(cb).unwrap();
    assert!(out.buffered);
    assert_eq!(c.missing(), [(A, 4)].into_iter().collect(), "c needs a's 4 ops, nothing of b's");
    assert_eq!(c.text(), "");
    let out = c.apply(ca).unwrap();
    assert_eq!(out.applied, 2);
    assert_eq!(c.text(), "base!");
    assert!(c.missing().is_empty());
}

#[test]
fn duplicates_are_no_ops() {
    let mut a = doc(1);
    let c1 = typed(&mut a, 0, "abc");
    a.map_set("k", Value::Int(1)).unwrap();
    let c2 = a.commit().unwrap();
    let mut b = doc(2);
    b.apply(c1.clone()).unwrap();
    b.apply(c2.clone()).unwrap();
    let before = state(&b);
    for c in [c1, c2.clone(), c2] {
        let out = b.apply(c).unwrap();
        assert!(out.duplicate, "{out:?}");
        assert_eq!(out.applied, 0);
        assert!(!out.buffered);
        assert_eq!(state(&b), before);
    }
    b.check();
}

#[test]
fn a_duplicate_of_a_buffered_change_is_buffered_once() {
    let mut a = doc(1);
    let c1 = typed(&mut a, 0, "x");
    let c2 = typed(&mut a, 1, "y");
    let mut b = doc(2);
    assert!(b.apply(c2.clone()).unwrap().buffered);
    assert!(b.apply(c2.clone()).unwrap().buffered);
    assert_eq!(b.pending_changes(), 1);
    assert_eq!(b.apply(c1).unwrap().applied, 2);
    assert_eq!(b.text(), "xy");
    assert_eq!(b.pending_changes(), 0);
}

#[test]
fn a_partly_known_change_applies_only_its_new_part() {
    let mut a = doc(1);
    let c1 = typed(&mut a, 0, "ab");
    typed(&mut a, 2, "漢字👍🏽e\u{301}");
    // Both commits form one run, served as one change starting at seq 1.
    let whole = a.changes_since(&VectorClock::new());
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].start_seq, 1);
    let mut b = doc(2);
    b.apply(c1).unwrap();
    let out = b.apply(whole[0].clone()).unwrap();
    assert_eq!(out.applied, 1);
    assert!(!out.duplicate && !out.buffered);
    assert_eq!(b.text(), "ab漢字👍🏽e\u{301}");
    assert_eq!(b.version(), a.version());
    b.check();

    // An overlap that cuts one insert op between two multi-byte chars: c holds ops
    // 1..=4 when the change from op 4 on arrives, while ops 6.. wait in the buffer.
    let mut c = doc(3);
    let mid: VectorClock = [(A, 3)].into_iter().collect();
    let tail = a.changes_since(&mid);
    assert_eq!(tail[0].start_seq, 4);
    for ch in a.changes_since(&[(A, 5)].into_iter().collect()) {
        assert!(c.apply(ch).unwrap().buffered);
    }
    c.apply(insert_prefix(&whole[0], 4)).unwrap();
    assert_eq!(c.text(), "ab漢字");
    for ch in tail {
        c.apply(ch).unwrap();
    }
    assert_eq!(c.text(), a.text());
    assert_eq!(c.version(), a.version());
    c.check();
}

#[test]
fn partly_known_deletes_apply_only_the_rest() {
    for backwards in [false, true] {
        let mut a = doc(1);
        let mut b = doc(2);
        b.apply(typed(&mut a, 0, "abcdefgh")).unwrap();
        // Three single-char deletes, one commit each: they merge into one delete run
        // (forwards like the Delete key, or backwards like Backspace).
        for i in 0..3 {
            a.delete(if backwards { 6 - i } else { 3 }, 1).unwrap();
            let c = a.commit().unwrap();
            if i == 0 {
                b.apply(c).unwrap();
            }
        }
        let expect = if backwards { "abcdh" } else { "abcgh" };
        assert_eq!(a.text(), expect);
        let all = a.changes_since(&VectorClock::new());
        assert_eq!(all.len(), 1, "{all:?}");
        let out = b.apply(all[0].clone()).unwrap();
        assert_eq!(out.applied, 1);
        assert_eq!(b.text(), expect, "backwards: {backwards}");
        assert_eq!(b.version(), a.version());
        b.check();
    }
}

/// A buffered change must be applied once its deps are there even when a prefix of it
/// arrived in between. Here d first gets a's commit "123" (ops 5..=7), then the run
/// 5..=10 that a serves after also committing "456"; both wait for b's ops. When b's
/// ops arrive, whichever is applied first makes the other overlap what d knows.
#[test]
fn a_buffered_change_is_applied_after_an_overlapping_one() {
    for short_first in [true, false] {
        let mut a = doc(1);
        let mut b = doc(2);
        let c1 = typed(&mut a, 0, "abcd");
        let cb = typed(&mut b, 0, "xyz");
        a.apply(cb.clone()).unwrap();
        let short = typed(&mut a, 7, "123");
        typed(&mut a, 10, "456");
        let since: VectorClock = [(A, 4), (B, 3)].into_iter().collect();
        let long = a.changes_since(&since).remove(0);
        assert_eq!((short.start_seq, long.start_seq, long.end_seq()), (5, 5, 11));
        assert_eq!(long.deps, short.deps);

        let mut d = doc(3);
        d.apply(c1).unwrap();
        let order = if short_first { [short, long] } else { [long, short] };
        for c in order {
            assert!(d.apply(c).unwrap().buffered, "waits for b's ops");
        }
        // The short change adds nothing to a long one already buffered.
        assert_eq!(d.pending_changes(), if short_first { 2 } else { 1 });
        let out = d.apply(cb).unwrap();
        assert!(out.applied >= 2, "{out:?}");
        let what = if short_first { "short change buffered first" } else { "long change buffered first" };
        assert_eq!(d.text(), "abcdxyz123456", "{what}");
        assert_eq!(d.version(), a.version(), "{what}");
        assert_eq!(d.pending_changes(), 0, "{what}");
        assert!(d.missing().is_empty(), "{what}");
    }
}

#[test]
fn the_buffer_is_bounded_by_changes() {
    let mut a = doc(1);
    let first = typed(&mut a, 0, "x");
    let later: Vec<Change> = (1..10).map(|i| typed(&mut a, i, "y")).collect();
    let mut b = Doc::with_config(B, Config { max_pending_changes: 3, ..Config::default() });
    for c in &later[..3] {
        assert!(b.apply(c.clone()).unwrap().buffered);
    }
    let before = state(&b);
    for c in &later[3..] {
        match b.apply(c.clone()) {
            Err(Error::BufferFull { pending_changes: 3, pending_ops: 3, .. }) => {}
            other => panic!("expected BufferFull, got {other:?}"),
        }
        assert_eq!(b.pending_changes(), 3, "the buffer does not grow");
        assert_eq!(state(&b), before);
    }
    // The deps arrive: the buffered changes apply, the refused ones come with the next
    // sync.
    let out = b.apply(first).unwrap();
    assert_eq!(out.applied, 4);
    assert_eq!(b.pending_changes(), 0);
    assert_eq!(b.text(), "xyyy");
    sync(&a, &mut b);
    assert_eq!(b.text(), a.text());
    assert_eq!(b.version(), a.version());
    b.check();
}

#[test]
fn the_buffer_is_bounded_by_ops() {
    let mut a = doc(1);
    let first = typed(&mut a, 0, "x");
    let later: Vec<Change> = (0..4).map(|i| typed(&mut a, 1 + 2 * i, "yz")).collect();
    let mut b = Doc::with_config(B, Config { max_pending_ops: 5, ..Config::default() });
    assert!(b.apply(later[0].clone()).unwrap().buffered);
    assert!(b.apply(later[1].clone()).unwrap().buffered);
    for c in &later[2..] {
        assert!(
            matches!(b.apply(c.clone()), Err(Error::BufferFull { pending_changes: 2, pending_ops: 4, .. })),
            "a third 2-op change would exceed 5 ops"
        );
    }
    assert_eq!(b.pending_changes(), 2);
    assert_eq!(b.apply(first).unwrap().applied, 3);
    sync(&a, &mut b);
    assert_eq!(b.text(), "xyzyzyzyz");
    assert_eq!(b.version(), a.version());
}

#[test]
fn a_transaction_must_be_committed_before_remote_changes() {
    let mut a = doc(1);
    let c = typed(&mut a, 0, "a");
    let mut b = doc(2);
    b.insert(0, "local").unwrap();
    let before = state(&b);
    assert_eq!(b.apply(c.clone()), Err(Error::TransactionOpen));
    assert_eq!(b.undo(), Err(Error::TransactionOpen));
    assert_eq!(b.redo(), Err(Error::TransactionOpen));
    assert_eq!(state(&b), before);
    b.commit().unwrap();
    assert_eq!(b.apply(c).unwrap().applied, 1);
    assert_eq!(b.len_chars(), 6);
}

/// A replica holding a's "abc" (ops 1..=3) and a map write (op 4).
fn base() -> (Doc, Doc) {
    let mut a = doc(1);
    a.insert(0, "abc").unwrap();
    a.map_set("k", Value::Str("v".into())).unwrap();
    let c = a.commit().unwrap();
    let mut b = doc(2);
    b.apply(c).unwrap();
    (a, b)
}

const X: ReplicaId = ReplicaId(9);

fn ins(left: Option<OpId>, right: Option<OpId>, text: &str) -> Op {
    Op::Insert { origin_left: left, origin_right: right, text: text.into() }
}

fn del(replica: ReplicaId, seq: u64, len: u64) -> Op {
    Op::Delete { start: OpId::new(replica, seq), len, reversed: false }
}

fn by_x(ops: Vec<Op>) -> Change {
    Change { time: 0, author: X, start_seq: 1, deps: vec![OpId::new(A, 4)], lamport: 5, ops }
}

#[test]
fn invalid_changes_are_refused_and_change_nothing() {
    let (_, mut b) = base();
    let a = |seq| Some(OpId::new(A, seq));
    let bad: Vec<(&str, Change)> = vec![
        ("origin_left names an unknown op", by_x(vec![ins(a(99), None, "x")])),
        (
            "origin_right names an unknown replica",
            by_x(vec![ins(None, Some(OpId::new(ReplicaId(77), 1)), "x")]),
        ),
        ("origin names a map write", by_x(vec![ins(a(4), None, "x")])),
        (
            "origin names an own later op",
            by_x(vec![ins(Some(OpId::new(X, 2)), None, "x"), ins(None, None, "y")]),
        ),
        ("delete of an unknown id", by_x(vec![del(A, 50, 1)])),
        ("delete of an unknown replica", by_x(vec![del(ReplicaId(77), 1, 1)])),
        ("delete reaching past known ops", by_x(vec![del(A, 2, 5)])),
        ("delete of a map write", by_x(vec![del(A, 4, 1)])),
        ("delete of seq 0", by_x(vec![del(A, 0, 1)])),
        ("delete of a huge range", by_x(vec![del(A, 1, 1 << 60)])),
        ("delete of its own op", by_x(vec![del(X, 1, 1)])),
        ("empty delete", by_x(vec![del(A, 1, 0)])),
        ("empty insert", by_x(vec![ins(None, None, "")])),
        ("no ops", by_x(vec![])),
        ("seq 0", Change { start_seq: 0, ..by_x(vec![Op::MapSet { key: "k".into(), value: None }]) }),
        ("a dep on itself", Change { deps: vec![OpId::new(X, 1)], ..by_x(vec![ins(None, None, "x")]) }),
        ("a dep with seq 0", Change { deps: vec![OpId::new(A, 0)], ..by_x(vec![ins(None, None, "x")]) }),
        ("lamport overflows", Change { lamport: u64::MAX, ..by_x(vec![ins(None, None, "xy")]) }),
        (
            "a valid op then an invalid one",
            by_x(vec![ins(a(3), None, "ok"), Op::MapSet { key: "k".into(), value: None }, del(A, 40, 1)]),
        ),
    ];
    let before = state(&b);
    for (what, c) in bad {
        let id = c.id();
        match b.apply(c) {
            Err(Error::InvalidChange { change, .. }) => assert_eq!(change, id, "{what}"),
            other => panic!("{what}: expected InvalidChange, got {other:?}"),
        }
        assert_eq!(state(&b), before, "{what}: the doc changed");
        assert_eq!(b.pending_changes(), 0, "{what}: buffered");
        b.check();
    }
    // The replica still takes valid changes.
    let ok = by_x(vec![
        ins(Some(OpId::new(A, 3)), None, "!"),
        del(A, 1, 1),
        Op::MapSet { key: "k".into(), value: None },
    ]);
    assert_eq!(b.apply(ok).unwrap().applied, 1);
    assert_eq!(b.text(), "bc!");
    assert_eq!(b.map_get("k"), None);
    b.check();
}

#[test]
fn an_invalid_buffered_change_is_rejected_when_its_deps_arrive() {
    let (mut a, mut b) = base();
    let next = typed(&mut a, 3, "d");
    let bad = Change {
        deps: vec![OpId::new(A, 5)],
        lamport: 6,
        ..by_x(vec![ins(Some(OpId::new(A, 99)), None, "x")])
    };
    assert!(b.apply(bad).unwrap().buffered);
    let out = b.apply(next).unwrap();
    assert_eq!(out.applied, 1);
    assert_eq!(out.rejected, 1);
    assert_eq!(b.pending_changes(), 0);
    assert_eq!(b.text(), "abcd");
    assert_eq!(b.version(), a.version());
    b.check();
}

/// Applies a change by x with the given Lamport time, then a 3-char local edit and a
/// map write; `None` if the replica refused the change (which is fine too).
fn after_remote_lamport(lamport: u64) -> Option<Doc> {
    let (_, mut b) = base();
    let c = Change { lamport, ..by_x(vec![ins(Some(OpId::new(A, 3)), None, "!")]) };
    match b.apply(c) {
        Err(Error::InvalidChange { .. }) => {
            assert_eq!(b.text(), "abc");
            return None;
        }
        Ok(out) => assert_eq!(out.applied, 1),
        Err(e) => panic!("lamport {lamport}: {e}"),
    }
    b.insert(0, ">>>").unwrap();
    b.map_set("k", Value::Int(2)).unwrap();
    let c = b.commit().unwrap();
    assert!(c.lamport > lamport, "lamport {lamport}: local ops come after the remote one");
    Some(b)
}

/// A remote change may carry any Lamport time whose ops do not overflow `u64`; local
/// edits after it must not overflow either.
#[test]
fn a_remote_lamport_near_u64_max_does_not_overflow_local_edits() {
    for lamport in [1u64 << 62, (1 << 63) + 5, u64::MAX - 1000, u64::MAX - 2] {
        if let Some(b) = after_remote_lamport(lamport) {
            assert_eq!(b.text(), ">>>abc!");
        }
    }
}

/// A replica that accepted a change, whatever its Lamport time, must still save and load.
#[test]
fn a_doc_with_any_accepted_remote_lamport_saves_and_loads() {
    for lamport in [1u64 << 62, 0, (1 << 63) - 1, 1 << 63, (1 << 63) + 5] {
        let Some(b) = after_remote_lamport(lamport) else { continue };
        let bytes = encoding::encode_doc(&b);
        let loaded = encoding::decode_doc(&bytes, ReplicaId(3))
            .unwrap_or_else(|e| panic!("lamport {lamport}: the saved doc does not load: {e}"));
        assert_eq!(loaded.text(), ">>>abc!");
        assert_eq!(loaded.version(), b.version());
        assert_eq!(loaded.map_get("k"), Some(&Value::Int(2)));
    }
}
