//! A client sending a million distinct label values must not grow memory without bound:
//! against a limit of 10,000 series, the family holds 10,000 series and the bytes
//! allocated stop growing once it is full.

#[path = "common/live_bytes.rs"]
mod live_bytes;

use abacus::{Desc, Registry};
use live_bytes::live_bytes;

#[test]
fn a_million_distinct_values_against_a_limit_of_ten_thousand_stay_bounded() {
    const LIMIT: usize = 10_000;
    let registry = Registry::new();
    let family = registry
        .counter(
            Desc::new("requests", "Requests.")
                .labels(["tenant"])
                .max_series(LIMIT),
        )
        .unwrap();
    let mut value = String::new();
    let mut resolve = |i: usize| {
        use std::fmt::Write;
        value.clear();
        write!(value, "tenant-{i:07}").unwrap();
        // Half by kept handle, half per call, as a proxy might do either.
        if i % 2 == 0 {
            family.with_labels(&[&value]).unwrap().inc();
        } else {
            family.inc(&[&value]).unwrap();
        }
    };
    // Fill the family, then well past it, so the per-thread memory of resolutions has
    // also started over a few times; measure there, and again after a million.
    for i in 0..3 * LIMIT {
        resolve(i);
    }
    let after_fill = live_bytes();
    for i in 3 * LIMIT..1_000_000 {
        resolve(i);
    }
    let after_million = live_bytes();

    let snapshot = registry.snapshot();
    let requests: Vec<_> = snapshot
        .families
        .iter()
        .filter(|f| f.name == "requests")
        .collect();
    assert_eq!(requests[0].series.len(), LIMIT);
    assert_eq!(
        requests[1].series(&["true"]),
        Some(&abacus::OwnedValue::Counter((1_000_000 - LIMIT) as u64))
    );
    // A full family costs its series (about 60 bytes each with a value of their own, see
    // docs/DESIGN.md) plus this thread's page directory and memory of resolutions: well
    // under 200 bytes per series in all.
    assert!(
        after_fill < (200 * LIMIT) as isize,
        "{after_fill} bytes for {LIMIT} series"
    );
    // 970,000 more resolutions may not keep memory: what they add is bounded by the
    // per-thread memory of resolutions (4,096 entries of a few dozen bytes) at most.
    let growth = after_million - after_fill;
    assert!(
        growth < 512 * 1024,
        "{growth} bytes more after a million values than after {} (of {after_fill} in all)",
        3 * LIMIT
    );
}
