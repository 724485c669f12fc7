//! `tandem trace` and the trace replays behind it, on every real trace in `tests/data/traces`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use tandem::trace::{Trace, replay};
use tandem_crdt::{Doc, ReplicaId, encoding};

fn traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/traces")
}

fn all_traces() -> Vec<PathBuf> {
    let mut res = Vec::new();
    for kind in ["sequential", "concurrent"] {
        for e in std::fs::read_dir(traces_dir().join(kind)).expect("the traces in tests/data/traces") {
            res.push(e.unwrap().path());
        }
    }
    res.sort();
    assert_eq!(res.len(), 8, "the eight traces");
    res
}

#[test]
fn every_trace_replays_to_its_end_content() {
    for path in all_traces() {
        let trace = Trace::load(&path).unwrap();
        let r = replay(&trace).unwrap();
        for d in &r.docs {
            assert!(d.text() == trace.end_content, "{} differs", path.display());
        }
        let doc = &r.docs[0];
        doc.check();
        // The full encoding and the change history both rebuild the same document.
        let bytes = encoding::encode_doc(doc);
        let loaded = encoding::decode_doc(&bytes, ReplicaId(42)).unwrap();
        assert!(loaded.text() == trace.end_content, "{} after decode", path.display());
        assert_eq!(loaded.version(), doc.version());
        let mut fresh = Doc::new(ReplicaId(43));
        for c in encoding::decode_changes(&encoding::encode_changes(&doc.all_changes())).unwrap() {
            fresh.apply(c).unwrap();
        }
        assert!(fresh.text() == trace.end_content, "{} from changes", path.display());
    }
}

/// Issue 15: a history file round-trip reproduces every trace's document exactly, and
/// `tandem import --history` / `export --history` carry it through a real store.
#[test]
fn every_trace_round_trips_through_a_history_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for path in all_traces() {
        let trace = Trace::load(&path).unwrap();
        let doc = &replay(&trace).unwrap().docs[0];
        let json = tandem::history_file::to_json(doc, "trace").unwrap();
        let (title, back) = tandem::history_file::from_json(&json, ReplicaId(77)).unwrap();
        assert_eq!(title, "trace");
        assert!(back.text() == trace.end_content, "{} text", path.display());
        assert_eq!(back.version(), doc.version(), "{}", path.display());
        assert!(back.all_changes() == doc.all_changes(), "{} changes", path.display());
        for (author, n) in doc.version().iter() {
            for seq in [1, n] {
                let id = tandem_crdt::OpId::new(author, seq);
                assert_eq!(back.time_of(id), doc.time_of(id), "{} time of {id}", path.display());
            }
        }
    }
    // Through the CLI, with a concurrent trace (several authors).
    let trace = Trace::load(&traces_dir().join("concurrent/friendsforever.json.gz")).unwrap();
    let doc = &replay(&trace).unwrap().docs[0];
    let file = tmp.path().join("history.json");
    std::fs::write(&file, tandem::history_file::to_json(doc, "Friends").unwrap()).unwrap();
    let run = |args: &[&str]| {
        let out = tandem().arg("--data-dir").arg(&data).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let id = run(&["import", "--history", file.to_str().unwrap()]).trim().to_owned();
    assert!(run(&["list"]).contains("Friends"), "the history file's title");
    let again = tmp.path().join("again.json");
    run(&["export", &id, "--history", again.to_str().unwrap()]);
    let (_, back) =
        tandem::history_file::from_json(&std::fs::read_to_string(&again).unwrap(), ReplicaId(78)).unwrap();
    assert!(back.text() == trace.end_content);
    assert_eq!(back.version(), doc.version());
    assert!(run(&["export", &id]) == trace.end_content, "the text export too");
    // A broken file is refused with the reason, and adds no document.
    let listed = run(&["list"]);
    std::fs::write(&file, "{\"format\": \"tandem-history\"").unwrap();
    let out =
        tandem().arg("--data-dir").arg(&data).args(["import", "--history"]).arg(&file).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a Tandem history file"), "{err}");
    assert_eq!(run(&["list"]), listed);
}

#[test]
fn concurrent_trace_time_travel_matches_replay() {
    // Every tenth txn of a concurrent trace: the merged document, read at that txn's
    // version, equals the text its author saw right after it.
    let trace = Trace::load(&traces_dir().join("concurrent/clownschool.json.gz")).unwrap();
    let r = replay(&trace).unwrap();
    let mut doc = Doc::new(ReplicaId(1));
    for c in r.docs[0].all_changes() {
        doc.apply(c).unwrap();
    }
    assert!(doc.text() == trace.end_content);
    let seq = Trace::load(&traces_dir().join("sequential/clownschool_flat.json.gz")).unwrap();
    assert!(seq.end_content == trace.end_content);
    assert!(doc.text_at(doc.version()).unwrap() == trace.end_content);
    assert_eq!(doc.text_at(&tandem_crdt::VectorClock::new()).unwrap(), "");
}

fn tandem() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
}

