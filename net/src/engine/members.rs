//! Membership: which connected peers proved they hold which documents' keys.
//!
//! On a peer's first connection each side sends a *hello*: one tag per document it
//! holds, each bound to both peers and the sender's fresh nonce
//! ([`crate::crypto::TagPurpose::Hello`]), padded with random tags. The receiver
//! recognises the tags of the documents it holds too, and answers with a welcome tag
//! over the same nonce for each. Both ends then know that the other holds those
//! documents, and nobody else learned anything: a peer without a document's key can
//! neither make its tags nor tell them from random ones. Joining a document while
//! connected sends a hello for it alone.
//!
//! Only members are asked for catch-up, answered, counted as a document's peers, or
//! allowed into its gossip mesh; a connected peer that proved nothing hears no gossip
//! and is not heard by gossipsub (`gate.rs`), and has a gossip score below the
//! publish threshold besides.
//!
//! A peer that proved some documents could still subscribe to the topic of another
//! (topic names are seen in subscriptions) and be grafted into its mesh, to watch the
//! timing of its sealed traffic. Once hellos were exchanged with it, a peer that stays
//! subscribed to a topic of a document it did not prove for [`SNOOP_GRACE`] is
//! disconnected and not let back for [`SNOOP_BAN`]: an honest peer subscribes only
//! to the documents it holds, and names them in a hello within a second.

use super::Engine;
use crate::wire::{self, Tag};
use libp2p::PeerId;
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use std::collections::HashMap;
use std::time::Instant;
use tandem_storage::DocId;
use tracing::{debug, warn};

/// Hellos a peer may send in a burst...
const HELLO_BURST: f64 = 16.0;
/// ...and then a second: each costs a hash per document this device holds. An honest
/// peer sends one when it connects and then at most one a second ([`HELLO_GAP`]).
const HELLO_RATE: f64 = 2.0;
/// Hellos for documents joined while connected go to each peer at most this often,
/// naming every document joined since.
const HELLO_GAP: std::time::Duration = std::time::Duration::from_secs(1);
/// A hello the peer refused (it was busy) is sent again, at most this many times.
const HELLO_TRIES: u8 = 5;

/// How long a peer that exchanged hellos may stay subscribed to the topic of a document
/// it did not prove (a document it joined proves itself well within this).
pub(super) const SNOOP_GRACE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a peer caught subscribed to a document it does not hold is kept out.
pub(super) const SNOOP_BAN: std::time::Duration = std::time::Duration::from_secs(600);

/// The gossip score (times the application weight) of a connected peer that proved no
/// document: below the publish threshold, so no message goes to it and it is never in
/// a mesh, but above the graylist, so its subscriptions are still heard and count once
/// it proves membership.
pub(super) const NON_MEMBER_SCORE: f64 = -6.0;

/// What this device knows of one connected peer's documents.
#[derive(Debug)]
pub(super) struct Membership {
    /// The tag the peer puts on catch-up requests for each document it proved.
    ask_tags: HashMap<Tag, DocId>,
    /// Hellos it may still send now, and when that was last counted.
    hello_budget: (f64, Instant),
    /// A hello was exchanged with it (its own answered, or this device's welcomed):
    /// what it did not prove then, it does not hold.
    exchanged: bool,
}

impl Membership {
    fn new(now: Instant) -> Membership {
        Membership { ask_tags: HashMap::new(), hello_budget: (HELLO_BURST, now), exchanged: false }
    }

    /// Counts a hello; false when the peer sends them faster than [`HELLO_RATE`].
    fn allow_hello(&mut self, now: Instant) -> bool {
        let (left, at) = &mut self.hello_budget;
        *left = (*left + now.saturating_duration_since(*at).as_secs_f64() * HELLO_RATE).min(HELLO_BURST);
        *at = now;
        if *left < 1.0 {
            return false;
        }
        *left -= 1.0;
        true
    }
}

/// A hello this device sent and awaits the answer to.
#[derive(Debug)]
pub(super) struct SentHello {
    peer: PeerId,
    nonce: [u8; 16],
    docs: Vec<DocId>,
    /// How many times these documents were named to the peer before.
    tries: u8,
}

/// Membership state of every connected peer, and the hellos in flight.
#[derive(Debug, Default)]
pub(super) struct Members {
    peers: HashMap<PeerId, Membership>,
    hellos: HashMap<OutboundRequestId, SentHello>,
    /// Documents to name in the next hello to each peer (joined since): sent together
    /// at the next tick, so joining many documents at once costs a few hellos.
    hello_due: HashMap<PeerId, (Vec<DocId>, u8)>,
    /// When the hellos that joins made due were last sent.
    last_flush: Option<Instant>,
    /// Peers subscribed to the topic of a document they did not prove, since when.
    snoops: HashMap<(PeerId, DocId), Instant>,
    /// Peers caught snooping, kept out until then.
    banned: HashMap<PeerId, Instant>,
}

impl Members {
    /// The document a catch-up request from `peer` with `tag` is about, if the peer
    /// proved it holds it.
    pub(super) fn doc_of_ask(&self, peer: &PeerId, tag: &Tag) -> Option<DocId> {
        self.peers.get(peer)?.ask_tags.get(tag).copied()
    }

