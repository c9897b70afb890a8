//! The recorder through the `metrics` macros, each test with a local recorder of its own.
//!
//! The tests run on parallel threads and every one records the same `probe` counter by a
//! different amount: a test that saw another's recorder would see the wrong total, or
//! families that are not its own. Expected values are worked out by hand from the calls.

mod common;

use std::thread;

use abacus_metrics::{
    Matcher, MetricKind, PrometheusBuilder, PrometheusHandle, PrometheusRecorder, RefusalReason,
};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics::{Unit, Unit::Bytes, Unit::Seconds};

use common::{check_exposition, key, sample_names, series};

/// Runs `record` with `recorder` as this thread's recorder, then adds `probe` to the
/// shared probe counter, and returns the rendering.
fn record_with(recorder: &PrometheusRecorder, probe: u64, record: impl FnOnce()) -> String {
    metrics::with_local_recorder(recorder, || {
        record();
        counter!("probe").increment(probe);
    });
    let text = recorder.handle().render();
    // `probe_total` under recommended naming; with whatever global labels the test set.
    let probes: Vec<f64> = series(&text)
        .into_iter()
        .filter(|((name, _), _)| name == "probe" || name == "probe_total")
        .map(|(_, value)| value)
        .collect();
    assert_eq!(probes, [probe as f64], "{text}");
    text
}

fn handle_and(recorder: PrometheusRecorder) -> (PrometheusRecorder, PrometheusHandle) {
    let handle = recorder.handle();
    (recorder, handle)
}

#[test]
fn the_same_labels_in_three_orders_are_one_series() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let text = record_with(&recorder, 1, || {
        counter!("requests", "route" => "/a", "method" => "GET").increment(1);
        counter!("requests", "method" => "GET", "route" => "/a").increment(2);
        // Dynamic labels, owned strings, in the first order again.
        let labels = vec![
            ("route".to_owned(), format!("/{}", "a")),
            ("method".to_owned(), "GET".to_owned()),
        ];
        counter!("requests", &labels).increment(4);
    });
    let expected = [
        "# TYPE requests counter",
        r#"requests{method="GET",route="/a"} 7"#,
        "# TYPE probe counter",
        "probe 1",
    ];
    assert_eq!(text, expected.join("\n") + "\n");
}

#[test]
fn names_that_sanitize_alike_are_one_family_and_one_series() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let text = record_with(&recorder, 2, || {
        counter!("a.b", "host:port" => "x").increment(1);
        counter!("a_b", "host_port" => "x").increment(2);
        counter!("a-b", "host.port" => "x").increment(4);
        counter!("http.requests-total").increment(3);
        gauge!("9lives").set(9.0);
        gauge!("ns:ratio").set(0.5);
    });
    let expected = [
        "# TYPE a_b counter",
        r#"a_b{host_port="x"} 7"#,
        "# TYPE http_requests_total counter",
        "http_requests_total 3",
        "# TYPE _9lives gauge",
        "_9lives 9",
        "# TYPE ns:ratio gauge",
        "ns:ratio 0.5",
        "# TYPE probe counter",
        "probe 2",
    ];
    assert_eq!(text, expected.join("\n") + "\n");
    check_exposition(&text, "sanitized");
}

#[test]
fn a_name_with_other_label_names_renders_as_one_family() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let text = record_with(&recorder, 3, || {
        describe_counter!("jobs", "Jobs run.");
        counter!("jobs", "queue" => "a").increment(1);
        counter!("jobs").increment(2);
        // Registered between two label sets of `jobs`, rendered after all of them.
        gauge!("workers").set(1.0);
        counter!("jobs", "queue" => "b", "result" => "ok").increment(3);
        counter!("jobs", "result" => "ok", "queue" => "b").increment(1);
        // An empty value is no label: the series without labels.
        counter!("jobs", "queue" => "").increment(10);
        histogram!("wait", "queue" => "a").record(0.5);
        histogram!("wait").record(20.0);
    });
    let expected = [
        "# HELP jobs Jobs run.",
        "# TYPE jobs counter",
        r#"jobs{queue="a"} 1"#,
        "jobs 12",
        r#"jobs{queue="b",result="ok"} 4"#,
        "# TYPE workers gauge",
        "workers 1",
        "# TYPE wait histogram",
    ];
    assert!(text.starts_with(&(expected.join("\n") + "\n")), "{text}");
    let series = series(&text);
    assert_eq!(series[&key("wait_count", &[("queue", "a")])], 1.0);
    assert_eq!(series[&key("wait_bucket", &[("le", "10")])], 0.0);
    assert_eq!(series[&key("wait_bucket", &[("le", "+Inf")])], 1.0);
    assert_eq!(series[&key("wait_sum", &[])], 20.0);
    check_exposition(&text, "label-sets");
}

