//! The upstream: a loopback HTTP/1.1 server that plays an LLM endpoint. For each request it
//! looks up the trace row the request names and answers at once with that row's input and
//! output token counts, or with a provider's 400 when the row is larger than the model's
//! context window, exactly as the main job decides it. It never waits: what the benchmark
//! measures is the proxy, not a model.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::trace::Request as Row;
use crate::wire::{parse_path, refusal_body, usage_body, ROW_HEADER};

pub(crate) struct UpstreamOptions {
    pub(crate) listen: SocketAddr,
    pub(crate) max_seconds: Duration,
    pub(crate) until_stdin_closes: bool,
}

/// Serves until the process ends; prints its address first.
pub(crate) fn run(rows: Vec<Row>, options: &UpstreamOptions) -> std::io::Result<()> {
    crate::lifetime::bound("upstream", options.max_seconds, options.until_stdin_closes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(options.listen).await?;
        println!(
            "upstream on http://{} answering for {} trace rows",
            listener.local_addr()?,
            rows.len()
        );
        let rows = Arc::new(rows);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors or the like: wait for the condition to clear.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let rows = rows.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let response = answer(&rows, &request);
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn answer(rows: &[Row], request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let Some((route, model)) = parse_path(request.uri().path()) else {
        return json(
            StatusCode::NOT_FOUND,
            "{\"error\":\"no such model\"}\n".into(),
        );
    };
    let row = request
        .headers()
        .get(ROW_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    let Some((index, row)) = row.and_then(|index| Some((index, rows.get(index)?))) else {
        return json(
            StatusCode::BAD_REQUEST,
            format!("{{\"error\":\"{ROW_HEADER} names no trace row\"}}\n"),
        );
    };
    if (row.route, row.model) != (route, model) {
        return json(
            StatusCode::CONFLICT,
            format!("{{\"error\":\"row {index} is for another route or model\"}}\n"),
        );
    }
    if row.served() {
        json(
            StatusCode::OK,
            usage_body(index, row.input_tokens, row.output_tokens),
        )
    } else {
        json(StatusCode::BAD_REQUEST, refusal_body(index))
    }
}
