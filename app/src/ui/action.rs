//! What the panels ask for, and the one place that does it. Panels only read the app's
//! state (each keeps its own, such as a dialog's fields or the history slider) and return
//! [`Action`]s; [`TandemApp::apply`] changes the app's state and calls the engine.

use super::TandemApp;
use super::dialogs::Dialog;
use super::editor::char_slice;
use super::error::FileError;
use super::files;
use super::goto_line::{GoToLine, line_start};
use super::history::History;
use super::settings::Settings;
use super::status_bar::Notice;
use super::tasks::Msg;
use std::ops::Range;
use std::path::PathBuf;
use tandem_crdt::Anchor;
use tandem_storage::DocId;

/// A command from a panel, a dialog or a keyboard shortcut.
#[derive(Debug)]
pub(super) enum Action {
    /// Create an empty document and open it.
    NewDoc,
    /// Open a document in the editor.
    Open(DocId),
    /// Show a dialog.
    ShowDialog(Dialog),
    /// Show the settings dialog on a copy of the settings.
    ShowSettings,
    /// Show the share dialog and ask the engine for the open document's ticket.
    Share,
    /// Show "remove people" and ask the engine for the open document's members.
    ShowRemovePeople,
    /// Move the open document to a new key without these members.
    RemovePeople(Vec<tandem_net::PeerId>),
    /// Close the dialog.
    CloseDialog,
    /// Undo this device's last edit of the open document.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// Show the history of the open document, or go back to editing.
    ToggleHistory,
    /// Go back from the history to editing.
    LeaveHistory,
    /// Make this earlier text the open document's text, as a new edit.
    Restore(String),
    /// Stop or resume syncing.
    SetOffline(bool),
    /// Join a document by this ticket (as pasted).
    Join(String),
    /// Set the open document's title.
    Rename(String),
    /// Move a document to the trash.
    Trash(DocId),
    /// Take a document out of the trash.
    Untrash(DocId),
    /// Delete documents (in the trash) from this device for good.
    Remove(Vec<DocId>),
    /// Close the window although edits are not stored (the user confirmed).
    Quit,
    /// Create a document from a text file (read on a thread, its progress shown).
    Import(PathBuf),
    /// Show the export dialog, proposing a file named after the document `name`.
    ShowExport(String),
    /// Open the system's file chooser for the import or export dialog (`save`).
    Choose { save: bool },
    /// Write the open document's text to a file; one that exists only if `overwrite`
    /// (the user said to replace it).
    Export { path: PathBuf, overwrite: bool },
    /// Put the share ticket on the clipboard.
    CopyTicket(String),
    /// Keep these settings.
    SaveSettings(Settings),
    /// Name the open document's current version.
    NameVersion(String),
    /// Show the connection panel.
    ShowConnection,
    /// Keep these network settings (used from the next start).
    SaveNetwork(crate::config::NetworkSettings),
    /// The network settings form holds something that is not an address.
    NetworkError(String),
    /// Tell peers where this user's cursor and selection are.
    SendPresence(Anchor, Option<Anchor>),
    /// Show the find bar over the editor, with its replace row if `replace`.
    OpenFind { replace: bool },
    /// Show the go-to-line prompt over the editor.
    OpenGoToLine,
    /// Close the find bar and the go-to-line prompt; the editor takes the focus.
    CloseBar,
    /// Select these chars in the editor and scroll to them (a match found).
    Select(Range<usize>),
    /// Replace these char ranges of the open document (in order, not overlapping) with
    /// their texts, as one undo step; only if the text is still at `version` (its op
    /// count), the one the ranges were found in.
    Replace { edits: Vec<(Range<usize>, String)>, version: usize },
    /// Put the cursor at the start of this line (1-based, clamped to the text).
    GoToLine(usize),
    /// Show the quick switcher.
    OpenSwitcher,
    /// Show the keyboard shortcuts.
    ShowHelp,
    /// Close the quick switcher or the keyboard shortcuts.
    CloseOverlay,
    /// Move the keyboard focus to the next (or previous) part of the window.
    MoveFocus { back: bool },
    /// Scroll the editor to this peer's cursor (its key).
    ShowPeer(String),
    /// Keep this peer's cursor in view (its key), or stop following.
    Follow(Option<String>),
}

