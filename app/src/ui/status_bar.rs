//! The status bar at the bottom: whether the open document is saved and synced, the
//! network state, the last notice (it fades after a few seconds and has a close
//! button), the cursor's line and column, and the words and chars of the text and of
//! the selection. A document open for a while that found nobody says so, and what to
//! try; the network state opens the connection panel.

use super::action::Action;
use super::document::OpenDoc;
use super::editor::Counts;
use super::files::Progress;
use super::widgets::{ERROR_RED, dot_ui};
use egui::Color32;
use tandem_net::PeerSync;

/// A message for the user in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Notice {
    /// Something that happened as asked.
    Info(String),
    /// Something that failed.
    Error(String),
}

impl Notice {
    pub(super) fn text(&self) -> &str {
        match self {
            Notice::Info(t) | Notice::Error(t) => t,
        }
    }

    /// How long the notice stays, in seconds: errors stay longer, so that they are read.
    fn lifetime(&self) -> f64 {
        match self {
            Notice::Info(_) => INFO_SECS,
            Notice::Error(_) => ERROR_SECS,
        }
    }
}

/// A document open this long with no peer says that nobody was found.
const NOBODY_FOUND_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// How long an informative notice stays in the bar, in seconds.
pub(super) const INFO_SECS: f64 = 4.0;
/// How long an error stays in the bar, in seconds.
pub(super) const ERROR_SECS: f64 = 10.0;
/// The last part of a notice's time, in seconds, during which it fades out.
const FADE_SECS: f64 = 1.0;

/// The status bar's own state.
#[derive(Debug, Default)]
pub(super) struct StatusBar {
    /// Connected peers (on any document, or none): whether the app is online.
    pub(super) connections: usize,
    /// The last notice, until it times out, is dismissed or a newer one replaces it.
    notice: Option<Notice>,
    /// When the bar first showed the notice (egui's input time), once it has.
    notice_since: Option<f64>,
    /// Edits kept in memory because the disk refused them, and why.
    pub(super) unstored: Option<(usize, String)>,
    /// The imports under way.
    pub(super) imports: Vec<std::sync::Arc<Progress>>,
}

/// What the bar says while edits wait to be stored.
pub(super) fn unstored_text(waiting: usize, error: &str) -> String {
    let edits = if waiting == 1 { "1 edit waits" } else { &format!("{waiting} edits wait") };
    if error.contains("No space left") || error.contains("os error 28") {
        format!("Disk full: {edits} to be saved (retrying)")
    } else {
        format!("Cannot save: {edits} to be saved (retrying): {error}")
    }
}

impl StatusBar {
    /// Shows a notice in place of the last one; its time starts when it is first drawn.
    pub(super) fn notify(&mut self, notice: Notice) {
        self.notice = Some(notice);
        self.notice_since = None;
    }

