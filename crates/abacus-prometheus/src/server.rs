//! The `/metrics` HTTP server: one background thread running a single-threaded tokio
//! runtime and hyper's HTTP/1 server.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use abacus::Registry;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING,
    CONTENT_TYPE, VARY,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::admission::{request_arrived, turn_away, Connections, Ticket};
use crate::gzip::Gzip;
use crate::{accepts_gzip, Format, TextEncoder};

/// The most bytes a request head (request line and header lines) may have, and so the
/// most the server buffers of a connection's input. Scrapers send a few hundred.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The most header lines a request may have: hyper's default, made explicit so that it
/// cannot change under us.
const MAX_HEADERS: usize = 100;

/// Where an [`Exporter`] listens unless told otherwise: loopback only, on the port
/// OpenTelemetry's Prometheus exporter uses.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9464));

/// The path the exposition is served at.
pub const METRICS_PATH: &str = "/metrics";

/// Configures and starts the `/metrics` server.
///
/// `GET /metrics` answers with the registry in the format the request's `Accept` header
/// prefers ([`Format::negotiate`]: OpenMetrics 1.0 when asked for, the text format 0.0.4
/// otherwise), its `Content-Type` naming that format exactly, and compressed with gzip
/// when `Accept-Encoding` asks for it ([`accepts_gzip`]), with `Content-Encoding: gzip`.
/// `Vary` names the headers that chose. `HEAD /metrics` answers with the same headers,
/// `Content-Length` included, and no body. Any other method on `/metrics` gets
/// `405 Method Not Allowed` with `Allow: GET, HEAD`, and any other path `404 Not Found`.
///
/// # Limits
///
/// The server is meant to stay up and answer its scrapers whatever other clients do:
///
/// - A request head (request line and headers) may have at most 16 KiB and 100 header
///   lines; a larger one is answered `431 Request Header Fields Too Large` and its
///   connection closed. A malformed request is answered `400 Bad Request`, or its
///   connection closed when there is nothing to answer (bytes that are not HTTP/1).
/// - A request body is never read: the request is answered as if it had none, and the
///   connection is closed afterwards unless the body had already arrived whole.
/// - The head must arrive within the [header read
///   timeout](Self::header_read_timeout) of connecting or of the previous answer, and a
///   connection lives at most its [connection timeout](Self::connection_timeout).
/// - At most [`max_connections`](Self::max_connections) are open at once. When all are
///   taken and another client connects, the open connection that has waited longest for
///   a request is closed to make room, provided it has waited at least a second (since it
///   connected or since its last answer): a client that sends nothing, trickles its
///   request or stops reading its answers keeps a scraper out for a second at most. When
///   none has waited that long, a newcomer whose request arrives whole within 20 ms waits
///   for a place, and one whose request does not is answered `503 Service Unavailable`
///   and closed. A scraper queued in the listen backlog (128 connections) behind clients
///   that send nothing may wait 20 ms for each of them on top.
///
/// ```
/// use abacus::{Desc, Registry};
/// use abacus_prometheus::Exporter;
///
/// let registry = Registry::new();
/// registry.counter(Desc::new("jobs_total", "Jobs run."))?;
/// let handle = Exporter::new()
///     .listen("127.0.0.1:0".parse().expect("a socket address"))
///     .start(&registry)
///     .expect("a free loopback port");
/// assert_eq!(handle.local_addr().ip().to_string(), "127.0.0.1");
/// drop(handle); // stops the server and closes the port
/// # Ok::<(), abacus::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Exporter {
    addr: SocketAddr,
    header_read_timeout: Duration,
    connection_timeout: Duration,
    max_connections: usize,
    openmetrics: bool,
    created: bool,
}

impl Default for Exporter {
    fn default() -> Self {
        Exporter {
            addr: DEFAULT_ADDR,
            header_read_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(30),
            max_connections: 64,
            openmetrics: true,
            created: false,
        }
    }
}

impl Exporter {
    /// The default configuration: [`DEFAULT_ADDR`], a 10 second header read timeout, a 30
    /// second connection lifetime, at most 64 open connections, and OpenMetrics offered.
    pub fn new() -> Self {
        Self::default()
    }

    /// The address to listen on. Port 0 picks a free port; see
    /// [`ExporterHandle::local_addr`].
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// How long a client may take to send a request's headers, and how long a kept-alive
    /// connection may stay idle, before it is closed.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a connection may live, however busy: a client that pipelines requests and
    /// never reads the answers would otherwise hold its connection, and one of the
    /// [`max_connections`](Self::max_connections), for ever. Scrapers reconnect.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How many connections may be open at once, at least one. Past it, a newcomer takes
    /// the place of a connection that has been waiting a second for a request, waits, or
    /// is turned away: see [Limits](Self#limits).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Whether to answer in OpenMetrics when a scraper prefers it (the default), or always
    /// in the text format 0.0.4. Prometheus before 2.49 cannot be told which format to
    /// ask for and always prefers OpenMetrics, so offering text only is how such a server
    /// is made to scrape the text format.
    pub fn openmetrics(mut self, offer: bool) -> Self {
        self.openmetrics = offer;
        self
    }