    /// Forgets a peer whose last connection closed.
    pub(super) fn disconnected(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
        self.snoops.retain(|(p, _), _| p != peer);
        self.hellos.retain(|_, h| h.peer != *peer);
        self.hello_due.remove(peer);
    }

    /// Names `doc` in the next hello to every connected peer.
    pub(super) fn hello_soon(&mut self, doc: DocId) {
        for peer in self.peers.keys() {
            self.hello_due.entry(*peer).or_default().0.push(doc);
        }
    }

    /// Forgets a removed document.
    pub(super) fn remove_doc(&mut self, doc: DocId) {
        for m in self.peers.values_mut() {
            m.ask_tags.retain(|_, d| *d != doc);
        }
        self.snoops.retain(|(_, d), _| *d != doc);
    }

    /// Whether `peer` is kept out now (caught snooping).
    pub(super) fn is_banned(&mut self, peer: &PeerId, now: Instant) -> bool {
        self.banned.retain(|_, until| *until > now);
        self.banned.contains_key(peer)
    }
}

impl Engine {
    fn me(&self) -> Vec<u8> {
        self.swarm.local_peer_id().to_bytes()
    }

    /// A peer's first connection opened: it is not a member of anything yet; send it
    /// a hello for every document.
    pub(super) fn greet(&mut self, peer: PeerId) {
        if self.members.is_banned(&peer, Instant::now()) {
            debug!("closing the connection of {peer}: it was caught snooping");
            self.swarm.disconnect_peer_id(peer).ok();
            return;
        }
        self.members.peers.insert(peer, Membership::new(Instant::now()));
        self.swarm.behaviour_mut().gossipsub.set_application_score(&peer, NON_MEMBER_SCORE);
        let docs: Vec<DocId> = self.docs.keys().copied().collect();
        self.send_hello(peer, docs);
    }

    /// Sends the hellos that joins made due.
    pub(super) fn flush_hellos(&mut self) {
        let now = Instant::now();
        if self.members.hello_due.is_empty() || self.members.last_flush.is_some_and(|t| now - t < HELLO_GAP) {
            return;
        }
        self.members.last_flush = Some(now);
        for (peer, (docs, tries)) in std::mem::take(&mut self.members.hello_due) {
            self.send_hello_try(peer, docs, tries);
        }
    }

    /// Sends `peer` a hello for `docs` (none is sent for no document).
    pub(super) fn send_hello(&mut self, peer: PeerId, docs: Vec<DocId>) {
        self.send_hello_try(peer, docs, 0);
    }

