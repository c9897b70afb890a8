//! The recorder the `metrics` macros call, and the handle that renders what it recorded.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use abacus::Registry;
use abacus_prometheus::{Exporter, ExporterHandle, TextEncoder};
use metrics::{Key, KeyName, Metadata, Recorder, SharedString, Unit};
use parking_lot::Mutex;

use crate::builder::Config;
use crate::catalog::{Catalog, Context, Refusals};
use crate::kinds::{CounterHandle, GaugeHandle, HistogramHandle, Kind, Shared};
use crate::lookup::Lookup;
use crate::{BuildError, Refusal};

/// A `metrics` recorder that records into an abacus registry.
///
/// Build one with [`PrometheusBuilder`](crate::PrometheusBuilder). Every handle it returns
/// is backed by an abacus handle: a kept `metrics::Counter` adds to the calling thread's
/// cell with no lookup, and a macro call finds its handle with one lookup by the key's
/// precomputed hash.
pub struct PrometheusRecorder {
    inner: Arc<Inner>,
    /// The `/metrics` server, when the builder started one; dropping it stops the server.
    listener: Option<ExporterHandle>,
}

/// What the recorder and its handles share.
struct Inner {
    registry: Registry,
    config: Config,
    shared: Shared,
    counters: PerKind<CounterHandle>,
    gauges: PerKind<GaugeHandle>,
    histograms: PerKind<HistogramHandle>,
    refusals: Refusals,
    /// The renderer of [`PrometheusHandle::render`], which keeps its buffers between
    /// calls.
    encoder: Mutex<(TextEncoder, Vec<u8>)>,
}

/// The handles of one kind by key, and the names behind them.
struct PerKind<K: Kind> {
    handles: Lookup<K>,
    catalog: Catalog<K>,
}

impl<K: Kind> Default for PerKind<K> {
    fn default() -> Self {
        PerKind {
            handles: Lookup::new(),
            catalog: Catalog::default(),
        }
    }
}

impl PrometheusRecorder {
    pub(crate) fn new(config: Config) -> Self {
        PrometheusRecorder {
            inner: Arc::new(Inner {
                registry: Registry::new(),
                config,
                shared: Shared::default(),
                counters: PerKind::default(),
                gauges: PerKind::default(),
                histograms: PerKind::default(),
                refusals: Refusals::default(),
                encoder: Mutex::new((TextEncoder::new(), Vec::new())),
            }),
            listener: None,
        }
    }

    /// Starts serving `/metrics` on `addr`, owned by this recorder.
    pub(crate) fn listen(mut self, addr: SocketAddr) -> Result<Self, BuildError> {
        let listener = Exporter::new()
            .listen(addr)
            .start(&self.inner.registry)
            .map_err(|source| BuildError::Listen { addr, source })?;
        self.listener = Some(listener);
        // Scrapes of the listener do not pass through the recorder, so with expiry a
        // thread lets go of unheld handles for them.
        if let Some(interval) = self.inner.config.upkeep_interval() {
            let inner = Arc::downgrade(&self.inner);
            std::thread::Builder::new()
                .name("abacus-metrics-upkeep".into())
                .spawn(move || upkeep(&inner, interval))
                .map_err(|source| BuildError::Listen { addr, source })?;
        }
        Ok(self)
    }

    /// A handle that renders what this recorder records, and outlives it.
    pub fn handle(&self) -> PrometheusHandle {
        PrometheusHandle {
            inner: self.inner.clone(),
            listen_addr: self.listener.as_ref().map(ExporterHandle::local_addr),
        }
    }

    /// Installs this recorder as the global recorder of `metrics` and returns its handle.
    /// Its listener, if it has one, then serves for the rest of the process.
    ///
    /// # Errors
    ///
    /// [`BuildError::AlreadyInstalled`], handing this recorder back, when a global
    /// recorder is already installed.
    pub fn install(self) -> Result<PrometheusHandle, BuildError> {
        let handle = self.handle();
        metrics::set_global_recorder(self)
            .map_err(|error| BuildError::AlreadyInstalled(error.into_inner()))?;
        Ok(handle)
    }
}

impl fmt::Debug for PrometheusRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusRecorder")
            .field("listen_addr", &self.handle().listen_addr)
            .finish_non_exhaustive()
    }
}

