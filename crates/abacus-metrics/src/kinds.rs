//! The three kinds of `metrics`, each on an abacus handle, and what registering one takes.
//!
//! One generic registration path ([`crate::catalog`]) serves all three; this module holds
//! the little that differs between them.

use std::sync::Arc;

use abacus::{Buckets, Desc, Family, Registry};
use metrics::{CounterFn, GaugeFn, HistogramFn};
use metrics_util::MetricKind;
use parking_lot::Mutex;

use crate::builder::Config;

/// A kind of `metrics` handle and the abacus family behind it.
pub(crate) trait Kind: Sized + 'static {
    /// The abacus handle of one series.
    type Core: abacus::Metric;
    /// What `register_*` returns.
    type Facade;

    const KIND: MetricKind;

    /// Registers (or finds) the abacus family for `desc`.
    fn register(
        registry: &Registry,
        desc: Desc,
        config: &Config,
        name: &str,
    ) -> Result<Family<Self::Core>, abacus::Error>;

    /// Wraps a series' abacus handle for the facade.
    fn wrap(core: Self::Core, shared: &Shared) -> Self;

    fn facade(handle: Option<Arc<Self>>) -> Self::Facade;
}

/// What every handle of one recorder shares.
#[derive(Default)]
pub(crate) struct Shared {
    /// Serializes [`CounterHandle::absolute`] calls, so that two of them never both add
    /// the same difference.
    absolute: Arc<Mutex<()>>,
}

/// A `metrics` counter on an abacus [`Counter`](abacus::Counter).
pub(crate) struct CounterHandle {
    counter: abacus::Counter,
    absolute: Arc<Mutex<()>>,
}

impl CounterFn for CounterHandle {
    #[inline]
    fn increment(&self, value: u64) {
        self.counter.add(value);
    }

    /// Raises the counter to `value` if it is lower, by adding the difference: abacus
    /// counters only go up. Reading the total costs as much as a scrape of one series, so
    /// this is for synchronizing with a count kept elsewhere, not for hot paths.
    fn absolute(&self, value: u64) {
        let _serialized = self.absolute.lock();
        let current = self.counter.value();
        if value > current {
            self.counter.add(value - current);
        }
    }
}

impl Kind for CounterHandle {
    type Core = abacus::Counter;
    type Facade = metrics::Counter;

    const KIND: MetricKind = MetricKind::Counter;

    fn register(
        registry: &Registry,
        desc: Desc,
        config: &Config,
        _name: &str,
    ) -> Result<Family<abacus::Counter>, abacus::Error> {
        // With recommended naming the name already ends in `_total`; without it, a name
        // that lacks the suffix is exposed as it is, as the facade's exporters do.
        let desc = if config.recommended_naming {
            desc
        } else {
            desc.exact_name()
        };
        registry.counter(desc)
    }

    fn wrap(counter: abacus::Counter, shared: &Shared) -> Self {
        CounterHandle {
            counter,
            absolute: shared.absolute.clone(),
        }
    }

    fn facade(handle: Option<Arc<Self>>) -> metrics::Counter {
        handle.map_or_else(metrics::Counter::noop, metrics::Counter::from_arc)
    }
}

/// A `metrics` gauge on an abacus [`FloatGauge`](abacus::FloatGauge).
pub(crate) struct GaugeHandle(abacus::FloatGauge);

impl GaugeFn for GaugeHandle {
    #[inline]
    fn increment(&self, value: f64) {
        self.0.add(value);
    }

    #[inline]
    fn decrement(&self, value: f64) {
        self.0.sub(value);
    }

    #[inline]
    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

impl Kind for GaugeHandle {
    type Core = abacus::FloatGauge;
    type Facade = metrics::Gauge;

    const KIND: MetricKind = MetricKind::Gauge;

    fn register(
        registry: &Registry,
        desc: Desc,
        _config: &Config,
        _name: &str,
    ) -> Result<Family<abacus::FloatGauge>, abacus::Error> {
        registry.float_gauge(desc)
    }

    fn wrap(gauge: abacus::FloatGauge, _shared: &Shared) -> Self {
        GaugeHandle(gauge)
    }

    fn facade(handle: Option<Arc<Self>>) -> metrics::Gauge {
        handle.map_or_else(metrics::Gauge::noop, metrics::Gauge::from_arc)
    }
}

/// A `metrics` histogram on an abacus [`Histogram`](abacus::Histogram): each value goes
/// into its bucket as it is recorded, so nothing accumulates between scrapes.
pub(crate) struct HistogramHandle(abacus::Histogram);

impl HistogramFn for HistogramHandle {
    #[inline]
    fn record(&self, value: f64) {
        self.0.observe(value);
    }
}

impl Kind for HistogramHandle {
    type Core = abacus::Histogram;
    type Facade = metrics::Histogram;

    const KIND: MetricKind = MetricKind::Histogram;

    fn register(
        registry: &Registry,
        desc: Desc,
        config: &Config,
        name: &str,
    ) -> Result<Family<abacus::Histogram>, abacus::Error> {
        let buckets: Buckets = config.buckets_for(name);
        registry.histogram(desc, buckets)
    }

    fn wrap(histogram: abacus::Histogram, _shared: &Shared) -> Self {
        HistogramHandle(histogram)
    }

    fn facade(handle: Option<Arc<Self>>) -> metrics::Histogram {
        handle.map_or_else(metrics::Histogram::noop, metrics::Histogram::from_arc)
    }
}
