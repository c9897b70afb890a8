//! Loom models of the core's concurrent protocols, run on the crate's own code with loom's
//! atomics, locks and thread-locals (see `src/sync.rs`):
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test -p abacus --test loom --release
//! ```
//!
//! Loom explores every interleaving of the models' threads up to the preemption bound, so
//! each model keeps to two or three threads and a handful of operations.
#![cfg(loom)]

use abacus::{Buckets, Desc, OwnedValue, Registry};
use loom::thread;

fn counter_value(registry: &Registry, name: &str, labels: &[&str]) -> u64 {
    match registry
        .snapshot()
        .family(name)
        .and_then(|f| f.series(labels))
    {
        Some(OwnedValue::Counter(n)) => *n,
        other => panic!("{name}{labels:?}: {other:?}"),
    }
}

/// A thread records twice and exits, which folds its shard into the registry's shared
/// cells, while another reads: every read sees 0, 1 or 2, never less than the one before
/// it (no increment counted twice, none lost in the fold), and 2 once the thread is gone.
#[test]
fn records_and_a_thread_exit_racing_reads_lose_and_double_nothing() {
    loom::model(|| {
        let registry = Registry::new();
        let counter = registry
            .counter(Desc::new("c", "C."))
            .unwrap()
            .without_labels()
            .unwrap();
        let writer = counter.clone();
        let recorder = thread::spawn(move || {
            writer.inc();
            writer.inc();
        });
        let first = counter.value();
        let second = counter.value();
        assert!(first <= second && second <= 2, "{first} then {second}");
        recorder.join().unwrap();
        assert_eq!(counter.value(), 2);
    });
}

/// Two threads record into one counter, one of them through a thread-bound handle, and
/// both exit while the main thread reads: the total is exact.
#[test]
fn two_recording_threads_fold_into_an_exact_total() {
    loom::model(|| {
        let registry = Registry::new();
        let counter = registry
            .counter(Desc::new("c", "C."))
            .unwrap()
            .without_labels()
            .unwrap();
        let (a, b) = (counter.clone(), counter.clone());
        let first = thread::spawn(move || a.add(3));
        let second = thread::spawn(move || {
            let local = b.local();
            local.add(5);
        });
        let seen = counter.value();
        assert!(seen <= 8, "{seen}");
        first.join().unwrap();
        second.join().unwrap();
        assert_eq!(counter.value(), 8);
    });
}

/// A histogram's count is the sum of its buckets, so every snapshot taken while a thread
/// observes has its `+Inf` bucket equal to its count and its buckets cumulative; and its sum
/// never goes down across snapshots, also when the thread exits and its cells are folded.
#[test]
fn histogram_snapshots_stay_consistent_while_a_thread_observes_and_exits() {
    loom::model(|| {
        let registry = Registry::new();
        let latency = registry
            .histogram(Desc::new("h", "H."), Buckets::new([1.0, 2.0]).unwrap())
            .unwrap()
            .without_labels()
            .unwrap();
        let writer = latency.clone();
        let observer = thread::spawn(move || {
            writer.observe(0.5);
            writer.observe(1.5);
        });
        let mut last_sum = 0.0;
        for _ in 0..2 {
            let snapshot = registry.snapshot();
            let Some(OwnedValue::Histogram { cumulative, sum }) =
                snapshot.family("h").and_then(|f| f.series(&[]))
            else {
                panic!("{snapshot:?}");
            };
            assert!(
                cumulative.windows(2).all(|w| w[0] <= w[1]),
                "{cumulative:?}"
            );
            assert!(cumulative[2] <= 2, "{cumulative:?}");
            assert!(*sum >= last_sum, "{sum} after {last_sum}");
            last_sum = *sum;
        }
        observer.join().unwrap();
        assert_eq!(latency.count(), 2);
    });
}

/// Two threads resolve the same new label values at once: one series is created, and both
/// handles record into it.
#[test]
fn racing_resolutions_of_the_same_values_create_one_series() {
    loom::model(|| {
        let registry = Registry::new();
        let family = registry
            .counter(Desc::new("r", "R.").labels(["tenant"]))
            .unwrap();
        let other = family.clone();
        let racer = thread::spawn(move || other.with_labels(&["t"]).unwrap().inc());
        family.with_labels(&["t"]).unwrap().add(2);
        racer.join().unwrap();
        let snapshot = registry.snapshot();
        assert_eq!(snapshot.family("r").unwrap().series.len(), 1);
        assert_eq!(counter_value(&registry, "r", &["t"]), 3);
    });
}

