//! One damaged document never hides the others: its entry or history is reported with
//! what is wrong, every other document lists and loads, and a snapshot that cannot be
//! made is counted and kept due instead of ignored.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;
use tandem_crdt::{Doc, ReplicaId};
use tandem_storage::{Append, DB_FILE, DocId, StorageState, Store, StoreHandle};

/// The store's tables, as `store.rs` lays them out.
const DOCS: TableDefinition<'_, [u8; 16], &[u8]> = TableDefinition::new("docs");
const SNAPSHOTS: TableDefinition<'_, [u8; 16], &[u8]> = TableDefinition::new("snapshots");
const CHANGES: TableDefinition<'_, ([u8; 16], u64, u64), &[u8]> = TableDefinition::new("changes");

fn append_text(store: &mut Store, id: DocId, text: &str) {
    let mut doc = store.load(id).unwrap();
    doc.insert(0, text).unwrap();
    let change = doc.commit().unwrap();
    store.append(&[Append { doc: id, change, signature: vec![], summary: None }]).unwrap();
}

/// Overwrites a document's entry, or every stored change of it, with bytes that do
/// not decode.
fn damage(dir: &Path, id: DocId, entry: bool) {
    let db = Database::open(dir.join(DB_FILE)).unwrap();
    let tx = db.begin_write().unwrap();
    if entry {
        tx.open_table(DOCS).unwrap().insert(id.0, [0xffu8; 3].as_slice()).unwrap();
    } else {
        let mut t = tx.open_table(CHANGES).unwrap();
        let keys: Vec<_> = t
            .range((id.0, 0, 0)..=(id.0, u64::MAX, u64::MAX))
            .unwrap()
            .map(|item| item.unwrap().0.value())
            .collect();
        assert!(!keys.is_empty());
        for k in keys {
            t.insert(k, [0xffu8; 5].as_slice()).unwrap();
        }
    }
    tx.commit().unwrap();
}

#[test]
fn damaged_entries_and_histories_are_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let (good, bad_entry, bad_history) = {
        let mut store = Store::open(dir.path()).unwrap();
        let ids: Vec<DocId> = ["good", "entry", "history"]
            .iter()
            .map(|t| {
                let id = store.create_doc(t).unwrap().id;
                append_text(&mut store, id, t);
                id
            })
            .collect();
        (ids[0], ids[1], ids[2])
    };
    damage(dir.path(), bad_entry, true);
    damage(dir.path(), bad_history, false);

    let mut store = Store::open(dir.path()).unwrap();
    let (docs, damaged) = store.docs_and_damaged().unwrap();
    let mut listed: Vec<DocId> = docs.iter().map(|d| d.id).collect();
    listed.sort();
    let mut want = vec![good, bad_history];
    want.sort();
    assert_eq!(listed, want, "every readable entry is listed");
    assert_eq!(damaged.len(), 1);
    assert_eq!(damaged[0].id, bad_entry);
    let path = dir.path().join(DB_FILE);
    let error = &damaged[0].error;
    assert!(error.contains(path.to_str().unwrap()) && error.contains(&bad_entry.to_string()), "{error}");
    assert_eq!(store.docs().unwrap().len(), 2);

    assert_eq!(store.load(good).unwrap().text(), "good");
    store.check_doc(good).unwrap();
    let e = store.load(bad_history).expect_err("a damaged history does not load").to_string();
    assert!(e.contains(&bad_history.to_string()) && e.contains(path.to_str().unwrap()), "{e}");
    assert!(store.check_doc(bad_history).is_err());
    // The good document still takes edits.
    append_text(&mut store, good, "still ");
    assert_eq!(store.load(good).unwrap().text(), "still good");
}

#[test]
fn a_damaged_snapshot_sets_its_document_aside() {
    let dir = tempfile::tempdir().unwrap();
    let (id, other) = {
        let mut store = Store::open(dir.path()).unwrap();
        let id = store.create_doc("snap").unwrap().id;
        let other = store.create_doc("other").unwrap().id;
        append_text(&mut store, id, "one ");
        append_text(&mut store, other, "fine");
        // The snapshot now holds the history: the stored change keeps only its seal.
        store.snapshot(id).unwrap();
        append_text(&mut store, id, "two ");
        (id, other)
    };
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(SNAPSHOTS).unwrap().insert(id.0, [0x01u8, 0xff, 0xff].as_slice()).unwrap();
        tx.commit().unwrap();
    }
    let mut store = Store::open(dir.path()).unwrap();
    let err = store.load(id).unwrap_err().to_string();
    assert!(err.contains(&id.to_string()) && err.contains("snapshot"), "{err}");
    assert!(store.check_doc(id).is_err());
    let (docs, damaged) = store.docs_and_damaged().unwrap();
    assert!(docs.iter().any(|d| d.id == other));
    assert!(damaged.is_empty(), "the entry itself is fine: {damaged:?}");
    // The other document is untouched, and serving the damaged one's history fails
    // with the same clear error instead of sending something wrong.
    assert_eq!(store.load(other).unwrap().text(), "fine");
    let err = store.signed_changes_since(id, &Default::default()).unwrap_err().to_string();
    assert!(err.contains("snapshot"), "{err}");
}

