//! The load generator: replays the trace's rows as requests to the proxy with their
//! routes, models and tenants, over loopback HTTP/1.1 connections of its own, and checks
//! every answer against the row. The rows of both trace files go in the order of their
//! timestamps, so that even a short run sends the two routes and three models mixed as
//! the trace's hour did, and round again after the last.
//!
//! A closed loop keeps a fixed number of connections each sending its next request as
//! soon as the last one is answered; latency runs from sending to the answer. An open
//! loop sends at a fixed rate whatever the answers do: requests are due at fixed times,
//! taken by the first free connection of a pool, and latency runs from the time a request
//! was due, so that a stall delays (and is charged to) every request due during it instead
//! of hiding behind fewer sends (coordinated omission). Both stop sending at the deadline
//! or after a number of requests, whichever comes first, and wait for the answers of the
//! requests already sent. Latencies of the warm-up are left out of the histogram; every
//! answered request is counted in the totals, warm-up or not.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, HOST};
use hyper::{Method, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;

use crate::families::route_of_model;
use crate::totals::Tally;
use crate::trace::{Request as Row, MODELS};
use crate::wire::{parse_usage, path_for, Tenants, ROW_HEADER, TENANT_HEADER};

/// Latencies are recorded in nanoseconds, from 1 µs up to a minute, to 3 significant
/// digits.
const LOWEST_NS: u64 = 1_000;
const HIGHEST_NS: u64 = 60_000_000_000;
/// How many errors a run keeps the text of.
const ERRORS_KEPT: usize = 5;

/// The shape of the load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Shape {
    /// This many connections, each sending as soon as its last answer arrived.
    Closed { connections: usize },
    /// This many requests a second, on a pool of this many connections.
    Open { rate: f64, connections: usize },
}

/// The connections an open loop may use at once: enough that a stall of a few
/// milliseconds queues requests instead of exhausting the pool at the rates used here.
pub(crate) const OPEN_LOOP_CONNECTIONS: usize = 64;

impl Shape {
    /// The short name used on the command line and in the report: `closed:16`,
    /// `open:5000`.
    pub(crate) fn name(&self) -> String {
        match self {
            Shape::Closed { connections } => format!("closed:{connections}"),
            Shape::Open { rate, .. } => format!("open:{rate}"),
        }
    }

