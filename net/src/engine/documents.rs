//! The documents the engine syncs: opening one (subscribing to its topic, announcing it
//! in the DHT), creating, joining and removing, local edits (stored before published),
//! and what the handle asks about them (ticket, status, list, peers, presences).

use super::handle::{DocPeer, DocSummary, Event, PeerPresence, Status, TrashedDoc};
use super::{Engine, OpenDoc, now, relay};
use crate::crypto::DocCipher;
use crate::error::NetError;
use crate::ticket::Ticket;
use crate::wire::RunSeal;
use libp2p::gossipsub::IdentTopic;
use libp2p::kad;
use libp2p::multiaddr::Protocol;
use tandem_crdt::{Change, Doc, Value, encoding};
use tandem_storage::{Append, DocId, DocKey, SignedChange, StorageState};
use tracing::{debug, warn};

/// A document's title: the winning value of its map's `title` (empty if none).
pub fn title_of(doc: &Doc) -> String {
    match doc.map_get("title") {
        Some(Value::Str(s)) => s.clone(),
        _ => String::new(),
    }
}

/// How many chars of a document's first line make its name while it has no title.
pub const FIRST_LINE_CHARS: usize = 40;

/// How far into the text the first non-empty line is looked for.
const FIRST_LINE_SCAN: usize = 2000;

/// The name a document without a title goes by: the first non-empty line of its text,
/// trimmed and cut to [`FIRST_LINE_CHARS`] chars (ending in "…" when cut); empty when
/// the text is blank.
pub fn first_line_title(text: &str) -> String {
    let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return String::new();
    };
    if line.chars().count() <= FIRST_LINE_CHARS {
        return line.to_owned();
    }
    let cut: String = line.chars().take(FIRST_LINE_CHARS).collect();
    format!("{}…", cut.trim_end())
}

/// The name a document goes by: its title, or while its map holds none, its first line
/// (derived here, never written to the map); empty when both are.
pub fn name_of(doc: &Doc) -> String {
    let title = title_of(doc);
    if !title.is_empty() {
        return title;
    }
    first_line_title(&doc.slice(0, doc.len_chars().min(FIRST_LINE_SCAN)))
}