/// Bytes of a document's stored change rows.
fn row_bytes(dir: &Path, id: DocId) -> usize {
    let db = Database::open(dir.join(DB_FILE)).unwrap();
    let tx = db.begin_read().unwrap();
    let t = tx.open_table(CHANGES).unwrap();
    t.range((id.0, 0, 0)..=(id.0, u64::MAX, u64::MAX)).unwrap().map(|i| i.unwrap().1.value().len()).sum()
}

#[test]
fn a_snapshot_that_regenerates_a_change_keeps_only_its_seal() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let mut store = Store::open(dir.path()).unwrap();
        let id = store.create_doc("compact").unwrap().id;
        append_text(&mut store, id, "abc");
        append_text(&mut store, id, "xyz");
        id
    };
    let before_rows = row_bytes(dir.path(), id);
    let before = {
        let mut store = Store::open(dir.path()).unwrap();
        let before = store.signed_changes_since(id, &Default::default()).unwrap();
        store.snapshot(id).unwrap();
        // The bytes served after compaction are the bytes stored before it, seal included.
        assert_eq!(store.signed_changes_since(id, &Default::default()).unwrap(), before);
        before
    };
    let change_bytes: usize = before.iter().map(|c| c.change.len()).sum();
    let after_rows = row_bytes(dir.path(), id);
    assert!(after_rows + change_bytes <= before_rows, "rows: {before_rows} -> {after_rows} bytes");
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.load(id).unwrap().text(), "xyzabc");
    assert_eq!(store.signed_changes_since(id, &Default::default()).unwrap(), before);
}

#[test]
fn a_failed_snapshot_is_counted_and_kept_due() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let mut store = Store::open(dir.path()).unwrap();
        let id = store.create_doc("history").unwrap().id;
        append_text(&mut store, id, "x");
        id
    };
    damage(dir.path(), id, false);

    // Enough new changes (from another writer) to make the snapshot due; it cannot be
    // made from the damaged history.
    let store = StoreHandle::open(dir.path()).unwrap();
    let mut state = store.state();
    let mut doc = Doc::new(ReplicaId(7));
    let replies: Vec<_> = (0..1000)
        .map(|i| {
            doc.insert(i, "y").unwrap();
            let change = doc.commit().unwrap();
            store.append(Append { doc: id, change, signature: vec![], summary: None })
        })
        .collect();
    for r in replies {
        r.wait().unwrap();
    }
    let s = wait_for(&mut state, |s| s.snapshot_failures > 0, "the failed snapshot is reported");
    let (doc_id, error) = s.snapshot_error.expect("the last snapshot error");
    assert_eq!(doc_id, id);
    assert!(error.contains(&id.to_string()), "{error}");
    // It is tried again later, and fails again: counted again.
    let s = wait_for(&mut state, |s| s.snapshot_failures > 1, "the snapshot is retried");
    assert!(s.waiting.is_empty(), "every change was stored: {s:?}");
}

/// Polls the store's state until `pred` holds; fails after 10 s.
fn wait_for(
    state: &mut tokio::sync::watch::Receiver<StorageState>,
    pred: impl Fn(&StorageState) -> bool,
    what: &str,
) -> StorageState {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = state.borrow().clone();
        if pred(&s) {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "timed out: {what} ({s:?})");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_change_for_a_missing_or_damaged_document_is_refused_and_blocks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = {
        let mut store = Store::open(dir.path()).unwrap();
        (store.create_doc("good").unwrap().id, store.create_doc("bad").unwrap().id)
    };
    damage(dir.path(), bad, true);
    let store = StoreHandle::open(dir.path()).unwrap();
    let change = |doc: &mut Doc, text: &str| {
        doc.insert(0, text).unwrap();
        doc.commit().unwrap()
    };
    let (mut g, mut m, mut d) = (Doc::new(ReplicaId(5)), Doc::new(ReplicaId(6)), Doc::new(ReplicaId(7)));
    let missing = DocId([9; 16]);
    // Sent together, so they share one transaction.
    let replies = [
        store.append(Append { doc: good, change: change(&mut g, "a"), signature: vec![], summary: None }),
        store.append(Append { doc: missing, change: change(&mut m, "b"), signature: vec![], summary: None }),
        store.append(Append { doc: bad, change: change(&mut d, "c"), signature: vec![], summary: None }),
    ];
    let [a, b, c] = replies.map(|r| r.wait());
    a.unwrap();
    assert!(matches!(b, Err(tandem_storage::Error::UnknownDoc(_))), "{b:?}");
    let c = c.expect_err("the damaged entry refuses the change").to_string();
    assert!(c.contains(&bad.to_string()), "{c}");
    assert!(store.state().borrow().waiting.is_empty(), "nothing is kept to retry");
    store
        .append(Append { doc: good, change: change(&mut g, "d"), signature: vec![], summary: None })
        .wait()
        .unwrap();
    assert_eq!(store.close().wait().unwrap(), 0);
    let mut store = Store::open(dir.path()).unwrap();
    let text = store.load(good).unwrap().text();
    assert!(text.contains('a') && text.contains('d') && !text.contains('b'), "{text}");
}
