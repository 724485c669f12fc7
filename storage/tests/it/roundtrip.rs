//! Create, edit, close, reopen: nothing is lost; snapshots change nothing.

use tandem_crdt::{Doc, ReplicaId, Value, VectorClock, encoding};
use tandem_storage::{Append, Store, StoreHandle, Writer, check_seal};

fn append(store: &mut Store, id: tandem_storage::DocId, doc: &mut Doc) {
    let change = doc.commit().expect("a change");
    let env = store.identity().seal(&id, &encoding::encode_change(&change));
    store.append(&[Append { doc: id, change, signature: env, summary: None }]).unwrap();
}

#[test]
fn reopen_gives_the_same_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let first_replica = store.replica();
    let info = store.create_doc("Plan").unwrap();
    let mut doc = store.load(info.id).unwrap();
    assert_eq!(doc.replica(), first_replica);
    doc.insert(0, "hello wörld 👋").unwrap();
    doc.map_set("title", Value::Str("Plan".into())).unwrap();
    append(&mut store, info.id, &mut doc);
    doc.delete(0, 6).unwrap();
    doc.insert(0, "bye ").unwrap();
    doc.map_set("pinned", Value::Bool(true)).unwrap();
    append(&mut store, info.id, &mut doc);
    let c = doc.undo().unwrap().expect("an undo step");
    let env = store.identity().seal(&info.id, &encoding::encode_change(&c));
    store.append(&[Append { doc: info.id, change: c, signature: env, summary: None }]).unwrap();
    store.save_undo(info.id, &doc).unwrap();
    let (text, version, undo) = (doc.text(), doc.version().clone(), doc.undo_state());
    drop(store);

    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.replica(), first_replica, "the device writes as the same replica after a restart");
    let mut again = store.load(info.id).unwrap();
    assert_eq!(again.text(), text);
    assert_eq!(again.version(), &version);
    assert_eq!(again.map_get("title"), Some(&Value::Str("Plan".into())));
    assert_eq!(again.map_get("pinned"), None, "the undone write is undone after reopening too");
    assert_eq!(again.undo_state(), undo);
    // The undo history works in the new session: redo brings back the second edit.
    again.redo().unwrap().expect("a redo step");
    assert_eq!(again.map_get("pinned"), Some(&Value::Bool(true)));
    assert!(again.text().starts_with("bye "));

    // Edits after the restart continue the same writer's seqs: the version does not
    // grow an entry per start.
    let before = again.version().get(first_replica);
    again.insert(0, "x").unwrap();
    append(&mut store, info.id, &mut again);
    assert_eq!(again.version().len(), 1);
    assert_eq!(again.version().get(first_replica), before + 1);

    // Every stored change carries a valid seal of its author.
    for sc in store.signed_changes_since(info.id, &VectorClock::new()).unwrap() {
        let c = encoding::decode_change(&sc.change).unwrap();
        assert_eq!(check_seal(&info.id, &sc.change, c.author, &sc.envelope), Ok(()));
    }
}

#[test]
fn the_window_writes_as_its_own_stable_replica() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let info = store.create_doc("Two writers").unwrap();
    let mut engine = store.load(info.id).unwrap();
    let mut window = store.load_as(info.id, Writer::Window).unwrap();
    assert_ne!(engine.replica(), window.replica());
    window.insert(0, "typed").unwrap();
    let c = window.commit().unwrap();
    let signer = store.identity().for_author(c.author).expect("the window is this device's");
    let env = signer.seal(&info.id, &encoding::encode_change(&c));
    assert_eq!(check_seal(&info.id, &encoding::encode_change(&c), c.author, &env), Ok(()));
    engine.apply(c.clone()).unwrap();
    store.append(&[Append { doc: info.id, change: c, signature: env, summary: None }]).unwrap();
    // Both replicas edit at once without ever taking the same (replica, seq).
    engine.insert(0, "A").unwrap();
    append(&mut store, info.id, &mut engine);
    let window_replica = window.replica();
    drop(store);

    let mut store = Store::open(dir.path()).unwrap();
    let window = store.load_as(info.id, Writer::Window).unwrap();
    assert_eq!(window.replica(), window_replica);
    assert_eq!(window.text(), "Atyped");
    assert_eq!(window.version().len(), 2, "one entry per writer of this device");
}

