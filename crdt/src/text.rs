//! The text sequence CRDT: runs of items in document order, in an order-statistic B-tree.
//!
//! Every inserted character is an item named by its local version (`Lv`, the index of
//! its op in this replica's op log). Items are kept as runs ([`Span`]): consecutive
//! `Lv`s typed left to right, each character's left origin being the previous one, the
//! same right origin and the same deleted flag. Deleted items stay as tombstones.
//!
//! Leaves hold spans; inner nodes hold, per child, the count of visible characters and
//! of all items (tombstones included), so visible position -> item and item -> position
//! are both O(log n). A [`LeafIndex`] maps every inserted `Lv` to its leaf, as runs of
//! consecutive `Lv`s, so `Lv`s of other ops (deletes, map writes) cost it nothing.
//!
//! Concurrent inserts are ordered with the YjsMod rule, which equals FugueMax: inserts
//! at the same place never interleave, forwards or backwards.

use crate::id::{Lv, OpId};
use std::cell::Cell;
use std::ops::Range;

/// "No item": the document start as a left origin, the end as a right origin.
pub(crate) const NONE: Lv = Lv::MAX;

/// The index of a leaf in [`Text`]'s leaf arena; `NONE` for "no leaf".
type LeafId = u32;

const LEAF_CAP: usize = 32;
/// A leaf's spans grow this many at a time (up to two over [`LEAF_CAP`], where it
/// splits), and a new leaf gets this much room over its spans: leaves are a little
/// over half full on average, and room for a full leaf in each was a third of a
/// document's tree.
const LEAF_GROW: usize = 4;
const NODE_CAP: usize = 16;

/// A run of items with consecutive `Lv`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// `Lv` of the first character.
    pub lv: Lv,
    /// Number of characters.
    pub len: u32,
    /// Left origin of the first character; later ones have the previous character.
    pub origin_left: Lv,
    /// Right origin shared by all characters.
    pub origin_right: Lv,
    /// Byte offset of the first character in [`Text::content`].
    pub content: u32,
    /// Whether the characters are tombstones.
    pub deleted: bool,
}

/// Inserts a span into a leaf's spans, making room [`LEAF_GROW`] spans at a time.
fn insert_span(spans: &mut Vec<Span>, idx: usize, span: Span) {
    if spans.len() == spans.capacity() {
        spans.reserve_exact(LEAF_GROW.min((LEAF_CAP + 2).saturating_sub(spans.len())).max(1));
    }
    spans.insert(idx, span);
}

impl Span {
    fn vis(&self) -> u32 {
        if self.deleted { 0 } else { self.len }
    }

    fn end(&self) -> Lv {
        self.lv + self.len
    }

    fn origin_left_at(&self, off: u32) -> Lv {
        if off == 0 { self.origin_left } else { self.lv + off - 1 }
    }

    /// Whether `next` can be appended to `self` as one run.
    fn can_append(&self, next: &Span) -> bool {
        self.end() == next.lv
            && next.origin_left == self.end() - 1
            && next.origin_right == self.origin_right
            && next.deleted == self.deleted
    }
}

#[derive(Debug)]
struct Leaf {
    spans: Vec<Span>,
    /// Visible characters in this leaf.
    vis: u32,
    parent: u32,
    /// Index of this leaf in its parent's children.
    slot: u32,
    next: LeafId,
}

#[derive(Debug)]
struct Node {
    children: Vec<u32>,
    vis: Vec<u32>,
    total: Vec<u32>,
    parent: u32,
    /// Index of this node in its parent's children.
    slot: u32,
    leaf_children: bool,
}

/// A place in the tree: item `off` of span `idx` of `leaf`. As an insertion point
/// ("gap") it means right before that item; `idx == spans.len()` is only used for the
/// end of the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    leaf: LeafId,
    idx: usize,
    off: u32,
}

/// Runs a chunk of the [`LeafIndex`] holds: an insert into a full chunk splits it in
/// two, and a run appended after a full last chunk starts a new one.
const RUN_CAP: usize = 64;

/// Items `lv .. lv + len` of the [`LeafIndex`], all in `leaf`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct IdxRun {
    lv: Lv,
    len: u32,
    leaf: LeafId,
}

impl IdxRun {
    fn end(&self) -> Lv {
        self.lv + self.len
    }
}

/// Which leaf holds each inserted item, as runs of consecutive `Lv`s in one leaf,
/// sorted by `Lv`. An `Lv` that is not an inserted character (a delete or a map write)
/// is in no run, so the index grows with the number of spans, never with the number of
/// ops. Runs that touch and share a leaf are merged.
///
/// The last run is kept apart, since typing extends it. The others sit in chunks of at
/// most [`RUN_CAP`], next to a directory of each chunk's first `Lv`: a lookup is two
/// binary searches (or one comparison, for an item of the last run), and an update
/// moves runs inside one chunk, plus directory entries when a chunk splits or empties.
/// A leaf split rewrites only the runs of the spans that moved.
#[derive(Debug, Default)]
struct LeafIndex {
    /// The run with the highest `Lv`s; empty only when the whole index is.
    tail: IdxRun,
    /// The other runs in `Lv` order; no chunk is empty.
    chunks: Vec<Vec<IdxRun>>,
    /// The first `Lv` of each chunk.
    firsts: Vec<Lv>,
    /// Where (chunk, index) the last lookup or update outside the last run found its
    /// run. Edits cluster, so the next lookup often falls in the same run and skips both
    /// binary searches, or in the same chunk and skips one. Only a hint: it is checked
    /// before use.
    hint: Cell<(u32, u32)>,
}

impl LeafIndex {
    /// The position (chunk, index) of the last chunked run that starts at or before
    /// `lv`.
    #[inline]
    fn find(&self, lv: Lv) -> Option<(usize, usize)> {
        // The chunk of the last lookup first: lookups and updates cluster.
        let hc = self.hint.get().0 as usize;
        let c = if self.firsts.get(hc).is_some_and(|&f| f <= lv)
            && self.firsts.get(hc + 1).is_none_or(|&f| lv < f)
        {
            hc
        } else {
            self.firsts.partition_point(|&f| f <= lv).checked_sub(1)?
        };
        let j = self.chunks[c].partition_point(|r| r.lv <= lv).checked_sub(1)?;
        self.hint.set((c as u32, j as u32));
        Some((c, j))
    }

    /// The leaf of item `lv`, or `None` if `lv` is not an inserted character.
    #[inline]
    fn get(&self, lv: Lv) -> Option<LeafId> {
        let r = self.run_of(lv)?;
        (lv - r.lv < r.len).then_some(r.leaf)
    }

    /// The last run that starts at or before `lv`.
    #[inline]
    fn run_of(&self, lv: Lv) -> Option<&IdxRun> {
        if lv >= self.tail.lv {
            return Some(&self.tail);
        }
        let (hc, hj) = self.hint.get();
        if let Some(r) = self.chunks.get(hc as usize).and_then(|chunk| chunk.get(hj as usize))
            && lv.wrapping_sub(r.lv) < r.len
        {
            return Some(r);
        }
        let (c, j) = self.find(lv)?;
        Some(&self.chunks[c][j])
    }

    /// How many of the `Lv`s from `lv` on are inserted characters in one run of the
    /// index; 0 if `lv` is not one.
    fn run_rest(&self, lv: Lv) -> u32 {
        self.run_of(lv).map_or(0, |r| r.end().saturating_sub(lv))
    }

    /// Bytes of heap held.
    fn heap_size(&self) -> usize {
        use std::mem::size_of;
        self.firsts.capacity() * size_of::<Lv>()
            + self.chunks.capacity() * size_of::<Vec<IdxRun>>()
            + self.chunks.iter().map(|c| c.capacity() * size_of::<IdxRun>()).sum::<usize>()
    }

