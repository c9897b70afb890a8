//! The `/metrics` server against clients that break the protocol, hold connections
//! without finishing a request, or all come at once, spoken to over raw TCP on loopback.
//!
//! The rule for every case: the client gets whole, well-formed HTTP/1.x responses, or a
//! closed connection, within a bound; and a scraper that behaves is served meanwhile.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use abacus::{Desc, Registry};
use abacus_prometheus::parse::parse_exposition;
use abacus_prometheus::{Exporter, ExporterHandle};

/// The header read timeout of the servers here, short so that the cases that wait for it
/// stay quick.
const HEADER_TIMEOUT: Duration = Duration::from_millis(500);
/// Slack for a loaded 2-core machine on top of any bound the server promises.
const MARGIN: Duration = Duration::from_secs(3);
/// How long a connection that waits for a request keeps its place against a newcomer:
/// the `Exporter` docs promise a second at most.
const DISPLACEABLE_AFTER: Duration = Duration::from_secs(1);

fn loopback_any_port() -> SocketAddr {
    "127.0.0.1:0".parse().expect("a socket address")
}

/// A server with the short header timeout and otherwise the defaults.
fn exporter() -> Exporter {
    Exporter::new()
        .listen(loopback_any_port())
        .header_read_timeout(HEADER_TIMEOUT)
}

/// A registry with one counter at 7.
fn small_registry() -> Registry {
    let registry = Registry::new();
    registry
        .counter(Desc::new("jobs_total", "Jobs run."))
        .and_then(|family| family.without_labels())
        .expect("a valid registration")
        .add(7);
    registry
}

/// A registry of `tenants` times 100 counters, `requests_total{tenant, route}` at
/// `tenant * route`: 100 tenants make an exposition of 0.7 MB, more than a socket buffers
/// before its reader drains it.
fn registry_of(tenants: u64) -> Registry {
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("requests_total", "Requests.").labels(["tenant", "route"]))
        .expect("a valid registration");
    for tenant in 0..tenants {
        for route in 0..100 {
            family
                .with_labels(&[
                    &format!("tenant-{tenant:05}"),
                    &format!("/api/v2/resource-{route}"),
                ])
                .expect("valid labels")
                .add(tenant * route);
        }
    }
    registry
}

/// One parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// How an exchange ended: whole responses, then the server closed; or no response.
#[derive(Debug)]
enum Outcome {
    Answered(Vec<Response>),
    Closed,
}

impl Outcome {
    /// The status of the first response, if any.
    fn status(&self) -> Option<u16> {
        match self {
            Outcome::Answered(responses) => responses.first().map(|r| r.status),
            Outcome::Closed => None,
        }
    }
}

/// Parses the responses at the start of `bytes` (to a `GET`: a `HEAD` would have no body)
/// and returns them with what is left, an incomplete response or nothing. Panics on bytes
/// that cannot begin a well-formed HTTP/1.x response.
fn parse_responses(mut bytes: &[u8]) -> (Vec<Response>, &[u8]) {
    let mut responses = Vec::new();
    loop {
        if bytes.is_empty() {
            return (responses, bytes);
        }
        let prefix = b"HTTP/1.";
        let start = &bytes[..bytes.len().min(prefix.len())];
        assert!(
            prefix.starts_with(start),
            "not an HTTP/1.x response: {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
        );
        let Some(split) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            return (responses, bytes);
        };
        let head = std::str::from_utf8(&bytes[..split]).expect("an ASCII response head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("a status line");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().expect("a version");
        assert!(
            version == "HTTP/1.1" || version == "HTTP/1.0",
            "{status_line:?}"
        );
        let status: u16 = parts
            .next()
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status code in {status_line:?}"));
        assert!((100..600).contains(&status), "{status_line:?}");
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("a header line without a colon: {line:?}"));
                (name.trim().to_owned(), value.trim().to_owned())
            })
            .collect();
        let length = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .map(|(_, value)| value.parse::<usize>().expect("a numeric Content-Length"));
        assert!(
            !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("transfer-encoding")),
            "the server answers with a length: {head:?}"
        );
        let length = length.unwrap_or(0);
        let body_start = split + 4;
        if bytes.len() < body_start + length {
            return (responses, bytes);
        }
        responses.push(Response {
            status,
            headers,
            body: bytes[body_start..body_start + length].to_vec(),
        });
        bytes = &bytes[body_start + length..];
    }
}

