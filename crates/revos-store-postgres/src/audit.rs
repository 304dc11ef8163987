//! [`revos_store::audit::AuditStore`] on this backend.
//!
//! A writer's transaction inserts its entry into `audit_pending`
//! (migration 0014) with [`append_entry`]: one insert, no lock, so the
//! ingests of one tenant commit side by side. The sequencer,
//! [`sequence_on`], runs in a transaction that takes a transaction-level
//! advisory lock on the tenant (`pg_advisory_xact_lock`, keyed by
//! [`AUDIT_LOCK_CLASS`] and the tenant id's hash), reads the head, takes
//! the oldest pending entries (by their identity `id`), chains them, writes
//! them to `audit_log` with one `unnest` insert and deletes them from
//! `audit_pending`. Under READ COMMITTED every statement after the lock
//! sees what the previous holder committed, so sequencers of one tenant
//! queue and never fork the chain; a pending entry whose writer has not
//! committed yet is simply left for the next round. `details` is stored as
//! `json` holding the canonical text, and read back as text, so the hash
//! recomputes exactly; the migrations' triggers refuse UPDATE, DELETE and
//! TRUNCATE on the log.

use crate::store_error;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::audit::{
    AuditEntry, NewAuditEntry, SEQUENCE_BATCH, checked, revos_audit, seq_to_db,
};
use revos_store_sql::audit::PendingRow;
use sqlx::PgConnection;

/// The first key of the audit log's advisory locks ("AUDT"), so they never
/// collide with advisory locks taken for other purposes.
const AUDIT_LOCK_CLASS: i32 = 0x4155_4454;

/// The columns of an entry, in [`EntryRow`]'s order (a macro, so that
/// `concat!` builds each statement as one static string).
macro_rules! entry_columns {
    () => {
        "seq, occurred_at, actor, action, resource_type, resource_id, details::text as details, \
         prev_hash, hash"
    };
}

/// The tenants with unsequenced entries: across tenants, so through
/// migration 0014's SECURITY DEFINER function, as `audited_tenants!` does.
macro_rules! pending_tenants {
    () => {
        "select tenant_id from revos_audit_pending_tenants() as tenant_id order by tenant_id"
    };
}

/// The tenants with audit entries, sequenced or not: across tenants, so
/// through the SECURITY DEFINER functions of migrations 0005 and 0014 (the
/// pool's role sees no row without a tenant).
macro_rules! audited_tenants {
    () => {
        "select tenant_id from revos_audited_tenants() as tenant_id \
         union select tenant_id from revos_audit_pending_tenants() as tenant_id \
         order by tenant_id"
    };
}

revos_store_sql::audit_statements!(crate::PostgresStore);

