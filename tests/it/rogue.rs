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
    let envelope = store.identity().seal(&ticket.doc, &bytes);
    let (author, seq) = (change.author.0, change.start_seq);

    let rogue = Rogue::connect(a.listen[0].parse().unwrap(), &cipher);
    let alive = |a: &mut Node| {
        assert_eq!(a.text(&doc), "honest text", "the rogue changed nothing");
        assert_eq!(a.ok(json!({"cmd": "status", "doc": doc}))["pending"], 0);
    };

    // 1. A real change with a broken signature.
    let mut bad_sig = envelope.clone();
    *bad_sig.last_mut().unwrap() ^= 1;
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
