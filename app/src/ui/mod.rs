//! The desktop window (eframe/egui). It talks only to the engine's handle: async calls
//! run on the app's tokio runtime and come back as messages that
//! [`TandemApp::logic`] drains before the window is drawn; the engine wakes the window
//! with `request_repaint`. The open document is a [`DocView`], the window's own replica,
//! so typing never waits for the engine.
//!
//! Each part of the window is a module with its own state: the top bar (`top_bar`), the
//! documents list (`docs_panel`), the editor (`editor`), the history (`history`), the
//! peers panel (`peers_panel`), the status bar (`status_bar`) and the dialogs
//! (`dialogs`). A panel only reads the app's state and returns actions for what the
//! user asked; `TandemApp::apply` (in `action`) is the one place that carries them out.
//! Beside them: `files` (imports read on a thread, the system's file chooser), `fonts`
//! (the system's fallback fonts, loaded on a thread) and `settings` (the settings and
//! the window's size, zoom and "Work offline", kept in the data dir).
//!
//! [`DocView`]: tandem_net::DocView

mod action;
mod buffer;
mod connection;
mod dialogs;
mod docs_panel;
mod document;
mod editor;
mod error;
mod files;
mod find;
pub mod fonts;
mod goto_line;
mod help;
mod history;
mod keys;
mod markdown;
mod peers_panel;
mod presence;
mod settings;
mod status_bar;
mod switcher;
mod tasks;
mod text_window;
mod top_bar;
mod widgets;

pub use editor::editor_id;
pub use error::FileError;
pub use find::{find_field_id, replace_field_id};
pub use goto_line::goto_field_id;
pub use presence::{Edge, Tag, TagKind, overlaps};
pub use settings::WindowState;
pub use switcher::switcher_field_id;
pub use widgets::{PALETTE, colour_of_key, hue_distance, hue_of};

use action::Action;
use anyhow::{Context as _, Result};
use dialogs::Dialog;
use docs_panel::DocsPanel;
use document::OpenDoc;
use settings::{Settings, ThemeChoice};
use status_bar::{Notice, StatusBar};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switcher::Switcher;
use tandem_net::{DocSummary, EngineHandle, NetConfig, PeerPresence, Ticket, TicketError};
use tandem_storage::{DocId, StoreHandle};
use tasks::{Msg, Tasks};

/// How often peers, presence and sync status are refreshed while the window is open.
const REFRESH: Duration = Duration::from_secs(1);

/// The window's size and zoom are written this long after they last changed (not on
/// every frame of a resize).
const SAVE_WINDOW_AFTER: Duration = Duration::from_secs(1);

