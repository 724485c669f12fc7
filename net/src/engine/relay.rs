//! NAT traversal: every peer runs the circuit relay v2 client, DCUtR (hole punching
//! over a relayed connection) and AutoNAT; a peer started with [`NetConfig::relay`]
//! (`tandem node --relay`) also serves as a relay with limits raised for document
//! traffic.
//!
//! A peer that is not a relay itself makes a reservation on a relay it connects to (a
//! peer whose identify info lists the relay hop protocol) that it has reason to trust:
//! one in its configuration or bootstrap list, or one that proved it holds one of this
//! peer's documents. Any peer can claim to be a relay; a stranger's claim would put its
//! address in this peer's tickets. It reserves by listening on
//! `<relay addr>/p2p/<relay>/p2p-circuit`. Once the relay accepts, that circuit
//! address is one of the peer's listen addresses, so it goes into tickets and a joiner
//! that cannot reach the peer directly dials it through the relay. DCUtR then tries to
//! replace the relayed connection with a direct one.
//!
//! With the public network on, a peer that AutoNAT does not find reachable also
//! reserves on up to [`MAX_PUBLIC_RESERVATIONS`] relays of the public network (its
//! bootstrap peers, or peers of the public DHT that offer relaying): their circuits are
//! short (libp2p's defaults: 2 minutes, 128 KiB), enough for two peers behind NATs to
//! meet and hole-punch, and their circuit address is what this peer's public provider
//! records carry. UPnP maps a port on routers that offer it.

use super::{Engine, NetConfig, NetworkStatus, PeerKind, Reachability};
use libp2p::core::ConnectedPoint;
use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, autonat, dcutr, identify, kad, relay, upnp};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tracing::{debug, info};

/// How long one relayed connection may last (a writing session, not a page load).
const RELAY_CIRCUIT_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// Bytes one relayed connection may carry each way before the relay closes it.
const RELAY_CIRCUIT_BYTES: u64 = 1 << 30;

/// The relay server's limits: far above libp2p's defaults (2 minutes, 128 KiB, 16
/// circuits), which suit a hole-punching rendezvous but not a document kept open for
/// hours with a catch-up of megabytes.
fn server_config() -> relay::Config {
    relay::Config {
        max_reservations: 1024,
        max_reservations_per_peer: 8,
        reservation_duration: Duration::from_secs(60 * 60),
        max_circuits: 1024,
        max_circuits_per_peer: 64,
        max_circuit_duration: RELAY_CIRCUIT_DURATION,
        max_circuit_bytes: RELAY_CIRCUIT_BYTES,
        ..relay::Config::default()
    }
}

/// The peers that proved they hold one of this peer's documents, shared with the relay
/// server's limiters: only they may reserve on, or open circuits through, a peer that
/// is not a `--relay` node.
#[derive(Debug, Clone, Default)]
pub(super) struct RelayMembers(std::sync::Arc<std::sync::Mutex<HashSet<PeerId>>>);

impl RelayMembers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<PeerId>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn insert(&self, peer: PeerId) {
        self.lock().insert(peer);
    }

    pub(super) fn remove(&self, peer: &PeerId) {
        self.lock().remove(peer);
    }

    fn contains(&self, peer: &PeerId) -> bool {
        self.lock().contains(peer)
    }
}

