//! The totals the replay must produce, summed straight from the trace's requests with
//! plain arithmetic, so that the self-check does not trust abacus to check abacus.

use std::collections::BTreeMap;

use crate::gateway::{
    route_of_model, BUDGET_LIMIT, BUDGET_THRESHOLDS, COST_BUCKETS, DURATION_BUCKETS, NAMESPACE,
    SERVICE,
};
use crate::trace::{tenant_name, Request, MODELS, ROUTES, STATUSES, TENANTS};

/// A series: its sample name and its labels, sorted by name.
pub(crate) type SeriesKey = (String, Vec<(String, String)>);

/// How closely an observed value must match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Tolerance {
    Exact,
    /// Relative difference, for float sums whose order of addition differs.
    Relative(f64),
}

/// Expected sample values, by series.
#[derive(Debug, Default)]
pub(crate) struct Expected {
    pub(crate) samples: BTreeMap<SeriesKey, (f64, Tolerance)>,
}

fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// Running sums for one histogram series.
#[derive(Default)]
struct HistogramSums {
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl HistogramSums {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        self.buckets.resize(bounds.len(), 0);
        for (bucket, bound) in self.buckets.iter_mut().zip(bounds) {
            if value <= *bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += value;
    }

    fn emit(
        &self,
        out: &mut Expected,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        repeat: u64,
    ) {
        let rel = Tolerance::Relative(1e-9);
        let mut buckets = self.buckets.clone();
        buckets.resize(bounds.len(), 0);
        for (bound, count) in bounds.iter().zip(&buckets) {
            let le = bound.to_string();
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            out.insert(
                key(&format!("{name}_bucket"), &with_le),
                (count * repeat) as f64,
                Tolerance::Exact,
            );
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        let count = (self.count * repeat) as f64;
        out.insert(
            key(&format!("{name}_bucket"), &with_le),
            count,
            Tolerance::Exact,
        );
        out.insert(
            key(&format!("{name}_count"), labels),
            count,
            Tolerance::Exact,
        );
        out.insert(
            key(&format!("{name}_sum"), labels),
            self.sum * repeat as f64,
            rel,
        );
    }
}

impl Expected {
    fn insert(&mut self, key: SeriesKey, value: f64, tolerance: Tolerance) {
        self.samples.insert(key, (value, tolerance));
    }

    /// What the registry must hold after `repeat` replays of `requests`: every series the
    /// gateway resolves, at zero where the trace gives it no traffic. `with_inference` adds
    /// the budget and cost families that abacus-inference records (the prometheus
    /// backend, which stands in for the original gateway, has only the `gateway_*` ones).
    pub(crate) fn from_requests(requests: &[Request], repeat: u64, with_inference: bool) -> Self {
        let mut by_status = [[0u64; STATUSES.len()]; ROUTES.len()];
        let mut input = [0u64; MODELS.len()];
        let mut output = [0u64; MODELS.len()];
        let mut cost = [0f64; MODELS.len()];
        let mut cost_hist: [HistogramSums; MODELS.len()] = Default::default();
        let mut duration_hist: [HistogramSums; ROUTES.len()] = Default::default();
        let mut tenants = [0u64; TENANTS];
        let mut budget_used = [[0u64; TENANTS]; ROUTES.len()];
        let mut cost_nanos = [0u64; MODELS.len()];
        let mut nanos_hist: [HistogramSums; MODELS.len()] = Default::default();
        for r in requests {
            by_status[r.route][r.status] += 1;
            duration_hist[r.route].observe(&DURATION_BUCKETS, r.duration);
            if r.status != 0 {
                continue;
            }
            input[r.model] += r.input_tokens;
            output[r.model] += r.output_tokens;
            cost[r.model] += r.cost;
            cost_hist[r.model].observe(&COST_BUCKETS, r.cost);
            tenants[r.tenant] += r.input_tokens + r.output_tokens;
            budget_used[r.route][r.tenant] += r.input_tokens + r.output_tokens;
            // abacus-inference prices in whole nano-dollars per token, exactly.
            let model = &MODELS[r.model];
            let nanos = r.input_tokens * nanos_per_token(model.input_price)
                + r.output_tokens * nanos_per_token(model.output_price);
            cost_nanos[r.model] += nanos;
            nanos_hist[r.model].observe(&COST_BUCKETS, nanos as f64 / 1e9);
        }

        let mut out = Expected::default();
        let exact = Tolerance::Exact;
        for (route, counts) in ROUTES.iter().zip(by_status) {
            for (status, count) in STATUSES.iter().zip(counts) {
                let labels = [("route", *route), ("status", *status)];
                let value = (count * repeat) as f64;
                out.insert(key("gateway_requests_total", &labels), value, exact);
            }
        }
        for (m, model) in MODELS.iter().enumerate() {
            let route = ROUTES[route_of_model(m)];
            let labels = [("route", route), ("model", model.name)];
            out.insert(
                key("gateway_input_tokens_total", &labels),
                (input[m] * repeat) as f64,
                exact,
            );
            out.insert(
                key("gateway_output_tokens_total", &labels),
                (output[m] * repeat) as f64,
                exact,
            );
            let cost_labels = [("route", route), ("model", model.name), ("currency", "USD")];
            out.insert(
                key("gateway_cost_total", &cost_labels),
                cost[m] * repeat as f64,
                Tolerance::Relative(1e-9),
            );
            cost_hist[m].emit(
                &mut out,
                "gateway_cost_per_request_usd",
                &labels,
                &COST_BUCKETS,
                repeat,
            );
        }
        for (r, route) in ROUTES.iter().enumerate() {
            duration_hist[r].emit(
                &mut out,
                "gateway_request_duration_seconds",
                &[("route", route)],
                &DURATION_BUCKETS,
                repeat,
            );
        }
        for (tenant, tokens) in tenants.into_iter().enumerate() {
            let name = tenant_name(tenant);
            out.insert(
                key("gateway_tenant_tokens_total", &[("tenant", &name)]),
                (tokens * repeat) as f64,
                exact,
            );
        }
        if !with_inference {
            return out;
        }
        out.insert_budgets(&budget_used, repeat);
        for (m, model) in MODELS.iter().enumerate() {
            let labels = [
                ("namespace", NAMESPACE),
                ("service", SERVICE),
                ("route", ROUTES[route_of_model(m)]),
                ("model", model.name),
            ];
            let name = |family: &str| format!("sentinel_inference_{family}");
            out.insert(
                key(&name("input_tokens_total"), &labels),
                (input[m] * repeat) as f64,
                exact,
            );
            out.insert(
                key(&name("output_tokens_total"), &labels),
                (output[m] * repeat) as f64,
                exact,
            );
            let mut cost_labels = labels.to_vec();
            cost_labels.push(("currency", "USD"));
            out.insert(
                key(&name("cost_total"), &cost_labels),
                (cost_nanos[m] * repeat) as f64 / 1e9,
                Tolerance::Relative(1e-9),
            );
            nanos_hist[m].emit(
                &mut out,
                &name("cost_per_request"),
                &labels,
                &COST_BUCKETS,
                repeat,
            );
        }
        out
    }

    /// The budget families: one budget per route and tenant, all in one daily period since
    /// the trace spans an hour of one day and every replay repeats its timestamps.
    fn insert_budgets(&mut self, used_per_replay: &[[u64; TENANTS]; ROUTES.len()], repeat: u64) {
        let exact = Tolerance::Exact;
        for (route, per_tenant) in ROUTES.iter().zip(used_per_replay) {
            for (tenant, used) in per_tenant.iter().enumerate() {
                let used = used * repeat;
                let tenant = tenant_name(tenant);
                let labels = [
                    ("namespace", NAMESPACE),
                    ("service", SERVICE),
                    ("route", *route),
                    ("tenant", tenant.as_str()),
                ];
                let name = |family: &str| format!("sentinel_inference_budget_{family}");
                let limit = BUDGET_LIMIT as f64;
                self.insert(key(&name("limit"), &labels), limit, exact);
                self.insert(key(&name("used_total"), &labels), used as f64, exact);
                self.insert(key(&name("remaining"), &labels), limit - used as f64, exact);
                // Not enforced: over the limit a check says soft-limited, never exhausted.
                self.insert(key(&name("exhausted_total"), &labels), 0.0, exact);
                for threshold in BUDGET_THRESHOLDS {
                    let percent = format!("{}", (threshold * 100.0).round());
                    let mut with_threshold = labels.to_vec();
                    with_threshold.push(("threshold", &percent));
                    // Fires once, when usage reaches the threshold's share of the limit.
                    let fired = used as f64 >= threshold * limit;
                    let alerts = if fired { 1.0 } else { 0.0 };
                    self.insert(key(&name("alerts_total"), &with_threshold), alerts, exact);
                }
            }
        }
    }
}

/// A list price in USD per million tokens as whole nano-dollars per token.
fn nanos_per_token(usd_per_million: f64) -> u64 {
    (usd_per_million * 1_000.0).round() as u64
}
