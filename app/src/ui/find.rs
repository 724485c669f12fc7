//! Find and replace in the open document: the find bar over the editor (Ctrl+F, or
//! Ctrl+H with its replace row), the search behind it, and the matches the editor
//! highlights.
//!
//! The matches are found again whenever the query or the text changes (the text's
//! version is the replica's op count, so a peer's edit counts too), never on a frame
//! where neither did. The current match is remembered by anchors on its first and last
//! characters, so it follows peers' edits; "Replace" changes it only if it is still a
//! match exactly where the anchors put it, which is the match the user saw. Replacing
//! is an action ([`Action::Replace`]) that edits the replica as typing does, all the
//! replacements of "Replace all" in one transaction, so one undo step.

use super::action::Action;
use super::widgets::ERROR_RED;
use egui::{Id, Key, Modifiers};
use regex::{Regex, RegexBuilder};
use std::ops::Range;
use tandem_crdt::{Anchor, Bias, Doc};

/// The find bar's query field (its id, to focus it).
pub fn find_field_id() -> Id {
    Id::new("find-query")
}

/// The find bar's replacement field.
pub fn replace_field_id() -> Id {
    Id::new("find-replacement")
}

/// What to look for, as set in the find bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Query {
    /// The text (or regular expression) to find.
    pub(super) text: String,
    /// Upper and lower case differ.
    pub(super) match_case: bool,
    /// A match must not start or end inside a word.
    pub(super) whole_word: bool,
    /// `text` is a regular expression (`regex` syntax); replacements may use `$1`.
    pub(super) regex: bool,
}

/// A compiled [`Query`].
#[derive(Debug)]
pub(super) struct Search {
    re: Regex,
    whole_word: bool,
    regex: bool,
}

/// A letter, digit or underscore: what words are made of for "Whole word".
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The byte offset of char `char_idx` in `s` (its length past the end).
fn byte_of(s: &str, char_idx: usize) -> usize {
    s.char_indices().nth(char_idx).map_or(s.len(), |(b, _)| b)
}

/// The first line of what the regex parser says is wrong, for the find bar.
fn regex_error(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => {
            let reason = s.lines().rev().find_map(|l| l.strip_prefix("error: ")).unwrap_or(s.as_str());
            format!("Invalid regular expression: {reason}")
        }
        regex::Error::CompiledTooBig(_) => "The regular expression is too big".to_owned(),
        e => format!("Invalid regular expression: {e}"),
    }
}

impl Search {
    /// Compiles a query: `None` for an empty one, the reason for a regular expression
    /// that does not parse.
    pub(super) fn new(q: &Query) -> Result<Option<Search>, String> {
        if q.text.is_empty() {
            return Ok(None);
        }
        let pattern = if q.regex { q.text.clone() } else { regex::escape(&q.text) };
        let re = RegexBuilder::new(&pattern)
            .case_insensitive(!q.match_case)
            .multi_line(true)
            .build()
            .map_err(|e| regex_error(&e))?;
        Ok(Some(Search { re, whole_word: q.whole_word, regex: q.regex }))
    }

    /// Whether the match `r` (bytes) starts and ends at word boundaries: the text
    /// beside each end is no word char, or the match's own char there is none.
    fn is_whole_word(text: &str, r: &Range<usize>) -> bool {
        let m = &text[r.clone()];
        let starts = text[..r.start].chars().next_back().is_none_or(|c| !is_word_char(c))
            || m.chars().next().is_some_and(|c| !is_word_char(c));
        let ends = text[r.end..].chars().next().is_none_or(|c| !is_word_char(c))
            || m.chars().next_back().is_some_and(|c| !is_word_char(c));
        starts && ends
    }

