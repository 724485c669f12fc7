//! Dialling peers found on the LAN by mDNS.
//!
//! Two peers on a LAN usually discover each other in the same instant and dial each
//! other at once. With TCP port reuse (libp2p's default, which helps NAT traversal)
//! both dials use the same pair of addresses and ports and can meet as one TCP
//! simultaneous open on which both sides act as the initiator, so neither handshake
//! completes; mDNS does not report the peer again, so they never connect (seen in the
//! namespace LAN test about once in ten runs under load). A LAN dial therefore leaves
//! from a fresh port: at worst the peers hold two connections.

use super::Engine;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId};
use tracing::debug;

impl Engine {
    /// Dials a peer that mDNS found at `addr`, from a new port.
    pub(super) fn dial_lan(&mut self, peer: PeerId, addr: Multiaddr) {
        if peer == *self.swarm.local_peer_id() || self.connected.contains_key(&peer) {
            return;
        }
        let opts = DialOpts::peer_id(peer).addresses(vec![addr.clone()]).allocate_new_port().build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!("cannot dial {peer} at {addr}: {e}");
        }
    }
}
