//! Histograms: bucket placement, cumulative counts, sum, count; and bucket layouts.

mod common;

use abacus::{BucketError, Buckets, Desc, Error, Histogram, Kind, OwnedValue, Registry};

use common::expected_cumulative;

fn histogram(registry: &Registry, bounds: &[f64]) -> Histogram {
    registry
        .histogram(
            Desc::new("latency", "Latency."),
            Buckets::new(bounds).unwrap(),
        )
        .unwrap()
        .with_labels(&[])
        .unwrap()
}

/// Observes `values` into a fresh histogram and checks the snapshot against the definition.
fn check_placement(bounds: &[f64], values: &[f64]) {
    let registry = Registry::new();
    let h = histogram(&registry, bounds);
    for &v in values {
        h.observe(v);
    }
    let (cumulative, sum) = common::histogram(&registry, "latency", &[]);
    assert_eq!(
        cumulative,
        expected_cumulative(bounds, values),
        "values {values:?}"
    );
    assert_eq!(
        sum.to_bits(),
        values.iter().sum::<f64>().to_bits(),
        "values {values:?}"
    );
    assert_eq!(h.count(), values.len() as u64);
}

#[test]
fn histogram_value_equal_to_a_bound_goes_into_that_bucket() {
    let registry = Registry::new();
    let h = histogram(&registry, &[1.0, 2.0, 5.0]);
    h.observe(1.0);
    assert_eq!(common::histogram(&registry, "latency", &[]).0, [1, 1, 1, 1]);
    h.observe(2.0);
    assert_eq!(common::histogram(&registry, "latency", &[]).0, [1, 2, 2, 2]);
    h.observe(5.0);
    assert_eq!(
        common::histogram(&registry, "latency", &[]),
        (vec![1, 2, 3, 3], 8.0)
    );
}

#[test]
fn histogram_value_below_the_first_bound_goes_into_the_first_bucket() {
    check_placement(
        &[1.0, 2.0, 5.0],
        &[0.5, 0.0, -100.0, f64::NEG_INFINITY, 1e-300],
    );
}

#[test]
fn histogram_value_above_the_last_bound_goes_into_the_inf_bucket() {
    let registry = Registry::new();
    let h = histogram(&registry, &[1.0, 2.0, 5.0]);
    h.observe(5.000_000_1);
    h.observe(1e300);
    assert_eq!(common::histogram(&registry, "latency", &[]).0, [0, 0, 0, 2]);
    h.observe(f64::INFINITY);
    assert_eq!(
        common::histogram(&registry, "latency", &[]),
        (vec![0, 0, 0, 3], f64::INFINITY)
    );
}

#[test]
fn histogram_nan_goes_into_the_inf_bucket_and_makes_the_sum_nan() {
    let registry = Registry::new();
    let h = histogram(&registry, &[1.0, 2.0]);
    h.observe(0.5);
    h.observe(f64::NAN);
    h.observe(1.5);
    let (cumulative, sum) = common::histogram(&registry, "latency", &[]);
    assert_eq!(cumulative, [1, 2, 3]);
    assert!(sum.is_nan(), "sum {sum}");
    assert_eq!(h.count(), 3);
}

#[test]
fn histogram_nan_goes_into_the_inf_bucket_with_many_bounds() {
    // More than 16 bounds takes the binary-search path.
    let bounds: Vec<f64> = (0..40).map(f64::from).collect();
    let registry = Registry::new();
    let h = histogram(&registry, &bounds);
    h.observe(f64::NAN);
    let (cumulative, sum) = common::histogram(&registry, "latency", &[]);
    assert_eq!(cumulative, expected_cumulative(&bounds, &[f64::NAN]));
    assert!(sum.is_nan());
}

#[test]
fn histogram_negative_values_and_negative_bounds() {
    check_placement(
        &[-5.0, -1.0, 0.0],
        &[-5.0, -3.0, -1.0, -0.5, -0.0, 0.0, 0.5, -7.0],
    );
}

