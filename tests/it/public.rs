//! Meeting through the public network with nothing but defaults: two nodes that share
//! only a ticket without addresses (no mDNS, no bootstrap peer of their own) find each
//! other through a stand-in for the public IPFS DHT on loopback (`amino.rs`), sync, and
//! upgrade the relayed connection to a direct one. What the public nodes were told
//! names no document; with the public network off they hear nothing at all.

use crate::amino::PublicNet;
use crate::node::{DumpLogsOnFailure, Node, Spawn};
use serde_json::json;
use std::time::{Duration, Instant};
use tandem_net::PeerId;

fn start(dir: &std::path::Path, net: &PublicNet, extra: &[&str], log: &std::path::Path) -> Node {
    let boot = net.bootstrap_args();
    let mut args = vec!["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"];
    args.extend(boot.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let spawn = Spawn {
        public_network: true,
        log: Some(log),
        rust_log: Some("info,tandem_net=debug,libp2p_kad=info"),
        ..Spawn::default()
    };
    Node::start_with(dir, &args, &spawn)
}

/// Waits up to `limit` for `f` to hold.
fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn peers_meet_through_the_public_dht_from_the_ticket_alone_and_tell_it_nothing() {
    let net = PublicNet::start(3, "127.0.0.1");
    let tmp = tempfile::tempdir().unwrap();
    let logs = vec![tmp.path().join("a.log"), tmp.path().join("b.log")];
    let _dump = DumpLogsOnFailure(logs.clone());
    let mut a = start(&tmp.path().join("a"), &net, &[], &logs[0]);
    let doc =
        a.ok(json!({"cmd": "create", "title": "Across the internet"}))["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "hello from A");
    let a_id: PeerId = a.peer_id.parse().unwrap();
    // A is not reachable by itself on loopback (AutoNAT wants global addresses): it
    // reserves on a relay of the public network and announces the document with
    // that circuit address.
    eventually(Duration::from_secs(60), "A's announcement on the public DHT", || {
        net.seen.lock().unwrap().provided.iter().any(|p| p.provider == a_id && !p.addrs.is_empty())
    });
    let status = a.ok(json!({"cmd": "network"}));
    assert_eq!(status["public_network"], true, "{status}");
    assert_eq!(status["public_reached"], true, "{status}");
    assert!(status["relays"].as_array().is_some_and(|r| !r.is_empty()), "{status}");
    assert!(
        status["external"].as_array().unwrap().iter().any(|e| e.as_str().unwrap().contains("/p2p-circuit"))
    );

    // The ticket without any address: only the public DHT can bring them together.
    let ticket = tandem_net::Ticket { addrs: vec![], ..a.ticket(&doc) };
    let mut b = start(&tmp.path().join("b"), &net, &[], &logs[1]);
    b.ok(json!({"cmd": "join", "ticket": ticket.to_string()}));
    b.wait_text(&doc, |t| t == "hello from A");
    b.insert(&doc, 0, "B: ");
    a.wait_text(&doc, |t| t == "B: hello from A");
    // DCUtR replaces the relayed connection with a direct one.
    let (a_peer, b_peer) = (a.peer_id.clone(), b.peer_id.clone());
    b.wait_for("a hole-punched connection from B to A", |n| {
        n.peer_kind(&a_peer).filter(|k| k == "\"hole-punched\"").map(|_| ())
    });
    a.wait_for("a hole-punched connection from A to B", |n| {
        n.peer_kind(&b_peer).filter(|k| k == "\"hole-punched\"").map(|_| ())
    });

    // Neither counts a public node among its peers.
    for n in [&mut a, &mut b] {
        let peers = n.ok(json!({"cmd": "peers"}));
        for p in peers["peers"].as_array().unwrap() {
            let id: PeerId = p["peer_id"].as_str().unwrap().parse().unwrap();
            assert!(!net.is_node(&id), "a public node is listed as a peer: {peers}");
        }
        assert!(n.ok(json!({"cmd": "network"}))["infrastructure"].as_u64().unwrap() >= 1);
    }

    // What the public nodes were told names no document.
    let b_id: PeerId = b.peer_id.parse().unwrap();
    let seen = net.seen.lock().unwrap();
    seen.assert_told_nothing(&ticket, &[a_id, b_id]);
    assert!(seen.reservations.contains(&a_id), "A reserved on a public relay");
    drop(seen);
    b.quit();
    a.quit();
}

#[test]
fn with_the_public_network_off_the_public_nodes_hear_nothing() {
    let net = PublicNet::start(2, "127.0.0.1");
    let tmp = tempfile::tempdir().unwrap();
    let logs = vec![tmp.path().join("flag.log"), tmp.path().join("env.log")];
    let _dump = DumpLogsOnFailure(logs.clone());
    // Switched off by the flag, with the environment allowing it...
    let mut by_flag = start(&tmp.path().join("flag"), &net, &["--no-public-network"], &logs[0]);
    // ...and by the environment, with the flag absent.
    let boot = net.bootstrap_args();
    let mut args = vec!["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"];
    args.extend(boot.iter().map(String::as_str));
    let spawn = Spawn { log: Some(&logs[1]), ..Spawn::default() };
    let mut by_env = Node::start_with(&tmp.path().join("env"), &args, &spawn);
    for n in [&mut by_flag, &mut by_env] {
        let doc = n.ok(json!({"cmd": "create", "title": "Private"}))["doc"].as_str().unwrap().to_owned();
        n.insert(&doc, 0, "stays home");
        let status = n.ok(json!({"cmd": "network"}));
        assert_eq!(status["public_network"], false, "{status}");
    }
    // A node with it on, as the control: it does reach the same public nodes.
    let on = start(&tmp.path().join("on"), &net, &[], &tmp.path().join("on.log"));
    let on_id: PeerId = on.peer_id.parse().unwrap();
    eventually(Duration::from_secs(30), "the control node reaching the public nodes", || {
        net.seen.lock().unwrap().connected.contains(&on_id)
    });
    std::thread::sleep(Duration::from_secs(5));
    let seen = net.seen.lock().unwrap();
    let ids: Vec<PeerId> = [&by_flag, &by_env].iter().map(|n| n.peer_id.parse().unwrap()).collect();
    for id in &ids {
        assert!(!seen.connected.contains(id), "a node with the public network off connected to it");
    }
    drop(seen);
    on.quit();
    by_flag.quit();
    by_env.quit();
}

/// `scripts/bench-nat`: the bytes a node with 10 documents and no peers exchanges with
/// the public network while idle, over `TANDEM_IDLE_MINUTES` (default 60) after its
/// announcements went out. Every connection it has is to a public node, so its traffic
/// counters count exactly that.
#[test]
#[ignore = "a measurement: scripts/bench-nat runs it"]
fn measure_idle_traffic_with_the_public_network() {
    let minutes: u64 = std::env::var("TANDEM_IDLE_MINUTES").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let net = PublicNet::start(3, "127.0.0.1");
    let tmp = tempfile::tempdir().unwrap();
    let mut n = start(&tmp.path().join("n"), &net, &[], &tmp.path().join("n.log"));
    for i in 0..10 {
        let doc =
            n.ok(json!({"cmd": "create", "title": format!("Idle {i}")}))["doc"].as_str().unwrap().to_owned();
        n.insert(&doc, 0, "quiet");
    }
    eventually(Duration::from_secs(120), "all ten documents announced", || {
        n.ok(json!({"cmd": "network"}))["public_announced"].as_u64() == Some(10)
    });
    std::thread::sleep(Duration::from_secs(60));
    let before = n.ok(json!({"cmd": "traffic"}));
    std::thread::sleep(Duration::from_secs(minutes * 60));
    let after = n.ok(json!({"cmd": "traffic"}));
    let bytes = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
    let per_hour = |b: u64| b * 60 / minutes;
    let peers = n.ok(json!({"cmd": "peers"}));
    assert!(peers["peers"].as_array().unwrap().is_empty(), "only public nodes are connected: {peers}");
    println!(
        "RESULT idle with 10 documents, over {minutes} min: {} bytes in and {} bytes out per hour, {} DHT queries, {} connections",
        per_hour(bytes("bytes_in")),
        per_hour(bytes("bytes_out")),
        bytes("dht_queries"),
        after["connections"]
    );
}
