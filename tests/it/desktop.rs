//! The window as a desktop app: files dropped on it are imported, export asks before
//! replacing a file, the dark and light themes, the settings and the window's size,
//! zoom and "Work offline" kept across a restart on the same data dir, and fonts for
//! CJK and other scripts.

use super::ui::{harness, new_doc, start, type_in_editor, wait};
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use skrifa::MetadataProvider as _;
use std::path::Path;
use tandem::ui::{TandemApp, WindowState};

/// Whether the last frame painted a text that contains `s`, and the size of its font.
fn painted(h: &Harness<'_, TandemApp>, s: &str) -> Option<f32> {
    h.output().shapes.iter().find_map(|c| match &c.shape {
        egui::Shape::Text(t) if t.galley.job.text.contains(s) => {
            Some(t.galley.job.sections.first().map_or(0.0, |x| x.format.font_id.size))
        }
        _ => None,
    })
}

/// The rect of the painted text that contains `s`.
fn painted_rect(h: &Harness<'_, TandemApp>, s: &str) -> Option<egui::Rect> {
    h.output().shapes.iter().find_map(|c| match &c.shape {
        egui::Shape::Text(t) if t.galley.job.text.contains(s) => {
            Some(t.galley.rect.translate(t.pos.to_vec2()))
        }
        _ => None,
    })
}

/// Drags `path` over the window (the hint shows), then drops it.
fn drop_file(h: &mut Harness<'_, TandemApp>, path: &Path) {
    h.input_mut().hovered_files.push(egui::HoveredFile { path: Some(path.to_owned()), ..Default::default() });
    h.step();
    assert!(
        painted(h, "Drop a text file to import it").is_some(),
        "the hint shows while a file is dragged over"
    );
    h.input_mut().hovered_files.clear();
    h.input_mut().dropped_files.push(egui::DroppedFile { path: Some(path.to_owned()), ..Default::default() });
    h.step();
    assert!(
        painted(h, "Drop a text file to import it").is_none(),
        "the hint is gone once the file is dropped"
    );
}

#[test]
fn a_file_dropped_on_the_window_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    h.step();
    // Big enough to be read in several pieces, with its progress in the status bar.
    let text = "Dropped text, line by line ✓\n".repeat(200_000);
    let file = dir.path().join("dropped.md");
    std::fs::write(&file, &text).unwrap();
    drop_file(&mut h, &file);
    wait(&mut h, "the dropped file's document", |a| a.text().is_some_and(|t| t.len() == text.len()));
    assert_eq!(h.state().text(), Some(text.as_str()));
    assert!(h.state().imports().is_empty(), "the import is over");
    wait(&mut h, "the document listed under the file's name", |a| {
        a.docs().iter().any(|d| d.title == "dropped.md")
    });

    // A file that is not UTF-8 and a missing one say what is wrong with which file.
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9 au lait").unwrap();
    drop_file(&mut h, &latin1);
    let want = format!("{} is not UTF-8 text (invalid byte at offset 3)", latin1.display());
    wait(&mut h, "the UTF-8 error", |a| a.notice() == Some(want.as_str()));
    let missing = dir.path().join("gone.txt");
    drop_file(&mut h, &missing);
    let notice = h.state().notice().unwrap_or_default().to_owned();
    assert!(notice.starts_with(&format!("Cannot read {}", missing.display())), "{notice}");
    assert_eq!(h.state().docs().len(), 1, "nothing else was imported");
    h.state_mut().shutdown();
}

/// Import shows its progress in the dialog and the status bar while the file is read.
#[test]
fn import_shows_progress_and_never_blocks_a_frame() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    h.step();
    let file = dir.path().join("big.txt");
    let text = "0123456789 abcdefghij ✓\n".repeat(1_000_000);
    std::fs::write(&file, &text).unwrap();
    h.get_by_label("Import…").click();
    h.run_steps(2);
    h.get_by_role(Role::TextInput).focus();
    h.step();
    h.get_by_role(Role::TextInput).type_text(file.to_str().unwrap());
    h.step();
    let t = std::time::Instant::now();
    h.get_by_role_and_label(Role::Button, "Import").click();
    h.step();
    assert!(t.elapsed() < std::time::Duration::from_secs(1), "the frame did not wait for the file");
    assert_eq!(h.state().imports().len(), 1, "the import runs in the background");
    h.step();
    let bars = h.query_all_by_label_contains("Importing big.txt").count();
    assert_eq!(bars, 2, "its progress is shown in the dialog and the status bar");
    wait(&mut h, "the imported text", |a| a.text().is_some_and(|t| t.len() == text.len()));
    h.step();
    assert!(h.query_by_label_contains("Importing big.txt").is_none());
    assert!(h.query_by_label("Import a text file").is_none(), "the dialog closed");
    h.state_mut().shutdown();
}

