//! The builder, shaped like `metrics_exporter_prometheus::PrometheusBuilder`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use abacus::Buckets;
use metrics::Unit;
use metrics_util::{MetricKind, MetricKindMask};

use crate::recorder::{PrometheusHandle, PrometheusRecorder};
use crate::{sanitize, BuildError};

/// Where [`PrometheusBuilder::install`] listens unless told otherwise: every interface,
/// port 9000, as `metrics-exporter-prometheus` does, so that a migrated program is scraped
/// where it was. Pass a loopback address to [`PrometheusBuilder::with_http_listener`] to
/// serve only the local host.
pub const DEFAULT_LISTEN_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9000));

/// Selects histograms by name, for [`PrometheusBuilder::set_buckets_for_metric`].
///
/// Names are compared after sanitizing, and so are the matcher's strings:
/// `Matcher::Full("http.latency".into())` selects the histogram `http.latency`, exposed
/// as `http_latency`.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub enum Matcher {
    /// The whole name.
    Full(String),
    /// The start of the name.
    Prefix(String),
    /// The end of the name.
    Suffix(String),
}

impl Matcher {
    /// Whether `name` (sanitized) is selected.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Full(full) => name == full,
            Matcher::Prefix(prefix) => name.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => name.ends_with(suffix.as_str()),
        }
    }

    fn sanitized(self) -> Matcher {
        // An empty string stays empty: a prefix or suffix that selects every name.
        let clean = |text: String| sanitize::metric_name(&text).unwrap_or_default();
        match self {
            Matcher::Full(full) => Matcher::Full(clean(full)),
            Matcher::Prefix(prefix) => Matcher::Prefix(clean(prefix)),
            Matcher::Suffix(suffix) => Matcher::Suffix(clean(suffix)),
        }
    }

    /// Which kind of matcher wins when several select a name, lowest first, and then how
    /// specific it is: a longer string says more.
    fn rank(&self) -> (u8, std::cmp::Reverse<usize>) {
        match self {
            Matcher::Full(full) => (0, std::cmp::Reverse(full.len())),
            Matcher::Prefix(prefix) => (1, std::cmp::Reverse(prefix.len())),
            Matcher::Suffix(suffix) => (2, std::cmp::Reverse(suffix.len())),
        }
    }
}

/// Configures a [`PrometheusRecorder`] and, optionally, its `/metrics` listener.
///
/// The crate documentation has a table of every knob beside its counterpart in
/// `metrics-exporter-prometheus`.
#[derive(Clone, Debug)]
pub struct PrometheusBuilder {
    listen: SocketAddr,
    config: Config,
}

/// The settings a recorder keeps from its builder.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Label names as given (with empty ones dropped) and values, in the order first
    /// given; a name given again keeps its place and takes the new value.
    pub(crate) global_labels: Vec<(String, String)>,
    buckets: Option<Buckets>,
    /// Most specific first (see [`Matcher::rank`]).
    bucket_overrides: Vec<(Matcher, Buckets)>,
    pub(crate) recommended_naming: bool,
    unit_suffix: bool,
    idle_timeout: Option<(MetricKindMask, Duration)>,
}

impl Config {
    /// The idle timeout of the series of `kind`, if they expire.
    pub(crate) fn idle_timeout_of(&self, kind: MetricKind) -> Option<Duration> {
        let (mask, timeout) = self.idle_timeout?;
        mask.matches(kind).then_some(timeout)
    }

    /// How often the recorder lets go of the handles nobody else holds, so that their
    /// series can expire: twice per shortest timeout, within bounds that keep the
    /// upkeep thread neither busy nor slow to notice its recorder is gone.
    pub(crate) fn upkeep_interval(&self) -> Option<Duration> {
        let (_, timeout) = self.idle_timeout?;
        Some((timeout / 2).clamp(Duration::from_millis(50), Duration::from_secs(5)))
    }
}

impl Default for PrometheusBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PrometheusBuilder {
    /// A builder with the defaults: listen on [`DEFAULT_LISTEN_ADDR`], no global labels,
    /// [`Buckets::default_seconds`] for every histogram, names as given.
    pub fn new() -> Self {
        PrometheusBuilder {
            listen: DEFAULT_LISTEN_ADDR,
            config: Config {
                global_labels: Vec::new(),
                buckets: None,
                bucket_overrides: Vec::new(),
                recommended_naming: false,
                unit_suffix: false,
                idle_timeout: None,
            },
        }
    }

    /// The address [`install`](Self::install) and [`build`](Self::build) serve `/metrics`
    /// on. Port 0 picks a free port; [`PrometheusHandle::listen_addr`] tells which.
    pub fn with_http_listener(mut self, addr: impl Into<SocketAddr>) -> Self {
        self.listen = addr.into();
        self
    }

