//! Many peers on one document, in one process: `cargo build --release -p tandem
//! --example bench_mesh && ./target/release/examples/bench_mesh [NODES] [IDLE_S]
//! [KEYSTROKES]` (default 100 nodes, 20 s idle, 40 keystrokes).
//!
//! The same run as `bench_peers`, with NODES sync engines (each with its own store on
//! disk, its own key and its own libp2p swarm on 127.0.0.1 TCP, mDNS off) in one
//! process and one tokio runtime instead of NODES `tandem node` processes. What it
//! leaves out is the cost of a hundred processes sharing the machine's cores (each
//! with its own runtime threads and storage thread, switched between by the kernel);
//! what it keeps is every byte and every step of the protocol. Node 0 creates the
//! document; node i joins with node i-1's ticket, so the others are found through the
//! DHT. Then idle traffic per node, keystrokes one at a time (the time until every
//! other node applied it: a `RemoteChange` by the typist's writer), and a partition of
//! half the nodes that heals.

use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};
use tandem_crdt::ReplicaId;
use tandem_net::{EngineHandle, Event, NetConfig};
use tandem_storage::{DocId, StoreHandle};
use tokio::sync::mpsc;

#[path = "common/keystrokes.rs"]
mod keystrokes;

async fn traffic(nodes: &[EngineHandle]) -> Result<(u64, u64, Vec<usize>)> {
    let mut sum = (0, 0, Vec::new());
    for n in nodes {
        let t = n.traffic().await?;
        sum.0 += t.bytes_in;
        sum.1 += t.bytes_out;
        sum.2.push(t.connections);
    }
    Ok(sum)
}

/// Waits until every node holds the same text and version; returns the text.
async fn converge(nodes: &[EngineHandle], doc: DocId, limit: Duration) -> Result<String> {
    let deadline = Instant::now() + limit;
    loop {
        let mut states = Vec::new();
        for n in nodes {
            states.push((n.text(doc).await?, n.status(doc).await?.version));
        }
        if states.iter().all(|s| *s == states[0]) {
            return Ok(states.swap_remove(0).0);
        }
        if Instant::now() > deadline {
            let differ = states.iter().filter(|s| **s != states[0]).count();
            bail!("no convergence after {limit:?}: {differ} nodes differ from node 0");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let arg = |i: usize, d: u64| std::env::args().nth(i).map_or(Ok(d), |a| a.parse());
    let (n, idle_s, keystrokes) = (arg(1, 100)? as usize, arg(2, 20)?, arg(3, 40)? as usize);
    let tmp = std::env::temp_dir().join(format!("tandem-bench-mesh-{}", std::process::id()));
    let config = || NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        mdns: false,
        public: false,
        ..NetConfig::default()
    };
    // Every node's remote changes, as (node, when, author).
    let (tx, mut applied) = mpsc::unbounded_channel::<(usize, Instant, ReplicaId)>();
    let mut nodes: Vec<EngineHandle> = Vec::new();
    let started = Instant::now();
    let mut doc = None;
    for i in 0..n {
        let node = EngineHandle::start(StoreHandle::open(&tmp.join(format!("n{i}")))?, config()).await?;
        let mut events = node.subscribe();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Event::RemoteChange { author, .. }) => {
                        if tx.send((i, Instant::now(), author)).is_err() {
                            break;
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
        match doc {
            None => {
                let (d, _) = node.create("many").await?;
                node.insert(d, 0, "x").await?;
                doc = Some(d);
            }
            Some(d) => {
                let ticket = nodes[i - 1].ticket(d).await?;
                node.join(ticket).await?;
            }
        }
        nodes.push(node);
    }
    let doc = doc.context("no nodes")?;
    converge(&nodes, doc, Duration::from_secs(300)).await?;
    println!(
        "{n} engines in one process joined in a line; all held the text {:.1} s after the first started",
        started.elapsed().as_secs_f64()
    );
    // Let the DHT lookups, connections and meshes settle.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let mut peers = Vec::new();
    for nd in &nodes {
        peers.push(nd.status(doc).await?.peers);
    }
    let (_, _, conns) = traffic(&nodes).await?;
    keystrokes::print_connections(&conns, &peers);

    let before = traffic(&nodes).await?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(idle_s)).await;
    let after = traffic(&nodes).await?;
    keystrokes::print_idle((after.0 - before.0, after.1 - before.1), n, t0.elapsed().as_secs_f64());
    let mut peers = Vec::new();
    for nd in &nodes {
        peers.push(nd.status(doc).await?.peers);
    }
    keystrokes::print_connections(&after.2, &peers);

    while applied.try_recv().is_ok() {}
    let before = traffic(&nodes).await?;
    let (mut each, mut all) = (Vec::new(), Vec::new());
    for k in 0..keystrokes {
        let typist = (k * 7) % n;
        let was = nodes[typist].status(doc).await?.version;
        let t0 = Instant::now();
        nodes[typist].insert(doc, 0, "k").await?;
        let now = nodes[typist].status(doc).await?.version;
        let author = now
            .iter()
            .find(|(a, c)| was.get(*a) < *c)
            .map(|(a, _)| a)
            .context("the keystroke raised no author's count")?;
        let mut got = vec![false; n];
        got[typist] = true;
        let mut last = 0.0f64;
        while got.iter().any(|g| !g) {
            let (i, at, by) = tokio::time::timeout(Duration::from_secs(60), applied.recv())
                .await
                .context("a keystroke did not reach every node within 60 s")?
                .context("events ended")?;
            if by != author || at < t0 || got[i] {
                continue;
            }
            got[i] = true;
            let ms = (at - t0).as_secs_f64() * 1e3;
            each.push(ms);
            last = last.max(ms);
        }
        all.push(last);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = traffic(&nodes).await?;
    keystrokes::print_keystrokes(
        &mut each,
        &mut all,
        n,
        keystrokes,
        (after.0 - before.0, after.1 - before.1),
    );

    let half = n / 2;
    for nd in &nodes[..half] {
        nd.set_offline(true).await?;
    }
    for (i, nd) in nodes.iter().enumerate() {
        if i % 5 == 0 {
            nd.insert(doc, 0, "p").await?;
        }
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let healed = Instant::now();
    for nd in &nodes[..half] {
        nd.set_offline(false).await?;
    }
    let text = converge(&nodes, doc, Duration::from_secs(300)).await?;
    println!(
        "partition of {half} and {} nodes healed: all converged {:.2} s later ({} chars)",
        n - half,
        healed.elapsed().as_secs_f64(),
        text.chars().count()
    );
    for nd in &nodes {
        nd.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
