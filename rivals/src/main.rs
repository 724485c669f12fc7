//! Runs Tandem and rival CRDTs over the same editing traces in one process and prints
//! one JSON object per (library, trace), then a Markdown table.
//!
//! `cargo run --release --manifest-path rivals/Cargo.toml -- [--runs N] TRACE...`
//!
//! For every library: `replay_ms` applies every txn as local edits (one transaction per
//! txn where the library has them); `merge_ms` decodes the library's full-history
//! encoding into an empty document and reads its text; `encoded_bytes` is that encoding;
//! `doc_heap_bytes` is the heap held by the replayed document (counting allocator).
//!
//! A TRACE is a file or a generator spec (`code:SEED`, `conc:SEED`, `big:SEED`,
//! `long:SOURCE`: `tandem::tracegen`). Concurrent traces run Tandem and diamond-types
//! only (diamond-types adds each txn's ops at its parents' version, then checks out the
//! tip); so do traces of more than `BIG_OPS` CRDT ops or `BIG_CHARS` chars, where the
//! other rivals take minutes.

use automerge::{AutoCommit, ObjType, ReadDoc, TextEncoding, transaction::Transactable};
use serde_json::json;
use std::path::Path;
use std::time::Instant;
use tandem::alloc::live_bytes;
use tandem::trace::{Patch, Trace};

#[global_allocator]
static ALLOC: tandem::alloc::Counting = tandem::alloc::Counting;

struct Row {
    lib: &'static str,
    trace: String,
    replay_ms: f64,
    merge_ms: f64,
    encoded_bytes: usize,
    doc_heap_bytes: usize,
    ok: bool,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Replays `runs` times keeping the best time; `replay` returns the document, its
/// text, and its full-history encoding; `merge` decodes and returns the text.
fn measure<D>(
    lib: &'static str,
    name: &str,
    trace: &Trace,
    runs: usize,
    replay: impl Fn(&Trace) -> D,
    finish: impl Fn(&mut D) -> (String, Vec<u8>),
    merge: impl Fn(&[u8]) -> String,
) -> Row {
    let mut replay_ms = f64::MAX;
    let mut heap = 0;
    let mut ok = true;
    let mut bytes = Vec::new();
    for _ in 0..runs {
        let before = live_bytes();
        let t = Instant::now();
        let mut doc = replay(trace);
        replay_ms = replay_ms.min(ms(t));
        heap = live_bytes().saturating_sub(before);
        let (text, enc) = finish(&mut doc);
        ok &= text == trace.end_content;
        bytes = enc;
    }
    let mut merge_ms = f64::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let text = merge(&bytes);
        merge_ms = merge_ms.min(ms(t));
        ok &= text == trace.end_content;
    }
    Row {
        lib,
        trace: name.to_owned(),
        replay_ms,
        merge_ms,
        encoded_bytes: bytes.len(),
        doc_heap_bytes: heap,
        ok,
    }
}

fn patches(trace: &Trace) -> impl Iterator<Item = &[Patch]> {
    trace.txns.iter().map(|t| t.patches.as_slice())
}

fn diamond(trace: &Trace, name: &str, runs: usize) -> Row {
    use diamond_types::list::{ListCRDT, OpLog, encoding::ENCODE_FULL};
    measure(
        "diamond-types",
        name,
        trace,
        runs,
        |trace| {
            let mut doc = ListCRDT::new();
            let agent = doc.get_or_create_agent_id("seph");
            for txn in patches(trace) {
                for Patch(pos, del, ins) in txn {
                    if *del > 0 {
                        doc.delete(agent, *pos..*pos + *del);
                    }
                    if !ins.is_empty() {
                        doc.insert(agent, *pos, ins);
                    }
                }
            }
            doc
        },
        |doc| (doc.branch.content().to_string(), doc.oplog.encode(ENCODE_FULL)),
        |bytes| OpLog::load_from(bytes).unwrap().checkout_tip().content().to_string(),
    )
}

/// diamond-types on a concurrent trace: every op added at its txn's parents' version
/// (`add_insert_at` / `add_delete_at`), then the tip checked out.
fn diamond_concurrent(trace: &Trace, name: &str, runs: usize) -> Row {
    use diamond_types::list::{Branch, OpLog, encoding::ENCODE_FULL};
    measure(
        "diamond-types",
        name,
        trace,
        runs,
        |trace| {
            // diamond-types orders concurrent inserts at one place by agent name, Tandem
            // by replica id (agent + 1): zero-padded names sort the same way.
            let mut oplog = OpLog::new();
            let agents: Vec<_> = (0..trace.num_agents.max(1))
                .map(|a| oplog.get_or_create_agent_id(&format!("a{a:04}")))
                .collect();
            // The last op of each txn.
            let mut last = Vec::with_capacity(trace.txns.len());
            for txn in &trace.txns {
                let mut parents: Vec<usize> = txn.parents.iter().map(|&p| last[p]).collect();
                let agent = agents[txn.agent];
                for Patch(pos, del, ins) in &txn.patches {
                    if *del > 0 {
                        let lv = oplog.add_delete_at(agent, &parents, *pos..*pos + *del);
                        parents = vec![lv];
                    }
                    if !ins.is_empty() {
                        let lv = oplog.add_insert_at(agent, &parents, *pos, ins);
                        parents = vec![lv];
                    }
                }
                last.push(parents[0]);
            }
            let branch = oplog.checkout_tip();
            (oplog, branch)
        },
        |(oplog, branch): &mut (OpLog, Branch)| (branch.content().to_string(), oplog.encode(ENCODE_FULL)),
        |bytes| OpLog::load_from(bytes).unwrap().checkout_tip().content().to_string(),
    )
}

