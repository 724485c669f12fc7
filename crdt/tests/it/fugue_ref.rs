//! A differential test of the text CRDT against a reference FugueMax.
//!
//! The reference ([`Fugue`]) is the tree of the Fugue paper (Weidner and Kleppmann, "The
//! Art of the Fugue"), with FugueMax's order of right-side siblings, written for clarity
//! and not speed. It is driven only by the ops of the generated [`Change`]s (ids and
//! origins), so it integrates them independently of `Doc`.
//!
//! The generator plays a very concurrent history: many authors, long-lived branches
//! (replicas that edit for a while without syncing), merges of up to nine branches at
//! once, inserts that land on the same place, concurrent deletes of the same characters
//! and deletes of ranges that span other authors' text. Fresh replicas replay the
//! history in several causal orders; every text must equal the reference's, at the end
//! and at intermediate versions.

use crate::prop_config;
use proptest::prelude::*;
use std::cmp::Ordering;
use std::collections::HashMap;
use tandem_crdt::{Change, Doc, Op, OpId, ReplicaId, VectorClock};

// ----- the reference -----------------------------------------------------------------

/// Which side of its parent a node hangs on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Left,
    Right,
}

/// One inserted character, or the root (index [`ROOT`]).
#[derive(Debug)]
struct Node {
    /// The id of the insert; `None` for the root.
    id: Option<OpId>,
    ch: char,
    deleted: bool,
    /// The parent node; the root is its own parent.
    parent: usize,
    side: Side,
    /// Left children, in traversal order.
    left: Vec<usize>,
    /// Right children, in traversal order.
    right: Vec<usize>,
    /// For a right child: the node that followed it when it was inserted (`None` is the
    /// end of the document).
    right_origin: Option<usize>,
}

/// The index of the root node, which stands for the start of the document.
const ROOT: usize = 0;

/// The reference FugueMax list.
///
/// Every character is a node of a tree. A character typed between `left` and `right`
/// (neighbours in the full list, tombstones included) becomes a left child of `right`
/// when `right` is a descendant of `left`, and a right child of `left` otherwise. The
/// list is the in-order traversal: a node's left children, the node, its right
/// children. Left siblings are sorted by author; right siblings by their right origins
/// in reverse list order, then by author. Authors compare as [`ReplicaId`]s do.
#[derive(Debug)]
pub(crate) struct Fugue {
    nodes: Vec<Node>,
    by_id: HashMap<OpId, usize>,
}

impl Fugue {
    /// An empty list.
    pub(crate) fn new() -> Fugue {
        let root = Node {
            id: None,
            ch: '\0',
            deleted: true,
            parent: ROOT,
            side: Side::Right,
            left: Vec::new(),
            right: Vec::new(),
            right_origin: None,
        };
        Fugue { nodes: vec![root], by_id: HashMap::new() }
    }

    fn node_of(&self, id: OpId) -> usize {
        *self.by_id.get(&id).unwrap_or_else(|| panic!("reference: unknown item {id}"))
    }

    fn author(&self, n: usize) -> ReplicaId {
        self.nodes[n].id.expect("only the root has no id").replica
    }

    /// Whether `n` is `ancestor` or lies in its subtree.
    fn is_descendant(&self, mut n: usize, ancestor: usize) -> bool {
        loop {
            if n == ancestor {
                return true;
            }
            if n == ROOT {
                return false;
            }
            n = self.nodes[n].parent;
        }
    }

    /// The path from the root to `n`: for each step the side (left 0, right 2) and the
    /// index among that side's siblings, then `(1, 0)` for `n` itself. Paths compare
    /// lexicographically in list order: a left subtree comes before its node, which
    /// comes before its right subtree.
    fn path(&self, mut n: usize) -> Vec<(u8, usize)> {
        let mut steps = vec![(1, 0)];
        while n != ROOT {
            let node = &self.nodes[n];
            let p = &self.nodes[node.parent];
            let (side, siblings) = match node.side {
                Side::Left => (0, &p.left),
                Side::Right => (2, &p.right),
            };
            let i = siblings.iter().position(|&s| s == n).expect("a node is among its parent's children");
            steps.push((side, i));
            n = node.parent;
        }
        steps.reverse();
        steps
    }

