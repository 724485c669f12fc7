//! The editor in the middle of the window: a text widget over the open document's
//! [`CrdtBuffer`], the find bar's matches painted behind the text, line numbers in a
//! gutter, peers' cursors painted over it, and the screens shown while no document is
//! open. Undo and redo shortcuts are the CRDT's, and the find, replace and go-to-line
//! shortcuts open their bars; `keys` takes them before the widget sees them.

use super::action::Action;
use super::buffer::CrdtBuffer;
use super::dialogs::Dialog;
use super::find::FindBar;
use super::keys;
use super::markdown;
use super::presence::{self, LANE, NAME_SECS, RemoteCursor, Tag};
use super::settings::Settings;
use super::text_window::{self, Window};
use egui::TextBuffer as _;
use egui::text::CCursor;
use egui::{Color32, Id};
use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant};
use tandem_crdt::{Anchor, Bias, Doc};
use tandem_net::{DocView, PeerPresence};

/// A remote cursor that has not moved for this long starts to fade.
const FADE_AFTER: Duration = Duration::from_secs(10);

/// At most this many matches are painted in one frame (only visible ones are).
const MAX_PAINTED_MATCHES: usize = 2_000;

/// The editor widget's id (its cursor state lives under it).
pub fn editor_id() -> Id {
    Id::new("tandem-editor")
}

/// Words, chars and lines of a text, for the status bar and the line-number gutter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counts {
    /// Runs of non-space chars with at least one letter or digit in them.
    pub(super) words: usize,
    pub(super) chars: usize,
    /// Newlines plus one.
    pub(super) lines: usize,
}

impl Default for Counts {
    fn default() -> Counts {
        Counts { words: 0, chars: 0, lines: 1 }
    }
}

/// Counts the words, chars and lines of `text`.
pub(super) fn counts(text: &str) -> Counts {
    let mut res = Counts::default();
    let mut in_word = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // ASCII (most text) is classified by its byte, without decoding a char.
        let (space, alnum, newline, len) = match bytes[i] {
            b if b.is_ascii() => (
                matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
                b.is_ascii_alphanumeric(),
                b == b'\n',
                1,
            ),
            _ => {
                let c = text[i..].chars().next().unwrap_or(' ');
                (c.is_whitespace(), c.is_alphanumeric(), false, c.len_utf8())
            }
        };
        i += len;
        res.chars += 1;
        if newline {
            res.lines += 1;
        }
        if space {
            in_word = false;
        } else if alnum && !in_word {
            // A word counts once, at its first letter or digit.
            res.words += 1;
            in_word = true;
        }
    }
    res
}

/// The chars `r` of `text`.
pub(super) fn char_slice(text: &str, r: Range<usize>) -> &str {
    if text.is_ascii() {
        // Chars are bytes: no scan (this matters in a document of a million chars).
        let end = r.end.min(text.len());
        return &text[r.start.min(end)..end];
    }
    let mut idx = text.char_indices().map(|(b, _)| b).chain([text.len()]);
    let start = idx.nth(r.start).unwrap_or(text.len());
    let end = if r.end > r.start { idx.nth(r.end - r.start - 1).unwrap_or(text.len()) } else { start };
    &text[start..end]
}

/// The byte offset of char `char_idx` of `s` (its length past the end).
pub(super) fn byte_of(s: &str, char_idx: usize) -> usize {
    if s.is_ascii() {
        return char_idx.min(s.len());
    }
    s.char_indices().nth(char_idx).map_or(s.len(), |(b, _)| b)
}

/// Texts at least this long are counted on a thread of their own, so typing in them
/// never waits for a scan of the whole text (the status bar follows a frame later).
const COUNT_ON_THREAD_BYTES: usize = 256 * 1024;

/// Counts texts on a thread: the newest text sent is counted, older ones skipped.
#[derive(Debug)]
struct Counter {
    to: std::sync::mpsc::Sender<(usize, String)>,
    from: std::sync::mpsc::Receiver<(usize, Counts)>,
}

