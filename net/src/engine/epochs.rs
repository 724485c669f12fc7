//! Key epochs: "remove people" moves a document to a new key for the members it keeps
//! ([`crate::rekey`]), and members still in an earlier epoch are brought along when
//! they show up.
//!
//! A move changes every name derived from the key at once: the engine leaves the old
//! topic and DHT keys, forgets who proved membership (members prove it again in the
//! new epoch, with a hello), and keeps the old key only to recognise laggards' hellos,
//! which it answers with the key changes since their epoch instead of a welcome.

use super::Engine;
use super::handle::Event;
use crate::crypto::DocCipher;
use crate::error::NetError;
use crate::rekey::{Keep, KeyRing, NewKey, PastEpoch, Rekey};
use crate::ticket::Ticket;
use crate::wire;
use libp2p::gossipsub::IdentTopic;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, kad};
use std::collections::{BTreeMap, HashSet};
use tandem_storage::{DocId, DocKey};
use tracing::{debug, info, warn};

/// A member of a document as this device knows it: whom "remove people" can keep or
/// remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocMember {
    /// Its device.
    pub peer: PeerId,
    /// The name it goes by (its author name, or its presence's), if known.
    pub name: Option<String>,
    /// Whether it keeps the right to edit through a key change: it wrote itself into
    /// the document as an editor, or the last key change kept it as one.
    pub edit: bool,
    /// Whether it is connected and proved membership now.
    pub online: bool,
}

/// The device key (ed25519) behind a peer id, if it has one.
pub(crate) fn device_of(peer: &PeerId) -> Option<[u8; 32]> {
    let key = libp2p::identity::PublicKey::try_decode_protobuf(peer.as_ref().digest()).ok()?;
    Some(key.try_into_ed25519().ok()?.to_bytes())
}

/// The peer id of a device key.
fn peer_of(device: &[u8; 32]) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(device).ok()?;
    Some(PeerId::from_public_key(&key.into()))
}

impl Engine {
    /// A document's stored key ring; a damaged one is reported and read as empty (the
    /// document keeps its current key, and only laggards lose their way in).
    pub(super) async fn key_ring(&mut self, id: DocId) -> KeyRing {
        match self.store.key_ring(id).get().await.map(|b| KeyRing::decode(&b)) {
            Ok(Ok(ring)) => ring,
            Ok(Err(e)) => {
                warn!("the earlier keys of {id} cannot be read: {e}");
                KeyRing::default()
            }
            Err(e) => {
                warn!("the earlier keys of {id} cannot be read: {e}");
                KeyRing::default()
            }
        }
    }

    /// This device's ed25519 secret (its peer id's), which opens key changes for it.
    fn device_secret(&self) -> Option<[u8; 32]> {
        let key = self.key.clone().try_into_ed25519().ok()?;
        key.secret().as_ref().try_into().ok()
    }

