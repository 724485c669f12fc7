//! Catch-up over `/tandem/sync/3` and receiving changes.
//!
//! Requests: the sync state decides when to ask and how much of an answer to send
//! ([`crate::sync::State::answer`]); this module reads the store, seals the answer and
//! reports outcomes (an answer, a lost request) back to the sync state.
//!
//! Receiving: each change is verified and applied ([`Engine::accept`]), then the ones
//! the document now holds are stored, forwarded to an attached view and announced
//! ([`Engine::store_received`]). A catch-up response stores all its changes in one
//! group commit: storing them one at a time (as a gossiped change is) cost one fsync
//! per change, and 10,000 missed keystrokes took 12 s to catch up, nearly all of it
//! waiting on disk. An answer is taken in a slice of time at a time ([`Engine::take_in`],
//! one group commit per slice), so that the engine answers commands and other peers
//! while a long one goes in.

use super::handle::Event;
use super::swarm::with_peer;
use super::{Engine, name_of};
use crate::codec::MAX_RESPONSE;
use crate::error::Refused;
use crate::sync::{self, Lacking, Lost, Reply};
use crate::wire;
use libp2p::PeerId;
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId};
use std::time::{Duration, Instant};
use tandem_crdt::{Change, encoding};
use tandem_storage::{Append, Authors, DocId, SignedChange, check_seal};
use tracing::{debug, warn};

// A full chunk and its framing fit in one response.
const _: () = assert!(sync::CHUNK_BYTES <= MAX_RESPONSE / 4);

/// How long the engine takes in a catch-up answer's changes before it turns to what
/// else waits (a command, a gossiped change, another peer's answer). An answer holds up
/// to a chunk of changes, and some shapes of them (thousands of concurrent writers at
/// one place) took seconds to apply: the engine answered nothing meanwhile.
const INTAKE_SLICE: Duration = Duration::from_millis(20);

/// A catch-up answer whose changes are being taken in ([`Engine::take_in`]).
#[derive(Debug)]
pub(super) struct Incoming {
    req: sync::Request<PeerId>,
    /// Where the next page of the version starts, when the request carried only part.
    next: Option<u64>,
    /// The peer has more for this request.
    more: bool,
    /// The changes not yet taken in.
    changes: std::vec::IntoIter<SignedChange>,
    /// Whether a change taken in so far was new here.
    progress: bool,
}

/// Catch-up answers waiting to be taken in, in turn.
pub(super) type Intake = Turns<Incoming>;

/// Work taken a slice at a time, in turn, between the engine's other work.
#[derive(Debug)]
pub(super) struct Turns<T> {
    queue: std::collections::VecDeque<T>,
    /// When the last slice ended.
    last: Option<Instant>,
}

impl<T> Default for Turns<T> {
    fn default() -> Self {
        Turns { queue: Default::default(), last: None }
    }
}

