//! What every backend exposes: the gateway's own families (`gateway_*`, as the main job
//! records them) and abacus-inference's budget and cost families (`sentinel_inference_*`),
//! with one set of names, help texts, buckets and budget settings, so that no backend can
//! drift from the others.

use crate::trace::{Model, MODELS, TENANTS};

/// The budgets, as the main job sets them: daily, 5,000,000 tokens per tenant and route,
/// alerts at 80, 90 and 95 %, not enforced, so that every request is forwarded and the
/// totals stay exact.
pub(crate) const BUDGET_LIMIT: u64 = 5_000_000;
pub(crate) const BUDGET_THRESHOLDS: [f64; 3] = [0.80, 0.90, 0.95];
/// The `threshold` label of each of [`BUDGET_THRESHOLDS`], as abacus-inference spells it.
pub(crate) const THRESHOLD_LABELS: [&str; 3] = ["80", "90", "95"];
/// The `namespace` and `service` labels of the budget and cost families.
pub(crate) const NAMESPACE: &str = "ai";
pub(crate) const SERVICE: &str = "gateway";
pub(crate) const CURRENCY: &str = "USD";

/// Digits after the point of the fixed-point cost counters: nano-dollars.
pub(crate) const COST_DECIMALS: u32 = 9;
/// Upper bounds of both cost-per-request histograms, in USD (abacus-inference's).
pub(crate) const COST_BUCKETS: [f64; 11] = abacus_inference::COST_BUCKETS;
/// Upper bounds of the request-duration histogram, in seconds. The main job's synthetic
/// durations run from 0.1 s to 80 s; a proxy in front of an upstream that answers at once
/// takes tens of microseconds to milliseconds, so the ten bounds cover that instead.
pub(crate) const DURATION_BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
];

/// Names and help texts of the gateway's own families.
pub(crate) const REQUESTS: (&str, &str) =
    ("gateway_requests_total", "Requests handled by the gateway.");
pub(crate) const INPUT_TOKENS: (&str, &str) = (
    "gateway_input_tokens_total",
    "Prompt tokens sent to models.",
);
pub(crate) const OUTPUT_TOKENS: (&str, &str) = (
    "gateway_output_tokens_total",
    "Completion tokens returned by models.",
);
pub(crate) const COST: (&str, &str) = (
    "gateway_cost_total",
    "Cost of served requests at list prices.",
);
pub(crate) const COST_PER_REQUEST: (&str, &str) = (
    "gateway_cost_per_request_usd",
    "Cost of one served request in USD.",
);
pub(crate) const DURATION: (&str, &str) = (
    "gateway_request_duration_seconds",
    "Time to answer a request.",
);
pub(crate) const TENANT_TOKENS: (&str, &str) = (
    "gateway_tenant_tokens_total",
    "Prompt plus completion tokens per tenant.",
);

/// Names and help texts of abacus-inference's families under its default prefix, for the
/// backends that record them without abacus-inference.
pub(crate) mod inference {
    pub(crate) const BUDGET_LIMIT: (&str, &str) = (
        "sentinel_inference_budget_limit",
        "Tokens a tenant may use in a budget period.",
    );
    pub(crate) const BUDGET_USED: (&str, &str) = (
        "sentinel_inference_budget_used_total",
        "Tokens counted against a tenant's budget, over all periods.",
    );
    pub(crate) const BUDGET_REMAINING: (&str, &str) = (
        "sentinel_inference_budget_remaining",
        "Tokens left in the current budget period; negative when over the limit.",
    );
    pub(crate) const BUDGET_EXHAUSTED: (&str, &str) = (
        "sentinel_inference_budget_exhausted_total",
        "Requests refused because an enforced budget was exhausted.",
    );
    pub(crate) const BUDGET_ALERTS: (&str, &str) = (
        "sentinel_inference_budget_alerts_total",
        "Alert thresholds crossed, once per threshold and budget period.",
    );
    pub(crate) const COST: (&str, &str) = (
        "sentinel_inference_cost_total",
        "Cost of requests at list prices.",
    );
    pub(crate) const INPUT_TOKENS: (&str, &str) = (
        "sentinel_inference_input_tokens_total",
        "Prompt tokens sent to models.",
    );
    pub(crate) const OUTPUT_TOKENS: (&str, &str) = (
        "sentinel_inference_output_tokens_total",
        "Completion tokens returned by models.",
    );
    pub(crate) const COST_PER_REQUEST: (&str, &str) = (
        "sentinel_inference_cost_per_request",
        "Cost of one request at list prices.",
    );
    pub(crate) const BUDGET_LABELS: [&str; 4] = ["namespace", "service", "route", "tenant"];
    pub(crate) const ALERT_LABELS: [&str; 5] =
        ["namespace", "service", "route", "tenant", "threshold"];
    pub(crate) const MODEL_LABELS: [&str; 4] = ["namespace", "service", "route", "model"];
    pub(crate) const COST_LABELS: [&str; 5] =
        ["namespace", "service", "route", "model", "currency"];
}

