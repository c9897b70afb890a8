//! The same families through the `metrics` facade's macros: what a gateway written for
//! `metrics-exporter-prometheus` does (`--metrics facade`), and the same code after it
//! switched its recorder to `abacus-metrics` (`--metrics abacus-facade`). Every update is
//! a `counter!`, `gauge!` or `histogram!` call with its label values, so each one builds
//! its key and has the recorder find the series, as such a gateway would. The budget words
//! and prices are the gateway's own state, as in the `prometheus` backend.
//!
//! `metrics` counters count whole numbers, so both cost totals are gauges here (a float
//! total is a gauge's `increment`), with the same values as in the other backends.

use std::time::{Duration, Instant};

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

use super::budget_word::{crossed, today, BudgetWord};
use super::{Answer, Backend, Call, Render};
use crate::families::inference::{
    BUDGET_ALERTS, BUDGET_EXHAUSTED, BUDGET_LIMIT, BUDGET_REMAINING, BUDGET_USED,
    COST as INFERENCE_COST, COST_PER_REQUEST as INFERENCE_COST_PER_REQUEST,
    INPUT_TOKENS as INFERENCE_INPUT, OUTPUT_TOKENS as INFERENCE_OUTPUT,
};
use crate::families::{
    budget_index, cost_nanos, cost_usd, served_pairs, COST, COST_BUCKETS, COST_PER_REQUEST,
    CURRENCY, DURATION, DURATION_BUCKETS, INPUT_TOKENS, NAMESPACE, OUTPUT_TOKENS, REQUESTS,
    SERVICE, TENANT_TOKENS, THRESHOLD_LABELS,
};
use crate::trace::{MODELS, ROUTES, STATUSES, TENANTS};
use crate::wire::Tenants;

/// How often `metrics-exporter-prometheus`'s histograms are drained when nobody scrapes:
/// its own listener's default upkeep interval.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The gateway's state beside the macros: the budget words and the tenants' names.
pub(crate) struct FacadeMetrics {
    /// Indexed by [`budget_index`].
    words: Vec<BudgetWord>,
    tenant_names: Vec<&'static str>,
}

/// The histograms and their buckets, for both recorders' builders.
const HISTOGRAMS: [(&str, &[f64]); 3] = [
    (COST_PER_REQUEST.0, &COST_BUCKETS),
    (DURATION.0, &DURATION_BUCKETS),
    (INFERENCE_COST_PER_REQUEST.0, &COST_BUCKETS),
];

fn install_exporter_prometheus() -> Result<Render, Box<dyn std::error::Error>> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in HISTOGRAMS {
        builder = builder.set_buckets_for_metric(Matcher::Full(name.into()), buckets)?;
    }
    let handle = builder.install_recorder()?;
    // Without its own listener the recorder relies on its user for upkeep, which drains
    // the histograms' pending samples; its listener would run this every 5 s.
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            upkeep.run_upkeep();
        })?;
    Ok(Box::new(move |out: &mut Vec<u8>| {
        handle.render_to_write(out)
    }))
}

fn install_abacus_metrics() -> Result<Render, Box<dyn std::error::Error>> {
    use abacus_metrics::{Matcher, PrometheusBuilder};
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in HISTOGRAMS {
        builder = builder.set_buckets_for_metric(Matcher::Full(name.into()), buckets)?;
    }
    let handle = builder.install_recorder()?;
    let mut encoder = abacus_prometheus::TextEncoder::new();
    Ok(Box::new(move |out: &mut Vec<u8>| {
        encoder.encode_as(handle.registry(), abacus_prometheus::Format::Text, out);
        Ok(())
    }))
}

