//! What a family carries besides its values, for exposition only: the unit, the constant
//! labels, and the registry-wide settings (namespace, constant labels) that a
//! [`RegistryBuilder`] fixes.
//!
//! None of it is read while recording: it lives beside the family in the registry's list,
//! not in the family itself, so the hot path and the per-series storage are untouched.

use std::collections::HashSet;
use std::time::Duration;

use crate::name::{check_label_name, check_metric_name};
use crate::{Error, Kind, Registry};

/// Constant labels as stored: name and raw value, in the order given.
pub(crate) type ConstLabels = Box<[(Box<str>, Box<str>)]>;

/// The exposition-only description of one family.
#[derive(Debug, PartialEq)]
pub(crate) struct FamilyMeta {
    /// The unit, or empty.
    pub(crate) unit: Box<str>,
    /// The registry's constant labels, then the family's own.
    pub(crate) const_labels: ConstLabels,
}

/// Settings fixed when a registry is built.
#[derive(Debug)]
pub(crate) struct RegistryMeta {
    /// The series limit of families that set none.
    pub(crate) max_series: usize,
    /// Whether series keep the time they were created, for OpenMetrics' `_created`.
    pub(crate) track_created: bool,
    /// The idle time after which series of families that set none expire.
    pub(crate) idle_timeout: Option<Duration>,
    /// Prepended to every family name with an underscore; empty for none.
    pub(crate) namespace: Box<str>,
    pub(crate) const_labels: ConstLabels,
}

impl Default for RegistryMeta {
    fn default() -> Self {
        RegistryMeta {
            max_series: Registry::DEFAULT_MAX_SERIES,
            track_created: false,
            idle_timeout: None,
            namespace: Box::default(),
            const_labels: Box::default(),
        }
    }
}

impl RegistryMeta {
    /// The full family name for a registered base name.
    pub(crate) fn qualify(&self, base: &str) -> String {
        if self.namespace.is_empty() {
            base.to_owned()
        } else {
            format!("{}_{base}", self.namespace)
        }
    }

    /// Checks a family's unit and constant labels against its name, kind and label names,
    /// and joins its constant labels to the registry's.
    ///
    /// `name` is the full family name (for counters without `_total`).
    pub(crate) fn family_meta(
        &self,
        name: &str,
        kind: Kind,
        unit: &str,
        const_labels: &[(String, String)],
        label_names: &[String],
    ) -> Result<FamilyMeta, Error> {
        check_unit(name, unit)?;
        let mut seen: HashSet<&str> = self.const_labels.iter().map(|(n, _)| &**n).collect();
        for (label, value) in const_labels {
            check_label_name(label)?;
            check_value(name, value)?;
            if !seen.insert(label) {
                return Err(Error::DuplicateLabelName(label.clone()));
            }
        }
        for (label, _) in self.const_labels.iter() {
            if kind == Kind::Histogram && &**label == "le" {
                return Err(Error::ReservedLabelName(label.to_string()));
            }
        }
        for (label, _) in const_labels {
            if kind == Kind::Histogram && label == "le" {
                return Err(Error::ReservedLabelName(label.clone()));
            }
        }
        // A series line carries the constant labels and its own; one name in both would
        // repeat a label in every line, which both formats forbid.
        if let Some(clash) = label_names.iter().find(|l| seen.contains(l.as_str())) {
            return Err(Error::ConstLabelClash {
                family: name.to_owned(),
                label: clash.clone(),
            });
        }
        let joined = self
            .const_labels
            .iter()
            .cloned()
            .chain(
                const_labels
                    .iter()
                    .map(|(n, v)| (n.as_str().into(), v.as_str().into())),
            )
            .collect();
        Ok(FamilyMeta {
            unit: unit.into(),
            const_labels: joined,
        })
    }
}