impl Counter {
    fn new(ctx: &egui::Context) -> Counter {
        let (to, inbox) = std::sync::mpsc::channel::<(usize, String)>();
        let (outbox, from) = std::sync::mpsc::channel();
        let ctx = ctx.clone();
        std::thread::Builder::new()
            .name("word count".into())
            .spawn(move || {
                while let Ok(mut job) = inbox.recv() {
                    while let Ok(newer) = inbox.try_recv() {
                        job = newer;
                    }
                    if outbox.send((job.0, counts(&job.1))).is_err() {
                        break;
                    }
                    ctx.request_repaint();
                }
            })
            .ok();
        Counter { to, from }
    }

    /// The counts of the newest text counted so far, with its op count.
    fn latest(&self) -> Option<(usize, Counts)> {
        self.from.try_iter().last()
    }
}

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
    /// The cursor and the other end of the selection (chars).
    pub(super) selection: (usize, usize),
    /// Words, chars and lines of the text.
    pub(super) counts: Counts,
    /// Words, chars and lines of the selection, while there is one.
    pub(super) selection_counts: Option<Counts>,
    /// The op count and selection the counts were made for.
    counts_at: Option<(usize, usize, usize)>,
    /// Scroll this char position into view on the next frame: to the middle of the
    /// editor, or (`false`) just enough to show it.
    reveal: Option<(usize, bool)>,
    /// Scroll to this peer's cursor on the next frame (its key).
    pub(super) reveal_peer: Option<String>,
    /// Keep this peer's cursor in view (its key).
    pub(super) follow: Option<String>,
    /// Where the followed cursor was last scrolled to.
    followed_at: Option<usize>,
    /// Peers' tags as placed on the last frame.
    pub(super) tags: Vec<Tag>,
    /// The peer whose caret or badge the pointer was on, on the last frame.
    hovered: Option<String>,
    /// Put the keyboard focus in the editor on the next frame.
    pub(super) focus: bool,
    /// The Markdown highlighting of the text last drawn (for `*.md` documents).
    markdown: markdown::Cache,
    /// Counts long texts off the frame, once one was edited.
    counter: Option<Counter>,
    /// Where each line of a long text starts ([`text_window`]).
    lines: text_window::LineIndex,
    /// The lines of a long text laid out on the last frame, and their height there.
    window: Option<(text_window::Window, f32)>,
    /// The scroll offset and the view's height on the last frame.
    scroll: (f32, f32),
    /// The width the text wrapped at on the last frame.
    wrap_width: f32,
}

