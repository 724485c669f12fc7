//! Peers' presence in the editor: each device's colour comes from its key and is never
//! the selection colour; a peer's tags never cover text; a cursor out of view shows at
//! the editor's edge; clicking a peer in the peers panel scrolls to its cursor and
//! "Follow" keeps it in view. A real `tandem node` is the peer.

use super::node::Node;
use super::ui::{harness, share_with_node, start, wait};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use serde_json::json;
use tandem::ui::{PALETTE, TagKind, TandemApp, colour_of_key, hue_distance, hue_of, overlaps};

/// The 0xRRGGBB of a colour.
fn rgb(c: egui::Color32) -> u32 {
    (u32::from(c.r()) << 16) | (u32::from(c.g()) << 8) | u32::from(c.b())
}

/// A device's colour is picked from its key: the same every time, never near either
/// theme's selection colour, and different keys mostly get different colours. A new
/// device uses its key's colour.
#[test]
fn a_devices_colour_comes_from_its_key() {
    let key = "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp";
    assert_eq!(colour_of_key(key), colour_of_key(key), "stable");
    let selections =
        [egui::Visuals::light(), egui::Visuals::dark()].map(|v| hue_of(rgb(v.selection.bg_fill)));
    let keys: Vec<String> = (0..300).map(|i| format!("12D3KooW{i:040}")).collect();
    for k in &keys {
        let c = colour_of_key(k);
        assert!(PALETTE.contains(&c));
        for sel in selections {
            assert!(hue_distance(hue_of(c), sel) >= 40.0, "{c:06x} is too near the selection");
        }
    }
    let same = keys.windows(2).filter(|w| colour_of_key(&w[0]) == colour_of_key(&w[1])).count();
    assert!(same < keys.len() / 5, "{same} of {} neighbouring keys share a colour", keys.len());

    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, mut b) = (start(da.path()), start(db.path()));
    assert_ne!(a.key(), b.key());
    assert_eq!(a.colour(), colour_of_key(a.key()), "a new device uses its key's colour");
    assert_eq!(b.colour(), colour_of_key(b.key()));
    a.shutdown();
    b.shutdown();
}

/// The rectangles of the glyphs the editor painted (not spaces), in window points.
fn glyph_rects(h: &Harness<'_, TandemApp>) -> Vec<egui::Rect> {
    let text = h.state().text().unwrap_or_default().to_owned();
    let mut res = Vec::new();
    for s in &h.output().shapes {
        let egui::Shape::Text(t) = &s.shape else { continue };
        if t.galley.job.text != text {
            continue;
        }
        for row in &t.galley.rows {
            for g in row.glyphs.iter().filter(|g| !g.chr.is_whitespace()) {
                let at = t.pos.to_vec2() + row.pos.to_vec2();
                res.push(g.logical_rect().translate(at).intersect(s.clip_rect));
            }
        }
    }
    res
}

/// Asserts that no tag of a peer lies over a glyph of the text.
fn check_no_tag_covers_text(h: &Harness<'_, TandemApp>) {
    let glyphs = glyph_rects(h);
    assert!(!glyphs.is_empty(), "the editor's text is painted");
    for t in h.state().peer_tags() {
        for g in &glyphs {
            assert!(!overlaps(t.rect, *g), "{t:?} covers the glyph at {g:?}");
        }
    }
}

/// The kind of the first tag of the peer named `name`.
fn tag_kind(h: &Harness<'_, TandemApp>, name: &str) -> Option<TagKind> {
    h.state().peer_tags().iter().find(|t| t.name == name && t.kind != TagKind::Name).map(|t| t.kind.clone())
}

fn set_cursor(node: &mut Node, doc: &str, at: usize) {
    node.ok(json!({"cmd": "presence", "doc": doc, "name": "Nodey Peer", "colour": "#cc3366", "cursor": at}));
}

