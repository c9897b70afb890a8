//! OpenMetrics 1.0 rendering against expectations written from the specification
//! (<https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md>),
//! and the rules both formats share, read back with this crate's parsers.

use abacus::{Buckets, Desc, Registry};
use abacus_prometheus::parse::{parse_exposition, parse_openmetrics, Exposition, MetricType};
use abacus_prometheus::{render, render_openmetrics, render_text, Format, TextEncoder};

fn lines_of(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Both renderings of `registry`, each read back with its own parser.
fn both(registry: &Registry) -> [(Format, String, Exposition); 2] {
    let text = render_text(registry);
    let openmetrics = render_openmetrics(registry);
    let text_read = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let om_read = parse_openmetrics(&openmetrics).unwrap_or_else(|e| panic!("{e}\n{openmetrics}"));
    [
        (Format::Text, text, text_read),
        (Format::OpenMetrics, openmetrics, om_read),
    ]
}

#[test]
fn every_kind_renders_as_the_specification_writes_it() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    registry
        .counter(Desc::new("process_cpu_seconds_total", "CPU time.").unit("seconds"))?
        .with_labels(&[])?
        .add(42);
    registry
        .gauge(Desc::new("queue_depth", "Jobs waiting.").labels(["queue"]))?
        .with_labels(&["a"])?
        .set(-3);
    registry
        .float_gauge(Desc::new("temperature_celsius", "").unit("celsius"))?
        .with_labels(&[])?
        .set(21.0);
    registry
        .fixed_counter(Desc::new("cost_dollars", "Say \"cost\".\nIn USD."), 3)?
        .with_labels(&[])?
        .add_units(2000);
    let latency = registry.histogram(
        Desc::new("latency_seconds", "Latency.")
            .unit("seconds")
            .labels(["route"]),
        Buckets::new([0.25, 1.0])?,
    )?;
    let api = latency.with_labels(&["/api"])?;
    api.observe(0.25);
    api.observe(0.5);
    api.observe(2.25);

    assert_eq!(
        render_openmetrics(&registry),
        r#"# TYPE process_cpu_seconds counter
# UNIT process_cpu_seconds seconds
# HELP process_cpu_seconds CPU time.
process_cpu_seconds_total 42
# TYPE queue_depth gauge
# HELP queue_depth Jobs waiting.
queue_depth{queue="a"} -3
# TYPE temperature_celsius gauge
# UNIT temperature_celsius celsius
temperature_celsius 21.0
# TYPE cost_dollars counter
# HELP cost_dollars Say \"cost\".\nIn USD.
cost_dollars_total 2.0
# TYPE latency_seconds histogram
# UNIT latency_seconds seconds
# HELP latency_seconds Latency.
latency_seconds_bucket{route="/api",le="0.25"} 1
latency_seconds_bucket{route="/api",le="1.0"} 2
latency_seconds_bucket{route="/api",le="+Inf"} 3
latency_seconds_sum{route="/api"} 3.0
latency_seconds_count{route="/api"} 3
# EOF
"#
    );
    // The text format has no UNIT line, names counters with `_total` and keeps quotes in
    // help; whole floats are written without a point.
    assert_eq!(
        render_text(&registry),
        r#"# HELP process_cpu_seconds_total CPU time.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 42
# HELP queue_depth Jobs waiting.
# TYPE queue_depth gauge
queue_depth{queue="a"} -3
# TYPE temperature_celsius gauge
temperature_celsius 21
# HELP cost_dollars_total Say "cost".\nIn USD.
# TYPE cost_dollars_total counter
cost_dollars_total 2
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{route="/api",le="0.25"} 1
latency_seconds_bucket{route="/api",le="1.0"} 2
latency_seconds_bucket{route="/api",le="+Inf"} 3
latency_seconds_sum{route="/api"} 3
latency_seconds_count{route="/api"} 3
"#
    );
    Ok(())
}

#[test]
fn counters_named_with_or_without_total_expose_one_total_sample() -> Result<(), abacus::Error> {
    for name in ["requests", "requests_total"] {
        let registry = Registry::new();
        registry
            .counter(Desc::new(name, "Requests."))?
            .with_labels(&[])?
            .add(7);
        assert_eq!(
            render_text(&registry),
            "# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total 7\n",
            "{name}"
        );
        assert_eq!(
            render_openmetrics(&registry),
            "# TYPE requests counter\n# HELP requests Requests.\nrequests_total 7\n# EOF\n",
            "{name}"
        );
        for (format, rendered, _) in both(&registry) {
            assert!(!rendered.contains("_total_total"), "{format:?}: {rendered}");
        }
    }
    Ok(())
}