    /// Every run in `Lv` order.
    fn runs(&self) -> impl Iterator<Item = &IdxRun> + '_ {
        self.chunks.iter().flatten().chain((self.tail.len > 0).then_some(&self.tail))
    }

    /// Records that items `lvs` are in `leaf`.
    fn set(&mut self, lvs: Range<Lv>, leaf: LeafId) {
        let (a, b) = (lvs.start, lvs.end);
        if a >= b {
            return;
        }
        let new = IdxRun { lv: a, len: b - a, leaf };
        // New items after every indexed one: extend the last run, or start one.
        let tail = &mut self.tail;
        if a >= tail.end() {
            if a == tail.end() && leaf == tail.leaf && tail.len > 0 {
                tail.len += new.len;
            } else {
                let old = std::mem::replace(tail, new);
                if old.len > 0 {
                    match self.chunks.last_mut() {
                        Some(chunk) if chunk.len() < RUN_CAP => chunk.push(old),
                        _ => {
                            self.chunks.push(Self::chunk_with(old));
                            self.firsts.push(old.lv);
                        }
                    }
                }
            }
            return;
        }
        // Anything else: with the last run among the others (its chunk may hold one
        // more than `RUN_CAP` meanwhile, which its capacity allows), update them, then
        // take the last run out again.
        match self.chunks.last_mut() {
            Some(chunk) => chunk.push(self.tail),
            None => {
                self.chunks.push(Self::chunk_with(self.tail));
                self.firsts.push(self.tail.lv);
            }
        }
        self.set_chunked(new);
        self.tail = match self.chunks.last_mut() {
            Some(chunk) => {
                let last = chunk.pop().unwrap_or_default();
                if chunk.is_empty() {
                    self.chunks.pop();
                    self.firsts.pop();
                }
                last
            }
            None => IdxRun::default(),
        };
    }

    /// [`LeafIndex::set`] for items `new`, among runs that are all in chunks.
    fn set_chunked(&mut self, new: IdxRun) {
        let (a, b) = (new.lv, new.end());
        // Items of one run (all of a span's items are): move them to `new.leaf`.
        if let Some((c, j)) = self.find(a)
            && b <= self.chunks[c][j].end()
        {
            self.move_within(c, j, new);
            return;
        }
        // Anything else: drop what covers `a .. b`, then add a run for it.
        self.clear(a, b);
        let (c, j) = self.find(a).map_or((0, 0), |(c, j)| (c, j + 1));
        if self.chunks.is_empty() {
            self.chunks.push(Self::chunk_with(new));
            self.firsts.push(a);
            return;
        }
        self.chunks[c].insert(j, new);
        self.firsts[c] = self.chunks[c][0].lv;
        self.split_if_full(c);
        if let Some((c, j)) = self.find(a) {
            self.merge_around(c, j);
        }
    }

    /// The index of `runs`, sorted by `Lv` and disjoint; touching runs in one leaf are
    /// joined. Chunks are filled to three quarters.
    fn from_sorted(runs: impl IntoIterator<Item = IdxRun>) -> LeafIndex {
        const RUN_FILL: usize = RUN_CAP * 3 / 4;
        let mut idx = LeafIndex::default();
        let mut last: Option<IdxRun> = None;
        for r in runs {
            if let Some(l) = &mut last
                && l.end() == r.lv
                && l.leaf == r.leaf
            {
                l.len += r.len;
                continue;
            }
            let Some(done) = last.replace(r) else { continue };
            match idx.chunks.last_mut() {
                Some(chunk) if chunk.len() < RUN_FILL => chunk.push(done),
                _ => {
                    idx.chunks.push(Self::chunk_with(done));
                    idx.firsts.push(done.lv);
                }
            }
        }
        idx.tail = last.unwrap_or_default();
        idx
    }

    /// A new chunk holding `run`, with room to fill up without reallocating.
    fn chunk_with(run: IdxRun) -> Vec<IdxRun> {
        let mut chunk = Vec::with_capacity(RUN_CAP + 1);
        chunk.push(run);
        chunk
    }

    /// Puts `new`, whose items are all in run `j` of chunk `c`, in its own leaf.
    fn move_within(&mut self, c: usize, j: usize, new: IdxRun) {
        let chunk = &mut self.chunks[c];
        let r = chunk[j];
        if r.leaf == new.leaf {
            return;
        }
        let right = IdxRun { lv: new.end(), len: r.end() - new.end(), leaf: r.leaf };
        let mut at = j;
        match (r.lv < new.lv, right.len > 0) {
            (false, false) => chunk[j].leaf = new.leaf,
            (false, true) => {
                chunk[j] = right;
                chunk.insert(j, new);
            }
            (true, false) => {
                chunk[j].len = new.lv - r.lv;
                chunk.insert(j + 1, new);
                at += 1;
            }
            (true, true) => {
                chunk[j].len = new.lv - r.lv;
                chunk.splice(j + 1..j + 1, [new, right]);
                at += 1;
            }
        }
        let (c, at) = if self.split_if_full(c) { self.find(new.lv).unwrap_or((c, at)) } else { (c, at) };
        self.merge_around(c, at);
    }

    /// Removes `a .. b` from every run that covers part of it.
    fn clear(&mut self, a: Lv, b: Lv) {
        loop {
            let (c, j) = match self.find(a) {
                Some((c, j)) if self.chunks[c][j].end() > a => (c, j),
                Some((c, j)) if j + 1 < self.chunks[c].len() => (c, j + 1),
                Some((c, _)) if c + 1 < self.chunks.len() => (c + 1, 0),
                None if !self.chunks.is_empty() => (0, 0),
                _ => return,
            };
            let r = self.chunks[c][j];
            if r.lv >= b {
                return;
            }
            let left = (r.lv < a).then(|| IdxRun { lv: r.lv, len: a - r.lv, leaf: r.leaf });
            let right = (r.end() > b).then(|| IdxRun { lv: b, len: r.end() - b, leaf: r.leaf });
            self.chunks[c].splice(j..j + 1, left.into_iter().chain(right));
            if self.chunks[c].is_empty() {
                self.chunks.remove(c);
                self.firsts.remove(c);
            } else {
                self.firsts[c] = self.chunks[c][0].lv;
                self.split_if_full(c);
            }
        }
    }

    /// Merges run `j` of chunk `c` with its neighbours where they touch it and share
    /// its leaf.
    fn merge_around(&mut self, c: usize, j: usize) {
        let (nc, nj) = if j + 1 < self.chunks[c].len() { (c, j + 1) } else { (c + 1, 0) };
        if nc < self.chunks.len() {
            let (r, n) = (self.chunks[c][j], self.chunks[nc][nj]);
            if r.end() == n.lv && r.leaf == n.leaf {
                self.chunks[c][j].len += n.len;
                self.remove(nc, nj);
            }
        }
        let (pc, pj) = match (j, c) {
            (0, 0) => return,
            (0, _) => (c - 1, self.chunks[c - 1].len() - 1),
            _ => (c, j - 1),
        };
        let (p, r) = (self.chunks[pc][pj], self.chunks[c][j]);
        if p.end() == r.lv && p.leaf == r.leaf {
            self.chunks[pc][pj].len += r.len;
            self.remove(c, j);
        }
    }

    /// Removes run `j` of chunk `c`, and the chunk if that empties it.
    fn remove(&mut self, c: usize, j: usize) {
        self.chunks[c].remove(j);
        if self.chunks[c].is_empty() {
            self.chunks.remove(c);
            self.firsts.remove(c);
        } else if j == 0 {
            self.firsts[c] = self.chunks[c][0].lv;
        }
    }

    /// Splits chunk `c` in two if it holds more than [`RUN_CAP`] runs; returns whether
    /// it did.
    fn split_if_full(&mut self, c: usize) -> bool {
        let len = self.chunks[c].len();
        if len <= RUN_CAP {
            return false;
        }
        let mut right = Vec::with_capacity(RUN_CAP + 1);
        right.extend(self.chunks[c].drain(len / 2..));
        self.firsts.insert(c + 1, right[0].lv);
        self.chunks.insert(c + 1, right);
        true
    }

    /// Checks the index's own invariants; panics when one is broken. For tests.
    fn check(&self) {
        assert_eq!(self.chunks.len(), self.firsts.len(), "one directory entry per chunk");
        assert!(self.tail.len > 0 || self.chunks.is_empty(), "an empty last run after others");
        for (chunk, &first) in self.chunks.iter().zip(&self.firsts) {
            assert!(!chunk.is_empty() && chunk.len() <= RUN_CAP, "chunk size {}", chunk.len());
            assert_eq!(chunk[0].lv, first, "directory entry");
        }
        let mut prev: Option<IdxRun> = None;
        for r in self.runs() {
            assert!(r.len > 0, "empty index run");
            if let Some(p) = prev {
                assert!(p.end() <= r.lv, "index runs {p:?} and {r:?} overlap or are unsorted");
                assert!(!(p.end() == r.lv && p.leaf == r.leaf), "unmerged index runs {p:?} and {r:?}");
            }
            prev = Some(*r);
        }
    }
}

