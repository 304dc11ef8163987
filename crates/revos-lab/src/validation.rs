//! The validation loop of seed 002 on test tenants A and B, driven by the
//! simulator (`revos-sim`).
//!
//! Five operations, run in order (`POST /v1/validation`, `revos validate`):
//!
//! 1. `run_cycle_1` — creates tenants A and B if they are missing, sets
//!    their optimizer config and enforce mode, writes 30 simulated days of
//!    history ending 15 days ago, and runs a cycle for each;
//! 2. `execute_actions` — moves the cycle's actions pending → executing,
//!    recording baselines and applying the changes;
//! 3. `record_results` — simulates the 14 days since, with the executed
//!    changes applied to the simulated world, writes them, reports each
//!    executing experiment's split test as an `experiment.results` event
//!    (see [`sim_split`]), and measures the actions (observed value, delta,
//!    outcome; completed or failed);
//! 4. `run_cycle_2` — runs the next cycle, which reads those results;
//! 5. `verify_all` — checks every criterion again.
//!
//! Each operation reads what it needs from the database (the cycles carry
//! their trigger source, `validation_cycle_1` / `validation_cycle_2`), and
//! the simulated world is rebuilt from its seed and the executed changes,
//! so the operations may be called one by one, by any server process.
//! Cycles of the loop are forced manual cycles: the loop runs two cycles
//! within minutes, which `CYCLE_TOO_RECENT` would otherwise refuse.

use chrono::{Duration, NaiveDate, Utc};
use revos_contracts::kernel_io::{Action, ActionType, KernelOutput, Trigger, TriggerType};
use revos_contracts::runtime::EventSubject;
use revos_contracts::{ErrorKind, TenantId};
use revos_kernel::identity::auth::Principal;
use revos_kernel::optimize::cycles::CycleRequest;
use revos_kernel::{Failure, Kernel};
use revos_sim::world::typical_moves;
use revos_sim::{Change, Day, Profile, Sim, SplitCounts, SplitTest};
use revos_store::cycles::{Cycle, CycleStatus, OptimizationAction, OptimizationActionStatus};
use revos_store::identity::Scope;
use revos_store::{
    Campaign, CampaignChannel, MetricPoint, Opportunity, OpportunityStatus, RevenueEvent,
    SnapshotSource,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Days of history written before cycle 1.
pub const HISTORY_DAYS: u32 = 30;
/// Days simulated between executing the actions and measuring them.
pub const OBSERVED_DAYS: u32 = 14;

const CYCLE_1: &str = "validation_cycle_1";
const CYCLE_2: &str = "validation_cycle_2";

/// One operation of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidationOp {
    /// Seed tenants A and B and run their first cycle.
    #[serde(rename = "run_cycle_1")]
    RunCycle1,
    /// Execute the first cycle's actions.
    ExecuteActions,
    /// Simulate the observation window and measure the actions.
    RecordResults,
    /// Run the second cycle.
    #[serde(rename = "run_cycle_2")]
    RunCycle2,
    /// Check every criterion.
    VerifyAll,
}

impl ValidationOp {
    /// The operations in order.
    pub const ALL: [ValidationOp; 5] = [
        ValidationOp::RunCycle1,
        ValidationOp::ExecuteActions,
        ValidationOp::RecordResults,
        ValidationOp::RunCycle2,
        ValidationOp::VerifyAll,
    ];

    /// As on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ValidationOp::RunCycle1 => "run_cycle_1",
            ValidationOp::ExecuteActions => "execute_actions",
            ValidationOp::RecordResults => "record_results",
            ValidationOp::RunCycle2 => "run_cycle_2",
            ValidationOp::VerifyAll => "verify_all",
        }
    }
}

/// One pass criterion of the validation loop, for one tenant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Criterion {
    /// The step it belongs to.
    pub step: ValidationOp,
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: TenantId,
    /// What is checked.
    pub name: String,
    /// Whether it holds.
    pub passed: bool,
    /// The evidence.
    pub detail: String,
}

/// What an operation did and found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StepReport {
    /// The operation.
    pub operation: ValidationOp,
    /// Its criteria (every criterion, for `verify_all`).
    pub criteria: Vec<Criterion>,
    /// Whether all of them hold.
    pub passed: bool,
}

