//! The figures the many-peer benchmarks (`bench_peers`, `bench_mesh`) print.

// Each benchmark includes this module and uses part of it.
#![allow(dead_code, unreachable_pub)]

/// The `p` quantile (0 to 1) of sorted samples; NaN for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Prints the time each keystroke took to reach each peer (`each`, ms) and all of them
/// (`all`, ms) among `n` nodes, and the bytes the `n` nodes received and sent over
/// `keystrokes` keystrokes, per keystroke per node.
pub fn print_keystrokes(each: &mut [f64], all: &mut [f64], n: usize, keystrokes: usize, bytes: (u64, u64)) {
    each.sort_by(f64::total_cmp);
    all.sort_by(f64::total_cmp);
    println!(
        "keystroke to each peer: p50 {:.1} ms, p99 {:.1} ms; to all {} peers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(each, 0.5),
        percentile(each, 0.99),
        n - 1,
        percentile(all, 0.5),
        percentile(all, 0.99),
        all.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "bytes per keystroke per node: {:.0} received, {:.0} sent (200 ms of idle after each included)",
        bytes.0 as f64 / (n * keystrokes) as f64,
        bytes.1 as f64 / (n * keystrokes) as f64
    );
}

/// Prints how many connections and document peers the nodes have, lowest and highest.
pub fn print_connections<T: Ord + std::fmt::Display>(conns: &[T], doc_peers: &[T]) {
    let range = |v: &[T]| match (v.iter().min(), v.iter().max()) {
        (Some(lo), Some(hi)) => format!("min {lo} max {hi}"),
        _ => "none".to_owned(),
    };
    println!("connections per node: {}; document peers per node: {}", range(conns), range(doc_peers));
}

/// Prints the bytes the `n` nodes received and sent (`bytes`) over `secs` of idle
/// time, per node per second.
pub fn print_idle(bytes: (u64, u64), n: usize, secs: f64) {
    let per_node = |b: u64| b as f64 / n as f64 / secs;
    println!(
        "idle: per node {:.0} B/s received, {:.0} B/s sent ({:.1} KB per minute sent)",
        per_node(bytes.0),
        per_node(bytes.1),
        per_node(bytes.1) * 60.0 / 1000.0
    );
}
