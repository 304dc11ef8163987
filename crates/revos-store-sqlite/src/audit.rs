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

use crate::{SqliteStore, store_error, tid, ts};
use async_trait::async_trait;
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::audit::{
    AuditEntry, AuditFilter, AuditStore, Checkpoint, MAX_AUDIT_PAGE, NewAuditEntry, SEQUENCE_BATCH,
    checked, revos_audit, seq_to_db,
};
use revos_store::listing::{keyset_cmp, sql_direction};
use revos_store_sql::audit::{CheckpointRow, EntryRow, PendingRow};
use sqlx::sqlite::SqliteConnection;
use uuid::fmt::Hyphenated;

/// The columns of an entry, in [`EntryRow`]'s order (a macro, so that
/// `concat!` builds each statement as one static string).
macro_rules! entry_columns {
    () => {
        "seq, occurred_at, actor, action, resource_type, resource_id, details, prev_hash, hash"
    };
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

/// The tenant's last sequenced entry.
async fn head_on(
    conn: &mut SqliteConnection,
    tenant: TenantId,
) -> Result<Option<AuditEntry>, StoreError> {
    let head: Option<EntryRow> = sqlx::query_as(concat!(
        "select ",
        entry_columns!(),
        " from audit_log where tenant_id = ?1 order by seq desc limit 1"
    ))
    .bind(tid(tenant))
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)?;
    head.map(|row| row.into_entry(tenant)).transpose()
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

impl SqliteStore {
    /// Sequences the tenant's committed backlog, if it has one, before a
    /// read of the chain: a read never sees a log older than what was
    /// committed before it.
    async fn catch_up(&self, tenant: TenantId) -> Result<(), StoreError> {
        let mut tx = self.read_tenant(tenant).await?;
        let pending: bool =
            sqlx::query_scalar("select exists (select 1 from audit_pending where tenant_id = ?1)")
                .bind(tid(tenant))
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
impl AuditStore for SqliteStore {
    async fn append_audit(
        &self,
        tenant: TenantId,
        entry: NewAuditEntry,
    ) -> Result<AuditEntry, StoreError> {
        checked(&entry)?;
        let mut tx = self.write_tenant(tenant).await?;
        let entry = append_now(&mut tx, tenant, entry).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(entry)
    }

    async fn sequence_audit(&self, tenant: TenantId, max_batch: u32) -> Result<u64, StoreError> {
        let mut tx = self.write_tenant(tenant).await?;
        let (_, n) = sequence_on(&mut tx, tenant, max_batch.max(1)).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(n)
    }

    async fn audit_backlog(&self, tenant: TenantId) -> Result<u64, StoreError> {
        let mut tx = self.read_tenant(tenant).await?;
        let n: i64 = sqlx::query_scalar("select count(*) from audit_pending where tenant_id = ?1")
            .bind(tid(tenant))
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn pending_audit_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let ids: Vec<Hyphenated> =
            sqlx::query_scalar("select distinct tenant_id from audit_pending order by tenant_id")
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(ids
            .into_iter()
            .map(|id| TenantId::from_uuid(id.into_uuid()))
            .collect())
    }

    async fn list_audit(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.catch_up(tenant).await?;
        let mut tx = self.read_tenant(tenant).await?;
        let sql = format!(
            "select {} from audit_log \
             where tenant_id = ?1 \
               and (?2 is null or actor = ?2) \
               and (?3 is null or action = ?3) \
               and (?4 is null or resource_type = ?4) \
               and (?5 is null or resource_id = ?5) \
               and (?6 is null or occurred_at >= ?6) \
               and (?7 is null or occurred_at < ?7) \
               and seq > ?8 \
               and (?10 is null or seq {} ?10) \
             order by seq {} limit ?9",
            entry_columns!(),
            keyset_cmp(filter.order),
            sql_direction(filter.order),
        );
        let rows: Vec<EntryRow> = sqlx::query_as(
            // Built from fixed fragments: the order picks `<`/`>` and `asc`/`desc`.
            sqlx::AssertSqlSafe(sql),
        )
        .bind(tid(tenant))
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(&filter.resource_type)
        .bind(&filter.resource_id)
        .bind(filter.from.map(ts))
        .bind(filter.to.map(ts))
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
        let mut tx = self.read_tenant(tenant).await?;
        let (n,): (i64,) = sqlx::query_as(
            "select count(*) from audit_log \
             where tenant_id = ?1 \
               and (?2 is null or actor = ?2) \
               and (?3 is null or action = ?3) \
               and (?4 is null or resource_type = ?4) \
               and (?5 is null or resource_id = ?5) \
               and (?6 is null or occurred_at >= ?6) \
               and (?7 is null or occurred_at < ?7) \
               and seq > ?8",
        )
        .bind(tid(tenant))
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(&filter.resource_type)
        .bind(&filter.resource_id)
        .bind(filter.from.map(ts))
        .bind(filter.to.map(ts))
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
        let mut tx = self.read_tenant(tenant).await?;
        let rows: Vec<EntryRow> = sqlx::query_as(concat!(
            "select ",
            entry_columns!(),
            " from audit_log \
             where tenant_id = ?1 and seq > ?2 order by seq limit ?3"
        ))
        .bind(tid(tenant))
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
        let mut tx = self.read_tenant(tenant).await?;
        let head = head_on(&mut tx, tenant).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(head)
    }

    async fn add_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        self.catch_up(cp.tenant_id).await?;
        let mut tx = self.write_tenant(cp.tenant_id).await?;
        let seq = seq_to_db(cp.seq)?;
        let stored: Option<String> =
            sqlx::query_scalar("select hash from audit_log where tenant_id = ?1 and seq = ?2")
                .bind(tid(cp.tenant_id))
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
             values (?1, ?2, ?3, ?4, ?5, ?6) on conflict (tenant_id, seq) do nothing",
        )
        .bind(tid(cp.tenant_id))
        .bind(seq)
        .bind(&cp.hash)
        .bind(ts(cp.signed_at))
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
        let mut tx = self.read_tenant(tenant).await?;
        let rows: Vec<CheckpointRow> = sqlx::query_as(
            "select seq, hash, signed_at, signature, key_id from audit_checkpoints \
             where tenant_id = ?1 order by seq",
        )
        .bind(tid(tenant))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        rows.into_iter()
            .map(|row| row.into_checkpoint(tenant))
            .collect()
    }

    async fn audited_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let ids: Vec<Hyphenated> = sqlx::query_scalar(
            "select tenant_id from audit_log union select tenant_id from audit_pending \
                 order by tenant_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(ids
            .into_iter()
            .map(|id| TenantId::from_uuid(id.into_uuid()))
            .collect())
    }
}
