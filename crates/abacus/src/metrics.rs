//! The recording handles: what a resolved series looks like to the code that records.

use std::fmt;
use std::marker::PhantomData;

use crate::cells::{bump_owned, Page, Shard, SlotRange, SpaceRef, PAGE_SLOTS};
use crate::expiry::HeldByHandle;
use crate::family::{FamilyCore, KindSpec, SeriesId};
use crate::sync::{Arc, AtomicU64, Ordering::Relaxed};

/// A handle type a [`Family`](crate::Family) resolves to. Implemented by the handles of
/// this crate only.
pub trait Metric: Clone + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
}

/// Builds a handle of type `M` for a series of a family.
pub(crate) type MakeHandle<M> = fn(&Arc<FamilyCore>, SeriesId) -> M;

/// The parts of a handle to per-thread slots, copied out of the series so that recording
/// follows as few pointers as possible.
#[derive(Clone)]
struct SlotHandle {
    space: SpaceRef,
    range: SlotRange,
    series: SeriesOf,
}

impl SlotHandle {
    fn new(family: &Arc<FamilyCore>, series: SeriesId) -> Self {
        SlotHandle {
            space: family.space.clone(),
            range: series.range,
            series: SeriesOf::new(family, series),
        }
    }

    #[inline]
    fn offset(&self) -> usize {
        self.range.offset as usize
    }

    fn read_count(&self, index: usize) -> u64 {
        self.space.reader().count(self.range, index)
    }
}

impl fmt::Debug for SlotHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Series")
            .field("labels", &self.series.labels())
            .finish_non_exhaustive()
    }
}

/// The family and number of a handle's series: what `Debug` shows, and what keeps the
/// family (and its registry's cells) alive while the handle lives, and, in a family whose
/// idle series expire, the series too.
#[derive(Clone)]
struct SeriesOf {
    family: Arc<FamilyCore>,
    index: u32,
    _held: HeldByHandle,
}

impl SeriesOf {
    fn new(family: &Arc<FamilyCore>, series: SeriesId) -> Self {
        SeriesOf {
            family: family.clone(),
            index: series.index,
            _held: HeldByHandle::adopt(series.life),
        }
    }

    fn labels(&self) -> Vec<String> {
        self.family.labels_of(self.index)
    }
}

/// A monotonic `u64` counter series.
///
/// Additions saturate at `u64::MAX` rather than wrap, so the value never goes down.
#[derive(Clone, Debug)]
pub struct Counter(SlotHandle);

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1)
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        add_count(&self.0.space, self.0.range, n)
    }

    /// The current total over all threads. This is a read path: it takes the registry's
    /// shard list lock for reading, like a scrape.
    pub fn value(&self) -> u64 {
        self.0.read_count(0)
    }

    /// A handle bound to the calling thread: an increment is a load and a store to this
    /// thread's cell, with no thread-local look-up. Its updates are visible to every scrape
    /// at once, and nothing is lost when it or its thread goes away.
    pub fn local(&self) -> LocalCounter {
        let shard = match self.0.space.local_shard() {
            Some(shard) => {
                shard.add_writer();
                shard
            }
            None => self.0.space.detached_shard(),
        };
        let page = shard.page(self.0.range.page).clone();
        // The offset is below PAGE_SLOTS; the mask only spares the bounds check.
        let cell: *const AtomicU64 = &page[self.0.offset() & (PAGE_SLOTS - 1)];
        LocalCounter {
            cell,
            _page: page,
            shard,
            _series: self.0.series.clone(),
            _not_send: PhantomData,
        }
    }
}

/// A [`Counter`] handle bound to one thread (`!Send`), for the hottest loops.
///
/// It writes the thread's own cell directly; compared with [`Counter::add`] it saves the
/// thread-local look-up. Unlike thread-local metrics that buffer and flush, there is
/// nothing to flush: a scrape reads the cell itself.
pub struct LocalCounter {
    /// The thread's cell of the series, in `_page`.
    cell: *const AtomicU64,
    _page: Arc<Page>,
    shard: Arc<Shard>,
    _series: SeriesOf,
    _not_send: PhantomData<*const ()>,
}

