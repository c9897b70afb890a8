use std::fmt;

/// Why a registration, a label resolution or a bucket layout was refused.
///
/// Every variant carries the offending value, so the message can be logged as it is.
/// Recording through a handle never returns an error: everything that can go wrong is
/// caught here, before a handle exists.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The metric name does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName(String),
    /// The label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    InvalidLabelName(String),
    /// The label name is reserved: it starts with `__`, or it is `le` on a histogram.
    ReservedLabelName(String),
    /// A label value or help text holds a carriage return. Neither exposition format has an
    /// escape for it, and strict parsers reject a raw one.
    CarriageReturn {
        /// The family's name.
        family: String,
        /// The offending label value or help text.
        text: String,
    },
    /// The same label name appears twice in one family, its constant labels and the
    /// registry's included.
    DuplicateLabelName(String),
    /// A family's label name is also the name of one of its constant labels (its own or
    /// the registry's), so every series would carry that label twice.
    ConstLabelClash {
        /// The family's name.
        family: String,
        /// The label name in both.
        label: String,
    },
    /// A unit holds a character other than letters, digits, `_` and `:`, or is not the
    /// end of the family name after an underscore (for counters, the name without
    /// `_total`), as OpenMetrics requires.
    InvalidUnit {
        /// The family's name.
        family: String,
        /// The offending unit.
        unit: String,
    },
    /// A family was resolved with the wrong number of label values.
    LabelCount {
        /// The family's name.
        family: String,
        /// How many label names the family declares.
        expected: usize,
        /// How many values were given.
        got: usize,
    },
    /// The label values of one series are longer than
    /// [`LabelValues::MAX_BYTES`](crate::LabelValues::MAX_BYTES) together.
    LabelValuesTooLong {
        /// The family's name.
        family: String,
        /// Their total length.
        bytes: usize,
    },
    /// The name is already registered with a different kind, help, label names, buckets,
    /// scale or `_total` suffix setting.
    Conflict {
        /// The contested family name.
        name: String,
        /// What differs from the existing registration.
        reason: ConflictReason,
    },
    /// A sample name this family would expose (for example `x_total` or `x_bucket`) is
    /// already exposed by another family, so the two could not be told apart on a scrape.
    NameClash {
        /// The family being registered.
        name: String,
        /// The sample name both would expose.
        sample: String,
        /// The family that already exposes it.
        existing: String,
    },
    /// A histogram bucket bound is NaN, not strictly greater than the one before it, or a
    /// bucket layout has more bounds than [`Buckets::MAX_BOUNDS`](crate::Buckets::MAX_BOUNDS).
    InvalidBucket {
        /// Position of the offending bound in the given list.
        index: usize,
        /// The offending bound.
        bound: f64,
        /// What is wrong with it.
        reason: BucketError,
    },
    /// A fixed-point counter's scale is outside `0..=FixedCounter::MAX_DECIMALS`.
    InvalidScale(u32),
    /// The registry has no room for more cells (about four million per registry).
    CapacityExhausted,
}

/// What differs between a registration and the family already registered under its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConflictReason {
    /// Counter against gauge, histogram against counter, and so on.
    Kind,
    /// The help text differs.
    Help,
    /// The label names differ, in content or order.
    Labels,
    /// The histogram bucket bounds differ.
    Buckets,
    /// The fixed-point counter's number of decimals differs.
    Scale,
    /// One registration of a counter named without `_total` asked for the name as given
    /// ([`Desc::exact_name`](crate::Desc::exact_name)) and the other did not.
    ExactName,
    /// The unit differs.
    Unit,
    /// The constant labels differ, in names, values or order.
    ConstLabels,
}

/// What is wrong with a histogram bucket bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BucketError {
    /// The bound is NaN.
    NaN,
    /// The bound is smaller than the one before it.
    Unsorted,
    /// The bound equals the one before it.
    Duplicate,
    /// More bounds than a histogram may have.
    TooMany,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidMetricName(name) => write!(f, "invalid metric name {name:?}"),
            Error::InvalidLabelName(name) => write!(f, "invalid label name {name:?}"),
            Error::ReservedLabelName(name) => write!(f, "reserved label name {name:?}"),
            Error::CarriageReturn { family, text } => write!(
                f,
                "{text:?} of family {family:?} holds a carriage return, which no exposition \
                 format can carry"
            ),
            Error::DuplicateLabelName(name) => write!(f, "label name {name:?} given twice"),
            Error::ConstLabelClash { family, label } => write!(
                f,
                "family {family:?} has a label {label:?} and a constant label of the same name"
            ),
            Error::InvalidUnit { family, unit } => write!(
                f,
                "unit {unit:?} of family {family:?} must be made of letters, digits, '_' and \
                 ':' and end the family name after an underscore"
            ),
            Error::LabelCount {
                family,
                expected,
                got,
            } => write!(
                f,
                "family {family:?} has {expected} label names but {got} values were given"
            ),
            Error::LabelValuesTooLong { family, bytes } => write!(
                f,
                "label values of {bytes} bytes for family {family:?} exceed the limit of {}",
                crate::LabelValues::MAX_BYTES
            ),
            Error::Conflict { name, reason } => {
                write!(f, "{name:?} is already registered with different {reason}")
            }
            Error::NameClash {
                name,
                sample,
                existing,
            } => write!(
                f,
                "family {name:?} would expose {sample:?}, which family {existing:?} already exposes"
            ),
            Error::InvalidBucket {
                index,
                bound,
                reason,
            } => {
                write!(f, "bucket bound {bound} at position {index} is {reason}")
            }
            Error::InvalidScale(decimals) => write!(
                f,
                "a fixed-point counter takes 0 to {} decimals, not {decimals}",
                crate::FixedCounter::MAX_DECIMALS
            ),
            Error::CapacityExhausted => f.write_str("the registry has no room for more cells"),
        }
    }
}

impl fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConflictReason::Kind => "kind",
            ConflictReason::Help => "help text",
            ConflictReason::Labels => "label names",
            ConflictReason::Buckets => "bucket bounds",
            ConflictReason::Scale => "decimals",
            ConflictReason::ExactName => "`_total` suffix setting",
            ConflictReason::Unit => "unit",
            ConflictReason::ConstLabels => "constant labels",
        })
    }
}

impl fmt::Display for BucketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BucketError::NaN => "NaN",
            BucketError::Unsorted => "smaller than the bound before it",
            BucketError::Duplicate => "equal to the bound before it",
            BucketError::TooMany => "one too many",
        })
    }
}

impl std::error::Error for Error {}
