//! What the tests of this crate share: reading an exposition back into comparable series,
//! and the independent validators.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use abacus_prometheus::parse::{parse_exposition, Exposition, MetricType};

/// A sample's name and its labels, sorted by name.
pub(crate) type SeriesKey = (String, Vec<(String, String)>);

/// Parses `text` (failing the test on a parse error), checks that no series appears twice
/// and that every family's lines form one block, and returns every sample by series.
///
/// Empty label values are dropped and `le` values compared as numbers, which is how
/// Prometheus reads them: `x{a=""}` is `x`, and `le="1"` is `le="1.0"`.
pub(crate) fn series(text: &str) -> BTreeMap<SeriesKey, f64> {
    let exposition = parse(text);
    assert_families_are_contiguous(text, &exposition);
    let mut series = BTreeMap::new();
    for sample in exposition.samples {
        let mut labels: Vec<(String, String)> = sample
            .labels
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| {
                let value = match name.as_str() {
                    "le" => normalize_le(&value),
                    _ => value,
                };
                (name, value)
            })
            .collect();
        labels.sort();
        let key = (sample.name, labels);
        assert!(
            series.insert(key.clone(), sample.value).is_none(),
            "{key:?} appears twice in\n{text}"
        );
    }
    series
}

fn normalize_le(value: &str) -> String {
    match value {
        "+Inf" => "+Inf".to_owned(),
        other => other
            .parse::<f64>()
            .map_or_else(|_| other.to_owned(), |bound| bound.to_string()),
    }
}

/// Parses `text` with the project's parser, failing the test on an error.
pub(crate) fn parse(text: &str) -> Exposition {
    parse_exposition(text).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

/// The family a sample name belongs to, given the declared types.
fn family_of<'a>(name: &'a str, exposition: &Exposition) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(stem) = name.strip_suffix(suffix) {
            if exposition.metric_type(stem) == Some(MetricType::Histogram) {
                return stem;
            }
        }
    }
    name
}

/// Fails unless each family's `# HELP`, `# TYPE` and samples are one uninterrupted run of
/// lines, as the text format requires.
pub(crate) fn assert_families_are_contiguous(text: &str, exposition: &Exposition) {
    let mut finished: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let family = match line
            .strip_prefix("# HELP ")
            .or(line.strip_prefix("# TYPE "))
        {
            Some(rest) => rest.split(' ').next().unwrap_or_default().to_owned(),
            None => {
                let name_end = line.find(['{', ' ']).unwrap_or(line.len());
                family_of(&line[..name_end], exposition).to_owned()
            }
        };
        if current.as_deref() != Some(family.as_str()) {
            assert!(
                !finished.contains(&family),
                "the lines of {family} are split in\n{text}"
            );
            if let Some(done) = current.replace(family) {
                finished.push(done);
            }
        }
    }
}

/// The sample names of a rendering, each once, in order.
pub(crate) fn sample_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for sample in parse(text).samples {
        if !names.contains(&sample.name) {
            names.push(sample.name);
        }
    }
    names
}

/// `labels` as a sorted series key, for looking values up.
pub(crate) fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// `../shared/tools/check-exposition` beside the repository.
pub(crate) fn check_exposition_tool() -> PathBuf {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/check-exposition");
    assert!(
        tool.is_file(),
        "check-exposition not found at {}: it lives in ../shared/tools beside the repository; \
         this test needs it and does not skip",
        tool.display()
    );
    tool
}

/// Runs check-exposition on `text` in the text format, failing the test with its report
/// when it rejects it.
pub(crate) fn check_exposition(text: &str, label: &str) {
    let tool = check_exposition_tool();
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "abacus-metrics-{label}-{}.prom",
        std::process::id()
    ));
    std::fs::write(&file, text).expect("write the rendering");
    let output = Command::new(&tool)
        .args(["--format", "text"])
        .arg(&file)
        .output()
        .unwrap_or_else(|error| panic!("running {}: {error}", tool.display()));
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "check-exposition exited with {}\n--- stdout\n{}\n--- stderr\n{}\n--- rendering\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}
