//! Peers' cursors in the editor, drawn so that they inform without covering text.
//!
//! Each peer's cursor is a thin caret in its colour; its tag is a small badge with its
//! initials in a lane left of the text (the `LANE` wide strip between the page's edge
//! and the line numbers), on the cursor's row, so it never lies over a glyph. The full
//! name shows for a few seconds after the peer moves and while the pointer is on its
//! caret or badge, in the free space right of the end of the cursor's row, and only
//! where it fits there. A peer whose cursor is above or below the visible text shows as
//! a marker at that edge of the lane; clicking a badge or a marker scrolls to the
//! cursor. Peers who share a colour are told apart by their initials and by the style
//! of their caret (solid, dashed, dotted). Their selections are painted behind the text.

use super::widgets::colour32;
use egui::text::CCursor;
use egui::{Color32, Galley, Rect, Stroke, Vec2, pos2, vec2};
use std::collections::HashMap;

/// The width of the lane left of the text where peers' badges go.
pub(super) const LANE: f32 = 22.0;

/// For how long after a peer's cursor moved its full name shows beside it.
pub(super) const NAME_SECS: f32 = 3.0;

/// The height of a badge (at most; a smaller row makes it smaller).
const BADGE_H: f32 = 16.0;

/// The gap between the end of a row's text and a full-name tag.
const NAME_GAP: f32 = 10.0;

/// How a caret is drawn, so that peers with the same colour are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CaretStyle {
    Solid,
    Dashed,
    Dotted,
}

/// A peer's cursor as the editor draws it.
#[derive(Debug, Clone)]
pub(super) struct RemoteCursor {
    /// The peer's key (its peer id as text).
    pub(super) key: String,
    pub(super) name: String,
    pub(super) colour: Color32,
    /// The cursor (a char position in this replica).
    pub(super) at: usize,
    /// The other end of its selection.
    pub(super) sel: Option<usize>,
    /// Whether its full name shows (it moved a moment ago).
    pub(super) recent: bool,
    pub(super) style: CaretStyle,
}

/// Which side of the visible text an off-screen cursor is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Above,
    Below,
}

/// What a placed tag shows.
#[derive(Debug, Clone, PartialEq)]
pub enum TagKind {
    /// The initials in the lane, on the cursor's row.
    Badge,
    /// The full name right of the end of the cursor's row.
    Name,
    /// A marker at an edge of the lane for a cursor out of view.
    Edge(Edge),
}

/// A tag as placed in the window (screen coordinates), for drawing and for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// The peer's key.
    pub key: String,
    /// The peer's display name.
    pub name: String,
    pub kind: TagKind,
    pub rect: Rect,
}

/// "AL" for "Ada Lovelace", "Gr" for "Grace", "?" for a blank name.
pub(super) fn initials(name: &str) -> String {
    let mut words = name.split_whitespace();
    match (words.next(), words.next()) {
        (Some(a), Some(b)) => {
            a.chars().take(1).chain(b.chars().take(1)).flat_map(char::to_uppercase).collect()
        }
        (Some(a), None) => {
            let mut c = a.chars();
            c.next().into_iter().flat_map(char::to_uppercase).chain(c.next()).collect()
        }
        _ => "?".to_owned(),
    }
}

/// The caret style of each peer: peers with the same colour get different styles (in
/// the order of their keys, so every frame agrees), others are solid.
pub(super) fn caret_styles(peers: &[(String, u32)]) -> HashMap<String, CaretStyle> {
    let mut by_colour: HashMap<u32, Vec<&str>> = HashMap::new();
    for (key, colour) in peers {
        by_colour.entry(*colour).or_default().push(key);
    }
    let styles = [CaretStyle::Solid, CaretStyle::Dashed, CaretStyle::Dotted];
    let mut res = HashMap::new();
    for keys in by_colour.values_mut() {
        keys.sort_unstable();
        keys.dedup();
        for (i, k) in keys.iter().enumerate() {
            res.insert((*k).to_owned(), styles[i % styles.len()]);
        }
    }
    res
}