impl FacadeMetrics {
    /// Installs the recorder of `backend` globally, describes the families and creates
    /// every series the abacus backend resolves.
    pub(crate) fn install(
        backend: Backend,
        tenants: &Tenants,
    ) -> Result<(Self, Render), Box<dyn std::error::Error>> {
        let render = if backend == Backend::Facade {
            install_exporter_prometheus()?
        } else {
            install_abacus_metrics()?
        };
        describe_counter!(REQUESTS.0, REQUESTS.1);
        describe_counter!(INPUT_TOKENS.0, INPUT_TOKENS.1);
        describe_counter!(OUTPUT_TOKENS.0, OUTPUT_TOKENS.1);
        describe_gauge!(COST.0, COST.1);
        describe_histogram!(COST_PER_REQUEST.0, COST_PER_REQUEST.1);
        describe_histogram!(DURATION.0, DURATION.1);
        describe_counter!(TENANT_TOKENS.0, TENANT_TOKENS.1);
        describe_gauge!(BUDGET_LIMIT.0, BUDGET_LIMIT.1);
        describe_counter!(BUDGET_USED.0, BUDGET_USED.1);
        describe_gauge!(BUDGET_REMAINING.0, BUDGET_REMAINING.1);
        describe_counter!(BUDGET_EXHAUSTED.0, BUDGET_EXHAUSTED.1);
        describe_counter!(BUDGET_ALERTS.0, BUDGET_ALERTS.1);
        describe_gauge!(INFERENCE_COST.0, INFERENCE_COST.1);
        describe_counter!(INFERENCE_INPUT.0, INFERENCE_INPUT.1);
        describe_counter!(INFERENCE_OUTPUT.0, INFERENCE_OUTPUT.1);
        describe_histogram!(INFERENCE_COST_PER_REQUEST.0, INFERENCE_COST_PER_REQUEST.1);
        let metrics = FacadeMetrics {
            words: (0..ROUTES.len() * TENANTS)
                .map(|_| BudgetWord::default())
                .collect(),
            tenant_names: (0..TENANTS).map(|tenant| tenants.name(tenant)).collect(),
        };
        metrics.create_series();
        Ok((metrics, render))
    }

    /// Registering a key creates its series at zero; the budgets start at their limit.
    fn create_series(&self) {
        let (ns, sv) = (NAMESPACE, SERVICE);
        for route in ROUTES {
            for status in STATUSES {
                let _ = counter!(REQUESTS.0, "route" => route, "status" => status);
            }
            let _ = histogram!(DURATION.0, "route" => route);
        }
        for (route, model) in served_pairs() {
            let (route, model) = (ROUTES[route], model.name);
            let _ = counter!(INPUT_TOKENS.0, "route" => route, "model" => model);
            let _ = counter!(OUTPUT_TOKENS.0, "route" => route, "model" => model);
            let _ = gauge!(COST.0, "route" => route, "model" => model, "currency" => CURRENCY);
            let _ = histogram!(COST_PER_REQUEST.0, "route" => route, "model" => model);
            let _ = gauge!(INFERENCE_COST.0, "namespace" => ns, "service" => sv,
                "route" => route, "model" => model, "currency" => CURRENCY);
            let _ = counter!(INFERENCE_INPUT.0, "namespace" => ns, "service" => sv,
                "route" => route, "model" => model);
            let _ = counter!(INFERENCE_OUTPUT.0, "namespace" => ns, "service" => sv,
                "route" => route, "model" => model);
            let _ = histogram!(INFERENCE_COST_PER_REQUEST.0, "namespace" => ns,
                "service" => sv, "route" => route, "model" => model);
        }
        let limit = crate::families::BUDGET_LIMIT as f64;
        for &tenant in &self.tenant_names {
            let _ = counter!(TENANT_TOKENS.0, "tenant" => tenant);
            for route in ROUTES {
                gauge!(BUDGET_LIMIT.0, "namespace" => ns, "service" => sv,
                    "route" => route, "tenant" => tenant)
                .set(limit);
                gauge!(BUDGET_REMAINING.0, "namespace" => ns, "service" => sv,
                    "route" => route, "tenant" => tenant)
                .set(limit);
                let _ = counter!(BUDGET_USED.0, "namespace" => ns, "service" => sv,
                    "route" => route, "tenant" => tenant);
                let _ = counter!(BUDGET_EXHAUSTED.0, "namespace" => ns, "service" => sv,
                    "route" => route, "tenant" => tenant);
                for threshold in THRESHOLD_LABELS {
                    let _ = counter!(BUDGET_ALERTS.0, "namespace" => ns, "service" => sv,
                        "route" => route, "tenant" => tenant, "threshold" => threshold);
                }
            }
        }
    }

