//! What the window says about itself: notices that fade and can be dismissed, the
//! window title, the peer count and whether it is online, and the title an untitled
//! document takes from its first line.

use super::ui::{harness, new_doc, start, wait};
use egui_kittest::kittest::Queryable;

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
