//! A mock remote-write receiver for tests: a hyper server on 127.0.0.1 (a free port) that
//! decompresses and decodes every request, records it with its headers and arrival time,
//! and answers what the test's script says, hanging for ever if told to. Dropping it stops
//! the server and closes every connection, hung ones included.
//!
//! It decodes with its own transcription of the remote-write 1.0 messages (module
//! `wire`), written from the specification
//! (<https://prometheus.io/docs/concepts/remote_write_spec/#protocol>) apart from the
//! client's, so that a wrong field number on either side shows.
//!
//! Used by abacus-prometheus's remote-write tests and, through `#[path]`, by the main
//! job's.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::sync::oneshot;

/// The remote-write 1.0 messages as a receiver reads them.
pub(crate) mod wire {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub(crate) timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub(crate) samples: Vec<Sample>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Label {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
        #[prost(string, tag = "2")]
        pub(crate) value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Sample {
        #[prost(double, tag = "1")]
        pub(crate) value: f64,
        #[prost(int64, tag = "2")]
        pub(crate) timestamp: i64,
    }

    impl TimeSeries {
        /// The value of the label `name`, if the series has it.
        pub(crate) fn label(&self, name: &str) -> Option<&str> {
            self.labels
                .iter()
                .find(|label| label.name == name)
                .map(|label| label.value.as_str())
        }

        /// `__name__`, or empty.
        pub(crate) fn name(&self) -> &str {
            self.label("__name__").unwrap_or_default()
        }

        /// The labels other than `__name__`, as pairs, in the order sent.
        pub(crate) fn pairs(&self) -> Vec<(String, String)> {
            self.labels
                .iter()
                .filter(|label| label.name != "__name__")
                .map(|label| (label.name.clone(), label.value.clone()))
                .collect()
        }
    }

    impl WriteRequest {
        /// The series named `name` whose labels include every pair of `labels`.
        pub(crate) fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&TimeSeries> {
            self.timeseries
                .iter()
                .filter(|series| {
                    series.name() == name
                        && labels
                            .iter()
                            .all(|(label, value)| series.label(label) == Some(*value))
                })
                .collect()
        }

        /// The one sample value of the one series named `name` with `labels`; panics
        /// unless there is exactly one.
        pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
            let found = self.find(name, labels);
            assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
            assert_eq!(found[0].samples.len(), 1, "{name} {labels:?}");
            found[0].samples[0].value
        }

        /// The timestamp every series of the request carries; panics if they differ.
        pub(crate) fn timestamp(&self) -> i64 {
            let first = self.timeseries[0].samples[0].timestamp;
            for series in &self.timeseries {
                for sample in &series.samples {
                    assert_eq!(sample.timestamp, first, "one snapshot, one timestamp");
                }
            }
            first
        }
    }
}

/// What the receiver answers to one request.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// This status, with an empty body.
    Status(u16),
    /// This status with a `Retry-After` header.
    RetryAfter(u16, &'static str),
    /// Nothing, ever: the request is read, recorded, and left hanging.
    Hang,
}

/// One request as received.
#[derive(Clone, Debug)]
pub(crate) struct Attempt {
    /// When the body had arrived.
    pub(crate) at: Instant,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    /// The decoded request, or why it could not be decoded.
    pub(crate) request: Result<wire::WriteRequest, String>,
    /// The status answered; 0 when left hanging.
    pub(crate) status: u16,
}

impl Attempt {
    /// The value of the header `name`, any case; panics if it is there more than once.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect();
        assert!(values.len() <= 1, "{name} sent {} times", values.len());
        values.first().copied()
    }

    /// The decoded request; panics if it did not decode.
    pub(crate) fn body(&self) -> &wire::WriteRequest {
        match &self.request {
            Ok(request) => request,
            Err(e) => panic!("the request did not decode: {e}"),
        }
    }
}

/// Decides the answer to the request with this index (from 0), received this long after
/// the receiver started.
type Script = Box<dyn FnMut(usize, Duration) -> Reply + Send>;

struct Shared {
    started: Instant,
    attempts: Mutex<Vec<Attempt>>,
    arrived: Condvar,
    script: Mutex<Script>,
}

/// The running receiver.
pub(crate) struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Receiver {
    /// Starts a receiver that answers each request as `script` says.
    pub(crate) fn start(script: impl FnMut(usize, Duration) -> Reply + Send + 'static) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        listener.set_nonblocking(true).expect("non-blocking");
        let shared = Arc::new(Shared {
            started: Instant::now(),
            attempts: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            script: Mutex::new(Box::new(script)),
        });
        let (stop, mut stopped) = oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
                loop {
                    let accepted = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => accepted,
                    };
                    let Ok((stream, _)) = accepted else { continue };
                    let shared = serving.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let shared = shared.clone();
                            async move { Ok::<_, Infallible>(answer(&shared, request).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            // Dropping the runtime drops every connection task, hung ones included.
            drop(runtime);
        });
        Receiver {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// A receiver that accepts everything.
    pub(crate) fn accepting() -> Self {
        Self::start(|_, _| Reply::Status(200))
    }

    /// A receiver that answers `replies` in turn, then 200 to everything after.
    pub(crate) fn scripted(replies: Vec<Reply>) -> Self {
        Self::start(move |index, _| replies.get(index).cloned().unwrap_or(Reply::Status(200)))
    }

    /// The URL to push to.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Every request so far.
    pub(crate) fn attempts(&self) -> Vec<Attempt> {
        self.shared
            .attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `done` holds for the requests received, and returns them; panics after
    /// `timeout`, showing what did arrive.
    pub(crate) fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[Attempt]) -> bool,
    ) -> Vec<Attempt> {
        let deadline = Instant::now() + timeout;
        let mut attempts = self
            .shared
            .attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if done(&attempts) {
                return attempts.clone();
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "waited {timeout:?} for {what}; received {} requests with statuses {:?}",
                attempts.len(),
                attempts.iter().map(|a| a.status).collect::<Vec<_>>()
            );
            attempts = self
                .shared
                .arrived
                .wait_timeout(attempts, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Reads, decodes and records one request, then answers as the script says.
async fn answer(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let decoded = match request.into_body().collect().await {
        Ok(body) => decode(&body.to_bytes()),
        Err(e) => Err(format!("reading the body: {e}")),
    };
    let at = Instant::now();
    let index = shared
        .attempts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len();
    let reply =
        (shared.script.lock().unwrap_or_else(PoisonError::into_inner))(index, at - shared.started);
    let status = match reply {
        Reply::Status(code) | Reply::RetryAfter(code, _) => code,
        Reply::Hang => 0,
    };
    {
        let mut attempts = shared
            .attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        attempts.push(Attempt {
            at,
            method,
            path,
            headers,
            request: decoded,
            status,
        });
        shared.arrived.notify_all();
    }
    let mut response = Response::new(Full::new(Bytes::new()));
    match reply {
        Reply::Status(code) => {
            *response.status_mut() = StatusCode::from_u16(code).expect("a status code");
        }
        Reply::RetryAfter(code, seconds) => {
            *response.status_mut() = StatusCode::from_u16(code).expect("a status code");
            response.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static(seconds),
            );
        }
        Reply::Hang => std::future::pending::<()>().await,
    }
    response
}

/// Snappy's block format, then protobuf.
fn decode(body: &[u8]) -> Result<wire::WriteRequest, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("not snappy block format: {e}"))?;
    wire::WriteRequest::decode(raw.as_slice()).map_err(|e| format!("not a WriteRequest: {e}"))
}
