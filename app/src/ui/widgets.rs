//! Small drawing helpers shared by the panels.

use egui::Color32;

/// The colour of a 0xRRGGBB value.
pub(super) fn colour32(rgb: u32) -> Color32 {
    Color32::from_rgb((rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8)
}

/// The 0xRRGGBB value of a colour (its alpha is dropped).
pub(super) fn rgb_of(c: Color32) -> u32 {
    (u32::from(c.r()) << 16) | (u32::from(c.g()) << 8) | u32::from(c.b())
}

/// The red of error messages.
pub(super) const ERROR_RED: Color32 = Color32::from_rgb(0xd0, 0x40, 0x40);

/// A small filled circle, as a colour key.
pub(super) fn dot_ui(ui: &mut egui::Ui, c: Color32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    ui.painter().circle_filled(rect.center(), 4.5, c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_round_trip() {
        for rgb in [0x000000, 0x2f80ed, 0xcc3366, 0xffffff] {
            assert_eq!(rgb_of(colour32(rgb)), rgb);
        }
    }
}