fn report(op: ValidationOp, criteria: Vec<Criterion>) -> StepReport {
    StepReport {
        operation: op,
        passed: !criteria.is_empty() && criteria.iter().all(|c| c.passed),
        criteria,
    }
}

fn criterion(
    step: ValidationOp,
    tenant: TenantId,
    name: &str,
    passed: bool,
    detail: String,
) -> Criterion {
    Criterion {
        step,
        tenant_id: tenant,
        name: name.to_owned(),
        passed,
        detail,
    }
}

/// The simulated world's first day: history ends the day before the
/// executed changes start, `OBSERVED_DAYS` before the day of cycle 1.
fn sim_start(cycle_1_day: NaiveDate) -> NaiveDate {
    cycle_1_day - Duration::days(i64::from(HISTORY_DAYS + OBSERVED_DAYS))
}

/// The split test the simulated world runs for an executed `experiment`
/// action: the control arm converts at the world's current rate of the
/// success metric, the treatment arm at the rate the world's response to
/// the change gives it ([`revos_sim::world::typical_moves`]; the planner's
/// expected impact plays no part), split as designed, with the units that
/// enter that funnel step each day (visits, leads, MQLs, SQLs or closed
/// deals). `None` for other actions, and for a success metric that is not
/// a funnel rate of the simulator.
pub fn sim_split(sim: &Sim, action: &Action) -> Option<SplitTest> {
    if action.r#type != ActionType::Experiment {
        return None;
    }
    let design = action.experiment.as_ref()?;
    let rate = sim.funnel_rate(&design.success_metric)?;
    let change = &action.proposed_change;
    let effect = typical_moves(sim, &change.field, change.new_value.as_f64().unwrap_or(0.0))
        .into_iter()
        .find(|(m, _)| *m == design.success_metric)
        .map_or(0.0, |(_, r)| r);
    Some(SplitTest {
        control_rate: rate.rate,
        relative_effect: effect,
        control_share: design.control_group_pct,
        treatment_share: design.treatment_group_pct,
        daily_units: rate.daily_units.round().clamp(0.0, f64::from(u32::MAX)) as u32,
    })
}

/// The simulator's changes for an executed action: campaign budgets and
/// statuses as proposed; any other change as the world responds to it
/// ([`revos_sim::world::typical_moves`]: nothing for a change it has no
/// practice behind); an experiment exposes only its treatment arm, so the
/// world-wide move is that response times the treatment share.
pub fn sim_changes(sim: &Sim, action: &Action) -> Vec<Change> {
    let change = &action.proposed_change;
    let entity = action.target_entity.as_ref().map(|e| e.id.clone());
    let number = |v: &Value| v.as_f64();
    match (change.field.as_str(), entity) {
        ("budget_total", Some(id)) => number(&change.new_value)
            .map(|b| {
                vec![Change::CampaignBudget {
                    campaign_id: id,
                    budget_total: b,
                }]
            })
            .unwrap_or_default(),
        ("status", Some(id)) => change
            .new_value
            .as_str()
            .map(|s| {
                vec![Change::CampaignStatus {
                    campaign_id: id,
                    status: s.to_owned(),
                }]
            })
            .unwrap_or_default(),
        ("budget_reallocation", _) => ["from", "to"]
            .iter()
            .filter_map(|side| {
                let part = change.new_value.get(side)?;
                Some(Change::CampaignBudget {
                    campaign_id: part.get("campaign_id")?.as_str()?.to_owned(),
                    budget_total: part.get("budget_total")?.as_f64()?,
                })
            })
            .collect(),
        _ => {
            let exposed = match (&action.r#type, &action.experiment) {
                (ActionType::Experiment, Some(e)) => {
                    e.treatment_group_pct.clamp(0.0, 100.0) / 100.0
                }
                _ => 1.0,
            };
            typical_moves(sim, &change.field, number(&change.new_value).unwrap_or(0.0))
                .into_iter()
                .map(|(metric_id, relative)| Change::Rate {
                    metric_id,
                    relative: relative * exposed,
                })
                .collect()
        }
    }
}