impl Default for Editor {
    fn default() -> Editor {
        Editor {
            presences: Vec::new(),
            moved: HashMap::new(),
            sent: None,
            line_col: (1, 1),
            line_col_at: None,
            selection: (0, 0),
            counts: Counts::default(),
            selection_counts: None,
            counts_at: None,
            reveal: None,
            reveal_peer: None,
            follow: None,
            followed_at: None,
            tags: Vec::new(),
            hovered: None,
            focus: true,
            markdown: markdown::Cache::default(),
            counter: None,
            lines: text_window::LineIndex::default(),
            window: None,
            scroll: (0.0, 0.0),
            wrap_width: 600.0,
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
        let keyed: Vec<(String, u32)> =
            self.presences.iter().map(|p| (p.peer.to_string(), p.colour)).collect();
        let styles = presence::caret_styles(&keyed);
        self.presences
            .iter()
            .zip(keyed)
            .filter_map(|(p, (key, _))| {
                let at = doc.resolve(&p.cursor_anchor)?;
                let sel = p.selection_anchor.as_ref().and_then(|a| doc.resolve(a));
                let quiet = self.moved.get(&key).map_or(Duration::ZERO, |(_, t)| t.elapsed());
                let fade = if quiet <= FADE_AFTER {
                    1.0
                } else {
                    (1.0 - (quiet - FADE_AFTER).as_secs_f32() / 20.0).max(0.25)
                };
                Some(RemoteCursor {
                    style: styles.get(&key).copied().unwrap_or(presence::CaretStyle::Solid),
                    key,
                    name: p.name.clone(),
                    colour: presence::cursor_colour(p.colour, fade),
                    at,
                    sel,
                    recent: quiet.as_secs_f32() < NAME_SECS,
                })
            })
            .collect()
    }

    /// The keys of the peers whose cursor is in this replica.
    pub(super) fn presences_in(&self, doc: &Doc) -> Vec<String> {
        self.presences
            .iter()
            .filter(|p| doc.resolve(&p.cursor_anchor).is_some())
            .map(|p| p.peer.to_string())
            .collect()
    }

    /// Selects the chars `r` in the editor and scrolls them into view.
    pub(super) fn select(&mut self, ctx: &egui::Context, r: Range<usize>) {
        let mut state = egui::text_edit::TextEditState::load(ctx, editor_id()).unwrap_or_default();
        let range = egui::text::CCursorRange::two(CCursor::new(r.start), CCursor::new(r.end));
        state.cursor.set_char_range(Some(range));
        state.store(ctx, editor_id());
        self.reveal = Some((r.start, true));
    }

    /// Places the window of a long text for this frame ([`text_window`]): around a position
    /// to reveal; around the cursor when the user types or moves it while it is out of
    /// the window; else around what the view shows, keeping the line at its top in
    /// place. Takes first the shortcuts that act on the whole text: select all, the
    /// start and end of the text, and copy, cut or typing over a selection that reaches
    /// past the window (deleted here, whole). Returns the window, the selection (cursor,
    /// other end) in whole-text positions, and whether the text changed.
    #[allow(clippy::too_many_arguments)]
    fn place_window(
        &mut self,
        ui: &mut egui::Ui,
        view: &mut DocView,
        mirror: &mut String,
        font: &egui::FontId,
        wrap: bool,
        reveal: &mut Option<(usize, bool)>,
        scroll_to: &mut Option<f32>,
    ) -> (Window, (usize, usize), bool) {
        use egui::{Event, Key, Modifiers};
        let len = view.doc().len_chars();
        let state = egui::text_edit::TextEditState::load(ui.ctx(), editor_id()).unwrap_or_default();
        let (mut p, mut q) = state
            .cursor
            .char_range()
            .map_or((0, 0), |r| (r.primary.index.0.min(len), r.secondary.index.0.min(len)));
        let focused = ui.memory(|mem| mem.has_focus(editor_id()));
        let mut typed = false;
        let prev = self.window.take();
        let mut deleted = false;
        if focused {
            let (lo, hi) = (p.min(q), p.max(q));
            // The chars the last frame's window showed.
            let shown = prev.as_ref().map_or(0..len, |(w, _)| {
                let bytes = w.bytes.start.min(mirror.len())..w.bytes.end.min(mirror.len());
                let n = mirror.get(bytes).map_or(0, |t| t.chars().count());
                w.first_char..w.first_char + n
            });
            let beyond = lo != hi && (lo < shown.start || hi > shown.end);
            let (mut copy, mut replace) = (false, false);
            ui.input_mut(|i| {
                if i.consume_key(Modifiers::COMMAND, Key::A) {
                    (p, q) = (len, 0);
                }
                for (key, to) in [(Key::Home, 0), (Key::End, len)] {
                    if i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, key) {
                        p = to;
                        *reveal = Some((to, false));
                    } else if i.consume_key(Modifiers::COMMAND, key) {
                        (p, q) = (to, to);
                        *reveal = Some((to, false));
                    }
                }
                typed = i.events.iter().any(|e| {
                    matches!(
                        e,
                        Event::Text(_) | Event::Paste(_) | Event::Cut | Event::Key { pressed: true, .. }
                    )
                });
                if beyond {
                    copy = i.events.iter().any(|e| matches!(e, Event::Copy | Event::Cut));
                    replace = i.events.iter().any(|e| {
                        matches!(
                            e,
                            Event::Cut
                                | Event::Text(_)
                                | Event::Paste(_)
                                | Event::Key {
                                    key: Key::Backspace | Key::Delete | Key::Enter,
                                    pressed: true,
                                    ..
                                }
                        )
                    });
                    // The widget would act on the part it shows only.
                    i.events.retain(|e| {
                        !matches!(
                            e,
                            Event::Copy
                                | Event::Cut
                                | Event::Key { key: Key::Backspace | Key::Delete, pressed: true, .. }
                        )
                    });
                }
            });
            if copy {
                ui.ctx().copy_text(char_slice(mirror, lo..hi).to_owned());
            }
            if replace && !view.read_only() {
                let mut buffer = CrdtBuffer::new(view, mirror);
                buffer.delete_whole(lo..hi);
                deleted = buffer.changed;
                (p, q) = (lo, lo);
            }
        }
        let (row_height, char_w) = ui.fonts_mut(|f| (f.row_height(font), f.glyph_width(font, 'n')));
        let per_row = wrap.then(|| ((self.wrap_width / char_w.max(1.0)).floor() as usize).max(1));
        let m = text_window::Metrics { row_height, per_row };
        self.lines.update(mirror, view.doc().n_ops());
        let n_lines = self.lines.n_lines();
        let (offset, view_height) = self.scroll;
        let (top, into, rows) = text_window::visible_lines(
            &self.lines,
            mirror.len(),
            &m,
            prev.as_ref().map(|(w, _)| w),
            prev.as_ref().map_or(0.0, |(_, h)| *h),
            offset,
            view_height,
        );
        let line_of = |c: usize| self.lines.line_of_byte(byte_of(mirror, c));
        let cursor_line = line_of(p);
        let holds_cursor = prev.as_ref().is_some_and(|(w, _)| w.holds(cursor_line..cursor_line + 1, n_lines));
        // Typing keeps the window on the cursor, wherever the view was scrolled to.
        let target = reveal.map(|(at, _)| line_of(at)).or((typed && !holds_cursor).then_some(cursor_line));
        let w = match (&prev, target) {
            (_, Some(line)) => {
                let w = Window::around(mirror, &self.lines, &m, line, rows);
                // Straight there (the scroll is exact once the lines are laid out), and
                // the cursor the user types at is shown as in a short text.
                let y = w.above + m.height(&self.lines, mirror.len(), w.lines.start..line);
                *scroll_to = Some((y - view_height / 2.0).max(0.0));
                reveal.get_or_insert((p, false));
                w
            }
            (Some((w, _)), None) if (typed && holds_cursor) || w.holds(top..top + rows, n_lines) => {
                Window::new(mirror, &self.lines, &m, w.lines.clone())
            }
            _ => {
                let w = Window::around(mirror, &self.lines, &m, top + rows / 2, rows);
                *scroll_to = Some(w.above + m.height(&self.lines, mirror.len(), w.lines.start..top) + into);
                w
            }
        };
        (w, (p, q), deleted)
    }

