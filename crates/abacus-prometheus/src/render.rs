//! The renderer: a [`Visitor`] that writes each family as it is visited, in the text
//! format 0.0.4 or OpenMetrics 1.0.
//!
//! The formats are specified at
//! <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format> and
//! <https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md>.
//! Their sample lines are spelled alike for what abacus records, so both share one cache
//! (see the `cache` module); they differ in the metadata lines, in how floats are written
//! (OpenMetrics gives every float a point or an exponent), in the histogram `_sum` rule,
//! and in the `# EOF` line that ends an OpenMetrics exposition.

use std::fmt;

use abacus::{FamilyInfo, HistogramValue, LabelValues, Registry, Value, VisitBuffers, Visitor};

use crate::cache::{write_close, CachedFamily, FamilyCache, Pieces};
use crate::number::{
    write_fixed, write_fixed_openmetrics, write_float, write_float_openmetrics, write_i64,
    write_u64_line,
};

/// The `Content-Type` of a text format 0.0.4 exposition.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `Content-Type` of an OpenMetrics 1.0 text exposition, exactly as the specification
/// gives it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An exposition format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format 0.0.4, which every Prometheus version reads.
    #[default]
    Text,
    /// The OpenMetrics 1.0 text format.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` that names this format: [`TEXT_CONTENT_TYPE`] or
    /// [`OPENMETRICS_CONTENT_TYPE`].
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Renders registries in the Prometheus text format 0.0.4 or OpenMetrics 1.0, reusing its
/// working memory from one call to the next: once it and the output buffer have grown to
/// the registry's size, an encoding allocates nothing at all.
///
/// The encoder remembers each family's metadata lines and each series' escaped labels,
/// for both formats at once, so a scrape renders only the values and whatever is new
/// since the last one. It forgets the families the registry it last encoded does not have,
/// so one encoder may serve several registries in turn, though it does its best kept to
/// one.
///
/// Families come in registration order and series in creation order, so the same registry
/// state always renders to the same bytes. A family without series is left out. Counter
/// samples carry the `_total` suffix; so do their `# HELP` and `# TYPE` lines in the text
/// format, while OpenMetrics names the family without it. A counter registered with
/// [`Desc::exact_name`](abacus::Desc::exact_name) goes without the suffix in the text
/// format only. Constant labels come first on every line, the registry's before the
/// family's. A family with empty help text gets no `# HELP` line, and one without a unit
/// no `# UNIT` line (OpenMetrics only). Families that share a name
/// ([`Desc::shared_name`](abacus::Desc::shared_name)) render as one: their metadata once,
/// then the series of each in turn.
///
/// ```
/// use abacus::{Desc, Registry};
/// use abacus_prometheus::{Format, TextEncoder};
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
/// encoder.encode_as(&registry, Format::OpenMetrics, &mut body);
/// assert_eq!(
///     body,
///     b"# TYPE queue_depth gauge\n# HELP queue_depth Jobs waiting.\nqueue_depth 7\n# EOF\n",
/// );
/// # Ok::<(), abacus::Error>(())
/// ```
#[derive(Default)]
pub struct TextEncoder {
    buffers: VisitBuffers,
    cache: FamilyCache,
    created: bool,
}

impl TextEncoder {
    /// An encoder with empty buffers; they grow on the first encodings and are kept.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether OpenMetrics expositions carry counters' and histograms' `_created` samples
    /// (off by default, as OpenMetrics makes them optional). They need the registry to
    /// keep creation times ([`RegistryBuilder::created_timestamps`]); the text format
    /// 0.0.4 never has them.
    ///
    /// [`RegistryBuilder::created_timestamps`]: abacus::RegistryBuilder::created_timestamps
    pub fn created_samples(mut self, on: bool) -> Self {
        self.created = on;
        self
    }

    /// Clears `out` and fills it with the exposition of `registry` in the text format
    /// 0.0.4. The output is valid UTF-8.
    pub fn encode(&mut self, registry: &Registry, out: &mut Vec<u8>) {
        self.encode_as(registry, Format::Text, out);
    }

    /// Clears `out` and fills it with the exposition of `registry` in `format`. The
    /// output is valid UTF-8. An OpenMetrics exposition ends with `# EOF`, so that of an
    /// empty registry is that line alone; an empty text exposition is empty.
    pub fn encode_as(&mut self, registry: &Registry, format: Format, out: &mut Vec<u8>) {
        out.clear();
        self.cache.begin_visit();
        let mut renderer = Renderer {
            out,
            cache: &mut self.cache,
            format,
            position: 0,
            header_written: false,
            created: self.created,
        };
        registry.visit_with(&mut self.buffers, &mut renderer);
        self.cache.end_visit();
        if format == Format::OpenMetrics {
            out.extend_from_slice(b"# EOF\n");
        }
    }
}

impl fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextEncoder").finish_non_exhaustive()
    }
}

/// Renders `registry` in `format` into a new string. A caller that renders repeatedly
/// should keep a [`TextEncoder`] instead.
pub fn render(registry: &Registry, format: Format) -> String {
    let mut out = Vec::new();
    TextEncoder::new().encode_as(registry, format, &mut out);
    // The renderer only ever inserts ASCII between whole `&str`s, so this cannot fail; the
    // lossy fallback exists to avoid a panic path, not because it is reachable.
    match String::from_utf8(out) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

/// Renders `registry` in the text format 0.0.4 into a new string:
/// [`render`]`(registry, Format::Text)`.
pub fn render_text(registry: &Registry) -> String {
    render(registry, Format::Text)
}

/// Renders `registry` in OpenMetrics 1.0 into a new string:
/// [`render`]`(registry, Format::OpenMetrics)`.
pub fn render_openmetrics(registry: &Registry) -> String {
    render(registry, Format::OpenMetrics)
}

struct Renderer<'a> {
    out: &'a mut Vec<u8>,
    cache: &'a mut FamilyCache,
    format: Format,
    /// The position of the next series within the family being visited.
    position: usize,
    /// Whether the metadata lines of the name being visited are written: families that
    /// share a name ([`FamilyInfo::continues`]) write them once.
    header_written: bool,
    /// Whether OpenMetrics expositions carry `_created` samples.
    created: bool,
}