    /// List order of two positions, where `None` is the end of the document.
    fn cmp_pos(&self, a: Option<usize>, b: Option<usize>) -> Ordering {
        match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => self.path(a).cmp(&self.path(b)),
        }
    }

    /// Inserts character `ch` with id `id`, typed between `left` (`None`: the start)
    /// and `right` (`None`: the end).
    pub(crate) fn insert(&mut self, id: OpId, left: Option<OpId>, right: Option<OpId>, ch: char) {
        assert!(!self.by_id.contains_key(&id), "reference: item {id} inserted twice");
        let left = left.map_or(ROOT, |l| self.node_of(l));
        let right = right.map(|r| self.node_of(r));
        let n = self.nodes.len();
        let mut node = Node {
            id: Some(id),
            ch,
            deleted: false,
            parent: left,
            side: Side::Right,
            left: Vec::new(),
            right: Vec::new(),
            right_origin: right,
        };
        match right {
            Some(r) if self.is_descendant(r, left) => {
                node.parent = r;
                node.side = Side::Left;
                node.right_origin = None;
                self.nodes.push(node);
                // Left siblings: ascending author.
                let siblings = &self.nodes[r].left;
                let i = siblings.iter().position(|&s| id.replica < self.author(s)).unwrap_or(siblings.len());
                self.nodes[r].left.insert(i, n);
            }
            _ => {
                self.nodes.push(node);
                // Right siblings: the one whose right origin is further right first; on
                // equal right origins, ascending author.
                let siblings = &self.nodes[left].right;
                let i = siblings
                    .iter()
                    .position(|&s| match self.cmp_pos(right, self.nodes[s].right_origin) {
                        Ordering::Greater => true,
                        Ordering::Equal => id.replica < self.author(s),
                        Ordering::Less => false,
                    })
                    .unwrap_or(siblings.len());
                self.nodes[left].right.insert(i, n);
            }
        }
        self.by_id.insert(id, n);
    }

    /// Deletes the character with id `id` (again is a no-op).
    pub(crate) fn delete(&mut self, id: OpId) {
        let n = self.node_of(id);
        self.nodes[n].deleted = true;
    }

    /// Applies a change's text ops; its deps must have been applied.
    pub(crate) fn apply(&mut self, c: &Change) {
        let mut seq = c.start_seq;
        for op in &c.ops {
            match op {
                Op::Insert { origin_left, origin_right, text } => {
                    for (k, ch) in text.chars().enumerate() {
                        let k = k as u64;
                        let left = if k == 0 { *origin_left } else { Some(OpId::new(c.author, seq + k - 1)) };
                        self.insert(OpId::new(c.author, seq + k), left, *origin_right, ch);
                    }
                }
                Op::Delete { start, len, .. } => {
                    for s in start.seq..start.seq + len {
                        self.delete(OpId::new(start.replica, s));
                    }
                }
                Op::MapSet { .. } => {}
            }
            seq += op.n_seqs();
        }
    }

    /// The visible text: the in-order traversal without tombstones.
    pub(crate) fn text(&self) -> String {
        enum Visit {
            Enter(usize),
            Emit(usize),
        }
        let mut out = String::new();
        let mut stack = vec![Visit::Enter(ROOT)];
        while let Some(v) = stack.pop() {
            match v {
                Visit::Enter(n) => {
                    let node = &self.nodes[n];
                    stack.extend(node.right.iter().rev().map(|&c| Visit::Enter(c)));
                    stack.push(Visit::Emit(n));
                    stack.extend(node.left.iter().rev().map(|&c| Visit::Enter(c)));
                }
                Visit::Emit(n) => {
                    if !self.nodes[n].deleted {
                        out.push(self.nodes[n].ch);
                    }
                }
            }
        }
        out
    }
}

/// The reference text after the changes of `log` (a causal order) that `version`
/// holds.
fn reference_at(log: &[Change], version: &VectorClock) -> String {
    let mut f = Fugue::new();
    for c in log.iter().filter(|c| version.get(c.author) >= c.end_seq() - 1) {
        f.apply(c);
    }
    f.text()
}

// ----- small reference checks ----------------------------------------------------------

fn id(replica: u64, seq: u64) -> OpId {
    OpId::new(ReplicaId(replica), seq)
}

#[test]
fn reference_orders_concurrent_inserts_by_author_without_interleaving() {
    let mut f = Fugue::new();
    // Two authors type "ab" and "xy" at the start of an empty document.
    f.insert(id(2, 1), None, None, 'x');
    f.insert(id(2, 2), Some(id(2, 1)), None, 'y');
    f.insert(id(1, 1), None, None, 'a');
    f.insert(id(1, 2), Some(id(1, 1)), None, 'b');
    assert_eq!(f.text(), "abxy");
}