/// The text CRDT state.
#[derive(Debug)]
pub(crate) struct Text {
    leaves: Vec<Leaf>,
    nodes: Vec<Node>,
    root: u32,
    root_is_leaf: bool,
    lv_leaf: LeafIndex,
    /// Every inserted character, in `Lv` order, as UTF-8.
    pub content: String,
    ascii: bool,
    vis_len: u32,
    total_len: u32,
    /// The leaf of the last visible lookup and its first visible position; typing
    /// stays in one leaf, so most lookups skip the descent. Reset by any count change
    /// in another leaf.
    finger: Cell<(LeafId, u32)>,
    /// The span (leaf, index) of the last item found by position or by `Lv`; a
    /// delete usually targets an item just found, so [`Text::cursor_of_lv`] tries it
    /// before the index. Only a hint: it is checked before use.
    lv_hint: Cell<(LeafId, u32)>,
    /// (leaf, span index, visible characters in the leaf's spans before that index) of
    /// the last item found by position, so that the next lookup in that leaf scans on
    /// from there instead of from its first span. Any change to a span before the index
    /// resets it (`Text::spans_changed_from`).
    span_finger: Cell<(LeafId, u32, u32)>,
}

impl Default for Text {
    fn default() -> Self {
        Text {
            leaves: vec![Leaf {
                spans: Vec::with_capacity(LEAF_GROW),
                vis: 0,
                parent: NONE,
                slot: 0,
                next: NONE,
            }],
            finger: Cell::new((NONE, 0)),
            lv_hint: Cell::new((NONE, 0)),
            span_finger: Cell::new((NONE, 0, 0)),
            nodes: Vec::new(),
            root: 0,
            root_is_leaf: true,
            lv_leaf: LeafIndex::default(),
            content: String::new(),
            ascii: true,
            vis_len: 0,
            total_len: 0,
        }
    }
}

impl Text {
    /// Bytes of heap held: the tree, the content and the leaf index, by capacity.
    pub(crate) fn heap_size(&self) -> usize {
        use std::mem::size_of;
        let leaves = self.leaves.capacity() * size_of::<Leaf>()
            + self.leaves.iter().map(|l| l.spans.capacity() * size_of::<Span>()).sum::<usize>();
        let nodes = self.nodes.capacity() * size_of::<Node>()
            + self
                .nodes
                .iter()
                .map(|n| n.children.capacity() * 4 + n.vis.capacity() * 4 + n.total.capacity() * 4)
                .sum::<usize>();
        leaves + nodes + self.content.capacity() + self.lv_leaf.heap_size()
    }

    /// Bytes of content held, and room for it.
    #[cfg(test)]
    pub(crate) fn content_len(&self) -> usize {
        self.content.len()
    }

    #[cfg(test)]
    pub(crate) fn content_capacity(&self) -> usize {
        self.content.capacity()
    }

    /// Visible characters.
    pub(crate) fn len(&self) -> usize {
        self.vis_len as usize
    }

    /// Whether `lv` is an inserted character.
    pub(crate) fn is_item(&self, lv: Lv) -> bool {
        self.lv_leaf.get(lv).is_some()
    }

    /// Whether every `Lv` of `lv .. lv + len` is an inserted character. The work is per
    /// run of the leaf index, not per `Lv`, so checking a long delete is cheap.
    pub(crate) fn are_items(&self, mut lv: Lv, len: u32) -> bool {
        let Some(end) = lv.checked_add(len) else { return false };
        while lv < end {
            match self.lv_leaf.run_rest(lv) {
                0 => return false,
                n => lv = lv.saturating_add(n),
            }
        }
        true
    }

    /// How many of the `Lv`s from `lv` on are inserted characters in one run of the
    /// leaf index (0 if `lv` is not one): a lower bound of the items from `lv` on, found
    /// in one lookup.
    pub(crate) fn items_from(&self, lv: Lv) -> u32 {
        self.lv_leaf.run_rest(lv)
    }

    /// Byte length of `chars` characters starting at byte `start` of the content.
    fn bytes_of(&self, start: u32, chars: u32) -> u32 {
        if self.ascii {
            return chars;
        }
        crate::char_bytes(&self.content[start as usize..], chars as usize) as u32
    }

    /// The text of a span's characters `from .. from + n`.
    fn span_str(&self, span: &Span, from: u32, n: u32) -> &str {
        let a = span.content + self.bytes_of(span.content, from);
        let b = a + self.bytes_of(a, n);
        &self.content[a as usize..b as usize]
    }

    /// The characters of items `lv .. lv + n`, which must be one inserted run.
    pub(crate) fn content_of(&self, lv: Lv, n: u32) -> &str {
        let c = self.cursor_of_lv(lv);
        let span = self.leaves[c.leaf as usize].spans[c.idx];
        // Consecutive inserted Lvs have consecutive content, even across spans.
        let a = span.content + self.bytes_of(span.content, c.off);
        let b = a + self.bytes_of(a, n);
        &self.content[a as usize..b as usize]
    }

    /// Appends content for a run of new items and returns its byte offset.
    pub(crate) fn push_content(&mut self, s: &str) -> u32 {
        let at = self.content.len() as u32;
        self.ascii &= s.is_ascii();
        if let Some(n) = crate::growth(self.content.len(), self.content.capacity(), s.len()) {
            self.content.reserve_exact(n);
        }
        self.content.push_str(s);
        at
    }

    // ----- lookups -------------------------------------------------------------------

    /// The item at visible index `pos` (`pos < len()`).
    pub(crate) fn find_vis(&self, pos: u32) -> Cursor {
        let (fl, fs) = self.finger.get();
        if fl != NONE && pos >= fs && pos < fs + self.leaves[fl as usize].vis {
            return self.find_in_leaf(fl, pos - fs);
        }
        let (node, rest) = self.descend(pos, false);
        self.finger.set((node, pos - rest));
        self.find_in_leaf(node, rest)
    }

    /// Walks from the root to the leaf holding position `pos`, counting visible
    /// characters or all items (`total`); returns the leaf and the position within it.
    fn descend(&self, mut pos: u32, total: bool) -> (u32, u32) {
        let mut node = self.root;
        if !self.root_is_leaf {
            loop {
                let n = &self.nodes[node as usize];
                let counts = if total { &n.total } else { &n.vis };
                let mut i = 0;
                while i + 1 < n.children.len() && pos >= counts[i] {
                    pos -= counts[i];
                    i += 1;
                }
                node = n.children[i];
                if n.leaf_children {
                    break;
                }
            }
        }
        (node, pos)
    }

    fn find_in_leaf(&self, node: LeafId, pos: u32) -> Cursor {
        let leaf = &self.leaves[node as usize];
        // Typing and deleting stay near the last lookup: start from its span when `pos`
        // is at or after it.
        let (fl, fi, fv) = self.span_finger.get();
        let (start, mut rest) = if fl == node && pos >= fv { (fi as usize, pos - fv) } else { (0, pos) };
        for (idx, s) in leaf.spans.iter().enumerate().skip(start) {
            // A tombstone counts as no characters: no branch on `deleted`.
            let vis = s.len & (s.deleted as u32).wrapping_sub(1);
            if rest < vis {
                self.lv_hint.set((node, idx as u32));
                self.span_finger.set((node, idx as u32, pos - rest));
                return Cursor { leaf: node, idx, off: rest };
            }
            rest -= vis;
        }
        panic!("visible position out of range of the text tree");
    }

