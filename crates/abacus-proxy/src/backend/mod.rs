//! The recording backends the proxy can run with, behind one enum so that every backend
//! is reached the same way from the request path, and the `/metrics` server they share.
//!
//! Per request the proxy calls [`Metrics::check`] before it forwards (the budget check, and
//! the start of the duration) and [`Metrics::record`] after the upstream answered: the
//! request count and duration, then for a served request the budget usage, the model's
//! cost and tokens through abacus-inference's families, and the gateway's own token, cost
//! and tenant families, as the main job records a request.

mod abacus_backend;
mod budget_word;
mod facade;
mod prom;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use abacus_prometheus::{Exporter, ExporterHandle};

use crate::wire::Tenants;

/// Today's number in the budgets' daily periods, by the system clock they run on.
pub(crate) use budget_word::today as budget_today;

/// Which library records, as `--metrics` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// Nothing recorded: the baseline.
    Off,
    /// abacus handles, resolved once at start-up, and abacus-inference.
    Abacus,
    /// The `prometheus` crate with `with_label_values` on every update, as the original
    /// gateway recorded.
    Prometheus,
    /// The `metrics` macros recorded by `metrics-exporter-prometheus`.
    Facade,
    /// The same macros recorded by `abacus-metrics`.
    AbacusFacade,
}

impl Backend {
    pub(crate) const ALL: [Backend; 5] = [
        Backend::Off,
        Backend::Abacus,
        Backend::Prometheus,
        Backend::Facade,
        Backend::AbacusFacade,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Off => "off",
            Backend::Abacus => "abacus",
            Backend::Prometheus => "prometheus",
            Backend::Facade => "facade",
            Backend::AbacusFacade => "abacus-facade",
        }
    }

    /// What the backend is, for the report.
    pub(crate) fn description(self) -> &'static str {
        match self {
            Backend::Off => "records nothing; serves an empty /metrics",
            Backend::Abacus => {
                "abacus handles resolved at start-up, budgets and costs through abacus-inference"
            }
            Backend::Prometheus => {
                "the `prometheus` crate 0.14, `with_label_values` on every update"
            }
            Backend::Facade => {
                "`metrics` 0.24 macros on `metrics-exporter-prometheus` 0.18, labels on every call"
            }
            Backend::AbacusFacade => "the same `metrics` macros on `abacus-metrics`",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Backend::ALL
            .into_iter()
            .find(|backend| backend.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown backend {s:?}: expected off, abacus, prometheus, facade or \
                     abacus-facade"
                )
            })
    }
}

/// One request as the gateway routed it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub(crate) route: usize,
    pub(crate) model: usize,
    pub(crate) tenant: usize,
}

/// What the upstream answered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer {
    /// Index into the trace's statuses: 0 for 200, 1 for 400.
    pub(crate) status: usize,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
}

impl Answer {
    pub(crate) fn served(&self) -> bool {
        self.status == 0
    }
}

/// What renders a backend's exposition for the `/metrics` server.
pub(crate) type Render = Box<dyn FnMut(&mut Vec<u8>) -> io::Result<()> + Send>;

/// What [`Metrics::check`] hands to [`Metrics::record`]: when the request started, for
/// the backends that time it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending(Option<Instant>);

/// A backend's registered families and resolved state.
pub(crate) enum Metrics {
    Off,
    Abacus(abacus_backend::AbacusMetrics),
    Prometheus(prom::PromMetrics),
    /// Both facade recorders: the macros find whichever is installed.
    Facade(facade::FacadeMetrics),
}

impl Metrics {
    /// Runs the budget check of the request's tenant on its route, before forwarding.
    #[inline]
    pub(crate) fn check(&self, call: &Call) -> Pending {
        match self {
            Metrics::Off => Pending(None),
            Metrics::Abacus(m) => Pending(Some(m.check(call))),
            Metrics::Prometheus(m) => Pending(Some(m.check(call))),
            Metrics::Facade(m) => Pending(Some(m.check(call))),
        }
    }

    /// Records the request once the upstream answered.
    #[inline]
    pub(crate) fn record(&self, call: &Call, pending: Pending, answer: &Answer) {
        let Pending(Some(started)) = pending else {
            return;
        };
        match self {
            Metrics::Off => {}
            Metrics::Abacus(m) => m.record(call, started, answer),
            Metrics::Prometheus(m) => m.record(call, started, answer),
            Metrics::Facade(m) => m.record(call, started, answer),
        }
    }
}

/// Why a backend could not start.
#[derive(Debug)]
pub(crate) enum StartError {
    Abacus(abacus::Error),
    Inference(abacus_inference::ConfigError),
    Prometheus(prometheus::Error),
    Facade(String),
    Serve { addr: SocketAddr, source: io::Error },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Abacus(e) => write!(f, "registering the abacus families: {e}"),
            StartError::Inference(e) => write!(f, "configuring abacus-inference: {e}"),
            StartError::Prometheus(e) => write!(f, "registering the prometheus families: {e}"),
            StartError::Facade(e) => write!(f, "installing the metrics recorder: {e}"),
            StartError::Serve { addr, source } => {
                write!(f, "serving /metrics on {addr}: {source}")
            }
        }
    }
}

impl std::error::Error for StartError {}

impl From<abacus::Error> for StartError {
    fn from(e: abacus::Error) -> Self {
        StartError::Abacus(e)
    }
}

impl From<abacus_inference::ConfigError> for StartError {
    fn from(e: abacus_inference::ConfigError) -> Self {
        StartError::Inference(e)
    }
}

impl From<prometheus::Error> for StartError {
    fn from(e: prometheus::Error) -> Self {
        StartError::Prometheus(e)
    }
}

/// Registers `backend`'s families, creates every series the gateway can record (so that
/// all backends expose the same series from the start), and serves them on `listen`.
///
/// Every backend is served by the same server (abacus-prometheus's, with a render
/// callback), in the text format 0.0.4, so that scrapes cost the proxy the same way
/// whatever renders them; `off` serves an empty body.
pub(crate) fn start(
    backend: Backend,
    tenants: &Tenants,
    listen: SocketAddr,
) -> Result<(Metrics, ExporterHandle), StartError> {
    let exporter = Exporter::new().listen(listen);
    let serve_error = |source| StartError::Serve {
        addr: listen,
        source,
    };
    Ok(match backend {
        Backend::Off => {
            let handle = exporter
                .start_with(|_: &mut Vec<u8>| Ok(()))
                .map_err(serve_error)?;
            (Metrics::Off, handle)
        }
        Backend::Abacus => {
            let (metrics, render) = abacus_backend::AbacusMetrics::register(tenants)?;
            let handle = exporter.start_with(render).map_err(serve_error)?;
            (Metrics::Abacus(metrics), handle)
        }
        Backend::Prometheus => {
            let (metrics, render) = prom::PromMetrics::register(tenants)?;
            let handle = exporter.start_with(render).map_err(serve_error)?;
            (Metrics::Prometheus(metrics), handle)
        }
        Backend::Facade | Backend::AbacusFacade => {
            let (metrics, render) = facade::FacadeMetrics::install(backend, tenants)
                .map_err(|e| StartError::Facade(e.to_string()))?;
            let handle = exporter.start_with(render).map_err(serve_error)?;
            (Metrics::Facade(metrics), handle)
        }
    })
}
