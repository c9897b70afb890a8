//! Per-call recording (`Family::inc`, `add` and `observe` with the label values on every
//! call) checked against an independent model: a map from label values to what was
//! recorded, kept by the tests themselves.
//!
//! A thread finds the tuples it resolved before by the addresses of the value strings and
//! then compares their text, a few words per value. These tests feed it what a sloppy
//! comparison or a stale memory would get wrong: buffers rewritten in place (same address,
//! same or another length, one byte different), strings that share an address (slices of
//! one buffer), permutations and re-splits of the same text, every length on both sides of
//! the comparison's read widths, multibyte text, more tuples than a thread remembers, many
//! families and registries and threads at once, series that expire under the memory, and
//! bad input that must come back as an error.

use std::collections::HashMap;
use std::time::Duration;

use abacus::{
    Buckets, Counter, Desc, Error, Family, Histogram, OwnedValue, Registry, Snapshot,
    OVERFLOW_LABEL,
};

const BOUNDS: [f64; 3] = [0.5, 1.0, 2.0];

/// On, between and beyond the bounds; binary fractions, so that sums are exact in any
/// order and on any number of threads.
const OBSERVATIONS: [f64; 9] = [-1.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 64.0];

/// Lengths on both sides of every width the comparison reads: 2, 4 and 8 bytes, two words,
/// four words, and the 32 bytes past which a value is kept whole.
const LENGTHS: [usize; 30] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 20, 23, 24, 25, 31, 32, 33, 40, 47, 48, 49, 63,
    64, 65, 100, 130,
];

/// Characters of every UTF-8 width. Flipping the lowest bit of any of them gives another
/// character of the same width that differs in its last byte only, and is never `\r`.
const ALPHABET: [char; 10] = ['a', 'b', '/', '-', '0', 'é', 'ß', '日', '€', '🦀'];

/// Buffers a feed holds values in; every value of the longest tuple fits in one without
/// reallocating, so a buffer keeps its address whatever it is rewritten to.
const BUFFER_CAPACITY: usize = 256;

/// SplitMix64: reproducible sequences without a dependency; quality barely matters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Random text of exactly `len` bytes from [`ALPHABET`].
fn text(rng: &mut Rng, len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let c = ALPHABET[rng.below(ALPHABET.len())];
        out.push(if out.len() + c.len_utf8() <= len {
            c
        } else {
            'a'
        });
    }
    out
}

/// `text` with the character that holds byte `byte` replaced by its twin: the same
/// length, one byte different (the character's last byte, which is `byte` itself for
/// ASCII).
fn twin(text: &str, byte: usize) -> String {
    let (start, c) = text
        .char_indices()
        .take_while(|&(i, _)| i <= byte)
        .last()
        .expect("byte within the text");
    let flipped = char::from_u32(c as u32 ^ 1).expect("a twin in the alphabet");
    assert_eq!(flipped.len_utf8(), c.len_utf8());
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    out.push(flipped);
    out.push_str(&text[start + c.len_utf8()..]);
    out
}

/// What a buffer may hold: a text and its twins at the ends, at the seams between the
/// comparison's reads and anywhere, the same characters in another order, and sometimes
/// a text of another length.
fn variants(rng: &mut Rng) -> Vec<String> {
    let len = LENGTHS[rng.below(LENGTHS.len())];
    let base = text(rng, len);
    let mut out = vec![base.clone()];
    if len > 0 {
        let seams = [
            0,
            len - 1,
            len / 2,
            rng.below(len),
            7,
            8,
            15,
            16,
            24,
            len.saturating_sub(16),
            len.saturating_sub(17),
            len.saturating_sub(9),
        ];
        for _ in 0..3 {
            let at = seams[rng.below(seams.len())];
            if at < len {
                out.push(twin(&base, at));
            }
        }
        out.push(base.chars().skip(1).chain(base.chars().take(1)).collect());
    }
    if rng.chance(30) {
        let len = LENGTHS[rng.below(LENGTHS.len())];
        out.push(text(rng, len));
    }
    out
}

/// Buffers at fixed addresses whose text changes between calls, and the texts they take
/// turns holding. Buffer `i` and buffer `i + BUFFERS / 2` hold the same texts, so that a
/// text is often at two addresses at once.
struct Feed {
    rng: Rng,
    dictionary: Vec<Vec<String>>,
    buffers: Vec<String>,
    /// Several values back to back, sliced into a tuple.
    joined: String,
}

const BUFFERS: usize = 12;

