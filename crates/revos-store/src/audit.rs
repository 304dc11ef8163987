//! Storage of the tamper-evident, per-tenant audit log.
//!
//! The chain itself (hashing, checkpoints, verification) is the pure
//! `revos-audit` crate, re-exported here as [`revos_audit`]; this module is
//! what a backend must offer to keep it: appending under the tenant's write
//! lock, so that concurrent appends queue instead of forking the chain, and
//! reading it back in `seq` order. There is deliberately no call to change
//! or remove an entry or a checkpoint, and both backends' schemas refuse
//! `UPDATE` and `DELETE` on those tables.

use crate::StoreError;
use crate::listing::{Cursor, Listed, Order, page_limit, probe_after};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde::Deserialize;

pub use revos_audit;
pub use revos_audit::{AuditEntry, Checkpoint, NewAuditEntry};

/// The most entries one [`AuditStore::list_audit`] or
/// [`AuditStore::audit_chain`] call returns.
pub const MAX_AUDIT_PAGE: u32 = 1000;

/// The entries [`AuditStore::list_audit`] returns: every filter that is set
/// must match, ordered by `seq`, newest first unless `order` says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    /// Only this actor (exact match).
    pub actor: Option<String>,
    /// Only this action (exact match).
    pub action: Option<String>,
    /// Only entries about this kind of resource.
    pub resource_type: Option<String>,
    /// Only entries about the resource with this id.
    pub resource_id: Option<String>,
    /// Only entries that occurred at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only entries that occurred before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only entries after this `seq` (whatever the order).
    pub after_seq: Option<u64>,
    /// Newest or oldest first.
    pub order: Order,
    /// Keyset paging: only entries past this `seq` in `order` (below it
    /// newest first, above it oldest first).
    pub past_seq: Option<u64>,
    /// At most this many entries, capped at [`MAX_AUDIT_PAGE`].
    pub limit: u32,
}

impl Default for AuditFilter {
    /// No filter, the newest 100 entries.
    fn default() -> Self {
        AuditFilter {
            actor: None,
            action: None,
            resource_type: None,
            resource_id: None,
            from: None,
            to: None,
            after_seq: None,
            order: Order::NewestFirst,
            past_seq: None,
            limit: 100,
        }
    }
}

/// Storage of the tamper-evident, per-tenant audit log; part of [`crate::Store`].
///
/// Every call on a tenant that does not exist answers
/// [`StoreError::TenantNotFound`].
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry to the tenant's chain and returns it with its
    /// `seq`, `prev_hash` and `hash`. The head is read and the entry
    /// written in one write transaction that holds the tenant's lock, so
    /// concurrent appends get consecutive `seq`s in one chain.
    /// [`StoreError::Invalid`] if the entry breaks
    /// [`NewAuditEntry::check`].
    async fn append_audit(
        &self,
        tenant: TenantId,
        entry: NewAuditEntry,
    ) -> Result<AuditEntry, StoreError>;

    /// Entries matching `filter`, ordered by `seq` in its order.
    async fn list_audit(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// How many entries match the filter's conditions (its order,
    /// `past_seq` and `limit` aside).
    async fn count_audit(&self, tenant: TenantId, filter: &AuditFilter) -> Result<u64, StoreError>;

    /// A page of [`AuditStore::list_audit`] with the cursor to the next.
    async fn page_audit(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
    ) -> Result<Listed<AuditEntry>, StoreError> {
        let limit = page_limit(Some(filter.limit), 100, MAX_AUDIT_PAGE);
        let filter = AuditFilter {
            limit,
            ..filter.clone()
        };
        let items = self.list_audit(tenant, &filter).await?;
        let more = match probe_after(&items, limit) {
            Some(last) => {
                let probe = AuditFilter {
                    past_seq: Some(last.seq),
                    limit: 1,
                    ..filter
                };
                !self.list_audit(tenant, &probe).await?.is_empty()
            }
            None => false,
        };
        Ok(Listed::new(items, more, |e| Cursor::Seq(e.seq)))
    }

    /// The chain after `after_seq` (0 for the start), at most `limit`
    /// entries (capped at [`MAX_AUDIT_PAGE`]), ordered by `seq`: the pages
    /// a verification streams through.
    async fn audit_chain(
        &self,
        tenant: TenantId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// The tenant's last entry, or `None` for an empty chain.
    async fn audit_head(&self, tenant: TenantId) -> Result<Option<AuditEntry>, StoreError>;

    /// Stores a signed checkpoint. [`StoreError::Invalid`] unless the
    /// tenant's entry at `cp.seq` exists with hash `cp.hash`;
    /// [`StoreError::Conflict`] if the tenant has a checkpoint at that
    /// `seq` already.
    async fn add_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError>;

    /// The tenant's checkpoints, ordered by `seq`.
    async fn checkpoints(&self, tenant: TenantId) -> Result<Vec<Checkpoint>, StoreError>;

    /// The tenants that have at least one audit entry, ordered by id.
    async fn audited_tenants(&self) -> Result<Vec<TenantId>, StoreError>;
}

/// Checks an entry before it is appended: [`NewAuditEntry::check`], its
/// refusal as [`StoreError::Invalid`].
pub fn checked(entry: &NewAuditEntry) -> Result<(), StoreError> {
    entry
        .check()
        .map_err(|err| StoreError::Invalid(err.to_string()))
}

/// `u64` → the databases' signed 64-bit integer, or [`StoreError::Invalid`].
pub fn seq_to_db(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Invalid(format!("seq {seq} is out of range")))
}

/// A stored seq back to `u64`, or [`StoreError::Backend`] if it is negative.
pub fn seq_from_db(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| StoreError::Backend(format!("unexpected stored seq `{seq}`")))
}
