//! Workloads 1 and 2: a counter increment through a kept handle (no labels, 4 labels), through
//! a thread-bound handle, and with 4 label values resolved on every call; abacus beside
//! `prometheus`, `prometheus-client`, `metrics` + `metrics-exporter-prometheus` and
//! `measured`, and beside the two floors, a relaxed `fetch_add` and a plain add.
//!
//! Every library gets the same harness: handles are made (and cloned out) before the
//! timing, the handle and the inputs go through `black_box`, and each iteration is one
//! increment.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use abacus_benches::{hundred_series, FOUR_LABELS, METHODS, REGIONS, ROUTES, STATUSES};
use criterion::{criterion_group, criterion_main, Criterion};
use measured::lasso::{Rodeo, RodeoReader, ThreadedRodeo};
use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use prometheus_client::metrics::counter::Counter as PcCounter;
use prometheus_client::metrics::family::Family as PcFamily;

/// The `measured` label group of the 4-label workloads, with values known up front (the
/// interning sets `measured` recommends for strings known at startup).
#[derive(Clone, Copy, measured::LabelGroup)]
#[label(set = FixedFourSet)]
struct FixedFour<'a> {
    #[label(fixed_with = RodeoReader)]
    route: &'a str,
    #[label(fixed_with = RodeoReader)]
    method: &'a str,
    #[label(fixed_with = RodeoReader)]
    status: &'a str,
    #[label(fixed_with = RodeoReader)]
    region: &'a str,
}

/// The same group with values interned on first use, for values not known up front.
#[derive(Clone, Copy, measured::LabelGroup)]
#[label(set = DynamicFourSet)]
struct DynamicFour<'a> {
    #[label(dynamic_with = ThreadedRodeo, default)]
    route: &'a str,
    #[label(dynamic_with = ThreadedRodeo, default)]
    method: &'a str,
    #[label(dynamic_with = ThreadedRodeo, default)]
    status: &'a str,
    #[label(dynamic_with = ThreadedRodeo, default)]
    region: &'a str,
}

fn reader(values: &[&str]) -> RodeoReader {
    values.iter().collect::<Rodeo>().into_reader()
}

fn fixed_four_set() -> FixedFourSet {
    FixedFourSet::new(
        reader(&ROUTES),
        reader(&METHODS),
        reader(&STATUSES),
        reader(&REGIONS),
    )
}

fn fixed_four(values: [&str; 4]) -> FixedFour<'_> {
    FixedFour {
        route: values[0],
        method: values[1],
        status: values[2],
        region: values[3],
    }
}

fn dynamic_four(values: [&str; 4]) -> DynamicFour<'_> {
    DynamicFour {
        route: values[0],
        method: values[1],
        status: values[2],
        region: values[3],
    }
}

/// The `prometheus-client` label set: a struct of owned values, its idiomatic form.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct PcLabels {
    route: String,
    method: String,
    status: String,
    region: String,
}

fn pc_labels(values: [&str; 4]) -> PcLabels {
    PcLabels {
        route: values[0].to_owned(),
        method: values[1].to_owned(),
        status: values[2].to_owned(),
        region: values[3].to_owned(),
    }
}

const METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

