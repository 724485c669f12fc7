//! What the window says about itself: notices that fade and can be dismissed, the
//! window title, the peer count and whether it is online, and the title an untitled
//! document takes from its first line.

use super::ui::{harness, new_doc, share_with_node, start, type_in_editor, wait};
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
    h.get_by_label("Dismiss notice").click();
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

/// A new document has no title in its map: it goes by its first non-empty line
/// (trimmed, cut to 40 chars) in the list, the top bar and the window title, and typing
/// never writes the map; a rename does.
#[test]
fn an_untitled_document_goes_by_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    h.run_steps(2);
    assert_eq!(h.state().window_title(), "Untitled — Tandem");
    type_in_editor(&mut h, "\n   \n  Things to pack for the long trip to the sea  \nsocks");
    h.run_steps(2);
    let name = "Things to pack for the long trip to the…";
    assert_eq!(h.state().window_title(), format!("{name} — Tandem"));
    // In the list and in the top bar.
    assert_eq!(h.query_all_by_label(name).count(), 2, "the list and the top bar show it");
    let doc = h.state().view().unwrap().doc();
    assert!(doc.map_values("title").is_empty(), "typing wrote no title to the map");

    // The engine's list derives the same name, and still no title, after a restart.
    let id = h.state().open_id().unwrap();
    h.state_mut().shutdown();
    drop(h);
    // The device's document list (what `tandem list` prints) keeps that name too.
    let store = tandem_storage::Store::open(dir.path()).unwrap();
    assert_eq!(store.doc(id).unwrap().unwrap().title, name, "the stored list goes by the first line");
    drop(store);
    let mut h = harness(start(dir.path()));
    wait(&mut h, "the list", |a| a.docs().iter().any(|d| d.id == id));
    let d = h.state().docs().iter().find(|d| d.id == id).unwrap();
    assert_eq!((d.name.as_str(), d.title.as_str()), (name, ""));
    h.state_mut().open_doc(id);
    wait(&mut h, "the document to open", |a| a.text().is_some());
    h.run_steps(2);
    assert!(h.state().view().unwrap().doc().map_values("title").is_empty());

    // An explicit rename writes the map, and the name follows it.
    rename(&mut h, "Packing");
    wait(&mut h, "the window title", |a| a.window_title() == "Packing — Tandem");
    let doc = h.state().view().unwrap().doc();
    assert_eq!(tandem_net::title_of(doc), "Packing");
    h.state_mut().shutdown();
}

/// Moving to the trash says whether a peer holds a copy of the open document; the
/// trash restores a document whole, deletes one for good after asking, and is kept
/// across a restart.
#[test]
fn the_trash_restores_and_deletes_and_says_whether_a_peer_holds_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    let node_dir = tempfile::tempdir().unwrap();
    let (node, _doc) = share_with_node(&mut h, node_dir.path(), "hello");
    wait(&mut h, "the node to count as a peer", |a| a.peer_count() == Some(1));
    h.get_by_label("Move to trash…").click();
    h.run_steps(2);
    assert!(h.query_by_label("1 connected peer shares it and keeps its copy.").is_some());
    assert!(h.query_by_label_contains("the only copy").is_none());
    h.key_press(egui::Key::Escape);
    h.run_steps(4);
    assert!(h.query_by_label("Cancel").is_none(), "the dialog closed");
    let shared = h.state().open_id().unwrap();

    // A document nobody shares, with words in it.
    h.get_by_label("New").click();
    wait(&mut h, "the new document", |a| a.open_id().is_some_and(|id| id != shared));
    wait(&mut h, "the new document's count", |a| a.peer_count() == Some(0));
    let draft = h.state().open_id().unwrap();
    type_in_editor(&mut h, "Draft of the letter");
    wait(&mut h, "the text", |a| a.text() == Some("Draft of the letter"));
    h.get_by_label("Move to trash…").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("this device holds the only copy").is_some());
    h.get_by_role_and_label(Role::Button, "Move to trash").click();
    wait(&mut h, "the document to leave the list for the trash", |a| {
        a.open_id().is_none()
            && !a.docs().iter().any(|d| d.id == draft)
            && a.trash().iter().any(|t| t.id == draft)
    });
    assert_eq!(h.state().trash()[0].name, "Draft of the letter");

    // Restore opens it again, whole.
    h.run_steps(2);
    h.get_by_label("Trash (1)").click();
    h.run_steps(2);
    h.get_by_label("Restore").click();
    wait(&mut h, "the restored document to open", |a| {
        a.open_id() == Some(draft) && a.text() == Some("Draft of the letter")
    });
    wait(&mut h, "the trash to empty", |a| a.trash().is_empty() && a.docs().iter().any(|d| d.id == draft));

    // To the trash again; it stays there across a restart.
    h.get_by_label("Move to trash…").click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "Move to trash").click();
    wait(&mut h, "the trash", |a| a.trash().len() == 1);
    node.quit();
    h.state_mut().shutdown();
    drop(h);
    let mut h = harness(start(dir.path()));
    wait(&mut h, "the list and the trash", |a| a.docs().len() == 1 && a.trash().len() == 1);
    assert_eq!(h.state().docs()[0].id, shared);

    // "Delete…" asks first; Escape keeps it; Delete removes it for good.
    h.get_by_label("Trash (1)").click();
    h.run_steps(2);
    h.get_by_label("Delete…").click();
    h.run_steps(3);
    assert!(h.query_by_label_contains("This cannot be undone.").is_some());
    assert!(h.get_by_role_and_label(Role::Button, "Cancel").is_focused(), "Enter does not delete by chance");
    h.key_press(egui::Key::Escape);
    h.run_steps(4);
    assert_eq!(h.state().trash().len(), 1, "cancelled");
    h.get_by_label("Delete…").click();
    h.run_steps(3);
    h.get_by_role_and_label(Role::Button, "Delete").click();
    wait(&mut h, "the trash to empty", |a| a.trash().is_empty());
    h.state_mut().shutdown();
    drop(h);
    let store = tandem_storage::Store::open(dir.path()).unwrap();
    assert!(store.doc(draft).unwrap().is_none(), "deleted from disk");
    assert!(store.doc(shared).unwrap().is_some());
}
