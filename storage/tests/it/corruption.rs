//! Damaged, foreign and newer files give a clear error and are left untouched.

use std::path::Path;
use tandem_storage::{DB_FILE, Error, Store};

fn make_store(dir: &Path) {
    let mut store = Store::open(dir).unwrap();
    let info = store.create_doc("x").unwrap();
    let mut doc = store.load(info.id).unwrap();
    doc.insert(0, &"some text ".repeat(2000)).unwrap();
    let change = doc.commit().unwrap();
    store
        .append(&[tandem_storage::Append { doc: info.id, change, signature: vec![], summary: None }])
        .unwrap();
}

/// Opens and expects an error naming the file; the file must not change.
fn expect_refused(dir: &Path) -> Error {
    let path = dir.join(DB_FILE);
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(dir).expect_err("a damaged file must not open");
    let msg = err.to_string();
    assert!(msg.contains(path.to_str().unwrap()), "the error names the file: {msg}");
    assert!(std::fs::read(&path).unwrap() == before, "the file was modified");
    err
}

#[test]
fn truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let path = dir.path().join(DB_FILE);
    let bytes = std::fs::read(&path).unwrap();
    for keep in [0, 5, 600, bytes.len() / 3] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        expect_refused(dir.path());
    }
}

#[test]
fn random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = super::Rng(0x5eed);
    let junk: Vec<u8> = (0..50_000).map(|_| rng.next_u64() as u8).collect();
    std::fs::write(dir.path().join(DB_FILE), junk).unwrap();
    assert!(matches!(expect_refused(dir.path()), Error::Corrupt { .. }));
}

#[test]
fn another_programs_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = b"SQLite format 3\0".to_vec();
    sqlite.resize(4096, 0);
    std::fs::write(dir.path().join(DB_FILE), sqlite).unwrap();
    let e = expect_refused(dir.path());
    assert!(e.to_string().contains("not a Tandem database"), "{e}");
}

#[test]
fn newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    {
        let db = redb::Database::open(dir.path().join(DB_FILE)).unwrap();
        let tx = db.begin_write().unwrap();
        let meta: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("meta");
        tx.open_table(meta).unwrap().insert("schema_version", 99).unwrap();
        tx.commit().unwrap();
    }
    match expect_refused(dir.path()) {
        Error::NewerSchema { found: 99, supported, .. } => {
            assert_eq!(supported, tandem_storage::SCHEMA_VERSION)
        }
        e => panic!("expected NewerSchema, got {e:?}"),
    }
}

#[test]
fn a_data_dir_that_is_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let e = Store::open(&file).unwrap_err();
    assert!(e.to_string().contains(file.to_str().unwrap()), "{e}");
}

#[cfg(unix)]
#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    Store::open(&data).unwrap();
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(data.join(DB_FILE)).unwrap().permissions().mode() & 0o777, 0o600);
}
