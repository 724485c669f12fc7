//! Tandem's peer-to-peer sync over libp2p: the engine actor ([`EngineHandle`]), the sync
//! protocol's decisions as a state machine without IO ([`sync`]), tickets, end-to-end
//! encryption with the document key, and the wire formats.
//!
//! Live edits travel by gossipsub (one topic per document, named by a hash of its key;
//! every message sealed with the key, every change signed by its author, validated
//! before it is forwarded). Catch-up uses request-response `/tandem/sync/3`: "here is
//! my vector clock" answered by "here are the changes you lack", with a peer that proved
//! it holds the document's key (a hello of tags bound to both peers, which names no
//! document to anyone else), when a change arrives before its deps, and when a peer's
//! beacon shows it has more. Peers are found through
//! tickets, mDNS, Tandem's own Kademlia DHT and, across the internet, the public IPFS
//! DHT (under a rendezvous key derived from the document key that changes daily), and
//! reach each other through relays (circuit relay v2, with DCUtR hole punching, AutoNAT
//! and UPnP) when they cannot dial each other.
//!
//! **Invariants.** A local change is stored durably before it is published; a received
//! change is decrypted, its seal verified and the CRDT has accepted it before it is
//! stored, forwarded or shown. At most one catch-up request per peer and document is
//! outstanding ([`sync::State`]).
#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod authors;
mod codec;
pub mod crypto;
mod engine;
mod error;
pub mod rekey;
pub mod sync;
pub mod ticket;
pub mod versions;
pub mod wire;

pub use codec::SYNC_PROTOCOL;
pub use engine::{
    DocMember, DocPeer, DocSummary, DocView, EngineHandle, Event, FIRST_LINE_CHARS, GOSSIP_PROTOCOL,
    NetConfig, NetworkStatus, PUBLIC_NETWORK_ENV, PeerInfo, PeerKind, PeerPresence, Reachability, Status,
    Traffic, TrashedDoc, Waker, first_line_title, name_of, title_of, titles_of,
};
pub use error::NetError;

/// This device's wall clock in whole seconds since the Unix epoch (0 if it is set
/// before it).
pub fn wall_clock_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The time local changes carry ([`tandem_crdt::Doc::set_wall_clock`]): the wall clock
/// rounded down to the minute. The history shows no finer, and a document keeps one
/// time per author where it changes, so typing costs one entry a minute in its history
/// rather than one a second (on automerge-paper typed at 2 patches a second, +3 KB
/// instead of +47 KB: BENCHMARKS.md).
pub fn change_time() -> u64 {
    wall_clock_s() / 60 * 60
}
pub use libp2p::{Multiaddr, PeerId};
pub use sync::{PRESENCE_TTL, PeerSync};
pub use ticket::{Ticket, TicketError};
