//! Helpers shared by the integration tests: reading values out of a registry's snapshot,
//! and the sample names a registry exposes.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use abacus::{Kind, OwnedValue, Registry};

/// The value of one series; panics if it is missing.
pub(crate) fn value(registry: &Registry, family: &str, labels: &[&str]) -> OwnedValue {
    let snapshot = registry.snapshot();
    snapshot
        .family(family)
        .unwrap_or_else(|| panic!("no family {family:?}"))
        .series(labels)
        .unwrap_or_else(|| panic!("no series {labels:?} of {family:?} in {snapshot:?}"))
        .clone()
}

/// Whether the series exists.
pub(crate) fn has_series(registry: &Registry, family: &str, labels: &[&str]) -> bool {
    let snapshot = registry.snapshot();
    snapshot
        .family(family)
        .is_some_and(|f| f.series(labels).is_some())
}

/// An integer counter's value.
pub(crate) fn counter(registry: &Registry, family: &str, labels: &[&str]) -> u64 {
    match value(registry, family, labels) {
        OwnedValue::Counter(n) => n,
        other => panic!("{family} is not a counter: {other:?}"),
    }
}

/// A fixed-point counter's value in units.
pub(crate) fn fixed_units(registry: &Registry, family: &str, labels: &[&str]) -> u64 {
    match value(registry, family, labels) {
        OwnedValue::Fixed { units, decimals: 9 } => units,
        other => panic!("{family} is not a 9-decimal fixed counter: {other:?}"),
    }
}

/// An integer gauge's value.
pub(crate) fn gauge(registry: &Registry, family: &str, labels: &[&str]) -> i64 {
    match value(registry, family, labels) {
        OwnedValue::Gauge(n) => n,
        other => panic!("{family} is not an integer gauge: {other:?}"),
    }
}

/// A histogram's cumulative buckets and sum.
pub(crate) fn histogram(registry: &Registry, family: &str, labels: &[&str]) -> (Vec<u64>, f64) {
    match value(registry, family, labels) {
        OwnedValue::Histogram { cumulative, sum } => (cumulative, sum),
        other => panic!("{family} is not a histogram: {other:?}"),
    }
}

/// Every sample name the registry exposes in the text format, with the label names its
/// samples carry (besides `le` on buckets): `x_total` for a counter, `x` for a gauge,
/// `x_bucket`, `x_sum` and `x_count` for a histogram.
pub(crate) fn exposed_samples(registry: &Registry) -> BTreeMap<String, Vec<String>> {
    let mut samples = BTreeMap::new();
    for family in registry.snapshot().families {
        let suffixes: &[&str] = match family.kind {
            Kind::Counter => &["_total"],
            Kind::Gauge => &[""],
            Kind::Histogram => &["_bucket", "_sum", "_count"],
        };
        for suffix in suffixes {
            samples.insert(
                format!("{}{suffix}", family.name),
                family.label_names.clone(),
            );
        }
    }
    samples
}

pub(crate) mod ops;
