//! What the benchmarks in `benches/` share: the inputs every library gets (label values,
//! histogram bounds and observations), the multi-thread timing harness, and the sizing
//! that keeps `cargo test --all-targets` fast. The report generator is `src/bin/report.rs`.
//!
//! Every workload gives abacus and its peers the same inputs through the same harness;
//! nothing here knows which library it is timing.

use std::path::PathBuf;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Whether the binary runs as a benchmark (`cargo bench` passes `--bench`) rather than as
/// a test (`cargo test --all-targets` runs bench targets once, without it).
pub fn is_bench_run() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// `full` in a benchmark run, `test` in a test run, so that heavy setup stays fast there.
pub fn sized(full: usize, test: usize) -> usize {
    if is_bench_run() {
        full
    } else {
        test
    }
}

/// The workspace's target directory: `$CARGO_TARGET_DIR`, else `target/` beside the
/// workspace manifest.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let benches = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            benches.parent().unwrap_or(&benches).join("target")
        })
}

/// Where the JSON results of the memory bench and the replay comparison go:
/// `bench-results/` in the target directory.
pub fn results_dir() -> PathBuf {
    target_dir().join("bench-results")
}

/// The 11 histogram upper bounds every library gets: the Prometheus clients' default
/// layout for latencies in seconds.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How many precomputed observations a histogram bench rotates through; a power of two,
/// so that the rotation is a mask.
pub const OBSERVATIONS: usize = 1024;

/// Observations spread over all 12 buckets (the 11 bounds and `+Inf`), in an order a
/// branch predictor cannot learn: bucket `k` of a fixed pseudo-random sequence, at a
/// point inside that bucket.
pub fn observations() -> Vec<f64> {
    let mut lower = vec![0.001];
    lower.extend_from_slice(&BUCKETS);
    let mut upper = BUCKETS.to_vec();
    upper.push(20.0);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..OBSERVATIONS)
        .map(|_| {
            state = splitmix64(state);
            let bucket = (state % lower.len() as u64) as usize;
            let fraction = (state >> 40) as f64 / (1u64 << 24) as f64;
            // Strictly inside (lower, upper]: never on a bound, so no library's `<=` versus
            // `<` matters.
            lower[bucket] + (upper[bucket] - lower[bucket]) * (0.05 + 0.9 * fraction)
        })
        .collect()
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The label names of the 4-label workloads.
pub const FOUR_LABELS: [&str; 4] = ["route", "method", "status", "region"];
/// Values of the first label of the 4-label workloads.
pub const ROUTES: [&str; 5] = [
    "/api/v1/users",
    "/api/v1/users/:id",
    "/api/v1/products",
    "/api/v1/products/:id",
    "/api/v1/orders",
];
/// Values of the second label.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/// Values of the third label.
pub const STATUSES: [&str; 2] = ["200", "500"];
/// Values of the fourth label.
pub const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];

/// The 100 series of the per-call workload, every combination of the four value lists,
/// visited in a scrambled order (index times 37, modulo 100) so that consecutive calls
/// hit distant series.
pub fn hundred_series() -> Vec<[&'static str; 4]> {
    (0..100)
        .map(|i| {
            let j = i * 37 % 100;
            [
                ROUTES[j % 5],
                METHODS[j / 5 % 5],
                STATUSES[j / 25 % 2],
                REGIONS[j / 50],
            ]
        })
        .collect()
}

/// The label names of the render and memory workloads.
pub const THREE_LABELS: [&str; 3] = ["tenant", "route", "status"];

/// `n` series of three labels: `tenant` (`n / 100` values, `tenant-00042`), `route` (10
/// values) and `status` (10 values), as owned strings.
///
/// # Panics
///
/// When `n` is not a positive multiple of 100.
pub fn three_label_series(n: usize) -> Vec<[String; 3]> {
    assert!(n % 100 == 0 && n > 0, "{n} is not a multiple of 100");
    let mut all = Vec::with_capacity(n);
    for tenant in 0..n / 100 {
        for route in 0..10 {
            for status in 0..10 {
                all.push([
                    format!("tenant-{tenant:05}"),
                    format!("/api/v2/resource-{route}"),
                    format!("{}", 200 + status * 31),
                ]);
            }
        }
    }
    all
}

/// The criterion group name of `workload` run from `threads` threads at once, as the
/// multi-thread benches name their groups and the report finds them.
pub fn threads_group(workload: &str, threads: usize) -> String {
    if threads == 1 {
        format!("{workload} from 1 thread")
    } else {
        format!("{workload} from {threads} threads at once")
    }
}

/// Runs `threads` threads that each make their operation with `make` (outside the timing),
/// wait on one barrier, then time `iters` calls of it on their own clock. Returns the
/// slowest thread's time: the wall time in which all `threads * iters` operations were
/// done, so criterion's time per iteration is the time per operation of one thread and
/// the total throughput is `threads / that`.
///
/// # Panics
///
/// When an operation panics.
pub fn time_threads<F, Op>(threads: usize, iters: u64, make: F) -> Duration
where
    F: Fn(usize) -> Op + Sync,
    Op: FnMut(),
{
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|index| {
                let (barrier, make) = (&barrier, &make);
                scope.spawn(move || {
                    let mut op = make(index);
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        op();
                    }
                    start.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a bench thread panicked"))
            .max()
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_cover_every_bucket_and_no_bound() {
        let mut per_bucket = [0usize; 12];
        for value in observations() {
            assert!(!BUCKETS.contains(&value), "{value} is a bound");
            let bucket = BUCKETS.iter().position(|b| value <= *b).unwrap_or(11);
            per_bucket[bucket] += 1;
        }
        assert!(per_bucket.iter().all(|&n| n > 40), "{per_bucket:?}");
    }

    #[test]
    fn the_hundred_series_are_distinct() {
        let mut all = hundred_series();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 100);
    }

    #[test]
    fn three_label_series_are_distinct() {
        let mut all = three_label_series(1000);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 1000);
    }

    #[test]
    fn the_slowest_thread_is_reported() {
        let elapsed = time_threads(2, 3, |index| {
            move || std::thread::sleep(Duration::from_millis(1 + index as u64 * 5))
        });
        assert!(elapsed >= Duration::from_millis(18), "{elapsed:?}");
    }
}
