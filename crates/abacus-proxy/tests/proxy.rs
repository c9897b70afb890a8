//! The proxy benchmark in short, as `.ci/run` runs it: every backend under a closed and an
//! open load for a second each, with a real Prometheus server scraping (Debian's package,
//! which `.ci/test` installs; `$PROMETHEUS` names another), and every run's totals
//! checked. Then the check itself: it must fail when the proxy's totals do not match.
//!
//! Every server listens on 127.0.0.1 and is ended by its process id when the test ends.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const EXE: &str = env!("CARGO_BIN_EXE_abacus-proxy");

/// Kills a server when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `abacus-proxy args` and returns it with the `http://` addresses of its first line.
fn start(args: &[&str]) -> (Running, Vec<String>) {
    let mut child = Command::new(EXE)
        .args(args)
        .args(["--max-seconds", "120", "--until-stdin-closes"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let running = Running(child);
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("a first line");
    let addresses = first
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("http://"))
        .map(|addr| {
            addr.trim_end_matches(';')
                .trim_end_matches("/metrics")
                .to_owned()
        })
        .collect();
    (running, addresses)
}

fn run(args: &[&str]) -> Output {
    Command::new(EXE).args(args).output().expect("it runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!(
        "abacus-proxy-{name}-{}-{nanos}",
        std::process::id()
    ))
}

#[test]
fn a_short_bench_checks_the_totals_of_every_backend_with_prometheus_scraping() {
    let out = temp_dir("bench");
    let output = run(&[
        "bench",
        "--seconds",
        "1",
        "--warmup",
        "0.3",
        "--reps",
        "1",
        "--loads",
        "closed:4,open:200",
        "--out",
        out.to_str().expect("a UTF-8 temporary path"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for backend in ["off", "abacus", "prometheus", "facade", "abacus-facade"] {
        for load in ["closed:4", "open:200"] {
            let line = stdout
                .lines()
                .find(|l| {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    words.get(2) == Some(&load) && words.get(3) == Some(&backend)
                })
                .unwrap_or_else(|| panic!("no run of {backend} under {load}:\n{stdout}"));
            assert!(line.contains("totals ok"), "{line}");
        }
    }
    let report = std::fs::read_to_string(out.join("PROXY.md")).expect("the report");
    let chart = std::fs::read_to_string(out.join("proxy.svg")).expect("the chart");
    let _ = std::fs::remove_dir_all(&out);
    assert!(report.contains("**Smoke run"), "{report}");
    assert!(report.contains("Every run matched."), "{report}");
    assert!(
        report.contains("target 3: **met** (10 of 10 runs matched)"),
        "{report}"
    );
    assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
}

#[test]
fn the_totals_check_fails_when_the_proxy_counted_other_requests() {
    let (_upstream, upstream) = start(&["upstream", "--listen", "127.0.0.1:0"]);
    let (_proxy, proxy) = start(&[
        "serve",
        "--metrics",
        "abacus",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream[0],
    ]);
    let load = [
        "load",
        "--target",
        &proxy[0],
        "--load",
        "closed:2",
        "--seconds",
        "0.3",
        "--warmup",
        "0",
        "--check",
        &proxy[1],
        "--metrics",
        "abacus",
    ];
    let first = run(&load);
    assert!(
        first.status.success(),
        "{}{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("totals: match"));
    // The proxy now holds both runs' requests; the second run counts only its own.
    let second = run(&load);
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stdout).contains("totals: MISMATCH"));
    assert!(String::from_utf8_lossy(&second.stderr).contains("expected"));
}

#[test]
fn bad_flags_and_addresses_off_loopback_are_refused_with_usage() {
    for args in [
        &["serve", "--upstream", "192.0.2.1:80"][..],
        &["serve", "--metrics", "statsd", "--upstream", "127.0.0.1:1"],
        &["bench", "--loads", "burst:3"],
        &["bench", "--reps", "0"],
        &["load"],
        &["frobnicate"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("usage: abacus-proxy"), "{args:?}: {stderr}");
    }
}
