//! Storage of optimization cycles (seeds 001 and 002): the kernel's
//! execution log (`optimization_cycles`), the actions each cycle proposed
//! (`optimization_actions`) and the measured results of executed actions
//! (`optimization_action_results`).
//!
//! A cycle and its actions are written together ([`CycleStore::record_cycle`]),
//! with its audit entry, in one transaction. The contract's
//! `CYCLE_TOO_RECENT` rule is enforced there too, under a per-tenant lock,
//! so that two cycles started at the same moment cannot both pass it.

use crate::StoreError;
use crate::audit::NewAuditEntry;
use crate::listing::{Cursor, Listed, Order, page_limit, probe_after};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The most cycles one listing returns.
pub const MAX_CYCLE_LIST: u32 = 1000;

/// Which cycles [`CycleStore::cycles_matching`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleFilter {
    /// Newest (the default) or oldest first.
    pub order: Order,
    /// Keyset paging: only cycles past this (`created_at`, id) in `order`.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many (default 100, at most [`MAX_CYCLE_LIST`]).
    pub limit: Option<u32>,
}

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleStatus {
    /// It produced a valid output.
    Completed,
    /// It ended with an error (kept for the record; it does not count for
    /// `CYCLE_TOO_RECENT`).
    Failed,
}

impl CycleStatus {
    /// As stored and on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            CycleStatus::Completed => "completed",
            CycleStatus::Failed => "failed",
        }
    }

    /// The status written `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Completed, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A cycle as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cycle {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The cycle's id (the output's `cycle_id`).
    pub id: Uuid,
    /// `scheduled`, `metric_deviation`, `lifecycle_event` or `manual`.
    pub trigger_type: String,
    /// What fired it (`cron_daily`, …).
    pub trigger_source: String,
    /// When it was triggered.
    pub triggered_at: DateTime<Utc>,
    /// How it ended.
    pub status: CycleStatus,
    /// The output's binding constraint.
    pub binding_constraint: Option<String>,
    /// The output's priority metric.
    pub priority_metric: Option<String>,
    /// The `KernelInput`.
    pub input: Value,
    /// The `KernelOutput`, for a completed cycle.
    pub output: Option<Value>,
    /// The `KernelError`, for a failed cycle.
    pub error: Option<Value>,
    /// Extra records of the cycle (e.g. the candidates the CFO gate
    /// dropped, with reasons), a JSON object.
    pub notes: Value,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it finished.
    pub completed_at: Option<DateTime<Utc>>,
}

/// Where an optimization action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizationActionStatus {
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

impl OptimizationActionStatus {
    /// Every status.
    pub const ALL: [OptimizationActionStatus; 6] = [
        Self::Pending,
        Self::Executing,
        Self::Completed,
        Self::Failed,
        Self::Reverted,
        Self::Cancelled,
    ];

    /// As stored and on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Executing => "executing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Reverted => "reverted",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status written `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// An action of a cycle, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizationAction {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The stored action's id.
    pub id: Uuid,
    /// Its cycle.
    pub cycle_id: Uuid,
    /// The output's `action_id` (unique within the cycle).
    pub action_id: String,
    /// 1–7.
    pub priority: u32,
    /// The output's `owner_subsystem`.
    pub owner_subsystem: String,
    /// The output's `type`.
    pub action_type: String,
    /// The output's `target_metric`.
    pub target_metric: String,
    /// The target entity's type, if any.
    pub target_entity_type: Option<String>,
    /// The target entity's id, if any.
    pub target_entity_id: Option<String>,
    /// The output's `proposed_change`.
    pub proposed_change: Value,
    /// The whole output `Action`.
    pub spec: Value,
    /// Where it is.
    pub status: OptimizationActionStatus,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

/// The measured result of an executed action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResultRecord {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The result's id.
    pub id: Uuid,
    /// The stored action ([`OptimizationAction::id`]).
    pub action_id: Uuid,
    /// The action's cycle.
    pub cycle_id: Uuid,
    /// The metric measured.
    pub target_metric: String,
    /// Its value when the action started.
    pub baseline_value: f64,
    /// Its value when measured.
    pub observed_value: Option<f64>,
    /// `observed - baseline`.
    pub delta: Option<f64>,
    /// 0–1.
    pub confidence: Option<f64>,
    /// `successful`, `failed` or `inconclusive`.
    pub outcome: Option<String>,
    /// When the baseline was taken.
    pub baseline_recorded_at: DateTime<Utc>,
    /// When it was measured.
    pub measured_at: Option<DateTime<Utc>>,
}

