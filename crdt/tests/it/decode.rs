//! Decoders fed random, mutated, truncated and hostile bytes return errors and never
//! panic; whatever they accept is a usable replica or change. Valid values round trip.

use crate::{doc, prop_config, varint};
use proptest::prelude::*;
use tandem_crdt::encoding::{self, CHANGE_VERSION, DOC_VERSION};
use tandem_crdt::{Change, Doc, Error, Op, OpId, ReplicaId, Value};

/// A document with inserts from two replicas, multi-byte text, deletes both ways, map
/// writes of every value kind and an undo.
fn sample_doc() -> Doc {
    let mut a = doc(1);
    a.insert(0, "hello wörld 漢字 👍🏽 e\u{301}").unwrap();
    a.map_set("title", Value::Str("t".into())).unwrap();
    a.map_set("n", Value::Int(-5)).unwrap();
    a.commit();
    a.delete(2, 4).unwrap();
    for p in (3..6).rev() {
        a.delete(p, 1).unwrap();
    }
    a.map_set("f", Value::Float(1.5)).unwrap();
    a.map_set("b", Value::Bytes(vec![0, 255])).unwrap();
    a.map_set("z", Value::Null).unwrap();
    a.map_set("t", Value::Bool(true)).unwrap();
    a.commit();
    let mut b = doc(u64::MAX);
    for c in a.all_changes() {
        b.apply(c).unwrap();
    }
    b.insert(3, "XYZ").unwrap();
    b.delete(0, 1).unwrap();
    b.map_delete("n").unwrap();
    b.commit();
    b.undo().unwrap();
    b
}

/// Everything a decoded document must support without panicking.
fn exercise(d: &mut Doc) {
    d.check();
    let text = d.text();
    assert_eq!(text.chars().count(), d.len_chars());
    assert_eq!(d.text_at(d.version()).unwrap(), text);
    let _ = d.text_at(&Default::default()).unwrap();
    let changes = d.all_changes();
    let bytes = encoding::encode_doc(d);
    let again = encoding::decode_doc(&bytes, ReplicaId(5)).expect("a decoded doc re-encodes decodably");
    assert_eq!(again.text(), text);
    assert_eq!(encoding::encode_changes(&again.all_changes()), encoding::encode_changes(&changes));
    let keys: Vec<String> = d.map_keys().map(str::to_owned).collect();
    for k in &keys {
        assert!(d.map_get(k).is_some());
    }
    // It still works as a replica.
    let n = d.len_chars();
    d.insert(n / 2, "¡new!").unwrap();
    if n > 0 {
        d.delete(0, 1).unwrap();
    }
    d.map_set("new", Value::Int(1)).unwrap();
    let c = d.commit().unwrap();
    d.check();
    d.undo().unwrap();
    d.check();
    let mut fresh = doc(6);
    for ch in changes {
        let _ = fresh.apply(ch);
    }
    let _ = fresh.apply(c);
    fresh.check();
}

/// Applying a decoded (possibly garbage) change: never panics; a refusal changes
/// nothing; an acceptance keeps the invariants.
fn apply_decoded(base: &[u8], c: Change) {
    let mut d = encoding::decode_doc(base, ReplicaId(7)).unwrap();
    let (text, version) = (d.text(), d.version().clone());
    match d.apply(c) {
        Ok(_) => {
            d.check();
            let mut e = encoding::decode_doc(&encoding::encode_doc(&d), ReplicaId(8))
                .expect("a replica that accepted a change still saves and loads");
            assert_eq!(e.text(), d.text());
            exercise(&mut e);
        }
        Err(_) => {
            assert_eq!(d.text(), text);
            assert_eq!(d.version(), &version);
            d.check();
        }
    }
}

