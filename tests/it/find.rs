//! Find and replace, go to line, line numbers and the word count, in the desktop
//! window headless under egui_kittest: the keyboard shortcuts, the find bar's options,
//! replacing as undoable edits, and a `tandem node` editing the text during a search.

use super::ui::{harness, new_doc, share_with_node, start, type_in_editor, wait};
use egui::text_edit::TextEditState;
use egui::{Event, Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::ops::Range;
use tandem::ui::{TandemApp, editor_id};

/// Presses a shortcut and lets the window open what it asked for.
pub(crate) fn press(h: &mut Harness<'_, TandemApp>, modifiers: Modifiers, key: Key) {
    h.key_press_modifiers(modifiers, key);
    h.run_steps(3);
}

/// Types into whatever has the keyboard focus.
pub(crate) fn type_text(h: &mut Harness<'_, TandemApp>, text: &str) {
    h.event(Event::Text(text.to_owned()));
    h.run_steps(3);
}

/// The editor's selection, as a sorted char range.
fn selection(h: &Harness<'_, TandemApp>) -> Range<usize> {
    let state = TextEditState::load(&h.ctx, editor_id()).expect("the editor has a state");
    let r = state.cursor.char_range().expect("the editor has a cursor");
    let (a, b) = (r.primary.index.0, r.secondary.index.0);
    a.min(b)..a.max(b)
}

/// How many matches the find bar has.
fn n_matches(h: &Harness<'_, TandemApp>) -> usize {
    h.state().find_matches().expect("the find bar is open").0.len()
}

fn shows(h: &Harness<'_, TandemApp>, label: &str) -> bool {
    h.query_by_label(label).is_some()
}

/// Ctrl+F searches as the query is typed and selects the match; Enter and Shift+Enter
/// move through the matches (wrapping); the case and whole-word options change what
/// matches; a regular expression that does not parse says why; Escape closes the bar
/// and gives the editor the focus back.
#[test]
fn find_counts_moves_the_selection_and_follows_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    type_in_editor(&mut h, "The cat sat. Concat the Cat!\ncat_x cat");

    press(&mut h, Modifiers::COMMAND, Key::F);
    assert!(h.ctx.memory(|m| m.has_focus(tandem::ui::find_field_id())), "the query field has the focus");
    type_text(&mut h, "cat");
    assert_eq!(n_matches(&h), 5);
    assert!(shows(&h, "1 of 5"), "the count is shown");
    assert_eq!(selection(&h), 4..7, "the first match is selected");
    assert!(shows(&h, "Selected: 1 word, 3 chars"), "the status bar counts the selection");
    assert!(shows(&h, "8 words, 38 chars"), "the status bar counts the text");

    press(&mut h, Modifiers::NONE, Key::Enter);
    assert_eq!(selection(&h), 16..19);
    assert!(shows(&h, "2 of 5"));
    press(&mut h, Modifiers::SHIFT, Key::Enter);
    assert_eq!(selection(&h), 4..7);
    press(&mut h, Modifiers::SHIFT, Key::Enter);
    assert_eq!(selection(&h), 35..38, "Shift+Enter wraps to the last match");
    assert!(shows(&h, "5 of 5"));
    assert_eq!(h.state().text(), Some("The cat sat. Concat the Cat!\ncat_x cat"), "finding edits nothing");

    h.get_by_label("Match case").click();
    h.run_steps(2);
    assert_eq!(n_matches(&h), 4, "“Cat” no longer matches");
    h.get_by_label("Whole word").click();
    h.run_steps(2);
    assert_eq!(n_matches(&h), 2, "nor “Concat” and “cat_x”");
    h.get_by_label("Match case").click();
    h.run_steps(2);
    assert_eq!(n_matches(&h), 3, "“Cat” is back");

    // A regular expression: an invalid one shows the parser's reason and finds nothing.
    h.get_by_label("Regular expression").click();
    h.run_steps(2);
    press(&mut h, Modifiers::COMMAND, Key::F);
    type_text(&mut h, "c(at");
    assert!(
        h.query_by_label("Invalid regular expression: unclosed group").is_some(),
        "the bar says why the pattern is wrong"
    );
    assert_eq!(n_matches(&h), 0);
    press(&mut h, Modifiers::COMMAND, Key::F);
    type_text(&mut h, "[cs]at");
    assert!(h.query_by_label_contains("Invalid regular expression").is_none());
    assert_eq!(n_matches(&h), 4, "whole words: cat, sat, Cat, cat");

    press(&mut h, Modifiers::NONE, Key::Escape);
    assert!(h.state().find_matches().is_none(), "Escape closes the bar");
    assert!(h.query_by_label("Match case").is_none());
    assert!(h.ctx.memory(|m| m.has_focus(editor_id())), "the editor has the focus again");
    h.state_mut().shutdown();
}