#[test]
fn histogram_places_values_by_definition_with_few_bounds() {
    let bounds = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let mut values: Vec<f64> = bounds.to_vec();
    values.extend(bounds.iter().map(|b| b * 1.5));
    values.extend(bounds.iter().map(|b| b / 3.0));
    values.extend([-1.0, 0.0, 100.0, f64::INFINITY]);
    check_placement(&bounds, &values);
}

#[test]
fn histogram_places_values_by_definition_with_many_bounds() {
    // 17 and 256 bounds both take the binary-search path; 16 the linear one.
    for count in [16usize, 17, 100, 256] {
        let bounds: Vec<f64> = (0..count).map(|i| i as f64 * 0.5 - 3.0).collect();
        let mut values = bounds.clone();
        values.extend(bounds.iter().map(|b| b + 0.25));
        values.extend(bounds.iter().map(|b| b - 0.25));
        values.extend([f64::NEG_INFINITY, -1e9, 1e9, f64::MAX]);
        check_placement(&bounds, &values);
    }
}

#[test]
fn histogram_snapshot_is_cumulative_with_sum_and_count() {
    let registry = Registry::new();
    let bounds = [1.0, 2.0, 4.0, 8.0];
    let h = histogram(&registry, &bounds);
    // 0..=9 each observed i+1 times.
    let mut per_bucket = [0u64; 5];
    let mut sum = 0u64;
    for i in 0..10u64 {
        for _ in 0..=i {
            h.observe(i as f64);
            sum += i;
        }
        let bucket = match i {
            0 | 1 => 0,
            2 => 1,
            3 | 4 => 2,
            5..=8 => 3,
            _ => 4,
        };
        per_bucket[bucket] += i + 1;
    }
    let cumulative: Vec<u64> = per_bucket
        .iter()
        .scan(0, |acc, n| {
            *acc += n;
            Some(*acc)
        })
        .collect();
    assert_eq!(cumulative, [3, 6, 15, 45, 55]);
    assert_eq!(
        common::histogram(&registry, "latency", &[]),
        (cumulative, sum as f64)
    );
    assert_eq!(h.count(), 55);
}

#[test]
fn histogram_count_equals_inf_bucket() {
    let registry = Registry::new();
    let h = histogram(&registry, &[1.0]);
    for v in [0.0, 1.0, 2.0, f64::NAN, -1.0] {
        h.observe(v);
    }
    let (cumulative, _) = common::histogram(&registry, "latency", &[]);
    assert_eq!(h.count(), 5);
    assert_eq!(cumulative.last(), Some(&5));
}

#[test]
fn histogram_without_labels_is_visible_at_zero_from_registration() {
    let registry = Registry::new();
    registry
        .histogram(
            Desc::new("latency", "Latency."),
            Buckets::new([1.0, 2.0]).unwrap(),
        )
        .unwrap();
    let snapshot = registry.snapshot();
    let family = snapshot.family("latency").unwrap();
    assert_eq!(family.kind, Kind::Histogram);
    assert_eq!(family.bounds, [1.0, 2.0]);
    assert_eq!(
        family.series(&[]),
        Some(&OwnedValue::Histogram {
            cumulative: vec![0, 0, 0],
            sum: 0.0
        })
    );
}

#[test]
fn histogram_without_bounds_has_only_the_inf_bucket() {
    check_placement(&[], &[1.0, -2.0, 3.5]);
    let registry = Registry::new();
    let h = histogram(&registry, &[]);
    h.observe(7.0);
    assert_eq!(common::histogram(&registry, "latency", &[]), (vec![1], 7.0));
}

#[test]
fn histogram_with_a_negative_infinite_bound_counts_only_negative_infinity_there() {
    check_placement(
        &[f64::NEG_INFINITY, 0.0],
        &[f64::NEG_INFINITY, -1e308, 0.0, 1.0],
    );
}

