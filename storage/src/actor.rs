//! [`StoreHandle`]: the store on its own thread, with group commit.
//!
//! One thread owns the [`Store`]. Callers send commands with a one-shot reply channel
//! and wait for the answer either blocking ([`Reply::wait`]) or in async code
//! ([`Reply::get`]). Appends that queue up while a commit runs are written together in
//! the next transaction: one fsync for many changes, each caller answered only after
//! its change is on disk. Dropping the last handle stops the thread.
//!
//! A write that fails (a full disk) loses nothing: the appends it held are answered
//! with [`Error::NotStored`] but kept, in order, and written before any later append,
//! every `RETRY` and at every new append, until the disk takes them. The database is
//! reopened after each failed write, because redb refuses every call after one.
//! [`StoreHandle::state`] tells what waits and why; snapshots that fail are retried the
//! same way and counted there.
//!
//! Changes received from peers ([`StoreHandle::append_received`]) are committed without
//! an fsync: the next durable commit, at most [`SETTLE`] later, makes them durable with
//! everything before it. A crash in between loses only such changes, which their
//! authors stored before sending and catch-up brings back; a change of this device
//! that builds on them is committed after them, so it is never on disk without them.

use crate::error::Error;
use crate::ids::{DocId, DocKey};
use crate::store::{Append, DamagedDoc, DocInfo, SignedChange, Store};
use std::collections::{BTreeSet, VecDeque};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tandem_crdt::{Doc, ReplicaId, VectorClock};
use tokio::sync::{oneshot, watch};

/// Commands that may queue before senders wait.
pub(crate) const COMMAND_CAPACITY: usize = 4096;
/// Most appends written in one transaction.
pub(crate) const MAX_GROUP: usize = 4096;

/// How often changes that could not be written are tried again.
pub(crate) const RETRY: Duration = Duration::from_secs(2);
/// How long a received change may stay committed but not flushed to disk.
pub const SETTLE: Duration = Duration::from_secs(1);
/// Most received changes committed but not flushed; one more makes the commit durable.
pub(crate) const MAX_UNSETTLED: usize = 4 * MAX_GROUP;

type Tx<T> = oneshot::Sender<Result<T, Error>>;

/// What the storage thread holds that is not on disk yet, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageState {
    /// Changes kept in memory because writing them failed, in the order they will be
    /// written: (document, author, first seq).
    pub waiting: Vec<(DocId, ReplicaId, u64)>,
    /// Why the last write failed, while changes wait.
    pub error: Option<String>,
    /// Snapshots that failed since the store opened.
    pub snapshot_failures: u64,
    /// The last snapshot failure, while that document's snapshot is still due.
    pub snapshot_error: Option<(DocId, String)>,
}

impl StorageState {
    /// How many changes of `doc` wait.
    pub fn waiting_in(&self, doc: DocId) -> usize {
        self.waiting.iter().filter(|w| w.0 == doc).count()
    }

    /// `version` without the changes of `doc` that wait: what is on disk.
    pub fn stored_version(&self, doc: DocId, version: &VectorClock) -> VectorClock {
        let mut v = version.clone();
        for &(d, author, start) in &self.waiting {
            if d == doc && v.get(author) >= start {
                v.set(author, start - 1);
            }
        }
        v
    }
}

/// Whether an append's commit must be on disk before it is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flush {
    /// This device's own change: on disk before the answer (and before it is sent).
    Now,
    /// A received change: visible at once, on disk within [`SETTLE`].
    Soon,
}

enum Command {
    Append(Box<Append>, Flush, Tx<()>),
    Create(String, Tx<DocInfo>),
    Add(DocId, DocKey, Option<[u8; 32]>, String, Tx<DocInfo>),
    Docs(Tx<Vec<DocInfo>>),
    DocsAndDamaged(Tx<(Vec<DocInfo>, Vec<DamagedDoc>)>),
    Find(String, Tx<DocInfo>),
    Doc(DocId, Tx<Option<DocInfo>>),
    SetKey(DocId, DocKey, Option<[u8; 32]>, Vec<u8>, Tx<DocInfo>),
    KeyRing(DocId, Tx<Vec<u8>>),
    Remove(DocId, Tx<bool>),
    Trash(DocId, Tx<bool>),
    Restore(DocId, Tx<bool>),
    Trashed(Tx<Vec<(DocInfo, u64)>>),
    Load(DocId, crate::Writer, Tx<Doc>),
    Equivocated(DocId, ReplicaId, std::ops::Range<u64>, SignedChange, Tx<()>),
    Equivocations(DocId, Tx<Vec<crate::Equivocation>>),
    Snapshot(DocId, Tx<()>),
    SignedSince(DocId, VectorClock, crate::Authors, Tx<Vec<SignedChange>>),
    SignedPage(DocId, VectorClock, crate::Authors, usize, Tx<(Vec<SignedChange>, bool)>),
    AddPeer(DocId, String, Tx<()>),
    SaveUndo(DocId, Box<tandem_crdt::UndoState>, Tx<()>),
    Peers(DocId, Tx<Vec<String>>),
    Close(Tx<usize>),
}