    /// Adds a label to every series. A key's own label of the same name (after
    /// sanitizing) takes precedence; setting one name again replaces its value. A global
    /// label with an empty name is ignored.
    pub fn add_global_label<K, V>(mut self, key: K, value: V) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let (key, value) = (key.into(), value.into());
        if key.is_empty() {
            return self;
        }
        let labels = &mut self.config.global_labels;
        match labels.iter_mut().find(|(name, _)| *name == key) {
            Some((_, old)) => *old = value,
            None => labels.push((key, value)),
        }
        self
    }

    /// The bucket upper bounds of every histogram no
    /// [`set_buckets_for_metric`](Self::set_buckets_for_metric) matcher selects. Without
    /// it, histograms take [`Buckets::default_seconds`].
    ///
    /// # Errors
    ///
    /// [`BuildError::EmptyBuckets`] for no bounds; [`BuildError::InvalidBuckets`] for
    /// bounds that are not strictly increasing, hold NaN or are too many.
    pub fn set_buckets(mut self, bounds: &[f64]) -> Result<Self, BuildError> {
        self.config.buckets = Some(checked_buckets(bounds)?);
        Ok(self)
    }

    /// The bucket upper bounds of the histograms `matcher` selects. When several
    /// matchers select one name, a [`Matcher::Full`] wins over a [`Matcher::Prefix`], a
    /// prefix over a [`Matcher::Suffix`], and of two of one kind the longer string. The
    /// same matcher given again replaces its bounds.
    ///
    /// # Errors
    ///
    /// As [`set_buckets`](Self::set_buckets).
    pub fn set_buckets_for_metric(
        mut self,
        matcher: Matcher,
        bounds: &[f64],
    ) -> Result<Self, BuildError> {
        let buckets = checked_buckets(bounds)?;
        let matcher = matcher.sanitized();
        let overrides = &mut self.config.bucket_overrides;
        overrides.retain(|(known, _)| *known != matcher);
        overrides.push((matcher, buckets));
        overrides.sort_by_key(|(matcher, _)| matcher.rank());
        Ok(self)
    }

    /// Recommended Prometheus naming: counters whose name lacks `_total` get it, and
    /// names get the unit of their description (`latency` described in seconds becomes
    /// `latency_seconds`). Off by default: names are exposed as given (sanitized).
    ///
    /// The unit comes from `describe_*` before the name's first use; a description that
    /// comes later does not rename a name already in use.
    pub fn with_recommended_naming(mut self, enabled: bool) -> Self {
        self.config.recommended_naming = enabled;
        self
    }

    /// Only the unit half of [recommended naming](Self::with_recommended_naming): names
    /// get their unit, counters no `_total`.
    pub fn set_enable_unit_suffix(mut self, enabled: bool) -> Self {
        self.config.unit_suffix = enabled;
        self
    }

    /// Lets the series of the kinds in `mask` expire once nothing has recorded into them
    /// for `timeout` (`None`: never, the default). A series disappears from the
    /// exposition after its timeout and at most two scrape intervals more; a
    /// `metrics::Counter` (or gauge, or histogram) handle that the program keeps keeps its
    /// series, as an abacus handle does. See the crate documentation.
    pub fn idle_timeout(mut self, mask: MetricKindMask, timeout: Option<Duration>) -> Self {
        self.config.idle_timeout = timeout.map(|timeout| (mask, timeout));
        self
    }

    /// Accepted for compatibility, and not needed: histograms record into their buckets
    /// at once, so there is nothing for an upkeep task to drain.
    pub fn upkeep_timeout(self, _timeout: Duration) -> Self {
        self
    }

    /// The recorder, without a listener: render with [`PrometheusHandle::render`], or
    /// serve its [`registry`](PrometheusHandle::registry) with an
    /// [`abacus_prometheus::Exporter`].
    pub fn build_recorder(self) -> PrometheusRecorder {
        PrometheusRecorder::new(self.config)
    }

    /// The recorder, with its `/metrics` listener already serving on the
    /// [listener address](Self::with_http_listener). The recorder owns the listener:
    /// dropping the recorder stops it. Install it with [`PrometheusRecorder::install`],
    /// or use it as a local recorder.
    ///
    /// # Errors
    ///
    /// [`BuildError::Listen`] when the address cannot be bound.
    pub fn build(self) -> Result<PrometheusRecorder, BuildError> {
        PrometheusRecorder::new(self.config).listen(self.listen)
    }

    /// Builds the recorder with its listener and installs it as the global recorder. The
    /// listener serves `GET /metrics` for the rest of the process.
    ///
    /// # Errors
    ///
    /// [`BuildError::Listen`] when the address cannot be bound;
    /// [`BuildError::AlreadyInstalled`] when a global recorder is already installed.
    pub fn install(self) -> Result<(), BuildError> {
        self.build()?.install().map(drop)
    }

    /// Builds the recorder without a listener, installs it as the global recorder and
    /// returns its handle, for a program that serves `/metrics` itself.
    ///
    /// # Errors
    ///
    /// [`BuildError::AlreadyInstalled`] when a global recorder is already installed.
    pub fn install_recorder(self) -> Result<PrometheusHandle, BuildError> {
        self.build_recorder().install()
    }
}

fn checked_buckets(bounds: &[f64]) -> Result<Buckets, BuildError> {
    if bounds.is_empty() {
        return Err(BuildError::EmptyBuckets);
    }
    Buckets::new(bounds).map_err(BuildError::InvalidBuckets)
}

impl Config {
    /// The buckets of the histogram with the sanitized `name`.
    pub(crate) fn buckets_for(&self, name: &str) -> Buckets {
        self.bucket_overrides
            .iter()
            .find(|(matcher, _)| matcher.matches(name))
            .map(|(_, buckets)| buckets)
            .or(self.buckets.as_ref())
            .cloned()
            .unwrap_or_else(Buckets::default_seconds)
    }

    /// The name a sanitized `name` is registered under, after the naming settings.
    pub(crate) fn exposed_name(&self, name: &str, kind: MetricKind, unit: Option<Unit>) -> String {
        let mut exposed = match unit {
            Some(unit) if self.recommended_naming || self.unit_suffix => {
                sanitize::with_unit(name, unit)
            }
            _ => name.to_owned(),
        };
        if kind == MetricKind::Counter && self.recommended_naming && !exposed.ends_with("_total") {
            exposed.push_str("_total");
        }
        exposed
    }
}
