//! A Prometheus remote-write 1.0 client: a background thread that pushes a registry to a
//! receiver (Prometheus with `--web.enable-remote-write-receiver`, Mimir, Thanos Receive,
//! Cortex, VictoriaMetrics) every interval.
//!
//! The protocol is specified at <https://prometheus.io/docs/concepts/remote_write_spec/>.
//! The parts:
//!
//! - `proto`: the protobuf messages, written out from the published `.proto` files;
//! - `encode`: a visitor that turns a registry into those messages, compressed;
//! - `retry`: which answers are retried, after which backoff, and which are dropped;
//! - `client`: HTTP/1.1 on hyper's client;
//! - `pusher`: the loop on the writer's thread, with its queue;
//! - `metrics`: the writer's own counters, in the registry it pushes.

mod client;
mod encode;
mod error;
mod metrics;
mod proto;
mod pusher;
mod retry;

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use abacus::Registry;
use base64::Engine as _;
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_ENCODING,
    CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING, USER_AGENT,
};
use hyper::Uri;
use tokio::sync::oneshot;

use self::client::Target;
use self::encode::SnapshotEncoder;
pub use self::error::RemoteWriteError;
use self::metrics::OwnMetrics;
use self::pusher::{Pusher, Settings, Unsent};

/// The `User-Agent` of every request.
pub const USER_AGENT_VALUE: &str = concat!("abacus-prometheus/", env!("CARGO_PKG_VERSION"));

/// The protocol version header and its value for remote write 1.0.
const VERSION_HEADER: &str = "x-prometheus-remote-write-version";
const VERSION: &str = "0.1.0";