#[test]
fn eof_comes_once_and_last_and_only_in_openmetrics() -> Result<(), abacus::Error> {
    let empty = Registry::new();
    assert_eq!(render_openmetrics(&empty), "# EOF\n");
    assert_eq!(render_text(&empty), "");
    // Registered families without series leave the OpenMetrics body at `# EOF` alone.
    empty.gauge(Desc::new("idle", "h").labels(["k"]))?;
    assert_eq!(render_openmetrics(&empty), "# EOF\n");

    let registry = Registry::new();
    registry.gauge(Desc::new("a", "h"))?;
    registry
        .counter(Desc::new("b", "h").labels(["k"]))?
        .with_labels(&["x"])?;
    let mut encoder = TextEncoder::new();
    let mut out = Vec::new();
    for format in [Format::OpenMetrics, Format::Text, Format::OpenMetrics] {
        encoder.encode_as(&registry, format, &mut out);
        let text = String::from_utf8(out.clone()).expect("UTF-8");
        let eofs = text.lines().filter(|l| *l == "# EOF").count();
        match format {
            Format::OpenMetrics => {
                assert_eq!(eofs, 1, "{text}");
                assert!(text.ends_with("\n# EOF\n"), "{text}");
            }
            Format::Text => assert_eq!(eofs, 0, "{text}"),
        }
        assert!(!text.contains("_created"), "{text}");
    }
    Ok(())
}

/// The label values of the issue that broke other clients, and a few more.
const TRICKY_VALUES: &[&str] = &[
    r"C:\tmp",
    r#"say "hi""#,
    "two\nlines",
    "ünï ✓",
    "tab\there",
    "trailing\\",
    r"\\leading",
    r#"\""#,
    r"\n is not a line feed",
    "",
];

