//! [`StoreHandle`]: the store on its own thread, with group commit.
//!
//! One thread owns the [`Store`]. Callers send commands with a one-shot reply channel
//! and wait for the answer either blocking ([`Reply::wait`]) or in async code
//! ([`Reply::get`]). Appends that queue up while a commit runs are written together in
//! the next transaction: one fsync for many changes, each caller answered only after
//! its change is on disk. Dropping the last handle stops the thread.

use crate::error::Error;
use crate::ids::{DocId, DocKey};
use crate::store::{Append, DocInfo, SignedChange, Store};
use std::sync::mpsc;
use tandem_crdt::{Doc, ReplicaId, VectorClock};
use tokio::sync::oneshot;

/// Commands that may queue before senders wait.
pub(crate) const COMMAND_CAPACITY: usize = 4096;
/// Most appends written in one transaction.
pub(crate) const MAX_GROUP: usize = 4096;

type Tx<T> = oneshot::Sender<Result<T, Error>>;

enum Command {
    Append(Box<Append>, Tx<()>),
    Create(String, Tx<DocInfo>),
    Add(DocId, DocKey, String, Tx<DocInfo>),
    Docs(Tx<Vec<DocInfo>>),
    Find(String, Tx<DocInfo>),
    Remove(DocId, Tx<bool>),
    Load(DocId, crate::Writer, Tx<Doc>),
    Equivocated(DocId, ReplicaId, std::ops::Range<u64>, SignedChange, Tx<()>),
    Equivocations(DocId, Tx<Vec<crate::Equivocation>>),
    Snapshot(DocId, Tx<()>),
    SignedSince(DocId, VectorClock, crate::Authors, Tx<Vec<SignedChange>>),
    AddPeer(DocId, String, Tx<()>),
    SaveUndo(DocId, Box<tandem_crdt::UndoState>, Tx<()>),
    Peers(DocId, Tx<Vec<String>>),
    Close(Tx<()>),
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
}

impl StoreHandle {
    /// Opens the store in `dir` and starts its thread.
    pub fn open(dir: &std::path::Path) -> Result<StoreHandle, Error> {
        let store = Store::open(dir)?;
        let replica = store.replica();
        let identity = store.identity().clone();
        let (tx, rx) = mpsc::sync_channel(COMMAND_CAPACITY);
        std::thread::Builder::new()
            .name("tandem-storage".into())
            .spawn(move || run(store, rx))
            .map_err(|e| Error::Io { path: dir.to_owned(), source: e })?;
        Ok(StoreHandle { tx, replica, identity })
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
        self.send(|tx| Command::Append(Box::new(append), tx))
    }

    /// Creates a document.
    pub fn create_doc(&self, title: &str) -> Reply<DocInfo> {
        self.send(|tx| Command::Create(title.to_owned(), tx))
    }

    /// Adds a known document (join).
    pub fn add_doc(&self, id: DocId, key: DocKey, title: &str) -> Reply<DocInfo> {
        self.send(|tx| Command::Add(id, key, title.to_owned(), tx))
    }

    /// Lists documents.
    pub fn docs(&self) -> Reply<Vec<DocInfo>> {
        self.send(Command::Docs)
    }

    /// Finds a document by id prefix.
    pub fn find_doc(&self, prefix: &str) -> Reply<DocInfo> {
        self.send(|tx| Command::Find(prefix.to_owned(), tx))
    }

    /// Removes a document and its data.
    pub fn remove_doc(&self, id: DocId) -> Reply<bool> {
        self.send(|tx| Command::Remove(id, tx))
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

    /// Closes the database after the commands queued before this one; the reply comes
    /// once the file is closed (another process or handle may then open it).
    pub fn close(&self) -> Reply<()> {
        self.send(Command::Close)
    }
}

fn run(mut store: Store, rx: mpsc::Receiver<Command>) {
    let mut next: Option<Command> = None;
    loop {
        let cmd = match next.take() {
            Some(c) => c,
            None => match rx.recv() {
                Ok(c) => c,
                Err(_) => return,
            },
        };
        match cmd {
            Command::Append(a, tx) => {
                // Group commit: take every append already queued.
                let mut batch = vec![*a];
                let mut waiters = vec![tx];
                while batch.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(Command::Append(a, tx)) => {
                            batch.push(*a);
                            waiters.push(tx);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                match store.append(&batch) {
                    Ok(due) => {
                        for w in waiters {
                            let _ = w.send(Ok(()));
                        }
                        // Snapshots are rewritten after the writers have their answer.
                        for id in due {
                            let _ = store.snapshot(id);
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        for w in waiters {
                            let _ =
                                w.send(Err(Error::Db { path: store.path().to_owned(), reason: msg.clone() }));
                        }
                    }
                }
            }
            Command::Create(title, tx) => drop(tx.send(store.create_doc(&title))),
            Command::Add(id, key, title, tx) => drop(tx.send(store.add_doc(id, key, &title))),
            Command::Docs(tx) => drop(tx.send(store.docs())),
            Command::Find(p, tx) => drop(tx.send(store.find_doc(&p))),
            Command::Remove(id, tx) => drop(tx.send(store.remove_doc(id))),
            Command::Load(id, writer, tx) => drop(tx.send(store.load_as(id, writer))),
            Command::Equivocated(id, author, seqs, refused, tx) => {
                drop(tx.send(store.record_equivocation(id, author, seqs, refused)))
            }
            Command::Equivocations(id, tx) => drop(tx.send(store.equivocations(id))),
            Command::Snapshot(id, tx) => drop(tx.send(store.snapshot(id))),
            Command::SignedSince(id, v, authors, tx) => {
                drop(tx.send(store.signed_changes_since_by(id, &v, &authors)))
            }
            Command::AddPeer(id, addr, tx) => drop(tx.send(store.add_peer_addr(id, &addr))),
            Command::SaveUndo(id, state, tx) => drop(tx.send(store.save_undo_state(id, &state))),
            Command::Peers(id, tx) => drop(tx.send(store.peer_addrs(id))),
            Command::Close(tx) => {
                // Later commands from other handles get `Stopped`.
                drop(rx);
                drop(store);
                let _ = tx.send(Ok(()));
                return;
            }
        }
    }
}