impl Feed {
    /// A feed whose texts come from `dictionary` (feeds with the same one share texts)
    /// and whose choices come from `seed`.
    fn new(dictionary: u64, seed: u64) -> Feed {
        let mut words = Rng(dictionary);
        let dictionary: Vec<Vec<String>> = (0..BUFFERS / 2).map(|_| variants(&mut words)).collect();
        let mut feed = Feed {
            rng: Rng(seed),
            dictionary,
            buffers: (0..BUFFERS)
                .map(|_| String::with_capacity(BUFFER_CAPACITY))
                .collect(),
            joined: String::with_capacity(16 * BUFFER_CAPACITY),
        };
        for buffer in 0..BUFFERS {
            feed.rewrite(buffer);
        }
        feed
    }

    fn pick(&mut self, buffer: usize) -> String {
        let variants = &self.dictionary[buffer % self.dictionary.len()];
        variants[self.rng.below(variants.len())].clone()
    }

    /// Gives `buffer` another of its texts, in place.
    fn rewrite(&mut self, buffer: usize) {
        let text = self.pick(buffer);
        let buffer = &mut self.buffers[buffer];
        let before = buffer.as_ptr();
        buffer.clear();
        buffer.push_str(&text);
        assert_eq!(buffer.as_ptr(), before, "the buffer stayed where it was");
    }

    /// Frees `buffer` and allocates it again, most likely at the same address.
    fn reallocate(&mut self, buffer: usize) {
        let text = self.pick(buffer);
        self.buffers[buffer] = String::new();
        let mut fresh = String::with_capacity(BUFFER_CAPACITY);
        fresh.push_str(&text);
        self.buffers[buffer] = fresh;
    }

    /// A random tuple of buffers for a family of `arity` labels: repeats allowed, so that
    /// one address may appear twice in a tuple.
    fn combos(&mut self, arity: usize, count: usize) -> Vec<Vec<usize>> {
        let mut combos: Vec<Vec<usize>> = (0..count)
            .map(|_| (0..arity).map(|_| self.rng.below(BUFFERS)).collect())
            .collect();
        // The same addresses in another order.
        let reversed = combos[0].iter().rev().copied().collect();
        combos.push(reversed);
        combos
    }
}

/// What one record adds.
#[derive(Clone, Copy, Debug)]
enum Delta {
    Add(u64),
    Observe(f64),
}

/// A family under test, of either kind that records per call.
enum Target {
    Counter(Family<Counter>),
    Histogram(Family<Histogram>),
}

impl Target {
    fn counter(registry: &Registry, name: &str, arity: usize) -> Target {
        Target::Counter(registry.counter(desc(name, arity)).unwrap())
    }

    fn histogram(registry: &Registry, name: &str, arity: usize) -> Target {
        let buckets = Buckets::new(BOUNDS).unwrap();
        Target::Histogram(registry.histogram(desc(name, arity), buckets).unwrap())
    }

    fn delta(&self, rng: &mut Rng) -> Delta {
        match self {
            Target::Counter(_) if rng.chance(50) => Delta::Add(1),
            Target::Counter(_) => Delta::Add(1 + rng.below(1_000) as u64),
            Target::Histogram(_) => Delta::Observe(OBSERVATIONS[rng.below(OBSERVATIONS.len())]),
        }
    }

    fn record(&self, values: &[&str], delta: Delta) -> Result<(), Error> {
        match (self, delta) {
            (Target::Counter(family), Delta::Add(1)) => family.inc(values),
            (Target::Counter(family), Delta::Add(n)) => family.add(values, n),
            (Target::Histogram(family), Delta::Observe(v)) => family.observe(values, v),
            _ => panic!("{delta:?} does not fit the family"),
        }
    }

    fn name(&self) -> &str {
        match self {
            Target::Counter(family) => family.name(),
            Target::Histogram(family) => family.name(),
        }
    }

    fn empty(&self) -> OwnedValue {
        match self {
            Target::Counter(_) => OwnedValue::Counter(0),
            Target::Histogram(_) => OwnedValue::Histogram {
                cumulative: vec![0; BOUNDS.len() + 1],
                sum: 0.0,
            },
        }
    }

    /// Checks `values` through a handle: a counter's value, a histogram's count.
    fn check_handle(&self, values: &[&str], expected: &OwnedValue) {
        match (self, expected) {
            (Target::Counter(family), OwnedValue::Counter(n)) => {
                assert_eq!(
                    family.with_labels(values).unwrap().value(),
                    *n,
                    "{values:?}"
                );
            }
            (Target::Histogram(family), OwnedValue::Histogram { cumulative, .. }) => {
                let count = *cumulative.last().unwrap();
                assert_eq!(
                    family.with_labels(values).unwrap().count(),
                    count,
                    "{values:?}"
                );
            }
            _ => panic!("{expected:?} does not fit the family"),
        }
    }
}