/// An answer on its way from the storage thread.
#[derive(Debug)]
pub struct Reply<T>(oneshot::Receiver<Result<T, Error>>);

impl<T> Reply<T> {
    /// Blocks until the answer arrives (not for async code).
    pub fn wait(self) -> Result<T, Error> {
        self.0.blocking_recv().map_err(|_| Error::Stopped)?
    }

    /// Waits for the answer.
    pub async fn get(self) -> Result<T, Error> {
        self.0.await.map_err(|_| Error::Stopped)?
    }
}

/// A cloneable handle to the store thread.
#[derive(Clone, Debug)]
pub struct StoreHandle {
    tx: mpsc::SyncSender<Command>,
    replica: ReplicaId,
    identity: crate::Identity,
    state: watch::Receiver<StorageState>,
}

impl StoreHandle {
    /// Opens the store in `dir` and starts its thread.
    pub fn open(dir: &std::path::Path) -> Result<StoreHandle, Error> {
        let store = Store::open(dir)?;
        let replica = store.replica();
        let identity = store.identity().clone();
        let (tx, rx) = mpsc::sync_channel(COMMAND_CAPACITY);
        let (state_tx, state) = watch::channel(StorageState::default());
        std::thread::Builder::new()
            .name("tandem-storage".into())
            .spawn(move || Actor::new(store, state_tx).run(rx))
            .map_err(|e| Error::Io { path: dir.to_owned(), source: e })?;
        Ok(StoreHandle { tx, replica, identity, state })
    }

    /// What waits to be written and why, updated as it changes (see
    /// [`watch::Receiver::changed`]).
    pub fn state(&self) -> watch::Receiver<StorageState> {
        self.state.clone()
    }

    /// The engine's writer id on this device.
    pub fn replica(&self) -> ReplicaId {
        self.replica
    }

    /// The device identity (for signing).
    pub fn identity(&self) -> &crate::Identity {
        &self.identity
    }

    fn send<T>(&self, make: impl FnOnce(Tx<T>) -> Command) -> Reply<T> {
        let (tx, rx) = oneshot::channel();
        // A send error drops `tx`, so the reply reports `Stopped`.
        let _ = self.tx.send(make(tx));
        Reply(rx)
    }

    /// Stores a change; the reply comes once it is on disk.
    pub fn append(&self, append: Append) -> Reply<()> {
        self.send(|tx| Command::Append(Box::new(append), Flush::Now, tx))
    }

    /// Stores a change received from a peer, which its author stored before sending.
    /// The reply comes once it is committed (every later read sees it); it is flushed
    /// to disk within [`SETTLE`], or with the next change stored by [`Self::append`],
    /// whichever comes first.
    pub fn append_received(&self, append: Append) -> Reply<()> {
        self.send(|tx| Command::Append(Box::new(append), Flush::Soon, tx))
    }

    /// Creates a document.
    pub fn create_doc(&self, title: &str) -> Reply<DocInfo> {
        self.send(|tx| Command::Create(title.to_owned(), tx))
    }

    /// Adds a known document (join).
    pub fn add_doc(&self, id: DocId, key: DocKey, title: &str) -> Reply<DocInfo> {
        self.send(|tx| Command::Add(id, key, None, title.to_owned(), tx))
    }

    /// Adds a known document to edit or, with its write public key, to read only
    /// ([`Store::add_doc_as`]).
    pub fn add_doc_as(
        &self,
        id: DocId,
        key: DocKey,
        read_only: Option<[u8; 32]>,
        title: &str,
    ) -> Reply<DocInfo> {
        self.send(|tx| Command::Add(id, key, read_only, title.to_owned(), tx))
    }

