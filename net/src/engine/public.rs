//! Meeting a document's peers across the internet through the public libp2p network
//! that already exists: the IPFS Amino DHT (`/ipfs/kad/1.0.0`), joined as a client
//! through its public bootstrap peers. Nobody has to run a server.
//!
//! **What the public network sees.** Each document is announced and looked up under a
//! *rendezvous key* ([`crate::crypto::DocCipher::rendezvous`]): a sha2-256 multihash
//! that only holders of the document key can compute and that changes every UTC day,
//! so public DHT servers can neither read it nor link one day's key to the next or to
//! the document's gossip topic. A peer announces today's key (and the neighbouring
//! day's within an hour of midnight) and looks up today's (and the neighbour's within
//! two hours: clocks differ). The public DHT is a client only: it serves nobody and
//! stores nothing for others. Public peers that speak no Tandem protocol are never
//! greeted, counted as peers, or told anything about a document (`members.rs`).
//!
//! **Addresses.** Public DHT servers ignore a provider record without addresses, and
//! a record carries only this peer's *confirmed external* addresses: one found by
//! AutoNAT, mapped by UPnP, or a relay reservation's circuit address. So documents are
//! announced once an external address exists, and again a few seconds after the
//! external addresses change. A peer behind NAT reserves on a relay of the public
//! network (`relay.rs`), which is enough for the two sides to meet and hole-punch.
//!
//! **Load.** Each public query walks tens of peers, so public work is paced apart from
//! the private DHT's: one announcement and one lookup a second, lookups only for
//! documents that lack members (with the private DHT's back-off).

use super::Engine;
use super::discovery::{ENOUGH_MEMBERS, due_lookups};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, kad};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tandem_storage::DocId;
use tracing::{debug, info};

/// The public network's bootstrap peers (those of IPFS's Kubo).
pub(super) const AMINO_BOOTSTRAP: [&str; 7] = [
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/dnsaddr/va1.bootstrap.libp2p.io/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8",
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
    "/ip4/104.131.131.82/udp/4001/quic-v1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
];

/// The environment variable that turns the public network off (`off`).
pub const PUBLIC_NETWORK_ENV: &str = "TANDEM_PUBLIC_NETWORK";

/// A rendezvous period: a UTC day, in seconds.
const PERIOD: u64 = 24 * 60 * 60;
/// Within this of a period's boundary, the neighbouring period is announced too...
const ANNOUNCE_MARGIN: u64 = 60 * 60;
/// ...and within this, looked up too.
const LOOKUP_MARGIN: u64 = 2 * 60 * 60;
/// Public announcements, and lookups, started per pass (a second), at most.
const PUBLIC_PER_PASS: usize = 1;
/// How long after the external addresses change documents are announced again (they
/// come in bursts: AutoNAT, UPnP and relays confirm one after another).
const ANNOUNCE_SETTLE: Duration = Duration::from_secs(5);
/// The public DHT is bootstrapped again this often while online...
const REBOOTSTRAP: Duration = Duration::from_secs(30 * 60);
/// ...and this often until it first answers (a laptop started before its network).
const REBOOTSTRAP_UNREACHED: Duration = Duration::from_secs(60);
/// How long one public query may run.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Keys this peer may provide on the public DHT: today's, and a neighbour's, for each
/// document the private DHT may announce.
const MAX_PUBLIC_KEYS: usize = 2 * super::discovery::MAX_PROVIDED;

/// Whether the environment allows the public network: `TANDEM_PUBLIC_NETWORK=off`
/// (or `0`, `false`, `no`) forbids it, for machines with no internet and for tests.
pub(super) fn allowed() -> bool {
    let off = |v: String| ["off", "0", "false", "no"].iter().any(|o| v.trim().eq_ignore_ascii_case(o));
    !std::env::var(PUBLIC_NETWORK_ENV).is_ok_and(off)
}

/// The public DHT's behaviour: a client of `/ipfs/kad/1.0.0`. A client answers no
/// queries and does not advertise the protocol, so public peers never add it to their
/// routing tables or ask it to store anything.
pub(super) fn dht(peer: PeerId) -> kad::Behaviour<kad::store::MemoryStore> {
    let mut config = kad::Config::new(kad::PROTOCOL_NAME);
    config.set_query_timeout(QUERY_TIMEOUT);
    config.set_record_filtering(kad::StoreInserts::FilterBoth);
    // Bootstraps are driven by the engine, and only while online.
    config.set_periodic_bootstrap_interval(None);
    // Keys change daily; a republish within the day refreshes the addresses.
    config.set_provider_publication_interval(Some(Duration::from_secs(6 * 60 * 60)));
    config.disjoint_query_paths(true);
    let store_config =
        kad::store::MemoryStoreConfig { max_provided_keys: MAX_PUBLIC_KEYS, ..Default::default() };
    let store = kad::store::MemoryStore::with_config(peer, store_config);
    let mut dht = kad::Behaviour::with_config(peer, store, config);
    dht.set_mode(Some(kad::Mode::Client));
    dht
}

