use std::fmt;

/// Why an exposition was rejected, and on which line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line, counted from 1.
    pub line: usize,
    /// What is wrong with it.
    pub kind: ParseErrorKind,
}

/// What is wrong with a line. Each variant carries the offending text where there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A metric name does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName(String),
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    InvalidLabelName(String),
    /// A label name appears twice in one sample.
    DuplicateLabel(String),
    /// A specific character was required here; `found` is `None` at the end of the line.
    Expected {
        /// What the grammar requires, e.g. `"="` or `"\" or ,"`.
        expected: &'static str,
        /// What the line has instead.
        found: Option<char>,
    },
    /// A label value's closing quote is missing.
    UnterminatedLabelValue,
    /// A backslash followed by a character the format does not define an escape for
    /// (`None`: the backslash ends the line).
    InvalidEscape(Option<char>),
    /// A sample line has no value.
    MissingValue,
    /// A value is not a float as Go's `ParseFloat` reads it.
    InvalidValue(String),
    /// A value is a well-formed number beyond the range of `f64`.
    ValueOutOfRange(String),
    /// A timestamp is not an `i64` count of milliseconds.
    InvalidTimestamp(String),
    /// Something follows the timestamp (or the `# TYPE` line's type).
    TrailingText(String),
    /// A `# TYPE` line names a type the format does not have.
    UnknownType(String),
    /// A second `# HELP` line for a metric name.
    DuplicateHelp(String),
    /// A second `# TYPE` line for a metric name.
    DuplicateType(String),
    /// A `# TYPE` line after a sample of its metric.
    TypeAfterSamples(String),
    /// The input does not end with a line feed.
    MissingFinalNewline,
    /// OpenMetrics: the exposition does not end with `# EOF`.
    MissingEof,
    /// OpenMetrics: something follows the `# EOF` line.
    TextAfterEof,
    /// OpenMetrics: a blank line.
    BlankLine,
    /// OpenMetrics: a line starting with `#` that is not `# HELP`, `# TYPE`, `# UNIT` or
    /// `# EOF`.
    InvalidComment(String),
    /// OpenMetrics: a second `# UNIT` line for a family.
    DuplicateUnit(String),
    /// OpenMetrics: a unit with characters other than letters, digits, `_` and `:`, or one
    /// that does not end the family name after an underscore.
    InvalidUnit {
        /// The family name.
        name: String,
        /// The unit.
        unit: String,
    },
    /// OpenMetrics: a `# HELP`, `# TYPE` or `# UNIT` line after the family's samples.
    MetadataAfterSamples(String),
    /// OpenMetrics: a family's lines resume after another family's began.
    InterleavedFamily(String),
    /// OpenMetrics: a sample named as its family but with a suffix its type does not
    /// have, such as a counter sample without `_total`.
    InvalidSampleName(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidMetricName(name) => write!(f, "invalid metric name {name:?}"),
            Self::InvalidLabelName(name) => write!(f, "invalid label name {name:?}"),
            Self::DuplicateLabel(name) => write!(f, "label {name:?} given twice"),
            Self::Expected {
                expected,
                found: Some(found),
            } => write!(f, "expected {expected}, found {found:?}"),
            Self::Expected {
                expected,
                found: None,
            } => write!(f, "expected {expected}, found the end of the line"),
            Self::UnterminatedLabelValue => f.write_str("label value without a closing quote"),
            Self::InvalidEscape(Some(c)) => write!(f, "undefined escape sequence \\{c}"),
            Self::InvalidEscape(None) => f.write_str("backslash at the end of the line"),
            Self::MissingValue => f.write_str("sample without a value"),
            Self::InvalidValue(value) => write!(f, "invalid value {value:?}"),
            Self::ValueOutOfRange(value) => write!(f, "value {value:?} is beyond float64"),
            Self::InvalidTimestamp(value) => write!(f, "invalid timestamp {value:?}"),
            Self::TrailingText(text) => write!(f, "unexpected text {text:?} at the end"),
            Self::UnknownType(name) => write!(f, "unknown metric type {name:?}"),
            Self::DuplicateHelp(name) => write!(f, "second HELP line for {name:?}"),
            Self::DuplicateType(name) => write!(f, "second TYPE line for {name:?}"),
            Self::TypeAfterSamples(name) => {
                write!(f, "TYPE line for {name:?} after its samples")
            }
            Self::MissingFinalNewline => f.write_str("the last line does not end with a line feed"),
            Self::MissingEof => f.write_str("the exposition does not end with # EOF"),
            Self::TextAfterEof => f.write_str("text after # EOF"),
            Self::BlankLine => f.write_str("blank line"),
            Self::InvalidComment(line) => write!(f, "comment {line:?} is not HELP, TYPE or UNIT"),
            Self::DuplicateUnit(name) => write!(f, "second UNIT line for {name:?}"),
            Self::InvalidUnit { name, unit } => {
                write!(f, "unit {unit:?} does not end the family name {name:?}")
            }
            Self::MetadataAfterSamples(name) => {
                write!(f, "metadata for {name:?} after its samples")
            }
            Self::InterleavedFamily(name) => {
                write!(f, "family {name:?} resumes after another family")
            }
            Self::InvalidSampleName(name) => {
                write!(f, "sample name {name:?} does not fit its family's type")
            }
        }
    }
}

impl std::error::Error for ParseError {}
