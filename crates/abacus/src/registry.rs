//! The registry: where families are registered and from where they are read.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use std::sync::LazyLock;

use crate::cells::{CellSpace, PAGE_SLOTS};
use crate::cells::{SlotRange, SpaceReader};
use crate::family::{FamilyCore, KindSpec, Reported, SeriesPolicy, OVERFLOW_LABEL};
use crate::meta::{FamilyMeta, RegistryBuilder, RegistryMeta};
use crate::metrics::MakeHandle;
use crate::name::{check_label_name, check_metric_name};
use crate::snapshot::{FamilyInfo, HistogramValue, Value, Visitor};
use crate::sync::{Arc, Ordering::Relaxed, RwLock};
use crate::{
    BucketError, ConflictReason, Counter, Error, Family, FixedCounter, FloatGauge, Gauge,
    Histogram, LabelValues, Metric,
};

/// What a family is called, what it means and which labels it takes.
///
/// ```
/// let desc = abacus::Desc::new("http_request_duration_seconds", "Time to answer.")
///     .unit("seconds")
///     .labels(["route", "status"])
///     .const_labels([("service", "api")]);
/// # let _ = desc;
/// ```
#[derive(Clone, Debug)]
pub struct Desc {
    name: String,
    help: String,
    unit: String,
    label_names: Vec<String>,
    const_labels: Vec<(String, String)>,
    max_series: Option<usize>,
    idle_timeout: Option<Duration>,
    shared_name: bool,
    exact_name: bool,
}

impl Desc {
    /// A family description with no labels and no unit.
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> Self {
        Desc {
            name: name.into(),
            help: help.into(),
            unit: String::new(),
            label_names: Vec::new(),
            const_labels: Vec::new(),
            max_series: None,
            idle_timeout: None,
            shared_name: false,
            exact_name: false,
        }
    }

    /// Sets the unit, such as `seconds` or `bytes`. OpenMetrics requires it to end the
    /// family name after an underscore (for counters, the name without `_total`), and
    /// exposes it in a `# UNIT` line; the text format 0.0.4 has no place for it.
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = unit.into();
        self
    }

    /// Sets labels with the same value on every series of the family, written after the
    /// registry's constant labels and before the series' own.
    pub fn const_labels<I, K, V>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.const_labels = labels
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        self
    }

    /// Sets how many series the family may hold, instead of the registry's limit
    /// ([`RegistryBuilder::max_series_per_family`]). Past it, new label values resolve to
    /// the family's overflow series; see [`Registry`].
    pub fn max_series(mut self, max: usize) -> Self {
        self.max_series = Some(max);
        self
    }

    /// Lets series of this family that nobody records into expire, instead of following
    /// the registry's setting ([`RegistryBuilder::idle_timeout`]); see [`Registry`]. A
    /// family without labels never expires its one series.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// Lets families with other label names share this name, as one metric family of
    /// the exposition.
    ///
    /// A family's label names are fixed, but some callers (the `metrics` facade) give one
    /// name different label names from call to call. Registering a description marked
    /// like this under a name already taken by a family marked like this, with the same
    /// kind, help, buckets and scale but other label names, adds a second family under
    /// that name instead of returning [`Error::Conflict`]. Such families are visited one
    /// after the other, the later ones with [`FamilyInfo::continues`] set, so that an
    /// exporter writes one `# HELP` and `# TYPE` for all of them.
    pub fn shared_name(mut self) -> Self {
        self.shared_name = true;
        self
    }

    /// For a counter whose name lacks `_total`: expose the name as given, without adding
    /// `_total` to its samples in the text format (see [`FamilyInfo::total_suffix`]).
    /// Other kinds, and names that end in `_total`, are unaffected.
    ///
    /// This is what exporters of the `metrics` facade do unless asked for recommended
    /// naming. OpenMetrics requires the suffix on counter samples, so an OpenMetrics
    /// exposition adds it regardless.
    pub fn exact_name(mut self) -> Self {
        self.exact_name = true;
        self
    }

    /// Sets the label names, in the order values will be given.
    pub fn labels<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.label_names = names.into_iter().map(Into::into).collect();
        self
    }
}