    /// Whether OpenMetrics answers carry counters' and histograms' `_created` samples (off
    /// by default); see [`TextEncoder::created_samples`].
    pub fn created_samples(mut self, on: bool) -> Self {
        self.created = on;
        self
    }

    /// Binds the address and starts serving `registry` from a new thread. Scrapes share
    /// one [`TextEncoder`], output buffer and compressor, so a warm server renders without
    /// allocating per series.
    ///
    /// # Errors
    ///
    /// The [`io::Error`] of binding the address (in use, not local, not permitted), of
    /// creating the runtime, or of spawning the thread.
    pub fn start(&self, registry: &Registry) -> io::Result<ExporterHandle> {
        let registry = registry.clone();
        let mut encoder = TextEncoder::new().created_samples(self.created);
        let render = move |format: Format, out: &mut Vec<u8>| {
            encoder.encode_as(&registry, format, out);
            Ok(())
        };
        self.serve(Box::new(render), self.openmetrics)
    }

    /// Binds the address and starts serving whatever `render` writes, from a new thread:
    /// the same server as [`start`](Self::start), for an exposition that does not come
    /// from an abacus registry (another metrics library, a fixed text, a test double).
    ///
    /// Each `GET` or `HEAD` of `/metrics` calls `render` with an emptied buffer that is
    /// kept between scrapes; what it leaves there is the body, sent with the text format's
    /// content type whatever the request's `Accept` (compressed when it asks for gzip).
    /// Scrapes are serialized, so `render` may keep state of its own. An error answers
    /// `500 Internal Server Error` with the error's text.
    ///
    /// ```
    /// use abacus_prometheus::Exporter;
    ///
    /// let handle = Exporter::new()
    ///     .listen("127.0.0.1:0".parse().expect("a socket address"))
    ///     .start_with(|out: &mut Vec<u8>| {
    ///         out.extend_from_slice(b"# TYPE up gauge\nup 1\n");
    ///         Ok(())
    ///     })
    ///     .expect("a free loopback port");
    /// drop(handle);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn start_with<F>(&self, mut render: F) -> io::Result<ExporterHandle>
    where
        F: FnMut(&mut Vec<u8>) -> io::Result<()> + Send + 'static,
    {
        self.serve(
            Box::new(move |_: Format, out: &mut Vec<u8>| render(out)),
            false,
        )
    }

    /// Binds the address and serves what `render` writes from a new thread; it is asked
    /// for OpenMetrics only when `openmetrics` is set.
    fn serve(&self, render: Render, openmetrics: bool) -> io::Result<ExporterHandle> {
        let std_listener = std::net::TcpListener::bind(self.addr)?;
        let local_addr = std_listener.local_addr()?;
        std_listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let (stop, stopped) = oneshot::channel();
        let server = Server {
            scrape: Arc::new(Scrape {
                openmetrics,
                state: Mutex::new(ScrapeState {
                    render,
                    out: Vec::new(),
                    gzip: None,
                }),
            }),
            header_read_timeout: self.header_read_timeout,
            connection_timeout: self.connection_timeout,
            connections: Arc::new(Connections::new(self.max_connections)),
        };
        let thread = std::thread::Builder::new()
            .name("abacus-exporter".into())
            .spawn(move || {
                runtime.block_on(server.run(listener, stopped));
                // Dropping the runtime drops every connection task, closing their sockets.
                drop(runtime);
            })?;
        Ok(ExporterHandle {
            local_addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A running server. Dropping it (or calling [`ExporterHandle::shutdown`]) stops accepting,
/// closes the listener and every open connection, and waits for the server thread to end.
#[derive(Debug)]
pub struct ExporterHandle {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ExporterHandle {
    /// The address the server is bound to, with the port the system picked for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the server and waits for its thread to end; the same as dropping the handle.
    pub fn shutdown(self) {}
}

impl Drop for ExporterHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already be gone if its thread panicked; nothing to stop then.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread has nowhere to go from a destructor.
            let _ = thread.join();
        }
    }
}

/// What renders an exposition in a format into a buffer.
type Render = Box<dyn FnMut(Format, &mut Vec<u8>) -> io::Result<()> + Send>;

/// What every request handler shares.
struct Scrape {
    /// Whether OpenMetrics is offered; the text format always is.
    openmetrics: bool,
    state: Mutex<ScrapeState>,
}

/// The renderer and the buffers every scrape reuses.
struct ScrapeState {
    render: Render,
    out: Vec<u8>,
    /// Created on the first compressed scrape, then kept.
    gzip: Option<Gzip>,
}

/// A rendered body and how it was encoded.
struct Body {
    bytes: Bytes,
    gzip: bool,
}

impl Scrape {
    fn render(&self, format: Format, gzip: bool) -> io::Result<Body> {
        // A panic while rendering leaves nothing half-done that matters: the output is
        // cleared before every rendering (and the abacus encoder clears its own state).
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let ScrapeState {
            render,
            out,
            gzip: compressor,
        } = &mut *state;
        out.clear();
        render(format, out)?;
        if gzip {
            if let Some(member) = compressor.get_or_insert_with(Gzip::new).compress(out) {
                return Ok(Body {
                    bytes: Bytes::copy_from_slice(member),
                    gzip: true,
                });
            }
        }
        Ok(Body {
            bytes: Bytes::copy_from_slice(out),
            gzip: false,
        })
    }
}

struct Server {
    scrape: Arc<Scrape>,
    header_read_timeout: Duration,
    connection_timeout: Duration,
    connections: Arc<Connections>,
}

/// What became of a newly accepted connection.
enum Placed {
    Admitted(TcpStream),
    TurnedAway,
    /// The server was told to stop meanwhile.
    Stopped,
}

impl Server {
    async fn run(self, listener: TcpListener, mut stopped: oneshot::Receiver<()>) {
        let mut peek = vec![0; MAX_HEAD_BYTES];
        loop {
            let accepted = tokio::select! {
                biased;
                _ = &mut stopped => return,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _peer)) => stream,
                // Out of file descriptors and the like: the condition may clear, so wait a
                // little instead of spinning on it.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let stream = match self.place(stream, &mut peek, &mut stopped).await {
                Placed::Admitted(stream) => stream,
                Placed::TurnedAway => continue,
                Placed::Stopped => return,
            };
            let (ticket, displaced) = self.connections.admit();
            let scrape = self.scrape.clone();
            let header_timeout = self.header_read_timeout;
            let lifetime = self.connection_timeout;
            tokio::spawn(async move {
                ticket.waiting_for_request();
                let connection = serve_connection(stream, scrape, &ticket, header_timeout);
                // Past its lifetime, or displaced, the connection is dropped and its
                // socket closed.
                tokio::select! {
                    _ = tokio::time::timeout(lifetime, connection) => {}
                    _ = displaced => {}
                }
                drop(ticket);
            });
        }
    }

