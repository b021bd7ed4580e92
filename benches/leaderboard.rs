//! Leaderboard reads with a million customers in the standings: `cargo bench --bench leaderboard`
//! (`-- --customers N --reads N` to change the size). Fills the in-memory standings the server
//! keeps (the same `Leaderboard` type), then times what `GET /api/points/leaderboard` asks of
//! them — the top 50 and the caller's own rank — and prints p50/p99/max per read, the fill rate,
//! and the process's resident memory before and after filling.

use std::time::Instant;

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use restaurant_lottery::actors::leaderboard::Leaderboard;
use restaurant_lottery::domain::loyalty::{BusinessTz, Period};
use restaurant_lottery::domain::time::now_ms;

fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.trim_start_matches("VmRSS:").trim().to_string())
        })
        .unwrap_or_else(|| "n/a".into())
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let customers = arg("--customers", 1_000_000) as i64;
    let reads = arg("--reads", 20_000);
    let now = now_ms();
    let tz = BusinessTz::default();
    let (starts_at, _) = Period::Month.bounds(&tz, now);
    println!("RSS before: {}", rss());
    let board = Leaderboard::empty(tz, now);
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    let fill = Instant::now();
    for user in 1..=customers {
        // Earned at some point this month, in one to three earnings.
        for _ in 0..rng.random_range(1..=3) {
            let at = rng.random_range(starts_at.max(now - 3_600_000)..=now);
            board.add(user, rng.random_range(10..5_000), at);
        }
    }
    let filled = fill.elapsed();
    println!(
        "filled {customers} customers in {:.2?} ({:.0} earnings/s); RSS after: {}",
        filled,
        customers as f64 * 2.0 / filled.as_secs_f64(),
        rss()
    );
    for period in [Period::Day, Period::Week, Period::Month] {
        let mut top = Histogram::<u64>::new(3).expect("histogram");
        let mut mine = Histogram::<u64>::new(3).expect("histogram");
        for _ in 0..reads {
            let t = Instant::now();
            let page = board.read(period, now, |s| s.top(50));
            top.record(t.elapsed().as_nanos() as u64).ok();
            std::hint::black_box(page);
            let me = rng.random_range(1..=customers);
            let t = Instant::now();
            let rank = board.read(period, now, |s| s.rank_of(me));
            mine.record(t.elapsed().as_nanos() as u64).ok();
            std::hint::black_box(rank);
        }
        let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{period:?}: top 50 p50 {:.1} µs p99 {:.1} µs max {:.1} µs | own rank p50 {:.1} µs p99 {:.1} µs max {:.1} µs",
            us(&top, 0.5),
            us(&top, 0.99),
            top.max() as f64 / 1000.0,
            us(&mine, 0.5),
            us(&mine, 0.99),
            mine.max() as f64 / 1000.0,
        );
    }
}
