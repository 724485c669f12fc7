//! Accessibility and the keyboard, read the way a screen reader reads the window: from
//! its AccessKit tree (egui_kittest queries that tree). Every control has a label,
//! focus can leave the editor and move between the parts of the window, dialogs take
//! the focus, Enter confirms and Escape cancels, and the shortcuts are listed in Help.

use super::ui::{harness, new_doc, start, type_in_editor, wait};
use egui::accesskit::Role;
use egui::{Id, Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tandem::ui::{TandemApp, editor_id};

/// The roles of the nodes a user acts on.
const CONTROLS: [Role; 9] = [
    Role::Button,
    Role::CheckBox,
    Role::TextInput,
    Role::MultilineTextInput,
    Role::Slider,
    Role::ComboBox,
    Role::Link,
    Role::ColorWell,
    Role::SpinButton,
];

/// The controls in the window whose label is missing or blank, by role (and value).
fn unlabelled(h: &Harness<'_, TandemApp>) -> Vec<String> {
    h.query_all_by(|n| CONTROLS.contains(&n.role()) && n.label().is_none_or(|l| l.trim().is_empty()))
        .map(|n| format!("{n:?}"))
        .collect()
}

fn check_all_labelled(h: &Harness<'_, TandemApp>, when: &str) {
    let missing = unlabelled(h);
    assert!(missing.is_empty(), "controls without a label {when}: {missing:?}");
}

fn has_focus(h: &Harness<'_, TandemApp>, id: Id) -> bool {
    h.ctx.memory(|m| m.has_focus(id))
}

fn press(h: &mut Harness<'_, TandemApp>, modifiers: Modifiers, key: Key) {
    h.key_press_modifiers(modifiers, key);
    h.run_steps(3);
}

/// The main controls are read by their names from the AccessKit tree, and no control
/// anywhere in the window, its bars or its dialogs lacks a label.
#[test]
fn every_control_has_a_label_a_screen_reader_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    h.run_steps(2);
    check_all_labelled(&h, "on the welcome screen");
    new_doc(&mut h);
    type_in_editor(&mut h, "Some text to undo");
    h.run_steps(2);
    for (role, label) in [
        (Role::Button, "New"),
        (Role::Button, "Join…"),
        (Role::Button, "Import…"),
        (Role::Button, "Rename"),
        (Role::Button, "Undo"),
        (Role::Button, "Redo"),
        (Role::Button, "Share"),
        (Role::Button, "⚙ Settings"),
        (Role::Button, "Shortcuts"),
        (Role::Button, "Export…"),
        (Role::Button, "Move to trash…"),
        (Role::CheckBox, "Work offline"),
        (Role::MultilineTextInput, "Document text"),
    ] {
        assert!(h.query_by_role_and_label(role, label).is_some(), "the tree has a {role:?} named {label:?}");
    }
    assert!(h.query_by_label("History").is_some());
    check_all_labelled(&h, "with a document open");

    press(&mut h, Modifiers::COMMAND, Key::H);
    check_all_labelled(&h, "with find and replace open");
    assert!(h.query_by_role_and_label(Role::TextInput, "Find").is_some(), "the query field is named");
    press(&mut h, Modifiers::NONE, Key::Escape);
    press(&mut h, Modifiers::COMMAND, Key::G);
    check_all_labelled(&h, "with go to line open");
    assert!(h.query_by_role_and_label(Role::TextInput, "Go to line").is_some());
    press(&mut h, Modifiers::NONE, Key::Escape);

    h.get_by_label("⚙ Settings").click();
    h.run_steps(3);
    check_all_labelled(&h, "in the settings");
    assert!(h.query_by_role_and_label(Role::TextInput, "Display name").is_some());
    press(&mut h, Modifiers::NONE, Key::Escape);

    for (shortcut, what) in [
        ((Modifiers::COMMAND, Key::J), "in the join dialog"),
        ((Modifiers::COMMAND, Key::P), "in the switcher"),
        ((Modifiers::NONE, Key::F1), "in the shortcuts"),
    ] {
        press(&mut h, shortcut.0, shortcut.1);
        check_all_labelled(&h, what);
        press(&mut h, Modifiers::NONE, Key::Escape);
    }
    h.get_by_label("History").click();
    h.run_steps(3);
    check_all_labelled(&h, "in the history");
    h.state_mut().shutdown();
}

