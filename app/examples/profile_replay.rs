//! Replays one trace many times, or merges its encoding many times, for a profiler:
//! `cargo run --release --example profile_replay -- FILE|SPEC [ROUNDS] [merge]`.

use std::time::Instant;
use tandem::trace::{Trace, replay};
use tandem_crdt::{ReplicaId, encoding};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: profile_replay FILE|SPEC [ROUNDS] [merge]";
    let what = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let rounds: usize = args.next().map_or(Ok(20), |r| r.parse())?;
    let merge = args.next().as_deref() == Some("merge");
    let trace = Trace::load_or_generate(&what)?;
    let mut best = f64::MAX;
    if merge {
        let bytes = encoding::encode_doc(&replay(&trace)?.docs[0]);
        for _ in 0..rounds {
            let t = Instant::now();
            let doc = encoding::decode_doc(&bytes, ReplicaId(u64::MAX))?;
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
            assert!(doc.text() == trace.end_content);
        }
        println!("best merge: {best:.2} ms");
        return Ok(());
    }
    for _ in 0..rounds {
        let t = Instant::now();
        let r = replay(&trace)?;
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        assert!(r.docs[0].text() == trace.end_content);
    }
    println!("best replay: {best:.2} ms");
    Ok(())
}
