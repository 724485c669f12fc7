//! The window's own settings (display name, colour, theme, editor options) and the
//! window's state (size, zoom, "Work offline"), each kept as JSON beside the database,
//! so two data dirs never share them. A missing or unreadable file gives the defaults.

use crate::config::{load_json, save_json};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The default colour of earlier versions, the same for every user.
const OLD_DEFAULT_COLOUR: u32 = 0x2f80ed;

/// What the user set in the settings dialog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct Settings {
    /// Shown to peers beside this user's cursor.
    pub(super) name: String,
    /// This user's colour, 0xRRGGBB, once the user picked one; until then the colour
    /// picked from this device's key (`widgets::colour_of_key`).
    pub(super) colour: Option<u32>,
    /// Dark, light, or whatever the system uses.
    pub(super) theme: ThemeChoice,
    /// Monospace font in the editor.
    pub(super) monospace: bool,
    /// The editor's font size, in points.
    pub(super) font_size: f32,
    /// Keep wrapped lines to a comfortable width for prose, in a centred column.
    pub(super) prose_column: bool,
    /// Wrap long lines.
    pub(super) wrap: bool,
    /// Number the lines in a gutter left of the text.
    pub(super) line_numbers: bool,
    /// Show the peers panel.
    pub(super) show_peers: bool,
    /// The document open when the app last closed.
    pub(super) last_doc: Option<String>,
    /// The codes (peer ids) of this person's other devices: documents show the
    /// devices as one author where each linked the other.
    pub(super) linked_devices: Vec<String>,
    /// This device's full code (its peer id), shown in the dialog as its short code
    /// (not stored).
    #[serde(skip)]
    pub(super) device_code: String,
    /// The linked devices as the dialog edits them, one per line (not stored).
    #[serde(skip)]
    pub(super) links_text: String,
}

impl Default for Settings {
    fn default() -> Settings {
        let name = std::env::var("USER").ok().filter(|u| !u.is_empty() && u != "root");
        Settings {
            name: name.unwrap_or_else(|| "Anonymous".into()),
            colour: None,
            theme: ThemeChoice::System,
            monospace: false,
            font_size: DEFAULT_FONT_SIZE,
            prose_column: false,
            wrap: true,
            line_numbers: false,
            show_peers: true,
            last_doc: None,
            linked_devices: Vec::new(),
            device_code: String::new(),
            links_text: String::new(),
        }
    }
}

/// The device codes in `text`, one per line (full peer ids or short codes,
/// [`tandem_net::authors::device_code`]), and the lines that are neither.
pub(super) fn parse_device_codes(text: &str) -> (Vec<String>, Vec<String>) {
    let mut codes = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.parse::<tandem_net::PeerId>().is_ok()
            || tandem_net::authors::normal_device_code(line).is_some()
        {
            codes.push(line.to_owned());
        } else {
            bad.push(line.to_owned());
        }
    }
    (codes, bad)
}

/// The short codes `codes` name, as they are compared (a full peer id gives its short
/// code), sorted: two lists that link the same devices give the same.
pub(super) fn normal_codes(codes: &[String]) -> Vec<String> {
    let mut res: Vec<String> = codes
        .iter()
        .filter_map(|c| {
            let short = if c.parse::<tandem_net::PeerId>().is_ok() {
                tandem_net::authors::device_code(c)
            } else {
                c.clone()
            };
            tandem_net::authors::normal_device_code(&short)
        })
        .collect();
    res.sort();
    res.dedup();
    res
}

/// The editor's font size when none is set, in points.
pub(super) const DEFAULT_FONT_SIZE: f32 = 15.0;

/// The editor's font sizes the settings offer, in points.
pub(super) const FONT_SIZES: std::ops::RangeInclusive<f32> = 9.0..=32.0;

/// The window's theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ThemeChoice {
    /// Dark or light as the system says (light when it does not say).
    System,
    Light,
    Dark,
}

impl ThemeChoice {
    /// Every choice, with its name in the settings dialog.
    pub(super) const ALL: [(ThemeChoice, &'static str); 3] = [
        (ThemeChoice::System, "Follow the system"),
        (ThemeChoice::Light, "Light"),
        (ThemeChoice::Dark, "Dark"),
    ];

    /// The preference egui follows.
    pub(super) fn preference(self) -> egui::ThemePreference {
        match self {
            ThemeChoice::System => egui::ThemePreference::System,
            ThemeChoice::Light => egui::ThemePreference::Light,
            ThemeChoice::Dark => egui::ThemePreference::Dark,
        }
    }
}

impl Settings {
    /// Where the settings of the data dir `dir` live.
    pub(super) fn path(dir: &Path) -> PathBuf {
        dir.join("settings.json")
    }