    /// The members of a document this device knows of: the writers that recorded their
    /// device in it, the members the last key change kept, those connected now and
    /// those it synced with before (its stored addresses). Members an earlier key
    /// change removed are left out unless they proved membership again since.
    pub(super) async fn doc_members(&mut self, id: DocId) -> Result<Vec<DocMember>, NetError> {
        let stored = self.store.peer_addrs(id).get().await.unwrap_or_default();
        let d = self.open_doc(id)?;
        let me = *self.swarm.local_peer_id();
        let mut removed = HashSet::new();
        let mut kept = BTreeMap::new();
        for p in &d.ring.past {
            let Ok(r) = Rekey::decode(&p.left_by) else { continue };
            removed.extend(r.removed().iter().filter_map(peer_of));
            kept = r.kept().filter_map(|k| Some((peer_of(&k.device)?, k.edit))).collect();
        }
        let mut res: BTreeMap<PeerId, DocMember> = BTreeMap::new();
        let mut add = |peer: PeerId, edit: bool, name: Option<String>| {
            let m = res.entry(peer).or_insert(DocMember { peer, name: None, edit: false, online: false });
            m.edit |= edit;
            if m.name.is_none() {
                m.name = name;
            }
        };
        for (peer, edit) in &kept {
            add(*peer, *edit, None);
        }
        let authors = crate::authors::authors_of(&d.doc);
        for (author, peer) in crate::authors::devices_of(&d.doc) {
            let Ok(peer) = peer.parse::<PeerId>() else { continue };
            if removed.contains(&peer) && !kept.contains_key(&peer) {
                continue;
            }
            add(peer, true, authors.get(&author).map(|a| a.name.clone()));
        }
        for addr in stored {
            let Ok(addr) = addr.parse::<Multiaddr>() else { continue };
            let Some(Protocol::P2p(peer)) = addr.iter().last() else { continue };
            if removed.contains(&peer) && !kept.contains_key(&peer) {
                continue;
            }
            add(peer, false, None);
        }
        let online: Vec<PeerId> =
            self.sync.members(id).filter(|p| self.connected.contains_key(*p)).copied().collect();
        for peer in &online {
            add(*peer, false, self.sync.presence_of(id, peer).map(|p| p.name.clone()));
        }
        for peer in online {
            if let Some(m) = res.get_mut(&peer) {
                m.online = true;
            }
        }
        res.remove(&me);
        Ok(res.into_values().collect())
    }

    /// "Remove people": moves `id` to a new key for every member it knows of but
    /// `remove`, and tells the members connected now. Returns the new ticket (old
    /// tickets no longer let anyone in).
    pub(super) async fn remove_people(&mut self, id: DocId, remove: &[PeerId]) -> Result<Ticket, NetError> {
        let members = self.doc_members(id).await?;
        let d = self.open_doc(id)?;
        if !d.cipher.can_write() {
            return Err(NetError::ReadOnly(id));
        }
        let keep: Vec<Keep> = members
            .iter()
            .filter(|m| !remove.contains(&m.peer))
            .filter_map(|m| Some(Keep { device: device_of(&m.peer)?, edit: m.edit }))
            .collect();
        let removed: Vec<[u8; 32]> = remove.iter().filter_map(device_of).collect();
        let key = DocKey::random().map_err(|e| NetError::Transport(e.to_string()))?;
        let record = Rekey::make(&d.cipher, d.ring.epoch() + 1, &key, &keep, &removed)
            .ok_or(NetError::ReadOnly(id))?;
        // Everyone connected hears of it now, the removed too (they learn only that
        // they were removed); the others when they next show up.
        let told: Vec<PeerId> = self.sync.members(id).copied().collect();
        self.move_epoch(id, NewKey::Edit(key), record.encode()).await?;
        info!("{id} moved to a new key: {} members kept, {} removed", keep.len(), removed.len());
        let from = self.docs[&id].past.len() - 1;
        for peer in told {
            self.send_rekey(peer, id, from);
        }
        self.ticket(id)
    }

    /// Moves `id` to the next epoch under `new`, keeping the current key in its ring
    /// with `left_by` (the record of the move). Stored first, then every name changes.
    async fn move_epoch(&mut self, id: DocId, new: NewKey, left_by: Vec<u8>) -> Result<(), NetError> {
        let d = self.docs.get(&id).ok_or(NetError::UnknownDoc(id))?;
        let mut ring = d.ring.clone();
        ring.push(PastEpoch {
            epoch: ring.epoch(),
            secret: d.key.clone(),
            read_only: (!d.cipher.can_write()).then(|| d.cipher.write_public()),
            left_by,
        });
        let (key, read_only) = match new {
            NewKey::Edit(k) => (k, None),
            NewKey::Read(k, w) => (k, Some(w)),
        };
        self.adopt_key(id, key, read_only, ring).await
    }

