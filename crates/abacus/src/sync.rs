//! The synchronization primitives the crate uses, gathered in one place so that a checker
//! can be given other implementations without touching the metric code.

pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
pub(crate) use std::sync::{Arc, OnceLock, Weak};

#[cfg(not(miri))]
pub(crate) use parking_lot::{Mutex, RwLock, RwLockReadGuard};

// Under Miri the locks are the standard library's: parking_lot_core 0.9.12 passes an
// `&AtomicI32` to `syscall(SYS_futex, ..)` when a thread parks, which Miri rejects as
// undefined behaviour since rust-lang/rust#161734 types variadic arguments, whenever a
// test happens to contend a lock. Miri is here to check this crate's own unsafe code, and
// the locks only order folding against summing, the same with either implementation.
// TODO: drop this once a parking_lot_core release passes `*mut u32`.
#[cfg(miri)]
pub(crate) use self::std_locks::{Mutex, RwLock, RwLockReadGuard};

#[cfg(miri)]
mod std_locks {
    use std::sync::PoisonError;
    pub(crate) use std::sync::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};

    /// `std::sync::Mutex` with parking_lot's signature: a panic while locked does not
    /// poison it, as none of the crate's critical sections leaves its data inconsistent.
    #[derive(Default)]
    pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(std::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// `std::sync::RwLock` with parking_lot's signature; see [`Mutex`].
    #[derive(Default)]
    pub(crate) struct RwLock<T>(std::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            RwLock(std::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }
}