/// The relay server of a peer that is not a `--relay` node: once it is reachable from
/// the internet ([`Engine::on_autonat`] turns it on), it relays for the peers of its
/// documents only (a circuit's source must be one too), so that peers behind NATs
/// where no hole punch gets through can still sync with each other through it.
pub(super) fn member_relay(peer: PeerId, members: RelayMembers) -> relay::Behaviour {
    let (reserve, circuit) = (members.clone(), members);
    let config = relay::Config {
        max_reservations: 128,
        max_reservations_per_peer: 4,
        reservation_duration: Duration::from_secs(60 * 60),
        max_circuits: 256,
        max_circuits_per_peer: 16,
        max_circuit_duration: RELAY_CIRCUIT_DURATION,
        max_circuit_bytes: RELAY_CIRCUIT_BYTES,
        reservation_rate_limiters: vec![Box::new(move |p: PeerId, _: &Multiaddr, _| reserve.contains(&p))],
        circuit_src_rate_limiters: vec![Box::new(move |p: PeerId, _: &Multiaddr, _| circuit.contains(&p))],
    };
    let mut server = relay::Behaviour::new(peer, config);
    server.set_status(Some(relay::Status::Disable));
    server
}

/// The relay server. It serves at once: by default libp2p only advertises the hop
/// protocol once an external address is confirmed, which a relay on a LAN, a private
/// network or loopback never gets; `--relay` is the operator saying it is reachable.
pub(super) fn server(peer: PeerId) -> relay::Behaviour {
    let mut server = relay::Behaviour::new(peer, server_config());
    server.set_status(Some(relay::Status::Enable));
    server
}

/// AutoNAT tells whether this peer is reachable from outside; it probes through
/// connected peers and serves probes for them. Until it is sure, it probes again every
/// 30 s (libp2p's default is 90 s): a first probe often goes out before any peer has
/// told this one the address it sees.
pub(super) fn autonat_config() -> autonat::Config {
    autonat::Config {
        boot_delay: Duration::from_secs(5),
        retry_interval: Duration::from_secs(30),
        ..autonat::Config::default()
    }
}

/// The relay a circuit address goes through: the peer id just before `/p2p-circuit`.
pub(super) fn relay_of(addr: &Multiaddr) -> Option<PeerId> {
    let mut last = None;
    for p in addr.iter() {
        match p {
            Protocol::P2p(peer) => last = Some(peer),
            Protocol::P2pCircuit => return last,
            _ => {}
        }
    }
    None
}

