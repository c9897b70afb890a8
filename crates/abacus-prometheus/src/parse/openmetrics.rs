//! The OpenMetrics 1.0 text format, read after its ABNF and its rules on families:
//! <https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md#text-format>.
//!
//! Unlike the text format 0.0.4, tokens are separated by exactly one space, blank lines and
//! free comments are not allowed, label sets take no trailing comma, and the exposition
//! ends with `# EOF`. Escapes are `\\`, `\"` and `\n` in label values and help alike; a
//! backslash before any other character stands for itself, as the ABNF allows.

use std::collections::HashSet;

use super::line::{is_decimal, is_label_name, is_metric_name, parse_float};
use super::{Exposition, MetricType, ParseError, ParseErrorKind, Sample};

/// The family whose lines are being read.
struct Current {
    name: String,
    kind: MetricType,
    help: bool,
    kind_declared: bool,
    unit: bool,
    samples: bool,
}

impl Current {
    fn new(name: &str) -> Self {
        Current {
            name: name.to_owned(),
            kind: MetricType::Unknown,
            help: false,
            kind_declared: false,
            unit: false,
            samples: false,
        }
    }

    /// Whether a sample called `sample` belongs to this family, by the suffixes its type
    /// gives its samples.
    fn owns(&self, sample: &str) -> bool {
        let Some(suffix) = sample.strip_prefix(self.name.as_str()) else {
            return false;
        };
        let suffixes: &[&str] = match self.kind {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Gauge
            | MetricType::Untyped
            | MetricType::Unknown
            | MetricType::StateSet => &[""],
            MetricType::Info => &["_info"],
            MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
            MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            MetricType::Summary => &["", "_count", "_sum", "_created"],
        };
        suffixes.contains(&suffix)
    }
}

/// Parses an OpenMetrics 1.0 text exposition into its samples, help texts, types and
/// units.
///
/// # Errors
///
/// [`ParseError`] with the first offending line (counted from 1) and a
/// [`ParseErrorKind`]: a malformed line, name, label set, escape or number; a blank line or
/// a comment other than `# HELP`, `# TYPE`, `# UNIT` and `# EOF`; metadata given twice or
/// after the family's samples; a unit that does not end the family name; a family whose
/// lines are interrupted by another's; a sample whose name does not fit its family's type;
/// a missing `# EOF`, or anything after it.
pub fn parse_openmetrics(input: &str) -> Result<Exposition, ParseError> {
    let Some(body) = input
        .strip_suffix("# EOF\n")
        .or_else(|| input.strip_suffix("# EOF"))
        .filter(|body| body.is_empty() || body.ends_with('\n'))
    else {
        return Err(misplaced_eof(input));
    };
    let mut exposition = Exposition::default();
    let mut current: Option<Current> = None;
    let mut finished: HashSet<String> = HashSet::new();
    let lines = body.strip_suffix('\n').map(|b| b.split('\n'));
    for (index, line) in lines.into_iter().flatten().enumerate() {
        let fail = |kind| ParseError {
            line: index + 1,
            kind,
        };
        if line == "# EOF" {
            return Err(ParseError {
                line: index + 2,
                kind: ParseErrorKind::TextAfterEof,
            });
        }
        if line.is_empty() {
            return Err(fail(ParseErrorKind::BlankLine));
        }
        if line.starts_with('#') {
            let (keyword, name, rest) = split_metadata(line).map_err(fail)?;
            let family = enter(&mut current, &mut finished, name).map_err(fail)?;
            if family.samples {
                return Err(fail(ParseErrorKind::MetadataAfterSamples(name.to_owned())));
            }
            match keyword {
                "HELP" => {
                    if std::mem::replace(&mut family.help, true) {
                        return Err(fail(ParseErrorKind::DuplicateHelp(name.to_owned())));
                    }
                    let text = unescape(rest).map_err(fail)?;
                    exposition.help_lines.push((name.to_owned(), text));
                }
                "TYPE" => {
                    if std::mem::replace(&mut family.kind_declared, true) {
                        return Err(fail(ParseErrorKind::DuplicateType(name.to_owned())));
                    }
                    family.kind = parse_type(rest).map_err(fail)?;
                    exposition.type_lines.push((name.to_owned(), family.kind));
                }
                _ => {
                    if std::mem::replace(&mut family.unit, true) {
                        return Err(fail(ParseErrorKind::DuplicateUnit(name.to_owned())));
                    }
                    check_unit(name, rest).map_err(fail)?;
                    exposition
                        .unit_lines
                        .push((name.to_owned(), rest.to_owned()));
                }
            }
            continue;
        }
        let sample = parse_sample(line).map_err(fail)?;
        if !current.as_ref().is_some_and(|c| c.owns(&sample.name)) {
            if current.as_ref().is_some_and(|c| c.name == sample.name) {
                // The family's own name on a sample its type does not allow, such as a
                // counter sample without `_total`.
                return Err(fail(ParseErrorKind::InvalidSampleName(sample.name)));
            }
            enter(&mut current, &mut finished, &sample.name).map_err(fail)?;
        }
        if let Some(family) = current.as_mut() {
            family.samples = true;
        }
        exposition.samples.push(sample);
    }
    Ok(exposition)
}

