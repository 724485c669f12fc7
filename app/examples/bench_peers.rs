//! Many peers on one document: `cargo build --release -p tandem --bins --examples &&
//! ./target/release/examples/bench_peers [NODES] [IDLE_S] [KEYSTROKES]` (default 100
//! nodes, 60 s idle, 40 keystrokes).
//!
//! Starts NODES real `tandem node` processes on 127.0.0.1 (mDNS off). Node 0 creates
//! the document; node i joins with the ticket of node i-1 (which names only node i-1's
//! addresses), so the rest of the document's peers are found through the DHT. Then:
//! - idle: every node's transport bytes (framing and encryption included) over IDLE_S
//!   seconds in which nobody types, per node per second;
//! - keystrokes: KEYSTROKES times, one node (in turn) types a character and the time
//!   until every other node reports it applied (a `remote_change` event by the
//!   typist's writer, so a late delivery of an earlier keystroke is not taken for
//!   this one) is taken, one keystroke at a time; reported per (keystroke, node) and
//!   per keystroke (the last node), p50 and p99, with the bytes per node per keystroke
//!   and how often each node was late (over 100 ms);
//! - partition: the first half goes offline, both halves type, the first half comes
//!   back; the time until all hold the same text and version.

use anyhow::{Context, Result, bail};
use serde_json::{Value as Json, json};
use std::time::{Duration, Instant};

#[path = "common/bench_node.rs"]
mod bench_node;
use bench_node::{Node, rss_kib};

#[path = "common/keystrokes.rs"]
mod keystrokes;

/// A delivery slower than this counts as late.
const LATE_MS: f64 = 100.0;

fn total_traffic(nodes: &mut [Node]) -> Result<(u64, u64)> {
    let mut sum = (0, 0);
    for n in nodes {
        let (i, o) = n.traffic()?;
        sum.0 += i;
        sum.1 += o;
    }
    Ok(sum)
}

/// Each node's open connections.
fn connections(nodes: &mut [Node]) -> Result<Vec<u64>> {
    nodes
        .iter_mut()
        .map(|nd| nd.ask(json!({"cmd": "traffic"})).map(|t| t["connections"].as_u64().unwrap_or(0)))
        .collect()
}

/// Each node's connected peers that share the document.
fn doc_peers(nodes: &mut [Node], doc: &str) -> Result<Vec<u64>> {
    nodes
        .iter_mut()
        .map(|nd| nd.ask(json!({"cmd": "status", "doc": doc})).map(|s| s["peers"].as_u64().unwrap_or(0)))
        .collect()
}