#[test]
fn snapshot_plus_tail_equals_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let handle = StoreHandle::open(dir.path()).unwrap();
    let info = handle.create_doc("Long").wait().unwrap();
    let mut doc = handle.load(info.id).wait().unwrap();
    // 2,500 single-keystroke changes: the store snapshots twice on the way.
    let mut replies = Vec::new();
    for i in 0..2500usize {
        let pos = (i * 7919) % (doc.len_chars() + 1);
        if i % 5 == 4 {
            doc.delete(pos.min(doc.len_chars() - 1), 1).unwrap();
        } else {
            doc.insert(pos, if i % 3 == 0 { "é" } else { "x" }).unwrap();
        }
        let change = doc.commit().unwrap();
        let env = handle.identity().seal(&info.id, &encoding::encode_change(&change));
        replies.push(handle.append(Append { doc: info.id, change, signature: env, summary: None }));
    }
    for r in replies {
        r.wait().unwrap();
    }
    let loaded = handle.load(info.id).wait().unwrap();
    assert_eq!(loaded.text(), doc.text());
    assert_eq!(loaded.version(), doc.version());
    // The same history replayed change by change from the stored log.
    let mut replay = Doc::new(ReplicaId(99));
    for sc in handle.signed_changes_since(info.id, VectorClock::new()).wait().unwrap() {
        replay.apply(encoding::decode_change(&sc.change).unwrap()).unwrap();
    }
    assert_eq!(replay.text(), doc.text());
    assert_eq!(replay.version(), doc.version());
    // Own keystrokes are stored joined into a few changes, each signed again.
    let all = handle.signed_changes_since(info.id, VectorClock::new()).wait().unwrap();
    assert!(all.len() < 2500 / 10, "{} stored changes for 2,500 keystrokes", all.len());
    for sc in &all {
        let c = encoding::decode_change(&sc.change).unwrap();
        assert_eq!(check_seal(&info.id, &sc.change, c.author, &sc.envelope), Ok(()));
    }
    // Catch-up returns what a clock lacks: nothing for the full version, and for a
    // clock 500 ops behind the stored changes that hold those 500 seqs, in order.
    assert!(handle.signed_changes_since(info.id, doc.version().clone()).wait().unwrap().is_empty());
    let end = doc.version().get(doc.replica());
    let mut behind = doc.version().clone();
    behind.set(doc.replica(), end - 500);
    let late: Vec<_> = handle
        .signed_changes_since(info.id, behind.clone())
        .wait()
        .unwrap()
        .iter()
        .map(|sc| encoding::decode_change(&sc.change).unwrap())
        .collect();
    assert!(late[0].start_seq <= end - 499 && late[0].end_seq() > end - 499);
    assert_eq!(late.last().unwrap().end_seq(), end + 1);
    assert!(late.windows(2).all(|w| w[0].end_seq() == w[1].start_seq));
    let mut caught_up = handle.load(info.id).wait().unwrap();
    assert!(late.into_iter().all(|c| caught_up.apply(c).unwrap().duplicate));
    // The snapshot really exists: the list shows the length it recorded.
    let listed = handle.docs().wait().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].chars > 0);
}

#[test]
fn remove_deletes_the_document_and_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let keep = store.create_doc("keep").unwrap();
    let gone = store.create_doc("gone").unwrap();
    for id in [keep.id, gone.id] {
        let mut doc = store.load(id).unwrap();
        doc.insert(0, "text").unwrap();
        append(&mut store, id, &mut doc);
        store.add_peer_addr(id, "/ip4/127.0.0.1/tcp/1").unwrap();
    }
    assert!(store.remove_doc(gone.id).unwrap());
    assert!(!store.remove_doc(gone.id).unwrap());
    assert!(store.load(gone.id).is_err());
    assert!(store.signed_changes_since(gone.id, &VectorClock::new()).unwrap().is_empty());
    assert!(store.peer_addrs(gone.id).unwrap().is_empty());
    assert_eq!(store.docs().unwrap().len(), 1);
    assert_eq!(store.load(keep.id).unwrap().text(), "text");
    assert_eq!(store.peer_addrs(keep.id).unwrap(), vec!["/ip4/127.0.0.1/tcp/1".to_owned()]);
}

