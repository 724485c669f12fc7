//! What edits cost: a peer that deletes already-deleted text many times over makes
//! many ops, and the text CRDT's memory must not grow with them. Also an ignored
//! benchmark (`cargo test -p tandem-crdt --release -- --ignored bench`) that replays
//! an editing trace (automerge-paper unless `BENCH_TRACE` names another) and prints its
//! time and the text CRDT's heap, and one that times what a second replica does with
//! that history: decode its encoding (merge and load) and apply its changes one at a
//! time as remote changes (stream).

use crate::{doc, typed};
use std::time::Instant;
use tandem_crdt::{Change, Doc, Op, OpId, ReplicaId, encoding};

const VICTIM: ReplicaId = ReplicaId(1);
const PEER: ReplicaId = ReplicaId(2);

/// Heap the text CRDT may hold for a 100,000-char document, whatever its history.
const HEAP_LIMIT: usize = 10 << 20;

/// A replica that typed `n` chars and deleted them all; returns it with its last seq.
fn typed_and_deleted(n: usize) -> (Doc, u64) {
    let mut d = doc(VICTIM.0);
    typed(&mut d, 0, &"x".repeat(n));
    d.delete(0, n).unwrap();
    d.commit().unwrap();
    let seq = d.version().get(VICTIM);
    (d, seq)
}

/// A change by `PEER` on top of the victim's ops `..=dep_seq`: `times` deletes of the
/// victim's first `n` chars.
fn repeated_deletes(dep_seq: u64, n: u64, times: usize) -> Change {
    Change {
        time: 0,
        author: PEER,
        start_seq: 1,
        deps: vec![OpId::new(VICTIM, dep_seq)],
        lamport: dep_seq + 1,
        ops: (0..times)
            .map(|_| Op::Delete { start: OpId::new(VICTIM, 1), len: n, reversed: false })
            .collect(),
    }
}

#[test]
fn deleting_deleted_text_again_and_again_takes_no_memory() {
    let (mut d, seq) = typed_and_deleted(100_000);
    let before = d.text_heap_size();
    d.apply(repeated_deletes(seq, 100_000, 2_000)).unwrap();
    assert_eq!(d.n_ops(), 200_000 + 2_000 * 100_000);
    d.insert(0, "a").unwrap();
    d.commit().unwrap();
    assert_eq!(d.text(), "a");
    let after = d.text_heap_size();
    assert!(after < HEAP_LIMIT, "the text CRDT holds {after} bytes (before the deletes: {before})");
    d.check();
}

#[test]
fn many_deletes_spread_over_many_changes_take_no_memory() {
    let (mut d, mut seq) = typed_and_deleted(100_000);
    let mut peer_seq = 1;
    for _ in 0..20 {
        let mut c = repeated_deletes(seq, 100_000, 50);
        c.start_seq = peer_seq;
        c.deps = vec![OpId::new(VICTIM, seq)];
        if peer_seq > 1 {
            c.deps.push(OpId::new(PEER, peer_seq - 1));
        }
        c.lamport = d.n_ops() as u64 + 1;
        peer_seq += c.n_seqs();
        d.apply(c).unwrap();
        // A local edit between the changes, in the middle of the visible text.
        d.insert(d.len_chars() / 2, "ab").unwrap();
        d.commit().unwrap();
        seq = d.version().get(VICTIM);
    }
    assert_eq!(d.len_chars(), 40);
    let heap = d.text_heap_size();
    assert!(heap < HEAP_LIMIT, "the text CRDT holds {heap} bytes");
    d.check();
}

// ----- the trace benchmark -----------------------------------------------------------

/// A minimal JSON value, enough for the editing traces.
#[derive(Debug)]
enum Json {
    Null,
    Bool,
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(fields) => &fields.iter().find(|(k, _)| k == key).expect("a trace field").1,
            _ => panic!("not an object"),
        }
    }

    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(items) => items,
            _ => panic!("not an array"),
        }
    }

    fn num(&self) -> usize {
        match self {
            Json::Num(n) => *n as usize,
            _ => panic!("not a number"),
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a string"),
        }
    }
}

/// A recursive-descent JSON reader over the whole input.
struct JsonReader<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonReader<'_> {
    fn ws(&mut self) {
        while self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        let hit = self.s[self.i] == b;
        if hit {
            self.i += 1;
        }
        hit
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.ws();
                        let key = self.string();
                        assert!(self.eat(b':'));
                        fields.push((key, self.value()));
                        if self.eat(b'}') {
                            break;
                        }
                        assert!(self.eat(b','));
                    }
                }
                Json::Obj(fields)
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value());
                        if self.eat(b']') {
                            break;
                        }
                        assert!(self.eat(b','));
                    }
                }
                Json::Arr(items)
            }
            b'"' => Json::Str(self.string()),
            b't' => {
                self.i += 4;
                Json::Bool
            }
            b'f' => {
                self.i += 5;
                Json::Bool
            }
            b'n' => {
                self.i += 4;
                Json::Null
            }
            _ => {
                let start = self.i;
                while matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                Json::Num(text.parse().expect("a JSON number"))
            }
        }
    }

    fn hex4(&mut self) -> u32 {
        let text = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
        self.i += 4;
        u32::from_str_radix(text, 16).expect("a \\u escape")
    }

    fn string(&mut self) -> String {
        assert_eq!(self.s[self.i], b'"');
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let b = self.s[self.i];
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).expect("UTF-8 in a trace"),
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    let c = match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'u' => {
                            let mut u = self.hex4();
                            if (0xd800..0xdc00).contains(&u) {
                                self.i += 2;
                                let low = self.hex4();
                                u = 0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00);
                            }
                            char::from_u32(u).expect("a valid code point")
                        }
                        other => other as char,
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                other => out.push(other),
            }
        }
    }
}