/// Every concurrent value of a document's title, sorted (more than one is a conflict).
pub fn titles_of(doc: &Doc) -> Vec<String> {
    let mut res: Vec<String> = doc
        .map_values("title")
        .into_iter()
        .filter_map(|v| match v {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    res.sort();
    res.dedup();
    res
}

impl Engine {
    /// Starts syncing a document: subscribes to its topic (the DHT is told of it at the
    /// next discovery pass, `discovery.rs`).
    pub(super) fn open(
        &mut self,
        id: DocId,
        key: DocKey,
        read_only: Option<[u8; 32]>,
        doc: Doc,
        ring: crate::rekey::KeyRing,
    ) -> Result<(), NetError> {
        let (cipher, past) = ring.ciphers(id, &key, read_only);
        let topic = IdentTopic::new(cipher.topic());
        self.swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| NetError::Transport(e.to_string()))?;
        // Scoring counts refused messages on the topic against their sender.
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .set_topic_params(topic.clone(), super::swarm::topic_score_params())
        {
            debug!("cannot score the topic of {id}: {e}");
        }
        self.docs.insert(
            id,
            OpenDoc {
                doc,
                key,
                cipher,
                ring,
                past,
                revoked: false,
                granted: Default::default(),
                topic: topic.hash(),
                unsaved: Vec::new(),
                equivocators: Default::default(),
                unpublished: Vec::new(),
                own_runs: std::collections::HashMap::new(),
                view: None,
                sync_bytes_in: 0,
                gossip_bytes_in: 0,
            },
        );
        self.sync.open(id);
        Ok(())
    }

    pub(super) fn ticket(&self, doc: DocId) -> Result<Ticket, NetError> {
        let d = self.docs.get(&doc).ok_or(NetError::UnknownDoc(doc))?;
        let mut addrs = self.listen_addrs();
        addrs.retain(|a| !a.iter().any(|p| matches!(p, Protocol::Ip4(ip) if ip.is_unspecified())));
        let addrs = relay::ticket_addrs(addrs);
        Ok(Ticket {
            doc,
            key: d.key.clone(),
            read_only: (!d.cipher.can_write()).then(|| d.cipher.write_public()),
            addrs,
        })
    }

    /// A ticket that lets its holder read and serve the document but not write it.
    pub(super) fn read_ticket(&self, doc: DocId) -> Result<Ticket, NetError> {
        let edit = self.ticket(doc)?;
        let d = self.docs.get(&doc).ok_or(NetError::UnknownDoc(doc))?;
        if edit.read_only.is_some() {
            return Ok(edit);
        }
        Ok(Ticket { key: DocCipher::read_secret(&d.key), read_only: Some(d.cipher.write_public()), ..edit })
    }

    /// An open document, or why there is none: unknown, or damaged on disk.
    pub(super) fn open_doc(&self, doc: DocId) -> Result<&OpenDoc, NetError> {
        match self.docs.get(&doc) {
            Some(d) => Ok(d),
            None => match self.damaged.get(&doc) {
                Some((_, error)) => Err(NetError::Damaged(doc, error.clone())),
                None => Err(NetError::UnknownDoc(doc)),
            },
        }
    }

    /// What of a replica's version is on disk: its changes that wait to be written
    /// are left out, so peers never hear of an edit this device could lose.
    pub(super) fn stored_version(&self, id: DocId, doc: &Doc) -> tandem_crdt::VectorClock {
        let state = self.storage.borrow();
        if state.waiting.is_empty() {
            return doc.version().clone();
        }
        state.stored_version(id, doc.version())
    }

    pub(super) fn status(&self, doc: DocId) -> Result<Status, NetError> {
        let d = self.open_doc(doc)?;
        let peers = self.sync.members(doc).filter(|p| self.connected.contains_key(p)).count();
        let state = self.storage.borrow().clone();
        Ok(Status {
            version: self.stored_version(doc, &d.doc),
            peers,
            pending: d.doc.pending_changes(),
            sync_bytes_in: d.sync_bytes_in,
            gossip_bytes_in: d.gossip_bytes_in,
            waiting: state.waiting_in(doc),
            store_error: state.error,
            snapshot_failures: state.snapshot_failures,
            snapshot_error: state.snapshot_error.filter(|e| e.0 == doc).map(|e| e.1),
            equivocators: d.equivocators.iter().copied().collect(),
            authors: crate::authors::authors_of(&d.doc),
            people: crate::authors::people_of(&d.doc),
            unconfirmed_links: crate::authors::devices_of(&d.doc)
                .keys()
                .map(|a| (*a, crate::authors::unconfirmed_links(&d.doc, *a)))
                .filter(|(_, l)| !l.is_empty())
                .collect(),
            epoch: d.ring.epoch(),
            removed: d.revoked,
        })
    }

    pub(super) async fn create(&mut self, title: &str) -> Result<(DocId, Ticket), NetError> {
        let info = self.store.create_doc(title).get().await?;
        let doc = self.store.load(info.id).get().await?;
        self.open(info.id, info.key, None, doc, Default::default())?;
        // Without a title the document goes by its first line until it is renamed.
        if !title.is_empty() {
            self.local_edit(info.id, |d| d.map_set("title", Value::Str(title.to_owned()))).await?;
        }
        self.events.send(Event::DocsChanged).ok();
        Ok((info.id, self.ticket(info.id)?))
    }

    pub(super) async fn join(&mut self, t: Ticket) -> Result<DocId, NetError> {
        // A document held read-only and joined with an edit ticket becomes editable,
        // when the ticket's key is the document's: it must give the read secret and
        // the write key held (anyone who knows the id could make up a key).
        let upgrade = t.read_only.is_none() && self.docs.get(&t.doc).is_some_and(|d| !d.cipher.can_write());
        if upgrade {
            let d = self.docs.get(&t.doc).ok_or(NetError::UnknownDoc(t.doc))?;
            if !crate::crypto::key_opens(&t.key, &d.key, d.cipher.write_public()) {
                return Err(NetError::WrongKey(t.doc));
            }
            let ring = d.ring.clone();
            self.adopt_key(t.doc, t.key.clone(), None, ring).await?;
        }
        if !self.docs.contains_key(&t.doc) {
            let info = self.store.add_doc_as(t.doc, t.key.clone(), t.read_only, "").get().await?;
            let doc = self.store.load(info.id).get().await?;
            let ring = self.key_ring(info.id).await;
            self.open(info.id, info.key, info.read_only, doc, ring)?;
            self.events.send(Event::DocsChanged).ok();
        }
        for addr in &t.addrs {
            self.store.add_peer_addr(t.doc, &addr.to_string()).get().await.ok();
            self.note_known(t.doc, addr.clone());
            if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            }
            if !self.offline {
                self.dial(addr.clone());
            }
        }
        // Peers already connected may have it too.
        self.members.hello_soon(t.doc);
        self.discovery.look_soon(t.doc);
        self.public.look_soon(t.doc);
        self.discovery.last_pass = None;
        self.discover();
        Ok(t.doc)
    }

    /// Forgets a document on this device for good: stops syncing it and removes it
    /// from disk (open, damaged or in the trash).
    pub(super) async fn remove(&mut self, id: DocId) -> Result<bool, NetError> {
        self.close(id);
        let removed = self.store.remove_doc(id).get().await?;
        self.events.send(Event::DocsChanged).ok();
        Ok(removed)
    }

    /// Moves a document to the trash: it stops syncing and is no longer listed, but its
    /// data stays on disk.
    pub(super) async fn trash(&mut self, id: DocId) -> Result<bool, NetError> {
        let moved = self.store.trash_doc(id).get().await?;
        if moved {
            self.close(id);
            self.events.send(Event::DocsChanged).ok();
        }
        Ok(moved)
    }

    /// Takes a document out of the trash and opens it again (a damaged one is listed
    /// as such).
    pub(super) async fn restore(&mut self, id: DocId) -> Result<bool, NetError> {
        if !self.store.restore_doc(id).get().await? {
            return Ok(false);
        }
        let Some(info) = self.store.doc(id).get().await? else { return Ok(false) };
        match self.store.load(id).get().await {
            Ok(doc) => {
                let ring = self.key_ring(id).await;
                self.open(id, info.key, info.read_only, doc, ring)?;
                self.members.hello_soon(id);
                self.discovery.look_soon(id);
                self.public.look_soon(id);
                self.discovery.last_pass = None;
                self.discover();
            }
            Err(e) => {
                warn!("cannot open document {id} ({:?}): {e}", info.title);
                self.damaged.insert(id, (info.title, e.to_string()));
            }
        }
        self.events.send(Event::DocsChanged).ok();
        Ok(true)
    }

    /// The documents in the trash.
    pub(super) async fn trashed(&mut self) -> Result<Vec<TrashedDoc>, NetError> {
        let list = self.store.trashed().get().await?;
        Ok(list
            .into_iter()
            .map(|(info, when)| TrashedDoc {
                id: info.id,
                name: info.title,
                len_chars: info.chars,
                trashed_ms: when,
            })
            .collect())
    }

    /// Stops syncing a document: leaves its topic and the DHT, forgets its members.
    fn close(&mut self, id: DocId) {
        self.damaged.remove(&id);
        let Some(d) = self.docs.remove(&id) else { return };
        let topic = IdentTopic::new(d.cipher.topic());
        self.swarm.behaviour_mut().gossipsub.unsubscribe(&topic);
        self.swarm.behaviour_mut().kad.stop_providing(&kad::RecordKey::new(&d.cipher.topic()));
        self.sync.remove(id);
        self.members.remove_doc(id);
        self.discovery.remove(id);
        self.forget_public(id, &d.cipher);
        self.quiet_beacons.retain(|(d, _), _| *d != id);
    }

    /// Applies a local edit, commits it, stores it durably, then publishes it.
    pub(super) async fn local_edit(
        &mut self,
        id: DocId,
        edit: impl FnOnce(&mut Doc) -> Result<(), tandem_crdt::Error>,
    ) -> Result<(), NetError> {
        self.local_edit_as(id, edit, Doc::commit).await?;
        self.record_device(id).await
    }

    /// Records the device this document's writer writes from in its map, with the
    /// person's other devices, once (no undo step): it is how a key change knows who
    /// may keep editing, and how one person's devices show as one author.
    pub(super) async fn record_device(&mut self, id: DocId) -> Result<(), NetError> {
        let me = self.swarm.local_peer_id().to_string();
        let Some(d) = self.docs.get(&id) else { return Ok(()) };
        let recorded = crate::authors::device_recorded(&d.doc, &me)
            && crate::authors::links_of(&d.doc, d.doc.replica()) == self.linked;
        if recorded || !d.cipher.can_write() {
            return Ok(());
        }
        let linked = self.linked.clone();
        let edit = |d: &mut Doc| {
            crate::authors::record_device(d, &me)?;
            crate::authors::record_links(d, &linked).map(|_| ())
        };
        self.local_edit_as(id, edit, Doc::commit_untracked).await
    }

    /// The device a code names ([`crate::EngineHandle::link_devices`]): a full peer id as
    /// it is, a short code matched against the devices this one knows of.
    fn resolve_device(&self, code: &str) -> Result<libp2p::PeerId, NetError> {
        let code = code.trim();
        if let Ok(peer) = code.parse::<libp2p::PeerId>() {
            return Ok(peer);
        }
        let wanted =
            crate::authors::normal_device_code(code).ok_or_else(|| NetError::BadDeviceCode(code.into()))?;
        let mut known: std::collections::BTreeSet<libp2p::PeerId> = self.connected.keys().copied().collect();
        for d in self.docs.values() {
            known.extend(
                crate::authors::devices_of(&d.doc).values().filter_map(|p| p.parse::<libp2p::PeerId>().ok()),
            );
        }
        known.remove(self.swarm.local_peer_id());
        let mut fits = known.into_iter().filter(|p| crate::authors::has_device_code(&p.to_string(), &wanted));
        match (fits.next(), fits.next()) {
            (Some(peer), None) => Ok(peer),
            (None, _) => Err(NetError::UnknownDevice(code.into())),
            (Some(_), Some(_)) => Err(NetError::AmbiguousDevice(code.into())),
        }
    }

    /// Links this device with the devices `codes` name ([`Engine::resolve_device`]), all or
    /// none of them, and returns them.
    pub(super) async fn link_devices(&mut self, codes: &[String]) -> Result<Vec<libp2p::PeerId>, NetError> {
        let peers = codes.iter().map(|c| self.resolve_device(c)).collect::<Result<Vec<_>, _>>()?;
        self.set_linked(&peers).await?;
        Ok(peers)
    }

    /// Sets this device's linked devices ([`crate::EngineHandle::set_linked`]) and writes them
    /// into every document it has written to.
    async fn set_linked(&mut self, peers: &[libp2p::PeerId]) -> Result<(), NetError> {
        let mut linked: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
        linked.sort();
        linked.dedup();
        self.linked = linked;
        let me = self.swarm.local_peer_id().to_string();
        let written: Vec<DocId> = self
            .docs
            .iter()
            .filter(|(_, d)| crate::authors::device_recorded(&d.doc, &me))
            .map(|(id, _)| *id)
            .collect();
        for id in written {
            self.record_device(id).await?;
        }
        Ok(())
    }

    /// Records this replica's name and colour in a document's map when it does not hold
    /// them yet (no undo step). A reader writes nothing: it is named by its presence only.
    pub(super) async fn record_author(&mut self, id: DocId, name: &str, colour: u32) -> Result<(), NetError> {
        if self.docs.get(&id).is_some_and(|d| !d.cipher.can_write()) {
            return Ok(());
        }
        let me = self.swarm.local_peer_id().to_string();
        let linked = self.linked.clone();
        let edit = |d: &mut Doc| {
            crate::authors::record_author(d, name, colour)?;
            crate::authors::record_device(d, &me)?;
            crate::authors::record_links(d, &linked).map(|_| ())
        };
        self.local_edit_as(id, edit, Doc::commit_untracked).await
    }

    async fn local_edit_as(
        &mut self,
        id: DocId,
        edit: impl FnOnce(&mut Doc) -> Result<(), tandem_crdt::Error>,
        commit: fn(&mut Doc) -> Option<Change>,
    ) -> Result<(), NetError> {
        let d = self.docs.get_mut(&id).ok_or(NetError::UnknownDoc(id))?;
        if !d.cipher.can_write() {
            return Err(NetError::ReadOnly(id));
        }
        edit(&mut d.doc)?;
        d.doc.set_wall_clock(crate::change_time());
        let Some(change) = commit(&mut d.doc) else { return Ok(()) };
        if let Some(v) = &d.view {
            v.send([change.clone()]);
        }
        self.persist_local(id, change).await
    }

    /// Signs and stores a change this device made (already in the engine's replica),
    /// then publishes it: stored before published. When the write fails (a full disk)
    /// the store keeps the change and retries; it is published once stored
    /// ([`Engine::on_storage_changed`]) and the error says it waits.
    pub(super) async fn persist_local(&mut self, id: DocId, change: Change) -> Result<(), NetError> {
        for part in change.wire_parts() {
            self.persist_part(id, part).await?;
        }
        Ok(())
    }

    /// [`Engine::persist_local`] of a change within the limits of one change.
    async fn persist_part(&mut self, id: DocId, change: Change) -> Result<(), NetError> {
        let d = self.docs.get_mut(&id).ok_or(NetError::UnknownDoc(id))?;
        if !d.cipher.can_write() {
            return Err(NetError::ReadOnly(id));
        }
        let bytes = encoding::encode_change(&change);
        // The engine's own edits and the window's are this device's two writers.
        let signer =
            self.store.identity().for_author(change.author).ok_or(NetError::NotOwnChange(change.author))?;
        let envelope = d.with_grant(signer.seal(&id, &bytes));
        let summary = Some((name_of(&d.doc), d.doc.len_chars() as u64));
        let signed = SignedChange { change: bytes, envelope: envelope.clone() };
        let stored = self
            .store
            .append(Append { doc: id, change: change.clone(), signature: envelope, summary })
            .get()
            .await;
        match stored {
            Ok(()) => {
                // The store writes in order: changes that waited before this one are
                // stored too, and go out first.
                self.publish_stored(id);
                self.events
                    .send(Event::Saved { doc: id, author: change.author, seq: change.end_seq() - 1 })
                    .ok();
                let run = self.docs.get_mut(&id).and_then(|d| {
                    let run = d.extend_run(&change)?;
                    let envelope = d.with_grant(signer.seal(&id, &encoding::encode_change(&run)));
                    Some(RunSeal { start_seq: run.start_seq, envelope })
                });
                self.publish_change(id, &change, &signed, run.as_ref());
                Ok(())
            }
            Err(e) => {
                // The store reported the failure through its state before answering;
                // the engine's loop turns that into an `Event::Storage`.
                if let (tandem_storage::Error::NotStored { .. }, Some(d)) = (&e, self.docs.get_mut(&id)) {
                    d.unpublished.push((change, signed));
                }
                Err(e.into())
            }
        }
    }

    /// Publishes the changes of `id` this device made that waited and are stored now.
    fn publish_stored(&mut self, id: DocId) {
        let state = self.storage.borrow().clone();
        let Some(d) = self.docs.get_mut(&id) else { return };
        let still = |c: &Change| state.waiting.iter().any(|w| (w.0, w.1, w.2) == (id, c.author, c.start_seq));
        let n = d.unpublished.iter().take_while(|(c, _)| !still(c)).count();
        let stored: Vec<_> = d.unpublished.drain(..n).collect();
        for (change, signed) in stored {
            self.events.send(Event::Saved { doc: id, author: change.author, seq: change.end_seq() - 1 }).ok();
            self.publish_change(id, &change, &signed, None);
        }
    }

    /// The store's waiting changes changed: publish what is now stored and report it.
    pub(super) fn on_storage_changed(&mut self) {
        let ids: Vec<DocId> =
            self.docs.iter().filter(|(_, d)| !d.unpublished.is_empty()).map(|(id, _)| *id).collect();
        for id in ids {
            self.publish_stored(id);
        }
        let state = self.storage.borrow_and_update().clone();
        let before = std::mem::replace(&mut self.last_storage, state.clone());
        self.forward_stored_received(&before, &state);
        if let Some((doc, e)) = &state.snapshot_error {
            warn!("snapshot of {doc} failed ({} failures so far; retried): {e}", state.snapshot_failures);
        }
        self.storage_event();
    }

    /// Received changes whose write failed were neither forwarded to the view nor
    /// announced; now that they are stored (they waited in `before`, not in `now`),
    /// they are, as if they had just arrived.
    fn forward_stored_received(&mut self, before: &StorageState, now: &StorageState) {
        let mut since: std::collections::BTreeMap<DocId, tandem_crdt::VectorClock> = Default::default();
        for w @ &(doc, author, start) in &before.waiting {
            let Some(d) = self.docs.get(&doc) else { continue };
            if now.waiting.contains(w) || author == d.doc.replica() {
                continue;
            }
            let clock = since.entry(doc).or_insert_with(|| d.doc.version().clone());
            if clock.get(author) >= start {
                clock.set(author, start - 1);
            }
        }
        for (doc, clock) in since {
            let Some(d) = self.docs.get(&doc) else { continue };
            let changes = d.doc.changes_since(&clock);
            if let Some(v) = &d.view {
                v.send(changes.iter().cloned());
            }
            for c in changes {
                self.events.send(Event::RemoteChange { doc, author: c.author, ops: c.n_seqs() }).ok();
            }
        }
    }

    /// Tells subscribers what waits to be stored.
    fn storage_event(&self) {
        let state = self.storage.borrow();
        let (waiting, error) = (state.waiting.len(), state.error.clone());
        if let Some(e) = &error {
            warn!("{waiting} changes wait to be stored: {e}");
        }
        let snapshot_failures = state.snapshot_failures;
        self.events.send(Event::Storage { waiting, error, snapshot_failures }).ok();
    }

    /// Every document on this device, by title.
    pub(super) fn summaries(&self) -> Vec<DocSummary> {
        let mut res: Vec<DocSummary> = self
            .docs
            .iter()
            .map(|(id, d)| DocSummary {
                id: *id,
                title: title_of(&d.doc),
                name: name_of(&d.doc),
                titles: titles_of(&d.doc),
                len_chars: d.doc.len_chars(),
                error: None,
            })
            .chain(self.damaged.iter().map(|(id, (title, error))| DocSummary {
                id: *id,
                title: title.clone(),
                name: title.clone(),
                titles: vec![title.clone()],
                len_chars: 0,
                error: Some(error.clone()),
            }))
            .collect();
        res.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.id.cmp(&b.id)));
        res
    }

    /// The connected peers that share a document.
    pub(super) fn doc_peers(&self, id: DocId) -> Result<Vec<DocPeer>, NetError> {
        let d = self.docs.get(&id).ok_or(NetError::UnknownDoc(id))?;
        let mut res: Vec<DocPeer> = self
            .sync
            .members(id)
            .filter_map(|p| {
                let info = self.connected.get(p)?;
                Some(DocPeer {
                    peer: *p,
                    kind: info.kind,
                    rtt: info.rtt,
                    name: self.sync.presence_of(id, p).map(|pr| (pr.name.clone(), pr.colour)),
                    sync: self.sync.peer_sync(id, p, d.doc.version()),
                })
            })
            .collect();
        res.sort_by_key(|p| p.peer);
        Ok(res)
    }

    /// Others' presences in a document, resolved against this replica.
    pub(super) fn presences(&self, doc: DocId) -> Result<Vec<PeerPresence>, NetError> {
        let d = self.docs.get(&doc).ok_or(NetError::UnknownDoc(doc))?;
        let mut res: Vec<PeerPresence> = self
            .sync
            .presences(doc, now())
            .map(|(peer, p)| PeerPresence {
                peer: *peer,
                name: p.name.clone(),
                colour: p.colour,
                cursor: d.doc.resolve(&p.cursor),
                selection: p.selection.as_ref().and_then(|a| d.doc.resolve(a)),
                cursor_anchor: p.cursor,
                selection_anchor: p.selection,
            })
            .collect();
        res.sort_by_key(|p| p.peer);
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::first_line_title;

    fn check(text: &str, expected: &str) {
        assert_eq!(first_line_title(text), expected, "{text:?}");
    }

    #[test]
    fn the_first_non_empty_line_trimmed_and_cut_is_the_name() {
        check("", "");
        check(" \n\t\n", "");
        check("Notes", "Notes");
        check("\n  \n  Groceries  \nmilk\n", "Groceries");
        check(&"é".repeat(40), &"é".repeat(40));
        check(&format!("{} tail", "a".repeat(38)), &format!("{} t…", "a".repeat(38)));
        check(&format!("{}   more", "a".repeat(39)), &format!("{}…", "a".repeat(39)));
    }
}
