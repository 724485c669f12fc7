//! The history view. On the left, the document's edits grouped into sessions (one
//! author's editing with no pause longer than [`SESSION_PAUSE_S`], with its time and
//! what it changed); above the text, its named versions and a slider over its edits.
//! The text is shown as it was at the chosen version, plain, coloured by who typed each
//! character ("Authors"), or as the changes between it and another version
//! ("Changes"). "Restore this version" makes that text current, as one new edit, and
//! "Name" names the current version (it syncs with the document).

use super::action::Action;
use super::widgets::{colour_of_key, colour32};
use crate::clock::{local_hour_minute, local_minute};
use egui::text::{LayoutJob, TextFormat};
use egui::{Color32, Id, Stroke};
use tandem_crdt::{Doc, EditSession, ReplicaId, VectorClock};
use tandem_net::versions::NamedVersion;

/// A pause longer than this (seconds) between one author's changes starts a session.
pub(super) const SESSION_PAUSE_S: u64 = 300;
/// Sessions listed at most (the newest).
const MAX_SESSIONS: usize = 2_000;

/// How the chosen version's text is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Show {
    /// The text alone.
    Text,
    /// Each character on its author's colour.
    Authors,
    /// The changes between it and [`Base`].
    Changes,
}

/// The version "Changes" compares the chosen one with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Base {
    /// The version before the chosen session began.
    SessionStart,
    /// The current version (the changes made since the chosen one).
    Now,
    /// A named version.
    Named(String),
    /// The version after a session: its first op and its end (see [`EditSession`]).
    Session(usize, usize),
}

/// A piece of the shown text and how it is marked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Mark {
    /// Unchanged text.
    Plain,
    /// Text typed by this author.
    By(ReplicaId),
    /// Text the newer version has and the older lacks.
    Inserted,
    /// Text the older version has and the newer lacks.
    Deleted,
}

/// What is shown for one choice (version, way of showing, base), computed once.
#[derive(Debug)]
struct Shown {
    key: (VectorClock, Show, Option<VectorClock>),
    text: String,
    /// Who made the edit the version ends with (slider versions only).
    author: Option<String>,
    spans: Vec<(Mark, String)>,
    /// A line on what is shown: the authors, or the size of the changes.
    caption: String,
}

/// The history view's state.
#[derive(Debug)]
pub(super) struct History {
    /// The version on the slider: the first `pos` ops of the history.
    pos: usize,
    /// The number of ops in the document (the slider's end).
    pub(super) total: usize,
    /// The named version shown instead of the slider's.
    named: Option<String>,
    /// The chosen session, by its first op and its end.
    session: Option<(usize, usize)>,
    pub(super) show: Show,
    pub(super) base: Base,
    /// The name typed for the current version.
    new_name: String,
    /// The named versions and the sessions, read when the document's op count changes.
    versions: Option<(u64, Vec<NamedVersion>)>,
    sessions: Option<(u64, Vec<EditSession>)>,
    shown: Option<Shown>,
}

impl History {
    /// The history of a document of `total` ops, at its newest version.
    pub(super) fn new(total: usize) -> History {
        History {
            pos: total,
            total,
            named: None,
            session: None,
            show: Show::Text,
            base: Base::Now,
            new_name: String::new(),
            versions: None,
            sessions: None,
            shown: None,
        }
    }

    /// The read-only text of the chosen version, once it is computed.
    pub(super) fn shown_text(&self) -> Option<&str> {
        self.shown.as_ref().map(|s| s.text.as_str())
    }

    /// Who made the edit the chosen slider version ends with, as the document names them.
    #[cfg(test)]
    pub(super) fn shown_author(&self) -> Option<&str> {
        self.shown.as_ref().and_then(|s| s.author.as_deref())
    }

    /// The marked pieces shown ("Authors" and "Changes" mark them).
    #[cfg(test)]
    pub(super) fn shown_spans(&self) -> &[(Mark, String)] {
        self.shown.as_ref().map_or(&[], |s| s.spans.as_slice())
    }

    /// Reads the named versions and sessions again when the document changed.
    fn refresh(&mut self, doc: &Doc) {
        let ops = doc.version().n_ops();
        if self.versions.as_ref().is_none_or(|(n, _)| *n != ops) {
            self.versions = Some((ops, tandem_net::versions::named_versions(doc)));
        }
        if self.sessions.as_ref().is_none_or(|(n, _)| *n != ops) {
            let mut all = doc.edit_sessions(SESSION_PAUSE_S);
            all.drain(..all.len().saturating_sub(MAX_SESSIONS));
            self.sessions = Some((ops, all));
        }
    }

