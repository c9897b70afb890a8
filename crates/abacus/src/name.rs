//! Prometheus naming rules, checked once at registration.
//!
//! The rules are those of the data model:
//! <https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels>.

use crate::Error;

/// Checks a metric name against `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub(crate) fn check_metric_name(name: &str) -> Result<(), Error> {
    let mut bytes = name.bytes();
    let valid = match bytes.next() {
        Some(first) => {
            (first.is_ascii_alphabetic() || first == b'_' || first == b':')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidMetricName(name.to_owned()))
    }
}

/// Checks a label name against `[a-zA-Z_][a-zA-Z0-9_]*` and refuses the reserved `__`
/// prefix, which Prometheus keeps for its own labels.
pub(crate) fn check_label_name(name: &str) -> Result<(), Error> {
    let mut bytes = name.bytes();
    let valid = match bytes.next() {
        Some(first) => {
            (first.is_ascii_alphabetic() || first == b'_')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => false,
    };
    if !valid {
        return Err(Error::InvalidLabelName(name.to_owned()));
    }
    if name.starts_with("__") {
        return Err(Error::ReservedLabelName(name.to_owned()));
    }
    Ok(())
}
