//! `tandem trace`: replays a recorded editing trace through the CRDT and measures it.
//!
//! Trace format: `tests/data/traces/README.md` (sequential and concurrent). Positions
//! are Unicode chars.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;
use std::time::Instant;
use tandem_crdt::{Change, Doc, Op, OpId, ReplicaId, VectorClock, encoding};

/// One patch: at char `pos`, delete `del` chars, then insert `ins`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Patch(pub usize, pub usize, pub String);

/// One transaction of a trace.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Txn {
    /// Indexes of the txns this one follows (concurrent traces only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<usize>,
    /// The editing agent (concurrent traces only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub agent: usize,
    /// The patches, applied in order.
    pub patches: Vec<Patch>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A parsed trace.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    /// `"concurrent"` for concurrent traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Text before the first txn (sequential traces).
    #[serde(default)]
    pub start_content: String,
    /// Text after every txn.
    pub end_content: String,
    /// Number of agents (concurrent traces).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_agents: usize,
    /// The transactions.
    pub txns: Vec<Txn>,
}

impl Trace {
    /// Reads a gzipped JSON trace.
    pub fn load(path: &Path) -> Result<Trace> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open trace {}", path.display()))?;
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut json)
            .with_context(|| format!("{} is not a gzip file", path.display()))?;
        let trace: Trace = serde_json::from_slice(&json)
            .with_context(|| format!("{} is not a valid editing trace", path.display()))?;
        trace.validate().with_context(|| format!("{} is not a valid editing trace", path.display()))?;
        Ok(trace)
    }

    /// Reads a trace file, or generates the trace a spec names (`code:SEED`, ...: see
    /// [`crate::tracegen`]).
    pub fn load_or_generate(what: &str) -> Result<Trace> {
        if crate::tracegen::is_spec(what) {
            crate::tracegen::generate(what).with_context(|| format!("cannot generate {what}"))
        } else {
            Trace::load(Path::new(what))
        }
    }

    /// The trace as JSON, in the format it is read from.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a trace is plain data")
    }

    /// Writes the trace as gzipped JSON.
    pub fn write(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let file =
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut gz =
            flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
        gz.write_all(self.to_json().as_bytes())?;
        gz.finish()?.flush()?;
        Ok(())
    }

    /// Whether txns may be concurrent.
    pub fn is_concurrent(&self) -> bool {
        self.kind.as_deref() == Some("concurrent")
    }

    /// Number of patches.
    pub fn n_patches(&self) -> usize {
        self.txns.iter().map(|t| t.patches.len()).sum()
    }

    fn validate(&self) -> Result<()> {
        for (i, t) in self.txns.iter().enumerate() {
            if let Some(&p) = t.parents.iter().find(|&&p| p >= i) {
                bail!("txn {i} has parent {p}, which is not an earlier txn");
            }
            if self.is_concurrent() && t.agent >= self.num_agents.max(1) {
                bail!("txn {i} has agent {} but the trace has {} agents", t.agent, self.num_agents);
            }
        }
        Ok(())
    }
}

/// Applies one trace txn to `doc` as local edits.
fn apply_txn(doc: &mut Doc, txn: &Txn, i: usize) -> Result<()> {
    for Patch(pos, del, ins) in &txn.patches {
        if *del > 0 {
            doc.delete(*pos, *del).with_context(|| format!("txn {i}"))?;
        }
        if !ins.is_empty() {
            doc.insert(*pos, ins).with_context(|| format!("txn {i}"))?;
        }
    }
    Ok(())
}

/// The replicas after replaying a trace.
#[derive(Debug)]
pub struct Replay {
    /// One replica per agent (one in a sequential trace); the first holds everything.
    pub docs: Vec<Doc>,
}

/// The replica of trace agent `agent`. Replica ids break ties between concurrent inserts
/// at the same place, so they sort like the agents do in the trace format, which numbers
/// them `0 .. numAgents` and orders them by that number: agent `a` is `ReplicaId(a + 1)`.
fn replica(agent: usize) -> ReplicaId {
    ReplicaId(agent as u64 + 1)
}

