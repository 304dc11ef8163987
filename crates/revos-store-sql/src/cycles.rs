//! The rows of the optimizer's records: `optimization_cycles`,
//! `optimization_actions` and `optimization_action_results`.

use crate::{DbId, DbInt, corrupt};
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::cycles::{
    ActionResultRecord, Cycle, CycleStatus, OptimizationAction, OptimizationActionStatus,
};
use serde_json::Value;
use sqlx::types::Json;

/// The columns of a cycle, in [`CycleRow`]'s order (a macro, so that
/// `concat!` builds each statement as one static string).
#[macro_export]
macro_rules! cycle_columns {
    () => {
        "id, trigger_type, trigger_source, triggered_at, status, binding_constraint, \
         priority_metric, input, output, error, notes, created_at, completed_at"
    };
}

/// The columns of an action, in [`ActionRow`]'s order.
#[macro_export]
macro_rules! optimization_action_columns {
    () => {
        "id, cycle_id, action_id, priority, owner_subsystem, action_type, target_metric, \
         target_entity_type, target_entity_id, proposed_change, spec, status, created_at, \
         updated_at"
    };
}

/// The columns of an action result, in [`ResultRow`]'s order.
#[macro_export]
macro_rules! result_columns {
    () => {
        "id, action_id, cycle_id, target_metric, baseline_value, observed_value, delta, \
         confidence, outcome, baseline_recorded_at, measured_at"
    };
}

/// An `optimization_cycles` row ([`cycle_columns!`]).
#[derive(sqlx::FromRow)]
pub struct CycleRow {
    id: DbId,
    trigger_type: String,
    trigger_source: String,
    triggered_at: DateTime<Utc>,
    status: String,
    binding_constraint: Option<String>,
    priority_metric: Option<String>,
    input: Json<Value>,
    output: Option<Json<Value>>,
    error: Option<Json<Value>>,
    notes: Json<Value>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

impl CycleRow {
    /// The cycle of `tenant`.
    pub fn into_cycle(self, tenant: TenantId) -> Result<Cycle, StoreError> {
        Ok(Cycle {
            tenant_id: tenant,
            id: self.id.into_uuid(),
            trigger_type: self.trigger_type,
            trigger_source: self.trigger_source,
            triggered_at: self.triggered_at,
            status: CycleStatus::parse(&self.status)
                .ok_or_else(|| corrupt("cycle status", &self.status))?,
            binding_constraint: self.binding_constraint,
            priority_metric: self.priority_metric,
            input: self.input.0,
            output: self.output.map(|j| j.0),
            error: self.error.map(|j| j.0),
            notes: self.notes.0,
            created_at: self.created_at,
            completed_at: self.completed_at,
        })
    }
}

/// The cycles of `tenant`, in the rows' order.
pub fn cycles(rows: Vec<CycleRow>, tenant: TenantId) -> Result<Vec<Cycle>, StoreError> {
    rows.into_iter().map(|row| row.into_cycle(tenant)).collect()
}

/// An `optimization_actions` row ([`optimization_action_columns!`]).
#[derive(sqlx::FromRow)]
pub struct ActionRow {
    id: DbId,
    cycle_id: DbId,
    action_id: String,
    priority: DbInt,
    owner_subsystem: String,
    action_type: String,
    target_metric: String,
    target_entity_type: Option<String>,
    target_entity_id: Option<String>,
    proposed_change: Json<Value>,
    spec: Json<Value>,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ActionRow {
    /// The optimization action of `tenant`.
    pub fn into_action(self, tenant: TenantId) -> Result<OptimizationAction, StoreError> {
        Ok(OptimizationAction {
            tenant_id: tenant,
            id: self.id.into_uuid(),
            cycle_id: self.cycle_id.into_uuid(),
            action_id: self.action_id,
            priority: self.priority.to_u32("action priority")?,
            owner_subsystem: self.owner_subsystem,
            action_type: self.action_type,
            target_metric: self.target_metric,
            target_entity_type: self.target_entity_type,
            target_entity_id: self.target_entity_id,
            proposed_change: self.proposed_change.0,
            spec: self.spec.0,
            status: OptimizationActionStatus::parse(&self.status)
                .ok_or_else(|| corrupt("optimization action status", &self.status))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The optimization actions of `tenant`, in the rows' order.
pub fn actions(
    rows: Vec<ActionRow>,
    tenant: TenantId,
) -> Result<Vec<OptimizationAction>, StoreError> {
    rows.into_iter()
        .map(|row| row.into_action(tenant))
        .collect()
}

/// An `optimization_action_results` row ([`result_columns!`]).
#[derive(sqlx::FromRow)]
pub struct ResultRow {
    id: DbId,
    action_id: DbId,
    cycle_id: DbId,
    target_metric: String,
    baseline_value: f64,
    observed_value: Option<f64>,
    delta: Option<f64>,
    confidence: Option<f64>,
    outcome: Option<String>,
    baseline_recorded_at: DateTime<Utc>,
    measured_at: Option<DateTime<Utc>>,
}

impl ResultRow {
    /// The action result of `tenant`.
    pub fn into_result(self, tenant: TenantId) -> ActionResultRecord {
        ActionResultRecord {
            tenant_id: tenant,
            id: self.id.into_uuid(),
            action_id: self.action_id.into_uuid(),
            cycle_id: self.cycle_id.into_uuid(),
            target_metric: self.target_metric,
            baseline_value: self.baseline_value,
            observed_value: self.observed_value,
            delta: self.delta,
            confidence: self.confidence,
            outcome: self.outcome,
            baseline_recorded_at: self.baseline_recorded_at,
            measured_at: self.measured_at,
        }
    }
}