impl TandemApp {
    /// Carries out what a panel asked for: the one place where the panels' requests
    /// change the app's state.
    pub(super) fn apply(&mut self, action: Action, ctx: &egui::Context) {
        let edits = matches!(
            action,
            Action::Undo
                | Action::Redo
                | Action::Restore(_)
                | Action::Rename(_)
                | Action::NameVersion(_)
                | Action::Replace { .. }
        );
        if edits && self.open.as_ref().is_some_and(|o| o.view.read_only()) {
            self.status.notify(Notice::Info(
                "This document is read-only here: it was shared with a read ticket".into(),
            ));
            self.dialog = None;
            return;
        }
        match action {
            // No title: the document goes by its first line until it is renamed.
            Action::NewDoc => self.new_doc(""),
            Action::Quit => {
                self.dialog = None;
                self.quit_confirmed = true;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            Action::Open(id) => self.open_doc(id),
            Action::ShowDialog(d) => self.dialog = Some(d),
            Action::ShowSettings => {
                // The dialog shows the colour in use: the one of the device's key until
                // the user picks another.
                let mut s = self.settings.clone();
                s.colour = Some(self.colour());
                s.device_code = self.key.clone();
                s.links_text = s
                    .linked_devices
                    .iter()
                    .map(|p| tandem_net::authors::device_code(p))
                    .collect::<Vec<_>>()
                    .join("\n");
                self.dialog = Some(Dialog::Settings(s));
            }
            Action::Share => {
                self.dialog = Some(Dialog::Share { read: false });
                if let Some(o) = &self.open {
                    let id = o.id();
                    let e = self.tasks.engine.clone();
                    self.tasks.spawn(
                        async move {
                            let edit = e.ticket(id).await.map(|t| t.to_string()).unwrap_or_default();
                            let read = e.read_ticket(id).await.map(|t| t.to_string()).unwrap_or_default();
                            (edit, read)
                        },
                        move |(edit, read)| Msg::Ticket(id, edit, read),
                    );
                }
            }
            Action::ShowRemovePeople => {
                let Some(o) = &self.open else { return };
                self.dialog = Some(Dialog::RemovePeople { members: None, remove: Vec::new() });
                let id = o.id();
                let e = self.tasks.engine.clone();
                self.tasks.spawn(async move { e.members(id).await }, move |res| Msg::Members(id, res));
            }
            Action::RemovePeople(peers) => {
                let Some(o) = &self.open else { return };
                self.dialog = None;
                let id = o.id();
                let n = peers.len();
                let e = self.tasks.engine.clone();
                self.tasks.spawn(
                    async move { e.remove_people(id, peers).await.map(|t| t.to_string()) },
                    move |res| Msg::PeopleRemoved(id, n, res),
                );
            }
            Action::CloseDialog => {
                self.dialog = None;
                // The keyboard goes back to the text.
                if let Some(o) = &mut self.open {
                    o.editor.focus = true;
                }
            }
            Action::Undo | Action::Redo => {
                let Some(o) = &mut self.open else { return };
                if let Err(e) = o.undo(matches!(action, Action::Redo)) {
                    self.status.notify(Notice::Error(format!("Cannot undo: {e}")));
                }
            }
            Action::ToggleHistory => {
                if let Some(o) = &mut self.open {
                    o.history = match o.history {
                        Some(_) => None,
                        None => Some(History::new(o.view.doc().n_ops())),
                    };
                }
            }
            Action::LeaveHistory => {
                if let Some(o) = &mut self.open {
                    o.history = None;
                }
            }
            Action::Restore(old) => {
                if let Some(o) = &mut self.open {
                    o.restore(&old);
                    o.history = None;
                }
            }
            Action::SetOffline(offline) => {
                self.offline = offline;
                // Remembered at once: the next start is offline (or not) from the beginning.
                self.window.offline = offline;
                self.save_window();
                let e = self.tasks.engine.clone();
                self.tasks.spawn(async move { e.set_offline(offline).await.is_ok() }, move |_| {
                    Msg::Notice(Notice::Info(if offline { "Working offline" } else { "Back online" }.into()))
                });
            }
            Action::Join(ticket) => {
                let res = self.join(&ticket);
                self.close_dialog_or_show(res);
            }
            Action::Rename(title) => {
                if let Some(o) = &mut self.open {
                    o.rename(&title);
                }
                self.refresh_title();
                self.dialog = None;
            }
            Action::Trash(id) => {
                let e = self.tasks.engine.clone();
                self.tasks.spawn(async move { e.trash(id).await }, move |r| Msg::Trashed(id, r));
                self.dialog = None;
            }
            Action::Untrash(id) => {
                let e = self.tasks.engine.clone();
                self.tasks.spawn(async move { e.restore(id).await }, move |r| Msg::Untrashed(id, r));
            }
            Action::Remove(ids) => {
                for id in ids {
                    let e = self.tasks.engine.clone();
                    self.tasks.spawn(async move { e.remove(id).await.is_ok() }, move |_| Msg::Removed(id));
                }
                self.dialog = None;
            }
            Action::Import(path) => self.import_from_ui(&path),
            Action::ShowExport(name) => {
                let dir = files::start_dir(self.files_dir.as_deref());
                self.dialog = Some(Dialog::export(&dir.join(files::export_name(&name))));
            }
            Action::Choose { save } => self.choose_file(save),
            Action::Export { path, overwrite } => self.export_from_ui(&path, overwrite),
            Action::CopyTicket(t) => {
                ctx.copy_text(t);
                self.status.notify(Notice::Info("Ticket copied".into()));
            }
            Action::SaveSettings(mut s) => {
                let (codes, bad) = super::settings::parse_device_codes(&s.links_text);
                if !bad.is_empty() {
                    self.status.notify(Notice::Error(format!("Not a device code: {}", bad.join(", "))));
                }
                // The links change once the engine has found the devices the codes name.
                s.linked_devices = self.settings.linked_devices.clone();
                // What the dialog only showed or edited is not a setting.
                s.device_code.clear();
                s.links_text.clear();
                let changed =
                    super::settings::normal_codes(&codes) != super::settings::normal_codes(&s.linked_devices);
                if bad.is_empty() && changed {
                    let e = self.tasks.engine.clone();
                    self.tasks.spawn(async move { e.link_devices(codes).await }, |res| {
                        Msg::Linked(res.map(|peers| peers.iter().map(|p| p.to_string()).collect()))
                    });
                }
                self.settings = s;
                if let Err(e) = self.settings.save(&self.data_dir) {
                    self.status.notify(Notice::Error(format!("Cannot save settings: {e}")));
                }
                self.record_author();
                if let Some(o) = &mut self.open {
                    // Peers get the new name and colour with the next cursor update.
                    o.editor.sent = None;
                }
                self.dialog = None;
            }
            Action::NameVersion(name) => {
                if let Some(o) = &mut self.open {
                    match tandem_net::versions::name_version(o.view.doc_mut(), &name) {
                        Ok(true) => {
                            o.view.commit_untracked();
                            self.status.notify(Notice::Info(format!("Named this version “{name}”")));
                        }
                        Ok(false) => {}
                        Err(e) => self.status.notify(Notice::Error(format!("Cannot name the version: {e}"))),
                    }
                }
            }
            Action::ShowConnection => {
                let settings = crate::config::NetworkSettings::load(&self.data_dir).unwrap_or_else(|e| {
                    self.status.notify(Notice::Error(format!("{e}; showing the defaults")));
                    crate::config::NetworkSettings::default()
                });
                self.dialog = Some(Dialog::Connection(super::connection::ConnectionPanel::new(&settings)));
                self.tasks.refresh_network();
            }
            Action::SaveNetwork(s) => match s.save(&self.data_dir) {
                Ok(()) => {
                    self.status.notify(Notice::Info(
                        "Network settings saved: they take effect when Tandem starts again".into(),
                    ));
                    self.dialog = None;
                }
                Err(e) => {
                    if let Some(Dialog::Connection(p)) = &mut self.dialog {
                        p.error = Some(format!("Cannot save the network settings: {e}"));
                    }
                }
            },
            Action::NetworkError(e) => {
                if let Some(Dialog::Connection(p)) = &mut self.dialog {
                    p.error = Some(e);
                }
            }
            Action::SendPresence(at, sel) => {
                if let Some(o) = &self.open {
                    let (name, colour) = (&self.settings.name, self.colour());
                    self.tasks.engine.set_presence_anchors(o.id(), name, colour, at, sel);
                }
            }
            Action::OpenFind { .. } | Action::OpenGoToLine | Action::CloseBar => self.toggle_bar(action),
            Action::Select(r) => {
                if let Some(o) = &mut self.open {
                    o.editor.select(ctx, r);
                }
            }
            Action::Replace { edits, version } => {
                // Typing in the editor after the find bar was drawn moved the text: the
                // ranges are stale, and the find bar shows the new matches next frame.
                let Some(o) = self.open.as_mut().filter(|o| o.view.doc().n_ops() == version) else { return };
                let Some(end) = o.replace(&edits) else { return };
                // The search goes on after the replacement, with the next match selected.
                o.find.resume_at(o.view.doc(), end);
                o.find.refresh(o.view.doc(), &o.mirror);
                let next = o.find.current_match().unwrap_or(end..end);
                o.editor.select(ctx, next);
            }
            Action::GoToLine(line) => {
                let Some(o) = &mut self.open else { return };
                let at = line_start(&o.mirror, line);
                o.editor.select(ctx, at..at);
                o.editor.focus = true;
                o.goto = None;
            }
            Action::OpenSwitcher => {
                self.switcher = Some(super::switcher::Switcher::default());
                self.help = false;
                // The list may have changed since it was last asked for.
                self.tasks.refresh_docs();
            }
            Action::ShowHelp => {
                self.help = true;
                self.switcher = None;
            }
            Action::CloseOverlay => {
                self.switcher = None;
                self.help = false;
                if let Some(o) = &mut self.open {
                    o.editor.focus = true;
                }
            }
            Action::MoveFocus { back } => super::keys::move_focus(ctx, back),
            Action::ShowPeer(key) => {
                if let Some(o) = &mut self.open {
                    o.editor.reveal_peer = Some(key);
                }
            }
            Action::Follow(key) => {
                if let Some(o) = &mut self.open {
                    o.editor.reveal_peer.clone_from(&key);
                    o.editor.follow = key;
                }
            }
        }
    }

    /// Opens or closes the find bar and the go-to-line prompt over the editor (not over
    /// the history, which has no cursor).
    fn toggle_bar(&mut self, action: Action) {
        let Some(o) = self.open.as_mut().filter(|o| o.history.is_none()) else { return };
        match action {
            Action::OpenFind { replace } => {
                let (p, q) = o.editor.selection;
                let selected = (p != q).then(|| char_slice(&o.mirror, p.min(q)..p.max(q)).to_owned());
                o.find.show(o.view.doc(), replace, p.min(q), selected);
            }
            Action::OpenGoToLine => o.goto = Some(GoToLine::new()),
            _ => {
                o.find.hide();
                o.goto = None;
                o.editor.focus = true;
            }
        }
    }

    /// Starts importing a file; the import dialog, when it is open, shows the progress,
    /// and the status bar does too. A file that cannot be imported says why in the
    /// dialog, or in the status bar when it was dropped on the window.
    pub(super) fn import_from_ui(&mut self, path: &std::path::Path) {
        match self.start_import(path) {
            Ok(progress) => {
                if let Some(Dialog::Import { busy, error, path: field, .. }) = &mut self.dialog {
                    *field = path.display().to_string();
                    *busy = Some(progress);
                    *error = None;
                }
            }
            Err(e) => self.show_file_error(e),
        }
    }

    /// Exports the open document, closing the export dialog once it is written.
    pub(super) fn export_from_ui(&mut self, path: &std::path::Path, overwrite: bool) {
        let res = self.export(path, overwrite);
        if res.is_ok() {
            self.files_dir = path.parent().map(std::path::Path::to_owned);
            let name =
                path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
            self.status.notify(Notice::Info(format!("Exported {name}")));
        }
        self.close_dialog_or_show(res);
    }

    /// Opens the system's file chooser on a thread for the import or export (`save`)
    /// dialog; what is chosen comes back as [`Msg::Chosen`].
    fn choose_file(&mut self, save: bool) {
        let dir = files::start_dir(self.files_dir.as_deref());
        let name = match &mut self.dialog {
            Some(d @ (Dialog::Import { .. } | Dialog::Export { .. })) => {
                d.set_choosing(true);
                match d {
                    Dialog::Export { path, .. } => std::path::Path::new(path.trim())
                        .file_name()
                        .map_or_else(|| files::export_name(""), |n| n.to_string_lossy().into_owned()),
                    _ => String::new(),
                }
            }
            _ => return,
        };
        self.tasks.spawn_blocking(
            move || {
                let t = std::time::Instant::now();
                let path = if save { files::choose_export(&dir, &name) } else { files::choose_import(&dir) };
                (path, t.elapsed() < files::NO_CHOOSER)
            },
            move |(path, quick)| Msg::Chosen { save, path, quick },
        );
    }

    /// Shows why a file could not be imported or exported: in the import or export
    /// dialog when one is open, else in the status bar.
    pub(super) fn show_file_error(&mut self, e: FileError) {
        match &mut self.dialog {
            Some(d @ (Dialog::Import { .. } | Dialog::Export { .. })) => d.set_error(e),
            _ => self.status.notify(Notice::Error(e.to_string())),
        }
    }

    /// Closes the dialog after a join, import or export that worked; after one that
    /// failed, keeps it open with the reason.
    fn close_dialog_or_show<E: Into<super::dialogs::DialogError>>(&mut self, res: Result<(), E>) {
        match res {
            Ok(()) => self.dialog = None,
            Err(e) => {
                if let Some(d) = &mut self.dialog {
                    d.set_error(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::FileError;
    use crate::ui::start;
    use tandem_net::NetConfig;

    fn loopback() -> NetConfig {
        NetConfig { listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()], ..NetConfig::default() }
    }

    /// A join, import or export that fails leaves its dialog open with the reason; one
    /// that works closes it.
    #[test]
    fn failures_stay_in_their_dialog() {
        let dir = tempfile::tempdir().unwrap();
        let mut app = start(dir.path(), loopback()).unwrap();
        let ctx = egui::Context::default();

        app.apply(Action::ShowExport("Notes".into()), &ctx);
        assert!(matches!(&app.dialog, Some(Dialog::Export { path, .. }) if path.ends_with("Notes.txt")));
        app.apply(Action::Export { path: dir.path().join("out.txt"), overwrite: false }, &ctx);
        assert!(matches!(app.dialog, Some(Dialog::Export { error: Some(FileError::NoDocument), .. })));

        app.apply(Action::ShowDialog(Dialog::import()), &ctx);
        let missing = dir.path().join("missing.txt");
        app.apply(Action::Import(missing.clone()), &ctx);
        assert!(matches!(&app.dialog, Some(Dialog::Import { error: Some(FileError::Read { path, .. }), .. })
            if *path == missing));

        app.apply(Action::ShowDialog(Dialog::join()), &ctx);
        app.apply(Action::Join("tandem1notaticket".into()), &ctx);
        assert!(matches!(app.dialog, Some(Dialog::Join { error: Some(_), .. })));

        // A file that exists is read on a thread: the dialog shows the progress until the
        // document is made, then closes.
        std::fs::write(&missing, "found").unwrap();
        app.apply(Action::ShowDialog(Dialog::import()), &ctx);
        app.apply(Action::Import(missing), &ctx);
        assert!(matches!(app.dialog, Some(Dialog::Import { error: None, busy: Some(_), .. })));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while app.dialog.is_some() {
            assert!(std::time::Instant::now() < deadline, "the import never finished");
            while let Some(m) = app.tasks.try_recv() {
                app.on_msg(m);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        app.shutdown();
    }

    /// Waits for a notice other than `before` (from the messages of the app's tasks).
    fn next_notice(app: &mut TandemApp, before: Option<&Notice>) -> Notice {
        let before = before.cloned();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            while let Some(m) = app.tasks.try_recv() {
                app.on_msg(m);
            }
            if let Some(n) = app.status.notice().filter(|n| Some(*n) != before.as_ref()) {
                return n.clone();
            }
            assert!(std::time::Instant::now() < deadline, "no notice came");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Linking devices from the settings: a short code of a device not known here is
    /// refused with the reason and links nothing; a full code links and is stored, and
    /// the dialog shows it again as its short code.
    #[test]
    fn devices_are_linked_from_the_settings_by_their_codes() {
        let dir = tempfile::tempdir().unwrap();
        let mut app = start(dir.path(), loopback()).unwrap();
        let ctx = egui::Context::default();
        let save = |app: &mut TandemApp, links: &str| {
            app.apply(Action::ShowSettings, &ctx);
            let Some(Dialog::Settings(s)) = &mut app.dialog else { panic!("the settings dialog is shown") };
            s.links_text = links.into();
            let s = s.clone();
            app.apply(Action::SaveSettings(s), &ctx);
        };
        save(&mut app, "zzzz-zzzz-zzzz-zzzz");
        let n = next_notice(&mut app, None);
        assert!(matches!(&n, Notice::Error(e) if e.contains("no device with code")), "{n:?}");
        assert!(app.settings.linked_devices.is_empty());
        save(&mut app, "not a code");
        assert!(matches!(app.status.notice(), Some(Notice::Error(e)) if e.contains("Not a device code")));
        let other = "12D3KooWAnz7WxmxstAW2JZ9vyDmnocbsHtCvFFfRGdGRM13Yaw6";
        let before = app.status.notice().cloned();
        save(&mut app, &format!("  {other}\n"));
        let n = next_notice(&mut app, before.as_ref());
        assert!(matches!(&n, Notice::Info(i) if i.contains("Linked")), "{n:?}");
        assert_eq!(app.settings.linked_devices, vec![other.to_owned()]);
        assert_eq!(Settings::load(dir.path()).linked_devices, vec![other.to_owned()], "stored");
        app.apply(Action::ShowSettings, &ctx);
        let Some(Dialog::Settings(s)) = &app.dialog else { panic!("the settings dialog is shown") };
        assert_eq!(s.links_text, "vFFf-RGdG-RM13-Yaw6");
        app.shutdown();
    }

    #[test]
    fn saved_settings_are_kept_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut app = start(dir.path(), loopback()).unwrap();
        let ctx = egui::Context::default();
        app.apply(Action::ShowSettings, &ctx);
        let Some(Dialog::Settings(s)) = &mut app.dialog else { panic!("the settings dialog is shown") };
        s.name = "Ada".into();
        s.wrap = false;
        let shown = s.clone();
        assert_eq!(shown.device_code, app.key, "the dialog shows this device's code");
        app.apply(Action::SaveSettings(shown.clone()), &ctx);
        let s = Settings { device_code: String::new(), ..shown };
        assert!(app.dialog.is_none());
        assert_eq!(app.settings, s);
        assert_eq!(Settings::load(dir.path()), s);
        app.shutdown();
    }
}
