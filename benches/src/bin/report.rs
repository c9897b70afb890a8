//! Writes `docs/BENCHMARKS.md` and `docs/benchmarks.svg` from one run of `bash benches/run`:
//! criterion's median point estimates (`target/criterion/**/new/estimates.json`), the
//! memory bench's `target/bench-results/memory.json` and the replay comparison's
//! `target/bench-results/replay.json`.
//!
//! Every target of the speed issue (#3) is computed from these numbers alone and marked met or not met
//! with the measured ratio; nothing here adjusts a measurement.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use abacus_benches::{results_dir, target_dir, threads_group};
use serde_json::Value;

type Error = Box<dyn std::error::Error>;

/// Criterion group names, as the benches spell them.
const KEPT: &str = "counter increment through a kept handle";
const KEPT4: &str = "counter increment through a kept handle with 4 labels";
const LOCAL: &str = "counter increment through a thread-bound handle";
const PER_CALL: &str = "counter increment with 4 label values resolved on every call";
const HISTOGRAM: &str = "histogram observe through a kept handle";
const COUNTER_1T: &str = "counter increment from 1 thread";
const COUNTER_2T: &str = "counter increment from 2 threads at once";
const HISTOGRAM_1T: &str = "histogram observe from 1 thread";
const HISTOGRAM_2T: &str = "histogram observe from 2 threads at once";
const RENDER: &str = "render 10000 counter and 1000 histogram series to text";
/// The facade's workloads, named as in the table beside their group names (which end in
/// "from 1 thread" or "from 2 threads at once").
const FACADE: [(&str, &str); 3] = [
    ("counter! with static labels", "macro, static labels"),
    ("counter! with a dynamic label", "macro, dynamic label"),
    ("kept counter! handle increment", "kept handle"),
];
const FACADE_OURS: &str = "abacus-metrics";
const FACADE_INCUMBENT: &str = "metrics-exporter-prometheus";
const SCRAPED_COUNTER: &str = "counter increment from 1 thread beside an exporter of 10000 series";
const SCRAPED_HISTOGRAM: &str =
    "histogram observe from 1 thread beside an exporter of 10000 series";
const NOBODY_SCRAPES: &str = "baseline: nobody scrapes";
const ANOTHER_SCRAPED: &str = "control: a client scrapes another registry in a loop";
const THIS_SCRAPED: &str = "a client scrapes this registry in a loop";

const FETCH_ADD: &str = "baseline: relaxed fetch_add";
const PEERS: [&str; 4] = ["prometheus", "prometheus-client", "metrics", "measured"];

/// Median times in nanoseconds, by criterion's full id (`group/function`), in run order
/// of the groups as the benches define them.
struct Criterion {
    medians: BTreeMap<String, f64>,
    /// The 95% confidence interval of each median.
    intervals: BTreeMap<String, (f64, f64)>,
}

