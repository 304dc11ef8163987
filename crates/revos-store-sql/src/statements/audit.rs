//! The audit log's statements: the reads of [`revos_store::audit::AuditStore`]
//! and its frame, written once for both backends.
//!
//! [`audit_statements!`](crate::audit_statements) expands in a backend's
//! `audit.rs` to `head_on`, the read-side catch-up and the `AuditStore`
//! implementation. How entries are chained stays in the backend, which
//! provides in its module: `entry_columns!()` (PostgreSQL reads `details`
//! back as text, so the hash recomputes exactly), `pending_tenants!()` and
//! `audited_tenants!()` (a table scan on SQLite; SECURITY DEFINER
//! functions on PostgreSQL, whose role sees no row without a tenant),
//! `lock_chain` (none on SQLite, whose write transaction already holds the
//! one write lock; an advisory lock on PostgreSQL), `append_now` and
//! `sequence_on`.

/// Expands to the audit log's shared statements for the store type
/// `$store` (see the [module](crate::statements::audit)).
#[macro_export]
// `crate` is meant: it names the backend crate the macro expands in, whose
// `dialect` module holds its encodings.
#[allow(clippy::crate_in_macro_def)]
macro_rules! audit_statements {
    ($store:ty) => {
        /// The audit statements both backends share, expanded from
        /// `revos_store_sql::audit_statements!` over this backend's
        /// encodings (`crate::dialect`).
        mod shared {
            use super::{append_now, lock_chain, sequence_on};
            use crate::dialect::{Conn, store_error, tid, ts};
            use $crate::DbId;
            use $crate::audit::{CheckpointRow, EntryRow};
            use ::revos_contracts::TenantId;
            use ::revos_store::StoreError;
            use ::revos_store::audit::{
                AuditEntry, AuditFilter, AuditStore, Checkpoint, MAX_AUDIT_PAGE, NewAuditEntry,
                checked, seq_to_db,
            };
            use ::revos_store::listing::{keyset_cmp, sql_direction};

        /// The tenant's last sequenced entry.
        pub(crate) async fn head_on(
            conn: &mut Conn,
            tenant: TenantId,
        ) -> Result<Option<AuditEntry>, StoreError> {
            let head: Option<EntryRow> = ::sqlx::query_as(concat!(
                "select ",
                entry_columns!(),
                " from audit_log where tenant_id = $1 order by seq desc limit 1"
            ))
            .bind(tid(tenant))
            .fetch_optional(&mut *conn)
            .await
            .map_err(store_error)?;
            head.map(|row| row.into_entry(tenant)).transpose()
        }

        impl $store {
            /// Sequences the tenant's committed backlog, if it has one, before a
            /// read of the chain: a read never sees a log older than what was
            /// committed before it.
            async fn catch_up(&self, tenant: TenantId) -> Result<(), StoreError> {
                let mut tx = self.read_tenant(tenant).await?;
                let pending: bool =
                    ::sqlx::query_scalar("select exists (select 1 from audit_pending where tenant_id = $1)")
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

        #[::async_trait::async_trait]
        impl AuditStore for $store {
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
                lock_chain(&mut tx, tenant).await?;
                let (_, n) = sequence_on(&mut tx, tenant, max_batch.max(1)).await?;
                tx.commit().await.map_err(store_error)?;
                Ok(n)
            }

            async fn audit_backlog(&self, tenant: TenantId) -> Result<u64, StoreError> {
                let mut tx = self.read_tenant(tenant).await?;
                let n: i64 = ::sqlx::query_scalar("select count(*) from audit_pending where tenant_id = $1")
                    .bind(tid(tenant))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(store_error)?;
                tx.commit().await.map_err(store_error)?;
                Ok(u64::try_from(n).unwrap_or_default())
            }

            async fn pending_audit_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
                let ids: Vec<DbId> = ::sqlx::query_scalar(pending_tenants!())
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
                     where tenant_id = $1 \
                       and ($2 is null or actor = $2) \
                       and ($3 is null or action = $3) \
                       and ($4 is null or resource_type = $4) \
                       and ($5 is null or resource_id = $5) \
                       and ($6 is null or occurred_at >= $6) \
                       and ($7 is null or occurred_at < $7) \
                       and seq > $8 \
                       and ($10 is null or seq {} $10) \
                     order by seq {} limit $9",
                    entry_columns!(),
                    keyset_cmp(filter.order),
                    sql_direction(filter.order),
                );
                let rows: Vec<EntryRow> = ::sqlx::query_as(
                    // Built from fixed fragments: the order picks `<`/`>` and `asc`/`desc`.
                    ::sqlx::AssertSqlSafe(sql),
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
                let (n,): (i64,) = ::sqlx::query_as(
                    "select count(*) from audit_log \
                     where tenant_id = $1 \
                       and ($2 is null or actor = $2) \
                       and ($3 is null or action = $3) \
                       and ($4 is null or resource_type = $4) \
                       and ($5 is null or resource_id = $5) \
                       and ($6 is null or occurred_at >= $6) \
                       and ($7 is null or occurred_at < $7) \
                       and seq > $8",
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
                let rows: Vec<EntryRow> = ::sqlx::query_as(concat!(
                    "select ",
                    entry_columns!(),
                    " from audit_log \
                     where tenant_id = $1 and seq > $2 order by seq limit $3"
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
                    ::sqlx::query_scalar("select hash from audit_log where tenant_id = $1 and seq = $2")
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
                let inserted = ::sqlx::query(
                    "insert into audit_checkpoints (tenant_id, seq, hash, signed_at, signature, key_id) \
                     values ($1, $2, $3, $4, $5, $6) on conflict (tenant_id, seq) do nothing",
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
                let rows: Vec<CheckpointRow> = ::sqlx::query_as(
                    "select seq, hash, signed_at, signature, key_id from audit_checkpoints \
                     where tenant_id = $1 order by seq",
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
                let ids: Vec<DbId> = ::sqlx::query_scalar(audited_tenants!())
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
                Ok(ids
                    .into_iter()
                    .map(|id| TenantId::from_uuid(id.into_uuid()))
                    .collect())
            }
        }
        }

        pub(crate) use shared::head_on;
    };
}
