//! What the operator files need in tests: running promtool, finding the files, and the
//! metric names a PromQL expression mentions.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `docs/inference/` of the repository.
pub(crate) fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/inference")
}

/// Runs `promtool` with `args` and returns its output; panics when it cannot be run.
pub(crate) fn promtool(args: &[&str]) -> Output {
    Command::new("promtool")
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run promtool ({error}): these tests need it on the PATH (Debian's \
                 `prometheus` package; .ci/test installs it) and do not skip without it"
            )
        })
}

/// Runs `promtool` and panics with its output unless it succeeds.
pub(crate) fn promtool_succeeds(args: &[&str]) -> String {
    let output = promtool(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "promtool {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Functions and aggregations the operator files may call.
const FUNCTIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "topk",
    "bottomk",
    "clamp_min",
    "clamp_max",
    "abs",
];
/// Modifiers followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Binary operators and modifiers written as words.
const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset"];

/// The metric names `expr` selects, in order. Label names (in braces and in `by (...)`
/// lists), strings, ranges, numbers, Grafana variables and known functions are skipped.
///
/// # Panics
///
/// On an identifier called like a function that is not in `FUNCTIONS`: a typo or a
/// function this check does not know, either of which should be looked at.
pub(crate) fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let skip_until = |from: usize, close: char| {
        let mut j = from + 1;
        while j < chars.len() && chars[j] != close {
            j += if chars[j] == '\\' { 2 } else { 1 };
        }
        j + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            i = skip_until(i, c);
        } else if c == '[' {
            i = skip_until(i, ']');
        } else if c == '{' {
            braces += 1;
            i += 1;
        } else if c == '}' {
            braces = braces.saturating_sub(1);
            i += 1;
        } else if c == '$' {
            i += 1;
            if chars.get(i) == Some(&'{') {
                i = skip_until(i, '}');
            } else {
                while i < chars.len() && ident_char(chars[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if ident_start(c) {
            let start = i;
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let called = chars.get(next) == Some(&'(');
            if braces > 0 || KEYWORDS.contains(&word.as_str()) {
                continue;
            }
            if LABEL_LISTS.contains(&word.as_str()) {
                if called {
                    i = skip_until(next, ')');
                }
                continue;
            }
            if called || FUNCTIONS.contains(&word.as_str()) {
                assert!(
                    FUNCTIONS.contains(&word.as_str()),
                    "unknown function {word:?} in {expr:?}"
                );
                continue;
            }
            names.push(word);
        } else {
            i += 1;
        }
    }
    names
}
