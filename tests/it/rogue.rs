//! A rogue peer that holds the document's key and proved membership publishes garbage
//! and forgeries into a running `tandem node`: the node refuses each with a logged
//! reason, keeps its text, keeps answering, and still takes honest changes.
//!
//! The rogue is an in-process libp2p swarm (`peer.rs`), so it can send bytes no
//! `tandem node` would.

use super::node::{Node, Spawn, WAIT};
use super::peer::{Config, TestPeer};
use libp2p::Multiaddr;
use serde_json::json;
use std::time::{Duration, Instant};
use tandem_net::crypto::DocCipher;
use tandem_net::wire;
use tandem_storage::{DocKey, SignedChange, StoreHandle};

/// A test peer that holds the key and proved membership to one node, publishing on
/// the document's topic.
struct Rogue {
    peer: TestPeer,
    topic: String,
}

impl Rogue {
    /// Connects to `addr` and returns once the node counts the rogue a member and is
    /// subscribed to the topic.
    fn connect(addr: Multiaddr, cipher: &DocCipher) -> Rogue {
        let topic = cipher.topic().to_owned();
        let peer = TestPeer::start(Config {
            cipher: Some(cipher.clone()),
            prove: true,
            topics: vec![topic.clone()],
        });
        peer.dial(addr);
        peer.wait("the node to welcome the rogue and subscribe", |r| {
            !r.welcomed.is_empty() && r.topics.contains(&topic)
        });
        Rogue { peer, topic }
    }

    fn publish(&self, msg: Vec<u8>) {
        assert_eq!(self.peer.publish(&self.topic, msg), Ok(()), "the rogue could publish");
    }
}

/// Lines of the node's log that refuse something.
fn rejections(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("tandem_net") && l.contains("rejected"))
        .count()
}

