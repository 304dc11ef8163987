//! Optimization cycles (seeds 001 and 002): the contract's
//! `KernelInput` → `KernelOutput`, run by the pure planner of
//! `revos-optimizer`, checked against the contract on the way in and out,
//! and recorded.
//!
//! Three ways in:
//! - [`plan_offline`]: the pure path of `revos kernel plan` — no database, so
//!   neither tenant existence nor cycle recency is checked;
//! - [`Kernel::run_kernel`] (`POST /v1/kernel/run`): the full contract,
//!   `TENANT_NOT_FOUND` and `CYCLE_TOO_RECENT` included;
//! - [`Kernel::run_tenant_cycle`] (`POST /v1/tenants/{id}/cycles`,
//!   `revos kernel run`): assembles the input from the tenant's stored data
//!   and runs it.
//!
//! A completed cycle is stored with its actions (status `pending`) and its
//! audit entry in one transaction, which also enforces the 12-hour gap
//! between completed cycles (a `manual` trigger may force past it). A cycle
//! that fails with a contract error is stored as failed, for the record.

use crate::identity::auth::Principal;
use crate::{Failure, Kernel};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use revos_contracts::ErrorKind;
use revos_contracts::kernel_io::{
    ActionResult, AnalysisWindow, CampaignInput, Guardrails, KernelConfig, KernelInput,
    KernelOutput, MetricValue, OpportunityInput, Outcome, RevenueEventInput, Targets, Trigger,
    TriggerType,
};
use revos_contracts::metrics::REQUIRED_METRICS;
use revos_contracts::validation::{InputContext, check_input, check_output, parse_input};
use revos_contracts::{ErrorCode, KernelError, TenantId};
use revos_optimizer::{Plan, PlanContext};
use revos_store::audit::NewAuditEntry;
use revos_store::cycles::{
    ActionResultRecord, Cycle, CycleStatus, OptimizationAction, OptimizationActionStatus,
};
use revos_store::identity::Scope;
use revos_store::{DateRange, MetricQuery, OpportunityStatus, Page, StoreError, support};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

/// The least time between two completed cycles of a tenant.
pub(crate) const CYCLE_MIN_GAP: Duration = Duration::hours(12);

/// Days of data a stored cycle looks at (the analysis window).
const DEFAULT_WINDOW_DAYS: i64 = 30;

/// The records a page of the store holds at most.
const PAGE: u32 = 1000;
/// How far before the window a required metric's last value is looked for.
const STALE_LOOKBACK_DAYS: i64 = 365;

