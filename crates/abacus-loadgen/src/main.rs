//! The main job: replays the Azure LLM inference trace as the traffic of an LLM gateway,
//! recording every request through abacus on all cores while serving `/metrics` (and,
//! with `--remote-write`, pushing the registry to a remote-write receiver), then checks
//! what `/metrics` says against totals computed from the trace itself.
//!
//! `--backend prometheus` records the same replay through the `prometheus` crate instead,
//! resolving label values on every call as the original gateway did: the benchmark suite
//! times both. `--backend facade` records it through the `metrics` facade's macros, with
//! `abacus-metrics` as the global recorder.

mod check;
mod expected;
mod facade;
mod gateway;
mod prom;
mod trace;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use abacus::Registry;

use crate::expected::Expected;
use crate::gateway::{records_per_request, GatewayMetrics};
use crate::trace::Request;

const USAGE: &str = "\
usage: abacus-loadgen [--threads N] [--repeat R] [--listen ADDR] [--hold SECS]
                      [--trace FILE]... [--backend abacus|facade|prometheus] [--json]
                      [--remote-write URL [--remote-write-interval SECS]]

Replays the bundled Azure LLM inference trace (or the given --trace files) R times as
gateway traffic on N threads, serving /metrics on ADDR meanwhile, then checks the served
totals against sums computed from the trace. Exits 1 if any total differs.

  --threads N    worker threads (default: all cores)
  --repeat R     replays of the whole trace (default: 12000, about 10 s on 2 cores)
  --listen ADDR  /metrics address (default: 127.0.0.1:9464; port 0 picks a free one)
  --hold SECS    keep serving /metrics this long after the replay (default: 0)
  --trace FILE   a trace CSV; repeatable; the name must contain _code or _conv
                 (default: the two files in data/azure-llm-2023/ of the checkout
                 this binary was built from)
  --backend B    record through abacus handles (default); through the metrics
                 facade's macros on the abacus-metrics recorder (facade); or through
                 the prometheus crate with with_label_values on every call
                 (prometheus). The last two record the gateway_* families only
  --json         print the final summary as one JSON line
  --remote-write URL
                 also push the registry to this Prometheus remote-write receiver
                 (http:// only, e.g. http://127.0.0.1:9090/api/v1/write) during the
                 replay, and its final totals once it ends; exits 1 if they cannot
                 be delivered. Not with --backend prometheus
  --remote-write-interval SECS
                 seconds between pushes, fractions allowed (default: 1)";

const DEFAULT_REPEAT: u64 = 12_000;
/// How often the replay is pushed with `--remote-write` unless told otherwise.
const DEFAULT_REMOTE_WRITE_INTERVAL: Duration = Duration::from_secs(1);
/// How long the last push may take once the replay is over.
const REMOTE_WRITE_FLUSH: Duration = Duration::from_secs(10);
/// Workers publish progress once per this many requests, to keep the shared progress
/// counter off the hot path.
const PROGRESS_BATCH: usize = 4096;

/// What the replay records through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// abacus handles, resolved once per worker.
    Abacus,
    /// The `metrics` macros on `abacus-metrics`, label values given on every call.
    Facade,
    /// The `prometheus` crate, label values resolved on every call.
    Prometheus,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Abacus => "abacus",
            Backend::Facade => "facade",
            Backend::Prometheus => "prometheus",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "abacus" => Ok(Backend::Abacus),
            "facade" => Ok(Backend::Facade),
            "prometheus" => Ok(Backend::Prometheus),
            _ => Err(format!(
                "unknown backend {s:?}: expected abacus, facade or prometheus"
            )),
        }
    }
}

struct Options {
    backend: Backend,
    threads: usize,
    repeat: u64,
    listen: SocketAddr,
    hold: Duration,
    traces: Vec<PathBuf>,
    json: bool,
    remote_write: Option<String>,
    remote_write_interval: Duration,
}

fn default_traces() -> Vec<PathBuf> {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/azure-llm-2023");
    vec![
        data.join("AzureLLMInferenceTrace_code.csv"),
        data.join("AzureLLMInferenceTrace_conv.csv"),
    ]
}

