//! Peers that cannot dial each other meet through a `tandem node --relay` (loopback).

use super::node::{Node, Spawn, converge, is_circuit};
use serde_json::json;

#[test]
fn two_nodes_sync_through_a_relay() {
    let tmp = tempfile::tempdir().unwrap();
    let r = Node::start(&tmp.path().join("r"), &["--relay"]);
    let circuit = format!("{}/p2p-circuit", r.listen[0]);
    // A and B listen only through the relay: neither can be dialled directly, so the
    // connection between them must be relayed.
    let only_relayed = ["--no-mdns", "--listen", circuit.as_str()];
    let mut a = Node::start_with(&tmp.path().join("a"), &only_relayed, &Spawn::default());
    let mut b = Node::start_with(&tmp.path().join("b"), &only_relayed, &Spawn::default());
    assert!(a.listen.iter().all(|l| l.contains("/p2p-circuit/p2p/")), "{:?}", a.listen);
    let r = a.ok(json!({"cmd": "create", "title": "Relayed"}));
    let doc = r["doc"].as_str().unwrap().to_owned();
    let ticket = a.ticket(&doc);
    assert!(!ticket.addrs.is_empty() && ticket.addrs.iter().all(is_circuit), "{ticket:?}");
    a.insert(&doc, 0, "through the relay");
    b.ok(json!({"cmd": "join", "ticket": ticket.to_string()}));
    b.wait_text(&doc, |t| t == "through the relay");
    b.insert(&doc, 0, ">> ");
    a.wait_text(&doc, |t| t == ">> through the relay");
    converge(&mut [&mut a, &mut b], &doc);
    let b_id = b.peer_id.clone();
    let a_id = a.peer_id.clone();
    assert_eq!(a.peer_kind(&b_id).as_deref(), Some("\"relayed\""));
    assert_eq!(b.peer_kind(&a_id).as_deref(), Some("\"relayed\""));
    assert!(
        a.events.iter().any(|e| e["event"] == "peer_connected"
            && e["peer_id"] == b_id.as_str()
            && e["kind"] == "relayed")
    );
}

#[test]
fn a_node_reserves_on_a_relay_and_puts_it_in_its_tickets() {
    let tmp = tempfile::tempdir().unwrap();
    let r = Node::start(&tmp.path().join("r"), &["--relay"]);
    let relay = r.listen[0].clone();
    // A learns that R is a relay from identify and makes a reservation by itself.
    let mut a = Node::start(&tmp.path().join("a"), &["--bootstrap", &relay]);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    let res = a.ok(json!({"cmd": "create", "title": "Reserved"}));
    let doc = res["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "reserved");
    let relayed = a.wait_for("a relayed address in A's ticket", |a| {
        let t = a.ticket(&doc);
        t.addrs.iter().any(is_circuit).then_some(t)
    });
    let circuit: Vec<_> = relayed.addrs.iter().filter(|a| is_circuit(a)).cloned().collect();
    assert!(circuit[0].to_string().starts_with(&relay), "{circuit:?} goes through {relay}");
    // B joins with only the relayed address.
    let only = tandem_net::Ticket { addrs: circuit, ..relayed };
    b.ok(json!({"cmd": "join", "ticket": only.to_string()}));
    b.wait_text(&doc, |t| t == "reserved");
    b.insert(&doc, 8, "!");
    a.wait_text(&doc, |t| t == "reserved!");
}

#[test]
fn a_reservation_is_renewed_after_going_offline_and_back() {
    let tmp = tempfile::tempdir().unwrap();
    let r = Node::start(&tmp.path().join("r"), &["--relay"]);
    let relay = r.listen[0].clone();
    let log = tmp.path().join("a.log");
    let accepted = || {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        log.lines().filter(|l| l.contains("accepted a reservation")).count()
    };
    let mut a = Node::start_with(
        &tmp.path().join("a"),
        &["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--bootstrap", &relay],
        &Spawn { log: Some(&log), rust_log: Some("warn,tandem_net=info"), ..Spawn::default() },
    );
    let res = a.ok(json!({"cmd": "create", "title": "Again"}));
    let doc = res["doc"].as_str().unwrap().to_owned();
    a.wait_for("a relayed address in A's ticket", |a| {
        a.ticket(&doc).addrs.iter().any(is_circuit).then_some(())
    });
    assert_eq!(accepted(), 1);
    // Offline drops every connection, the relay's too, and with it the reservation;
    // back online, A dials its bootstrap relay and reserves again.
    a.ok(json!({"cmd": "offline", "on": true}));
    a.ok(json!({"cmd": "offline", "on": false}));
    a.wait_for("a second reservation", |_| (accepted() == 2).then_some(()));
    assert!(a.ticket(&doc).addrs.iter().any(is_circuit));
}

#[test]
fn a_configured_relay_listener_comes_back_after_going_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let r = Node::start(&tmp.path().join("r"), &["--relay"]);
    let circuit = format!("{}/p2p-circuit", r.listen[0]);
    let only_relayed = ["--no-mdns", "--listen", circuit.as_str()];
    let mut a = Node::start_with(&tmp.path().join("a"), &only_relayed, &Spawn::default());
    let res = a.ok(json!({"cmd": "create", "title": "Again"}));
    let doc = res["doc"].as_str().unwrap().to_owned();
    let ticket = a.ticket(&doc);
    a.ok(json!({"cmd": "offline", "on": true}));
    a.insert(&doc, 0, "written offline");
    a.ok(json!({"cmd": "offline", "on": false}));
    let mut b = Node::start_with(&tmp.path().join("b"), &only_relayed, &Spawn::default());
    b.ok(json!({"cmd": "join", "ticket": ticket.to_string()}));
    b.wait_text(&doc, |t| t == "written offline");
    let a_id = a.peer_id.clone();
    assert_eq!(b.peer_kind(&a_id).as_deref(), Some("\"relayed\""));
}
