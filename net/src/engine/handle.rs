//! The engine's public face: [`EngineHandle`], which sends the engine task a [`Command`]
//! with a one-shot reply for each call, and the types its answers and [`Event`]s carry.

use super::Engine;
use super::view::{DocView, Waker};
use crate::error::NetError;
use crate::sync::PeerSync;
use crate::ticket::Ticket;
use crate::wire;
use libp2p::{Multiaddr, PeerId};
use tandem_crdt::{ReplicaId, VectorClock};
use tandem_storage::{DocId, StorageState, StoreHandle};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::Instrument;

/// Commands that may queue before callers wait.
const COMMAND_CAPACITY: usize = 256;
/// Events kept for a slow subscriber before the oldest are dropped.
const EVENT_CAPACITY: usize = 4096;

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
    /// Meet the peers of each document through the public libp2p network (the IPFS
    /// Amino DHT, as a client) and map ports with UPnP. Off whenever the environment
    /// says `TANDEM_PUBLIC_NETWORK=off`, whatever this says.
    pub public: bool,
    /// The public network's bootstrap peers (each address ending in `/p2p/<id>`);
    /// empty for the well-known IPFS bootstrap peers.
    pub public_bootstrap: Vec<Multiaddr>,
}

/// How a peer is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// Found on the local network.
    Lan,
    /// A direct connection.
    Direct,
    /// A direct connection made through both NATs by a hole punch (DCUtR), after
    /// meeting through a relay.
    HolePunched,
    /// Through a relay.
    Relayed,
}

impl PeerKind {
    /// `lan`, `direct`, `hole-punched` or `relayed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PeerKind::Lan => "lan",
            PeerKind::Direct => "direct",
            PeerKind::HolePunched => "hole-punched",
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
    /// The round-trip time last measured (ping), once measured.
    pub rtt: Option<std::time::Duration>,
}

/// What a peer's network carried since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes received on all connections (framing and encryption included).
    pub bytes_in: u64,
    /// Bytes sent on all connections.
    pub bytes_out: u64,
    /// DHT queries started (announcements and lookups).
    pub dht_queries: u64,
    /// Connections open now.
    pub connections: usize,
}

/// Whether this peer can be reached from the internet, as AutoNAT found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reachability {
    /// Not found out yet (or no public peer to ask).
    #[default]
    Unknown,
    /// Peers outside can dial it at an external address.
    Public,
    /// Behind a NAT or firewall: reached through relays and hole punching.
    Private,
}

impl Reachability {
    /// `unknown`, `public` or `private`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reachability::Unknown => "unknown",
            Reachability::Public => "public",
            Reachability::Private => "private",
        }
    }
}

