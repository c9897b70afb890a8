//! The same gateway metrics on the `prometheus` crate, recorded the way the original gateway
//! did: every update resolves its label values with `with_label_values` on the call.
//!
//! This backend exists to be measured against (`--backend prometheus`): it registers the
//! same families with the same names, labels and buckets (the cost counter as a float
//! counter, since the crate has no fixed point), serves them with the crate's own
//! `TextEncoder`, and must pass the same self-check.

use prometheus::core::Collector;
use prometheus::{CounterVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::gateway::{route_of_model, COST_BUCKETS, DURATION_BUCKETS};
use crate::trace::{tenant_name, Request, MODELS, ROUTES, STATUSES, TENANTS};

/// The registered families, shared by every worker.
pub(crate) struct PromMetrics {
    requests: IntCounterVec,
    input_tokens: IntCounterVec,
    output_tokens: IntCounterVec,
    cost: CounterVec,
    cost_per_request: HistogramVec,
    duration: HistogramVec,
    tenant_tokens: IntCounterVec,
    /// `tenant-00` to `tenant-63`, spelled once: a gateway has the tenant's name at hand.
    tenant_names: Vec<String>,
}

fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

impl PromMetrics {
    /// Registers the families and creates every series the abacus backend resolves, so that
    /// the exposition holds the same series (at zero where the trace gives them no traffic).
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = PromMetrics {
            requests: register(
                registry,
                IntCounterVec::new(
                    Opts::new("gateway_requests_total", "Requests handled by the gateway."),
                    &["route", "status"],
                )?,
            )?,
            input_tokens: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "gateway_input_tokens_total",
                        "Prompt tokens sent to models.",
                    ),
                    &["route", "model"],
                )?,
            )?,
            output_tokens: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "gateway_output_tokens_total",
                        "Completion tokens returned by models.",
                    ),
                    &["route", "model"],
                )?,
            )?,
            cost: register(
                registry,
                CounterVec::new(
                    Opts::new(
                        "gateway_cost_total",
                        "Cost of served requests at list prices.",
                    ),
                    &["route", "model", "currency"],
                )?,
            )?,
            cost_per_request: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "gateway_cost_per_request_usd",
                        "Cost of one served request in USD.",
                    )
                    .buckets(COST_BUCKETS.to_vec()),
                    &["route", "model"],
                )?,
            )?,
            duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "gateway_request_duration_seconds",
                        "Time to answer a request.",
                    )
                    .buckets(DURATION_BUCKETS.to_vec()),
                    &["route"],
                )?,
            )?,
            tenant_tokens: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "gateway_tenant_tokens_total",
                        "Prompt plus completion tokens per tenant.",
                    ),
                    &["tenant"],
                )?,
            )?,
            tenant_names: (0..TENANTS).map(tenant_name).collect(),
        };
        for route in ROUTES {
            for status in STATUSES {
                metrics.requests.with_label_values(&[route, status]);
            }
            metrics.duration.with_label_values(&[route]);
        }
        for (model_index, model) in MODELS.iter().enumerate() {
            let route = ROUTES[route_of_model(model_index)];
            metrics.input_tokens.with_label_values(&[route, model.name]);
            metrics
                .output_tokens
                .with_label_values(&[route, model.name]);
            metrics.cost.with_label_values(&[route, model.name, "USD"]);
            metrics
                .cost_per_request
                .with_label_values(&[route, model.name]);
        }
        for name in &metrics.tenant_names {
            metrics.tenant_tokens.with_label_values(&[name]);
        }
        Ok(metrics)
    }

    /// Records one request, resolving the label values of every update on the call.
    #[inline]
    pub(crate) fn record(&self, request: &Request) {
        let route = ROUTES[request.route];
        self.requests
            .with_label_values(&[route, STATUSES[request.status]])
            .inc();
        self.duration
            .with_label_values(&[route])
            .observe(request.duration);
        if !request.served() {
            return;
        }
        let model = MODELS[request.model].name;
        self.input_tokens
            .with_label_values(&[route, model])
            .inc_by(request.input_tokens);
        self.output_tokens
            .with_label_values(&[route, model])
            .inc_by(request.output_tokens);
        self.cost
            .with_label_values(&[route, model, "USD"])
            .inc_by(request.cost);
        self.cost_per_request
            .with_label_values(&[route, model])
            .observe(request.cost);
        self.tenant_tokens
            .with_label_values(&[&self.tenant_names[request.tenant]])
            .inc_by(request.input_tokens + request.output_tokens);
    }
}

/// Writes the registry in the text format with the crate's own encoder.
pub(crate) fn render(registry: &Registry, out: &mut Vec<u8>) -> std::io::Result<()> {
    use prometheus::Encoder;
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), out)
        .map_err(std::io::Error::other)
}