#[test]
fn tricky_label_values_read_back_byte_equal_in_both_formats() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let family = registry.gauge(Desc::new("echo", "h").labels(["value", "index"]))?;
    for (index, value) in TRICKY_VALUES.iter().enumerate() {
        family
            .with_labels(&[value, &index.to_string()])?
            .set(index as i64);
    }
    for (format, rendered, read) in both(&registry) {
        for (index, value) in TRICKY_VALUES.iter().enumerate() {
            let sample = read
                .sample("echo", &[("value", value), ("index", &index.to_string())])
                .unwrap_or_else(|| panic!("{format:?}: {value:?} lost in\n{rendered}"));
            assert_eq!(sample.value, index as f64);
        }
    }
    // Escaping is a function of the raw string: no "already escaped" shortcut.
    let om = render_openmetrics(&registry);
    assert!(
        om.contains(r#"echo{value="\\\\leading",index="6"} 6"#),
        "{om}"
    );
    assert!(om.contains(r#"echo{value="\\\"",index="7"} 7"#), "{om}");
    assert!(
        om.contains(r#"echo{value="\\n is not a line feed",index="8"} 8"#),
        "{om}"
    );
    assert!(
        om.contains("echo{value=\"tab\there\",index=\"4\"} 4"),
        "{om}"
    );
    Ok(())
}

#[test]
fn help_escapes_quotes_in_openmetrics_only() -> Result<(), abacus::Error> {
    let help = "Path C:\\tmp, say \"hi\",\ttab, ünï ✓\nsecond line, trailing \\";
    let registry = Registry::new();
    registry.gauge(Desc::new("helpful", help))?;
    let [(_, text, text_read), (_, om, om_read)] = both(&registry);
    assert_eq!(
        lines_of(&text, "# HELP"),
        ["# HELP helpful Path C:\\\\tmp, say \"hi\",\ttab, ünï ✓\\nsecond line, trailing \\\\"]
    );
    assert_eq!(
        lines_of(&om, "# HELP"),
        ["# HELP helpful Path C:\\\\tmp, say \\\"hi\\\",\ttab, ünï ✓\\nsecond line, trailing \\\\"]
    );
    assert_eq!(text_read.help("helpful"), Some(help));
    assert_eq!(om_read.help("helpful"), Some(help));
    Ok(())
}

#[test]
fn special_and_extreme_floats_read_back_to_the_same_bits() -> Result<(), abacus::Error> {
    let cases: &[(&str, f64, &str, &str)] = &[
        ("nan", f64::NAN, "NaN", "NaN"),
        ("pos_inf", f64::INFINITY, "+Inf", "+Inf"),
        ("neg_inf", f64::NEG_INFINITY, "-Inf", "-Inf"),
        ("tiny", 1e-10, "1e-10", "1e-10"),
        (
            "third",
            1.0 / 3.0,
            "0.3333333333333333",
            "0.3333333333333333",
        ),
        ("min_subnormal", 5e-324, "5e-324", "5e-324"),
        (
            "max",
            f64::MAX,
            "1.7976931348623157e+308",
            "1.7976931348623157e+308",
        ),
        ("negative_zero", -0.0, "-0", "-0.0"),
        ("hundred", 100.0, "100", "100.0"),
        (
            "above_2_53",
            9007199254740994.0,
            "9.007199254740994e+15",
            "9.007199254740994e+15",
        ),
    ];
    let registry = Registry::new();
    let family = registry.float_gauge(Desc::new("floats", "h").labels(["case"]))?;
    for &(case, value, _, _) in cases {
        family.with_labels(&[case])?.set(value);
    }
    for (format, rendered, read) in both(&registry) {
        for &(case, value, text_spelling, om_spelling) in cases {
            let spelling = match format {
                Format::Text => text_spelling,
                Format::OpenMetrics => om_spelling,
            };
            let line = format!("floats{{case=\"{case}\"}} {spelling}");
            assert!(rendered.lines().any(|l| l == line), "{format:?}: {line}");
            let back = read.value("floats", &[("case", case)]).expect("a sample");
            if value.is_nan() {
                assert!(back.is_nan());
            } else if value == 0.0 {
                // -0.0 reads back as zero (its sign survives too).
                assert_eq!(back, 0.0);
                assert_eq!(back.to_bits(), value.to_bits());
            } else {
                assert_eq!(back.to_bits(), value.to_bits(), "{format:?} {case}");
            }
        }
    }
    Ok(())
}

#[test]
fn integers_above_2_53_and_saturated_counters_keep_exact_digits() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let counters = registry.counter(Desc::new("ints", "h").labels(["case"]))?;
    counters
        .with_labels(&["two_pow_53_plus_1"])?
        .add((1 << 53) + 1);
    let saturated = counters.with_labels(&["saturated"])?;
    saturated.add(u64::MAX - 1);
    // Past u64::MAX the counter saturates (documented in the core), so it never goes down.
    saturated.add(5);
    saturated.inc();
    for (format, rendered, _) in both(&registry) {
        assert!(
            rendered.contains("ints_total{case=\"two_pow_53_plus_1\"} 9007199254740993\n"),
            "{format:?}"
        );
        assert!(
            rendered.contains("ints_total{case=\"saturated\"} 18446744073709551615\n"),
            "{format:?}"
        );
    }
    Ok(())
}

#[test]
fn many_observations_give_exact_bucket_and_count_values() -> Result<(), abacus::Error> {
    // 2^24 + 1 observations: beyond what an f32 counts exactly.
    const OBSERVATIONS: u64 = (1 << 24) + 1;
    let registry = Registry::new();
    let histogram = registry
        .histogram(Desc::new("hits", "h"), Buckets::new([1.0])?)?
        .with_labels(&[])?;
    for _ in 0..OBSERVATIONS {
        histogram.observe(0.5);
    }
    for (format, rendered, _) in both(&registry) {
        assert!(
            rendered.contains("hits_bucket{le=\"1.0\"} 16777217\n"),
            "{format:?}"
        );
        assert!(
            rendered.contains("hits_bucket{le=\"+Inf\"} 16777217\n"),
            "{format:?}"
        );
        assert!(rendered.contains("hits_count 16777217\n"), "{format:?}");
    }
    Ok(())
}

#[test]
fn bucket_bounds_have_one_canonical_spelling_in_both_formats() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    registry
        .histogram(
            Desc::new("sizes", "h"),
            Buckets::new([0.005, 1.0, 10.0, 1048576.0, 1e10])?,
        )?
        .with_labels(&[])?;
    let expected = [
        "sizes_bucket{le=\"0.005\"} 0",
        "sizes_bucket{le=\"1.0\"} 0",
        "sizes_bucket{le=\"10.0\"} 0",
        "sizes_bucket{le=\"1.048576e+06\"} 0",
        "sizes_bucket{le=\"1e+10\"} 0",
        "sizes_bucket{le=\"+Inf\"} 0",
    ];
    for (format, rendered, _) in both(&registry) {
        assert_eq!(lines_of(&rendered, "sizes_bucket"), expected, "{format:?}");
    }
    Ok(())
}

#[test]
fn bounds_that_differ_as_floats_never_share_a_spelling() -> Result<(), abacus::Error> {
    // Neighbours one ulp apart, around values whose short spellings are tempting.
    let mut bounds = Vec::new();
    for center in [0.1f64, 1.0, 1e6, 1e-5, 123.456] {
        let bits = center.to_bits();
        bounds.extend([f64::from_bits(bits - 1), center, f64::from_bits(bits + 1)]);
    }
    bounds.sort_by(f64::total_cmp);
    let registry = Registry::new();
    registry
        .histogram(Desc::new("ulps", "h"), Buckets::new(bounds.clone())?)?
        .with_labels(&[])?;
    for (format, _, read) in both(&registry) {
        let spellings: Vec<&str> = read
            .samples
            .iter()
            .filter_map(|s| s.label("le"))
            .filter(|le| *le != "+Inf")
            .collect();
        assert_eq!(spellings.len(), bounds.len(), "{format:?}");
        for (spelling, bound) in spellings.iter().zip(&bounds) {
            let back: f64 = spelling.parse().expect("a float");
            assert_eq!(back.to_bits(), bound.to_bits(), "{format:?} {spelling}");
        }
    }
    Ok(())
}

#[test]
fn a_family_is_one_group_whatever_the_recording_order() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let jobs = registry.counter(Desc::new("jobs", "Jobs.").labels(["queue", "host"]))?;
    let depth = registry.gauge(Desc::new("depth", "Depth.").labels(["queue"]))?;
    for round in 0..3 {
        for queue in ["a", "b"] {
            jobs.with_labels(&[queue, "h"])?.inc();
            depth.with_labels(&[queue])?.set(round);
        }
    }
    // The same name without labels, or with its label names in another order, is not a
    // second group or series: it is refused.
    let conflict = |reason| abacus::Error::Conflict {
        name: "jobs".into(),
        reason,
    };
    assert_eq!(
        registry.counter(Desc::new("jobs", "Jobs.")).unwrap_err(),
        conflict(abacus::ConflictReason::Labels)
    );
    assert_eq!(
        registry
            .counter(Desc::new("jobs_total", "Jobs.").labels(["host", "queue"]))
            .unwrap_err(),
        conflict(abacus::ConflictReason::Labels)
    );
    for (format, rendered, read) in both(&registry) {
        assert_eq!(lines_of(&rendered, "# HELP").len(), 2, "{format:?}");
        assert_eq!(lines_of(&rendered, "# TYPE").len(), 2, "{format:?}");
        let names: Vec<&str> = read.samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["jobs_total", "jobs_total", "depth", "depth"],
            "{format:?}"
        );
        assert_eq!(
            read.value("jobs_total", &[("host", "h"), ("queue", "a")]),
            Some(3.0)
        );
    }
    Ok(())
}

