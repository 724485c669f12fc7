//! Strangers with no ticket that use the network's other services: a peer that fills
//! the DHT with records and provider records, and a peer that claims to be a relay.
//! Neither changes anything for honest peers. Each is a generic libp2p swarm in the
//! test process (Kademlia on Tandem's protocol name; a real circuit relay v2 server),
//! driven from the test thread.

use super::node::{Node, Spawn, WAIT, is_circuit};
use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, identify, kad, noise, relay, tcp, yamux};
use serde_json::json;
use std::time::{Duration, Instant};

/// Drives `swarm` until `done` says so for an event, or `limit` passes; returns whether
/// it was done.
fn drive<B: NetworkBehaviour>(
    rt: &tokio::runtime::Runtime,
    swarm: &mut Swarm<B>,
    limit: Duration,
    mut done: impl FnMut(&SwarmEvent<B::ToSwarm>) -> bool,
) -> bool {
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
                Ok(ev) if done(&ev) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

type Dht = kad::Behaviour<kad::store::MemoryStore>;
/// One thing the spammer asks of the DHT.
type Job = Box<dyn FnOnce(&mut Dht)>;

/// A Kademlia-only swarm speaking Tandem's DHT protocol.
fn dht_swarm(rt: &tokio::runtime::Runtime) -> Swarm<Dht> {
    let _context = rt.enter();
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|key| {
            let peer = key.public().to_peer_id();
            let mut config = kad::Config::new(StreamProtocol::new("/tandem/kad/1.0.0"));
            config.set_query_timeout(Duration::from_secs(20));
            let store = kad::store::MemoryStore::with_config(
                peer,
                kad::store::MemoryStoreConfig { max_provided_keys: 100_000, ..Default::default() },
            );
            let mut kad = kad::Behaviour::with_config(peer, store, config);
            kad.set_mode(Some(kad::Mode::Server));
            kad
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build()
}

/// A key shaped as a document's topic (the only provider keys a node stores).
fn topic_key(i: usize) -> kad::RecordKey {
    kad::RecordKey::new(&format!("tandem/doc/{:032x}", 0x5eed_0000_0000_u128 + i as u128))
}

/// Lines of the log that say a provider record was not stored.
fn refused(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().matches("not storing a provider record").count()
}

/// The providers a fresh peer finds for `key` through the node at `addr`.
fn providers_of(
    rt: &tokio::runtime::Runtime,
    node: PeerId,
    addr: &Multiaddr,
    key: kad::RecordKey,
) -> std::collections::BTreeSet<PeerId> {
    let mut q = dht_swarm(rt);
    q.behaviour_mut().add_address(&node, addr.clone());
    let _context = rt.enter();
    q.behaviour_mut().get_providers(key);
    let mut found = std::collections::BTreeSet::new();
    drive(rt, &mut q, WAIT, |ev| match ev {
        SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
            result: kad::QueryResult::GetProviders(r),
            step,
            ..
        }) => {
            if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = r {
                found.extend(providers.iter().copied());
            }
            step.last
        }
        _ => false,
    });
    found
}