#[test]
fn absolute_raises_a_counter_and_never_lowers_it() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let mut synced = None;
    let text = record_with(&recorder, 4, || {
        let counter = counter!("synced");
        counter.absolute(10);
        counter.increment(5);
        // Below the total of 15: nothing happens.
        counter.absolute(12);
        counter!("raised").absolute(7);
        synced = Some(counter!("concurrent"));
    });
    let series = series(&text);
    assert_eq!(series[&key("synced", &[])], 15.0);
    assert_eq!(series[&key("raised", &[])], 7.0);

    // Four threads raise one counter through 1..=1000 at once: each value is reached
    // once, so the total ends at exactly 1000, never above.
    let concurrent = synced.expect("registered above");
    thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for value in 1..=1000 {
                    concurrent.absolute(value);
                }
            });
        }
    });
    let text = recorder.handle().render();
    assert_eq!(common::series(&text)[&key("concurrent", &[])], 1000.0);
}

#[test]
fn gauges_set_increment_and_decrement_floats() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let text = record_with(&recorder, 5, || {
        let gauge = gauge!("temperature", "room" => "lab");
        gauge.set(20.5);
        gauge.increment(1.25);
        gauge.decrement(0.75);
        gauge!("temperature", "room" => "lab").increment(0.5);
        gauge!("temperature", "room" => "hall").decrement(3);
    });
    let expected = [
        "# TYPE temperature gauge",
        r#"temperature{room="lab"} 21.5"#,
        r#"temperature{room="hall"} -3"#,
        "# TYPE probe counter",
        "probe 5",
    ];
    assert_eq!(text, expected.join("\n") + "\n");
    let mut written = Vec::new();
    let handle = recorder.handle();
    handle.run_upkeep();
    handle
        .render_to_write(&mut written)
        .expect("a Vec takes it");
    assert_eq!(String::from_utf8(written).expect("UTF-8"), text);
}

#[test]
fn histograms_take_the_buckets_of_the_most_specific_matcher() {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[1.0, 10.0])
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full("db.query".into()), &[0.5]))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Prefix("http".into()), &[0.1, 0.2]))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Prefix("http_slow".into()), &[5.0]))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), &[1024.0]))
        .expect("valid buckets")
        .build_recorder();
    let text = record_with(&recorder, 6, || {
        histogram!("db.query").record(0.25);
        histogram!("http_fast").record(0.15);
        histogram!("http_slow_seconds").record(4.0);
        // A prefix wins over a suffix.
        histogram!("http_bytes").record(0.05);
        histogram!("body_bytes").record_many(2048.0, 3);
        histogram!("other").record(2.0);
    });
    let series = series(&text);
    let bucket = |name: &str, le: &str| series[&key(&format!("{name}_bucket"), &[("le", le)])];
    let bounds = |name: &str| -> Vec<String> {
        series
            .keys()
            .filter(|(sample, _)| *sample == format!("{name}_bucket"))
            .filter_map(|(_, labels)| labels.iter().find(|(l, _)| l == "le"))
            .map(|(_, le)| le.clone())
            .collect()
    };
    assert_eq!(bounds("db_query"), ["+Inf", "0.5"]);
    assert_eq!(bucket("db_query", "0.5"), 1.0);
    assert_eq!(bounds("http_fast"), ["+Inf", "0.1", "0.2"]);
    assert_eq!(bucket("http_fast", "0.1"), 0.0);
    assert_eq!(bucket("http_fast", "0.2"), 1.0);
    assert_eq!(bounds("http_slow_seconds"), ["+Inf", "5"]);
    assert_eq!(bucket("http_slow_seconds", "5"), 1.0);
    assert_eq!(bounds("http_bytes"), ["+Inf", "0.1", "0.2"]);
    assert_eq!(bounds("body_bytes"), ["+Inf", "1024"]);
    assert_eq!(bucket("body_bytes", "1024"), 0.0);
    assert_eq!(bucket("body_bytes", "+Inf"), 3.0);
    assert_eq!(series[&key("body_bytes_sum", &[])], 6144.0);
    assert_eq!(bounds("other"), ["+Inf", "1", "10"]);
    assert_eq!(bucket("other", "10"), 1.0);
}