#[test]
fn constant_labels_and_namespace_appear_on_every_line_once() -> Result<(), abacus::Error> {
    let registry = Registry::builder()
        .namespace("gw")
        .const_label("region", "eu \"west\"")
        .build()?;
    registry
        .counter(
            Desc::new("requests", "Requests.")
                .labels(["route"])
                .const_labels([("service", "api")]),
        )?
        .with_labels(&["/chat"])?
        .add(2);
    registry
        .histogram(
            Desc::new("latency_seconds", "Latency.").unit("seconds"),
            Buckets::new([1.0])?,
        )?
        .with_labels(&[])?
        .observe(0.5);
    registry
        .gauge(Desc::new("up", "Up."))?
        .with_labels(&[])?
        .set(1);
    let om = render_openmetrics(&registry);
    assert_eq!(
        om,
        r#"# TYPE gw_requests counter
# HELP gw_requests Requests.
gw_requests_total{region="eu \"west\"",service="api",route="/chat"} 2
# TYPE gw_latency_seconds histogram
# UNIT gw_latency_seconds seconds
# HELP gw_latency_seconds Latency.
gw_latency_seconds_bucket{region="eu \"west\"",le="1.0"} 1
gw_latency_seconds_bucket{region="eu \"west\"",le="+Inf"} 1
gw_latency_seconds_sum{region="eu \"west\""} 0.5
gw_latency_seconds_count{region="eu \"west\""} 1
# TYPE gw_up gauge
# HELP gw_up Up.
gw_up{region="eu \"west\""} 1
# EOF
"#
    );
    for (format, rendered, read) in both(&registry) {
        // Each parser refuses a label given twice in one sample, so every line read.
        assert_eq!(read.samples.len(), 6, "{format:?}\n{rendered}");
        for sample in &read.samples {
            assert_eq!(sample.label("region"), Some("eu \"west\""), "{format:?}");
        }
    }
    Ok(())
}

