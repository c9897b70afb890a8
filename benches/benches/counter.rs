//! A counter increment through a kept abacus handle, beside the two floors it is measured
//! against: a relaxed `fetch_add` on an uncontended line and a plain add.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use abacus::{Desc, Registry};
use criterion::{criterion_group, criterion_main, Criterion};

fn counter_increment(c: &mut Criterion) {
    let mut group = c.benchmark_group("counter increment through a kept handle");

    let atomic = AtomicU64::new(0);
    group.bench_function("baseline: relaxed fetch_add", |b| {
        b.iter(|| black_box(&atomic).fetch_add(1, Relaxed))
    });

    let mut plain = 0u64;
    group.bench_function("baseline: plain add", |b| {
        b.iter(|| {
            let target = black_box(&mut plain);
            *target += 1;
        })
    });

    let registry = Registry::new();
    let counter = registry
        .counter(Desc::new("requests_total", "Requests."))
        .and_then(|family| family.with_labels(&[]))
        .expect("a valid registration");
    group.bench_function("abacus: Counter::inc", |b| {
        b.iter(|| black_box(&counter).inc())
    });

    let local = counter.local();
    group.bench_function("abacus: LocalCounter::inc", |b| {
        b.iter(|| black_box(&local).inc())
    });

    group.finish();
    // The increments must have landed: a benchmark that optimised them away would be void.
    assert!(counter.value() > 0);
}

criterion_group!(benches, counter_increment);
criterion_main!(benches);