/// How this peer is connected to the network: what the connection panel shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkStatus {
    /// Whether the public network is in use.
    pub public_network: bool,
    /// Whether the public DHT answered.
    pub public_reached: bool,
    /// Peers in the public DHT's routing table.
    pub public_dht_peers: usize,
    /// Documents announced on the public DHT now.
    pub public_announced: usize,
    /// Providers of this device's documents the public DHT named.
    pub public_found: u64,
    /// Peers in the private (Tandem) DHT's routing table.
    pub private_dht_peers: usize,
    /// What AutoNAT found.
    pub reachability: Reachability,
    /// Addresses this peer listens on.
    pub listen: Vec<Multiaddr>,
    /// Addresses peers outside reach it at (found by AutoNAT, mapped by UPnP, or
    /// through a relay reservation).
    pub external: Vec<Multiaddr>,
    /// Relays that hold a reservation for this peer.
    pub relays: Vec<PeerId>,
    /// Whether the router mapped a port (UPnP).
    pub upnp_mapped: bool,
    /// Connections open to peers that are not Tandem peers (public DHT servers, relays).
    pub infrastructure: usize,
    /// Whether the user chose to work offline.
    pub offline: bool,
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
    /// Bytes of gossip messages (changes, beacons, presence) received for this document
    /// since start, from members.
    pub gossip_bytes_in: u64,
    /// Changes to the document (this device's or received) that are not on disk yet
    /// (kept in memory and retried); `version` leaves them out.
    pub waiting: usize,
    /// Why the last write failed, while changes wait.
    pub store_error: Option<String>,
    /// Snapshot rewrites that failed since start, of any document (they are retried).
    pub snapshot_failures: u64,
    /// The last snapshot error of this document, while it is still due.
    pub snapshot_error: Option<String>,
    /// Authors caught signing two different versions of the same seqs (the proof is
    /// kept in the store).
    pub equivocators: Vec<tandem_crdt::ReplicaId>,
    /// The authors that named themselves in the document (see [`crate::authors`]).
    pub authors: std::collections::BTreeMap<tandem_crdt::ReplicaId, crate::authors::Author>,
    /// Each author shown as another, the first of its person's linked devices
    /// ([`crate::authors::people_of`]).
    pub people: std::collections::BTreeMap<tandem_crdt::ReplicaId, tandem_crdt::ReplicaId>,
    /// The links each author claims that the other device did not make back.
    pub unconfirmed_links: std::collections::BTreeMap<tandem_crdt::ReplicaId, Vec<String>>,
    /// The document's key epoch: how many times its key changed ([`crate::rekey`]).
    pub epoch: u32,
    /// A key change removed this device: it keeps what it holds but hears nothing new.
    pub removed: bool,
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

/// A document on this device, for a documents list.
#[derive(Debug, Clone, PartialEq)]
pub struct DocSummary {
    /// Its id.
    pub id: DocId,
    /// Its title (the winning value of the map's `title`).
    pub title: String,
    /// What it is called: its title, or while it has none its first non-empty line
    /// (empty when both are).
    pub name: String,
    /// Every concurrent value of the title (more than one is a conflict to resolve).
    pub titles: Vec<String>,
    /// Its length in chars.
    pub len_chars: usize,
    /// Why it cannot be opened (its data on disk is damaged): it is listed, not synced.
    pub error: Option<String>,
}

/// A document in the trash: kept on disk, not synced, until restored or deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct TrashedDoc {
    /// Its id.
    pub id: DocId,
    /// The name it last went by.
    pub name: String,
    /// Its length in chars when it was last stored.
    pub len_chars: u64,
    /// When it was moved to the trash, unix ms.
    pub trashed_ms: u64,
}

/// A connected peer that shares a document.
#[derive(Debug, Clone, PartialEq)]
pub struct DocPeer {
    /// Its id.
    pub peer: PeerId,
    /// How it is connected.
    pub kind: PeerKind,
    /// The round-trip time last measured, once measured.
    pub rtt: Option<std::time::Duration>,
    /// Its display name and colour, if it sent its presence.
    pub name: Option<(String, u32)>,
    /// How far it is from this replica.
    pub sync: PeerSync,
}

/// What the engine reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A peer connected.
    PeerConnected(PeerInfo),
    /// A peer's last connection closed.
    PeerDisconnected(PeerId),
    /// A remote change was applied and stored (flushed to disk within
    /// [`tandem_storage::SETTLE`]).
    RemoteChange {
        /// The document.
        doc: DocId,
        /// Who wrote it.
        author: ReplicaId,
        /// How many ops it carried.
        ops: u64,
    },
    /// Own changes up to `seq` by `author` (one of this device's writers) are stored
    /// durably.
    Saved {
        /// The document.
        doc: DocId,
        /// Which of this device's writers made them.
        author: ReplicaId,
        /// The last stored seq.
        seq: u64,
    },
    /// A document was created, joined or removed.
    DocsChanged,
    /// What waits to be stored changed: a write failed (`error` says why), or changes
    /// that waited are now stored (`waiting` is then 0), or a snapshot failed.
    Storage {
        /// Changes kept in memory, not yet on disk.
        waiting: usize,
        /// Why the last write failed, while changes wait.
        error: Option<String>,
        /// Snapshot rewrites that failed since start.
        snapshot_failures: u64,
    },
    /// A peer's presence in a document changed.
    Presence {
        /// The document.
        doc: DocId,
        /// The peer.
        peer: PeerId,
    },
    /// An author of a document was caught signing two different versions of the same
    /// seqs; the second was refused and both are kept as proof.
    Equivocation {
        /// The document.
        doc: DocId,
        /// The author.
        author: ReplicaId,
    },
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, NetError>>;