/// Escape takes the focus out of the editor (Tab in it is a tab char); F6 and
/// Shift+F6 move it between the top bar, the documents and the editor.
#[test]
fn the_focus_leaves_the_editor_and_moves_between_the_parts() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    type_in_editor(&mut h, "a");
    assert!(has_focus(&h, editor_id()));
    press(&mut h, Modifiers::NONE, Key::Tab);
    assert_eq!(h.state().text(), Some("a\t"), "Tab in the editor is a tab char");
    assert!(has_focus(&h, editor_id()));

    press(&mut h, Modifiers::NONE, Key::Escape);
    assert!(!has_focus(&h, editor_id()), "Escape leaves the editor");
    press(&mut h, Modifiers::NONE, Key::Tab);
    assert!(h.ctx.memory(|m| m.focused()).is_some_and(|f| f != editor_id()), "Tab reaches a control");

    h.get_by_role(Role::MultilineTextInput).focus();
    h.run_steps(2);
    assert!(has_focus(&h, editor_id()));
    press(&mut h, Modifiers::NONE, Key::F6);
    assert!(h.get_by_label("Rename").is_focused(), "F6 goes from the editor to the top bar");
    press(&mut h, Modifiers::NONE, Key::F6);
    assert!(h.get_by_label("New").is_focused(), "then to the documents");
    let first = h.state().open_id();
    press(&mut h, Modifiers::NONE, Key::Enter);
    wait(&mut h, "a second document", |a| {
        a.docs().len() == 2 && a.open_id().is_some_and(|id| Some(id) != first)
    });
    h.run_steps(2);
    assert!(has_focus(&h, editor_id()), "the new document's editor has the focus");
    press(&mut h, Modifiers::SHIFT, Key::F6);
    assert!(h.get_by_label("New").is_focused(), "Shift+F6 goes back to the documents");
    press(&mut h, Modifiers::SHIFT, Key::F6);
    assert!(h.get_by_label("Rename").is_focused(), "and to the top bar");
    press(&mut h, Modifiers::NONE, Key::F6);
    press(&mut h, Modifiers::NONE, Key::F6);
    assert!(has_focus(&h, editor_id()), "F6 comes back to the editor");
    h.state_mut().shutdown();
}

/// A dialog takes the focus when it opens; Enter in its field confirms, Escape
/// cancels, and the editor has the focus again afterwards.
#[test]
fn dialogs_take_the_focus_enter_confirms_and_escape_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    type_in_editor(&mut h, "text");

    press(&mut h, Modifiers::COMMAND, Key::J);
    assert!(has_focus(&h, Id::new("join-ticket")), "the ticket field has the focus");
    h.event(egui::Event::Text("tandem1notaticket".into()));
    press(&mut h, Modifiers::NONE, Key::Enter);
    assert!(h.query_by_label_contains("This ticket is not valid").is_some(), "Enter joined");
    press(&mut h, Modifiers::NONE, Key::Escape);
    assert!(h.query_by_label_contains("Join a document").is_none(), "Escape closed the dialog");
    assert!(has_focus(&h, editor_id()), "the editor has the focus back");

    h.get_by_label("Rename").click();
    h.run_steps(3);
    assert!(has_focus(&h, Id::new("rename-title")), "the title field has the focus");
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.event(egui::Event::Text("Plans".into()));
    press(&mut h, Modifiers::NONE, Key::Enter);
    wait(&mut h, "the new title", |a| a.window_title() == "Plans — Tandem");
    assert!(h.query_by_role_and_label(Role::TextInput, "Rename").is_none(), "Enter renamed and closed");

    h.get_by_label("Move to trash…").click();
    h.run_steps(3);
    assert!(
        h.get_by_role_and_label(Role::Button, "Move to trash").is_focused(),
        "the main button has the focus"
    );
    press(&mut h, Modifiers::NONE, Key::Escape);
    assert!(h.query_by_role_and_label(Role::Button, "Move to trash").is_none(), "Escape cancelled");
    assert_eq!(h.state().docs().len(), 1, "nothing was moved to the trash");

    h.get_by_label("⚙ Settings").click();
    h.run_steps(3);
    assert!(has_focus(&h, Id::new("settings-name")));
    press(&mut h, Modifiers::NONE, Key::Escape);
    assert!(h.query_by_label("Display name").is_none());
    h.state_mut().shutdown();
}

/// F1 (or "Shortcuts") lists every shortcut as this platform writes it; Enter closes
/// the list; shortcuts work without the mouse.
#[test]
fn help_lists_the_shortcuts_and_they_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    h.run_steps(2);
    press(&mut h, Modifiers::NONE, Key::F1);
    assert!(h.query_by_label("Keyboard shortcuts").is_some());
    for keys in
        ["Ctrl+N", "Ctrl+J", "Ctrl+Shift+S", "Ctrl+P  or  Ctrl+O", "Ctrl+Z", "Ctrl+F", "F6  or  Shift+F6"]
    {
        assert!(h.query_by_label(keys).is_some(), "the list has {keys}");
    }
    assert!(h.query_by_label("Zoom the window out").is_some(), "the list has egui's zoom");
    press(&mut h, Modifiers::NONE, Key::Enter);
    assert!(h.query_by_label("Keyboard shortcuts").is_none(), "Enter closed it");

    press(&mut h, Modifiers::COMMAND, Key::N);
    wait(&mut h, "the new document", |a| a.text().is_some());
    type_in_editor(&mut h, "shared");
    press(&mut h, Modifiers::COMMAND | Modifiers::SHIFT, Key::S);
    wait(&mut h, "the ticket", |a| a.shown_ticket().is_some_and(|t| t.starts_with("tandem1")));
    assert!(h.get_by_label("Copy").is_focused(), "the share dialog's button has the focus");
    press(&mut h, Modifiers::NONE, Key::Escape);
    h.state_mut().shutdown();
}
