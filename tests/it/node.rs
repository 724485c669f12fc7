//! A `tandem node` child process driven over its stdin/stdout JSON lines.

use serde_json::{Value as Json, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any single wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// Where and how a node process runs.
#[derive(Debug, Default)]
pub(crate) struct Spawn<'a> {
    /// Run inside this network namespace (`ip netns exec`).
    pub(crate) netns: Option<&'a str>,
    /// Run inside the mount namespace of this process (`nsenter --mount`).
    pub(crate) mountns: Option<u32>,
    /// Write the node's log (stderr) to this file instead of the test's stderr.
    pub(crate) log: Option<&'a Path>,
    /// `RUST_LOG` for the node (default: the test's).
    pub(crate) rust_log: Option<&'a str>,
    /// Let the node use the public network (otherwise `TANDEM_PUBLIC_NETWORK=off`);
    /// only with `--public-bootstrap` naming the test's own stand-in nodes.
    pub(crate) public_network: bool,
}

pub(crate) struct Node {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Json>,
    pub(crate) events: Vec<Json>,
    pub(crate) peer_id: String,
    pub(crate) listen: Vec<String>,
    /// How long a reply or a `wait_for` may take ([`WAIT`] unless a test expects the
    /// node to be busy longer).
    pub(crate) patience: Duration,
}

impl Node {
    /// Starts a node on `dir`, listening on loopback only, mDNS off.
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> Node {
        let mut args = vec!["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"];
        args.extend_from_slice(extra);
        Node::start_with(dir, &args, &Spawn::default())
    }

    /// Starts `tandem --data-dir DIR node ARGS` with exactly these arguments (no default
    /// listen address, mDNS as the arguments say), as `spawn` says.
    pub(crate) fn start_with(dir: &Path, args: &[&str], spawn: &Spawn<'_>) -> Node {
        let mut cmd = match (spawn.netns, spawn.mountns) {
            (Some(ns), _) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_tandem")]);
                c
            }
            (None, Some(pid)) => {
                let mut c = Command::new("nsenter");
                c.args(["--target", &pid.to_string(), "--mount", "--", env!("CARGO_BIN_EXE_tandem")]);
                c
            }
            (None, None) => Command::new(env!("CARGO_BIN_EXE_tandem")),
        };
        cmd.arg("--data-dir").arg(dir).arg("node").args(args);
        // Tests reach no public network, whatever the environment says, except the
        // stand-in of their own that a test names.
        if spawn.public_network {
            assert!(args.contains(&"--public-bootstrap"), "the public network is the test's own");
        }
        cmd.env(tandem_net::PUBLIC_NETWORK_ENV, if spawn.public_network { "on" } else { "off" });
        if let Some(filter) = spawn.rust_log {
            cmd.env("RUST_LOG", filter);
        }
        let stderr = match spawn.log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
            None => Stdio::inherit(),
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("tandem node starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Json =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut node = Node {
            child,
            stdin,
            lines,
            events: Vec::new(),
            peer_id: String::new(),
            listen: Vec::new(),
            patience: WAIT,
        };
        let ready = node.next_line();
        assert_eq!(ready["event"], "ready", "{ready}");
        node.peer_id = ready["peer_id"].as_str().unwrap().to_owned();
        node.listen =
            ready["listen"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect();
        node
    }

    fn next_line(&mut self) -> Json {
        self.lines.recv_timeout(self.patience).expect("the node answered in time")
    }

    /// Sends one command and returns its reply (events seen meanwhile are kept).
    pub(crate) fn send(&mut self, cmd: Json) -> Json {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
        self.reply()
    }

    /// Sends a raw line (for malformed input) and returns the reply.
    pub(crate) fn send_raw(&mut self, line: &str) -> Json {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        self.reply()
    }

    fn reply(&mut self) -> Json {
        loop {
            let v = self.next_line();
            if v.get("event").is_some() {
                self.events.push(v);
            } else {
                return v;
            }
        }
    }

    /// Sends a command that must succeed.
    pub(crate) fn ok(&mut self, cmd: Json) -> Json {
        let r = self.send(cmd.clone());
        assert_eq!(r["ok"], true, "{cmd} failed: {r}");
        r
    }

    pub(crate) fn text(&mut self, doc: &str) -> String {
        self.ok(json!({"cmd": "text", "doc": doc}))["text"].as_str().unwrap().to_owned()
    }

    pub(crate) fn insert(&mut self, doc: &str, pos: usize, text: &str) {
        self.ok(json!({"cmd": "insert", "doc": doc, "pos": pos, "text": text}));
    }

    /// Polls until the text satisfies `pred`; fails after [`WAIT`].
    pub(crate) fn wait_text(&mut self, doc: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let t = self.text(doc);
            if pred(&t) {
                return t;
            }
            assert!(Instant::now() < deadline, "timed out waiting; text is {t:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn version(&mut self, doc: &str) -> Json {
        self.ok(json!({"cmd": "status", "doc": doc}))["version"].clone()
    }

    /// The process's resident memory, in KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// SIGKILL, no goodbye.
    pub(crate) fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// `quit`, then waits for the process to exit cleanly.
    pub(crate) fn quit(self) {
        self.quit_reply();
    }

    /// `quit`, waits for the process to exit cleanly and returns the reply.
    pub(crate) fn quit_reply(mut self) -> Json {
        let r = self.send(json!({"cmd": "quit"}));
        assert_eq!(r["ok"], true);
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit status {status}");
        r
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until every node shows the same text and version.
pub(crate) fn converge(nodes: &mut [&mut Node], doc: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let texts: Vec<String> = nodes.iter_mut().map(|n| n.text(doc)).collect();
        let versions: Vec<Json> = nodes.iter_mut().map(|n| n.version(doc)).collect();
        if texts.iter().all(|t| *t == texts[0]) && versions.iter().all(|v| *v == versions[0]) {
            return texts[0].clone();
        }
        assert!(Instant::now() < deadline, "no convergence: {texts:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Node {
    /// How this node is connected to `peer_id` (`lan`, `direct`, `relayed`), if it is.
    pub(crate) fn peer_kind(&mut self, peer_id: &str) -> Option<String> {
        let r = self.ok(json!({"cmd": "peers"}));
        r["peers"].as_array().unwrap().iter().find(|p| p["peer_id"] == peer_id).map(|p| p["kind"].to_string())
    }

    /// Polls `f` until it returns `Some`; fails after [`WAIT`] with `what`.
    pub(crate) fn wait_for<T>(&mut self, what: &str, mut f: impl FnMut(&mut Node) -> Option<T>) -> T {
        let deadline = Instant::now() + self.patience;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The document's ticket, parsed.
    pub(crate) fn ticket(&mut self, doc: &str) -> tandem_net::Ticket {
        self.ok(json!({"cmd": "ticket", "doc": doc}))["ticket"].as_str().unwrap().parse().unwrap()
    }
}

/// Whether an address goes through a relay.
pub(crate) fn is_circuit(addr: &tandem_net::Multiaddr) -> bool {
    addr.to_string().contains("/p2p-circuit")
}

/// Prints these log files if the test fails (is panicking when this is dropped).
pub(crate) struct DumpLogsOnFailure(pub(crate) Vec<std::path::PathBuf>);

impl Drop for DumpLogsOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for p in &self.0 {
                eprintln!("==== {}\n{}", p.display(), std::fs::read_to_string(p).unwrap_or_default());
            }
        }
    }
}
