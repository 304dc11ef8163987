//! Storage of the event runtime (seed 000): events, decisions, actions and
//! what the adapters make of them (the e-mail outbox, tasks), the runtime's
//! per-tenant settings (modes, policy settings, webhook endpoints) and the
//! HTTP idempotency keys.
//!
//! Ingesting an event writes the event, its decisions, its actions, their
//! outbox rows, tasks and jobs, and its audit entry in one [`TenantTx`]
//! (see [`crate::queue::TenantTx`]): a crash leaves all of it or none of it.
//! The event's idempotency key is unique per tenant, and
//! [`TenantTx::insert_event`] is where two concurrent ingests of the same
//! key meet: the second waits for the first to commit and then finds the
//! event, so it writes nothing.
//!
//! [`TenantTx`]: crate::queue::TenantTx
//! [`TenantTx::insert_event`]: crate::queue::TenantTx::insert_event

use crate::StoreError;
use crate::listing::{Cursor, Listed, Order, page_limit, probe_after};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_contracts::runtime::{
    ActionStatus, KernelAction, KernelDecision, KernelEvent, KernelMode,
};
use revos_queue::Job;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The most records one listing returns.
pub const MAX_EVENT_PAGE: u32 = 1000;

/// The records one listing returns when the filter names no limit.
pub const DEFAULT_PAGE: u32 = 100;

/// A stored event and the hash of the body it was ingested with (what a
/// second ingest of the same key is compared against).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The event.
    pub event: KernelEvent,
    /// Hex SHA-256 of the event's canonical body.
    pub body_hash: String,
}

/// What [`crate::queue::TenantTx::insert_event`] did.
// `Existing` is large and `Inserted` empty, but the value lives briefly on
// the stack of one ingest: not worth a box (or an API change).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum EventInsert {
    /// The event is new and was written.
    Inserted,
    /// An event with the same idempotency key exists; nothing was written.
    Existing(StoredEvent),
}

/// Where an outbox e-mail is.
///
/// `pending` → `sending` (written and committed before the SMTP
/// transaction starts) → `sent` (written right after the server's `250`).
/// A row found `sending` by a later attempt was cut off mid-send: the
/// server may or may not have the message, so it is sent again under the
/// same Message-ID. A failed attempt puts the row back to `pending`, or
/// `failed` when the job gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for its job to send it.
    Pending,
    /// An SMTP transaction for it has started; its outcome is not recorded.
    Sending,
    /// Accepted by the SMTP server.
    Sent,
    /// Given up on (a redrive of its job puts it back to `pending`).
    Failed,
    /// Withdrawn with its job (cancelled, or rejected by an approver).
    Cancelled,
}

impl OutboxStatus {
    /// As stored and on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Cancelled => "cancelled",
        }
    }

    /// Every status.
    pub const ALL: [OutboxStatus; 5] = [
        Self::Pending,
        Self::Sending,
        Self::Sent,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether a person's step on the e-mail's job may move it from `self`
    /// to `next` ([`EventStore::move_outbox`]): a redrive puts a `failed`
    /// or `cancelled` e-mail back to `pending`; a cancel or a rejection
    /// withdraws a `pending` or `failed` one. A `sent` e-mail never moves,
    /// and neither does one being sent. The sender's own moves
    /// (`pending` → `sending` → `sent`/`failed`) are not steps.
    pub const fn can_move_to(self, next: OutboxStatus) -> bool {
        use OutboxStatus::*;
        matches!(
            (self, next),
            (Failed | Cancelled, Pending) | (Pending | Failed, Cancelled)
        )
    }

    /// The statuses a step may move an e-mail to `next` from, as stored.
    pub fn sources_of(next: OutboxStatus) -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|from| from.can_move_to(next))
            .map(Self::as_str)
            .collect()
    }
}

/// An e-mail in the channel outbox: rendered, addressed, with the
/// Message-ID it is sent under (stable per action, so a retried job sends
/// the same message, and a sent one is never sent again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEmail {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The outbox row's id.
    pub id: Uuid,
    /// The action that asked for it (unique).
    pub action_id: Uuid,
    /// Recipient address.
    pub to: String,
    /// Sender address (`Name <addr>` allowed).
    pub from: String,
    /// Reply-To address.
    pub reply_to: Option<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body, if any.
    pub html: Option<String>,
    /// The Message-ID header, without angle brackets.
    pub message_id: String,
    /// Where it is.
    pub status: OutboxStatus,
    /// Send attempts made.
    pub attempts: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the SMTP server accepted it.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// To do.
    Open,
    /// Done.
    Done,
}

