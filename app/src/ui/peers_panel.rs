//! The peers panel on the right: this user and every peer that shares the open
//! document, with how they are connected and how far in sync they are. It only shows;
//! it has no commands.

use super::settings::Settings;
use super::widgets::{colour32, dot_ui};
use egui::RichText;
use tandem_crdt::ReplicaId;
use tandem_net::{DocPeer, PeerKind, PeerSync};

/// Draws the panel: `me` is this user, `peers` the open document's peers.
pub(super) fn peers_panel_ui(
    ui: &mut egui::Ui,
    me: &Settings,
    peers: &[DocPeer],
    equivocators: &[ReplicaId],
    offline: bool,
) {
    egui::Panel::right("peers").resizable(true).default_size(200.0).show(ui, |ui| {
        ui.add_space(6.0);
        ui.label(RichText::new("Peers").strong());
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            dot_ui(ui, colour32(me.colour));
            ui.label(format!("{} (you)", me.name));
        });
        if peers.is_empty() {
            ui.add_space(6.0);
            ui.weak(if offline {
                "Offline."
            } else {
                "Nobody else here yet. Share the ticket to invite someone."
            });
        }
        for p in peers {
            ui.add_space(4.0);
            ui.horizontal(|ui| {
                let (name, colour) = p.name.clone().unwrap_or_else(|| {
                    let id = p.peer.to_string();
                    (format!("peer …{}", &id[id.len().saturating_sub(6)..]), 0x888888)
                });
                dot_ui(ui, colour32(colour));
                ui.label(name);
            });
            ui.weak(format!("    {} · {}", kind_label(p.kind), sync_label(p.sync)));
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
}

fn kind_label(k: PeerKind) -> &'static str {
    match k {
        PeerKind::Lan => "LAN",
        PeerKind::Direct => "direct",
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