/// Reads until the server closes the connection; returns what came and whether the close
/// was a reset. Panics if the server keeps the connection open past `within`.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    stream.set_read_timeout(Some(within)).expect("timeout");
    let started = Instant::now();
    let mut received = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (received, false),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (received, true),
            Err(e) => panic!(
                "the server kept the connection open for {:?} ({e}), after sending {:?}",
                started.elapsed(),
                String::from_utf8_lossy(&received[..received.len().min(200)])
            ),
        }
        assert!(
            started.elapsed() < within,
            "the server kept the connection open for {:?}",
            started.elapsed()
        );
    }
}

/// Reads until the server closes the connection, and classifies what came. Panics if the
/// server keeps it open past `within`, or sends anything but whole responses (a reset may
/// cut the last one short: that is a closed connection).
fn read_outcome(stream: &mut TcpStream, within: Duration) -> Outcome {
    let (received, reset) = read_until_closed(stream, within);
    let (responses, rest) = parse_responses(&received);
    assert!(
        rest.is_empty() || reset,
        "the server closed in the middle of a response: {:?}",
        String::from_utf8_lossy(&rest[..rest.len().min(200)])
    );
    if responses.is_empty() {
        Outcome::Closed
    } else {
        Outcome::Answered(responses)
    }
}

/// Sends `bytes` on a new connection (ignoring a failed write: the server may close
/// first) and returns the outcome.
fn exchange(addr: SocketAddr, bytes: &[u8], within: Duration) -> Outcome {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_write_timeout(Some(within))
        .expect("write timeout");
    let _ = stream.write_all(bytes);
    read_outcome(&mut stream, within)
}

/// A request that behaves: `GET /metrics`, closing after the answer.
fn scrape_request(addr: SocketAddr) -> String {
    format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
}

/// Scrapes once and checks the answer is a whole exposition with the counter of
/// [`small_registry`] at 7; returns how long it took.
fn scrape_small(addr: SocketAddr, within: Duration) -> Duration {
    let started = Instant::now();
    let outcome = exchange(addr, scrape_request(addr).as_bytes(), within);
    let elapsed = started.elapsed();
    let Outcome::Answered(responses) = outcome else {
        panic!("the scrape got no answer");
    };
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 200);
    let body = std::str::from_utf8(&responses[0].body).expect("a UTF-8 body");
    let exposition = parse_exposition(body).expect("the body parses");
    assert_eq!(exposition.value("jobs_total", &[]), Some(7.0));
    elapsed
}

fn start(exporter: Exporter, registry: &Registry) -> ExporterHandle {
    exporter
        .start(registry)
        .expect("the server starts on a free loopback port")
}