/// Waits until the log holds more than `before` rejections.
fn wait_rejected(log: &std::path::Path, before: usize, what: &str) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let n = rejections(log);
        if n > before {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "{what} was not rejected; log:\n{}",
            std::fs::read_to_string(log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_rogue_peer_changes_nothing_and_stops_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("a.log");
    let mut a = Node::start_with(
        &tmp.path().join("a"),
        &["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"],
        // Gossipsub's handler logs (at debug) the stream it drops for an oversized frame.
        &Spawn {
            log: Some(&log),
            rust_log: Some("warn,libp2p_gossipsub::handler=debug"),
            ..Spawn::default()
        },
    );
    let r = a.ok(json!({"cmd": "create", "title": "Guarded"}));
    let doc = r["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "honest text");
    let ticket = a.ticket(&doc);
    let cipher = DocCipher::new(ticket.doc, &ticket.key);

    // The rogue's own replica of the document makes a real change...
    let store = StoreHandle::open(&tmp.path().join("rogue")).unwrap();
    store.add_doc(ticket.doc, ticket.key.clone(), "").wait().unwrap();
    let mut replica = store.load(ticket.doc).wait().unwrap();
    replica.insert(0, "EVIL ").unwrap();
    let change = replica.commit().unwrap();
    let bytes = tandem_crdt::encoding::encode_change(&change);
    // An edit-ticket holder grants its own key.
    let envelope = cipher.with_grant(store.identity().seal(&ticket.doc, &bytes));
    let (author, seq) = (change.author.0, change.start_seq);

    let rogue = Rogue::connect(a.listen[0].parse().unwrap(), &cipher);
    let alive = |a: &mut Node| {
        assert_eq!(a.text(&doc), "honest text", "the rogue changed nothing");
        assert_eq!(a.ok(json!({"cmd": "status", "doc": doc}))["pending"], 0);
    };

    // 1. A real change with a broken signature.
    let mut bad_sig = envelope.clone();
    bad_sig[tandem_storage::SEAL_LEN - 1] ^= 1;
    let n = rejections(&log);
    rogue.publish(wire::change_message(
        &cipher,
        author,
        seq,
        &SignedChange { change: bytes.clone(), envelope: bad_sig },
        None,
    ));
    let n = wait_rejected(&log, n, "a change with a bad signature");
    alive(&mut a);

    // 2. Random bytes.
    let noise: Vec<u8> = (0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    rogue.publish(noise);
    let n = wait_rejected(&log, n, "random bytes");
    alive(&mut a);

    // 3. A correctly signed change, encrypted with the wrong key.
    let mut wrong = ticket.key.0;
    wrong[0] ^= 0xff;
    let wrong_cipher = DocCipher::new(ticket.doc, &DocKey(wrong));
    rogue.publish(wire::change_message(
        &wrong_cipher,
        author,
        seq,
        &SignedChange { change: bytes.clone(), envelope: envelope.clone() },
        None,
    ));
    let n = wait_rejected(&log, n, "a change under the wrong key");
    alive(&mut a);

    // 4. A message larger than the node's gossip limit: gossipsub drops it before the
    // engine sees it (and the stream it came on), so it goes last.
    let mut big = wire::change_message(
        &cipher,
        author,
        seq,
        &SignedChange { change: bytes.clone(), envelope: envelope.clone() },
        None,
    );
    big.resize(512 * 1024, 7);
    rogue.publish(big);
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&log).unwrap().contains("Failed to read from inbound stream") {
        assert!(Instant::now() < deadline, "the oversized message never reached the node");
        std::thread::sleep(Duration::from_millis(50));
    }
    alive(&mut a);
    assert_eq!(rejections(&log), n, "nothing else was refused");

    // An honest peer's change still arrives, live.
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    b.ok(json!({"cmd": "join", "ticket": ticket.to_string()}));
    b.wait_text(&doc, |t| t == "honest text");
    b.insert(&doc, 11, ", still");
    a.wait_text(&doc, |t| t == "honest text, still");
    drop(rogue);
    a.quit();
    let log = std::fs::read_to_string(&log).unwrap();
    eprintln!("node log:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// Issue 15: a read ticket lets its holder read, follow and serve a document, and
/// every change a read-ticket holder makes, validly encrypted and signed by its own
/// device key, is refused by every other peer (it holds no grant of the write key).
#[test]
fn a_read_ticket_reads_and_serves_but_its_changes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("a.log");
    let mut a = Node::start_with(
        &tmp.path().join("a"),
        &["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"],
        &Spawn { log: Some(&log), ..Spawn::default() },
    );
    let doc = a.ok(json!({"cmd": "create", "title": "Minutes"}))["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "agreed");
    let edit = a.ticket(&doc);
    let r = a.ok(json!({"cmd": "ticket", "doc": doc, "read": true}));
    assert_eq!(r["read_only"], true);
    let read: tandem_net::Ticket = r["ticket"].as_str().unwrap().parse().unwrap();
    assert_eq!(read.doc, edit.doc);
    assert_ne!(read.key, edit.key, "a read ticket does not carry the document key");

    // An honest reader follows the document and cannot edit it.
    let mut reader = Node::start(&tmp.path().join("reader"), &[]);
    reader.ok(json!({"cmd": "join", "ticket": read.to_string()}));
    reader.wait_text(&doc, |t| t == "agreed");
    let refused = reader.send(json!({"cmd": "insert", "doc": doc, "pos": 0, "text": "X"}));
    assert!(refused["error"].as_str().is_some_and(|e| e.contains("read-only")), "{refused}");
    // Its presence still shows (a reader is named by its presence, not in the document).
    reader.ok(json!({"cmd": "presence", "doc": doc, "name": "Reader", "cursor": 0}));
    a.insert(&doc, 6, " today");
    reader.wait_text(&doc, |t| t == "agreed today");

    // A rogue reader makes a real change in its own replica, seals it with its device
    // key and encrypts it: once with no grant, once with a grant made by a key of its
    // own. Both nodes refuse both.
    let cipher = DocCipher::reader(read.doc, &read.key, read.read_only.unwrap());
    assert!(!cipher.can_write());
    let store = StoreHandle::open(&tmp.path().join("rogue")).unwrap();
    store.add_doc_as(read.doc, read.key.clone(), read.read_only, "").wait().unwrap();
    let mut replica = store.load(read.doc).wait().unwrap();
    replica.insert(0, "EVIL ").unwrap();
    let change = replica.commit().unwrap();
    let bytes = tandem_crdt::encoding::encode_change(&change);
    let sealed = store.identity().seal(&read.doc, &bytes);
    let forger = DocCipher::new(read.doc, &DocKey([0x66; 32]));
    let signer: [u8; 32] = sealed[1..33].try_into().unwrap();
    let forged = [sealed.clone(), forger.grant(&signer).unwrap().to_vec()].concat();
    for target in [&a, &reader] {
        let rogue = Rogue::connect(target.listen[0].parse().unwrap(), &cipher);
        for envelope in [sealed.clone(), forged.clone()] {
            let sc = SignedChange { change: bytes.clone(), envelope };
            rogue.publish(wire::change_message(&cipher, change.author.0, change.start_seq, &sc, None));
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert_eq!(a.text(&doc), "agreed today", "the writer refused the reader's change");
    assert_eq!(reader.text(&doc), "agreed today", "the honest reader refused it too");
    assert!(
        std::fs::read_to_string(&log).unwrap().contains("may not write"),
        "refused for its missing grant"
    );

    // With the writer gone, the reader serves the document to a newcomer with an edit
    // ticket, and the newcomer's edits reach the reader.
    a.quit();
    let mut c = Node::start(&tmp.path().join("c"), &[]);
    let via_reader = tandem_net::Ticket { addrs: vec![reader.listen[0].parse().unwrap()], ..edit.clone() };
    c.ok(json!({"cmd": "join", "ticket": via_reader.to_string()}));
    c.wait_text(&doc, |t| t == "agreed today");
    c.insert(&doc, 0, "Minutes: ");
    reader.wait_text(&doc, |t| t == "Minutes: agreed today");
    // Restarted, the reader is still a reader.
    reader.quit();
    let mut reader = Node::start(&tmp.path().join("reader"), &[]);
    assert_eq!(reader.text(&doc), "Minutes: agreed today");
    let refused = reader.send(json!({"cmd": "insert", "doc": doc, "pos": 0, "text": "X"}));
    assert!(refused["error"].as_str().is_some_and(|e| e.contains("read-only")), "{refused}");
    // An edit ticket with a made-up key for the same document changes nothing; the
    // real one makes the reader a writer.
    let fake = tandem_net::Ticket { key: DocKey([0x42; 32]), addrs: vec![], ..edit.clone() };
    let wrong = reader.send(json!({"cmd": "join", "ticket": fake.to_string()}));
    assert!(wrong["error"].as_str().is_some_and(|e| e.contains("does not belong")), "{wrong}");
    assert_eq!(reader.text(&doc), "Minutes: agreed today");
    reader.ok(
        json!({"cmd": "join", "ticket": tandem_net::Ticket { addrs: vec![], ..edit.clone() }.to_string()}),
    );
    reader.insert(&doc, 0, "Approved. ");
    let to_reader = tandem_net::Ticket { addrs: vec![reader.listen[0].parse().unwrap()], ..edit };
    c.ok(json!({"cmd": "join", "ticket": to_reader.to_string()}));
    c.wait_text(&doc, |t| t == "Approved. Minutes: agreed today");
}

/// Gossip scoring: a member whose messages the node refuses soon is not heard at all,
/// not even when it sends something valid; the same valid change from another peer
/// arrives.
#[test]
fn a_peer_whose_messages_are_refused_is_no_longer_heard() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("a.log");
    let _dump = super::node::DumpLogsOnFailure(vec![log.clone()]);
    let spawn = Spawn {
        log: Some(&log),
        rust_log: Some("warn,tandem_net=debug,libp2p_gossipsub=debug"),
        ..Spawn::default()
    };
    let mut a =
        Node::start_with(&tmp.path().join("a"), &["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"], &spawn);
    let doc = a.ok(json!({"cmd": "create", "title": "Scored"}))["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "base");
    let ticket = a.ticket(&doc);
    let cipher = DocCipher::new(ticket.doc, &ticket.key);
    // A valid change, signed by a ticket holder.
    let store = StoreHandle::open(&tmp.path().join("rogue")).unwrap();
    store.add_doc(ticket.doc, ticket.key.clone(), "").wait().unwrap();
    let mut replica = store.load(ticket.doc).wait().unwrap();
    replica.insert(0, "valid ").unwrap();
    let change = replica.commit().unwrap();
    let bytes = tandem_crdt::encoding::encode_change(&change);
    // An edit-ticket holder grants its own key.
    let envelope = cipher.with_grant(store.identity().seal(&ticket.doc, &bytes));
    let valid = wire::change_message(
        &cipher,
        change.author.0,
        change.start_seq,
        &SignedChange { change: bytes, envelope },
        None,
    );

    let rogue = Rogue::connect(a.listen[0].parse().unwrap(), &cipher);
    for i in 0..6u8 {
        let mut garbage = valid.clone();
        garbage[40] ^= 1 + i;
        rogue.publish(garbage);
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    rogue.publish(valid.clone());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(a.text(&doc), "base", "a peer whose messages were refused was still heard");

    let other = Rogue::connect(a.listen[0].parse().unwrap(), &cipher);
    other.publish(valid);
    a.wait_text(&doc, |t| t.contains("valid ") && t.contains("base"));
    a.quit();
}

/// Presence is signed by its sender inside the seal, with a counter that only grows:
/// a member that captured another peer's presence and publishes it again later (under
/// a new gossip id, so gossipsub does not know it) moves nobody's cursor back and
/// shows no cursor under its own name or anyone else's.
#[test]
fn a_replayed_presence_moves_no_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let doc = a.ok(json!({"cmd": "create", "title": "Cursors"}))["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "0123456789");
    let ticket = a.ticket(&doc);
    let cipher = DocCipher::new(ticket.doc, &ticket.key);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    b.ok(json!({"cmd": "join", "ticket": ticket.to_string()}));
    b.wait_text(&doc, |t| t == "0123456789");
    let b_id = b.peer_id.clone();
    let rogue = Rogue::connect(a.listen[0].parse().unwrap(), &cipher);

    // What A shows of B: (name, cursor) of each presence.
    let shown = |a: &mut Node| -> Vec<(String, String, u64)> {
        let r = a.ok(json!({"cmd": "presences", "doc": doc}));
        r["presences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["peer_id"].as_str().unwrap().to_owned(),
                    p["name"].as_str().unwrap().to_owned(),
                    p["cursor"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // B's presences as the rogue heard them through A's mesh, by counter.
    let captured = |rogue: &Rogue| -> Vec<(u64, u64, Vec<u8>)> {
        let r = rogue.peer.received.lock().unwrap();
        r.gossip
            .iter()
            .filter_map(|m| match wire::open_gossip(&cipher, m) {
                Ok(wire::Gossip::Presence(p)) if p.from.to_string() == b_id => {
                    let at = p.presence.cursor.id.map_or(0, |id| id.seq);
                    Some((p.counter, at, m.clone()))
                }
                _ => None,
            })
            .collect()
    };

    b.ok(json!({"cmd": "presence", "doc": doc, "name": "Bea", "cursor": 2}));
    a.wait_for("B's first cursor at A", |a| shown(a).iter().any(|p| p.0 == b_id && p.2 == 2).then_some(()));
    let deadline = Instant::now() + WAIT;
    while captured(&rogue).is_empty() {
        assert!(Instant::now() < deadline, "the rogue heard no presence of B through A");
        std::thread::sleep(Duration::from_millis(50));
    }
    b.ok(json!({"cmd": "presence", "doc": doc, "name": "Bea", "cursor": 8}));
    a.wait_for("B's second cursor at A", |a| shown(a).iter().any(|p| p.0 == b_id && p.2 == 8).then_some(()));

    // The first presence again, under a fresh gossip id (the clear id field is not
    // sealed), then a marker of the rogue's own: A handles the rogue's messages in order.
    let (_, _, first) = captured(&rogue).into_iter().min_by_key(|c| c.0).unwrap();
    let mut replay = first.clone();
    replay[1..17].copy_from_slice(&[0xab; 16]);
    rogue.publish(replay);
    let marker_key = libp2p::identity::Keypair::generate_ed25519();
    let marker = wire::Presence {
        name: "marker".into(),
        colour: 0,
        cursor: tandem_crdt::Anchor { id: None, bias: tandem_crdt::Bias::Before },
        selection: None,
    };
    rogue.publish(wire::presence_message(&cipher, &marker_key, 1, &marker));
    a.wait_for("the rogue's marker at A", |a| shown(a).iter().any(|p| p.1 == "marker").then_some(()));

    let mut now = shown(&mut a);
    now.sort();
    let mut want = vec![
        (b_id.clone(), "Bea".to_owned(), 8),
        (marker_key.public().to_peer_id().to_string(), "marker".to_owned(), 0),
    ];
    want.sort();
    assert_eq!(now, want, "the replayed presence moved B's cursor or showed under another name");
    b.quit();
    a.quit();
}

/// A member of one document that subscribes to the topic of another (seen in the node's
/// subscriptions) to watch its traffic is disconnected once the grace for a fresh join
/// has passed, and kept out; honest peers of the other document sync on.
#[test]
fn a_member_subscribing_to_another_documents_topic_is_disconnected_and_kept_out() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let shared = a.ok(json!({"cmd": "create", "title": "Shared"}))["doc"].as_str().unwrap().to_owned();
    let private = a.ok(json!({"cmd": "create", "title": "Private"}))["doc"].as_str().unwrap().to_owned();
    let shared_ticket = a.ticket(&shared);
    let private_ticket = a.ticket(&private);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    b.ok(json!({"cmd": "join", "ticket": private_ticket.to_string()}));
    a.insert(&private, 0, "private words");
    b.wait_text(&private, |t| t == "private words");

    let cipher = DocCipher::new(shared_ticket.doc, &shared_ticket.key);
    let rogue = Rogue::connect(a.listen[0].parse().unwrap(), &cipher);
    let rogue_id = rogue.peer.id.to_string();
    assert!(a.peer_kind(&rogue_id).is_some(), "the rogue is connected as a member of one document");
    // The private document's topic is in A's subscriptions: the rogue subscribes to it.
    let private_topic = DocCipher::new(private_ticket.doc, &private_ticket.key).topic().to_owned();
    rogue.peer.wait("A's subscription to the private topic", |r| r.topics.contains(&private_topic));
    rogue.peer.subscribe(&private_topic);

    // After the grace a fresh join has to prove itself (30 s), and the next tick.
    let deadline = Instant::now() + Duration::from_secs(90);
    while a.peer_kind(&rogue_id).is_some() {
        assert!(Instant::now() < deadline, "A never disconnected the snooping rogue");
        std::thread::sleep(Duration::from_millis(500));
    }
    // It is kept out: dialling again gets it nowhere.
    rogue.peer.dial(a.listen[0].parse().unwrap());
    std::thread::sleep(Duration::from_secs(3));
    assert!(a.peer_kind(&rogue_id).is_none(), "the rogue was let back in");
    // The honest peer of the private document syncs on.
    b.insert(&private, 0, "more ");
    a.wait_text(&private, |t| t == "more private words");
}
