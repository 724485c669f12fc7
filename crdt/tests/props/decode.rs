//! Decoders fed random and mutated bytes return errors and never panic.

use proptest::prelude::*;
use tandem_crdt::{Doc, Error, ReplicaId, Value, encoding};

fn sample_doc() -> Doc {
    let mut a = Doc::new(ReplicaId(1));
    a.insert(0, "hello wörld 漢字 👍🏽").unwrap();
    a.map_set("title", Value::Str("t".into())).unwrap();
    a.commit();
    a.delete(2, 4).unwrap();
    a.insert(0, "e\u{301}").unwrap();
    a.map_set("n", Value::Float(1.5)).unwrap();
    a.commit();
    let mut b = Doc::new(ReplicaId(2));
    for c in a.all_changes() {
        b.apply(c).unwrap();
    }
    b.insert(3, "XYZ").unwrap();
    b.delete(0, 1).unwrap();
    b.commit();
    b.undo().unwrap();
    b
}

/// Every decoder on the same bytes: none may panic.
fn decode_all(bytes: &[u8]) {
    let _ = encoding::decode_change(bytes);
    let _ = encoding::decode_changes(bytes);
    let _ = encoding::decode_clock(bytes);
    let _ = encoding::decode_undo(bytes);
    if let Ok(d) = encoding::decode_doc(bytes, ReplicaId(3)) {
        d.check();
        let _ = d.text();
    }
}

fn mutate(mut bytes: Vec<u8>, ops: &[(u8, usize, u8)]) -> Vec<u8> {
    for &(kind, at, val) in ops {
        if bytes.is_empty() {
            bytes.push(val);
            continue;
        }
        let at = at % bytes.len();
        match kind % 4 {
            0 => bytes[at] ^= val | 1,
            1 => bytes.insert(at, val),
            2 => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
        let mut with_version = vec![1u8];
        with_version.extend_from_slice(&bytes);
        decode_all(&with_version);
        let mut doc_header = b"TNDM\x01".to_vec();
        doc_header.extend_from_slice(&bytes);
        decode_all(&doc_header);
    }

    #[test]
    fn mutated_encodings(ops in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6)) {
        let d = sample_doc();
        let changes = d.all_changes();
        for valid in [
            encoding::encode_change(&changes[0]),
            encoding::encode_changes(&changes),
            encoding::encode_doc(&d),
            encoding::encode_clock(d.version()),
            encoding::encode_undo(&d.undo_state()),
        ] {
            decode_all(&mutate(valid, &ops));
        }
    }

    /// The compressed body of a document, mutated before compression: the columns are
    /// decoded and validated, not just the DEFLATE layer.
    #[test]
    fn mutated_document_bodies(ops in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4)) {
        let bytes = encoding::encode_doc(&sample_doc());
        // Header: magic, version, varint body length; then DEFLATE data.
        let mut len = 0usize;
        let mut i = 5;
        for shift in (0..).step_by(7) {
            let b = bytes[i];
            len |= ((b & 0x7f) as usize) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let body = miniz_oxide::inflate::decompress_to_vec(&bytes[i..]).unwrap();
        prop_assert_eq!(body.len(), len);
        let body = mutate(body, &ops);
        let mut out = b"TNDM\x01".to_vec();
        let mut n = body.len();
        while n >= 0x80 {
            out.push(n as u8 | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&body, 1));
        decode_all(&out);
    }
}

#[test]
fn truncated_documents_are_errors() {
    let bytes = encoding::encode_doc(&sample_doc());
    for cut in 0..bytes.len() {
        assert!(encoding::decode_doc(&bytes[..cut], ReplicaId(3)).is_err(), "cut at {cut}");
    }
}

#[test]
fn huge_counts_fail_fast() {
    // A batch claiming 2^60 changes in a few bytes.
    let mut b = vec![encoding::CHANGE_VERSION];
    let mut n: u64 = 1 << 60;
    while n >= 0x80 {
        b.push(n as u8 | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
    assert!(matches!(encoding::decode_changes(&b), Err(Error::Decode { .. })));
    // A short document claiming a 1 MiB body (under the absolute cap, impossible for
    // its input size) is refused before anything is inflated.
    let mut small = b"TNDM\x01".to_vec();
    let mut n: u64 = 1 << 20;
    while n >= 0x80 {
        small.push(n as u8 | 0x80);
        n >>= 7;
    }
    small.push(n as u8);
    small.extend_from_slice(&[0u8; 16]);
    match encoding::decode_doc(&small, ReplicaId(1)) {
        Err(Error::Decode { reason, .. }) => assert!(reason.contains("impossible"), "{reason}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    // A document claiming a 2^40-byte body.
    let mut d = b"TNDM\x01".to_vec();
    let mut n: u64 = 1 << 40;
    while n >= 0x80 {
        d.push(n as u8 | 0x80);
        n >>= 7;
    }
    d.push(n as u8);
    assert!(encoding::decode_doc(&d, ReplicaId(1)).is_err());
}

#[test]
fn unknown_versions_are_named() {
    let d = sample_doc();
    let mut c = encoding::encode_change(&d.all_changes()[0]);
    c[0] = 7;
    assert!(matches!(encoding::decode_change(&c), Err(Error::UnknownVersion { found: 7, .. })));
    let mut doc = encoding::encode_doc(&d);
    doc[4] = 9;
    assert!(matches!(encoding::decode_doc(&doc, ReplicaId(1)), Err(Error::UnknownVersion { found: 9, .. })));
    assert!(matches!(encoding::decode_doc(b"PNG\x89 not ours", ReplicaId(1)), Err(Error::Decode { .. })));
}
