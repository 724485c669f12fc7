//! What dating changes costs in a document's encoded history: automerge-paper replayed
//! as typed by one person at a given pace (patches a second, each pause drawn evenly
//! from zero to twice the mean, a minute's pause once in 500 patches), with the device's
//! clock stamped to the second or, as Tandem stamps it, to the minute.
//!   cargo run --release -p tandem --example bench_times

use tandem::trace::Trace;

fn main() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/traces/sequential/automerge-paper.json.gz");
    let t = Trace::load(&path).unwrap();
    println!("{:>10} {:>8} {:>14} {:>10}", "patches/s", "step s", "encoded bytes", "sessions");
    for (per_s, step) in [(0.0f64, 1u64), (2.0, 1), (2.0, 60), (0.5, 1), (0.5, 60)] {
        let mut doc = tandem_crdt::Doc::new(tandem_crdt::ReplicaId(1));
        let mut x: u64 = 7;
        let mut now: f64 = 1_790_000_000.0;
        for txn in &t.txns {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if per_s > 0.0 {
                let r = (x >> 33) as f64 / (1u64 << 31) as f64;
                now += 2.0 * r / per_s + if (x >> 20).is_multiple_of(500) { 60.0 } else { 0.0 };
                doc.set_wall_clock(now as u64 / step * step);
            }
            for p in &txn.patches {
                if p.1 > 0 {
                    doc.delete(p.0, p.1).unwrap();
                }
                if !p.2.is_empty() {
                    doc.insert(p.0, &p.2).unwrap();
                }
            }
            doc.commit_quiet();
        }
        assert_eq!(doc.text(), t.end_content);
        let bytes = tandem_crdt::encoding::encode_doc(&doc);
        let pace = if per_s > 0.0 { format!("{per_s}") } else { "undated".to_owned() };
        println!("{pace:>10} {step:>8} {:>14} {:>10}", bytes.len(), doc.edit_sessions(300).len());
    }
}
