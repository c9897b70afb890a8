//! Adversarial tests of idle expiry: races between scrapes, recorders and handles, and
//! the accounting that says nothing recorded is lost or counted twice.

use std::sync::mpsc;
use std::time::Duration;

use abacus::{Buckets, Desc, Error, FamilyInfo, LabelValues, OwnedValue, Registry, Value, Visitor};

fn expiring(idle: Duration) -> Registry {
    Registry::builder().idle_timeout(idle).build().unwrap()
}

fn counter_value(registry: &Registry, family: &str, labels: &[&str]) -> Option<u64> {
    match registry.snapshot().family(family)?.series(labels)? {
        OwnedValue::Counter(n) => Some(*n),
        other => panic!("{other:?}"),
    }
}

/// A visitor that records every counter value it sees for one family and label tuple,
/// and runs `hook` on the first time it sees it.
struct Watch<'a, F: FnMut()> {
    family: &'a str,
    labels: &'a [&'a str],
    in_family: bool,
    seen: Vec<u64>,
    hook: Option<F>,
}

impl<'a, F: FnMut()> Watch<'a, F> {
    fn new(family: &'a str, labels: &'a [&'a str], hook: F) -> Self {
        Watch {
            family,
            labels,
            in_family: false,
            seen: Vec::new(),
            hook: Some(hook),
        }
    }
}

impl<F: FnMut()> Visitor for Watch<'_, F> {
    fn family(&mut self, family: FamilyInfo<'_>) {
        self.in_family = family.name == self.family;
    }

    fn series(&mut self, labels: &LabelValues, value: Value<'_>) {
        if !self.in_family || !labels.iter().eq(self.labels.iter().copied()) {
            return;
        }
        if let Value::Counter(n) = value {
            self.seen.push(n);
        }
        if let Some(mut hook) = self.hook.take() {
            hook();
        }
    }
}

/// Two scrapers visit at the same time. B reads the series, then a record lands, then B
/// sweeps; A, which read the series before the record too, sweeps after B. A sweep that
/// judged idleness by what it read itself (rather than what its visit reported) let B note
/// the unreported value and A remove the series with it: the record was never reported
/// and never carried over.
#[test]
fn a_record_made_between_a_concurrent_scrapes_read_and_sweep_is_not_lost_to_the_other(
) -> Result<(), Error> {
    concurrent_scrapes_keep_a_record(Duration::ZERO)
}

/// The same with a timeout: scraper A's visit (a slow client reading its exposition)
/// outlasts the timeout after B's sweep noted the change.
#[test]
fn a_record_made_between_a_concurrent_scrapes_read_and_sweep_is_not_lost_to_a_slow_scrape(
) -> Result<(), Error> {
    concurrent_scrapes_keep_a_record(Duration::from_millis(30))
}

fn concurrent_scrapes_keep_a_record(idle: Duration) -> Result<(), Error> {
    let registry = expiring(idle);
    let requests = registry.counter(Desc::new("requests", "R.").labels(["tenant"]))?;
    requests.inc(&["a"])?;
    std::thread::sleep(idle * 2);
    // One visit notes the value 1 as a change (and reports it).
    assert_eq!(counter_value(&registry, "requests", &["a"]), Some(1));

    let mut reported = Vec::new();
    std::thread::scope(|scope| {
        let (go, wait_go) = mpsc::channel::<()>();
        let (done, wait_done) = mpsc::channel::<Vec<u64>>();
        let (registry_b, requests_b) = (&registry, &requests);
        scope.spawn(move || {
            wait_go.recv().unwrap();
            // Scraper B: reads "a" at 1, then (standing for a recording thread that
            // records between B's read and B's sweep) one more record lands.
            let mut watch = Watch::new("requests", &["a"], || {
                requests_b.inc(&["a"]).unwrap();
            });
            registry_b.visit(&mut watch);
            done.send(watch.seen).unwrap();
        });
        // Scraper A: reads "a" at 1; while its exposition is still being written, B
        // visits from start to end.
        let mut from_b = Vec::new();
        let mut watch = Watch::new("requests", &["a"], || {
            go.send(()).unwrap();
            from_b = wait_done.recv().unwrap();
            std::thread::sleep(idle * 2);
        });
        registry.visit(&mut watch);
        reported.extend(watch.seen);
        reported.extend(from_b);
    });
    // Later scrapes: the record must show up in one of them (carried over or not
    // removed), since no scrape so far reported it.
    for _ in 0..5 {
        if let Some(n) = counter_value(&registry, "requests", &["a"]) {
            reported.push(n);
        }
    }
    assert_eq!(
        reported.iter().max(),
        Some(&2),
        "reports of \"a\": {reported:?}"
    );
    Ok(())
}

