//! Idle expiry: a series nobody records into and nobody holds a handle of disappears from
//! the next snapshot once it has been idle for the family's timeout; a held handle keeps
//! its series alive and correct.
//!
//! Most tests use a timeout of zero: a series then expires at the first visit that finds
//! it unchanged since the visit before, which makes them independent of the clock.

use std::time::Duration;

use abacus::{Buckets, Desc, Error, OwnedValue, Registry};

fn expiring(idle: Duration) -> Registry {
    Registry::builder().idle_timeout(idle).build().unwrap()
}

/// The label values of the series of `family`, in snapshot order.
fn labels(registry: &Registry, family: &str) -> Vec<Vec<String>> {
    registry
        .snapshot()
        .family(family)
        .map(|f| f.series.iter().map(|s| s.labels.clone()).collect())
        .unwrap_or_default()
}

fn value(registry: &Registry, family: &str, labels: &[&str]) -> Option<OwnedValue> {
    registry.snapshot().family(family)?.series(labels).cloned()
}

/// How many series of `family` have expired, as of a visit that removes those that are
/// idle now: the registry's count includes the visit's own removals.
fn expired_count(registry: &Registry, family: &str) -> u64 {
    match value(registry, "abacus_series_expired", &[family]) {
        Some(OwnedValue::Counter(n)) => n,
        None => 0,
        other => panic!("{other:?}"),
    }
}

/// One visit: the value of one series and the count of expired series of its family.
fn visit(registry: &Registry, family: &str, labels: &[&str]) -> (Option<OwnedValue>, u64) {
    let snapshot = registry.snapshot();
    let value = snapshot
        .family(family)
        .and_then(|f| f.series(labels))
        .cloned();
    let expired = match snapshot
        .family("abacus_series_expired")
        .and_then(|f| f.series(&[family]))
    {
        Some(OwnedValue::Counter(n)) => *n,
        None => 0,
        other => panic!("{other:?}"),
    };
    (value, expired)
}

#[test]
fn an_idle_series_without_handles_is_gone_after_two_visits_that_see_it_unchanged(
) -> Result<(), Error> {
    let registry = expiring(Duration::ZERO);
    let requests = registry.counter(Desc::new("requests", "R.").labels(["tenant"]))?;
    requests.with_labels(&["idle"])?.add(3);
    let busy = requests.with_labels(&["busy"])?;
    drop(requests.with_labels(&["busy"])?);

    // The first visit sees "idle" at 3 for the first time: that is a change.
    assert_eq!(
        value(&registry, "requests", &["idle"]),
        Some(OwnedValue::Counter(3))
    );
    // The second sees it unchanged and reports it once more, then expires it.
    assert_eq!(
        value(&registry, "requests", &["idle"]),
        Some(OwnedValue::Counter(3))
    );
    assert_eq!(labels(&registry, "requests"), [["busy"]]);
    // "busy" has a live handle, so it stays however idle it is.
    for _ in 0..3 {
        assert_eq!(labels(&registry, "requests"), [["busy"]]);
    }
    busy.inc();
    assert_eq!(
        value(&registry, "requests", &["busy"]),
        Some(OwnedValue::Counter(1))
    );
    assert_eq!(expired_count(&registry, "requests"), 1);
    Ok(())
}

#[test]
fn a_series_recorded_between_visits_is_kept() -> Result<(), Error> {
    let registry = expiring(Duration::ZERO);
    let requests = registry.counter(Desc::new("requests", "R.").labels(["tenant"]))?;
    for round in 1..=5u64 {
        requests.inc(&["a"])?;
        assert_eq!(
            visit(&registry, "requests", &["a"]),
            (Some(OwnedValue::Counter(round)), 0)
        );
    }
    Ok(())
}

#[test]
fn a_series_is_not_expired_before_its_timeout() -> Result<(), Error> {
    // Far longer than this test runs.
    let registry = expiring(Duration::from_secs(3600));
    let requests = registry.counter(Desc::new("requests", "R.").labels(["tenant"]))?;
    requests.with_labels(&["a"])?.inc();
    for _ in 0..5 {
        assert_eq!(labels(&registry, "requests"), [["a"]]);
    }
    Ok(())
}

#[test]
fn a_series_is_expired_once_its_timeout_has_passed() -> Result<(), Error> {
    let registry = expiring(Duration::from_millis(50));
    let requests = registry.counter(Desc::new("requests", "R.").labels(["tenant"]))?;
    requests.with_labels(&["a"])?.inc();
    assert_eq!(labels(&registry, "requests"), [["a"]]);
    std::thread::sleep(Duration::from_millis(120));
    // This visit finds it unchanged for longer than the timeout and expires it.
    assert_eq!(labels(&registry, "requests"), [["a"]]);
    assert!(labels(&registry, "requests").is_empty());
    Ok(())
}