#[test]
fn refused_keys_record_nothing_and_are_listed_with_why() {
    let (recorder, handle) = handle_and(PrometheusBuilder::new().build_recorder());
    let text = record_with(&recorder, 7, || {
        counter!("").increment(1);
        counter!("taken").increment(1);
        gauge!("taken").set(5.0);
        counter!("labelled", "" => "v").increment(1);
        // A counter named as given reserves `clash_total` too.
        counter!("clash").increment(1);
        gauge!("clash_total").set(2.0);
        counter!("returns", "v" => "a\rb").increment(1);
        // Refused once, not once per call.
        gauge!("taken").set(6.0);
    });
    assert_eq!(
        sample_names(&text),
        ["taken", "clash", "probe"],
        "refused keys must not appear: {text}"
    );
    let refusals = handle.refusals();
    let summary: Vec<(MetricKind, &str)> = refusals
        .iter()
        .map(|refusal| (refusal.kind, refusal.name.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (MetricKind::Counter, ""),
            (MetricKind::Gauge, "taken"),
            (MetricKind::Counter, "labelled"),
            (MetricKind::Gauge, "clash_total"),
            (MetricKind::Counter, "returns"),
        ]
    );
    assert_eq!(handle.refusal_count(), 5);
    assert_eq!(refusals[0].reason, RefusalReason::EmptyName);
    assert_eq!(refusals[2].reason, RefusalReason::EmptyLabelName);
    let registry_error = |index: usize| match &refusals[index].reason {
        RefusalReason::Registry(error) => error.clone(),
        other => panic!("not a registry refusal: {other:?}"),
    };
    assert!(matches!(
        registry_error(1),
        abacus::Error::Conflict {
            reason: abacus::ConflictReason::Kind,
            ..
        }
    ));
    assert!(matches!(registry_error(3), abacus::Error::NameClash { .. }));
    assert!(matches!(
        registry_error(4),
        abacus::Error::CarriageReturn { .. }
    ));
    assert!(refusals[1].to_string().contains("gauge \"taken\" refused"));
}

#[test]
fn kept_handles_record_from_many_threads_without_the_macro() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let mut kept = None;
    record_with(&recorder, 8, || {
        kept = Some((counter!("kept", "t" => "x"), histogram!("kept_latency")));
    });
    let (counter, histogram) = kept.expect("registered above");
    thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..10_000 {
                    counter.increment(1);
                    histogram.record(0.5);
                }
            });
        }
    });
    let series = series(&recorder.handle().render());
    assert_eq!(series[&key("kept", &[("t", "x")])], 40_000.0);
    assert_eq!(series[&key("kept_latency_count", &[])], 40_000.0);
    assert_eq!(series[&key("kept_latency_sum", &[])], 20_000.0);
    assert_eq!(
        series[&key("kept_latency_bucket", &[("le", "0.5")])],
        40_000.0
    );
    assert_eq!(series[&key("kept_latency_bucket", &[("le", "0.25")])], 0.0);
}

#[test]
fn recommended_naming_adds_total_and_units_and_keeps_the_help_text() {
    let recorder = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .build_recorder();
    let text = record_with(&recorder, 9, || {
        // Before a name's first use, the last description wins.
        describe_counter!("requests", "Old help.");
        describe_counter!("requests", Unit::Count, "Requests.");
        describe_counter!("requests", Unit::Count, "Requests.");
        describe_histogram!("latency", Seconds, "Latency.");
        describe_gauge!("memory", Bytes, "Memory in use.");
        describe_counter!("sent", Bytes, "Bytes sent.");
        counter!("requests").increment(1);
        histogram!("latency").record(0.1);
        gauge!("memory").set(5.0);
        counter!("sent").increment(2);
        counter!("done_total").increment(1);
    });
    let exposition = common::parse(&text);
    assert_eq!(exposition.help("requests_total"), Some("Requests."));
    assert_eq!(exposition.help("latency_seconds"), Some("Latency."));
    assert_eq!(exposition.help("memory_bytes"), Some("Memory in use."));
    assert_eq!(exposition.help("sent_bytes_total"), Some("Bytes sent."));
    assert_eq!(
        sample_names(&text),
        [
            "requests_total",
            "latency_seconds_bucket",
            "latency_seconds_sum",
            "latency_seconds_count",
            "memory_bytes",
            "sent_bytes_total",
            "done_total",
            "probe_total",
        ]
    );
}