impl TaskStatus {
    /// As stored and on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Done => "done",
        }
    }

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Done]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A task to create (the `TASK_CREATE` adapter's output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// The task's id.
    pub id: Uuid,
    /// The action that created it (unique when set).
    pub action_id: Option<Uuid>,
    /// Who should do it (a user id, an e-mail, a team name).
    pub owner: String,
    /// One line.
    pub subject: String,
    /// More words.
    pub details: Option<String>,
    /// When it is due.
    pub due_at: Option<DateTime<Utc>>,
    /// The kind of entity it is about (`lead`, `booking`, …).
    pub entity_type: Option<String>,
    /// That entity's id.
    pub entity_id: Option<String>,
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The task's id.
    pub id: Uuid,
    /// The action that created it.
    pub action_id: Option<Uuid>,
    /// Who should do it.
    pub owner: String,
    /// One line.
    pub subject: String,
    /// More words.
    pub details: Option<String>,
    /// When it is due.
    pub due_at: Option<DateTime<Utc>>,
    /// The kind of entity it is about.
    pub entity_type: Option<String>,
    /// That entity's id.
    pub entity_id: Option<String>,
    /// Open or done.
    pub status: TaskStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was done.
    pub completed_at: Option<DateTime<Utc>>,
}

/// Which tasks [`EventStore::list_tasks`] returns, by creation time, then
/// id, newest first unless `order` says otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TaskFilter {
    /// Only this owner.
    pub owner: Option<String>,
    /// Only this status.
    pub status: Option<TaskStatus>,
    /// Newest or oldest first.
    pub order: Order,
    /// Keyset paging: only tasks past this (`created_at`, id) in `order`.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many (default 100, at most [`MAX_EVENT_PAGE`]).
    pub limit: Option<u32>,
}

/// Which events [`EventStore::list_events`] returns, by `recorded_at`, then
/// id, newest first unless `order` says otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    /// Recorded at or after.
    pub since: Option<DateTime<Utc>>,
    /// Recorded before.
    pub until: Option<DateTime<Utc>>,
    /// Only this type.
    pub r#type: Option<String>,
    /// Only this source.
    pub source: Option<String>,
    /// Only events of this correlation.
    pub correlation_id: Option<String>,
    /// Only events with a decision of this outcome.
    pub outcome: Option<revos_contracts::runtime::DecisionOutcome>,
    /// Only events with a decision made in this mode.
    pub mode: Option<revos_contracts::runtime::KernelMode>,
    /// Newest or oldest first.
    pub order: Order,
    /// Keyset paging: only events past this (`recorded_at`, id) in `order`.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many (default 100, at most [`MAX_EVENT_PAGE`]).
    pub limit: Option<u32>,
}

/// What happened when an action was asked to change status.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionTransition {
    /// It moved; the action as it is now.
    Moved(KernelAction),
    /// Its status does not allow the move ([`ActionStatus::can_transition_to`]);
    /// the action as it is.
    Refused(KernelAction),
    /// There is no such action.
    NotFound,
}

/// An HTTP `Idempotency-Key` as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// Hex SHA-256 over the method, path and body of the first request.
    pub request_hash: String,
    /// The stored response: `None` while the first request is in flight.
    pub response: Option<(u16, Value)>,
    /// When the first request started.
    pub created_at: DateTime<Utc>,
}

/// What [`EventStore::idempotency_begin`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyBegin {
    /// The key is new (or its earlier record expired or was abandoned);
    /// it is now in flight for this request.
    Started,
    /// The key is taken.
    Existing(IdempotencyRecord),
}

/// Where a tenant's outbound webhooks go, with the secret they are signed
/// with (Standard Webhooks `whsec_…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The endpoint's id.
    pub id: Uuid,
    /// A name unique in the tenant, which policies refer to (`crm_sync`).
    pub name: String,
    /// The `http(s)` URL posted to.
    pub url: String,
    /// The signing secret (`whsec_<base64>`); never listed, only returned
    /// when the endpoint is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Whether it is in use.
    pub active: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Everything an ingest reads before its write transaction, read at once
/// ([`crate::Store::ingest_context`]).
#[derive(Debug, Clone, PartialEq)]
pub struct IngestContext {
    /// The tenant's display name.
    pub tenant_name: String,
    /// The event already stored under the idempotency key, if any.
    pub existing: Option<StoredEvent>,
    /// The tenant's own kernel mode.
    pub tenant_mode: Option<KernelMode>,
    /// The tenant's per-policy modes.
    pub policy_modes: BTreeMap<String, KernelMode>,
    /// The tenant's policy and guard settings.
    pub settings: BTreeMap<String, Value>,
    /// The names of the tenant's active webhook endpoints.
    pub endpoints: Vec<String>,
    /// The tenant's queue setting overrides.
    pub queue_overrides: serde_json::Map<String, Value>,
}