/// The app state behind the window.
pub struct TandemApp {
    tasks: Tasks,
    data_dir: PathBuf,
    settings: Settings,
    docs: DocsPanel,
    open: Option<OpenDoc>,
    /// The document being opened (its view is loading).
    opening: Option<DocId>,
    dialog: Option<Dialog>,
    /// The quick switcher, while it is shown.
    switcher: Option<Switcher>,
    /// Whether the keyboard shortcuts are shown.
    help: bool,
    offline: bool,
    status: StatusBar,
    last_refresh: Option<Instant>,
    /// A document to open once the list arrives (an id or its first hex digits).
    pending_open: Option<String>,
    /// The user chose to quit although edits are not stored.
    quit_confirmed: bool,
    /// The window's title as last sent to the window.
    window_title: String,
    /// This device's key (its peer id as text), which picks its default colour.
    key: String,
    /// The window's size, zoom and "Work offline" as they are now.
    window: WindowState,
    /// When `window` last changed while it differs from what is on disk.
    window_changed: Option<Instant>,
    /// The theme egui was told to use.
    theme_applied: Option<ThemeChoice>,
    /// The zoom from the last run was given to egui (on the first frame).
    zoom_restored: bool,
    /// The system's fallback fonts, until they are read and handed to egui.
    fonts: Option<std::sync::mpsc::Receiver<Vec<fonts::SystemFont>>>,
    /// The fallback fonts egui has: their names.
    fonts_installed: Vec<String>,
    /// The folder of the last file imported or exported, where the next is looked for.
    files_dir: Option<PathBuf>,
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
    let (peer, _) = rt.block_on(engine.info()).context("asking the sync engine for this device's key")?;
    let settings = Settings::load(data_dir);
    let linked = settings.linked_devices.iter().filter_map(|p| p.parse().ok()).collect();
    rt.block_on(engine.set_linked(linked)).context("linking this person's devices")?;
    let window = WindowState::load(data_dir);
    if window.offline {
        rt.block_on(engine.set_offline(true)).context("working offline")?;
    }
    // Reading the fonts (tens of MB) is not the first frame's business.
    let (fonts_tx, fonts_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("tandem-fonts".into())
        .spawn(move || fonts_tx.send(fonts::system_fonts()).ok())
        .context("starting the font loader")?;
    let app = TandemApp {
        tasks: Tasks::new(rt, engine),
        data_dir: data_dir.to_owned(),
        settings,
        docs: DocsPanel::default(),
        open: None,
        opening: None,
        dialog: None,
        switcher: None,
        help: false,
        offline: window.offline,
        status: StatusBar::default(),
        last_refresh: None,
        pending_open: None,
        quit_confirmed: false,
        window_title: "Tandem".to_owned(),
        key: peer.to_string(),
        window,
        window_changed: None,
        theme_applied: None,
        zoom_restored: false,
        fonts: Some(fonts_rx),
        fonts_installed: Vec::new(),
        files_dir: None,
    };
    app.tasks.forward_events();
    app.tasks.refresh_docs();
    app.tasks.refresh_trash();
    Ok(app)
}

impl TandemApp {
    /// Draws one frame: [`TandemApp::logic`], then the window. For hosts without
    /// eframe's separate logic step (tests, benchmarks); the desktop window has eframe
    /// call the two halves itself.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.logic(ui.ctx());
        self.window_ui(ui);
    }

    /// The work of each frame before anything is drawn: takes in what the engine and
    /// background calls reported, pulls peers' edits into the open document, and
    /// refreshes peers and sync status every [`REFRESH`].
    pub fn logic(&mut self, ctx: &egui::Context) {
        self.tasks.repaint.set(ctx);
        while let Some(m) = self.tasks.try_recv() {
            self.on_msg(m);
        }
        // Closing the window with edits the disk has not taken asks first.
        if ctx.input(|i| i.viewport().close_requested()) && !self.quit_confirmed {
            let waiting = self.tasks.engine.storage().waiting.len();
            if waiting > 0 {
                ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
                self.dialog = Some(Dialog::Quit { waiting });
            }
        }
        if self.open.as_mut().is_some_and(|o| o.pull_remote(ctx)) {
            self.refresh_title();
        }
        if self.last_refresh.is_none_or(|t| t.elapsed() >= REFRESH) {
            self.last_refresh = Some(Instant::now());
            if let Some(o) = &self.open {
                self.tasks.refresh_doc(o.id());
            }
            if matches!(self.dialog, Some(Dialog::Connection(_))) {
                self.tasks.refresh_network();
            }
        }
        self.update_window_title(ctx);
        self.apply_look(ctx);
        self.remember_window(ctx);
        ctx.request_repaint_after(REFRESH);
    }