/// What one scraper learns of a family with a single label tuple: the value of each
/// series of it that was removed (the value reported by the visit whose count of expired
/// series moved by one: a visit removes what it has just reported, and counts it), and
/// the value of the one present now.
#[derive(Default, Clone, Debug)]
struct Accounting {
    dropped: (u64, f64),
    last: (u64, f64),
    expired: u64,
}

impl Accounting {
    /// `current` is (count, sum) of the family's one tuple in this visit, (0, 0) if absent.
    fn visit(&mut self, current: (u64, f64), expired: u64) {
        assert!(
            expired <= self.expired + 1,
            "{expired} after {}",
            self.expired
        );
        let removed = expired == self.expired + 1;
        if removed {
            self.dropped.0 += current.0;
            self.dropped.1 += current.1;
        }
        // What is left live: nothing, if this visit removed it.
        self.last = if removed { (0, 0.0) } else { current };
        self.expired = expired;
    }

    fn total(&self) -> (u64, f64) {
        (self.dropped.0 + self.last.0, self.dropped.1 + self.last.1)
    }
}

fn expired_of(snapshot: &abacus::Snapshot, family: &str) -> u64 {
    match snapshot
        .family("abacus_series_expired")
        .and_then(|f| f.series(&[family]))
    {
        Some(OwnedValue::Counter(n)) => *n,
        None => 0,
        other => panic!("{other:?}"),
    }
}

/// Checks a histogram value's own consistency and returns (count, sum).
fn histogram_parts(value: &OwnedValue, bounds: &[f64]) -> (u64, f64) {
    let OwnedValue::Histogram { cumulative, sum } = value else {
        panic!("{value:?}")
    };
    assert_eq!(cumulative.len(), bounds.len() + 1, "{value:?}");
    assert!(cumulative.windows(2).all(|w| w[0] <= w[1]), "{value:?}");
    (*cumulative.last().unwrap(), *sum)
}

const FAMILIES: usize = 8;
const BOUNDS: [f64; 3] = [1.0, 2.0, 3.0];