#[test]
fn reference_keeps_backwards_typing_together() {
    let mut f = Fugue::new();
    f.insert(id(1, 1), None, None, 'A');
    f.insert(id(1, 2), Some(id(1, 1)), None, 'Z');
    // Author 3 types "cba" backwards between A and Z; author 2 types "y" there too.
    f.insert(id(3, 1), Some(id(1, 1)), Some(id(1, 2)), 'a');
    f.insert(id(3, 2), Some(id(1, 1)), Some(id(3, 1)), 'b');
    f.insert(id(3, 3), Some(id(1, 1)), Some(id(3, 2)), 'c');
    f.insert(id(2, 1), Some(id(1, 1)), Some(id(1, 2)), 'y');
    assert_eq!(f.text(), "AycbaZ");
    f.delete(id(3, 2));
    f.delete(id(3, 2));
    assert_eq!(f.text(), "AycaZ");
}

#[test]
fn reference_puts_the_wider_insert_first() {
    let mut f = Fugue::new();
    // Authors 1 and 2 type "A" and "B" concurrently into an empty document.
    f.insert(id(1, 1), None, None, 'A');
    f.insert(id(2, 1), None, None, 'B');
    assert_eq!(f.text(), "AB");
    // Author 3, holding both, types "x" between them; author 5, holding only "A",
    // types "y" after it. FugueMax puts the insert whose right origin is further right
    // (the end, for "y") first, whatever the authors.
    f.insert(id(3, 1), Some(id(1, 1)), Some(id(2, 1)), 'x');
    f.insert(id(5, 1), Some(id(1, 1)), None, 'y');
    assert_eq!(f.text(), "AyxB");
}

// ----- the history generator -----------------------------------------------------------

/// Long-lived branches alive at once.
const BRANCHES: usize = 10;
/// Most branches a merge takes in besides the receiver.
const MAX_MERGED: usize = 8;
const TEXTS: &[&str] = &[
    "a",
    "b",
    "xy",
    "hello ",
    "zzz",
    "\n",
    "漢字",
    "é",
    "🙂",
    "0123456789",
    "a pasted paragraph, long enough to span several leaves of the tree once it is cut up\n",
];

/// Where an edit goes, resolved against the editing replica's text.
#[derive(Clone, Copy, Debug)]
enum Place {
    Start,
    End,
    /// `k` sixteenths into the text: branches with a common base pick the same place.
    Sixteenth(u32),
    /// Anywhere.
    Any(u32),
}

impl Place {
    fn resolve(self, len: usize) -> usize {
        match self {
            Place::Start => 0,
            Place::End => len,
            Place::Sixteenth(k) => len * k as usize / 16,
            Place::Any(x) => x as usize % (len + 1),
        }
    }
}

#[derive(Clone, Debug)]
enum Edit {
    Insert {
        at: Place,
        text: &'static str,
    },
    /// Deletes up to `len` characters from `at` (clamped to the text).
    Delete {
        at: Place,
        len: usize,
    },
    /// Types `text` one character at a time: forwards, or each character before the
    /// previous one (backwards, as when the caret stays put).
    Type {
        at: Place,
        text: &'static str,
        backwards: bool,
    },
    /// Inserts `n` characters at once, as a pasted block of lines.
    Paste {
        at: Place,
        n: usize,
    },
    /// Deletes up to `n` characters before `at` one at a time, right to left.
    Backspace {
        at: Place,
        n: usize,
    },
}

