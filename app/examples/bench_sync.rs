//! Keystroke latency between two peers on loopback:
//! `cargo run --release --example bench_sync -- [KEYSTROKES]`.
//!
//! Two engines, each with its own store in a temp dir, connected over TCP on
//! 127.0.0.1. Each sample is the time from `insert` on A (which returns once the change
//! is durable) until B reports the applied (and stored) remote change.

use anyhow::{Context, Result};
use std::time::{Duration, Instant};
use tandem_net::{EngineHandle, Event, NetConfig};
use tandem_storage::StoreHandle;

#[tokio::main]
async fn main() -> Result<()> {
    let n: usize = std::env::args().nth(1).map_or(Ok(500), |a| a.parse())?;
    let tmp = std::env::temp_dir().join(format!("tandem-bench-sync-{}", std::process::id()));
    let config =
        || NetConfig { listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()], ..NetConfig::default() };
    let a = EngineHandle::start(StoreHandle::open(&tmp.join("a"))?, config()).await?;
    let b = EngineHandle::start(StoreHandle::open(&tmp.join("b"))?, config()).await?;
    let (doc, ticket) = a.create("bench").await?;
    let mut events = b.subscribe();
    b.join(ticket).await?;
    // Wait until B holds A's first change (the title).
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.status(doc).await?.version != a.status(doc).await?.version {
        anyhow::ensure!(Instant::now() < deadline, "the peers did not sync");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the gossip mesh form.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while events.try_recv().is_ok() {}
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        a.insert(doc, i, "x").await?;
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .context("no remote change within 10 s")??;
            if matches!(ev, Event::RemoteChange { .. }) {
                break;
            }
        }
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    anyhow::ensure!(a.text(doc).await? == b.text(doc).await?, "texts differ");
    lat.sort_by(f64::total_cmp);
    let pct = |p: usize| lat[(lat.len() * p / 100).min(lat.len() - 1)];
    println!(
        "keystroke_to_remote_ms  n={n}  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        pct(50),
        pct(90),
        pct(99),
        lat[lat.len() - 1]
    );
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
