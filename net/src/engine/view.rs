//! Views: a desktop window's own replica of an open document, kept in step with the
//! engine's replica.
//!
//! The window edits its replica synchronously (a keystroke never waits for the engine)
//! and hands each committed [`Change`] to the engine, which applies it to its replica,
//! signs it, stores it and publishes it. Changes the engine receives from peers are
//! forwarded to the view in the order the engine applied them, and the view's waker is
//! called so the window repaints. Both replicas hold the same changes, so they hold the
//! same text. Only the view writes as this device while it is attached.

use super::Engine;
use crate::error::NetError;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use tandem_crdt::{Change, Doc};
use tandem_storage::DocId;
use tokio::sync::mpsc;
use tracing::warn;

/// Called (from the engine's task) when a view has something new; a window passes a
/// closure that requests a repaint.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The engine's end of a view.
pub(super) struct ViewSink {
    tx: std_mpsc::Sender<Change>,
    wake: Waker,
    /// Whether the view may only read, shared with it: the document's key can change
    /// while it is open (joined again with an edit ticket, or a key change).
    read_only: Arc<std::sync::atomic::AtomicBool>,
}

impl ViewSink {
    /// Tells the view whether it may now edit, and wakes it.
    pub(super) fn set_read_only(&self, read_only: bool) {
        self.read_only.store(read_only, std::sync::atomic::Ordering::Relaxed);
        (self.wake)();
    }

    /// Forwards changes the engine applied, then wakes the view.
    pub(super) fn send(&self, changes: impl IntoIterator<Item = Change>) {
        for c in changes {
            let _ = self.tx.send(c);
        }
        (self.wake)();
    }
}

/// A window's replica of one document. Edit it through [`DocView::doc_mut`], then
/// [`DocView::commit`]; call [`DocView::pull`] at the start of each frame.
#[derive(Debug)]
pub struct DocView {
    id: DocId,
    doc: Doc,
    remote: std_mpsc::Receiver<Change>,
    /// A change taken off `remote` by [`DocView::has_incoming`], applied first.
    incoming: Option<Change>,
    local: mpsc::UnboundedSender<(DocId, Change)>,
    /// Whether this device may only read the document (joined with a read ticket),
    /// as the engine last said.
    read_only: Arc<std::sync::atomic::AtomicBool>,
}

impl DocView {
    /// A view that belongs to no engine: edits stay in it (for tests and previews).
    pub fn detached(replica: tandem_crdt::ReplicaId) -> DocView {
        let (_, remote) = std_mpsc::channel();
        let (local, _) = mpsc::unbounded_channel();
        DocView {
            id: DocId([0; 16]),
            doc: Doc::new(replica),
            remote,
            incoming: None,
            local,
            read_only: Default::default(),
        }
    }

    /// The document.
    pub fn id(&self) -> DocId {
        self.id
    }

