//! Turning the names the `metrics` facade allows into names Prometheus accepts.
//!
//! Everything here runs once per new key, on the registration path, never per record or
//! per scrape. The rules are the data model's
//! (<https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels>); the
//! crate documentation lists what each rewrite does with examples.

use metrics::Unit;

/// A metric name with every character outside `[a-zA-Z0-9_:]` replaced by `_` and an
/// underscore put before a leading digit; `None` for the empty name, which is refused.
pub(crate) fn metric_name(raw: &str) -> Option<String> {
    rewrite(raw, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A label name with every character outside `[a-zA-Z0-9_]` replaced by `_` (so colons
/// too) and an underscore put before a leading digit; `None` for the empty name.
///
/// Names Prometheus reserves are rewritten rather than emitted: a leading run of
/// underscores longer than one becomes a single one (`__name__` becomes `_name__`), and
/// on a histogram `le` becomes `_le`, since the buckets' own `le` would clash with it.
pub(crate) fn label_name(raw: &str, histogram: bool) -> Option<String> {
    let mut name = rewrite(raw, |c| c.is_ascii_alphanumeric() || c == '_')?;
    let underscores = name.bytes().take_while(|&b| b == b'_').count();
    if underscores > 1 {
        name.replace_range(..underscores - 1, "");
    }
    if histogram && name == "le" {
        name.insert(0, '_');
    }
    Some(name)
}

/// Replaces each character (not byte: `ü` becomes one `_`) that `keep` refuses, and puts
/// an underscore before a leading digit so that the digit is kept.
fn rewrite(raw: &str, keep: impl Fn(char) -> bool) -> Option<String> {
    let first = raw.chars().next()?;
    let mut name = String::with_capacity(raw.len() + 1);
    if first.is_ascii_digit() {
        name.push('_');
    }
    name.extend(raw.chars().map(|c| if keep(c) { c } else { '_' }));
    Some(name)
}

/// Help text without carriage returns, which no exposition format can carry.
pub(crate) fn help(raw: &str) -> String {
    raw.replace("\r\n", "\n").replace('\r', "\n")
}

/// The suffixes a sample name may end with after which a unit goes, not after them.
const SAMPLE_SUFFIXES: [&str; 4] = ["_total", "_sum", "_count", "_bucket"];

/// The word a unit adds to a name (and an OpenMetrics `# UNIT` line): none for a plain
/// count, `ratio` for percentages (Prometheus' convention for fractions), otherwise the
/// unit's own name, such as `seconds`.
pub(crate) fn unit_name(unit: Unit) -> Option<&'static str> {
    match unit {
        Unit::Count => None,
        Unit::Percent => Some("ratio"),
        other => Some(other.as_str()),
    }
}

/// Adds the unit to a sanitized name, for recommended naming: `latency` in seconds becomes
/// `latency_seconds`, `sent_total` in bytes `sent_bytes_total`. A name that already says
/// its unit is left alone, and [`Unit::Count`] adds nothing; [`Unit::Percent`] is spelled
/// `ratio`, as the Prometheus naming guide asks.
pub(crate) fn with_unit(name: &str, unit: Unit) -> String {
    let Some(unit) = unit_name(unit) else {
        return name.to_owned();
    };
    let says_unit = |stem: &str| stem == unit || stem.ends_with(&format!("_{unit}"));
    for suffix in SAMPLE_SUFFIXES {
        if let Some(stem) = name.strip_suffix(suffix) {
            return if says_unit(stem) {
                name.to_owned()
            } else {
                format!("{stem}_{unit}{suffix}")
            };
        }
    }
    if says_unit(name) {
        name.to_owned()
    } else {
        format!("{name}_{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so that the property cases are the same on every
    /// run and need no extra dependency.
    struct Cases(u64);

    impl Cases {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// A string of up to 12 characters drawn from `alphabet`.
        fn string(&mut self, alphabet: &[char]) -> String {
            let len = (self.next() % 13) as usize;
            (0..len)
                .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
                .collect()
        }
    }

    /// Letters, digits, the characters the rules treat specially and a few that Prometheus
    /// refuses, including multi-byte ones.
    const ALPHABET: &[char] = &[
        'a', 'Z', 'q', '0', '9', '_', '_', ':', '.', '-', ' ', '/', 'ü', '✓', '"', '\n',
    ];

    fn valid_metric_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    fn valid_label_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with("__")
    }

    #[test]
    fn the_cases_the_issue_lists() {
        assert_eq!(
            metric_name("http.requests-total").as_deref(),
            Some("http_requests_total")
        );
        assert_eq!(metric_name("a1b2").as_deref(), Some("a1b2"));
        assert_eq!(metric_name("host:port").as_deref(), Some("host:port"));
        assert_eq!(label_name("host:port", false).as_deref(), Some("host_port"));
        assert_eq!(metric_name("9lives").as_deref(), Some("_9lives"));
        assert_eq!(label_name("9lives", false).as_deref(), Some("_9lives"));
        assert_eq!(metric_name(""), None);
        assert_eq!(label_name("", false), None);
        assert_eq!(label_name("__name__", false).as_deref(), Some("_name__"));
        assert_eq!(label_name("le", true).as_deref(), Some("_le"));
        assert_eq!(label_name("le", false).as_deref(), Some("le"));
    }

    #[test]
    fn every_sanitized_metric_name_is_valid_and_keeps_its_valid_characters() {
        let mut cases = Cases(0x9e37_79b9_7f4a_7c15);
        for _ in 0..5_000 {
            let raw = cases.string(ALPHABET);
            let Some(name) = metric_name(&raw) else {
                assert!(raw.is_empty());
                continue;
            };
            assert!(valid_metric_name(&name), "{raw:?} became {name:?}");
            // One character per character, plus the underscore before a leading digit.
            let digit = raw.starts_with(|c: char| c.is_ascii_digit());
            assert_eq!(
                name.chars().count(),
                raw.chars().count() + usize::from(digit)
            );
            let kept = name.strip_prefix('_').filter(|_| digit).unwrap_or(&name);
            for (given, made) in raw.chars().zip(kept.chars()) {
                let allowed = given.is_ascii_alphanumeric() || given == '_' || given == ':';
                assert_eq!(made, if allowed { given } else { '_' }, "{raw:?}");
            }
            if valid_metric_name(&raw) {
                assert_eq!(name, raw, "a valid name is left alone");
            }
        }
    }

    #[test]
    fn every_sanitized_label_name_is_valid_and_never_reserved() {
        let mut cases = Cases(0x2545_f491_4f6c_dd1d);
        for _ in 0..5_000 {
            let raw = cases.string(ALPHABET);
            for histogram in [false, true] {
                let Some(name) = label_name(&raw, histogram) else {
                    assert!(raw.is_empty());
                    continue;
                };
                assert!(valid_label_name(&name), "{raw:?} became {name:?}");
                assert!(!name.contains(':'), "{raw:?} became {name:?}");
                if histogram {
                    assert_ne!(name, "le");
                }
                if valid_label_name(&raw) && !(histogram && raw == "le") {
                    assert_eq!(name, raw, "a valid name is left alone");
                }
            }
        }
    }

    #[test]
    fn sanitizing_twice_changes_nothing_more() {
        let mut cases = Cases(7);
        for _ in 0..2_000 {
            let raw = cases.string(ALPHABET);
            if let Some(once) = metric_name(&raw) {
                assert_eq!(metric_name(&once).as_deref(), Some(once.as_str()));
            }
            if let Some(once) = label_name(&raw, true) {
                assert_eq!(label_name(&once, true).as_deref(), Some(once.as_str()));
            }
        }
    }

    #[test]
    fn units_go_before_sample_suffixes_and_are_not_repeated() {
        assert_eq!(with_unit("latency", Unit::Seconds), "latency_seconds");
        assert_eq!(
            with_unit("latency_seconds", Unit::Seconds),
            "latency_seconds"
        );
        assert_eq!(with_unit("sent_total", Unit::Bytes), "sent_bytes_total");
        assert_eq!(
            with_unit("sent_bytes_total", Unit::Bytes),
            "sent_bytes_total"
        );
        assert_eq!(with_unit("jobs", Unit::Count), "jobs");
        assert_eq!(with_unit("cpu", Unit::Percent), "cpu_ratio");
        assert_eq!(with_unit("seconds", Unit::Seconds), "seconds");
    }

    #[test]
    fn carriage_returns_leave_help_text() {
        assert_eq!(help("one\r\ntwo\rthree\n"), "one\ntwo\nthree\n");
    }
}
