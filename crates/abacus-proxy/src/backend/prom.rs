//! The same families on the `prometheus` crate, recorded the way the original gateway did:
//! every update finds its series with `with_label_values` on the call. The budget words
//! and the prices are the gateway's own state, resolved once like abacus-inference's
//! (see `budget_word`); only the way the metrics are reached differs.
//!
//! The cost counters are float counters, since the crate has no fixed point.

use std::time::Instant;

use prometheus::core::Collector;
use prometheus::{
    CounterVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};

use super::budget_word::{crossed, today, BudgetWord, LIMIT};
use super::{Answer, Call, Render, StartError};
use crate::families::inference::{ALERT_LABELS, BUDGET_LABELS, COST_LABELS, MODEL_LABELS};
use crate::families::{
    budget_index, cost_nanos, cost_usd, inference, served_pairs, COST, COST_BUCKETS,
    COST_PER_REQUEST, CURRENCY, DURATION, DURATION_BUCKETS, INPUT_TOKENS, NAMESPACE, OUTPUT_TOKENS,
    REQUESTS, SERVICE, TENANT_TOKENS, THRESHOLD_LABELS,
};
use crate::trace::{MODELS, ROUTES, STATUSES, TENANTS};
use crate::wire::Tenants;

/// The registered families, shared by every worker thread of the proxy.
pub(crate) struct PromMetrics {
    requests: IntCounterVec,
    input_tokens: IntCounterVec,
    output_tokens: IntCounterVec,
    cost: CounterVec,
    cost_per_request: HistogramVec,
    duration: HistogramVec,
    tenant_tokens: IntCounterVec,
    budget_limit: IntGaugeVec,
    budget_used: IntCounterVec,
    budget_remaining: IntGaugeVec,
    budget_alerts: IntCounterVec,
    inference_cost: CounterVec,
    inference_input: IntCounterVec,
    inference_output: IntCounterVec,
    inference_cost_per_request: HistogramVec,
    /// Indexed by [`budget_index`].
    words: Vec<BudgetWord>,
    /// The tenants' names: a gateway has the tenant's name at hand.
    tenant_names: Vec<&'static str>,
}

fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

fn opts((name, help): (&str, &str)) -> Opts {
    Opts::new(name, help)
}

