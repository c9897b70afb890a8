//! What the encoder remembers between scrapes: every part of a family's exposition that
//! is not a value, rendered once.
//!
//! Everything about a family except its values is fixed once it exists: name, help, unit,
//! kind, label names, constant labels and bounds never change, and its series only ever
//! get appended, each with label values of its own for life. So the encoder renders those
//! parts once, keyed by family id and series position, and a warm scrape only copies
//! bytes and spells numbers. Sample lines are spelled the same in both formats; only the
//! metadata lines differ, so one cache serves both.

use abacus::{FamilyInfo, Kind, LabelValues};

use crate::escape::{write_help, write_help_openmetrics, write_label_value};
use crate::number::write_le;
use crate::Format;

/// Byte strings stored end to end in one buffer, so that many short ones cost two
/// allocations in all and are read back by index.
pub(crate) struct Pieces {
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
    pub(crate) fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    pub(crate) fn get(&self, index: usize) -> &[u8] {
        &self.bytes[self.bounds[index]..self.bounds[index + 1]]
    }

    /// Appends piece `index` to `out`.
    #[inline]
    pub(crate) fn append(&self, index: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.get(index));
    }

    /// Forgets every piece, keeping the memory.
    fn clear(&mut self) {
        self.bytes.clear();
        self.bounds.truncate(1);
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
pub(crate) struct FamilyCache {
    families: Vec<CachedFamily>,
    /// How many entries, from the front, this visit has reached so far.
    visited: usize,
}

impl FamilyCache {
    pub(crate) fn begin_visit(&mut self) {
        self.visited = 0;
    }

    /// Makes the entry for `info` the next visited one, creating it for a family not seen
    /// before or dropped since.
    pub(crate) fn enter(&mut self, info: &FamilyInfo<'_>) {
        let next = self.visited;
        match self.families[next..].iter().position(|f| f.id == info.id) {
            // Rotating keeps the unvisited entries in their order, so the ones after this
            // family stay where the next lookups expect them.
            Some(offset) => self.families[next..=next + offset].rotate_right(1),
            None => self.families.insert(next, CachedFamily::new(info)),
        }
        let entry = &mut self.families[next];
        if entry.generation != info.generation {
            // Series expired or took an expired one's place: positions moved.
            entry.generation = info.generation;
            entry.series_starts.clear();
        }
        self.visited += 1;
    }

    /// The entry of the family being visited.
    pub(crate) fn current(&mut self) -> Option<&mut CachedFamily> {
        let index = self.visited.checked_sub(1)?;
        self.families.get_mut(index)
    }

    /// Forgets the families this visit did not reach: they belong to another registry,
    /// and keeping them would let the cache grow without bound. No allocation happens.
    pub(crate) fn end_visit(&mut self) {
        self.families.truncate(self.visited);
    }
}

/// What never changes about one family, rendered once.
pub(crate) struct CachedFamily {
    id: u64,
    /// The family's generation when `series_starts` was rendered.
    generation: u64,
    /// The metadata lines of each format, written before the family's first series so
    /// that a family without series leaves no trace.
    text_header: Vec<u8>,
    openmetrics_header: Vec<u8>,
    pub(crate) names: SampleNames,
    /// For a counter whose text samples go without `_total`
    /// ([`FamilyInfo::total_suffix`]), the length of the family name, after which
    /// OpenMetrics, which requires the suffix, inserts it into every series' start.
    pub(crate) openmetrics_total_at: Option<usize>,
    /// The constant labels, escaped, from the opening brace on: `{region="eu"` (empty for
    /// a family without them). They come first in every series' labels.
    const_labels: Vec<u8>,
    /// What each label contributes before its escaped value: `{name="` for the first of
    /// the line, `,name="` for the others.
    label_leads: Pieces,
    /// Whether the family's lines have labels, so that they need a closing brace.
    pub(crate) labelled: bool,
    /// Whether its series are histograms, whose starts the `le` label continues.
    pub(crate) histogram: bool,
    /// Whether a histogram bound is negative, so that OpenMetrics allows no `_sum`.
    pub(crate) negative_bound: bool,
    /// For each histogram bound and then `+Inf`, the end of a bucket line's labels up to
    /// the count: `,le="0.25"} `, or `{le="0.25"} ` for a line without other labels.
    pub(crate) le_suffixes: Pieces,
    /// For the series at each position, how its lines start, with the label values
    /// escaped: for counters and gauges everything before the value, as in
    /// `requests_total{route="/api"} `; for histograms the bucket name and the labels that
    /// `le` continues, as in `latency_bucket{route="/api"`. Keeping the name with the
    /// labels saves a copy on most lines.
    series_starts: Pieces,
}

/// The names a family's sample lines start with.
pub(crate) struct SampleNames {
    /// The name that starts [`CachedFamily::series_starts`]: the family name, with
    /// `_total` for counters (unless [`FamilyInfo::total_suffix`] says otherwise) and
    /// `_bucket` for histograms.
    pub(crate) first: Vec<u8>,
    /// For histograms, the `_sum` and `_count` names; empty otherwise.
    pub(crate) sum: Vec<u8>,
    pub(crate) count: Vec<u8>,
    /// The name of OpenMetrics' `_created` samples.
    pub(crate) created: Vec<u8>,
}

impl SampleNames {
    fn new(info: &FamilyInfo<'_>) -> Self {
        let with_suffix = |suffix: &[u8]| [info.name.as_bytes(), suffix].concat();
        match info.kind {
            Kind::Counter => SampleNames {
                first: with_suffix(if info.total_suffix { b"_total" } else { b"" }),
                sum: Vec::new(),
                count: Vec::new(),
                created: with_suffix(b"_created"),
            },
            Kind::Gauge => SampleNames {
                first: with_suffix(b""),
                sum: Vec::new(),
                count: Vec::new(),
                created: Vec::new(),
            },
            Kind::Histogram => SampleNames {
                first: with_suffix(b"_bucket"),
                sum: with_suffix(b"_sum"),
                count: with_suffix(b"_count"),
                created: with_suffix(b"_created"),
            },
        }
    }
}

impl CachedFamily {
    fn new(info: &FamilyInfo<'_>) -> Self {
        let mut const_labels = Vec::new();
        for (index, (name, value)) in info.const_labels.iter().enumerate() {
            const_labels.push(if index == 0 { b'{' } else { b',' });
            const_labels.extend_from_slice(name.as_bytes());
            const_labels.extend_from_slice(b"=\"");
            write_label_value(&mut const_labels, value);
            const_labels.push(b'"');
        }
        let mut label_leads = Pieces::default();
        for (index, name) in info.label_names.iter().enumerate() {
            label_leads.push_with(|lead| {
                let first = index == 0 && const_labels.is_empty();
                lead.push(if first { b'{' } else { b',' });
                lead.extend_from_slice(name.as_bytes());
                lead.extend_from_slice(b"=\"");
            });
        }
        let labelled = !info.label_names.is_empty() || !const_labels.is_empty();
        CachedFamily {
            id: info.id,
            generation: info.generation,
            text_header: render_header(info, Format::Text),
            openmetrics_header: render_header(info, Format::OpenMetrics),
            names: SampleNames::new(info),
            openmetrics_total_at: (info.kind == Kind::Counter && !info.total_suffix)
                .then_some(info.name.len()),
            const_labels,
            label_leads,
            labelled,
            histogram: info.kind == Kind::Histogram,
            negative_bound: info.bounds.iter().any(|&bound| bound < 0.0),
            le_suffixes: render_le_suffixes(info.bounds, labelled),
            series_starts: Pieces::default(),
        }
    }

    /// The metadata lines in `format`.
    pub(crate) fn header(&self, format: Format) -> &[u8] {
        match format {
            Format::Text => &self.text_header,
            Format::OpenMetrics => &self.openmetrics_header,
        }
    }

    /// Renders the start of the series at `position` from `labels`, unless it already
    /// is: every visit brings the same series in the same order, new ones last.
    #[inline]
    pub(crate) fn remember_series(&mut self, position: usize, labels: &LabelValues) {
        if position < self.series_starts.len() {
            return;
        }
        let leads = &self.label_leads;
        let first_name = &self.names.first;
        let const_labels = &self.const_labels;
        let closed = !self.histogram;
        let labelled = self.labelled;
        self.series_starts.push_with(|out| {
            out.extend_from_slice(first_name);
            out.extend_from_slice(const_labels);
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
    pub(crate) fn series_start(&self, position: usize) -> &[u8] {
        // Every position up to this one has been remembered, so the minimum only keeps a
        // broken promise of the core from panicking.
        self.series_starts
            .get(position.min(self.series_starts.len() - 1))
    }
}

/// Closes a line's labels, if it has any, and writes the space before the value.
#[inline]
pub(crate) fn write_close(out: &mut Vec<u8>, labelled: bool) {
    if labelled {
        out.push(b'}');
    }
    out.push(b' ');
}

/// The metadata lines of a family. In the text format HELP and TYPE name what the samples
/// are called, so a counter's carry `_total` (unless it was registered with
/// [`Desc::exact_name`](abacus::Desc::exact_name)); OpenMetrics names the family, without it,
/// orders TYPE, UNIT, HELP as its specification recommends, and has a UNIT line
/// (<https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md#metricfamily-metadata>).
/// Empty help or unit gets no line; OpenMetrics treats an empty one as absent anyway.
fn render_header(info: &FamilyInfo<'_>, format: Format) -> Vec<u8> {
    let suffix: &[u8] = match (format, info.kind) {
        (Format::Text, Kind::Counter) if info.total_suffix => b"_total",
        _ => b"",
    };
    let name = [info.name.as_bytes(), suffix].concat();
    let type_line = |header: &mut Vec<u8>| {
        header.extend_from_slice(b"# TYPE ");
        header.extend_from_slice(&name);
        header.extend_from_slice(match info.kind {
            Kind::Counter => b" counter\n".as_slice(),
            Kind::Gauge => b" gauge\n",
            Kind::Histogram => b" histogram\n",
        });
    };
    let mut header = Vec::new();
    match format {
        Format::Text => {
            if !info.help.is_empty() {
                header.extend_from_slice(b"# HELP ");
                header.extend_from_slice(&name);
                header.push(b' ');
                write_help(&mut header, info.help);
                header.push(b'\n');
            }
            type_line(&mut header);
        }
        Format::OpenMetrics => {
            type_line(&mut header);
            if !info.unit.is_empty() {
                header.extend_from_slice(b"# UNIT ");
                header.extend_from_slice(&name);
                header.push(b' ');
                header.extend_from_slice(info.unit.as_bytes());
                header.push(b'\n');
            }
            if !info.help.is_empty() {
                header.extend_from_slice(b"# HELP ");
                header.extend_from_slice(&name);
                header.push(b' ');
                write_help_openmetrics(&mut header, info.help);
                header.push(b'\n');
            }
        }
    }
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