fn parse_options() -> Result<Option<Options>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut options = Options {
        backend: Backend::Abacus,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        repeat: DEFAULT_REPEAT,
        listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        hold: Duration::ZERO,
        traces: Vec::new(),
        json: false,
        remote_write: None,
        remote_write_interval: DEFAULT_REMOTE_WRITE_INTERVAL,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("threads") => options.threads = parser.value()?.parse()?,
            Long("repeat") => options.repeat = parser.value()?.parse()?,
            Long("listen") => options.listen = parser.value()?.parse()?,
            Long("hold") => options.hold = Duration::from_secs(parser.value()?.parse()?),
            Long("trace") => options.traces.push(parser.value()?.into()),
            Long("json") => options.json = true,
            Long("backend") => options.backend = parser.value()?.parse()?,
            Long("remote-write") => options.remote_write = Some(parser.value()?.parse()?),
            Long("remote-write-interval") => {
                let seconds: f64 = parser.value()?.parse()?;
                options.remote_write_interval = Duration::try_from_secs_f64(seconds)
                    .ok()
                    .filter(|interval| !interval.is_zero())
                    .ok_or("--remote-write-interval must be a positive number of seconds")?;
            }
            Short('h') | Long("help") => {
                println!("{USAGE}");
                return Ok(None);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    if options.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if options.traces.is_empty() {
        options.traces = default_traces();
    }
    if options.remote_write.is_some() && options.backend == Backend::Prometheus {
        return Err("--remote-write needs an abacus registry: --backend abacus or facade".into());
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(Some(options)) => options,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("abacus-loadgen: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("abacus-loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

/// Replays, reports and checks; `Ok(false)` when the self-check found a mismatch or the
/// final totals could not be pushed to `--remote-write`.
fn run(options: &Options) -> Result<bool, Box<dyn std::error::Error>> {
    let mut requests: Vec<Request> = Vec::new();
    for path in &options.traces {
        requests.extend(trace::load(path)?);
    }
    if requests.is_empty() {
        return Err("the traces hold no requests".into());
    }
    // The facade and prometheus backends stand in for the original gateway's own families
    // only.
    let with_inference = options.backend == Backend::Abacus;
    let expected = Expected::from_requests(&requests, options.repeat, with_inference);

    let exporter = abacus_prometheus::Exporter::new().listen(options.listen);
    let (metrics, exporter, registry) = match options.backend {
        Backend::Abacus => {
            let registry = Registry::new();
            let metrics = GatewayMetrics::register(&registry)?;
            let exporter = exporter.start(&registry);
            (Metrics::Abacus(metrics), exporter, Some(registry))
        }
        Backend::Facade => {
            let (metrics, handle) = facade::FacadeMetrics::install()?;
            let registry = handle.registry().clone();
            (
                Metrics::Facade(metrics),
                exporter.start(&registry),
                Some(registry),
            )
        }
        Backend::Prometheus => {
            let registry = prometheus::Registry::new();
            let metrics = prom::PromMetrics::register(&registry)?;
            let exporter =
                exporter.start_with(move |out: &mut Vec<u8>| prom::render(&registry, out));
            (Metrics::Prometheus(metrics), exporter, None)
        }
    };
    let exporter = exporter.map_err(|e| format!("serving /metrics on {}: {e}", options.listen))?;
    // The writer reads the registry on its own thread; the workers never see it.
    let remote_writer = match (&options.remote_write, &registry) {
        (Some(url), Some(registry)) => Some(
            abacus_prometheus::RemoteWriter::new(url.as_str())
                .interval(options.remote_write_interval)
                .start(registry)
                .map_err(|e| format!("--remote-write {url}: {e}"))?,
        ),
        _ => None,
    };
    let addr = exporter.local_addr();
    if !options.json {
        println!(
            "replaying {} simulated requests x {} on {} threads through {}; \
             /metrics on http://{addr}/metrics",
            requests.len(),
            options.repeat,
            options.threads,
            options.backend.name(),
        );
        if let (Some(url), Some(_)) = (&options.remote_write, &remote_writer) {
            println!(
                "remote write: pushing to {url} every {} s",
                options.remote_write_interval.as_secs_f64()
            );
        }
    }

    let total_requests = requests.len() as u64 * options.repeat;
    let records_per_replay: u64 = requests
        .iter()
        .map(|r| records_per_request(r, with_inference))
        .sum();
    let total_records = records_per_replay * options.repeat;
    let done = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let started = Instant::now();
    let worker_results = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.threads)
            .map(|worker| {
                let (metrics, requests, done) = (&metrics, &requests, &done);
                scope.spawn(move || replay(metrics, requests, worker, options, done))
            })
            .collect();
        let reporter = scope.spawn(|| {
            report_progress(
                &done,
                &finished,
                records_per_replay,
                &requests,
                options.json,
            )
        });
        let results: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
        finished.store(true, Relaxed);
        let _ = reporter.join();
        results
    });
    let elapsed = started.elapsed();
    for result in worker_results {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err("a worker thread panicked".into()),
        }
    }
    // The final totals go out before the summary, so that a receiver holds them by the
    // time the job reports.
    let pushed = remote_writer.map(|writer| writer.shutdown(REMOTE_WRITE_FLUSH));

    let exposition = check::fetch_metrics(addr)?;
    let problems = check::compare(&exposition, &expected)?;
    let seconds = elapsed.as_secs_f64();
    let remote_write_json = match &pushed {
        None => String::new(),
        Some(Ok(())) => "\"remote_write\":\"delivered\",".to_owned(),
        Some(Err(_)) => "\"remote_write\":\"failed\",".to_owned(),
    };
    if options.json {
        println!(
            "{{\"requests\":{total_requests},\"records\":{total_records},\"threads\":{},\
             \"repeat\":{},\"backend\":\"{}\",\"elapsed_s\":{seconds:.3},\"requests_per_s\":{:.0},\
             \"records_per_s\":{:.0},\"series_checked\":{},{remote_write_json}\"check\":\"{}\"}}",
            options.threads,
            options.repeat,
            options.backend.name(),
            total_requests as f64 / seconds,
            total_records as f64 / seconds,
            expected.samples.len(),
            if problems.is_empty() {
                "passed"
            } else {
                "failed"
            },
        );
    } else {
        println!(
            "done: {total_requests} requests, {total_records} records in {seconds:.2} s: \
             {:.2} M requests/s, {:.1} M records/s",
            total_requests as f64 / seconds / 1e6,
            total_records as f64 / seconds / 1e6,
        );
    }
    for problem in &problems {
        eprintln!("self-check: {problem}");
    }
    let delivered = match (&pushed, &options.remote_write) {
        (Some(Err(e)), Some(url)) => {
            eprintln!("remote write to {url}: {e}");
            false
        }
        (Some(Ok(())), Some(url)) => {
            if !options.json {
                println!("remote write: final totals delivered to {url}");
            }
            true
        }
        _ => true,
    };
    if !options.json {
        if problems.is_empty() {
            println!(
                "self-check: passed ({} samples of /metrics match the trace)",
                expected.samples.len()
            );
        } else {
            println!("self-check: FAILED ({} problems)", problems.len());
        }
    }
    if !options.hold.is_zero() {
        if !options.json {
            println!(
                "holding /metrics on http://{addr}/metrics for {} s",
                options.hold.as_secs()
            );
        }
        std::thread::sleep(options.hold);
    }
    drop(exporter);
    Ok(problems.is_empty() && delivered)
}