/// One trace txn: its patches `(pos, delete count, inserted text)`.
type Txn = Vec<(usize, usize, String)>;

/// Reads a gzipped sequential trace: its txns and its final text.
fn read_trace(path: &str) -> (Vec<Txn>, String) {
    let gz = std::fs::read(path).expect("the trace file");
    assert_eq!(&gz[..3], &[0x1f, 0x8b, 8], "a gzip file");
    let flags = gz[3];
    let mut at = 10;
    if flags & 4 != 0 {
        at += 2 + u16::from_le_bytes([gz[at], gz[at + 1]]) as usize;
    }
    for bit in [8, 16] {
        if flags & bit != 0 {
            at += gz[at..].iter().position(|&b| b == 0).expect("a terminated header field") + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    let json = miniz_oxide::inflate::decompress_to_vec(&gz[at..]).expect("a deflate stream");
    let root = JsonReader { s: &json, i: 0 }.value();
    assert_eq!(root.get("startContent").str(), "");
    let txns = root
        .get("txns")
        .arr()
        .iter()
        .map(|t| {
            t.get("patches")
                .arr()
                .iter()
                .map(|p| {
                    let p = p.arr();
                    (p[0].num(), p[1].num(), p[2].str().to_owned())
                })
                .collect()
        })
        .collect();
    (txns, root.get("endContent").str().to_owned())
}

/// Makes the edits of one txn, without committing.
fn edit(d: &mut Doc, txn: &Txn) {
    for (pos, del, ins) in txn {
        if *del > 0 {
            d.delete(*pos, *del).unwrap();
        }
        if !ins.is_empty() {
            d.insert(*pos, ins).unwrap();
        }
    }
}

/// Replays a trace as local edits, one committed transaction per txn.
fn replay(txns: &[Txn]) -> Doc {
    let mut d = doc(1);
    for txn in txns {
        edit(&mut d, txn);
        d.commit_quiet();
    }
    d
}

/// The sequential trace the benchmarks replay: `BENCH_TRACE` (a name in
/// `tests/data/traces/sequential/`), automerge-paper by default. Its name, txns and
/// final text.
fn bench_trace() -> (String, Vec<Txn>, String) {
    let name = std::env::var("BENCH_TRACE").unwrap_or_else(|_| "automerge-paper".to_owned());
    // A name is a trace in the repository; a path (with a `/`) is any sequential trace
    // file, such as one `tandem trace --generate code:1 --write` wrote.
    let path = if name.contains('/') {
        name.clone()
    } else {
        format!("{}/../tests/data/traces/sequential/{name}.json.gz", env!("CARGO_MANIFEST_DIR"))
    };
    let (txns, end) = read_trace(&path);
    (name, txns, end)
}

#[test]
#[ignore = "a benchmark: run in release mode with --ignored bench"]
fn bench_automerge_paper_replay() {
    let (name, txns, end) = bench_trace();
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let mut best = f64::MAX;
    let mut heap = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let d = replay(&txns);
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(d.text(), end);
        heap = d.text_heap_size();
    }
    println!("{name} replay: best of {runs} {best:.2} ms, text heap {heap} bytes");
}

/// The changes a live peer receives for a trace: one per txn, in order.
fn live_changes(txns: &[Txn]) -> Vec<Change> {
    let mut d = doc(1);
    let mut out = Vec::with_capacity(txns.len());
    for txn in txns {
        edit(&mut d, txn);
        out.extend(d.commit());
    }
    out
}

/// Times the trace's history at a second replica, as `tandem trace` does: merge
/// (decode the full encoding into an empty replica), load (decode and read the text) and
/// stream (apply every txn's change as a remote change, one at a time). `BENCH_ONLY`
/// set to `merge`, `load` or `stream` runs only that part (for profiling).
#[test]
#[ignore = "a benchmark: run in release mode with --ignored bench"]
fn bench_automerge_paper_remote() {
    let (name, txns, end) = bench_trace();
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let only = std::env::var("BENCH_ONLY").ok();
    let wanted = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let d = replay(&txns);
    let bytes = encoding::encode_doc(&d);
    let live = live_changes(&txns);
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let (mut merge, mut load, mut stream) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..runs {
        if wanted("merge") {
            let t = Instant::now();
            let merged = encoding::decode_doc(&bytes, ReplicaId(u64::MAX)).unwrap();
            merge = merge.min(ms(t));
            assert_eq!(merged.version(), d.version());
        }
        if wanted("load") {
            let t = Instant::now();
            let text = encoding::decode_doc(&bytes, ReplicaId(u64::MAX)).unwrap().text();
            load = load.min(ms(t));
            assert_eq!(text, end);
        }
        if wanted("stream") {
            let changes = live.clone();
            let t = Instant::now();
            let mut remote = Doc::new(ReplicaId(u64::MAX - 1));
            for c in changes {
                remote.apply(c).unwrap();
            }
            stream = stream.min(ms(t));
            assert_eq!(remote.text(), end);
        }
    }
    println!(
        "{name}, best of {runs}: merge {merge:.2} ms, load {load:.2} ms, stream {stream:.2} ms, \
         {} changes, {} encoded bytes",
        live.len(),
        bytes.len()
    );
}