/// The rows of a laid-out text: their rectangles in screen coordinates (`origin` is the
/// galley's position) and the char index each starts at.
fn row_starts(galley: &Galley) -> Vec<usize> {
    let mut res = Vec::with_capacity(galley.rows.len());
    let mut at = 0;
    for row in &galley.rows {
        res.push(at);
        at += row.char_count_including_newline().0;
    }
    res
}

/// Places the tags of `cursors` in a text laid out as `galley` at `origin`, with the
/// lane's left edge at `lane_left`, the visible part of the editor being `clip`.
/// `measure` gives the size of a text drawn at `font_size`. Badges go in the lane on
/// the cursor's row; full names of recently moved or `hovered` cursors right of the
/// end of that row when they fit before the clip's right edge and clear of other
/// names; cursors above or below the clip get edge markers.
pub(super) fn place_tags(
    galley: &Galley,
    origin: Vec2,
    lane_left: f32,
    clip: Rect,
    cursors: &[RemoteCursor],
    hovered: Option<&str>,
    measure: &dyn Fn(&str, f32) -> Vec2,
) -> Vec<Tag> {
    let starts = row_starts(galley);
    let end = galley.end().index.0;
    let lane = egui::Rangef::new(lane_left, lane_left + LANE);
    let mut tags = Vec::new();
    let mut names: Vec<Rect> = Vec::new();
    let mut per_row: HashMap<usize, usize> = HashMap::new();
    let mut per_edge: HashMap<bool, usize> = HashMap::new();
    for c in cursors {
        let at = c.at.min(end);
        let caret = galley.pos_from_cursor(CCursor::new(at)).translate(origin);
        let tag = |kind, rect| Tag { key: c.key.clone(), name: c.name.clone(), kind, rect };
        if caret.bottom() <= clip.top() || caret.top() >= clip.bottom() {
            let above = caret.bottom() <= clip.top();
            let n = per_edge.entry(above).or_default();
            let size = vec2(LANE - 2.0, BADGE_H + 6.0);
            let step = (size.y + 2.0) * *n as f32;
            let y = if above { clip.top() + 1.0 + step } else { clip.bottom() - 1.0 - size.y - step };
            *n += 1;
            let edge = if above { Edge::Above } else { Edge::Below };
            tags.push(tag(TagKind::Edge(edge), Rect::from_min_size(pos2(lane.min + 1.0, y), size)));
            continue;
        }
        // The row the cursor is on (the last row starting at or before it).
        let row_idx = starts.partition_point(|s| *s <= at).saturating_sub(1);
        let Some(row) = galley.rows.get(row_idx) else { continue };
        let row_rect = row.rect().translate(origin);
        let h = BADGE_H.min(row_rect.height());
        let n = per_row.entry(row_idx).or_default();
        let w = (measure(&initials(&c.name), badge_font(h)).x + 6.0).clamp(h, LANE - 2.0);
        // Badges on one row overlap like a stack of cards, all within the lane.
        let x = (lane.min + 1.0 + 4.0 * *n as f32).min(lane.max - 1.0 - w);
        *n += 1;
        let badge = Rect::from_min_size(pos2(x, row_rect.center().y - h / 2.0), vec2(w, h));
        tags.push(tag(TagKind::Badge, badge));
        if !(c.recent || hovered == Some(c.key.as_str())) {
            continue;
        }
        // The row's rectangle holds all its glyphs (and its trailing spaces).
        let text_right = row_rect.right();
        let size = measure(&c.name, badge_font(h)) + vec2(8.0, 0.0);
        let mut left = text_right.max(caret.right()) + NAME_GAP;
        // Clear of names already placed on this row.
        for r in names.iter().filter(|r| r.center().y == row_rect.center().y) {
            left = left.max(r.right() + 4.0);
        }
        let name = Rect::from_min_size(pos2(left, row_rect.center().y - h / 2.0), vec2(size.x, h));
        if name.right() <= clip.right() - 2.0 {
            names.push(name);
            tags.push(tag(TagKind::Name, name));
        }
    }
    tags
}

