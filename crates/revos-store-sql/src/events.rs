//! The rows of the event runtime: `kernel_events`, `kernel_decisions`,
//! `kernel_actions`, `channel_outbox`, `tasks`, `webhook_endpoints` and
//! `idempotency_keys`.

use crate::{DbId, DbInt, corrupt};
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_contracts::runtime::{
    ActionKind, ActionStatus, DecisionOutcome, EventSubject, KernelAction, KernelDecision,
    KernelEvent, KernelMode,
};
use revos_store::StoreError;
use revos_store::events::{
    IdempotencyRecord, OutboxEmail, OutboxStatus, StoredEvent, Task, TaskStatus, WebhookEndpoint,
};
use serde_json::Value;
use sqlx::types::Json;

/// The columns of an event, in [`EventRow`]'s order (a macro, so that
/// `concat!` builds each statement as one static string).
#[macro_export]
macro_rules! event_columns {
    () => {
        "id, type, source, idempotency_key, correlation_id, subject_type, subject_id, payload, \
         occurred_at, created_at, body_hash"
    };
}

/// The columns of a decision, in [`DecisionRow`]'s order.
#[macro_export]
macro_rules! decision_columns {
    () => {
        "id, event_id, policy_id, policy_version, outcome, reasons, correlation_id, mode, \
         created_at"
    };
}

/// The columns of an action, in [`ActionRow`]'s order.
#[macro_export]
macro_rules! kernel_action_columns {
    () => {
        "id, decision_id, event_id, type, params, status, idempotency_key, correlation_id, mode, \
         created_at, updated_at"
    };
}

/// The columns of an outbox e-mail, in [`OutboxRow`]'s order.
#[macro_export]
macro_rules! outbox_columns {
    () => {
        "id, action_id, to_addr, from_addr, reply_to, subject, text_body, html_body, message_id, \
         status, attempts, last_error, sent_at, created_at"
    };
}

/// The columns of a task, in [`TaskRow`]'s order.
#[macro_export]
macro_rules! task_columns {
    () => {
        "id, action_id, owner, subject, details, due_at, entity_type, entity_id, status, \
         created_at, completed_at"
    };
}

fn parse_outcome(s: &str) -> Result<DecisionOutcome, StoreError> {
    DecisionOutcome::parse(s).ok_or_else(|| corrupt("decision outcome", s))
}

/// A stored kernel mode (of a decision, an action, a tenant or a policy).
pub fn parse_mode(s: &str) -> Result<KernelMode, StoreError> {
    KernelMode::parse_exact(s).ok_or_else(|| corrupt("kernel mode", s))
}

fn parse_kind(s: &str) -> Result<ActionKind, StoreError> {
    ActionKind::parse(s).ok_or_else(|| corrupt("action type", s))
}

fn parse_status(s: &str) -> Result<ActionStatus, StoreError> {
    ActionStatus::parse(s).ok_or_else(|| corrupt("action status", s))
}

/// A `kernel_events` row ([`event_columns!`]).
#[derive(sqlx::FromRow)]
pub struct EventRow {
    id: DbId,
    r#type: String,
    source: String,
    idempotency_key: String,
    correlation_id: String,
    subject_type: Option<String>,
    subject_id: Option<String>,
    payload: Json<Value>,
    occurred_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    body_hash: String,
}

impl EventRow {
    /// The stored event of `tenant`.
    pub fn into_stored(self, tenant: TenantId) -> Result<StoredEvent, StoreError> {
        let (Some(subject_type), Some(subject_id)) = (self.subject_type, self.subject_id) else {
            return Err(corrupt("event subject", "null"));
        };
        Ok(StoredEvent {
            event: KernelEvent {
                id: self.id.into_uuid(),
                tenant_id: tenant,
                r#type: self.r#type,
                source: self.source,
                idempotency_key: self.idempotency_key,
                correlation_id: self.correlation_id,
                subject: EventSubject {
                    r#type: subject_type,
                    id: subject_id,
                },
                payload: self.payload.0,
                occurred_at: self.occurred_at,
                recorded_at: self.created_at,
            },
            body_hash: self.body_hash,
        })
    }
}

/// The events of `tenant`, in the rows' order.
pub fn events(rows: Vec<EventRow>, tenant: TenantId) -> Result<Vec<KernelEvent>, StoreError> {
    rows.into_iter()
        .map(|row| row.into_stored(tenant).map(|stored| stored.event))
        .collect()
}

/// A `kernel_decisions` row ([`decision_columns!`]).
#[derive(sqlx::FromRow)]
pub struct DecisionRow {
    id: DbId,
    event_id: DbId,
    policy_id: String,
    policy_version: DbInt,
    outcome: String,
    reasons: Json<Vec<String>>,
    correlation_id: String,
    mode: String,
    created_at: DateTime<Utc>,
}

impl DecisionRow {
    /// The decision of `tenant`.
    pub fn into_decision(self, tenant: TenantId) -> Result<KernelDecision, StoreError> {
        Ok(KernelDecision {
            id: self.id.into_uuid(),
            tenant_id: tenant,
            event_id: self.event_id.into_uuid(),
            policy_version: self.policy_version.to_u32("policy version")?,
            policy_id: self.policy_id,
            outcome: parse_outcome(&self.outcome)?,
            reasons: self.reasons.0,
            correlation_id: self.correlation_id,
            mode: parse_mode(&self.mode)?,
            decided_at: self.created_at,
        })
    }
}

