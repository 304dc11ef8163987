//! [`EventInput`]: an event as a backend sends it, before the kernel fills
//! in what is missing. Every entry point (the API, the CLI, lead forms,
//! booking webhooks, guards, lifecycle triggers, the executor) builds one
//! and hands it to [`crate::Kernel::ingest`].

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_contracts::runtime::EventSubject;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// An event as a backend sends it. The kernel fills in what is missing:
/// the tenant (from the credential), the id, the correlation id (the
/// event's id), the subject, `occurred_at` (now) and `recorded_at`
/// (always the kernel's own clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// The event's id (default: a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The tenant; must be the credential's own when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub tenant_id: Option<TenantId>,
    /// What happened, e.g. `lead_captured`.
    pub r#type: String,
    /// Who emitted it, e.g. `cmo_campaigns`.
    pub source: String,
    /// Makes ingestion idempotent (required, unless the request carries an
    /// `Idempotency-Key` header, which is then used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Ties the event to its decisions and actions (default: the event id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// What the event is about (default: `{"type": "event", "id": <id>}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<EventSubject>,
    /// Event-specific data; a JSON object (default `{}`).
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub payload: Value,
    /// When it happened (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// Accepted for symmetry with `KernelEvent` and ignored: the kernel
    /// records its own time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<DateTime<Utc>>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}