/// A peer of the DHT stores thousands of records and provider records on a node: the
/// node keeps no record, provider records only for topic-shaped keys and at most
/// `MAX_STORED_PER_PEER` (4,096) of them per peer; its memory stays bounded and its
/// documents keep syncing.
#[test]
fn a_dht_spammer_fills_nothing_and_stops_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("a.log");
    let spawn = Spawn {
        log: Some(&log),
        rust_log: Some("warn,tandem_net::engine::discovery=debug"),
        ..Spawn::default()
    };
    let mut a =
        Node::start_with(&tmp.path().join("a"), &["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"], &spawn);
    let doc = a.ok(json!({"cmd": "create", "title": "Busy DHT"}))["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "before");
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    b.ok(json!({"cmd": "join", "ticket": a.ticket(&doc).to_string()}));
    b.wait_text(&doc, |t| t == "before");
    let rss_before = a.rss_kib();

    let rt = runtime();
    let a_id: PeerId = a.peer_id.parse().unwrap();
    let a_addr: Multiaddr = a.listen[0].parse().unwrap();
    let mut spammer = dht_swarm(&rt);
    spammer.behaviour_mut().add_address(&a_id, a_addr.clone());
    // Its provider records carry its address (a record without one is not handed out).
    {
        let _context = rt.enter();
        spammer.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
    }
    let mut listening = None;
    drive(&rt, &mut spammer, WAIT, |ev| match ev {
        SwarmEvent::NewListenAddr { address, .. } => {
            listening = Some(address.clone());
            true
        }
        _ => false,
    });
    spammer.add_external_address(listening.expect("the spammer listens"));
    let (records, topics, others) = (200, 4_300, 100);
    // In batches: Kademlia drops inbound streams beyond a few dozen at once, and the
    // spam should reach the node's own limits, not that one.
    let mut jobs: Vec<Job> = Vec::new();
    for i in 0..records {
        jobs.push(Box::new(move |k| {
            let record = kad::Record::new(format!("junk record {i}").into_bytes(), vec![7u8; 4096]);
            k.put_record(record, kad::Quorum::One).unwrap();
        }));
    }
    for i in 0..topics {
        jobs.push(Box::new(move |k| {
            k.start_providing(topic_key(i)).unwrap();
        }));
    }
    for i in 0..others {
        jobs.push(Box::new(move |k| {
            k.start_providing(kad::RecordKey::new(&format!("junk key {i}"))).unwrap();
        }));
    }
    let mut finished = true;
    let mut pending = 0;
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() && finished {
        let _context = rt.enter();
        for job in jobs.by_ref().take(16) {
            job(spammer.behaviour_mut());
            pending += 1;
        }
        finished = drive(&rt, &mut spammer, WAIT, |ev| {
            if let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed { step, .. }) = ev
                && step.last
            {
                pending -= 1;
            }
            pending == 0
        });
    }
    assert!(finished, "the spammer's {pending} last queries did not finish");
    // The provider records beyond the limit (204) and those for keys of another shape
    // (100) are refused. Kademlia may still drop a few streams of a batch, so a few
    // less may reach the node; without either check far fewer would be refused.
    let want = topics - 4096 + others - 24;
    let deadline = Instant::now() + WAIT;
    while refused(&log) < want {
        assert!(
            Instant::now() < deadline,
            "only {} provider records were refused, not {want}",
            refused(&log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A fresh peer asking the node finds no record, no provider for a key of another
    // shape, and the spammer for the first topic-shaped key.
    {
        let mut q = dht_swarm(&rt);
        q.behaviour_mut().add_address(&a_id, a_addr.clone());
        let _context = rt.enter();
        q.behaviour_mut().get_record(kad::RecordKey::new(&"junk record 0"));
        let mut got = None;
        drive(&rt, &mut q, WAIT, |ev| match ev {
            SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetRecord(r),
                ..
            }) => {
                got = Some(matches!(r, Ok(kad::GetRecordOk::FoundRecord(_))));
                true
            }
            _ => false,
        });
        assert_eq!(got, Some(false), "the node stored a stranger's record");
    }
    let spammer_id = *spammer.local_peer_id();
    assert!(providers_of(&rt, a_id, &a_addr, kad::RecordKey::new(&"junk key 0")).is_empty());
    assert_eq!(
        providers_of(&rt, a_id, &a_addr, topic_key(0)),
        [spammer_id].into_iter().collect(),
        "a topic-shaped key is provided"
    );

    // The node still syncs, and its memory did not grow with the spam.
    a.insert(&doc, 6, " and after");
    b.wait_text(&doc, |t| t == "before and after");
    let rss_after = a.rss_kib();
    assert!(
        rss_after < rss_before + 64 * 1024,
        "the node grew from {rss_before} KiB to {rss_after} KiB under the spam"
    );
    b.quit();
    a.quit();
}

