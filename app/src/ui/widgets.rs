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

/// The colours a device's default is picked from: hues far apart from each other, each
/// dark enough for white initials, and none near the blues egui selects text with (its
/// light and dark themes' selection hues are about 197° to 205°).
pub const PALETTE: [u32; 10] = [
    0xd1495b, // red
    0xe0712b, // orange
    0xb08400, // ochre
    0x5b9a1b, // grass green
    0x1f9a6a, // jade
    0x7a5cd6, // violet
    0xa543c4, // purple
    0xc93f96, // magenta
    0x6b7d12, // olive
    0x8c6239, // brown
];

/// The colour of a device, picked over [`PALETTE`] by a stable hash (FNV-1a) of its key
/// (its peer id as text): the same on every start and on every device that sees it.
pub fn colour_of_key(key: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    PALETTE[(h % PALETTE.len() as u64) as usize]
}

/// The hue of a 0xRRGGBB colour, in degrees (0 for greys).
pub fn hue_of(rgb: u32) -> f32 {
    let [r, g, b] = [(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff].map(|c| c as f32 / 255.0);
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let d = max - min;
    if d <= f32::EPSILON {
        return 0.0;
    }
    let h = if max == r {
        ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        (b - r) / d + 2.0
    } else {
        (r - g) / d + 4.0
    };
    h * 60.0
}

/// The distance between two hues in degrees, the short way round (0 to 180).
pub fn hue_distance(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
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

    /// No colour of the palette is near either theme's selection colour, and any two
    /// are far apart in hue.
    #[test]
    fn the_palette_keeps_away_from_the_selection_and_from_itself() {
        for visuals in [egui::Visuals::light(), egui::Visuals::dark()] {
            let sel = hue_of(rgb_of(visuals.selection.bg_fill));
            for c in PALETTE {
                assert!(hue_distance(hue_of(c), sel) >= 40.0, "{c:06x} is near the selection hue {sel}");
            }
        }
        for (i, a) in PALETTE.iter().enumerate() {
            for b in &PALETTE[i + 1..] {
                let value = |c: u32| c.to_be_bytes().into_iter().max().unwrap_or(0);
                let far = hue_distance(hue_of(*a), hue_of(*b)) >= 15.0 || value(*a).abs_diff(value(*b)) >= 64;
                assert!(far, "{a:06x} and {b:06x} look alike");
            }
        }
        assert!((hue_of(0xff0000) - 0.0).abs() < 0.5 && (hue_of(0x0000ff) - 240.0).abs() < 0.5);
        assert_eq!(hue_distance(350.0, 10.0), 20.0);
    }

    #[test]
    fn a_keys_colour_is_stable_and_keys_spread_over_the_palette() {
        let key = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
        assert_eq!(colour_of_key(key), colour_of_key(key));
        let used: std::collections::HashSet<u32> =
            (0..200).map(|i| colour_of_key(&format!("12D3KooW{i}"))).collect();
        assert_eq!(used.len(), PALETTE.len(), "200 keys use every colour");
    }
}
