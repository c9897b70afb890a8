//! Threads racing across thresholds and period boundaries: every threshold fires exactly
//! once per period, and no token is lost or counted twice.

mod common;

use std::collections::BTreeMap;
use std::sync::Barrier;

use abacus::Registry;
use abacus_inference::{BudgetConfig, Budgets, InferenceMetrics, Period, Scope};
use common::{counter, gauge};

const THREADS: usize = 4;
const ROUNDS: u64 = 1_000;
const DAY: u64 = 86_400;

/// Every thread's alerts, as (period, label).
type Fired = Vec<(u64, String)>;

#[test]
fn each_threshold_fires_once_per_period_with_threads_racing_across_it() {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let budgets = Budgets::builder(BudgetConfig {
        period: Period::Daily,
        limit: 2_000,
        thresholds: vec![0.5, 0.8, 0.9, 1.0],
        enforce: false,
    })
    .build(&metrics)
    .unwrap();
    let scope = Scope::service("ai", "gateway");
    // Each round is a new day: its first additions race to start the period, and all of
    // them race across every threshold. Per round: 4 threads × 600 × 1 = 2,400 tokens.
    const ADDS: u64 = 600;
    const TOKENS: u64 = 1;
    let barrier = Barrier::new(THREADS);
    let fired: Vec<Fired> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                // Each thread resolves its own handle, as gateway workers do.
                let tenant = budgets.resolve(&scope, "chat", "tenant-00").unwrap();
                let barrier = &barrier;
                s.spawn(move || {
                    let mut fired = Fired::new();
                    for round in 0..ROUNDS {
                        barrier.wait();
                        for add in 0..ADDS {
                            let usage = tenant.record_usage_at(TOKENS, round * DAY + add);
                            assert_eq!(usage.period, round);
                            for threshold in usage.alerts() {
                                fired.push((usage.period, threshold.label().to_owned()));
                            }
                        }
                    }
                    fired
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    let mut times: BTreeMap<(u64, String), usize> = BTreeMap::new();
    for alert in fired.into_iter().flatten() {
        *times.entry(alert).or_default() += 1;
    }
    for round in 0..ROUNDS {
        for label in ["50", "80", "90", "100"] {
            assert_eq!(
                times.get(&(round, label.to_owned())),
                Some(&1),
                "{round} {label}"
            );
        }
    }
    assert_eq!(times.len(), ROUNDS as usize * 4);

    let labels = ["ai", "gateway", "chat", "tenant-00"];
    for label in ["50", "80", "90", "100"] {
        let alert = ["ai", "gateway", "chat", "tenant-00", label];
        assert_eq!(
            counter(&registry, "sentinel_inference_budget_alerts", &alert),
            ROUNDS
        );
    }
    let per_round = THREADS as u64 * ADDS * TOKENS;
    assert_eq!(
        counter(&registry, "sentinel_inference_budget_used", &labels),
        ROUNDS * per_round
    );
    assert_eq!(
        gauge(&registry, "sentinel_inference_budget_remaining", &labels),
        2_000 - per_round as i64
    );
}

/// One request's view of its addition.
#[derive(Clone, Copy, Debug)]
struct Seen {
    period: u64,
    before: u64,
    after: u64,
    crossed: u32,
}

#[test]
fn usage_chains_without_gaps_when_rollovers_race_with_additions() {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let limit = 10_000;
    let budgets = Budgets::builder(BudgetConfig {
        period: Period::Hourly,
        limit,
        thresholds: vec![0.25, 0.75],
        enforce: false,
    })
    .build(&metrics)
    .unwrap();
    const STEPS: u64 = 20_000;
    let barrier = Barrier::new(THREADS);
    let seen: Vec<Vec<Seen>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS as u64)
            .map(|thread| {
                let tenant = budgets.resolve(&Scope::Global, "code", "t").unwrap();
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    (0..STEPS)
                        .map(|step| {
                            // Clocks disagree: odd threads run an hour ahead, so periods
                            // start while the others still add, and their late additions
                            // count in the newer period.
                            let now = (step / 100 + thread % 2) * 3_600;
                            let tokens = 1 + (step * 7 + thread * 13) % 97;
                            let usage = tenant.record_usage_at(tokens, now);
                            Seen {
                                period: usage.period,
                                before: usage.used - tokens,
                                after: usage.used,
                                crossed: usage.alerts().count() as u32,
                            }
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    let total: u64 = (0..THREADS as u64)
        .flat_map(|thread| (0..STEPS).map(move |step| 1 + (step * 7 + thread * 13) % 97))
        .sum();
    let mut by_period: BTreeMap<u64, Vec<Seen>> = BTreeMap::new();
    for s in seen.into_iter().flatten() {
        by_period.entry(s.period).or_default().push(s);
    }
    let mut counted = 0;
    let mut alerts = 0;
    for (period, mut steps) in by_period {
        // The additions of a period, in the order they took effect, start at zero and
        // each begins where the one before ended.
        steps.sort_by_key(|s| s.before);
        let mut expected_before = 0;
        for s in &steps {
            assert_eq!(s.before, expected_before, "period {period}: {steps:?}");
            expected_before = s.after;
        }
        counted += expected_before;
        let fired: u32 = steps.iter().map(|s| s.crossed).sum();
        let reached = [2_500, 7_500]
            .iter()
            .filter(|&&t| expected_before >= t)
            .count();
        assert_eq!(fired as usize, reached, "period {period}");
        alerts += fired as u64;
    }
    assert_eq!(counted, total);
    let labels = ["", "", "code", "t"];
    assert_eq!(
        counter(&registry, "sentinel_inference_budget_used", &labels),
        total
    );
    let alert_total: u64 = ["25", "75"]
        .iter()
        .map(|l| {
            counter(
                &registry,
                "sentinel_inference_budget_alerts",
                &["", "", "code", "t", l],
            )
        })
        .sum();
    assert_eq!(alert_total, alerts);
    // Idle now: the gauge is the limit less the usage of the budget's current period.
    let budget = budgets.resolve(&Scope::Global, "code", "t").unwrap();
    let (_, used) = budget.current();
    assert_eq!(
        gauge(&registry, "sentinel_inference_budget_remaining", &labels),
        limit as i64 - used as i64
    );
}

#[test]
fn periods_starting_on_every_addition_lose_nothing() {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let limit = 1_000;
    let budgets = Budgets::builder(BudgetConfig {
        period: Period::Hourly,
        limit,
        thresholds: vec![0.001],
        enforce: false,
    })
    .build(&metrics)
    .unwrap();
    const STEPS: u64 = 200_000;
    let barrier = Barrier::new(THREADS);
    let seen: Vec<Vec<Seen>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let tenant = budgets.resolve(&Scope::Global, "code", "t").unwrap();
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    // Every addition is in a new hour for whichever thread gets there first:
                    // the leader starts periods while the others add late into them.
                    (0..STEPS)
                        .map(|step| {
                            let usage = tenant.record_usage_at(1, step * 3_600);
                            Seen {
                                period: usage.period,
                                before: usage.used - 1,
                                after: usage.used,
                                crossed: usage.alerts().count() as u32,
                            }
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut by_period: BTreeMap<u64, Vec<Seen>> = BTreeMap::new();
    for s in seen.into_iter().flatten() {
        by_period.entry(s.period).or_default().push(s);
    }
    let mut counted = 0;
    for (period, mut steps) in by_period {
        steps.sort_by_key(|s| s.before);
        for (index, s) in steps.iter().enumerate() {
            assert_eq!(s.before, index as u64, "period {period}: {steps:?}");
        }
        // The one threshold is the first token of each period.
        assert_eq!(
            steps.iter().map(|s| s.crossed).sum::<u32>(),
            1,
            "period {period}"
        );
        counted += steps.len() as u64;
    }
    assert_eq!(counted, THREADS as u64 * STEPS);
    let budget = budgets.resolve(&Scope::Global, "code", "t").unwrap();
    let (period, used) = budget.current();
    assert_eq!(period, STEPS - 1);
    let labels = ["", "", "code", "t"];
    assert_eq!(
        gauge(&registry, "sentinel_inference_budget_remaining", &labels),
        limit as i64 - used as i64
    );
}