/// Lets go of unheld handles every `interval`, until the recorder is gone.
fn upkeep(inner: &Weak<Inner>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        match inner.upgrade() {
            Some(inner) => inner.forget_unheld(),
            None => return,
        }
    }
}

impl Inner {
    /// Lets go of the handles that only the recorder holds, so that the series behind
    /// them can expire, when series expire at all.
    fn forget_unheld(&self) {
        if self.config.upkeep_interval().is_some() {
            self.counters.handles.forget_unheld();
            self.gauges.handles.forget_unheld();
            self.histograms.handles.forget_unheld();
        }
    }

    #[inline]
    fn register<K: Kind>(&self, per_kind: &PerKind<K>, key: &Key) -> K::Facade {
        let handle = match per_kind.handles.get(key) {
            Some(handle) => handle,
            None => self.register_new(per_kind, key),
        };
        K::facade(handle)
    }

    #[cold]
    #[inline(never)]
    fn register_new<K: Kind>(&self, per_kind: &PerKind<K>, key: &Key) -> Option<Arc<K>> {
        let context = Context {
            registry: &self.registry,
            config: &self.config,
            shared: &self.shared,
        };
        per_kind
            .handles
            .get_or_insert(key, || match per_kind.catalog.register(key, &context) {
                Ok(handle) => Some(handle),
                Err(refusal) => {
                    self.refusals.add(refusal);
                    None
                }
            })
    }
}

impl Recorder for PrometheusRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.counters.catalog.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.gauges.catalog.describe(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner
            .histograms
            .catalog
            .describe(key, unit, description);
    }

    #[inline]
    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Counter {
        self.inner.register(&self.inner.counters, key)
    }

    #[inline]
    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Gauge {
        self.inner.register(&self.inner.gauges, key)
    }

    #[inline]
    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Histogram {
        self.inner.register(&self.inner.histograms, key)
    }
}

/// Renders what a [`PrometheusRecorder`] recorded; cheap to clone, and usable after the
/// recorder was installed.
#[derive(Clone)]
pub struct PrometheusHandle {
    inner: Arc<Inner>,
    listen_addr: Option<SocketAddr>,
}

impl PrometheusHandle {
    /// The exposition in the Prometheus text format 0.0.4, as the listener serves it.
    pub fn render(&self) -> String {
        self.inner.forget_unheld();
        let mut encoder = self.inner.encoder.lock();
        let (encoder, out) = &mut *encoder;
        encoder.encode(&self.inner.registry, out);
        // The encoder writes valid UTF-8; the lossy fallback only spares a panic path.
        String::from_utf8_lossy(out).into_owned()
    }

    /// Writes the exposition to `output`.
    ///
    /// # Errors
    ///
    /// Whatever writing to `output` returns.
    pub fn render_to_write(&self, output: &mut impl io::Write) -> io::Result<()> {
        self.inner.forget_unheld();
        let mut encoder = self.inner.encoder.lock();
        let (encoder, out) = &mut *encoder;
        encoder.encode(&self.inner.registry, out);
        output.write_all(out)
    }

    /// Lets go of the handles only the recorder holds, so that idle series can expire (see
    /// [`PrometheusBuilder::idle_timeout`](crate::PrometheusBuilder::idle_timeout));
    /// rendering does the same, and so does a thread when the recorder has a listener.
    /// Histograms need no upkeep: they record into their buckets at once.
    pub fn run_upkeep(&self) {
        self.inner.forget_unheld();
    }

    /// The abacus registry the recorder records into. Families registered on it directly
    /// are rendered and served beside the recorder's.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Where the recorder's listener serves `/metrics`, if it has one.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen_addr
    }

    /// The first keys the recorder refused (up to a hundred), in the order it refused
    /// them. A refused key's handle records nothing.
    pub fn refusals(&self) -> Vec<Refusal> {
        self.inner.refusals.get().0
    }

    /// How many keys the recorder refused in all.
    pub fn refusal_count(&self) -> u64 {
        self.inner.refusals.get().1
    }
}

impl fmt::Debug for PrometheusHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusHandle")
            .field("listen_addr", &self.listen_addr)
            .finish_non_exhaustive()
    }
}
