//! The documents list on the left: new, join and import buttons, one entry per
//! document (with export and "move to trash" in its context menu), the trash (restore,
//! delete for good, empty), and export and "move to trash" for the open document at the
//! bottom.

use super::action::Action;
use super::dialogs::Dialog;
use super::document::OpenDoc;
use super::keys::{self, Part, hint};
use egui::RichText;
use tandem_net::{DocSummary, TrashedDoc};
use tandem_storage::DocId;

/// The documents panel and its list, as the engine last reported it.
#[derive(Debug, Default)]
pub(super) struct DocsPanel {
    pub(super) list: Vec<DocSummary>,
    /// The documents in the trash, most recently trashed first.
    pub(super) trash: Vec<TrashedDoc>,
}

impl DocsPanel {
    /// Draws the panel; `current` is the document open or being opened, `open` the
    /// open document.
    pub(super) fn ui(
        &self,
        ui: &mut egui::Ui,
        current: Option<DocId>,
        open: Option<&OpenDoc>,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut first = None;
        let panel = egui::Panel::left("docs").resizable(true).default_size(220.0).show(ui, |ui| {
            ui.add_space(6.0);
            ui.label(RichText::new("Documents").strong());
            ui.add_space(4.0);
            ui.horizontal_wrapped(|ui| {
                let ctx = ui.ctx().clone();
                let new = ui.button("New").on_hover_text(hint(&ctx, "New document", &keys::NEW));
                if new.clicked() {
                    actions.push(Action::NewDoc);
                }
                first = Some(new.id);
                if ui.button("Join…").on_hover_text(hint(&ctx, "Join with a ticket", &keys::JOIN)).clicked()
                {
                    actions.push(Action::ShowDialog(Dialog::join()));
                }
                if ui.button("Import…").clicked() {
                    actions.push(Action::ShowDialog(Dialog::import()));
                }
            });
            ui.separator();
            egui::ScrollArea::vertical().show(ui, |ui| {
                for d in &self.list {
                    // The open document's name follows the typing before the list does.
                    let open_title = open.filter(|o| o.id() == d.id).map(OpenDoc::title);
                    actions.extend(entry_ui(ui, d, open_title.as_deref(), current == Some(d.id)));
                }
                if self.list.is_empty() {
                    ui.weak("No documents yet.");
                }
                if !self.trash.is_empty() {
                    ui.add_space(8.0);
                    actions.extend(trash_ui(ui, &self.trash));
                }
            });
            let switch = hint(ui.ctx(), "Find a document by name", &keys::SWITCH);
            if ui.small_button("Switch document…").on_hover_text(switch).clicked() {
                actions.push(Action::OpenSwitcher);
            }
            if let Some(o) = open {
                ui.with_layout(egui::Layout::bottom_up(egui::Align::LEFT), |ui| {
                    ui.add_space(4.0);
                    if ui.button("Move to trash…").clicked() {
                        actions.push(Action::ShowDialog(Dialog::Trash { doc: o.id(), title: o.title() }));
                    }
                    if ui.button("Export…").clicked() {
                        actions.push(Action::ShowExport(o.title()));
                    }
                });
            }
        });
        if let Some(first) = first {
            keys::mark_part(ui.ctx(), Part::Documents, panel.response.rect, first);
        }
        actions
    }
}

/// One document in the list, by its name (`open_title` when it is open): a click opens
/// it; its context menu exports (after opening it) or removes it.
fn entry_ui(ui: &mut egui::Ui, d: &DocSummary, open_title: Option<&str>, selected: bool) -> Vec<Action> {
    let mut actions = Vec::new();
    let title = match open_title {
        Some(t) => t,
        None if d.name.is_empty() => "Untitled",
        None => d.name.as_str(),
    };
    if let Some(error) = &d.error {
        // Its data on disk is damaged: shown greyed with the error, never opened.
        let short = d.id.to_string();
        let r = ui.add_enabled(false, egui::Button::selectable(false, format!("{title} ({})", &short[..8])));
        r.on_disabled_hover_text(error.as_str());
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(format!("Cannot be opened: {error}")).weak().small());
            if ui.small_button("Move to trash…").clicked() {
                actions.push(Action::ShowDialog(Dialog::Trash { doc: d.id, title: title.to_owned() }));
            }
        });
        return actions;
    }
    let r = ui.selectable_label(selected, title).on_hover_text(format!("{} chars", d.len_chars));
    if r.clicked() {
        actions.push(Action::Open(d.id));
    }
    r.context_menu(|ui| {
        if ui.button("Export…").clicked() {
            actions.push(Action::Open(d.id));
            actions.push(Action::ShowExport(title.to_owned()));
        }
        if ui.button("Move to trash…").clicked() {
            actions.push(Action::ShowDialog(Dialog::Trash { doc: d.id, title: title.to_owned() }));
        }
    });
    actions
}

/// The trash, folded: each document in it with Restore and "Delete…", and "Empty
/// trash…".
fn trash_ui(ui: &mut egui::Ui, trash: &[TrashedDoc]) -> Vec<Action> {
    let mut actions = Vec::new();
    egui::CollapsingHeader::new(format!("Trash ({})", trash.len())).id_salt("trash").show(ui, |ui| {
        for d in trash {
            let name = if d.name.is_empty() { "Untitled" } else { d.name.as_str() };
            ui.label(RichText::new(name).weak()).on_hover_text(format!("{} chars", d.len_chars));
            ui.horizontal(|ui| {
                if ui.small_button("Restore").on_hover_text(format!("Restore “{name}”")).clicked() {
                    actions.push(Action::Untrash(d.id));
                }
                let delete = ui.small_button("Delete…").on_hover_text(format!("Delete “{name}” for good"));
                if delete.clicked() {
                    actions.push(Action::ShowDialog(Dialog::Delete { doc: d.id, title: name.to_owned() }));
                }
            });
        }
        if ui.small_button("Empty trash…").clicked() {
            let docs = trash.iter().map(|d| d.id).collect();
            actions.push(Action::ShowDialog(Dialog::EmptyTrash { docs }));
        }
    });
    actions
}
