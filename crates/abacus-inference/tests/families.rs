//! The families, their label names in order, what scopes put in the first two labels, and
//! what each recording writes: the issue's table and its recording rules.

mod common;

use abacus::{Kind, Registry};
use abacus_inference::{
    BudgetConfig, Budgets, Costs, Decision, InferenceMetrics, ManualClock, Period, Price, Pricing,
    Scope,
};
use common::{counter, fixed_units, gauge, has_series, histogram};

const BUDGET: &[&str] = &["namespace", "service", "route", "tenant"];
const ALERT: &[&str] = &["namespace", "service", "route", "tenant", "threshold"];
const MODEL: &[&str] = &["namespace", "service", "route", "model"];
const COST: &[&str] = &["namespace", "service", "route", "model", "currency"];

/// The issue's table: name (counters without `_total`), kind and label names in order.
const TABLE: [(&str, Kind, &[&str]); 9] = [
    ("budget_limit", Kind::Gauge, BUDGET),
    ("budget_used", Kind::Counter, BUDGET),
    ("budget_remaining", Kind::Gauge, BUDGET),
    ("budget_exhausted", Kind::Counter, BUDGET),
    ("budget_alerts", Kind::Counter, ALERT),
    ("cost", Kind::Counter, COST),
    ("input_tokens", Kind::Counter, MODEL),
    ("output_tokens", Kind::Counter, MODEL),
    ("cost_per_request", Kind::Histogram, MODEL),
];

const COST_BOUNDS: [f64; 11] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

fn daily(limit: u64, thresholds: &[f64], enforce: bool) -> BudgetConfig {
    BudgetConfig {
        period: Period::Daily,
        limit,
        thresholds: thresholds.to_vec(),
        enforce,
    }
}

