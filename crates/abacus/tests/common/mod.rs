//! Helpers shared by the integration tests: reading values out of a [`Snapshot`].
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use abacus::{OwnedValue, Registry, Snapshot};

/// The value of one series in a fresh snapshot of `registry`; panics if it is missing.
pub(crate) fn value(registry: &Registry, family: &str, labels: &[&str]) -> OwnedValue {
    series(&registry.snapshot(), family, labels).clone()
}

/// The value of one series of `snapshot`; panics if it is missing.
pub(crate) fn series<'a>(snapshot: &'a Snapshot, family: &str, labels: &[&str]) -> &'a OwnedValue {
    snapshot
        .family(family)
        .unwrap_or_else(|| panic!("no family {family:?} in {snapshot:?}"))
        .series(labels)
        .unwrap_or_else(|| panic!("no series {labels:?} of {family:?} in {snapshot:?}"))
}

/// The counter value of one series.
pub(crate) fn counter(registry: &Registry, family: &str, labels: &[&str]) -> u64 {
    match value(registry, family, labels) {
        OwnedValue::Counter(n) => n,
        other => panic!("{family} is not a counter: {other:?}"),
    }
}

/// The cumulative buckets and the sum of one histogram series.
pub(crate) fn histogram(registry: &Registry, family: &str, labels: &[&str]) -> (Vec<u64>, f64) {
    match value(registry, family, labels) {
        OwnedValue::Histogram { cumulative, sum } => (cumulative, sum),
        other => panic!("{family} is not a histogram: {other:?}"),
    }
}

/// The cumulative bucket counts Prometheus defines for `values`: bucket `k` counts the
/// values `<= bounds[k]`, and the last (`+Inf`) bucket counts every value, NaN included.
/// Computed straight from the definition, independently of the crate's bucket search.
pub(crate) fn expected_cumulative(bounds: &[f64], values: &[f64]) -> Vec<u64> {
    let mut cumulative: Vec<u64> = bounds
        .iter()
        .map(|bound| values.iter().filter(|v| **v <= *bound).count() as u64)
        .collect();
    cumulative.push(values.len() as u64);
    cumulative
}
