//! Building the libp2p swarm: transports (TCP and QUIC with noise and yamux, DNS, the
//! relay client), the behaviours the engine drives, and the peer identity derived from
//! the device key; plus the address helpers the engine shares.

use super::handle::{NetConfig, PeerKind};
use super::relay;
use crate::codec::{BytesCodec, SYNC_PROTOCOL};
use crate::error::NetError;
use crate::wire;
use libp2p::gossipsub;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, autonat, connection_limits, dcutr, identify, identity, kad,
    mdns, noise, ping, relay as p2p_relay, tcp, upnp, yamux,
};
use std::time::Duration;
use tandem_storage::StoreHandle;

/// The private DHT's protocol: Tandem peers only.
pub(super) const PRIVATE_DHT: StreamProtocol = StreamProtocol::new("/tandem/kad/1.0.0");

/// The gossip protocol's name, before its version.
pub const GOSSIP_PROTOCOL: &str = "/tandem/meshsub";

/// Changes larger than this are not gossiped; catch-up delivers them.
pub(super) const MAX_GOSSIP: usize = 64 * 1024;
/// Connections open at once, at most (far above a document's peers: the DHT, relays and
/// many documents need some too).
pub(super) const MAX_CONNECTIONS: u32 = 1024;
/// Connections being set up by others at once, at most.
const MAX_PENDING_IN: u32 = 128;
/// Connections to one peer at once, at most.
const MAX_PER_PEER: u32 = 4;
/// Connections from one IP address at once, at most (loopback and private addresses
/// are exempt: a LAN or a test machine may hold many honest peers).
pub(super) const MAX_PER_IP: usize = 16;
/// Topics (documents) one peer may be subscribed to, as this peer tracks them.
const MAX_TOPICS: usize = 1 << 16;
/// How long a quiet connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a catch-up request may wait for its answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every protocol a Tandem peer speaks.
#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub(super) limits: connection_limits::Behaviour,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: ping::Behaviour,
    /// gossipsub, heard and heard from only by peers that proved a document (`gate.rs`).
    pub(super) gossipsub: super::gate::Gossip,
    pub(super) sync: request_response::Behaviour<BytesCodec>,
    pub(super) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(super) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(super) relay_client: p2p_relay::client::Behaviour,
    /// The relay server: a `--relay` node's for anyone, every other peer's for the
    /// peers of its documents while it is reachable from the internet (`relay.rs`).
    pub(super) relay: p2p_relay::Behaviour,
    pub(super) dcutr: dcutr::Behaviour,
    pub(super) autonat: autonat::Behaviour,
    /// The public DHT (see `public.rs`), as a client only.
    pub(super) public_kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    /// Port mappings on the home router, where it offers them.
    pub(super) upnp: Toggle<upnp::tokio::Behaviour>,
}

/// The libp2p identity, derived from the device key so the peer id is stable.
pub(super) fn device_keypair(store: &StoreHandle) -> Result<identity::Keypair, NetError> {
    let mut secret = store.identity().sign(b"tandem libp2p identity v1")[..32].to_vec();
    identity::Keypair::ed25519_from_bytes(&mut secret).map_err(|e| NetError::Transport(e.to_string()))
}