    /// Makes `key` (a read secret with the write public key `read_only`, or the
    /// document key) the key of `id`, with `ring` its earlier keys: stored first, then
    /// every name derived from the key changes in place (an open window stays open, and
    /// learns whether it may edit now).
    pub(super) async fn adopt_key(
        &mut self,
        id: DocId,
        key: DocKey,
        read_only: Option<[u8; 32]>,
        ring: KeyRing,
    ) -> Result<(), NetError> {
        self.store.set_key(id, key.clone(), read_only, ring.encode()).get().await?;
        let (cipher, past) = ring.ciphers(id, &key, read_only);
        let new_topic = IdentTopic::new(cipher.topic());
        let d = self.docs.get_mut(&id).ok_or(NetError::UnknownDoc(id))?;
        let old = std::mem::replace(&mut d.cipher, cipher);
        d.key = key;
        d.ring = ring;
        d.past = past;
        d.topic = new_topic.hash();
        d.granted.clear();
        d.revoked = false;
        if let Some(v) = &d.view {
            v.set_read_only(read_only.is_some());
        }
        let gossip = &mut self.swarm.behaviour_mut().gossipsub;
        gossip.unsubscribe(&IdentTopic::new(old.topic()));
        gossip.subscribe(&new_topic).map_err(|e| NetError::Transport(e.to_string()))?;
        if let Err(e) = gossip.set_topic_params(new_topic, super::swarm::topic_score_params()) {
            debug!("cannot score the topic of {id}: {e}");
        }
        self.swarm.behaviour_mut().kad.stop_providing(&kad::RecordKey::new(&old.topic()));
        self.forget_public(id, &old);
        // Membership is proved again in the new epoch.
        self.sync.remove(id);
        self.sync.open(id);
        self.members.remove_doc(id);
        self.discovery.remove(id);
        self.quiet_beacons.retain(|(d, _), _| *d != id);
        self.members.hello_soon(id);
        self.discovery.look_soon(id);
        self.public.look_soon(id);
        self.discovery.last_pass = None;
        self.discover();
        self.events.send(Event::DocsChanged).ok();
        Ok(())
    }

    /// Sends `peer` (which proved membership in the epoch of `past[from]`) the key
    /// changes since, sealed in that epoch.
    pub(super) fn send_rekey(&mut self, peer: PeerId, id: DocId, from: usize) {
        let Some(d) = self.docs.get(&id) else { return };
        let Some(cipher) = d.past.get(from) else { return };
        let records: Vec<Vec<u8>> = d.ring.past[from..].iter().map(|p| p.left_by.clone()).collect();
        let (me, them) = (self.swarm.local_peer_id().to_bytes(), peer.to_bytes());
        let req = wire::rekey_request(cipher, &records, &me, &them);
        debug!("key changes of {id} to {peer}, from epoch {}", d.ring.past[from].epoch);
        self.swarm.behaviour_mut().sync.send_request(&peer, req);
    }

    /// For each document but those in `in_sync` (the peer proved its current epoch),
    /// the latest earlier epoch (index into `past`) whose hello tag from `them` over
    /// `nonce` is among `tags`: the peer is still in it, or followed another key change
    /// out of it.
    pub(super) fn laggard_epochs(
        &self,
        tags: &HashSet<wire::Tag>,
        them: &[u8],
        me: &[u8],
        nonce: &[u8],
        in_sync: &[DocId],
    ) -> Vec<(DocId, usize)> {
        let mut res = Vec::new();
        for (id, d) in self.docs.iter().filter(|(id, _)| !in_sync.contains(id)) {
            let hello = |c: &DocCipher| c.member_tag(crate::crypto::TagPurpose::Hello, them, me, nonce);
            if let Some(i) = d.past.iter().rposition(|c| tags.contains(&hello(c))) {
                res.push((*id, i));
            }
        }
        res
    }

