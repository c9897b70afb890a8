//! A plain HTTP/1.1 GET over loopback, for reading `/metrics` and Prometheus's API.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;

/// How long one GET may take: a scrape of the proxy and a query of Prometheus answer in
/// milliseconds; a server that hangs must not hang the benchmark.
const TIMEOUT: Duration = Duration::from_secs(20);

/// `GET path_and_query` on `addr`; the status and the body.
pub(crate) fn get(addr: SocketAddr, path_and_query: &str) -> Result<(u16, String), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the HTTP client runtime: {e}"))?;
    runtime.block_on(async move {
        tokio::time::timeout(TIMEOUT, exchange(addr, path_and_query))
            .await
            .map_err(|_| format!("GET http://{addr}{path_and_query}: no answer in {TIMEOUT:?}"))?
    })
}

async fn exchange(addr: SocketAddr, path_and_query: &str) -> Result<(u16, String), String> {
    let what = format!("GET http://{addr}{path_and_query}");
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("{what}: {e}"))?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path_and_query)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("{what}: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{what}: reading the body: {e}"))?
        .to_bytes();
    let body = String::from_utf8(body.to_vec()).map_err(|e| format!("{what}: not UTF-8: {e}"))?;
    Ok((status, body))
}

/// Percent-encodes a query parameter's value.
pub(crate) fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            encode_query("sum_over_time(up{job=\"p\"}[4s])"),
            "sum_over_time%28up%7Bjob%3D%22p%22%7D%5B4s%5D%29"
        );
    }
}
