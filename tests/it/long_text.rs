//! A long document in the desktop window, headless under egui_kittest (issues 14 and
//! 16): the editor lays out only a window of lines around what is shown, and the user
//! cannot tell. Going to a far line and typing lands there; the start and end of the
//! text, select all, and typing over a selection that reaches past the laid-out lines
//! act on the whole text; find selects a far match in whole-text positions; the
//! accessibility tree holds the window, not the whole text.

use super::find::{press, type_text};
use super::ui::{harness, start, wait};
use egui::text_edit::TextEditState;
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use tandem::ui::editor_id;

/// The editor's cursor and the other end of its selection, in whole-text chars.
fn selection(h: &egui_kittest::Harness<'_, tandem::ui::TandemApp>) -> (usize, usize) {
    let state = TextEditState::load(&h.ctx, editor_id()).expect("the editor has a state");
    let r = state.cursor.char_range().expect("the editor has a cursor");
    (r.primary.index.0, r.secondary.index.0)
}

#[test]
fn a_long_text_edits_as_a_whole_while_only_a_window_is_laid_out() {
    let dir = tempfile::tempdir().unwrap();
    // 8,000 lines of about 50 chars (400 KB, past the window threshold), with one
    // unusual word near the end and some non-ASCII on every line.
    let text: String = (1..=8000)
        .map(|i| {
            let word = if i == 7321 { "zebraquokka" } else { "plain" };
            format!("Line {i} é {word} text that fills up the row a bit.\n")
        })
        .collect();
    let file = dir.path().join("long.txt");
    std::fs::write(&file, &text).unwrap();
    let mut h = harness(start(&dir.path().join("data")));
    h.state_mut().import(&file).unwrap();
    wait(&mut h, "the imported document to open", |a| a.text().is_some_and(|t| t.len() == text.len()));
    h.run_steps(3);

    // The text widget holds a window of lines, not the whole text.
    let shown = h.get_by_role(egui::accesskit::Role::MultilineTextInput).value().unwrap_or_default();
    assert!(
        shown.starts_with("Line 1 é"),
        "the window starts at the top: {:?}",
        &shown[..40.min(shown.len())]
    );
    assert!(
        shown.len() < text.len() / 4,
        "only a window is laid out: {} of {} bytes",
        shown.len(),
        text.len()
    );

    // Go to line 6000 and type: the text lands there.
    press(&mut h, Modifiers::COMMAND, Key::G);
    type_text(&mut h, "6000");
    press(&mut h, Modifiers::NONE, Key::Enter);
    h.run_steps(2);
    type_text(&mut h, "HERE ");
    let t = h.state().text().unwrap().to_owned();
    assert_eq!(t.lines().nth(5999), Some("HERE Line 6000 é plain text that fills up the row a bit."));
    let at = t.lines().take(5999).map(|l| l.chars().count() + 1).sum::<usize>() + 5;
    assert_eq!(selection(&h), (at, at), "the cursor is after what was typed, in whole-text chars");
    let shown = h.get_by_role(egui::accesskit::Role::MultilineTextInput).value().unwrap_or_default();
    assert!(
        shown.contains("HERE Line 6000") && !shown.contains("Line 1 é"),
        "the window moved to the cursor"
    );

    // Find selects a far match by its whole-text position.
    press(&mut h, Modifiers::COMMAND, Key::F);
    type_text(&mut h, "zebraquokka");
    let (matches, _) = h.state().find_matches().expect("the find bar is open");
    assert_eq!(matches.len(), 1);
    let m = matches[0].clone();
    assert_eq!(t.chars().skip(m.start).take(11).collect::<String>(), "zebraquokka");
    let (p, q) = selection(&h);
    assert_eq!((p.min(q), p.max(q)), (m.start, m.end), "the match is selected");
    press(&mut h, Modifiers::NONE, Key::Escape);

    // The end and the start of the whole text.
    press(&mut h, Modifiers::COMMAND, Key::End);
    type_text(&mut h, "END");
    assert!(h.state().text().unwrap().ends_with("a bit.\nEND"), "typed at the end of the text");
    // A click far from the cursor moves it there.
    let before = selection(&h);
    let pos = egui::pos2(300.0, 200.0);
    h.event(egui::Event::PointerMoved(pos));
    h.event(egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: Modifiers::NONE,
    });
    h.event(egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: Modifiers::NONE,
    });
    h.run_steps(2);
    let after = selection(&h);
    assert!(
        after.0 < before.0 && after.0 > before.0 - 5000,
        "the click moved the cursor up a little: {before:?} -> {after:?}"
    );
    press(&mut h, Modifiers::COMMAND, Key::Home);
    type_text(&mut h, "START ");
    assert!(h.state().text().unwrap().starts_with("START Line 1 é"), "typed at the start of the text");

    // Select all reaches past the window: typing replaces the whole text, as one edit.
    press(&mut h, Modifiers::COMMAND, Key::A);
    let n = h.state().text().unwrap().chars().count();
    let (p, q) = selection(&h);
    assert_eq!((p.min(q), p.max(q)), (0, n), "everything is selected");
    type_text(&mut h, "new");
    assert_eq!(h.state().text(), Some("new"));
    press(&mut h, Modifiers::COMMAND, Key::Z);
    wait(&mut h, "the undo", |a| a.text().is_some_and(|t| t.len() > 400_000));
    let back = h.state().text().unwrap();
    assert!(back.contains("Line 1 é") && back.contains("HERE Line 6000"), "undo brings the whole text back");
}
