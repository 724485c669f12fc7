//! The one wire and disk format: a single [`Change`], a batch of changes, a vector
//! clock, an undo history, and a whole document with its full history. Every encoding
//! starts with a version byte (a whole document with a magic and then the version);
//! unknown versions are errors.
//!
//! Integers are LEB128 varints ([`crate::varint`]); replica ids are 8 bytes
//! little-endian. The document encoding is columnar: one column per field, laid out as
//! `Col` (in this file) lists them, then the whole body is DEFLATE-compressed.
//!
//! Decoding untrusted bytes never panics and never allocates from a length field before
//! checking it against the bytes that are left; errors name what was wrong and where.

use crate::change::{Change, Op, Value};
use crate::clock::VectorClock;
use crate::doc::oplog::DelRun;
use crate::doc::order::text_from_order;
use crate::doc::{Doc, UndoState};
use crate::error::Error;
use crate::id::{Lv, OpId, ReplicaId};
use crate::text::NONE;
use crate::varint;
use std::ops::{Index, IndexMut};

/// Version of the change and batch encodings: version 2 carries each change's wall
/// time ([`Change::time`]).
pub const CHANGE_VERSION: u8 = 2;
/// The change encoding without a wall time. A single change of time 0 is still written
/// in it (so the bytes of such a change, and the seals over them, are what they were
/// before times existed); batches of it are still read.
const CHANGE_VERSION_UNTIMED: u8 = 1;
/// Version of the vector clock and undo history encodings.
const STATE_VERSION: u8 = 1;
/// Version of the document encoding: version 3 adds the authors' wall times
/// (`Col::Times`), version 4 the text's document order (`Col::Order`, filled in
/// snapshots only); versions 1 to 3 are still read.
pub const DOC_VERSION: u8 = 4;
const DOC_MAGIC: &[u8; 4] = b"TNDM";
/// A snapshot body larger than this is stored in DEFLATE's uncompressed blocks, which
/// inflate at the speed of a copy: inflating compressed ones runs at about 350 MB/s, a
/// third of the time to open a 10-million-op history (44 of 148 ms), for a body that
/// DEFLATE would only halve.
const SNAPSHOT_RAW_ABOVE: usize = 4 << 20;
/// Largest decompressed document body accepted (guards against decompression bombs).
const MAX_DOC_BODY: usize = 1 << 30;

// ----- primitives ----------------------------------------------------------------------

fn put_replica(out: &mut Vec<u8>, r: ReplicaId) {
    out.extend_from_slice(&r.0.to_le_bytes());
}

fn put_op_id(out: &mut Vec<u8>, id: OpId) {
    put_replica(out, id.replica);
    varint::put(out, id.seq);
}

