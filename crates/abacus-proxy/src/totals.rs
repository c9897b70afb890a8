//! The totals check: what the load generator counted as it sent requests and read their
//! answers, turned into the samples every recording backend must expose, and compared
//! with what the proxy's `/metrics` says. The sums are plain arithmetic over the trace
//! rows that were answered, so the check does not trust any backend to check itself.

use std::collections::BTreeMap;

use crate::families::{
    cost_nanos, inference, served_pairs, threshold_tokens, BUDGET_LIMIT, COST, COST_BUCKETS,
    COST_PER_REQUEST, CURRENCY, DURATION, DURATION_BUCKETS, INPUT_TOKENS, NAMESPACE, OUTPUT_TOKENS,
    REQUESTS, SERVICE, TENANT_TOKENS, THRESHOLD_LABELS,
};
use crate::trace::{tenant_name, Request, MODELS, ROUTES, STATUSES, TENANTS};

/// What the load generator sent and had answered as the trace says.
#[derive(Clone, Debug)]
pub(crate) struct Tally {
    /// By route and status.
    requests: [[u64; STATUSES.len()]; ROUTES.len()],
    input: [u64; MODELS.len()],
    output: [u64; MODELS.len()],
    cost: [Sums; MODELS.len()],
    inference_cost: [Sums; MODELS.len()],
    inference_nanos: [u64; MODELS.len()],
    tenant_tokens: [u64; TENANTS],
    /// By route and tenant.
    budget_used: [[u64; TENANTS]; ROUTES.len()],
}

/// Sums and bucket counts of one cost-per-request histogram.
#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    count: u64,
    sum: f64,
    /// Requests at or below each of [`COST_BUCKETS`].
    at_or_below: [u64; COST_BUCKETS.len()],
}

impl Sums {
    fn observe(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        for (count, bound) in self.at_or_below.iter_mut().zip(COST_BUCKETS) {
            *count += u64::from(value <= bound);
        }
    }

    fn merge(&mut self, other: &Sums) {
        self.count += other.count;
        self.sum += other.sum;
        for (mine, theirs) in self.at_or_below.iter_mut().zip(other.at_or_below) {
            *mine += theirs;
        }
    }
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            requests: Default::default(),
            input: Default::default(),
            output: Default::default(),
            cost: Default::default(),
            inference_cost: Default::default(),
            inference_nanos: Default::default(),
            tenant_tokens: [0; TENANTS],
            budget_used: [[0; TENANTS]; ROUTES.len()],
        }
    }
}

impl Tally {
    /// Counts one answered request of `row`.
    pub(crate) fn add(&mut self, row: &Request) {
        self.requests[row.route][row.status] += 1;
        if !row.served() {
            return;
        }
        let tokens = row.input_tokens + row.output_tokens;
        self.input[row.model] += row.input_tokens;
        self.output[row.model] += row.output_tokens;
        self.cost[row.model].observe(row.cost);
        let nanos = cost_nanos(&MODELS[row.model], row.input_tokens, row.output_tokens);
        self.inference_nanos[row.model] += nanos;
        self.inference_cost[row.model].observe(nanos as f64 / 1e9);
        self.tenant_tokens[row.tenant] += tokens;
        self.budget_used[row.route][row.tenant] += tokens;
    }

    pub(crate) fn merge(&mut self, other: &Tally) {
        for (mine, theirs) in self.requests.iter_mut().zip(&other.requests) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        for m in 0..MODELS.len() {
            self.input[m] += other.input[m];
            self.output[m] += other.output[m];
            self.cost[m].merge(&other.cost[m]);
            self.inference_cost[m].merge(&other.inference_cost[m]);
            self.inference_nanos[m] += other.inference_nanos[m];
        }
        for (a, b) in self.tenant_tokens.iter_mut().zip(other.tenant_tokens) {
            *a += b;
        }
        for (mine, theirs) in self.budget_used.iter_mut().zip(&other.budget_used) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
    }

