//! The report's chart: panels of bars, one group per load and one bar per backend, each
//! the backend's difference to `off`, drawn as plain SVG.

use std::fmt::Write as _;

use crate::backend::Backend;

/// One panel of the chart.
pub(crate) struct Panel {
    pub(crate) title: &'static str,
    pub(crate) unit: &'static str,
    /// Per load: its name and one value per backend, `None` where not measured.
    pub(crate) groups: Vec<(String, Vec<Option<f64>>)>,
    /// Drawn as a dashed line.
    pub(crate) target: Option<f64>,
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart: a heading, `panels` stacked, and a legend of `backends`.
pub(crate) fn draw(
    heading: &str,
    target_percent: f64,
    backends: &[Backend],
    panels: &[Panel],
) -> String {
    let width = 1000.0;
    let panel_height = 280.0;
    let height = 70.0 + panel_height * panels.len() as f64 + 40.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">
<rect width="{width}" height="{height}" fill="#ffffff"/>
<text x="20" y="26" font-size="16" font-weight="bold">abacus-proxy: what each backend adds to off, per load{heading}</text>
<text x="20" y="46" fill="#555">Lower is better. Top: p99 latency added, in % of off's p99 (dashed: the {target_percent}% target). Bottom: proxy CPU time per request added, in µs.</text>"##
    );
    for (i, backend) in backends.iter().enumerate() {
        let x = 20.0 + 170.0 * i as f64;
        let _ = writeln!(
            svg,
            r##"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{backend}</text>"##,
            height - 28.0,
            color(*backend),
            x + 18.0,
            height - 18.0
        );
    }
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(
            &mut svg,
            60.0 + panel_height * i as f64,
            panel_height,
            width,
            panel,
            backends,
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn color(backend: Backend) -> &'static str {
    match backend {
        Backend::Off => "#999999",
        Backend::Abacus => "#2e9d4f",
        Backend::Prometheus => "#e6522c",
        Backend::Facade => "#6c5ce7",
        Backend::AbacusFacade => "#74a9cf",
    }
}

fn draw_panel(
    svg: &mut String,
    top: f64,
    height: f64,
    width: f64,
    panel: &Panel,
    backends: &[Backend],
) {
    let Panel {
        title,
        unit,
        groups,
        target,
    } = panel;
    let target = *target;
    let (left, right) = (90.0, width - 20.0);
    let (plot_top, plot_bottom) = (top + 30.0, top + height - 40.0);
    let values = groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().flatten().copied());
    let (mut lo, mut hi) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if let Some(target) = target {
        hi = hi.max(target * 1.2);
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let pad = (hi - lo) * 0.12;
    (lo, hi) = (if lo < 0.0 { lo - pad } else { lo }, hi + pad);
    let y = |v: f64| plot_bottom - (v - lo) / (hi - lo) * (plot_bottom - plot_top);
    let _ = writeln!(
        svg,
        r##"<text x="20" y="{:.1}" font-weight="bold">{}</text>
<line x1="{left}" y1="{:.1}" x2="{right}" y2="{:.1}" stroke="#333"/>"##,
        top + 18.0,
        escape(title),
        y(0.0),
        y(0.0)
    );
    for tick in ticks(lo, hi) {
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{:.1}" x2="{right}" y2="{:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}{unit}</text>"##,
            y(tick),
            y(tick),
            left - 6.0,
            y(tick) + 4.0,
            trim(tick)
        );
    }
    if let Some(target) = target {
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{:.1}" x2="{right}" y2="{:.1}" stroke="#000" stroke-width="1.5" stroke-dasharray="6 4"/>"##,
            y(target),
            y(target)
        );
    }
    let group_width = (right - left) / groups.len().max(1) as f64;
    let bar_width = group_width * 0.8 / backends.len().max(1) as f64;
    for (g, (name, bars)) in groups.iter().enumerate() {
        let group_left = left + group_width * g as f64 + group_width * 0.1;
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            group_left + group_width * 0.4,
            plot_bottom + 22.0,
            escape(name)
        );
        for (b, (value, backend)) in bars.iter().zip(backends).enumerate() {
            let Some(value) = value else { continue };
            let x = group_left + bar_width * b as f64;
            let (y0, y1) = (y(0.0), y(*value));
            let _ = writeln!(
                svg,
                r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="#222">{:.1}</text>"##,
                y0.min(y1),
                bar_width * 0.9,
                (y0 - y1).abs().max(0.5),
                color(*backend),
                x + bar_width * 0.45,
                if *value >= 0.0 { y1 - 3.0 } else { y1 + 11.0 },
                value
            );
        }
    }
}

/// About five round tick values between `lo` and `hi`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(magnitude * 10.0);
    let mut tick = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while tick <= hi && out.len() < 20 {
        out.push(tick);
        tick += step;
    }
    out
}

fn trim(value: f64) -> String {
    // A tick computed as -0.0 would print its sign.
    let value = if value == 0.0 { 0.0 } else { value };
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_never_negative_zero() {
        assert_eq!(trim(2.50), "2.5");
        assert_eq!(trim(-0.0), "0");
        assert_eq!(ticks(0.0, 10.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }

    #[test]
    fn a_chart_is_one_svg_with_a_bar_per_measured_value() {
        let panel = Panel {
            title: "p99 added (%)",
            unit: "%",
            groups: vec![("closed:1".into(), vec![Some(0.5), None])],
            target: Some(1.0),
        };
        let svg = draw("", 1.0, &[Backend::Abacus, Backend::Prometheus], &[panel]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<rect").count(), 1 + 2 + 1);
    }
}
