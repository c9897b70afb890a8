//! Recording under a scraper that never rests: two threads make 10 million operations
//! each on counters, gauges and a histogram, and a relay of short-lived threads makes two
//! million more and exits one after another, while a scraper renders the registry about
//! every millisecond and parses what it rendered.
//!
//! Every scrape must be a possible state of the registry: counters and histogram series
//! never go down from one scrape to the next, each histogram is cumulative with `_count`
//! equal to its `+Inf` bucket, the gauges stay within what the operations allow. After
//! the threads are joined, every value is the exact total of the operations, computed
//! from the schedule below without the library.
//!
//! The assertions do not depend on timing: how the scrapes interleave with the recording
//! changes from run to run, what must hold of each scrape does not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use abacus::{Buckets, Counter, Desc, Family, FloatGauge, Gauge, Histogram, Registry};
use abacus_prometheus::parse::{parse_exposition, Exposition, Sample};
use abacus_prometheus::TextEncoder;

/// Operations of each of the two long-lived recording threads.
const LONG_OPS: u64 = 10_000_000;
const LONG_THREADS: u64 = 2;
/// The relay: threads started one after another, each exiting after its operations, so
/// that their cells are folded while scrapes run.
const SHORT_THREADS: u64 = 8;
const SHORT_OPS: u64 = 250_000;

const BOUNDS: [f64; 6] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0];
/// Observations below, on and between the bounds and above the last: every bucket gets
/// some. Multiples of 1/8, so that every partial sum is exact in an `f64`.
const OBSERVED: [f64; 13] = [
    0.125, 0.25, 0.375, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0,
];
const ROUTES: [&str; 3] = ["/a", "/b", "/c"];
/// What one "up" and one "down" operation do to the gauge: each pair nets +1.
const UP: i64 = 3;
const DOWN: i64 = 2;

/// One operation of the schedule.
#[derive(Clone, Copy)]
enum Op {
    /// `ops_total`, through a kept handle.
    Inc,
    /// `route_requests_total{route}`, by label value on every call.
    IncRoute(usize),
    GaugeUp,
    GaugeDown,
    /// `ratio`, set to a value that names the thread.
    SetRatio(f64),
    Observe(f64),
}

/// Operation `i` of thread `thread`: blocks of eight, two counter increments, one
/// labelled increment, a gauge pair (up first, so no thread's share is ever negative),
/// one float gauge set and two observations.
fn op(thread: u64, i: u64) -> Op {
    let block = i / 8;
    match i % 8 {
        0 | 1 => Op::Inc,
        2 => Op::IncRoute((block % ROUTES.len() as u64) as usize),
        3 => Op::GaugeUp,
        4 => Op::GaugeDown,
        5 => Op::SetRatio(ratio(thread, block)),
        slot => {
            let k = (2 * block + slot - 6) % OBSERVED.len() as u64;
            Op::Observe(OBSERVED[k as usize])
        }
    }
}

/// The float gauge value of `thread` at `block`: the thread in the millions, whole
/// numbers only, so a scrape can tell which thread set it.
fn ratio(thread: u64, block: u64) -> f64 {
    (thread * 1_000_000 + block % 1_000) as f64
}

/// Whether `value` is one the float gauge can hold: its initial 0, or one some thread sets.
fn is_possible_ratio(value: f64) -> bool {
    let threads = LONG_THREADS + SHORT_THREADS;
    value == 0.0
        || (value.fract() == 0.0
            && value >= 0.0
            && ((value as u64) / 1_000_000) < threads
            && (value as u64) % 1_000_000 < 1_000)
}

/// How many operations thread `thread` makes.
fn ops_of(thread: u64) -> u64 {
    if thread < LONG_THREADS {
        LONG_OPS
    } else {
        SHORT_OPS
    }
}

/// The handles every recording thread clones.
#[derive(Clone)]
struct Handles {
    ops: Counter,
    routes: Family<Counter>,
    in_flight: Gauge,
    ratio: FloatGauge,
    latency: Histogram,
}

impl Handles {
    fn register(registry: &Registry) -> Result<Self, abacus::Error> {
        Ok(Handles {
            ops: registry
                .counter(Desc::new("ops_total", "Operations."))?
                .without_labels()?,
            routes: registry.counter(
                Desc::new("route_requests_total", "Requests by route.").labels(["route"]),
            )?,
            in_flight: registry
                .gauge(Desc::new("in_flight", "Up minus down."))?
                .without_labels()?,
            ratio: registry
                .float_gauge(Desc::new("ratio", "Set by every thread."))?
                .without_labels()?,
            latency: registry
                .histogram(
                    Desc::new("latency_seconds", "Observations."),
                    Buckets::new(BOUNDS)?,
                )?
                .without_labels()?,
        })
    }

