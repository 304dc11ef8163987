//! [`revos_store::events::EventStore`] on this backend: `kernel_events`,
//! `kernel_decisions` and `kernel_actions` of migration 0001, and the
//! `channel_outbox`, `tasks`, `policy_modes`, `policy_settings`,
//! `webhook_endpoints` and `idempotency_keys` tables of migration 0010.
//!
//! The writes of an ingest (event, decisions, actions, outbox e-mails,
//! tasks) are functions over a connection, called by the tenant
//! transaction of `queue.rs` ([`revos_store::queue::TenantTx`]). That
//! transaction is `BEGIN IMMEDIATE`: it holds the database's one write
//! lock, so two ingests of the same idempotency key run one after the
//! other, and the second finds the first's event.
//!
//! Every other write runs in a `BEGIN IMMEDIATE` transaction too, which is
//! what makes [`EventStore::set_action_status`] and
//! [`EventStore::idempotency_begin`] atomic: no other writer can run
//! between their read and their write. A list of ids is bound as one JSON
//! array and read with `json_each`.
//!
//! The statements both backends run are written once, in
//! [`revos_store_sql::event_statements!`]; this file keeps what only
//! SQLite does: the idempotency begin under the write lock, and the purge.

use crate::{SqliteStore, store_error, tid, ts};
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::events::IdempotencyBegin;
use revos_store::{StoreError, support};
use revos_store_sql::events::IdempotencyRow;
use sqlx::sqlite::SqliteConnection;

revos_store_sql::event_statements!(crate::SqliteStore);

async fn idempotency_row(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    key: &str,
) -> Result<Option<IdempotencyRow>, StoreError> {
    sqlx::query_as(
        "select request_hash, status_code, response, created_at, expires_at
         from idempotency_keys where tenant_id = ?1 and key = ?2",
    )
    .bind(tid(tenant))
    .bind(key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)
}

impl SqliteStore {
    /// [`revos_store::events::EventStore::idempotency_begin`].
    async fn begin_idempotency_key(
        &self,
        tenant: TenantId,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<IdempotencyBegin, StoreError> {
        let now = support::now_at(now);
        // The write lock is held from the first statement: two begins of
        // one key run one after the other, and the second sees the first.
        let mut tx = self.write_tenant(tenant).await?;
        if let Some(row) = idempotency_row(&mut tx, tenant, key).await?
            && let Some(record) = row.into_holding(now, stale_after)?
        {
            tx.commit().await.map_err(store_error)?;
            return Ok(IdempotencyBegin::Existing(record));
        }
        sqlx::query(
            "insert into idempotency_keys
                 (tenant_id, key, request_hash, status_code, response, created_at, expires_at)
             values (?1, ?2, ?3, null, null, ?4, null)
             on conflict (tenant_id, key) do update set
                 request_hash = excluded.request_hash, status_code = null, response = null,
                 created_at = excluded.created_at, expires_at = null",
        )
        .bind(tid(tenant))
        .bind(key)
        .bind(request_hash)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(IdempotencyBegin::Started)
    }

    /// [`revos_store::events::EventStore::purge_idempotency`].
    async fn purge_expired_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("delete from idempotency_keys where expires_at < ?1")
            .bind(ts(support::now_at(now)))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(done.rows_affected())
    }
}
