//! Storage of inbound webhook secrets and the raw events they deliver.
//!
//! Each tenant holds, per webhook source (`stripe`, `hubspot`, …), any
//! number of signing secrets: several are active at once while a sender
//! rotates from an old secret to a new one, and a secret stops verifying as
//! soon as it is revoked. Deliveries that verify are kept verbatim in
//! `events_raw`, keyed by `(tenant, source, webhook-id)`, so a sender's
//! retry of the same delivery is acknowledged without being stored twice.
//! The kernel's webhook use case (`revos_kernel::webhooks`) drives this.

use crate::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// What may be shown about a webhook secret: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecretInfo {
    /// The secret's id (to revoke it).
    pub id: Uuid,
    /// The webhook source it verifies.
    pub source: String,
    /// A short, non-secret tag to tell secrets apart: `whsec_…` and the
    /// last four characters of the secret (see [`secret_fingerprint`]).
    pub fingerprint: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; `None` while it is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A verified delivery to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRawEvent {
    /// The webhook source it came from.
    pub source: String,
    /// The sender's `webhook-id`: the same on every retry of a delivery.
    pub webhook_id: String,
    /// When revos received it.
    pub received_at: DateTime<Utc>,
    /// The request headers worth keeping (a JSON object).
    pub headers: Value,
    /// The parsed body.
    pub payload: Value,
}

/// The answer to storing a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEventReceipt {
    /// The stored event's id (the earlier one's, for a replay).
    pub id: Uuid,
    /// `true` when this `webhook-id` had been stored already and nothing
    /// was written.
    pub duplicate: bool,
}

/// A stored delivery from `events_raw`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEvent {
    /// The event id.
    pub id: Uuid,
    /// The webhook source it came from.
    pub source: String,
    /// The sender's `webhook-id`, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// When revos received it.
    pub received_at: DateTime<Utc>,
    /// The stored request headers.
    pub headers: Value,
    /// The parsed body.
    pub payload: Value,
    /// When a later stage processed it; `None` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<DateTime<Utc>>,
    /// How mapping it to spine rows ended; `None` until it was tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<RawEventMapping>,
}

/// How mapping a raw event to spine rows ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingOutcome {
    /// Rows were written (possibly none, for a type known to write none).
    Mapped,
    /// The source's mapper does not handle the payload's type: kept, listed.
    Unmapped,
    /// The payload is malformed; fix the mapper or the data and map again.
    Failed,
}

impl MappingOutcome {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            MappingOutcome::Mapped => "mapped",
            MappingOutcome::Unmapped => "unmapped",
            MappingOutcome::Failed => "failed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mapped" => Some(MappingOutcome::Mapped),
            "unmapped" => Some(MappingOutcome::Unmapped),
            "failed" => Some(MappingOutcome::Failed),
            _ => None,
        }
    }
}

/// The record of one mapping of a raw event, kept on the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEventMapping {
    /// How it ended.
    pub outcome: MappingOutcome,
    /// The mapper's version (`stripe/1`).
    pub version: String,
    /// The payload's type for `mapped` and `unmapped`; the error (naming
    /// the field) for `failed`.
    pub detail: String,
}

/// The longest secret text stored.
pub const MAX_SECRET_LEN: usize = 512;

/// The non-secret tag of a secret: `whsec_…` followed by the last four
/// characters of its base64 key (padding dropped) for a `whsec_` secret,
/// `…` and the last four characters for another (a HubSpot client secret),
/// the way payment providers show the end of a key. Four characters
/// disclose at most 24 of a key's (at least) 128 bits: enough to tell
/// secrets apart, far too little to help guess one. Both backends compute
/// it here, so they agree.
pub fn secret_fingerprint(secret: &str) -> String {
    let secret = secret.trim();
    let (shown, key) = match secret.strip_prefix("whsec_") {
        Some(key) => ("whsec_…", key.trim_end_matches('=')),
        None => ("…", secret),
    };
    let chars: Vec<char> = key.chars().collect();
    // A key too short to spare four characters shows none of them.
    if chars.len() < 16 {
        return shown.to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{shown}{tail}")
}

/// Fails with [`StoreError::Invalid`] unless `secret` is 1 to
/// [`MAX_SECRET_LEN`] visible ASCII characters (no spaces). Which form a
/// source's secret takes (`whsec_…`, a client secret) is the kernel's rule,
/// checked before storing.
pub fn check_secret_text(secret: &str) -> Result<(), StoreError> {
    if !secret.is_empty()
        && secret.len() <= MAX_SECRET_LEN
        && secret.bytes().all(|b| b.is_ascii_graphic())
    {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "a webhook secret is 1 to {MAX_SECRET_LEN} visible ASCII characters without spaces"
        )))
    }
}

