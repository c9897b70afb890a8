//! The text format 0.0.4 renderer: a [`Visitor`] that writes each family as it is visited.
//!
//! The format is specified at
//! <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>.
//!
//! Everything about a family except its values is fixed once it exists: name, help, kind,
//! label names and bounds never change, and its series only ever get appended, each with
//! label values of its own for life. So the encoder renders those parts once, keyed by
//! family id and series position, and a warm scrape only copies bytes and spells numbers.

use std::fmt;

use abacus::{
    FamilyInfo, HistogramValue, Kind, LabelValues, Registry, Value, VisitBuffers, Visitor,
};

use crate::escape::{write_help, write_label_value};
use crate::number::{write_fixed, write_float, write_i64, write_le, write_u64_line};

/// The `Content-Type` of a text format 0.0.4 exposition.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders registries in the Prometheus text format 0.0.4, reusing its working memory from
/// one call to the next: once it and the output buffer have grown to the registry's size,
/// an encoding allocates nothing at all.
///
/// The encoder remembers each family's header lines and each series' escaped labels, so
/// a scrape renders only the values and whatever is new since the last one. It forgets
/// the families the registry it last encoded does not have, so one encoder may serve
/// several registries in turn, though it does its best kept to one.
///
/// Families come in registration order and series in creation order, so the same registry
/// state always renders to the same bytes. A family without series is left out. Counter
/// samples, and their `# HELP` and `# TYPE` lines, carry the `_total` suffix (unless the
/// counter was registered with [`Desc::exact_name`](abacus::Desc::exact_name)). A family
/// with empty help text gets no `# HELP` line. Families that share a name
/// ([`Desc::shared_name`](abacus::Desc::shared_name)) render as one: one `# HELP` and
/// `# TYPE`, then the series of each in turn.
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
    cache: FamilyCache,
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
        self.cache.begin_visit();
        let mut renderer = Renderer {
            out,
            cache: &mut self.cache,
            position: 0,
            header_written: false,
        };
        registry.visit_with(&mut self.buffers, &mut renderer);
        self.cache.end_visit();
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

/// Byte strings stored end to end in one buffer, so that many short ones cost two
/// allocations in all and are read back by index.
struct Pieces {
    bytes: Vec<u8>,
    /// Where piece `i` starts is `bounds[i]` and where it ends `bounds[i + 1]`; the leading
    /// zero saves a branch on every read.
    bounds: Vec<usize>,
}

impl Default for Pieces {
    fn default() -> Self {
        Pieces {
            bytes: Vec::new(),
            bounds: vec![0],
        }
    }
}

impl Pieces {
    fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    fn get(&self, index: usize) -> &[u8] {
        &self.bytes[self.bounds[index]..self.bounds[index + 1]]
    }

    /// Appends piece `index` to `out`.
    #[inline]
    fn append(&self, index: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.get(index));
    }

    /// Appends the piece that `write` appends to the buffer.
    fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.bytes);
        self.bounds.push(self.bytes.len());
    }
}

/// The encoder's memory of the families it has rendered, in the order of the last visit.
///
/// A registry visits its families in the same order every time, so during a visit the
/// next entry is almost always the family that comes next; only the first visit of a
/// registry, or a new family, moves entries around.
#[derive(Default)]
struct FamilyCache {
    families: Vec<CachedFamily>,
    /// How many entries, from the front, this visit has reached so far.
    visited: usize,
}

impl FamilyCache {
    fn begin_visit(&mut self) {
        self.visited = 0;
    }

    /// Makes the entry for `info` the next visited one, creating it for a family not seen
    /// before or dropped since.
    fn enter(&mut self, info: &FamilyInfo<'_>) {
        let next = self.visited;
        match self.families[next..].iter().position(|f| f.id == info.id) {
            // Rotating keeps the unvisited entries in their order, so the ones after this
            // family stay where the next lookups expect them.
            Some(offset) => self.families[next..=next + offset].rotate_right(1),
            None => self.families.insert(next, CachedFamily::new(info)),
        }
        self.visited += 1;
    }

