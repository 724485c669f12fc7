//! The desktop window (eframe/egui). It talks only to the engine's handle: async calls
//! run on the app's tokio runtime and come back as [`Msg`]s drained at the top of each
//! frame; the engine wakes the window with `request_repaint`. The open document is a
//! [`DocView`], the window's own replica, so typing never waits for the engine.

pub mod buffer;
pub mod settings;

use anyhow::{Context as _, Result};
use buffer::CrdtBuffer;
use egui::text::{CCursor, CCursorRange};
use egui::text_edit::TextEditState;
use egui::{Color32, Id, Key, KeyboardShortcut, Modifiers, RichText};
use settings::Settings;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tandem_crdt::{Anchor, Bias, Value, VectorClock};
use tandem_net::{
    DocPeer, DocSummary, DocView, EngineHandle, Event, NetConfig, PeerKind, PeerPresence, PeerSync, Ticket,
};
use tandem_storage::{DocId, StoreHandle};

/// How often peers, presence and sync status are refreshed while the window is open.
const REFRESH: Duration = Duration::from_secs(1);
/// A remote cursor that has not moved for this long starts to fade.
const FADE_AFTER: Duration = Duration::from_secs(10);

const UNDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
const REDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z);
const REDO_Y: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Y);

/// What background calls report back to the window.
enum Msg {
    Event(Event),
    Docs(Vec<DocSummary>),
    Opened(Result<Box<DocView>, String>),
    Created(Result<DocId, String>),
    Joined(Result<DocId, String>),
    Ticket(DocId, String),
    DocPeers(DocId, Vec<DocPeer>),
    Presences(DocId, Vec<PeerPresence>),
    Pending(DocId, usize),
    Online(usize),
    Removed(DocId),
    Notice(String, bool),
}

/// Wakes the window from other threads (the context is known after the first frame).
#[derive(Clone, Default)]
struct Repaint(Arc<Mutex<Option<egui::Context>>>);

impl Repaint {
    fn set(&self, ctx: &egui::Context) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if c.is_none() {
            *c = Some(ctx.clone());
        }
    }

    fn request(&self) {
        if let Some(ctx) = self.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            ctx.request_repaint();
        }
    }
}

/// The open document.
struct Open {
    view: DocView,
    /// The text the editor shows (the view's text).
    mirror: String,
    /// This device's last seq that is stored.
    saved: u64,
    ticket: Option<String>,
    peers: Vec<DocPeer>,
    presences: Vec<PeerPresence>,
    /// When each peer's cursor last moved.
    moved: HashMap<String, (Option<usize>, Instant)>,
    pending: usize,
    history: Option<History>,
    /// Own cursor and selection, as sent to peers.
    sent: Option<(Anchor, Option<Anchor>)>,
    /// Line and column of the cursor (1-based), for the status bar.
    line_col: (usize, usize),
    /// The cursor position and op count `line_col` was computed for.
    line_col_at: Option<(usize, usize)>,
    /// Put the keyboard focus in the editor on the next frame.
    focus: bool,
}

/// The history view: the document as it was after the first `pos` ops.
struct History {
    pos: usize,
    total: usize,
    shown: Option<(usize, String)>,
}

enum Dialog {
    Join { ticket: String, error: Option<String> },
    Rename { title: String },
    Remove { doc: DocId, title: String },
    Share,
    Import { path: String, error: Option<String> },
    Export { path: String, error: Option<String> },
    Settings(Settings),
}

/// The app state behind the window.
pub struct TandemApp {
    rt: tokio::runtime::Runtime,
    engine: EngineHandle,
    data_dir: PathBuf,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    repaint: Repaint,
    settings: Settings,
    docs: Vec<DocSummary>,
    open: Option<Open>,
    opening: Option<DocId>,
    dialog: Option<Dialog>,
    offline: bool,
    online_peers: usize,
    notice: Option<(String, bool)>,
    last_refresh: Option<Instant>,
    /// A document to open once the list arrives (an id or its first hex digits).
    pending_open: Option<String>,
}

impl std::fmt::Debug for TandemApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TandemApp").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

/// Opens the data dir and starts the engine; a second instance on the same data dir
/// gets an error that says so.
pub fn start(data_dir: &Path, net: NetConfig) -> Result<TandemApp> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    // A second instance on the same data dir gets the store's "another Tandem is using".
    let store = StoreHandle::open(data_dir)?;
    let engine = rt.block_on(EngineHandle::start(store, net)).context("starting the sync engine")?;
    let (tx, rx) = channel();
    let repaint = Repaint::default();
    let app = TandemApp {
        engine,
        data_dir: data_dir.to_owned(),
        tx,
        rx,
        repaint,
        settings: Settings::load(data_dir),
        docs: Vec::new(),
        open: None,
        opening: None,
        dialog: None,
        offline: false,
        online_peers: 0,
        notice: None,
        last_refresh: None,
        pending_open: None,
        rt,
    };
    app.forward_events();
    app.refresh_docs();
    Ok(app)
}

fn colour32(rgb: u32) -> Color32 {
    Color32::from_rgb((rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8)
}

fn kind_label(k: PeerKind) -> &'static str {
    match k {
        PeerKind::Lan => "LAN",
        PeerKind::Direct => "direct",
        PeerKind::Relayed => "relayed",
    }
}

/// The editor widget's id (its cursor state lives under it).
pub fn editor_id() -> Id {
    Id::new("tandem-editor")
}

/// Line and column (1-based) of a char position.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for c in text.chars().take(pos) {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// The clock after the first `n` ops of the document's history (in causal order).
fn clock_after(changes: &[tandem_crdt::Change], n: usize) -> VectorClock {
    let mut clock = VectorClock::new();
    let mut left = n as u64;
    for c in changes {
        if left == 0 {
            break;
        }
        let take = c.n_seqs().min(left);
        clock.observe(c.author, c.start_seq + take - 1);
        left -= take;
    }
    clock
}