    /// Reads the settings; defaults when there are none or they cannot be read. A font
    /// size out of range is brought into it.
    pub(super) fn load(dir: &Path) -> Settings {
        let mut s: Settings = load_json(&Settings::path(dir));
        // Earlier versions saved the blue every user had by default, which looks like
        // text selected here: such a device goes back to the colour of its key.
        if s.colour == Some(OLD_DEFAULT_COLOUR) {
            s.colour = None;
        }
        s.font_size = if s.font_size.is_finite() {
            s.font_size.clamp(*FONT_SIZES.start(), *FONT_SIZES.end())
        } else {
            DEFAULT_FONT_SIZE
        };
        s
    }

    /// Writes the settings (atomically: a temporary file renamed over the old one).
    pub(super) fn save(&self, dir: &Path) -> std::io::Result<()> {
        save_json(&Settings::path(dir), self)
    }
}

/// The zoom factors the window can be restored with.
const ZOOMS: std::ops::RangeInclusive<f32> = 0.2..=5.0;

/// What the window remembers of itself between runs on one data dir: its size, its
/// zoom (Ctrl + and Ctrl -) and whether the user works offline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WindowState {
    /// The window's inner size in logical pixels (points at zoom 1), once known.
    pub size: Option<[f32; 2]>,
    /// egui's zoom factor.
    pub zoom: f32,
    /// "Work offline" was ticked.
    pub offline: bool,
}

impl Default for WindowState {
    fn default() -> WindowState {
        WindowState { size: None, zoom: 1.0, offline: false }
    }
}

impl WindowState {
    /// Where the window's state of the data dir `dir` lives.
    pub(super) fn path(dir: &Path) -> PathBuf {
        dir.join("window.json")
    }

    /// Reads the window's state; defaults when there is none or it cannot be read,
    /// and for a size or zoom no window could have.
    pub fn load(dir: &Path) -> WindowState {
        let mut s: WindowState = load_json(&WindowState::path(dir));
        if !(s.zoom.is_finite() && ZOOMS.contains(&s.zoom)) {
            s.zoom = 1.0;
        }
        s.size = s.size.filter(|[w, h]| (100.0..=20_000.0).contains(w) && (100.0..=20_000.0).contains(h));
        s
    }

    /// Writes the window's state (atomically).
    pub(super) fn save(&self, dir: &Path) -> std::io::Result<()> {
        save_json(&WindowState::path(dir), self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_a_restart_and_garbage_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings {
            name: "Ada".into(),
            colour: Some(0x123456),
            theme: ThemeChoice::Dark,
            monospace: true,
            font_size: 20.0,
            prose_column: true,
            wrap: false,
            line_numbers: true,
            show_peers: false,
            last_doc: Some("ab12".into()),
            linked_devices: vec!["12D3KooWAnz7WxmxstAW2JZ9vyDmnocbsHtCvFFfRGdGRM13Yaw6".into()],
            device_code: String::new(),
            links_text: String::new(),
        };
        s.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()), s);
        let (codes, bad) = parse_device_codes(
            "12D3KooWAnz7WxmxstAW2JZ9vyDmnocbsHtCvFFfRGdGRM13Yaw6\n\n  nonsense \n vfff rgdg rm13 yaw6\n",
        );
        assert_eq!((codes.len(), bad), (2, vec!["nonsense".to_owned()]));
        assert_eq!(normal_codes(&codes), vec!["vfffrgdgrm13yaw6".to_owned()], "both name one device");
        std::fs::write(Settings::path(dir.path()), b"\xff not json").unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
        std::fs::write(Settings::path(dir.path()), br#"{"name":"Old","colour":3113197}"#).unwrap();
        let old = Settings::load(dir.path());
        assert_eq!((old.name.as_str(), old.colour), ("Old", None), "the old default blue is dropped");
        std::fs::write(Settings::path(dir.path()), br#"{"font_size": 900, "theme": "dark"}"#).unwrap();
        let s = Settings::load(dir.path());
        assert_eq!((s.font_size, s.theme), (*FONT_SIZES.end(), ThemeChoice::Dark));
    }

    #[test]
    fn the_window_state_survives_a_restart_and_nonsense_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(WindowState::load(dir.path()), WindowState::default());
        let s = WindowState { size: Some([900.0, 600.0]), zoom: 1.5, offline: true };
        s.save(dir.path()).unwrap();
        assert_eq!(WindowState::load(dir.path()), s);
        std::fs::write(WindowState::path(dir.path()), br#"{"size": [0, 1e9], "zoom": -3}"#).unwrap();
        assert_eq!(WindowState::load(dir.path()), WindowState::default());
    }
}
