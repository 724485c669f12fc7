//! The history view: a slider over the open document's edits and the read-only text as
//! it was after the chosen one; "Restore this version" makes that text current, as a new
//! edit.

use super::action::Action;
use egui::Id;
use tandem_crdt::{Change, Doc, VectorClock};

/// The history view's state: the document as it was after the first `pos` ops.
#[derive(Debug)]
pub(super) struct History {
    pos: usize,
    /// The number of ops in the document (the slider's end).
    pub(super) total: usize,
    /// The text shown, the position it is for, and who made the edit at that position.
    shown: Option<(usize, String, Option<String>)>,
}

impl History {
    /// The history of a document of `total` ops, at its newest version.
    pub(super) fn new(total: usize) -> History {
        History { pos: total, total, shown: None }
    }

    /// The read-only text shown, once it is computed.
    pub(super) fn shown_text(&self) -> Option<&str> {
        self.shown.as_ref().map(|(_, t, _)| t.as_str())
    }

    /// Who made the edit the chosen version ends with, as the document names them.
    pub(super) fn shown_author(&self) -> Option<&str> {
        self.shown.as_ref().and_then(|(_, _, a)| a.as_deref())
    }

    /// Draws the slider and the text at the chosen point of `doc`'s history.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, doc: &Doc) -> Option<Action> {
        let action = ui
            .horizontal(|ui| {
                ui.label("Version");
                let total = self.total.max(1);
                ui.add(egui::Slider::new(&mut self.pos, 0..=total).text(format!("of {total} edits")));
                if ui.button("Restore this version").clicked() {
                    let old = self.shown_text().unwrap_or_default().to_owned();
                    return Some(Action::Restore(old));
                }
                if ui.button("Back to editing").clicked() {
                    return Some(Action::LeaveHistory);
                }
                None
            })
            .inner;
        if action.is_some() {
            return action;
        }
        if self.shown.as_ref().is_none_or(|(p, _, _)| *p != self.pos) {
            let changes = doc.all_changes();
            let clock = clock_after(&changes, self.pos);
            let text = doc.text_at(&clock).unwrap_or_default();
            let author =
                author_at(&changes, self.pos).map(|a| match tandem_net::authors::author_of(doc, a) {
                    Some(named) => named.name,
                    None => format!("writer {}", &a.to_string()[..8]),
                });
            self.shown = Some((self.pos, text, author));
        }
        if let Some(author) = self.shown_author() {
            ui.label(format!("Edit {} by {author}", self.pos));
        }
        ui.separator();
        if let Some((_, text, _)) = &self.shown {
            egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
                let mut shown = text.as_str();
                ui.add(
                    egui::TextEdit::multiline(&mut shown)
                        .desired_width(f32::INFINITY)
                        .frame(egui::Frame::NONE)
                        .id(Id::new("history-text")),
                );
                ui.ctx()
                    .accesskit_node_builder(Id::new("history-text"), |n| n.set_label("Text at this version"));
            });
        }
        None
    }
}

/// The author of the `n`th op of the document's history (in causal order; none for 0).
fn author_at(changes: &[Change], n: usize) -> Option<tandem_crdt::ReplicaId> {
    let mut left = n as u64;
    for c in changes {
        if left <= c.n_seqs() {
            return (left > 0).then_some(c.author);
        }
        left -= c.n_seqs();
    }
    None
}

/// The clock after the first `n` ops of the document's history (in causal order).
fn clock_after(changes: &[Change], n: usize) -> VectorClock {
    let mut clock = VectorClock::new();
    let mut left = n as u64;
    for c in changes {
        if left == 0 {
            break;
        }
        let take = c.n_seqs().min(left);
        clock.observe(c.author, c.start_seq + take - 1);
        left -= take;
    }
    clock
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
        let changes = grace.all_changes();
        let total = grace.n_ops();
        assert_eq!(author_at(&changes, total), Some(tandem_crdt::ReplicaId(0x6ace)));
        assert_eq!(author_at(&changes, 0), None);
        let mut history = History::new(total);
        history.pos = total - ", Grace too".len();
        let mut h = Harness::new_ui_state(|ui, h: &mut History| drop(h.ui(ui, &grace)), history);
        h.run_steps(2);
        assert_eq!(h.state().shown_text(), Some("Ada wrote"));
        assert_eq!(h.state().shown_author(), Some("Ada"));
        assert!(h.query_by_label(&format!("Edit {} by Ada", total - 11)).is_some());
    }
}
