//! The sync engine: one task owns the libp2p swarm, the open documents, the sync
//! protocol's state and the store handle; [`EngineHandle`] sends it commands with
//! one-shot replies and hands out a stream of [`Event`]s. Dropping the last handle (or
//! [`EngineHandle::shutdown`]) stops it.
//!
//! The protocol's decisions (when to ask a peer for catch-up, when to beacon, what a
//! lost request does, presence rate limits) live in [`crate::sync::State`]; the engine
//! feeds it what the swarm reports and carries out what it returns
//! ([`Engine::carry_out`]). The rest is split by concern: `handle` (the public API and
//! its types), `swarm` (building the swarm), `gossip` (live changes, beacons and
//! presence), `catchup` (requests, answers, receiving changes), `discovery` (dialling,
//! mDNS, the DHT) with `lan` and `relay`, `documents` (open, create, join, remove,
//! local edits) and `view` (a window's replica).

use crate::sync::{self, Out};
use crate::wire;
use futures::StreamExt;
use handle::Command;
use libp2p::gossipsub::{self, TopicHash};
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad, mdns};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use swarm::{Behaviour, BehaviourEvent};
use tandem_crdt::{Change, Doc};
use tandem_storage::{DocId, DocKey, StorageState, StoreHandle};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

mod catchup;
mod discovery;
mod documents;
mod epochs;
mod gate;
mod gossip;
mod handle;
mod lan;
mod members;
mod public;
mod relay;
mod swarm;
mod trim;
mod view;

pub use documents::{FIRST_LINE_CHARS, first_line_title, name_of, title_of, titles_of};
pub use epochs::DocMember;
pub use handle::{
    DocPeer, DocSummary, EngineHandle, Event, NetConfig, NetworkStatus, PeerInfo, PeerKind, PeerPresence,
    Reachability, Status, Traffic, TrashedDoc,
};
pub use public::PUBLIC_NETWORK_ENV;
pub use swarm::GOSSIP_PROTOCOL;
pub use view::{DocView, Waker};

/// How often time-driven work runs: presence (sent at most this often) and beacons.
const TICK: Duration = sync::PRESENCE_MIN_GAP;

/// The largest run of joined own changes sealed for gossip, in estimated bytes.
const RUN_BYTES: u64 = 2048;
/// The most seqs a received run seal may cover: regenerating the run costs work in
/// proportion, so a longer one is ignored (the change is stored on its own).
const RUN_MAX_SEQS: u64 = 4096;

/// A member in sync is beaconed once in this many rounds.
const QUIET_BEACON_EVERY: u8 = 10;

/// How long a received change may wait for its deps before it is dropped.
const PENDING_MAX_AGE_MS: u64 = 5 * 60 * 1000;

/// A document the engine syncs.
struct OpenDoc {
    doc: Doc,
    key: DocKey,
    cipher: crate::crypto::DocCipher,
    /// The document's earlier keys ([`crate::rekey`]), and their ciphers in the same
    /// order (to recognise members still in an earlier epoch).
    ring: crate::rekey::KeyRing,
    past: Vec<crate::crypto::DocCipher>,
    /// A key change that does not keep this device arrived: it was removed, and hears
    /// nothing new.
    revoked: bool,
    /// Device keys whose grant to write was checked, with that grant.
    granted: HashMap<[u8; 32], [u8; crate::crypto::GRANT]>,
    topic: TopicHash,
    /// Received changes not yet applied (waiting for deps), so not yet stored, with the
    /// time they arrived ([`Engine::clock_ms`]).
    unsaved: Vec<(Change, tandem_storage::SignedChange, u64)>,
    /// Authors caught signing two different versions of the same seqs.
    equivocators: std::collections::BTreeSet<tandem_crdt::ReplicaId>,
    /// This device's changes whose write failed (a full disk): the store keeps them
    /// and retries; they are published once stored, in this order.
    unpublished: Vec<(Change, tandem_storage::SignedChange)>,
    /// The latest run of each of this device's writers: its changes joined while each
    /// continued the previous one exactly (typing), up to [`RUN_BYTES`]. Gossip carries
    /// the author's seal over the run so receivers store it as one change.
    own_runs: HashMap<tandem_crdt::ReplicaId, Change>,
    /// The attached view, if a UI has the document open.
    view: Option<view::ViewSink>,
    /// Bytes of catch-up responses received.
    sync_bytes_in: u64,
    /// Bytes of gossip messages received from members.
    gossip_bytes_in: u64,
}

