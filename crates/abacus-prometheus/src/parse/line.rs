//! One line of the text format: a sample, a `# HELP` or `# TYPE` line, or a comment.
//!
//! Tokens are separated by blanks and tabs. Names, label values, values and timestamps
//! follow <https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details>.

use super::{MetricType, ParseErrorKind, Sample};

/// What a line that starts with `#` says.
pub(super) enum Comment {
    Help { name: String, text: String },
    Type { name: String, kind: MetricType },
    Other,
}

/// A position in one line (without its line feed).
struct Cursor<'a> {
    line: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.line[self.at..].chars().next()
    }

    fn rest(&self) -> &'a str {
        &self.line[self.at..]
    }

    fn skip_blanks(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start_matches([' ', '\t']).len();
    }

    /// Takes characters up to (not including) the first one `stop` accepts.
    fn take_until(&mut self, stop: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let end = rest.find(stop).unwrap_or(rest.len());
        self.at += end;
        &rest[..end]
    }

    fn token(&mut self) -> &'a str {
        self.take_until(is_blank)
    }

    /// Consumes `wanted`, or fails naming it.
    fn expect(&mut self, wanted: char, expected: &'static str) -> Result<(), ParseErrorKind> {
        match self.peek() {
            Some(c) if c == wanted => {
                self.at += c.len_utf8();
                Ok(())
            }
            found => Err(ParseErrorKind::Expected { expected, found }),
        }
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

pub(super) fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub(super) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a line whose first non-blank character is `#`.
pub(super) fn parse_comment(line: &str) -> Result<Comment, ParseErrorKind> {
    let mut cursor = Cursor { line, at: 0 };
    cursor.skip_blanks();
    cursor.expect('#', "#")?;
    cursor.skip_blanks();
    let keyword = cursor.token();
    if keyword != "HELP" && keyword != "TYPE" {
        return Ok(Comment::Other);
    }
    cursor.skip_blanks();
    let name = cursor.token();
    if !is_metric_name(name) {
        return Err(ParseErrorKind::InvalidMetricName(name.to_owned()));
    }
    cursor.skip_blanks();
    if keyword == "HELP" {
        return Ok(Comment::Help {
            name: name.to_owned(),
            text: unescape_help(cursor.rest())?,
        });
    }
    let type_name = cursor.token();
    let kind = match type_name {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" => MetricType::Untyped,
        other => return Err(ParseErrorKind::UnknownType(other.to_owned())),
    };
    cursor.skip_blanks();
    if !cursor.rest().is_empty() {
        return Err(ParseErrorKind::TrailingText(cursor.rest().to_owned()));
    }
    Ok(Comment::Type {
        name: name.to_owned(),
        kind,
    })
}

/// Help text defines two escapes: `\\` and `\n`.
fn unescape_help(text: &str) -> Result<String, ParseErrorKind> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            other => return Err(ParseErrorKind::InvalidEscape(other)),
        }
    }
    Ok(out)
}

