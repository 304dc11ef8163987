//! A small SVG line chart: one metric's daily values against its target,
//! with vertical markers on chosen days. `revos demo` draws one per tenant.
//!
//! Written by hand on purpose: the chart has one data series, one
//! horizontal target line, a few markers, two axes and a legend, which is
//! about 150 lines of string building. A charting crate (plotters and the
//! like) would bring a font stack and a drawing backend for that, and its
//! output would be harder to test than a string we produce ourselves. Pure:
//! no I/O, the caller writes the file.

use chrono::NaiveDate;
use std::fmt::Write as _;

/// What to draw.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// The chart's title.
    pub title: String,
    /// The series' name (the metric), for the legend and the y axis.
    pub label: String,
    /// One value per day; `None` where the day has no value (the line
    /// breaks there).
    pub points: Vec<(NaiveDate, Option<f64>)>,
    /// The target, drawn as a dashed horizontal line.
    pub target: Option<f64>,
    /// Days to mark with a vertical line (the cycles).
    pub markers: Vec<NaiveDate>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 80.0;
const SERIES_COLOUR: &str = "#1f77b4";
const TARGET_COLOUR: &str = "#d62728";
const MARKER_COLOUR: &str = "#7f7f7f";

/// Renders the chart as a standalone SVG document.
pub fn render(chart: &LineChart) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let first = chart.points.iter().map(|(d, _)| *d).min();
    let last = chart.points.iter().map(|(d, _)| *d).max();
    let (first, last) = match (first, last) {
        (Some(f), Some(l)) => (f, l),
        _ => {
            let day = chart.markers.first().copied().unwrap_or_default();
            (day, day)
        }
    };
    let span = (last - first).num_days().max(1) as f64;
    let x = |d: NaiveDate| LEFT + (d - first).num_days() as f64 / span * plot_w;

    // The y range holds every value and the target, with a margin.
    let mut values: Vec<f64> = chart
        .points
        .iter()
        .filter_map(|(_, v)| *v)
        .filter(|v| v.is_finite())
        .collect();
    values.extend(chart.target.filter(|t| t.is_finite()));
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if !lo.is_finite() || !hi.is_finite() {
        (0.0, 1.0)
    } else if (hi - lo).abs() < f64::EPSILON {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - pad, hi + pad)
    } else {
        let pad = (hi - lo) * 0.08;
        (lo - pad, hi + pad)
    };
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * plot_h;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="24" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(&chart.title)
    );

    // Axes, with ticks and labels.
    let (x0, x1, y0, y1) = (LEFT, LEFT + plot_w, TOP, TOP + plot_h);
    for i in 0..=5 {
        let v = lo + (hi - lo) * f64::from(i) / 5.0;
        let ty = y(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" y1="{ty:.1}" x2="{x0:.1}" y2="{ty:.1}" stroke="black"/><line x1="{x0:.1}" y1="{ty:.1}" x2="{x1:.1}" y2="{ty:.1}" stroke="#eeeeee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 5.0,
            x0 - 8.0,
            ty + 4.0,
            compact(v)
        );
    }
    // The axes over the grid lines.
    let _ = writeln!(
        svg,
        r#"<path class="axes" d="M{x0:.1},{y0:.1} L{x0:.1},{y1:.1} L{x1:.1},{y1:.1}" fill="none" stroke="black"/>"#
    );
    let days = (last - first).num_days().max(0);
    let step = (days / 6).max(1);
    let mut day = 0;
    while day <= days {
        let d = first + chrono::Duration::days(day);
        let tx = x(d);
        let _ = writeln!(
            svg,
            r#"<line x1="{tx:.1}" y1="{y1:.1}" x2="{tx:.1}" y2="{:.1}" stroke="black"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            y1 + 5.0,
            y1 + 18.0,
            d.format("%m-%d")
        );
        day += step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">date</text>"#,
        LEFT + plot_w / 2.0,
        y1 + 36.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(&chart.label)
    );

    // Cycle markers.
    for m in &chart.markers {
        let mx = x(*m);
        let _ = writeln!(
            svg,
            r#"<line class="marker" x1="{mx:.1}" y1="{y0:.1}" x2="{mx:.1}" y2="{y1:.1}" stroke="{MARKER_COLOUR}" stroke-width="1"/>"#
        );
    }

    // The target.
    if let Some(t) = chart.target.filter(|t| t.is_finite()) {
        let ty = y(t);
        let _ = writeln!(
            svg,
            r#"<line class="target" x1="{x0:.1}" y1="{ty:.1}" x2="{x1:.1}" y2="{ty:.1}" stroke="{TARGET_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>"#
        );
    }

    // The series: a path that breaks where a day has no value.
    let mut d = String::new();
    let mut pen_down = false;
    let mut sorted = chart.points.clone();
    sorted.sort_by_key(|(day, _)| *day);
    for (day, value) in &sorted {
        match value.filter(|v| v.is_finite()) {
            Some(v) => {
                let _ = write!(
                    d,
                    "{}{:.1},{:.1} ",
                    if pen_down { "L" } else { "M" },
                    x(*day),
                    y(v)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !d.is_empty() {
        let _ = writeln!(
            svg,
            r#"<path class="series" d="{}" fill="none" stroke="{SERIES_COLOUR}" stroke-width="2"/>"#,
            d.trim_end()
        );
    }

    // The legend.
    let ly = HEIGHT - 18.0;
    let _ = writeln!(
        svg,
        r#"<g class="legend"><line x1="{LEFT:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{SERIES_COLOUR}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}</text><line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{TARGET_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}">{}</text><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{MARKER_COLOUR}"/><text x="{:.1}" y="{:.1}">cycle</text></g>"#,
        LEFT + 24.0,
        LEFT + 30.0,
        ly + 4.0,
        escape(&chart.label),
        LEFT + 240.0,
        LEFT + 264.0,
        LEFT + 270.0,
        ly + 4.0,
        match chart.target {
            Some(t) => format!("target ({})", compact(t)),
            None => "no target set".to_owned(),
        },
        LEFT + 420.0,
        ly - 7.0,
        LEFT + 420.0,
        ly + 7.0,
        LEFT + 428.0,
        ly + 4.0,
    );
    svg.push_str("</svg>\n");
    svg
}

/// A tick label: `1.2M`, `35.0k`, `0.123`.
fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, n).unwrap()
    }

    /// A minimal well-formedness check: every tag closes in order, and
    /// attribute quotes balance.
    fn well_formed(svg: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(open) = rest.find('<') {
            let close = rest[open..].find('>').ok_or("an unclosed `<`")? + open;
            let tag = &rest[open + 1..close];
            if !tag.matches('"').count().is_multiple_of(2) {
                return Err(format!("unbalanced quotes in <{tag}>"));
            }
            if let Some(name) = tag.strip_prefix('/') {
                let top = stack.pop().ok_or(format!("</{name}> closes nothing"))?;
                if top != name.trim() {
                    return Err(format!("</{name}> closes <{top}>"));
                }
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().ok_or("an empty tag")?;
                stack.push(name.to_owned());
            }
            rest = &rest[close + 1..];
        }
        if stack.is_empty() {
            Ok(())
        } else {
            Err(format!("unclosed: {stack:?}"))
        }
    }

    fn chart(points: Vec<(NaiveDate, Option<f64>)>) -> LineChart {
        LineChart {
            title: "Tenant B <pipeline & more>".into(),
            label: "pipeline_total".into(),
            points,
            target: Some(1_500_000.0),
            markers: vec![day(1), day(8)],
        }
    }

    #[test]
    fn draws_both_series_and_the_markers() {
        let points = (1..=10)
            .map(|n| (day(n), Some(1_000_000.0 + f64::from(n) * 10_000.0)))
            .collect();
        let svg = render(&chart(points));
        well_formed(&svg).unwrap();
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches(r#"class="series""#).count(), 1);
        assert_eq!(svg.matches(r#"class="target""#).count(), 1);
        assert!(svg.contains("stroke-dasharray"));
        assert_eq!(svg.matches(r#"class="marker""#).count(), 2);
        assert!(svg.contains("class=\"legend\""));
        assert!(svg.contains("&lt;pipeline &amp; more&gt;"));
        assert!(svg.contains("03-01"));
    }

    #[test]
    fn a_missing_value_breaks_the_line_without_nan() {
        let mut points: Vec<_> = (1..=10).map(|n| (day(n), Some(f64::from(n)))).collect();
        points[4].1 = None;
        points[7].1 = Some(f64::NAN);
        let svg = render(&chart(points));
        well_formed(&svg).unwrap();
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let series = svg
            .lines()
            .find(|l| l.contains(r#"class="series""#))
            .unwrap();
        // Three segments: days 1–4, 6–7, 9–10.
        assert_eq!(series.matches('M').count(), 3, "{series}");
    }

    #[test]
    fn no_values_and_no_target_still_draw() {
        let mut c = chart(vec![(day(1), None), (day(2), None)]);
        c.target = None;
        let svg = render(&c);
        well_formed(&svg).unwrap();
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert!(!svg.contains(r#"class="series""#));
        assert!(svg.contains("no target set"));
        let single = render(&chart(vec![(day(3), Some(5.0))]));
        well_formed(&single).unwrap();
        assert!(!single.contains("NaN"));
    }
}