/// The font size of the text in a tag `h` high.
fn badge_font(h: f32) -> f32 {
    (h - 4.5).clamp(7.0, 11.0)
}

/// Paints each remote selection (behind the text, so returned as shapes for the caller
/// to put there).
pub(super) fn selection_shapes(galley: &Galley, origin: Vec2, cursors: &[RemoteCursor]) -> Vec<egui::Shape> {
    let end = galley.end().index.0;
    let mut res = Vec::new();
    for c in cursors {
        let at = c.at.min(end);
        if let Some(sel) = c.sel.map(|s| s.min(end)).filter(|s| *s != at) {
            for r in super::editor::selection_rects(galley, at.min(sel), at.max(sel)) {
                res.push(egui::Shape::rect_filled(r.translate(origin), 2.0, c.colour.gamma_multiply(0.3)));
            }
        }
    }
    res
}

/// Draws the lane's background (when the text scrolled sideways, `scrolled`), the carets,
/// and the tags placed by [`place_tags`]. Returns the key of the peer whose badge or
/// marker was clicked, and the key of the one under the pointer.
pub(super) fn cursors_ui(
    ui: &mut egui::Ui,
    galley: &Galley,
    origin: Vec2,
    lane_left: f32,
    scrolled: bool,
    cursors: &[RemoteCursor],
    tags: &[Tag],
) -> (Option<String>, Option<String>) {
    let clip = ui.clip_rect();
    let painter = ui.painter_at(clip);
    let lane = Rect::from_x_y_ranges(lane_left..=lane_left + LANE, clip.y_range());
    if scrolled {
        // The text scrolled sideways under the lane: cover it.
        painter.rect_filled(lane, 0.0, ui.visuals().extreme_bg_color);
    }
    let end = galley.end().index.0;
    let pointer = ui.ctx().pointer_hover_pos();
    let mut hovered = None;
    for c in cursors {
        let caret = galley.pos_from_cursor(CCursor::new(c.at.min(end))).translate(origin);
        if caret.left() < lane.right() {
            // Scrolled sideways out of view.
            continue;
        }
        let (top, bottom) = (caret.left_top(), caret.left_bottom());
        let stroke = Stroke::new(2.0, c.colour);
        match c.style {
            CaretStyle::Solid => {
                painter.line_segment([top, bottom], stroke);
            }
            CaretStyle::Dashed => {
                painter.extend(egui::Shape::dashed_line(&[top, bottom], stroke, 4.0, 2.0));
            }
            CaretStyle::Dotted => {
                painter.extend(egui::Shape::dotted_line(&[top, bottom], c.colour, 3.5, 1.2));
            }
        }
        if pointer.is_some_and(|p| caret.expand2(vec2(3.0, 0.0)).contains(p)) {
            hovered = Some(c.key.clone());
        }
    }
    let mut clicked = None;
    for (i, t) in tags.iter().enumerate() {
        let Some(c) = cursors.iter().find(|c| c.key == t.key) else { continue };
        let font = egui::FontId::proportional(badge_font(t.rect.height().min(BADGE_H)));
        match &t.kind {
            TagKind::Name => {
                painter.rect_filled(t.rect, 3.0, c.colour);
                painter.text(t.rect.center(), egui::Align2::CENTER_CENTER, &t.name, font, Color32::WHITE);
            }
            TagKind::Badge | TagKind::Edge(_) => {
                let id = ui.id().with(("peer-tag", i, &t.key));
                let resp = ui.interact(t.rect, id, egui::Sense::click());
                let what = match t.kind {
                    TagKind::Edge(Edge::Above) => format!("{}: cursor above, click to show it", t.name),
                    TagKind::Edge(Edge::Below) => format!("{}: cursor below, click to show it", t.name),
                    _ => format!("{}'s cursor", t.name),
                };
                resp.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &what));
                if resp.hovered() {
                    hovered = Some(c.key.clone());
                }
                if resp.clicked() {
                    clicked = Some(c.key.clone());
                }
                let resp = resp.on_hover_text(&what);
                let rounding = if c.style == CaretStyle::Solid { 4.0 } else { 1.0 };
                painter.rect_filled(t.rect, rounding, c.colour);
                if resp.has_focus() {
                    painter.rect_stroke(
                        t.rect.expand(1.0),
                        rounding,
                        ui.visuals().selection.stroke,
                        egui::StrokeKind::Outside,
                    );
                }
                let label = initials(&t.name);
                let mut at = t.rect.center();
                if let TagKind::Edge(edge) = t.kind {
                    let (tip, base) = match edge {
                        Edge::Above => (t.rect.top() + 1.5, t.rect.top() + 5.5),
                        Edge::Below => (t.rect.bottom() - 1.5, t.rect.bottom() - 5.5),
                    };
                    let cx = t.rect.center().x;
                    let arrow = vec![pos2(cx, tip), pos2(cx - 4.0, base), pos2(cx + 4.0, base)];
                    painter.add(egui::Shape::convex_polygon(arrow, Color32::WHITE, Stroke::NONE));
                    at.y += if edge == Edge::Above { 2.5 } else { -2.5 };
                }
                painter.text(at, egui::Align2::CENTER_CENTER, label, font, Color32::WHITE);
            }
        }
    }
    (clicked, hovered)
}

