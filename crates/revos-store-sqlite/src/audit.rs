//! [`revos_store::audit::AuditStore`] on this backend.
//!
//! A writer's transaction inserts its entry into `audit_pending`
//! (migration 0014) with [`append_entry`]. The sequencer, [`sequence_on`],
//! runs in a `BEGIN IMMEDIATE` transaction: it holds the database's write
//! lock from its first statement, so sequencers queue (behind the store's
//! FIFO writer lock) and each sees the head the previous one wrote; it
//! chains the oldest pending entries (by `id`) after the head, writes them
//! to `audit_log` and deletes them from `audit_pending`. SQLite has one
//! writer anyway, so this changes no throughput here; it keeps both
//! backends' rules the same. `details` is stored as its canonical JSON
//! text; the migration's triggers refuse UPDATE and DELETE on both audit
//! tables.

use crate::{store_error, tid, ts};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::audit::{
    AuditEntry, NewAuditEntry, SEQUENCE_BATCH, checked, revos_audit, seq_to_db,
};
use revos_store_sql::audit::PendingRow;
use sqlx::sqlite::SqliteConnection;

/// The columns of an entry, in [`EntryRow`]'s order (a macro, so that
/// `concat!` builds each statement as one static string).
macro_rules! entry_columns {
    () => {
        "seq, occurred_at, actor, action, resource_type, resource_id, details, prev_hash, hash"
    };
}

/// The tenants with unsequenced entries.
macro_rules! pending_tenants {
    () => {
        "select distinct tenant_id from audit_pending order by tenant_id"
    };
}

/// The tenants with audit entries, sequenced or not.
macro_rules! audited_tenants {
    () => {
        "select tenant_id from audit_log union select tenant_id from audit_pending \
         order by tenant_id"
    };
}

revos_store_sql::audit_statements!(crate::SqliteStore);

/// Makes the sequencing of a tenant's backlog one step: nothing to take,
/// since the write transaction holds the database's one write lock from its
/// first statement.
async fn lock_chain(_conn: &mut SqliteConnection, _tenant: TenantId) -> Result<(), StoreError> {
    Ok(())
}

/// Records `entry` for `tenant`, unsequenced, on an open write
/// transaction: one insert into `audit_pending`. For the tenant
/// transaction's `append_audit` and the cycle recording.
pub(crate) async fn append_entry(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    entry: NewAuditEntry,
) -> Result<(), StoreError> {
    checked(&entry)?;
    sqlx::query(
        "insert into audit_pending (tenant_id, occurred_at, actor, action, resource_type, \
         resource_id, details) values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(tid(tenant))
    .bind(ts(entry.occurred_at))
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.resource_type)
    .bind(&entry.resource_id)
    .bind(revos_audit::canonical_json(&entry.details))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Sequences up to `max_batch` pending entries of `tenant` on a write
/// transaction: chains them after the head, writes them to the log and
/// deletes them from `audit_pending`. Returns the new head and how many
/// were sequenced.
async fn sequence_on(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    max_batch: u32,
) -> Result<(Option<AuditEntry>, u64), StoreError> {
    let mut head = head_on(conn, tenant).await?;
    let pending: Vec<PendingRow> = sqlx::query_as(
        "select id, occurred_at, actor, action, resource_type, resource_id, details \
         from audit_pending where tenant_id = ?1 order by id limit ?2",
    )
    .bind(tid(tenant))
    .bind(i64::from(max_batch))
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    let mut n = 0;
    for row in pending {
        let id = row.id();
        let entry = revos_audit::chain(head.as_ref(), row.into_new_entry(), tenant);
        insert_entry(conn, tenant, &entry).await?;
        sqlx::query("delete from audit_pending where id = ?1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
        head = Some(entry);
        n += 1;
    }
    Ok((head, n))
}

/// Appends `entry` directly after the tenant's backlog, on a write
/// transaction: for [`AuditStore::append_audit`].
async fn append_now(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    entry: NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let head = loop {
        let (head, n) = sequence_on(conn, tenant, SEQUENCE_BATCH).await?;
        if n < u64::from(SEQUENCE_BATCH) {
            break head;
        }
    };
    let entry = revos_audit::chain(head.as_ref(), entry, tenant);
    insert_entry(conn, tenant, &entry).await?;
    Ok(entry)
}

/// Writes one chained entry to the log.
async fn insert_entry(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into audit_log (tenant_id, seq, occurred_at, actor, action, resource_type, \
         resource_id, details, prev_hash, hash) \
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(tid(tenant))
    .bind(seq_to_db(entry.seq)?)
    .bind(ts(entry.occurred_at))
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.resource_type)
    .bind(&entry.resource_id)
    .bind(revos_audit::canonical_json(&entry.details))
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(())
}