#[derive(NetworkBehaviour)]
struct FakeRelay {
    relay: relay::Behaviour,
    identify: identify::Behaviour,
}

/// A stranger that says it is a relay (it really is one) connects to a node: the node
/// does not reserve on it, so its address never goes into the node's tickets. A node
/// that was given it as a bootstrap peer does reserve, which shows the relay works
/// and that a reservation would be seen.
#[test]
fn a_stranger_claiming_to_be_a_relay_is_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = runtime();
    let mut fake = {
        let _context = rt.enter();
        libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
            .unwrap()
            .with_behaviour(|key| {
                let peer = key.public().to_peer_id();
                let mut relay = relay::Behaviour::new(peer, relay::Config::default());
                relay.set_status(Some(relay::Status::Enable));
                FakeRelay {
                    relay,
                    identify: identify::Behaviour::new(identify::Config::new(
                        "/tandem/1.0.0".into(),
                        key.public(),
                    )),
                }
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
            .build()
    };
    {
        let _context = rt.enter();
        fake.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
    }
    let mut fake_addr = None;
    drive(&rt, &mut fake, WAIT, |ev| match ev {
        SwarmEvent::NewListenAddr { address, .. } => {
            fake_addr = Some(address.clone());
            true
        }
        _ => false,
    });
    let fake_addr = fake_addr.expect("the fake relay listens");
    let fake_id = *fake.local_peer_id();

    let mut a = Node::start(&tmp.path().join("a"), &[]);
    let doc = a.ok(json!({"cmd": "create", "title": "Relayed?"}))["doc"].as_str().unwrap().to_owned();
    let a_id: PeerId = a.peer_id.parse().unwrap();
    {
        let _context = rt.enter();
        fake.dial(a.listen[0].parse::<Multiaddr>().unwrap()).unwrap();
    }
    // Both told each other what they are; then the node has had time to reserve.
    let mut told = (false, false);
    let identified = drive(&rt, &mut fake, WAIT, |ev| {
        match ev {
            SwarmEvent::Behaviour(FakeRelayEvent::Identify(identify::Event::Received {
                peer_id, ..
            })) if *peer_id == a_id => told.0 = true,
            SwarmEvent::Behaviour(FakeRelayEvent::Identify(identify::Event::Sent { peer_id, .. }))
                if *peer_id == a_id =>
            {
                told.1 = true
            }
            _ => {}
        }
        told.0 && told.1
    });
    assert!(identified, "the node and the fake relay exchanged identify info");
    let asked = drive(&rt, &mut fake, Duration::from_secs(5), |ev| {
        matches!(
            ev,
            SwarmEvent::Behaviour(FakeRelayEvent::Relay(relay::Event::ReservationReqAccepted { .. }))
        )
    });
    assert!(!asked, "the node reserved on a stranger that claims to be a relay");
    let ticket = a.ticket(&doc);
    assert!(
        !ticket.addrs.iter().any(|addr| is_circuit(addr) || addr.to_string().contains(&fake_id.to_string())),
        "the stranger's address went into the ticket: {:?}",
        ticket.addrs
    );

    // Given as a bootstrap peer, the same relay is reserved on.
    let bootstrap = format!("{fake_addr}/p2p/{fake_id}");
    let c = Node::start(&tmp.path().join("c"), &["--bootstrap", &bootstrap]);
    let c_id: PeerId = c.peer_id.parse().unwrap();
    let reserved = drive(
        &rt,
        &mut fake,
        WAIT,
        |ev| matches!(ev, SwarmEvent::Behaviour(FakeRelayEvent::Relay(relay::Event::ReservationReqAccepted { src_peer_id, .. })) if *src_peer_id == c_id),
    );
    assert!(reserved, "a node reserves on a relay it was given as a bootstrap peer");
    c.quit();
    a.quit();
}
