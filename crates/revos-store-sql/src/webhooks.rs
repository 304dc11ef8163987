//! The rows of inbound webhooks: `webhook_secrets` and `events_raw`.

use crate::{DbId, corrupt};
use chrono::{DateTime, Utc};
use revos_store::StoreError;
use revos_store::webhooks::{MappingOutcome, RawEvent, RawEventMapping, WebhookSecretInfo};
use serde_json::Value;
use sqlx::types::Json;

/// A `webhook_secrets` row without its secret (`id, source, fingerprint,
/// created_at, revoked_at`).
#[derive(sqlx::FromRow)]
pub struct SecretInfoRow {
    id: DbId,
    source: String,
    fingerprint: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<SecretInfoRow> for WebhookSecretInfo {
    fn from(row: SecretInfoRow) -> Self {
        WebhookSecretInfo {
            id: row.id.into_uuid(),
            source: row.source,
            fingerprint: row.fingerprint,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// An `events_raw` row (`id, source, webhook_id, received_at, headers,
/// payload, processed_at, mapping_outcome, mapping_version,
/// mapping_detail`).
#[derive(sqlx::FromRow)]
pub struct RawEventRow {
    id: DbId,
    source: String,
    webhook_id: Option<String>,
    received_at: DateTime<Utc>,
    headers: Json<Value>,
    payload: Json<Value>,
    processed_at: Option<DateTime<Utc>>,
    mapping_outcome: Option<String>,
    mapping_version: Option<String>,
    mapping_detail: Option<String>,
}

impl TryFrom<RawEventRow> for RawEvent {
    type Error = StoreError;

    fn try_from(row: RawEventRow) -> Result<Self, StoreError> {
        let mapping = match row.mapping_outcome {
            Some(outcome) => Some(RawEventMapping {
                outcome: MappingOutcome::parse(&outcome)
                    .ok_or_else(|| corrupt("mapping outcome", &outcome))?,
                version: row.mapping_version.unwrap_or_default(),
                detail: row.mapping_detail.unwrap_or_default(),
            }),
            None => None,
        };
        Ok(RawEvent {
            id: row.id.into_uuid(),
            source: row.source,
            webhook_id: row.webhook_id,
            received_at: row.received_at,
            headers: row.headers.0,
            payload: row.payload.0,
            processed_at: row.processed_at,
            mapping,
        })
    }
}