/// A cycle id that depends only on the input and the clock, so the offline
/// planner prints the same output for the same input and `--now`.
fn stable_cycle_id(input: &[u8], now: DateTime<Utc>) -> Uuid {
    let mut hasher = Sha256::new();
    hasher.update(input);
    hasher.update(now.to_rfc3339().as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Plans without a database: parses and validates the input (rules 1–5
/// except tenant existence and cycle recency), plans, and checks the
/// output against the contract.
pub fn plan_offline(input: &[u8], now: DateTime<Utc>) -> Result<Plan, KernelError> {
    let parsed = parse_input(input)?;
    check_input(
        &parsed,
        &InputContext {
            now,
            tenant_exists: None,
        },
    )?;
    let plan = revos_optimizer::plan(
        &parsed,
        &PlanContext {
            now,
            cycle_id: stable_cycle_id(input, now),
        },
    )?;
    check_output(&plan.output, &Default::default())?;
    Ok(plan)
}

/// A cycle with its actions and their results.
#[derive(Debug, Clone, Serialize)]
pub struct CycleView {
    /// The cycle.
    pub cycle: Cycle,
    /// Its actions, by priority.
    pub actions: Vec<OptimizationAction>,
    /// The results of its executed actions: the baseline recorded at
    /// execution, then the observed value, delta, confidence and outcome
    /// once measured.
    pub results: Vec<ActionResultRecord>,
}

/// What `POST /v1/tenants/{id}/cycles` runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CycleRequest {
    /// The trigger (default: `manual` from `api`).
    pub trigger_type: Option<TriggerType>,
    /// What fired it.
    pub source: Option<String>,
    /// Run even if a cycle completed in the last 12 hours (only for a
    /// `manual` trigger).
    pub force: bool,
    /// Days of data to analyse (default 30).
    pub window_days: Option<u32>,
    /// Learn only from results measured at or after this time (default:
    /// the last 90 days). Not part of the API: the validation loop uses it
    /// so that a run learns from its own results only.
    #[serde(skip)]
    pub results_since: Option<DateTime<Utc>>,
}

fn too_recent(last: &Cycle, now: DateTime<Utc>) -> Failure {
    let next = last.created_at + CYCLE_MIN_GAP;
    let wait = (next - now).num_seconds().max(1);
    Failure::from_error(
        KernelError::new(
            ErrorCode::CycleTooRecent,
            format!(
                "the last cycle of this tenant completed at {} (less than 12 hours ago); the \
                 next may run from {}, or now with a forced manual trigger",
                last.created_at.to_rfc3339(),
                next.to_rfc3339()
            ),
        )
        .with_detail("last_cycle_id", last.id.to_string())
        .with_detail("retry_after_seconds", wait)
        // A generic client that retries a 429 after `Retry-After` would
        // wait hours: `retry_at` says when, so it can schedule instead.
        .with_detail("retry_at", next.to_rfc3339()),
    )
}

impl Kernel {
    /// Runs the contract on `input` for the caller (needs `write` on the
    /// tenant): validates it against every rule, refuses a cycle within 12
    /// hours of the last completed one unless `force` is given with a
    /// `manual` trigger, plans, checks the output, and records the cycle and
    /// its actions.
    pub async fn run_kernel(
        &self,
        by: &Principal,
        input: &KernelInput,
        force: bool,
    ) -> Result<KernelOutput, Failure> {
        let started = std::time::Instant::now();
        let tenant = input.tenant_id;
        if !tenant.is_platform() && by.scope_in(tenant).is_some() {
            by.authorize_tenant(tenant, Scope::Write)?;
        } else if by.platform_scope().is_none() {
            // Someone else's tenant is, to this caller, a tenant that does
            // not exist.
            return Err(Failure::tenant_not_found(tenant));
        }
        let now = Utc::now();
        let exists = self.store().get_tenant(tenant).await?.is_some();
        check_input(
            input,
            &InputContext {
                now,
                tenant_exists: Some(exists),
            },
        )
        .map_err(Failure::from_error)?;
        let forced = force && input.trigger.r#type == TriggerType::Manual;
        if force && !forced {
            return Err(Failure::of(
                ErrorKind::Validation,
                "only a manual trigger may force a cycle",
            ));
        }
        if !forced
            && let Some(last) = self.store().last_completed_cycle(tenant).await?
            && last.created_at + CYCLE_MIN_GAP > now
        {
            return Err(too_recent(&last, now));
        }
        let now = support::now_at(now);
        let cycle_id = Uuid::new_v4();
        let input_json = serde_json::to_value(input).unwrap_or(Value::Null);
        let planned = revos_optimizer::plan(input, &PlanContext { now, cycle_id }).and_then(|p| {
            check_output(&p.output, &Default::default())?;
            Ok(p)
        });
        let base = Cycle {
            tenant_id: tenant,
            id: cycle_id,
            trigger_type: input.trigger.r#type.as_str().to_owned(),
            trigger_source: input.trigger.source.clone(),
            triggered_at: support::now_at(input.trigger.triggered_at.with_timezone(&Utc)),
            status: CycleStatus::Completed,
            binding_constraint: None,
            priority_metric: None,
            input: input_json,
            output: None,
            error: None,
            notes: json!({}),
            created_at: now,
            completed_at: Some(now),
        };
        let plan = match planned {
            Ok(plan) => plan,
            Err(error) => {
                let failed = Cycle {
                    status: CycleStatus::Failed,
                    error: Some(serde_json::to_value(&error).unwrap_or(Value::Null)),
                    ..base
                };
                let audit = cycle_audit(by, &failed, 0);
                if let Err(e) = self
                    .store()
                    .record_cycle(&failed, &[], Some(audit), None)
                    .await
                {
                    tracing::error!(%tenant, error = %e, "could not record a failed cycle");
                }
                self.telemetry()
                    .cycle("failed", started.elapsed().as_secs_f64());
                return Err(Failure::from_error(error));
            }
        };
        let output = plan.output.clone();
        // Output rule 3 for this tenant: which subsystems have an executor
        // configured, and the actions whose subsystem has none (blocked
        // when executed in enforce mode). A simulated tenant's changes land
        // in its simulated world, which executes them all.
        let simulated = self
            .store()
            .get_tenant(tenant)
            .await?
            .is_some_and(|t| t.simulation);
        let (executors, without_executor) = if simulated {
            (
                json!("simulated: every change is applied to the simulated world"),
                Vec::new(),
            )
        } else {
            let map = super::dispatch::executors(self, tenant).await?;
            let missing: Vec<Value> = output
                .actions
                .iter()
                .filter(|a| {
                    let owner = a.owner_subsystem.as_str();
                    let configured = map[owner]["configured"].as_bool() == Some(true);
                    let spine = a.owner_subsystem
                        == revos_contracts::kernel_io::OwnerSubsystem::Campaigns
                        && matches!(
                            super::executor::plan_change(a),
                            Ok(super::executor::Change::Campaigns(_))
                        );
                    !configured && !spine
                })
                .map(|a| {
                    json!({
                        "action_id": a.action_id,
                        "owner_subsystem": a.owner_subsystem.as_str(),
                        "reason": map[a.owner_subsystem.as_str()]["note"],
                    })
                })
                .collect();
            (Value::Object(map), missing)
        };
        let cycle = Cycle {
            binding_constraint: Some(output.cycle_summary.binding_constraint.as_str().to_owned()),
            priority_metric: Some(output.cycle_summary.priority_metric.clone()),
            output: Some(serde_json::to_value(&output).unwrap_or(Value::Null)),
            notes: json!({
                "gated": plan.gated,
                "skipped": plan.skipped,
                "reproposed": plan.reproposed,
                "executors": executors,
                "without_executor": without_executor,
            }),
            ..base
        };
        let actions: Vec<OptimizationAction> = output
            .actions
            .iter()
            .map(|a| OptimizationAction {
                tenant_id: tenant,
                id: Uuid::new_v4(),
                cycle_id,
                action_id: a.action_id.clone(),
                priority: a.priority,
                owner_subsystem: a.owner_subsystem.as_str().to_owned(),
                action_type: a.r#type.as_str().to_owned(),
                target_metric: a.target_metric.clone(),
                target_entity_type: a
                    .target_entity
                    .as_ref()
                    .map(|e| e.r#type.as_str().to_owned()),
                target_entity_id: a.target_entity.as_ref().map(|e| e.id.clone()),
                proposed_change: serde_json::to_value(&a.proposed_change).unwrap_or(Value::Null),
                spec: serde_json::to_value(a).unwrap_or(Value::Null),
                status: OptimizationActionStatus::Pending,
                created_at: now,
                updated_at: now,
            })
            .collect();
        let audit = cycle_audit(by, &cycle, actions.len());
        match self
            .store()
            .record_cycle(
                &cycle,
                &actions,
                Some(audit),
                (!forced).then_some(CYCLE_MIN_GAP),
            )
            .await
        {
            Ok(()) => {
                self.telemetry()
                    .cycle("completed", started.elapsed().as_secs_f64());
                Ok(output)
            }
            // Another cycle completed between the check and the write.
            Err(StoreError::Conflict { .. }) => {
                match self.store().last_completed_cycle(tenant).await? {
                    Some(last) => Err(too_recent(&last, now)),
                    None => Err(Failure::internal(&"a cycle conflicted with none")),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Assembles the `KernelInput` of a tenant from its stored data: the
    /// optimizer config (targets, guardrails, config), the metric snapshots
    /// and revenue events of the window, active campaigns, open
    /// opportunities and the measured results of earlier actions whose
    /// change was applied (of the last 90 days, or since `results_since`;
    /// results observed in shadow mode are left out).
    pub async fn assemble_input(
        &self,
        tenant: TenantId,
        trigger: Trigger,
        window_days: i64,
        results_since: Option<DateTime<Utc>>,
    ) -> Result<KernelInput, Failure> {
        let store = self.store();
        let config = store.get_optimizer_config(tenant).await?;
        let parse = |name: &str, value: Value| {
            Failure::of(
                ErrorKind::Validation,
                format!(
                    "the tenant's optimizer config has invalid {name} ({value}); fix it with \
                     PUT /v1/tenants/{tenant}/optimizer-config"
                ),
            )
        };
        let targets: Targets = serde_json::from_value(config.targets.clone())
            .map_err(|_| parse("targets", config.targets.clone()))?;
        let mut guardrails_json = config.guardrails.clone();
        if let Some(map) = guardrails_json.as_object_mut() {
            map.entry("allowed_levers").or_insert_with(|| json!([]));
        }
        let guardrails: Guardrails = serde_json::from_value(guardrails_json)
            .map_err(|_| parse("guardrails", config.guardrails.clone()))?;
        let kernel_config: Option<KernelConfig> = match &config.config {
            Value::Object(map) if map.is_empty() => None,
            other => Some(
                serde_json::from_value(other.clone())
                    .map_err(|_| parse("config", other.clone()))?,
            ),
        };

        let end: NaiveDate = trigger.triggered_at.with_timezone(&Utc).date_naive();
        let start = end - Duration::days(window_days.max(1) - 1);
        let range = DateRange {
            from: Some(start),
            to: Some(end),
        };
        let mut metrics = Vec::new();
        let mut offset = 0;
        loop {
            let page = store
                .list_metric_snapshots(
                    tenant,
                    &MetricQuery {
                        metric_id: None,
                        range,
                        source: None,
                        page: Page::new(PAGE, offset),
                    },
                )
                .await?;
            let full = page.len() as u32 >= PAGE;
            metrics.extend(page.into_iter().map(|m| MetricValue {
                metric_id: m.metric_id,
                value: m.value,
                date: m.date,
                dimension: (!m.dimension.is_empty()).then_some(m.dimension),
            }));
            if !full {
                break;
            }
            offset += PAGE;
        }
        // A required metric with no value in the window is looked for
        // before it: its latest value tells the planner the metric went
        // stale (a data-quality problem it can fix) instead of missing.
        for id in REQUIRED_METRICS {
            if metrics.iter().any(|m| m.metric_id == id) {
                continue;
            }
            let before = store
                .list_metric_snapshots(
                    tenant,
                    &MetricQuery {
                        metric_id: Some(id.to_owned()),
                        range: DateRange {
                            from: Some(start - Duration::days(STALE_LOOKBACK_DAYS)),
                            to: Some(start - Duration::days(1)),
                        },
                        source: None,
                        page: Page::new(PAGE, 0),
                    },
                )
                .await?;
            if let Some(m) = before
                .into_iter()
                .filter(|m| m.dimension.is_empty())
                .max_by_key(|m| m.date)
            {
                metrics.push(MetricValue {
                    metric_id: m.metric_id,
                    value: m.value,
                    date: m.date,
                    dimension: None,
                });
            }
        }
        let mut revenue_events = Vec::new();
        let mut offset = 0;
        loop {
            let page = store
                .list_revenue_events(tenant, range, Page::new(PAGE, offset))
                .await?;
            let full = page.len() as u32 >= PAGE;
            revenue_events.extend(page.into_iter().map(|e| RevenueEventInput {
                id: e.id,
                r#type: e.event_type,
                amount: e.amount,
                effective_date: e.effective_date,
                attributed_campaign_id: e.attributed_campaign_id,
                attributed_channel: e.attributed_channel,
            }));
            if !full {
                break;
            }
            offset += PAGE;
        }
        let mut campaigns = Vec::new();
        let mut offset = 0;
        loop {
            let page = store
                .list_campaigns(tenant, Page::new(PAGE, offset))
                .await?;
            let full = page.len() as u32 >= PAGE;
            campaigns.extend(
                page.into_iter()
                    .filter(|c| c.end_date.is_none_or(|d| d >= start))
                    .filter(|c| !matches!(c.status.as_str(), "archived" | "completed" | "deleted"))
                    .map(|c| CampaignInput {
                        id: c.id,
                        name: c.name,
                        status: c.status,
                        objective: c.objective,
                        budget_total: c.budget_total,
                        budget_spent: c.budget_spent,
                        start_date: c.start_date,
                        end_date: c.end_date,
                    }),
            );
            if !full {
                break;
            }
            offset += PAGE;
        }
        let mut opportunities = Vec::new();
        let mut offset = 0;
        loop {
            let page = store
                .list_opportunities(
                    tenant,
                    Some(OpportunityStatus::Open),
                    Page::new(PAGE, offset),
                )
                .await?;
            let full = page.len() as u32 >= PAGE;
            opportunities.extend(page.into_iter().map(|o| OpportunityInput {
                id: o.id,
                stage: o.stage,
                amount: o.amount,
                expected_close_date: o.expected_close_date,
                win_probability: o.win_probability,
            }));
            if !full {
                break;
            }
            offset += PAGE;
        }
        let since = results_since.unwrap_or_else(|| Utc::now() - Duration::days(90));
        let all = store.action_results(tenant, Some(since), PAGE).await?;
        // A change observed in shadow mode was never made: its result says
        // nothing about the change, so it is not evidence to learn from
        // (the executor records `optimization.change_applied` only for a
        // change it applied).
        let keys: Vec<String> = all
            .iter()
            .map(|r| crate::optimize::executor::change_key("applied", r.action_id))
            .collect();
        let applied = store.taken_event_keys(tenant, &keys).await?;
        let measured: Vec<_> = all
            .into_iter()
            .zip(&keys)
            .filter(|(_, key)| applied.contains(*key))
            .map(|(r, _)| r)
            .collect();
        // Results name the stored action; the planner reads the change
        // (owner, type, field, entity) from the action id the output gave
        // it, so that is the id passed back.
        let mut names = std::collections::HashMap::new();
        let mut cycles_seen = std::collections::HashSet::new();
        for r in &measured {
            if cycles_seen.insert(r.cycle_id) {
                for a in store.cycle_actions(tenant, r.cycle_id).await? {
                    names.insert(a.id, a.action_id);
                }
            }
        }
        let results: Vec<ActionResult> = measured
            .into_iter()
            .filter_map(|r| {
                let outcome = match r.outcome.as_deref()? {
                    "successful" => Outcome::Successful,
                    "failed" => Outcome::Failed,
                    "inconclusive" => Outcome::Inconclusive,
                    _ => return None,
                };
                Some(ActionResult {
                    action_id: names
                        .get(&r.action_id)
                        .cloned()
                        .unwrap_or_else(|| r.action_id.to_string()),
                    target_metric: r.target_metric,
                    baseline_value: r.baseline_value,
                    observed_value: r.observed_value?,
                    delta: r.delta?,
                    confidence: r.confidence?,
                    outcome,
                })
            })
            .collect();
        Ok(KernelInput {
            tenant_id: tenant,
            trigger,
            analysis_window: AnalysisWindow {
                start_date: start,
                end_date: end,
            },
            targets,
            guardrails,
            metrics,
            revenue_events,
            campaigns,
            opportunities,
            recent_action_results: (!results.is_empty()).then_some(results),
            config: kernel_config,
        })
    }

    /// Runs a cycle of the tenant on its stored data (see
    /// [`Kernel::assemble_input`] and [`Kernel::run_kernel`]).
    pub async fn run_tenant_cycle(
        &self,
        by: &Principal,
        tenant: TenantId,
        request: &CycleRequest,
    ) -> Result<(KernelOutput, CycleView), Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        self.tenant(tenant).await?;
        let trigger_type = request.trigger_type.unwrap_or(TriggerType::Manual);
        let trigger = Trigger {
            r#type: trigger_type,
            source: request.source.clone().unwrap_or_else(|| {
                match trigger_type {
                    TriggerType::Scheduled => "cron_daily",
                    TriggerType::MetricDeviation => "metric_alert",
                    TriggerType::LifecycleEvent => "lifecycle_event",
                    TriggerType::Manual => "api",
                }
                .to_owned()
            }),
            triggered_at: Utc::now().fixed_offset(),
        };
        let days = i64::from(request.window_days.unwrap_or(DEFAULT_WINDOW_DAYS as u32));
        if !(1..=366).contains(&days) {
            return Err(Failure::of(
                ErrorKind::Validation,
                format!("window_days must be between 1 and 366, got {days}"),
            ));
        }
        let input = self
            .assemble_input(tenant, trigger, days, request.results_since)
            .await?;
        let output = self.run_kernel(by, &input, request.force).await?;
        let view = self.cycle(by, tenant, output.cycle_id).await?;
        Ok((output, view))
    }

    /// A page of the tenant's cycles, newest first unless the filter says
    /// otherwise.
    pub async fn cycles(
        &self,
        by: &Principal,
        tenant: TenantId,
        filter: &revos_store::cycles::CycleFilter,
    ) -> Result<revos_store::listing::Listed<Cycle>, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        Ok(self.store().page_cycles(tenant, filter).await?)
    }

    /// How many cycles the tenant has.
    pub async fn cycle_count(&self, by: &Principal, tenant: TenantId) -> Result<u64, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        Ok(self.store().count_cycles(tenant).await?)
    }

    /// One cycle with its actions.
    pub async fn cycle(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<CycleView, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        let cycle = self
            .store()
            .get_cycle(tenant, id)
            .await?
            .ok_or_else(|| Failure::not_found("cycle", &id.to_string()))?;
        let actions = self.store().cycle_actions(tenant, id).await?;
        let results = self.store().cycle_results(tenant, id).await?;
        Ok(CycleView {
            cycle,
            actions,
            results,
        })
    }
}

fn cycle_audit(by: &Principal, cycle: &Cycle, actions: usize) -> NewAuditEntry {
    NewAuditEntry {
        occurred_at: cycle.created_at,
        actor: by.actor(),
        action: match cycle.status {
            CycleStatus::Completed => "cycle.complete",
            CycleStatus::Failed => "cycle.fail",
        }
        .to_owned(),
        resource_type: Some("cycle".to_owned()),
        resource_id: Some(cycle.id.to_string()),
        details: json!({
            "trigger": {"type": cycle.trigger_type, "source": cycle.trigger_source},
            "binding_constraint": cycle.binding_constraint,
            "priority_metric": cycle.priority_metric,
            "actions": actions,
            "error": cycle.error,
        }),
    }
}
