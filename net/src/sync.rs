//! The sync protocol's decisions as a state machine without IO: when to ask a peer for
//! catch-up and why, how much of a catch-up to send at once, what a lost request or a
//! closed connection does, each peer's last known version of each document, when to
//! beacon for anti-entropy, and the bookkeeping of presence (rate limits and expiry).
//!
//! The engine feeds [`State`] what happened (a peer connected, a beacon arrived, a
//! request was answered or lost, time passed) and carries out the [`Out`]puts it returns
//! (send a catch-up request, publish a beacon or a presence). The seeded simulator in
//! `net/tests/sim.rs` drives the same state machine over a simulated network. Nothing
//! here knows libp2p, tokio or the clock: the peer id is a type parameter, and every
//! method that depends on time takes `now`.
//!
//! **Invariants.**
//! - At most one catch-up request per peer and document is outstanding: two would fetch
//!   the same changes twice. A reason to ask that comes up while one is outstanding is
//!   remembered and served once the answer is in.
//! - An outstanding request dies with the peer's last connection; an answer or a loss
//!   reported for it later is ignored, and the next connection catches up afresh.
//! - Only a peer that proved it holds a document's key on its current connection (a
//!   *member*, [`State::member`]) is asked about the document or answered: a peer
//!   without the key learns nothing, not even that this replica holds the document.
//!
//! ```
//! use std::time::Instant;
//! use tandem_crdt::VectorClock;
//! use tandem_net::sync::{Config, Out, Reason, Reply, State};
//! use tandem_storage::DocId;
//!
//! let now = Instant::now();
//! let doc = DocId([1; 16]);
//! let mut state: State<u32> = State::new(Config::default(), now);
//! state.open(doc);
//! // A connected peer that proved it holds the document is asked for what this replica
//! // lacks; until then it is asked nothing.
//! state.peer_connected(7);
//! let out = state.member(7, doc);
//! let [Out::Request(req)] = &out[..] else { panic!("one request") };
//! assert_eq!((req.peer, req.reason), (7, Reason::Connected));
//! // A beacon showing more while the request is outstanding asks again after the answer.
//! let theirs: VectorClock = [(tandem_crdt::ReplicaId(2), 5)].into_iter().collect();
//! assert!(state.beacon(7, 7, doc, theirs, &VectorClock::new()).is_empty());
//! let out = state.response(req, Reply::Changes { more: false, progress: true, next: None });
//! assert!(matches!(&out[..], [Out::Request(r)] if r.reason == Reason::BeaconAhead));
//! ```

use crate::wire::Presence;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tandem_crdt::{Change, OpId, VectorClock};
use tandem_storage::DocId;

/// How often each document's version is beaconed (anti-entropy).
pub const BEACON_INTERVAL: Duration = Duration::from_secs(30);
/// How many members of a document each beacon round goes to (the next ones in turn,
/// so every member hears from this replica within a few rounds): idle traffic grows
/// with the documents, not with their peers.
pub const BEACON_FANOUT: usize = 8;
/// How soon after its last beacon round a document whose version a catch-up answer
/// advanced beacons again (news): what one member brings in reaches the others at the
/// pace of the network, a few rounds of [`BEACON_FANOUT`], not one round every
/// [`BEACON_INTERVAL`]; at most one extra round per document this often.
pub const NEWS_GAP: Duration = Duration::from_secs(1);
/// Bytes of changes per catch-up response, by default.
pub(crate) const CHUNK_BYTES: usize = 1024 * 1024;
/// A peer's presence is forgotten after this long without an update.
pub const PRESENCE_TTL: Duration = Duration::from_secs(30);
/// How long a sender's last presence counter is remembered after its last presence:
/// within it, a replayed (older) presence is told from a new one.
pub const PRESENCE_MEMORY: Duration = Duration::from_secs(60 * 60);
/// Senders whose presence one document keeps at once; a presence from one more is
/// dropped until some go quiet (a key holder can make any number of sender keys).
pub const MAX_PRESENCES: usize = 256;
/// Own presence is sent at most this often...
pub(crate) const PRESENCE_MIN_GAP: Duration = Duration::from_millis(100);
/// ...and re-sent this often while unchanged, so peers do not expire it.
pub(crate) const PRESENCE_KEEPALIVE: Duration = Duration::from_secs(10);
/// Bytes a change counts for on top of its own in a catch-up response (its framing).
const CHANGE_OVERHEAD: usize = 8;

/// Gossiped bytes a second one author may send into a document (far above typing, and
/// a big paste goes by catch-up).
pub const AUTHOR_RATE: f64 = 256.0 * 1024.0;
/// The burst of gossiped bytes one author may send at once.
pub const AUTHOR_BURST: f64 = 2.0 * 1024.0 * 1024.0;

/// Entries of a version one catch-up request carries (well under the request size
/// limit); a bigger version is asked about in pages by author ([`State::page`]).
pub const PAGE_ENTRIES: usize = 2_000;

/// The protocol's tunables.
#[derive(Debug, Clone)]
pub struct Config {
    /// How often every document's version is beaconed.
    pub beacon_interval: Duration,
    /// Most version entries one catch-up request carries.
    pub page_entries: usize,
    /// Bytes of changes per catch-up response (a larger first change still goes alone).
    pub chunk_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config { beacon_interval: BEACON_INTERVAL, chunk_bytes: CHUNK_BYTES, page_entries: PAGE_ENTRIES }
    }
}

/// Why a catch-up request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A connected peer proved it holds the document: each side asks for what it lacks.
    Connected,
    /// A change from the peer arrived before its deps.
    MissingDeps,
    /// The peer's beacon shows changes this replica lacks.
    BeaconAhead,
    /// The last answer said more follows.
    More,
    /// The request was lost with a closed connection while another one stays open.
    ConnectionLost,
}

/// A catch-up request to send: this replica's version of `doc`, to `peer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<P> {
    /// Whom to ask.
    pub peer: P,
    /// The document.
    pub doc: DocId,
    /// Why.
    pub reason: Reason,
    /// The first author (replica id) this request covers. A version too big for one
    /// request is sent in pages by author; the answer says where the next page starts
    /// ([`Reply::Changes`]'s `next`).
    pub from: u64,
    /// Tells this request from earlier ones to the same peer for the same document.
    n: u64,
}

/// What the state machine asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Out<P> {
    /// Send a catch-up request carrying this replica's version of the document. Report
    /// the outcome with [`State::response`] or [`State::request_failed`].
    Request(Request<P>),
    /// Send this replica's version of the document to a member as a beacon.
    Beacon(DocId, P),
    /// Publish own presence in the document.
    Presence(DocId, Presence),
}

