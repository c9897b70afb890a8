//! From a registry to a compressed `WriteRequest`: a [`Visitor`] that turns each series
//! into the time series the text exposition would show, with the snapshot's timestamp.
//!
//! The rules come from the specification's
//! [labels](https://prometheus.io/docs/concepts/remote_write_spec/#labels) and
//! [samples](https://prometheus.io/docs/concepts/remote_write_spec/#samples) sections:
//! every series has `__name__`, its labels sorted by name with no name twice, and its
//! samples in timestamp order. Names and `le` values are spelled as the text format
//! spells them, so that a pushed series and a scraped one are the same series.

use std::collections::HashMap;

use abacus::{FamilyInfo, Kind, LabelValues, Registry, Value, VisitBuffers, Visitor};
use hyper::body::Bytes;
use prost::Message;

use super::proto::{Label, Sample, TimeSeries, WriteRequest};
use crate::number::{write_fixed, write_le};

/// Prometheus' own NaN (`value.NormalNaN` in its Go code): a quiet NaN with the lowest
/// payload bit set. Every NaN value is sent with these bits.
pub(crate) const NORMAL_NAN: u64 = 0x7ff8_0000_0000_0001;
/// The staleness marker, a NaN that tells the receiver a series is gone:
/// <https://prometheus.io/docs/concepts/remote_write_spec/#stale-markers>. A recorded NaN
/// must never go out with these bits.
#[cfg(test)]
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// One snapshot, ready to send.
#[derive(Clone, Debug)]
pub(crate) struct Encoded {
    /// The snappy-compressed `WriteRequest`.
    pub(crate) body: Bytes,
    /// How many samples it holds: one per time series.
    pub(crate) samples: u64,
}

/// A snapshot that could not be encoded: larger than snappy's block format allows
/// (about 4 GiB). It is dropped, and its samples counted.
#[derive(Debug)]
pub(crate) struct TooLarge {
    pub(crate) samples: u64,
}

/// Turns registry snapshots into request bodies, keeping every buffer between snapshots:
/// the core's visit buffers, the protobuf messages with their strings, the encoded and
/// the compressed bytes. Once warm, a snapshot allocates only its finished body.
pub(crate) struct SnapshotEncoder {
    buffers: VisitBuffers,
    /// Every message of the last snapshot; the next one overwrites them in place.
    request: WriteRequest,
    /// External labels, sorted by name.
    external: Vec<(String, String)>,
    /// What never changes about a family's series, by family id.
    plans: HashMap<u64, FamilyPlan>,
    /// Counts visits, so that plans of families no longer visited can be forgotten.
    generation: u64,
    last_timestamp: i64,
    proto: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
    /// Room to spell a fixed-point value before it is read as a float.
    scratch: Vec<u8>,
}

impl SnapshotEncoder {
    /// An encoder that adds `external` labels to every series (see
    /// [`RemoteWriter::external_label`](super::RemoteWriter::external_label) for the
    /// rule when a series has a label of the same name).
    pub(crate) fn new(mut external: Vec<(String, String)>) -> Self {
        external.sort();
        SnapshotEncoder {
            buffers: VisitBuffers::default(),
            request: WriteRequest::default(),
            external,
            plans: HashMap::new(),
            generation: 0,
            last_timestamp: i64::MIN,
            proto: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
            scratch: Vec::new(),
        }
    }

    /// Reads `registry` and encodes it with the timestamp `now_ms` (milliseconds since
    /// the Unix epoch), or one millisecond after the previous snapshot's if the clock
    /// has not moved past it, so that every series' timestamps strictly increase from
    /// one snapshot to the next, as the specification's ordering rule asks:
    /// <https://prometheus.io/docs/concepts/remote_write_spec/#ordering>.
    pub(crate) fn encode(&mut self, registry: &Registry, now_ms: i64) -> Result<Encoded, TooLarge> {
        let timestamp = now_ms.max(self.last_timestamp.saturating_add(1));
        self.last_timestamp = timestamp;
        self.generation += 1;
        let mut pass = Pass {
            timeseries: &mut self.request.timeseries,
            filled: 0,
            external: &self.external,
            plans: &mut self.plans,
            current: None,
            generation: self.generation,
            timestamp,
            scratch: &mut self.scratch,
        };
        registry.visit_with(&mut self.buffers, &mut pass);
        let filled = pass.filled;
        // Series never disappear from a registry, so this only trims after a registry
        // was swapped for a smaller one; it keeps stale series out of the request.
        self.request.timeseries.truncate(filled);
        let generation = self.generation;
        self.plans.retain(|_, plan| plan.generation == generation);

        let samples = filled as u64;
        self.proto.clear();
        // Encoding into a `Vec` cannot run out of room: it grows.
        if self.request.encode(&mut self.proto).is_err() {
            return Err(TooLarge { samples });
        }
        let bound = snap::raw::max_compress_len(self.proto.len());
        if bound == 0 && !self.proto.is_empty() {
            return Err(TooLarge { samples });
        }
        self.compressed.resize(bound, 0);
        let written = self
            .snappy
            .compress(&self.proto, &mut self.compressed)
            .map_err(|_| TooLarge { samples })?;
        Ok(Encoded {
            body: Bytes::copy_from_slice(&self.compressed[..written]),
            samples,
        })
    }
}