    /// The first match (bytes) starting at byte `at` or later. Empty matches are
    /// skipped (they cannot be shown or replaced), and so are matches that are not
    /// whole words when whole words are asked for.
    fn next_match(&self, text: &str, mut at: usize) -> Option<Range<usize>> {
        while at <= text.len() {
            let m = self.re.find_at(text, at)?.range();
            if !m.is_empty() && (!self.whole_word || Search::is_whole_word(text, &m)) {
                return Some(m);
            }
            // Look again one char after where this match started.
            at = m.start + text[m.start..].chars().next().map_or(1, char::len_utf8);
        }
        None
    }

    /// Every match in `text`, as char ranges, in order and not overlapping.
    pub(super) fn matches(&self, text: &str) -> Vec<Range<usize>> {
        let mut res = Vec::new();
        let (mut byte, mut chars) = (0, 0);
        while let Some(m) = self.next_match(text, byte) {
            chars += text[byte..m.start].chars().count();
            let n = text[m.clone()].chars().count();
            res.push(chars..chars + n);
            chars += n;
            byte = m.end;
        }
        res
    }

    /// What the match at bytes `m` becomes: `template` as it is, or in regex mode with
    /// `$1`, `${name}` and `$$` expanded from the match's groups.
    fn replacement(&self, text: &str, m: &Range<usize>, template: &str) -> String {
        if !self.regex {
            return template.to_owned();
        }
        match self.re.captures_at(text, m.start) {
            Some(caps) if caps.get(0).is_some_and(|c| c.range() == *m) => {
                let mut res = String::new();
                caps.expand(template, &mut res);
                res
            }
            _ => template.to_owned(),
        }
    }

    /// The edits that replace every match in `text` with `template`: char ranges in
    /// order, each with its new text.
    pub(super) fn replace_all(&self, text: &str, template: &str) -> Vec<(Range<usize>, String)> {
        let mut res = Vec::new();
        let (mut byte, mut chars) = (0, 0);
        while let Some(m) = self.next_match(text, byte) {
            chars += text[byte..m.start].chars().count();
            let n = text[m.clone()].chars().count();
            res.push((chars..chars + n, self.replacement(text, &m, template)));
            chars += n;
            byte = m.end;
        }
        res
    }

    /// The edit that replaces the match at chars `m` with `template`.
    pub(super) fn replace_one(&self, text: &str, m: &Range<usize>, template: &str) -> (Range<usize>, String) {
        let start = byte_of(text, m.start);
        let end = start + byte_of(&text[start..], m.end - m.start);
        (m.clone(), self.replacement(text, &(start..end), template))
    }
}

/// The find bar's state, kept while the document is open.
#[derive(Debug, Default)]
pub(super) struct FindBar {
    /// The bar is shown.
    pub(super) open: bool,
    /// The replace row is shown.
    pub(super) replace: bool,
    /// What the user is looking for.
    pub(super) query: Query,
    /// What "Replace" puts in place of a match.
    pub(super) replacement: String,
    /// The compiled query (`None` while it is empty or invalid).
    search: Option<Search>,
    /// Why the query does not compile.
    pub(super) error: Option<String>,
    /// The matches in the text, as char ranges, in order.
    pub(super) matches: Vec<Range<usize>>,
    /// The query and the text version (op count) `matches` were found for.
    found_for: Option<(Query, usize)>,
    /// Index in `matches` of the current match.
    pub(super) current: Option<usize>,
    /// The current match's first and last chars, so it follows edits.
    current_at: Option<(Anchor, Anchor)>,
    /// Where the current match is looked for when there is none: the editor's cursor
    /// when the bar opened, or the end of the last replacement.
    origin: Option<Anchor>,
    /// Put the keyboard focus in the query field on the next frame.
    focus: bool,
}

