//! The rows of the operations kernel: `tool_policies`, `agent_actions`
//! and `approvals` (migration 0015 of each backend).

use crate::{DbId, DbInt};
use chrono::{DateTime, Utc};
use revos_store::StoreError;
use revos_store::ops::{AgentActionRecord, ApprovalRecord, ToolPolicyRecord};
use serde_json::Value;
use sqlx::types::Json;

/// A `tool_policies` row.
#[derive(sqlx::FromRow)]
pub struct ToolPolicyRow {
    text: String,
    settings: Json<Value>,
    updated_by: String,
    updated_at: DateTime<Utc>,
}

impl From<ToolPolicyRow> for ToolPolicyRecord {
    fn from(row: ToolPolicyRow) -> Self {
        ToolPolicyRecord {
            text: row.text,
            settings: row.settings.0,
            updated_by: row.updated_by,
            updated_at: row.updated_at,
        }
    }
}

/// An `agent_actions` row ([`agent_action_columns!`]).
#[derive(sqlx::FromRow)]
pub struct AgentActionRow {
    id: DbId,
    idempotency_key: String,
    job_key: String,
    tool: String,
    agent: String,
    status: String,
    approval_id: Option<DbId>,
    job_id: Option<DbId>,
    body: Json<Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<AgentActionRow> for AgentActionRecord {
    fn from(row: AgentActionRow) -> Self {
        AgentActionRecord {
            id: row.id.into_uuid(),
            idempotency_key: row.idempotency_key,
            job_key: row.job_key,
            tool: row.tool,
            agent: row.agent,
            status: row.status,
            approval_id: row.approval_id.map(DbId::into_uuid),
            job_id: row.job_id.map(DbId::into_uuid),
            body: row.body.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The columns of [`AgentActionRow`].
#[macro_export]
macro_rules! agent_action_columns {
    () => {
        "id, idempotency_key, job_key, tool, agent, status, approval_id, job_id, body, \
         created_at, updated_at"
    };
}

/// An `approvals` row ([`approval_columns!`]).
#[derive(sqlx::FromRow)]
pub struct ApprovalRow {
    id: DbId,
    action_id: DbId,
    status: String,
    risk: String,
    tool: String,
    requester: String,
    queue: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    version: DbInt,
    body: Json<Value>,
}

impl From<ApprovalRow> for ApprovalRecord {
    fn from(row: ApprovalRow) -> Self {
        ApprovalRecord {
            id: row.id.into_uuid(),
            action_id: row.action_id.into_uuid(),
            status: row.status,
            risk: row.risk,
            tool: row.tool,
            requester: row.requester,
            queue: row.queue,
            created_at: row.created_at,
            expires_at: row.expires_at,
            version: row.version.0,
            body: row.body.0,
        }
    }
}

/// The columns of [`ApprovalRow`].
#[macro_export]
macro_rules! approval_columns {
    () => {
        "id, action_id, status, risk, tool, requester, queue, created_at, expires_at, version, \
         body"
    };
}

/// A version to store: [`StoreError::Invalid`] beyond an `i32`.
pub fn version(v: i64) -> Result<i32, StoreError> {
    i32::try_from(v).map_err(|_| StoreError::Invalid(format!("version {v} is too large")))
}
