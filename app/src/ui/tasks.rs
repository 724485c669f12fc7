//! The window's link to the engine: calls run as tasks on the app's tokio runtime and
//! their results come back as [`Msg`]s, which [`TandemApp::logic`] drains before the
//! window is drawn. Every sender wakes the window.

use super::TandemApp;
use super::dialogs::Dialog;
use super::document::OpenDoc;
use super::error::FileError;
use super::files::Progress;
use super::status_bar::Notice;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use tandem_net::{DocPeer, DocSummary, DocView, EngineHandle, Event, NetError, PeerPresence, TrashedDoc};
use tandem_storage::DocId;

/// What background calls report back to the window.
pub(super) enum Msg {
    Event(Event),
    Docs(Vec<DocSummary>),
    /// The documents in the trash.
    Trash(Vec<TrashedDoc>),
    Opened(Result<Box<DocView>, NetError>),
    Created(Result<DocId, NetError>),
    Joined(Result<DocId, NetError>),
    Ticket(DocId, String, String),
    /// The members of a document this device knows of (for "remove people").
    Members(DocId, Result<Vec<tandem_net::DocMember>, NetError>),
    /// This device was linked with the devices (peer ids) its person's device codes
    /// name, or why not.
    Linked(Result<Vec<String>, NetError>),
    /// A document moved to a new key without this many people: its new edit ticket.
    PeopleRemoved(DocId, usize, Result<String, NetError>),
    DocPeers(DocId, Vec<DocPeer>),
    Presences(DocId, Vec<PeerPresence>),
    /// The document's connected peers, its changes waiting for deps, and writers caught
    /// equivocating.
    Pending(DocId, usize, usize, Vec<tandem_crdt::ReplicaId>, bool),
    /// How many peers are connected (on any document).
    Online(usize),
    /// How this device is connected to the network (for the connection panel).
    Network(tandem_net::NetworkStatus),
    Removed(DocId),
    /// A document was moved to the trash (or why not).
    Trashed(DocId, Result<bool, NetError>),
    /// A document was taken out of the trash (or why not).
    Untrashed(DocId, Result<bool, NetError>),
    Notice(Notice),
    /// An import finished: the document made from the file, or why there is none.
    Imported(Arc<Progress>, Result<DocId, FileError>),
    /// The system's file chooser closed, for the export (`save`) or import dialog:
    /// the path chosen, and whether it answered so soon that it was never shown.
    Chosen {
        save: bool,
        path: Option<PathBuf>,
        quick: bool,
    },
}

/// Wakes the window from other threads (the context is known after the first frame).
#[derive(Clone, Default)]
pub(super) struct Repaint(Arc<Mutex<Option<egui::Context>>>);

impl Repaint {
    pub(super) fn set(&self, ctx: &egui::Context) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if c.is_none() {
            *c = Some(ctx.clone());
        }
    }

    pub(super) fn request(&self) {
        if let Some(ctx) = self.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            ctx.request_repaint();
        }
    }
}

/// The runtime the engine calls run on, the engine's handle and the channel their
/// results come back on.
pub(super) struct Tasks {
    rt: tokio::runtime::Runtime,
    pub(super) engine: EngineHandle,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    pub(super) repaint: Repaint,
}

impl Tasks {
    pub(super) fn new(rt: tokio::runtime::Runtime, engine: EngineHandle) -> Tasks {
        let (tx, rx) = channel();
        Tasks { rt, engine, tx, rx, repaint: Repaint::default() }
    }

