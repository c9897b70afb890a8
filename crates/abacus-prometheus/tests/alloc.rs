//! A warm encoder allocates nothing: scrapes of a registry whose shape has not changed
//! since the last one only copy remembered bytes and spell numbers into reused buffers.
//!
//! The global allocator counts allocations per thread, so the test harness and any other
//! thread cannot disturb the count.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use abacus::{Buckets, Desc, Registry};
use abacus_prometheus::{Format, TextEncoder};

/// The system allocator, counting the allocations and reallocations of each thread.
struct CountingAllocator;

thread_local! {
    // Const-initialised and without a destructor, so reading it never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with` because a thread being torn down may still free memory.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every method hands its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; counting touches only a thread-local integer.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's guarantees for `alloc` are those `System.alloc` needs.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's guarantees for `alloc_zeroed` are those `System` needs.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Families of every kind, with and without labels, escapes, one without series, and
/// enough series that buffers must grow on the first scrape.
fn registry() -> Result<Registry, abacus::Error> {
    let registry = Registry::new();
    let requests = registry.counter(
        Desc::new("requests_total", "Requests \\ served.\nAll of them.")
            .labels(["method", "route"]),
    )?;
    let latency = registry.histogram(
        Desc::new("latency_seconds", "Latency.").labels(["route"]),
        Buckets::default_seconds(),
    )?;
    for i in 0..500u32 {
        let route = format!("/api/\"{i}\"");
        requests
            .with_labels(&["GET", &route])?
            .add(u64::from(i) * 1_000_003);
        latency.with_labels(&[&route])?.observe(f64::from(i) / 7.0);
    }
    registry
        .gauge(Desc::new("depth", "Depth."))?
        .with_labels(&[])?
        .set(-3);
    registry
        .float_gauge(Desc::new("ratio", ""))?
        .with_labels(&[])?
        .set(1.0 / 3.0);
    registry
        .fixed_counter(Desc::new("cost", "Cost.").labels(["team"]), 9)?
        .with_labels(&["a"])?
        .add(0.125);
    registry
        .histogram(Desc::new("sizes", "Sizes."), Buckets::new([1.0, 1e10])?)?
        .with_labels(&[])?
        .observe(5.5);
    registry.gauge(Desc::new("idle", "No series.").labels(["worker"]))?;
    Ok(registry)
}

/// Allocations made by one encode.
fn allocations_of_encode(encoder: &mut TextEncoder, registry: &Registry, out: &mut Vec<u8>) -> u64 {
    let before = allocations();
    encoder.encode(registry, out);
    allocations() - before
}

/// Allocations made by one encode in `format`.
fn allocations_of_encode_as(
    encoder: &mut TextEncoder,
    registry: &Registry,
    format: Format,
    out: &mut Vec<u8>,
) -> u64 {
    let before = allocations();
    encoder.encode_as(registry, format, out);
    allocations() - before
}

#[test]
fn a_warm_encoder_allocates_nothing() -> Result<(), abacus::Error> {
    let registry = registry()?;
    let mut encoder = TextEncoder::new();
    let mut out = Vec::new();

    let first = allocations_of_encode(&mut encoder, &registry, &mut out);
    assert!(
        first > 0,
        "the first scrape builds the caches; is the allocator counting?"
    );
    let rendered = out.clone();
    assert_eq!(allocations_of_encode(&mut encoder, &registry, &mut out), 0);
    assert_eq!(allocations_of_encode(&mut encoder, &registry, &mut out), 0);
    assert_eq!(out, rendered);

    // A new series costs its rendering once; the scrapes after it are free again.
    registry
        .counter(
            Desc::new("requests_total", "Requests \\ served.\nAll of them.")
                .labels(["method", "route"]),
        )?
        .with_labels(&["POST", "/new"])?
        .inc();
    allocations_of_encode(&mut encoder, &registry, &mut out);
    assert_eq!(allocations_of_encode(&mut encoder, &registry, &mut out), 0);
    assert_eq!(allocations_of_encode(&mut encoder, &registry, &mut out), 0);
    Ok(())
}

#[test]
fn a_warm_encoder_allocates_nothing_in_openmetrics_or_alternating() -> Result<(), abacus::Error> {
    let registry = registry()?;
    let mut encoder = TextEncoder::new();
    let mut text = Vec::new();
    let mut openmetrics = Vec::new();
    let first = allocations_of_encode_as(
        &mut encoder,
        &registry,
        Format::OpenMetrics,
        &mut openmetrics,
    );
    assert!(first > 0, "is the allocator counting?");
    let rendered = openmetrics.clone();
    assert!(rendered.ends_with(b"# EOF\n"));
    assert_eq!(
        allocations_of_encode_as(
            &mut encoder,
            &registry,
            Format::OpenMetrics,
            &mut openmetrics
        ),
        0
    );
    assert_eq!(openmetrics, rendered);
    // The text format shares the cache: once its output buffer has grown, scrapes in
    // either format, in any order, allocate nothing.
    encoder.encode_as(&registry, Format::Text, &mut text);
    for format in [
        Format::Text,
        Format::OpenMetrics,
        Format::Text,
        Format::OpenMetrics,
    ] {
        let out = match format {
            Format::Text => &mut text,
            Format::OpenMetrics => &mut openmetrics,
        };
        assert_eq!(
            allocations_of_encode_as(&mut encoder, &registry, format, out),
            0,
            "{format:?}"
        );
    }
    Ok(())
}
