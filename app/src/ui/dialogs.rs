//! The modal dialogs: join by ticket, rename, remove, share, import, export and the
//! settings. Each holds what the user is typing; the buttons return [`Action`]s, and the
//! app closes the dialog once the action succeeded (a failed join, import or export
//! leaves it open with the reason). Import and export take a typed path or one chosen
//! in the system's file chooser ("Browse…"); export asks before replacing a file, and
//! import shows its progress until the document is made. A dialog takes the keyboard
//! focus when it opens (its field, or its main button); Enter in a field confirms and
//! Escape cancels.

use super::action::Action;
use super::document::OpenDoc;
use super::error::FileError;
use super::files::Progress;
use super::settings::{FONT_SIZES, Settings, ThemeChoice};
use super::widgets::{ERROR_RED, colour32, rgb_of};
use egui::{Id, Key, Modifiers};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tandem_net::TicketError;
use tandem_storage::DocId;

/// The dialog shown over the window.
#[derive(Debug)]
pub(super) enum Dialog {
    Join {
        ticket: String,
        error: Option<TicketError>,
    },
    Rename {
        title: String,
    },
    /// Move a document to the trash.
    Trash {
        doc: DocId,
        title: String,
    },
    /// Delete a document in the trash for good.
    Delete {
        doc: DocId,
        title: String,
    },
    /// Delete every document in the trash for good.
    EmptyTrash {
        docs: Vec<DocId>,
    },
    /// Remove people from the open document: its members (once the engine listed
    /// them) and which of them are to be removed.
    RemovePeople {
        members: Option<Vec<tandem_net::DocMember>>,
        remove: Vec<bool>,
    },
    /// Share the open document; `read` shows the read ticket instead of the edit one.
    Share {
        /// Whether the read ticket is shown.
        read: bool,
    },
    Import {
        path: String,
        error: Option<FileError>,
        /// The import under way, once one started from this dialog.
        busy: Option<Arc<Progress>>,
        /// The system's file chooser is open.
        choosing: bool,
    },
    Export {
        path: String,
        error: Option<FileError>,
        /// The system's file chooser is open.
        choosing: bool,
    },
    Settings(Settings),
    /// The connection panel and the network settings.
    Connection(super::connection::ConnectionPanel),
    /// Quitting now would lose edits the disk has not taken yet.
    Quit {
        waiting: usize,
    },
}

impl Dialog {
    /// The join dialog with an empty ticket field.
    pub(super) fn join() -> Dialog {
        Dialog::Join { ticket: String::new(), error: None }
    }

    /// The import dialog with an empty path field.
    pub(super) fn import() -> Dialog {
        Dialog::Import { path: String::new(), error: None, busy: None, choosing: false }
    }

    /// The export dialog, proposing to save to `path`.
    pub(super) fn export(path: &Path) -> Dialog {
        Dialog::Export { path: path.display().to_string(), error: None, choosing: false }
    }

    /// Notes whether the system's file chooser is open for this dialog.
    pub(super) fn set_choosing(&mut self, open: bool) {
        if let Dialog::Import { choosing, .. } | Dialog::Export { choosing, .. } = self {
            *choosing = open;
        }
    }

    /// Shows why the last join, import or export failed (other dialogs have no place
    /// for an error).
    pub(super) fn set_error(&mut self, e: impl Into<DialogError>) {
        match (self, e.into()) {
            (Dialog::Join { error, .. }, DialogError::Ticket(e)) => *error = Some(e),
            (Dialog::Import { error, .. } | Dialog::Export { error, .. }, DialogError::File(e)) => {
                *error = Some(e)
            }
            _ => {}
        }
    }

