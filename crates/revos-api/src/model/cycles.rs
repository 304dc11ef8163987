//! Optimization cycles, their actions and the actions' measured results as
//! the API shows them.
//!
//! `routes::cycles` answers with these, converted from the store's records
//! and the kernel's [`revos_kernel::optimize::cycles::CycleView`].

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_kernel::optimize::cycles as kernel;
use revos_store::cycles as store;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CycleStatus {
    /// It produced a valid output.
    Completed,
    /// It ended with an error (kept for the record; it does not count for
    /// `CYCLE_TOO_RECENT`).
    Failed,
}

impl From<store::CycleStatus> for CycleStatus {
    fn from(status: store::CycleStatus) -> Self {
        match status {
            store::CycleStatus::Completed => CycleStatus::Completed,
            store::CycleStatus::Failed => CycleStatus::Failed,
        }
    }
}

/// A cycle as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct Cycle {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: TenantId,
    /// The cycle's id (the output's `cycle_id`).
    pub(crate) id: Uuid,
    /// `scheduled`, `metric_deviation`, `lifecycle_event` or `manual`.
    pub(crate) trigger_type: String,
    /// What fired it (`cron_daily`, …).
    pub(crate) trigger_source: String,
    /// When it was triggered.
    pub(crate) triggered_at: DateTime<Utc>,
    /// How it ended.
    pub(crate) status: CycleStatus,
    /// The output's binding constraint.
    pub(crate) binding_constraint: Option<String>,
    /// The output's priority metric.
    pub(crate) priority_metric: Option<String>,
    /// The `KernelInput`.
    #[schema(value_type = Object)]
    pub(crate) input: Value,
    /// The `KernelOutput`, for a completed cycle.
    #[schema(value_type = Option<Object>)]
    pub(crate) output: Option<Value>,
    /// The `KernelError`, for a failed cycle.
    #[schema(value_type = Option<Object>)]
    pub(crate) error: Option<Value>,
    /// Extra records of the cycle (e.g. the candidates the CFO gate
    /// dropped, with reasons), a JSON object.
    #[schema(value_type = Object)]
    pub(crate) notes: Value,
    /// When it was recorded.
    pub(crate) created_at: DateTime<Utc>,
    /// When it finished.
    pub(crate) completed_at: Option<DateTime<Utc>>,
}

impl From<store::Cycle> for Cycle {
    fn from(cycle: store::Cycle) -> Self {
        let store::Cycle {
            tenant_id,
            id,
            trigger_type,
            trigger_source,
            triggered_at,
            status,
            binding_constraint,
            priority_metric,
            input,
            output,
            error,
            notes,
            created_at,
            completed_at,
        } = cycle;
        Cycle {
            tenant_id,
            id,
            trigger_type,
            trigger_source,
            triggered_at,
            status: status.into(),
            binding_constraint,
            priority_metric,
            input,
            output,
            error,
            notes,
            created_at,
            completed_at,
        }
    }
}

/// Where an optimization action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OptimizationActionStatus {
    /// Proposed, not started.
    Pending,
    /// Applied; being observed.
    Executing,
    /// Observed to the end of its window.
    Completed,
    /// Aborted or judged failed.
    Failed,
    /// Its change was undone.
    Reverted,
    /// Dropped before it ran.
    Cancelled,
}

impl From<store::OptimizationActionStatus> for OptimizationActionStatus {
    fn from(status: store::OptimizationActionStatus) -> Self {
        use store::OptimizationActionStatus as S;
        match status {
            S::Pending => Self::Pending,
            S::Executing => Self::Executing,
            S::Completed => Self::Completed,
            S::Failed => Self::Failed,
            S::Reverted => Self::Reverted,
            S::Cancelled => Self::Cancelled,
        }
    }
}