    /// Runs `fut` on the runtime; its result comes back as the message `then` makes.
    pub(super) fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
        then: impl FnOnce(T) -> Msg + Send + 'static,
    ) {
        let tx = self.tx.clone();
        let repaint = self.repaint.clone();
        self.rt.spawn(async move {
            let res = fut.await;
            // A closed channel means the window is gone; nobody is left to tell.
            tx.send(then(res)).ok();
            repaint.request();
        });
    }

    /// Forwards the engine's events to the window until either side stops.
    pub(super) fn forward_events(&self) {
        let mut events = self.engine.subscribe();
        let tx = self.tx.clone();
        let repaint = self.repaint.clone();
        self.rt.spawn(async move {
            loop {
                match events.recv().await {
                    Ok(ev) => {
                        if tx.send(Msg::Event(ev)).is_err() {
                            break;
                        }
                        repaint.request();
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
        });
    }

    /// The next message that has arrived, if any (never waits).
    pub(super) fn try_recv(&self) -> Option<Msg> {
        self.rx.try_recv().ok()
    }

    /// Runs the blocking `f` on the runtime's threads for blocking work; its result
    /// comes back as the message `then` makes.
    pub(super) fn spawn_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
        then: impl FnOnce(T) -> Msg + Send + 'static,
    ) {
        let tx = self.tx.clone();
        let repaint = self.repaint.clone();
        self.rt.spawn_blocking(move || {
            tx.send(then(f())).ok();
            repaint.request();
        });
    }

    /// Runs `fut` to the end on the runtime (only for shutting down).
    pub(super) fn block_on<T>(&self, fut: impl Future<Output = T>) -> T {
        self.rt.block_on(fut)
    }

    /// Asks for the documents list.
    pub(super) fn refresh_docs(&self) {
        let e = self.engine.clone();
        self.spawn(async move { e.docs().await.unwrap_or_default() }, Msg::Docs);
    }

    /// Asks for the documents in the trash (it changes only with the list itself,
    /// never while a name is typed).
    pub(super) fn refresh_trash(&self) {
        let e = self.engine.clone();
        self.spawn(async move { e.trashed().await.unwrap_or_default() }, Msg::Trash);
    }

    /// Asks how this device is connected to the network.
    pub(super) fn refresh_network(&self) {
        let e = self.engine.clone();
        self.spawn(async move { e.network().await.unwrap_or_default() }, Msg::Network);
    }

    /// Asks for peers' presences in a document.
    pub(super) fn refresh_presences(&self, id: DocId) {
        let e = self.engine.clone();
        self.spawn(async move { e.presences(id).await.unwrap_or_default() }, move |p| Msg::Presences(id, p));
    }

    /// Asks for a document's peers, presences and sync status, and the connected peers.
    pub(super) fn refresh_doc(&self, id: DocId) {
        let e = self.engine.clone();
        self.spawn(async move { e.doc_peers(id).await.unwrap_or_default() }, move |p| Msg::DocPeers(id, p));
        self.refresh_presences(id);
        let e = self.engine.clone();
        self.spawn(
            async move {
                e.status(id)
                    .await
                    .map(|s| (s.peers, s.pending, s.equivocators, s.removed))
                    .unwrap_or_default()
            },
            move |(peers, n, cheats, removed)| Msg::Pending(id, peers, n, cheats, removed),
        );
        let e = self.engine.clone();
        self.spawn(async move { e.peers().await.map(|p| p.len()).unwrap_or(0) }, Msg::Online);
    }
}

impl TandemApp {
    /// The open document, if it is `doc`.
    fn open_if(&mut self, doc: DocId) -> Option<&mut OpenDoc> {
        self.open.as_mut().filter(|o| o.id() == doc)
    }

    /// Takes in what a background call or the engine reported.
    pub(super) fn on_msg(&mut self, m: Msg) {
        match m {
            Msg::Network(status) => {
                if let Some(Dialog::Connection(p)) = &mut self.dialog {
                    p.status = Some(status);
                }
            }
            Msg::Event(ev) => match ev {
                Event::DocsChanged => {
                    self.tasks.refresh_docs();
                    self.tasks.refresh_trash();
                }
                Event::Saved { doc, author, seq } => {
                    if let Some(o) = self.open_if(doc).filter(|o| o.view.doc().replica() == author) {
                        o.saved = o.saved.max(seq);
                    }
                    self.refresh_title();
                }
                Event::RemoteChange { doc, .. } => {
                    if self.open.as_ref().is_none_or(|o| o.id() != doc) {
                        self.tasks.refresh_docs();
                    }
                }
                Event::Presence { doc, .. } => {
                    if self.open.as_ref().is_some_and(|o| o.id() == doc) {
                        self.tasks.refresh_presences(doc);
                    }
                }
                Event::PeerConnected(_) | Event::PeerDisconnected(_) => self.last_refresh = None,
                Event::Storage { waiting, error, .. } => {
                    self.status.unstored = error.filter(|_| waiting > 0).map(|e| (waiting, e));
                }
                Event::Equivocation { doc, author } => {
                    if let Some(o) = self.open_if(doc)
                        && !o.equivocators.contains(&author)
                    {
                        o.equivocators.push(author);
                        self.status.notify(Notice::Error(format!(
                            "Writer {author} signed two different versions of its edits; the second was refused"
                        )));
                    }
                }
            },
            Msg::Docs(d) => {
                self.docs.list = d;
                if let Some(want) = self.pending_open.take() {
                    match self.docs.list.iter().find(|d| d.id.to_string().starts_with(&want)) {
                        Some(d) => self.open_doc(d.id),
                        None => {
                            self.status.notify(Notice::Error(format!("No document {want} on this device")))
                        }
                    }
                }
            }
            Msg::Opened(Ok(view)) => {
                if self.opening == Some(view.id()) {
                    self.opening = None;
                    self.open = Some(OpenDoc::new(*view));
                    self.record_author();
                    self.last_refresh = None;
                }
            }
            Msg::Opened(Err(e)) => {
                self.opening = None;
                self.status.notify(Notice::Error(format!("Cannot open the document: {e}")));
            }
            Msg::Created(Ok(id)) | Msg::Joined(Ok(id)) => {
                self.tasks.refresh_docs();
                self.open_doc(id);
            }
            Msg::Created(Err(e)) => {
                self.status.notify(Notice::Error(format!("Cannot create the document: {e}")));
            }
            Msg::Joined(Err(e)) => self.status.notify(Notice::Error(format!("Cannot join: {e}"))),
            Msg::Ticket(doc, edit, read) => {
                if let Some(o) = self.open_if(doc) {
                    o.ticket = Some(edit);
                    o.read_ticket = Some(read);
                }
            }
            Msg::Linked(Ok(peers)) => {
                self.settings.linked_devices = peers;
                match self.settings.save(&self.data_dir) {
                    Ok(()) => self.status.notify(Notice::Info("Linked devices saved".into())),
                    Err(e) => self.status.notify(Notice::Error(format!("Cannot save settings: {e}"))),
                }
            }
            Msg::Linked(Err(e)) => self.status.notify(Notice::Error(format!("Cannot link the devices: {e}"))),
            Msg::Members(doc, res) => match (res, self.open_id() == Some(doc), &mut self.dialog) {
                (Ok(list), true, Some(Dialog::RemovePeople { members, remove })) => {
                    *remove = vec![false; list.len()];
                    *members = Some(list);
                }
                (Err(e), _, Some(Dialog::RemovePeople { .. })) => {
                    self.dialog = None;
                    self.status.notify(Notice::Error(format!("Cannot list the people: {e}")));
                }
                _ => {}
            },
            Msg::PeopleRemoved(doc, n, res) => match res {
                Ok(ticket) => {
                    if let Some(o) = self.open_if(doc) {
                        o.ticket = Some(ticket);
                        o.read_ticket = None;
                    }
                    let people = if n == 1 { "1 person".to_owned() } else { format!("{n} people") };
                    self.status.notify(Notice::Info(format!(
                        "Removed {people}: the document has a new key, and old tickets no longer work"
                    )));
                }
                Err(e) => self.status.notify(Notice::Error(format!("Cannot remove people: {e}"))),
            },
            Msg::DocPeers(doc, p) => {
                if let Some(o) = self.open_if(doc) {
                    o.peers = p;
                }
            }
            Msg::Presences(doc, p) => {
                if let Some(o) = self.open_if(doc) {
                    o.editor.set_presences(o.view.doc(), p);
                }
            }
            Msg::Pending(doc, peers, n, cheats, removed) => {
                if let Some(o) = self.open_if(doc) {
                    o.removed = removed;
                    o.n_peers = peers;
                    o.pending = n;
                    o.equivocators = cheats;
                }
            }
            Msg::Online(n) => self.status.connections = n,
            Msg::Trash(t) => self.docs.trash = t,
            Msg::Removed(doc) => self.forget(doc),
            Msg::Trashed(doc, res) => match res {
                Ok(_) => {
                    self.forget(doc);
                    self.status.notify(Notice::Info("Moved to the trash".into()));
                }
                Err(e) => self.status.notify(Notice::Error(format!("Cannot move it to the trash: {e}"))),
            },
            Msg::Untrashed(doc, res) => match res {
                Ok(_) => {
                    self.tasks.refresh_docs();
                    self.open_doc(doc);
                }
                Err(e) => self.status.notify(Notice::Error(format!("Cannot restore it: {e}"))),
            },
            Msg::Notice(n) => self.status.notify(n),
            Msg::Imported(progress, res) => {
                self.status.imports.retain(|p| !Arc::ptr_eq(p, &progress));
                let in_dialog = matches!(&self.dialog, Some(Dialog::Import { busy: Some(p), .. })
                    if Arc::ptr_eq(p, &progress));
                match res {
                    Ok(id) => {
                        if in_dialog {
                            self.dialog = None;
                        }
                        self.tasks.refresh_docs();
                        self.open_doc(id);
                    }
                    Err(e) if in_dialog => {
                        if let Some(Dialog::Import { busy, error, .. }) = &mut self.dialog {
                            *busy = None;
                            *error = Some(e);
                        }
                    }
                    Err(e) => self.status.notify(Notice::Error(e.to_string())),
                }
            }
            Msg::Chosen { save, path, quick } => {
                if let Some(d) = &mut self.dialog {
                    d.set_choosing(false);
                }
                match path {
                    // The chooser asked before replacing a file.
                    Some(p) if save => self.export_from_ui(&p, true),
                    Some(p) => self.import_from_ui(&p),
                    None if quick => self.show_file_error(FileError::NoChooser),
                    // The user closed the chooser.
                    None => {}
                }
            }
        }
    }

    /// A document left the list (to the trash or for good): it closes if it was open.
    fn forget(&mut self, doc: DocId) {
        if self.open.as_ref().is_some_and(|o| o.id() == doc) {
            self.open = None;
        }
        self.docs.list.retain(|d| d.id != doc);
        self.tasks.refresh_docs();
    }
}
