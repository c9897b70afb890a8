//! The gateway's metrics on abacus: families registered once, handles resolved once per
//! worker thread, and a per-request recording that is nothing but handle calls.

use abacus::{Buckets, Counter, Desc, Error, FixedCounter, Histogram, Registry};
use abacus_inference::{
    BudgetConfig, Budgets, Costs, InferenceMetrics, ModelCost, Period, Price, Pricing, Scope,
    TenantBudget,
};

use crate::trace::{tenant_name, Request, MODELS, ROUTES, STATUSES, TENANTS};

/// The gateway's budgets, as the inference issue sets them for the replay: daily, 5,000,000
/// tokens per tenant and route, alerts at 80, 90 and 95 %, not enforced so that every
/// request proceeds and the totals stay exact.
pub(crate) const BUDGET_LIMIT: u64 = 5_000_000;
pub(crate) const BUDGET_THRESHOLDS: [f64; 3] = [0.80, 0.90, 0.95];
/// Where the gateway's budget and cost families say they come from.
pub(crate) const NAMESPACE: &str = "ai";
pub(crate) const SERVICE: &str = "gateway";

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

/// Recording calls per request: requests, input and output tokens, cost, the two
/// histograms and the tenant's tokens on the gateway's own families, then, `with_inference`,
/// the budget check, the usage and the cost through abacus-inference. A refused request
/// records its count, its duration and the budget check.
pub(crate) fn records_per_request(request: &Request, with_inference: bool) -> u64 {
    let (own, inference) = if request.served() { (7, 3) } else { (2, 1) };
    if with_inference {
        own + inference
    } else {
        own
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
    budgets: Budgets,
    costs: Costs,
}

impl GatewayMetrics {
    pub(crate) fn register(registry: &Registry) -> Result<Self, Box<dyn std::error::Error>> {
        let inference = InferenceMetrics::new(registry, InferenceMetrics::DEFAULT_PREFIX)?;
        let budgets = Budgets::builder(BudgetConfig {
            period: Period::Daily,
            limit: BUDGET_LIMIT,
            thresholds: BUDGET_THRESHOLDS.to_vec(),
            enforce: false,
        })
        .build(&inference)?;
        let mut pricing = Pricing::builder("USD", Price::per_million(0.0, 0.0));
        for model in MODELS {
            pricing = pricing.model(
                model.name,
                Price::per_million(model.input_price, model.output_price),
            );
        }
        let costs = Costs::new(&inference, pricing.build()?);
        Ok(GatewayMetrics {
            budgets,
            costs,
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
        let scope = Scope::service(NAMESPACE, SERVICE);
        let mut budgets = Vec::new();
        for route in ROUTES {
            for tenant in 0..TENANTS {
                budgets.push(self.budgets.resolve(&scope, route, &tenant_name(tenant))?);
            }
        }
        let model_costs = MODELS
            .iter()
            .enumerate()
            .map(|(m, model)| {
                self.costs
                    .resolve(&scope, ROUTES[route_of_model(m)], model.name)
            })
            .collect::<Result<_, _>>()?;
        Ok(Handles {
            requests,
            per_model,
            duration,
            tenant_tokens,
            budgets,
            model_costs,
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
    /// Indexed by `route * TENANTS + tenant`.
    budgets: Vec<TenantBudget>,
    model_costs: Vec<ModelCost>,
}

impl Handles {
    /// Records one request.
    #[inline]
    pub(crate) fn record(&self, request: &Request) {
        self.requests[request.route * STATUSES.len() + request.status].inc();
        self.duration[request.route].observe(request.duration);
        let budget = &self.budgets[request.route * TENANTS + request.tenant];
        // Not enforced: the decision never stops a request, so the totals stay exact.
        let _decision = budget.check_at(request.timestamp);
        if !request.served() {
            return;
        }
        let tokens = request.input_tokens + request.output_tokens;
        budget.record_usage_at(tokens, request.timestamp);
        self.model_costs[request.model].record(request.input_tokens, request.output_tokens);
        let model = &self.per_model[request.model];
        model.input_tokens.add(request.input_tokens);
        model.output_tokens.add(request.output_tokens);
        model.cost.add(request.cost);
        model.cost_per_request.observe(request.cost);
        self.tenant_tokens[request.tenant].add(request.input_tokens + request.output_tokens);
    }
}