/// Histogram bucket upper bounds: finite or infinite, strictly increasing, no NaN. The
/// `+Inf` bucket is always there and need not be given.
#[derive(Clone, Debug, PartialEq)]
pub struct Buckets(Arc<[f64]>);

impl Buckets {
    /// The most bounds a histogram may have.
    pub const MAX_BOUNDS: usize = 256;

    /// The Prometheus client libraries' default layout, for latencies in seconds.
    pub fn default_seconds() -> Self {
        Buckets(Arc::from(
            &[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ][..],
        ))
    }

    /// Checks and wraps explicit bounds. A trailing `+Inf` is accepted and dropped.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBucket`] for a NaN bound, a bound not greater than the one before
    /// it, or more than [`MAX_BOUNDS`](Self::MAX_BOUNDS) bounds.
    pub fn new(bounds: impl Into<Vec<f64>>) -> Result<Self, Error> {
        let mut bounds = bounds.into();
        for (index, &bound) in bounds.iter().enumerate() {
            let reason = if bound.is_nan() {
                Some(BucketError::NaN)
            } else if index > 0 && bound == bounds[index - 1] {
                Some(BucketError::Duplicate)
            } else if index > 0 && bound < bounds[index - 1] {
                Some(BucketError::Unsorted)
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::InvalidBucket {
                    index,
                    bound,
                    reason,
                });
            }
        }
        // Checked before dropping it, so that a repeated `+Inf` is refused as a duplicate.
        if bounds.last() == Some(&f64::INFINITY) {
            bounds.pop();
        }
        if bounds.len() > Self::MAX_BOUNDS {
            let index = Self::MAX_BOUNDS;
            return Err(Error::InvalidBucket {
                index,
                bound: bounds[index],
                reason: BucketError::TooMany,
            });
        }
        Ok(Buckets(Arc::from(bounds)))
    }

    /// `count` bounds starting at `start`, each `factor` times the one before.
    ///
    /// # Errors
    ///
    /// As [`Buckets::new`], for the bounds this computes. A `count` too large is refused
    /// before anything is computed.
    pub fn exponential(start: f64, factor: f64, count: usize) -> Result<Self, Error> {
        Self::new(
            std::iter::successors(Some(start), |b| Some(b * factor))
                .take(count.min(Self::MAX_BOUNDS + 2))
                .collect::<Vec<_>>(),
        )
    }

    /// `count` bounds starting at `start`, `width` apart.
    ///
    /// # Errors
    ///
    /// As [`Buckets::new`], for the bounds this computes. A `count` too large is refused
    /// before anything is computed.
    pub fn linear(start: f64, width: f64, count: usize) -> Result<Self, Error> {
        Self::new(
            (0..count.min(Self::MAX_BOUNDS + 2))
                .map(|i| start + width * i as f64)
                .collect::<Vec<_>>(),
        )
    }

    /// The bounds, without `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        &self.0
    }
}