impl Criterion {
    fn load(dir: &Path) -> Result<Self, Error> {
        let mut medians = BTreeMap::new();
        let mut intervals = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n == "benchmark.json")
                    && path.parent().is_some_and(|p| p.ends_with("new"))
                {
                    let info: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
                    let estimates = path.with_file_name("estimates.json");
                    let estimates: Value =
                        serde_json::from_str(&std::fs::read_to_string(&estimates)?)?;
                    let id = info["full_id"].as_str().ok_or("no full_id")?.to_owned();
                    let median = estimates["median"]["point_estimate"]
                        .as_f64()
                        .ok_or("no median point estimate")?;
                    let interval = &estimates["median"]["confidence_interval"];
                    let bound = |key: &str| interval[key].as_f64().unwrap_or(median);
                    intervals.insert(id.clone(), (bound("lower_bound"), bound("upper_bound")));
                    medians.insert(id, median);
                }
            }
        }
        Ok(Criterion { medians, intervals })
    }

    fn get(&self, group: &str, function: &str) -> Result<f64, Error> {
        let id = format!("{group}/{function}");
        self.medians
            .get(&id)
            .copied()
            .ok_or_else(|| format!("no criterion result for {id:?}: run `bash benches/run`").into())
    }

    /// The 95% confidence interval of a median.
    fn interval(&self, group: &str, function: &str) -> Result<(f64, f64), Error> {
        let id = format!("{group}/{function}");
        self.intervals
            .get(&id)
            .copied()
            .ok_or_else(|| format!("no criterion result for {id:?}: run `bash benches/run`").into())
    }

    /// The range of `a / b` over the confidence intervals of both medians.
    fn quotient(&self, a: (&str, &str), b: (&str, &str)) -> Result<(f64, f64), Error> {
        let (a, b) = (self.interval(a.0, a.1)?, self.interval(b.0, b.1)?);
        Ok((a.0 / b.1, a.1 / b.0))
    }

    /// The functions of a group, in name order.
    fn functions(&self, group: &str) -> Vec<(String, f64)> {
        let prefix = format!("{group}/");
        self.medians
            .iter()
            .filter_map(|(id, &t)| id.strip_prefix(&prefix).map(|f| (f.to_owned(), t)))
            .filter(|(f, _)| !f.contains('/'))
            .collect()
    }

    /// The fastest function of a group whose name starts with a peer's name.
    fn fastest_peer(&self, group: &str) -> Result<(String, f64), Error> {
        self.functions(group)
            .into_iter()
            .filter(|(f, _)| PEERS.iter().any(|p| is_library(f, p)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .ok_or_else(|| format!("no peer results in {group:?}").into())
    }
}

/// Whether a bench function name is of `library` (`prometheus` is not `prometheus-client`).
fn is_library(function: &str, library: &str) -> bool {
    function == library || function.starts_with(&format!("{library}:"))
}

/// Whether a target is an upper or a lower bound on its ratio.
#[derive(Clone, Copy)]
enum Bound {
    AtMost(f64),
    AtLeast(f64),
    /// A count that must be zero (allocations of a warm scrape).
    NoAllocation,
}

struct Target {
    id: &'static str,
    what: String,
    ratio: f64,
    /// The ratio over the 95% confidence intervals of the medians it divides, where it
    /// comes from criterion.
    range: Option<(f64, f64)>,
    bound: Bound,
}

impl Target {
    fn met(&self) -> bool {
        match self.bound {
            Bound::AtMost(limit) => self.ratio <= limit,
            Bound::AtLeast(limit) => self.ratio >= limit,
            Bound::NoAllocation => self.ratio == 0.0,
        }
    }

    fn limit(&self) -> f64 {
        match self.bound {
            Bound::AtMost(limit) | Bound::AtLeast(limit) => limit,
            Bound::NoAllocation => 0.0,
        }
    }

    fn target_text(&self) -> String {
        match self.bound {
            Bound::AtMost(limit) => format!("≤ {limit}x"),
            Bound::AtLeast(limit) => format!("≥ {limit}x"),
            Bound::NoAllocation => "0 allocations".to_owned(),
        }
    }

    fn measured_text(&self) -> String {
        match self.bound {
            Bound::NoAllocation => format!("{} allocations", self.ratio),
            _ => x(self.ratio),
        }
    }

    /// "met" or "not met", with the margin either way.
    fn verdict(&self) -> String {
        let limit = self.limit();
        match (self.bound, self.met()) {
            (Bound::NoAllocation, true) => "**met**".to_owned(),
            (Bound::NoAllocation, false) => "**not met**".to_owned(),
            (Bound::AtMost(_), true) => {
                format!(
                    "**met**, {:.0}% under the limit",
                    (1.0 - self.ratio / limit) * 100.0
                )
            }
            (Bound::AtMost(_), false) => format!(
                "**not met**: {:.0}% over the limit ({:.2}x too slow or large)",
                (self.ratio / limit - 1.0) * 100.0,
                self.ratio / limit
            ),
            (Bound::AtLeast(_), true) => {
                format!(
                    "**met**, {:.0}% over the limit",
                    (self.ratio / limit - 1.0) * 100.0
                )
            }
            (Bound::AtLeast(_), false) => format!(
                "**not met**: {:.0}% short of the limit",
                (1.0 - self.ratio / limit) * 100.0
            ),
        }
    }
}

fn ns(t: f64) -> String {
    if t < 10.0 {
        format!("{t:.2} ns")
    } else if t < 1_000.0 {
        format!("{t:.1} ns")
    } else if t < 1_000_000.0 {
        format!("{:.1} µs", t / 1e3)
    } else {
        format!("{:.2} ms", t / 1e6)
    }
}

fn x(ratio: f64) -> String {
    if ratio < 10.0 {
        format!("{ratio:.2}x")
    } else {
        format!("{ratio:.1}x")
    }
}

/// `100000` as `100,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn read_json(path: &Path) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {e}; run `bash benches/run`", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// A table of one group: every function's median, its ratio to `reference` (named in the
/// header), and to the fastest peer.
fn group_table(
    out: &mut String,
    results: &Criterion,
    group: &str,
    reference: Option<(&str, f64)>,
) -> Result<(), Error> {
    let fastest = results.fastest_peer(group).ok();
    let mut header = "| bench | median |".to_owned();
    let mut rule = "| --- | ---: |".to_owned();
    if let Some((name, _)) = reference {
        write!(header, " vs {name} |")?;
        rule.push_str(" ---: |");
    }
    if let Some((name, _)) = &fastest {
        write!(header, " vs fastest peer ({name}) |")?;
        rule.push_str(" ---: |");
    }
    writeln!(out, "{header}\n{rule}")?;
    for (function, t) in order(results.functions(group)) {
        write!(out, "| {function} | {} |", ns(t))?;
        if let Some((_, r)) = reference {
            write!(out, " {} |", x(t / r))?;
        }
        if let Some((_, f)) = &fastest {
            write!(out, " {} |", x(t / f))?;
        }
        out.push('\n');
    }
    out.push('\n');
    Ok(())
}

/// Baselines first, then abacus, then the peers in their fixed order.
fn order(mut rows: Vec<(String, f64)>) -> Vec<(String, f64)> {
    let rank = |f: &str| {
        if f.starts_with("baseline") {
            0
        } else if is_library(f, "abacus") {
            1
        } else {
            2 + PEERS.iter().position(|p| is_library(f, p)).unwrap_or(9)
        }
    };
    rows.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.0.cmp(&b.0)));
    rows
}

struct Threads {
    library: String,
    one: f64,
    two: f64,
}

impl Threads {
    /// Total throughput with 2 threads over that with 1: each thread's time per operation
    /// is the slowest thread's time over its operations.
    fn scaling(&self) -> f64 {
        2.0 * self.one / self.two
    }
}

