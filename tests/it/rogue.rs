//! A rogue peer that holds the document's topic (and, for some messages, its key)
//! publishes garbage and forgeries into a running `tandem node`: the node refuses each
//! with a logged reason, keeps its text, keeps answering, and still takes honest changes.
//!
//! The rogue is an in-process libp2p swarm (gossipsub with signed messages, as the
//! node's strict validation demands), so it can send bytes no `tandem node` would.

use super::node::{Node, Spawn, WAIT};
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, gossipsub, noise, tcp, yamux};
use serde_json::json;
use std::time::{Duration, Instant};
use tandem_net::crypto::DocCipher;
use tandem_net::wire;
use tandem_storage::{DocKey, SignedChange, StoreHandle};
use tokio::sync::mpsc;

/// A gossipsub-only swarm connected to one node, publishing what it is told on one topic.
struct Rogue {
    /// Runs the swarm task; dropping the rogue stops it.
    _rt: tokio::runtime::Runtime,
    publish: mpsc::UnboundedSender<Vec<u8>>,
    results: std::sync::mpsc::Receiver<Result<(), String>>,
}

impl Rogue {
    /// Connects to `addr` and returns once the node is subscribed to `topic`.
    fn connect(addr: Multiaddr, topic: &str) -> Rogue {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (publish, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let (res_tx, results) = std::sync::mpsc::channel();
        let topic = gossipsub::IdentTopic::new(topic);
        let mut swarm = rt.block_on(async {
            libp2p::SwarmBuilder::with_new_identity()
                .with_tokio()
                .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
                .unwrap()
                .with_behaviour(|key| {
                    let config = gossipsub::ConfigBuilder::default()
                        // Larger than the node accepts, to send it an oversized message.
                        .max_transmit_size(1 << 20)
                        .build()
                        .unwrap();
                    gossipsub::Behaviour::<
                            gossipsub::IdentityTransform,
                            gossipsub::AllowAllSubscriptionFilter,
                        >::new(
                            gossipsub::MessageAuthenticity::Signed(key.clone()), config
                        )
                        .unwrap()
                })
                .unwrap()
                .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
                .build()
        });
        let _context = rt.enter();
        swarm.behaviour_mut().subscribe(&topic).unwrap();
        swarm.dial(addr).unwrap();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        rt.spawn(async move {
            loop {
                tokio::select! {
                    ev = swarm.select_next_some() => {
                        if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { topic: t, .. }) = ev
                            && t == topic.hash()
                        {
                            let _ = ready_tx.send(());
                        }
                    }
                    msg = rx.recv() => {
                        let Some(msg) = msg else { break };
                        let res = swarm.behaviour_mut().publish(topic.clone(), msg).map(|_| ()).map_err(|e| e.to_string());
                        let _ = res_tx.send(res);
                    }
                }
            }
        });
        ready.recv_timeout(WAIT).expect("the node subscribed to the document's topic");
        Rogue { _rt: rt, publish, results }
    }

    fn publish(&self, msg: Vec<u8>) {
        self.publish.send(msg).unwrap();
        let res = self.results.recv_timeout(WAIT).unwrap();
        assert_eq!(res, Ok(()), "the rogue could publish");
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

    let rogue = Rogue::connect(a.listen[0].parse().unwrap(), cipher.topic());
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
