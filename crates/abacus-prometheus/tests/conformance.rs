//! The rendering of a registry that exercises every escaping and number rule, in both
//! formats, checked by `check-exposition` (promtool, the Python client's parsers and the
//! specifications' rules), and this crate's parsers against the tool's sample expositions.

use std::path::{Path, PathBuf};
use std::process::Command;

use abacus::{Buckets, Desc, Registry};
use abacus_prometheus::parse::{parse_exposition, parse_openmetrics};
use abacus_prometheus::{render_openmetrics, render_text};

/// `../shared/tools` beside the repository, where CI and the workplace keep the tools.
fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools")
}

fn check_exposition_tool() -> PathBuf {
    let tool = tools_dir().join("check-exposition");
    assert!(
        tool.is_file(),
        "check-exposition not found at {}: it lives in ../shared/tools beside the repository \
         (see that directory's README.md); this test needs it and does not skip",
        tool.display()
    );
    tool
}

/// Families that exercise every escaping and number rule both formats share, with
/// constant labels that need escaping on every line.
fn every_rule_registry() -> Result<Registry, abacus::Error> {
    let registry = Registry::builder()
        .const_label("deployment", "blue \"canary\" C:\\x")
        .build()?;

    let escapes = registry.counter(
        Desc::new(
            "escapes_total",
            "Label values with specials: C:\\tmp, say \"hi\",\ta tab, ünï ✓\nand a second line \\",
        )
        .labels(["value", "other"]),
    )?;
    for value in [
        r"C:\tmp",
        r#"say "hi""#,
        "two\nlines",
        "ünï ✓",
        "tab\there",
        "trailing\\",
        r"\\leading",
        r#"\""#,
        "",
    ] {
        escapes.with_labels(&[value, "x"])?.inc();
    }

    let plain = registry.counter(Desc::new("plain", "Registered without _total."))?;
    plain.with_labels(&[])?.add((1 << 53) + 1);
    let big = registry.counter(Desc::new("big_total", "Saturated.").labels(["k"]))?;
    big.with_labels(&["max"])?.add(u64::MAX);

    let signed = registry.gauge(Desc::new("signed", "Integer gauge.").labels(["k"]))?;
    signed.with_labels(&["min"])?.set(i64::MIN);
    signed.with_labels(&["negative"])?.set(-42);
    signed.with_labels(&["max"])?.set(i64::MAX);

    let floats = registry.float_gauge(Desc::new("floats", "Float gauge.").labels(["k"]))?;
    for (name, value) in [
        ("nan", f64::NAN),
        ("pos_inf", f64::INFINITY),
        ("neg_inf", f64::NEG_INFINITY),
        ("tiny", 1e-10),
        ("third", 1.0 / 3.0),
        ("subnormal", 5e-324),
        ("max", f64::MAX),
        ("tenth", 0.1),
        ("hundred", 100.0),
        ("huge", 1e21),
        ("negative_zero", -0.0),
        ("mebi", 1048576.0),
    ] {
        floats.with_labels(&[name])?.set(value);
    }

    let cost =
        registry.fixed_counter(Desc::new("cost_dollars", "Fixed point.").labels(["k"]), 9)?;
    cost.with_labels(&["fraction"])?.add_units(48_080_000);
    cost.with_labels(&["zero"])?;
    cost.with_labels(&["max"])?.add_units(u64::MAX);
    cost.with_labels(&["whole"])?.add_units(2_000_000_000);

    let sizes = registry.histogram(
        Desc::new("size_bytes", "Histogram with odd bounds.")
            .unit("bytes")
            .labels(["kind"])
            .const_labels([("tier", "1")]),
        Buckets::new([0.005, 1.0, 10.0, 1048576.0, 1e10])?,
    )?;
    let quoted = sizes.with_labels(&["say \"hi\"\n"])?;
    for value in [0.001, 0.5, 3.0, 2e6, 5e10] {
        quoted.observe(value);
    }
    sizes.with_labels(&["empty"])?;

    registry.gauge(Desc::new("never_resolved", "No series.").labels(["k"]))?;
    Ok(registry)
}

/// Adds a histogram with a negative bound and a NaN sum: the text format writes its sum,
/// OpenMetrics forbids it there and leaves `_sum` and `_count` out, which the strict
/// checker's project rule (both present) refuses, so it is checked in text only; the
/// OpenMetrics tests check its rendering against the specification.
fn with_negative_bounds(registry: &Registry) -> Result<(), abacus::Error> {
    let offsets = registry.histogram(
        Desc::new(
            "offsets",
            "Histogram without labels, infinite bound, NaN sum.",
        ),
        Buckets::new([f64::NEG_INFINITY, 0.0, 1.0])?,
    )?;
    let offset = offsets.with_labels(&[])?;
    offset.observe(-3.0);
    offset.observe(f64::NAN);
    Ok(())
}

/// Runs `check-exposition --format <format>` over `rendering` written to a file.
fn check(format: &str, extension: &str, rendering: &str) {
    let tool = check_exposition_tool();
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "abacus-prometheus-every-rule-{}.{extension}",
        std::process::id()
    ));
    std::fs::write(&file, rendering).expect("write the rendering");
    let output = Command::new(&tool)
        .args(["--format", format])
        .arg(&file)
        .output()
        .unwrap_or_else(|error| panic!("running {}: {error}", tool.display()));
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "check-exposition exited with {}\n--- stdout\n{}\n--- stderr\n{}\n--- rendering\n{rendering}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

#[test]
fn check_exposition_accepts_a_text_rendering_of_every_rule() -> Result<(), abacus::Error> {
    let registry = every_rule_registry()?;
    with_negative_bounds(&registry)?;
    let text = render_text(&registry);
    // Read back first: a failure here is easier to read than the tool's.
    parse_exposition(&text).expect("the rendering parses");
    check("text", "prom", &text);
    Ok(())
}

#[test]
fn check_exposition_accepts_an_openmetrics_rendering_of_every_rule() -> Result<(), abacus::Error> {
    let openmetrics = render_openmetrics(&every_rule_registry()?);
    parse_openmetrics(&openmetrics).expect("the rendering parses");
    check("openmetrics", "om", &openmetrics);
    Ok(())
}

#[test]
fn the_parser_reads_the_tools_good_text_cases() {
    let cases = tools_dir().join("cases");
    let mut read = 0;
    let entries = std::fs::read_dir(&cases)
        .unwrap_or_else(|error| panic!("listing {}: {error}", cases.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !(name.contains("_good_") && name.ends_with(".prom")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a readable case");
        let exposition =
            parse_exposition(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        assert!(!exposition.samples.is_empty(), "{}", path.display());
        read += 1;
    }
    assert!(read > 0, "no *_good_*.prom cases in {}", cases.display());
}

#[test]
fn the_openmetrics_parser_reads_the_good_cases_and_refuses_the_bad() {
    let cases = tools_dir().join("cases");
    let (mut good, mut bad) = (0, 0);
    let entries = std::fs::read_dir(&cases)
        .unwrap_or_else(|error| panic!("listing {}: {error}", cases.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("om") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).expect("a readable case");
        let parsed = parse_openmetrics(&text);
        if name.contains("_good_") {
            let exposition = parsed.unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert!(!exposition.samples.is_empty(), "{}", path.display());
            good += 1;
        } else {
            assert!(parsed.is_err(), "{} parsed", path.display());
            bad += 1;
        }
    }
    assert!(
        good > 0 && bad > 0,
        "no OpenMetrics cases in {}",
        cases.display()
    );
}
