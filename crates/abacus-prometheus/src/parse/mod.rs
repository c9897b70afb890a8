//! Parsers for the Prometheus text format 0.0.4 and OpenMetrics 1.0, for reading an
//! exposition back: tests, tools and self-checks. [`parse_exposition`] reads the text
//! format and [`parse_openmetrics`] OpenMetrics; both give an [`Exposition`].
//!
//! It follows the format's specification
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>)
//! rather than this crate's renderer, so it also reads what other clients write: blanks
//! and tabs between tokens, a trailing comma in a label set, timestamps, comments, and
//! the spellings of infinity and NaN that Go's `ParseFloat` accepts. It rejects what the
//! specification forbids: undefined escapes, a second `# HELP` or `# TYPE` for a name, a
//! `# TYPE` after its samples, a missing final line feed.
//!
//! ```
//! use abacus_prometheus::parse::{parse_exposition, MetricType};
//!
//! let text = "# TYPE jobs_total counter\njobs_total{queue=\"a\\\"b\"} 3\n";
//! let exposition = parse_exposition(text)?;
//! assert_eq!(exposition.metric_type("jobs_total"), Some(MetricType::Counter));
//! assert_eq!(exposition.value("jobs_total", &[("queue", "a\"b")]), Some(3.0));
//! # Ok::<(), abacus_prometheus::parse::ParseError>(())
//! ```

mod error;
mod line;
mod openmetrics;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_openmetrics;

use std::collections::HashSet;

pub use self::error::{ParseError, ParseErrorKind};
use self::line::{parse_comment, parse_sample, Comment};
pub use self::openmetrics::parse_openmetrics;

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample name, e.g. `requests_total` or `latency_seconds_bucket`.
    pub name: String,
    /// Label names and unescaped values, in the order of the line.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The timestamp in milliseconds since the Unix epoch, when the line has one
    /// (OpenMetrics gives seconds; they are rounded to the millisecond, as Prometheus
    /// stores them).
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of the label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(label, _)| label == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the sample's labels are exactly `labels`, in any order.
    pub fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        self.labels.len() == labels.len()
            && labels
                .iter()
                .all(|&(name, value)| self.label(name) == Some(value))
    }
}

/// The type a `# TYPE` line declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `summary`
    Summary,
    /// `untyped` (text format only)
    Untyped,
    /// `gaugehistogram` (OpenMetrics only)
    GaugeHistogram,
    /// `stateset` (OpenMetrics only)
    StateSet,
    /// `info` (OpenMetrics only)
    Info,
    /// `unknown` (OpenMetrics only)
    Unknown,
}

/// Everything an exposition holds, in input order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposition {
    /// `# HELP` lines: the metric name and the unescaped text.
    pub help_lines: Vec<(String, String)>,
    /// `# TYPE` lines: the metric name and its type.
    pub type_lines: Vec<(String, MetricType)>,
    /// `# UNIT` lines (OpenMetrics only): the family name and its unit.
    pub unit_lines: Vec<(String, String)>,
    /// Sample lines.
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The help text given for `name`.
    pub fn help(&self, name: &str) -> Option<&str> {
        self.help_lines
            .iter()
            .find(|(metric, _)| metric == name)
            .map(|(_, text)| text.as_str())
    }

    /// The unit given for `name`.
    pub fn unit(&self, name: &str) -> Option<&str> {
        self.unit_lines
            .iter()
            .find(|(metric, _)| metric == name)
            .map(|(_, unit)| unit.as_str())
    }

    /// The type declared for `name`.
    pub fn metric_type(&self, name: &str) -> Option<MetricType> {
        self.type_lines
            .iter()
            .find(|(metric, _)| metric == name)
            .map(|&(_, kind)| kind)
    }

    /// The first sample named `name` whose labels are exactly `labels`, in any order.
    pub fn sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        self.samples
            .iter()
            .find(|sample| sample.name == name && sample.has_labels(labels))
    }

    /// The value of [`Exposition::sample`].
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.sample(name, labels).map(|sample| sample.value)
    }
}

/// Parses a text format 0.0.4 exposition into its samples.
///
/// # Errors
///
/// [`ParseError`] with the first offending line; see [`parse_exposition`].
pub fn parse_text(input: &str) -> Result<Vec<Sample>, ParseError> {
    parse_exposition(input).map(|exposition| exposition.samples)
}

/// Parses a text format 0.0.4 exposition into its samples, help texts and types.
///
/// # Errors
///
/// [`ParseError`] with the first offending line (counted from 1) and a
/// [`ParseErrorKind`] for a malformed name, label set, escape, value or timestamp, an
/// unknown type, a repeated `# HELP` or `# TYPE`, a `# TYPE` after its samples, or
/// non-empty input that does not end with a line feed.
pub fn parse_exposition(input: &str) -> Result<Exposition, ParseError> {
    let mut exposition = Exposition::default();
    let body = match input.strip_suffix('\n') {
        Some(body) => body,
        None if input.is_empty() => return Ok(exposition),
        None => {
            return Err(ParseError {
                line: input.split('\n').count(),
                kind: ParseErrorKind::MissingFinalNewline,
            })
        }
    };
    let mut seen_samples: HashSet<&str> = HashSet::new();
    for (index, line) in body.split('\n').enumerate() {
        let fail = |kind| ParseError {
            line: index + 1,
            kind,
        };
        let content = line.trim_start_matches([' ', '\t']);
        if content.is_empty() {
            continue;
        }
        if !content.starts_with('#') {
            let sample = parse_sample(content).map_err(fail)?;
            // The name starts the line, so the set can borrow it from the input.
            if let Some(name) = content.get(..sample.name.len()) {
                seen_samples.insert(name);
            }
            exposition.samples.push(sample);
            continue;
        }
        match parse_comment(content).map_err(fail)? {
            Comment::Help { name, text } => {
                if exposition.help(&name).is_some() {
                    return Err(fail(ParseErrorKind::DuplicateHelp(name)));
                }
                exposition.help_lines.push((name, text));
            }
            Comment::Type { name, kind } => {
                if exposition.metric_type(&name).is_some() {
                    return Err(fail(ParseErrorKind::DuplicateType(name)));
                }
                if sample_names(&name, kind).any(|sample| seen_samples.contains(sample.as_str())) {
                    return Err(fail(ParseErrorKind::TypeAfterSamples(name)));
                }
                exposition.type_lines.push((name, kind));
            }
            Comment::Other => {}
        }
    }
    Ok(exposition)
}

/// The sample names a family of this type and name has in the text format.
fn sample_names(name: &str, kind: MetricType) -> impl Iterator<Item = String> + '_ {
    let suffixes: &[&str] = match kind {
        MetricType::Histogram => &["_bucket", "_sum", "_count"],
        MetricType::Summary => &["", "_sum", "_count"],
        _ => &[""],
    };
    suffixes.iter().map(move |suffix| format!("{name}{suffix}"))
}
