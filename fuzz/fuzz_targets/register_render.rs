//! Arbitrary names, label values, help, units, constant labels and numbers go through
//! registration and recording, then both exposition formats, and must read back through
//! the crate's own parsers as exactly what was recorded.
//!
//! What registration must accept or refuse, and every value a sample must carry, is worked
//! out here from the input alone, by the rules the documentation states; the registry's
//! snapshot is never consulted.

#![no_main]

#[path = "inputs.rs"]
mod inputs;

use abacus::{Buckets, Desc, Error, Family, Registry};
use abacus_prometheus::parse::{parse_exposition, parse_openmetrics, Exposition, MetricType};
use abacus_prometheus::{render, Format, TextEncoder};
use arbitrary::Arbitrary;
use inputs::{
    is_metric_name, is_usable_label_name, same_float, Float, LabelName, MetricName, Text,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    namespace: Option<MetricName>,
    registry_labels: Vec<(LabelName, Text)>,
    families: Vec<FamilyInput>,
}

#[derive(Arbitrary, Debug)]
struct FamilyInput {
    name: MetricName,
    help: Text,
    unit: Option<UnitInput>,
    label_names: Vec<LabelName>,
    const_labels: Vec<(LabelName, Text)>,
    exact_name: bool,
    kind: KindInput,
    series: Vec<SeriesInput>,
    /// Encode with the long-lived encoder after this family, so that its cache is
    /// exercised with families and series arriving between encodings.
    encode_after: bool,
}

#[derive(Arbitrary, Debug)]
enum UnitInput {
    /// The last `_`-separated part of the family name, which is a valid unit whenever the
    /// name has one.
    NameEnd,
    Raw(LabelName),
}

#[derive(Arbitrary, Debug)]
enum KindInput {
    Counter,
    Fixed { decimals: u8 },
    Gauge,
    FloatGauge,
    Histogram { bounds: Vec<Float>, sorted: bool },
}

#[derive(Arbitrary, Debug)]
struct SeriesInput {
    values: Vec<Text>,
    /// Resolve with exactly the values given, even when their number is wrong.
    keep_count: bool,
    records: Vec<Record>,
}

#[derive(Arbitrary, Debug)]
enum Record {
    /// Counter: through a handle, or by label values on each call.
    Add(u64),
    AddPerCall(u64),
    /// Fixed-point counter.
    AddUnits(u64),
    AddWhole(u16),
    AddAmount(Float),
    /// Gauge.
    Set(i64),
    GaugeAdd(i64),
    GaugeSub(i64),
    /// Float gauge.
    SetFloat(Float),
    FloatAdd(Float),
    /// Histogram: through a handle, or by label values on each call.
    Observe(Float),
    ObservePerCall(Float),
}

const MAX_FAMILIES: usize = 6;
const MAX_LABELS: usize = 4;
const MAX_SERIES: usize = 8;
const MAX_RECORDS: usize = 12;
const MAX_BOUNDS: usize = 300;

/// What a family is, as far as telling two registrations apart goes.
#[derive(Clone, Debug, PartialEq)]
enum KindModel {
    Counter,
    Fixed(u32),
    Gauge,
    FloatGauge,
    /// Bounds as bits, so that `-0.0` and `0.0` are different layouts.
    Histogram(Vec<u64>),
}

#[derive(Debug)]
struct FamilyModel {
    name: String,
    kind: KindModel,
    help: String,
    unit: String,
    label_names: Vec<String>,
    const_labels: Vec<(String, String)>,
    total_suffix: bool,
    series: Vec<(Vec<String>, ValueModel)>,
}

#[derive(Clone, Debug)]
enum ValueModel {
    Counter(u64),
    Gauge(i64),
    Float(f64),
    /// Per-bucket (not cumulative) counts, `+Inf` last, and the running sum.
    Histogram(Vec<u64>, f64),
}

impl FamilyModel {
    fn bounds(&self) -> Vec<f64> {
        match &self.kind {
            KindModel::Histogram(bits) => bits.iter().map(|&b| f64::from_bits(b)).collect(),
            _ => Vec::new(),
        }
    }