    fn named_version(&self, name: &str) -> Option<&NamedVersion> {
        self.versions.as_ref()?.1.iter().find(|v| v.name == name)
    }

    /// The named versions, each a button that shows it; a field and a button to name the
    /// current version.
    fn named_ui(&mut self, ui: &mut egui::Ui, doc: &Doc) -> Option<Action> {
        let versions = self.versions.as_ref().map_or(&[][..], |(_, v)| v.as_slice());
        let mut action = None;
        let mut chosen = None;
        ui.horizontal_wrapped(|ui| {
            ui.label(if versions.is_empty() { "No named versions" } else { "Named versions:" });
            for v in versions {
                let selected = self.named.as_deref() == Some(v.name.as_str());
                let by = name_of(doc, v.by);
                if ui.selectable_label(selected, &v.name).on_hover_text(format!("Named by {by}")).clicked() {
                    chosen = Some(v.name.clone());
                }
            }
        });
        if let Some(name) = chosen {
            self.named = Some(name);
            self.session = None;
        }
        ui.horizontal(|ui| {
            let label = ui.label("Name the current version:");
            ui.add(
                egui::TextEdit::singleline(&mut self.new_name)
                    .hint_text("sent to editor")
                    .desired_width(180.0)
                    .id(Id::new("history-version-name")),
            )
            .labelled_by(label.id);
            let name = self.new_name.trim().to_owned();
            if ui.add_enabled(!name.is_empty(), egui::Button::new("Name")).clicked() {
                self.new_name.clear();
                action = Some(Action::NameVersion(name));
            }
        });
        action
    }

    /// The sessions, newest first; a click shows the version after one.
    fn sessions_ui(&mut self, ui: &mut egui::Ui, doc: &Doc) {
        let sessions = self.sessions.as_ref().map_or(&[][..], |(_, s)| s.as_slice());
        ui.heading("Sessions");
        if sessions.is_empty() {
            ui.label("No edits yet");
            return;
        }
        let mut chosen = None;
        let mut base = None;
        let row = ui.text_style_height(&egui::TextStyle::Body) * 2.0 + ui.spacing().item_spacing.y * 2.0;
        egui::ScrollArea::vertical().id_salt("history-sessions").auto_shrink([false, false]).show_rows(
            ui,
            row,
            sessions.len(),
            |ui, rows| {
                for i in rows {
                    let s = &sessions[sessions.len() - 1 - i];
                    let selected = self.named.is_none() && self.session == Some((s.start, s.end));
                    let text = format!("{}\n{}", name_of(doc, s.author), session_summary(s));
                    let r = ui.horizontal(|ui| {
                        let (rect, _) =
                            ui.allocate_exact_size(egui::vec2(6.0, row - 4.0), egui::Sense::hover());
                        ui.painter().rect_filled(rect, 2.0, colour32(colour_of(doc, s.author)));
                        ui.selectable_label(selected, text)
                    });
                    let r = r.inner.on_hover_text("Click to show it; right-click to compare with it");
                    if r.clicked() {
                        chosen = Some((s.start, s.end));
                    }
                    r.context_menu(|ui| {
                        if ui.button("Compare with the version after this session").clicked() {
                            base = Some(Base::Session(s.start, s.end));
                            ui.close();
                        }
                    });
                }
            },
        );
        if let Some(b) = base {
            self.base = b;
            self.show = Show::Changes;
        }
        if let Some((start, end)) = chosen {
            self.session = Some((start, end));
            self.named = None;
            self.pos = end;
            if self.base == Base::Now {
                self.base = Base::SessionStart;
            }
        }
    }

