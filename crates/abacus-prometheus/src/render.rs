//! The text format 0.0.4 renderer: a [`Visitor`] that writes each family as it is visited.
//!
//! The format is specified at
//! <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>.

use std::fmt;

use abacus::{
    FamilyInfo, HistogramValue, Kind, LabelValues, Registry, Value, VisitBuffers, Visitor,
};

use crate::escape::{write_help, write_label_value};
use crate::number::{write_fixed, write_float, write_le};

/// The `Content-Type` of a text format 0.0.4 exposition.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders registries in the Prometheus text format 0.0.4, reusing its working memory from
/// one call to the next: once warm, an encoding allocates nothing per series.
///
/// Families come in registration order and series in creation order, so the same registry
/// state always renders to the same bytes. A family without series is left out. Counter
/// samples, and their `# HELP` and `# TYPE` lines, carry the `_total` suffix. A family with
/// empty help text gets no `# HELP` line.
///
/// ```
/// use abacus::{Desc, Registry};
/// use abacus_prometheus::TextEncoder;
///
/// let registry = Registry::new();
/// registry.gauge(Desc::new("queue_depth", "Jobs waiting."))?.with_labels(&[])?.set(7);
///
/// let mut encoder = TextEncoder::new();
/// let mut body = Vec::new();
/// encoder.encode(&registry, &mut body);
/// assert_eq!(
///     body,
///     b"# HELP queue_depth Jobs waiting.\n# TYPE queue_depth gauge\nqueue_depth 7\n",
/// );
/// # Ok::<(), abacus::Error>(())
/// ```
#[derive(Default)]
pub struct TextEncoder {
    buffers: VisitBuffers,
    scratch: Scratch,
}

impl TextEncoder {
    /// An encoder with empty buffers; they grow on the first encodings and are kept.
    pub fn new() -> Self {
        Self::default()
    }

    /// Clears `out` and fills it with the exposition of `registry`. The output is valid
    /// UTF-8.
    pub fn encode(&mut self, registry: &Registry, out: &mut Vec<u8>) {
        out.clear();
        let mut renderer = Renderer {
            out,
            family: &mut self.scratch,
        };
        registry.visit_with(&mut self.buffers, &mut renderer);
    }
}

impl fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextEncoder").finish_non_exhaustive()
    }
}

/// Renders `registry` in the text format 0.0.4 into a new string. A caller that renders
/// repeatedly should keep a [`TextEncoder`] instead.
pub fn render_text(registry: &Registry) -> String {
    let mut out = Vec::new();
    TextEncoder::new().encode(registry, &mut out);
    // The renderer only ever inserts ASCII between whole `&str`s, so this cannot fail; the
    // lossy fallback exists to avoid a panic path, not because it is reachable.
    match String::from_utf8(out) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

/// What the renderer keeps about the family being visited. Every field is cleared, never
/// dropped, between families, so its capacity is reused.
#[derive(Default)]
struct Scratch {
    /// `# HELP` and `# TYPE` lines, held back until the family's first series so that a
    /// family without series leaves no trace.
    header: Vec<u8>,
    header_written: bool,
    /// The sample name: the family name, with `_total` for counters.
    name: Vec<u8>,
    /// Label names, concatenated; `label_ends[i]` is where name `i` ends.
    label_names: Vec<u8>,
    label_ends: Vec<usize>,
    /// Histogram bounds rendered as `le` values, concatenated, with their ends.
    les: Vec<u8>,
    le_ends: Vec<usize>,
    /// One series' rendered `name="value"` pairs, without braces, shared by its lines.
    labels: Vec<u8>,
}

impl Scratch {
    fn le(&self, index: usize) -> &[u8] {
        let start = if index == 0 {
            0
        } else {
            self.le_ends[index - 1]
        };
        &self.les[start..self.le_ends[index]]
    }
}

struct Renderer<'a> {
    out: &'a mut Vec<u8>,
    family: &'a mut Scratch,
}

