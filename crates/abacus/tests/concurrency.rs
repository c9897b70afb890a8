//! Recording from several threads while another snapshots in a loop: exact final values,
//! and every intermediate snapshot consistent and monotonic.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use abacus::{Buckets, Desc, OwnedValue, Registry, Snapshot};

const WRITERS: u64 = 2;
/// Records of each kind per writer thread, in debug and release builds alike.
const PER_WRITER: u64 = 1_000_000;
/// Short-lived threads spawned one after another while the writers run.
const CHURN_THREADS: u64 = 100;
const PER_CHURN_THREAD: u64 = 1_000;
const BOUNDS: [f64; 5] = [0.0, 1.0, 2.5, 5.0, 7.5];

/// The bucket of `v` for `v` in 0..10, worked out by hand from `BOUNDS` (le is inclusive).
fn bucket_of(v: u64) -> usize {
    match v {
        0 => 0,
        1 => 1,
        2 => 2,
        3..=5 => 3,
        6 | 7 => 4,
        _ => 5,
    }
}

/// What one snapshot shows of the metrics under test.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    counter: u64,
    local: u64,
    churn: u64,
    cumulative: Vec<u64>,
    sum: f64,
}

fn seen(snapshot: &Snapshot) -> Seen {
    let count = |name| match common::series(snapshot, name, &[]) {
        OwnedValue::Counter(n) => *n,
        other => panic!("{name} is not a counter: {other:?}"),
    };
    let (cumulative, sum) = match common::series(snapshot, "observed", &[]) {
        OwnedValue::Histogram { cumulative, sum } => (cumulative.clone(), *sum),
        other => panic!("not a histogram: {other:?}"),
    };
    Seen {
        counter: count("ops"),
        local: count("local_ops"),
        churn: count("churn_ops"),
        cumulative,
        sum,
    }
}

/// Checks one snapshot on its own and against the one before it.
fn check_snapshot(now: &Seen, before: &Seen, totals: &Seen) {
    assert!(
        now.counter >= before.counter,
        "counter went down: {before:?} -> {now:?}"
    );
    assert!(
        now.local >= before.local,
        "local counter went down: {before:?} -> {now:?}"
    );
    assert!(
        now.churn >= before.churn,
        "churn counter went down: {before:?} -> {now:?}"
    );
    assert!(
        now.counter <= totals.counter && now.local <= totals.local,
        "{now:?}"
    );
    assert!(now.churn <= totals.churn, "{now:?}");
    assert_eq!(now.cumulative.len(), BOUNDS.len() + 1);
    for (i, pair) in now.cumulative.windows(2).enumerate() {
        assert!(
            pair[0] <= pair[1],
            "cumulative bucket {i} > {}: {now:?}",
            i + 1
        );
    }
    // Each bucket on its own, and so the count (the +Inf bucket), only goes up.
    let per_bucket = |c: &[u64]| -> Vec<u64> {
        std::iter::once(c[0])
            .chain(c.windows(2).map(|w| w[1] - w[0]))
            .collect()
    };
    let (now_buckets, before_buckets) =
        (per_bucket(&now.cumulative), per_bucket(&before.cumulative));
    for (i, (n, b)) in now_buckets.iter().zip(&before_buckets).enumerate() {
        assert!(n >= b, "bucket {i} went down: {before:?} -> {now:?}");
    }
    let total_buckets = per_bucket(&totals.cumulative);
    for (i, (n, t)) in now_buckets.iter().zip(&total_buckets).enumerate() {
        assert!(n <= t, "bucket {i} above its final value: {now:?}");
    }
    // Observations are non-negative integers, so the sum is exact and only goes up.
    assert!(
        now.sum >= before.sum && now.sum <= totals.sum,
        "{before:?} -> {now:?}"
    );
}

