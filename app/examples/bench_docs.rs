//! One device with many documents: `cargo build --release -p tandem --bins --examples &&
//! ./target/release/examples/bench_docs [DOCS] [IDLE_S]` (default 1,000 documents, 60 s).
//!
//! Three `tandem node` processes on 127.0.0.1 (mDNS off). A creates DOCS documents, each
//! with a line of text; B and C join every one by ticket. Once all hold every text, A
//! stops; B and C each type into every document; A starts again on the same data dir.
//! Reported: the time from A's start until A holds every edit of B and C in every
//! document, then A's DHT queries and bytes per minute over IDLE_S quiet seconds, and
//! each node's resident memory.

use anyhow::{Result, bail};
use serde_json::json;
use std::time::{Duration, Instant};

#[path = "common/bench_node.rs"]
mod bench_node;
use bench_node::{Node, rss_kib};

/// Waits until `node` holds `want(i)` as the text of every document; returns when.
fn wait_texts(
    node: &mut Node,
    docs: &[String],
    want: impl Fn(usize) -> String,
    limit: Duration,
) -> Result<Instant> {
    let deadline = Instant::now() + limit;
    let mut done = vec![false; docs.len()];
    loop {
        for (i, d) in docs.iter().enumerate() {
            if !done[i] {
                let t = node.ask(json!({"cmd": "text", "doc": d}))?;
                done[i] = t["text"].as_str() == Some(want(i).as_str());
            }
        }
        let left = done.iter().filter(|d| !**d).count();
        if left == 0 {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{left} of {} documents not in sync after {limit:?}", docs.len());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn main() -> Result<()> {
    let arg = |i: usize, d: u64| std::env::args().nth(i).map_or(Ok(d), |a| a.parse());
    let (n, idle_s) = (arg(1, 1000)? as usize, arg(2, 60)?);
    let bin = bench_node::tandem_bin()?;
    let tmp = std::env::temp_dir().join(format!("tandem-bench-docs-{}", std::process::id()));
    let (mut a, _) = Node::start(&bin, &tmp.join("a"), &[])?;
    let (mut b, _) = Node::start(&bin, &tmp.join("b"), &[])?;
    let (mut c, _) = Node::start(&bin, &tmp.join("c"), &[])?;
    let t0 = Instant::now();
    let mut docs = Vec::new();
    let mut tickets = Vec::new();
    for i in 0..n {
        let r = a.ask(json!({"cmd": "create", "title": format!("doc {i}")}))?;
        let doc = r["doc"].as_str().unwrap().to_owned();
        a.ask(json!({"cmd": "insert", "doc": doc, "pos": 0, "text": format!("line {i}")}))?;
        tickets.push(r["ticket"].as_str().unwrap().to_owned());
        docs.push(doc);
    }
    println!("A created {n} documents in {:.1} s", t0.elapsed().as_secs_f64());
    let t0 = Instant::now();
    for t in &tickets {
        b.ask(json!({"cmd": "join", "ticket": t}))?;
        c.ask(json!({"cmd": "join", "ticket": t}))?;
    }
    let first = |i: usize| format!("line {i}");
    wait_texts(&mut b, &docs, first, Duration::from_secs(600))?;
    wait_texts(&mut c, &docs, first, Duration::from_secs(600))?;
    println!(
        "B and C joined all {n} and hold every text {:.1} s after the first join",
        t0.elapsed().as_secs_f64()
    );

    a.quit();
    let t0 = Instant::now();
    for d in &docs {
        b.ask(json!({"cmd": "insert", "doc": d, "pos": 0, "text": "B"}))?;
        c.ask(json!({"cmd": "insert", "doc": d, "pos": 0, "text": "C"}))?;
    }
    // B's and C's edits meet: each document reads the same on both.
    let mut expected = Vec::new();
    for d in &docs {
        expected.push(b.ask(json!({"cmd": "text", "doc": d}))?["text"].as_str().unwrap().to_owned());
    }
    let both = |i: usize| {
        let t = &expected[i];
        t.starts_with("BC") || t.starts_with("CB")
    };
    let mut expected_fixed = expected.clone();
    for (i, d) in docs.iter().enumerate() {
        if !both(i) {
            // B had not seen C's edit yet when asked: wait for it.
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                let t = b.ask(json!({"cmd": "text", "doc": d}))?["text"].as_str().unwrap().to_owned();
                if t.starts_with("BC") || t.starts_with("CB") {
                    expected_fixed[i] = t;
                    break;
                }
                if Instant::now() > deadline {
                    bail!("B never saw C's edit in document {i}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let expected = expected_fixed;
    wait_texts(&mut c, &docs, |i| expected[i].clone(), Duration::from_secs(600))?;
    println!(
        "while A was stopped, B and C each typed into all {n} documents and held each other's edits {:.1} s after the first",
        t0.elapsed().as_secs_f64()
    );
    let restart = Instant::now();
    let (mut a, _) = Node::start(&bin, &tmp.join("a"), &[])?;
    let done = wait_texts(&mut a, &docs, |i| expected[i].clone(), Duration::from_secs(600))?;
    println!(
        "after A restarted, it held the edits B and C made meanwhile in all {n} documents {:.1} s later",
        (done - restart).as_secs_f64()
    );

    let q0 = a.ask(json!({"cmd": "traffic"}))?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(idle_s));
    let q1 = a.ask(json!({"cmd": "traffic"}))?;
    let minutes = t0.elapsed().as_secs_f64() / 60.0;
    let delta = |k: &str| (q1[k].as_u64().unwrap_or(0) - q0[k].as_u64().unwrap_or(0)) as f64 / minutes;
    println!(
        "A idle: {:.0} DHT queries per minute, {:.0} KB received and {:.0} KB sent per minute ({} connections; {} DHT queries since its start)",
        delta("dht_queries"),
        delta("bytes_in") / 1000.0,
        delta("bytes_out") / 1000.0,
        q1["connections"],
        q1["dht_queries"]
    );
    for (name, node) in [("A", &a), ("B", &b), ("C", &c)] {
        let (hwm, rss) = rss_kib(node.child.id())?;
        println!("{name}: resident {:.1} MiB (peak {:.1} MiB)", rss as f64 / 1024.0, hwm as f64 / 1024.0);
    }
    for nd in [a, b, c] {
        nd.quit();
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