    fn zero(&self) -> ValueModel {
        match &self.kind {
            KindModel::Counter | KindModel::Fixed(_) => ValueModel::Counter(0),
            KindModel::Gauge => ValueModel::Gauge(0),
            KindModel::FloatGauge => ValueModel::Float(0.0),
            KindModel::Histogram(bounds) => ValueModel::Histogram(vec![0; bounds.len() + 1], 0.0),
        }
    }

    /// The series for `values`, created at the end (creation order) on first use.
    fn series(&mut self, values: &[String]) -> &mut ValueModel {
        let index = match self.series.iter().position(|(v, _)| v == values) {
            Some(index) => index,
            None => {
                let zero = self.zero();
                self.series.push((values.to_vec(), zero));
                self.series.len() - 1
            }
        };
        &mut self.series[index].1
    }

    /// Every sample name the family exposes in either format. `_created` is reserved by
    /// OpenMetrics for counters and histograms even though abacus does not write it.
    fn exposed(&self) -> Vec<String> {
        let suffixes: &[&str] = match self.kind {
            KindModel::Counter | KindModel::Fixed(_) => &["", "_total", "_created"],
            KindModel::Gauge | KindModel::FloatGauge => &[""],
            KindModel::Histogram(_) => &["", "_bucket", "_sum", "_count", "_created"],
        };
        suffixes
            .iter()
            .map(|s| format!("{}{s}", self.name))
            .collect()
    }

    fn same_description(&self, other: &FamilyModel) -> bool {
        self.kind == other.kind
            && self.help == other.help
            && self.unit == other.unit
            && self.label_names == other.label_names
            && self.const_labels == other.const_labels
            && self.total_suffix == other.total_suffix
    }
}

enum Handle {
    Counter(Family<abacus::Counter>),
    Fixed(Family<abacus::FixedCounter>),
    Gauge(Family<abacus::Gauge>),
    FloatGauge(Family<abacus::FloatGauge>),
    Histogram(Family<abacus::Histogram>),
}

fuzz_target!(|input: Input| run(input));

fn run(input: Input) {
    let namespace = input.namespace.map(|n| n.0).unwrap_or_default();
    let registry_labels: Vec<(String, String)> = input
        .registry_labels
        .into_iter()
        .take(MAX_LABELS)
        .map(|(n, v)| (n.0, v.0))
        .collect();
    let registry_valid = (namespace.is_empty() || is_metric_name(&namespace))
        && registry_labels
            .iter()
            .all(|(n, v)| is_usable_label_name(n) && !v.contains('\r'))
        && all_distinct(registry_labels.iter().map(|(n, _)| n));
    let mut builder = Registry::builder().namespace(namespace.clone());
    for (name, value) in &registry_labels {
        builder = builder.const_label(name.clone(), value.clone());
    }
    let registry = match builder.build() {
        Ok(registry) => {
            assert!(registry_valid, "a registry was built from invalid settings");
            registry
        }
        Err(error) => {
            assert!(!registry_valid, "valid registry settings refused: {error}");
            // The registry this input would have used does not exist; an empty one still
            // has something to check.
            check_renderings(&Registry::new(), &[], &mut TextEncoder::new());
            return;
        }
    };

    let mut models: Vec<FamilyModel> = Vec::new();
    let mut encoder = TextEncoder::new();
    // Alternating formats, so that the cache serves both from the same state.
    let mut format = Format::Text;
    for family in input.families.into_iter().take(MAX_FAMILIES) {
        let encode_after = family.encode_after;
        register_and_record(&registry, &namespace, &registry_labels, &mut models, family);
        if encode_after {
            encoder.encode_as(&registry, format, &mut Vec::new());
            format = match format {
                Format::Text => Format::OpenMetrics,
                Format::OpenMetrics => Format::Text,
            };
        }
    }
    check_renderings(&registry, &models, &mut encoder);
}

fn all_distinct<'a>(names: impl Iterator<Item = &'a String>) -> bool {
    let mut seen = std::collections::HashSet::new();
    names.into_iter().all(|n| seen.insert(n))
}