    /// Draws the sessions, the named versions, the slider and the chosen version.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, doc: &Doc) -> Option<Action> {
        self.refresh(doc);
        egui::Panel::left("history-sessions-panel")
            .resizable(true)
            .default_size(240.0)
            .show(ui, |ui| self.sessions_ui(ui, doc));
        let action = ui
            .horizontal(|ui| {
                if ui.button("Back to editing").clicked() {
                    return Some(Action::LeaveHistory);
                }
                if ui.button("Restore this version").clicked() {
                    let old = self.shown_text().unwrap_or_default().to_owned();
                    return Some(Action::Restore(old));
                }
                None
            })
            .inner;
        if action.is_some() {
            return action;
        }
        if let Some(a) = self.named_ui(ui, doc) {
            return Some(a);
        }
        ui.horizontal_wrapped(|ui| {
            ui.label("Version");
            let total = self.total.max(1);
            let slider =
                ui.add(egui::Slider::new(&mut self.pos, 0..=total).text(format!("of {total} edits")));
            if slider.changed() {
                self.named = None;
                self.session = None;
            }
        });
        self.show_ui(ui);
        let (clock, base) = self.chosen(doc);
        if self.shown.as_ref().is_none_or(|s| s.key != (clock.clone(), self.show, base.clone())) {
            self.shown = Some(self.compute(doc, clock, base));
        }
        let Some(shown) = &self.shown else { return None };
        match (&self.named, &shown.author) {
            (Some(name), _) => {
                ui.label(format!("Version “{name}”"));
            }
            (None, Some(author)) => {
                ui.label(format!("Edit {} by {author}", self.pos));
            }
            (None, None) => {}
        }
        if !shown.caption.is_empty() {
            ui.label(&shown.caption);
        }
        ui.separator();
        egui::ScrollArea::vertical().id_salt("history-text-scroll").auto_shrink([false, false]).show(
            ui,
            |ui| {
                if self.show == Show::Text {
                    let mut text = shown.text.as_str();
                    ui.add(
                        egui::TextEdit::multiline(&mut text)
                            .desired_width(f32::INFINITY)
                            .frame(egui::Frame::NONE)
                            .id(Id::new("history-text")),
                    );
                    ui.ctx().accesskit_node_builder(Id::new("history-text"), |n| {
                        n.set_label("Text at this version")
                    });
                } else {
                    let job = layout(ui, doc, &shown.spans);
                    ui.add(egui::Label::new(job).wrap()).on_hover_text(match self.show {
                        Show::Authors => "Each character on the colour of who typed it",
                        _ => "Green: added; red, struck through: removed",
                    });
                }
            },
        );
        None
    }

    /// The "Show" choice and, for changes, what they are compared with.
    fn show_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label("Show:");
            ui.selectable_value(&mut self.show, Show::Text, "Text");
            ui.selectable_value(&mut self.show, Show::Authors, "Authors");
            ui.selectable_value(&mut self.show, Show::Changes, "Changes");
            if self.show != Show::Changes {
                return;
            }
            let names: Vec<String> = self
                .versions
                .as_ref()
                .map(|(_, v)| v.iter().map(|v| v.name.clone()).collect())
                .unwrap_or_default();
            let text = |b: &Base| match b {
                Base::SessionStart => "the start of the session".to_owned(),
                Base::Now => "the current version".to_owned(),
                Base::Named(n) => format!("“{n}”"),
                Base::Session(_, end) => format!("the version after edit {end}"),
            };
            let label = ui.label("compared with");
            let combo = egui::ComboBox::from_id_salt("history-base").selected_text(text(&self.base)).show_ui(
                ui,
                |ui| {
                    if self.session.is_some() {
                        ui.selectable_value(&mut self.base, Base::SessionStart, text(&Base::SessionStart));
                    }
                    ui.selectable_value(&mut self.base, Base::Now, text(&Base::Now));
                    if let Base::Session(..) = self.base {
                        let b = self.base.clone();
                        let t = text(&b);
                        ui.selectable_value(&mut self.base, b, t);
                    }
                    for n in names {
                        let b = Base::Named(n);
                        let t = text(&b);
                        ui.selectable_value(&mut self.base, b, t);
                    }
                },
            );
            combo.response.labelled_by(label.id);
            let pin = ui.button("Compare from this version").on_hover_text(
                "Then move the slider to another version: the changes between the two are shown",
            );
            if pin.clicked() {
                self.base = Base::Session(self.pos, self.pos);
            }
        });
    }

    /// The chosen version's clock and, for "Changes", the clock it is compared with.
    fn chosen(&self, doc: &Doc) -> (VectorClock, Option<VectorClock>) {
        let clock = match self.named.as_deref().and_then(|n| self.named_version(n)) {
            Some(v) => v.clock.clone(),
            None => doc.version_at(self.pos),
        };
        let base = (self.show == Show::Changes).then(|| match &self.base {
            Base::SessionStart => match self.session {
                Some((start, _)) if self.named.is_none() => doc.version_at(start),
                _ => doc.version().clone(),
            },
            Base::Now => doc.version().clone(),
            Base::Named(n) => {
                self.named_version(n).map_or_else(|| doc.version().clone(), |v| v.clock.clone())
            }
            Base::Session(_, end) => doc.version_at(*end),
        });
        (clock, base)
    }

    /// Computes what is shown for `clock` (and `base`).
    fn compute(&self, doc: &Doc, clock: VectorClock, base: Option<VectorClock>) -> Shown {
        let text = doc.text_at(&clock).unwrap_or_else(|_| "(not received yet)".to_owned());
        let author = (self.named.is_none())
            .then(|| doc.version_at(self.pos.saturating_sub(1)))
            .and_then(|before| clock.iter().find(|(r, s)| before.get(*r) < *s).map(|(r, _)| r))
            .filter(|_| self.pos > 0)
            .map(|a| name_of(doc, a));
        let (spans, caption) = match self.show {
            Show::Text => (Vec::new(), String::new()),
            Show::Authors => {
                let mut spans = Vec::new();
                let mut chars = text.chars();
                let mut who: Vec<ReplicaId> = Vec::new();
                for (a, n) in doc.blame_at(&clock).unwrap_or_default() {
                    spans.push((Mark::By(a), chars.by_ref().take(n).collect()));
                    if !who.contains(&a) {
                        who.push(a);
                    }
                }
                let names: Vec<String> = who.iter().map(|&a| name_of(doc, a)).collect();
                (
                    spans,
                    if names.is_empty() {
                        "No text".to_owned()
                    } else {
                        format!("Written by {}", names.join(", "))
                    },
                )
            }
            Show::Changes => {
                let base_clock = base.clone().unwrap_or_default();
                let base_text = doc.text_at(&base_clock).unwrap_or_default();
                // Older to newer: the base is older unless it is the current version.
                let forward = self.base != Base::Now && base_clock.le(&clock) || !clock.le(&base_clock);
                let (old, new) = if forward { (&base_text, &text) } else { (&text, &base_text) };
                let spans = diff_spans(old, new);
                let (ins, del) = spans.iter().fold((0, 0), |(i, d), (m, s)| match m {
                    Mark::Inserted => (i + s.chars().count(), d),
                    Mark::Deleted => (i, d + s.chars().count()),
                    _ => (i, d),
                });
                let what = if forward {
                    "since the version compared with"
                } else {
                    "from this version to the current one"
                };
                (spans, format!("+{ins} −{del} characters {what}"))
            }
        };
        Shown { key: (clock, self.show, base), text, author, spans, caption }
    }
}

