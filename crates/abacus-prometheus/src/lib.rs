//! Prometheus exposition for [`abacus`] registries: renderers for the text format 0.0.4
//! and OpenMetrics 1.0 that reuse their buffers, parsers to read expositions back, a
//! `/metrics` HTTP server that negotiates the format and compression, and (with the
//! `remote-write` feature) a client that pushes a registry with the remote-write protocol.
//!
//! # Map
//!
//! - Rendering: [`TextEncoder`] (keeps its buffers between scrapes; [`encode`] for the
//!   text format, [`encode_as`] for either), [`render()`], [`render_text`] and
//!   [`render_openmetrics`] (one shot, into a `String`), [`Format`] with its
//!   [`content_type`](Format::content_type), [`TEXT_CONTENT_TYPE`],
//!   [`OPENMETRICS_CONTENT_TYPE`].
//! - Negotiating: [`Format::negotiate`] reads an `Accept` header, [`accepts_gzip`] an
//!   `Accept-Encoding` header.
//! - Serving: [`Exporter`] configures and starts the server, [`ExporterHandle`] reports
//!   its address and stops it when dropped; [`DEFAULT_ADDR`], [`METRICS_PATH`].
//! - Reading back: the [`parse`] module, [`parse_text`](parse::parse_text),
//!   [`parse_exposition`](parse::parse_exposition) and
//!   [`parse_openmetrics`](parse::parse_openmetrics), with their [`parse::ParseError`].
//!
//! - Pushing, with the `remote-write` feature: `RemoteWriter` configures and starts a
//!   remote-write 1.0 client, `RemoteWriterHandle` flushes and stops it, and
//!   `RemoteWriteError` says why it could not start or finish; see below.
//!
//! [`encode`]: TextEncoder::encode
//! [`encode_as`]: TextEncoder::encode_as
//!
//! Private modules: `render` (the visitor that writes families and series), `cache` (what
//! the encoder remembers of each family between scrapes), `number` (Go's float spelling,
//! `le` values, exact fixed-point decimals), `escape` (label values and help text),
//! `negotiate` (`Accept` and `Accept-Encoding`), `gzip` (a reusable gzip compressor),
//! `server` (hyper on a single-threaded tokio runtime), `admission` (which connections
//! the server keeps when more clients come than it serves at once), `remote_write` (the
//! push client).
//!
//! # Output
//!
//! Families come in registration order and series in creation order; a family without
//! series is left out. Each family's lines form one group: its metadata, then its samples.
//! Counters expose `name_total`; the text format's `# HELP` and `# TYPE` lines name that
//! sample, OpenMetrics' name the family without the suffix and add `# UNIT` for a family
//! with a unit. Histograms expose cumulative `_bucket` lines ending with `le="+Inf"`, then
//! `_sum` and `_count`, which always equals the `+Inf` bucket (OpenMetrics forbids a
//! negative or NaN sum, or any with a negative bound, and leaves both out then). Constant
//! labels come first on every line. Integers are written exactly, fixed-point counters as
//! exact decimals, floats in the shortest spelling that reads back to the same value, as
//! the Go client writes them (OpenMetrics adds `.0` to a whole float, as it requires), and
//! `le` values in the canonical form Prometheus 3 stores (`1.0`, not `1`). An OpenMetrics
//! exposition ends with `# EOF`.
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
//!
//! The same kinds in OpenMetrics, with a unit, a namespace and constant labels:
//!
//! ```
//! use abacus::{Buckets, Desc, Registry};
//! use abacus_prometheus::render_openmetrics;
//!
//! let registry = Registry::builder()
//!     .namespace("shop")
//!     .const_label("region", "eu")
//!     .build()?;
//! registry
//!     .counter(Desc::new("orders_total", "Orders \"placed\".").labels(["channel"]))?
//!     .with_labels(&["web"])?
//!     .add(2);
//! let latency = registry.histogram(
//!     Desc::new("checkout_seconds", "Checkout time.").unit("seconds"),
//!     Buckets::new([1.0])?,
//! )?;
//! latency.with_labels(&[])?.observe(0.5);
//! latency.with_labels(&[])?.observe(1.5);
//!
//! assert_eq!(
//!     render_openmetrics(&registry),
//!     r#"# TYPE shop_orders counter
//! ## HELP shop_orders Orders \"placed\".
//! shop_orders_total{region="eu",channel="web"} 2
//! ## TYPE shop_checkout_seconds histogram
//! ## UNIT shop_checkout_seconds seconds
//! ## HELP shop_checkout_seconds Checkout time.
//! shop_checkout_seconds_bucket{region="eu",le="1.0"} 1
//! shop_checkout_seconds_bucket{region="eu",le="+Inf"} 2
//! shop_checkout_seconds_sum{region="eu"} 2.0
//! shop_checkout_seconds_count{region="eu"} 2
//! ## EOF
//! "#
//! );
//! # Ok::<(), abacus::Error>(())
//! ```