    /// Notes that spans from index `idx` of `leaf` on changed (were resized, marked,
    /// inserted or removed): the span finger stays good only for a change at or after
    /// its own index.
    fn spans_changed_from(&self, leaf: LeafId, idx: usize) {
        let (fl, fi, _) = self.span_finger.get();
        if fl == leaf && idx < fi as usize {
            self.span_finger.set((NONE, 0, 0));
        }
    }

    /// The cursor of item `lv` (an inserted character).
    pub(crate) fn cursor_of_lv(&self, lv: Lv) -> Cursor {
        match self.try_cursor_of_lv(lv) {
            Some(c) => c,
            None => panic!("lv {lv} is not an inserted character"),
        }
    }

    /// [`Text::cursor_of_lv`], or `None` when `lv` is not an inserted character.
    fn try_cursor_of_lv(&self, lv: Lv) -> Option<Cursor> {
        let (hint_leaf, hint_idx) = self.lv_hint.get();
        if let Some(s) = self.leaves.get(hint_leaf as usize).and_then(|l| l.spans.get(hint_idx as usize))
            && lv.wrapping_sub(s.lv) < s.len
        {
            return Some(Cursor { leaf: hint_leaf, idx: hint_idx as usize, off: lv - s.lv });
        }
        let leaf = self.lv_leaf.get(lv)?;
        let spans = &self.leaves[leaf as usize].spans;
        for (idx, s) in spans.iter().enumerate() {
            if lv.wrapping_sub(s.lv) < s.len {
                self.lv_hint.set((leaf, idx as u32));
                return Some(Cursor { leaf, idx, off: lv - s.lv });
            }
        }
        panic!("lv {lv} missing from its leaf");
    }

    /// The item at visible index `pos`.
    pub(crate) fn lv_at(&self, pos: u32) -> Lv {
        let c = self.find_vis(pos);
        self.span_at(c).lv + c.off
    }

    /// How many items from `lv` on share its span (same state, adjacent in the text).
    pub(crate) fn span_rest(&self, lv: Lv) -> u32 {
        let c = self.cursor_of_lv(lv);
        self.span_at(c).len - c.off
    }

    fn span_at(&self, c: Cursor) -> &Span {
        &self.leaves[c.leaf as usize].spans[c.idx]
    }

    /// Position among all items (tombstones included) of the item at `c`.
    fn total_pos(&self, c: Cursor) -> u32 {
        let leaf = &self.leaves[c.leaf as usize];
        let mut pos = c.off + leaf.spans[..c.idx].iter().map(|s| s.len).sum::<u32>();
        self.walk_up(c.leaf, true, |n, i| pos += n.total[..i].iter().sum::<u32>());
        pos
    }

    /// Visible position of the item at `c`; for a tombstone, the visible characters
    /// before it.
    pub(crate) fn vis_pos(&self, c: Cursor) -> u32 {
        let leaf = &self.leaves[c.leaf as usize];
        let s = &leaf.spans[c.idx];
        let mut pos = if s.deleted { 0 } else { c.off };
        pos += leaf.spans[..c.idx].iter().map(Span::vis).sum::<u32>();
        self.walk_up(c.leaf, true, |n, i| pos += n.vis[..i].iter().sum::<u32>());
        pos
    }

    /// Visible position of item `lv`, and whether it is visible.
    pub(crate) fn vis_pos_of_lv(&self, lv: Lv) -> (u32, bool) {
        let c = self.cursor_of_lv(lv);
        (self.vis_pos(c), !self.span_at(c).deleted)
    }

    /// Calls `f(parent, index of child)` for each ancestor of a leaf or node.
    fn walk_up(&self, child: u32, is_leaf: bool, mut f: impl FnMut(&Node, usize)) {
        let (mut parent, mut slot) = if is_leaf {
            let l = &self.leaves[child as usize];
            (l.parent, l.slot)
        } else {
            let n = &self.nodes[child as usize];
            (n.parent, n.slot)
        };
        while parent != NONE {
            let n = &self.nodes[parent as usize];
            f(n, slot as usize);
            (parent, slot) = (n.parent, n.slot);
        }
    }

    fn add_counts(&mut self, leaf: LeafId, dvis: i64, dtotal: i64) {
        if self.finger.get().0 != leaf {
            self.finger.set((NONE, 0));
        }
        let l = &mut self.leaves[leaf as usize];
        l.vis = (l.vis as i64 + dvis) as u32;
        let (mut parent, mut slot) = (l.parent, l.slot);
        self.vis_len = (self.vis_len as i64 + dvis) as u32;
        self.total_len = (self.total_len as i64 + dtotal) as u32;
        while parent != NONE {
            let n = &mut self.nodes[parent as usize];
            let i = slot as usize;
            n.vis[i] = (n.vis[i] as i64 + dvis) as u32;
            n.total[i] = (n.total[i] as i64 + dtotal) as u32;
            (parent, slot) = (n.parent, n.slot);
        }
    }

    /// Normalises a gap so that it points at an item, or at the end of the last leaf.
    fn norm(&self, mut c: Cursor) -> Cursor {
        loop {
            let leaf = &self.leaves[c.leaf as usize];
            if c.idx < leaf.spans.len() {
                if c.off < leaf.spans[c.idx].len {
                    return c;
                }
                c = Cursor { leaf: c.leaf, idx: c.idx + 1, off: 0 };
                continue;
            }
            if leaf.next == NONE {
                return c;
            }
            c = Cursor { leaf: leaf.next, idx: 0, off: 0 };
        }
    }

    /// The item at a normalised gap, if it is not the document end.
    fn item_at(&self, c: Cursor) -> Option<(Lv, &Span)> {
        let spans = &self.leaves[c.leaf as usize].spans;
        spans.get(c.idx).map(|s| (s.lv + c.off, s))
    }

    /// The gap right after item `lv`, or the document start for `NONE`.
    fn gap_after(&self, lv: Lv) -> Cursor {
        if lv == NONE {
            return self.norm(Cursor { leaf: 0, idx: 0, off: 0 });
        }
        let c = self.cursor_of_lv(lv);
        self.norm(Cursor { off: c.off + 1, ..c })
    }

    // ----- local edits ---------------------------------------------------------------

    /// The item right before item `lv` in document order (tombstones included), or
    /// `NONE` at the start.
    pub(crate) fn item_before(&self, lv: Lv) -> Lv {
        let c = self.cursor_of_lv(lv);
        if c.off > 0 {
            return lv - 1;
        }
        if c.idx > 0 {
            return self.leaves[c.leaf as usize].spans[c.idx - 1].end() - 1;
        }
        let pos = self.total_pos(c);
        if pos == 0 {
            return NONE;
        }
        let (node, mut rest) = self.descend(pos - 1, true);
        for s in &self.leaves[node as usize].spans {
            if rest < s.len {
                return s.lv + rest;
            }
            rest -= s.len;
        }
        panic!("total position out of range of the text tree");
    }

    /// Inserts new items `lv .. lv + len` typed locally at visible `pos`; returns their
    /// origins.
    pub(crate) fn insert_local(&mut self, pos: u32, lv: Lv, len: u32, content: u32) -> (Lv, Lv) {
        let (left, gap) = if pos == 0 {
            (NONE, self.norm(Cursor { leaf: 0, idx: 0, off: 0 }))
        } else {
            let c = self.find_vis(pos - 1);
            (self.span_at(c).lv + c.off, self.norm(Cursor { off: c.off + 1, ..c }))
        };
        let right = self.item_at(gap).map_or(NONE, |(lv, _)| lv);
        self.insert_at(
            gap,
            Span { lv, len, origin_left: left, origin_right: right, content, deleted: false },
        );
        (left, right)
    }

    /// The visible run starting at visible `pos`: its first item and how many of its
    /// items (up to `max`) follow it in one span.
    pub(crate) fn visible_run_at(&self, pos: u32, max: u32) -> (Lv, u32) {
        let c = self.find_vis(pos);
        let s = self.span_at(c);
        (s.lv + c.off, (s.len - c.off).min(max))
    }

    // ----- integration ---------------------------------------------------------------