/// Reports a simulated split test's cumulative totals for `action` as
/// an `experiment.results` event, as its owner subsystem would
/// (idempotent per action and day `through`, the last day counted).
pub(crate) async fn report_split(
    kernel: &Kernel,
    action: &OptimizationAction,
    metric: &str,
    counts: &SplitCounts,
    through: NaiveDate,
) -> Result<(), Failure> {
    let input = revos_kernel::runtime::EventInput {
        id: None,
        tenant_id: Some(action.tenant_id),
        r#type: revos_optimizer::experiments::RESULTS_EVENT.to_owned(),
        source: "revos.sim".to_owned(),
        idempotency_key: Some(format!(
            "{}:{}:{through}",
            revos_optimizer::experiments::RESULTS_EVENT,
            action.id
        )),
        correlation_id: Some(action.cycle_id.to_string()),
        subject: Some(EventSubject {
            r#type: revos_optimizer::experiments::SUBJECT_TYPE.to_owned(),
            id: action.id.to_string(),
        }),
        payload: serde_json::json!({
            "metric": metric,
            "variants": [
                {"name": "control", "units": counts.control.units,
                 "conversions": counts.control.conversions},
                {"name": "treatment", "units": counts.treatment.units,
                 "conversions": counts.treatment.conversions},
            ],
        }),
        occurred_at: None,
        recorded_at: None,
    };
    kernel.ingest(&Principal::Service, &input, None).await?;
    Ok(())
}

/// Writes one simulated day into the tenant's spine and snapshots.
pub(crate) async fn write_day(kernel: &Kernel, tenant: TenantId, day: &Day) -> Result<(), Failure> {
    let store = kernel.store();
    let points: Vec<MetricPoint> = day
        .metrics
        .iter()
        .map(|(id, value)| MetricPoint {
            metric_id: id.clone(),
            date: day.date,
            value: *value,
            dimension: BTreeMap::new(),
        })
        .collect();
    store
        .upsert_metric_snapshots(tenant, &points, SnapshotSource::Imported)
        .await?;
    let campaigns: Vec<Campaign> = day
        .campaigns
        .iter()
        .map(|c| Campaign {
            id: c.id.clone(),
            name: c.name.clone(),
            status: c.status.clone(),
            objective: c.objective.clone(),
            budget_total: c.budget_total,
            budget_spent: c.budget_spent,
            start_date: c.start_date,
            end_date: c.end_date,
            channels: vec![CampaignChannel {
                channel: c.channel.clone(),
                status: c.status.clone(),
                budget_total: c.budget_total,
                budget_spent: c.budget_spent,
            }],
        })
        .collect();
    if !campaigns.is_empty() {
        store.upsert_campaigns(tenant, &campaigns).await?;
    }
    let opportunities: Vec<Opportunity> = day
        .opportunities
        .iter()
        .map(|o| Opportunity {
            id: o.id.clone(),
            account_id: Some(o.account_id.clone()),
            name: None,
            stage: o.stage.clone(),
            status: match o.status.as_str() {
                "won" => OpportunityStatus::Won,
                "lost" => OpportunityStatus::Lost,
                _ => OpportunityStatus::Open,
            },
            amount: o.amount,
            expected_close_date: o.expected_close_date,
            win_probability: o.win_probability,
            source_campaign_id: o.source_campaign_id.clone(),
            owner: None,
            created_date: Some(o.created_date),
            closed_date: (o.status != "open").then_some(day.date),
        })
        .collect();
    if !opportunities.is_empty() {
        store.upsert_opportunities(tenant, &opportunities).await?;
    }
    let events: Vec<RevenueEvent> = day
        .revenue_events
        .iter()
        .map(|e| RevenueEvent {
            id: e.id.clone(),
            event_type: e.event_type.clone(),
            amount: e.amount,
            effective_date: e.effective_date,
            attributed_campaign_id: e.attributed_campaign_id.clone(),
            attributed_channel: e.attributed_channel.clone(),
            account_id: None,
            opportunity_id: e.opportunity_id.clone(),
        })
        .collect();
    if !events.is_empty() {
        store.upsert_revenue_events(tenant, &events).await?;
    }
    Ok(())
}

/// The loop's cycle with this trigger source, the newest first.
async fn validation_cycle(
    kernel: &Kernel,
    tenant: TenantId,
    source: &str,
) -> Result<Option<Cycle>, Failure> {
    let cycles = match kernel.store().list_cycles(tenant, 1000).await {
        // Tenants A and B are made by `run_cycle_1`.
        Err(revos_store::StoreError::TenantNotFound(_)) => return Ok(None),
        other => other?,
    };
    Ok(cycles
        .into_iter()
        .find(|c| c.trigger_source == source && c.status == CycleStatus::Completed))
}

