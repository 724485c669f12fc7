//! Every decoder of bytes from the network, fed random and mutated input: errors, never
//! panics, never accepts a forgery.

use proptest::prelude::*;
use tandem_crdt::{ReplicaId, VectorClock};
use tandem_net::crypto::DocCipher;
use tandem_net::{Ticket, wire};
use tandem_storage::{DocId, DocKey, SignedChange};

fn cipher() -> DocCipher {
    DocCipher::new(DocId([4; 16]), &DocKey([8; 32]))
}

fn mutate(mut b: Vec<u8>, ops: &[(u8, usize, u8)]) -> Vec<u8> {
    for &(kind, at, val) in ops {
        if b.is_empty() {
            b.push(val);
            continue;
        }
        let at = at % b.len();
        match kind % 3 {
            0 => b[at] ^= val | 1,
            1 => b.insert(at, val),
            _ => b.truncate(at),
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let c = cipher();
        prop_assert!(wire::open_gossip(&c, &bytes).is_err());
        prop_assert!(wire::open_request(&c, &bytes, b"a", b"b").is_err());
        // `[0]` alone is the legitimate "unknown document" answer.
        if bytes != [0] {
            prop_assert!(wire::open_response(&c, &bytes, b"a", b"b").is_err());
        }
        // A request parses or not, but never panics; a hello's tags are bounded.
        if let Ok(wire::Request::Hello { tags, .. }) = wire::parse_request(&bytes) {
            prop_assert!(tags.len() <= wire::MAX_TAGS);
        }
        let _ = wire::open_welcome(&bytes);
        let _ = wire::message_id(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = text.parse::<Ticket>();
        let _ = format!("tandem1{text}").parse::<Ticket>();
    }

    /// Any change to a sealed message makes it unreadable: nothing forged gets in.
    #[test]
    fn mutated_messages_do_not_open(ops in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4)) {
        let c = cipher();
        let sc = SignedChange { change: vec![1, 2, 3, 4], envelope: vec![7; 105] };
        let clock: VectorClock = [(ReplicaId(5), 3)].into_iter().collect();
        let run = wire::RunSeal { start_seq: 2, envelope: vec![9; 105] };
        let gossip = wire::change_message(&c, 5, 1, &sc, Some(&run));
        let m = mutate(gossip.clone(), &ops);
        // The clear id field may be altered without touching the sealed part; then the
        // payload opens but the id no longer matches the change.
        match wire::open_gossip(&c, &m) {
            Ok(wire::Gossip::Change(got, got_run)) => {
                prop_assert_eq!(&got, &sc);
                prop_assert_eq!(got_run, Some(run.clone()));
                prop_assert!(m[..17] != gossip[..17] || m == gossip);
            }
            Ok(_) => prop_assert!(false, "a change message opened as another kind"),
            Err(_) => {}
        }
        let req = wire::sync_request(&c, &wire::Ask { clock: clock.clone(), from: 0, until: None }, b"a", b"b");
        let m = mutate(req.clone(), &ops);
        // The clear kind and tag may change without touching the sealed part.
        if m != req && m.get(..17) == req.get(..17) {
            prop_assert!(wire::open_request(&c, &m[17..], b"a", b"b").is_err());
        }
        let resp = wire::sync_response(&c, std::slice::from_ref(&sc), false, b"b", b"a");
        let m = mutate(resp.clone(), &ops);
        if m != resp && m != [0] {
            prop_assert!(wire::open_response(&c, &m, b"b", b"a").is_err());
        }
        let ticket = Ticket { doc: DocId([1; 16]), key: DocKey([2; 32]), read_only: None, addrs: vec!["/ip4/127.0.0.1/tcp/9".parse().unwrap()] };
        let s = ticket.to_string();
        let m = String::from_utf8_lossy(&mutate(s.clone().into_bytes(), &ops)).into_owned();
        if let Ok(t) = m.parse::<Ticket>() {
            // Only an unchanged ticket (modulo case and whitespace) parses.
            prop_assert_eq!(t, ticket);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Key changes and key rings from garbage: refused or bounded, never a panic; a
    /// mutated record never moves anyone (it no longer decodes, or its signature or
    /// the member's part no longer checks).
    #[test]
    fn key_changes_from_garbage_move_no_one(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        ops in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4),
    ) {
        use tandem_net::rekey::{Keep, KeyRing, Rekey};
        let c = cipher();
        let _ = KeyRing::decode(&bytes);
        prop_assert!(wire::open_rekey(&c, &bytes, b"a", b"b").is_err());
        if let Ok(r) = Rekey::decode(&bytes) {
            prop_assert!(r.kept().count() <= tandem_net::rekey::MAX_WRAPS);
            prop_assert!(r.check(&c, 0).is_err());
        }
        let member = [3u8; 32];
        let device = ed25519_dalek::SigningKey::from_bytes(&member).verifying_key().to_bytes();
        let new_key = DocKey([9; 32]);
        let record = Rekey::make(&c, 1, &new_key, &[Keep { device, edit: true }], &[]).unwrap().encode();
        let m = mutate(record.clone(), &ops);
        if m != record {
            let moved = Rekey::decode(&m)
                .ok()
                .filter(|r| r.check(&c, 0).is_ok())
                .and_then(|r| r.open(DocId([4; 16]), &member));
            prop_assert!(moved.is_none(), "a mutated key change still moved the member");
        }
        let sealed = wire::rekey_request(&c, &[record], b"a", b"b");
        let m = mutate(sealed.clone(), &ops);
        if m != sealed && m.get(..17) == sealed.get(..17) {
            prop_assert!(wire::open_rekey(&c, &m[17..], b"a", b"b").is_err());
        }
    }
}
