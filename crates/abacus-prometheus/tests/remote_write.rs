//! The remote-write client against a mock receiver on loopback (`common/receiver.rs`),
//! which decodes every request with its own transcription of the protocol and answers
//! what each test scripts: failures and their retries, drops and their counts, a receiver
//! that hangs, `Retry-After`, an outage longer than the queue holds, NaN bits, headers and
//! the shape of every series.
//!
//! Expected values come from the remote-write specification
//! (<https://prometheus.io/docs/concepts/remote_write_spec/>), from the values recorded,
//! or from what the receiver saw, never from the client's own code.

#[path = "common/receiver.rs"]
mod receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use abacus::{Buckets, Desc, OwnedValue, Registry};
use abacus_prometheus::{RemoteWriteError, RemoteWriter};

use receiver::{wire, Attempt, Receiver, Reply};

/// Prometheus' ordinary NaN and its staleness marker, from the specification's
/// [stale markers](https://prometheus.io/docs/concepts/remote_write_spec/#stale-markers)
/// section and Prometheus' `value` package.
const NORMAL_NAN: u64 = 0x7ff8_0000_0000_0001;
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// An interval no test waits for: the only snapshot is the one shutdown takes.
const NEVER: Duration = Duration::from_secs(3600);
/// How much later than its lower bound a timed event may come on a busy 2-core machine.
const SLACK: Duration = Duration::from_millis(500);
const WAIT: Duration = Duration::from_secs(15);

