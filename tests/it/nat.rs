//! Across the internet behind real NATs, in network namespaces (root; made and removed
//! by each test, `SKIPPED:` where they cannot be made). An "internet" namespace holds a
//! stand-in for the public network (`amino.rs`: generic libp2p nodes, no Tandem) at
//! addresses AutoNAT counts as global; two "homes" each sit behind a router namespace
//! doing NAT with nftables. The two peers start with default settings except the
//! stand-in's bootstrap addresses, and share a ticket without addresses.

use crate::amino::PublicNet;
use crate::netns::{Namespaces, ip, namespaces};
use crate::node::{DumpLogsOnFailure, Node, Spawn, converge};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tandem_net::PeerId;

/// The internet's address of the stand-in public nodes.
const PUBLIC_IP: &str = "11.0.0.1";
/// The internet's address of a Tandem relay, where a test has one.
const RELAY_IP: &str = "11.0.0.2";

/// How the home routers map ports.
#[derive(Clone, Copy, PartialEq)]
enum Nat {
    /// Port-preserving masquerade, as most home routers.
    PortPreserving,
    /// A new random port for every connection (`masquerade random`): symmetric NAT.
    Symmetric,
}

fn run_in(ns: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{args:?} in {ns} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Namespaces 0 "inet" (a bridge at 11.0.0.0/24, the public nodes at 11.0.0.1), 1 and
/// 3 the routers (WAN 11.0.0.11 and .12, LAN 192.168.1.1 and 192.168.2.1), 2 and 4 the
/// homes' hosts (192.168.1.2 and 192.168.2.2), 5 a host on the internet (11.0.0.2).
fn internet(test: &str, nat: Nat) -> Option<Namespaces> {
    let ns = namespaces(test, &["inet", "r1", "h1", "r2", "h2", "relay"])?;
    let setup = || -> Result<(), String> {
        ip(&["-n", ns.name(0), "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", ns.name(0), "link", "set", "br0", "up"])?;
        ip(&["-n", ns.name(0), "addr", "add", &format!("{PUBLIC_IP}/24"), "dev", "br0"])?;
        ns.link(5, "eth0", &format!("{RELAY_IP}/24"), 0, "wr", "")?;
        ip(&["-n", ns.name(0), "link", "set", "wr", "master", "br0"])?;
        for k in 1..=2 {
            let (router, host) = (2 * k - 1, 2 * k);
            let port = format!("w{k}");
            ns.link(router, "wan", &format!("11.0.0.1{k}/24"), 0, &port, "")?;
            ip(&["-n", ns.name(0), "link", "set", &port, "master", "br0"])?;
            ns.link(host, "eth0", &format!("192.168.{k}.2/24"), router, "lan", &format!("192.168.{k}.1/24"))?;
            ip(&["-n", ns.name(host), "route", "add", "default", "via", &format!("192.168.{k}.1")])?;
            let r = ns.name(router);
            run_in(r, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
            run_in(r, &["nft", "add", "table", "ip", "nat"])?;
            run_in(
                r,
                &[
                    "nft",
                    "add chain ip nat post { type nat hook postrouting priority srcnat; policy accept; }",
                ],
            )?;
            let rule = match nat {
                Nat::PortPreserving => "add rule ip nat post oifname wan masquerade",
                Nat::Symmetric => "add rule ip nat post oifname wan masquerade random",
            };
            run_in(r, &["nft", rule])?;
            // A home router's firewall: what comes in from the internet unasked is
            // dropped. (Masquerade alone answers it with a TCP reset, and a reset
            // kills a hole punch's simultaneous open whenever one side's SYN reaches
            // the other router before that side's own SYN has left it.)
            run_in(r, &["nft", "add", "table", "ip", "fw"])?;
            for hook in ["input", "forward"] {
                let chain = format!(
                    "add chain ip fw {hook} {{ type filter hook {hook} priority filter; policy accept; }}"
                );
                run_in(r, &["nft", &chain])?;
                run_in(r, &["nft", &format!("add rule ip fw {hook} iifname wan ct state new,invalid drop")])?;
            }
        }
        Ok(())
    };
    match setup() {
        Ok(()) => Some(ns),
        Err(e) if e.contains("cannot run") && e.contains("nft") => {
            panic!("nftables is missing (scripts/test installs it): {e}")
        }
        Err(e) => panic!("{e}"),
    }
}

fn home(ns: &Namespaces, k: usize, dir: &Path, net: &PublicNet, log: &Path) -> Node {
    let ip = format!("192.168.{k}.2");
    let (tcp, quic) = (format!("/ip4/{ip}/tcp/0"), format!("/ip4/{ip}/udp/0/quic-v1"));
    let boot = net.bootstrap_args();
    let mut args = vec!["--listen", &tcp, "--listen", &quic, "--no-mdns"];
    args.extend(boot.iter().map(String::as_str));
    let spawn = Spawn {
        netns: Some(ns.name(2 * k)),
        log: Some(log),
        rust_log: Some("info,tandem_net=debug,libp2p_dcutr=debug"),
        public_network: true,
        ..Spawn::default()
    };
    Node::start_with(dir, &args, &spawn)
}

/// Waits up to `limit` for `f` to return `Some`.
fn within<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

struct Homes {
    a: Node,
    b: Node,
    doc: String,
    ticket: tandem_net::Ticket,
    /// From B's join to B holding A's text.
    synced_in: Duration,
}

/// A in home 1 creates a document and learns it is behind NAT; B in home 2 joins it
/// from a ticket without addresses; both see each other's edit. With a relay `r` on
/// the internet, it joins the document before B.
fn meet(ns: &Namespaces, net: &PublicNet, logs: &[PathBuf], tmp: &Path, r: Option<&mut Node>) -> Homes {
    let mut a = home(ns, 1, &tmp.join("a"), net, &logs[0]);
    let doc = a.ok(json!({"cmd": "create", "title": "Across two NATs"}))["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "hello from home 1");
    let a_id: PeerId = a.peer_id.parse().unwrap();
    // AutoNAT: the public nodes cannot dial A back through its router.
    within(Duration::from_secs(120), "A learning it is behind NAT", || {
        let r = a.ok(json!({"cmd": "network"}));
        (r["reachability"] == "private").then_some(())
    });
    within(Duration::from_secs(60), "A's announcement with an address", || {
        net.seen
            .lock()
            .unwrap()
            .provided
            .iter()
            .any(|p| p.provider == a_id && !p.addrs.is_empty())
            .then_some(())
    });
    // The ticket without any address: only the public DHT can bring them together.
    let ticket = tandem_net::Ticket { addrs: vec![], ..a.ticket(&doc) };
    if let Some(r) = r {
        // The relay holds the document too (the always-on peer of its owner).
        r.ok(json!({"cmd": "join", "ticket": ticket.to_string()}));
        within(Duration::from_secs(90), "the relay receiving A's text", || {
            (r.text(&doc) == "hello from home 1").then_some(())
        });
    }
    let mut b = home(ns, 2, &tmp.join("b"), net, &logs[1]);
    let joined = Instant::now();
    b.ok(json!({"cmd": "join", "ticket": ticket.to_string()}));
    within(Duration::from_secs(90), "B receiving A's text", || {
        (b.text(&doc) == "hello from home 1").then_some(())
    });
    let synced_in = joined.elapsed();
    b.insert(&doc, 0, "B: ");
    within(Duration::from_secs(60), "A receiving B's edit", || {
        (a.text(&doc) == "B: hello from home 1").then_some(())
    });
    Homes { a, b, doc, ticket, synced_in }
}

/// Port-preserving NATs: A and B meet, and whether a hole punch made their connection
/// direct within `limit` (checked from both ends).
fn punch(test: &str, limit: Duration) -> Option<(Duration, bool)> {
    let ns = internet(test, Nat::PortPreserving)?;
    let net = PublicNet::start_in(3, PUBLIC_IP, Some(ns.name(0)));
    let tmp = tempfile::tempdir().unwrap();
    let logs = vec![tmp.path().join("a.log"), tmp.path().join("b.log")];
    let _dump = DumpLogsOnFailure(logs.clone());
    let Homes { mut a, mut b, doc, ticket, synced_in } = meet(&ns, &net, &logs, tmp.path(), None);
    let (a_id, b_id) = (a.peer_id.clone(), b.peer_id.clone());
    let deadline = Instant::now() + limit;
    let punched = loop {
        if b.peer_kind(&a_id).as_deref() == Some("\"hole-punched\"") {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    if punched {
        assert_eq!(a.peer_kind(&b_id).as_deref(), Some("\"hole-punched\""));
    }
    b.insert(&doc, 0, "direct: ");
    converge(&mut [&mut a, &mut b], &doc);
    let ids = [a_id.parse().unwrap(), b_id.parse().unwrap()];
    net.seen.lock().unwrap().assert_told_nothing(&ticket, &ids);
    Some((synced_in, punched))
}

/// Symmetric NATs and a Tandem peer on the internet (a `tandem node --relay` if
/// `relay_node`, else a plain one, which relays for its documents' peers once AutoNAT
/// finds it reachable): A and B meet and sync, each holds a reservation on it, and no
/// hole punch gets through.
fn through_relay(test: &str, relay_node: bool) -> Option<Duration> {
    let ns = internet(test, Nat::Symmetric)?;
    let net = PublicNet::start_in(3, PUBLIC_IP, Some(ns.name(0)));
    let tmp = tempfile::tempdir().unwrap();
    let logs = vec![tmp.path().join("a.log"), tmp.path().join("b.log"), tmp.path().join("r.log")];
    let _dump = DumpLogsOnFailure(logs.clone());
    // A Tandem relay on the internet side, with nothing but its own defaults and the
    // stand-in's bootstrap addresses: it is found through the public DHT like anyone.
    let listen = format!("/ip4/{RELAY_IP}/tcp/0");
    let boot = net.bootstrap_args();
    let mut args = vec!["--no-mdns", "--listen", &listen];
    if relay_node {
        args.push("--relay");
    }
    args.extend(boot.iter().map(String::as_str));
    let spawn = Spawn {
        netns: Some(ns.name(5)),
        log: Some(&logs[2]),
        rust_log: Some("info,tandem_net=debug"),
        public_network: true,
        ..Spawn::default()
    };
    let mut r = Node::start_with(&tmp.path().join("r"), &args, &spawn);
    let r_id = r.peer_id.clone();
    if !relay_node {
        within(Duration::from_secs(120), "the internet peer learning it is reachable", || {
            (r.ok(json!({"cmd": "network"}))["reachability"] == "public").then_some(())
        });
    }
    let Homes { mut a, mut b, doc, ticket, synced_in } = meet(&ns, &net, &logs, tmp.path(), Some(&mut r));
    // Both reserved on the Tandem relay (a member), which carries document traffic.
    for n in [&mut a, &mut b] {
        within(Duration::from_secs(60), "a reservation on the Tandem relay", || {
            let s = n.ok(json!({"cmd": "network"}));
            s["relays"].as_array().unwrap().iter().any(|p| p == r_id.as_str()).then_some(())
        });
    }
    // No hole punch gets through symmetric NATs.
    let a_id = a.peer_id.clone();
    let kind = b.peer_kind(&a_id);
    assert!(kind.as_deref() != Some("\"hole-punched\"") && kind.as_deref() != Some("\"direct\""), "{kind:?}");
    b.insert(&doc, 0, "still: ");
    converge(&mut [&mut a, &mut b, &mut r], &doc);
    let ids = [a_id.parse().unwrap(), b.peer_id.parse().unwrap(), r_id.parse().unwrap()];
    net.seen.lock().unwrap().assert_told_nothing(&ticket, &ids);
    Some(synced_in)
}

#[test]
fn behind_port_preserving_nats_peers_meet_through_the_public_dht_and_hole_punch() {
    if let Some((_, punched)) = punch("natpp", Duration::from_secs(60)) {
        assert!(punched, "no hole punch within a minute");
    }
}

#[test]
fn behind_symmetric_nats_the_hole_punch_fails_and_peers_sync_through_a_tandem_relay() {
    through_relay("natsym", true);
}

#[test]
fn behind_symmetric_nats_a_tandem_peer_with_a_public_address_relays_for_its_documents() {
    through_relay("natpub", false);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `scripts/bench-nat`: how often the hole punch succeeds behind port-preserving NATs
/// (`TANDEM_NAT_RUNS`, default 10), and the time from `join` to the first synced edit
/// in each scenario (median of the runs, at least 5).
#[test]
#[ignore = "a measurement: scripts/bench-nat runs it"]
fn measure_hole_punching_and_time_to_sync() {
    let runs: usize = std::env::var("TANDEM_NAT_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let (mut punched, mut times) = (0, Vec::new());
    for i in 0..runs {
        let Some((synced_in, ok)) = punch(&format!("pp{i}"), Duration::from_secs(30)) else { return };
        println!("port-preserving run {}: synced in {synced_in:?}, hole punched: {ok}", i + 1);
        punched += usize::from(ok);
        times.push(synced_in);
    }
    println!(
        "RESULT hole punches: {punched} of {runs}; join to first synced edit, median: {:?}",
        median(times)
    );
    let mut times = Vec::new();
    for i in 0..5 {
        let Some(synced_in) = through_relay(&format!("sy{i}"), true) else { return };
        println!("symmetric run {}: synced in {synced_in:?}", i + 1);
        times.push(synced_in);
    }
    println!(
        "RESULT symmetric NATs, through a Tandem relay: join to first synced edit, median: {:?}",
        median(times)
    );
}

/// Unicast packets the namespace `ns` sent to anything but loopback, as its nftables
/// counter (made by [`count_outgoing`]) says.
fn outgoing(ns: &str) -> u64 {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "table", "inet", "quiet"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "packets")
        .map(|w| w[1].parse::<u64>().unwrap())
        .sum()
}

/// Counts, in namespace `ns`, every packet sent to an address other than loopback or a
/// multicast group (mDNS stays on the LAN).
fn count_outgoing(ns: &str) -> Result<(), String> {
    run_in(ns, &["nft", "add", "table", "inet", "quiet"])?;
    run_in(
        ns,
        &["nft", "add chain inet quiet out { type filter hook output priority filter; policy accept; }"],
    )?;
    run_in(ns, &["nft", "add rule inet quiet out ip daddr != { 127.0.0.0/8, 224.0.0.0/4 } counter"])?;
    run_in(ns, &["nft", "add rule inet quiet out ip6 daddr != { ::1, ff00::/8 } counter"])
}

/// A node started as every test and script starts one (`TANDEM_PUBLIC_NETWORK=off`, as
/// `Spawn` sets it),
/// with default settings otherwise (listening on every interface, mDNS on, the default
/// public bootstrap list), sends nothing to any address but loopback and multicast,
/// while it creates and edits a document. The control: the same node with the public
/// network on, pointed at an address of the test's own namespace, does send.
#[test]
fn with_the_public_network_off_a_node_sends_nothing_beyond_loopback() {
    let Some(ns) = namespaces("quiet", &["host", "world"]) else { return };
    let setup = || -> Result<(), String> {
        ns.link(0, "eth0", "10.99.0.1/24", 1, "eth0", "10.99.0.2/24")?;
        ip(&["-n", ns.name(0), "route", "add", "default", "via", "10.99.0.2"])?;
        count_outgoing(ns.name(0))
    };
    setup().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("quiet.log");
    let _dump = DumpLogsOnFailure(vec![log.clone()]);
    let spawn = Spawn { netns: Some(ns.name(0)), log: Some(&log), ..Spawn::default() };
    let mut quiet = Node::start_with(&tmp.path().join("quiet"), &[], &spawn);
    let doc = quiet.ok(json!({"cmd": "create", "title": "Stays here"}))["doc"].as_str().unwrap().to_owned();
    quiet.insert(&doc, 0, "nothing leaves");
    assert_eq!(quiet.ok(json!({"cmd": "network"}))["public_network"], false);
    std::thread::sleep(Duration::from_secs(15));
    assert_eq!(outgoing(ns.name(0)), 0, "the node sent packets beyond loopback");
    quiet.quit();

    let boot = format!("/ip4/10.99.0.2/tcp/4001/p2p/{}", PeerId::random());
    let control_log = tmp.path().join("control.log");
    let spawn =
        Spawn { netns: Some(ns.name(0)), log: Some(&control_log), public_network: true, ..Spawn::default() };
    let control = Node::start_with(&tmp.path().join("control"), &["--public-bootstrap", &boot], &spawn);
    within(Duration::from_secs(30), "the control node's packets being counted", || {
        (outgoing(ns.name(0)) > 0).then_some(())
    });
    control.quit();
}
