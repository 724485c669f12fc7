//! What the window says about itself: notices that fade and can be dismissed, the
//! window title, the peer count and whether it is online, and the title an untitled
//! document takes from its first line.

use super::ui::{harness, new_doc, share_with_node, start, wait};
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};
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

/// The status bar counts the open document's peers, and says "Online" only while a
/// connection is up.
#[test]
fn the_peer_count_is_the_documents_and_online_needs_a_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    h.run_steps(2);
    assert!(h.query_by_label("No connection").is_some());
    assert!(h.query_by_label("Online").is_none(), "nothing is connected");

    let node_dir = tempfile::tempdir().unwrap();
    let (node, _doc) = share_with_node(&mut h, node_dir.path(), "hello");
    wait(&mut h, "the node to count as a peer", |a| a.peer_count() == Some(1));
    h.run_steps(2);
    assert!(h.query_by_label("1 peer").is_some());
    assert!(h.query_by_label("Online").is_some());
    assert!(h.query_by_label("No connection").is_none());

    // A second document is not shared: its count is 0 although the node is connected.
    let shared = h.state().open_id();
    h.get_by_label("New").click();
    wait(&mut h, "the new document", |a| a.open_id().is_some_and(|id| Some(id) != shared));
    wait(&mut h, "the new document's count", |a| a.peer_count() == Some(0));
    h.run_steps(2);
    assert!(h.query_by_label("0 peers").is_some());
    assert!(h.query_by_label("Online").is_some(), "the node is still connected");

    // Once the node is gone, nothing is connected.
    node.quit();
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.query_by_label("No connection").is_none() {
        assert!(Instant::now() < deadline, "the status bar still says online");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.query_by_label("Online").is_none());
    h.state_mut().shutdown();
}
