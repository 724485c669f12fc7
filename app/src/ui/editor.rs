//! The editor in the middle of the window: a text widget over the open document's
//! [`CrdtBuffer`], peers' cursors painted over it, and the screens shown while no
//! document is open. Undo and redo shortcuts are the CRDT's, taken before the widget
//! sees them.

use super::action::Action;
use super::buffer::CrdtBuffer;
use super::dialogs::Dialog;
use super::settings::Settings;
use super::widgets::colour32;
use egui::text::CCursor;
use egui::{Color32, Id, Key, KeyboardShortcut, Modifiers, RichText};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tandem_crdt::{Anchor, Bias, Doc};
use tandem_net::{DocView, PeerPresence};

/// A remote cursor that has not moved for this long starts to fade.
const FADE_AFTER: Duration = Duration::from_secs(10);

const UNDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
const REDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z);
const REDO_Y: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Y);

/// The editor widget's id (its cursor state lives under it).
pub fn editor_id() -> Id {
    Id::new("tandem-editor")
}

/// A peer's cursor as drawn: name, colour, position and the other end of its selection.
type RemoteCursor = (String, Color32, usize, Option<usize>);

/// The editor's state for the open document.
#[derive(Debug)]
pub(super) struct Editor {
    /// Peers' presences in the document.
    pub(super) presences: Vec<PeerPresence>,
    /// Where each peer's cursor was and when it last moved.
    moved: HashMap<String, (Option<usize>, Instant)>,
    /// Own cursor and selection, as sent to peers.
    pub(super) sent: Option<(Anchor, Option<Anchor>)>,
    /// Line and column of the cursor (1-based), for the status bar.
    pub(super) line_col: (usize, usize),
    /// The cursor position and op count `line_col` was computed for.
    line_col_at: Option<(usize, usize)>,
    /// Put the keyboard focus in the editor on the next frame.
    focus: bool,
}

impl Default for Editor {
    fn default() -> Editor {
        Editor {
            presences: Vec::new(),
            moved: HashMap::new(),
            sent: None,
            line_col: (1, 1),
            line_col_at: None,
            focus: true,
        }
    }
}

impl Editor {
    /// Takes in peers' presences, noting whose cursor moved (resolved in `doc`).
    pub(super) fn set_presences(&mut self, doc: &Doc, presences: Vec<PeerPresence>) {
        let now = Instant::now();
        for pr in &presences {
            let key = pr.peer.to_string();
            let at = doc.resolve(&pr.cursor_anchor);
            match self.moved.get(&key) {
                Some((old, _)) if *old == at => {}
                _ => {
                    self.moved.insert(key, (at, now));
                }
            }
        }
        self.presences = presences;
    }

    /// Peers' cursors, resolved in this replica (they follow the text they point at).
    fn remote_cursors(&self, doc: &Doc) -> Vec<RemoteCursor> {
        self.presences
            .iter()
            .filter_map(|p| {
                let at = doc.resolve(&p.cursor_anchor)?;
                let sel = p.selection_anchor.as_ref().and_then(|a| doc.resolve(a));
                let quiet = self.moved.get(&p.peer.to_string()).map_or(Duration::ZERO, |(_, t)| t.elapsed());
                let fade = if quiet <= FADE_AFTER {
                    1.0
                } else {
                    (1.0 - (quiet - FADE_AFTER).as_secs_f32() / 20.0).max(0.25)
                };
                Some((p.name.clone(), colour32(p.colour).gamma_multiply(fade), at, sel))
            })
            .collect()
    }

    /// Draws the editor over `view`, whose text `mirror` holds; keystrokes become CRDT
    /// ops. Asks to send this user's cursor to peers when it moved.
    pub(super) fn ui(
        &mut self,
        ui: &mut egui::Ui,
        view: &mut DocView,
        mirror: &mut String,
        settings: &Settings,
    ) -> Option<Action> {
        if std::mem::take(&mut self.focus) {
            ui.memory_mut(|m| m.request_focus(editor_id()));
        }
        let font = if settings.monospace { egui::TextStyle::Monospace } else { egui::TextStyle::Body };
        let wrap = settings.wrap;
        let cursors = self.remote_cursors(view.doc());
        // Typing is undone in bursts separated by pauses; a paste or a cut is an undo
        // step of its own.
        let (now_ms, pasted) = ui.input(|i| {
            let pasted = i.events.iter().any(|e| matches!(e, egui::Event::Paste(_) | egui::Event::Cut));
            ((i.time * 1000.0) as u64, pasted)
        });
        let mut buffer = CrdtBuffer::new(view, mirror);
        let output = egui::ScrollArea::both().auto_shrink([false, false]).show(ui, |ui| {
            let edit = egui::TextEdit::multiline(&mut buffer)
                .id(editor_id())
                .font(font)
                .frame(egui::Frame::NONE)
                .lock_focus(true)
                .desired_rows(30)
                .desired_width(if wrap { ui.available_width() } else { f32::INFINITY });
            let out = edit.show(ui);
            remote_cursors_ui(ui, &out, &cursors);
            out
        });
        if buffer.changed && pasted {
            view.commit();
        } else if buffer.changed {
            view.commit_at(now_ms);
        }
        let (p, q) = output.inner.cursor_range.map(|r| (r.primary.index.0, r.secondary.index.0))?;
        // Counting lines is a scan of the text: only when the cursor or text moved.
        let key = (p, view.doc().n_ops());
        if self.line_col_at != Some(key) {
            self.line_col_at = Some(key);
            self.line_col = line_col(mirror, p);
        }
        let doc = view.doc();
        let anchors = (doc.anchor(p, Bias::Before), (p != q).then(|| doc.anchor(q, Bias::Before)));
        if self.sent == Some(anchors) {
            return None;
        }
        self.sent = Some(anchors);
        Some(Action::SendPresence(anchors.0, anchors.1))
    }
}