    /// Integrates a run of new items `lv .. lv + len` whose first character has origins
    /// `origin_left` / `origin_right`. `id_of` names items for tie-breaks.
    pub(crate) fn integrate(
        &mut self,
        lv: Lv,
        len: u32,
        origin_left: Lv,
        origin_right: Lv,
        content: u32,
        id_of: impl Fn(Lv) -> OpId,
    ) {
        let done = self.try_integrate(lv, len, origin_left, origin_right, content, id_of);
        assert!(done, "the origins of {lv} are not inserted characters");
    }

    /// [`Text::integrate`] for origins not known to be inserted characters: returns
    /// false, changing nothing, when one is not. Checking them costs nothing more in the
    /// common case (the right origin right after the left one): finding the left origin
    /// is the check, and the right one is then the item seen next.
    pub(crate) fn try_integrate(
        &mut self,
        lv: Lv,
        len: u32,
        origin_left: Lv,
        origin_right: Lv,
        content: u32,
        id_of: impl Fn(Lv) -> OpId,
    ) -> bool {
        let new = Span { lv, len, origin_left, origin_right, content, deleted: false };
        let gap = if origin_left == NONE {
            self.norm(Cursor { leaf: 0, idx: 0, off: 0 })
        } else {
            let Some(c) = self.try_cursor_of_lv(origin_left) else { return false };
            self.norm(Cursor { off: c.off + 1, ..c })
        };
        let at = match self.item_at(gap) {
            None if origin_right == NONE => gap,
            Some((other, _)) if other == origin_right => gap,
            _ if origin_right != NONE && !self.is_item(origin_right) => return false,
            _ => self.find_place(gap, &new, id_of),
        };
        self.insert_at(at, new);
        true
    }

    /// Walks the items strictly between item `left` (`NONE`: the document start) and
    /// item `right` (`NONE`: the document end), tombstones included, calling
    /// `each(first, n)` for each piece of a span among them, left to right. Returns
    /// whether `right` comes after `left` and `each` accepted every piece before it; the
    /// walk stops at the first piece `each` refuses, so it costs one step per span
    /// accepted. `left` must be an item.
    pub(crate) fn items_between(&self, left: Lv, right: Lv, mut each: impl FnMut(Lv, u32) -> bool) -> bool {
        let mut c = self.gap_after(left);
        loop {
            let Some((lv, s)) = self.item_at(c) else { return right == NONE };
            if lv == right {
                return true;
            }
            let mut n = s.len - c.off;
            if right != NONE && right > lv && right - lv < n {
                n = right - lv;
            }
            if !each(lv, n) {
                return false;
            }
            c = self.norm(Cursor { off: c.off + n, ..c });
        }
    }

    /// The YjsMod scan: walks right from the gap after the left origin to find where a
    /// concurrent insert goes.
    fn find_place(&self, gap: Cursor, new: &Span, id_of: impl Fn(Lv) -> OpId) -> Cursor {
        let pos_after = |lv: Lv| if lv == NONE { 0 } else { self.total_pos(self.cursor_of_lv(lv)) + 1 };
        let pos_before =
            |lv: Lv| if lv == NONE { self.total_len } else { self.total_pos(self.cursor_of_lv(lv)) };
        let left_pos = pos_after(new.origin_left);
        let mut right_pos = None;
        let my_id = id_of(new.lv);
        let mut scanning = false;
        let mut scan_start = gap;
        let mut c = gap;
        while let Some((other_lv, other)) = self.item_at(c) {
            if other_lv == new.origin_right {
                break;
            }
            let other = *other;
            let o_left_pos = pos_after(other.origin_left_at(c.off));
            if o_left_pos < left_pos {
                break;
            }
            if o_left_pos == left_pos {
                if other.origin_right == new.origin_right {
                    if my_id < id_of(other_lv) {
                        break;
                    }
                    scanning = false;
                } else {
                    let rp = *right_pos.get_or_insert_with(|| pos_before(new.origin_right));
                    if pos_before(other.origin_right) < rp {
                        if !scanning {
                            scanning = true;
                            scan_start = c;
                        }
                    } else {
                        scanning = false;
                    }
                }
            }
            // The rest of this span descends from its first item: skip it, unless it
            // holds our right origin.
            if new.origin_right != NONE && new.origin_right > other_lv && new.origin_right < other.end() {
                c = Cursor { off: new.origin_right - other.lv, ..c };
                break;
            }
            c = self.norm(Cursor { idx: c.idx + 1, off: 0, ..c });
        }
        if scanning { scan_start } else { c }
    }

    /// Inserts `new` at gap `at`, merging with the span to its left when possible.
    fn insert_at(&mut self, at: Cursor, new: Span) {
        let leaf_id = at.leaf;
        {
            let text_ascii = self.ascii;
            let content = &self.content;
            let leaf = &mut self.leaves[leaf_id as usize];
            let mut idx = at.idx;
            if at.off > 0 {
                let s = &mut leaf.spans[idx];
                let right = split_span(s, at.off, text_ascii, content);
                insert_span(&mut leaf.spans, idx + 1, right);
                idx += 1;
            }
            if idx > 0 && leaf.spans[idx - 1].can_append(&new) {
                leaf.spans[idx - 1].len += new.len;
                idx -= 1;
            } else {
                insert_span(&mut leaf.spans, idx, new);
            }
            self.spans_changed_from(leaf_id, idx.min(at.idx));
            // The next op most likely names these items (typing continues after them):
            // [`Text::cursor_of_lv`] tries their span first. A leaf split below may move
            // it; the hint is checked before use.
            self.lv_hint.set((leaf_id, idx as u32));
        }
        self.lv_leaf.set(new.lv..new.end(), leaf_id);
        self.add_counts(leaf_id, new.len as i64, new.len as i64);
        self.split_if_full(leaf_id);
    }

    /// Marks items `lv .. lv + len` deleted. Returns how many were visible before.
    ///
    /// The work is per span: tombstones are stepped over a whole span at a time without
    /// allocating, and when the next `Lv`s continue in the following span of the same
    /// leaf (as they do in a run typed left to right) no index lookup is needed.
    pub(crate) fn delete(&mut self, lv: Lv, len: u32) -> u32 {
        debug_assert!(self.are_items(lv, len), "deleting {lv}+{len}, which are not all items");
        match self.try_delete(lv, len) {
            Some(n) => n,
            None => panic!("deleting {lv}+{len}, which are not all items"),
        }
    }

    /// [`Text::delete`] for targets not known to be inserted characters: `None` when one
    /// is not, with the targets before it deleted already (for a decoder, which then
    /// drops the whole text). Finding each target is the check, so it costs nothing
    /// more.
    pub(crate) fn try_delete(&mut self, mut lv: Lv, mut len: u32) -> Option<u32> {
        let mut removed = 0;
        while len > 0 {
            let c = self.try_cursor_of_lv(lv)?;
            let leaf_id = c.leaf;
            let s = self.leaves[leaf_id as usize].spans[c.idx];
            let n = (s.len - c.off).min(len);
            // The items after these are most likely in the next span of this leaf.
            let mut next = c.idx + 1;
            if !s.deleted {
                let ascii = self.ascii;
                let content = &self.content;
                let leaf = &mut self.leaves[leaf_id as usize];
                let mut idx = c.idx;
                if c.off > 0 {
                    let right = split_span(&mut leaf.spans[idx], c.off, ascii, content);
                    insert_span(&mut leaf.spans, idx + 1, right);
                    idx += 1;
                }
                if leaf.spans[idx].len > n {
                    let right = split_span(&mut leaf.spans[idx], n, ascii, content);
                    insert_span(&mut leaf.spans, idx + 1, right);
                }
                leaf.spans[idx].deleted = true;
                // Merge with deleted neighbours in the same leaf.
                if idx + 1 < leaf.spans.len() && leaf.spans[idx].can_append(&leaf.spans[idx + 1]) {
                    leaf.spans[idx].len += leaf.spans[idx + 1].len;
                    leaf.spans.remove(idx + 1);
                }
                if idx > 0 && leaf.spans[idx - 1].can_append(&leaf.spans[idx]) {
                    leaf.spans[idx - 1].len += leaf.spans[idx].len;
                    leaf.spans.remove(idx);
                    idx -= 1;
                }
                self.spans_changed_from(leaf_id, idx.min(c.idx));
                next = idx + 1;
                removed += n;
                self.add_counts(leaf_id, -(n as i64), 0);
                self.split_if_full(leaf_id);
            }
            self.lv_hint.set((leaf_id, next as u32));
            lv += n;
            len -= n;
        }
        Some(removed)
    }