/// Parses a sample line: `name[{label="value",...}] value [timestamp]`.
pub(super) fn parse_sample(line: &str) -> Result<Sample, ParseErrorKind> {
    let mut cursor = Cursor { line, at: 0 };
    cursor.skip_blanks();
    let name = cursor.take_until(|c| is_blank(c) || c == '{');
    if !is_metric_name(name) {
        return Err(ParseErrorKind::InvalidMetricName(name.to_owned()));
    }
    cursor.skip_blanks();
    let labels = if cursor.peek() == Some('{') {
        parse_labels(&mut cursor)?
    } else {
        Vec::new()
    };
    cursor.skip_blanks();
    let value = cursor.token();
    if value.is_empty() {
        return Err(ParseErrorKind::MissingValue);
    }
    let value = parse_value(value)?;
    cursor.skip_blanks();
    let timestamp = cursor.token();
    let timestamp_ms = if timestamp.is_empty() {
        None
    } else {
        Some(parse_timestamp(timestamp)?)
    };
    cursor.skip_blanks();
    if !cursor.rest().is_empty() {
        return Err(ParseErrorKind::TrailingText(cursor.rest().to_owned()));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Parses `{name="value",...}` from its opening brace; a trailing comma is allowed.
fn parse_labels(cursor: &mut Cursor<'_>) -> Result<Vec<(String, String)>, ParseErrorKind> {
    cursor.expect('{', "{")?;
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        cursor.skip_blanks();
        if cursor.peek() == Some('}') {
            cursor.at += 1;
            return Ok(labels);
        }
        let name = cursor.take_until(|c| is_blank(c) || matches!(c, '=' | ',' | '}' | '"'));
        if !is_label_name(name) {
            return Err(ParseErrorKind::InvalidLabelName(name.to_owned()));
        }
        if labels.iter().any(|(existing, _)| existing == name) {
            return Err(ParseErrorKind::DuplicateLabel(name.to_owned()));
        }
        cursor.skip_blanks();
        cursor.expect('=', "=")?;
        cursor.skip_blanks();
        cursor.expect('"', "\"")?;
        let value = parse_label_value(cursor)?;
        labels.push((name.to_owned(), value));
        cursor.skip_blanks();
        match cursor.peek() {
            Some(',') => cursor.at += 1,
            Some('}') => {}
            found => {
                return Err(ParseErrorKind::Expected {
                    expected: ", or }",
                    found,
                })
            }
        }
    }
}

/// Reads a label value after its opening quote, through its closing quote. Label values
/// define three escapes: `\\`, `\"` and `\n`.
fn parse_label_value(cursor: &mut Cursor<'_>) -> Result<String, ParseErrorKind> {
    let mut value = String::new();
    let mut chars = cursor.rest().char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => {
                cursor.at += index + 1;
                return Ok(value);
            }
            '\\' => match chars.next().map(|(_, escaped)| escaped) {
                Some('\\') => value.push('\\'),
                Some('"') => value.push('"'),
                Some('n') => value.push('\n'),
                other => return Err(ParseErrorKind::InvalidEscape(other)),
            },
            c => value.push(c),
        }
    }
    Err(ParseErrorKind::UnterminatedLabelValue)
}

/// Reads a value as Go's `strconv.ParseFloat` does for decimal input: `NaN`, `+Inf` and
/// `-Inf` (and the other case-insensitive spellings of infinity and NaN Go accepts) and
/// decimal numbers with an optional exponent. Hexadecimal floats and digit separators
/// are not accepted.
fn parse_value(token: &str) -> Result<f64, ParseErrorKind> {
    parse_float(token, true)
}

/// A decimal float with an optional exponent, or a case-insensitive `inf`, `infinity` or
/// `nan`, with an optional sign (on `nan` only if `nan_may_be_signed`). Finite decimals
/// too large for an `f64` are out of range rather than infinite.
pub(super) fn parse_float(token: &str, nan_may_be_signed: bool) -> Result<f64, ParseErrorKind> {
    let unsigned = token.strip_prefix(['+', '-']).unwrap_or(token);
    let negative = token.starts_with('-');
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Ok(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    let nan = if nan_may_be_signed { unsigned } else { token };
    if nan.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    if !is_decimal(unsigned) {
        return Err(ParseErrorKind::InvalidValue(token.to_owned()));
    }
    match token.parse::<f64>() {
        Ok(value) if value.is_infinite() => Err(ParseErrorKind::ValueOutOfRange(token.to_owned())),
        Ok(value) => Ok(value),
        Err(_) => Err(ParseErrorKind::InvalidValue(token.to_owned())),
    }
}

/// `digits[.digits]` or `.digits`, then an optional `e[+-]digits`, with at least one digit
/// in the mantissa.
pub(super) fn is_decimal(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    let exponent_ok = match exponent {
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && digits(e)
        }
        None => true,
    };
    mantissa_ok && exponent_ok
}

fn parse_timestamp(token: &str) -> Result<i64, ParseErrorKind> {
    let unsigned = token.strip_prefix(['+', '-']).unwrap_or(token);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseErrorKind::InvalidTimestamp(token.to_owned()));
    }
    token
        .parse()
        .map_err(|_| ParseErrorKind::InvalidTimestamp(token.to_owned()))
}
