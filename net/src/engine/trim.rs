//! Letting go of connections this device does not need.
//!
//! A connection to a member stays open for as long as gossipsub keeps its streams
//! open, which is as long as both ends run: the DHT's lookups and announcements, and
//! the peers that dial in, connect a node in a big document to nearly everyone in it
//! (about 100 connections each in a 100-peer document). Each costs pings, gossip
//! bookkeeping and the handlers of every protocol, on both ends, for nothing: gossip
//! travels through each document's mesh of a few peers.
//!
//! So once more than [`CONNECTIONS_KEPT`] peers are connected, a peer older than
//! [`TRIM_AFTER`] is let go unless it is needed: it is in one of this device's gossip
//! meshes, it carries relaying (see [`super::relay::Relays::relays_with`]), a catch-up
//! request to it is under way, or one of its documents would be left with fewer than
//! [`ENOUGH_MEMBERS`] connected members. A LAN peer let go is not dialled again when
//! mDNS names it again within [`TRIMMED_MEMORY`]; discovery dials only documents that
//! lack members, so nothing else dials it back while the document has enough.

use super::Engine;
use super::discovery::ENOUGH_MEMBERS;
use libp2p::PeerId;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tandem_storage::DocId;
use tracing::debug;

/// Up to this many connected peers, none is let go.
pub(super) const CONNECTIONS_KEPT: usize = 24;
/// A connection younger than this is never let go: its hello, its catch-ups and the
/// mesh's grafts come first.
pub(super) const TRIM_AFTER: Duration = Duration::from_secs(60);
/// How long a peer let go is not dialled again when mDNS names it.
pub(super) const TRIMMED_MEMORY: Duration = Duration::from_secs(10 * 60);
/// Peers let go that are remembered, at most.
const MAX_TRIMMED: usize = 4096;
/// How often the connections are looked over.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// When each peer connected, which were let go, and when they were last looked over.
#[derive(Debug, Default)]
pub(super) struct Trim {
    since: HashMap<PeerId, Instant>,
    trimmed: HashMap<PeerId, Instant>,
    last: Option<Instant>,
}

impl Trim {
    /// A peer's first connection opened.
    pub(super) fn connected(&mut self, peer: PeerId, now: Instant) {
        self.since.insert(peer, now);
    }

    /// A peer's last connection closed.
    pub(super) fn gone(&mut self, peer: &PeerId) {
        self.since.remove(peer);
    }

    /// Whether `peer` was let go lately.
    pub(super) fn was_trimmed(&self, peer: &PeerId, now: Instant) -> bool {
        self.trimmed.get(peer).is_some_and(|t| now.saturating_duration_since(*t) < TRIMMED_MEMORY)
    }
}

/// One connected peer, as trimming sees it.
#[derive(Debug, Clone)]
pub(super) struct Candidate<P> {
    pub(super) peer: P,
    /// When its first connection opened.
    pub(super) since: Instant,
    /// The documents it proved it holds.
    pub(super) docs: Vec<DocId>,
    /// In a gossip mesh, carrying relaying or a catch-up: never let go.
    pub(super) needed: bool,
}

/// The peers to let go, newest first, given every connected peer: none while at most
/// `kept` are connected; otherwise those older than [`TRIM_AFTER`] that are not needed
/// and not among the oldest members that give each of their documents `enough`
/// connected members, and only as many as are over `kept`.
pub(super) fn to_trim<P: Clone>(peers: &[Candidate<P>], now: Instant, kept: usize, enough: usize) -> Vec<P> {
    if peers.len() <= kept {
        return Vec::new();
    }
    let young = |c: &Candidate<P>| now.saturating_duration_since(c.since) < TRIM_AFTER;
    let mut members: HashMap<DocId, usize> = HashMap::new();
    for c in peers.iter().filter(|c| c.needed || young(c)) {
        for d in &c.docs {
            *members.entry(*d).or_default() += 1;
        }
    }
    let mut rest: Vec<&Candidate<P>> = peers.iter().filter(|c| !c.needed && !young(c)).collect();
    rest.sort_by_key(|c| c.since);
    let mut out = Vec::new();
    for c in rest {
        if c.docs.iter().any(|d| members.get(d).copied().unwrap_or(0) < enough) {
            for d in &c.docs {
                *members.entry(*d).or_default() += 1;
            }
        } else {
            out.push(c.peer.clone());
        }
    }
    out.reverse();
    out.truncate(peers.len() - kept);
    out
}

