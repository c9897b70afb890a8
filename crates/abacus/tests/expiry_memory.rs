//! A family whose series expire when idle gives their memory back: churning through a
//! million label values, it never fills up and the bytes allocated stop growing. (Its own
//! binary: the counting allocator counts the whole process.)

// A global allocator is unsafe to implement; this test binary needs one to count bytes.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use abacus::{Desc, Registry};

/// Bytes requested and not yet freed, over the whole process.
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so it
// upholds `GlobalAlloc`'s contract exactly as `System` does; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: the caller's layout is passed on as it came.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: `ptr` was allocated by `System` (through `alloc` above) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// With idle expiry, a family that churns through a million label values (a thousand at a
/// time, each batch idle by the next) never reaches its limit, and its memory stops
/// growing: removed series give back their record, their strings and their cells.
#[test]
fn a_million_values_churning_through_an_expiring_family_stay_bounded_and_never_overflow() {
    use abacus::{FamilyInfo, LabelValues, Value, VisitBuffers, Visitor};

    /// Counts the series a visit reports.
    struct CountSeries(usize);
    impl Visitor for CountSeries {
        fn family(&mut self, _: FamilyInfo<'_>) {}
        fn series(&mut self, _: &LabelValues, _: Value<'_>) {
            self.0 += 1;
        }
    }

    const BATCH: usize = 1_000;
    const LIMIT: usize = 10_000;
    let registry = Registry::builder()
        .idle_timeout(std::time::Duration::ZERO)
        .max_series_per_family(LIMIT)
        .build()
        .unwrap();
    let family = registry
        .counter(Desc::new("requests", "Requests.").labels(["tenant"]))
        .unwrap();
    let mut buffers = VisitBuffers::default();
    let mut value = String::new();
    let mut batch = |first: usize| {
        use std::fmt::Write;
        for i in first..first + BATCH {
            value.clear();
            write!(value, "tenant-{i:07}").unwrap();
            if i % 2 == 0 {
                family.with_labels(&[&value]).unwrap().inc();
            } else {
                family.inc(&[&value]).unwrap();
            }
        }
        // The first visit sees the batch appear, the second removes it.
        let mut first_visit = CountSeries(0);
        registry.visit_with(&mut buffers, &mut first_visit);
        registry.visit_with(&mut buffers, &mut CountSeries(0));
        first_visit.0
    };
    let mut most_seen = 0;
    for start in (0..30 * BATCH).step_by(BATCH) {
        most_seen = most_seen.max(batch(start));
    }
    let after_warm_up = LIVE_BYTES.load(Relaxed);
    for start in (30 * BATCH..1_000_000).step_by(BATCH) {
        most_seen = most_seen.max(batch(start));
    }
    let after_million = LIVE_BYTES.load(Relaxed);

    // Each visit saw one batch and the registry's count of expired series, never more.
    assert!(most_seen <= BATCH + 1, "{most_seen} series in one visit");
    let snapshot = registry.snapshot();
    assert_eq!(snapshot.family("abacus_series_overflow"), None);
    assert_eq!(
        snapshot
            .family("abacus_series_expired")
            .and_then(|f| f.series(&["requests"])),
        Some(&abacus::OwnedValue::Counter(1_000_000))
    );
    // What a million values add beyond the first 30,000 is bounded by the per-thread
    // memory of per-call resolutions, which holds up to 4,096 expired series' cells until
    // it starts over.
    let growth = after_million - after_warm_up;
    assert!(
        growth < 512 * 1024,
        "{growth} bytes more after a million values than after {} (of {after_warm_up} in all)",
        30 * BATCH
    );
}
