//! Input types shared by the structured targets. Each leans towards the values that break
//! things (special floats, names that almost pass validation, strings that need escaping)
//! while still reaching every raw value, so the fuzzer needs no luck to find the edges.

#![allow(dead_code)]

use arbitrary::{Arbitrary, Result, Unstructured};

/// A float, one time in four taken from the edge cases of IEEE 754.
#[derive(Clone, Copy, Debug)]
pub struct Float(pub f64);

const SPECIAL_FLOATS: [f64; 20] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    0.0,
    1.0,
    -1.0,
    0.5,
    0.1,
    f64::MIN_POSITIVE,
    // The smallest and a mid-range subnormal.
    5e-324,
    -5e-324,
    1e-310,
    f64::MAX,
    f64::MIN,
    f64::EPSILON,
    // 2^53 + 1 is not a float: the first integer a float cannot hold.
    9_007_199_254_740_993.0,
    1e21,
    1e-5,
    // A negative NaN with a payload, which no float literal spells.
    f64::from_bits(0xfff8_0000_dead_beef),
];

impl<'a> Arbitrary<'a> for Float {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Float(match u8::arbitrary(u)? % 4 {
            0 => *u.choose(&SPECIAL_FLOATS)?,
            1 => f64::from(i16::arbitrary(u)?) / 4.0,
            _ => f64::from_bits(u64::arbitrary(u)?),
        }))
    }
}

/// A string, one time in four one that needs escaping or is otherwise awkward in an
/// exposition.
#[derive(Clone, Debug)]
pub struct Text(pub String);

const AWKWARD_TEXTS: [&str; 18] = [
    "",
    "\\",
    "\"",
    "\n",
    "\r",
    "\\n",
    "a b",
    " leading",
    "trailing ",
    "\t",
    "}",
    "{le=\"1\"}",
    "+Inf",
    "NaN",
    "# EOF",
    "é\u{0}ü",
    "\u{feff}",
    "\\\"\n\\",
];

impl<'a> Arbitrary<'a> for Text {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Text(match u8::arbitrary(u)? % 4 {
            0 => (*u.choose(&AWKWARD_TEXTS)?).to_owned(),
            _ => String::arbitrary(u)?,
        }))
    }
}

/// A metric or label name: often valid, sometimes one character away from it, sometimes
/// anything at all. `label` picks the label name alphabet, which has no `:`.
fn name(u: &mut Unstructured<'_>, table: &[&str], label: bool) -> Result<String> {
    const METRIC: &[u8] = b"abcxyz_:ABZ0129";
    const LABEL: &[u8] = b"abcxyz_ABZ0129";
    let alphabet = if label { LABEL } else { METRIC };
    let built = |u: &mut Unstructured<'_>| -> Result<String> {
        let len = u.int_in_range(0..=12)?;
        (0..len)
            .map(|_| u.choose(alphabet).map(|&b| char::from(b)))
            .collect()
    };
    Ok(match u8::arbitrary(u)? % 5 {
        0 | 1 => (*u.choose(table)?).to_owned(),
        2 => built(u)?,
        3 => format!("{}_{}", u.choose(table)?, built(u)?),
        _ => String::arbitrary(u)?,
    })
}

#[derive(Clone, Debug)]
pub struct MetricName(pub String);

impl<'a> Arbitrary<'a> for MetricName {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const NAMES: &[&str] = &[
            "requests",
            "requests_total",
            "_total",
            "x_total_total",
            "latency_seconds",
            "size_bytes",
            "a:b",
            ":",
            "_",
            "x",
            "x_bucket",
            "x_sum",
            "x_count",
            "x_created",
            "up",
        ];
        name(u, NAMES, false).map(MetricName)
    }
}

#[derive(Clone, Debug)]
pub struct LabelName(pub String);

impl<'a> Arbitrary<'a> for LabelName {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const NAMES: &[&str] = &[
            "route", "le", "quantile", "__name__", "_", "_x", "a", "b", "region", "x1",
        ];
        name(u, NAMES, true).map(LabelName)
    }
}

/// Checks `[a-zA-Z_:][a-zA-Z0-9_:]*`, the data model's metric name rule.
pub fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Checks `[a-zA-Z_][a-zA-Z0-9_]*` without the reserved `__` prefix.
pub fn is_usable_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.starts_with("__")
}

/// Equal bits, or both NaN: the exposition formats have one NaN, so payloads and signs of
/// NaN do not survive a round trip, and need not.
pub fn same_float(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}
