//! Reading a registry: the visitor interface and an owned snapshot built on it.

use crate::LabelValues;

/// The exposition type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A monotonic counter (integer or fixed-point).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A histogram with fixed buckets.
    Histogram,
}

/// A family as a [`Visitor`] sees it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct FamilyInfo<'a> {
    /// An id unique to this family in the process, stable across visits: an exporter may
    /// key per-family caches by it. Its series come in the same order on every visit,
    /// new ones after the old, as long as [`generation`](Self::generation) stays the same.
    pub id: u64,
    /// Changes when the order of the family's series changes otherwise than by new series
    /// coming last: when a series expires, or a new one takes the place of an expired one
    /// ([`Desc::idle_timeout`](crate::Desc::idle_timeout)). A cache of series by position
    /// starts over when it changes.
    pub generation: u64,
    /// The family name, with the registry's namespace; for counters without the `_total`
    /// suffix, which counter samples carry unless [`total_suffix`](Self::total_suffix)
    /// says otherwise.
    pub name: &'a str,
    /// The help text, unescaped.
    pub help: &'a str,
    /// The unit, or empty; when set, the name ends with it.
    pub unit: &'a str,
    /// The exposition type.
    pub kind: Kind,
    /// Labels every series of the family carries, with raw values: the registry's, then
    /// the family's. None of their names is among `label_names`.
    pub const_labels: &'a [(Box<str>, Box<str>)],
    /// The label names, in the order of every series' values.
    pub label_names: &'a [Box<str>],
    /// For histograms, the bucket upper bounds without `+Inf`; empty otherwise.
    pub bounds: &'a [f64],
    /// Whether this family shares its name with the family visited just before it
    /// ([`Desc::shared_name`](crate::Desc::shared_name)): same kind, help and buckets,
    /// other label names. An exporter writes the name's `# HELP` and `# TYPE` once, before
    /// the first series of the run of families that share it.
    pub continues: bool,
    /// For counters, whether the text format's samples carry `_total` after
    /// [`name`](Self::name): true unless the counter was registered under a name without
    /// it with [`Desc::exact_name`](crate::Desc::exact_name). False for other kinds.
    pub total_suffix: bool,
}

/// A histogram series' value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistogramValue<'a> {
    /// Cumulative bucket counts, one per bound and then `+Inf`.
    pub cumulative: &'a [u64],
    /// The sum of all observations.
    pub sum: f64,
}

impl HistogramValue<'_> {
    /// The number of observations: the `+Inf` bucket, by construction.
    pub fn count(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }
}

/// A series' value as a [`Visitor`] sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// An integer counter.
    Counter(u64),
    /// A fixed-point counter: `units` times `10^-decimals`, exactly.
    Fixed {
        /// The value in units of `10^-decimals`.
        units: u64,
        /// Digits after the point.
        decimals: u32,
    },
    /// An integer gauge.
    Gauge(i64),
    /// A float gauge.
    FloatGauge(f64),
    /// A histogram.
    Histogram(HistogramValue<'a>),
}

impl Value<'_> {
    /// The value as a float, for counters and gauges; `None` for histograms. Fixed-point
    /// values are the nearest float while `units` is below 2^53, and within a rounding or
    /// two above. Exporters should write `Fixed` as an exact decimal instead.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Counter(n) => Some(n as f64),
            Value::Fixed { units, decimals } => Some(units as f64 / 10f64.powi(decimals as i32)),
            Value::Gauge(n) => Some(n as f64),
            Value::FloatGauge(v) => Some(v),
            Value::Histogram(_) => None,
        }
    }
}

