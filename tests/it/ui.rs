//! The desktop app driven headless by egui_kittest: real engine, real data dir on disk,
//! real `tandem node` processes on loopback.

use super::node::Node;
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use tandem::ui::TandemApp;
use tandem_net::NetConfig;

pub(crate) fn start(dir: &Path) -> TandemApp {
    let net = NetConfig { listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()], ..NetConfig::default() };
    tandem::ui::start(dir, net).expect("the app starts")
}

pub(crate) fn harness(app: TandemApp) -> Harness<'static, TandemApp> {
    Harness::builder()
        .with_size(egui::vec2(1100.0, 720.0))
        .build_ui_state(|ui, app: &mut TandemApp| app.ui(ui), app)
}

/// Steps frames until `cond` holds (the engine answers asynchronously).
pub(crate) fn wait(h: &mut Harness<'_, TandemApp>, what: &str, cond: impl Fn(&TandemApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        h.step();
        if cond(h.state()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

type Window = Harness<'static, TandemApp>;

/// Steps both windows until `done` holds for them; fails after 30 s with `what`.
fn wait_both(a: &mut Window, b: &mut Window, what: &str, done: impl Fn(&Window, &Window) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(a, b) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        a.step();
        b.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two windows on loopback over `da` and `db`: A makes a document, types `text` and
/// shares it; B joins with the edit ticket, which is returned.
fn two_windows_sharing(da: &Path, db: &Path, text: &str) -> (Window, Window, String) {
    let mut a = harness(start(da));
    let b = harness(start(db));
    new_doc(&mut a);
    type_in_editor(&mut a, text);
    a.get_by_label("Share").click();
    wait(&mut a, "the ticket", |x| x.shown_ticket().is_some());
    let ticket = a.state().shown_ticket().unwrap().to_owned();
    a.step();
    a.get_by_label("Close").click();
    a.step();
    let mut b = b;
    b.state_mut().join(&ticket).unwrap();
    (a, b, ticket)
}

pub(crate) fn type_in_editor(h: &mut Harness<'_, TandemApp>, text: &str) {
    h.get_by_role(Role::MultilineTextInput).focus();
    h.step();
    h.get_by_role(Role::MultilineTextInput).type_text(text);
    h.step();
    h.step();
}

pub(crate) fn new_doc(h: &mut Harness<'_, TandemApp>) {
    h.get_by_label("New").click();
    wait(h, "the new document to open", |a| a.text().is_some());
    h.step();
}

#[test]
fn create_type_undo_redo_rename_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    type_in_editor(&mut h, "Hello wörld 😀");
    assert_eq!(h.state().text(), Some("Hello wörld 😀"));
    type_in_editor(&mut h, "!");
    assert_eq!(h.state().text(), Some("Hello wörld 😀!"));

    // Undo is the CRDT's: one step per edit, own edits only.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.step();
    assert_eq!(h.state().text(), Some("Hello wörld 😀"));
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.step();
    assert_eq!(h.state().text(), Some("Hello wörld 😀!"));
    h.get_by_label("Undo").click();
    h.step();
    assert_eq!(h.state().text(), Some("Hello wörld 😀"));
    h.get_by_label("Redo").click();
    h.step();
    assert_eq!(h.state().text(), Some("Hello wörld 😀!"));

    // Rename: the title is the document map's.
    h.get_by_label("Rename").click();
    h.run_steps(3);
    let field = h.get_by_role(Role::TextInput);
    field.focus();
    h.step();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_role(Role::TextInput).type_text("Plans");
    h.step();
    h.get_all_by_label("Rename").last().unwrap().click();
    wait(&mut h, "the list to show the new title", |a| a.docs().iter().any(|d| d.title == "Plans"));
    // The top bar is drawn with the new, shorter title before its buttons are clicked.
    h.step();

    // History: the slider starts at the newest version, read-only; moving it back shows
    // an earlier text, and "Restore this version" makes that the text, as a new edit.
    h.get_by_label("History").click();
    h.step();
    h.step();
    assert_eq!(h.state().history_text(), Some("Hello wörld 😀!"));
    // Click near the slider's left end: an early version.
    let r = h.get_by_role(Role::Slider).rect();
    let at = egui::pos2(r.left() + 3.0, r.center().y);
    for pressed in [true, false] {
        h.event(egui::Event::PointerMoved(at));
        h.event(egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        });
        h.step();
    }
    h.step();
    let old = h.state().history_text().unwrap().to_owned();
    assert_ne!(old, "Hello wörld 😀!");
    assert!("Hello wörld 😀!".starts_with(&old), "{old:?} is an earlier state of the typing");
    h.get_by_label("Restore this version").click();
    h.step();
    assert_eq!(h.state().text(), Some(old.as_str()));
    h.get_by_label("Undo").click();
    h.step();
    assert_eq!(h.state().text(), Some("Hello wörld 😀!"), "a restore is undone like any edit");

    // Everything typed is on disk: a restarted app shows it.
    let id = h.state().open_id().unwrap();
    h.state_mut().shutdown();
    drop(h);
    let mut h = harness(start(dir.path()));
    wait(&mut h, "the list", |a| !a.docs().is_empty());
    h.state_mut().open_doc(id);
    wait(&mut h, "the document to open", |a| a.text().is_some());
    assert_eq!(h.state().text(), Some("Hello wörld 😀!"));
    assert_eq!(h.state().docs()[0].title, "Plans");
    // The undo history survived the restart too: the rename is undone, then the "!".
    h.get_by_label("Undo").click();
    wait(&mut h, "no title", |a| a.docs().first().is_some_and(|d| d.title.is_empty()));
    assert_eq!(h.state().text(), Some("Hello wörld 😀!"));
    h.get_by_label("Undo").click();
    h.step();
    assert_eq!(h.state().text(), Some("Hello wörld 😀"));
    h.state_mut().shutdown();
}

#[test]
fn a_bad_ticket_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    h.step();
    h.get_by_label("Join…").click();
    h.run_steps(3);
    h.get_by_role(Role::MultilineTextInput).focus();
    h.step();
    h.get_by_role(Role::MultilineTextInput).type_text("tandem1notaticket");
    h.step();
    h.get_by_label("Join").click();
    h.step();
    h.step();
    assert!(
        h.query_by_label_contains("This ticket is not valid").is_some(),
        "the dialog explains the bad ticket"
    );
    assert!(h.state().docs().is_empty());
    h.state_mut().shutdown();
}