    /// Key changes from `peer` for the document `tag` names, in this device's current
    /// epoch or an earlier one: the document moves along each one that keeps this
    /// device; one that does not means this device was removed. Where the peer followed
    /// another key change out of an epoch than this device did (two writers removed
    /// people at the same time), the change whose bytes sort first wins everywhere: this
    /// device moves to it if it sorts first, and a writer then removes again whom the
    /// losing change removed.
    pub(super) async fn on_rekey(&mut self, peer: PeerId, tag: &wire::Tag, sealed: &[u8]) {
        let allowed = !self.offline && self.allow_hello(&peer);
        if !allowed {
            return;
        }
        let (me, them) = (self.swarm.local_peer_id().to_bytes(), peer.to_bytes());
        let rekey_tag = |c: &DocCipher| c.member_tag(crate::crypto::TagPurpose::Rekey, &them, &me, &[]);
        // The document, and the epoch (index into `past`, or `past.len()` for the
        // current one) the peer sealed the changes in.
        let found = self.docs.iter().find_map(|(id, d)| {
            let at =
                std::iter::once(&d.cipher).chain(d.past.iter().rev()).position(|c| rekey_tag(c) == *tag)?;
            Some((*id, d.past.len() - at))
        });
        let Some((id, mut at)) = found else { return };
        let records = {
            let d = &self.docs[&id];
            let cipher = d.past.get(at).unwrap_or(&d.cipher);
            match wire::open_rekey(cipher, sealed, &them, &me) {
                Ok(r) => r,
                Err(e) => {
                    warn!("bad key changes from {peer} for {id}: {e}");
                    return;
                }
            }
        };
        let Some(secret) = self.device_secret() else { return };
        let mut remove_again: Vec<[u8; 32]> = Vec::new();
        for bytes in records {
            let Some(d) = self.docs.get_mut(&id) else { return };
            let record = match Rekey::decode(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    warn!("bad key change from {peer} for {id}: {e}");
                    return;
                }
            };
            let (cipher, epoch) = match d.past.get(at) {
                Some(c) => (c, d.ring.past[at].epoch),
                None => (&d.cipher, d.ring.epoch()),
            };
            if let Err(e) = record.check(cipher, epoch) {
                warn!("refused key change from {peer} for {id}: {e}");
                return;
            }
            // This device left that epoch already: by the same change, or another.
            let ours = d.ring.past.get(at).map(|p| p.left_by.clone());
            if let Some(ours) = &ours {
                if *ours == bytes {
                    at += 1;
                    continue;
                }
                if bytes > *ours {
                    debug!("{id}: {peer} followed another key change out of epoch {epoch}; ours stands");
                    return;
                }
            }
            match record.open(id, &secret) {
                Some(new) => {
                    info!("{id} moved to a new key (epoch {})", record.epoch);
                    let mut ring = d.ring.clone();
                    if let Some(ours) = ours {
                        // The other change wins: the epochs after `at` are dropped, and
                        // whom ours removed and theirs kept is removed again.
                        if let Ok(lost) = Rekey::decode(&ours) {
                            remove_again
                                .extend(lost.removed().iter().filter(|r| !record.removed().contains(r)));
                        }
                        ring.past.truncate(at);
                    }
                    ring.push(PastEpoch {
                        epoch,
                        secret: match d.past.get(at) {
                            Some(_) => d.ring.past[at].secret.clone(),
                            None => d.key.clone(),
                        },
                        read_only: match d.past.get(at) {
                            Some(_) => d.ring.past[at].read_only,
                            None => (!d.cipher.can_write()).then(|| d.cipher.write_public()),
                        },
                        left_by: bytes,
                    });
                    let (key, read_only) = match new {
                        NewKey::Edit(k) => (k, None),
                        NewKey::Read(k, w) => (k, Some(w)),
                    };
                    if let Err(e) = self.adopt_key(id, key, read_only, ring).await {
                        warn!("cannot move {id} to its new key: {e}");
                        return;
                    }
                    at += 1;
                }
                None => {
                    if !d.revoked {
                        info!(
                            "this device was removed from {id}: it keeps what it has, up to the key change"
                        );
                        d.revoked = true;
                        self.events.send(Event::DocsChanged).ok();
                    }
                    return;
                }
            }
        }
        let removed: Vec<PeerId> = remove_again.iter().filter_map(peer_of).collect();
        if !removed.is_empty() && self.docs.get(&id).is_some_and(|d| d.cipher.can_write()) {
            info!("{id}: removing again the {} people a concurrent key change kept", removed.len());
            if let Err(e) = self.remove_people(id, &removed).await {
                warn!("cannot remove people from {id} again: {e}");
            }
        }
    }
}