/// Receives a registry's contents from [`Registry::visit`](crate::Registry::visit): one
/// `family` call, then one `series` call per series of that family.
pub trait Visitor {
    /// A new family begins.
    fn family(&mut self, family: FamilyInfo<'_>);
    /// One series of the current family.
    fn series(&mut self, labels: &LabelValues, value: Value<'_>);

    /// One series of the current family with the time it was created, in seconds since
    /// the Unix epoch, when the registry keeps creation times
    /// ([`RegistryBuilder::created_timestamps`](crate::RegistryBuilder::created_timestamps)).
    /// The registry calls this method; by default it forgets the time and calls
    /// [`series`](Self::series).
    fn series_created(&mut self, labels: &LabelValues, value: Value<'_>, created: Option<f64>) {
        let _ = created;
        self.series(labels, value);
    }
}

/// An owned copy of a registry's contents, for tests and tools. Exporters should use a
/// [`Visitor`], which allocates nothing per series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Families in registration order.
    pub families: Vec<FamilySnapshot>,
}

/// One family of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq)]
pub struct FamilySnapshot {
    /// See [`FamilyInfo::name`].
    pub name: String,
    /// The help text.
    pub help: String,
    /// The unit, or empty.
    pub unit: String,
    /// The exposition type.
    pub kind: Kind,
    /// See [`FamilyInfo::const_labels`].
    pub const_labels: Vec<(String, String)>,
    /// The label names.
    pub label_names: Vec<String>,
    /// Histogram bounds without `+Inf`.
    pub bounds: Vec<f64>,
    /// Series in creation order, until series expire: a new series may then take an
    /// expired one's place.
    pub series: Vec<SeriesSnapshot>,
}

/// One series of a [`FamilySnapshot`].
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSnapshot {
    /// Label values, in the order of the family's label names.
    pub labels: Vec<String>,
    /// The value.
    pub value: OwnedValue,
}

/// An owned [`Value`].
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedValue {
    /// An integer counter.
    Counter(u64),
    /// A fixed-point counter.
    Fixed {
        /// Units of `10^-decimals`.
        units: u64,
        /// Digits after the point.
        decimals: u32,
    },
    /// An integer gauge.
    Gauge(i64),
    /// A float gauge.
    FloatGauge(f64),
    /// A histogram.
    Histogram {
        /// Cumulative bucket counts, ending with `+Inf`.
        cumulative: Vec<u64>,
        /// The sum of observations.
        sum: f64,
    },
}

impl Snapshot {
    /// The family named `name` (for counters, without `_total`).
    pub fn family(&self, name: &str) -> Option<&FamilySnapshot> {
        self.families.iter().find(|f| f.name == name)
    }
}

impl FamilySnapshot {
    /// The series with exactly these label values.
    pub fn series(&self, labels: &[&str]) -> Option<&OwnedValue> {
        self.series
            .iter()
            .find(|s| s.labels == labels)
            .map(|s| &s.value)
    }
}

impl Visitor for Snapshot {
    fn family(&mut self, family: FamilyInfo<'_>) {
        self.families.push(FamilySnapshot {
            name: family.name.to_owned(),
            help: family.help.to_owned(),
            unit: family.unit.to_owned(),
            kind: family.kind,
            const_labels: family
                .const_labels
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            label_names: family.label_names.iter().map(|n| n.to_string()).collect(),
            bounds: family.bounds.to_vec(),
            series: Vec::new(),
        });
    }

    fn series(&mut self, labels: &LabelValues, value: Value<'_>) {
        let Some(family) = self.families.last_mut() else {
            return;
        };
        family.series.push(SeriesSnapshot {
            labels: labels.iter().map(str::to_owned).collect(),
            value: match value {
                Value::Counter(n) => OwnedValue::Counter(n),
                Value::Fixed { units, decimals } => OwnedValue::Fixed { units, decimals },
                Value::Gauge(n) => OwnedValue::Gauge(n),
                Value::FloatGauge(v) => OwnedValue::FloatGauge(v),
                Value::Histogram(h) => OwnedValue::Histogram {
                    cumulative: h.cumulative.to_vec(),
                    sum: h.sum,
                },
            },
        });
    }
}

impl crate::Registry {
    /// An owned copy of every family and series. Recorders are not blocked.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        self.visit(&mut snapshot);
        snapshot
    }
}