impl<T> Turns<T> {
    /// Whether work waits.
    pub(super) fn is_waiting(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Whether work waits and the engine did other work for a slice's time since the
    /// last slice ended (at `now`): then a slice goes before anything else that is
    /// ready, so a busy swarm (a hundred peers' gossip and heartbeats) cannot starve
    /// catch-up, and catch-up gets at most half of the engine's time.
    pub(super) fn is_due(&self, now: Instant) -> bool {
        self.is_waiting() && self.last.is_none_or(|t| now.saturating_duration_since(t) >= INTAKE_SLICE)
    }

    /// Adds work, to be taken in after the work that waits.
    fn push(&mut self, work: T) {
        self.queue.push_back(work);
    }

    /// The next work, for a slice.
    fn take(&mut self) -> Option<T> {
        self.queue.pop_front()
    }

    /// A slice ended at `now`; `rest`, when some work of it remains, waits its turn.
    fn slice_ended(&mut self, now: Instant, rest: Option<T>) {
        self.last = Some(now);
        self.queue.extend(rest);
    }
}

/// Catch-up requests outstanding to one peer at once, at most; more wait their turn
/// (the peer accepts only so many streams at once, and refuses the rest: a device with
/// 1,000 documents would lose most of its first catch-ups).
const MAX_ASKS_IN_FLIGHT: usize = 32;

/// Catch-up requests in flight and waiting, by peer.
#[derive(Debug, Default)]
pub(super) struct Asks {
    in_flight: std::collections::HashMap<PeerId, usize>,
    waiting: std::collections::HashMap<PeerId, std::collections::VecDeque<sync::Request<PeerId>>>,
}

impl Asks {
    /// Forgets a peer whose last connection closed (its requests died with it).
    pub(super) fn disconnected(&mut self, peer: &PeerId) {
        self.in_flight.remove(peer);
        self.waiting.remove(peer);
    }
}

/// Received changes the document holds, in the order to store them.
type Ready = Vec<(Change, SignedChange)>;

/// Received changes whose write finished, well or not.
pub(super) struct Stored {
    doc: DocId,
    changes: Vec<Change>,
    res: Result<(), tandem_storage::Error>,
}

/// Writes of received changes in progress.
pub(super) type Storing = futures::stream::FuturesUnordered<futures::future::BoxFuture<'static, Stored>>;

/// A catch-up answer being read from the store (on the store's thread; the engine
/// goes on meanwhile), with what is needed to finish it.
pub(super) struct Served {
    peer: PeerId,
    doc: DocId,
    cipher: crate::crypto::DocCipher,
    ask: wire::Ask,
    /// This replica's version when the request came (the page was read after).
    ours: tandem_crdt::VectorClock,
    channel: request_response::ResponseChannel<Vec<u8>>,
    page: Result<(Vec<SignedChange>, bool), tandem_storage::Error>,
}

/// Catch-up answers being read.
pub(super) type Serving = futures::stream::FuturesUnordered<futures::future::BoxFuture<'static, Served>>;

/// What accepting one received change did.
struct Accepted {
    /// The received changes now applied (this one and any that waited for it, in
    /// arrival order, which respects causality).
    ready: Ready,
    /// Whether this one waits for deps.
    buffered: bool,
    /// Whether this one was new here (neither held nor already waiting).
    new: bool,
}

impl Engine {
    /// Sends a catch-up request the sync state asked for, or queues it while
    /// [`MAX_ASKS_IN_FLIGHT`] are outstanding to the peer.
    pub(super) fn send_ask(&mut self, req: sync::Request<PeerId>) {
        let in_flight = self.asks.in_flight.entry(req.peer).or_insert(0);
        if *in_flight >= MAX_ASKS_IN_FLIGHT {
            self.asks.waiting.entry(req.peer).or_default().push_back(req);
            return;
        }
        let Some(d) = self.docs.get(&req.doc) else { return };
        *in_flight += 1;
        debug!("asking {} for {} ({:?})", req.peer, req.doc, req.reason);
        let (clock, until) = self.sync.page(&self.stored_version(req.doc, &d.doc), req.from);
        let ask = wire::Ask { clock, from: req.from, until };
        let me = self.swarm.local_peer_id().to_bytes();
        let bytes = wire::sync_request(&d.cipher, &ask, &me, &req.peer.to_bytes());
        let rid = self.swarm.behaviour_mut().sync.send_request(&req.peer, bytes);
        self.requests.insert(rid, (req, until));
    }

    /// A catch-up request to `peer` ended: the next waiting one goes.
    fn ask_done(&mut self, peer: PeerId) {
        if let Some(n) = self.asks.in_flight.get_mut(&peer) {
            *n = n.saturating_sub(1);
        }
        if let Some(next) = self.asks.waiting.get_mut(&peer).and_then(|q| q.pop_front()) {
            self.send_ask(next);
        }
    }