#[test]
fn a_second_window_on_the_same_data_dir_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path());
    let err = tandem::ui::start(dir.path(), NetConfig::default()).unwrap_err();
    assert!(format!("{err:#}").contains("another Tandem is using"), "{err:#}");
    first.shutdown();
}

/// Types `text` into a new document, shares it through the share dialog's ticket with a
/// `tandem node` started in `node_dir`, and waits (the window's frames running) until the
/// node holds the text. Returns the node and the document id.
pub(crate) fn share_with_node(h: &mut Harness<'_, TandemApp>, node_dir: &Path, text: &str) -> (Node, String) {
    new_doc(h);
    type_in_editor(h, text);
    h.get_by_label("Share").click();
    wait(h, "the ticket", |a| a.shown_ticket().is_some_and(|t| t.starts_with("tandem1")));
    let ticket = h.state().shown_ticket().unwrap().to_owned();
    // The frame the ticket arrives in moves the focus to Copy; click after it.
    h.step();
    h.get_by_label("Close").click();
    h.step();
    h.step();
    assert!(h.query_by_label("Copy").is_none(), "the share dialog closed");
    let mut node = Node::start(node_dir, &[]);
    let doc = node.ok(json!({"cmd": "join", "ticket": ticket}))["doc"].as_str().unwrap().to_owned();
    // The app's frames keep running while the node catches up.
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.text(&doc) != text {
        assert!(Instant::now() < deadline, "the node never got the app's text");
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    (node, doc)
}

/// The share dialog's ticket lets a `tandem node` join; edits flow both ways and the
/// node's cursor is drawn with its name.
#[test]
fn share_with_a_node_and_see_its_edits_and_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    let node_dir = tempfile::tempdir().unwrap();
    let (mut node, doc) = share_with_node(&mut h, node_dir.path(), "from the app");
    node.insert(&doc, 0, "node says hi, ");
    wait(&mut h, "the node's edit", |a| a.text() == Some("node says hi, from the app"));
    // The local cursor stayed after "app", where the user left it.
    let state = egui::text_edit::TextEditState::load(&h.ctx, tandem::ui::editor_id()).unwrap();
    let cursor = state.cursor.char_range().unwrap();
    assert_eq!(cursor.primary.index.0, "node says hi, from the app".chars().count());

    node.ok(json!({"cmd": "presence", "doc": doc, "name": "Nodey", "colour": "#cc3366", "cursor": 4}));
    wait(&mut h, "the node's presence", |a| a.presences().iter().any(|p| p.name == "Nodey"));
    h.step();
    let drawn = h.output().shapes.iter().any(|s| match &s.shape {
        egui::Shape::Text(t) => t.galley.job.text == "Nodey",
        _ => false,
    });
    assert!(drawn, "the remote cursor's name tag is painted");
    node.quit();
    h.state_mut().shutdown();
}