/// Where a label's value comes from.
#[derive(Clone, Debug)]
enum Source {
    /// The sample's name.
    Name,
    /// A constant label or an external label: the same on every series.
    Fixed(String),
    /// The series' own label at this index of the family's label names, or, when the
    /// series leaves it empty (which Prometheus reads as no label), the external label of
    /// the same name if there is one.
    Own {
        index: usize,
        fallback: Option<String>,
    },
    /// The bucket's `le`.
    Le,
}

/// One label of a family's samples, in the order they are sent.
#[derive(Clone, Debug)]
struct Slot {
    name: String,
    source: Source,
}

/// What every series of a family shares, worked out on the family's first visit.
struct FamilyPlan {
    generation: u64,
    kind: Kind,
    /// The sample name of a counter or gauge, or of a histogram's buckets.
    first: String,
    /// A histogram's `_sum` and `_count` names; empty otherwise.
    sum: String,
    count: String,
    /// The labels of every sample but buckets, sorted by name.
    plain: Vec<Slot>,
    /// The labels of bucket samples, `le` among them, sorted by name.
    bucket: Vec<Slot>,
    /// Each bound as the text format spells it, then `+Inf`.
    les: Vec<String>,
}

impl FamilyPlan {
    fn new(info: &FamilyInfo<'_>, external: &[(String, String)], generation: u64) -> Self {
        let with = |suffix: &str| format!("{}{suffix}", info.name);
        let (first, sum, count) = match info.kind {
            Kind::Counter if info.total_suffix => (with("_total"), String::new(), String::new()),
            Kind::Counter | Kind::Gauge => (with(""), String::new(), String::new()),
            Kind::Histogram => (with("_bucket"), with("_sum"), with("_count")),
        };
        let mut les = Vec::with_capacity(info.bounds.len() + 1);
        let mut spelled = Vec::new();
        for &bound in info.bounds {
            spelled.clear();
            write_le(&mut spelled, bound);
            les.push(String::from_utf8_lossy(&spelled).into_owned());
        }
        les.push("+Inf".to_owned());
        FamilyPlan {
            generation,
            kind: info.kind,
            first,
            sum,
            count,
            plain: slots(info, external, false),
            bucket: slots(info, external, info.kind == Kind::Histogram),
            les,
        }
    }
}

/// The labels of a family's samples, sorted by name: `__name__`, the constant labels, the
/// series' own labels, `le` for buckets, and each external label whose name none of those
/// has. The core guarantees that the constant and own label names differ, are never
/// `__name__` and, on histograms, never `le`.
fn slots(info: &FamilyInfo<'_>, external: &[(String, String)], le: bool) -> Vec<Slot> {
    let external_named = |name: &str| {
        external
            .iter()
            .find(|(external_name, _)| external_name == name)
            .map(|(_, value)| value.clone())
    };
    let mut slots = vec![Slot {
        name: "__name__".to_owned(),
        source: Source::Name,
    }];
    for (name, value) in info.const_labels {
        slots.push(Slot {
            name: name.to_string(),
            source: Source::Fixed(value.to_string()),
        });
    }
    for (index, name) in info.label_names.iter().enumerate() {
        slots.push(Slot {
            name: name.to_string(),
            source: Source::Own {
                index,
                fallback: external_named(name),
            },
        });
    }
    if le {
        slots.push(Slot {
            name: "le".to_owned(),
            source: Source::Le,
        });
    }
    for (name, value) in external {
        if !slots.iter().any(|slot| slot.name == *name) {
            slots.push(Slot {
                name: name.clone(),
                source: Source::Fixed(value.clone()),
            });
        }
    }
    // Byte order, as Go compares strings: `Zone` comes before `__name__`, which comes
    // before `zone`.
    slots.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    slots
}

/// One visit of the registry, writing into the encoder's messages.
struct Pass<'a> {
    timeseries: &'a mut Vec<TimeSeries>,
    /// How many of `timeseries` this visit has written.
    filled: usize,
    external: &'a [(String, String)],
    plans: &'a mut HashMap<u64, FamilyPlan>,
    /// The id of the family being visited.
    current: Option<u64>,
    generation: u64,
    timestamp: i64,
    scratch: &'a mut Vec<u8>,
}