fn write_gz(path: &Path, json: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    gz.write_all(json.as_bytes()).unwrap();
    gz.finish().unwrap();
}

#[test]
fn cli_reports_json_and_exit_codes() {
    let dir = tempdir();
    let good = dir.join("good.json.gz");
    write_gz(
        &good,
        r#"{"startContent":"","endContent":"hey\n","txns":[
            {"time":"t","patches":[[0,0,"hi"]]},{"time":"t","patches":[[1,1,"ey\n"]]}]}"#,
    );
    let out = tandem().args(["trace", good.to_str().unwrap(), "--json", "--runs", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "exactly one JSON object");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for key in [
        "trace",
        "ops",
        "replay_ms",
        "merge_ms",
        "stream_ms",
        "encoded_bytes",
        "load_ms",
        "snapshot_bytes",
        "doc_heap_bytes",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["ok"], true);
    assert_eq!(v["ops"], 2);

    let bad = dir.join("bad.json.gz");
    write_gz(&bad, r#"{"startContent":"","endContent":"nope","txns":[{"time":"t","patches":[[0,0,"hi"]]}]}"#);
    let out = tandem().args(["trace", bad.to_str().unwrap(), "--json", "--runs", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a differing text exits 1");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);

    let missing = dir.join("missing.json.gz");
    let out = tandem().args(["trace", missing.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json.gz"));

    let garbage = dir.join("garbage.json.gz");
    std::fs::write(&garbage, b"not gzip at all").unwrap();
    let out = tandem().args(["trace", garbage.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("garbage.json.gz"));

    let wrong = dir.join("wrong.json.gz");
    write_gz(&wrong, r#"{"endContent":"x","txns":[{"patches":[[5,0,"x"]]}]}"#);
    let out = tandem().args(["trace", wrong.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an out-of-range patch is a malformed trace");
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong.json.gz"));
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("tandem-trace-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn generated_code_history_replays_to_its_end_content() {
    use tandem::tracegen;
    // The full-size shape: the text model of the generator, not the CRDT, made
    // `endContent`.
    let trace = tracegen::generate("code:3").unwrap();
    assert!(!trace.is_concurrent());
    let ops = tracegen::n_crdt_ops(&trace);
    assert!(trace.txns.len() >= 30_000, "{} txns", trace.txns.len());
    assert!(trace.txns.iter().any(|t| t.patches.len() > 1), "multi-cursor edits");
    assert!(!trace.end_content.is_ascii(), "some non-ASCII");
    let first = trace.txns[0].patches[0].2.chars().count();
    assert!((50_000..=70_000).contains(&first), "a {first}-char paste");
    let r = replay(&trace).unwrap();
    assert!(r.docs[0].text() == trace.end_content);
    assert_eq!(r.docs[0].n_ops(), ops);
    r.docs[0].check();
    // Repeated into a long history: the same end content, every repetition replayed.
    let small = tracegen::code_sized(4, 3_000, 300);
    let long = tracegen::repeat_to(&small, 5 * tracegen::n_crdt_ops(&small)).unwrap();
    assert!(tracegen::n_crdt_ops(&long) >= 5 * tracegen::n_crdt_ops(&small));
    let r = replay(&long).unwrap();
    assert!(r.docs[0].text() == long.end_content);
}

#[test]
fn generated_concurrent_history_replays_to_its_end_content() {
    let trace = tandem::tracegen::concurrent_sized(5, 40, 1_500);
    assert!(trace.is_concurrent());
    assert_eq!(trace.num_agents, 40);
    let agents: std::collections::BTreeSet<usize> = trace.txns.iter().map(|t| t.agent).collect();
    assert!(agents.len() >= 20, "{} authors wrote", agents.len());
    assert!(trace.txns.iter().any(|t| t.parents.len() >= 3), "merges of several branches");
    let r = replay(&trace).unwrap();
    for d in &r.docs {
        assert!(d.text() == trace.end_content);
    }
    r.docs[0].check();
}

#[test]
fn generators_are_deterministic() {
    use tandem::tracegen;
    let a = tracegen::code_sized(9, 5_000, 2_000).to_json();
    assert_eq!(a, tracegen::code_sized(9, 5_000, 2_000).to_json());
    assert_ne!(a, tracegen::code_sized(10, 5_000, 2_000).to_json());
    let c = tracegen::concurrent_sized(9, 20, 500).to_json();
    assert_eq!(c, tracegen::concurrent_sized(9, 20, 500).to_json());
    // Through the command line: the same spec writes the same bytes, and they load back
    // as the same trace.
    let dir = tempdir();
    let (x, y) = (dir.join("x.json.gz"), dir.join("y.json.gz"));
    for p in [&x, &y] {
        let out = tandem().args(["trace", "--generate", "code:11", "--write"]).arg(p).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(std::fs::read(&x).unwrap(), std::fs::read(&y).unwrap());
    let loaded = Trace::load(&x).unwrap();
    assert_eq!(loaded.to_json(), tracegen::generate("code:11").unwrap().to_json());
}
