//! Tasks, outbox e-mails, outbound webhook endpoints and event timelines
//! as the API shows them.
//!
//! `routes::events` answers with these, converted from the store's records
//! and the kernel's timelines
//! ([`revos_kernel::runtime::timeline::Timeline`]).

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_contracts::runtime::{KernelAction, KernelDecision, KernelEvent};
use revos_kernel::runtime::timeline as kernel;
use revos_queue::Job;
use revos_store::events as store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where an outbox e-mail is.
///
/// `pending` → `sending` (written and committed before the SMTP
/// transaction starts) → `sent` (written right after the server's `250`).
/// A row found `sending` by a later attempt was cut off mid-send: the
/// server may or may not have the message, so it is sent again under the
/// same Message-ID. A failed attempt puts the row back to `pending`, or
/// `failed` when the job gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OutboxStatus {
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

impl From<store::OutboxStatus> for OutboxStatus {
    fn from(status: store::OutboxStatus) -> Self {
        match status {
            store::OutboxStatus::Pending => OutboxStatus::Pending,
            store::OutboxStatus::Sending => OutboxStatus::Sending,
            store::OutboxStatus::Sent => OutboxStatus::Sent,
            store::OutboxStatus::Failed => OutboxStatus::Failed,
            store::OutboxStatus::Cancelled => OutboxStatus::Cancelled,
        }
    }
}

/// An e-mail in the channel outbox: rendered, addressed, with the
/// Message-ID it is sent under (stable per action, so a retried job sends
/// the same message, and a sent one is never sent again).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct OutboxEmail {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: TenantId,
    /// The outbox row's id.
    pub(crate) id: Uuid,
    /// The action that asked for it (unique).
    pub(crate) action_id: Uuid,
    /// Recipient address.
    pub(crate) to: String,
    /// Sender address (`Name <addr>` allowed).
    pub(crate) from: String,
    /// Reply-To address.
    pub(crate) reply_to: Option<String>,
    /// Subject line.
    pub(crate) subject: String,
    /// Plain-text body.
    pub(crate) text: String,
    /// HTML body, if any.
    pub(crate) html: Option<String>,
    /// The Message-ID header, without angle brackets.
    pub(crate) message_id: String,
    /// Where it is.
    pub(crate) status: OutboxStatus,
    /// Send attempts made.
    pub(crate) attempts: u32,
    /// The last failure.
    pub(crate) last_error: Option<String>,
    /// When the SMTP server accepted it.
    pub(crate) sent_at: Option<DateTime<Utc>>,
    /// When it was written.
    pub(crate) created_at: DateTime<Utc>,
}

