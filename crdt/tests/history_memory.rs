//! The heap `Doc::text_at` takes after a peer deleted the same 100,000 chars 2,000
//! times (200 million ops): measured by a counting allocator, so this binary holds one
//! test and nothing else allocates while it measures.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use tandem_crdt::{Change, Doc, Op, OpId, ReplicaId, VectorClock};

/// The system allocator, counting the bytes held and the most held since the last reset.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to the system allocator with the same arguments; the
// counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the layout is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let held = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(held, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result and the most heap it held on top of what was held
/// before.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = HELD.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base)
}

#[test]
fn text_at_after_thousands_of_deletes_of_the_same_text_takes_little_memory() {
    const N: usize = 100_000;
    let (victim, peer) = (ReplicaId(1), ReplicaId(2));
    let mut d = Doc::new(victim);
    d.insert(0, &"x".repeat(N)).unwrap();
    d.commit().unwrap();
    let typed = d.version().clone();
    d.delete(0, N).unwrap();
    d.commit().unwrap();
    let deleted = d.version().clone();
    let delete = Op::Delete { start: OpId::new(victim, 1), len: N as u64, reversed: false };
    let c = Change {
        time: 0,
        author: peer,
        start_seq: 1,
        deps: vec![OpId::new(victim, 2 * N as u64)],
        lamport: 2 * N as u64 + 1,
        ops: vec![delete; 2_000],
    };
    d.apply(c).unwrap();
    assert_eq!(d.n_ops(), 2 * N + 2_000 * N);
    let all = d.version().clone();
    // At most the text itself (100 KB as one run) plus a little per run of the history.
    let limit = N + (256 << 10);
    for (clock, want) in [(&typed, "x".repeat(N)), (&deleted, String::new()), (&all, String::new())] {
        let (text, peak) = peak_of(|| d.text_at(clock).unwrap());
        assert_eq!(text, want);
        assert!(peak < limit, "text_at took {peak} bytes of heap at {clock:?}");
    }
    let (text, peak) = peak_of(|| d.text_at(&VectorClock::new()).unwrap());
    assert_eq!((text.as_str(), peak < limit), ("", true), "{peak} bytes");
}
