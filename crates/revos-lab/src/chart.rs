//! A small SVG line chart: one metric's daily values against its target,
//! with markers on the days something happened to it (cycles that applied
//! changes, actions judged successful, failed or reverted). `revos demo`
//! draws one per tenant.
//!
//! Written by hand on purpose: the chart has one data series, one
//! horizontal target line, a few markers, two axes and a legend, which is
//! about 250 lines of string building. A charting crate (plotters and the
//! like) would bring a font stack and a drawing backend for that, and its
//! output would be harder to test than a string we produce ourselves. Pure:
//! no I/O, the caller writes the file.
//!
//! The y axis has round ticks (1, 2 or 5 times a power of ten) labelled in
//! the metric's unit (`25%`, `1.2M`, `14 d`, `2.5×`); the x axis has whole
//! days, weeks or months with the year on the first tick and wherever it
//! changes.

use chrono::{Datelike, NaiveDate};
use revos_contracts::metrics::{Direction, MetricUnit};
use std::fmt::Write as _;

/// What happened on a marked day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    /// A cycle ran and its changes were applied.
    Cycle,
    /// A change to the metric was applied.
    Applied,
    /// An action on the metric was judged successful.
    Succeeded,
    /// An action on the metric was judged failed.
    Failed,
    /// An action on the metric was reverted (an abort condition held).
    Reverted,
}

impl MarkerKind {
    fn colour(self) -> &'static str {
        match self {
            MarkerKind::Cycle => "#7f7f7f",
            MarkerKind::Applied => "#17becf",
            MarkerKind::Succeeded => "#2ca02c",
            MarkerKind::Failed => "#d62728",
            MarkerKind::Reverted => "#ff7f0e",
        }
    }

    fn name(self) -> &'static str {
        match self {
            MarkerKind::Cycle => "cycle (changes applied)",
            MarkerKind::Applied => "change applied",
            MarkerKind::Succeeded => "succeeded",
            MarkerKind::Failed => "failed",
            MarkerKind::Reverted => "reverted",
        }
    }

    fn class(self) -> &'static str {
        match self {
            MarkerKind::Cycle => "cycle",
            MarkerKind::Applied => "applied",
            MarkerKind::Succeeded => "succeeded",
            MarkerKind::Failed => "failed",
            MarkerKind::Reverted => "reverted",
        }
    }
}

/// A marked day.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// The day.
    pub day: NaiveDate,
    /// What happened.
    pub kind: MarkerKind,
    /// What to say about it (the SVG `<title>`, shown on hover).
    pub note: String,
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// The chart's title.
    pub title: String,
    /// The series' name (the metric's human name), for the legend and the
    /// y axis.
    pub label: String,
    /// The metric's unit, for the tick labels (`None`: plain numbers).
    pub unit: Option<MetricUnit>,
    /// Which way is good, said on the y axis.
    pub better: Option<Direction>,
    /// One value per day; `None` where the day has no value (the line
    /// breaks there).
    pub points: Vec<(NaiveDate, Option<f64>)>,
    /// The target, drawn as a dashed horizontal line.
    pub target: Option<f64>,
    /// Days to mark with a vertical line.
    pub markers: Vec<Marker>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 100.0;
const SERIES_COLOUR: &str = "#1f77b4";
const TARGET_COLOUR: &str = "#9467bd";

/// Round ticks covering `lo..=hi`: about `wanted` of them, a step of 1, 2
/// or 5 times a power of ten, the first and last on multiples of it.
fn nice_ticks(lo: f64, hi: f64, wanted: u32) -> Vec<f64> {
    let span = (hi - lo).abs().max(f64::MIN_POSITIVE);
    let raw = span / f64::from(wanted.max(1));
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).floor() * step;
    let last = (hi / step).ceil() * step;
    let n = ((last - first) / step).round() as i64;
    // Snap away float noise such as 0.6000000000000001: round to the
    // step's decimals.
    let scale = 10f64.powi((-step.log10().floor()).max(0.0) as i32);
    (0..=n.clamp(1, 50))
        .map(|i| ((first + step * i as f64) * scale).round() / scale)
        .collect()
}

/// A value in the metric's unit, short enough for a tick.
fn label(v: f64, unit: Option<MetricUnit>) -> String {
    match unit {
        Some(MetricUnit::Ratio) => {
            let pct = v * 100.0;
            if (pct - pct.round()).abs() < 1e-9 {
                format!("{pct:.0}%")
            } else {
                format!("{pct:.1}%")
            }
        }
        Some(MetricUnit::Days) => format!("{} d", compact(v)),
        Some(MetricUnit::Months) => format!("{} mo", compact(v)),
        Some(MetricUnit::Multiple) => format!("{}×", compact(v)),
        Some(MetricUnit::Count | MetricUnit::Currency) | None => compact(v),
    }
}