/// What a handle asks the engine task to do.
pub(super) enum Command {
    Info(Reply<(PeerId, Vec<Multiaddr>)>),
    Create(String, Reply<(DocId, Ticket)>),
    Join(Ticket, Reply<DocId>),
    Ticket(DocId, Reply<Ticket>),
    ReadTicket(DocId, Reply<Ticket>),
    Members(DocId, Reply<Vec<super::DocMember>>),
    LinkDevices(Vec<String>, Reply<Vec<PeerId>>),
    RemovePeople(DocId, Vec<PeerId>, Reply<Ticket>),
    Seal(DocId, Vec<u8>, Reply<Vec<u8>>),
    Unseal(DocId, Vec<u8>, Reply<Vec<u8>>),
    Insert(DocId, usize, String, Reply<()>),
    Delete(DocId, usize, usize, Reply<()>),
    Text(DocId, Reply<String>),
    Status(DocId, Reply<Status>),
    Peers(Reply<Vec<PeerInfo>>),
    Traffic(Reply<Traffic>),
    Network(Reply<NetworkStatus>),
    Offline(bool, Reply<()>),
    SetPresence(DocId, String, u32, usize, Option<usize>, Reply<()>),
    Presences(DocId, Reply<Vec<PeerPresence>>),
    Attach(DocId, Waker, Reply<DocView>),
    Remove(DocId, Reply<bool>),
    Trash(DocId, Reply<bool>),
    Restore(DocId, Reply<bool>),
    Trashed(Reply<Vec<TrashedDoc>>),
    Docs(Reply<Vec<DocSummary>>),
    DocPeers(DocId, Reply<Vec<DocPeer>>),
    PresenceAt(DocId, wire::Presence),
    SaveUndo(DocId, tandem_crdt::UndoState),
    Shutdown(oneshot::Sender<usize>),
}

/// A cloneable handle to the engine.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    storage: watch::Receiver<StorageState>,
}