    /// Draws the dialog as a modal over the window; `open` is the open document. A click
    /// outside or Escape adds [`Action::CloseDialog`] after what a button asked.
    pub(super) fn ui(&mut self, ctx: &egui::Context, open: Option<&OpenDoc>) -> Vec<Action> {
        // Enter in a text field confirms (a focused button takes Enter itself); it is
        // taken from the field, so that the ticket field gets no newline.
        let enter = ctx.text_edit_focused() && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Enter));
        ctx.data_mut(|d| {
            d.insert_temp(enter_id(), enter);
            // The buttons drawn this frame note their ids again.
            d.remove::<Id>(Id::new(("dialog-button", "confirm")));
            d.remove::<Id>(Id::new(("dialog-button", "cancel")));
        });
        let modal = egui::Modal::new(Id::new("dialog")).show(ctx, |ui| {
            ui.set_width(460.0);
            match self {
                Dialog::Join { ticket, error } => join_ui(ui, ticket, error.as_ref()),
                Dialog::Rename { title } => rename_ui(ui, title, open),
                Dialog::Trash { doc, title } => {
                    let peers = open.filter(|o| o.id() == *doc).map(|o| o.n_peers);
                    trash_ui(ui, *doc, title, peers)
                }
                Dialog::Delete { doc, title } => delete_ui(ui, *doc, title),
                Dialog::EmptyTrash { docs } => empty_trash_ui(ui, docs),
                Dialog::Share { read } => share_ui(ui, open, read),
                Dialog::RemovePeople { members, remove } => remove_people_ui(ui, members.as_deref(), remove),
                Dialog::Import { path, error, busy, choosing } => {
                    import_ui(ui, path, error.as_ref(), busy.as_deref(), *choosing)
                }
                Dialog::Export { path, error, choosing } => export_ui(ui, path, error.as_ref(), *choosing),
                Dialog::Settings(s) => settings_ui(ui, s),
                Dialog::Connection(p) => {
                    super::connection::connection_ui(ui, p, open.map(|o| o.peers.as_slice()))
                }
                Dialog::Quit { waiting } => quit_ui(ui, *waiting),
            }
        });
        // When a dialog opens, the focus moves into it (for the share dialog, once its
        // ticket and buttons are there).
        let frame = ctx.cumulative_frame_nr();
        let (shown, pending) = (Id::new("dialog-shown"), Id::new("dialog-focus-pending"));
        let shown_before = ctx.data(|d| d.get_temp::<u64>(shown));
        ctx.data_mut(|d| d.insert_temp(shown, frame));
        if shown_before.is_none_or(|f| f + 1 < frame) {
            ctx.data_mut(|d| d.insert_temp(pending, true));
        }
        if ctx.data(|d| d.get_temp::<bool>(pending)).unwrap_or(false)
            && let Some(id) = self.focus_id(ctx)
        {
            ctx.data_mut(|d| d.insert_temp(pending, false));
            ctx.memory_mut(|m| m.request_focus(id));
        }
        let close = modal.should_close().then_some(Action::CloseDialog);
        modal.inner.into_iter().chain(close).collect()
    }

    /// The widget that has the focus when the dialog opens: its field, or its main
    /// button (for the quit warning, the one that keeps the edits).
    fn focus_id(&self, ctx: &egui::Context) -> Option<Id> {
        let button = |which: &str| ctx.data(|d| d.get_temp::<Id>(Id::new(("dialog-button", which))));
        match self {
            Dialog::Join { .. } => Some(Id::new("join-ticket")),
            Dialog::Rename { .. } => Some(Id::new("rename-title")),
            Dialog::Import { .. } => Some(Id::new("import-path")),
            Dialog::Export { .. } => Some(Id::new("export-path")),
            Dialog::Settings(_) => Some(Id::new("settings-name")),
            Dialog::Quit { .. } | Dialog::Connection(_) | Dialog::RemovePeople { .. } => button("cancel"),
            Dialog::Trash { .. } | Dialog::Share { .. } => button("confirm"),
            // Deleting for good is never what Enter does by chance.
            Dialog::Delete { .. } | Dialog::EmptyTrash { .. } => button("cancel"),
        }
    }
}

/// Where the dialog notes that Enter was pressed in one of its fields this frame.
fn enter_id() -> Id {
    Id::new("dialog-enter")
}