fn metrics_key(values: [&'static str; 4]) -> Key {
    let labels: Vec<Label> = FOUR_LABELS
        .iter()
        .zip(values)
        .map(|(name, value)| Label::new(*name, value))
        .collect();
    Key::from_parts("requests_total", labels)
}

fn metrics_recorder() -> PrometheusRecorder {
    PrometheusBuilder::new().build_recorder()
}

/// One series with 4 labels, the same for every library of the kept-handle workload.
const KEPT: [&str; 4] = ["/api/v1/products/:id", "GET", "200", "eu-west-1"];

fn kept_handle(c: &mut Criterion) {
    let mut group = c.benchmark_group("counter increment through a kept handle");

    let atomic = AtomicU64::new(0);
    group.bench_function("baseline: relaxed fetch_add", |b| {
        b.iter(|| black_box(&atomic).fetch_add(1, Relaxed))
    });

    let mut plain = 0u64;
    group.bench_function("baseline: plain add", |b| {
        b.iter(|| {
            let target = black_box(&mut plain);
            *target += 1;
        })
    });

    let registry = abacus::Registry::new();
    let counter = registry
        .counter(abacus::Desc::new("requests_total", "Requests."))
        .and_then(|family| family.without_labels())
        .expect("a valid registration");
    group.bench_function("abacus", |b| {
        b.iter(|| black_box(&counter).inc());
        // The increments must have landed: a bench that optimised them away would be void.
        assert!(counter.value() > 0);
    });

    let prom = prometheus::IntCounter::new("requests_total", "Requests.").expect("valid");
    let prom_registry = prometheus::Registry::new();
    prom_registry
        .register(Box::new(prom.clone()))
        .expect("registers");
    group.bench_function("prometheus", |b| {
        b.iter(|| black_box(&prom).inc());
        assert!(prom.get() > 0);
    });

    let pc: PcCounter = PcCounter::default();
    let mut pc_registry = prometheus_client::registry::Registry::default();
    pc_registry.register("requests", "Requests.", pc.clone());
    group.bench_function("prometheus-client", |b| {
        b.iter(|| black_box(&pc).inc());
        assert!(pc.get() > 0);
    });

    let recorder = metrics_recorder();
    let met = recorder.register_counter(&Key::from_static_name("requests_total"), &METADATA);
    group.bench_function("metrics", |b| b.iter(|| black_box(&met).increment(1)));

    let meas = measured::Counter::new();
    group.bench_function("measured", |b| b.iter(|| black_box(&meas).inc()));

    group.finish();
}

fn kept_handle_four_labels(c: &mut Criterion) {
    let mut group = c.benchmark_group("counter increment through a kept handle with 4 labels");

    let registry = abacus::Registry::new();
    let counter = registry
        .counter(abacus::Desc::new("requests_total", "Requests.").labels(FOUR_LABELS))
        .and_then(|family| family.with_labels(&KEPT))
        .expect("a valid registration");
    group.bench_function("abacus", |b| {
        b.iter(|| black_box(&counter).inc());
        // The increments must have landed: a bench that optimised them away would be void.
        assert!(counter.value() > 0);
    });

    let prom_vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests_total", "Requests."),
        &FOUR_LABELS,
    )
    .expect("valid");
    let prom_registry = prometheus::Registry::new();
    prom_registry
        .register(Box::new(prom_vec.clone()))
        .expect("registers");
    let prom = prom_vec.with_label_values(&KEPT);
    group.bench_function("prometheus", |b| {
        b.iter(|| black_box(&prom).inc());
        assert!(prom.get() > 0);
    });

    let pc_family = PcFamily::<PcLabels, PcCounter>::default();
    let mut pc_registry = prometheus_client::registry::Registry::default();
    pc_registry.register("requests", "Requests.", pc_family.clone());
    let pc = pc_family.get_or_create(&pc_labels(KEPT)).clone();
    group.bench_function("prometheus-client", |b| {
        b.iter(|| black_box(&pc).inc());
        assert!(pc.get() > 0);
    });

    let recorder = metrics_recorder();
    let met = recorder.register_counter(&metrics_key(KEPT), &METADATA);
    group.bench_function("metrics", |b| b.iter(|| black_box(&met).increment(1)));

    // measured's kept handle is the series id; recording looks the cell up by it.
    let meas_vec = measured::CounterVec::with_label_set(fixed_four_set());
    let meas_id = meas_vec.with_labels(fixed_four(KEPT));
    group.bench_function("measured", |b| {
        b.iter(|| black_box(&meas_vec).get_metric(black_box(meas_id)).inc())
    });

    group.finish();
}

fn thread_bound_handle(c: &mut Criterion) {
    let mut group = c.benchmark_group("counter increment through a thread-bound handle");

    let atomic = AtomicU64::new(0);
    group.bench_function("baseline: relaxed fetch_add", |b| {
        b.iter(|| black_box(&atomic).fetch_add(1, Relaxed))
    });

    let registry = abacus::Registry::new();
    let counter = registry
        .counter(abacus::Desc::new("requests_total", "Requests."))
        .and_then(|family| family.without_labels())
        .expect("a valid registration");
    let local = counter.local();
    group.bench_function("abacus: LocalCounter", |b| {
        b.iter(|| black_box(&local).inc());
        assert!(counter.value() > 0);
    });

    // prometheus's thread-local counter buffers in a plain cell: nothing reaches a scrape
    // until `flush`, which the bench leaves out of the loop (a cost abacus does not have).
    let prom = prometheus::IntCounter::new("requests_total", "Requests.").expect("valid");
    let prom_local = prom.local();
    group.bench_function("prometheus: LocalIntCounter (needs flush)", |b| {
        b.iter(|| black_box(&prom_local).inc());
        prom_local.flush();
        assert!(prom.get() > 0);
    });

    group.finish();
}

