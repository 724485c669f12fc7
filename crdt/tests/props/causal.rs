//! The causal buffer: early changes wait, duplicates are no-ops, the bound holds,
//! invalid changes change nothing.

use tandem_crdt::{Change, Config, Doc, Error, Op, OpId, ReplicaId};

fn typed(doc: &mut Doc, pos: usize, text: &str) -> Change {
    doc.insert(pos, text).unwrap();
    doc.commit().unwrap()
}

#[test]
fn early_changes_wait_for_their_deps() {
    let mut a = Doc::new(ReplicaId(1));
    let c1 = typed(&mut a, 0, "abc");
    let c2 = typed(&mut a, 3, "def");
    let c3 = typed(&mut a, 0, ">");
    let mut b = Doc::new(ReplicaId(2));
    let out = b.apply(c3.clone()).unwrap();
    assert!(out.buffered && out.applied == 0);
    let out = b.apply(c2.clone()).unwrap();
    assert!(out.buffered);
    assert_eq!(b.pending_changes(), 2);
    assert_eq!(b.text(), "");
    assert_eq!(b.missing().get(ReplicaId(1)), 6, "waits for ops up to c2's deps");
    let out = b.apply(c1).unwrap();
    assert_eq!(out.applied, 3, "the arrival releases both waiting changes");
    assert_eq!(b.pending_changes(), 0);
    assert!(b.missing().is_empty());
    assert_eq!(b.text(), ">abcdef");
    assert_eq!(b.version(), a.version());
}

#[test]
fn deps_on_other_replicas_are_respected() {
    let mut a = Doc::new(ReplicaId(1));
    let mut b = Doc::new(ReplicaId(2));
    let ca = typed(&mut a, 0, "base");
    b.apply(ca.clone()).unwrap();
    let cb = typed(&mut b, 4, "!");
    let mut c = Doc::new(ReplicaId(3));
    assert!(c.apply(cb.clone()).unwrap().buffered, "b's change needs a's");
    assert_eq!(c.missing().get(ReplicaId(1)), 4);
    assert_eq!(c.missing().get(ReplicaId(2)), 0);
    c.apply(ca).unwrap();
    assert_eq!(c.text(), "base!");
}

#[test]
fn duplicates_and_overlaps() {
    let mut a = Doc::new(ReplicaId(1));
    let c1 = typed(&mut a, 0, "abc");
    let mut b = Doc::new(ReplicaId(2));
    b.apply(c1.clone()).unwrap();
    let out = b.apply(c1.clone()).unwrap();
    assert!(out.duplicate && out.applied == 0);
    assert_eq!(b.text(), "abc");
    // A change that repeats known ops and adds new ones applies only the new part.
    a.insert(3, "de").unwrap();
    a.commit();
    let both = a.changes_since(&tandem_crdt::VectorClock::new());
    assert_eq!(both.len(), 1, "one run covering both commits");
    let out = b.apply(both[0].clone()).unwrap();
    assert_eq!(out.applied, 1);
    assert_eq!(b.text(), "abcde");
    assert_eq!(b.version(), a.version());
}

#[test]
fn the_buffer_is_bounded() {
    let mut a = Doc::new(ReplicaId(1));
    let first = typed(&mut a, 0, "x");
    let later: Vec<Change> = (0..10).map(|i| typed(&mut a, i, "y")).collect();
    let mut b = Doc::with_config(ReplicaId(2), Config { max_pending_changes: 4, ..Config::default() });
    for c in &later[..4] {
        assert!(b.apply(c.clone()).unwrap().buffered);
    }
    match b.apply(later[4].clone()) {
        Err(Error::BufferFull { pending_changes: 4, .. }) => {}
        other => panic!("expected BufferFull, got {other:?}"),
    }
    assert_eq!(b.pending_changes(), 4);
    // An op-count bound too.
    let mut c = Doc::with_config(ReplicaId(3), Config { max_pending_ops: 2, ..Config::default() });
    c.apply(later[0].clone()).unwrap();
    c.apply(later[1].clone()).unwrap();
    assert!(matches!(c.apply(later[2].clone()), Err(Error::BufferFull { .. })));
    // Once the deps arrive, everything converges (refused changes are re-sent by sync).
    b.apply(first).unwrap();
    for ch in a.changes_since(b.version()) {
        b.apply(ch).unwrap();
    }
    assert_eq!(b.text(), a.text());
}

#[test]
fn invalid_changes_change_nothing() {
    let mut a = Doc::new(ReplicaId(1));
    let good = typed(&mut a, 0, "abc");
    let mut b = Doc::new(ReplicaId(2));
    b.apply(good.clone()).unwrap();
    let (text, version) = (b.text(), b.version().clone());
    let unknown = OpId::new(ReplicaId(77), 5);
    let base = Change {
        author: ReplicaId(9),
        start_seq: 1,
        deps: vec![OpId::new(ReplicaId(1), 3)],
        lamport: 4,
        ops: vec![],
    };
    let bad = [
        Change {
            ops: vec![Op::Insert {
                origin_left: Some(OpId::new(ReplicaId(1), 99)),
                origin_right: None,
                text: "x".into(),
            }],
            ..base.clone()
        },
        Change {
            ops: vec![Op::Insert { origin_left: None, origin_right: Some(unknown), text: "x".into() }],
            ..base.clone()
        },
        Change {
            ops: vec![Op::Delete { start: OpId::new(ReplicaId(1), 2), len: 5, reversed: false }],
            ..base.clone()
        },
        Change {
            ops: vec![Op::Insert { origin_left: None, origin_right: None, text: String::new() }],
            ..base.clone()
        },
        Change { ops: vec![], ..base.clone() },
        Change { start_seq: 0, ops: vec![Op::MapSet { key: "k".into(), value: None }], ..base.clone() },
        // A delete of a huge range: refused at once, not after counting to 2^50.
        Change {
            ops: vec![Op::Delete { start: OpId::new(ReplicaId(1), 1), len: 1 << 50, reversed: false }],
            ..base.clone()
        },
        // A delete of its own later op.
        Change {
            ops: vec![Op::Delete { start: OpId::new(ReplicaId(9), 1), len: 1, reversed: false }],
            ..base.clone()
        },
    ];
    for c in bad {
        assert!(matches!(b.apply(c.clone()), Err(Error::InvalidChange { .. })), "{c:?}");
        assert_eq!(b.text(), text);
        assert_eq!(b.version(), &version);
        b.check();
    }
    // A valid change still applies afterwards.
    let ok = Change {
        ops: vec![Op::Insert {
            origin_left: Some(OpId::new(ReplicaId(1), 3)),
            origin_right: None,
            text: "!".into(),
        }],
        ..base
    };
    b.apply(ok).unwrap();
    assert_eq!(b.text(), "abc!");
}

#[test]
fn a_transaction_must_be_committed_before_remote_changes() {
    let mut a = Doc::new(ReplicaId(1));
    let c = typed(&mut a, 0, "a");
    let mut b = Doc::new(ReplicaId(2));
    b.insert(0, "local").unwrap();
    assert_eq!(b.apply(c.clone()), Err(Error::TransactionOpen));
    b.commit().unwrap();
    b.apply(c).unwrap();
    assert_eq!(b.len_chars(), 6);
}