/// Every decoder on the same bytes.
fn decode_all(bytes: &[u8]) {
    // Whatever decodes re-encodes to bytes that decode to the same thing (compared as
    // bytes, since a float may be NaN).
    if let Ok(c) = encoding::decode_change(bytes) {
        let e = encoding::encode_change(&c);
        assert_eq!(encoding::encode_change(&encoding::decode_change(&e).unwrap()), e);
    }
    if let Ok(cs) = encoding::decode_changes(bytes) {
        let e = encoding::encode_changes(&cs);
        assert_eq!(encoding::encode_changes(&encoding::decode_changes(&e).unwrap()), e);
    }
    let _ = encoding::decode_clock(bytes);
    let _ = encoding::decode_undo(bytes);
    if let Ok(mut d) = encoding::decode_doc(bytes, ReplicaId(3)) {
        exercise(&mut d);
    }
}

/// A document header followed by `body` compressed: reaches the column decoder.
fn doc_with_body(body: &[u8]) -> Vec<u8> {
    let mut out = b"TNDM".to_vec();
    out.push(DOC_VERSION);
    out.extend(varint(body.len() as u64));
    out.extend(miniz_oxide::deflate::compress_to_vec(body, 1));
    out
}

/// The decompressed body of an encoded document.
fn body_of(doc_bytes: &[u8]) -> Vec<u8> {
    let mut i = 5;
    while doc_bytes[i] & 0x80 != 0 {
        i += 1;
    }
    miniz_oxide::inflate::decompress_to_vec(&doc_bytes[i + 1..]).unwrap()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    Set(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<usize>().prop_map(Mutation::Remove),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (any::<usize>(), prop::sample::select(vec![0u8, 1, 2, 0x7f, 0x80, 0xff])).prop_map(|(i, b)| Mutation::Set(i, b)),
    ]
}

fn mutate(mut bytes: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        let n = bytes.len().max(1);
        match *m {
            Mutation::Flip(i, b) if !bytes.is_empty() => bytes[i % n] ^= b,
            Mutation::Set(i, b) if !bytes.is_empty() => bytes[i % n] = b,
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Remove(i) if !bytes.is_empty() => {
                bytes.remove(i % n);
            }
            Mutation::Truncate(i) => bytes.truncate(i % n),
            _ => {}
        }
    }
    bytes
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_filter("NaN", |f| !f.is_nan()).prop_map(Value::Float),
        "\\PC{0,8}".prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
    ]
}

fn op_id() -> impl Strategy<Value = OpId> {
    (prop::sample::select(vec![0u64, 1, 2, u64::MAX]), any::<u64>())
        .prop_map(|(r, s)| OpId::new(ReplicaId(r), s))
}

/// Any change the encoding can carry (not necessarily one a replica would accept).
fn change() -> impl Strategy<Value = Change> {
    let op = prop_oneof![
        (prop::option::of(op_id()), prop::option::of(op_id()), "\\PC{1,6}")
            .prop_map(|(l, r, text)| Op::Insert { origin_left: l, origin_right: r, text }),
        (op_id(), 1..u64::MAX, any::<bool>()).prop_map(|(start, len, reversed)| Op::Delete {
            start,
            len,
            reversed
        }),
        ("\\PC{0,6}", prop::option::of(value())).prop_map(|(key, value)| Op::MapSet { key, value }),
    ];
    (
        prop::sample::select(vec![0u64, 1, 2, u64::MAX]),
        any::<u64>(),
        prop::collection::vec(op_id(), 0..3),
        any::<u64>(),
        prop::collection::vec(op, 0..5),
    )
        .prop_map(|(a, start_seq, deps, lamport, ops)| Change {
            time: 0,
            author: ReplicaId(a),
            start_seq,
            deps,
            lamport,
            ops,
        })
}