    pub(super) async fn on_sync_request(
        &mut self,
        peer: PeerId,
        request: Vec<u8>,
        channel: request_response::ResponseChannel<Vec<u8>>,
    ) {
        let (tag, sealed) = match wire::parse_request(&request) {
            Ok(wire::Request::Hello { nonce, tags }) => return self.on_hello(peer, nonce, tags, channel),
            Ok(wire::Request::Ask { tag, sealed }) => (tag, sealed),
            Ok(wire::Request::Rekey { tag, sealed }) => {
                self.swarm.behaviour_mut().sync.send_response(channel, wire::unknown_doc_response()).ok();
                return self.on_rekey(peer, &tag, sealed).await;
            }
            Ok(wire::Request::Beacon { tag, sealed }) => {
                self.swarm.behaviour_mut().sync.send_response(channel, wire::unknown_doc_response()).ok();
                return self.on_beacon(peer, &tag, sealed);
            }
            Err(e) => {
                warn!("bad sync request from {peer}: {e}");
                self.swarm.behaviour_mut().sync.send_response(channel, wire::unknown_doc_response()).ok();
                return;
            }
        };
        match self.serve(peer, &tag, sealed, channel) {
            Ok(()) => {}
            Err((e, channel)) => {
                warn!("bad sync request from {peer}: {e}");
                self.swarm.behaviour_mut().sync.send_response(channel, wire::unknown_doc_response()).ok();
            }
        }
    }

    /// A member's beacon: its version of a document, which may show changes this
    /// replica lacks (then the member is asked for them).
    fn on_beacon(&mut self, peer: PeerId, tag: &wire::Tag, sealed: &[u8]) {
        if self.offline {
            return;
        }
        let Some(id) = self.members.doc_of_ask(&peer, tag) else { return };
        let Some(d) = self.docs.get(&id) else { return };
        let (me, them) = (self.swarm.local_peer_id().to_bytes(), peer.to_bytes());
        let beacon = match wire::open_beacon(&d.cipher, sealed, &them, &me) {
            Ok(b) => b,
            Err(e) => {
                warn!("rejected beacon from {peer} for {id}: {e}");
                return;
            }
        };
        let ours = d.doc.version();
        let out = match beacon {
            wire::Beacon::Version(clock) => self.sync.beacon(peer, peer, id, clock, ours),
            wire::Beacon::Digest(digest) => {
                let same = digest == wire::version_digest(ours);
                self.sync.beacon_digest(peer, id, same)
            }
        };
        self.carry_out(out);
    }

    /// Starts answering a catch-up request from `peer` whose ask tag is `tag`: it names
    /// a document only if the peer proved it holds it. The store reads one chunk of what
    /// the peer lacks (only the changes that go now are regenerated) on its own thread;
    /// [`Engine::on_served`] seals and sends it.
    #[allow(clippy::result_large_err)]
    fn serve(
        &mut self,
        peer: PeerId,
        tag: &wire::Tag,
        sealed: &[u8],
        channel: request_response::ResponseChannel<Vec<u8>>,
    ) -> Result<(), (Refused, request_response::ResponseChannel<Vec<u8>>)> {
        let refuse = |this: &mut Engine, channel| {
            this.swarm.behaviour_mut().sync.send_response(channel, wire::unknown_doc_response()).ok();
            Ok(())
        };
        if self.offline {
            return refuse(self, channel);
        }
        let Some(id) = self.members.doc_of_ask(&peer, tag) else { return refuse(self, channel) };
        let Some(d) = self.docs.get(&id) else { return refuse(self, channel) };
        let cipher = d.cipher.clone();
        let ours = d.doc.version().clone();
        let (me, them) = (self.swarm.local_peer_id().to_bytes(), peer.to_bytes());
        let ask = match wire::open_request(&cipher, sealed, &them, &me) {
            Ok(ask) => ask,
            Err(e) => return Err((e.into(), channel)),
        };
        let authors = Authors { from: ask.from, until: ask.until };
        let reply = self.store.signed_changes_page(id, ask.clock.clone(), authors, self.sync.chunk_bytes());
        self.serving.push(Box::pin(async move {
            let page = reply.get().await;
            Served { peer, doc: id, cipher, ask, ours, channel, page }
        }));
        Ok(())
    }

