//! The keyboard shortcuts dialog (F1, or "Shortcuts" in the top bar): every shortcut of
//! [`keys::TABLE`](super::keys::TABLE), written the way this platform writes them.

use super::action::Action;
use super::keys::TABLE;
use egui::Id;

/// Draws the shortcuts over the window; Close, Escape or a click outside close it.
pub(super) fn help_ui(ctx: &egui::Context) -> Option<Action> {
    let modal = egui::Modal::new(Id::new("help")).show(ctx, |ui| {
        ui.set_width(580.0);
        ui.heading("Keyboard shortcuts");
        ui.add_space(4.0);
        egui::Grid::new("shortcuts").num_columns(2).spacing([24.0, 6.0]).striped(true).show(ui, |ui| {
            for (what, keys) in TABLE {
                ui.label(*what);
                let keys: Vec<String> = keys.iter().map(|k| ctx.format_shortcut(k)).collect();
                ui.label(egui::RichText::new(keys.join("  or  ")).monospace());
                ui.end_row();
            }
        });
        ui.add_space(8.0);
        let close = ui.button("Close");
        // The dialog takes the focus when it opens, so Enter closes it too.
        if !close.has_focus() {
            close.request_focus();
        }
        close.clicked()
    });
    (modal.inner || modal.should_close()).then_some(Action::CloseOverlay)
}
