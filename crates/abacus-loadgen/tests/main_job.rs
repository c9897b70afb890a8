//! Runs the main job as a user would, on the bundled trace, and checks its `/metrics` with
//! the independent validators in `../shared/tools/check-exposition` while it replays, in
//! both formats the exporter negotiates (the tool asks for each with `Accept` and for gzip
//! with `Accept-Encoding`, and checks the answer's `Content-Type`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Kills the main job when the test ends, pass or fail, so no server outlives the test.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn check_exposition() -> PathBuf {
    let tool =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/check-exposition");
    assert!(
        tool.exists(),
        "{} is missing: the repository must sit beside the shared/ folder",
        tool.display()
    );
    tool
}

/// Runs `check-exposition --format <format> <url>` and fails the test if it does.
fn validate(tool: &PathBuf, format: &str, url: &str, when: &str) {
    let status = Command::new(tool)
        .args(["--format", format, url])
        .status()
        .expect("check-exposition runs");
    assert!(
        status.success(),
        "check-exposition --format {format} rejected {url} {when}"
    );
}

/// Reads the main job's output up to its self-check verdict and asserts that it passed.
fn expect_self_check_passed(lines: &mut impl Iterator<Item = String>) {
    let mut summary = Vec::new();
    for line in lines {
        let done = line.starts_with("self-check:");
        summary.push(line);
        if done {
            break;
        }
    }
    let verdict = summary.last().cloned().unwrap_or_default();
    assert!(
        verdict.starts_with("self-check: passed"),
        "main job output:\n{}",
        summary.join("\n")
    );
}

/// A main job started with `args` and holding `/metrics` open afterwards, its output
/// after the first line, that first line, and the `/metrics` URL the first line names.
/// The job is killed when `job` is dropped, so a test must bind it for as long as it runs.
struct Started {
    job: Running,
    lines: Box<dyn Iterator<Item = String>>,
    first: String,
    url: String,
}

fn start_main_job(args: &[&str]) -> Started {
    let child = Command::new(env!("CARGO_BIN_EXE_abacus-loadgen"))
        .args(["--listen", "127.0.0.1:0", "--hold", "60"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the main job starts");
    let mut running = Running(child);
    let stdout = running.0.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout)
        .lines()
        .map(|l| l.expect("utf-8 output"));
    let first = lines
        .next()
        .expect("a first line naming the backend and the /metrics address");
    let url = first
        .split_whitespace()
        .find(|word| word.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no /metrics URL in {first:?}"))
        .to_owned();
    Started {
        job: running,
        lines: Box::new(lines),
        first,
        url,
    }
}

#[test]
fn main_job_replays_the_trace_and_its_metrics_pass_the_validators() {
    let tool = check_exposition();
    let Started {
        job: _job,
        mut lines,
        url,
        ..
    } = start_main_job(&["--threads", "2", "--repeat", "400"]);

    // Scrape while the replay runs: 400 replays (11 M requests) take about 5 s in a debug
    // build, the validators answer in under 2 s, and the summary read below only comes
    // after the replay. Recorders and the scrape overlap.
    validate(&tool, "text", &url, "during the replay");
    validate(&tool, "openmetrics", &url, "during the replay");

    expect_self_check_passed(&mut lines);

    // And once more on the final totals, while the job holds /metrics open.
    validate(&tool, "text", &url, "after the replay");
    validate(&tool, "openmetrics", &url, "after the replay");
}

#[test]
fn main_job_prints_one_json_summary_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_abacus-loadgen"))
        .args(["--listen", "127.0.0.1:0", "--repeat", "1", "--json"])
        .output()
        .expect("the main job runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    // The bundled trace has 8,819 + 19,366 rows (data/azure-llm-2023/SOURCE.md).
    assert!(lines[0].starts_with("{\"requests\":28185,"), "{}", lines[0]);
    assert!(lines[0].ends_with("\"check\":\"passed\"}"), "{}", lines[0]);
}

#[test]
fn main_job_refuses_unknown_flags_with_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_abacus-loadgen"))
        .arg("--frobnicate")
        .output()
        .expect("the main job runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: abacus-loadgen"));
}

#[test]
fn the_prometheus_backend_replays_and_passes_the_same_self_check() {
    let output = Command::new(env!("CARGO_BIN_EXE_abacus-loadgen"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--repeat",
            "1",
            "--threads",
            "2",
            "--backend",
            "prometheus",
            "--json",
        ])
        .output()
        .expect("the main job runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert!(stdout.contains("\"backend\":\"prometheus\""), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("\"check\":\"passed\"}"),
        "{stdout}"
    );
}

#[test]
fn the_facade_backend_replays_through_the_macros_and_passes_the_self_check_and_validators() {
    let tool = check_exposition();
    let Started {
        job: _job,
        mut lines,
        first,
        url,
    } = start_main_job(&["--threads", "2", "--repeat", "2", "--backend", "facade"]);
    assert!(first.contains("through facade"), "{first}");
    expect_self_check_passed(&mut lines);
    // The final totals, while the job holds /metrics open.
    let status = Command::new(&tool)
        .args(["--format", "text", &url])
        .status()
        .expect("check-exposition runs");
    assert!(status.success(), "check-exposition rejected {url}");
}

#[test]
fn an_unknown_backend_is_refused_with_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_abacus-loadgen"))
        .args(["--backend", "statsd"])
        .output()
        .expect("the main job runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown backend"), "{stderr}");
    assert!(stderr.contains("usage: abacus-loadgen"), "{stderr}");
}