/// The answer to a catch-up request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Changes arrived: whether more follow, and whether any was accepted.
    Changes {
        /// The peer has more to send for this request's authors.
        more: bool,
        /// At least one change was new here (asking for more makes progress).
        progress: bool,
        /// The request carried only part of this replica's version: the first author
        /// of the next part.
        next: Option<u64>,
    },
    /// The peer does not have the document, or the answer could not be read.
    Refused,
}

/// How a catch-up request was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The connection it travelled on closed.
    ConnectionClosed,
    /// Anything else (a timeout, a failed dial, a protocol error).
    Other,
}

/// What a peer lacks of a document, as read for an answer: the byte sizes of the
/// changes in the order they would be sent, and whether more follow them (the store
/// reads one chunk at a time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lacking<I> {
    /// The byte sizes of the changes read.
    pub sizes: I,
    /// More changes follow those.
    pub more: bool,
}

impl<I> Lacking<I> {
    /// All the changes it lacks.
    pub fn all(sizes: I) -> Lacking<I> {
        Lacking { sizes, more: false }
    }
}

/// How much of what a peer lacks goes into one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// How many changes, from the front, to send.
    pub len: usize,
    /// Whether more follow.
    pub more: bool,
}

/// How far a peer that shares a document is from this replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerSync {
    /// It holds everything this replica holds, and nothing more.
    InSync,
    /// It lacks changes this replica holds.
    Behind,
    /// It holds changes this replica lacks (they are on their way).
    Ahead,
    /// It has not told its version yet.
    Unknown,
}

/// An outstanding request; a document with none for a peer is idle.
#[derive(Debug, Clone)]
struct Running {
    n: u64,
    /// A reason to ask that came up meanwhile, served once the answer is in.
    again: Option<Reason>,
}

/// What became of a presence that arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceVerdict {
    /// Shown, and forwarded.
    Forward,
    /// Shown, not forwarded: its sender sends too often.
    Shown,
    /// Dropped: no newer than one already seen from its sender (a replay).
    Stale,
    /// Dropped: the document already shows [`MAX_PRESENCES`] senders.
    Full,
}

#[derive(Debug, Clone)]
struct OwnPresence {
    presence: Presence,
    /// When it was last sent.
    sent: Option<Instant>,
    /// Whether it changed since.
    dirty: bool,
}

/// The sync protocol's state for every open document and every connected peer.
#[derive(Debug, Clone)]
pub struct State<P> {
    config: Config,
    docs: BTreeSet<DocId>,
    connected: BTreeSet<P>,
    /// Connected peers that proved they hold a document's key, by document.
    members: BTreeSet<(DocId, P)>,
    offline: bool,
    running: BTreeMap<(P, DocId), Running>,
    next_n: u64,
    /// The last version each peer is known to hold, per document.
    versions: BTreeMap<(DocId, P), VectorClock>,
    /// When the state was made: beacons start one interval later.
    started: Instant,
    /// When each document's next beacon round is due. Rounds are spread over the
    /// interval by document, so a device with many documents sends a steady trickle,
    /// not a burst every 30 s.
    beacon_due: BTreeMap<DocId, Instant>,
    /// Where each document's next beacon round starts among its members.
    beacon_turn: BTreeMap<DocId, usize>,
    /// Documents whose version a catch-up answer advanced since their last beacon
    /// round: their next round comes [`NEWS_GAP`] after the last one.
    news: BTreeSet<DocId>,
    /// When each document's last beacon round went out.
    last_round: BTreeMap<DocId, Instant>,
    own_presence: BTreeMap<DocId, OwnPresence>,
    /// Others' presence and when it arrived.
    presence: BTreeMap<(DocId, P), (Presence, Instant)>,
    /// Each sender's highest presence counter and when it came, kept for
    /// [`PRESENCE_MEMORY`] (longer than the presence itself, so a replay stays a replay).
    presence_counter: BTreeMap<(DocId, P), (u64, Instant)>,
    /// Gossiped bytes each author may still send now (a token bucket), and when it
    /// was last filled.
    author_budget: BTreeMap<(DocId, u64), (f64, Instant)>,
}

impl<P: Clone + Ord> State<P> {
    /// A state with no documents and no peers; the first beacons are due one interval
    /// after `now` or later.
    pub fn new(config: Config, now: Instant) -> State<P> {
        State {
            config,
            docs: BTreeSet::new(),
            connected: BTreeSet::new(),
            members: BTreeSet::new(),
            offline: false,
            running: BTreeMap::new(),
            next_n: 0,
            versions: BTreeMap::new(),
            started: now,
            beacon_due: BTreeMap::new(),
            beacon_turn: BTreeMap::new(),
            news: BTreeSet::new(),
            last_round: BTreeMap::new(),
            own_presence: BTreeMap::new(),
            presence: BTreeMap::new(),
            presence_counter: BTreeMap::new(),
            author_budget: BTreeMap::new(),
        }
    }

    // ----- documents and peers -------------------------------------------------------

    /// Starts syncing a document (at start, or one just created).
    pub fn open(&mut self, doc: DocId) {
        self.docs.insert(doc);
    }

    /// Stops syncing a document and forgets everything about it.
    pub fn remove(&mut self, doc: DocId) {
        self.docs.remove(&doc);
        self.running.retain(|(_, d), _| *d != doc);
        self.members.retain(|(d, _)| *d != doc);
        self.beacon_turn.remove(&doc);
        self.beacon_due.remove(&doc);
        self.news.remove(&doc);
        self.last_round.remove(&doc);
        self.versions.retain(|(d, _), _| *d != doc);
        self.own_presence.remove(&doc);
        self.presence.retain(|(d, _), _| *d != doc);
        self.presence_counter.retain(|(d, _), _| *d != doc);
    }

    /// Stops (or resumes) all traffic: offline, nothing is beaconed or sent as presence,
    /// subscriptions are not acted on and requests are not answered.
    pub fn set_offline(&mut self, on: bool) {
        self.offline = on;
    }

    /// A peer's first connection opened. Nothing is asked of it until it proves which
    /// documents it holds ([`State::member`]).
    pub fn peer_connected(&mut self, peer: P) {
        self.connected.insert(peer);
    }

    /// A peer's last connection closed: its answers cannot come any more, so its
    /// outstanding requests die, and its membership (and version) is proved afresh on
    /// the next connection, which catches up afresh.
    pub fn peer_disconnected(&mut self, peer: &P) {
        self.connected.remove(peer);
        self.running.retain(|(p, _), _| p != peer);
        self.members.retain(|(_, p)| p != peer);
        // What it held is learnt afresh on the next connection: the table holds
        // connected peers only.
        self.versions.retain(|(_, p), _| p != peer);
    }

