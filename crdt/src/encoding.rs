//! The one wire and disk format: a single [`Change`], a batch of changes, and a whole
//! document with its full history. Every encoding starts with a version byte (a whole
//! document with a magic and then the version); unknown versions are errors.
//!
//! Integers are LEB128 varints; replica ids are 8 bytes little-endian. The document
//! encoding is columnar: one column per field, run-length encoded where it pays, then
//! the whole body is DEFLATE-compressed.
//!
//! Decoding untrusted bytes never panics and never allocates from a length field before
//! checking it against the bytes that are left; errors name what was wrong and where.

use crate::change::{Change, Op, Value};
use crate::clock::VectorClock;
use crate::doc::{DelRun, Doc, UndoState};
use crate::error::Error;
use crate::id::{OpId, ReplicaId};
use crate::text::NONE;

/// Version of the change and batch encodings.
pub const CHANGE_VERSION: u8 = 1;
/// Version of the document encoding.
pub const DOC_VERSION: u8 = 1;
const DOC_MAGIC: &[u8; 4] = b"TNDM";
/// Largest decompressed document body accepted (guards against decompression bombs).
pub const MAX_DOC_BODY: usize = 1 << 30;

// ----- primitives ----------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_replica(out: &mut Vec<u8>, r: ReplicaId) {
    out.extend_from_slice(&r.0.to_le_bytes());
}