impl EngineHandle {
    /// Starts the engine on `store` and returns once it listens.
    pub async fn start(store: StoreHandle, config: NetConfig) -> Result<EngineHandle, NetError> {
        let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (local, local_rx) = mpsc::unbounded_channel();
        let storage = store.state();
        let mut engine = Engine::new(store, config, rx, events.clone(), local).await?;
        engine.local = Some(local_rx);
        let span = tracing::error_span!("net", me = %engine.swarm.local_peer_id());
        engine.wait_listening().await;
        tokio::spawn(async move { engine.run().await }.instrument(span));
        Ok(EngineHandle { tx, events, storage })
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await?;
        rx.await?
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

    /// A read ticket for a document: its holder reads, follows and serves it, and its
    /// changes are refused by everyone.
    pub async fn read_ticket(&self, doc: DocId) -> Result<Ticket, NetError> {
        self.ask(|r| Command::ReadTicket(doc, r)).await
    }

    /// Links this device with the person's other devices `peers`: every document it
    /// writes says so, and an author's devices show as one person where each device
    /// linked the other ([`crate::authors::people_of`]). Replaces the earlier list.
    pub async fn set_linked(&self, peers: Vec<PeerId>) -> Result<(), NetError> {
        let codes = peers.iter().map(PeerId::to_string).collect();
        self.ask(|r| Command::LinkDevices(codes, r)).await.map(|_| ())
    }

    /// [`EngineHandle::set_linked`] by device codes: each a full peer id or a short code
    /// ([`crate::authors::device_code`]) of a device this one knows of (one that wrote
    /// to a document held here, or is connected). Returns the devices, in the order of
    /// `codes`; links nothing when one code is unknown, malformed or ambiguous.
    pub async fn link_devices(&self, codes: Vec<String>) -> Result<Vec<PeerId>, NetError> {
        self.ask(|r| Command::LinkDevices(codes, r)).await
    }

    /// The members of a document this device knows of (for "remove people").
    pub async fn members(&self, doc: DocId) -> Result<Vec<super::DocMember>, NetError> {
        self.ask(|r| Command::Members(doc, r)).await
    }

    /// Moves a document to a new key that every member this device knows of gets but
    /// those in `remove` (see [`crate::rekey`]); returns the new edit ticket.
    pub async fn remove_people(&self, doc: DocId, remove: Vec<PeerId>) -> Result<Ticket, NetError> {
        self.ask(|r| Command::RemovePeople(doc, remove, r)).await
    }

    /// `plain` sealed as the document's traffic is now (its current key): to check
    /// who can open it.
    pub async fn seal(&self, doc: DocId, plain: Vec<u8>) -> Result<Vec<u8>, NetError> {
        self.ask(|r| Command::Seal(doc, plain, r)).await
    }

    /// Opens what [`EngineHandle::seal`] made, with this device's key of the document.
    pub async fn unseal(&self, doc: DocId, sealed: Vec<u8>) -> Result<Vec<u8>, NetError> {
        self.ask(|r| Command::Unseal(doc, sealed, r)).await
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

    /// What this peer's network has carried since start.
    pub async fn traffic(&self) -> Result<Traffic, NetError> {
        self.ask(Command::Traffic).await
    }

    /// How this peer is connected to the network (the connection panel).
    pub async fn network(&self) -> Result<NetworkStatus, NetError> {
        self.ask(Command::Network).await
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

    /// Removes a document from this device for good (whether open, damaged or in the
    /// trash); returns whether it was there.
    pub async fn remove(&self, doc: DocId) -> Result<bool, NetError> {
        self.ask(|r| Command::Remove(doc, r)).await
    }

    /// Moves a document to the trash: it stops syncing and leaves the documents list,
    /// but keeps all its data until it is restored or removed. Returns whether it was
    /// here.
    pub async fn trash(&self, doc: DocId) -> Result<bool, NetError> {
        self.ask(|r| Command::Trash(doc, r)).await
    }

    /// Takes a document out of the trash and syncs it again; returns whether it was
    /// in the trash.
    pub async fn restore(&self, doc: DocId) -> Result<bool, NetError> {
        self.ask(|r| Command::Restore(doc, r)).await
    }

    /// The documents in the trash, most recently trashed first.
    pub async fn trashed(&self) -> Result<Vec<TrashedDoc>, NetError> {
        self.ask(Command::Trashed).await
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
        self.tx.try_send(Command::PresenceAt(doc, p)).ok();
    }

    /// Keeps a view's undo history on disk, so undo works after a restart. Never waits.
    pub fn save_undo(&self, doc: DocId, state: tandem_crdt::UndoState) {
        self.tx.try_send(Command::SaveUndo(doc, state)).ok();
    }

    /// Stops (or resumes) all network traffic; editing and storing go on.
    pub async fn set_offline(&self, on: bool) -> Result<(), NetError> {
        self.ask(|r| Command::Offline(on, r)).await
    }

    /// What this device's store holds in memory because writing it failed (a full
    /// disk), and why. Never waits.
    pub fn storage(&self) -> StorageState {
        self.storage.borrow().clone()
    }

    /// Stops the engine and waits until it has. Returns how many changes could not be
    /// stored (the disk refused them to the end); they are lost.
    pub async fn shutdown(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).await.is_ok() {
            return rx.await.unwrap_or(0);
        }
        0
    }
}
