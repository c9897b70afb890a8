//! Values recorded by threads that come and go, through shared and thread-bound handles.

mod common;

use std::cell::RefCell;
use std::thread;

use abacus::{Buckets, Counter, Desc, LocalCounter, OwnedValue, Registry};

fn counter(registry: &Registry, name: &str) -> Counter {
    registry
        .counter(Desc::new(name, "h"))
        .unwrap()
        .with_labels(&[])
        .unwrap()
}

#[test]
fn values_recorded_by_threads_that_have_exited_are_kept() {
    let registry = Registry::new();
    let c = counter(&registry, "c");
    let h = registry
        .histogram(Desc::new("h", "h"), Buckets::new([1.0, 2.0]).unwrap())
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let f = registry
        .fixed_counter(Desc::new("f", "h"), 3)
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let g = registry
        .gauge(Desc::new("g", "h"))
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let (c, h, f, g) = (c.clone(), h.clone(), f.clone(), g.clone());
            thread::spawn(move || {
                for i in 0..1000u64 {
                    c.add(t + 1);
                    h.observe((i % 3) as f64);
                    f.add(0.5);
                    g.inc();
                }
            })
        })
        .collect();
    // join() returns once the thread, thread-local destructors included, has ended.
    for handle in handles {
        handle.join().unwrap();
    }
    // Counter: sum over t of 1000 * (t + 1) = 1000 * 36.
    assert_eq!(common::counter(&registry, "c", &[]), 36_000);
    assert_eq!(c.value(), 36_000);
    // Each thread: 334 zeros, 333 ones, 333 twos.
    assert_eq!(
        common::histogram(&registry, "h", &[]),
        (vec![8 * 667, 8 * 1000, 8 * 1000], 8.0 * (333.0 + 666.0))
    );
    assert_eq!(
        common::value(&registry, "f", &[]),
        OwnedValue::Fixed {
            units: 8 * 1000 * 500,
            decimals: 3
        }
    );
    assert_eq!(common::value(&registry, "g", &[]), OwnedValue::Gauge(8000));
}

#[test]
fn values_are_kept_across_many_short_lived_threads() {
    let registry = Registry::new();
    let c = counter(&registry, "c");
    for round in 1..=50u64 {
        let c2 = c.clone();
        thread::spawn(move || c2.add(round)).join().unwrap();
        // After each exit the total must already include the thread's work.
        assert_eq!(c.value(), round * (round + 1) / 2);
    }
    assert_eq!(common::counter(&registry, "c", &[]), 50 * 51 / 2);
}