    // ----- tree maintenance ----------------------------------------------------------

    fn split_if_full(&mut self, leaf_id: LeafId) {
        if self.leaves[leaf_id as usize].spans.len() <= LEAF_CAP {
            return;
        }
        let half = self.leaves[leaf_id as usize].spans.len() / 2;
        // The span finger's index may be among the spans that move.
        self.spans_changed_from(leaf_id, half);
        let spans = &mut self.leaves[leaf_id as usize].spans;
        let mut moved = Vec::with_capacity(spans.len() - half + LEAF_GROW);
        moved.extend(spans.drain(half..));
        spans.shrink_to(half + LEAF_GROW);
        let (vis, total) = moved.iter().fold((0, 0), |(v, t), s| (v + s.vis(), t + s.len));
        let new_id = self.leaves.len() as u32;
        // Moved spans with consecutive `Lv`s share a run of the index: move it at once.
        // In `Lv` order, so that parts of one run that lie apart in the text move
        // together, and each update starts near the previous one.
        let mut ranges = [(0, 0); LEAF_CAP + 2];
        assert!(moved.len() <= ranges.len(), "a leaf holds at most two spans over its capacity");
        for (r, s) in ranges.iter_mut().zip(&moved) {
            *r = (s.lv, s.end());
        }
        let ranges = &mut ranges[..moved.len()];
        ranges.sort_unstable_by_key(|r| r.0);
        let mut k = 0;
        while k < ranges.len() {
            let (start, mut end) = ranges[k];
            k += 1;
            while k < ranges.len() && ranges[k].0 == end {
                end = ranges[k].1;
                k += 1;
            }
            self.lv_leaf.set(start..end, new_id);
        }
        let old = &mut self.leaves[leaf_id as usize];
        let next = old.next;
        old.next = new_id;
        old.vis -= vis;
        let parent = old.parent;
        self.leaves.push(Leaf { spans: moved, vis, parent, slot: 0, next });
        self.add_child(leaf_id, true, new_id, vis, total);
    }

    /// Adds `new` (a leaf or node holding `vis`/`total`) right after its sibling `old`,
    /// whose counts shrink by as much.
    fn add_child(&mut self, old: u32, is_leaf: bool, new: u32, vis: u32, total: u32) {
        let (parent, i) = if is_leaf {
            let l = &self.leaves[old as usize];
            (l.parent, l.slot as usize)
        } else {
            let n = &self.nodes[old as usize];
            (n.parent, n.slot as usize)
        };
        if parent == NONE {
            // Grow a new root over `old` and `new`.
            let (v, t) = (self.vis_len - vis, self.total_len - total);
            let root = self.nodes.len() as u32;
            self.nodes.push(Node {
                children: vec![old, new],
                vis: vec![v, vis],
                total: vec![t, total],
                parent: NONE,
                slot: 0,
                leaf_children: is_leaf,
            });
            self.set_parent(old, is_leaf, root, 0);
            self.set_parent(new, is_leaf, root, 1);
            self.root = root;
            self.root_is_leaf = false;
            return;
        }
        let n = &mut self.nodes[parent as usize];
        n.vis[i] -= vis;
        n.total[i] -= total;
        n.children.insert(i + 1, new);
        n.vis.insert(i + 1, vis);
        n.total.insert(i + 1, total);
        let later: Vec<u32> = n.children[i + 1..].to_vec();
        for (k, c) in later.into_iter().enumerate() {
            self.set_parent(c, is_leaf, parent, (i + 1 + k) as u32);
        }
        let n = &mut self.nodes[parent as usize];
        if n.children.len() <= NODE_CAP {
            return;
        }
        let half = n.children.len() / 2;
        let children: Vec<u32> = n.children.drain(half..).collect();
        let cvis: Vec<u32> = n.vis.drain(half..).collect();
        let ctotal: Vec<u32> = n.total.drain(half..).collect();
        let (sv, st) = (cvis.iter().sum(), ctotal.iter().sum());
        let leaf_children = n.leaf_children;
        let grand = n.parent;
        let new_node = self.nodes.len() as u32;
        for (k, &c) in children.iter().enumerate() {
            self.set_parent(c, leaf_children, new_node, k as u32);
        }
        self.nodes.push(Node { children, vis: cvis, total: ctotal, parent: grand, slot: 0, leaf_children });
        self.add_child(parent, false, new_node, sv, st);
    }

    fn set_parent(&mut self, child: u32, is_leaf: bool, parent: u32, slot: u32) {
        if is_leaf {
            let l = &mut self.leaves[child as usize];
            (l.parent, l.slot) = (parent, slot);
        } else {
            let n = &mut self.nodes[child as usize];
            (n.parent, n.slot) = (parent, slot);
        }
    }

    // ----- bulk build ----------------------------------------------------------------

    /// The text whose spans, in document order, are `spans`, no one of which could be
    /// joined with the next; `index` lists each span as `(lv, len, place in spans)`, in
    /// `Lv` order. Leaves, nodes and index chunks are filled to three quarters, so that
    /// edits after it split rarely.
    pub(crate) fn from_ordered_spans(spans: Vec<Span>, index: &[(Lv, u32, usize)], content: String) -> Text {
        const LEAF_FILL: usize = LEAF_CAP * 3 / 4;
        const NODE_FILL: usize = NODE_CAP * 3 / 4;
        let mut t = Text { ascii: content.is_ascii(), content, ..Text::default() };
        if spans.is_empty() {
            return t;
        }
        let n = spans.len().div_ceil(LEAF_FILL) as u32;
        // Each level's children: (id, visible, total).
        let mut level = Vec::with_capacity(n as usize);
        t.leaves = (0..)
            .zip(spans.chunks(LEAF_FILL))
            .map(|(id, chunk): (u32, _)| {
                let mut spans = Vec::with_capacity(chunk.len() + LEAF_GROW);
                spans.extend_from_slice(chunk);
                let vis = chunk.iter().map(Span::vis).sum();
                let total = chunk.iter().map(|s| s.len).sum();
                level.push((id, vis, total));
                t.vis_len += vis;
                t.total_len += total;
                Leaf { spans, vis, parent: NONE, slot: 0, next: if id + 1 < n { id + 1 } else { NONE } }
            })
            .collect();
        t.lv_leaf = LeafIndex::from_sorted(index.iter().map(|&(lv, len, k)| IdxRun {
            lv,
            len,
            leaf: (k / LEAF_FILL) as LeafId,
        }));
        let mut is_leaf = true;
        while level.len() > 1 {
            let groups = level.len().div_ceil(NODE_FILL);
            let mut next = Vec::with_capacity(groups);
            let mut rest = &level[..];
            for g in 0..groups {
                let (mine, r) = rest.split_at(rest.len().div_ceil(groups - g));
                rest = r;
                let id = t.nodes.len() as u32;
                for (slot, &(c, _, _)) in (0..).zip(mine) {
                    t.set_parent(c, is_leaf, id, slot);
                }
                let node = Node {
                    children: mine.iter().map(|c| c.0).collect(),
                    vis: mine.iter().map(|c| c.1).collect(),
                    total: mine.iter().map(|c| c.2).collect(),
                    parent: NONE,
                    slot: 0,
                    leaf_children: is_leaf,
                };
                next.push((id, node.vis.iter().sum(), node.total.iter().sum()));
                t.nodes.push(node);
            }
            level = next;
            is_leaf = false;
        }
        t.root = level[0].0;
        t.root_is_leaf = is_leaf;
        t
    }

    // ----- reading -------------------------------------------------------------------

