//! The text format renderer against hand-written expectations from the format's
//! specification, and read back with the parser.

use abacus::{Buckets, Desc, Registry};
use abacus_prometheus::parse::{parse_exposition, MetricType};
use abacus_prometheus::{render_text, TextEncoder};

/// Label values with every character the format treats specially, and some it does not.
const TRICKY_VALUES: &[&str] = &[
    r"C:\tmp",
    r#"say "hi""#,
    "two\nlines",
    "ünï ✓",
    "tab\there",
    "trailing\\",
    r"\\leading",
    r#"\""#,
    "",
];

fn lines_of(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn label_values_escape_backslash_quote_and_newline_only() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let family = registry.counter(Desc::new("escapes_total", "h").labels(["value"]))?;
    for value in TRICKY_VALUES {
        family.with_labels(&[value])?.inc();
    }
    let text = render_text(&registry);
    assert_eq!(
        lines_of(&text, "escapes_total{"),
        [
            r#"escapes_total{value="C:\\tmp"} 1"#,
            r#"escapes_total{value="say \"hi\""} 1"#,
            r#"escapes_total{value="two\nlines"} 1"#,
            r#"escapes_total{value="ünï ✓"} 1"#,
            "escapes_total{value=\"tab\there\"} 1",
            r#"escapes_total{value="trailing\\"} 1"#,
            r#"escapes_total{value="\\\\leading"} 1"#,
            r#"escapes_total{value="\\\""} 1"#,
            r#"escapes_total{value=""} 1"#,
        ]
    );
    Ok(())
}

#[test]
fn escaped_label_values_parse_back_to_the_raw_strings() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let family = registry.gauge(Desc::new("echo", "h").labels(["a", "b"]))?;
    for (index, value) in TRICKY_VALUES.iter().enumerate() {
        family.with_labels(&[value, "fixed"])?.set(index as i64);
    }
    let exposition = parse_exposition(&render_text(&registry)).expect("rendered text parses");
    for (index, value) in TRICKY_VALUES.iter().enumerate() {
        assert_eq!(
            exposition.value("echo", &[("a", value), ("b", "fixed")]),
            Some(index as f64),
            "{value:?}"
        );
    }
    Ok(())
}

#[test]
fn help_escapes_backslash_and_newline_but_not_quotes() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let help = "Path C:\\tmp, say \"hi\",\ttab, ünï ✓\nsecond line, trailing \\";
    registry.gauge(Desc::new("helpful", help))?;
    let text = render_text(&registry);
    assert_eq!(
        lines_of(&text, "# HELP"),
        ["# HELP helpful Path C:\\\\tmp, say \"hi\",\ttab, ünï ✓\\nsecond line, trailing \\\\"]
    );
    let exposition = parse_exposition(&text).expect("rendered text parses");
    assert_eq!(exposition.help("helpful"), Some(help));
    Ok(())
}

#[test]
fn float_values_use_go_spelling_and_special_names() -> Result<(), abacus::Error> {
    let cases: &[(&str, f64, &str)] = &[
        ("nan", f64::NAN, "NaN"),
        ("pos_inf", f64::INFINITY, "+Inf"),
        ("neg_inf", f64::NEG_INFINITY, "-Inf"),
        ("tiny", 1e-10, "1e-10"),
        ("third", 1.0 / 3.0, "0.3333333333333333"),
        ("min_subnormal", 5e-324, "5e-324"),
        ("max", f64::MAX, "1.7976931348623157e+308"),
        ("tenth", 0.1, "0.1"),
        ("hundred", 100.0, "100"),
        ("big", 1e21, "1e+21"),
        ("mebi", 1048576.0, "1.048576e+06"),
        ("negative", -2.5, "-2.5"),
        ("zero", 0.0, "0"),
    ];
    let registry = Registry::new();
    let family = registry.float_gauge(Desc::new("floats", "h").labels(["case"]))?;
    for &(case, value, _) in cases {
        family.with_labels(&[case])?.set(value);
    }
    let text = render_text(&registry);
    let expected: Vec<String> = cases
        .iter()
        .map(|(case, _, spelled)| format!("floats{{case=\"{case}\"}} {spelled}"))
        .collect();
    assert_eq!(lines_of(&text, "floats{"), expected);
    Ok(())
}