    /// The entry of the family being visited.
    fn current(&mut self) -> Option<&mut CachedFamily> {
        let index = self.visited.checked_sub(1)?;
        self.families.get_mut(index)
    }

    /// Forgets the families this visit did not reach: they belong to another registry,
    /// and keeping them would let the cache grow without bound. No allocation happens.
    fn end_visit(&mut self) {
        self.families.truncate(self.visited);
    }
}

/// What never changes about one family, rendered once.
struct CachedFamily {
    id: u64,
    /// `# HELP` and `# TYPE` lines, written before the family's first series so that a
    /// family without series leaves no trace.
    header: Vec<u8>,
    names: SampleNames,
    /// What each label contributes before its escaped value: `{name="` for the first,
    /// `,name="` for the others.
    label_leads: Pieces,
    /// Whether the family has labels, so that its sample lines need a closing brace.
    labelled: bool,
    /// Whether its series are histograms, whose starts the `le` label continues.
    histogram: bool,
    /// For each histogram bound and then `+Inf`, the end of a bucket line's labels up to
    /// the count: `,le="0.25"} `, or `{le="0.25"} ` for a family without labels.
    le_suffixes: Pieces,
    /// For the series at each position, how its lines start, with the label values
    /// escaped: for counters and gauges everything before the value, as in
    /// `requests_total{route="/api"} `; for histograms the bucket name and the labels that
    /// `le` continues, as in `latency_bucket{route="/api"`. Keeping the name with the
    /// labels saves a copy on most lines.
    series_starts: Pieces,
}

/// The names a family's sample lines start with.
struct SampleNames {
    /// The name that starts [`CachedFamily::series_starts`]: the family name, with
    /// `_total` for counters and `_bucket` for histograms.
    first: Vec<u8>,
    /// For histograms, the `_sum` and `_count` names; empty otherwise.
    sum: Vec<u8>,
    count: Vec<u8>,
}

impl SampleNames {
    fn new(info: &FamilyInfo<'_>) -> Self {
        let with_suffix = |suffix: &[u8]| [info.name.as_bytes(), suffix].concat();
        match info.kind {
            Kind::Counter | Kind::Gauge => SampleNames {
                first: with_suffix(sample_suffix(info)),
                sum: Vec::new(),
                count: Vec::new(),
            },
            Kind::Histogram => SampleNames {
                first: with_suffix(b"_bucket"),
                sum: with_suffix(b"_sum"),
                count: with_suffix(b"_count"),
            },
        }
    }
}

