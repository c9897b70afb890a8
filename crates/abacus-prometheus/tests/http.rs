//! The `/metrics` server, spoken to over plain TCP on loopback.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{request, CLIENT_TIMEOUT};

use abacus::{Desc, Registry};
use abacus_prometheus::parse::parse_exposition;
use abacus_prometheus::{Exporter, ExporterHandle, DEFAULT_ADDR};

fn loopback_any_port() -> SocketAddr {
    "127.0.0.1:0".parse().expect("a socket address")
}

fn start(registry: &Registry) -> ExporterHandle {
    Exporter::new()
        .listen(loopback_any_port())
        .start(registry)
        .expect("the server starts on a free loopback port")
}

fn counter_registry() -> Result<(Registry, abacus::Counter), abacus::Error> {
    let registry = Registry::new();
    let jobs = registry.counter(Desc::new("jobs_total", "Jobs run.").labels(["queue"]))?;
    let fast = jobs.with_labels(&["fast \"lane\""])?;
    Ok((registry, fast))
}

#[test]
fn get_metrics_serves_the_text_exposition() -> Result<(), abacus::Error> {
    let (registry, fast) = counter_registry()?;
    fast.add(5);
    let handle = start(&registry);
    let response = request(handle.local_addr(), "GET", "/metrics");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let expected = "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\n\
                    jobs_total{queue=\"fast \\\"lane\\\"\"} 5\n";
    assert_eq!(response.text(), expected);
    assert_eq!(
        response.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
    Ok(())
}

#[test]
fn each_scrape_sees_the_current_values() -> Result<(), abacus::Error> {
    let (registry, fast) = counter_registry()?;
    let handle = start(&registry);
    for expected in [0.0, 1.0, 2.0] {
        let body = request(handle.local_addr(), "GET", "/metrics?ignored=1").text();
        let exposition = parse_exposition(&body).expect("the body parses");
        assert_eq!(
            exposition.value("jobs_total", &[("queue", "fast \"lane\"")]),
            Some(expected)
        );
        fast.inc();
    }
    Ok(())
}

#[test]
fn head_metrics_sends_headers_without_a_body() -> Result<(), abacus::Error> {
    let (registry, fast) = counter_registry()?;
    fast.add(12);
    let handle = start(&registry);
    let get = request(handle.local_addr(), "GET", "/metrics");
    let head = request(handle.local_addr(), "HEAD", "/metrics");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), get.header("content-type"));
    assert_eq!(
        head.header("content-length"),
        Some(get.body.len().to_string().as_str())
    );
    assert!(head.body.is_empty());
    Ok(())
}

#[test]
fn other_paths_are_not_found() {
    let handle = start(&Registry::new());
    for path in ["/", "/metrics/", "/metricsx", "/favicon.ico"] {
        let response = request(handle.local_addr(), "GET", path);
        assert_eq!(response.status, 404, "{path}");
    }
}

#[test]
fn other_methods_on_metrics_are_not_allowed() {
    let handle = start(&Registry::new());
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let response = request(handle.local_addr(), method, "/metrics");
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("allow"), Some("GET, HEAD"), "{method}");
    }
}

#[test]
fn dropping_the_handle_closes_the_port_and_open_connections() {
    let handle = start(&Registry::new());
    let addr = handle.local_addr();
    assert_eq!(addr.ip(), loopback_any_port().ip());
    assert_ne!(addr.port(), 0);
    // A kept-alive connection that has been served once.
    let mut idle = TcpStream::connect(addr).expect("connect");
    idle.set_read_timeout(Some(CLIENT_TIMEOUT))
        .expect("timeout");
    write!(idle, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).expect("a response starts");
    assert_eq!(&first, b"HTTP/1.1 200");

    drop(handle);

    let refused = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT);
    assert_eq!(
        refused.map(|_| ()).map_err(|error| error.kind()),
        Err(ErrorKind::ConnectionRefused)
    );
    let mut rest = Vec::new();
    let closed = idle.read_to_end(&mut rest).map(drop).map_err(|e| e.kind());
    assert!(
        matches!(closed, Ok(()) | Err(ErrorKind::ConnectionReset)),
        "the kept-alive connection stayed open: {closed:?}"
    );
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let handle = Exporter::new()
        .listen(loopback_any_port())
        .header_read_timeout(Duration::from_millis(200))
        .start(&Registry::new())
        .expect("start");
    let mut slow = TcpStream::connect(handle.local_addr()).expect("connect");
    slow.set_read_timeout(Some(CLIENT_TIMEOUT))
        .expect("timeout");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: slow\r\n")
        .expect("send half");
    let started = Instant::now();
    let mut rest = Vec::new();
    let result = slow.read_to_end(&mut rest).map(drop).map_err(|e| e.kind());
    assert!(
        matches!(result, Ok(()) | Err(ErrorKind::ConnectionReset)),
        "the server kept the connection: {result:?}"
    );
    assert!(started.elapsed() < CLIENT_TIMEOUT);
    // hyper may answer 408 before closing; either way the connection ends.
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn an_address_in_use_is_an_error() {
    let taken = TcpListener::bind(loopback_any_port()).expect("bind");
    let addr = taken.local_addr().expect("address");
    let error = Exporter::new()
        .listen(addr)
        .start(&Registry::new())
        .expect_err("the port is taken");
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
}

