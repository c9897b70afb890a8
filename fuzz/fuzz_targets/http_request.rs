//! Arbitrary bytes sent as a request to the `/metrics` server. Whatever they are, the
//! server must answer with a well-formed HTTP/1.x response or close the connection, and do
//! so promptly once the client has finished sending; a scrape it does answer must carry an
//! exposition that parses.
//!
//! One server runs for the whole process, on an ephemeral loopback port; it stops when the
//! fuzzing process exits.

#![no_main]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use abacus::{Buckets, Desc, Registry};
use abacus_prometheus::parse::{parse_exposition, parse_openmetrics};
use abacus_prometheus::{Exporter, ExporterHandle, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
use libfuzzer_sys::fuzz_target;

/// How long the server waits for a request's headers, and how long any connection lives.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Past this, with the client's side shut, the server is holding the connection for no
/// reason: both its timeouts have long run out.
const CLIENT_DEADLINE: Duration = Duration::from_secs(5);
/// More than any response this small registry gets; beyond it the server is sending junk.
const MAX_RESPONSE: usize = 1 << 20;

struct Server {
    /// Kept so that the registry outlives the server thread that reads it.
    _registry: Registry,
    handle: ExporterHandle,
}

fn server() -> SocketAddr {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let registry = Registry::builder()
                .namespace("fuzz")
                .const_label("instance", "a \"quoted\"\nvalue")
                .build()
                .expect("valid settings");
            let requests = registry
                .counter(Desc::new("requests_total", "Requests.").labels(["route"]))
                .expect("valid");
            requests
                .with_labels(&["/"])
                .expect("one label")
                .add(u64::MAX);
            requests.with_labels(&["\\é"]).expect("one label").inc();
            registry
                .float_gauge(Desc::new("ratio", "Ratio."))
                .and_then(|f| f.without_labels())
                .expect("valid")
                .set(f64::NAN);
            let latency = registry
                .histogram(
                    Desc::new("latency_seconds", "Latency.").unit("seconds"),
                    Buckets::new([0.1, 1.0]).expect("sorted"),
                )
                .and_then(|f| f.without_labels())
                .expect("valid");
            latency.observe(0.5);
            latency.observe(f64::INFINITY);
            let handle = Exporter::new()
                .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .connection_timeout(CONNECTION_TIMEOUT)
                .start(&registry)
                .expect("a free loopback port");
            Server {
                _registry: registry,
                handle,
            }
        })
        .handle
        .local_addr()
}

fuzz_target!(|request: &[u8]| exchange(request));

fn exchange(request: &[u8]) {
    let addr = server();
    assert!(addr.ip().is_loopback());
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .expect("the server accepts on loopback");
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("a timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .expect("a timeout");
    let started = Instant::now();
    // The server may answer and close before reading everything: a failed write is one
    // of the outcomes, not a failure.
    let _ = stream.write_all(request);
    let _ = stream.shutdown(Shutdown::Write);

    let mut response = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&buffer[..n]);
                assert!(response.len() <= MAX_RESPONSE, "a response of over a MiB");
            }
            // A reset after a refused request is a closed connection too.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            // libFuzzer's timeout alarm interrupts blocking calls every second.
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("reading the response: {e}"),
        }
        assert!(
            started.elapsed() < CLIENT_DEADLINE,
            "the server held a half-closed connection for {:?}; so far {:?}",
            started.elapsed(),
            String::from_utf8_lossy(&response)
        );
    }
    check_response(request, &response);
}

fn check_response(request: &[u8], response: &[u8]) {
    if response.is_empty() {
        return;
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut head = httparse::Response::new(&mut headers);
    let parsed = head.parse(response);
    let body_start = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!(
            "not a well-formed response ({other:?}): {:?}",
            String::from_utf8_lossy(response)
        ),
    };
    assert!(matches!(head.version, Some(0 | 1)), "HTTP/1.x");
    let status = head.code.expect("a complete head has a status");
    assert!((100..600).contains(&status), "status {status}");

    // The body is only checked for a scrape this target can be sure of: a GET of
    // /metrics that parses as one complete request.
    let mut request_headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed_request = httparse::Request::new(&mut request_headers);
    let is_scrape = matches!(
        parsed_request.parse(request),
        Ok(httparse::Status::Complete(_))
    ) && parsed_request.method == Some("GET")
        && parsed_request.path == Some("/metrics");
    if !is_scrape || status != 200 {
        return;
    }
    let header = |name: &str| {
        head.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if header("content-encoding").is_some() {
        return;
    }
    let Some(length) = header("content-length")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse::<usize>().ok())
    else {
        panic!(
            "a scrape without Content-Length: {:?}",
            String::from_utf8_lossy(response)
        );
    };
    let Some(body) = response.get(body_start..body_start + length) else {
        // Cut short: the server closed early, which a client sees as a failed scrape.
        return;
    };
    let body = std::str::from_utf8(body).expect("an exposition is UTF-8");
    let content_type = header("content-type").map(String::from_utf8_lossy);
    match content_type.as_deref() {
        Some(TEXT_CONTENT_TYPE) => {
            parse_exposition(body).unwrap_or_else(|e| panic!("text body: {e}\n{body}"));
        }
        Some(OPENMETRICS_CONTENT_TYPE) => {
            parse_openmetrics(body).unwrap_or_else(|e| panic!("OpenMetrics body: {e}\n{body}"));
        }
        other => panic!("a scrape answered with content type {other:?}"),
    }
}