/// Whether an address goes through a relay.
pub(super) fn is_circuit(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// Relays a peer reserves on by itself (configured circuit addresses come on top).
pub(super) const MAX_RESERVATIONS: usize = 3;
/// Relays of the public network a peer reserves on, at most.
pub(super) const MAX_PUBLIC_RESERVATIONS: usize = 2;
/// Relay offers from connected peers not yet trusted, kept at most.
const MAX_OFFERS: usize = 64;

/// Reservations this peer holds or asked for.
#[derive(Debug, Default)]
pub(super) struct Relays {
    /// Whether this peer is a relay server itself (then it reserves nowhere).
    pub(super) serving: bool,
    /// Relay -> the listener of its reservation.
    pub(super) reserving: HashMap<PeerId, ListenerId>,
    /// Circuit addresses the config asks to listen on, by relay.
    configured: HashMap<PeerId, Multiaddr>,
    /// The address each peer was dialled at (a relay is reserved on at that address).
    pub(super) dialled: HashMap<PeerId, Multiaddr>,
    /// Bootstrap addresses by peer.
    bootstrap: HashMap<PeerId, Multiaddr>,
    /// Connected peers that said they are relays, with what they said, until this peer
    /// reserves on them or they go.
    offered: HashMap<PeerId, identify::Info>,
    /// Relays of the public network reserved on.
    public: HashSet<PeerId>,
    /// Peers reached through a relay that this peer dialled directly (a direct
    /// connection to one of them is no hole punch).
    direct_dials: HashSet<PeerId>,
    /// Relays that accepted a reservation.
    accepted: HashSet<PeerId>,
    /// Peers that hold a reservation on this peer's relay server.
    reserved_here: HashSet<PeerId>,
    /// What AutoNAT found.
    pub(super) reachability: Reachability,
    /// The peers this peer relays for when it is not a `--relay` node.
    pub(super) members: RelayMembers,
    /// Whether UPnP mapped a port.
    upnp_mapped: bool,
}

impl Relays {
    pub(super) fn new(config: &NetConfig, members: RelayMembers) -> Relays {
        let mut relays = Relays { serving: config.relay, members, ..Relays::default() };
        for a in &config.listen {
            if let Some(r) = relay_of(a) {
                relays.configured.insert(r, a.clone());
            }
        }
        for a in &config.bootstrap {
            if let Some(Protocol::P2p(peer)) = a.iter().last() {
                relays.bootstrap.insert(peer, a.clone());
            }
        }
        relays
    }
}

impl Relays {
    /// Whether the connection to `peer` carries relaying: a bootstrap or configured
    /// relay, a relay this peer reserved on, or a peer with a reservation here.
    pub(super) fn relays_with(&self, peer: &PeerId) -> bool {
        self.bootstrap.contains_key(peer)
            || self.configured.contains_key(peer)
            || self.reserving.contains_key(peer)
            || self.reserved_here.contains(peer)
    }
}

impl Engine {
    /// Listens on the circuit addresses of the config, and dials their relays whenever
    /// it dials its bootstrap peers (so a reservation lost while offline comes back).
    pub(super) fn reserve_configured(&mut self) {
        let configured: Vec<(PeerId, Multiaddr)> =
            self.relays.configured.iter().map(|(p, a)| (*p, a.clone())).collect();
        for (relay, circuit) in configured {
            let relay_addr: Multiaddr =
                circuit.iter().take_while(|p| !matches!(p, Protocol::P2pCircuit)).collect();
            if !self.bootstrap.contains(&relay_addr) {
                self.bootstrap.push(relay_addr);
            }
            self.listen_circuit(relay, circuit);
        }
    }

    fn listen_circuit(&mut self, relay: PeerId, circuit: Multiaddr) {
        match self.swarm.listen_on(circuit.clone()) {
            Ok(id) => {
                debug!("asking {relay} for a relay reservation at {circuit}");
                self.relays.reserving.insert(relay, id);
            }
            Err(e) => debug!("cannot reserve on relay {relay}: {e}"),
        }
    }

    /// Remembers how a connection was made (called for every new connection).
    pub(super) fn note_connection(&mut self, peer: PeerId, endpoint: &ConnectedPoint) {
        if let ConnectedPoint::Dialer { address, .. } = endpoint
            && !endpoint.is_relayed()
        {
            self.relays.dialled.insert(peer, address.clone());
        }
    }

    /// The kind of a new connection: relayed if it runs over a circuit (on the
    /// listening side only the local address shows it).
    pub(super) fn connection_kind(&self, peer: PeerId, endpoint: &ConnectedPoint) -> PeerKind {
        if endpoint.is_relayed() {
            PeerKind::Relayed
        } else {
            super::swarm::kind_of(endpoint.get_remote_address(), self.lan.contains(&peer))
        }
    }

    /// A further connection to a connected peer: a direct one (e.g. after a DCUtR hole
    /// punch) supersedes a relayed one in what `peers` reports.
    pub(super) fn on_extra_connection(&mut self, peer: PeerId, endpoint: &ConnectedPoint) {
        let kind = self.connection_kind(peer, endpoint);
        if let Some(info) = self.connected.get_mut(&peer)
            && info.kind == PeerKind::Relayed
            && kind != PeerKind::Relayed
        {
            info.addr = endpoint.get_remote_address().clone();
            // Unless this peer dialled it at a public address, a direct connection that
            // replaces a relayed one comes from a hole punch (DCUtR).
            let dialled = self.relays.direct_dials.contains(&peer);
            info.kind = if kind == PeerKind::Direct && !dialled { PeerKind::HolePunched } else { kind };
            info!("direct connection to {peer} replaces the relayed one");
        }
    }

    /// A peer reached only through a relay that has public addresses of its own (a
    /// `tandem node --relay`, a peer with a mapped port) is dialled there: a direct
    /// connection is better, and only over one does a relay offer to relay.
    pub(super) fn reach_directly(&mut self, peer: PeerId, info: &identify::Info) {
        if self.offline || self.connected.get(&peer).is_none_or(|i| i.kind != PeerKind::Relayed) {
            return;
        }
        let addrs: Vec<Multiaddr> = info
            .listen_addrs
            .iter()
            .filter(|a| super::swarm::public_ip(a).is_some())
            .take(8)
            .cloned()
            .collect();
        if addrs.is_empty() || !self.relays.direct_dials.insert(peer) {
            return;
        }
        debug!("dialling {peer}, reached through a relay, at its public addresses");
        let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(libp2p::swarm::dial_opts::PeerCondition::NotDialing)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!("cannot dial {peer} directly: {e}");
        }
    }

    /// Identify told us what a peer supports: reserve a slot on it if it is a relay
    /// this peer trusts (configured, bootstrap, or a member of one of its documents);
    /// a stranger's offer waits until it proves membership ([`Engine::relay_proved`]).
    pub(super) fn on_identified(&mut self, peer: PeerId, info: &identify::Info) {
        if self.relays.serving
            || self.offline
            || self.relays.reserving.contains_key(&peer)
            || !info.protocols.contains(&relay::HOP_PROTOCOL_NAME)
        {
            return;
        }
        if let Some(circuit) = self.relays.configured.get(&peer).cloned() {
            self.listen_circuit(peer, circuit);
            return;
        }
        let trusted = self.relays.bootstrap.contains_key(&peer)
            || self.docs.keys().any(|d| self.sync.is_member(*d, &peer));
        // A relay of the public network, while this peer is not reachable by itself.
        let public = !trusted
            && self.public.on
            && (self.public.is_bootstrap(&peer) || info.protocols.contains(&kad::PROTOCOL_NAME))
            && self.relays.reachability != Reachability::Public
            && !self.relays.upnp_mapped
            && self.relays.public.iter().filter(|r| self.relays.reserving.contains_key(r)).count()
                < MAX_PUBLIC_RESERVATIONS;
        if public {
            self.relays.public.insert(peer);
            self.reserve_on(peer, info);
            return;
        }
        if !trusted {
            debug!("{peer} offers to relay; waiting until it proves a document");
            if self.relays.offered.len() < MAX_OFFERS {
                self.relays.offered.insert(peer, info.clone());
            }
            return;
        }
        self.reserve_on(peer, info);
    }

    /// A peer proved it holds a document: if it offered to relay, reserve on it now.
    pub(super) fn relay_proved(&mut self, peer: PeerId) {
        if let Some(info) = self.relays.offered.remove(&peer) {
            self.reserve_on(peer, &info);
        }
    }

    /// A peer's last connection closed: forget its offer.
    pub(super) fn relay_gone(&mut self, peer: &PeerId) {
        self.relays.offered.remove(peer);
        self.relays.direct_dials.remove(peer);
        self.relays.accepted.remove(peer);
        self.relays.reserved_here.remove(peer);
    }

    fn reserve_on(&mut self, peer: PeerId, info: &identify::Info) {
        if self.relays.reserving.contains_key(&peer) {
            return;
        }
        // A few reservations are enough to be reachable; more only cost the relays.
        if self.relays.reserving.len() >= MAX_RESERVATIONS {
            debug!("not reserving on relay {peer}: already on {MAX_RESERVATIONS}");
            return;
        }
        // Where to reach the relay: the bootstrap address, else the address we dialled,
        // else the first address it listens on that is not itself a circuit.
        let addr = self
            .relays
            .bootstrap
            .get(&peer)
            .or_else(|| self.relays.dialled.get(&peer))
            .cloned()
            .or_else(|| info.listen_addrs.iter().find(|a| !is_circuit(a)).cloned());
        let Some(addr) = addr else { return };
        let mut circuit: Multiaddr =
            addr.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect::<Multiaddr>();
        circuit.push(Protocol::P2p(peer));
        circuit.push(Protocol::P2pCircuit);
        self.listen_circuit(peer, circuit);
    }

    /// A relay vouches for the addresses it listens on: a reservation carries the
    /// relay's external addresses, and libp2p refuses one that carries none.
    pub(super) fn on_new_listen_addr(&mut self, addr: &Multiaddr) {
        if self.relays.serving && !is_circuit(addr) {
            self.swarm.add_external_address(addr.clone());
        }
    }

    /// A listener closed: if it was a reservation, a later identify may renew it.
    pub(super) fn on_listener_closed(&mut self, id: ListenerId) {
        let gone: Vec<PeerId> =
            self.relays.reserving.iter().filter(|(_, l)| **l == id).map(|(p, _)| *p).collect();
        for p in gone {
            self.relays.reserving.remove(&p);
            self.relays.accepted.remove(&p);
            self.relays.public.remove(&p);
        }
    }

    /// Relay, DCUtR and AutoNAT events: logged for diagnosis.
    pub(super) fn on_relay_client(&mut self, ev: relay::client::Event) {
        match ev {
            relay::client::Event::ReservationReqAccepted { relay_peer_id, renewal, .. } => {
                if !renewal {
                    info!("relay {relay_peer_id} accepted a reservation");
                }
                self.relays.accepted.insert(relay_peer_id);
            }
            other => debug!("relay client: {other:?}"),
        }
    }

    pub(super) fn on_relay_server(&mut self, ev: relay::Event) {
        debug!("relay server: {ev:?}");
        match ev {
            relay::Event::ReservationReqAccepted { src_peer_id, .. } => {
                self.relays.reserved_here.insert(src_peer_id);
            }
            relay::Event::ReservationTimedOut { src_peer_id } => {
                self.relays.reserved_here.remove(&src_peer_id);
            }
            _ => {}
        }
    }

    pub(super) fn on_dcutr(&mut self, ev: dcutr::Event) {
        match ev.result {
            Ok(_) => {
                info!("hole punched to {}", ev.remote_peer_id);
                if let Some(info) = self.connected.get_mut(&ev.remote_peer_id)
                    && info.kind == PeerKind::Direct
                {
                    info.kind = PeerKind::HolePunched;
                }
            }
            Err(e) => debug!("hole punch to {} failed: {e}", ev.remote_peer_id),
        }
    }

    pub(super) fn on_autonat(&mut self, ev: autonat::Event) {
        if let autonat::Event::StatusChanged { old, new } = ev {
            info!("reachability: {old:?} -> {new:?}");
            self.relays.reachability = match new {
                autonat::NatStatus::Public(_) => Reachability::Public,
                autonat::NatStatus::Private => Reachability::Private,
                autonat::NatStatus::Unknown => Reachability::Unknown,
            };
            self.member_relay_status();
        }
    }

    /// A peer that is not a `--relay` node relays for the peers of its documents while
    /// it is reachable from the internet (AutoNAT, or a port its router maps).
    fn member_relay_status(&mut self) {
        if self.relays.serving {
            return;
        }
        let reachable = self.relays.reachability == Reachability::Public || self.relays.upnp_mapped;
        let status = if reachable { relay::Status::Enable } else { relay::Status::Disable };
        self.swarm.behaviour_mut().relay.set_status(Some(status));
    }

    pub(super) fn on_upnp(&mut self, ev: upnp::Event) {
        match ev {
            upnp::Event::NewExternalAddr { external_addr, .. } => {
                info!("the router maps {external_addr} to this peer (UPnP)");
                self.relays.upnp_mapped = true;
                self.member_relay_status();
            }
            upnp::Event::ExpiredExternalAddr { external_addr, .. } => {
                debug!("the router's mapping {external_addr} expired");
                self.relays.upnp_mapped = false;
                self.member_relay_status();
            }
            upnp::Event::GatewayNotFound => debug!("no UPnP router found"),
            upnp::Event::NonRoutableGateway => debug!("the UPnP router is not on the internet"),
        }
    }

    /// How this peer is connected to the network.
    pub(super) fn network_status(&mut self) -> NetworkStatus {
        let public_dht_peers = self.public_routing_peers();
        let private_dht_peers = self.swarm.behaviour_mut().kad.kbuckets().map(|b| b.num_entries()).sum();
        let mut relays: Vec<PeerId> = self.relays.accepted.iter().copied().collect();
        relays.sort();
        NetworkStatus {
            public_network: self.public.on,
            public_reached: self.public.reached,
            public_dht_peers,
            public_announced: self.public.n_announced(),
            public_found: self.public.found,
            private_dht_peers,
            reachability: self.relays.reachability,
            listen: self.listen_addrs(),
            external: self.swarm.external_addresses().cloned().collect(),
            relays,
            upnp_mapped: self.relays.upnp_mapped,
            infrastructure: self.others.len(),
            offline: self.offline,
        }
    }
}