#[test]
fn integers_render_exact_digits() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let counters = registry.counter(Desc::new("ints_total", "h").labels(["case"]))?;
    counters
        .with_labels(&["two_pow_53_plus_1"])?
        .add((1 << 53) + 1);
    counters.with_labels(&["max"])?.add(u64::MAX);
    counters.with_labels(&["zero"])?;
    let gauges = registry.gauge(Desc::new("signed", "h").labels(["case"]))?;
    gauges.with_labels(&["negative"])?.set(-42);
    gauges.with_labels(&["min"])?.set(i64::MIN);
    gauges.with_labels(&["max"])?.set(i64::MAX);
    let text = render_text(&registry);
    assert_eq!(
        lines_of(&text, "ints_total{"),
        [
            "ints_total{case=\"two_pow_53_plus_1\"} 9007199254740993",
            "ints_total{case=\"max\"} 18446744073709551615",
            "ints_total{case=\"zero\"} 0",
        ]
    );
    assert_eq!(
        lines_of(&text, "signed{"),
        [
            "signed{case=\"negative\"} -42",
            "signed{case=\"min\"} -9223372036854775808",
            "signed{case=\"max\"} 9223372036854775807",
        ]
    );
    Ok(())
}

#[test]
fn fixed_point_counters_render_exact_decimals() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let nanos = registry.fixed_counter(Desc::new("cost_dollars", "h").labels(["case"]), 9)?;
    nanos.with_labels(&["fraction"])?.add_units(48_080_000);
    nanos.with_labels(&["zero"])?;
    nanos.with_labels(&["whole"])?.add_units(3_000_000_000);
    nanos.with_labels(&["one_nano"])?.add_units(1);
    nanos.with_labels(&["max"])?.add_units(u64::MAX);
    let whole = registry.fixed_counter(Desc::new("whole_total", "h"), 0)?;
    whole.with_labels(&[])?.add_units(1200);
    let text = render_text(&registry);
    assert_eq!(
        lines_of(&text, "cost_dollars_total{"),
        [
            "cost_dollars_total{case=\"fraction\"} 0.04808",
            "cost_dollars_total{case=\"zero\"} 0",
            "cost_dollars_total{case=\"whole\"} 3",
            "cost_dollars_total{case=\"one_nano\"} 0.000000001",
            "cost_dollars_total{case=\"max\"} 18446744073.709551615",
        ]
    );
    assert_eq!(lines_of(&text, "whole_total "), ["whole_total 1200"]);
    Ok(())
}

/// Go's `%g` spelling computed from the standard library's shortest `{:e}` digits, which
/// come from a different algorithm than the renderer's `ryu`.
fn go_g_from_std(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("integer exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if value == 0.0 {
        return format!("{sign}0");
    }
    if !(-4..6).contains(&exponent) {
        let tail = if digits.len() > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let sign_e = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{}{tail}e{sign_e}{:02}", &digits[..1], exponent.abs());
    }
    let point = exponent + 1;
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!(
            "{sign}{digits}{}",
            "0".repeat(point as usize - digits.len())
        )
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{sign}{whole}.{fraction}")
    }
}

/// A fixed pseudo-random sequence of bit patterns (xorshift), covering every exponent.
fn float_samples(count: usize) -> Vec<f64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut values = vec![
        0.1,
        0.2 + 0.1,
        1e-5,
        123456.7,
        999999.9,
        1e15,
        2f64.powi(60),
    ];
    while values.len() < count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        values.push(f64::from_bits(state));
    }
    values
}

#[test]
fn rendered_floats_read_back_to_the_same_bits() -> Result<(), abacus::Error> {
    let values = float_samples(2000);
    let registry = Registry::new();
    let family = registry.float_gauge(Desc::new("bits", "h").labels(["i"]))?;
    for (index, &value) in values.iter().enumerate() {
        family.with_labels(&[&index.to_string()])?.set(value);
    }
    let text = render_text(&registry);
    let rendered: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("bits{"))
        .map(|line| line.rsplit_once(' ').expect("value after a space").1)
        .collect();
    assert_eq!(rendered.len(), values.len());
    for (&value, &spelled) in values.iter().zip(&rendered) {
        assert_eq!(spelled, go_g_from_std(value), "{value:e}");
        assert!(spelled.len() <= 24, "{spelled} is too long");
        let read: f64 = match spelled {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            other => other.parse().expect("a Rust float"),
        };
        if value.is_nan() {
            assert!(read.is_nan());
        } else {
            assert_eq!(read.to_bits(), value.to_bits(), "{spelled}");
        }
    }
    Ok(())
}