/// The periods to use at `unix` seconds: its own, and the neighbouring one when `unix`
/// is within `margin` of the boundary between them.
pub(super) fn periods(unix: u64, margin: u64) -> Vec<u64> {
    let (period, into) = (unix / PERIOD, unix % PERIOD);
    let mut res = vec![period];
    if into < margin && period > 0 {
        res.push(period - 1);
    }
    if PERIOD - into <= margin {
        res.push(period + 1);
    }
    res
}

/// What the public network was told and asked.
#[derive(Debug, Default)]
pub(super) struct Public {
    /// Whether the public network is used at all.
    pub(super) on: bool,
    /// The bootstrap peers.
    bootstrap: Vec<(PeerId, Multiaddr)>,
    /// When the public DHT was last bootstrapped.
    last_bootstrap: Option<Instant>,
    /// Whether a bootstrap ever reached the public DHT.
    pub(super) reached: bool,
    /// Rendezvous keys in use, with their document and period.
    keys: HashMap<kad::RecordKey, (DocId, u64)>,
    /// The periods each document is announced under.
    announced: HashMap<DocId, Vec<u64>>,
    /// Announcements wait for an external address, and until then after a change.
    announce_from: Option<Instant>,
    /// When each document is looked up next, and the wait after that.
    lookups: HashMap<DocId, (Instant, Duration)>,
    /// Providers of this device's documents found on the public DHT, in all.
    pub(super) found: u64,
    /// Providers dialled since the last pass (a query names each several times).
    dialling: HashSet<PeerId>,
}

impl Public {
    pub(super) fn new(on: bool, bootstrap: &[Multiaddr]) -> Public {
        let defaults: Vec<Multiaddr>;
        let list = if bootstrap.is_empty() {
            defaults = AMINO_BOOTSTRAP.iter().filter_map(|a| a.parse().ok()).collect();
            &defaults
        } else {
            bootstrap
        };
        let bootstrap = list
            .iter()
            .filter_map(|a| match a.iter().last() {
                Some(Protocol::P2p(peer)) => {
                    Some((peer, a.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect()))
                }
                _ => None,
            })
            .collect();
        Public { on, bootstrap, ..Public::default() }
    }

    /// Whether `peer` is one of the public network's bootstrap peers.
    pub(super) fn is_bootstrap(&self, peer: &PeerId) -> bool {
        self.bootstrap.iter().any(|(p, _)| p == peer)
    }

    /// Documents announced on the public DHT now.
    pub(super) fn n_announced(&self) -> usize {
        self.announced.len()
    }

    /// Bootstraps again at the next pass (this peer came back online).
    pub(super) fn bootstrap_soon(&mut self) {
        self.last_bootstrap = None;
    }

    /// Looks a document up at the next pass (it was just joined, or lost its members).
    pub(super) fn look_soon(&mut self, doc: DocId) {
        self.lookups.insert(doc, (Instant::now(), super::discovery::LOOKUP_FIRST));
    }
}