#[test]
fn histogram_series_of_one_family_are_independent() {
    let registry = Registry::new();
    let family = registry
        .histogram(
            Desc::new("latency", "Latency.").labels(["route"]),
            Buckets::new([1.0]).unwrap(),
        )
        .unwrap();
    let a = family.with_labels(&["a"]).unwrap();
    let b = family.with_labels(&["b"]).unwrap();
    a.observe(0.5);
    b.observe(3.0);
    b.observe(4.0);
    assert_eq!(
        common::histogram(&registry, "latency", &["a"]),
        (vec![1, 1], 0.5)
    );
    assert_eq!(
        common::histogram(&registry, "latency", &["b"]),
        (vec![0, 2], 7.0)
    );
}

#[test]
fn buckets_default_seconds_is_the_prometheus_default() {
    let expected = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    assert_eq!(Buckets::default_seconds().bounds(), expected);
    assert_eq!(Buckets::new(expected).unwrap(), Buckets::default_seconds());
}

#[test]
fn buckets_exponential_and_linear_compute_their_bounds() {
    assert_eq!(
        Buckets::exponential(1.0, 2.0, 4).unwrap().bounds(),
        [1.0, 2.0, 4.0, 8.0]
    );
    assert_eq!(Buckets::exponential(0.5, 10.0, 1).unwrap().bounds(), [0.5]);
    assert_eq!(
        Buckets::linear(0.5, 0.25, 3).unwrap().bounds(),
        [0.5, 0.75, 1.0]
    );
    assert_eq!(
        Buckets::linear(-2.0, 2.0, 3).unwrap().bounds(),
        [-2.0, 0.0, 2.0]
    );
    assert!(Buckets::linear(1.0, 1.0, 0).unwrap().bounds().is_empty());
}

#[test]
fn buckets_drop_a_trailing_inf() {
    assert_eq!(Buckets::new([1.0, f64::INFINITY]).unwrap().bounds(), [1.0]);
    assert!(Buckets::new([f64::INFINITY]).unwrap().bounds().is_empty());
    assert_eq!(
        Buckets::new([1.0, f64::INFINITY]).unwrap(),
        Buckets::new([1.0]).unwrap()
    );
}

#[test]
fn buckets_accept_exactly_max_bounds() {
    let bounds: Vec<f64> = (0..Buckets::MAX_BOUNDS).map(|i| i as f64).collect();
    assert_eq!(Buckets::MAX_BOUNDS, 256);
    assert_eq!(Buckets::new(bounds.clone()).unwrap().bounds(), &bounds[..]);
    // A trailing +Inf does not count against the limit.
    let mut with_inf = bounds.clone();
    with_inf.push(f64::INFINITY);
    assert_eq!(Buckets::new(with_inf).unwrap().bounds(), &bounds[..]);
}

#[test]
fn buckets_refuse_a_repeated_inf() {
    // Only one trailing +Inf is dropped; the one left would be a second `le="+Inf"` bucket.
    assert_eq!(
        Buckets::new([1.0, f64::INFINITY, f64::INFINITY]),
        Err(Error::InvalidBucket {
            index: 2,
            bound: f64::INFINITY,
            reason: BucketError::Duplicate
        })
    );
}

#[test]
fn buckets_never_keep_inf_as_an_explicit_bound() {
    // exponential(1, 1e200, 4) computes [1, 1e200, inf, inf]: +Inf must not stay a bound.
    if let Ok(buckets) = Buckets::exponential(1.0, 1e200, 4) {
        assert!(
            !buckets.bounds().contains(&f64::INFINITY),
            "bounds {:?}",
            buckets.bounds()
        );
    }
    assert_eq!(
        Buckets::new([f64::INFINITY, f64::INFINITY]),
        Err(Error::InvalidBucket {
            index: 1,
            bound: f64::INFINITY,
            reason: BucketError::Duplicate
        })
    );
}
