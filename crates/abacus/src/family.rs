//! Families: a metric with label names, and the resolution of label values to series.

use std::fmt;
use std::time::{Duration, Instant};

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::cells::{CellSpace, SlotKind, SlotRange, SpaceReader, SpaceRef};
use crate::expiry::{Expired, Expiry, Fingerprint, Hold, Pin, SeriesLife};
use crate::labels::{hash_values, LabelValues};
use crate::metrics::{MakeHandle, Metric};
use crate::resolved::{self, Resolution};
use crate::series::SeriesStore;
use crate::sync::{Arc, AtomicU64, Ordering::Relaxed, RwLock};
use crate::Error;

/// What a family records, with the parameters that are part of its identity.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum KindSpec {
    Counter,
    Fixed { decimals: u32 },
    Gauge,
    FloatGauge,
    Histogram { bounds: Arc<[f64]> },
}

impl KindSpec {
    /// The exposition type.
    pub(crate) fn kind(&self) -> crate::Kind {
        match self {
            KindSpec::Counter | KindSpec::Fixed { .. } => crate::Kind::Counter,
            KindSpec::Gauge | KindSpec::FloatGauge => crate::Kind::Gauge,
            KindSpec::Histogram { .. } => crate::Kind::Histogram,
        }
    }

    /// The sample names a family of this kind exposes, besides its own name.
    pub(crate) fn sample_suffixes(&self) -> &'static [&'static str] {
        match self.kind() {
            crate::Kind::Counter => &["_total", "_created"],
            crate::Kind::Gauge => &[],
            crate::Kind::Histogram => &["_bucket", "_sum", "_count", "_created"],
        }
    }

    /// The slots one series needs, and of which kind.
    fn slot_kinds(&self) -> Vec<SlotKind> {
        match self {
            KindSpec::Counter | KindSpec::Fixed { .. } => vec![SlotKind::Count],
            // `set` must be last-writer-wins across threads: one shared word.
            KindSpec::Gauge | KindSpec::FloatGauge => vec![SlotKind::Shared],
            KindSpec::Histogram { bounds } => {
                // One count per bucket including +Inf, then the sum. The observation count
                // is the sum of the buckets, so it always equals the +Inf bucket.
                let mut kinds = vec![SlotKind::Count; bounds.len() + 1];
                kinds.push(SlotKind::Float);
                kinds
            }
        }
    }
}

/// A series as resolution hands it to handles: its number in its family, where its cells
/// are in the registry's cell space, and, if it can expire, its life, counted once for
/// the [`Hold`] the resolution was asked for.
pub(crate) struct SeriesId {
    pub(crate) index: u32,
    pub(crate) range: SlotRange,
    pub(crate) life: Option<Arc<SeriesLife>>,
}

/// What a visit read of a family, in the order it reported the series: the series'
/// numbers, and their values as `registry::read_series` appends them.
pub(crate) struct Reported<'a> {
    pub(crate) generation: u64,
    pub(crate) numbers: &'a [u32],
    pub(crate) counts: &'a [u64],
    pub(crate) floats: &'a [f64],
}

/// The label that marks a family's overflow series, which holds what was recorded for new
/// label values once the family had reached its series limit. Families may not use it.
pub const OVERFLOW_LABEL: &str = "abacus_overflow";

/// The series number handles of the overflow series carry.
pub(crate) const OVERFLOW_SERIES: u32 = u32::MAX;

