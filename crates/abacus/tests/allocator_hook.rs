//! Regression: a global allocator that counts its allocations in an abacus counter used to
//! deadlock, because a thread's first record allocates a page and that allocation records
//! again, re-entering the page's initialisation.

// A global allocator is unsafe to implement; this test binary needs one.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use abacus::{Counter, Desc, Registry};

static ALLOCATED_BYTES: OnceLock<Counter> = OnceLock::new();

struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so it
// upholds `GlobalAlloc`'s contract exactly as `System` does; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(counter) = ALLOCATED_BYTES.get() {
            counter.add(layout.size() as u64);
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
fn recording_from_inside_the_allocator_neither_deadlocks_nor_loses_counts() {
    let registry = Registry::new();
    let counter = registry
        .counter(Desc::new("allocated_bytes", "Bytes allocated."))
        .unwrap()
        .without_labels()
        .unwrap();
    // Installed and used on a new thread, whose first record must create its shard and
    // page; a hang leaves the channel silent and this thread reports it.
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = ALLOCATED_BYTES.set(counter.clone());
        let before = counter.value();
        let buffer: Vec<u8> = Vec::with_capacity(1000);
        drop(buffer);
        done_tx.send(counter.value() - before).unwrap();
    });
    let counted = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the recording thread finished instead of deadlocking");
    // At least the 1,000 bytes of the buffer; the thread's own shard and page add more.
    assert!(counted >= 1000, "{counted}");
}
