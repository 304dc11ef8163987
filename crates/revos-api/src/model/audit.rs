//! Audit entries as the API shows them.
//!
//! `routes::audit` answers with these, converted from the entries the
//! store reads back (`revos_store::audit::AuditEntry`).

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
#[cfg(doc)]
use revos_store::audit::revos_audit::{GENESIS_HASH, hash_entry};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One entry of a tenant's audit chain, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct AuditEntry {
    /// The tenant whose chain this entry belongs to.
    pub(crate) tenant_id: TenantId,
    /// Position in the chain: 1 for the first entry, then without gaps.
    pub(crate) seq: u64,
    /// When the audited event happened (microsecond precision).
    pub(crate) occurred_at: DateTime<Utc>,
    /// Who did it: `key:rvs_ab12…`, `user:…`, `service:worker`, `system`.
    pub(crate) actor: String,
    /// What was done, dotted: `key.create`, `auth.failure`, `webhook.receive`.
    pub(crate) action: String,
    /// The kind of record acted on, if any.
    pub(crate) resource_type: Option<String>,
    /// The id of the record acted on, if any.
    pub(crate) resource_id: Option<String>,
    /// Further facts about the event (a JSON object).
    #[schema(value_type = Object)]
    pub(crate) details: Value,
    /// The `hash` of the previous entry ([`GENESIS_HASH`] for `seq` 1).
    pub(crate) prev_hash: String,
    /// `hex(SHA-256(prev_hash || canonical JSON of the entry))`, see [`hash_entry`].
    pub(crate) hash: String,
}

impl From<revos_store::audit::AuditEntry> for AuditEntry {
    fn from(entry: revos_store::audit::AuditEntry) -> Self {
        let revos_store::audit::AuditEntry {
            tenant_id,
            seq,
            occurred_at,
            actor,
            action,
            resource_type,
            resource_id,
            details,
            prev_hash,
            hash,
        } = entry;
        AuditEntry {
            tenant_id,
            seq,
            occurred_at,
            actor,
            action,
            resource_type,
            resource_id,
            details,
            prev_hash,
            hash,
        }
    }
}
