//! abacus-proxy: what metrics cost a request inside a real proxy, under load.
//!
//! One binary with four subcommands: `serve` (the reverse proxy, recording with the
//! backend `--metrics` names), `upstream` (the LLM endpoint it forwards to), `load` (the
//! load generator, against a running proxy) and `bench` (all of them, every backend under
//! every load with a Prometheus server scraping, writing `docs/PROXY.md`).

mod backend;
mod bench;
mod families;
mod http;
mod lifetime;
mod load;
mod proxy;
mod totals;
mod upstream;
mod wire;

/// The main job's reading of the trace and its mapping of rows to requests (route,
/// model, tenant, status, tokens, cost), shared as source so that the proxy replays
/// exactly the requests the main job does. The proxy uses only part of it.
#[allow(dead_code)]
#[path = "../../abacus-loadgen/src/trace.rs"]
mod trace;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::Backend;
use crate::bench::BenchOptions;
use crate::load::{LoadOptions, Shape};
use crate::proxy::ServeOptions;
use crate::upstream::UpstreamOptions;

const USAGE: &str = "\
usage: abacus-proxy serve [--metrics B] --upstream ADDR [--listen ADDR] [--metrics-listen ADDR]
                          [--threads N] [--max-seconds S] [--until-stdin-closes]
       abacus-proxy upstream [--listen ADDR] [--trace FILE]... [--max-seconds S]
                             [--until-stdin-closes]
       abacus-proxy load --target ADDR [--load L] [--seconds S] [--warmup S]
                         [--max-requests N] [--trace FILE]... [--check ADDR --metrics B]
       abacus-proxy bench [--seconds S] [--warmup S] [--reps N] [--loads L,...]
                          [--backends B,...] [--proxy-threads N] [--max-requests N]
                          [--out DIR] [--prometheus PATH] [--trace FILE]...

serve     the reverse proxy: POST /v1/{route}/{model} with an x-tenant header, forwarded to
          the upstream and recorded with backend B: off, abacus (default), prometheus,
          facade (the metrics macros on metrics-exporter-prometheus) or abacus-facade (the
          same macros on abacus-metrics). /metrics is served on --metrics-listen
          (default 127.0.0.1:9464), requests on --listen (default 127.0.0.1:8080).
upstream  the LLM endpoint: answers each request with the input and output tokens of the
          trace row its x-trace-row header names (default --listen 127.0.0.1:8081).
load      replays the trace against the proxy at --target and prints the latency
          percentiles; with --check, then compares the proxy's /metrics at ADDR with what
          it sent (the proxy must have served nothing else since it started, and --metrics
          must name its backend). L is closed:CONNECTIONS or open:RATE (default closed:16).
bench     runs every backend under every load (default loads closed:1,closed:16,closed:64,
          open:5000; --seconds 4 --warmup 1 --reps 3), a Prometheus server scraping the
          proxy every second, checks every run's totals and writes PROXY.md and proxy.svg
          to --out (default docs/ of this checkout). Exits 1 if a totals check failed.

Every address must be a loopback address. Servers end after --max-seconds (default 300),
and with --until-stdin-closes also when their standard input closes. --trace defaults to
the two files in data/azure-llm-2023/ of the checkout this binary was built from.";

/// A command-line mistake: reported with the usage.
struct UsageError(String);

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> Self {
        UsageError(e.to_string())
    }
}

impl From<String> for UsageError {
    fn from(e: String) -> Self {
        UsageError(e)
    }
}

enum Command {
    Help,
    Serve(ServeOptions),
    Upstream(UpstreamOptions, Vec<PathBuf>),
    Load(LoadCommand),
    Bench(BenchOptions),
}

struct LoadCommand {
    options: LoadOptions,
    traces: Vec<PathBuf>,
    check: Option<(SocketAddr, Backend)>,
}

fn default_traces() -> Vec<PathBuf> {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/azure-llm-2023");
    vec![
        data.join("AzureLLMInferenceTrace_code.csv"),
        data.join("AzureLLMInferenceTrace_conv.csv"),
    ]
}

/// Reads the traces in order; the load generator and the upstream must read the same
/// files in the same order, since a request names its row by position.
fn load_traces(paths: &[PathBuf]) -> Result<Vec<trace::Request>, Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    for path in paths {
        rows.extend(trace::load(path)?);
    }
    if rows.is_empty() {
        return Err("the traces hold no requests".into());
    }
    Ok(rows)
}

fn loopback(text: &str) -> Result<SocketAddr, UsageError> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|e| UsageError(format!("{text:?} is not an address: {e}")))?;
    if !addr.ip().is_loopback() {
        return Err(UsageError(format!(
            "{addr} is not a loopback address: everything here stays on this machine"
        )));
    }
    Ok(addr)
}