/// A `kernel_actions` row ([`kernel_action_columns!`]).
#[derive(sqlx::FromRow)]
pub struct ActionRow {
    id: DbId,
    decision_id: DbId,
    event_id: DbId,
    r#type: String,
    params: Json<Value>,
    status: String,
    idempotency_key: String,
    correlation_id: String,
    mode: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ActionRow {
    /// The action of `tenant`.
    pub fn into_action(self, tenant: TenantId) -> Result<KernelAction, StoreError> {
        Ok(KernelAction {
            id: self.id.into_uuid(),
            tenant_id: tenant,
            decision_id: self.decision_id.into_uuid(),
            event_id: self.event_id.into_uuid(),
            r#type: parse_kind(&self.r#type)?,
            params: self.params.0,
            status: parse_status(&self.status)?,
            idempotency_key: self.idempotency_key,
            correlation_id: self.correlation_id,
            mode: parse_mode(&self.mode)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A `channel_outbox` row ([`outbox_columns!`]).
#[derive(sqlx::FromRow)]
pub struct OutboxRow {
    id: DbId,
    action_id: DbId,
    to_addr: String,
    from_addr: String,
    reply_to: Option<String>,
    subject: String,
    text_body: String,
    html_body: Option<String>,
    message_id: String,
    status: String,
    attempts: DbInt,
    last_error: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl OutboxRow {
    /// The outbox e-mail of `tenant`.
    pub fn into_email(self, tenant: TenantId) -> Result<OutboxEmail, StoreError> {
        Ok(OutboxEmail {
            tenant_id: tenant,
            id: self.id.into_uuid(),
            action_id: self.action_id.into_uuid(),
            to: self.to_addr,
            from: self.from_addr,
            reply_to: self.reply_to,
            subject: self.subject,
            text: self.text_body,
            html: self.html_body,
            message_id: self.message_id,
            status: OutboxStatus::parse(&self.status)
                .ok_or_else(|| corrupt("outbox status", &self.status))?,
            attempts: self.attempts.to_u32("outbox attempts")?,
            last_error: self.last_error,
            sent_at: self.sent_at,
            created_at: self.created_at,
        })
    }
}

/// A `tasks` row ([`task_columns!`]).
#[derive(sqlx::FromRow)]
pub struct TaskRow {
    id: DbId,
    action_id: Option<DbId>,
    owner: String,
    subject: String,
    details: Option<String>,
    due_at: Option<DateTime<Utc>>,
    entity_type: Option<String>,
    entity_id: Option<String>,
    status: String,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

impl TaskRow {
    /// The task of `tenant`.
    pub fn into_task(self, tenant: TenantId) -> Result<Task, StoreError> {
        Ok(Task {
            tenant_id: tenant,
            id: self.id.into_uuid(),
            action_id: self.action_id.map(DbId::into_uuid),
            owner: self.owner,
            subject: self.subject,
            details: self.details,
            due_at: self.due_at,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            status: TaskStatus::parse(&self.status)
                .ok_or_else(|| corrupt("task status", &self.status))?,
            created_at: self.created_at,
            completed_at: self.completed_at,
        })
    }
}

/// A `webhook_endpoints` row (`id, name, url, secret, active, created_at`).
#[derive(sqlx::FromRow)]
pub struct EndpointRow {
    id: DbId,
    name: String,
    url: String,
    secret: Option<String>,
    active: bool,
    created_at: DateTime<Utc>,
}

impl EndpointRow {
    /// The endpoint of `tenant`.
    pub fn into_endpoint(self, tenant: TenantId) -> WebhookEndpoint {
        WebhookEndpoint {
            tenant_id: tenant,
            id: self.id.into_uuid(),
            name: self.name,
            url: self.url,
            secret: self.secret,
            active: self.active,
            created_at: self.created_at,
        }
    }
}

/// An `idempotency_keys` row (`request_hash, status_code, response,
/// created_at, expires_at`).
#[derive(sqlx::FromRow)]
pub struct IdempotencyRow {
    request_hash: String,
    status_code: Option<DbInt>,
    response: Option<Json<Value>>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

impl IdempotencyRow {
    /// The record that answers for its key at `now`, or `None` when the key
    /// may be taken over (the record expired or was abandoned; see
    /// [`revos_store::rules::idempotency_record_holds`]).
    pub fn into_holding(
        self,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let holds = revos_store::rules::idempotency_record_holds(
            self.status_code.is_some(),
            self.created_at,
            self.expires_at,
            now,
            stale_after,
        );
        if !holds {
            return Ok(None);
        }
        let response = match (self.status_code, self.response) {
            (Some(code), Some(body)) => Some((
                u16::try_from(code.0).map_err(|_| corrupt("status code", &code.0.to_string()))?,
                body.0,
            )),
            _ => None,
        };
        Ok(Some(IdempotencyRecord {
            request_hash: self.request_hash,
            response,
            created_at: self.created_at,
        }))
    }
}
