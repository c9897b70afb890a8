//! The OpenMetrics parser against examples and rules of the specification.

use super::*;

fn error(input: &str) -> ParseError {
    match parse_openmetrics(input) {
        Ok(exposition) => panic!("{input:?} parsed as {exposition:?}"),
        Err(error) => error,
    }
}

#[test]
fn reads_the_specifications_complete_example() {
    // "An example of a complete exposition", from the specification's Overall Structure.
    let input = "\
# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32
acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0
acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0
acme_http_router_request_seconds_sum{path=\"/api/v2\",method=\"POST\"} 479.3
acme_http_router_request_seconds_count{path=\"/api/v2\",method=\"POST\"} 34.0
acme_http_router_request_seconds_created{path=\"/api/v2\",method=\"POST\"} 1605281325.0
# TYPE go_goroutines gauge
# HELP go_goroutines Number of goroutines that currently exist.
go_goroutines 69
# TYPE process_cpu_seconds counter
# UNIT process_cpu_seconds seconds
# HELP process_cpu_seconds Total user and system CPU time spent in seconds.
process_cpu_seconds_total 4.20072246e+06
# EOF
";
    let exposition = parse_openmetrics(input).expect("the specification's example");
    let summary = "acme_http_router_request_seconds";
    assert_eq!(exposition.metric_type(summary), Some(MetricType::Summary));
    assert_eq!(exposition.unit(summary), Some("seconds"));
    assert_eq!(
        exposition.help(summary),
        Some("Latency though all of ACME's HTTP request router.")
    );
    assert_eq!(
        exposition.value(
            "acme_http_router_request_seconds_count",
            &[("method", "POST"), ("path", "/api/v2")]
        ),
        Some(34.0)
    );
    assert_eq!(exposition.value("go_goroutines", &[]), Some(69.0));
    assert_eq!(
        exposition.metric_type("process_cpu_seconds"),
        Some(MetricType::Counter)
    );
    assert_eq!(
        exposition.value("process_cpu_seconds_total", &[]),
        Some(4_200_722.46)
    );
    assert_eq!(exposition.samples.len(), 8);
}

#[test]
fn escapes_in_labels_and_help_and_undefined_ones_kept() {
    let input = concat!(
        "# TYPE m gauge\n",
        r#"# HELP m say \"hi\" at C:\\tmp\nbye \a"#,
        "\n",
        r#"m{a="C:\\tmp",b="say \"hi\"",c="x\ny",d="\q",e="tab	ünï ✓"} 1"#,
        "\n# EOF\n"
    );
    let exposition = parse_openmetrics(input).expect("valid");
    assert_eq!(exposition.help("m"), Some("say \"hi\" at C:\\tmp\nbye \\a"));
    let sample = &exposition.samples[0];
    assert_eq!(sample.label("a"), Some("C:\\tmp"));
    assert_eq!(sample.label("b"), Some("say \"hi\""));
    assert_eq!(sample.label("c"), Some("x\ny"));
    assert_eq!(sample.label("d"), Some("\\q"));
    assert_eq!(sample.label("e"), Some("tab\tünï ✓"));
}

#[test]
fn numbers_follow_the_abnf() {
    let input = "a 1.0\nb +Inf\nc -inf\nd NaN\ne 1e-10\nf .5\ng 1.\nh -0.0\ni Infinity\n# EOF\n";
    let exposition = parse_openmetrics(input).expect("valid");
    let values: Vec<f64> = exposition.samples.iter().map(|s| s.value).collect();
    assert!(values[3].is_nan());
    assert_eq!(values[..3], [1.0, f64::INFINITY, f64::NEG_INFINITY]);
    assert_eq!(values[4..], [1e-10, 0.5, 1.0, -0.0, f64::INFINITY]);
    assert!(values[7].is_sign_negative());
    for bad in ["0x10", "1_0", "e1", "+NaN", "1e"] {
        assert_eq!(
            error(&format!("m {bad}\n# EOF\n")).kind,
            ParseErrorKind::InvalidValue(bad.into()),
            "{bad}"
        );
    }
}

#[test]
fn timestamps_are_seconds_and_exemplars_are_read_past() {
    let input = "\
# TYPE c counter
c_total{a=\"b\"} 3 1520879607.789 # {trace_id=\"x y\"} 1.0 1520879607.5
c_total{a=\"d\"} 4 # {} 0.5
# EOF";
    let exposition = parse_openmetrics(input).expect("valid, even without the final line feed");
    assert_eq!(exposition.samples[0].timestamp_ms, Some(1_520_879_607_789));
    assert_eq!(exposition.samples[0].value, 3.0);
    assert_eq!(exposition.samples[1].timestamp_ms, None);
    assert_eq!(exposition.samples[1].value, 4.0);
}

#[test]
fn eof_must_end_the_exposition_once() {
    assert_eq!(parse_openmetrics("# EOF\n"), Ok(Exposition::default()));
    assert_eq!(parse_openmetrics("# EOF"), Ok(Exposition::default()));
    let missing = error("m 1\n");
    assert_eq!(
        (missing.line, missing.kind),
        (2, ParseErrorKind::MissingEof)
    );
    assert_eq!(error("").kind, ParseErrorKind::MissingEof);
    let after = error("m 1\n# EOF\nn 2\n# EOF\n");
    assert_eq!((after.line, after.kind), (3, ParseErrorKind::TextAfterEof));
    assert_eq!(error("# EOF\n\n").kind, ParseErrorKind::TextAfterEof);
    assert_eq!(error("m 1\n\n# EOF\n").kind, ParseErrorKind::BlankLine);
}

#[test]
fn whitespace_is_one_space_and_comments_are_metadata_only() {
    assert_eq!(error("m  1\n# EOF\n").kind, ParseErrorKind::MissingValue);
    assert_eq!(
        error("m{a=\"1\",} 1\n# EOF\n").kind,
        ParseErrorKind::InvalidLabelName(String::new())
    );
    assert_eq!(
        error("m{a=\"1\", b=\"2\"} 1\n# EOF\n").kind,
        ParseErrorKind::InvalidLabelName(String::new())
    );
    assert_eq!(
        error("m\t1\n# EOF\n").kind,
        ParseErrorKind::InvalidMetricName("m\t1".into())
    );
    assert_eq!(
        error("# a comment\n# EOF\n").kind,
        ParseErrorKind::InvalidComment("# a comment".into())
    );
    assert_eq!(
        error("# TYPE m\n# EOF\n").kind,
        ParseErrorKind::Expected {
            expected: "a space after the name",
            found: None
        }
    );
}

#[test]
fn family_rules_are_enforced() {
    let cases: &[(&str, ParseErrorKind)] = &[
        (
            "# TYPE c counter\nc 1\n# EOF\n",
            ParseErrorKind::InvalidSampleName("c".into()),
        ),
        (
            "# TYPE m gauge\n# TYPE m gauge\n# EOF\n",
            ParseErrorKind::DuplicateType("m".into()),
        ),
        (
            "# UNIT m_seconds seconds\n# UNIT m_seconds seconds\n# EOF\n",
            ParseErrorKind::DuplicateUnit("m_seconds".into()),
        ),
        (
            "# TYPE m gauge\n# UNIT m seconds\n# EOF\n",
            ParseErrorKind::InvalidUnit {
                name: "m".into(),
                unit: "seconds".into(),
            },
        ),
        (
            "# TYPE m gauge\nm 1\n# HELP m late\n# EOF\n",
            ParseErrorKind::MetadataAfterSamples("m".into()),
        ),
        (
            "a 1\nb 1\na 2\n# EOF\n",
            ParseErrorKind::InterleavedFamily("a".into()),
        ),
        (
            "# TYPE m gaugey\n# EOF\n",
            ParseErrorKind::UnknownType("gaugey".into()),
        ),
    ];
    for (input, kind) in cases {
        assert_eq!(&error(input).kind, kind, "{input:?}");
    }
    // A histogram's samples with their suffixes belong to it; `_created` too.
    let histogram = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 2.0\n\
                     h_created 1.5e9\n# EOF\n";
    assert_eq!(parse_openmetrics(histogram).map(|e| e.samples.len()), Ok(4));
}
