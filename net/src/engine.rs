//! The sync engine: one task owns the libp2p swarm, the open documents and the store
//! handle; [`EngineHandle`] sends it commands with one-shot replies and hands out a
//! stream of [`Event`]s. Dropping the last handle (or [`EngineHandle::shutdown`]) stops it.

use crate::codec::{BytesCodec, MAX_RESPONSE, SYNC_PROTOCOL};
use crate::crypto::DocCipher;
use crate::error::NetError;
use crate::ticket::Ticket;
use crate::wire::{self, Gossip};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, autonat, dcutr, identify, identity, kad, mdns, noise, ping,
    relay as p2p_relay, tcp, yamux,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tandem_crdt::{Change, Doc, ReplicaId, Value, VectorClock, encoding};
use tandem_storage::{Append, DocId, DocKey, SignedChange, StoreHandle};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{Instrument, debug, info, warn};

mod view;
pub use view::{DocPeer, DocSummary, DocView, PeerSync, Waker, titles_of};
mod catchup;
mod lan;
mod relay;

/// Commands that may queue before callers wait.
pub const COMMAND_CAPACITY: usize = 256;
/// Events kept for a slow subscriber before the oldest are dropped.
pub const EVENT_CAPACITY: usize = 4096;
/// Changes larger than this are not gossiped; catch-up delivers them.
pub const MAX_GOSSIP: usize = 64 * 1024;
/// How often each document's version is beaconed (anti-entropy).
pub const BEACON_INTERVAL: Duration = Duration::from_secs(30);
/// How long a quiet connection stays open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// A peer's presence is forgotten after this long without an update.
pub const PRESENCE_TTL: Duration = Duration::from_secs(30);
/// Own presence is sent at most this often...
const PRESENCE_MIN_GAP: Duration = Duration::from_millis(100);
/// ...and re-sent this often while unchanged, so peers do not expire it.
const PRESENCE_KEEPALIVE: Duration = Duration::from_secs(10);
/// Bytes of changes per catch-up response (under [`MAX_RESPONSE`]).
const SYNC_CHUNK: usize = MAX_RESPONSE / 4;

/// How the engine runs.
#[derive(Debug, Clone, Default)]
pub struct NetConfig {
    /// Addresses to listen on (e.g. `/ip4/127.0.0.1/tcp/0`).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Also serve as a relay for peers that cannot reach each other directly.
    pub relay: bool,
}

/// How a peer is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// Found on the local network.
    Lan,
    /// A direct connection.
    Direct,
    /// Through a relay.
    Relayed,
}

impl PeerKind {
    /// `lan`, `direct` or `relayed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PeerKind::Lan => "lan",
            PeerKind::Direct => "direct",
            PeerKind::Relayed => "relayed",
        }
    }
}

/// A connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its id.
    pub peer: PeerId,
    /// The address of the connection.
    pub addr: Multiaddr,
    /// How it is connected.
    pub kind: PeerKind,
}

/// A document's sync state.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// What this replica holds.
    pub version: VectorClock,
    /// Connected peers that share the document.
    pub peers: usize,
    /// Changes waiting for missing deps.
    pub pending: usize,
    /// Bytes of catch-up responses received for this document since start.
    pub sync_bytes_in: u64,
}

/// A peer's presence in a document, resolved against this replica's text.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerPresence {
    /// The peer.
    pub peer: PeerId,
    /// Its display name.
    pub name: String,
    /// Its colour, 0xRRGGBB.
    pub colour: u32,
    /// Its cursor as a char position here (`None` if it points at text not yet here).
    pub cursor: Option<usize>,
    /// The other end of its selection.
    pub selection: Option<usize>,
    /// The cursor as an anchor, to resolve against another replica (a window's view).
    pub cursor_anchor: tandem_crdt::Anchor,
    /// The selection end as an anchor.
    pub selection_anchor: Option<tandem_crdt::Anchor>,
}

/// What the engine reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A peer connected.
    PeerConnected(PeerInfo),
    /// A peer's last connection closed.
    PeerDisconnected(PeerId),
    /// A remote change was applied (and stored).
    RemoteChange {
        /// The document.
        doc: DocId,
        /// Who wrote it.
        author: ReplicaId,
        /// How many ops it carried.
        ops: u64,
    },
    /// Own changes up to `seq` (by this device's replica) are stored durably.
    Saved {
        /// The document.
        doc: DocId,
        /// The last stored seq.
        seq: u64,
    },
    /// A document was created, joined or removed.
    DocsChanged,
    /// A peer's presence in a document changed.
    Presence {
        /// The document.
        doc: DocId,
        /// The peer.
        peer: PeerId,
    },
}

type Reply<T> = oneshot::Sender<Result<T, NetError>>;

