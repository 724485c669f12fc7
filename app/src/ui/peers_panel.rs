//! The peers panel on the right: this user and every peer that shares the open
//! document, with how they are connected and how far in sync they are. Clicking a peer
//! whose cursor is known scrolls the editor to it; "Follow" keeps it in view.

use super::action::Action;
use super::keys::{self, Part};
use super::widgets::{colour_of_key, colour32, dot_ui};
use egui::RichText;
use tandem_crdt::ReplicaId;
use tandem_net::{DocPeer, PeerKind, PeerSync};

/// What the panel shows besides the peers.
#[derive(Debug)]
pub(super) struct PeersView<'a> {
    /// This user's name and colour.
    pub(super) me: (&'a str, u32),
    /// The keys of the peers whose cursor is in the document.
    pub(super) with_cursor: Vec<String>,
    /// The key of the peer the editor follows.
    pub(super) following: Option<&'a str>,
    pub(super) offline: bool,
}

/// Draws the panel for the open document's `peers`.
pub(super) fn peers_panel_ui(
    ui: &mut egui::Ui,
    view: &PeersView<'_>,
    peers: &[DocPeer],
    equivocators: &[ReplicaId],
) -> Option<Action> {
    let mut action = None;
    let mut first = None;
    let panel = egui::Panel::right("peers").resizable(true).default_size(200.0).show(ui, |ui| {
        ui.add_space(6.0);
        ui.label(RichText::new("Peers").strong());
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            dot_ui(ui, colour32(view.me.1));
            ui.label(format!("{} (you)", view.me.0));
        });
        if peers.is_empty() {
            ui.add_space(6.0);
            ui.weak(if view.offline {
                "Offline."
            } else {
                "Nobody else here yet. Share the ticket to invite someone."
            });
        }
        for p in peers {
            ui.add_space(4.0);
            let key = p.peer.to_string();
            ui.horizontal(|ui| {
                let (name, colour) = p.name.clone().unwrap_or_else(|| {
                    (format!("peer …{}", &key[key.len().saturating_sub(6)..]), colour_of_key(&key))
                });
                dot_ui(ui, colour32(colour));
                if !view.with_cursor.contains(&key) {
                    ui.label(name);
                    return;
                }
                let shown = ui.button(&name).on_hover_text(format!("Show {name}'s cursor"));
                first = first.or(Some(shown.id));
                if shown.clicked() {
                    action = Some(Action::ShowPeer(key.clone()));
                }
                let following = view.following == Some(key.as_str());
                let follow = ui.selectable_label(following, "Follow");
                // A screen reader tells whom each "Follow" is for.
                let what = format!("Follow {name}");
                follow.widget_info(|| {
                    egui::WidgetInfo::selected(egui::WidgetType::SelectableLabel, true, following, &what)
                });
                let follow = follow.on_hover_text(format!("Keep {name}'s cursor in view"));
                if follow.clicked() {
                    action = Some(Action::Follow((!following).then(|| key.clone())));
                }
            });
            let rtt = p.rtt.map(|d| format!(" · {} ms", d.as_millis())).unwrap_or_default();
            ui.weak(format!("    {}{rtt} · {}", kind_label(p.kind), sync_label(p.sync)));
            // The device's key, which a name cannot fake: the same on both devices'
            // screens when two people compare.
            ui.weak(format!("    key {}", fingerprint(&key))).on_hover_text(
                "This device's key fingerprint: compare it with the person to be sure who it is",
            );
        }
        for author in equivocators {
            ui.add_space(6.0);
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("⚠ Writer {author} signed two versions of its edits"),
            )
            .on_hover_text("The second version was refused; both are kept as proof.");
        }
    });
    if let Some(first) = first {
        keys::mark_part(ui.ctx(), Part::Peers, panel.response.rect, first);
    }
    action
}

/// A key fingerprint short enough to read out: the last 8 chars of the peer id, in
/// groups of four.
pub(super) fn fingerprint(peer_id: &str) -> String {
    let tail: Vec<char> = peer_id.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
    let (a, b) = tail.split_at(tail.len().min(4));
    format!("{}-{}", a.iter().collect::<String>(), b.iter().collect::<String>())
}

fn kind_label(k: PeerKind) -> &'static str {
    match k {
        PeerKind::Lan => "LAN",
        PeerKind::Direct => "direct",
        PeerKind::HolePunched => "direct (hole-punched)",
        PeerKind::Relayed => "relayed",
    }
}

fn sync_label(s: PeerSync) -> &'static str {
    match s {
        PeerSync::InSync => "in sync",
        PeerSync::Behind => "behind",
        PeerSync::Ahead => "ahead (receiving)",
        PeerSync::Unknown => "connecting",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_the_keys_last_eight_chars_in_two_groups() {
        assert_eq!(fingerprint("12D3KooWAnz7WxmxstAW2JZ9vyDmnocbsHtCvFFfRGdGRM13Yaw6"), "RM13-Yaw6");
        assert_eq!(fingerprint("abc"), "abc-");
    }
}