#[test]
fn handles_clones_and_thread_bound_handles_keep_their_series() -> Result<(), Error> {
    let registry = expiring(Duration::ZERO);
    let requests = registry.counter(Desc::new("requests", "R.").labels(["tenant"]))?;
    let original = requests.with_labels(&["a"])?;
    original.add(2);
    let clone = original.clone();
    drop(original);
    let local = requests.with_labels(&["b"])?.local();
    local.add(5);
    for _ in 0..3 {
        assert_eq!(labels(&registry, "requests"), [["a"], ["b"]]);
    }
    clone.inc();
    local.inc();
    assert_eq!(
        value(&registry, "requests", &["a"]),
        Some(OwnedValue::Counter(3))
    );
    assert_eq!(
        value(&registry, "requests", &["b"]),
        Some(OwnedValue::Counter(6))
    );
    drop(clone);
    drop(local);
    registry.snapshot();
    registry.snapshot();
    assert!(labels(&registry, "requests").is_empty());
    Ok(())
}

#[test]
fn a_series_recorded_per_call_expires_and_starts_again_from_zero() -> Result<(), Error> {
    let registry = expiring(Duration::ZERO);
    let requests = registry.counter(Desc::new("requests", "R.").labels(["tenant"]))?;
    requests.add(&["a"], 4)?;
    // This thread remembers where "a" is, but that is no handle: it expires.
    registry.snapshot();
    registry.snapshot();
    assert!(labels(&registry, "requests").is_empty());
    requests.inc(&["a"])?;
    assert_eq!(
        value(&registry, "requests", &["a"]),
        Some(OwnedValue::Counter(1))
    );
    // And again, now through both ways a thread remembers values: by address and by text.
    registry.snapshot();
    assert!(labels(&registry, "requests").is_empty());
    let owned = String::from("a");
    requests.add(&[owned.as_str()], 7)?;
    assert_eq!(
        visit(&registry, "requests", &["a"]),
        (Some(OwnedValue::Counter(7)), 2)
    );
    Ok(())
}

#[test]
fn new_series_reuse_expired_cells_starting_from_zero() -> Result<(), Error> {
    let registry = expiring(Duration::ZERO);
    let latency = registry.histogram(
        Desc::new("latency", "L.").labels(["route"]),
        Buckets::new([1.0, 2.0])?,
    )?;
    let requests = registry.counter(Desc::new("requests", "R.").labels(["route"]))?;
    for round in 0..20 {
        let route = format!("route-{round}");
        latency.with_labels(&[&route])?.observe(1.5);
        requests.add(&[&route], 10)?;
        // Every earlier route has expired; this one is new, in cells an expired series
        // had, and holds only what was recorded into it.
        assert_eq!(
            value(&registry, "latency", &[&route]),
            Some(OwnedValue::Histogram {
                cumulative: vec![0, 1, 1],
                sum: 1.5
            })
        );
        assert_eq!(
            value(&registry, "requests", &[&route]),
            Some(OwnedValue::Counter(10))
        );
        registry.snapshot();
        assert_eq!(labels(&registry, "latency"), Vec::<Vec<String>>::new());
    }
    assert_eq!(expired_count(&registry, "latency"), 20);
    Ok(())
}

#[test]
fn gauges_expire_once_their_handles_are_gone() -> Result<(), Error> {
    let registry = expiring(Duration::ZERO);
    let queue = registry.gauge(Desc::new("queue", "Q.").labels(["worker"]))?;
    let held = queue.with_labels(&["a"])?;
    held.set(5);
    queue.with_labels(&["b"])?.set(-2);
    registry.snapshot();
    registry.snapshot();
    assert_eq!(labels(&registry, "queue"), [["a"]]);
    drop(held);
    registry.snapshot();
    assert!(labels(&registry, "queue").is_empty());
    // A new series starts at zero, not at the value of the gauge whose word it reuses.
    assert_eq!(queue.with_labels(&["c"])?.value(), 0);
    Ok(())
}