    /// All spans in document order.
    pub(crate) fn spans(&self) -> impl Iterator<Item = &Span> + '_ {
        let mut leaf = 0u32;
        let mut idx = 0usize;
        std::iter::from_fn(move || {
            loop {
                let l = &self.leaves[leaf as usize];
                if idx < l.spans.len() {
                    idx += 1;
                    return Some(&l.spans[idx - 1]);
                }
                if l.next == NONE {
                    return None;
                }
                leaf = l.next;
                idx = 0;
            }
        })
    }

    /// Appends the characters `from .. from + n` of a span to `out`.
    pub(crate) fn push_span_str(&self, span: &Span, from: u32, n: u32, out: &mut String) {
        out.push_str(self.span_str(span, from, n));
    }

    /// The visible text.
    pub(crate) fn to_string_lossless(&self) -> String {
        let mut out = String::with_capacity(self.vis_len as usize);
        for s in self.spans() {
            if !s.deleted {
                self.push_span_str(s, 0, s.len, &mut out);
            }
        }
        out
    }

    /// Visible characters `start .. end`.
    pub(crate) fn slice(&self, start: u32, end: u32) -> String {
        let mut out = String::new();
        if start >= end {
            return out;
        }
        let mut c = self.find_vis(start);
        let mut left = end - start;
        loop {
            let s = *self.span_at(c);
            if !s.deleted {
                let n = (s.len - c.off).min(left);
                self.push_span_str(&s, c.off, n, &mut out);
                left -= n;
                if left == 0 {
                    return out;
                }
            }
            c = self.norm(Cursor { idx: c.idx + 1, off: 0, ..c });
        }
    }

    /// Checks the tree's invariants; panics when one is broken. For tests.
    pub(crate) fn check(&self) {
        let mut vis = 0;
        let mut total = 0;
        let mut leaf = 0u32;
        loop {
            let l = &self.leaves[leaf as usize];
            for (i, s) in l.spans.iter().enumerate() {
                assert!(s.len > 0, "empty span");
                assert_eq!(self.lv_leaf.get(s.lv), Some(leaf), "leaf index of {}", s.lv);
                assert!(self.lv_leaf.run_rest(s.lv) >= s.len, "leaf index of {}..{}", s.lv, s.end());
                if i > 0 {
                    assert!(!l.spans[i - 1].can_append(s), "unmerged spans in leaf {leaf}");
                }
                vis += s.vis();
                total += s.len;
            }
            if l.next == NONE {
                break;
            }
            leaf = l.next;
        }
        assert_eq!((vis, total), (self.vis_len, self.total_len));
        // Every item's run is in the index, and nothing else is.
        self.lv_leaf.check();
        assert_eq!(self.lv_leaf.runs().map(|r| r.len).sum::<u32>(), total, "items in the leaf index");
        for l in &self.leaves {
            assert_eq!(l.vis, l.spans.iter().map(Span::vis).sum::<u32>(), "leaf visible count");
        }
        let (fl, fi, fv) = self.span_finger.get();
        if fl != NONE {
            let before =
                &self.leaves[fl as usize].spans.get(..fi as usize).expect("span finger index in its leaf");
            assert_eq!(before.iter().map(Span::vis).sum::<u32>(), fv, "span finger of leaf {fl}");
        }
        let (fl, fs) = self.finger.get();
        if fl != NONE && self.leaves[fl as usize].vis > 0 {
            let first = self.leaves[fl as usize].spans.iter().find(|s| !s.deleted).expect("visible span");
            assert_eq!(self.vis_pos(self.cursor_of_lv(first.lv)), fs, "finger start");
        }
        for (id, n) in self.nodes.iter().enumerate() {
            for (i, &c) in n.children.iter().enumerate() {
                let (v, t, p) = if n.leaf_children {
                    let l = &self.leaves[c as usize];
                    (l.spans.iter().map(Span::vis).sum(), l.spans.iter().map(|s| s.len).sum(), l.parent)
                } else {
                    let m = &self.nodes[c as usize];
                    (m.vis.iter().sum(), m.total.iter().sum(), m.parent)
                };
                assert_eq!((n.vis[i], n.total[i], p), (v, t, id as u32), "counts of node {id}");
                let slot =
                    if n.leaf_children { self.leaves[c as usize].slot } else { self.nodes[c as usize].slot };
                assert_eq!(slot as usize, i, "slot of a child of node {id}");
            }
        }
    }
}