    /// Draws the editor over `view`, whose text `mirror` holds; keystrokes become CRDT
    /// ops. The find bar's matches are highlighted while it is open. Asks to send this
    /// user's cursor to peers when it moved.
    pub(super) fn ui(
        &mut self,
        ui: &mut egui::Ui,
        view: &mut DocView,
        mirror: &mut String,
        settings: &Settings,
        find: &mut FindBar,
    ) -> Option<Action> {
        // On the frame a dialog closed, egui still keeps the focus on the dialog's
        // layer: the editor takes it once its own layer may have it.
        if self.focus {
            if ui.memory(|m| m.allows_interaction(ui.layer_id())) {
                self.focus = false;
                ui.memory_mut(|m| m.request_focus(editor_id()));
            } else {
                ui.ctx().request_repaint();
            }
        }
        let family =
            if settings.monospace { egui::FontFamily::Monospace } else { egui::FontFamily::Proportional };
        let font = egui::FontId::new(settings.font_size, family);
        let wrap = settings.wrap;
        // A document named `*.md` is highlighted as Markdown.
        let highlight = markdown::is_markdown(&tandem_net::title_of(view.doc()));
        let mut md_cache = std::mem::take(&mut self.markdown);
        let md_font = font.clone();
        let mut md_layouter = |ui: &egui::Ui, buf: &dyn egui::TextBuffer, wrap_width: f32| {
            let text = buf.as_str();
            let visuals = ui.visuals();
            let colour = visuals.override_text_color.unwrap_or_else(|| visuals.widgets.inactive.text_color());
            let spans = md_cache.spans(text);
            let job = markdown::layout_job(text, spans, &md_font, colour, visuals.dark_mode, wrap_width);
            ui.fonts_mut(|f| f.layout_job(job))
        };
        let gutter = if settings.line_numbers { gutter_width(ui, self.counts.lines) } else { 0.0 };
        // The prose column: wrapped lines of about PROSE_CHARS chars, centred.
        let column = (wrap && settings.prose_column).then(|| prose_width(ui, &font));
        let cursors = self.remote_cursors(view.doc());
        // A peer's cursor asked for from the peers panel, or followed, is shown.
        if let Some(key) = self.reveal_peer.take()
            && let Some(c) = cursors.iter().find(|c| c.key == key)
        {
            self.reveal = Some((c.at, true));
            self.followed_at = Some(c.at);
        }
        if let Some(c) = self.follow.as_ref().and_then(|f| cursors.iter().find(|c| c.key == *f))
            && self.followed_at != Some(c.at)
        {
            self.followed_at = Some(c.at);
            self.reveal = self.reveal.or(Some((c.at, false)));
        }
        let reveal = self.reveal.take();
        let hovered = self.hovered.take();
        // Typing is undone in bursts separated by pauses; a paste or a cut is an undo
        // step of its own.
        let (now_ms, pasted) = ui.input(|i| {
            let pasted = i.events.iter().any(|e| matches!(e, egui::Event::Paste(_) | egui::Event::Cut));
            ((i.time * 1000.0) as u64, pasted)
        });
        // A long text is laid out a window of lines at a time (`text_window`); positions
        // outside this function stay positions in the whole text.
        let mut reveal = reveal;
        let mut scroll_to = None;
        let mut held = None;
        let mut deleted = false;
        let window = if mirror.len() >= text_window::WINDOW_BYTES {
            let (w, sel, del) = self.place_window(ui, view, mirror, &font, wrap, &mut reveal, &mut scroll_to);
            held = Some(sel);
            deleted = del;
            Some(w)
        } else {
            self.window = None;
            None
        };
        let first = window.as_ref().map_or(0, |w| w.first_char);
        let mut buffer = CrdtBuffer::new(view, mirror);
        buffer.changed = deleted;
        if let Some(w) = &window {
            buffer.window(w.bytes.clone(), w.first_char);
        }
        let win_chars = buffer.as_str().chars().count();
        // The selection as it was when the window was placed (whole-text positions);
        // the text widget gets it clamped to the window.
        if let Some((p, q)) = held {
            let local = |g: usize| CCursor::new(g.saturating_sub(first).min(win_chars));
            let mut state = egui::text_edit::TextEditState::load(ui.ctx(), editor_id()).unwrap_or_default();
            state.cursor.set_char_range(Some(egui::text::CCursorRange::two(local(q), local(p))));
            state.store(ui.ctx(), editor_id());
        }
        let to_window = |g: usize| g.saturating_sub(first).min(win_chars);
        let cursors: Vec<RemoteCursor> = cursors
            .into_iter()
            .map(|mut c| {
                c.at = to_window(c.at);
                c.sel = c.sel.map(to_window);
                c
            })
            .collect();
        let mut tags = Vec::new();
        let mut clicked = None;
        let mut wrap_width = self.wrap_width;
        let mut area = egui::ScrollArea::both().auto_shrink([false, false]);
        if let Some(y) = scroll_to {
            area = area.vertical_scroll_offset(y);
        }
        let output = area.show(ui, |ui| {
            if let Some(w) = &window {
                // The view moves with the window: a scroll animated over frames would
                // place the next frame's window where the view was passing by.
                ui.style_mut().scroll_animation = egui::style::ScrollAnimation::none();
                ui.add_space(w.above);
            }
            // Matches and peers' selections are painted behind the text, in a place kept
            // before it is drawn.
            let behind = ui.painter().add(egui::Shape::Noop);
            let content_left = ui.cursor().left();
            // Where the lane starts: left of the text, in the prose column or not.
            let mut lane_at = content_left;
            let out = ui
                .horizontal_top(|ui| {
                    // Each space added is followed by the layout's spacing.
                    let sp = ui.spacing().item_spacing.x;
                    let full = ui.available_width() - LANE - if gutter > 0.0 { gutter + sp } else { 0.0 };
                    if let Some(col) = column {
                        let left = (full - col) / 2.0 - sp;
                        if left > 0.0 {
                            ui.add_space(left);
                        }
                    }
                    // The lane for peers' badges, then the line numbers.
                    lane_at = ui.cursor().left();
                    ui.add_space(LANE);
                    if gutter > 0.0 {
                        ui.add_space(gutter);
                    }
                    let width = match column {
                        Some(col) => col.min(ui.available_width()),
                        None if wrap => ui.available_width(),
                        None => f32::INFINITY,
                    };
                    wrap_width = width;
                    let mut edit = egui::TextEdit::multiline(&mut buffer)
                        .id(editor_id())
                        .font(font)
                        .frame(egui::Frame::NONE)
                        .lock_focus(true)
                        .desired_rows(30)
                        .desired_width(width);
                    if highlight {
                        edit = edit.layouter(&mut md_layouter);
                    }
                    edit.show(ui)
                })
                .inner;
            // A screen reader names the text widget.
            ui.ctx().accesskit_node_builder(editor_id(), |n| n.set_label("Document text"));
            keys::mark_part(ui.ctx(), keys::Part::Editor, ui.clip_rect(), editor_id());
            let origin = out.galley_pos.to_vec2();
            let mut behind_shapes = presence::selection_shapes(&out.galley, origin, &cursors);
            if find.open {
                // Typing this frame may have changed the text the matches were found in.
                find.refresh(buffer.doc(), buffer.text());
                behind_shapes.extend(match_shapes(ui, &out, find, first));
            }
            ui.painter().set(behind, egui::Shape::Vec(behind_shapes));
            let clip = ui.clip_rect();
            let lane_left = lane_at.max(clip.left());
            if gutter > 0.0 {
                let first_line = window.as_ref().map_or(0, |w| w.lines.start);
                line_numbers_ui(ui, &out, gutter, lane_left + LANE, first_line + 1);
            }
            let measure = |s: &str, size: f32| {
                let font = egui::FontId::proportional(size);
                ui.ctx().fonts_mut(|f| f.layout_no_wrap(s.to_owned(), font, Color32::WHITE)).size()
            };
            tags = presence::place_tags(
                &out.galley,
                origin,
                lane_left,
                clip,
                &cursors,
                hovered.as_deref(),
                &measure,
            );
            let scrolled = content_left < clip.left() - 0.5;
            let (click, hover) =
                presence::cursors_ui(ui, &out.galley, origin, lane_left, scrolled, &cursors, &tags);
            clicked = click;
            self.hovered = hover;
            if let Some((at, centre)) = reveal {
                let at = CCursor::new(at.saturating_sub(first).min(out.galley.end().index.0));
                let r = out.galley.pos_from_cursor(at).translate(origin);
                ui.scroll_to_rect(r.expand(4.0), centre.then_some(egui::Align::Center));
            }
            if let Some(w) = &window {
                ui.add_space(w.below);
            }
            out
        });
        self.scroll = (output.state.offset.y, output.inner_rect.height());
        if wrap_width.is_finite() {
            self.wrap_width = wrap_width;
        }
        if let Some(w) = &window {
            self.window = Some((w.clone(), output.inner.galley.rect.height()));
        }
        self.markdown = md_cache;
        self.tags = tags;
        if clicked.is_some() {
            self.reveal_peer = clicked;
            ui.ctx().request_repaint();
        }
        if buffer.changed && pasted {
            view.commit();
        } else if buffer.changed {
            view.commit_at(now_ms);
        }
        // The widget's selection, also while the focus is elsewhere (in the find bar).
        let out = &output.inner;
        // The state has what a click did after the keys were handled (`cursor_range`).
        let range = out.state.cursor.range(&out.galley).or(out.cursor_range);
        let (p, q) = range.map_or((0, 0), |r| (r.primary.index.0 + first, r.secondary.index.0 + first));
        // An end the window clamped and the widget left alone is where it was.
        let (p, q) = match held {
            Some((hp, hq)) => {
                let clamp = |g: usize| g.saturating_sub(first).min(win_chars) + first;
                (if p == clamp(hp) { hp } else { p }, if q == clamp(hq) { hq } else { q })
            }
            _ => (p, q),
        };
        if window.is_some() && range.is_some() {
            // Between frames the widget's state holds whole-text positions.
            let mut state = egui::text_edit::TextEditState::load(ui.ctx(), editor_id()).unwrap_or_default();
            let range = egui::text::CCursorRange::two(CCursor::new(q), CCursor::new(p));
            state.cursor.set_char_range(Some(range));
            state.store(ui.ctx(), editor_id());
        }
        self.selection = (p, q);
        let n_ops = view.doc().n_ops();
        // Counting is a scan of the text: only when the text or the selection changed.
        if let Some((_, c)) = self.counter.as_ref().and_then(Counter::latest) {
            self.counts = c;
        }
        if self.counts_at != Some((n_ops, p, q)) {
            if self.counts_at.is_none_or(|(n, _, _)| n != n_ops) {
                if mirror.len() < COUNT_ON_THREAD_BYTES {
                    self.counts = counts(mirror);
                } else {
                    let counter = self.counter.get_or_insert_with(|| Counter::new(ui.ctx()));
                    counter.to.send((n_ops, mirror.clone())).ok();
                }
            }
            self.counts_at = Some((n_ops, p, q));
            self.selection_counts = (p != q).then(|| counts(char_slice(mirror, p.min(q)..p.max(q))));
            // The status bar, drawn before the editor, shows them on the next frame.
            ui.ctx().request_repaint();
        }
        range?;
        let key = (p, n_ops);
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
    let before = &text[..byte_of(text, pos)];
    let line = 1 + before.bytes().filter(|&b| b == b'\n').count();
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, 1 + before[start..].chars().count())
}

