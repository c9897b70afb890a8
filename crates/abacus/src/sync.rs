//! The synchronization primitives the crate uses, gathered in one place so that a checker
//! can be given other implementations without touching the metric code.
//!
//! | build | atomics, `Arc` | locks | thread-locals |
//! |---|---|---|---|
//! | normal | `std` | `parking_lot` | `std` |
//! | `cfg(miri)` | `std` | `std`, with `parking_lot`'s signatures | `std` |
//! | `cfg(loom)` | `loom` (`Arc`: `std`) | `loom`, with `parking_lot`'s signatures | `loom` |
//!
//! Under loom, `Arc` stays the standard library's (loom's has no weak references), and
//! `OnceLock` gains a loom-visible flag so that a page created by one thread and read by
//! another is seen as published: loom cannot see the standard library's own atomics.

pub(crate) use std::sync::{Arc, Weak};

#[cfg(not(loom))]
pub(crate) use std::sync::OnceLock;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Thread-locals with constant initializers: the standard library's, whose `const`
/// initialization makes access a plain thread-relative load, or loom's.
macro_rules! thread_locals {
    ($($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;)*) => {
        $(
            #[cfg(not(loom))]
            std::thread_local! { $(#[$attr])* static $name: $t = const { $init }; }
            #[cfg(loom)]
            $(#[$attr])*
            static $name: $crate::sync::LoomLocal<$t> = $crate::sync::LoomLocal::new(|| $init);
        )*
    };
}
pub(crate) use thread_locals;

/// A thread-local under loom, kept with all the others in one loom thread-local.
///
/// loom 0.7 drops a thread's thread-locals in the iteration order of a `std` `HashMap`,
/// whose random seed changes with every execution. Two of ours do loom operations when
/// dropped (a shard's `release_writer`, a per-call memory's `Pin`s), so in separate
/// loom thread-locals their order would differ between executions of one model: loom
/// requires each execution to replay the same operations, and its scheduler then spins
/// forever. Here they are dropped in one fixed order, that of their first use.
#[cfg(loom)]
pub(crate) struct LoomLocal<T> {
    slot: std::sync::OnceLock<usize>,
    init: fn() -> T,
}

#[cfg(loom)]
const LOOM_LOCALS: usize = 8;

#[cfg(loom)]
struct LoomLocals([std::cell::OnceCell<Box<dyn std::any::Any>>; LOOM_LOCALS]);

#[cfg(loom)]
impl Drop for LoomLocals {
    fn drop(&mut self) {
        // Meanwhile every `LoomLocal` of this thread reports `AccessError`, as loom's own do
        // once dropped.
        for slot in &mut self.0 {
            drop(slot.take());
        }
    }
}

#[cfg(loom)]
loom::thread_local! {
    static LOOM_LOCALS_OF_THREAD: LoomLocals = LoomLocals(Default::default());
}

#[cfg(loom)]
impl<T: 'static> LoomLocal<T> {
    pub(crate) const fn new(init: fn() -> T) -> Self {
        LoomLocal {
            slot: std::sync::OnceLock::new(),
            init,
        }
    }

    pub(crate) fn try_with<R>(
        &'static self,
        f: impl FnOnce(&T) -> R,
    ) -> Result<R, loom::thread::AccessError> {
        // Outside any model: slots are numbered once per process, in order of first use.
        static NEXT_SLOT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let slot = *self
            .slot
            .get_or_init(|| NEXT_SLOT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        LOOM_LOCALS_OF_THREAD.try_with(|locals| {
            let cell = &locals.0[slot];
            let value = match cell.get() {
                Some(value) => value,
                None => {
                    let value: Box<dyn std::any::Any> = Box::new((self.init)());
                    cell.get_or_init(|| value)
                }
            };
            f(value.downcast_ref::<T>().expect("one type per slot"))
        })
    }
}

#[cfg(not(any(miri, loom)))]
pub(crate) use parking_lot::{Mutex, RwLock, RwLockReadGuard};

// Under Miri the locks are the standard library's: parking_lot_core 0.9.12 passes an
// `&AtomicI32` to `syscall(SYS_futex, ..)` when a thread parks, which Miri rejects as
// undefined behaviour since rust-lang/rust#161734 types variadic arguments, whenever a
// test happens to contend a lock. Miri is here to check this crate's own unsafe code, and
// the locks only order folding against summing, the same with either implementation.
// TODO: drop this once a parking_lot_core release passes `*mut u32`.
#[cfg(all(miri, not(loom)))]
pub(crate) use self::checked_locks::{Mutex, RwLock, RwLockReadGuard};

#[cfg(loom)]
pub(crate) use self::checked_locks::{Mutex, RwLock, RwLockReadGuard};

/// `std::sync::OnceLock` with its publication made visible to loom.
#[cfg(loom)]
pub(crate) struct OnceLock<T> {
    value: std::sync::OnceLock<T>,
    published: loom::sync::atomic::AtomicBool,
    initializing: loom::sync::Mutex<()>,
}

#[cfg(loom)]
impl<T> OnceLock<T> {
    pub(crate) fn new() -> Self {
        OnceLock {
            value: std::sync::OnceLock::new(),
            published: loom::sync::atomic::AtomicBool::new(false),
            initializing: loom::sync::Mutex::new(()),
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        // Acquire: pairs with the Release below, after which the value is written.
        if self.published.load(Ordering::Acquire) {
            self.value.get()
        } else {
            None
        }
    }

    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        let _initializing = self.initializing.lock();
        let value = self.value.get_or_init(init);
        self.published.store(true, Ordering::Release);
        value
    }
}

#[cfg(any(miri, loom))]
mod checked_locks {
    use std::sync::PoisonError;

    #[cfg(not(loom))]
    use std::sync as imp;

    #[cfg(loom)]
    use loom::sync as imp;

    pub(crate) use imp::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};

    /// A mutex with parking_lot's signature: a panic while locked does not poison it, as
    /// none of the crate's critical sections leaves its data inconsistent.
    pub(crate) struct Mutex<T>(imp::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(imp::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// A reader-writer lock with parking_lot's signature; see [`Mutex`].
    pub(crate) struct RwLock<T>(imp::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            RwLock(imp::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }
}
