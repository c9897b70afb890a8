//! The benchmark: every backend under every load, with a real Prometheus server scraping
//! the proxy every second, backends interleaved round-robin so that the machine's noise
//! falls on all of them alike, the proxy's totals checked after every run, and the report
//! (`docs/PROXY.md` and its chart) written from the results.

mod chart;
mod children;
mod machine;
mod report;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::backend::{budget_today, Backend};
use crate::load::{self, LoadOptions, Shape};
use crate::totals::{compare, Expected};
use crate::trace::Request as Row;
use crate::wire::Tenants;
use children::{free_loopback_port, spawn_server, Prometheus};

/// The benchmark's settings.
#[derive(Clone, Debug)]
pub(crate) struct BenchOptions {
    pub(crate) seconds: Duration,
    pub(crate) warmup: Duration,
    pub(crate) reps: usize,
    pub(crate) loads: Vec<Shape>,
    pub(crate) backends: Vec<Backend>,
    pub(crate) proxy_threads: usize,
    pub(crate) max_requests: u64,
    pub(crate) out: PathBuf,
    pub(crate) prometheus: PathBuf,
    pub(crate) traces: Vec<PathBuf>,
}

/// The defaults, which the report calls a full run: about 6 minutes on 2 cores.
pub(crate) const DEFAULT_SECONDS: u64 = 4;
pub(crate) const DEFAULT_WARMUP_MS: u64 = 1_000;
pub(crate) const DEFAULT_REPS: usize = 3;
pub(crate) const DEFAULT_LOADS: &str = "closed:1,closed:16,closed:64,open:5000";
/// Enough requests that no run at these durations reaches it: the bound is a safety net.
pub(crate) const DEFAULT_MAX_REQUESTS: u64 = 5_000_000;

/// What one run of one backend under one load found.
pub(crate) struct RunResult {
    pub(crate) backend: Backend,
    pub(crate) shape: Shape,
    pub(crate) latency: Histogram<u64>,
    pub(crate) measured: u64,
    pub(crate) measured_seconds: f64,
    /// The proxy's CPU time (user plus system) over the measured part of the run.
    pub(crate) proxy_cpu_seconds: Option<f64>,
    /// Everything answered, warm-up included.
    pub(crate) requests_sent: u64,
    pub(crate) tokens_sent: u64,
    pub(crate) series_checked: usize,
    /// Mismatches between the proxy's totals and the load generator's, and failed
    /// requests; empty when the run passed.
    pub(crate) problems: Vec<String>,
    pub(crate) scrapes: Result<u64, String>,
}

/// Runs the benchmark and writes the report. `Ok(false)` when a totals check failed (the
/// report says which).
pub(crate) fn run(options: &BenchOptions) -> Result<bool, Box<dyn std::error::Error>> {
    let rows = Arc::new(crate::load_traces(&options.traces)?);
    let tenants = Arc::new(Tenants::new());
    let exe = std::env::current_exe()?;
    let run_count = options.reps * options.loads.len() * options.backends.len();
    // Starting the proxy, the totals check and the query of Prometheus take well under a
    // second beside each run.
    let per_run = options.warmup + options.seconds + Duration::from_millis(700);
    // Every server ends by itself well after the benchmark should have: three times its
    // expected length and five minutes more.
    let lifetime = per_run * run_count as u32 * 3 + Duration::from_secs(300);
    println!(
        "{run_count} runs of {:.1} s + {:.1} s warm-up: {} backends x {} loads x {} repetitions, \
         about {} s",
        options.seconds.as_secs_f64(),
        options.warmup.as_secs_f64(),
        options.backends.len(),
        options.loads.len(),
        options.reps,
        (per_run * run_count as u32).as_secs()
    );

    let mut upstream_args = vec![
        "upstream".to_owned(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--max-seconds".to_owned(),
        lifetime.as_secs().to_string(),
        "--until-stdin-closes".to_owned(),
    ];
    for trace in &options.traces {
        upstream_args.push("--trace".to_owned());
        upstream_args.push(trace.display().to_string());
    }
    let (upstream, upstream_addr) = spawn_server(&exe, &upstream_args)?;
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_loopback_port()?));
    let prometheus = Prometheus::start(&options.prometheus, metrics_addr, lifetime)?;
    prometheus.wait_for_scrape_loop()?;
    println!(
        "upstream on {upstream_addr}; Prometheus on {} scraping {metrics_addr} every second",
        prometheus.addr
    );

    let machine_before = machine::Snapshot::take();
    let mut results = Vec::with_capacity(run_count);
    for rep in 0..options.reps {
        for shape in &options.loads {
            // Each repetition starts the round with another backend, so that no backend
            // always follows the same one.
            for i in 0..options.backends.len() {
                let backend = options.backends[(i + rep) % options.backends.len()];
                let context = RunContext {
                    exe: &exe,
                    rows: &rows,
                    tenants: &tenants,
                    upstream: upstream_addr,
                    metrics: metrics_addr,
                    prometheus: &prometheus,
                    lifetime,
                };
                let result = run_one(&context, options, backend, *shape)?;
                print_run(rep, options.reps, &result);
                results.push(result);
            }
        }
    }
    drop(prometheus);
    drop(upstream);
    let machine = machine::Machine::describe(&machine_before, &machine::Snapshot::take());

    let passed = results.iter().all(|r| r.problems.is_empty());
    let report = report::Report::new(options, &machine, &results);
    std::fs::create_dir_all(&options.out)?;
    let out = options.out.canonicalize()?;
    let markdown = out.join("PROXY.md");
    let chart = out.join("proxy.svg");
    std::fs::write(&markdown, report.markdown())?;
    std::fs::write(&chart, report.chart())?;
    println!(
        "wrote {} and {}; totals check: {}",
        markdown.display(),
        chart.display(),
        if passed { "passed" } else { "FAILED" }
    );
    for result in results.iter().filter(|r| !r.problems.is_empty()) {
        for problem in result.problems.iter().take(10) {
            eprintln!("{} {}: {problem}", result.backend, result.shape);
        }
    }
    Ok(passed)
}

