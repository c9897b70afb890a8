//! Fixed-point counters: fractional amounts added exactly in units of 10^-decimals.

mod common;

use abacus::{Desc, FixedCounter, OwnedValue, Registry};

fn fixed(registry: &Registry, decimals: u32) -> FixedCounter {
    registry
        .fixed_counter(Desc::new("amount_total", "Amount."), decimals)
        .unwrap()
        .with_labels(&[])
        .unwrap()
}

#[test]
fn fixed_counter_adding_a_tenth_ten_million_times_is_exact_with_nine_decimals() {
    let registry = Registry::new();
    let counter = fixed(&registry, 9);
    for _ in 0..10_000_000 {
        counter.add(0.1);
    }
    // 10^7 additions of 10^8 nano-units each.
    let expected = 1_000_000 * 10u64.pow(9);
    assert_eq!(counter.units(), expected);
    assert_eq!(
        common::value(&registry, "amount", &[]),
        OwnedValue::Fixed {
            units: expected,
            decimals: 9
        }
    );
}

#[test]
fn fixed_counter_rounds_each_amount_to_the_nearest_unit() {
    let registry = Registry::new();
    let counter = fixed(&registry, 2);
    counter.add(0.014); // 1.4 cents -> 1
    assert_eq!(counter.units(), 1);
    counter.add(0.016); // 1.6 cents -> 2
    assert_eq!(counter.units(), 3);
    counter.add(19.99); // 1998.9999999999998 in f64 -> 1999
    assert_eq!(counter.units(), 2002);
    counter.add(0.004); // 0.4 cents -> nothing
    assert_eq!(counter.units(), 2002);
}

#[test]
fn fixed_counter_with_zero_decimals_counts_whole_units() {
    let registry = Registry::new();
    let counter = fixed(&registry, 0);
    counter.add(3.0);
    counter.add(2.4);
    counter.add(0.2);
    assert_eq!(counter.units(), 5);
}

#[test]
fn fixed_counter_ignores_negative_and_nan_amounts() {
    let registry = Registry::new();
    let counter = fixed(&registry, 3);
    counter.add(1.5);
    for amount in [
        -1.0,
        -0.0,
        -1e-300,
        f64::NAN,
        -f64::NAN,
        f64::NEG_INFINITY,
        -1e30,
    ] {
        counter.add(amount);
        assert_eq!(counter.units(), 1500, "after adding {amount}");
    }
}

#[test]
fn fixed_counter_saturates_on_huge_amounts() {
    let registry = Registry::new();
    let counter = fixed(&registry, 9);
    counter.add(1.0);
    // 1.9e10 with 9 decimals is 1.9e19 units, more than u64::MAX (about 1.8e19).
    counter.add(1.9e10);
    assert_eq!(counter.units(), u64::MAX);
    counter.add(1.0);
    counter.add(f64::INFINITY);
    assert_eq!(counter.units(), u64::MAX);

    let other = Registry::new();
    let counter = fixed(&other, 0);
    counter.add(f64::INFINITY);
    assert_eq!(counter.units(), u64::MAX);
}

#[test]
fn fixed_counter_add_units_adds_exactly_and_saturates() {
    let registry = Registry::new();
    let counter = fixed(&registry, 9);
    counter.add_units(7);
    counter.add(0.000_000_003);
    assert_eq!(counter.units(), 10);
    counter.add_units(u64::MAX - 11);
    assert_eq!(counter.units(), u64::MAX - 1);
    counter.add_units(5);
    assert_eq!(counter.units(), u64::MAX);
}

#[test]
fn fixed_counter_accepts_fifteen_decimals() {
    let registry = Registry::new();
    let counter = fixed(&registry, 15);
    for _ in 0..10 {
        counter.add(0.1);
    }
    // Ten times 10^14 femto-units.
    assert_eq!(counter.units(), 10u64.pow(15));
    assert_eq!(
        common::value(&registry, "amount", &[]),
        OwnedValue::Fixed {
            units: 10u64.pow(15),
            decimals: 15
        }
    );
}

#[test]
fn fixed_counter_sums_exactly_across_threads() {
    let registry = Registry::new();
    let counter = fixed(&registry, 2);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    counter.add(0.25);
                }
            });
        }
    });
    // 4 threads x 10_000 x 25 cents.
    assert_eq!(counter.units(), 4 * 10_000 * 25);
}

#[test]
fn fixed_counter_is_visible_at_zero_from_registration() {
    let registry = Registry::new();
    registry
        .fixed_counter(Desc::new("cost", "Cost."), 6)
        .unwrap();
    assert_eq!(
        common::value(&registry, "cost", &[]),
        OwnedValue::Fixed {
            units: 0,
            decimals: 6
        }
    );
}
