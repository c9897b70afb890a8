//! The criterion side of the multi-thread harness, shared by the `threads` and `facade`
//! benches (`#[path]` modules: each bench target is its own crate, and the library crate
//! does not depend on criterion). The timing itself is `abacus_benches::time_threads`.

use abacus_benches::time_threads;
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;

/// Benches `name` on `threads` threads; `make(thread)` builds each thread's operation.
/// `after(operations)` runs after each sample, untimed, with the number of operations the
/// sample made: the benches check their totals with it.
pub(crate) fn bench<F, Op>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    threads: usize,
    make: F,
    after: impl Fn(u64),
) where
    F: Fn(usize) -> Op + Sync,
    Op: FnMut(),
{
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let elapsed = time_threads(threads, iters, &make);
            after(iters * threads as u64);
            elapsed
        })
    });
}