impl OpenDoc {
    /// `envelope` with its signer's grant after it when it has none and this device
    /// may grant. Each author's grant is signed once and then taken from `granted`, so
    /// sealing a keystroke or serving an old change costs no second signature.
    ///
    /// An envelope that carries a grant of an earlier key epoch gets this epoch's
    /// instead: a newcomer with the current ticket knows only the current write key.
    fn with_grant(&mut self, envelope: Vec<u8>) -> Vec<u8> {
        let seal = tandem_storage::SEAL_LEN;
        let granted = seal + crate::crypto::GRANT;
        if (envelope.len() != seal && envelope.len() != granted) || !self.cipher.can_write() {
            return envelope;
        }
        let Some(signer) = tandem_storage::seal_signer(&envelope) else { return envelope };
        let grant = match self.granted.get(&signer) {
            Some(g) => *g,
            None => match self.cipher.grant(&signer) {
                Some(g) => *self.granted.entry(signer).or_insert(g),
                None => return envelope,
            },
        };
        if envelope.len() == granted && envelope[seal..] == grant {
            return envelope;
        }
        [&envelope[..seal], &grant].concat()
    }

    /// Joins this device's stored change `change` to its writer's latest run when it
    /// continues it exactly and the run stays within [`RUN_BYTES`]; returns the run it
    /// extended, or `None` when `change` starts a new run.
    fn extend_run(&mut self, change: &Change) -> Option<Change> {
        if let Some(run) = self.own_runs.get_mut(&change.author)
            && run.estimated_bytes() + change.estimated_bytes() <= RUN_BYTES
            && run.n_seqs() + change.n_seqs() <= RUN_MAX_SEQS
            && run.absorb(change)
        {
            return Some(run.clone());
        }
        self.own_runs.insert(change.author, change.clone());
        None
    }

    /// Drops the signed copies kept for changes the causal buffer no longer holds
    /// (expired, or refused when their deps came). One pass over each.
    fn forget_unbuffered(&mut self) {
        let mut waiting: HashMap<tandem_crdt::ReplicaId, Vec<std::ops::Range<u64>>> = HashMap::new();
        for (author, seqs) in self.doc.pending_seqs() {
            waiting.entry(author).or_default().push(seqs);
        }
        // Each author's waiting seqs as sorted, disjoint ranges.
        for ranges in waiting.values_mut() {
            ranges.sort_by_key(|r| r.start);
            let mut merged: Vec<std::ops::Range<u64>> = Vec::with_capacity(ranges.len());
            for r in ranges.drain(..) {
                match merged.last_mut() {
                    Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                    _ => merged.push(r),
                }
            }
            *ranges = merged;
        }
        self.unsaved.retain(|(c, _, _)| {
            let Some(ranges) = waiting.get(&c.author) else { return false };
            let i = ranges.partition_point(|r| r.end <= c.start_seq);
            ranges.get(i).is_some_and(|r| r.start < c.end_seq())
        });
    }
}

