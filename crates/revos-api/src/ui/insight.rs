//! The optimizer's pages: the tenant's metrics, each one's chart against
//! its target with the days actions touched it, and the experiments with
//! their GrowthBook-style reports.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{Duration, NaiveDate, Utc};
use revos_contracts::ErrorKind;
use revos_contracts::metrics::{Direction, MetricUnit};
use revos_kernel::Failure;
use revos_kernel::optimize::views::{MAX_CHART_DAYS, MarkKind, MetricChart, MetricMark};
use revos_lab::chart::{LineChart, Marker, MarkerKind};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::pages::{
    blank_is_none, failure, not_found, parse_tenant, signed_in, tenant_page, tenant_view,
};
use super::session::Visit;
use crate::AppState;

/// The span a metric page shows unless asked otherwise, in days.
const DEFAULT_DAYS: i64 = 90;

/// A value in its metric's unit, for people: `12.5%`, `48,200`, `14.2 d`.
pub(super) fn value_text(v: f64, unit: MetricUnit) -> String {
    match unit {
        MetricUnit::Ratio => format!("{:.1}%", v * 100.0),
        MetricUnit::Days => format!("{v:.1} d"),
        MetricUnit::Months => format!("{v:.1} mo"),
        MetricUnit::Multiple => format!("{v:.2}×"),
        MetricUnit::Count | MetricUnit::Currency => grouped(v),
    }
}

/// A number with thousands separators, two decimals below 100.
fn grouped(v: f64) -> String {
    if v.abs() < 100.0 && v.fract() != 0.0 {
        return format!("{v:.2}");
    }
    let whole = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

fn unit_name(unit: MetricUnit) -> &'static str {
    match unit {
        MetricUnit::Count => "count",
        MetricUnit::Currency => "reporting currency",
        MetricUnit::Ratio => "percent",
        MetricUnit::Days => "days",
        MetricUnit::Months => "months",
        MetricUnit::Multiple => "multiple",
    }
}

fn better_text(direction: Direction) -> &'static str {
    match direction {
        Direction::HigherIsBetter => "higher is better",
        Direction::LowerIsBetter => "lower is better",
    }
}

/// Whether a value meets its target, in the metric's better direction.
fn on_target(value: f64, target: Option<f64>, direction: Direction) -> Option<bool> {
    let t = target?;
    Some(match direction {
        Direction::HigherIsBetter => value >= t,
        Direction::LowerIsBetter => value <= t,
    })
}