/// A unit is made of metric name characters and must end the family name after an
/// underscore, as OpenMetrics requires:
/// <https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md#unit>.
fn check_unit(name: &str, unit: &str) -> Result<(), Error> {
    if unit.is_empty() {
        return Ok(());
    }
    let valid = unit
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
    let suffix = name
        .strip_suffix(unit)
        .is_some_and(|rest| rest.len() > 1 && rest.ends_with('_'));
    if valid && suffix {
        Ok(())
    } else {
        Err(Error::InvalidUnit {
            family: name.to_owned(),
            unit: unit.to_owned(),
        })
    }
}

fn check_value(family: &str, value: &str) -> Result<(), Error> {
    if value.contains('\r') {
        return Err(Error::CarriageReturn {
            family: family.to_owned(),
            text: value.to_owned(),
        });
    }
    Ok(())
}

/// Builds a [`Registry`] with a namespace and constant labels for all its families.
///
/// ```
/// use abacus::{Desc, Registry};
///
/// let registry = Registry::builder()
///     .namespace("gateway")
///     .const_label("region", "eu-west")
///     .build()?;
/// let requests = registry.counter(Desc::new("requests_total", "Requests."))?;
/// assert_eq!(requests.name(), "gateway_requests");
/// # Ok::<(), abacus::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RegistryBuilder {
    namespace: String,
    const_labels: Vec<(String, String)>,
    max_series: usize,
    track_created: bool,
    idle_timeout: Option<Duration>,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            namespace: String::new(),
            const_labels: Vec::new(),
            max_series: Registry::DEFAULT_MAX_SERIES,
            track_created: false,
            idle_timeout: None,
        }
    }
}

impl RegistryBuilder {
    /// Prefixes every family name with `namespace` and an underscore: `requests` in the
    /// namespace `gateway` is exposed as `gateway_requests_total`. Empty means none.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Adds a label with the same value on every series of every family, written before
    /// the series' own labels.
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.const_labels.push((name.into(), value.into()));
        self
    }

    /// Sets how many series each family may hold unless its [`Desc`](crate::Desc) says
    /// otherwise ([`Registry::DEFAULT_MAX_SERIES`] if not set). Past it, new label values
    /// resolve to the family's overflow series; see [`Registry`].
    pub fn max_series_per_family(mut self, max: usize) -> Self {
        self.max_series = max;
        self
    }

    /// Whether each series keeps the time it was created (off by default), which visitors
    /// receive with its value ([`Visitor::series_created`](crate::Visitor::series_created))
    /// and OpenMetrics exposes as a counter's or histogram's `_created` sample. It costs 8
    /// bytes per series.
    pub fn created_timestamps(mut self, keep: bool) -> Self {
        self.track_created = keep;
        self
    }

    /// Lets the series of every family (unless its [`Desc`](crate::Desc) says otherwise)
    /// expire once nobody has recorded into them for `idle` and no handle of theirs is
    /// alive: they are gone from the next snapshot, and their memory is reused. Off by
    /// default; see [`Registry`] for how idleness is judged.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// Checks the settings and creates the registry.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidMetricName`] for a namespace that is not a valid metric name;
    /// - [`Error::InvalidLabelName`], [`Error::ReservedLabelName`] and
    ///   [`Error::DuplicateLabelName`] for a bad constant label name;
    /// - [`Error::CarriageReturn`] for a constant label value holding one (its `family`
    ///   is the namespace).
    pub fn build(self) -> Result<Registry, Error> {
        if !self.namespace.is_empty() {
            check_metric_name(&self.namespace)?;
        }
        let mut seen = HashSet::new();
        for (name, value) in &self.const_labels {
            check_label_name(name)?;
            check_value(&self.namespace, value)?;
            if !seen.insert(name.as_str()) {
                return Err(Error::DuplicateLabelName(name.clone()));
            }
        }
        Ok(Registry::with_meta(RegistryMeta {
            max_series: self.max_series,
            track_created: self.track_created,
            idle_timeout: self.idle_timeout,
            namespace: self.namespace.into(),
            const_labels: self
                .const_labels
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }))
    }
}
