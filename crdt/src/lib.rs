//! Tandem's CRDT core: replica ids, vector clocks, changes with causal delivery, a text
//! sequence CRDT that never interleaves concurrent insertions (FugueMax semantics), a
//! map CRDT (last-writer-wins plus multi-value register), undo/redo, time travel and a
//! versioned binary encoding.
//!
//! The crate is pure: no IO, async, clock or randomness. Callers pass replica ids and
//! move [`Change`]s between replicas however they like; [`Doc::apply`] copes with
//! duplicates, reordering and missing deps.
//!
//! Key types: [`Doc`] (one replica), [`Change`] (the unit of replication),
//! [`VectorClock`], [`Anchor`]. Encoding lives in [`encoding`].
//!
//! **Invariants.** An op is applied only after all of its deps; a replica's ops are
//! numbered from 1 without gaps; every replica that applied the same set of changes has
//! the same text, map values and version.
//!
//! ```
//! use tandem_crdt::{Doc, ReplicaId, VectorClock};
//!
//! let mut alice = Doc::new(ReplicaId(1));
//! alice.insert(0, "hello").unwrap();
//! let change = alice.commit().unwrap();
//!
//! let mut bob = Doc::new(ReplicaId(2));
//! bob.apply(change).unwrap();
//! bob.insert(5, " world").unwrap();
//! bob.commit();
//! for c in bob.changes_since(alice.version()) {
//!     alice.apply(c).unwrap();
//! }
//! assert_eq!(alice.text(), "hello world");
//! assert_eq!(alice.version(), bob.version());
//! assert_eq!(alice.text_at(&VectorClock::new()).unwrap(), "");
//! ```
#![warn(missing_docs)]

mod change;
mod clock;
mod doc;
pub mod encoding;
mod error;
mod id;
mod map;
#[cfg(feature = "serde")]
mod serde_impls;
mod text;
pub mod varint;

pub use change::{ABSORB_WINDOW_S, Change, Op, Value};
pub use clock::VectorClock;
pub use doc::{Anchor, ApplyOutcome, Bias, Config, Doc, EditSession, UndoState};
pub use error::{Error, InvalidReason};
pub use id::{OpId, ReplicaId};

/// How much room (for `reserve_exact`) a buffer that only grows, holding `len` of `cap`,
/// should make before taking `more`: none while they fit, else a quarter of its length
/// (at least `more`, and 16). Doubling left up to half of the largest ones (the op
/// log's runs, the text's content) unused for good; large blocks grow in place or by
/// remapping their pages, so the smaller steps copy little.
pub(crate) fn growth(len: usize, cap: usize, more: usize) -> Option<usize> {
    (cap - len < more).then(|| (len / 4).max(more).max(16))
}
