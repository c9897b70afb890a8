//! The `metrics` facade: the same `counter!` calls recorded by abacus-metrics and by
//! `metrics-exporter-prometheus`, from 1 and from 2 threads at once. Three workloads: the
//! macro with static labels, the macro with a label value taken from a `String` at run
//! time, and a handle the macro returned, kept and incremented.
//!
//! Both recorders are built with `build_recorder()` (no listener) and run the very same
//! operation through the multi-thread harness of the `threads` bench. A local recorder
//! belongs to one thread, so every bench thread sets its recorder before the barrier with
//! `metrics::set_default_local_recorder` (the guard form of `with_local_recorder`) and
//! unsets it after its timing; the macros look it up on every call, as they would the
//! global one. Every series of a workload exists before the timing, so the loop finds
//! series and never creates one. After each sample, untimed, each recorder's own
//! rendering must hold every increment made so far, in the workload's series and no
//! others.

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use abacus_benches::threads_group;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use metrics::{counter, Recorder};

#[path = "shared/threaded.rs"]
mod threaded;
use threaded::bench;

/// How many call sites with static labels the static workload rotates over.
const SITES: usize = 4;
/// How many tenants the dynamic workload rotates over.
const TENANTS: usize = 100;

/// The workloads, as the group names spell them (before "from 1 thread").
const STATIC: &str = "counter! with static labels";
const DYNAMIC: &str = "counter! with a dynamic label";
const KEPT: &str = "kept counter! handle increment";

/// One call site per value of `site`, each with literal labels: the macro makes each
/// site's key a `static` whose hash is computed at compile time, as in a program that
/// names its label values in the source.
fn static_site(site: usize) -> metrics::Counter {
    match site {
        0 => counter!("requests_total", "route" => "/api/v1/users", "status" => "200"),
        1 => counter!("requests_total", "route" => "/api/v1/users", "status" => "500"),
        2 => counter!("requests_total", "route" => "/api/v1/orders", "status" => "200"),
        _ => counter!("requests_total", "route" => "/api/v1/orders", "status" => "500"),
    }
}

/// Benches `make`'s operation on both recorders, each fresh, from `threads` threads at
/// once. `series` calls of the operation made by `make(0)` visit every series of the
/// workload.
fn compare<F, Op>(c: &mut Criterion, workload: &str, threads: usize, series: usize, make: F)
where
    F: Fn(usize) -> Op + Sync,
    Op: FnMut(),
{
    let mut group = c.benchmark_group(threads_group(workload, threads));

    let ours = abacus_metrics::PrometheusBuilder::new().build_recorder();
    let handle = ours.handle();
    on_recorder(
        &mut group,
        "abacus-metrics",
        &ours,
        threads,
        series,
        &make,
        || handle.render(),
    );

    let incumbent = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = incumbent.handle();
    on_recorder(
        &mut group,
        "metrics-exporter-prometheus",
        &incumbent,
        threads,
        series,
        &make,
        || handle.render(),
    );

    group.finish();
}

/// Creates the workload's series on `recorder` (so the timing only finds them), then
/// benches the workload on it.
fn on_recorder<R, F, Op>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    library: &str,
    recorder: &R,
    threads: usize,
    series: usize,
    make: &F,
    render: impl Fn() -> String,
) where
    R: Recorder + Sync,
    F: Fn(usize) -> Op + Sync,
    Op: FnMut(),
{
    metrics::with_local_recorder(recorder, || {
        let mut op = make(0);
        for _ in 0..series {
            op();
        }
    });
    let expected = Cell::new(series as u64);
    bench(
        group,
        library,
        threads,
        |thread| {
            let local = metrics::set_default_local_recorder(recorder);
            let mut op = make(thread);
            move || {
                op();
                // The operation owns the guard, so the recorder stays set on this thread
                // until the timing is over.
                let _set = &local;
            }
        },
        |operations| {
            expected.set(expected.get() + operations);
            assert_eq!(
                requests_total(&render()),
                (series, expected.get()),
                "{library}: series and their sum"
            );
        },
    );
}

/// How many `requests_total` series a rendering holds, and the sum of their values.
fn requests_total(text: &str) -> (usize, u64) {
    text.lines()
        .filter(|line| line.starts_with("requests_total"))
        .map(|line| {
            let value = line.rsplit(' ').next().unwrap_or_default();
            value.parse::<u64>().unwrap_or_else(|_| panic!("{line:?}"))
        })
        .fold((0, 0), |(count, sum), value| (count + 1, sum + value))
}

fn static_labels(c: &mut Criterion, threads: usize) {
    compare(c, STATIC, threads, SITES, |thread| {
        // Each thread starts at its own place in the rotation.
        let mut site = thread * SITES / 2;
        move || {
            site = (site + 1) % SITES;
            static_site(black_box(site)).increment(1)
        }
    });
}

fn dynamic_label(c: &mut Criterion, threads: usize) {
    // Visited in a scrambled order, as the 100 series of the per-call workload are.
    let tenants: Vec<String> = (0..TENANTS)
        .map(|i| format!("tenant-{:03}", i * 37 % TENANTS))
        .collect();
    let tenants = &tenants;
    compare(c, DYNAMIC, threads, TENANTS, |thread| {
        let mut i = thread * TENANTS / 2;
        move || {
            i = if i + 1 == TENANTS { 0 } else { i + 1 };
            // `metrics` labels own their values: a value known only at run time is a
            // `String` cloned into every call's key.
            let tenant = black_box(&tenants[i]).clone();
            counter!("requests_total", "route" => "/api/v1/users", "tenant" => tenant).increment(1)
        }
    });
}

fn kept_handle(c: &mut Criterion, threads: usize) {
    compare(c, KEPT, threads, 1, |_| {
        let requests = static_site(0);
        move || black_box(&requests).increment(1)
    });
}

fn one_thread(c: &mut Criterion) {
    static_labels(c, 1);
    dynamic_label(c, 1);
    kept_handle(c, 1);
}

fn two_threads(c: &mut Criterion) {
    static_labels(c, 2);
    dynamic_label(c, 2);
    kept_handle(c, 2);
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