type TestResult = Result<(), Box<dyn std::error::Error>>;
/// A series by name and all its labels but `__name__`, with the value it must have.
type Expectation = (&'static str, Vec<(&'static str, &'static str)>, f64);

/// A counter of `registry` by family name (without `_total`) and label values; 0 for a
/// series that does not exist.
fn counter(registry: &Registry, family: &str, labels: &[&str]) -> u64 {
    let snapshot = registry.snapshot();
    match snapshot.family(family).and_then(|f| f.series(labels)) {
        Some(OwnedValue::Counter(n)) => *n,
        None => 0,
        Some(other) => panic!("{family} {labels:?} is not a counter: {other:?}"),
    }
}

fn gauge(registry: &Registry, family: &str) -> i64 {
    let snapshot = registry.snapshot();
    match snapshot.family(family).and_then(|f| f.series(&[])) {
        Some(OwnedValue::Gauge(n)) => *n,
        other => panic!("{family} is not an integer gauge: {other:?}"),
    }
}

fn dropped(registry: &Registry, reason: &str) -> u64 {
    counter(registry, "abacus_remote_write_samples_dropped", &[reason])
}

fn requests(registry: &Registry, status: &str) -> u64 {
    counter(registry, "abacus_remote_write_requests", &[status])
}

/// Samples in a request: one per time series.
fn samples(attempt: &Attempt) -> u64 {
    attempt.body().timeseries.len() as u64
}

fn answered(status: u16) -> impl Fn(&Attempt) -> bool {
    move |attempt| attempt.status == status
}

#[test]
fn a_500_then_a_429_are_retried_with_backoff_and_no_snapshot_is_lost() -> TestResult {
    let registry = Registry::new();
    let jobs = registry
        .counter(Desc::new("jobs_total", "Jobs run."))?
        .with_labels(&[])?;
    jobs.add(7);
    let receiver = Receiver::scripted(vec![Reply::Status(500), Reply::Status(429)]);
    let (min, max) = (Duration::from_millis(200), Duration::from_millis(300));
    let writer = RemoteWriter::new(receiver.url())
        .interval(Duration::from_secs(1))
        .backoff(min, max)
        .retry_on_http_429(true)
        .start(&registry)?;
    let first = receiver.wait_for(WAIT, "500, 429, 200", |a| a.len() >= 3);
    writer.shutdown(Duration::from_secs(5))?;

    assert_eq!(
        first[..3].iter().map(|a| a.status).collect::<Vec<_>>(),
        [500, 429, 200]
    );
    // Three attempts at one snapshot: the same request each time.
    assert_eq!(first[0].body(), first[1].body());
    assert_eq!(first[1].body(), first[2].body());
    assert_eq!(first[2].body().value("jobs_total", &[]), 7.0);
    // The first retry waits between half and all of the minimum backoff, the second
    // between half and all of twice the minimum capped at the maximum.
    let gaps = [first[1].at - first[0].at, first[2].at - first[1].at];
    let bounds = [(min / 2, min), (max / 2, max)];
    for (gap, (low, high)) in gaps.into_iter().zip(bounds) {
        assert!(
            gap >= low && gap <= high + SLACK,
            "{gap:?} not in {low:?}..={high:?}"
        );
    }

    // Every snapshot the receiver saw was eventually accepted, and nothing was dropped.
    let attempts = receiver.attempts();
    let seen: BTreeSet<i64> = attempts.iter().map(|a| a.body().timestamp()).collect();
    let accepted: Vec<&Attempt> = attempts.iter().filter(|a| answered(200)(a)).collect();
    let delivered: BTreeSet<i64> = accepted.iter().map(|a| a.body().timestamp()).collect();
    assert_eq!(seen, delivered);
    assert_eq!(delivered.len(), accepted.len(), "each delivered once");
    for reason in [
        "queue_full",
        "rejected",
        "rate_limited",
        "shutdown",
        "encode",
    ] {
        assert_eq!(dropped(&registry, reason), 0, "{reason}");
    }
    let sent: u64 = accepted.iter().map(|a| samples(a)).sum();
    assert_eq!(
        counter(&registry, "abacus_remote_write_samples_sent", &[]),
        sent
    );
    assert_eq!(requests(&registry, "500"), 1);
    assert_eq!(requests(&registry, "429"), 1);
    assert_eq!(requests(&registry, "200"), accepted.len() as u64);
    Ok(())
}

#[test]
fn a_400_is_tried_once_its_samples_counted_as_dropped_and_the_next_interval_proceeds() -> TestResult
{
    let registry = Registry::new();
    registry
        .gauge(Desc::new("temperature", "Degrees."))?
        .with_labels(&[])?
        .set(21);
    let receiver = Receiver::scripted(vec![Reply::Status(400)]);
    let interval = Duration::from_millis(300);
    let writer = RemoteWriter::new(receiver.url())
        .interval(interval)
        .start(&registry)?;
    receiver.wait_for(WAIT, "a 400 then a 200", |a| a.iter().any(answered(200)));
    writer.shutdown(Duration::from_secs(5))?;

    let attempts = receiver.attempts();
    let rejected = &attempts[0];
    assert_eq!(rejected.status, 400);
    let rejected_at = rejected.body().timestamp();
    let tries = attempts
        .iter()
        .filter(|a| a.body().timestamp() == rejected_at)
        .count();
    assert_eq!(tries, 1, "a 400 is not retried");
    // The next attempt carries the next interval's snapshot.
    assert_eq!(attempts[1].status, 200);
    let next = attempts[1].body().timestamp();
    assert!(
        next - rejected_at >= (interval / 2).as_millis() as i64,
        "{rejected_at} then {next}"
    );
    assert_eq!(attempts[1].body().value("temperature", &[]), 21.0);
    assert_eq!(dropped(&registry, "rejected"), samples(rejected));
    assert_eq!(dropped(&registry, "queue_full"), 0);
    assert_eq!(requests(&registry, "400"), 1);
    Ok(())
}

#[test]
fn a_receiver_that_never_answers_leaves_recording_exact_and_the_queue_bounded() -> TestResult {
    let registry = Registry::new();
    let hits = registry
        .counter(Desc::new("hits_total", "Hits."))?
        .with_labels(&[])?;
    let receiver = Receiver::start(|_, _| Reply::Hang);
    let capacity = 3;
    let writer = RemoteWriter::new(receiver.url())
        .interval(Duration::from_millis(50))
        .queue_capacity(capacity)
        .start(&registry)?;

    // Record in a loop while snapshots pile up behind the hung request, until the queue
    // has overflowed; watch the queue length meanwhile.
    let started = Instant::now();
    let mut recorded = 0u64;
    while dropped(&registry, "queue_full") == 0 {
        for _ in 0..10_000 {
            hits.inc();
        }
        recorded += 10_000;
        let length = gauge(&registry, "abacus_remote_write_queue_length");
        assert!(
            (0..=capacity as i64).contains(&length),
            "queue length {length}"
        );
        assert!(started.elapsed() < WAIT, "the queue never overflowed");
    }
    assert_eq!(hits.value(), recorded);
    let snapshot = registry.snapshot();
    assert_eq!(
        snapshot.family("hits").and_then(|f| f.series(&[])),
        Some(&OwnedValue::Counter(recorded))
    );

    // The hung receiver still holds a request: shutdown gives up at its deadline.
    let result = writer.shutdown(Duration::from_millis(300));
    let Err(RemoteWriteError::Unflushed { snapshots, samples }) = result else {
        panic!("expected unsent snapshots, got {result:?}");
    };
    assert!((1..=capacity).contains(&snapshots), "{snapshots}");
    assert_eq!(dropped(&registry, "shutdown"), samples);
    assert_eq!(gauge(&registry, "abacus_remote_write_queue_length"), 0);
    // Every attempt was left hanging, and each is counted: abandoned when its snapshot was
    // pushed out, timed out when the shutdown deadline cut its timeout short. The last one
    // may have been given up on before its body reached the receiver.
    let attempts = receiver.attempts();
    assert!(attempts.len() >= 2, "{}", attempts.len());
    assert!(attempts.iter().all(|a| a.status == 0));
    let counted = requests(&registry, "abandoned") + requests(&registry, "timeout");
    let received = attempts.len() as u64;
    assert!(
        received <= counted && counted <= received + 1,
        "{counted} counted, {received} received"
    );
    Ok(())
}

#[test]
fn a_503_with_retry_after_2_waits_at_least_2_seconds() -> TestResult {
    let registry = Registry::new();
    registry
        .counter(Desc::new("events_total", "Events."))?
        .with_labels(&[])?
        .add(3);
    let receiver = Receiver::scripted(vec![Reply::RetryAfter(503, "2")]);
    // A backoff far below the two seconds, so that only Retry-After explains the wait.
    let writer = RemoteWriter::new(receiver.url())
        .interval(Duration::from_millis(500))
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .start(&registry)?;
    let attempts = receiver.wait_for(WAIT, "a retry after the 503", |a| a.len() >= 2);
    writer.shutdown(Duration::from_secs(5))?;

    assert_eq!(attempts[0].status, 503);
    assert_eq!(attempts[1].status, 200);
    assert_eq!(
        attempts[1].body().timestamp(),
        attempts[0].body().timestamp(),
        "the retry carries the same snapshot"
    );
    let gap = attempts[1].at - attempts[0].at;
    assert!(
        gap >= Duration::from_secs(2) && gap < Duration::from_secs(2) + SLACK * 2,
        "{gap:?}"
    );
    Ok(())
}

#[test]
fn a_429_is_dropped_by_default_and_retried_when_enabled() -> TestResult {
    // By default: dropped, counted, and the next interval's snapshot comes next.
    let registry = Registry::new();
    registry
        .counter(Desc::new("calls_total", "Calls."))?
        .with_labels(&[])?
        .inc();
    let receiver = Receiver::scripted(vec![Reply::Status(429)]);
    let writer = RemoteWriter::new(receiver.url())
        .interval(Duration::from_millis(300))
        .start(&registry)?;
    let attempts = receiver.wait_for(WAIT, "a 429 then a 200", |a| a.len() >= 2);
    writer.shutdown(Duration::from_secs(5))?;
    assert_eq!(attempts[0].status, 429);
    assert!(attempts[1].body().timestamp() > attempts[0].body().timestamp());
    assert_eq!(dropped(&registry, "rate_limited"), samples(&attempts[0]));

    // Enabled: the same snapshot again, after the backoff.
    let registry = Registry::new();
    registry
        .counter(Desc::new("calls_total", "Calls."))?
        .with_labels(&[])?
        .inc();
    let receiver = Receiver::scripted(vec![Reply::Status(429)]);
    let writer = RemoteWriter::new(receiver.url())
        .interval(Duration::from_millis(300))
        .backoff(Duration::from_millis(20), Duration::from_millis(50))
        .retry_on_http_429(true)
        .start(&registry)?;
    let attempts = receiver.wait_for(WAIT, "a 429 then a retry", |a| a.len() >= 2);
    writer.shutdown(Duration::from_secs(5))?;
    assert_eq!((attempts[0].status, attempts[1].status), (429, 200));
    assert_eq!(attempts[1].body(), attempts[0].body());
    assert_eq!(dropped(&registry, "rate_limited"), 0);
    Ok(())
}

/// The case: a 10 s outage against a queue of 5, with a push every half second, so
/// that most of the outage's 20 snapshots cannot be kept.
#[test]
fn an_outage_longer_than_the_queue_drops_the_oldest_and_timestamps_keep_increasing() -> TestResult {
    const OUTAGE: Duration = Duration::from_secs(10);
    const INTERVAL: Duration = Duration::from_millis(500);
    const CAPACITY: usize = 5;
    let registry = Registry::new();
    let ticks = registry
        .counter(Desc::new("ticks_total", "Ticks.").labels(["kind"]))?
        .with_labels(&["clock"])?;
    ticks.inc();
    let receiver = Receiver::start(|_, since_start| {
        Reply::Status(if since_start < OUTAGE { 503 } else { 200 })
    });
    let writer = RemoteWriter::new(receiver.url())
        .interval(INTERVAL)
        .queue_capacity(CAPACITY)
        .backoff(Duration::from_millis(20), INTERVAL)
        .start(&registry)?;
    receiver.wait_for(OUTAGE + WAIT, "deliveries after the outage", |a| {
        a.iter().filter(|a| answered(200)(a)).count() >= CAPACITY + 3
    });
    writer.shutdown(Duration::from_secs(5))?;

    let attempts = receiver.attempts();
    let accepted: Vec<&Attempt> = attempts.iter().filter(|a| answered(200)(a)).collect();
    // Per series, in the order the receiver accepted them, timestamps strictly increase.
    let mut last: BTreeMap<(String, Vec<(String, String)>), i64> = BTreeMap::new();
    for attempt in &accepted {
        for series in &attempt.body().timeseries {
            let mut pairs = series.pairs();
            pairs.sort();
            let key = (series.name().to_owned(), pairs);
            let timestamp = series.samples[0].timestamp;
            if let Some(&before) = last.get(&key) {
                assert!(timestamp > before, "{key:?}: {before} then {timestamp}");
            }
            last.insert(key, timestamp);
        }
    }
    // The oldest snapshot, the first attempted, was pushed out and never delivered.
    let oldest = attempts[0].body().timestamp();
    assert!(accepted.iter().all(|a| a.body().timestamp() > oldest));
    // At most CAPACITY of the outage's snapshots survive it (two spare for the edges),
    // and no snapshot has fewer series than the first.
    let outage_snapshots = (OUTAGE.as_millis() / INTERVAL.as_millis()) as u64;
    let lost = outage_snapshots - CAPACITY as u64 - 2;
    let dropped_samples = dropped(&registry, "queue_full");
    assert!(
        dropped_samples >= lost * samples(&attempts[0]),
        "{dropped_samples} samples dropped, expected at least {lost} snapshots of {}",
        samples(&attempts[0])
    );
    // Each request carries the queue length gauge as it was: never above the capacity.
    for attempt in &attempts {
        let length = attempt
            .body()
            .value("abacus_remote_write_queue_length", &[]);
        assert!(length <= CAPACITY as f64, "{length}");
    }
    Ok(())
}

#[test]
fn a_nan_gauge_is_sent_with_the_ordinary_nan_bits_never_the_stale_marker() -> TestResult {
    let registry = Registry::new();
    let ratio = registry.float_gauge(Desc::new("ratio", "A ratio."))?;
    ratio.with_labels(&[])?.set(f64::NAN);
    // A NaN recorded with the marker's very bits must not turn into a marker either.
    let marker_like = registry.float_gauge(Desc::new("marker_like", "A NaN."))?;
    marker_like.with_labels(&[])?.set(f64::from_bits(STALE_NAN));
    let latency = registry.histogram(
        Desc::new("latency_seconds", "Latency."),
        Buckets::new([1.0])?,
    )?;
    latency.with_labels(&[])?.observe(f64::NAN);
    let snapshot = registry.snapshot();
    let Some(OwnedValue::Histogram { sum, .. }) = snapshot
        .family("latency_seconds")
        .and_then(|f| f.series(&[]))
    else {
        panic!("no histogram");
    };
    assert!(sum.is_nan(), "the sum of a NaN observation is NaN");

    let receiver = Receiver::accepting();
    RemoteWriter::new(receiver.url())
        .interval(NEVER)
        .start(&registry)?
        .shutdown(Duration::from_secs(5))?;
    let attempts = receiver.attempts();
    assert_eq!(attempts.len(), 1);
    let body = attempts[0].body();
    for name in ["ratio", "marker_like", "latency_seconds_sum"] {
        assert_eq!(body.value(name, &[]).to_bits(), NORMAL_NAN, "{name}");
    }
    for series in &body.timeseries {
        assert_ne!(series.samples[0].value.to_bits(), STALE_NAN, "{series:?}");
    }
    Ok(())
}

#[test]
fn every_attempt_carries_the_protocol_headers_and_well_formed_series() -> TestResult {
    let registry = Registry::builder()
        .namespace("shop")
        .const_label("region", "eu")
        .build()?;
    // `Zone` sorts before `__name__` in byte order, `channel` after it.
    registry
        .counter(Desc::new("orders_total", "Orders.").labels(["channel", "Zone"]))?
        .with_labels(&["web", "a"])?
        .add(2);
    registry
        .histogram(
            Desc::new("latency_seconds", "Latency.").labels(["route"]),
            Buckets::new([0.5])?,
        )?
        .with_labels(&["/api"])?
        .observe(0.1);
    let receiver = Receiver::scripted(vec![Reply::Status(500)]);
    RemoteWriter::new(receiver.url())
        .interval(NEVER)
        .backoff(Duration::from_millis(10), Duration::from_millis(20))
        // RFC 7617 section 2's example credentials.
        .basic_auth("Aladdin", "open sesame")
        .header("X-Scope-OrgID", "tenant-1")
        .external_label("cluster", "c1")
        .start(&registry)?
        .shutdown(Duration::from_secs(5))?;

    let attempts = receiver.attempts();
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [500, 200]
    );
    for attempt in &attempts {
        assert_eq!(attempt.method, "POST");
        assert_eq!(attempt.path, "/api/v1/write");
        assert_eq!(attempt.header("content-encoding"), Some("snappy"));
        assert_eq!(
            attempt.header("content-type"),
            Some("application/x-protobuf")
        );
        assert_eq!(
            attempt.header("x-prometheus-remote-write-version"),
            Some("0.1.0")
        );
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            attempt.header("user-agent"),
            Some(format!("abacus-prometheus/{version}").as_str())
        );
        assert_eq!(
            attempt.header("authorization"),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        assert_eq!(attempt.header("x-scope-orgid"), Some("tenant-1"));

        let body = attempt.body();
        assert!(!body.timeseries.is_empty());
        for series in &body.timeseries {
            let names: Vec<&[u8]> = series.labels.iter().map(|l| l.name.as_bytes()).collect();
            assert_eq!(
                names.iter().filter(|n| **n == b"__name__").count(),
                1,
                "{series:?}"
            );
            assert!(
                names.windows(2).all(|pair| pair[0] < pair[1]),
                "sorted, none repeated: {series:?}"
            );
            assert!(series.labels.iter().all(|l| !l.value.is_empty()));
            assert_eq!(series.samples.len(), 1);
        }
        let orders = body.find("shop_orders_total", &[]);
        let names: Vec<&str> = orders[0].labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["Zone", "__name__", "channel", "cluster", "region"]);
    }
    Ok(())
}

