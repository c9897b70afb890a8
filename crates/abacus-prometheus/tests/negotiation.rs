//! Content negotiation and compression on the `/metrics` server: the issue's tables of
//! `Accept` and `Accept-Encoding` headers, each answer's `Content-Type`, and the body's
//! format matching it.

mod common;

use std::io::Read;
use std::net::SocketAddr;

use abacus::{Desc, Registry};
use abacus_prometheus::parse::{parse_exposition, parse_openmetrics};
use abacus_prometheus::{accepts_gzip, Exporter, ExporterHandle, Format};
use common::{request_with, Response};

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Prometheus 2.42's header, the one `../shared/tools/scrape-e2e` documents.
const PROMETHEUS_2_42: &str = "application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// Older Prometheus 2 releases asked for OpenMetrics 0.0.1 first.
const PROMETHEUS_2_OLD: &str =
    "application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const BROWSER: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
const PROTOBUF_ONLY: &str =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";

/// The negotiation table: `Accept` (`None`: no header) and the format it must get.
const TABLE: &[(Option<&str>, Format)] = &[
    (
        Some("application/openmetrics-text; version=1.0.0"),
        Format::OpenMetrics,
    ),
    (
        Some("application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.3"),
        Format::OpenMetrics,
    ),
    (
        Some("text/plain;version=0.0.4;q=0.4,application/openmetrics-text;version=1.0.0;q=0.6"),
        Format::OpenMetrics,
    ),
    (Some(PROMETHEUS_2_42), Format::OpenMetrics),
    (Some(PROMETHEUS_2_OLD), Format::OpenMetrics),
    (
        Some("APPLICATION/OpenMetrics-Text; VERSION=1.0.0; Q=0.9, Text/Plain; q=0.1"),
        Format::OpenMetrics,
    ),
    (
        Some("application/openmetrics-text; version=2.0.0"),
        Format::Text,
    ),
    (
        Some("application/openmetrics-text;version=2.0.0,text/plain;q=0.1"),
        Format::Text,
    ),
    (Some(PROTOBUF_ONLY), Format::Text),
    (
        Some("application/openmetrics-text;version=1.0.0;q=0,text/plain;version=0.0.4"),
        Format::Text,
    ),
    (
        Some("application/openmetrics-text;version=1.0.0;q=0"),
        Format::Text,
    ),
    (
        Some("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5"),
        Format::Text,
    ),
    (
        Some("application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.5"),
        Format::Text,
    ),
    (Some(BROWSER), Format::Text),
    (Some("*/*"), Format::Text),
    (Some(""), Format::Text),
    (None, Format::Text),
];

fn loopback_any_port() -> SocketAddr {
    "127.0.0.1:0".parse().expect("a socket address")
}

fn registry() -> Result<Registry, abacus::Error> {
    let registry = Registry::new();
    registry
        .counter(Desc::new("requests", "Requests, \"all\" of them.").labels(["route"]))?
        .with_labels(&["/a\\b"])?
        .add(3);
    registry
        .float_gauge(Desc::new("ratio", "A ratio."))?
        .with_labels(&[])?
        .set(2.0);
    Ok(registry)
}

fn start(registry: &Registry) -> ExporterHandle {
    Exporter::new()
        .listen(loopback_any_port())
        .start(registry)
        .expect("the server starts on a free loopback port")
}

fn get(handle: &ExporterHandle, headers: &[(&str, &str)]) -> Response {
    request_with(handle.local_addr(), "GET", "/metrics", headers)
}

/// The format the body is in, told by which parser accepts it: an OpenMetrics body ends
/// with `# EOF`, which the text parser reads as a comment, so the OpenMetrics parser is
/// asked first and the text body must fail it.
fn body_format(body: &str) -> Format {
    if parse_openmetrics(body).is_ok() {
        Format::OpenMetrics
    } else {
        parse_exposition(body).expect("a text body parses");
        Format::Text
    }
}

#[test]
fn the_negotiation_table_holds_for_the_function_and_the_server() -> Result<(), abacus::Error> {
    let registry = registry()?;
    let handle = start(&registry);
    for &(accept, expected) in TABLE {
        assert_eq!(Format::negotiate(accept), expected, "{accept:?}");
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let response = get(&handle, &headers);
        assert_eq!(response.status, 200, "{accept:?}");
        assert_eq!(
            response.header("content-type"),
            Some(expected.content_type()),
            "{accept:?}"
        );
        assert_eq!(body_format(&response.text()), expected, "{accept:?}");
    }
    Ok(())
}

#[test]
fn accept_split_over_several_header_lines_is_one_list() -> Result<(), abacus::Error> {
    let handle = start(&registry()?);
    let response = get(
        &handle,
        &[
            ("Accept", "text/plain;version=0.0.4;q=0.5"),
            ("Accept", "application/openmetrics-text;version=1.0.0"),
        ],
    );
    assert_eq!(response.header("content-type"), Some(OPENMETRICS));
    Ok(())
}

