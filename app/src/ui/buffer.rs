//! The editor's text buffer: every keystroke, paste, cut and IME commit that the text
//! widget makes becomes a CRDT op at its char position, and the widget reads a mirror
//! string that the same edit updates. Whole strings are never diffed.

use super::editor::byte_of;
use egui::TextBuffer;
use egui::text::CharIndex;
use std::any::TypeId;
use std::ops::Range;
use tandem_net::DocView;

/// A document view and the mirror of its text that the widget shows.
#[derive(Debug)]
pub(super) struct CrdtBuffer<'a> {
    view: &'a mut DocView,
    mirror: &'a mut String,
    /// The bytes of the mirror the widget shows and edits (all of it unless the text is
    /// long, `text_window`), and the char position where they start.
    shown: std::ops::Range<usize>,
    first_char: usize,
    /// Whether anything changed (the caller commits and refreshes).
    pub(super) changed: bool,
}

impl<'a> CrdtBuffer<'a> {
    /// The replica, as edited so far.
    pub(super) fn doc(&self) -> &tandem_crdt::Doc {
        self.view.doc()
    }

    /// Wraps a view whose text `mirror` holds.
    pub(super) fn new(view: &'a mut DocView, mirror: &'a mut String) -> CrdtBuffer<'a> {
        debug_assert_eq!(view.doc().len_chars(), mirror.chars().count());
        let shown = 0..mirror.len();
        CrdtBuffer { view, mirror, shown, first_char: 0, changed: false }
    }

    /// Shows the widget only the mirror's bytes `bytes` (whole lines), which start at
    /// char `first_char`: its positions are counted from there.
    pub(super) fn window(&mut self, bytes: std::ops::Range<usize>, first_char: usize) {
        self.shown = bytes;
        self.first_char = first_char;
    }

    /// How many chars the widget is shown.
    fn shown_chars(&self) -> usize {
        let shown = &self.mirror[self.shown.clone()];
        if shown.is_ascii() { shown.len() } else { shown.chars().count() }
    }

    /// The whole text (the widget may see only part of it).
    pub(super) fn text(&self) -> &str {
        self.mirror
    }

    /// Deletes the chars `r` of the whole text (for a selection that reaches past the
    /// part shown).
    pub(super) fn delete_whole(&mut self, r: Range<usize>) {
        let len = self.view.doc().len_chars();
        let (start, end) = (r.start.min(len), r.end.min(len));
        if start >= end || self.view.read_only() || self.view.doc_mut().delete(start, end - start).is_err() {
            return;
        }
        let (a, b) = (byte_of(self.mirror, start), byte_of(self.mirror, end));
        self.mirror.replace_range(a..b, "");
        // Where the shown part's ends and first char went.
        let moved = |x: usize, a: usize, b: usize| if x <= a { x } else { x.saturating_sub(b - a).max(a) };
        self.shown = moved(self.shown.start, a, b)..moved(self.shown.end, a, b);
        self.first_char = moved(self.first_char, start, end);
        self.changed = true;
    }
}