#[test]
fn series_are_named_labelled_and_valued_as_the_text_exposition_shows_them() -> TestResult {
    let registry = Registry::builder()
        .namespace("shop")
        .const_label("region", "eu")
        .build()?;
    let orders = registry.counter(Desc::new("orders_total", "Orders.").labels(["channel"]))?;
    orders.with_labels(&["web"])?.add(3);
    orders.with_labels(&[""])?.inc();
    registry
        .counter(Desc::new("raw_events", "Events.").exact_name())?
        .with_labels(&[])?
        .add(2);
    registry
        .gauge(Desc::new("in_flight", "In flight."))?
        .with_labels(&[])?
        .set(-2);
    let cost = registry.fixed_counter(Desc::new("cost_total", "Cost."), 3)?;
    cost.with_labels(&[])?.add_units(300);
    let latency = registry.histogram(
        Desc::new("latency_seconds", "Latency.").labels(["route"]),
        Buckets::new([0.25, 1.0])?,
    )?;
    let api = latency.with_labels(&["/api"])?;
    for value in [0.25, 0.5, 2.0] {
        api.observe(value);
    }

    let receiver = Receiver::accepting();
    RemoteWriter::new(receiver.url())
        .interval(NEVER)
        .external_label("cluster", "c1")
        // The series' own labels win over external ones of the same name.
        .external_label("region", "us")
        .external_label("channel", "unknown")
        .start(&registry)?
        .shutdown(Duration::from_secs(5))?;
    let attempts = receiver.attempts();
    let body = attempts[0].body();

    // (name, labels besides __name__ as sent, value), written from the text exposition
    // of these series and the external label rule: every series gets `cluster`, keeps
    // its own `region`, and gets `channel` unless it has one.
    let with = |own: &[(&'static str, &'static str)]| {
        let mut labels: Vec<(&str, &str)> = own.to_vec();
        for external in [("cluster", "c1"), ("region", "eu"), ("channel", "unknown")] {
            if !own.iter().any(|(name, _)| *name == external.0) {
                labels.push(external);
            }
        }
        labels.sort();
        labels
    };
    let expected: Vec<Expectation> = vec![
        ("shop_orders_total", with(&[("channel", "web")]), 3.0),
        // An empty value is no label, so the external one applies.
        ("shop_orders_total", with(&[("channel", "unknown")]), 1.0),
        ("shop_raw_events", with(&[]), 2.0),
        ("shop_in_flight", with(&[]), -2.0),
        ("shop_cost_total", with(&[]), 0.3),
        (
            "shop_latency_seconds_bucket",
            with(&[("le", "0.25"), ("route", "/api")]),
            1.0,
        ),
        (
            "shop_latency_seconds_bucket",
            with(&[("le", "1.0"), ("route", "/api")]),
            2.0,
        ),
        (
            "shop_latency_seconds_bucket",
            with(&[("le", "+Inf"), ("route", "/api")]),
            3.0,
        ),
        ("shop_latency_seconds_sum", with(&[("route", "/api")]), 2.75),
        (
            "shop_latency_seconds_count",
            with(&[("route", "/api")]),
            3.0,
        ),
    ];
    for (name, labels, value) in &expected {
        let found = body.find(name, labels);
        let exact: Vec<&&wire::TimeSeries> = found
            .iter()
            .filter(|s| s.labels.len() == labels.len() + 1)
            .collect();
        assert_eq!(exact.len(), 1, "{name} {labels:?} in {found:?}");
        assert_eq!(exact[0].samples[0].value, *value, "{name} {labels:?}");
    }
    // The writer's own metrics are pushed with the registry, in its namespace.
    assert_eq!(
        body.find("shop_abacus_remote_write_samples_sent_total", &[])
            .len(),
        1
    );
    Ok(())
}

