//! A real Prometheus server for tests, on loopback: started from Debian's `prometheus`
//! package (which `.ci/test` installs when it is missing; `$PROMETHEUS` names another
//! binary) with a temporary directory and the test's configuration, and killed by its
//! process id when the guard is dropped, pass or fail. Without the binary, starting fails
//! the test saying so: nothing is skipped.
//!
//! Used by the scrape test (`prometheus_e2e.rs`) and the remote-write test
//! (`remote_write_e2e.rs`).
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use abacus::{Buckets, Desc, Registry};
use serde_json::Value as Json;

/// The Prometheus process and its directory; dropping it kills the process by its pid and
/// removes the directory.
pub(crate) struct PrometheusServer {
    child: Child,
    dir: PathBuf,
    pub(crate) addr: SocketAddr,
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl PrometheusServer {
    /// The last lines of the server's log, for failure messages.
    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `GET path` on the server's API, as JSON.
    pub(crate) fn api(&self, path_and_query: &str) -> Json {
        let reply = http_get(self.addr, path_and_query, &[]);
        serde_json::from_slice(&reply.body).unwrap_or_else(|e| {
            panic!(
                "{path_and_query} answered {} with no JSON ({e}): {}\n{}",
                reply.status,
                String::from_utf8_lossy(&reply.body),
                self.log_tail()
            )
        })
    }

    /// The result vector of an instant query.
    pub(crate) fn query(&self, promql: &str) -> Vec<Json> {
        let reply = self.api(&format!("/api/v1/query?query={}", percent_encode(promql)));
        assert_eq!(reply["status"], "success", "{promql}: {reply}");
        reply["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The labels and the value (as Prometheus spells it) of an instant query's single
    /// series; panics unless there is exactly one.
    pub(crate) fn single(&self, promql: &str) -> (Json, String) {
        let result = self.query(promql);
        assert_eq!(result.len(), 1, "{promql}: {result:?}");
        let value = result[0]["value"][1]
            .as_str()
            .unwrap_or_else(|| panic!("{promql}: no value in {result:?}"))
            .to_owned();
        (result[0]["metric"].clone(), value)
    }

    /// [`single`](Self::single) with the value read as a float.
    pub(crate) fn single_value(&self, promql: &str) -> (Json, f64) {
        let (metric, value) = self.single(promql);
        let value = value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("{promql}: {value:?} is not a number"));
        (metric, value)
    }
}

fn prometheus_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PROMETHEUS") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the prometheus server is not on PATH (nor named by $PROMETHEUS): this test \
                 needs it and does not skip; `bash .ci/test` installs Debian's package, or run \
                 `apt-get install -y prometheus`"
            )
        })
}

fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// A configuration that scrapes each `(job, target)` every second.
pub(crate) fn scrape_config(jobs: &[(&str, SocketAddr)]) -> String {
    let mut config = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n",
    );
    for (job, target) in jobs {
        config.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
        ));
    }
    config
}

/// Starts Prometheus on a free loopback port with `config` and the `extra` flags, and
/// waits until it is ready.
pub(crate) fn start_prometheus(config: &str, extra: &[&str]) -> PrometheusServer {
    static STARTED: AtomicU32 = AtomicU32::new(0);
    let binary = prometheus_binary();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "abacus-prometheus-e2e-{}-{}-{nanos}",
        std::process::id(),
        STARTED.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");

    // Another process may take the free port before Prometheus binds it: try again then.
    for _ in 0..3 {
        std::fs::write(dir.join("prometheus.yml"), config).expect("write the config");
        let addr: SocketAddr = ([127, 0, 0, 1], free_loopback_port()).into();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("a log file");
        let child = Command::new(&binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut server = PrometheusServer {
            child,
            dir: dir.clone(),
            addr,
        };
        if wait_ready(&mut server) {
            return server;
        }
        let tail = server.log_tail();
        assert!(
            tail.contains("address already in use"),
            "Prometheus did not start:\n{tail}"
        );
        // Dropping kills it; the directory is made anew for the next try.
        drop(server);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
    }
    panic!("Prometheus found no free loopback port in three tries");
}

fn wait_ready(server: &mut PrometheusServer) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if matches!(server.child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if http_get(server.addr, "/-/ready", &[]).status == 200 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// What an HTTP GET got: the status (0 when the exchange failed), the `Content-Type`
/// and the body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// One HTTP/1.0 GET on loopback, so that the answer is never chunked.
pub(crate) fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let attempt = || -> std::io::Result<Reply> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let content_type = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        });
        Ok(Reply {
            status,
            content_type,
            body: raw.get(split + 4..).unwrap_or_default().to_vec(),
        })
    };
    attempt().unwrap_or(Reply {
        status: 0,
        content_type: None,
        body: Vec::new(),
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A route with a double quote, a backslash and a line feed.
pub(crate) const TRICKY_ROUTE: &str = "say \"hi\" C:\\tmp\nnext line";
pub(crate) const OBSERVATIONS: [f64; 4] = [0.05, 0.5, 0.5, 2.0];
pub(crate) const BOUNDS: [f64; 2] = [0.1, 1.0];

/// The registry both end-to-end tests send to Prometheus, its families named with
/// `prefix`: a counter with a series on [`TRICKY_ROUTE`], an integer and a float gauge,
/// and a histogram of [`OBSERVATIONS`] over [`BOUNDS`], under the constant label
/// `deployment="e2e"`.
pub(crate) fn recorded_registry(prefix: &str) -> Result<Registry, abacus::Error> {
    let registry = Registry::builder()
        .const_label("deployment", "e2e")
        .build()?;
    let requests = registry.counter(
        Desc::new(format!("{prefix}_requests_total"), "Requests served.")
            .labels(["route", "status"]),
    )?;
    requests.with_labels(&[TRICKY_ROUTE, "200"])?.add(5);
    requests.with_labels(&["/plain", "500"])?.add(3);
    registry
        .gauge(Desc::new(
            format!("{prefix}_in_flight"),
            "Requests in progress.",
        ))?
        .with_labels(&[])?
        .set(-3);
    registry
        .float_gauge(Desc::new(format!("{prefix}_ratio"), "A ratio."))?
        .with_labels(&[])?
        .set(0.25);
    let latency = registry.histogram(
        Desc::new(format!("{prefix}_latency_seconds"), "Latency.")
            .unit("seconds")
            .labels(["route"]),
        Buckets::new(BOUNDS)?,
    )?;
    let series = latency.with_labels(&[TRICKY_ROUTE])?;
    for value in OBSERVATIONS {
        series.observe(value);
    }
    Ok(registry)
}