impl LocalCounter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1)
    }

    /// Adds `n`, saturating at `u64::MAX`.
    #[inline]
    pub fn add(&self, n: u64) {
        // The workspace denies unsafe code; following the page and offset measured 0.71 ns
        // an increment against 0.56 ns through this pointer (docs/BENCHMARKS.md, 1b).
        #[allow(unsafe_code)]
        // SAFETY: `cell` points into the page that `_page` keeps alive for as long as this
        // counter lives, and pages never move.
        let cell = unsafe { &*self.cell };
        bump_owned(cell, n);
    }
}

impl Drop for LocalCounter {
    fn drop(&mut self) {
        self.shard.release_writer();
    }
}

impl fmt::Debug for LocalCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCounter").finish_non_exhaustive()
    }
}

/// A monotonic counter of fractional amounts (money, seconds) kept in fixed point.
///
/// The family declares a number of decimals `d`; the counter accumulates whole units of
/// `10^-d` in per-thread `u64` cells, so it adds exactly and as fast as a [`Counter`]. With
/// 9 decimals (nano-units) it holds up to about 1.8e10 before it saturates.
#[derive(Clone, Debug)]
pub struct FixedCounter {
    slots: SlotHandle,
    units_per_one: f64,
}

impl FixedCounter {
    /// The largest number of decimals a fixed-point counter may declare.
    pub const MAX_DECIMALS: u32 = 15;

    /// Adds `amount`, rounded to the nearest unit. A negative or NaN amount adds nothing,
    /// since a counter only goes up; an amount too large for the counter saturates it.
    #[inline]
    pub fn add(&self, amount: f64) {
        // `as` saturates: NaN and negatives become 0, overflow becomes u64::MAX.
        self.add_units((amount * self.units_per_one).round() as u64)
    }

    /// Adds a whole number of units of `10^-decimals`.
    #[inline]
    pub fn add_units(&self, units: u64) {
        add_count(&self.slots.space, self.slots.range, units)
    }

    /// The current total in units of `10^-decimals`.
    pub fn units(&self) -> u64 {
        self.slots.read_count(0)
    }
}

/// A histogram series with fixed bucket bounds.
///
/// Each observation adds one to its bucket and its value to the sum, both in the calling
/// thread's cells. The observation count is not stored: it is the sum of the buckets, so
/// it equals the `+Inf` bucket in every snapshot.
#[derive(Clone, Debug)]
pub struct Histogram {
    slots: SlotHandle,
    bounds: Arc<[f64]>,
}

impl Histogram {
    /// Records one observation. NaN counts in the `+Inf` bucket and makes the sum NaN, as
    /// in the reference Go client.
    #[inline]
    pub fn observe(&self, value: f64) {
        observe(&self.slots.space, self.slots.range, &self.bounds, value)
    }

    /// The number of observations so far, over all threads.
    pub fn count(&self) -> u64 {
        let reader = self.slots.space.reader();
        (0..=self.bounds.len())
            .map(|i| reader.count(self.slots.range, i))
            .sum()
    }
}

/// Adds `n` to the count slot at `range`, on the calling thread's cells.
#[inline]
pub(crate) fn add_count(space: &SpaceRef, range: SlotRange, n: u64) {
    let offset = range.offset as usize;
    space.record(range.page, move |cells| cells.bump(offset, n));
}

/// Records one observation into the histogram cells at `range`: its bucket, then the sum
/// after the `bounds.len() + 1` buckets.
#[inline]
pub(crate) fn observe(space: &SpaceRef, range: SlotRange, bounds: &[f64], value: f64) {
    let first = range.offset as usize;
    let bucket = first + bucket_index(bounds, value);
    let sum = first + bounds.len() + 1;
    space.record(range.page, move |cells| {
        cells.bump(bucket, 1);
        cells.add_float(sum, value);
    });
}

/// The index of the first bucket whose upper bound is `>= value`; `bounds.len()` (the
/// `+Inf` bucket) when there is none or `value` is NaN.
#[inline]
pub(crate) fn bucket_index(bounds: &[f64], value: f64) -> usize {
    if value.is_nan() {
        bounds.len()
    } else if bounds.len() <= 32 {
        // Counting the bounds below the value has no data-dependent branch: on the short
        // layouts histograms usually have it compiles to a few vector compares, where a
        // scan that stops at the bucket mispredicts whenever observations vary.
        bounds.iter().map(|bound| usize::from(*bound < value)).sum()
    } else {
        bounds.partition_point(|bound| *bound < value)
    }
}