impl TandemApp {
    fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
        then: impl FnOnce(T) -> Msg + Send + 'static,
    ) {
        let tx = self.tx.clone();
        let repaint = self.repaint.clone();
        self.rt.spawn(async move {
            let res = fut.await;
            let _ = tx.send(then(res));
            repaint.request();
        });
    }

    fn forward_events(&self) {
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

    fn refresh_docs(&self) {
        let e = self.engine.clone();
        self.spawn(async move { e.docs().await.unwrap_or_default() }, Msg::Docs);
    }

    fn refresh_doc(&self) {
        let Some(o) = &self.open else { return };
        let id = o.view.id();
        let e = self.engine.clone();
        self.spawn(async move { e.doc_peers(id).await.unwrap_or_default() }, move |p| Msg::DocPeers(id, p));
        let e = self.engine.clone();
        self.spawn(async move { e.presences(id).await.unwrap_or_default() }, move |p| Msg::Presences(id, p));
        let e = self.engine.clone();
        self.spawn(async move { e.status(id).await.map(|s| s.pending).unwrap_or(0) }, move |n| {
            Msg::Pending(id, n)
        });
        let e = self.engine.clone();
        self.spawn(async move { e.peers().await.map(|p| p.len()).unwrap_or(0) }, Msg::Online);
    }

    /// Opens a document (an id or its first hex digits) once the documents list is
    /// known: the one given on the command line, or the one open when the app closed.
    pub fn open_when_listed(&mut self, prefix: &str) {
        self.pending_open = Some(prefix.to_ascii_lowercase());
        self.refresh_docs();
    }

    /// Opens a document in the editor (the view loads in the background).
    pub fn open_doc(&mut self, id: DocId) {
        if self.open.as_ref().is_some_and(|o| o.view.id() == id) || self.opening == Some(id) {
            return;
        }
        let last = Some(id.to_string());
        if self.settings.last_doc != last {
            self.settings.last_doc = last;
            let _ = self.settings.save(&self.data_dir);
        }
        self.close_doc();
        self.opening = Some(id);
        let e = self.engine.clone();
        let repaint = self.repaint.clone();
        let wake: tandem_net::Waker = Arc::new(move || repaint.request());
        self.spawn(
            async move { e.attach(id, wake).await.map(Box::new).map_err(|e| e.to_string()) },
            Msg::Opened,
        );
    }

    fn close_doc(&mut self) {
        if let Some(mut o) = self.open.take() {
            o.view.commit();
            self.engine.save_undo(o.view.id(), o.view.undo_state());
        }
    }

    /// Creates a document and opens it.
    pub fn new_doc(&self, title: &str) {
        let e = self.engine.clone();
        let title = title.to_owned();
        self.spawn(
            async move { e.create(&title).await.map(|(id, _)| id).map_err(|e| e.to_string()) },
            Msg::Created,
        );
    }

    /// Joins a document by ticket; a bad ticket gives the reason.
    pub fn join(&mut self, ticket: &str) -> Result<(), String> {
        let t: Ticket = ticket.trim().parse().map_err(|e: tandem_net::TicketError| e.to_string())?;
        let e = self.engine.clone();
        self.spawn(async move { e.join(t).await.map_err(|e| e.to_string()) }, Msg::Joined);
        Ok(())
    }

    fn on_msg(&mut self, m: Msg) {
        match m {
            Msg::Event(ev) => match ev {
                Event::DocsChanged => self.refresh_docs(),
                Event::Saved { doc, seq } => {
                    if let Some(o) = self.open.as_mut().filter(|o| o.view.id() == doc) {
                        o.saved = o.saved.max(seq);
                    }
                    self.refresh_title();
                }
                Event::RemoteChange { doc, .. } => {
                    if self.open.as_ref().is_none_or(|o| o.view.id() != doc) {
                        self.refresh_docs();
                    }
                }
                Event::Presence { doc, .. } => {
                    if self.open.as_ref().is_some_and(|o| o.view.id() == doc) {
                        let e = self.engine.clone();
                        self.spawn(async move { e.presences(doc).await.unwrap_or_default() }, move |p| {
                            Msg::Presences(doc, p)
                        });
                    }
                }
                Event::PeerConnected(_) | Event::PeerDisconnected(_) => self.last_refresh = None,
            },
            Msg::Docs(d) => {
                self.docs = d;
                if let Some(want) = self.pending_open.take() {
                    match self.docs.iter().find(|d| d.id.to_string().starts_with(&want)) {
                        Some(d) => self.open_doc(d.id),
                        None => self.notice = Some((format!("No document {want} on this device"), true)),
                    }
                }
            }
            Msg::Opened(Ok(view)) => {
                if self.opening == Some(view.id()) {
                    self.opening = None;
                    let mirror = view.doc().text();
                    let saved = view.doc().version().get(view.doc().replica());
                    self.open = Some(Open {
                        view: *view,
                        mirror,
                        saved,
                        ticket: None,
                        peers: Vec::new(),
                        presences: Vec::new(),
                        moved: HashMap::new(),
                        pending: 0,
                        history: None,
                        sent: None,
                        line_col: (1, 1),
                        line_col_at: None,
                        focus: true,
                    });
                    self.last_refresh = None;
                }
            }
            Msg::Opened(Err(e)) => {
                self.opening = None;
                self.notice = Some((format!("Cannot open the document: {e}"), true));
            }
            Msg::Created(Ok(id)) | Msg::Joined(Ok(id)) => {
                self.refresh_docs();
                self.open_doc(id);
            }
            Msg::Created(Err(e)) => self.notice = Some((format!("Cannot create the document: {e}"), true)),
            Msg::Joined(Err(e)) => self.notice = Some((format!("Cannot join: {e}"), true)),
            Msg::Ticket(doc, t) => {
                if let Some(o) = self.open.as_mut().filter(|o| o.view.id() == doc) {
                    o.ticket = Some(t);
                }
            }
            Msg::DocPeers(doc, p) => {
                if let Some(o) = self.open.as_mut().filter(|o| o.view.id() == doc) {
                    o.peers = p;
                }
            }
            Msg::Presences(doc, p) => {
                if let Some(o) = self.open.as_mut().filter(|o| o.view.id() == doc) {
                    let now = Instant::now();
                    for pr in &p {
                        let key = pr.peer.to_string();
                        let at = o.view.doc().resolve(&pr.cursor_anchor);
                        match o.moved.get(&key) {
                            Some((old, _)) if *old == at => {}
                            _ => {
                                o.moved.insert(key, (at, now));
                            }
                        }
                    }
                    o.presences = p;
                }
            }
            Msg::Pending(doc, n) => {
                if let Some(o) = self.open.as_mut().filter(|o| o.view.id() == doc) {
                    o.pending = n;
                }
            }
            Msg::Online(n) => self.online_peers = n,
            Msg::Removed(doc) => {
                if self.open.as_ref().is_some_and(|o| o.view.id() == doc) {
                    self.open = None;
                }
                self.docs.retain(|d| d.id != doc);
                self.refresh_docs();
            }
            Msg::Notice(text, error) => self.notice = Some((text, error)),
        }
    }

    /// Applies what peers sent to the open view, keeping the local cursor and selection
    /// on the characters they were at.
    fn pull_remote(&mut self, ctx: &egui::Context) {
        let Some(o) = &mut self.open else { return };
        if !o.view.has_incoming() {
            return;
        }
        let mut state = TextEditState::load(ctx, editor_id());
        let range = state.as_ref().and_then(|s| s.cursor.char_range());
        let doc = o.view.doc();
        let anchors = range.map(|r| {
            (doc.anchor(r.primary.index.0, Bias::Before), doc.anchor(r.secondary.index.0, Bias::Before))
        });
        if o.view.pull() == 0 {
            return;
        }
        self.refresh_title();
        let Some(o) = &mut self.open else { return };
        o.mirror = o.view.doc().text();
        if let Some(h) = &mut o.history {
            h.total = o.view.doc().n_ops();
        }
        if let (Some(s), Some((a, b))) = (state.as_mut(), anchors) {
            let doc = o.view.doc();
            let len = doc.len_chars();
            let p = doc.resolve(&a).unwrap_or(len);
            let q = doc.resolve(&b).unwrap_or(len);
            s.cursor.set_char_range(Some(CCursorRange::two(CCursor::new(q), CCursor::new(p))));
            if let Some(s) = state {
                s.store(ctx, editor_id());
            }
        }
    }

    fn undo(&mut self, redo: bool) {
        let Some(o) = &mut self.open else { return };
        let res = if redo { o.view.redo() } else { o.view.undo() };
        match res {
            Ok(true) => o.mirror = o.view.doc().text(),
            Ok(false) => {}
            Err(e) => self.notice = Some((format!("Cannot undo: {e}"), true)),
        }
    }

    /// Draws one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.repaint.set(&ctx);
        while let Ok(m) = self.rx.try_recv() {
            self.on_msg(m);
        }
        self.pull_remote(&ctx);
        if self.last_refresh.is_none_or(|t| t.elapsed() >= REFRESH) {
            self.last_refresh = Some(Instant::now());
            self.refresh_doc();
        }
        ctx.request_repaint_after(REFRESH);

        // Undo/redo are the CRDT's (own edits only), not the text widget's.
        if self.open.is_some() && self.dialog.is_none() {
            let (undo, redo) = ui.input_mut(|i| {
                let redo = i.consume_shortcut(&REDO) || i.consume_shortcut(&REDO_Y);
                (i.consume_shortcut(&UNDO), redo)
            });
            if undo {
                self.undo(false);
            }
            if redo {
                self.undo(true);
            }
        }

        self.top_bar_ui(ui);
        self.status_bar_ui(ui);
        self.docs_panel_ui(ui);
        if self.settings.show_peers && self.open.is_some() {
            self.peers_panel_ui(ui);
        }
        let page = egui::Frame::new()
            .fill(ui.visuals().extreme_bg_color)
            .inner_margin(egui::Margin::symmetric(28, 18));
        egui::CentralPanel::default().frame(page).show(ui, |ui| self.central_ui(ui));
        self.dialog_ui(&ctx);
    }

    fn title(&self) -> String {
        match &self.open {
            Some(o) => {
                let title = tandem_net::title_of(o.view.doc());
                if title.is_empty() { "Untitled".into() } else { title }
            }
            None => String::new(),
        }
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("top").show(ui, |ui| {
            ui.add_space(4.0);
            ui.horizontal(|ui| {
                ui.heading(RichText::new("Tandem").strong());
                ui.separator();
                if self.open.is_some() {
                    let title = self.title();
                    ui.label(RichText::new(&title).size(16.0));
                    let conflict =
                        self.open.as_ref().is_some_and(|o| o.view.doc().map_values("title").len() > 1);
                    if conflict {
                        ui.colored_label(Color32::from_rgb(0xd0, 0x80, 0x00), "⚠ title conflict")
                            .on_hover_text(
                                "Peers renamed this document at the same time: choose one in Rename.",
                            );
                    }
                    if ui.button("Rename").clicked() {
                        self.dialog = Some(Dialog::Rename { title });
                    }
                    ui.separator();
                    let (can_undo, can_redo) = self
                        .open
                        .as_ref()
                        .map_or((false, false), |o| (o.view.doc().can_undo(), o.view.doc().can_redo()));
                    if ui.add_enabled(can_undo, egui::Button::new("Undo")).on_hover_text("Ctrl+Z").clicked() {
                        self.undo(false);
                    }
                    if ui
                        .add_enabled(can_redo, egui::Button::new("Redo"))
                        .on_hover_text("Ctrl+Shift+Z")
                        .clicked()
                    {
                        self.undo(true);
                    }
                    ui.separator();
                    let in_history = self.open.as_ref().is_some_and(|o| o.history.is_some());
                    if ui.selectable_label(in_history, "History").clicked()
                        && let Some(o) = &mut self.open
                    {
                        o.history = if in_history {
                            None
                        } else {
                            let total = o.view.doc().n_ops();
                            Some(History { pos: total, total, shown: None })
                        };
                    }
                    if ui.button("Share").clicked() {
                        self.dialog = Some(Dialog::Share);
                        if let Some(o) = &self.open {
                            let id = o.view.id();
                            let e = self.engine.clone();
                            self.spawn(
                                async move { e.ticket(id).await.map(|t| t.to_string()).unwrap_or_default() },
                                move |t| Msg::Ticket(id, t),
                            );
                        }
                    }
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui.button("⚙ Settings").clicked() {
                        self.dialog = Some(Dialog::Settings(self.settings.clone()));
                    }
                    let mut offline = self.offline;
                    if ui.checkbox(&mut offline, "Work offline").changed() {
                        self.offline = offline;
                        let e = self.engine.clone();
                        self.spawn(async move { e.set_offline(offline).await.is_ok() }, move |_| {
                            Msg::Notice(
                                if offline { "Working offline".into() } else { "Back online".into() },
                                false,
                            )
                        });
                    }
                });
            });
            ui.add_space(4.0);
        });
    }

    fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                if let Some(o) = &self.open {
                    let own = o.view.doc().version().get(o.view.doc().replica());
                    ui.label(if own <= o.saved { "✔ Saved" } else { "Saving…" });
                    ui.separator();
                    let behind = o.peers.iter().any(|p| p.sync != PeerSync::InSync);
                    let sync = if self.offline {
                        "Not syncing".to_owned()
                    } else if o.peers.is_empty() {
                        "No peers on this document".to_owned()
                    } else if behind || o.pending > 0 {
                        format!("Syncing… ({} pending)", o.pending)
                    } else {
                        "Synced".to_owned()
                    };
                    ui.label(sync);
                    ui.separator();
                }
                let (c, label) = if self.offline {
                    (Color32::from_rgb(0xc0, 0x40, 0x40), "Offline")
                } else {
                    (Color32::from_rgb(0x30, 0xa0, 0x50), "Online")
                };
                dot_ui(ui, c);
                ui.colored_label(c, label);
                ui.label(format!(
                    "{} peer{}",
                    self.online_peers,
                    if self.online_peers == 1 { "" } else { "s" }
                ));
                if let Some((text, error)) = &self.notice {
                    ui.separator();
                    let c =
                        if *error { Color32::from_rgb(0xd0, 0x40, 0x40) } else { ui.visuals().text_color() };
                    ui.colored_label(c, text);
                }
                if let Some(o) = &self.open {
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        ui.label(format!("{} chars", o.view.doc().len_chars()));
                        ui.separator();
                        ui.label(format!("Ln {}, Col {}", o.line_col.0, o.line_col.1));
                    });
                }
            });
        });
    }

    fn docs_panel_ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::left("docs").resizable(true).default_size(220.0).show(ui, |ui| {
            ui.add_space(6.0);
            ui.label(RichText::new("Documents").strong());
            ui.add_space(4.0);
            ui.horizontal_wrapped(|ui| {
                if ui.button("New").clicked() {
                    self.new_doc("Untitled");
                }
                if ui.button("Join…").clicked() {
                    self.dialog = Some(Dialog::Join { ticket: String::new(), error: None });
                }
                if ui.button("Import…").clicked() {
                    self.dialog = Some(Dialog::Import { path: String::new(), error: None });
                }
            });
            ui.separator();
            let current = self.open.as_ref().map(|o| o.view.id()).or(self.opening);
            let mut open = None;
            let mut remove = None;
            let mut export = false;
            egui::ScrollArea::vertical().show(ui, |ui| {
                for d in &self.docs {
                    let title = if d.title.is_empty() { "Untitled" } else { d.title.as_str() };
                    let r = ui
                        .selectable_label(current == Some(d.id), title)
                        .on_hover_text(format!("{} chars", d.len_chars));
                    if r.clicked() {
                        open = Some(d.id);
                    }
                    r.context_menu(|ui| {
                        if ui.button("Export…").clicked() {
                            open = Some(d.id);
                            export = true;
                        }
                        if ui.button("Remove…").clicked() {
                            remove = Some((d.id, title.to_owned()));
                        }
                    });
                }
                if self.docs.is_empty() {
                    ui.weak("No documents yet.");
                }
            });
            if let Some(id) = open {
                self.open_doc(id);
            }
            if export {
                self.dialog = Some(Dialog::Export { path: String::new(), error: None });
            }
            if let Some((doc, title)) = remove {
                self.dialog = Some(Dialog::Remove { doc, title });
            }
            if let Some(id) = self.open.as_ref().map(|o| o.view.id()) {
                ui.with_layout(egui::Layout::bottom_up(egui::Align::LEFT), |ui| {
                    ui.add_space(4.0);
                    if ui.button("Remove this document…").clicked() {
                        self.dialog = Some(Dialog::Remove { doc: id, title: self.title() });
                    }
                    if ui.button("Export…").clicked() {
                        self.dialog = Some(Dialog::Export { path: String::new(), error: None });
                    }
                });
            }
        });
    }

    fn peers_panel_ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::right("peers").resizable(true).default_size(200.0).show(ui, |ui| {
            ui.add_space(6.0);
            ui.label(RichText::new("Peers").strong());
            ui.add_space(4.0);
            let Some(o) = &self.open else { return };
            ui.horizontal(|ui| {
                dot_ui(ui, colour32(self.settings.colour));
                ui.label(format!("{} (you)", self.settings.name));
            });
            if o.peers.is_empty() {
                ui.add_space(6.0);
                ui.weak(if self.offline {
                    "Offline."
                } else {
                    "Nobody else here yet. Share the ticket to invite someone."
                });
            }
            for p in &o.peers {
                ui.add_space(4.0);
                ui.horizontal(|ui| {
                    let (name, colour) = p.name.clone().unwrap_or_else(|| {
                        let id = p.peer.to_string();
                        (format!("peer …{}", &id[id.len().saturating_sub(6)..]), 0x888888)
                    });
                    dot_ui(ui, colour32(colour));
                    ui.label(name);
                });
                let sync = match p.sync {
                    PeerSync::InSync => "in sync",
                    PeerSync::Behind => "behind",
                    PeerSync::Ahead => "ahead (receiving)",
                    PeerSync::Unknown => "connecting",
                };
                ui.weak(format!("    {} · {}", kind_label(p.kind), sync));
            }
        });
    }

    fn central_ui(&mut self, ui: &mut egui::Ui) {
        if self.opening.is_some() && self.open.is_none() {
            ui.centered_and_justified(|ui| {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Opening the document…");
                });
            });
            return;
        }
        let Some(o) = &mut self.open else {
            ui.vertical_centered(|ui| {
                ui.add_space(ui.available_height() / 3.0);
                ui.heading("Welcome to Tandem");
                ui.add_space(8.0);
                ui.label("Create a document, or join one with a ticket someone shared with you.");
                ui.add_space(12.0);
                if ui.button("New document").clicked() {
                    self.new_doc("Untitled");
                }
                if ui.button("Join with a ticket…").clicked() {
                    self.dialog = Some(Dialog::Join { ticket: String::new(), error: None });
                }
            });
            return;
        };
        if let Some(h) = &mut o.history {
            history_ui(ui, &mut o.view, &mut o.mirror, h);
            if h.pos == usize::MAX {
                o.history = None;
            }
            return;
        }
        if std::mem::take(&mut o.focus) {
            ui.memory_mut(|m| m.request_focus(editor_id()));
        }
        let font = if self.settings.monospace { egui::TextStyle::Monospace } else { egui::TextStyle::Body };
        let wrap = self.settings.wrap;
        // Peers' cursors, resolved in this replica (they follow the text they point at).
        let doc = o.view.doc();
        let cursors: Vec<(String, Color32, usize, Option<usize>)> = o
            .presences
            .iter()
            .filter_map(|p| {
                let at = doc.resolve(&p.cursor_anchor)?;
                let sel = p.selection_anchor.as_ref().and_then(|a| doc.resolve(a));
                let quiet = o.moved.get(&p.peer.to_string()).map_or(Duration::ZERO, |(_, t)| t.elapsed());
                let fade = if quiet <= FADE_AFTER {
                    1.0
                } else {
                    (1.0 - (quiet - FADE_AFTER).as_secs_f32() / 20.0).max(0.25)
                };
                Some((p.name.clone(), colour32(p.colour).gamma_multiply(fade), at, sel))
            })
            .collect();
        let mut buffer = CrdtBuffer::new(&mut o.view, &mut o.mirror);
        let output = egui::ScrollArea::both().auto_shrink([false, false]).show(ui, |ui| {
            let edit = egui::TextEdit::multiline(&mut buffer)
                .id(editor_id())
                .font(font)
                .frame(egui::Frame::NONE)
                .lock_focus(true)
                .desired_rows(30)
                .desired_width(if wrap { ui.available_width() } else { f32::INFINITY });
            let out = edit.show(ui);
            remote_cursors_ui(ui, &out, &cursors);
            out
        });
        let changed = buffer.changed;
        let out = output.inner;
        if changed {
            o.view.commit();
        }
        let cursor = out.cursor_range.map(|r| (r.primary.index.0, r.secondary.index.0));
        if let Some((p, q)) = cursor {
            // Counting lines is a scan of the text: only when the cursor or text moved.
            let key = (p, o.view.doc().n_ops());
            if o.line_col_at != Some(key) {
                o.line_col_at = Some(key);
                o.line_col = line_col(&o.mirror, p);
            }
            let doc = o.view.doc();
            let anchors = (doc.anchor(p, Bias::Before), (p != q).then(|| doc.anchor(q, Bias::Before)));
            if o.sent != Some(anchors) {
                o.sent = Some(anchors);
                self.engine.set_presence_anchors(
                    o.view.id(),
                    &self.settings.name,
                    self.settings.colour,
                    anchors.0,
                    anchors.1,
                );
            }
        }
    }

    fn dialog_ui(&mut self, ctx: &egui::Context) {
        let Some(mut dialog) = self.dialog.take() else { return };
        let mut keep = true;
        let modal = egui::Modal::new(Id::new("dialog")).show(ctx, |ui| {
            ui.set_width(460.0);
            match &mut dialog {
                Dialog::Join { ticket, error } => {
                    ui.heading("Join a document");
                    ui.label("Paste the ticket someone shared with you:");
                    ui.add(
                        egui::TextEdit::multiline(ticket)
                            .desired_rows(3)
                            .desired_width(f32::INFINITY)
                            .id(Id::new("join-ticket")),
                    );
                    if let Some(e) = error {
                        ui.colored_label(
                            Color32::from_rgb(0xd0, 0x40, 0x40),
                            format!("This ticket is not valid: {e}"),
                        );
                    }
                    ui.horizontal(|ui| {
                        if ui.button("Join").clicked() {
                            match self.join(ticket) {
                                Ok(()) => keep = false,
                                Err(e) => *error = Some(e),
                            }
                        }
                        if ui.button("Cancel").clicked() {
                            keep = false;
                        }
                    });
                }
                Dialog::Rename { title } => {
                    ui.heading("Rename");
                    ui.add(
                        egui::TextEdit::singleline(title)
                            .desired_width(f32::INFINITY)
                            .id(Id::new("rename-title")),
                    );
                    let values =
                        self.open.as_ref().map_or(Vec::new(), |o| tandem_net::titles_of(o.view.doc()));
                    if values.len() > 1 {
                        ui.add_space(6.0);
                        ui.label("Peers renamed it at the same time. Keep one:");
                        for v in &values {
                            if ui.button(format!("Keep “{v}”")).clicked() {
                                *title = v.clone();
                            }
                        }
                    }
                    ui.horizontal(|ui| {
                        if ui.button("Rename").clicked() {
                            if let Some(o) = &mut self.open {
                                o.view.commit();
                                if o.view
                                    .doc_mut()
                                    .map_set("title", Value::Str(title.trim().to_owned()))
                                    .is_ok()
                                {
                                    o.view.commit();
                                }
                            }
                            self.refresh_title();
                            keep = false;
                        }
                        if ui.button("Cancel").clicked() {
                            keep = false;
                        }
                    });
                }
                Dialog::Remove { doc, title } => {
                    ui.heading("Remove document");
                    ui.label(format!("Remove “{title}” from this device? Peers keep their copies."));
                    ui.horizontal(|ui| {
                        if ui.button("Remove").clicked() {
                            let id = *doc;
                            let e = self.engine.clone();
                            self.spawn(async move { e.remove(id).await.is_ok() }, move |_| Msg::Removed(id));
                            keep = false;
                        }
                        if ui.button("Cancel").clicked() {
                            keep = false;
                        }
                    });
                }
                Dialog::Share => {
                    ui.heading("Share");
                    ui.label("Anyone with this ticket can read and edit the document:");
                    let ticket = self.open.as_ref().and_then(|o| o.ticket.clone());
                    match ticket {
                        Some(t) => {
                            let mut shown = t.as_str();
                            ui.add(
                                egui::TextEdit::multiline(&mut shown)
                                    .desired_rows(4)
                                    .desired_width(f32::INFINITY)
                                    .font(egui::TextStyle::Monospace)
                                    .id(Id::new("share-ticket")),
                            );
                            ui.horizontal(|ui| {
                                if ui.button("Copy").clicked() {
                                    ui.ctx().copy_text(t.clone());
                                    self.notice = Some(("Ticket copied".into(), false));
                                }
                                if ui.button("Close").clicked() {
                                    keep = false;
                                }
                            });
                        }
                        None => {
                            ui.spinner();
                            if ui.button("Close").clicked() {
                                keep = false;
                            }
                        }
                    }
                }
                Dialog::Import { path, error } => {
                    let form = ("Import a text file", "Path of a .txt or .md file:", "import-path", "Import");
                    match path_form_ui(ui, form, path, error.as_deref()) {
                        Some(true) => match self.import(Path::new(path.trim())) {
                            Ok(()) => keep = false,
                            Err(e) => *error = Some(e),
                        },
                        Some(false) => keep = false,
                        None => {}
                    }
                }
                Dialog::Export { path, error } => {
                    let form = ("Export", "Save the text to (a .txt or .md path):", "export-path", "Export");
                    match path_form_ui(ui, form, path, error.as_deref()) {
                        Some(true) => match self.export(Path::new(path.trim())) {
                            Ok(()) => keep = false,
                            Err(e) => *error = Some(e),
                        },
                        Some(false) => keep = false,
                        None => {}
                    }
                }
                Dialog::Settings(s) => {
                    ui.heading("Settings");
                    egui::Grid::new("settings").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
                        ui.label("Display name");
                        ui.add(egui::TextEdit::singleline(&mut s.name).id(Id::new("settings-name")));
                        ui.end_row();
                        ui.label("Colour");
                        let mut rgb = colour32(s.colour);
                        if ui.color_edit_button_srgba(&mut rgb).changed() {
                            s.colour =
                                (u32::from(rgb.r()) << 16) | (u32::from(rgb.g()) << 8) | u32::from(rgb.b());
                        }
                        ui.end_row();
                        ui.label("Editor");
                        ui.vertical(|ui| {
                            ui.checkbox(&mut s.monospace, "Monospace font");
                            ui.checkbox(&mut s.wrap, "Word wrap");
                            ui.checkbox(&mut s.show_peers, "Show peers panel");
                        });
                        ui.end_row();
                    });
                    ui.horizontal(|ui| {
                        if ui.button("Save").clicked() {
                            self.settings = s.clone();
                            if let Err(e) = self.settings.save(&self.data_dir) {
                                self.notice = Some((format!("Cannot save settings: {e}"), true));
                            }
                            if let Some(o) = &mut self.open {
                                o.sent = None;
                            }
                            keep = false;
                        }
                        if ui.button("Cancel").clicked() {
                            keep = false;
                        }
                    });
                }
            }
        });
        if modal.should_close() {
            keep = false;
        }
        if keep {
            self.dialog = Some(dialog);
        }
    }

    /// Shows the open document's title in the list (the engine's list follows when the
    /// rename is stored).
    fn refresh_title(&mut self) {
        let Some(o) = &self.open else { return };
        let (title, titles) = (tandem_net::title_of(o.view.doc()), tandem_net::titles_of(o.view.doc()));
        let id = o.view.id();
        if let Some(d) = self.docs.iter_mut().find(|d| d.id == id && (d.title != title || d.titles != titles))
        {
            (d.title, d.titles) = (title, titles);
            self.refresh_docs();
        }
    }

    /// Creates a document from a UTF-8 text file (its name is the title).
    pub fn import(&self, path: &Path) -> Result<(), String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("Cannot read {}: {e}", path.display()))?;
        let title = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let e = self.engine.clone();
        self.spawn(
            async move {
                let (id, _) = e.create(&title).await.map_err(|e| e.to_string())?;
                e.insert(id, 0, &text).await.map_err(|e| e.to_string())?;
                Ok(id)
            },
            Msg::Created,
        );
        Ok(())
    }

    /// Writes the open document's text to a file.
    pub fn export(&self, path: &Path) -> Result<(), String> {
        let o = self.open.as_ref().ok_or("No document is open")?;
        if path.as_os_str().is_empty() {
            return Err("Give a file path".into());
        }
        std::fs::write(path, o.view.doc().text()).map_err(|e| format!("Cannot write {}: {e}", path.display()))
    }

    /// The open document's text (for tests and scripts).
    pub fn text(&self) -> Option<&str> {
        self.open.as_ref().map(|o| o.mirror.as_str())
    }

    /// The open document's id.
    pub fn open_id(&self) -> Option<DocId> {
        self.open.as_ref().map(|o| o.view.id())
    }

    /// The read-only text the history view shows.
    pub fn history_text(&self) -> Option<&str> {
        self.open.as_ref()?.history.as_ref()?.shown.as_ref().map(|(_, t)| t.as_str())
    }

    /// The ticket shown in the share dialog, once it is there.
    pub fn shown_ticket(&self) -> Option<&str> {
        self.open.as_ref().and_then(|o| o.ticket.as_deref())
    }

    /// The documents in the list.
    pub fn docs(&self) -> &[DocSummary] {
        &self.docs
    }

    /// Peers' presences in the open document.
    pub fn presences(&self) -> &[PeerPresence] {
        self.open.as_ref().map_or(&[], |o| o.presences.as_slice())
    }

    /// The message shown in the status bar.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_ref().map(|(t, _)| t.as_str())
    }

    /// Stops the engine (after committing and saving the open document's undo history).
    pub fn shutdown(&mut self) {
        self.close_doc();
        let e = self.engine.clone();
        self.rt.block_on(async move { e.shutdown().await });
    }
}

