//! Ten peers typing into one document: `cargo build --release -p tandem --bins --examples
//! && ./target/release/examples/bench_swarm [NODES] [SECONDS] [EDITS_PER_S]`
//! (default 10 nodes, 60 s, 10 edits/s each).
//!
//! Starts NODES real `tandem node` processes (the `tandem` binary next to this example's
//! directory) on 127.0.0.1, mDNS off. Node 0 creates the document; node i joins with
//! node i-1's ticket (a line, so gossip must travel). Then every node inserts one
//! character at a random position of its own text EDITS_PER_S times a second for
//! SECONDS seconds, each from its own driver thread. Afterwards it waits until all
//! nodes hold the same text and version, and reports per node the CPU time
//! (utime + stime from /proc) spent during the typing and convergence, and the peak
//! and final resident memory (VmHWM, VmRSS).

use anyhow::{Result, bail};
use serde_json::{Value as Json, json};
use std::time::{Duration, Instant};

#[path = "common/bench_node.rs"]
mod bench_node;
use bench_node::{Node, cpu_s, rss_kib};

fn main() -> Result<()> {
    let arg = |i: usize, d: u64| std::env::args().nth(i).map_or(Ok(d), |a| a.parse());
    let (n, secs, rate) = (arg(1, 10)? as usize, arg(2, 60)?, arg(3, 10)?);
    let bin = bench_node::tandem_bin()?;
    let tmp = std::env::temp_dir().join(format!("tandem-bench-swarm-{}", std::process::id()));
    let mut nodes = Vec::new();
    let mut doc = String::new();
    let mut ticket = String::new();
    for i in 0..n {
        let (mut node, _ready) = Node::start(&bin, &tmp.join(format!("n{i}")), &[])?;
        if i == 0 {
            let r = node.ask(json!({"cmd": "create", "title": "swarm"}))?;
            doc = r["doc"].as_str().unwrap().to_owned();
        } else {
            node.ask(json!({"cmd": "join", "ticket": ticket}))?;
        }
        ticket = node.ask(json!({"cmd": "ticket", "doc": doc}))?["ticket"].as_str().unwrap().to_owned();
        nodes.push(node);
    }
    // Let the line connect and the mesh form.
    std::thread::sleep(Duration::from_secs(3));
    let pids: Vec<u32> = nodes.iter().map(|n| n.child.id()).collect();
    let cpu0: Vec<f64> = pids.iter().map(|p| cpu_s(*p)).collect::<Result<_>>()?;
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let handles: Vec<_> = nodes
        .into_iter()
        .enumerate()
        .map(|(i, mut node)| {
            let doc = doc.clone();
            std::thread::spawn(move || -> Result<(Node, usize, Duration)> {
                let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ (i as u64 + 1);
                let mut own = 0usize;
                let mut late = Duration::ZERO;
                let total = secs * rate;
                for k in 0..total {
                    let due = start + gap * k as u32;
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    } else {
                        late = late.max(now - due);
                    }
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Own characters are never deleted, so the text is at least this long.
                    let pos = (seed % (own as u64 + 1)) as usize;
                    let ch = char::from(b'a' + (i % 26) as u8).to_string();
                    node.ask(json!({"cmd": "insert", "doc": doc, "pos": pos, "text": ch}))?;
                    own += 1;
                }
                Ok((node, own, late))
            })
        })
        .collect();
    let mut nodes = Vec::new();
    let mut edits = 0;
    let mut worst_late = Duration::ZERO;
    for h in handles {
        let (node, own, late) = h.join().unwrap()?;
        nodes.push(node);
        edits += own;
        worst_late = worst_late.max(late);
    }
    let typing_s = start.elapsed().as_secs_f64();
    // Converged: every node the same text and version.
    let deadline = Instant::now() + Duration::from_secs(120);
    let text = loop {
        let states: Vec<(String, Json)> = nodes.iter_mut().map(|n| n.state(&doc)).collect::<Result<_>>()?;
        if states.iter().all(|s| *s == states[0]) {
            break states[0].0.clone();
        }
        if Instant::now() > deadline {
            bail!("no convergence after 120 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let converge_s = start.elapsed().as_secs_f64() - typing_s;
    anyhow::ensure!(text.chars().count() == edits, "{} chars for {edits} edits", text.chars().count());
    println!(
        "{n} nodes x {rate} edits/s x {secs} s: {edits} edits, typing took {typing_s:.1} s (worst lag behind schedule {:.0} ms), all converged {converge_s:.2} s after the last edit, {} chars",
        worst_late.as_secs_f64() * 1e3,
        text.chars().count()
    );
    println!("node  cpu_s  cpu_%  peak_rss_MiB  rss_MiB");
    let wall = start.elapsed().as_secs_f64();
    for (i, (p, c0)) in pids.iter().zip(&cpu0).enumerate() {
        let cpu = cpu_s(*p)? - c0;
        let (hwm, rss) = rss_kib(*p)?;
        println!(
            "{i:>4}  {cpu:5.2}  {:5.1}  {:12.1}  {:7.1}",
            cpu / wall * 100.0,
            hwm as f64 / 1024.0,
            rss as f64 / 1024.0
        );
    }
    for node in nodes {
        node.quit();
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