proptest! {
    #![proptest_config(prop_config(2000, "proptest-regressions/it/decode.txt"))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        decode_all(&bytes);
        // Past the version byte and the document header, too.
        let mut v = vec![CHANGE_VERSION];
        v.extend_from_slice(&bytes);
        decode_all(&v);
        let mut d = b"TNDM".to_vec();
        d.push(DOC_VERSION);
        d.extend_from_slice(&bytes);
        decode_all(&d);
        decode_all(&doc_with_body(&bytes));
    }

    /// Random column contents in a well-formed body: the column decoder validates them.
    #[test]
    fn random_document_columns_never_panic(
        cols in prop::collection::vec(prop::collection::vec(prop_oneof![0..4u8, any::<u8>()], 0..12), 16),
    ) {
        let mut body = Vec::new();
        for c in &cols {
            body.extend(varint(c.len() as u64));
            body.extend_from_slice(c);
        }
        decode_all(&doc_with_body(&body));
    }
}

proptest! {
    #![proptest_config(prop_config(300, "proptest-regressions/it/decode.txt"))]

    #[test]
    fn mutated_encodings_never_panic(ms in prop::collection::vec(mutation(), 1..5)) {
        let d = sample_doc();
        let changes = d.all_changes();
        let doc_bytes = encoding::encode_doc(&d);
        let body = body_of(&doc_bytes);
        for valid in [
            encoding::encode_change(&changes[changes.len() - 1]),
            encoding::encode_changes(&changes),
            doc_bytes.clone(),
            encoding::encode_snapshot(&d),
            encoding::encode_undo(&d.undo_state()),
            encoding::encode_clock(d.version()),
        ] {
            decode_all(&mutate(valid, &ms));
        }
        // The document body mutated before compression reaches the column decoder.
        decode_all(&doc_with_body(&mutate(body, &ms)));
        decode_all(&doc_with_body(&mutate(body_of(&encoding::encode_snapshot(&d)), &ms)));
    }

    /// Mutated changes that still decode are applied to a replica holding their deps:
    /// either refused without effect or applied with the invariants intact.
    #[test]
    fn mutated_changes_apply_or_are_refused(ms in prop::collection::vec(mutation(), 1..4), which in any::<usize>()) {
        let d = sample_doc();
        let changes = d.all_changes();
        let i = which % changes.len();
        // The replica holds everything before change `i`.
        let mut base = doc(9);
        for c in &changes[..i] {
            base.apply(c.clone()).unwrap();
        }
        let base_bytes = encoding::encode_doc(&base);
        if let Ok(c) = encoding::decode_change(&mutate(encoding::encode_change(&changes[i]), &ms)) {
            apply_decoded(&base_bytes, c);
        }
        if let Ok(cs) = encoding::decode_changes(&mutate(encoding::encode_changes(&changes[i..]), &ms)) {
            for c in cs {
                apply_decoded(&base_bytes, c);
            }
        }
    }

    #[test]
    fn any_change_round_trips(cs in prop::collection::vec(change(), 0..4)) {
        for c in &cs {
            let bytes = encoding::encode_change(c);
            prop_assert_eq!(&encoding::decode_change(&bytes).unwrap(), c);
            for cut in 0..bytes.len() {
                prop_assert!(encoding::decode_change(&bytes[..cut]).is_err(), "a truncated change decodes");
            }
        }
        let bytes = encoding::encode_changes(&cs);
        prop_assert_eq!(encoding::decode_changes(&bytes).unwrap(), cs);
        for cut in 0..bytes.len() {
            prop_assert!(encoding::decode_changes(&bytes[..cut]).is_err(), "a truncated batch decodes");
        }
    }
}