    /// Tells egui the theme when it changed, and hands it the system's fonts once the
    /// loader read them.
    fn apply_look(&mut self, ctx: &egui::Context) {
        if self.theme_applied != Some(self.settings.theme) {
            // A system that does not say whether it is dark gets the light theme.
            ctx.options_mut(|o| o.fallback_theme = egui::Theme::Light);
            ctx.set_theme(self.settings.theme.preference());
            self.theme_applied = Some(self.settings.theme);
        }
        if let Some(rx) = &self.fonts {
            match rx.try_recv() {
                Ok(loaded) => {
                    self.fonts_installed = loaded.iter().map(|f| f.name.clone()).collect();
                    fonts::install(ctx, loaded);
                    self.fonts = None;
                    ctx.request_repaint();
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
                Err(std::sync::mpsc::TryRecvError::Disconnected) => self.fonts = None,
            }
        }
    }

    /// Restores the zoom of the last run on the first frame; then notes the window's
    /// size and zoom as they change, and writes them once they have settled.
    fn remember_window(&mut self, ctx: &egui::Context) {
        if !self.zoom_restored {
            // It takes effect from the next frame, so this frame's zoom is not noted.
            ctx.set_zoom_factor(self.window.zoom);
            self.zoom_restored = true;
            return;
        }
        let zoom = ctx.zoom_factor();
        let inner = ctx.input(|i| i.viewport().inner_rect);
        // In logical pixels, which do not change with the zoom.
        let size = inner.map(|r| [(r.width() * zoom).round(), (r.height() * zoom).round()]);
        let now = WindowState { size: size.or(self.window.size), zoom, offline: self.offline };
        if now != self.window {
            self.window = now;
            self.window_changed = Some(Instant::now());
        }
        match self.window_changed {
            Some(t) if t.elapsed() >= SAVE_WINDOW_AFTER => self.save_window(),
            Some(t) => ctx.request_repaint_after(SAVE_WINDOW_AFTER.saturating_sub(t.elapsed())),
            None => {}
        }
    }

    /// Writes the window's state beside the settings.
    fn save_window(&mut self) {
        self.window_changed = None;
        if let Err(e) = self.window.save(&self.data_dir) {
            self.status.notify(Notice::Error(format!("Cannot save the window's size and zoom: {e}")));
        }
    }

    /// Names the window after the open document ("Notes — Tandem"), telling the window
    /// only when the title changes.
    fn update_window_title(&mut self, ctx: &egui::Context) {
        let title = match &self.open {
            Some(o) => format!("{} — Tandem", o.title()),
            None => "Tandem".to_owned(),
        };
        if title != self.window_title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.window_title = title;
        }
    }

