use super::*;

fn error(input: &str) -> ParseError {
    match parse_exposition(input) {
        Ok(exposition) => panic!("{input:?} parsed as {exposition:?}"),
        Err(error) => error,
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|&(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[test]
fn reads_samples_help_and_types_of_a_mixed_exposition() {
    let input = "\
# HELP api_calls_total Calls to the API.\n\
# TYPE api_calls_total counter\n\
api_calls_total{verb=\"get\",code=\"200\"} 1027 1395066363000\n\
api_calls_total{verb=\"put\",code=\"400\"}    3 1395066363000\n\
\n\
# A free comment, ignored.\n\
# TYPE temperature gauge\n\
temperature -3.5e2\n\
untyped_thing 7\n";
    let exposition = parse_exposition(input).expect("valid exposition");
    assert_eq!(
        exposition.help("api_calls_total"),
        Some("Calls to the API.")
    );
    assert_eq!(
        exposition.metric_type("api_calls_total"),
        Some(MetricType::Counter)
    );
    assert_eq!(
        exposition.metric_type("temperature"),
        Some(MetricType::Gauge)
    );
    assert_eq!(exposition.metric_type("untyped_thing"), None);
    assert_eq!(
        exposition.samples[0],
        Sample {
            name: "api_calls_total".into(),
            labels: labels(&[("verb", "get"), ("code", "200")]),
            value: 1027.0,
            timestamp_ms: Some(1_395_066_363_000),
        }
    );
    assert_eq!(
        exposition.value("api_calls_total", &[("code", "400"), ("verb", "put")]),
        Some(3.0)
    );
    assert_eq!(exposition.value("temperature", &[]), Some(-350.0));
    assert_eq!(exposition.samples[2].timestamp_ms, None);
    assert_eq!(exposition.samples.len(), 4);
}

#[test]
fn empty_input_and_blank_lines_have_no_samples() {
    assert_eq!(parse_text(""), Ok(Vec::new()));
    assert_eq!(parse_text("\n \n\t\n"), Ok(Vec::new()));
}

#[test]
fn label_values_are_unescaped() {
    let input = concat!(
        r#"m{path="C:\\tmp",quote="say \"hi\"",nl="a\nb",uni="ünï ✓",tab="a	b"} 1"#,
        "\n"
    );
    let samples = parse_text(input).expect("valid");
    assert_eq!(
        samples[0].labels,
        labels(&[
            ("path", "C:\\tmp"),
            ("quote", "say \"hi\""),
            ("nl", "a\nb"),
            ("uni", "ünï ✓"),
            ("tab", "a\tb"),
        ])
    );
}

#[test]
fn help_is_unescaped_and_keeps_quotes() {
    let input = "# HELP m A \\\\ path, a \\n break and \"quotes\".\n";
    let exposition = parse_exposition(input).expect("valid");
    assert_eq!(
        exposition.help("m"),
        Some("A \\ path, a \n break and \"quotes\".")
    );
}

#[test]
fn undefined_escapes_are_rejected_with_their_line() {
    let in_label = error("ok 1\nm{a=\"\\t\"} 1\n");
    assert_eq!(in_label.line, 2);
    assert_eq!(in_label.kind, ParseErrorKind::InvalidEscape(Some('t')));
    let quote_in_help = error("# HELP m say \\\"hi\\\"\n");
    assert_eq!(quote_in_help.kind, ParseErrorKind::InvalidEscape(Some('"')));
    let trailing = error("# HELP m ends with \\\n");
    assert_eq!(trailing.kind, ParseErrorKind::InvalidEscape(None));
}

#[test]
fn blanks_trailing_commas_and_empty_label_sets_are_accepted() {
    let samples = parse_text("  m { a = \"1\" , b=\"2\", }\t5\t\nn{} 6\n").expect("valid");
    assert_eq!(samples[0].labels, labels(&[("a", "1"), ("b", "2")]));
    assert_eq!(samples[0].value, 5.0);
    assert!(samples[1].labels.is_empty());
}

#[test]
fn special_values_parse_as_go_reads_them() {
    let samples =
        parse_text("a NaN\nb +Inf\nc -Inf\nd inf\ne -Infinity\nf 1e-10\ng .5\nh 1.\ni +3\n")
            .expect("valid");
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    assert!(values[0].is_nan());
    assert_eq!(
        values[1..],
        [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-10,
            0.5,
            1.0,
            3.0
        ]
    );
}

#[test]
fn malformed_values_are_rejected() {
    for bad in ["0x1p-2", "1_000", "one", "1e", "--1", "1.2.3", ".", "e5"] {
        let found = error(&format!("m {bad}\n"));
        assert_eq!(
            found.kind,
            ParseErrorKind::InvalidValue(bad.into()),
            "{bad}"
        );
    }
    assert_eq!(
        error("m 1e400\n").kind,
        ParseErrorKind::ValueOutOfRange("1e400".into())
    );
    assert_eq!(error("m\n").kind, ParseErrorKind::MissingValue);
    assert_eq!(error("m{a=\"b\"}\n").kind, ParseErrorKind::MissingValue);
}

#[test]
fn timestamps_must_be_integers_and_nothing_may_follow() {
    assert_eq!(
        error("m 1 1.5\n").kind,
        ParseErrorKind::InvalidTimestamp("1.5".into())
    );
    assert_eq!(
        error("m 1 2 3\n").kind,
        ParseErrorKind::TrailingText("3".into())
    );
    let samples = parse_text("m 1 -5\n").expect("negative timestamps are valid syntax");
    assert_eq!(samples[0].timestamp_ms, Some(-5));
}

#[test]
fn names_are_checked() {
    assert_eq!(
        error("1m 1\n").kind,
        ParseErrorKind::InvalidMetricName("1m".into())
    );
    assert_eq!(
        error("m-x 1\n").kind,
        ParseErrorKind::InvalidMetricName("m-x".into())
    );
    assert_eq!(
        error("m{1a=\"x\"} 1\n").kind,
        ParseErrorKind::InvalidLabelName("1a".into())
    );
    assert_eq!(
        error("m{,} 1\n").kind,
        ParseErrorKind::InvalidLabelName(String::new())
    );
    assert_eq!(
        error("m{a=\"x\",a=\"y\"} 1\n").kind,
        ParseErrorKind::DuplicateLabel("a".into())
    );
    assert_eq!(
        error("# TYPE 9 gauge\n").kind,
        ParseErrorKind::InvalidMetricName("9".into())
    );
    let colon = parse_text("job:rate5m 1\n").expect("colons are allowed in metric names");
    assert_eq!(colon[0].name, "job:rate5m");
}

#[test]
fn broken_label_sets_are_rejected() {
    assert_eq!(
        error("m{a=\"x} 1\n").kind,
        ParseErrorKind::UnterminatedLabelValue
    );
    assert_eq!(
        error("m{a \"x\"} 1\n").kind,
        ParseErrorKind::Expected {
            expected: "=",
            found: Some('"')
        }
    );
    assert_eq!(
        error("m{a=x} 1\n").kind,
        ParseErrorKind::Expected {
            expected: "\"",
            found: Some('x')
        }
    );
    assert_eq!(
        error("m{a=\"x\" b=\"y\"} 1\n").kind,
        ParseErrorKind::Expected {
            expected: ", or }",
            found: Some('b')
        }
    );
    assert_eq!(
        error("m{a=\"x\"\n").kind,
        ParseErrorKind::Expected {
            expected: ", or }",
            found: None
        }
    );
}

#[test]
fn metadata_rules_are_enforced() {
    let duplicate_help = error("# HELP m a\n# HELP m b\n");
    assert_eq!(
        (duplicate_help.line, duplicate_help.kind),
        (2, ParseErrorKind::DuplicateHelp("m".into()))
    );
    let duplicate_type = error("# TYPE m gauge\n# TYPE m gauge\n");
    assert_eq!(
        duplicate_type.kind,
        ParseErrorKind::DuplicateType("m".into())
    );
    let late_type = error("h_bucket{le=\"+Inf\"} 1\n# TYPE h histogram\n");
    assert_eq!(
        (late_type.line, late_type.kind),
        (2, ParseErrorKind::TypeAfterSamples("h".into()))
    );
    assert_eq!(
        error("# TYPE m gaugey\n").kind,
        ParseErrorKind::UnknownType("gaugey".into())
    );
    assert_eq!(
        error("# TYPE m gauge extra\n").kind,
        ParseErrorKind::TrailingText("extra".into())
    );
    // A histogram's TYPE does not cover a gauge that happens to share its name.
    assert!(parse_text("h 1\n# TYPE h histogram\nh_count 1\n").is_ok());
}

#[test]
fn the_last_line_must_end_with_a_line_feed() {
    let missing = error("a 1\nb 2");
    assert_eq!(
        (missing.line, missing.kind),
        (2, ParseErrorKind::MissingFinalNewline)
    );
}

#[test]
fn errors_display_their_line_and_offending_text() {
    let text = error("ok 1\nm{a=\"x\"} zz\n").to_string();
    assert_eq!(text, "line 2: invalid value \"zz\"");
}