#[test]
fn the_default_address_is_loopback_port_9464() {
    assert_eq!(
        DEFAULT_ADDR,
        "127.0.0.1:9464".parse::<SocketAddr>().expect("address")
    );
}

#[test]
fn concurrent_scrapes_all_get_the_whole_exposition() -> Result<(), abacus::Error> {
    let (registry, fast) = counter_registry()?;
    fast.add(7);
    let handle = Exporter::new()
        .listen(loopback_any_port())
        .max_connections(2)
        .start(&registry)
        .expect("start");
    let addr = handle.local_addr();
    std::thread::scope(|scope| {
        let scrapers: Vec<_> = (0..8)
            .map(|_| scope.spawn(move || request(addr, "GET", "/metrics")))
            .collect();
        for scraper in scrapers {
            let response = scraper.join().expect("the scraper thread");
            assert_eq!(response.status, 200);
            let exposition = parse_exposition(&response.text()).expect("the body parses");
            assert_eq!(
                exposition.value("jobs_total", &[("queue", "fast \"lane\"")]),
                Some(7.0)
            );
        }
    });
    Ok(())
}

#[test]
fn the_server_starts_and_stops_from_inside_another_tokio_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let status = runtime.block_on(async {
        let handle = start(&Registry::new());
        let status = request(handle.local_addr(), "GET", "/metrics").status;
        drop(handle);
        status
    });
    assert_eq!(status, 200);
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
    let handle = Exporter::new()
        .listen(loopback_any_port())
        .header_read_timeout(Duration::from_millis(200))
        .start(&Registry::new())
        .expect("start");
    let addr = handle.local_addr();
    let mut idle = TcpStream::connect(addr).expect("connect");
    idle.set_read_timeout(Some(CLIENT_TIMEOUT))
        .expect("timeout");
    write!(idle, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
    let started = Instant::now();
    let mut response = Vec::new();
    let result = idle
        .read_to_end(&mut response)
        .map(drop)
        .map_err(|e| e.kind());
    assert!(
        matches!(result, Ok(()) | Err(ErrorKind::ConnectionReset)),
        "the idle connection stayed open: {result:?}"
    );
    assert!(started.elapsed() < CLIENT_TIMEOUT);
    assert!(response.starts_with(b"HTTP/1.1 200"));
}

#[test]
fn start_with_serves_what_the_hook_renders_and_keeps_its_state() {
    let mut scrapes = 0u32;
    let exporter = Exporter::new()
        .listen(loopback_any_port())
        .start_with(move |out: &mut Vec<u8>| {
            assert!(out.is_empty(), "the buffer comes emptied");
            scrapes += 1;
            write!(out, "# TYPE scrapes counter\nscrapes_total {scrapes}\n")
        })
        .expect("the server starts on a free loopback port");
    for expected in 1..=2 {
        let response = request(exporter.local_addr(), "GET", "/metrics");
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert_eq!(
            response.text(),
            format!("# TYPE scrapes counter\nscrapes_total {expected}\n")
        );
    }
}

#[test]
fn start_with_answers_a_render_error_with_500() {
    let exporter = Exporter::new()
        .listen(loopback_any_port())
        .start_with(|_out: &mut Vec<u8>| Err(std::io::Error::other("no registry today")))
        .expect("the server starts on a free loopback port");
    let response = request(exporter.local_addr(), "GET", "/metrics");
    assert_eq!(response.status, 500);
    assert!(
        response.text().contains("no registry today"),
        "{:?}",
        response.text()
    );
}

#[test]
fn a_client_that_never_reads_its_answers_cannot_hold_the_only_connection() {
    // One connection allowed; the stuck client pipelines thousands of requests and never
    // reads, so its answers fill the socket buffers and the server stalls writing them.
    let registry = Registry::new();
    registry
        .counter(Desc::new("jobs_total", "Jobs."))
        .expect("register");
    let handle = Exporter::new()
        .listen(loopback_any_port())
        .max_connections(1)
        .connection_timeout(Duration::from_millis(500))
        .start(&registry)
        .expect("start");
    let mut stuck = TcpStream::connect(handle.local_addr()).expect("connect");
    stuck
        .set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let burst = b"GET /metrics HTTP/1.1\r\nHost: stuck\r\n\r\n".repeat(20_000);
    // The write itself may stall once the server stops reading; that is the point.
    let _ = stuck.write_all(&burst);

    let started = Instant::now();
    let honest = request(handle.local_addr(), "GET", "/metrics");
    assert_eq!(honest.status, 200);
    assert!(
        started.elapsed() < CLIENT_TIMEOUT,
        "the honest scrape waited {:?}",
        started.elapsed()
    );
    drop(stuck);
}
