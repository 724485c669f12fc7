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
    /// The text shown and the position it is for.
    shown: Option<(usize, String)>,
}

impl History {
    /// The history of a document of `total` ops, at its newest version.
    pub(super) fn new(total: usize) -> History {
        History { pos: total, total, shown: None }
    }

    /// The read-only text shown, once it is computed.
    pub(super) fn shown_text(&self) -> Option<&str> {
        self.shown.as_ref().map(|(_, t)| t.as_str())
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
        if self.shown.as_ref().is_none_or(|(p, _)| *p != self.pos) {
            let clock = clock_after(&doc.all_changes(), self.pos);
            let text = doc.text_at(&clock).unwrap_or_default();
            self.shown = Some((self.pos, text));
        }
        ui.separator();
        if let Some((_, text)) = &self.shown {
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
        h.get_by_label("Restore this version").click();
        h.run_steps(2);
        let res = &h.state().1;
        assert!(matches!(&res[..], [Action::Restore(t)] if t == "one"), "{res:?}");
    }
}