/// A dialog asking for a file path: `(heading, prompt, field id, button)`. Returns
/// `Some(true)` when the button is pressed, `Some(false)` on Cancel.
fn path_form_ui(
    ui: &mut egui::Ui,
    (heading, prompt, id, button): (&str, &str, &str, &str),
    path: &mut String,
    error: Option<&str>,
) -> Option<bool> {
    ui.heading(heading);
    ui.label(prompt);
    ui.add(egui::TextEdit::singleline(path).desired_width(f32::INFINITY).id(Id::new(id)));
    if let Some(e) = error {
        ui.colored_label(Color32::from_rgb(0xd0, 0x40, 0x40), e);
    }
    ui.horizontal(|ui| {
        if ui.button(button).clicked() {
            Some(true)
        } else if ui.button("Cancel").clicked() {
            Some(false)
        } else {
            None
        }
    })
    .inner
}

/// A small filled circle, as a colour key.
fn dot_ui(ui: &mut egui::Ui, c: Color32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    ui.painter().circle_filled(rect.center(), 4.5, c);
}

/// Draws peers' cursors and selections in their colours, each with a name tag.
fn remote_cursors_ui(
    ui: &egui::Ui,
    out: &egui::text_edit::TextEditOutput,
    cursors: &[(String, Color32, usize, Option<usize>)],
) {
    // Clipped to the visible editor, not to the text (a tag may stick out past a line).
    let painter = ui.painter_at(ui.clip_rect());
    let end = out.galley.end().index.0;
    let offset = out.galley_pos.to_vec2();
    for (name, c, at, sel) in cursors {
        let at = (*at).min(end);
        if let Some(sel) = sel.map(|s| s.min(end)).filter(|s| *s != at) {
            for r in selection_rects(&out.galley, at.min(sel), at.max(sel)) {
                painter.rect_filled(r.translate(offset), 2.0, c.gamma_multiply(0.25));
            }
        }
        let r = out.galley.pos_from_cursor(CCursor::new(at)).translate(offset);
        painter.line_segment([r.left_top(), r.left_bottom()], egui::Stroke::new(2.0, *c));
        let label = egui::WidgetText::from(RichText::new(name).size(12.0).color(Color32::WHITE));
        let galley =
            label.into_galley(ui, Some(egui::TextWrapMode::Extend), f32::INFINITY, egui::TextStyle::Small);
        let size = galley.size() + egui::vec2(8.0, 2.0);
        // Above the line, or below it on the first visible line.
        let top = if r.top() - size.y >= ui.clip_rect().top() { r.top() - size.y } else { r.bottom() };
        let tag = egui::Rect::from_min_size(egui::pos2(r.left(), top), size);
        painter.rect_filled(tag, 3.0, *c);
        painter.galley(tag.min + egui::vec2(4.0, 1.0), galley, Color32::WHITE);
    }
}