/// Records `entry` for `tenant`, unsequenced, on an open tenant
/// transaction: one insert into `audit_pending`, no lock. For the tenant
/// transaction's `append_audit` and the cycle recording.
pub(crate) async fn append_entry(
    conn: &mut PgConnection,
    tenant: TenantId,
    entry: NewAuditEntry,
) -> Result<(), StoreError> {
    checked(&entry)?;
    sqlx::query(
        "insert into audit_pending (tenant_id, occurred_at, actor, action, resource_type, \
         resource_id, details) values ($1, $2, $3, $4, $5, $6, $7::json)",
    )
    .bind(tenant.as_uuid())
    .bind(entry.occurred_at)
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

/// Takes the tenant's chain lock, held until the transaction ends.
async fn lock_chain(conn: &mut PgConnection, tenant: TenantId) -> Result<(), StoreError> {
    sqlx::query("select pg_advisory_xact_lock($1, hashtext($2))")
        .bind(AUDIT_LOCK_CLASS)
        .bind(tenant.to_string())
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Sequences up to `max_batch` pending entries of `tenant` on a transaction
/// that holds the tenant's chain lock: chains them after the head, writes
/// them to the log in one statement and deletes them from `audit_pending`.
/// Returns the new head and how many were sequenced.
async fn sequence_on(
    conn: &mut PgConnection,
    tenant: TenantId,
    max_batch: u32,
) -> Result<(Option<AuditEntry>, u64), StoreError> {
    let mut head = head_on(conn, tenant).await?;
    let pending: Vec<PendingRow> = sqlx::query_as(
        "select id, occurred_at, actor, action, resource_type, resource_id, \
         details::text as details from audit_pending where tenant_id = $1 order by id limit $2",
    )
    .bind(tenant.as_uuid())
    .bind(i64::from(max_batch))
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    if pending.is_empty() {
        return Ok((head, 0));
    }
    let ids: Vec<i64> = pending.iter().map(PendingRow::id).collect();
    let mut entries = Vec::with_capacity(pending.len());
    for row in pending {
        let entry = revos_audit::chain(head.as_ref(), row.into_new_entry(), tenant);
        head = Some(entry.clone());
        entries.push(entry);
    }
    insert_entries(conn, tenant, &entries).await?;
    sqlx::query("delete from audit_pending where tenant_id = $1 and id = any($2)")
        .bind(tenant.as_uuid())
        .bind(&ids)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    Ok((head, entries.len() as u64))
}

/// Writes chained entries to the log in one `unnest` insert.
async fn insert_entries(
    conn: &mut PgConnection,
    tenant: TenantId,
    entries: &[AuditEntry],
) -> Result<(), StoreError> {
    let seqs = entries
        .iter()
        .map(|e| seq_to_db(e.seq))
        .collect::<Result<Vec<_>, _>>()?;
    let occurred: Vec<DateTime<Utc>> = entries.iter().map(|e| e.occurred_at).collect();
    let actors: Vec<&str> = entries.iter().map(|e| e.actor.as_str()).collect();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    let types: Vec<Option<&str>> = entries.iter().map(|e| e.resource_type.as_deref()).collect();
    let ids: Vec<Option<&str>> = entries.iter().map(|e| e.resource_id.as_deref()).collect();
    let details: Vec<String> = entries
        .iter()
        .map(|e| revos_audit::canonical_json(&e.details))
        .collect();
    let prev: Vec<&str> = entries.iter().map(|e| e.prev_hash.as_str()).collect();
    let hashes: Vec<&str> = entries.iter().map(|e| e.hash.as_str()).collect();
    sqlx::query(
        "insert into audit_log (tenant_id, seq, occurred_at, actor, action, resource_type, \
         resource_id, details, prev_hash, hash) \
         select $1, seq, occurred_at, actor, action, resource_type, resource_id, details::json, \
                prev_hash, hash \
         from unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], \
                     $7::text[], $8::text[], $9::text[], $10::text[]) \
              as e(seq, occurred_at, actor, action, resource_type, resource_id, details, \
                   prev_hash, hash)",
    )
    .bind(tenant.as_uuid())
    .bind(&seqs)
    .bind(&occurred)
    .bind(&actors)
    .bind(&actions)
    .bind(&types)
    .bind(&ids)
    .bind(&details)
    .bind(&prev)
    .bind(&hashes)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Appends `entry` directly after the tenant's backlog, on a transaction
/// that holds the chain lock: for [`AuditStore::append_audit`].
async fn append_now(
    conn: &mut PgConnection,
    tenant: TenantId,
    entry: NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    lock_chain(conn, tenant).await?;
    let head = loop {
        let (head, n) = sequence_on(conn, tenant, SEQUENCE_BATCH).await?;
        if n < u64::from(SEQUENCE_BATCH) {
            break head;
        }
    };
    let entry = revos_audit::chain(head.as_ref(), entry, tenant);
    sqlx::query(
        "insert into audit_log (tenant_id, seq, occurred_at, actor, action, resource_type, \
         resource_id, details, prev_hash, hash) \
         values ($1, $2, $3, $4, $5, $6, $7, $8::json, $9, $10)",
    )
    .bind(tenant.as_uuid())
    .bind(seq_to_db(entry.seq)?)
    .bind(entry.occurred_at)
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
    Ok(entry)
}