/// Storage of the event runtime; part of [`crate::Store`].
///
/// Every tenant-scoped call answers [`StoreError::TenantNotFound`] when the
/// tenant does not exist. The writes that belong to an ingest are on
/// [`crate::queue::TenantTx`].
#[async_trait]
pub trait EventStore: Send + Sync {
    /// The event with this id.
    async fn get_event(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<StoredEvent>, StoreError>;

    /// The event with this idempotency key.
    async fn event_by_key(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Option<StoredEvent>, StoreError>;

    /// Which of `keys` are idempotency keys of the tenant's events (one
    /// read, however many keys).
    async fn taken_event_keys(
        &self,
        tenant: TenantId,
        keys: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError>;

    /// Events matching the filter, in its order.
    async fn list_events(
        &self,
        tenant: TenantId,
        filter: &EventFilter,
    ) -> Result<Vec<KernelEvent>, StoreError>;

    /// How many events match the filter's conditions (its order, `after`
    /// and `limit` aside).
    async fn count_events(&self, tenant: TenantId, filter: &EventFilter)
    -> Result<u64, StoreError>;

    /// A page of [`EventStore::list_events`] with the cursor to the next.
    async fn page_events(
        &self,
        tenant: TenantId,
        filter: &EventFilter,
    ) -> Result<Listed<KernelEvent>, StoreError> {
        let limit = page_limit(filter.limit, DEFAULT_PAGE, MAX_EVENT_PAGE);
        let filter = EventFilter {
            limit: Some(limit),
            ..filter.clone()
        };
        let items = self.list_events(tenant, &filter).await?;
        let more = match probe_after(&items, limit) {
            Some(last) => {
                let probe = EventFilter {
                    after: Some((last.recorded_at, last.id)),
                    limit: Some(1),
                    ..filter
                };
                !self.list_events(tenant, &probe).await?.is_empty()
            }
            None => false,
        };
        Ok(Listed::new(items, more, |e| {
            Cursor::At(e.recorded_at, e.id)
        }))
    }

    /// Every event with this correlation id, oldest first (at most
    /// [`MAX_EVENT_PAGE`]).
    async fn events_by_correlation(
        &self,
        tenant: TenantId,
        correlation_id: &str,
    ) -> Result<Vec<KernelEvent>, StoreError>;

    /// The decisions on these events, by decision time.
    async fn decisions_for_events(
        &self,
        tenant: TenantId,
        events: &[Uuid],
    ) -> Result<Vec<KernelDecision>, StoreError>;

    /// The actions of these events, by creation time then id.
    async fn actions_for_events(
        &self,
        tenant: TenantId,
        events: &[Uuid],
    ) -> Result<Vec<KernelAction>, StoreError>;

    /// The jobs that carry these actions (those not yet cleaned up).
    async fn jobs_for_actions(
        &self,
        tenant: TenantId,
        actions: &[Uuid],
    ) -> Result<Vec<Job>, StoreError>;

    /// The action with this id.
    async fn get_action(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<KernelAction>, StoreError>;

    /// Moves an action to `to` if its current status allows it
    /// ([`ActionStatus::can_transition_to`]), atomically: of two
    /// concurrent moves from the same status only one succeeds.
    async fn set_action_status(
        &self,
        tenant: TenantId,
        id: Uuid,
        to: ActionStatus,
        now: DateTime<Utc>,
    ) -> Result<ActionTransition, StoreError>;

    /// The outbox e-mail of an action.
    async fn outbox_for_action(
        &self,
        tenant: TenantId,
        action: Uuid,
    ) -> Result<Option<OutboxEmail>, StoreError>;

    /// The outbox e-mails of these actions.
    async fn outbox_for_actions(
        &self,
        tenant: TenantId,
        actions: &[Uuid],
    ) -> Result<Vec<OutboxEmail>, StoreError>;

    /// Marks an outbox e-mail `sending`, in its own committed write, before
    /// its SMTP transaction starts, unless it is `sent` or `failed`; answers
    /// the row as it is after the call (`None`: there is no such row). A
    /// row already `sending` stays so (an earlier attempt was cut off).
    async fn begin_outbox_send(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxEmail>, StoreError>;

    /// Records a send attempt: `Ok(())` marks the row sent (at `now`),
    /// `Err(message)` counts a failed attempt and puts a `sending` row back
    /// to `pending`; `give_up` with an error marks it failed. A row already
    /// `sent` is left as it is.
    async fn record_outbox_attempt(
        &self,
        tenant: TenantId,
        id: Uuid,
        result: Result<(), String>,
        give_up: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxEmail>, StoreError>;

    /// Moves the outbox e-mail of `action` to `to` if its status allows it
    /// ([`OutboxStatus::can_move_to`]); answers the row as it is after the
    /// call (`None`: the action has no e-mail). A redrive (`pending`) also
    /// clears its last error.
    async fn move_outbox(
        &self,
        tenant: TenantId,
        action: Uuid,
        to: OutboxStatus,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxEmail>, StoreError>;

    /// Tasks matching the filter, in its order.
    async fn list_tasks(
        &self,
        tenant: TenantId,
        filter: &TaskFilter,
    ) -> Result<Vec<Task>, StoreError>;

    /// How many tasks match the filter's conditions (its order, `after` and
    /// `limit` aside).
    async fn count_tasks(&self, tenant: TenantId, filter: &TaskFilter) -> Result<u64, StoreError>;

    /// A page of [`EventStore::list_tasks`] with the cursor to the next.
    async fn page_tasks(
        &self,
        tenant: TenantId,
        filter: &TaskFilter,
    ) -> Result<Listed<Task>, StoreError> {
        let limit = page_limit(filter.limit, DEFAULT_PAGE, MAX_EVENT_PAGE);
        let filter = TaskFilter {
            limit: Some(limit),
            ..filter.clone()
        };
        let items = self.list_tasks(tenant, &filter).await?;
        let more = match probe_after(&items, limit) {
            Some(last) => {
                let probe = TaskFilter {
                    after: Some((last.created_at, last.id)),
                    limit: Some(1),
                    ..filter
                };
                !self.list_tasks(tenant, &probe).await?.is_empty()
            }
            None => false,
        };
        Ok(Listed::new(items, more, |t| Cursor::At(t.created_at, t.id)))
    }

    /// The tasks these actions created.
    async fn tasks_for_actions(
        &self,
        tenant: TenantId,
        actions: &[Uuid],
    ) -> Result<Vec<Task>, StoreError>;

    /// Marks a task done (idempotent); `None` if there is no such task.
    async fn complete_task(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Task>, StoreError>;

    /// The tenant's own kernel mode (`None`: the global default).
    async fn tenant_mode(&self, tenant: TenantId) -> Result<Option<KernelMode>, StoreError>;

    /// Sets or clears the tenant's kernel mode.
    async fn set_tenant_mode(
        &self,
        tenant: TenantId,
        mode: Option<KernelMode>,
    ) -> Result<(), StoreError>;

    /// The tenant's per-policy modes, by policy id.
    async fn policy_modes(
        &self,
        tenant: TenantId,
    ) -> Result<BTreeMap<String, KernelMode>, StoreError>;

    /// Sets or clears the tenant's mode for one policy.
    async fn set_policy_mode(
        &self,
        tenant: TenantId,
        policy_id: &str,
        mode: Option<KernelMode>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The tenant's settings of policies and guards, by policy id.
    async fn policy_settings(
        &self,
        tenant: TenantId,
    ) -> Result<BTreeMap<String, Value>, StoreError>;

    /// Sets (or with `None` removes) the tenant's settings of one policy.
    async fn put_policy_settings(
        &self,
        tenant: TenantId,
        policy_id: &str,
        settings: Option<&Value>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Adds an outbound webhook endpoint ([`StoreError::Conflict`] if the
    /// name is taken). `endpoint.secret` must be set.
    async fn add_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;

    /// The tenant's endpoints, secrets omitted, by name.
    async fn list_webhook_endpoints(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// The active endpoint with this name, secret included.
    async fn webhook_endpoint(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Deactivates an endpoint; `false` if there is none with this id.
    async fn deactivate_webhook_endpoint(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<bool, StoreError>;

    /// Takes an HTTP idempotency key for a request, in its own committed
    /// transaction: a new key (or one whose record expired, or an in-flight
    /// one older than `stale_after`, left by a crashed request) becomes
    /// in flight; otherwise the existing record is returned.
    async fn idempotency_begin(
        &self,
        tenant: TenantId,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<IdempotencyBegin, StoreError>;

    /// Stores the response of the request holding `key`, kept until
    /// `expires_at`.
    async fn idempotency_finish(
        &self,
        tenant: TenantId,
        key: &str,
        status: u16,
        body: &Value,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Forgets an in-flight key (its request failed in a way worth
    /// retrying), so the next request with it runs.
    async fn idempotency_abandon(&self, tenant: TenantId, key: &str) -> Result<(), StoreError>;

    /// Deletes expired idempotency records of every tenant; how many.
    async fn purge_idempotency(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