/// A gauge holding an `i64`: set, add and subtract.
#[derive(Clone)]
pub struct Gauge(SharedWord);

/// A gauge holding an `f64`: set, add and subtract.
#[derive(Clone)]
pub struct FloatGauge(SharedWord);

/// A gauge's one word, shared by all threads, and the page that holds it.
#[derive(Clone)]
struct SharedWord {
    page: Arc<Page>,
    offset: usize,
    series: SeriesOf,
}

impl SharedWord {
    fn new(family: &Arc<FamilyCore>, series: SeriesId) -> Self {
        SharedWord {
            page: family.space.shared_page(series.range.page),
            offset: series.range.offset as usize,
            series: SeriesOf::new(family, series),
        }
    }

    #[inline]
    fn word(&self) -> &crate::sync::AtomicU64 {
        // The offset is below PAGE_SLOTS; the mask only spares the bounds check.
        &self.page[self.offset & (PAGE_SLOTS - 1)]
    }
}

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, value: i64) {
        self.0.word().store(value as u64, Relaxed);
    }

    /// Adds `delta`, wrapping on overflow.
    #[inline]
    pub fn add(&self, delta: i64) {
        // Two's complement: adding the bits as u64 is adding the i64s, wrapping.
        self.0.word().fetch_add(delta as u64, Relaxed);
    }

    /// Subtracts `delta`, wrapping on overflow.
    #[inline]
    pub fn sub(&self, delta: i64) {
        self.0.word().fetch_sub(delta as u64, Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1)
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.sub(1)
    }

    /// The current value.
    pub fn value(&self) -> i64 {
        self.0.word().load(Relaxed) as i64
    }
}

impl FloatGauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, value: f64) {
        self.0.word().store(value.to_bits(), Relaxed);
    }

    /// Adds `delta` (a compare-and-swap loop: floats have no atomic add).
    #[inline]
    pub fn add(&self, delta: f64) {
        let _ = self.0.word().fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + delta).to_bits())
        });
    }

    /// Subtracts `delta`.
    #[inline]
    pub fn sub(&self, delta: f64) {
        self.add(-delta)
    }

    /// The current value.
    pub fn value(&self) -> f64 {
        f64::from_bits(self.0.word().load(Relaxed))
    }
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauge")
            .field("labels", &self.0.series.labels())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for FloatGauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FloatGauge")
            .field("labels", &self.0.series.labels())
            .finish_non_exhaustive()
    }
}

impl Counter {
    pub(crate) fn from_series(family: &Arc<FamilyCore>, series: SeriesId) -> Self {
        Counter(SlotHandle::new(family, series))
    }
}

impl FixedCounter {
    pub(crate) fn from_series(family: &Arc<FamilyCore>, series: SeriesId) -> Self {
        let decimals = match family.spec {
            KindSpec::Fixed { decimals } => decimals,
            _ => 0,
        };
        FixedCounter {
            slots: SlotHandle::new(family, series),
            units_per_one: 10f64.powi(decimals as i32),
        }
    }
}

impl Histogram {
    pub(crate) fn from_series(family: &Arc<FamilyCore>, series: SeriesId) -> Self {
        let bounds = match &family.spec {
            KindSpec::Histogram { bounds } => bounds.clone(),
            _ => Arc::from(Vec::new()),
        };
        Histogram {
            slots: SlotHandle::new(family, series),
            bounds,
        }
    }
}

impl Gauge {
    pub(crate) fn from_series(family: &Arc<FamilyCore>, series: SeriesId) -> Self {
        Gauge(SharedWord::new(family, series))
    }
}

impl FloatGauge {
    pub(crate) fn from_series(family: &Arc<FamilyCore>, series: SeriesId) -> Self {
        FloatGauge(SharedWord::new(family, series))
    }
}

impl sealed::Sealed for Counter {}
impl sealed::Sealed for FixedCounter {}
impl sealed::Sealed for Histogram {}
impl sealed::Sealed for Gauge {}
impl sealed::Sealed for FloatGauge {}
impl Metric for Counter {}
impl Metric for FixedCounter {}
impl Metric for Histogram {}
impl Metric for Gauge {}
impl Metric for FloatGauge {}