/// A ticket's addresses: direct ones first, but never so many that the relayed ones
/// (up to half of [`crate::ticket::MAX_ADDRS`]) are cut off.
pub(super) fn ticket_addrs(addrs: Vec<Multiaddr>) -> Vec<Multiaddr> {
    let max = crate::ticket::MAX_ADDRS;
    let (circuits, direct): (Vec<_>, Vec<_>) = addrs.into_iter().partition(is_circuit);
    let n_circuits = circuits.len().min(max / 2);
    let mut res: Vec<Multiaddr> = direct.into_iter().take(max - n_circuits).collect();
    res.extend(circuits.into_iter().take(max - res.len()));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: &str = "12D3KooWAnz7WxmxstAW2JZ9vyDmnocbsHtCvFFfRGdGRM13Yaw6";
    const PEER: &str = "12D3KooWR2QfH9JoNSUoU918ZSr6HG1VUELNy4tKDES2YJvDzY34";

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_circuit_address_names_its_relay_and_gets_the_peer_appended() {
        let circuit = addr(&format!("/ip4/10.0.0.1/tcp/4001/p2p/{RELAY}/p2p-circuit"));
        assert_eq!(relay_of(&circuit), Some(RELAY.parse().unwrap()));
        assert!(is_circuit(&circuit));
        let full = crate::engine::swarm::with_peer(&circuit, PEER.parse().unwrap());
        assert_eq!(full.to_string(), format!("{circuit}/p2p/{PEER}"));
        // A full circuit address, and a direct one, are left as they are.
        assert_eq!(crate::engine::swarm::with_peer(&full, PEER.parse().unwrap()), full);
        let direct = addr(&format!("/ip4/10.0.0.2/tcp/1/p2p/{PEER}"));
        assert_eq!(relay_of(&direct), None);
        assert_eq!(crate::engine::swarm::with_peer(&direct, PEER.parse().unwrap()), direct);
    }

    #[test]
    fn tickets_keep_room_for_relayed_addresses() {
        let direct: Vec<Multiaddr> = (0..12).map(|i| addr(&format!("/ip4/10.0.0.{i}/tcp/1"))).collect();
        let circuit = addr(&format!("/ip4/10.0.0.1/tcp/4001/p2p/{RELAY}/p2p-circuit/p2p/{PEER}"));
        let mut all = direct.clone();
        all.push(circuit.clone());
        let kept = ticket_addrs(all);
        assert_eq!(kept.len(), crate::ticket::MAX_ADDRS);
        assert!(kept.contains(&circuit));
        assert_eq!(kept[0], direct[0], "direct addresses first");
        // With few addresses, all are kept.
        assert_eq!(ticket_addrs(vec![direct[0].clone(), circuit.clone()]), vec![direct[0].clone(), circuit]);
    }
}
