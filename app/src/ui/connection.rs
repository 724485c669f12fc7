//! The connection panel: how this device reaches others (reachability, the public
//! network, relays, UPnP, its addresses, and how each peer of the open document is
//! connected, with its round-trip time), and the network settings (the public network
//! switch, bootstrap peers and relays), which take effect at the next start.

use super::action::Action;
use crate::config::NetworkSettings;
use egui::{Color32, Id, RichText};
use tandem_net::{DocPeer, NetworkStatus, PeerKind, Reachability};

/// The panel's state: the network status as last reported, and the settings form.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::ui) struct ConnectionPanel {
    /// What the engine last reported.
    pub(in crate::ui) status: Option<NetworkStatus>,
    /// Use the public network.
    public: bool,
    /// Bootstrap peers and relays, one address per line.
    bootstrap: String,
    /// The public network's bootstrap peers, one per line; empty for the defaults.
    public_bootstrap: String,
    /// Why the form cannot be saved.
    pub(in crate::ui) error: Option<String>,
}

impl ConnectionPanel {
    /// The panel with the form filled from `settings`.
    pub(in crate::ui) fn new(settings: &NetworkSettings) -> ConnectionPanel {
        ConnectionPanel {
            status: None,
            public: settings.public_network,
            bootstrap: settings.bootstrap.join("\n"),
            public_bootstrap: settings.public_bootstrap.join("\n"),
            error: None,
        }
    }

    /// The settings the form holds, or which addresses do not parse.
    pub(in crate::ui) fn settings(&self) -> Result<NetworkSettings, String> {
        let lines = |s: &str| -> Vec<String> {
            s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
        };
        let s = NetworkSettings {
            public_network: self.public,
            bootstrap: lines(&self.bootstrap),
            public_bootstrap: lines(&self.public_bootstrap),
        };
        let bad: Vec<String> = [&s.bootstrap, &s.public_bootstrap]
            .into_iter()
            .flat_map(|l| NetworkSettings::bad_addrs(l))
            .collect();
        if bad.is_empty() { Ok(s) } else { Err(format!("Not an address: {}", bad.join("; "))) }
    }
}

/// What a reachability means to a person.
pub(in crate::ui) fn reachability_text(r: Reachability) -> &'static str {
    match r {
        Reachability::Public => "Reachable from the internet",
        Reachability::Private => "Behind a NAT or firewall: peers meet through relays and hole punching",
        Reachability::Unknown => "Not known yet",
    }
}

/// A peer id short enough to read: its key fingerprint, as the peers panel shows it.
fn short(id: &impl ToString) -> String {
    format!("key {}", super::peers_panel::fingerprint(&id.to_string()))
}

fn kind_text(k: PeerKind) -> &'static str {
    match k {
        PeerKind::Lan => "on the LAN",
        PeerKind::Direct => "direct",
        PeerKind::HolePunched => "direct, hole-punched through NAT",
        PeerKind::Relayed => "through a relay",
    }
}

/// The public network's state in a few words.
fn public_text(s: &NetworkStatus) -> String {
    if !s.public_network {
        "Off: LAN, tickets and the peers below only".to_owned()
    } else if s.offline {
        "Not used while working offline".to_owned()
    } else if s.public_reached {
        format!(
            "Reached: {} peers in its DHT; {} document{} announced; {} peer{} found",
            s.public_dht_peers,
            s.public_announced,
            if s.public_announced == 1 { "" } else { "s" },
            s.public_found,
            if s.public_found == 1 { "" } else { "s" },
        )
    } else {
        "Not reached yet (no internet, or its bootstrap peers do not answer)".to_owned()
    }
}

