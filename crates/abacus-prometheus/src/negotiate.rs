//! Content negotiation: which format and which encoding a scraper's `Accept` and
//! `Accept-Encoding` headers ask for.
//!
//! The headers are lists of ranges with optional parameters and a weight `q` from 0 to 1
//! (RFC 9110, sections 12.4.2, 12.5.1 and 12.5.3). Each candidate takes the weight of the
//! most specific range that matches it, and the best weight wins. The text format 0.0.4 is
//! the fallback: it is served when OpenMetrics does not strictly win, so a scraper that
//! asks for nothing this server knows still gets an answer, never `406`.

use crate::Format;

/// A weight in thousandths, as the grammar gives at most three decimals.
type Weight = u16;

const FULL: Weight = 1000;

/// The best match so far for one candidate: how specific its range was, and its weight.
#[derive(Clone, Copy, Default)]
struct Best {
    /// `None` until a range matched; then higher is more specific.
    specificity: Option<u8>,
    weight: Weight,
}

impl Best {
    /// Takes a matching range into account: a more specific one overrides, one as specific
    /// counts if it weighs more.
    fn offer(&mut self, specificity: u8, weight: Weight) {
        match self.specificity {
            Some(current) if current > specificity => {}
            Some(current) if current == specificity => self.weight = self.weight.max(weight),
            _ => {
                self.specificity = Some(specificity);
                self.weight = weight;
            }
        }
    }
}

impl Format {
    /// The format to answer a request with, from its `Accept` header (`None` when it has
    /// none; several header lines are one list joined by commas).
    ///
    /// OpenMetrics when the scraper weighs `application/openmetrics-text` (version
    /// `1.0.0`, `0.0.1`, which Prometheus 2 asks for and reads this output as, or none)
    /// strictly above the text format; the text format 0.0.4 otherwise, including for an
    /// unknown OpenMetrics version, a weight of 0, only protobuf, `*/*`, a browser's header
    /// and no header at all. Media types and parameter names match case-insensitively.
    ///
    /// ```
    /// use abacus_prometheus::Format;
    ///
    /// let prometheus_2 = "application/openmetrics-text;version=1.0.0,\
    ///     application/openmetrics-text;version=0.0.1;q=0.75,\
    ///     text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(prometheus_2)), Format::OpenMetrics);
    /// assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
    /// assert_eq!(Format::negotiate(None), Format::Text);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Format {
        let mut openmetrics = Best::default();
        let mut text = Best::default();
        for range in accept.unwrap_or("").split(',') {
            let Some(range) = MediaRange::parse(range) else {
                continue;
            };
            if let Some(specificity) = range.matches("application", "openmetrics-text", |v| {
                v == "1.0.0" || v == "0.0.1"
            }) {
                openmetrics.offer(specificity, range.weight);
            }
            if let Some(specificity) = range.matches("text", "plain", |v| v == "0.0.4") {
                text.offer(specificity, range.weight);
            }
        }
        if openmetrics.weight > 0 && openmetrics.weight > text.weight {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// Whether to compress a response with gzip, from the request's `Accept-Encoding` header
/// (`None` when it has none).
///
/// Yes when `gzip` (or `x-gzip`), or failing those `*`, has a weight above 0 that an
/// explicitly listed `identity` does not exceed: `gzip`, `br, gzip;q=0.5` and `*` ask for
/// it; no header, `identity` and `gzip;q=0, identity` do not.
///
/// ```
/// use abacus_prometheus::accepts_gzip;
///
/// assert!(accepts_gzip(Some("br, gzip;q=0.5")));
/// assert!(!accepts_gzip(Some("gzip;q=0, identity")));
/// assert!(!accepts_gzip(None));
/// ```
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let mut gzip = Best::default();
    let mut identity: Option<Weight> = None;
    for coding in accept_encoding.unwrap_or("").split(',') {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim();
        let Some(weight) = weight_of(parts) else {
            continue;
        };
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip.offer(1, weight);
        } else if name == "*" {
            gzip.offer(0, weight);
        } else if name.eq_ignore_ascii_case("identity") {
            identity = Some(identity.unwrap_or(0).max(weight));
        }
    }
    gzip.weight > 0 && gzip.weight >= identity.unwrap_or(0)
}