/// Issue 15: the share dialog offers "can edit" and "can read"; a window that joined
/// with the read ticket follows the document, says it is read-only and takes no typing.
#[test]
fn a_read_ticket_opens_a_read_only_window_that_follows_edits() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = harness(start(da.path()));
    let mut b = harness(start(db.path()));
    new_doc(&mut a);
    type_in_editor(&mut a, "read me");
    a.get_by_label("Share").click();
    wait(&mut a, "the tickets", |x| x.shown_read_ticket().is_some_and(|t| t.starts_with("tandem1")));
    assert!(a.query_by_label("Anyone with this ticket can read and edit the document:").is_some());
    a.get_by_label("can read").click_accesskit();
    for _ in 0..5 {
        a.step();
    }
    assert!(a
        .query_by_label(
            "Anyone with this ticket can read the document, follow its edits and pass them on, but not change it:"
        )
        .is_some());
    let read = a.state().shown_read_ticket().unwrap().to_owned();
    assert_ne!(Some(read.as_str()), a.state().shown_ticket(), "two different tickets");
    a.get_by_label("Close").click();
    a.step();
    b.state_mut().join(&read).unwrap();
    wait_both(&mut a, &mut b, "the reader never got the text", |_, b| b.state().text() == Some("read me"));
    assert!(b.state().read_only());
    assert!(b.query_by_label("🔒 Read-only").is_some());
    type_in_editor(&mut b, "EVIL");
    b.step();
    assert_eq!(b.state().text(), Some("read me"), "typing changes nothing");
    type_in_editor(&mut a, ", please");
    wait_both(&mut a, &mut b, "the reader never followed", |_, b| {
        b.state().text() == Some("read me, please")
    });
    // Joined again with the edit ticket, the open window may edit at once.
    let edit = a.state().shown_ticket().unwrap().to_owned();
    b.state_mut().join(&edit).unwrap();
    wait_both(&mut a, &mut b, "the window to become editable", |_, b| !b.state().read_only());
    b.step();
    assert!(b.query_by_label("🔒 Read-only").is_none());
    type_in_editor(&mut b, "Now ");
    wait_both(&mut a, &mut b, "the upgraded window's edit", |a, _| {
        a.state().text().is_some_and(|t| t.contains("Now "))
    });
    a.state_mut().shutdown();
    b.state_mut().shutdown();
}

