//! Two, three and more peers; offline; crashes; wrong keys.

use super::node::{Node, converge};
use serde_json::json;

fn create(n: &mut Node, title: &str) -> (String, String) {
    let r = n.ok(json!({"cmd": "create", "title": title}));
    (r["doc"].as_str().unwrap().to_owned(), r["ticket"].as_str().unwrap().to_owned())
}

#[test]
fn two_nodes_type_both_ways_and_converge() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    let (doc, ticket) = create(&mut a, "Shared");
    a.insert(&doc, 0, "hello");
    assert_eq!(b.ok(json!({"cmd": "join", "ticket": ticket}))["doc"], doc.as_str());
    assert_eq!(b.wait_text(&doc, |t| t == "hello"), "hello", "catch-up on join");
    // Live, both ways.
    b.insert(&doc, 5, " world");
    a.wait_text(&doc, |t| t == "hello world");
    a.insert(&doc, 0, ">> ");
    b.wait_text(&doc, |t| t == ">> hello world");
    // Concurrent typing at the same place on both sides.
    for i in 0..10 {
        a.insert(&doc, 3, &format!("a{i}"));
        b.insert(&doc, 3, &format!("b{i}"));
    }
    let text = converge(&mut [&mut a, &mut b], &doc);
    assert_eq!(text.chars().count(), ">> hello world".len() + 40);
    assert!(text.starts_with(">> ") && text.ends_with("hello world"), "{text}");
    // Both saw each other and the remote changes.
    assert!(a.events.iter().any(|e| e["event"] == "peer_connected" && e["peer_id"] == b.peer_id.as_str()));
    assert!(b.events.iter().any(|e| e["event"] == "remote_change" && e["doc"] == doc.as_str()));
    let peers = a.ok(json!({"cmd": "peers"}));
    assert_eq!(peers["peers"][0]["peer_id"], b.peer_id.as_str());
    assert_eq!(peers["peers"][0]["kind"], "direct");
    a.quit();
    b.quit();
}

#[test]
fn three_nodes_in_a_line_and_a_late_joiner() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    let mut c = Node::start(&tmp.path().join("c"), &[]);
    let (doc, ticket_a) = create(&mut a, "Line");
    a.insert(&doc, 0, "A1 ");
    // B joins through A's ticket; C only through B's ticket (B's addresses).
    b.ok(json!({"cmd": "join", "ticket": ticket_a}));
    b.wait_text(&doc, |t| t == "A1 ");
    let ticket_b = b.ok(json!({"cmd": "ticket", "doc": doc}))["ticket"].as_str().unwrap().to_owned();
    c.ok(json!({"cmd": "join", "ticket": ticket_b}));
    c.wait_text(&doc, |t| t == "A1 ");
    a.insert(&doc, 3, "A2 ");
    c.insert(&doc, 0, "C1 ");
    b.insert(&doc, 0, "B1 ");
    let text = converge(&mut [&mut a, &mut b, &mut c], &doc);
    for w in ["A1 ", "A2 ", "B1 ", "C1 "] {
        assert!(text.contains(w), "{w:?} in {text:?}");
    }
    // A late joiner gets the whole document by catch-up.
    let mut d = Node::start(&tmp.path().join("d"), &[]);
    d.ok(json!({"cmd": "join", "ticket": ticket_a}));
    assert_eq!(d.wait_text(&doc, |t| t == text), text);
    converge(&mut [&mut a, &mut b, &mut c, &mut d], &doc);
}

