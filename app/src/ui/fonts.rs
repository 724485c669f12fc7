//! Fonts for the scripts egui's own fonts lack, CJK above all: the system's fonts, read
//! on a thread at start and added after egui's as fallbacks once read, so the first
//! frame never waits for them. Only files that parse are handed to egui (it panics on
//! a font it cannot read).
//!
//! Where they come from, in the order they are tried for a char: Noto Sans CJK (the
//! face for the user's language: Japanese, Korean, simplified or traditional Chinese),
//! DejaVu Sans (Greek, Cyrillic, Armenian, Georgian, Hebrew, Arabic and more), Droid
//! Sans Fallback (CJK where Noto is missing), and GNU Unifont last, which has a glyph for
//! every char of the Basic Multilingual Plane (on Debian: `fonts-noto-cjk`,
//! `fonts-dejavu-core`, `fonts-droid-fallback`, `fonts-unifont`).

use std::path::{Path, PathBuf};

/// A font file that may be on the system: its paths on the distributions we know of.
struct Known {
    name: &'static str,
    paths: &'static [&'static str],
    /// The file is a collection whose faces are per language (Noto Sans CJK).
    cjk_collection: bool,
}

const KNOWN: &[Known] = &[
    Known {
        name: "Noto Sans CJK",
        paths: &[
            "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
            "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
            "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
            "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
        ],
        cjk_collection: true,
    },
    Known {
        name: "DejaVu Sans",
        paths: &[
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
        ],
        cjk_collection: false,
    },
    Known {
        name: "Droid Sans Fallback",
        paths: &[
            "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
            "/usr/share/fonts/google-droid-sans-fonts/DroidSansFallbackFull.ttf",
        ],
        cjk_collection: false,
    },
    Known {
        name: "GNU Unifont",
        paths: &[
            "/usr/share/fonts/opentype/unifont/unifont.otf",
            "/usr/share/fonts/unifont/unifont.otf",
            "/usr/share/fonts/gnu-free/unifont.otf",
        ],
        cjk_collection: false,
    },
];

/// A font read from the system, checked to parse.
#[derive(Debug)]
pub struct SystemFont {
    /// The name egui knows it by.
    pub name: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The face in the file.
    pub index: u32,
}

impl SystemFont {
    /// Whether the font has a glyph for `c`.
    pub fn has_glyph(&self, c: char) -> bool {
        use skrifa::MetadataProvider as _;
        skrifa::FontRef::from_index(&self.bytes, self.index).is_ok_and(|f| f.charmap().map(c).is_some())
    }
}

/// The face of Noto Sans CJK's collection for a locale such as `zh_TW.UTF-8`: the
/// faces are Japanese, Korean, simplified Chinese, traditional Chinese, Hong Kong.
fn cjk_face(locale: &str) -> u32 {
    let l = locale.to_ascii_lowercase();
    if l.starts_with("ko") {
        1
    } else if l.starts_with("zh_tw") || l.starts_with("zh_mo") || l.contains("hant") {
        3
    } else if l.starts_with("zh_hk") {
        4
    } else if l.starts_with("zh") {
        2
    } else {
        0
    }
}

/// The user's locale, as the C library reads it.
fn locale() -> String {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_default()
}

/// Reads the known fonts that are on this system, in fallback order, leaving out any
/// that cannot be read or parsed (a warning in the log says which).
pub fn system_fonts() -> Vec<SystemFont> {
    let face = cjk_face(&locale());
    KNOWN
        .iter()
        .filter_map(|k| {
            let path = k.paths.iter().map(Path::new).find(|p| p.exists())?;
            let index = if k.cjk_collection { face } else { 0 };
            match read_font(path, index) {
                Ok(bytes) => {
                    Some(SystemFont { name: k.name.to_owned(), path: path.to_owned(), bytes, index })
                }
                Err(e) => {
                    tracing::warn!("font {} left out: {e}", path.display());
                    None
                }
            }
        })
        .collect()
}

/// Reads a font file and checks that egui can parse face `index` of it.
fn read_font(path: &Path, index: u32) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    skrifa::FontRef::from_index(&bytes, index).map_err(|e| format!("not a font egui can read: {e}"))?;
    Ok(bytes)
}

/// Hands the fonts to egui as fallbacks after its own, in order, for proportional and
/// monospace text; they are used from the next frame on.
pub(super) fn install(ctx: &egui::Context, fonts: Vec<SystemFont>) {
    for f in fonts {
        let data = egui::FontData { font: f.bytes.into(), index: f.index, tweak: Default::default() };
        let families = [egui::FontFamily::Proportional, egui::FontFamily::Monospace]
            .map(|family| egui::epaint::text::InsertFontFamily {
                family,
                priority: egui::epaint::text::FontPriority::Lowest,
            })
            .to_vec();
        ctx.add_font(egui::epaint::text::FontInsert::new(&f.name, data, families));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cjk_face_follows_the_language() {
        for (locale, face) in [
            ("ja_JP.UTF-8", 0),
            ("ko_KR.UTF-8", 1),
            ("zh_CN.UTF-8", 2),
            ("zh_TW.UTF-8", 3),
            ("zh_HK", 4),
            ("C", 0),
        ] {
            assert_eq!(cjk_face(locale), face, "{locale}");
        }
    }

    #[test]
    fn a_file_that_is_not_a_font_is_left_out_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.ttf");
        std::fs::write(&bad, b"not a font at all").unwrap();
        assert!(read_font(&bad, 0).unwrap_err().contains("not a font"));
        assert!(read_font(&dir.path().join("missing.ttf"), 0).is_err());
    }
}
