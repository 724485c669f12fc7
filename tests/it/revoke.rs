//! Removing people from a document (issue 15): the writer moves the document to a new
//! key for everyone but the removed, the kept members move along (also one that was
//! offline at the time), the removed one can open nothing sealed under the new key, and
//! all of it holds across a restart of every node.

use super::node::Node;
use serde_json::{Value as Json, json};
use std::time::Duration;

fn status(n: &mut Node, doc: &str) -> Json {
    n.ok(json!({"cmd": "status", "doc": doc}))
}

fn epoch(n: &mut Node, doc: &str) -> u64 {
    status(n, doc)["epoch"].as_u64().unwrap()
}

/// `text` sealed by `from` under its current key of `doc`, and what `to` makes of it.
fn unseal(from: &mut Node, to: &mut Node, doc: &str, text: &str) -> Json {
    let sealed = from.ok(json!({"cmd": "seal", "doc": doc, "text": text}))["sealed"].clone();
    to.send(json!({"cmd": "unseal", "doc": doc, "sealed": sealed}))
}

#[test]
fn removed_people_open_nothing_new_and_the_others_keep_syncing_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    let mut a = Node::start(&dir("a"), &[]);
    let doc = a.ok(json!({"cmd": "create", "title": "Plans"}))["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "start");
    let edit = a.ticket(&doc).to_string();
    let read =
        a.ok(json!({"cmd": "ticket", "doc": doc, "read": true}))["ticket"].as_str().unwrap().to_owned();
    let mut b = Node::start(&dir("b"), &[]);
    let mut c = Node::start(&dir("c"), &[]);
    let mut r = Node::start(&dir("r"), &[]);
    for (n, t) in [(&mut b, &edit), (&mut c, &edit), (&mut r, &read)] {
        n.ok(json!({"cmd": "join", "ticket": t}));
        n.wait_text(&doc, |t| t == "start");
    }
    b.insert(&doc, 5, " B");
    c.insert(&doc, 0, "C ");
    for n in [&mut a, &mut r, &mut c] {
        n.wait_text(&doc, |t| t == "C start B");
    }

    // A knows each of them: B and C wrote (editors), R only read.
    let (b_id, c_id, r_id) = (b.peer_id.clone(), c.peer_id.clone(), r.peer_id.clone());
    let members = a.wait_for("every member listed", |a| {
        let m = a.ok(json!({"cmd": "members", "doc": doc}))["members"].as_array().unwrap().clone();
        let find = |id: &str| m.iter().find(|x| x["peer_id"] == id).cloned();
        Some((find(&b_id)?, find(&c_id)?, find(&r_id)?))
    });
    assert_eq!(
        (members.0["edit"].clone(), members.1["edit"].clone()),
        (json!(true), json!(true)),
        "{members:?}"
    );
    assert_eq!(members.2["edit"], false, "{members:?}");

    // B is offline when A removes C.
    b.quit();
    let before = a.ok(json!({"cmd": "seal", "doc": doc, "text": "old"}))["sealed"].clone();
    let new_ticket = a.ok(json!({"cmd": "remove_people", "doc": doc, "peers": [c_id]}))["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let parsed: tandem_net::Ticket = new_ticket.parse().unwrap();
    let old: tandem_net::Ticket = edit.parse().unwrap();
    assert_ne!(parsed.key, old.key, "a new key");
    assert_eq!(epoch(&mut a, &doc), 1);
    // The reader was connected: it moves at once; the removed one learns it was removed.
    r.wait_for("the reader moves to the new key", |r| (epoch(r, &doc) == 1).then_some(()));
    c.wait_for("C hears it was removed", |c| status(c, &doc)["removed"].as_bool().unwrap().then_some(()));
    assert_eq!(epoch(&mut c, &doc), 0);

    // New edits reach the reader, not C; C's own edits reach no one.
    a.insert(&doc, 9, " after");
    r.wait_text(&doc, |t| t == "C start B after");
    c.insert(&doc, 0, "X");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(c.text(&doc), "XC start B", "C gets nothing new");
    assert_eq!(a.text(&doc), "C start B after", "C's edit after the move is not taken");
    // What is sealed under the new key opens for the kept reader, not for C; C still
    // opens what was sealed before the move (it keeps the history up to it).
    assert_eq!(unseal(&mut a, &mut r, &doc, "new")["text"], "new");
    let refused = unseal(&mut a, &mut c, &doc, "new");
    assert!(refused["error"].as_str().is_some_and(|e| e.contains("does not open")), "{refused}");
    assert_eq!(c.ok(json!({"cmd": "unseal", "doc": doc, "sealed": before}))["text"], "old");
    // (A member that has not heard of the move yet would still take C's edits from C
    // itself, as the threat model says; C is away while B comes back.)
    c.quit();

    // B comes back: it was offline, so it meets the move when it says hello in the old
    // epoch, moves, and catches up; its edits reach A and the reader.
    let mut b = Node::start(&dir("b"), &["--bootstrap", &a.listen[0]]);
    b.wait_for("B moves to the new key", |b| (epoch(b, &doc) == 1).then_some(()));
    b.wait_text(&doc, |t| t == "C start B after");
    b.insert(&doc, 0, "B: ");
    a.wait_text(&doc, |t| t == "B: C start B after");
    r.wait_text(&doc, |t| t == "B: C start B after");

    // Every node restarts; the kept ones still sync under the new key, C still cannot
    // open it, and the old ticket no longer lets a newcomer in.
    a.quit();
    b.quit();
    r.quit();
    let mut a = Node::start(&dir("a"), &[]);
    let boot = a.listen[0].clone();
    let mut b = Node::start(&dir("b"), &["--bootstrap", &boot]);
    let mut c = Node::start(&dir("c"), &["--bootstrap", &boot]);
    let mut r = Node::start(&dir("r"), &["--bootstrap", &boot]);
    for n in [&mut a, &mut b, &mut r] {
        assert_eq!(epoch(n, &doc), 1);
    }
    a.insert(&doc, 0, "Z");
    b.wait_text(&doc, |t| t == "ZB: C start B after");
    r.wait_text(&doc, |t| t == "ZB: C start B after");
    b.insert(&doc, 1, "!");
    a.wait_text(&doc, |t| t == "Z!B: C start B after");
    let refused = unseal(&mut b, &mut c, &doc, "after restart");
    assert!(refused["error"].as_str().is_some_and(|e| e.contains("does not open")), "{refused}");
    assert_eq!(unseal(&mut b, &mut r, &doc, "after restart")["text"], "after restart");
    let mut late = Node::start(&dir("late"), &["--bootstrap", &boot]);
    late.ok(json!({"cmd": "join", "ticket": edit}));
    late.wait_for("the old ticket is refused", |l| {
        status(l, &doc)["removed"].as_bool().unwrap().then_some(())
    });
    // It may get the history up to the move from C (who holds the old key too), but
    // nothing written after it.
    std::thread::sleep(Duration::from_secs(2));
    let got = late.text(&doc);
    assert!(!got.contains("after") && !got.contains('Z'), "nothing new reaches the old ticket: {got:?}");
    // The new ticket lets one in.
    let mut newcomer = Node::start(&dir("newcomer"), &["--bootstrap", &boot]);
    newcomer.ok(json!({"cmd": "join", "ticket": new_ticket}));
    newcomer.wait_text(&doc, |t| t == "Z!B: C start B after");
    assert_eq!(c.text(&doc), "XC start B");
    assert_eq!(a.text(&doc), "Z!B: C start B after");
}

/// The author id of the desktop ("Ada at home") in a status's authors.
fn d_author(authors: &serde_json::Map<String, Json>) -> &str {
    authors.iter().find(|(_, x)| x["name"] == "Ada at home").map(|(id, _)| id.as_str()).unwrap()
}

/// Issue 15: one person's two devices, linked from both ends (one by the other's short
/// code), show as one author on every replica; a third device that claims the link
/// alone does not, and is flagged.
#[test]
fn linked_devices_show_as_one_author_and_a_one_sided_claim_is_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut laptop = Node::start(&tmp.path().join("laptop"), &[]);
    let doc = laptop.ok(json!({"cmd": "create", "title": "Notes"}))["doc"].as_str().unwrap().to_owned();
    let ticket = laptop.ticket(&doc).to_string();
    let mut desktop = Node::start(&tmp.path().join("desktop"), &[]);
    let mut other = Node::start(&tmp.path().join("other"), &[]);
    for n in [&mut desktop, &mut other] {
        n.ok(json!({"cmd": "join", "ticket": ticket}));
    }
    let (l, d) = (laptop.peer_id.clone(), desktop.peer_id.clone());
    laptop.ok(json!({"cmd": "link", "peers": [d]}));
    other.ok(json!({"cmd": "link", "peers": [l]}));
    // A short code of no device known here, and a line that is no code, are refused
    // with the reason.
    for (code, why) in [("zzzz-zzzz-zzzz-zzzz", "no device with code"), ("hello", "not a device code")] {
        let r = desktop.send(json!({"cmd": "link", "peers": [code]}));
        assert!(r["ok"] == false && r["error"].as_str().unwrap().contains(why), "{code}: {r}");
    }
    for (n, name) in [(&mut laptop, "Ada"), (&mut desktop, "Ada at home"), (&mut other, "Ada")] {
        n.ok(json!({"cmd": "presence", "doc": doc, "name": name, "cursor": 0}));
    }
    laptop.insert(&doc, 0, "one ");
    desktop.wait_text(&doc, |t| t.contains("one"));
    // The desktop links the laptop by the short code the laptop's settings show, typed
    // loosely (lower case, spaces for dashes): it finds the device that wrote "one".
    let short: Vec<String> =
        l[l.len() - 16..].chars().collect::<Vec<_>>().chunks(4).map(|c| c.iter().collect()).collect();
    let typed = short.join(" ").to_lowercase();
    let linked = desktop.ok(json!({"cmd": "link", "peers": [typed]}));
    assert_eq!(linked["peers"], json!([l]), "the short code names the laptop");
    desktop.insert(&doc, 0, "two ");
    other.insert(&doc, 0, "three ");
    // On each replica: the laptop's and the desktop's authors are one person; the other
    // is itself, with its one-sided link flagged.
    for n in [&mut laptop, &mut desktop, &mut other] {
        let authors = n.wait_for("every author named, linked and synced", |n| {
            let a = status(n, &doc)["authors"].as_object().unwrap().clone();
            let by_name = |name: &str| a.values().filter(|x| x["name"] == name).cloned().collect::<Vec<_>>();
            let ada = by_name("Ada");
            let home = by_name("Ada at home");
            let flagged =
                ada.iter().filter(|x| x["unconfirmed_links"].as_array().is_some_and(|l| !l.is_empty()));
            (ada.len() == 2
                && home.len() == 1
                && home[0]["unconfirmed_links"].as_array()?.is_empty()
                && flagged.count() == 1)
                .then_some(a)
        });
        let home = authors.values().find(|x| x["name"] == "Ada at home").unwrap();
        let (laptop_id, laptop_entry) = authors
            .iter()
            .find(|(_, x)| x["name"] == "Ada" && x["unconfirmed_links"].as_array().unwrap().is_empty())
            .unwrap();
        let (other_id, other_entry) = authors
            .iter()
            .find(|(_, x)| x["name"] == "Ada" && !x["unconfirmed_links"].as_array().unwrap().is_empty())
            .unwrap();
        let person = |x: &Json| x["person"].as_str().unwrap().to_owned();
        assert_eq!(person(home), person(laptop_entry), "the two linked devices are one person: {authors:?}");
        assert!([laptop_id.as_str(), d_author(&authors)].contains(&person(home).as_str()));
        assert_eq!(person(other_entry), *other_id, "a one-sided claim is not: {authors:?}");
        assert_eq!(other_entry["unconfirmed_links"], json!([l]));
    }
}
