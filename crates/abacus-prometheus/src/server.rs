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
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

use crate::{TextEncoder, TEXT_CONTENT_TYPE};

/// Where an [`Exporter`] listens unless told otherwise: loopback only, on the port
/// OpenTelemetry's Prometheus exporter uses.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9464));

/// The path the exposition is served at.
pub const METRICS_PATH: &str = "/metrics";

/// Configures and starts the `/metrics` server.
///
/// `GET /metrics` answers with the registry in the text format 0.0.4 and `HEAD /metrics`
/// with its headers. Any other method on `/metrics` gets `405 Method Not Allowed` with
/// `Allow: GET, HEAD`, and any other path `404 Not Found`.
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
}

impl Default for Exporter {
    fn default() -> Self {
        Exporter {
            addr: DEFAULT_ADDR,
            header_read_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(30),
            max_connections: 64,
        }
    }
}

impl Exporter {
    /// The default configuration: [`DEFAULT_ADDR`], a 10 second header read timeout, a 30
    /// second connection lifetime and at most 64 open connections.
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

    /// How many connections may be open at once; further clients wait in the listen
    /// backlog until one closes. At least one.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Binds the address and starts serving `registry` from a new thread. Scrapes share
    /// one [`TextEncoder`] and output buffer, so a warm server renders without allocating
    /// per series.
    ///
    /// # Errors
    ///
    /// The [`io::Error`] of binding the address (in use, not local, not permitted), of
    /// creating the runtime, or of spawning the thread.
    pub fn start(&self, registry: &Registry) -> io::Result<ExporterHandle> {
        let registry = registry.clone();
        let mut encoder = TextEncoder::new();
        self.start_with(move |out: &mut Vec<u8>| {
            encoder.encode(&registry, out);
            Ok(())
        })
    }

    /// Binds the address and starts serving whatever `render` writes, from a new thread:
    /// the same server as [`start`](Self::start), for an exposition that does not come
    /// from an abacus registry (another metrics library, a fixed text, a test double).
    ///
    /// Each `GET` or `HEAD` of `/metrics` calls `render` with an emptied buffer that is
    /// kept between scrapes; what it leaves there is the body, sent with the text format's
    /// content type. Scrapes are serialized, so `render` may keep state of its own. An
    /// error answers `500 Internal Server Error` with the error's text.
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
    pub fn start_with<F>(&self, render: F) -> io::Result<ExporterHandle>
    where
        F: FnMut(&mut Vec<u8>) -> io::Result<()> + Send + 'static,
    {
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
                buffers: Mutex::new((Box::new(render), Vec::new())),
            }),
            header_read_timeout: self.header_read_timeout,
            connection_timeout: self.connection_timeout,
            connections: Arc::new(Semaphore::new(self.max_connections)),
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

/// What renders an exposition into a buffer; see [`Exporter::start_with`].
type Render = Box<dyn FnMut(&mut Vec<u8>) -> io::Result<()> + Send>;

/// What every request handler shares: the renderer and the one output buffer.
struct Scrape {
    buffers: Mutex<(Render, Vec<u8>)>,
}

impl Scrape {
    fn render(&self) -> io::Result<Bytes> {
        // A panic while rendering leaves nothing half-done that matters: the output is
        // cleared before every rendering (and the abacus encoder clears its own state).
        let mut buffers = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        let (render, out) = &mut *buffers;
        out.clear();
        render(out)?;
        Ok(Bytes::copy_from_slice(out))
    }
}

struct Server {
    scrape: Arc<Scrape>,
    header_read_timeout: Duration,
    connection_timeout: Duration,
    connections: Arc<Semaphore>,
}

impl Server {
    async fn run(self, listener: TcpListener, mut stopped: oneshot::Receiver<()>) {
        loop {
            let permit = tokio::select! {
                biased;
                _ = &mut stopped => return,
                permit = self.connections.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_closed) => return,
                },
            };
            let accepted = tokio::select! {
                biased;
                _ = &mut stopped => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _peer)) => {
                    let scrape = self.scrape.clone();
                    let header_timeout = self.header_read_timeout;
                    let lifetime = self.connection_timeout;
                    tokio::spawn(async move {
                        let connection = serve_connection(stream, scrape, header_timeout);
                        // Past its lifetime the connection is dropped, and its socket closed.
                        let _ = tokio::time::timeout(lifetime, connection).await;
                        drop(permit);
                    });
                }
                // Out of file descriptors and the like: the condition may clear, so wait a
                // little instead of spinning on it.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, scrape: Arc<Scrape>, header_read_timeout: Duration) {
    // Responses are written whole; Nagle's algorithm would only delay their last segment.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let response = respond(&scrape, &request);
        async move { Ok::<_, Infallible>(response) }
    });
    // A client that breaks the protocol or goes away ends only its own connection, and
    // there is no one to tell: the error is dropped.
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
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
    // HEAD renders too, so that its Content-Length is the one GET would send; hyper leaves
    // the body out.
    let body = match scrape.render() {
        Ok(body) => body,
        Err(e) => {
            let mut response = plain(StatusCode::INTERNAL_SERVER_ERROR, "");
            *response.body_mut() = Full::new(Bytes::from(format!("rendering failed: {e}\n")));
            return response;
        }
    };
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_CONTENT_TYPE));
    response
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