/// Whether Enter was pressed in a field of the dialog this frame (it confirms).
fn enter_pressed(ui: &egui::Ui) -> bool {
    ui.ctx().data(|d| d.get_temp::<bool>(enter_id())).unwrap_or(false)
}

/// An error that a dialog shows.
pub(super) enum DialogError {
    Ticket(TicketError),
    File(FileError),
}

impl From<TicketError> for DialogError {
    fn from(e: TicketError) -> DialogError {
        DialogError::Ticket(e)
    }
}

impl From<FileError> for DialogError {
    fn from(e: FileError) -> DialogError {
        DialogError::File(e)
    }
}

fn join_ui(ui: &mut egui::Ui, ticket: &mut String, error: Option<&TicketError>) -> Option<Action> {
    ui.heading("Join a document");
    let prompt = ui.label("Paste the ticket someone shared with you:");
    ui.add(
        egui::TextEdit::multiline(ticket)
            .desired_rows(3)
            .desired_width(f32::INFINITY)
            .id(Id::new("join-ticket")),
    )
    .labelled_by(prompt.id);
    if let Some(e) = error {
        ui.colored_label(ERROR_RED, format!("This ticket is not valid: {e}"));
    }
    buttons_ui(ui, "Join", || Action::Join(ticket.clone()), "Cancel")
}

fn rename_ui(ui: &mut egui::Ui, title: &mut String, open: Option<&OpenDoc>) -> Option<Action> {
    let heading = ui.heading("Rename");
    ui.add(egui::TextEdit::singleline(title).desired_width(f32::INFINITY).id(Id::new("rename-title")))
        .labelled_by(heading.id);
    let values = open.map_or(Vec::new(), |o| tandem_net::titles_of(o.view.doc()));
    if values.len() > 1 {
        ui.add_space(6.0);
        ui.label("Peers renamed it at the same time. Keep one:");
        for v in &values {
            if ui.button(format!("Keep “{v}”")).clicked() {
                *title = v.clone();
            }
        }
    }
    buttons_ui(ui, "Rename", || Action::Rename(title.clone()), "Cancel")
}

/// Asks before moving a document to the trash; `peers` is how many connected peers
/// share it, when it is the open document (the only one whose peers the window follows).
fn trash_ui(ui: &mut egui::Ui, doc: DocId, title: &str, peers: Option<usize>) -> Option<Action> {
    ui.heading("Move to trash");
    ui.label(format!(
        "Move “{title}” to the trash? It stops syncing on this device and leaves the list; \
         you can restore it from the Trash until you empty it."
    ));
    ui.label(match peers {
        Some(0) => "No peer that shares it is connected now: unless another device synced it \
             before, this device holds the only copy."
            .to_owned(),
        Some(1) => "1 connected peer shares it and keeps its copy.".to_owned(),
        Some(n) => format!("{n} connected peers share it and keep their copies."),
        None => "Devices it was shared with keep their copies.".to_owned(),
    });
    buttons_ui(ui, "Move to trash", || Action::Trash(doc), "Cancel")
}

/// What deleting for good leaves elsewhere.
const DELETE_KEEPS: &str =
    "Devices it was shared with keep their copies; if it was never shared, it is gone for good.";

/// Asks before deleting a document in the trash for good.
fn delete_ui(ui: &mut egui::Ui, doc: DocId, title: &str) -> Option<Action> {
    ui.heading("Delete for good");
    ui.label(format!("Delete “{title}” and its whole history from this device? This cannot be undone."));
    ui.label(DELETE_KEEPS);
    buttons_ui(ui, "Delete", || Action::Remove(vec![doc]), "Cancel")
}

/// Asks before emptying the trash.
fn empty_trash_ui(ui: &mut egui::Ui, docs: &[DocId]) -> Option<Action> {
    ui.heading("Empty the trash");
    let what =
        if docs.len() == 1 { "the document".to_owned() } else { format!("the {} documents", docs.len()) };
    ui.label(format!(
        "Delete {what} in the trash and their history from this device? This cannot be undone."
    ));
    ui.label(DELETE_KEEPS);
    buttons_ui(ui, "Empty trash", || Action::Remove(docs.to_vec()), "Cancel")
}

