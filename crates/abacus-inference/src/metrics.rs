//! The families the gateway exposes, registered once under a configurable prefix.

use abacus::{Buckets, Counter, Desc, Error, Family, FixedCounter, Gauge, Histogram, Registry};

/// Digits after the point of the cost counter: billionths of a currency unit, so that
/// every cost adds exactly.
pub const COST_DECIMALS: u32 = 9;

/// Upper bounds of the cost-per-request histogram, in currency units.
pub const COST_BUCKETS: [f64; 11] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

/// Labels of the budget families, in order.
pub(crate) const BUDGET_LABELS: [&str; 4] = ["namespace", "service", "route", "tenant"];
/// Labels of the alert family, in order.
pub(crate) const ALERT_LABELS: [&str; 5] = ["namespace", "service", "route", "tenant", "threshold"];
/// Labels of the token and cost-per-request families, in order.
pub(crate) const MODEL_LABELS: [&str; 4] = ["namespace", "service", "route", "model"];
/// Labels of the cost family, in order.
pub(crate) const COST_LABELS: [&str; 5] = ["namespace", "service", "route", "model", "currency"];

/// The nine families of the gateway, registered in one registry.
///
/// Their names are `{prefix}_inference_budget_limit` and so on (see the crate
/// documentation for the table); the default prefix, [`DEFAULT_PREFIX`](Self::DEFAULT_PREFIX),
/// keeps existing dashboards working. Cloning shares the families.
#[derive(Clone, Debug)]
pub struct InferenceMetrics {
    pub(crate) budget_limit: Family<Gauge>,
    pub(crate) budget_used: Family<Counter>,
    pub(crate) budget_remaining: Family<Gauge>,
    pub(crate) budget_exhausted: Family<Counter>,
    pub(crate) budget_alerts: Family<Counter>,
    pub(crate) cost: Family<FixedCounter>,
    pub(crate) input_tokens: Family<Counter>,
    pub(crate) output_tokens: Family<Counter>,
    pub(crate) cost_per_request: Family<Histogram>,
}

impl InferenceMetrics {
    /// The prefix of the gateway's existing dashboards and queries.
    pub const DEFAULT_PREFIX: &'static str = "sentinel";

    /// Registers the families in `registry` under `prefix` (an empty prefix leaves the
    /// names starting with `inference_`). Registering again with the same prefix returns
    /// the same families.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMetricName`] when the prefix makes an invalid name; the errors of
    /// [`Registry::histogram`] when a family of the same name is already registered
    /// differently.
    pub fn new(registry: &Registry, prefix: &str) -> Result<Self, Error> {
        let name = |suffix: &str| match prefix {
            "" => format!("inference_{suffix}"),
            _ => format!("{prefix}_inference_{suffix}"),
        };
        let desc = |suffix: &str, help: &str, labels: &[&str]| {
            Desc::new(name(suffix), help).labels(labels.iter().copied())
        };
        Ok(InferenceMetrics {
            budget_limit: registry.gauge(desc(
                "budget_limit",
                "Tokens a tenant may use in a budget period.",
                &BUDGET_LABELS,
            ))?,
            budget_used: registry.counter(desc(
                "budget_used_total",
                "Tokens counted against a tenant's budget, over all periods.",
                &BUDGET_LABELS,
            ))?,
            budget_remaining: registry.gauge(desc(
                "budget_remaining",
                "Tokens left in the current budget period; negative when over the limit.",
                &BUDGET_LABELS,
            ))?,
            budget_exhausted: registry.counter(desc(
                "budget_exhausted_total",
                "Requests refused because an enforced budget was exhausted.",
                &BUDGET_LABELS,
            ))?,
            budget_alerts: registry.counter(desc(
                "budget_alerts_total",
                "Alert thresholds crossed, once per threshold and budget period.",
                &ALERT_LABELS,
            ))?,
            cost: registry.fixed_counter(
                desc(
                    "cost_total",
                    "Cost of requests at list prices.",
                    &COST_LABELS,
                ),
                COST_DECIMALS,
            )?,
            input_tokens: registry.counter(desc(
                "input_tokens_total",
                "Prompt tokens sent to models.",
                &MODEL_LABELS,
            ))?,
            output_tokens: registry.counter(desc(
                "output_tokens_total",
                "Completion tokens returned by models.",
                &MODEL_LABELS,
            ))?,
            cost_per_request: registry.histogram(
                desc(
                    "cost_per_request",
                    "Cost of one request at list prices.",
                    &MODEL_LABELS,
                ),
                Buckets::new(COST_BUCKETS)?,
            )?,
        })
    }

    /// [`new`](Self::new) with [`DEFAULT_PREFIX`](Self::DEFAULT_PREFIX).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_default_prefix(registry: &Registry) -> Result<Self, Error> {
        Self::new(registry, Self::DEFAULT_PREFIX)
    }
}
