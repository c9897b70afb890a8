//! The Grafana dashboard in docs/inference: valid JSON, queries that promtool parses, and
//! only metric names the crate exposes.

mod common;

use std::collections::BTreeSet;

use abacus::Registry;
use abacus_inference::InferenceMetrics;
use common::exposed_samples;
use common::ops::{docs_dir, metric_names, promtool_succeeds};
use serde_json::Value;

fn dashboard() -> Value {
    let text = std::fs::read_to_string(docs_dir().join("dashboard.json")).unwrap();
    serde_json::from_str(&text).expect("dashboard.json is JSON")
}

/// Every panel query, as (panel title, expression).
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queries = Vec::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or_default().to_owned();
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"]
                .as_str()
                .expect("a Prometheus target has an expr");
            queries.push((title.clone(), expr.to_owned()));
        }
    }
    queries
}

/// The selector inside each variable's `label_values(selector, label)`.
fn variable_selectors(dashboard: &Value) -> Vec<String> {
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let mut selectors = Vec::new();
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        for query in [&variable["definition"], &variable["query"]["query"]] {
            let query = query.as_str().expect("a query variable has its query");
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.rsplit_once(','))
                .map(|(selector, _label)| selector)
                .unwrap_or_else(|| panic!("{query:?} is not label_values(selector, label)"));
            selectors.push(inner.to_owned());
        }
    }
    selectors
}

#[test]
fn every_metric_the_dashboard_queries_is_exposed_by_the_crate() {
    let registry = Registry::new();
    InferenceMetrics::with_default_prefix(&registry).unwrap();
    let exposed = exposed_samples(&registry);
    let dashboard = dashboard();
    let mut used = BTreeSet::new();
    let queries = panel_queries(&dashboard);
    let selectors = variable_selectors(&dashboard);
    for expr in queries.iter().map(|(_, e)| e).chain(&selectors) {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no metric in {expr:?}");
        for name in names {
            assert!(
                exposed.contains_key(&name),
                "{name} in {expr:?} is not exposed"
            );
            used.insert(name);
        }
    }
    // Every family is on the dashboard.
    let families: BTreeSet<&str> = [
        "sentinel_inference_budget_limit",
        "sentinel_inference_budget_used_total",
        "sentinel_inference_budget_remaining",
        "sentinel_inference_budget_exhausted_total",
        "sentinel_inference_budget_alerts_total",
        "sentinel_inference_cost_total",
        "sentinel_inference_input_tokens_total",
        "sentinel_inference_output_tokens_total",
        "sentinel_inference_cost_per_request_bucket",
    ]
    .into();
    let used: BTreeSet<&str> = used.iter().map(String::as_str).collect();
    assert!(
        used.is_superset(&families),
        "missing: {:?}",
        families.difference(&used)
    );
}

#[test]
fn the_dashboard_has_the_panels_an_operator_needs() {
    let queries = panel_queries(&dashboard());
    let has = |needle: &str| queries.iter().any(|(_, e)| e.contains(needle));
    // Used against limit, remaining, cost rate per model, cost quantiles, alerts.
    assert!(has("sentinel_inference_budget_limit{"));
    assert!(has("sentinel_inference_budget_remaining{"));
    assert!(has(
        "sum by (model, currency) (rate(sentinel_inference_cost_total"
    ));
    for quantile in ["0.5", "0.95", "0.99"] {
        assert!(has(&format!(
            "histogram_quantile({quantile}, sum by (le, model)"
        )));
    }
    assert!(has("increase(sentinel_inference_budget_alerts_total"));
}

#[test]
fn promtool_parses_every_dashboard_query() {
    let dashboard = dashboard();
    // Grafana's variables, replaced by what they expand to.
    let concrete = |expr: &str| {
        expr.replace("$__rate_interval", "5m")
            .replace("${datasource}", "")
            .replace("$namespace", ".*")
            .replace("$service", ".*")
            .replace("$route", ".*")
            .replace("$tenant", ".*")
            .replace("$model", ".*")
    };
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let exprs: Vec<String> = panel_queries(&dashboard)
        .iter()
        .map(|(_, e)| e.clone())
        .chain(variable_selectors(&dashboard))
        .collect();
    for (index, expr) in exprs.iter().enumerate() {
        let expr = concrete(expr);
        assert!(!expr.contains('$'), "unexpanded variable in {expr:?}");
        // A JSON string is a valid YAML double-quoted scalar.
        let quoted = serde_json::to_string(&expr).unwrap();
        rules.push_str(&format!(
            "      - record: dashboard_query_{index}\n        expr: {quoted}\n"
        ));
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard_rules.yml");
    std::fs::write(&path, rules).unwrap();
    let out = promtool_succeeds(&["check", "rules", path.to_str().unwrap()]);
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{out}"
    );
}