fn register_and_record(
    registry: &Registry,
    namespace: &str,
    registry_labels: &[(String, String)],
    models: &mut Vec<FamilyModel>,
    input: FamilyInput,
) {
    let name = input.name.0;
    let label_names: Vec<String> = input
        .label_names
        .into_iter()
        .take(MAX_LABELS)
        .map(|n| n.0)
        .collect();
    let own_const_labels: Vec<(String, String)> = input
        .const_labels
        .into_iter()
        .take(MAX_LABELS)
        .map(|(n, v)| (n.0, v.0))
        .collect();
    let help = input.help.0;

    let (kind, buckets) = match input.kind {
        KindInput::Counter => (KindModel::Counter, None),
        KindInput::Fixed { decimals } => (KindModel::Fixed(u32::from(decimals % 20)), None),
        KindInput::Gauge => (KindModel::Gauge, None),
        KindInput::FloatGauge => (KindModel::FloatGauge, None),
        KindInput::Histogram { bounds, sorted } => {
            let mut bounds: Vec<f64> = bounds.into_iter().take(MAX_BOUNDS).map(|b| b.0).collect();
            if sorted {
                bounds.sort_by(f64::total_cmp);
            }
            match check_buckets(&bounds) {
                Ok(()) => {}
                Err(()) => {
                    assert!(
                        Buckets::new(bounds.clone()).is_err(),
                        "bad bounds accepted: {bounds:?}"
                    );
                    return;
                }
            }
            let buckets = match Buckets::new(bounds.clone()) {
                Ok(buckets) => buckets,
                Err(error) => panic!("bounds {bounds:?} refused: {error}"),
            };
            if bounds.last() == Some(&f64::INFINITY) {
                bounds.pop();
            }
            assert_eq!(
                bits(buckets.bounds()),
                bits(&bounds),
                "the bounds kept are the ones given, without a trailing +Inf"
            );
            (KindModel::Histogram(bits(&bounds)), Some(buckets))
        }
    };
    let is_counter = matches!(kind, KindModel::Counter | KindModel::Fixed(_));
    let is_histogram = matches!(kind, KindModel::Histogram(_));
    let (base, total_suffix) = match name.strip_suffix("_total") {
        Some(base) if is_counter => (base.to_owned(), true),
        _ => (name.clone(), is_counter && !input.exact_name),
    };
    let qualified = if namespace.is_empty() {
        base.clone()
    } else {
        format!("{namespace}_{base}")
    };
    let unit = match input.unit {
        None => String::new(),
        Some(UnitInput::NameEnd) => qualified.rsplit('_').next().unwrap_or_default().to_owned(),
        Some(UnitInput::Raw(unit)) => unit.0,
    };

    // The rules of registration as documented: names, reserved labels, help, unit,
    // constant labels.
    let all_const_names: Vec<&String> = registry_labels
        .iter()
        .chain(&own_const_labels)
        .map(|(n, _)| n)
        .collect();
    let valid = is_metric_name(&name)
        && !(is_counter && name == "_total")
        && !help.contains('\r')
        && label_names.iter().all(|l| is_usable_label_name(l))
        && all_distinct(label_names.iter())
        && !(is_histogram && label_names.iter().any(|l| l == "le"))
        && unit_fits(&qualified, &unit)
        && own_const_labels
            .iter()
            .all(|(n, v)| is_usable_label_name(n) && !v.contains('\r'))
        && all_distinct(all_const_names.iter().copied())
        && !(is_histogram && all_const_names.iter().any(|l| *l == "le"))
        && !label_names.iter().any(|l| all_const_names.contains(&l))
        && !matches!(kind, KindModel::Fixed(d) if d > 15);

    let candidate = FamilyModel {
        name: qualified.clone(),
        kind: kind.clone(),
        help: help.clone(),
        unit: unit.clone(),
        label_names: label_names.clone(),
        const_labels: registry_labels
            .iter()
            .chain(&own_const_labels)
            .cloned()
            .collect(),
        total_suffix,
        series: Vec::new(),
    };
    let existing = models.iter().position(|m| m.name == qualified);
    let clashes = {
        let wanted = candidate.exposed();
        models
            .iter()
            .any(|m| m.exposed().iter().any(|e| wanted.contains(e)))
    };

    let mut desc = Desc::new(name.clone(), help)
        .unit(unit)
        .labels(label_names.clone())
        .const_labels(own_const_labels);
    if input.exact_name {
        desc = desc.exact_name();
    }
    let registered = match (&kind, buckets) {
        (KindModel::Counter, _) => registry.counter(desc).map(Handle::Counter),
        (KindModel::Fixed(d), _) => registry.fixed_counter(desc, *d).map(Handle::Fixed),
        (KindModel::Gauge, _) => registry.gauge(desc).map(Handle::Gauge),
        (KindModel::FloatGauge, _) => registry.float_gauge(desc).map(Handle::FloatGauge),
        (KindModel::Histogram(_), Some(buckets)) => {
            registry.histogram(desc, buckets).map(Handle::Histogram)
        }
        (KindModel::Histogram(_), None) => unreachable!("histograms always get buckets"),
    };

    let handle = match (registered, existing) {
        (Err(error), _) if !valid => {
            let _ = error;
            return;
        }
        (Ok(_), _) if !valid => panic!("registered an invalid description: {candidate:?}"),
        (Ok(handle), Some(index)) => {
            assert!(
                models[index].same_description(&candidate),
                "{qualified:?} registered again with another description and no conflict:\n\
                 {:?}\n{candidate:?}",
                models[index]
            );
            (handle, index)
        }
        (
            Err(Error::Conflict {
                name: contested, ..
            }),
            Some(index),
        ) => {
            assert_eq!(contested, qualified);
            assert!(
                !models[index].same_description(&candidate),
                "the same description conflicts with itself: {candidate:?}"
            );
            return;
        }
        (Ok(handle), None) => {
            assert!(
                !clashes,
                "{qualified:?} registered though its sample names are taken"
            );
            let mut model = candidate;
            // A family without labels shows its one series from the start.
            if model.label_names.is_empty() {
                model.series(&[]);
            }
            models.push(model);
            (handle, models.len() - 1)
        }
        (Err(Error::NameClash { name: clashing, .. }), None) if clashes => {
            assert_eq!(clashing, qualified);
            return;
        }
        (Err(error), _) => panic!("valid description {candidate:?} refused: {error}"),
    };
    let (handle, index) = handle;
    let model = &mut models[index];
    for series in input.series.into_iter().take(MAX_SERIES) {
        record_series(&handle, model, series);
    }
}