    /// The notice shown, if any.
    pub(super) fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }

    /// Forgets a notice whose time is over and returns how opaque the notice still is
    /// (1 until it starts to fade); asks for a repaint when it will change.
    fn age_notice(&mut self, ctx: &egui::Context) -> f32 {
        let Some(n) = &self.notice else { return 1.0 };
        let now = ctx.input(|i| i.time);
        let since = *self.notice_since.get_or_insert(now);
        let left = n.lifetime() - (now - since);
        if left <= 0.0 {
            self.notice = None;
            self.notice_since = None;
            return 1.0;
        }
        if left > FADE_SECS {
            ctx.request_repaint_after(std::time::Duration::from_secs_f64(left - FADE_SECS));
            1.0
        } else {
            ctx.request_repaint();
            (left / FADE_SECS) as f32
        }
    }

    /// Draws the bar; `open` is the open document, `offline` whether the engine is
    /// offline.
    /// Clicking the network state (or the note that nobody was found) opens the
    /// connection panel.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, open: Option<&OpenDoc>, offline: bool) -> Option<Action> {
        let opacity = self.age_notice(ui.ctx());
        let mut dismissed = false;
        let mut action = None;
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                if let Some((waiting, error)) = &self.unstored {
                    ui.colored_label(ERROR_RED, unstored_text(*waiting, error));
                    ui.separator();
                } else if let Some(o) = open {
                    ui.label(if o.is_saved() { "✔ Saved" } else { "Saving…" });
                    ui.separator();
                }
                if let Some(o) = open {
                    if !offline && o.peers.is_empty() && o.opened.elapsed() >= NOBODY_FOUND_AFTER {
                        let warn = ui.visuals().warn_fg_color;
                        let note = ui.add(
                            egui::Label::new(
                                egui::RichText::new("⚠ Nobody found for this document").color(warn),
                            )
                            .sense(egui::Sense::click()),
                        );
                        if note.on_hover_text(super::connection::NOBODY_FOUND_HINT).clicked() {
                            action = Some(Action::ShowConnection);
                        }
                    } else {
                        ui.label(sync_text(o, offline));
                    }
                    ui.separator();
                }
                let (c, label) = network_state(ui, offline, self.connections);
                dot_ui(ui, c);
                let state =
                    ui.add(egui::Label::new(egui::RichText::new(label).color(c)).sense(egui::Sense::click()));
                let hover = format!("Connections to other devices: {}. Click for details.", self.connections);
                if state.on_hover_text(hover).clicked() {
                    action = Some(Action::ShowConnection);
                }
                if let Some(o) = open {
                    let n = o.n_peers;
                    ui.label(format!("{n} peer{}", if n == 1 { "" } else { "s" }))
                        .on_hover_text("Connected peers that share this document");
                }
                for p in &self.imports {
                    ui.separator();
                    let bar = egui::ProgressBar::new(p.fraction()).text(p.text()).desired_width(220.0);
                    ui.add(bar);
                    // The bar moves while the file is read.
                    ui.ctx().request_repaint_after(std::time::Duration::from_millis(100));
                }
                if let Some(notice) = &self.notice {
                    ui.separator();
                    let c = match notice {
                        Notice::Error(_) => ERROR_RED,
                        Notice::Info(_) => ui.visuals().text_color(),
                    };
                    ui.colored_label(c.gamma_multiply(opacity), notice.text());
                    let x = ui.small_button("×");
                    // A screen reader reads what the cross does.
                    x.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::WidgetType::Button, true, "Dismiss notice")
                    });
                    dismissed = x.on_hover_text("Dismiss").clicked();
                }
                if let Some(o) = open {
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        let all = Counts { chars: o.view.doc().len_chars(), ..o.editor.counts };
                        ui.label(counts_text(&all));
                        if let Some(sel) = &o.editor.selection_counts {
                            ui.separator();
                            ui.label(format!("Selected: {}", counts_text(sel)));
                        }
                        ui.separator();
                        ui.label(format!("Ln {}, Col {}", o.editor.line_col.0, o.editor.line_col.1));
                    });
                }
            });
        });
        if dismissed {
            self.notice = None;
            self.notice_since = None;
        }
        action
    }
}

/// The network state and its colour: "Offline" when the user works offline, "Online"
/// while at least one connection is up, else "No connection" in a neutral colour.
fn network_state(ui: &egui::Ui, offline: bool, connections: usize) -> (Color32, &'static str) {
    if offline {
        (Color32::from_rgb(0xc0, 0x40, 0x40), "Offline")
    } else if connections > 0 {
        (Color32::from_rgb(0x30, 0xa0, 0x50), "Online")
    } else {
        (ui.visuals().weak_text_color(), "No connection")
    }
}

/// "3 words, 1 char".
fn counts_text(c: &Counts) -> String {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    format!("{}, {}", plural(c.words, "word"), plural(c.chars, "char"))
}

/// How far the open document is in sync with its peers.
fn sync_text(o: &OpenDoc, offline: bool) -> String {
    let behind = o.peers.iter().any(|p| p.sync != PeerSync::InSync);
    if offline {
        "Not syncing".to_owned()
    } else if o.peers.is_empty() {
        "No peers on this document".to_owned()
    } else if behind || o.pending > 0 {
        format!("Syncing… ({} pending)", o.pending)
    } else {
        "Synced".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::{Counts, counts_text, unstored_text};

    #[test]
    fn counts_read_in_the_singular_and_plural() {
        assert_eq!(counts_text(&Counts { words: 1, chars: 1, lines: 1 }), "1 word, 1 char");
        assert_eq!(counts_text(&Counts { words: 0, chars: 12, lines: 3 }), "0 words, 12 chars");
    }

    #[test]
    fn a_full_disk_says_so_and_counts_the_waiting_edits() {
        let full = "I/O error: No space left on device (os error 28)";
        assert_eq!(unstored_text(3, full), "Disk full: 3 edits wait to be saved (retrying)");
        assert_eq!(unstored_text(1, full), "Disk full: 1 edit waits to be saved (retrying)");
        let other = unstored_text(2, "permission denied");
        assert!(
            other.starts_with("Cannot save: 2 edits wait") && other.contains("permission denied"),
            "{other}"
        );
    }
}