/// Configures and starts a remote-write client for a registry.
///
/// Every [`interval`](Self::interval) a background thread reads the registry (recording
/// goes on undisturbed, as during a scrape), turns it into a remote-write 1.0
/// `WriteRequest`, compresses it with snappy's block format and `POST`s it to the URL with
/// `Content-Encoding: snappy`, `Content-Type: application/x-protobuf`,
/// `X-Prometheus-Remote-Write-Version: 0.1.0` and `User-Agent:`
/// [`USER_AGENT_VALUE`]. There is no default URL: the writer sends only where it is told.
///
/// # What is sent
///
/// The series of the text exposition, one sample each, all with the snapshot's timestamp
/// (milliseconds; one past the previous snapshot's if the clock has not moved on, so that
/// a series' timestamps always increase):
///
/// - counters under their sample name, `_total` included unless the family was
///   registered with [`Desc::exact_name`](abacus::Desc::exact_name); fixed-point counters
///   as the float nearest their exact decimal value; integers above 2^53 lose their low
///   bits, as every remote-write sample is a float;
/// - gauges as they are; a NaN, whatever its bits, as Prometheus' ordinary NaN
///   (`0x7ff8000000000001`), never as the staleness marker (`0x7ff0000000000002`) that
///   would tell the receiver the series is gone;
/// - histograms as their classic series: `_bucket` with `le` spelled as the text format
///   spells it (`0.25`, `1.0`, `+Inf`), `_sum` and `_count`.
///
/// Each series carries `__name__` (the registry's namespace included), the constant
/// labels, its own labels and the [external labels](Self::external_label), sorted by name
/// (byte order), each name once. A label with an empty value is left out, as Prometheus
/// treats it as absent. The writer's own metrics are part of the registry and go with it:
///
/// | metric (before the namespace) | kind | what |
/// | --- | --- | --- |
/// | `abacus_remote_write_samples_sent_total` | counter | samples the receiver accepted |
/// | `abacus_remote_write_samples_dropped_total{reason}` | counter | samples given up on: `queue_full`, `rejected`, `rate_limited`, `shutdown`, `encode` |
/// | `abacus_remote_write_requests_total{status}` | counter | requests by HTTP status, or `timeout`, `error`, `abandoned` |
/// | `abacus_remote_write_queue_length` | gauge | snapshots waiting, the one in flight included |
///
/// Two writers started on one registry share these series.
///
/// # Delivery
///
/// Snapshots wait in a queue of [`queue_capacity`](Self::queue_capacity) and are sent
/// oldest first, one request at a time on one kept-alive connection. The specification's
/// [retry rules](https://prometheus.io/docs/concepts/remote_write_spec/#retries-backoff)
/// decide what happens to an answer:
///
/// - 2xx: delivered.
/// - 5xx, no connection, or no answer within the [`timeout`](Self::timeout): retried,
///   after a capped exponential backoff with jitter (see [`backoff`](Self::backoff)), and
///   not before the `Retry-After` of a 503 (seconds, not dates).
/// - 429: dropped and counted as `rate_limited`, unless
///   [`retry_on_http_429`](Self::retry_on_http_429) is on; then retried like a 5xx,
///   honouring `Retry-After`.
/// - Any other status: dropped and counted as `rejected`; retrying cannot help.
///
/// While the receiver is down snapshots pile up; a snapshot that finds the queue full
/// pushes out the oldest (abandoning its attempt if it is in flight), counted as
/// `queue_full`. Nothing ever waits on the recording threads, nor they on it.
///
/// # Stopping
///
/// [`RemoteWriterHandle::shutdown`] or dropping the handle takes a last snapshot and sends
/// what is queued until a deadline, then stops the thread.
///
/// # Known limits
///
/// - Plain HTTP only: TLS is not included, so an `https` URL is refused. Put a local
///   proxy that speaks TLS in front, or push to a receiver on the same host or network.
/// - One request at a time: a snapshot is one request, however large, and the queue is
///   not sharded. Fine for a process's own metrics; not a relay for millions of series.
/// - No metadata (help, type, unit), exemplars or native histograms: remote write 1.0
///   makes them optional, and abacus records neither exemplars nor native histograms.
///
/// ```no_run
/// use std::time::Duration;
///
/// use abacus::{Desc, Registry};
/// use abacus_prometheus::RemoteWriter;
///
/// let registry = Registry::new();
/// let jobs = registry.counter(Desc::new("jobs_total", "Jobs run."))?.with_labels(&[])?;
///
/// // Prometheus started with --web.enable-remote-write-receiver on this host.
/// let writer = RemoteWriter::new("http://127.0.0.1:9090/api/v1/write")
///     .interval(Duration::from_secs(15))
///     .external_label("instance", "worker-1")
///     .start(&registry)?;
/// jobs.inc();
/// // Sends the final count before returning, or says what it could not send in 5 s.
/// writer.shutdown(Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct RemoteWriter {
    url: String,
    interval: Duration,
    capacity: usize,
    timeout: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    retry_on_429: bool,
    flush_deadline: Duration,
    auth: Option<Auth>,
    headers: Vec<(String, String)>,
    external_labels: Vec<(String, String)>,
}

#[derive(Clone)]
enum Auth {
    Basic { user: String, password: String },
    Bearer(String),
}

impl fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL, credentials and header values may hold secrets: none is shown.
        f.debug_struct("RemoteWriter")
            .field("interval", &self.interval)
            .field("queue_capacity", &self.capacity)
            .field("timeout", &self.timeout)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("retry_on_http_429", &self.retry_on_429)
            .field("flush_deadline", &self.flush_deadline)
            .field("external_labels", &self.external_labels)
            .finish_non_exhaustive()
    }
}

impl RemoteWriter {
    /// The default interval between snapshots.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
    /// The default number of snapshots the queue holds.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 10;
    /// The default request timeout, Prometheus' `remote_timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// The default first backoff and its cap, those of Prometheus' `queue_config`.
    pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(30);
    /// See [`DEFAULT_MIN_BACKOFF`](Self::DEFAULT_MIN_BACKOFF).
    pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
    /// How long dropping a [`RemoteWriterHandle`] waits for the last snapshot by default.
    pub const DEFAULT_FLUSH_DEADLINE: Duration = Duration::from_secs(5);