/// Storage of optimization cycles; part of [`crate::Store`].
///
/// Every call on a tenant that does not exist answers
/// [`StoreError::TenantNotFound`].
#[async_trait]
pub trait CycleStore: Send + Sync {
    /// Writes a cycle, its actions (status `pending`) and its audit entry in
    /// one transaction. With `min_gap`, under a per-tenant lock: if a
    /// *completed* cycle of the tenant was created less than `min_gap`
    /// before `cycle.created_at`, nothing is written and the answer is
    /// [`StoreError::Conflict`] with `entity: "cycle"` and that cycle's id
    /// (the tenant's last completed cycle); a failed cycle never counts.
    /// Actions of a failed cycle are refused ([`StoreError::Invalid`]), as
    /// are an action that does not name this cycle and its tenant, `notes`
    /// that are not a JSON object, and a cycle id already stored (a
    /// duplicate record, not a conflict). Actions are stored `pending`,
    /// whatever status they carry. Timestamps are kept to the microsecond
    /// (see [`crate::support::now_at`]).
    async fn record_cycle(
        &self,
        cycle: &Cycle,
        actions: &[OptimizationAction],
        audit: Option<NewAuditEntry>,
        min_gap: Option<chrono::Duration>,
    ) -> Result<(), StoreError>;

    /// The most recent completed cycle of the tenant.
    async fn last_completed_cycle(&self, tenant: TenantId) -> Result<Option<Cycle>, StoreError>;

    /// The tenant's cycles, newest first (at most `limit`, capped at 1000;
    /// a `limit` of 0 means 1000).
    async fn list_cycles(&self, tenant: TenantId, limit: u32) -> Result<Vec<Cycle>, StoreError> {
        let filter = CycleFilter {
            limit: Some(if limit == 0 { MAX_CYCLE_LIST } else { limit }),
            ..CycleFilter::default()
        };
        self.cycles_matching(tenant, &filter).await
    }

    /// The tenant's cycles by creation time, then id, in the filter's order.
    async fn cycles_matching(
        &self,
        tenant: TenantId,
        filter: &CycleFilter,
    ) -> Result<Vec<Cycle>, StoreError>;

    /// How many cycles the tenant has.
    async fn count_cycles(&self, tenant: TenantId) -> Result<u64, StoreError>;

    /// A page of [`CycleStore::cycles_matching`] with the cursor to the next.
    async fn page_cycles(
        &self,
        tenant: TenantId,
        filter: &CycleFilter,
    ) -> Result<Listed<Cycle>, StoreError> {
        let limit = page_limit(filter.limit, 100, MAX_CYCLE_LIST);
        let filter = CycleFilter {
            limit: Some(limit),
            ..filter.clone()
        };
        let items = self.cycles_matching(tenant, &filter).await?;
        let more = match probe_after(&items, limit) {
            Some(last) => {
                let probe = CycleFilter {
                    after: Some((last.created_at, last.id)),
                    limit: Some(1),
                    ..filter
                };
                !self.cycles_matching(tenant, &probe).await?.is_empty()
            }
            None => false,
        };
        Ok(Listed::new(items, more, |c| Cursor::At(c.created_at, c.id)))
    }

    /// One cycle.
    async fn get_cycle(&self, tenant: TenantId, id: Uuid) -> Result<Option<Cycle>, StoreError>;

    /// A cycle's actions, by priority.
    async fn cycle_actions(
        &self,
        tenant: TenantId,
        cycle: Uuid,
    ) -> Result<Vec<OptimizationAction>, StoreError>;

    /// The tenant's actions in a status, oldest first (at most `limit`,
    /// capped at 1000; a `limit` of 0 means 1000).
    async fn actions_in_status(
        &self,
        tenant: TenantId,
        status: OptimizationActionStatus,
        limit: u32,
    ) -> Result<Vec<OptimizationAction>, StoreError>;

    /// Moves an action from `from` to `to` (compare-and-set), its
    /// `updated_at` set to `now` (to the microsecond); `false` when it was
    /// not in `from` (or does not exist).
    async fn set_optimization_action_status(
        &self,
        tenant: TenantId,
        id: Uuid,
        from: OptimizationActionStatus,
        to: OptimizationActionStatus,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Writes (or, for an existing id, replaces) an action result. Its
    /// action must be a stored action of the tenant, of the result's
    /// `cycle_id`, else [`StoreError::Invalid`].
    async fn put_action_result(&self, result: &ActionResultRecord) -> Result<(), StoreError>;

    /// The results of the tenant's actions, newest baseline first: all of
    /// them, or those measured at or after `measured_since` (at most
    /// `limit`, capped at 1000; a `limit` of 0 means 1000).
    async fn action_results(
        &self,
        tenant: TenantId,
        measured_since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<ActionResultRecord>, StoreError>;

    /// The results of one cycle's actions, oldest baseline first (an
    /// action has at most one result).
    async fn cycle_results(
        &self,
        tenant: TenantId,
        cycle: Uuid,
    ) -> Result<Vec<ActionResultRecord>, StoreError>;
}
