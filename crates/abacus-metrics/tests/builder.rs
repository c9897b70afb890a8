//! The builder's checks, before any recording: bucket layouts, matchers, the listener.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use abacus_metrics::{BuildError, Matcher, PrometheusBuilder, DEFAULT_LISTEN_ADDR};

#[test]
fn bucket_layouts_are_checked_when_they_are_set() {
    assert!(matches!(
        PrometheusBuilder::new().set_buckets(&[]),
        Err(BuildError::EmptyBuckets)
    ));
    let unsorted = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Prefix("http".into()), &[1.0, 0.5])
        .expect_err("unsorted bounds");
    match unsorted {
        BuildError::InvalidBuckets(abacus::Error::InvalidBucket {
            index,
            bound,
            reason,
        }) => {
            assert_eq!((index, bound), (1, 0.5));
            assert_eq!(reason, abacus::BucketError::Unsorted);
        }
        other => panic!("expected InvalidBuckets, got {other:?}"),
    }
    assert!(matches!(
        PrometheusBuilder::new().set_buckets(&[f64::NAN]),
        Err(BuildError::InvalidBuckets(_))
    ));
}

#[test]
fn matchers_select_whole_names_prefixes_and_suffixes() {
    assert!(Matcher::Full("a_b".into()).matches("a_b"));
    assert!(!Matcher::Full("a_b".into()).matches("a_bc"));
    assert!(Matcher::Prefix("http_".into()).matches("http_latency"));
    assert!(!Matcher::Prefix("http_".into()).matches("grpc_latency"));
    assert!(Matcher::Suffix("_bytes".into()).matches("body_bytes"));
    assert!(!Matcher::Suffix("_bytes".into()).matches("bytes_sent"));
}

#[test]
fn the_default_listener_address_is_the_incumbents() {
    assert_eq!(
        DEFAULT_LISTEN_ADDR,
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9000))
    );
}

#[test]
fn an_address_in_use_is_a_listen_error_with_the_address() {
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
    let addr = taken.local_addr().expect("its address");
    match PrometheusBuilder::new().with_http_listener(addr).build() {
        Err(BuildError::Listen { addr: refused, .. }) => assert_eq!(refused, addr),
        other => panic!("expected a Listen error, got {other:?}"),
    }
}

#[test]
fn a_recorder_built_with_a_listener_serves_until_it_is_dropped() {
    let recorder = PrometheusBuilder::new()
        .with_http_listener((Ipv4Addr::LOCALHOST, 0))
        .build()
        .expect("a free loopback port");
    let addr = recorder.handle().listen_addr().expect("a listener");
    assert!(std::net::TcpStream::connect(addr).is_ok());
    drop(recorder);
    assert!(std::net::TcpStream::connect(addr).is_err());
    assert_eq!(
        PrometheusBuilder::new()
            .build_recorder()
            .handle()
            .listen_addr(),
        None
    );
}