    /// A writer that will push to `url`, an `http://` URL such as
    /// `http://127.0.0.1:9090/api/v1/write`, with the defaults: a snapshot every
    /// [15 s](Self::DEFAULT_INTERVAL), a queue of [10](Self::DEFAULT_QUEUE_CAPACITY), a
    /// [30 s](Self::DEFAULT_TIMEOUT) timeout, backoff from
    /// [30 ms](Self::DEFAULT_MIN_BACKOFF) to [5 s](Self::DEFAULT_MAX_BACKOFF), 429 not
    /// retried, no authorization, extra headers or external labels. The URL is checked by
    /// [`start`](Self::start).
    pub fn new(url: impl Into<String>) -> Self {
        RemoteWriter {
            url: url.into(),
            interval: Self::DEFAULT_INTERVAL,
            capacity: Self::DEFAULT_QUEUE_CAPACITY,
            timeout: Self::DEFAULT_TIMEOUT,
            min_backoff: Self::DEFAULT_MIN_BACKOFF,
            max_backoff: Self::DEFAULT_MAX_BACKOFF,
            retry_on_429: false,
            flush_deadline: Self::DEFAULT_FLUSH_DEADLINE,
            auth: None,
            headers: Vec::new(),
            external_labels: Vec::new(),
        }
    }