enum Command {
    Info(Reply<(PeerId, Vec<Multiaddr>)>),
    Create(String, Reply<(DocId, Ticket)>),
    Join(Ticket, Reply<DocId>),
    Ticket(DocId, Reply<Ticket>),
    Insert(DocId, usize, String, Reply<()>),
    Delete(DocId, usize, usize, Reply<()>),
    Text(DocId, Reply<String>),
    Status(DocId, Reply<Status>),
    Peers(Reply<Vec<PeerInfo>>),
    Offline(bool, Reply<()>),
    SetPresence(DocId, String, u32, usize, Option<usize>, Reply<()>),
    Presences(DocId, Reply<Vec<PeerPresence>>),
    Attach(DocId, Waker, Reply<DocView>),
    Remove(DocId, Reply<bool>),
    Docs(Reply<Vec<DocSummary>>),
    DocPeers(DocId, Reply<Vec<DocPeer>>),
    PresenceAt(DocId, wire::Presence),
    SaveUndo(DocId, tandem_crdt::UndoState),
    Shutdown(oneshot::Sender<()>),
}

/// A cloneable handle to the engine.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
}

impl EngineHandle {
    /// Starts the engine on `store` and returns once it listens.
    pub async fn start(store: StoreHandle, config: NetConfig) -> Result<EngineHandle, NetError> {
        let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (local, local_rx) = mpsc::unbounded_channel();
        let mut engine = Engine::new(store, config, rx, events.clone(), local).await?;
        engine.local = Some(local_rx);
        let span = tracing::error_span!("net", me = %engine.swarm.local_peer_id());
        engine.wait_listening().await;
        tokio::spawn(async move { engine.run().await }.instrument(span));
        Ok(EngineHandle { tx, events })
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// This peer's id and listen addresses.
    pub async fn info(&self) -> Result<(PeerId, Vec<Multiaddr>), NetError> {
        self.ask(Command::Info).await
    }

    /// Creates a document; returns it and its ticket.
    pub async fn create(&self, title: &str) -> Result<(DocId, Ticket), NetError> {
        self.ask(|r| Command::Create(title.to_owned(), r)).await
    }

    /// Joins a shared document.
    pub async fn join(&self, ticket: Ticket) -> Result<DocId, NetError> {
        self.ask(|r| Command::Join(ticket, r)).await
    }

    /// A ticket for a document, with this peer's current addresses.
    pub async fn ticket(&self, doc: DocId) -> Result<Ticket, NetError> {
        self.ask(|r| Command::Ticket(doc, r)).await
    }

    /// Inserts text; returns once the change is durable.
    pub async fn insert(&self, doc: DocId, pos: usize, text: &str) -> Result<(), NetError> {
        self.ask(|r| Command::Insert(doc, pos, text.to_owned(), r)).await
    }

    /// Deletes text; returns once the change is durable.
    pub async fn delete(&self, doc: DocId, pos: usize, len: usize) -> Result<(), NetError> {
        self.ask(|r| Command::Delete(doc, pos, len, r)).await
    }

    /// The document's text.
    pub async fn text(&self, doc: DocId) -> Result<String, NetError> {
        self.ask(|r| Command::Text(doc, r)).await
    }

    /// The document's sync state.
    pub async fn status(&self, doc: DocId) -> Result<Status, NetError> {
        self.ask(|r| Command::Status(doc, r)).await
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.ask(Command::Peers).await
    }

    /// Sets this peer's presence in a document: display name, colour (0xRRGGBB), cursor
    /// and optional selection end as char positions. Sent rate-limited, never stored.
    pub async fn set_presence(
        &self,
        doc: DocId,
        name: &str,
        colour: u32,
        cursor: usize,
        selection: Option<usize>,
    ) -> Result<(), NetError> {
        self.ask(|r| Command::SetPresence(doc, name.to_owned(), colour, cursor, selection, r)).await
    }

    /// The presences of other peers in a document (quiet ones expire).
    pub async fn presences(&self, doc: DocId) -> Result<Vec<PeerPresence>, NetError> {
        self.ask(|r| Command::Presences(doc, r)).await
    }

    /// Attaches a view (a window's own replica) to a document; `wake` is called whenever
    /// the view has changes to pull. A later attach replaces the earlier view.
    pub async fn attach(&self, doc: DocId, wake: Waker) -> Result<DocView, NetError> {
        self.ask(|r| Command::Attach(doc, wake, r)).await
    }

    /// Removes a document from this device; returns whether it was there.
    pub async fn remove(&self, doc: DocId) -> Result<bool, NetError> {
        self.ask(|r| Command::Remove(doc, r)).await
    }

    /// Every document on this device, by title.
    pub async fn docs(&self) -> Result<Vec<DocSummary>, NetError> {
        self.ask(Command::Docs).await
    }

    /// The connected peers that share a document, with how far each is from this replica.
    pub async fn doc_peers(&self, doc: DocId) -> Result<Vec<DocPeer>, NetError> {
        self.ask(|r| Command::DocPeers(doc, r)).await
    }

    /// Sets this peer's presence with the cursor and selection as anchors in a view's
    /// replica. Never waits: when the engine is busy the update is skipped (presence is
    /// re-sent as it changes).
    pub fn set_presence_anchors(
        &self,
        doc: DocId,
        name: &str,
        colour: u32,
        cursor: tandem_crdt::Anchor,
        selection: Option<tandem_crdt::Anchor>,
    ) {
        let p = wire::Presence { name: name.to_owned(), colour: colour & 0xff_ffff, cursor, selection };
        let _ = self.tx.try_send(Command::PresenceAt(doc, p));
    }

    /// Keeps a view's undo history on disk, so undo works after a restart. Never waits.
    pub fn save_undo(&self, doc: DocId, state: tandem_crdt::UndoState) {
        let _ = self.tx.try_send(Command::SaveUndo(doc, state));
    }

    /// Stops (or resumes) all network traffic; editing and storing go on.
    pub async fn set_offline(&self, on: bool) -> Result<(), NetError> {
        self.ask(|r| Command::Offline(on, r)).await
    }

    /// Stops the engine and waits until it has.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<BytesCodec>,
    mdns: Toggle<mdns::tokio::Behaviour>,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    relay_client: p2p_relay::client::Behaviour,
    relay: Toggle<p2p_relay::Behaviour>,
    dcutr: dcutr::Behaviour,
    autonat: autonat::Behaviour,
}

struct OpenDoc {
    doc: Doc,
    key: DocKey,
    cipher: DocCipher,
    topic: TopicHash,
    /// Received changes not yet applied (waiting for deps), so not yet stored.
    unsaved: Vec<(Change, SignedChange)>,
    /// The attached view, if a UI has the document open.
    view: Option<view::ViewSink>,
    /// Bytes of catch-up responses received.
    sync_bytes_in: u64,
}

struct Engine {
    swarm: Swarm<Behaviour>,
    store: StoreHandle,
    docs: HashMap<DocId, OpenDoc>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Event>,
    /// Outstanding catch-up requests.
    requests: HashMap<OutboundRequestId, (PeerId, DocId)>,
    /// Catch-ups to ask for again once the outstanding request for them is answered.
    sync_again: HashSet<(PeerId, DocId)>,
    connected: HashMap<PeerId, PeerInfo>,
    lan: HashSet<PeerId>,
    listen_count: usize,
    bootstrap: Vec<Multiaddr>,
    offline: bool,
    last_announce: Option<tokio::time::Instant>,
    /// Own presence per document: what, when last sent, whether changed since.
    own_presence: HashMap<DocId, (wire::Presence, Option<tokio::time::Instant>, bool)>,
    /// Others' presence: `(doc, peer) -> (presence, when received)`.
    presence: HashMap<(DocId, PeerId), (wire::Presence, tokio::time::Instant)>,
    /// Changes made in attached views.
    local: Option<mpsc::UnboundedReceiver<(DocId, Change)>>,
    /// Handed to views.
    local_tx: mpsc::UnboundedSender<(DocId, Change)>,
    /// The last version each peer told us it holds, per document.
    peer_versions: HashMap<(DocId, PeerId), VectorClock>,
    /// Relay reservations (see `relay.rs`).
    relays: relay::Relays,
}

fn device_keypair(store: &StoreHandle) -> Result<identity::Keypair, NetError> {
    // The libp2p identity is derived from the device key, so the peer id is stable.
    let mut secret = store.identity().sign(b"tandem libp2p identity v1")[..32].to_vec();
    identity::Keypair::ed25519_from_bytes(&mut secret).map_err(|e| NetError::Transport(e.to_string()))
}

fn build_swarm(keypair: identity::Keypair, config: &NetConfig) -> Result<Swarm<Behaviour>, NetError> {
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
        .with_behaviour(|key, relay_client| {
            let peer = key.public().to_peer_id();
            let gossip_config = gossipsub::ConfigBuilder::default()
                .validation_mode(gossipsub::ValidationMode::Strict)
                .validate_messages()
                .message_id_fn(|m: &gossipsub::Message| gossipsub::MessageId::from(wire::message_id(&m.data)))
                .max_transmit_size(MAX_GOSSIP + 1024)
                .flood_publish(true)
                .heartbeat_interval(Duration::from_millis(500))
                .build()
                .map_err(|e| e.to_string())?;
            let gossipsub = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossip_config,
            )?;
            let sync = request_response::Behaviour::with_codec(
                BytesCodec,
                [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
            );
            let mdns = if config.mdns {
                Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer).map_err(|e| e.to_string())?)
            } else {
                None
            };
            let mut kad_config = kad::Config::new(StreamProtocol::new("/tandem/kad/1.0.0"));
            kad_config.set_query_timeout(Duration::from_secs(30));
            let mut kad = kad::Behaviour::with_config(peer, kad::store::MemoryStore::new(peer), kad_config);
            // Every Tandem peer serves the private DHT (by default a peer stays a client
            // until an external address is confirmed, which a LAN or loopback never is).
            kad.set_mode(Some(kad::Mode::Server));
            Ok(Behaviour {
                identify: identify::Behaviour::new(identify::Config::new(
                    "/tandem/1.0.0".into(),
                    key.public(),
                )),
                ping: ping::Behaviour::default(),
                gossipsub,
                sync,
                mdns: Toggle::from(mdns),
                kad,
                relay_client,
                relay: Toggle::from(config.relay.then(|| relay::server(peer))),
                dcutr: dcutr::Behaviour::new(peer),
                autonat: autonat::Behaviour::new(peer, relay::autonat_config()),
            })
        })
        .map_err(|e| transport(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok(swarm)
}

fn with_peer(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    // A circuit address names the relay before `/p2p-circuit`; the peer comes last.
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.clone()
    } else {
        addr.clone().with(Protocol::P2p(peer))
    }
}