impl Visitor for Renderer<'_> {
    fn family(&mut self, info: FamilyInfo<'_>) {
        self.cache.enter(&info);
        self.position = 0;
        if !info.continues {
            self.header_written = false;
        }
    }

    fn series(&mut self, labels: &LabelValues, value: Value<'_>) {
        self.series_created(labels, value, None);
    }

    fn series_created(&mut self, labels: &LabelValues, value: Value<'_>, created: Option<f64>) {
        let Some(family) = self.cache.current() else {
            return;
        };
        let out = &mut *self.out;
        let format = self.format;
        let position = self.position;
        self.position += 1;
        if !self.header_written {
            out.extend_from_slice(family.header(format));
            self.header_written = true;
        }
        family.remember_series(position, labels);
        let family = &*family;
        let start = family.series_start(position);
        let start = match (format, family.openmetrics_total_at) {
            (Format::OpenMetrics, Some(name_len)) => {
                let (name, rest) = start.split_at(name_len.min(start.len()));
                out.extend_from_slice(name);
                out.extend_from_slice(b"_total");
                rest
            }
            _ => start,
        };
        match value {
            Value::Counter(n) => {
                out.extend_from_slice(start);
                write_u64_line(out, n);
            }
            Value::Gauge(n) => {
                out.extend_from_slice(start);
                write_i64(out, n);
                out.push(b'\n');
            }
            Value::Fixed { units, decimals } => {
                out.extend_from_slice(start);
                match format {
                    Format::Text => write_fixed(out, units, decimals),
                    Format::OpenMetrics => write_fixed_openmetrics(out, units, decimals),
                }
                out.push(b'\n');
            }
            Value::FloatGauge(v) => {
                out.extend_from_slice(start);
                write_value(out, format, v);
                out.push(b'\n');
            }
            Value::Histogram(histogram) => write_histogram(out, format, family, start, histogram),
        }
        let created = created.filter(|_| self.created && format == Format::OpenMetrics);
        if let (Some(created), Value::Counter(_) | Value::Fixed { .. } | Value::Histogram(_)) =
            (created, value)
        {
            write_created(out, family, position, created);
        }
    }
}

/// Writes a counter's or histogram's `_created` sample: the family name with `_created`,
/// the series' labels, and the time in seconds since the Unix epoch
/// (<https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md#counter-1>).
fn write_created(out: &mut Vec<u8>, family: &CachedFamily, position: usize, created: f64) {
    // A series' start is its first sample name, then its labels: closed for a counter,
    // left open for a histogram's buckets to add `le`.
    let start = family.series_start(position);
    let labels = start.get(family.names.first.len()..).unwrap_or_default();
    out.extend_from_slice(&family.names.created);
    out.extend_from_slice(labels);
    if family.histogram {
        write_close(out, family.labelled);
    }
    write_float_openmetrics(out, created);
    out.push(b'\n');
}

/// Writes a float sample value as `format` wants it.
#[inline]
fn write_value(out: &mut Vec<u8>, format: Format, value: f64) {
    match format {
        Format::Text => write_float(out, value),
        Format::OpenMetrics => write_float_openmetrics(out, value),
    }
}

/// Writes a histogram series: one bucket line per bound with its cumulative count, the
/// `+Inf` bucket, `_sum` and `_count`.
///
/// OpenMetrics forbids a NaN or negative sum, and any sum once a bound is negative; it
/// wants `_count` exactly when `_sum` is there
/// (<https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md#histogram-1>).
/// Such a series is written there with its buckets only, whose `+Inf` bucket still holds
/// the count. The text format has no such rule and always gets both.
fn write_histogram(
    out: &mut Vec<u8>,
    format: Format,
    family: &CachedFamily,
    start: &[u8],
    histogram: HistogramValue<'_>,
) {
    let le_suffixes = &family.le_suffixes;
    let bounds = le_suffixes.len() - 1;
    let finite = bounds.min(histogram.cumulative.len());
    for (index, &count) in histogram.cumulative[..finite].iter().enumerate() {
        write_bucket(out, start, le_suffixes, index, count);
    }
    // Written from the total count whatever the slice holds, so `_count` always equals it.
    write_bucket(out, start, le_suffixes, bounds, histogram.count());
    let sum = histogram.sum;
    if format == Format::OpenMetrics && (family.negative_bound || sum.is_nan() || sum < 0.0) {
        return;
    }
    let labels = start.get(family.names.first.len()..).unwrap_or_default();
    out.extend_from_slice(&family.names.sum);
    out.extend_from_slice(labels);
    write_close(out, family.labelled);
    write_value(out, format, sum);
    out.push(b'\n');
    out.extend_from_slice(&family.names.count);
    out.extend_from_slice(labels);
    write_close(out, family.labelled);
    write_u64_line(out, histogram.count());
}

/// Writes one bucket line: the series' start, its `le` label with the closing brace, and
/// the cumulative count.
#[inline]
fn write_bucket(out: &mut Vec<u8>, start: &[u8], le_suffixes: &Pieces, bucket: usize, count: u64) {
    out.extend_from_slice(start);
    le_suffixes.append(bucket, out);
    write_u64_line(out, count);
}