/// Issue 15: "Remove people" lists who has the document, and removing one moves the
/// document to a new key: the old ticket changes and the removed window hears nothing
/// typed after.
#[test]
fn removing_a_person_changes_the_key_and_they_hear_nothing_new() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, mut b, ticket) = two_windows_sharing(da.path(), db.path(), "before");
    wait_both(&mut a, &mut b, "B never got the text", |_, b| b.state().text() == Some("before"));
    type_in_editor(&mut b, "B ");
    a.get_by_label("Share").click();
    wait(&mut a, "the ticket", |x| x.shown_ticket().is_some());
    a.step();
    a.get_by_label("Remove people…").click();
    wait_both(&mut a, &mut b, "B is never listed as an editor", |a, _| {
        a.query_by_label_contains("can edit, online").is_some()
    });
    assert!(a.query_by_label_contains("keep everything written up to now").is_some());
    a.get_by_label_contains("can edit, online").click();
    a.step();
    a.get_by_label("Remove and change the key").click();
    wait(&mut a, "the new ticket", |x| x.shown_ticket().is_some_and(|t| t != ticket));
    type_in_editor(&mut a, " after");
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        a.step();
        b.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(a.state().text().is_some_and(|t| t.contains(" after")), "{:?}", a.state().text());
    assert!(!b.state().text().unwrap_or_default().contains("after"), "{:?}", b.state().text());
    // B's window says it was removed.
    wait_both(&mut a, &mut b, "B's window never says it was removed", |_, b| {
        b.query_by_label("⛔ Removed").is_some()
    });
    a.state_mut().shutdown();
    b.state_mut().shutdown();
}

/// Two windows on loopback: typing in one shows in the other; renames made while both
/// are offline show as a conflict, and picking one title resolves it on both.
#[test]
fn two_windows_sync_text_and_resolve_a_rename_conflict() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, mut b, _) = two_windows_sharing(da.path(), db.path(), "shared words");
    let both = |a: &mut Harness<'_, TandemApp>,
                b: &mut Harness<'_, TandemApp>,
                what: &str,
                f: &dyn Fn(&TandemApp) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(f(a.state()) && f(b.state())) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?} / {:?}",
                a.state().docs(),
                b.state().docs()
            );
            a.step();
            b.step();
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    both(&mut a, &mut b, "the text on both", &|x| x.text() == Some("shared words"));
    type_in_editor(&mut b, " and more");
    both(&mut a, &mut b, "B's typing on A", &|x| x.text() == Some("shared words and more"));

    for (h, title) in [(&mut a, "Alpha"), (&mut b, "Beta")] {
        h.get_by_label("Work offline").click();
        h.step();
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
    for h in [&mut a, &mut b] {
        h.get_by_label("Work offline").click();
        h.step();
    }
    both(&mut a, &mut b, "the conflict on both", &|x| x.docs().first().is_some_and(|d| d.titles.len() == 2));
    a.step();
    assert!(a.query_by_label_contains("title conflict").is_some(), "the conflict is shown");

    // A keeps B's title; both end with it alone.
    a.get_by_label("Rename").click();
    a.run_steps(3);
    a.get_by_label("Keep “Beta”").click();
    a.step();
    a.get_all_by_label("Rename").last().unwrap().click();
    a.step();
    both(&mut a, &mut b, "the resolved title", &|x| {
        x.docs().first().is_some_and(|d| d.titles == ["Beta"] && d.title == "Beta")
    });
    a.state_mut().shutdown();
    b.state_mut().shutdown();
}