#[test]
fn a_new_key_and_its_ring_last_across_a_reopen_and_go_with_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let info = {
        let mut store = Store::open(dir.path()).unwrap();
        let info = store.create_doc("moved").unwrap();
        let mut doc = store.load(info.id).unwrap();
        doc.insert(0, "kept").unwrap();
        append(&mut store, info.id, &mut doc);
        assert!(store.key_ring(info.id).unwrap().is_empty(), "no ring before a key change");
        let moved = store.set_key(info.id, tandem_storage::DocKey([7; 32]), Some([8; 32]), b"ring").unwrap();
        assert_eq!((moved.key.0, moved.read_only), ([7; 32], Some([8; 32])));
        assert!(
            store
                .set_key(tandem_storage::DocId([9; 16]), tandem_storage::DocKey([7; 32]), None, b"")
                .is_err()
        );
        info
    };
    let mut store = Store::open(dir.path()).unwrap();
    let again = store.doc(info.id).unwrap().unwrap();
    assert_eq!((again.key.0, again.read_only), ([7; 32], Some([8; 32])));
    assert_eq!(store.key_ring(info.id).unwrap(), b"ring");
    assert_eq!(store.load(info.id).unwrap().text(), "kept", "the history stays");
    store.remove_doc(info.id).unwrap();
    assert!(store.key_ring(info.id).unwrap().is_empty());
}

#[test]
fn find_doc_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = store.create_doc("a").unwrap();
    let id = a.id.to_string();
    assert_eq!(store.find_doc(&id[..6]).unwrap().id, a.id);
    assert_eq!(store.find_doc(&id.to_uppercase()).unwrap().id, a.id);
    assert!(store.find_doc("12").is_err(), "too short");
    assert!(store.find_doc("zzzz").is_err(), "not hex");
    let other = if id.starts_with('0') { "ffff" } else { "0000" };
    assert!(store.find_doc(other).is_err());
}

#[test]
fn a_database_of_schema_1_migrates_and_keeps_its_documents() {
    const META: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("meta");
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let info = store.create_doc("Old").unwrap();
    let mut doc = store.load(info.id).unwrap();
    doc.insert(0, "kept").unwrap();
    append(&mut store, info.id, &mut doc);
    drop(store);
    // Make it look like a database written before stable writer ids: schema 1 with a
    // session counter.
    {
        let db = redb::Database::open(dir.path().join(tandem_storage::DB_FILE)).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut meta = tx.open_table(META).unwrap();
            meta.insert("schema_version", 1).unwrap();
            meta.insert("session_counter", 17).unwrap();
        }
        tx.commit().unwrap();
    }
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.load(info.id).unwrap().text(), "kept");
    drop(store);
    let db = redb::Database::open(dir.path().join(tandem_storage::DB_FILE)).unwrap();
    let tx = redb::ReadableDatabase::begin_read(&db).unwrap();
    let meta = tx.open_table(META).unwrap();
    assert_eq!(meta.get("schema_version").unwrap().unwrap().value(), tandem_storage::SCHEMA_VERSION);
    assert!(meta.get("session_counter").unwrap().is_none(), "the session counter is gone");
}

#[test]
fn proof_of_equivocation_is_kept_with_both_signed_versions() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let info = store.create_doc("Proof").unwrap();
    let mut doc = store.load(info.id).unwrap();
    doc.insert(0, "abc").unwrap();
    append(&mut store, info.id, &mut doc);
    doc.insert(3, "def").unwrap();
    append(&mut store, info.id, &mut doc);
    let author = store.replica();
    let refused = tandem_storage::SignedChange { change: vec![1, 2, 3], envelope: vec![4; 105] };
    store.record_equivocation(info.id, author, 2..5, refused.clone()).unwrap();
    let proofs = store.equivocations(info.id).unwrap();
    assert_eq!(proofs.len(), 1);
    assert_eq!((proofs[0].author, proofs[0].seqs.clone()), (author, 2..5));
    assert_eq!(proofs[0].refused, refused);
    // The stored changes that hold seqs 2..5 (the two inserts, joined into one when
    // stored), and each still checks out.
    assert!(!proofs[0].held.is_empty());
    for sc in &proofs[0].held {
        assert_eq!(check_seal(&info.id, &sc.change, author, &sc.envelope), Ok(()));
    }
    drop(store);
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.equivocations(info.id).unwrap(), proofs, "the proof survives a restart");
    store.remove_doc(info.id).unwrap();
    assert!(store.equivocations(info.id).unwrap().is_empty());
}