/// A cursor over untrusted bytes.
struct Reader<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
    /// Where the end of `rest` is in the outermost input, so errors give offsets into
    /// what the caller passed.
    end: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { rest: buf, end: buf.len(), what }
    }

    /// Where the next byte is in the outermost input.
    fn offset(&self) -> usize {
        self.end - self.rest.len()
    }

    fn err(&self, reason: &'static str) -> Error {
        self.err_at(reason, self.offset())
    }

    fn err_at(&self, reason: &'static str, offset: usize) -> Error {
        Error::Decode { what: self.what, reason, offset }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn u8(&mut self) -> Result<u8, Error> {
        let (&b, rest) = self.rest.split_first().ok_or_else(|| self.err("unexpected end of input"))?;
        self.rest = rest;
        Ok(b)
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, Error> {
        let at = self.offset();
        varint::take(&mut self.rest).map_err(|e| self.err_at(e.reason(), at))
    }

    #[inline]
    fn u32(&mut self) -> Result<u32, Error> {
        u32::try_from(self.varint()?).map_err(|_| self.err("number too large"))
    }

    /// A count of items that each take at least one byte: checked against the input.
    fn count(&mut self) -> Result<usize, Error> {
        let n = self.varint()?;
        if n > self.rest.len() as u64 {
            return Err(self.err("count exceeds the input size"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.rest.len() {
            return Err(self.err("length exceeds the input size"));
        }
        let (b, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(b)
    }

    /// A length-prefixed byte string.
    fn len_prefixed(&mut self) -> Result<&'a [u8], Error> {
        let at = self.offset();
        varint::take_bytes(&mut self.rest).map_err(|e| self.err_at(e.reason(), at))
    }

    /// A length-prefixed UTF-8 string.
    fn str(&mut self) -> Result<&'a str, Error> {
        let at = self.offset();
        let b = self.len_prefixed()?;
        std::str::from_utf8(b).map_err(|_| self.err_at("invalid UTF-8", at))
    }

    fn replica(&mut self) -> Result<ReplicaId, Error> {
        let b = self.bytes(8)?;
        Ok(ReplicaId(u64::from_le_bytes(b.try_into().expect("8 bytes"))))
    }

    fn op_id(&mut self) -> Result<OpId, Error> {
        let replica = self.replica()?;
        Ok(OpId::new(replica, self.varint()?))
    }

    /// A nested length-prefixed section.
    fn section(&mut self, what: &'static str) -> Result<Reader<'a>, Error> {
        let rest = self.len_prefixed()?;
        Ok(Reader { rest, end: self.offset(), what })
    }

    fn finish(&self) -> Result<(), Error> {
        if self.is_empty() { Ok(()) } else { Err(self.err("trailing bytes")) }
    }
}

// ----- values --------------------------------------------------------------------------

/// The tag byte of a map value; `Int` is followed by a zigzag varint, `Float` by 8 bytes
/// little-endian, `Str` and `Bytes` by a length-prefixed byte string.
mod value_tag {
    pub(super) const ABSENT: u8 = 0;
    pub(super) const NULL: u8 = 1;
    pub(super) const FALSE: u8 = 2;
    pub(super) const TRUE: u8 = 3;
    pub(super) const INT: u8 = 4;
    pub(super) const FLOAT: u8 = 5;
    pub(super) const STR: u8 = 6;
    pub(super) const BYTES: u8 = 7;
}

fn put_value(out: &mut Vec<u8>, v: &Option<Value>) {
    use value_tag::*;
    match v {
        None => out.push(ABSENT),
        Some(Value::Null) => out.push(NULL),
        Some(Value::Bool(false)) => out.push(FALSE),
        Some(Value::Bool(true)) => out.push(TRUE),
        Some(Value::Int(i)) => {
            out.push(INT);
            varint::put(out, varint::zigzag(*i));
        }
        Some(Value::Float(f)) => {
            out.push(FLOAT);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Some(Value::Str(s)) => {
            out.push(STR);
            varint::put_bytes(out, s.as_bytes());
        }
        Some(Value::Bytes(b)) => {
            out.push(BYTES);
            varint::put_bytes(out, b);
        }
    }
}

fn read_value(r: &mut Reader<'_>) -> Result<Option<Value>, Error> {
    use value_tag::*;
    Ok(Some(match r.u8()? {
        ABSENT => return Ok(None),
        NULL => Value::Null,
        FALSE => Value::Bool(false),
        TRUE => Value::Bool(true),
        INT => Value::Int(varint::unzigzag(r.varint()?)),
        FLOAT => Value::Float(f64::from_le_bytes(r.bytes(8)?.try_into().expect("8 bytes"))),
        STR => Value::Str(r.str()?.to_owned()),
        BYTES => Value::Bytes(r.len_prefixed()?.to_vec()),
        _ => return Err(r.err("unknown value tag")),
    }))
}

// ----- changes -------------------------------------------------------------------------
//
// A change body: author (8 bytes), start seq, Lamport time, the dep count and each dep
// (replica, seq), the op count and each op as a tag byte and its fields:
//
// - insert: tag `left | right << 2` (each an `IdKind`), the origins' ids, the text;
// - delete: tag `DELETE` or `DELETE_REVERSED`, the first target's id, the length;
// - map write: tag `MAP_SET`, the key, the value.

/// How an op id is written: absent, the change's author (seq only), or another replica
/// (replica and seq). Two bits of an insert's tag each.
mod id_kind {
    pub(super) const NONE: u8 = 0;
    pub(super) const AUTHOR: u8 = 1;
    pub(super) const OTHER: u8 = 2;
}

/// Op tags after the insert tags (`0x00..=0x0f`).
mod op_tag {
    pub(super) const DELETE: u8 = 0x10;
    pub(super) const DELETE_REVERSED: u8 = 0x11;
    pub(super) const MAP_SET: u8 = 0x20;
}

fn put_id(out: &mut Vec<u8>, author: ReplicaId, id: Option<OpId>) -> u8 {
    match id {
        None => id_kind::NONE,
        Some(id) if id.replica == author => {
            varint::put(out, id.seq);
            id_kind::AUTHOR
        }
        Some(id) => {
            put_op_id(out, id);
            id_kind::OTHER
        }
    }
}

fn read_id(r: &mut Reader<'_>, author: ReplicaId, kind: u8) -> Result<Option<OpId>, Error> {
    match kind {
        id_kind::NONE => Ok(None),
        id_kind::AUTHOR => Ok(Some(OpId::new(author, r.varint()?))),
        id_kind::OTHER => Ok(Some(r.op_id()?)),
        _ => Err(r.err("unknown id kind")),
    }
}

/// Writes a change after its version byte; `timed` (version 2) adds its wall time.
fn put_change_body(out: &mut Vec<u8>, c: &Change, timed: bool) {
    put_replica(out, c.author);
    varint::put(out, c.start_seq);
    varint::put(out, c.lamport);
    if timed {
        varint::put(out, c.time);
    }
    varint::put(out, c.deps.len() as u64);
    for &d in &c.deps {
        put_op_id(out, d);
    }
    varint::put(out, c.ops.len() as u64);
    let mut ids = Vec::new();
    for op in &c.ops {
        match op {
            Op::Insert { origin_left, origin_right, text } => {
                ids.clear();
                let l = put_id(&mut ids, c.author, *origin_left);
                let r = put_id(&mut ids, c.author, *origin_right);
                out.push(l | r << 2);
                out.extend_from_slice(&ids);
                varint::put_bytes(out, text.as_bytes());
            }
            Op::Delete { start, len, reversed } => {
                out.push(if *reversed { op_tag::DELETE_REVERSED } else { op_tag::DELETE });
                put_op_id(out, *start);
                varint::put(out, *len);
            }
            Op::MapSet { key, value } => {
                out.push(op_tag::MAP_SET);
                varint::put_bytes(out, key.as_bytes());
                put_value(out, value);
            }
        }
    }
}

/// Reads a change after its version byte; `timed` (version 2) reads its wall time.
fn read_change_body(r: &mut Reader<'_>, timed: bool) -> Result<Change, Error> {
    let author = r.replica()?;
    let start_seq = r.varint()?;
    let lamport = r.varint()?;
    let time = if timed { r.varint()? } else { 0 };
    let n_deps = r.count()?;
    let mut deps = Vec::with_capacity(n_deps);
    for _ in 0..n_deps {
        deps.push(r.op_id()?);
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
            op_tag::DELETE | op_tag::DELETE_REVERSED => {
                let start = r.op_id()?;
                let len = r.varint()?;
                if len == 0 {
                    return Err(r.err("empty delete"));
                }
                Op::Delete { start, len, reversed: tag == op_tag::DELETE_REVERSED }
            }
            op_tag::MAP_SET => {
                let key = r.str()?.to_owned();
                Op::MapSet { key, value: read_value(r)? }
            }
            _ => return Err(r.err("unknown op tag")),
        });
    }
    Ok(Change { author, start_seq, deps, lamport, time, ops })
}

fn check_version(r: &mut Reader<'_>, supported: u8) -> Result<(), Error> {
    let v = r.u8()?;
    if v != supported {
        return Err(Error::UnknownVersion { what: r.what, found: v, supported });
    }
    Ok(())
}

/// Encodes one change: the bytes that are signed, sent and stored. A change of time 0
/// is written in the untimed version 1, any other in version 2, so each change has one
/// encoding.
pub fn encode_change(c: &Change) -> Vec<u8> {
    let timed = c.time != 0;
    let mut out = vec![if timed { CHANGE_VERSION } else { CHANGE_VERSION_UNTIMED }];
    put_change_body(&mut out, c, timed);
    out
}

/// Reads the version byte of a change or batch: whether it is timed (version 2).
fn change_version(r: &mut Reader<'_>) -> Result<bool, Error> {
    match r.u8()? {
        CHANGE_VERSION => Ok(true),
        CHANGE_VERSION_UNTIMED => Ok(false),
        found => Err(Error::UnknownVersion { what: r.what, found, supported: CHANGE_VERSION }),
    }
}

/// Decodes one change; trailing bytes are an error, and so is a time of 0 in version 2
/// (it has the shorter encoding).
pub fn decode_change(bytes: &[u8]) -> Result<Change, Error> {
    let mut r = Reader::new(bytes, "change");
    let timed = change_version(&mut r)?;
    let c = read_change_body(&mut r, timed)?;
    if timed && c.time == 0 {
        return Err(r.err_at("time 0 in the timed encoding", 0));
    }
    r.finish()?;
    Ok(c)
}

/// Encodes a batch of changes (version 2: each with its time).
pub fn encode_changes(changes: &[Change]) -> Vec<u8> {
    let mut out = vec![CHANGE_VERSION];
    varint::put(&mut out, changes.len() as u64);
    for c in changes {
        put_change_body(&mut out, c, true);
    }
    out
}

/// Decodes a batch of changes (version 1 or 2).
pub fn decode_changes(bytes: &[u8]) -> Result<Vec<Change>, Error> {
    let mut r = Reader::new(bytes, "change batch");
    let timed = change_version(&mut r)?;
    let n = r.count()?;
    let mut res = Vec::with_capacity(n);
    for _ in 0..n {
        res.push(read_change_body(&mut r, timed)?);
    }
    r.finish()?;
    Ok(res)
}

// ----- vector clocks -----------------------------------------------------------------

/// Encodes a vector clock (what catch-up sync sends).
pub fn encode_clock(clock: &VectorClock) -> Vec<u8> {
    let mut out = vec![STATE_VERSION];
    varint::put(&mut out, clock.len() as u64);
    for (r, s) in clock.iter() {
        put_op_id(&mut out, OpId::new(r, s));
    }
    out
}

/// Decodes a vector clock; entries must be sorted, unique and non-zero.
pub fn decode_clock(bytes: &[u8]) -> Result<VectorClock, Error> {
    let mut r = Reader::new(bytes, "vector clock");
    check_version(&mut r, STATE_VERSION)?;
    let n = r.count()?;
    let mut clock = VectorClock::new();
    let mut prev = None;
    for _ in 0..n {
        let OpId { replica, seq } = r.op_id()?;
        if seq == 0 || prev.is_some_and(|p| p >= replica) {
            return Err(r.err("entries not sorted, unique and non-zero"));
        }
        prev = Some(replica);
        clock.set(replica, seq);
    }
    r.finish()?;
    Ok(clock)
}

// ----- undo history --------------------------------------------------------------------

/// Encodes an undo/redo history.
pub fn encode_undo(state: &UndoState) -> Vec<u8> {
    let mut out = vec![STATE_VERSION];
    for steps in [&state.undo, &state.redo] {
        varint::put(&mut out, steps.len() as u64);
        for &(id, n) in steps {
            put_op_id(&mut out, id);
            varint::put(&mut out, n);
        }
    }
    varint::put(&mut out, state.redone.len() as u64);
    for &(from, n, to) in &state.redone {
        put_op_id(&mut out, from);
        varint::put(&mut out, n);
        put_op_id(&mut out, to);
    }
    varint::put(&mut out, state.map_prev.len() as u64);
    for (id, v) in &state.map_prev {
        put_op_id(&mut out, *id);
        put_value(&mut out, v);
    }
    out
}

/// Decodes an undo/redo history.
pub fn decode_undo(bytes: &[u8]) -> Result<UndoState, Error> {
    let mut r = Reader::new(bytes, "undo history");
    check_version(&mut r, STATE_VERSION)?;
    let mut state = UndoState::default();
    for steps in [&mut state.undo, &mut state.redo] {
        let n = r.count()?;
        for _ in 0..n {
            let id = r.op_id()?;
            steps.push((id, r.varint()?));
        }
    }
    let n = r.count()?;
    for _ in 0..n {
        let from = r.op_id()?;
        let len = r.varint()?;
        state.redone.push((from, len, r.op_id()?));
    }
    let n = r.count()?;
    for _ in 0..n {
        let id = r.op_id()?;
        state.map_prev.push((id, read_value(&mut r)?));
    }
    r.finish()?;
    Ok(state)
}

// ----- whole documents -----------------------------------------------------------------

/// Declares [`Col`] from one list: each column's doc comment, variant and name (the name
/// shows in decode errors).
macro_rules! columns {
    ($($(#[doc = $doc:expr])* $col:ident = $name:literal,)*) => {
        /// The columns of a document body, in the order they are stored: this list is
        /// the layout's definition, and [`encode_doc`] and [`decode_doc`] both go through
        /// it. Each column is stored as a length-prefixed byte string; all numbers in it
        /// are varints. `Lv` is an op's index in the encoded history, which lists the ops
        /// in the replica's causal order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Col {
            $($(#[doc = $doc])* $col,)*
        }

        impl Col {
            /// Every column, in storage order.
            const ALL: [Col; [$($name),*].len()] = [$(Col::$col),*];

            fn name(self) -> &'static str {
                match self {
                    $(Col::$col => $name,)*
                }
            }
        }
    };
}

columns! {
    /// The replica count, then each replica id. Runs name their author by its index here.
    Agents = "agents",
    /// Per run: the index of its author in `Agents`.
    RunAgent = "run agent",
    /// The run count, then per run its length. A run is ops with consecutive `Lv`s, seqs
    /// and Lamport times by one author, each op after the first having the previous one
    /// as its only parent. Seqs are implied: each author's runs continue from 1.
    RunLen = "run len",
    /// Per run: its Lamport time minus the end of the previous run's (zigzag); the first
    /// run counts from 1.
    RunLamport = "run lamport",
    /// Per run: the parent count of its first op, then each parent as the distance back
    /// from the run's first `Lv`.
    RunParents = "run parents",
    /// Per insert run: its first `Lv` minus the end of the previous insert run.
    InsLv = "insert lv",
    /// The insert run count, then per insert run its length.
    InsLen = "insert len",
    /// Per insert run: 0 for the document start, else 1 + its left origin minus the
    /// *place* (zigzag): the last character of the previous insert run, or the first
    /// target of the previous delete run, whichever op came last (0 before any). Edits
    /// cluster, so these are small numbers where `Lv` distances are not. Later characters
    /// have the previous one as their left origin. (Version 1: the distance back from the
    /// run's first `Lv`.)
    InsLeft = "insert left",
    /// Per insert run: 0 for the document end, else 1 + its right origin minus one past
    /// its left origin (or minus 0 at the document start), zigzag: inserting inside text
    /// typed in one go gives 1. (Version 1: the distance back from the run's first `Lv`.)
    InsRight = "insert right",
    /// Every inserted character in `Lv` order, as UTF-8; the insert lengths split it.
    Content = "content",
    /// Per delete run: its first `Lv` minus the end of the previous delete run.
    DelLv = "delete lv",
    /// The delete run count, then per delete run its length shifted left by one, the low
    /// bit set when the deletes ran right to left.
    DelLen = "delete len",
    /// Per delete run: its lowest target minus the place (see `InsLeft`), zigzag.
    /// (Version 1: the distance back from the run's first `Lv`.)
    DelTarget = "delete target",
    /// The map write count, then per write: its `Lv` minus one past the previous write's,
    /// the key (length-prefixed UTF-8) and the value (tagged, see `value_tag`).
    Maps = "map ops",
    /// Version 3 on. Per replica, in `Agents` order: how many times its changes carry,
    /// then per time the first seq it dates minus the previous one's (the first from 0;
    /// never 0) and the time minus the previous one (zigzag; the first from 0). Each
    /// time dates the replica's seqs up to the next one; seqs before the first are
    /// undated (time 0).
    Times = "times",
    /// Version 4 on; empty unless written by [`encode_snapshot`]. The text's items
    /// (tombstones included) in document order, as runs of consecutive `Lv`s: the run
    /// count, then per run its first `Lv` minus the end of the previous run (zigzag; the
    /// first from 0) and its length. Everything else follows from the op columns, so a
    /// load builds the text from this without integrating a single insert.
    Order = "order",
}

impl Col {
    /// The first document version that has this column.
    fn since(self) -> u8 {
        match self {
            Col::Times => 3,
            Col::Order => 4,
            _ => 1,
        }
    }
}

/// One value per column, indexed by [`Col`].
struct Columns<T>([T; Col::ALL.len()]);

impl<T> Index<Col> for Columns<T> {
    type Output = T;

    fn index(&self, col: Col) -> &T {
        &self.0[col as usize]
    }
}

impl<T> IndexMut<Col> for Columns<T> {
    fn index_mut(&mut self, col: Col) -> &mut T {
        &mut self.0[col as usize]
    }
}

impl Columns<Vec<u8>> {
    fn put(&mut self, col: Col, v: u64) {
        varint::put(&mut self[col], v);
    }
}

impl Columns<Reader<'_>> {
    #[inline]
    fn varint(&mut self, col: Col) -> Result<u64, Error> {
        self[col].varint()
    }

    #[inline]
    fn u32(&mut self, col: Col) -> Result<u32, Error> {
        self[col].u32()
    }

    fn count(&mut self, col: Col) -> Result<usize, Error> {
        self[col].count()
    }

    fn err(&self, col: Col, reason: &'static str) -> Error {
        self[col].err(reason)
    }
}

/// Encodes a whole document with its full history (not its causal buffer, undo stack or
/// open transaction): what another replica merges.
pub fn encode_doc(doc: &Doc) -> Vec<u8> {
    encode_doc_as(doc, DOC_VERSION, false)
}

/// [`encode_doc`] plus the text's document order (`Col::Order`): what a device stores
/// to open the document again. Decoding it builds the text directly, in time linear in
/// its runs, where [`encode_doc`]'s bytes make the decoder integrate every insert again.
///
/// The order is this replica's own result, not something another replica can check
/// without integrating, so it belongs in the device's own storage, not on the wire. A
/// decoder still checks that it is consistent (every item exactly once, deletions on run
/// boundaries, origins that exist) and integrates from the ops when it is not.
pub fn encode_snapshot(doc: &Doc) -> Vec<u8> {
    encode_doc_as(doc, DOC_VERSION, true)
}

/// The place edits are near after an op (see [`Col::InsLeft`]), version 2.
#[derive(Clone, Copy, Default)]
struct Place(Lv);

impl Place {
    /// `x` (an `Lv`, not `NONE`) relative to the place, zigzag.
    fn rel(self, x: Lv) -> u64 {
        varint::zigzag(x as i64 - self.0 as i64)
    }

    /// The `Lv` at `v` (zigzag) from the place, if it is one before `lv`.
    fn at(self, v: u64, lv: Lv) -> Option<Lv> {
        let x = (self.0 as i64).checked_add(varint::unzigzag(v))?;
        (0..lv as i64).contains(&x).then_some(x as Lv)
    }
}

/// Encodes a whole document in format `version`, with its document order when `order`
/// (version 4 on); only tests write earlier versions.
fn encode_doc_as(doc: &Doc, version: u8, order: bool) -> Vec<u8> {
    let log = &doc.log;
    let mut cols: Columns<Vec<u8>> = Columns(Default::default());

    cols.put(Col::Agents, log.agents.len() as u64);
    for a in &log.agents {
        put_replica(&mut cols[Col::Agents], a.id);
    }

    cols.put(Col::RunLen, log.runs.len() as u64);
    let mut lamport_next = 1u64;
    for r in &log.runs {
        cols.put(Col::RunAgent, r.agent as u64);
        cols.put(Col::RunLen, r.len as u64);
        cols.put(Col::RunLamport, varint::zigzag(r.lamport as i64 - lamport_next as i64));
        lamport_next = r.lamport + r.len as u64;
        cols.put(Col::RunParents, r.parents.len() as u64);
        for &p in &r.parents {
            cols.put(Col::RunParents, (r.lv - p) as u64);
        }
    }

    let back = |lv: Lv, origin: Lv| if origin == NONE { 0 } else { (lv - origin) as u64 };
    cols.put(Col::InsLen, log.ins.len() as u64);
    cols.put(Col::DelLen, log.dels.len() as u64);
    // Inserts and deletes in `Lv` order, so the place follows the history.
    let mut place = Place::default();
    let (mut ins_next, mut del_next) = (0, 0);
    let (mut i, mut d) = (0, 0);
    while i < log.ins.len() || d < log.dels.len() {
        if d >= log.dels.len() || (i < log.ins.len() && log.ins[i].lv < log.dels[d].lv) {
            let r = &log.ins[i];
            i += 1;
            cols.put(Col::InsLv, (r.lv - ins_next) as u64);
            ins_next = r.lv + r.len;
            cols.put(Col::InsLen, r.len as u64);
            if version == 1 {
                cols.put(Col::InsLeft, back(r.lv, r.origin_left));
                cols.put(Col::InsRight, back(r.lv, r.origin_right));
                continue;
            }
            let left = if r.origin_left == NONE { 0 } else { place.rel(r.origin_left) + 1 };
            cols.put(Col::InsLeft, left);
            let base = Place(if r.origin_left == NONE { 0 } else { r.origin_left + 1 });
            let right = if r.origin_right == NONE { 0 } else { base.rel(r.origin_right) + 1 };
            cols.put(Col::InsRight, right);
            place = Place(r.lv + r.len - 1);
        } else {
            let r = &log.dels[d];
            d += 1;
            cols.put(Col::DelLv, (r.lv - del_next) as u64);
            del_next = r.lv + r.len;
            cols.put(Col::DelLen, (r.len as u64) << 1 | r.reversed as u64);
            if version == 1 {
                cols.put(Col::DelTarget, (r.lv - r.target) as u64);
                continue;
            }
            cols.put(Col::DelTarget, place.rel(r.target));
            place = Place(r.target);
        }
    }
    cols[Col::Content].extend_from_slice(doc.text.content.as_bytes());

    cols.put(Col::Maps, log.map_ops.len() as u64);
    let mut next = 0;
    for m in &log.map_ops {
        let maps = &mut cols[Col::Maps];
        varint::put(maps, (m.lv - next) as u64);
        next = m.lv + 1;
        varint::put_bytes(maps, m.key.as_bytes());
        put_value(maps, &m.value);
    }

    if version >= 3 {
        for a in &log.agents {
            cols.put(Col::Times, a.times.len() as u64);
            let (mut seq, mut time) = (0u64, 0u64);
            for &(s, t) in &a.times {
                cols.put(Col::Times, s - seq);
                cols.put(Col::Times, varint::zigzag(t.wrapping_sub(time) as i64));
                (seq, time) = (s, t);
            }
        }
    }

    if order && version >= 4 {
        put_order(&mut cols[Col::Order], doc);
    }

    let mut body = Vec::new();
    for col in Col::ALL {
        if col.since() > version {
            continue;
        }
        varint::put_bytes(&mut body, &cols[col]);
    }
    let mut out = Vec::with_capacity(body.len() / 3 + 16);
    out.extend_from_slice(DOC_MAGIC);
    out.push(version);
    varint::put(&mut out, body.len() as u64);
    let level = if order && body.len() > SNAPSHOT_RAW_ABOVE { 0 } else { 6 };
    out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&body, level));
    out
}

/// Writes `Col::Order`: the text's spans in document order, joined where their `Lv`s
/// continue.
fn put_order(out: &mut Vec<u8>, doc: &Doc) {
    let mut runs: Vec<(Lv, u32)> = Vec::new();
    for s in doc.text.spans() {
        match runs.last_mut() {
            Some(r) if r.0 + r.1 == s.lv => r.1 += s.len,
            _ => runs.push((s.lv, s.len)),
        }
    }
    varint::put(out, runs.len() as u64);
    let mut end = 0;
    for (lv, len) in runs {
        varint::put(out, varint::zigzag(lv as i64 - end as i64));
        varint::put(out, len as u64);
        end = lv + len;
    }
}

/// Reads `Col::Order` for a history of `total` ops: runs of `Lv`s, each within the
/// history. `None` when the column is empty or malformed: the order is only a faster way
/// to the text, so the decoder then integrates the ops instead.
fn read_order(r: &mut Reader<'_>, total: Lv) -> Option<Vec<(Lv, u32)>> {
    if r.is_empty() {
        return None;
    }
    let n = r.count().ok()?;
    let mut runs = Vec::with_capacity(n);
    let mut end: Lv = 0;
    for _ in 0..n {
        let lv = (end as i64).checked_add(varint::unzigzag(r.varint().ok()?))?;
        let len = r.u32().ok()?;
        let lv = Lv::try_from(lv).ok()?;
        end = lv.checked_add(len).filter(|&e| len > 0 && e <= total)?;
        runs.push((lv, len));
    }
    r.is_empty().then_some(runs)
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
    // Version 1 stored origins and delete targets as distances back, neither it nor
    // version 2 has times, and none before version 4 has the document order; all are
    // still read.
    let version = if matches!(r.rest.first(), Some(1..=3)) {
        r.u8()?
    } else {
        check_version(&mut r, DOC_VERSION)?;
        DOC_VERSION
    };
    let body_len = r.varint()?;
    if body_len > MAX_DOC_BODY as u64 {
        return Err(r.err("body too large"));
    }
    let rest = r.rest;
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
    let mut cols = Columns(Col::ALL.map(|col| Reader::new(&[], col.name())));
    for col in Col::ALL {
        if col.since() > version {
            continue;
        }
        cols[col] = b.section(col.name())?;
    }
    b.finish()?;
    let mut dec =
        DocDecoder { doc: Doc::new(replica), v1: version == 1, timed: version >= 3, place: Place::default() };
    dec.load(cols)?;
    Ok(dec.doc)
}

enum NextOp<'a> {
    Ins { len: u32, left: u64, right: u64 },
    Del { len: u32, target: u64, reversed: bool },
    Map { key: &'a str, value: Option<Value> },
}

struct DocDecoder {
    doc: Doc,
    /// Whether the input is version 1 (origins and targets as distances back).
    v1: bool,
    /// Whether the input has times (version 3 on).
    timed: bool,
    /// Where the last insert or delete was (version 2).
    place: Place,
}

impl DocDecoder {
    fn load(&mut self, mut c: Columns<Reader<'_>>) -> Result<(), Error> {
        let n_agents = c.count(Col::Agents)?;
        let mut ids = Vec::with_capacity(n_agents);
        for _ in 0..n_agents {
            let id = c[Col::Agents].replica()?;
            if ids.contains(&id) {
                return Err(c.err(Col::Agents, "duplicate replica"));
            }
            ids.push(id);
        }
        // Runs: the causal graph and the Lv -> id map. Seqs follow from the order.
        let n_runs = c.count(Col::RunLen)?;
        let mut next_seq = vec![1u64; n_agents];
        let mut local = Vec::with_capacity(n_agents);
        for &id in &ids {
            local.push(self.doc.log.agent(id));
        }
        let mut lv: Lv = 0;
        let mut lamport_next = 1u64;
        let mut parents = Vec::new();
        for _ in 0..n_runs {
            let a = c.varint(Col::RunAgent)? as usize;
            if a >= n_agents {
                return Err(c.err(Col::RunAgent, "unknown replica index"));
            }
            let len = c.u32(Col::RunLen)?;
            if len == 0 || lv.checked_add(len).is_none_or(|e| e == NONE) {
                return Err(c.err(Col::RunLen, "bad run length"));
            }
            let lamport = lamport_next as i64 + varint::unzigzag(c.varint(Col::RunLamport)?);
            if lamport < 1 || lamport > (u64::MAX / 2) as i64 {
                return Err(c.err(Col::RunLamport, "bad lamport"));
            }
            lamport_next = lamport as u64 + len as u64;
            let n_parents = c.count(Col::RunParents)?;
            parents.clear();
            for _ in 0..n_parents {
                let d = c.u32(Col::RunParents)?;
                if d == 0 || d > lv {
                    return Err(c.err(Col::RunParents, "parent is not an earlier op"));
                }
                parents.push(lv - d);
            }
            self.doc.log.push_lvs(local[a], next_seq[a], len, lamport as u64, &parents);
            next_seq[a] += len as u64;
            lv += len;
        }
        let total = lv;

        // Ops, merged from the three logs in Lv order. Inserts and deletes go to the op
        // log as they are read; the text is built from the log afterwards.
        let text =
            std::str::from_utf8(c[Col::Content].rest).map_err(|_| c.err(Col::Content, "invalid UTF-8"))?;
        let mut n_chars = 0u64;
        let mut maps = Vec::new();
        let mut n_ins = c.count(Col::InsLen)?;
        let mut n_del = c.count(Col::DelLen)?;
        let mut n_map = c.count(Col::Maps)?;
        // The counts are checked against the input's size: reserving is bounded.
        self.doc.log.ins.reserve(n_ins);
        self.doc.log.dels.reserve(n_del);
        let next_lv = |c: &mut Columns<Reader<'_>>, col: Col, prev_end: Lv| -> Result<Lv, Error> {
            let d = c.u32(col)?;
            prev_end.checked_add(d).filter(|&v| v < total).ok_or_else(|| c.err(col, "op beyond the history"))
        };
        let mut ins_next = if n_ins > 0 { Some(next_lv(&mut c, Col::InsLv, 0)?) } else { None };
        let mut del_next = if n_del > 0 { Some(next_lv(&mut c, Col::DelLv, 0)?) } else { None };
        let mut map_next = if n_map > 0 { Some(next_lv(&mut c, Col::Maps, 0)?) } else { None };
        let mut lv: Lv = 0;
        while lv < total {
            let op = if ins_next == Some(lv) {
                let len = c.u32(Col::InsLen)?;
                let left = c.varint(Col::InsLeft)?;
                let right = c.varint(Col::InsRight)?;
                n_ins -= 1;
                let end = lv.saturating_add(len);
                ins_next = if n_ins > 0 { Some(next_lv(&mut c, Col::InsLv, end)?) } else { None };
                NextOp::Ins { len, left, right }
            } else if del_next == Some(lv) {
                let lr = c.varint(Col::DelLen)?;
                let target = c.varint(Col::DelTarget)?;
                let len = u32::try_from(lr >> 1).map_err(|_| c.err(Col::DelLen, "number too large"))?;
                n_del -= 1;
                let end = lv.saturating_add(len);
                del_next = if n_del > 0 { Some(next_lv(&mut c, Col::DelLv, end)?) } else { None };
                NextOp::Del { len, target, reversed: lr & 1 == 1 }
            } else if map_next == Some(lv) {
                let key = c[Col::Maps].str()?;
                let value = read_value(&mut c[Col::Maps])?;
                n_map -= 1;
                map_next = if n_map > 0 { Some(next_lv(&mut c, Col::Maps, lv + 1)?) } else { None };
                NextOp::Map { key, value }
            } else {
                return Err(c.err(Col::RunLen, "ops do not cover the history exactly"));
            };
            lv = match op {
                NextOp::Ins { len, left, right } => {
                    n_chars += len as u64;
                    self.read_insert(lv, total, len, left, right)?
                }
                NextOp::Del { len, target, reversed } => {
                    self.read_delete(lv, total, len, target, reversed)?
                }
                NextOp::Map { key, value } => {
                    maps.push((lv, key, value));
                    lv + 1
                }
            };
        }
        if ins_next.is_some() || del_next.is_some() || map_next.is_some() {
            return Err(c.err(Col::RunLen, "ops left over"));
        }
        let chars = if text.is_ascii() { text.len() } else { text.chars().count() };
        if chars as u64 != n_chars {
            return Err(c.err(Col::Content, "content does not match the inserts"));
        }

        // The text: from the stored document order when there is a consistent one, else
        // by integrating every insert and delete.
        let doc = &mut self.doc;
        let order = read_order(&mut c[Col::Order], total)
            .and_then(|order| text_from_order(&order, &doc.log.ins, &doc.log.dels, total, text));
        match order {
            Some(t) => doc.text = t,
            None => integrate_all(doc, text)?,
        }

        for (lv, key, value) in maps {
            let log = &doc.log;
            let r = &log.runs[log.run_idx(lv)];
            let frontier = if r.lv == lv { r.parents.clone() } else { vec![lv - 1] };
            let replica = log.agents[r.agent as usize].id;
            let lamport = r.lamport + (lv - r.lv) as u64;
            doc.apply_map_op(lv, lamport, replica, key, value, &frontier);
        }
        if self.timed {
            self.load_times(&mut c, &local, &next_seq)?;
        }
        Ok(())
    }

    /// Reads `Col::Times`: each agent's dated seqs, rising and within what it wrote.
    fn load_times(
        &mut self,
        c: &mut Columns<Reader<'_>>,
        local: &[u32],
        next_seq: &[u64],
    ) -> Result<(), Error> {
        for (&a, &end) in local.iter().zip(next_seq) {
            let n = c.count(Col::Times)?;
            let (mut seq, mut time) = (0u64, 0u64);
            for _ in 0..n {
                let d = c.varint(Col::Times)?;
                seq = seq
                    .checked_add(d)
                    .filter(|&s| d > 0 && s < end)
                    .ok_or_else(|| c.err(Col::Times, "dated seqs not rising within the replica's ops"))?;
                time = time.wrapping_add(varint::unzigzag(c.varint(Col::Times)?) as u64);
                self.doc.log.agents[a as usize].date_from(seq, time);
            }
        }
        Ok(())
    }

    /// Adds the insert run at `lv` to the op log; returns the `Lv` after it. Its origins
    /// are checked to be earlier ops here, and to be characters when the text is built.
    fn read_insert(&mut self, lv: Lv, total: Lv, len: u32, left: u64, right: u64) -> Result<Lv, Error> {
        let bad = |reason: &'static str| Error::Decode { what: "document ops", reason, offset: lv as usize };
        if len == 0 || lv.checked_add(len).is_none_or(|e| e > total) {
            return Err(bad("bad insert length"));
        }
        let (ol, or) = if self.v1 {
            let back = |d: u64| u32::try_from(d).ok().and_then(|d| lv.checked_sub(d));
            let ol = if left == 0 { NONE } else { back(left).ok_or(bad("bad left origin"))? };
            let or = if right == 0 { NONE } else { back(right).ok_or(bad("bad right origin"))? };
            (ol, or)
        } else {
            let ol =
                if left == 0 { NONE } else { self.place.at(left - 1, lv).ok_or(bad("bad left origin"))? };
            let base = Place(if ol == NONE { 0 } else { ol + 1 });
            let or = if right == 0 { NONE } else { base.at(right - 1, lv).ok_or(bad("bad right origin"))? };
            (ol, or)
        };
        self.doc.log.push_ins(lv, len, ol, or);
        self.place = Place(lv + len - 1);
        Ok(lv + len)
    }

    /// Adds the delete run at `lv` to the op log; returns the `Lv` after it. Its targets
    /// are checked to be earlier ops here, and to be characters when the text is built.
    fn read_delete(&mut self, lv: Lv, total: Lv, len: u32, target: u64, reversed: bool) -> Result<Lv, Error> {
        let bad = |reason: &'static str| Error::Decode { what: "document ops", reason, offset: lv as usize };
        if len == 0 || lv.checked_add(len).is_none_or(|e| e > total) {
            return Err(bad("bad delete length"));
        }
        let t = if self.v1 {
            u32::try_from(target).ok().and_then(|d| lv.checked_sub(d))
        } else {
            self.place.at(target, lv)
        }
        .ok_or(bad("bad delete target"))?;
        self.place = Place(t);
        if t.checked_add(len).is_none_or(|e| e > lv) {
            return Err(bad("delete target is not an earlier character"));
        }
        self.doc.log.push_del(DelRun { lv, len, target: t, reversed });
        Ok(lv + len)
    }
}

/// Builds the text by integrating the op log's inserts and deletes in `Lv` order, as
/// they were first applied: the load of a document without a consistent document order.
fn integrate_all(doc: &mut Doc, content: &str) -> Result<(), Error> {
    let Doc { text, log, .. } = doc;
    let bad =
        |reason: &'static str, lv: Lv| Error::Decode { what: "document ops", reason, offset: lv as usize };
    let ascii = content.is_ascii();
    let (ins, dels) = (&log.ins, &log.dels);
    let (mut i, mut d, mut at) = (0, 0, 0);
    while i < ins.len() || d < dels.len() {
        if d >= dels.len() || (i < ins.len() && ins[i].lv < dels[d].lv) {
            let r = ins[i];
            i += 1;
            // The content's length in chars was checked against the inserts.
            let rest = &content[at..];
            let bytes = if ascii { r.len as usize } else { crate::char_bytes(rest, r.len as usize) };
            let offset = text.push_content(&rest[..bytes]);
            if !text.try_integrate(r.lv, r.len, r.origin_left, r.origin_right, offset, |lv| log.id_of(lv)) {
                return Err(bad("origin is not an earlier character", r.lv));
            }
            at += bytes;
        } else {
            let r = dels[d];
            d += 1;
            if text.try_delete(r.target, r.len).is_none() {
                return Err(bad("delete target is not an earlier character", r.lv));
            }
        }
    }
    Ok(())
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
            put_op_id(&mut out, OpId::new(ReplicaId(r), 1));
        }
        assert!(decode_clock(&out).is_err());
    }

    #[test]
    fn reader_errors_name_the_offset_in_the_outer_input() {
        let mut out = vec![0xaa];
        varint::put_bytes(&mut out, &[0x05, 0xff]);
        let mut r = Reader::new(&out, "test");
        r.u8().unwrap();
        let mut s = r.section("inner").unwrap();
        assert!(r.is_empty());
        assert_eq!(s.varint().unwrap(), 5);
        assert_eq!(
            s.varint(),
            Err(Error::Decode { what: "inner", reason: "unexpected end of input", offset: 3 })
        );
        let mut r = Reader::new(&[0xff; 11], "test");
        assert!(matches!(r.varint(), Err(Error::Decode { offset: 0, .. })));
    }
}
