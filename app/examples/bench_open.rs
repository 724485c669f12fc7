//! Opening a big stored document: `cargo run --release --example bench_open -- TRACE
//! [--runs N] [--dir DIR]`, where TRACE is a trace file or a generated spec such as
//! `long:code:1` (10 million ops) or `big:1` (a 1,000,000-char document).
//!
//! Stores the trace's history on this device as one signed change per txn (written in
//! large batches, not timed), has the store write the document's snapshot as the storage
//! thread does after enough changes, then opens the store again and times
//! [`Store::load`]: reading the snapshot from disk and building the replica. Also reports
//! the snapshot and database sizes and the opened replica's heap.

use anyhow::{Context, Result, bail};
use std::time::Instant;
use tandem::trace::{Trace, as_author, live_changes, replay};
use tandem_crdt::{Change, encoding};
use tandem_storage::{Append, DB_FILE, Store};

#[global_allocator]
static ALLOC: tandem::alloc::Counting = tandem::alloc::Counting;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let what = args.next().context("usage: bench_open TRACE [--runs N] [--dir DIR]")?;
    let mut runs = 5;
    let mut dir = std::env::temp_dir().join(format!("tandem-bench-open-{}", std::process::id()));
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runs" => runs = value.parse().context("--runs takes a number")?,
            "--dir" => dir = value.into(),
            _ => bail!("unknown argument {flag}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let trace = Trace::load_or_generate(&what)?;
    if trace.is_concurrent() {
        bail!("bench_open stores a sequential trace as typed on one device");
    }
    let r = replay(&trace)?;
    let changes = live_changes(&trace, &r)?;
    drop(r);

    let mut store = Store::open(&dir)?;
    let info = store.create_doc("bench")?;
    let me = store.replica();
    let t = Instant::now();
    let n = changes.len();
    let mut batch = Vec::with_capacity(10_000);
    for change in changes {
        let change: Change = as_author(change, me);
        let signature = store.identity().seal(&info.id, &encoding::encode_change(&change));
        batch.push(Append { doc: info.id, change, signature, summary: None });
        if batch.len() == batch.capacity() {
            store.append(&batch)?;
            batch.clear();
        }
    }
    store.append(&batch)?;
    println!("stored               {n} changes in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    store.snapshot(info.id)?;
    println!(
        "snapshot_s           {:.2} (load the history, encode, check and compact)",
        t.elapsed().as_secs_f64()
    );
    drop(store);

    let mut store = Store::open(&dir)?;
    let mut times = Vec::new();
    let mut doc = None;
    let mut heap = 0;
    for _ in 0..runs.max(1) {
        drop(doc.take());
        let before = tandem::alloc::live_bytes();
        let t = Instant::now();
        let d = store.load(info.id)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        heap = tandem::alloc::live_bytes().saturating_sub(before);
        doc = Some(d);
    }
    let doc = doc.expect("at least one run");
    if doc.text() != trace.end_content {
        bail!("the opened document differs from the trace's end");
    }
    times.sort_by(f64::total_cmp);
    let snapshot = encoding::encode_snapshot(&doc).len();
    println!(
        "open_ms              best {:.1}  median {:.1} ({} runs; {} chars, {} ops)",
        times[0],
        times[times.len() / 2],
        times.len(),
        doc.len_chars(),
        doc.n_ops()
    );
    println!("snapshot_bytes       {snapshot}");
    println!("db_bytes             {}", std::fs::metadata(dir.join(DB_FILE))?.len());
    println!("doc_heap_bytes       {heap} (the opened replica)");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
