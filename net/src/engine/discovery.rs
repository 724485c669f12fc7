//! Finding and connecting peers: dialling ticket, stored and bootstrap addresses,
//! peers that mDNS finds (see `lan.rs`) and providers the Kademlia DHT names. Also what
//! a new connection does (a hello, after which members catch up both ways; see
//! `members.rs`) and going offline.
//!
//! **The DHT is paced.** Each document's topic is announced once a DHT peer is
//! connected (a few documents a second), then Kademlia re-announces it hourly. A
//! document with no connected member is looked up a few seconds after it opens (at
//! once when it is joined), again after 30 s, and each lookup doubles the wait up to
//! half an hour; one with some members but fewer than [`ENOUGH_MEMBERS`] only every
//! half hour, so a device with 1,000 quiet documents asks little. Providers found are dialled only
//! while the document needs members. What other peers ask this one to store is
//! filtered: no records at all, provider records only for keys shaped like a topic
//! and up to a limit per peer and in total.

use super::Engine;
use super::handle::{Event, PeerInfo};
use super::swarm::with_peer;
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, kad};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tandem_storage::DocId;
use tracing::debug;

/// A document with this many connected members is not looked up in the DHT, and
/// providers found for it are not dialled.
pub(super) const ENOUGH_MEMBERS: usize = 8;
/// The first wait before a document is looked up again...
pub(super) const LOOKUP_FIRST: Duration = Duration::from_secs(30);
/// ...doubled after each lookup, up to this.
const LOOKUP_MAX: Duration = Duration::from_secs(30 * 60);
/// Announcements and lookups started per second, at most, each.
const DHT_PER_PASS: usize = 8;
/// A document opened at start is first looked up this late: the peers at stored
/// addresses are dialled and prove their documents first.
const LOOKUP_AFTER_OPEN: Duration = Duration::from_secs(5);
/// How long a provider record is kept by the peers that store it.
pub(super) const PROVIDER_TTL: Duration = Duration::from_secs(3 * 60 * 60);
/// Documents this peer announces, at most.
pub(super) const MAX_PROVIDED: usize = 1 << 16;
/// Provider records stored for one other peer, and for all, at most (per
/// [`PROVIDER_TTL`]).
const MAX_STORED_PER_PEER: usize = 4096;
const MAX_STORED: usize = 1 << 16;

/// What the DHT was told and asked.
#[derive(Debug, Default)]
pub(super) struct Discovery {
    /// Documents announced since a DHT peer was last connected.
    provided: HashSet<DocId>,
    /// When each document is looked up next, and the wait after that.
    lookups: HashMap<DocId, (Instant, Duration)>,
    /// When each document with no member connected dials its known addresses again,
    /// and the wait after that.
    redials: HashMap<DocId, (Instant, Duration)>,
    /// Addresses where each document's peers were found (the ticket's, and those of
    /// peers that served it), as the store keeps them.
    known: HashMap<DocId, Vec<Multiaddr>>,
    /// When the DHT work was last done (`None`: do it at the next chance).
    pub(super) last_pass: Option<Instant>,
    /// Provider records stored for other peers since `stored_since`, by peer.
    stored: HashMap<PeerId, usize>,
    stored_since: Option<Instant>,
}

impl Discovery {
    /// Looks a document up at the next pass, and soon after (it was just joined, or
    /// lost its members).
    pub(super) fn look_soon(&mut self, doc: DocId) {
        self.lookups.insert(doc, (Instant::now(), LOOKUP_FIRST));
    }

    /// Forgets a removed document.
    pub(super) fn remove(&mut self, doc: DocId) {
        self.provided.remove(&doc);
        self.lookups.remove(&doc);
    }
}

/// Whether a DHT key is shaped like a document's topic.
fn is_topic_key(key: &kad::RecordKey) -> bool {
    let k = key.as_ref();
    k.len() == 11 + 32 && k.starts_with(b"tandem/doc/") && k[11..].iter().all(u8::is_ascii_hexdigit)
}