/// Opens the export dialog, puts `path` in its field and presses `button`.
fn export_to(h: &mut Harness<'_, TandemApp>, path: &Path, button: &str) {
    h.get_by_role(Role::TextInput).focus();
    h.step();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_role(Role::TextInput).type_text(path.to_str().unwrap());
    h.step();
    h.get_by_role_and_label(Role::Button, button).click();
    h.run_steps(2);
}

#[test]
fn export_proposes_a_name_and_asks_before_replacing_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    type_in_editor(&mut h, "Shopping list\neggs");
    h.get_by_label("Export…").click();
    h.run_steps(3);
    let proposed = h.get_by_role(Role::TextInput).value().unwrap_or_default();
    assert!(proposed.ends_with("/Shopping list.txt"), "named after the document: {proposed}");

    let out = dir.path().join("list.txt");
    std::fs::write(&out, "precious").unwrap();
    export_to(&mut h, &out, "Export");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious", "not replaced without asking");
    assert!(h.query_by_label_contains("exists already. Replace it?").is_some());
    // Cancel keeps the file as it was.
    h.get_by_label("Cancel").click();
    h.step();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");

    h.get_by_label("Export…").click();
    h.run_steps(3);
    export_to(&mut h, &out, "Export");
    h.get_by_role_and_label(Role::Button, "Replace").click();
    h.run_steps(2);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "Shopping list\neggs", "replaced after the question");
    assert!(h.query_by_label("Export").is_none(), "the dialog closed");

    // A path in a folder that does not exist says so.
    h.get_by_label("Export…").click();
    h.run_steps(3);
    let bad = dir.path().join("no/such/dir/x.txt");
    export_to(&mut h, &bad, "Export");
    assert!(h.query_by_label_contains(&format!("Cannot write {}", bad.display())).is_some());
    h.state_mut().shutdown();
}

/// Opens the settings dialog, makes a `change` and saves.
fn set_in_settings(h: &mut Harness<'_, TandemApp>, change: impl FnOnce(&mut Harness<'_, TandemApp>)) {
    h.get_by_label("⚙ Settings").click();
    // The dialog is shown on the next frame, sized (invisible) on the one after.
    h.run_steps(3);
    change(h);
    h.step();
    h.get_by_role_and_label(Role::Button, "Save").click();
    h.run_steps(3);
}

#[test]
fn themes_switch_and_stay_switched() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    h.run_steps(2);
    // Following a system that does not say (as here) is light.
    assert!(!h.ctx.global_style().visuals.dark_mode);
    set_in_settings(&mut h, |h| h.get_by_label("Dark").click());
    assert!(h.ctx.global_style().visuals.dark_mode, "dark once chosen");
    h.state_mut().shutdown();
    drop(h);

    let mut h = harness(start(dir.path()));
    h.run_steps(2);
    assert!(h.ctx.global_style().visuals.dark_mode, "still dark after a restart");
    set_in_settings(&mut h, |h| h.get_by_label("Light").click());
    assert!(!h.ctx.global_style().visuals.dark_mode);
    // Following the system: a dark system makes it dark.
    set_in_settings(&mut h, |h| h.get_by_label("Follow the system").click());
    h.input_mut().system_theme = Some(egui::Theme::Dark);
    h.run_steps(2);
    assert!(h.ctx.global_style().visuals.dark_mode, "follows a dark system");
    h.state_mut().shutdown();
}

#[test]
fn settings_window_size_zoom_and_offline_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    // The first line is the title, shown elsewhere too; the second only in the editor.
    type_in_editor(&mut h, "Title\nSized text");
    assert_eq!(painted(&h, "Sized text"), Some(15.0), "the default editor font size");
    // Two steps up with the keyboard on the font size slider.
    set_in_settings(&mut h, |h| {
        for _ in 0..2 {
            h.get_by_role(Role::Slider).focus();
            h.step();
            h.key_press(Key::ArrowRight);
            h.step();
        }
    });
    h.step();
    assert_eq!(painted(&h, "Sized text"), Some(17.0), "the editor's font size changed");

    h.get_by_label("Work offline").click();
    h.run_steps(2);
    assert!(h.query_by_label("Offline").is_some(), "offline now");

    h.key_press_modifiers(Modifiers::COMMAND, Key::Plus);
    h.run_steps(2);
    let zoom = h.ctx.zoom_factor();
    assert!(zoom > 1.0, "Ctrl + zooms in: {zoom}");
    // The window is resized (the size is given in points, which the zoom scales).
    let inner = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(900.0, 600.0) / zoom);
    h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default().inner_rect = Some(inner);
    h.run_steps(2);
    let id = h.state().open_id().unwrap();
    h.state_mut().shutdown();
    drop(h);

    let saved = WindowState::load(dir.path());
    assert_eq!(saved, WindowState { size: Some([900.0, 600.0]), zoom, offline: true });
    assert_eq!(
        tandem::ui::viewport(dir.path()).inner_size,
        Some(egui::vec2(900.0, 600.0)),
        "opens at that size"
    );

    let mut h = harness(start(dir.path()));
    h.run_steps(3);
    assert_eq!(h.ctx.zoom_factor(), zoom, "the zoom is restored");
    assert!(h.query_by_label("Offline").is_some(), "still offline after the restart");
    h.state_mut().open_doc(id);
    wait(&mut h, "the document", |a| a.text().is_some());
    h.run_steps(2);
    assert_eq!(painted(&h, "Sized text"), Some(17.0), "the font size is kept");
    h.state_mut().shutdown();
    drop(h);

    // Another data dir shares none of it.
    let other = tempfile::tempdir().unwrap();
    assert_eq!(WindowState::load(other.path()), WindowState::default());
}