/// The changes from `old` to `new`, word by word, as marked pieces.
pub(super) fn diff_spans(old: &str, new: &str) -> Vec<(Mark, String)> {
    let diff =
        similar::TextDiff::configure().timeout(std::time::Duration::from_millis(200)).diff_words(old, new);
    let mut spans: Vec<(Mark, String)> = Vec::new();
    for change in diff.iter_all_changes() {
        let mark = match change.tag() {
            similar::ChangeTag::Equal => Mark::Plain,
            similar::ChangeTag::Insert => Mark::Inserted,
            similar::ChangeTag::Delete => Mark::Deleted,
        };
        push_span(&mut spans, mark, change.value());
    }
    // A word replaced by another that shares its start or end ("world" by "world!")
    // keeps the shared part unmarked.
    let mut out: Vec<(Mark, String)> = Vec::with_capacity(spans.len());
    let mut i = 0;
    while i < spans.len() {
        match (&spans[i], spans.get(i + 1)) {
            ((Mark::Deleted, old), Some((Mark::Inserted, new))) => {
                let pre: usize =
                    old.chars().zip(new.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a.len_utf8()).sum();
                let (old_rest, new_rest) = (&old[pre..], &new[pre..]);
                let suf: usize = old_rest
                    .chars()
                    .rev()
                    .zip(new_rest.chars().rev())
                    .take_while(|(a, b)| a == b)
                    .map(|(a, _)| a.len_utf8())
                    .sum();
                push_span(&mut out, Mark::Plain, &old[..pre]);
                push_span(&mut out, Mark::Deleted, &old_rest[..old_rest.len() - suf]);
                push_span(&mut out, Mark::Inserted, &new_rest[..new_rest.len() - suf]);
                push_span(&mut out, Mark::Plain, &old_rest[old_rest.len() - suf..]);
                i += 2;
            }
            ((mark, text), _) => {
                push_span(&mut out, mark.clone(), text);
                i += 1;
            }
        }
    }
    out
}

