//! Threshold labels (whole percentages) and the token count at which each fires.

mod common;

use abacus::Registry;
use abacus_inference::{
    BudgetConfig, Budgets, InferenceMetrics, ManualClock, Period, Scope, Threshold,
};
use common::counter;

#[test]
fn thresholds_are_labelled_as_percentages() {
    let cases = [
        (0.8, "80"),
        (0.95, "95"),
        (0.9, "90"),
        (0.5, "50"),
        (0.05, "5"),
        (0.01, "1"),
        (1.0, "100"),
        (0.805, "80.5"),
        (0.999, "99.9"),
        (0.12345, "12.345"),
        (0.000001, "0.0001"),
        // Kept to a millionth: the seventh decimal rounds.
        (0.8000004, "80"),
        (0.8000006, "80.0001"),
    ];
    for (fraction, label) in cases {
        let threshold = Threshold::new(fraction).unwrap();
        assert_eq!(threshold.label(), label, "{fraction}");
        assert_eq!(threshold.to_string(), format!("{label}%"));
    }
}

#[test]
fn a_threshold_fires_at_the_least_token_count_not_below_its_share() {
    // (fraction, limit, tokens): computed by hand from fraction × limit, rounded up.
    let cases = [
        (0.8, 5_000_000, 4_000_000),
        (0.9, 5_000_000, 4_500_000),
        (0.95, 5_000_000, 4_750_000),
        (0.5, 3, 2),
        (1.0, 7, 7),
        (0.1, 1, 1),
        (0.333333, 1_000_000, 333_333),
        (0.8, 1 << 40, 879_609_302_221),
    ];
    for (fraction, limit, tokens) in cases {
        assert_eq!(
            Threshold::new(fraction).unwrap().tokens(limit),
            tokens,
            "{fraction} {limit}"
        );
    }
}

#[test]
fn alerts_are_counted_under_their_percentage_labels_exactly_at_the_threshold() {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let budgets = Budgets::builder(BudgetConfig {
        period: Period::Daily,
        limit: 5_000_000,
        thresholds: vec![0.8, 0.9, 0.95],
        enforce: false,
    })
    .clock(ManualClock::new(1_700_158_623))
    .build(&metrics)
    .unwrap();
    let tenant = budgets
        .resolve(&Scope::service("ai", "gateway"), "code", "tenant-00")
        .unwrap();
    let alerts = |threshold: &str| {
        let labels = ["ai", "gateway", "code", "tenant-00", threshold];
        counter(&registry, "sentinel_inference_budget_alerts", &labels)
    };
    let labels_of = |tokens: u64| -> Vec<String> {
        tenant
            .record_usage(tokens)
            .alerts()
            .map(|t| t.label().to_owned())
            .collect()
    };

    assert!(labels_of(3_999_999).is_empty());
    assert_eq!(alerts("80"), 0);
    assert_eq!(labels_of(1), ["80"]); // exactly 4,000,000 = 0.8 × 5,000,000
    assert_eq!(alerts("80"), 1);
    assert!(labels_of(499_999).is_empty());
    // One request across two thresholds fires both.
    assert_eq!(labels_of(250_001), ["90", "95"]);
    assert!(labels_of(10_000_000).is_empty());
    assert_eq!((alerts("80"), alerts("90"), alerts("95")), (1, 1, 1));
}