impl FindBar {
    /// Opens the bar (with the replace row if `replace`), the search starting at char
    /// `cursor`; `selected` (a one-line selection in the editor) becomes the query.
    pub(super) fn show(&mut self, doc: &Doc, replace: bool, cursor: usize, selected: Option<String>) {
        self.open = true;
        self.replace |= replace;
        self.focus = true;
        // A selection the query already matches (the match it moved to) stays the query.
        let matched = |s: &str| {
            Search::new(&self.query)
                .ok()
                .flatten()
                .is_some_and(|q| matches!(&q.matches(s)[..], [m] if *m == (0..s.chars().count())))
        };
        if let Some(s) = selected.filter(|s| !s.is_empty() && !s.contains('\n') && !matched(s.as_str())) {
            self.query.text = if self.query.regex { regex::escape(&s) } else { s };
        }
        self.origin = Some(doc.anchor(cursor, Bias::Before));
        self.current_at = None;
        self.found_for = None;
    }

    /// Hides the bar (the query stays for the next time).
    pub(super) fn hide(&mut self) {
        self.open = false;
        self.replace = false;
        self.current = None;
        self.current_at = None;
    }

    /// The current match, as chars.
    pub(super) fn current_match(&self) -> Option<Range<usize>> {
        self.current.and_then(|i| self.matches.get(i)).cloned()
    }

    /// Where the current match's anchors are now (the match the user saw, after any
    /// edits since).
    fn anchored(&self, doc: &Doc) -> Option<Range<usize>> {
        let (a, b) = self.current_at?;
        Some(doc.resolve(&a)?..doc.resolve(&b)?)
    }

    /// Makes match `i` the current one.
    fn set_current(&mut self, doc: &Doc, i: usize) {
        let m = &self.matches[i];
        self.current = Some(i);
        self.current_at = Some((doc.anchor(m.start, Bias::After), doc.anchor(m.end, Bias::Before)));
    }

    /// The first match starting at char `pos` or later, else the first one.
    fn first_from(&self, pos: usize) -> Option<usize> {
        if self.matches.is_empty() {
            return None;
        }
        let i = self.matches.partition_point(|m| m.start < pos);
        Some(if i == self.matches.len() { 0 } else { i })
    }

    /// Finds the matches again if the query or the text (`doc`'s, which `text` holds)
    /// changed since they were found. The current match stays if it is still a match
    /// where its anchors are; otherwise the next one after it becomes current.
    pub(super) fn refresh(&mut self, doc: &Doc, text: &str) {
        let version = doc.n_ops();
        let same_query = self.found_for.as_ref().is_some_and(|(q, _)| *q == self.query);
        if same_query && self.found_for.as_ref().is_some_and(|(_, v)| *v == version) {
            return;
        }
        let mut restart_at = None;
        if !same_query {
            match Search::new(&self.query) {
                Ok(s) => (self.search, self.error) = (s, None),
                Err(e) => (self.search, self.error) = (None, Some(e)),
            }
            // A new query is searched from where the current match starts (so a match
            // grows in place as the query is typed), else from where the search started.
            restart_at = self.anchored(doc).map(|r| r.start);
            self.current_at = None;
        }
        self.matches = self.search.as_ref().map_or_else(Vec::new, |s| s.matches(text));
        self.found_for = Some((self.query.clone(), version));
        let len = doc.len_chars();
        let current = match self.anchored(doc) {
            Some(r) => match self.matches.binary_search_by(|m| m.start.cmp(&r.start)) {
                Ok(i) if self.matches[i].end == r.end => Some(i),
                _ => self.first_from(r.start),
            },
            None => {
                let from = restart_at.or_else(|| self.origin.and_then(|o| doc.resolve(&o)));
                self.first_from(from.unwrap_or(0).min(len))
            }
        };
        match current {
            Some(i) => self.set_current(doc, i),
            None => self.current = None,
        }
    }

    /// Makes the next (or, `back`, the previous) match current, wrapping around; returns
    /// it.
    fn step(&mut self, doc: &Doc, back: bool) -> Option<Range<usize>> {
        let n = self.matches.len();
        let i = match (self.current, back) {
            (None, _) => self.first_from(0)?,
            (Some(i), false) => (i + 1) % n,
            (Some(i), true) => (i + n - 1) % n,
        };
        self.set_current(doc, i);
        self.current_match()
    }