/// Every change `store` serves for `id`, sorted, after checking each one's seal.
fn served(store: &Store, id: tandem_storage::DocId) -> Vec<tandem_storage::SignedChange> {
    let mut all = store.signed_changes_since(id, &VectorClock::new()).unwrap();
    for sc in &all {
        let c = encoding::decode_change(&sc.change).unwrap();
        check_seal(&id, &sc.change, c.author, &sc.envelope).unwrap();
    }
    all.sort_by(|a, b| a.change.cmp(&b.change));
    all
}

/// Two devices type, delete and backspace, and sync now and then; this device stores
/// what it makes and what it receives, and snapshots at arbitrary moments. Compaction
/// (a snapshot keeps only the seals of the changes it holds) never changes what is
/// served: the same bytes under seals that check, rebuilding the same document.
#[test]
fn compaction_never_changes_what_is_served() {
    for seed in 1..=6u64 {
        let (dir, other_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut store = Store::open(dir.path()).unwrap();
        let other = Store::open(other_dir.path()).unwrap();
        let id = store.create_doc("compaction").unwrap().id;
        let mut mine = store.load(id).unwrap();
        let mut theirs = Doc::new(other.replica());
        let mut outbox = Vec::new();
        let mut x = seed;
        let mut rnd = |n: usize| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 33) % n as u64) as usize
        };
        let mut snapshots = 0;
        for _ in 0..300 {
            match rnd(8) {
                0..=2 => {
                    let len = mine.len_chars();
                    match rnd(3) {
                        0 if len > 3 => {
                            // Backspace twice in one edit.
                            let p = 2 + rnd(len - 2);
                            mine.delete(p - 1, 1).unwrap();
                            mine.delete(p - 2, 1).unwrap();
                        }
                        1 if len > 0 => {
                            let p = rnd(len);
                            mine.delete(p, 1 + rnd((len - p).min(4))).unwrap();
                        }
                        _ => mine.insert(rnd(len + 1), ["a", "bc", "ü", "defg"][rnd(4)]).unwrap(),
                    }
                    append(&mut store, id, &mut mine);
                }
                3 | 4 => {
                    let len = theirs.len_chars();
                    if len > 0 && rnd(3) == 0 {
                        let p = rnd(len);
                        theirs.delete(p, 1).unwrap();
                    } else {
                        theirs.insert(rnd(len + 1), ["x", "yz"][rnd(2)]).unwrap();
                    }
                    let c = theirs.commit().unwrap();
                    let env = other.identity().seal(&id, &encoding::encode_change(&c));
                    outbox.push((c, env));
                }
                5 | 6 => {
                    for (c, env) in outbox.drain(..) {
                        mine.apply(c.clone()).unwrap();
                        store
                            .append(&[Append { doc: id, change: c, signature: env, summary: None }])
                            .unwrap();
                    }
                    for c in mine.changes_since(theirs.version()) {
                        theirs.apply(c).unwrap();
                    }
                }
                _ => {
                    let before = served(&store, id);
                    store.snapshot(id).unwrap();
                    snapshots += 1;
                    assert_eq!(served(&store, id), before, "seed {seed}: a snapshot changed what is served");
                }
            }
        }
        assert!(snapshots > 0);
        let all = served(&store, id);
        let mut fresh = Doc::new(ReplicaId(77));
        for sc in &all {
            fresh.apply(encoding::decode_change(&sc.change).unwrap()).unwrap();
        }
        assert_eq!(fresh.text(), mine.text(), "seed {seed}");
        // The last snapshot compacted most of the history: the stored rows hold the
        // seals and far fewer bytes than the changes they serve.
        store.snapshot(id).unwrap();
        drop(store);
        let rows: usize = {
            use redb::ReadableDatabase;
            const CHANGES: redb::TableDefinition<'_, ([u8; 16], u64, u64), &[u8]> =
                redb::TableDefinition::new("changes");
            let db = redb::Database::open(dir.path().join(tandem_storage::DB_FILE)).unwrap();
            let tx = db.begin_read().unwrap();
            let t = tx.open_table(CHANGES).unwrap();
            t.range((id.0, 0, 0)..=(id.0, u64::MAX, u64::MAX))
                .unwrap()
                .map(|i| i.unwrap().1.value().len())
                .sum()
        };
        let change_bytes: usize = all.iter().map(|sc| sc.change.len()).sum();
        let seal_bytes: usize = all.iter().map(|sc| sc.envelope.len()).sum();
        assert!(
            rows < seal_bytes + change_bytes / 4,
            "seed {seed}: rows {rows}, changes {change_bytes}, seals {seal_bytes}"
        );
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load(id).unwrap().text(), mine.text(), "seed {seed}");
        assert_eq!(served(&store, id), all, "seed {seed}: served the same after a restart");
    }
}

