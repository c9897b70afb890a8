//! A real Prometheus server receives abacus' remote writes on loopback, and its query API
//! must show every value exactly as recorded: a counter on a series whose label value has
//! a quote, a backslash and a line feed, gauges (a NaN one included, which a staleness
//! marker would hide), a histogram's buckets, sum and count, a fixed-point counter, the
//! constant and external labels.
//!
//! The server is Debian's `prometheus` (2.42 here), started on 127.0.0.1 with
//! `--web.enable-remote-write-receiver`, a temporary `--storage.tsdb.path` and a
//! configuration without scrape targets; `.ci/test` installs the package when it is
//! missing, and without it the test fails saying so. It is killed by its process id when
//! the test ends, pass or fail (`common/prometheus.rs`).

#[path = "common/prometheus.rs"]
mod prometheus_server;

use std::time::{Duration, Instant};

use abacus::{Desc, Registry};
use abacus_prometheus::RemoteWriter;

use prometheus_server::{recorded_registry, start_prometheus, OBSERVATIONS, TRICKY_ROUTE};

const DEADLINE: Duration = Duration::from_secs(45);

/// The scrape test's registry, plus what remote write must carry beyond it: a NaN gauge
/// (not a staleness marker) and a fixed-point counter.
fn registry() -> Result<Registry, abacus::Error> {
    let registry = recorded_registry("rw")?;
    registry
        .float_gauge(Desc::new("rw_undefined", "A NaN."))?
        .with_labels(&[])?
        .set(f64::NAN);
    registry
        .fixed_counter(Desc::new("rw_cost_total", "Cost."), 3)?
        .with_labels(&[])?
        .add_units(1500);
    Ok(registry)
}

#[test]
fn prometheus_receives_remote_writes_with_the_exact_values_recorded(
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let server = start_prometheus(
        "global:\n  evaluation_interval: 1m\n",
        &["--web.enable-remote-write-receiver"],
    );
    let registry = registry()?;
    let writer = RemoteWriter::new(format!("http://{}/api/v1/write", server.addr))
        .interval(Duration::from_millis(500))
        .external_label("source", "abacus-e2e")
        .start(&registry)?;
    loop {
        if !server.query("rw_latency_seconds_count").is_empty() {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no pushed series after {DEADLINE:?}:\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    writer.shutdown(Duration::from_secs(10))?;

    let requests = server.query("rw_requests_total");
    assert_eq!(requests.len(), 2, "{requests:?}");
    let tricky = requests
        .iter()
        .find(|s| s["metric"]["route"] == TRICKY_ROUTE)
        .unwrap_or_else(|| panic!("no series with the tricky route: {requests:?}"));
    assert_eq!(tricky["metric"]["status"], "200");
    assert_eq!(tricky["metric"]["deployment"], "e2e");
    assert_eq!(tricky["metric"]["source"], "abacus-e2e");
    assert_eq!(tricky["value"][1], "5");
    assert_eq!(
        server
            .single("rw_requests_total{route=\"/plain\",status=\"500\"}")
            .1,
        "3"
    );
    assert_eq!(server.single("rw_in_flight").1, "-3");
    assert_eq!(server.single("rw_ratio").1, "0.25");
    assert_eq!(server.single("rw_undefined").1, "NaN");
    assert_eq!(server.single("rw_cost_total").1, "1.5");

    // The buckets, counted here from the observations, with `le` as the text format
    // spells it.
    let count_le = |bound: f64| OBSERVATIONS.iter().filter(|&&v| v <= bound).count();
    for (le, count) in [
        ("0.1", count_le(0.1)),
        ("1.0", count_le(1.0)),
        ("+Inf", OBSERVATIONS.len()),
    ] {
        let (metric, value) = server.single(&format!("rw_latency_seconds_bucket{{le=\"{le}\"}}"));
        assert_eq!(metric["route"], TRICKY_ROUTE);
        assert_eq!(value, count.to_string(), "le={le}");
    }
    let sum: f64 = OBSERVATIONS.iter().sum();
    let (_, total) = server.single_value("rw_latency_seconds_sum");
    assert_eq!(total.to_bits(), sum.to_bits(), "{total} != {sum}");
    assert_eq!(
        server.single("rw_latency_seconds_count").1,
        OBSERVATIONS.len().to_string()
    );
    // The writer's own counters arrive too: the last push counted what went before it.
    let (_, sent) = server.single_value("abacus_remote_write_samples_sent_total");
    assert!(sent > 0.0);
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the exchange took {:?}",
        started.elapsed()
    );
    Ok(())
}
