//! An arbitrary sequence of operations on a small fixed set of families, run against a
//! registry and against plain Rust values, whose snapshots must agree exactly.
//!
//! Handles come and go (clones, thread-bound `LocalCounter`s, drops), label values are
//! fresh allocations on every per-call record so that addresses get reused for other
//! text, and some operations run on a thread that exits, whose records must fold into the
//! shared cells without loss.

#![no_main]

#[path = "inputs.rs"]
mod inputs;

use abacus::{
    Buckets, Counter, Desc, Family, FixedCounter, FloatGauge, Gauge, Histogram, LocalCounter,
    OwnedValue, Registry, Snapshot,
};
use arbitrary::Arbitrary;
use inputs::{same_float, Float};
use libfuzzer_sys::fuzz_target;

const BOUNDS: [f64; 5] = [-1.0, 0.0, 0.25, 1.0, 1e300];
const LABEL_VALUES: [&str; 6] = ["a", "b", "", "é", "x\"y\n", "a long enough value to spill"];
/// Handle slots per kind; operations name a slot modulo this.
const SLOTS: usize = 4;
const MAX_OPS: usize = 256;
const MAX_THREAD_OPS: usize = 32;
const MAX_THREADS: usize = 4;

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    CounterHandle {
        slot: u8,
    },
    CounterAdd {
        slot: u8,
        n: u64,
    },
    CounterInc {
        slot: u8,
    },
    Local {
        slot: u8,
        from: u8,
    },
    LocalAdd {
        slot: u8,
        n: u64,
    },
    DropLocal {
        slot: u8,
    },
    DropCounter {
        slot: u8,
    },
    FixedAdd {
        units: u64,
    },
    GaugeSet {
        value: i64,
    },
    GaugeAdd {
        delta: i64,
    },
    GaugeSub {
        delta: i64,
    },
    GaugeInc,
    GaugeDec,
    FloatSet {
        value: Float,
    },
    FloatAdd {
        delta: Float,
    },
    FloatSub {
        delta: Float,
    },
    Observe {
        value: Float,
    },
    ObserveLabelled {
        label: u8,
        value: Float,
    },
    LabelledInc {
        label: u8,
    },
    LabelledAdd {
        label: u8,
        n: u64,
    },
    LabelledHandle {
        slot: u8,
        label: u8,
    },
    LabelledHandleAdd {
        slot: u8,
        n: u64,
    },
    /// Compare everything now, not only at the end.
    Check,
    /// Run these on a new thread, then join it.
    Thread(Vec<Op>),
}

/// The registry under test and its families.
struct Subject {
    registry: Registry,
    counter: Family<Counter>,
    fixed: Family<FixedCounter>,
    gauge: Gauge,
    float: FloatGauge,
    histogram: Histogram,
    labelled_histogram: Family<Histogram>,
    labelled: Family<Counter>,
}

/// What the registry must hold, kept with nothing but integer and float arithmetic.
#[derive(Clone, Debug, Default)]
struct Model {
    counter: u64,
    fixed: u64,
    gauge: i64,
    float: f64,
    /// Per-bucket counts, `+Inf` last, and the sum in the order of the observations.
    histogram: (Vec<u64>, f64),
    labelled_histogram: Vec<(String, Vec<u64>, f64)>,
    /// In creation order, as series are.
    labelled: Vec<(String, u64)>,
    /// Whether a histogram was observed off the main thread: its sum is then added in an
    /// order the model cannot know, so it is not compared.
    histogram_sum_unordered: bool,
    labelled_histogram_sum_unordered: bool,
}

/// Handles held by one thread, in slots.
#[derive(Default)]
struct Slots {
    counters: [Option<Counter>; SLOTS],
    locals: [Option<LocalCounter>; SLOTS],
    labelled: [Option<(usize, Counter)>; SLOTS],
}

fuzz_target!(|ops: Vec<Op>| run(ops));

fn run(ops: Vec<Op>) {
    let registry = Registry::new();
    let subject = Subject {
        counter: registry
            .counter(Desc::new("c_total", "Counter."))
            .expect("valid"),
        fixed: registry
            .fixed_counter(Desc::new("cost", "Fixed."), 3)
            .expect("valid"),
        gauge: registry
            .gauge(Desc::new("g", "Gauge."))
            .and_then(|f| f.without_labels())
            .expect("valid"),
        float: registry
            .float_gauge(Desc::new("f", "Float gauge."))
            .and_then(|f| f.without_labels())
            .expect("valid"),
        histogram: registry
            .histogram(
                Desc::new("h", "Histogram."),
                Buckets::new(BOUNDS).expect("sorted"),
            )
            .and_then(|f| f.without_labels())
            .expect("valid"),
        labelled_histogram: registry
            .histogram(
                Desc::new("lh", "Labelled histogram.").labels(["k"]),
                Buckets::new(BOUNDS).expect("sorted"),
            )
            .expect("valid"),
        labelled: registry
            .counter(Desc::new("lc", "Labelled counter.").labels(["k"]))
            .expect("valid"),
        registry,
    };
    let mut model = Model {
        histogram: (vec![0; BOUNDS.len() + 1], 0.0),
        ..Model::default()
    };
    let mut slots = Slots::default();
    let mut threads = 0;
    for op in ops.into_iter().take(MAX_OPS) {
        match op {
            Op::Thread(ops) => {
                if threads == MAX_THREADS {
                    continue;
                }
                threads += 1;
                let ops: Vec<Op> = ops.into_iter().take(MAX_THREAD_OPS).collect();
                run_on_thread(&subject, &mut model, ops);
            }
            Op::Check => check(&subject, &model),
            op => apply(&subject, &mut model, &mut slots, op, true),
        }
    }
    check(&subject, &model);
    // Handles outlive nothing they point into: dropping them all, then checking again,
    // shows that a dropped LocalCounter or thread-local shard gives its values back.
    drop(slots);
    check(&subject, &model);
}