/// One element of an `Accept` header.
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    /// The `version` parameter, unquoted.
    version: Option<&'a str>,
    weight: Weight,
}

impl<'a> MediaRange<'a> {
    /// Parses `type/subtype;param=value;q=0.5`; `None` for an empty or malformed element,
    /// which is then ignored rather than failing the request.
    fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() {
            return None;
        }
        let mut version = None;
        let mut weight = FULL;
        for parameter in parts {
            let (name, value) = parameter.split_once('=')?;
            let (name, value) = (name.trim(), unquote(value.trim()));
            if name.eq_ignore_ascii_case("q") {
                weight = parse_weight(value)?;
            } else if name.eq_ignore_ascii_case("version") {
                version = Some(value);
            }
        }
        Some(MediaRange {
            kind,
            subtype,
            version,
            weight,
        })
    }

    /// How specifically this range names `kind/subtype` with an accepted version: 3 with
    /// an accepted version, 2 without a version, 1 for `kind/*`, 0 for `*/*`; `None` when
    /// it does not match, including a range that names the type with another version.
    fn matches(&self, kind: &str, subtype: &str, accepted: impl Fn(&str) -> bool) -> Option<u8> {
        if self.kind == "*" && self.subtype == "*" {
            return Some(0);
        }
        if !self.kind.eq_ignore_ascii_case(kind) {
            return None;
        }
        if self.subtype == "*" {
            return Some(1);
        }
        if !self.subtype.eq_ignore_ascii_case(subtype) {
            return None;
        }
        match self.version {
            None => Some(2),
            Some(version) if accepted(version) => Some(3),
            Some(_) => None,
        }
    }
}

/// The weight among `parameters` (`q=...`), full when absent; `None` when malformed.
fn weight_of<'a>(parameters: impl Iterator<Item = &'a str>) -> Option<Weight> {
    let mut weight = FULL;
    for parameter in parameters {
        let (name, value) = parameter.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            weight = parse_weight(unquote(value.trim()))?;
        }
    }
    Some(weight)
}

/// Reads `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` in thousandths.
fn parse_weight(text: &str) -> Option<Weight> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: Weight = 0;
    for place in 0..3 {
        let digit = fraction.as_bytes().get(place).map_or(0, |d| d - b'0');
        thousandths = thousandths * 10 + Weight::from(digit);
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(FULL),
        _ => None,
    }
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_the_qvalue_grammar() {
        assert_eq!(parse_weight("1"), Some(1000));
        assert_eq!(parse_weight("1.000"), Some(1000));
        assert_eq!(parse_weight("0"), Some(0));
        assert_eq!(parse_weight("0.5"), Some(500));
        assert_eq!(parse_weight("0.75"), Some(750));
        assert_eq!(parse_weight("0.001"), Some(1));
        assert_eq!(parse_weight("0."), Some(0));
        for bad in ["1.5", "2", "0.1234", "-0.5", "", "x", "0.a", ".5"] {
            assert_eq!(parse_weight(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_more_specific_range_overrides_a_heavier_general_one() {
        // `*/*` at full weight, but OpenMetrics itself refused: text.
        let accept = "*/*, application/openmetrics-text;version=1.0.0;q=0";
        assert_eq!(Format::negotiate(Some(accept)), Format::Text);
        // The text format refused by name, OpenMetrics only through `*/*`: OpenMetrics.
        let accept = "text/plain;q=0, */*;q=0.5";
        assert_eq!(Format::negotiate(Some(accept)), Format::OpenMetrics);
    }

    #[test]
    fn malformed_ranges_are_skipped_not_fatal() {
        let accept = "garbage, application/openmetrics-text;q=2, ;;, \
                      application/openmetrics-text;version=1.0.0;q=0.9";
        assert_eq!(Format::negotiate(Some(accept)), Format::OpenMetrics);
        assert!(accepts_gzip(Some("gzip;q=x, gzip")));
    }
}
