//! Arbitrary label values and float values go through registration and rendering, and
//! must come back unchanged through the independent parser.

#![no_main]

use abacus::{Desc, Registry};
use abacus_prometheus::{parse::parse_text, render_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Each 8-byte chunk is a float; the rest, split on 0xff, are label values.
    let (floats, text) = data.split_at(data.len() / 2 / 8 * 8);
    let values: Vec<f64> =
        floats.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
    let labels: Vec<String> =
        text.split(|b| *b == 0xff).map(|s| String::from_utf8_lossy(s).into_owned()).collect();

    let registry = Registry::new();
    let family = registry
        .float_gauge(Desc::new("fuzz_value", "Fuzzed \\ help\nline.").labels(["v"]))
        .expect("a valid description");
    let mut expected = std::collections::HashMap::new();
    for (label, value) in labels.iter().zip(values.iter().cycle()) {
        // No exposition format can carry a carriage return, so resolving refuses one.
        match family.with_labels(&[label]) {
            Ok(gauge) => gauge.set(*value),
            Err(abacus::Error::CarriageReturn { .. }) if label.contains('\r') => continue,
            Err(error) => panic!("{label:?} refused: {error}"),
        }
        assert!(!label.contains('\r'), "{label:?} accepted");
        expected.insert(label.clone(), *value);
    }

    let text = render_text(&registry);
    let samples = parse_text(&text).expect("our own rendering parses");
    assert_eq!(samples.len(), if values.is_empty() { 0 } else { expected.len() });
    for sample in samples {
        let label = sample.label("v").expect("the label is there").to_owned();
        let want = expected[&label];
        assert!(
            want.to_bits() == sample.value.to_bits() || (want.is_nan() && sample.value.is_nan()),
            "{label:?}: {want} rendered and read back as {}",
            sample.value
        );
    }
});