#[test]
fn truncated_encodings_are_errors() {
    let d = sample_doc();
    let bytes = encoding::encode_doc(&d);
    let loaded = encoding::decode_doc(&bytes, ReplicaId(3)).unwrap();
    assert_eq!(loaded.text(), d.text());
    for cut in 0..bytes.len() {
        assert!(encoding::decode_doc(&bytes[..cut], ReplicaId(3)).is_err(), "doc cut at {cut}");
    }
    // A truncated body (recompressed, so the DEFLATE layer is intact) is an error too.
    let body = body_of(&bytes);
    for cut in 0..body.len() {
        let mut short = b"TNDM".to_vec();
        short.push(DOC_VERSION);
        short.extend(varint(cut as u64));
        short.extend(miniz_oxide::deflate::compress_to_vec(&body[..cut], 1));
        assert!(encoding::decode_doc(&short, ReplicaId(3)).is_err(), "body cut at {cut}");
    }
    let changes = d.all_changes();
    let batch = encoding::encode_changes(&changes);
    for cut in 0..batch.len() {
        assert!(encoding::decode_changes(&batch[..cut]).is_err(), "batch cut at {cut}");
    }
    for c in &changes {
        let one = encoding::encode_change(c);
        for cut in 0..one.len() {
            assert!(encoding::decode_change(&one[..cut]).is_err(), "change cut at {cut}");
        }
    }
}

