//! The reverse proxy: an LLM gateway's request path on hyper 1.x and tokio. Per request it
//! reads the route and model from the path and the tenant from a header, runs the budget
//! check, forwards to the upstream, reads the token counts of the answer, records, and
//! answers with the upstream's status and body. `/metrics` is served on another port by
//! the backend's exporter.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use crate::backend::{self, Answer, Backend, Call, Metrics};
use crate::wire::{parse_path, parse_usage, Tenants, TENANT_HEADER};

pub(crate) struct ServeOptions {
    pub(crate) backend: Backend,
    pub(crate) listen: SocketAddr,
    pub(crate) metrics_listen: SocketAddr,
    pub(crate) upstream: SocketAddr,
    pub(crate) threads: usize,
    pub(crate) max_seconds: Duration,
    pub(crate) until_stdin_closes: bool,
}

/// What every connection shares.
struct Gateway {
    tenants: Tenants,
    metrics: Metrics,
    upstream: SocketAddr,
}

/// Serves until the process ends; prints its addresses first.
pub(crate) fn run(options: &ServeOptions) -> Result<(), Box<dyn std::error::Error>> {
    crate::lifetime::bound("proxy", options.max_seconds, options.until_stdin_closes);
    let tenants = Tenants::new();
    let (metrics, exporter) = backend::start(options.backend, &tenants, options.metrics_listen)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_all()
        .build()?;
    let gateway = Arc::new(Gateway {
        tenants,
        metrics,
        upstream: options.upstream,
    });
    runtime.block_on(async {
        let listener = TcpListener::bind(options.listen).await?;
        println!(
            "proxy on http://{} recording with {}; /metrics on http://{}/metrics; upstream http://{}",
            listener.local_addr()?,
            options.backend,
            exporter.local_addr(),
            options.upstream,
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors or the like: wait for the condition to clear.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            tokio::spawn(serve_connection(stream, gateway.clone()));
        }
    })
}

/// One client connection. It gets an upstream connection of its own, opened on its first
/// request and kept: HTTP/1.1 serves one request at a time per connection, so the two
/// carry the same sequence of requests and need no pool.
async fn serve_connection(stream: TcpStream, gateway: Arc<Gateway>) {
    let _ = stream.set_nodelay(true);
    let upstream = Arc::new(Mutex::new(None));
    let service = hyper::service::service_fn(move |request| {
        let (gateway, upstream) = (gateway.clone(), upstream.clone());
        async move { Ok::<_, Infallible>(handle(&gateway, &upstream, request).await) }
    });
    // A client that breaks the protocol or goes away ends only its own connection.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response
}

async fn handle(
    gateway: &Gateway,
    upstream: &Mutex<Option<SendRequest<Incoming>>>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let Some((route, model)) = parse_path(request.uri().path()) else {
        return plain(StatusCode::NOT_FOUND, "no such route or model\n".into());
    };
    let tenant = request
        .headers()
        .get(TENANT_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|name| gateway.tenants.index(name));
    let Some(tenant) = tenant else {
        return plain(StatusCode::FORBIDDEN, "unknown tenant\n".into());
    };
    let call = Call {
        route,
        model,
        tenant,
    };
    let pending = gateway.metrics.check(&call);
    let (status, body) = match forward(gateway.upstream, upstream, request).await {
        Ok(answer) => answer,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("upstream: {e}\n")),
    };
    // TODO: answers other than 200 and 400 (the upstream gives none) are passed on
    // without being recorded: the trace's statuses are the only label values.
    let answer = match status {
        StatusCode::OK => match parse_usage(&body) {
            Some((input_tokens, output_tokens)) => Some(Answer {
                status: 0,
                input_tokens,
                output_tokens,
            }),
            None => {
                return plain(
                    StatusCode::BAD_GATEWAY,
                    "upstream answered without usage\n".into(),
                )
            }
        },
        StatusCode::BAD_REQUEST => Some(Answer {
            status: 1,
            input_tokens: 0,
            output_tokens: 0,
        }),
        _ => None,
    };
    if let Some(answer) = answer {
        gateway.metrics.record(&call, pending, &answer);
    }
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Sends the request on this connection's upstream connection, opening it first if it is
/// not open, and reads the whole answer.
async fn forward(
    addr: SocketAddr,
    upstream: &Mutex<Option<SendRequest<Incoming>>>,
    mut request: Request<Incoming>,
) -> Result<(StatusCode, Bytes), String> {
    // TODO: of the hop-by-hop headers only `Connection` is dropped; a general-purpose
    // proxy would drop the others it names too.
    request.headers_mut().remove(CONNECTION);
    let mut slot = upstream.lock().await;
    let sender = match &mut *slot {
        Some(sender) if !sender.is_closed() => sender,
        slot => slot.insert(connect(addr).await?),
    };
    sender
        .ready()
        .await
        .map_err(|e| format!("connection to {addr}: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request to {addr}: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("answer from {addr}: {e}"))?
        .to_bytes();
    Ok((status, body))
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Incoming>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
