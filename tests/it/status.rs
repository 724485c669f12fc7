//! What the window says about itself: notices that fade and can be dismissed, the
//! window title, the peer count and whether it is online, and the title an untitled
//! document takes from its first line.

use super::ui::{harness, new_doc, start, wait};
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tandem::ui::TandemApp;

/// A notice stays a few seconds of the window's clock, then is gone; the close button
/// takes it away at once.
#[test]
fn notices_fade_and_can_be_dismissed() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    h.get_by_label("Work offline").click();
    wait(&mut h, "the offline notice", |a| a.notice() == Some("Working offline"));
    // The harness's clock moves a quarter of a second each frame.
    h.run_steps(8);
    assert_eq!(h.state().notice(), Some("Working offline"), "two seconds on, it is still there");
    h.run_steps(12);
    assert_eq!(h.state().notice(), None, "five seconds on, it has faded away");
    assert!(h.query_by_label("Working offline").is_none());

    h.get_by_label("Work offline").click();
    wait(&mut h, "the online notice", |a| a.notice() == Some("Back online"));
    h.step();
    h.get_by_label("×").click();
    h.step();
    assert_eq!(h.state().notice(), None, "dismissed, it is gone at once");
    h.step();
    assert!(h.query_by_label("Back online").is_none());
    h.state_mut().shutdown();
}

/// Renames the open document through the Rename dialog.
fn rename(h: &mut Harness<'_, TandemApp>, title: &str) {
    h.get_by_label("Rename").click();
    h.run_steps(3);
    h.get_by_role(Role::TextInput).focus();
    h.step();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_role(Role::TextInput).type_text(title);
    h.step();
    h.get_all_by_label("Rename").last().unwrap().click();
    h.step();
}

/// The window is named after the open document, and follows a rename.
#[test]
fn the_window_title_is_the_documents() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    h.step();
    assert_eq!(h.state().window_title(), "Tandem");
    new_doc(&mut h);
    rename(&mut h, "Notes");
    wait(&mut h, "the window title", |a| a.window_title() == "Notes — Tandem");
    let sent = h.output().viewport_output[&egui::ViewportId::ROOT]
        .commands
        .contains(&egui::ViewportCommand::Title("Notes — Tandem".into()));
    assert!(sent, "the window was told its new title");
    h.state_mut().shutdown();
}