/// A set of metric families, independent of every other registry.
///
/// Cloning a registry is cheap and shares it. Registering a family returns a [`Family`];
/// registering the same name again with the same description returns the same family, and
/// with a different one returns [`Error::Conflict`] (unless both are marked
/// [`Desc::shared_name`] and differ only in their label names).
///
/// # Series limits
///
/// A family holds at most [`Registry::DEFAULT_MAX_SERIES`] series unless the registry
/// ([`RegistryBuilder::max_series_per_family`]) or its description ([`Desc::max_series`])
/// says otherwise; a family registered again keeps its first limit. Once a family is
/// full, resolving label values it does not hold yet returns a handle to its *overflow
/// series*, exposed in the same metric family with the single label
/// `abacus_overflow="true"` (which families may not use themselves), so that a client
/// sending ever new label values cannot grow memory without bound. Existing series keep
/// working. The counter `abacus_series_overflow_total{family="..."}` (with the registry's
/// namespace) counts, per family, the resolutions that went to the overflow series.
///
/// # Idle expiry
///
/// With an idle timeout ([`RegistryBuilder::idle_timeout`], [`Desc::idle_timeout`]; off by
/// default), a series that nobody records into and of which no handle is alive goes away:
/// a visit ([`Registry::visit`], so every scrape) that reports it with the value the visit
/// before reported, at least the timeout after that value first appeared, removes it, so
/// the next snapshot no longer has it, and a later resolution of its label values starts
/// a new series from zero. Its memory is reused by the family's next new series, which
/// makes room under the series limit. A live handle (including a
/// [`LocalCounter`](crate::LocalCounter)) keeps its series, however idle. Per-call
/// recording (`Family::inc(&values)`) keeps nothing alive: its next record after the
/// removal goes to a new series, and a record that raced the removal is carried over to
/// that series rather than lost. Idleness is judged on values, so recording pays nothing
/// for it: a gauge set to the value it had, or a counter given 0, looks idle. It is also
/// judged at visits, so a series lives at least its timeout and at most the timeout plus
/// two scrape intervals after its last change. Families without labels never expire.
/// `abacus_series_expired_total{family="..."}` counts removals, including those of the
/// visit that reports it.
///
/// ```
/// use std::time::Duration;
/// use abacus::{Desc, Registry};
///
/// let registry = Registry::builder().idle_timeout(Duration::ZERO).build()?;
/// let requests = registry.counter(Desc::new("requests", "Requests.").labels(["tenant"]))?;
/// requests.inc(&["churned"])?;
/// let kept = requests.with_labels(&["kept"])?;
/// registry.snapshot(); // reports "churned" at 1, a change
/// registry.snapshot(); // reports it at 1 again, then removes it
/// let tenants: Vec<_> = registry.snapshot().family("requests").unwrap().series.iter()
///     .map(|s| s.labels[0].clone()).collect();
/// assert_eq!(tenants, ["kept"]);
/// # drop(kept);
/// # Ok::<(), abacus::Error>(())
/// ```
///
/// ```
/// use abacus::{Desc, Registry};
///
/// let registry = Registry::new();
/// let requests = registry.counter(Desc::new("requests", "Requests.").labels(["route"]))?;
/// let chat = requests.with_labels(&["chat"])?;
/// chat.inc();
/// chat.add(2);
/// assert_eq!(chat.value(), 3);
/// # Ok::<(), abacus::Error>(())
/// ```
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    space: Arc<CellSpace>,
    families: RwLock<Families>,
    meta: RegistryMeta,
    /// The registry's own counters, per family name: overflowed resolutions and expired
    /// series.
    overflow_counter: OwnCounter,
    expired_counter: OwnCounter,
}

/// A counter the registry keeps about its families, one series per family name.
struct OwnCounter {
    /// With the namespace.
    name: Box<str>,
    id: u64,
    help: &'static str,
    /// Where each family keeps its count.
    count: fn(&FamilyCore) -> &crate::sync::AtomicU64,
}

#[derive(Default)]
struct Families {
    /// In registration order, which is the order of every snapshot, except that a family
    /// sharing its name with earlier ones ([`Desc::shared_name`]) comes right after them.
    list: Vec<Listed>,
    /// The position in `list` of the first family registered under each name.
    by_name: HashMap<Box<str>, usize>,
    /// Every sample name some family exposes (`x`, `x_total`, `x_bucket`, ...), with the
    /// name of that family, so that two families can never produce the same series.
    exposed: HashMap<Box<str>, Box<str>>,
}

