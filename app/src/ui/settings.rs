//! The window's own settings (display name, colour, editor options), kept as JSON
//! beside the database. A missing or unreadable file gives the defaults.

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
    /// Monospace font in the editor.
    pub(super) monospace: bool,
    /// Wrap long lines.
    pub(super) wrap: bool,
    /// Number the lines in a gutter left of the text.
    pub(super) line_numbers: bool,
    /// Show the peers panel.
    pub(super) show_peers: bool,
    /// The document open when the app last closed.
    pub(super) last_doc: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        let name = std::env::var("USER").ok().filter(|u| !u.is_empty() && u != "root");
        Settings {
            name: name.unwrap_or_else(|| "Anonymous".into()),
            colour: None,
            monospace: false,
            wrap: true,
            line_numbers: false,
            show_peers: true,
            last_doc: None,
        }
    }
}

impl Settings {
    /// Where the settings of the data dir `dir` live.
    pub(super) fn path(dir: &Path) -> PathBuf {
        dir.join("settings.json")
    }

    /// Reads the settings; defaults when there are none or they cannot be read.
    pub(super) fn load(dir: &Path) -> Settings {
        let mut s: Settings = std::fs::read(Settings::path(dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        // Earlier versions saved the blue every user had by default, which looks like
        // text selected here: such a device goes back to the colour of its key.
        if s.colour == Some(OLD_DEFAULT_COLOUR) {
            s.colour = None;
        }
        s
    }

    /// Writes the settings (atomically: a temporary file renamed over the old one).
    pub(super) fn save(&self, dir: &Path) -> std::io::Result<()> {
        let path = Settings::path(dir);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, path)
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
            monospace: true,
            wrap: false,
            line_numbers: true,
            show_peers: false,
            last_doc: Some("ab12".into()),
        };
        s.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()), s);
        std::fs::write(Settings::path(dir.path()), b"\xff not json").unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
        std::fs::write(Settings::path(dir.path()), br#"{"name":"Old","colour":3113197}"#).unwrap();
        let old = Settings::load(dir.path());
        assert_eq!((old.name.as_str(), old.colour), ("Old", None), "the old default blue is dropped");
    }
}