/// Splits `s` at `off`, keeping the left part in `s` and returning the right part.
fn split_span(s: &mut Span, off: u32, ascii: bool, content: &str) -> Span {
    let bytes =
        if ascii { off } else { crate::char_bytes(&content[s.content as usize..], off as usize) as u32 };
    let right = Span {
        lv: s.lv + off,
        len: s.len - off,
        origin_left: s.lv + off - 1,
        origin_right: s.origin_right,
        content: s.content + bytes,
        deleted: s.deleted,
    };
    s.len = off;
    right
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ReplicaId;
    use proptest::prelude::*;

    /// The index as a dense map: entry `lv` is the leaf of item `lv`.
    fn dense_run_rest(dense: &[Option<LeafId>], lv: Lv) -> u32 {
        let Some(Some(leaf)) = dense.get(lv as usize) else { return 0 };
        dense[lv as usize..].iter().take_while(|l| **l == Some(*leaf)).count() as u32
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_leaf_index_agrees_with_a_dense_map(
            ops in prop::collection::vec((0u32..2_000, 1u32..40, 0u32..4, 0u8..3), 1..400),
        ) {
            let mut index = LeafIndex::default();
            let mut dense: Vec<Option<LeafId>> = Vec::new();
            for (at, len, leaf, kind) in ops {
                // New items after the others (with or without a gap), or items
                // anywhere, as a leaf split moves them.
                let start = match kind {
                    0 => dense.len() as u32,
                    1 => dense.len() as u32 + at % 5,
                    _ => at,
                };
                let end = start + len;
                index.set(start..end, leaf);
                if dense.len() < end as usize {
                    dense.resize(end as usize, None);
                }
                dense[start as usize..end as usize].fill(Some(leaf));
                index.check();
            }
            for lv in 0..dense.len() as u32 + 3 {
                prop_assert_eq!(index.get(lv), dense.get(lv as usize).copied().flatten(), "leaf of {}", lv);
                prop_assert_eq!(index.run_rest(lv), dense_run_rest(&dense, lv), "run from {}", lv);
            }
            let items = dense.iter().filter(|l| l.is_some()).count() as u32;
            prop_assert_eq!(index.runs().map(|r| r.len).sum::<u32>(), items);
        }
    }

    /// An edit of the text in [`text_edits_keep_the_index_exact`]; the numbers pick
    /// positions and lengths modulo what exists.
    #[derive(Clone, Debug)]
    enum Edit {
        /// Types `len` chars at a visible position.
        Type { at: u32, len: u32 },
        /// Deletes visible chars, taking fresh `Lv`s as a delete op does.
        Delete { at: u32, len: u32 },
        /// Deletes items of one earlier insert again, deleted or not.
        Redelete { run: u32, off: u32, len: u32 },
        /// Integrates a remote insert right after an item (tombstones included).
        Integrate { after: u32, len: u32 },
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            4 => (any::<u32>(), 1u32..6).prop_map(|(at, len)| Edit::Type { at, len }),
            2 => (any::<u32>(), 1u32..8).prop_map(|(at, len)| Edit::Delete { at, len }),
            1 => (any::<u32>(), any::<u32>(), 1u32..6).prop_map(|(run, off, len)| Edit::Redelete { run, off, len }),
            2 => (any::<u32>(), 1u32..4).prop_map(|(after, len)| Edit::Integrate { after, len }),
        ]
    }

    /// [`Text::from_ordered_spans`] for any spans in document order: joins those that
    /// continue each other and indexes them.
    fn from_spans(spans: Vec<Span>, content: String) -> Text {
        let mut joined: Vec<Span> = Vec::new();
        for s in spans {
            match joined.last_mut() {
                Some(last) if last.can_append(&s) => last.len += s.len,
                _ => joined.push(s),
            }
        }
        let mut index: Vec<_> = joined.iter().enumerate().map(|(k, s)| (s.lv, s.len, k)).collect();
        index.sort_unstable();
        Text::from_ordered_spans(joined, &index, content)
    }

    /// The character of item `lv`, some of them not ASCII.
    fn char_of(lv: Lv) -> char {
        ['a', 'b', 'é', 'x', '中'][lv as usize % 5]
    }

    fn chars_of(lv: Lv, len: u32) -> String {
        (lv..lv + len).map(char_of).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn text_edits_keep_the_index_exact(edits in prop::collection::vec(edit(), 1..300)) {
            let mut text = Text::default();
            // The document in order: (item, deleted).
            let mut model: Vec<(Lv, bool)> = Vec::new();
            // Every insert: (first item, length).
            let mut inserts: Vec<(Lv, u32)> = Vec::new();
            let mut next: Lv = 0;
            for e in edits {
                let visible: Vec<usize> = (0..model.len()).filter(|&i| !model[i].1).collect();
                match e {
                    Edit::Type { at, len } => {
                        let pos = at % (visible.len() as u32 + 1);
                        let content = text.push_content(&chars_of(next, len));
                        text.insert_local(pos, next, len, content);
                        let i = if pos == 0 { 0 } else { visible[pos as usize - 1] + 1 };
                        model.splice(i..i, (next..next + len).map(|lv| (lv, false)));
                        inserts.push((next, len));
                        next += len;
                    }
                    Edit::Delete { at, len } => {
                        if visible.is_empty() {
                            continue;
                        }
                        let pos = at % visible.len() as u32;
                        let mut left = len.min(visible.len() as u32 - pos);
                        for &i in &visible[pos as usize..(pos + left) as usize] {
                            model[i].1 = true;
                        }
                        while left > 0 {
                            let (target, n) = text.visible_run_at(pos, left);
                            prop_assert_eq!(text.delete(target, n), n);
                            left -= n;
                            next += n;
                        }
                    }
                    Edit::Redelete { run, off, len } => {
                        if inserts.is_empty() {
                            continue;
                        }
                        let (lv, n) = inserts[run as usize % inserts.len()];
                        let off = off % n;
                        let len = len.min(n - off);
                        let targets = lv + off..lv + off + len;
                        let mut was_visible = 0;
                        for item in model.iter_mut().filter(|(l, _)| targets.contains(l)) {
                            was_visible += u32::from(!item.1);
                            item.1 = true;
                        }
                        prop_assert_eq!(text.delete(lv + off, len), was_visible);
                        next += len;
                    }
                    Edit::Integrate { after, len } => {
                        let i = (after as usize) % (model.len() + 1);
                        let left = if i == 0 { NONE } else { model[i - 1].0 };
                        let right = model.get(i).map_or(NONE, |m| m.0);
                        let content = text.push_content(&chars_of(next, len));
                        text.integrate(next, len, left, right, content, |lv| OpId::new(ReplicaId(1), lv as u64));
                        model.splice(i..i, (next..next + len).map(|lv| (lv, false)));
                        inserts.push((next, len));
                        next += len;
                    }
                }
                text.check();
            }
            let want: String = model.iter().filter(|m| !m.1).map(|m| char_of(m.0)).collect();
            prop_assert_eq!(text.to_string_lossless(), want.clone());
            // The index against a dense map of every `Lv`, from the model.
            let mut dense = vec![false; next as usize + 2];
            for (i, &(lv, deleted)) in model.iter().enumerate() {
                dense[lv as usize] = true;
                let c = text.cursor_of_lv(lv);
                prop_assert_eq!(text.span_at(c).lv + c.off, lv);
                prop_assert_eq!(text.span_at(c).deleted, deleted);
                prop_assert_eq!(text.total_pos(c), i as u32);
            }
            for (lv, &item) in dense.iter().enumerate() {
                prop_assert_eq!(text.is_item(lv as Lv), item, "is_item({})", lv);
            }
            // Built again from its spans, as a load from a stored order does: the same
            // items in the same order, and every lookup agrees.
            let built = from_spans(text.spans().copied().collect(), text.content.clone());
            built.check();
            prop_assert_eq!(built.to_string_lossless(), want);
            for (i, &(lv, deleted)) in model.iter().enumerate() {
                let c = built.cursor_of_lv(lv);
                prop_assert_eq!(built.span_at(c).deleted, deleted);
                prop_assert_eq!(built.total_pos(c), i as u32);
            }
        }
    }

    #[test]
    fn a_big_text_built_from_its_spans_is_a_valid_tree() {
        // 100,000 one-char spans, every other one deleted (so none join), in the reverse
        // of their `Lv` order: several levels of nodes, and an index of as many runs.
        let n = 100_000u32;
        let content = "x".repeat(n as usize);
        let spans: Vec<Span> = (0..n)
            .rev()
            .map(|lv| Span {
                lv,
                len: 1,
                origin_left: NONE,
                origin_right: NONE,
                content: lv,
                deleted: lv % 2 == 1,
            })
            .collect();
        let mut text = from_spans(spans, content);
        text.check();
        assert_eq!(text.len(), n as usize / 2);
        for lv in [0, 1, 4_097, 65_536, 65_537, n - 1] {
            let c = text.cursor_of_lv(lv);
            assert_eq!(text.total_pos(c), n - 1 - lv, "position of {lv}");
        }
        // It edits like any other: an insert at the front and a delete.
        let content = text.push_content("ab");
        text.insert_local(0, n, 2, content);
        assert_eq!(text.delete(n - 2, 1), 1);
        text.check();
        assert_eq!(text.slice(0, 3), "abx");
        assert_eq!(text.len(), n as usize / 2 + 1);
    }

    /// A text of `n` typed characters, all deleted, typed as one run.
    fn typed_and_deleted(n: u32) -> Text {
        let mut text = Text::default();
        let content = text.push_content(&"y".repeat(n as usize));
        text.insert_local(0, 0, n, content);
        assert_eq!(text.delete(0, n), n);
        text
    }

    #[test]
    fn deleting_tombstones_again_changes_nothing_and_allocates_nothing() {
        let mut text = typed_and_deleted(10_000);
        let heap = text.heap_size();
        for _ in 0..1_000 {
            assert_eq!(text.delete(0, 10_000), 0);
            assert_eq!(text.delete(5_000, 10), 0);
        }
        assert_eq!(text.heap_size(), heap);
        assert_eq!(text.spans().count(), 1);
        text.check();
    }

    #[test]
    fn lvs_that_are_not_items_take_no_room_in_the_index() {
        let mut text = typed_and_deleted(100);
        // An insert far past the other items: the `Lv`s between are deletes.
        let far = 1 << 30;
        let content = text.push_content("z");
        text.insert_local(0, far, 1, content);
        assert!(text.lv_leaf.heap_size() < 4_096, "index of {} bytes", text.lv_leaf.heap_size());
        assert!(text.is_item(far) && text.is_item(99) && !text.is_item(100) && !text.is_item(far - 1));
        assert!(text.are_items(0, 100) && !text.are_items(0, 101) && !text.are_items(far, 2));
        text.check();
    }

    #[test]
    fn leaves_keep_little_spare_room() {
        // Typing at scattered places (a step through the text that wraps around): many
        // leaf splits, and every leaf edits left behind.
        let mut text = Text::default();
        let mut pos = 0u32;
        for lv in 0..20_000u32 {
            let content = text.push_content("w");
            text.insert_local(pos, lv, 1, content);
            pos = (pos + 7_919) % (text.len() as u32 + 1);
        }
        text.check();
        assert!(text.leaves.len() > 500, "{} leaves", text.leaves.len());
        for (i, leaf) in text.leaves.iter().enumerate() {
            let (len, cap) = (leaf.spans.len(), leaf.spans.capacity());
            assert!(cap <= (len + LEAF_GROW).min(LEAF_CAP + 2), "leaf {i}: {len} spans, room for {cap}");
        }
    }

    #[test]
    fn leaf_splits_keep_runs_merged() {
        // Typing at alternate ends splits leaves; every item stays indexed.
        let mut text = Text::default();
        let mut lv = 0;
        for i in 0..5_000u32 {
            let content = text.push_content("q");
            let pos = if i % 3 == 0 { 0 } else { text.len() as u32 / 2 };
            text.insert_local(pos, lv, 1, content);
            lv += 2;
        }
        text.check();
        assert!(text.lv_leaf.runs().count() <= text.spans().count());
    }
}
