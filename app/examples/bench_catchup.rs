//! Catch-up after offline edits:
//! `cargo run --release -p tandem --example bench_catchup -- [N]` (default 10,000).
//!
//! Two engines on 127.0.0.1, each with its own store in a temp dir, share a document
//! and sync. Both go offline; A makes N one-character edits (each its own change, the
//! worst case: one signed change per keystroke). Both come back online; the figure is
//! the time from "online" until B holds A's version, and the bytes of catch-up
//! responses B received, against the size of the N edits (text, encoded changes, and
//! encoded changes with their signature envelopes, read back from A's store).

use anyhow::Result;
use std::time::{Duration, Instant};
use tandem_net::{EngineHandle, NetConfig};
use tandem_storage::StoreHandle;

#[tokio::main]
async fn main() -> Result<()> {
    let n: usize = std::env::args().nth(1).map_or(Ok(10_000), |a| a.parse())?;
    let tmp = std::env::temp_dir().join(format!("tandem-bench-catchup-{}", std::process::id()));
    let config =
        || NetConfig { listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()], ..NetConfig::default() };
    let a = EngineHandle::start(StoreHandle::open(&tmp.join("a"))?, config()).await?;
    let b = EngineHandle::start(StoreHandle::open(&tmp.join("b"))?, config()).await?;
    let (doc, ticket) = a.create("catch-up").await?;
    a.insert(doc, 0, "base\n").await?;
    b.join(ticket).await?;
    let synced = |deadline: Instant| {
        let (a, b) = (a.clone(), b.clone());
        async move {
            while b.status(doc).await?.version != a.status(doc).await?.version {
                anyhow::ensure!(Instant::now() < deadline, "the peers did not sync");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<(), anyhow::Error>(())
        }
    };
    synced(Instant::now() + Duration::from_secs(20)).await?;
    let before = a.status(doc).await?.version;
    a.set_offline(true).await?;
    b.set_offline(true).await?;
    let t = Instant::now();
    for i in 0..n {
        a.insert(doc, (i * 7) % (i + 5), "x").await?;
    }
    let edit_s = t.elapsed().as_secs_f64();
    let bytes_before = b.status(doc).await?.sync_bytes_in;
    let t = Instant::now();
    a.set_offline(false).await?;
    b.set_offline(false).await?;
    synced(Instant::now() + Duration::from_secs(120)).await?;
    let catchup_ms = t.elapsed().as_secs_f64() * 1e3;
    let bytes = b.status(doc).await?.sync_bytes_in - bytes_before;
    anyhow::ensure!(a.text(doc).await? == b.text(doc).await?, "texts differ");
    a.shutdown().await;
    b.shutdown().await;
    drop((a, b));
    // What those edits weigh, read back from A's store.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let store = StoreHandle::open(&tmp.join("a"))?;
    let missed = store.signed_changes_since(doc, before).get().await?;
    let changes: usize = missed.iter().map(|c| c.change.len()).sum();
    let sealed: usize = missed.iter().map(|c| c.change.len() + c.envelope.len()).sum();
    println!(
        "offline edits             {n} one-char changes ({} in the store), made in {edit_s:.2} s",
        missed.len()
    );
    println!("catch-up time             {catchup_ms:.1} ms (online -> B holds A's version)");
    println!("catch-up bytes received   {bytes} ({:.1} per edit)", bytes as f64 / n as f64);
    println!("edits: text bytes         {n}");
    println!("edits: encoded changes    {changes} ({:.1} per edit)", changes as f64 / n as f64);
    println!("edits: changes + seals    {sealed} ({:.1} per edit)", sealed as f64 / n as f64);
    println!("bytes / (changes + seals) {:.3}", bytes as f64 / sealed as f64);
    drop(store);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