fn check_table(registry: &Registry, prefix: &str) {
    let snapshot = registry.snapshot();
    let found: Vec<_> = snapshot
        .families
        .iter()
        .map(|f| (f.name.clone(), f.kind, f.label_names.clone()))
        .collect();
    let expected: Vec<_> = TABLE
        .iter()
        .map(|(suffix, kind, labels)| {
            let labels = labels.iter().map(|l| l.to_string()).collect::<Vec<_>>();
            (format!("{prefix}inference_{suffix}"), *kind, labels)
        })
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn the_default_prefix_gives_the_issues_families_in_its_label_order() {
    let registry = Registry::new();
    InferenceMetrics::with_default_prefix(&registry).unwrap();
    check_table(&registry, "sentinel_");
    let cost = registry.snapshot();
    let cost = cost.family("sentinel_inference_cost_per_request").unwrap();
    assert_eq!(cost.bounds, COST_BOUNDS);
}

#[test]
fn a_prefix_renames_every_family_and_an_empty_one_drops_it() {
    let registry = Registry::new();
    InferenceMetrics::new(&registry, "acme").unwrap();
    check_table(&registry, "acme_");
    let registry = Registry::new();
    InferenceMetrics::new(&registry, "").unwrap();
    check_table(&registry, "");
}

#[test]
fn a_prefix_that_makes_an_invalid_name_is_refused() {
    let registry = Registry::new();
    let error = InferenceMetrics::new(&registry, "9lives").unwrap_err();
    assert!(matches!(error, abacus::Error::InvalidMetricName(name) if name.starts_with("9lives")));
}

#[test]
fn scopes_fill_namespace_and_service() {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let budgets = Budgets::builder(daily(100, &[0.5], false))
        .clock(ManualClock::new(0))
        .build(&metrics)
        .unwrap();
    let costs = Costs::new(
        &metrics,
        Pricing::builder("EUR", Price::per_million(1.0, 1.0))
            .build()
            .unwrap(),
    );
    let scopes = [
        (Scope::Global, ["", ""]),
        (Scope::namespace("ai"), ["ai", ""]),
        (Scope::service("ai", "gateway"), ["ai", "gateway"]),
    ];
    for (scope, [namespace, service]) in &scopes {
        budgets
            .resolve(scope, "chat", "tenant-07")
            .unwrap()
            .record_usage(60);
        costs.resolve(scope, "code", "gpt-4o").unwrap().record(1, 2);

        let tenant = [*namespace, *service, "chat", "tenant-07"];
        assert_eq!(
            counter(&registry, "sentinel_inference_budget_used", &tenant),
            60
        );
        let alert = [*namespace, *service, "chat", "tenant-07", "50"];
        assert_eq!(
            counter(&registry, "sentinel_inference_budget_alerts", &alert),
            1
        );
        let model = [*namespace, *service, "code", "gpt-4o"];
        assert_eq!(
            counter(&registry, "sentinel_inference_input_tokens", &model),
            1
        );
        let cost = [*namespace, *service, "code", "gpt-4o", "EUR"];
        assert!(has_series(&registry, "sentinel_inference_cost", &cost));
    }
    // Three scopes, three separate series in every family.
    for family in &registry.snapshot().families {
        assert_eq!(family.series.len(), 3, "{}", family.name);
    }
}

#[test]
fn a_resolved_budget_starts_every_series_at_the_start_of_a_period() {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let budgets = Budgets::builder(daily(5_000_000, &[0.8, 0.9, 0.95], false))
        .build(&metrics)
        .unwrap();
    let scope = Scope::service("ai", "gateway");
    budgets.resolve(&scope, "code", "tenant-00").unwrap();
    let labels = ["ai", "gateway", "code", "tenant-00"];
    assert_eq!(
        gauge(&registry, "sentinel_inference_budget_limit", &labels),
        5_000_000
    );
    assert_eq!(
        gauge(&registry, "sentinel_inference_budget_remaining", &labels),
        5_000_000
    );
    assert_eq!(
        counter(&registry, "sentinel_inference_budget_used", &labels),
        0
    );
    assert_eq!(
        counter(&registry, "sentinel_inference_budget_exhausted", &labels),
        0
    );
    for threshold in ["80", "90", "95"] {
        let alert = ["ai", "gateway", "code", "tenant-00", threshold];
        assert_eq!(
            counter(&registry, "sentinel_inference_budget_alerts", &alert),
            0
        );
    }
}

#[test]
fn recording_a_check_sets_the_limit_and_counts_exhaustions_only_when_enforced() {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let scope = Scope::service("ai", "gateway");
    let budgets = Budgets::builder(daily(100, &[], true))
        .budget(&scope, "chat", "soft", daily(100, &[], false))
        .clock(ManualClock::new(0))
        .build(&metrics)
        .unwrap();
    let hard = budgets.resolve(&scope, "chat", "hard").unwrap();
    let soft = budgets.resolve(&scope, "chat", "soft").unwrap();
    for budget in [&hard, &soft] {
        assert_eq!(budget.check(), Decision::Allowed);
        budget.record_usage(99);
        assert_eq!(budget.check(), Decision::Allowed);
        budget.record_usage(1);
    }
    assert_eq!(hard.check(), Decision::Exhausted);
    assert_eq!(hard.check(), Decision::Exhausted);
    assert!(!hard.check().proceeds());
    assert_eq!(soft.check(), Decision::SoftLimited);
    assert!(soft.check().proceeds());

    let hard_labels = ["ai", "gateway", "chat", "hard"];
    let soft_labels = ["ai", "gateway", "chat", "soft"];
    assert_eq!(
        counter(
            &registry,
            "sentinel_inference_budget_exhausted",
            &hard_labels
        ),
        3
    );
    assert_eq!(
        counter(
            &registry,
            "sentinel_inference_budget_exhausted",
            &soft_labels
        ),
        0
    );
    assert_eq!(
        gauge(&registry, "sentinel_inference_budget_limit", &hard_labels),
        100
    );
}

#[test]
fn recording_usage_adds_tokens_and_sets_remaining_which_may_go_negative() {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let budgets = Budgets::builder(daily(1_000, &[0.5], false))
        .clock(ManualClock::new(0))
        .build(&metrics)
        .unwrap();
    let tenant = budgets.resolve(&Scope::Global, "chat", "t").unwrap();
    let labels = ["", "", "chat", "t"];
    let mut used = 0u64;
    for tokens in [400, 350, 250, 7, 1_000] {
        used += tokens;
        let usage = tenant.record_usage(tokens);
        assert_eq!(usage.used, used);
        assert_eq!(usage.remaining, 1_000 - used as i64);
        assert_eq!(
            counter(&registry, "sentinel_inference_budget_used", &labels),
            used
        );
        assert_eq!(
            gauge(&registry, "sentinel_inference_budget_remaining", &labels),
            1_000 - used as i64
        );
    }
    assert_eq!(
        gauge(&registry, "sentinel_inference_budget_remaining", &labels),
        -1_007
    );
    assert_eq!(tenant.current(), (0, 2_007));
}

#[test]
fn resolving_a_budget_twice_shares_its_state() {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let budgets = Budgets::builder(daily(100, &[0.5], false))
        .clock(ManualClock::new(0))
        .build(&metrics)
        .unwrap();
    let first = budgets.resolve(&Scope::Global, "chat", "t").unwrap();
    let second = budgets.resolve(&Scope::Global, "chat", "t").unwrap();
    assert_eq!(first.record_usage(30).alerts().count(), 0);
    assert_eq!(second.record_usage(30).alerts().count(), 1);
    assert_eq!(first.current(), (0, 60));
    let other = budgets.resolve(&Scope::Global, "code", "t").unwrap();
    assert_eq!(other.current(), (0, 0));
}

#[test]
fn recording_a_cost_adds_cost_and_tokens_and_observes_the_histogram() {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let costs = Costs::new(
        &metrics,
        Pricing::builder("USD", Price::per_million(0.5, 1.5))
            .model("gpt-4o", Price::per_million(5.0, 15.0))
            .build()
            .unwrap(),
    );
    let model = costs
        .resolve(&Scope::service("ai", "gateway"), "chat", "gpt-4o")
        .unwrap();
    // (input, output, cost in nano-USD at 5 and 15 per million: 5,000 and 15,000 a token).
    let requests = [
        (1_000u64, 200u64, 8_000_000u64),
        (40, 0, 200_000),
        (0, 2_000, 30_000_000),
    ];
    for (input, output, nanos) in requests {
        let cost = model.record(input, output);
        assert_eq!(
            (
                cost.model,
                cost.currency,
                cost.input_tokens,
                cost.output_tokens,
                cost.nanos
            ),
            ("gpt-4o", "USD", input, output, nanos)
        );
    }
    let labels = ["ai", "gateway", "chat", "gpt-4o"];
    let cost_labels = ["ai", "gateway", "chat", "gpt-4o", "USD"];
    assert_eq!(
        fixed_units(&registry, "sentinel_inference_cost", &cost_labels),
        38_200_000
    );
    assert_eq!(
        counter(&registry, "sentinel_inference_input_tokens", &labels),
        1_040
    );
    assert_eq!(
        counter(&registry, "sentinel_inference_output_tokens", &labels),
        2_200
    );
    // 0.008 is in the 0.01 bucket, 0.0002 in the 0.0005 bucket, 0.03 in the 0.05 bucket.
    let (cumulative, sum) = histogram(&registry, "sentinel_inference_cost_per_request", &labels);
    let amounts = [0.008, 0.0002, 0.03];
    let expected: Vec<u64> = COST_BOUNDS
        .iter()
        .map(|bound| amounts.iter().filter(|a| **a <= *bound).count() as u64)
        .chain([3])
        .collect();
    assert_eq!(cumulative, expected);
    assert!((sum - 0.0382).abs() < 1e-12, "{sum}");
}
