//! Read models for people: what the dashboard shows of the optimizer.
//!
//! - [`Kernel::metric_summaries`]: every dictionary metric the tenant has
//!   values for, with its latest value and its target.
//! - [`Kernel::metric_chart`]: one metric's daily values against its target,
//!   with the days the optimizer's actions touched it (a change applied, a
//!   result judged successful or failed, a change reverted).
//! - [`Kernel::experiments`] and [`Kernel::experiment_report`]: the
//!   `experiment` actions and, for one, the report on its latest
//!   `experiment.results` event (`revos_optimizer::experiments::report`).
//!
//! All of them need `read` on the tenant and change nothing.

use crate::identity::auth::Principal;
use crate::{Failure, Kernel};
use chrono::{Duration, NaiveDate};
use revos_contracts::ErrorKind;
use revos_contracts::TenantId;
use revos_contracts::kernel_io::{Action, Targets};
use revos_contracts::metrics::{Direction, MetricUnit, dictionary, lookup};
use revos_optimizer::experiments::{self, Design, RESULTS_EVENT, Report};
use revos_store::cycles::{CycleFilter, OptimizationAction, OptimizationActionStatus};
use revos_store::identity::Scope;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The longest span a chart covers, in days.
pub const MAX_CHART_DAYS: i64 = 730;

/// How many of the newest cycles the experiment list and the chart's
/// markers look through.
const RECENT_CYCLES: u32 = 100;

/// A metric the tenant has values for.
#[derive(Debug, Clone, Serialize)]
pub struct MetricSummary {
    /// The metric id.
    pub metric: &'static str,
    /// Its human name.
    pub name: &'static str,
    /// Its unit.
    pub unit: MetricUnit,
    /// Which way is good.
    pub direction: Direction,
    /// The latest day with a value, and the value.
    pub latest: (NaiveDate, f64),
    /// The first value of the span, for the trend.
    pub first: (NaiveDate, f64),
    /// How many days of the span have a value.
    pub days: usize,
    /// The tenant's target (or limit) for it.
    pub target: Option<f64>,
}

/// What happened to a metric on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    /// An action's change was applied (its baseline recorded).
    Applied,
    /// An action on the metric was judged successful.
    Succeeded,
    /// An action on the metric was judged failed.
    Failed,
    /// An action's change was undone (an abort condition held).
    Reverted,
}

/// A marked day of a metric's chart.
#[derive(Debug, Clone, Serialize)]
pub struct MetricMark {
    /// The day.
    pub day: NaiveDate,
    /// What happened.
    pub kind: MarkKind,
    /// The cycle of the action.
    pub cycle_id: Uuid,
    /// The action's id within its cycle.
    pub action_id: String,
    /// The metric's value when the change was applied.
    pub baseline: f64,
    /// Its value when the action was judged.
    pub observed: Option<f64>,
    /// The judgement's confidence, 0–1.
    pub confidence: Option<f64>,
    /// The judgement: `successful`, `failed` or `inconclusive`.
    pub outcome: Option<String>,
}

/// One metric's daily values against its target.
#[derive(Debug, Clone, Serialize)]
pub struct MetricChart {
    /// The metric id.
    pub metric: &'static str,
    /// Its human name.
    pub name: &'static str,
    /// Its unit.
    pub unit: MetricUnit,
    /// Which way is good.
    pub direction: Direction,
    /// What it measures.
    pub definition: &'static str,
    /// Every day of the span, oldest first; `None` where there is no value.
    pub points: Vec<(NaiveDate, Option<f64>)>,
    /// The tenant's target (or limit), if set.
    pub target: Option<f64>,
    /// The days the optimizer's actions touched it, oldest first.
    pub marks: Vec<MetricMark>,
}

/// An `experiment` action.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentSummary {
    /// The stored action.
    pub action: OptimizationAction,
    /// The success metric, from the experiment's design.
    pub success_metric: Option<String>,
}