/// The time now in seconds since the Unix epoch, for `_created` samples.
fn now_in_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// A new id, unique in the process, for a family or anything an exporter caches like one.
pub(crate) fn next_family_id() -> u64 {
    // Outside any model: ids only tell families apart.
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// How a family keeps its series: how many, with creation times or not, and for how long
/// when idle.
pub(crate) struct SeriesPolicy {
    pub(crate) max_series: usize,
    pub(crate) track_created: bool,
    pub(crate) idle_timeout: Option<Duration>,
}

/// The shared part of a family, behind every [`Family`] handle.
pub(crate) struct FamilyCore {
    /// Unique in the process, so that an exporter can cache per-family work across scrapes.
    pub(crate) id: u64,
    /// The id under which the overflow series is visited: it has other label names, so
    /// visitors see it as a family of its own that continues this one.
    pub(crate) overflow_id: u64,
    /// How many series the family may hold; past it, new label values resolve to the
    /// overflow series.
    max_series: usize,
    /// Resolutions of new label values that went to the overflow series.
    pub(crate) overflowed: AtomicU64,
    /// When idle series expire; `None` if they never do.
    expiry: Option<Expiry>,
    /// How many times series have expired. Per-call memories remember it with each tuple
    /// and check it on every use, so that a thread lets go of an expired series.
    expirations: AtomicU64,
    /// How many series have expired, for `abacus_series_expired_total`.
    pub(crate) expired_series: AtomicU64,
    /// The family name; for counters without the `_total` suffix.
    pub(crate) name: Box<str>,
    pub(crate) help: Box<str>,
    pub(crate) label_names: Box<[Box<str>]>,
    pub(crate) spec: KindSpec,
    /// The slots of one series, worked out once rather than per series.
    slots: Box<[SlotKind]>,
    pub(crate) space: SpaceRef,
    hasher: DefaultHashBuilder,
    index: RwLock<Index>,
}

/// The series of a family in creation order, and a hash table of their numbers.
struct Index {
    /// Series numbers, by hash of their label values.
    table: HashTable<u32>,
    series: SeriesStore,
    /// Changes whenever a series is removed or a new one fills a hole, so that the order
    /// of series is no longer creation order; see [`crate::FamilyInfo::generation`].
    generation: u64,
    /// For a family whose series expire, each series' life, by series number.
    lives: Vec<Option<Arc<SeriesLife>>>,
    /// Removed series whose cells wait to be reclaimed.
    expired: Vec<Expired>,
    /// Reclaimed cells, zeroed, for the next new series.
    free_ranges: Vec<SlotRange>,
    /// Created when the first resolution finds the family full.
    overflow: Option<SlotRange>,
    /// When each series was created, in seconds since the Unix epoch, if the registry
    /// keeps creation times; the overflow series' last.
    created: Option<Vec<f64>>,
    overflow_created: f64,
}

impl FamilyCore {
    pub(crate) fn new(
        name: Box<str>,
        help: Box<str>,
        label_names: Box<[Box<str>]>,
        spec: KindSpec,
        space: Arc<CellSpace>,
        policy: SeriesPolicy,
    ) -> Self {
        let SeriesPolicy {
            max_series,
            track_created,
            idle_timeout,
        } = policy;
        let label_count = label_names.len();
        FamilyCore {
            id: next_family_id(),
            overflow_id: next_family_id(),
            max_series,
            overflowed: AtomicU64::new(0),
            // A family without labels has one series for life, exposed from the start.
            expiry: idle_timeout.filter(|_| label_count > 0).map(Expiry::new),
            expirations: AtomicU64::new(0),
            expired_series: AtomicU64::new(0),
            name,
            help,
            label_names,
            slots: spec.slot_kinds().into_boxed_slice(),
            spec,
            space: SpaceRef::new(space),
            hasher: DefaultHashBuilder::default(),
            index: RwLock::new(Index {
                table: HashTable::new(),
                series: SeriesStore::new(label_count),
                generation: 0,
                lives: Vec::new(),
                expired: Vec::new(),
                free_ranges: Vec::new(),
                overflow: None,
                created: track_created.then(Vec::new),
                overflow_created: 0.0,
            }),
        }
    }

    /// The series for `values`, created on first use, counted as held by a handle.
    pub(crate) fn resolve(&self, values: &[&str]) -> Result<SeriesId, Error> {
        self.check_count(values)?;
        self.find_or_insert(self.hash(values), values, Hold::Handle)
    }

    /// The series for `values`, whose hash is `hash`: under the read lock if it exists.
    fn find_or_insert(&self, hash: u64, values: &[&str], hold: Hold) -> Result<SeriesId, Error> {
        if let Some(found) = self.index.read().find(hash, values, hold) {
            return Ok(found);
        }
        self.insert(hash, values, hold)
    }

    /// Runs `record` on the cells of the series for `values`, for recording by label
    /// values on every call.
    ///
    /// This is the path of code that cannot keep handles, so it avoids even the read lock:
    /// each thread remembers the series it resolved lately (see [`crate::resolved`]). Only
    /// a thread's first use of a tuple takes the family's lock.
    #[inline]
    pub(crate) fn record_per_call(
        &self,
        values: &[&str],
        record: impl FnOnce(SlotRange),
    ) -> Result<(), Error> {
        // Read before resolving: a memory remembered with a count that an expiry has
        // since moved is stale, and its next use resolves again.
        let expirations = self.expirations.load(Relaxed);
        // The remembered tuples all have the family's label count, so a wrong count can
        // only miss here, and the slow path reports it.
        match resolved::find_by_address(self.id, expirations, values) {
            Some(range) => {
                record(range);
                Ok(())
            }
            None => self.record_per_call_slow(expirations, values, record),
        }
    }

    #[cold]
    #[inline(never)]
    fn record_per_call_slow(
        &self,
        expirations: u64,
        values: &[&str],
        record: impl FnOnce(SlotRange),
    ) -> Result<(), Error> {
        self.check_count(values)?;
        let hash = self.hash(values);
        if let Some(range) = resolved::find_by_text(self.id, expirations, hash, values) {
            record(range);
            return Ok(());
        }
        let series = self.find_or_insert(hash, values, Hold::Pin)?;
        let resolution = Resolution {
            family: self.id,
            expirations,
            hash,
            range: series.range,
            _pin: Pin::adopt(series.life),
        };
        // The pin must outlive the write: a resolution this thread cannot remember is
        // dropped only after it, or an expiry on another thread could reclaim the cells,
        // and reuse them for another series, in between.
        let unremembered = resolved::remember(resolution, values);
        record(series.range);
        drop(unremembered);
        Ok(())
    }

    /// The hash of a tuple of values, as this family's index and the per-thread memory
    /// of resolutions use it.
    fn hash(&self, values: &[&str]) -> u64 {
        hash_values(&self.hasher, values.iter().copied())
    }

    fn check_count(&self, values: &[&str]) -> Result<(), Error> {
        if values.len() == self.label_names.len() {
            return Ok(());
        }
        Err(Error::LabelCount {
            family: self.name.to_string(),
            expected: self.label_names.len(),
            got: values.len(),
        })
    }

    #[cold]
    fn insert(&self, hash: u64, values: &[&str], hold: Hold) -> Result<SeriesId, Error> {
        self.insert_locked(&mut self.index.write(), hash, values, hold)
    }

    fn insert_locked(
        &self,
        index: &mut Index,
        hash: u64,
        values: &[&str],
        hold: Hold,
    ) -> Result<SeriesId, Error> {
        // Another thread may have created it between our read and write lock.
        if let Some(found) = index.find(hash, values, hold) {
            return Ok(found);
        }
        if let Some(value) = values.iter().find(|v| v.contains('\r')) {
            return Err(Error::CarriageReturn {
                family: self.name.to_string(),
                text: value.to_string(),
            });
        }
        let bytes: usize = values.iter().map(|v| v.len()).sum();
        if bytes > LabelValues::MAX_BYTES {
            return Err(Error::LabelValuesTooLong {
                family: self.name.to_string(),
                bytes,
            });
        }
        if index.series.len() >= self.max_series {
            return self.overflow(index);
        }
        // Reclaimed cells are zero, as new ones are.
        let range = match index.free_ranges.pop() {
            Some(range) => range,
            None => self.space.allocate(&self.slots)?,
        };
        let Index {
            table,
            series,
            created,
            lives,
            generation,
            ..
        } = index;
        let filled_hole = series.len() < series.records();
        let number = series.push(range, values, &self.hasher);
        if filled_hole {
            *generation += 1;
        }
        table.insert_unique(hash, number, |&i| series.hash(i, &self.hasher));
        if let Some(created) = created {
            set_at(created, number, now_in_seconds());
        }
        let life = self.expiry.as_ref().map(|expiry| {
            // A new series counts as changed now: it is idle from its creation on.
            SeriesLife::new(hold, 0, expiry.since_epoch(Instant::now()))
        });
        if self.expiry.is_some() {
            set_at(lives, number, life.clone());
        }
        Ok(SeriesId {
            index: number,
            range,
            life,
        })
    }

    /// The overflow series, created on first use; counts the resolution.
    fn overflow(&self, index: &mut Index) -> Result<SeriesId, Error> {
        let range = match index.overflow {
            Some(range) => range,
            None => {
                index.overflow_created = now_in_seconds();
                let range = match index.free_ranges.pop() {
                    Some(range) => range,
                    None => self.space.allocate(&self.slots)?,
                };
                *index.overflow.insert(range)
            }
        };
        self.overflowed.fetch_add(1, Relaxed);
        Ok(SeriesId {
            index: OVERFLOW_SERIES,
            range,
            life: None,
        })
    }

    /// Appends, for every series in creation order, where its cells are to `ranges` and
    /// its label values to `labels` (encoded as [`LabelValues`], one after another), with
    /// the end of each in `labels` to `label_ends`, and, if the registry keeps them, their
    /// creation times to `created` (the overflow series' last); returns where the overflow
    /// series' cells are, if it exists.
    ///
    /// Also returns the family's generation ([`crate::FamilyInfo::generation`]) and, if
    /// its series expire, appends their numbers to `numbers`, for [`FamilyCore::sweep`].
    pub(crate) fn series_into(
        &self,
        ranges: &mut Vec<SlotRange>,
        labels: &mut Vec<u8>,
        label_ends: &mut Vec<usize>,
        created: &mut Vec<f64>,
        numbers: &mut Vec<u32>,
    ) -> (Option<SlotRange>, u64) {
        let index = self.index.read();
        for number in index.series.numbers() {
            if self.expiry.is_some() {
                numbers.push(number);
            }
            ranges.push(index.series.range(number));
            LabelValues::encode(labels, index.series.values(number));
            label_ends.push(labels.len());
            if let Some(times) = &index.created {
                created.push(times[number as usize]);
            }
        }
        if index.created.is_some() && index.overflow.is_some() {
            created.push(index.overflow_created);
        }
        (index.overflow, index.generation)
    }

    /// Expires the series that have been idle for the family's timeout and have no live
    /// handle, and reclaims the cells of expired series nothing pins any more; see
    /// [`crate::expiry`]. Visits call this with what they have just reported, never
    /// recording.
    ///
    /// Idleness is judged on reported values only: a series is removed when this visit
    /// reported the same value as the visit before it, and its cells still hold that
    /// value. What it receives later is carried over at reclaim, measured against that
    /// reported value, so a series' last value is always one some visit reported.
    pub(crate) fn sweep(&self, now: Instant, reported: Reported<'_>) {
        let Some(expiry) = &self.expiry else { return };
        let now = expiry.since_epoch(now);
        let idle = expiry.idle_nanos();
        // First a look under the read lock, which recording's first resolutions share.
        let (candidates, reclaimable) = {
            let index = self.index.read();
            let mut candidates = Vec::new();
            // Another visit's removals may have moved the series since they were read.
            if index.generation == reported.generation {
                for (position, &number) in reported.numbers.iter().enumerate() {
                    let Some(Some(life)) = index.lives.get(number as usize) else {
                        continue;
                    };
                    let idle_for =
                        life.observe(self.reported_fingerprint(&reported, position), now);
                    if idle_for.is_some_and(|t| t >= idle) && !life.has_handles() {
                        candidates.push(position);
                    }
                }
            }
            let reclaimable = index.expired.iter().any(|e| !e.life.is_pinned());
            (candidates, reclaimable)
        };
        if candidates.is_empty() && !reclaimable {
            return;
        }
        let mut index = self.index.write();
        let index = &mut *index;
        let mut expiring = false;
        // Another visit's removals since the look above would have moved the series; this
        // visit's own do not move the ones it has yet to check.
        let unmoved = index.generation == reported.generation;
        for position in candidates.into_iter().filter(|_| unmoved) {
            // Checked again under the write lock, which keeps new handles out: the series
            // may have gained a handle or been recorded since.
            let number = reported.numbers[position];
            let Some(Some(life)) = index.lives.get(number as usize) else {
                continue;
            };
            let life = life.clone();
            let reported_value = self.reported_fingerprint(&reported, position);
            let range = index.series.range(number);
            let current = self.fingerprint(&self.space.reader(), range);
            if life.has_handles() || current != reported_value {
                continue;
            }
            expiring = true;
            let labels = index.series.values(number).map(Box::from).collect();
            let hash = index.series.hash(number, &self.hasher);
            if let Ok(entry) = index.table.find_entry(hash, |&other| other == number) {
                entry.remove();
            }
            index.series.remove(number, &self.hasher);
            index.lives[number as usize] = None;
            index.generation += 1;
            self.expired_series.fetch_add(1, Relaxed);
            index.expired.push(Expired {
                range,
                life,
                values: self.reported_slots(&reported, position),
                labels,
            });
        }
        if expiring {
            // Per-call memories of this family let go of what they hold on their next use.
            self.expirations.fetch_add(1, Relaxed);
        }
        self.reclaim(index);
    }

    /// The fingerprint of the series a visit reported at `position`.
    fn reported_fingerprint(&self, reported: &Reported<'_>, position: usize) -> Fingerprint {
        match &self.spec {
            // The `+Inf` bucket, cumulative: the count.
            KindSpec::Histogram { bounds } => {
                reported.counts[(position + 1) * (bounds.len() + 1) - 1]
            }
            _ => reported.counts[position],
        }
    }

    /// The slots' values of the series a visit reported at `position`, one word each as
    /// the cells hold them (buckets not cumulative, the sum as bits).
    fn reported_slots(&self, reported: &Reported<'_>, position: usize) -> Box<[u64]> {
        match &self.spec {
            KindSpec::Histogram { bounds } => {
                let per_series = bounds.len() + 1;
                let cumulative = &reported.counts[position * per_series..][..per_series];
                let mut slots: Vec<u64> = cumulative
                    .iter()
                    .scan(0, |below, &up_to| {
                        let bucket = up_to - *below;
                        *below = up_to;
                        Some(bucket)
                    })
                    .collect();
                slots.push(reported.floats[position].to_bits());
                slots.into()
            }
            _ => Box::new([reported.counts[position]]),
        }
    }

    /// Carries over what expired series received after their removal and frees their
    /// cells, for those that nothing pins any more.
    fn reclaim(&self, index: &mut Index) {
        let mut position = 0;
        while let Some(expired) = index.expired.get(position) {
            if expired.life.is_pinned() {
                position += 1;
                continue;
            }
            let expired = index.expired.swap_remove(position);
            // Nothing can write these cells now: no handle, no pin, not in the index.
            let late: Vec<(usize, SlotKind, u64)> = {
                let reader = self.space.reader();
                let late = self
                    .slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &kind)| {
                        let now = reader.slot(expired.range, i, kind);
                        let then = expired.values[i];
                        let late = match kind {
                            SlotKind::Count => now.saturating_sub(then),
                            SlotKind::Float => {
                                (f64::from_bits(now) - f64::from_bits(then)).to_bits()
                            }
                            SlotKind::Shared => 0,
                        };
                        (now != then).then_some((i, kind, late))
                    })
                    .collect();
                reader.zero(expired.range, self.slots.len());
                late
            };
            // Free first, so that a successor created here takes these cells and cannot
            // find the registry full.
            index.free_ranges.push(expired.range);
            // A late float alone is no record: folding an exiting thread's cells may
            // nudge a sum by an ulp (see `cells::fold_float`).
            let recorded_late = late
                .iter()
                .any(|&(_, kind, raw)| kind == SlotKind::Count && raw > 0);
            if recorded_late {
                let values: Vec<&str> = expired.labels.iter().map(|v| &**v).collect();
                let hash = self.hash(&values);
                // The values were a series' before, so they are valid, and there are
                // free cells: this finds or creates a series, if only the overflow one.
                if let Ok(successor) = self.insert_locked(index, hash, &values, Hold::Nothing) {
                    for (i, kind, raw) in late {
                        self.space.carry_over(successor.range, i, kind, raw);
                    }
                }
            }
        }
    }

    /// The word that changes whenever the series at `range` is recorded.
    fn fingerprint(&self, reader: &SpaceReader<'_>, range: SlotRange) -> Fingerprint {
        match &self.spec {
            // Every observation counts in one bucket: the sum of the buckets is the count.
            KindSpec::Histogram { bounds } => (0..=bounds.len())
                .map(|bucket| reader.count(range, bucket))
                .fold(0, u64::saturating_add),
            KindSpec::Counter | KindSpec::Fixed { .. } => reader.count(range, 0),
            KindSpec::Gauge | KindSpec::FloatGauge => reader.shared(range, 0),
        }
    }

    /// The label values of one series, for `Debug` output.
    pub(crate) fn labels_of(&self, series: u32) -> Vec<String> {
        if series == OVERFLOW_SERIES {
            return vec![format!("{OVERFLOW_LABEL}=true")];
        }
        let index = self.index.read();
        index.series.values(series).map(str::to_owned).collect()
    }

    /// Whether a registration with these parameters would be this same family.
    pub(crate) fn conflict(
        &self,
        help: &str,
        label_names: &[Box<str>],
        spec: &KindSpec,
    ) -> Option<crate::ConflictReason> {
        use crate::ConflictReason as R;
        match (&self.spec, spec) {
            (a, b) if std::mem::discriminant(a) != std::mem::discriminant(b) => Some(R::Kind),
            (KindSpec::Histogram { bounds: a }, KindSpec::Histogram { bounds: b })
                if a.iter()
                    .map(|f| f.to_bits())
                    .ne(b.iter().map(|f| f.to_bits())) =>
            {
                Some(R::Buckets)
            }
            (KindSpec::Fixed { decimals: a }, KindSpec::Fixed { decimals: b }) if a != b => {
                Some(R::Scale)
            }
            _ if &*self.label_names != label_names => Some(R::Labels),
            _ if &*self.help != help => Some(R::Help),
            _ => None,
        }
    }
}