#[test]
fn edits_made_offline_merge_on_reconnect() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    let (doc, ticket) = create(&mut a, "Train");
    a.insert(&doc, 0, "base\n");
    b.ok(json!({"cmd": "join", "ticket": ticket}));
    b.wait_text(&doc, |t| t == "base\n");
    a.ok(json!({"cmd": "offline", "on": true}));
    b.ok(json!({"cmd": "offline", "on": true}));
    for i in 0..20 {
        a.insert(&doc, 0, &format!("a{i} "));
        let end = b.text(&doc).chars().count();
        b.insert(&doc, end, &format!("b{i} "));
    }
    assert!(!a.text(&doc).contains("b0"), "nothing crosses while offline");
    assert!(!b.text(&doc).contains("a0"));
    a.ok(json!({"cmd": "offline", "on": false}));
    b.ok(json!({"cmd": "offline", "on": false}));
    let text = converge(&mut [&mut a, &mut b], &doc);
    for i in 0..20 {
        assert!(text.contains(&format!("a{i} ")) && text.contains(&format!("b{i} ")), "{text}");
    }
    // A node that was stopped catches up when it comes back.
    b.quit();
    a.insert(&doc, 0, "while you were away ");
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    let t = b.wait_text(&doc, |t| t.starts_with("while you were away "));
    assert!(t.contains("b19 "), "its own edits survived the restart");
    converge(&mut [&mut a, &mut b], &doc);
}

/// Two peers alone (no DHT to find each other by): B starts while A is offline, so its
/// dial of A's stored address fails, and A, coming back online, dials the address B had
/// before its restart. B dials A's stored address again a few seconds later, without
/// anyone typing or restarting anything.
#[test]
fn a_peer_that_was_away_at_start_is_dialled_again() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    let (doc, ticket) = create(&mut a, "Back");
    b.ok(json!({"cmd": "join", "ticket": ticket}));
    b.insert(&doc, 0, "b was here ");
    a.wait_text(&doc, |t| t == "b was here ");
    b.quit();
    a.ok(json!({"cmd": "offline", "on": true}));
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    assert_eq!(b.text(&doc), "b was here ");
    // B dials A's stored address at start; offline A closes the connection.
    b.wait_for("offline A to turn B away", |n| {
        n.ok(json!({"cmd": "peers"}));
        n.events.iter().any(|e| e["event"] == "peer_disconnected").then_some(())
    });
    a.insert(&doc, 0, "a is back ");
    a.ok(json!({"cmd": "offline", "on": false}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if b.text(&doc).contains("a is back ") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "A and B never met again: {:?}", b.text(&doc));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_killed_node_keeps_what_it_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    let (doc, ticket) = create(&mut a, "Crash");
    b.ok(json!({"cmd": "join", "ticket": ticket}));
    b.wait_text(&doc, |t| t.is_empty());
    for i in 0..60 {
        let w = format!("w{i} ");
        let end = b.text(&doc).chars().count();
        b.insert(&doc, end, &w);
        if i % 10 == 0 {
            a.insert(&doc, 0, "|");
        }
    }
    // Every insert above was acknowledged (durable) before the kill.
    b.kill9();
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    // A's concurrent `|`s can land a word one char early (between the previous word and
    // its space), never inside a word: without `|`s and spaces the words read in order.
    let t = b.text(&doc);
    let squeezed: String = t.chars().filter(|c| *c != '|' && *c != ' ').collect();
    let expected: String = (0..60).map(|i| format!("w{i}")).collect();
    assert_eq!(squeezed, expected, "acknowledged words lost after kill -9: {t:?}");
    converge(&mut [&mut a, &mut b], &doc);
}

#[test]
fn a_wrong_key_reads_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let mut m = Node::start(&tmp.path().join("m"), &[]);
    let (doc, ticket) = create(&mut a, "Secret");
    a.insert(&doc, 0, "secret text");
    // Same document id and addresses, another key: flip one key byte and re-encode.
    let parsed: tandem_net::Ticket = ticket.parse().unwrap();
    let mut key = parsed.key.0;
    key[0] ^= 0xff;
    let forged = tandem_net::Ticket { key: tandem_storage::DocKey(key), ..parsed };
    m.ok(json!({"cmd": "join", "ticket": forged.to_string()}));
    m.insert(&doc, 0, "forged ");
    // Let them connect and try to sync for a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        assert_eq!(m.text(&doc), "forged ", "the wrong key reads nothing");
        assert_eq!(a.text(&doc), "secret text", "the wrong key writes nothing");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(a.events.iter().any(|e| e["event"] == "peer_connected"), "they did connect");
    // Bad tickets and bad lines are errors; the node keeps running.
    let r = a.send(json!({"cmd": "join", "ticket": "tandem1abc"}));
    assert_eq!(r["ok"], false);
    assert!(r["error"].as_str().unwrap().contains("ticket"), "{r}");
    let r = a.send_raw("{not json");
    assert_eq!(r["ok"], false);
    let r = a.send(json!({"cmd": "insert", "doc": doc, "pos": 10_000, "text": "x"}));
    assert!(r["error"].as_str().unwrap().contains("out of range"), "{r}");
    let r = a.send(json!({"cmd": "launch"}));
    assert!(r["error"].as_str().unwrap().contains("unknown command"), "{r}");
    assert_eq!(a.text(&doc), "secret text");
}