/// Whether a bucket layout is acceptable: no NaN, strictly increasing, at most 256 bounds
/// once a trailing `+Inf` is dropped.
fn check_buckets(bounds: &[f64]) -> Result<(), ()> {
    let increasing = bounds.windows(2).all(|w| w[0] < w[1]);
    let finite_count = bounds.len() - usize::from(bounds.last() == Some(&f64::INFINITY));
    if bounds.iter().any(|b| b.is_nan()) || !increasing || finite_count > 256 {
        Err(())
    } else {
        Ok(())
    }
}

/// An empty unit, or one of `[a-zA-Z0-9_:]` that ends the family name after an underscore
/// with something before it.
fn unit_fits(family: &str, unit: &str) -> bool {
    unit.is_empty()
        || (unit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
            && family
                .strip_suffix(unit)
                .and_then(|rest| rest.strip_suffix('_'))
                .is_some_and(|rest| !rest.is_empty()))
}

fn bits(floats: &[f64]) -> Vec<u64> {
    floats.iter().map(|f| f.to_bits()).collect()
}

fn record_series(handle: &Handle, model: &mut FamilyModel, input: SeriesInput) {
    let mut values: Vec<String> = input
        .values
        .into_iter()
        .take(MAX_LABELS + 1)
        .map(|t| t.0)
        .collect();
    if !input.keep_count {
        values.resize(model.label_names.len(), String::new());
    }
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let resolvable =
        values.len() == model.label_names.len() && !values.iter().any(|v| v.contains('\r'));
    let records: Vec<Record> = input.records.into_iter().take(MAX_RECORDS).collect();

    macro_rules! resolve {
        ($family:expr) => {
            match $family.with_labels(&refs) {
                Ok(series) => {
                    assert!(resolvable, "resolved bad label values {values:?}");
                    model.series(&values);
                    series
                }
                Err(error) => {
                    assert!(!resolvable, "label values {values:?} refused: {error}");
                    return;
                }
            }
        };
    }
    match handle {
        Handle::Counter(family) => {
            let counter = resolve!(family);
            for record in records {
                let n = match record {
                    Record::Add(n) => {
                        counter.add(n);
                        n
                    }
                    Record::AddPerCall(n) => {
                        family
                            .add(&refs, n)
                            .expect("values that resolved once resolve again");
                        n
                    }
                    _ => continue,
                };
                let ValueModel::Counter(total) = model.series(&values) else {
                    unreachable!()
                };
                *total = total.saturating_add(n);
            }
        }
        Handle::Fixed(family) => {
            let KindModel::Fixed(decimals) = model.kind else {
                unreachable!()
            };
            let counter = resolve!(family);
            for record in records {
                let units = match record {
                    Record::AddUnits(units) => {
                        counter.add_units(units);
                        units
                    }
                    Record::AddWhole(whole) => {
                        // n * 10^d is n * 5^d * 2^d, and n * 5^d needs at most 51 bits, so
                        // the float the counter scales to is exact and needs no rounding.
                        counter.add(f64::from(whole));
                        u64::from(whole).saturating_mul(10u64.pow(decimals))
                    }
                    Record::AddAmount(Float(amount)) => {
                        // Only amounts whose units are certain: nothing for NaN and
                        // negatives, saturation for infinity, nothing for what rounds to 0.
                        let units = if amount.is_nan() || amount <= 0.0 {
                            0
                        } else if amount == f64::INFINITY {
                            u64::MAX
                        } else if amount < 1e-16 {
                            0
                        } else {
                            continue;
                        };
                        counter.add(amount);
                        units
                    }
                    _ => continue,
                };
                let ValueModel::Counter(total) = model.series(&values) else {
                    unreachable!()
                };
                *total = total.saturating_add(units);
            }
        }
        Handle::Gauge(family) => {
            let gauge = resolve!(family);
            for record in records {
                let ValueModel::Gauge(value) = model.series(&values) else {
                    unreachable!()
                };
                match record {
                    Record::Set(v) => {
                        gauge.set(v);
                        *value = v;
                    }
                    Record::GaugeAdd(d) => {
                        gauge.add(d);
                        *value = value.wrapping_add(d);
                    }
                    Record::GaugeSub(d) => {
                        gauge.sub(d);
                        *value = value.wrapping_sub(d);
                    }
                    _ => {}
                }
            }
        }
        Handle::FloatGauge(family) => {
            let gauge = resolve!(family);
            for record in records {
                let ValueModel::Float(value) = model.series(&values) else {
                    unreachable!()
                };
                match record {
                    Record::SetFloat(Float(v)) => {
                        gauge.set(v);
                        *value = v;
                    }
                    Record::FloatAdd(Float(d)) => {
                        gauge.add(d);
                        *value += d;
                    }
                    _ => {}
                }
            }
        }
        Handle::Histogram(family) => {
            let bounds = model.bounds();
            let histogram = resolve!(family);
            for record in records {
                let v = match record {
                    Record::Observe(Float(v)) => {
                        histogram.observe(v);
                        v
                    }
                    Record::ObservePerCall(Float(v)) => {
                        family
                            .observe(&refs, v)
                            .expect("values that resolved once resolve again");
                        v
                    }
                    _ => continue,
                };
                let ValueModel::Histogram(counts, sum) = model.series(&values) else {
                    unreachable!()
                };
                // The first bucket whose bound is at least the value; NaN is above all.
                let bucket = bounds.iter().position(|&b| b >= v).unwrap_or(bounds.len());
                counts[bucket] += 1;
                *sum += v;
            }
        }
    }
}