    fn run(&self, thread: u64) {
        for i in 0..ops_of(thread) {
            match op(thread, i) {
                Op::Inc => self.ops.inc(),
                Op::IncRoute(route) => self
                    .routes
                    .inc(&[ROUTES[route]])
                    .expect("a valid label value"),
                Op::GaugeUp => self.in_flight.add(UP),
                Op::GaugeDown => self.in_flight.sub(DOWN),
                Op::SetRatio(value) => self.ratio.set(value),
                Op::Observe(value) => self.latency.observe(value),
            }
        }
    }
}

/// The totals the schedule adds up to, counted with plain integers and floats.
#[derive(Debug, Default)]
struct Totals {
    ops: u64,
    routes: [u64; 3],
    in_flight: i64,
    /// The highest the gauge can read at any moment: every thread's pairs so far, and
    /// at most one "up" of each thread without its "down".
    in_flight_ceiling: i64,
    /// The last value each thread sets the float gauge to.
    last_ratios: Vec<f64>,
    /// Observations at or below each bound, then in all (the `+Inf` bucket).
    cumulative: [u64; 7],
    sum: f64,
}

fn expected_totals() -> Totals {
    let mut totals = Totals::default();
    for thread in 0..LONG_THREADS + SHORT_THREADS {
        let mut last_ratio = None;
        for i in 0..ops_of(thread) {
            match op(thread, i) {
                Op::Inc => totals.ops += 1,
                Op::IncRoute(route) => totals.routes[route] += 1,
                Op::GaugeUp => totals.in_flight += UP,
                Op::GaugeDown => totals.in_flight -= DOWN,
                Op::SetRatio(value) => last_ratio = Some(value),
                Op::Observe(value) => {
                    for (bound, count) in BOUNDS.iter().zip(&mut totals.cumulative) {
                        // `le` is inclusive.
                        if value <= *bound {
                            *count += 1;
                        }
                    }
                    totals.cumulative[BOUNDS.len()] += 1;
                    totals.sum += value;
                }
            }
        }
        totals.last_ratios.extend(last_ratio);
    }
    totals.in_flight_ceiling = totals.in_flight + UP * (LONG_THREADS + SHORT_THREADS) as i64;
    totals
}

/// A sample's identity across scrapes: its name and labels as written.
fn key(sample: &Sample) -> String {
    let labels: Vec<String> = sample
        .labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect();
    format!("{}{{{}}}", sample.name, labels.join(","))
}

/// What must hold of every scrape, and of each against the one before it.
struct Checker {
    /// Every counter and histogram sample of the previous scrape.
    previous: HashMap<String, f64>,
    in_flight_ceiling: i64,
    scrapes: u64,
}

impl Checker {
    fn check(&mut self, exposition: &Exposition) {
        self.scrapes += 1;
        let scrape = self.scrapes;
        let mut buckets = Vec::new();
        let (mut count, mut sum) = (None, None);
        for sample in &exposition.samples {
            let value = sample.value;
            match sample.name.as_str() {
                "in_flight" => {
                    assert!(
                        (0.0..=self.in_flight_ceiling as f64).contains(&value),
                        "scrape {scrape}: in_flight {value}"
                    );
                    continue;
                }
                "ratio" => {
                    assert!(is_possible_ratio(value), "scrape {scrape}: ratio {value}");
                    continue;
                }
                "latency_seconds_bucket" => {
                    let le = sample.label("le").expect("a bucket has le");
                    let le: f64 = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().expect("a numeric le")
                    };
                    buckets.push((le, value));
                }
                "latency_seconds_count" => count = Some(value),
                "latency_seconds_sum" => sum = Some(value),
                "ops_total" | "route_requests_total" => {}
                other => panic!("scrape {scrape}: unexpected sample {other}"),
            }
            // Counters and every histogram line only go up: observations are positive.
            let key = key(sample);
            if let Some(&before) = self.previous.get(&key) {
                assert!(
                    value >= before,
                    "scrape {scrape}: {key} went from {before} to {value}"
                );
            }
            self.previous.insert(key, value);
        }
        if buckets.is_empty() {
            // Nothing observed yet: a histogram without observations has no series.
            assert_eq!((count, sum), (None, None), "scrape {scrape}");
            return;
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let les: Vec<f64> = buckets.iter().map(|&(le, _)| le).collect();
        let mut expected_les = BOUNDS.to_vec();
        expected_les.push(f64::INFINITY);
        assert_eq!(les, expected_les, "scrape {scrape}");
        for pair in buckets.windows(2) {
            assert!(
                pair[0].1 <= pair[1].1,
                "scrape {scrape}: buckets not cumulative: {buckets:?}"
            );
        }
        assert_eq!(
            count,
            Some(buckets[BOUNDS.len()].1),
            "scrape {scrape}: _count is not the +Inf bucket"
        );
        assert!(sum.is_some(), "scrape {scrape}: no _sum");
    }
}