#[test]
fn a_node_finds_document_peers_through_the_dht() {
    let tmp = tempfile::tempdir().unwrap();
    // R holds no document: it only serves the DHT.
    let r = Node::start(&tmp.path().join("r"), &[]);
    let boot = r.listen[0].clone();
    let mut a = Node::start(&tmp.path().join("a"), &["--bootstrap", &boot]);
    let mut b = Node::start(&tmp.path().join("b"), &["--bootstrap", &boot]);
    let (doc, ticket) = create(&mut a, "Found");
    a.insert(&doc, 0, "found through the DHT");
    // B gets a ticket without any address: only the DHT can lead it to A.
    let t: tandem_net::Ticket = ticket.parse().unwrap();
    let bare = tandem_net::Ticket { addrs: vec![], ..t };
    b.ok(json!({"cmd": "join", "ticket": bare.to_string()}));
    assert_eq!(b.wait_text(&doc, |t| t == "found through the DHT"), "found through the DHT");
    let peers = b.ok(json!({"cmd": "peers"}));
    assert!(
        peers["peers"].as_array().unwrap().iter().any(|p| p["peer_id"] == a.peer_id.as_str()),
        "B connected to A: {peers}"
    );
}

#[test]
fn catch_up_costs_the_missed_edits_not_the_document() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    let (doc, ticket) = create(&mut a, "Big");
    let big: String = (0..10_000).map(|i| format!("line {i:04}\n")).collect();
    assert_eq!(big.len(), 100_000);
    a.insert(&doc, 0, &big);
    b.ok(json!({"cmd": "join", "ticket": ticket}));
    b.wait_text(&doc, |t| t.len() == big.len());
    let bytes = |n: &mut Node| n.ok(json!({"cmd": "status", "doc": doc}))["sync_bytes_in"].as_u64().unwrap();
    let first = bytes(&mut b);
    assert!(first > 100_000 / 3, "the first catch-up carried the document ({first} bytes)");
    a.ok(json!({"cmd": "offline", "on": true}));
    b.ok(json!({"cmd": "offline", "on": true}));
    for i in 0..20 {
        a.insert(&doc, i * 11, "x");
    }
    a.ok(json!({"cmd": "offline", "on": false}));
    b.ok(json!({"cmd": "offline", "on": false}));
    converge(&mut [&mut a, &mut b], &doc);
    let missed = bytes(&mut b) - first;
    eprintln!("catch-up bytes: whole document {first}, after 20 missed edits {missed}");
    // Twenty one-char changes, each sealed and signed: a few hundred bytes apiece.
    assert!(missed > 0 && missed < 20 * 600, "catch-up after 20 edits took {missed} bytes");
}

