//! The synchronization primitives the crate uses, gathered in one place so that a model
//! checker can be swapped in for the standard ones without touching the metric code.

pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
pub(crate) use std::sync::{Arc, OnceLock, Weak};

pub(crate) use parking_lot::{Mutex, RwLock};
