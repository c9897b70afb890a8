//! Recording while scraped: one thread increments a counter (and, in a second group,
//! observes a histogram) through a kept handle of a registry that also holds 10,000
//! counter series, served by an abacus `/metrics` server on loopback. Three sides, all on
//! workload 4's harness (`time_threads`, here one thread that times itself):
//!
//! - the baseline: nobody scrapes;
//! - the control: a client scrapes, in a loop, another server of an identical registry,
//!   so that the machine is as busy as on the third side but nothing the recording thread
//!   touches is read;
//! - a client scrapes, in a loop, the server of the registry being recorded into.
//!
//! The third over the first is what scraping costs the recording thread on this machine;
//! the third over the second is the part that comes from the library (locks the scrape
//! shares with recording, cache lines it reads), without the part that comes from the
//! machine having other work.
//!
//! The client pauses after each scrape for as long as the scrape took. On the 2-core
//! machine the benches run on, a server rendering and a client reading without pause
//! would keep more than a core busy, and the recording thread would lose its core to them
//! part of the time; with the pause, scraping takes about half a core.

use std::hint::black_box;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use abacus_benches::{
    is_bench_run, observations, results_dir, sized, three_label_series, time_threads, BUCKETS,
    OBSERVATIONS, THREE_LABELS,
};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use serde_json::json;

const MASK: usize = OBSERVATIONS - 1;

/// What the three sides of each group are called; the report reads these names.
const NOBODY_SCRAPES: &str = "baseline: nobody scrapes";
const ANOTHER_SCRAPED: &str = "control: a client scrapes another registry in a loop";
const THIS_SCRAPED: &str = "a client scrapes this registry in a loop";

/// A client that scrapes `/metrics` over one kept-alive connection until stopped.
struct Scraper {
    stop: Arc<AtomicBool>,
    scrapes: Arc<AtomicU64>,
    started: Instant,
    thread: JoinHandle<usize>,
}

impl Scraper {
    /// Starts scraping `addr`, and returns once the first scrape is done.
    fn start(addr: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = Arc::new(AtomicU64::new(0));
        let (first_done, first) = mpsc::channel();
        let thread = {
            let (stop, scrapes) = (stop.clone(), scrapes.clone());
            std::thread::spawn(move || {
                let mut connection = connect(addr);
                let mut body = Vec::new();
                while !stop.load(Relaxed) {
                    let began = Instant::now();
                    if scrape(&mut connection, addr, &mut body).is_err() {
                        // The server ends a connection after its lifetime (30 s by
                        // default); a scraper reconnects.
                        connection = connect(addr);
                        scrape(&mut connection, addr, &mut body).expect("a scrape over loopback");
                    }
                    scrapes.fetch_add(1, Relaxed);
                    let _ = first_done.send(());
                    std::thread::sleep(began.elapsed());
                }
                body.len()
            })
        };
        first.recv().expect("the scraper's first scrape");
        Scraper {
            stop,
            scrapes,
            started: Instant::now(),
            thread,
        }
    }

    /// Stops the client; returns the scrapes made since `start` returned, the seconds that
    /// took, and the size of the last exposition.
    fn stop(self) -> (u64, f64, usize) {
        self.stop.store(true, Relaxed);
        let bytes = self.thread.join().expect("the scraper thread");
        // The first scrape came before `start` returned.
        let scrapes = self.scrapes.load(Relaxed) - 1;
        (scrapes, self.started.elapsed().as_secs_f64(), bytes)
    }
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(addr).expect("connect to the exporter");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    BufReader::new(stream)
}

/// One `GET /metrics` on a kept-alive connection: the status must be 200, the body is
/// read whole by its `Content-Length` and left in `body`.
fn scrape(
    connection: &mut BufReader<TcpStream>,
    addr: SocketAddr,
    body: &mut Vec<u8>,
) -> io::Result<()> {
    write!(
        connection.get_mut(),
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    )?;
    let mut line = String::new();
    connection.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200 ") {
        return Err(io::Error::other(format!("unexpected status line {line:?}")));
    }
    let mut length = None;
    loop {
        line.clear();
        if connection.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let length = length.ok_or_else(|| io::Error::other("no Content-Length"))?;
    body.resize(length, 0);
    connection.read_exact(body)
}

/// The registry the server exposes: 10,000 counter series of three labels (a hundred in
/// a test run), each with a distinct value.
fn scraped_registry() -> abacus::Registry {
    let registry = abacus::Registry::new();
    let requests = registry
        .counter(abacus::Desc::new("requests_total", "Requests.").labels(THREE_LABELS))
        .expect("a valid registration");
    for (i, [tenant, route, status]) in three_label_series(sized(10_000, 100)).iter().enumerate() {
        requests
            .with_labels(&[tenant, route, status])
            .expect("valid labels")
            .add(i as u64);
    }
    registry
}