/// The warning before quitting with edits that are not stored yet.
fn quit_ui(ui: &mut egui::Ui, waiting: usize) -> Option<Action> {
    ui.heading("Edits are not saved");
    let edits = if waiting == 1 { "1 edit is".to_owned() } else { format!("{waiting} edits are") };
    ui.label(format!(
        "{edits} not saved: the disk refused them (it may be full). Tandem keeps trying. \
         Free some space and wait for “✔ Saved”, or quit now and lose them."
    ));
    buttons_ui(ui, "Quit and lose them", || Action::Quit, "Keep Tandem open")
}

/// The share dialog: "can edit" or "can read", and that ticket once the engine gave it
/// (a spinner until then). A device that may only read the document offers only a read
/// ticket.
fn share_ui(ui: &mut egui::Ui, open: Option<&OpenDoc>, read: &mut bool) -> Option<Action> {
    ui.heading("Share");
    let reader = open.is_some_and(|o| o.view.read_only());
    if reader {
        *read = true;
        ui.label("You can only read this document here, so you can share it to read only.");
    } else {
        ui.horizontal(|ui| {
            ui.label("People with the ticket");
            ui.selectable_value(read, false, "can edit");
            ui.selectable_value(read, true, "can read");
        });
    }
    let prompt = ui.label(if *read {
        "Anyone with this ticket can read the document, follow its edits and pass them on, but not change it:"
    } else {
        "Anyone with this ticket can read and edit the document:"
    });
    let ticket =
        open.and_then(|o| if *read && !reader { o.read_ticket.as_deref() } else { o.ticket.as_deref() });
    // The field keeps its size while the ticket is made, so nothing moves when it
    // comes (a click aimed at a button lands on it).
    let mut shown = ticket.unwrap_or("Making the ticket…");
    ui.add_enabled(
        ticket.is_some(),
        egui::TextEdit::multiline(&mut shown)
            .desired_rows(5)
            .desired_width(f32::INFINITY)
            .font(egui::TextStyle::Monospace)
            .id(Id::new("share-ticket")),
    )
    .labelled_by(prompt.id);
    let remove = if reader {
        None
    } else {
        ui.horizontal(|ui| {
            ui.label("Someone should no longer have access?");
            ui.button("Remove people…").clicked().then_some(Action::ShowRemovePeople)
        })
        .inner
    };
    if remove.is_some() {
        return remove;
    }
    match ticket {
        Some(t) => buttons_ui(ui, "Copy", || Action::CopyTicket(t.to_owned()), "Close"),
        None => {
            ui.horizontal(|ui| {
                ui.add_enabled(false, egui::Button::new("Copy"));
                ui.button("Close").clicked().then_some(Action::CloseDialog)
            })
            .inner
        }
    }
}

/// "Remove people": the members this device knows of, each with a box to tick, and
/// plainly what a removal does and does not do.
fn remove_people_ui(
    ui: &mut egui::Ui,
    members: Option<&[tandem_net::DocMember]>,
    remove: &mut Vec<bool>,
) -> Option<Action> {
    ui.heading("Remove people");
    ui.label(
        "The document moves to a new key. Everyone you keep moves with it automatically \
         (whoever is offline, when they next connect). The people you remove keep \
         everything written up to now, but can neither read nor change anything written \
         after. Old tickets stop working: share the new one with anyone new.",
    );
    ui.add_space(6.0);
    let Some(members) = members else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Listing the people who have this document…");
        });
        return ui.button("Cancel").clicked().then_some(Action::CloseDialog);
    };
    if members.is_empty() {
        ui.label("Nobody else has had this document from this device yet.");
        return ui.button("Close").clicked().then_some(Action::CloseDialog);
    }
    remove.resize(members.len(), false);
    egui::ScrollArea::vertical().max_height(220.0).show(ui, |ui| {
        for (m, r) in members.iter().zip(remove.iter_mut()) {
            let key = super::peers_panel::fingerprint(&m.peer.to_string());
            let name = m.name.clone().unwrap_or_else(|| "A device".to_owned());
            let what = if m.edit { "can edit" } else { "can read" };
            let online = if m.online { ", online" } else { "" };
            ui.checkbox(r, format!("Remove {name} ({what}{online}, key {key})"));
        }
    });
    let chosen: Vec<tandem_net::PeerId> =
        members.iter().zip(remove.iter()).filter(|(_, r)| **r).map(|(m, _)| m.peer).collect();
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        let go = ui.add_enabled(!chosen.is_empty(), egui::Button::new("Remove and change the key"));
        let cancel = ui.button("Cancel");
        ui.ctx().data_mut(|d| {
            d.insert_temp(Id::new(("dialog-button", "confirm")), go.id);
            d.insert_temp(Id::new(("dialog-button", "cancel")), cancel.id);
        });
        if go.clicked() {
            Some(Action::RemovePeople(chosen))
        } else {
            cancel.clicked().then_some(Action::CloseDialog)
        }
    })
    .inner
}