pub(super) fn build_swarm(
    keypair: identity::Keypair,
    config: &NetConfig,
    members: relay::RelayMembers,
    metrics: &mut libp2p::metrics::Registry,
) -> Result<Swarm<Behaviour>, NetError> {
    let transport = |e: &dyn std::fmt::Display| NetError::Transport(e.to_string());
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| transport(&e))?
        .with_quic()
        .with_dns()
        .map_err(|e| transport(&e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| transport(&e))?
        .with_bandwidth_metrics(metrics)
        .with_behaviour(|key, relay_client| {
            let peer = key.public().to_peer_id();
            // Messages spread through each document's mesh (no flood publish, no explicit
            // peers), so traffic grows with the peers, not with their square.
            let gossip_config = gossipsub::ConfigBuilder::default()
                // No author, sequence number or signature of gossipsub's own: they would
                // name who wrote each message and count its publishes in clear. Changes
                // and presence are signed inside the seal.
                .validation_mode(gossipsub::ValidationMode::Anonymous)
                .validate_messages()
                .message_id_fn(|m: &gossipsub::Message| gossipsub::MessageId::from(wire::message_id(&m.data)))
                .max_transmit_size(MAX_GOSSIP + 1024)
                .flood_publish(false)
                // Our own protocol name: peers of the public network that speak
                // gossipsub never hear which topics a Tandem peer subscribes to.
                .protocol_id_prefix(GOSSIP_PROTOCOL)
                .heartbeat_interval(Duration::from_millis(500))
                .build()?;
            // gossipsub's default filter ignores everything from a peer subscribed to
            // more than 100 topics, and a device may hold thousands of documents.
            let filter = gossipsub::MaxCountSubscriptionFilter {
                filter: gossipsub::AllowAllSubscriptionFilter {},
                max_subscribed_topics: MAX_TOPICS,
                max_subscriptions_per_request: MAX_TOPICS,
            };
            let mut gossipsub = gossipsub::Behaviour::new_with_subscription_filter(
                gossipsub::MessageAuthenticity::Anonymous,
                gossip_config,
                filter,
            )?;
            gossipsub.with_peer_score(score_params(), score_thresholds())?;
            let sync = request_response::Behaviour::with_codec(
                BytesCodec,
                [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT),
            );
            let mdns = if config.mdns {
                Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer)?)
            } else {
                None
            };
            let mut kad_config = kad::Config::new(PRIVATE_DHT);
            kad_config.set_query_timeout(Duration::from_secs(30));
            // Nothing a peer sends is stored unchecked: records never, provider records
            // only for a document's topic and within limits (`discovery.rs`).
            kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
            // Peers of a private DHT come and go: re-announce hourly, forget in three.
            kad_config.set_provider_publication_interval(Some(Duration::from_secs(60 * 60)));
            kad_config.set_provider_record_ttl(Some(super::discovery::PROVIDER_TTL));
            let store_config = kad::store::MemoryStoreConfig {
                max_provided_keys: super::discovery::MAX_PROVIDED,
                ..Default::default()
            };
            let store = kad::store::MemoryStore::with_config(peer, store_config);
            let mut kad = kad::Behaviour::with_config(peer, store, kad_config);
            // Every Tandem peer serves the private DHT (by default a peer stays a client
            // until an external address is confirmed, which a LAN or loopback never is).
            kad.set_mode(Some(kad::Mode::Server));
            let limits = connection_limits::ConnectionLimits::default()
                .with_max_established(Some(MAX_CONNECTIONS))
                .with_max_pending_incoming(Some(MAX_PENDING_IN))
                .with_max_established_per_peer(Some(MAX_PER_PEER));
            let public = config.public && super::public::allowed();
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(limits),
                identify: identify::Behaviour::new(identify::Config::new(
                    "/tandem/1.0.0".into(),
                    key.public(),
                )),
                ping: ping::Behaviour::default(),
                gossipsub: super::gate::Gossip::new(gossipsub),
                sync,
                mdns: Toggle::from(mdns),
                kad,
                relay_client,
                relay: if config.relay { relay::server(peer) } else { relay::member_relay(peer, members) },
                dcutr: dcutr::Behaviour::new(peer),
                autonat: autonat::Behaviour::new(peer, relay::autonat_config()),
                public_kad: Toggle::from(public.then(|| super::public::dht(peer))),
                upnp: Toggle::from(public.then(upnp::tokio::Behaviour::default)),
            })
        })
        .map_err(|e| transport(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok(swarm)
}

/// Gossip scoring: a peer's application score says whether it proved it holds any
/// document (see `members.rs`), and each message refused on a topic costs its sender
/// (squared, decaying by a tenth a second), so a few refusals put it below the graylist
/// and everything it sends is ignored. Peers behind one address are not penalised (a
/// LAN, a NAT, or loopback may hold many honest peers).
fn score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams {
        app_specific_weight: 10.0,
        ip_colocation_factor_weight: 0.0,
        ..gossipsub::PeerScoreParams::default()
    }
}

/// The score parameters of a document's topic: only refused messages count.
pub(super) fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.9,
        ..gossipsub::TopicScoreParams::default()
    }
}

fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds::default()
}

/// Bytes received and sent on every connection since start, from libp2p's bandwidth
/// counters in `metrics` (transport bytes: framing and encryption included).
pub(super) fn traffic(metrics: &libp2p::metrics::Registry) -> (u64, u64) {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, metrics).is_err() {
        return (0, 0);
    }
    let (mut bytes_in, mut bytes_out) = (0, 0);
    for line in text.lines().filter(|l| l.starts_with("libp2p_bandwidth_bytes_total{")) {
        let Some(n) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else { continue };
        if line.contains("direction=\"Inbound\"") {
            bytes_in += n as u64;
        } else if line.contains("direction=\"Outbound\"") {
            bytes_out += n as u64;
        }
    }
    (bytes_in, bytes_out)
}

/// The public IP address of a connection's remote end, if it has one: loopback,
/// private, link-local and relayed connections count for no address.
pub(super) fn public_ip(addr: &Multiaddr) -> Option<std::net::IpAddr> {
    if addr.iter().any(|p| matches!(p, Protocol::P2pCircuit)) {
        return None;
    }
    match addr.iter().next()? {
        Protocol::Ip4(ip) if !(ip.is_loopback() || ip.is_private() || ip.is_link_local()) => Some(ip.into()),
        Protocol::Ip6(ip) if !(ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local()) => {
            Some(ip.into())
        }
        _ => None,
    }
}

/// `addr` ending in `/p2p/<peer>`.
pub(super) fn with_peer(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    // A circuit address names the relay before `/p2p-circuit`; the peer comes last.
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.clone()
    } else {
        addr.clone().with(Protocol::P2p(peer))
    }
}

/// How a connection at `addr` counts: over a circuit, on the LAN, or direct.
pub(super) fn kind_of(addr: &Multiaddr, lan: bool) -> PeerKind {
    if addr.iter().any(|p| matches!(p, Protocol::P2pCircuit)) {
        PeerKind::Relayed
    } else if lan {
        PeerKind::Lan
    } else {
        PeerKind::Direct
    }
}
