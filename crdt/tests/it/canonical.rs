//! The canonical form of a change: the same ops seq by seq, grouped one way only.

use proptest::prelude::*;
use tandem_crdt::{Change, Op, OpId, ReplicaId, Value};

const AUTHOR: ReplicaId = ReplicaId(7);

fn del(replica: u64, seq: u64, len: u64, reversed: bool) -> Op {
    Op::Delete { start: OpId::new(ReplicaId(replica), seq), len, reversed }
}

fn change(ops: Vec<Op>) -> Change {
    Change { time: 0, author: AUTHOR, start_seq: 10, deps: vec![], lamport: 10, ops }
}

/// What one seq of a change does.
#[derive(Debug, PartialEq)]
enum Item {
    /// Deletes this id.
    Del(OpId),
    /// Inserts this char between these origins.
    Ins(char, Option<OpId>, Option<OpId>),
    /// Any other op (one seq).
    Other(Op),
}

/// What each seq of the change does, in order.
fn items(c: &Change) -> Vec<Item> {
    let mut out = Vec::new();
    let mut seq = c.start_seq;
    for op in &c.ops {
        match op {
            Op::Delete { start, len, reversed } => {
                for i in 0..*len {
                    let s = if *reversed { start.seq + len - 1 - i } else { start.seq + i };
                    out.push(Item::Del(OpId::new(start.replica, s)));
                }
            }
            Op::Insert { origin_left, origin_right, text } => {
                for (i, ch) in text.chars().enumerate() {
                    let left =
                        if i == 0 { *origin_left } else { Some(OpId::new(c.author, seq + i as u64 - 1)) };
                    out.push(Item::Ins(ch, left, *origin_right));
                }
            }
            op => out.push(Item::Other(op.clone())),
        }
        seq += op.n_seqs();
    }
    out
}

fn check(ops: Vec<Op>, expect: Vec<Op>) {
    let c = change(ops).canonical();
    assert_eq!(c.ops, expect);
    assert!(c.is_canonical());
}

#[test]
fn deletes_join_forwards_and_backwards() {
    check(vec![del(1, 5, 1, false), del(1, 6, 1, false), del(1, 7, 2, false)], vec![del(1, 5, 4, false)]);
    check(vec![del(1, 7, 1, false), del(1, 6, 1, false), del(1, 5, 1, false)], vec![del(1, 5, 3, true)]);
    check(vec![del(1, 5, 3, true), del(1, 4, 1, false)], vec![del(1, 4, 4, true)]);
    // Ids 9, 8, 9: the first op's id and the next op's first id run backwards, so the
    // next op is cut after its first id.
    check(vec![del(1, 9, 1, false), del(1, 8, 2, false)], vec![del(1, 8, 2, true), del(1, 9, 1, false)]);
    // Another replica's ids, or a map write between, never join.
    check(vec![del(1, 5, 1, false), del(2, 6, 1, false)], vec![del(1, 5, 1, false), del(2, 6, 1, false)]);
    let set = Op::MapSet { key: "k".into(), value: Some(Value::Int(1)) };
    check(
        vec![del(1, 5, 1, false), set.clone(), del(1, 6, 1, false)],
        vec![del(1, 5, 1, false), set, del(1, 6, 1, false)],
    );
}

#[test]
fn inserts_that_continue_join() {
    let x = Some(OpId::new(ReplicaId(1), 3));
    let a = Op::Insert { origin_left: x, origin_right: None, text: "ab".into() };
    let b = Op::Insert { origin_left: Some(OpId::new(AUTHOR, 11)), origin_right: None, text: "c".into() };
    check(vec![a.clone(), b], vec![Op::Insert { origin_left: x, origin_right: None, text: "abc".into() }]);
    // A different right origin starts a new insert.
    let c = Op::Insert { origin_left: Some(OpId::new(AUTHOR, 11)), origin_right: x, text: "c".into() };
    check(vec![a.clone(), c.clone()], vec![a, c]);
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..3u64, 1..12u64, 1..4u64, any::<bool>()).prop_map(|(r, s, l, rev)| del(r, s, l, rev && l > 1)),
        2 => (any::<bool>(), prop::sample::select(vec!["a", "bc", "d"])).prop_map(|(chain, t)| Op::Insert {
            // Chained inserts name the author's previous seq, which the test fixes below.
            origin_left: if chain { Some(OpId::new(AUTHOR, 0)) } else { Some(OpId::new(ReplicaId(1), 2)) },
            origin_right: None,
            text: t.into(),
        }),
        1 => Just(Op::MapSet { key: "k".into(), value: None }),
    ]
}

/// `ops` with each chained insert's left origin set to the author's previous seq.
fn chained(ops: Vec<Op>) -> Change {
    let mut seq = 10;
    let ops = ops
        .into_iter()
        .map(|op| {
            let n = op.n_seqs();
            let op = match op {
                Op::Insert { origin_left: Some(l), origin_right, text } if l.replica == AUTHOR => {
                    Op::Insert { origin_left: Some(OpId::new(AUTHOR, seq - 1)), origin_right, text }
                }
                op => op,
            };
            seq += n;
            op
        })
        .collect();
    change(ops)
}

/// `c` with one op per seq.
fn exploded(c: &Change) -> Change {
    let ops = items(c)
        .into_iter()
        .map(|item| match item {
            Item::Del(id) => del(id.replica.0, id.seq, 1, false),
            Item::Ins(ch, left, right) => {
                Op::Insert { origin_left: left, origin_right: right, text: ch.to_string() }
            }
            Item::Other(op) => op,
        })
        .collect();
    Change { ops, ..c.clone() }
}

proptest! {
    #![proptest_config(crate::prop_config(256, "proptest-regressions/it/canonical.txt"))]

    /// The canonical form does the same thing seq by seq, is a fixed point, and does not
    /// depend on how the ops were cut: splitting every op into one op per seq first
    /// gives the same form.
    #[test]
    fn canonical_form_keeps_every_seq_and_forgets_the_grouping(ops in prop::collection::vec(op(), 0..24)) {
        let c = chained(ops);
        let canon = c.clone().canonical();
        prop_assert_eq!(items(&canon), items(&c));
        prop_assert!(canon.is_canonical());
        prop_assert_eq!(canon.clone().canonical(), canon.clone());
        let one_per_seq = exploded(&c);
        prop_assert_eq!(items(&one_per_seq), items(&c));
        prop_assert_eq!(one_per_seq.canonical(), canon);
    }
}
