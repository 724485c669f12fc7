//! Storage benchmarks: `cargo run --release --example bench_storage -- TRACE [--dir DIR]`.
//!
//! Stores every txn of a (sequential) trace as one signed change through the store
//! thread with group commit, as typed on this device (the changes are written by the
//! device's own writer), then reports append throughput, the latency of single durable
//! appends, the time to open the stored document, and the database size against the
//! document's encoded size.

use anyhow::{Context, Result};
use std::time::Instant;
use tandem::trace::{Trace, as_author, live_changes, replay};
use tandem_crdt::{Change, encoding};
use tandem_storage::{Append, DB_FILE, Store, StoreHandle};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().context("usage: bench_storage TRACE [--dir DIR]")?;
    let dir = match (args.next().as_deref(), args.next()) {
        (Some("--dir"), Some(d)) => std::path::PathBuf::from(d),
        _ => std::env::temp_dir().join(format!("tandem-bench-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&dir);
    let trace = Trace::load(path.as_ref())?;
    let r = replay(&trace)?;
    let changes = live_changes(&trace, &r)?;

    let handle = StoreHandle::open(&dir)?;
    let info = handle.create_doc("bench").wait()?;
    // Typed on this device: one writer, this device's engine.
    let me = handle.replica();
    let changes: Vec<Change> = changes.into_iter().map(|c| as_author(c, me)).collect();
    // Sign before timing: this measures storage, not ed25519.
    let appends: Vec<Append> = changes
        .into_iter()
        .map(|change| {
            let signature = handle.identity().seal(&info.id, &encoding::encode_change(&change));
            Append { doc: info.id, change, signature, summary: None }
        })
        .collect();
    let n = appends.len();

    let t = Instant::now();
    let replies: Vec<_> = appends.into_iter().map(|a| handle.append(a)).collect();
    for reply in replies {
        reply.wait()?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!("append_group_commit  {n} changes in {secs:.2} s = {:.0} changes/s", n as f64 / secs);

    // One durable append at a time: the latency a keystroke waits for.
    let mut doc = handle.load(info.id).wait()?;
    let mut lat = Vec::new();
    for i in 0..200 {
        doc.insert(i % (doc.len_chars() + 1), "x")?;
        let change = doc.commit().context("a change")?;
        let signature = handle.identity().seal(&info.id, &encoding::encode_change(&change));
        let t = Instant::now();
        handle.append(Append { doc: info.id, change, signature, summary: None }).wait()?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    println!("append_single_ms     p50 {:.2}  p99 {:.2}", lat[lat.len() / 2], lat[lat.len() * 99 / 100]);
    drop(handle);
    // Let the store thread finish and release the file.
    std::thread::sleep(std::time::Duration::from_millis(200));

    let mut store = Store::open(&dir)?;
    let mut best = f64::MAX;
    let mut text_len = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let doc = store.load(info.id)?;
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        text_len = doc.len_chars();
    }
    let doc = store.load(info.id)?;
    let encoded = encoding::encode_doc(&doc).len();
    let db = std::fs::metadata(dir.join(DB_FILE))?.len();
    println!("open_ms              {best:.2} (best of 5; {text_len} chars, {} ops)", doc.n_ops());
    println!(
        "db_bytes             {db} ({:.0}x the encoded document, {encoded} bytes)",
        db as f64 / encoded as f64
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