/// An action of a cycle, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct OptimizationAction {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: TenantId,
    /// The stored action's id.
    pub(crate) id: Uuid,
    /// Its cycle.
    pub(crate) cycle_id: Uuid,
    /// The output's `action_id` (unique within the cycle).
    pub(crate) action_id: String,
    /// 1–7.
    pub(crate) priority: u32,
    /// The output's `owner_subsystem`.
    pub(crate) owner_subsystem: String,
    /// The output's `type`.
    pub(crate) action_type: String,
    /// The output's `target_metric`.
    pub(crate) target_metric: String,
    /// The target entity's type, if any.
    pub(crate) target_entity_type: Option<String>,
    /// The target entity's id, if any.
    pub(crate) target_entity_id: Option<String>,
    /// The output's `proposed_change`.
    #[schema(value_type = Object)]
    pub(crate) proposed_change: Value,
    /// The whole output `Action`.
    #[schema(value_type = Object)]
    pub(crate) spec: Value,
    /// Where it is.
    pub(crate) status: OptimizationActionStatus,
    /// When it was recorded.
    pub(crate) created_at: DateTime<Utc>,
    /// When its status last changed.
    pub(crate) updated_at: DateTime<Utc>,
}

impl From<store::OptimizationAction> for OptimizationAction {
    fn from(action: store::OptimizationAction) -> Self {
        let store::OptimizationAction {
            tenant_id,
            id,
            cycle_id,
            action_id,
            priority,
            owner_subsystem,
            action_type,
            target_metric,
            target_entity_type,
            target_entity_id,
            proposed_change,
            spec,
            status,
            created_at,
            updated_at,
        } = action;
        OptimizationAction {
            tenant_id,
            id,
            cycle_id,
            action_id,
            priority,
            owner_subsystem,
            action_type,
            target_metric,
            target_entity_type,
            target_entity_id,
            proposed_change,
            spec,
            status: status.into(),
            created_at,
            updated_at,
        }
    }
}

/// The measured result of an executed action.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct ActionResultRecord {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: TenantId,
    /// The result's id.
    pub(crate) id: Uuid,
    /// The stored action ([`OptimizationAction::id`]).
    pub(crate) action_id: Uuid,
    /// The action's cycle.
    pub(crate) cycle_id: Uuid,
    /// The metric measured.
    pub(crate) target_metric: String,
    /// Its value when the action started.
    pub(crate) baseline_value: f64,
    /// Its value when measured.
    pub(crate) observed_value: Option<f64>,
    /// `observed - baseline`.
    pub(crate) delta: Option<f64>,
    /// 0–1.
    pub(crate) confidence: Option<f64>,
    /// `successful`, `failed` or `inconclusive`.
    pub(crate) outcome: Option<String>,
    /// When the baseline was taken.
    pub(crate) baseline_recorded_at: DateTime<Utc>,
    /// When it was measured.
    pub(crate) measured_at: Option<DateTime<Utc>>,
}

impl From<store::ActionResultRecord> for ActionResultRecord {
    fn from(result: store::ActionResultRecord) -> Self {
        let store::ActionResultRecord {
            tenant_id,
            id,
            action_id,
            cycle_id,
            target_metric,
            baseline_value,
            observed_value,
            delta,
            confidence,
            outcome,
            baseline_recorded_at,
            measured_at,
        } = result;
        ActionResultRecord {
            tenant_id,
            id,
            action_id,
            cycle_id,
            target_metric,
            baseline_value,
            observed_value,
            delta,
            confidence,
            outcome,
            baseline_recorded_at,
            measured_at,
        }
    }
}

/// A cycle with its actions and their results.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CycleView {
    /// The cycle.
    pub(crate) cycle: Cycle,
    /// Its actions, by priority.
    pub(crate) actions: Vec<OptimizationAction>,
    /// The results of its executed actions: the baseline recorded at
    /// execution, then the observed value, delta, confidence and outcome
    /// once measured.
    pub(crate) results: Vec<ActionResultRecord>,
}

impl From<kernel::CycleView> for CycleView {
    fn from(view: kernel::CycleView) -> Self {
        let kernel::CycleView {
            cycle,
            actions,
            results,
        } = view;
        CycleView {
            cycle: cycle.into(),
            actions: actions.into_iter().map(Into::into).collect(),
            results: results.into_iter().map(Into::into).collect(),
        }
    }
}