impl TextBuffer for CrdtBuffer<'_> {
    /// A document shared with this device to read only takes no typing (text can
    /// still be selected and copied).
    fn is_mutable(&self) -> bool {
        !self.view.read_only()
    }

    fn as_str(&self) -> &str {
        &self.mirror[self.shown.clone()]
    }

    fn insert_text(&mut self, text: &str, char_index: CharIndex) -> usize {
        if self.view.read_only() {
            return 0;
        }
        let len = self.view.doc().len_chars();
        let pos = (self.first_char + char_index.0.min(self.shown_chars())).min(len);
        if text.is_empty() || self.view.doc_mut().insert(pos, text).is_err() {
            return 0;
        }
        let at = self.shown.start + byte_of(&self.mirror[self.shown.clone()], pos - self.first_char);
        self.mirror.insert_str(at, text);
        self.shown.end += text.len();
        self.changed = true;
        text.chars().count()
    }

    fn delete_char_range(&mut self, char_range: Range<CharIndex>) {
        let len = self.view.doc().len_chars();
        let (f, n) = (self.first_char, self.shown_chars());
        let (start, end) = ((f + char_range.start.0.min(n)).min(len), (f + char_range.end.0.min(n)).min(len));
        if start >= end || self.view.read_only() || self.view.doc_mut().delete(start, end - start).is_err() {
            return;
        }
        let shown = &self.mirror[self.shown.clone()];
        let (a, b) = (byte_of(shown, start - f), byte_of(shown, end - f));
        let (a, b) = (self.shown.start + a, self.shown.start + b);
        self.mirror.replace_range(a..b, "");
        self.shown.end -= b - a;
        self.changed = true;
    }

    fn type_id(&self) -> TypeId {
        TypeId::of::<CrdtBuffer<'static>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Edit {
        Insert(usize, String),
        Delete(usize, usize),
        Replace(usize, usize, String),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let text = || proptest::string::string_regex("[a-zé😀日本\n ]{0,6}").unwrap();
        prop_oneof![
            (any::<usize>(), text()).prop_map(|(p, t)| Edit::Insert(p, t)),
            (any::<usize>(), 0usize..8).prop_map(|(p, n)| Edit::Delete(p, n)),
            (any::<usize>(), 0usize..8, text()).prop_map(|(p, n, t)| Edit::Replace(p, n, t)),
        ]
    }

    /// Keystrokes committed with the frame's time undo as one burst until a pause; a
    /// paste committed as a step of its own undoes alone.
    #[test]
    fn typing_undoes_in_bursts_and_a_paste_alone() {
        let mut view = DocView::detached(tandem_crdt::ReplicaId(7));
        let mut mirror = String::new();
        for (i, (text, ms)) in [("a", 0), ("b", 100), ("c", 200), ("d", 3_000)].into_iter().enumerate() {
            CrdtBuffer::new(&mut view, &mut mirror).insert_text(text, CharIndex(i));
            view.commit_at(ms);
        }
        CrdtBuffer::new(&mut view, &mut mirror).insert_text("x", CharIndex(4));
        view.commit();
        assert_eq!(view.doc().text(), "abcdx");
        for want in ["abcd", "abc", ""] {
            assert!(view.undo().unwrap());
            assert_eq!(view.doc().text(), want);
        }
        assert!(!view.undo().unwrap());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random edits through the buffer (as the widget makes them: inserts, deletes,
        /// a selection replaced by typing), with the widget shown all of the text or a
        /// window of its lines, leave the CRDT's text equal to the mirror.
        #[test]
        fn buffer_and_crdt_agree(
            edits in proptest::collection::vec((edit(), proptest::option::of((0usize..6, 1usize..4))), 1..40),
        ) {
            let mut view = DocView::detached(tandem_crdt::ReplicaId(7));
            let mut mirror = String::new();
            for (e, window) in edits {
                let mut index = super::super::text_window::LineIndex::default();
                index.update(&mirror, view.doc().n_ops());
                let lines = window.map(|(a, k)| {
                    let a = a % index.n_lines();
                    a..(a + k).min(index.n_lines())
                });
                let mut buf = CrdtBuffer::new(&mut view, &mut mirror);
                if let Some(lines) = lines {
                    let bytes = index.bytes(buf.text(), lines);
                    let first = buf.text()[..bytes.start].chars().count();
                    buf.window(bytes, first);
                }
                let n = buf.as_str().chars().count();
                match e {
                    Edit::Insert(p, t) => {
                        let got = buf.insert_text(&t, CharIndex(p % (n + 1)));
                        prop_assert_eq!(got, t.chars().count());
                    }
                    Edit::Delete(p, k) => {
                        let s = p % (n + 1);
                        buf.delete_char_range(CharIndex(s)..CharIndex((s + k).min(n)));
                    }
                    Edit::Replace(p, k, t) => {
                        let s = p % (n + 1);
                        let mut c = egui::text::CCursor::new(s);
                        buf.delete_char_range(CharIndex(s)..CharIndex((s + k).min(n)));
                        buf.insert_text_at(&mut c, &t, usize::MAX);
                        prop_assert_eq!(c.index.0, s + t.chars().count());
                    }
                }
                view.commit();
                prop_assert_eq!(view.doc().text(), mirror.clone());
            }
        }
    }
}
