//! Integer counters and their thread-bound `LocalCounter`s.

mod common;

use abacus::{Desc, Kind, OwnedValue, Registry};

#[test]
fn counter_inc_and_add_accumulate() {
    let registry = Registry::new();
    let requests = registry
        .counter(Desc::new("requests", "Requests."))
        .unwrap();
    let counter = requests.with_labels(&[]).unwrap();
    counter.inc();
    counter.add(5);
    counter.add(0);
    counter.inc();
    assert_eq!(counter.value(), 7);
    assert_eq!(common::counter(&registry, "requests", &[]), 7);
}

#[test]
fn counter_without_labels_is_visible_at_zero_from_registration() {
    let registry = Registry::new();
    registry
        .counter(Desc::new("idle_total", "Never incremented."))
        .unwrap();
    let snapshot = registry.snapshot();
    let family = snapshot.family("idle").unwrap();
    assert_eq!(family.kind, Kind::Counter);
    assert_eq!(family.series.len(), 1);
    assert_eq!(family.series(&[]), Some(&OwnedValue::Counter(0)));
}

#[test]
fn counter_with_labels_has_no_series_until_resolved() {
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("hits", "Hits.").labels(["route"]))
        .unwrap();
    assert!(registry
        .snapshot()
        .family("hits")
        .unwrap()
        .series
        .is_empty());
    family.with_labels(&["chat"]).unwrap();
    assert_eq!(common::counter(&registry, "hits", &["chat"]), 0);
}

#[test]
fn counter_add_saturates_at_u64_max() {
    let registry = Registry::new();
    let counter = registry
        .counter(Desc::new("big", "Big."))
        .unwrap()
        .with_labels(&[])
        .unwrap();
    counter.add(u64::MAX - 1);
    assert_eq!(counter.value(), u64::MAX - 1);
    counter.add(1);
    assert_eq!(counter.value(), u64::MAX);
    counter.add(10);
    counter.inc();
    counter.add(u64::MAX);
    assert_eq!(counter.value(), u64::MAX);
    assert_eq!(common::counter(&registry, "big", &[]), u64::MAX);
}

#[test]
fn counter_saturates_when_the_sum_over_threads_passes_u64_max() {
    let registry = Registry::new();
    let counter = registry
        .counter(Desc::new("big", "Big."))
        .unwrap()
        .with_labels(&[])
        .unwrap();
    counter.add(u64::MAX - 2);
    // One thread exits (its cell is folded), the other stays live: both sums must saturate.
    let exited = counter.clone();
    std::thread::spawn(move || exited.add(5)).join().unwrap();
    assert_eq!(counter.value(), u64::MAX);
    let other = counter.clone();
    std::thread::spawn(move || other.add(u64::MAX))
        .join()
        .unwrap();
    assert_eq!(counter.value(), u64::MAX);
    assert_eq!(common::counter(&registry, "big", &[]), u64::MAX);
}

#[test]
fn counter_family_is_named_without_total_suffix() {
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("tokens_total", "Tokens."))
        .unwrap();
    assert_eq!(family.name(), "tokens");
    family.with_labels(&[]).unwrap().add(3);
    let snapshot = registry.snapshot();
    assert!(snapshot.family("tokens_total").is_none());
    assert_eq!(
        snapshot.family("tokens").unwrap().series(&[]),
        Some(&OwnedValue::Counter(3))
    );
}

#[test]
fn counter_named_total_alone_is_refused() {
    // Stripping `_total` would leave an empty family name; keeping it would expose
    // `_total_total`.
    let registry = Registry::new();
    assert_eq!(
        registry.counter(Desc::new("_total", "Odd.")).unwrap_err(),
        abacus::Error::InvalidMetricName("_total".to_owned())
    );
}

#[test]
fn local_counter_adds_to_the_same_series() {
    let registry = Registry::new();
    let counter = registry
        .counter(Desc::new("c", "C."))
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let local = counter.local();
    local.inc();
    local.add(9);
    counter.add(100);
    assert_eq!(counter.value(), 110);
    drop(local);
    assert_eq!(counter.value(), 110);
    assert_eq!(common::counter(&registry, "c", &[]), 110);
}

#[test]
fn local_counter_saturates_at_u64_max() {
    let registry = Registry::new();
    let counter = registry
        .counter(Desc::new("c", "C."))
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let local = counter.local();
    local.add(u64::MAX - 1);
    local.add(2);
    local.inc();
    assert_eq!(counter.value(), u64::MAX);
    counter.add(1);
    drop(local);
    assert_eq!(counter.value(), u64::MAX);
}

#[test]
fn two_local_counters_on_one_thread_both_count() {
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("c", "C.").labels(["k"]))
        .unwrap();
    let a = family.with_labels(&["a"]).unwrap();
    let b = family.with_labels(&["b"]).unwrap();
    let (la, lb, la2) = (a.local(), b.local(), a.local());
    la.add(1);
    lb.add(20);
    la2.add(300);
    drop(la);
    la2.add(4000);
    drop(lb);
    drop(la2);
    assert_eq!(a.value(), 4301);
    assert_eq!(b.value(), 20);
}
