//! `docs/PROXY.md` and `docs/proxy.svg` from one benchmark's runs: the results pooled per
//! backend and load over the repetitions, each backend's difference to `off` from the same
//! benchmark, the targets and their verdicts, and the totals check.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::chart::{self, escape, Panel};
use super::machine::Machine;
use super::{BenchOptions, RunResult};
use super::{DEFAULT_LOADS, DEFAULT_REPS, DEFAULT_SECONDS, DEFAULT_WARMUP_MS};
use crate::backend::Backend;
use crate::load::{new_histogram, Shape};

/// The most `off`'s p99 may grow with abacus recording, in percent.
const TARGET_PERCENT: f64 = 1.0;
/// Cores of other work, on average, above which the machine counts as loaded.
const LOADED_CORES: f64 = 0.25;

/// One backend under one load, pooled over the repetitions.
struct Cell {
    backend: Backend,
    shape: Shape,
    latency: Histogram<u64>,
    measured: u64,
    seconds: f64,
    cpu_seconds: Option<f64>,
    /// The p99 of each repetition, in microseconds.
    p99_reps: Vec<f64>,
}

impl Cell {
    fn requests_per_second(&self) -> f64 {
        self.measured as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    /// A latency percentile in microseconds.
    fn us(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1e3
    }

    fn cpu_us_per_request(&self) -> Option<f64> {
        let cpu = self.cpu_seconds?;
        (self.measured > 0).then(|| cpu * 1e6 / self.measured as f64)
    }
}

pub(crate) struct Report<'a> {
    options: &'a BenchOptions,
    machine: &'a Machine,
    runs: &'a [RunResult],
    cells: Vec<Cell>,
}

fn us(value: f64) -> String {
    format!("{value:.1} µs")
}

fn signed_us(value: f64) -> String {
    format!("{value:+.1} µs")
}

fn percent(value: f64) -> String {
    format!("{value:+.2} %")
}

fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl<'a> Report<'a> {
    pub(crate) fn new(
        options: &'a BenchOptions,
        machine: &'a Machine,
        runs: &'a [RunResult],
    ) -> Self {
        let mut cells = Vec::new();
        for shape in &options.loads {
            for backend in &options.backends {
                let mut cell = Cell {
                    backend: *backend,
                    shape: *shape,
                    latency: new_histogram(),
                    measured: 0,
                    seconds: 0.0,
                    cpu_seconds: Some(0.0),
                    p99_reps: Vec::new(),
                };
                for run in runs
                    .iter()
                    .filter(|r| r.backend == *backend && r.shape == *shape)
                {
                    // Same bounds on both sides: adding cannot fail.
                    let _ = cell.latency.add(&run.latency);
                    cell.measured += run.measured;
                    cell.seconds += run.measured_seconds;
                    cell.cpu_seconds = cell
                        .cpu_seconds
                        .zip(run.proxy_cpu_seconds)
                        .map(|(a, b)| a + b);
                    cell.p99_reps
                        .push(run.latency.value_at_quantile(0.99) as f64 / 1e3);
                }
                cells.push(cell);
            }
        }
        Report {
            options,
            machine,
            runs,
            cells,
        }
    }

    fn cell(&self, backend: Backend, shape: &Shape) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.backend == backend && c.shape == *shape && c.measured > 0)
    }

    /// The largest difference between two repetitions' p99 of one backend under `shape`,
    /// in percent of `off`'s pooled p99: how far the machine moves a p99 by itself.
    fn spread(&self, shape: &Shape) -> Option<f64> {
        let off = self.cell(Backend::Off, shape)?.us(0.99);
        self.cells
            .iter()
            .filter(|c| c.shape == *shape && c.p99_reps.len() > 1)
            .map(|c| {
                let lo = c.p99_reps.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = c.p99_reps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (hi - lo) / off * 100.0
            })
            .reduce(f64::max)
    }

    /// Whether the run is shorter or narrower than the defaults.
    fn is_smoke(&self) -> bool {
        let o = self.options;
        o.seconds.as_secs_f64() < DEFAULT_SECONDS as f64
            || o.warmup.as_millis() < u128::from(DEFAULT_WARMUP_MS)
            || o.reps < DEFAULT_REPS
            || o.loads.len() < DEFAULT_LOADS.split(',').count()
            || o.backends.len() < Backend::ALL.len()
    }

    fn is_loaded(&self) -> bool {
        self.machine
            .other_cores
            .is_some_and(|cores| cores > LOADED_CORES)
    }

    pub(crate) fn markdown(&self) -> String {
        let mut md = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_markdown(&mut md);
        md
    }

    fn write_markdown(&self, md: &mut String) -> std::fmt::Result {
        writeln!(md, "# The proxy under load: what metrics cost a request\n")?;
        match (self.is_smoke(), self.is_loaded()) {
            (true, true) => writeln!(
                md,
                "> **Smoke run on a loaded machine, not the result.** It ran shorter or \
                 narrower than the defaults, beside other work; rerun the command below on \
                 an otherwise idle machine for the figures.\n"
            )?,
            (true, false) => writeln!(
                md,
                "> **Smoke run, not the result.** It ran shorter or narrower than the \
                 defaults; rerun the command below for the figures.\n"
            )?,
            (false, true) => writeln!(
                md,
                "> **Run on a loaded machine.** Other processes kept {:.2} cores busy on \
                 average; the differences below carry their noise.\n",
                self.machine.other_cores.unwrap_or_default()
            )?,
            (false, false) => {}
        }
        writeln!(
            md,
            "Generated by `bash crates/abacus-proxy/run` (do not edit by hand). A reverse \
             proxy on hyper 1.x and tokio forwards the Azure LLM trace's requests to an \
             upstream that answers at once with each row's token counts, and records every \
             request with one backend at a time, while a real Prometheus server scrapes its \
             `/metrics` every second. `off` records nothing; every other backend records the \
             same {} families per request. On two shared cores the absolute figures wander; \
             the differences to `off` from the same benchmark, with the backends interleaved, \
             are the result.\n",
            16
        )?;
        self.write_targets(md)?;
        self.write_cpu(md)?;
        writeln!(md, "![p99 and CPU per request added to off](proxy.svg)\n")?;
        self.write_results(md)?;
        self.write_totals(md)?;
        self.write_machine(md)?;
        md.push_str(HOW);
        Ok(())
    }

    fn write_targets(&self, md: &mut String) -> std::fmt::Result {
        writeln!(md, "## Targets\n")?;
        writeln!(
            md,
            "1. abacus adds at most {TARGET_PERCENT}% to `off`'s p99 at every load.\n\
             2. abacus adds less to `off`'s p99 than each other backend, at every load.\n\
             3. After every run the proxy's metrics equal the load generator's own count of \
             requests and tokens (checked by the command, which fails on a mismatch).\n"
        )?;
        let peers: Vec<Backend> = self
            .options
            .backends
            .iter()
            .copied()
            .filter(|b| *b != Backend::Off && *b != Backend::Abacus)
            .collect();
        write!(
            md,
            "| load | off p99 | abacus p99 | added | spread between repetitions | \
             1: ≤ {TARGET_PERCENT}% |"
        )?;
        for peer in &peers {
            write!(md, " 2: vs {peer} (adds) |")?;
        }
        writeln!(md)?;
        write!(md, "| --- | ---: | ---: | ---: | ---: | --- |")?;
        for _ in &peers {
            write!(md, " --- |")?;
        }
        writeln!(md)?;
        let (mut met, mut total) = (0, 0);
        for shape in &self.options.loads {
            let (Some(off), Some(ours)) = (
                self.cell(Backend::Off, shape),
                self.cell(Backend::Abacus, shape),
            ) else {
                writeln!(
                    md,
                    "| {} | not measured: needs off and abacus |",
                    shape.description()
                )?;
                continue;
            };
            let added = ours.us(0.99) - off.us(0.99);
            let pct = added / off.us(0.99) * 100.0;
            total += 1;
            let verdict = if pct <= TARGET_PERCENT {
                met += 1;
                "**met**".to_owned()
            } else {
                format!("**missed** by {:.2} points", pct - TARGET_PERCENT)
            };
            let spread = self
                .spread(shape)
                .map_or_else(|| "n/a".to_owned(), |s| format!("{s:.1} %"));
            write!(
                md,
                "| {} | {} | {} | {} ({}) | {spread} | {verdict} |",
                shape.description(),
                us(off.us(0.99)),
                us(ours.us(0.99)),
                signed_us(added),
                percent(pct)
            )?;
            for peer in &peers {
                total += 1;
                match self.cell(*peer, shape) {
                    Some(theirs) => {
                        let theirs_added = theirs.us(0.99) - off.us(0.99);
                        if added < theirs_added {
                            met += 1;
                            write!(md, " **met** ({}) |", signed_us(theirs_added))?;
                        } else {
                            write!(
                                md,
                                " **missed** by {:.1} µs ({}) |",
                                added - theirs_added,
                                signed_us(theirs_added)
                            )?;
                        }
                    }
                    None => write!(md, " not measured |")?,
                }
            }
            writeln!(md)?;
        }
        let passed = self.runs.iter().filter(|r| r.problems.is_empty()).count();
        writeln!(
            md,
            "\n**{met} of {total}** latency verdicts met; target 3: **{}** ({passed} of {} runs \
             matched).\n",
            if passed == self.runs.len() {
                "met"
            } else {
                "missed"
            },
            self.runs.len()
        )?;
        writeln!(
            md,
            "The spread is the largest difference between two repetitions' p99 of one \
             backend under that load, in % of `off`'s p99: how far this machine moved a p99 \
             between runs of the same code. A difference to `off` smaller than it is not \
             settled by one benchmark and can change sign on a rerun; the proxy's CPU time \
             per request (below, and in the chart) is the steadier measure of what recording \
             costs.\n"
        )
    }

    /// The proxy's CPU time per request added to `off`'s, per load and backend.
    fn write_cpu(&self, md: &mut String) -> std::fmt::Result {
        let backends: Vec<Backend> = self
            .options
            .backends
            .iter()
            .copied()
            .filter(|b| *b != Backend::Off)
            .collect();
        writeln!(md, "## What recording costs the proxy's CPU\n")?;
        writeln!(
            md,
            "The proxy process's CPU time (user plus system, all its threads, the `/metrics` \
             server's included) per request answered, added to `off`'s under the same load. \
             `/proc` counts it in clock ticks (10 ms on Linux), a fraction of a percent of a run's CPU \
             time at the default length.\n"
        )?;
        write!(md, "| load | off |")?;
        for backend in &backends {
            write!(md, " {backend} |")?;
        }
        writeln!(md)?;
        write!(md, "| --- | ---: |")?;
        for _ in &backends {
            write!(md, " ---: |")?;
        }
        writeln!(md)?;
        for shape in &self.options.loads {
            let Some(off) = self
                .cell(Backend::Off, shape)
                .and_then(Cell::cpu_us_per_request)
            else {
                writeln!(md, "| {} | n/a |", shape.description())?;
                continue;
            };
            write!(md, "| {} | {} |", shape.description(), us(off))?;
            for backend in &backends {
                match self
                    .cell(*backend, shape)
                    .and_then(Cell::cpu_us_per_request)
                {
                    Some(ours) => write!(
                        md,
                        " {} ({}) |",
                        signed_us(ours - off),
                        percent((ours - off) / off * 100.0)
                    )?,
                    None => write!(md, " n/a |")?,
                }
            }
            writeln!(md)?;
        }
        writeln!(md)
    }

    fn write_results(&self, md: &mut String) -> std::fmt::Result {
        writeln!(md, "## Results\n")?;
        writeln!(
            md,
            "Latency percentiles pool every repetition's HDR histogram (3 significant \
             digits); requests/s is answered requests over measured seconds. \"vs off\" is \
             the difference to `off` under the same load in this benchmark. Proxy CPU is the \
             proxy process's user plus system time over the measured seconds, per request.\n"
        )?;
        for shape in &self.options.loads {
            writeln!(md, "### {}\n", shape.description())?;
            writeln!(
                md,
                "| backend | requests/s | p50 | p99 | p99.9 | p50 vs off | p99 vs off | \
                 p99.9 vs off | proxy CPU/request | vs off | p99 per repetition |"
            )?;
            writeln!(
                md,
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
            )?;
            let off = self.cell(Backend::Off, shape);
            for backend in &self.options.backends {
                let Some(cell) = self.cell(*backend, shape) else {
                    writeln!(md, "| {backend} | no requests measured |")?;
                    continue;
                };
                let versus = |q: f64| match off {
                    Some(off) if *backend != Backend::Off => {
                        let added = cell.us(q) - off.us(q);
                        format!(
                            "{} ({})",
                            signed_us(added),
                            percent(added / off.us(q) * 100.0)
                        )
                    }
                    _ => "".to_owned(),
                };
                let cpu = cell.cpu_us_per_request();
                let cpu_versus = match (cpu, off.and_then(Cell::cpu_us_per_request)) {
                    (Some(ours), Some(base)) if *backend != Backend::Off => signed_us(ours - base),
                    _ => String::new(),
                };
                let reps: Vec<String> = cell.p99_reps.iter().map(|v| format!("{v:.1}")).collect();
                writeln!(
                    md,
                    "| {backend} | {} | {} | {} | {} | {} | {} | {} | {} | {cpu_versus} | {} µs |",
                    thousands(cell.requests_per_second()),
                    us(cell.us(0.5)),
                    us(cell.us(0.99)),
                    us(cell.us(0.999)),
                    versus(0.5),
                    versus(0.99),
                    versus(0.999),
                    cpu.map_or_else(|| "n/a".to_owned(), us),
                    reps.join(", "),
                )?;
            }
            writeln!(md)?;
        }
        Ok(())
    }

    fn write_totals(&self, md: &mut String) -> std::fmt::Result {
        writeln!(md, "## Totals check\n")?;
        writeln!(
            md,
            "After each run the command fetches the proxy's `/metrics`, parses it with \
             `abacus_prometheus::parse` (the text format 0.0.4, which every backend serves \
             here) and compares every `gateway_*` and `sentinel_*` sample with what the load \
             generator counted from the answers it got: requests by route and status, input \
             and output tokens by model, tokens per tenant, each budget's used tokens (and, \
             within one UTC day, its remaining tokens and alerts), cost totals and both \
             cost-per-request histograms bucket by bucket, and the count of the duration \
             histogram (its buckets are the proxy's own timings). A missing, extra or \
             different series fails the command. For `off` the exposition must hold none of \
             these series. Prometheus's scrapes are counted from its own `up` series over \
             each run.\n"
        )?;
        writeln!(
            md,
            "| backend | runs | runs matched | requests sent | tokens sent | series per check | \
             Prometheus scrapes per run |"
        )?;
        writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: | --- |")?;
        for backend in &self.options.backends {
            let runs: Vec<&RunResult> =
                self.runs.iter().filter(|r| r.backend == *backend).collect();
            let matched = runs.iter().filter(|r| r.problems.is_empty()).count();
            let requests: u64 = runs.iter().map(|r| r.requests_sent).sum();
            let tokens: u64 = runs.iter().map(|r| r.tokens_sent).sum();
            let series = runs.first().map_or(0, |r| r.series_checked);
            let scrapes: Vec<u64> = runs
                .iter()
                .filter_map(|r| r.scrapes.as_ref().ok().copied())
                .collect();
            let scrapes = match (scrapes.iter().min(), scrapes.iter().max()) {
                (Some(lo), Some(hi)) if scrapes.len() == runs.len() => format!("{lo}–{hi}"),
                _ => "not all known".to_owned(),
            };
            writeln!(
                md,
                "| {backend} | {} | {matched} | {} | {} | {series} | {scrapes} |",
                runs.len(),
                thousands(requests as f64),
                thousands(tokens as f64),
            )?;
        }
        let failures: Vec<String> = self
            .runs
            .iter()
            .filter(|r| !r.problems.is_empty())
            .flat_map(|r| {
                r.problems
                    .iter()
                    .take(3)
                    .map(move |p| format!("- {} {}: {}", r.backend, r.shape, p))
            })
            .collect();
        if failures.is_empty() {
            writeln!(md, "\nEvery run matched.\n")
        } else {
            writeln!(md, "\nMismatches (the first few of each failed run):\n")?;
            for failure in failures {
                writeln!(md, "{}", escape(&failure))?;
            }
            writeln!(md)
        }
    }

    fn write_machine(&self, md: &mut String) -> std::fmt::Result {
        let m = self.machine;
        let o = self.options;
        writeln!(md, "## Machine and settings\n")?;
        writeln!(md, "| | |\n| --- | --- |")?;
        writeln!(md, "| CPU | {} |", m.cpu)?;
        writeln!(md, "| cores | {} |", m.cores)?;
        writeln!(md, "| rustc | {} |", m.rustc)?;
        writeln!(md, "| commit | {} |", m.commit)?;
        writeln!(md, "| date | {} |", m.date)?;
        writeln!(
            md,
            "| load average (1, 5, 15 min) before, after | {}; {} |",
            m.load_before, m.load_after
        )?;
        match m.other_cores {
            Some(cores) => writeln!(
                md,
                "| other processes' CPU during the benchmark | {cores:.2} cores on average over {:.0} s |",
                m.wall_seconds
            )?,
            None => writeln!(md, "| other processes' CPU | unknown |")?,
        }
        let loads: Vec<String> = o.loads.iter().map(Shape::name).collect();
        let backends: Vec<&str> = o.backends.iter().map(|b| b.name()).collect();
        writeln!(
            md,
            "| settings | `--seconds {} --warmup {} --reps {} --loads {} --backends {} \
             --proxy-threads {}` |",
            o.seconds.as_secs_f64(),
            o.warmup.as_secs_f64(),
            o.reps,
            loads.join(","),
            backends.join(","),
            o.proxy_threads
        )?;
        writeln!(md)?;
        writeln!(md, "| backend | what records |\n| --- | --- |")?;
        for backend in &o.backends {
            writeln!(md, "| {backend} | {} |", backend.description())?;
        }
        writeln!(md)
    }

    /// Two panels: p99 added to `off`, in percent, with the target; and the proxy's CPU
    /// time per request added to `off`, in microseconds. One group of bars per load.
    pub(crate) fn chart(&self) -> String {
        let backends: Vec<Backend> = self
            .options
            .backends
            .iter()
            .copied()
            .filter(|b| *b != Backend::Off)
            .collect();
        let mut p99 = Vec::new();
        let mut cpu = Vec::new();
        for shape in &self.options.loads {
            let off = self.cell(Backend::Off, shape);
            let mut p99_bars = Vec::new();
            let mut cpu_bars = Vec::new();
            for backend in &backends {
                let cell = self.cell(*backend, shape);
                p99_bars.push(
                    off.zip(cell)
                        .map(|(off, cell)| (cell.us(0.99) - off.us(0.99)) / off.us(0.99) * 100.0),
                );
                cpu_bars.push(
                    off.and_then(Cell::cpu_us_per_request)
                        .zip(cell.and_then(Cell::cpu_us_per_request))
                        .map(|(off, ours)| ours - off),
                );
            }
            p99.push((shape.name(), p99_bars));
            cpu.push((shape.name(), cpu_bars));
        }
        let heading = if self.is_smoke() {
            " (smoke run, not the result)"
        } else {
            ""
        };
        let panels = [
            Panel {
                title: "p99 added (%)",
                unit: "%",
                groups: p99,
                target: Some(TARGET_PERCENT),
            },
            Panel {
                title: "CPU/request added (µs)",
                unit: " µs",
                groups: cpu,
                target: None,
            },
        ];
        chart::draw(heading, TARGET_PERCENT, &backends, &panels)
    }
}

/// How the benchmark works, the same in every report.
const HOW: &str = include_str!("how.md");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_spelled_for_the_report() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(percent(0.5), "+0.50 %");
        assert_eq!(signed_us(-2.0), "-2.0 µs");
    }
}