/// The settings form, editing a copy of the settings until "Save".
fn settings_ui(ui: &mut egui::Ui, s: &mut Settings) -> Option<Action> {
    ui.heading("Settings");
    egui::Grid::new("settings").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
        let name = ui.label("Display name");
        ui.add(egui::TextEdit::singleline(&mut s.name).id(Id::new("settings-name"))).labelled_by(name.id);
        ui.end_row();
        let colour_label = ui.label("Colour");
        // The app fills in the colour of the device's key before showing the dialog.
        let mut rgb = colour32(s.colour.unwrap_or(0x888888));
        if ui.color_edit_button_srgba(&mut rgb).labelled_by(colour_label.id).changed() {
            s.colour = Some(rgb_of(rgb));
        }
        ui.end_row();
        ui.label("Theme");
        ui.horizontal(|ui| {
            for (choice, label) in ThemeChoice::ALL {
                ui.radio_value(&mut s.theme, choice, label);
            }
        });
        ui.end_row();
        let size_label = ui.label("Font size");
        // The slider's own number field would have no label: this one is named too.
        ui.horizontal(|ui| {
            let hint = "The editor's text; Ctrl + and Ctrl - zoom the whole window";
            ui.add(egui::Slider::new(&mut s.font_size, FONT_SIZES).step_by(1.0).show_value(false))
                .labelled_by(size_label.id)
                .on_hover_text(hint);
            ui.add(egui::DragValue::new(&mut s.font_size).range(FONT_SIZES).speed(1.0).suffix(" pt"))
                .labelled_by(size_label.id)
                .on_hover_text(hint);
        });
        ui.end_row();
        ui.label("Editor");
        ui.vertical(|ui| {
            ui.checkbox(&mut s.monospace, "Monospace font");
            ui.checkbox(&mut s.wrap, "Word wrap");
            ui.add_enabled(s.wrap, egui::Checkbox::new(&mut s.prose_column, "Comfortable line width"))
                .on_hover_text("Wrapped lines stay about 80 characters wide, in a centred column");
            ui.checkbox(&mut s.line_numbers, "Line numbers");
            ui.checkbox(&mut s.show_peers, "Show peers panel");
        });
        ui.end_row();
        let code = ui.label("This device's code");
        let short = tandem_net::authors::device_code(&s.device_code);
        let mut shown = short.as_str();
        ui.add(
            egui::TextEdit::singleline(&mut shown)
                .font(egui::TextStyle::Monospace)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(code.id)
        .on_hover_text(format!(
            "Enter it on your other devices to show your edits there as one author (full code: {})",
            s.device_code
        ));
        ui.end_row();
        let others = ui.label("Your other devices");
        ui.add(
            egui::TextEdit::multiline(&mut s.links_text)
                .desired_rows(2)
                .font(egui::TextStyle::Monospace)
                .hint_text("Their codes (as xxxx-xxxx-xxxx-xxxx), one per line")
                .desired_width(f32::INFINITY),
        )
        .labelled_by(others.id)
        .on_hover_text(
            "Enter this device's code on each of them too: only devices linked both ways show as one author. \
             A device is found by its code once it has written to a document this device holds, or is connected",
        );
        ui.end_row();
    });
    buttons_ui(ui, "Save", || Action::SaveSettings(s.clone()), "Cancel")
}