#[test]
fn export_and_import_text_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    type_in_editor(&mut h, "Zeile eins\nzweite Zeile ✓");
    let out = dir.path().join("out.md");

    h.get_by_label("Export…").click();
    h.run_steps(3);
    h.get_by_role(Role::TextInput).focus();
    h.step();
    // The field proposes a file named after the document; it is replaced.
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_role(Role::TextInput).type_text(out.to_str().unwrap());
    h.step();
    h.get_by_role_and_label(Role::Button, "Export").click();
    h.step();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "Zeile eins\nzweite Zeile ✓");

    // A missing file says so in the dialog and imports nothing.
    h.get_by_label("Import…").click();
    h.run_steps(3);
    h.get_by_role(Role::TextInput).focus();
    h.step();
    h.get_by_role(Role::TextInput).type_text("/no/such/file.txt");
    h.step();
    h.get_by_label("Import").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("Cannot read /no/such/file.txt").is_some());
    h.get_by_label("Cancel").click();
    h.step();

    std::fs::write(dir.path().join("notes.txt"), "imported ünïcode\n").unwrap();
    h.state_mut().import(&dir.path().join("notes.txt")).unwrap();
    wait(&mut h, "the imported document", |a| a.text() == Some("imported ünïcode\n"));
    wait(&mut h, "both documents listed", |a| {
        a.docs().len() == 2 && a.docs().iter().any(|d| d.title == "notes")
    });
    h.state_mut().shutdown();
}

/// "Work offline" stops syncing and says so in the status bar and the peers panel;
/// unticking it says the app is back online.
#[test]
fn work_offline_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    new_doc(&mut h);
    assert!(h.query_by_label("No peers on this document").is_some());
    h.get_by_label("Work offline").click();
    wait(&mut h, "the offline notice", |a| a.notice() == Some("Working offline"));
    h.step();
    assert!(h.query_by_label("Not syncing").is_some(), "the status bar stops syncing");
    assert!(h.query_by_label("Offline").is_some(), "the status bar shows offline");
    assert!(h.query_by_label("Offline.").is_some(), "the peers panel says offline");
    h.get_by_label("Work offline").click();
    wait(&mut h, "the online notice", |a| a.notice() == Some("Back online"));
    h.step();
    assert!(h.query_by_label("No connection").is_some(), "no peer is up, so it does not say online");
    assert!(h.query_by_label("No peers on this document").is_some());
    h.state_mut().shutdown();
}

/// Connection (top bar) shows how this device is reachable, the public network's state
/// and how the document's peer is connected; its network settings are checked and kept
/// in `network.json`, for the next start.
#[test]
fn the_connection_panel_shows_the_network_and_keeps_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(&dir.path().join("app")));
    let (node, _doc) = share_with_node(&mut h, &dir.path().join("node"), "connected");
    wait(&mut h, "the node among the document's peers", |a| a.peer_count() == Some(1));
    h.get_by_label("Connection").click();
    let tail = &node.peer_id[node.peer_id.len() - 8..];
    let short = format!("key {}-{}", &tail[..4], &tail[4..]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.query_by_label_contains(&format!("{short}: direct")).is_none() {
        assert!(Instant::now() < deadline, "the panel never listed the node's direct connection");
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(h.query_by_label("Reachability").is_some());
    assert!(h.query_by_label("Off: LAN, tickets and the peers below only").is_some(), "the tests run it off");
    let field = "Tandem peers and relays to connect to (one address per line):";
    h.get_by_role_and_label(Role::MultilineTextInput, field).focus();
    h.step();
    h.get_by_role_and_label(Role::MultilineTextInput, field).type_text("not an address");
    h.step();
    h.get_by_label("Save").click();
    h.step();
    h.step();
    assert!(
        h.query_by_label_contains("Not an address: \"not an address\"").is_some(),
        "the bad line is named"
    );
    assert!(!dir.path().join("app/network.json").exists());
    let relay = "/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWAnz7WxmxstAW2JZ9vyDmnocbsHtCvFFfRGdGRM13Yaw6";
    h.get_by_role_and_label(Role::MultilineTextInput, field).focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_role_and_label(Role::MultilineTextInput, field).type_text(relay);
    h.step();
    h.get_by_label("Save").click();
    wait(&mut h, "the saved notice", |a| a.notice().is_some_and(|n| n.starts_with("Network settings saved")));
    let saved = tandem::config::NetworkSettings::load(&dir.path().join("app")).unwrap();
    assert_eq!(saved.bootstrap, vec![relay.to_owned()]);
    assert!(saved.public_network);
    node.quit();
    h.state_mut().shutdown();
}
