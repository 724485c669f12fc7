//! Building the text from a stored document order instead of integrating every insert.
//!
//! A device's own snapshot lists its text's items in document order, as runs of
//! consecutive `Lv`s (`encoding::encode_snapshot`). Everything else a [`Span`] holds
//! follows from the op log: an item's origins from its insert run, its deleted flag from
//! the delete runs, its content from its rank among the inserted `Lv`s. So the text is
//! built in time linear in the runs plus the history's length over 64, where integration
//! costs a tree search per insert and per delete.
//!
//! The order cannot be checked against the ops without integrating them, which is what
//! it saves; it is this device's own result. What is checked is that it is consistent:
//! every inserted `Lv` exactly once, every insert's origins and every delete's targets
//! inserted characters. Anything else gives `None`, and the caller integrates.
//!
//! The bitsets cover every `Lv` of the history, deletes included, while the op log holds
//! a delete run in a few bytes whatever its length. So a history with many more ops than
//! characters (deleting the same characters again and again, as a hostile writer may)
//! is integrated instead: [`MAX_OPS_PER_ITEM`] bounds the bitsets by the characters,
//! which the content bounds.

use super::oplog::{DelRun, InsRun};
use crate::id::Lv;
use crate::text::{NONE, Span, Text};

/// Histories with more ops than this per inserted character (plus a constant) are
/// integrated, not built from their order (see the module docs). An honest history is
/// far below: the 10-million-op code-editing history has about two.
const MAX_OPS_PER_ITEM: u64 = 16;

/// One bit per `Lv` of the history.
struct Bits {
    words: Vec<u64>,
}

impl Bits {
    fn new(n: Lv) -> Self {
        // One word more than the bits need, so a rank can be asked at `n` itself.
        Bits { words: vec![0; n as usize / 64 + 1] }
    }

    fn get(&self, i: Lv) -> bool {
        self.words[(i / 64) as usize] >> (i % 64) & 1 == 1
    }

    /// Sets bits `a .. b`; returns whether any of them was set already.
    fn set_range(&mut self, a: Lv, b: Lv) -> bool {
        let mut hit = false;
        let mut i = a;
        while i < b {
            let w = (i / 64) as usize;
            let lo = i % 64;
            let n = (b - i).min(64 - lo);
            let mask = if n == 64 { u64::MAX } else { ((1u64 << n) - 1) << lo };
            hit |= self.words[w] & mask != 0;
            self.words[w] |= mask;
            i += n;
        }
        hit
    }

    /// The first set bit in `from .. end`, or `end`.
    fn next_set(&self, from: Lv, end: Lv) -> Lv {
        let mut i = from;
        while i < end {
            let w = (i / 64) as usize;
            let word = self.words[w] >> (i % 64);
            if word != 0 {
                return (i + word.trailing_zeros()).min(end);
            }
            i = (w as Lv + 1) * 64;
        }
        end
    }
}

/// [`Bits`] with the count of set bits before each word: the rank of any bit in O(1).
struct Ranked {
    bits: Bits,
    before: Vec<u32>,
}

impl Ranked {
    fn new(bits: Bits) -> Self {
        let mut n = 0;
        let before = bits
            .words
            .iter()
            .map(|w| {
                let b = n;
                n += w.count_ones();
                b
            })
            .collect();
        Ranked { bits, before }
    }

    /// How many bits before `i` are set.
    fn rank(&self, i: Lv) -> u32 {
        let w = (i / 64) as usize;
        let below = (1u64 << (i % 64)) - 1;
        self.before[w] + (self.bits.words[w] & below).count_ones()
    }
}

