//! Periods roll over by the injected clock, with no sleeping: hourly, daily and monthly
//! boundaries, alerts firing again in each period, and clocks that go back.

mod common;

use std::sync::Arc;

use abacus::Registry;
use abacus_inference::{
    unix_seconds, BudgetConfig, Budgets, Decision, InferenceMetrics, ManualClock, Period, Scope,
    TimestampError,
};
use common::{counter, gauge};

fn seconds(text: &str) -> u64 {
    unix_seconds(text).unwrap()
}

#[test]
fn trace_timestamps_read_as_unix_seconds() {
    // Values from `date -u -d '...' +%s`.
    assert_eq!(seconds("2023-11-16 18:17:03.9799600"), 1_700_158_623);
    assert_eq!(seconds("2023-11-16 19:14:19.9280160"), 1_700_162_059);
    assert_eq!(seconds("1970-01-01 00:00:00"), 0);
    assert_eq!(seconds("2024-02-29T23:59:59"), 1_709_251_199);
    assert_eq!(seconds("2000-03-01 00:00:00.5"), 951_868_800);
    for bad in [
        "2023-11-16",
        "2023-11-16 18:17",
        "2023-13-01 00:00:00",
        "2023-02-29 00:00:00",
        "2023-11-16 24:00:00",
        "2023-11-16 18:60:00",
        "1969-12-31 23:59:59",
        "2023-11-16 18:17:03,5",
        "2023-11-16 18:17:03.5x",
        "2023/11/16 18:17:03",
        "+023-11-16 18:17:03",
        "",
    ] {
        assert_eq!(
            unix_seconds(bad),
            Err(TimestampError(bad.to_owned())),
            "{bad}"
        );
    }
}

#[test]
fn period_indices_change_exactly_at_utc_boundaries() {
    let hour = seconds("2023-11-16 18:00:00");
    assert_eq!(
        Period::Hourly.index(hour - 1) + 1,
        Period::Hourly.index(hour)
    );
    assert_eq!(
        Period::Hourly.index(hour),
        Period::Hourly.index(hour + 3_599)
    );
    let day = seconds("2023-11-17 00:00:00");
    assert_eq!(Period::Daily.index(day), 19_678);
    assert_eq!(Period::Daily.index(day - 1), 19_677);
    // Months: 1970-01 is 0; (2024 - 1970) × 12 + 1 for 2024-02.
    assert_eq!(Period::Monthly.index(seconds("2024-02-01 00:00:00")), 649);
    assert_eq!(Period::Monthly.index(seconds("2024-02-29 23:59:59")), 649);
    assert_eq!(Period::Monthly.index(seconds("2024-03-01 00:00:00")), 650);
    assert_eq!(Period::Monthly.index(seconds("2024-01-31 23:59:59")), 648);
    assert_eq!(Period::Hourly.index(u64::MAX), Period::MAX_INDEX);
}

fn budget_with_clock(
    registry: &Registry,
    period: Period,
    start: &str,
) -> (abacus_inference::TenantBudget, Arc<ManualClock>) {
    let metrics = InferenceMetrics::with_default_prefix(registry).unwrap();
    let clock = Arc::new(ManualClock::new(seconds(start)));
    let budgets = Budgets::builder(BudgetConfig {
        period,
        limit: 1_000,
        thresholds: vec![0.8],
        enforce: true,
    })
    .clock(clock.clone())
    .build(&metrics)
    .unwrap();
    let tenant = budgets
        .resolve(&Scope::namespace("ai"), "chat", "t")
        .unwrap();
    (tenant, clock)
}

const LABELS: [&str; 4] = ["ai", "", "chat", "t"];