/// A dialog's row of buttons: `label` asks for `action()`, `cancel` closes the dialog.
pub(super) fn buttons_ui(
    ui: &mut egui::Ui,
    label: &str,
    action: impl FnOnce() -> Action,
    cancel: &str,
) -> Option<Action> {
    let enter = enter_pressed(ui);
    ui.horizontal(|ui| {
        let chosen = ui.button(label);
        let cancelled = ui.button(cancel);
        ui.ctx().data_mut(|d| {
            d.insert_temp(Id::new(("dialog-button", "confirm")), chosen.id);
            d.insert_temp(Id::new(("dialog-button", "cancel")), cancelled.id);
        });
        if cancelled.clicked() { Some(Action::CloseDialog) } else { (chosen.clicked() || enter).then(action) }
    })
    .inner
}

/// The import dialog: a typed path or one chosen with "Browse…"; while the import
/// runs, its progress.
fn import_ui(
    ui: &mut egui::Ui,
    path: &mut String,
    error: Option<&FileError>,
    busy: Option<&Progress>,
    choosing: bool,
) -> Option<Action> {
    ui.heading("Import a text file");
    let prompt = ui.label("Path of a .txt or .md file (or drop one on the window):");
    let mut action = path_row_ui(ui, path, ("import-path", prompt.id), choosing, false);
    if let Some(p) = busy {
        ui.add(egui::ProgressBar::new(p.fraction()).text(p.text()).animate(true));
    }
    if let Some(e) = error {
        ui.colored_label(ERROR_RED, e.to_string());
    }
    let enter = enter_pressed(ui);
    ui.horizontal(|ui| {
        if ui.add_enabled(busy.is_none(), egui::Button::new("Import")).clicked() || (enter && busy.is_none())
        {
            action = Some(Action::Import(PathBuf::from(path.trim())));
        }
        if ui.button("Cancel").clicked() {
            action = Some(Action::CloseDialog);
        }
    });
    action
}

/// The export dialog: the proposed or typed path, or one chosen with "Browse…"; a file
/// that exists is replaced only after "Replace".
fn export_ui(
    ui: &mut egui::Ui,
    path: &mut String,
    error: Option<&FileError>,
    choosing: bool,
) -> Option<Action> {
    ui.heading("Export");
    let prompt = ui.label("Save the text to (a .txt or .md path):");
    let mut action = path_row_ui(ui, path, ("export-path", prompt.id), choosing, true);
    let typed = PathBuf::from(path.trim());
    // The question stands while the path is the one it was asked about.
    let replace = matches!(error, Some(FileError::Exists { path: p }) if *p == typed);
    match error {
        // A question, not an error.
        Some(e @ FileError::Exists { .. }) => {
            ui.colored_label(ui.visuals().warn_fg_color, e.to_string());
        }
        Some(e) => {
            ui.colored_label(ERROR_RED, e.to_string());
        }
        None => {}
    }
    let enter = enter_pressed(ui);
    ui.horizontal(|ui| {
        let label = if replace { "Replace" } else { "Export" };
        if ui.button(label).clicked() || enter {
            action = Some(Action::Export { path: typed, overwrite: replace });
        }
        if ui.button("Cancel").clicked() {
            action = Some(Action::CloseDialog);
        }
    });
    action
}