/// How many chars wide the prose column is.
pub(super) const PROSE_CHARS: f32 = 80.0;

/// The width of the prose column in `font`: [`PROSE_CHARS`] times the width of an
/// average char (taken as an "n").
pub(super) fn prose_width(ui: &egui::Ui, font: &egui::FontId) -> f32 {
    PROSE_CHARS * ui.ctx().fonts_mut(|f| f.glyph_width(font, 'n'))
}

/// The width of the line-number gutter for a text of `lines` lines.
fn gutter_width(ui: &egui::Ui, lines: usize) -> f32 {
    let digits = lines.max(1).ilog10() as f32 + 1.0;
    let w = ui.ctx().fonts_mut(|f| f.glyph_width(&gutter_font(), '0'));
    digits * w + 16.0
}

fn gutter_font() -> egui::FontId {
    egui::FontId::monospace(12.0)
}

/// Paints the number of each visible line left of its first row, in a gutter `width`
/// wide that stays at `min_left` or right of it when the text scrolls sideways.
fn line_numbers_ui(
    ui: &egui::Ui,
    out: &egui::text_edit::TextEditOutput,
    width: f32,
    min_left: f32,
    first_line: usize,
) {
    let clip = ui.clip_rect();
    let painter = ui.painter_at(clip);
    let origin = out.galley_pos.to_vec2();
    let left = (out.galley_pos.x - width).max(min_left);
    if left > out.galley_pos.x - width {
        // The text scrolled under the gutter: cover it.
        let gutter = egui::Rect::from_x_y_ranges(left..=left + width, clip.y_range());
        painter.rect_filled(gutter, 0.0, ui.visuals().extreme_bg_color);
    }
    let colour = ui.visuals().weak_text_color();
    let mut line = first_line;
    let mut starts_line = true;
    for row in &out.galley.rows {
        let r = row.rect().translate(origin);
        if r.top() > clip.bottom() {
            break;
        }
        if starts_line && r.bottom() >= clip.top() {
            let at = egui::pos2(left + width - 8.0, r.center().y);
            painter.text(at, egui::Align2::RIGHT_CENTER, line.to_string(), gutter_font(), colour);
        }
        starts_line = row.ends_with_newline;
        line += usize::from(row.ends_with_newline);
    }
}

