//! Separate hosts on one machine: network namespaces (iproute2; needs root). Each test
//! makes its own namespaces (named with the test's pid and a tag) and deletes them on
//! drop, also when it fails. Where namespaces cannot be made, the test prints
//! `SKIPPED: ...` and passes; CI runs as root, so there they run.

use super::node::{DumpLogsOnFailure, Node, Spawn, converge, is_circuit};
use serde_json::json;
use std::process::Command;

/// Network namespaces, deleted on drop (with every interface inside them).
pub(crate) struct Namespaces {
    names: Vec<String>,
}

pub(crate) fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Namespaces {
    /// Creates one namespace per tag (with `lo` up), named after the test, or says why
    /// it cannot.
    fn new(test: &str, tags: &[&str]) -> Result<Namespaces, String> {
        let mut ns = Namespaces { names: Vec::new() };
        for tag in tags {
            let name = format!("tandem-{}-{test}-{tag}", std::process::id());
            ip(&["netns", "add", &name])?;
            ns.names.push(name.clone());
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
        }
        Ok(ns)
    }

    pub(crate) fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// A veth pair: `a_if` in namespace `a` with `a_addr`, `b_if` in `b` with `b_addr`
    /// (either address may be empty: no address, e.g. a bridge port).
    pub(crate) fn link(
        &self,
        a: usize,
        a_if: &str,
        a_addr: &str,
        b: usize,
        b_if: &str,
        b_addr: &str,
    ) -> Result<(), String> {
        let (na, nb) = (self.name(a), self.name(b));
        ip(&["-n", na, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", nb])?;
        for (n, i, addr) in [(na, a_if, a_addr), (nb, b_if, b_addr)] {
            if !addr.is_empty() {
                ip(&["-n", n, "addr", "add", addr, "dev", i])?;
            }
            ip(&["-n", n, "link", "set", i, "up"])?;
        }
        Ok(())
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = ip(&["netns", "del", n]);
        }
    }
}

/// Namespaces for a test, or `None` after printing why the test is skipped: no `ip`,
/// not root, or not permitted. Any other failure fails the test.
pub(crate) fn namespaces(test: &str, tags: &[&str]) -> Option<Namespaces> {
    let uid =
        Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.as_deref().is_ok_and(|u| u != "0") {
        eprintln!("SKIPPED: network namespaces need root (uid {})", uid.unwrap());
        return None;
    }
    match Namespaces::new(test, tags) {
        Ok(ns) => Some(ns),
        Err(e)
            if e.starts_with("cannot run")
                || e.contains("not permitted")
                || e.contains("Permission denied") =>
        {
            eprintln!("SKIPPED: cannot create network namespaces (needs root and iproute2): {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn two_nodes_on_one_lan_find_each_other_by_mdns_alone() {
    let Some(ns) = namespaces("mdns", &["lan", "a", "b"]) else { return };
    // One bridge (in its own namespace) is the LAN switch; A and B each have a port.
    let setup = || -> Result<(), String> {
        ip(&["-n", ns.name(0), "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", ns.name(0), "link", "set", "br0", "up"])?;
        for (i, port, addr) in [(1, "pa", "10.77.0.1/24"), (2, "pb", "10.77.0.2/24")] {
            ns.link(i, "eth0", addr, 0, port, "")?;
            ip(&["-n", ns.name(0), "link", "set", port, "master", "br0"])?;
            // mDNS sends to 224.0.0.251: multicast leaves by the LAN interface.
            ip(&["-n", ns.name(i), "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
        }
        Ok(())
    };
    setup().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let logs: Vec<_> = (1..=2).map(|i| tmp.path().join(format!("n{i}.log"))).collect();
    let start = |i: usize, addr: &str| {
        let listen = format!("/ip4/{addr}/tcp/0");
        let spawn = Spawn {
            netns: Some(ns.name(i)),
            log: Some(&logs[i - 1]),
            rust_log: Some("warn,tandem_net=debug,libp2p_mdns=debug"),
            ..Spawn::default()
        };
        // mDNS on (the default), no bootstrap.
        Node::start_with(&tmp.path().join(format!("n{i}")), &["--listen", &listen], &spawn)
    };
    let _dump = DumpLogsOnFailure(logs.clone());
    let mut a = start(1, "10.77.0.1");
    let mut b = start(2, "10.77.0.2");
    let r = a.ok(json!({"cmd": "create", "title": "LAN"}));
    let doc = r["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "found on the LAN");
    // The ticket without any address: only mDNS can bring them together.
    let bare = tandem_net::Ticket { addrs: vec![], ..a.ticket(&doc) };
    b.ok(json!({"cmd": "join", "ticket": bare.to_string()}));
    b.wait_text(&doc, |t| t == "found on the LAN");
    b.insert(&doc, 0, "B: ");
    a.wait_text(&doc, |t| t == "B: found on the LAN");
    converge(&mut [&mut a, &mut b], &doc);
    let b_id = b.peer_id.clone();
    assert_eq!(a.peer_kind(&b_id).as_deref(), Some("\"lan\""));
}

#[test]
fn nodes_on_separate_networks_sync_through_a_relay() {
    let Some(ns) = namespaces("relay", &["relay", "a", "b"]) else { return };
    // Two networks, 10.78.1.0/24 (A) and 10.78.2.0/24 (B); the relay has a leg in each
    // and does not forward, so A and B cannot route to each other.
    let setup = || -> Result<(), String> {
        ns.link(1, "eth0", "10.78.1.2/24", 0, "ra", "10.78.1.1/24")?;
        ns.link(2, "eth0", "10.78.2.2/24", 0, "rb", "10.78.2.1/24")?;
        let forward = Command::new("ip")
            .args(["netns", "exec", ns.name(0), "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"])
            .status()
            .map_err(|e| e.to_string())?;
        if forward.success() { Ok(()) } else { Err("cannot turn forwarding off".into()) }
    };
    setup().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let spawn = |i: usize| Spawn { netns: Some(ns.name(i)), ..Spawn::default() };
    let r = Node::start_with(
        &tmp.path().join("r"),
        &["--relay", "--no-mdns", "--listen", "/ip4/10.78.1.1/tcp/0", "--listen", "/ip4/10.78.2.1/tcp/0"],
        &spawn(0),
    );
    let leg = |net: &str| r.listen.iter().find(|l| l.contains(net)).unwrap().clone();
    let (leg_a, leg_b) = (leg("/10.78.1.1/"), leg("/10.78.2.1/"));
    let mut a = Node::start_with(
        &tmp.path().join("a"),
        &["--no-mdns", "--listen", "/ip4/10.78.1.2/tcp/0", "--bootstrap", &leg_a],
        &spawn(1),
    );
    let mut b = Node::start_with(
        &tmp.path().join("b"),
        &["--no-mdns", "--listen", "/ip4/10.78.2.2/tcp/0", "--bootstrap", &leg_b],
        &spawn(2),
    );
    let res = a.ok(json!({"cmd": "create", "title": "Across"}));
    let doc = res["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "across networks");
    // A reserves on the relay by itself; its ticket then carries the relayed address
    // next to its direct one (which B cannot reach).
    let ticket = a.wait_for("a relayed address in A's ticket", |a| {
        let t = a.ticket(&doc);
        t.addrs.iter().any(is_circuit).then_some(t)
    });
    assert!(ticket.addrs.iter().any(|a| a.to_string().contains("/10.78.1.2/")), "{ticket:?}");
    b.ok(json!({"cmd": "join", "ticket": ticket.to_string()}));
    b.wait_text(&doc, |t| t == "across networks");
    b.insert(&doc, 0, "B: ");
    a.wait_text(&doc, |t| t == "B: across networks");
    converge(&mut [&mut a, &mut b], &doc);
    let (a_id, b_id) = (a.peer_id.clone(), b.peer_id.clone());
    assert_eq!(a.peer_kind(&b_id).as_deref(), Some("\"relayed\""));
    assert_eq!(b.peer_kind(&a_id).as_deref(), Some("\"relayed\""));
}