/// The registered metrics of the chosen backend.
enum Metrics {
    Abacus(GatewayMetrics),
    Facade(facade::FacadeMetrics),
    Prometheus(prom::PromMetrics),
}

/// One worker: every `threads`-th request from `worker` on, `repeat` times.
fn replay(
    metrics: &Metrics,
    requests: &[Request],
    worker: usize,
    options: &Options,
    done: &AtomicU64,
) -> Result<(), abacus::Error> {
    let mine: Vec<Request> = requests
        .iter()
        .skip(worker)
        .step_by(options.threads)
        .copied()
        .collect();
    match metrics {
        Metrics::Abacus(metrics) => {
            let handles = metrics.resolve()?;
            replay_with(&mine, options.repeat, done, |request| {
                handles.record(request)
            });
        }
        Metrics::Facade(metrics) => {
            replay_with(&mine, options.repeat, done, |request| {
                metrics.record(request)
            });
        }
        Metrics::Prometheus(metrics) => {
            replay_with(&mine, options.repeat, done, |request| {
                metrics.record(request)
            });
        }
    }
    Ok(())
}

/// Records `mine` `repeat` times with `record`, publishing progress once per batch.
#[inline]
fn replay_with(mine: &[Request], repeat: u64, done: &AtomicU64, record: impl Fn(&Request)) {
    for _ in 0..repeat {
        for batch in mine.chunks(PROGRESS_BATCH) {
            for request in batch {
                record(request);
            }
            done.fetch_add(batch.len() as u64, Relaxed);
        }
    }
}

/// Prints one progress line a second until the workers finish.
fn report_progress(
    done: &AtomicU64,
    finished: &AtomicBool,
    records_per_replay: u64,
    requests: &[Request],
    quiet: bool,
) {
    let records_per_request = records_per_replay as f64 / requests.len() as f64;
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    while !finished.load(Relaxed) {
        // Sleep in short steps so that the end of the replay is not delayed by a second.
        std::thread::sleep(Duration::from_millis(50));
        if last.0.elapsed() < Duration::from_secs(1) {
            continue;
        }
        let now = (Instant::now(), done.load(Relaxed));
        let rate = (now.1 - last.1) as f64 / (now.0 - last.0).as_secs_f64();
        if !quiet {
            println!(
                "{:5.1} s: {:6.2} M requests/s, {:6.1} M records/s",
                started.elapsed().as_secs_f64(),
                rate / 1e6,
                rate * records_per_request / 1e6
            );
        }
        last = now;
    }
}
