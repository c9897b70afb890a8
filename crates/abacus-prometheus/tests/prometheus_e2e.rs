//! A real Prometheus server scrapes two exporters of one registry on loopback, one that
//! negotiates (Prometheus 2.42 asks for OpenMetrics first, so it gets OpenMetrics) and one
//! that offers the text format only, and its HTTP API must show every value exactly as
//! recorded, the label value with a quote, a backslash and a line feed included.
//!
//! The `prometheus` binary comes from Debian's `prometheus` package, which `.ci/test`
//! installs when it is missing; `$PROMETHEUS` names another. Without it the test fails
//! saying so. The server listens on 127.0.0.1 only and is killed by its process id when
//! the test ends, pass or fail.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use abacus::{Buckets, Desc, Registry};
use abacus_prometheus::{Exporter, ExporterHandle, Format};
use serde_json::Value as Json;

/// A route with a double quote, a backslash and a line feed.
const TRICKY_ROUTE: &str = "say \"hi\" C:\\tmp\nnext line";
const OBSERVATIONS: [f64; 4] = [0.05, 0.5, 0.5, 2.0];
const BOUNDS: [f64; 2] = [0.1, 1.0];
/// How long the whole exchange may take: Prometheus starts in a second or two, applies new
/// targets about every five, and scrapes every second.
const DEADLINE: Duration = Duration::from_secs(45);