fn labels_per_call(c: &mut Criterion) {
    let mut group =
        c.benchmark_group("counter increment with 4 label values resolved on every call");
    let series = hundred_series();
    let n = series.len();

    let registry = abacus::Registry::new();
    let family = registry
        .counter(abacus::Desc::new("requests_total", "Requests.").labels(FOUR_LABELS))
        .expect("a valid registration");
    for values in &series {
        family.inc(values).expect("valid labels");
    }
    let mut i = 0;
    group.bench_function("abacus: Family::inc", |b| {
        b.iter(|| {
            i = if i + 1 == n { 0 } else { i + 1 };
            black_box(&family)
                .inc(black_box(&series[i]))
                .expect("valid labels")
        })
    });
    group.bench_function("abacus: Family::with_labels then inc", |b| {
        b.iter(|| {
            i = if i + 1 == n { 0 } else { i + 1 };
            black_box(&family)
                .with_labels(black_box(&series[i]))
                .expect("valid labels")
                .inc()
        })
    });

    let prom_vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests_total", "Requests."),
        &FOUR_LABELS,
    )
    .expect("valid");
    let prom_registry = prometheus::Registry::new();
    prom_registry
        .register(Box::new(prom_vec.clone()))
        .expect("registers");
    for values in &series {
        prom_vec.with_label_values(values).inc();
    }
    group.bench_function("prometheus: with_label_values", |b| {
        b.iter(|| {
            i = if i + 1 == n { 0 } else { i + 1 };
            black_box(&prom_vec)
                .with_label_values(black_box(&series[i]))
                .inc()
        })
    });

    let pc_family = PcFamily::<PcLabels, PcCounter>::default();
    let mut pc_registry = prometheus_client::registry::Registry::default();
    pc_registry.register("requests", "Requests.", pc_family.clone());
    // Its label sets are owned values: built once, so the loop only looks them up.
    let pc_series: Vec<PcLabels> = series.iter().map(|values| pc_labels(*values)).collect();
    for labels in &pc_series {
        pc_family.get_or_create(labels).inc();
    }
    group.bench_function("prometheus-client: get_or_create", |b| {
        b.iter(|| {
            i = if i + 1 == n { 0 } else { i + 1 };
            black_box(&pc_family)
                .get_or_create(black_box(&pc_series[i]))
                .inc();
        })
    });

    let recorder = metrics_recorder();
    metrics::with_local_recorder(&recorder, || {
        for values in &series {
            let [route, method, status, region] = *values;
            metrics::counter!("requests_total", "route" => route, "method" => method,
                "status" => status, "region" => region)
            .increment(1);
        }
        group.bench_function("metrics: counter! macro", |b| {
            b.iter(|| {
                i = if i + 1 == n { 0 } else { i + 1 };
                let [route, method, status, region] = *black_box(&series[i]);
                metrics::counter!("requests_total", "route" => route, "method" => method,
                    "status" => status, "region" => region)
                .increment(1)
            })
        });
    });

    // The same macro on this project's recorder, with the same harness.
    let facade = abacus_metrics::PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&facade, || {
        for values in &series {
            let [route, method, status, region] = *values;
            metrics::counter!("requests_total", "route" => route, "method" => method,
                "status" => status, "region" => region)
            .increment(1);
        }
        group.bench_function("abacus-metrics: counter! macro", |b| {
            b.iter(|| {
                i = if i + 1 == n { 0 } else { i + 1 };
                let [route, method, status, region] = *black_box(&series[i]);
                metrics::counter!("requests_total", "route" => route, "method" => method,
                    "status" => status, "region" => region)
                .increment(1)
            })
        });
    });

    let fixed = measured::CounterVec::with_label_set(fixed_four_set());
    for values in &series {
        fixed.inc(fixed_four(*values));
    }
    group.bench_function("measured: inc, values known up front", |b| {
        b.iter(|| {
            i = if i + 1 == n { 0 } else { i + 1 };
            black_box(&fixed).inc(fixed_four(*black_box(&series[i])))
        })
    });

    let dynamic = measured::CounterVec::with_label_set(DynamicFourSet::default());
    for values in &series {
        dynamic.inc(dynamic_four(*values));
    }
    group.bench_function("measured: inc, values interned on first use", |b| {
        b.iter(|| {
            i = if i + 1 == n { 0 } else { i + 1 };
            black_box(&dynamic).inc(dynamic_four(*black_box(&series[i])))
        })
    });

    group.finish();
    // Each library recorded into the series it was given, and only those.
    let abacus_total: u64 = series
        .iter()
        .map(|values| family.with_labels(values).expect("valid").value())
        .sum();
    assert!(abacus_total >= n as u64, "{abacus_total}");
    let prom_total: u64 = series
        .iter()
        .map(|values| prom_vec.with_label_values(values).get())
        .sum();
    assert!(prom_total >= n as u64, "{prom_total}");
    assert_eq!(fixed.get_cardinality().0, n);
    let facade_series = facade
        .handle()
        .render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    assert_eq!(facade_series, n);
    assert_eq!(dynamic.get_label_set().route.len(), ROUTES.len());
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
    targets = kept_handle, kept_handle_four_labels, thread_bound_handle, labels_per_call
}
criterion_main!(benches);