/// The day of the current run: the last day of its cycle 1's analysis
/// window (`None` before any run). A `given` day other than it is refused.
async fn run_day(
    kernel: &Kernel,
    tenant: TenantId,
    given: Option<NaiveDate>,
) -> Result<Option<NaiveDate>, Failure> {
    let Some(one) = validation_cycle(kernel, tenant, CYCLE_1).await? else {
        return Ok(None);
    };
    let day: NaiveDate = serde_json::from_value(one.input["analysis_window"]["end_date"].clone())
        .map_err(|e| {
        Failure::internal(&format!("cycle {} has no analysis window: {e}", one.id))
    })?;
    match given {
        Some(other) if other != day => Err(Failure::of(
            ErrorKind::Conflict,
            format!(
                "this validation run is on {day} (the day its run_cycle_1 ran on), not {other}: \
                 give the same today to every operation of a run, or run run_cycle_1 with \
                 today {other} to start a run on that day"
            ),
        )),
        _ => Ok(Some(day)),
    }
}

async fn need_cycle(
    kernel: &Kernel,
    tenant: TenantId,
    source: &str,
    op: ValidationOp,
) -> Result<Cycle, Failure> {
    validation_cycle(kernel, tenant, source)
        .await?
        .ok_or_else(|| {
            Failure::of(
                ErrorKind::Conflict,
                format!(
                    "{} needs {} to have run for tenant {tenant}: run the operations in order",
                    op.as_str(),
                    if source == CYCLE_1 {
                        "run_cycle_1"
                    } else {
                        "run_cycle_2"
                    }
                ),
            )
        })
}

/// Runs one operation of the loop (see the module docs). A run has one
/// day: `run_cycle_1` starts it on `today` (default: today, UTC; the
/// simulated history ends the day before, and the calendar matters, the
/// simulator has weekend effects); the later operations run on that same
/// day, and a different `today` for them is refused (409) rather than mixed
/// into the run. Needs a platform admin (it creates tenants A and B).
pub async fn validation(
    kernel: &Kernel,
    by: &Principal,
    op: ValidationOp,
    today: Option<NaiveDate>,
) -> Result<StepReport, Failure> {
    by.authorize_platform(Scope::Admin)?;
    let profiles = [Profile::tenant_a(), Profile::tenant_b()];
    let today = match op {
        ValidationOp::RunCycle1 => today.unwrap_or_else(|| Utc::now().date_naive()),
        _ => run_day(kernel, profiles[0].tenant_id, today)
            .await?
            .unwrap_or_else(|| Utc::now().date_naive()),
    };
    let mut criteria = Vec::new();
    for profile in &profiles {
        let tenant = profile.tenant_id;
        match op {
            ValidationOp::RunCycle1 => {
                criteria.push(run_cycle_1(kernel, by, profile, today).await?);
            }
            ValidationOp::ExecuteActions => {
                let cycle = need_cycle(kernel, tenant, CYCLE_1, op).await?;
                let day = today - Duration::days(i64::from(OBSERVED_DAYS));
                kernel.execute_pending(by, tenant, day).await?;
                criteria.push(check_executed(kernel, tenant, &cycle).await?);
            }
            ValidationOp::RecordResults => {
                let cycle = need_cycle(kernel, tenant, CYCLE_1, op).await?;
                simulate_observation(kernel, profile, &cycle, today).await?;
                kernel.measure_actions(by, tenant, today, true).await?;
                criteria.push(check_measured(kernel, tenant, &cycle).await?);
            }
            ValidationOp::RunCycle2 => {
                let one = need_cycle(kernel, tenant, CYCLE_1, op).await?;
                // Learning from this run's results only: an earlier run
                // on the same database measured the same changes. Results
                // are stamped on `today` at the clock's time of day (the
                // executor's measuring day), so this run's come after the
                // time of day cycle 1 ran.
                let request = CycleRequest {
                    trigger_type: Some(TriggerType::Manual),
                    source: Some(CYCLE_2.to_owned()),
                    force: true,
                    window_days: Some(HISTORY_DAYS),
                    results_since: Some(today.and_time(one.created_at.time()).and_utc()),
                };
                cycle_on(kernel, by, tenant, &request, today).await?;
                criteria.push(check_cycle_2(kernel, tenant).await?);
            }
            ValidationOp::VerifyAll => {
                criteria.extend(verify_tenant(kernel, tenant).await?);
            }
        }
    }
    Ok(report(op, criteria))
}

