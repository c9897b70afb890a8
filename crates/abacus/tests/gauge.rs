//! Integer and float gauges.

mod common;

use abacus::{Desc, FloatGauge, Gauge, Kind, OwnedValue, Registry};

fn gauge(registry: &Registry) -> Gauge {
    registry
        .gauge(Desc::new("level", "Level."))
        .unwrap()
        .with_labels(&[])
        .unwrap()
}

fn float_gauge(registry: &Registry) -> FloatGauge {
    registry
        .float_gauge(Desc::new("ratio", "Ratio."))
        .unwrap()
        .with_labels(&[])
        .unwrap()
}

#[test]
fn gauge_set_add_sub_inc_dec_including_negatives() {
    let registry = Registry::new();
    let g = gauge(&registry);
    g.set(10);
    g.add(5);
    assert_eq!(g.value(), 15);
    g.sub(20);
    assert_eq!(g.value(), -5);
    g.inc();
    assert_eq!(g.value(), -4);
    g.dec();
    g.dec();
    assert_eq!(g.value(), -6);
    g.add(-4);
    assert_eq!(g.value(), -10);
    g.sub(-3);
    assert_eq!(g.value(), -7);
    assert_eq!(
        common::value(&registry, "level", &[]),
        OwnedValue::Gauge(-7)
    );
    g.set(-42);
    assert_eq!(g.value(), -42);
}

#[test]
fn gauge_without_labels_is_visible_at_zero_from_registration() {
    let registry = Registry::new();
    registry.gauge(Desc::new("level", "Level.")).unwrap();
    let snapshot = registry.snapshot();
    let family = snapshot.family("level").unwrap();
    assert_eq!(family.kind, Kind::Gauge);
    assert_eq!(family.series(&[]), Some(&OwnedValue::Gauge(0)));
}

#[test]
fn gauge_add_and_sub_wrap_at_the_i64_bounds() {
    // Documented: add and sub wrap on overflow, like i64::wrapping_add.
    let registry = Registry::new();
    let g = gauge(&registry);
    g.set(i64::MAX);
    g.inc();
    assert_eq!(g.value(), i64::MIN);
    g.dec();
    assert_eq!(g.value(), i64::MAX);
    g.set(i64::MIN);
    g.sub(1);
    assert_eq!(g.value(), i64::MAX);
    g.set(0);
    g.sub(i64::MIN);
    assert_eq!(g.value(), 0i64.wrapping_sub(i64::MIN));
    g.set(-1);
    g.add(i64::MIN);
    assert_eq!(g.value(), (-1i64).wrapping_add(i64::MIN));
    assert_eq!(
        common::value(&registry, "level", &[]),
        OwnedValue::Gauge(i64::MAX)
    );
}

#[test]
fn gauge_concurrent_adds_and_subs_are_exact() {
    let registry = Registry::new();
    let g = gauge(&registry);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..25_000 {
                    g.add(3);
                    g.sub(1);
                    g.inc();
                    g.dec();
                }
            });
        }
    });
    assert_eq!(g.value(), 4 * 25_000 * 2);
}

#[test]
fn float_gauge_set_add_sub() {
    let registry = Registry::new();
    let g = float_gauge(&registry);
    g.set(1.5);
    g.add(0.25);
    assert_eq!(g.value(), 1.75);
    g.sub(2.0);
    assert_eq!(g.value(), -0.25);
    g.add(-1.0);
    g.sub(-0.5);
    assert_eq!(g.value(), -0.75);
    assert_eq!(
        common::value(&registry, "ratio", &[]),
        OwnedValue::FloatGauge(-0.75)
    );
}

#[test]
fn float_gauge_without_labels_is_visible_at_zero_from_registration() {
    let registry = Registry::new();
    registry.float_gauge(Desc::new("ratio", "Ratio.")).unwrap();
    match common::value(&registry, "ratio", &[]) {
        OwnedValue::FloatGauge(v) => assert_eq!(v.to_bits(), 0.0f64.to_bits()),
        other => panic!("not a float gauge: {other:?}"),
    }
}

#[test]
fn float_gauge_keeps_nan_and_infinities() {
    let registry = Registry::new();
    let g = float_gauge(&registry);
    g.set(f64::INFINITY);
    g.add(1.0);
    assert_eq!(g.value(), f64::INFINITY);
    g.add(f64::NEG_INFINITY);
    assert!(g.value().is_nan());
    g.set(2.0);
    assert_eq!(g.value(), 2.0);
    g.sub(f64::INFINITY);
    assert_eq!(g.value(), f64::NEG_INFINITY);
    g.set(f64::NAN);
    g.add(1.0);
    assert!(g.value().is_nan());
    match common::value(&registry, "ratio", &[]) {
        OwnedValue::FloatGauge(v) => assert!(v.is_nan()),
        other => panic!("not a float gauge: {other:?}"),
    }
    g.set(-0.0);
    assert_eq!(g.value().to_bits(), (-0.0f64).to_bits());
}

#[test]
fn float_gauge_concurrent_adds_are_exact() {
    let registry = Registry::new();
    let g = float_gauge(&registry);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    g.add(0.5);
                    g.sub(0.25);
                }
            });
        }
    });
    // Every partial sum is a multiple of 0.25 far below 2^50: each step is exact.
    assert_eq!(g.value(), 4.0 * 10_000.0 * 0.25);
}