struct Engine {
    swarm: Swarm<Behaviour>,
    /// The device key: it signs presence inside the seal (gossip carries no author).
    key: libp2p::identity::Keypair,
    /// The counter of the last presence sent: above every earlier one, across restarts
    /// too (it starts from the wall clock in microseconds), so receivers can drop
    /// replays.
    presence_counter: u64,
    store: StoreHandle,
    docs: HashMap<DocId, OpenDoc>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Event>,
    /// The sync protocol's decisions.
    sync: sync::State<PeerId>,
    /// Catch-up requests on the wire, to match their outcome with what was asked, and
    /// where the next page of the version starts when a request carried only part.
    requests: HashMap<OutboundRequestId, (sync::Request<PeerId>, Option<u64>)>,
    /// Catch-up requests waiting for one of the peer's streams (see `catchup.rs`).
    asks: catchup::Asks,
    /// Writes of received changes in progress.
    storing: catchup::Storing,
    /// Catch-up answers being read from the store.
    serving: catchup::Serving,
    /// Catch-up answers received, being taken in a slice at a time.
    intake: catchup::Intake,
    /// Beacon rounds skipped for each member in sync, by document.
    quiet_beacons: HashMap<(DocId, PeerId), u8>,
    /// When the engine started.
    started: std::time::Instant,
    connected: HashMap<PeerId, PeerInfo>,
    lan: HashSet<PeerId>,
    listen_count: usize,
    bootstrap: Vec<Multiaddr>,
    offline: bool,
    /// What the DHT was told and asked, and when to ask again (see `discovery.rs`).
    discovery: discovery::Discovery,
    /// What the public network was told and asked (see `public.rs`).
    public: public::Public,
    /// Connected peers that speak no Tandem sync (public DHT servers, relays of the
    /// public network): never greeted, nor counted among the peers.
    others: HashSet<PeerId>,
    /// Changes made in attached views.
    local: Option<mpsc::UnboundedReceiver<(DocId, Change)>>,
    /// Handed to views.
    local_tx: mpsc::UnboundedSender<(DocId, Change)>,
    /// Relay reservations (see `relay.rs`).
    relays: relay::Relays,
    /// Which connected peers proved which documents (see `members.rs`).
    members: members::Members,
    /// When peers connected, and which were let go (see `trim.rs`).
    trim: trim::Trim,
    /// libp2p's byte counters.
    metrics: libp2p::metrics::Registry,
    /// DHT queries started (announcements and lookups).
    dht_queries: u64,
    /// Open connections by public remote IP address.
    per_ip: HashMap<std::net::IpAddr, HashSet<libp2p::swarm::ConnectionId>>,
    /// What the store could not write yet.
    storage: watch::Receiver<StorageState>,
    /// The store's state as last seen, to tell which waiting changes got stored.
    last_storage: StorageState,
    /// Documents that cannot be read or loaded, with their title (if known) and what
    /// is wrong: listed with the error, never opened.
    damaged: std::collections::BTreeMap<DocId, (String, String)>,
    /// The other devices of this device's person (peer ids), as the user linked them:
    /// written into each document this device writes, beside its device entry.
    linked: Vec<String>,
}