    /// A chunk of a catch-up answer was read: the sync state says how much of it goes
    /// (and remembers what the peer will hold); it is sealed for the peer and sent.
    pub(super) async fn on_served(&mut self, served: Served) {
        let Served { peer, doc: id, cipher, ask, ours, channel, page } = served;
        let (changes, truncated) = match page {
            Ok(p) => p,
            Err(e) => {
                warn!("cannot answer {peer} about {id}: {e}");
                self.swarm.behaviour_mut().sync.send_response(channel, wire::unknown_doc_response()).ok();
                return;
            }
        };
        // Seals stored without a grant (made before grants, or joined by the store)
        // get one here, where this device may grant: signed once per author, then
        // taken from the document's grants.
        let changes: Vec<SignedChange> = match self.docs.get_mut(&id) {
            Some(d) => changes
                .into_iter()
                .map(|c| SignedChange { envelope: d.with_grant(c.envelope), change: c.change })
                .collect(),
            None => changes,
        };
        let sizes = changes.iter().map(|c| c.change.len() + c.envelope.len());
        let whole = ask.whole();
        let clock = ask.clock;
        let Some(mut chunk) =
            self.sync.answer(peer, id, clock.clone(), whole, Lacking { sizes, more: truncated }, &ours)
        else {
            self.swarm.behaviour_mut().sync.send_response(channel, wire::unknown_doc_response()).ok();
            return;
        };
        chunk.len = chunk.len.min(changes.len());
        debug!("sync {id} to {peer}: {} changes, more: {}", chunk.len, chunk.more);
        // The peer has the document: remember where it was.
        if !clock.is_empty() {
            self.remember_addr(peer, id);
        }
        let (me, them) = (self.swarm.local_peer_id().to_bytes(), peer.to_bytes());
        let resp = wire::sync_response(&cipher, &changes[..chunk.len], chunk.more, &me, &them);
        self.swarm.behaviour_mut().sync.send_response(channel, resp).ok();
    }

    /// Stores the address of the connection to `peer` as one where `id` can be found.
    /// The engine does not wait for it: a store busy with a long write (a snapshot of
    /// a big history) would hold up every command meanwhile, and a lost address costs
    /// nothing but a lookup later.
    fn remember_addr(&mut self, peer: PeerId, id: DocId) {
        if let Some(info) = self.connected.get(&peer) {
            let addr = with_peer(&info.addr, peer);
            drop(self.store.add_peer_addr(id, &addr.to_string()));
            self.note_known(id, addr);
        }
    }

    pub(super) async fn on_sync_response(&mut self, rid: OutboundRequestId, response: Vec<u8>) {
        if self.on_hello_answer(rid, &response) {
            return;
        }
        let Some((req, next)) = self.requests.remove(&rid) else { return };
        self.ask_done(req.peer);
        let (peer, id) = (req.peer, req.doc);
        let (me, them) = (self.swarm.local_peer_id().to_bytes(), peer.to_bytes());
        let opened = self.docs.get_mut(&id).map(|d| {
            d.sync_bytes_in += response.len() as u64;
            wire::open_response(&d.cipher, &response, &them, &me)
        });
        let reply = match opened {
            // Taken in a slice at a time ([`Engine::take_in`]); the sync state hears
            // the outcome once all of it is in.
            Some(Ok(Some((changes, more)))) => {
                self.intake.push(Incoming { req, next, more, changes: changes.into_iter(), progress: false });
                return;
            }
            Some(Err(e)) => {
                warn!("bad sync response from {peer} for {id}: {e}");
                Reply::Refused
            }
            // The peer does not have the document, or this device removed it.
            Some(Ok(None)) | None => Reply::Refused,
        };
        let out = self.sync.response(&req, reply);
        self.carry_out(out);
    }