fn desc(name: &str, arity: usize) -> Desc {
    Desc::new(name, "Per-call adversarial.").labels((0..arity).map(|i| format!("l{i}")))
}

/// Adds `delta` to `value` as the definitions say: a counter's sum, a histogram's bucket
/// `k` counting observations `<= BOUNDS[k]`, its last bucket counting all, and the sum.
fn add(value: &mut OwnedValue, delta: Delta) {
    match (value, delta) {
        (OwnedValue::Counter(total), Delta::Add(n)) => *total += n,
        (OwnedValue::Histogram { cumulative, sum }, Delta::Observe(v)) => {
            for (count, bound) in cumulative.iter_mut().zip(BOUNDS) {
                *count += u64::from(v <= bound);
            }
            *cumulative.last_mut().unwrap() += 1;
            *sum += v;
        }
        (value, delta) => panic!("{delta:?} does not fit {value:?}"),
    }
}

fn merge(into: &mut OwnedValue, from: &OwnedValue) {
    match (into, from) {
        (OwnedValue::Counter(a), OwnedValue::Counter(b)) => *a += b,
        (
            OwnedValue::Histogram { cumulative, sum },
            OwnedValue::Histogram {
                cumulative: more,
                sum: more_sum,
            },
        ) => {
            for (a, b) in cumulative.iter_mut().zip(more) {
                *a += b;
            }
            *sum += more_sum;
        }
        (into, from) => panic!("{from:?} does not fit {into:?}"),
    }
}

/// What a family must hold: its series by label values, and its overflow series once the
/// family was full. Series are created in the order their tuples were first recorded,
/// which a single recording thread makes deterministic.
#[derive(Clone)]
struct Model {
    limit: usize,
    empty: OwnedValue,
    series: HashMap<Vec<String>, OwnedValue>,
    overflow: Option<OwnedValue>,
}

impl Model {
    fn new(target: &Target, arity: usize, limit: usize) -> Model {
        let mut series = HashMap::new();
        if arity == 0 {
            // A family without labels has its one series from the start.
            series.insert(Vec::new(), target.empty());
        }
        Model {
            limit,
            empty: target.empty(),
            series,
            overflow: None,
        }
    }

    fn apply(&mut self, values: &[&str], delta: Delta) {
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let value = if self.series.contains_key(&key) || self.series.len() < self.limit {
            self.series.entry(key).or_insert_with(|| self.empty.clone())
        } else {
            self.overflow.get_or_insert_with(|| self.empty.clone())
        };
        add(value, delta);
    }

    fn merge(&mut self, other: &Model) {
        for (key, value) in &other.series {
            merge(
                self.series
                    .entry(key.clone())
                    .or_insert_with(|| self.empty.clone()),
                value,
            );
        }
        if let Some(value) = &other.overflow {
            merge(
                self.overflow.get_or_insert_with(|| self.empty.clone()),
                value,
            );
        }
    }

    /// The value a handle of `values` reads: its series', or the overflow series'.
    fn expected(&self, values: &[String]) -> &OwnedValue {
        self.series
            .get(values)
            .or(self.overflow.as_ref())
            .expect("a recorded tuple")
    }
}

/// Checks that the family `name` of `snapshot` holds exactly the series of `model`, each
/// once, with its value, and the overflow series' value.
fn check_snapshot(snapshot: &Snapshot, name: &str, model: &Model) {
    let mut own = None;
    let mut overflow = None;
    for family in snapshot.families.iter().filter(|f| f.name == name) {
        if family.label_names == [OVERFLOW_LABEL] {
            overflow = family.series(&["true"]).cloned();
        } else {
            assert!(own.is_none(), "{name}: one family of its own");
            own = Some(family);
        }
    }
    let family = own.unwrap_or_else(|| panic!("no family {name}"));
    let mut seen = HashMap::new();
    for series in &family.series {
        let twice = seen.insert(series.labels.clone(), series.value.clone());
        assert!(twice.is_none(), "{name}: two series of {:?}", series.labels);
    }
    for (values, expected) in &model.series {
        assert_eq!(seen.get(values), Some(expected), "{name}: {values:?}");
    }
    assert_eq!(seen.len(), model.series.len(), "{name}: series");
    assert_eq!(overflow, model.overflow, "{name}: overflow");
}

/// Checks `count` tuples of `model` at random through handles.
fn check_handles(target: &Target, model: &Model, rng: &mut Rng, count: usize) {
    let keys: Vec<&Vec<String>> = model.series.keys().collect();
    for _ in 0..count.min(keys.len()) {
        let key = keys[rng.below(keys.len())];
        let values: Vec<&str> = key.iter().map(String::as_str).collect();
        target.check_handle(&values, model.expected(key));
    }
}