/// Rectangles covering the chars `a..b` of a laid-out text, one per row.
fn selection_rects(galley: &egui::Galley, a: usize, b: usize) -> Vec<egui::Rect> {
    let mut res = Vec::new();
    let (ra, rb) = (galley.pos_from_cursor(CCursor::new(a)), galley.pos_from_cursor(CCursor::new(b)));
    if (ra.top() - rb.top()).abs() < 1.0 {
        res.push(egui::Rect::from_min_max(ra.left_top(), rb.right_bottom()));
        return res;
    }
    let right = galley.rect.right();
    res.push(egui::Rect::from_min_max(ra.left_top(), egui::pos2(right, ra.bottom())));
    if rb.top() > ra.bottom() + 0.5 {
        res.push(egui::Rect::from_min_max(
            egui::pos2(galley.rect.left(), ra.bottom()),
            egui::pos2(right, rb.top()),
        ));
    }
    res.push(egui::Rect::from_min_max(egui::pos2(galley.rect.left(), rb.top()), rb.right_bottom()));
    res
}

/// The history slider and the read-only text at the chosen point; "Restore" applies that
/// text as a new edit. Sets `h.pos` to `usize::MAX` to leave the history.
fn history_ui(ui: &mut egui::Ui, view: &mut DocView, mirror: &mut String, h: &mut History) {
    ui.horizontal(|ui| {
        ui.label("Version");
        let total = h.total.max(1);
        ui.add(egui::Slider::new(&mut h.pos, 0..=total).text(format!("of {total} edits")));
        if ui.button("Restore this version").clicked() {
            let old = h.shown.as_ref().map(|(_, t)| t.clone()).unwrap_or_default();
            restore(view, &old);
            *mirror = view.doc().text();
            h.pos = usize::MAX;
        }
        if ui.button("Back to editing").clicked() {
            h.pos = usize::MAX;
        }
    });
    if h.pos == usize::MAX {
        return;
    }
    if h.shown.as_ref().is_none_or(|(p, _)| *p != h.pos) {
        let changes = view.doc().all_changes();
        let clock = clock_after(&changes, h.pos);
        let text = view.doc().text_at(&clock).unwrap_or_default();
        h.shown = Some((h.pos, text));
    }
    ui.separator();
    if let Some((_, text)) = &h.shown {
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            let mut shown = text.as_str();
            ui.add(
                egui::TextEdit::multiline(&mut shown)
                    .desired_width(f32::INFINITY)
                    .frame(egui::Frame::NONE)
                    .id(Id::new("history-text")),
            );
        });
    }
}