async fn run_cycle_1(
    kernel: &Kernel,
    by: &Principal,
    profile: &Profile,
    today: NaiveDate,
) -> Result<Criterion, Failure> {
    let tenant = profile.tenant_id;
    let store = kernel.store();
    // The loop executes its actions: a simulated tenant's changes are
    // applied to its simulated world.
    simulated_tenant(kernel, tenant, &profile.name).await?;
    let config = profile.optimizer_config();
    let parsed: revos_store::OptimizerConfig =
        serde_json::from_value(config).map_err(|e| Failure::internal(&e))?;
    store.put_optimizer_config(tenant, &parsed).await?;
    cancel_left_pending(kernel, tenant).await?;
    let mut sim = Sim::new(profile, sim_start(today));
    for day in sim.run(HISTORY_DAYS) {
        write_day(kernel, tenant, &day).await?;
    }
    let request = CycleRequest {
        trigger_type: Some(TriggerType::Manual),
        source: Some(CYCLE_1.to_owned()),
        force: true,
        window_days: Some(HISTORY_DAYS),
        // A run starts from nothing learned: the results of an earlier
        // run on this database are not this run's evidence.
        results_since: Some(Utc::now()),
    };
    let output = cycle_on(kernel, by, tenant, &request, today).await?;
    let n = output.actions.len();
    Ok(criterion(
        ValidationOp::RunCycle1,
        tenant,
        "one cycle with 3-7 actions",
        (3..=7).contains(&n),
        format!(
            "cycle {}: {n} actions, binding constraint {:?}",
            output.cycle_id, output.cycle_summary.binding_constraint
        ),
    ))
}

async fn check_executed(
    kernel: &Kernel,
    tenant: TenantId,
    cycle: &Cycle,
) -> Result<Criterion, Failure> {
    let actions = kernel.store().cycle_actions(tenant, cycle.id).await?;
    let results = kernel.store().action_results(tenant, None, 1000).await?;
    let with_baseline = |a: &OptimizationAction| results.iter().any(|r| r.action_id == a.id);
    let executing = actions
        .iter()
        .filter(|a| a.status == OptimizationActionStatus::Executing && with_baseline(a))
        .count();
    let still_pending = actions
        .iter()
        .filter(|a| a.status == OptimizationActionStatus::Pending)
        .count();
    Ok(criterion(
        ValidationOp::ExecuteActions,
        tenant,
        "actions pending → executing with baselines",
        executing > 0 && still_pending == 0,
        format!(
            "{executing} of {} actions executing with a baseline, {still_pending} still pending",
            actions.len()
        ),
    ))
}

/// A new run starts clean: the optimization actions an earlier run left
/// pending are cancelled, so they are not executed with this run's.
pub(crate) async fn cancel_left_pending(kernel: &Kernel, tenant: TenantId) -> Result<(), Failure> {
    let store = kernel.store();
    let now = Utc::now();
    for left in store
        .actions_in_status(tenant, OptimizationActionStatus::Pending, 1000)
        .await?
    {
        store
            .set_optimization_action_status(
                tenant,
                left.id,
                OptimizationActionStatus::Pending,
                OptimizationActionStatus::Cancelled,
                now,
            )
            .await?;
    }
    Ok(())
}

/// Runs a cycle of the tenant on its data as of `today`: the input is
/// assembled over the window ending that day, then triggered now (the
/// contract wants a trigger time close to the clock).
async fn cycle_on(
    kernel: &Kernel,
    by: &Principal,
    tenant: TenantId,
    request: &CycleRequest,
    today: NaiveDate,
) -> Result<KernelOutput, Failure> {
    let now = Utc::now();
    let trigger = Trigger {
        r#type: request.trigger_type.unwrap_or(TriggerType::Manual),
        source: request.source.clone().unwrap_or_else(|| "api".to_owned()),
        triggered_at: today.and_time(now.time()).and_utc().fixed_offset(),
    };
    let days = i64::from(request.window_days.unwrap_or(HISTORY_DAYS));
    let mut input = kernel
        .assemble_input(tenant, trigger, days, request.results_since)
        .await?;
    input.trigger.triggered_at = now.fixed_offset();
    kernel.run_kernel(by, &input, request.force).await
}