#[test]
fn local_counters_on_several_threads_dropped_at_different_times_lose_nothing() {
    let registry = Registry::new();
    let c = counter(&registry, "c");
    let handles: Vec<_> = (0..6u64)
        .map(|t| {
            let c = c.clone();
            thread::spawn(move || {
                let early = c.local();
                let late = c.local();
                for _ in 0..1000 {
                    early.inc();
                    late.add(2);
                }
                match t % 3 {
                    // Dropped before the thread records more through the shared handle.
                    0 => {
                        drop(early);
                        drop(late);
                        c.add(10);
                    }
                    // One dropped early, the other kept to the end of the thread.
                    1 => {
                        drop(late);
                        c.add(10);
                        early.add(5);
                        drop(early);
                    }
                    // Both still alive when the closure returns.
                    _ => {
                        c.add(10);
                        early.add(5);
                        late.add(0);
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    // Each thread: 1000 + 2000 + 10, and the four threads with t % 3 != 0 add 5 more.
    assert_eq!(c.value(), 6 * 3010 + 4 * 5);
    assert_eq!(common::counter(&registry, "c", &[]), 6 * 3010 + 4 * 5);
}

#[test]
fn local_counter_kept_while_its_thread_records_through_the_shared_handle() {
    let registry = Registry::new();
    let c = counter(&registry, "c");
    let c2 = c.clone();
    thread::spawn(move || {
        let local = c2.local();
        for i in 0..10_000u64 {
            if i % 2 == 0 {
                local.inc();
            } else {
                c2.inc();
            }
            if i % 1000 == 999 {
                // Both paths write the same cell; neither may overwrite the other.
                assert_eq!(c2.value(), i + 1);
            }
        }
    })
    .join()
    .unwrap();
    assert_eq!(c.value(), 10_000);
}

#[test]
fn local_counter_on_the_main_thread_and_shared_handle_on_others() {
    let registry = Registry::new();
    let c = counter(&registry, "c");
    let local = c.local();
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..1000 {
                    c.inc();
                }
            });
        }
        for _ in 0..1000 {
            local.inc();
        }
    });
    assert_eq!(c.value(), 4000);
    drop(local);
    assert_eq!(c.value(), 4000);
}

#[test]
fn recording_into_two_registries_alternately_from_one_thread() {
    let (a, b) = (Registry::new(), Registry::new());
    let (ca, cb) = (counter(&a, "c"), counter(&b, "c"));
    let ha = a
        .histogram(Desc::new("h", "h"), Buckets::new([1.0]).unwrap())
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let hb = b
        .histogram(Desc::new("h", "h"), Buckets::new([1.0]).unwrap())
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let (ca2, cb2, ha2, hb2) = (ca.clone(), cb.clone(), ha.clone(), hb.clone());
    // Every record switches registry, so the one-entry thread-local cache always misses.
    let work = move || {
        for i in 0..10_000u64 {
            ca2.inc();
            cb2.add(2);
            ha2.observe(0.5);
            hb2.observe(2.0);
            if i % 3 == 0 {
                let local = ca2.local();
                local.add(10);
            }
        }
    };
    thread::spawn(work.clone()).join().unwrap();
    work();
    // 3334 of 0..10_000 are multiples of 3; the work ran twice.
    assert_eq!(ca.value(), 2 * (10_000 + 3334 * 10));
    assert_eq!(cb.value(), 2 * 20_000);
    assert_eq!(
        common::histogram(&a, "h", &[]),
        (vec![20_000, 20_000], 10_000.0)
    );
    assert_eq!(common::histogram(&b, "h", &[]), (vec![0, 20_000], 40_000.0));
}

#[test]
fn a_thread_serving_many_short_lived_registries_keeps_the_long_lived_one_right() {
    let long_lived = Registry::new();
    let c = counter(&long_lived, "c");
    for i in 0..200u64 {
        let short = Registry::new();
        let s = counter(&short, "s");
        s.add(i);
        c.inc();
        assert_eq!(s.value(), i);
        drop(s);
        drop(short);
        c.inc();
    }
    assert_eq!(c.value(), 400);
}

#[test]
fn recording_from_a_thread_local_destructor_is_kept() {
    struct RecordOnDrop(Counter);
    impl Drop for RecordOnDrop {
        fn drop(&mut self) {
            self.0.add(7);
            // A thread-bound handle made this late must still count.
            let local = self.0.local();
            local.add(100);
        }
    }
    thread_local! {
        static RECORDER: RefCell<Option<RecordOnDrop>> = const { RefCell::new(None) };
    }
    let registry = Registry::new();
    let c = counter(&registry, "c");
    let c2 = c.clone();
    thread::spawn(move || {
        // Touch RECORDER before the crate's own thread-local, so that its destructor is
        // registered first and so runs after the crate's (destructors run in reverse).
        RECORDER.with(|r| *r.borrow_mut() = Some(RecordOnDrop(c2.clone())));
        c2.add(1);
    })
    .join()
    .unwrap();
    assert_eq!(c.value(), 108);

    // And the other order: the crate's thread-local first, RECORDER second.
    let c3 = c.clone();
    thread::spawn(move || {
        c3.add(1);
        RECORDER.with(|r| *r.borrow_mut() = Some(RecordOnDrop(c3.clone())));
    })
    .join()
    .unwrap();
    assert_eq!(c.value(), 216);
}

#[test]
fn local_counter_held_in_a_thread_local_keeps_its_values() {
    thread_local! {
        static KEPT: RefCell<Option<LocalCounter>> = const { RefCell::new(None) };
    }
    let registry = Registry::new();
    let c = counter(&registry, "c");
    let c2 = c.clone();
    thread::spawn(move || {
        KEPT.with(|k| {
            let local = c2.local();
            local.add(40);
            *k.borrow_mut() = Some(local);
        });
        c2.add(2);
        KEPT.with(|k| k.borrow().as_ref().unwrap().inc());
    })
    .join()
    .unwrap();
    assert_eq!(c.value(), 43);
}

#[test]
fn histograms_observed_on_many_threads_merge_exactly() {
    let registry = Registry::new();
    let family = registry
        .histogram(
            Desc::new("h", "h").labels(["t"]),
            Buckets::linear(0.0, 10.0, 5).unwrap(),
        )
        .unwrap();
    let shared = family.with_labels(&["shared"]).unwrap();
    thread::scope(|s| {
        for t in 0..4u64 {
            let (family, shared) = (&family, &shared);
            s.spawn(move || {
                let own = family.with_labels(&[&t.to_string()]).unwrap();
                for i in 0..50u64 {
                    own.observe(i as f64);
                    shared.observe(i as f64);
                }
            });
        }
    });
    let values: Vec<f64> = (0..50).map(f64::from).collect();
    let one = common::expected_cumulative(&[0.0, 10.0, 20.0, 30.0, 40.0], &values);
    for t in 0..4 {
        assert_eq!(
            common::histogram(&registry, "h", &[&t.to_string()]),
            (one.clone(), 1225.0)
        );
    }
    let four: Vec<u64> = one.iter().map(|n| 4 * n).collect();
    assert_eq!(
        common::histogram(&registry, "h", &["shared"]),
        (four, 4.0 * 1225.0)
    );
}

/// Regression: folding an exiting thread's histogram sum into the shared accumulator
/// changed the order of float additions and could lower `_sum`, which Prometheus' `rate()`
/// reads as a counter reset.
#[test]
fn histogram_sum_never_goes_down_when_a_thread_exits() {
    use std::sync::mpsc;

    fn sum(registry: &Registry) -> f64 {
        match registry.snapshot().families[0].series[0].value {
            abacus::OwnedValue::Histogram { sum, .. } => sum,
            ref other => panic!("not a histogram: {other:?}"),
        }
    }

    // Values whose float sum depends on the order of addition: ((0.1 + 0.2) + 0.3) is
    // 0.6000000000000001, while 0.1 + (0.2 + 0.3) is 0.6.
    for leaving in 0..3 {
        let registry = Registry::new();
        let histogram = registry
            .histogram(
                Desc::new("latency_seconds", "Latency."),
                Buckets::default_seconds(),
            )
            .unwrap()
            .with_labels(&[])
            .unwrap();
        let mut exits = Vec::new();
        let mut workers = Vec::new();
        for value in [0.1, 0.2, 0.3] {
            let histogram = histogram.clone();
            let (ready_tx, ready_rx) = mpsc::channel();
            let (exit_tx, exit_rx) = mpsc::channel::<()>();
            workers.push(std::thread::spawn(move || {
                histogram.observe(value);
                ready_tx.send(()).unwrap();
                let _ = exit_rx.recv();
            }));
            ready_rx.recv().unwrap();
            exits.push(exit_tx);
        }
        let before = sum(&registry);
        drop(exits.remove(leaving));
        workers.remove(leaving).join().unwrap();
        let after = sum(&registry);
        assert!(
            after >= before,
            "thread {leaving} left: {before} then {after}"
        );
        drop(exits);
        for worker in workers {
            worker.join().unwrap();
        }
        let last = sum(&registry);
        assert!(last >= after, "all threads left: {after} then {last}");
        assert!((last - 0.6).abs() < 1e-12, "{last}");
    }
}