/// The node's cursor and name tag sit beside the text wherever the cursor is; out of
/// view it becomes a marker at the edge; a click on the peer scrolls to it, and
/// "Follow" keeps it in view as it moves.
#[test]
fn tags_never_cover_text_and_a_click_scrolls_to_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(start(dir.path()));
    let node_dir = tempfile::tempdir().unwrap();
    let text = "Trip to Lisbon\n\nDay 1: Alfama walk, tram 28, dinner in Bairro Alto.\n\
                Day 2: Belem tower, pasteis de nata, LX Factory.\nDay 3: Sintra by train";
    let (mut node, doc) = share_with_node(&mut h, node_dir.path(), text);
    // The start of a line under a full one (where the old tag covered the line above),
    // the middle of a word, the end of a line and the first line.
    let n = text.chars().count();
    for (i, at) in [68, 72, 40, n, 0, 5].into_iter().enumerate() {
        set_cursor(&mut node, &doc, at);
        wait(&mut h, "the node's cursor", |a| {
            a.presences().iter().any(|p| p.cursor == Some(at))
                && a.peer_tags().iter().any(|t| t.name == "Nodey Peer")
        });
        h.run_steps(2);
        check_no_tag_covers_text(&h);
        assert_eq!(tag_kind(&h, "Nodey Peer"), Some(TagKind::Badge), "cursor {i} at {at} is in view");
        assert!(h.query_by_label("Nodey Peer's cursor").is_some(), "a screen reader finds the cursor");
    }
    // Just after it moved, the full name shows (beside the text, checked above).
    assert!(
        h.state().peer_tags().iter().any(|t| t.kind == TagKind::Name),
        "the full name shows after a move: {:?}",
        h.state().peer_tags()
    );

    // Many lines below: the node's cursor at the end is out of view, a marker at the
    // bottom edge.
    let long: String = (1..=120).map(|i| format!("\nMore notes, line {i}")).collect();
    node.insert(&doc, n, &long);
    let end = n + long.chars().count();
    wait(&mut h, "the long text", |a| a.text().is_some_and(|t| t.chars().count() == end));
    set_cursor(&mut node, &doc, end);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while tag_kind(&h, "Nodey Peer") != Some(TagKind::Edge(tandem::ui::Edge::Below)) {
        assert!(std::time::Instant::now() < deadline, "no marker below: {:?}", h.state().peer_tags());
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    check_no_tag_covers_text(&h);

    // A click on the peer in the peers panel scrolls to its cursor (the panel learns
    // the peer's name with its next refresh).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while h.query_by_role_and_label(Role::Button, "Nodey Peer").is_none() {
        assert!(std::time::Instant::now() < deadline, "the peers panel never named the node");
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.get_by_label("Nodey Peer").click();
    h.run_steps(4);
    assert_eq!(tag_kind(&h, "Nodey Peer"), Some(TagKind::Badge), "scrolled to the cursor");
    check_no_tag_covers_text(&h);

    // Following: the cursor moves to the top and the editor follows it.
    h.get_by_label("Follow Nodey Peer").click();
    h.run_steps(2);
    assert!(h.state().following().is_some());
    set_cursor(&mut node, &doc, 3);
    wait(&mut h, "the node's cursor at the top", |a| a.presences().iter().any(|p| p.cursor == Some(3)));
    // The scroll takes a few frames (more on a loaded machine).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while tag_kind(&h, "Nodey Peer") != Some(TagKind::Badge) {
        assert!(std::time::Instant::now() < deadline, "the editor did not follow the cursor");
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Not following, the editor stays where it is when the cursor moves away; a click
    // on the edge marker scrolls to it.
    h.get_by_label("Follow Nodey Peer").click();
    h.run_steps(2);
    assert!(h.state().following().is_none());
    set_cursor(&mut node, &doc, end);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while tag_kind(&h, "Nodey Peer") != Some(TagKind::Edge(tandem::ui::Edge::Below)) {
        assert!(std::time::Instant::now() < deadline, "no marker below: {:?}", h.state().peer_tags());
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.get_by_label("Nodey Peer: cursor below, click to show it").click();
    h.run_steps(4);
    assert_eq!(tag_kind(&h, "Nodey Peer"), Some(TagKind::Badge), "the marker scrolled to the cursor");
    check_no_tag_covers_text(&h);
    node.quit();
    h.state_mut().shutdown();
}