/// One sample line the exposition must hold, in order.
#[derive(Debug)]
struct Expected {
    name: String,
    labels: Vec<(String, String)>,
    /// For a bucket, its bound, written as the last label `le`.
    le: Option<f64>,
    value: Want,
}

#[derive(Debug)]
enum Want {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Fixed { units: u64, decimals: u32 },
}

fn expected_samples(models: &[FamilyModel], format: Format) -> Vec<Expected> {
    let mut out = Vec::new();
    for family in models {
        let sample_name = |suffix: &str| format!("{}{suffix}", family.name);
        for (values, value) in &family.series {
            let labels: Vec<(String, String)> = family
                .const_labels
                .iter()
                .cloned()
                .chain(
                    family
                        .label_names
                        .iter()
                        .cloned()
                        .zip(values.iter().cloned()),
                )
                .collect();
            let plain = |name: String, value: Want| Expected {
                name,
                labels: labels.clone(),
                le: None,
                value,
            };
            match (value, &family.kind) {
                (ValueModel::Counter(n), kind) => {
                    let name = if family.total_suffix || format == Format::OpenMetrics {
                        sample_name("_total")
                    } else {
                        sample_name("")
                    };
                    let want = match kind {
                        KindModel::Fixed(decimals) => Want::Fixed {
                            units: *n,
                            decimals: *decimals,
                        },
                        _ => Want::Unsigned(*n),
                    };
                    out.push(plain(name, want));
                }
                (ValueModel::Gauge(n), _) => out.push(plain(sample_name(""), Want::Signed(*n))),
                (ValueModel::Float(v), _) => out.push(plain(sample_name(""), Want::Float(*v))),
                (ValueModel::Histogram(counts, sum), _) => {
                    let bounds = family.bounds();
                    let mut cumulative = 0u64;
                    for (index, count) in counts.iter().enumerate() {
                        cumulative += count;
                        out.push(Expected {
                            name: sample_name("_bucket"),
                            labels: labels.clone(),
                            le: Some(bounds.get(index).copied().unwrap_or(f64::INFINITY)),
                            value: Want::Unsigned(cumulative),
                        });
                    }
                    // OpenMetrics has no place for a sum that is NaN or negative, or for
                    // any sum once a bound is negative; `_count` goes with `_sum`.
                    let sum_allowed = format == Format::Text
                        || !(sum.is_nan() || *sum < 0.0 || bounds.iter().any(|&b| b < 0.0));
                    if sum_allowed {
                        out.push(plain(sample_name("_sum"), Want::Float(*sum)));
                        out.push(plain(sample_name("_count"), Want::Unsigned(cumulative)));
                    }
                }
            }
        }
    }
    out
}