fn threads(results: &Criterion, one: &str, two: &str) -> Vec<Threads> {
    order(results.functions(one))
        .into_iter()
        .filter_map(|(library, one)| {
            let two = results.get(two, &library).ok()?;
            Some(Threads { library, one, two })
        })
        .collect()
}

fn threads_table(out: &mut String, rows: &[Threads]) -> Result<(), Error> {
    writeln!(
        out,
        "| bench | 1 thread: time per op | 2 threads: time per op per thread | 1 thread: M ops/s | \
         2 threads: total M ops/s | 2 threads / 1 thread |\n| --- | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for row in rows {
        writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.0} | {} |",
            row.library,
            ns(row.one),
            ns(row.two),
            1e3 / row.one,
            2e3 / row.two,
            x(row.scaling())
        )?;
    }
    out.push('\n');
    Ok(())
}

/// One workload of the facade at one thread count: both recorders' medians.
struct Facade {
    workload: &'static str,
    threads: usize,
    ours: f64,
    incumbent: f64,
}

impl Facade {
    fn ratio(&self) -> f64 {
        self.ours / self.incumbent
    }
}

fn facade(results: &Criterion) -> Vec<Facade> {
    let mut rows = Vec::new();
    for (group, workload) in FACADE {
        for threads in [1, 2] {
            let group = threads_group(group, threads);
            if let (Ok(ours), Ok(incumbent)) = (
                results.get(&group, FACADE_OURS),
                results.get(&group, FACADE_INCUMBENT),
            ) {
                rows.push(Facade {
                    workload,
                    threads,
                    ours,
                    incumbent,
                });
            }
        }
    }
    rows
}

fn facade_table(out: &mut String, rows: &[Facade]) -> Result<(), Error> {
    writeln!(
        out,
        "| workload | threads | {FACADE_OURS}: time per op per thread | \
         {FACADE_INCUMBENT}: time per op per thread | {FACADE_OURS} / {FACADE_INCUMBENT} | \
         {FACADE_OURS}: total M ops/s | {FACADE_INCUMBENT}: total M ops/s |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for row in rows {
        let total = |t: f64| row.threads as f64 * 1e3 / t;
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0} | {:.0} |",
            row.workload,
            row.threads,
            ns(row.ours),
            ns(row.incumbent),
            x(row.ratio()),
            total(row.ours),
            total(row.incumbent)
        )?;
    }
    out.push('\n');
    Ok(())
}

struct Memory {
    library: String,
    bytes: f64,
    allocations: f64,
    live: f64,
    ns: f64,
}