/// A path field (`id`, named by the label `label`) with a "Browse…" button beside it
/// that opens the system's file chooser (for saving if `save`); `choosing` while it is
/// open.
fn path_row_ui(
    ui: &mut egui::Ui,
    path: &mut String,
    (id, label): (&str, Id),
    choosing: bool,
    save: bool,
) -> Option<Action> {
    ui.horizontal(|ui| {
        let browse = ui
            .add_enabled(!choosing, egui::Button::new("Browse…"))
            .on_hover_text("Choose the file in the system's file chooser")
            .on_disabled_hover_text("The file chooser is open")
            .clicked();
        ui.add(egui::TextEdit::singleline(path).desired_width(f32::INFINITY).id(Id::new(id)))
            .labelled_by(label);
        browse.then_some(Action::Choose { save })
    })
    .inner
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::accesskit::Role;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use std::path::Path;

    /// Draws `dialog` in a harness, clicks the button `label` and returns what the
    /// dialog asked for.
    fn check_click(dialog: Dialog, label: &str) -> Vec<Action> {
        let mut h = Harness::new_ui_state(
            |ui, (d, out): &mut (Dialog, Vec<Action>)| out.extend(d.ui(ui.ctx(), None)),
            (dialog, Vec::new()),
        );
        h.run_steps(2);
        h.get_by_role_and_label(Role::Button, label).click();
        h.run_steps(2);
        std::mem::take(&mut h.state_mut().1)
    }

    #[test]
    fn trash_delete_and_empty_ask_for_those_documents_and_cancel_closes() {
        let doc = DocId([7; 16]);
        let trash = || Dialog::Trash { doc, title: "Plans".into() };
        let res = check_click(trash(), "Move to trash");
        assert!(matches!(res[..], [Action::Trash(d)] if d == doc), "{res:?}");
        let res = check_click(trash(), "Cancel");
        assert!(matches!(res[..], [Action::CloseDialog]), "{res:?}");
        let res = check_click(Dialog::Delete { doc, title: "Plans".into() }, "Delete");
        assert!(matches!(&res[..], [Action::Remove(d)] if d[..] == [doc]), "{res:?}");
        let both = vec![doc, DocId([8; 16])];
        let res = check_click(Dialog::EmptyTrash { docs: both.clone() }, "Empty trash");
        assert!(matches!(&res[..], [Action::Remove(d)] if *d == both), "{res:?}");
        let res = check_click(Dialog::EmptyTrash { docs: both }, "Cancel");
        assert!(matches!(res[..], [Action::CloseDialog]), "{res:?}");
    }

    #[test]
    fn quit_with_unsaved_edits_asks_first() {
        let res = check_click(Dialog::Quit { waiting: 3 }, "Quit and lose them");
        assert!(matches!(res[..], [Action::Quit]), "{res:?}");
        let res = check_click(Dialog::Quit { waiting: 3 }, "Keep Tandem open");
        assert!(matches!(res[..], [Action::CloseDialog]), "{res:?}");
    }

    #[test]
    fn join_asks_to_join_with_the_ticket_as_typed() {
        let dialog = Dialog::Join { ticket: " tandem1abc\n".into(), error: None };
        let res = check_click(dialog, "Join");
        assert!(matches!(&res[..], [Action::Join(t)] if t == " tandem1abc\n"), "{res:?}");
    }

    #[test]
    fn export_asks_for_the_trimmed_path() {
        let dialog = Dialog::export(Path::new("  /tmp/out.md "));
        let res = check_click(dialog, "Export");
        assert!(
            matches!(&res[..], [Action::Export { path, overwrite: false }] if path == Path::new("/tmp/out.md")),
            "{res:?}"
        );
    }

    #[test]
    fn export_replaces_a_file_only_after_the_question() {
        let exists = || FileError::Exists { path: PathBuf::from("/tmp/out.md") };
        let dialog = Dialog::Export { path: "/tmp/out.md".into(), error: Some(exists()), choosing: false };
        let res = check_click(dialog, "Replace");
        assert!(matches!(&res[..], [Action::Export { overwrite: true, .. }]), "{res:?}");
        // Another path than the one asked about is not replaced without asking again.
        let dialog = Dialog::Export { path: "/tmp/other.md".into(), error: Some(exists()), choosing: false };
        let res = check_click(dialog, "Export");
        assert!(matches!(&res[..], [Action::Export { overwrite: false, .. }]), "{res:?}");
    }
}
