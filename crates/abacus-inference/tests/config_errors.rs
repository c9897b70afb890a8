//! Every bad configuration is a typed error when it is built, carrying the bad value.

use abacus::Registry;
use abacus_inference::{
    BudgetConfig, Budgets, ConfigError, InferenceMetrics, Period, Price, PriceSide, Pricing, Scope,
    MAX_LIMIT, MAX_THRESHOLDS,
};

fn config(limit: u64, thresholds: &[f64]) -> BudgetConfig {
    BudgetConfig {
        period: Period::Daily,
        limit,
        thresholds: thresholds.to_vec(),
        enforce: false,
    }
}

fn build_default(config: BudgetConfig) -> Result<Budgets, ConfigError> {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    Budgets::builder(config).build(&metrics)
}

fn default_error(config: BudgetConfig) -> ConfigError {
    build_default(config).unwrap_err()
}

#[test]
fn a_zero_limit_is_refused_by_budget() {
    assert_eq!(
        default_error(config(0, &[0.8])),
        ConfigError::ZeroLimit {
            budget: "default".into()
        }
    );
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let error = Budgets::builder(config(10, &[0.8]))
        .budget(
            &Scope::service("ai", "gateway"),
            "chat",
            "tenant-03",
            config(0, &[]),
        )
        .build(&metrics)
        .unwrap_err();
    assert_eq!(
        error,
        ConfigError::ZeroLimit {
            budget: "ai/gateway/chat/tenant-03".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "the limit of budget ai/gateway/chat/tenant-03 is zero"
    );
}

#[test]
fn a_limit_above_the_largest_is_refused() {
    assert!(build_default(config(MAX_LIMIT, &[0.8])).is_ok());
    assert_eq!(
        default_error(config(MAX_LIMIT + 1, &[])),
        ConfigError::LimitTooLarge {
            budget: "default".into(),
            limit: MAX_LIMIT + 1
        }
    );
}

#[test]
fn thresholds_outside_zero_to_one_are_refused() {
    assert!(build_default(config(10, &[1.0, 0.000001])).is_ok());
    for bad in [
        0.0,
        -0.0,
        -0.5,
        1.0000001,
        1.5,
        f64::NAN,
        f64::INFINITY,
        0.0000004,
    ] {
        match default_error(config(10, &[0.8, bad])) {
            ConfigError::ThresholdOutOfRange { budget, threshold } => {
                assert_eq!(budget, "default");
                assert_eq!(threshold.to_bits(), bad.to_bits());
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn thresholds_with_the_same_label_are_refused() {
    assert_eq!(
        default_error(config(10, &[0.8, 0.9, 0.8])),
        ConfigError::DuplicateThreshold {
            budget: "default".into(),
            label: "80".into()
        }
    );
    // Different floats, one label once kept to a millionth.
    assert_eq!(
        default_error(config(10, &[0.8, 0.8000001])),
        ConfigError::DuplicateThreshold {
            budget: "default".into(),
            label: "80".into()
        }
    );
}

#[test]
fn too_many_thresholds_are_refused() {
    let many: Vec<f64> = (1..=MAX_THRESHOLDS + 1).map(|i| i as f64 / 100.0).collect();
    assert!(build_default(config(10, &many[..MAX_THRESHOLDS])).is_ok());
    assert_eq!(
        default_error(config(10, &many)),
        ConfigError::TooManyThresholds {
            budget: "default".into(),
            count: MAX_THRESHOLDS + 1
        }
    );
}

fn price_error(default: Price, pattern: &str, price: Price) -> ConfigError {
    Pricing::builder("USD", default)
        .model(pattern, price)
        .build()
        .unwrap_err()
}

#[test]
fn negative_nan_and_infinite_prices_are_refused() {
    let good = Price::per_million(1.0, 1.0);
    let bad_values = [-1.0, -0.000001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    for bad in bad_values {
        let cases = [
            (Price::per_million(bad, 1.0), PriceSide::Input),
            (Price::per_million(1.0, bad), PriceSide::Output),
        ];
        for (price, side) in cases {
            let check = |error: ConfigError, pattern: Option<&str>| match error {
                ConfigError::InvalidPrice {
                    pattern: p,
                    side: s,
                    value,
                } => {
                    assert_eq!(p.as_deref(), pattern);
                    assert_eq!(s, side);
                    assert_eq!(value.to_bits(), bad.to_bits());
                }
                other => panic!("{bad}: {other:?}"),
            };
            check(price_error(good, "gpt-4*", price), Some("gpt-4*"));
            check(price_error(price, "gpt-4*", good), None);
        }
    }
    // Zero is a price (a free model).
    assert!(Pricing::builder("USD", Price::per_million(0.0, -0.0))
        .build()
        .is_ok());
    let message = price_error(good, "gpt-4o", Price::per_million(-2.0, 1.0)).to_string();
    assert_eq!(
        message,
        "the input price of \"gpt-4o\" is -2; a price must be finite and not negative"
    );
}

#[test]
fn an_empty_or_repeated_pattern_is_refused() {
    let price = Price::per_million(1.0, 1.0);
    assert_eq!(price_error(price, "", price), ConfigError::EmptyPattern);
    let error = Pricing::builder("USD", price)
        .model("gpt-4*", price)
        .model("gpt-4*", price)
        .build()
        .unwrap_err();
    assert_eq!(error, ConfigError::DuplicatePattern("gpt-4*".into()));
}