/// Draws the panel; `peers` are the open document's peers.
pub(in crate::ui) fn connection_ui(
    ui: &mut egui::Ui,
    panel: &mut ConnectionPanel,
    peers: Option<&[DocPeer]>,
) -> Option<Action> {
    ui.heading("Connection");
    match &panel.status {
        None => {
            ui.label("Asking the network…");
        }
        Some(s) => status_ui(ui, s, peers),
    }
    ui.separator();
    ui.label(RichText::new("Network settings").strong());
    ui.checkbox(&mut panel.public, "Use the public network (the IPFS DHT and its relays) and UPnP")
        .on_hover_text(
            "Peers of a document meet across the internet through it, under a key only they can compute \
             that changes daily. Off: LAN, tickets and the peers below only.",
        );
    let boot = ui.label("Tandem peers and relays to connect to (one address per line):");
    ui.add(
        egui::TextEdit::multiline(&mut panel.bootstrap)
            .desired_rows(2)
            .desired_width(f32::INFINITY)
            .font(egui::TextStyle::Monospace)
            .hint_text("/ip4/203.0.113.7/tcp/4001/p2p/12D3Koo…")
            .id(Id::new("connection-bootstrap")),
    )
    .labelled_by(boot.id);
    let public = ui.label("Public network bootstrap peers (one per line; empty for the IPFS defaults):");
    ui.add(
        egui::TextEdit::multiline(&mut panel.public_bootstrap)
            .desired_rows(2)
            .desired_width(f32::INFINITY)
            .font(egui::TextStyle::Monospace)
            .id(Id::new("connection-public-bootstrap")),
    )
    .labelled_by(public.id);
    ui.weak("Changes take effect the next time Tandem starts.");
    if let Some(e) = &panel.error {
        ui.colored_label(super::widgets::ERROR_RED, e);
    }
    let form = panel.settings();
    super::dialogs::buttons_ui(
        ui,
        "Save",
        || match form {
            Ok(s) => Action::SaveNetwork(s),
            Err(e) => Action::NetworkError(e),
        },
        "Close",
    )
}

fn status_ui(ui: &mut egui::Ui, s: &NetworkStatus, peers: Option<&[DocPeer]>) {
    egui::Grid::new("connection-status").num_columns(2).spacing([12.0, 6.0]).show(ui, |ui| {
        ui.label("Reachability");
        let colour = match s.reachability {
            Reachability::Public => Color32::from_rgb(0x30, 0xa0, 0x50),
            Reachability::Private => Color32::from_rgb(0xd0, 0x80, 0x00),
            Reachability::Unknown => ui.visuals().weak_text_color(),
        };
        ui.colored_label(colour, reachability_text(s.reachability));
        ui.end_row();
        ui.label("Public network");
        let state = ui.label(public_text(s));
        if !s.public_network {
            state.on_hover_text(
                "Turned off by the setting below, --no-public-network or TANDEM_PUBLIC_NETWORK=off",
            );
        }
        ui.end_row();
        ui.label("Relays");
        if s.relays.is_empty() {
            ui.label("No reservation");
        } else {
            ui.label(format!(
                "Reachable through {}",
                s.relays.iter().map(short).collect::<Vec<_>>().join(", ")
            ));
        }
        ui.end_row();
        ui.label("UPnP");
        ui.label(if s.upnp_mapped { "The router maps a port" } else { "No port mapped" });
        ui.end_row();
        ui.label("Tandem DHT");
        let n = s.private_dht_peers;
        ui.label(format!("{n} peer{}", if n == 1 { "" } else { "s" }));
        ui.end_row();
    });
    egui::CollapsingHeader::new(format!(
        "Addresses ({} listening, {} external)",
        s.listen.len(),
        s.external.len()
    ))
    .id_salt("connection-addresses")
    .show(ui, |ui| {
        for a in &s.listen {
            ui.monospace(a.to_string());
        }
        for a in &s.external {
            ui.monospace(format!("external: {a}"));
        }
    });
    if let Some(peers) = peers {
        ui.label(RichText::new("Peers of this document").strong());
        if peers.is_empty() {
            ui.label("Nobody is connected on this document.");
        }
        for p in peers {
            let name = p.name.as_ref().map_or_else(|| short(&p.peer), |(n, _)| n.clone());
            let rtt = p.rtt.map(|d| format!(", {} ms", d.as_millis())).unwrap_or_default();
            ui.label(format!("{name}: {}{rtt}", kind_text(p.kind)));
        }
    }
}

/// What to try when a document has found nobody for a while.
pub(in crate::ui) const NOBODY_FOUND_HINT: &str = "Nobody holding this document has been found. Check that \
     the other device is online and not working offline; on different networks, that the public network is \
     on in Connection (or a relay you both use is set there); or ask for a fresh ticket.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_keeps_addresses_one_per_line_and_names_a_bad_one() {
        let relay = "/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWAnz7WxmxstAW2JZ9vyDmnocbsHtCvFFfRGdGRM13Yaw6";
        let mut p = ConnectionPanel::new(&NetworkSettings::default());
        assert!(p.public);
        p.bootstrap = format!("  {relay}\n\n");
        p.public = false;
        let s = p.settings().unwrap();
        assert_eq!(s.bootstrap, vec![relay.to_owned()]);
        assert!(!s.public_network && s.public_bootstrap.is_empty());
        assert_eq!(ConnectionPanel::new(&s).settings().unwrap(), s);
        p.public_bootstrap = "not-an-address".into();
        let e = p.settings().unwrap_err();
        assert!(e.contains("not-an-address"), "{e}");
    }
}