fn seconds(text: &str) -> Result<Duration, UsageError> {
    match text.parse::<f64>() {
        Ok(s) if s >= 0.0 && s.is_finite() && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(UsageError(format!("{text:?} is not a number of seconds"))),
    }
}

fn positive(text: &str, what: &str) -> Result<usize, UsageError> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(UsageError(format!(
            "{what} must be a positive whole number, not {text:?}"
        ))),
    }
}

fn list<T: std::str::FromStr<Err = String>>(text: &str) -> Result<Vec<T>, UsageError> {
    let items = text
        .split(',')
        .filter(|item| !item.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<T>, String>>()?;
    if items.is_empty() {
        return Err(UsageError(format!("{text:?} names nothing")));
    }
    Ok(items)
}

fn parse_command() -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let command = match parser.next()? {
        Some(Value(command)) => command.string()?,
        Some(Short('h') | Long("help")) => return Ok(Command::Help),
        Some(arg) => return Err(arg.unexpected().into()),
        None => return Err(UsageError("a command is needed".into())),
    };
    let value = |parser: &mut lexopt::Parser| -> Result<String, UsageError> {
        Ok(parser.value()?.string()?)
    };
    let mut backend = Backend::Abacus;
    let mut listen: Option<SocketAddr> = None;
    let mut metrics_listen = SocketAddr::from(([127, 0, 0, 1], 9464));
    let mut upstream: Option<SocketAddr> = None;
    let mut threads = 2;
    let mut max_seconds = Duration::from_secs(300);
    let mut until_stdin_closes = false;
    let mut traces = Vec::new();
    let mut target: Option<SocketAddr> = None;
    let mut shape = Shape::Closed { connections: 16 };
    let mut run_seconds = Duration::from_secs(bench::DEFAULT_SECONDS);
    let mut warmup = Duration::from_millis(bench::DEFAULT_WARMUP_MS);
    let mut max_requests = bench::DEFAULT_MAX_REQUESTS;
    let mut check: Option<SocketAddr> = None;
    let mut backend_given = false;
    let mut reps = bench::DEFAULT_REPS;
    let mut loads: Vec<Shape> = list(bench::DEFAULT_LOADS)?;
    let mut backends = Backend::ALL.to_vec();
    let mut out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let mut prometheus: Option<PathBuf> = None;
    while let Some(arg) = parser.next()? {
        match (command.as_str(), arg) {
            (_, Short('h') | Long("help")) => return Ok(Command::Help),
            ("serve" | "load", Long("metrics")) => {
                backend = value(&mut parser)?.parse()?;
                backend_given = true;
            }
            ("serve" | "upstream", Long("listen")) => {
                listen = Some(loopback(&value(&mut parser)?)?)
            }
            ("serve", Long("metrics-listen")) => metrics_listen = loopback(&value(&mut parser)?)?,
            ("serve", Long("upstream")) => upstream = Some(loopback(&value(&mut parser)?)?),
            ("serve", Long("threads")) => threads = positive(&value(&mut parser)?, "--threads")?,
            ("serve" | "upstream", Long("max-seconds")) => {
                max_seconds = seconds(&value(&mut parser)?)?
            }
            ("serve" | "upstream", Long("until-stdin-closes")) => until_stdin_closes = true,
            ("upstream" | "load" | "bench", Long("trace")) => {
                traces.push(PathBuf::from(value(&mut parser)?))
            }
            ("load", Long("target")) => target = Some(loopback(&value(&mut parser)?)?),
            ("load", Long("load")) => shape = value(&mut parser)?.parse()?,
            ("load", Long("check")) => check = Some(loopback(&value(&mut parser)?)?),
            ("load" | "bench", Long("seconds")) => run_seconds = seconds(&value(&mut parser)?)?,
            ("load" | "bench", Long("warmup")) => warmup = seconds(&value(&mut parser)?)?,
            ("load" | "bench", Long("max-requests")) => {
                max_requests = positive(&value(&mut parser)?, "--max-requests")? as u64;
            }
            ("bench", Long("reps")) => reps = positive(&value(&mut parser)?, "--reps")?,
            ("bench", Long("loads")) => loads = list(&value(&mut parser)?)?,
            ("bench", Long("backends")) => backends = list(&value(&mut parser)?)?,
            ("bench", Long("proxy-threads")) => {
                threads = positive(&value(&mut parser)?, "--proxy-threads")?
            }
            ("bench", Long("out")) => out = PathBuf::from(value(&mut parser)?),
            ("bench", Long("prometheus")) => prometheus = Some(PathBuf::from(value(&mut parser)?)),
            (_, arg) => return Err(arg.unexpected().into()),
        }
    }
    if traces.is_empty() {
        traces = default_traces();
    }
    Ok(match command.as_str() {
        "serve" => Command::Serve(ServeOptions {
            backend,
            listen: listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            metrics_listen,
            upstream: upstream.ok_or_else(|| UsageError("serve needs --upstream".into()))?,
            threads,
            max_seconds,
            until_stdin_closes,
        }),
        "upstream" => Command::Upstream(
            UpstreamOptions {
                listen: listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8081))),
                max_seconds,
                until_stdin_closes,
            },
            traces,
        ),
        "load" => {
            if check.is_some() && !backend_given {
                return Err(UsageError(
                    "--check needs --metrics to name the proxy's backend".into(),
                ));
            }
            Command::Load(LoadCommand {
                options: LoadOptions {
                    target: target.ok_or_else(|| UsageError("load needs --target".into()))?,
                    shape,
                    warmup,
                    seconds: run_seconds,
                    max_requests,
                },
                traces,
                check: check.map(|addr| (addr, backend)),
            })
        }
        "bench" => {
            // A backend or load named twice runs once.
            let mut seen = Vec::new();
            backends.retain(|b| {
                !seen.contains(b) && {
                    seen.push(*b);
                    true
                }
            });
            let mut seen = Vec::new();
            loads.retain(|l| {
                !seen.contains(l) && {
                    seen.push(*l);
                    true
                }
            });
            Command::Bench(BenchOptions {
                seconds: run_seconds,
                warmup,
                reps,
                loads,
                backends,
                proxy_threads: threads,
                max_requests,
                out,
                prometheus: match prometheus {
                    Some(path) => path,
                    None => find_prometheus()?,
                },
                traces,
            })
        }
        other => return Err(UsageError(format!("unknown command {other:?}"))),
    })
}