impl From<store::OutboxEmail> for OutboxEmail {
    fn from(email: store::OutboxEmail) -> Self {
        let store::OutboxEmail {
            tenant_id,
            id,
            action_id,
            to,
            from,
            reply_to,
            subject,
            text,
            html,
            message_id,
            status,
            attempts,
            last_error,
            sent_at,
            created_at,
        } = email;
        OutboxEmail {
            tenant_id,
            id,
            action_id,
            to,
            from,
            reply_to,
            subject,
            text,
            html,
            message_id,
            status: status.into(),
            attempts,
            last_error,
            sent_at,
            created_at,
        }
    }
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TaskStatus {
    /// To do.
    Open,
    /// Done.
    Done,
}

impl From<store::TaskStatus> for TaskStatus {
    fn from(status: store::TaskStatus) -> Self {
        match status {
            store::TaskStatus::Open => TaskStatus::Open,
            store::TaskStatus::Done => TaskStatus::Done,
        }
    }
}

impl From<TaskStatus> for store::TaskStatus {
    fn from(status: TaskStatus) -> Self {
        match status {
            TaskStatus::Open => store::TaskStatus::Open,
            TaskStatus::Done => store::TaskStatus::Done,
        }
    }
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct Task {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: TenantId,
    /// The task's id.
    pub(crate) id: Uuid,
    /// The action that created it.
    pub(crate) action_id: Option<Uuid>,
    /// Who should do it.
    pub(crate) owner: String,
    /// One line.
    pub(crate) subject: String,
    /// More words.
    pub(crate) details: Option<String>,
    /// When it is due.
    pub(crate) due_at: Option<DateTime<Utc>>,
    /// The kind of entity it is about.
    pub(crate) entity_type: Option<String>,
    /// That entity's id.
    pub(crate) entity_id: Option<String>,
    /// Open or done.
    pub(crate) status: TaskStatus,
    /// When it was created.
    pub(crate) created_at: DateTime<Utc>,
    /// When it was done.
    pub(crate) completed_at: Option<DateTime<Utc>>,
}

impl From<store::Task> for Task {
    fn from(task: store::Task) -> Self {
        let store::Task {
            tenant_id,
            id,
            action_id,
            owner,
            subject,
            details,
            due_at,
            entity_type,
            entity_id,
            status,
            created_at,
            completed_at,
        } = task;
        Task {
            tenant_id,
            id,
            action_id,
            owner,
            subject,
            details,
            due_at,
            entity_type,
            entity_id,
            status: status.into(),
            created_at,
            completed_at,
        }
    }
}

/// Where a tenant's outbound webhooks go, with the secret they are signed
/// with (Standard Webhooks `whsec_…`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct WebhookEndpoint {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: TenantId,
    /// The endpoint's id.
    pub(crate) id: Uuid,
    /// A name unique in the tenant, which policies refer to (`crm_sync`).
    pub(crate) name: String,
    /// The `http(s)` URL posted to.
    pub(crate) url: String,
    /// The signing secret (`whsec_<base64>`); never listed, only returned
    /// when the endpoint is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secret: Option<String>,
    /// Whether it is in use.
    pub(crate) active: bool,
    /// When it was created.
    pub(crate) created_at: DateTime<Utc>,
}

impl From<store::WebhookEndpoint> for WebhookEndpoint {
    fn from(endpoint: store::WebhookEndpoint) -> Self {
        let store::WebhookEndpoint {
            tenant_id,
            id,
            name,
            url,
            secret,
            active,
            created_at,
        } = endpoint;
        WebhookEndpoint {
            tenant_id,
            id,
            name,
            url,
            secret,
            active,
            created_at,
        }
    }
}

/// An action with what carried it out.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ActionView {
    /// The action.
    #[serde(flatten)]
    pub(crate) action: KernelAction,
    /// The jobs that carry it (completed jobs of queues that remove them
    /// on completion are gone).
    pub(crate) jobs: Vec<Job>,
    /// Its outbox e-mail (`OUTBOUND_EMAIL` in enforce mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<OutboxEmail>,
    /// The task it created (`TASK_CREATE` in enforce mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) task: Option<Task>,
}

impl From<kernel::ActionView> for ActionView {
    fn from(view: kernel::ActionView) -> Self {
        let kernel::ActionView {
            action,
            jobs,
            email,
            task,
        } = view;
        ActionView {
            action,
            jobs,
            email: email.map(Into::into),
            task: task.map(Into::into),
        }
    }
}

/// An event and everything that followed from it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Timeline {
    /// The event.
    pub(crate) event: KernelEvent,
    /// The decisions on it.
    pub(crate) decisions: Vec<KernelDecision>,
    /// Their actions.
    pub(crate) actions: Vec<ActionView>,
}

impl From<kernel::Timeline> for Timeline {
    fn from(timeline: kernel::Timeline) -> Self {
        let kernel::Timeline {
            event,
            decisions,
            actions,
        } = timeline;
        Timeline {
            event,
            decisions,
            actions: actions.into_iter().map(Into::into).collect(),
        }
    }
}

/// Every event sharing a correlation id, oldest first, with what followed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Correlation {
    /// The correlation id.
    pub(crate) correlation_id: String,
    /// The events.
    pub(crate) events: Vec<Timeline>,
}

impl From<kernel::Correlation> for Correlation {
    fn from(correlation: kernel::Correlation) -> Self {
        let kernel::Correlation {
            correlation_id,
            events,
        } = correlation;
        Correlation {
            correlation_id,
            events: events.into_iter().map(Into::into).collect(),
        }
    }
}
