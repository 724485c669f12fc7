//! The history view: the document's named versions first, then a slider over its edits,
//! and the read-only text as it was at the chosen one, with who made its last edit;
//! "Restore this version" makes that text current, as a new edit, and "Name" names the
//! current version (it syncs with the document).

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
    /// The named version shown instead of the slider's, with its text.
    named: Option<(String, String)>,
    /// The name typed for the current version.
    new_name: String,
    /// The named versions, read when the document's version (its op count) changes.
    versions: Option<(u64, Vec<tandem_net::versions::NamedVersion>)>,
}

impl History {
    /// The history of a document of `total` ops, at its newest version.
    pub(super) fn new(total: usize) -> History {
        History { pos: total, total, shown: None, named: None, new_name: String::new(), versions: None }
    }

    /// The read-only text shown, once it is computed.
    pub(super) fn shown_text(&self) -> Option<&str> {
        match &self.named {
            Some((_, text)) => Some(text),
            None => self.shown.as_ref().map(|(_, t, _)| t.as_str()),
        }
    }

    /// The named versions, each a button that shows it; a field and a button to name the
    /// current version.
    fn named_ui(&mut self, ui: &mut egui::Ui, doc: &Doc) -> Option<Action> {
        let ops = doc.version().n_ops();
        if self.versions.as_ref().is_none_or(|(n, _)| *n != ops) {
            self.versions = Some((ops, tandem_net::versions::named_versions(doc)));
        }
        let versions = self.versions.as_ref().map_or(&[][..], |(_, v)| v.as_slice());
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            ui.label(if versions.is_empty() { "No named versions" } else { "Named versions:" });
            for v in versions {
                let selected = self.named.as_ref().is_some_and(|(n, _)| *n == v.name);
                let by = tandem_net::authors::author_of(doc, v.by)
                    .map_or_else(|| "a writer".to_owned(), |a| a.name);
                let button = ui.selectable_label(selected, &v.name).on_hover_text(format!("Named by {by}"));
                if button.clicked() {
                    let text = doc.text_at(&v.clock).unwrap_or_else(|_| "(not received yet)".to_owned());
                    self.named = Some((v.name.clone(), text));
                }
            }
        });
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

    /// Who made the edit the chosen version ends with, as the document names them.
    pub(super) fn shown_author(&self) -> Option<&str> {
        self.shown.as_ref().and_then(|(_, _, a)| a.as_deref())
    }

    /// Draws the slider and the text at the chosen point of `doc`'s history.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, doc: &Doc) -> Option<Action> {
        if let Some(a) = self.named_ui(ui, doc) {
            return Some(a);
        }
        let action = ui
            .horizontal(|ui| {
                ui.label("Version");
                let total = self.total.max(1);
                let slider =
                    ui.add(egui::Slider::new(&mut self.pos, 0..=total).text(format!("of {total} edits")));
                if slider.changed() {
                    self.named = None;
                }
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
        match (&self.named, self.shown_author()) {
            (Some((name, _)), _) => {
                ui.label(format!("Version “{name}”"));
            }
            (None, Some(author)) => {
                ui.label(format!("Edit {} by {author}", self.pos));
            }
            (None, None) => {}
        }
        ui.separator();
        if let Some(text) = self.shown_text() {
            egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
                let mut shown = text;
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