/// Makes the view's text equal `old` with one edit: the part between the common prefix
/// and suffix is replaced.
fn restore(view: &mut DocView, old: &str) {
    let cur: Vec<char> = view.doc().text().chars().collect();
    let want: Vec<char> = old.chars().collect();
    let prefix = cur.iter().zip(&want).take_while(|(a, b)| a == b).count();
    let suffix =
        cur[prefix..].iter().rev().zip(want[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    let del = cur.len() - prefix - suffix;
    let ins: String = want[prefix..want.len() - suffix].iter().collect();
    view.commit();
    let doc = view.doc_mut();
    if del > 0 && doc.delete(prefix, del).is_err() {
        return;
    }
    if !ins.is_empty() {
        let _ = doc.insert(prefix, &ins);
    }
    view.commit();
}

/// The eframe app: the window around [`TandemApp`].
struct Window(TandemApp);

impl eframe::App for Window {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.0.ui(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.0.shutdown();
    }
}

/// Shows an error in a small window (when the app cannot start, e.g. a second instance).
struct ErrorWindow(String);

impl eframe::App for ErrorWindow {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("Tandem cannot start");
            ui.add_space(8.0);
            ui.label(&self.0);
            if self.0.contains("another Tandem") {
                ui.label("Use the window that is already open, or start this one with --data-dir DIR.");
            }
            ui.add_space(8.0);
            if ui.button("Close").clicked() {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        });
    }
}