fn yrs(trace: &Trace, name: &str, runs: usize) -> Row {
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, GetString, OffsetKind, Options, ReadTxn, StateVector, Text, Transact, Update};
    let opts = || Options { offset_kind: OffsetKind::Utf16, ..Options::default() };
    measure(
        "yrs",
        name,
        trace,
        runs,
        |trace| {
            let doc = Doc::with_options(opts());
            let text = doc.get_or_insert_text("text");
            for txn in patches(trace) {
                let mut t = doc.transact_mut();
                for Patch(pos, del, ins) in txn {
                    if *del > 0 {
                        text.remove_range(&mut t, *pos as u32, *del as u32);
                    }
                    if !ins.is_empty() {
                        text.insert(&mut t, *pos as u32, ins);
                    }
                }
            }
            doc
        },
        |doc| {
            let text = doc.get_or_insert_text("text");
            let t = doc.transact();
            (text.get_string(&t), t.encode_state_as_update_v2(&StateVector::default()))
        },
        |bytes| {
            let doc = Doc::with_options(opts());
            let text = doc.get_or_insert_text("text");
            {
                let mut t = doc.transact_mut();
                t.apply_update(Update::decode_v2(bytes).unwrap()).unwrap();
            }
            text.get_string(&doc.transact())
        },
    )
}

fn automerge(trace: &Trace, name: &str, runs: usize) -> Row {
    measure(
        "automerge",
        name,
        trace,
        runs,
        |trace| {
            let mut doc = AutoCommit::new_with_encoding(TextEncoding::UnicodeCodePoint);
            let text = doc.put_object(automerge::ROOT, "text", ObjType::Text).unwrap();
            for txn in patches(trace) {
                for Patch(pos, del, ins) in txn {
                    doc.splice_text(&text, *pos, *del as isize, ins).unwrap();
                }
                doc.commit();
            }
            (doc, text)
        },
        |(doc, text)| (doc.text(&*text).unwrap(), doc.save()),
        |bytes| {
            let doc = AutoCommit::load(bytes).unwrap();
            let (_, text) = doc.get(automerge::ROOT, "text").unwrap().unwrap();
            doc.text(&text).unwrap()
        },
    )
}

fn loro(trace: &Trace, name: &str, runs: usize) -> Row {
    use loro::{ExportMode, LoroDoc};
    measure(
        "loro",
        name,
        trace,
        runs,
        |trace| {
            let doc = LoroDoc::new();
            let text = doc.get_text("text");
            for txn in patches(trace) {
                for Patch(pos, del, ins) in txn {
                    if *del > 0 {
                        text.delete(*pos, *del).unwrap();
                    }
                    if !ins.is_empty() {
                        text.insert(*pos, ins).unwrap();
                    }
                }
                doc.commit();
            }
            doc
        },
        |doc| (doc.get_text("text").to_string(), doc.export(ExportMode::Snapshot).unwrap()),
        |bytes| {
            let doc = LoroDoc::new();
            doc.import(bytes).unwrap();
            doc.get_text("text").to_string()
        },
    )
}

/// Traces above these sizes run Tandem and diamond-types only.
const BIG_OPS: usize = 2_000_000;
const BIG_CHARS: usize = 500_000;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 3;
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        runs = args.get(i + 1).and_then(|r| r.parse().ok()).expect("--runs N");
        args.drain(i..i + 2);
    }
    let mut rows = Vec::new();
    for path in &args {
        let trace = Trace::load_or_generate(path).unwrap();
        let name = if tandem::tracegen::is_spec(path) {
            path.clone()
        } else {
            Path::new(path).file_name().unwrap().to_string_lossy().replace(".json.gz", "")
        };
        let first = rows.len();
        let ours = tandem::trace::measure(Path::new(path), &trace, runs).unwrap();
        rows.push(Row {
            lib: "tandem",
            trace: name.clone(),
            replay_ms: ours.replay_ms,
            merge_ms: ours.merge_ms,
            encoded_bytes: ours.encoded_bytes,
            doc_heap_bytes: ours.doc_heap_bytes,
            ok: ours.ok,
        });
        if trace.is_concurrent() {
            rows.push(diamond_concurrent(&trace, &name, runs));
        } else {
            rows.push(diamond(&trace, &name, runs));
            let big = tandem::tracegen::n_crdt_ops(&trace) > BIG_OPS
                || trace.end_content.chars().count() > BIG_CHARS;
            if !big {
                rows.push(yrs(&trace, &name, runs));
                rows.push(loro(&trace, &name, runs));
                rows.push(automerge(&trace, &name, runs));
            }
        }
        for r in &rows[first..] {
            let v = json!({
                "lib": r.lib, "trace": r.trace, "replay_ms": r.replay_ms, "merge_ms": r.merge_ms,
                "encoded_bytes": r.encoded_bytes, "doc_heap_bytes": r.doc_heap_bytes, "ok": r.ok,
            });
            println!("{v}");
        }
    }
    println!();
    println!("| trace | library | replay ms | merge ms | encoded bytes | heap bytes | ok |");
    println!("|---|---|---:|---:|---:|---:|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} | {:.2} | {} | {} | {} |",
            r.trace, r.lib, r.replay_ms, r.merge_ms, r.encoded_bytes, r.doc_heap_bytes, r.ok
        );
    }
}