    /// Requests answered.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.iter().flatten().sum()
    }

    /// Input plus output tokens of the served requests.
    pub(crate) fn tokens(&self) -> u64 {
        self.input.iter().sum::<u64>() + self.output.iter().sum::<u64>()
    }
}

/// A series: its sample name and its labels, sorted by name.
pub(crate) type SeriesKey = (String, Vec<(String, String)>);

/// How closely an observed value must match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Tolerance {
    Exact,
    /// Relative difference, for float sums added in another order.
    Relative(f64),
    /// Present with any value: the proxy's own measurements (durations).
    Any,
}

/// Expected samples, by series.
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
    normalize((name.to_owned(), labels))
}

/// `le` bounds are compared as numbers: `1.0`, `1` and `1e0` are the same bucket.
fn normalize(mut key: SeriesKey) -> SeriesKey {
    for (name, value) in &mut key.1 {
        if name == "le" {
            if let Ok(bound) = value.replace("+Inf", "inf").parse::<f64>() {
                *value = bound.to_string();
            }
        }
    }
    key
}

const SUM_TOLERANCE: Tolerance = Tolerance::Relative(1e-9);

impl Expected {
    fn insert(&mut self, name: &str, labels: &[(&str, &str)], value: f64, tolerance: Tolerance) {
        self.samples.insert(key(name, labels), (value, tolerance));
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], sums: &Sums) {
        for (bound, count) in COST_BUCKETS.iter().zip(sums.at_or_below) {
            let le = bound.to_string();
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.insert(
                &format!("{name}_bucket"),
                &with_le,
                count as f64,
                Tolerance::Exact,
            );
        }
        self.counts(name, labels, sums.count);
        self.insert(&format!("{name}_sum"), labels, sums.sum, SUM_TOLERANCE);
    }

    /// The `+Inf` bucket and the count of a histogram.
    fn counts(&mut self, name: &str, labels: &[(&str, &str)], count: u64) {
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        let count = count as f64;
        self.insert(&format!("{name}_bucket"), &with_le, count, Tolerance::Exact);
        self.insert(&format!("{name}_count"), labels, count, Tolerance::Exact);
    }

    /// What a recording backend must expose after the requests of `tally`, and nothing
    /// else. `one_period` says that every request fell on one UTC day, the budgets' period:
    /// only then are the remaining tokens and the alerts known from the totals alone.
    pub(crate) fn recorded(tally: &Tally, one_period: bool) -> Self {
        let mut out = Expected::default();
        let exact = Tolerance::Exact;
        for (r, route) in ROUTES.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let labels = [("route", *route), ("status", *status)];
                out.insert(REQUESTS.0, &labels, tally.requests[r][s] as f64, exact);
            }
            // The durations are the proxy's own measurements: their count is known, their
            // buckets and sum are not.
            let labels = [("route", *route)];
            out.counts(DURATION.0, &labels, tally.requests[r].iter().sum());
            for bound in DURATION_BUCKETS {
                let le = bound.to_string();
                let with_le = [("route", *route), ("le", le.as_str())];
                out.insert(
                    &format!("{}_bucket", DURATION.0),
                    &with_le,
                    0.0,
                    Tolerance::Any,
                );
            }
            out.insert(&format!("{}_sum", DURATION.0), &labels, 0.0, Tolerance::Any);
        }
        for (m, (route, model)) in served_pairs().enumerate() {
            let route = ROUTES[route];
            let labels = [("route", route), ("model", model.name)];
            out.insert(INPUT_TOKENS.0, &labels, tally.input[m] as f64, exact);
            out.insert(OUTPUT_TOKENS.0, &labels, tally.output[m] as f64, exact);
            let cost_labels = [
                ("route", route),
                ("model", model.name),
                ("currency", CURRENCY),
            ];
            out.insert(COST.0, &cost_labels, tally.cost[m].sum, SUM_TOLERANCE);
            out.histogram(COST_PER_REQUEST.0, &labels, &tally.cost[m]);

            let labels = [
                ("namespace", NAMESPACE),
                ("service", SERVICE),
                ("route", route),
                ("model", model.name),
            ];
            out.insert(
                inference::INPUT_TOKENS.0,
                &labels,
                tally.input[m] as f64,
                exact,
            );
            out.insert(
                inference::OUTPUT_TOKENS.0,
                &labels,
                tally.output[m] as f64,
                exact,
            );
            let mut cost_labels = labels.to_vec();
            cost_labels.push(("currency", CURRENCY));
            let nanos = tally.inference_nanos[m] as f64 / 1e9;
            out.insert(inference::COST.0, &cost_labels, nanos, SUM_TOLERANCE);
            out.histogram(
                inference::COST_PER_REQUEST.0,
                &labels,
                &tally.inference_cost[m],
            );
        }
        for tenant in 0..TENANTS {
            let name = tenant_name(tenant);
            let tokens = tally.tenant_tokens[tenant] as f64;
            out.insert(TENANT_TOKENS.0, &[("tenant", &name)], tokens, exact);
        }
        out.budgets(tally, one_period);
        out
    }

    fn budgets(&mut self, tally: &Tally, one_period: bool) {
        let exact = Tolerance::Exact;
        let within_period = if one_period { exact } else { Tolerance::Any };
        let limit = BUDGET_LIMIT as f64;
        for (route, used_by_tenant) in ROUTES.iter().zip(&tally.budget_used) {
            for (tenant, &used) in used_by_tenant.iter().enumerate() {
                let tenant = tenant_name(tenant);
                let labels = [
                    ("namespace", NAMESPACE),
                    ("service", SERVICE),
                    ("route", *route),
                    ("tenant", tenant.as_str()),
                ];
                self.insert(inference::BUDGET_LIMIT.0, &labels, limit, exact);
                self.insert(inference::BUDGET_USED.0, &labels, used as f64, exact);
                let remaining = limit - used as f64;
                self.insert(
                    inference::BUDGET_REMAINING.0,
                    &labels,
                    remaining,
                    within_period,
                );
                // Not enforced: no request is ever refused for its budget.
                self.insert(inference::BUDGET_EXHAUSTED.0, &labels, 0.0, exact);
                for (label, tokens) in THRESHOLD_LABELS.iter().zip(threshold_tokens()) {
                    let mut with_threshold = labels.to_vec();
                    with_threshold.push(("threshold", label));
                    // Fires once, when the day's usage reaches the threshold.
                    let fired = f64::from(u8::from(used >= tokens));
                    self.insert(
                        inference::BUDGET_ALERTS.0,
                        &with_threshold,
                        fired,
                        within_period,
                    );
                }
            }
        }
    }
}