/// A length or count of 2^60 in a few bytes is refused before anything is allocated.
#[test]
fn huge_counts_are_errors() {
    let huge = varint(1 << 60);
    let replica = 7u64.to_le_bytes();
    let decode_err = |r: Result<Vec<Change>, Error>| matches!(r, Err(Error::Decode { .. }));

    // A batch of 2^60 changes.
    let mut b = vec![CHANGE_VERSION];
    b.extend(&huge);
    assert!(decode_err(encoding::decode_changes(&b)));

    // Inside one change: header then 2^60 deps; 2^60 ops; a 2^60-byte string.
    let header = |out: &mut Vec<u8>| {
        out.push(CHANGE_VERSION);
        out.extend(replica);
        out.extend(varint(1)); // start seq
        out.extend(varint(1)); // lamport
    };
    let mut c = Vec::new();
    header(&mut c);
    c.extend(&huge);
    assert!(matches!(encoding::decode_change(&c), Err(Error::Decode { .. })), "2^60 deps");
    let mut c = Vec::new();
    header(&mut c);
    c.extend(varint(0));
    c.extend(&huge);
    assert!(matches!(encoding::decode_change(&c), Err(Error::Decode { .. })), "2^60 ops");
    let mut c = Vec::new();
    header(&mut c);
    c.extend(varint(0));
    c.extend(varint(1));
    c.push(0); // an insert with no origins
    c.extend(&huge);
    c.extend(b"abc");
    assert!(matches!(encoding::decode_change(&c), Err(Error::Decode { .. })), "2^60-byte text");
    let mut c = Vec::new();
    header(&mut c);
    c.extend(varint(0));
    c.extend(varint(1));
    c.push(0x20); // a map write
    c.extend(varint(1));
    c.push(b'k');
    c.push(7); // bytes value
    c.extend(&huge);
    assert!(matches!(encoding::decode_change(&c), Err(Error::Decode { .. })), "2^60-byte value");

    // Documents: a 2^60-byte body; a body whose first column claims 2^60 bytes; a
    // column claiming 2^60 replicas.
    let mut d = b"TNDM".to_vec();
    d.push(DOC_VERSION);
    d.extend(&huge);
    d.extend([0u8; 16]);
    assert!(encoding::decode_doc(&d, ReplicaId(1)).is_err(), "2^60-byte body");
    let mut body = huge.clone();
    body.extend([0u8; 16]);
    assert!(encoding::decode_doc(&doc_with_body(&body), ReplicaId(1)).is_err(), "2^60-byte column");
    let mut body = varint(huge.len() as u64);
    body.extend(&huge);
    body.extend([0u8; 13]); // 13 empty columns
    assert!(encoding::decode_doc(&doc_with_body(&body), ReplicaId(1)).is_err(), "2^60 replicas");
    // A short document claiming a 1 MiB body (under the absolute cap, impossible for its
    // input size) is refused before anything is inflated.
    let mut d = b"TNDM".to_vec();
    d.push(DOC_VERSION);
    d.extend(varint(1 << 20));
    d.extend([0u8; 16]);
    match encoding::decode_doc(&d, ReplicaId(1)) {
        Err(Error::Decode { reason, .. }) => assert!(reason.contains("impossible"), "{reason}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    // The body length claims more than the data inflates to.
    let mut d = b"TNDM".to_vec();
    d.push(DOC_VERSION);
    d.extend(varint(1 << 29));
    d.extend(miniz_oxide::deflate::compress_to_vec(&[0u8; 14], 1));
    assert!(encoding::decode_doc(&d, ReplicaId(1)).is_err(), "short body");
    // Varints longer than 64 bits.
    let mut c = vec![CHANGE_VERSION];
    c.extend(replica);
    c.extend([0xff; 11]);
    assert!(matches!(encoding::decode_change(&c), Err(Error::Decode { .. })), "overlong varint");
}

#[test]
fn unknown_versions_are_named() {
    let d = sample_doc();
    let changes = d.all_changes();
    let change = encoding::encode_change(&changes[0]);
    let batch = encoding::encode_changes(&changes);
    let doc_bytes = encoding::encode_doc(&d);
    assert_eq!(change[0], 1, "an undated change keeps the untimed version 1");
    // Versions 1 (untimed) and 2 (timed) are read.
    for v in (0..=255u8).filter(|&v| v != CHANGE_VERSION && v != 1) {
        let mut c = change.clone();
        c[0] = v;
        assert_eq!(
            encoding::decode_change(&c),
            Err(Error::UnknownVersion { what: "change", found: v, supported: CHANGE_VERSION })
        );
        let mut b = batch.clone();
        b[0] = v;
        assert!(matches!(
            encoding::decode_changes(&b),
            Err(Error::UnknownVersion { found, supported: CHANGE_VERSION, .. }) if found == v
        ));
    }
    // Versions 1 to 3 are earlier document formats, still read (see the fixture below).
    for v in (0..=255u8).filter(|&v| v != DOC_VERSION && !(1..=3).contains(&v)) {
        let mut b = doc_bytes.clone();
        b[4] = v;
        assert!(matches!(
            encoding::decode_doc(&b, ReplicaId(1)),
            Err(Error::UnknownVersion { found, supported: DOC_VERSION, .. }) if found == v
        ));
    }
    // Not a document at all.
    assert!(matches!(encoding::decode_doc(b"\x89PNG\r\n", ReplicaId(1)), Err(Error::Decode { .. })));
    assert!(matches!(encoding::decode_doc(b"", ReplicaId(1)), Err(Error::Decode { .. })));
    assert!(matches!(encoding::decode_change(b""), Err(Error::Decode { .. })));
}

/// A document body's columns, each without its length prefix.
fn columns_of(body: &[u8]) -> Vec<&[u8]> {
    let mut rest = body;
    let mut cols = Vec::new();
    while !rest.is_empty() {
        cols.push(tandem_crdt::varint::take_bytes(&mut rest).unwrap());
    }
    cols
}

/// A document order column: the run count, then each run's start relative to the end of
/// the previous run (zigzag) and its length.
fn order_column(runs: &[(i64, u64)]) -> Vec<u8> {
    let mut out = varint(runs.len() as u64);
    let mut end = 0;
    for &(lv, len) in runs {
        out.extend(varint(tandem_crdt::varint::zigzag(lv - end)));
        out.extend(varint(len));
        end = lv + len as i64;
    }
    out
}

/// A snapshot's document order is used only when it is consistent with the ops: an
/// order that repeats, misses or invents items, or is not even well formed, is passed
/// over, and the text is integrated from the ops as if there were none.
#[test]
fn an_inconsistent_document_order_is_passed_over() {
    let d = sample_doc();
    let snap = encoding::encode_snapshot(&d);
    let body = body_of(&snap);
    let cols = columns_of(&body);
    assert_eq!(cols.len(), 16, "version 4 has 16 columns");
    // The real order, read back.
    let mut col = *cols.last().unwrap();
    let take = |c: &mut &[u8]| tandem_crdt::varint::take(c).unwrap();
    let n = take(&mut col);
    let mut runs = Vec::new();
    let mut end = 0i64;
    for _ in 0..n {
        let lv = end + tandem_crdt::varint::unzigzag(take(&mut col));
        let len = take(&mut col);
        runs.push((lv, len));
        end = lv + len as i64;
    }
    assert!(runs.len() > 2, "the sample's text is in several runs: {runs:?}");
    let with_order = |order: &[u8]| {
        let mut b = Vec::new();
        for c in &cols[..cols.len() - 1] {
            b.extend(varint(c.len() as u64));
            b.extend_from_slice(c);
        }
        b.extend(varint(order.len() as u64));
        b.extend_from_slice(order);
        doc_with_body(&b)
    };
    assert_eq!(order_column(&runs), cols.last().unwrap().to_vec(), "the test writes orders as the encoder");
    let total = d.version().iter().map(|(_, s)| s as i64).sum::<i64>();
    let mut repeated = runs.clone();
    repeated.push(runs[0]);
    let mut overlapping = runs.clone();
    overlapping[1].1 += 1;
    let mut dropped = runs.clone();
    dropped.pop();
    let mut past_the_end = runs.clone();
    past_the_end.push((total, 1));
    let mut cut = order_column(&runs);
    cut.pop();
    for (what, order) in [
        ("every op an item", order_column(&[(0, total as u64)])),
        ("a run twice", order_column(&repeated)),
        ("overlapping runs", order_column(&overlapping)),
        ("a run missing", order_column(&dropped)),
        ("a run past the history", order_column(&past_the_end)),
        ("an empty run", order_column(&[(0, 0)])),
        ("a cut column", cut),
        ("garbage", vec![0xff, 0xff, 0x01]),
    ] {
        let e = encoding::decode_doc(&with_order(&order), ReplicaId(9))
            .unwrap_or_else(|err| panic!("{what}: the ops alone decode: {err}"));
        e.check();
        assert_eq!(e.text(), d.text(), "{what}");
        assert_eq!(encoding::encode_snapshot(&e), snap, "{what}: the integrated order");
    }
    // The consistent order is used, and so is it when stored in another run order: the
    // decoder cannot tell a consistent order from the true one, which is why only a
    // device's own snapshots carry one.
    let e = encoding::decode_doc(&with_order(&order_column(&runs)), ReplicaId(9)).unwrap();
    assert_eq!(e.text(), d.text());
    let mut swapped = runs.clone();
    swapped.swap(0, 1);
    let e = encoding::decode_doc(&with_order(&order_column(&swapped)), ReplicaId(9)).unwrap();
    e.check();
    assert_ne!(encoding::encode_snapshot(&e), snap, "a consistent order is taken as stored");
}

/// Bytes written by an earlier build: two replicas, multi-byte text, deletes both ways,
/// map writes of several kinds (one deleted) and an undo. Every format must still read
/// them, and must still write the same bytes.
mod fixture {
    pub(super) const TEXT: &str = ">ho wör👍";
    /// The document in format version 2 (origins and delete targets near the place of
    /// the previous edit), as an earlier build wrote it: version 3 adds a column of
    /// times.
    pub(super) const DOC_V2: &str = "544e444d02a401258cb10dc2301444fff97fdb21561014a1ce24d05053431b11049295486009293b503001350bb040166104262098e49a7b3a3ddd5c25d66861856f3f4608042d0b0323442e4d0880550a4c1311cefe9012c7353f764fef9be2dabdce7e5f7c1ef7db76b7e469f4d858e17ce6d62ed3e1147c65f4a609d5c5a0164d38681af25e299456514f08f1b126420b461b7bf04284927e";
    /// The document in format version 3, as an earlier build wrote it: version 4 adds a
    /// column of the text's document order (empty unless written as a snapshot).
    pub(super) const DOC_V3: &str = "544e444d03a701258c3d0ac2401844e7fbd95d4d886811eb9c441b6b6b6d83118525015d1072070b4f60ed05bc402ee2113c81718dd3cc6378cc8c47ce1a15a64fff8f824046e796ac02693202113966128c5525fb4102896b7ee81ede37c5a57b9efcae78df6fd7cd762193e889752af9345da59909c7e02b6bd64da8ce966a35a0bdc190d792a9748c1e14e2630d504b426decc10b114a30f005";
    /// The document in format version 1 (origins and delete targets as distances back).
    pub(super) const DOC: &str = "544e444d01a401258a3d0ac2401805dfdb6f7fa21221825616398936d6d6da06230a4b02ba20e40e169ec0da0b78815cc4237802e31aa79929265389b3468be2a7fba341d0e899a5d5c0689880a4538a8281d692fe620241369f1eda87f7757e699f27bfcbdff7db75b35dc8387e625d5c13b71aa5261c832fad59d7a13c5b56da807b839ed752b1700a1d1804ac00361436d1fd176214f802";
    pub(super) const CHANGES: &str = "0104080706050403020101010006001268c3a96c6c6f2077c3b6726c6420f09f918d20057469746c6506054e6f74657310080706050403020102031108070605040302010a0320016e040520016605000000000000e03ffeffffffffffffff011701080706050403020116050a080706050403020105080706050403020106025859200162070200ff2001740320016e0020017a010807060504030201171701080706050403020116010401013efeffffffffffffff071d02080706050403020117feffffffffffffff060510feffffffffffffff010220017a0020016e04052001740020016200";
    pub(super) const CHANGE: &str = "01feffffffffffffff011701080706050403020116050a080706050403020105080706050403020106025859200162070200ff2001740320016e0020017a01";
    pub(super) const UNDO: &str = "010001feffffffffffffff07060008feffffffffffffff0300feffffffffffffff0400feffffffffffffff050405feffffffffffffff0600feffffffffffffff0901feffffffffffffff0a00feffffffffffffff0b03feffffffffffffff0c070200ff";
    pub(super) const CLOCK: &str = "0102080706050403020117feffffffffffffff0c";

    pub(super) fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }
}

#[test]
fn bytes_from_an_earlier_build_decode_and_encode_identically() {
    let a = ReplicaId(0x0102_0304_0506_0708);
    let b = ReplicaId(u64::MAX - 1);
    let doc_bytes = fixture::bytes(fixture::DOC);
    let d = encoding::decode_doc(&doc_bytes, b).unwrap();
    d.check();
    assert_eq!(d.text(), fixture::TEXT);
    assert_eq!(d.version(), &[(a, 23), (b, 12)].into_iter().collect());
    assert_eq!(d.map_get("title"), Some(&Value::Str("Notes".into())));
    assert_eq!(d.map_get("n"), Some(&Value::Int(-3)));
    assert_eq!(d.map_get("f"), Some(&Value::Float(0.5)));
    assert_eq!(d.map_get("t"), None);
    assert_eq!(d.map_get("b"), None);
    assert_eq!(d.text_at(&[(a, 14)].into_iter().collect()).unwrap(), "héllo wörld 👍");
    // Versions 1 to 3 still read; this build writes version 4: the version 2 body
    // (compared before compression, which belongs to the DEFLATE library), a column of
    // times, empty for both replicas here, and an empty column of document order,
    // decoding to the same document.
    let old_v2 = fixture::bytes(fixture::DOC_V2);
    assert_eq!(encoding::decode_doc(&old_v2, b).unwrap().all_changes(), d.all_changes());
    let old_v3 = fixture::bytes(fixture::DOC_V3);
    assert_eq!(encoding::decode_doc(&old_v3, b).unwrap().all_changes(), d.all_changes());
    let mut body = body_of(&old_v2);
    body.extend_from_slice(&[2, 0, 0]);
    assert_eq!(body_of(&old_v3), body);
    let v4 = encoding::encode_doc(&d);
    assert_eq!(v4[4], DOC_VERSION);
    let hex: String = v4.iter().map(|b| format!("{b:02x}")).collect();
    body.push(0);
    assert_eq!(body_of(&v4), body, "version 4 bytes: {hex}");
    let d2 = encoding::decode_doc(&v4, b).unwrap();
    d2.check();
    assert_eq!(d2.text(), d.text());
    assert_eq!(d2.version(), d.version());
    assert_eq!(d2.all_changes(), d.all_changes());
    // The snapshot encoding differs only in that column.
    let snap = encoding::encode_snapshot(&d);
    let snap_body = body_of(&snap);
    assert_eq!(snap_body[..body.len() - 1], body[..body.len() - 1]);
    assert_eq!(encoding::decode_doc(&snap, b).unwrap().all_changes(), d.all_changes());

    // A batch in the untimed version 1 reads as changes of time 0; batches are written
    // in version 2.
    let changes = encoding::decode_changes(&fixture::bytes(fixture::CHANGES)).unwrap();
    assert_eq!(changes, d.all_changes());
    assert!(changes.iter().all(|c| c.time == 0));
    let batch = encoding::encode_changes(&changes);
    assert_eq!(batch[0], CHANGE_VERSION);
    assert_eq!(encoding::decode_changes(&batch).unwrap(), changes);
    let change = encoding::decode_change(&fixture::bytes(fixture::CHANGE)).unwrap();
    assert_eq!(change, changes[1]);
    assert_eq!(encoding::encode_change(&change), fixture::bytes(fixture::CHANGE));
    let mut fresh = doc(9);
    for c in changes {
        fresh.apply(c).unwrap();
    }
    assert_eq!(fresh.text(), fixture::TEXT);

    let undo = encoding::decode_undo(&fixture::bytes(fixture::UNDO)).unwrap();
    assert_eq!(undo.redo, vec![(OpId::new(b, 7), 6)]);
    assert_eq!(undo.map_prev.len(), 8);
    assert_eq!(encoding::encode_undo(&undo), fixture::bytes(fixture::UNDO));
    let clock = encoding::decode_clock(&fixture::bytes(fixture::CLOCK)).unwrap();
    assert_eq!(&clock, d.version());
    assert_eq!(encoding::encode_clock(&clock), fixture::bytes(fixture::CLOCK));

    // The reloaded replica takes its undo history back and redoes the undone step.
    let mut d = d;
    d.restore_undo_state(&undo);
    d.redo().unwrap().expect("the undone step is redone");
    assert_eq!(d.map_get("t"), Some(&Value::Bool(true)));
    assert_eq!(d.map_get("n"), None);
    d.check();
}

/// A big document's snapshot is stored without compression (it opens faster), and
/// still decodes to the same replica; the exchange encoding stays compressed.
#[test]
fn a_big_snapshot_is_stored_uncompressed_and_round_trips() {
    let mut d = doc(1);
    let line = "fn main() { println!(\"hello, wörld\"); }\n";
    d.insert(0, &line.repeat(120_000)).unwrap();
    d.commit();
    d.delete(10, 1_000).unwrap();
    d.insert(5_000, "¡").unwrap();
    d.commit();
    let snap = encoding::encode_snapshot(&d);
    let plain = encoding::encode_doc(&d);
    assert!(snap.len() > 4 << 20, "stored, not compressed: {} bytes", snap.len());
    assert!(plain.len() < 1 << 20, "compressed: {} bytes", plain.len());
    let e = encoding::decode_doc(&snap, ReplicaId(2)).unwrap();
    e.check();
    assert_eq!(e.text(), d.text());
    assert_eq!(encoding::encode_snapshot(&e), snap);
}
