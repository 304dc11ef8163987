//! `revos demo`: the optimization loop on simulated tenants A and B, day
//! by day, for a person to watch.
//!
//! [`Kernel::demo`] seeds tenants A and B as the validation loop does
//! (created if missing, optimizer config from the simulator's profile,
//! enforce mode, 30 days of history ending `days` days before today), then
//! simulates `days` days, the last one being today. Every day writes the
//! simulated day and measures the actions whose observation window ended
//! (`measure_actions(.., day, false)`), after reporting, for each executed
//! experiment whose window has just ended, the simulated split test's
//! cumulative totals as an `experiment.results` event (so experiments are
//! judged on their arms, see [`revos_optimizer::experiments`]); on day 1 and every seven days after
//! it (days 1, 8, 15, …) a forced manual cycle (trigger source `demo`)
//! runs, its actions are executed and the executed changes are applied to
//! the simulated world, which responds from the next day on.
//!
//! The cycle's analysis window ends on the simulated day, not on the
//! wall-clock day: the input is assembled with the simulated day as the
//! trigger time and then stamped with the real time (the contract wants a
//! trigger within the last 24 hours). It learns from results measured
//! since the first simulated day.
//!
//! The report carries what a person wants to read per cycle and, per
//! tenant, the daily series of the first cycle's priority metric for the
//! chart ([`crate::chart`]). It writes only to tenants A and B.

use crate::chart::{LineChart, Marker, MarkerKind};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use revos_contracts::kernel_io::{Action, Targets, Trigger, TriggerType};
use revos_contracts::{ErrorKind, TenantId};
use revos_kernel::identity::auth::Principal;
use revos_kernel::{Failure, Kernel};
use revos_sim::{Profile, Sim, SplitCounts, SplitTest};
use revos_store::cycles::OptimizationAction;
use revos_store::identity::Scope;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Days of history written before day 1.
const HISTORY_DAYS: u32 = crate::validation::HISTORY_DAYS;
/// A cycle runs on day 1 and every this many days after it.
pub const CYCLE_EVERY: u32 = 7;
/// The longest demo, in days.
pub const MAX_DAYS: u32 = 365;
/// The trigger source of the demo's cycles.
pub const SOURCE: &str = "demo";

/// One action a cycle proposed.
#[derive(Debug, Clone, Serialize)]
pub struct DemoAction {
    /// The output's `action_id`.
    pub action_id: String,
    /// `scale`, `reallocate`, `experiment`, ….
    pub action_type: String,
    /// The target entity (`campaign cmp_1`) or the metric when there is none.
    pub target: String,
    /// The planner's note for people.
    pub notes: String,
}

/// One measured action.
#[derive(Debug, Clone, Serialize)]
pub struct DemoResult {
    /// The output's `action_id`.
    pub action_id: String,
    /// The metric measured.
    pub target_metric: String,
    /// `successful`, `failed` or `inconclusive`.
    pub outcome: String,
    /// `completed`, `failed` or `reverted`.
    pub status: String,
    /// Observed minus baseline.
    pub delta: Option<f64>,
    /// The simulated day it was measured on.
    pub date: NaiveDate,
}

/// One cycle of the demo.
#[derive(Debug, Clone, Serialize)]
pub struct DemoCycle {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its name.
    pub tenant_name: String,
    /// The simulated day (1-based).
    pub day: u32,
    /// Its date.
    pub date: NaiveDate,
    /// The stored cycle.
    pub cycle_id: Uuid,
    /// `demand`, `conversion`, `economics` or `data_quality`.
    pub binding_constraint: String,
    /// The diagnosis' confidence (0–1).
    pub confidence: f64,
    /// The metric the cycle tries to move most.
    pub priority_metric: String,
    /// Its value on the day (the latest snapshot at or before it).
    pub value: Option<f64>,
    /// Its target or limit, when the tenant has one.
    pub target: Option<f64>,
    /// The diagnosis, for a person.
    pub diagnosis: String,
    /// The actions proposed (and executed).
    pub actions: Vec<DemoAction>,
    /// Actions measured since the tenant's previous cycle.
    pub results: Vec<DemoResult>,
}

/// One tenant's run.
#[derive(Debug, Clone, Serialize)]
pub struct DemoTenant {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its name.
    pub name: String,
    /// Its cycles, in order.
    pub cycles: Vec<DemoCycle>,
    /// Actions measured after the last cycle.
    pub results_after: Vec<DemoResult>,
    /// The first cycle's priority metric, day by day, against its target.
    pub chart: LineChartData,
}