/// Replays a trace as local edits: one replica (sequential) or one per agent, each txn
/// applied on a replica brought to exactly its parents' version.
pub fn replay(trace: &Trace) -> Result<Replay> {
    if !trace.is_concurrent() {
        let mut doc = Doc::new(replica(0));
        if !trace.start_content.is_empty() {
            doc.insert(0, &trace.start_content)?;
            doc.commit_quiet();
        }
        for (i, txn) in trace.txns.iter().enumerate() {
            apply_txn(&mut doc, txn, i)?;
            doc.commit_quiet();
        }
        return Ok(Replay { docs: vec![doc] });
    }
    let n = trace.num_agents.max(1);
    let mut docs: Vec<Doc> = (0..n).map(|a| Doc::new(replica(a))).collect();
    // For each txn: the version right after it; for each agent: its changes in order.
    let mut clocks: Vec<VectorClock> = Vec::with_capacity(trace.txns.len());
    let mut by_agent: Vec<Vec<(usize, Change)>> = vec![Vec::new(); n];
    for (i, txn) in trace.txns.iter().enumerate() {
        let mut want = VectorClock::new();
        for &p in &txn.parents {
            want.merge(&clocks[p]);
        }
        let doc = &mut docs[txn.agent];
        if doc.version() != &want {
            // Bring the replica to exactly the parents' version: apply what it lacks,
            // in trace order (a causal order).
            let mut missing: Vec<&(usize, Change)> = Vec::new();
            for list in &by_agent {
                let have = doc.version().get(list.first().map_or(ReplicaId(0), |c| c.1.author));
                let from = list.partition_point(|(_, c)| c.end_seq() - 1 <= have);
                missing.extend(list[from..].iter().take_while(|(_, c)| want.contains(c.id())));
            }
            missing.sort_by_key(|m| m.0);
            for (j, c) in missing {
                doc.apply(c.clone()).with_context(|| format!("merging txn {j} for txn {i}"))?;
            }
            if doc.version() != &want {
                bail!("txn {i}: replica {} cannot be brought to its parents' version", txn.agent);
            }
        }
        apply_txn(doc, txn, i)?;
        if let Some(c) = doc.commit() {
            by_agent[txn.agent].push((i, c));
        }
        clocks.push(doc.version().clone());
    }
    // Everyone syncs with everyone: the first replica ends with the whole history.
    for a in 1..n {
        let (first, rest) = docs.split_at_mut(a);
        for c in rest[0].changes_since(first[0].version()) {
            first[0].apply(c)?;
        }
    }
    for a in 1..n {
        let (first, rest) = docs.split_at_mut(a);
        for c in first[0].changes_since(rest[0].version()) {
            rest[0].apply(c)?;
        }
    }
    Ok(Replay { docs })
}

/// What `tandem trace` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The trace file.
    pub trace: String,
    /// Number of patches.
    pub ops: usize,
    /// CRDT ops (chars inserted + deleted).
    pub crdt_ops: usize,
    /// Best time to replay every txn as local edits.
    pub replay_ms: f64,
    /// Best time to decode the full encoding into an empty replica.
    pub merge_ms: f64,
    /// Best time for a second replica to apply every change one at a time.
    pub stream_ms: f64,
    /// Size of the full-history encoding.
    pub encoded_bytes: usize,
    /// Best time to open the document as a device stores it (the encoding with the
    /// text's document order, `encoding::encode_snapshot`) and read the text.
    pub load_ms: f64,
    /// Size of that stored encoding.
    pub snapshot_bytes: usize,
    /// Heap held by the replayed document.
    pub doc_heap_bytes: usize,
    /// Whether every replica's text equals `endContent`.
    pub ok: bool,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Runs every measurement `runs` times and keeps the best.