/// Waits until every node holds the same text and version; returns when.
fn converge(nodes: &mut [Node], doc: &str, limit: Duration) -> Result<(Instant, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let states: Vec<(String, Json)> = nodes.iter_mut().map(|n| n.state(doc)).collect::<Result<_>>()?;
        if states.iter().all(|s| *s == states[0]) {
            return Ok((Instant::now(), states[0].0.clone()));
        }
        if Instant::now() > deadline {
            let differ = states.iter().filter(|s| **s != states[0]).count();
            bail!("no convergence after {limit:?}: {differ} nodes differ from node 0");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn main() -> Result<()> {
    let arg = |i: usize, d: u64| std::env::args().nth(i).map_or(Ok(d), |a| a.parse());
    let (n, idle_s, keystrokes) = (arg(1, 100)? as usize, arg(2, 60)?, arg(3, 40)? as usize);
    let bin = bench_node::tandem_bin()?;
    let tmp = std::env::temp_dir().join(format!("tandem-bench-peers-{}", std::process::id()));
    let mut nodes: Vec<Node> = Vec::new();
    let mut doc = String::new();
    let mut ticket = String::new();
    let started = Instant::now();
    for i in 0..n {
        let (mut node, _ready) = Node::start(&bin, &tmp.join(format!("n{i}")), &[])?;
        if i == 0 {
            doc = node.ask(json!({"cmd": "create", "title": "many"}))?["doc"].as_str().unwrap().to_owned();
            node.ask(json!({"cmd": "insert", "doc": doc, "pos": 0, "text": "x"}))?;
        } else {
            node.ask(json!({"cmd": "join", "ticket": ticket}))?;
        }
        ticket = node.ask(json!({"cmd": "ticket", "doc": doc}))?["ticket"].as_str().unwrap().to_owned();
        nodes.push(node);
    }
    let (t, _) = converge(&mut nodes, &doc, Duration::from_secs(300))?;
    println!(
        "{n} nodes joined in a line; all held the text {:.1} s after the first started",
        (t - started).as_secs_f64()
    );
    // Let the DHT lookups, connections and meshes settle.
    std::thread::sleep(Duration::from_secs(20));
    keystrokes::print_connections(&connections(&mut nodes)?, &doc_peers(&mut nodes, &doc)?);

    // Idle.
    let before = total_traffic(&mut nodes)?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(idle_s));
    let after = total_traffic(&mut nodes)?;
    keystrokes::print_idle((after.0 - before.0, after.1 - before.1), n, t0.elapsed().as_secs_f64());
    keystrokes::print_connections(&connections(&mut nodes)?, &doc_peers(&mut nodes, &doc)?);

    // Keystrokes, one at a time.
    for nd in &nodes {
        while nd.changes.try_recv().is_ok() {}
    }
    let before = total_traffic(&mut nodes)?;
    let mut each = Vec::new();
    let mut all = Vec::new();
    // How often each node got a keystroke late: the mesh, or the machine, at fault.
    let mut late = vec![0usize; n];
    for k in 0..keystrokes {
        let typist = (k * 7) % n;
        let version =
            |nd: &mut Node| nd.ask(json!({"cmd": "status", "doc": doc})).map(|s| s["version"].clone());
        let before = version(&mut nodes[typist])?;
        let t0 = Instant::now();
        nodes[typist].ask(json!({"cmd": "insert", "doc": doc, "pos": 0, "text": "k"}))?;
        // The typist's writer: the author whose count the keystroke raised.
        let after = version(&mut nodes[typist])?;
        let author = after
            .as_object()
            .and_then(|v| v.iter().find(|(a, c)| before[a.as_str()].as_u64() < c.as_u64()))
            .map(|(a, _)| a.clone())
            .context("the keystroke raised no author's count")?;
        let mut last = 0.0f64;
        for (i, nd) in nodes.iter().enumerate() {
            if i == typist {
                continue;
            }
            // Late deliveries of earlier keystrokes (other typists) are not this one.
            let at = loop {
                let (at, by) = nd.changes.recv_timeout(Duration::from_secs(60))?;
                if by == author && at >= t0 {
                    break at;
                }
            };
            let ms = at.saturating_duration_since(t0).as_secs_f64() * 1e3;
            each.push(ms);
            if ms > LATE_MS {
                late[i] += 1;
            }
            last = last.max(ms);
        }
        all.push(last);
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = total_traffic(&mut nodes)?;
    keystrokes::print_keystrokes(
        &mut each,
        &mut all,
        n,
        keystrokes,
        (after.0 - before.0, after.1 - before.1),
    );
    let mut most: Vec<(usize, usize)> = late.iter().copied().enumerate().filter(|&(_, k)| k > 0).collect();
    most.sort_by_key(|&(i, k)| (std::cmp::Reverse(k), i));
    let named: Vec<String> = most.iter().take(8).map(|(i, k)| format!("node {i} {k}x")).collect();
    println!(
        "late (> {LATE_MS} ms) deliveries: {} of {}, at {} nodes; most often: {}",
        late.iter().sum::<usize>(),
        each.len(),
        most.len(),
        named.join(", ")
    );

    // A partition: the first half goes offline, both halves type, it comes back.
    let half = n / 2;
    for nd in nodes.iter_mut().take(half) {
        nd.ask(json!({"cmd": "offline", "on": true}))?;
    }
    for (i, nd) in nodes.iter_mut().enumerate() {
        if i % 5 == 0 {
            nd.ask(json!({"cmd": "insert", "doc": doc, "pos": 0, "text": "p"}))?;
        }
    }
    std::thread::sleep(Duration::from_secs(5));
    let healed = Instant::now();
    for nd in nodes.iter_mut().take(half) {
        nd.ask(json!({"cmd": "offline", "on": false}))?;
    }
    let (t, text) = converge(&mut nodes, &doc, Duration::from_secs(300))?;
    println!(
        "partition of {half} and {} nodes healed: all converged {:.2} s later ({} chars)",
        n - half,
        (t - healed).as_secs_f64(),
        text.chars().count()
    );
    let mut rss: Vec<u64> =
        nodes.iter().map(|nd| rss_kib(nd.child.id()).map(|r| r.1)).collect::<Result<_>>()?;
    rss.sort();
    println!("resident memory per node: median {} KiB, max {} KiB", rss[rss.len() / 2], rss[rss.len() - 1]);
    for nd in nodes {
        nd.quit();
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