/// The data of a tenant's chart.
#[derive(Debug, Clone, Serialize)]
pub struct LineChartData {
    /// The metric.
    pub metric: String,
    /// Its target, if any.
    pub target: Option<f64>,
    /// One value per simulated day (`None` without a snapshot).
    pub points: Vec<(NaiveDate, Option<f64>)>,
    /// The cycles' days.
    pub cycle_dates: Vec<NaiveDate>,
}

impl DemoTenant {
    /// The chart to draw.
    pub fn line_chart(&self) -> LineChart {
        let metric = &self.chart.metric;
        let definition = revos_contracts::metrics::lookup(metric);
        let name = definition.map_or_else(|| metric.clone(), |d| d.name.to_owned());
        let mut markers: Vec<Marker> = self
            .chart
            .cycle_dates
            .iter()
            .map(|day| Marker {
                day: *day,
                kind: MarkerKind::Cycle,
                note: "a cycle ran and applied its changes".to_owned(),
            })
            .collect();
        let results = self
            .cycles
            .iter()
            .flat_map(|c| &c.results)
            .chain(&self.results_after)
            .filter(|r| r.target_metric == *metric);
        for r in results {
            let kind = match (r.status.as_str(), r.outcome.as_str()) {
                ("reverted", _) => MarkerKind::Reverted,
                (_, "successful") => MarkerKind::Succeeded,
                (_, "failed") => MarkerKind::Failed,
                _ => continue,
            };
            markers.push(Marker {
                day: r.date,
                kind,
                note: format!("{} {} ({})", r.action_id, r.outcome, r.status),
            });
        }
        LineChart {
            title: format!("{}: {name}", self.name),
            label: name,
            unit: definition.map(|d| d.unit),
            better: definition.map(|d| d.direction),
            points: self.chart.points.clone(),
            target: self.chart.target,
            markers,
        }
    }
}

/// What [`Kernel::demo`] did.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Day 1.
    pub first_day: NaiveDate,
    /// The last simulated day (today).
    pub last_day: NaiveDate,
    /// Tenants A and B.
    pub tenants: Vec<DemoTenant>,
}

/// What the demo tells its caller as it goes.
#[derive(Debug)]
pub enum DemoProgress<'a> {
    /// A simulated day is written and measured.
    Day {
        /// 1-based.
        day: u32,
        /// Of this many.
        of: u32,
    },
    /// A cycle ran and its actions were executed.
    Cycle(&'a DemoCycle),
}

/// One tenant while the demo runs.
struct Run {
    profile: Profile,
    sim: Sim,
    targets: Targets,
    /// This run's actions, by stored id.
    actions: HashMap<Uuid, Action>,
    cycles: Vec<DemoCycle>,
    since_last: Vec<DemoResult>,
    /// The split tests of executed experiments not yet reported, by stored id.
    splits: HashMap<Uuid, RunningSplit>,
}

/// An executed experiment's split test, counted day by day.
struct RunningSplit {
    action: OptimizationAction,
    metric: String,
    test: SplitTest,
    /// The day it was executed; it counts from the next day.
    start: NaiveDate,
    window_days: u32,
    counts: SplitCounts,
}

/// Whether a cycle runs on this (1-based) day.
pub fn is_cycle_day(day: u32) -> bool {
    day >= 1 && (day - 1).is_multiple_of(CYCLE_EVERY)
}

/// An abort reverted a campaign change in the spine: the simulated world
/// gets its old value back too (the next day's write would otherwise
/// restore the change). Other changes have no value to restore.
fn undo_in_sim(sim: &mut Sim, spec: &Action) {
    let change = &spec.proposed_change;
    if !matches!(
        change.field.as_str(),
        "budget_total" | "status" | "budget_reallocation"
    ) {
        return;
    }
    let mut undo = spec.clone();
    undo.proposed_change.new_value = change.current_value.clone();
    for c in crate::validation::sim_changes(sim, &undo) {
        if let Err(e) = sim.apply(&c) {
            tracing::debug!(action = %spec.action_id, error = %e, "the simulator cannot undo a change");
        }
    }
}

