//! The one test that installs the recorder globally, in an integration-test binary of its
//! own: `metrics` allows one global recorder per process, so no other test may share it.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use abacus_metrics::{BuildError, PrometheusBuilder};
use metrics::{counter, describe_counter, histogram};

use common::{check_exposition_tool, key, series};

/// `GET /metrics` over plain TCP, asking the server to close afterwards; the body.
fn get_metrics(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

fn loopback_any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

#[test]
fn one_global_install_serves_every_thread_and_a_second_is_refused() {
    let handle = PrometheusBuilder::new()
        .with_http_listener(loopback_any_port())
        .add_global_label("instance", "test")
        .build()
        .expect("a free loopback port")
        .install()
        .expect("the first global install");
    let addr = handle.listen_addr().expect("the recorder has a listener");
    assert_eq!(addr.ip(), Ipv4Addr::LOCALHOST);

    describe_counter!("global.requests", "Requests recorded from any thread.");
    // Global, unlike a local recorder: threads other than this one record into it.
    thread::scope(|scope| {
        for thread in ["0", "1"] {
            scope.spawn(move || {
                for _ in 0..1000 {
                    counter!("global.requests", "thread" => thread).increment(1);
                }
                histogram!("global.latency").record(0.2);
            });
        }
    });

    let body = get_metrics(addr);
    let served = series(&body);
    for thread in ["0", "1"] {
        let labels = [("instance", "test"), ("thread", thread)];
        assert_eq!(served[&key("global_requests", &labels)], 1000.0, "{body}");
    }
    let latency = [("instance", "test"), ("le", "0.25")];
    assert_eq!(
        served[&key("global_latency_bucket", &latency)],
        2.0,
        "{body}"
    );
    assert_eq!(body, handle.render());

    let url = format!("http://{addr}/metrics");
    let status = Command::new(check_exposition_tool())
        .args(["--format", "text", &url])
        .status()
        .expect("check-exposition runs");
    assert!(status.success(), "check-exposition rejected {url}:\n{body}");

    // A second install is a typed error that hands the recorder back, with its listener;
    // dropping that recorder stops the listener.
    let second = PrometheusBuilder::new()
        .with_http_listener(loopback_any_port())
        .build()
        .expect("a second free loopback port");
    let second_addr = second.handle().listen_addr().expect("a listener");
    match second.install() {
        Err(BuildError::AlreadyInstalled(recorder)) => {
            assert_eq!(recorder.handle().listen_addr(), Some(second_addr));
            drop(recorder);
        }
        other => panic!("expected AlreadyInstalled, got {other:?}"),
    }
    assert!(
        TcpStream::connect(second_addr).is_err(),
        "the refused recorder's listener still accepts"
    );
    let error = PrometheusBuilder::new()
        .install_recorder()
        .expect_err("a third install");
    assert!(
        matches!(error, BuildError::AlreadyInstalled(_)),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "a global metrics recorder is already installed"
    );
    assert!(matches!(
        PrometheusBuilder::new()
            .with_http_listener(loopback_any_port())
            .install(),
        Err(BuildError::AlreadyInstalled(_))
    ));

    // The first recorder is still the one recording and serving.
    counter!("global.requests", "thread" => "0").increment(1);
    let labels = [("instance", "test"), ("thread", "0")];
    assert_eq!(
        series(&get_metrics(addr))[&key("global_requests", &labels)],
        1001.0
    );
}