    /// After edits made at char `pos`: the search goes on from there.
    pub(super) fn resume_at(&mut self, doc: &Doc, pos: usize) {
        self.origin = Some(doc.anchor(pos, Bias::Before));
        self.current_at = None;
    }

    /// "Replace": the edit that replaces the current match, if it is `seen` (the match
    /// the user saw, where it is now). When it is not, the current match is only shown
    /// (returned as `Err`), so nothing the user did not see is replaced.
    fn replace_current(
        &self,
        text: &str,
        seen: Option<Range<usize>>,
    ) -> Option<Result<Action, Range<usize>>> {
        let cur = self.current_match()?;
        let search = self.search.as_ref()?;
        if seen.as_ref() != Some(&cur) {
            return Some(Err(cur));
        }
        let edits = vec![search.replace_one(text, &cur, &self.replacement)];
        Some(Ok(Action::Replace { edits, version: self.version() }))
    }

    /// The text version (op count) the matches were found in.
    fn version(&self) -> usize {
        self.found_for.as_ref().map_or(0, |(_, v)| *v)
    }

    /// "Replace all": every match in the text as it is now, in one action.
    fn replace_all(&self, text: &str) -> Option<Action> {
        let edits = self.search.as_ref()?.replace_all(text, &self.replacement);
        (!edits.is_empty()).then(|| Action::Replace { edits, version: self.version() })
    }

    /// What the bar says about the matches.
    pub(super) fn count_text(&self) -> String {
        match (self.matches.len(), self.current) {
            _ if self.query.text.is_empty() => String::new(),
            (0, _) => "No matches".to_owned(),
            (n, Some(i)) => format!("{} of {n}", i + 1),
            (1, None) => "1 match".to_owned(),
            (n, None) => format!("{n} matches"),
        }
    }

    /// Draws the bar over the editor of `doc`, whose text `text` holds. Moving to a
    /// match asks to select it in the editor; replacing asks for the edits.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, doc: &Doc, text: &str) -> Option<Action> {
        let seen = self.anchored(doc);
        self.refresh(doc, text);
        let before = self.query.clone();
        let mut action = None;
        let mut go = None;
        // The row wraps where the editor is narrow (the peers panel open).
        ui.horizontal_wrapped(|ui| {
            let field = egui::TextEdit::singleline(&mut self.query.text)
                .id(find_field_id())
                .hint_text("Find")
                .return_key(None)
                .desired_width(220.0);
            let resp = ui.add(field);
            // A screen reader names the field (its hint is only a placeholder).
            ui.ctx().accesskit_node_builder(find_field_id(), |n| n.set_label("Find"));
            if std::mem::take(&mut self.focus) {
                resp.request_focus();
                select_all(ui.ctx(), find_field_id(), &self.query.text);
            }
            if resp.has_focus() {
                if ui.input_mut(|i| i.consume_key(Modifiers::SHIFT, Key::Enter)) {
                    go = Some(true);
                } else if ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Enter)) {
                    go = Some(false);
                }
            }
            // A fixed width, so that the buttons do not move as the count changes.
            let h = ui.spacing().interact_size.y;
            ui.add_sized([80.0, h], egui::Label::new(self.count_text()));
            if ui.button("Previous").on_hover_text("Shift+Enter").clicked() {
                go = Some(true);
            }
            if ui.button("Next").on_hover_text("Enter").clicked() {
                go = Some(false);
            }
            ui.checkbox(&mut self.query.match_case, "Match case");
            ui.checkbox(&mut self.query.whole_word, "Whole word");
            ui.checkbox(&mut self.query.regex, "Regular expression");
            if ui.button("Close").on_hover_text("Escape").clicked() {
                action = Some(Action::CloseBar);
            }
        });
        if self.replace {
            ui.horizontal(|ui| {
                let field = egui::TextEdit::singleline(&mut self.replacement)
                    .id(replace_field_id())
                    .hint_text("Replace with")
                    .return_key(None)
                    .desired_width(220.0);
                let resp = ui.add(field);
                ui.ctx().accesskit_node_builder(replace_field_id(), |n| n.set_label("Replace with"));
                let enter = resp.has_focus() && ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Enter));
                if ui.button("Replace").clicked() || enter {
                    action = match self.replace_current(text, seen.clone()) {
                        Some(Ok(a)) => Some(a),
                        Some(Err(shown)) => Some(Action::Select(shown)),
                        None => None,
                    };
                }
                if ui.button("Replace all").clicked() {
                    action = self.replace_all(text);
                }
            });
        }
        if let Some(e) = &self.error {
            ui.colored_label(ERROR_RED, e);
        }
        if self.query != before {
            // Incremental search: the first match from where the search started.
            self.refresh(doc, text);
            if action.is_none() {
                action = self.current_match().map(Action::Select);
            }
        } else if let Some(back) = go {
            action = self.step(doc, back).map(Action::Select);
        }
        action
    }
}