/// A document in the trash keeps its data across a restart but is neither listed nor
/// found; restoring brings it back whole; joining it again restores it; removing it
/// deletes it from the trash too.
#[test]
fn the_trash_keeps_a_document_until_it_is_restored_or_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let kept = store.create_doc("Kept").unwrap();
    let info = store.create_doc("Draft").unwrap();
    let mut doc = store.load(info.id).unwrap();
    doc.insert(0, "words worth keeping").unwrap();
    append(&mut store, info.id, &mut doc);
    let (text, version) = (doc.text(), doc.version().clone());

    assert!(store.trash_doc(info.id).unwrap());
    assert!(!store.trash_doc(info.id).unwrap(), "already in the trash");
    assert!(!store.trash_doc(tandem_storage::DocId([9; 16])).unwrap(), "not here");
    let ids = |s: &Store| s.docs().unwrap().iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(&store), vec![kept.id]);
    assert!(store.find_doc(&info.id.to_string()[..8]).is_err(), "the trash is not searched");
    drop(store);

    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(ids(&store), vec![kept.id], "still in the trash after a restart");
    let trashed = store.trashed().unwrap();
    assert_eq!(trashed.len(), 1);
    assert_eq!((trashed[0].0.id, trashed[0].0.title.as_str()), (info.id, "Draft"));
    assert!(store.trashed_ms(info.id).unwrap().is_some());
    assert!(store.restore_doc(info.id).unwrap());
    assert!(!store.restore_doc(info.id).unwrap(), "no longer in the trash");
    assert!(store.trashed().unwrap().is_empty());
    let again = store.load(info.id).unwrap();
    assert_eq!((again.text(), again.version()), (text, &version), "restored whole");
    assert_eq!(ids(&store).len(), 2);

    // Joining a document that is in the trash brings it back.
    store.trash_doc(info.id).unwrap();
    store.add_doc(info.id, info.key.clone(), "").unwrap();
    assert_eq!(store.trashed_ms(info.id).unwrap(), None);
    assert_eq!(ids(&store).len(), 2);

    // Removed from the trash, it is gone for good.
    store.trash_doc(info.id).unwrap();
    assert!(store.remove_doc(info.id).unwrap());
    assert!(store.trashed().unwrap().is_empty());
    assert!(store.doc(info.id).unwrap().is_none());
    assert!(store.load(info.id).is_err());
    assert_eq!(ids(&store), vec![kept.id]);
}

/// A document keeps only the peer addresses seen most recently, however many peers it
/// met: the newest first, the table bounded.
#[test]
fn peer_addresses_are_bounded_and_the_newest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = store.create_doc("A").unwrap();
    let b = store.create_doc("B").unwrap();
    store.add_peer_addr(b.id, "/ip4/10.0.0.1/tcp/1").unwrap();
    let n = tandem_storage::MAX_PEER_ADDRS + 10;
    for i in 0..n {
        store.add_peer_addr(a.id, &format!("/ip4/10.0.{}.{}/tcp/4001", i / 250, i % 250)).unwrap();
        // Addresses seen in one millisecond tie; a pause orders them.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let kept = store.peer_addrs(a.id).unwrap();
    assert_eq!(kept.len(), tandem_storage::MAX_PEER_ADDRS);
    let last = n - 1;
    assert_eq!(kept[0], format!("/ip4/10.0.{}.{}/tcp/4001", last / 250, last % 250), "the newest first");
    assert!(!kept.contains(&"/ip4/10.0.0.0/tcp/4001".to_owned()), "the oldest went");
    // Seeing an old address again makes it the newest.
    store.add_peer_addr(a.id, &kept[5]).unwrap();
    assert_eq!(store.peer_addrs(a.id).unwrap()[0], kept[5]);
    // Other documents keep theirs.
    assert_eq!(store.peer_addrs(b.id).unwrap(), vec!["/ip4/10.0.0.1/tcp/1".to_owned()]);
}