    /// How often a snapshot is taken; the first comes one interval after
    /// [`start`](Self::start). Must not be zero.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How many snapshots may wait while the receiver is down or slow, the one being
    /// sent included; past it the oldest is dropped. At least one.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How long one request may take, connecting included, before it counts as failed
    /// and is retried. Must not be zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The backoff between attempts at one snapshot: after the `n`th failure in a row the
    /// wait is drawn at random between half and all of `min * 2^(n-1)`, capped at `max`.
    /// An answer, or dropping the snapshot, starts over. `min` must not be zero nor above
    /// `max`.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max;
        self
    }

    /// Whether to retry requests answered with 429 Too Many Requests (honouring
    /// `Retry-After`) instead of dropping them. Off by default: the specification leaves
    /// it to the sender, and Prometheus itself retries 429 only when its
    /// `retry_on_http_429` setting is on, since a receiver that rate-limits a sender
    /// wants less from it, not the same again.
    pub fn retry_on_http_429(mut self, retry: bool) -> Self {
        self.retry_on_429 = retry;
        self
    }

    /// How long dropping the [`RemoteWriterHandle`] may take to send the last snapshot
    /// ([`DEFAULT_FLUSH_DEADLINE`](Self::DEFAULT_FLUSH_DEADLINE) unless set);
    /// [`RemoteWriterHandle::shutdown`] takes its own.
    pub fn flush_deadline(mut self, deadline: Duration) -> Self {
        self.flush_deadline = deadline;
        self
    }

    /// Sends `Authorization: Basic` with these credentials (RFC 7617), replacing a bearer
    /// token set before. The user name may not contain a colon.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some(Auth::Basic {
            user: user.into(),
            password: password.into(),
        });
        self
    }

    /// Sends `Authorization: Bearer <token>` (RFC 6750), replacing basic credentials set
    /// before.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(Auth::Bearer(token.into()));
        self
    }

    /// Adds a header to every request, such as a tenant id (`X-Scope-OrgID` for Mimir and
    /// Cortex). The headers the protocol or the connection own (`Content-Encoding`,
    /// `Content-Type`, `Content-Length`, `Transfer-Encoding`, `Host`, `Connection`,
    /// `User-Agent`, `X-Prometheus-Remote-Write-Version`) and `Authorization` (see
    /// [`basic_auth`](Self::basic_auth)) are refused by [`start`](Self::start).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a label to every series sent, as Prometheus' `external_labels` do: to tell
    /// this process from the others pushing the same metrics (`instance`, `cluster`).
    ///
    /// A series that has a label of the same name keeps its own value, as Prometheus does
    /// with its external labels, so pushing never changes a series' identity; a series
    /// that leaves that label empty gets the external value. The name must be a valid
    /// label name not starting with `__`, given once, and the value must not be empty.
    pub fn external_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.external_labels.push((name.into(), value.into()));
        self
    }

    /// Checks the settings, registers the writer's metrics in `registry` and starts
    /// pushing it from a new thread.
    ///
    /// # Errors
    ///
    /// - [`RemoteWriteError::InvalidUrl`] or [`RemoteWriteError::UnsupportedScheme`] for a
    ///   URL that is not `http://host[:port][/path]`;
    /// - [`RemoteWriteError::InvalidHeader`] for an extra header or credentials that
    ///   cannot be sent, or a reserved header;
    /// - [`RemoteWriteError::InvalidExternalLabel`] and
    ///   [`RemoteWriteError::InvalidSetting`] for bad labels and settings;
    /// - [`RemoteWriteError::Register`] when the registry refuses the writer's metrics
    ///   (their names are taken by other families, or it is full);
    /// - [`RemoteWriteError::Start`] when the runtime or the thread cannot be created.
    pub fn start(&self, registry: &Registry) -> Result<RemoteWriterHandle, RemoteWriteError> {
        let settings = self.settings()?;
        let target = Arc::new(self.target()?);
        let external = self.checked_external_labels()?;
        let metrics = OwnMetrics::register(registry).map_err(RemoteWriteError::Register)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(RemoteWriteError::Start)?;
        let pusher = Pusher::new(
            registry.clone(),
            SnapshotEncoder::new(external),
            metrics,
            target,
            settings,
        );
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("abacus-remote-write".into())
            .spawn(move || runtime.block_on(pusher.run(stopped)))
            .map_err(RemoteWriteError::Start)?;
        Ok(RemoteWriterHandle {
            stop: Some(stop),
            thread: Some(thread),
            flush_deadline: self.flush_deadline,
        })
    }

    fn settings(&self) -> Result<Settings, RemoteWriteError> {
        let invalid = |setting, reason| Err(RemoteWriteError::InvalidSetting { setting, reason });
        if self.interval.is_zero() {
            return invalid("interval", "must not be zero");
        }
        if self.capacity == 0 {
            return invalid("queue_capacity", "must be at least 1");
        }
        if self.timeout.is_zero() {
            return invalid("timeout", "must not be zero");
        }
        if self.min_backoff.is_zero() {
            return invalid("backoff", "the minimum must not be zero");
        }
        if self.min_backoff > self.max_backoff {
            return invalid("backoff", "the minimum must not exceed the maximum");
        }
        Ok(Settings {
            interval: self.interval,
            capacity: self.capacity,
            timeout: self.timeout,
            retry_on_429: self.retry_on_429,
            min_backoff: self.min_backoff,
            max_backoff: self.max_backoff,
        })
    }

    /// Parses the URL and builds the headers every request carries.
    fn target(&self) -> Result<Target, RemoteWriteError> {
        let invalid = |reason| RemoteWriteError::InvalidUrl { reason };
        let uri: Uri = self
            .url
            .parse()
            .map_err(|_| invalid("not a URL of the form http://host[:port][/path]"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(RemoteWriteError::UnsupportedScheme {
                    scheme: other.to_owned(),
                })
            }
            None => return Err(invalid("no scheme: expected http://")),
        }
        let authority = uri.authority().ok_or(invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid(
                "credentials in the URL are not sent: use basic_auth instead",
            ));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let path = uri
            .path_and_query()
            .map_or("/", |path| path.as_str())
            .parse::<Uri>()
            .map_err(|_| invalid("the path is not a valid request target"))?;

        let mut headers = HeaderMap::new();
        let authority_value =
            HeaderValue::from_str(authority.as_str()).map_err(|_| invalid("no valid host"))?;
        headers.insert(HOST, authority_value);
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            HeaderName::from_static(VERSION_HEADER),
            HeaderValue::from_static(VERSION),
        );
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if let Some(auth) = &self.auth {
            headers.insert(AUTHORIZATION, authorization(auth)?);
        }
        for (name, value) in &self.headers {
            let bad = |reason| RemoteWriteError::InvalidHeader {
                name: name.clone(),
                reason,
            };
            let header_name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("not a header name"))?;
            let reserved = [
                CONTENT_ENCODING,
                CONTENT_TYPE,
                CONTENT_LENGTH,
                TRANSFER_ENCODING,
                HOST,
                CONNECTION,
                USER_AGENT,
                AUTHORIZATION,
                HeaderName::from_static(VERSION_HEADER),
            ];
            if reserved.contains(&header_name) {
                return Err(bad("set by the client itself"));
            }
            let header_value =
                HeaderValue::from_str(value).map_err(|_| bad("the value is not visible ASCII"))?;
            headers.append(header_name, header_value);
        }
        Ok(Target {
            // The brackets belong to the URL, not to the address.
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: uri.port_u16().unwrap_or(80),
            path,
            headers,
        })
    }

    fn checked_external_labels(&self) -> Result<Vec<(String, String)>, RemoteWriteError> {
        for (index, (name, value)) in self.external_labels.iter().enumerate() {
            let bad = |reason| {
                Err(RemoteWriteError::InvalidExternalLabel {
                    name: name.clone(),
                    reason,
                })
            };
            if !valid_label_name(name) {
                return bad("not a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
            }
            if name.starts_with("__") {
                return bad("names starting with __ are reserved");
            }
            if self.external_labels[..index].iter().any(|(n, _)| n == name) {
                return bad("given twice");
            }
            if value.is_empty() {
                return bad("the value is empty, which Prometheus reads as no label");
            }
        }
        Ok(self.external_labels.clone())
    }
}