    /// Whether this device may only read the document: the window takes no edits
    /// (the engine refuses them too).
    pub fn read_only(&self) -> bool {
        self.read_only.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The replica, to read.
    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    /// The replica, to edit; [`DocView::commit`] ships the edits.
    pub fn doc_mut(&mut self) -> &mut Doc {
        &mut self.doc
    }

    /// Commits the open transaction as an undo step of its own (a paste, a restore, a
    /// rename) and hands it to the engine (which stores it, then publishes it). Returns
    /// whether there was anything to commit.
    pub fn commit(&mut self) -> bool {
        self.doc.set_wall_clock(crate::change_time());
        let change = self.doc.commit();
        self.submit_some(change)
    }

    /// Like [`DocView::commit`], for edits that are no undo step (bookkeeping such as
    /// the author's name, see [`crate::authors`]).
    pub fn commit_untracked(&mut self) -> bool {
        self.doc.set_wall_clock(crate::change_time());
        let change = self.doc.commit_untracked();
        self.submit_some(change)
    }

    /// Like [`DocView::commit`], for edits made at `now_ms` (milliseconds on a clock of
    /// the caller's that never goes back): typing joins the undo step of the typing just
    /// before it unless the user paused ([`Doc::commit_at`]).
    pub fn commit_at(&mut self, now_ms: u64) -> bool {
        self.doc.set_wall_clock(crate::change_time());
        let change = self.doc.commit_at(now_ms);
        self.submit_some(change)
    }

    /// Hands `change`, if any, to the engine; returns whether there was one.
    fn submit_some(&self, change: Option<Change>) -> bool {
        change.map(|c| self.submit(c)).is_some()
    }

    /// Undoes this device's latest own edit (remote edits are never undone).
    pub fn undo(&mut self) -> Result<bool, NetError> {
        self.commit();
        let change = self.doc.undo()?;
        Ok(change.map(|c| self.submit(c)).is_some())
    }

    /// Redoes the latest undone edit.
    pub fn redo(&mut self) -> Result<bool, NetError> {
        self.commit();
        let change = self.doc.redo()?;
        Ok(change.map(|c| self.submit(c)).is_some())
    }

    fn submit(&self, change: Change) {
        // A big paste or import goes as several changes, each within what every
        // replica accepts of one change. A closed channel means the engine stopped; the
        // window is closing too.
        for part in change.wire_parts() {
            let _ = self.local.send((self.id, part));
        }
    }

    /// Whether the engine has forwarded changes that [`DocView::pull`] would apply.
    pub fn has_incoming(&mut self) -> bool {
        if self.incoming.is_none() {
            self.incoming = self.remote.try_recv().ok();
        }
        self.incoming.is_some()
    }

    /// Applies the changes the engine has forwarded since the last call (committing any
    /// open local edit first). Returns how many arrived.
    pub fn pull(&mut self) -> usize {
        let mut n = 0;
        while let Some(change) = self.incoming.take().or_else(|| self.remote.try_recv().ok()) {
            self.commit();
            if let Err(e) = self.doc.apply(change) {
                // The engine applied this change to an identical replica; failing here
                // means the two diverged, which the next attach repairs.
                warn!("view of {} refused a change: {e}", self.id);
            }
            n += 1;
        }
        n
    }

    /// The undo history, for the engine to keep across restarts.
    pub fn undo_state(&self) -> tandem_crdt::UndoState {
        self.doc.undo_state()
    }
}

/// The next change from an attached view (pending forever without a receiver).
pub(super) async fn next_local(
    rx: &mut Option<mpsc::UnboundedReceiver<(DocId, Change)>>,
) -> Option<(DocId, Change)> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Engine {
    /// Attaches a view to a document: its own replica, loaded from disk (with the undo
    /// history), and from now on every change the engine applies.
    pub(super) async fn attach(&mut self, id: DocId, wake: Waker) -> Result<DocView, NetError> {
        if !self.docs.contains_key(&id) {
            return Err(NetError::UnknownDoc(id));
        }
        let doc = self.store.load_as(id, tandem_storage::Writer::Window).get().await?;
        let (tx, remote) = std_mpsc::channel();
        let local = self.local_tx.clone();
        let read_only = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(d) = self.docs.get_mut(&id) {
            read_only.store(!d.cipher.can_write(), std::sync::atomic::Ordering::Relaxed);
            d.view = Some(ViewSink { tx, wake, read_only: read_only.clone() });
        }
        Ok(DocView { id, doc, remote, incoming: None, local, read_only })
    }

    /// A change made in a view: apply to the engine's replica, store, publish.
    pub(super) async fn on_view_change(&mut self, id: DocId, change: Change) {
        let Some(d) = self.docs.get_mut(&id) else { return };
        if !d.cipher.can_write() {
            warn!("refused an edit of {id} from the window: {}", NetError::ReadOnly(id));
            return;
        }
        if let Err(e) = d.doc.apply(change.clone()) {
            warn!("refused a change from the window for {id}: {e}");
            return;
        }
        self.sync.local_change(id, &change);
        if let Err(e) = self.persist_local(id, change).await {
            warn!("cannot store an edit of {id}: {e}");
        }
        if let Err(e) = self.record_device(id).await {
            warn!("cannot record this device in {id}: {e}");
        }
    }
}
