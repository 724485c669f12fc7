//! The quick switcher (Ctrl+P, Ctrl+O): a fuzzy query over the documents' names, Enter
//! opens the best match, Up and Down choose another, Escape closes it.

use super::find::{press, type_text};
use super::ui::{harness, new_doc, start, type_in_editor, wait};
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tandem::ui::{TandemApp, switcher_field_id};

/// The open document's name.
fn open_name(h: &Harness<'_, TandemApp>) -> String {
    let id = h.state().open_id().expect("a document is open");
    h.state().docs().iter().find(|d| d.id == id).map(|d| d.name.clone()).unwrap_or_default()
}

#[test]
fn a_fuzzy_query_and_enter_open_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    let names = ["Trip to Lisbon", "Shopping list", "Budget for 2027"];
    for name in names {
        let before = h.state().open_id();
        new_doc(&mut h);
        wait(&mut h, "the new document", |a| a.open_id().is_some() && a.open_id() != before);
        type_in_editor(&mut h, name);
    }
    wait(&mut h, "the list to hold the three names", |a| {
        names.iter().all(|n| a.docs().iter().any(|d| d.name == *n))
    });
    assert_eq!(open_name(&h), "Budget for 2027");

    // Chars in order, not together: "shpls" is "SHoPping LiSt".
    press(&mut h, Modifiers::COMMAND, Key::P);
    assert!(h.ctx.memory(|m| m.has_focus(switcher_field_id())), "the query field has the focus");
    type_text(&mut h, "shpls");
    // Each name is in the documents list; the switcher lists the matches again.
    assert_eq!(h.query_all_by_label("Shopping list").count(), 2, "the match is listed");
    assert_eq!(h.query_all_by_label("Trip to Lisbon").count(), 1, "what does not match is not");
    press(&mut h, Modifiers::NONE, Key::Enter);
    wait(&mut h, "the chosen document to open", |a| {
        a.text() == Some("Shopping list") && a.window_title() == "Shopping list — Tandem"
    });
    assert!(h.query_by_label("Switch document").is_none(), "the switcher closed");

    // Ctrl+O too; "lis" matches two names, the best first ("Lisbon" at a word's start).
    press(&mut h, Modifiers::COMMAND, Key::O);
    type_text(&mut h, "lis");
    press(&mut h, Modifiers::NONE, Key::Enter);
    wait(&mut h, "the best match to open", |a| a.text() == Some("Trip to Lisbon"));
    // Down chooses the next match.
    press(&mut h, Modifiers::COMMAND, Key::P);
    type_text(&mut h, "lis");
    press(&mut h, Modifiers::NONE, Key::ArrowDown);
    press(&mut h, Modifiers::NONE, Key::Enter);
    wait(&mut h, "the second match to open", |a| a.text() == Some("Shopping list"));

    // A query that matches nothing opens nothing; Escape closes without a change.
    press(&mut h, Modifiers::COMMAND, Key::P);
    type_text(&mut h, "zzz");
    assert!(h.query_by_label("No document matches.").is_some());
    press(&mut h, Modifiers::NONE, Key::Enter);
    assert!(h.query_by_label("Switch document").is_some(), "still open");
    press(&mut h, Modifiers::NONE, Key::Escape);
    assert!(h.query_by_label("Switch document").is_none(), "Escape closed it");
    assert_eq!(h.state().text(), Some("Shopping list"));

    // A click on a name opens it as well (the switcher opened by its button).
    h.get_by_label("Switch document…").click();
    h.run_steps(3);
    type_text(&mut h, "2027");
    h.get_all_by_label("Budget for 2027").last().unwrap().click();
    wait(&mut h, "the clicked document", |a| a.text() == Some("Budget for 2027"));
    h.state_mut().shutdown();
}
