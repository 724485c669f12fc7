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

/// The byte length of the first `n` characters of `s` (all of `s` if it has fewer).
/// Counts character starts a slice at a time, which the compiler vectorises, where
/// `char_indices().nth(n)` decodes every character: splitting a long pasted run far
/// from its start took a tenth of a merge.
pub(crate) fn char_bytes(s: &str, n: usize) -> usize {
    let b = s.as_bytes();
    let starts = |b: &[u8]| b.iter().filter(|&&x| (x as i8) >= -0x40).count();
    // Invariant: `b[..end]` holds `chars` character starts, never more than `n`.
    let mut end = n.min(b.len());
    let mut chars = starts(&b[..end]);
    while chars < n && end < b.len() {
        let step = (n - chars).min(b.len() - end);
        chars += starts(&b[end..end + step]);
        end += step;
    }
    // The last counted character's continuation bytes.
    while end < b.len() && (b[end] as i8) < -0x40 {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn char_bytes_agrees_with_char_indices(s in "\\PC{0,80}", n in 0usize..100) {
            let want = s.char_indices().nth(n).map_or(s.len(), |(b, _)| b);
            prop_assert_eq!(super::char_bytes(&s, n), want);
        }
    }

    #[test]
    fn char_bytes_counts_characters_not_bytes() {
        let s = "aé漢😀b";
        let want = [0, 1, 3, 6, 10, 11, 11];
        for (n, w) in want.into_iter().enumerate() {
            assert_eq!(super::char_bytes(s, n), w, "first {n} chars");
        }
    }
}
