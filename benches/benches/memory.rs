//! Workload 6: bytes and allocations per series, for 100,000 counter series and 100,000
//! histogram series (3 labels, 11 buckets), each created and recorded once.
//!
//! A counting global allocator records the bytes every allocation asks for (its
//! `layout.size()`) net of frees, and the number of allocations. Each library and kind runs
//! in a fresh process of this same binary (`--child LIBRARY KIND N`), which builds its
//! inputs first and then takes the difference of the counters around creating the registry
//! and every series. The parent prints a table and, in a benchmark run, writes
//! `target/bench-results/memory.json` for the report.
//!
//! Counted: what the library keeps (registry, families, series, label copies, per-thread
//! cells) plus whatever it allocates and frees on the way (which shows in the allocation
//! count, not in the net bytes). Not counted: allocator overhead beyond the requested size.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use abacus_benches::{is_bench_run, results_dir, sized, three_label_series, BUCKETS, THREE_LABELS};
use measured::metric::histogram::Thresholds;
use metrics_exporter_prometheus::PrometheusBuilder;
use prometheus_client::encoding::EncodeLabelSet;
use serde_json::{json, Value};

static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static FREED_BYTES: AtomicU64 = AtomicU64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static FREES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's own arguments, so this
// allocator upholds exactly the contract `System` does; the counting beside it touches
// only atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract for `layout`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREES.fetch_add(1, Relaxed);
        FREED_BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: the caller passes a block this allocator (hence `System`) gave out, with
        // the layout it was allocated with.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a new allocation of the new size and a free of the old block.
        ALLOCATIONS.fetch_add(1, Relaxed);
        FREES.fetch_add(1, Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size as u64, Relaxed);
        FREED_BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: the caller passes a block `System` gave out with `layout`, and a
        // non-zero `new_size` that does not overflow when rounded to `layout.align()`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy)]
struct Counts {
    bytes: i64,
    allocations: u64,
    live_allocations: i64,
}

fn counts() -> Counts {
    let allocations = ALLOCATIONS.load(Relaxed);
    Counts {
        bytes: ALLOCATED_BYTES.load(Relaxed) as i64 - FREED_BYTES.load(Relaxed) as i64,
        allocations,
        live_allocations: allocations as i64 - FREES.load(Relaxed) as i64,
    }
}

const LIBRARIES: [&str; 5] = [
    "abacus",
    "prometheus",
    "prometheus-client",
    "metrics",
    "measured",
];
const KINDS: [&str; 2] = ["counter", "histogram"];

/// The value each histogram series records once: inside the 5th bucket.
const OBSERVATION: f64 = 0.07;

/// prometheus-client's idiomatic label set: a struct of owned values.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PcLabels {
    tenant: String,
    route: String,
    status: String,
}

#[path = "shared/measured_labels.rs"]
mod measured_labels;
use measured_labels::{three, ThreeSet};