#[test]
fn shutdown_and_drop_flush_the_last_snapshot() -> TestResult {
    let registry = Registry::new();
    let done = registry
        .counter(Desc::new("done_total", "Done."))?
        .with_labels(&[])?;
    let receiver = Receiver::accepting();
    let writer = RemoteWriter::new(receiver.url())
        .interval(NEVER)
        .start(&registry)?;
    done.add(42);
    writer.shutdown(Duration::from_secs(5))?;
    let attempts = receiver.attempts();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].body().value("done_total", &[]), 42.0);

    let writer = RemoteWriter::new(receiver.url())
        .interval(NEVER)
        .flush_deadline(Duration::from_secs(5))
        .start(&registry)?;
    done.inc();
    drop(writer);
    let attempts = receiver.attempts();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].body().value("done_total", &[]), 43.0);
    Ok(())
}

#[test]
fn bad_settings_are_errors_and_nothing_starts() {
    let registry = Registry::new();
    let start = |writer: RemoteWriter| writer.start(&registry).map(drop);
    let url = "http://127.0.0.1:9/api/v1/write";
    assert!(matches!(
        start(RemoteWriter::new("https://127.0.0.1:9/api/v1/write")),
        Err(RemoteWriteError::UnsupportedScheme { scheme }) if scheme == "https"
    ));
    for bad in [
        "",
        "127.0.0.1:9",
        "http://",
        "http://user:secret@127.0.0.1:9/",
    ] {
        assert!(
            matches!(
                start(RemoteWriter::new(bad)),
                Err(RemoteWriteError::InvalidUrl { .. })
            ),
            "{bad:?}"
        );
    }
    for reserved in [
        "Content-Type",
        "user-agent",
        "Authorization",
        "X-Prometheus-Remote-Write-Version",
    ] {
        assert!(matches!(
            start(RemoteWriter::new(url).header(reserved, "x")),
            Err(RemoteWriteError::InvalidHeader { .. })
        ));
    }
    assert!(matches!(
        start(RemoteWriter::new(url).header("X-Ok", "line\nbreak")),
        Err(RemoteWriteError::InvalidHeader { .. })
    ));
    assert!(matches!(
        start(RemoteWriter::new(url).basic_auth("a:b", "c")),
        Err(RemoteWriteError::InvalidHeader { .. })
    ));
    for (name, value) in [("__name__", "x"), ("1abc", "x"), ("ok", "")] {
        assert!(
            matches!(
                start(RemoteWriter::new(url).external_label(name, value)),
                Err(RemoteWriteError::InvalidExternalLabel { .. })
            ),
            "{name:?}"
        );
    }
    assert!(matches!(
        start(
            RemoteWriter::new(url)
                .external_label("a", "1")
                .external_label("a", "2")
        ),
        Err(RemoteWriteError::InvalidExternalLabel { .. })
    ));
    assert!(matches!(
        start(RemoteWriter::new(url).interval(Duration::ZERO)),
        Err(RemoteWriteError::InvalidSetting {
            setting: "interval",
            ..
        })
    ));
    assert!(matches!(
        start(RemoteWriter::new(url).queue_capacity(0)),
        Err(RemoteWriteError::InvalidSetting { .. })
    ));
    assert!(matches!(
        start(RemoteWriter::new(url).backoff(Duration::from_secs(2), Duration::from_secs(1))),
        Err(RemoteWriteError::InvalidSetting {
            setting: "backoff",
            ..
        })
    ));
    // None of them registered anything: the writer's metrics come with a started writer.
    assert!(registry.snapshot().families.is_empty());
}