/// The shapes of the find bar's visible matches (the current one stronger), to paint
/// behind the text, whose first char is char `first` of the whole text.
fn match_shapes(
    ui: &egui::Ui,
    out: &egui::text_edit::TextEditOutput,
    find: &FindBar,
    first: usize,
) -> Vec<egui::Shape> {
    let clip = ui.clip_rect();
    let galley = &out.galley;
    let origin = out.galley_pos.to_vec2();
    // The chars on the visible rows.
    let top = galley.cursor_from_pos(egui::vec2(0.0, clip.top() - out.galley_pos.y)).index.0 + first;
    let last =
        galley.cursor_from_pos(egui::vec2(galley.rect.right(), clip.bottom() - out.galley_pos.y)).index.0
            + first;
    let from = find.matches.partition_point(|m| m.end < top);
    let current = find.current_match();
    let (weak, strong) = (Color32::from_rgba_unmultiplied(255, 200, 0, 70), Color32::from_rgb(255, 170, 60));
    let mut shapes = Vec::new();
    for m in find.matches[from..].iter().take_while(|m| m.start <= last).take(MAX_PAINTED_MATCHES) {
        let fill = if current.as_ref() == Some(m) { strong } else { weak };
        for r in selection_rects(galley, m.start.saturating_sub(first), m.end.saturating_sub(first)) {
            shapes.push(egui::Shape::rect_filled(r.translate(origin), 2.0, fill));
        }
    }
    shapes
}