    /// What the load is, in words.
    pub(crate) fn description(&self) -> String {
        match self {
            Shape::Closed { connections: 1 } => "closed loop, 1 connection".into(),
            Shape::Closed { connections } => format!("closed loop, {connections} connections"),
            Shape::Open { rate, connections } => {
                format!("open loop, {rate} requests/s on up to {connections} connections")
            }
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl std::str::FromStr for Shape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("bad load {s:?}: expected closed:CONNECTIONS or open:RATE");
        let (kind, number) = s.split_once(':').ok_or_else(bad)?;
        match kind {
            "closed" => match number.parse() {
                Ok(connections) if connections > 0 => Ok(Shape::Closed { connections }),
                _ => Err(bad()),
            },
            "open" => match number.parse::<f64>() {
                Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(Shape::Open {
                    rate,
                    connections: OPEN_LOOP_CONNECTIONS,
                }),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// One run of the load generator.
#[derive(Clone, Debug)]
pub(crate) struct LoadOptions {
    pub(crate) target: SocketAddr,
    pub(crate) shape: Shape,
    pub(crate) warmup: Duration,
    pub(crate) seconds: Duration,
    pub(crate) max_requests: u64,
}

/// What a run measured and counted.
pub(crate) struct LoadReport {
    /// Latencies of the requests sent (or due) after the warm-up, in nanoseconds.
    pub(crate) latency: Histogram<u64>,
    /// Requests answered after the warm-up, over `measured_seconds`.
    pub(crate) measured: u64,
    pub(crate) measured_seconds: f64,
    /// Every answered request, warm-up included.
    pub(crate) tally: Tally,
    pub(crate) errors: u64,
    /// The first few errors.
    pub(crate) error_texts: Vec<String>,
}

impl LoadReport {
    pub(crate) fn requests_per_second(&self) -> f64 {
        self.measured as f64 / self.measured_seconds.max(f64::MIN_POSITIVE)
    }
}

/// What the workers of a run share.
struct Plan {
    rows: Arc<Vec<Row>>,
    /// Row indices in the order they are sent.
    order: Vec<usize>,
    tenants: Arc<Tenants>,
    /// The request path of each model.
    paths: Vec<Uri>,
    target: SocketAddr,
    host: HeaderValue,
    /// When the histogram starts and sending stops.
    measure_from: Instant,
    end: Instant,
    max_requests: u64,
    next: AtomicU64,
}

/// One worker's findings.
struct Findings {
    latency: Histogram<u64>,
    measured: u64,
    tally: Tally,
    errors: u64,
    error_texts: Vec<String>,
}

impl Findings {
    fn new() -> Self {
        Findings {
            latency: new_histogram(),
            measured: 0,
            tally: Tally::default(),
            errors: 0,
            error_texts: Vec::new(),
        }
    }

    fn error(&mut self, text: String) {
        self.errors += 1;
        if self.error_texts.len() < ERRORS_KEPT {
            self.error_texts.push(text);
        }
    }

    fn merge(&mut self, other: Findings) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.measured += other.measured;
        self.tally.merge(&other.tally);
        self.errors += other.errors;
        for text in other.error_texts {
            if self.error_texts.len() < ERRORS_KEPT {
                self.error_texts.push(text);
            }
        }
    }
}

pub(crate) fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that the crate accepts.
    Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, 3)
        .unwrap_or_else(|_| unreachable!("fixed, valid histogram bounds"))
}

/// Runs the load against the proxy at `options.target`; `on_measure` is called when the
/// warm-up ends. Blocks until every request sent was answered.
pub(crate) fn run(
    rows: Arc<Vec<Row>>,
    tenants: Arc<Tenants>,
    options: &LoadOptions,
    on_measure: impl FnOnce() + Send + 'static,
) -> std::io::Result<LoadReport> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let options = options.clone();
    runtime.block_on(async move {
        let start = Instant::now();
        let measure_from = start + options.warmup;
        let plan = Arc::new(Plan {
            order: sending_order(&rows),
            rows,
            tenants,
            paths: (0..MODELS.len())
                .map(|model| path_for(route_of_model(model), model).parse())
                .collect::<Result<_, _>>()
                .map_err(std::io::Error::other)?,
            target: options.target,
            host: HeaderValue::from_str(&options.target.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
            measure_from,
            end: measure_from + options.seconds,
            max_requests: options.max_requests,
            next: AtomicU64::new(0),
        });
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from).await;
            on_measure();
        });
        let workers: Vec<_> = match options.shape {
            Shape::Closed { connections } => (0..connections)
                .map(|_| tokio::spawn(closed_worker(plan.clone())))
                .collect(),
            Shape::Open { rate, connections } => {
                let (due, queue) = mpsc::unbounded_channel();
                let queue = Arc::new(Mutex::new(queue));
                let workers = (0..connections)
                    .map(|_| tokio::spawn(open_worker(plan.clone(), queue.clone())))
                    .collect();
                let plan = plan.clone();
                // Dropping the sender at the end lets the workers drain the queue and stop.
                std::thread::Builder::new()
                    .name("load-schedule".into())
                    .spawn(move || schedule(&plan, rate, start, &due))?;
                workers
            }
        };
        let mut all = Findings::new();
        for worker in workers {
            match worker.await {
                Ok(findings) => all.merge(findings),
                Err(e) => all.error(format!("a load worker failed: {e}")),
            }
        }
        let measured_seconds = Instant::now()
            .min(plan.end)
            .saturating_duration_since(measure_from)
            .as_secs_f64();
        Ok(LoadReport {
            latency: all.latency,
            measured: all.measured,
            measured_seconds,
            tally: all.tally,
            errors: all.errors,
            error_texts: all.error_texts,
        })
    })
}

/// The rows by timestamp, ties in file order.
fn sending_order(rows: &[Row]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&index| (rows[index].timestamp, index));
    order
}

/// Takes the next request's row, or `None` once the run's requests are used up.
fn next_row(plan: &Plan) -> Option<usize> {
    let index = plan.next.fetch_add(1, Relaxed);
    (index < plan.max_requests).then(|| plan.order[(index % plan.order.len() as u64) as usize])
}

async fn closed_worker(plan: Arc<Plan>) -> Findings {
    let mut findings = Findings::new();
    let mut sender = None;
    while Instant::now() < plan.end {
        let Some(row) = next_row(&plan) else { break };
        let sent = Instant::now();
        match exchange(&plan, &mut sender, row).await {
            Ok(()) => {
                let answered = Instant::now();
                findings.tally.add(&plan.rows[row]);
                if sent >= plan.measure_from {
                    findings.measured += 1;
                    let ns = answered.duration_since(sent).as_nanos();
                    findings.latency.saturating_record(ns as u64);
                }
            }
            Err(e) => findings.error(e),
        }
    }
    findings
}