/// The documents of `ids` due for a lookup now, at most `max`, given each one's
/// connected members: one with none, and (unless `alone`: only those with none) one
/// with fewer than [`ENOUGH_MEMBERS`] once its wait has grown to the longest. Each
/// one's next lookup is scheduled (the wait doubling up to [`LOOKUP_MAX`]), and so is
/// the next check of one with enough.
pub(super) fn due_lookups(
    lookups: &mut HashMap<DocId, (Instant, Duration)>,
    ids: &[DocId],
    now: Instant,
    max: usize,
    alone: bool,
    members: impl Fn(DocId) -> usize,
) -> Vec<DocId> {
    let mut due = Vec::new();
    for id in ids {
        if due.len() == max {
            break;
        }
        let (at, wait) = *lookups.entry(*id).or_insert((now + LOOKUP_AFTER_OPEN, LOOKUP_FIRST));
        if at > now {
            continue;
        }
        let n = members(*id);
        if n == 0 || (n < ENOUGH_MEMBERS && wait >= LOOKUP_MAX && !alone) {
            due.push(*id);
        }
        // Looked up or not, ask again later, less and less often.
        lookups.insert(*id, (now + wait, (wait * 2).min(LOOKUP_MAX)));
    }
    due
}

/// How many connected members each document has (a counter that borrows only these two
/// fields, so the lookup schedules beside them can change meanwhile).
pub(super) fn connected_members<'a>(
    sync: &'a crate::sync::State<PeerId>,
    connected: &'a HashMap<PeerId, PeerInfo>,
) -> impl Fn(DocId) -> usize + 'a {
    move |doc| sync.members(doc).filter(|p| connected.contains_key(p)).count()
}

impl Engine {
    /// A connection opened; `n` connections to the peer are open now.
    pub(super) fn on_connection(
        &mut self,
        peer: PeerId,
        conn: libp2p::swarm::ConnectionId,
        endpoint: &ConnectedPoint,
        n: u32,
    ) {
        if self.offline {
            self.swarm.disconnect_peer_id(peer).ok();
            return;
        }
        if let Some(ip) = super::swarm::public_ip(endpoint.get_remote_address()) {
            let from_ip = self.per_ip.entry(ip).or_default();
            if from_ip.len() >= super::swarm::MAX_PER_IP {
                debug!("closing a connection from {ip}: {} are open from it", from_ip.len());
                self.swarm.close_connection(conn);
                return;
            }
            from_ip.insert(conn);
        }
        self.note_connection(peer, endpoint);
        let addr = endpoint.get_remote_address().clone();
        if n == 1 {
            let info = PeerInfo { peer, addr, kind: self.connection_kind(peer, endpoint), rtt: None };
            self.connected.insert(peer, info.clone());
            self.trim.connected(peer, Instant::now());
            self.events.send(Event::PeerConnected(info)).ok();
            self.sync.peer_connected(peer);
            self.greet(peer);
        } else {
            self.on_extra_connection(peer, endpoint);
        }
    }

    /// This peer's listen addresses, each ending in its id.
    pub(super) fn listen_addrs(&self) -> Vec<Multiaddr> {
        let me = *self.swarm.local_peer_id();
        self.swarm.listeners().map(|a| with_peer(a, me)).collect()
    }

    /// Connected members of a document.
    pub(super) fn n_members(&self, doc: DocId) -> usize {
        connected_members(&self.sync, &self.connected)(doc)
    }

