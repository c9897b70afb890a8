//! Property test: arbitrary label values, help texts and float values, rendered in both
//! formats, read back by this crate's parsers (written from the specifications, not from
//! the renderer) to the same strings and the same float bits.

use abacus::{Desc, Registry};
use abacus_prometheus::parse::{parse_exposition, parse_openmetrics, Exposition};
use abacus_prometheus::{render_openmetrics, render_text};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Any character but a carriage return, which registration refuses (neither format can
/// carry it), weighted towards the ones escaping is about.
fn character() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec!['\\', '"', '\n', '\t', ' ', 'n', '#', '{', '}', ',', '=']),
        2 => any::<char>().prop_filter("no carriage return", |&c| c != '\r'),
        1 => prop::sample::select(vec!['ü', '✓', '\u{0}', '\u{7f}', '\u{fffd}', '🙂']),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(character(), 0..24).prop_map(|chars| chars.into_iter().collect())
}

/// Floats of every class: the special values, subnormals, integers above 2^53 and any
/// bit pattern at all.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            5e-324,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            1e-10,
            1.0 / 3.0,
        ]),
        (1u64..(1 << 52)).prop_map(f64::from_bits),
        ((1u64 << 53) + 1..u64::MAX).prop_map(|n| n as f64),
        any::<u64>().prop_map(f64::from_bits),
    ]
}

fn check_read_back(
    read: &Exposition,
    help: Option<&str>,
    series: &[(String, f64)],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(read.help("prop"), help);
    prop_assert_eq!(read.samples.len(), series.len());
    for (index, (value, number)) in series.iter().enumerate() {
        let position = index.to_string();
        let sample = read
            .sample("prop", &[("value", value), ("index", &position)])
            .ok_or_else(|| TestCaseError::fail(format!("{value:?} not read back")))?;
        if number.is_nan() {
            prop_assert!(sample.value.is_nan());
        } else {
            prop_assert_eq!(sample.value.to_bits(), number.to_bits());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/roundtrip.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn rendered_values_and_help_read_back_unchanged(
        help in text(),
        series in prop::collection::vec((text(), float()), 1..6),
    ) {
        let registry = Registry::new();
        let family = registry
            .float_gauge(Desc::new("prop", help.as_str()).labels(["value", "index"]))
            .expect("any help without a carriage return registers");
        for (index, (value, number)) in series.iter().enumerate() {
            family
                .with_labels(&[value, &index.to_string()])
                .expect("any value without a carriage return resolves")
                .set(*number);
        }

        let text = render_text(&registry);
        let read = parse_exposition(&text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        // The text format's parsers skip the blanks before help text (docs/DESIGN.md).
        let trimmed = help.trim_start_matches([' ', '\t']);
        check_read_back(&read, (!help.is_empty()).then_some(trimmed), &series)?;

        let openmetrics = render_openmetrics(&registry);
        let read = parse_openmetrics(&openmetrics)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{openmetrics}")))?;
        check_read_back(&read, (!help.is_empty()).then_some(help.as_str()), &series)?;
    }
}