#[test]
fn every_reply_names_its_content_type_even_for_an_empty_registry() {
    let handle = start(&Registry::new());
    for (accept, content_type, body) in [
        (Some(BROWSER), TEXT, ""),
        (None, TEXT, ""),
        (Some("*/*"), TEXT, ""),
        (Some(PROMETHEUS_2_42), OPENMETRICS, "# EOF\n"),
    ] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let response = get(&handle, &headers);
        assert_eq!(response.status, 200, "{accept:?}");
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "{accept:?}"
        );
        assert_eq!(response.text(), body, "{accept:?}");
        assert_eq!(
            response.header("content-length"),
            Some(body.len().to_string().as_str())
        );
    }
    // Errors name theirs too.
    for (method, path) in [("GET", "/nope"), ("POST", "/metrics")] {
        let response = request_with(handle.local_addr(), method, path, &[]);
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "{method} {path}"
        );
    }
}

#[test]
fn a_text_only_exporter_answers_text_to_prometheus() -> Result<(), abacus::Error> {
    let registry = registry()?;
    let handle = Exporter::new()
        .listen(loopback_any_port())
        .openmetrics(false)
        .start(&registry)
        .expect("start");
    let response = get(&handle, &[("Accept", PROMETHEUS_2_42)]);
    assert_eq!(response.header("content-type"), Some(TEXT));
    assert_eq!(response.header("vary"), Some("Accept-Encoding"));
    assert_eq!(body_format(&response.text()), Format::Text);
    assert!(response
        .text()
        .contains("requests_total{route=\"/a\\\\b\"} 3\n"));
    Ok(())
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

#[test]
fn gzip_is_one_layer_over_the_identity_body() -> Result<(), abacus::Error> {
    let registry = registry()?;
    let handle = start(&registry);
    for accept in [PROMETHEUS_2_42, "text/plain"] {
        let identity = get(&handle, &[("Accept", accept)]);
        assert_eq!(identity.header("content-encoding"), None);
        for encoding in ["gzip", "br, gzip;q=0.5", "*", "GZIP", "x-gzip"] {
            assert!(accepts_gzip(Some(encoding)), "{encoding}");
            let response = get(
                &handle,
                &[("Accept", accept), ("Accept-Encoding", encoding)],
            );
            assert_eq!(response.status, 200);
            assert_eq!(
                response.header("content-encoding"),
                Some("gzip"),
                "{encoding}"
            );
            assert_eq!(
                response.header("content-type"),
                identity.header("content-type")
            );
            assert_eq!(
                response.header("vary"),
                Some("Accept, Accept-Encoding"),
                "{encoding}"
            );
            assert_eq!(
                response.header("content-length"),
                Some(response.body.len().to_string().as_str()),
                "{encoding}"
            );
            let inflated = gunzip(&response.body);
            assert_eq!(inflated, identity.body, "{encoding}");
            // One layer: what comes out is the exposition, not another gzip member.
            assert_ne!(inflated.get(..2), Some(&[0x1f, 0x8b][..]));
        }
    }
    Ok(())
}

#[test]
fn without_gzip_in_accept_encoding_the_body_is_plain() -> Result<(), abacus::Error> {
    let handle = start(&registry()?);
    let plain = get(&handle, &[]);
    for encoding in [
        None,
        Some("identity"),
        Some("gzip;q=0, identity"),
        Some("br"),
    ] {
        assert!(!accepts_gzip(encoding), "{encoding:?}");
        let headers: Vec<(&str, &str)> = encoding
            .map(|e| ("Accept-Encoding", e))
            .into_iter()
            .collect();
        let response = get(&handle, &headers);
        assert_eq!(response.header("content-encoding"), None, "{encoding:?}");
        assert_eq!(response.body, plain.body, "{encoding:?}");
        assert_eq!(response.header("vary"), Some("Accept, Accept-Encoding"));
        assert_eq!(
            response.header("content-length"),
            Some(response.body.len().to_string().as_str())
        );
    }
    Ok(())
}

#[test]
fn head_with_gzip_announces_the_compressed_length() -> Result<(), abacus::Error> {
    let handle = start(&registry()?);
    let headers = [("Accept", PROMETHEUS_2_42), ("Accept-Encoding", "gzip")];
    let get = request_with(handle.local_addr(), "GET", "/metrics", &headers);
    let head = request_with(handle.local_addr(), "HEAD", "/metrics", &headers);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-encoding"), Some("gzip"));
    assert_eq!(head.header("content-type"), Some(OPENMETRICS));
    assert_eq!(
        head.header("content-length"),
        Some(get.body.len().to_string().as_str())
    );
    Ok(())
}

#[test]
fn start_with_serves_text_whatever_the_scraper_prefers() {
    let handle = Exporter::new()
        .listen(loopback_any_port())
        .start_with(|out: &mut Vec<u8>| {
            out.extend_from_slice(b"# TYPE up gauge\nup 1\n");
            Ok(())
        })
        .expect("start");
    let response = get(
        &handle,
        &[("Accept", PROMETHEUS_2_42), ("Accept-Encoding", "gzip")],
    );
    assert_eq!(response.header("content-type"), Some(TEXT));
    assert_eq!(gunzip(&response.body), b"# TYPE up gauge\nup 1\n");
}