/// Appends `text` marked `mark`, joining it to the last piece when that has the same mark.
fn push_span(spans: &mut Vec<(Mark, String)>, mark: Mark, text: &str) {
    if text.is_empty() {
        return;
    }
    match spans.last_mut() {
        Some((m, s)) if *m == mark => s.push_str(text),
        _ => spans.push((mark, text.to_owned())),
    }
}

/// The marked pieces laid out: authors on their colour, insertions on green, deletions
/// struck through on red.
fn layout(ui: &egui::Ui, doc: &Doc, spans: &[(Mark, String)]) -> LayoutJob {
    let font = egui::TextStyle::Body.resolve(ui.style());
    let colour = ui.visuals().text_color();
    let mut job = LayoutJob::default();
    for (mark, text) in spans {
        let mut format = TextFormat::simple(font.clone(), colour);
        match mark {
            Mark::Plain => {}
            Mark::By(a) => format.background = colour32(colour_of(doc, *a)).gamma_multiply(0.35),
            Mark::Inserted => format.background = Color32::from_rgb(0x2e, 0xa0, 0x43).gamma_multiply(0.35),
            Mark::Deleted => {
                format.background = Color32::from_rgb(0xd7, 0x3a, 0x49).gamma_multiply(0.35);
                format.strikethrough = Stroke::new(1.0, colour);
            }
        }
        job.append(text, 0.0, format);
    }
    job
}

/// The name the document gives `author`, or a short form of its id.
fn name_of(doc: &Doc, author: ReplicaId) -> String {
    match tandem_net::authors::shown_author(doc, author) {
        Some(a) => a.name,
        None => format!("writer {}", &author.to_string()[..8]),
    }
}

/// The colour `author` chose, or one picked from its id.
fn colour_of(doc: &Doc, author: ReplicaId) -> u32 {
    tandem_net::authors::shown_author(doc, author)
        .and_then(|a| a.colour)
        .unwrap_or_else(|| colour_of_key(&author.to_string()))
}