#[test]
fn a_new_day_starts_the_budget_again_and_alerts_fire_again() {
    let registry = Registry::new();
    let (tenant, clock) = budget_with_clock(&registry, Period::Daily, "2023-11-16 18:17:03");
    let alerts = || {
        counter(
            &registry,
            "sentinel_inference_budget_alerts",
            &["ai", "", "chat", "t", "80"],
        )
    };
    let remaining = || gauge(&registry, "sentinel_inference_budget_remaining", &LABELS);

    assert_eq!(tenant.record_usage(1_200).alerts().count(), 1);
    assert_eq!(tenant.check(), Decision::Exhausted);
    assert_eq!(remaining(), -200);

    clock.set(seconds("2023-11-16 23:59:59"));
    assert_eq!(tenant.check(), Decision::Exhausted);
    clock.set(seconds("2023-11-17 00:00:00"));
    // A check alone starts the new period and resets the remaining gauge.
    assert_eq!(tenant.check(), Decision::Allowed);
    assert_eq!(remaining(), 1_000);
    let usage = tenant.record_usage(800);
    assert_eq!(
        (usage.used, usage.remaining, usage.alerts().count()),
        (800, 200, 1)
    );
    assert_eq!(usage.period, 19_678);
    assert_eq!(alerts(), 2);
    assert_eq!(
        counter(&registry, "sentinel_inference_budget_used", &LABELS),
        2_000
    );
    assert_eq!(
        counter(&registry, "sentinel_inference_budget_exhausted", &LABELS),
        2
    );

    // A day with no traffic, then usage straight away: the usage itself starts the period.
    clock.advance(2 * 86_400);
    let usage = tenant.record_usage(10);
    assert_eq!(
        (usage.period, usage.used, usage.alerts().count()),
        (19_680, 10, 0)
    );
    assert_eq!(remaining(), 990);
}

#[test]
fn an_hour_and_a_month_roll_over_at_their_boundaries() {
    let registry = Registry::new();
    let (hourly, clock) = budget_with_clock(&registry, Period::Hourly, "2023-11-16 18:59:59");
    hourly.record_usage(900);
    clock.advance(1);
    assert_eq!(hourly.record_usage(100).used, 100);

    let registry = Registry::new();
    let (monthly, clock) = budget_with_clock(&registry, Period::Monthly, "2024-02-01 00:00:00");
    monthly.record_usage(500);
    clock.set(seconds("2024-02-29 23:59:59"));
    assert_eq!(monthly.record_usage(400).alerts().count(), 1);
    assert_eq!(monthly.current().1, 900);
    clock.set(seconds("2024-03-01 00:00:00"));
    let usage = monthly.record_usage(1);
    assert_eq!((usage.used, usage.remaining), (1, 999));
    assert_eq!(
        counter(
            &registry,
            "sentinel_inference_budget_alerts",
            &["ai", "", "chat", "t", "80"]
        ),
        1
    );
}

#[test]
fn a_clock_that_goes_back_counts_in_the_current_period() {
    let registry = Registry::new();
    let (tenant, clock) = budget_with_clock(&registry, Period::Daily, "2023-11-17 00:00:10");
    tenant.record_usage(100);
    clock.set(seconds("2023-11-16 23:59:59"));
    let usage = tenant.record_usage(50);
    assert_eq!((usage.period, usage.used), (19_678, 150));
    assert_eq!(tenant.check(), Decision::Allowed);
    assert_eq!(tenant.current(), (19_678, 150));
    // Explicit times work the same way.
    assert_eq!(tenant.record_usage_at(1, 0).used, 151);
    assert_eq!(
        gauge(&registry, "sentinel_inference_budget_remaining", &LABELS),
        849
    );
}

#[test]
fn a_huge_usage_saturates_and_leaves_the_period_intact() {
    let registry = Registry::new();
    let (tenant, clock) = budget_with_clock(&registry, Period::Daily, "2023-11-16 00:00:00");
    let saturation = 1u64 << 42;
    // Additions small enough for the fetch_add path, until well past saturation.
    let step = u64::from(u32::MAX);
    let mut total = 0u64;
    for _ in 0..1_100 {
        total += step;
        let usage = tenant.record_usage(step);
        assert_eq!(usage.period, 19_677);
        assert_eq!(usage.used, total.min(saturation));
    }
    assert_eq!(tenant.current(), (19_677, saturation));
    // One addition too large for it: a compare-and-swap that saturates exactly.
    assert_eq!(tenant.record_usage(u64::MAX).used, saturation);
    assert_eq!(tenant.check(), Decision::Exhausted);
    assert_eq!(
        gauge(&registry, "sentinel_inference_budget_remaining", &LABELS),
        1_000 - saturation as i64
    );
    // The used counter keeps every token, saturating only at u64::MAX.
    assert_eq!(
        counter(&registry, "sentinel_inference_budget_used", &LABELS),
        u64::MAX
    );
    clock.advance(86_400);
    let usage = tenant.record_usage(5);
    assert_eq!(
        (usage.period, usage.used, usage.remaining),
        (19_678, 5, 995)
    );
    assert_eq!(
        gauge(&registry, "sentinel_inference_budget_remaining", &LABELS),
        995
    );
}
