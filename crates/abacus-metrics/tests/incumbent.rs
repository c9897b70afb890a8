//! A program written for `metrics-exporter-prometheus`, run once on its recorder and once
//! on this crate's, both as local recorders: the two expositions must hold the same
//! series with the same values, types and help texts.
//!
//! The renderings differ where the crate documentation says they do (family order, label
//! order, blank lines, the spelling of numbers), so both are read back with the project's
//! parser and compared as series: `le` as a number, labels sorted.

mod common;

use std::collections::BTreeMap;

use abacus_prometheus::parse::MetricType;
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};

use common::{parse, series};

const BUCKETS: [f64; 4] = [0.01, 0.1, 1.0, 512.0];

/// Records like a small web service: static and dynamic labels, descriptions with and
/// without units, all three kinds, a handle kept across calls, and `absolute`.
fn program() {
    describe_counter!("http.requests", Unit::Count, "HTTP requests served.");
    describe_histogram!("http.latency", Unit::Seconds, "Time to answer a request.");
    describe_gauge!("pool.connections", "Open connections.");
    describe_counter!("bytes_sent", Unit::Bytes, "Bytes written to clients.");

    let routes = ["/", "/api", "/say \"hi\"\\"];
    for (index, route) in routes.iter().enumerate() {
        for status in [200u16, 404] {
            let status = status.to_string();
            counter!("http.requests", "route" => *route, "status" => status.clone())
                .increment(index as u64 + 1);
            histogram!("http.latency", "route" => route.to_string())
                .record(0.004 * (index as f64 + 1.0) * f64::from(status.len() as u8));
        }
    }
    // The same labels in the other order: the same series for both recorders.
    counter!("http.requests", "status" => "200", "route" => "/").increment(10);

    // Literal labels: a static key, built at compile time.
    let connections = gauge!("pool.connections", "pool" => "main", "host:port" => "db:5432");
    connections.set(10.0);
    connections.increment(2.5);
    connections.decrement(0.75);
    gauge!("temperature").set(-3.25);

    let sent = counter!("bytes_sent");
    for chunk in [512, 1024, 2048] {
        sent.increment(chunk);
    }
    sent.absolute(8192);
    sent.absolute(100);
    counter!("errors_total", "kind" => "timeout").increment(3);
    histogram!("payload_size", "direction" => "in").record_many(300.0, 4);
    histogram!("payload_size", "direction" => "out").record(0.5);
}

/// What an exposition says: its series, and each family's type and help.
struct Rendered {
    series: BTreeMap<common::SeriesKey, f64>,
    types: BTreeMap<String, MetricType>,
    help: BTreeMap<String, String>,
    text: String,
}

impl Rendered {
    fn of(text: String) -> Self {
        let exposition = parse(&text);
        Rendered {
            series: series(&text),
            types: exposition.type_lines.into_iter().collect(),
            help: exposition.help_lines.into_iter().collect(),
            text,
        }
    }
}

fn run_incumbent(recommended_naming: bool) -> Rendered {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .expect("buckets")
        .with_recommended_naming(recommended_naming)
        .build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, program);
    Rendered::of(handle.render())
}

fn run_abacus(recommended_naming: bool) -> Rendered {
    let recorder = abacus_metrics::PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .expect("buckets")
        .with_recommended_naming(recommended_naming)
        .build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, program);
    Rendered::of(handle.render())
}

fn assert_same(recommended_naming: bool) {
    let incumbent = run_incumbent(recommended_naming);
    let abacus = run_abacus(recommended_naming);
    let context = format!(
        "--- metrics-exporter-prometheus\n{}\n--- abacus-metrics\n{}",
        incumbent.text, abacus.text
    );
    assert_eq!(abacus.series, incumbent.series, "{context}");
    assert_eq!(abacus.types, incumbent.types, "{context}");
    assert_eq!(abacus.help, incumbent.help, "{context}");
}

#[test]
fn the_program_renders_the_same_series_as_on_the_incumbent() {
    assert_same(false);
}

#[test]
fn the_program_renders_the_same_series_as_on_the_incumbent_with_recommended_naming() {
    assert_same(true);
}

#[test]
fn the_comparison_covers_what_the_program_records() {
    // Guards the comparison itself: values worked out by hand from `program`, so that two
    // recorders agreeing on nothing (an empty rendering) cannot pass.
    let abacus = run_abacus(false);
    let value = |name: &str, labels: &[(&str, &str)]| abacus.series[&common::key(name, labels)];
    assert_eq!(
        value("http_requests", &[("route", "/"), ("status", "200")]),
        11.0
    );
    assert_eq!(
        value("http_requests", &[("route", "/api"), ("status", "404")]),
        2.0
    );
    let quoted = [("route", "/say \"hi\"\\"), ("status", "404")];
    assert_eq!(value("http_requests", &quoted), 3.0);
    let pool = [("pool", "main"), ("host_port", "db:5432")];
    assert_eq!(value("pool_connections", &pool), 11.75);
    assert_eq!(value("temperature", &[]), -3.25);
    assert_eq!(value("bytes_sent", &[]), 8192.0);
    assert_eq!(value("errors_total", &[("kind", "timeout")]), 3.0);
    let latency_in_bucket =
        |le: &str| value("http_latency_bucket", &[("route", "/api"), ("le", le)]);
    // `/api` records 0.004 * 2 * 3 = 0.024 twice (both statuses have three digits).
    assert_eq!(latency_in_bucket("0.01"), 0.0);
    assert_eq!(latency_in_bucket("0.1"), 2.0);
    assert_eq!(value("payload_size_count", &[("direction", "in")]), 4.0);
    assert_eq!(value("payload_size_sum", &[("direction", "in")]), 1200.0);
    assert_eq!(abacus.types["http_latency"], MetricType::Histogram);
    assert_eq!(abacus.help["http_requests"], "HTTP requests served.");
}