/// Runs the demo (see the module docs) for `days` simulated days
/// (1–365), the last one being `today` (the calendar matters: the
/// simulator has weekend effects). Needs a platform admin: it creates
/// tenants A and B.
pub async fn demo(
    kernel: &Kernel,
    by: &Principal,
    days: u32,
    today: NaiveDate,
    mut progress: impl FnMut(DemoProgress<'_>),
) -> Result<DemoReport, Failure> {
    by.authorize_platform(Scope::Admin)?;
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(Failure::of(
            ErrorKind::Validation,
            format!("--days must be between 1 and {MAX_DAYS}, got {days}"),
        ));
    }
    let first_day = today - Duration::days(i64::from(days) - 1);
    let history_start = first_day - Duration::days(i64::from(HISTORY_DAYS));
    let learn_since = first_day.and_time(chrono::NaiveTime::MIN).and_utc();
    let mut runs = Vec::new();
    for profile in [Profile::tenant_a(), Profile::tenant_b()] {
        runs.push(seed_demo(kernel, profile, history_start).await?);
    }
    for day in 1..=days {
        let date = first_day + Duration::days(i64::from(day) - 1);
        progress(DemoProgress::Day { day, of: days });
        for run in &mut runs {
            let tenant = run.profile.tenant_id;
            let simulated = run.sim.step();
            crate::validation::write_day(kernel, tenant, &simulated).await?;
            report_splits(kernel, run, date).await?;
            let measured = kernel.measure_actions(by, tenant, date, false).await?;
            for m in measured.measured {
                run.splits.remove(&m.action);
                let Some(spec) = run.actions.get(&m.action) else {
                    continue;
                };
                if m.status == "reverted" {
                    undo_in_sim(&mut run.sim, spec);
                }
                run.since_last.push(DemoResult {
                    action_id: m.action_id,
                    target_metric: m.target_metric,
                    outcome: m.outcome,
                    status: m.status,
                    delta: m.delta,
                    date,
                });
            }
            if is_cycle_day(day) {
                let cycle = demo_cycle(kernel, by, run, day, date, learn_since).await?;
                progress(DemoProgress::Cycle(&cycle));
                run.cycles.push(cycle);
            }
        }
    }
    let mut tenants = Vec::new();
    for run in runs {
        tenants.push(demo_tenant(kernel, run, first_day, today).await?);
    }
    Ok(DemoReport {
        first_day,
        last_day: today,
        tenants,
    })
}

/// Creates the tenant if missing, sets its config and enforce mode,
/// cancels actions an earlier run left pending, and writes the history.
async fn seed_demo(
    kernel: &Kernel,
    profile: Profile,
    history_start: NaiveDate,
) -> Result<Run, Failure> {
    let tenant = profile.tenant_id;
    let store = kernel.store();
    crate::validation::simulated_tenant(kernel, tenant, &profile.name).await?;
    let parsed: revos_store::OptimizerConfig =
        serde_json::from_value(profile.optimizer_config()).map_err(|e| Failure::internal(&e))?;
    let targets: Targets =
        serde_json::from_value(parsed.targets.clone()).map_err(|e| Failure::internal(&e))?;
    store.put_optimizer_config(tenant, &parsed).await?;
    crate::validation::cancel_left_pending(kernel, tenant).await?;
    let mut sim = Sim::new(&profile, history_start);
    for day in sim.run(HISTORY_DAYS) {
        crate::validation::write_day(kernel, tenant, &day).await?;
    }
    Ok(Run {
        profile,
        sim,
        targets,
        actions: HashMap::new(),
        cycles: Vec::new(),
        since_last: Vec::new(),
        splits: HashMap::new(),
    })
}

