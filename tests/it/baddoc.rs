//! One bad document never stops the app: a document whose records in the database are
//! damaged is set aside with its error by `tandem node` (a `doc_error` event, `ready`
//! still comes, an error naming it for its commands) and by `tandem list` (a line
//! naming it and the error), and every other document works.

use super::node::Node;
use redb::{Database, ReadableTable, TableDefinition};
use serde_json::json;
use std::path::Path;
use std::process::Command;

/// The changes table as `tandem-storage` lays it out: (doc, author, first seq) ->
/// stored change.
const CHANGES: TableDefinition<'_, ([u8; 16], u64, u64), &[u8]> = TableDefinition::new("changes");

fn doc_bytes(id: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap();
    }
    b
}

/// Overwrites every stored change of `doc` with bytes that do not decode.
fn corrupt_changes(db_file: &Path, doc: &str) -> usize {
    let db = Database::open(db_file).expect("the database opens");
    let id = doc_bytes(doc);
    let tx = db.begin_write().unwrap();
    let n = {
        let mut t = tx.open_table(CHANGES).unwrap();
        let keys: Vec<_> = t
            .range((id, 0, 0)..=(id, u64::MAX, u64::MAX))
            .unwrap()
            .map(|item| item.unwrap().0.value())
            .collect();
        for k in &keys {
            t.insert(*k, [0xffu8; 7].as_slice()).unwrap();
        }
        keys.len()
    };
    tx.commit().unwrap();
    n
}

#[test]
fn a_damaged_document_is_set_aside_and_the_others_work() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = Node::start(&data, &[]);
    let good = node.ok(json!({"cmd": "create", "title": "Good"}))["doc"].as_str().unwrap().to_owned();
    let bad = node.ok(json!({"cmd": "create", "title": "Bad"}))["doc"].as_str().unwrap().to_owned();
    node.insert(&good, 0, "good text");
    node.insert(&bad, 0, "bad text");
    node.quit();

    assert!(corrupt_changes(&data.join("tandem.redb"), &bad) > 0, "the bad document had changes");

    // The node starts, says which document is damaged and why, and the good one works.
    let mut node = Node::start(&data, &[]);
    let r = node.send(json!({"cmd": "text", "doc": bad}));
    assert_eq!(r["ok"], false, "{r}");
    let e = r["error"].as_str().unwrap();
    assert!(e.contains(&bad) && e.contains("cannot be opened"), "the error names the document: {e}");
    let reported = node.events.iter().find(|e| e["event"] == "doc_error").expect("a doc_error event");
    assert_eq!(reported["doc"], bad.as_str(), "{reported}");
    let why = reported["error"].as_str().unwrap();
    assert!(
        why.contains("tandem.redb") && why.contains(&bad),
        "the error names the file and document: {why}"
    );
    assert_eq!(node.text(&good), "good text");
    node.insert(&good, 9, "!");
    assert_eq!(node.text(&good), "good text!");
    node.quit();

    // `tandem list` prints both: the good one as usual, the bad one with its error.
    let out =
        Command::new(env!("CARGO_BIN_EXE_tandem")).arg("--data-dir").arg(&data).arg("list").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "tandem list fails: {}", String::from_utf8_lossy(&out.stderr));
    let good_line = stdout.lines().find(|l| l.contains(&good)).expect("the good document is listed");
    assert!(good_line.contains("Good") && good_line.contains("10"), "{stdout}");
    let bad_line = stdout.lines().find(|l| l.contains(&bad)).expect("the bad document is listed");
    assert!(bad_line.contains("DAMAGED") && bad_line.contains("corrupt"), "{stdout}");
    let json = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("--data-dir")
        .arg(&data)
        .args(["list", "--json"])
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> =
        String::from_utf8_lossy(&json.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().any(|r| r["id"] == bad.as_str() && r["error"].is_string()), "{rows:?}");
}

#[test]
fn the_window_lists_a_damaged_document_greyed_with_its_error() {
    use egui_kittest::kittest::Queryable;
    let tmp = tempfile::tempdir().unwrap();
    let (good, bad) = {
        let mut store = tandem_storage::Store::open(tmp.path()).unwrap();
        let mut ids = Vec::new();
        for title in ["Good", "Bad"] {
            let info = store.create_doc(title).unwrap();
            let mut doc = store.load(info.id).unwrap();
            doc.map_set("title", tandem_crdt::Value::Str(title.into())).unwrap();
            doc.insert(0, "text").unwrap();
            let change = doc.commit().unwrap();
            store
                .append(&[tandem_storage::Append { doc: info.id, change, signature: vec![], summary: None }])
                .unwrap();
            ids.push(info.id.to_string());
        }
        (ids[0].clone(), ids[1].clone())
    };
    corrupt_changes(&tmp.path().join("tandem.redb"), &bad);

    let mut h = super::ui::harness(super::ui::start(tmp.path()));
    super::ui::wait(&mut h, "both documents listed", |a| a.docs().len() == 2);
    let docs = h.state().docs().to_vec();
    let g = docs.iter().find(|d| d.id.to_string() == good).expect("the good document");
    assert!(g.error.is_none(), "{g:?}");
    let b = docs.iter().find(|d| d.id.to_string() == bad).expect("the damaged document");
    assert!(b.error.as_deref().is_some_and(|e| e.contains(&bad)), "{b:?}");
    h.run_steps(2);
    assert!(h.query_by_label_contains("Cannot be opened").is_some(), "the list shows the error");
    h.state_mut().shutdown();
}