fn check_renderings(registry: &Registry, models: &[FamilyModel], encoder: &mut TextEncoder) {
    let shown = models.iter().filter(|m| !m.series.is_empty()).count();
    for format in [Format::Text, Format::OpenMetrics] {
        let text = render(registry, format);
        let mut reused = Vec::new();
        encoder.encode_as(registry, format, &mut reused);
        assert_eq!(
            String::from_utf8_lossy(&reused),
            text,
            "an encoder that rendered earlier states renders {format:?} differently"
        );
        if shown == 0 {
            let empty = match format {
                Format::Text => "",
                Format::OpenMetrics => "# EOF\n",
            };
            assert_eq!(text, empty, "an empty exposition in {format:?}");
        }
        let exposition = match format {
            Format::Text => parse_exposition(&text),
            Format::OpenMetrics => parse_openmetrics(&text),
        };
        let exposition = exposition
            .unwrap_or_else(|error| panic!("{format:?} rendering does not parse: {error}\n{text}"));
        check_metadata(&exposition, models, format, &text);
        check_samples(
            &exposition,
            &text,
            &expected_samples(models, format),
            format,
        );
    }
}

fn check_metadata(exposition: &Exposition, models: &[FamilyModel], format: Format, text: &str) {
    let shown: Vec<&FamilyModel> = models.iter().filter(|m| !m.series.is_empty()).collect();
    assert_eq!(
        exposition.type_lines.len(),
        shown.len(),
        "one TYPE per family shown:\n{text}"
    );
    for family in shown {
        let is_counter = matches!(family.kind, KindModel::Counter | KindModel::Fixed(_));
        let named = if is_counter && family.total_suffix && format == Format::Text {
            format!("{}_total", family.name)
        } else {
            family.name.clone()
        };
        let kind = match family.kind {
            KindModel::Counter | KindModel::Fixed(_) => MetricType::Counter,
            KindModel::Gauge | KindModel::FloatGauge => MetricType::Gauge,
            KindModel::Histogram(_) => MetricType::Histogram,
        };
        assert_eq!(
            exposition.metric_type(&named),
            Some(kind),
            "TYPE of {named:?}:\n{text}"
        );
        // The text format puts any number of blanks between the name and the help, and
        // has no escape for one, so leading blanks of a help text cannot survive it (nor
        // Prometheus' own parser). OpenMetrics separates them with exactly one space.
        let help = match format {
            Format::Text => family.help.trim_start_matches([' ', '\t']),
            Format::OpenMetrics => family.help.as_str(),
        };
        let help = (!family.help.is_empty()).then_some(help);
        assert_eq!(exposition.help(&named), help, "HELP of {named:?}:\n{text}");
        if format == Format::OpenMetrics {
            let unit = (!family.unit.is_empty()).then_some(family.unit.as_str());
            assert_eq!(exposition.unit(&named), unit, "UNIT of {named:?}:\n{text}");
        }
    }
}