    /// Finds the newcomer `stream` a place, by the rules of [`crate::admission`]: at once
    /// if there is room or room can be made, after a wait if its request arrives whole
    /// soon enough, else not at all.
    async fn place(
        &self,
        stream: TcpStream,
        peek: &mut [u8],
        stopped: &mut oneshot::Receiver<()>,
    ) -> Placed {
        if self.connections.make_room() {
            return Placed::Admitted(stream);
        }
        if !request_arrived(&stream, peek).await {
            turn_away(stream);
            return Placed::TurnedAway;
        }
        loop {
            if self.connections.make_room() {
                return Placed::Admitted(stream);
            }
            let deadline = self.connections.next_displaceable();
            tokio::select! {
                biased;
                _ = &mut *stopped => return Placed::Stopped,
                _ = self.connections.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    scrape: Arc<Scrape>,
    ticket: &Ticket,
    header_read_timeout: Duration,
) {
    // Responses are written whole; Nagle's algorithm would only delay their last segment.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(|request: Request<Incoming>| {
        let response = respond(&scrape, &request);
        // Rendering is synchronous: the answer is ready, and the connection waits for the
        // next request from here on.
        ticket.waiting_for_request();
        async move { Ok::<_, Infallible>(response) }
    });
    // A client that breaks the protocol or goes away ends only its own connection, and
    // there is no one to tell: the error is dropped.
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn respond(scrape: &Scrape, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path() != METRICS_PATH {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let headers = request.headers();
    let format = if scrape.openmetrics {
        Format::negotiate(joined(headers, &ACCEPT).as_deref())
    } else {
        Format::Text
    };
    let gzip = accepts_gzip(joined(headers, &ACCEPT_ENCODING).as_deref());
    // HEAD renders too, so that its Content-Length is the one GET would send; hyper leaves
    // the body out.
    let body = match scrape.render(format, gzip) {
        Ok(body) => body,
        Err(e) => {
            let mut response = plain(StatusCode::INTERNAL_SERVER_ERROR, "");
            *response.body_mut() = Full::new(Bytes::from(format!("rendering failed: {e}\n")));
            return response;
        }
    };
    let mut response = Response::new(Full::new(body.bytes));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if body.gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // Caches must not hand one scraper's format or encoding to another.
    headers.insert(
        VARY,
        HeaderValue::from_static(if scrape.openmetrics {
            "Accept, Accept-Encoding"
        } else {
            "Accept-Encoding"
        }),
    );
    response
}

/// The values of every `name` header as one comma-separated list, as HTTP defines
/// repeated list headers; `None` when there is none or one is not visible ASCII, which
/// these headers never need to be.
fn joined<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<std::borrow::Cow<'a, str>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?.to_str().ok()?;
    let mut rest = values.peekable();
    if rest.peek().is_none() {
        return Some(first.into());
    }
    let mut list = first.to_owned();
    for value in rest {
        list.push(',');
        list.push_str(value.to_str().ok()?);
    }
    Some(list.into())
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
