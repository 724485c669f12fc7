//! Finding and connecting peers: dialling ticket, stored and bootstrap addresses,
//! peers that mDNS finds (see `lan.rs`) and providers the Kademlia DHT names; every
//! document's topic is announced as a provider record. Also what a new connection does
//! (a hello, after which members catch up both ways; see `members.rs`) and going
//! offline.

use super::Engine;
use super::handle::{Event, PeerInfo};
use super::swarm::with_peer;
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, kad};
use std::time::Duration;
use tandem_storage::DocId;
use tracing::debug;

/// DHT records are announced and looked up at most this often on new connections.
const ANNOUNCE_GAP: Duration = Duration::from_secs(1);

impl Engine {
    /// A connection opened; `n` connections to the peer are open now.
    pub(super) fn on_connection(&mut self, peer: PeerId, endpoint: &ConnectedPoint, n: u32) {
        if self.offline {
            self.swarm.disconnect_peer_id(peer).ok();
            return;
        }
        self.note_connection(peer, endpoint);
        let addr = endpoint.get_remote_address().clone();
        if endpoint.is_dialer() {
            self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
        }
        if n == 1 {
            let info = PeerInfo { peer, addr, kind: self.connection_kind(peer, endpoint) };
            self.connected.insert(peer, info.clone());
            self.events.send(Event::PeerConnected(info)).ok();
            self.sync.peer_connected(peer);
            self.greet(peer);
            self.announce(false);
        } else {
            self.on_extra_connection(peer, endpoint);
        }
    }

    /// This peer's listen addresses, each ending in its id.
    pub(super) fn listen_addrs(&self) -> Vec<Multiaddr> {
        let me = *self.swarm.local_peer_id();
        self.swarm.listeners().map(|a| with_peer(a, me)).collect()
    }

    /// Announces every document in the DHT and looks up its providers, at most once a
    /// second unless `force`d (a new connection may be the first peer that can store the
    /// records).
    pub(super) fn announce(&mut self, force: bool) {
        let now = tokio::time::Instant::now();
        if !force && self.last_announce.is_some_and(|t| now - t < ANNOUNCE_GAP) {
            return;
        }
        self.last_announce = Some(now);
        let keys: Vec<kad::RecordKey> =
            self.docs.values().map(|d| kad::RecordKey::new(&d.cipher.topic())).collect();
        self.dht_queries += 2 * keys.len() as u64;
        let kad = &mut self.swarm.behaviour_mut().kad;
        for key in keys {
            if let Err(e) = kad.start_providing(key.clone()) {
                debug!("cannot announce in the DHT: {e}");
            }
            kad.get_providers(key);
        }
    }

    /// Providers of a document's topic were found: dial those not connected.
    pub(super) fn on_providers(&mut self, providers: impl IntoIterator<Item = PeerId>) {
        for peer in providers {
            if peer != *self.swarm.local_peer_id() && !self.connected.contains_key(&peer) && !self.offline {
                self.swarm.dial(peer).ok();
            }
        }
    }

    /// mDNS found peers on the LAN: dial those not connected.
    pub(super) fn on_mdns(&mut self, found: Vec<(PeerId, Multiaddr)>) {
        for (peer, addr) in found {
            self.lan.insert(peer);
            if !self.offline && !self.connected.contains_key(&peer) {
                self.dial_lan(peer, addr);
            }
        }
    }

    pub(super) async fn set_offline(&mut self, on: bool) {
        if self.offline == on {
            return;
        }
        self.offline = on;
        self.sync.set_offline(on);
        if on {
            let peers: Vec<PeerId> = self.connected.keys().copied().collect();
            for p in peers {
                self.swarm.disconnect_peer_id(p).ok();
            }
        } else {
            self.dial_known().await;
        }
    }

    /// Dials bootstrap peers and every stored peer address.
    pub(super) async fn dial_known(&mut self) {
        if self.offline {
            return;
        }
        let mut addrs = self.bootstrap.clone();
        let ids: Vec<DocId> = self.docs.keys().copied().collect();
        for id in ids {
            if let Ok(stored) = self.store.peer_addrs(id).get().await {
                addrs.extend(stored.iter().filter_map(|a| a.parse().ok()));
            }
        }
        for a in addrs {
            self.dial(a);
        }
    }

    pub(super) fn dial(&mut self, addr: Multiaddr) {
        if let Some(Protocol::P2p(peer)) = addr.iter().last()
            && (peer == *self.swarm.local_peer_id() || self.connected.contains_key(&peer))
        {
            return;
        }
        if let Err(e) = self.swarm.dial(addr.clone()) {
            debug!("cannot dial {addr}: {e}");
        }
    }
}