/// What the y axis says about the unit.
fn unit_text(unit: Option<MetricUnit>) -> &'static str {
    match unit {
        Some(MetricUnit::Currency) => " (reporting currency)",
        Some(MetricUnit::Ratio) => " (%)",
        Some(MetricUnit::Days) => " (days)",
        Some(MetricUnit::Months) => " (months)",
        Some(MetricUnit::Multiple) => " (×)",
        Some(MetricUnit::Count) => " (count)",
        None => "",
    }
}

/// Day ticks: every 1, 2 or 7 days, or every 14 or 28, whichever gives at
/// most about eight.
fn day_step(days: i64) -> i64 {
    [1, 2, 7, 14, 28, 56, 91, 182, 364]
        .into_iter()
        .find(|s| days / s <= 8)
        .unwrap_or(364)
}

/// Renders the chart as a standalone SVG document.
pub fn render(chart: &LineChart) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let first = chart.points.iter().map(|(d, _)| *d).min();
    let last = chart.points.iter().map(|(d, _)| *d).max();
    let (first, last) = match (first, last) {
        (Some(f), Some(l)) => (f, l),
        _ => {
            let day = chart.markers.first().map(|m| m.day).unwrap_or_default();
            (day, day)
        }
    };
    let span = (last - first).num_days().max(1) as f64;
    let x = |d: NaiveDate| LEFT + (d - first).num_days() as f64 / span * plot_w;

    // The y range holds every value and the target, on round ticks.
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
        (lo, hi)
    };
    let ticks = nice_ticks(lo, hi, 5);
    let (lo, hi) = (
        ticks.first().copied().unwrap_or(lo),
        ticks.last().copied().unwrap_or(hi),
    );
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * plot_h;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12" role="img" aria-label="{}">"#,
        escape(&chart.title)
    );
    let _ = writeln!(svg, "<title>{}</title>", escape(&chart.title));
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
    for v in &ticks {
        let ty = y(*v);
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" y1="{ty:.1}" x2="{x0:.1}" y2="{ty:.1}" stroke="black"/><line x1="{x0:.1}" y1="{ty:.1}" x2="{x1:.1}" y2="{ty:.1}" stroke="#eeeeee"/><text class="ytick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 5.0,
            x0 - 8.0,
            ty + 4.0,
            label(*v, chart.unit)
        );
    }
    // The axes over the grid lines.
    let _ = writeln!(
        svg,
        r#"<path class="axes" d="M{x0:.1},{y0:.1} L{x0:.1},{y1:.1} L{x1:.1},{y1:.1}" fill="none" stroke="black"/>"#
    );
    let days = (last - first).num_days().max(0);
    let step = day_step(days);
    let mut day = 0;
    let mut year = None;
    while day <= days {
        let d = first + chrono::Duration::days(day);
        let tx = x(d);
        let text = if year != Some(d.year()) {
            year = Some(d.year());
            d.format("%b %-d %Y").to_string()
        } else {
            d.format("%b %-d").to_string()
        };
        let _ = writeln!(
            svg,
            r#"<line x1="{tx:.1}" y1="{y1:.1}" x2="{tx:.1}" y2="{:.1}" stroke="black"/><text class="xtick" x="{tx:.1}" y="{:.1}" text-anchor="middle">{text}</text>"#,
            y1 + 5.0,
            y1 + 18.0,
        );
        day += step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">date</text>"#,
        LEFT + plot_w / 2.0,
        y1 + 36.0
    );
    let better = match chart.better {
        Some(Direction::HigherIsBetter) => " ↑ better",
        Some(Direction::LowerIsBetter) => " ↓ better",
        _ => "",
    };
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}{}{better}</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(&chart.label),
        unit_text(chart.unit)
    );

    // Markers: dashed for cycles, solid for judged actions.
    for m in &chart.markers {
        let mx = x(m.day);
        let dash = if m.kind == MarkerKind::Cycle {
            r#" stroke-dasharray="2 3""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<line class="marker {}" x1="{mx:.1}" y1="{y0:.1}" x2="{mx:.1}" y2="{y1:.1}" stroke="{}" stroke-width="1.5"{dash}><title>{}</title></line>"#,
            m.kind.class(),
            m.kind.colour(),
            escape(&format!("{}: {}", m.day, m.note))
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

    // The legend: the series, the target, and each kind of marker shown.
    let mut entries: Vec<(String, String)> = vec![
        (
            format!(r#"stroke="{SERIES_COLOUR}" stroke-width="2""#),
            chart.label.clone(),
        ),
        (
            format!(r#"stroke="{TARGET_COLOUR}" stroke-width="2" stroke-dasharray="6 4""#),
            match chart.target {
                Some(t) => format!("target ({})", label(t, chart.unit)),
                None => "no target set".to_owned(),
            },
        ),
    ];
    for kind in [
        MarkerKind::Cycle,
        MarkerKind::Applied,
        MarkerKind::Succeeded,
        MarkerKind::Failed,
        MarkerKind::Reverted,
    ] {
        if chart.markers.iter().any(|m| m.kind == kind) {
            let dash = if kind == MarkerKind::Cycle {
                r#" stroke-dasharray="2 3""#
            } else {
                ""
            };
            entries.push((
                format!(r#"stroke="{}" stroke-width="1.5"{dash}"#, kind.colour()),
                kind.name().to_owned(),
            ));
        }
    }
    let _ = write!(svg, r#"<g class="legend">"#);
    for (i, (stroke, text)) in entries.iter().enumerate() {
        let (col, row) = (i % 3, i / 3);
        let lx = LEFT + col as f64 * 220.0;
        let ly = HEIGHT - 44.0 + row as f64 * 20.0;
        let _ = write!(
            svg,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" {stroke}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            escape(text)
        );
    }
    svg.push_str("</g>\n</svg>\n");
    svg
}

/// A tick label: `1.2M`, `35k`, `0.12`.
fn compact(v: f64) -> String {
    let a = v.abs();
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if a >= 1e3 {
        format!("{}k", trim(format!("{:.2}", v / 1e3)))
    } else if a >= 10.0 || a == 0.0 {
        trim(format!("{v:.1}"))
    } else {
        trim(format!("{v:.3}"))
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
        let marker = |d, kind| Marker {
            day: day(d),
            kind,
            note: "cycle".into(),
        };
        LineChart {
            title: "Tenant B <pipeline & more>".into(),
            label: "Pipeline total".into(),
            unit: Some(MetricUnit::Currency),
            better: Some(Direction::HigherIsBetter),
            points,
            target: Some(1_500_000.0),
            markers: vec![marker(1, MarkerKind::Cycle), marker(8, MarkerKind::Failed)],
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
        assert_eq!(svg.matches(r#"class="marker "#).count(), 2);
        assert!(svg.contains(r#"class="marker cycle""#));
        assert!(svg.contains(r#"class="marker failed""#));
        assert!(svg.contains("class=\"legend\""));
        assert!(svg.contains("&lt;pipeline &amp; more&gt;"));
        // The year on the first date; round ticks in the metric's unit.
        assert!(svg.contains(">Mar 1 2026<"), "{svg}");
        assert!(svg.contains(">1.5M<"), "{svg}");
        assert!(
            svg.contains("Pipeline total (reporting currency) ↑ better"),
            "{svg}"
        );
        assert!(svg.contains("target (1.5M)"), "{svg}");
    }

    #[test]
    fn ticks_are_round_and_cover_the_values() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            nice_ticks(13.0, 97.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        let t = nice_ticks(1_003_000.0, 1_540_000.0, 5);
        assert_eq!(t.first(), Some(&1_000_000.0));
        assert_eq!(t.last(), Some(&1_600_000.0));
        assert!(
            t.windows(2).all(|w| (w[1] - w[0] - 200_000.0).abs() < 1e-6),
            "{t:?}"
        );
        assert_eq!(label(0.25, Some(MetricUnit::Ratio)), "25%");
        assert_eq!(label(0.125, Some(MetricUnit::Ratio)), "12.5%");
        assert_eq!(label(14.0, Some(MetricUnit::Days)), "14 d");
        assert_eq!(label(2.5, Some(MetricUnit::Multiple)), "2.5×");
        assert_eq!(label(35_000.0, Some(MetricUnit::Currency)), "35k");
        assert_eq!(label(1_250_000.0, None), "1.25M");
        assert_eq!(day_step(6), 1);
        assert_eq!(day_step(60), 7);
        assert_eq!(day_step(200), 28);
    }

    #[test]
    fn the_year_is_shown_where_it_changes() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        let points = vec![(d(2025, 12, 20), Some(1.0)), (d(2026, 1, 10), Some(2.0))];
        let svg = render(&chart(points));
        well_formed(&svg).unwrap();
        assert!(svg.contains(">Dec 20 2025<"), "{svg}");
        assert!(svg.contains(" 2026<"), "{svg}");
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