#[derive(Clone, Debug)]
enum Step {
    /// Branch `b` makes `edits` as one change. With `new_author`, a new author (named
    /// by that number, so that dropping other steps keeps its id) first takes the
    /// branch over: a fresh replica holding what the branch held.
    Edit { b: usize, new_author: Option<u64>, edits: Vec<Edit> },
    /// Branch `into` receives every change branches `from` hold, then makes `edits`.
    Merge { into: usize, new_author: Option<u64>, from: Vec<usize>, edits: Vec<Edit> },
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        1 => Just(Place::Start),
        1 => Just(Place::End),
        4 => (0..=16u32).prop_map(Place::Sixteenth),
        3 => any::<u32>().prop_map(Place::Any),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (place(), prop::sample::select(TEXTS)).prop_map(|(at, text)| Edit::Insert { at, text }),
        2 => (place(), 1..24usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        2 => (place(), prop::sample::select(TEXTS), any::<bool>())
            .prop_map(|(at, text, backwards)| Edit::Type { at, text, backwards }),
        1 => (place(), 1..6usize).prop_map(|(at, n)| Edit::Backspace { at, n }),
        1 => (place(), 20..300usize).prop_map(|(at, n)| Edit::Paste { at, n }),
        1 => (place(), 20..300usize).prop_map(|(at, len)| Edit::Delete { at, len }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let b = 0..BRANCHES;
    prop_oneof![
        4 => (b.clone(), prop::option::weighted(0.8, any::<u64>()), prop::collection::vec(edit(), 1..8))
            .prop_map(|(b, new_author, edits)| Step::Edit { b, new_author, edits }),
        1 => (b.clone(), prop::option::weighted(0.8, any::<u64>()), prop::collection::vec(b, 1..=MAX_MERGED), prop::collection::vec(edit(), 0..4))
            .prop_map(|(into, new_author, from, edits)| Step::Merge { into, new_author, from, edits }),
    ]
}

/// A generated history: the salt scrambles the authors' ids.
#[derive(Clone, Debug)]
struct History {
    salt: u64,
    steps: Vec<Step>,
}

fn history(steps: std::ops::Range<usize>) -> impl Strategy<Value = History> {
    // A failing history shrinks by dropping whole steps, first to last; the steps come
    // first so that this happens before the salt shrinks.
    (prop::collection::vec(step().no_shrink(), steps), any::<u64>())
        .prop_map(|(steps, salt)| History { salt, steps })
}

/// A 64-bit mix, so author ids sort in an order unrelated to their creation.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The result of playing a history.
struct Played {
    /// Every change, in the order it was made (a causal order).
    log: Vec<Change>,
    /// Versions some replica held, with its text then.
    snapshots: Vec<(VectorClock, String)>,
    /// The branches at the end; together they hold every change.
    branches: Vec<Doc>,
    authors: usize,
}

/// Applies changes of `from` that `to` lacks.
fn pull(from: &Doc, to: &mut Doc) {
    for c in from.changes_since(to.version()) {
        to.apply(c).expect("a change made by a replica applies");
    }
    assert_eq!(to.pending_changes(), 0, "a sync leaves nothing buffered");
}

/// Makes `edits` on `doc` as local edits, checking each against the same splice on a
/// plain copy of the text: a local edit lands exactly where it was made.
fn make_edits(doc: &mut Doc, edits: &[Edit]) {
    let mut model: Vec<char> = doc.text().chars().collect();
    let insert = |doc: &mut Doc, model: &mut Vec<char>, pos: usize, text: &str| {
        doc.insert(pos, text).unwrap();
        model.splice(pos..pos, text.chars());
    };
    let delete = |doc: &mut Doc, model: &mut Vec<char>, pos: usize, n: usize| {
        doc.delete(pos, n).unwrap();
        model.drain(pos..pos + n);
    };
    for e in edits {
        let len = model.len();
        match *e {
            Edit::Insert { at, text } => insert(doc, &mut model, at.resolve(len), text),
            Edit::Delete { at, len: n } => {
                if len > 0 {
                    let pos = at.resolve(len).min(len - 1);
                    delete(doc, &mut model, pos, n.min(len - pos));
                }
            }
            Edit::Type { at, text, backwards } => {
                let mut pos = at.resolve(len);
                for ch in text.chars() {
                    insert(doc, &mut model, pos, ch.encode_utf8(&mut [0; 4]));
                    if !backwards {
                        pos += 1;
                    }
                }
            }
            Edit::Paste { at, n } => {
                let block: String = (0..n)
                    .map(|i| if i % 40 == 39 { '\n' } else { char::from(b'a' + (i % 26) as u8) })
                    .collect();
                insert(doc, &mut model, at.resolve(len), &block);
            }
            Edit::Backspace { at, n } => {
                let mut pos = at.resolve(len);
                for _ in 0..n.min(pos) {
                    delete(doc, &mut model, pos - 1, 1);
                    pos -= 1;
                }
            }
        }
        assert_eq!(doc.text(), model.iter().collect::<String>(), "local edit {e:?}");
    }
}

/// Plays a history on [`BRANCHES`] replicas, each new author starting from what the
/// branch it takes over holds.
fn play(h: &History) -> Played {
    let new_doc = |name: u64| Doc::new(ReplicaId(mix(h.salt ^ name)));
    let mut branches: Vec<Doc> = (0..BRANCHES as u64).map(new_doc).collect();
    let mut authors = BRANCHES;
    let mut log = Vec::new();
    let mut snapshots = Vec::new();
    for step in &h.steps {
        let (b, new_author, edits) = match step {
            Step::Edit { b, new_author, edits } => (*b, *new_author, edits),
            Step::Merge { into, new_author, from, edits } => {
                for &f in from.iter().filter(|&&f| f != *into) {
                    let (src, dst) = if f < *into {
                        let (a, b) = branches.split_at_mut(*into);
                        (&a[f], &mut b[0])
                    } else {
                        let (a, b) = branches.split_at_mut(f);
                        (&b[0], &mut a[*into])
                    };
                    pull(src, dst);
                }
                let d = &branches[*into];
                snapshots.push((d.version().clone(), d.text()));
                (*into, *new_author, edits)
            }
        };
        if let Some(name) = new_author {
            authors += 1;
            let mut fresh = new_doc(name);
            pull(&branches[b], &mut fresh);
            branches[b] = fresh;
        }
        let d = &mut branches[b];
        make_edits(d, edits);
        if let Some(c) = d.commit() {
            log.push(c);
        }
    }
    for d in &branches {
        snapshots.push((d.version().clone(), d.text()));
    }
    Played { log, snapshots, branches, authors }
}

/// A deterministic permutation of `0..n`.
fn shuffled(n: usize, mut seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed = mix(seed);
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    v
}

/// Replays a history into the reference and into fresh replicas, and checks that they
/// agree: at two dozen versions on the way in the order the changes were made, at the
/// end for replicas fed other causal orders, and at versions the branches held.
fn check_history(h: &History) {
    let played = play(h);
    let log = &played.log;

    // The order the changes were made in: compare after every change of a short
    // history (so a shrunk one fails at its first difference), otherwise at two dozen
    // versions on the way, and at the end.
    let mut reference = Fugue::new();
    let mut doc = Doc::new(ReplicaId(u64::MAX));
    let every = if log.len() <= 64 { 1 } else { log.len().div_ceil(24) };
    for (i, c) in log.iter().enumerate() {
        reference.apply(c);
        doc.apply(c.clone()).unwrap();
        if i % every == every - 1 || i + 1 == log.len() {
            assert_eq!(doc.text(), reference.text(), "after change {i} ({}) of {}", c.id(), log.len());
        }
    }
    doc.check();
    let expected = reference.text();

    // Other causal orders: reversed and shuffled (the causal buffer reorders them),
    // and dealt in a round robin of interleaved per-author queues.
    let orders: [Vec<usize>; 2] = [(0..log.len()).rev().collect(), shuffled(log.len(), h.salt)];
    for (k, order) in orders.iter().enumerate() {
        let mut other = Doc::new(ReplicaId(u64::MAX - 1 - k as u64));
        for &i in order {
            other.apply(log[i].clone()).unwrap();
        }
        assert_eq!(other.pending_changes(), 0);
        assert_eq!(other.text(), expected, "replica fed order {k}");
    }

    // Every branch's own history, shuffled together: the branches hold overlapping
    // histories cut into changes at different places, so the replica drops what it
    // already holds from many of them, and buffers what comes early.
    let exports: Vec<Change> = played.branches.iter().flat_map(Doc::all_changes).collect();
    let mut gathered = Doc::new(ReplicaId(u64::MAX - 3));
    for i in shuffled(exports.len(), !h.salt) {
        gathered.apply(exports[i].clone()).unwrap();
    }
    assert_eq!(gathered.pending_changes(), 0);
    assert_eq!(gathered.version(), doc.version());
    assert_eq!(gathered.text(), expected, "replica fed every branch's history");

    // Versions the branches held: their texts, the reference and time travel agree.
    let n = played.snapshots.len();
    let picks: Vec<usize> = if n <= 8 { (0..n).collect() } else { (0..8).map(|k| k * (n - 1) / 7).collect() };
    for &p in &picks {
        let (version, text) = &played.snapshots[p];
        assert_eq!(&reference_at(log, version), text, "branch text at snapshot {p}");
        assert_eq!(&doc.text_at(version).unwrap(), text, "time travel to snapshot {p}");
    }
    assert!(played.authors >= BRANCHES);
}

/// The config of these tests: `cases` cases, and room to shrink a failing history step
/// by step (the default allows only four shrinking runs per case).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { max_shrink_iters: 4096, ..prop_config(cases, "proptest-regressions/it/fugue_ref.txt") }
}

proptest! {
    #![proptest_config(config(12))]

    #[test]
    fn concurrent_histories_match_reference_fuguemax(h in history(1..500)) {
        check_history(&h);
    }
}

/// A longer soak: bigger histories, more cases. Run with `--ignored`.
#[test]
#[ignore]
fn soak_concurrent_histories_match_reference_fuguemax() {
    let mut runner = proptest::test_runner::TestRunner::new(config(64));
    runner
        .run(&history(1..1600), |h| {
            check_history(&h);
            Ok(())
        })
        .unwrap();
}