/// Rebuilds the simulated world, applies the executed actions of cycle 1,
/// writes the observation window's days, and reports the split tests of
/// the executing experiments over those days.
async fn simulate_observation(
    kernel: &Kernel,
    profile: &Profile,
    cycle: &Cycle,
    today: NaiveDate,
) -> Result<(), Failure> {
    let tenant = profile.tenant_id;
    let mut sim = Sim::new(profile, sim_start(today));
    sim.run(HISTORY_DAYS);
    let first = sim.date();
    let mut splits = Vec::new();
    for action in kernel.store().cycle_actions(tenant, cycle.id).await? {
        if action.status == OptimizationActionStatus::Pending {
            continue;
        }
        let Ok(spec) = serde_json::from_value::<Action>(action.spec.clone()) else {
            continue;
        };
        // The control rate is the world's before the change.
        if action.status == OptimizationActionStatus::Executing
            && let (Some(test), Some(design)) = (sim_split(&sim, &spec), &spec.experiment)
        {
            splits.push((design.success_metric.clone(), test, action.clone()));
        }
        for change in sim_changes(&sim, &spec) {
            if let Err(e) = sim.apply(&change) {
                tracing::debug!(action = %action.action_id, error = %e, "the simulator cannot apply a change");
            }
        }
    }
    for day in sim.run(OBSERVED_DAYS) {
        write_day(kernel, tenant, &day).await?;
    }
    let through = first + Duration::days(i64::from(OBSERVED_DAYS) - 1);
    for (metric, test, action) in splits {
        let counts = sim.split_test(&test, &action.action_id, first, OBSERVED_DAYS);
        report_split(kernel, &action, &metric, &counts, through).await?;
    }
    Ok(())
}

async fn check_measured(
    kernel: &Kernel,
    tenant: TenantId,
    cycle: &Cycle,
) -> Result<Criterion, Failure> {
    let actions = kernel.store().cycle_actions(tenant, cycle.id).await?;
    let results = kernel.store().action_results(tenant, None, 1000).await?;
    let executed: Vec<&OptimizationAction> = actions
        .iter()
        .filter(|a| a.status != OptimizationActionStatus::Pending)
        .collect();
    let measured = executed
        .iter()
        .filter(|a| {
            matches!(
                a.status,
                OptimizationActionStatus::Completed
                    | OptimizationActionStatus::Failed
                    | OptimizationActionStatus::Reverted
            ) && results
                .iter()
                .any(|r| r.action_id == a.id && r.observed_value.is_some() && r.delta.is_some())
        })
        .count();
    Ok(criterion(
        ValidationOp::RecordResults,
        tenant,
        "observed_value and delta recorded; actions completed or failed",
        !executed.is_empty() && measured == executed.len(),
        format!("{measured} of {} executed actions measured", executed.len()),
    ))
}