#[test]
fn presence_shows_where_peers_are_and_follows_the_text() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    let (doc, ticket) = create(&mut a, "Cursors");
    a.insert(&doc, 0, "hello world");
    b.ok(json!({"cmd": "join", "ticket": ticket}));
    b.wait_text(&doc, |t| t == "hello world");
    // Alice's cursor before "world", selecting it.
    a.ok(json!({"cmd": "presence", "doc": doc, "name": "Alice", "colour": "#e0457b", "cursor": 6, "selection": 11}));
    let deadline = std::time::Instant::now() + super::node::WAIT;
    let seen = loop {
        let r = b.ok(json!({"cmd": "presences", "doc": doc}));
        if let Some(p) = r["presences"].as_array().unwrap().iter().find(|p| p["name"] == "Alice") {
            break p.clone();
        }
        assert!(std::time::Instant::now() < deadline, "Alice's presence never arrived: {r}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(seen["peer_id"], a.peer_id.as_str());
    assert_eq!(seen["colour"], "#e0457b");
    assert_eq!((seen["cursor"].as_u64(), seen["selection"].as_u64()), (Some(6), Some(11)));
    // B types in front: Alice's cursor and selection move with "world" (anchors).
    b.insert(&doc, 0, ">> ");
    let r = b.ok(json!({"cmd": "presences", "doc": doc}));
    let p = &r["presences"][0];
    assert_eq!((p["cursor"].as_u64(), p["selection"].as_u64()), (Some(9), Some(14)), "{r}");
    // A peer does not list its own presence.
    assert!(a.ok(json!({"cmd": "presences", "doc": doc}))["presences"].as_array().unwrap().is_empty());
    assert!(b.events.iter().any(|e| e["event"] == "presence"));
}

#[test]
fn a_receiver_stores_typing_under_the_authors_run_seals() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    let (doc, ticket) = create(&mut a, "Typed");
    let typed: String = (0..300u32).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    a.insert(&doc, 0, &typed[..1]);
    b.ok(json!({"cmd": "join", "ticket": ticket}));
    b.wait_text(&doc, |t| t == &typed[..1]);
    for (i, ch) in typed.chars().enumerate().skip(1) {
        a.insert(&doc, i, &ch.to_string());
    }
    b.wait_text(&doc, |t| t == typed);
    let live = b.events.iter().filter(|e| e["event"] == "remote_change" && e["doc"] == doc.as_str()).count();
    a.quit();
    b.quit();
    // Most keystrokes arrived live, one change each...
    assert!(live > 150, "only {live} changes arrived live");
    // ...yet the receiver keeps a few runs under the author's seals, not one change
    // and seal per keystroke, and serves them so that anyone can check them.
    let store = tandem_storage::Store::open(&tmp.path().join("b")).unwrap();
    let id: tandem_storage::DocId = doc.parse().unwrap();
    let stored = store.signed_changes_since(id, &tandem_crdt::VectorClock::new()).unwrap();
    let mut ops = 0;
    for sc in &stored {
        let c = tandem_crdt::encoding::decode_change(&sc.change).unwrap();
        tandem_storage::check_seal(&id, &sc.change, c.author, &sc.envelope).unwrap();
        ops += c.n_seqs();
    }
    assert!(ops >= 300, "{ops} ops stored");
    assert!(stored.len() < 40, "{} changes stored for 300 keystrokes", stored.len());
}

/// A writer's name goes into the document: a peer that joins later, with the writer
/// gone, names the author of its edits, also after a restart.
#[test]
fn authors_are_named_by_the_document_after_they_leave() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let doc = a.ok(json!({"cmd": "create", "title": "Signed"}))["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "written by Ada");
    a.ok(json!({"cmd": "presence", "doc": doc, "cursor": 3, "name": "Ada", "colour": "#aa3355"}));
    let status = a.ok(json!({"cmd": "status", "doc": doc}));
    let authors = status["authors"].as_object().unwrap().clone();
    assert_eq!(authors.len(), 1, "{status}");
    let (ada, entry) = authors.iter().next().unwrap();
    assert_eq!(entry["name"], "Ada");
    assert_eq!(entry["colour"], "#aa3355");
    assert!(status["version"].get(ada).is_some(), "the named author is the one who wrote");
    let ticket = a.ticket(&doc).to_string();
    let b_dir = tmp.path().join("b");
    let mut b = Node::start(&b_dir, &[]);
    b.ok(json!({"cmd": "join", "ticket": ticket}));
    b.wait_text(&doc, |t| t == "written by Ada");
    a.quit();
    b.wait_for("Ada's name", |b| {
        let s = b.ok(json!({"cmd": "status", "doc": doc}));
        (s["authors"][ada.as_str()]["name"] == "Ada").then_some(())
    });
    b.quit();
    // Offline, after a restart, with Ada long gone.
    let mut b = Node::start(&b_dir, &[]);
    let s = b.ok(json!({"cmd": "status", "doc": doc}));
    assert_eq!(s["authors"][ada.as_str()]["name"], "Ada", "{s}");
    b.quit();
}
