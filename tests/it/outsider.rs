//! An outsider: a libp2p peer without the ticket connects to two `tandem node`s that
//! share a document, harvests what they send it (no topic among it), subscribes to the
//! document's topic learned elsewhere, storms it with subscriptions, and sends hellos and catch-up requests of its own,
//! including one it replays from another node. It must learn no document id, receive
//! none of the document's traffic, move nothing at the third peer, and never count as
//! one of the document's peers.

use super::node::Node;
use super::peer::{Config, TestPeer};
use libp2p::PeerId;
use serde_json::json;
use std::time::Duration;
use tandem_net::crypto::DocCipher;
use tandem_net::wire;

/// Bytes of catch-up answers and of gossip a node received for the document.
fn bytes_in(n: &mut Node, doc: &str) -> u64 {
    let s = n.ok(json!({"cmd": "status", "doc": doc}));
    s["sync_bytes_in"].as_u64().unwrap() + s["gossip_bytes_in"].as_u64().unwrap()
}

fn peers_of(n: &mut Node, doc: &str) -> u64 {
    n.ok(json!({"cmd": "status", "doc": doc}))["peers"].as_u64().unwrap()
}

#[test]
fn an_outsider_learns_no_document_and_moves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let doc = a.ok(json!({"cmd": "create", "title": "Secret plans"}))["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "meet at dawn");
    let ticket = a.ticket(&doc);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    b.ok(json!({"cmd": "join", "ticket": ticket.to_string()}));
    b.wait_text(&doc, |t| t == "meet at dawn");
    assert_eq!(peers_of(&mut a, &doc), 1);

    let outsider = TestPeer::start(Config { cipher: None, prove: false, topics: Vec::new() });
    let (id_a, id_b): (PeerId, PeerId) = (a.peer_id.parse().unwrap(), b.peer_id.parse().unwrap());
    outsider.dial(a.listen[0].parse().unwrap());
    outsider.dial(b.listen[0].parse().unwrap());
    // Each node greets it with a hello: tags it cannot read.
    outsider.wait("a hello from each node", |r| {
        let hellos = |p: PeerId| {
            r.requests.iter().any(|(from, b)| {
                *from == p && matches!(wire::parse_request(b), Ok(wire::Request::Hello { .. }))
            })
        };
        hellos(id_a) && hellos(id_b)
    });
    // The nodes gossip only with peers that proved a document: they do not tell it
    // which topics they subscribe to (their first gossip message would have, at once).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        outsider.received.lock().unwrap().topics,
        Vec::<String>::new(),
        "the nodes named their topics"
    );

    // It joins the document's topic, learned some other way (a DHT node near it sees
    // it in provider records), and storms it.
    let topics = vec![DocCipher::new(ticket.doc, &ticket.key).topic().to_owned()];
    let before = bytes_in(&mut b, &doc);
    for t in &topics {
        outsider.subscribe(t);
    }
    for _ in 0..40 {
        for t in &topics {
            outsider.unsubscribe(t);
            outsider.subscribe(t);
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    // It replays to A the hello B sent it, and sends hellos and requests of its own.
    let replayed = {
        let r = outsider.received.lock().unwrap();
        r.requests.iter().find(|(from, _)| *from == id_b).unwrap().1.clone()
    };
    outsider.request(id_a, replayed);
    let Ok(wire::Request::Hello { nonce, tags }) =
        wire::parse_request(&outsider.received.lock().unwrap().requests[0].1)
    else {
        panic!("the first request is a hello")
    };
    outsider.request(id_a, wire::hello_request(&nonce, tags));
    let mut ask = vec![2u8];
    ask.extend_from_slice(&[7; 16]);
    ask.extend_from_slice(&[9; 80]);
    outsider.request(id_a, ask.clone());
    outsider.request(id_b, ask);
    outsider.wait("answers to its four requests", |r| r.responses.len() >= 4);
    std::thread::sleep(Duration::from_secs(1));
    // The storm and the requests moved nothing at the third peer.
    let after = bytes_in(&mut b, &doc);
    assert!(after - before < 1024, "the outsider made B receive {} bytes", after - before);

    // Meanwhile the members type, and their edits flow between them.
    a.insert(&doc, 12, " by the river");
    b.wait_text(&doc, |t| t == "meet at dawn by the river");
    b.insert(&doc, 0, "Plan: ");
    a.wait_text(&doc, |t| t == "Plan: meet at dawn by the river");
    // Give any traffic the outsider could draw a moment to arrive.
    std::thread::sleep(Duration::from_secs(2));

    let r = outsider.received.lock().unwrap();
    // Every answer refuses: no welcome tag, no changes.
    for resp in &r.responses {
        assert!(
            resp.as_slice() == wire::unknown_doc_response()
                || wire::open_welcome(resp).is_ok_and(|t| t.is_empty()),
            "an answer to the outsider carried something: {resp:?}"
        );
    }
    assert!(r.topics.is_empty(), "the nodes named their topics: {:?}", r.topics);
    // The nodes asked it nothing but their hellos, and sent it none of the document's gossip.
    assert_eq!(r.requests.len(), 2, "the nodes sent the outsider only their hellos");
    assert!(r.gossip.is_empty(), "the outsider received {} gossip messages", r.gossip.len());
    // Nothing it received names the document.
    let all = r.all_bytes();
    let id = ticket.doc.0;
    assert!(!all.windows(id.len()).any(|w| w == id), "the raw document id reached the outsider");
    let hex = ticket.doc.to_string();
    assert!(!String::from_utf8_lossy(&all).contains(&hex), "the document id reached the outsider");
    assert!(!all.windows(32).any(|w| w == ticket.key.0), "the key reached the outsider");
    for t in &topics {
        assert!(!t.contains(&hex));
    }
    drop(r);

    // The outsider is nobody's peer.
    assert_eq!(peers_of(&mut a, &doc), 1, "the outsider counts as a peer of A");
    assert_eq!(peers_of(&mut b, &doc), 1, "the outsider counts as a peer of B");
    let connected = a.ok(json!({"cmd": "peers"}))["peers"].as_array().unwrap().len();
    assert_eq!(connected, 2, "A is connected to B and the outsider");
    drop(outsider);
    a.quit();
    b.quit();
}