/// What a family's name takes in its `# HELP` and `# TYPE` lines and, but for histograms,
/// its samples.
fn sample_suffix(info: &FamilyInfo<'_>) -> &'static [u8] {
    match info.kind {
        Kind::Counter if info.total_suffix => b"_total",
        Kind::Counter | Kind::Gauge | Kind::Histogram => b"",
    }
}

impl CachedFamily {
    fn new(info: &FamilyInfo<'_>) -> Self {
        let mut label_leads = Pieces::default();
        for (index, name) in info.label_names.iter().enumerate() {
            label_leads.push_with(|lead| {
                lead.push(if index == 0 { b'{' } else { b',' });
                lead.extend_from_slice(name.as_bytes());
                lead.extend_from_slice(b"=\"");
            });
        }
        let labelled = !info.label_names.is_empty();
        CachedFamily {
            id: info.id,
            header: render_header(info),
            names: SampleNames::new(info),
            label_leads,
            labelled,
            histogram: info.kind == Kind::Histogram,
            le_suffixes: render_le_suffixes(info.bounds, labelled),
            series_starts: Pieces::default(),
        }
    }

    /// Renders the start of the series at `position` from `labels`, unless it already
    /// is: every visit brings the same series in the same order, new ones last.
    #[inline]
    fn remember_series(&mut self, position: usize, labels: &LabelValues) {
        if position < self.series_starts.len() {
            return;
        }
        let leads = &self.label_leads;
        let first_name = &self.names.first;
        let closed = !self.histogram;
        let labelled = self.labelled;
        self.series_starts.push_with(|out| {
            out.extend_from_slice(first_name);
            for (index, value) in labels.iter().enumerate().take(leads.len()) {
                out.extend_from_slice(leads.get(index));
                write_label_value(out, value);
                out.push(b'"');
            }
            if closed {
                write_close(out, labelled);
            }
        });
    }

    /// The start of the series at `position`, once remembered.
    fn series_start(&self, position: usize) -> &[u8] {
        // Every position up to this one has been remembered, so the minimum only keeps a
        // broken promise of the core from panicking.
        self.series_starts
            .get(position.min(self.series_starts.len() - 1))
    }
}

/// Closes a series' labels, if its family has any, and writes the space before the value.
fn write_close(out: &mut Vec<u8>, labelled: bool) {
    if labelled {
        out.push(b'}');
    }
    out.push(b' ');
}

fn render_header(info: &FamilyInfo<'_>) -> Vec<u8> {
    let name = [info.name.as_bytes(), sample_suffix(info)].concat();
    let mut header = Vec::new();
    if !info.help.is_empty() {
        header.extend_from_slice(b"# HELP ");
        header.extend_from_slice(&name);
        header.push(b' ');
        write_help(&mut header, info.help);
        header.push(b'\n');
    }
    header.extend_from_slice(b"# TYPE ");
    header.extend_from_slice(&name);
    header.extend_from_slice(match info.kind {
        Kind::Counter => b" counter\n".as_slice(),
        Kind::Gauge => b" gauge\n",
        Kind::Histogram => b" histogram\n",
    });
    header
}

fn render_le_suffixes(bounds: &[f64], labelled: bool) -> Pieces {
    let mut suffixes = Pieces::default();
    let lead: &[u8] = if labelled { b",le=\"" } else { b"{le=\"" };
    let les = bounds
        .iter()
        .map(|&bound| Some(bound))
        .chain(std::iter::once(None));
    for le in les {
        suffixes.push_with(|suffix| {
            suffix.extend_from_slice(lead);
            match le {
                Some(bound) => write_le(suffix, bound),
                None => suffix.extend_from_slice(b"+Inf"),
            }
            suffix.extend_from_slice(b"\"} ");
        });
    }
    suffixes
}

struct Renderer<'a> {
    out: &'a mut Vec<u8>,
    cache: &'a mut FamilyCache,
    /// The position of the next series within the family being visited.
    position: usize,
    /// Whether the `# HELP` and `# TYPE` lines of the name being visited are written:
    /// families that share a name ([`FamilyInfo::continues`]) write them once.
    header_written: bool,
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
        let Some(family) = self.cache.current() else {
            return;
        };
        let out = &mut *self.out;
        let position = self.position;
        self.position += 1;
        if !self.header_written {
            out.extend_from_slice(&family.header);
            self.header_written = true;
        }
        family.remember_series(position, labels);
        let family = &*family;
        let start = family.series_start(position);
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
                write_fixed(out, units, decimals);
                out.push(b'\n');
            }
            Value::FloatGauge(v) => {
                out.extend_from_slice(start);
                write_float(out, v);
                out.push(b'\n');
            }
            Value::Histogram(histogram) => write_histogram(out, family, start, histogram),
        }
    }
}

/// Writes a histogram series: one bucket line per bound with its cumulative count, the
/// `+Inf` bucket, `_sum` and `_count`.
fn write_histogram(
    out: &mut Vec<u8>,
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
    let labels = start.get(family.names.first.len()..).unwrap_or_default();
    out.extend_from_slice(&family.names.sum);
    out.extend_from_slice(labels);
    write_close(out, family.labelled);
    write_float(out, histogram.sum);
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