/// The time the sync state machine is told.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl Engine {
    async fn new(
        store: StoreHandle,
        config: NetConfig,
        commands: mpsc::Receiver<Command>,
        events: broadcast::Sender<Event>,
        local_tx: mpsc::UnboundedSender<(DocId, Change)>,
    ) -> Result<Engine, crate::NetError> {
        let mut metrics = libp2p::metrics::Registry::default();
        let key = swarm::device_keypair(&store)?;
        let relay_members = relay::RelayMembers::default();
        let mut swarm = swarm::build_swarm(key.clone(), &config, relay_members.clone(), &mut metrics)?;
        // Circuit addresses are listened on by `reserve_configured` below.
        for addr in config.listen.iter().filter(|a| !relay::is_circuit(a)) {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| crate::NetError::Transport(format!("cannot listen on {addr}: {e}")))?;
        }
        let relays = relay::Relays::new(&config, relay_members);
        if config.public && !public::allowed() {
            info!("the public network is off ({}=off)", public::PUBLIC_NETWORK_ENV);
        }
        let storage = store.state();
        let mut engine = Engine {
            swarm,
            key,
            presence_counter: 0,
            store,
            docs: HashMap::new(),
            commands,
            events,
            sync: sync::State::new(sync::Config::default(), now()),
            requests: HashMap::new(),
            asks: Default::default(),
            storing: Default::default(),
            serving: Default::default(),
            intake: Default::default(),
            quiet_beacons: HashMap::new(),
            started: std::time::Instant::now(),
            connected: HashMap::new(),
            lan: HashSet::new(),
            listen_count: config.listen.len(),
            bootstrap: config.bootstrap,
            offline: false,
            discovery: Default::default(),
            public: public::Public::new(config.public && public::allowed(), &config.public_bootstrap),
            others: HashSet::new(),
            local: None,
            local_tx,
            relays,
            members: Default::default(),
            trim: Default::default(),
            metrics,
            dht_queries: 0,
            per_ip: HashMap::new(),
            storage,
            last_storage: StorageState::default(),
            damaged: Default::default(),
            linked: Vec::new(),
        };
        // Every stored document is open and synced; one that cannot be read is set
        // aside with its error and the others open.
        let (infos, damaged) = engine.store.docs_and_damaged().get().await?;
        for d in damaged {
            warn!("{}", d.error);
            engine.damaged.insert(d.id, (String::new(), d.error));
        }
        for info in infos {
            match engine.store.load(info.id).get().await {
                Ok(doc) => {
                    let ring = engine.key_ring(info.id).await;
                    engine.open(info.id, info.key, info.read_only, doc, ring)?
                }
                Err(e) => {
                    warn!("cannot open document {} ({:?}): {e}", info.id, info.title);
                    engine.damaged.insert(info.id, (info.title, e.to_string()));
                }
            }
        }
        engine.reserve_configured();
        Ok(engine)
    }

    /// Drives the swarm until every listener has an address (or a few seconds passed).
    async fn wait_listening(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.swarm.listeners().count() < self.listen_count {
            match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await {
                Ok(ev) => self.on_swarm(ev).await,
                Err(_) => break,
            }
        }
        self.dial_known().await;
    }

    async fn run(mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                // A window's edits go first: a command after them sees them applied.
                biased;
                Some((doc, change)) = view::next_local(&mut self.local) => {
                    self.on_view_change(doc, change).await;
                }
                cmd = self.commands.recv() => match cmd {
                    None => break,
                    Some(Command::Shutdown(done)) => {
                        // Edits a window made before it asked to stop are stored first.
                        while let Some((doc, change)) = self.local.as_mut().and_then(|rx| rx.try_recv().ok()) {
                            self.on_view_change(doc, change).await;
                        }
                        // The data dir is free for the next process when the caller hears back.
                        let lost = self.store.close().get().await.unwrap_or(0);
                        done.send(lost).ok();
                        break;
                    }
                    Some(c) => self.on_command(c).await,
                },
                () = std::future::ready(()), if self.intake.is_due(std::time::Instant::now()) => self.take_in().await,
                Ok(()) = self.storage.changed() => self.on_storage_changed(),
                Some(stored) = self.storing.next() => self.on_stored(stored),
                Some(served) = self.serving.next() => self.on_served(served).await,
                ev = self.swarm.select_next_some() => self.on_swarm(ev).await,
                _ = tick.tick() => self.on_tick(),
                // A long catch-up answer is taken in a slice at a time: between other
                // work, and when it is due (above) even while other work keeps coming.
                () = std::future::ready(()), if self.intake.is_waiting() => self.take_in().await,
            }
        }
        info!("engine stopped");
    }

    /// Milliseconds since the engine started: the clock the causal buffer is given.
    fn clock_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Time passed: the sync state beacons (anti-entropy), sends presence and forgets
    /// quiet presences; the DHT is told and asked what is due; changes that waited too
    /// long for their deps are dropped (catch-up brings them again with their deps).
    fn on_tick(&mut self) {
        let now_ms = self.clock_ms();
        for d in self.docs.values_mut() {
            if d.unsaved.is_empty() {
                continue;
            }
            let dropped = d.doc.expire_pending(now_ms, PENDING_MAX_AGE_MS);
            if dropped > 0 {
                d.forget_unbuffered();
                debug!("dropped {dropped} changes that waited too long for their deps");
            }
        }
        let out = self.sync.tick(now());
        self.carry_out(out);
        self.flush_hellos();
        self.check_snoops(std::time::Instant::now());
        self.discover();
        self.trim_connections(std::time::Instant::now());
    }

    /// Does what the sync state machine asks.
    fn carry_out(&mut self, out: Vec<Out<PeerId>>) {
        for o in out {
            match o {
                Out::Request(req) => self.send_ask(req),
                Out::Beacon(doc, peer) => {
                    let Some(d) = self.docs.get(&doc) else { continue };
                    // A member known to hold exactly this replica's version hears only
                    // every few rounds: a device with many quiet documents stays quiet.
                    if self.sync.peer_sync(doc, &peer, d.doc.version()) == sync::PeerSync::InSync {
                        let skipped = self.quiet_beacons.entry((doc, peer)).or_insert(0);
                        *skipped += 1;
                        if *skipped < QUIET_BEACON_EVERY {
                            continue;
                        }
                    }
                    self.quiet_beacons.remove(&(doc, peer));
                    let me = self.swarm.local_peer_id().to_bytes();
                    let version = self.stored_version(doc, &d.doc);
                    let msg = wire::beacon_request(&d.cipher, &version, &me, &peer.to_bytes());
                    // Its answer says nothing; a lost beacon is made up by the next round.
                    self.swarm.behaviour_mut().sync.send_request(&peer, msg);
                }
                Out::Presence(doc, p) => {
                    let Some(d) = self.docs.get(&doc) else { continue };
                    let wall = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |t| t.as_micros() as u64);
                    self.presence_counter = (self.presence_counter + 1).max(wall);
                    let msg = wire::presence_message(&d.cipher, &self.key, self.presence_counter, &p);
                    let topic = d.topic.clone();
                    self.swarm.behaviour_mut().gossipsub.publish(topic, msg).ok();
                }
            }
        }
    }

    async fn on_command(&mut self, c: Command) {
        match c {
            Command::Info(r) => {
                let addrs = self.listen_addrs();
                r.send(Ok((*self.swarm.local_peer_id(), addrs))).ok();
            }
            Command::Create(title, r) => {
                r.send(self.create(&title).await).ok();
            }
            Command::Join(t, r) => {
                r.send(self.join(t).await).ok();
            }
            Command::Ticket(doc, r) => {
                r.send(self.ticket(doc)).ok();
            }
            Command::ReadTicket(doc, r) => {
                r.send(self.read_ticket(doc)).ok();
            }
            Command::LinkDevices(codes, r) => {
                r.send(self.link_devices(&codes).await).ok();
            }
            Command::Members(doc, r) => {
                r.send(self.doc_members(doc).await).ok();
            }
            Command::RemovePeople(doc, remove, r) => {
                r.send(self.remove_people(doc, &remove).await).ok();
            }
            Command::Seal(doc, plain, r) => {
                r.send(self.open_doc(doc).map(|d| d.cipher.seal(b"probe", &plain))).ok();
            }
            Command::Unseal(doc, sealed, r) => {
                let res = self.open_doc(doc).and_then(|d| {
                    d.cipher.open(b"probe", &sealed).map_err(|_| crate::NetError::Unreadable(doc))
                });
                r.send(res).ok();
            }
            Command::Insert(doc, pos, text, r) => {
                r.send(self.local_edit(doc, |d| d.insert(pos, &text)).await).ok();
            }
            Command::Delete(doc, pos, len, r) => {
                r.send(self.local_edit(doc, |d| d.delete(pos, len)).await).ok();
            }
            Command::Text(doc, r) => {
                r.send(self.open_doc(doc).map(|d| d.doc.text())).ok();
            }
            Command::Status(doc, r) => {
                r.send(self.status(doc)).ok();
            }
            Command::Peers(r) => {
                r.send(Ok(self.connected.values().cloned().collect())).ok();
            }
            Command::Traffic(r) => {
                let (bytes_in, bytes_out) = swarm::traffic(&self.metrics);
                let connections = self.swarm.network_info().connection_counters().num_established() as usize;
                r.send(Ok(handle::Traffic {
                    bytes_in,
                    bytes_out,
                    dht_queries: self.dht_queries,
                    connections,
                }))
                .ok();
            }
            Command::Network(r) => {
                r.send(Ok(self.network_status())).ok();
            }
            Command::Offline(on, r) => {
                self.set_offline(on).await;
                r.send(Ok(())).ok();
            }
            Command::SetPresence(doc, name, colour, cursor, selection, r) => {
                let res = match self.docs.get(&doc) {
                    None => Err(crate::NetError::UnknownDoc(doc)),
                    Some(d) => {
                        let p = wire::Presence {
                            name: name.clone(),
                            colour: colour & 0xff_ffff,
                            cursor: d.doc.anchor(cursor, tandem_crdt::Bias::After),
                            selection: selection.map(|s| d.doc.anchor(s, tandem_crdt::Bias::After)),
                        };
                        let out = self.sync.set_presence(doc, p, now());
                        self.carry_out(out);
                        Ok(())
                    }
                };
                // The name goes into the document too, for who wrote what.
                let res = match res {
                    Ok(()) => self.record_author(doc, &name, colour).await,
                    e => e,
                };
                r.send(res).ok();
            }
            Command::Presences(doc, r) => {
                r.send(self.presences(doc)).ok();
            }
            Command::Attach(doc, wake, r) => {
                r.send(self.attach(doc, wake).await).ok();
            }
            Command::Remove(doc, r) => {
                r.send(self.remove(doc).await).ok();
            }
            Command::Trash(doc, r) => {
                r.send(self.trash(doc).await).ok();
            }
            Command::Restore(doc, r) => {
                r.send(self.restore(doc).await).ok();
            }
            Command::Trashed(r) => {
                r.send(self.trashed().await).ok();
            }
            Command::Docs(r) => {
                r.send(Ok(self.summaries())).ok();
            }
            Command::DocPeers(doc, r) => {
                r.send(self.doc_peers(doc)).ok();
            }
            Command::PresenceAt(doc, p) => {
                let out = self.sync.set_presence(doc, p, now());
                self.carry_out(out);
            }
            Command::SaveUndo(doc, state) => {
                if self.docs.contains_key(&doc) {
                    self.store.save_undo_state(doc, state).get().await.ok();
                }
            }
            Command::Shutdown(_) => unreachable!("handled in run"),
        }
    }

    /// A peer is no longer one of this device's peers: its last connection closed, or
    /// it turned out to speak no Tandem sync.
    fn peer_gone(&mut self, peer: PeerId) {
        if self.connected.remove(&peer).is_none() {
            return;
        }
        self.sync.peer_disconnected(&peer);
        self.members.disconnected(&peer);
        self.trim.gone(&peer);
        self.relays.members.remove(&peer);
        self.asks.disconnected(&peer);
        self.quiet_beacons.retain(|(_, p), _| *p != peer);
        self.events.send(Event::PeerDisconnected(peer)).ok();
    }

    /// Identify told what a peer speaks: a peer of the private DHT goes into its
    /// routing table, one that speaks no Tandem sync (a public DHT server or relay) is
    /// not counted as a peer, and a relay may be reserved on (`relay.rs`).
    fn on_identify(&mut self, peer: PeerId, info: &identify::Info) {
        if info.protocols.contains(&swarm::PRIVATE_DHT) {
            let kad = &mut self.swarm.behaviour_mut().kad;
            for addr in &info.listen_addrs {
                kad.add_address(&peer, addr.clone());
            }
            if let Some(addr) = self.relays.dialled.get(&peer) {
                self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            }
        }
        if !info.protocols.contains(&crate::codec::SYNC_PROTOCOL) && self.others.insert(peer) {
            debug!("{peer} speaks no Tandem sync ({}): not one of this device's peers", info.agent_version);
            self.peer_gone(peer);
        }
        self.reach_directly(peer, info);
        self.on_identified(peer, info);
    }

    async fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        if let SwarmEvent::ConnectionClosed { connection_id, endpoint, .. } = &ev
            && let Some(ip) = swarm::public_ip(endpoint.get_remote_address())
            && let Some(open) = self.per_ip.get_mut(&ip)
        {
            open.remove(connection_id);
            if open.is_empty() {
                self.per_ip.remove(&ip);
            }
        }
        if let SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } = &ev {
            self.others.remove(peer_id);
        }
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!("listening on {address}");
                self.on_new_listen_addr(&address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, connection_id, endpoint, num_established, ..
            } => {
                self.on_connection(peer_id, connection_id, &endpoint, num_established.get());
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                self.relay_gone(&peer_id);
                self.peer_gone(peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed {
                peer_id,
                topic,
            })) => {
                if let Some(id) = self.doc_of_topic(&topic) {
                    self.on_subscribed(peer_id, id);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Unsubscribed {
                peer_id,
                topic,
            })) => {
                if let Some(id) = self.doc_of_topic(&topic) {
                    self.on_unsubscribed(peer_id, id);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, message).await,
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                peer,
                message,
                ..
            })) => match message {
                request_response::Message::Request { request, channel, .. } => {
                    self.on_sync_request(peer, request, channel).await
                }
                request_response::Message::Response { request_id, response } => {
                    self.on_sync_response(request_id, response).await
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            })) => self.on_sync_failure(request_id, peer, &error),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                self.on_mdns(found)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                for (peer, _) in gone {
                    self.lan.remove(&peer);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                self.on_identify(peer_id, &info);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result:
                    kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders { key, providers })),
                ..
            })) => self.on_providers(&key, providers),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::InboundRequest { request })) => {
                self.on_dht_store(request)
            }
            SwarmEvent::ListenerClosed { listener_id, .. } => self.on_listener_closed(listener_id),
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(ev)) => self.on_relay_client(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Relay(ev)) => self.on_relay_server(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(ev)) => self.on_dcutr(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(ev)) => self.on_autonat(ev),
            SwarmEvent::Behaviour(BehaviourEvent::PublicKad(ev)) => self.on_public_kad(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(libp2p::ping::Event {
                peer,
                result: Ok(rtt),
                ..
            })) => {
                if let Some(info) = self.connected.get_mut(&peer) {
                    info.rtt = Some(rtt);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Upnp(ev)) => self.on_upnp(ev),
            SwarmEvent::ExternalAddrConfirmed { address } => {
                info!("reachable at {address}");
                self.on_external_addrs_changed();
            }
            SwarmEvent::ExternalAddrExpired { address } => {
                debug!("no longer reachable at {address}");
                self.on_external_addrs_changed();
            }
            _ => {}
        }
    }
}
