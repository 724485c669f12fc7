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
use std::time::Duration;

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

/// The running stand-in network; dropping it stops every node.
pub(crate) struct PublicNet {
    _rt: tokio::runtime::Runtime,
    /// Each node's address, ending in `/p2p/<id>`.
    pub(crate) addrs: Vec<String>,
    /// What they saw.
    pub(crate) seen: Arc<Mutex<Seen>>,
    ids: Vec<PeerId>,
}

impl PublicNet {
    /// Starts `n` nodes listening on `ip` (e.g. `127.0.0.1`), each knowing the others.
    pub(crate) fn start(n: usize, ip: &str) -> PublicNet {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut swarms: Vec<Swarm<PublicNode>> = (0..n).map(|_| rt.block_on(async { node() })).collect();
        let mut addrs = Vec::new();
        for s in &mut swarms {
            let _context = rt.enter();
            s.listen_on(format!("/ip4/{ip}/tcp/0").parse().unwrap()).unwrap();
            let addr = rt.block_on(async {
                loop {
                    if let SwarmEvent::NewListenAddr { address, .. } = s.select_next_some().await {
                        break address;
                    }
                }
            });
            // A relay's reservations carry its addresses; these are what it has.
            s.add_external_address(addr.clone());
            addrs.push((*s.local_peer_id(), addr));
        }
        let ids: Vec<PeerId> = addrs.iter().map(|(p, _)| *p).collect();
        for s in &mut swarms {
            for (peer, addr) in &addrs {
                if peer != s.local_peer_id() {
                    s.behaviour_mut().kad.add_address(peer, addr.clone());
                }
            }
        }
        for s in swarms {
            let seen = seen.clone();
            let mesh = ids.clone();
            rt.spawn(run(s, seen, mesh));
        }
        let addrs = addrs.iter().map(|(p, a)| format!("{a}/p2p/{p}")).collect();
        PublicNet { _rt: rt, addrs, seen, ids }
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

fn node() -> Swarm<PublicNode> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
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