impl Index {
    /// The series for `values`, counted as held by `hold` if it can expire.
    fn find(&self, hash: u64, values: &[&str], hold: Hold) -> Option<SeriesId> {
        let &index = self.table.find(hash, |&i| self.series.matches(i, values))?;
        let life = self.lives.get(index as usize).cloned().flatten();
        if let Some(life) = &life {
            life.hold(hold);
        }
        Some(SeriesId {
            index,
            range: self.series.range(index),
            life,
        })
    }
}

/// Sets `items[at]`, growing `items` by one if `at` is its length.
fn set_at<T>(items: &mut Vec<T>, at: u32, item: T) {
    match items.get_mut(at as usize) {
        Some(slot) => *slot = item,
        None => items.push(item),
    }
}

/// A registered metric with label names; [`with_labels`](Family::with_labels) resolves a
/// tuple of label values to a handle of type `M`.
///
/// Resolving hashes the values once and compares them with the stored ones on a hit, under
/// a read lock; only the first resolution of a tuple takes the write lock. Keep the
/// returned handle where you can: recording through it never hashes, locks or allocates.
pub struct Family<M> {
    core: Arc<FamilyCore>,
    make: MakeHandle<M>,
}

impl<M: Metric> Family<M> {
    pub(crate) fn new(core: Arc<FamilyCore>, make: MakeHandle<M>) -> Self {
        Family { core, make }
    }