/// The `Authorization` header's value, marked sensitive so that hyper never shows it.
fn authorization(auth: &Auth) -> Result<HeaderValue, RemoteWriteError> {
    let bad = |reason| RemoteWriteError::InvalidHeader {
        name: "authorization".to_owned(),
        reason,
    };
    let text = match auth {
        Auth::Basic { user, password } => {
            if user.contains(':') {
                return Err(bad("a basic-auth user name may not contain a colon"));
            }
            let pair = format!("{user}:{password}");
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        }
        Auth::Bearer(token) => format!("Bearer {token}"),
    };
    let mut value =
        HeaderValue::from_str(&text).map_err(|_| bad("the credentials are not visible ASCII"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`
/// (<https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels>).
fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A running [`RemoteWriter`]. Dropping it flushes within the writer's
/// [`flush_deadline`](RemoteWriter::flush_deadline) and stops the thread; see
/// [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct RemoteWriterHandle {
    stop: Option<oneshot::Sender<Instant>>,
    thread: Option<JoinHandle<Unsent>>,
    flush_deadline: Duration,
}

impl RemoteWriterHandle {
    /// Takes a last snapshot, sends it and whatever is still queued, oldest first, for at
    /// most `deadline` (retrying as usual, a request cut short at the deadline), then
    /// stops the thread. Whatever is left is counted as dropped with reason `shutdown`.
    ///
    /// # Errors
    ///
    /// [`RemoteWriteError::Unflushed`] when snapshots were left unsent at the deadline;
    /// [`RemoteWriteError::Stopped`] if the writer's thread had died.
    pub fn shutdown(mut self, deadline: Duration) -> Result<(), RemoteWriteError> {
        self.stop_within(deadline)
    }

    fn stop_within(&mut self, deadline: Duration) -> Result<(), RemoteWriteError> {
        // Past a year a deadline means "no hurry"; the cap keeps the sum representable.
        let by = Instant::now() + deadline.min(Duration::from_secs(365 * 24 * 60 * 60));
        if let Some(stop) = self.stop.take() {
            // The thread may be gone already; joining tells.
            let _ = stop.send(by);
        }
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        match thread.join() {
            Ok(Unsent { snapshots: 0, .. }) => Ok(()),
            Ok(Unsent { snapshots, samples }) => {
                Err(RemoteWriteError::Unflushed { snapshots, samples })
            }
            Err(_panic) => Err(RemoteWriteError::Stopped),
        }
    }
}

impl Drop for RemoteWriterHandle {
    fn drop(&mut self) {
        // A destructor has no one to report to; `shutdown` is the way to know.
        let _ = self.stop_within(self.flush_deadline);
    }
}