#[test]
fn openmetrics_leaves_out_sums_it_forbids_with_their_counts() -> Result<(), abacus::Error> {
    // "Sum ... MUST NOT be NaN or negative. Negative threshold buckets MAY be used, but
    // then the Histogram MetricPoint MUST NOT contain a sum value", and _count appears
    // "if and only if a Sum Value is present".
    let registry = Registry::new();
    let offsets = registry
        .histogram(Desc::new("offsets", "h"), Buckets::new([-1.0, 1.0])?)?
        .with_labels(&[])?;
    offsets.observe(0.5);
    let values = registry.histogram(
        Desc::new("values", "h").labels(["case"]),
        Buckets::new([1.0])?,
    )?;
    values.with_labels(&["nan"])?.observe(f64::NAN);
    values.with_labels(&["negative"])?.observe(-2.0);
    values.with_labels(&["fine"])?.observe(2.0);
    let om = render_openmetrics(&registry);
    assert_eq!(
        om,
        r#"# TYPE offsets histogram
# HELP offsets h
offsets_bucket{le="-1.0"} 0
offsets_bucket{le="1.0"} 1
offsets_bucket{le="+Inf"} 1
# TYPE values histogram
# HELP values h
values_bucket{case="nan",le="1.0"} 0
values_bucket{case="nan",le="+Inf"} 1
values_bucket{case="negative",le="1.0"} 1
values_bucket{case="negative",le="+Inf"} 1
values_bucket{case="fine",le="1.0"} 0
values_bucket{case="fine",le="+Inf"} 1
values_sum{case="fine"} 2.0
values_count{case="fine"} 1
# EOF
"#
    );
    // The text format has no such rule and keeps every sum.
    let text = render_text(&registry);
    assert!(text.contains("offsets_sum 0.5\n"), "{text}");
    assert!(text.contains("values_sum{case=\"nan\"} NaN\n"), "{text}");
    assert!(
        text.contains("values_sum{case=\"negative\"} -2\n"),
        "{text}"
    );
    Ok(())
}

#[test]
fn the_parsers_read_back_the_types_and_units() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    registry.counter(Desc::new("c_seconds", "h").unit("seconds"))?;
    registry.histogram(Desc::new("h", "h"), Buckets::new([1.0])?)?;
    let [(_, _, text), (_, _, om)] = both(&registry);
    assert_eq!(
        text.metric_type("c_seconds_total"),
        Some(MetricType::Counter)
    );
    assert_eq!(om.metric_type("c_seconds"), Some(MetricType::Counter));
    assert_eq!(om.unit("c_seconds"), Some("seconds"));
    assert_eq!(text.unit("c_seconds"), None);
    assert_eq!(om.metric_type("h"), Some(MetricType::Histogram));
    assert_eq!(render(&registry, Format::Text), render_text(&registry));
    Ok(())
}

