//! The bar at the top of the window: the open document's title and its commands
//! (rename, undo, redo, history, share), the settings and "Work offline".

use super::action::Action;
use super::dialogs::Dialog;
use super::document::OpenDoc;
use egui::{Color32, RichText};

/// Draws the top bar; `open` is the open document, `offline` whether the engine is
/// offline.
pub(super) fn top_bar_ui(ui: &mut egui::Ui, open: Option<&OpenDoc>, offline: bool) -> Option<Action> {
    let mut action = None;
    egui::Panel::top("top").show(ui, |ui| {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.heading(RichText::new("Tandem").strong());
            ui.separator();
            if let Some(o) = open {
                action = document_commands_ui(ui, o);
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button("⚙ Settings").clicked() {
                    action = Some(Action::ShowSettings);
                }
                let mut offline = offline;
                if ui.checkbox(&mut offline, "Work offline").changed() {
                    action = Some(Action::SetOffline(offline));
                }
            });
        });
        ui.add_space(4.0);
    });
    action
}

/// The open document's title and commands.
fn document_commands_ui(ui: &mut egui::Ui, o: &OpenDoc) -> Option<Action> {
    let mut action = None;
    let title = o.title();
    ui.label(RichText::new(&title).size(16.0));
    if o.view.doc().map_values("title").len() > 1 {
        ui.colored_label(Color32::from_rgb(0xd0, 0x80, 0x00), "⚠ title conflict")
            .on_hover_text("Peers renamed this document at the same time: choose one in Rename.");
    }
    if ui.button("Rename").clicked() {
        action = Some(Action::ShowDialog(Dialog::Rename { title }));
    }
    ui.separator();
    let doc = o.view.doc();
    if ui.add_enabled(doc.can_undo(), egui::Button::new("Undo")).on_hover_text("Ctrl+Z").clicked() {
        action = Some(Action::Undo);
    }
    if ui.add_enabled(doc.can_redo(), egui::Button::new("Redo")).on_hover_text("Ctrl+Shift+Z").clicked() {
        action = Some(Action::Redo);
    }
    ui.separator();
    if ui.selectable_label(o.history.is_some(), "History").clicked() {
        action = Some(Action::ToggleHistory);
    }
    if ui.button("Share").clicked() {
        action = Some(Action::Share);
    }
    action
}
