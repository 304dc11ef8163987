//! The action executor (seed 002, validation steps 2 and 3): carries out the
//! actions an optimization cycle proposed, and judges them once they have
//! been observed.
//!
//! Two use cases, both driven by a caller with `write` on the tenant (the
//! API, the CLI, the validation loop, a scheduled job) and both audited:
//!
//! - [`Kernel::execute_pending`] moves the tenant's `pending` actions to
//!   `executing`. For each it records the baseline of the target metric in
//!   `optimization_action_results` and applies the change through the
//!   executor of its owner subsystem: for `campaigns`, a change of a spine
//!   campaign's `budget_total` or `status` (a `budget_reallocation` changes
//!   both campaigns) written with `upsert_campaigns`; for every other change
//!   (CRM sequences, pricing, routing, content, channel-level tests), a
//!   change record, the kernel event `optimization.change_applied`, which
//!   those subsystems consume. In shadow mode nothing is applied: the action
//!   is still observed (it moves to `executing` with its baseline), and an
//!   `optimization.change_planned` event says what would have been done.
//! - [`Kernel::measure_actions`] watches the `executing` actions: it checks
//!   their abort conditions day by day, reverts and fails an action whose
//!   condition held long enough, and after the observation window records
//!   the observed value, the delta, a confidence and an outcome.
//!
//! An `experiment` action is judged on its own per-variant results, not on
//! the tenant-wide metric: the latest `experiment.results` event about the
//! action (see [`revos_optimizer::experiments`] for the format and the rule: SRM
//! check, minimum sample, t-test and chance to win). Without a usable one
//! it falls back to the threshold rule below, and the reason says so.
//!
//! The rules that judge an action (outcome, abort streaks, confidence) are
//! the small pure functions at the bottom of this file and in
//! [`revos_optimizer::experiments`]; the rest is I/O.
//!
//! The executor's clock is the `today` it is given: an action starts on the
//! day it was executed (its `updated_at`, set to `today` at the current time
//! of day), and its observation window counts days from there.

use crate::identity::auth::Principal;
use crate::runtime::EventInput;
use crate::{Failure, Kernel};
use chrono::{DateTime, NaiveDate, Utc};
use revos_contracts::kernel_io::{Action, ActionType, ImpactDirection, Outcome, TargetEntityType};
use revos_contracts::runtime::{EventSubject, KernelEvent};
use revos_contracts::{KernelMode, TenantId};
use revos_optimizer::experiments::{self, Design, Judgement, RESULTS_EVENT, SUBJECT_TYPE};
use revos_optimizer::judge::{abort_streak, classify, confidence, signed_move_pct};
use revos_store::cycles::{ActionResultRecord, OptimizationAction, OptimizationActionStatus};
use revos_store::events::{EventFilter, MAX_EVENT_PAGE};
use revos_store::identity::Scope;
use revos_store::{Campaign, DateRange, MetricQuery, Page, support};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

/// The idempotency key of the `optimization.change_{what}` event about a
/// stored action (`applied`, `planned`, `reverted`): one event per action
/// and kind. An `applied` one exists only for a change that was made.
pub(crate) fn change_key(what: &str, action: Uuid) -> String {
    format!("optimization.change_{what}:{action}")
}

/// The source of the events the executor emits.
const SOURCE: &str = "revos.optimizer";

/// The records a page of the store holds at most.
const PAGE: u32 = 1000;

/// Two budgets closer than this are the same budget (they are kept to the
/// cent).
const BUDGET_EPSILON: f64 = 0.005;

/// One action [`Kernel::execute_pending`] took up.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Executed {
    /// The stored action's id.
    action: Uuid,
    /// The output's `action_id`.
    pub action_id: String,
    /// The subsystem whose executor carried it out.
    pub owner_subsystem: String,
    /// Whether the change was applied (`false` in shadow mode, and for an
    /// action that failed).
    pub applied: bool,
    /// The `proposed_change` (`field`, `current_value`, `new_value`).
    #[schema(value_type = Object)]
    change: Value,
    /// The target metric's baseline (`None` when the tenant has no snapshot
    /// of it yet).
    pub baseline: Option<f64>,
    /// Why the change could not be applied (the action is then `failed`).
    pub error: Option<String>,
    /// In enforce mode, the tool call that carries the change out (see
    /// [`crate::optimize::carrier`]): the change is made, and the action
    /// observed, once the call has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call: Option<super::carrier::ToolCallOutcome>,
}

/// What [`Kernel::execute_pending`] did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutionReport {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    tenant_id: TenantId,
    /// The mode the actions ran in.
    #[schema(value_type = String)]
    pub mode: KernelMode,
    /// The actions taken up, in the order they were.
    pub executed: Vec<Executed>,
    /// Actions left alone, each with the reason.
    pub skipped: Vec<String>,
}

/// One action [`Kernel::measure_actions`] judged.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Measured {
    /// The stored action's id.
    pub action: Uuid,
    /// The output's `action_id`.
    pub action_id: String,
    /// The metric measured.
    pub target_metric: String,
    /// Its value when the action started (`null` when the tenant had no
    /// value of the metric then or since).
    pub baseline: Option<f64>,
    /// Its latest value since the action started.
    pub observed: Option<f64>,
    /// `observed - baseline`.
    pub delta: Option<f64>,
    /// 0–1 (see [`confidence`]).
    pub confidence: f64,
    /// `successful`, `failed` or `inconclusive`.
    pub outcome: String,
    /// Where the action is now: `completed`, `failed` or `reverted`.
    pub status: String,
    /// Why, for a person.
    pub reason: String,
}

/// What [`Kernel::measure_actions`] did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeasureReport {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    tenant_id: TenantId,
    /// The actions judged.
    pub measured: Vec<Measured>,
    /// Executing actions still inside their observation window.
    pub still_observing: usize,
}