/// A registered family with how it is exposed. These settings live here rather than in
/// the family because only the registry and its visitors care about them.
#[derive(Clone)]
struct Listed {
    core: Arc<FamilyCore>,
    /// Unit and constant labels.
    meta: Arc<FamilyMeta>,
    /// Registered with [`Desc::shared_name`].
    shared_name: bool,
    /// See [`FamilyInfo::continues`].
    continues: bool,
    /// See [`FamilyInfo::total_suffix`].
    total_suffix: bool,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("families", &self.inner.families.read().list.len())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// How many series a family may hold when neither its registry nor its description
    /// sets a limit.
    pub const DEFAULT_MAX_SERIES: usize = 10_000;

    /// An empty registry without a namespace or constant labels.
    pub fn new() -> Self {
        Self::with_meta(RegistryMeta::default())
    }

    /// Starts building a registry with a namespace or constant labels.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    pub(crate) fn with_meta(meta: RegistryMeta) -> Self {
        let mut families = Families::default();
        let mut own = |base: &str, help: &'static str, count| {
            let name: Box<str> = meta.qualify(base).into();
            // Its samples are the registry's own: no family may expose them too.
            for suffix in KindSpec::Counter.sample_suffixes() {
                let sample = format!("{name}{suffix}");
                families.exposed.insert(sample.into(), name.clone());
            }
            families.exposed.insert(name.clone(), name.clone());
            OwnCounter {
                name,
                id: crate::family::next_family_id(),
                help,
                count,
            }
        };
        let overflow_counter = own(
            OVERFLOW_COUNTER,
            "Resolutions of new label values that went to a family's overflow series \
             because the family held as many series as its limit allows.",
            |family| &family.overflowed,
        );
        let expired_counter = own(
            EXPIRED_COUNTER,
            "Series removed from a family because nothing recorded into them for its idle \
             timeout and no handle of theirs was alive.",
            |family| &family.expired_series,
        );
        Registry {
            inner: Arc::new(Inner {
                space: CellSpace::new(),
                families: RwLock::new(families),
                meta,
                overflow_counter,
                expired_counter,
            }),
        }
    }

    /// Registers a `u64` counter family. A `_total` suffix on the name is optional: the
    /// family is named without it and its samples with it (so the name `_total` alone is
    /// refused).
    ///
    /// # Errors
    ///
    /// See [`Registry::histogram`].
    pub fn counter(&self, desc: Desc) -> Result<Family<Counter>, Error> {
        self.register(desc, KindSpec::Counter, Counter::from_series)
    }

    /// Registers a fixed-point counter family with `decimals` digits after the point.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidScale`] when `decimals` exceeds [`FixedCounter::MAX_DECIMALS`];
    /// otherwise see [`Registry::histogram`].
    pub fn fixed_counter(&self, desc: Desc, decimals: u32) -> Result<Family<FixedCounter>, Error> {
        if decimals > FixedCounter::MAX_DECIMALS {
            return Err(Error::InvalidScale(decimals));
        }
        self.register(
            desc,
            KindSpec::Fixed { decimals },
            FixedCounter::from_series,
        )
    }

    /// Registers an `i64` gauge family.
    ///
    /// # Errors
    ///
    /// See [`Registry::histogram`].
    pub fn gauge(&self, desc: Desc) -> Result<Family<Gauge>, Error> {
        self.register(desc, KindSpec::Gauge, Gauge::from_series)
    }

    /// Registers an `f64` gauge family.
    ///
    /// # Errors
    ///
    /// See [`Registry::histogram`].
    pub fn float_gauge(&self, desc: Desc) -> Result<Family<FloatGauge>, Error> {
        self.register(desc, KindSpec::FloatGauge, FloatGauge::from_series)
    }

    /// Registers a histogram family with the given bucket bounds.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidMetricName`], [`Error::InvalidLabelName`],
    ///   [`Error::ReservedLabelName`] (`__` prefixes; `le` on a histogram),
    ///   [`Error::DuplicateLabelName`] (also among the constant labels, the registry's
    ///   included), [`Error::InvalidUnit`] and [`Error::CarriageReturn`] for a bad
    ///   description;
    /// - [`Error::ConstLabelClash`] when a label name is also a constant label's;
    /// - [`Error::Conflict`] when the name is registered with a different description;
    /// - [`Error::NameClash`] when another family already exposes one of its sample names;
    /// - [`Error::CapacityExhausted`] when the registry is full.
    pub fn histogram(&self, desc: Desc, buckets: Buckets) -> Result<Family<Histogram>, Error> {
        // `Buckets` caps its bounds at MAX_BOUNDS, so a series' slots always fit in a page.
        debug_assert!(buckets.0.len() + 2 <= PAGE_SLOTS);
        self.register(
            desc,
            KindSpec::Histogram { bounds: buckets.0 },
            Histogram::from_series,
        )
    }

    /// The one registration path every kind goes through.
    fn register<M: Metric>(
        &self,
        desc: Desc,
        spec: KindSpec,
        make: MakeHandle<M>,
    ) -> Result<Family<M>, Error> {
        check_metric_name(&desc.name)?;
        if desc.help.contains('\r') {
            return Err(Error::CarriageReturn {
                family: desc.name,
                text: desc.help,
            });
        }
        let mut seen = HashSet::new();
        for label in &desc.label_names {
            check_label_name(label)?;
            // `le` names a histogram's buckets; the overflow label marks its overflow series.
            if (spec.kind() == crate::Kind::Histogram && label == "le") || label == OVERFLOW_LABEL {
                return Err(Error::ReservedLabelName(label.clone()));
            }
            if !seen.insert(label.as_str()) {
                return Err(Error::DuplicateLabelName(label.clone()));
            }
        }
        let (base, total_suffix) = match spec.kind() {
            crate::Kind::Counter => match desc.name.strip_suffix("_total") {
                // A counter called just `_total` would expose `_total_total`.
                Some("") => return Err(Error::InvalidMetricName(desc.name)),
                Some(base) => (base, true),
                None => (desc.name.as_str(), !desc.exact_name),
            },
            _ => (desc.name.as_str(), false),
        };
        let qualified = self.inner.meta.qualify(base);
        let name = qualified.as_str();
        let meta = Arc::new(self.inner.meta.family_meta(
            name,
            spec.kind(),
            &desc.unit,
            &desc.const_labels,
            &desc.label_names,
        )?);
        let label_names: Box<[Box<str>]> =
            desc.label_names.iter().map(|n| n.as_str().into()).collect();
        let max_series = desc.max_series.unwrap_or(self.inner.meta.max_series);
        let idle_timeout = desc.idle_timeout.or(self.inner.meta.idle_timeout);

        let mut families = self.inner.families.write();
        if let Some(&first) = families.by_name.get(name) {
            let conflict = |reason| Error::Conflict {
                name: name.to_owned(),
                reason,
            };
            let existing = &families.list[first];
            // Families sharing a name are contiguous from `first`.
            let mut end = first;
            while let Some(sibling) = families.list.get(end) {
                if sibling.core.name != existing.core.name {
                    break;
                }
                let reason = sibling
                    .core
                    .conflict(&desc.help, &label_names, &spec)
                    .or_else(|| meta_conflict(&sibling.meta, &meta));
                match reason {
                    None if sibling.total_suffix != total_suffix => {
                        return Err(conflict(ConflictReason::ExactName))
                    }
                    None => return Ok(Family::new(sibling.core.clone(), make)),
                    Some(ConflictReason::Labels) => end += 1,
                    Some(reason) => return Err(conflict(reason)),
                }
            }
            if !(existing.shared_name && desc.shared_name) {
                return Err(conflict(ConflictReason::Labels));
            }
            // Compared with its own label names, the first family tells whether everything
            // else (kind, buckets, scale, help) is the same.
            let own_labels = &existing.core.label_names;
            let reason = existing
                .core
                .conflict(&desc.help, own_labels, &spec)
                .or_else(|| meta_conflict(&existing.meta, &meta));
            if let Some(reason) = reason {
                return Err(conflict(reason));
            }
            if existing.total_suffix != total_suffix {
                return Err(conflict(ConflictReason::ExactName));
            }
            let core =
                self.new_family(name, desc.help, label_names, spec, max_series, idle_timeout)?;
            families.insert_sibling(
                end,
                Listed {
                    core: core.clone(),
                    meta,
                    shared_name: true,
                    continues: true,
                    total_suffix,
                },
            );
            return Ok(Family::new(core, make));
        }
        let samples: Vec<String> = std::iter::once(name.to_owned())
            .chain(
                spec.sample_suffixes()
                    .iter()
                    .map(|suffix| format!("{name}{suffix}")),
            )
            .collect();
        for sample in &samples {
            if let Some(other) = families.exposed.get(sample.as_str()) {
                return Err(Error::NameClash {
                    name: name.to_owned(),
                    sample: sample.clone(),
                    existing: other.to_string(),
                });
            }
        }

        let core = self.new_family(name, desc.help, label_names, spec, max_series, idle_timeout)?;
        let index = families.list.len();
        families.by_name.insert(core.name.clone(), index);
        for sample in samples {
            families.exposed.insert(sample.into(), core.name.clone());
        }
        families.list.push(Listed {
            core: core.clone(),
            meta,
            shared_name: desc.shared_name,
            continues: false,
            total_suffix,
        });
        Ok(Family::new(core, make))
    }

    fn new_family(
        &self,
        name: &str,
        help: String,
        label_names: Box<[Box<str>]>,
        spec: KindSpec,
        max_series: usize,
        idle_timeout: Option<Duration>,
    ) -> Result<Arc<FamilyCore>, Error> {
        let core = Arc::new(FamilyCore::new(
            name.into(),
            help.into(),
            label_names,
            spec,
            self.inner.space.clone(),
            SeriesPolicy {
                max_series,
                track_created: self.inner.meta.track_created,
                idle_timeout,
            },
        ));
        // A family without labels has exactly one series; create it now so that it is
        // exposed (at zero) from the start, as users of other clients expect.
        if core.label_names.is_empty() {
            core.resolve(&[])?;
        }
        Ok(core)
    }

    /// Calls `visitor` with every family and each of its series, in registration and then
    /// creation order. Recording goes on undisturbed meanwhile.
    ///
    /// This allocates its working buffers; a caller that visits repeatedly (an exporter)
    /// should keep a [`VisitBuffers`] and call [`Registry::visit_with`].
    pub fn visit(&self, visitor: &mut impl Visitor) {
        self.visit_with(&mut VisitBuffers::default(), visitor)
    }

    /// [`Registry::visit`] with reusable buffers: once they have grown to the registry's
    /// size, a visit allocates nothing.
    ///
    /// No lock is held while `visitor` runs, so it may record into this registry.
    pub fn visit_with(&self, buffers: &mut VisitBuffers, visitor: &mut impl Visitor) {
        buffers.families.clear();
        buffers
            .families
            .extend(self.inner.families.read().list.iter().cloned());
        let families = std::mem::take(&mut buffers.families);
        let now = Instant::now();
        for listed in &families {
            visit_family(listed, now, buffers, visitor);
        }
        for counter in [&self.inner.overflow_counter, &self.inner.expired_counter] {
            self.visit_own_counter(counter, &families, buffers, visitor);
        }
        buffers.families = families;
        buffers.families.clear();
    }

    /// Visits one of the registry's own counters, one series per family name whose count
    /// is not 0, if any.
    fn visit_own_counter(
        &self,
        counter: &OwnCounter,
        families: &[Listed],
        buffers: &mut VisitBuffers,
        visitor: &mut impl Visitor,
    ) {
        // Families that share a name are adjacent, and count as one. Every total is read
        // once, so the generation and the series agree.
        let totals = &mut buffers.counts;
        totals.clear();
        totals.extend(
            families
                .chunk_by(|a, b| a.core.name == b.core.name)
                .map(|run| {
                    run.iter()
                        .map(|listed| (counter.count)(&listed.core).load(Relaxed))
                        .fold(0u64, u64::saturating_add)
                }),
        );
        // Counts only go up, so the set of family names with a series only grows, and its
        // size tells an exporter's cache when positions have moved.
        let present = totals.iter().filter(|&&total| total != 0).count();
        let mut header = Some(FamilyInfo {
            id: counter.id,
            name: &counter.name,
            help: counter.help,
            kind: crate::Kind::Counter,
            label_names: &*FAMILY_LABEL_NAMES,
            bounds: &[],
            unit: "",
            const_labels: &self.inner.meta.const_labels,
            continues: false,
            total_suffix: true,
            generation: present as u64,
        });
        let runs = families.chunk_by(|a, b| a.core.name == b.core.name);
        for (run, &total) in runs.zip(totals.iter()) {
            if total == 0 {
                continue;
            }
            if let Some(info) = header.take() {
                visitor.family(info);
            }
            buffers.labels.clear();
            LabelValues::encode(&mut buffers.labels, [&*run[0].core.name].into_iter());
            buffers.current.set_encoded(&buffers.labels);
            visitor.series(&buffers.current, Value::Counter(total));
        }
    }
}