/// An experiment's report, or why there is none yet.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentView {
    /// The stored action.
    pub action: OptimizationAction,
    /// The action as the cycle planned it.
    pub spec: Option<Action>,
    /// The report on the latest results.
    pub report: Option<Report>,
    /// The event the report is computed from.
    pub results_event: Option<Uuid>,
    /// Why there is no report (no design, no results yet, unusable results).
    pub missing: Option<String>,
}

impl Kernel {
    /// The tenant's targets as stored (none when they do not parse: the
    /// cycle reports that, the pages show no target line).
    async fn targets(&self, tenant: TenantId) -> Result<Targets, Failure> {
        let config = self.store().get_optimizer_config(tenant).await?;
        Ok(serde_json::from_value(config.targets).unwrap_or_default())
    }

    /// Every dictionary metric with a tenant-wide value in the `days` days
    /// ending `today`, in dictionary order. Needs `read`.
    pub async fn metric_summaries(
        &self,
        by: &Principal,
        tenant: TenantId,
        today: NaiveDate,
        days: i64,
    ) -> Result<Vec<MetricSummary>, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        self.tenant(tenant).await?;
        let targets = self.targets(tenant).await?;
        let after = today - Duration::days(days.clamp(1, MAX_CHART_DAYS));
        let mut out = Vec::new();
        for d in dictionary() {
            let series = self.metric_series(tenant, d.id, Some(after), today).await?;
            let (Some(first), Some(latest)) = (series.first(), series.last()) else {
                continue;
            };
            out.push(MetricSummary {
                metric: d.id,
                name: d.name,
                unit: d.unit,
                direction: d.direction,
                latest: *latest,
                first: *first,
                days: series.len(),
                target: targets.for_metric(d.id),
            });
        }
        Ok(out)
    }

    /// One metric's daily values from `from` to `to` (inclusive, at most
    /// [`MAX_CHART_DAYS`]), its target, and the days the optimizer's
    /// actions touched it. Needs `read`; an unknown metric is a 400 that
    /// names the closest one.
    pub async fn metric_chart(
        &self,
        by: &Principal,
        tenant: TenantId,
        metric: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<MetricChart, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        let Some(definition) = lookup(metric) else {
            let hint = revos_contracts::metrics::closest(metric)
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Err(Failure::of(
                ErrorKind::Validation,
                format!("`{metric}` is not a metric of the dictionary{hint}"),
            ));
        };
        if from > to || (to - from).num_days() >= MAX_CHART_DAYS {
            return Err(Failure::of(
                ErrorKind::Validation,
                format!("the span {from} to {to} is empty or longer than {MAX_CHART_DAYS} days"),
            ));
        }
        self.tenant(tenant).await?;
        let values: BTreeMap<NaiveDate, f64> = self
            .metric_series(tenant, definition.id, from.pred_opt(), to)
            .await?
            .into_iter()
            .collect();
        let points = from
            .iter_days()
            .take_while(|d| *d <= to)
            .map(|d| (d, values.get(&d).copied()))
            .collect();
        let target = self.targets(tenant).await?.for_metric(definition.id);
        let marks = self.marks(tenant, definition.id, from, to).await?;
        Ok(MetricChart {
            metric: definition.id,
            name: definition.name,
            unit: definition.unit,
            direction: definition.direction,
            definition: definition.definition,
            points,
            target,
            marks,
        })
    }

    /// The days between `from` and `to` that the actions on `metric`
    /// were applied, judged or reverted.
    async fn marks(
        &self,
        tenant: TenantId,
        metric: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<MetricMark>, Failure> {
        let results: Vec<_> = self
            .store()
            .action_results(tenant, None, 1000)
            .await?
            .into_iter()
            .filter(|r| r.target_metric == metric)
            .collect();
        // The actions' names and statuses, cycle by cycle.
        let mut actions: HashMap<Uuid, OptimizationAction> = HashMap::new();
        let mut cycles: Vec<Uuid> = results.iter().map(|r| r.cycle_id).collect();
        cycles.sort();
        cycles.dedup();
        for cycle in cycles.into_iter().take(RECENT_CYCLES as usize) {
            for a in self.store().cycle_actions(tenant, cycle).await? {
                actions.insert(a.id, a);
            }
        }
        let within = |d: NaiveDate| d >= from && d <= to;
        let mut marks = Vec::new();
        for r in &results {
            let action = actions.get(&r.action_id);
            let mark = |day: NaiveDate, kind: MarkKind| MetricMark {
                day,
                kind,
                cycle_id: r.cycle_id,
                action_id: action.map_or_else(|| r.action_id.to_string(), |a| a.action_id.clone()),
                baseline: r.baseline_value,
                observed: r.observed_value,
                confidence: r.confidence,
                outcome: r.outcome.clone(),
            };
            let applied = r.baseline_recorded_at.date_naive();
            if within(applied) {
                marks.push(mark(applied, MarkKind::Applied));
            }
            let Some(measured) = r.measured_at.map(|t| t.date_naive()) else {
                continue;
            };
            let reverted = action.is_some_and(|a| a.status == OptimizationActionStatus::Reverted);
            let kind = match r.outcome.as_deref() {
                _ if reverted => MarkKind::Reverted,
                Some("successful") => MarkKind::Succeeded,
                Some("failed") => MarkKind::Failed,
                _ => continue,
            };
            if within(measured) {
                marks.push(mark(measured, kind));
            }
        }
        marks.sort_by_key(|m| m.day);
        Ok(marks)
    }

    /// The `experiment` actions of the tenant's newest cycles, newest
    /// first. Needs `read`.
    pub async fn experiments(
        &self,
        by: &Principal,
        tenant: TenantId,
    ) -> Result<Vec<ExperimentSummary>, Failure> {
        let cycles = self
            .cycles(
                by,
                tenant,
                &CycleFilter {
                    limit: Some(RECENT_CYCLES),
                    ..CycleFilter::default()
                },
            )
            .await?;
        let mut out = Vec::new();
        for cycle in cycles.items {
            for action in self.store().cycle_actions(tenant, cycle.id).await? {
                if action.action_type != "experiment" {
                    continue;
                }
                let success_metric = serde_json::from_value::<Action>(action.spec.clone())
                    .ok()
                    .and_then(|a| a.experiment.map(|e| e.success_metric));
                out.push(ExperimentSummary {
                    action,
                    success_metric,
                });
            }
        }
        Ok(out)
    }

    /// The report on one experiment action of a cycle, from its latest
    /// `experiment.results` event, or why there is none. Needs `read`;
    /// an action that is not one of the cycle's experiments is a 404.
    pub async fn experiment_report(
        &self,
        by: &Principal,
        tenant: TenantId,
        cycle: Uuid,
        action: Uuid,
    ) -> Result<ExperimentView, Failure> {
        let view = self.cycle(by, tenant, cycle).await?;
        let Some(action) = view
            .actions
            .into_iter()
            .find(|a| a.id == action && a.action_type == "experiment")
        else {
            return Err(Failure::not_found("experiment", &action.to_string()));
        };
        let spec = serde_json::from_value::<Action>(action.spec.clone()).ok();
        let mut out = ExperimentView {
            action,
            spec,
            report: None,
            results_event: None,
            missing: None,
        };
        let Some(design) = out.spec.as_ref().and_then(Design::of) else {
            out.missing = Some("the action has no experiment design".to_owned());
            return Ok(out);
        };
        let Some(event) = self.latest_results(&out.action).await? else {
            out.missing = Some(format!(
                "no {RESULTS_EVENT} event has been reported for this action yet"
            ));
            return Ok(out);
        };
        out.results_event = Some(event.id);
        match experiments::parse(&event.payload) {
            Ok(results) => out.report = Some(experiments::report(&results, &design)),
            Err(problems) => {
                out.missing = Some(format!(
                    "the latest {RESULTS_EVENT} ({}) is unusable: {}",
                    event.id,
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
        }
        Ok(out)
    }
}