    pub(super) fn on_sync_failure(&mut self, rid: OutboundRequestId, peer: PeerId, error: &OutboundFailure) {
        debug!("sync request to {peer} failed: {error}");
        if self.on_hello_lost(rid) {
            return;
        }
        let Some((req, _)) = self.requests.remove(&rid) else { return };
        self.ask_done(req.peer);
        let lost = match error {
            OutboundFailure::ConnectionClosed => Lost::ConnectionClosed,
            _ => Lost::Other,
        };
        let out = self.sync.request_failed(&req, lost);
        self.carry_out(out);
    }

    /// Verifies, applies and stores a received change; returns whether it waits for
    /// deps.
    pub(super) async fn receive(
        &mut self,
        id: DocId,
        change: Change,
        sc: SignedChange,
        run: Option<wire::RunSeal>,
    ) -> Result<bool, Refused> {
        let (author, end) = (change.author, change.end_seq());
        let accepted = self.accept(id, change, sc);
        let accepted = self.on_refused_equivocation(id, accepted).await?;
        // The run, when its seal checks, is stored in place of the change (and replaces
        // the author's earlier changes of the run stored one by one). Not while writes
        // wait (a full disk): a waiting run would hide from the stored version the
        // earlier changes it covers, which are on disk.
        let writes_wait = !self.storage.borrow().waiting.is_empty();
        let joined = run.filter(|_| !writes_wait).and_then(|run| self.joined_run(id, author, end, run));
        self.store_received(id, accepted.ready, joined);
        Ok(accepted.buffered)
    }

    /// The run of `author`'s changes ending at seq `end` under the author's `run` seal,
    /// regenerated from the replica, when it is held, within [`RUN_MAX_SEQS`](super::RUN_MAX_SEQS)
    /// and the seal checks; otherwise `None` (the change is stored on its own).
    fn joined_run(
        &self,
        id: DocId,
        author: tandem_crdt::ReplicaId,
        end: u64,
        run: wire::RunSeal,
    ) -> Option<(Change, SignedChange)> {
        if run.start_seq == 0 || end.checked_sub(run.start_seq)? > super::RUN_MAX_SEQS {
            return None;
        }
        let d = self.docs.get(&id)?;
        let joined = d.doc.change_by(author, run.start_seq, end)?;
        if !known_grant(d, &run.envelope) {
            d.cipher.granted_signer(&run.envelope)?;
        }
        let bytes = encoding::encode_change(&joined);
        check_seal(&id, &bytes, author, &run.envelope).ok()?;
        Some((joined, SignedChange { change: bytes, envelope: run.envelope }))
    }

    /// Keeps the proof when `accepted` is a refusal for equivocation; passes anything
    /// else through.
    async fn on_refused_equivocation(
        &mut self,
        id: DocId,
        accepted: Result<Accepted, Refused>,
    ) -> Result<Accepted, Refused> {
        match accepted {
            Err(Refused::Equivocation { author, seqs, refused }) => {
                self.equivocated(id, author, seqs.clone(), refused).await;
                Err(Refused::Crdt(tandem_crdt::Error::Equivocation { author, seqs }))
            }
            other => other,
        }
    }