#[test]
fn histograms_render_cumulative_buckets_sum_and_count() -> Result<(), abacus::Error> {
    let bounds = [0.005, 0.01, 1.0, 1048576.0, 1e10];
    let observations = [0.001, 0.005, 0.5, 0.75, 3.0, 2e6, 5e10, 0.01];
    let registry = Registry::new();
    let family = registry.histogram(
        Desc::new("size_bytes", "h").labels(["kind"]),
        Buckets::new(bounds)?,
    )?;
    let series = family.with_labels(&["a\"b"])?;
    for value in observations {
        series.observe(value);
    }
    let text = render_text(&registry);
    // Computed here by counting, not read from the registry.
    let cumulative: Vec<usize> = bounds
        .iter()
        .map(|bound| observations.iter().filter(|&&v| v <= *bound).count())
        .collect();
    assert_eq!(cumulative, [2, 3, 5, 6, 7]);
    assert_eq!(
        lines_of(&text, "size_bytes"),
        [
            "size_bytes_bucket{kind=\"a\\\"b\",le=\"0.005\"} 2",
            "size_bytes_bucket{kind=\"a\\\"b\",le=\"0.01\"} 3",
            "size_bytes_bucket{kind=\"a\\\"b\",le=\"1.0\"} 5",
            "size_bytes_bucket{kind=\"a\\\"b\",le=\"1.048576e+06\"} 6",
            "size_bytes_bucket{kind=\"a\\\"b\",le=\"1e+10\"} 7",
            "size_bytes_bucket{kind=\"a\\\"b\",le=\"+Inf\"} 8",
            "size_bytes_sum{kind=\"a\\\"b\"} 5.0002000004266e+10",
            "size_bytes_count{kind=\"a\\\"b\"} 8",
        ]
    );
    let exposition = parse_exposition(&text).expect("rendered text parses");
    assert_eq!(
        exposition.metric_type("size_bytes"),
        Some(MetricType::Histogram)
    );
    let sum: f64 = observations.iter().sum();
    assert_eq!(
        exposition.value("size_bytes_sum", &[("kind", "a\"b")]),
        Some(sum)
    );
    Ok(())
}

#[test]
fn histogram_without_labels_and_with_infinite_bounds() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let family = registry.histogram(
        Desc::new("offsets", "h"),
        Buckets::new([f64::NEG_INFINITY, 0.0, 10.0, f64::INFINITY])?,
    )?;
    let series = family.with_labels(&[])?;
    series.observe(-1.0);
    series.observe(f64::NAN);
    let text = render_text(&registry);
    assert_eq!(
        lines_of(&text, "offsets"),
        [
            "offsets_bucket{le=\"-Inf\"} 0",
            "offsets_bucket{le=\"0.0\"} 1",
            "offsets_bucket{le=\"10.0\"} 1",
            "offsets_bucket{le=\"+Inf\"} 2",
            "offsets_sum NaN",
            "offsets_count 2",
        ]
    );
    Ok(())
}

#[test]
fn counters_registered_with_or_without_total_render_total() -> Result<(), abacus::Error> {
    let plain = Registry::new();
    plain
        .counter(Desc::new("jobs", "Jobs."))?
        .with_labels(&[])?
        .add(2);
    let suffixed = Registry::new();
    suffixed
        .counter(Desc::new("jobs_total", "Jobs."))?
        .with_labels(&[])?
        .add(2);
    let expected = "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 2\n";
    assert_eq!(render_text(&plain), expected);
    assert_eq!(render_text(&suffixed), expected);
    // Both spellings name one family in one registry.
    plain
        .counter(Desc::new("jobs_total", "Jobs."))?
        .with_labels(&[])?
        .inc();
    assert_eq!(
        render_text(&plain),
        "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 3\n"
    );
    Ok(())
}

#[test]
fn families_without_series_are_left_out() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    registry.counter(Desc::new("unused_total", "Never resolved.").labels(["a"]))?;
    registry.histogram(
        Desc::new("unused_seconds", "h").labels(["a"]),
        Buckets::default_seconds(),
    )?;
    registry
        .gauge(Desc::new("used", "Resolved.").labels(["a"]))?
        .with_labels(&["x"])?;
    assert_eq!(
        render_text(&registry),
        "# HELP used Resolved.\n# TYPE used gauge\nused{a=\"x\"} 0\n"
    );
    assert_eq!(render_text(&Registry::new()), "");
    Ok(())
}

#[test]
fn empty_help_writes_no_help_line() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    registry.gauge(Desc::new("quiet", ""))?;
    assert_eq!(render_text(&registry), "# TYPE quiet gauge\nquiet 0\n");
    Ok(())
}

