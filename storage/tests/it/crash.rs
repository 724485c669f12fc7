//! `kill -9` in the middle of appending: everything acknowledged survives, the store
//! opens, and the device's writer continues after the last stored seq, so no
//! acknowledged `(replica, seq)` is ever handed out again.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tandem_crdt::{ReplicaId, encoding};
use tandem_storage::{Append, Store, StoreHandle};

/// Child: appends keystroke changes as fast as it can, keeping many in flight, and
/// prints `ack SEQ` for each one the store has answered.
#[test]
fn appender_child() {
    let Ok(dir) = std::env::var("TANDEM_CRASH_DIR") else { return };
    let handle = StoreHandle::open(dir.as_ref()).unwrap();
    let info = match handle.docs().wait().unwrap().into_iter().next() {
        Some(d) => d,
        None => handle.create_doc("crash").wait().unwrap(),
    };
    let mut doc = handle.load(info.id).wait().unwrap();
    let mut out = std::io::stdout().lock();
    let next = doc.version().get(handle.replica()) + 1;
    writeln!(out, "replica {} next {next}", handle.replica().0).unwrap();
    let mut in_flight = VecDeque::new();
    for i in 0..1_000_000u64 {
        let pos = (i as usize * 31) % (doc.len_chars() + 1);
        doc.insert(pos, "k").unwrap();
        let change = doc.commit().unwrap();
        let seq = change.end_seq() - 1;
        let env = handle.identity().seal(&info.id, &encoding::encode_change(&change));
        in_flight
            .push_back((seq, handle.append(Append { doc: info.id, change, signature: env, summary: None })));
        while in_flight.len() > 64 || (i % 16 == 15 && !in_flight.is_empty()) {
            let (seq, reply) = in_flight.pop_front().unwrap();
            reply.wait().unwrap();
            writeln!(out, "ack {seq}").unwrap();
            out.flush().unwrap();
        }
    }
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let mut rng = super::Rng(0x9e37_79b9_7f4a_7c15 ^ std::process::id() as u64);
    let mut writer = None;
    let mut acked_before = 0u64;
    for round in 0..20 {
        let mut child = super::spawn_child("crash::appender_child", &[("TANDEM_CRASH_DIR", d)]);
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut replica = None;
        let mut acked = acked_before;
        // Wait for the first ack, then kill at a random moment.
        let deadline = Instant::now() + Duration::from_secs(60);
        let kill_after = Duration::from_millis(20 + rng.below(300));
        let mut started = None;
        loop {
            assert!(Instant::now() < deadline, "round {round}: the child made no progress");
            if let Some(t) = started
                && Instant::now() - t >= kill_after
            {
                break;
            }
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(line) => {
                    // The test harness may print its own text before ours on a line.
                    if let Some((_, r)) = line.split_once("replica ") {
                        let (r, next) = r.split_once(" next ").unwrap();
                        replica = Some(ReplicaId(r.parse().unwrap()));
                        let next: u64 = next.parse().unwrap();
                        assert!(next > acked_before, "round {round}: seq {next} was acknowledged before");
                    } else if let Some((_, s)) = line.split_once("ack ") {
                        acked = acked.max(s.parse().unwrap());
                        started.get_or_insert_with(Instant::now);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!("round {round}: the child died"),
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acks printed before the kill may still be in the pipe.
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some((_, s)) = line.split_once("ack ")
                && let Ok(s) = s.parse::<u64>()
            {
                acked = acked.max(s);
            }
        }
        let replica = replica.expect("the child named its replica");
        assert_eq!(*writer.get_or_insert(replica), replica, "round {round}: the device's writer id changed");

        let mut store = Store::open(dir.path()).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(store.replica(), replica);
        let info = store.docs().unwrap().into_iter().next().unwrap();
        let doc = store.load(info.id).unwrap_or_else(|e| panic!("round {round}: {e}"));
        doc.check();
        let held = doc.version().get(replica);
        assert!(held >= acked, "round {round}: acknowledged seq {acked} but only {held} survived");
        assert!(acked > acked_before, "round {round}: nothing was acknowledged");
        acked_before = acked;
        // Every earlier round's writer is still complete too.
        assert_eq!(doc.len_chars() as u64, doc.version().n_ops());
    }
}

/// Child: stores a change received from another writer, then, by `TANDEM_RECEIVE_MODE`,
/// waits for it to settle (`settle`), stores an own change that builds on it (`own`) or
/// does nothing more (`none`); prints `ready` and waits to be killed.
#[test]
fn receiver_child() {
    let Ok(dir) = std::env::var("TANDEM_RECEIVE_DIR") else { return };
    let mode = std::env::var("TANDEM_RECEIVE_MODE").unwrap();
    let handle = StoreHandle::open(dir.as_ref()).unwrap();
    let info = handle.create_doc("received").wait().unwrap();
    let mut peer = tandem_crdt::Doc::new(ReplicaId(0x7777));
    peer.insert(0, "from a peer").unwrap();
    let change = peer.commit().unwrap();
    let append = Append { doc: info.id, change, signature: vec![1; 8], summary: None };
    handle.append_received(append).wait().unwrap();
    match mode.as_str() {
        "settle" => std::thread::sleep(tandem_storage::SETTLE + Duration::from_millis(500)),
        "own" => {
            let mut doc = handle.load(info.id).wait().unwrap();
            assert_eq!(doc.text(), "from a peer", "a received change is read back at once");
            doc.insert(doc.len_chars(), ", and mine").unwrap();
            let change = doc.commit().unwrap();
            let env = handle.identity().seal(&info.id, &encoding::encode_change(&change));
            handle.append(Append { doc: info.id, change, signature: env, summary: None }).wait().unwrap();
        }
        _ => {}
    }
    println!("ready");
    std::thread::sleep(Duration::from_secs(60));
}

/// Runs [`receiver_child`] in `mode`, kills it with SIGKILL once it is ready, and
/// returns the document's text as the reopened store holds it.
fn text_after_kill(mode: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let mut child = super::spawn_child(
        "crash::receiver_child",
        &[("TANDEM_RECEIVE_DIR", d), ("TANDEM_RECEIVE_MODE", mode)],
    );
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The test harness may print its own text before ours on the same line.
    let ready = lines.map_while(Result::ok).any(|l| l.ends_with("ready"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(ready, "{mode}: the child got ready");
    let mut store = Store::open(dir.path()).unwrap();
    let info = store.docs().unwrap().into_iter().next().expect("the document survives");
    let doc = store.load(info.id).unwrap();
    doc.check();
    doc.text()
}

#[test]
fn a_received_change_is_on_disk_within_the_settle_time() {
    assert_eq!(text_after_kill("settle"), "from a peer");
}

#[test]
fn an_own_change_is_never_on_disk_without_the_received_changes_it_builds_on() {
    assert_eq!(text_after_kill("own"), "from a peer, and mine");
}

/// The other two tests are not vacuous: without a flush, the commit is gone.
#[test]
fn a_received_change_killed_before_it_settles_is_gone_but_the_document_is_not() {
    assert_eq!(text_after_kill("none"), "");
}
