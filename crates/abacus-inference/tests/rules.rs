//! The Prometheus rules in docs/inference: promtool accepts them, their unit tests pass on
//! series the crate really produces, and they name only families the crate exposes.

mod common;

use std::collections::BTreeSet;

use abacus::{Kind, Registry};
use abacus_inference::{
    BudgetConfig, Budgets, Costs, InferenceMetrics, Period, Price, Pricing, Scope,
};
use common::exposed_samples;
use common::ops::{docs_dir, metric_names, promtool_succeeds};

#[test]
fn promtool_accepts_the_rules() {
    let rules = docs_dir().join("rules.yml");
    let out = promtool_succeeds(&["check", "rules", rules.to_str().unwrap()]);
    assert!(out.contains("SUCCESS: 7 rules found"), "{out}");
}

#[test]
fn the_rules_fire_on_the_right_tenants_in_promtools_unit_tests() {
    let tests = docs_dir().join("rules_test.yml");
    let out = promtool_succeeds(&["test", "rules", tests.to_str().unwrap()]);
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Every series (name and labels, as `name{a="x",...}` with labels sorted) that the main
/// job's configuration produces for the routes, tenants and models of the unit tests.
fn main_job_series() -> BTreeSet<String> {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let budgets = Budgets::builder(BudgetConfig {
        period: Period::Daily,
        limit: 5_000_000,
        thresholds: vec![0.80, 0.90, 0.95],
        enforce: false,
    })
    .build(&metrics)
    .unwrap();
    let pricing = Pricing::builder("USD", Price::per_million(0.0, 0.0))
        .build()
        .unwrap();
    let costs = Costs::new(&metrics, pricing);
    let scope = Scope::service("ai", "gateway");
    for (route, tenant) in [
        ("code", "tenant-00"),
        ("code", "tenant-01"),
        ("code", "tenant-04"),
        ("chat", "tenant-00"),
        ("chat", "tenant-02"),
    ] {
        budgets.resolve(&scope, route, tenant).unwrap();
    }
    for (route, model) in [
        ("code", "gpt-4-turbo"),
        ("chat", "gpt-4o"),
        ("chat", "gpt-3.5-turbo"),
    ] {
        costs.resolve(&scope, route, model).unwrap();
    }

    let key = |name: String, mut labels: Vec<(String, String)>| {
        labels.sort();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{name}{{{}}}", labels.join(","))
    };
    let mut series = BTreeSet::new();
    for family in registry.snapshot().families {
        for s in &family.series {
            let labels: Vec<(String, String)> = family
                .label_names
                .iter()
                .cloned()
                .zip(s.labels.iter().cloned())
                .collect();
            match family.kind {
                Kind::Counter => {
                    series.insert(key(format!("{}_total", family.name), labels));
                }
                Kind::Gauge => {
                    series.insert(key(family.name.clone(), labels));
                }
                Kind::Histogram => {
                    let bounds = family.bounds.iter().map(|b| b.to_string());
                    for le in bounds.chain(["+Inf".to_owned()]) {
                        let mut with_le = labels.clone();
                        with_le.push(("le".to_owned(), le));
                        series.insert(key(format!("{}_bucket", family.name), with_le));
                    }
                    for suffix in ["_sum", "_count"] {
                        series.insert(key(format!("{}{suffix}", family.name), labels.clone()));
                    }
                }
            }
        }
    }
    series
}

/// `name{a="x",b="y"}` with the labels sorted.
fn normalise(series: &str) -> String {
    let (name, rest) = series.split_once('{').unwrap_or((series, "}"));
    let mut labels: Vec<&str> = rest.trim_end_matches('}').split(',').collect();
    labels.retain(|l| !l.is_empty());
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

#[test]
fn the_unit_tests_input_series_are_series_the_main_jobs_configuration_produces() {
    let produced = main_job_series();
    let text = std::fs::read_to_string(docs_dir().join("rules_test.yml")).unwrap();
    let inputs: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- series: '"))
        .map(|rest| normalise(rest.trim_end_matches('\'')))
        .collect();
    assert!(inputs.len() > 20, "{inputs:?}");
    for input in &inputs {
        assert!(
            produced.contains(input),
            "{input} is not a series of the crate"
        );
    }
}

/// The `expr` values of a rules file: one-line ones and `|` blocks.
fn rule_expressions(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut exprs = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(value) = line.trim().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value != "|" {
            exprs.push(value.to_owned());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let block: Vec<&str> = lines[index + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .copied()
            .collect();
        exprs.push(block.join("\n"));
    }
    exprs
}

#[test]
fn the_rules_name_only_exposed_families_and_their_own_records() {
    let registry = Registry::new();
    InferenceMetrics::with_default_prefix(&registry).unwrap();
    let exposed = exposed_samples(&registry);
    let text = std::fs::read_to_string(docs_dir().join("rules.yml")).unwrap();
    let records: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- record:"))
        .map(str::trim)
        .collect();
    assert_eq!(records.len(), 2);
    let exprs = rule_expressions(&text);
    assert_eq!(exprs.len(), 7);
    let mut seen = BTreeSet::new();
    for expr in &exprs {
        for name in metric_names(expr) {
            assert!(
                exposed.contains_key(&name) || records.contains(&name.as_str()),
                "{name} in {expr:?} is neither exposed nor recorded"
            );
            seen.insert(name);
        }
    }
    // The rules read the budget gauges, the exhaustion and cost counters.
    for name in [
        "sentinel_inference_budget_limit",
        "sentinel_inference_budget_remaining",
        "sentinel_inference_budget_exhausted_total",
        "sentinel_inference_cost_total",
    ] {
        assert!(seen.contains(name), "{name} unused: {seen:?}");
    }
}

#[test]
fn the_metric_name_scanner_skips_labels_functions_strings_and_variables() {
    let expr = concat!(
        r#"histogram_quantile(0.95, sum by (le, model) (rate(a_bucket{model=~"$m", x="b}"}"#,
        r#"[$__rate_interval]))) / ignoring(le) b_total offset 5m"#,
        r#" and c:rule{route="code"} > bool 1e3 * $x"#,
    );
    assert_eq!(metric_names(expr), ["a_bucket", "b_total", "c:rule"]);
}
