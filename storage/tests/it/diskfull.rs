//! A full disk: the store on a 1 MB tmpfs in a private mount namespace (a child process
//! of this test binary started with `unshare`; root only, prints `SKIPPED:` where the
//! mount is refused). A refused append is kept and reported, reads go on working after
//! the failed write, and once space is free the waiting appends are stored, in order,
//! without reopening anything by hand.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};
use tandem_crdt::{Doc, ReplicaId};
use tandem_storage::{Append, Error, StorageState, Store, StoreHandle};

/// Child: runs inside the mount namespace with the tmpfs at `TANDEM_FULL_DIR`.
#[test]
fn full_disk_child() {
    let Ok(dir) = std::env::var("TANDEM_FULL_DIR") else { return };
    let dir = Path::new(&dir);
    let data = dir.join("data");
    let id = {
        let mut store = Store::open(&data).unwrap();
        store.create_doc("full").unwrap().id
    };
    let handle = StoreHandle::open(&data).unwrap();
    let state = handle.state();
    let mut doc = Doc::new(ReplicaId(9));
    let append = |doc: &mut Doc, text: &str| {
        let pos = doc.len_chars();
        doc.insert(pos, text).unwrap();
        let change = doc.commit().unwrap();
        handle.append(Append { doc: id, change, signature: vec![], summary: None }).wait()
    };
    append(&mut doc, "stored|").unwrap();

    // Fill the disk, then append until the disk refuses.
    let filler = fill(dir);
    let mut acked = String::from("stored|");
    let mut refused = String::new();
    let mut n_refused = 0;
    for i in 0..10_000 {
        let text = format!("{i}|");
        match append(&mut doc, &text) {
            Ok(()) => {
                if !refused.is_empty() {
                    // Space turned up (a failed transaction's pages are free again): the
                    // waiting appends were stored first, in the same transaction.
                    assert_eq!(
                        state.borrow().waiting_in(id),
                        0,
                        "an append after a refused one was stored before it"
                    );
                    acked.push_str(&refused);
                    refused.clear();
                    n_refused = 0;
                }
                acked.push_str(&text);
            }
            Err(e @ Error::NotStored { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("No space left on device") && msg.contains("kept in memory"), "{msg}");
                refused.push_str(&text);
                n_refused += 1;
                if n_refused == 2 {
                    break;
                }
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(n_refused, 2, "the disk never filled");
    let s = state.borrow().clone();
    assert!(s.error.as_deref().is_some_and(|e| e.contains("No space left")), "{s:?}");
    assert_eq!(s.waiting_in(id), 2);

    // Reads go on after the failed write: the stored text, without the waiting edits.
    assert_eq!(handle.load(id).wait().unwrap().text(), acked);
    assert_eq!(handle.docs().wait().unwrap().len(), 1);

    // Space returns: the waiting appends are stored by the retry, with no new append.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.borrow().clone() != StorageState::default() {
        assert!(Instant::now() < deadline, "the waiting appends were not stored: {:?}", state.borrow());
        std::thread::sleep(Duration::from_millis(20));
    }
    let expected = format!("{acked}{refused}");
    assert_eq!(handle.load(id).wait().unwrap().text(), expected);
    assert_eq!(handle.close().wait().unwrap(), 0);
    let mut store = Store::open(&data).unwrap();
    assert_eq!(store.load(id).unwrap().text(), expected, "every change, after a reopen");
    println!("child passed");
}

/// Fills the file system of `dir` with a file, returned.
fn fill(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
    filler
}

/// Child: a received change committed but not flushed when the disk fills, then an
/// own change that builds on it; once space returns both are on disk, in order.
#[test]
fn received_full_disk_child() {
    let Ok(dir) = std::env::var("TANDEM_FULL_DIR") else { return };
    let dir = Path::new(&dir);
    let data = dir.join("data");
    let handle = StoreHandle::open(&data).unwrap();
    let id = handle.create_doc("full").wait().unwrap().id;
    let state = handle.state();
    let mut mine = Doc::new(ReplicaId(9));
    let mut peer = Doc::new(ReplicaId(10));
    mine.insert(0, "stored|").unwrap();
    let change = mine.commit().unwrap();
    peer.apply(change.clone()).unwrap();
    handle.append(Append { doc: id, change, signature: vec![], summary: None }).wait().unwrap();

    let filler = fill(dir);
    peer.insert(peer.len_chars(), "peer|").unwrap();
    let change = peer.commit().unwrap();
    mine.apply(change.clone()).unwrap();
    let received =
        handle.append_received(Append { doc: id, change, signature: vec![], summary: None }).wait();
    mine.insert(mine.len_chars(), "mine|").unwrap();
    let change = mine.commit().unwrap();
    let own = handle.append(Append { doc: id, change, signature: vec![], summary: None }).wait();
    println!("received: {received:?}, own: {own:?}");
    assert!(
        matches!(own, Err(Error::NotStored { .. })),
        "the durable commit on the full disk fails: {own:?}"
    );

    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.borrow().clone() != StorageState::default() {
        assert!(Instant::now() < deadline, "the waiting appends were not stored: {:?}", state.borrow());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(handle.close().wait().unwrap(), 0);
    let mut store = Store::open(&data).unwrap();
    assert_eq!(store.load(id).unwrap().text(), "stored|peer|mine|", "every change, after a reopen");
    println!("child passed");
}

#[test]
fn a_full_disk_keeps_refused_appends_and_stores_them_when_space_returns() {
    in_full_disk_namespace("diskfull::full_disk_child");
}

#[test]
fn a_received_change_not_yet_flushed_survives_a_full_disk() {
    in_full_disk_namespace("diskfull::received_full_disk_child");
}

/// Runs the child test `name` in a private mount namespace with a 1 MB tmpfs.
fn in_full_disk_namespace(name: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    let exe = std::env::current_exe().unwrap().display().to_string();
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs '{dir}' || exit 77; \
         TANDEM_FULL_DIR='{dir}' exec '{exe}' {name} --exact --nocapture --test-threads=1"
    );
    let mut child = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    if status.code() == Some(77) || (!status.success() && err.contains("unshare")) {
        println!("SKIPPED: cannot mount a tmpfs in a private mount namespace: {}", err.trim());
        return;
    }
    assert!(status.success() && out.contains("child passed"), "the child failed:\n{out}\n{err}");
}
