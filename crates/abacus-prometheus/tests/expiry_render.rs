//! The text encoder across idle expiry: every rendered line's labels must belong to the
//! value beside it, after series expire and holes are refilled, with one encoder (and its
//! cache of series by position) kept across scrapes.

use std::collections::BTreeMap;
use std::time::Duration;

use abacus::{Desc, Error, Registry};
use abacus_prometheus::{Format, TextEncoder};

fn expiring() -> Registry {
    Registry::builder()
        .idle_timeout(Duration::ZERO)
        .build()
        .unwrap()
}

/// The sample lines of `name` in `text`: labels (as written) to value.
fn samples(text: &str, name: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let labels = series.strip_prefix(name)?;
            (labels.is_empty() || labels.starts_with('{'))
                .then(|| (labels.to_owned(), value.to_owned()))
        })
        .collect()
}

fn encode(encoder: &mut TextEncoder, registry: &Registry) -> String {
    let mut out = Vec::new();
    encoder.encode_as(registry, Format::Text, &mut out);
    String::from_utf8(out).unwrap()
}

/// `abacus_series_expired_total` has one series per family name, in registration order,
/// but only for families whose count is not 0: when an earlier-registered family expires
/// its first series after a later one did, its series comes *before* the one the encoder
/// cached at position 0, with the same generation (0). A fresh encoder is the reference.
#[test]
fn the_expired_series_counter_keeps_family_labels_with_their_counts_in_a_kept_encoder(
) -> Result<(), Error> {
    let registry = expiring();
    let first = registry.counter(Desc::new("first", "F.").labels(["k"]))?;
    let second = registry.counter(Desc::new("second", "S.").labels(["k"]))?;
    let mut kept = TextEncoder::new();

    second.inc(&["x"])?;
    second.inc(&["y"])?;
    for _ in 0..3 {
        encode(&mut kept, &registry);
    }
    // Two series of "second" expired, none of "first".
    first.inc(&["z"])?;
    for _ in 0..3 {
        encode(&mut kept, &registry);
    }
    let expected: BTreeMap<String, String> = [
        ("{family=\"first\"}".to_owned(), "1".to_owned()),
        ("{family=\"second\"}".to_owned(), "2".to_owned()),
    ]
    .into();
    let fresh = encode(&mut TextEncoder::new(), &registry);
    let fresh: BTreeMap<_, _> = samples(&fresh, "abacus_series_expired_total")
        .into_iter()
        .collect();
    assert_eq!(fresh, expected, "the reference rendering");
    let text = encode(&mut kept, &registry);
    let lines = samples(&text, "abacus_series_expired_total");
    assert_eq!(
        lines.into_iter().collect::<Vec<_>>(),
        expected.into_iter().collect::<Vec<_>>(),
        "{text}"
    );
    Ok(())
}

/// The same for `abacus_series_overflow_total`, which expiry lets a kept encoder meet in
/// a new order just the same.
#[test]
fn the_overflow_counter_keeps_family_labels_with_their_counts_in_a_kept_encoder(
) -> Result<(), Error> {
    let registry = Registry::builder()
        .idle_timeout(Duration::ZERO)
        .max_series_per_family(1)
        .build()?;
    let first = registry.counter(Desc::new("first", "F.").labels(["k"]))?;
    let second = registry.counter(Desc::new("second", "S.").labels(["k"]))?;
    let mut kept = TextEncoder::new();
    let _a = second.with_labels(&["a"])?;
    second.with_labels(&["b"])?.inc();
    second.with_labels(&["c"])?.inc();
    encode(&mut kept, &registry);
    let _d = first.with_labels(&["d"])?;
    first.with_labels(&["e"])?.inc();
    let text = encode(&mut kept, &registry);
    let lines = samples(&text, "abacus_series_overflow_total");
    assert_eq!(
        lines,
        [
            ("{family=\"first\"}".to_owned(), "1".to_owned()),
            ("{family=\"second\"}".to_owned(), "2".to_owned()),
        ],
        "{text}"
    );
    Ok(())
}

/// Series of one family come and go in rounds: some are held by handles and stay, the
/// others expire and new ones fill their holes. Each series `vN` is given the value N, so
/// a kept encoder's every line must say `{k="vN"} N`, in both formats; with creation
/// times, a series that fills a hole has its own `_created`, not its predecessor's.
#[test]
fn series_filling_holes_render_their_own_labels_values_and_creation_times() -> Result<(), Error> {
    use std::time::{SystemTime, UNIX_EPOCH};

    let registry = Registry::builder()
        .idle_timeout(Duration::ZERO)
        .created_timestamps(true)
        .build()?;
    let requests = registry.counter(Desc::new("req", "R.").labels(["k"]))?;
    let mut kept = TextEncoder::new().created_samples(true);
    let mut held = Vec::new();
    let mut born = BTreeMap::new();
    let mut next = 1u64;
    for round in 0..12 {
        // Rounds apart in time, so that a predecessor's creation time is told apart.
        std::thread::sleep(Duration::from_millis(20));
        for _ in 0..5 {
            let label = format!("v{next}");
            born.insert(
                label.clone(),
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64(),
            );
            if next % 4 == 0 {
                let handle = requests.with_labels(&[&label])?;
                handle.add(next);
                held.push(handle);
            } else {
                requests.add(&[&label], next)?;
            }
            next += 1;
        }
        if round % 3 == 2 {
            // Let go of the oldest held series too.
            held.drain(..held.len() / 2);
        }
        for format in [Format::Text, Format::OpenMetrics, Format::Text] {
            let mut out = Vec::new();
            kept.encode_as(&registry, format, &mut out);
            let text = String::from_utf8(out).unwrap();
            let lines = samples(&text, "req_total");
            assert!(!lines.is_empty(), "{text}");
            let mut seen = std::collections::BTreeSet::new();
            for (labels, value) in &lines {
                let n: u64 = labels
                    .strip_prefix("{k=\"v")
                    .and_then(|l| l.strip_suffix("\"}"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{labels} in {text}"));
                assert_eq!(value, &n.to_string(), "{labels} in {text}");
                assert!(seen.insert(n), "{labels} twice in {text}");
            }
            if format == Format::OpenMetrics {
                let created = samples(&text, "req_created");
                assert_eq!(created.len(), lines.len(), "{text}");
                for (labels, time) in created {
                    let label = labels
                        .strip_prefix("{k=\"")
                        .and_then(|l| l.strip_suffix("\"}"))
                        .unwrap();
                    let time: f64 = time.parse().unwrap();
                    let birth = born[label];
                    // Created at the series' first record, not before (give or take
                    // the clock's resolution): not at a predecessor's.
                    assert!(
                        time >= birth - 0.005,
                        "{label} created {time}, born {birth}: {text}"
                    );
                }
            }
        }
    }
    Ok(())
}