/// Creates a registry of `library` with one family of `kind` and one recorded series per
/// element of `series`, and returns what must stay alive, boxed.
fn create(library: &str, kind: &str, series: &[[String; 3]]) -> Box<dyn std::any::Any> {
    let histogram = kind == "histogram";
    match library {
        "abacus" => {
            let registry = abacus::Registry::new();
            if histogram {
                let family = registry
                    .histogram(
                        abacus::Desc::new("latency_seconds", "Latency.")
                            .labels(THREE_LABELS)
                            .max_series(series.len()),
                        abacus::Buckets::new(BUCKETS).expect("valid"),
                    )
                    .expect("valid");
                for [a, b, c] in series {
                    family
                        .with_labels(&[a.as_str(), b.as_str(), c.as_str()])
                        .expect("valid")
                        .observe(OBSERVATION);
                }
            } else {
                let family = registry
                    .counter(
                        abacus::Desc::new("requests_total", "Requests.")
                            .labels(THREE_LABELS)
                            .max_series(series.len()),
                    )
                    .expect("valid");
                for [a, b, c] in series {
                    family
                        .with_labels(&[a.as_str(), b.as_str(), c.as_str()])
                        .expect("valid")
                        .inc();
                }
            }
            Box::new(registry)
        }
        "prometheus" => {
            let registry = prometheus::Registry::new();
            if histogram {
                let family = prometheus::HistogramVec::new(
                    prometheus::HistogramOpts::new("latency_seconds", "Latency.")
                        .buckets(BUCKETS.to_vec()),
                    &THREE_LABELS,
                )
                .expect("valid");
                registry
                    .register(Box::new(family.clone()))
                    .expect("registers");
                for labels in series {
                    family.with_label_values(labels).observe(OBSERVATION);
                }
            } else {
                let family = prometheus::IntCounterVec::new(
                    prometheus::Opts::new("requests_total", "Requests."),
                    &THREE_LABELS,
                )
                .expect("valid");
                registry
                    .register(Box::new(family.clone()))
                    .expect("registers");
                for labels in series {
                    family.with_label_values(labels).inc();
                }
            }
            Box::new(registry)
        }
        "prometheus-client" => {
            use prometheus_client::metrics::counter::Counter;
            use prometheus_client::metrics::family::Family;
            use prometheus_client::metrics::histogram::Histogram;
            let mut registry = prometheus_client::registry::Registry::default();
            let key = |[tenant, route, status]: &[String; 3]| PcLabels {
                tenant: tenant.clone(),
                route: route.clone(),
                status: status.clone(),
            };
            // The key is built per call because `get_or_create` takes a borrowed key and
            // clones it on insertion: the temporary copy is freed again, the stored one is
            // the library's.
            if histogram {
                let family = Family::<PcLabels, Histogram, _>::new_with_constructor(|| {
                    Histogram::new(BUCKETS)
                });
                registry.register("latency_seconds", "Latency.", family.clone());
                for labels in series {
                    family.get_or_create(&key(labels)).observe(OBSERVATION);
                }
            } else {
                let family = Family::<PcLabels, Counter>::default();
                registry.register("requests", "Requests.", family.clone());
                for labels in series {
                    family.get_or_create(&key(labels)).inc();
                }
            }
            Box::new(registry)
        }
        "metrics" => {
            let mut builder = PrometheusBuilder::new();
            if histogram {
                builder = builder.set_buckets(&BUCKETS).expect("valid buckets");
            }
            let recorder = builder.build_recorder();
            metrics::with_local_recorder(&recorder, || {
                for [tenant, route, status] in series {
                    let labels = [
                        ("tenant", tenant.clone()),
                        ("route", route.clone()),
                        ("status", status.clone()),
                    ];
                    if histogram {
                        metrics::histogram!("latency_seconds", &labels).record(OBSERVATION);
                    } else {
                        metrics::counter!("requests_total", &labels).increment(1);
                    }
                }
            });
            Box::new(recorder)
        }
        "measured" => {
            if histogram {
                let family = measured::HistogramVec::<ThreeSet, 11>::with_label_set_and_metadata(
                    ThreeSet::default(),
                    Thresholds::with_buckets(BUCKETS),
                );
                for labels in series {
                    family.observe(three(labels), OBSERVATION);
                }
                Box::new(family)
            } else {
                let family = measured::CounterVec::with_label_set(ThreeSet::default());
                for labels in series {
                    family.inc(three(labels));
                }
                Box::new(family)
            }
        }
        other => panic!("unknown library {other}"),
    }
}