impl Families {
    /// Inserts a family sharing its name with the ones before `position`, keeping the
    /// positions `by_name` records in step with the list.
    fn insert_sibling(&mut self, position: usize, listed: Listed) {
        for index in self.by_name.values_mut() {
            if *index >= position {
                *index += 1;
            }
        }
        self.list.insert(position, listed);
    }
}

/// Working memory for [`Registry::visit_with`], kept between visits.
#[derive(Default)]
pub struct VisitBuffers {
    families: Vec<Listed>,
    ranges: Vec<SlotRange>,
    /// The label values of a family's series, encoded one after another.
    labels: Vec<u8>,
    label_ends: Vec<usize>,
    /// The label values of the series being visited.
    current: LabelValues,
    /// The creation times of a family's series, when the registry keeps them.
    created: Vec<f64>,
    /// The numbers of a family's series, when they expire.
    numbers: Vec<u32>,
    counts: Vec<u64>,
    floats: Vec<f64>,
}

impl fmt::Debug for VisitBuffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VisitBuffers").finish_non_exhaustive()
    }
}

/// What differs between two families' exposition-only descriptions.
fn meta_conflict(existing: &FamilyMeta, new: &FamilyMeta) -> Option<ConflictReason> {
    if existing.unit != new.unit {
        Some(ConflictReason::Unit)
    } else if existing.const_labels != new.const_labels {
        Some(ConflictReason::ConstLabels)
    } else {
        None
    }
}