/// A cursor over untrusted bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, base: 0, what }
    }

    fn err(&self, reason: &'static str) -> Error {
        Error::Decode { what: self.what, reason, offset: self.base + self.pos }
    }

    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn u8(&mut self) -> Result<u8, Error> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.err("unexpected end of input"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint too long"))
    }

    fn u32(&mut self) -> Result<u32, Error> {
        u32::try_from(self.varint()?).map_err(|_| self.err("number too large"))
    }

    /// A count of items that each take at least one byte: checked against the input.
    fn count(&mut self) -> Result<usize, Error> {
        let n = self.varint()?;
        if n > self.left() as u64 {
            return Err(self.err("count exceeds the input size"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.left() {
            return Err(self.err("length exceeds the input size"));
        }
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    fn str(&mut self) -> Result<&'a str, Error> {
        let n = self.count()?;
        let b = self.bytes(n)?;
        std::str::from_utf8(b).map_err(|_| self.err("invalid UTF-8"))
    }

    fn replica(&mut self) -> Result<ReplicaId, Error> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(ReplicaId(u64::from_le_bytes(a)))
    }

    /// A nested length-prefixed section.
    fn section(&mut self, what: &'static str) -> Result<Reader<'a>, Error> {
        let n = self.count()?;
        let base = self.base + self.pos;
        let buf = self.bytes(n)?;
        Ok(Reader { buf, pos: 0, base, what })
    }
}

// ----- values --------------------------------------------------------------------------

fn put_value(out: &mut Vec<u8>, v: &Option<Value>) {
    match v {
        None => out.push(0),
        Some(Value::Null) => out.push(1),
        Some(Value::Bool(false)) => out.push(2),
        Some(Value::Bool(true)) => out.push(3),
        Some(Value::Int(i)) => {
            out.push(4);
            put_varint(out, zigzag(*i));
        }
        Some(Value::Float(f)) => {
            out.push(5);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Some(Value::Str(s)) => {
            out.push(6);
            put_str(out, s);
        }
        Some(Value::Bytes(b)) => {
            out.push(7);
            put_varint(out, b.len() as u64);
            out.extend_from_slice(b);
        }
    }
}

fn read_value(r: &mut Reader<'_>) -> Result<Option<Value>, Error> {
    Ok(Some(match r.u8()? {
        0 => return Ok(None),
        1 => Value::Null,
        2 => Value::Bool(false),
        3 => Value::Bool(true),
        4 => Value::Int(unzigzag(r.varint()?)),
        5 => {
            let b = r.bytes(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Value::Float(f64::from_le_bytes(a))
        }
        6 => Value::Str(r.str()?.to_owned()),
        7 => {
            let n = r.count()?;
            Value::Bytes(r.bytes(n)?.to_vec())
        }
        _ => return Err(r.err("unknown value tag")),
    }))
}

// ----- changes -------------------------------------------------------------------------

/// How an op id is written: absent, the change's author (seq only), or another replica.
fn put_id(out: &mut Vec<u8>, author: ReplicaId, id: Option<OpId>) -> u8 {
    match id {
        None => 0,
        Some(id) if id.replica == author => {
            put_varint(out, id.seq);
            1
        }
        Some(id) => {
            put_replica(out, id.replica);
            put_varint(out, id.seq);
            2
        }
    }
}

fn read_id(r: &mut Reader<'_>, author: ReplicaId, kind: u8) -> Result<Option<OpId>, Error> {
    match kind {
        0 => Ok(None),
        1 => Ok(Some(OpId::new(author, r.varint()?))),
        2 => {
            let replica = r.replica()?;
            Ok(Some(OpId::new(replica, r.varint()?)))
        }
        _ => Err(r.err("unknown id kind")),
    }
}

fn put_change_body(out: &mut Vec<u8>, c: &Change) {
    put_replica(out, c.author);
    put_varint(out, c.start_seq);
    put_varint(out, c.lamport);
    put_varint(out, c.deps.len() as u64);
    for d in &c.deps {
        put_replica(out, d.replica);
        put_varint(out, d.seq);
    }
    put_varint(out, c.ops.len() as u64);
    let mut ids = Vec::new();
    for op in &c.ops {
        match op {
            Op::Insert { origin_left, origin_right, text } => {
                ids.clear();
                let l = put_id(&mut ids, c.author, *origin_left);
                let r = put_id(&mut ids, c.author, *origin_right);
                out.push(l | r << 2);
                out.extend_from_slice(&ids);
                put_str(out, text);
            }
            Op::Delete { start, len, reversed } => {
                out.push(if *reversed { 0x11 } else { 0x10 });
                put_replica(out, start.replica);
                put_varint(out, start.seq);
                put_varint(out, *len);
            }
            Op::MapSet { key, value } => {
                out.push(0x20);
                put_str(out, key);
                put_value(out, value);
            }
        }
    }
}

fn read_change_body(r: &mut Reader<'_>) -> Result<Change, Error> {
    let author = r.replica()?;
    let start_seq = r.varint()?;
    let lamport = r.varint()?;
    let n_deps = r.count()?;
    let mut deps = Vec::with_capacity(n_deps);
    for _ in 0..n_deps {
        let replica = r.replica()?;
        deps.push(OpId::new(replica, r.varint()?));
    }
    let n_ops = r.count()?;
    let mut ops = Vec::with_capacity(n_ops);
    for _ in 0..n_ops {
        let tag = r.u8()?;
        ops.push(match tag {
            0..=0x0f => {
                let origin_left = read_id(r, author, tag & 3)?;
                let origin_right = read_id(r, author, tag >> 2)?;
                let text = r.str()?.to_owned();
                if text.is_empty() {
                    return Err(r.err("empty insert"));
                }
                Op::Insert { origin_left, origin_right, text }
            }
            0x10 | 0x11 => {
                let replica = r.replica()?;
                let seq = r.varint()?;
                let len = r.varint()?;
                if len == 0 {
                    return Err(r.err("empty delete"));
                }
                Op::Delete { start: OpId::new(replica, seq), len, reversed: tag == 0x11 }
            }
            0x20 => {
                let key = r.str()?.to_owned();
                Op::MapSet { key, value: read_value(r)? }
            }
            _ => return Err(r.err("unknown op tag")),
        });
    }
    Ok(Change { author, start_seq, deps, lamport, ops })
}

fn check_version(r: &mut Reader<'_>, supported: u8) -> Result<(), Error> {
    let v = r.u8()?;
    if v != supported {
        return Err(Error::UnknownVersion { what: r.what, found: v, supported });
    }
    Ok(())
}

/// Encodes one change: the bytes that are signed, sent and stored.
pub fn encode_change(c: &Change) -> Vec<u8> {
    let mut out = vec![CHANGE_VERSION];
    put_change_body(&mut out, c);
    out
}

/// Decodes one change; trailing bytes are an error.
pub fn decode_change(bytes: &[u8]) -> Result<Change, Error> {
    let mut r = Reader::new(bytes, "change");
    check_version(&mut r, CHANGE_VERSION)?;
    let c = read_change_body(&mut r)?;
    if !r.is_empty() {
        return Err(r.err("trailing bytes"));
    }
    Ok(c)
}

/// Encodes a batch of changes.
pub fn encode_changes(changes: &[Change]) -> Vec<u8> {
    let mut out = vec![CHANGE_VERSION];
    put_varint(&mut out, changes.len() as u64);
    for c in changes {
        put_change_body(&mut out, c);
    }
    out
}

/// Decodes a batch of changes.
pub fn decode_changes(bytes: &[u8]) -> Result<Vec<Change>, Error> {
    let mut r = Reader::new(bytes, "change batch");
    check_version(&mut r, CHANGE_VERSION)?;
    let n = r.count()?;
    let mut res = Vec::with_capacity(n);
    for _ in 0..n {
        res.push(read_change_body(&mut r)?);
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes"));
    }
    Ok(res)
}

// ----- vector clocks -----------------------------------------------------------------

/// Encodes a vector clock (what catch-up sync sends).
pub fn encode_clock(clock: &VectorClock) -> Vec<u8> {
    let mut out = vec![CHANGE_VERSION];
    put_varint(&mut out, clock.len() as u64);
    for (r, s) in clock.iter() {
        put_replica(&mut out, r);
        put_varint(&mut out, s);
    }
    out
}

/// Decodes a vector clock; entries must be sorted, unique and non-zero.
pub fn decode_clock(bytes: &[u8]) -> Result<VectorClock, Error> {
    let mut r = Reader::new(bytes, "vector clock");
    check_version(&mut r, CHANGE_VERSION)?;
    let n = r.count()?;
    let mut clock = VectorClock::new();
    let mut prev = None;
    for _ in 0..n {
        let replica = r.replica()?;
        let seq = r.varint()?;
        if seq == 0 || prev.is_some_and(|p| p >= replica) {
            return Err(r.err("entries not sorted, unique and non-zero"));
        }
        prev = Some(replica);
        clock.set(replica, seq);
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes"));
    }
    Ok(clock)
}

// ----- undo history --------------------------------------------------------------------

fn put_op_id(out: &mut Vec<u8>, id: OpId) {
    put_replica(out, id.replica);
    put_varint(out, id.seq);
}

fn read_op_id(r: &mut Reader<'_>) -> Result<OpId, Error> {
    let replica = r.replica()?;
    Ok(OpId::new(replica, r.varint()?))
}

/// Encodes an undo/redo history.
pub fn encode_undo(state: &UndoState) -> Vec<u8> {
    let mut out = vec![CHANGE_VERSION];
    for steps in [&state.undo, &state.redo] {
        put_varint(&mut out, steps.len() as u64);
        for &(id, n) in steps {
            put_op_id(&mut out, id);
            put_varint(&mut out, n);
        }
    }
    put_varint(&mut out, state.redone.len() as u64);
    for &(from, n, to) in &state.redone {
        put_op_id(&mut out, from);
        put_varint(&mut out, n);
        put_op_id(&mut out, to);
    }
    put_varint(&mut out, state.map_prev.len() as u64);
    for (id, v) in &state.map_prev {
        put_op_id(&mut out, *id);
        put_value(&mut out, v);
    }
    out
}

/// Decodes an undo/redo history.
pub fn decode_undo(bytes: &[u8]) -> Result<UndoState, Error> {
    let mut r = Reader::new(bytes, "undo history");
    check_version(&mut r, CHANGE_VERSION)?;
    let mut state = UndoState::default();
    for steps in [&mut state.undo, &mut state.redo] {
        let n = r.count()?;
        for _ in 0..n {
            let id = read_op_id(&mut r)?;
            steps.push((id, r.varint()?));
        }
    }
    let n = r.count()?;
    for _ in 0..n {
        let from = read_op_id(&mut r)?;
        let len = r.varint()?;
        state.redone.push((from, len, read_op_id(&mut r)?));
    }
    let n = r.count()?;
    for _ in 0..n {
        let id = read_op_id(&mut r)?;
        state.map_prev.push((id, read_value(&mut r)?));
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes"));
    }
    Ok(state)
}

// ----- whole documents -----------------------------------------------------------------

/// Column order of the document body.
const COLUMNS: [&str; 14] = [
    "agents",
    "run agent",
    "run len",
    "run lamport",
    "run parents",
    "insert lv",
    "insert len",
    "insert left",
    "insert right",
    "content",
    "delete lv",
    "delete len",
    "delete target",
    "map ops",
];

/// Encodes a whole document with its full history (not its causal buffer, undo stack or
/// open transaction).
pub fn encode_doc(doc: &Doc) -> Vec<u8> {
    let mut cols: [Vec<u8>; 14] = Default::default();
    let [
        agents,
        r_agent,
        r_len,
        r_lamport,
        r_parents,
        i_lv,
        i_len,
        i_left,
        i_right,
        content,
        d_lv,
        d_len,
        d_target,
        maps,
    ] = &mut cols;

    put_varint(agents, doc.agents.len() as u64);
    for a in &doc.agents {
        put_replica(agents, a.id);
    }

    put_varint(r_len, doc.runs.len() as u64);
    let mut lamport_next = 1u64;
    for r in &doc.runs {
        put_varint(r_agent, r.agent as u64);
        put_varint(r_len, r.len as u64);
        put_varint(r_lamport, zigzag(r.lamport as i64 - lamport_next as i64));
        lamport_next = r.lamport + r.len as u64;
        put_varint(r_parents, r.parents.len() as u64);
        for &p in &r.parents {
            put_varint(r_parents, (r.lv - p) as u64);
        }
    }

    put_varint(i_len, doc.ins.len() as u64);
    let mut next = 0;
    for r in &doc.ins {
        put_varint(i_lv, (r.lv - next) as u64);
        next = r.lv + r.len;
        put_varint(i_len, r.len as u64);
        put_varint(i_left, if r.origin_left == NONE { 0 } else { (r.lv - r.origin_left) as u64 });
        put_varint(i_right, if r.origin_right == NONE { 0 } else { (r.lv - r.origin_right) as u64 });
    }
    content.extend_from_slice(doc.text.content.as_bytes());

    put_varint(d_len, doc.dels.len() as u64);
    let mut next = 0;
    for d in &doc.dels {
        put_varint(d_lv, (d.lv - next) as u64);
        next = d.lv + d.len;
        put_varint(d_len, (d.len as u64) << 1 | d.reversed as u64);
        put_varint(d_target, (d.lv - d.target) as u64);
    }

    put_varint(maps, doc.map_ops.len() as u64);
    let mut next = 0;
    for m in &doc.map_ops {
        put_varint(maps, (m.lv - next) as u64);
        next = m.lv + 1;
        put_str(maps, &m.key);
        put_value(maps, &m.value);
    }

    let mut body = Vec::new();
    for c in &cols {
        put_varint(&mut body, c.len() as u64);
        body.extend_from_slice(c);
    }
    let mut out = Vec::with_capacity(body.len() / 3 + 16);
    out.extend_from_slice(DOC_MAGIC);
    out.push(DOC_VERSION);
    put_varint(&mut out, body.len() as u64);
    out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&body, 6));
    out
}

/// Decodes a whole document into a fresh replica that will edit as `replica`.
pub fn decode_doc(bytes: &[u8], replica: ReplicaId) -> Result<Doc, Error> {
    let mut r = Reader::new(bytes, "document");
    if r.bytes(4).ok() != Some(DOC_MAGIC.as_slice()) {
        return Err(Error::Decode {
            what: "document",
            reason: "not a Tandem document (bad magic)",
            offset: 0,
        });
    }
    check_version(&mut r, DOC_VERSION)?;
    let body_len = r.varint()?;
    if body_len > MAX_DOC_BODY as u64 {
        return Err(r.err("body too large"));
    }
    let rest = &bytes[r.pos..];
    // DEFLATE expands at most ~1032x: a longer body than that is a lie (or a bomb).
    if body_len > (rest.len() as u64).saturating_mul(1040).saturating_add(64) {
        return Err(r.err("body length impossible for the input size"));
    }
    let body = miniz_oxide::inflate::decompress_to_vec_with_limit(rest, body_len as usize)
        .map_err(|_| r.err("corrupt compressed body"))?;
    if body.len() as u64 != body_len {
        return Err(r.err("body length mismatch"));
    }
    let mut b = Reader::new(&body, "document body");
    let mut cols = Vec::with_capacity(COLUMNS.len());
    for name in COLUMNS {
        cols.push(b.section(name)?);
    }
    if !b.is_empty() {
        return Err(b.err("trailing bytes"));
    }
    let [
        agents,
        r_agent,
        r_len,
        r_lamport,
        r_parents,
        i_lv,
        i_len,
        i_left,
        i_right,
        content,
        d_lv,
        d_len,
        d_target,
        maps,
    ]: [Reader<'_>; 14] = cols.try_into().map_err(|_| b.err("columns"))?;
    let mut dec = DocDecoder { doc: Doc::new(replica), ascii: false };
    dec.load(DocColumns {
        agents,
        r_agent,
        r_len,
        r_lamport,
        r_parents,
        i_lv,
        i_len,
        i_left,
        i_right,
        content,
        d_lv,
        d_len,
        d_target,
        maps,
    })?;
    Ok(dec.doc)
}

struct DocColumns<'a> {
    agents: Reader<'a>,
    r_agent: Reader<'a>,
    r_len: Reader<'a>,
    r_lamport: Reader<'a>,
    r_parents: Reader<'a>,
    i_lv: Reader<'a>,
    i_len: Reader<'a>,
    i_left: Reader<'a>,
    i_right: Reader<'a>,
    content: Reader<'a>,
    d_lv: Reader<'a>,
    d_len: Reader<'a>,
    d_target: Reader<'a>,
    maps: Reader<'a>,
}

enum NextOp<'a> {
    Ins { len: u32, left: u32, right: u32 },
    Del { len: u32, target: u32, reversed: bool },
    Map { key: &'a str, value: Option<Value> },
}

struct DocDecoder {
    doc: Doc,
    /// Whether all inserted content is ASCII (chars are bytes).
    ascii: bool,
}

impl DocDecoder {
    fn load(&mut self, mut c: DocColumns<'_>) -> Result<(), Error> {
        let n_agents = c.agents.count()?;
        let mut ids = Vec::with_capacity(n_agents);
        for _ in 0..n_agents {
            let id = c.agents.replica()?;
            if ids.contains(&id) {
                return Err(c.agents.err("duplicate replica"));
            }
            ids.push(id);
        }
        // Runs: the causal graph and the Lv -> id map. Seqs follow from the order.
        let n_runs = c.r_len.count()?;
        let mut next_seq = vec![1u64; n_agents];
        let mut local = Vec::with_capacity(n_agents);
        for &id in &ids {
            local.push(self.doc.agent(id));
        }
        let mut lv = 0u32;
        let mut lamport_next = 1u64;
        let mut parents = Vec::new();
        for _ in 0..n_runs {
            let a = c.r_agent.varint()? as usize;
            if a >= n_agents {
                return Err(c.r_agent.err("unknown replica index"));
            }
            let len = c.r_len.u32()?;
            if len == 0 || lv.checked_add(len).is_none_or(|e| e == NONE) {
                return Err(c.r_len.err("bad run length"));
            }
            let lamport = lamport_next as i64 + unzigzag(c.r_lamport.varint()?);
            if lamport < 1 || lamport > (u64::MAX / 2) as i64 {
                return Err(c.r_lamport.err("bad lamport"));
            }
            lamport_next = lamport as u64 + len as u64;
            let n_parents = c.r_parents.count()?;
            parents.clear();
            for _ in 0..n_parents {
                let d = c.r_parents.u32()?;
                if d == 0 || d > lv {
                    return Err(c.r_parents.err("parent is not an earlier op"));
                }
                parents.push(lv - d);
            }
            self.doc.push_lvs(local[a], next_seq[a], len, lamport as u64, &parents);
            next_seq[a] += len as u64;
            lv += len;
        }
        let total = lv;

        // Ops, merged from the three logs in Lv order.
        let text_bytes = c.content.buf;
        let text = std::str::from_utf8(text_bytes).map_err(|_| c.content.err("invalid UTF-8"))?;
        self.ascii = text.is_ascii();
        let mut text_at = 0usize;
        let mut n_ins = c.i_len.count()?;
        let mut n_del = c.d_len.count()?;
        let mut n_map = c.maps.count()?;
        let next_lv = |r: &mut Reader<'_>, prev_end: u32| -> Result<u32, Error> {
            let d = r.u32()?;
            prev_end.checked_add(d).filter(|&v| v < total).ok_or_else(|| r.err("op beyond the history"))
        };
        let mut ins_next = if n_ins > 0 { Some(next_lv(&mut c.i_lv, 0)?) } else { None };
        let mut del_next = if n_del > 0 { Some(next_lv(&mut c.d_lv, 0)?) } else { None };
        let mut map_next = if n_map > 0 { Some(next_lv(&mut c.maps, 0)?) } else { None };
        let mut lv = 0u32;
        while lv < total {
            let op = if ins_next == Some(lv) {
                let len = c.i_len.u32()?;
                let left = c.i_left.u32()?;
                let right = c.i_right.u32()?;
                n_ins -= 1;
                let end = lv.saturating_add(len);
                ins_next = if n_ins > 0 { Some(next_lv(&mut c.i_lv, end)?) } else { None };
                NextOp::Ins { len, left, right }
            } else if del_next == Some(lv) {
                let lr = c.d_len.varint()?;
                let target = c.d_target.u32()?;
                let len = u32::try_from(lr >> 1).map_err(|_| c.d_len.err("number too large"))?;
                n_del -= 1;
                let end = lv.saturating_add(len);
                del_next = if n_del > 0 { Some(next_lv(&mut c.d_lv, end)?) } else { None };
                NextOp::Del { len, target, reversed: lr & 1 == 1 }
            } else if map_next == Some(lv) {
                let key = c.maps.str()?;
                let value = read_value(&mut c.maps)?;
                n_map -= 1;
                map_next = if n_map > 0 { Some(next_lv(&mut c.maps, lv + 1)?) } else { None };
                NextOp::Map { key, value }
            } else {
                return Err(c.r_len.err("ops do not cover the history exactly"));
            };
            lv = self.apply_op(lv, total, op, text, &mut text_at)?;
        }
        if ins_next.is_some() || del_next.is_some() || map_next.is_some() || text_at != text.len() {
            return Err(c.content.err("ops or content left over"));
        }
        Ok(())
    }

    /// Applies one op run at `lv`; returns the `Lv` after it.
    fn apply_op(
        &mut self,
        lv: u32,
        total: u32,
        op: NextOp<'_>,
        text: &str,
        at: &mut usize,
    ) -> Result<u32, Error> {
        let bad = |reason: &'static str| Error::Decode { what: "document ops", reason, offset: lv as usize };
        let doc = &mut self.doc;
        let is_item = |doc: &Doc, x: u32| x < lv && doc.text.is_item(x);
        match op {
            NextOp::Ins { len, left, right } => {
                if len == 0 || lv.checked_add(len).is_none_or(|e| e > total) {
                    return Err(bad("bad insert length"));
                }
                let ol = if left == 0 { NONE } else { lv.checked_sub(left).ok_or(bad("bad left origin"))? };
                let or =
                    if right == 0 { NONE } else { lv.checked_sub(right).ok_or(bad("bad right origin"))? };
                if (ol != NONE && !is_item(doc, ol)) || (or != NONE && !is_item(doc, or)) {
                    return Err(bad("origin is not an earlier character"));
                }
                let rest = &text[*at..];
                let bytes = if self.ascii && rest.len() >= len as usize {
                    len as usize
                } else {
                    match rest.char_indices().nth(len as usize) {
                        Some((b, _)) => b,
                        None if rest.chars().count() == len as usize => rest.len(),
                        None => return Err(bad("content shorter than the inserts")),
                    }
                };
                doc.integrate_insert(lv, len, ol, or, &rest[..bytes]);
                *at += bytes;
                Ok(lv + len)
            }
            NextOp::Del { len, target, reversed } => {
                if len == 0 || lv.checked_add(len).is_none_or(|e| e > total) {
                    return Err(bad("bad delete length"));
                }
                let t = lv.checked_sub(target).ok_or(bad("bad delete target"))?;
                if t.checked_add(len).is_none_or(|e| e > lv) || !(t..t + len).all(|x| is_item(doc, x)) {
                    return Err(bad("delete target is not an earlier character"));
                }
                doc.text.delete(t, len);
                doc.push_del(DelRun { lv, len, target: t, reversed });
                Ok(lv + len)
            }
            NextOp::Map { key, value } => {
                let r = &doc.runs[doc.run_idx(lv)];
                let frontier = if r.lv == lv { r.parents.clone() } else { vec![lv - 1] };
                let id = doc.id_of(lv);
                let lamport = r.lamport + (lv - r.lv) as u64;
                doc.apply_map_op(lv, lamport, id.replica, key, value, &frontier);
                Ok(lv + 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_round_trip_and_reject_garbage() {
        let c: VectorClock =
            [(ReplicaId(3), 7), (ReplicaId(1), 2), (ReplicaId(u64::MAX), u64::MAX)].into_iter().collect();
        assert_eq!(decode_clock(&encode_clock(&c)).unwrap(), c);
        assert_eq!(decode_clock(&encode_clock(&VectorClock::new())).unwrap(), VectorClock::new());
        let mut bad = encode_clock(&c);
        bad[0] = 9;
        assert!(matches!(decode_clock(&bad), Err(Error::UnknownVersion { found: 9, .. })));
        let bytes = encode_clock(&c);
        for cut in 0..bytes.len() {
            assert!(decode_clock(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        // Unsorted entries are rejected.
        let mut out = vec![CHANGE_VERSION, 2];
        for r in [5u64, 4] {
            put_replica(&mut out, ReplicaId(r));
            put_varint(&mut out, 1);
        }
        assert!(decode_clock(&out).is_err());
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader::new(&out, "test");
            assert_eq!(r.varint().unwrap(), v);
            assert!(r.is_empty());
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        let mut r = Reader::new(&[0xff; 11], "test");
        assert!(r.varint().is_err());
    }
}
