//! Workload 4: the same counter and the same histogram recorded from 1 and from 2 threads at
//! once. The threads start on a barrier and each times itself (`time_threads`); criterion
//! gets the slowest thread's time, so its time per iteration is the time per operation of
//! one thread and the total throughput is `threads / time`. The report divides the
//! 2-thread throughput by the 1-thread one.
//!
//! Every thread records through its own clone of one handle (or a shared reference where
//! the library's handle is not `Clone`): one series, written from every thread.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use abacus_benches::{observations, threads_group, BUCKETS, OBSERVATIONS};
use criterion::{criterion_group, criterion_main, Criterion};
use metrics::{Key, Metadata, Recorder};
use metrics_exporter_prometheus::PrometheusBuilder;

#[path = "shared/threaded.rs"]
mod threaded;
use threaded::bench;

const METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);
const MASK: usize = OBSERVATIONS - 1;

fn counters(c: &mut Criterion, threads: usize) {
    let mut group = c.benchmark_group(threads_group("counter increment", threads));

    let atomic = AtomicU64::new(0);
    bench(
        &mut group,
        "baseline: relaxed fetch_add",
        threads,
        |_| {
            let atomic = &atomic;
            move || {
                black_box(atomic).fetch_add(1, Relaxed);
            }
        },
        |_| {},
    );

    let registry = abacus::Registry::new();
    let counter = registry
        .counter(abacus::Desc::new("requests_total", "Requests."))
        .and_then(|family| family.without_labels())
        .expect("a valid registration");
    // Every increment must be in the total once the threads are gone: none lost when a
    // thread's cells move to the shared accumulator.
    let expected = std::cell::Cell::new(0);
    bench(
        &mut group,
        "abacus",
        threads,
        |_| {
            let counter = counter.clone();
            move || black_box(&counter).inc()
        },
        |operations| {
            expected.set(expected.get() + operations);
            assert_eq!(counter.value(), expected.get());
        },
    );

    let prom = prometheus::IntCounter::new("requests_total", "Requests.").expect("valid");
    bench(
        &mut group,
        "prometheus",
        threads,
        |_| {
            let prom = prom.clone();
            move || black_box(&prom).inc()
        },
        |_| {},
    );

    let pc: prometheus_client::metrics::counter::Counter = Default::default();
    bench(
        &mut group,
        "prometheus-client",
        threads,
        |_| {
            let pc = pc.clone();
            move || {
                black_box(&pc).inc();
            }
        },
        |_| {},
    );

    let recorder = PrometheusBuilder::new().build_recorder();
    let met = recorder.register_counter(&Key::from_static_name("requests_total"), &METADATA);
    bench(
        &mut group,
        "metrics",
        threads,
        |_| {
            let met = met.clone();
            move || black_box(&met).increment(1)
        },
        |_| {},
    );

    let meas = measured::Counter::new();
    bench(
        &mut group,
        "measured",
        threads,
        |_| {
            let meas = &meas;
            move || black_box(meas).inc()
        },
        |_| {},
    );

    group.finish();
}

fn histograms(c: &mut Criterion, threads: usize) {
    let mut group = c.benchmark_group(threads_group("histogram observe", threads));
    let values = observations();
    let values = &values;
    let expected = std::cell::Cell::new(0);
    // Each thread starts at its own place in the observations.
    let start = |thread: usize| thread * OBSERVATIONS / 2;

    let registry = abacus::Registry::new();
    let histogram = registry
        .histogram(
            abacus::Desc::new("latency_seconds", "Latency."),
            abacus::Buckets::new(BUCKETS).expect("valid bounds"),
        )
        .and_then(|family| family.without_labels())
        .expect("a valid registration");
    bench(
        &mut group,
        "abacus",
        threads,
        |thread| {
            let histogram = histogram.clone();
            let mut i = start(thread);
            move || {
                i = (i + 1) & MASK;
                black_box(&histogram).observe(black_box(values[i]))
            }
        },
        |operations| {
            expected.set(expected.get() + operations);
            assert_eq!(histogram.count(), expected.get());
        },
    );

    let prom = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("latency_seconds", "Latency.").buckets(BUCKETS.to_vec()),
    )
    .expect("valid");
    bench(
        &mut group,
        "prometheus",
        threads,
        |thread| {
            let prom = prom.clone();
            let mut i = start(thread);
            move || {
                i = (i + 1) & MASK;
                black_box(&prom).observe(black_box(values[i]))
            }
        },
        |_| {},
    );

    let pc = prometheus_client::metrics::histogram::Histogram::new(BUCKETS);
    bench(
        &mut group,
        "prometheus-client",
        threads,
        |thread| {
            let pc = pc.clone();
            let mut i = start(thread);
            move || {
                i = (i + 1) & MASK;
                black_box(&pc).observe(black_box(values[i]))
            }
        },
        |_| {},
    );

    let recorder = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .expect("valid buckets")
        .build_recorder();
    let met = recorder.register_histogram(&Key::from_static_name("latency_seconds"), &METADATA);
    let handle = recorder.handle();
    // It keeps raw observations until a scrape: one untimed scrape after each sample.
    bench(
        &mut group,
        "metrics",
        threads,
        |thread| {
            let met = met.clone();
            let mut i = start(thread);
            move || {
                i = (i + 1) & MASK;
                black_box(&met).record(black_box(values[i]))
            }
        },
        |_| {
            black_box(handle.render());
        },
    );

    let meas = measured::Histogram::with_metadata(
        measured::metric::histogram::Thresholds::<11>::with_buckets(BUCKETS),
    );
    bench(
        &mut group,
        "measured",
        threads,
        |thread| {
            let meas = &meas;
            let mut i = start(thread);
            move || {
                i = (i + 1) & MASK;
                black_box(meas).observe(black_box(values[i]))
            }
        },
        |_| {},
    );

    group.finish();
}

fn one_thread(c: &mut Criterion) {
    counters(c, 1);
    histograms(c, 1);
}

fn two_threads(c: &mut Criterion) {
    counters(c, 2);
    histograms(c, 2);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = one_thread, two_threads
}
criterion_main!(benches);
