//! The errors of building a configuration and of reading a timestamp.

use std::fmt;

/// Why a budget or pricing configuration was refused when it was built.
///
/// Every variant carries the offending value, and the budget or pattern it belongs to, so
/// the message can be logged as it is. Nothing after a successful build returns one.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A price is negative, NaN or infinite.
    InvalidPrice {
        /// The pattern the price belongs to; `None` for the default price.
        pattern: Option<String>,
        /// Which of the two prices.
        side: PriceSide,
        /// The offending price.
        value: f64,
    },
    /// A model pattern is the empty string.
    EmptyPattern,
    /// The same model pattern is given twice.
    DuplicatePattern(String),
    /// A budget's limit is zero.
    ZeroLimit {
        /// The budget: `default`, or `namespace/service/route/tenant`.
        budget: String,
    },
    /// A budget's limit is above [`MAX_LIMIT`](crate::MAX_LIMIT).
    LimitTooLarge {
        /// The budget: `default`, or `namespace/service/route/tenant`.
        budget: String,
        /// The offending limit.
        limit: u64,
    },
    /// An alert threshold is not in `(0, 1]`, or is below a millionth, the precision
    /// thresholds are kept to.
    ThresholdOutOfRange {
        /// The budget: `default`, or `namespace/service/route/tenant`.
        budget: String,
        /// The offending threshold.
        threshold: f64,
    },
    /// Two alert thresholds of one budget have the same percentage label.
    DuplicateThreshold {
        /// The budget: `default`, or `namespace/service/route/tenant`.
        budget: String,
        /// The label they share, such as `"80"`.
        label: String,
    },
    /// A budget has more than [`MAX_THRESHOLDS`](crate::MAX_THRESHOLDS) thresholds.
    TooManyThresholds {
        /// The budget: `default`, or `namespace/service/route/tenant`.
        budget: String,
        /// How many were given.
        count: usize,
    },
}

/// Which price of a model: prompt or completion tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSide {
    /// The price of input (prompt) tokens.
    Input,
    /// The price of output (completion) tokens.
    Output,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidPrice {
                pattern,
                side,
                value,
            } => {
                let side = match side {
                    PriceSide::Input => "input",
                    PriceSide::Output => "output",
                };
                match pattern {
                    Some(pattern) => write!(f, "the {side} price of {pattern:?} is {value}"),
                    None => write!(f, "the default {side} price is {value}"),
                }?;
                f.write_str("; a price must be finite and not negative")
            }
            ConfigError::EmptyPattern => f.write_str("a model pattern is empty"),
            ConfigError::DuplicatePattern(pattern) => {
                write!(f, "the model pattern {pattern:?} is given twice")
            }
            ConfigError::ZeroLimit { budget } => {
                write!(f, "the limit of budget {budget} is zero")
            }
            ConfigError::LimitTooLarge { budget, limit } => write!(
                f,
                "the limit of budget {budget} is {limit}, above the largest, {}",
                crate::MAX_LIMIT
            ),
            ConfigError::ThresholdOutOfRange { budget, threshold } => write!(
                f,
                "alert threshold {threshold} of budget {budget} is not in (0, 1] or is below \
                 a millionth"
            ),
            ConfigError::DuplicateThreshold { budget, label } => write!(
                f,
                "budget {budget} has two alert thresholds labelled {label:?}"
            ),
            ConfigError::TooManyThresholds { budget, count } => write!(
                f,
                "budget {budget} has {count} alert thresholds, more than {}",
                crate::MAX_THRESHOLDS
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A timestamp that is not `YYYY-MM-DD HH:MM:SS[.fraction]` (or with `T` between date and
/// time) for a UTC instant from 1970 on. Carries the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampError(pub String);

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a UTC timestamp YYYY-MM-DD HH:MM:SS[.fraction] from 1970 on",
            self.0
        )
    }
}

impl std::error::Error for TimestampError {}