/// Runs one cycle on the simulated day, executes its actions and applies
/// the executed changes to the simulated world.
async fn demo_cycle(
    kernel: &Kernel,
    by: &Principal,
    run: &mut Run,
    day: u32,
    date: NaiveDate,
    learn_since: DateTime<Utc>,
) -> Result<DemoCycle, Failure> {
    let tenant = run.profile.tenant_id;
    let trigger = Trigger {
        r#type: TriggerType::Manual,
        source: SOURCE.to_owned(),
        triggered_at: date.and_time(Utc::now().time()).and_utc().fixed_offset(),
    };
    let mut input = kernel
        .assemble_input(tenant, trigger, i64::from(HISTORY_DAYS), Some(learn_since))
        .await?;
    input.trigger.triggered_at = Utc::now().fixed_offset();
    let output = kernel.run_kernel(by, &input, true).await?;
    let executed = kernel.execute_pending(by, tenant, date).await?;
    let stored = kernel
        .store()
        .cycle_actions(tenant, output.cycle_id)
        .await?;
    run.actions.extend(stored.iter().filter_map(|a| {
        let spec = serde_json::from_value::<Action>(a.spec.clone()).ok()?;
        Some((a.id, spec))
    }));
    for action in &output.actions {
        let applied = executed
            .executed
            .iter()
            .any(|e| e.action_id == action.action_id && e.applied);
        if !applied {
            continue;
        }
        // The control rate is the world's before the change.
        if let (Some(test), Some(design), Some(stored)) = (
            crate::validation::sim_split(&run.sim, action),
            &action.experiment,
            stored.iter().find(|a| a.action_id == action.action_id),
        ) {
            run.splits.insert(
                stored.id,
                RunningSplit {
                    action: stored.clone(),
                    metric: design.success_metric.clone(),
                    test,
                    start: date,
                    window_days: action.observation_window_days,
                    counts: SplitCounts::default(),
                },
            );
        }
        for change in crate::validation::sim_changes(&run.sim, action) {
            if let Err(e) = run.sim.apply(&change) {
                tracing::debug!(action = %action.action_id, error = %e, "the simulator cannot apply a change");
            }
        }
    }
    let summary = &output.cycle_summary;
    let metric = summary.priority_metric.clone();
    let value = daily(
        kernel,
        tenant,
        &metric,
        date - Duration::days(i64::from(HISTORY_DAYS)),
        date,
    )
    .await?
    .into_values()
    .next_back();
    Ok(DemoCycle {
        tenant_id: tenant,
        tenant_name: run.profile.name.clone(),
        day,
        date,
        cycle_id: output.cycle_id,
        binding_constraint: summary.binding_constraint.as_str().to_owned(),
        confidence: summary.confidence,
        target: run.targets.for_metric(&metric),
        priority_metric: metric,
        value,
        diagnosis: summary.diagnosis.clone(),
        actions: output
            .actions
            .iter()
            .map(|a| DemoAction {
                action_id: a.action_id.clone(),
                action_type: a.r#type.as_str().to_owned(),
                target: match &a.target_entity {
                    Some(e) => format!("{} {}", e.r#type.as_str(), e.id),
                    None => a.target_metric.clone(),
                },
                notes: a.notes_for_humans.clone(),
            })
            .collect(),
        results: std::mem::take(&mut run.since_last),
    })
}

/// Adds the simulated day `date` to each running split test, and reports
/// those whose observation window ends that day (the day
/// `measure_actions` judges them).
async fn report_splits(kernel: &Kernel, run: &mut Run, date: NaiveDate) -> Result<(), Failure> {
    for split in run.splits.values_mut() {
        if date <= split.start {
            continue;
        }
        let day = run
            .sim
            .split_test_day(&split.test, &split.action.action_id, date);
        split.counts.add(&day);
        if (date - split.start).num_days() >= i64::from(split.window_days) {
            crate::validation::report_split(
                kernel,
                &split.action,
                &split.metric,
                &split.counts,
                date,
            )
            .await?;
        }
    }
    Ok(())
}

/// The tenant's part of the report, with its chart data.
async fn demo_tenant(
    kernel: &Kernel,
    run: Run,
    first_day: NaiveDate,
    last_day: NaiveDate,
) -> Result<DemoTenant, Failure> {
    let tenant = run.profile.tenant_id;
    let (metric, target) = match run.cycles.first() {
        Some(c) => (c.priority_metric.clone(), c.target),
        None => ("pipeline_total".to_owned(), run.targets.pipeline_total),
    };
    let values = daily(kernel, tenant, &metric, first_day, last_day).await?;
    let points = first_day
        .iter_days()
        .take_while(|d| *d <= last_day)
        .map(|d| (d, values.get(&d).copied()))
        .collect();
    Ok(DemoTenant {
        tenant_id: tenant,
        name: run.profile.name.clone(),
        chart: LineChartData {
            metric,
            target,
            points,
            cycle_dates: run.cycles.iter().map(|c| c.date).collect(),
        },
        cycles: run.cycles,
        results_after: run.since_last,
    })
}

/// The tenant-wide daily values of a metric from `from` to `to`
/// (inclusive); of two snapshots of one day, the newer.
async fn daily(
    kernel: &Kernel,
    tenant: TenantId,
    metric: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<NaiveDate, f64>, Failure> {
    Ok(kernel
        .metric_series(tenant, metric, from.pred_opt(), to)
        .await?
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_run_on_day_one_and_weekly() {
        let days: Vec<u32> = (1..=30).filter(|d| is_cycle_day(*d)).collect();
        assert_eq!(days, vec![1, 8, 15, 22, 29]);
        assert!(!is_cycle_day(0));
    }

    #[test]
    fn targets_map_to_their_metrics() {
        let t = Targets {
            pipeline_total: Some(1.0),
            bookings_new: Some(2.0),
            arr_target: None,
            cac_max: Some(3.0),
            payback_max_months: None,
            gross_margin_min: Some(0.7),
        };
        assert_eq!(t.for_metric("cac_blended"), Some(3.0));
        assert_eq!(t.for_metric("gross_margin"), Some(0.7));
        assert_eq!(t.for_metric("mql_to_sql_rate"), None);
    }
}