struct RunContext<'a> {
    exe: &'a std::path::Path,
    rows: &'a Arc<Vec<Row>>,
    tenants: &'a Arc<Tenants>,
    upstream: SocketAddr,
    metrics: SocketAddr,
    prometheus: &'a Prometheus,
    lifetime: Duration,
}

/// Starts a proxy with `backend`, runs `shape` against it, and checks its totals.
fn run_one(
    context: &RunContext<'_>,
    options: &BenchOptions,
    backend: Backend,
    shape: Shape,
) -> Result<RunResult, Box<dyn std::error::Error>> {
    let args = vec![
        "serve".to_owned(),
        "--metrics".to_owned(),
        backend.name().to_owned(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--metrics-listen".to_owned(),
        context.metrics.to_string(),
        "--upstream".to_owned(),
        context.upstream.to_string(),
        "--threads".to_owned(),
        options.proxy_threads.to_string(),
        "--max-seconds".to_owned(),
        context.lifetime.as_secs().to_string(),
        "--until-stdin-closes".to_owned(),
    ];
    // The /metrics port of the last run's proxy may take a moment to be free again.
    let mut started = spawn_server(context.exe, &args);
    for _ in 0..5 {
        if started.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        started = spawn_server(context.exe, &args);
    }
    let (proxy, proxy_addr) = started?;
    let pid = proxy.pid();
    let day_before = budget_today();
    let cpu_at_measure = Arc::new(Mutex::new(None));
    let on_measure = {
        let cpu_at_measure = cpu_at_measure.clone();
        move || {
            let ticks = machine::process_cpu_ticks(pid);
            *cpu_at_measure
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = ticks;
        }
    };
    let load_options = LoadOptions {
        target: proxy_addr,
        shape,
        warmup: options.warmup,
        seconds: options.seconds,
        max_requests: options.max_requests,
    };
    let report = load::run(
        context.rows.clone(),
        context.tenants.clone(),
        &load_options,
        on_measure,
    )?;
    let cpu_end = machine::process_cpu_ticks(pid);
    let cpu_start = *cpu_at_measure
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let proxy_cpu_seconds = match (cpu_start, cpu_end) {
        (Some(start), Some(end)) => Some(end.saturating_sub(start) as f64 / machine::ticks()),
        _ => None,
    };
    let one_period = budget_today() == day_before;

    let expected = if backend == Backend::Off {
        Expected::default()
    } else {
        Expected::recorded(&report.tally, one_period)
    };
    let mut problems = match crate::http::get(context.metrics, "/metrics") {
        Ok((200, text)) => compare(&text, &expected).unwrap_or_else(|e| vec![e]),
        Ok((status, _)) => vec![format!("GET /metrics answered {status}")],
        Err(e) => vec![e],
    };
    if report.errors > 0 {
        problems.push(format!(
            "{} requests failed, first: {}",
            report.errors,
            report.error_texts.join("; ")
        ));
    }
    let window = options.warmup + options.seconds;
    let scrapes = context.prometheus.scrapes_in_last(window);
    drop(proxy);
    Ok(RunResult {
        backend,
        shape,
        measured: report.measured,
        measured_seconds: report.measured_seconds,
        proxy_cpu_seconds,
        requests_sent: report.tally.requests(),
        tokens_sent: report.tally.tokens(),
        series_checked: expected.samples.len(),
        problems,
        scrapes,
        latency: report.latency,
    })
}

fn print_run(rep: usize, reps: usize, result: &RunResult) {
    let us = |q: f64| result.latency.value_at_quantile(q) as f64 / 1e3;
    let cpu = match result.proxy_cpu_seconds {
        Some(cpu) if result.measured > 0 => {
            format!("{:.1} us CPU/req", cpu * 1e6 / result.measured as f64)
        }
        _ => "CPU n/a".to_owned(),
    };
    let scrapes = match &result.scrapes {
        Ok(n) => format!("{n} scrapes"),
        Err(e) => format!("scrapes unknown ({e})"),
    };
    println!(
        "rep {}/{reps} {:<10} {:<13} {:>8.0} req/s  p50 {:>7.1} us  p99 {:>7.1} us  p99.9 {:>7.1} us  \
         {cpu}  {scrapes}  totals {}",
        rep + 1,
        result.shape.name(),
        result.backend.name(),
        result.measured as f64 / result.measured_seconds.max(f64::MIN_POSITIVE),
        us(0.5),
        us(0.99),
        us(0.999),
        if result.problems.is_empty() {
            format!("ok ({} requests, {} tokens)", result.requests_sent, result.tokens_sent)
        } else {
            format!("FAILED ({} problems)", result.problems.len())
        }
    );
}