    /// Moves a document to a new key, keeping its earlier keys ([`Store::set_key`]).
    pub fn set_key(
        &self,
        id: DocId,
        key: DocKey,
        read_only: Option<[u8; 32]>,
        ring: Vec<u8>,
    ) -> Reply<DocInfo> {
        self.send(|tx| Command::SetKey(id, key, read_only, ring, tx))
    }

    /// A document's key ring ([`Store::key_ring`]).
    pub fn key_ring(&self, id: DocId) -> Reply<Vec<u8>> {
        self.send(|tx| Command::KeyRing(id, tx))
    }

    /// Lists the documents whose entry can be read.
    pub fn docs(&self) -> Reply<Vec<DocInfo>> {
        self.send(Command::Docs)
    }

    /// Lists documents, and apart from them those whose entry cannot be read.
    pub fn docs_and_damaged(&self) -> Reply<(Vec<DocInfo>, Vec<DamagedDoc>)> {
        self.send(Command::DocsAndDamaged)
    }

    /// A document's entry, listed or in the trash.
    pub fn doc(&self, id: DocId) -> Reply<Option<DocInfo>> {
        self.send(|tx| Command::Doc(id, tx))
    }

    /// Finds a document by id prefix.
    pub fn find_doc(&self, prefix: &str) -> Reply<DocInfo> {
        self.send(|tx| Command::Find(prefix.to_owned(), tx))
    }

    /// Removes a document and its data.
    pub fn remove_doc(&self, id: DocId) -> Reply<bool> {
        self.send(|tx| Command::Remove(id, tx))
    }

    /// [`crate::Store::trash_doc`].
    pub fn trash_doc(&self, id: DocId) -> Reply<bool> {
        self.send(|tx| Command::Trash(id, tx))
    }

    /// [`crate::Store::restore_doc`].
    pub fn restore_doc(&self, id: DocId) -> Reply<bool> {
        self.send(|tx| Command::Restore(id, tx))
    }

    /// [`crate::Store::trashed`].
    pub fn trashed(&self) -> Reply<Vec<(DocInfo, u64)>> {
        self.send(Command::Trashed)
    }

    /// Opens a document (snapshot plus tail).
    pub fn load(&self, id: DocId) -> Reply<Doc> {
        self.load_as(id, crate::Writer::Engine)
    }

    /// Keeps the proof that `author` signed `refused` for `seqs` differently from the
    /// stored changes.
    pub fn record_equivocation(
        &self,
        id: DocId,
        author: ReplicaId,
        seqs: std::ops::Range<u64>,
        refused: SignedChange,
    ) -> Reply<()> {
        self.send(|tx| Command::Equivocated(id, author, seqs, refused, tx))
    }

    /// Every proof of equivocation kept for a document.
    pub fn equivocations(&self, id: DocId) -> Reply<Vec<crate::Equivocation>> {
        self.send(|tx| Command::Equivocations(id, tx))
    }

    /// Opens a document, editing as `writer`.
    pub fn load_as(&self, id: DocId, writer: crate::Writer) -> Reply<Doc> {
        self.send(|tx| Command::Load(id, writer, tx))
    }

    /// Rewrites a document's snapshot now.
    pub fn snapshot(&self, id: DocId) -> Reply<()> {
        self.send(|tx| Command::Snapshot(id, tx))
    }

    /// Stored signed changes not covered by `version`.
    pub fn signed_changes_since(&self, id: DocId, version: VectorClock) -> Reply<Vec<SignedChange>> {
        self.signed_changes_since_by(id, version, crate::Authors::ALL)
    }

    /// The stored signed changes by `authors` not covered by `version`.
    pub fn signed_changes_since_by(
        &self,
        id: DocId,
        version: VectorClock,
        authors: crate::Authors,
    ) -> Reply<Vec<SignedChange>> {
        self.send(|tx| Command::SignedSince(id, version, authors, tx))
    }

    /// [`crate::Store::signed_changes_page`]: the first of those changes, up to a byte
    /// budget, and whether more follow.
    pub fn signed_changes_page(
        &self,
        id: DocId,
        version: VectorClock,
        authors: crate::Authors,
        budget: usize,
    ) -> Reply<(Vec<SignedChange>, bool)> {
        self.send(|tx| Command::SignedPage(id, version, authors, budget, tx))
    }