/// Selects all of the single-line field `id`, which holds `text`.
fn select_all(ctx: &egui::Context, id: Id, text: &str) {
    let mut state = egui::text_edit::TextEditState::load(ctx, id).unwrap_or_default();
    let end = egui::text::CCursor::new(text.chars().count());
    state.cursor.set_char_range(Some(egui::text::CCursorRange::two(egui::text::CCursor::new(0), end)));
    state.store(ctx, id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_crdt::ReplicaId;

    fn query(text: &str, match_case: bool, whole_word: bool, regex: bool) -> Query {
        Query { text: text.into(), match_case, whole_word, regex }
    }

    /// The matches of `q` in `text`, as the matched strings.
    fn check(text: &str, q: Query, expected: &[&str]) {
        let s = Search::new(&q).unwrap().unwrap();
        let chars: Vec<char> = text.chars().collect();
        let found: Vec<String> = s.matches(text).into_iter().map(|r| chars[r].iter().collect()).collect();
        assert_eq!(found, expected, "{q:?} in {text:?}");
    }

    #[test]
    fn options_change_what_matches() {
        let text = "Cat cat concat cat_x CAT";
        check(text, query("cat", false, false, false), &["Cat", "cat", "cat", "cat", "CAT"]);
        check(text, query("cat", true, false, false), &["cat", "cat", "cat"]);
        check(text, query("cat", false, true, false), &["Cat", "cat", "CAT"]);
        check(text, query("cat", true, true, false), &["cat"]);
        check(text, query("c.t", false, false, false), &[]);
        check(text, query("c.t", true, false, true), &["cat", "cat", "cat"]);
        check(text, query(r"\bc\w+", false, false, true), &["Cat", "cat", "concat", "cat_x", "CAT"]);
    }

    #[test]
    fn matches_are_counted_in_chars_and_empty_ones_skipped() {
        let s = Search::new(&query("ö", false, false, false)).unwrap().unwrap();
        assert_eq!(s.matches("😀ö\nÖ"), [1..2, 3..4]);
        check("aaa b", query("a*", false, false, true), &["aaa"]);
        check("x\ny", query("^", false, false, true), &[]);
        check("ab\ncd", query("^.", false, false, true), &["a", "c"]);
        // A rejected non-word match does not hide a whole-word one overlapping it.
        check("aba ab", query("ab", false, true, false), &["ab"]);
        check("a-b -b", query("-b", false, true, false), &["-b", "-b"]);
    }

    #[test]
    fn an_invalid_regex_says_why_and_an_empty_query_finds_nothing() {
        let err = Search::new(&query("(ab", false, false, true)).unwrap_err();
        assert!(err.starts_with("Invalid regular expression") && err.contains("unclosed"), "{err}");
        assert!(Search::new(&query("(ab", false, false, false)).unwrap().is_some());
        assert!(Search::new(&query("", false, false, true)).unwrap().is_none());
    }

    #[test]
    fn regex_replacements_expand_groups() {
        let s = Search::new(&query(r"(\w+)@(\w+)", false, false, true)).unwrap().unwrap();
        let edits = s.replace_all("ada@home, bob@work", "$2:$1");
        assert_eq!(edits, [(0..8, "home:ada".to_owned()), (10..18, "work:bob".to_owned())]);
        let plain = Search::new(&query("a.", false, false, false)).unwrap().unwrap();
        assert_eq!(plain.replace_all("a. ab", "$1"), [(0..2, "$1".to_owned())]);
        assert_eq!(s.replace_one("é x@y", &(2..5), "$2$1"), (2..5, "yx".to_owned()));
    }

    /// Typing the query further, or changing an option, keeps the current match where
    /// it is when it still matches there; the search starts at the cursor.
    #[test]
    fn the_current_match_grows_in_place_as_the_query_is_typed() {
        let doc = doc_with("ca cat Cat cat", 1);
        let mut bar = FindBar::default();
        bar.show(&doc, false, 1, None);
        let text = doc.text();
        bar.query.text = "c".into();
        bar.refresh(&doc, &text);
        assert_eq!(bar.current_match(), Some(3..4), "the first match after the cursor");
        assert_eq!(bar.step(&doc, false), Some(7..8));
        bar.query.text = "cat".into();
        bar.refresh(&doc, &text);
        assert_eq!(bar.current_match(), Some(7..10));
        bar.query.match_case = true;
        bar.refresh(&doc, &text);
        assert_eq!(bar.current_match(), Some(11..14), "the next one when it no longer matches");
        assert_eq!(bar.count_text(), "2 of 2");
    }

    fn doc_with(text: &str, replica: u64) -> Doc {
        let mut d = Doc::new(ReplicaId(replica));
        d.insert(0, text).unwrap();
        d.commit();
        d
    }

    /// A peer's edit inside the current match makes "Replace" show the next match
    /// instead of replacing one the user did not see; an edit before it only moves it.
    #[test]
    fn replace_acts_only_on_the_match_the_user_saw() {
        let mut ours = doc_with("cat cat cat", 1);
        let mut theirs = Doc::new(ReplicaId(2));
        for c in ours.all_changes() {
            theirs.apply(c).unwrap();
        }
        let mut bar = FindBar::default();
        bar.show(&ours, true, 0, None);
        bar.query.text = "cat".into();
        bar.replacement = "dog".into();
        bar.refresh(&ours, &ours.text());
        assert_eq!(bar.current_match(), Some(0..3));

        // A peer types before the first match: it moves, and is still the one replaced.
        let sync = |from: &mut Doc, to: &mut Doc| {
            let c = from.commit().unwrap();
            to.apply(c).unwrap();
        };
        theirs.insert(0, "a ").unwrap();
        sync(&mut theirs, &mut ours);
        let seen = bar.anchored(&ours);
        bar.refresh(&ours, &ours.text());
        assert_eq!(bar.count_text(), "1 of 3");
        let Some(Ok(Action::Replace { edits, .. })) = bar.replace_current(&ours.text(), seen) else {
            panic!("the seen match is replaced")
        };
        assert_eq!(edits, [(2..5, "dog".to_owned())]);

        // A peer changes the current match: "Replace" only shows the next one.
        theirs.insert(4, "r").unwrap();
        sync(&mut theirs, &mut ours);
        assert_eq!(ours.text(), "a cart cat cat");
        let seen = bar.anchored(&ours);
        bar.refresh(&ours, &ours.text());
        assert_eq!(bar.count_text(), "1 of 2");
        assert!(matches!(bar.replace_current(&ours.text(), seen), Some(Err(r)) if r == (7..10)));
    }
}
