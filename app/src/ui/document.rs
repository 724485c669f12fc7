//! The open document: the window's own replica of it ([`DocView`]), the text the editor
//! shows, and what the panels show about it (peers, ticket, sync state).

use super::editor::{Editor, editor_id};
use super::find::FindBar;
use super::goto_line::GoToLine;
use super::history::History;
use egui::text::{CCursor, CCursorRange};
use egui::text_edit::TextEditState;
use std::ops::Range;
use tandem_crdt::{Bias, Value};
use tandem_net::{DocPeer, DocView, EngineHandle, NetError};
use tandem_storage::DocId;

/// The start of `text` where its first non-empty line is looked for, so that a long
/// text costs no more than a short one.
fn first_lines(text: &str) -> &str {
    let end = text.char_indices().nth(2000).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// The open document.
pub(super) struct OpenDoc {
    pub(super) view: DocView,
    /// The text the editor shows (the view's text).
    pub(super) mirror: String,
    /// This device's last seq that is stored.
    pub(super) saved: u64,
    /// The ticket shown in the share dialog, once the engine gave it (for a document
    /// this device may only read, a read ticket).
    pub(super) ticket: Option<String>,
    /// The read ticket the share dialog offers beside it.
    pub(super) read_ticket: Option<String>,

    /// The peers that share the document.
    pub(super) peers: Vec<DocPeer>,
    /// Writers caught signing two versions of the same edits.
    pub(super) equivocators: Vec<tandem_crdt::ReplicaId>,
    /// A key change left this device out: it keeps the document as it was.
    pub(super) removed: bool,
    /// Connected peers that share the document, as the engine's status counts them.
    pub(super) n_peers: usize,
    /// Changes not yet sent to or received from peers.
    pub(super) pending: usize,
    /// The history view, while it is shown instead of the editor.
    pub(super) history: Option<History>,
    /// The editor's state for this document.
    pub(super) editor: Editor,
    /// The find bar (shown while `find.open`).
    pub(super) find: FindBar,
    /// The go-to-line prompt, while it is shown.
    pub(super) goto: Option<GoToLine>,
    /// When the window opened it.
    pub(super) opened: std::time::Instant,
}

impl OpenDoc {
    /// The document of a view the engine just attached.
    pub(super) fn new(view: DocView) -> OpenDoc {
        let mirror = view.doc().text();
        let saved = view.doc().version().get(view.doc().replica());
        OpenDoc {
            view,
            mirror,
            saved,
            ticket: None,
            read_ticket: None,

            peers: Vec::new(),
            equivocators: Vec::new(),
            removed: false,
            n_peers: 0,
            pending: 0,
            history: None,
            editor: Editor::default(),
            find: FindBar::default(),
            goto: None,
            opened: std::time::Instant::now(),
        }
    }

    pub(super) fn id(&self) -> DocId {
        self.view.id()
    }

    /// The title; while the map holds none, the first non-empty line of the text
    /// (derived here, the map is not written); "Untitled" when the text is blank too.
    pub(super) fn title(&self) -> String {
        let title = tandem_net::title_of(self.view.doc());
        if !title.is_empty() {
            return title;
        }
        let first = tandem_net::first_line_title(first_lines(&self.mirror));
        if first.is_empty() { "Untitled".into() } else { first }
    }

    /// Whether every edit made on this device is stored.
    pub(super) fn is_saved(&self) -> bool {
        self.view.doc().version().get(self.view.doc().replica()) <= self.saved
    }

    /// Applies what peers sent to the view, keeping the editor's cursor and selection on
    /// the characters they were at. Returns whether anything was applied.
    pub(super) fn pull_remote(&mut self, ctx: &egui::Context) -> bool {
        if !self.view.has_incoming() {
            return false;
        }
        let mut state = TextEditState::load(ctx, editor_id());
        let range = state.as_ref().and_then(|s| s.cursor.char_range());
        let doc = self.view.doc();
        let anchors = range.map(|r| {
            (doc.anchor(r.primary.index.0, Bias::Before), doc.anchor(r.secondary.index.0, Bias::Before))
        });
        if self.view.pull() == 0 {
            return false;
        }
        self.mirror = self.view.doc().text();
        if let Some(h) = &mut self.history {
            h.total = self.view.doc().n_ops();
        }
        if let (Some(s), Some((a, b))) = (state.as_mut(), anchors) {
            let doc = self.view.doc();
            let len = doc.len_chars();
            let p = doc.resolve(&a).unwrap_or(len);
            let q = doc.resolve(&b).unwrap_or(len);
            s.cursor.set_char_range(Some(CCursorRange::two(CCursor::new(q), CCursor::new(p))));
            if let Some(s) = state {
                s.store(ctx, editor_id());
            }
        }
        true
    }

    /// Undoes (or redoes) this device's last edit.
    pub(super) fn undo(&mut self, redo: bool) -> Result<(), NetError> {
        let res = if redo { self.view.redo() } else { self.view.undo() };
        if res? {
            self.mirror = self.view.doc().text();
        }
        Ok(())
    }

    /// Sets the title (an edit of the document's map, undone like any edit).
    pub(super) fn rename(&mut self, title: &str) {
        self.view.commit();
        if self.view.doc_mut().map_set("title", Value::Str(title.trim().to_owned())).is_ok() {
            self.view.commit();
        }
    }

    /// Makes the text equal `old` with one edit: the part between the common prefix and
    /// suffix is replaced.
    pub(super) fn restore(&mut self, old: &str) {
        let view = &mut self.view;
        let cur: Vec<char> = view.doc().text().chars().collect();
        let want: Vec<char> = old.chars().collect();
        let prefix = cur.iter().zip(&want).take_while(|(a, b)| a == b).count();
        let suffix =
            cur[prefix..].iter().rev().zip(want[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
        let del = cur.len() - prefix - suffix;
        let ins: String = want[prefix..want.len() - suffix].iter().collect();
        view.commit();
        let doc = view.doc_mut();
        if del == 0 || doc.delete(prefix, del).is_ok() {
            if !ins.is_empty() {
                doc.insert(prefix, &ins).ok();
            }
            view.commit();
        }
        self.mirror = self.view.doc().text();
    }

    /// Replaces each char range of `edits` (in order, not overlapping) with its text, as
    /// local edits in one transaction: one undo step, shipped to peers like typing.
    /// Ranges past the end of the text are left out. Returns where the last replacement
    /// ends.
    pub(super) fn replace(&mut self, edits: &[(Range<usize>, String)]) -> Option<usize> {
        let len = self.view.doc().len_chars();
        let ordered = edits.windows(2).all(|w| w[0].0.end <= w[1].0.start);
        if !ordered || edits.is_empty() {
            return None;
        }
        // The typing before is a step of its own.
        self.view.commit();
        let doc = self.view.doc_mut();
        // From the last to the first, so that the positions before each stay valid.
        for (r, text) in edits.iter().rev().filter(|(r, _)| r.start <= r.end && r.end <= len) {
            if doc.delete(r.start, r.end - r.start).is_ok() {
                doc.insert(r.start, text).ok();
            }
        }
        self.view.commit();
        self.mirror = self.view.doc().text();
        let growth: isize = edits.iter().map(|(r, t)| t.chars().count() as isize - r.len() as isize).sum();
        let (last, _) = edits.last()?;
        Some((last.end as isize + growth).max(0) as usize)
    }

    /// Commits the last edits and hands the undo history to the engine to store.
    pub(super) fn close(mut self, engine: &EngineHandle) {
        self.view.commit();
        engine.save_undo(self.view.id(), self.view.undo_state());
    }
}