/// Visits one family, then lets its idle series expire: after the visitor has seen it, so
/// that an expired series was in this snapshot with its final value and is gone from the
/// next one.
fn visit_family(
    listed: &Listed,
    now: Instant,
    buffers: &mut VisitBuffers,
    visitor: &mut impl Visitor,
) {
    let family = &*listed.core;
    let VisitBuffers {
        ranges,
        labels,
        label_ends,
        current,
        created,
        numbers,
        counts,
        floats,
        ..
    } = buffers;
    ranges.clear();
    labels.clear();
    label_ends.clear();
    created.clear();
    numbers.clear();
    counts.clear();
    floats.clear();
    let (overflow, generation) = family.series_into(ranges, labels, label_ends, created, numbers);
    let bounds: &[f64] = match &family.spec {
        KindSpec::Histogram { bounds } => bounds,
        _ => &[],
    };
    // Read every value under the shard lock, then call the visitor without it. The overflow
    // series, if any, comes last.
    {
        let reader = family.space.reader();
        for &range in ranges.iter().chain(&overflow) {
            read_series(&reader, &family.spec, bounds, range, counts, floats);
        }
    }
    let info = FamilyInfo {
        id: family.id,
        name: &family.name,
        help: &family.help,
        kind: family.spec.kind(),
        label_names: &family.label_names,
        bounds,
        unit: &listed.meta.unit,
        const_labels: &listed.meta.const_labels,
        continues: listed.continues,
        total_suffix: listed.total_suffix,
        generation,
    };
    visitor.family(info);
    let mut start = 0;
    for (i, &end) in label_ends.iter().enumerate() {
        current.set_encoded(&labels[start..end]);
        start = end;
        let value = series_value(&family.spec, i, counts, floats);
        visitor.series_created(current, value, created.get(i).copied());
    }
    if overflow.is_some() {
        // Its label names differ from the family's, so it is visited as a family of its
        // own that continues this one: one metric family in the exposition.
        visitor.family(FamilyInfo {
            id: family.overflow_id,
            label_names: &*OVERFLOW_LABEL_NAMES,
            continues: true,
            ..info
        });
        current.set_encoded(&OVERFLOW_LABEL_VALUES);
        let i = label_ends.len();
        let value = series_value(&family.spec, i, counts, floats);
        visitor.series_created(current, value, created.get(i).copied());
    }
    family.sweep(
        now,
        Reported {
            generation,
            numbers,
            counts,
            floats,
        },
    );
}

