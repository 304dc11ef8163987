//! The audit log's rows: sequenced entries, checkpoints and the entries
//! waiting for the sequencer.

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::audit::{AuditEntry, Checkpoint, NewAuditEntry, seq_from_db};
use serde_json::Value;

#[derive(sqlx::FromRow)]
/// A sequenced entry of `audit_log`.
pub struct EntryRow {
    seq: i64,
    occurred_at: DateTime<Utc>,
    actor: String,
    action: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl EntryRow {
    /// The entry of `tenant`.
    pub fn into_entry(self, tenant: TenantId) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            tenant_id: tenant,
            seq: seq_from_db(self.seq)?,
            occurred_at: self.occurred_at,
            actor: self.actor,
            action: self.action,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            // The column only holds JSON; should it not parse anyway, keep
            // the text so verification reports the entry as changed.
            details: serde_json::from_str(&self.details).unwrap_or(Value::String(self.details)),
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

#[derive(sqlx::FromRow)]
/// A row of `audit_checkpoints`.
pub struct CheckpointRow {
    seq: i64,
    hash: String,
    signed_at: DateTime<Utc>,
    signature: String,
    key_id: String,
}

impl CheckpointRow {
    /// The checkpoint of `tenant`.
    pub fn into_checkpoint(self, tenant: TenantId) -> Result<Checkpoint, StoreError> {
        Ok(Checkpoint {
            tenant_id: tenant,
            seq: seq_from_db(self.seq)?,
            hash: self.hash,
            signed_at: self.signed_at,
            signature: self.signature,
            key_id: self.key_id,
        })
    }
}

#[derive(sqlx::FromRow)]
/// An entry of `audit_pending`, written by a tenant transaction and not
/// yet chained.
pub struct PendingRow {
    id: i64,
    occurred_at: DateTime<Utc>,
    actor: String,
    action: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    details: String,
}

impl PendingRow {
    /// Its place in `audit_pending` (the order writers committed in).
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The entry as it was recorded, to be chained.
    pub fn into_new_entry(self) -> NewAuditEntry {
        NewAuditEntry {
            occurred_at: self.occurred_at,
            actor: self.actor,
            action: self.action,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            // Written by `append_entry` from a JSON value; should it not
            // parse anyway, keep the text (the hash then covers it as is).
            details: serde_json::from_str(&self.details).unwrap_or(Value::String(self.details)),
        }
    }
}