/// Several threads record per call (and some through short-lived handles, some from
/// short-lived threads, one churning through more tuples than a thread remembers) into
/// eight counter and eight histogram families of one tuple each, while one scraper
/// visits as fast as it can with a timeout of zero. For each family, the values of the
/// removed series plus the final value must add up to exactly what was recorded; the
/// histograms' counts must equal their +Inf buckets, and their (integer, so exact) sums
/// must add up too.
#[test]
fn records_from_many_threads_into_many_families_racing_expiry_are_neither_lost_nor_counted_twice(
) -> Result<(), Error> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let registry = expiring(Duration::ZERO);
    let names: Vec<String> = (0..FAMILIES).map(|i| format!("c{i}")).collect();
    let hnames: Vec<String> = (0..FAMILIES).map(|i| format!("h{i}")).collect();
    let counters = names
        .iter()
        .map(|n| registry.counter(Desc::new(n.as_str(), "C.").labels(["k"])))
        .collect::<Result<Vec<_>, _>>()?;
    let histograms = hnames
        .iter()
        .map(|n| {
            registry.histogram(
                Desc::new(n.as_str(), "H.").labels(["k"]),
                Buckets::new(BOUNDS).unwrap(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let churn = registry.counter(Desc::new("churn", "Ch.").labels(["k"]))?;
    // What was recorded, per family: the recorders count it themselves.
    let recorded: Vec<AtomicU64> = (0..FAMILIES).map(|_| AtomicU64::new(0)).collect();
    let observed: Vec<AtomicU64> = (0..FAMILIES).map(|_| AtomicU64::new(0)).collect();
    let observed_sum: Vec<AtomicU64> = (0..FAMILIES).map(|_| AtomicU64::new(0)).collect();
    let done = AtomicBool::new(false);
    const ROUNDS: u64 = 1_000;

    // Recording goes on in phases common to all threads, so that every series is idle
    // between them long enough to expire and records race its removal at their edges.
    let start = std::time::Instant::now();
    let one_round = |thread: u64, round: u64| {
        while (start.elapsed().as_micros() / 700) % 3 != 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
        for i in 0..FAMILIES {
            let n = 1 + (thread + round + i as u64) % 3;
            if (round + thread) % 5 == 0 {
                let handle = counters[i].with_labels(&["x"]).unwrap();
                handle.add(n);
                let clone = handle.clone();
                drop(handle);
                clone.inc();
                recorded[i].fetch_add(n + 1, Ordering::Relaxed);
            } else {
                counters[i].add(&["x"], n).unwrap();
                recorded[i].fetch_add(n, Ordering::Relaxed);
            }
            // Integer observations, one per bucket and +Inf.
            let v = ((thread + round) % 5) as f64;
            histograms[i].observe(&["x"], v).unwrap();
            observed[i].fetch_add(1, Ordering::Relaxed);
            observed_sum[i].fetch_add(v as u64, Ordering::Relaxed);
        }
    };

    let accounts = std::thread::scope(|scope| {
        let mut recorders = Vec::new();
        for thread in 0..3u64 {
            let one_round = &one_round;
            recorders.push(scope.spawn(move || {
                for round in 0..ROUNDS {
                    one_round(thread, round);
                }
            }));
        }
        // Short-lived threads: each exits while its memory pins what it recorded.
        let one_round_ref = &one_round;
        recorders.push(scope.spawn(move || {
            for round in 0..ROUNDS / 4 {
                std::thread::scope(|inner| {
                    inner.spawn(move || one_round_ref(7, round));
                });
            }
        }));
        // A thread that records into more tuples than it remembers, so that its memory
        // starts over, between records into the accounted families.
        let one_round_ref = &one_round;
        let churn = &churn;
        recorders.push(scope.spawn(move || {
            for round in 0..ROUNDS / 4 {
                for t in 0..300 {
                    churn.inc(&[&format!("{round}-{t}")]).unwrap();
                }
                one_round_ref(9, round);
            }
        }));
        let mut accounts = vec![Accounting::default(); 2 * FAMILIES];
        let visit = |accounts: &mut Vec<Accounting>| {
            let snapshot = registry.snapshot();
            for i in 0..FAMILIES {
                let current = snapshot
                    .family(&names[i])
                    .and_then(|f| f.series(&["x"]))
                    .map_or((0, 0.0), |v| match v {
                        OwnedValue::Counter(n) => (*n, 0.0),
                        other => panic!("{other:?}"),
                    });
                accounts[i].visit(current, expired_of(&snapshot, &names[i]));
                let current = snapshot
                    .family(&hnames[i])
                    .and_then(|f| f.series(&["x"]))
                    .map_or((0, 0.0), |v| histogram_parts(v, &BOUNDS));
                accounts[FAMILIES + i].visit(current, expired_of(&snapshot, &hnames[i]));
            }
        };
        let waiter = scope.spawn(|| {
            for r in recorders {
                r.join().unwrap();
            }
            done.store(true, Ordering::Release);
        });
        while !done.load(Ordering::Acquire) {
            visit(&mut accounts);
        }
        waiter.join().unwrap();
        // Every recorder has exited, so nothing pins anything: a few visits reclaim and
        // carry over what raced the last removals.
        for _ in 0..10 {
            visit(&mut accounts);
        }
        accounts
    });
    let mut any_expired = false;
    for i in 0..FAMILIES {
        let c = &accounts[i];
        any_expired |= c.expired > 0;
        assert_eq!(
            c.total().0,
            recorded[i].load(Ordering::Relaxed),
            "counter {i}: {c:?}"
        );
        let h = &accounts[FAMILIES + i];
        assert_eq!(
            h.total(),
            (
                observed[i].load(Ordering::Relaxed),
                observed_sum[i].load(Ordering::Relaxed) as f64
            ),
            "histogram {i}: {h:?}"
        );
    }
    assert!(any_expired);
    Ok(())
}

/// A recorder whose memory pins an expiring histogram may still write it while a sweep
/// reads it. A sweep that took the removed value from its own read of the slots, one
/// after another (the buckets, then the sum), could catch an observation in the sum but
/// not in the count: the series was removed, the late count carried over at reclaim, and
/// the sum lost. Removal now takes the values the visit reported, so whatever came after
/// is late in every slot. Every observation is 1, so the sums must add up to the counts.
/// One recorder is enough: no preemption is needed.
#[test]
fn a_histogram_observation_landing_while_a_sweep_reads_the_series_keeps_its_sum_across_expiry(
) -> Result<(), Error> {
    // The window is a sweep's read of one series: a few runs make hitting it likely.
    for _ in 0..4 {
        histogram_sum_across_expiry()?;
    }
    Ok(())
}

fn histogram_sum_across_expiry() -> Result<(), Error> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let registry = expiring(Duration::ZERO);
    let latency = registry.histogram(
        Desc::new("latency", "L.").labels(["route"]),
        Buckets::new([0.5, 2.0])?,
    )?;
    let done = AtomicBool::new(false);
    let observed = AtomicU64::new(0);
    let start = std::time::Instant::now();
    let account = std::thread::scope(|scope| {
        let recorders: Vec<_> = (0..1)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..1_500 {
                        // Phases common to all threads: idle gaps let the series expire.
                        while (start.elapsed().as_micros() / 500) % 2 != 0 {
                            std::thread::sleep(Duration::from_micros(50));
                        }
                        for _ in 0..4 {
                            latency.observe(&["r"], 1.0).unwrap();
                            observed.fetch_add(1, Ordering::Relaxed);
                        }
                        std::thread::sleep(Duration::from_micros(20));
                    }
                })
            })
            .collect();
        scope.spawn(|| {
            for r in recorders {
                r.join().unwrap();
            }
            done.store(true, Ordering::Release);
        });
        let mut account = Accounting::default();
        let visit = |account: &mut Accounting| {
            let snapshot = registry.snapshot();
            let current = snapshot
                .family("latency")
                .and_then(|f| f.series(&["r"]))
                .map_or((0, 0.0), |v| histogram_parts(v, &[0.5, 2.0]));
            account.visit(current, expired_of(&snapshot, "latency"));
        };
        while !done.load(Ordering::Acquire) {
            visit(&mut account);
        }
        for _ in 0..10 {
            visit(&mut account);
        }
        account
    });
    let observed = observed.load(Ordering::Relaxed);
    assert!(account.expired > 0);
    assert_eq!(account.total(), (observed, observed as f64), "{account:?}");
    Ok(())
}