async fn check_cycle_2(kernel: &Kernel, tenant: TenantId) -> Result<Criterion, Failure> {
    let one = need_cycle(kernel, tenant, CYCLE_1, ValidationOp::RunCycle2).await?;
    let two = need_cycle(kernel, tenant, CYCLE_2, ValidationOp::RunCycle2).await?;
    let first = kernel.store().cycle_actions(tenant, one.id).await?;
    let second = kernel.store().cycle_actions(tenant, two.id).await?;
    // An action's id after its number names the change
    // (`owner:type:field:entity`).
    let change = |a: &OptimizationAction| {
        a.action_id
            .split_once(':')
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default()
    };
    // A plan is its changes in order: what is changed (owner, type, field,
    // entity), to which value, and with which experiment sample. The
    // summary's text is not compared: it quotes metric values, which
    // differ from one run to the next whatever the plan.
    let plan = |a: &OptimizationAction| {
        (
            change(a),
            a.spec["proposed_change"]["new_value"].clone(),
            a.spec["experiment"]["min_sample_size"].as_u64(),
        )
    };
    let differs =
        first.iter().map(plan).collect::<Vec<_>>() != second.iter().map(plan).collect::<Vec<_>>();
    let failed: Vec<String> = first
        .iter()
        .filter(|a| {
            matches!(
                a.status,
                OptimizationActionStatus::Failed | OptimizationActionStatus::Reverted
            )
        })
        .map(change)
        .collect();
    // Repeating a failed change is allowed when the planner recorded why
    // (the evidence moved since): the cycle's `reproposed` notes.
    let allowed: Vec<&str> = two.notes["reproposed"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|r| r["action_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let repeated: Vec<String> = second
        .iter()
        .filter(|a| failed.contains(&change(a)))
        .filter(|a| !allowed.contains(&a.action_id.as_str()))
        .map(|a| a.action_id.clone())
        .collect();
    Ok(criterion(
        ValidationOp::RunCycle2,
        tenant,
        "cycle 2 differs and does not blindly repeat failures",
        differs && repeated.is_empty(),
        format!(
            "cycle 2 {}: {} actions, {} failed in cycle 1, repeated without new evidence: {}",
            two.id,
            second.len(),
            failed.len(),
            if repeated.is_empty() {
                "none".to_owned()
            } else {
                repeated.join(", ")
            }
        ),
    ))
}

async fn verify_tenant(kernel: &Kernel, tenant: TenantId) -> Result<Vec<Criterion>, Failure> {
    let mut out = Vec::new();
    let Some(one) = validation_cycle(kernel, tenant, CYCLE_1).await? else {
        out.push(criterion(
            ValidationOp::VerifyAll,
            tenant,
            "cycle 1 ran",
            false,
            "no validation cycle 1".into(),
        ));
        return Ok(out);
    };
    let n = kernel.store().cycle_actions(tenant, one.id).await?.len();
    out.push(criterion(
        ValidationOp::RunCycle1,
        tenant,
        "one cycle with 3-7 actions",
        (3..=7).contains(&n),
        format!("cycle {}: {n} actions", one.id),
    ));
    out.push(check_executed_after(kernel, tenant, &one).await?);
    out.push(check_measured(kernel, tenant, &one).await?);
    match validation_cycle(kernel, tenant, CYCLE_2).await? {
        Some(_) => out.push(check_cycle_2(kernel, tenant).await?),
        None => out.push(criterion(
            ValidationOp::RunCycle2,
            tenant,
            "cycle 2 differs and does not blindly repeat failures",
            false,
            "no validation cycle 2".into(),
        )),
    }
    Ok(out)
}

/// After measuring, executed actions are no longer `executing`: the
/// check is that none stayed pending and each has a baseline.
async fn check_executed_after(
    kernel: &Kernel,
    tenant: TenantId,
    cycle: &Cycle,
) -> Result<Criterion, Failure> {
    let actions = kernel.store().cycle_actions(tenant, cycle.id).await?;
    let results = kernel.store().action_results(tenant, None, 1000).await?;
    let pending = actions
        .iter()
        .filter(|a| a.status == OptimizationActionStatus::Pending)
        .count();
    let baselines = actions
        .iter()
        .filter(|a| results.iter().any(|r| r.action_id == a.id))
        .count();
    Ok(criterion(
        ValidationOp::ExecuteActions,
        tenant,
        "actions pending → executing with baselines",
        pending == 0 && baselines == actions.len() && !actions.is_empty(),
        format!(
            "{baselines} of {} actions have a baseline, {pending} pending",
            actions.len()
        ),
    ))
}

/// Makes (or takes back) a simulated test tenant for `revos validate`
/// and `revos demo`: marked simulation (the scheduler skips it; the
/// optimizer's changes land in its simulated world) and in shadow mode
/// (no policy ever sends an e-mail or a webhook for it). A tenant with
/// this id that is not a simulation is refused, never touched.
pub(crate) async fn simulated_tenant(
    kernel: &Kernel,
    id: TenantId,
    name: &str,
) -> Result<(), Failure> {
    let store = kernel.store();
    match store.get_tenant(id).await? {
        Some(t) if !t.simulation => {
            return Err(Failure::of(
                ErrorKind::Conflict,
                format!(
                    "tenant {id} ({}) exists in this database and is not a simulated \
                     tenant: it is left untouched; run against a scratch database \
                     (the default, without --database)",
                    t.name
                ),
            ));
        }
        Some(_) => {}
        None => {
            store
                .create_tenant(revos_store::NewTenant {
                    id: Some(id),
                    name: name.to_owned(),
                })
                .await?;
            store.mark_simulation(id).await?;
        }
    }
    store
        .set_tenant_mode(id, Some(revos_contracts::runtime::KernelMode::Shadow))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_as_in_the_seed() {
        for op in ValidationOp::ALL {
            assert_eq!(
                serde_json::to_value(op).unwrap(),
                serde_json::json!(op.as_str())
            );
        }
    }
}