    /// Draws the window: every panel, then the dialog; then applies what they asked for.
    fn window_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        // Keyboard shortcuts are taken before any widget sees them and applied before
        // anything is drawn: undo and redo are the CRDT's (own edits only); Escape
        // closes the find bar or the go-to-line prompt while one is open.
        let state = keys::KeyState {
            doc_open: self.open.is_some(),
            bar_open: self.open.as_ref().is_some_and(|o| o.find.open || o.goto.is_some()),
            modal_open: self.dialog.is_some() || self.switcher.is_some() || self.help,
        };
        for a in keys::shortcuts(&ctx, state) {
            self.apply(a, &ctx);
        }
        let mut actions = self.drop_ui(&ctx);
        actions.extend(top_bar::top_bar_ui(ui, self.open.as_ref(), self.offline));
        actions.extend(self.status.ui(ui, self.open.as_ref(), self.offline));
        let current = self.open.as_ref().map(OpenDoc::id).or(self.opening);
        actions.extend(self.docs.ui(ui, current, self.open.as_ref()));
        if self.settings.show_peers
            && let Some(o) = &self.open
        {
            let view = peers_panel::PeersView {
                me: (&self.settings.name, self.colour()),
                with_cursor: o.editor.presences_in(o.view.doc()),
                following: o.editor.follow.as_deref(),
                offline: self.offline,
            };
            actions.extend(peers_panel::peers_panel_ui(ui, &view, &o.peers, &o.equivocators));
        }
        // The editor's lane for peers' badges takes most of the page's left margin.
        let page = egui::Frame::new().fill(ui.visuals().extreme_bg_color).inner_margin(egui::Margin {
            left: 28 - presence::LANE as i8,
            right: 28,
            top: 18,
            bottom: 18,
        });
        egui::CentralPanel::default().frame(page).show(ui, |ui| actions.extend(self.central_ui(ui)));
        if let Some(d) = &mut self.dialog {
            actions.extend(d.ui(&ctx, self.open.as_ref()));
        } else if let Some(s) = &mut self.switcher {
            let open_name = self.open.as_ref().map(|o| (o.id(), o.title()));
            actions.extend(s.ui(&ctx, &self.docs.list, open_name));
        } else if self.help {
            actions.extend(help::help_ui(&ctx));
        }
        if !actions.is_empty() {
            for a in actions {
                self.apply(a, &ctx);
            }
            // The next frame shows what the actions changed.
            ctx.request_repaint();
        }
    }

    /// The middle of the window: the editor under the find bar and the go-to-line
    /// prompt when they are open, the history, or what to do while no document is open.
    fn central_ui(&mut self, ui: &mut egui::Ui) -> Vec<Action> {
        if self.opening.is_some() && self.open.is_none() {
            editor::opening_ui(ui);
            return Vec::new();
        }
        let Some(o) = &mut self.open else { return editor::welcome_ui(ui).into_iter().collect() };
        if let Some(h) = &mut o.history {
            return h.ui(ui, o.view.doc()).into_iter().collect();
        }
        let mut actions = Vec::new();
        if let Some(g) = &mut o.goto {
            actions.extend(g.ui(ui, o.editor.counts.lines));
        }
        if o.find.open {
            actions.extend(o.find.ui(ui, o.view.doc(), &o.mirror));
        }
        if o.goto.is_some() || o.find.open {
            ui.separator();
        }
        actions.extend(o.editor.ui(ui, &mut o.view, &mut o.mirror, &self.settings, &mut o.find));
        actions
    }

    /// Opens a document (an id or its first hex digits) once the documents list is
    /// known: the one given on the command line, or the one open when the app closed.
    pub fn open_when_listed(&mut self, prefix: &str) {
        self.pending_open = Some(prefix.to_ascii_lowercase());
        self.tasks.refresh_docs();
    }

    /// Opens a document in the editor (the view loads in the background).
    pub fn open_doc(&mut self, id: DocId) {
        if self.open.as_ref().is_some_and(|o| o.id() == id) || self.opening == Some(id) {
            return;
        }
        let last = Some(id.to_string());
        if self.settings.last_doc != last {
            self.settings.last_doc = last;
            self.settings.save(&self.data_dir).ok();
        }
        self.close_doc();
        self.opening = Some(id);
        let e = self.tasks.engine.clone();
        let repaint = self.tasks.repaint.clone();
        let wake: tandem_net::Waker = Arc::new(move || repaint.request());
        self.tasks.spawn(async move { e.attach(id, wake).await.map(Box::new) }, Msg::Opened);
    }

    fn close_doc(&mut self) {
        if let Some(o) = self.open.take() {
            o.close(&self.tasks.engine);
        }
    }

    /// Creates a document and opens it.
    fn new_doc(&self, title: &str) {
        let e = self.tasks.engine.clone();
        let title = title.to_owned();
        self.tasks.spawn(async move { e.create(&title).await.map(|(id, _)| id) }, Msg::Created);
    }

    /// Joins a document by ticket; a bad ticket gives the reason.
    pub fn join(&mut self, ticket: &str) -> Result<(), TicketError> {
        let t: Ticket = ticket.trim().parse()?;
        let e = self.tasks.engine.clone();
        self.tasks.spawn(async move { e.join(t).await }, Msg::Joined);
        Ok(())
    }

    /// Starts making a document from a UTF-8 text file (its name is the title): a
    /// missing file or a folder is refused at once; the file is read on a thread, its
    /// progress in the status bar, and the document opens once it is made (or the
    /// error is shown).
    pub fn import(&mut self, path: &Path) -> Result<(), FileError> {
        self.start_import(path).map(drop)
    }

    fn start_import(&mut self, path: &Path) -> Result<Arc<files::Progress>, FileError> {
        let progress = files::check_import(path)?;
        self.files_dir = path.parent().map(Path::to_owned);
        self.status.imports.push(progress.clone());
        let title = crate::docs::title_from_path(path);
        let e = self.tasks.engine.clone();
        let (p, done, finished) = (progress.clone(), progress.clone(), progress.clone());
        let path = path.to_owned();
        let failed =
            move |e: &dyn std::fmt::Display| FileError::Create { path: path.clone(), reason: e.to_string() };
        self.tasks.spawn(
            async move {
                let text = tokio::task::spawn_blocking(move || files::read_text(&p))
                    .await
                    .map_err(|e| failed(&e))??;
                let (id, _) = e.create(&title).await.map_err(|e| failed(&e))?;
                // In pieces, so that the progress moves while the document is made.
                let mut at = 0;
                for piece in files::pieces(&text) {
                    e.insert(id, at, piece).await.map_err(|e| failed(&e))?;
                    at += piece.chars().count();
                    done.inserted(piece.len());
                }
                Ok(id)
            },
            move |res| Msg::Imported(finished, res),
        );
        Ok(progress)
    }

    /// Writes the open document's text to a file; a file that exists is replaced only
    /// if `overwrite`.
    fn export(&self, path: &Path, overwrite: bool) -> Result<(), FileError> {
        let o = self.open.as_ref().ok_or(FileError::NoDocument)?;
        if path.as_os_str().is_empty() {
            return Err(FileError::NoPath);
        }
        if !overwrite && path.exists() {
            return Err(FileError::Exists { path: path.to_owned() });
        }
        std::fs::write(path, o.view.doc().text())
            .map_err(|source| FileError::Write { path: path.to_owned(), source })
    }

    /// Imports the files dropped on the window; while files are dragged over it, says
    /// what dropping does, over everything (dialogs too).
    fn drop_ui(&mut self, ctx: &egui::Context) -> Vec<Action> {
        let (hovering, dropped) =
            ctx.input(|i| (!i.raw.hovered_files.is_empty(), i.raw.dropped_files.clone()));
        if hovering {
            let screen = ctx.content_rect();
            let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Tooltip, egui::Id::new("drop")));
            painter.rect_filled(screen, 0.0, egui::Color32::from_black_alpha(150));
            painter.text(
                screen.center(),
                egui::Align2::CENTER_CENTER,
                "Drop a text file to import it",
                egui::FontId::proportional(26.0),
                egui::Color32::WHITE,
            );
        }
        let mut actions = Vec::new();
        for f in dropped {
            match f.path {
                Some(path) => actions.push(Action::Import(path)),
                None => {
                    self.status.notify(Notice::Error(format!("Cannot import {}: it has no path", f.name)))
                }
            }
        }
        actions
    }

    /// Shows the open document's title in the list (the engine's list follows when the
    /// rename is stored).
    fn refresh_title(&mut self) {
        let Some(o) = &self.open else { return };
        let (title, titles) = (tandem_net::title_of(o.view.doc()), tandem_net::titles_of(o.view.doc()));
        let name = tandem_net::name_of(o.view.doc());
        let id = o.id();
        if let Some(d) = self
            .docs
            .list
            .iter_mut()
            .find(|d| d.id == id && (d.title != title || d.titles != titles || d.name != name))
        {
            (d.title, d.titles, d.name) = (title, titles, name);
            self.tasks.refresh_docs();
        }
    }

    /// The open document's text (for tests and scripts).
    pub fn text(&self) -> Option<&str> {
        self.open.as_ref().map(|o| o.mirror.as_str())
    }

    /// The open document's id.
    pub fn open_id(&self) -> Option<DocId> {
        self.open.as_ref().map(OpenDoc::id)
    }

    /// The read-only text the history view shows.
    pub fn history_text(&self) -> Option<&str> {
        self.open.as_ref()?.history.as_ref()?.shown_text()
    }

    /// The ticket shown in the share dialog, once it is there.
    pub fn shown_ticket(&self) -> Option<&str> {
        self.open.as_ref().and_then(|o| o.ticket.as_deref())
    }

    /// The read ticket the share dialog offers, once it is there.
    pub fn shown_read_ticket(&self) -> Option<&str> {
        self.open.as_ref().and_then(|o| o.read_ticket.as_deref())
    }

    /// Whether the open document is read-only on this device.
    pub fn read_only(&self) -> bool {
        self.open.as_ref().is_some_and(|o| o.view.read_only())
    }

    /// The documents in the list.
    pub fn docs(&self) -> &[DocSummary] {
        &self.docs.list
    }

    /// The documents in the trash.
    pub fn trash(&self) -> &[tandem_net::TrashedDoc] {
        &self.docs.trash
    }

    /// Peers' presences in the open document.
    pub fn presences(&self) -> &[PeerPresence] {
        self.open.as_ref().map_or(&[], |o| o.editor.presences.as_slice())
    }

    /// The find bar's matches in the open document (char ranges) and the current one,
    /// while the bar is open.
    pub fn find_matches(&self) -> Option<(&[std::ops::Range<usize>], Option<usize>)> {
        let o = self.open.as_ref().filter(|o| o.find.open)?;
        Some((&o.find.matches, o.find.current))
    }

    /// The window's replica of the open document (for tests and scripts).
    pub fn view(&self) -> Option<&tandem_net::DocView> {
        self.open.as_ref().map(|o| &o.view)
    }

    /// The open document's peers as the status bar counts them (connected peers that
    /// share it).
    pub fn peer_count(&self) -> Option<usize> {
        self.open.as_ref().map(|o| o.n_peers)
    }

    /// This user's colour (0xRRGGBB): the one picked in the settings, or else the one
    /// of this device's key.
    pub fn colour(&self) -> u32 {
        self.settings.colour.unwrap_or_else(|| widgets::colour_of_key(&self.key))
    }

    /// Writes this user's name and colour into the open document, so that every replica
    /// can say who wrote its edits (no undo step; nothing when it holds them already).
    fn record_author(&mut self) {
        let (name, colour) = (self.settings.name.clone(), self.colour());
        if let Some(o) = self.open.as_mut().filter(|o| !o.view.read_only()) {
            match tandem_net::authors::record_author(o.view.doc_mut(), &name, colour) {
                Ok(true) => {
                    o.view.commit_untracked();
                }
                Ok(false) => {}
                Err(e) => {
                    self.status.notify(status_bar::Notice::Error(format!("Cannot record your name: {e}")))
                }
            }
        }
    }

    /// This device's key (its peer id as text).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Peers' tags in the editor as placed on the last frame (screen coordinates).
    pub fn peer_tags(&self) -> &[presence::Tag] {
        self.open.as_ref().map_or(&[], |o| o.editor.tags.as_slice())
    }

    /// The peer the editor follows (its key).
    pub fn following(&self) -> Option<&str> {
        self.open.as_ref()?.editor.follow.as_deref()
    }

    /// The window's title.
    pub fn window_title(&self) -> &str {
        &self.window_title
    }

    /// The imports under way: each file and the share of it read.
    pub fn imports(&self) -> Vec<(PathBuf, f32)> {
        self.status.imports.iter().map(|p| (p.path.clone(), p.fraction())).collect()
    }

    /// The message shown in the status bar (until it fades or is dismissed).
    pub fn notice(&self) -> Option<&str> {
        self.status.notice().map(Notice::text)
    }

    /// The system fonts egui has as fallbacks (their names), once they are loaded.
    pub fn fallback_fonts(&self) -> Option<&[String]> {
        self.fonts.is_none().then_some(self.fonts_installed.as_slice())
    }

    /// Stops the engine (after committing and saving the open document's undo history
    /// and the window's state).
    pub fn shutdown(&mut self) {
        if self.window_changed.is_some() {
            self.save_window();
        }
        self.close_doc();
        let e = self.tasks.engine.clone();
        self.tasks.block_on(async move { e.shutdown().await });
    }
}

