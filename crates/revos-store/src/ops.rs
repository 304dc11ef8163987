//! Storage of the operations kernel for agents: a tenant's tool policies,
//! the actions agents asked for, and the approvals that gate them.
//!
//! The store keeps what the kernel decided as documents (`body`) beside
//! the columns it filters on; the rules (who may decide, how many must,
//! when an approval expires) live in the kernel. An approval changes only
//! through [`OpsStore::update_approval`], which writes only over the
//! version the caller read, so two people deciding at once cannot both
//! win.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;

/// A tenant's tool policies: Cedar text and the approval settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolPolicyRecord {
    /// The Cedar policies, as sent.
    pub text: String,
    /// The approval settings (a JSON object the kernel defines).
    pub settings: Value,
    /// Who stored them.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// An action an agent asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentActionRecord {
    /// Its id.
    pub id: Uuid,
    /// The caller's idempotency key (unique per tenant).
    pub idempotency_key: String,
    /// The job's idempotency id: the hash of tool, entity and version
    /// (unique per tenant).
    pub job_key: String,
    /// The tool.
    pub tool: String,
    /// The agent that asked.
    pub agent: String,
    /// `executed`, `awaiting_approval`, `blocked`, `rejected`, `expired`.
    pub status: String,
    /// The approval that gates it.
    pub approval_id: Option<Uuid>,
    /// The job that carries it out.
    pub job_id: Option<Uuid>,
    /// Everything else the kernel records (a JSON object).
    pub body: Value,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// An approval: a gated action waiting for (or given) people's decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRecord {
    /// Its id.
    pub id: Uuid,
    /// The action it gates.
    pub action_id: Uuid,
    /// `pending`, `approved`, `rejected` or `expired`.
    pub status: String,
    /// `low`, `medium` or `high`.
    pub risk: String,
    /// The tool.
    pub tool: String,
    /// Who asked (the agent).
    pub requester: String,
    /// The queue the gated job runs on.
    pub queue: String,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it expires if still pending.
    pub expires_at: DateTime<Utc>,
    /// Bumped by every update.
    pub version: i64,
    /// Evidence, arguments, decisions… (a JSON object the kernel defines).
    pub body: Value,
}

/// Which approvals to list; newest first, by creation time then id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApprovalFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this risk level.
    pub risk: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this requester.
    pub requester: Option<String>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only those created before this time (older than an age).
    pub created_before: Option<DateTime<Utc>>,
    /// Only those expiring at or before this time.
    pub expires_by: Option<DateTime<Utc>>,
    /// Only those after this (created_at, id) in the order (a cursor).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many.
    pub limit: u32,
}

/// Which agent actions to list; newest first, by creation time then id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentActionFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this agent.
    pub agent: Option<String>,
    /// Only those after this (created_at, id) in the order (a cursor).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many.
    pub limit: u32,
}

/// The operations kernel's storage.
#[async_trait]
pub trait OpsStore {
    /// The tenant's tool policies, if any were stored.
    async fn tool_policies(&self, tenant: TenantId)
    -> Result<Option<ToolPolicyRecord>, StoreError>;

    /// Replaces the tenant's tool policies.
    async fn put_tool_policies(
        &self,
        tenant: TenantId,
        policies: &ToolPolicyRecord,
    ) -> Result<(), StoreError>;

    /// Records a new action and, when it is gated, its approval, in one
    /// transaction. [`StoreError::Conflict`] when the idempotency key or
    /// the job key is taken.
    async fn insert_agent_action(
        &self,
        tenant: TenantId,
        action: &AgentActionRecord,
        approval: Option<&ApprovalRecord>,
    ) -> Result<(), StoreError>;

    /// One action.
    async fn agent_action(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<AgentActionRecord>, StoreError>;

    /// The action with this idempotency key (`by_job_key`: with this job
    /// key instead).
    async fn agent_action_by_key(
        &self,
        tenant: TenantId,
        key: &str,
        by_job_key: bool,
    ) -> Result<Option<AgentActionRecord>, StoreError>;

    /// The tenant's actions matching `filter`, newest first.
    async fn list_agent_actions(
        &self,
        tenant: TenantId,
        filter: &AgentActionFilter,
    ) -> Result<Vec<AgentActionRecord>, StoreError>;

    /// Replaces an action's status, approval, job, body and update time.
    async fn update_agent_action(
        &self,
        tenant: TenantId,
        action: &AgentActionRecord,
    ) -> Result<(), StoreError>;

    /// One approval.
    async fn approval(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<ApprovalRecord>, StoreError>;

    /// Approvals matching the filter, newest first.
    async fn list_approvals(
        &self,
        tenant: TenantId,
        filter: &ApprovalFilter,
    ) -> Result<Vec<ApprovalRecord>, StoreError>;

    /// Writes `approval` (status and body, version + 1) only if the stored
    /// version is still `approval.version`; `false` when someone else
    /// changed it first.
    async fn update_approval(
        &self,
        tenant: TenantId,
        approval: &ApprovalRecord,
    ) -> Result<bool, StoreError>;
}
