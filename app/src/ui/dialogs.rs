//! The modal dialogs: join by ticket, rename, remove, share, import, export and the
//! settings. Each holds what the user is typing; the buttons return [`Action`]s, and the
//! app closes the dialog once the action succeeded (a failed join, import or export
//! leaves it open with the reason). A dialog takes the keyboard focus when it opens (its
//! field, or its main button); Enter in a field confirms and Escape cancels.

use super::action::Action;
use super::document::OpenDoc;
use super::error::FileError;
use super::settings::Settings;
use super::widgets::{ERROR_RED, colour32, rgb_of};
use egui::{Id, Key, Modifiers};
use std::path::PathBuf;
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
    Remove {
        doc: DocId,
        title: String,
    },
    Share,
    Import {
        path: String,
        error: Option<FileError>,
    },
    Export {
        path: String,
        error: Option<FileError>,
    },
    Settings(Settings),
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
        Dialog::Import { path: String::new(), error: None }
    }

    /// The export dialog with an empty path field.
    pub(super) fn export() -> Dialog {
        Dialog::Export { path: String::new(), error: None }
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
                Dialog::Remove { doc, title } => {
                    let peers = open.filter(|o| o.id() == *doc).map(|o| o.n_peers);
                    remove_ui(ui, *doc, title, peers)
                }
                Dialog::Share => share_ui(ui, open.and_then(|o| o.ticket.as_deref())),
                Dialog::Import { path, error } => {
                    let form = ("Import a text file", "Path of a .txt or .md file:", "import-path", "Import");
                    path_form_ui(ui, form, path, error.as_ref()).map(|go| {
                        if go { Action::Import(PathBuf::from(path.trim())) } else { Action::CloseDialog }
                    })
                }
                Dialog::Export { path, error } => {
                    let form = ("Export", "Save the text to (a .txt or .md path):", "export-path", "Export");
                    path_form_ui(ui, form, path, error.as_ref()).map(|go| {
                        if go { Action::Export(PathBuf::from(path.trim())) } else { Action::CloseDialog }
                    })
                }
                Dialog::Settings(s) => settings_ui(ui, s),
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
            Dialog::Quit { .. } => button("cancel"),
            Dialog::Remove { .. } | Dialog::Share => button("confirm"),
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

/// Asks before removing a document; `peers` is how many connected peers share it, when
/// it is the open document (the only one whose peers the window follows).
fn remove_ui(ui: &mut egui::Ui, doc: DocId, title: &str, peers: Option<usize>) -> Option<Action> {
    ui.heading("Remove document");
    ui.label(format!("Remove “{title}” from this device?"));
    ui.label(match peers {
        Some(0) => "No peer that shares it is connected now: unless another device synced it \
             before, it is gone for good."
            .to_owned(),
        Some(1) => "1 connected peer shares it and keeps its copy.".to_owned(),
        Some(n) => format!("{n} connected peers share it and keep their copies."),
        None => "Devices it was shared with keep their copies; if it was never shared, it is gone for good."
            .to_owned(),
    });
    buttons_ui(ui, "Remove", || Action::Remove(doc), "Cancel")
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

/// The share dialog: the ticket once the engine gave it, a spinner until then.
fn share_ui(ui: &mut egui::Ui, ticket: Option<&str>) -> Option<Action> {
    ui.heading("Share");
    let prompt = ui.label("Anyone with this ticket can read and edit the document:");
    let Some(t) = ticket else {
        ui.spinner();
        return ui.button("Close").clicked().then_some(Action::CloseDialog);
    };
    let mut shown = t;
    ui.add(
        egui::TextEdit::multiline(&mut shown)
            .desired_rows(4)
            .desired_width(f32::INFINITY)
            .font(egui::TextStyle::Monospace)
            .id(Id::new("share-ticket")),
    )
    .labelled_by(prompt.id);
    buttons_ui(ui, "Copy", || Action::CopyTicket(t.to_owned()), "Close")
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
        ui.label("Editor");
        ui.vertical(|ui| {
            ui.checkbox(&mut s.monospace, "Monospace font");
            ui.checkbox(&mut s.wrap, "Word wrap");
            ui.checkbox(&mut s.line_numbers, "Line numbers");
            ui.checkbox(&mut s.show_peers, "Show peers panel");
        });
        ui.end_row();
    });
    buttons_ui(ui, "Save", || Action::SaveSettings(s.clone()), "Cancel")
}

/// A dialog's row of buttons: `label` asks for `action()`, `cancel` closes the dialog.
fn buttons_ui(
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

/// A dialog asking for a file path: `(heading, prompt, field id, button)`. Returns
/// `Some(true)` when the button is pressed, `Some(false)` on Cancel.
fn path_form_ui(
    ui: &mut egui::Ui,
    (heading, prompt, id, button): (&str, &str, &str, &str),
    path: &mut String,
    error: Option<&FileError>,
) -> Option<bool> {
    ui.heading(heading);
    let prompt = ui.label(prompt);
    ui.add(egui::TextEdit::singleline(path).desired_width(f32::INFINITY).id(Id::new(id)))
        .labelled_by(prompt.id);
    if let Some(e) = error {
        ui.colored_label(ERROR_RED, e.to_string());
    }
    let enter = enter_pressed(ui);
    ui.horizontal(|ui| {
        if ui.button(button).clicked() || enter {
            Some(true)
        } else if ui.button("Cancel").clicked() {
            Some(false)
        } else {
            None
        }
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
    fn remove_asks_to_remove_that_document_and_cancel_to_close() {
        let doc = DocId([7; 16]);
        let remove = || Dialog::Remove { doc, title: "Plans".into() };
        let res = check_click(remove(), "Remove");
        assert!(matches!(res[..], [Action::Remove(d)] if d == doc), "{res:?}");
        let res = check_click(remove(), "Cancel");
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
        let dialog = Dialog::Export { path: "  /tmp/out.md ".into(), error: None };
        let res = check_click(dialog, "Export");
        assert!(matches!(&res[..], [Action::Export(p)] if p == Path::new("/tmp/out.md")), "{res:?}");
    }
}