#[test]
fn a_reused_encoder_renders_the_same_bytes_in_registration_order() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let b = registry.gauge(Desc::new("b_second", "h").labels(["x", "y"]))?;
    let a = registry.counter(Desc::new("a_first", "h").labels(["k"]))?;
    b.with_labels(&["2", "z"])?.set(1);
    b.with_labels(&["1", "z"])?.set(2);
    a.with_labels(&["k1"])?.inc();
    let mut encoder = TextEncoder::new();
    let mut out = b"stale bytes".to_vec();
    encoder.encode(&registry, &mut out);
    let first = out.clone();
    encoder.encode(&registry, &mut out);
    assert_eq!(out, first);
    assert_eq!(
        String::from_utf8(out).expect("UTF-8"),
        render_text(&registry)
    );
    assert_eq!(
        String::from_utf8(first).expect("UTF-8"),
        "# HELP b_second h\n# TYPE b_second gauge\nb_second{x=\"2\",y=\"z\"} 1\n\
         b_second{x=\"1\",y=\"z\"} 2\n# HELP a_first_total h\n# TYPE a_first_total counter\n\
         a_first_total{k=\"k1\"} 1\n"
    );
    Ok(())
}

/// One registry with a family of every kind, with label values that need escaping.
fn registry_of_every_kind() -> Result<Registry, abacus::Error> {
    let registry = Registry::new();
    let counter = registry.counter(Desc::new("jobs", "Jobs done.").labels(["queue", "path"]))?;
    counter.with_labels(&["fast", r"C:\tmp"])?.add(3);
    counter.with_labels(&["slow", "say \"hi\"\n"])?.inc();
    let gauge = registry.gauge(Desc::new("depth", "Queue depth.").labels(["queue"]))?;
    gauge.with_labels(&["fast"])?.set(-4);
    registry
        .float_gauge(Desc::new("ratio", ""))?
        .with_labels(&[])?
        .set(0.25);
    registry
        .fixed_counter(Desc::new("cost", "Dollars.").labels(["team"]), 3)?
        .with_labels(&["ünï ✓"])?
        .add(1.5);
    let latency = registry.histogram(
        Desc::new("latency_seconds", "Latency.").labels(["route"]),
        Buckets::new([0.1, 1.0])?,
    )?;
    latency.with_labels(&["/a"])?.observe(0.5);
    registry.gauge(Desc::new("idle", "No series yet.").labels(["worker"]))?;
    Ok(registry)
}

#[test]
fn a_reused_encoder_renders_series_and_families_added_since() -> Result<(), abacus::Error> {
    let registry = registry_of_every_kind()?;
    let mut encoder = TextEncoder::new();
    let mut out = Vec::new();
    encoder.encode(&registry, &mut out);
    assert_eq!(String::from_utf8_lossy(&out), render_text(&registry));

    // Every kind gains a series after the cached ones, an idle family its first, and a new
    // family arrives; old values change too.
    let jobs = registry.counter(Desc::new("jobs", "Jobs done.").labels(["queue", "path"]))?;
    jobs.with_labels(&["fast", r"C:\tmp"])?.add(10);
    jobs.with_labels(&["new", "a\\\"b"])?.inc();
    registry
        .gauge(Desc::new("depth", "Queue depth.").labels(["queue"]))?
        .with_labels(&["slow"])?
        .set(9);
    let latency = registry.histogram(
        Desc::new("latency_seconds", "Latency.").labels(["route"]),
        Buckets::new([0.1, 1.0])?,
    )?;
    latency.with_labels(&["/b"])?.observe(2.0);
    latency.with_labels(&["/a"])?.observe(0.05);
    registry
        .gauge(Desc::new("idle", "No series yet.").labels(["worker"]))?
        .with_labels(&["w1"])?
        .set(1);
    registry
        .counter(Desc::new("late", "Registered last."))?
        .with_labels(&[])?
        .inc();

    encoder.encode(&registry, &mut out);
    let text = String::from_utf8(out).expect("UTF-8");
    assert_eq!(text, render_text(&registry));
    assert!(text.contains("jobs_total{queue=\"fast\",path=\"C:\\\\tmp\"} 13\n"));
    assert!(text.contains("jobs_total{queue=\"new\",path=\"a\\\\\\\"b\"} 1\n"));
    assert!(text.contains("latency_seconds_bucket{route=\"/b\",le=\"+Inf\"} 1\n"));
    assert!(text.contains("idle{worker=\"w1\"} 1\n"));
    assert!(text.ends_with(
        "# HELP late_total Registered last.\n# TYPE late_total counter\nlate_total 1\n"
    ));
    Ok(())
}

