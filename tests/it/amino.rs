//! A stand-in for the public libp2p network (the IPFS Amino DHT), for tests with no
//! internet: generic libp2p nodes, none of them Tandem, each a Kademlia server on
//! `/ipfs/kad/1.0.0` that stores provider records as the public DHT's Go servers do
//! (keys of 1 to 80 bytes, only with addresses), a circuit relay v2 with libp2p's
//! default limits, an AutoNAT server, identify, ping, and a gossipsub that listens.
//! They record what Tandem peers tell them, so a test can check that nothing names a
//! document.

use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, autonat, gossipsub, identify, kad, noise, ping, relay, tcp, yamux};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tandem_net::crypto::DocCipher;

#[derive(NetworkBehaviour)]
struct PublicNode {
    kad: kad::Behaviour<kad::store::MemoryStore>,
    identify: identify::Behaviour,
    relay: relay::Behaviour,
    autonat: autonat::Behaviour,
    gossipsub: gossipsub::Behaviour,
    ping: ping::Behaviour,
}

/// A provider record a public node was asked to store.
#[derive(Debug, Clone)]
pub(crate) struct Provided {
    pub(crate) key: Vec<u8>,
    pub(crate) provider: PeerId,
    pub(crate) addrs: Vec<Multiaddr>,
}

/// What the public nodes saw.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Peers that connected to any of them (their own mesh excluded).
    pub(crate) connected: Vec<PeerId>,
    /// Provider records they were asked to store.
    pub(crate) provided: Vec<Provided>,
    /// Gossip topics peers said they subscribe to.
    pub(crate) topics: Vec<String>,
    /// Peers that went into their DHT routing tables.
    pub(crate) routed: Vec<PeerId>,
    /// Relay reservations they accepted, by peer.
    pub(crate) reservations: Vec<PeerId>,
}

impl Seen {
    /// What the stand-in public nodes were told names no document: every provider key is
    /// one of the document's rendezvous keys (today or a neighbouring day), no gossip
    /// topic reached them, and no Tandem peer went into their routing tables.
    pub(crate) fn assert_told_nothing(&self, ticket: &tandem_net::Ticket, tandem: &[PeerId]) {
        let cipher = DocCipher::new(ticket.doc, &ticket.key);
        let day = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 86_400;
        let keys: Vec<Vec<u8>> =
            [day - 1, day, day + 1].iter().map(|d| cipher.rendezvous(*d).to_vec()).collect();
        let topic = cipher.topic().as_bytes();
        assert!(!self.provided.is_empty(), "nothing was announced");
        for p in &self.provided {
            assert!(keys.contains(&p.key), "a provider key that is not a rendezvous key: {:?}", p.key);
            for secret in [&ticket.doc.0[..], &ticket.key.0[..], topic] {
                assert!(!p.key.windows(8).any(|w| secret.windows(8).any(|s| s == w)));
            }
        }
        assert!(self.topics.is_empty(), "gossip topics reached the public network: {:?}", self.topics);
        for id in tandem {
            assert!(
                !self.routed.contains(id),
                "{id} went into a public routing table: it must be a client only"
            );
        }
    }
}

/// The running stand-in network; dropping it stops every node.
pub(crate) struct PublicNet {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Each node's addresses (TCP and QUIC), ending in `/p2p/<id>`.
    pub(crate) addrs: Vec<String>,
    /// What they saw.
    pub(crate) seen: Arc<Mutex<Seen>>,
    ids: Vec<PeerId>,
}

impl PublicNet {
    /// Starts `n` nodes listening on `ip` (e.g. `127.0.0.1`), each knowing the others.
    pub(crate) fn start(n: usize, ip: &str) -> PublicNet {
        PublicNet::start_in(n, ip, None)
    }