    /// Verifies a received change's seal (`change` is `sc.change` decoded) and applies
    /// it. A duplicate, a change already waiting in the causal buffer, or one the
    /// buffer has no room for, is `Ok` with nothing ready and nothing new.
    fn accept(&mut self, id: DocId, change: Change, sc: SignedChange) -> Result<Accepted, Refused> {
        let d = self.docs.get_mut(&id).ok_or(Refused::UnknownDoc(id))?;
        // Only a change whose author holds a grant of the write key counts; a checked
        // grant is remembered (the same key's grant is the same bytes every time).
        if !known_grant(d, &sc.envelope) {
            let s = d.cipher.granted_signer(&sc.envelope).ok_or(Refused::NoGrant(change.id()))?;
            let grant =
                sc.envelope[tandem_storage::SEAL_LEN..].try_into().expect("a granted envelope holds a grant");
            d.granted.insert(s, grant);
        }
        check_seal(&id, &sc.change, change.author, &sc.envelope)?;
        let now_ms = self.clock_ms();
        let d = self.docs.get_mut(&id).ok_or(Refused::UnknownDoc(id))?;
        let nothing = Accepted { ready: Vec::new(), buffered: false, new: false };
        let out = match d.doc.apply_at(change.clone(), now_ms) {
            Ok(out) => out,
            Err(e @ tandem_crdt::Error::BufferFull { .. }) => {
                debug!("{e}");
                return Ok(nothing);
            }
            Err(tandem_crdt::Error::Equivocation { author, seqs }) => {
                return Err(Refused::Equivocation { author, seqs, refused: sc });
            }
            Err(e) => return Err(e.into()),
        };
        if out.duplicate {
            return Ok(nothing);
        }
        // Delivered again while it waits for its deps: it is queued once.
        if out.already_buffered {
            return Ok(Accepted { buffered: true, ..nothing });
        }
        d.unsaved.push((change, sc, now_ms));
        let version = d.doc.version();
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut d.unsaved)
            .into_iter()
            .partition(|(c, _, _)| c.end_seq() - 1 <= version.get(c.author));
        d.unsaved = waiting;
        // A buffered change dropped when its deps came (it turned out invalid) is not
        // kept for storage either.
        if out.rejected > 0 {
            d.forget_unbuffered();
        }
        let ready = ready.into_iter().map(|(c, sc, _)| (c, sc)).collect();
        Ok(Accepted { ready, buffered: out.buffered, new: true })
    }

    /// A change from `author` gave seqs it holds different content: keep both signed
    /// versions as proof, and mark the author.
    pub(super) async fn equivocated(
        &mut self,
        id: DocId,
        author: tandem_crdt::ReplicaId,
        seqs: std::ops::Range<u64>,
        refused: SignedChange,
    ) {
        warn!(
            "author {author} equivocated in {id}: two different versions of seqs {seqs:?}; the second is refused"
        );
        let Some(d) = self.docs.get_mut(&id) else { return };
        let first = d.equivocators.insert(author);
        if let Err(e) = self.store.record_equivocation(id, author, seqs, refused).get().await {
            warn!("cannot keep the proof of equivocation by {author} in {id}: {e}");
        }
        if first {
            self.events.send(Event::Equivocation { doc: id, author }).ok();
        }
    }

    /// Stores accepted changes (one group commit, flushed to disk within
    /// [`tandem_storage::SETTLE`] or with this device's next own change); once they are
    /// committed ([`Engine::on_stored`]) they go to the attached view and are announced.
    /// Neither waits for an fsync: their author stored them before publishing them, and
    /// what a crash loses of them catch-up brings back. The engine does not wait for
    /// the commit meanwhile either: gossip forwards a change as soon as it is accepted,
    /// so a keystroke crosses each hop without touching the disk. `joined`, a run of one
    /// author's changes under its seal, is stored in place of the ready change of that
    /// author that ends where it ends.
    fn store_received(&mut self, id: DocId, ready: Ready, joined: Option<(Change, SignedChange)>) {
        if ready.is_empty() {
            return;
        }
        let Some(d) = self.docs.get(&id) else { return };
        let summary = Some((name_of(&d.doc), d.doc.len_chars() as u64));
        let replies: Vec<_> = ready
            .iter()
            .map(|(c, sc)| match &joined {
                Some((j, js)) if j.author == c.author && j.end_seq() == c.end_seq() => (j, js),
                _ => (c, sc),
            })
            .map(|(c, sc)| {
                self.store.append_received(Append {
                    doc: id,
                    change: c.clone(),
                    signature: sc.envelope.clone(),
                    summary: summary.clone(),
                })
            })
            .collect::<Vec<_>>();
        let changes: Vec<Change> = ready.into_iter().map(|(c, _)| c).collect();
        self.storing.push(Box::pin(async move {
            let mut res = Ok(());
            for r in replies {
                if let Err(e) = r.get().await {
                    res = Err(e);
                }
            }
            Stored { doc: id, changes, res }
        }));
    }