/// Ctrl+H: "Replace" replaces the current match and moves to the next; "Replace all"
/// replaces the rest, and one undo takes all of those back, exactly.
#[test]
fn replace_one_then_all_and_undo_all_in_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    let original = "one cat, two cats\nred cat, Ünï cat";
    type_in_editor(&mut h, original);

    press(&mut h, Modifiers::COMMAND, Key::H);
    type_text(&mut h, "cat");
    assert_eq!(n_matches(&h), 4);
    assert_eq!(selection(&h), 4..7);
    h.ctx.memory_mut(|m| m.request_focus(tandem::ui::replace_field_id()));
    h.step();
    type_text(&mut h, "dog");

    h.get_by_label("Replace").click();
    h.run_steps(2);
    let once = "one dog, two cats\nred cat, Ünï cat";
    assert_eq!(h.state().text(), Some(once));
    assert_eq!(n_matches(&h), 3);
    assert_eq!(selection(&h), 13..16, "the next match is selected");
    assert!(shows(&h, "1 of 3"));

    h.get_by_label("Replace all").click();
    h.run_steps(2);
    assert_eq!(h.state().text(), Some("one dog, two dogs\nred dog, Ünï dog"));
    assert_eq!(n_matches(&h), 0);
    assert!(shows(&h, "No matches"));

    press(&mut h, Modifiers::COMMAND, Key::Z);
    assert_eq!(h.state().text(), Some(once), "one undo takes back every replacement of “Replace all”");
    assert_eq!(n_matches(&h), 3, "the matches are back");
    press(&mut h, Modifiers::COMMAND, Key::Z);
    assert_eq!(h.state().text(), Some(original));
    press(&mut h, Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    press(&mut h, Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    assert_eq!(h.state().text(), Some("one dog, two dogs\nred dog, Ünï dog"), "and redo does them again");
    h.state_mut().shutdown();
}

/// A peer's edits during a search: the count follows them and the current match stays
/// the same text; "Replace all" made while the peer edits at the same time (the window
/// offline) replaces what the window showed and leaves the peer's words alone, and both
/// converge.
#[test]
fn a_peer_edits_during_a_search() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    let node_dir = tempfile::tempdir().unwrap();
    let (mut node, doc) = share_with_node(&mut h, node_dir.path(), "cat and cat");

    press(&mut h, Modifiers::COMMAND, Key::H);
    type_text(&mut h, "cat");
    h.ctx.memory_mut(|m| m.request_focus(tandem::ui::replace_field_id()));
    h.step();
    type_text(&mut h, "dog");
    assert_eq!(n_matches(&h), 2);
    assert!(shows(&h, "1 of 2"));

    // The peer writes a match before the current one: the count goes up and the current
    // match is still the same "cat", now the second.
    node.insert(&doc, 0, "the cat, ");
    wait(&mut h, "the node's edit", |a| a.text() == Some("the cat, cat and cat"));
    h.step();
    assert_eq!(n_matches(&h), 3, "the count follows the peer's edit");
    assert_eq!(h.state().find_matches().unwrap().1, Some(1));
    assert!(shows(&h, "2 of 3"));

    // Offline, the window replaces all while the peer adds a "cat" of its own.
    h.get_by_label("Work offline").click();
    wait(&mut h, "the offline notice", |a| a.notice() == Some("Working offline"));
    node.insert(&doc, "the cat, cat and cat".len(), " and a cat too");
    h.get_by_label("Replace all").click();
    h.run_steps(2);
    assert_eq!(h.state().text(), Some("the dog, dog and dog"));
    h.get_by_label("Work offline").click();
    let merged = "the dog, dog and dog and a cat too";
    wait(&mut h, "the peer's edit after the replace-all", |a| a.text() == Some(merged));
    node.wait_text(&doc, |t| t == merged);
    h.step();
    assert_eq!(n_matches(&h), 1, "the peer's new cat is found");
    node.quit();
    h.state_mut().shutdown();
}

/// Ctrl+G jumps to the start of a line; numbers past the end go to the last line;
/// anything else says it is not a line number. Line numbers are painted once the
/// setting is on.
#[test]
fn go_to_line_and_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    type_in_editor(&mut h, "first\nsecond line\n\nlast one");

    press(&mut h, Modifiers::COMMAND, Key::G);
    type_text(&mut h, "2");
    press(&mut h, Modifiers::NONE, Key::Enter);
    assert_eq!(selection(&h), 6..6, "the cursor is at the start of line 2");
    assert!(h.query_by_label("Go to line").is_none(), "the prompt closed");
    assert!(h.ctx.memory(|m| m.has_focus(editor_id())), "the editor has the focus");
    assert!(shows(&h, "Ln 2, Col 1"));

    press(&mut h, Modifiers::COMMAND, Key::G);
    type_text(&mut h, "99");
    press(&mut h, Modifiers::NONE, Key::Enter);
    assert_eq!(selection(&h), 19..19, "a line past the end is the last line");

    press(&mut h, Modifiers::COMMAND, Key::G);
    type_text(&mut h, "two");
    press(&mut h, Modifiers::NONE, Key::Enter);
    assert!(shows(&h, "“two” is not a line number"), "garbage says so");
    assert_eq!(selection(&h), 19..19, "and the cursor stays");
    press(&mut h, Modifiers::NONE, Key::Escape);
    assert!(h.query_by_label("Go to line").is_none(), "Escape closes the prompt");

    let painted = |h: &Harness<'_, TandemApp>, s: &str| {
        h.output().shapes.iter().any(|c| matches!(&c.shape, egui::Shape::Text(t) if t.galley.job.text == s))
    };
    assert!(!painted(&h, "4"), "no line numbers by default");
    h.get_by_label("⚙ Settings").click();
    h.run_steps(3);
    h.get_by_label("Line numbers").click();
    h.step();
    h.get_by_label("Save").click();
    h.run_steps(3);
    for n in ["1", "2", "3", "4"] {
        assert!(painted(&h, n), "line {n} is numbered");
    }
    h.state_mut().shutdown();
}