    /// Starts `n` nodes on `ip` inside the network namespace `netns` (if any): they run
    /// on a thread of their own that enters the namespace first, so every socket they
    /// open is in it.
    pub(crate) fn start_in(n: usize, ip: &str, netns: Option<&str>) -> PublicNet {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (addrs_tx, addrs_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ip, netns, shared) = (ip.to_owned(), netns.map(str::to_owned), seen.clone());
        let thread = std::thread::spawn(move || {
            if let Some(ns) = netns {
                enter_netns(&ns);
            }
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let mut swarms: Vec<Swarm<PublicNode>> = (0..n).map(|_| node()).collect();
                let mut addrs = Vec::new();
                for s in &mut swarms {
                    // TCP and QUIC, as the public network's nodes listen.
                    for listen in [format!("/ip4/{ip}/tcp/0"), format!("/ip4/{ip}/udp/0/quic-v1")] {
                        s.listen_on(listen.parse().unwrap()).unwrap();
                        let addr = loop {
                            if let SwarmEvent::NewListenAddr { address, .. } = s.select_next_some().await {
                                break address;
                            }
                        };
                        // A relay's reservations carry its addresses; these are what it has.
                        s.add_external_address(addr.clone());
                        addrs.push((*s.local_peer_id(), addr));
                    }
                }
                let mut ids: Vec<PeerId> = addrs.iter().map(|(p, _)| *p).collect();
                ids.dedup();
                for s in &mut swarms {
                    for (peer, addr) in &addrs {
                        if peer != s.local_peer_id() {
                            s.behaviour_mut().kad.add_address(peer, addr.clone());
                        }
                    }
                }
                addrs_tx.send(addrs).unwrap();
                let all = futures::future::join_all(
                    swarms.into_iter().map(|s| run(s, shared.clone(), ids.clone())),
                );
                tokio::select! {
                    _ = all => {}
                    _ = stopped => {}
                }
            });
        });
        let addrs = addrs_rx.recv_timeout(Duration::from_secs(30)).expect("the public nodes listen");
        let mut ids: Vec<PeerId> = addrs.iter().map(|(p, _)| *p).collect();
        ids.dedup();
        let addrs = addrs.iter().map(|(p, a)| format!("{a}/p2p/{p}")).collect();
        PublicNet { stop: Some(stop), thread: Some(thread), addrs, seen, ids }
    }

    /// Whether `peer` is one of the stand-in nodes.
    pub(crate) fn is_node(&self, peer: &PeerId) -> bool {
        self.ids.contains(peer)
    }

    /// `--public-bootstrap` arguments naming every node.
    pub(crate) fn bootstrap_args(&self) -> Vec<String> {
        self.addrs.iter().flat_map(|a| ["--public-bootstrap".to_owned(), a.clone()]).collect()
    }
}

impl Drop for PublicNet {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// Moves the calling thread into the network namespace `name` (made by `ip netns`).
fn enter_netns(name: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{name}")).expect("the namespace exists");
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
        .unwrap_or_else(|e| panic!("cannot enter the network namespace {name}: {e}"));
}

fn node() -> Swarm<PublicNode> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_quic()
        .with_behaviour(|key| {
            let peer = key.public().to_peer_id();
            let mut config = kad::Config::new(kad::PROTOCOL_NAME);
            // Provider records are checked by hand, as the Go servers do (below).
            config.set_record_filtering(kad::StoreInserts::FilterBoth);
            config.set_query_timeout(Duration::from_secs(20));
            let mut kad = kad::Behaviour::with_config(peer, kad::store::MemoryStore::new(peer), config);
            kad.set_mode(Some(kad::Mode::Server));
            let mut relay = relay::Behaviour::new(peer, relay::Config::default());
            relay.set_status(Some(relay::Status::Enable));
            PublicNode {
                kad,
                identify: identify::Behaviour::new(identify::Config::new("ipfs/0.1.0".into(), key.public())),
                relay,
                autonat: autonat::Behaviour::new(
                    peer,
                    autonat::Config { only_global_ips: false, ..autonat::Config::default() },
                ),
                gossipsub: gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossipsub::Config::default(),
                )
                .unwrap(),
                ping: ping::Behaviour::default(),
            }
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build()
}

async fn run(mut swarm: Swarm<PublicNode>, seen: Arc<Mutex<Seen>>, mesh: Vec<PeerId>) {
    swarm.behaviour_mut().kad.bootstrap().ok();
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if !mesh.contains(&peer_id) => {
                seen.lock().unwrap().connected.push(peer_id);
            }
            SwarmEvent::Behaviour(PublicNodeEvent::Kad(kad::Event::InboundRequest {
                request: kad::InboundRequest::AddProvider { record: Some(record) },
            })) => {
                seen.lock().unwrap().provided.push(Provided {
                    key: record.key.to_vec(),
                    provider: record.provider,
                    addrs: record.addresses.clone(),
                });
                // go-libp2p-kad-dht: keys of 1 to 80 bytes, and a record without
                // addresses is dropped ("no valid addresses for provider").
                let len = record.key.as_ref().len();
                if (1..=80).contains(&len) && !record.addresses.is_empty() {
                    kad::store::RecordStore::add_provider(swarm.behaviour_mut().kad.store_mut(), record).ok();
                }
            }
            SwarmEvent::Behaviour(PublicNodeEvent::Kad(kad::Event::RoutingUpdated { peer, .. }))
                if !mesh.contains(&peer) =>
            {
                seen.lock().unwrap().routed.push(peer);
            }
            SwarmEvent::Behaviour(PublicNodeEvent::Gossipsub(gossipsub::Event::Subscribed {
                topic, ..
            })) => {
                seen.lock().unwrap().topics.push(topic.to_string());
            }
            SwarmEvent::Behaviour(PublicNodeEvent::Relay(relay::Event::ReservationReqAccepted {
                src_peer_id,
                ..
            })) => {
                seen.lock().unwrap().reservations.push(src_peer_id);
            }
            _ => {}
        }
    }
}