/// The series limit and expiry together: a tuple recorded per call while the family is
/// full goes to the overflow series; once the other series expire it gets its own, and
/// the overflow series keeps only what it held.
#[test]
fn a_tuple_recorded_into_the_overflow_series_gets_its_own_once_others_expire() -> Result<(), Error>
{
    let registry = Registry::builder()
        .idle_timeout(Duration::ZERO)
        .max_series_per_family(2)
        .build()?;
    let requests = registry.counter(Desc::new("requests", "R.").labels(["k"]))?;
    // The overflow series comes as a family of the same name with its own label name.
    let overflow = |registry: &Registry| {
        let snapshot = registry.snapshot();
        snapshot
            .families
            .iter()
            .filter(|f| f.name == "requests" && f.label_names == ["abacus_overflow"])
            .find_map(|f| f.series(&["true"]))
            .map_or(0, |v| match v {
                OwnedValue::Counter(n) => *n,
                other => panic!("{other:?}"),
            })
    };
    requests.inc(&["a"])?;
    requests.inc(&["b"])?;
    requests.add(&["c"], 5)?;
    assert_eq!(overflow(&registry), 5);
    registry.snapshot();
    registry.snapshot();
    assert_eq!(counter_value(&registry, "requests", &["a"]), None);
    // "a" and "b" expired: "c" now gets its own series, through this thread's memory
    // that remembered it in the overflow series.
    requests.add(&["c"], 7)?;
    assert_eq!(counter_value(&registry, "requests", &["c"]), Some(7));
    assert_eq!(overflow(&registry), 5);
    Ok(())
}