impl Engine {
    /// The public DHT's work that is due (called once a second while online): bootstrap,
    /// announce documents under the current rendezvous keys once an external address
    /// exists, and look up documents that lack members.
    pub(super) fn public_pass(&mut self, now: Instant) {
        if !self.public.on || self.offline {
            return;
        }
        self.public.dialling.clear();
        let every = if self.public.reached { REBOOTSTRAP } else { REBOOTSTRAP_UNREACHED };
        if self.public.last_bootstrap.is_none_or(|t| now - t >= every) {
            self.public.last_bootstrap = Some(now);
            self.dial_public_bootstrap();
            let Some(kad) = self.swarm.behaviour_mut().public_kad.as_mut() else { return };
            for (peer, addr) in &self.public.bootstrap {
                kad.add_address(peer, addr.clone());
            }
            if let Err(e) = kad.bootstrap() {
                debug!("cannot bootstrap the public DHT: {e}");
            }
        }
        let unix = crate::wall_clock_s();
        self.forget_old_keys(unix);
        if self.swarm.external_addresses().next().is_some()
            && self.public.announce_from.is_some_and(|t| t <= now)
        {
            let wanted = periods(unix, ANNOUNCE_MARGIN);
            let stale: Vec<DocId> = self
                .docs
                .keys()
                .filter(|d| self.public.announced.get(d) != Some(&wanted))
                .take(PUBLIC_PER_PASS)
                .copied()
                .collect();
            for id in stale {
                self.announce_public(id, &wanted);
            }
        }
        if !self.public.reached {
            // A lookup before the public DHT answers finds nobody and only backs off.
            return;
        }
        let ids: Vec<DocId> = self.docs.keys().copied().collect();
        let members = super::discovery::connected_members(&self.sync, &self.connected);
        for id in due_lookups(&mut self.public.lookups, &ids, now, PUBLIC_PER_PASS, false, members) {
            let Some(d) = self.docs.get(&id) else { continue };
            let keys: Vec<(kad::RecordKey, u64)> = periods(unix, LOOKUP_MARGIN)
                .into_iter()
                .map(|p| (kad::RecordKey::new(&d.cipher.rendezvous(p)), p))
                .collect();
            for (key, period) in keys {
                self.public.keys.insert(key.clone(), (id, period));
                self.dht_queries += 1;
                if let Some(kad) = self.swarm.behaviour_mut().public_kad.as_mut() {
                    kad.get_providers(key);
                }
            }
        }
    }