/// A request, what is wrong with it, and the answers HTTP allows (`None`: closing the
/// connection without one).
type Malformed = (&'static str, &'static [u8], &'static [Option<u16>]);

/// Requests that no server may answer with 2xx. RFC 9112 §3 asks for 400 on an invalid
/// request line, §5 on an invalid header line; RFC 9110 §15.5.6 allows 405 for a method
/// the resource does not support, and §15.6.6 505 for a version the server does not.
const MALFORMED: &[Malformed] = &[
    ("a word", b"GARBAGE\r\n\r\n", &[Some(400), None]),
    ("a method alone", b"GET\r\n\r\n", &[Some(400), None]),
    (
        "an HTTP/0.9 request line",
        b"GET /metrics\r\n\r\n",
        &[Some(400), Some(505), None],
    ),
    (
        "an invalid method token",
        b"G@T /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        &[Some(400), None],
    ),
    (
        "an unknown method",
        b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        &[Some(405), Some(501)],
    ),
    (
        "an unknown version",
        b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n",
        &[Some(400), Some(505), None],
    ),
    (
        "a word after the version",
        b"GET /metrics HTTP/1.1 please\r\nHost: x\r\n\r\n",
        &[Some(400), None],
    ),
    (
        "a target without a slash",
        b"GET metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        &[Some(400), Some(404), None],
    ),
    (
        "a header without a colon",
        b"GET /metrics HTTP/1.1\r\nHost x\r\n\r\n",
        &[Some(400), None],
    ),
    (
        "a NUL in a header value",
        b"GET /metrics HTTP/1.1\r\nHost: x\0y\r\n\r\n",
        &[Some(400), None],
    ),
    (
        "a folded header line",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n  ;q=1\r\n\r\n",
        &[Some(400), None],
    ),
    (
        "a Content-Length that is no number",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
        &[Some(400), None],
    ),
    (
        "two Content-Lengths that disagree",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        &[Some(400), None],
    ),
    (
        "the HTTP/2 connection preface",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        &[Some(400), Some(505), None],
    ),
    (
        "binary noise",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xde\xad\xbe\xef\0\0\xff\xff\r\n\r\n",
        &[Some(400), None],
    ),
    (
        "bytes above ASCII in the target",
        b"GET /m\xe9trics HTTP/1.1\r\nHost: x\r\n\r\n",
        &[Some(400), Some(404), None],
    ),
];

#[test]
fn malformed_requests_get_an_error_or_a_closed_connection() {
    let handle = start(exporter(), &small_registry());
    let addr = handle.local_addr();
    for &(what, bytes, allowed) in MALFORMED {
        let outcome = exchange(addr, bytes, HEADER_TIMEOUT + MARGIN);
        assert!(
            allowed.contains(&outcome.status()),
            "{what}: {outcome:?}, allowed {allowed:?}"
        );
        if let Outcome::Answered(responses) = &outcome {
            assert_eq!(responses.len(), 1, "{what}: {outcome:?}");
        }
    }
    // The server is none the worse.
    scrape_small(addr, MARGIN);
}

#[test]
fn an_unknown_method_is_told_what_is_allowed() {
    let handle = start(exporter(), &small_registry());
    let outcome = exchange(
        handle.local_addr(),
        b"BREW /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        MARGIN,
    );
    let Outcome::Answered(responses) = outcome else {
        panic!("no answer");
    };
    assert_eq!(responses[0].status, 405);
    assert_eq!(responses[0].header("allow"), Some("GET, HEAD"));
}

#[test]
fn requests_cut_short_end_in_a_closed_connection() {
    let handle = start(exporter(), &small_registry());
    let addr = handle.local_addr();
    for partial in [
        &b""[..],
        b"\r\n\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n",
        b"GET /metrics HTTP/1.1\r\nContent-Length: 100\r\nHost: x\r\n\r\nshort",
    ] {
        // The client says it will send no more, then waits for the server's verdict.
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.write_all(partial).expect("send");
        stream.shutdown(Shutdown::Write).expect("half-close");
        let outcome = read_outcome(&mut stream, HEADER_TIMEOUT + MARGIN);
        // The last one is a whole request head with part of its body: answering it is
        // right too (the server does not read bodies).
        match outcome.status() {
            None => {}
            Some(200) => assert!(partial.ends_with(b"short")),
            Some(status) => assert!((400..500).contains(&status), "{status}"),
        }
    }
}

#[test]
fn an_oversized_header_is_refused() {
    let handle = start(exporter(), &small_registry());
    let addr = handle.local_addr();
    // One header of 1 MiB, far past the 16 KiB the docs allow a request head.
    let mut request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: ".to_vec();
    request.resize(request.len() + (1 << 20), b'a');
    request.extend_from_slice(b"\r\n\r\n");
    let outcome = exchange(addr, &request, HEADER_TIMEOUT + MARGIN);
    // RFC 6585 §5: 431 Request Header Fields Too Large. The server may reset the
    // connection instead, with the client's bytes still unread.
    assert!(matches!(outcome.status(), Some(431) | None), "{outcome:?}");

    // A head just over the limit, sent whole before the server answers: the answer is 431.
    let mut request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: ".to_vec();
    request.resize(16 * 1024 + 1, b'a');
    request.extend_from_slice(b"\r\n\r\n");
    let outcome = exchange(addr, &request, HEADER_TIMEOUT + MARGIN);
    assert!(matches!(outcome.status(), Some(431) | None), "{outcome:?}");
    scrape_small(addr, MARGIN);
}

#[test]
fn a_head_within_the_size_limit_is_served() {
    let handle = start(exporter(), &small_registry());
    let addr = handle.local_addr();
    let mut request = scrape_request(addr).into_bytes();
    let end = request.len() - 2;
    // Just under 16 KiB in all, in one header.
    let filler = 16 * 1024 - request.len() - "X-Filler: \r\n".len() - 1;
    let header = format!("X-Filler: {}\r\n", "a".repeat(filler));
    request.splice(end..end, header.bytes());
    assert!(request.len() < 16 * 1024);
    let outcome = exchange(addr, &request, MARGIN);
    assert_eq!(outcome.status(), Some(200), "{outcome:?}");
}

#[test]
fn too_many_headers_are_refused() {
    let handle = start(exporter(), &small_registry());
    let addr = handle.local_addr();
    for count in [101, 5_000] {
        let mut request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n");
        for i in 1..count {
            request.push_str(&format!("X-{i}: v\r\n"));
        }
        request.push_str("\r\n");
        let outcome = exchange(addr, request.as_bytes(), HEADER_TIMEOUT + MARGIN);
        assert!(
            matches!(outcome.status(), Some(431) | None),
            "{count} headers: {outcome:?}"
        );
    }
    // 100 headers are within the limit.
    let mut request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for i in 2..100 {
        request.push_str(&format!("X-{i}: v\r\n"));
    }
    request.push_str("\r\n");
    let outcome = exchange(addr, request.as_bytes(), MARGIN);
    assert_eq!(outcome.status(), Some(200), "{outcome:?}");
}

#[test]
fn a_body_on_get_is_ignored() {
    let handle = start(exporter(), &small_registry());
    let addr = handle.local_addr();
    // A whole body: answered as if it were not there, and not taken for the start of
    // the next request, which is answered too.
    let body = "GET /nothing HTTP/1.1\r\n";
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}{}",
        body.len(),
        scrape_request(addr)
    );
    let outcome = exchange(addr, request.as_bytes(), MARGIN);
    let Outcome::Answered(responses) = outcome else {
        panic!("no answer");
    };
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200]);

    // A body announced but never sent: still answered, and the connection is not kept
    // waiting for the rest, even though the client asked to keep it alive.
    for framing in ["Content-Length: 1000000000", "Transfer-Encoding: chunked"] {
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n{framing}\r\n\r\n");
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.write_all(request.as_bytes()).expect("send");
        let started = Instant::now();
        let outcome = read_outcome(&mut stream, HEADER_TIMEOUT + MARGIN);
        assert_eq!(outcome.status(), Some(200), "{framing}: {outcome:?}");
        assert!(started.elapsed() < HEADER_TIMEOUT + MARGIN);
    }
}

