//! Prometheus exposition for [`abacus`] registries: a text format 0.0.4 renderer that
//! reuses its buffers, a parser to read expositions back, and a `/metrics` HTTP server.
//!
//! # Map
//!
//! - Rendering: [`TextEncoder`] (keeps its buffers between scrapes), [`render_text`] (one
//!   shot, into a `String`), [`TEXT_CONTENT_TYPE`].
//! - Serving: [`Exporter`] configures and starts the server, [`ExporterHandle`] reports
//!   its address and stops it when dropped; [`DEFAULT_ADDR`], [`METRICS_PATH`].
//! - Reading back: the [`parse`] module, [`parse_text`](parse::parse_text) and
//!   [`parse_exposition`](parse::parse_exposition), with their [`parse::ParseError`].
//!
//! Private modules: `render` (the visitor that writes families and series), `number`
//! (Go's float spelling, `le` values, exact fixed-point decimals), `escape` (label values
//! and help text), `server` (hyper on a single-threaded tokio runtime).
//!
//! # Output
//!
//! Families come in registration order and series in creation order; a family without
//! series is left out. Counters expose `name_total`. Histograms expose cumulative
//! `_bucket` lines ending with `le="+Inf"`, then `_sum` and `_count`, which always equals
//! the `+Inf` bucket. Integers are written exactly, fixed-point counters as exact decimals,
//! floats in the shortest spelling that reads back to the same value, as the Go client
//! writes them, and `le` values in the canonical form Prometheus 3 stores (`1.0`, not `1`).
//!
//! ```
//! use abacus::{Buckets, Desc, Registry};
//! use abacus_prometheus::render_text;
//!
//! let registry = Registry::new();
//! let requests = registry.counter(
//!     Desc::new("http_requests_total", "Requests served.").labels(["route", "status"]),
//! )?;
//! requests.with_labels(&["/api", "200"])?.add(3);
//! requests.with_labels(&["/say \"hi\"", "500"])?.inc();
//! let in_flight = registry.gauge(Desc::new("in_flight_requests", "Requests in progress."))?;
//! in_flight.with_labels(&[])?.set(-2);
//! let latency = registry.histogram(
//!     Desc::new("latency_seconds", "Request latency.\nIn seconds.").labels(["route"]),
//!     Buckets::new([0.25, 1.0])?,
//! )?;
//! let api = latency.with_labels(&["/api"])?;
//! api.observe(0.25);
//! api.observe(0.5);
//! api.observe(2.0);
//! // Registered, but no series yet: not rendered.
//! registry.gauge(Desc::new("queue_depth", "Jobs waiting.").labels(["queue"]))?;
//!
//! assert_eq!(
//!     render_text(&registry),
//!     r#"# HELP http_requests_total Requests served.
//! ## TYPE http_requests_total counter
//! http_requests_total{route="/api",status="200"} 3
//! http_requests_total{route="/say \"hi\"",status="500"} 1
//! ## HELP in_flight_requests Requests in progress.
//! ## TYPE in_flight_requests gauge
//! in_flight_requests -2
//! ## HELP latency_seconds Request latency.\nIn seconds.
//! ## TYPE latency_seconds histogram
//! latency_seconds_bucket{route="/api",le="0.25"} 1
//! latency_seconds_bucket{route="/api",le="1.0"} 2
//! latency_seconds_bucket{route="/api",le="+Inf"} 3
//! latency_seconds_sum{route="/api"} 2.75
//! latency_seconds_count{route="/api"} 3
//! "#
//! );
//! # Ok::<(), abacus::Error>(())
//! ```

#![warn(missing_docs)]

mod escape;
mod number;
pub mod parse;
mod render;
mod server;

pub use crate::render::{render_text, TextEncoder, TEXT_CONTENT_TYPE};
pub use crate::server::{Exporter, ExporterHandle, DEFAULT_ADDR, METRICS_PATH};

/// The README's example, compiled and run as a doc test so that it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExample;
