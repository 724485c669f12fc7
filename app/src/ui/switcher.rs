//! The quick switcher (Ctrl+P or Ctrl+O): a field over the window where typing part of
//! a document's name narrows the documents list by fuzzy matching (the typed chars in
//! order, not necessarily together), best match first. Up and Down choose, Enter opens,
//! Escape closes.

use super::action::Action;
use egui::{Id, Key, Modifiers};
use tandem_net::DocSummary;
use tandem_storage::DocId;

/// At most this many documents are listed.
const MAX_SHOWN: usize = 12;

/// The switcher's field (its id, to focus it).
pub fn switcher_field_id() -> Id {
    Id::new("switcher-query")
}

/// How well `query` matches `name`: `None` unless every char of the query appears in
/// the name in order (case does not matter); higher is better. Chars that follow each
/// other, chars at the start of a word and a match near the start score more, and a
/// shorter name wins a tie.
pub(super) fn fuzzy_score(query: &str, name: &str) -> Option<i64> {
    let name: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    let mut score = 0i64;
    let mut at = 0;
    let mut prev: Option<usize> = None;
    for q in query.chars().flat_map(char::to_lowercase).filter(|c| !c.is_whitespace()) {
        let i = at + name[at..].iter().position(|c| *c == q)?;
        score += 1;
        if prev.is_some_and(|p| p + 1 == i) {
            score += 5;
        }
        if i == 0 || !name[i - 1].is_alphanumeric() {
            score += 3;
        }
        if prev.is_none() {
            score -= i.min(10) as i64;
        }
        prev = Some(i);
        at = i + 1;
    }
    Some(score * 1000 - name.len().min(999) as i64)
}

/// The documents matching `query`, best first (in list order on equal scores): their
/// indices in `names`.
pub(super) fn ranked(query: &str, names: &[String]) -> Vec<usize> {
    let mut scored: Vec<(i64, usize)> =
        names.iter().enumerate().filter_map(|(i, n)| Some((fuzzy_score(query, n)?, i))).collect();
    scored.sort_by_key(|(s, i)| (-s, *i));
    scored.into_iter().map(|(_, i)| i).collect()
}

/// The switcher's state while it is shown.
#[derive(Debug, Default)]
pub(super) struct Switcher {
    query: String,
    /// The chosen entry among the matches.
    selected: usize,
    /// Focus the field on the next frame (it just opened).
    focused: bool,
}

impl Switcher {
    /// Draws the switcher over the window, listing `docs` by name; `open_name` is the
    /// open document's name as the editor shows it. Returns what the user chose.
    pub(super) fn ui(
        &mut self,
        ctx: &egui::Context,
        docs: &[DocSummary],
        open_name: Option<(DocId, String)>,
    ) -> Vec<Action> {
        let docs: Vec<&DocSummary> = docs.iter().filter(|d| d.error.is_none()).collect();
        let names: Vec<String> = docs
            .iter()
            .map(|d| match &open_name {
                Some((id, name)) if *id == d.id => name.clone(),
                _ if d.name.is_empty() => "Untitled".to_owned(),
                _ => d.name.clone(),
            })
            .collect();
        let mut action = None;
        let modal = egui::Modal::new(Id::new("switcher")).show(ctx, |ui| {
            ui.set_width(420.0);
            let heading = ui.heading("Switch document");
            // Up and Down choose among the matches, also while the field has the focus.
            let (up, down) = ui.input_mut(|i| {
                (i.consume_key(Modifiers::NONE, Key::ArrowUp), i.consume_key(Modifiers::NONE, Key::ArrowDown))
            });
            let field = egui::TextEdit::singleline(&mut self.query)
                .id(switcher_field_id())
                .hint_text("Type part of a document's name")
                .desired_width(f32::INFINITY);
            let resp = ui.add(field).labelled_by(heading.id);
            if !std::mem::take(&mut self.focused) {
                self.focused = true;
                resp.request_focus();
            }
            if resp.changed() {
                self.selected = 0;
            }
            let matches = ranked(&self.query, &names);
            let shown = matches.len().min(MAX_SHOWN);
            if shown > 0 {
                if down {
                    self.selected = (self.selected + 1) % shown;
                }
                if up {
                    self.selected = (self.selected + shown - 1) % shown;
                }
                self.selected = self.selected.min(shown - 1);
            }
            let enter = ui.input(|i| i.key_pressed(Key::Enter));
            ui.add_space(4.0);
            for (row, i) in matches.iter().take(MAX_SHOWN).enumerate() {
                let r = ui.selectable_label(row == self.selected, &names[*i]);
                if r.clicked() {
                    action = Some(Action::Open(docs[*i].id));
                }
            }
            if matches.is_empty() {
                ui.weak(if names.is_empty() { "No documents yet." } else { "No document matches." });
            } else if enter && action.is_none() {
                action = Some(Action::Open(docs[matches[self.selected]].id));
            }
        });
        match action {
            Some(open) => vec![Action::CloseOverlay, open],
            None => modal.should_close().then_some(Action::CloseOverlay).into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, names: &[&str], expected: &[&str]) {
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let got: Vec<&str> = ranked(query, &names).into_iter().map(|i| names[i].as_str()).collect();
        assert_eq!(got, expected, "{query:?}");
    }

    #[test]
    fn fuzzy_matches_chars_in_order_best_first() {
        let names = ["Trip to Lisbon", "Shopping list", "Lisbon budget", "Notes", "Untitled"];
        check("lis", &names, &["Lisbon budget", "Trip to Lisbon", "Shopping list"]);
        check("tl", &names, &["Trip to Lisbon", "Untitled"]);
        check("LB", &names, &["Lisbon budget", "Trip to Lisbon"]);
        check("xyz", &names, &[]);
        check("", &names, &["Notes", "Untitled", "Shopping list", "Lisbon budget", "Trip to Lisbon"]);
        check("ÉTÉ", &["Notes d'été", "Été"], &["Été", "Notes d'été"]);
    }
}