#[test]
fn a_client_trickling_its_headers_is_cut_off_by_the_header_timeout() {
    let handle = start(exporter(), &small_registry());
    let addr = handle.local_addr();
    let mut stream = TcpStream::connect(addr).expect("connect");
    // One byte every 100 ms; between bytes the client looks for the server's verdict.
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let request = scrape_request(addr);
    let started = Instant::now();
    let mut received = Vec::new();
    let mut sent = 0;
    let cut_off = loop {
        if sent < request.len() && stream.write_all(&request.as_bytes()[sent..=sent]).is_err() {
            break true;
        }
        sent += 1;
        let mut buf = [0u8; 1024];
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
        if started.elapsed() > HEADER_TIMEOUT + MARGIN {
            break false;
        }
    };
    assert!(
        cut_off,
        "still connected after {:?} and {sent} bytes",
        started.elapsed()
    );
    // At 10 bytes a second the request needs several seconds: the timeout came first.
    assert!(sent < request.len(), "the whole request went through");
    // Hyper closes a connection whose headers time out without an answer.
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
}

#[test]
fn a_client_that_connects_and_sends_nothing_is_closed_after_the_header_timeout() {
    let handle = start(exporter(), &small_registry());
    let mut silent = TcpStream::connect(handle.local_addr()).expect("connect");
    let outcome = read_outcome(&mut silent, HEADER_TIMEOUT + MARGIN);
    assert!(matches!(outcome, Outcome::Closed), "{outcome:?}");
}

