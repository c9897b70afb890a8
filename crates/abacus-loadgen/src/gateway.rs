//! The gateway's metrics on abacus: families registered once, handles resolved once per
//! worker thread, and a per-request recording that is nothing but handle calls.

use abacus::{Buckets, Counter, Desc, Error, FixedCounter, Histogram, Registry};

use crate::trace::{tenant_name, Request, MODELS, ROUTES, STATUSES, TENANTS};

/// Digits after the point of the cost counter: nano-dollars, so every list price per token
/// here is a whole number of units and costs add exactly.
pub(crate) const COST_DECIMALS: u32 = 9;
/// Upper bounds of the cost-per-request histogram, in USD.
pub(crate) const COST_BUCKETS: [f64; 11] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];
/// Upper bounds of the request-duration histogram, in seconds.
pub(crate) const DURATION_BUCKETS: [f64; 10] =
    [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0];

/// Records per request: requests, input and output tokens, cost, the two histograms and
/// the tenant's tokens. A refused request records only its count and duration.
pub(crate) fn records_per_request(request: &Request) -> u64 {
    if request.served() {
        7
    } else {
        2
    }
}

/// The registered families.
#[derive(Clone)]
pub(crate) struct GatewayMetrics {
    requests: abacus::Family<Counter>,
    input_tokens: abacus::Family<Counter>,
    output_tokens: abacus::Family<Counter>,
    cost: abacus::Family<FixedCounter>,
    cost_per_request: abacus::Family<Histogram>,
    duration: abacus::Family<Histogram>,
    tenant_tokens: abacus::Family<Counter>,
}

impl GatewayMetrics {
    pub(crate) fn register(registry: &Registry) -> Result<Self, Error> {
        Ok(GatewayMetrics {
            requests: registry.counter(
                Desc::new("gateway_requests_total", "Requests handled by the gateway.")
                    .labels(["route", "status"]),
            )?,
            input_tokens: registry.counter(
                Desc::new(
                    "gateway_input_tokens_total",
                    "Prompt tokens sent to models.",
                )
                .labels(["route", "model"]),
            )?,
            output_tokens: registry.counter(
                Desc::new(
                    "gateway_output_tokens_total",
                    "Completion tokens returned by models.",
                )
                .labels(["route", "model"]),
            )?,
            cost: registry.fixed_counter(
                Desc::new(
                    "gateway_cost_total",
                    "Cost of served requests at list prices.",
                )
                .labels(["route", "model", "currency"]),
                COST_DECIMALS,
            )?,
            cost_per_request: registry.histogram(
                Desc::new(
                    "gateway_cost_per_request_usd",
                    "Cost of one served request in USD.",
                )
                .labels(["route", "model"]),
                Buckets::new(COST_BUCKETS)?,
            )?,
            duration: registry.histogram(
                Desc::new(
                    "gateway_request_duration_seconds",
                    "Time to answer a request.",
                )
                .labels(["route"]),
                Buckets::new(DURATION_BUCKETS)?,
            )?,
            tenant_tokens: registry.counter(
                Desc::new(
                    "gateway_tenant_tokens_total",
                    "Prompt plus completion tokens per tenant.",
                )
                .labels(["tenant"]),
            )?,
        })
    }

    /// Resolves every handle a worker needs, so that recording never looks a label up.
    pub(crate) fn resolve(&self) -> Result<Handles, Error> {
        let mut requests = Vec::new();
        for route in ROUTES {
            for status in STATUSES {
                requests.push(self.requests.with_labels(&[route, status])?);
            }
        }
        let mut per_model = Vec::new();
        for (model_index, model) in MODELS.iter().enumerate() {
            let route = ROUTES[route_of_model(model_index)];
            per_model.push(ModelHandles {
                input_tokens: self.input_tokens.with_labels(&[route, model.name])?,
                output_tokens: self.output_tokens.with_labels(&[route, model.name])?,
                cost: self.cost.with_labels(&[route, model.name, "USD"])?,
                cost_per_request: self.cost_per_request.with_labels(&[route, model.name])?,
            });
        }
        let duration = ROUTES
            .iter()
            .map(|route| self.duration.with_labels(&[route]))
            .collect::<Result<_, _>>()?;
        let tenant_tokens = (0..TENANTS)
            .map(|tenant| self.tenant_tokens.with_labels(&[&tenant_name(tenant)]))
            .collect::<Result<_, _>>()?;
        Ok(Handles {
            requests,
            per_model,
            duration,
            tenant_tokens,
        })
    }
}

/// The route a model is served on in this replay.
pub(crate) fn route_of_model(model: usize) -> usize {
    if model == 0 {
        0
    } else {
        1
    }
}

struct ModelHandles {
    input_tokens: Counter,
    output_tokens: Counter,
    cost: FixedCounter,
    cost_per_request: Histogram,
}

/// One worker's resolved handles.
pub(crate) struct Handles {
    /// Indexed by `route * STATUSES.len() + status`.
    requests: Vec<Counter>,
    per_model: Vec<ModelHandles>,
    duration: Vec<Histogram>,
    tenant_tokens: Vec<Counter>,
}

impl Handles {
    /// Records one request.
    #[inline]
    pub(crate) fn record(&self, request: &Request) {
        self.requests[request.route * STATUSES.len() + request.status].inc();
        self.duration[request.route].observe(request.duration);
        if !request.served() {
            return;
        }
        let model = &self.per_model[request.model];
        model.input_tokens.add(request.input_tokens);
        model.output_tokens.add(request.output_tokens);
        model.cost.add(request.cost);
        model.cost_per_request.observe(request.cost);
        self.tenant_tokens[request.tenant].add(request.input_tokens + request.output_tokens);
    }
}
