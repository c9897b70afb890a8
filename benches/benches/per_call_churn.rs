//! Workload 2 with the strings of each tuple at changing addresses, as when label values
//! are rebuilt for every request: `Family::inc` beside prometheus's `with_label_values`,
//! in the group of `counter.rs`'s workload 2. A binary of its own, so that a second call
//! site of `Family::inc` does not change how the compiler inlines the first.

use std::hint::black_box;
use std::time::Duration;

use abacus_benches::{hundred_series, FOUR_LABELS};
use criterion::{criterion_group, criterion_main, Criterion};

/// Owned copies of each of the 100 tuples.
const COPIES: usize = 10;

fn churning_addresses(c: &mut Criterion) {
    let mut group =
        c.benchmark_group("counter increment with 4 label values resolved on every call");
    let series = hundred_series();
    let copies: Vec<[String; 4]> = (0..COPIES)
        .flat_map(|_| series.iter().map(|values| values.map(String::from)))
        .collect();
    let tuples: Vec<[&str; 4]> = copies
        .iter()
        .map(|copy| copy.each_ref().map(String::as_str))
        .collect();
    // A step prime to the number of tuples: consecutive uses of one tuple come from
    // different copies, so the same addresses return only after every copy's turn.
    let step = 7919 % tuples.len();

    let registry = abacus::Registry::new();
    let family = registry
        .counter(abacus::Desc::new("requests_total", "Requests.").labels(FOUR_LABELS))
        .expect("a valid registration");
    for values in &tuples {
        family.inc(values).expect("valid labels");
    }
    let (mut i, mut calls) = (0, tuples.len() as u64);
    group.bench_function("abacus: Family::inc, strings at changing addresses", |b| {
        b.iter(|| {
            i = (i + step) % tuples.len();
            calls += 1;
            black_box(&family)
                .inc(black_box(&tuples[i]))
                .expect("valid labels")
        })
    });
    // Every call reached one of the 100 series, whichever copy it came from.
    let total: u64 = series
        .iter()
        .map(|values| family.with_labels(values).expect("valid labels").value())
        .sum();
    assert_eq!(total, calls);
    assert_eq!(registry.snapshot().families[0].series.len(), series.len());
    group.finish();
}

/// As `counter.rs`'s.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = churning_addresses
}
criterion_main!(benches);
