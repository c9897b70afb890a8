//! Workload 3: a histogram observe through a kept handle, 11 buckets, the values spread
//! over all of them (a precomputed array of observations, rotated), on abacus and its
//! peers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use abacus_benches::{observations, BUCKETS, OBSERVATIONS};
use criterion::{criterion_group, criterion_main, Criterion};
use metrics::{Key, Metadata, Recorder};
use metrics_exporter_prometheus::PrometheusBuilder;

const METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);
const MASK: usize = OBSERVATIONS - 1;

fn observe_kept_handle(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram observe through a kept handle");
    let values = observations();
    let mut i = 0;

    let registry = abacus::Registry::new();
    let histogram = registry
        .histogram(
            abacus::Desc::new("latency_seconds", "Latency."),
            abacus::Buckets::new(BUCKETS).expect("valid bounds"),
        )
        .and_then(|family| family.without_labels())
        .expect("a valid registration");
    group.bench_function("abacus", |b| {
        b.iter(|| {
            i = (i + 1) & MASK;
            black_box(&histogram).observe(black_box(values[i]))
        });
        assert!(histogram.count() > 0);
    });

    let prom = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("latency_seconds", "Latency.").buckets(BUCKETS.to_vec()),
    )
    .expect("valid");
    let prom_registry = prometheus::Registry::new();
    prom_registry
        .register(Box::new(prom.clone()))
        .expect("registers");
    group.bench_function("prometheus", |b| {
        b.iter(|| {
            i = (i + 1) & MASK;
            black_box(&prom).observe(black_box(values[i]))
        });
        assert!(prom.get_sample_count() > 0);
    });

    let pc = prometheus_client::metrics::histogram::Histogram::new(BUCKETS);
    let mut pc_registry = prometheus_client::registry::Registry::default();
    pc_registry.register("latency_seconds", "Latency.", pc.clone());
    group.bench_function("prometheus-client", |b| {
        b.iter(|| {
            i = (i + 1) & MASK;
            black_box(&pc).observe(black_box(values[i]))
        })
    });

    let recorder = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .expect("valid buckets")
        .build_recorder();
    let met = recorder.register_histogram(&Key::from_static_name("latency_seconds"), &METADATA);
    let handle = recorder.handle();
    // metrics-exporter-prometheus keeps every raw observation until a scrape folds them
    // into buckets; each sample ends with one (untimed) scrape, as a server scraped every
    // few seconds would, so that they do not pile up to gigabytes.
    group.bench_function("metrics", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                i = (i + 1) & MASK;
                black_box(&met).record(black_box(values[i]));
            }
            let elapsed = start.elapsed();
            black_box(handle.render());
            elapsed
        })
    });

    let meas = measured::Histogram::with_metadata(
        measured::metric::histogram::Thresholds::<11>::with_buckets(BUCKETS),
    );
    group.bench_function("measured", |b| {
        b.iter(|| {
            i = (i + 1) & MASK;
            black_box(&meas).observe(black_box(values[i]))
        })
    });

    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = observe_kept_handle
}
criterion_main!(benches);
