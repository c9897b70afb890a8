//! A real Prometheus server scrapes two exporters of one registry on loopback, one that
//! negotiates (Prometheus 2.42 asks for OpenMetrics first, so it gets OpenMetrics) and one
//! that offers the text format only, and its HTTP API must show every value exactly as
//! recorded, the label value with a quote, a backslash and a line feed included.
//!
//! The `prometheus` binary comes from Debian's `prometheus` package, which `.ci/test`
//! installs when it is missing; `$PROMETHEUS` names another. Without it the test fails
//! saying so. The server listens on 127.0.0.1 only and is killed by its process id when
//! the test ends, pass or fail (`common/prometheus.rs`).

#[path = "common/prometheus.rs"]
mod prometheus_server;

use std::time::{Duration, Instant};

use abacus::Registry;
use abacus_prometheus::{Exporter, ExporterHandle, Format};

use prometheus_server::{
    http_get, percent_encode, recorded_registry, scrape_config, start_prometheus, PrometheusServer,
    OBSERVATIONS, TRICKY_ROUTE,
};

/// How long the whole exchange may take: Prometheus starts in a second or two, applies new
/// targets about every five, and scrapes every second.
const DEADLINE: Duration = Duration::from_secs(45);

/// The registry both exporters serve, with the values recorded.
fn registry() -> Result<Registry, abacus::Error> {
    recorded_registry("e2e")
}

fn exporter(registry: &Registry, openmetrics: bool) -> ExporterHandle {
    Exporter::new()
        .listen("127.0.0.1:0".parse().expect("an address"))
        .openmetrics(openmetrics)
        .start(registry)
        .expect("an exporter on loopback")
}

/// Waits until both jobs' targets are up and their latest scrape holds every series.
fn wait_for_scrapes(server: &PrometheusServer, jobs: &[&str]) {
    let started = Instant::now();
    loop {
        let targets = server.api("/api/v1/targets?state=active");
        let active = targets["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let up = jobs.iter().all(|job| {
            active
                .iter()
                .any(|t| t["labels"]["job"] == *job && t["health"] == "up" && t["lastError"] == "")
        });
        let scraped = up
            && jobs.iter().all(|job| {
                !server
                    .query(&format!("e2e_latency_seconds_count{{job=\"{job}\"}}"))
                    .is_empty()
            });
        if scraped {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the targets were not up and scraped after {DEADLINE:?}: {targets}\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_ingests_both_formats_with_the_exact_values_recorded() -> Result<(), abacus::Error> {
    let started = Instant::now();
    let registry = registry()?;
    let negotiating = exporter(&registry, true);
    let text_only = exporter(&registry, false);
    let jobs = [
        ("openmetrics", negotiating.local_addr()),
        ("text", text_only.local_addr()),
    ];

    // Prometheus does not say which format it parsed: ask each exporter with the Accept
    // header Prometheus 2.42 sends (see ../shared/tools/scrape-e2e) and see what it answers.
    let accept = "application/openmetrics-text;version=1.0.0,\
        application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    for ((_, addr), format) in jobs.iter().zip([Format::OpenMetrics, Format::Text]) {
        let reply = http_get(*addr, "/metrics", &[("Accept", accept)]);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_type.as_deref(), Some(format.content_type()));
    }

    let server = start_prometheus(&scrape_config(&jobs), &[]);
    wait_for_scrapes(&server, &["openmetrics", "text"]);

    let sum: f64 = OBSERVATIONS.iter().sum();
    for (job, _) in jobs {
        let selector = |name: &str, extra: &str| format!("{name}{{job=\"{job}\"{extra}}}");

        // The tricky label value arrives byte for byte: find it among the series.
        let requests = server.query(&selector("e2e_requests_total", ""));
        assert_eq!(requests.len(), 2, "{job}: {requests:?}");
        let tricky = requests
            .iter()
            .find(|s| s["metric"]["route"] == TRICKY_ROUTE)
            .unwrap_or_else(|| panic!("{job}: no series with the tricky route: {requests:?}"));
        assert_eq!(tricky["metric"]["status"], "200");
        assert_eq!(tricky["metric"]["deployment"], "e2e");
        assert_eq!(tricky["value"][1], "5", "{job}");
        let (_, plain) = server.single_value(&selector("e2e_requests_total", ",route=\"/plain\""));
        assert_eq!(plain, 3.0, "{job}");

        assert_eq!(server.single_value(&selector("e2e_in_flight", "")).1, -3.0);
        assert_eq!(server.single_value(&selector("e2e_ratio", "")).1, 0.25);

        // The histogram_quantile input: one _bucket series per bound, cumulative counts
        // computed here from the observations.
        let buckets = server.query(&selector("e2e_latency_seconds_bucket", ""));
        let mut seen: Vec<(String, String)> = buckets
            .iter()
            .map(|s| {
                assert_eq!(s["metric"]["route"], TRICKY_ROUTE, "{job}");
                (
                    s["metric"]["le"].as_str().unwrap_or_default().to_owned(),
                    s["value"][1].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        seen.sort();
        let count_le = |bound: f64| OBSERVATIONS.iter().filter(|&&v| v <= bound).count();
        let mut expected = vec![
            ("+Inf".to_owned(), OBSERVATIONS.len().to_string()),
            ("0.1".to_owned(), count_le(0.1).to_string()),
            ("1.0".to_owned(), count_le(1.0).to_string()),
        ];
        expected.sort();
        assert_eq!(seen, expected, "{job}");
        let (_, total) = server.single_value(&selector("e2e_latency_seconds_sum", ""));
        assert_eq!(total.to_bits(), sum.to_bits(), "{job}: {total} != {sum}");
        let (_, count) = server.single_value(&selector("e2e_latency_seconds_count", ""));
        assert_eq!(count, OBSERVATIONS.len() as f64, "{job}");

        // The median by linear interpolation within the bucket that holds rank 2 of 4:
        // 0.1 + (1.0 - 0.1) * (2 - 1) / 2.
        let (_, median) = server.single_value(&format!(
            "histogram_quantile(0.5, {})",
            selector("e2e_latency_seconds_bucket", "")
        ));
        assert!((median - 0.55).abs() < 1e-12, "{job}: median {median}");
    }
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the exchange took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn percent_encoding_leaves_only_unreserved_characters() {
    assert_eq!(
        percent_encode("up{job=\"a b\"}"),
        "up%7Bjob%3D%22a%20b%22%7D"
    );
    assert_eq!(percent_encode("é"), "%C3%A9");
}
