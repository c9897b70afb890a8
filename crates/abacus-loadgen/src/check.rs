//! The self-check: fetch our own `/metrics` over HTTP, parse it, and compare every gateway
//! series with the totals computed from the trace.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;

use crate::expected::{Expected, SeriesKey, Tolerance};

/// Fetches `http://addr/metrics` with a real HTTP client and returns the body.
pub(crate) fn fetch_metrics(addr: SocketAddr) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the HTTP client runtime: {e}"))?;
    runtime.block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
        tokio::spawn(connection);
        let request = hyper::Request::get("/metrics")
            .header(hyper::header::HOST, addr.to_string())
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("building the request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("GET /metrics: {e}"))?;
        if response.status() != hyper::StatusCode::OK {
            return Err(format!("GET /metrics answered {}", response.status()));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the /metrics body: {e}"))?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|e| format!("/metrics is not UTF-8: {e}"))
    })
}

/// `le` bounds are compared as numbers: `1.0`, `1` and `1e0` are the same bucket.
fn normalize(mut key: SeriesKey) -> SeriesKey {
    for (name, value) in &mut key.1 {
        if name == "le" {
            if let Ok(bound) = value.replace("+Inf", "inf").parse::<f64>() {
                *value = bound.to_string();
            }
        }
    }
    key
}

/// Compares the gateway's series (`gateway_*` and `sentinel_*`) of an exposition with
/// the expected totals. Returns one line
/// per mismatch, missing series or unexpected series; empty means the check passed.
pub(crate) fn compare(exposition: &str, expected: &Expected) -> Result<Vec<String>, String> {
    let samples = abacus_prometheus::parse::parse_text(exposition)
        .map_err(|e| format!("parsing /metrics: {e}"))?;
    let mut observed: BTreeMap<SeriesKey, f64> = BTreeMap::new();
    for sample in samples {
        if !sample.name.starts_with("gateway_") && !sample.name.starts_with("sentinel_") {
            continue;
        }
        let mut labels = sample.labels;
        labels.sort();
        let key = normalize((sample.name, labels));
        if observed.insert(key.clone(), sample.value).is_some() {
            return Err(format!("/metrics has the series {key:?} twice"));
        }
    }
    let mut problems = Vec::new();
    for (key, (want, tolerance)) in &expected.samples {
        let key = normalize(key.clone());
        match observed.remove(&key) {
            None => problems.push(format!("missing {key:?}: expected {want}")),
            Some(got) => {
                let ok = match tolerance {
                    Tolerance::Exact => got == *want,
                    Tolerance::Relative(rel) => {
                        (got - want).abs() <= rel * want.abs().max(f64::MIN_POSITIVE)
                    }
                };
                if !ok {
                    problems.push(format!("{key:?}: expected {want}, got {got}"));
                }
            }
        }
    }
    for (key, value) in observed {
        problems.push(format!("unexpected series {key:?} = {value}"));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{request, TraceKind};

    /// The expected samples written out as exposition lines, by a formatter of the
    /// test's own.
    fn exposition_of(expected: &Expected) -> Vec<String> {
        expected
            .samples
            .iter()
            .map(|((name, labels), (value, _))| {
                let labels: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                let value = if value.is_infinite() {
                    "+Inf".to_owned()
                } else {
                    value.to_string()
                };
                format!("{name}{{{}}} {value}", labels.join(","))
            })
            .collect()
    }

    fn expected() -> Expected {
        let requests = [
            request(TraceKind::Code, 0, 100, 10),
            request(TraceKind::Conversation, 0, 2_000, 300),
            request(TraceKind::Conversation, 1, 5_000, 10),
        ];
        Expected::from_requests(&requests, 3, true)
    }

    #[test]
    fn matching_exposition_passes() {
        let expected = expected();
        let text = exposition_of(&expected).join("\n") + "\n";
        assert_eq!(compare(&text, &expected), Ok(Vec::new()));
    }

    #[test]
    fn a_changed_value_a_missing_and_an_extra_series_are_each_reported() {
        let expected = expected();
        let mut lines = exposition_of(&expected);
        let changed = lines
            .iter()
            .position(|l| l.starts_with("gateway_input_tokens_total{model=\"gpt-4o\""))
            .expect("an input tokens line");
        lines[changed] = format!("{} 1", lines[changed].rsplit_once(' ').unwrap().0);
        let removed = lines.remove(
            lines
                .iter()
                .position(|l| l.starts_with("gateway_tenant_tokens_total"))
                .unwrap(),
        );
        lines.push("gateway_requests_total{route=\"nope\",status=\"200\"} 1".to_owned());
        let problems = compare(&(lines.join("\n") + "\n"), &expected).expect("it parses");
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems.iter().any(|p| p.contains("expected 6000, got 1")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("missing")),
            "{removed} {problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("unexpected")),
            "{problems:#?}"
        );
    }

    #[test]
    fn refused_requests_count_but_carry_no_tokens() {
        // Row 1 of the conversation trace is gpt-3.5-turbo with a 4,096-token window.
        let expected = expected();
        let key = |name: &str, labels: &[(&str, &str)]| -> SeriesKey {
            let mut labels: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            labels.sort();
            (name.to_owned(), labels)
        };
        let refused = key(
            "gateway_requests_total",
            &[("route", "chat"), ("status", "400")],
        );
        assert_eq!(expected.samples[&refused].0, 3.0);
        let tokens = key(
            "gateway_input_tokens_total",
            &[("route", "chat"), ("model", "gpt-3.5-turbo")],
        );
        assert_eq!(expected.samples[&tokens].0, 0.0);
    }
}
