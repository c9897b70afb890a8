//! A small HTTP/1.1 client over plain TCP, for the tests that talk to the `/metrics`
//! server on loopback.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The first header called `name`, any case.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as text; panics if it is not UTF-8.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }
}

/// Sends one HTTP/1.1 request with `headers` that asks the server to close afterwards,
/// and reads the whole response.
pub(crate) fn request_with(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(CLIENT_TIMEOUT))
        .expect("timeout");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII headers");
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("name: value");
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    Response {
        status,
        headers,
        body,
    }
}

/// [`request_with`] without extra headers.
pub(crate) fn request(addr: SocketAddr, method: &str, target: &str) -> Response {
    request_with(addr, method, target, &[])
}