/// A campaign field the campaigns executor changes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CampaignValue {
    /// `budget_total`.
    Budget(f64),
    /// `status`.
    Status(String),
}

/// One change to one spine campaign, with the value to restore.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CampaignEdit {
    pub(crate) campaign_id: String,
    pub(crate) from: Option<CampaignValue>,
    pub(crate) to: CampaignValue,
}

/// How an action's change is carried out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Written to the spine campaigns.
    Campaigns(Vec<CampaignEdit>),
    /// Recorded as an event for the owner subsystem.
    Record,
}

/// Reads a campaign value of `field` from JSON (`None`: absent or of the
/// wrong type).
fn campaign_value(field: &str, value: &Value) -> Option<CampaignValue> {
    match field {
        "budget_total" => value
            .as_f64()
            .filter(|b| b.is_finite() && *b >= 0.0)
            .map(CampaignValue::Budget),
        "status" => value
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| CampaignValue::Status(s.to_owned())),
        _ => None,
    }
}

/// Works out how the change of `action` is carried out: the campaign edits
/// of a `campaigns` change of `budget_total`, `status` or
/// `budget_reallocation`, a change record for everything else. `Err` names
/// what is malformed.
pub(crate) fn plan_change(action: &Action) -> Result<Change, String> {
    let change = &action.proposed_change;
    let owner = action.owner_subsystem.as_str();
    if owner != "campaigns" {
        return Ok(Change::Record);
    }
    match change.field.as_str() {
        field @ ("budget_total" | "status") => {
            let entity = action
                .target_entity
                .as_ref()
                .filter(|e| e.r#type == TargetEntityType::Campaign)
                .ok_or_else(|| format!("a change of `{field}` must target a campaign"))?;
            let to = campaign_value(field, &change.new_value).ok_or_else(|| {
                format!(
                    "new_value {} is not a valid `{field}` (a budget is a number of at least \
                     0, a status a non-empty string)",
                    change.new_value
                )
            })?;
            Ok(Change::Campaigns(vec![CampaignEdit {
                campaign_id: entity.id.clone(),
                from: campaign_value(field, &change.current_value),
                to,
            }]))
        }
        "budget_reallocation" => {
            let side = |value: &Value, end: &str| -> Option<(String, f64)> {
                let side = value.get(end)?;
                let id = side.get("campaign_id")?.as_str()?.to_owned();
                let budget = side
                    .get("budget_total")?
                    .as_f64()
                    .filter(|b| b.is_finite() && *b >= 0.0)?;
                Some((id, budget))
            };
            let mut edits = Vec::new();
            for end in ["from", "to"] {
                let (id, to) = side(&change.new_value, end).ok_or_else(|| {
                    format!(
                        "new_value.{end} must be {{\"campaign_id\": …, \"budget_total\": a \
                         number of at least 0}}"
                    )
                })?;
                let from = side(&change.current_value, end)
                    .filter(|(old, _)| *old == id)
                    .map(|(_, b)| CampaignValue::Budget(b));
                edits.push(CampaignEdit {
                    campaign_id: id,
                    from,
                    to: CampaignValue::Budget(to),
                });
            }
            if edits[0].campaign_id == edits[1].campaign_id {
                return Err("a reallocation must move budget between two campaigns".to_owned());
            }
            Ok(Change::Campaigns(edits))
        }
        _ => Ok(Change::Record),
    }
}

/// Whether `campaign` holds `value`.
fn holds(campaign: &Campaign, value: &CampaignValue) -> bool {
    match value {
        CampaignValue::Budget(b) => (campaign.budget_total - b).abs() < BUDGET_EPSILON,
        CampaignValue::Status(s) => campaign.status == *s,
    }
}

/// Sets `value` on `campaign`.
fn set(campaign: &mut Campaign, value: &CampaignValue) {
    match value {
        CampaignValue::Budget(b) => campaign.budget_total = *b,
        CampaignValue::Status(s) => campaign.status.clone_from(s),
    }
}

/// `today` at the current time of day: the executor's clock.
fn clock(today: NaiveDate) -> DateTime<Utc> {
    support::now_at(today.and_time(Utc::now().time()).and_utc())
}

impl Kernel {
    /// Moves the tenant's pending actions to `executing` (see the module
    /// docs). For each: claims it (compare-and-set, so two executors never
    /// take the same action), records the baseline (the latest tenant-wide
    /// snapshot of the target metric at or before `today`), and applies the
    /// change — or, in shadow mode, emits `optimization.change_planned`. An
    /// action whose change cannot be applied (unknown campaign, malformed
    /// change) is marked `failed` with the reason; the others go on. Needs
    /// `write`; audited.
    pub async fn execute_pending(
        &self,
        by: &Principal,
        tenant: TenantId,
        today: NaiveDate,
    ) -> Result<ExecutionReport, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        self.tenant(tenant).await?;
        // A simulated tenant's changes land in its simulated world (the
        // kernel's own records, nothing outside), so they are applied
        // whatever its event-runtime mode, which stays shadow.
        let simulated = self
            .store()
            .get_tenant(tenant)
            .await?
            .is_some_and(|t| t.simulation);
        let mode = if simulated {
            KernelMode::Enforce
        } else {
            self.store()
                .tenant_mode(tenant)
                .await?
                .unwrap_or(self.config().kernel_mode)
        };
        let pending = self
            .store()
            .actions_in_status(tenant, OptimizationActionStatus::Pending, PAGE)
            .await?;
        let mut report = ExecutionReport {
            tenant_id: tenant,
            mode,
            executed: Vec::new(),
            skipped: Vec::new(),
        };
        // A change already being observed is not made again on top of
        // itself (cycles may run daily; observation takes weeks): the new
        // action is cancelled, and the report says which one is observed.
        let observing = if pending.is_empty() {
            Vec::new()
        } else {
            self.store()
                .actions_in_status(tenant, OptimizationActionStatus::Executing, PAGE)
                .await?
        };
        for action in pending {
            let now = clock(today);
            if let Some(other) = observing
                .iter()
                .find(|o| same_change(o, &action) && o.id != action.id)
            {
                if self
                    .store()
                    .set_optimization_action_status(
                        tenant,
                        action.id,
                        OptimizationActionStatus::Pending,
                        OptimizationActionStatus::Cancelled,
                        now,
                    )
                    .await?
                {
                    report.skipped.push(format!(
                        "{} ({}): cancelled, the same change is still being observed as {} ({})",
                        action.action_id, action.id, other.action_id, other.id
                    ));
                }
                continue;
            }
            // A tenant's own systems change only through tool calls,
            // under its tool policies and approvals.
            if mode == KernelMode::Enforce && !simulated {
                match self.dispatch_pending(by, &action, now).await? {
                    Ok(executed) => report.executed.push(executed),
                    Err(waiting) => report.skipped.push(waiting),
                }
                continue;
            }
            if !self
                .store()
                .set_optimization_action_status(
                    tenant,
                    action.id,
                    OptimizationActionStatus::Pending,
                    OptimizationActionStatus::Executing,
                    now,
                )
                .await?
            {
                report.skipped.push(format!(
                    "{} ({}): no longer pending (taken by another executor)",
                    action.action_id, action.id
                ));
                continue;
            }
            let executed = self.execute_one(by, &action, mode, today, now).await?;
            report.executed.push(executed);
        }
        let failed = report.executed.iter().filter(|e| e.error.is_some()).count();
        self.audit(
            tenant,
            &by.actor(),
            "optimization.execute",
            Some(("tenant", &tenant.to_string())),
            json!({
                "mode": mode,
                "today": today,
                "executed": report.executed.iter().map(|e| json!({
                    "action": e.action,
                    "action_id": e.action_id,
                    "applied": e.applied,
                    "baseline": e.baseline,
                    "error": e.error,
                })).collect::<Vec<_>>(),
                "failed": failed,
                "skipped": report.skipped,
            }),
        )
        .await;
        Ok(report)
    }

    /// Hands a pending action to its tool call (enforce mode): `Ok` with
    /// what was asked, or `Err` naming the call it already waits for.
    async fn dispatch_pending(
        &self,
        by: &Principal,
        action: &OptimizationAction,
        now: DateTime<Utc>,
    ) -> Result<Result<Executed, String>, Failure> {
        let tenant = action.tenant_id;
        if let Some(waiting) = self.carrier().waiting(self, action, now).await? {
            return Ok(Err(waiting));
        }
        let mut executed = Executed {
            action: action.id,
            action_id: action.action_id.clone(),
            owner_subsystem: action.owner_subsystem.clone(),
            applied: false,
            change: action.proposed_change.clone(),
            baseline: None,
            error: None,
            tool_call: None,
        };
        let planned = serde_json::from_value::<Action>(action.spec.clone())
            .map_err(|e| format!("the stored action is not a contract Action: {e}"))
            .and_then(|spec| plan_change(&spec).map(|change| (spec, change)));
        let campaigns = match &planned {
            Ok((_, change)) => self.campaigns_for(tenant, change).await?,
            Err(e) => Err(e.clone()),
        };
        let (spec, change, campaigns) = match (planned, campaigns) {
            (Ok((spec, change)), Ok(campaigns)) => (spec, change, campaigns),
            (Err(reason), _) | (_, Err(reason)) => {
                executed.error = Some(reason);
                self.store()
                    .set_optimization_action_status(
                        tenant,
                        action.id,
                        OptimizationActionStatus::Pending,
                        OptimizationActionStatus::Failed,
                        now,
                    )
                    .await?;
                return Ok(Ok(executed));
            }
        };
        // A call refused for its own reasons fails this action only.
        let outcome = match self
            .carrier()
            .carry(self, by, action, &spec, &change, &campaigns, now)
            .await
        {
            Ok(outcome) => outcome,
            Err(f) if f.status < 500 => {
                executed.error = Some(format!("the tool call was refused: {}", f.body.message));
                self.store()
                    .set_optimization_action_status(
                        tenant,
                        action.id,
                        OptimizationActionStatus::Pending,
                        OptimizationActionStatus::Failed,
                        now,
                    )
                    .await?;
                return Ok(Ok(executed));
            }
            Err(f) => return Err(f),
        };
        if outcome.status == "blocked" {
            executed.error = Some(format!(
                "the `{}` call was blocked: {}",
                outcome.tool,
                outcome.reasons.join("; ")
            ));
        }
        executed.tool_call = Some(outcome);
        Ok(Ok(executed))
    }

    /// Carries out one claimed (`executing`) action.
    async fn execute_one(
        &self,
        by: &Principal,
        action: &OptimizationAction,
        mode: KernelMode,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Executed, Failure> {
        let tenant = action.tenant_id;
        let mut executed = Executed {
            action: action.id,
            action_id: action.action_id.clone(),
            owner_subsystem: action.owner_subsystem.clone(),
            applied: false,
            change: action.proposed_change.clone(),
            baseline: None,
            error: None,
            tool_call: None,
        };
        let planned = serde_json::from_value::<Action>(action.spec.clone())
            .map_err(|e| format!("the stored action is not a contract Action: {e}"))
            .and_then(|spec| plan_change(&spec).map(|change| (spec, change)));
        let change = match planned {
            Ok((_, change)) => change,
            Err(reason) => {
                executed.error = Some(reason);
                self.fail_executing(action, now).await?;
                return Ok(executed);
            }
        };
        // Every campaign must exist before anything is written.
        let mut campaigns = Vec::new();
        if let Change::Campaigns(edits) = &change {
            for edit in edits {
                match self.store().get_campaign(tenant, &edit.campaign_id).await? {
                    Some(c) => campaigns.push(c),
                    None => {
                        executed.error =
                            Some(format!("there is no campaign `{}`", edit.campaign_id));
                        self.fail_executing(action, now).await?;
                        return Ok(executed);
                    }
                }
            }
        }
        executed.baseline = self.record_baseline(action, today, now).await?;
        if mode == KernelMode::Shadow {
            self.change_event(by, action, "planned", json!({"mode": mode}))
                .await
                .map_err(|e| {
                    tracing::warn!(action = %action.id, error = %e.body.message,
                        "could not record a planned change");
                })
                .ok();
            return Ok(executed);
        }
        if let Change::Campaigns(edits) = &change {
            for (campaign, edit) in campaigns.iter_mut().zip(edits) {
                set(campaign, &edit.to);
            }
            if let Err(e) = self.upsert_campaigns(tenant, &campaigns).await {
                executed.error = Some(format!(
                    "the campaign change was refused: {}",
                    e.body.message
                ));
                self.fail_executing(action, now).await?;
                return Ok(executed);
            }
            executed.applied = true;
        }
        // The change record: the owner's executor for a non-campaign change,
        // the record of what was written for a campaign change.
        match self
            .change_event(by, action, "applied", json!({"mode": mode}))
            .await
        {
            Ok(()) => executed.applied = true,
            Err(e) if executed.applied => {
                tracing::warn!(action = %action.id, error = %e.body.message,
                    "a campaign change was applied but its record could not be written");
            }
            Err(e) => {
                executed.error = Some(format!(
                    "the change record could not be written: {}",
                    e.body.message
                ));
                self.fail_executing(action, now).await?;
            }
        }
        Ok(executed)
    }

    /// Records the baseline of `action`'s target metric, its latest
    /// tenant-wide value at or before `today`, as the action's result row
    /// (recorded at `now`); answers it (`None` when the tenant has no value
    /// of the metric yet, and then nothing is recorded).
    pub(crate) async fn record_baseline(
        &self,
        action: &OptimizationAction,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Option<f64>, Failure> {
        let baseline = self
            .metric_series(action.tenant_id, &action.target_metric, None, today)
            .await?
            .last()
            .map(|(_, v)| *v);
        if let Some(baseline_value) = baseline {
            self.store()
                .put_action_result(&ActionResultRecord {
                    tenant_id: action.tenant_id,
                    id: Uuid::new_v4(),
                    action_id: action.id,
                    cycle_id: action.cycle_id,
                    target_metric: action.target_metric.clone(),
                    baseline_value,
                    observed_value: None,
                    delta: None,
                    confidence: None,
                    outcome: None,
                    baseline_recorded_at: now,
                    measured_at: None,
                })
                .await?;
        }
        Ok(baseline)
    }

    /// Moves a claimed action to `failed`.
    async fn fail_executing(
        &self,
        action: &OptimizationAction,
        now: DateTime<Utc>,
    ) -> Result<(), Failure> {
        self.store()
            .set_optimization_action_status(
                action.tenant_id,
                action.id,
                OptimizationActionStatus::Executing,
                OptimizationActionStatus::Failed,
                now,
            )
            .await?;
        Ok(())
    }

    /// Emits `optimization.change_{what}` about `action` (idempotent: one
    /// event per action and kind).
    pub(crate) async fn change_event(
        &self,
        by: &Principal,
        action: &OptimizationAction,
        what: &str,
        extra: Value,
    ) -> Result<(), Failure> {
        let mut payload = json!({
            "action": action.id,
            "action_id": action.action_id,
            "cycle_id": action.cycle_id,
            "owner_subsystem": action.owner_subsystem,
            "action_type": action.action_type,
            "target_metric": action.target_metric,
            "target_entity": action.target_entity_id.as_ref().map(|id| json!({
                "type": action.target_entity_type,
                "id": id,
            })),
            "change": action.proposed_change,
        });
        if let (Some(map), Value::Object(more)) = (payload.as_object_mut(), extra) {
            map.extend(more);
        }
        let input = EventInput {
            id: None,
            tenant_id: Some(action.tenant_id),
            r#type: format!("optimization.change_{what}"),
            source: SOURCE.to_owned(),
            idempotency_key: Some(change_key(what, action.id)),
            correlation_id: Some(action.cycle_id.to_string()),
            subject: Some(EventSubject {
                r#type: "optimization_action".to_owned(),
                id: action.id.to_string(),
            }),
            payload,
            occurred_at: None,
            recorded_at: None,
        };
        self.emit(by, &input, None).await.map(|_| ())
    }

    /// The tenant-wide daily values of `metric` after `after` (when given) up to
    /// `to` (inclusive), oldest first, one per day; of an imported and a
    /// computed value for one day, the newer. A read of the store for the
    /// shell's own use: the caller has authorized it.
    pub async fn metric_series(
        &self,
        tenant: TenantId,
        metric: &str,
        after: Option<NaiveDate>,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, f64)>, Failure> {
        let range = DateRange {
            from: after.and_then(|d| d.succ_opt()),
            to: Some(to),
        };
        let mut by_day: std::collections::BTreeMap<NaiveDate, (DateTime<Utc>, f64)> =
            Default::default();
        let mut offset = 0;
        loop {
            let page = self
                .store()
                .list_metric_snapshots(
                    tenant,
                    &MetricQuery {
                        metric_id: Some(metric.to_owned()),
                        range,
                        source: None,
                        page: Page::new(PAGE, offset),
                    },
                )
                .await?;
            let full = page.len() as u32 >= PAGE;
            for s in page.into_iter().filter(|s| s.dimension.is_empty()) {
                // An imported and a computed value of one day: the newer wins.
                let keep = by_day
                    .get(&s.date)
                    .is_none_or(|(at, _)| *at <= s.updated_at);
                if keep && s.value.is_finite() {
                    by_day.insert(s.date, (s.updated_at, s.value));
                }
            }
            if !full {
                break;
            }
            offset += PAGE;
        }
        Ok(by_day.into_iter().map(|(d, (_, v))| (d, v)).collect())
    }

    /// For the tenant's executing actions: checks the abort conditions day
    /// by day on the snapshots since each started (a condition that held
    /// `consecutive_days` days in a row reverts the change and ends the
    /// action with outcome `failed`), and, once the observation window is
    /// over (or now, with `force`), records the observed value, delta,
    /// confidence and outcome (see [`classify`] and [`confidence`]; an
    /// experiment with reported results: [`experiments::judge`]). The
    /// action then moves to `completed` (successful or inconclusive),
    /// `failed` (failed) or `reverted` (aborted and its change undone).
    /// Needs `write`; audited.
    pub async fn measure_actions(
        &self,
        by: &Principal,
        tenant: TenantId,
        today: NaiveDate,
        force: bool,
    ) -> Result<MeasureReport, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        self.tenant(tenant).await?;
        let executing = self
            .store()
            .actions_in_status(tenant, OptimizationActionStatus::Executing, PAGE)
            .await?;
        let results = if executing.is_empty() {
            Vec::new()
        } else {
            self.store().action_results(tenant, None, PAGE).await?
        };
        let mut report = MeasureReport {
            tenant_id: tenant,
            measured: Vec::new(),
            still_observing: 0,
        };
        for action in executing {
            let existing = results.iter().find(|r| r.action_id == action.id).cloned();
            match self
                .measure_one(by, &action, existing, today, force)
                .await?
            {
                Some(measured) => report.measured.push(measured),
                None => report.still_observing += 1,
            }
        }
        self.audit(
            tenant,
            &by.actor(),
            "optimization.measure",
            Some(("tenant", &tenant.to_string())),
            json!({
                "today": today,
                "force": force,
                "measured": report.measured,
                "still_observing": report.still_observing,
            }),
        )
        .await;
        Ok(report)
    }

    /// Judges one executing action; `None` while it is still observed.
    async fn measure_one(
        &self,
        by: &Principal,
        action: &OptimizationAction,
        existing: Option<ActionResultRecord>,
        today: NaiveDate,
        force: bool,
    ) -> Result<Option<Measured>, Failure> {
        let tenant = action.tenant_id;
        let start = action.updated_at.date_naive();
        let now = clock(today);
        let metric = action.target_metric.clone();
        let spec = match serde_json::from_value::<Action>(action.spec.clone()) {
            Ok(spec) => spec,
            Err(e) => {
                let moved = self.move_to(action, OptimizationActionStatus::Failed, now);
                if !moved.await? {
                    return Ok(None);
                }
                return Ok(Some(Measured {
                    action: action.id,
                    action_id: action.action_id.clone(),
                    target_metric: metric,
                    baseline: existing.map(|r| r.baseline_value),
                    observed: None,
                    delta: None,
                    confidence: 0.0,
                    outcome: "failed".to_owned(),
                    status: "failed".to_owned(),
                    reason: format!("the stored action is not a contract Action: {e}"),
                }));
            }
        };

        // Abort conditions, on the days after the start.
        let mut breach: Option<(NaiveDate, String)> = None;
        for condition in &spec.guardrails.abort_conditions {
            let days = self
                .metric_series(tenant, &condition.metric_id, Some(start), today)
                .await?;
            if let Some(day) = abort_streak(
                &days,
                condition.operator,
                condition.threshold,
                condition.consecutive_days,
            ) && breach.as_ref().is_none_or(|(d, _)| day < *d)
            {
                breach = Some((
                    day,
                    format!(
                        "abort condition {} {} {} held {} day{} in a row (to {day})",
                        condition.metric_id,
                        condition.operator.as_str(),
                        condition.threshold,
                        condition.consecutive_days.max(1),
                        if condition.consecutive_days.max(1) == 1 {
                            ""
                        } else {
                            "s"
                        },
                    ),
                ));
            }
        }
        let window_over = (today - start).num_days() >= i64::from(spec.observation_window_days);
        if breach.is_none() && !window_over && !force {
            return Ok(None);
        }

        // An experiment is judged on its own results when it has usable ones
        // (an abort still takes precedence).
        let experiment = if spec.r#type == ActionType::Experiment && breach.is_none() {
            Some(self.judge_experiment(action, &spec).await?)
        } else {
            None
        };

        // The measurement: baseline, latest value since the start, noise.
        let after = self
            .metric_series(tenant, &metric, Some(start), today)
            .await?;
        let baseline = match &existing {
            Some(r) => Some(r.baseline_value),
            // No snapshot at execution: the first one since is the baseline.
            None => after.first().map(|(_, v)| *v),
        };
        let observed = after.last().map(|(_, v)| *v);
        let applied = self.was_applied(tenant, action.id).await?;
        // The threshold rule on the tenant-wide series (the fallback for an
        // experiment; its figures are replaced below when it has results).
        let (outcome, status, reason, delta, conf) = match (baseline, observed, breach) {
            (_, _, Some((_, why))) => {
                let undone = self.revert(by, action, &spec).await?;
                let status = if undone.is_ok() {
                    OptimizationActionStatus::Reverted
                } else {
                    OptimizationActionStatus::Failed
                };
                let delta = baseline.zip(observed).map(|(b, o)| o - b);
                let conf = delta.map_or(0.0, |d| confidence(d, &noise_window(baseline, &after)));
                let reason = match undone {
                    Ok(what) => format!("{why}; {what}"),
                    Err(why_not) => format!("{why}; {why_not}"),
                };
                (Outcome::Failed, status, reason, delta, conf)
            }
            (Some(b), Some(o), None) => {
                let outcome = classify(
                    spec.expected_impact.direction,
                    b,
                    o,
                    spec.expected_impact.magnitude_pct,
                );
                let moved = signed_move_pct(spec.expected_impact.direction, b, o);
                let conf = confidence(o - b, &noise_window(Some(b), &after));
                let status = if outcome == Outcome::Failed {
                    OptimizationActionStatus::Failed
                } else {
                    OptimizationActionStatus::Completed
                };
                let reason = format!(
                    "{metric} moved from {b} to {o} ({:+.2}% in the expected direction, \
                     {}; expected {} by {}%, success from half of that)",
                    moved,
                    if window_over {
                        "after the observation window"
                    } else {
                        "measured early"
                    },
                    match spec.expected_impact.direction {
                        ImpactDirection::Increase => "an increase",
                        ImpactDirection::Decrease => "a decrease",
                    },
                    spec.expected_impact.magnitude_pct,
                );
                (outcome, status, reason, Some(o - b), conf)
            }
            _ => (
                Outcome::Inconclusive,
                OptimizationActionStatus::Completed,
                format!("no snapshot of {metric} since {start}: nothing to measure"),
                None,
                0.0,
            ),
        };
        // An experiment's own results replace the tenant-wide measurement;
        // without them, the reason says why the fallback was used.
        let (outcome, status, reason, baseline, observed, delta, conf) = match experiment {
            Some(Ok(j)) => (
                j.outcome,
                if j.outcome == Outcome::Failed {
                    OptimizationActionStatus::Failed
                } else {
                    OptimizationActionStatus::Completed
                },
                j.reason,
                Some(j.control_mean),
                Some(j.treatment_mean),
                Some(j.delta),
                j.confidence,
            ),
            Some(Err(why)) => (
                outcome,
                status,
                format!("{why}; judged on the tenant-wide {metric}: {reason}"),
                baseline,
                observed,
                delta,
                conf,
            ),
            None => (outcome, status, reason, baseline, observed, delta, conf),
        };
        // A change observed in shadow mode was never made: say so.
        let reason = if applied {
            reason
        } else {
            format!("shadow (the change was not applied): {reason}")
        };
        if !self.move_to(action, status, now).await? {
            // Another measurer judged it first.
            return Ok(None);
        }
        if let Some(b) = baseline {
            self.store()
                .put_action_result(&ActionResultRecord {
                    tenant_id: tenant,
                    id: existing.as_ref().map_or_else(Uuid::new_v4, |r| r.id),
                    action_id: action.id,
                    cycle_id: action.cycle_id,
                    target_metric: metric.clone(),
                    baseline_value: b,
                    observed_value: observed,
                    delta,
                    confidence: Some(conf),
                    outcome: Some(outcome_name(outcome).to_owned()),
                    baseline_recorded_at: existing.as_ref().map_or(now, |r| r.baseline_recorded_at),
                    measured_at: Some(now),
                })
                .await?;
        }
        Ok(Some(Measured {
            action: action.id,
            action_id: action.action_id.clone(),
            target_metric: metric,
            baseline,
            observed,
            delta,
            confidence: conf,
            outcome: outcome_name(outcome).to_owned(),
            status: status.as_str().to_owned(),
            reason,
        }))
    }

    /// The verdict on an `experiment` action from its latest
    /// `experiment.results` event; `Err` says why there is none to judge on
    /// (no design, no event, an unusable event).
    async fn judge_experiment(
        &self,
        action: &OptimizationAction,
        spec: &Action,
    ) -> Result<Result<Judgement, String>, Failure> {
        let Some(design) = Design::of(spec) else {
            return Ok(Err(
                "the experiment action has no experiment design".to_owned()
            ));
        };
        let Some(event) = self.latest_results(action).await? else {
            return Ok(Err(format!("no {RESULTS_EVENT} reported for this action")));
        };
        let results = match experiments::parse(&event.payload) {
            Ok(results) => results,
            Err(problems) => {
                return Ok(Err(format!(
                    "the latest {RESULTS_EVENT} ({}) is unusable: {}",
                    event.id,
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )));
            }
        };
        if let Some(metric) = &results.metric
            && *metric != design.metric
        {
            return Ok(Err(format!(
                "the latest {RESULTS_EVENT} ({}) reports {metric}, but the experiment's success \
                 metric is {}",
                event.id, design.metric
            )));
        }
        Ok(Ok(experiments::judge(&results, &design)))
    }

    /// The latest `experiment.results` event about `action` (by
    /// `recorded_at`, then `occurred_at`), if any. Results can only be sent
    /// once the action is stored, so the search starts at the earlier of
    /// its creation and its start (the executor's `today` may be a
    /// simulated day before or after the wall clock).
    pub(crate) async fn latest_results(
        &self,
        action: &OptimizationAction,
    ) -> Result<Option<KernelEvent>, Failure> {
        let mut filter = EventFilter {
            r#type: Some(RESULTS_EVENT.to_owned()),
            since: Some(action.created_at.min(action.updated_at)),
            limit: Some(MAX_EVENT_PAGE),
            ..EventFilter::default()
        };
        let mut latest: Option<KernelEvent> = None;
        loop {
            let page = self.store().list_events(action.tenant_id, &filter).await?;
            let full = page.len() as u32 >= MAX_EVENT_PAGE;
            filter.after = page.last().map(|e| (e.recorded_at, e.id));
            for event in page {
                let about = event.subject.r#type == SUBJECT_TYPE
                    && Uuid::parse_str(&event.subject.id).ok() == Some(action.id);
                let newer = latest.as_ref().is_none_or(|l| {
                    (event.recorded_at, event.occurred_at) > (l.recorded_at, l.occurred_at)
                });
                if about && newer {
                    latest = Some(event);
                }
            }
            if !full || filter.after.is_none() {
                break;
            }
        }
        Ok(latest)
    }

    /// Whether the change of a stored action was made (its
    /// `optimization.change_applied` event exists; never in shadow mode).
    async fn was_applied(&self, tenant: TenantId, action: Uuid) -> Result<bool, Failure> {
        let key = change_key("applied", action);
        Ok(self.store().event_by_key(tenant, &key).await?.is_some())
    }

    /// Moves an executing action to `to`; `false` when it is no longer
    /// executing.
    async fn move_to(
        &self,
        action: &OptimizationAction,
        to: OptimizationActionStatus,
        now: DateTime<Utc>,
    ) -> Result<bool, Failure> {
        Ok(self
            .store()
            .set_optimization_action_status(
                action.tenant_id,
                action.id,
                OptimizationActionStatus::Executing,
                to,
                now,
            )
            .await?)
    }

    /// Undoes an applied change: restores the campaigns that still hold the
    /// new value (a campaign someone changed since is left alone), or, for a
    /// recorded change, emits `optimization.change_reverted`. `Ok` says what
    /// was undone; `Err` why nothing was (never applied, e.g. in shadow
    /// mode, or nothing to restore).
    async fn revert(
        &self,
        by: &Principal,
        action: &OptimizationAction,
        spec: &Action,
    ) -> Result<Result<String, String>, Failure> {
        let tenant = action.tenant_id;
        let applied = self.was_applied(tenant, action.id).await?;
        match plan_change(spec) {
            Ok(Change::Campaigns(edits)) => {
                let mut restore = Vec::new();
                let mut undone = Vec::new();
                for edit in &edits {
                    let Some(from) = &edit.from else { continue };
                    if let Some(mut c) =
                        self.store().get_campaign(tenant, &edit.campaign_id).await?
                        && holds(&c, &edit.to)
                    {
                        set(&mut c, from);
                        undone.push(format!("{} restored", c.id));
                        restore.push(c);
                    }
                }
                if restore.is_empty() {
                    return Ok(Err(
                        "nothing to revert (the change was not applied, or has been changed \
                         since)"
                            .to_owned(),
                    ));
                }
                self.upsert_campaigns(tenant, &restore).await?;
                if applied
                    && let Err(e) = self
                        .change_event(by, action, "reverted", json!({"restored": undone}))
                        .await
                {
                    tracing::warn!(action = %action.id, error = %e.body.message,
                        "a campaign change was reverted but its record could not be written");
                }
                Ok(Ok(format!("reverted: {}", undone.join(", "))))
            }
            Ok(Change::Record) if applied => {
                self.change_event(by, action, "reverted", json!({})).await?;
                Ok(Ok(
                    "reverted: optimization.change_reverted sent to the owner subsystem".to_owned(),
                ))
            }
            Ok(Change::Record) => Ok(Err(
                "nothing to revert (the change was not applied)".to_owned()
            )),
            Err(e) => Ok(Err(format!("nothing to revert ({e})"))),
        }
    }
}

