//! Why a remote writer could not start, or could not deliver everything when it stopped.

use std::error::Error as StdError;
use std::fmt;
use std::io;

/// An error of the [`RemoteWriter`](super::RemoteWriter) or its handle.
///
/// None of them shows the URL, a header value or credentials, which may hold secrets.
#[derive(Debug)]
#[non_exhaustive]
pub enum RemoteWriteError {
    /// The URL is not of the form `http://host[:port][/path][?query]`.
    InvalidUrl {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The URL's scheme is not `http`. TLS is not included, so `https` is refused too.
    UnsupportedScheme {
        /// The scheme given.
        scheme: String,
    },
    /// An extra header, or the credentials, cannot be sent.
    InvalidHeader {
        /// The header's name (`authorization` for credentials).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An external label cannot be added.
    InvalidExternalLabel {
        /// The label's name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A setting is out of range.
    InvalidSetting {
        /// The builder method that set it.
        setting: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The registry refused the writer's own metrics.
    Register(abacus::Error),
    /// The writer's runtime or thread could not be created.
    Start(io::Error),
    /// The shutdown deadline passed with snapshots still unsent; they are counted in
    /// `abacus_remote_write_samples_dropped_total{reason="shutdown"}`.
    Unflushed {
        /// How many snapshots were left.
        snapshots: usize,
        /// How many samples they held.
        samples: u64,
    },
    /// The writer's thread had stopped on its own (it panicked), so nothing was flushed.
    Stopped,
}

impl fmt::Display for RemoteWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteWriteError::InvalidUrl { reason } => {
                write!(f, "invalid remote-write URL: {reason}")
            }
            RemoteWriteError::UnsupportedScheme { scheme } => write!(
                f,
                "unsupported remote-write URL scheme {scheme:?}: only http is supported \
                 (TLS is not included)"
            ),
            RemoteWriteError::InvalidHeader { name, reason } => {
                write!(f, "remote-write header {name:?}: {reason}")
            }
            RemoteWriteError::InvalidExternalLabel { name, reason } => {
                write!(f, "external label {name:?}: {reason}")
            }
            RemoteWriteError::InvalidSetting { setting, reason } => {
                write!(f, "remote-write setting {setting}: {reason}")
            }
            RemoteWriteError::Register(_) => {
                write!(f, "registering the remote writer's metrics failed")
            }
            RemoteWriteError::Start(_) => write!(f, "starting the remote writer failed"),
            RemoteWriteError::Unflushed { snapshots, samples } => write!(
                f,
                "the shutdown deadline passed with {snapshots} snapshots ({samples} samples) \
                 unsent"
            ),
            RemoteWriteError::Stopped => write!(f, "the remote writer's thread had stopped"),
        }
    }
}

impl StdError for RemoteWriteError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            RemoteWriteError::Register(error) => Some(error),
            RemoteWriteError::Start(error) => Some(error),
            _ => None,
        }
    }
}
