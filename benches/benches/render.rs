//! Workload 5: rendering 10,000 counter series and 1,000 histogram series (11 buckets), 3
//! labels each, to the Prometheus text format. Every library renders into a buffer it
//! keeps between scrapes where its API lets it, as a `/metrics` server would.

use std::hint::black_box;
use std::time::Duration;

use abacus_benches::{observations, sized, three_label_series, BUCKETS, THREE_LABELS};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use measured::metric::group::MetricGroup;
use measured::metric::histogram::Thresholds;
use measured::{CounterVec, HistogramVec};
use metrics_exporter_prometheus::PrometheusBuilder;

#[path = "shared/measured_labels.rs"]
mod measured_labels;
use measured_labels::{three, ThreeSet};

#[derive(measured::MetricGroup)]
#[metric(new())]
struct MeasuredMetrics {
    /// Requests.
    #[metric(label_set = ThreeSet::default())]
    requests_total: CounterVec<ThreeSet>,
    /// Latency.
    #[metric(label_set = ThreeSet::default(), metadata = Thresholds::with_buckets(BUCKETS))]
    latency_seconds: HistogramVec<ThreeSet, 11>,
}

/// The `prometheus-client` label set: a struct of owned values, its idiomatic form.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct PcLabels {
    tenant: String,
    route: String,
    status: String,
}

fn pc_labels([tenant, route, status]: &[String; 3]) -> PcLabels {
    PcLabels {
        tenant: tenant.clone(),
        route: route.clone(),
        status: status.clone(),
    }
}