#[test]
fn a_hundred_concurrent_scrapes_each_get_the_exposition_or_a_closed_connection() {
    let registry = registry_of(10);
    let handle = start(exporter(), &registry);
    let addr = handle.local_addr();
    let barrier = std::sync::Barrier::new(100);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let scrapers: Vec<_> = (0..100)
            .map(|_| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    exchange(addr, scrape_request(addr).as_bytes(), 4 * MARGIN)
                })
            })
            .collect();
        scrapers
            .into_iter()
            .map(|scraper| scraper.join().expect("a scraper thread"))
            .collect()
    });
    let mut served = 0;
    for outcome in &outcomes {
        let Outcome::Answered(responses) = outcome else {
            continue;
        };
        assert_eq!(responses.len(), 1);
        match responses[0].status {
            200 => {
                let body = std::str::from_utf8(&responses[0].body).expect("UTF-8");
                let exposition = parse_exposition(body).expect("the body parses");
                // Every series, with the value it was given.
                assert_eq!(exposition.samples.len(), 10 * 100);
                let last = [("tenant", "tenant-00009"), ("route", "/api/v2/resource-98")];
                assert_eq!(
                    exposition.value("requests_total", &last),
                    Some(f64::from(9 * 98))
                );
                served += 1;
            }
            503 => {}
            status => panic!("a scrape got {status}"),
        }
    }
    // The default allows 64 connections at once: those are served whatever happens; the
    // rest wait for a place, unless their request is late (see the `Exporter` docs).
    assert!(served >= 64, "only {served} of 100 scrapes were served");
}

#[test]
fn a_client_that_never_reads_its_answers_cannot_keep_a_scrape_waiting() {
    // One connection allowed, and the default 30 s lifetime: the stuck client holds the
    // only place, its answers filling the socket buffers.
    let registry = registry_of(100);
    let handle = start(exporter().max_connections(1), &registry);
    let addr = handle.local_addr();
    let mut stuck = TcpStream::connect(addr).expect("connect");
    stuck
        .set_write_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let pipelined = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").repeat(50);
    let _ = stuck.write_all(pipelined.as_bytes());

    let started = Instant::now();
    let outcome = exchange(
        addr,
        scrape_request(addr).as_bytes(),
        DISPLACEABLE_AFTER + MARGIN,
    );
    assert_eq!(outcome.status(), Some(200), "{outcome:?}");
    let waited = started.elapsed();
    assert!(
        waited < DISPLACEABLE_AFTER + MARGIN,
        "the honest scrape waited {waited:?}"
    );
    // The stuck client lost its place: what it reads now is answers, the last one cut
    // short by the close.
    let (received, _reset) = read_until_closed(&mut stuck, MARGIN);
    let (answers, _cut_short) = parse_responses(&received);
    assert!(answers.iter().all(|answer| answer.status == 200));
}