    #[inline]
    pub(crate) fn check(&self, call: &Call) -> Instant {
        let (route, tenant) = (ROUTES[call.route], self.tenant_names[call.tenant]);
        let (_used, remaining_delta) =
            self.words[budget_index(call.route, call.tenant)].enter(today());
        if remaining_delta != 0 {
            gauge!(BUDGET_REMAINING.0, "namespace" => NAMESPACE, "service" => SERVICE,
                "route" => route, "tenant" => tenant)
            .increment(remaining_delta as f64);
        }
        gauge!(BUDGET_LIMIT.0, "namespace" => NAMESPACE, "service" => SERVICE,
            "route" => route, "tenant" => tenant)
        .set(crate::families::BUDGET_LIMIT as f64);
        // Not enforced: an exhausted budget lets the request through, counting nothing.
        Instant::now()
    }

    #[inline]
    pub(crate) fn record(&self, call: &Call, started: Instant, answer: &Answer) {
        let seconds = started.elapsed().as_secs_f64();
        let route = ROUTES[call.route];
        let status = STATUSES[answer.status];
        counter!(REQUESTS.0, "route" => route, "status" => status).increment(1);
        histogram!(DURATION.0, "route" => route).record(seconds);
        if !answer.served() {
            return;
        }
        let (input, output) = (answer.input_tokens, answer.output_tokens);
        let tenant = self.tenant_names[call.tenant];
        let (ns, sv) = (NAMESPACE, SERVICE);
        let step = self.words[budget_index(call.route, call.tenant)].add(today(), input + output);
        counter!(BUDGET_USED.0, "namespace" => ns, "service" => sv,
            "route" => route, "tenant" => tenant)
        .increment(input + output);
        gauge!(BUDGET_REMAINING.0, "namespace" => ns, "service" => sv,
            "route" => route, "tenant" => tenant)
        .increment(step.remaining_delta as f64);
        for threshold in crossed(&step) {
            counter!(BUDGET_ALERTS.0, "namespace" => ns, "service" => sv, "route" => route,
                "tenant" => tenant, "threshold" => THRESHOLD_LABELS[threshold])
            .increment(1);
        }
        let model = &MODELS[call.model];
        let name = model.name;
        let amount = cost_nanos(model, input, output) as f64 / 1e9;
        gauge!(INFERENCE_COST.0, "namespace" => ns, "service" => sv, "route" => route,
            "model" => name, "currency" => CURRENCY)
        .increment(amount);
        counter!(INFERENCE_INPUT.0, "namespace" => ns, "service" => sv, "route" => route,
            "model" => name)
        .increment(input);
        counter!(INFERENCE_OUTPUT.0, "namespace" => ns, "service" => sv, "route" => route,
            "model" => name)
        .increment(output);
        histogram!(INFERENCE_COST_PER_REQUEST.0, "namespace" => ns, "service" => sv,
            "route" => route, "model" => name)
        .record(amount);

        let cost = cost_usd(model, input, output);
        counter!(INPUT_TOKENS.0, "route" => route, "model" => name).increment(input);
        counter!(OUTPUT_TOKENS.0, "route" => route, "model" => name).increment(output);
        gauge!(COST.0, "route" => route, "model" => name, "currency" => CURRENCY).increment(cost);
        histogram!(COST_PER_REQUEST.0, "route" => route, "model" => name).record(cost);
        counter!(TENANT_TOKENS.0, "tenant" => tenant).increment(input + output);
    }
}