/// The registry's own counters, before any namespace.
const OVERFLOW_COUNTER: &str = "abacus_series_overflow";
const EXPIRED_COUNTER: &str = "abacus_series_expired";
static FAMILY_LABEL_NAMES: LazyLock<[Box<str>; 1]> = LazyLock::new(|| ["family".into()]);

/// The label names and values of every overflow series: `abacus_overflow="true"`.
static OVERFLOW_LABEL_NAMES: LazyLock<[Box<str>; 1]> = LazyLock::new(|| [OVERFLOW_LABEL.into()]);
static OVERFLOW_LABEL_VALUES: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut encoded = Vec::new();
    LabelValues::encode(&mut encoded, ["true"].into_iter());
    encoded
});

/// Appends the values of the series at `range` to `counts` (cumulative bucket counts for
/// a histogram) and, for a histogram, its sum to `floats`.
fn read_series(
    reader: &SpaceReader<'_>,
    spec: &KindSpec,
    bounds: &[f64],
    range: SlotRange,
    counts: &mut Vec<u64>,
    floats: &mut Vec<f64>,
) {
    match spec {
        KindSpec::Histogram { .. } => {
            let mut cumulative = 0u64;
            for bucket in 0..=bounds.len() {
                cumulative = cumulative.saturating_add(reader.count(range, bucket));
                counts.push(cumulative);
            }
            floats.push(reader.float(range, bounds.len() + 1));
        }
        KindSpec::Counter | KindSpec::Fixed { .. } => counts.push(reader.count(range, 0)),
        KindSpec::Gauge | KindSpec::FloatGauge => counts.push(reader.shared(range, 0)),
    }
}

/// The value of the `i`th series [`read_series`] read.
fn series_value<'a>(spec: &KindSpec, i: usize, counts: &'a [u64], floats: &[f64]) -> Value<'a> {
    match spec {
        KindSpec::Counter => Value::Counter(counts[i]),
        KindSpec::Fixed { decimals } => Value::Fixed {
            units: counts[i],
            decimals: *decimals,
        },
        KindSpec::Gauge => Value::Gauge(counts[i] as i64),
        KindSpec::FloatGauge => Value::FloatGauge(f64::from_bits(counts[i])),
        KindSpec::Histogram { bounds } => {
            // One cumulative count per bucket, `+Inf` included.
            let per_series = bounds.len() + 1;
            Value::Histogram(HistogramValue {
                cumulative: &counts[i * per_series..(i + 1) * per_series],
                sum: floats[i],
            })
        }
    }
}