fn render(c: &mut Criterion) {
    let counters = three_label_series(sized(10_000, 1_000));
    let histograms = three_label_series(sized(1_000, 100));
    let values = observations();
    // Each counter gets a distinct value, each histogram 8 observations across its buckets.
    let observe = |h: usize, record: &mut dyn FnMut(f64)| {
        for k in 0..8 {
            record(values[(h * 8 + k) % values.len()]);
        }
    };
    // Every library must render every series: count the sample lines of each output.
    let check = |library: &str, text: &[u8]| {
        let text = std::str::from_utf8(text).expect("UTF-8");
        let samples = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(samples("requests_total{"), counters.len(), "{library}");
        assert_eq!(
            samples("latency_seconds_bucket{"),
            histograms.len() * (BUCKETS.len() + 1),
            "{library}"
        );
        assert_eq!(
            samples("latency_seconds_count{"),
            histograms.len(),
            "{library}"
        );
    };

    let mut group = c.benchmark_group("render 10000 counter and 1000 histogram series to text");
    group.sampling_mode(SamplingMode::Flat);

    let registry = abacus::Registry::new();
    let requests = registry
        .counter(abacus::Desc::new("requests_total", "Requests.").labels(THREE_LABELS))
        .expect("valid");
    let latency = registry
        .histogram(
            abacus::Desc::new("latency_seconds", "Latency.").labels(THREE_LABELS),
            abacus::Buckets::new(BUCKETS).expect("valid"),
        )
        .expect("valid");
    for (n, labels) in counters.iter().enumerate() {
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        requests
            .with_labels(&labels)
            .expect("valid")
            .add(n as u64 + 1);
    }
    for (h, labels) in histograms.iter().enumerate() {
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let histogram = latency.with_labels(&labels).expect("valid");
        observe(h, &mut |v| histogram.observe(v));
    }
    let mut encoder = abacus_prometheus::TextEncoder::new();
    let mut out = Vec::new();
    encoder.encode(&registry, &mut out);
    check("abacus", &out);
    group.bench_function("abacus", |b| {
        b.iter(|| {
            encoder.encode(black_box(&registry), &mut out);
            black_box(&out);
        })
    });

    let prom_registry = prometheus::Registry::new();
    let prom_requests = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests_total", "Requests."),
        &THREE_LABELS,
    )
    .expect("valid");
    let prom_latency = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("latency_seconds", "Latency.").buckets(BUCKETS.to_vec()),
        &THREE_LABELS,
    )
    .expect("valid");
    prom_registry
        .register(Box::new(prom_requests.clone()))
        .expect("registers");
    prom_registry
        .register(Box::new(prom_latency.clone()))
        .expect("registers");
    for (n, labels) in counters.iter().enumerate() {
        prom_requests.with_label_values(labels).inc_by(n as u64 + 1);
    }
    for (h, labels) in histograms.iter().enumerate() {
        let histogram = prom_latency.with_label_values(labels);
        observe(h, &mut |v| histogram.observe(v));
    }
    let prom_encoder = prometheus::TextEncoder::new();
    {
        use prometheus::Encoder;
        out.clear();
        prom_encoder
            .encode(&prom_registry.gather(), &mut out)
            .expect("encodes");
        check("prometheus", &out);
    }
    group.bench_function("prometheus", |b| {
        b.iter(|| {
            use prometheus::Encoder;
            out.clear();
            prom_encoder
                .encode(&black_box(&prom_registry).gather(), &mut out)
                .expect("encodes");
            black_box(&out);
        })
    });

    let mut pc_registry = prometheus_client::registry::Registry::default();
    let pc_requests = prometheus_client::metrics::family::Family::<
        PcLabels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let pc_latency = prometheus_client::metrics::family::Family::<
        PcLabels,
        prometheus_client::metrics::histogram::Histogram,
        _,
    >::new_with_constructor(|| {
        prometheus_client::metrics::histogram::Histogram::new(BUCKETS)
    });
    pc_registry.register("requests", "Requests.", pc_requests.clone());
    pc_registry.register("latency_seconds", "Latency.", pc_latency.clone());
    for (n, labels) in counters.iter().enumerate() {
        pc_requests
            .get_or_create(&pc_labels(labels))
            .inc_by(n as u64 + 1);
    }
    for (h, labels) in histograms.iter().enumerate() {
        let histogram = pc_latency.get_or_create(&pc_labels(labels));
        observe(h, &mut |v| histogram.observe(v));
    }
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &pc_registry).expect("encodes");
    check("prometheus-client", text.as_bytes());
    text.clear();
    prometheus_client::encoding::text::encode(&mut text, &pc_registry).expect("encodes");
    check("prometheus-client OpenMetrics", text.as_bytes());
    group.bench_function("prometheus-client: text 0.0.4", |b| {
        b.iter(|| {
            text.clear();
            prometheus_client::encoding::prometheus_text::encode(
                &mut text,
                black_box(&pc_registry),
            )
            .expect("encodes");
            black_box(&text);
        })
    });
    group.bench_function("prometheus-client: OpenMetrics", |b| {
        b.iter(|| {
            text.clear();
            prometheus_client::encoding::text::encode(&mut text, black_box(&pc_registry))
                .expect("encodes");
            black_box(&text);
        })
    });

    let recorder = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .expect("valid buckets")
        .build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_counter!("requests_total", "Requests.");
        metrics::describe_histogram!("latency_seconds", "Latency.");
        let pairs = |values: &[String; 3]| -> Vec<(&'static str, String)> {
            THREE_LABELS
                .iter()
                .copied()
                .zip(values.iter().cloned())
                .collect()
        };
        for (n, labels) in counters.iter().enumerate() {
            metrics::counter!("requests_total", &pairs(labels)).increment(n as u64 + 1);
        }
        for (h, labels) in histograms.iter().enumerate() {
            let labels = pairs(labels);
            let histogram = metrics::histogram!("latency_seconds", &labels);
            observe(h, &mut |v| histogram.record(v));
        }
    });
    out.clear();
    handle.render_to_write(&mut out).expect("renders");
    check("metrics", &out);
    group.bench_function("metrics", |b| {
        b.iter(|| {
            out.clear();
            black_box(&handle)
                .render_to_write(&mut out)
                .expect("renders");
            black_box(&out);
        })
    });

    let meas = MeasuredMetrics::new();
    for (n, labels) in counters.iter().enumerate() {
        meas.requests_total.inc_by(three(labels), n as u64 + 1);
    }
    for (h, labels) in histograms.iter().enumerate() {
        observe(h, &mut |v| meas.latency_seconds.observe(three(labels), v));
    }
    let mut meas_encoder = measured::text::BufferedTextEncoder::new();
    meas.collect_group_into(&mut meas_encoder).expect("encodes");
    check("measured", &meas_encoder.finish());
    group.bench_function("measured", |b| {
        b.iter(|| {
            black_box(&meas)
                .collect_group_into(&mut meas_encoder)
                .expect("encodes");
            black_box(meas_encoder.finish())
        })
    });

    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = render
}
criterion_main!(benches);