/// Compares the gateway's series (`gateway_*` and `sentinel_*`) of an exposition in the
/// text format with the expected ones. Returns one line per mismatch, missing series or
/// unexpected series; empty means the check passed.
pub(crate) fn compare(exposition: &str, expected: &Expected) -> Result<Vec<String>, String> {
    let samples = abacus_prometheus::parse::parse_text(exposition)
        .map_err(|e| format!("parsing /metrics: {e}"))?;
    let mut observed: BTreeMap<SeriesKey, f64> = BTreeMap::new();
    for sample in samples {
        if !sample.name.starts_with("gateway_") && !sample.name.starts_with("sentinel_") {
            continue;
        }
        let mut labels = sample.labels;
        labels.sort();
        let key = normalize((sample.name, labels));
        if observed.insert(key.clone(), sample.value).is_some() {
            return Err(format!("/metrics has the series {key:?} twice"));
        }
    }
    let mut problems = Vec::new();
    for (key, (want, tolerance)) in &expected.samples {
        let Some(got) = observed.remove(key) else {
            problems.push(format!("missing {key:?}: expected {want}"));
            continue;
        };
        let ok = match tolerance {
            Tolerance::Exact => got == *want,
            Tolerance::Relative(rel) => {
                (got - want).abs() <= rel * want.abs().max(f64::MIN_POSITIVE)
            }
            Tolerance::Any => got.is_finite(),
        };
        if !ok {
            problems.push(format!("{key:?}: expected {want}, got {got}"));
        }
    }
    for (key, value) in observed {
        problems.push(format!("unexpected series {key:?} = {value}"));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{request, TraceKind};

    fn tally() -> Tally {
        let mut tally = Tally::default();
        for row in [
            request(TraceKind::Code, 0, 100, 10),
            request(TraceKind::Conversation, 0, 2_000, 300),
            request(TraceKind::Conversation, 1, 5_000, 10),
            request(TraceKind::Conversation, 0, 2_000, 300),
        ] {
            tally.add(&row);
        }
        tally
    }

    /// The expected samples written out as exposition lines.
    fn exposition_of(expected: &Expected) -> Vec<String> {
        expected
            .samples
            .iter()
            .map(|((name, labels), (value, _))| {
                let labels: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| {
                        let v = if v == "inf" { "+Inf" } else { v };
                        format!("{k}=\"{v}\"")
                    })
                    .collect();
                format!("{name}{{{}}} {value}", labels.join(","))
            })
            .collect()
    }

    #[test]
    fn a_matching_exposition_passes_and_a_changed_one_does_not() {
        let expected = Expected::recorded(&tally(), true);
        let mut lines = exposition_of(&expected);
        let text = lines.join("\n") + "\n";
        assert_eq!(compare(&text, &expected), Ok(Vec::new()));

        let changed = lines
            .iter()
            .position(|l| l.starts_with("gateway_input_tokens_total{model=\"gpt-4o\""))
            .expect("an input tokens line");
        assert!(lines[changed].ends_with(" 4000"), "{}", lines[changed]);
        lines[changed] = lines[changed].replace(" 4000", " 4001");
        lines.retain(|l| !l.starts_with("sentinel_inference_budget_limit"));
        lines.push("gateway_requests_total{route=\"nope\",status=\"200\"} 1".to_owned());
        let problems = compare(&(lines.join("\n") + "\n"), &expected).expect("it parses");
        assert!(problems
            .iter()
            .any(|p| p.contains("expected 4000, got 4001")));
        assert_eq!(
            problems.iter().filter(|p| p.starts_with("missing")).count(),
            ROUTES.len() * TENANTS
        );
        assert!(problems.iter().any(|p| p.starts_with("unexpected")));
    }

    #[test]
    fn refused_requests_count_but_carry_no_tokens_or_budget() {
        let tally = tally();
        assert_eq!(tally.requests(), 4);
        assert_eq!(tally.tokens(), 110 + 2 * 2_300);
        let expected = Expected::recorded(&tally, true);
        let refused = key(REQUESTS.0, &[("route", "chat"), ("status", "400")]);
        assert_eq!(expected.samples[&refused].0, 1.0);
    }

    #[test]
    fn an_empty_expectation_flags_any_recorded_series() {
        let problems = compare(
            "gateway_requests_total{route=\"chat\"} 0\n",
            &Expected::default(),
        );
        assert_eq!(problems.map(|p| p.len()), Ok(1));
    }

    #[test]
    fn merged_tallies_equal_one_tally_of_everything() {
        let mut merged = tally();
        merged.merge(&tally());
        let mut once = tally();
        for row in [
            request(TraceKind::Code, 0, 100, 10),
            request(TraceKind::Conversation, 0, 2_000, 300),
            request(TraceKind::Conversation, 1, 5_000, 10),
            request(TraceKind::Conversation, 0, 2_000, 300),
        ] {
            once.add(&row);
        }
        let (a, b) = (
            Expected::recorded(&merged, true),
            Expected::recorded(&once, true),
        );
        assert_eq!(format!("{:?}", a.samples), format!("{:?}", b.samples));
    }
}