/// Storage of inbound webhook secrets and the raw events they deliver; part of [`crate::Store`].
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Adds an active secret (`whsec_…` text) for a tenant's source. Other
    /// active secrets of the source stay active, so a sender can rotate.
    ///
    /// The secret is stored as given, not hashed: verifying a signature
    /// needs the key itself (HMAC), so a one-way hash would make it useless.
    /// Only [`WebhookStore::webhook_secrets`] ever reads it back.
    async fn add_webhook_secret(
        &self,
        tenant: TenantId,
        source: &str,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<WebhookSecretInfo, StoreError>;

    /// The active (not revoked) secrets of a tenant's source, as `whsec_…`
    /// text, newest first. Empty when the source has none, and for a
    /// tenant that does not exist (answered by the same path, so the time
    /// taken does not tell whether the tenant exists).
    async fn webhook_secrets(
        &self,
        tenant: TenantId,
        source: &str,
    ) -> Result<Vec<String>, StoreError>;

    /// Every secret of the tenant, revoked ones included, ordered by
    /// source, then creation time, then id; without the secrets themselves.
    async fn list_webhook_secrets(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<WebhookSecretInfo>, StoreError>;

    /// Revokes a secret. `true` if an active secret was revoked; `false`
    /// if the tenant has no such secret or it was revoked already.
    async fn revoke_webhook_secret(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Stores a verified delivery in `events_raw`. A delivery whose
    /// `(source, webhook_id)` is stored already writes nothing and answers
    /// the stored event's id with `duplicate: true`.
    async fn record_raw_event(
        &self,
        tenant: TenantId,
        event: &NewRawEvent,
    ) -> Result<RawEventReceipt, StoreError>;

    /// Stored deliveries, optionally of one source, newest first (by
    /// reception time, then id), at most `limit` (capped at
    /// [`crate::MAX_PAGE`]).
    async fn list_raw_events(
        &self,
        tenant: TenantId,
        source: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RawEvent>, StoreError>;

    /// One stored delivery, or `None`.
    async fn raw_event(&self, tenant: TenantId, id: Uuid) -> Result<Option<RawEvent>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_show_only_the_last_four_characters() {
        assert_eq!(
            secret_fingerprint("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "whsec_…LaSw"
        );
        assert_eq!(
            secret_fingerprint("whsec_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="),
            "whsec_…BAQE"
        );
        assert_eq!(secret_fingerprint("whsec_short"), "whsec_…");
        assert_eq!(
            secret_fingerprint("6d2a7c1e-0b4f-4a8e-9c3d-5f1e2b7a9d04"),
            "…9d04"
        );
        assert_eq!(secret_fingerprint("short-secret"), "…");
    }

    #[test]
    fn secret_text_is_visible_ascii_without_spaces() {
        assert!(check_secret_text("whsec_abc").is_ok());
        assert!(check_secret_text("6d2a7c1e-0b4f-4a8e-9c3d-5f1e2b7a9d04").is_ok());
        assert!(check_secret_text("").is_err());
        assert!(check_secret_text("whsec_a b").is_err());
        assert!(check_secret_text("whsec_\u{e9}").is_err());
        assert!(check_secret_text(&"a".repeat(MAX_SECRET_LEN + 1)).is_err());
    }
}