/// How hard a client scraped during one side of a group, for the report.
struct Load {
    scrapes: u64,
    seconds: f64,
    bytes: usize,
}

impl Load {
    fn json(&self) -> serde_json::Value {
        json!({ "scrapes": self.scrapes, "seconds": self.seconds, "bytes": self.bytes })
    }
}

/// Benches `make`'s operation on one thread with nobody scraping, with a client scraping
/// `another`, then with one scraping `this`; `after(operations)` runs after each sample,
/// untimed. Returns the loads of the two scraped sides.
fn three_sides<F, Op>(
    c: &mut Criterion,
    group_name: &str,
    [another, this]: [SocketAddr; 2],
    make: F,
    after: impl Fn(u64),
) -> [Load; 2]
where
    F: Fn(usize) -> Op + Sync,
    Op: FnMut(),
{
    let mut group = c.benchmark_group(group_name);
    let side = |group: &mut BenchmarkGroup<'_, WallTime>, name: &str| {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let elapsed = time_threads(1, iters, &make);
                after(iters);
                elapsed
            })
        });
    };
    side(&mut group, NOBODY_SCRAPES);
    let scraped = [(another, ANOTHER_SCRAPED), (this, THIS_SCRAPED)].map(|(addr, name)| {
        let scraper = Scraper::start(addr);
        side(&mut group, name);
        let (scrapes, seconds, bytes) = scraper.stop();
        println!(
            "{group_name}/{name}: {scrapes} scrapes of {bytes} bytes in {seconds:.1} s \
             ({:.0} a second)",
            scrapes as f64 / seconds
        );
        Load {
            scrapes,
            seconds,
            bytes,
        }
    });
    group.finish();
    scraped
}

/// Starts a server of `registry` on a free loopback port.
fn serve(registry: &abacus::Registry) -> abacus_prometheus::ExporterHandle {
    abacus_prometheus::Exporter::new()
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .start(registry)
        .expect("the exporter starts on a free loopback port")
}

fn recording_while_scraped(c: &mut Criterion) {
    let (registry, other) = (scraped_registry(), scraped_registry());
    let (server, other_server) = (serve(&registry), serve(&other));
    let addrs = [other_server.local_addr(), server.local_addr()];
    let mut loads = Vec::new();

    let counter = registry
        .counter(abacus::Desc::new(
            "recorded_total",
            "Recorded while scraped.",
        ))
        .and_then(|family| family.without_labels())
        .expect("a valid registration");
    // The control's registry gets the same series, so that its expositions are as long.
    other
        .counter(abacus::Desc::new(
            "recorded_total",
            "Recorded while scraped.",
        ))
        .and_then(|family| family.without_labels())
        .expect("a valid registration");
    // Every increment must be in the total: none lost to a scrape.
    let expected = std::cell::Cell::new(0);
    let group = "counter increment from 1 thread beside an exporter of 10000 series";
    let scraped = three_sides(
        c,
        group,
        addrs,
        |_| {
            let counter = counter.clone();
            move || black_box(&counter).inc()
        },
        |operations| {
            expected.set(expected.get() + operations);
            assert_eq!(counter.value(), expected.get());
        },
    );
    loads.push((group, scraped));

    let buckets = || abacus::Buckets::new(BUCKETS).expect("valid bounds");
    let desc = || abacus::Desc::new("recorded_seconds", "Observed while scraped.");
    let histogram = registry
        .histogram(desc(), buckets())
        .and_then(|family| family.without_labels())
        .expect("a valid registration");
    other
        .histogram(desc(), buckets())
        .and_then(|family| family.without_labels())
        .expect("a valid registration");
    let values = observations();
    let values = &values;
    let expected = std::cell::Cell::new(0);
    let group = "histogram observe from 1 thread beside an exporter of 10000 series";
    let scraped = three_sides(
        c,
        group,
        addrs,
        |_| {
            let histogram = histogram.clone();
            let mut i = 0;
            move || {
                i = (i + 1) & MASK;
                black_box(&histogram).observe(black_box(values[i]))
            }
        },
        |operations| {
            expected.set(expected.get() + operations);
            assert_eq!(histogram.count(), expected.get());
        },
    );
    loads.push((group, scraped));

    drop((server, other_server));
    if is_bench_run() {
        let dir = results_dir();
        std::fs::create_dir_all(&dir).expect("the results directory");
        let path = dir.join("scrape_load.json");
        let loads: Vec<_> = loads
            .iter()
            .map(|(group, [another, this])| {
                json!({ "group": group, "another": another.json(), "this": this.json() })
            })
            .collect();
        std::fs::write(&path, format!("{:#}\n", json!({ "loads": loads })))
            .expect("scrape_load.json is written");
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = recording_while_scraped
}
criterion_main!(benches);