#[test]
fn silent_clients_beyond_max_connections_cannot_keep_a_scrape_waiting() {
    // Regression: with the connection limit taken before accepting, clients that connect
    // and send nothing held every place until their header timeout, and the ones queued
    // in the listen backlog behind them took the places next, one timeout after another:
    // here, five timeouts before the scrape's turn. The header timeout is long so that
    // only displacing the silent clients can serve the scrape in time.
    let header_timeout = Duration::from_secs(4);
    let handle = start(
        exporter()
            .header_read_timeout(header_timeout)
            .max_connections(4),
        &small_registry(),
    );
    let addr = handle.local_addr();
    let mut silent: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    let waited = scrape_small(addr, DISPLACEABLE_AFTER + MARGIN);
    assert!(
        waited < DISPLACEABLE_AFTER + MARGIN && waited < header_timeout,
        "the scrape waited {waited:?}"
    );
    // Each silent client was turned away (503), displaced or timed out: closed either way.
    for client in &mut silent {
        let outcome = read_outcome(client, header_timeout + MARGIN);
        assert!(matches!(outcome.status(), None | Some(503)), "{outcome:?}");
    }
}

#[test]
fn a_scrape_is_served_while_abusive_clients_hold_every_other_connection() {
    let handle = start(exporter().max_connections(4), &small_registry());
    let addr = handle.local_addr();
    // A trickler, a silent client, one that sent half a request and one with a body it
    // never finishes: together they hold every place.
    let mut trickler = TcpStream::connect(addr).expect("connect");
    trickler.write_all(b"G").expect("send");
    let silent = TcpStream::connect(addr).expect("connect");
    let mut half = TcpStream::connect(addr).expect("connect");
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .expect("send");
    let mut body = TcpStream::connect(addr).expect("connect");
    body.write_all(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\nab")
        .expect("send");
    for scrape in 0..5 {
        // The trickler goes on for as long as the server lets it.
        let _ = trickler.write_all(b"E");
        let waited = scrape_small(addr, HEADER_TIMEOUT + MARGIN);
        assert!(
            waited < HEADER_TIMEOUT + MARGIN,
            "scrape {scrape} waited {waited:?}"
        );
    }
    drop((trickler, silent, half, body));
}

#[test]
fn a_newcomer_without_a_request_is_turned_away_while_every_place_is_young() {
    let handle = start(
        exporter()
            .header_read_timeout(Duration::from_secs(5))
            .max_connections(1),
        &small_registry(),
    );
    let addr = handle.local_addr();
    let _holder = TcpStream::connect(addr).expect("connect");
    // Connected a moment after the holder, and silent: the holder has not waited long
    // enough to be displaced, and the newcomer has nothing to wait with.
    let mut newcomer = TcpStream::connect(addr).expect("connect");
    let outcome = read_outcome(&mut newcomer, MARGIN);
    let Outcome::Answered(responses) = outcome else {
        panic!("closed without an answer");
    };
    assert_eq!(responses.len(), 1);
    let busy = &responses[0];
    assert_eq!(busy.status, 503);
    assert_eq!(busy.header("connection"), Some("close"));
    assert!(busy.header("retry-after").is_some());
    assert_eq!(busy.body, b"too many connections\n");
}

#[test]
fn the_connection_that_has_waited_longest_is_displaced_first() {
    let handle = start(
        exporter()
            .header_read_timeout(Duration::from_secs(5))
            .max_connections(2),
        &small_registry(),
    );
    let addr = handle.local_addr();
    let mut older = TcpStream::connect(addr).expect("connect");
    std::thread::sleep(DISPLACEABLE_AFTER / 2);
    let younger = TcpStream::connect(addr).expect("connect");
    // The scrape waits for the older one to have waited a second, then takes its place.
    scrape_small(addr, DISPLACEABLE_AFTER + MARGIN);
    let outcome = read_outcome(&mut older, MARGIN);
    assert!(matches!(outcome, Outcome::Closed), "{outcome:?}");
    // The younger one, half a second younger, is still open.
    younger.set_nonblocking(true).expect("non-blocking");
    let still_open = (&younger).read(&mut [0u8; 16]).map_err(|e| e.kind());
    assert_eq!(still_open, Err(ErrorKind::WouldBlock));
}