    /// Dials the public bootstrap peers, over QUIC first where both sides can (this peer
    /// listens on QUIC): the address they see this peer at over QUIC is one a hole punch
    /// can use, and QUIC needs one round trip fewer. A peer that does not listen on QUIC
    /// would be seen at a port it dialled from, which no hole punch reaches: it dials
    /// over TCP first, from its listening port.
    fn dial_public_bootstrap(&mut self) {
        let quic = |a: &Multiaddr| a.iter().any(|p| matches!(p, Protocol::QuicV1));
        let listens_quic = self.swarm.listeners().any(quic);
        let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
        for (peer, addr) in &self.public.bootstrap {
            by_peer.entry(*peer).or_default().push(addr.clone());
        }
        for (peer, mut addrs) in by_peer {
            addrs.sort_by_key(|a| quic(a) != listens_quic);
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addrs)
                .override_dial_concurrency_factor(std::num::NonZeroU8::MIN)
                .condition(libp2p::swarm::dial_opts::PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                debug!("cannot dial the public bootstrap peer {peer}: {e}");
            }
        }
    }

    /// Announces `id` under the keys of `periods` only (those of other periods are
    /// withdrawn: the public DHT would otherwise keep republishing them).
    fn announce_public(&mut self, id: DocId, periods: &[u64]) {
        let old = self.public.announced.insert(id, periods.to_vec()).unwrap_or_default();
        let Some(d) = self.docs.get(&id) else { return };
        let cipher = d.cipher.clone();
        let Some(kad) = self.swarm.behaviour_mut().public_kad.as_mut() else { return };
        for p in old.iter().filter(|p| !periods.contains(p)) {
            kad.stop_providing(&kad::RecordKey::new(&cipher.rendezvous(*p)));
        }
        for p in periods {
            let key = kad::RecordKey::new(&cipher.rendezvous(*p));
            self.public.keys.insert(key.clone(), (id, *p));
            self.dht_queries += 1;
            if let Err(e) = kad.start_providing(key) {
                debug!("cannot announce {id} on the public DHT: {e}");
            }
        }
    }

    /// Forgets the keys of periods long past (their lookups are over).
    fn forget_old_keys(&mut self, unix: u64) {
        self.public.keys.retain(|_, (_, p)| p.abs_diff(unix / PERIOD) <= 1);
    }

    /// Withdraws a closed document from the public DHT.
    pub(super) fn forget_public(&mut self, id: DocId, cipher: &crate::crypto::DocCipher) {
        self.public.lookups.remove(&id);
        self.public.keys.retain(|_, (d, _)| *d != id);
        let periods = self.public.announced.remove(&id).unwrap_or_default();
        let Some(kad) = self.swarm.behaviour_mut().public_kad.as_mut() else { return };
        for p in periods {
            kad.stop_providing(&kad::RecordKey::new(&cipher.rendezvous(p)));
        }
    }

    /// This peer's external addresses changed: announce everything again soon, so
    /// provider records carry the addresses that work now.
    pub(super) fn on_external_addrs_changed(&mut self) {
        self.public.announced.clear();
        self.public.announce_from = Some(Instant::now() + ANNOUNCE_SETTLE);
    }

    /// What the public DHT reports.
    pub(super) fn on_public_kad(&mut self, ev: kad::Event) {
        let kad::Event::OutboundQueryProgressed { id, result, .. } = ev else { return };
        match result {
            kad::QueryResult::Bootstrap(Ok(ok)) => {
                if !self.public.reached {
                    info!("reached the public network ({} peers left to ask)", ok.num_remaining);
                }
                self.public.reached = true;
            }
            kad::QueryResult::Bootstrap(Err(e)) => debug!("public DHT bootstrap: {e}"),
            kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders { key, providers })) => {
                let Some((doc, _)) = self.public.keys.get(&key).copied() else { return };
                let me = *self.swarm.local_peer_id();
                // A query reports providers many times over: the dials of this pass count.
                let mut wanted =
                    ENOUGH_MEMBERS.saturating_sub(self.n_members(doc) + self.public.dialling.len());
                for peer in providers {
                    if wanted == 0 || self.offline {
                        break;
                    }
                    if peer != me && !self.connected.contains_key(&peer) && self.public.dialling.insert(peer)
                    {
                        self.public.found += 1;
                        // Dialled while the query runs: it holds the provider's addresses.
                        debug!("the public DHT names {peer} as a peer of {doc}");
                        self.swarm.dial(peer).ok();
                        wanted -= 1;
                    }
                }
                if wanted == 0
                    && let Some(mut q) =
                        self.swarm.behaviour_mut().public_kad.as_mut().and_then(|k| k.query_mut(&id))
                {
                    q.finish();
                }
            }
            kad::QueryResult::StartProviding(Err(e)) => debug!("public announcement: {e}"),
            _ => {}
        }
    }

    /// Connected peers that are part of the public DHT's routing table.
    pub(super) fn public_routing_peers(&mut self) -> usize {
        self.swarm
            .behaviour_mut()
            .public_kad
            .as_mut()
            .map_or(0, |k| k.kbuckets().map(|b| b.num_entries()).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_midnight_the_neighbouring_day_is_used_too() {
        let day = 20_424;
        let noon = day * PERIOD + PERIOD / 2;
        assert_eq!(periods(noon, ANNOUNCE_MARGIN), vec![day]);
        assert_eq!(periods(noon, LOOKUP_MARGIN), vec![day]);
        let just_after = day * PERIOD + 30 * 60;
        assert_eq!(periods(just_after, ANNOUNCE_MARGIN), vec![day, day - 1]);
        let just_before = (day + 1) * PERIOD - 90 * 60;
        assert_eq!(periods(just_before, ANNOUNCE_MARGIN), vec![day], "90 min before: announce today only");
        assert_eq!(periods(just_before, LOOKUP_MARGIN), vec![day, day + 1], "but look up tomorrow too");
        // Two clocks 90 minutes apart across midnight still share a key.
        let behind = (day + 1) * PERIOD - 45 * 60;
        let ahead = behind + 90 * 60;
        let announced = periods(behind, ANNOUNCE_MARGIN);
        assert!(periods(ahead, LOOKUP_MARGIN).iter().any(|p| announced.contains(p)));
        let announced = periods(ahead, ANNOUNCE_MARGIN);
        assert!(periods(behind, LOOKUP_MARGIN).iter().any(|p| announced.contains(p)));
        assert_eq!(periods(10, LOOKUP_MARGIN), vec![0], "no period before the first");
    }

    #[test]
    fn the_default_bootstrap_list_parses_and_a_custom_one_replaces_it() {
        let public = Public::new(true, &[]);
        assert_eq!(public.bootstrap.len(), AMINO_BOOTSTRAP.len());
        assert!(public.bootstrap.iter().all(|(_, a)| !a.iter().any(|p| matches!(p, Protocol::P2p(_)))));
        let peer = PeerId::random();
        let custom: Multiaddr = format!("/ip4/10.1.0.1/tcp/4001/p2p/{peer}").parse().unwrap();
        let public = Public::new(true, &[custom, "/ip4/10.1.0.2/tcp/1".parse().unwrap()]);
        assert_eq!(public.bootstrap, vec![(peer, "/ip4/10.1.0.1/tcp/4001".parse().unwrap())]);
        assert!(public.is_bootstrap(&peer));
    }
}