/// The error for an input that does not end with its one `# EOF` line: text after it, or
/// no such line at all.
fn misplaced_eof(input: &str) -> ParseError {
    let lines: Vec<&str> = input.split('\n').collect();
    match lines.iter().position(|&line| line == "# EOF") {
        Some(index) => ParseError {
            line: index + 2,
            kind: ParseErrorKind::TextAfterEof,
        },
        None => ParseError {
            line: lines.len(),
            kind: ParseErrorKind::MissingEof,
        },
    }
}

/// Makes `name` the current family, starting it if it is new; a family may not resume
/// once another has begun.
fn enter<'a>(
    current: &'a mut Option<Current>,
    finished: &mut HashSet<String>,
    name: &str,
) -> Result<&'a mut Current, ParseErrorKind> {
    if !current.as_ref().is_some_and(|c| c.name == name) {
        if finished.contains(name) {
            return Err(ParseErrorKind::InterleavedFamily(name.to_owned()));
        }
        if let Some(previous) = current.take() {
            finished.insert(previous.name);
        }
    }
    Ok(current.get_or_insert_with(|| Current::new(name)))
}

/// Splits `# KEYWORD name rest` with single spaces; the rest may be empty but its space
/// may not be missing.
fn split_metadata(line: &str) -> Result<(&str, &str, &str), ParseErrorKind> {
    let body = line
        .strip_prefix("# ")
        .ok_or_else(|| ParseErrorKind::InvalidComment(line.to_owned()))?;
    let (keyword, after) = body
        .split_once(' ')
        .ok_or_else(|| ParseErrorKind::InvalidComment(line.to_owned()))?;
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        return Err(ParseErrorKind::InvalidComment(line.to_owned()));
    }
    let (name, rest) = after.split_once(' ').ok_or(ParseErrorKind::Expected {
        expected: "a space after the name",
        found: None,
    })?;
    if !is_metric_name(name) {
        return Err(ParseErrorKind::InvalidMetricName(name.to_owned()));
    }
    Ok((keyword, name, rest))
}

fn parse_type(text: &str) -> Result<MetricType, ParseErrorKind> {
    Ok(match text {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "stateset" => MetricType::StateSet,
        "info" => MetricType::Info,
        "summary" => MetricType::Summary,
        "unknown" => MetricType::Unknown,
        other => return Err(ParseErrorKind::UnknownType(other.to_owned())),
    })
}

/// A unit is made of metric name characters and, when not empty, ends the family name
/// after an underscore.
fn check_unit(name: &str, unit: &str) -> Result<(), ParseErrorKind> {
    let chars = unit
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
    let suffix = unit.is_empty()
        || name
            .strip_suffix(unit)
            .is_some_and(|rest| rest.ends_with('_'));
    if chars && suffix {
        Ok(())
    } else {
        Err(ParseErrorKind::InvalidUnit {
            name: name.to_owned(),
            unit: unit.to_owned(),
        })
    }
}

/// Unescapes help text: the whole rest of its line is one escaped string.
fn unescape(text: &str) -> Result<String, ParseErrorKind> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            push_escape(&mut out, chars.next())?;
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Appends what a backslash followed by `next` stands for.
fn push_escape(out: &mut String, next: Option<char>) -> Result<(), ParseErrorKind> {
    match next {
        Some('\\') => out.push('\\'),
        Some('"') => out.push('"'),
        Some('n') => out.push('\n'),
        // "A single backslash SHOULD NOT be used for undefined escape sequences" but may
        // be: the backslash and the character stand for themselves.
        Some('\n') | None => return Err(ParseErrorKind::InvalidEscape(next)),
        Some(other) => {
            out.push('\\');
            out.push(other);
        }
    }
    Ok(())
}

/// A position in one sample line.
struct Cursor<'a> {
    line: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.line[self.at..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn take_until(&mut self, stop: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let end = rest.find(stop).unwrap_or(rest.len());
        self.at += end;
        &rest[..end]
    }

    fn expect(&mut self, wanted: char, expected: &'static str) -> Result<(), ParseErrorKind> {
        match self.peek() {
            Some(c) if c == wanted => {
                self.at += c.len_utf8();
                Ok(())
            }
            found => Err(ParseErrorKind::Expected { expected, found }),
        }
    }

    fn at_end(&self) -> bool {
        self.at == self.line.len()
    }
}