    /// Received changes are committed (or the disk refused them: then the store keeps
    /// them, and they go to the view once written, [`Engine::on_storage_changed`]).
    pub(super) fn on_stored(&mut self, stored: Stored) {
        let Stored { doc, changes, res } = stored;
        match res {
            Ok(()) => {
                if let Some(v) = self.docs.get(&doc).and_then(|d| d.view.as_ref()) {
                    v.send(changes.iter().cloned());
                }
                for c in changes {
                    self.events.send(Event::RemoteChange { doc, author: c.author, ops: c.n_seqs() }).ok();
                }
            }
            Err(e) => warn!("cannot store {} received changes of {doc}: {e}", changes.len()),
        }
    }

    /// Takes in changes of the oldest catch-up answer waiting for [`INTAKE_SLICE`] (at
    /// least one), stores those the document now holds in one group commit, and puts
    /// the answer back at the end of the queue if changes remain. Once all are in, the
    /// sync state hears whether any was new (so asking for the next chunk makes
    /// progress; a peer that keeps saying "more" while sending what this replica holds
    /// is not asked again).
    pub(super) async fn take_in(&mut self) {
        let Some(mut incoming) = self.intake.take() else { return };
        let (peer, id) = (incoming.req.peer, incoming.req.doc);
        let until = Instant::now() + INTAKE_SLICE;
        let mut ready = Vec::new();
        for sc in incoming.changes.by_ref() {
            let accepted = encoding::decode_change(&sc.change)
                .map_err(Refused::from)
                .and_then(|change| self.accept(id, change, sc));
            match self.on_refused_equivocation(id, accepted).await {
                Ok(accepted) => {
                    incoming.progress |= accepted.new;
                    ready.extend(accepted.ready);
                }
                Err(e) => warn!("rejected change from {peer} for {id} in catch-up: {e}"),
            }
            if Instant::now() >= until {
                break;
            }
        }
        self.store_received(id, ready, None);
        if incoming.changes.len() > 0 {
            self.intake.slice_ended(Instant::now(), Some(incoming));
            return;
        }
        self.intake.slice_ended(Instant::now(), None);
        self.remember_addr(peer, id);
        let Incoming { req, next, more, progress, .. } = incoming;
        let out = self.sync.response(&req, Reply::Changes { more, progress, next });
        self.carry_out(out);
    }
}

/// Whether `envelope` ends with the very grant already checked for its signer.
fn known_grant(d: &super::OpenDoc, envelope: &[u8]) -> bool {
    let Some(signer) = tandem_storage::seal_signer(envelope) else { return false };
    envelope.len() == tandem_storage::SEAL_LEN + crate::crypto::GRANT
        && d.granted.get(&signer).is_some_and(|g| envelope[tandem_storage::SEAL_LEN..] == g[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_work_gets_a_slice_after_a_slice_of_other_work() {
        let t0 = Instant::now();
        let mut turns = Turns::<u32>::default();
        assert!(!turns.is_waiting() && !turns.is_due(t0), "nothing waits");
        turns.push(1);
        assert!(turns.is_due(t0), "the first slice is due at once");
        let work = turns.take();
        turns.slice_ended(t0, work);
        assert!(turns.is_waiting(), "the rest of the work waits");
        assert!(!turns.is_due(t0 + INTAKE_SLICE / 2), "other work goes first right after a slice");
        assert!(turns.is_due(t0 + INTAKE_SLICE), "a slice of other work later, it is due again");
        let work = turns.take();
        assert_eq!(work, Some(1));
        turns.slice_ended(t0 + INTAKE_SLICE, None);
        assert!(!turns.is_due(t0 + INTAKE_SLICE * 3), "done: nothing is due");
    }
}