    /// A connected peer proved it holds a document's key. The first proof on a
    /// connection catches up both ways: this side asks for what it lacks (the peer,
    /// which learns the same at the same time, asks for the rest). Proofs repeated
    /// on the same connection change nothing.
    pub fn member(&mut self, peer: P, doc: DocId) -> Vec<Out<P>> {
        if self.offline || !self.connected.contains(&peer) || !self.docs.contains(&doc) {
            return Vec::new();
        }
        if !self.members.insert((doc, peer.clone())) {
            return Vec::new();
        }
        self.ask(peer, doc, Reason::Connected).into_iter().collect()
    }

    /// Whether a connected peer proved it holds a document.
    pub fn is_member(&self, doc: DocId, peer: &P) -> bool {
        self.members.contains(&(doc, peer.clone()))
    }

    /// The connected peers that proved they hold a document.
    pub fn members(&self, doc: DocId) -> impl Iterator<Item = &P> + '_ {
        self.members.iter().filter(move |(d, _)| *d == doc).map(|(_, p)| p)
    }

    /// Every document each connected peer proved it holds, as (document, peer) pairs.
    pub fn memberships(&self) -> impl Iterator<Item = (DocId, &P)> + '_ {
        self.members.iter().map(|(d, p)| (*d, p))
    }

    /// Whether a catch-up request to `peer` is on its way or awaits its answer.
    pub fn is_asking(&self, peer: &P) -> bool {
        self.running.keys().any(|(p, _)| p == peer)
    }

    // ----- gossip --------------------------------------------------------------------

    /// A beacon from `origin` (relayed by `from`) tells its version of a document; if it
    /// holds changes this replica (at `ours`) lacks, `from` is asked for them.
    pub fn beacon(
        &mut self,
        from: P,
        origin: P,
        doc: DocId,
        clock: VectorClock,
        ours: &VectorClock,
    ) -> Vec<Out<P>> {
        if !self.docs.contains(&doc) {
            return Vec::new();
        }
        let ahead = !clock.le(ours);
        self.versions.insert((doc, origin), clock);
        if ahead { self.ask(from, doc, Reason::BeaconAhead).into_iter().collect() } else { Vec::new() }
    }

    /// A beacon from `origin` (relayed by `from`) too big to carry its version carried
    /// a digest of it instead; `same` tells whether it equals this replica's. A
    /// different one may hold changes this replica lacks, so `from` is asked.
    pub fn beacon_digest(&mut self, from: P, doc: DocId, same: bool) -> Vec<Out<P>> {
        if same || !self.docs.contains(&doc) {
            return Vec::new();
        }
        self.ask(from, doc, Reason::BeaconAhead).into_iter().collect()
    }

    /// Whether a gossiped change of `bytes` by `author` fits the author's rate
    /// ([`AUTHOR_RATE`] bytes a second, bursts of [`AUTHOR_BURST`]); if it does, it is
    /// counted. A change over the rate is dropped: catch-up, which this replica asks
    /// for at its own pace, brings it later.
    pub fn allow_change(&mut self, doc: DocId, author: u64, bytes: usize, now: Instant) -> bool {
        let (left, at) = self.author_budget.entry((doc, author)).or_insert((AUTHOR_BURST, now));
        *left = (*left + now.saturating_duration_since(*at).as_secs_f64() * AUTHOR_RATE).min(AUTHOR_BURST);
        *at = now;
        if (bytes as f64) > *left {
            return false;
        }
        *left -= bytes as f64;
        true
    }

    /// A gossiped change written by `origin` (relayed by `from`) was accepted; `last` is
    /// its last op. The author holds it; if it waits for deps, `from` is asked for them.
    pub fn change_received(
        &mut self,
        from: P,
        origin: P,
        doc: DocId,
        last: OpId,
        missing_deps: bool,
    ) -> Vec<Out<P>> {
        if let Some(v) = self.versions.get_mut(&(doc, origin)) {
            v.observe(last.replica, last.seq);
        }
        if missing_deps { self.ask(from, doc, Reason::MissingDeps).into_iter().collect() } else { Vec::new() }
    }

    /// A change made on this device was published: every peer known to hold its deps
    /// receives it by gossip (flood publish).
    pub fn local_change(&mut self, doc: DocId, change: &Change) {
        let last = change.end_seq() - 1;
        for ((d, _), v) in self.versions.iter_mut() {
            if *d == doc && change.deps.iter().all(|dep| v.contains(*dep)) {
                v.observe(change.author, last);
            }
        }
    }

    // ----- catch-up ------------------------------------------------------------------

    /// Asks `peer` for what this replica lacks of `doc`, unless a request is already
    /// outstanding: then the reason is remembered and served after the answer.
    fn ask(&mut self, peer: P, doc: DocId, reason: Reason) -> Option<Out<P>> {
        self.ask_from(peer, doc, reason, 0)
    }

    /// [`State::ask`], for the part of the version from author `from` on.
    fn ask_from(&mut self, peer: P, doc: DocId, reason: Reason, from: u64) -> Option<Out<P>> {
        if !self.members.contains(&(doc, peer.clone())) {
            return None;
        }
        let key = (peer, doc);
        if let Some(r) = self.running.get_mut(&key) {
            r.again.get_or_insert(reason);
            return None;
        }
        self.next_n += 1;
        let n = self.next_n;
        self.running.insert(key.clone(), Running { n, again: None });
        Some(Out::Request(Request { peer: key.0, doc, reason, from, n }))
    }

    /// Ends `req` if it is the outstanding one; returns the reason to ask again, if any.
    /// `None` for a request that is not outstanding any more (it died with the
    /// connection or the document).
    fn finish(&mut self, req: &Request<P>) -> Option<Option<Reason>> {
        let key = (req.peer.clone(), req.doc);
        match self.running.get(&key) {
            Some(r) if r.n == req.n => self.running.remove(&key).map(|r| r.again),
            _ => None,
        }
    }

    /// The answer to `req` arrived (and its changes were applied). More to come is
    /// asked for at once, as long as the last chunk made progress; a reason to ask that
    /// came up meanwhile is served now. Progress is news: the document's next beacon
    /// round comes [`NEWS_GAP`] after its last one.
    pub fn response(&mut self, req: &Request<P>, reply: Reply) -> Vec<Out<P>> {
        if matches!(reply, Reply::Changes { progress: true, .. }) && self.docs.contains(&req.doc) {
            self.news.insert(req.doc);
        }
        let Some(again) = self.finish(req) else { return Vec::new() };
        let (reason, from) = match reply {
            Reply::Changes { more: true, progress: true, .. } => (Some(Reason::More), req.from),
            // The next part of the version; a reason to ask that came up meanwhile
            // waits until the whole version was asked about.
            Reply::Changes { next: Some(next), .. } => {
                let out = self.ask_from(req.peer.clone(), req.doc, Reason::More, next);
                if let Some(r) = again.filter(|_| out.is_some()) {
                    self.running.get_mut(&(req.peer.clone(), req.doc)).map(|run| run.again.get_or_insert(r));
                }
                return out.into_iter().collect();
            }
            Reply::Changes { .. } => (again, 0),
            // The peer does not have the document: asking again would get the same.
            Reply::Refused => (None, 0),
        };
        reason.and_then(|r| self.ask_from(req.peer.clone(), req.doc, r, from)).into_iter().collect()
    }

    /// `req` was lost. It is asked again while the peer stays connected if its
    /// connection closed (another connection to the peer, e.g. when both dialled at
    /// once, carries it) or if another reason to ask came up meanwhile.
    pub fn request_failed(&mut self, req: &Request<P>, lost: Lost) -> Vec<Out<P>> {
        let Some(again) = self.finish(req) else { return Vec::new() };
        let reason = match (again, lost) {
            (Some(r), _) => Some(r),
            (None, Lost::ConnectionClosed) => Some(Reason::ConnectionLost),
            (None, Lost::Other) => None,
        };
        match reason {
            Some(r) if self.connected.contains(&req.peer) => {
                self.ask(req.peer.clone(), req.doc, r).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// The part of `version` a request starting at author `from` carries: the entries
    /// of authors `from..`, at most [`Config::page_entries`] of them, and the first
    /// author of the next part (`None` when this part reaches the end).
    pub fn page(&self, version: &VectorClock, from: u64) -> (VectorClock, Option<u64>) {
        let mut part = VectorClock::new();
        let mut rest = version.iter().filter(|(r, _)| r.0 >= from);
        for (r, seq) in rest.by_ref().take(self.config.page_entries.max(1)) {
            part.set(r, seq);
        }
        (part, rest.next().map(|(r, _)| r.0))
    }

    /// A peer asks for what it lacks of `doc`, holding `clock`; `lacking` has the byte
    /// sizes of the changes it lacks, in the order they would be sent, and `ours` is this
    /// replica's version. `whole` is false when the request carried only a page of
    /// the peer's version (its other authors are not known from it). Returns how many
    /// to send now, or `None` if the request is refused (the document is not here, or
    /// this device is offline).
    pub fn answer(
        &mut self,
        peer: P,
        doc: DocId,
        clock: VectorClock,
        whole: bool,
        lacking: Lacking<impl IntoIterator<Item = usize>>,
        ours: &VectorClock,
    ) -> Option<Chunk> {
        if self.offline || !self.members.contains(&(doc, peer.clone())) {
            return None;
        }
        let mut version = clock;
        let (mut len, mut more, mut size) = (0, false, 0);
        for s in lacking.sizes {
            // The first change always goes, so that a change larger than a chunk passes.
            if size > 0 && size + s > self.config.chunk_bytes {
                more = true;
                break;
            }
            size += s + CHANGE_OVERHEAD;
            len += 1;
        }
        more |= lacking.more;
        if !whole {
            return Some(Chunk { len, more });
        }
        if !more {
            // It is sent everything this replica holds.
            version.merge(ours);
        }
        self.versions.insert((doc, peer), version);
        Some(Chunk { len, more })
    }

    /// Bytes of changes per catch-up response.
    pub fn chunk_bytes(&self) -> usize {
        self.config.chunk_bytes
    }

    // ----- versions ------------------------------------------------------------------

    /// How far a peer is from this replica (at `ours`) in a document.
    pub fn peer_sync(&self, doc: DocId, peer: &P, ours: &VectorClock) -> PeerSync {
        match self.versions.get(&(doc, peer.clone())) {
            None => PeerSync::Unknown,
            Some(v) if !v.le(ours) => PeerSync::Ahead,
            Some(v) if ours.le(v) => PeerSync::InSync,
            Some(_) => PeerSync::Behind,
        }
    }

    // ----- time ----------------------------------------------------------------------

    /// Time passed: forgets presences that went quiet, and beacons every document once
    /// an interval has passed since the last beacons (anti-entropy; [`NEWS_GAP`] when a
    /// catch-up answer brought something new), and sends own
    /// presences that changed or need a keepalive. Call it often (the engine does every
    /// 100 ms, the shortest gap between two presence updates).
    pub fn tick(&mut self, now: Instant) -> Vec<Out<P>> {
        self.presence.retain(|_, (_, at)| now.saturating_duration_since(*at) < PRESENCE_TTL);
        self.presence_counter.retain(|_, (_, at)| now.saturating_duration_since(*at) < PRESENCE_MEMORY);
        // A full bucket is the same as none.
        self.author_budget.retain(|_, (left, at)| {
            *left + now.saturating_duration_since(*at).as_secs_f64() * AUTHOR_RATE < AUTHOR_BURST
        });
        let mut out = Vec::new();
        let interval = self.config.beacon_interval;
        let docs: Vec<DocId> = self.docs.iter().copied().collect();
        for doc in docs {
            // The document's place in the interval, from its id (random bytes).
            let first = self.started + interval + interval.mul_f64(f64::from(doc.0[15]) / 256.0);
            let due = self.beacon_due.entry(doc).or_insert(first);
            if self.news.contains(&doc) {
                *due = (*due).min(self.last_round.get(&doc).map_or(now, |&last| last + NEWS_GAP));
            }
            if *due > now {
                continue;
            }
            while *due <= now {
                *due += interval;
            }
            self.news.remove(&doc);
            self.last_round.insert(doc, now);
            if !self.offline {
                out.extend(self.beacon_round(doc));
            }
        }
        out.extend(self.presence_due(now));
        out
    }

    /// One beacon round of a document: up to [`BEACON_FANOUT`] members, taking turns.
    fn beacon_round(&mut self, doc: DocId) -> Vec<Out<P>> {
        let members: Vec<P> = self.members(doc).cloned().collect();
        if members.is_empty() {
            return Vec::new();
        }
        let turn = self.beacon_turn.entry(doc).or_insert(0);
        let start = *turn % members.len();
        let n = BEACON_FANOUT.min(members.len());
        *turn = start + n;
        (0..n).map(|i| Out::Beacon(doc, members[(start + i) % members.len()].clone())).collect()
    }

    /// Beacons to every member of a document at once (a change too big for gossip was
    /// made: they learn of it now, not at the next round).
    pub fn beacon_all(&self, doc: DocId) -> Vec<Out<P>> {
        if self.offline {
            return Vec::new();
        }
        self.members(doc).map(|p| Out::Beacon(doc, p.clone())).collect()
    }

    // ----- presence ------------------------------------------------------------------

    /// Replaces own presence in a document; it is sent now unless one was sent less
    /// than [`PRESENCE_MIN_GAP`] ago (then a later tick sends it).
    pub(crate) fn set_presence(&mut self, doc: DocId, presence: Presence, now: Instant) -> Vec<Out<P>> {
        if !self.docs.contains(&doc) {
            return Vec::new();
        }
        let sent = self.own_presence.get(&doc).and_then(|p| p.sent);
        self.own_presence.insert(doc, OwnPresence { presence, sent, dirty: true });
        self.presence.retain(|_, (_, at)| now.saturating_duration_since(*at) < PRESENCE_TTL);
        self.presence_due(now)
    }

    fn presence_due(&mut self, now: Instant) -> Vec<Out<P>> {
        if self.offline {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (doc, p) in &mut self.own_presence {
            let due = match p.sent {
                None => true,
                Some(t) => {
                    let since = now.saturating_duration_since(t);
                    (p.dirty && since >= PRESENCE_MIN_GAP) || since >= PRESENCE_KEEPALIVE
                }
            };
            if due && self.docs.contains(doc) {
                out.push(Out::Presence(*doc, p.presence.clone()));
                p.sent = Some(now);
                p.dirty = false;
            }
        }
        out
    }

    /// A peer's presence arrived, signed by `peer` with its `counter`. A presence no
    /// newer than one already seen from that sender is a replay and dropped; a peer
    /// flooding updates (faster than half of [`PRESENCE_MIN_GAP`]) is still shown, not
    /// forwarded; a new sender beyond [`MAX_PRESENCES`] in the document is dropped.
    pub(crate) fn presence_received(
        &mut self,
        doc: DocId,
        peer: P,
        counter: u64,
        presence: Presence,
        now: Instant,
    ) -> PresenceVerdict {
        let key = (doc, peer);
        match self.presence_counter.get(&key) {
            Some((last, at)) if *last >= counter && now.saturating_duration_since(*at) < PRESENCE_MEMORY => {
                return PresenceVerdict::Stale;
            }
            Some(_) => {}
            None => {
                let held = self.presence_counter.keys().filter(|(d, _)| *d == doc).count();
                if held >= MAX_PRESENCES {
                    return PresenceVerdict::Full;
                }
            }
        }
        self.presence_counter.insert(key.clone(), (counter, now));
        let flooding = self
            .presence
            .get(&key)
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) < PRESENCE_MIN_GAP / 2);
        self.presence.insert(key, (presence, now));
        if flooding { PresenceVerdict::Shown } else { PresenceVerdict::Forward }
    }

    /// Others' presences in a document that have not gone quiet, by peer.
    pub(crate) fn presences(&self, doc: DocId, now: Instant) -> impl Iterator<Item = (&P, &Presence)> + '_ {
        self.presence
            .iter()
            .filter(move |((d, _), (_, at))| *d == doc && now.saturating_duration_since(*at) < PRESENCE_TTL)
            .map(|((_, peer), (p, _))| (peer, p))
    }

    /// A peer's last presence in a document.
    pub(crate) fn presence_of(&self, doc: DocId, peer: &P) -> Option<&Presence> {
        self.presence.get(&(doc, peer.clone())).map(|(p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_crdt::{Anchor, Bias, ReplicaId};

    const DOC: DocId = DocId([1; 16]);
    const OTHER: DocId = DocId([2; 16]);

    fn clock(entries: &[(u64, u64)]) -> VectorClock {
        entries.iter().map(|&(r, s)| (ReplicaId(r), s)).collect()
    }

    fn presence(name: &str) -> Presence {
        Presence {
            name: name.into(),
            colour: 1,
            cursor: Anchor { id: None, bias: Bias::Before },
            selection: None,
        }
    }

    /// A state at `t0` with `DOC` open and peer 1 connected, its first request answered.
    fn connected(t0: Instant) -> State<u32> {
        let mut s = State::new(Config::default(), t0);
        s.open(DOC);
        s.peer_connected(1);
        let out = s.member(1, DOC);
        let req = request(&out[0]);
        assert!(s.response(&req, Reply::Changes { more: false, progress: false, next: None }).is_empty());
        s
    }

    /// A beacon from peer 1 showing changes this replica lacks: a reason to ask it.
    fn ahead(s: &mut State<u32>) -> Vec<Out<u32>> {
        s.beacon(1, 1, DOC, clock(&[(9, 1)]), &VectorClock::new())
    }

    fn request(out: &Out<u32>) -> Request<u32> {
        match out {
            Out::Request(r) => r.clone(),
            other => panic!("not a request: {other:?}"),
        }
    }

    /// Checks outputs against `(kind, peer, reason)` triples: kind `r` (request),
    /// `b` (beacon) or `p` (presence).
    fn check(out: &[Out<u32>], expected: &[(char, u32, Option<Reason>)]) {
        let got: Vec<(char, u32, Option<Reason>)> = out
            .iter()
            .map(|o| match o {
                Out::Request(r) => ('r', r.peer, Some(r.reason)),
                Out::Beacon(_, peer) => ('b', *peer, None),
                Out::Presence(..) => ('p', 0, None),
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn an_author_gossiping_over_its_rate_is_held_back() {
        let t0 = Instant::now();
        let mut s: State<u32> = State::new(Config::default(), t0);
        let burst = AUTHOR_BURST as usize;
        assert!(s.allow_change(DOC, 7, burst, t0), "a full burst passes");
        assert!(!s.allow_change(DOC, 7, 1024, t0), "then nothing, at once");
        assert!(s.allow_change(DOC, 8, 1024, t0), "another author has its own budget");
        assert!(s.allow_change(OTHER, 7, 1024, t0), "and so has another document");
        let later = t0 + Duration::from_secs(1);
        assert!(s.allow_change(DOC, 7, AUTHOR_RATE as usize, later), "a second refills the rate");
        assert!(!s.allow_change(DOC, 7, 1024, later));
        // Buckets that refilled are forgotten.
        s.tick(t0 + Duration::from_secs(60));
        assert!(s.author_budget.is_empty());
    }

    #[test]
    fn one_request_per_peer_and_document_and_ask_again_after_the_answer() {
        let t0 = Instant::now();
        let mut s = connected(t0);
        s.open(OTHER);
        let ahead = clock(&[(5, 3)]);
        let first = s.beacon(1, 1, DOC, ahead.clone(), &VectorClock::new());
        check(&first, &[('r', 1, Some(Reason::BeaconAhead))]);
        // More reasons while it is outstanding: none sends a second request.
        check(&s.beacon(1, 1, DOC, ahead, &VectorClock::new()), &[]);
        check(&s.change_received(1, 2, DOC, OpId::new(ReplicaId(5), 4), true), &[]);
        // A proof repeated on the connection asks nothing.
        check(&s.member(1, DOC), &[]);
        // Another document is asked for on its own, once proved.
        check(&s.beacon(1, 1, OTHER, clock(&[(5, 3)]), &VectorClock::new()), &[]);
        check(&s.member(1, OTHER), &[('r', 1, Some(Reason::Connected))]);
        // The answer serves the first remembered reason, once.
        let again =
            s.response(&request(&first[0]), Reply::Changes { more: false, progress: true, next: None });
        check(&again, &[('r', 1, Some(Reason::BeaconAhead))]);
        check(
            &s.response(&request(&again[0]), Reply::Changes { more: false, progress: true, next: None }),
            &[],
        );
        // Another peer is asked independently.
        s.peer_connected(2);
        check(&s.member(2, DOC), &[('r', 2, Some(Reason::Connected))]);
        check(&s.member(2, OTHER), &[('r', 2, Some(Reason::Connected))]);
    }

    #[test]
    fn more_is_asked_for_at_once_while_it_makes_progress() {
        let mut s = connected(Instant::now());
        let out = ahead(&mut s);
        check(&out, &[('r', 1, Some(Reason::BeaconAhead))]);
        let more = s.response(&request(&out[0]), Reply::Changes { more: true, progress: true, next: None });
        check(&more, &[('r', 1, Some(Reason::More))]);
        // A chunk that made no progress stops the continuation...
        check(
            &s.response(&request(&more[0]), Reply::Changes { more: true, progress: false, next: None }),
            &[],
        );
        // ...and a refusal drops a remembered reason too.
        let out = ahead(&mut s);
        check(&s.change_received(1, 1, DOC, OpId::new(ReplicaId(5), 1), true), &[]);
        check(&s.response(&request(&out[0]), Reply::Refused), &[]);
    }

    #[test]
    fn a_request_lost_with_a_closed_connection_is_asked_again_while_the_peer_stays_connected() {
        let mut s = connected(Instant::now());
        let out = ahead(&mut s);
        let again = s.request_failed(&request(&out[0]), Lost::ConnectionClosed);
        check(&again, &[('r', 1, Some(Reason::ConnectionLost))]);
        // A timeout is not retried by itself...
        check(&s.request_failed(&request(&again[0]), Lost::Other), &[]);
        // ...but a reason that came up meanwhile is.
        let out = ahead(&mut s);
        check(&s.beacon(1, 1, DOC, clock(&[(5, 1)]), &VectorClock::new()), &[]);
        check(&s.request_failed(&request(&out[0]), Lost::Other), &[('r', 1, Some(Reason::BeaconAhead))]);
    }

    #[test]
    fn requests_die_with_the_last_connection() {
        let mut s = connected(Instant::now());
        let out = ahead(&mut s);
        check(&s.beacon(1, 1, DOC, clock(&[(5, 1)]), &VectorClock::new()), &[]);
        s.peer_disconnected(&1);
        // The next connection asks afresh at once, once the peer proves membership
        // again, even before the loss is reported...
        s.peer_connected(1);
        check(&ahead(&mut s), &[]);
        let fresh = s.member(1, DOC);
        check(&fresh, &[('r', 1, Some(Reason::Connected))]);
        // ...and what arrives for the dead request later does nothing.
        check(&s.request_failed(&request(&out[0]), Lost::ConnectionClosed), &[]);
        check(&s.response(&request(&out[0]), Reply::Changes { more: true, progress: true, next: None }), &[]);
        check(&s.request_failed(&request(&out[0]), Lost::ConnectionClosed), &[]);
        check(
            &s.response(&request(&fresh[0]), Reply::Changes { more: false, progress: true, next: None }),
            &[],
        );
        // Disconnected, nothing is asked of the peer.
        s.peer_disconnected(&1);
        check(&s.member(1, DOC), &[]);
        check(&ahead(&mut s), &[]);
    }

    #[test]
    fn only_members_are_asked_or_answered() {
        let t0 = Instant::now();
        let mut s: State<u32> = State::new(Config::default(), t0);
        s.open(DOC);
        s.peer_connected(1);
        // Connected, but not proved: a beacon it relays, a change it forwards with
        // missing deps and a catch-up request from it all go unanswered.
        check(&ahead(&mut s), &[]);
        check(&s.change_received(1, 1, DOC, OpId::new(ReplicaId(5), 4), true), &[]);
        assert_eq!(s.answer(1, DOC, VectorClock::new(), true, Lacking::all([10]), &VectorClock::new()), None);
        assert!(!s.is_member(DOC, &1));
        // A document this replica does not hold is never proved.
        check(&s.member(1, OTHER), &[]);
        check(&s.member(1, DOC), &[('r', 1, Some(Reason::Connected))]);
        assert!(s.is_member(DOC, &1));
        assert_eq!(s.members(DOC).collect::<Vec<_>>(), vec![&1]);
        assert_eq!(s.members(OTHER).count(), 0);
        assert!(
            s.answer(1, DOC, VectorClock::new(), true, Lacking::all([10]), &VectorClock::new()).is_some()
        );
        // Offline, a proof is not acted on.
        let mut s: State<u32> = State::new(Config::default(), t0);
        s.open(DOC);
        s.peer_connected(1);
        s.set_offline(true);
        check(&s.member(1, DOC), &[]);
        // A peer that is not connected cannot prove anything.
        s.set_offline(false);
        check(&s.member(2, DOC), &[]);
    }

    #[test]
    fn answers_are_chunked_and_a_full_answer_brings_the_peer_in_sync() {
        let mut s: State<u32> = State::new(Config { chunk_bytes: 100, ..Config::default() }, Instant::now());
        assert_eq!(s.answer(1, DOC, VectorClock::new(), true, Lacking::all([10]), &VectorClock::new()), None);
        s.open(DOC);
        s.peer_connected(1);
        s.member(1, DOC);
        let ours = clock(&[(5, 9)]);
        let theirs = clock(&[(5, 2), (6, 1)]);
        let chunk = s.answer(1, DOC, theirs.clone(), true, Lacking::all([40, 40, 40]), &ours);
        assert_eq!(chunk, Some(Chunk { len: 2, more: true }));
        assert_eq!(s.peer_sync(DOC, &1, &ours), PeerSync::Ahead);
        // The first change goes even when it alone is over the chunk.
        assert_eq!(
            s.answer(1, DOC, theirs.clone(), true, Lacking::all([500, 1]), &ours),
            Some(Chunk { len: 1, more: true })
        );
        assert_eq!(
            s.answer(1, DOC, theirs.clone(), true, Lacking::all([40]), &ours),
            Some(Chunk { len: 1, more: false })
        );
        // The peer was sent everything: it holds what this replica holds, and its own.
        assert_eq!(s.peer_sync(DOC, &1, &ours), PeerSync::Ahead);
        assert_eq!(s.peer_sync(DOC, &1, &clock(&[(5, 9), (6, 1)])), PeerSync::InSync);
        assert_eq!(s.peer_sync(DOC, &2, &ours), PeerSync::Unknown);
        s.set_offline(true);
        assert_eq!(s.answer(1, DOC, VectorClock::new(), true, Lacking::all([1]), &ours), None);
        // The store read one chunk and more follow: "more", and the peer is not taken
        // to hold everything yet.
        s.set_offline(false);
        s.remove(DOC);
        s.open(DOC);
        s.member(1, DOC);
        assert_eq!(
            s.answer(1, DOC, theirs.clone(), true, Lacking { sizes: [40], more: true }, &ours),
            Some(Chunk { len: 1, more: true })
        );
        assert_ne!(s.peer_sync(DOC, &1, &ours), PeerSync::InSync);
    }

    #[test]
    fn peer_versions_follow_beacons_received_and_sent_changes() {
        let mut s = connected(Instant::now());
        let ours = clock(&[(5, 3)]);
        s.beacon(1, 1, DOC, clock(&[(5, 3)]), &ours);
        assert_eq!(s.peer_sync(DOC, &1, &ours), PeerSync::InSync);
        // A local change on top of what the peer holds reaches it by gossip.
        let mut doc = tandem_crdt::Doc::new(ReplicaId(5));
        doc.insert(0, "abc").unwrap();
        let first = doc.commit().unwrap();
        doc.insert(0, "d").unwrap();
        let second = doc.commit().unwrap();
        s.beacon(1, 1, DOC, first.deps.iter().map(|d| (d.replica, d.seq)).collect(), &ours);
        s.local_change(DOC, &first);
        assert_eq!(s.peer_sync(DOC, &1, doc.version()), PeerSync::Behind);
        s.local_change(DOC, &second);
        assert_eq!(s.peer_sync(DOC, &1, doc.version()), PeerSync::InSync);
        // A change the peer wrote: it holds it.
        let theirs = clock(&[(5, 4), (7, 2)]);
        s.change_received(1, 1, DOC, OpId::new(ReplicaId(7), 2), false);
        assert_eq!(s.peer_sync(DOC, &1, &theirs), PeerSync::InSync);
        s.remove(DOC);
        assert_eq!(s.peer_sync(DOC, &1, &theirs), PeerSync::Unknown);
        // A peer that left is forgotten: the table holds connected peers only.
        let mut s = connected(Instant::now());
        s.beacon(1, 1, DOC, clock(&[(5, 3)]), &ours);
        s.peer_disconnected(&1);
        assert_eq!(s.peer_sync(DOC, &1, &ours), PeerSync::Unknown);
        assert!(s.versions.is_empty());
    }

    #[test]
    fn beacons_every_interval_but_not_offline() {
        let t0 = Instant::now();
        let mut s = connected(t0);
        let mut out = s.tick(t0 + Duration::from_secs(29));
        assert!(out.is_empty());
        out = s.tick(t0 + Duration::from_secs(31));
        check(&out, &[('b', 1, None)]);
        assert!(s.tick(t0 + Duration::from_secs(32)).is_empty());
        s.set_offline(true);
        assert!(s.tick(t0 + Duration::from_secs(60)).is_empty());
        check(&s.beacon_all(DOC), &[]);
        s.set_offline(false);
        check(&s.tick(t0 + Duration::from_secs(95)), &[('b', 1, None)]);
        check(&s.beacon_all(DOC), &[('b', 1, None)]);
    }

    #[test]
    fn documents_beacon_spread_over_the_interval() {
        let t0 = Instant::now();
        let mut s: State<u32> = State::new(Config::default(), t0);
        let mut late = [0; 16];
        late[15] = 128;
        let (early, late) = (DocId([0; 16]), DocId(late));
        for d in [early, late] {
            s.open(d);
        }
        s.peer_connected(1);
        s.member(1, early);
        s.member(1, late);
        let beaconed = |out: Vec<Out<u32>>| {
            out.into_iter()
                .filter_map(|o| match o {
                    Out::Beacon(d, _) => Some(d),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(beaconed(s.tick(t0 + Duration::from_secs(30))), vec![early]);
        assert_eq!(beaconed(s.tick(t0 + Duration::from_secs(40))), vec![]);
        assert_eq!(beaconed(s.tick(t0 + Duration::from_secs(45))), vec![late]);
        assert_eq!(beaconed(s.tick(t0 + Duration::from_secs(60))), vec![early]);
    }

    #[test]
    fn what_a_catch_up_brings_is_beaconed_within_a_second_not_a_round() {
        let t0 = Instant::now();
        let mut s: State<u32> = State::new(Config::default(), t0);
        s.open(DOC);
        let mut asks = Vec::new();
        for p in 1..=3 {
            s.peer_connected(p);
            asks.extend(s.member(p, DOC).into_iter().filter_map(|o| match o {
                Out::Request(r) => Some(r),
                _ => None,
            }));
        }
        assert_eq!(asks.len(), 3, "each new member is asked");
        let beacons = |out: Vec<Out<u32>>| out.iter().filter(|o| matches!(o, Out::Beacon(..))).count();
        // A regular round (found by ticking), then quiet until the next one, an
        // interval later.
        let mut round = t0 + BEACON_INTERVAL * 2;
        s.tick(round);
        loop {
            round += Duration::from_millis(100);
            if beacons(s.tick(round)) > 0 {
                break;
            }
            assert!(round < t0 + BEACON_INTERVAL * 4, "a round every interval");
        }
        // An answer that brought nothing new is no news.
        s.response(&asks[0], Reply::Changes { more: false, progress: false, next: None });
        assert_eq!(beacons(s.tick(round + NEWS_GAP * 2)), 0);
        // One that did: the members hear a second after the last round.
        s.response(&asks[1], Reply::Changes { more: false, progress: true, next: None });
        assert_eq!(beacons(s.tick(round + NEWS_GAP * 2 + Duration::from_millis(100))), 3);
        // Once: without more news the next round is a whole interval later.
        assert_eq!(beacons(s.tick(round + NEWS_GAP * 5)), 0);
        // News right after a round waits out the gap.
        let last = round + NEWS_GAP * 2 + Duration::from_millis(100);
        s.response(&asks[2], Reply::Changes { more: false, progress: true, next: None });
        assert_eq!(beacons(s.tick(last + NEWS_GAP / 2)), 0, "not sooner than the gap after the last round");
        assert_eq!(beacons(s.tick(last + NEWS_GAP)), 3);
    }

    #[test]
    fn each_round_beacons_a_few_members_in_turn() {
        let t0 = Instant::now();
        let mut s: State<u32> = State::new(Config::default(), t0);
        s.open(DOC);
        let n = BEACON_FANOUT as u32 * 2 + 3;
        for p in 1..=n {
            s.peer_connected(p);
            s.member(p, DOC);
        }
        // A connected peer that proved nothing is never beaconed.
        s.peer_connected(100);
        let mut heard = std::collections::BTreeMap::new();
        for round in 1..=3u32 {
            let out = s.tick(t0 + BEACON_INTERVAL * round + Duration::from_secs(1));
            assert_eq!(out.len(), BEACON_FANOUT, "round {round}");
            for o in out {
                let Out::Beacon(_, p) = o else { panic!("{o:?}") };
                *heard.entry(p).or_insert(0) += 1;
            }
        }
        // Three rounds of eight reach all nineteen members, none more than twice.
        assert_eq!(heard.len(), n as usize);
        assert!(heard.values().all(|&k| k <= 2), "{heard:?}");
        assert!(!heard.contains_key(&100));
    }

    #[test]
    fn own_presence_is_rate_limited_and_kept_alive() {
        let t0 = Instant::now();
        let mut s = connected(t0);
        let ms = Duration::from_millis;
        check(&s.set_presence(DOC, presence("a"), t0), &[('p', 0, None)]);
        // A change within the gap waits for a tick after it.
        check(&s.set_presence(DOC, presence("b"), t0 + ms(50)), &[]);
        check(&s.tick(t0 + ms(60)), &[]);
        assert_eq!(s.tick(t0 + ms(100)), vec![Out::Presence(DOC, presence("b"))]);
        check(&s.tick(t0 + ms(5000)), &[]);
        check(&s.tick(t0 + ms(10_100)), &[('p', 0, None)]);
        check(&s.set_presence(OTHER, presence("c"), t0), &[]);
        s.set_offline(true);
        check(&s.set_presence(DOC, presence("d"), t0 + ms(20_000)), &[]);
        s.set_offline(false);
        check(&s.tick(t0 + ms(20_000)), &[('p', 0, None)]);
    }

    #[test]
    fn others_presence_expires_and_floods_are_not_forwarded() {
        let t0 = Instant::now();
        let mut s = connected(t0);
        let ms = Duration::from_millis;
        use PresenceVerdict::*;
        assert_eq!(s.presence_received(DOC, 1, 1, presence("a"), t0), Forward);
        assert_eq!(s.presence_received(DOC, 1, 2, presence("b"), t0 + ms(10)), Shown);
        assert_eq!(s.presence_received(DOC, 1, 5, presence("c"), t0 + ms(70)), Forward);
        assert_eq!(s.presence_received(DOC, 2, 1, presence("d"), t0 + ms(75)), Forward);
        // Replays of older (or the same) counters change nothing.
        assert_eq!(s.presence_received(DOC, 1, 5, presence("old"), t0 + ms(90)), Stale);
        assert_eq!(s.presence_received(DOC, 1, 2, presence("old"), t0 + ms(95)), Stale);
        let names =
            |s: &State<u32>, at| s.presences(DOC, at).map(|(p, x)| (*p, x.name.clone())).collect::<Vec<_>>();
        assert_eq!(names(&s, t0 + ms(100)), vec![(1, "c".to_owned()), (2, "d".to_owned())]);
        assert_eq!(s.presence_of(DOC, &1).map(|p| p.name.as_str()), Some("c"));
        assert_eq!(names(&s, t0 + ms(30_071)), vec![(2, "d".to_owned())]);
        s.tick(t0 + ms(30_080));
        assert_eq!(s.presence_of(DOC, &1), None);
        assert_eq!(s.presence_of(DOC, &2), None);
        // Gone quiet, its counter is still remembered: a replay does not bring it back.
        assert_eq!(s.presence_received(DOC, 1, 5, presence("old"), t0 + ms(40_000)), Stale);
        assert_eq!(s.presence_of(DOC, &1), None);
        assert_eq!(s.presence_received(DOC, 1, 6, presence("e"), t0 + ms(40_001)), Forward);
        // Forgotten after PRESENCE_MEMORY.
        let later = t0 + PRESENCE_MEMORY + ms(50_000);
        s.tick(later);
        assert_eq!(s.presence_received(DOC, 2, 1, presence("f"), later), Forward);
    }

    #[test]
    fn a_document_shows_a_bounded_number_of_senders() {
        let t0 = Instant::now();
        let mut s = connected(t0);
        for peer in 0..MAX_PRESENCES as u32 {
            assert_eq!(s.presence_received(DOC, 100 + peer, 1, presence("x"), t0), PresenceVerdict::Forward);
        }
        assert_eq!(s.presence_received(DOC, 99, 1, presence("x"), t0), PresenceVerdict::Full);
        // Another document has room of its own, and known senders still update.
        assert_eq!(s.presence_received(OTHER, 99, 1, presence("x"), t0), PresenceVerdict::Forward);
        assert_eq!(
            s.presence_received(DOC, 100, 2, presence("y"), t0 + Duration::from_secs(1)),
            PresenceVerdict::Forward
        );
        // Once they go quiet for good, there is room again.
        let later = t0 + PRESENCE_MEMORY + Duration::from_secs(1);
        s.tick(later);
        assert_eq!(s.presence_received(DOC, 99, 1, presence("x"), later), PresenceVerdict::Forward);
    }
}
