//! The bar at the top of the window: the open document's title and its commands
//! (rename, undo, redo, history, share), the settings, the keyboard shortcuts and
//! "Work offline". Buttons with a shortcut show it on hover.

use super::action::Action;
use super::dialogs::Dialog;
use super::document::OpenDoc;
use super::keys::{self, Part, hint};
use egui::{Color32, RichText};

/// Draws the top bar; `open` is the open document, `offline` whether the engine is
/// offline.
pub(super) fn top_bar_ui(ui: &mut egui::Ui, open: Option<&OpenDoc>, offline: bool) -> Option<Action> {
    let mut action = None;
    let mut first = None;
    let panel = egui::Panel::top("top").show(ui, |ui| {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.heading(RichText::new("Tandem").strong());
            ui.separator();
            if let Some(o) = open {
                let (a, id) = document_commands_ui(ui, o);
                (action, first) = (a, Some(id));
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let help =
                    ui.button("Shortcuts").on_hover_text(hint(ui.ctx(), "Keyboard shortcuts", &keys::HELP));
                if help.clicked() {
                    action = Some(Action::ShowHelp);
                }
                first = first.or(Some(help.id));
                if ui.button("⚙ Settings").clicked() {
                    action = Some(Action::ShowSettings);
                }
                let connection = ui.button("Connection").on_hover_text("How this device reaches its peers");
                if connection.clicked() {
                    action = Some(Action::ShowConnection);
                }
                let mut offline = offline;
                if ui.checkbox(&mut offline, "Work offline").changed() {
                    action = Some(Action::SetOffline(offline));
                }
            });
        });
        ui.add_space(4.0);
    });
    if let Some(first) = first {
        keys::mark_part(ui.ctx(), Part::TopBar, panel.response.rect, first);
    }
    action
}

/// The width the top bar keeps for the document's commands (rename to share) and the
/// window's (work offline to shortcuts), beside the title.
const TITLE_RESERVE: f32 = 760.0;

/// The open document's title and commands; returns what was asked and the id of the
/// first button.
fn document_commands_ui(ui: &mut egui::Ui, o: &OpenDoc) -> (Option<Action>, egui::Id) {
    let mut action = None;
    let ctx = ui.ctx().clone();
    let title = o.title();
    // The title gets what the commands on both sides leave, cut with an ellipsis (the
    // whole title on hover), so it never runs under them.
    let room = (ui.available_width() - TITLE_RESERVE).clamp(80.0, 480.0);
    ui.allocate_ui(egui::vec2(room, ui.available_height()), |ui| {
        ui.add(egui::Label::new(RichText::new(&title).size(16.0)).truncate()).on_hover_text(&title);
    });
    if o.view.doc().map_values("title").len() > 1 {
        ui.colored_label(Color32::from_rgb(0xd0, 0x80, 0x00), "⚠ title conflict")
            .on_hover_text("Peers renamed this document at the same time: choose one in Rename.");
    }
    if o.view.read_only() {
        ui.label("🔒 Read-only").on_hover_text(
            "Shared with you to read: you follow its edits and pass them on, but cannot change it.",
        );
    }
    if o.removed {
        ui.colored_label(Color32::from_rgb(0xd0, 0x40, 0x40), "⛔ Removed").on_hover_text(
            "Someone who can edit this document changed its key without you: you keep it as it was \
             until then, but no longer receive its edits.",
        );
    }
    let rename = ui.add_enabled(!o.view.read_only(), egui::Button::new("Rename"));
    if rename.clicked() {
        action = Some(Action::ShowDialog(Dialog::Rename { title }));
    }
    ui.separator();
    let doc = o.view.doc();
    let undo = ui.add_enabled(doc.can_undo(), egui::Button::new("Undo"));
    if undo.on_hover_text(hint(&ctx, "Undo your last edit", &keys::UNDO)).clicked() {
        action = Some(Action::Undo);
    }
    let redo = ui.add_enabled(doc.can_redo(), egui::Button::new("Redo"));
    if redo.on_hover_text(hint(&ctx, "Redo", &keys::REDO)).clicked() {
        action = Some(Action::Redo);
    }
    ui.separator();
    if ui.selectable_label(o.history.is_some(), "History").clicked() {
        action = Some(Action::ToggleHistory);
    }
    if ui.button("Share").on_hover_text(hint(&ctx, "Share this document", &keys::SHARE)).clicked() {
        action = Some(Action::Share);
    }
    (action, rename.id)
}