//!
//! # Remote write
//!
//! Where nothing can scrape a process (behind NAT, short-lived jobs), the `remote-write`
//! feature pushes its registry instead, to anything that accepts Prometheus remote write
//! 1.0 (<https://prometheus.io/docs/concepts/remote_write_spec/>): Prometheus started with
//! `--web.enable-remote-write-receiver`, Grafana Mimir, Thanos Receive, Cortex,
//! VictoriaMetrics. A background thread takes a snapshot every interval, sends the series
//! the text exposition shows (counters with `_total`, histograms as `_bucket` with `le`,
//! `_sum` and `_count`) with the snapshot's timestamp, snappy-compressed, and queues
//! snapshots while the receiver is down: 5xx and timeouts are retried with a capped
//! exponential backoff and jitter, other 4xx dropped, 429 dropped unless retrying it is
//! enabled, and the oldest snapshot dropped when the queue is full. Every drop is
//! counted in the registry's own `abacus_remote_write_*` metrics. Plain HTTP only; TLS
//! is not included. `RemoteWriter`'s documentation has the details.
//!
//! ```no_run
//! # #[cfg(feature = "remote-write")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! use abacus::{Desc, Registry};
//! use abacus_prometheus::RemoteWriter;
//!
//! let registry = Registry::new();
//! let batches = registry
//!     .counter(Desc::new("batches_total", "Batches processed.").labels(["queue"]))?;
//! let emails = batches.with_labels(&["emails"])?;
//!
//! // A receiver on this host, such as Prometheus with its remote-write receiver on.
//! let writer = RemoteWriter::new("http://127.0.0.1:9090/api/v1/write")
//!     .interval(Duration::from_secs(10))
//!     .queue_capacity(6)
//!     .external_label("job", "mailer")
//!     .start(&registry)?;
//! for _ in 0..100 {
//!     emails.inc();
//! }
//! // The last snapshot goes out before this returns, or the error says what did not.
//! writer.shutdown(Duration::from_secs(5))?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "remote-write"))]
//! # fn main() {}
//! ```

#![warn(missing_docs)]

mod admission;
mod cache;
mod escape;
mod gzip;
mod negotiate;
mod number;
pub mod parse;
#[cfg(feature = "remote-write")]
mod remote_write;
mod render;
mod server;

pub use crate::negotiate::accepts_gzip;
pub use crate::render::{
    render, render_openmetrics, render_text, Format, TextEncoder, OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
};
pub use crate::server::{Exporter, ExporterHandle, DEFAULT_ADDR, METRICS_PATH};

#[cfg(feature = "remote-write")]
pub use crate::remote_write::{
    RemoteWriteError, RemoteWriter, RemoteWriterHandle, USER_AGENT_VALUE,
};

/// The README's example, compiled and run as a doc test so that it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExample;