/// `GET /t/{tenant_id}/metrics`: every metric with values in the last
/// 90 days, its latest value, its target and the trend.
pub(super) async fn metrics(
    State(state): State<AppState>,
    jar: Visit,
    Path(tenant_id): Path<String>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let today = Utc::now().date_naive();
    match state
        .kernel
        .metric_summaries(&session.principal, tenant, today, DEFAULT_DAYS)
        .await
    {
        Ok(list) => {
            let items: Vec<Value> = list
                .iter()
                .map(|m| {
                    let change = m.latest.1 - m.first.1;
                    json!({
                        "metric": m.metric, "name": m.name,
                        "unit": unit_name(m.unit), "better": better_text(m.direction),
                        "latest": value_text(m.latest.1, m.unit), "latest_day": m.latest.0,
                        "target": m.target.map(|t| value_text(t, m.unit)),
                        "on_target": on_target(m.latest.1, m.target, m.direction),
                        "trend": if m.days < 2 || change == 0.0 { "flat" } else if change > 0.0 { "up" } else { "down" },
                        "days": m.days,
                    })
                })
                .collect();
            tenant_view(
                &state,
                &session,
                tenant,
                "metrics.html",
                json!({"title": "Metrics", "items": items, "span": DEFAULT_DAYS}),
            )
            .await
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// The span a metric page asks for.
#[derive(Debug, Deserialize, Default)]
pub(super) struct Span {
    #[serde(default)]
    days: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// `GET /t/{tenant_id}/metrics/{metric}`: the metric's daily values against
/// its target over `days` days ending `to` (default: 90 days to today),
/// with markers for the actions that touched it.
pub(super) async fn metric(
    State(state): State<AppState>,
    jar: Visit,
    Path((tenant_id, metric)): Path<(String, String)>,
    span: Result<Query<Span>, QueryRejection>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let invalid = |message: String| {
        failure(
            Some(&session),
            Some(tenant),
            &Failure::of(ErrorKind::Validation, message),
        )
    };
    let Ok(Query(span)) = span else {
        return invalid("the span could not be read".to_owned());
    };
    let days = match blank_is_none(span.days).map(|d| d.parse::<i64>()) {
        None => DEFAULT_DAYS,
        Some(Ok(d)) if (7..=MAX_CHART_DAYS).contains(&d) => d,
        Some(_) => {
            return invalid(format!("days: a whole number from 7 to {MAX_CHART_DAYS}"));
        }
    };
    let to = match blank_is_none(span.to).map(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d")) {
        None => Utc::now().date_naive(),
        Some(Ok(d)) => d,
        Some(Err(_)) => return invalid("to: a day, YYYY-MM-DD".to_owned()),
    };
    let from = to - Duration::days(days - 1);
    match state
        .kernel
        .metric_chart(&session.principal, tenant, &metric, from, to)
        .await
    {
        Ok(chart) => {
            let svg = revos_lab::chart::render(&line_chart(&chart));
            let marks: Vec<Value> = chart
                .marks
                .iter()
                .map(|m| {
                    json!({"day": m.day, "kind": mark_name(m.kind), "action_id": m.action_id,
                           "cycle_id": m.cycle_id, "note": mark_note(m, chart.unit)})
                })
                .collect();
            let values: Vec<Value> = chart
                .points
                .iter()
                .rev()
                .filter_map(|(d, v)| {
                    v.map(|v| json!({"day": d, "value": value_text(v, chart.unit)}))
                })
                .collect();
            tenant_view(
                &state,
                &session,
                tenant,
                "metric.html",
                json!({
                    "title": chart.name,
                    "m": {
                        "id": chart.metric, "name": chart.name, "definition": chart.definition,
                        "unit": unit_name(chart.unit), "better": better_text(chart.direction),
                        "target": chart.target.map(|t| value_text(t, chart.unit)),
                    },
                    "svg": svg,
                    "marks": marks,
                    "values": values,
                    "from": from, "to": to, "days": days,
                    "spans": [30, 90, 180, 365],
                }),
            )
            .await
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

fn mark_name(kind: MarkKind) -> &'static str {
    match kind {
        MarkKind::Applied => "applied",
        MarkKind::Succeeded => "succeeded",
        MarkKind::Failed => "failed",
        MarkKind::Reverted => "reverted",
    }
}

/// What a marked day says, in the metric's unit.
fn mark_note(m: &MetricMark, unit: MetricUnit) -> String {
    let confidence = m
        .confidence
        .map(|c| format!(", confidence {:.0}%", c * 100.0))
        .unwrap_or_default();
    let moved = m
        .observed
        .map(|o| {
            format!(
                ": {} → {}",
                value_text(m.baseline, unit),
                value_text(o, unit)
            )
        })
        .unwrap_or_default();
    match m.kind {
        MarkKind::Applied => format!(
            "{} applied (baseline {})",
            m.action_id,
            value_text(m.baseline, unit)
        ),
        MarkKind::Succeeded => format!("{} succeeded{moved}{confidence}", m.action_id),
        MarkKind::Failed => format!("{} failed{moved}{confidence}", m.action_id),
        MarkKind::Reverted => format!(
            "{} reverted ({}){moved}",
            m.action_id,
            m.outcome.as_deref().unwrap_or("an abort condition held")
        ),
    }
}

/// The chart to draw for a metric.
fn line_chart(chart: &MetricChart) -> LineChart {
    LineChart {
        title: chart.name.to_owned(),
        label: chart.name.to_owned(),
        unit: Some(chart.unit),
        better: Some(chart.direction),
        points: chart.points.clone(),
        target: chart.target,
        markers: chart
            .marks
            .iter()
            .map(|m| Marker {
                day: m.day,
                kind: match m.kind {
                    MarkKind::Applied => MarkerKind::Applied,
                    MarkKind::Succeeded => MarkerKind::Succeeded,
                    MarkKind::Failed => MarkerKind::Failed,
                    MarkKind::Reverted => MarkerKind::Reverted,
                },
                note: mark_note(m, chart.unit),
            })
            .collect(),
    }
}

/// `GET /t/{tenant_id}/experiments`: the experiment actions of the newest
/// cycles, newest first.
pub(super) async fn experiments(
    State(state): State<AppState>,
    jar: Visit,
    Path(tenant_id): Path<String>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state.kernel.experiments(&session.principal, tenant).await {
        Ok(list) => {
            let items: Vec<Value> = list
                .iter()
                .map(|e| {
                    json!({
                        "id": e.action.id, "cycle_id": e.action.cycle_id,
                        "action_id": e.action.action_id, "status": e.action.status.as_str(),
                        "metric": e.success_metric.clone().unwrap_or_else(|| e.action.target_metric.clone()),
                        "owner": e.action.owner_subsystem, "created_at": e.action.created_at,
                    })
                })
                .collect();
            tenant_view(
                &state,
                &session,
                tenant,
                "experiments.html",
                json!({"title": "Experiments", "items": items}),
            )
            .await
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

/// `GET /t/{tenant_id}/cycles/{cycle_id}/experiments/{action_id}`: the
/// report on one experiment: per-arm units and conversion, the relative
/// lift with its interval, the p-value, the chance to win and the sample
/// ratio check.
pub(super) async fn experiment(
    State(state): State<AppState>,
    jar: Visit,
    Path((tenant_id, cycle_id, action_id)): Path<(String, String, String)>,
) -> Response {
    let session = match signed_in(&jar, "/experiment", &state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (Some(tenant), Ok(cycle), Ok(action)) = (
        parse_tenant(&tenant_id),
        cycle_id.parse::<Uuid>(),
        action_id.parse::<Uuid>(),
    ) else {
        return not_found(&session, "experiment");
    };
    match state
        .kernel
        .experiment_report(&session.principal, tenant, cycle, action)
        .await
    {
        Ok(view) => {
            let design = view.spec.as_ref().and_then(|s| s.experiment.as_ref());
            let unit = design
                .and_then(|d| revos_contracts::metrics::lookup(&d.success_metric))
                .map(|d| d.unit);
            let report = view.report.as_ref().map(|r| {
                let mean = |v: f64| {
                    if r.kind == "conversion" {
                        format!("{:.2}%", v * 100.0)
                    } else {
                        unit.map_or_else(|| format!("{v:.4}"), |u| value_text(v, u))
                    }
                };
                json!({
                    "metric": r.metric, "kind": r.kind,
                    "arms": r.arms.iter().map(|a| json!({
                        "name": a.name, "units": grouped(a.units),
                        "conversions": a.conversions.map(grouped),
                        "mean": mean(a.mean),
                        "share": format!("{:.1}%", a.share * 100.0),
                        "designed_share": format!("{:.0}%", a.designed_share * 100.0),
                    })).collect::<Vec<_>>(),
                    "lift": r.lift.map(pct),
                    "lift_up": r.lift.map(|l| l >= 0.0),
                    "ci": r.lift_ci.map(|(lo, hi)| format!("{} to {}", pct(lo), pct(hi))),
                    "p_value": r.p_value.map(|p| if p < 0.0001 { "< 0.0001".to_owned() } else { format!("{p:.4}") }),
                    "chance_to_win": r.chance_to_win.map(|c| format!("{:.1}%", c * 100.0)),
                    "srm_p": r.srm_p.map(|p| if p < 0.0001 { format!("{p:.1e}") } else { format!("{p:.4}") }),
                    "srm_warning": r.srm_warning,
                    "test_error": r.test_error,
                    "enough_units": r.enough_units,
                    "outcome": r.outcome,
                    "reason": r.reason,
                })
            });
            tenant_view(
                &state,
                &session,
                tenant,
                "experiment.html",
                json!({
                        "title": format!("Experiment {}", view.action.action_id),
                        "x": {
                            "id": view.action.id, "cycle_id": view.action.cycle_id,
                            "action_id": view.action.action_id, "status": view.action.status.as_str(),
                            "owner": view.action.owner_subsystem,
                            "notes": view.spec.as_ref().map(|s| s.notes_for_humans.clone()),
                        },
                        "design": design.map(|d| json!({
                            "metric": d.success_metric, "hypothesis": d.hypothesis,
                            "control_pct": d.control_group_pct,
                            "treatment_pct": d.treatment_group_pct, "min_sample_size": d.min_sample_size,
                            "direction": view.spec.as_ref().map(|s| s.expected_impact.direction),
                        })),
                        "report": report,
                        "results_event": view.results_event,
                        "missing": view.missing,
                    }),
                ).await
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_in_their_units() {
        assert_eq!(value_text(0.125, MetricUnit::Ratio), "12.5%");
        assert_eq!(value_text(48_200.0, MetricUnit::Currency), "48,200");
        assert_eq!(value_text(-1_234_567.4, MetricUnit::Currency), "-1,234,567");
        assert_eq!(value_text(12.0, MetricUnit::Count), "12");
        assert_eq!(value_text(2.5, MetricUnit::Count), "2.50");
        assert_eq!(value_text(14.16, MetricUnit::Days), "14.2 d");
        assert_eq!(value_text(3.0, MetricUnit::Multiple), "3.00×");
        assert_eq!(
            on_target(5.0, Some(4.0), Direction::LowerIsBetter),
            Some(false)
        );
        assert_eq!(on_target(5.0, None, Direction::LowerIsBetter), None);
    }
}