/// Puts each request's due time on the queue at that time, until the end of the run. A
/// thread of its own keeps the times: tokio's timer counts whole milliseconds, which would
/// send requests in bursts and charge up to a millisecond of waiting to each; a sleeping
/// thread wakes within tens of microseconds, and that lag is the same for every backend.
fn schedule(plan: &Plan, rate: f64, start: Instant, due: &mpsc::UnboundedSender<Instant>) {
    let (start, end) = (start.into_std(), plan.end.into_std());
    for index in 0..plan.max_requests {
        let at = start + Duration::from_secs_f64(index as f64 / rate);
        if at >= end {
            break;
        }
        let now = std::time::Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        if due.send(Instant::from_std(at)).is_err() {
            break;
        }
    }
}

async fn open_worker(
    plan: Arc<Plan>,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<Instant>>>,
) -> Findings {
    let mut findings = Findings::new();
    let mut sender = None;
    loop {
        let due = queue.lock().await.recv().await;
        let Some(due) = due else { break };
        let Some(row) = next_row(&plan) else { break };
        match exchange(&plan, &mut sender, row).await {
            Ok(()) => {
                let answered = Instant::now();
                findings.tally.add(&plan.rows[row]);
                if due >= plan.measure_from {
                    findings.measured += 1;
                    let ns = answered.duration_since(due).as_nanos();
                    findings.latency.saturating_record(ns as u64);
                }
            }
            Err(e) => findings.error(e),
        }
    }
    findings
}

/// Sends the request of `row` on this worker's connection (opening it if needed), reads
/// the answer and checks it against the row: the status, and the tokens of a served row.
async fn exchange(
    plan: &Plan,
    sender: &mut Option<SendRequest<Empty<Bytes>>>,
    index: usize,
) -> Result<(), String> {
    let row = &plan.rows[index];
    let connection = match sender {
        Some(connection) if !connection.is_closed() => connection,
        slot => slot.insert(connect(plan.target).await?),
    };
    let mut request = hyper::Request::new(Empty::<Bytes>::new());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = plan.paths[row.model].clone();
    let headers = request.headers_mut();
    headers.insert(HOST, plan.host.clone());
    headers.insert(
        TENANT_HEADER,
        HeaderValue::from_static(plan.tenants.name(row.tenant)),
    );
    headers.insert(ROW_HEADER, HeaderValue::from(index as u64));
    connection
        .ready()
        .await
        .map_err(|e| format!("connection to the proxy: {e}"))?;
    let response = connection
        .send_request(request)
        .await
        .map_err(|e| format!("request to the proxy: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("answer from the proxy: {e}"))?
        .to_bytes();
    let expected = if row.served() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    if status != expected {
        return Err(format!(
            "row {index}: the proxy answered {status}, the trace says {expected}: {}",
            String::from_utf8_lossy(&body).trim_end()
        ));
    }
    if row.served() && parse_usage(&body) != Some((row.input_tokens, row.output_tokens)) {
        return Err(format!(
            "row {index}: the answer's usage is not the row's ({} in, {} out): {}",
            row.input_tokens,
            row.output_tokens,
            String::from_utf8_lossy(&body).trim_end()
        ));
    }
    Ok(())
}

async fn connect(target: SocketAddr) -> Result<SendRequest<Empty<Bytes>>, String> {
    let stream = TcpStream::connect(target)
        .await
        .map_err(|e| format!("connecting to the proxy at {target}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake with the proxy at {target}: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_parse_from_their_names() {
        for name in ["closed:1", "closed:64", "open:2000", "open:12.5"] {
            let shape: Shape = name.parse().expect("a load");
            assert_eq!(shape.name(), name);
        }
        for bad in [
            "closed:0", "open:-1", "open:inf", "c16", "closed:x", "burst:3",
        ] {
            assert!(bad.parse::<Shape>().is_err(), "{bad}");
        }
    }

    #[test]
    fn requests_cycle_through_the_rows_by_time_and_stop_at_the_limit() {
        let now = Instant::now();
        let mut rows = vec![crate::trace::request(crate::trace::TraceKind::Code, 0, 1, 1); 3];
        for (row, timestamp) in rows.iter_mut().zip([20, 10, 20]) {
            row.timestamp = timestamp;
        }
        let plan = Plan {
            order: sending_order(&rows),
            rows: Arc::new(rows),
            tenants: Arc::new(Tenants::new()),
            paths: Vec::new(),
            target: SocketAddr::from(([127, 0, 0, 1], 9)),
            host: HeaderValue::from_static("localhost"),
            measure_from: now,
            end: now,
            max_requests: 5,
            next: AtomicU64::new(0),
        };
        let rows: Vec<Option<usize>> = (0..6).map(|_| next_row(&plan)).collect();
        assert_eq!(rows, [Some(1), Some(0), Some(2), Some(1), Some(0), None]);
    }
}