#[test]
fn reserved_label_names_are_rewritten_and_global_labels_lose_to_the_keys() {
    let recorder = PrometheusBuilder::new()
        .add_global_label("region", "eu")
        .add_global_label("__tenant", "t1")
        .add_global_label("le", "g")
        .add_global_label("", "ignored")
        .build_recorder();
    let text = record_with(&recorder, 10, || {
        counter!("calls", "region" => "us", "__kind" => "x", "empty" => "").increment(1);
        histogram!("sizes", "le" => "k").record(1.0);
        histogram!("sizes", "9th" => "v").record(1.0);
    });
    let series = series(&text);
    let calls = [
        ("_kind", "x"),
        ("_tenant", "t1"),
        ("le", "g"),
        ("region", "us"),
    ];
    assert_eq!(series[&key("calls", &calls)], 1.0);
    let sizes = [("_le", "k"), ("_tenant", "t1"), ("region", "eu")];
    assert_eq!(series[&key("sizes_count", &sizes)], 1.0);
    let mut bucket = sizes.to_vec();
    bucket.push(("le", "+Inf"));
    assert_eq!(series[&key("sizes_bucket", &bucket)], 1.0);
    let ninth = [
        ("_9th", "v"),
        ("_le", "g"),
        ("_tenant", "t1"),
        ("region", "eu"),
    ];
    assert_eq!(series[&key("sizes_count", &ninth)], 1.0);
    check_exposition(&text, "reserved");
}

#[test]
fn units_reach_openmetrics_when_the_name_ends_with_them() {
    // OpenMetrics wants a family's unit to end its name: recommended naming appends it,
    // so the unit line appears; a name that does not end with its unit gets none.
    let recorder = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .build_recorder();
    record_with(&recorder, 12, || {
        describe_histogram!("latency", Seconds, "Time to answer.");
        histogram!("latency").record(0.5);
    });
    let plain = PrometheusBuilder::new().build_recorder();
    record_with(&plain, 13, || {
        describe_gauge!("heap", Bytes, "Heap in use.");
        gauge!("heap").set(10.0);
    });
    let named = abacus_prometheus::render_openmetrics(recorder.handle().registry());
    assert!(
        named.contains("# UNIT latency_seconds seconds\n"),
        "{named}"
    );
    let unnamed = abacus_prometheus::render_openmetrics(plain.handle().registry());
    assert!(!unnamed.contains("# UNIT"), "{unnamed}");
    assert!(unnamed.contains("# HELP heap Heap in use.\n"), "{unnamed}");
}

/// With an idle timeout for counters, a key the macros used once and nobody holds a
/// handle of disappears after renders that see it unchanged; a kept handle keeps its
/// series, and gauges, outside the mask, stay.
#[test]
fn idle_counters_expire_unless_a_handle_is_kept_and_other_kinds_stay() {
    let recorder = PrometheusBuilder::new()
        .idle_timeout(
            metrics_util::MetricKindMask::COUNTER,
            Some(std::time::Duration::ZERO),
        )
        .build_recorder();
    let handle = recorder.handle();
    let kept = metrics::with_local_recorder(&recorder, || {
        counter!("jobs", "queue" => "idle").increment(2);
        gauge!("depth", "queue" => "idle").set(5.0);
        let kept = counter!("jobs", "queue" => "kept");
        kept.increment(1);
        kept
    });
    // The recorded series, without the registry's own counter of expired series.
    let recorded = |text: &str| {
        series(text)
            .into_iter()
            .filter(|((name, _), _)| !name.starts_with("abacus_"))
            .collect::<Vec<_>>()
    };
    let depth = (key("depth", &[("queue", "idle")]), 5.0);
    let idle_jobs = |n| (key("jobs", &[("queue", "idle")]), n);
    let kept_jobs = |n| (key("jobs", &[("queue", "kept")]), n);
    // The first render sees the values appear; the second reports them unchanged and
    // then removes the unheld counter; the third no longer has it.
    for text in [handle.render(), handle.render()] {
        assert_eq!(
            recorded(&text),
            [depth.clone(), idle_jobs(2.0), kept_jobs(1.0)],
            "{text}"
        );
    }
    let third = handle.render();
    assert_eq!(recorded(&third), [depth.clone(), kept_jobs(1.0)], "{third}");
    // The macro starts the removed series again from zero.
    metrics::with_local_recorder(&recorder, || {
        counter!("jobs", "queue" => "idle").increment(3);
        kept.increment(1);
    });
    let fourth = handle.render();
    assert_eq!(
        recorded(&fourth),
        [depth, idle_jobs(3.0), kept_jobs(2.0)],
        "{fourth}"
    );
}