    /// The handle for one tuple of label values, in the order of the family's label names.
    ///
    /// # Errors
    ///
    /// - [`Error::LabelCount`] when the number of values differs from the number of label
    ///   names;
    /// - [`Error::CarriageReturn`] for a value holding one, which no exposition format can
    ///   carry;
    /// - [`Error::LabelValuesTooLong`] for values longer than
    ///   [`LabelValues::MAX_BYTES`] together;
    /// - [`Error::CapacityExhausted`] when the registry has no room for another series.
    pub fn with_labels(&self, values: &[&str]) -> Result<M, Error> {
        let series = self.core.resolve(values)?;
        Ok((self.make)(&self.core, series))
    }

    /// The handle of a family without labels: `with_labels(&[])`.
    ///
    /// # Errors
    ///
    /// [`Error::LabelCount`] when the family has label names.
    pub fn without_labels(&self) -> Result<M, Error> {
        self.with_labels(&[])
    }

    /// The family's name (for counters, without `_total`).
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The family's label names.
    pub fn label_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.core.label_names.iter().map(|n| &**n)
    }
}

impl<M> Clone for Family<M> {
    fn clone(&self) -> Self {
        Family {
            core: self.core.clone(),
            make: self.make,
        }
    }
}

impl<M> fmt::Debug for Family<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.core.name)
            .field("label_names", &self.core.label_names)
            .finish_non_exhaustive()
    }
}

