//! The cost of a model on a route, priced once and recorded through resolved handles.

use std::fmt;
use std::sync::Arc;

use abacus::{Counter, FixedCounter, Histogram};

use crate::pricing::Rate;
use crate::{Cost, InferenceMetrics, Price, Pricing, Scope};

/// A pricing attached to the families: [`resolve`](Self::resolve) prices a model once and
/// returns the handles its requests record through. Cloning shares it.
#[derive(Clone, Debug)]
pub struct Costs {
    metrics: InferenceMetrics,
    pricing: Arc<Pricing>,
}

impl Costs {
    /// Records costs at `pricing` into `metrics`.
    pub fn new(metrics: &InferenceMetrics, pricing: Pricing) -> Self {
        Costs {
            metrics: metrics.clone(),
            pricing: Arc::new(pricing),
        }
    }

    /// The pricing.
    pub fn pricing(&self) -> &Pricing {
        &self.pricing
    }

    /// The cost recorder of `model` on `route` in `scope`: the model's price and the
    /// series of its cost, tokens and cost per request.
    ///
    /// This looks the price and the series up: resolve once, keep the handle.
    ///
    /// # Errors
    ///
    /// The errors of [`abacus::Family::with_labels`] for label values no series can hold.
    pub fn resolve(
        &self,
        scope: &Scope,
        route: &str,
        model: &str,
    ) -> Result<ModelCost, abacus::Error> {
        let [namespace, service] = scope.label_values();
        let labels = [namespace, service, route, model];
        let currency = self.pricing.currency();
        let price = self.pricing.price_of(model);
        let metrics = &self.metrics;
        Ok(ModelCost {
            inner: Arc::new(Inner {
                price: price.price,
                rate: price.rate,
                cost: metrics
                    .cost
                    .with_labels(&[namespace, service, route, model, currency])?,
                input_tokens: metrics.input_tokens.with_labels(&labels)?,
                output_tokens: metrics.output_tokens.with_labels(&labels)?,
                cost_per_request: metrics.cost_per_request.with_labels(&labels)?,
                model: model.into(),
                currency: currency.into(),
            }),
        })
    }
}

/// The cost of one model on one route in one scope, from [`Costs::resolve`]. Cloning
/// shares it; recording is lock-free and allocation-free.
#[derive(Clone)]
pub struct ModelCost {
    inner: Arc<Inner>,
}

struct Inner {
    price: Price,
    rate: Rate,
    cost: FixedCounter,
    input_tokens: Counter,
    output_tokens: Counter,
    cost_per_request: Histogram,
    model: Box<str>,
    currency: Box<str>,
}

impl ModelCost {
    /// Prices a request and records it: adds its cost (exactly, in billionths), its input
    /// and output tokens, and observes its cost in the cost-per-request histogram.
    #[inline]
    pub fn record(&self, input_tokens: u64, output_tokens: u64) -> Cost<'_> {
        let inner = &*self.inner;
        let nanos = inner.rate.nanos(input_tokens, output_tokens);
        inner.cost.add_units(nanos);
        inner.input_tokens.add(input_tokens);
        inner.output_tokens.add(output_tokens);
        let cost = Cost {
            model: &inner.model,
            currency: &inner.currency,
            input_tokens,
            output_tokens,
            nanos,
        };
        inner.cost_per_request.observe(cost.amount());
        cost
    }

    /// The model's price.
    pub fn price(&self) -> Price {
        self.inner.price
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.inner.model
    }
}

impl fmt::Debug for ModelCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelCost")
            .field("model", &self.inner.model)
            .field("price", &self.inner.price)
            .finish_non_exhaustive()
    }
}