#[test]
fn expiry_is_set_per_registry_or_per_family_and_spares_families_without_labels() -> Result<(), Error>
{
    let registry = Registry::new();
    let kept = registry.counter(Desc::new("kept", "K.").labels(["l"]))?;
    let expiring = registry.counter(
        Desc::new("expiring", "E.")
            .labels(["l"])
            .idle_timeout(Duration::ZERO),
    )?;
    let unlabelled = registry.counter(Desc::new("single", "S.").idle_timeout(Duration::ZERO))?;
    kept.inc(&["x"])?;
    expiring.inc(&["x"])?;
    for _ in 0..3 {
        registry.snapshot();
    }
    assert_eq!(labels(&registry, "kept"), [["x"]]);
    assert!(labels(&registry, "expiring").is_empty());
    assert_eq!(
        value(&registry, "single", &[]),
        Some(OwnedValue::Counter(0))
    );
    drop(unlabelled);

    // A family's own setting wins over the registry's.
    let registry = expiring_registry_with_a_family_that_keeps()?;
    assert_eq!(labels(&registry, "kept"), [["x"]]);
    Ok(())
}

fn expiring_registry_with_a_family_that_keeps() -> Result<Registry, Error> {
    let registry = expiring(Duration::ZERO);
    let kept = registry.counter(
        Desc::new("kept", "K.")
            .labels(["l"])
            .idle_timeout(Duration::from_secs(3600)),
    )?;
    kept.inc(&["x"])?;
    for _ in 0..3 {
        registry.snapshot();
    }
    Ok(registry)
}

#[test]
fn expired_series_make_room_under_the_series_limit() -> Result<(), Error> {
    let registry = Registry::builder()
        .idle_timeout(Duration::ZERO)
        .max_series_per_family(10)
        .build()?;
    let requests = registry.counter(Desc::new("requests", "R.").labels(["tenant"]))?;
    for round in 0..50 {
        for tenant in 0..10 {
            requests.inc(&[&format!("{round}-{tenant}")])?;
        }
        registry.snapshot();
        registry.snapshot();
    }
    // Ten at a time, never more than the limit: nothing overflowed.
    assert_eq!(
        value(&registry, "abacus_series_overflow", &["requests"]),
        None
    );
    assert_eq!(expired_count(&registry, "requests"), 500);
    Ok(())
}

/// A thread records per call into one series in bursts while another visits as fast as it
/// can, so that the series expires between bursts and records race its removal. Every
/// visit reports the series' value, and the registry's count of expired series says when
/// a visit removed it: the values it had when removed plus its final value add up to
/// exactly what was recorded, so no record was lost to an expiry or counted twice.
#[test]
fn records_racing_expiry_are_neither_lost_nor_counted_twice() -> Result<(), Error> {
    use std::sync::atomic::{AtomicBool, Ordering};

    let registry = expiring(Duration::ZERO);
    let requests = registry.counter(Desc::new("requests", "R.").labels(["tenant"]))?;
    let done = AtomicBool::new(false);
    const BURSTS: u64 = 2_000;
    const PER_BURST: u64 = 50;
    let (dropped, final_value) = std::thread::scope(|scope| {
        let recorder = scope.spawn(|| {
            for burst in 0..BURSTS {
                for _ in 0..PER_BURST {
                    requests.inc(&["a"]).unwrap();
                }
                if burst % 4 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            done.store(true, Ordering::Release);
        });
        // (value, expired count) of the last visit.
        let mut dropped = 0;
        let mut last = (0, 0);
        let mut visit = || {
            let snapshot = registry.snapshot();
            let current = snapshot
                .family("requests")
                .and_then(|f| f.series(&["a"]))
                .map_or(0, |v| match v {
                    OwnedValue::Counter(n) => *n,
                    other => panic!("{other:?}"),
                });
            let expired = match snapshot
                .family("abacus_series_expired")
                .and_then(|f| f.series(&["requests"]))
            {
                Some(OwnedValue::Counter(n)) => *n,
                _ => 0,
            };
            // A visit removes a series after reporting it, and its count of expired
            // series includes that removal: one more means the series was removed with
            // the value this visit reported.
            assert!(expired <= last.1 + 1, "{expired} after {}", last.1);
            let removed = expired == last.1 + 1;
            if removed {
                dropped += current;
            }
            // What is left live: nothing, if this visit removed it.
            last = (if removed { 0 } else { current }, expired);
        };
        while !done.load(Ordering::Acquire) {
            visit();
        }
        recorder.join().unwrap();
        // Until every expired series has been reclaimed and what raced its removal
        // carried over: the memory of the exited recorder let go when it exited.
        for _ in 0..10 {
            visit();
        }
        (dropped, last.0)
    });
    assert_eq!(dropped + final_value, BURSTS * PER_BURST);
    assert!(expired_count(&registry, "requests") > 0);
    Ok(())
}