#[test]
fn content_types_name_the_formats_exactly() {
    assert_eq!(
        Format::Text.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        Format::OpenMetrics.content_type(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
}

#[test]
fn exact_name_counters_keep_their_name_in_text_and_gain_total_in_openmetrics(
) -> Result<(), abacus::Error> {
    // The `metrics` facade's counters keep their names as given in the text format;
    // OpenMetrics requires `_total` on every counter sample and names the family without it.
    let registry = Registry::new();
    registry
        .counter(
            Desc::new("requests", "Requests.")
                .labels(["route"])
                .exact_name(),
        )?
        .with_labels(&["/a"])?
        .add(3);
    let text = render_text(&registry);
    assert_eq!(
        text,
        "# HELP requests Requests.\n# TYPE requests counter\nrequests{route=\"/a\"} 3\n"
    );
    let openmetrics = render_openmetrics(&registry);
    assert_eq!(
        openmetrics,
        "# TYPE requests counter\n# HELP requests Requests.\n\
         requests_total{route=\"/a\"} 3\n# EOF\n"
    );
    parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    parse_openmetrics(&openmetrics).unwrap_or_else(|e| panic!("{e}\n{openmetrics}"));
    Ok(())
}

#[test]
fn families_sharing_a_name_render_as_one_family_in_both_formats() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let by_route = registry.gauge(
        Desc::new("inflight", "In flight.")
            .labels(["route"])
            .shared_name(),
    )?;
    let by_tenant = registry.gauge(
        Desc::new("inflight", "In flight.")
            .labels(["tenant"])
            .shared_name(),
    )?;
    by_route.with_labels(&["/a"])?.set(1);
    by_tenant.with_labels(&["t1"])?.set(2);
    for (format, rendered, read) in both(&registry) {
        assert_eq!(
            lines_of(&rendered, "# TYPE").len(),
            1,
            "{format:?}\n{rendered}"
        );
        assert_eq!(
            lines_of(&rendered, "# HELP").len(),
            1,
            "{format:?}\n{rendered}"
        );
        assert_eq!(
            lines_of(&rendered, "inflight{").len(),
            2,
            "{format:?}\n{rendered}"
        );
        assert_eq!(read.type_lines.len(), 1, "{format:?}\n{rendered}");
        assert_eq!(read.samples.len(), 2, "{format:?}\n{rendered}");
    }
    Ok(())
}

#[test]
fn an_overflowing_family_renders_as_one_family_with_its_overflow_series(
) -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let requests = registry.counter(
        Desc::new("requests", "Requests.")
            .labels(["tenant"])
            .max_series(1),
    )?;
    requests.inc(&["a"])?;
    requests.inc(&["b"])?;
    requests.add(&["c"], 5)?;
    let text = render_text(&registry);
    assert_eq!(
        text,
        "# HELP requests_total Requests.\n# TYPE requests_total counter\n\
         requests_total{tenant=\"a\"} 1\n\
         requests_total{abacus_overflow=\"true\"} 6\n\
         # HELP abacus_series_overflow_total Resolutions of new label values that went to \
         a family's overflow series because the family held as many series as its limit \
         allows.\n# TYPE abacus_series_overflow_total counter\n\
         abacus_series_overflow_total{family=\"requests\"} 2\n"
    );
    for (format, rendered, read) in both(&registry) {
        assert_eq!(read.type_lines.len(), 2, "{format:?}\n{rendered}");
    }
    Ok(())
}

#[test]
fn created_samples_are_seconds_since_the_epoch_stable_and_openmetrics_only(
) -> Result<(), abacus::Error> {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let registry = Registry::builder().created_timestamps(true).build()?;
    let before = now();
    let requests = registry.counter(Desc::new("requests", "R.").labels(["route"]))?;
    requests.inc(&["/a"])?;
    let latency = registry.histogram(Desc::new("latency", "L."), Buckets::new([1.0])?)?;
    latency.without_labels()?.observe(0.5);
    registry
        .gauge(Desc::new("depth", "D."))?
        .without_labels()?
        .set(2);
    let after = now();

    let mut encoder = TextEncoder::new().created_samples(true);
    let mut first = Vec::new();
    encoder.encode_as(&registry, Format::OpenMetrics, &mut first);
    let first = String::from_utf8(first).unwrap();
    let read = parse_openmetrics(&first).unwrap_or_else(|e| panic!("{e}\n{first}"));
    let created: Vec<(&str, f64)> = read
        .samples
        .iter()
        .filter(|s| s.name.ends_with("_created"))
        .map(|s| (s.name.as_str(), s.value))
        .collect();
    // A counter's and a histogram's, none for the gauge.
    assert_eq!(
        created.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ["requests_created", "latency_created"],
        "{first}"
    );
    for (name, seconds) in &created {
        assert!(
            before <= *seconds && *seconds <= after,
            "{name} {seconds} not in [{before}, {after}]"
        );
    }
    assert!(first.contains("requests_created{route=\"/a\"} "), "{first}");
    // The same times on every scrape.
    let mut second = Vec::new();
    encoder.encode_as(&registry, Format::OpenMetrics, &mut second);
    assert_eq!(String::from_utf8(second).unwrap(), first);
    // Never in the text format, and not unless asked for.
    assert!(!render_text(&registry).contains("_created"));
    assert!(!render_openmetrics(&registry).contains("_created"));
    Ok(())
}