impl Visitor for Pass<'_> {
    fn family(&mut self, info: FamilyInfo<'_>) {
        let (external, generation) = (self.external, self.generation);
        let plan = self
            .plans
            .entry(info.id)
            .or_insert_with(|| FamilyPlan::new(&info, external, generation));
        plan.generation = generation;
        self.current = Some(info.id);
    }

    fn series(&mut self, labels: &LabelValues, value: Value<'_>) {
        let Some(plan) = self.current.and_then(|id| self.plans.get(&id)) else {
            return;
        };
        let mut out = Out {
            timeseries: self.timeseries,
            filled: &mut self.filled,
            timestamp: self.timestamp,
            labels,
        };
        match value {
            Value::Counter(n) => out.push(&plan.plain, &plan.first, "", n as f64),
            Value::Gauge(n) => out.push(&plan.plain, &plan.first, "", n as f64),
            Value::FloatGauge(v) => out.push(&plan.plain, &plan.first, "", v),
            Value::Fixed { units, decimals } => {
                let value = fixed_value(self.scratch, units, decimals);
                out.push(&plan.plain, &plan.first, "", value);
            }
            Value::Histogram(histogram) if plan.kind == Kind::Histogram => {
                let bounds = plan.les.len() - 1;
                let finite = bounds.min(histogram.cumulative.len());
                for (le, &count) in plan.les.iter().zip(&histogram.cumulative[..finite]) {
                    out.push(&plan.bucket, &plan.first, le, count as f64);
                }
                // From the total whatever the slice holds, so `+Inf` always equals `_count`,
                // as in the text exposition.
                let count = histogram.count() as f64;
                out.push(&plan.bucket, &plan.first, &plan.les[bounds], count);
                out.push(&plan.plain, &plan.sum, "", histogram.sum);
                out.push(&plan.plain, &plan.count, "", count);
            }
            // A histogram value in a family not registered as one would break the core's
            // promise; there is no sensible series to make of it.
            Value::Histogram(_) => {}
        }
    }
}

/// The part of a [`Pass`] that writes one sample's time series.
struct Out<'a, 'b> {
    timeseries: &'a mut Vec<TimeSeries>,
    filled: &'a mut usize,
    timestamp: i64,
    labels: &'b LabelValues,
}

impl Out<'_, '_> {
    /// Writes the next time series, reusing the one at its position and its strings.
    fn push(&mut self, slots: &[Slot], name: &str, le: &str, value: f64) {
        if *self.filled == self.timeseries.len() {
            self.timeseries.push(TimeSeries::default());
        }
        let series = &mut self.timeseries[*self.filled];
        *self.filled += 1;

        let mut used = 0;
        for slot in slots {
            let text = match &slot.source {
                Source::Name => name,
                Source::Fixed(text) => text,
                Source::Own { index, fallback } => match self.labels.get(*index) {
                    Some(own) if !own.is_empty() => own,
                    _ => fallback.as_deref().unwrap_or_default(),
                },
                Source::Le => le,
            };
            // Prometheus treats a label with an empty value as absent; sending it would
            // make a series that differs from the scraped one.
            if text.is_empty() {
                continue;
            }
            if used == series.labels.len() {
                series.labels.push(Label::default());
            }
            let label = &mut series.labels[used];
            used += 1;
            overwrite(&mut label.name, &slot.name);
            overwrite(&mut label.value, text);
        }
        series.labels.truncate(used);

        series.samples.truncate(1);
        if series.samples.is_empty() {
            series.samples.push(Sample::default());
        }
        series.samples[0] = Sample {
            value: normalize_nan(value),
            timestamp: self.timestamp,
        };
    }
}

fn overwrite(target: &mut String, text: &str) {
    target.clear();
    target.push_str(text);
}

/// Any NaN becomes Prometheus' ordinary NaN, so that no recorded value can pass for a
/// staleness marker.
#[inline]
fn normalize_nan(value: f64) -> f64 {
    if value.is_nan() {
        f64::from_bits(NORMAL_NAN)
    } else {
        value
    }
}

/// A fixed-point value as the float nearest its exact decimal: the text exposition's
/// spelling of it, read back. Dividing `units` by a power of ten could land one float
/// off.
fn fixed_value(scratch: &mut Vec<u8>, units: u64, decimals: u32) -> f64 {
    scratch.clear();
    write_fixed(scratch, units, decimals);
    std::str::from_utf8(scratch)
        .ok()
        .and_then(|text| text.parse().ok())
        // `write_fixed` writes only digits, a point and an exponent, which always parse.
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_nans_differ_and_only_the_ordinary_one_is_sent() {
        assert!(f64::from_bits(STALE_NAN).is_nan());
        assert_ne!(NORMAL_NAN, STALE_NAN);
        assert_eq!(
            normalize_nan(f64::from_bits(STALE_NAN)).to_bits(),
            NORMAL_NAN
        );
        assert_eq!(normalize_nan(f64::NAN).to_bits(), NORMAL_NAN);
        assert_eq!(normalize_nan(-0.0).to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn fixed_point_values_are_the_floats_nearest_their_decimals() {
        let mut scratch = Vec::new();
        // The expected floats are Rust's reading of the decimals written out by hand.
        for (units, decimals, decimal) in [
            (1500u64, 3u32, "1.5"),
            (1, 9, "0.000000001"),
            (123_456_789_012_345_678, 9, "123456789.012345678"),
            (7, 0, "7"),
            (0, 6, "0"),
        ] {
            let expected: f64 = decimal.parse().unwrap();
            assert_eq!(
                fixed_value(&mut scratch, units, decimals).to_bits(),
                expected.to_bits(),
                "{units}e-{decimals}"
            );
        }
    }
}