/// Whether two stored actions make the same change: the same owner, field
/// and entity (the identity the planner's learning uses).
fn same_change(a: &OptimizationAction, b: &OptimizationAction) -> bool {
    let field = |x: &OptimizationAction| {
        x.proposed_change
            .get("field")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    a.owner_subsystem == b.owner_subsystem
        && a.target_entity_id == b.target_entity_id
        && field(a).is_some()
        && field(a) == field(b)
}

/// The wire name of an outcome.
fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Successful => "successful",
        Outcome::Failed => "failed",
        Outcome::Inconclusive => "inconclusive",
    }
}

/// The values the noise of a measurement is estimated on: the baseline,
/// then the daily values since the start.
fn noise_window(baseline: Option<f64>, after: &[(NaiveDate, f64)]) -> Vec<f64> {
    baseline
        .into_iter()
        .chain(after.iter().map(|(_, v)| *v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use revos_contracts::kernel_io::{
        ActionGuardrails, ActionType, ComparisonOperator, ExpectedImpact, OwnerSubsystem,
        ProposedChange, TargetEntity,
    };

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn outcome_needs_half_the_expected_move() {
        use ImpactDirection::{Decrease, Increase};
        // Expected +10%: success from +5%.
        assert_eq!(classify(Increase, 100.0, 105.0, 10.0), Outcome::Successful);
        assert_eq!(
            classify(Increase, 100.0, 104.9, 10.0),
            Outcome::Inconclusive
        );
        assert_eq!(
            classify(Increase, 100.0, 100.0, 10.0),
            Outcome::Inconclusive
        );
        // The wrong way by more than half: failed; by exactly half: not yet.
        assert_eq!(classify(Increase, 100.0, 95.0, 10.0), Outcome::Inconclusive);
        assert_eq!(classify(Increase, 100.0, 94.0, 10.0), Outcome::Failed);
        // A decrease is expected: going down is good.
        assert_eq!(classify(Decrease, 200.0, 180.0, 10.0), Outcome::Successful);
        assert_eq!(classify(Decrease, 200.0, 230.0, 10.0), Outcome::Failed);
        // From zero, any move is large.
        assert_eq!(classify(Increase, 0.0, 1.0, 10.0), Outcome::Successful);
        assert_eq!(classify(Increase, 0.0, 0.0, 10.0), Outcome::Inconclusive);
        // A negative baseline moves relative to its size.
        assert_eq!(classify(Increase, -100.0, -90.0, 10.0), Outcome::Successful);
        // No expected magnitude: any move the right way counts, none does not.
        assert_eq!(classify(Increase, 10.0, 10.1, 0.0), Outcome::Successful);
        assert_eq!(classify(Increase, 10.0, 10.0, 0.0), Outcome::Inconclusive);
    }

    #[test]
    fn abort_needs_consecutive_days() {
        let op = ComparisonOperator::Gt;
        let series = [
            (day(1), 130.0),
            (day(2), 130.0),
            (day(3), 100.0),
            (day(4), 130.0),
            (day(5), 130.0),
            (day(6), 130.0),
        ];
        assert_eq!(abort_streak(&series, op, 120.0, 3), Some(day(6)));
        assert_eq!(abort_streak(&series, op, 120.0, 2), Some(day(2)));
        assert_eq!(abort_streak(&series, op, 120.0, 4), None);
        // Zero days means one.
        assert_eq!(abort_streak(&series, op, 120.0, 0), Some(day(1)));
        // A missing day breaks the streak.
        let gap = [(day(1), 130.0), (day(2), 130.0), (day(4), 130.0)];
        assert_eq!(abort_streak(&gap, op, 120.0, 3), None);
        // Comparison is strict for `>` and `<`, not for `>=` and `<=`.
        let flat = [(day(1), 120.0), (day(2), 120.0)];
        assert_eq!(abort_streak(&flat, op, 120.0, 2), None);
        assert_eq!(
            abort_streak(&flat, ComparisonOperator::Ge, 120.0, 2),
            Some(day(2))
        );
        assert_eq!(abort_streak(&[], op, 1.0, 1), None);
    }

    #[test]
    fn confidence_grows_with_the_move_against_the_noise() {
        // A clean step out of a quiet series: very sure.
        let step = [100.0, 100.0, 101.0, 100.0, 100.0, 120.0, 120.0, 121.0];
        assert!(
            confidence(20.0, &step) > 0.99,
            "{}",
            confidence(20.0, &step)
        );
        // The same move inside large swings: much less sure.
        let noisy = [100.0, 130.0, 90.0, 125.0, 85.0, 120.0];
        let c = confidence(20.0, &noisy);
        assert!(c > 0.0 && c < 0.8, "{c}");
        // No move, no confidence; too few values, no estimate.
        assert_eq!(confidence(0.0, &noisy), 0.0);
        assert_eq!(confidence(5.0, &[1.0, 6.0]), 0.0);
        // No noise at all.
        assert_eq!(confidence(0.0, &[5.0, 5.0, 5.0]), 0.0);
        assert_eq!(confidence(1.0, &[5.0, 5.0, 5.0]), 1.0);
        // z = 1 → about 0.68, z = 2 → about 0.95.
        let alternating = [0.0, 1.0, 0.0, 1.0, 0.0];
        let sigma = {
            // diffs ±1, mean 0, sample sd sqrt(4/3)
            (4.0f64 / 3.0).sqrt()
        };
        assert!((confidence(sigma, &alternating) - 0.6827).abs() < 1e-3);
        assert!((confidence(2.0 * sigma, &alternating) - 0.9545).abs() < 1e-3);
    }

    fn action(owner: OwnerSubsystem, field: &str, current: Value, new: Value) -> Action {
        Action {
            action_id: "act_1".into(),
            priority: 1,
            owner_subsystem: owner,
            r#type: ActionType::ConfigChange,
            target_metric: "pipeline_total".into(),
            target_entity: Some(TargetEntity {
                r#type: TargetEntityType::Campaign,
                id: "c1".into(),
            }),
            proposed_change: ProposedChange {
                field: field.into(),
                current_value: current,
                new_value: new,
            },
            guardrails: ActionGuardrails {
                max_additional_spend: None,
                max_exposure_percent: None,
                abort_conditions: vec![],
            },
            experiment: None,
            observation_window_days: 7,
            expected_impact: ExpectedImpact {
                metric_id: "pipeline_total".into(),
                direction: ImpactDirection::Increase,
                magnitude_pct: 10.0,
                confidence: 0.5,
            },
            notes_for_humans: String::new(),
        }
    }

    #[test]
    fn changes_are_planned_by_owner_and_field() {
        use OwnerSubsystem::{Campaigns, Crm};
        assert_eq!(
            plan_change(&action(
                Campaigns,
                "budget_total",
                json!(100.0),
                json!(120.0)
            )),
            Ok(Change::Campaigns(vec![CampaignEdit {
                campaign_id: "c1".into(),
                from: Some(CampaignValue::Budget(100.0)),
                to: CampaignValue::Budget(120.0),
            }]))
        );
        assert_eq!(
            plan_change(&action(
                Campaigns,
                "status",
                json!("active"),
                json!("paused")
            )),
            Ok(Change::Campaigns(vec![CampaignEdit {
                campaign_id: "c1".into(),
                from: Some(CampaignValue::Status("active".into())),
                to: CampaignValue::Status("paused".into()),
            }]))
        );
        let realloc = plan_change(&action(
            Campaigns,
            "budget_reallocation",
            json!({"from": {"campaign_id": "a", "budget_total": 100.0},
                   "to": {"campaign_id": "b", "budget_total": 50.0}}),
            json!({"from": {"campaign_id": "a", "budget_total": 80.0},
                   "to": {"campaign_id": "b", "budget_total": 70.0}}),
        ));
        assert_eq!(
            realloc,
            Ok(Change::Campaigns(vec![
                CampaignEdit {
                    campaign_id: "a".into(),
                    from: Some(CampaignValue::Budget(100.0)),
                    to: CampaignValue::Budget(80.0),
                },
                CampaignEdit {
                    campaign_id: "b".into(),
                    from: Some(CampaignValue::Budget(50.0)),
                    to: CampaignValue::Budget(70.0),
                },
            ]))
        );
        // Malformed campaign changes are refused.
        assert!(plan_change(&action(Campaigns, "budget_total", json!(1), json!(-5))).is_err());
        assert!(plan_change(&action(Campaigns, "status", json!("a"), json!(""))).is_err());
        assert!(
            plan_change(&action(
                Campaigns,
                "budget_reallocation",
                json!({}),
                json!({"from": {"campaign_id": "a"}})
            ))
            .is_err()
        );
        // Other owners, and campaign-owned changes that are not campaign
        // fields, are change records.
        assert_eq!(
            plan_change(&action(Crm, "sequence", Value::Null, json!("x"))),
            Ok(Change::Record)
        );
        assert_eq!(
            plan_change(&action(
                Campaigns,
                "daily_budget_uplift_pct",
                json!(0),
                json!(20)
            )),
            Ok(Change::Record)
        );
    }
}
