//! Integration tests of `tandem-crdt` through its public API only: convergence of
//! replicas under arbitrary delivery (with undo, time travel, anchors and encoding round
//! trips), undo steps grouped by pauses in typing, the causal buffer, decoders fed
//! garbage, changes from hostile peers, and inserts whose origins are not neighbours.
//!
//! Property tests run `PROPTEST_CASES` cases when that variable is set (for soak runs),
//! otherwise a per-test default small enough for a debug build. Failing seeds are
//! stored in `crdt/proptest-regressions/it/`.

mod canonical;
mod causal;
mod convergence;
mod cost;
mod decode;
mod fugue_ref;
mod history;
mod hostile;
mod origins;
mod undo_groups;

use proptest::test_runner::{Config as PropConfig, FileFailurePersistence};
use tandem_crdt::{Change, Doc, ReplicaId};

/// A proptest config: `default` cases unless `PROPTEST_CASES` says otherwise; failures
/// persisted in `regressions` (relative to the crate root, where cargo runs tests).
fn prop_config(default: u32, regressions: &'static str) -> PropConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default);
    PropConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..PropConfig::default()
    }
}

/// Inserts `text` at `pos` as one committed transaction and returns its change.
fn typed(doc: &mut Doc, pos: usize, text: &str) -> Change {
    doc.insert(pos, text).unwrap();
    doc.commit().expect("a non-empty insert commits a change")
}

/// A replica with the given id.
fn doc(id: u64) -> Doc {
    Doc::new(ReplicaId(id))
}

/// Applies every change `from` has that `to` lacks.
fn sync(from: &Doc, to: &mut Doc) {
    for c in from.changes_since(to.version()) {
        to.apply(c).unwrap();
    }
}

/// LEB128 encoding of `v`.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// A small deterministic generator for histories, orders and picks in property tests.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// Applies `changes` in order; honest changes (authors below 100) must never be refused,
/// forged ones may be.
fn feed(d: &mut Doc, changes: &[Change]) {
    for c in changes {
        let r = d.apply(c.clone());
        if c.author.0 < 100 {
            r.unwrap();
        }
    }
}