fn check_samples(exposition: &Exposition, text: &str, expected: &[Expected], format: Format) {
    // The parser gives values as floats; counts above 2^53 need the text itself. Every
    // line that is not a comment is a sample, in the parser's order.
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        lines.len(),
        exposition.samples.len(),
        "{format:?} sample lines:\n{text}"
    );
    assert_eq!(
        exposition.samples.len(),
        expected.len(),
        "{format:?} samples, expected {expected:#?}:\n{text}"
    );
    for ((sample, line), want) in exposition.samples.iter().zip(&lines).zip(expected) {
        let context = || format!("{format:?} line {line:?}, expected {want:?}");
        assert_eq!(sample.name, want.name, "{}", context());
        match want.le {
            None => assert_eq!(sample.labels, want.labels, "{}", context()),
            Some(bound) => {
                let (le, rest) = sample.labels.split_last().expect("a bucket has labels");
                assert_eq!(rest, &want.labels[..], "{}", context());
                assert_eq!(le.0, "le", "{}", context());
                assert!(same_float(le_value(&le.1), bound), "{}", context());
            }
        }
        let token = line.rsplit(' ').next().unwrap_or_default();
        match want.value {
            Want::Unsigned(n) => {
                assert_eq!(token.parse::<u64>(), Ok(n), "{}", context());
                assert_eq!(sample.value, n as f64, "{}", context());
            }
            Want::Signed(n) => {
                assert_eq!(token.parse::<i64>(), Ok(n), "{}", context());
                assert_eq!(sample.value, n as f64, "{}", context());
            }
            Want::Float(v) => {
                assert!(
                    same_float(sample.value, v),
                    "{}: read {}",
                    context(),
                    sample.value
                );
                if format == Format::OpenMetrics && v.is_finite() {
                    assert!(
                        token.contains(['.', 'e']),
                        "{}: an OpenMetrics float",
                        context()
                    );
                }
            }
            Want::Fixed { units, decimals } => {
                assert_eq!(
                    decimal_units(token, decimals),
                    Some(u128::from(units)),
                    "{}",
                    context()
                );
                if format == Format::OpenMetrics && decimals > 0 {
                    assert!(
                        token.contains('.'),
                        "{}: an OpenMetrics fraction",
                        context()
                    );
                }
            }
        }
    }
}

/// An `le` value: the canonical float spellings both formats use, with a point or an
/// exponent for every finite bound.
fn le_value(text: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => {
            assert!(text.contains(['.', 'e']), "le {text:?} is not canonical");
            text.parse()
                .unwrap_or_else(|_| panic!("le {text:?} is not a float"))
        }
    }
}

/// Reads an exact decimal with at most `decimals` digits after the point as a whole number
/// of `10^-decimals`.
fn decimal_units(token: &str, decimals: u32) -> Option<u128> {
    let (whole, fraction) = token.split_once('.').unwrap_or((token, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!fraction.is_empty() && !digits(fraction)) {
        return None;
    }
    if token.contains('.') && fraction.is_empty() || fraction.len() > decimals as usize {
        return None;
    }
    let scale = 10u128.pow(decimals);
    let whole: u128 = whole.parse().ok()?;
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<u128>().ok()? * 10u128.pow(decimals - fraction.len() as u32)
    };
    whole.checked_mul(scale)?.checked_add(fraction)
}