/// One record into `target` with values from `feed`, passed in one of several ways: the
/// feed's buffers, the same in another order, fresh copies of them, or slices of one
/// buffer cut at the values' ends or anywhere. Then maybe a buffer is rewritten or freed
/// and allocated again. `model` learns what was recorded.
fn step(feed: &mut Feed, target: &Target, combos: &[Vec<usize>], model: &mut Model) {
    let Feed {
        rng,
        buffers,
        joined,
        ..
    } = &mut *feed;
    let combo = &combos[rng.below(combos.len())];
    let delta = target.delta(rng);
    let mut record = |values: &[&str]| {
        target.record(values, delta).unwrap();
        model.apply(values, delta);
    };
    match rng.below(100) {
        0..=54 => {
            let values: Vec<&str> = combo.iter().map(|&i| buffers[i].as_str()).collect();
            record(&values);
        }
        55..=64 => {
            let values: Vec<&str> = combo.iter().rev().map(|&i| buffers[i].as_str()).collect();
            record(&values);
        }
        65..=79 => {
            let owned: Vec<String> = combo.iter().map(|&i| buffers[i].clone()).collect();
            let values: Vec<&str> = owned.iter().map(String::as_str).collect();
            record(&values);
        }
        _ => {
            let before = joined.as_ptr();
            joined.clear();
            let mut ends = Vec::with_capacity(combo.len());
            for &i in combo {
                joined.push_str(&buffers[i]);
                ends.push(joined.len());
            }
            assert_eq!(
                joined.as_ptr(),
                before,
                "the joined buffer stayed where it was"
            );
            if !ends.is_empty() && rng.chance(50) {
                // The same text split elsewhere: ["ab", "c"] against ["a", "bc"].
                let boundaries: Vec<usize> = joined
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain([joined.len()])
                    .collect();
                let last = ends.len() - 1;
                for end in &mut ends[..last] {
                    *end = boundaries[rng.below(boundaries.len())];
                }
                ends.sort_unstable();
            }
            let mut start = 0;
            let values: Vec<&str> = ends
                .iter()
                .map(|&end| {
                    let value = &joined[start..end];
                    start = end;
                    value
                })
                .collect();
            record(&values);
        }
    }
    if feed.rng.chance(30) {
        let buffer = feed.rng.below(BUFFERS);
        feed.rewrite(buffer);
    }
    if feed.rng.chance(1) {
        let buffer = feed.rng.below(BUFFERS);
        feed.reallocate(buffer);
    }
}

/// A family under test, with its registry's number, its arity and its series limit.
struct UnderTest {
    registry: usize,
    target: Target,
    arity: usize,
    limit: usize,
}

impl UnderTest {
    fn model(&self) -> Model {
        Model::new(&self.target, self.arity, self.limit)
    }
}

/// Families of several arities and both kinds in two registries, some with the same
/// names, one with a series limit it reaches.
fn families() -> (Vec<Registry>, Vec<UnderTest>) {
    let registries = [Registry::new(), Registry::new()];
    let mut families = Vec::new();
    let mut add = |registry: usize, target: Target, arity: usize, limit: usize| {
        families.push(UnderTest {
            registry,
            target,
            arity,
            limit,
        });
    };
    let default = Registry::DEFAULT_MAX_SERIES;
    for arity in [0, 1, 2, 3, 4, 5, 8] {
        let target = Target::counter(&registries[0], &format!("c{arity}"), arity);
        add(0, target, arity, default);
    }
    for arity in [1, 2, 4] {
        let target = Target::counter(&registries[1], &format!("c{arity}"), arity);
        add(1, target, arity, default);
    }
    for arity in [0, 1, 3, 5] {
        let target = Target::histogram(&registries[0], &format!("h{arity}"), arity);
        add(0, target, arity, default);
    }
    let limited = registries[1]
        .counter(desc("limited", 2).max_series(40))
        .unwrap();
    add(1, Target::Counter(limited), 2, 40);
    (registries.into(), families)
}