/// Opens the desktop window on `data_dir` (with the document `open`, or the one open
/// when it was last closed) and runs until it is closed.
pub fn run(data_dir: &Path, net: NetConfig, open: Option<&str>) -> Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Tandem")
            .with_inner_size([1100.0, 720.0])
            .with_min_inner_size([640.0, 400.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    match start(data_dir, net) {
        Ok(mut app) => {
            if let Some(doc) = open.map(str::to_owned).or_else(|| app.settings.last_doc.clone()) {
                app.open_when_listed(&doc);
            }
            eframe::run_native(
                "Tandem",
                options,
                Box::new(move |cc| {
                    style(&cc.egui_ctx);
                    Ok(Box::new(Window(app)))
                }),
            )
            .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
        }
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("tandem: {msg}");
            let options = eframe::NativeOptions {
                viewport: egui::ViewportBuilder::default()
                    .with_title("Tandem")
                    .with_inner_size([520.0, 180.0]),
                renderer: eframe::Renderer::Glow,
                ..Default::default()
            };
            eframe::run_native(
                "Tandem",
                options,
                Box::new(move |cc| {
                    style(&cc.egui_ctx);
                    Ok(Box::new(ErrorWindow(msg)))
                }),
            )
            .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
            Err(e)
        }
    }
}

/// The look: a little more air than egui's defaults.
pub fn style(ctx: &egui::Context) {
    ctx.set_theme(egui::Theme::Light);
    ctx.all_styles_mut(|s| {
        s.spacing.item_spacing = egui::vec2(8.0, 6.0);
        s.spacing.button_padding = egui::vec2(8.0, 4.0);
        s.text_styles.insert(egui::TextStyle::Body, egui::FontId::proportional(15.0));
        s.text_styles.insert(egui::TextStyle::Monospace, egui::FontId::monospace(14.0));
        s.text_styles.insert(egui::TextStyle::Button, egui::FontId::proportional(14.0));
    });
}