/// The Prometheus process and its directory; dropping it kills the process by its pid and
/// removes the directory.
struct PrometheusServer {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl PrometheusServer {
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `GET path` on the server's API, as JSON.
    fn api(&self, path_and_query: &str) -> Json {
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
    fn query(&self, promql: &str) -> Vec<Json> {
        let reply = self.api(&format!("/api/v1/query?query={}", percent_encode(promql)));
        assert_eq!(reply["status"], "success", "{promql}: {reply}");
        reply["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
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

/// Starts Prometheus on loopback, scraping each `(job, exporter)` every second, and waits
/// until it is ready.
fn start_prometheus(jobs: &[(&str, SocketAddr)]) -> PrometheusServer {
    let binary = prometheus_binary();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "abacus-prometheus-e2e-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut config = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n",
    );
    for (job, target) in jobs {
        config.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
        ));
    }
    std::fs::write(dir.join("prometheus.yml"), config).expect("write the config");

    // Another process may take the free port before Prometheus binds it: try again then.
    for _ in 0..3 {
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
struct Reply {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// One HTTP/1.0 GET on loopback, so that the answer is never chunked.
fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
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
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The registry both exporters serve, with the values recorded.
fn registry() -> Result<Registry, abacus::Error> {
    let registry = Registry::builder()
        .const_label("deployment", "e2e")
        .build()?;
    let requests = registry
        .counter(Desc::new("e2e_requests_total", "Requests served.").labels(["route", "status"]))?;
    requests.with_labels(&[TRICKY_ROUTE, "200"])?.add(5);
    requests.with_labels(&["/plain", "500"])?.add(3);
    registry
        .gauge(Desc::new("e2e_in_flight", "Requests in progress."))?
        .with_labels(&[])?
        .set(-3);
    registry
        .float_gauge(Desc::new("e2e_ratio", "A ratio."))?
        .with_labels(&[])?
        .set(0.25);
    let latency = registry.histogram(
        Desc::new("e2e_latency_seconds", "Latency.")
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

fn exporter(registry: &Registry, openmetrics: bool) -> ExporterHandle {
    Exporter::new()
        .listen("127.0.0.1:0".parse().expect("an address"))
        .openmetrics(openmetrics)
        .start(registry)
        .expect("an exporter on loopback")
}

/// The one value of an instant query's single series.
fn single_value(server: &PrometheusServer, promql: &str) -> (Json, f64) {
    let result = server.query(promql);
    assert_eq!(result.len(), 1, "{promql}: {result:?}");
    let value = result[0]["value"][1]
        .as_str()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{promql}: no value in {result:?}"));
    (result[0]["metric"].clone(), value)
}

/// Waits until both jobs' targets are up and their latest scrape holds every series.
fn wait_for_scrapes(server: &PrometheusServer, jobs: &[&str]) {
    let started = Instant::now();
    loop {
        let targets = server.api("/api/v1/targets?state=active");
        let active = targets["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let up = jobs.iter().all(|job| {
            active
                .iter()
                .any(|t| t["labels"]["job"] == *job && t["health"] == "up" && t["lastError"] == "")
        });
        let scraped = up
            && jobs.iter().all(|job| {
                !server
                    .query(&format!("e2e_latency_seconds_count{{job=\"{job}\"}}"))
                    .is_empty()
            });
        if scraped {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the targets were not up and scraped after {DEADLINE:?}: {targets}\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_ingests_both_formats_with_the_exact_values_recorded() -> Result<(), abacus::Error> {
    let started = Instant::now();
    let registry = registry()?;
    let negotiating = exporter(&registry, true);
    let text_only = exporter(&registry, false);
    let jobs = [
        ("openmetrics", negotiating.local_addr()),
        ("text", text_only.local_addr()),
    ];

    // Prometheus does not say which format it parsed: ask each exporter with the Accept
    // header Prometheus 2.42 sends (see ../shared/tools/scrape-e2e) and see what it answers.
    let accept = "application/openmetrics-text;version=1.0.0,\
        application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    for ((_, addr), format) in jobs.iter().zip([Format::OpenMetrics, Format::Text]) {
        let reply = http_get(*addr, "/metrics", &[("Accept", accept)]);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_type.as_deref(), Some(format.content_type()));
    }

    let server = start_prometheus(&jobs);
    wait_for_scrapes(&server, &["openmetrics", "text"]);

    let sum: f64 = OBSERVATIONS.iter().sum();
    for (job, _) in jobs {
        let selector = |name: &str, extra: &str| format!("{name}{{job=\"{job}\"{extra}}}");

        // The tricky label value arrives byte for byte: find it among the series.
        let requests = server.query(&selector("e2e_requests_total", ""));
        assert_eq!(requests.len(), 2, "{job}: {requests:?}");
        let tricky = requests
            .iter()
            .find(|s| s["metric"]["route"] == TRICKY_ROUTE)
            .unwrap_or_else(|| panic!("{job}: no series with the tricky route: {requests:?}"));
        assert_eq!(tricky["metric"]["status"], "200");
        assert_eq!(tricky["metric"]["deployment"], "e2e");
        assert_eq!(tricky["value"][1], "5", "{job}");
        let (_, plain) = single_value(
            &server,
            &selector("e2e_requests_total", ",route=\"/plain\""),
        );
        assert_eq!(plain, 3.0, "{job}");

        assert_eq!(
            single_value(&server, &selector("e2e_in_flight", "")).1,
            -3.0
        );
        assert_eq!(single_value(&server, &selector("e2e_ratio", "")).1, 0.25);

        // The histogram_quantile input: one _bucket series per bound, cumulative counts
        // computed here from the observations.
        let buckets = server.query(&selector("e2e_latency_seconds_bucket", ""));
        let mut seen: Vec<(String, String)> = buckets
            .iter()
            .map(|s| {
                assert_eq!(s["metric"]["route"], TRICKY_ROUTE, "{job}");
                (
                    s["metric"]["le"].as_str().unwrap_or_default().to_owned(),
                    s["value"][1].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        seen.sort();
        let count_le = |bound: f64| OBSERVATIONS.iter().filter(|&&v| v <= bound).count();
        let mut expected = vec![
            ("+Inf".to_owned(), OBSERVATIONS.len().to_string()),
            ("0.1".to_owned(), count_le(0.1).to_string()),
            ("1.0".to_owned(), count_le(1.0).to_string()),
        ];
        expected.sort();
        assert_eq!(seen, expected, "{job}");
        let (_, total) = single_value(&server, &selector("e2e_latency_seconds_sum", ""));
        assert_eq!(total.to_bits(), sum.to_bits(), "{job}: {total} != {sum}");
        let (_, count) = single_value(&server, &selector("e2e_latency_seconds_count", ""));
        assert_eq!(count, OBSERVATIONS.len() as f64, "{job}");

        // The median by linear interpolation within the bucket that holds rank 2 of 4:
        // 0.1 + (1.0 - 0.1) * (2 - 1) / 2.
        let (_, median) = single_value(
            &server,
            &format!(
                "histogram_quantile(0.5, {})",
                selector("e2e_latency_seconds_bucket", "")
            ),
        );
        assert!((median - 0.55).abs() < 1e-12, "{job}: median {median}");
    }
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the exchange took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn percent_encoding_leaves_only_unreserved_characters() {
    assert_eq!(
        percent_encode("up{job=\"a b\"}"),
        "up%7Bjob%3D%22a%20b%22%7D"
    );
    assert_eq!(percent_encode("é"), "%C3%A9");
}