/// Rectangles covering the chars `a..b` of a laid-out text, one per row.
pub(super) fn selection_rects(galley: &egui::Galley, a: usize, b: usize) -> Vec<egui::Rect> {
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

    proptest::proptest! {
        /// The byte-wise count agrees with counting char by char, whatever the text.
        #[test]
        fn counts_agree_with_a_char_by_char_count(text in "[a-z0-9 \t\n\r\u{b}\u{c}.,é日\u{a0}\u{2003}😀-]{0,80}") {
            let mut want = Counts::default();
            let mut in_word = false;
            for c in text.chars() {
                want.chars += 1;
                want.lines += usize::from(c == '\n');
                if c.is_whitespace() {
                    in_word = false;
                } else if c.is_alphanumeric() && !in_word {
                    want.words += 1;
                    in_word = true;
                }
            }
            proptest::prop_assert_eq!(counts(&text), want);
        }
    }

    #[test]
    fn words_chars_and_lines_are_counted() {
        let c = |text| {
            let c = counts(text);
            (c.words, c.chars, c.lines)
        };
        assert_eq!(c(""), (0, 0, 1));
        assert_eq!(c("Hello, wörld! — it's 2 o'clock\n"), (5, 31, 2));
        assert_eq!(c("  -- ... \n\n"), (0, 11, 3));
        assert_eq!(c("日本語 テキスト"), (2, 8, 1));
        assert_eq!(char_slice("a😀bc", 1..3), "😀b");
        assert_eq!(char_slice("a😀bc", 2..2), "");
        assert_eq!(char_slice("abc", 1..3), "bc");
    }

    #[test]
    fn line_and_column_count_chars_not_bytes() {
        check("", 0, (1, 1));
        check("héllo", 3, (1, 4));
        check("a\nb😀c", 5, (2, 4));
        check("a\n\n", 3, (3, 1));
    }
}