/// Runs `ops` on a thread of their own with its own handles, which all go away with it.
fn run_on_thread(subject: &Subject, model: &mut Model, ops: Vec<Op>) {
    let mut local_model = std::mem::take(model);
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut slots = Slots::default();
                for op in ops {
                    // One level of threads is enough; a nested one only costs time.
                    if !matches!(op, Op::Thread(_) | Op::Check) {
                        apply(subject, &mut local_model, &mut slots, op, false);
                    }
                }
            })
            .join()
            .expect("the thread does not panic");
    });
    *model = local_model;
}

fn label(index: u8) -> String {
    // A fresh allocation every time, so that the per-thread memory of resolutions sees
    // addresses it remembers holding other text.
    LABEL_VALUES[usize::from(index) % LABEL_VALUES.len()].to_owned()
}

fn slot(index: u8) -> usize {
    usize::from(index) % SLOTS
}

fn bucket(value: f64) -> usize {
    BOUNDS
        .iter()
        .position(|&b| b >= value)
        .unwrap_or(BOUNDS.len())
}

fn apply(subject: &Subject, model: &mut Model, slots: &mut Slots, op: Op, main_thread: bool) {
    match op {
        Op::CounterHandle { slot: s } => {
            slots.counters[slot(s)] = Some(subject.counter.without_labels().expect("no labels"));
        }
        Op::CounterAdd { slot: s, n } => {
            if let Some(counter) = &slots.counters[slot(s)] {
                counter.add(n);
                model.counter = model.counter.saturating_add(n);
            }
        }
        Op::CounterInc { slot: s } => {
            if let Some(counter) = &slots.counters[slot(s)] {
                counter.inc();
                model.counter = model.counter.saturating_add(1);
            }
        }
        Op::Local { slot: s, from } => {
            if let Some(counter) = &slots.counters[slot(from)] {
                slots.locals[slot(s)] = Some(counter.local());
            }
        }
        Op::LocalAdd { slot: s, n } => {
            if let Some(local) = &slots.locals[slot(s)] {
                local.add(n);
                model.counter = model.counter.saturating_add(n);
            }
        }
        Op::DropLocal { slot: s } => slots.locals[slot(s)] = None,
        Op::DropCounter { slot: s } => slots.counters[slot(s)] = None,
        Op::FixedAdd { units } => {
            subject
                .fixed
                .without_labels()
                .expect("no labels")
                .add_units(units);
            model.fixed = model.fixed.saturating_add(units);
        }
        Op::GaugeSet { value } => {
            subject.gauge.set(value);
            model.gauge = value;
        }
        Op::GaugeAdd { delta } => {
            subject.gauge.add(delta);
            model.gauge = model.gauge.wrapping_add(delta);
        }
        Op::GaugeSub { delta } => {
            subject.gauge.sub(delta);
            model.gauge = model.gauge.wrapping_sub(delta);
        }
        Op::GaugeInc => {
            subject.gauge.inc();
            model.gauge = model.gauge.wrapping_add(1);
        }
        Op::GaugeDec => {
            subject.gauge.dec();
            model.gauge = model.gauge.wrapping_sub(1);
        }
        Op::FloatSet { value: Float(v) } => {
            subject.float.set(v);
            model.float = v;
        }
        Op::FloatAdd { delta: Float(d) } => {
            subject.float.add(d);
            model.float += d;
        }
        Op::FloatSub { delta: Float(d) } => {
            subject.float.sub(d);
            model.float -= d;
        }
        Op::Observe { value: Float(v) } => {
            subject.histogram.observe(v);
            model.histogram.0[bucket(v)] += 1;
            model.histogram.1 += v;
            model.histogram_sum_unordered |= !main_thread;
        }
        Op::ObserveLabelled {
            label: l,
            value: Float(v),
        } => {
            let value = label(l);
            subject
                .labelled_histogram
                .observe(&[&value], v)
                .expect("one value for one label");
            let series = match model
                .labelled_histogram
                .iter()
                .position(|(k, ..)| *k == value)
            {
                Some(index) => &mut model.labelled_histogram[index],
                None => {
                    model
                        .labelled_histogram
                        .push((value, vec![0; BOUNDS.len() + 1], 0.0));
                    model.labelled_histogram.last_mut().expect("just pushed")
                }
            };
            series.1[bucket(v)] += 1;
            series.2 += v;
            model.labelled_histogram_sum_unordered |= !main_thread;
        }
        Op::LabelledInc { label: l } => {
            let value = label(l);
            subject
                .labelled
                .inc(&[&value])
                .expect("one value for one label");
            let total = labelled_series(model, &value);
            *total = total.saturating_add(1);
        }
        Op::LabelledAdd { label: l, n } => {
            let value = label(l);
            subject
                .labelled
                .add(&[&value], n)
                .expect("one value for one label");
            let total = labelled_series(model, &value);
            *total = total.saturating_add(n);
        }
        Op::LabelledHandle { slot: s, label: l } => {
            let value = label(l);
            let handle = subject
                .labelled
                .with_labels(&[&value])
                .expect("one value for one label");
            labelled_series(model, &value);
            let index = model
                .labelled
                .iter()
                .position(|(k, _)| *k == value)
                .expect("created");
            slots.labelled[slot(s)] = Some((index, handle));
        }
        Op::LabelledHandleAdd { slot: s, n } => {
            if let Some((index, handle)) = &slots.labelled[slot(s)] {
                handle.add(n);
                let total = &mut model.labelled[*index].1;
                *total = total.saturating_add(n);
            }
        }
        Op::Check | Op::Thread(_) => {}
    }
}