fn memory_rows(memory: &Value, kind: &str) -> Vec<Memory> {
    memory["results"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|r| r["kind"] == kind)
                .map(|r| Memory {
                    library: r["library"].as_str().unwrap_or("?").to_owned(),
                    bytes: r["bytes_per_series"].as_f64().unwrap_or(f64::NAN),
                    allocations: r["allocations_per_series"].as_f64().unwrap_or(f64::NAN),
                    live: r["live_allocations_per_series"]
                        .as_f64()
                        .unwrap_or(f64::NAN),
                    ns: r["create_ns_per_series"].as_f64().unwrap_or(f64::NAN),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn leanest_peer(rows: &[Memory]) -> Option<&Memory> {
    rows.iter()
        .filter(|r| r.library != "abacus")
        .min_by(|a, b| a.bytes.total_cmp(&b.bytes))
}

fn memory_table(out: &mut String, rows: &[Memory]) -> Result<(), Error> {
    let leanest = leanest_peer(rows).map_or(f64::NAN, |r| r.bytes);
    writeln!(
        out,
        "| library | bytes per series | vs leanest peer | allocations per series | \
         live allocations per series | creation time per series |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for row in rows {
        writeln!(
            out,
            "| {} | {:.1} | {} | {:.2} | {:.2} | {} |",
            row.library,
            row.bytes,
            x(row.bytes / leanest),
            row.allocations,
            row.live,
            ns(row.ns)
        )?;
    }
    out.push('\n');
    Ok(())
}

/// The chart: one row per target, a bar of the measured ratio on a log axis, the target as
/// a vertical mark, green when met and red when not.
fn chart(targets: &[Target]) -> String {
    let targets: Vec<&Target> = targets
        .iter()
        .filter(|t| !matches!(t.bound, Bound::NoAllocation))
        .collect();
    let (left, width, row_h, top) = (410.0, 470.0, 34.0, 58.0);
    let (lo, hi) = (0.05f64.ln(), 20.0f64.ln());
    let pos = |r: f64| left + (r.clamp(0.05, 20.0).ln() - lo) / (hi - lo) * width;
    let height = top + row_h * targets.len() as f64 + 40.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="1100" height="{height}" viewBox="0 0 1100 {height}" font-family="sans-serif" font-size="13">
<rect width="1100" height="{height}" fill="#ffffff"/>
<text x="20" y="26" font-size="16" font-weight="bold">abacus: measured ratio per target (log scale); the black mark is the target</text>
<text x="20" y="45" fill="#555">green: met, red: not met; whiskers: the ratio over the 95% confidence intervals of the medians. Lower is better for "≤", higher for "≥".</text>"##
    );
    for tick in [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0] {
        let xpos = pos(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{xpos:.1}" y1="{top}" x2="{xpos:.1}" y2="{:.1}" stroke="#ddd"/><text x="{xpos:.1}" y="{:.1}" text-anchor="middle" fill="#555">{tick}x</text>"##,
            height - 34.0,
            height - 18.0
        );
    }
    for (i, target) in targets.iter().enumerate() {
        let y = top + row_h * i as f64;
        let color = if target.met() { "#2e9d4f" } else { "#d23b3b" };
        let bar_end = pos(target.ratio);
        let mark = pos(target.limit());
        let label = format!("{} {}", target.id, target.what);
        let _ = writeln!(
            svg,
            r##"<text x="20" y="{:.1}">{}</text>
<rect x="{left}" y="{:.1}" width="{:.1}" height="18" fill="{color}"/>
<text x="{:.1}" y="{:.1}" fill="#222">{} ({} {})</text>
<line x1="{mark:.1}" y1="{:.1}" x2="{mark:.1}" y2="{:.1}" stroke="#000" stroke-width="3"/>"##,
            y + 18.0,
            escape(&label),
            y + 5.0,
            (bar_end - left).max(1.0),
            left + width + 16.0,
            y + 18.0,
            x(target.ratio),
            escape(&target.target_text()),
            if target.met() { "met" } else { "not met" },
            y + 1.0,
            y + 27.0
        );
        if let Some((lo, hi)) = target.range {
            // The range over the confidence intervals, as a whisker across the bar's end.
            let (lo, hi, mid) = (pos(lo), pos(hi), y + 14.0);
            let _ = writeln!(
                svg,
                r##"<line x1="{lo:.1}" y1="{mid:.1}" x2="{hi:.1}" y2="{mid:.1}" stroke="#333" stroke-width="1.5"/><line x1="{lo:.1}" y1="{:.1}" x2="{lo:.1}" y2="{:.1}" stroke="#333" stroke-width="1.5"/><line x1="{hi:.1}" y1="{:.1}" x2="{hi:.1}" y2="{:.1}" stroke="#333" stroke-width="1.5"/>"##,
                mid - 4.0,
                mid + 4.0,
                mid - 4.0,
                mid + 4.0
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The section on recording while the exporter is scraped: each group's three medians
/// and their ratios, and how hard the client scraped (`scrape_load.json`, when there is
/// one).
fn recording_while_scraped(md: &mut String, results: &Criterion) -> Result<(), Error> {
    writeln!(md, "## Recording while scraped\n")?;
    writeln!(
        md,
        "One thread records through a kept handle of a registry that also holds 10,000 \
         counter series of 3 labels, served by `abacus_prometheus::Exporter` on loopback, \
         while nobody scrapes; while a client scrapes, in a loop, a second server of an \
         identical registry (the control: the machine as busy, nothing the recording \
         thread touches read); and while a client scrapes the recorded registry's server \
         in a loop. The client keeps one connection alive and pauses after each scrape as \
         long as the scrape took, so that scraping keeps about half a core busy: on this \
         2-core machine a client that never paused would take the recording thread's core \
         part of the time. All three sides use workload 4's harness with one thread. \
         \"Scraped / nobody\" is what scraping costs recording on this machine; \
         \"scraped / control\" is the part owed to the library (locks a scrape shares \
         with recording, cache lines it reads), which issue 7 asks to be no more than noise.\n"
    )?;
    writeln!(
        md,
        "| recording | nobody scrapes | control scraped | this registry scraped | \
         scraped / nobody | scraped / control |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for (what, group) in [
        ("counter increment", SCRAPED_COUNTER),
        ("histogram observe", SCRAPED_HISTOGRAM),
    ] {
        let quiet = results.get(group, NOBODY_SCRAPES)?;
        let control = results.get(group, ANOTHER_SCRAPED)?;
        let scraped = results.get(group, THIS_SCRAPED)?;
        let ratio = |over: &str, under: f64| -> Result<String, Error> {
            let (lo, hi) = results.quotient((group, THIS_SCRAPED), (group, over))?;
            Ok(format!("{} ({}–{})", x(scraped / under), x(lo), x(hi)))
        };
        writeln!(
            md,
            "| {what} | {} | {} | {} | {} | {} |",
            ns(quiet),
            ns(control),
            ns(scraped),
            ratio(NOBODY_SCRAPES, quiet)?,
            ratio(ANOTHER_SCRAPED, control)?
        )?;
    }
    md.push('\n');
    writeln!(
        md,
        "In brackets, the ratio over the ends of the medians' 95% confidence intervals.\n"
    )?;
    // The bench writes it in a benchmark run; without it the section only lacks the rates.
    if let Ok(load) = read_json(&results_dir().join("scrape_load.json")) {
        for entry in load["loads"].as_array().into_iter().flatten() {
            let kind = if entry["group"] == SCRAPED_COUNTER {
                "counter"
            } else {
                "histogram"
            };
            let rate = |side: &Value| {
                let scrapes = side["scrapes"].as_f64().unwrap_or(f64::NAN);
                let seconds = side["seconds"].as_f64().unwrap_or(f64::NAN);
                format!(
                    "{} scrapes of {} bytes in {seconds:.1} s ({:.0} a second)",
                    thousands(scrapes as u64),
                    thousands(side["bytes"].as_u64().unwrap_or(0)),
                    scrapes / seconds
                )
            };
            writeln!(
                md,
                "- {kind}: control {}; this registry {}.",
                rate(&entry["another"]),
                rate(&entry["this"])
            )?;
        }
        md.push('\n');
    }
    Ok(())
}

fn run() -> Result<(), Error> {
    let results = Criterion::load(&target_dir().join("criterion"))?;
    let memory = read_json(&results_dir().join("memory.json"))?;
    let replay = read_json(&results_dir().join("replay.json"))?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?
        .to_path_buf();

    let fetch_add = results.get(KEPT, FETCH_ADD)?;
    let local_fetch_add = results.get(LOCAL, FETCH_ADD)?;
    // The library of the fastest peer bench: `prometheus: with_label_values` is prometheus.
    let library = |name: &str| name.split(':').next().unwrap_or(name).to_owned();
    let (per_call_fn, per_call_peer_t) = results.fastest_peer(PER_CALL)?;
    let (hist_fn, hist_peer_t) = results.fastest_peer(HISTOGRAM)?;
    let (render_fn, render_peer_t) = results.fastest_peer(RENDER)?;
    let (per_call_peer, hist_peer, render_peer) = (
        library(&per_call_fn),
        library(&hist_fn),
        library(&render_fn),
    );
    let scaling_range = |one: &str, two: &str| -> Result<(f64, f64), Error> {
        let (one, two) = (
            results.interval(one, "abacus")?,
            results.interval(two, "abacus")?,
        );
        Ok((2.0 * one.0 / two.1, 2.0 * one.1 / two.0))
    };
    let counter_threads = threads(&results, COUNTER_1T, COUNTER_2T);
    let histogram_threads = threads(&results, HISTOGRAM_1T, HISTOGRAM_2T);
    let scaling = |rows: &[Threads]| -> Result<f64, Error> {
        rows.iter()
            .find(|r| r.library == "abacus")
            .map(Threads::scaling)
            .ok_or_else(|| "no abacus thread results".into())
    };
    let memory_counter = memory_rows(&memory, "counter");
    let memory_histogram = memory_rows(&memory, "histogram");
    let memory_ratio = |rows: &[Memory]| -> Result<(f64, String), Error> {
        let abacus = rows
            .iter()
            .find(|r| r.library == "abacus")
            .ok_or("no abacus memory result")?;
        let leanest = leanest_peer(rows).ok_or("no peer memory result")?;
        Ok((abacus.bytes / leanest.bytes, leanest.library.clone()))
    };
    let (counter_memory, counter_leanest) = memory_ratio(&memory_counter)?;
    let (histogram_memory, histogram_leanest) = memory_ratio(&memory_histogram)?;
    let speedup = replay["speedup"].as_f64().ok_or("no replay speedup")?;

    let targets = vec![
        Target {
            id: "1a",
            what: "kept-handle Counter::inc / relaxed fetch_add".into(),
            ratio: results.get(KEPT, "abacus")? / fetch_add,
            range: Some(results.quotient((KEPT, "abacus"), (KEPT, FETCH_ADD))?),
            bound: Bound::AtMost(0.6),
        },
        Target {
            id: "1b",
            what: "LocalCounter::inc / relaxed fetch_add".into(),
            ratio: results.get(LOCAL, "abacus: LocalCounter")? / local_fetch_add,
            range: Some(results.quotient((LOCAL, "abacus: LocalCounter"), (LOCAL, FETCH_ADD))?),
            bound: Bound::AtMost(0.3),
        },
        Target {
            id: "2",
            what: format!("Family::inc per call / fastest peer ({per_call_peer})"),
            ratio: results.get(PER_CALL, "abacus: Family::inc")? / per_call_peer_t,
            range: Some(
                results.quotient((PER_CALL, "abacus: Family::inc"), (PER_CALL, &per_call_fn))?,
            ),
            bound: Bound::AtMost(0.4),
        },
        Target {
            id: "3",
            what: format!("histogram observe / fastest peer ({hist_peer})"),
            ratio: results.get(HISTOGRAM, "abacus")? / hist_peer_t,
            range: Some(results.quotient((HISTOGRAM, "abacus"), (HISTOGRAM, &hist_fn))?),
            bound: Bound::AtMost(0.6),
        },
        Target {
            id: "4a",
            what: "counter: 2-thread / 1-thread throughput".into(),
            ratio: scaling(&counter_threads)?,
            range: Some(scaling_range(COUNTER_1T, COUNTER_2T)?),
            bound: Bound::AtLeast(1.9),
        },
        Target {
            id: "4b",
            what: "histogram: 2-thread / 1-thread throughput".into(),
            ratio: scaling(&histogram_threads)?,
            range: Some(scaling_range(HISTOGRAM_1T, HISTOGRAM_2T)?),
            bound: Bound::AtLeast(1.9),
        },
        Target {
            id: "5a",
            what: format!("render / fastest peer ({render_peer})"),
            ratio: results.get(RENDER, "abacus")? / render_peer_t,
            range: Some(results.quotient((RENDER, "abacus"), (RENDER, &render_fn))?),
            bound: Bound::AtMost(0.5),
        },
        Target {
            id: "5b",
            what: format!(
                "allocations of one warm scrape ({} series)",
                memory["warm_scrape"]["series"]
            ),
            ratio: memory["warm_scrape"]["allocations"]
                .as_f64()
                .ok_or("no warm scrape result")?,
            range: None,
            bound: Bound::NoAllocation,
        },
        Target {
            id: "6a",
            what: format!("counter bytes per series / leanest peer ({counter_leanest})"),
            ratio: counter_memory,
            range: None,
            bound: Bound::AtMost(0.75),
        },
        Target {
            id: "6b",
            what: format!("histogram bytes per series / leanest peer ({histogram_leanest})"),
            ratio: histogram_memory,
            range: None,
            bound: Bound::AtMost(0.75),
        },
        Target {
            id: "7",
            what: "replay speed / prometheus backend".into(),
            ratio: speedup,
            range: None,
            bound: Bound::AtLeast(3.0),
        },
    ];

    // The machine and the moment.
    let model = command_output("lscpu", &[])
        .lines()
        .find_map(|l| l.strip_prefix("Model name:").map(|m| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = command_output("rustc", &["-V"]);
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    // `benches/run` writes the load average at the start, and one line per step: name,
    // wall time, own CPU time, other processes' CPU time (s), load average after it.
    let load_start =
        std::fs::read_to_string(results_dir().join("load-start.txt")).unwrap_or_default();
    let steps = std::fs::read_to_string(results_dir().join("steps.txt")).unwrap_or_default();
    let mut step_rows = String::new();
    let mut disturbed = Vec::new();
    for line in steps.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, wall, own, other, load] = fields[..] else {
            continue;
        };
        let cores = other.parse::<f64>().unwrap_or(0.0) / wall.parse::<f64>().unwrap_or(1.0);
        if cores > 0.1 {
            disturbed.push(format!("{name} ({cores:.2} cores)"));
        }
        let _ = writeln!(
            step_rows,
            "| {name} | {wall} s | {own} s | {other} s ({cores:.2} cores on average) | {load} |"
        );
    }
    let commit = command_output(
        "git",
        &[
            "-C",
            &root.to_string_lossy(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    );
    let dirty = !command_output(
        "git",
        &["-C", &root.to_string_lossy(), "status", "--porcelain"],
    )
    .is_empty();

    let met = targets.iter().filter(|t| t.met()).count();
    let mut md = String::new();
    writeln!(
        md,
        "# Benchmarks\n\n\
         Generated by `bash benches/run` (do not edit by hand): criterion medians, the memory \
         bench and the main job's replay, all from one run. Each target of the speed issue (#3 in the project's tracker) is a ratio \
         measured on the machine below; **{met} of {} are met**.\n",
        targets.len()
    )?;
    writeln!(
        md,
        "| machine | |\n| --- | --- |\n| CPU | {model} |\n| cores | {cores} |\n| rustc | {rustc} |\n\
         | date | {date} |\n| load average (1, 5, 15 min) at the start | {} |\n\
         | commit | {commit}{} |\n",
        load_start.trim(),
        if dirty { " with uncommitted changes" } else { "" }
    )?;
    writeln!(
        md,
        "Other processes on the machine during each step (busy CPU time from `/proc/stat`, \
         less the step's own; this machine has {cores} cores, and the 2-thread benches need \
         both):\n\n| step | wall time | own CPU time | other processes' CPU time | load average \
         after |\n| --- | ---: | ---: | ---: | --- |\n{step_rows}"
    )?;
    if disturbed.is_empty() {
        writeln!(
            md,
            "No step shared the machine with more than 0.1 cores of other work.\n"
        )?;
    } else {
        writeln!(
            md,
            "**Disturbed:** other processes took more than 0.1 cores on average during {}; \
             the numbers of those steps are less trustworthy than the rest.\n",
            disturbed.join(", ")
        )?;
    }
    writeln!(md, "![ratios against targets](benchmarks.svg)\n")?;
    writeln!(
        md,
        "## Targets\n\nEach ratio divides two criterion medians (or, for memory and the \
         replay, two measured values); the range beside it divides the ends of the medians' \
         95% confidence intervals, so a verdict whose range straddles the limit could go the \
         other way on a rerun. On this shared 2-core VM, the medians of the few-nanosecond \
         benches also move between runs by more than those intervals (up to about a quarter), \
         so a ratio within that of its limit is not settled by one run.\n\n\
         | # | ratio | measured | range | target | verdict |\n\
         | --- | --- | ---: | ---: | ---: | --- |"
    )?;
    for t in &targets {
        let range = t
            .range
            .map_or("—".to_owned(), |(lo, hi)| format!("{}–{}", x(lo), x(hi)));
        let straddles = t
            .range
            .is_some_and(|(lo, hi)| lo <= t.limit() && t.limit() <= hi);
        writeln!(
            md,
            "| {} | {} | {} | {range} | {} | {}{} |",
            t.id,
            t.what,
            t.measured_text(),
            t.target_text(),
            t.verdict(),
            if straddles {
                " (the range straddles the limit)"
            } else {
                ""
            }
        )?;
    }
    md.push('\n');

    writeln!(md, "## 1. Counter increment through a kept handle\n")?;
    writeln!(
        md,
        "One series, no labels. The handle is made once and every iteration is one \
         increment through `black_box(&handle)`. prometheus-client, metrics and prometheus \
         increment an `AtomicU64` (metrics through a `dyn` call); measured through its \
         `Counter`.\n"
    )?;
    group_table(&mut md, &results, KEPT, Some(("fetch_add", fetch_add)))?;
    writeln!(
        md,
        "With 4 labels (`route`, `method`, `status`, `region`), the handle of one series \
         resolved (or, for prometheus-client, cloned out of the family) once. measured's \
         kept handle is the series id; recording looks the cell up by it.\n"
    )?;
    group_table(
        &mut md,
        &results,
        KEPT4,
        Some(("fetch_add (no labels)", fetch_add)),
    )?;
    writeln!(
        md,
        "Thread-bound handles. prometheus's `LocalIntCounter` adds to a plain cell that no \
         scrape sees until `flush()` (left out of the loop); abacus's `LocalCounter` needs no \
         flush.\n"
    )?;
    group_table(
        &mut md,
        &results,
        LOCAL,
        Some(("fetch_add", local_fetch_add)),
    )?;

    writeln!(
        md,
        "## 2. Counter increment with 4 label values resolved on every call\n"
    )?;
    writeln!(
        md,
        "100 existing series (5 routes x 5 methods x 2 statuses x 2 regions), visited in a \
         scrambled rotation; every call passes the 4 values. abacus: `family.inc(&values)`, \
         the same with each tuple's strings in ten owned copies visited in turn \
         (`per_call_churn.rs`: values rebuilt per request, whose addresses keep changing, so \
         that the per-thread memory is found by hashing the text more often), and \
         `family.with_labels(&values)?.inc()`; \
         prometheus: `with_label_values(&values).inc()`; \
         prometheus-client: `family.get_or_create(&labels).inc()` with the label sets built \
         once before the loop (it takes owned keys); metrics: `counter!(\"requests_total\", \
         \"route\" => ..)` under `with_local_recorder` (set once around the loop), and the \
         same calls on abacus-metrics (see the facade section); measured: `vec.inc(group)`, \
         with the values known up front (`RodeoReader`, its recommendation) and interned on \
         first use (`ThreadedRodeo`).\n"
    )?;
    group_table(&mut md, &results, PER_CALL, None)?;

    writeln!(md, "## 3. Histogram observe through a kept handle\n")?;
    writeln!(
        md,
        "11 buckets (the Prometheus default seconds layout), 1,024 precomputed observations \
         spread over all 12 buckets in a pseudo-random order, rotated. metrics keeps raw \
         observations until a scrape, so its bench scrapes (untimed) after each sample.\n"
    )?;
    group_table(&mut md, &results, HISTOGRAM, None)?;

    writeln!(md, "## 4. One series from 1 and 2 threads at once\n")?;
    writeln!(
        md,
        "Each thread records through its own clone of one handle. The threads start on a \
         barrier and time themselves; the time per op is the slowest thread's time over \
         its operations, and the total throughput is threads / that time.\n"
    )?;
    writeln!(md, "Counter:\n")?;
    threads_table(&mut md, &counter_threads)?;
    writeln!(md, "Histogram:\n")?;
    threads_table(&mut md, &histogram_threads)?;

    writeln!(
        md,
        "## 5. Render 10,000 counter and 1,000 histogram series to text\n"
    )?;
    writeln!(
        md,
        "3 labels (`tenant` x `route` x `status`), every counter with a distinct value and \
         every histogram with 8 observations. Each library renders the Prometheus text format \
         into a buffer it keeps: abacus `TextEncoder::encode(&registry, &mut buf)`; prometheus \
         `TextEncoder::encode(&registry.gather(), &mut buf)`; prometheus-client \
         `encode(&mut String, &registry)` in both its text 0.0.4 and OpenMetrics encoders; \
         metrics `handle.render_to_write(&mut buf)` (what `render()` does, without a new \
         `String` each time); measured `collect_group_into` a kept `BufferedTextEncoder`. \
         The bench checks that every output holds every series.\n"
    )?;
    group_table(&mut md, &results, RENDER, None)?;
    writeln!(
        md,
        "Allocations of one warm abacus scrape (the same registry, rendered twice first, then \
         counted by the memory bench's allocator around a third rendering): {} ({} bytes of \
         text).\n",
        memory["warm_scrape"]["allocations"], memory["warm_scrape"]["output_bytes"]
    )?;

    let series = thousands(memory["series"].as_u64().unwrap_or(0));
    writeln!(md, "## 6. Memory per series\n")?;
    writeln!(
        md,
        "{series} series of 3 labels (1,000 tenants x 10 routes x 10 statuses), each \
         created and recorded once, in a fresh process per library and kind. A counting \
         global allocator takes the bytes requested (`layout.size()`) net of frees and the \
         number of allocations (a `realloc` counts as one) around creating the registry and \
         every series. \"Live allocations\" are allocations minus frees. measured interns \
         each distinct label value once (1,020 strings here, shared by all series); the others \
         keep every series' own copy of its values.\n"
    )?;
    writeln!(md, "Counters:\n")?;
    memory_table(&mut md, &memory_counter)?;
    writeln!(md, "Histograms (11 buckets):\n")?;
    memory_table(&mut md, &memory_histogram)?;

    writeln!(md, "## 7. The main job's replay\n")?;
    let median = &replay["median_elapsed_s"];
    let rate = &replay["median_requests_per_s"];
    writeln!(
        md,
        "`abacus-loadgen --backend abacus|prometheus --repeat {} --threads {} --json`, \
         {} runs of each, alternating; every run's self-check (its own `/metrics` fetched \
         over HTTP and compared with the trace) passed. The prometheus backend registers \
         the same `gateway_*` families and records every request with `with_label_values` \
         on each call; the abacus backend also records each request's budget check, usage \
         and cost through abacus-inference (`sentinel_*`), work the prometheus backend \
         does not do, so the ratio understates abacus.\n",
        replay["repeat"], replay["threads"], replay["runs"]
    )?;
    writeln!(
        md,
        "| backend | median replay time | M requests/s |\n| --- | ---: | ---: |\n\
         | abacus | {:.3} s | {:.2} |\n| prometheus | {:.3} s | {:.2} |\n",
        median["abacus"].as_f64().unwrap_or(f64::NAN),
        rate["abacus"].as_f64().unwrap_or(f64::NAN) / 1e6,
        median["prometheus"].as_f64().unwrap_or(f64::NAN),
        rate["prometheus"].as_f64().unwrap_or(f64::NAN) / 1e6,
    )?;
    writeln!(md, "abacus replays {} as fast.\n", x(speedup))?;

    let inference = "one gateway request: check, usage, cost";
    writeln!(
        md,
        "## The inference gateway's request (abacus-inference)\n"
    )?;
    writeln!(
        md,
        "One request's budget check, usage and cost: through abacus-inference's handles \
         resolved once per (route, tenant) and (route, model), beside the same families on \
         the `prometheus` crate reached with `with_label_values` on every call, as the \
         original gateway did. Both sides keep the budget in one atomic word.\n"
    )?;
    group_table(&mut md, &results, inference, None)?;
    if let Ok((ratio, _)) = results.quotient(
        (inference, "abacus-inference: resolved handles"),
        (inference, "prometheus: with_label_values per call"),
    ) {
        writeln!(
            md,
            "abacus-inference takes {} the time of the prometheus version.\n",
            x(ratio)
        )?;
    }

    writeln!(md, "## The metrics facade (abacus-metrics)\n")?;
    writeln!(
        md,
        "The same `counter!` calls recorded by {FACADE_OURS} and by {FACADE_INCUMBENT}, \
         each recorder built with `build_recorder()` (no listener) and set as the local \
         recorder of every bench thread (`metrics::set_default_local_recorder`) before the \
         timing. Macro, static labels: 4 call sites such as `counter!(\"requests_total\", \
         \"route\" => \"/api/v1/users\", \"status\" => \"200\")`, rotated; the macro makes \
         each site's key a `static`, hashed at compile time. Macro, dynamic label: \
         `counter!(\"requests_total\", \"route\" => \"/api/v1/users\", \"tenant\" => tenant)` \
         with `tenant` cloned from one of 100 `String`s, rotated, so every call allocates, \
         builds and hashes its key. Kept handle: `counter!(..)` once per thread before the \
         timing, then `handle.increment(1)`. Every series exists before the timing, and \
         each recorder's rendering is checked after each sample (untimed) to hold every \
         increment. With 2 threads both record into the same series, started on a barrier \
         as in section 4: the time per op is the slowest thread's time over its \
         operations, and the total throughput is threads / that time.\n"
    )?;
    let facade_rows = facade(&results);
    facade_table(&mut md, &facade_rows)?;
    let ratios = facade_rows.iter().map(Facade::ratio);
    let (fastest, slowest) = ratios.fold((f64::INFINITY, 0.0f64), |(lo, hi), r| {
        (lo.min(r), hi.max(r))
    });
    if !facade_rows.is_empty() {
        writeln!(
            md,
            "{FACADE_OURS} takes from {} to {} the time of {FACADE_INCUMBENT} per operation \
             over these {} rows.\n",
            x(fastest),
            x(slowest),
            facade_rows.len()
        )?;
    }
    recording_while_scraped(&mut md, &results)?;

    writeln!(
        md,
        "## How\n\n\
         `bash benches/run` builds everything, then runs the benches of \
         `cargo bench -p abacus-benches` one at a time (`counter`, `facade`, `histogram`, \
         `inference`, `memory`, `render`, `scrape_load`, `threads`), then `abacus-benches`'s \
         `replay` bin \
         (the loadgen comparison) and `report` bin (this file and the chart). Criterion runs \
         each bench for 0.7 s of warm-up and 2 s of samples (render: 1 s and 4 s, 20 flat \
         samples); the tables show the median of the samples. The peers are `prometheus` \
         0.14, `prometheus-client` 0.26, `metrics` 0.24 with `metrics-exporter-prometheus` \
         0.18 (recorder built with `build_recorder()`, no listener, called through the \
         `Recorder` trait or set as a thread's local recorder with `with_local_recorder` or \
         `set_default_local_recorder`) and `measured` 0.0.25 (0.1 needs rustc \
         1.98). Every library gets the same harness: handles made and cloned out before the \
         timing, `black_box` on the handle and the inputs.\n"
    )?;

    let docs = root.join("docs");
    std::fs::write(docs.join("BENCHMARKS.md"), md)?;
    std::fs::write(docs.join("benchmarks.svg"), chart(&targets))?;
    println!("targets met: {met} of {}", targets.len());
    for t in &targets {
        println!(
            "  {:<3} {:<70} {:>7} target {:<7} {}",
            t.id,
            t.what,
            t.measured_text(),
            t.target_text(),
            if t.met() { "met" } else { "NOT MET" }
        );
    }
    println!(
        "wrote {} and {}",
        docs.join("BENCHMARKS.md").display(),
        docs.join("benchmarks.svg").display()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("report: {e}");
            ExitCode::FAILURE
        }
    }
}
