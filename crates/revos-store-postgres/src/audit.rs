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

use crate::{PostgresStore, store_error};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::audit::{
    AuditEntry, AuditFilter, AuditStore, Checkpoint, MAX_AUDIT_PAGE, NewAuditEntry, SEQUENCE_BATCH,
    checked, revos_audit, seq_to_db,
};
use revos_store::listing::{keyset_cmp, sql_direction};
use revos_store_sql::audit::{CheckpointRow, EntryRow, PendingRow};
use sqlx::PgConnection;
use uuid::Uuid;

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

/// The tenant's last sequenced entry.
async fn head_on(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<Option<AuditEntry>, StoreError> {
    let head: Option<EntryRow> = sqlx::query_as(concat!(
        "select ",
        entry_columns!(),
        " from audit_log where tenant_id = $1 order by seq desc limit 1"
    ))
    .bind(tenant.as_uuid())
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)?;
    head.map(|row| row.into_entry(tenant)).transpose()
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

impl PostgresStore {
    /// Sequences the tenant's committed backlog, if it has one, before a
    /// read of the chain: a read never sees a log older than what was
    /// committed before it. The check is one indexed read; the sequencing
    /// only runs when there is something to sequence.
    async fn catch_up(&self, tenant: TenantId) -> Result<(), StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let pending: bool =
            sqlx::query_scalar("select exists (select 1 from audit_pending where tenant_id = $1)")
                .bind(tenant.as_uuid())
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        if pending {
            self.sequence_audit_backlog(tenant).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(
        &self,
        tenant: TenantId,
        entry: NewAuditEntry,
    ) -> Result<AuditEntry, StoreError> {
        checked(&entry)?;
        let mut tx = self.begin_tenant(tenant).await?;
        let entry = append_now(&mut tx, tenant, entry).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(entry)
    }

    async fn sequence_audit(&self, tenant: TenantId, max_batch: u32) -> Result<u64, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        lock_chain(&mut tx, tenant).await?;
        let (_, n) = sequence_on(&mut tx, tenant, max_batch.max(1)).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(n)
    }

    async fn audit_backlog(&self, tenant: TenantId) -> Result<u64, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let n: i64 = sqlx::query_scalar("select count(*) from audit_pending where tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn pending_audit_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        // Across tenants, so through migration 0014's SECURITY DEFINER
        // function, as `audited_tenants` does.
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "select tenant_id from revos_audit_pending_tenants() as tenant_id order by tenant_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(ids.into_iter().map(TenantId::from_uuid).collect())
    }

    async fn list_audit(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.catch_up(tenant).await?;
        let mut tx = self.begin_tenant(tenant).await?;
        let sql = format!(
            "select {} from audit_log \
             where tenant_id = $1 \
               and ($2::text is null or actor = $2) \
               and ($3::text is null or action = $3) \
               and ($4::text is null or resource_type = $4) \
               and ($5::text is null or resource_id = $5) \
               and ($6::timestamptz is null or occurred_at >= $6) \
               and ($7::timestamptz is null or occurred_at < $7) \
               and seq > $8 \
               and ($10::bigint is null or seq {} $10) \
             order by seq {} limit $9",
            entry_columns!(),
            keyset_cmp(filter.order),
            sql_direction(filter.order),
        );
        let rows: Vec<EntryRow> = sqlx::query_as(
            // Built from fixed fragments: the order picks `<`/`>` and `asc`/`desc`.
            sqlx::AssertSqlSafe(sql),
        )
        .bind(tenant.as_uuid())
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(&filter.resource_type)
        .bind(&filter.resource_id)
        .bind(filter.from)
        .bind(filter.to)
        .bind(seq_to_db(filter.after_seq.unwrap_or(0))?)
        .bind(i64::from(filter.limit.min(MAX_AUDIT_PAGE)))
        .bind(filter.past_seq.map(seq_to_db).transpose()?)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        rows.into_iter().map(|row| row.into_entry(tenant)).collect()
    }

    async fn count_audit(&self, tenant: TenantId, filter: &AuditFilter) -> Result<u64, StoreError> {
        self.catch_up(tenant).await?;
        let mut tx = self.begin_tenant(tenant).await?;
        let (n,): (i64,) = sqlx::query_as(
            "select count(*) from audit_log \
             where tenant_id = $1 \
               and ($2::text is null or actor = $2) \
               and ($3::text is null or action = $3) \
               and ($4::text is null or resource_type = $4) \
               and ($5::text is null or resource_id = $5) \
               and ($6::timestamptz is null or occurred_at >= $6) \
               and ($7::timestamptz is null or occurred_at < $7) \
               and seq > $8",
        )
        .bind(tenant.as_uuid())
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(&filter.resource_type)
        .bind(&filter.resource_id)
        .bind(filter.from)
        .bind(filter.to)
        .bind(seq_to_db(filter.after_seq.unwrap_or(0))?)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn audit_chain(
        &self,
        tenant: TenantId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.catch_up(tenant).await?;
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<EntryRow> = sqlx::query_as(concat!(
            "select ",
            entry_columns!(),
            " from audit_log where tenant_id = $1 and seq > $2 order by seq limit $3"
        ))
        .bind(tenant.as_uuid())
        .bind(seq_to_db(after_seq)?)
        .bind(i64::from(limit.min(MAX_AUDIT_PAGE)))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        rows.into_iter().map(|row| row.into_entry(tenant)).collect()
    }

    async fn audit_head(&self, tenant: TenantId) -> Result<Option<AuditEntry>, StoreError> {
        self.catch_up(tenant).await?;
        let mut tx = self.begin_tenant(tenant).await?;
        let head = head_on(&mut tx, tenant).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(head)
    }

    async fn add_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        self.catch_up(cp.tenant_id).await?;
        let mut tx = self.begin_tenant(cp.tenant_id).await?;
        let seq = seq_to_db(cp.seq)?;
        let stored: Option<String> =
            sqlx::query_scalar("select hash from audit_log where tenant_id = $1 and seq = $2")
                .bind(cp.tenant_id.as_uuid())
                .bind(seq)
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
        match stored {
            None => {
                return Err(StoreError::Invalid(format!(
                    "checkpoint names audit entry {}, which does not exist",
                    cp.seq
                )));
            }
            Some(hash) if hash != cp.hash => {
                return Err(StoreError::Invalid(format!(
                    "checkpoint names another hash than audit entry {}'s",
                    cp.seq
                )));
            }
            Some(_) => {}
        }
        let inserted = sqlx::query(
            "insert into audit_checkpoints (tenant_id, seq, hash, signed_at, signature, key_id) \
             values ($1, $2, $3, $4, $5, $6) on conflict (tenant_id, seq) do nothing",
        )
        .bind(cp.tenant_id.as_uuid())
        .bind(seq)
        .bind(&cp.hash)
        .bind(cp.signed_at)
        .bind(&cp.signature)
        .bind(&cp.key_id)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict {
                entity: "audit checkpoint",
                id: cp.seq.to_string(),
            });
        }
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn checkpoints(&self, tenant: TenantId) -> Result<Vec<Checkpoint>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<CheckpointRow> = sqlx::query_as(
            "select seq, hash, signed_at, signature, key_id from audit_checkpoints \
             where tenant_id = $1 order by seq",
        )
        .bind(tenant.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        rows.into_iter()
            .map(|row| row.into_checkpoint(tenant))
            .collect()
    }

    async fn audited_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        // Across tenants, so through migration 0005's SECURITY DEFINER
        // function: the pool's role sees no row without a tenant.
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "select tenant_id from revos_audited_tenants() as tenant_id \
             union select tenant_id from revos_audit_pending_tenants() as tenant_id \
             order by tenant_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(ids.into_iter().map(TenantId::from_uuid).collect())
    }
}