/// Allocations of one warm abacus scrape: a registry of `n` counter series and `n / 10`
/// histogram series (the render workload), rendered twice to warm the encoder and its
/// buffer, then counted around a third rendering.
fn scrape(n: usize) {
    let counters = three_label_series(n);
    let histograms = three_label_series(n / 10);
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
    for [a, b, c] in &counters {
        requests
            .with_labels(&[a.as_str(), b.as_str(), c.as_str()])
            .expect("valid")
            .inc();
    }
    for [a, b, c] in &histograms {
        latency
            .with_labels(&[a.as_str(), b.as_str(), c.as_str()])
            .expect("valid")
            .observe(OBSERVATION);
    }
    let mut encoder = abacus_prometheus::TextEncoder::new();
    let mut out = Vec::new();
    encoder.encode(&registry, &mut out);
    encoder.encode(&registry, &mut out);
    let before = counts();
    encoder.encode(&registry, &mut out);
    let after = counts();
    black_box(&out);
    let line = json!({
        "library": "abacus",
        "kind": "warm scrape",
        "series": n + n / 10,
        "allocations": after.allocations - before.allocations,
        "bytes": after.bytes - before.bytes,
        "output_bytes": out.len(),
    });
    println!("{line}");
}

/// One measurement, in this process: prints one JSON line.
fn child(library: &str, kind: &str, n: usize) {
    if kind == "scrape" {
        return scrape(n);
    }
    let series = three_label_series(n);
    let before = counts();
    let started = Instant::now();
    let state = create(library, kind, black_box(&series));
    let elapsed = started.elapsed();
    let after = counts();
    black_box(&state);
    let per = |total: f64| total / n as f64;
    let line = json!({
        "library": library,
        "kind": kind,
        "series": n,
        "bytes_per_series": per((after.bytes - before.bytes) as f64),
        "allocations_per_series": per((after.allocations - before.allocations) as f64),
        "live_allocations_per_series":
            per((after.live_allocations - before.live_allocations) as f64),
        "create_ns_per_series": per(elapsed.as_nanos() as f64),
    });
    println!("{line}");
    drop(state);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let n = args[4].parse().expect("a series count");
        child(&args[2], &args[3], n);
        return;
    }
    let n = sized(100_000, 1_000);
    let exe = std::env::current_exe().expect("the path of this binary");
    let mut results: Vec<Value> = Vec::new();
    println!(
        "memory per series, {n} series of 3 labels each, created and recorded once \
         (one fresh process each)"
    );
    println!(
        "{:<10} {:<18} {:>14} {:>14} {:>12} {:>14}",
        "kind", "library", "bytes/series", "allocs/series", "live allocs", "ns/series"
    );
    for kind in KINDS {
        for library in LIBRARIES {
            let output = Command::new(&exe)
                .args(["--child", library, kind, &n.to_string()])
                .output()
                .expect("the child process runs");
            assert!(
                output.status.success(),
                "{library} {kind}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let line = String::from_utf8(output.stdout).expect("UTF-8");
            let result: Value = serde_json::from_str(line.trim()).expect("one JSON line");
            let number = |key: &str| result[key].as_f64().expect("a number");
            println!(
                "{:<10} {:<18} {:>14.1} {:>14.2} {:>12.2} {:>14.0}",
                kind,
                library,
                number("bytes_per_series"),
                number("allocations_per_series"),
                number("live_allocations_per_series"),
                number("create_ns_per_series"),
            );
            results.push(result);
        }
    }
    let scrape_series = sized(10_000, 1_000);
    let output = Command::new(&exe)
        .args(["--child", "abacus", "scrape", &scrape_series.to_string()])
        .output()
        .expect("the child process runs");
    assert!(
        output.status.success(),
        "scrape: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = String::from_utf8(output.stdout).expect("UTF-8");
    let scrape: Value = serde_json::from_str(line.trim()).expect("one JSON line");
    println!(
        "abacus: one warm scrape of {} series ({} bytes of text) made {} allocations",
        scrape["series"], scrape["output_bytes"], scrape["allocations"]
    );
    if is_bench_run() {
        let dir = results_dir();
        std::fs::create_dir_all(&dir).expect("the results directory");
        let path = dir.join("memory.json");
        let document = json!({ "series": n, "results": results, "warm_scrape": scrape });
        std::fs::write(&path, format!("{document:#}\n")).expect("memory.json is written");
        println!("wrote {}", path.display());
    }
}