/// `$PROMETHEUS`, else `prometheus` on the `PATH`.
fn find_prometheus() -> Result<PathBuf, UsageError> {
    if let Some(path) = std::env::var_os("PROMETHEUS") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            UsageError(
                "the prometheus server is not on PATH (nor named by $PROMETHEUS or \
                 --prometheus): `bash crates/abacus-proxy/run` installs Debian's package"
                    .into(),
            )
        })
}

fn main() -> ExitCode {
    let command = match parse_command() {
        Ok(command) => command,
        Err(UsageError(e)) => {
            eprintln!("abacus-proxy: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            println!("{USAGE}");
            Ok(true)
        }
        Command::Serve(options) => proxy::run(&options).map(|()| true),
        Command::Upstream(options, traces) => load_traces(&traces)
            .and_then(|rows| Ok(upstream::run(rows, &options)?))
            .map(|()| true),
        Command::Load(command) => run_load(&command),
        Command::Bench(options) => bench::run(&options),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("abacus-proxy: {e}");
            ExitCode::from(2)
        }
    }
}

/// The `load` command: one run, its percentiles, and optionally the totals check.
fn run_load(command: &LoadCommand) -> Result<bool, Box<dyn std::error::Error>> {
    let rows = Arc::new(load_traces(&command.traces)?);
    let tenants = Arc::new(wire::Tenants::new());
    let day_before = backend::budget_today();
    let report = load::run(rows, tenants, &command.options, || {})?;
    let us = |q: f64| report.latency.value_at_quantile(q) as f64 / 1e3;
    println!(
        "{}: {:.0} requests/s, p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us; sent {} requests \
         with {} tokens; {} failed",
        command.options.shape.description(),
        report.requests_per_second(),
        us(0.5),
        us(0.99),
        us(0.999),
        report.tally.requests(),
        report.tally.tokens(),
        report.errors
    );
    for text in &report.error_texts {
        eprintln!("failed: {text}");
    }
    let Some((addr, backend)) = command.check else {
        return Ok(report.errors == 0);
    };
    let expected = if backend == Backend::Off {
        totals::Expected::default()
    } else {
        totals::Expected::recorded(&report.tally, backend::budget_today() == day_before)
    };
    let (status, text) = http::get(addr, "/metrics")?;
    if status != 200 {
        return Err(format!("GET /metrics answered {status}").into());
    }
    let problems = totals::compare(&text, &expected)?;
    for problem in &problems {
        eprintln!("totals: {problem}");
    }
    println!(
        "totals: {} ({} series compared)",
        if problems.is_empty() {
            "match"
        } else {
            "MISMATCH"
        },
        expected.samples.len()
    );
    Ok(problems.is_empty() && report.errors == 0)
}
