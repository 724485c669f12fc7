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

use anyhow::{Context, Result, bail};
use serde_json::{Value as Json, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Node {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Json>,
}

impl Node {
    fn start(bin: &std::path::Path, dir: &std::path::Path, extra: &[String]) -> Result<(Node, Json)> {
        let mut child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir)
            .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<Json>(&line) else { break };
                // Events are only counted by nobody: drop them here.
                if v.get("event").is_some() && v["event"] != "ready" {
                    continue;
                }
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().unwrap();
        let mut node = Node { child, stdin, lines };
        let ready = node.next()?;
        Ok((node, ready))
    }

    fn next(&mut self) -> Result<Json> {
        self.lines.recv_timeout(Duration::from_secs(60)).context("node did not answer")
    }

    fn ask(&mut self, cmd: Json) -> Result<Json> {
        writeln!(self.stdin, "{cmd}")?;
        self.stdin.flush()?;
        let r = self.next()?;
        if r["ok"] != true {
            bail!("{cmd} failed: {r}");
        }
        Ok(r)
    }

    fn state(&mut self, doc: &str) -> Result<(String, Json)> {
        let t = self.ask(json!({"cmd": "text", "doc": doc}))?["text"].as_str().unwrap().to_owned();
        let v = self.ask(json!({"cmd": "status", "doc": doc}))?["version"].clone();
        Ok((t, v))
    }
}

/// CPU seconds (user + system) of a process so far.
fn cpu_s(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = &stat[stat.rfind(')').context("stat")? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// (VmHWM, VmRSS) in KiB.
fn rss_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let get = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((get("VmHWM:"), get("VmRSS:")))
}

fn main() -> Result<()> {
    let arg = |i: usize, d: u64| std::env::args().nth(i).map_or(Ok(d), |a| a.parse());
    let (n, secs, rate) = (arg(1, 10)? as usize, arg(2, 60)?, arg(3, 10)?);
    let bin = std::env::current_exe()?.parent().and_then(|p| p.parent()).context("exe dir")?.join("tandem");
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
    for mut node in nodes {
        let _ = node.ask(json!({"cmd": "quit"}));
        let _ = node.child.wait();
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