#[test]
fn per_call_records_from_one_thread_match_a_model_of_every_tuple() {
    let (registries, families) = families();
    let mut feed = Feed::new(1, 2);
    let combos: Vec<Vec<Vec<usize>>> = families.iter().map(|f| feed.combos(f.arity, 8)).collect();
    let mut models: Vec<Model> = families.iter().map(UnderTest::model).collect();
    let mut checker = Rng(3);
    for _ in 0..12 {
        for _ in 0..4_000 {
            let f = feed.rng.below(families.len());
            step(&mut feed, &families[f].target, &combos[f], &mut models[f]);
        }
        let snapshots: Vec<Snapshot> = registries.iter().map(Registry::snapshot).collect();
        for (family, model) in families.iter().zip(&models) {
            check_snapshot(&snapshots[family.registry], family.target.name(), model);
            check_handles(&family.target, model, &mut checker, 50);
        }
    }
    // The limited family filled up, so the overflow path was taken too.
    assert!(models.last().unwrap().overflow.is_some());
}

#[test]
fn per_call_records_from_several_threads_add_up_to_the_sum_of_their_models() {
    let (registries, families) = families();
    // Without the limited family: which tuples get series depends on the interleaving.
    let families = &families[..families.len() - 1];
    const THREADS: u64 = 4;
    let models: Vec<Vec<Model>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                scope.spawn(move || {
                    // One dictionary for all, so that threads share series; their own
                    // buffers and choices.
                    let mut feed = Feed::new(7, 100 + thread);
                    let combos: Vec<Vec<Vec<usize>>> =
                        families.iter().map(|f| feed.combos(f.arity, 6)).collect();
                    let mut models: Vec<Model> = families.iter().map(UnderTest::model).collect();
                    for _ in 0..12_000 {
                        let f = feed.rng.below(families.len());
                        step(&mut feed, &families[f].target, &combos[f], &mut models[f]);
                    }
                    models
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let snapshots: Vec<Snapshot> = registries.iter().map(Registry::snapshot).collect();
    let mut checker = Rng(5);
    for (f, family) in families.iter().enumerate() {
        let mut total = family.model();
        for thread in &models {
            total.merge(&thread[f]);
        }
        check_snapshot(&snapshots[family.registry], family.target.name(), &total);
        check_handles(&family.target, &total, &mut checker, 200);
    }
}

#[test]
fn per_call_records_past_the_thread_memory_capacity_match_a_model() {
    // Twelve thousand distinct tuples per pass, from buffers rewritten in place, so that
    // the memory starts over several times while the address table still holds these
    // addresses; hot tuples in between must keep landing in their own series, and the
    // tuples past the default series limit in the overflow series.
    let registry = Registry::new();
    let pairs = Target::counter(&registry, "pairs", 2);
    let wide = Target::counter(&registry, "wide", 8);
    let hot = Target::histogram(&registry, "hot", 1);
    let mut models = [
        Model::new(&pairs, 2, Registry::DEFAULT_MAX_SERIES),
        Model::new(&wide, 8, Registry::DEFAULT_MAX_SERIES),
        Model::new(&hot, 1, Registry::DEFAULT_MAX_SERIES),
    ];
    let mut tenant = String::with_capacity(32);
    let mut route = String::with_capacity(32);
    let fixed: Vec<String> = (0..7).map(|i| format!("fixed-{i}")).collect();
    let hot_values = ["/v1/chat/completions/with/a/long/route/name"];
    let mut rng = Rng(11);
    for pass in 0..2u64 {
        for i in 0..12_000u64 {
            tenant.clear();
            tenant.push_str(&format!("tenant-{:05}", i % 6_000));
            route.clear();
            route.push_str(["/a", "/b"][(i / 6_000) as usize]);
            let pair = [tenant.as_str(), route.as_str()];
            let delta = Delta::Add(1 + pass);
            pairs.record(&pair, delta).unwrap();
            models[0].apply(&pair, delta);
            if i % 3 == 0 {
                let mut values: Vec<&str> = fixed.iter().map(String::as_str).collect();
                values.insert(rng.below(8), &tenant);
                wide.record(&values, delta).unwrap();
                models[1].apply(&values, delta);
            }
            if i % 7 == 0 {
                let delta = Delta::Observe(OBSERVATIONS[rng.below(OBSERVATIONS.len())]);
                hot.record(&hot_values, delta).unwrap();
                models[2].apply(&hot_values, delta);
            }
        }
    }
    let snapshot = registry.snapshot();
    for (target, model) in [&pairs, &wide, &hot].into_iter().zip(&models) {
        check_snapshot(&snapshot, target.name(), model);
        check_handles(target, model, &mut rng, 300);
    }
    assert!(models[0].overflow.is_some());
}

#[test]
fn a_byte_changed_anywhere_in_a_value_of_any_length_at_any_place_in_a_tuple_has_its_own_series() {
    // One buffer, rewritten in place to a twin that differs in one byte and back, for
    // every length up to 100 and every byte of it, at the first, a middle and the last
    // place of tuples of one to eight values whose other values are short and long.
    let mut rng = Rng(17);
    let others = [
        "x".to_string(),
        String::new(),
        text(&mut rng, 40),
        "日本".to_string(),
        text(&mut rng, 33),
        "GET".to_string(),
        text(&mut rng, 17),
    ];
    for arity in 1..=8usize {
        let mut places = vec![0, arity / 2, arity - 1];
        places.dedup();
        for place in places {
            let registry = Registry::new();
            let target = Target::counter(&registry, "bytes", arity);
            let mut model = Model::new(&target, arity, Registry::DEFAULT_MAX_SERIES);
            let mut buffer = String::with_capacity(BUFFER_CAPACITY);
            let mut weight = 0;
            for len in 0..=100 {
                for base in ["a".repeat(len), text(&mut rng, len)] {
                    let bytes: Vec<usize> = if len == 0 {
                        vec![0]
                    } else {
                        base.char_indices().map(|(i, _)| i).collect()
                    };
                    for byte in bytes {
                        let changed = if len == 0 {
                            String::new()
                        } else {
                            twin(&base, byte)
                        };
                        for content in [&base, &changed, &base] {
                            buffer.clear();
                            buffer.push_str(content);
                            let mut values: Vec<&str> =
                                others[..arity - 1].iter().map(String::as_str).collect();
                            values.insert(place, &buffer);
                            weight += 1;
                            target.record(&values, Delta::Add(weight)).unwrap();
                            model.apply(&values, Delta::Add(weight));
                        }
                    }
                }
            }
            check_snapshot(&registry.snapshot(), "bytes", &model);
            check_handles(&target, &model, &mut rng, 100);
        }
    }
}

#[test]
fn values_that_share_an_address_or_split_one_text_differently_have_their_own_series() {
    let registry = Registry::new();
    let one = Target::counter(&registry, "one", 1);
    let two = Target::counter(&registry, "two", 2);
    let three = Target::histogram(&registry, "three", 3);
    let mut models = [
        Model::new(&one, 1, Registry::DEFAULT_MAX_SERIES),
        Model::new(&two, 2, Registry::DEFAULT_MAX_SERIES),
        Model::new(&three, 3, Registry::DEFAULT_MAX_SERIES),
    ];
    let mut rng = Rng(23);
    let text = text(&mut rng, 70);
    let ends: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    for round in 1..=3u64 {
        for &end in &ends {
            // Every prefix starts at the same address: only the length tells them apart.
            let values = [&text[..end]];
            one.record(&values, Delta::Add(round * end as u64 + 1))
                .unwrap();
            models[0].apply(&values, Delta::Add(round * end as u64 + 1));
            // Every split of one text; and one address twice.
            for values in [
                [&text[..end], &text[end..]],
                [&text[end..], &text[..end]],
                [&text[..end], &text[..end]],
            ] {
                two.record(&values, Delta::Add(round)).unwrap();
                models[1].apply(&values, Delta::Add(round));
            }
            let cut = ends[rng.below(ends.len())].min(end);
            let delta = Delta::Observe(OBSERVATIONS[rng.below(OBSERVATIONS.len())]);
            let values = [&text[..cut], &text[cut..end], &text[end..]];
            three.record(&values, delta).unwrap();
            models[2].apply(&values, delta);
        }
    }
    let snapshot = registry.snapshot();
    for (target, model) in [&one, &two, &three].into_iter().zip(&models) {
        check_snapshot(&snapshot, target.name(), model);
        check_handles(target, model, &mut rng, 1_000);
    }
    assert_eq!(models[0].series.len(), ends.len());
}

#[test]
fn every_permutation_of_a_tuple_at_the_same_addresses_has_its_own_series() {
    let values: Vec<String> = [
        "x",
        "y",
        "",
        "tenant-a",
        "/api/v1/users/:id/with/a/long/tail",
    ]
    .iter()
    .map(|v| v.to_string())
    .collect();
    for arity in 2..=5usize {
        let registry = Registry::new();
        let target = Target::counter(&registry, "perm", arity);
        let mut model = Model::new(&target, arity, Registry::DEFAULT_MAX_SERIES);
        let mut permutations = vec![Vec::new()];
        for _ in 0..arity {
            permutations = permutations
                .into_iter()
                .flat_map(|p: Vec<usize>| {
                    (0..arity)
                        .filter(|i| !p.contains(i))
                        .map(|i| {
                            let mut longer = p.clone();
                            longer.push(i);
                            longer
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
        }
        for round in 0..3 {
            for (n, permutation) in permutations.iter().enumerate() {
                let tuple: Vec<&str> = permutation.iter().map(|&i| values[i].as_str()).collect();
                let delta = Delta::Add((n as u64 + 1) << round);
                target.record(&tuple, delta).unwrap();
                model.apply(&tuple, delta);
            }
            permutations.reverse();
        }
        check_snapshot(&registry.snapshot(), "perm", &model);
        check_handles(&target, &model, &mut Rng(29), 200);
        assert_eq!(model.series.len(), permutations.len());
    }
}

#[test]
fn per_call_records_into_expiring_families_match_a_model_from_one_expiry_to_the_next() {
    // With a timeout of zero a series reported twice with the same value is removed, so two
    // visits with no record between them remove every labelled series. Each round the
    // model starts again from nothing, while the thread's memory still holds the expired
    // series under the same addresses and texts; the overflow series and the family
    // without labels keep their values.
    let registry = Registry::builder()
        .idle_timeout(Duration::ZERO)
        .build()
        .unwrap();
    let mut families = Vec::new();
    for arity in [0, 1, 2, 4, 5] {
        families.push((
            Target::counter(&registry, &format!("c{arity}"), arity),
            arity,
        ));
    }
    for arity in [1, 3] {
        families.push((
            Target::histogram(&registry, &format!("h{arity}"), arity),
            arity,
        ));
    }
    let limited = registry.counter(desc("limited", 2).max_series(5)).unwrap();
    families.push((Target::Counter(limited), 2));
    let limits = |target: &Target| {
        if target.name() == "limited" {
            5
        } else {
            Registry::DEFAULT_MAX_SERIES
        }
    };
    let mut feed = Feed::new(31, 37);
    let combos: Vec<Vec<Vec<usize>>> = families
        .iter()
        .map(|(_, arity)| feed.combos(*arity, 6))
        .collect();
    let mut models: Vec<Model> = families
        .iter()
        .map(|(target, arity)| Model::new(target, *arity, limits(target)))
        .collect();
    let mut expired_any = false;
    for _ in 0..30 {
        for _ in 0..300 {
            let f = feed.rng.below(families.len());
            step(&mut feed, &families[f].0, &combos[f], &mut models[f]);
        }
        for _ in 0..2 {
            let snapshot = registry.snapshot();
            for ((target, _), model) in families.iter().zip(&models) {
                check_snapshot(&snapshot, target.name(), model);
            }
        }
        for ((_, arity), model) in families.iter().zip(&mut models) {
            if *arity > 0 {
                expired_any |= !model.series.is_empty();
                model.series.clear();
            }
        }
        let snapshot = registry.snapshot();
        for ((target, _), model) in families.iter().zip(&models) {
            check_snapshot(&snapshot, target.name(), model);
        }
    }
    assert!(expired_any);
    assert!(models.last().unwrap().overflow.is_some());
}

#[test]
fn per_call_recording_from_a_thread_local_destructor_is_kept() {
    // A thread-local set before the thread's first record per call is destroyed after the
    // thread's memory of resolutions: its records find no memory and must still count.
    struct RecordOnDrop(Family<Counter>, Family<Histogram>);
    impl Drop for RecordOnDrop {
        fn drop(&mut self) {
            self.0.add(&["late", "x"], 7).unwrap();
            self.0.add(&["late", "y"], 100).unwrap();
            self.1.observe(&["late"], 1.5).unwrap();
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<RecordOnDrop>> =
            const { std::cell::RefCell::new(None) };
    }
    let registry = Registry::new();
    let counter = registry.counter(desc("c", 2)).unwrap();
    let histogram = registry
        .histogram(desc("h", 1), Buckets::new(BOUNDS).unwrap())
        .unwrap();
    for set_first in [true, false] {
        let (counter, histogram) = (counter.clone(), histogram.clone());
        std::thread::spawn(move || {
            let late = RecordOnDrop(counter.clone(), histogram.clone());
            if set_first {
                LATE.with(|slot| *slot.borrow_mut() = Some(late));
                counter.inc(&["late", "x"]).unwrap();
            } else {
                counter.inc(&["late", "x"]).unwrap();
                LATE.with(|slot| *slot.borrow_mut() = Some(late));
            }
            histogram.observe(&["late"], 0.25).unwrap();
        })
        .join()
        .unwrap();
    }
    assert_eq!(counter.with_labels(&["late", "x"]).unwrap().value(), 16);
    assert_eq!(counter.with_labels(&["late", "y"]).unwrap().value(), 200);
    assert_eq!(histogram.with_labels(&["late"]).unwrap().count(), 4);
    assert_eq!(registry.snapshot().family("c").unwrap().series.len(), 2);
}

#[test]
fn bad_label_values_give_typed_errors_and_record_nothing() {
    let registry = Registry::new();
    let arities = [0, 1, 2, 4, 5, 8];
    let counters: Vec<Family<Counter>> = arities
        .iter()
        .map(|&arity| registry.counter(desc(&format!("c{arity}"), arity)).unwrap())
        .collect();
    let histograms: Vec<Family<Histogram>> = arities
        .iter()
        .map(|&arity| {
            let buckets = Buckets::new(BOUNDS).unwrap();
            registry
                .histogram(desc(&format!("h{arity}"), arity), buckets)
                .unwrap()
        })
        .collect();
    let pool: Vec<String> = (0..10).map(|i| format!("value-{i}")).collect();
    let mut rng = Rng(41);
    let mut buffer = String::with_capacity(BUFFER_CAPACITY);
    for (i, &arity) in arities.iter().enumerate() {
        let (counter, histogram) = (&counters[i], &histograms[i]);
        let good: Vec<&str> = pool[..arity].iter().map(String::as_str).collect();
        // Remembered first, so that bad calls find these addresses in the memory.
        counter.inc(&good).unwrap();
        histogram.observe(&good, 1.0).unwrap();
        for got in 0..=arity + 2 {
            if got == arity {
                continue;
            }
            let values: Vec<&str> = pool[..got].iter().map(String::as_str).collect();
            let expected = |family: &str| Error::LabelCount {
                family: family.to_string(),
                expected: arity,
                got,
            };
            assert_eq!(counter.inc(&values), Err(expected(counter.name())));
            assert_eq!(counter.add(&values, 5), Err(expected(counter.name())));
            assert_eq!(
                histogram.observe(&values, 1.0),
                Err(expected(histogram.name()))
            );
        }
        if arity == 0 {
            continue;
        }
        // A carriage return written in place over each character of a remembered value.
        for len in CARRIAGE_RETURN_LENGTHS {
            let base = text(&mut rng, len);
            let place = rng.below(arity);
            buffer.clear();
            buffer.push_str(&base);
            counter
                .inc(&with_value(&pool, arity, place, &buffer))
                .unwrap();
            histogram
                .observe(&with_value(&pool, arity, place, &buffer), 1.0)
                .unwrap();
            for (byte, c) in base.char_indices() {
                let mut bad = base.clone();
                bad.replace_range(byte..byte + c.len_utf8(), &"\r".repeat(c.len_utf8()));
                buffer.clear();
                buffer.push_str(&bad);
                let values = with_value(&pool, arity, place, &buffer);
                let expected = |family: &str| Error::CarriageReturn {
                    family: family.to_string(),
                    text: bad.clone(),
                };
                assert_eq!(counter.inc(&values), Err(expected(counter.name())));
                assert_eq!(counter.add(&values, 5), Err(expected(counter.name())));
                assert_eq!(
                    histogram.observe(&values, 1.0),
                    Err(expected(histogram.name()))
                );
            }
            buffer.clear();
            buffer.push_str(&base);
            let values = with_value(&pool, arity, place, &buffer);
            counter.add(&values, 2).unwrap();
            assert_eq!(counter.with_labels(&values).unwrap().value(), 3);
            assert_eq!(histogram.with_labels(&values).unwrap().count(), 1);
        }
    }
    // Each family has its remembered tuple and one per length, nothing of the bad calls.
    let snapshot = registry.snapshot();
    for (i, &arity) in arities.iter().enumerate() {
        let series = if arity == 0 {
            1
        } else {
            1 + CARRIAGE_RETURN_LENGTHS.len()
        };
        for name in [counters[i].name(), histograms[i].name()] {
            let family = snapshot.family(name).unwrap();
            assert_eq!(family.series.len(), series, "{name}");
            assert!(family
                .series
                .iter()
                .all(|s| !s.labels.concat().contains('\r')));
        }
        let good: Vec<&str> = pool[..arity].iter().map(String::as_str).collect();
        assert_eq!(counters[i].with_labels(&good).unwrap().value(), 1);
        assert_eq!(histograms[i].with_labels(&good).unwrap().count(), 1);
    }
}

const CARRIAGE_RETURN_LENGTHS: [usize; 13] = [1, 2, 3, 4, 7, 8, 9, 16, 17, 32, 33, 40, 64];

/// The first `arity` values of `pool`, with `value` in place of the one at `place`.
fn with_value<'a>(pool: &'a [String], arity: usize, place: usize, value: &'a str) -> Vec<&'a str> {
    let mut values: Vec<&str> = pool[..arity].iter().map(String::as_str).collect();
    values[place] = value;
    values
}
