//! One gateway request's metrics (budget check, usage, cost) through abacus-inference's
//! resolved handles, beside the same recording on the `prometheus` crate with a
//! `with_label_values` look-up per family per call, as the original gateway did.
//!
//! Both sides do the same work around the metrics: the price is resolved once, the budget
//! is one atomic word that a request adds its tokens to with `fetch_add`, and a request
//! crosses no threshold once the budget is past them (the common case; the first
//! iterations cross them on both sides). The families, label values and recorded values
//! are the same; only how the metrics are reached differs.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use abacus_inference::{
    BudgetConfig, Budgets, Costs, InferenceMetrics, Period, Price, Pricing, Scope, COST_BUCKETS,
};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use prometheus::{
    CounterVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts,
    Registry as PromRegistry,
};

/// 2023-11-16 18:17:03 UTC, the first request of the Azure trace.
const NOW: u64 = 1_700_158_623;
const LIMIT: u64 = 5_000_000;
const THRESHOLDS: [f64; 3] = [0.80, 0.90, 0.95];
const INPUT_TOKENS: u64 = 1_000;
const OUTPUT_TOKENS: u64 = 200;
/// USD per million tokens of `gpt-4o`.
const PRICE: Price = Price::per_million(5.0, 15.0);

fn pricing() -> Pricing {
    Pricing::builder("USD", Price::per_million(0.5, 1.5))
        .model("gpt-4*", Price::per_million(10.0, 30.0))
        .model("gpt-4o", PRICE)
        .build()
        .expect("valid prices")
}

fn abacus_request(
    group: &mut BenchmarkGroup<'_, WallTime>,
) -> Result<(), Box<dyn std::error::Error>> {
    let registry = abacus::Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry)?;
    let budgets = Budgets::builder(BudgetConfig {
        period: Period::Daily,
        limit: LIMIT,
        thresholds: THRESHOLDS.to_vec(),
        enforce: false,
    })
    .build(&metrics)?;
    let costs = Costs::new(&metrics, pricing());
    let scope = Scope::service("ai", "gateway");
    let tenant = budgets.resolve(&scope, "chat", "tenant-00")?;
    let model = costs.resolve(&scope, "chat", "gpt-4o")?;

    group.bench_function("abacus-inference: resolved handles", |b| {
        b.iter(|| {
            let decision = tenant.check_at(black_box(NOW));
            let usage = tenant.record_usage_at(black_box(INPUT_TOKENS + OUTPUT_TOKENS), NOW);
            let cost = model.record(black_box(INPUT_TOKENS), black_box(OUTPUT_TOKENS));
            black_box((decision.proceeds(), usage.alerts().count(), cost.nanos));
        })
    });
    // The recordings must have landed: a benchmark that optimised them away would be void.
    assert!(tenant.current().1 > 0);
    Ok(())
}

/// The gateway's families on the `prometheus` crate.
struct PromFamilies {
    limit: IntGaugeVec,
    used: IntCounterVec,
    remaining: IntGaugeVec,
    exhausted: IntCounterVec,
    alerts: IntCounterVec,
    cost: CounterVec,
    input_tokens: IntCounterVec,
    output_tokens: IntCounterVec,
    cost_per_request: HistogramVec,
}

