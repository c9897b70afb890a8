//! Alert thresholds: a fraction of the limit, kept in millionths, and its label.

use std::fmt;

/// Millionths in one: thresholds are kept to this precision, so that 0.8 is exactly
/// eight tenths of a limit and not the binary fraction nearest to it.
const PARTS: u64 = 1_000_000;

/// An alert threshold: a fraction of the budget in `(0, 1]`, kept to a millionth, and
/// labelled as a percentage: 0.8 is `"80"`, 0.95 is `"95"`, 0.805 is `"80.5"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Threshold {
    millionths: u32,
    label: Box<str>,
}

impl Threshold {
    /// The threshold for `fraction`, rounded to the nearest millionth; `None` when it is
    /// not in `(0, 1]` or rounds to zero.
    ///
    /// ```
    /// use abacus_inference::Threshold;
    ///
    /// assert_eq!(Threshold::new(0.8).unwrap().label(), "80");
    /// assert_eq!(Threshold::new(0.955).unwrap().label(), "95.5");
    /// assert!(Threshold::new(1.2).is_none());
    /// ```
    pub fn new(fraction: f64) -> Option<Self> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return None;
        }
        let millionths = (fraction * PARTS as f64).round() as u32;
        if millionths == 0 {
            return None;
        }
        Some(Threshold {
            millionths,
            label: percentage(millionths).into(),
        })
    }

    /// The fraction of the limit, as kept (to a millionth).
    pub fn fraction(&self) -> f64 {
        f64::from(self.millionths) / PARTS as f64
    }

    /// The value of the `threshold` label: the whole percentage, or the percentage with
    /// its decimals and no trailing zeros.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The number of tokens at which a budget of `limit` tokens reaches this threshold:
    /// the least whole number not below `fraction × limit`, computed exactly.
    pub fn tokens(&self, limit: u64) -> u64 {
        let product = u128::from(self.millionths) * u128::from(limit);
        // Not above `limit`, since the fraction is at most one.
        product.div_ceil(u128::from(PARTS)) as u64
    }
}

/// The label: `"80"` for 800,000 millionths, `"80.5"` for 805,000.
fn percentage(millionths: u32) -> String {
    // A percent is 10,000 millionths.
    let (whole, rest) = (millionths / 10_000, millionths % 10_000);
    if rest == 0 {
        return whole.to_string();
    }
    let decimals = format!("{rest:04}");
    format!("{whole}.{}", decimals.trim_end_matches('0'))
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.label)
    }
}
