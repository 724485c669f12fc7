//! Seeded generators of editing traces for the shapes the recorded traces lack, in the
//! trace format of `tests/data/traces/README.md`, so `tandem trace --generate SPEC` and
//! the rivals benchmark (`gen:SPEC`) run them like any trace file. Nothing generated is
//! committed; the same spec always gives the same trace, byte for byte.
//!
//! Specs:
//! - `code:SEED`: a code-editing history. A 50-70k-char source file is pasted, then
//!   30-40k transactions follow: 1-3 char edits spread over many positions, multi-cursor
//!   edits (one transaction, many patches), block deletions and re-pastes, renames,
//!   with some non-ASCII text.
//! - `conc:SEED`: a very concurrent history. Hundreds of authors each edit on a
//!   long-lived branch; a few maintainers merge up to nine branches at a time, and
//!   branches pull the maintainers' work now and then. Positions are relative to each
//!   transaction's parents, as the format requires, found by replaying the history on
//!   one Tandem replica per author.
//! - `big:SEED`: a 1,000,000-char document (source files pasted one after another),
//!   then 30,000 small edits spread over it.
//! - `long:SOURCE`: SOURCE (a spec or a trace file) repeated until it holds 10,000,000
//!   CRDT ops (chars inserted plus deleted); each repetition starts by deleting the
//!   whole document, so the text stays the size of SOURCE's while the history grows.
//!
//! The code generator keeps its own model of the text (a chunked char buffer), so its
//! `endContent` does not come from the CRDT under test.

use crate::trace::{Patch, Trace, Txn};
use anyhow::{Context, Result, bail};
use std::path::Path;
use tandem_crdt::{Doc, OpId, ReplicaId};

/// CRDT ops a `long:` trace reaches.
pub const LONG_OPS: usize = 10_000_000;

/// Chars of the `big:` document.
pub const BIG_CHARS: usize = 1_000_000;

/// Builds the trace a spec names (see the module docs).
pub fn generate(spec: &str) -> Result<Trace> {
    let (kind, arg) = spec.split_once(':').unwrap_or((spec, "1"));
    let seed = || arg.parse::<u64>().with_context(|| format!("{spec}: the seed must be a number"));
    match kind {
        "code" => Ok(code(seed()?, CodeShape::CODE)),
        "big" => Ok(code(seed()?, CodeShape::BIG)),
        "conc" => Ok(concurrent(seed()?, ConcShape::DEFAULT)),
        "long" => {
            let source = if is_spec(arg) { generate(arg)? } else { Trace::load(Path::new(arg))? };
            repeat_to(&source, LONG_OPS)
        }
        _ => bail!("unknown trace generator {kind:?} (code:SEED, conc:SEED, big:SEED, long:SOURCE)"),
    }
}

/// A code-editing history of about `paste_chars` pasted chars and `txns` edit
/// transactions (what `code:SEED` makes, at another size).
pub fn code_sized(seed: u64, paste_chars: usize, txns: usize) -> Trace {
    code(seed, CodeShape { paste_chars: (paste_chars, paste_chars), file_chars: 64_000, txns: (txns, txns) })
}

/// A concurrent history of `agents` authors (at least 8) and about `txns` transactions
/// (what `conc:SEED` makes, at another size).
pub fn concurrent_sized(seed: u64, agents: usize, txns: usize) -> Trace {
    let agents = agents.max(8);
    concurrent(seed, ConcShape { agents, maintainers: 2, active: agents / 2, txns, base_chars: 2_000 })
}

/// Whether `s` names a generator rather than a file.
pub fn is_spec(s: &str) -> bool {
    ["code:", "big:", "conc:", "long:"].iter().any(|p| s.starts_with(p))
}