#[test]
fn the_prose_column_keeps_lines_to_a_comfortable_width_centred() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1800.0, 720.0))
        .build_ui_state(|ui, app: &mut TandemApp| app.ui(ui), start(dir.path()));
    new_doc(&mut h);
    let para = "Dickens\nIt was the best of times, it was the worst of times, it was the age of wisdom, \
                it was the age of foolishness, it was the epoch of belief, it was the epoch of \
                incredulity, it was the season of Light, it was the season of Darkness.";
    type_in_editor(&mut h, para);
    h.step();
    let wide = painted_rect(&h, "best of times").unwrap();
    assert!(wide.width() > 1000.0, "without the column the text runs wide: {wide:?}");
    set_in_settings(&mut h, |h| h.get_by_label("Comfortable line width").click());
    h.run_steps(2);
    let narrow = painted_rect(&h, "best of times").unwrap();
    // About 80 chars: 600 to 700 points at 15 points.
    assert!((450.0..750.0).contains(&narrow.width()), "{narrow:?}");
    assert!(narrow.height() > wide.height(), "more rows");
    let panel = h.get_by_role(Role::MultilineTextInput).rect();
    let centre = (narrow.center().x - panel.center().x).abs();
    assert!(narrow.left() > wide.left() + 200.0 && centre < 60.0, "centred: {narrow:?} in {panel:?}");
    h.state_mut().shutdown();
}

/// Public-domain text in scripts egui's own fonts lack: the opening of the Analects
/// (論語, 學而), of Natsume Sōseki's 吾輩は猫である (1905), and lines in Greek (the
/// Iliad), Hebrew (Genesis 1:1), Arabic, Russian (Pushkin), Devanagari and Thai.
const SAMPLES: &[&str] = &[
    "子曰：「學而時習之，不亦說乎？有朋自遠方來，不亦樂乎？人不知而不慍，不亦君子乎？」",
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。",
    "Μῆνιν ἄειδε θεὰ Πηληϊάδεω Ἀχιλῆος",
    "בְּרֵאשִׁית בָּרָא אֱלֹהִים אֵת הַשָּׁמַיִם וְאֵת הָאָרֶץ",
    "بسم الله الرحمن الرحيم",
    "Мой дядя самых честных правил",
    "सत्यमेव जयते",
    "สวัสดีครับ",
    "안녕하세요",
];

#[test]
fn fonts_cover_cjk_and_other_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    h.step();
    wait(&mut h, "the system's fonts", |a| a.fallback_fonts().is_some());
    h.run_steps(2);
    let loaded = h.state().fallback_fonts().unwrap().to_vec();
    assert!(
        loaded.iter().any(|f| f == "Noto Sans CJK"),
        "Noto Sans CJK was not loaded (scripts/test installs fonts-noto-cjk): {loaded:?}"
    );
    // egui takes a char from the first font of the family that maps it (its own
    // `has_glyph` cannot tell a char of its replacement glyph's font from a missing one).
    let defs = h.ctx.fonts(|f| f.definitions().clone());
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        let faces: Vec<skrifa::FontRef<'_>> = defs.families[&family]
            .iter()
            .map(|name| {
                let data = &defs.font_data[name];
                skrifa::FontRef::from_index(&data.font, data.index).unwrap()
            })
            .collect();
        let has = |c: char| faces.iter().any(|f| f.charmap().map(c).is_some());
        let missing: Vec<char> = ('\u{4E00}'..='\u{9FFF}').filter(|c| !has(*c)).collect();
        assert!(
            missing.is_empty(),
            "{family:?}: {} CJK ideographs have no glyph, e.g. {:?}",
            missing.len(),
            &missing[..5.min(missing.len())]
        );
        for s in SAMPLES {
            let gaps: String = s.chars().filter(|c| !has(*c)).collect();
            assert!(gaps.is_empty(), "{family:?}: no glyph for {gaps:?} in {s}");
        }
    }
    // The editor shows such text as typed.
    new_doc(&mut h);
    type_in_editor(&mut h, SAMPLES[0]);
    assert_eq!(h.state().text(), Some(SAMPLES[0]));
    h.state_mut().shutdown();
}
