//! The gateway's metrics on abacus, as the main job records them: the families registered
//! once, every handle the gateway can need resolved at start-up into tables indexed by
//! route, model and tenant, and a request path that is nothing but handle calls.

use std::time::Instant;

use abacus::{Buckets, Counter, Desc, FixedCounter, Histogram, Registry};
use abacus_inference::{
    BudgetConfig, Budgets, Costs, InferenceMetrics, ModelCost, Period, Price, Pricing, Scope,
    TenantBudget,
};
use abacus_prometheus::{Format, TextEncoder};

use super::{Answer, Call, Render, StartError};
use crate::families::{
    budget_index, cost_usd, served_pairs, BUDGET_LIMIT, BUDGET_THRESHOLDS, COST, COST_BUCKETS,
    COST_DECIMALS, COST_PER_REQUEST, CURRENCY, DURATION, DURATION_BUCKETS, INPUT_TOKENS, NAMESPACE,
    OUTPUT_TOKENS, REQUESTS, SERVICE, TENANT_TOKENS,
};
use crate::trace::{MODELS, ROUTES, STATUSES, TENANTS};
use crate::wire::Tenants;

struct ModelHandles {
    input_tokens: Counter,
    output_tokens: Counter,
    cost: FixedCounter,
    cost_per_request: Histogram,
    inference: ModelCost,
}

/// Every handle the gateway records through.
pub(crate) struct AbacusMetrics {
    /// Indexed by `route * STATUSES.len() + status`.
    requests: Vec<Counter>,
    /// Indexed by route.
    duration: Vec<Histogram>,
    /// Indexed by model.
    models: Vec<ModelHandles>,
    /// Indexed by tenant.
    tenant_tokens: Vec<Counter>,
    /// Indexed by [`budget_index`].
    budgets: Vec<TenantBudget>,
}

impl AbacusMetrics {
    pub(crate) fn register(tenants: &Tenants) -> Result<(Self, Render), StartError> {
        let registry = Registry::new();
        let inference = InferenceMetrics::new(&registry, InferenceMetrics::DEFAULT_PREFIX)?;
        // The system clock: a live gateway's budgets run on the time of day.
        let budgets = Budgets::builder(BudgetConfig {
            period: Period::Daily,
            limit: BUDGET_LIMIT,
            thresholds: BUDGET_THRESHOLDS.to_vec(),
            enforce: false,
        })
        .build(&inference)?;
        let mut pricing = Pricing::builder(CURRENCY, Price::per_million(0.0, 0.0));
        for model in MODELS {
            pricing = pricing.model(
                model.name,
                Price::per_million(model.input_price, model.output_price),
            );
        }
        let costs = Costs::new(&inference, pricing.build()?);
        let scope = Scope::service(NAMESPACE, SERVICE);

        let requests_family =
            registry.counter(Desc::new(REQUESTS.0, REQUESTS.1).labels(["route", "status"]))?;
        let input_family = registry
            .counter(Desc::new(INPUT_TOKENS.0, INPUT_TOKENS.1).labels(["route", "model"]))?;
        let output_family = registry
            .counter(Desc::new(OUTPUT_TOKENS.0, OUTPUT_TOKENS.1).labels(["route", "model"]))?;
        let cost_family = registry.fixed_counter(
            Desc::new(COST.0, COST.1).labels(["route", "model", "currency"]),
            COST_DECIMALS,
        )?;
        let cost_per_request_family = registry.histogram(
            Desc::new(COST_PER_REQUEST.0, COST_PER_REQUEST.1).labels(["route", "model"]),
            Buckets::new(COST_BUCKETS)?,
        )?;
        let duration_family = registry.histogram(
            Desc::new(DURATION.0, DURATION.1).labels(["route"]),
            Buckets::new(DURATION_BUCKETS)?,
        )?;
        let tenant_family =
            registry.counter(Desc::new(TENANT_TOKENS.0, TENANT_TOKENS.1).labels(["tenant"]))?;

        let mut requests = Vec::new();
        for route in ROUTES {
            for status in STATUSES {
                requests.push(requests_family.with_labels(&[route, status])?);
            }
        }
        let duration = ROUTES
            .iter()
            .map(|route| duration_family.with_labels(&[route]))
            .collect::<Result<_, _>>()?;
        let mut models = Vec::new();
        for (route, model) in served_pairs() {
            let (route, name) = (ROUTES[route], model.name);
            models.push(ModelHandles {
                input_tokens: input_family.with_labels(&[route, name])?,
                output_tokens: output_family.with_labels(&[route, name])?,
                cost: cost_family.with_labels(&[route, name, CURRENCY])?,
                cost_per_request: cost_per_request_family.with_labels(&[route, name])?,
                inference: costs.resolve(&scope, route, name)?,
            });
        }
        let tenant_tokens = (0..TENANTS)
            .map(|tenant| tenant_family.with_labels(&[tenants.name(tenant)]))
            .collect::<Result<_, _>>()?;
        let mut budget_handles = Vec::new();
        for route in ROUTES {
            for tenant in 0..TENANTS {
                budget_handles.push(budgets.resolve(&scope, route, tenants.name(tenant))?);
            }
        }
        let mut encoder = TextEncoder::new();
        let render: Render = Box::new(move |out: &mut Vec<u8>| {
            encoder.encode_as(&registry, Format::Text, out);
            Ok(())
        });
        let metrics = AbacusMetrics {
            requests,
            duration,
            models,
            tenant_tokens,
            budgets: budget_handles,
        };
        Ok((metrics, render))
    }

    #[inline]
    pub(crate) fn check(&self, call: &Call) -> Instant {
        // Not enforced: the decision never stops a request, so the totals stay exact.
        let _decision = self.budgets[budget_index(call.route, call.tenant)].check();
        Instant::now()
    }

    #[inline]
    pub(crate) fn record(&self, call: &Call, started: Instant, answer: &Answer) {
        let seconds = started.elapsed().as_secs_f64();
        self.requests[call.route * STATUSES.len() + answer.status].inc();
        self.duration[call.route].observe(seconds);
        if !answer.served() {
            return;
        }
        let (input, output) = (answer.input_tokens, answer.output_tokens);
        self.budgets[budget_index(call.route, call.tenant)].record_usage(input + output);
        let model = &self.models[call.model];
        model.inference.record(input, output);
        let cost = cost_usd(&MODELS[call.model], input, output);
        model.input_tokens.add(input);
        model.output_tokens.add(output);
        model.cost.add(cost);
        model.cost_per_request.observe(cost);
        self.tenant_tokens[call.tenant].add(input + output);
    }
}