/// SplitMix64: a small, fast, seeded PRNG; the generators' only source of choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5EED_7A4D_E400_0000)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `pct`%.
    pub fn pct(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

// ----- source text ------------------------------------------------------------------

const IDENTS: &[&str] = &[
    "buffer", "len", "index", "node", "parent", "child", "count", "value", "result", "state", "cursor",
    "offset", "width", "height", "peer", "change", "version", "clock", "span", "leaf", "tree", "text",
    "item", "key", "entry", "config", "limit", "start", "end", "total", "size", "frame", "event",
];
const TYPES: &[&str] =
    &["usize", "u64", "String", "Vec<u8>", "Option<usize>", "&str", "bool", "Node", "Span"];
const COMMENTS: &[&str] = &[
    "Keeps the invariant: every leaf holds at least one span.",
    "Résumé of the state — see the design notes.",
    "Walks the tree from the root → leaf.",
    "Counts chars, not bytes: “naïve” offsets break on UTF-8.",
    "日本語のテキストも扱う。",
    "TODO(seph): cache this ★",
    "Returns early when the entry is already present.",
    "Σ of the children's lengths; ≤ the limit.",
];
/// Non-ASCII fragments typed now and then (identifiers stay ASCII, as in real code).
const UNICODE_BITS: &[&str] = &["é", "ü", "→", "—", "ñ", "☺", "中", "ß", "°", "€"];

/// Appends one Rust-looking function of 5-25 lines to `out`.
fn function(rng: &mut Rng, out: &mut String) {
    let name = format!("{}_{}", rng.pick(IDENTS), rng.pick(IDENTS));
    if rng.pct(40) {
        out.push_str("/// ");
        out.push_str(rng.pick(COMMENTS));
        out.push('\n');
    }
    out.push_str(&format!(
        "pub fn {name}({}: {}, {}: {}) -> {} {{\n",
        rng.pick(IDENTS),
        rng.pick(TYPES),
        rng.pick(IDENTS),
        rng.pick(TYPES),
        rng.pick(TYPES)
    ));
    for _ in 0..rng.range(4, 24) {
        let indent = "    ".repeat(rng.range(1, 3));
        let line = match rng.below(7) {
            0 => format!("let {} = {}.{}();", rng.pick(IDENTS), rng.pick(IDENTS), rng.pick(IDENTS)),
            1 => format!("if {} > {} {{ return {}; }}", rng.pick(IDENTS), rng.below(1000), rng.pick(IDENTS)),
            2 => format!("// {}", rng.pick(COMMENTS)),
            3 => format!("{}.push({} + {});", rng.pick(IDENTS), rng.pick(IDENTS), rng.below(64)),
            4 => format!("let msg = \"{} {}\";", rng.pick(IDENTS), rng.pick(UNICODE_BITS)),
            5 => format!(
                "for {} in 0..{}.len() {{ {} += 1; }}",
                rng.pick(IDENTS),
                rng.pick(IDENTS),
                rng.pick(IDENTS)
            ),
            _ => format!("{} = {}.max({});", rng.pick(IDENTS), rng.pick(IDENTS), rng.pick(IDENTS)),
        };
        out.push_str(&indent);
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("}\n\n");
}

/// A source file of at least `chars` chars.
fn source_file(rng: &mut Rng, chars: usize) -> String {
    let mut out = String::from(
        "//! Generated source for the code-editing benchmark.\n\nuse std::collections::BTreeMap;\n\n",
    );
    while out.chars().count() < chars {
        function(rng, &mut out);
    }
    out
}

/// 1-3 chars as typed in code: mostly identifier chars, some punctuation, some non-ASCII.
fn small_text(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz_0123456789 ();.,{}=&";
    if rng.pct(3) {
        return rng.pick(UNICODE_BITS).to_owned();
    }
    (0..rng.range(1, 3)).map(|_| rng.pick(CHARS) as char).collect()
}

// ----- the text model ---------------------------------------------------------------

/// Chars in chunks of at most `CHUNK`, so edits anywhere in a 1M-char text stay cheap.
#[derive(Debug, Default)]
struct Text {
    chunks: Vec<Vec<char>>,
    len: usize,
}

const CHUNK: usize = 1024;

impl Text {
    /// The chunk holding char `pos` (or the end) and the offset in it.
    fn locate(&self, mut pos: usize) -> (usize, usize) {
        for (i, c) in self.chunks.iter().enumerate() {
            if pos <= c.len() {
                return (i, pos);
            }
            pos -= c.len();
        }
        (self.chunks.len(), 0)
    }

    fn insert(&mut self, pos: usize, s: &str) {
        assert!(pos <= self.len);
        let (i, off) = self.locate(pos);
        if i == self.chunks.len() {
            self.chunks.push(Vec::new());
        }
        let chunk = &mut self.chunks[i];
        let tail = chunk.split_off(off);
        chunk.extend(s.chars());
        chunk.extend(tail);
        self.len += s.chars().count();
        if chunk.len() > CHUNK {
            let parts: Vec<Vec<char>> = chunk.chunks(CHUNK / 2).map(<[char]>::to_vec).collect();
            self.chunks.splice(i..=i, parts);
        }
    }

    fn delete(&mut self, pos: usize, n: usize) -> String {
        assert!(pos + n <= self.len);
        let mut out = String::new();
        let (mut i, mut off) = self.locate(pos);
        let mut left = n;
        while left > 0 {
            if off == self.chunks[i].len() {
                i += 1;
                off = 0;
                continue;
            }
            let take = left.min(self.chunks[i].len() - off);
            out.extend(self.chunks[i].drain(off..off + take));
            left -= take;
        }
        self.chunks.retain(|c| !c.is_empty());
        self.len -= n;
        out
    }

    fn char_at(&self, pos: usize) -> char {
        let (i, off) = self.locate(pos + 1);
        self.chunks[i][off - 1]
    }

    fn text(&self) -> String {
        self.chunks.iter().flatten().collect()
    }
}

// ----- code-editing histories -------------------------------------------------------

/// The sizes of a code-editing history.
#[derive(Debug, Clone, Copy)]
struct CodeShape {
    /// Chars pasted before the edits, as pastes of at most `file_chars`.
    paste_chars: (usize, usize),
    file_chars: usize,
    /// Number of edit transactions.
    txns: (usize, usize),
}

impl CodeShape {
    const CODE: CodeShape =
        CodeShape { paste_chars: (50_000, 70_000), file_chars: 70_000, txns: (30_000, 40_000) };
    const BIG: CodeShape =
        CodeShape { paste_chars: (BIG_CHARS, BIG_CHARS), file_chars: 64_000, txns: (30_000, 30_000) };
}

/// A code-editing history (spec `code:SEED` or `big:SEED`).
fn code(seed: u64, shape: CodeShape) -> Trace {
    let mut rng = Rng::new(seed);
    let mut text = Text::default();
    let mut txns = Vec::new();
    let target = rng.range(shape.paste_chars.0, shape.paste_chars.1);
    while text.len < target {
        let want = (target - text.len).min(shape.file_chars);
        let file: String = source_file(&mut rng, want).chars().take(want).collect();
        let at = text.len;
        text.insert(at, &file);
        txns.push(Txn { parents: Vec::new(), agent: 0, patches: vec![Patch(at, 0, file)] });
    }
    let (lo, hi) = (target * 3 / 4, target * 5 / 4);
    let n = rng.range(shape.txns.0, shape.txns.1);
    let mut cursor = rng.below(text.len);
    let mut clipboard = String::new();
    for _ in 0..n {
        let mut patches = Vec::new();
        let roll = rng.below(1000);
        if roll < 4 && text.len > lo {
            // A block deletion (cut): 1-30 lines' worth, kept for a re-paste.
            let n = rng.range(40, 1200).min(text.len / 4);
            let pos = rng.below(text.len - n);
            clipboard = text.delete(pos, n);
            patches.push(Patch(pos, n, String::new()));
            cursor = pos;
        } else if roll < 8 && text.len < hi {
            // A paste: the clipboard elsewhere, or a fresh function.
            let s = if !clipboard.is_empty() && rng.pct(60) {
                clipboard.clone()
            } else {
                let mut s = String::new();
                function(&mut rng, &mut s);
                s
            };
            let pos = rng.below(text.len + 1);
            text.insert(pos, &s);
            cursor = pos + s.chars().count();
            patches.push(Patch(pos, 0, s));
        } else if roll < 38 {
            // Multi-cursor: the same edit on 2-16 lines, or a rename at every use.
            let k = rng.range(2, 10);
            let stride = if rng.pct(50) { rng.range(25, 60) } else { rng.range(200, 4000) };
            let start = rng.below(text.len.saturating_sub(k * stride).max(1));
            let rename = rng.pct(40);
            let del = if rename {
                rng.range(2, 8)
            } else if rng.pct(30) {
                rng.range(1, 3)
            } else {
                0
            };
            let ins =
                if rename { format!("{}{}", rng.pick(IDENTS), rng.below(10)) } else { small_text(&mut rng) };
            let ins_len = ins.chars().count();
            let mut shift = 0isize;
            for j in 0..k {
                let pos = (start + j * stride) as isize + shift;
                let pos = pos as usize;
                if pos + del > text.len {
                    break;
                }
                text.delete(pos, del);
                text.insert(pos, &ins);
                patches.push(Patch(pos, del, ins.clone()));
                shift += ins_len as isize - del as isize;
            }
            cursor = (start + shift.max(0) as usize).min(text.len);
        } else {
            // A small edit: at the cursor while typing on, elsewhere now and then.
            if rng.pct(15) {
                cursor = rng.below(text.len + 1);
            }
            cursor = cursor.min(text.len);
            let what = rng.below(100);
            if what < 62 || cursor == 0 {
                let s = small_text(&mut rng);
                text.insert(cursor, &s);
                patches.push(Patch(cursor, 0, s.clone()));
                cursor += s.chars().count();
            } else if what < 85 {
                // Backspace.
                let n = rng.range(1, 3).min(cursor);
                cursor -= n;
                text.delete(cursor, n);
                patches.push(Patch(cursor, n, String::new()));
            } else {
                // Select and retype, or forward delete.
                let n = rng.range(1, 3).min(text.len - cursor);
                let s = if rng.pct(70) { small_text(&mut rng) } else { String::new() };
                text.delete(cursor, n);
                text.insert(cursor, &s);
                cursor += s.chars().count();
                patches.push(Patch(cursor - s.chars().count(), n, s));
            }
            // Typing moves on within the line now and then.
            if rng.pct(10) && cursor < text.len && text.char_at(cursor) != '\n' {
                cursor += 1;
            }
        }
        patches.retain(|Patch(_, d, s)| *d > 0 || !s.is_empty());
        if !patches.is_empty() {
            txns.push(Txn { parents: Vec::new(), agent: 0, patches });
        }
    }
    Trace { kind: None, start_content: String::new(), end_content: text.text(), num_agents: 0, txns }
}

// ----- concurrent histories ---------------------------------------------------------

/// The sizes of a concurrent history.
#[derive(Debug, Clone, Copy)]
struct ConcShape {
    /// Authors in all.
    agents: usize,
    /// Maintainers (agents `0..maintainers`) who merge branches.
    maintainers: usize,
    /// Branches being worked on at any time.
    active: usize,
    /// Transactions in all.
    txns: usize,
    /// Chars of the first paste.
    base_chars: usize,
}

impl ConcShape {
    const DEFAULT: ConcShape =
        ConcShape { agents: 240, maintainers: 4, active: 24, txns: 30_000, base_chars: 20_000 };
}

/// One author's replica and the txns at the tip of what it holds.
#[derive(Debug)]
struct Branch {
    doc: Doc,
    heads: Vec<usize>,
}

/// A very concurrent history (spec `conc:SEED`).
fn concurrent(seed: u64, shape: ConcShape) -> Trace {
    let mut rng = Rng::new(seed);
    let mut branches: Vec<Branch> = (0..shape.agents)
        .map(|a| Branch { doc: Doc::new(ReplicaId(a as u64 + 1)), heads: Vec::new() })
        .collect();
    // The last op of each txn, which names it.
    let mut last: Vec<OpId> = Vec::new();
    let mut txns: Vec<Txn> = Vec::new();
    let base = source_file(&mut rng, shape.base_chars);
    commit(&mut branches[0], 0, vec![Patch(0, 0, base)], &mut txns, &mut last);

    // Working branches: (agent, edits left before it is handed to a maintainer).
    let mut next_agent = shape.maintainers;
    let mut active: Vec<usize> = Vec::new();
    let mut done: Vec<usize> = Vec::new();
    while txns.len() < shape.txns {
        // Start branches from a maintainer's tip.
        while active.len() < shape.active {
            let agent = if next_agent < shape.agents {
                next_agent += 1;
                next_agent - 1
            } else if !done.is_empty() {
                done.swap_remove(rng.below(done.len()))
            } else {
                break;
            };
            let m = rng.below(shape.maintainers);
            merge(&mut branches, agent, &[m], &last);
            active.push(agent);
        }
        let roll = rng.below(1000);
        if roll < 12 && active.len() > 2 {
            // A maintainer merges 2-9 branches at once, then touches the result up.
            let m = rng.below(shape.maintainers);
            let k = rng.range(2, 9).min(active.len());
            let mut picked = Vec::new();
            for _ in 0..k {
                let i = rng.below(active.len());
                let a = active[i];
                if !picked.contains(&a) {
                    picked.push(a);
                }
                // Some branches end when merged; most live on.
                if rng.pct(30) {
                    done.push(active.swap_remove(i));
                }
            }
            if rng.pct(50) {
                // The maintainers also pull each other's merges.
                picked.push((m + 1) % shape.maintainers);
            }
            picked.retain(|&a| a != m);
            merge(&mut branches, m, &picked, &last);
            let patches = small_edit(&mut rng, branches[m].doc.len_chars());
            commit(&mut branches[m], m, patches, &mut txns, &mut last);
        } else if roll < 20 {
            // A branch pulls a maintainer's tip.
            let a = rng.pick(&active);
            let m = rng.below(shape.maintainers);
            merge(&mut branches, a, &[m], &last);
        } else {
            // A burst of typing on one branch, in one place.
            let a = rng.pick(&active);
            let len = branches[a].doc.len_chars();
            let mut pos = rng.below(len + 1);
            for _ in 0..rng.range(1, 12) {
                let len = branches[a].doc.len_chars();
                pos = pos.min(len);
                let patches = if rng.pct(75) || pos == 0 {
                    let s = small_text(&mut rng);
                    let p = Patch(pos, 0, s.clone());
                    pos += s.chars().count();
                    vec![p]
                } else {
                    let n = rng.range(1, 3).min(pos);
                    pos -= n;
                    vec![Patch(pos, n, String::new())]
                };
                commit(&mut branches[a], a, patches, &mut txns, &mut last);
            }
        }
    }
    // The final text: every branch merged.
    let mut all = Doc::new(ReplicaId(u64::MAX));
    for b in &branches {
        for c in b.doc.changes_since(all.version()) {
            all.apply(c).expect("an honest change");
        }
    }
    Trace {
        kind: Some("concurrent".to_owned()),
        start_content: String::new(),
        end_content: all.text(),
        num_agents: shape.agents,
        txns,
    }
}

/// Applies `patches` to `b`'s replica as one txn of `agent` on top of its heads.
fn commit(b: &mut Branch, agent: usize, patches: Vec<Patch>, txns: &mut Vec<Txn>, last: &mut Vec<OpId>) {
    for Patch(pos, del, ins) in &patches {
        if *del > 0 {
            b.doc.delete(*pos, *del).expect("a delete within the text");
        }
        if !ins.is_empty() {
            b.doc.insert(*pos, ins).expect("an insert within the text");
        }
    }
    let c = b.doc.commit().expect("a txn with ops");
    last.push(OpId::new(c.author, c.end_seq() - 1));
    txns.push(Txn { parents: std::mem::replace(&mut b.heads, vec![txns.len()]), agent, patches });
}

/// 1-3 chars typed or deleted somewhere in a text of `len` chars.
fn small_edit(rng: &mut Rng, len: usize) -> Vec<Patch> {
    if len > 0 && rng.pct(30) {
        let pos = rng.below(len);
        vec![Patch(pos, rng.range(1, 3).min(len - pos), String::new())]
    } else {
        vec![Patch(rng.below(len + 1), 0, small_text(rng))]
    }
}

/// Brings `from`'s branches into `into`'s replica and heads.
fn merge(branches: &mut [Branch], into: usize, from: &[usize], last: &[OpId]) {
    for &f in from {
        if f == into {
            continue;
        }
        let (dst, src) = if into < f {
            let (l, r) = branches.split_at_mut(f);
            (&mut l[into], &r[0])
        } else {
            let (l, r) = branches.split_at_mut(into);
            (&mut r[0], &l[f])
        };
        let mut heads: Vec<usize> = dst
            .heads
            .iter()
            .copied()
            .filter(|h| !src.doc.version().contains(last[*h]) || src.heads.contains(h))
            .collect();
        for &h in &src.heads {
            if !dst.doc.version().contains(last[h]) {
                heads.push(h);
            }
        }
        heads.sort_unstable();
        for c in src.doc.changes_since(dst.doc.version()) {
            dst.doc.apply(c).expect("an honest change");
        }
        dst.heads = heads;
    }
}

// ----- long histories ---------------------------------------------------------------

/// CRDT ops of a trace: chars inserted plus chars deleted.
pub fn n_crdt_ops(trace: &Trace) -> usize {
    trace.start_content.chars().count()
        + trace
            .txns
            .iter()
            .flat_map(|t| &t.patches)
            .map(|Patch(_, d, s)| d + s.chars().count())
            .sum::<usize>()
}

/// A sequential `source` repeated until the history holds at least `ops` CRDT ops; each
/// repetition but the first starts by deleting the whole document.
pub fn repeat_to(source: &Trace, ops: usize) -> Result<Trace> {
    if source.is_concurrent() {
        bail!("only a sequential trace can be repeated");
    }
    let mut once = source.txns.clone();
    if !source.start_content.is_empty() {
        once.insert(
            0,
            Txn { parents: Vec::new(), agent: 0, patches: vec![Patch(0, 0, source.start_content.clone())] },
        );
    }
    let per = n_crdt_ops(&Trace { txns: once.clone(), ..source.clone() }).max(1);
    let end_len = source.end_content.chars().count();
    let mut txns = Vec::with_capacity(once.len() * ops.div_ceil(per));
    let mut total = 0;
    while total < ops {
        if total > 0 && end_len > 0 {
            txns.push(Txn { parents: Vec::new(), agent: 0, patches: vec![Patch(0, end_len, String::new())] });
            total += end_len;
        }
        txns.extend(once.iter().cloned());
        total += per;
    }
    Ok(Trace {
        kind: None,
        start_content: String::new(),
        end_content: source.end_content.clone(),
        num_agents: 0,
        txns,
    })
}