pub fn measure(path: &Path, trace: &Trace, runs: usize) -> Result<Report> {
    let runs = runs.max(1);
    let mut replay_ms = f64::MAX;
    let mut ok = true;
    let mut doc_heap_bytes = 0;
    let mut kept = None;
    for _ in 0..runs {
        let before = crate::alloc::live_bytes();
        let t = Instant::now();
        let r = replay(trace)?;
        replay_ms = replay_ms.min(ms(t));
        doc_heap_bytes = crate::alloc::live_bytes().saturating_sub(before) / r.docs.len();
        ok = r.docs.iter().all(|d| d.text() == trace.end_content);
        kept = Some(r);
    }
    let replay = kept.expect("at least one run");
    let doc = &replay.docs[0];
    let bytes = encoding::encode_doc(doc);
    let snapshot = encoding::encode_snapshot(doc);
    let live = live_changes(trace, &replay)?;

    let mut merge_ms = f64::MAX;
    let mut load_ms = f64::MAX;
    let mut stream_ms = f64::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let merged = encoding::decode_doc(&bytes, ReplicaId(u64::MAX))?;
        merge_ms = merge_ms.min(ms(t));
        ok &= merged.version() == doc.version();
        let t = Instant::now();
        let text = encoding::decode_doc(&snapshot, ReplicaId(u64::MAX))?.text();
        load_ms = load_ms.min(ms(t));
        ok &= text == trace.end_content;

        let stream = live.clone();
        let t = Instant::now();
        let mut remote = Doc::new(ReplicaId(u64::MAX - 1));
        for c in stream {
            remote.apply(c)?;
        }
        stream_ms = stream_ms.min(ms(t));
        ok &= remote.text() == trace.end_content;
    }
    Ok(Report {
        trace: path.display().to_string(),
        ops: trace.n_patches(),
        crdt_ops: doc.n_ops(),
        replay_ms,
        merge_ms,
        stream_ms,
        encoded_bytes: bytes.len(),
        load_ms,
        snapshot_bytes: snapshot.len(),
        doc_heap_bytes,
        ok,
    })
}

/// `c`, as written by `me`: every op id of its (single) author becomes `me`'s. The
/// storage benchmarks store a trace's history as typed on their own device this way.
pub fn as_author(c: Change, me: ReplicaId) -> Change {
    let from = c.author;
    let id = |o: OpId| if o.replica == from { OpId::new(me, o.seq) } else { o };
    Change {
        time: c.time,
        author: me,
        start_seq: c.start_seq,
        deps: c.deps.into_iter().map(id).collect(),
        lamport: c.lamport,
        ops: c
            .ops
            .into_iter()
            .map(|op| match op {
                Op::Insert { origin_left, origin_right, text } => {
                    Op::Insert { origin_left: origin_left.map(id), origin_right: origin_right.map(id), text }
                }
                Op::Delete { start, len, reversed } => Op::Delete { start: id(start), len, reversed },
                other => other,
            })
            .collect(),
    }
}

/// The history as a live peer receives it: one change per trace txn, in order.
pub fn live_changes(trace: &Trace, replay: &Replay) -> Result<Vec<Change>> {
    if trace.is_concurrent() {
        // Concurrent traces: the history in causal order, one change per op run.
        return Ok(replay.docs[0].all_changes().into_iter().flat_map(split_ops).collect());
    }
    let mut doc = Doc::new(replica(0));
    let mut out = Vec::with_capacity(trace.txns.len());
    for (i, txn) in trace.txns.iter().enumerate() {
        apply_txn(&mut doc, txn, i)?;
        out.extend(doc.commit());
    }
    Ok(out)
}

/// Splits a change into one change per op.
fn split_ops(c: Change) -> Vec<Change> {
    let mut out = Vec::with_capacity(c.ops.len());
    let mut seq = c.start_seq;
    let mut lamport = c.lamport;
    let mut deps = c.deps;
    for op in c.ops {
        let n = op.n_seqs();
        out.push(Change { time: c.time, author: c.author, start_seq: seq, deps, lamport, ops: vec![op] });
        seq += n;
        lamport += n;
        deps = vec![tandem_crdt::OpId::new(c.author, seq - 1)];
    }
    out
}