/// The same race through the per-call path, whose thread-local memory of resolutions
/// must not split the series either.
#[test]
fn racing_per_call_records_of_new_values_create_one_series() {
    loom::model(|| {
        let registry = Registry::new();
        let family = registry
            .counter(Desc::new("r", "R.").labels(["tenant"]))
            .unwrap();
        let other = family.clone();
        let racer = thread::spawn(move || other.inc(&["t"]).unwrap());
        family.add(&["t"], 2).unwrap();
        racer.join().unwrap();
        assert_eq!(registry.snapshot().family("r").unwrap().series.len(), 1);
        assert_eq!(counter_value(&registry, "r", &["t"]), 3);
    });
}

/// What a visit of an expiring family reports: the value of the series `x`, if present,
/// and how many series have expired, this visit's removal included.
fn expiring_visit(registry: &Registry) -> (Option<u64>, u64) {
    let snapshot = registry.snapshot();
    let value = snapshot
        .family("c")
        .and_then(|f| f.series(&["x"]))
        .map(|v| match v {
            OwnedValue::Counter(n) => *n,
            other => panic!("{other:?}"),
        });
    let expired = snapshot
        .family("abacus_series_expired")
        .and_then(|f| f.series(&["c"]))
        .map_or(0, |v| match v {
            OwnedValue::Counter(n) => *n,
            other => panic!("{other:?}"),
        });
    (value, expired)
}

fn expiring_family(registry: &Registry) -> abacus::Family<abacus::Counter> {
    registry
        .counter(
            Desc::new("c", "C.")
                .labels(["l"])
                .idle_timeout(std::time::Duration::ZERO),
        )
        .unwrap()
}

/// A thread resolves a handle to an idle series while a visit may expire it: the handle
/// always ends up in a series that the next snapshot shows, holding exactly what the
/// handle recorded plus, if the series was not expired meanwhile, what it held before.
#[test]
fn a_handle_resolved_while_a_visit_expires_its_series_keeps_a_live_series() {
    loom::model(|| {
        let registry = Registry::new();
        let family = expiring_family(&registry);
        family.with_labels(&["x"]).unwrap().inc();
        // The first visit sees the value 1 as a change; the next may expire it.
        registry.snapshot();
        let other = family.clone();
        let resolver = thread::spawn(move || {
            let handle = other.with_labels(&["x"]).unwrap();
            handle.inc();
            handle
        });
        let (during, expired) = expiring_visit(&registry);
        assert_eq!(during.map(|v| v >= 1), Some(true));
        let handle = resolver.join().unwrap();
        let (after, _) = expiring_visit(&registry);
        // Removed before the handle resolved: a new series with the handle's one record.
        let expected = if expired == 1 { 1 } else { 2 };
        assert_eq!(after, Some(expected), "expired {expired}");
        assert_eq!(handle.value(), expected);
    });
}

/// Two threads record by label values while a visit may expire the series: whatever the
/// interleaving, the values the removed series had when visits last reported them plus
/// the final value add up to every record, so a record racing the removal was carried
/// over and none was lost or counted twice.
///
/// Each thread records again after the racing visit, which lets its memory go of an
/// expired series. (The recorder must do so before it ends: loom lets `join` return
/// before a thread's thread-locals are dropped, unlike the standard library.)
#[test]
fn per_call_records_racing_expiry_are_carried_over_exactly() {
    use loom::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    loom::model(|| {
        let registry = Registry::new();
        let family = expiring_family(&registry);
        family.inc(&["x"]).unwrap();
        registry.snapshot();
        let other = family.clone();
        let visited = Arc::new(AtomicBool::new(false));
        let recorder = thread::spawn({
            let visited = visited.clone();
            move || {
                other.inc(&["x"]).unwrap();
                while !visited.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                other.inc(&["x"]).unwrap();
            }
        });
        let mut last = expiring_visit(&registry);
        visited.store(true, Ordering::Release);
        let mut dropped = 0;
        recorder.join().unwrap();
        // This thread's memory of "x" may be stale now; recording again lets go of it.
        family.inc(&["x"]).unwrap();
        if last.1 == 1 {
            dropped += last.0.unwrap_or(0);
        }
        // A visit that expires the series reports its value one last time: it counts as
        // dropped, and the family holds nothing for "x" after it.
        let mut live = 0;
        for _ in 0..3 {
            let visit = expiring_visit(&registry);
            assert!(visit.1 <= last.1 + 1, "{visit:?} after {last:?}");
            if visit.1 == last.1 + 1 {
                dropped += visit.0.unwrap_or(0);
                live = 0;
            } else {
                live = visit.0.unwrap_or(0);
            }
            last = visit;
        }
        assert_eq!(dropped + live, 4, "{last:?}");
    });
}