impl Engine {
    /// Lets go of the connections not needed (see the module's comment), at most every
    /// [`TRIM_EVERY`].
    pub(super) fn trim_connections(&mut self, now: Instant) {
        if self.offline
            || self.connected.len() <= CONNECTIONS_KEPT
            || self.trim.last.is_some_and(|t| now.saturating_duration_since(t) < TRIM_EVERY)
        {
            return;
        }
        self.trim.last = Some(now);
        let mesh: HashSet<PeerId> = self.swarm.behaviour().gossipsub.all_mesh_peers().copied().collect();
        let mut docs: HashMap<PeerId, Vec<DocId>> = HashMap::new();
        for (d, p) in self.sync.memberships() {
            docs.entry(*p).or_default().push(d);
        }
        let peers: Vec<Candidate<PeerId>> = self
            .connected
            .keys()
            .map(|p| Candidate {
                peer: *p,
                since: self.trim.since.get(p).copied().unwrap_or(now),
                docs: docs.remove(p).unwrap_or_default(),
                needed: mesh.contains(p) || self.relays.relays_with(p) || self.sync.is_asking(p),
            })
            .collect();
        let out = to_trim(&peers, now, CONNECTIONS_KEPT, ENOUGH_MEMBERS);
        if out.is_empty() {
            return;
        }
        debug!("letting go of {} of {} connected peers", out.len(), peers.len());
        self.trim.trimmed.retain(|_, t| now.saturating_duration_since(*t) < TRIMMED_MEMORY);
        for p in out {
            if self.trim.trimmed.len() < MAX_TRIMMED {
                self.trim.trimmed.insert(p, now);
            }
            self.swarm.disconnect_peer_id(p).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(n: u8) -> DocId {
        DocId([n; 16])
    }

    /// Peer `i` connected `age_s` seconds before `now`, holding `docs`.
    fn peer(i: u32, age_s: u64, docs: &[u8], needed: bool, now: Instant) -> Candidate<u32> {
        Candidate {
            peer: i,
            since: now - Duration::from_secs(age_s),
            docs: docs.iter().map(|d| doc(*d)).collect(),
            needed,
        }
    }

    fn check(peers: &[Candidate<u32>], now: Instant, kept: usize, enough: usize, expected: &[u32]) {
        assert_eq!(to_trim(peers, now, kept, enough), expected);
    }

    #[test]
    fn nothing_is_let_go_up_to_the_kept_count() {
        let now = Instant::now() + Duration::from_secs(3600);
        let peers: Vec<_> = (0..4).map(|i| peer(i, 600, &[1], false, now)).collect();
        check(&peers, now, 4, 1, &[]);
    }

    #[test]
    fn the_newest_unneeded_members_go_and_each_document_keeps_enough() {
        let now = Instant::now() + Duration::from_secs(3600);
        // Peers 0-9 hold document 1, connected longer ago the lower their number; 3 and
        // 7 are in a mesh. Document 1 needs 4 members: the two in the mesh and the two
        // oldest others (0 and 1) stay; of the rest, the newest go first, down to 5.
        let peers: Vec<_> =
            (0..10).map(|i| peer(i, 1000 - u64::from(i) * 10, &[1], i == 3 || i == 7, now)).collect();
        check(&peers, now, 5, 4, &[9, 8, 6, 5, 4]);
        check(&peers, now, 8, 4, &[9, 8]);
    }

    #[test]
    fn young_connections_and_members_a_document_needs_stay() {
        let now = Instant::now() + Duration::from_secs(3600);
        let peers = vec![
            // Connected just now: its hello and catch-up come first.
            peer(0, 5, &[1], false, now),
            // The only member of document 2.
            peer(1, 900, &[1, 2], false, now),
            peer(2, 800, &[1], false, now),
            peer(3, 700, &[1], false, now),
            // Holds nothing of this device's: proved no document.
            peer(4, 600, &[], false, now),
        ];
        check(&peers, now, 1, 2, &[4, 3, 2]);
    }
}