#[test]
fn histogram_count_equals_inf_bucket_under_concurrent_snapshots() {
    let registry = Registry::new();
    let ops = registry
        .counter(Desc::new("ops_total", "h"))
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let local_ops = registry
        .counter(Desc::new("local_ops_total", "h"))
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let churn_ops = registry
        .counter(Desc::new("churn_ops_total", "h"))
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let observed = registry
        .histogram(Desc::new("observed", "h"), Buckets::new(BOUNDS).unwrap())
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let level = registry
        .gauge(Desc::new("level", "h"))
        .unwrap()
        .with_labels(&[])
        .unwrap();

    // Expected totals, from the loop bounds alone.
    let mut per_bucket = [0u64; BOUNDS.len() + 1];
    let mut sum = 0u64;
    for i in 0..PER_WRITER {
        per_bucket[bucket_of(i % 10)] += WRITERS;
        sum += WRITERS * (i % 10);
    }
    let mut cumulative = Vec::new();
    let mut running = 0;
    for n in per_bucket {
        running += n;
        cumulative.push(running);
    }
    assert_eq!(running, WRITERS * PER_WRITER);
    let totals = Seen {
        counter: WRITERS * PER_WRITER,
        local: WRITERS * PER_WRITER,
        churn: CHURN_THREADS * PER_CHURN_THREAD,
        cumulative,
        sum: sum as f64,
    };
    // Per writer: half the iterations add 3, half subtract 1.
    let expected_level = WRITERS as i64 * (PER_WRITER as i64 / 2) * (3 - 1);

    let done = AtomicBool::new(false);
    let snapshots = thread::scope(|s| {
        let snapshotter = s.spawn(|| {
            let mut before = seen(&registry.snapshot());
            let mut handle_count = observed.count();
            let mut handle_value = ops.value();
            let mut taken = 1u64;
            loop {
                // Read the flag first: the snapshot after it is set sees all the work.
                let finished = done.load(Ordering::Acquire);
                let now = seen(&registry.snapshot());
                check_snapshot(&now, &before, &totals);
                // The handles' read paths are monotonic too.
                let (count, value) = (observed.count(), ops.value());
                assert!(count >= handle_count && value >= handle_value);
                (handle_count, handle_value) = (count, value);
                before = now;
                taken += 1;
                if finished {
                    assert_eq!(before, totals);
                    return taken;
                }
            }
        });
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                s.spawn(|| {
                    let local = local_ops.local();
                    for i in 0..PER_WRITER {
                        ops.inc();
                        local.inc();
                        observed.observe((i % 10) as f64);
                        level.add(if i % 2 == 0 { 3 } else { -1 });
                    }
                })
            })
            .collect();
        // Threads that exit while snapshots run: their cells are folded mid-scrape.
        let churn = s.spawn(|| {
            for _ in 0..CHURN_THREADS {
                thread::spawn({
                    let churn_ops = churn_ops.clone();
                    move || {
                        for _ in 0..PER_CHURN_THREAD {
                            churn_ops.inc();
                        }
                    }
                })
                .join()
                .unwrap();
            }
        });
        for writer in writers {
            writer.join().unwrap();
        }
        churn.join().unwrap();
        done.store(true, Ordering::Release);
        snapshotter.join().unwrap()
    });

    assert!(snapshots >= 2, "only {snapshots} snapshots");
    let final_seen = seen(&registry.snapshot());
    assert_eq!(final_seen, totals);
    assert_eq!(observed.count(), WRITERS * PER_WRITER);
    assert_eq!(ops.value(), WRITERS * PER_WRITER);
    assert_eq!(local_ops.value(), WRITERS * PER_WRITER);
    assert_eq!(level.value(), expected_level);
    assert_eq!(
        common::value(&registry, "level", &[]),
        OwnedValue::Gauge(expected_level)
    );
    eprintln!("{snapshots} snapshots taken while recording");
}

#[test]
fn series_and_families_created_during_snapshots_keep_their_order_and_values() {
    const THREADS: u64 = 2;
    const SERIES: u64 = 2_000;
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("made", "h").labels(["t", "i"]))
        .unwrap();
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let snapshotter = s.spawn(|| {
            let mut before: Vec<(Vec<String>, u64)> = Vec::new();
            let mut families_before = 1;
            loop {
                let finished = done.load(Ordering::Acquire);
                let snapshot = registry.snapshot();
                // Families only get appended, in registration order.
                assert!(snapshot.families.len() >= families_before);
                assert_eq!(snapshot.families[0].name, "made");
                for (k, f) in snapshot.families.iter().enumerate().skip(1) {
                    assert_eq!(f.name, format!("late_{}", k - 1));
                }
                families_before = snapshot.families.len();
                let now: Vec<(Vec<String>, u64)> = snapshot.families[0]
                    .series
                    .iter()
                    .map(|s| match s.value {
                        OwnedValue::Counter(n) => (s.labels.clone(), n),
                        ref other => panic!("not a counter: {other:?}"),
                    })
                    .collect();
                // Series only get appended: what was there is still there, in place, and
                // each value only goes up (every series ends at exactly 1).
                assert!(now.len() >= before.len());
                for ((labels, n), (old_labels, old_n)) in now.iter().zip(&before) {
                    assert_eq!(labels, old_labels);
                    assert!(n >= old_n && *n <= 1, "{labels:?}: {old_n} -> {n}");
                }
                // Within one thread's series, creation order is the order of `i`.
                for t in 0..THREADS {
                    let mine: Vec<u64> = now
                        .iter()
                        .filter(|(labels, _)| labels[0] == t.to_string())
                        .map(|(labels, _)| labels[1].parse().unwrap())
                        .collect();
                    assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
                }
                before = now;
                if finished {
                    return before;
                }
            }
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (family, registry) = (&family, &registry);
                s.spawn(move || {
                    for i in 0..SERIES {
                        family
                            .with_labels(&[&t.to_string(), &i.to_string()])
                            .unwrap()
                            .inc();
                        if t == 0 && i % 100 == 0 {
                            registry
                                .gauge(Desc::new(format!("late_{}", i / 100), "h"))
                                .unwrap();
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        done.store(true, Ordering::Release);
        let last = snapshotter.join().unwrap();
        assert_eq!(last.len() as u64, THREADS * SERIES);
        assert!(last.iter().all(|(_, n)| *n == 1));
    });
    assert_eq!(registry.snapshot().families.len() as u64, 1 + SERIES / 100);
}