/// The route a model is served on: the code trace's model on `code`, the conversation
/// trace's two on `chat`, as in the main job.
pub(crate) fn route_of_model(model: usize) -> usize {
    if model == 0 {
        0
    } else {
        1
    }
}

/// A served request's cost in USD at list prices, computed exactly as the trace's rows
/// are priced, so that the proxy's sums and the load generator's agree to the bit.
pub(crate) fn cost_usd(model: &Model, input_tokens: u64, output_tokens: u64) -> f64 {
    (input_tokens as f64 * model.input_price + output_tokens as f64 * model.output_price)
        / 1_000_000.0
}

/// A list price in USD per million tokens as whole nano-dollars per token, as
/// abacus-inference prices (every list price here is a whole number of them).
pub(crate) fn nanos_per_token(usd_per_million: f64) -> u64 {
    (usd_per_million * 1_000.0).round() as u64
}

/// A served request's cost in nano-dollars, as abacus-inference records it.
pub(crate) fn cost_nanos(model: &Model, input_tokens: u64, output_tokens: u64) -> u64 {
    input_tokens * nanos_per_token(model.input_price)
        + output_tokens * nanos_per_token(model.output_price)
}

/// The usage at which each threshold fires: the least whole number of tokens not below
/// its share of the limit.
pub(crate) fn threshold_tokens() -> [u64; 3] {
    BUDGET_THRESHOLDS.map(|t| (t * BUDGET_LIMIT as f64).ceil() as u64)
}

/// Index of the budget of `tenant` on `route` in the backends' budget tables.
pub(crate) fn budget_index(route: usize, tenant: usize) -> usize {
    route * TENANTS + tenant
}

/// The (route, model) pairs the gateway serves, in model order.
pub(crate) fn served_pairs() -> impl Iterator<Item = (usize, &'static Model)> {
    MODELS
        .iter()
        .enumerate()
        .map(|(index, model)| (route_of_model(index), model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{request, TraceKind, ROUTES};

    #[test]
    fn costs_match_the_trace_rows_to_the_bit() {
        for row in 0..200u64 {
            for kind in [TraceKind::Code, TraceKind::Conversation] {
                let r = request(kind, row, 37 * row + 1, 11 * row);
                if r.served() {
                    let cost = cost_usd(&MODELS[r.model], r.input_tokens, r.output_tokens);
                    assert_eq!(cost.to_bits(), r.cost.to_bits());
                }
            }
        }
    }

    #[test]
    fn thresholds_fire_at_the_same_usage_as_abacus_inference() {
        for (fraction, tokens) in BUDGET_THRESHOLDS.iter().zip(threshold_tokens()) {
            let threshold = abacus_inference::Threshold::new(*fraction).expect("in range");
            assert_eq!(threshold.tokens(BUDGET_LIMIT), tokens);
        }
        for (fraction, label) in BUDGET_THRESHOLDS.iter().zip(THRESHOLD_LABELS) {
            let threshold = abacus_inference::Threshold::new(*fraction).expect("in range");
            assert_eq!(threshold.label(), label);
        }
    }

    #[test]
    fn each_model_is_served_on_its_trace_route() {
        let pairs: Vec<(&str, &str)> = served_pairs()
            .map(|(route, model)| (ROUTES[route], model.name))
            .collect();
        assert_eq!(
            pairs,
            [
                ("code", "gpt-4-turbo"),
                ("chat", "gpt-4o"),
                ("chat", "gpt-3.5-turbo")
            ]
        );
    }
}
