//! A `tandem node` process driven over its JSON lines, shared by the multi-process
//! benchmarks: commands and their answers, the time each `remote_change` event
//! arrived, and the process's CPU time and memory from /proc.

// Each benchmark includes this module and uses part of it.
#![allow(dead_code, unreachable_pub)]

use anyhow::{Context, Result, bail};
use serde_json::{Value as Json, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `tandem node`.
pub struct Node {
    pub child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Json>,
    /// When each `remote_change` event arrived, and the change's author.
    pub changes: mpsc::Receiver<(Instant, String)>,
}

impl Node {
    /// Starts `BIN --data-dir DIR node` on 127.0.0.1 with mDNS off, plus `extra`
    /// arguments; returns it and its `ready` event.
    pub fn start(bin: &std::path::Path, dir: &std::path::Path, extra: &[String]) -> Result<(Node, Json)> {
        let mut child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir)
            .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
            .args(extra)
            .env("TANDEM_PUBLIC_NETWORK", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let (changes_tx, changes) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<Json>(&line) else { break };
                match v.get("event").and_then(Json::as_str) {
                    Some("remote_change") => {
                        let author = v["author"].as_str().unwrap_or_default().to_owned();
                        let _ = changes_tx.send((Instant::now(), author));
                        continue;
                    }
                    Some("ready") | None => {}
                    Some(_) => continue,
                }
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().unwrap();
        let mut node = Node { child, stdin, lines, changes };
        let ready = node.next()?;
        Ok((node, ready))
    }

    fn next(&mut self) -> Result<Json> {
        self.lines.recv_timeout(Duration::from_secs(60)).context("node did not answer")
    }

    /// Sends a command; its answer, or an error if it failed.
    pub fn ask(&mut self, cmd: Json) -> Result<Json> {
        writeln!(self.stdin, "{cmd}")?;
        self.stdin.flush()?;
        let r = self.next()?;
        if r["ok"] != true {
            bail!("{cmd} failed: {r}");
        }
        Ok(r)
    }

    /// The document's text and version.
    pub fn state(&mut self, doc: &str) -> Result<(String, Json)> {
        let t = self.ask(json!({"cmd": "text", "doc": doc}))?["text"].as_str().unwrap().to_owned();
        let v = self.ask(json!({"cmd": "status", "doc": doc}))?["version"].clone();
        Ok((t, v))
    }

    /// Bytes received and sent since start.
    pub fn traffic(&mut self) -> Result<(u64, u64)> {
        let t = self.ask(json!({"cmd": "traffic"}))?;
        Ok((t["bytes_in"].as_u64().unwrap_or(0), t["bytes_out"].as_u64().unwrap_or(0)))
    }

    /// Stops the node.
    pub fn quit(mut self) {
        let _ = self.ask(json!({"cmd": "quit"}));
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) of a process so far.
pub fn cpu_s(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = &stat[stat.rfind(')').context("stat")? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// (VmHWM, VmRSS) in KiB.
pub fn rss_kib(pid: u32) -> Result<(u64, u64)> {
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

/// The `tandem` binary beside the running example's directory.
pub fn tandem_bin() -> Result<std::path::PathBuf> {
    Ok(std::env::current_exe()?.parent().and_then(|p| p.parent()).context("exe dir")?.join("tandem"))
}