/// The eframe app: the window around [`TandemApp`].
struct Window(TandemApp);

impl eframe::App for Window {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.0.logic(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.0.window_ui(ui);
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
        viewport: viewport(data_dir),
        renderer: eframe::Renderer::Glow,
        // The window's size and zoom are the data dir's (`WindowState`), not eframe's.
        persist_window: false,
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

/// The main window as it opens: the size it had when it was last closed on this data
/// dir (`WindowState`), or 1100 × 720.
pub fn viewport(data_dir: &Path) -> egui::ViewportBuilder {
    let size = WindowState::load(data_dir).size.unwrap_or([1100.0, 720.0]);
    egui::ViewportBuilder::default()
        .with_title("Tandem")
        .with_app_id("tandem")
        .with_inner_size(size)
        .with_min_inner_size([640.0, 400.0])
}

/// The look: a little more air than egui's defaults, in the dark and light themes. The
/// theme is the settings' (`TandemApp` applies it).
pub fn style(ctx: &egui::Context) {
    ctx.all_styles_mut(|s| {
        s.spacing.item_spacing = egui::vec2(8.0, 6.0);
        s.spacing.button_padding = egui::vec2(8.0, 4.0);
        s.text_styles.insert(egui::TextStyle::Body, egui::FontId::proportional(15.0));
        s.text_styles.insert(egui::TextStyle::Monospace, egui::FontId::monospace(14.0));
        s.text_styles.insert(egui::TextStyle::Button, egui::FontId::proportional(14.0));
    });
}