/// `name[{labels}] value [timestamp] [# {labels} value [timestamp]]`; the exemplar is
/// checked and left out.
fn parse_sample(line: &str) -> Result<Sample, ParseErrorKind> {
    let mut cursor = Cursor { line, at: 0 };
    let name = cursor.take_until(|c| c == '{' || c == ' ');
    if !is_metric_name(name) {
        return Err(ParseErrorKind::InvalidMetricName(name.to_owned()));
    }
    let labels = if cursor.peek() == Some('{') {
        parse_labels(&mut cursor)?
    } else {
        Vec::new()
    };
    if cursor.at_end() {
        return Err(ParseErrorKind::MissingValue);
    }
    cursor.expect(' ', "a space")?;
    let value = parse_number(cursor.take_until(|c| c == ' '))?;
    let mut timestamp_ms = None;
    if !cursor.at_end() {
        cursor.expect(' ', "a space")?;
        if cursor.peek() != Some('#') {
            timestamp_ms = Some(parse_timestamp(cursor.take_until(|c| c == ' '))?);
            if !cursor.at_end() {
                cursor.expect(' ', "a space")?;
            }
        }
        if !cursor.at_end() {
            parse_exemplar(&mut cursor)?;
        }
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp_ms,
    })
}

/// ` # {labels} value [timestamp]` from its `#`, to the end of the line.
fn parse_exemplar(cursor: &mut Cursor<'_>) -> Result<(), ParseErrorKind> {
    cursor.expect('#', "# before an exemplar")?;
    cursor.expect(' ', "a space")?;
    if cursor.peek() != Some('{') {
        return Err(ParseErrorKind::Expected {
            expected: "{",
            found: cursor.peek(),
        });
    }
    parse_labels(cursor)?;
    cursor.expect(' ', "a space")?;
    parse_number(cursor.take_until(|c| c == ' '))?;
    if !cursor.at_end() {
        cursor.expect(' ', "a space")?;
        parse_timestamp(cursor.take_until(|c| c == ' '))?;
    }
    if !cursor.at_end() {
        return Err(ParseErrorKind::TrailingText(cursor.rest().to_owned()));
    }
    Ok(())
}

/// `{name="value",...}` from its opening brace, with no blanks and no trailing comma.
fn parse_labels(cursor: &mut Cursor<'_>) -> Result<Vec<(String, String)>, ParseErrorKind> {
    cursor.expect('{', "{")?;
    let mut labels: Vec<(String, String)> = Vec::new();
    if cursor.peek() == Some('}') {
        cursor.at += 1;
        return Ok(labels);
    }
    loop {
        let name = cursor.take_until(|c| matches!(c, '=' | ',' | '}' | '"' | ' '));
        if !is_label_name(name) {
            return Err(ParseErrorKind::InvalidLabelName(name.to_owned()));
        }
        if labels.iter().any(|(existing, _)| existing == name) {
            return Err(ParseErrorKind::DuplicateLabel(name.to_owned()));
        }
        cursor.expect('=', "=")?;
        cursor.expect('"', "\"")?;
        let value = parse_label_value(cursor)?;
        labels.push((name.to_owned(), value));
        match cursor.peek() {
            Some(',') => cursor.at += 1,
            Some('}') => {
                cursor.at += 1;
                return Ok(labels);
            }
            found => {
                return Err(ParseErrorKind::Expected {
                    expected: ", or }",
                    found,
                })
            }
        }
    }
}

/// Reads a label value after its opening quote, through its closing quote.
fn parse_label_value(cursor: &mut Cursor<'_>) -> Result<String, ParseErrorKind> {
    let mut value = String::new();
    let mut chars = cursor.rest().char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => {
                cursor.at += index + 1;
                return Ok(value);
            }
            '\\' => push_escape(&mut value, chars.next().map(|(_, next)| next))?,
            c => value.push(c),
        }
    }
    Err(ParseErrorKind::UnterminatedLabelValue)
}

/// The ABNF's `number`: a decimal with an optional exponent, or, in any case,
/// `[sign]inf`, `[sign]infinity` and `nan` (without a sign).
fn parse_number(token: &str) -> Result<f64, ParseErrorKind> {
    if token.is_empty() {
        return Err(ParseErrorKind::MissingValue);
    }
    parse_float(token, false)
}

/// A timestamp is a decimal number of seconds; it is kept in milliseconds, rounded, as
/// Prometheus stores it.
fn parse_timestamp(token: &str) -> Result<i64, ParseErrorKind> {
    let unsigned = token.strip_prefix(['+', '-']).unwrap_or(token);
    let seconds = if is_decimal(unsigned) {
        token.parse::<f64>().ok()
    } else {
        None
    };
    match seconds.map(|s| (s * 1000.0).round()) {
        Some(ms) if ms.is_finite() && ms.abs() < 9.2e18 => Ok(ms as i64),
        _ => Err(ParseErrorKind::InvalidTimestamp(token.to_owned())),
    }
}