impl PromMetrics {
    pub(crate) fn register(tenants: &Tenants) -> Result<(Self, Render), StartError> {
        let registry = Registry::new();
        let r = &registry;
        let histogram = |(name, help): (&str, &str), buckets: &[f64], labels: &[&str]| {
            register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                    labels,
                )?,
            )
        };
        let route_model = ["route", "model"];
        let metrics = PromMetrics {
            requests: register(r, IntCounterVec::new(opts(REQUESTS), &["route", "status"])?)?,
            input_tokens: register(r, IntCounterVec::new(opts(INPUT_TOKENS), &route_model)?)?,
            output_tokens: register(r, IntCounterVec::new(opts(OUTPUT_TOKENS), &route_model)?)?,
            cost: register(
                r,
                CounterVec::new(opts(COST), &["route", "model", "currency"])?,
            )?,
            cost_per_request: histogram(COST_PER_REQUEST, &COST_BUCKETS, &route_model)?,
            duration: histogram(DURATION, &DURATION_BUCKETS, &["route"])?,
            tenant_tokens: register(r, IntCounterVec::new(opts(TENANT_TOKENS), &["tenant"])?)?,
            budget_limit: register(
                r,
                IntGaugeVec::new(opts(inference::BUDGET_LIMIT), &BUDGET_LABELS)?,
            )?,
            budget_used: register(
                r,
                IntCounterVec::new(opts(inference::BUDGET_USED), &BUDGET_LABELS)?,
            )?,
            budget_remaining: register(
                r,
                IntGaugeVec::new(opts(inference::BUDGET_REMAINING), &BUDGET_LABELS)?,
            )?,
            budget_alerts: register(
                r,
                IntCounterVec::new(opts(inference::BUDGET_ALERTS), &ALERT_LABELS)?,
            )?,
            inference_cost: register(r, CounterVec::new(opts(inference::COST), &COST_LABELS)?)?,
            inference_input: register(
                r,
                IntCounterVec::new(opts(inference::INPUT_TOKENS), &MODEL_LABELS)?,
            )?,
            inference_output: register(
                r,
                IntCounterVec::new(opts(inference::OUTPUT_TOKENS), &MODEL_LABELS)?,
            )?,
            inference_cost_per_request: histogram(
                inference::COST_PER_REQUEST,
                &COST_BUCKETS,
                &MODEL_LABELS,
            )?,
            words: (0..ROUTES.len() * TENANTS)
                .map(|_| BudgetWord::default())
                .collect(),
            tenant_names: (0..TENANTS).map(|tenant| tenants.name(tenant)).collect(),
        };
        let exhausted = register(
            r,
            IntCounterVec::new(opts(inference::BUDGET_EXHAUSTED), &BUDGET_LABELS)?,
        )?;
        metrics.create_series(&exhausted);
        let render: Render = Box::new(move |out: &mut Vec<u8>| {
            use prometheus::Encoder;
            prometheus::TextEncoder::new()
                .encode(&registry.gather(), out)
                .map_err(std::io::Error::other)
        });
        Ok((metrics, render))
    }

    /// Creates every series the abacus backend resolves, at zero (and the budgets at their
    /// limit), so that the expositions hold the same series. The exhausted counter is
    /// never incremented: budgets are not enforced.
    fn create_series(&self, exhausted: &IntCounterVec) {
        for route in ROUTES {
            for status in STATUSES {
                self.requests.with_label_values(&[route, status]);
            }
            self.duration.with_label_values(&[route]);
        }
        for (route, model) in served_pairs() {
            let (route, name) = (ROUTES[route], model.name);
            self.input_tokens.with_label_values(&[route, name]);
            self.output_tokens.with_label_values(&[route, name]);
            self.cost.with_label_values(&[route, name, CURRENCY]);
            self.cost_per_request.with_label_values(&[route, name]);
            let labels = [NAMESPACE, SERVICE, route, name];
            self.inference_cost
                .with_label_values(&[NAMESPACE, SERVICE, route, name, CURRENCY]);
            self.inference_input.with_label_values(&labels);
            self.inference_output.with_label_values(&labels);
            self.inference_cost_per_request.with_label_values(&labels);
        }
        for &tenant in &self.tenant_names {
            self.tenant_tokens.with_label_values(&[tenant]);
            for route in ROUTES {
                let labels = [NAMESPACE, SERVICE, route, tenant];
                self.budget_limit.with_label_values(&labels).set(LIMIT);
                self.budget_remaining.with_label_values(&labels).set(LIMIT);
                self.budget_used.with_label_values(&labels);
                exhausted.with_label_values(&labels);
                for threshold in THRESHOLD_LABELS {
                    self.budget_alerts
                        .with_label_values(&[NAMESPACE, SERVICE, route, tenant, threshold]);
                }
            }
        }
    }

    #[inline]
    pub(crate) fn check(&self, call: &Call) -> Instant {
        let budget = [
            NAMESPACE,
            SERVICE,
            ROUTES[call.route],
            self.tenant_names[call.tenant],
        ];
        let (_used, remaining_delta) =
            self.words[budget_index(call.route, call.tenant)].enter(today());
        if remaining_delta != 0 {
            self.budget_remaining
                .with_label_values(&budget)
                .add(remaining_delta);
        }
        self.budget_limit.with_label_values(&budget).set(LIMIT);
        // Not enforced: an exhausted budget lets the request through, counting nothing.
        Instant::now()
    }

    #[inline]
    pub(crate) fn record(&self, call: &Call, started: Instant, answer: &Answer) {
        let seconds = started.elapsed().as_secs_f64();
        let route = ROUTES[call.route];
        self.requests
            .with_label_values(&[route, STATUSES[answer.status]])
            .inc();
        self.duration.with_label_values(&[route]).observe(seconds);
        if !answer.served() {
            return;
        }
        let (input, output) = (answer.input_tokens, answer.output_tokens);
        let tenant = self.tenant_names[call.tenant];
        let budget = [NAMESPACE, SERVICE, route, tenant];
        let step = self.words[budget_index(call.route, call.tenant)].add(today(), input + output);
        self.budget_used
            .with_label_values(&budget)
            .inc_by(input + output);
        self.budget_remaining
            .with_label_values(&budget)
            .add(step.remaining_delta);
        for threshold in crossed(&step) {
            self.budget_alerts
                .with_label_values(&[
                    NAMESPACE,
                    SERVICE,
                    route,
                    tenant,
                    THRESHOLD_LABELS[threshold],
                ])
                .inc();
        }
        let model = &MODELS[call.model];
        let labels = [NAMESPACE, SERVICE, route, model.name];
        let amount = cost_nanos(model, input, output) as f64 / 1e9;
        self.inference_cost
            .with_label_values(&[NAMESPACE, SERVICE, route, model.name, CURRENCY])
            .inc_by(amount);
        self.inference_input
            .with_label_values(&labels)
            .inc_by(input);
        self.inference_output
            .with_label_values(&labels)
            .inc_by(output);
        self.inference_cost_per_request
            .with_label_values(&labels)
            .observe(amount);

        let cost = cost_usd(model, input, output);
        self.input_tokens
            .with_label_values(&[route, model.name])
            .inc_by(input);
        self.output_tokens
            .with_label_values(&[route, model.name])
            .inc_by(output);
        self.cost
            .with_label_values(&[route, model.name, CURRENCY])
            .inc_by(cost);
        self.cost_per_request
            .with_label_values(&[route, model.name])
            .observe(cost);
        self.tenant_tokens
            .with_label_values(&[tenant])
            .inc_by(input + output);
    }
}
