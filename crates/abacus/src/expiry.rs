//! Idle expiry: what a family whose series expire keeps per series, and who may still
//! write an expired series' cells.
//!
//! A series expires when a visit finds it idle for the family's timeout and no handle of
//! it is alive. *Idle* is judged by value, not by a mark on every record (which would put
//! a shared store on the recording path): each visit compares the value it reported with
//! the one a visit reported before, and notes the time when they differ. A counter or
//! histogram that was recorded has a different value; a gauge set to the value it already
//! had, or a counter given 0, counts as idle. Visits judge by what they *reported*, never
//! by a read of their own, so that a series only ever leaves with a value some visit
//! showed.
//!
//! Expiry has three steps, all under the family's index write lock:
//!
//! 1. *Removal*, right after a visit reported the family. The series leaves the index
//!    and the next snapshot. It needs no live handle (handles are counted under the index
//!    lock, so none can appear while the lock is held), the same reported value as the
//!    visit before, and cells that still hold that value. The values the visit reported
//!    are kept.
//! 2. *Quiescence.* Per-call recording (`Family::inc(&values)`) writes through each
//!    thread's memory of its resolutions, which the sweeping thread cannot reach. Every
//!    memory of an expiring series *pins* it. A pinned memory is found stale by its thread
//!    (the family's expiry count moved) and let go on its next use, or when the thread's
//!    memory starts over or the thread exits. Until no memory pins the series, a record
//!    may still land in its cells.
//! 3. *Reclaim.* Once nothing pins it, no write can reach the cells any more. Whatever
//!    they hold beyond the reported values (records that raced the removal) is carried
//!    over to the series that now has the same label values, the cells are zeroed, and
//!    the family gives them to its next new series.
//!
//! So nothing recorded is lost: a value is either in the series a visit reported just
//! before removing it, or carried over.

use std::time::{Duration, Instant};

use crate::cells::SlotRange;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Ordering};

/// A family's expiry setting and the clock its series' idle times are read on.
pub(crate) struct Expiry {
    pub(crate) idle: Duration,
    epoch: Instant,
}

impl Expiry {
    pub(crate) fn new(idle: Duration) -> Self {
        Expiry {
            idle,
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds from the family's creation to `now`.
    pub(crate) fn since_epoch(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn idle_nanos(&self) -> u64 {
        u64::try_from(self.idle.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// What an expiring family keeps per series, shared with its handles and with the
/// per-thread memories of per-call recording.
pub(crate) struct SeriesLife {
    /// Live handles. Counted up only under the family's index lock.
    handles: AtomicUsize,
    /// Per-thread memories of per-call recording that hold the series. Counted up only
    /// under the family's index lock.
    pins: AtomicUsize,
    /// The value the last visit saw (see [`Fingerprint`]), and when it last changed, in
    /// nanoseconds since the family's epoch. Only visits read and write them; two
    /// visits at once can at worst note a change late, which delays an expiry.
    seen: AtomicU64,
    changed_at: AtomicU64,
}

/// One word that changes whenever a series is recorded: a counter's value, a histogram's
/// count, a gauge's bits.
pub(crate) type Fingerprint = u64;

/// What a caller of a resolution holds the series by, counted before the family's index
/// lock is released.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Hold {
    /// A handle, which keeps the series from expiring.
    Handle,
    /// A thread's memory of per-call recording, which keeps an expired series' cells from
    /// being reused.
    Pin,
    /// Nothing: an internal resolution that keeps no reference.
    Nothing,
}

impl SeriesLife {
    /// The life of a series created now, held once by `hold`.
    pub(crate) fn new(hold: Hold, seen: Fingerprint, now: u64) -> Arc<Self> {
        let life = Arc::new(SeriesLife {
            handles: AtomicUsize::new(0),
            pins: AtomicUsize::new(0),
            seen: AtomicU64::new(seen),
            changed_at: AtomicU64::new(now),
        });
        life.hold(hold);
        life
    }

    /// Counts one more holder. Callers hold the family's index lock.
    pub(crate) fn hold(&self, hold: Hold) {
        match hold {
            Hold::Handle => self.handles.fetch_add(1, Ordering::Relaxed),
            Hold::Pin => self.pins.fetch_add(1, Ordering::Relaxed),
            Hold::Nothing => 0,
        };
    }

    /// Whether a handle is alive. Acquire pairs with the Release of a handle's drop, so
    /// that everything it recorded is visible to a caller that reads none.
    pub(crate) fn has_handles(&self) -> bool {
        self.handles.load(Ordering::Acquire) != 0
    }

    /// Whether a thread's memory of per-call recording may still write the cells; Acquire
    /// as in [`has_handles`](Self::has_handles).
    pub(crate) fn is_pinned(&self) -> bool {
        self.pins.load(Ordering::Acquire) != 0
    }

    /// Notes the value a visit saw at `now`; returns for how long (in nanoseconds) the
    /// value had not changed, or `None` if it differs from what the visit before saw.
    pub(crate) fn observe(&self, value: Fingerprint, now: u64) -> Option<u64> {
        if self.seen.swap(value, Ordering::Relaxed) != value {
            self.changed_at.store(now, Ordering::Relaxed);
            return None;
        }
        Some(now.saturating_sub(self.changed_at.load(Ordering::Relaxed)))
    }
}

/// A handle's count in its series' life, if the series can expire.
pub(crate) struct HeldByHandle(Option<Arc<SeriesLife>>);

impl HeldByHandle {
    /// Takes over a count made under the index lock ([`Hold::Handle`]).
    pub(crate) fn adopt(life: Option<Arc<SeriesLife>>) -> Self {
        HeldByHandle(life)
    }
}

impl Clone for HeldByHandle {
    fn clone(&self) -> Self {
        // A clone needs a live handle, so the count is not 0 and no expiry can be under
        // way: no lock is needed to count up.
        if let Some(life) = &self.0 {
            life.handles.fetch_add(1, Ordering::Relaxed);
        }
        HeldByHandle(self.0.clone())
    }
}

impl Drop for HeldByHandle {
    fn drop(&mut self) {
        if let Some(life) = &self.0 {
            // Release: what this handle recorded happens before an expiry that reads 0.
            life.handles.fetch_sub(1, Ordering::Release);
        }
    }
}

/// A per-thread memory's pin of an expiring series.
pub(crate) struct Pin(Option<Arc<SeriesLife>>);

impl Pin {
    /// Takes over a count made under the index lock ([`Hold::Pin`]).
    pub(crate) fn adopt(life: Option<Arc<SeriesLife>>) -> Self {
        Pin(life)
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        if let Some(life) = &self.0 {
            // Release: the records made through this memory happen before a reclaim
            // that reads 0.
            life.pins.fetch_sub(1, Ordering::Release);
        }
    }
}

/// A series removed from its family whose cells wait until nothing pins them.
pub(crate) struct Expired {
    pub(crate) range: SlotRange,
    pub(crate) life: Arc<SeriesLife>,
    /// Its slots' values at removal (floats as bits), against which records that raced
    /// the removal are found.
    pub(crate) values: Box<[u64]>,
    pub(crate) labels: Box<[Box<str>]>,
}