    /// The DHT work that is due, at most once a second: announce documents not yet
    /// announced to the current DHT peers, and look up documents that lack members.
    pub(super) fn discover(&mut self) {
        let now = Instant::now();
        if self.offline || self.discovery.last_pass.is_some_and(|t| now - t < Duration::from_secs(1)) {
            return;
        }
        self.discovery.last_pass = Some(now);
        self.public_pass(now);
        self.redial_alone(now);
        if self.connected.is_empty() {
            // Announced to nobody who stays: announce again once someone is here.
            self.discovery.provided.clear();
            return;
        }
        let unannounced: Vec<DocId> = self
            .docs
            .keys()
            .filter(|d| !self.discovery.provided.contains(d))
            .take(DHT_PER_PASS)
            .copied()
            .collect();
        for id in unannounced {
            self.discovery.provided.insert(id);
            let key = kad::RecordKey::new(&self.docs[&id].cipher.topic());
            self.dht_queries += 1;
            if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key) {
                debug!("cannot announce {id} in the DHT: {e}");
            }
        }
        let ids: Vec<DocId> = self.docs.keys().copied().collect();
        let members = connected_members(&self.sync, &self.connected);
        let due = due_lookups(&mut self.discovery.lookups, &ids, now, DHT_PER_PASS, false, members);
        for id in due {
            self.look_up(id);
        }
    }

    /// Dials again the known addresses of documents with no member connected, on the
    /// lookups' doubling schedule: a peer that was away (offline, or stopped and started
    /// on another port) when this one started or came online is found again without a
    /// DHT, which two peers alone on a LAN or loopback do not have.
    fn redial_alone(&mut self, now: Instant) {
        let ids: Vec<DocId> = self.docs.keys().copied().collect();
        let members = connected_members(&self.sync, &self.connected);
        let due = due_lookups(&mut self.discovery.redials, &ids, now, DHT_PER_PASS, true, members);
        for id in due {
            for addr in self.discovery.known.get(&id).cloned().unwrap_or_default() {
                if let Some(Protocol::P2p(peer)) = addr.iter().last()
                    && self.connected.contains_key(&peer)
                {
                    continue;
                }
                self.dial(addr);
            }
        }
    }

    /// Notes an address where a document's peers were found.
    pub(super) fn note_known(&mut self, id: DocId, addr: Multiaddr) {
        let known = self.discovery.known.entry(id).or_default();
        if !known.contains(&addr) {
            if known.len() >= tandem_storage::MAX_PEER_ADDRS {
                known.remove(0);
            }
            known.push(addr);
        }
    }

    /// Looks a document's providers up now.
    fn look_up(&mut self, id: DocId) {
        let Some(d) = self.docs.get(&id) else { return };
        let key = kad::RecordKey::new(&d.cipher.topic());
        self.dht_queries += 1;
        self.swarm.behaviour_mut().kad.get_providers(key);
    }

    /// Providers of a document's topic were found: dial those not connected while the
    /// document lacks members.
    pub(super) fn on_providers(&mut self, key: &kad::RecordKey, providers: impl IntoIterator<Item = PeerId>) {
        let Some(id) =
            self.docs.iter().find(|(_, d)| d.cipher.topic().as_bytes() == key.as_ref()).map(|(id, _)| *id)
        else {
            return;
        };
        let mut wanted = ENOUGH_MEMBERS.saturating_sub(self.n_members(id));
        for peer in providers {
            if wanted == 0 || self.offline {
                break;
            }
            if peer != *self.swarm.local_peer_id() && !self.connected.contains_key(&peer) {
                self.swarm.dial(peer).ok();
                wanted -= 1;
            }
        }
    }

    /// Another peer asks this one to store something in the DHT: provider records of
    /// topics, within limits; nothing else.
    pub(super) fn on_dht_store(&mut self, request: kad::InboundRequest) {
        let kad::InboundRequest::AddProvider { record: Some(record) } = request else { return };
        let now = Instant::now();
        let d = &mut self.discovery;
        if d.stored_since.is_none_or(|t| now - t > PROVIDER_TTL) {
            d.stored.clear();
            d.stored_since = Some(now);
        }
        let total: usize = d.stored.values().sum();
        let mine = d.stored.entry(record.provider).or_insert(0);
        if !is_topic_key(&record.key) || *mine >= MAX_STORED_PER_PEER || total >= MAX_STORED {
            debug!("not storing a provider record from {}", record.provider);
            return;
        }
        *mine += 1;
        if let Err(e) =
            kad::store::RecordStore::add_provider(self.swarm.behaviour_mut().kad.store_mut(), record)
        {
            debug!("provider record not stored: {e}");
        }
    }

    /// mDNS found peers on the LAN: dial those not connected, unless let go lately
    /// (`trim.rs`).
    pub(super) fn on_mdns(&mut self, found: Vec<(PeerId, Multiaddr)>) {
        let now = Instant::now();
        for (peer, addr) in found {
            self.lan.insert(peer);
            if !self.offline && !self.connected.contains_key(&peer) && !self.trim.was_trimmed(&peer, now) {
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
            self.discovery.last_pass = None;
            self.public.bootstrap_soon();
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
                for a in stored.iter().filter_map(|a| a.parse::<Multiaddr>().ok()) {
                    self.note_known(id, a.clone());
                    addrs.push(a);
                }
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
