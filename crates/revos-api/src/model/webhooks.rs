//! Inbound webhook secrets and raw deliveries as the API shows them.
//!
//! `routes::webhooks` answers with these, converted from the store's
//! records.

use chrono::{DateTime, Utc};
use revos_store::webhooks as store;
#[cfg(doc)]
use revos_store::webhooks::secret_fingerprint;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// What may be shown about a webhook secret: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct WebhookSecretInfo {
    /// The secret's id (to revoke it).
    pub(crate) id: Uuid,
    /// The webhook source it verifies.
    pub(crate) source: String,
    /// A short, non-secret tag to tell secrets apart: `whsec_…` and the
    /// last four characters of the secret (see [`secret_fingerprint`]).
    pub(crate) fingerprint: String,
    /// When it was added.
    pub(crate) created_at: DateTime<Utc>,
    /// When it was revoked; `None` while it is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

impl From<store::WebhookSecretInfo> for WebhookSecretInfo {
    fn from(info: store::WebhookSecretInfo) -> Self {
        let store::WebhookSecretInfo {
            id,
            source,
            fingerprint,
            created_at,
            revoked_at,
        } = info;
        WebhookSecretInfo {
            id,
            source,
            fingerprint,
            created_at,
            revoked_at,
        }
    }
}

/// A stored delivery from `events_raw`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct RawEvent {
    /// The event id.
    pub(crate) id: Uuid,
    /// The webhook source it came from.
    pub(crate) source: String,
    /// The sender's `webhook-id`, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) webhook_id: Option<String>,
    /// When revos received it.
    pub(crate) received_at: DateTime<Utc>,
    /// The stored request headers.
    pub(crate) headers: Value,
    /// The parsed body.
    pub(crate) payload: Value,
    /// When a later stage processed it; `None` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) processed_at: Option<DateTime<Utc>>,
    /// How mapping it to spine rows ended; absent until it was tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mapping: Option<RawEventMapping>,
}

/// How mapping a raw event to spine rows ended.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct RawEventMapping {
    /// `mapped` (rows written), `unmapped` (the source's mapper does not
    /// handle the payload's type: kept) or `failed` (malformed payload).
    pub(crate) outcome: String,
    /// The mapper's version (`stripe/1`).
    pub(crate) version: String,
    /// The payload's type, or the error naming the field.
    pub(crate) detail: String,
}

impl From<store::RawEvent> for RawEvent {
    fn from(event: store::RawEvent) -> Self {
        let store::RawEvent {
            id,
            source,
            webhook_id,
            received_at,
            headers,
            payload,
            processed_at,
            mapping,
        } = event;
        RawEvent {
            id,
            source,
            webhook_id,
            received_at,
            headers,
            payload,
            processed_at,
            mapping: mapping.map(|m| RawEventMapping {
                outcome: m.outcome.as_str().to_owned(),
                version: m.version,
                detail: m.detail,
            }),
        }
    }
}
