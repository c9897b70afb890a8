//! A family whose series expire when idle gives their memory back: churning through a
//! million label values, it never fills up and the bytes allocated stop growing. (Its own
//! binary: the counting allocator counts the whole process.)

#[path = "common/live_bytes.rs"]
mod live_bytes;

use abacus::{Desc, Registry};
use live_bytes::live_bytes;

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
    let after_warm_up = live_bytes();
    for start in (30 * BATCH..1_000_000).step_by(BATCH) {
        most_seen = most_seen.max(batch(start));
    }
    let after_million = live_bytes();

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
