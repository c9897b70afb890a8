//! abacus records metrics on the hot path of latency-sensitive programs: counters, gauges
//! and histograms whose handles record with a plain load and store to a per-thread cell,
//! with no hashing, no locking and no allocation.
//!
//! # Map
//!
//! - Registering: [`Registry`], [`Desc`], [`Buckets`]; a registration returns a
//!   [`Family`], which resolves label values to a handle. [`RegistryBuilder`] gives a
//!   registry a namespace and constant labels.
//! - Recording handles: [`Counter`] (and its thread-bound [`LocalCounter`]),
//!   [`FixedCounter`] for fractional amounts, [`Gauge`], [`FloatGauge`], [`Histogram`].
//! - Reading: [`Registry::visit`] with a [`Visitor`] (what exporters use),
//!   [`Registry::snapshot`] for an owned [`Snapshot`].
//! - Errors: [`Error`], with [`ConflictReason`] and [`BucketError`].
//!
//! # Example
//!
//! ```
//! use abacus::{Buckets, Desc, OwnedValue, Registry};
//!
//! let registry = Registry::new();
//! let tokens = registry.counter(Desc::new("tokens_total", "Tokens.").labels(["model"]))?;
//! let latency = registry.histogram(
//!     Desc::new("latency_seconds", "Request latency.").labels(["route"]),
//!     Buckets::new([0.1, 1.0])?,
//! )?;
//!
//! // Resolve once, keep the handles, record many times.
//! let gpt4o = tokens.with_labels(&["gpt-4o"])?;
//! let chat = latency.with_labels(&["chat"])?;
//! gpt4o.add(120);
//! chat.observe(0.25);
//!
//! let snapshot = registry.snapshot();
//! let family = snapshot.family("tokens").unwrap();
//! assert_eq!(family.series(&["gpt-4o"]), Some(&OwnedValue::Counter(120)));
//! let family = snapshot.family("latency_seconds").unwrap();
//! assert_eq!(
//!     family.series(&["chat"]),
//!     Some(&OwnedValue::Histogram { cumulative: vec![0, 1, 1], sum: 0.25 }),
//! );
//! # Ok::<(), abacus::Error>(())
//! ```
//!
//! # Design
//!
//! `docs/DESIGN.md` in the repository explains the cell layout, the memory each series
//! costs and why each ordering is what it is.

#![warn(missing_docs)]

mod cells;
mod error;
mod expiry;
mod family;
mod labels;
mod meta;
mod metrics;
mod name;
mod registry;
mod resolved;
mod series;
mod snapshot;
mod sync;

pub use crate::error::{BucketError, ConflictReason, Error};
pub use crate::family::{Family, OVERFLOW_LABEL};
pub use crate::labels::LabelValues;
pub use crate::meta::RegistryBuilder;
pub use crate::metrics::{
    Counter, FixedCounter, FloatGauge, Gauge, Histogram, LocalCounter, Metric,
};
pub use crate::registry::{Buckets, Desc, Registry, VisitBuffers};
pub use crate::snapshot::{
    FamilyInfo, FamilySnapshot, HistogramValue, Kind, OwnedValue, SeriesSnapshot, Snapshot, Value,
    Visitor,
};
