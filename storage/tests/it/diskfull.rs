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
    let filler = dir.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
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

#[test]
fn a_full_disk_keeps_refused_appends_and_stores_them_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    let exe = std::env::current_exe().unwrap().display().to_string();
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs '{dir}' || exit 77; \
         TANDEM_FULL_DIR='{dir}' exec '{exe}' diskfull::full_disk_child --exact --nocapture --test-threads=1"
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