/// A session's time span and size: "2026-12-02 10:42–10:51 · +120 −8".
pub(super) fn session_summary(s: &EditSession) -> String {
    let start = local_minute(s.start_time);
    let end = local_minute(s.end_time);
    let when = if end != start && end.get(..10) == start.get(..10) {
        format!("{start}–{}", local_hour_minute(s.end_time))
    } else {
        start
    };
    format!("{when} · +{} −{}", s.inserted, s.deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use tandem_net::DocView;

    #[test]
    fn an_earlier_version_is_shown_and_restore_asks_for_it() {
        let mut view = DocView::detached(tandem_crdt::ReplicaId(3));
        for (pos, text) in [(0, "one"), (3, " two")] {
            view.doc_mut().insert(pos, text).unwrap();
            view.commit();
        }
        let mut history = History::new(view.doc().n_ops());
        // The version after the first word's ops.
        history.pos = 3;
        let mut h = Harness::new_ui_state(
            |ui, (h, out): &mut (History, Vec<Action>)| out.extend(h.ui(ui, view.doc())),
            (history, Vec::new()),
        );
        h.run_steps(2);
        assert_eq!(h.state().0.shown_text(), Some("one"));
        assert_eq!(h.state().0.shown_author(), Some("writer 00000000"), "an author that named nobody");
        h.get_by_label("Restore this version").click();
        h.run_steps(2);
        let res = &h.state().1;
        assert!(matches!(&res[..], [Action::Restore(t)] if t == "one"), "{res:?}");
    }

    #[test]
    fn each_version_names_who_made_its_last_edit() {
        let mut ada = DocView::detached(tandem_crdt::ReplicaId(0xada));
        assert!(tandem_net::authors::record_author(ada.doc_mut(), "Ada", 0xff0000).unwrap());
        assert!(ada.commit_untracked());
        assert!(!ada.doc().can_undo(), "recording the name is no undo step");
        ada.doc_mut().insert(0, "Ada wrote").unwrap();
        ada.commit();
        let mut grace = tandem_crdt::Doc::new(tandem_crdt::ReplicaId(0x6ace));
        for c in ada.doc().all_changes() {
            grace.apply(c).unwrap();
        }
        grace.insert(9, ", Grace too").unwrap();
        grace.commit();
        let total = grace.n_ops();
        let mut history = History::new(total);
        history.pos = total - ", Grace too".len();
        let mut h = Harness::new_ui_state(|ui, h: &mut History| drop(h.ui(ui, &grace)), history);
        h.run_steps(2);
        assert_eq!(h.state().shown_text(), Some("Ada wrote"));
        assert_eq!(h.state().shown_author(), Some("Ada"));
        assert!(h.query_by_label(&format!("Edit {} by Ada", total - 11)).is_some());
        h.state_mut().pos = total;
        h.run_steps(2);
        assert_eq!(h.state().shown_author(), Some("writer 00000000"), "Grace named nobody");
    }

    const T0: u64 = 1_796_000_000;

    /// Ada writes, Grace adds a word a minute later, Ada adds a mark after a long
    /// pause; both named themselves.
    fn scripted_session() -> tandem_crdt::Doc {
        let (a, g) = (tandem_crdt::ReplicaId(0xada), tandem_crdt::ReplicaId(0x6ace));
        let mut ada = tandem_crdt::Doc::new(a);
        let mut grace = tandem_crdt::Doc::new(g);
        ada.set_wall_clock(T0);
        tandem_net::authors::record_author(&mut ada, "Ada", 0xd73a49).unwrap();
        ada.commit_untracked();
        ada.insert(0, "Hello world").unwrap();
        ada.commit();
        for c in ada.all_changes() {
            grace.apply(c).unwrap();
        }
        grace.set_wall_clock(T0 + 60);
        tandem_net::authors::record_author(&mut grace, "Grace", 0x2ea043).unwrap();
        grace.commit_untracked();
        grace.insert(5, ", dear").unwrap();
        grace.commit();
        for c in grace.changes_since(ada.version()) {
            ada.apply(c).unwrap();
        }
        ada.set_wall_clock(T0 + 1_000);
        ada.insert(17, "!").unwrap();
        ada.commit();
        ada
    }

    #[test]
    fn sessions_list_who_edited_when_and_show_their_version() {
        let doc = scripted_session();
        assert_eq!(doc.text(), "Hello, dear world!");
        let mut h =
            Harness::new_ui_state(|ui, h: &mut History| drop(h.ui(ui, &doc)), History::new(doc.n_ops()));
        h.run_steps(2);
        let grace = format!("Grace\n{}", local_minute(T0 + 60) + " · +6 −0");
        let ada_first = format!("Ada\n{}", local_minute(T0) + " · +11 −0");
        assert!(h.query_by_label(&format!("Ada\n{} · +1 −0", local_minute(T0 + 1_000))).is_some());
        assert!(h.query_by_label(&ada_first).is_some());
        h.get_by_label(&grace).click();
        h.run_steps(2);
        assert_eq!(h.state().shown_text(), Some("Hello, dear world"));
        // Authors: each character on who typed it.
        h.state_mut().show = Show::Authors;
        h.run_steps(2);
        let (a, g) = (tandem_crdt::ReplicaId(0xada), tandem_crdt::ReplicaId(0x6ace));
        assert_eq!(
            h.state().shown_spans(),
            [
                (Mark::By(a), "Hello".to_owned()),
                (Mark::By(g), ", dear".to_owned()),
                (Mark::By(a), " world".to_owned())
            ]
        );
        assert!(h.query_by_label("Written by Ada, Grace").is_some());
        // Changes: what the session changed, from the version before it.
        h.state_mut().show = Show::Changes;
        h.run_steps(2);
        assert_eq!(h.state().base, Base::SessionStart);
        let spans = h.state().shown_spans().to_vec();
        let side = |keep: Mark| {
            spans
                .iter()
                .filter(|(m, _)| *m == Mark::Plain || *m == keep)
                .map(|(_, t)| t.as_str())
                .collect::<String>()
        };
        assert_eq!(side(Mark::Inserted), "Hello, dear world");
        assert_eq!(side(Mark::Deleted), "Hello world");
        assert!(spans.iter().any(|(m, t)| *m == Mark::Inserted && t.contains("dear")), "{spans:?}");
        // Compared with now: the mark Ada added later.
        h.state_mut().base = Base::Now;
        h.run_steps(2);
        let spans = h.state().shown_spans();
        assert!(spans.iter().any(|(m, t)| *m == Mark::Inserted && t.contains('!')), "{spans:?}");
        assert!(!spans.iter().any(|(m, _)| *m == Mark::Deleted), "{spans:?}");
        // Any two versions: Ada's last session compared with her first one.
        let ada_last = format!("Ada\n{} · +1 −0", local_minute(T0 + 1_000));
        h.get_by_label(&ada_last).click();
        h.run_steps(1);
        h.get_by_label(&ada_first).click_secondary();
        h.run_steps(2);
        h.get_by_label("Compare with the version after this session").click();
        h.run_steps(2);
        assert!(matches!(h.state().base, Base::Session(..)));
        let spans = h.state().shown_spans();
        let inserted: String =
            spans.iter().filter(|(m, _)| *m == Mark::Inserted).map(|(_, t)| t.as_str()).collect();
        assert!(inserted.contains("dear") && inserted.contains('!'), "{spans:?}");
        // Any two slider positions: pin the version after "Hello world", then move the
        // slider to the end.
        let hello = 2 + "Hello world".chars().count();
        h.state_mut().pos = hello;
        h.state_mut().session = None;
        h.run_steps(2);
        h.get_by_label("Compare from this version").click();
        h.run_steps(1);
        h.state_mut().pos = h.state().total;
        h.run_steps(2);
        assert_eq!(h.state().base, Base::Session(hello, hello));
        let spans = h.state().shown_spans();
        let marked =
            |k: Mark| spans.iter().filter(|(m, _)| *m == k).map(|(_, t)| t.as_str()).collect::<String>();
        assert_eq!(marked(Mark::Inserted), ", dear!", "{spans:?}");
        assert_eq!(marked(Mark::Deleted), "", "{spans:?}");
    }

    #[test]
    fn word_diffs_mark_insertions_and_deletions() {
        let spans = diff_spans("the quick fox", "the slow fox jumps");
        let text =
            |m: Mark| spans.iter().filter(|(k, _)| *k == m).map(|(_, t)| t.as_str()).collect::<String>();
        assert_eq!(text(Mark::Deleted), "quick");
        assert!(text(Mark::Inserted).contains("slow") && text(Mark::Inserted).contains("jumps"), "{spans:?}");
        assert_eq!(diff_spans("same", "same"), [(Mark::Plain, "same".to_owned())]);
        assert_eq!(
            diff_spans("hello world", "hello world!"),
            [(Mark::Plain, "hello world".to_owned()), (Mark::Inserted, "!".to_owned())]
        );
        assert_eq!(
            diff_spans("a cat sat", "a cart sat"),
            [
                (Mark::Plain, "a ca".to_owned()),
                (Mark::Inserted, "r".to_owned()),
                (Mark::Plain, "t sat".to_owned())
            ]
        );
    }

    #[test]
    fn named_versions_come_first_and_show_their_text() {
        let mut view = DocView::detached(tandem_crdt::ReplicaId(7));
        view.doc_mut().insert(0, "draft").unwrap();
        view.commit();
        assert!(tandem_net::versions::name_version(view.doc_mut(), "sent to editor").unwrap());
        view.commit_untracked();
        view.doc_mut().insert(5, " two").unwrap();
        view.commit();
        let history = History::new(view.doc().n_ops());
        let mut h = Harness::new_ui_state(
            |ui, (h, out): &mut (History, Vec<Action>)| out.extend(h.ui(ui, view.doc())),
            (history, Vec::new()),
        );
        h.run_steps(2);
        assert_eq!(h.state().0.shown_text(), Some("draft two"), "the newest version at first");
        h.get_by_label("sent to editor").click();
        h.run_steps(2);
        assert_eq!(h.state().0.shown_text(), Some("draft"));
        assert!(h.query_by_label("Version “sent to editor”").is_some());
        h.get_by_label("Name the current version:").focus();
        h.get_by_label("Name the current version:").type_text("final");
        h.run_steps(1);
        h.get_by_label("Name").click();
        h.run_steps(2);
        assert!(matches!(&h.state().1[..], [Action::NameVersion(n)] if n == "final"), "{:?}", h.state().1);
    }
}