    /// Keeps a document's undo/redo history.
    pub fn save_undo(&self, id: DocId, doc: &Doc) -> Reply<()> {
        self.save_undo_state(id, doc.undo_state())
    }

    /// Keeps an undo history taken from a replica with [`Doc::undo_state`].
    pub fn save_undo_state(&self, id: DocId, state: tandem_crdt::UndoState) -> Reply<()> {
        let state = Box::new(state);
        self.send(|tx| Command::SaveUndo(id, state, tx))
    }

    /// Remembers a peer address.
    pub fn add_peer_addr(&self, id: DocId, addr: &str) -> Reply<()> {
        self.send(|tx| Command::AddPeer(id, addr.to_owned(), tx))
    }

    /// Known peer addresses.
    pub fn peer_addrs(&self, id: DocId) -> Reply<Vec<String>> {
        self.send(|tx| Command::Peers(id, tx))
    }

    /// Closes the database after the commands queued before this one, trying once more
    /// to write what waits; the reply, how many changes could still not be written (they
    /// are lost), comes once the file is closed (another process or handle may then open
    /// it).
    pub fn close(&self) -> Reply<usize> {
        self.send(Command::Close)
    }
}

/// The storage thread.
struct Actor {
    store: Store,
    /// Appends that failed to be written, in order.
    waiting: VecDeque<Append>,
    /// Documents whose snapshot is due (and failed at least once).
    snapshots_due: BTreeSet<DocId>,
    state: watch::Sender<StorageState>,
    error: Option<String>,
    snapshot_failures: u64,
    snapshot_error: Option<(DocId, String)>,
    /// When the last write was tried.
    last_try: Instant,
    /// Received changes committed but not flushed to disk yet, in order.
    unsettled: Vec<Append>,
    /// When they are flushed, at the latest.
    settle_by: Option<Instant>,
}

impl Actor {
    fn new(store: Store, state: watch::Sender<StorageState>) -> Actor {
        Actor {
            store,
            waiting: VecDeque::new(),
            snapshots_due: BTreeSet::new(),
            state,
            error: None,
            snapshot_failures: 0,
            snapshot_error: None,
            last_try: Instant::now(),
            unsettled: Vec::new(),
            settle_by: None,
        }
    }

    /// Runs one command and sends its answer. A database or file error may come from
    /// a failed write, after which redb refuses every call: the database is reopened.
    fn answer<T>(&mut self, tx: Tx<T>, run: impl FnOnce(&mut Store) -> Result<T, Error>) {
        let result = run(&mut self.store);
        if matches!(result, Err(Error::Db { .. } | Error::Io { .. })) {
            self.reopen();
        }
        let _ = tx.send(result);
    }

    /// Reopens the database after a failed write. Commits that were not flushed may be
    /// gone with the old handle: their changes wait again, first, to be written anew.
    fn reopen(&mut self) {
        let _ = self.store.reopen();
        self.settle_by = None;
        if !self.unsettled.is_empty() {
            let waiting = std::mem::take(&mut self.waiting);
            self.waiting = self.unsettled.drain(..).chain(waiting).collect();
            self.publish();
        }
    }

    /// Whether appends or snapshots wait to be tried again.
    fn has_retries(&self) -> bool {
        !self.waiting.is_empty() || !self.snapshots_due.is_empty()
    }