#[test]
fn one_encoder_serves_registries_in_turn_as_fresh_encoders_would() -> Result<(), abacus::Error> {
    // The same names in both registries, with other labels and series: what the encoder
    // remembers of one must never show in the other's rendering.
    let first = registry_of_every_kind()?;
    let second = Registry::new();
    second
        .counter(Desc::new("jobs", "Other jobs.").labels(["shard"]))?
        .with_labels(&["7"])?
        .add(2);
    second
        .histogram(Desc::new("latency_seconds", "Other."), Buckets::new([5.0])?)?
        .with_labels(&[])?
        .observe(1.0);
    let mut encoder = TextEncoder::new();
    let mut out = Vec::new();
    for round in 0..3 {
        for registry in [&first, &second, &first, &first, &second, &second] {
            encoder.encode(registry, &mut out);
            assert_eq!(
                String::from_utf8_lossy(&out),
                render_text(registry),
                "round {round}"
            );
        }
        second
            .counter(Desc::new("jobs", "Other jobs.").labels(["shard"]))?
            .with_labels(&[&round.to_string()])?
            .inc();
    }
    Ok(())
}

#[test]
fn families_sharing_a_name_render_as_one_with_one_header() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let shared = |labels: &[&str]| {
        Desc::new("requests_total", "Requests.")
            .labels(labels.iter().copied())
            .shared_name()
    };
    let by_route = registry.counter(shared(&["route"]))?;
    // Registered between the two, rendered after both.
    registry
        .gauge(Desc::new("up", "Up."))?
        .without_labels()?
        .set(1);
    let bare = registry.counter(shared(&[]))?;
    let by_status = registry.counter(shared(&["status"]))?;
    by_route.with_labels(&["/a"])?.add(2);
    bare.without_labels()?.inc();
    by_status.with_labels(&["500"])?.add(3);
    let expected = [
        "# HELP requests_total Requests.",
        "# TYPE requests_total counter",
        r#"requests_total{route="/a"} 2"#,
        "requests_total 1",
        r#"requests_total{status="500"} 3"#,
        "# HELP up Up.",
        "# TYPE up gauge",
        "up 1",
    ];
    assert_eq!(render_text(&registry), expected.join("\n") + "\n");
    parse_exposition(&render_text(&registry)).expect("rendered text parses");
    Ok(())
}

#[test]
fn the_header_of_a_shared_name_comes_with_its_first_series_whichever_family_has_it(
) -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let shared = |labels: [&str; 1]| Desc::new("depth", "Depth.").labels(labels).shared_name();
    registry.gauge(shared(["a"]))?;
    let second = registry.gauge(shared(["b"]))?;
    second.with_labels(&["x"])?.set(4);
    let mut encoder = TextEncoder::new();
    let mut out = Vec::new();
    encoder.encode(&registry, &mut out);
    let expected = "# HELP depth Depth.\n# TYPE depth gauge\ndepth{b=\"x\"} 4\n";
    assert_eq!(String::from_utf8_lossy(&out), expected);
    // And on a warm encoder, once the first family has a series too.
    registry.gauge(shared(["a"]))?.with_labels(&["y"])?.set(5);
    encoder.encode(&registry, &mut out);
    let expected = "# HELP depth Depth.\n# TYPE depth gauge\ndepth{a=\"y\"} 5\ndepth{b=\"x\"} 4\n";
    assert_eq!(String::from_utf8_lossy(&out), expected);
    Ok(())
}

#[test]
fn a_counter_registered_with_its_exact_name_renders_without_total() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    registry
        .counter(Desc::new("jobs", "Jobs.").exact_name())?
        .without_labels()?
        .add(7);
    registry
        .counter(Desc::new("runs_total", "Runs.").exact_name())?
        .without_labels()?
        .inc();
    let text = render_text(&registry);
    let expected = [
        "# HELP jobs Jobs.",
        "# TYPE jobs counter",
        "jobs 7",
        "# HELP runs_total Runs.",
        "# TYPE runs_total counter",
        "runs_total 1",
    ];
    assert_eq!(text, expected.join("\n") + "\n");
    let exposition = parse_exposition(&text).expect("rendered text parses");
    assert_eq!(exposition.metric_type("jobs"), Some(MetricType::Counter));
    Ok(())
}