fn kind_of(addr: &Multiaddr, lan: bool) -> PeerKind {
    if addr.iter().any(|p| matches!(p, Protocol::P2pCircuit)) {
        PeerKind::Relayed
    } else if lan {
        PeerKind::Lan
    } else {
        PeerKind::Direct
    }
}

/// A document's title: the winning value of its map's `title` (empty if none).
pub fn title_of(doc: &Doc) -> String {
    match doc.map_get("title") {
        Some(Value::Str(s)) => s.clone(),
        _ => String::new(),
    }
}

impl Engine {
    async fn new(
        store: StoreHandle,
        config: NetConfig,
        commands: mpsc::Receiver<Command>,
        events: broadcast::Sender<Event>,
        local_tx: mpsc::UnboundedSender<(DocId, Change)>,
    ) -> Result<Engine, NetError> {
        let mut swarm = build_swarm(device_keypair(&store)?, &config)?;
        // Circuit addresses are listened on by `reserve_configured` below.
        for addr in config.listen.iter().filter(|a| !relay::is_circuit(a)) {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Transport(format!("cannot listen on {addr}: {e}")))?;
        }
        let relays = relay::Relays::new(&config);
        let mut engine = Engine {
            swarm,
            store,
            docs: HashMap::new(),
            commands,
            events,
            requests: HashMap::new(),
            sync_again: HashSet::new(),
            connected: HashMap::new(),
            lan: HashSet::new(),
            listen_count: config.listen.len(),
            bootstrap: config.bootstrap,
            offline: false,
            last_announce: None,
            own_presence: HashMap::new(),
            presence: HashMap::new(),
            local: None,
            local_tx,
            peer_versions: HashMap::new(),
            relays,
        };
        // Every stored document is open and synced.
        for info in engine.store.docs().get().await? {
            let doc = engine.store.load(info.id).get().await?;
            engine.open(info.id, info.key, doc)?;
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

    fn open(&mut self, id: DocId, key: DocKey, doc: Doc) -> Result<(), NetError> {
        let cipher = DocCipher::new(id, &key);
        let topic = IdentTopic::new(cipher.topic());
        self.swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| NetError::Transport(e.to_string()))?;
        let key_record = kad::RecordKey::new(&cipher.topic());
        if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key_record) {
            debug!("cannot announce {id} in the DHT: {e}");
        }
        self.docs.insert(
            id,
            OpenDoc {
                doc,
                key,
                cipher,
                topic: topic.hash(),
                unsaved: Vec::new(),
                view: None,
                sync_bytes_in: 0,
            },
        );
        Ok(())
    }

    async fn run(mut self) {
        let mut beacon = tokio::time::interval(BEACON_INTERVAL);
        beacon.tick().await;
        let mut presence_tick = tokio::time::interval(PRESENCE_MIN_GAP);
        presence_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
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
                        let _ = self.store.close().get().await;
                        let _ = done.send(());
                        break;
                    }
                    Some(c) => self.on_command(c).await,
                },
                ev = self.swarm.select_next_some() => self.on_swarm(ev).await,
                _ = beacon.tick() => self.send_beacons(),
                _ = presence_tick.tick() => self.send_presence(),
            }
        }
        info!("engine stopped");
    }

    // ----- commands ------------------------------------------------------------------

    async fn on_command(&mut self, c: Command) {
        match c {
            Command::Info(r) => {
                let addrs = self.listen_addrs();
                let _ = r.send(Ok((*self.swarm.local_peer_id(), addrs)));
            }
            Command::Create(title, r) => {
                let res = self.create(&title).await;
                let _ = r.send(res);
            }
            Command::Join(t, r) => {
                let res = self.join(t).await;
                let _ = r.send(res);
            }
            Command::Ticket(doc, r) => {
                let _ = r.send(self.ticket(doc));
            }
            Command::Insert(doc, pos, text, r) => {
                let res = self.local_edit(doc, |d| d.insert(pos, &text)).await;
                let _ = r.send(res);
            }
            Command::Delete(doc, pos, len, r) => {
                let res = self.local_edit(doc, |d| d.delete(pos, len)).await;
                let _ = r.send(res);
            }
            Command::Text(doc, r) => {
                let _ = r.send(self.docs.get(&doc).map(|d| d.doc.text()).ok_or(NetError::UnknownDoc(doc)));
            }
            Command::Status(doc, r) => {
                let _ = r.send(self.status(doc));
            }
            Command::Peers(r) => {
                let _ = r.send(Ok(self.connected.values().cloned().collect()));
            }
            Command::Offline(on, r) => {
                self.set_offline(on).await;
                let _ = r.send(Ok(()));
            }
            Command::SetPresence(doc, name, colour, cursor, selection, r) => {
                let res = match self.docs.get(&doc) {
                    None => Err(NetError::UnknownDoc(doc)),
                    Some(d) => {
                        let p = wire::Presence {
                            name,
                            colour: colour & 0xff_ffff,
                            cursor: d.doc.anchor(cursor, tandem_crdt::Bias::After),
                            selection: selection.map(|s| d.doc.anchor(s, tandem_crdt::Bias::After)),
                        };
                        self.set_own_presence(doc, p);
                        Ok(())
                    }
                };
                let _ = r.send(res);
            }
            Command::Presences(doc, r) => {
                let _ = r.send(self.presences(doc));
            }
            Command::Attach(doc, wake, r) => {
                let res = self.attach(doc, wake).await;
                let _ = r.send(res);
            }
            Command::Remove(doc, r) => {
                let res = self.remove(doc).await;
                let _ = r.send(res);
            }
            Command::Docs(r) => {
                let _ = r.send(Ok(self.summaries()));
            }
            Command::DocPeers(doc, r) => {
                let _ = r.send(self.doc_peers(doc));
            }
            Command::PresenceAt(doc, p) => {
                if self.docs.contains_key(&doc) {
                    self.set_own_presence(doc, p);
                }
            }
            Command::SaveUndo(doc, state) => {
                if self.docs.contains_key(&doc) {
                    let _ = self.store.save_undo_state(doc, state).get().await;
                }
            }
            Command::Shutdown(_) => unreachable!("handled in run"),
        }
    }

    fn listen_addrs(&self) -> Vec<Multiaddr> {
        let me = *self.swarm.local_peer_id();
        self.swarm.listeners().map(|a| with_peer(a, me)).collect()
    }

    fn ticket(&self, doc: DocId) -> Result<Ticket, NetError> {
        let d = self.docs.get(&doc).ok_or(NetError::UnknownDoc(doc))?;
        let mut addrs = self.listen_addrs();
        addrs.retain(|a| !a.iter().any(|p| matches!(p, Protocol::Ip4(ip) if ip.is_unspecified())));
        let addrs = relay::ticket_addrs(addrs);
        Ok(Ticket { doc, key: d.key.clone(), addrs })
    }

    fn status(&self, doc: DocId) -> Result<Status, NetError> {
        let d = self.docs.get(&doc).ok_or(NetError::UnknownDoc(doc))?;
        let peers = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(|(p, topics)| self.connected.contains_key(p) && topics.contains(&&d.topic))
            .count();
        Ok(Status {
            version: d.doc.version().clone(),
            peers,
            pending: d.doc.pending_changes(),
            sync_bytes_in: d.sync_bytes_in,
        })
    }

    async fn create(&mut self, title: &str) -> Result<(DocId, Ticket), NetError> {
        let info = self.store.create_doc(title).get().await?;
        let doc = self.store.load(info.id).get().await?;
        self.open(info.id, info.key, doc)?;
        self.local_edit(info.id, |d| d.map_set("title", Value::Str(title.to_owned()))).await?;
        let _ = self.events.send(Event::DocsChanged);
        Ok((info.id, self.ticket(info.id)?))
    }

    async fn join(&mut self, t: Ticket) -> Result<DocId, NetError> {
        if !self.docs.contains_key(&t.doc) {
            let info = self.store.add_doc(t.doc, t.key.clone(), "").get().await?;
            let doc = self.store.load(info.id).get().await?;
            self.open(info.id, t.key.clone(), doc)?;
            let _ = self.events.send(Event::DocsChanged);
        }
        for addr in &t.addrs {
            let _ = self.store.add_peer_addr(t.doc, &addr.to_string()).get().await;
            if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            }
            if !self.offline {
                self.dial(addr.clone());
            }
        }
        // Peers already connected may have it too.
        let peers: Vec<PeerId> = self.connected.keys().copied().collect();
        for p in peers {
            self.request_sync(p, t.doc);
        }
        let key = kad::RecordKey::new(&self.docs[&t.doc].cipher.topic());
        self.swarm.behaviour_mut().kad.get_providers(key);
        Ok(t.doc)
    }

    /// Applies a local edit, commits it, stores it durably, then publishes it.
    async fn local_edit(
        &mut self,
        id: DocId,
        edit: impl FnOnce(&mut Doc) -> Result<(), tandem_crdt::Error>,
    ) -> Result<(), NetError> {
        let d = self.docs.get_mut(&id).ok_or(NetError::UnknownDoc(id))?;
        edit(&mut d.doc)?;
        let Some(change) = d.doc.commit() else { return Ok(()) };
        if let Some(v) = &d.view {
            v.send([change.clone()]);
        }
        self.persist_local(id, change).await
    }

    /// Signs and stores a change this device made (already in the engine's replica),
    /// then publishes it: stored before published.
    async fn persist_local(&mut self, id: DocId, change: Change) -> Result<(), NetError> {
        let d = self.docs.get(&id).ok_or(NetError::UnknownDoc(id))?;
        let bytes = encoding::encode_change(&change);
        let envelope = self.store.identity().seal(&id, &bytes);
        let summary = Some((title_of(&d.doc), d.doc.len_chars() as u64));
        let signed = SignedChange { change: bytes, envelope: envelope.clone() };
        self.store
            .append(Append { doc: id, change: change.clone(), signature: envelope, summary })
            .get()
            .await?;
        let _ = self.events.send(Event::Saved { doc: id, seq: change.end_seq() - 1 });
        self.publish_change(id, &change, &signed);
        Ok(())
    }

    fn publish_change(&mut self, id: DocId, change: &Change, signed: &SignedChange) {
        if self.offline {
            return;
        }
        let d = &self.docs[&id];
        let msg = if signed.change.len() + signed.envelope.len() > MAX_GOSSIP {
            // Too big for gossip: tell peers the new version; they catch up.
            wire::beacon_message(&d.cipher, d.doc.version())
        } else {
            wire::change_message(&d.cipher, change.author.0, change.start_seq, signed)
        };
        let topic = d.topic.clone();
        if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, msg) {
            // No subscribers is normal: the change is stored and catch-up delivers it.
            debug!("change {} of {id} not gossiped: {e}", change.id());
        }
    }

    /// Announces every document in the DHT and looks up its providers, at most once a
    /// second (a new connection may be the first peer that can store the records).
    fn announce(&mut self, force: bool) {
        let now = tokio::time::Instant::now();
        if !force && self.last_announce.is_some_and(|t| now - t < Duration::from_secs(1)) {
            return;
        }
        self.last_announce = Some(now);
        let keys: Vec<kad::RecordKey> =
            self.docs.values().map(|d| kad::RecordKey::new(&d.cipher.topic())).collect();
        let kad = &mut self.swarm.behaviour_mut().kad;
        for key in keys {
            if let Err(e) = kad.start_providing(key.clone()) {
                debug!("cannot announce in the DHT: {e}");
            }
            kad.get_providers(key);
        }
    }

    /// Replaces this peer's presence in a document and sends it (rate limited).
    fn set_own_presence(&mut self, doc: DocId, p: wire::Presence) {
        let last = self.own_presence.get(&doc).and_then(|e| e.1);
        self.own_presence.insert(doc, (p, last, true));
        self.send_presence();
    }

    /// Sends changed own presences (at most every [`PRESENCE_MIN_GAP`]) and keepalives;
    /// forgets others' presences that went quiet.
    fn send_presence(&mut self) {
        let now = tokio::time::Instant::now();
        self.presence.retain(|_, (_, at)| now - *at < PRESENCE_TTL);
        if self.offline {
            return;
        }
        let mut msgs = Vec::new();
        for (doc, (p, last, dirty)) in &mut self.own_presence {
            let due = match *last {
                None => true,
                Some(t) => (*dirty && now - t >= PRESENCE_MIN_GAP) || now - t >= PRESENCE_KEEPALIVE,
            };
            if due && let Some(d) = self.docs.get(doc) {
                msgs.push((d.topic.clone(), wire::presence_message(&d.cipher, p)));
                *last = Some(now);
                *dirty = false;
            }
        }
        for (topic, msg) in msgs {
            let _ = self.swarm.behaviour_mut().gossipsub.publish(topic, msg);
        }
    }

    fn presences(&self, doc: DocId) -> Result<Vec<PeerPresence>, NetError> {
        let d = self.docs.get(&doc).ok_or(NetError::UnknownDoc(doc))?;
        let now = tokio::time::Instant::now();
        let mut res: Vec<PeerPresence> = self
            .presence
            .iter()
            .filter(|((id, _), (_, at))| *id == doc && now - *at < PRESENCE_TTL)
            .map(|((_, peer), (p, _))| PeerPresence {
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

    fn send_beacons(&mut self) {
        if self.offline {
            return;
        }
        self.announce(true);
        let msgs: Vec<(TopicHash, Vec<u8>)> = self
            .docs
            .values()
            .map(|d| (d.topic.clone(), wire::beacon_message(&d.cipher, d.doc.version())))
            .collect();
        for (topic, msg) in msgs {
            let _ = self.swarm.behaviour_mut().gossipsub.publish(topic, msg);
        }
    }

    async fn set_offline(&mut self, on: bool) {
        if self.offline == on {
            return;
        }
        self.offline = on;
        if on {
            let peers: Vec<PeerId> = self.connected.keys().copied().collect();
            for p in peers {
                let _ = self.swarm.disconnect_peer_id(p);
            }
        } else {
            self.dial_known().await;
        }
    }

    /// Dials bootstrap peers and every stored peer address.
    async fn dial_known(&mut self) {
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

    fn dial(&mut self, addr: Multiaddr) {
        if let Some(Protocol::P2p(peer)) = addr.iter().last()
            && (peer == *self.swarm.local_peer_id() || self.connected.contains_key(&peer))
        {
            return;
        }
        if let Err(e) = self.swarm.dial(addr.clone()) {
            debug!("cannot dial {addr}: {e}");
        }
    }

    // ----- remote changes ------------------------------------------------------------

    fn request_sync(&mut self, peer: PeerId, id: DocId) {
        // One request per peer and document at a time: two would fetch the same changes
        // twice. A second reason to ask is served when the first answer is in.
        if self.requests.values().any(|r| *r == (peer, id)) {
            self.sync_again.insert((peer, id));
            return;
        }
        let Some(d) = self.docs.get(&id) else { return };
        let req = wire::sync_request(&d.cipher, d.doc.version());
        let rid = self.swarm.behaviour_mut().sync.send_request(&peer, req);
        self.requests.insert(rid, (peer, id));
    }

    /// Verifies, applies and stores a received change. `Err` names why it was refused.
    async fn receive(&mut self, id: DocId, change: Change, sc: SignedChange) -> Result<bool, String> {
        let (ready, buffered) = self.accept(id, change, sc)?;
        self.store_received(id, ready).await?;
        Ok(buffered)
    }

    async fn on_gossip(&mut self, source: PeerId, msg_id: gossipsub::MessageId, msg: gossipsub::Message) {
        let Some(id) = self.docs.iter().find(|(_, d)| d.topic == msg.topic).map(|(id, _)| *id) else {
            self.report(&msg_id, &source, MessageAcceptance::Ignore);
            return;
        };
        if self.offline {
            self.report(&msg_id, &source, MessageAcceptance::Ignore);
            return;
        }
        let opened = wire::open_gossip(&self.docs[&id].cipher, &msg.data);
        match opened {
            Err(e) => {
                warn!("rejected gossip from {source} for {id}: {e}");
                self.report(&msg_id, &source, MessageAcceptance::Reject);
            }
            Ok(Gossip::Presence(p)) => {
                let peer = msg.source.unwrap_or(source);
                let now = tokio::time::Instant::now();
                // A peer flooding presence updates is not forwarded (still shown).
                let flooding =
                    self.presence.get(&(id, peer)).is_some_and(|(_, at)| now - *at < PRESENCE_MIN_GAP / 2);
                self.presence.insert((id, peer), (p, now));
                let verdict = if flooding { MessageAcceptance::Ignore } else { MessageAcceptance::Accept };
                self.report(&msg_id, &source, verdict);
                let _ = self.events.send(Event::Presence { doc: id, peer });
            }
            Ok(Gossip::Beacon(clock)) => {
                self.report(&msg_id, &source, MessageAcceptance::Accept);
                self.peer_versions.insert((id, msg.source.unwrap_or(source)), clock.clone());
                if !clock.le(self.docs[&id].doc.version()) {
                    self.request_sync(source, id);
                }
            }
            Ok(Gossip::Change(sc)) => {
                let change = match encoding::decode_change(&sc.change) {
                    Ok(c)
                        if wire::expected_change_id(
                            &self.docs[&id].cipher,
                            &msg.data,
                            c.author.0,
                            c.start_seq,
                        ) =>
                    {
                        c
                    }
                    Ok(_) => {
                        warn!("rejected gossip from {source} for {id}: message id does not match the change");
                        self.report(&msg_id, &source, MessageAcceptance::Reject);
                        return;
                    }
                    Err(e) => {
                        warn!("rejected change from {source} for {id}: {e}");
                        self.report(&msg_id, &source, MessageAcceptance::Reject);
                        return;
                    }
                };
                let origin = msg.source.unwrap_or(source);
                let (author, last) = (change.author, change.end_seq() - 1);
                match self.receive(id, change, sc).await {
                    Ok(buffered) => {
                        self.report(&msg_id, &source, MessageAcceptance::Accept);
                        // The peer that wrote it holds it.
                        if let Some(v) = self.peer_versions.get_mut(&(id, origin)) {
                            v.observe(author, last);
                        }
                        if buffered {
                            self.request_sync(source, id);
                        }
                    }
                    Err(reason) => {
                        warn!("rejected change from {source} for {id}: {reason}");
                        self.report(&msg_id, &source, MessageAcceptance::Reject);
                    }
                }
            }
        }
    }

    fn report(&mut self, id: &gossipsub::MessageId, source: &PeerId, a: MessageAcceptance) {
        self.swarm.behaviour_mut().gossipsub.report_message_validation_result(id, source, a);
    }

    async fn on_sync_request(
        &mut self,
        peer: PeerId,
        request: Vec<u8>,
        channel: request_response::ResponseChannel<Vec<u8>>,
    ) {
        let resp = match self.answer(peer, &request).await {
            Ok(r) => r,
            Err(reason) => {
                warn!("bad sync request from {peer}: {reason}");
                wire::unknown_doc_response()
            }
        };
        let _ = self.swarm.behaviour_mut().sync.send_response(channel, resp);
    }

    async fn answer(&mut self, peer: PeerId, request: &[u8]) -> Result<Vec<u8>, String> {
        if self.offline {
            return Ok(wire::unknown_doc_response());
        }
        let id = wire::request_doc(request).map_err(|e| e.to_string())?;
        let Some(d) = self.docs.get(&id) else { return Ok(wire::unknown_doc_response()) };
        let cipher = d.cipher.clone();
        let clock = wire::open_request(&cipher, request).map_err(|e| e.to_string())?;
        self.peer_versions.insert((id, peer), clock.clone());
        let all =
            self.store.signed_changes_since(id, clock.clone()).get().await.map_err(|e| e.to_string())?;
        let mut size = 0;
        let mut chunk = Vec::new();
        for c in &all {
            if size > 0 && size + c.change.len() + c.envelope.len() > SYNC_CHUNK {
                break;
            }
            size += c.change.len() + c.envelope.len() + 8;
            chunk.push(c.clone());
        }
        let more = chunk.len() < all.len();
        if !more
            && let Some(ours) = self.docs.get(&id).map(|d| d.doc.version().clone())
            && let Some(v) = self.peer_versions.get_mut(&(id, peer))
        {
            // It is sent everything this replica holds.
            v.merge(&ours);
        }
        debug!("sync {id} to {peer}: {} of {} changes", chunk.len(), all.len());
        // The peer has the document: remember where it was.
        if !clock.is_empty()
            && let Some(info) = self.connected.get(&peer)
        {
            let addr = with_peer(&info.addr, peer).to_string();
            let _ = self.store.add_peer_addr(id, &addr).get().await;
        }
        Ok(wire::sync_response(&cipher, &chunk, more))
    }

    async fn on_sync_response(&mut self, rid: OutboundRequestId, response: Vec<u8>) {
        let Some((peer, id)) = self.requests.remove(&rid) else { return };
        let again = self.sync_again.remove(&(peer, id));
        let Some(d) = self.docs.get_mut(&id) else { return };
        d.sync_bytes_in += response.len() as u64;
        let opened = wire::open_response(&d.cipher, &response);
        let (changes, more) = match opened {
            Ok(Some(x)) => x,
            Ok(None) => return,
            Err(e) => {
                warn!("bad sync response from {peer} for {id}: {e}");
                return;
            }
        };
        let progress = self.receive_batch(peer, id, changes).await;
        if let Some(info) = self.connected.get(&peer) {
            let addr = with_peer(&info.addr, peer).to_string();
            let _ = self.store.add_peer_addr(id, &addr).get().await;
        }
        if (more && progress) || again {
            self.request_sync(peer, id);
        }
    }

    // ----- swarm events --------------------------------------------------------------

    async fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!("listening on {address}");
                self.on_new_listen_addr(&address);
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                if self.offline {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                self.note_connection(peer_id, &endpoint);
                let addr = endpoint.get_remote_address().clone();
                if endpoint.is_dialer() {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr.clone());
                }
                if num_established.get() == 1 {
                    let info = PeerInfo {
                        peer: peer_id,
                        addr: addr.clone(),
                        kind: self.connection_kind(peer_id, &endpoint),
                    };
                    self.connected.insert(peer_id, info.clone());
                    self.swarm.behaviour_mut().gossipsub.add_explicit_peer(&peer_id);
                    let _ = self.events.send(Event::PeerConnected(info));
                    // Catch up both ways: each side asks for what it lacks.
                    let ids: Vec<DocId> = self.docs.keys().copied().collect();
                    for id in &ids {
                        self.request_sync(peer_id, *id);
                    }
                    self.announce(false);
                } else {
                    self.on_extra_connection(peer_id, &endpoint);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. }
                if self.connected.remove(&peer_id).is_some() =>
            {
                self.swarm.behaviour_mut().gossipsub.remove_explicit_peer(&peer_id);
                // Its answers cannot come any more; the next connection catches up afresh.
                self.requests.retain(|_, (p, _)| *p != peer_id);
                self.sync_again.retain(|(p, _)| *p != peer_id);
                let _ = self.events.send(Event::PeerDisconnected(peer_id));
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, message).await,
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed {
                peer_id,
                topic,
            })) => {
                // Changes either side published before it knew of the other's subscription
                // reached no one: catch up both ways now rather than at the next beacon
                // (the beacon tells the peer this replica's version; it asks for the rest).
                let doc = self.docs.iter().find(|(_, d)| d.topic == topic).map(|(id, _)| *id);
                if let Some(id) = doc
                    && !self.offline
                    && self.connected.contains_key(&peer_id)
                {
                    self.request_sync(peer_id, id);
                    let d = &self.docs[&id];
                    let beacon = wire::beacon_message(&d.cipher, d.doc.version());
                    let _ = self.swarm.behaviour_mut().gossipsub.publish(topic, beacon);
                }
            }
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
            })) => {
                debug!("sync request to {peer} failed: {error}");
                // A request on a connection that closed while another one to the peer
                // stays open (both dialled at once) is asked again on that one.
                let closed = matches!(error, request_response::OutboundFailure::ConnectionClosed);
                if let Some(key) = self.requests.remove(&request_id)
                    && (self.sync_again.remove(&key) || closed)
                    && self.connected.contains_key(&key.0)
                {
                    self.request_sync(key.0, key.1);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    self.lan.insert(peer);
                    if !self.offline && !self.connected.contains_key(&peer) {
                        self.dial_lan(peer, addr);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                self.on_identified(peer_id, &info);
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result:
                    kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders { providers, .. })),
                ..
            })) => {
                for peer in providers {
                    if peer != *self.swarm.local_peer_id()
                        && !self.connected.contains_key(&peer)
                        && !self.offline
                    {
                        let _ = self.swarm.dial(peer);
                    }
                }
            }
            SwarmEvent::ListenerClosed { listener_id, .. } => self.on_listener_closed(listener_id),
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(ev)) => self.on_relay_client(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Relay(ev)) => self.on_relay_server(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(ev)) => self.on_dcutr(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(ev)) => self.on_autonat(ev),
            _ => {}
        }
    }
}
