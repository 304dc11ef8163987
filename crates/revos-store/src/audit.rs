//! Storage of the tamper-evident, per-tenant audit log.
//!
//! The chain itself (hashing, checkpoints, verification) is the pure
//! `revos-audit` crate, re-exported here as [`revos_audit`]; this module is
//! what a backend must offer to keep it.
//!
//! Entries reach the chain in two steps, the way Certificate Transparency
//! logs integrate queued leaves. A writer's transaction records its entry
//! *unsequenced* (no `seq`, no hashes, no lock: the tenant transaction's
//! `append_audit`), atomically with the change it describes, so writers of
//! one tenant commit side by side. A *sequencer*
//! ([`AuditStore::sequence_audit`], one per tenant at a time under the
//! tenant's chain lock) then takes the pending entries in insertion order,
//! gives them consecutive `seq`s, chains their hashes and moves them to the
//! append-only log in one transaction. `serve` and `worker` run it in the
//! background, and every read of the chain (list, count, chain, head,
//! checkpoint) first sequences the tenant's backlog, so a reader never sees
//! a log older than what was committed before the read.
//!
//! There is deliberately no call to change or remove a sequenced entry or
//! a checkpoint, and both backends' schemas refuse `UPDATE` and `DELETE` on
//! those tables.

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

/// Pending entries one [`AuditStore::sequence_audit`] call of a read takes
/// at a time when it catches a tenant's backlog up.
pub const SEQUENCE_BATCH: u32 = 500;

/// Storage of the tamper-evident, per-tenant audit log; part of [`crate::Store`].
///
/// Every call on a tenant that does not exist answers
/// [`StoreError::TenantNotFound`].
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry to the tenant's chain at once and returns it with
    /// its `seq`, `prev_hash` and `hash`: in one write transaction that
    /// holds the tenant's chain lock, the pending backlog is sequenced
    /// first (so entries keep their order), then the entry is chained after
    /// it. For callers outside a tenant transaction that want the sequenced
    /// entry back. [`StoreError::Invalid`] if the entry breaks
    /// [`NewAuditEntry::check`].
    async fn append_audit(
        &self,
        tenant: TenantId,
        entry: NewAuditEntry,
    ) -> Result<AuditEntry, StoreError>;

    /// Sequences up to `max_batch` of the tenant's pending entries, oldest
    /// first, in one transaction under the tenant's chain lock: each gets
    /// the next `seq` and is chained to its predecessor, written to the
    /// log and removed from the pending entries. Returns how many were
    /// sequenced (fewer than `max_batch`: the backlog committed before the
    /// call is empty now). Concurrent calls for one tenant queue on the
    /// lock; for different tenants they do not.
    async fn sequence_audit(&self, tenant: TenantId, max_batch: u32) -> Result<u64, StoreError>;

    /// Sequences the tenant's whole backlog, [`SEQUENCE_BATCH`] entries a
    /// transaction, until a batch comes back short. Returns how many were
    /// sequenced.
    async fn sequence_audit_backlog(&self, tenant: TenantId) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self.sequence_audit(tenant, SEQUENCE_BATCH).await?;
            total += n;
            if n < u64::from(SEQUENCE_BATCH) {
                return Ok(total);
            }
        }
    }

    /// How many of the tenant's entries are committed but not sequenced
    /// yet.
    async fn audit_backlog(&self, tenant: TenantId) -> Result<u64, StoreError>;

    /// The tenants that have pending (unsequenced) entries, ordered by id:
    /// what the background sequencer visits.
    async fn pending_audit_tenants(&self) -> Result<Vec<TenantId>, StoreError>;

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

    /// The tenants that have at least one audit entry (sequenced or not),
    /// ordered by id.
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
