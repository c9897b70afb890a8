//! A global allocator that counts every allocation twice, in an abacus counter and in a
//! plain atomic: the two must agree, although abacus allocates (a thread's shard, its
//! pages, the shared page a thread's exit folds into) while that counter records.

// A global allocator is unsafe to implement; this test binary needs one.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::OnceLock;

use abacus::{Counter, Desc, Registry};

static ALLOCATIONS: OnceLock<Counter> = OnceLock::new();
static ALLOCATIONS_SEEN: AtomicU64 = AtomicU64::new(0);

struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so it
// upholds `GlobalAlloc`'s contract exactly as `System` does; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(counter) = ALLOCATIONS.get() {
            ALLOCATIONS_SEEN.fetch_add(1, SeqCst);
            counter.inc();
        }
        // SAFETY: the caller's layout is passed on as it came.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through `alloc` above) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn every_allocation_counted_from_inside_the_allocator_is_kept() {
    let registry = Registry::new();
    // Many series first, so that the counter's cells sit in a page of their own that no
    // thread has written yet.
    let filler = registry
        .counter(Desc::new("filler", "Filler.").labels(["i"]))
        .unwrap();
    for i in 0..3000 {
        filler.with_labels(&[&i.to_string()]).unwrap();
    }
    let counter = registry
        .counter(Desc::new("allocations", "Allocations."))
        .unwrap()
        .without_labels()
        .unwrap();
    ALLOCATIONS.set(counter.clone()).unwrap();
    // Threads whose first record creates their shard and page while the counter records
    // those very allocations, and whose exit folds into a shared page created then.
    for round in 0..4 {
        std::thread::spawn(move || {
            let buffers: Vec<Vec<u8>> = (0..100).map(|i| vec![0; i + round]).collect();
            drop(buffers);
        })
        .join()
        .unwrap();
    }
    // The harness may allocate on other threads meanwhile; count until both agree at a
    // moment when nothing allocates between the two reads.
    let agreed = (0..1000).any(|_| {
        let before = ALLOCATIONS_SEEN.load(SeqCst);
        let recorded = counter.value();
        let after = ALLOCATIONS_SEEN.load(SeqCst);
        before == after && recorded == before
    });
    assert!(
        agreed,
        "recorded {} of {} allocations",
        counter.value(),
        ALLOCATIONS_SEEN.load(SeqCst)
    );
}