fn labelled_series<'m>(model: &'m mut Model, value: &str) -> &'m mut u64 {
    let index = match model.labelled.iter().position(|(k, _)| k == value) {
        Some(index) => index,
        None => {
            model.labelled.push((value.to_owned(), 0));
            model.labelled.len() - 1
        }
    };
    &mut model.labelled[index].1
}

fn check(subject: &Subject, model: &Model) {
    let snapshot = subject.registry.snapshot();
    let one = |name: &str| -> &OwnedValue {
        let family = snapshot
            .family(name)
            .unwrap_or_else(|| panic!("family {name}"));
        assert_eq!(family.series.len(), 1, "{name} has one series");
        &family.series[0].value
    };
    assert_eq!(one("c"), &OwnedValue::Counter(model.counter));
    assert_eq!(
        one("cost"),
        &OwnedValue::Fixed {
            units: model.fixed,
            decimals: 3
        }
    );
    assert_eq!(one("g"), &OwnedValue::Gauge(model.gauge));
    match one("f") {
        OwnedValue::FloatGauge(v) => {
            assert!(
                same_float(*v, model.float),
                "float gauge {v} != {}",
                model.float
            )
        }
        other => panic!("float gauge reads {other:?}"),
    }
    check_histogram(
        "h",
        one("h"),
        &model.histogram.0,
        model.histogram.1,
        model.histogram_sum_unordered,
    );

    // The handles' own read paths agree with the snapshot.
    assert_eq!(
        subject.counter.without_labels().expect("no labels").value(),
        model.counter
    );
    assert_eq!(subject.gauge.value(), model.gauge);
    assert!(same_float(subject.float.value(), model.float));
    assert_eq!(
        subject.histogram.count(),
        model.histogram.0.iter().sum::<u64>()
    );

    let labelled = family_series(&snapshot, "lc");
    let want: Vec<(Vec<String>, OwnedValue)> = model
        .labelled
        .iter()
        .map(|(k, n)| (vec![k.clone()], OwnedValue::Counter(*n)))
        .collect();
    assert_eq!(labelled, want, "labelled counter series in creation order");

    let histograms = family_series(&snapshot, "lh");
    assert_eq!(histograms.len(), model.labelled_histogram.len());
    for ((labels, value), (k, counts, sum)) in histograms.iter().zip(&model.labelled_histogram) {
        assert_eq!(
            labels,
            &vec![k.clone()],
            "labelled histogram series in creation order"
        );
        check_histogram(
            "lh",
            value,
            counts,
            *sum,
            model.labelled_histogram_sum_unordered,
        );
    }
}

fn family_series(snapshot: &Snapshot, name: &str) -> Vec<(Vec<String>, OwnedValue)> {
    snapshot
        .family(name)
        .unwrap_or_else(|| panic!("family {name}"))
        .series
        .iter()
        .map(|s| (s.labels.clone(), s.value.clone()))
        .collect()
}

fn check_histogram(name: &str, value: &OwnedValue, counts: &[u64], sum: f64, unordered: bool) {
    let OwnedValue::Histogram {
        cumulative,
        sum: read_sum,
    } = value
    else {
        panic!("{name} reads {value:?}");
    };
    let want: Vec<u64> = counts
        .iter()
        .scan(0u64, |total, count| {
            *total += count;
            Some(*total)
        })
        .collect();
    assert_eq!(cumulative, &want, "{name} cumulative buckets");
    if !unordered {
        assert!(same_float(*read_sum, sum), "{name} sum {read_sum} != {sum}");
    }
}
