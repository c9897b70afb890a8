//! Workload 7: the main job's replay through abacus beside the same replay recorded through
//! the `prometheus` crate with `with_label_values` on every call.
//!
//! Runs the release `abacus-loadgen` binary with `--json`, the same `--repeat` and
//! `--threads` for both backends, alternating backends run by run (so drifting machine load
//! hits both alike), checks that every run's self-check passed, and writes the medians to
//! `target/bench-results/replay.json`.
//!
//! ```text
//! cargo run --release -p abacus-benches --bin replay -- [--loadgen PATH] [--repeat R]
//!     [--threads N] [--runs K]
//! ```

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use abacus_benches::{results_dir, target_dir};
use serde_json::{json, Value};

const BACKENDS: [&str; 2] = ["abacus", "prometheus"];

struct Options {
    loadgen: PathBuf,
    repeat: u64,
    threads: usize,
    runs: usize,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        loadgen: target_dir().join("release/abacus-loadgen"),
        repeat: 1000,
        threads: 2,
        runs: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--loadgen" => options.loadgen = value()?.into(),
            "--repeat" => options.repeat = value()?.parse().map_err(|e| format!("{e}"))?,
            "--threads" => options.threads = value()?.parse().map_err(|e| format!("{e}"))?,
            "--runs" => options.runs = value()?.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn run_once(options: &Options, backend: &str) -> Result<Value, String> {
    let output = Command::new(&options.loadgen)
        .args([
            "--json",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            backend,
            "--repeat",
            &options.repeat.to_string(),
            "--threads",
            &options.threads.to_string(),
        ])
        .output()
        .map_err(|e| format!("running {}: {e}", options.loadgen.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.trim()).map_err(|e| {
        format!(
            "{backend}: not one JSON line ({e}): {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    if !output.status.success() || summary["check"] != "passed" {
        return Err(format!(
            "{backend}: the self-check failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(summary)
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("replay: {e}");
            return ExitCode::from(2);
        }
    };
    let mut elapsed: [Vec<f64>; 2] = Default::default();
    let mut runs: Vec<Value> = Vec::new();
    for run in 0..options.runs {
        // Alternate which backend goes first, too.
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for index in order {
            let backend = BACKENDS[index];
            let summary = match run_once(&options, backend) {
                Ok(summary) => summary,
                Err(e) => {
                    eprintln!("replay: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let seconds = summary["elapsed_s"].as_f64().unwrap_or(f64::NAN);
            println!(
                "run {}: {backend:<10} {seconds:7.3} s, {:6.2} M requests/s, self-check passed",
                run + 1,
                summary["requests_per_s"].as_f64().unwrap_or(f64::NAN) / 1e6
            );
            elapsed[index].push(seconds);
            runs.push(summary);
        }
    }
    let requests = runs
        .first()
        .and_then(|r| r["requests"].as_u64())
        .unwrap_or(0);
    let abacus = median(&mut elapsed[0]);
    let prometheus = median(&mut elapsed[1]);
    println!(
        "median of {}: abacus {abacus:.3} s, prometheus {prometheus:.3} s: abacus is {:.2}x \
         as fast",
        options.runs,
        prometheus / abacus
    );
    let document = json!({
        "repeat": options.repeat,
        "threads": options.threads,
        "runs": options.runs,
        "requests": requests,
        "median_elapsed_s": { "abacus": abacus, "prometheus": prometheus },
        "median_requests_per_s": {
            "abacus": requests as f64 / abacus,
            "prometheus": requests as f64 / prometheus,
        },
        "speedup": prometheus / abacus,
        "all_runs": runs,
    });
    let dir = results_dir();
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("replay.json"), format!("{document:#}\n")))
    {
        eprintln!("replay: writing {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", dir.join("replay.json").display());
    ExitCode::SUCCESS
}