/// The CRDT's undo and redo, asked for by keyboard shortcut; the shortcuts are consumed
/// so that the text widget's own undo never runs.
pub(super) fn shortcuts(ctx: &egui::Context) -> Vec<Action> {
    let (undo, redo) = ctx.input_mut(|i| {
        let redo = i.consume_shortcut(&REDO) || i.consume_shortcut(&REDO_Y);
        (i.consume_shortcut(&UNDO), redo)
    });
    let mut res = Vec::new();
    if undo {
        res.push(Action::Undo);
    }
    if redo {
        res.push(Action::Redo);
    }
    res
}

/// The spinner shown while a document is being opened.
pub(super) fn opening_ui(ui: &mut egui::Ui) {
    ui.centered_and_justified(|ui| {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Opening the document…");
        });
    });
}

/// The welcome screen, shown while no document is open.
pub(super) fn welcome_ui(ui: &mut egui::Ui) -> Option<Action> {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        ui.heading("Welcome to Tandem");
        ui.add_space(8.0);
        ui.label("Create a document, or join one with a ticket someone shared with you.");
        ui.add_space(12.0);
        let mut action = None;
        if ui.button("New document").clicked() {
            action = Some(Action::NewDoc);
        }
        if ui.button("Join with a ticket…").clicked() {
            action = Some(Action::ShowDialog(Dialog::join()));
        }
        action
    })
    .inner
}

/// Line and column (1-based) of a char position.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for c in text.chars().take(pos) {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// Draws peers' cursors and selections in their colours, each with a name tag.
fn remote_cursors_ui(ui: &egui::Ui, out: &egui::text_edit::TextEditOutput, cursors: &[RemoteCursor]) {
    // Clipped to the visible editor, not to the text (a tag may stick out past a line).
    let painter = ui.painter_at(ui.clip_rect());
    let end = out.galley.end().index.0;
    let offset = out.galley_pos.to_vec2();
    for (name, c, at, sel) in cursors {
        let at = (*at).min(end);
        if let Some(sel) = sel.map(|s| s.min(end)).filter(|s| *s != at) {
            for r in selection_rects(&out.galley, at.min(sel), at.max(sel)) {
                painter.rect_filled(r.translate(offset), 2.0, c.gamma_multiply(0.25));
            }
        }
        let r = out.galley.pos_from_cursor(CCursor::new(at)).translate(offset);
        painter.line_segment([r.left_top(), r.left_bottom()], egui::Stroke::new(2.0, *c));
        let label = egui::WidgetText::from(RichText::new(name).size(12.0).color(Color32::WHITE));
        let galley =
            label.into_galley(ui, Some(egui::TextWrapMode::Extend), f32::INFINITY, egui::TextStyle::Small);
        let size = galley.size() + egui::vec2(8.0, 2.0);
        // Above the line, or below it on the first visible line.
        let top = if r.top() - size.y >= ui.clip_rect().top() { r.top() - size.y } else { r.bottom() };
        let tag = egui::Rect::from_min_size(egui::pos2(r.left(), top), size);
        painter.rect_filled(tag, 3.0, *c);
        painter.galley(tag.min + egui::vec2(4.0, 1.0), galley, Color32::WHITE);
    }
}

/// Rectangles covering the chars `a..b` of a laid-out text, one per row.
fn selection_rects(galley: &egui::Galley, a: usize, b: usize) -> Vec<egui::Rect> {
    let mut res = Vec::new();
    let (ra, rb) = (galley.pos_from_cursor(CCursor::new(a)), galley.pos_from_cursor(CCursor::new(b)));
    if (ra.top() - rb.top()).abs() < 1.0 {
        res.push(egui::Rect::from_min_max(ra.left_top(), rb.right_bottom()));
        return res;
    }
    let right = galley.rect.right();
    res.push(egui::Rect::from_min_max(ra.left_top(), egui::pos2(right, ra.bottom())));
    if rb.top() > ra.bottom() + 0.5 {
        res.push(egui::Rect::from_min_max(
            egui::pos2(galley.rect.left(), ra.bottom()),
            egui::pos2(right, rb.top()),
        ));
    }
    res.push(egui::Rect::from_min_max(egui::pos2(galley.rect.left(), rb.top()), rb.right_bottom()));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, pos: usize, expected: (usize, usize)) {
        assert_eq!(line_col(text, pos), expected, "{text:?} at {pos}");
    }

    #[test]
    fn line_and_column_count_chars_not_bytes() {
        check("", 0, (1, 1));
        check("héllo", 3, (1, 4));
        check("a\nb😀c", 5, (2, 4));
        check("a\n\n", 3, (3, 1));
    }
}
