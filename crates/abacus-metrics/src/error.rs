//! What can go wrong: building or installing the recorder, and keys it refuses.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use metrics_util::MetricKind;

use crate::PrometheusRecorder;

/// Why a [`PrometheusBuilder`](crate::PrometheusBuilder) could not be configured, built or
/// installed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A bucket layout was empty.
    EmptyBuckets,
    /// A bucket layout is not strictly increasing, holds NaN or has too many bounds; the
    /// core's [`abacus::Error::InvalidBucket`] says which bound and why.
    InvalidBuckets(abacus::Error),
    /// The `/metrics` listener could not bind its address.
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What binding it (or starting the server thread) said.
        source: io::Error,
    },
    /// A global recorder is already installed (by this crate or any other); `metrics`
    /// allows one per process. The recorder that was not installed is handed back, with
    /// its listener still serving if it started one: drop it to stop the listener, or use
    /// it as a local recorder.
    AlreadyInstalled(PrometheusRecorder),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::EmptyBuckets => f.write_str("a bucket layout needs at least one bound"),
            BuildError::InvalidBuckets(error) => write!(f, "invalid buckets: {error}"),
            BuildError::Listen { addr, source } => {
                write!(f, "serving /metrics on {addr}: {source}")
            }
            BuildError::AlreadyInstalled(_) => {
                f.write_str("a global metrics recorder is already installed")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::InvalidBuckets(error) => Some(error),
            BuildError::Listen { source, .. } => Some(source),
            BuildError::EmptyBuckets | BuildError::AlreadyInstalled(_) => None,
        }
    }
}

/// A key the recorder refused: its handle records nothing. `metrics` gives a recorder no
/// way to return an error from a registration, so refusals are kept here instead and read
/// with [`PrometheusHandle::refusals`](crate::PrometheusHandle::refusals).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Refusal {
    /// The kind the key was registered as.
    pub kind: MetricKind,
    /// The key's name as given, before sanitizing.
    pub name: String,
    /// Why it was refused.
    pub reason: RefusalReason,
}

/// Why a key was refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RefusalReason {
    /// The metric name is empty: no name could stand in for it.
    EmptyName,
    /// A label name is empty.
    EmptyLabelName,
    /// The abacus registry refused the family or series, for example because the name is
    /// already registered as another kind ([`abacus::Error::Conflict`]), another family
    /// exposes one of its sample names ([`abacus::Error::NameClash`]), or a label value
    /// holds a carriage return ([`abacus::Error::CarriageReturn`]).
    Registry(abacus::Error),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        write!(f, "{kind} {:?} refused: ", self.name)?;
        match &self.reason {
            RefusalReason::EmptyName => f.write_str("empty metric name"),
            RefusalReason::EmptyLabelName => f.write_str("empty label name"),
            RefusalReason::Registry(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.reason {
            RefusalReason::Registry(error) => Some(error),
            RefusalReason::EmptyName | RefusalReason::EmptyLabelName => None,
        }
    }
}
