//! The processes a benchmark starts: the upstream and one proxy per run (this binary's own
//! subcommands), and a Prometheus server. Each is held by a guard that ends it by its
//! process id when dropped, pass or fail; and each ends by itself too, should the benchmark
//! be killed before its guards run: the proxy and the upstream when their standard input
//! (a pipe from the benchmark) closes or their `--max-seconds` pass, Prometheus when the
//! `timeout` it runs under expires.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http;

/// How long a server may take to print its address, or Prometheus to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process, ended by its pid on drop.
pub(crate) struct Guard {
    child: Child,
    /// Ask with SIGTERM first (for `timeout`, which passes it on to its command).
    terminate_first: bool,
}

impl Guard {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.terminate_first {
            // The shell's own `kill`, so that no separate program need be installed.
            let _ = Command::new("sh")
                .args([
                    "-c",
                    "kill -TERM \"$1\"",
                    "sh",
                    &self.child.id().to_string(),
                ])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port, for a server whose port must be known before it starts.
pub(crate) fn free_loopback_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `exe args` with its standard input a pipe from us (so that it can end when we
/// do), and returns it with the first `http://` address its first line names. The rest
/// of its output is read and dropped, so that it never blocks on a full pipe; its errors
/// go to ours.
pub(crate) fn spawn_server(exe: &Path, args: &[String]) -> Result<(Guard, SocketAddr), String> {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {} {}: {e}", exe.display(), args.join(" ")))?;
    let stdout = child.stdout.take();
    let guard = Guard {
        child,
        terminate_first: false,
    };
    let Some(stdout) = stdout else {
        return Err("no pipe from the child's standard output".into());
    };
    let (first, first_line) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = first.send(lines.next());
        for _ in lines {}
    });
    let line = match first_line.recv_timeout(START_TIMEOUT) {
        Ok(Some(Ok(line))) => line,
        _ => {
            return Err(format!(
                "{} {} printed no address",
                exe.display(),
                args.join(" ")
            ))
        }
    };
    let addr = line
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("http://"))
        .map(|rest| rest.trim_end_matches(';').trim_end_matches("/metrics"))
        .find_map(|addr| addr.parse().ok())
        .ok_or_else(|| format!("no address in {line:?}"))?;
    Ok((guard, addr))
}

/// A Prometheus server on loopback scraping one target every second, in a directory of
/// its own that is removed on drop.
pub(crate) struct Prometheus {
    // Dropped before the directory is removed.
    guard: Option<Guard>,
    dir: PathBuf,
    pub(crate) addr: SocketAddr,
}

/// The scrape job's name, as queries select it.
pub(crate) const JOB: &str = "abacus-proxy";

impl Drop for Prometheus {
    fn drop(&mut self) {
        drop(self.guard.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    /// Starts `binary` under `timeout lifetime`, scraping `target` every second, and waits
    /// until it is ready.
    pub(crate) fn start(
        binary: &Path,
        target: SocketAddr,
        lifetime: Duration,
    ) -> Result<Self, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("abacus-proxy-bench-{}-{nanos}", std::process::id()));
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target}']\n"
        );
        let config_path = dir.join("prometheus.yml");
        let mut last_error = String::new();
        // Another process may take the free port before Prometheus binds it: try again.
        for _ in 0..3 {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::write(&config_path, &config)
                .map_err(|e| format!("{}: {e}", config_path.display()))?;
            let port = free_loopback_port().map_err(|e| format!("a free port: {e}"))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let log_path = dir.join("prometheus.log");
            let log = std::fs::File::create(&log_path)
                .map_err(|e| format!("{}: {e}", log_path.display()))?;
            let log_err = log.try_clone().map_err(|e| format!("a log handle: {e}"))?;
            let child = Command::new("timeout")
                .args(["-k", "5", &format!("{}s", lifetime.as_secs().max(1))])
                .arg(binary)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .map_err(|e| format!("starting timeout {}: {e}", binary.display()))?;
            let mut server = Prometheus {
                guard: Some(Guard {
                    child,
                    terminate_first: true,
                }),
                dir: dir.clone(),
                addr,
            };
            if server.wait_ready() {
                return Ok(server);
            }
            last_error = server.log_tail();
            // Dropping removes the directory; the next try makes it anew.
            drop(server);
        }
        Err(format!("Prometheus did not start:\n{last_error}"))
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            let exited = self
                .guard
                .as_mut()
                .map_or(true, |guard| matches!(guard.child.try_wait(), Ok(Some(_))));
            if exited {
                return false;
            }
            if matches!(http::get(self.addr, "/-/ready"), Ok((200, _))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// Waits until Prometheus has tried its first scrape of the target (which fails while
    /// no proxy runs), so that its scrape loop is running when the first run starts.
    pub(crate) fn wait_for_scrape_loop(&self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok((200, body)) = http::get(self.addr, "/api/v1/targets?state=active") {
                let reply: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let scraped = reply["data"]["activeTargets"]
                    .as_array()
                    .and_then(|targets| targets.first())
                    .and_then(|target| target["lastScrape"].as_str())
                    .is_some_and(|at| !at.starts_with("0001-"));
                if scraped {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "Prometheus did not start scraping within {START_TIMEOUT:?}:\n{}",
            self.log_tail()
        ))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// How many scrapes of the target succeeded in the last `window`, as Prometheus's own
    /// `up` series says.
    pub(crate) fn scrapes_in_last(&self, window: Duration) -> Result<u64, String> {
        let query = format!(
            "sum_over_time(up{{job=\"{JOB}\"}}[{}ms])",
            window.as_millis().max(1)
        );
        let (status, body) = http::get(
            self.addr,
            &format!("/api/v1/query?query={}", http::encode_query(&query)),
        )?;
        let reply: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| format!("Prometheus answered {status} with no JSON ({e}): {body}"))?;
        let Some(result) = reply["data"]["result"].as_array() else {
            return Err(format!("Prometheus answered {status}: {body}"));
        };
        Ok(result
            .first()
            .and_then(|series| series["value"][1].as_str())
            .and_then(|value| value.parse::<f64>().ok())
            .map_or(0, |value| value as u64))
    }
}