    fn send_hello_try(&mut self, peer: PeerId, docs: Vec<DocId>, tries: u8) {
        if docs.is_empty() || self.offline {
            return;
        }
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).expect("the system random number generator works");
        let (me, them) = (self.me(), peer.to_bytes());
        let hello =
            |c: &crate::crypto::DocCipher| c.member_tag(crate::crypto::TagPurpose::Hello, &me, &them, &nonce);
        // A document whose key changed is named in its previous epoch too: a member
        // that followed another key change out of that epoch recognises it, and the
        // two changes are settled (`epochs.rs`). The documents named are those whose
        // tags fit in one hello; the others wait for a later one.
        let mut tags = Vec::new();
        let mut named = Vec::new();
        for id in docs {
            let Some(d) = self.docs.get(&id) else { continue };
            let n = 1 + usize::from(!d.past.is_empty());
            if tags.len() + n > wire::MAX_TAGS {
                break;
            }
            tags.push(hello(&d.cipher));
            tags.extend(d.past.last().map(hello));
            named.push(id);
        }
        let docs = named;
        let rid = self.swarm.behaviour_mut().sync.send_request(&peer, wire::hello_request(&nonce, tags));
        self.members.hellos.insert(rid, SentHello { peer, nonce, docs, tries });
    }

    /// A peer's hello: answer with a welcome tag for each document both hold, and
    /// count the peer a member of those.
    pub(super) fn on_hello(
        &mut self,
        peer: PeerId,
        nonce: [u8; 16],
        tags: Vec<Tag>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        let allowed = !self.offline && self.allow_hello(&peer);
        if !allowed {
            debug!("hello from {peer} not answered (offline, not connected, or over its rate)");
            self.swarm.behaviour_mut().sync.send_response(channel, wire::unknown_doc_response()).ok();
            return;
        }
        let tags: std::collections::HashSet<Tag> = tags.into_iter().collect();
        let (me, them) = (self.me(), peer.to_bytes());
        let mut both = Vec::new();
        let mut welcome = Vec::new();
        for (id, d) in &self.docs {
            if tags.contains(&d.cipher.member_tag(crate::crypto::TagPurpose::Hello, &them, &me, &nonce)) {
                both.push(*id);
                welcome.push(d.cipher.member_tag(crate::crypto::TagPurpose::Welcome, &me, &them, &nonce));
            }
        }
        self.swarm.behaviour_mut().sync.send_response(channel, wire::welcome_response(&welcome)).ok();
        if let Some(m) = self.members.peers.get_mut(&peer) {
            m.exchanged = true;
        }
        let both_docs = both.clone();
        for id in both {
            self.proved(peer, id);
        }
        // A peer still in an earlier epoch of a document gets the key changes since.
        for (id, from) in self.laggard_epochs(&tags, &them, &me, &nonce, &both_docs) {
            self.send_rekey(peer, id, from);
        }
    }

    /// Counts a hello (or key change) from `peer`; false when it is not connected or
    /// sends them faster than [`HELLO_RATE`].
    pub(super) fn allow_hello(&mut self, peer: &PeerId) -> bool {
        self.members.peers.get_mut(peer).is_some_and(|m| m.allow_hello(Instant::now()))
    }

    /// The answer to a hello this device sent, if `rid` was one; returns whether it was.
    pub(super) fn on_hello_answer(&mut self, rid: OutboundRequestId, response: &[u8]) -> bool {
        let Some(sent) = self.members.hellos.remove(&rid) else { return false };
        // Refused (the peer was busy or offline): named again in a later hello.
        if response == wire::unknown_doc_response().as_slice() {
            if sent.tries + 1 < HELLO_TRIES && self.members.peers.contains_key(&sent.peer) {
                let due = self.members.hello_due.entry(sent.peer).or_default();
                due.0.extend(sent.docs);
                due.1 = due.1.max(sent.tries + 1);
            }
            return true;
        }
        let welcome: std::collections::HashSet<Tag> = match wire::open_welcome(response) {
            Ok(tags) => tags.into_iter().collect(),
            Err(e) => {
                debug!("bad answer to a hello from {}: {e}", sent.peer);
                return true;
            }
        };
        if let Some(m) = self.members.peers.get_mut(&sent.peer) {
            m.exchanged = true;
        }
        let (me, them) = (self.me(), sent.peer.to_bytes());
        let tag = |c: &crate::crypto::DocCipher| {
            c.member_tag(crate::crypto::TagPurpose::Welcome, &them, &me, &sent.nonce)
        };
        for id in sent.docs {
            let Some(d) = self.docs.get(&id) else { continue };
            if welcome.contains(&tag(&d.cipher)) {
                self.proved(sent.peer, id);
            } else if let Some(i) = d.past.iter().rposition(|c| welcome.contains(&tag(c))) {
                // It welcomed this device's previous epoch: it has not heard of the
                // key change since.
                self.send_rekey(sent.peer, id, i);
            }
        }
        true
    }

    /// A hello this device sent was lost; returns whether `rid` was one.
    pub(super) fn on_hello_lost(&mut self, rid: OutboundRequestId) -> bool {
        self.members.hellos.remove(&rid).is_some()
    }

    /// `peer` proved it holds `id`: it may ask about it, is asked, and joins its mesh.
    fn proved(&mut self, peer: PeerId, id: DocId) {
        let Some(m) = self.members.peers.get_mut(&peer) else { return };
        let Some(d) = self.docs.get(&id) else { return };
        let tag = d.cipher.member_tag(
            crate::crypto::TagPurpose::Ask,
            &peer.to_bytes(),
            &self.swarm.local_peer_id().to_bytes(),
            &[],
        );
        m.ask_tags.insert(tag, id);
        let gossip = &mut self.swarm.behaviour_mut().gossipsub;
        gossip.admit(peer);
        gossip.set_application_score(&peer, 0.0);
        self.relays.members.insert(peer);
        self.relay_proved(peer);
        let out = self.sync.member(peer, id);
        self.carry_out(out);
    }

    /// A peer subscribed to a document's topic: unless it proved it holds the
    /// document, it is watched.
    pub(super) fn on_subscribed(&mut self, peer: PeerId, id: DocId) {
        if !self.sync.is_member(id, &peer) && self.members.peers.contains_key(&peer) {
            self.members.snoops.entry((peer, id)).or_insert_with(Instant::now);
        }
    }

    /// A peer left a document's topic.
    pub(super) fn on_unsubscribed(&mut self, peer: PeerId, id: DocId) {
        self.members.snoops.remove(&(peer, id));
    }

    /// Disconnects and keeps out the peers that stayed subscribed to a document they
    /// do not hold (see the module doc).
    pub(super) fn check_snoops(&mut self, now: Instant) {
        let mut caught = Vec::new();
        let sync = &self.sync;
        let peers = &self.members.peers;
        self.members.snoops.retain(|(peer, id), since| {
            if sync.is_member(*id, peer) {
                return false;
            }
            let exchanged = peers.get(peer).is_some_and(|m| m.exchanged);
            if exchanged && now.saturating_duration_since(*since) >= SNOOP_GRACE {
                caught.push((*peer, *id));
                return false;
            }
            true
        });
        for (peer, id) in caught {
            warn!(
                "{peer} stays subscribed to the topic of {id}, which it did not prove it holds: disconnected"
            );
            self.members.banned.insert(peer, now + SNOOP_BAN);
            self.swarm.disconnect_peer_id(peer).ok();
        }
    }
}