impl PromFamilies {
    fn register(registry: &PromRegistry) -> prometheus::Result<Self> {
        let budget = ["namespace", "service", "route", "tenant"];
        let alert = ["namespace", "service", "route", "tenant", "threshold"];
        let model = ["namespace", "service", "route", "model"];
        let cost = ["namespace", "service", "route", "model", "currency"];
        let families = PromFamilies {
            limit: IntGaugeVec::new(
                Opts::new("sentinel_inference_budget_limit", "Budget limit."),
                &budget,
            )?,
            used: IntCounterVec::new(
                Opts::new("sentinel_inference_budget_used_total", "Budget used."),
                &budget,
            )?,
            remaining: IntGaugeVec::new(
                Opts::new("sentinel_inference_budget_remaining", "Budget remaining."),
                &budget,
            )?,
            exhausted: IntCounterVec::new(
                Opts::new("sentinel_inference_budget_exhausted_total", "Exhausted."),
                &budget,
            )?,
            alerts: IntCounterVec::new(
                Opts::new("sentinel_inference_budget_alerts_total", "Alerts."),
                &alert,
            )?,
            cost: CounterVec::new(Opts::new("sentinel_inference_cost_total", "Cost."), &cost)?,
            input_tokens: IntCounterVec::new(
                Opts::new("sentinel_inference_input_tokens_total", "Input tokens."),
                &model,
            )?,
            output_tokens: IntCounterVec::new(
                Opts::new("sentinel_inference_output_tokens_total", "Output tokens."),
                &model,
            )?,
            cost_per_request: HistogramVec::new(
                HistogramOpts::new("sentinel_inference_cost_per_request", "Cost per request.")
                    .buckets(COST_BUCKETS.to_vec()),
                &model,
            )?,
        };
        registry.register(Box::new(families.limit.clone()))?;
        registry.register(Box::new(families.used.clone()))?;
        registry.register(Box::new(families.remaining.clone()))?;
        registry.register(Box::new(families.exhausted.clone()))?;
        registry.register(Box::new(families.alerts.clone()))?;
        registry.register(Box::new(families.cost.clone()))?;
        registry.register(Box::new(families.input_tokens.clone()))?;
        registry.register(Box::new(families.output_tokens.clone()))?;
        registry.register(Box::new(families.cost_per_request.clone()))?;
        Ok(families)
    }
}

/// The original gateway's request path: the budget word and the price are its own state;
/// every metric is reached by label values.
struct PromGateway {
    families: PromFamilies,
    used: AtomicU64,
    threshold_tokens: [u64; 3],
    threshold_labels: [&'static str; 3],
}

impl PromGateway {
    fn request(&self, namespace: &str, service: &str, route: &str, tenant: &str, model: &str) {
        let f = &self.families;
        let budget = [namespace, service, route, tenant];
        // Check.
        let used = self.used.load(Relaxed);
        f.limit.with_label_values(&budget).set(LIMIT as i64);
        let exhausted = used >= LIMIT && black_box(false); // not enforced, as in the main job
        if exhausted {
            f.exhausted.with_label_values(&budget).inc();
        }
        // Usage.
        let tokens = black_box(INPUT_TOKENS + OUTPUT_TOKENS);
        let before = self.used.fetch_add(tokens, Relaxed);
        let after = before + tokens;
        f.used.with_label_values(&budget).inc_by(tokens);
        f.remaining
            .with_label_values(&budget)
            .set(LIMIT as i64 - after as i64);
        for (threshold, label) in self.threshold_tokens.iter().zip(self.threshold_labels) {
            if before < *threshold && *threshold <= after {
                f.alerts
                    .with_label_values(&[namespace, service, route, tenant, label])
                    .inc();
            }
        }
        // Cost.
        let (input, output) = (black_box(INPUT_TOKENS), black_box(OUTPUT_TOKENS));
        let cost = (input as f64 * PRICE.input + output as f64 * PRICE.output) / 1e6;
        let labels = [namespace, service, route, model];
        f.cost
            .with_label_values(&[namespace, service, route, model, "USD"])
            .inc_by(cost);
        f.input_tokens.with_label_values(&labels).inc_by(input);
        f.output_tokens.with_label_values(&labels).inc_by(output);
        f.cost_per_request.with_label_values(&labels).observe(cost);
    }
}

fn prometheus_request(
    group: &mut BenchmarkGroup<'_, WallTime>,
) -> Result<(), Box<dyn std::error::Error>> {
    let registry = PromRegistry::new();
    let gateway = PromGateway {
        families: PromFamilies::register(&registry)?,
        used: AtomicU64::new(0),
        threshold_tokens: THRESHOLDS.map(|t| (t * LIMIT as f64).ceil() as u64),
        threshold_labels: ["80", "90", "95"],
    };
    group.bench_function("prometheus: with_label_values per call", |b| {
        b.iter(|| {
            gateway.request(
                black_box("ai"),
                black_box("gateway"),
                black_box("chat"),
                black_box("tenant-00"),
                black_box("gpt-4o"),
            )
        })
    });
    assert!(gateway.used.load(Relaxed) > 0);
    Ok(())
}

fn one_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("one gateway request: check, usage, cost");
    abacus_request(&mut group).expect("the abacus side sets up");
    prometheus_request(&mut group).expect("the prometheus side sets up");
    group.finish();
}

criterion_group!(benches, one_request);
criterion_main!(benches);