impl Visitor for Renderer<'_> {
    fn family(&mut self, info: FamilyInfo<'_>) {
        let family = &mut *self.family;
        family.name.clear();
        family.name.extend_from_slice(info.name.as_bytes());
        if info.kind == Kind::Counter {
            family.name.extend_from_slice(b"_total");
        }

        family.header.clear();
        family.header_written = false;
        if !info.help.is_empty() {
            family.header.extend_from_slice(b"# HELP ");
            family.header.extend_from_slice(&family.name);
            family.header.push(b' ');
            write_help(&mut family.header, info.help);
            family.header.push(b'\n');
        }
        family.header.extend_from_slice(b"# TYPE ");
        family.header.extend_from_slice(&family.name);
        family.header.extend_from_slice(match info.kind {
            Kind::Counter => b" counter\n".as_slice(),
            Kind::Gauge => b" gauge\n",
            Kind::Histogram => b" histogram\n",
        });

        family.label_names.clear();
        family.label_ends.clear();
        for name in info.label_names {
            family.label_names.extend_from_slice(name.as_bytes());
            family.label_ends.push(family.label_names.len());
        }

        family.les.clear();
        family.le_ends.clear();
        for &bound in info.bounds {
            write_le(&mut family.les, bound);
            family.le_ends.push(family.les.len());
        }
    }

    fn series(&mut self, labels: &LabelValues, value: Value<'_>) {
        let family = &mut *self.family;
        if !family.header_written {
            self.out.extend_from_slice(&family.header);
            family.header_written = true;
        }

        family.labels.clear();
        for (index, label_value) in labels.iter().enumerate().take(family.label_ends.len()) {
            if index > 0 {
                family.labels.push(b',');
            }
            let name_start = if index == 0 {
                0
            } else {
                family.label_ends[index - 1]
            };
            let name = &family.label_names[name_start..family.label_ends[index]];
            family.labels.extend_from_slice(name);
            family.labels.extend_from_slice(b"=\"");
            write_label_value(&mut family.labels, label_value);
            family.labels.push(b'"');
        }

        let out = &mut *self.out;
        match value {
            Value::Counter(n) => {
                write_sample_start(out, family, b"");
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                out.push(b'\n');
            }
            Value::Gauge(n) => {
                write_sample_start(out, family, b"");
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                out.push(b'\n');
            }
            Value::Fixed { units, decimals } => {
                write_sample_start(out, family, b"");
                write_fixed(out, units, decimals);
                out.push(b'\n');
            }
            Value::FloatGauge(v) => {
                write_sample_start(out, family, b"");
                write_float(out, v);
                out.push(b'\n');
            }
            Value::Histogram(histogram) => write_histogram(out, family, histogram),
        }
    }
}

/// Writes `name` + `suffix` and the series' labels, up to and including the space before
/// the value.
fn write_sample_start(out: &mut Vec<u8>, family: &Scratch, suffix: &[u8]) {
    out.extend_from_slice(&family.name);
    out.extend_from_slice(suffix);
    if !family.labels.is_empty() {
        out.push(b'{');
        out.extend_from_slice(&family.labels);
        out.push(b'}');
    }
    out.push(b' ');
}

/// Writes one bucket line: the series' labels followed by `le`.
fn write_bucket(out: &mut Vec<u8>, family: &Scratch, le: &[u8], count: u64) {
    out.extend_from_slice(&family.name);
    out.extend_from_slice(b"_bucket{");
    if !family.labels.is_empty() {
        out.extend_from_slice(&family.labels);
        out.push(b',');
    }
    out.extend_from_slice(b"le=\"");
    out.extend_from_slice(le);
    out.extend_from_slice(b"\"} ");
    out.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
    out.push(b'\n');
}

fn write_histogram(out: &mut Vec<u8>, family: &Scratch, histogram: HistogramValue<'_>) {
    // One cumulative count per bound, then +Inf. The +Inf bucket is written from the
    // total count whatever the slice holds, so `_count` always equals it.
    let finite = family.le_ends.len().min(histogram.cumulative.len());
    for (index, &count) in histogram.cumulative[..finite].iter().enumerate() {
        write_bucket(out, family, family.le(index), count);
    }
    let count = histogram.count();
    write_bucket(out, family, b"+Inf", count);
    write_sample_start(out, family, b"_sum");
    write_float(out, histogram.sum);
    out.push(b'\n');
    write_sample_start(out, family, b"_count");
    out.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
    out.push(b'\n');
}
