//! A recorder for the [`metrics`] facade on the abacus core and exporter: a program that
//! records with `counter!`, `gauge!` and `histogram!` and exports with
//! `metrics-exporter-prometheus` switches by renaming the crate it builds its recorder
//! with.
//!
//! # Map
//!
//! - Configuring: [`PrometheusBuilder`], with [`Matcher`] for per-name buckets,
//!   [`MetricKindMask`] for the idle timeout, [`DEFAULT_LISTEN_ADDR`].
//! - Recording: [`PrometheusRecorder`] implements [`metrics::Recorder`]; install it
//!   globally ([`PrometheusBuilder::install`], [`PrometheusRecorder::install`]) or use it
//!   locally ([`metrics::with_local_recorder`]).
//! - Reading: [`PrometheusHandle`] renders the exposition, gives the abacus
//!   [`Registry`](abacus::Registry) behind it and the keys it refused.
//! - Errors: [`BuildError`]; refused keys as [`Refusal`], with their [`MetricKind`] and a
//!   [`RefusalReason`].
//!
//! Private modules: `builder`, `recorder`, `kinds` (the three handle wrappers),
//! `lookup` (the per-call table keyed by the key's hash), `catalog` (registration),
//! `sanitize` (name rules), `error`.
//!
//! # Example
//!
//! ```
//! use abacus_metrics::PrometheusBuilder;
//!
//! let recorder = PrometheusBuilder::new()
//!     .add_global_label("service", "api")
//!     .set_buckets(&[0.1, 1.0])?
//!     .build_recorder();
//! let handle = recorder.handle();
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::describe_counter!("http.requests", "Requests served.");
//!     metrics::counter!("http.requests", "route" => "/a", "status" => "200").increment(2);
//!     // The same labels in another order are the same series.
//!     metrics::counter!("http.requests", "status" => "200", "route" => "/a").increment(1);
//!     // Other label names under the same name: the same metric family.
//!     metrics::counter!("http.requests", "route" => "/b").increment(1);
//!     metrics::gauge!("queue-depth").set(3.5);
//!     metrics::histogram!("latency_seconds").record(0.25);
//! });
//! let expected = r#"# HELP http_requests Requests served.
//! ## TYPE http_requests counter
//! http_requests{route="/a",service="api",status="200"} 3
//! http_requests{route="/b",service="api"} 1
//! ## TYPE queue_depth gauge
//! queue_depth{service="api"} 3.5
//! ## TYPE latency_seconds histogram
//! latency_seconds_bucket{service="api",le="0.1"} 0
//! latency_seconds_bucket{service="api",le="1.0"} 1
//! latency_seconds_bucket{service="api",le="+Inf"} 1
//! latency_seconds_sum{service="api"} 0.25
//! latency_seconds_count{service="api"} 1
//! "#;
//! assert_eq!(handle.render(), expected);
//! # Ok::<(), abacus_metrics::BuildError>(())
//! ```
//!
//! # How keys become series
//!
//! The macros call the recorder on every use. The recorder finds the key's handle with one
//! lookup in a sharded table keyed by [`metrics::Key::get_hash`], which `metrics`
//! computes when it builds the key; a hit compares the real key, so keys that share a hash
//! never share a series. Only a key the recorder has not seen goes further: its name and
//! labels are sanitized, its labels sorted, and the abacus series behind it resolved, once.
//! The handle returned is backed by that abacus handle, so a caller that keeps a
//! `metrics::Counter` records with no lookup at all.
//!
//! An abacus family has fixed label names; a `metrics` name may come with different ones
//! from call to call. Each name gets one abacus family per set of label names, registered
//! with [`Desc::shared_name`](abacus::Desc::shared_name): the registry keeps them
//! together and the exporter writes them as one metric family, with one `# HELP` and one
//! `# TYPE` and its samples in one block.
//!
//! # Names and labels
//!
//! Names the facade allows and Prometheus does not are rewritten once, when a key is
//! first seen:
//!
//! | given | exposed | rule |
//! | --- | --- | --- |
//! | `http.requests-total` | `http_requests_total` | a character outside `[a-zA-Z0-9_:]` (names) or `[a-zA-Z0-9_]` (labels) becomes `_`, one per character |
//! | `host:port` (metric name) | `host:port` | colons stay in metric names |
//! | `host:port` (label name) | `host_port` | but not in label names |
//! | `9lives` | `_9lives` | a leading digit is kept behind an underscore |
//! | `__name__` (label name) | `_name__` | a leading run of underscores becomes one: `__` is reserved |
//! | `le` (label of a histogram) | `_le` | the buckets' own label |
//! | `""` (metric or label name) | refused | no name could stand in for it |
//!
//! Keys that end up with the same name and labels are one series: `a.b` and `a_b` record
//! into the same cells, as do the same labels given in two orders. Labels are sorted by
//! name. Of two labels with one name after sanitizing, the later one given wins, and a
//! key's own label wins over a [global label](PrometheusBuilder::add_global_label). A
//! label with an empty value is left out, as Prometheus treats it as absent. Carriage
//! returns in help text become line feeds.
//!
//! A key the recorder refuses gets a handle that records nothing, and is listed by
//! [`PrometheusHandle::refusals`]: an empty name, an empty label name, or what the abacus
//! registry refuses, such as a name already registered as another kind, a name whose
//! samples another family exposes (a gauge `x_total` beside a counter `x`), or a label
//! value with a carriage return.
//!
//! # Counters, gauges, histograms
//!
//! Counters are abacus [`Counter`](abacus::Counter)s: `u64`, saturating at `u64::MAX`.
//! `absolute(v)` raises a counter to `v` if it is lower by adding the difference, and
//! does nothing otherwise, so a counter never goes down; two `absolute` calls never both
//! add one difference. It reads the total over all threads, as a scrape does, so it is for
//! synchronizing with a count kept elsewhere rather than for hot paths. Gauges are abacus
//! [`FloatGauge`](abacus::FloatGauge)s. Histograms are abacus
//! [`Histogram`](abacus::Histogram)s: each value goes into its bucket when it is recorded,
//! so nothing grows between scrapes.
//!
//! Without recommended naming a name is exposed as given, sanitized: a counter `jobs` is
//! `jobs`, not `jobs_total`. [`PrometheusBuilder::with_recommended_naming`] adds `_total`
//! to counters that lack it and the described unit to names (`latency` in seconds becomes
//! `latency_seconds`). A description's help text is kept whatever its unit. The text
//! format 0.0.4 has no line for units; in OpenMetrics a family gets a `# UNIT` line when
//! its exposed name ends with the unit, as that format requires (with recommended naming,
//! or when the name was chosen so), and none otherwise.
//!
//! # Not yet
//!
//! - A description given after a name's first use is kept but not rendered: the core
//!   fixes a family's help text when it registers it. Describe names before recording
//!   into them, as is usual.
//!
//! # Beside `metrics-exporter-prometheus` 0.18
//!
//! | knob | here |
//! | --- | --- |
//! | `PrometheusBuilder::new`, `Default` | same |
//! | `with_http_listener(addr)` | same, and the same default, `0.0.0.0:9000`. Different: serves `GET` and `HEAD` of `/metrics` only (404 on other paths), through [`abacus_prometheus::Exporter`] on a thread of its own |
//! | `add_global_label(k, v)` | same: applied to every series, a key's own label wins. Different: a global label with an empty name is ignored |
//! | `set_buckets(&[f64])` | same. Different: the bounds must be strictly increasing, without NaN, at most 256 ([`BuildError::InvalidBuckets`]) |
//! | `set_buckets_for_metric(Matcher, &[f64])` | same, with [`Matcher`]`::{Full, Prefix, Suffix}` on sanitized names; full before prefix before suffix. Different: of two matchers of one kind the longer string wins (the incumbent takes the alphabetically first) |
//! | histograms without configured buckets | different: [`Buckets::default_seconds`](abacus::Buckets::default_seconds) (the Prometheus clients' default); the incumbent renders them as summaries |
//! | `set_quantiles`, `set_bucket_duration`, `set_bucket_count` | missing: no summaries |
//! | `set_native_histogram_for_metric` | missing: no native histograms |
//! | `idle_timeout(MetricKindMask, Option<Duration>)` | same: idle series of the masked kinds disappear, judged by their values (see [`abacus::Registry`]'s "Idle expiry"), after their timeout and at most two scrape intervals more. Different: a handle the program keeps keeps its series (the incumbent drops it, and later updates through it are lost); unheld handles are let go of at every render, `run_upkeep`, and every half timeout (50 ms to 5 s) when the recorder has a listener |
//! | `upkeep_timeout(Duration)` | accepted, not needed: there is nothing to drain |
//! | `with_recommended_naming(bool)` | same. Different: `_total` is added to a counter whose name does not end in `_total` (the incumbent checks for `total`) |
//! | `set_enable_unit_suffix(bool)` | same (deprecated there in favour of recommended naming) |
//! | `install()` | same: global recorder plus listener. A second install returns [`BuildError::AlreadyInstalled`] with the recorder |
//! | `install_recorder()` | same: global recorder, no listener, returns the handle |
//! | `build()` | different: returns the recorder with its listener already serving (owned by the recorder) instead of a recorder and a future to spawn |
//! | `build_recorder()` | same |
//! | `with_push_gateway`, `with_http_uds_listener`, `add_allowed_address` | missing |
//! | `PrometheusHandle::render`, `render_to_write` | same format (text 0.0.4). Different: families in registration order rather than hash order, labels sorted by name, no blank line between families, numbers spelled as the Go client spells them (`1.0` in `le`) |
//! | `PrometheusHandle::run_upkeep` | different: lets go of the handles only the recorder holds, so that idle series can expire; there is nothing to drain |
//! | `render_protobuf`, `render_protobuf_to_write` | missing |
//! | a description given after the name's first use | different: kept but not rendered, since the core fixes a family's help text when it is registered; describe before recording, as is usual |
//! | extra here | [`PrometheusHandle::registry`], [`PrometheusHandle::listen_addr`], [`PrometheusHandle::refusals`], [`PrometheusRecorder::install`] |

#![warn(missing_docs)]

mod builder;
mod catalog;
mod error;
mod kinds;
mod lookup;
mod recorder;
mod sanitize;

pub use crate::builder::{Matcher, PrometheusBuilder, DEFAULT_LISTEN_ADDR};
pub use crate::error::{BuildError, Refusal, RefusalReason};
pub use crate::recorder::{PrometheusHandle, PrometheusRecorder};
pub use metrics_util::{MetricKind, MetricKindMask};