/// Recording by label values, for code that cannot keep handles: each call hashes the
/// values once and finds the series in a per-thread memory of recent resolutions,
/// comparing the real values; it takes no lock, clones nothing and allocates nothing once
/// the thread has seen the series.
impl Family<crate::Counter> {
    /// Adds one to the series for `values`, creating it on first use.
    ///
    /// # Errors
    ///
    /// As [`Family::with_labels`].
    #[inline]
    pub fn inc(&self, values: &[&str]) -> Result<(), Error> {
        self.add(values, 1)
    }

    /// Adds `n` to the series for `values`, creating it on first use.
    ///
    /// # Errors
    ///
    /// As [`Family::with_labels`].
    #[inline]
    pub fn add(&self, values: &[&str], n: u64) -> Result<(), Error> {
        let space = &self.core.space;
        self.core
            .record_per_call(values, |range| crate::metrics::add_count(space, range, n))
    }
}

impl Family<crate::Histogram> {
    /// Records `value` in the series for `values`, creating it on first use.
    ///
    /// # Errors
    ///
    /// As [`Family::with_labels`].
    #[inline]
    pub fn observe(&self, values: &[&str], value: f64) -> Result<(), Error> {
        let KindSpec::Histogram { bounds } = &self.core.spec else {
            return Ok(());
        };
        let space = &self.core.space;
        self.core.record_per_call(values, |range| {
            crate::metrics::observe(space, range, bounds, value)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Desc, Registry};

    #[test]
    fn a_resolution_the_thread_cannot_remember_pins_its_series_until_the_record_is_written() {
        let registry = Registry::new();
        let family = registry
            .counter(
                Desc::new("t_total", "T.")
                    .labels(["k"])
                    .idle_timeout(Duration::from_secs(60)),
            )
            .unwrap();
        let core = &family.core;
        let values = ["v"];
        let pinned = |core: &FamilyCore| {
            let index = core.index.read();
            let series = index.find(core.hash(&values), &values, Hold::Nothing);
            series
                .and_then(|series| series.life)
                .map(|life| life.is_pinned())
        };
        // With the memory in use the thread cannot remember the new tuple: only the
        // resolution in hand pins the series, and an expiry elsewhere could reclaim its
        // cells the moment that pin went.
        let pinned_while_recording = resolved::while_in_use(|| {
            let mut seen = None;
            core.record_per_call(&values, |range| {
                seen = pinned(core);
                crate::metrics::add_count(&core.space, range, 1);
            })
            .unwrap();
            seen
        });
        assert_eq!(pinned_while_recording, Some(true));
        // Unremembered, the resolution let go of its pin once the record was written.
        assert_eq!(pinned(core), Some(false));
        assert_eq!(family.with_labels(&values).unwrap().value(), 1);
    }
}