/// The colour a peer's cursor is drawn in: its own, faded when it has not moved for a
/// while (`fade` from 1 down).
pub(super) fn cursor_colour(rgb: u32, fade: f32) -> Color32 {
    colour32(rgb).gamma_multiply(fade)
}

/// Whether two rectangles overlap by more than a hair (for tests of the placement).
pub fn overlaps(a: Rect, b: Rect) -> bool {
    let i = a.intersect(b);
    i.width() > 0.5 && i.height() > 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_are_short_and_upper_case() {
        assert_eq!(initials("Ada Lovelace"), "AL");
        assert_eq!(initials("grace"), "Gr");
        assert_eq!(initials("  élodie  "), "Él");
        assert_eq!(initials("李"), "李");
        assert_eq!(initials("   "), "?");
    }

    #[test]
    fn peers_with_one_colour_get_different_carets() {
        let peers = [("b".to_owned(), 1), ("a".to_owned(), 1), ("c".to_owned(), 2), ("d".to_owned(), 1)];
        let s = caret_styles(&peers);
        assert_eq!(s["a"], CaretStyle::Solid);
        assert_eq!(s["b"], CaretStyle::Dashed);
        assert_eq!(s["d"], CaretStyle::Dotted);
        assert_eq!(s["c"], CaretStyle::Solid, "alone in its colour");
    }

    /// Lays out `text` and places the tags of cursors at `ats`, all just moved.
    fn check_no_tag_covers_text(text: &str, ats: &[usize], wrap: f32) {
        let ctx = egui::Context::default();
        let _ = ctx.run_ui(egui::RawInput::default(), |_| {});
        let font = egui::FontId::proportional(15.0);
        let galley = ctx.fonts_mut(|f| f.layout(text.to_owned(), font, Color32::BLACK, wrap));
        let origin = vec2(100.0, 50.0);
        let clip = Rect::from_min_size(pos2(100.0 - LANE, 0.0), vec2(wrap + LANE + 40.0, 400.0));
        let cursors: Vec<RemoteCursor> = ats
            .iter()
            .enumerate()
            .map(|(i, at)| RemoteCursor {
                key: format!("k{i}"),
                name: format!("Peer number {i}"),
                colour: Color32::RED,
                at: *at,
                sel: None,
                recent: true,
                style: CaretStyle::Solid,
            })
            .collect();
        let measure = |s: &str, size: f32| {
            ctx.fonts_mut(|f| {
                f.layout_no_wrap(s.to_owned(), egui::FontId::proportional(size), Color32::WHITE)
            })
            .size()
        };
        let tags = place_tags(&galley, origin, 100.0 - LANE, clip, &cursors, None, &measure);
        assert!(tags.iter().any(|t| t.kind == TagKind::Name), "some full name fits");
        for t in &tags {
            for row in &galley.rows {
                for g in row.glyphs.iter().filter(|g| !g.chr.is_whitespace()) {
                    let glyph = g.logical_rect().translate(origin + row.pos.to_vec2());
                    assert!(!overlaps(t.rect, glyph), "{t:?} covers {:?} at {glyph:?}", g.chr);
                }
            }
            for u in tags.iter().filter(|u| *u != t && u.kind == TagKind::Name && t.kind == TagKind::Name) {
                assert!(!overlaps(t.rect, u.rect), "names overlap: {t:?} {u:?}");
            }
        }
    }

    #[test]
    fn tags_never_cover_text() {
        let text = "Day 1: Alfama walk, tram 28.\nDay 2: Belem tower, pasteis de nata, LX Factory, \
                    and a long walk along the river that wraps onto a second row.\n\nshort";
        check_no_tag_covers_text(text, &[0, 3, 30, 35, 60, 120, 130, text.chars().count()], 300.0);
        check_no_tag_covers_text("x", &[0, 1, 1], 300.0);
    }

    /// A cursor that has not moved shows only its badge, and its full name while the
    /// pointer is on it.
    #[test]
    fn the_full_name_shows_after_a_move_or_on_hover() {
        let ctx = egui::Context::default();
        let _ = ctx.run_ui(egui::RawInput::default(), |_| {});
        let galley = ctx.fonts_mut(|f| {
            f.layout("one\ntwo".to_owned(), egui::FontId::proportional(15.0), Color32::BLACK, 300.0)
        });
        let clip = Rect::from_min_size(pos2(0.0, 0.0), vec2(400.0, 300.0));
        let cursor = |recent| RemoteCursor {
            key: "k".into(),
            name: "Grace Hopper".into(),
            colour: Color32::RED,
            at: 5,
            sel: None,
            recent,
            style: CaretStyle::Solid,
        };
        let kinds = |c: RemoteCursor, hovered: Option<&str>| -> Vec<TagKind> {
            let tags =
                place_tags(&galley, vec2(LANE, 0.0), 0.0, clip, &[c], hovered, &|_, _| vec2(30.0, 10.0));
            tags.into_iter().map(|t| t.kind).collect()
        };
        assert_eq!(kinds(cursor(false), None), [TagKind::Badge]);
        assert_eq!(kinds(cursor(false), Some("k")), [TagKind::Badge, TagKind::Name]);
        assert_eq!(kinds(cursor(true), None), [TagKind::Badge, TagKind::Name]);
        assert_eq!(kinds(cursor(false), Some("other")), [TagKind::Badge]);
    }

    #[test]
    fn cursors_out_of_view_get_edge_markers() {
        let ctx = egui::Context::default();
        let _ = ctx.run_ui(egui::RawInput::default(), |_| {});
        let text = (0..100).map(|i| format!("line {i}\n")).collect::<String>();
        let galley =
            ctx.fonts_mut(|f| f.layout(text, egui::FontId::proportional(15.0), Color32::BLACK, 300.0));
        let origin = vec2(100.0, -600.0);
        let clip = Rect::from_min_size(pos2(78.0, 0.0), vec2(400.0, 300.0));
        let cursor = |key: &str, at| RemoteCursor {
            key: key.into(),
            name: key.into(),
            colour: Color32::RED,
            at,
            sel: None,
            recent: false,
            style: CaretStyle::Solid,
        };
        let cursors = [cursor("top", 0), cursor("bottom", 700), cursor("seen", 300)];
        let tags = place_tags(&galley, origin, 78.0, clip, &cursors, None, &|_, _| vec2(10.0, 10.0));
        let kind = |k: &str| tags.iter().find(|t| t.key == k).map(|t| t.kind.clone());
        assert_eq!(kind("top"), Some(TagKind::Edge(Edge::Above)));
        assert_eq!(kind("bottom"), Some(TagKind::Edge(Edge::Below)));
        assert_eq!(kind("seen"), Some(TagKind::Badge));
        assert!(tags.iter().all(|t| clip.contains_rect(t.rect)), "{tags:?}");
    }
}