/// Renders and parses the registry, as a scraper would.
fn scrape(encoder: &mut TextEncoder, registry: &Registry, out: &mut Vec<u8>) -> Exposition {
    encoder.encode(registry, out);
    let text = std::str::from_utf8(out).expect("UTF-8 output");
    parse_exposition(text).expect("the exposition parses")
}

#[test]
fn recording_under_a_scrape_every_millisecond_loses_nothing() -> Result<(), abacus::Error> {
    let registry = Registry::new();
    let handles = Handles::register(&registry)?;
    let totals = expected_totals();
    let recording_done = AtomicBool::new(false);
    let start = Barrier::new(LONG_THREADS as usize + 2);

    let (last, checker) = std::thread::scope(|scope| {
        let scraper = scope.spawn(|| {
            let mut checker = Checker {
                previous: HashMap::new(),
                in_flight_ceiling: totals.in_flight_ceiling,
                scrapes: 0,
            };
            let (mut encoder, mut out) = (TextEncoder::new(), Vec::new());
            start.wait();
            loop {
                // Read before the scrape: once it is set, this scrape sees everything.
                let finished = recording_done.load(Ordering::Acquire);
                let exposition = scrape(&mut encoder, &registry, &mut out);
                checker.check(&exposition);
                if finished {
                    return (exposition, checker);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let long: Vec<_> = (0..LONG_THREADS)
            .map(|thread| {
                let (handles, start) = (handles.clone(), &start);
                scope.spawn(move || {
                    start.wait();
                    handles.run(thread);
                })
            })
            .collect();
        let relay = {
            let (handles, start) = (handles.clone(), &start);
            scope.spawn(move || {
                start.wait();
                for thread in LONG_THREADS..LONG_THREADS + SHORT_THREADS {
                    let handles = handles.clone();
                    std::thread::spawn(move || handles.run(thread))
                        .join()
                        .expect("a short-lived recording thread");
                }
            })
        };
        for thread in long {
            thread.join().expect("a recording thread");
        }
        relay.join().expect("the relay thread");
        recording_done.store(true, Ordering::Release);
        scraper.join().expect("the scraper thread")
    });

    // The handles agree with the schedule...
    assert_eq!(handles.ops.value(), totals.ops);
    for (route, &count) in ROUTES.iter().zip(&totals.routes) {
        assert_eq!(
            handles.routes.with_labels(&[route])?.value(),
            count,
            "{route}"
        );
    }
    assert_eq!(handles.in_flight.value(), totals.in_flight);
    assert!(
        totals.last_ratios.contains(&handles.ratio.value()),
        "{} is no thread's last value",
        handles.ratio.value()
    );
    assert_eq!(handles.latency.count(), totals.cumulative[BOUNDS.len()]);

    // ...and so does the last scrape, made after every thread was joined.
    assert_eq!(last.value("ops_total", &[]), Some(totals.ops as f64));
    for (route, &count) in ROUTES.iter().zip(&totals.routes) {
        assert_eq!(
            last.value("route_requests_total", &[("route", route)]),
            Some(count as f64),
            "{route}"
        );
    }
    assert_eq!(last.value("in_flight", &[]), Some(totals.in_flight as f64));
    assert_eq!(last.value("ratio", &[]), Some(handles.ratio.value()));
    let les = ["0.25", "0.5", "1.0", "2.0", "4.0", "8.0", "+Inf"];
    for (le, &count) in les.iter().zip(&totals.cumulative) {
        assert_eq!(
            last.value("latency_seconds_bucket", &[("le", le)]),
            Some(count as f64),
            "le={le}"
        );
    }
    assert_eq!(
        last.value("latency_seconds_count", &[]),
        Some(totals.cumulative[BOUNDS.len()] as f64)
    );
    assert_eq!(last.value("latency_seconds_sum", &[]), Some(totals.sum));
    // How many scrapes ran depends on the machine; each was checked.
    eprintln!(
        "{} scrapes during {} recorded operations",
        checker.scrapes,
        LONG_THREADS * LONG_OPS + SHORT_THREADS * SHORT_OPS
    );
    Ok(())
}
