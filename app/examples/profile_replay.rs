//! Replays one trace many times, for a profiler: `cargo run --release --example
//! profile_replay -- FILE [ROUNDS]`.

use std::time::Instant;
use tandem::trace::{Trace, replay};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or_else(|| anyhow::anyhow!("usage: profile_replay FILE [ROUNDS]"))?;
    let rounds: usize = args.next().map_or(Ok(20), |r| r.parse())?;
    let trace = Trace::load(path.as_ref())?;
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        let r = replay(&trace)?;
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        assert!(r.docs[0].text() == trace.end_content);
    }
    println!("best replay: {best:.2} ms");
    Ok(())
}
