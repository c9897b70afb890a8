//! The HTTP side: one HTTP/1.1 connection to the receiver, kept open between requests
//! and opened again after any failure, on hyper's client.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, RETRY_AFTER};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::retry::Outcome;

/// The most of a response body that is read; the body says nothing the status does not,
/// and reading it is only what lets the connection be used again.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Where and how requests go: fixed when the writer starts.
#[derive(Debug)]
pub(crate) struct Target {
    /// The host to connect to, without the brackets of an IPv6 literal.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The request target: the URL's path and query.
    pub(crate) path: Uri,
    /// Every header of every request: `Host`, the protocol's, `User-Agent`,
    /// authorization and the extra ones.
    pub(crate) headers: HeaderMap,
}

/// An open connection; dropping it closes the socket.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    task: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The task owns the socket; a request abandoned mid-flight must not leave it
        // waiting for an answer that may never come.
        self.task.abort();
    }
}

/// Sends requests to a [`Target`], one at a time.
pub(crate) struct Client {
    target: Arc<Target>,
    connection: Option<Connection>,
}

impl Client {
    pub(crate) fn new(target: Arc<Target>) -> Self {
        Client {
            target,
            connection: None,
        }
    }

    /// POSTs `body`, giving up after `timeout`. Must run on a tokio runtime with IO and
    /// time enabled.
    pub(crate) async fn send(&mut self, body: Bytes, timeout: Duration) -> Outcome {
        match tokio::time::timeout(timeout, self.exchange(body)).await {
            Ok(Some(outcome)) => outcome,
            Ok(None) => {
                self.connection = None;
                Outcome::Failed
            }
            Err(_elapsed) => {
                self.connection = None;
                Outcome::TimedOut
            }
        }
    }

    /// One request and its answer, or `None` when the exchange failed. Why it failed is
    /// not kept: the writer retries either way, and has nowhere to report it but the
    /// `error` status of its request counter.
    async fn exchange(&mut self, body: Bytes) -> Option<Outcome> {
        let mut connection = match self.connection.take() {
            Some(open) if !open.sender.is_closed() => open,
            _ => self.connect().await?,
        };
        connection.sender.ready().await.ok()?;
        let mut request = Request::post(self.target.path.clone())
            .body(Full::new(body))
            .ok()?;
        *request.headers_mut() = self.target.headers.clone();
        let response = connection.sender.send_request(request).await.ok()?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The answer stands whatever happens to its body; a body too long or broken off
        // only costs the connection.
        let read = Limited::new(response.into_body(), MAX_RESPONSE_BODY)
            .collect()
            .await;
        if read.is_ok() {
            self.connection = Some(connection);
        }
        Some(Outcome::Answered {
            status,
            retry_after,
        })
    }

    async fn connect(&self) -> Option<Connection> {
        let stream = TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .ok()?;
        // Requests are written whole; Nagle's algorithm would only hold back their end.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        let task = tokio::spawn(async move {
            // A connection that fails ends here; the next request notices and reconnects.
            let _ = connection.await;
        });
        Some(Connection { sender, task })
    }
}
