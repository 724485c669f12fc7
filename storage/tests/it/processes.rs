//! Two processes on one data dir.

use std::io::{BufRead, BufReader, Read};
use tandem_storage::{Error, Store};

/// Child: holds the store open until its stdin closes.
#[test]
fn holder_child() {
    let Ok(dir) = std::env::var("TANDEM_HOLD_DIR") else { return };
    let _store = Store::open(dir.as_ref()).unwrap();
    println!("open");
    let mut buf = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut buf);
}

#[test]
fn a_second_process_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let mut child = super::spawn_child("processes::holder_child", &[("TANDEM_HOLD_DIR", d)]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The test harness may print its own text before ours on the same line.
    let first = lines.find(|l| l.as_ref().is_ok_and(|l| l.ends_with("open")));
    assert!(first.is_some(), "the child opened the store");
    match Store::open(dir.path()) {
        Err(e @ Error::InUse { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("another Tandem is using") && msg.contains(d), "{msg}");
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    // Once the holder is gone the store opens again.
    Store::open(dir.path()).unwrap();
}