    /// When the thread must wake without a command: to retry what waits, or to flush.
    fn deadline(&self) -> Option<Instant> {
        let retry = self.has_retries().then(|| self.last_try + RETRY);
        match (retry, self.settle_by) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Flushes every commit so far to disk.
    fn settle(&mut self) {
        if self.unsettled.is_empty() {
            return;
        }
        match self.store.settle() {
            Ok(()) => {
                self.unsettled.clear();
                self.settle_by = None;
            }
            Err(e) => {
                self.error = Some(e.to_string());
                self.last_try = Instant::now();
                self.reopen();
            }
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Command>) {
        let mut next: Option<Command> = None;
        loop {
            let cmd = match (next.take(), self.deadline()) {
                (Some(c), _) => c,
                (None, None) => match rx.recv() {
                    Ok(c) => c,
                    Err(_) => {
                        self.settle();
                        return;
                    }
                },
                // Commands arriving in between do not put the next try off.
                (None, Some(at)) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(c) => c,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if self.has_retries() && self.last_try.elapsed() >= RETRY {
                            // A durable write: it flushes what was not flushed too.
                            self.write(Vec::new(), Vec::new(), Flush::Now);
                        } else {
                            self.settle();
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        self.settle();
                        return;
                    }
                },
            };
            match cmd {
                Command::Append(a, flush, tx) => {
                    // Group commit: take every append already queued; one that must be
                    // on disk makes the whole commit durable.
                    let mut batch = vec![*a];
                    let mut waiters = vec![tx];
                    let mut flush = flush;
                    while batch.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(Command::Append(a, f, tx)) => {
                                batch.push(*a);
                                waiters.push(tx);
                                if f == Flush::Now {
                                    flush = Flush::Now;
                                }
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.write(batch, waiters, flush);
                }
                Command::Create(title, tx) => self.answer(tx, |s| s.create_doc(&title)),
                Command::Add(id, key, read_only, title, tx) => {
                    self.answer(tx, |s| s.add_doc_as(id, key, read_only, &title))
                }
                Command::Docs(tx) => self.answer(tx, |s| s.docs()),
                Command::DocsAndDamaged(tx) => self.answer(tx, |s| s.docs_and_damaged()),
                Command::Find(p, tx) => self.answer(tx, |s| s.find_doc(&p)),
                Command::Doc(id, tx) => self.answer(tx, |s| s.doc(id)),
                Command::SetKey(id, key, read_only, ring, tx) => {
                    self.answer(tx, |s| s.set_key(id, key, read_only, &ring))
                }
                Command::KeyRing(id, tx) => self.answer(tx, |s| s.key_ring(id)),
                Command::Remove(id, tx) => self.answer(tx, |s| s.remove_doc(id)),
                Command::Trash(id, tx) => self.answer(tx, |s| s.trash_doc(id)),
                Command::Restore(id, tx) => self.answer(tx, |s| s.restore_doc(id)),
                Command::Trashed(tx) => self.answer(tx, |s| s.trashed()),
                Command::Load(id, writer, tx) => self.answer(tx, |s| s.load_as(id, writer)),
                Command::Equivocated(id, author, seqs, refused, tx) => {
                    self.answer(tx, |s| s.record_equivocation(id, author, seqs, refused))
                }
                Command::Equivocations(id, tx) => self.answer(tx, |s| s.equivocations(id)),
                Command::Snapshot(id, tx) => self.answer(tx, |s| s.snapshot(id)),
                Command::SignedSince(id, v, authors, tx) => {
                    self.answer(tx, |s| s.signed_changes_since_by(id, &v, &authors))
                }
                Command::SignedPage(id, v, authors, budget, tx) => {
                    self.answer(tx, |s| s.signed_changes_page(id, &v, &authors, budget))
                }
                Command::AddPeer(id, addr, tx) => self.answer(tx, |s| s.add_peer_addr(id, &addr)),
                Command::SaveUndo(id, state, tx) => self.answer(tx, |s| s.save_undo_state(id, &state)),
                Command::Peers(id, tx) => self.answer(tx, |s| s.peer_addrs(id)),
                Command::Close(tx) => {
                    if !self.waiting.is_empty() {
                        self.write(Vec::new(), Vec::new(), Flush::Now);
                    }
                    self.settle();
                    let lost = self.waiting.len();
                    // Later commands from other handles get `Stopped`.
                    drop(rx);
                    drop(self);
                    let _ = tx.send(Ok(lost));
                    return;
                }
            }
        }
    }

    /// Writes what waits, then `batch`, in one transaction; answers `waiters` (one per
    /// append of `batch`). On failure everything is kept to be tried again. The commit
    /// is flushed to disk unless `flush` allows otherwise, nothing waited and not too
    /// much is unflushed already.
    fn write(&mut self, batch: Vec<Append>, mut waiters: Vec<Tx<()>>, flush: Flush) {
        self.last_try = Instant::now();
        let had_waiting = !self.waiting.is_empty();
        let durable =
            flush == Flush::Now || had_waiting || self.unsettled.len() + batch.len() > MAX_UNSETTLED;
        let old = self.waiting.len();
        self.waiting.extend(batch);
        let mut result = self.commit_waiting(durable);
        if matches!(result, Err(Error::UnknownDoc(_) | Error::Corrupt { .. })) {
            // A change for a document that is gone or whose entry is damaged is
            // answered with that error and dropped; only the others are kept.
            waiters = self.drop_unwritable(old, waiters);
            result = self.commit_waiting(durable);
        }
        match result {
            Ok(due) => {
                if durable {
                    self.waiting.clear();
                    self.unsettled.clear();
                    self.settle_by = None;
                } else {
                    self.unsettled.extend(self.waiting.drain(..));
                    self.settle_by.get_or_insert_with(|| Instant::now() + SETTLE);
                }
                self.error = None;
                // The state is told before the answers, so a caller that hears back
                // sees it.
                if had_waiting {
                    self.publish();
                }
                for w in waiters {
                    let _ = w.send(Ok(()));
                }
                self.snapshots_due.extend(due);
            }
            Err(e) => {
                self.reopen();
                let reason = match e {
                    Error::Db { reason, .. } => reason,
                    e => e.to_string(),
                };
                let waiting = self.waiting.len();
                self.error = Some(reason.clone());
                self.publish();
                for w in waiters {
                    let _ = w.send(Err(Error::NotStored {
                        path: self.store.path().to_owned(),
                        reason: reason.clone(),
                        waiting,
                    }));
                }
            }
        }
        // Snapshots are rewritten after the writers have their answer.
        if self.waiting.is_empty() {
            self.snapshot_due();
        }
    }

    /// Commits what waits in one transaction, flushed to disk if `durable`.
    fn commit_waiting(&mut self, durable: bool) -> Result<Vec<DocId>, Error> {
        if self.waiting.is_empty() {
            if durable && !self.unsettled.is_empty() {
                self.store.settle()?;
            }
            return Ok(Vec::new());
        }
        let all: Vec<Append> = self.waiting.iter().cloned().collect();
        if durable { self.store.append(&all) } else { self.store.append_unsettled(&all) }
    }

    /// Drops the waiting appends whose document is gone or has a damaged entry; those
    /// of this batch (from `old` on, answered by `waiters`) get that error. Returns the
    /// waiters of the appends kept.
    fn drop_unwritable(&mut self, old: usize, waiters: Vec<Tx<()>>) -> Vec<Tx<()>> {
        let mut kept = VecDeque::new();
        let mut kept_waiters = Vec::new();
        let mut waiters = waiters.into_iter();
        for (i, a) in std::mem::take(&mut self.waiting).into_iter().enumerate() {
            let waiter = if i >= old { waiters.next() } else { None };
            let problem = match self.store.doc(a.doc) {
                Ok(Some(_)) => None,
                Ok(None) => Some(Error::UnknownDoc(a.doc.to_string())),
                Err(e @ Error::Corrupt { .. }) => Some(e),
                Err(_) => None,
            };
            match (problem, waiter) {
                (None, w) => {
                    kept.push_back(a);
                    kept_waiters.extend(w);
                }
                (Some(e), Some(w)) => {
                    let _ = w.send(Err(e));
                }
                (Some(_), None) => {}
            }
        }
        self.waiting = kept;
        kept_waiters
    }

    /// Rewrites the snapshots that are due; a failure is counted and tried again later.
    fn snapshot_due(&mut self) {
        let before = self.snapshot_failures;
        for id in std::mem::take(&mut self.snapshots_due) {
            match self.store.snapshot(id) {
                Ok(()) => {
                    if self.snapshot_error.as_ref().is_some_and(|e| e.0 == id) {
                        self.snapshot_error = None;
                    }
                }
                Err(Error::UnknownDoc(_)) => {}
                Err(e) => {
                    self.reopen();
                    self.snapshot_failures += 1;
                    self.snapshot_error = Some((id, e.to_string()));
                    self.snapshots_due.insert(id);
                }
            }
        }
        if self.snapshot_failures != before {
            self.publish();
        }
    }

    /// Tells the handles what waits now.
    fn publish(&self) {
        let state = StorageState {
            waiting: self.waiting.iter().map(|a| (a.doc, a.change.author, a.change.start_seq)).collect(),
            error: if self.waiting.is_empty() { None } else { self.error.clone() },
            snapshot_failures: self.snapshot_failures,
            snapshot_error: self.snapshot_error.clone(),
        };
        self.state.send_if_modified(|s| {
            let changed = *s != state;
            *s = state;
            changed
        });
    }
}