/// The text whose items, in document order, are the runs `order` (`(first Lv, len)`),
/// for a history of `total` ops whose insert and delete runs are `ins` and `dels` (each
/// sorted by `Lv`, inserts joined where they continue each other, as
/// [`super::oplog::OpLog::push_ins`] does) and whose inserted characters are `content`,
/// in `Lv` order. `None` when `order` is not consistent with them (see the module docs),
/// or holds two runs one after the other that continue each other (the encoder writes
/// such runs as one).
pub(crate) fn text_from_order(
    order: &[(Lv, u32)],
    ins: &[InsRun],
    dels: &[DelRun],
    total: Lv,
    content: &str,
) -> Option<Text> {
    let items: u64 = ins.iter().map(|r| r.len as u64).sum();
    if total as u64 > MAX_OPS_PER_ITEM * items + (1 << 16) {
        return None;
    }
    let mut inserted = Bits::new(total);
    let mut starts = Bits::new(total);
    for r in ins {
        inserted.set_range(r.lv, r.lv + r.len);
        starts.set_range(r.lv, r.lv + 1);
    }
    let mut ordered = Bits::new(total);
    let mut firsts = Bits::new(total);
    let mut prev_end = NONE;
    for &(lv, len) in order {
        if lv == prev_end || ordered.set_range(lv, lv + len) {
            return None;
        }
        firsts.set_range(lv, lv + 1);
        prev_end = lv + len;
    }
    if ordered.words != inserted.words {
        return None;
    }
    let is_item = |o: Lv| o == NONE || (o < total && inserted.get(o));
    if !ins.iter().all(|r| is_item(r.origin_left) && is_item(r.origin_right)) {
        return None;
    }
    let mut deleted = Bits::new(total);
    for d in dels {
        deleted.set_range(d.target, d.target + d.len);
    }
    if deleted.words.iter().zip(&inserted.words).any(|(d, i)| d & !i != 0) {
        return None;
    }

    // A span ends where an insert run starts or the deleted flag changes; nowhere else,
    // since an insert run's items continue each other. So no two spans found here can
    // be joined, and each one's place in the text is its place in this list.
    let mut cuts = Bits::new(total);
    let mut carry = 0;
    for (w, (&d, &s)) in deleted.words.iter().zip(&starts.words).enumerate() {
        cuts.words[w] = s | (d ^ (d << 1 | carry));
        carry = d >> 63;
    }
    let cuts = &cuts;
    let spans_in = |lv: Lv, len: u32| {
        let end = lv + len;
        let mut x = lv;
        std::iter::from_fn(move || {
            (x < end).then(|| {
                let y = cuts.next_set(x + 1, end);
                let piece = (x, y - x);
                x = y;
                piece
            })
        })
    };

    // In document order: the index of each run's first span, and the runs in `Lv`
    // order (a run's rank among the first `Lv`s is its place in that order).
    let firsts = Ranked::new(firsts);
    let mut by_lv = vec![(0, 0, 0); order.len()];
    let mut n_spans = 0;
    for &(lv, len) in order {
        by_lv[firsts.rank(lv) as usize] = (lv, len, n_spans);
        n_spans += spans_in(lv, len).count();
    }

    // In `Lv` order, so the insert runs and the content are read front to back: each
    // span, put at its place in the text, and the index of `Lv`s to spans.
    let blank = Span { lv: 0, len: 0, origin_left: NONE, origin_right: NONE, content: 0, deleted: false };
    let mut spans = vec![blank; n_spans];
    let mut index = Vec::with_capacity(n_spans);
    let ascii = content.is_ascii();
    let (mut i, mut byte) = (0, 0);
    for &(lv, len, first) in &by_lv {
        for (k, (x, n)) in (first..).zip(spans_in(lv, len)) {
            while ins[i].lv + ins[i].len <= x {
                i += 1;
            }
            let r = ins[i];
            spans[k] = Span {
                lv: x,
                len: n,
                origin_left: if x == r.lv { r.origin_left } else { x - 1 },
                origin_right: r.origin_right,
                content: byte as u32,
                deleted: deleted.get(x),
            };
            index.push((x, n, k));
            let rest = &content[byte..];
            byte += if ascii { n as usize } else { crate::char_bytes(rest, n as usize) };
        }
    }
    Some(Text::from_ordered_spans(spans, &index, content.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_of_far_more_ops_than_characters_is_not_built_from_its_order() {
        // 1,000 characters, deleted 1,000 times over: a million ops, a few runs.
        let ins = [InsRun { lv: 0, len: 1_000, origin_left: NONE, origin_right: NONE }];
        let dels: Vec<DelRun> =
            (1..=1_000).map(|k| DelRun { lv: k * 1_000, len: 1_000, target: 0, reversed: false }).collect();
        let total = 1_001_000;
        let content = "a".repeat(1_000);
        assert!(text_from_order(&[(0, 1_000)], &ins, &dels, total, &content).is_none());
        // With fewer repeats the same order is used.
        let total = 21_000;
        let text = text_from_order(&[(0, 1_000)], &ins, &dels[..20], total, &content).expect("built");
        text.check();
        assert_eq!(text.len(), 0, "all deleted");
    }

    #[test]
    fn bit_ranges_ranks_and_next_set_bits() {
        let mut b = Bits::new(200);
        assert!(!b.set_range(3, 130));
        assert!(b.set_range(129, 131), "bit 129 was set");
        assert!(!b.set_range(199, 200));
        assert!((3..131).all(|i| b.get(i)) && !b.get(2) && !b.get(131) && b.get(199));
        assert_eq!(b.next_set(0, 200), 3);
        assert_eq!(b.next_set(131, 200), 199);
        assert_eq!(b.next_set(131, 150), 150);
        let r = Ranked::new(b);
        assert_eq!(r.rank(0), 0);
        assert_eq!(r.rank(4), 1);
        assert_eq!(r.rank(131), 128);
        assert_eq!(r.rank(199), 128);
    }
}
